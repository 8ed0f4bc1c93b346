#!/usr/bin/env bash
# customer_tracking_backfill_all(): a store backfilled in bounded transactions, one per chunk of
# shops; progress NOTICEs (and none when turned off); a run cancelled in the middle goes on where
# it stopped; p_restart starts over; refused in a transaction block and in REPEATABLE READ.
#
# 8 shops of 50 orders each, taken while the triggers were off (as orders that predate the
# install). Chunks of 50 orders: one shop per chunk. For the cancel, another session holds an
# order of the 4th shop, so the run waits in the 4th chunk; the test waits (polling, no fixed
# sleep) until the progress view shows it there, then cancels it.
#
# Environment (scripts/test.sh): PGHOST PGPORT PGUSER PGBIN CT_SCRATCH. Exit status 0 = pass.
set -u

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SCRATCH=${CT_SCRATCH:-$(mktemp -d)}
PSQL=("$PGBIN/psql" -X -q --no-psqlrc)
FAILS=0
T0=$SECONDS
PIDS=()

pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}
q() { "${PSQL[@]}" -v ON_ERROR_STOP=1 -d "$1" -At -c "$2"; }
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; done
	for db in ct_bf_chunks ct_bf_resume; do
		"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null
	done
	[ -n "${CT_SCRATCH:-}" ] || rm -rf "$SCRATCH"
}
trap cleanup EXIT
die() {
	fail "$*"
	exit 1
}

cd "$(dirname "$0")/../.." || die "cannot cd to the repository root"

# shop N's id ends in N: shops sort by id in their number's order.
setup_db() {
	local db=$1
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" 2>/dev/null
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $db" || die "create $db"
	"${PSQL[@]}" -d "$db" -f test/fixtures/host-schema.sql >/dev/null || die "host schema in $db"
	"${PSQL[@]}" -v ON_ERROR_STOP=1 -d "$db" >/dev/null <<'SQL' || die "setup of $db"
SET client_min_messages = error;
CREATE EXTENSION customer_tracking;
INSERT INTO user_shops (id, user_id, shop_slug)
SELECT ('a7000000-0000-0000-0000-00000000000' || s)::uuid, 'b7000000-0000-0000-0000-000000000001', 'ct-chunks-' || s
  FROM generate_series(1, 8) s;
SET session_replication_role = replica;
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT ('c7000000-0000-0000-0000-' || lpad((s * 1000 + i)::text, 12, '0'))::uuid,
       ('a7000000-0000-0000-0000-00000000000' || s)::uuid, 'C' || i % 12,
       CASE WHEN i = 49 THEN 'n/a' WHEN i % 3 = 0 THEN '+233 24 ' || lpad((i % 12)::text, 7, '0')
            ELSE '024' || lpad((i % 12)::text, 7, '0') END,
       (ARRAY['MTN', 'telecel ', NULL])[1 + i % 3], 1 + i, (ARRAY['paid', 'completed', 'pending', 'Paid'])[1 + i % 4],
       'slug-' || i % 3, timestamptz '2025-06-01 00:00+00' + (s * 50 + i) * interval '9 hours'
  FROM generate_series(1, 8) s, generate_series(1, 50) i;
RESET session_replication_role;
SQL
}

# ---------------------------------------------------------------------------------------------
# 1. Chunks and NOTICEs.
setup_db ct_bf_chunks
out=$("${PSQL[@]}" -d ct_bf_chunks -c "SET customer_tracking.progress_notice_interval = '1ms'" \
	-c "CALL customer_tracking_backfill_all(p_chunk_orders => 50)" 2>&1) || fail "CALL failed: $out"
progress=$(grep -c "NOTICE:  customer_tracking: backfill: " <<<"$out")
if [ "$progress" -ge 1 ] && grep -q "NOTICE:  customer_tracking: backfill: done, 8 of 8 shops, 400 of 400 orders" <<<"$out"; then
	pass "progress NOTICEs while it runs ($progress), the last one says done"
else
	fail "progress NOTICEs: $progress, output:"
	sed 's/^/    /' <<<"$out" | head -20
fi
if grep -q "NOTICE:  customer_tracking: backfill done: 8 shops, 400 orders (400 re-tracked), 0 customers repaired, 8 chunks" <<<"$out"; then
	pass "one chunk per shop: 8 chunks, 400 orders"
else
	fail "summary NOTICE missing or wrong:"
	grep "backfill done" <<<"$out" | sed 's/^/    /'
fi
state=$(q ct_bf_chunks "SELECT chunks_done, shops_done, orders_done, finished_at IS NOT NULL FROM customer_tracking_backfill_state")
[ "$state" = "8|8|400|t" ] && pass "state: $state" || fail "state after the run: $state"
n=$(q ct_bf_chunks "SELECT count(*) FROM customer_tracking_verify()")
[ "$n" = 0 ] && pass "customer_tracking_verify() is empty" || fail "verify has $n rows"
linked=$(q ct_bf_chunks "SELECT count(shop_customer_id) || '/' || count(*) FROM shop_orders")
[ "$linked" = "392/400" ] && pass "every order with a valid phone is linked ($linked)" || fail "linked: $linked"

# Off: no progress NOTICE. A second run finds nothing to do (idempotent).
out=$("${PSQL[@]}" -d ct_bf_chunks -c "SET customer_tracking.progress_notice_interval = 0" \
	-c "CALL customer_tracking_backfill_all(p_chunk_orders => 50)" 2>&1) || fail "second CALL failed: $out"
if ! grep -q "customer_tracking: backfill: " <<<"$out" && grep -q "(0 re-tracked), 0 customers repaired" <<<"$out"; then
	pass "progress_notice_interval = 0: no progress NOTICE; a second run re-tracks nothing"
