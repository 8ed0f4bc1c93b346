#!/usr/bin/env bash
# bench/analytics.sh: the segments, rates, cohorts and seasons functions on one shop
# with --customers customers (default 1,000,000; ~1.3 orders each over two years), against plain
# SQL giving the same answer from shop_orders, in one throwaway cluster and one run.
#
# The shop's orders, ledger rows and customers are written set-based (bench/analytics/load.sql;
# the rollups are not: these functions do not read them), then checked with
# customer_tracking_verify() (every link, ledger row and customer stat; rollup rows left out)
# and ANALYZEd.
# Server time = median over --reps runs (after --warm untimed runs) of each statement, timed
# inside the server around EXECUTE 'SELECT count(*) FROM (<call>) x' (bench/analytics/calls.sql);
# plain SQL over --plain-reps runs. Prints a table and writes bench/results/analytics-latest.md.
#
# Usage: bash bench/analytics.sh [--customers N] [--reps N] [--plain-reps N] [--warm N]
#                                [--keep] [--out FILE]
# The extension must be installed (make install) in the PostgreSQL of PG_CONFIG.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
CUSTOMERS=1000000
REPS=7
PLAIN_REPS=3
WARM=1
KEEP=0
OUT="$BENCH_DIR/results/analytics-latest.md"
SHOP=b1400000-0000-0000-0000-000000000001
AS_OF='2026-12-01 00:00+00'

while [ $# -gt 0 ]; do
	case "$1" in
		--customers) CUSTOMERS=$2; shift 2 ;;
		--reps) REPS=$2; shift 2 ;;
		--plain-reps) PLAIN_REPS=$2; shift 2 ;;
		--warm) WARM=$2; shift 2 ;;
		--keep) KEEP=1; shift ;;
		--out) OUT=$2; shift 2 ;;
		-h | --help) sed -n 2,14p "$0"; exit 0 ;;
		*) echo "unknown option $1" >&2; exit 2 ;;
	esac
done

log() { echo "[$(date +%H:%M:%S)] $*" >&2; }

# shellcheck source=../scripts/lib/cluster.sh
source "$REPO_DIR/scripts/lib/cluster.sh"
export CT_PG_EXTRA_CONF="shared_buffers = 1GB
work_mem = 64MB
max_wal_size = 16GB
checkpoint_timeout = 60min
jit = off
fsync = off
full_page_writes = off
synchronous_commit = off"
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
"${PSQL[@]}" -d postgres -c "CREATE DATABASE ct_analytics_bench"
"${PSQL[@]}" -d ct_analytics_bench -f "$REPO_DIR/test/fixtures/host-schema.sql"
"${PSQL[@]}" -d ct_analytics_bench -c "CREATE EXTENSION customer_tracking"
version=$("${PSQL[@]}" -At -d ct_analytics_bench -c "SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking'")
log "loading $CUSTOMERS customers (customer_tracking $version)"
start=$(date +%s)
"${PSQL[@]}" -d ct_analytics_bench -v shop="$SHOP" -v customers="$CUSTOMERS" -v days=730 -v as_of="$AS_OF" \
	-f "$BENCH_DIR/analytics/load.sql" >/dev/null
log "loaded in $(($(date +%s) - start)) s"
"${PSQL[@]}" -d ct_analytics_bench -c "VACUUM ANALYZE"
problems=$("${PSQL[@]}" -At -d ct_analytics_bench -c "SELECT count(*) FROM customer_tracking_verify('$SHOP') WHERE problem NOT LIKE 'rollup%'")
log "verify: $problems problems"

table=$("${PSQL[@]}" -d ct_analytics_bench -v shop="$SHOP" -v as_of="$AS_OF" -v reps="$REPS" -v warm="$WARM" \
	-v plain_reps="$PLAIN_REPS" -f "$BENCH_DIR/analytics/calls.sql")
echo "$table"
mkdir -p "$(dirname "$OUT")"
{
	echo "# bench/analytics.sh, $(date -u +%Y-%m-%d) (customer_tracking $version)"
	echo
	echo "One shop, $CUSTOMERS customers, $(( CUSTOMERS * 13 / 10 )) orders over 730 days up to $AS_OF;"
	echo "verify (links, ledger, customers): $problems problems. Server time in ms, median of $REPS runs (plain SQL: $PLAIN_REPS);"
	echo "machine: $(nproc) cores, load average at the end $(cut -d' ' -f1-3 /proc/loadavg)."
	echo
	echo '```'
	echo "$table"
	echo '```'
} >"$OUT"
log "wrote $OUT"
