#!/usr/bin/env bash
# bench/backfill.sh: installing on a store with history. Times, in one throwaway cluster and one
# run, the plain-SQL floor of a backfill, customer_tracking_backfill() (one transaction),
# CALL customer_tracking_backfill_all() (one transaction per chunk) and customer_tracking_verify(),
# on stores of 100,000 and 1,000,000 orders (10,000,000 with --10m), 1,000 shops, mixed phone
# formats, ~8% unpaid (bench/backfill_data.sql). Prints medians, ratios to the floor, orders/s and
# the backend's peak private memory, and writes bench/results/backfill-latest.md.
#
# Usage: bash bench/backfill.sh [--sizes 100000,1000000] [--10m] [--rounds N] [--shops N]
#                               [--fsync-off] [--keep] [--out FILE]
# See bench/README.md ("Backfill and verify") for what is measured.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
SIZES="100000,1000000"
ROUNDS=3
SHOPS=1000
FSYNC_OFF=0
KEEP=0
OUT="$BENCH_DIR/results/backfill-latest.md"

usage() {
	cat <<EOF
Usage: bash bench/backfill.sh [options]

  --sizes LIST   comma list of store sizes in orders (default $SIZES)
  --10m          also 10,000,000 orders (about an hour on 2 cores, ~12 GB of disk)
  --rounds N     interleaved rounds per size, medians reported (default $ROUNDS)
  --shops N      shops (default $SHOPS)
  --fsync-off    fsync, full_page_writes and synchronous_commit off (default: durable)
  --keep         keep the cluster directory
  --out FILE     report file (default bench/results/backfill-latest.md)

The extension must be installed (make install) in the PostgreSQL of PG_CONFIG
(default /usr/lib/postgresql/15/bin/pg_config).
EOF
}

while [ $# -gt 0 ]; do
	case "$1" in
		--sizes) SIZES=$2; shift 2 ;;
		--10m) SIZES="$SIZES,10000000"; shift ;;
		--rounds) ROUNDS=$2; shift 2 ;;
		--shops) SHOPS=$2; shift 2 ;;
		--fsync-off) FSYNC_OFF=1; shift ;;
		--keep) KEEP=1; shift ;;
		--out) OUT=$2; shift 2 ;;
		-h | --help) usage; exit 0 ;;
		*) echo "unknown option $1" >&2; usage >&2; exit 2 ;;
	esac
done

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# shellcheck source=../scripts/lib/cluster.sh
source "$REPO_DIR/scripts/lib/cluster.sh"
if [ "$FSYNC_OFF" = 1 ]; then
	DURABILITY="fsync = off
full_page_writes = off
synchronous_commit = off"
else
	DURABILITY="fsync = on
full_page_writes = on"
fi
export CT_PG_EXTRA_CONF="shared_buffers = 512MB
max_wal_size = 16GB
checkpoint_timeout = 60min
max_locks_per_transaction = 128
$DURABILITY"
ct_cluster_start >&2
cleanup() {
	if [ "$KEEP" = 1 ]; then
		log "cluster kept in $CT_CLUSTER_DIR (stop: $PGBIN/pg_ctl -D $PGDATA stop)"
	else
		ct_cluster_stop
	fi
}
trap cleanup EXIT

PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 --no-psqlrc)
export PGOPTIONS="-c client_min_messages=warning"
q() { "${PSQL[@]}" -At -d "$1" -c "$2"; }

version=$(q postgres "SELECT default_version FROM pg_available_extensions WHERE name = 'customer_tracking'")
[ -n "$version" ] || { echo "customer_tracking is not installed for $PG_CONFIG" >&2; exit 1; }

# A fresh copy of a size's store with the extension just installed (not timed).
fresh() {
	local template=$1 db=$2
	q postgres "DROP DATABASE IF EXISTS $db" >/dev/null
	q postgres "CREATE DATABASE $db TEMPLATE $template" >/dev/null
	q "$db" "SET client_min_messages = warning; CREATE EXTENSION customer_tracking" >/dev/null
	q "$db" "CHECKPOINT" >/dev/null
}

