#!/usr/bin/env bash
# bench/visits.sh: storefront visits: customer_tracking_record_visit() against the
# plain PL/pgSQL baselines of bench/visits_baseline.sql, in one throwaway cluster:
#
#   extension  customer_tracking_record_visit() (C: striped counters, daily salt)
#   plpgsql    bench_record_visit_plpgsql(): the same semantics in PL/pgSQL with pgcrypto, one
#              counter row per shop, slug and day (INSERT ... ON CONFLICT DO UPDATE)
#   counter    bench_count_visit_plpgsql(): a bare visit counter (no unique visitors), the floor
#
# 1. Throughput: pgbench, --clients connections (default 16), one visit per transaction, over
#    --shops slugs (default 50) and, the worst case, over one slug (every connection counts
#    visits of the same shop on the same day); interleaved rounds, the variants in turn. Reports
#    visits/s (median of the rounds), the extension / plpgsql ratio, failed transactions and
#    deadlocks (must be 0) and how often a backend was seen waiting for a lock (pg_stat_activity
#    sampled every 50 ms).
# 2. Backend CPU per call: one connection, --calls visits each in its own transaction (the loop
#    of bench_cpu_per_call(), minus the same loop without the call), from the backend's
#    /proc/self/stat: what a visit costs the server, commit included, independent of the load
#    other processes put on the machine.
# Usage: bash bench/visits.sh [--seconds N] [--rounds N] [--clients N] [--shops N]
#        [--visitors N] [--calls N] [--out FILE] [--keep]
# Environment: PG_CONFIG (a private copy: bench/private_pg.sh), CT_TMP_BASE.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
SECONDS_=15
ROUNDS=3
CLIENTS=16
SHOPS=50
VISITORS=100000
CALLS=40000
OUT=$BENCH_DIR/results/visits-latest.md
KEEP=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) SECONDS_=$2; shift 2 ;;
    --rounds) ROUNDS=$2; shift 2 ;;
    --clients) CLIENTS=$2; shift 2 ;;
    --shops) SHOPS=$2; shift 2 ;;
    --visitors) VISITORS=$2; shift 2 ;;
    --calls) CALLS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "visits.sh: unknown option '$1'" >&2; exit 2 ;;
  esac
done
for n in SECONDS_ ROUNDS CLIENTS SHOPS VISITORS CALLS; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "visits.sh: $n must be a positive integer" >&2; exit 2; }
done
log() { printf '[visits %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
# shellcheck source=scripts/lib/cluster.sh
source "$REPO_DIR/scripts/lib/cluster.sh"
WORK=$(mktemp -d "${CT_TMP_BASE:-/tmp}/ct-visits.XXXXXX")
chmod 755 "$WORK"
cleanup() { if [[ $KEEP == 0 ]]; then ct_cluster_stop; rm -rf "$WORK"; fi; }
trap cleanup EXIT
CT_PG_EXTRA_CONF="shared_buffers = 256MB
max_connections = $((CLIENTS + 20))
autovacuum_naptime = 5s" ct_cluster_start >&2

DB=ct_visits
psql -X -q -d postgres -c "CREATE DATABASE $DB"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$REPO_DIR/test/fixtures/host-schema.sql"
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" <<SQL
CREATE EXTENSION customer_tracking;
INSERT INTO user_shops (user_id, shop_slug)
SELECT gen_random_uuid(), 'shop-' || i FROM generate_series(1, $SHOPS) i;
SQL
psql -X -q -v ON_ERROR_STOP=1 -d "$DB" -f "$BENCH_DIR/visits_baseline.sql"

# One pgbench script per variant and slug spread.
for variant in extension plpgsql counter; do
  case $variant in
    extension) fn=customer_tracking_record_visit ;;
    plpgsql) fn=bench_record_visit_plpgsql ;;
    counter) fn=bench_count_visit_plpgsql ;;
  esac
  printf '\\set s random(1, %d)\n\\set v random(1, %d)\nSELECT %s('"'"'shop-'"'"' || :s, '"'"'visitor-'"'"' || :v);\n' \
    "$SHOPS" "$VISITORS" "$fn" >"$WORK/$variant-many.pgbench"
  printf '\\set v random(1, %d)\nSELECT %s('"'"'shop-1'"'"', '"'"'visitor-'"'"' || :v);\n' \
    "$VISITORS" "$fn" >"$WORK/$variant-one.pgbench"
done

# Lock waits seen while pgbench runs: samples x backends waiting on a row or transaction lock
# (another visit's row), and separately on a relation extension lock (a table or index growing).
sample_waits() {
  local stop=$1 samples=0 waits=0 extend=0 n e
  while [[ ! -e $stop ]]; do
    read -r n e < <(psql -X -At -F ' ' -d "$DB" -c "SELECT count(*) FILTER (WHERE wait_event <> 'extend'), count(*) FILTER (WHERE wait_event = 'extend') FROM pg_stat_activity WHERE datname = '$DB' AND wait_event_type = 'Lock'" 2>/dev/null || echo "0 0")
    samples=$((samples + 1)); waits=$((waits + ${n:-0})); extend=$((extend + ${e:-0}))
    sleep 0.05
  done
  echo "$samples $waits $extend"
}

