#!/usr/bin/env bash
# Crash test: the server is killed hard in the middle of the load of test/scripts/load.sh, then
# restarted; no committed order may be lost and every stored number must still equal a
# recomputation from the orders.
#
#   database ct_crash, set up as ct_load (test/load/lib.sh, test/load/setup.sql). Each cycle:
#   1. the pgbench load (test/load/*.pgbench) runs in the background, and 2 "recorder" clients
#      (psql, test/load/recorder.awk) insert, pay, refund and delete orders of the same customers,
#      printing an order's new state only after its COMMIT has returned;
#   2. after a few seconds the server is killed with SIGKILL, alternately
#        postmaster: the postmaster and all its processes at once, then pg_ctl start (crash
#                    recovery at startup);
#        backend:    one busy backend, after which the postmaster itself resets every process
#                    and recovers (restart_after_crash);
#   3. once the server is back: every order the recorders saw committed is there in its last
#      committed state (deleted ones absent; a transaction in flight at the kill may have gone
#      either way), customer_tracking_verify() returns no rows, a new order is tracked.
#   Default (CT_LONG_TESTS=0): 2 cycles (one of each kind), 16 clients, 5 s of load per cycle.
#   CT_LONG_TESTS=1: 6 cycles, 24 clients, 5 to 12 s each. CT_CRASH_CYCLES / CT_LOAD_CLIENTS
#   override. A cycle is survived when the server came back, no recorded order was lost or in
#   the wrong state, verify was empty, the new order was tracked, and no server process died of
#   any signal but our SIGKILL (no PANIC, no unexpected FATAL). The test also fails on an ERROR
#   (e.g. a deadlock) or WARNING in the server log other than those the kills cause, or a
#   recorder stopping on an error: errors of the load itself, counted apart.
#   The test cluster runs with fsync = off but synchronous_commit = on: a killed process loses
#   no committed transaction that way (only an OS crash or power loss would).
#
# Prints one summary line "crash: PASS|FAIL ...".
# Environment (scripts/test.sh): PGHOST PGPORT PGUSER PGBIN PGDATA CT_CLUSTER_LOG CT_PG_RUNAS
# CT_SCRATCH CT_LONG_TESTS. Exit status 0 = pass; the server is left running.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
# shellcheck source=test/load/lib.sh
source "$ROOT/test/load/lib.sh"

export PGDATABASE=postgres
SCRATCH=${CT_SCRATCH:-}
[ -n "$SCRATCH" ] || SCRATCH=$(mktemp -d)
DB=ct_crash
RECORDERS=2
if [ "${CT_LONG_TESTS:-0}" = 1 ]; then
	CYCLES=${CT_CRASH_CYCLES:-6}
	CLIENTS=${CT_LOAD_CLIENTS:-24}
	LOAD_MIN=5 LOAD_MAX=12
else
	CYCLES=${CT_CRASH_CYCLES:-2}
	CLIENTS=${CT_LOAD_CLIENTS:-16}
	LOAD_MIN=5 LOAD_MAX=5
fi
FAILS=()
BG=()
T0=$SECONDS
# Messages a kill causes: other sessions terminated, connections refused during recovery.
CRASH_RE='terminating connection because of crash of another server process|the database system is (starting up|in recovery mode|shutting down|not yet accepting connections)|terminating connection due to unexpected postmaster exit'

fail() {
	echo "FAIL: $*"
	FAILS+=("$*")
}
crash_fail() { # a failure of what the crash test is about (not an error of the load itself)
	CRASH_OK=0
	fail "$@"
}

stop_clients() { # the background clients of this cycle: wait up to 30 s, then kill them
	local pid
	for _ in $(seq 1 60); do
		for pid in "${BG[@]}"; do
			kill -0 "$pid" 2>/dev/null && break
			pid=""
		done
		[ -n "${pid:-}" ] || break
		sleep 0.5
	done
	for pid in "${BG[@]}"; do
		if kill -0 "$pid" 2>/dev/null; then
			echo "(client process $pid still running 30 s after the kill; killing it)"
			kill -TERM "$pid" 2>/dev/null
		fi
		wait "$pid" 2>/dev/null
	done
	BG=()
}

# shellcheck disable=SC2317 # (run by the EXIT trap)
cleanup() {
	stop_clients
	[ -n "${CT_SCRATCH:-}" ] || rm -rf "$SCRATCH"
}
trap cleanup EXIT

