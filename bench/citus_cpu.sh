#!/usr/bin/env bash
# Backend CPU per order: on a Citus worker (orders written through the coordinator) against one
# node (the same orders in a database without Citus on the coordinator's server). Starts a
# throwaway coordinator + 2 workers (scripts/lib/citus_cluster.sh), customer_tracking preloaded.
# Both installs first get one paid order of every customer (8 shops x 1000 phones, one INSERT
# ... SELECT), so that the measured orders are all of returning customers on both (the same work
# per order whatever the number of orders a run gets through). Then, per round, single node and
# cluster alternately: single-row paid orders with pgbench, one client, for CT_BENCH_SECONDS
# (default 10) + 4 s, reading the CPU time (utime + stime, /proc) of the backends doing the work
# over CT_BENCH_SECONDS of it: the pgbench backend on one node; on the cluster the coordinator's
# pgbench backend and the workers' backends serving it (Citus keeps one connection per worker
# open). CT_BENCH_ROUNDS (default 3) rounds; prints each and the median worker/single ratio.
#   bash bench/citus_cpu.sh
# CT_BENCH_PERF=DIR: also `perf record -g` the measured backends in the last round, into
# DIR/single.data (the single node's) and DIR/postgres.data (the workers'); read with
# `perf report -i ...`.
# CT_BENCH_BASELINE=1: the extension's row triggers disabled (what Citus costs by itself).
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
: "${PG_CONFIG:=/usr/lib/postgresql/15/bin/pg_config}"
SECONDS_RUN=${CT_BENCH_SECONDS:-10}
ROUNDS=${CT_BENCH_ROUNDS:-3}
export CT_CITUS_EXTRA_CONF="shared_preload_libraries = 'citus,customer_tracking'"
# shellcheck source=scripts/lib/citus_cluster.sh
source scripts/lib/citus_cluster.sh
SCRATCH=$(mktemp -d) && chmod 755 "$SCRATCH"
trap 'ct_citus_stop; rm -rf "$SCRATCH"' EXIT
ct_citus_start >/dev/null || exit 1
NSHOPS=${CT_BENCH_SHOPS:-8}
ct_citus_psql coord -d postgres -c "SET client_min_messages = error" -c "CREATE DATABASE single" >/dev/null
CT_CITUS_DB=single ct_citus_psql coord -f test/fixtures/host-schema.sql -c "SET client_min_messages = warning" \
	-c "CREATE EXTENSION customer_tracking" >/dev/null 2>&1
ct_citus_psql coord -f test/fixtures/host-schema.sql -c "SET client_min_messages = warning" -c "CREATE EXTENSION customer_tracking" \
	-c "ALTER TABLE shop_orders DROP CONSTRAINT shop_orders_pkey" -c "ALTER TABLE shop_orders ADD PRIMARY KEY (id, shop_id)" \
	-c "SELECT count(*) FROM customer_tracking_distribute()" >/dev/null 2>&1
# The CT_BENCH_SHOPS (default 8) shops: by default all on worker w1, in as many shards (its
# backend serving the coordinator then gets the same stream of orders as the single node's
# backend); CT_BENCH_SAME_SHARD=1: all in one shard of w1; CT_BENCH_SPREAD=1: over both workers.
CANDIDATES="SELECT ('00000000-0000-0000-0000-' || lpad(i::text, 12, '0'))::uuid AS s FROM generate_series(1, 5000) i"
SHARD="get_shard_id_for_distribution_column('shop_orders', x.s)"
ON_W1="JOIN pg_dist_placement p ON p.shardid = $SHARD JOIN pg_dist_node n ON n.groupid = p.groupid AND n.nodeport = $CT_CITUS_PORT_W1"
if [ "${CT_BENCH_SPREAD:-0}" = 1 ]; then
	PICK="SELECT x.s FROM ($CANDIDATES) x ORDER BY x.s LIMIT $NSHOPS"
elif [ "${CT_BENCH_SAME_SHARD:-0}" = 1 ]; then
	PICK="SELECT x.s FROM ($CANDIDATES) x $ON_W1 WHERE $SHARD = (SELECT min($SHARD) FROM ($CANDIDATES) x $ON_W1) ORDER BY x.s LIMIT $NSHOPS"
else
	PICK="SELECT DISTINCT ON ($SHARD) x.s FROM ($CANDIDATES) x $ON_W1 ORDER BY $SHARD, x.s LIMIT $NSHOPS"
fi
SHOP_LIST=$(ct_citus_psql coord -At -c "SELECT string_agg(s::text, ',' ORDER BY s) FROM ($PICK) y")
for db in single postgres; do
	CT_CITUS_DB=$db ct_citus_psql coord -c "INSERT INTO user_shops (id, user_id) SELECT s, gen_random_uuid() FROM unnest('{$SHOP_LIST}'::uuid[]) s" >/dev/null
