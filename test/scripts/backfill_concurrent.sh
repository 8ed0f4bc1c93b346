#!/usr/bin/env bash
# customer_tracking_backfill() is safe while new orders arrive.
#
# A database with ~3000 orders that predate the extension (written with the trigger off) is
# backfilled (customer_tracking_backfill() and customer_tracking_backfill_all() in turn) while
# pgbench clients keep inserting orders, paying and refunding them for the same customers. Then: no client transaction failed (no deadlock, no error), every order is still
# there, a last backfill finds nothing left to re-track, and customer_tracking_verify() is empty.
#
# Environment (scripts/test.sh): PGHOST PGPORT PGUSER PGBIN CT_SCRATCH. Exit status 0 = pass.
set -u

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
SCRATCH=${CT_SCRATCH:-$(mktemp -d)}
DB=ct_bf_conc
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 --no-psqlrc)
DURATION=${CT_BACKFILL_SECONDS:-12}
FAILS=0
T0=$SECONDS

pass() { echo "PASS: $*"; }
fail() {
	echo "FAIL: $*"
	FAILS=$((FAILS + 1))
}
q() { "${PSQL[@]}" -d "$DB" -At -c "$1"; }
cleanup() {
	[ -z "${BENCH_PID:-}" ] || kill "$BENCH_PID" 2>/dev/null
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" 2>/dev/null
	[ -n "${CT_SCRATCH:-}" ] || rm -rf "$SCRATCH"
}
trap cleanup EXIT
die() {
	fail "$*"
	exit 1
}

cd "$(dirname "$0")/../.." || die "cannot cd to the repository root"
"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $DB" 2>/dev/null
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" || die "create $DB"
"${PSQL[@]}" -d "$DB" -f test/fixtures/host-schema.sql >/dev/null || die "host schema"
"${PSQL[@]}" -d "$DB" >/dev/null <<'SQL' || die "setup"
SET client_min_messages = error;
CREATE EXTENSION customer_tracking;
INSERT INTO user_shops (id, user_id, shop_slug)
SELECT ('a6000000-0000-0000-0000-00000000000' || s)::uuid, 'b6000000-0000-0000-0000-000000000001', 'ct-conc-' || s
  FROM generate_series(1, 3) s;
-- Orders from before the install: the trigger does not see them.
SET session_replication_role = replica;
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT ('a6000000-0000-0000-0000-00000000000' || (1 + i % 3))::uuid, 'C' || i % 150,
       CASE WHEN i % 97 = 0 THEN 'unknown'
            WHEN i % 4 = 0 THEN '+233 24 ' || lpad((i % 150)::text, 7, '0')
            ELSE '024' || lpad((i % 150)::text, 7, '0') END,
       (ARRAY['MTN', 'Telecel', 'AirtelTigo'])[1 + i % 3], 1 + i % 90,
       (ARRAY['paid', 'completed', 'pending', 'refunded', 'paid'])[1 + i % 5],
       'slug-' || i % 7, now() - i * interval '37 minutes'
  FROM generate_series(1, 3000) i;
RESET session_replication_role;
SQL
PRE=$(q "SELECT count(*) FROM shop_orders")
echo "setup: $PRE orders before the install, $(q "SELECT count(*) FROM shop_customers") customers"

# Writers: new orders of the same customers, paid later; refunds and re-payments of old orders.
cat >"$SCRATCH/writer.sql" <<'SQL'
\set s random(1, 3)
\set p random(0, 149)
\set amt random(1, 90)
\set pick random(1, 3000)
SELECT set_config('ct_test.new_id', gen_random_uuid()::text, false);
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
VALUES (current_setting('ct_test.new_id')::uuid, ('a6000000-0000-0000-0000-00000000000' || :s)::uuid, 'C' || :p,
        '024' || lpad(:p::text, 7, '0'), 'MTN', :amt, 'pending', 'live', now());
UPDATE shop_orders SET payment_status = 'paid' WHERE id = current_setting('ct_test.new_id')::uuid;
UPDATE shop_orders SET payment_status = CASE WHEN payment_status = 'refunded' THEN 'paid' ELSE 'refunded' END
 WHERE id = (SELECT id FROM shop_orders WHERE shop_slug = 'slug-' || (:pick % 7) ORDER BY id OFFSET :pick % 400 LIMIT 1);
