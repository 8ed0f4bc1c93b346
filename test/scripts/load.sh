#!/usr/bin/env bash
# Load test: many concurrent clients placing, paying, refunding, deleting and editing orders of a
# small pool of customers (constant same-customer and same-order collisions), then checking that
# nothing went wrong and that every stored number still equals a recomputation from the orders.
#
#   database ct_load: host schema (test/fixtures/host-schema.sql), CREATE EXTENSION
#   customer_tracking, test/load/setup.sql (4 shops, 50 phone strings = 16 people in 3 formats,
#   a foreign number and an unreadable phone).
#   pgbench -M prepared, no retries, weighted scripts (test/load/*.pgbench):
#     place 40   checkout: a new order, ~65% already paid, ~30% pending, ~5% failed
#     pay 25     checkout + payment webhook(s) in one transaction, or the webhook of a random
#                pending order
#     refund 15  a random paid order refunded / cancelled / failed
#     delete 10  a random order deleted
#     edit 10    a random order's amount, phone, network, time, shop, slug, or several
#   Default (CT_LONG_TESTS=0): 20 clients, 15 s. CT_LONG_TESTS=1: 24 clients, 60 s.
#   CT_LOAD_CLIENTS / CT_LOAD_SECONDS override either. More clients than the extension's 16
#   rollup stripes (one per backend id mod 16), so that, as on a busy production server, some
#   sessions share stripe rows.
#
# Fails unless: pgbench exits 0 with no failed transaction and no aborted client; the server log
# written during the run has no ERROR (so no deadlock), FATAL, PANIC, crashed process, or WARNING
# other than the expected one for the unreadable phone; customer_tracking_verify() returns no
# rows. Prints one summary line "load: PASS|FAIL ...".
#
# Environment (scripts/test.sh): PGHOST PGPORT PGUSER PGBIN CT_CLUSTER_LOG CT_SCRATCH
# CT_LONG_TESTS. Exit status 0 = pass.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source=test/load/lib.sh
source "$ROOT/test/load/lib.sh"

export PGDATABASE=postgres
SCRATCH=${CT_SCRATCH:-}
[ -n "$SCRATCH" ] || SCRATCH=$(mktemp -d)
DB=ct_load
if [ "${CT_LONG_TESTS:-0}" = 1 ]; then
	CLIENTS=${CT_LOAD_CLIENTS:-24}
	SECONDS_RUN=${CT_LOAD_SECONDS:-60}
else
	CLIENTS=${CT_LOAD_CLIENTS:-20}
	SECONDS_RUN=${CT_LOAD_SECONDS:-15}
fi
OUT="$SCRATCH/load-pgbench.out"
SAMPLES="$SCRATCH/load-lock-waits.txt"
SAMPLER_STOP="$SCRATCH/load-sampler.stop"
FAILS=()
SAMPLER=""
T0=$SECONDS

fail() {
	echo "FAIL: $*"
	FAILS+=("$*")
}

# Stops the lock-wait sampler between two of its queries (killing a psql mid-query makes the
# server log "connection to client lost", which the log check would count as a failure).
stop_sampler() {
	if [ -n "$SAMPLER" ]; then
		touch "$SAMPLER_STOP"
		wait "$SAMPLER" 2>/dev/null
		SAMPLER=""
	fi
}

# shellcheck disable=SC2317 # (run by the EXIT trap)
cleanup() {
	stop_sampler
	[ -n "${CT_SCRATCH:-}" ] || rm -rf "$SCRATCH"
}
trap cleanup EXIT

echo "load: $CLIENTS clients, $SECONDS_RUN s, database $DB"
if ! load_create_db "$DB" >"$SCRATCH/setup.log" 2>&1; then
	cat "$SCRATCH/setup.log"
	echo "load: FAIL (could not create the test database)"
	exit 1
fi

OFFSET=$(log_offset)

# Evidence of the collisions: every 0.2 s, how many clients are waiting for a lock.
rm -f "$SAMPLER_STOP"
while [ ! -e "$SAMPLER_STOP" ]; do
	"$PGBIN/psql" -X -At -d postgres \
		-c "SELECT count(*) FROM pg_stat_activity WHERE datname = '$DB' AND wait_event_type = 'Lock'"
	sleep 0.2
done >"$SAMPLES" 2>/dev/null &
SAMPLER=$!

load_pgbench_cmd "$DB" "$CLIENTS" "$SECONDS_RUN"
PGOPTIONS=$LOAD_PGOPTIONS "${PGBENCH_CMD[@]}" >"$OUT" 2>&1
RC=$?
stop_sampler