declare -A TPS FAILED WAITS
for spread in many one; do
  for ((r = 1; r <= ROUNDS; r++)); do
    # Rotate the starting variant between rounds.
    case $(( (r - 1) % 3 )) in
      0) order="extension plpgsql counter" ;;
      1) order="plpgsql counter extension" ;;
      *) order="counter extension plpgsql" ;;
    esac
    for variant in $order; do
      rm -f "$WORK/stop"
      sample_waits "$WORK/stop" >"$WORK/waits" &
      sampler=$!
      out=$("$PGBIN/pgbench" -n -M prepared -c "$CLIENTS" -j "$CLIENTS" -T "$SECONDS_" \
              -f "$WORK/$variant-$spread.pgbench" "$DB" 2>&1) || true
      touch "$WORK/stop"; wait "$sampler"
      tps=$(sed -n 's/^tps = \([0-9.]*\) .*/\1/p' <<<"$out" | head -1)
      failed=$(sed -n 's/^number of failed transactions: \([0-9]*\).*/\1/p' <<<"$out" | head -1)
      aborted=$(grep -c 'client [0-9]* aborted' <<<"$out" || true)
      read -r samples waits extend <"$WORK/waits"
      tps=$(printf '%.0f' "${tps:-0}")
      TPS[$variant-$spread]+="$tps "
      FAILED[$variant-$spread]=$(( ${FAILED[$variant-$spread]:-0} + ${failed:-0} + aborted ))
      WAITS[$variant-$spread]="${WAITS[$variant-$spread]:-} $waits+$extend/$samples"
      log "$spread slug(s), round $r, $variant: ${tps:-?} visits/s, failed ${failed:-0}, aborted $aborted, lock waits $waits (+$extend relation extension) in $samples samples"
    done
  done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {if (NR % 2) print a[(NR+1)/2]; else printf "%.1f\n", (a[NR/2]+a[NR/2+1])/2}'; }

log "CPU per call, one connection, $CALLS calls per variant"
declare -A CPU
for variant in extension plpgsql counter unknown_slug; do
  CPU[$variant]=$(psql -X -At -d "$DB" -c "CALL bench_cpu_per_call('$variant', $CALLS, $SHOPS, $VISITORS)")
  log "  $variant: ${CPU[$variant]} us per call"
done

DEADLOCKS=$(grep -c 'deadlock detected' "$CT_CLUSTER_LOG" || true)
ERRORS=$(grep -c ' ERROR: ' "$CT_CLUSTER_LOG" || true)
CHECK=$(psql -X -At -d "$DB" -c "
  SELECT (SELECT sum(visits) FROM customer_tracking_slug_visits) || ' visits, '
      || (SELECT sum(unique_visitors) FROM customer_tracking_slug_visits) || ' unique visitors counted (sum of stripes); '
      || (SELECT count(*) FROM customer_tracking_visitors) || ' hashes kept; stripes per slug up to '
      || (SELECT max(n) FROM (SELECT count(*) n FROM customer_tracking_slug_visits GROUP BY shop_id, slug, day) x)")

{
  echo "# Visits benchmark (bench/visits.sh)"
  echo
  echo "$(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); PostgreSQL $("$PGBIN/postgres" -V | awk '{print $3}'), fsync off, synchronous_commit on (the test cluster's settings)."
  echo "$CLIENTS connections, $SECONDS_ s per variant per round, $ROUNDS interleaved rounds; visitors random among $VISITORS."
  echo
  echo "| slugs | variant | visits/s (median) | per round | failed | lock waits seen per round (backends waiting for a row or transaction + for a relation extension / samples) |"
  echo "| --- | --- | ---: | --- | ---: | --- |"
  for spread in many one; do
    label=$([[ $spread == many ]] && echo "$SHOPS" || echo 1)
    for variant in extension plpgsql counter; do
      echo "| $label | $variant | $(median <<<"${TPS[$variant-$spread]}") | ${TPS[$variant-$spread]}| ${FAILED[$variant-$spread]} | ${WAITS[$variant-$spread]} |"
    done
  done
  echo
  for spread in many one; do
    e=$(median <<<"${TPS[extension-$spread]}"); p=$(median <<<"${TPS[plpgsql-$spread]}")
    echo "- extension / plpgsql, $([[ $spread == many ]] && echo "$SHOPS slugs" || echo "1 slug"): $(awk -v e="$e" -v p="$p" 'BEGIN {printf "%.2f", (p > 0 ? e / p : 0)}')"
  done
  echo
  echo "Backend CPU per call (one connection, $CALLS calls each in its own transaction, commit included, /proc/self/stat):"
  echo
  echo "| variant | µs per call |"
  echo "| --- | ---: |"
  for variant in extension plpgsql counter unknown_slug; do
    echo "| $variant | ${CPU[$variant]} |"
  done
  echo
  echo "Server log: $DEADLOCKS deadlocks, $ERRORS errors. $CHECK."
} >"$OUT"
cat "$OUT"