SQL
"$PGBIN/pgbench" -n -d "$DB" -c 2 -j 2 -T "$DURATION" -f "$SCRATCH/writer.sql" >"$SCRATCH/pgbench.log" 2>&1 &
BENCH_PID=$!

# Backfill, repeatedly, while they write: the one-transaction function and the procedure that
# commits shop by shop (chunks of 700 orders: one shop each), in turn.
runs=0
bf_errors=0
sleep 1
while kill -0 "$BENCH_PID" 2>/dev/null; do
	if [ $((runs % 2)) = 0 ]; then
		backfill="SELECT shop_id, orders_retracked, orders_linked, orders_untracked, customers_repaired FROM customer_tracking_backfill()"
	else
		backfill="CALL customer_tracking_backfill_all(p_chunk_orders => 700, p_restart => true)"
	fi
	if ! "${PSQL[@]}" -d "$DB" -At -c "SET client_min_messages = error" -c "$backfill" \
		>>"$SCRATCH/backfill.log" 2>&1; then
		bf_errors=$((bf_errors + 1))
	fi
	runs=$((runs + 1))
done
wait "$BENCH_PID"
bench_rc=$?
BENCH_PID=""

echo "backfill runs during the load: $runs"
if [ "$bf_errors" -eq 0 ]; then
	pass "$runs backfill runs during the load, none failed"
else
	fail "$bf_errors of $runs backfill runs failed:"
	grep -i error "$SCRATCH/backfill.log" | sort | uniq -c | sed 's/^/    /'
fi
processed=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$SCRATCH/pgbench.log")
failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' "$SCRATCH/pgbench.log")
if [ "$bench_rc" -eq 0 ] && [ -n "$processed" ] && [ "$processed" -gt 0 ] && [ "${failed:-0}" = 0 ] &&
	! grep -qi "error\|abort" "$SCRATCH/pgbench.log"; then
	pass "writers: $processed order transactions, none failed ($(grep -o 'latency average = .*' "$SCRATCH/pgbench.log"))"
else
	fail "writers (pgbench exit $bench_rc, processed ${processed:-?}, failed ${failed:-?}):"
	sed 's/^/    /' "$SCRATCH/pgbench.log" | head -40
fi

total=$(q "SELECT count(*) FROM shop_orders")
new=$(q "SELECT count(*) FROM shop_orders WHERE shop_slug = 'live'")
if [ "$total" -eq $((PRE + new)) ] && [ "$new" -eq "${processed:-0}" ]; then
	pass "no order lost: $PRE old + $new new = $total"
else
	fail "orders: $PRE old + $new new (pgbench: ${processed:-?}) but $total in shop_orders"
fi

last=$(q "SET client_min_messages = error; SELECT coalesce(sum(orders_retracked), 0) || ' ' || coalesce(sum(customers_repaired), 0) FROM customer_tracking_backfill()")
if [ "$last" = "0 0" ]; then
	pass "a backfill after the load has nothing left to do"
else
	fail "a backfill after the load still re-tracked/repaired: $last"
fi
n=$(q "SELECT count(*) FROM customer_tracking_verify()")
if [ "$n" = 0 ]; then
	pass "customer_tracking_verify() is empty"
else
	fail "customer_tracking_verify() has $n rows, e.g.:"
	q "SELECT problem, shop_order_id, stored, expected FROM customer_tracking_verify() ORDER BY 1 LIMIT 15" | sed 's/^/    /'
fi
linked=$(q "SELECT count(*) FILTER (WHERE normalize_phone(customer_phone) IS NOT NULL AND shop_customer_id IS NULL) || ' ' || count(*) FILTER (WHERE normalize_phone(customer_phone) IS NULL AND shop_customer_id IS NOT NULL) FROM shop_orders")
if [ "$linked" = "0 0" ]; then
	pass "every order with a valid phone is linked, none other is"
else
	fail "unlinked valid / linked invalid orders: $linked"
fi

echo "backfill_concurrent: $FAILS failure(s), $((SECONDS - T0)) s"
[ "$FAILS" -eq 0 ]