done
WARM="INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug)
	SELECT s, '02450' || lpad(p::text, 5, '0'),
	       CASE WHEN p % 3 = 0 THEN 'MTN' ELSE 'Telecel' END, 10, 'paid', CASE WHEN p % 4 = 0 THEN 'promo' END
	  FROM unnest('{$SHOP_LIST}'::uuid[]) s, generate_series(1, 1000) p"
for db in single postgres; do
	CT_CITUS_DB=$db ct_citus_psql coord -c "SET client_min_messages = warning" -c "$WARM" -c "VACUUM ANALYZE" >/dev/null
done
cat >"$SCRATCH/order.pgbench" <<PGB
\\set shop random(1, $NSHOPS)
\\set phone random(1, 1000)
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug)
VALUES (('{$SHOP_LIST}'::uuid[])[:shop], '02450' || lpad(:phone::text, 5, '0'),
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
	if [ -n "${CT_BENCH_PERF:-}" ] && [ "$round" = "$ROUNDS" ]; then
		local targets=$cp
		[ "$db" = single ] || targets=$wp
		perf record -q -F 2000 -g -o "$CT_BENCH_PERF/$db.data" -p "$(echo $targets | tr ' ' ',')" -- sleep "$SECONDS_RUN" >/dev/null 2>&1 &
	fi
	sleep "$SECONDS_RUN"
	c1=$(cpu $cp); w1=$(cpu $wp); n1=$(count "$db")
	wait
	echo "$((n1 - n0)) $(( (c1 - c0) * 1000000 / ticks / (n1 - n0) )) $(( (w1 - w0) * 1000000 / ticks / (n1 - n0) ))"
}
triggers() # triggers enable|disable: the extension's row triggers on shop_orders, in both databases
{
	local db
	for db in single postgres; do
		ct_citus_psql coord -d "$db" -c "SET citus.enable_unsafe_triggers = on" \
			-c "ALTER TABLE shop_orders ${1^^} TRIGGER customer_tracking_link" \
			-c "ALTER TABLE shop_orders ${1^^} TRIGGER customer_tracking_track" >/dev/null 2>&1
	done
}
median() { sort -n | awk '{a[NR] = $1} END {print a[int((NR + 1) / 2)]}'; }
case "${CT_BENCH_BASELINE:-0}" in
	1) VARIANTS=(baseline) ;;
	both) VARIANTS=(baseline tracked) ;;
	*) VARIANTS=(tracked) ;;
esac
declare -A results
for round in $(seq 1 "$ROUNDS"); do
	for variant in "${VARIANTS[@]}"; do
		if [ "$variant" = baseline ]; then triggers disable; else triggers enable; fi
		read -r single_n single_c _ < <(run single)
		read -r citus_n coord_c worker_c < <(run postgres)
		results[$variant,single]+="$single_c "
		results[$variant,worker]+="$worker_c "
		results[$variant,coord]+="$coord_c "
		echo "round $round, $variant: single node $single_n orders in ${SECONDS_RUN} s, backend CPU ${single_c} us per order;" \
			"cluster $citus_n orders through the coordinator: coordinator backend ${coord_c} us, workers' backends ${worker_c} us" \
			"(worker / single $(echo "scale=2; $worker_c / $single_c" | bc))"
	done
	if [ "${#VARIANTS[@]}" = 2 ]; then
		read -r -a sb <<<"${results[baseline,single]}"; read -r -a st <<<"${results[tracked,single]}"
		read -r -a wb <<<"${results[baseline,worker]}"; read -r -a wt <<<"${results[tracked,worker]}"
		i=$((round - 1))
		results[ext,ratio]+="$(echo "scale=2; (${wt[$i]} - ${wb[$i]}) / (${st[$i]} - ${sb[$i]})" | bc) "
		echo "round $round: the extension's part (tracked - baseline): single node $((st[i] - sb[i])) us, worker $((wt[i] - wb[i])) us"
	fi
done
echo "medians (us per order; ${ROUNDS} rounds; load average $(cut -d' ' -f1-3 /proc/loadavg)):"
for variant in "${VARIANTS[@]}"; do
	s=$(tr ' ' '\n' <<<"${results[$variant,single]}" | grep . | median)
	w=$(tr ' ' '\n' <<<"${results[$variant,worker]}" | grep . | median)
	c=$(tr ' ' '\n' <<<"${results[$variant,coord]}" | grep . | median)
	echo "  $variant: single node $s, worker $w (worker / single $(echo "scale=2; $w / $s" | bc)), coordinator $c"
done
if [ "${#VARIANTS[@]}" = 2 ]; then
	echo "  the extension's part, worker / single node: $(tr ' ' '\n' <<<"${results[ext,ratio]}" | grep . | median)"
fi