else
	fail "second run:"
	sed 's/^/    /' <<<"$out" | head -10
fi

# Refused where it cannot commit per chunk, or cannot see what others committed.
out=$("${PSQL[@]}" -d ct_bf_chunks -c "BEGIN" -c "CALL customer_tracking_backfill_all()" -c "ROLLBACK" 2>&1)
grep -q "invalid transaction termination" <<<"$out" && pass "CALL in a transaction block fails" ||
	fail "CALL in a transaction block: $out"
out=$("${PSQL[@]}" -d ct_bf_chunks -c "BEGIN ISOLATION LEVEL REPEATABLE READ" \
	-c "SELECT * FROM customer_tracking_backfill()" -c "ROLLBACK" 2>&1)
grep -q "backfill must run in READ COMMITTED, not REPEATABLE READ" <<<"$out" && pass "refused in REPEATABLE READ" ||
	fail "REPEATABLE READ: $out"

# ---------------------------------------------------------------------------------------------
# 2. Cancel in the middle, then resume.
setup_db ct_bf_resume
# An uncommitted payment of an order of shop 4 holds it until this session is terminated.
"${PSQL[@]}" -d ct_bf_resume -c "SET application_name = 'ct_holder'" -c "BEGIN" \
	-c "UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c7000000-0000-0000-0000-000000004002'" \
	-c "SELECT pg_sleep(600)" >/dev/null 2>&1 &
PIDS+=($!)
"${PSQL[@]}" -d ct_bf_resume -c "SET application_name = 'ct_backfill'" \
	-c "SET customer_tracking.progress_notice_interval = 0" \
	-c "CALL customer_tracking_backfill_all(p_chunk_orders => 50)" >"$SCRATCH/first_call.log" 2>&1 &
CALL_PID=$!
PIDS+=("$CALL_PID")

# Wait until the run is in the 4th chunk, waiting for the holder (or 120 s at most).
seen=""
for _ in $(seq 1 1200); do
	seen=$(q ct_bf_resume "SELECT p.phase || ' ' || p.chunks_done || '/' || p.chunks_total || ' ' || p.shops_done || '/' || p.shops_total
	                          || ' ' || coalesce(a.wait_event_type, '')
	                         FROM customer_tracking_progress p JOIN pg_stat_activity a ON a.pid = p.pid" 2>/dev/null)
	[ "$seen" = "linking orders 3/8 3/8 Lock" ] && break
	sleep 0.1
done
if [ "$seen" = "linking orders 3/8 3/8 Lock" ]; then
	pass "another session sees the run in customer_tracking_progress: $seen"
else
	fail "the run did not stop in the 4th chunk (progress: '$seen')"
fi
q ct_bf_resume "SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'ct_backfill'" >/dev/null
wait "$CALL_PID"
grep -q "canceling statement due to user request" "$SCRATCH/first_call.log" && pass "the run was cancelled" ||
	fail "cancel: $(head -3 "$SCRATCH/first_call.log")"
state=$(q ct_bf_resume "SELECT chunks_done, shops_done, orders_done, finished_at IS NULL, right(last_shop_id::text, 1) FROM customer_tracking_backfill_state")
[ "$state" = "3|3|150|t|3" ] && pass "the 3 chunks committed before the cancel stay: $state" ||
	fail "state after the cancel: $state"
done_shops=$(q ct_bf_resume "SELECT string_agg(right(s.id::text, 1), ',' ORDER BY s.id) FROM user_shops s
	WHERE NOT EXISTS (SELECT 1 FROM customer_tracking_verify(s.id))")
[ "$done_shops" = "1,2,3" ] && pass "shops 1-3 are exact, the others not yet" || fail "exact shops: $done_shops"
running=$(q ct_bf_resume "SELECT count(*) FROM customer_tracking_progress")
[ "$running" = 0 ] && pass "nothing left in customer_tracking_progress after the cancel" || fail "progress rows: $running"

q ct_bf_resume "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ct_holder'" >/dev/null
out=$("${PSQL[@]}" -d ct_bf_resume -c "SET customer_tracking.progress_notice_interval = 0" \
	-c "CALL customer_tracking_backfill_all(p_chunk_orders => 50)" 2>&1) || fail "resumed CALL failed: $out"
if grep -q "resuming the backfill started at .*: 3 shops (150 orders) done, going on after shop a7000000-0000-0000-0000-000000000003" <<<"$out" &&
	grep -q "backfill done: 8 shops, 400 orders (400 re-tracked), 0 customers repaired, 8 chunks" <<<"$out"; then
	pass "called again, it goes on after shop 3 and finishes: 8 chunks, 400 orders, none twice"
else
	fail "resume:"
	sed 's/^/    /' <<<"$out" | head -10
fi
n=$(q ct_bf_resume "SELECT count(*) FROM customer_tracking_verify()")
[ "$n" = 0 ] && pass "customer_tracking_verify() is empty after the resumed run" || fail "verify has $n rows"

out=$("${PSQL[@]}" -d ct_bf_resume -c "SET customer_tracking.progress_notice_interval = 0" \
	-c "CALL customer_tracking_backfill_all(p_chunk_orders => 1000, p_restart => true)" 2>&1)
state=$(q ct_bf_resume "SELECT chunks_done, shops_done, orders_done, orders_retracked FROM customer_tracking_backfill_state")
if ! grep -q resuming <<<"$out" && [ "$state" = "1|8|400|0" ]; then
	pass "p_restart: from the first shop, in one chunk of 1000 orders, nothing to re-track ($state)"
else
	fail "p_restart: state $state, output: $out"
fi

echo "backfill_chunks: $FAILS failure(s), $((SECONDS - T0)) s"
[ "$FAILS" -eq 0 ]