# Runs SQL in db; prints "seconds peak_private_kb" (RssAnon sampled every 0.2 s: the backend's
# private memory, without shared buffers).
timed() {
	local db=$1 pidfile="$CT_CLUSTER_DIR/pid.$$" peak=0 start end pid rss
	shift
	rm -f "$pidfile"
	start=$(date +%s.%N)
	"${PSQL[@]}" -At -d "$db" -c "SELECT pg_backend_pid()" -c "SET client_min_messages = warning" \
		-c "SET customer_tracking.progress_notice_interval = 0" "$@" >"$pidfile" 2>"$CT_CLUSTER_DIR/err.$$" &
	local client=$!
	while kill -0 "$client" 2>/dev/null; do
		pid=$(head -1 "$pidfile" 2>/dev/null || true)
		if [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; then
			rss=$(awk '/^RssAnon:/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
			[ "${rss:-0}" -gt "$peak" ] && peak=$rss
		fi
		sleep 0.2
	done
	wait "$client" || { cat "$CT_CLUSTER_DIR/err.$$" >&2; exit 1; }
	end=$(date +%s.%N)
	echo "$(echo "$end - $start" | bc) $peak"
}

need() { [ -n "$1" ] || { log "a timed step failed (see above)"; exit 1; }; }
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

# Stats equal a recomputation written here in plain SQL (phones through normalize_phone()).
exact_check() {
	local db=$1
	q "$db" "
WITH o AS (
    SELECT o.shop_id, p.phone, o.id, o.total_price AS amount, o.created_at,
           lower(btrim(o.payment_status)) IN ('completed', 'paid', 'success') AS paid
      FROM shop_orders o
      JOIN (SELECT DISTINCT customer_phone, normalize_phone(customer_phone) AS phone FROM shop_orders) p
        ON p.customer_phone = o.customer_phone
     WHERE p.phone IS NOT NULL
), r AS (
    SELECT customer_tracking_customer_id(shop_id, phone) AS id, count(*)::int AS orders,
           count(*) FILTER (WHERE paid)::int AS purchases, coalesce(sum(amount) FILTER (WHERE paid), 0) AS spent,
           min(created_at) FILTER (WHERE paid) AS first_at, max(created_at) FILTER (WHERE paid) AS last_at
      FROM o GROUP BY shop_id, phone
)
SELECT (SELECT count(*) FROM (SELECT * FROM r EXCEPT SELECT id, total_orders, total_purchases, total_spent,
                                first_purchase_at, last_purchase_at FROM shop_customers) x)
     + (SELECT count(*) FROM (SELECT id, total_orders, total_purchases, total_spent, first_purchase_at,
                                     last_purchase_at FROM shop_customers EXCEPT SELECT * FROM r) x)"
}

REPORT=$(mktemp)
{
	echo "# bench/backfill.sh: $(date -u +%Y-%m-%d), customer_tracking $version"
	echo
	echo "$SHOPS shops, $ROUNDS interleaved rounds per size (medians); $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)."
	echo "Durability: $([ "$FSYNC_OFF" = 1 ] && echo "fsync off" || echo "durable (fsync on)"), shared_buffers 512MB."
	echo
	echo "| orders | floor (per distinct phone) | floor (per order) | backfill() | ratio | orders/s | backfill_all() | ratio | verify() | ratio | paired ratios per round (backfill; all; verify) | peak private memory (backfill / all / verify) | exact |"
	echo "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | --- |"
} >"$REPORT"

for size in ${SIZES//,/ }; do
	tpl="bf_tpl_$size"
	log "store of $size orders: loading"
	q postgres "DROP DATABASE IF EXISTS $tpl" >/dev/null
	q postgres "CREATE DATABASE $tpl" >/dev/null
	"${PSQL[@]}" -d "$tpl" -f "$REPO_DIR/test/fixtures/host-schema.sql" >/dev/null
	"${PSQL[@]}" -1 -d "$tpl" -v orders="$size" -v shops="$SHOPS" -f "$BENCH_DIR/backfill_data.sql" >/dev/null
	q "$tpl" "VACUUM ANALYZE" >/dev/null
	q postgres "CHECKPOINT" >/dev/null
	floor_d="" floor_o="" bf="" all="" ver="" mem_bf="" mem_all="" mem_ver="" exact="yes"
	pr_bf="" pr_all="" pr_ver=""
	for round in $(seq 1 "$ROUNDS"); do
		r_fd="" r_fo="" r_bf="" r_all="" r_ver=""
		for step in floor_d bf all floor_o; do
			case $step in
				floor_d)
					fresh "$tpl" bf_run
					read -r t _ < <(timed bf_run -c "SET jit = off" -v per_distinct=on -f "$BENCH_DIR/backfill_floor.sql")
					need "${t:-}"
					floor_d="$floor_d $t"; r_fd=$t
					log "  round $round: floor (per distinct phone) ${t} s" ;;
				floor_o)
					fresh "$tpl" bf_run
					read -r t _ < <(timed bf_run -c "SET jit = off" -v per_distinct=off -f "$BENCH_DIR/backfill_floor.sql")
					need "${t:-}"
					floor_o="$floor_o $t"; r_fo=$t
					log "  round $round: floor (per order) ${t} s" ;;
				bf)
					fresh "$tpl" bf_run
					read -r t m < <(timed bf_run -c "SELECT count(*) FROM customer_tracking_backfill()")
					need "${t:-}"
					bf="$bf $t"; mem_bf="$mem_bf $m"; r_bf=$t
					log "  round $round: customer_tracking_backfill() ${t} s, ${m} kB"
					read -r t m < <(timed bf_run -c "SELECT count(*) FROM customer_tracking_verify()")
					need "${t:-}"
					ver="$ver $t"; mem_ver="$mem_ver $m"; r_ver=$t
					problems=$(q bf_run "SELECT count(*) FROM customer_tracking_verify()")
					diff=$(exact_check bf_run)
					[ "$problems" = 0 ] && [ "$diff" = 0 ] || exact="NO (verify: $problems, recomputation: $diff)"
					log "  round $round: customer_tracking_verify() ${t} s, ${m} kB; verify rows $problems, recomputation differences $diff" ;;
				all)
					fresh "$tpl" bf_run
					read -r t m < <(timed bf_run -c "CALL customer_tracking_backfill_all()")
					need "${t:-}"
					all="$all $t"; mem_all="$mem_all $m"; r_all=$t
					problems=$(q bf_run "SELECT count(*) FROM customer_tracking_verify()")
					[ "$problems" = 0 ] || exact="NO (verify after backfill_all: $problems)"
					log "  round $round: CALL customer_tracking_backfill_all() ${t} s, ${m} kB" ;;
			esac
		done
		# This round's ratios, to this round's faster floor (the steps of a round run back to back).
		r_floor=$(echo "if ($r_fd < $r_fo) $r_fd else $r_fo" | bc)
		pr_bf="$pr_bf $(echo "scale=2; $r_bf / $r_floor" | bc)"
		pr_all="$pr_all $(echo "scale=2; $r_all / $r_floor" | bc)"
		pr_ver="$pr_ver $(echo "scale=2; $r_ver / $r_floor" | bc)"
	done
	q postgres "DROP DATABASE IF EXISTS bf_run" >/dev/null
	q postgres "DROP DATABASE IF EXISTS $tpl" >/dev/null
	fd=$(echo "$floor_d" | median); fo=$(echo "$floor_o" | median); b=$(echo "$bf" | median)
	a=$(echo "$all" | median); v=$(echo "$ver" | median)
	floor=$(echo "if ($fd < $fo) $fd else $fo" | bc)
	ratio() { echo "scale=2; $1 / $floor" | bc; }
	mb() { echo "$1" | tr ' ' '\n' | grep -v '^$' | sort -g | tail -1 | awk '{printf "%.0f MB", $1 / 1024}'; }
	printf "| %'d | %.1f s | %.1f s | %.1f s | **%s ×** | %'d | %.1f s | %s × | %.1f s | **%s ×** | %s; %s; %s | %s / %s / %s | %s |\n" \
		"$size" "$fd" "$fo" "$b" "$(ratio "$b")" "$(echo "$size / $b" | bc)" "$a" "$(ratio "$a")" "$v" "$(ratio "$v")" \
		"${pr_bf# }" "${pr_all# }" "${pr_ver# }" \
		"$(mb "$mem_bf")" "$(mb "$mem_all")" "$(mb "$mem_ver")" "$exact" >>"$REPORT"
	log "size $size: floor $fd / $fo s, backfill $b s, backfill_all $a s, verify $v s"
	{
		echo
		echo "<!-- $size orders, all rounds (s): floor per distinct:$floor_d; floor per order:$floor_o; backfill:$bf; backfill_all:$all; verify:$ver -->"
	} >>"$REPORT.rounds"
done

{
	echo
	echo "Ratios: medians to the faster floor's median; paired: each round's step to that round's faster floor. Floor: bench/backfill_floor.sql (customers with their stats in one GROUP BY,"
	echo "a ledger row per paid order, the link on every order, triggers off, JIT off as in the backfill's statements). Exact: verify() empty and the stats equal"
	echo "a plain-SQL recomputation (bench/backfill.sh, exact_check). Peak private memory: the backend's largest RssAnon."
	cat "$REPORT.rounds" 2>/dev/null
} >>"$REPORT"
mkdir -p "$(dirname "$OUT")"
cp "$REPORT" "$OUT"
rm -f "$REPORT" "$REPORT.rounds"
cat "$OUT"
