#!/usr/bin/env bash
# Backend CPU per order: on a Citus worker (orders written through the coordinator) against one
# node (the same orders in a database without Citus on the coordinator's server). Starts a
# throwaway coordinator + 2 workers (scripts/lib/citus_cluster.sh), places single-row paid orders
# (8 shops, 1000 phones) with pgbench, one client, for CT_BENCH_SECONDS (default 10) + 4 s, and
# reads the CPU time (utime + stime, /proc) of the backends doing the work over CT_BENCH_SECONDS
# of it: the pgbench backend on one node; on the cluster the coordinator's pgbench backend and the
# workers' backends serving it (Citus keeps one connection per worker open).
#   bash bench/citus_cpu.sh
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
: "${PG_CONFIG:=/usr/lib/postgresql/15/bin/pg_config}"
SECONDS_RUN=${CT_BENCH_SECONDS:-10}
export CT_CITUS_EXTRA_CONF="shared_preload_libraries = 'citus,customer_tracking'"
# shellcheck source=scripts/lib/citus_cluster.sh
source scripts/lib/citus_cluster.sh
SCRATCH=$(mktemp -d) && chmod 755 "$SCRATCH"
trap 'ct_citus_stop; rm -rf "$SCRATCH"' EXIT
ct_citus_start >/dev/null || exit 1
SHOPS="INSERT INTO user_shops (id, user_id) SELECT ('00000000-0000-0000-0000-0000000000' || lpad(i::text, 2, '0'))::uuid,
	gen_random_uuid() FROM generate_series(1, 8) i"
ct_citus_psql coord -d postgres -c "SET client_min_messages = error" -c "CREATE DATABASE single" >/dev/null
CT_CITUS_DB=single ct_citus_psql coord -f test/fixtures/host-schema.sql -c "SET client_min_messages = warning" \
	-c "CREATE EXTENSION customer_tracking" -c "$SHOPS" >/dev/null 2>&1
ct_citus_psql coord -f test/fixtures/host-schema.sql -c "SET client_min_messages = warning" -c "CREATE EXTENSION customer_tracking" \
	-c "ALTER TABLE shop_orders DROP CONSTRAINT shop_orders_pkey" -c "ALTER TABLE shop_orders ADD PRIMARY KEY (id, shop_id)" \
	-c "SELECT count(*) FROM customer_tracking_distribute()" -c "$SHOPS" >/dev/null 2>&1
cat >"$SCRATCH/order.pgbench" <<'PGB'
\set shop random(1, 8)
\set phone random(1, 1000)
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug)
VALUES (('00000000-0000-0000-0000-0000000000' || lpad(:shop::text, 2, '0'))::uuid, '02450' || lpad(:phone::text, 5, '0'),
        CASE WHEN :phone % 3 = 0 THEN 'MTN' ELSE 'Telecel' END, 10, 'paid', CASE WHEN :phone % 4 = 0 THEN 'promo' END);
PGB
chmod 644 "$SCRATCH/order.pgbench"
ticks=$(getconf CLK_TCK)
# cpu PID...: utime + stime of these processes, in clock ticks
cpu() { local t=0 p; for p in "$@"; do t=$((t + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo "$t"; }
pids() { ct_citus_psql "$1" -At -d "${2:-$CT_CITUS_DB}" -c "SELECT pid FROM pg_stat_activity WHERE backend_type = 'client backend' AND pid <> pg_backend_pid() AND application_name LIKE '$3'"; }
count() { ct_citus_psql coord -At -d "$1" -c "SELECT count(*) FROM shop_orders"; }
run() # run DB: pgbench for SECONDS + 4 s against the coordinator's database DB; prints CPU per order
{
	local db=$1 c0 w0 c1 w1 n0 n1 cp wp
	"$PGBIN/pgbench" -n -h "$CT_CITUS_SOCKET" -p "$CT_CITUS_PORT_COORD" -U postgres -d "$db" -c 1 -T "$((SECONDS_RUN + 4))" \
		-f "$SCRATCH/order.pgbench" >"$SCRATCH/$db.log" 2>&1 &
	sleep 2
	cp=$(pids coord "$db" 'pgbench')
	wp="$(pids w1 postgres 'citus_internal%') $(pids w2 postgres 'citus_internal%')"
	c0=$(cpu $cp); w0=$(cpu $wp); n0=$(count "$db")
	sleep "$SECONDS_RUN"
	c1=$(cpu $cp); w1=$(cpu $wp); n1=$(count "$db")
	wait
	echo "$((n1 - n0)) $(( (c1 - c0) * 1000000 / ticks / (n1 - n0) )) $(( (w1 - w0) * 1000000 / ticks / (n1 - n0) ))"
}
# CT_BENCH_BASELINE=1: the same without the extension's triggers (what Citus itself costs).
if [ "${CT_BENCH_BASELINE:-0}" = 1 ]; then
	for db in single postgres; do
		ct_citus_psql coord -d "$db" -c "SET citus.enable_unsafe_triggers = on" \
			-c "ALTER TABLE shop_orders DISABLE TRIGGER customer_tracking_link" \
			-c "ALTER TABLE shop_orders DISABLE TRIGGER customer_tracking_track" >/dev/null 2>&1
	done
fi
read -r single_n single_c _ < <(run single)
read -r citus_n coord_c worker_c < <(run postgres)
echo "single node: $single_n orders in ${SECONDS_RUN} s, backend CPU ${single_c} us per order"
echo "cluster:     $citus_n orders in ${SECONDS_RUN} s through the coordinator; CPU per order: coordinator backend ${coord_c} us, workers' backends ${worker_c} us"
