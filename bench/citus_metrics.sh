#!/usr/bin/env bash
# Latency of shop_customer_metrics() at 1,000,000 customers: on one node, then through the
# coordinator of a Citus cluster (coordinator + 2 workers, scripts/lib/citus_cluster.sh), on the
# same data:
#   - one shop with CT_BENCH_CUSTOMERS (default 1,000,000) customers;
#   - the same number spread over 1,000 shops (CT_BENCH_CUSTOMERS / 1000 each): one of them.
# One paid order per customer, created over the last 730 days. The orders are loaded into the
# coordinator's database while it is still a single-node install (triggers off), counted by
# customer_tracking_backfill() (the set-based one of one node), measured; then
# customer_tracking_distribute() moves it all onto the workers (the growth path), verify() must
# be empty, and the same calls are measured through the coordinator. Each measurement:
# pgbench -M prepared, one client, CT_BENCH_SECONDS (default 20) s, after 3 s of warm-up; the
# latency of every call from pgbench's per-transaction log (p50, p95, p99, mean).
#   bash bench/citus_metrics.sh
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
: "${PG_CONFIG:=/usr/lib/postgresql/15/bin/pg_config}"
CUSTOMERS=${CT_BENCH_CUSTOMERS:-1000000}
SECONDS_RUN=${CT_BENCH_SECONDS:-20}
export CT_CITUS_EXTRA_CONF="shared_preload_libraries = 'citus,customer_tracking'
shared_buffers = 256MB
max_wal_size = 4GB"
# shellcheck source=scripts/lib/citus_cluster.sh
source scripts/lib/citus_cluster.sh
SCRATCH=$(mktemp -d) && chmod 755 "$SCRATCH"
trap 'ct_citus_stop; rm -rf "$SCRATCH"' EXIT
ct_citus_start >/dev/null || exit 1
BIG=00000000-0000-0000-0000-000000000000
SMALL=00000000-0000-0000-0000-000000000500
per_shop=$((CUSTOMERS / 1000))
t0=$(date +%s)
ct_citus_psql coord -f test/fixtures/host-schema.sql -c "SET client_min_messages = warning" \
	-c "ALTER TABLE shop_orders DROP CONSTRAINT shop_orders_pkey" -c "ALTER TABLE shop_orders ADD PRIMARY KEY (id, shop_id)" \
	-c "CREATE EXTENSION customer_tracking" >/dev/null || exit 1
ct_citus_psql coord -c "SET client_min_messages = warning" -c "SET session_replication_role = replica" -c "
INSERT INTO user_shops (id, user_id)
SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid, gen_random_uuid() FROM generate_series(0, 1000) i;
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT '$BIG', '02' || lpad(i::text, 8, '0'), CASE WHEN i % 3 = 0 THEN 'MTN' ELSE 'Telecel' END, 10 + i % 50, 'paid',
       CASE WHEN i % 4 = 0 THEN 'promo' END, now() - (i % 730) * interval '1 day' - (i % 1440) * interval '1 minute'
  FROM generate_series(1, $CUSTOMERS) i;
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT ('00000000-0000-0000-0000-' || lpad((1 + i % 1000)::text, 12, '0'))::uuid, '02' || lpad((i / 1000)::text, 8, '0'),
       CASE WHEN i % 3 = 0 THEN 'MTN' ELSE 'Telecel' END, 10 + i % 50, 'paid',
       CASE WHEN i % 4 = 0 THEN 'promo' END, now() - (i % 730) * interval '1 day' - (i % 1440) * interval '1 minute'
  FROM generate_series(0, $((per_shop * 1000 - 1))) i;" || exit 1
t1=$(date +%s)
ct_citus_psql coord -At -c "SET client_min_messages = warning" -c "SELECT sum(orders_linked) FROM customer_tracking_backfill()" \
	-c "VACUUM ANALYZE" >/dev/null || exit 1
echo "loaded: $(ct_citus_psql coord -At -c "SELECT count(*) FROM shop_customers") customers, $(ct_citus_psql coord -At -c "SELECT count(*) FROM shop_orders") orders" \
	"(orders $((t1 - t0)) s, backfill and analyze $(($(date +%s) - t1)) s; load average $(cut -d' ' -f1-3 /proc/loadavg))"

echo "SELECT * FROM shop_customer_metrics(:shop::uuid);" >"$SCRATCH/metrics.sql"
chmod 644 "$SCRATCH/metrics.sql"
measure() # measure LABEL SHOP: p50 p95 p99 mean in ms
{
	local log="$SCRATCH/log-$RANDOM"
	mkdir -p "$log" && chmod 777 "$log"
	"$PGBIN/pgbench" -n -M prepared -h "$CT_CITUS_SOCKET" -p "$CT_CITUS_PORT_COORD" -U postgres -d "$CT_CITUS_DB" -c 1 -T 3 \
		-D shop="$2" -f "$SCRATCH/metrics.sql" >/dev/null 2>&1
	(cd "$log" && "$PGBIN/pgbench" -n -M prepared -h "$CT_CITUS_SOCKET" -p "$CT_CITUS_PORT_COORD" -U postgres -d "$CT_CITUS_DB" \
		-c 1 -T "$SECONDS_RUN" -l -D shop="$2" -f "$SCRATCH/metrics.sql" >/dev/null 2>&1)
	cat "$log"/pgbench_log.* | awk '{print $3 / 1000}' | sort -n | awk -v label="$1" '
		{ a[NR] = $1; s += $1 }
		END { printf "%-58s %6d calls  p50 %6.2f  p95 %6.2f  p99 %6.2f  mean %6.2f ms\n", label, NR,
		      a[int(NR * 0.50) + 1], a[int(NR * 0.95) + 1], a[int(NR * 0.99) + 1], s / NR }'
}
measure "one node: one shop of $CUSTOMERS customers" "$BIG"
measure "one node: one of 1,000 shops of $per_shop customers" "$SMALL"
t0=$(date +%s)
ct_citus_psql coord -At -c "SET client_min_messages = warning" -c "SELECT count(*) FROM customer_tracking_distribute()" >/dev/null || exit 1
echo "distribute(): $(($(date +%s) - t0)) s; verify(): $(ct_citus_psql coord -At -c "SELECT count(*) FROM customer_tracking_verify('$BIG')") problems in the big shop," \
	"$(ct_citus_psql coord -At -c "SELECT count(*) FROM customer_tracking_verify('$SMALL')") in the small one"
for w in w1 w2; do ct_citus_psql "$w" -c "VACUUM ANALYZE" >/dev/null 2>&1; done
measure "cluster, through the coordinator: the shop of $CUSTOMERS customers" "$BIG"
measure "cluster, through the coordinator: one of 1,000 shops" "$SMALL"
echo "load average $(cut -d' ' -f1-3 /proc/loadavg)"