server_up() { # wait up to $1 s for the server to accept connections to $DB
	for _ in $(seq 1 $(($1 * 4))); do
		q "$DB" 'SELECT 1' >/dev/null 2>&1 && return 0
		sleep 0.25
	done
	return 1
}

start_server() {
	$CT_PG_RUNAS "$PGBIN/pg_ctl" -D "$PGDATA" -l "$CT_CLUSTER_LOG" -w -t 120 start >"$SCRATCH/pg_ctl.out" 2>&1
}

# Kill the postmaster and every process it started, all at once, with SIGKILL; wait until they are
# gone; start the server again.
kill_postmaster() {
	local pm children pid
	pm=$(head -n 1 "$PGDATA/postmaster.pid" 2>/dev/null)
	if [ -z "$pm" ] || ! kill -0 "$pm" 2>/dev/null; then
		crash_fail "cycle $CYCLE: no running postmaster found in $PGDATA/postmaster.pid"
		return 1
	fi
	children=$(pgrep -P "$pm" | tr '\n' ' ')
	# shellcheck disable=SC2086
	kill -KILL "$pm" $children
	KILLED="postmaster $pm and $(wc -w <<<"$children") server processes"
	for _ in $(seq 1 120); do
		pid=""
		for pid in $pm $children; do
			kill -0 "$pid" 2>/dev/null && break
			pid=""
		done
		[ -z "$pid" ] && break
		sleep 0.25
	done
	if [ -n "$pid" ]; then
		crash_fail "cycle $CYCLE: server process $pid still alive 30 s after SIGKILL"
		return 1
	fi
	if ! start_server; then
		crash_fail "cycle $CYCLE: pg_ctl start failed after the kill"
		cat "$SCRATCH/pg_ctl.out"
		ct_log_tail
		return 1
	fi
}