sed -n '/^transaction type/,$p' "$OUT" | grep -vE '^ - (weight|latency)'
TX=$(pgbench_value "$OUT" 'number of transactions actually processed')
FAILED=$(pgbench_value "$OUT" 'number of failed transactions')
PGB_DEADLOCKS=$(pgbench_value "$OUT" 'number of deadlock failures')
TPS=$(sed -nE 's/^tps = ([0-9.]+).*/\1/p' "$OUT" | head -n 1)
ABORTED=$(grep -c 'aborted in command' "$OUT")
PGB_ERRORS=$(grep -cE 'got an error|error:' "$OUT")
[ "$RC" -eq 0 ] || fail "pgbench exited with status $RC$([ "$RC" -ne 124 ] || echo ' (timed out)')"
if [ -z "$TX" ] || [ "$TX" -eq 0 ]; then fail "pgbench processed no transactions"; fi
[ "${FAILED:-x}" = 0 ] || fail "pgbench: ${FAILED:-?} failed transactions (${PGB_DEADLOCKS:-?} deadlocks)"
[ "$ABORTED" -eq 0 ] || fail "pgbench: $ABORTED aborted clients"
if [ "$PGB_ERRORS" -gt 0 ]; then
	echo "----- pgbench errors (first 10 of $PGB_ERRORS) -----"
	grep -E 'got an error|error:' "$OUT" | head -n 10 | cut -c 1-400
	echo "-----"
fi

log_scan "$OFFSET" "$LOG_EXPECTED_RE"
[ "$LOG_ERRORS" -eq 0 ] || fail "server log: $LOG_ERRORS ERROR entries ($LOG_DEADLOCKS deadlocks)"
[ "$LOG_FATALS" -eq 0 ] || fail "server log: $LOG_FATALS FATAL/PANIC entries"
[ "$LOG_SIGNALS" -eq 0 ] || fail "server log: $LOG_SIGNALS server processes terminated by a signal"
[ "$LOG_WARNINGS" -eq 0 ] || fail "server log: $LOG_WARNINGS unexpected WARNING entries"

if ! q postgres 'SELECT 1' >/dev/null 2>&1; then
	fail "the server is not answering after the run"
	echo "load: FAIL (${FAILS[*]})"
	exit 1
fi

VERIFY_T0=$SECONDS
VERIFY=$(q "$DB" 'SELECT count(*) FROM customer_tracking_verify()')
VERIFY_S=$((SECONDS - VERIFY_T0))
if [ "$VERIFY" != 0 ]; then
	fail "customer_tracking_verify() returned ${VERIFY:-an error instead of} rows"
	"${PSQL[@]}" -d "$DB" -c "SELECT problem, count(*) FROM customer_tracking_verify() GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
	"${PSQL[@]}" -d "$DB" -c "SELECT * FROM customer_tracking_verify() LIMIT 20"
fi

# What the run did (pg_stat counts every row the clients inserted, updated, deleted).
q postgres 'SELECT pg_stat_force_next_flush()' >/dev/null 2>&1
sleep 1
STATS=$(q "$DB" "SELECT n_tup_ins || ' ' || n_tup_upd || ' ' || n_tup_del
                   FROM pg_stat_user_tables WHERE relname = 'shop_orders'")
read -r INSERTED UPDATED DELETED <<<"${STATS:-? ? ?}"
SHAPE=$(q "$DB" "SELECT count(*) || ' orders (' || count(*) FILTER (WHERE shop_customer_id IS NULL)
                        || ' unlinked), ' || (SELECT count(*) FROM shop_customers WHERE total_purchases > 0)
                        || ' customers with purchases, max ' || (SELECT max(total_orders) FROM shop_customers)
                        || ' orders per customer'
                   FROM shop_orders")
echo "left in the database: $SHAPE"
WAITS=$(awk '$1 ~ /^[0-9]+$/ { n++; if ($1 > 0) w++; if ($1 > m) m = $1 }
             END { printf "%d of %d samples had clients waiting for a lock (max %d at once)", w, n, m }' "$SAMPLES")
echo "collisions: $WAITS"

RESULT=PASS
[ ${#FAILS[@]} -eq 0 ] || RESULT=FAIL
echo "load: $RESULT clients=$CLIENTS duration=${SECONDS_RUN}s transactions=${TX:-?} tps=${TPS:-?}" \
	"orders_placed=$INSERTED updates=$UPDATED deletes=$DELETED failed=${FAILED:-?}" \
	"errors=$LOG_ERRORS deadlocks=$LOG_DEADLOCKS verify_rows=${VERIFY:-?} (verify ${VERIFY_S}s, total $((SECONDS - T0))s)"
if [ "$RESULT" = PASS ]; then
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB"
	exit 0
fi
echo "database $DB kept for inspection"
exit 1