# Kill one busy backend of the load with SIGKILL; the postmaster resets and recovers by itself.
kill_backend() {
	local pid
	pid=$(q "$DB" "SELECT pid FROM pg_stat_activity
	                WHERE datname = '$DB' AND backend_type = 'client backend'
	                  AND pid <> pg_backend_pid() AND state = 'active'
	                ORDER BY random() LIMIT 1")
	[ -n "$pid" ] || pid=$(q "$DB" "SELECT pid FROM pg_stat_activity
	                WHERE datname = '$DB' AND backend_type = 'client backend'
	                  AND pid <> pg_backend_pid() ORDER BY random() LIMIT 1")
	if [ -z "$pid" ]; then
		crash_fail "cycle $CYCLE: no backend of the load to kill"
		return 1
	fi
	kill -KILL "$pid"
	KILLED="backend $pid"
	ALLOWED_SIGNAL="|server process \\(PID $pid\\) was terminated by signal 9"
	# Wait until the postmaster has noticed and reset (then server_up waits for the recovery).
	for _ in $(seq 1 120); do
		tail -c +"$((OFFSET + 1))" "$CT_CLUSTER_LOG" | grep -q 'all server processes terminated; reinitializing' && return 0
		sleep 0.25
	done
	crash_fail "cycle $CYCLE: the postmaster did not reinitialize within 30 s of the backend kill"
	return 1
}

ct_log_tail() {
	[ -r "${CT_CLUSTER_LOG:-}" ] && tail -n 30 "$CT_CLUSTER_LOG"
}

# Expected state of every recorder order from the recorders' output: "id<TAB>state<TAB>alt".
expected_states() {
	cat "$SCRATCH"/rec-*.log 2>/dev/null | awk '
		!($2 in seen) { seen[$2] = 1; order[++n] = $2 }
		$1 == "ok" { last[$2] = $3; delete pend[$2] }
		$1 == "try" { pend[$2] = $3 }
		END {
			for (i = 1; i <= n; i++) {
				id = order[i]
				printf "%s\t%s\t%s\n", id, (id in last) ? last[id] : "absent", (id in pend) ? pend[id] : "\\N"
			}
		}'
}

check_recorded() {
	local res
	expected_states >"$SCRATCH/expected.tsv"
	res=$(PGOPTIONS='-c client_min_messages=warning' "${PSQL[@]}" -d "$DB" -At -F ' ' <<SQL
CREATE TEMP TABLE rec (id uuid PRIMARY KEY, state text NOT NULL, alt text);
\\copy rec FROM '$SCRATCH/expected.tsv'
CREATE TEMP TABLE res AS
SELECT r.*, CASE WHEN o.id IS NULL THEN 'deleted' ELSE o.payment_status END AS actual
  FROM rec r LEFT JOIN shop_orders o ON o.id = r.id;
-- committed orders, committed deletions, in flight at the kill, wrong
SELECT count(*) FILTER (WHERE state NOT IN ('absent', 'deleted')),
       count(*) FILTER (WHERE state = 'deleted'),
       count(*) FILTER (WHERE alt IS NOT NULL),
       count(*) FILTER (WHERE actual IS DISTINCT FROM replace(state, 'absent', 'deleted')
                          AND actual IS DISTINCT FROM alt)
  FROM res;
SQL
	)
	read -r REC_ORDERS REC_DELETED REC_DOUBT REC_WRONG <<<"${res:-? ? ? ?}"
	if [ "${REC_WRONG:-?}" != 0 ]; then
		crash_fail "cycle $CYCLE: ${REC_WRONG:-?} recorded orders not in their last committed state"
		"${PSQL[@]}" -d "$DB" <<SQL
CREATE TEMP TABLE rec (id uuid PRIMARY KEY, state text NOT NULL, alt text);
\\copy rec FROM '$SCRATCH/expected.tsv'
SELECT r.id, r.state AS committed_state, r.alt AS in_flight, o.payment_status AS found
  FROM rec r LEFT JOIN shop_orders o ON o.id = r.id
 WHERE coalesce(o.payment_status, 'deleted') IS DISTINCT FROM replace(r.state, 'absent', 'deleted')
   AND coalesce(o.payment_status, 'deleted') IS DISTINCT FROM r.alt
 LIMIT 20;
SQL
	fi
}

check_recorder_exits() { # a recorder may only have stopped because the server went away
	local f
	for f in "$SCRATCH"/rec-"$CYCLE"-*.err; do
		[ -s "$f" ] || continue
		if grep -vqE "$CRASH_RE|server closed the connection unexpectedly|connection to server was lost|This probably means the server terminated abnormally|before or while processing the request|no connection to the server|The postmaster has commanded this server process|In a moment you should be able to reconnect|connection to server .* failed|could not connect to server|could not send data to server|could not receive data from server|^psql:.*FATAL:|^$" "$f"; then
			fail "cycle $CYCLE: recorder $(basename "$f" .err) stopped on an error"
			head -n 10 "$f"
		fi
	done
}

# A new customer's order is tracked after the restart.
check_new_order() {
	local phone got
	phone="+23324$(printf '9%06d' "$CYCLE")"
	# Two transactions: the order is counted when its transaction commits.
	q "$DB" "INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, reference_code)
	         SELECT id, '$phone', 'MTN', 12.50, 'paid', 'new' FROM load_shops WHERE n = 1" >/dev/null 2>&1
	got=$(q "$DB" "SELECT c.total_purchases || ' ' || c.total_spent FROM shop_customers c
	                 JOIN load_shops s ON s.id = c.shop_id AND s.n = 1
	                WHERE c.phone_number = '$phone'" 2>&1)
	[ "$got" = "1 12.50" ] || crash_fail "cycle $CYCLE: a new order after the restart was not tracked (got: $got)"
}

echo "crash: $CYCLES cycles, $CLIENTS clients + $RECORDERS recorders, database $DB"
if ! load_create_db "$DB" >"$SCRATCH/setup.log" 2>&1; then
	cat "$SCRATCH/setup.log"
	echo "crash: FAIL (could not create the test database)"
	exit 1
fi
# Recovery starts from here, not from the DROP DATABASEs of earlier tests (whose redo warns).
q postgres CHECKPOINT
TOTAL_ERRORS=0 TOTAL_DEADLOCKS=0 SURVIVED=0 VERIFY="?" LOST=0
REC_ORDERS="?" REC_DELETED="?" REC_DOUBT="?" REC_WRONG="?"

for CYCLE in $(seq 1 "$CYCLES"); do
	OFFSET=$(log_offset)
	ALLOWED_SIGNAL=""
	KILLED=""
	CRASH_OK=1
	load_pgbench_cmd "$DB" "$CLIENTS" 600
	PGOPTIONS=$LOAD_PGOPTIONS "${PGBENCH_CMD[@]}" >"$SCRATCH/pgbench-$CYCLE.out" 2>&1 &
	BG+=($!)
	for r in $(seq 1 "$RECORDERS"); do
		awk -v cycle="$CYCLE" -v rec="$r" -v n=10000 -f "$CT_LOAD_DIR/recorder.awk" >"$SCRATCH/rec-$CYCLE-$r.sql"
		stdbuf -oL "$PGBIN/psql" -X -q --no-psqlrc -v ON_ERROR_STOP=1 -d "$DB" -f "$SCRATCH/rec-$CYCLE-$r.sql" \
			>"$SCRATCH/rec-$CYCLE-$r.log" 2>"$SCRATCH/rec-$CYCLE-$r.err" &
		BG+=($!)
	done
	wait_s=$((LOAD_MIN + RANDOM % (LOAD_MAX - LOAD_MIN + 1)))
	sleep "$wait_s"
	if ! kill -0 "${BG[0]}" 2>/dev/null; then
		fail "cycle $CYCLE: pgbench ended before the kill"
		tail -n 20 "$SCRATCH/pgbench-$CYCLE.out"
	fi
	t_kill=$SECONDS
	if [ $((CYCLE % 2)) = 1 ]; then
		kind=postmaster
		kill_postmaster
	else
		kind=backend
		kill_backend
	fi
	if ! server_up 120; then
		crash_fail "cycle $CYCLE: the server did not come back within 120 s"
		ct_log_tail
		break
	fi
	down=$((SECONDS - t_kill))
	stop_clients
	check_recorder_exits
	check_recorded
	VERIFY=$(q "$DB" 'SELECT count(*) FROM customer_tracking_verify()')
	if [ "$VERIFY" != 0 ]; then
		crash_fail "cycle $CYCLE: customer_tracking_verify() returned ${VERIFY:-an error instead of} rows"
		"${PSQL[@]}" -d "$DB" -c "SELECT problem, count(*) FROM customer_tracking_verify() GROUP BY 1 ORDER BY 2 DESC LIMIT 20"
		"${PSQL[@]}" -d "$DB" -c "SELECT * FROM customer_tracking_verify() LIMIT 10"
	fi
	check_new_order
	log_scan "$OFFSET" "$LOG_EXPECTED_RE|$CRASH_RE$ALLOWED_SIGNAL"
	TOTAL_ERRORS=$((TOTAL_ERRORS + LOG_ERRORS))
	TOTAL_DEADLOCKS=$((TOTAL_DEADLOCKS + LOG_DEADLOCKS))
	[ "$LOG_ERRORS" -eq 0 ] || fail "cycle $CYCLE: server log: $LOG_ERRORS ERROR entries ($LOG_DEADLOCKS deadlocks)"
	[ "$LOG_FATALS" -eq 0 ] || crash_fail "cycle $CYCLE: server log: $LOG_FATALS unexpected FATAL/PANIC entries"
	[ "$LOG_SIGNALS" -eq 0 ] || crash_fail "cycle $CYCLE: server log: $LOG_SIGNALS server processes terminated by a signal we did not send"
	[ "$LOG_WARNINGS" -eq 0 ] || fail "cycle $CYCLE: server log: $LOG_WARNINGS unexpected WARNING entries"
	[ "$CRASH_OK" = 0 ] || SURVIVED=$((SURVIVED + 1))
	[[ "$REC_WRONG" =~ ^[0-9]+$ ]] && [ "$REC_WRONG" -le "$LOST" ] || LOST=$REC_WRONG
	echo "cycle $CYCLE: killed $KILLED ($kind) after ${wait_s}s of load; back in ${down}s;" \
		"recorded so far: $REC_ORDERS committed orders present, $REC_DELETED committed deletions absent," \
		"$REC_DOUBT in flight at a kill; wrong: $REC_WRONG; verify rows: $VERIFY;" \
		"orders in the database: $(q "$DB" 'SELECT count(*) FROM shop_orders')"
done

RESULT=PASS
[ ${#FAILS[@]} -eq 0 ] || RESULT=FAIL
echo "crash: $RESULT cycles_survived=$SURVIVED/$CYCLES clients=$CLIENTS+$RECORDERS" \
	"committed_orders_checked=$REC_ORDERS committed_deletes_checked=$REC_DELETED in_doubt=$REC_DOUBT" \
	"lost_or_wrong=$LOST errors=$TOTAL_ERRORS deadlocks=$TOTAL_DEADLOCKS verify_rows=$VERIFY" \
	"(total $((SECONDS - T0))s)"
if [ "$RESULT" = PASS ]; then
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB"
	exit 0
fi
printf '  %s\n' "${FAILS[@]}"
echo "database $DB kept for inspection"
exit 1
