#!/usr/bin/env bash
# bench/dashboard.sh: the dashboard speed claims of customer_tracking against the plain-SQL way,
# in one throwaway cluster:
#
#   1. shop_customer_metrics() for a shop with 10,000 and one with --customers (1,000,000)
#      customers, vs the plan's plain aggregate over shop_customers
#   2. shop_slug_analytics() / shop_daily_series() for a shop with few vs many orders over the
#      same days and slugs, vs plain GROUP BY over customer_tracking / shop_customers
#   3. shop_customer_list() page 1 vs page 1,000 (keyset cursor), vs ORDER BY ... OFFSET
#   4. 8 pgbench clients inserting paid orders into the same shop vs each into its own shop
#
# Server time = median "Execution Time" of EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON), run
# --reps times in one psql session after --warm untimed runs (planning time shown apart).
# Usage: bash bench/dashboard.sh [--customers N | --quick] [--verify-all] [--help]
# See the "bench/dashboard.sh" section of bench/README.md.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)
SQL_DIR=$BENCH_DIR/dashboard

# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------
CUSTOMERS=1000000   # customers of the big shop
SMALL=10000         # customers of the small shop
BATCH=1000          # orders per INSERT ... SELECT (one transaction) while loading
LOADERS=2           # parallel loader sessions (each takes its own customers)
DAYS=730            # orders spread over the last DAYS days
REPS=30             # timed runs per extension query
PLAIN_REPS=7        # timed runs per plain-SQL query (they can take seconds)
WARM=3              # untimed runs before timing, per query
CONC_SECONDS=20     # pgbench run per scenario per round
CONC_WARM=5         # untimed pgbench run per scenario before the rounds
CONC_ROUNDS=3       # rounds, alternating same/own then own/same; medians reported
CONC_MODES="durable async"   # synchronous_commit on / off in the pgbench sessions
CONC_CLIENTS=8
CONC_POOL=5000      # customers per shop in the own-shop scenario (same shop: 8x)
OTHER_SHOPS=1000    # further shops (other owners, no orders) in user_shops, as on a real platform
VERIFY_ALL=0
SKIP_CONC=0
JIT=off
KEEP=0
OUT=""
EXT_NAME=${EXT_NAME:-customer_tracking}
HOST_SCHEMA=${HOST_SCHEMA:-$BENCH_DIR/../test/fixtures/host-schema.sql}

usage() {
  cat <<EOF
Usage: bash bench/dashboard.sh [options]

  --customers N     customers of the big shop (default $CUSTOMERS; ~1.3 orders each)
  --quick           --customers 100000 (a fast sanity run)
  --small N         customers of the small shop (default $SMALL)
  --batch N         orders per load transaction (default $BATCH)
  --loaders N       parallel load sessions (default $LOADERS)
  --reps N          timed runs per extension query (default $REPS)
  --plain-reps N    timed runs per plain-SQL query (default $PLAIN_REPS)
  --warm N          untimed warm-up runs per query (default $WARM)
  --conc-seconds N  pgbench run per concurrency scenario per round (default $CONC_SECONDS)
  --conc-rounds N   concurrency rounds (default $CONC_ROUNDS)
  --conc-pool N     customers per own shop (default $CONC_POOL; the shared shop gets 8x)
  --other-shops N   further shops of other owners in user_shops (default $OTHER_SHOPS; the
                    row-level security policies look the owner's shops up there)
  --conc-modes L    durable,async (default both): synchronous_commit on / off in the pgbench sessions
  --no-conc         skip the concurrency part
  --verify-all      also run customer_tracking_verify() on the big and the concurrency shops
                    (by default only on the small shop; it grows faster than linearly)
  --jit on|off      server jit setting (default off: keeps JIT compile time out of the plain queries)
  --out FILE        markdown report (default bench/results/dashboard-latest.md; the plans go
                    next to it as <name>-plans.txt)
  --keep            keep the temporary cluster directory (the server is still stopped)
EOF
}

need_arg() { [[ $# -ge 2 && -n $2 ]] || { echo "dashboard.sh: $1 needs a value" >&2; exit 2; }; }
ARGS_ORIG="$*"
while [[ $# -gt 0 ]]; do
  case $1 in
    --customers)    need_arg "$@"; CUSTOMERS=$2; shift 2 ;;
    --quick)        CUSTOMERS=100000; shift ;;
    --small)        need_arg "$@"; SMALL=$2; shift 2 ;;
    --batch)        need_arg "$@"; BATCH=$2; shift 2 ;;
    --loaders)      need_arg "$@"; LOADERS=$2; shift 2 ;;
    --reps)         need_arg "$@"; REPS=$2; shift 2 ;;
    --plain-reps)   need_arg "$@"; PLAIN_REPS=$2; shift 2 ;;
    --warm)         need_arg "$@"; WARM=$2; shift 2 ;;
    --conc-seconds) need_arg "$@"; CONC_SECONDS=$2; shift 2 ;;
    --conc-rounds)  need_arg "$@"; CONC_ROUNDS=$2; shift 2 ;;
    --conc-pool)    need_arg "$@"; CONC_POOL=$2; shift 2 ;;
    --other-shops)  need_arg "$@"; OTHER_SHOPS=$2; shift 2 ;;
    --conc-modes)   need_arg "$@"; CONC_MODES=${2//,/ }; shift 2 ;;
    --no-conc)      SKIP_CONC=1; shift ;;
    --verify-all)   VERIFY_ALL=1; shift ;;
    --jit)          need_arg "$@"; JIT=$2; shift 2 ;;
    --out)          need_arg "$@"; OUT=$2; shift 2 ;;
    --keep)         KEEP=1; shift ;;
    -h|--help)      usage; exit 0 ;;
    *) echo "dashboard.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
for n in CUSTOMERS SMALL BATCH LOADERS REPS PLAIN_REPS WARM CONC_SECONDS CONC_ROUNDS CONC_POOL; do
  [[ ${!n} =~ ^[0-9]+$ ]] && (( ${!n} > 0 )) || { echo "dashboard.sh: $n must be a positive integer (got '${!n}')" >&2; exit 2; }
done
[[ $OTHER_SHOPS =~ ^[0-9]+$ ]] || { echo "dashboard.sh: --other-shops must be a non-negative integer" >&2; exit 2; }
(( CUSTOMERS <= 9999999 && SMALL <= 9999999 )) || { echo "dashboard.sh: at most 9,999,999 customers per shop (7-digit phone numbers)" >&2; exit 2; }
(( LOADERS <= 8 )) || { echo "dashboard.sh: --loaders at most 8" >&2; exit 2; }
case $JIT in on|off) ;; *) echo "dashboard.sh: --jit on|off" >&2; exit 2 ;; esac
for m in $CONC_MODES; do case $m in durable|async) ;; *) echo "dashboard.sh: --conc-modes: durable and/or async" >&2; exit 2 ;; esac; done
OUT=${OUT:-$BENCH_DIR/results/dashboard-latest.md}
PLANS_OUT=${OUT%.md}-plans.txt

log() { printf '[dashboard %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

# ---------------------------------------------------------------------------------------------
# tools and the throwaway cluster (same conventions as bench/run.sh)
# ---------------------------------------------------------------------------------------------
PG_CONFIG=${PG_CONFIG:-pg_config}
command -v "$PG_CONFIG" >/dev/null || die "pg_config not found (set PG_CONFIG)"
PGBIN=$("$PG_CONFIG" --bindir)
for t in initdb pg_ctl psql pgbench; do [[ -x $PGBIN/$t ]] || die "$PGBIN/$t not found"; done
for f in "$HOST_SCHEMA" "$SQL_DIR"/{load_orders,plain_metrics,plain_slug,plain_daily,plain_list}.sql "$SQL_DIR/conc_order.pgbench" "$SQL_DIR/quick_check.sql" "$SQL_DIR/dedupe_plans.awk"; do
  [[ -r $f ]] || die "$f not readable"
done

if [[ $(id -u) == 0 ]]; then
  id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' OS user"
  AS_PG=(runuser -u postgres --); PG_OS_USER=postgres
else
  AS_PG=(); PG_OS_USER=$(id -un)
fi

TMP=$(mktemp -d "${TMPDIR:-/tmp}/ct-dash.XXXXXX")
chown "$PG_OS_USER" "$TMP"
chmod 755 "$TMP"
PGDATA_DIR=$TMP/data
SERVER_LOG=$TMP/server.log
STARTED=0
BG_PIDS=()

cleanup() {
  local rc=$? p
  for p in "${BG_PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  if (( STARTED )); then
    (cd "$TMP" && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1) \
      || (cd "$TMP" && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1) || true
  fi
  if (( KEEP )); then log "kept $TMP"; else rm -rf "$TMP"; fi
  exit $rc
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

pick_port() {
  local p i
  for i in $(seq 1 100); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if command -v ss >/dev/null 2>&1; then ss -Hltn "sport = :$p" 2>/dev/null | grep -q . && continue; fi
    [[ -e $TMP/.s.PGSQL.$p ]] && continue
    echo "$p"; return 0
  done
  die "no free port found"
}
PORT=$(pick_port)

log "initdb in $TMP (as $PG_OS_USER)"
(cd "$TMP" && "${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 \
   --locale=C --no-sync --no-instructions >"$TMP/initdb.log" 2>&1) \
  || { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
{
  echo "# bench/dashboard.sh"
  echo "port = $PORT"
  echo "listen_addresses = ''"
  echo "unix_socket_directories = '$TMP'"
  echo "shared_buffers = 512MB"
  echo "max_wal_size = 4GB"
  echo "checkpoint_timeout = 30min"
  echo "timezone = 'UTC'"                 # the rollups' days are UTC days; 'this month' too
  echo "jit = $JIT"
  echo "log_min_messages = warning"
  echo "max_connections = 50"
} >>"$PGDATA_DIR/postgresql.conf"
SETTINGS_DESC="shared_buffers=512MB, max_wal_size=4GB, checkpoint_timeout=30min, timezone=UTC, jit=$JIT, other settings default (fsync/synchronous_commit on; the load sessions set synchronous_commit=off)"

log "starting PostgreSQL on private socket $TMP port $PORT"
(cd "$TMP" && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$SERVER_LOG" -w -t 60 start >/dev/null) \
  || { tail -n 30 "$SERVER_LOG" >&2 || true; die "server did not start"; }
STARTED=1

unset PGSERVICE PGOPTIONS PGPASSWORD PGSSLMODE
export PGHOST=$TMP PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres PGAPPNAME=ct-dashboard
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
DBN=dashboard
q() { "${PSQL[@]}" -d "$DBN" -At -c "$1"; }

# ---------------------------------------------------------------------------------------------
# database, extension, shops
# ---------------------------------------------------------------------------------------------
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DBN" >/dev/null
"${PSQL[@]}" -d "$DBN" -f "$HOST_SCHEMA" >/dev/null
ext_ok=0
for attempt in 1 2 3; do
  if out=$("${PSQL[@]}" -d "$DBN" -c "CREATE EXTENSION $EXT_NAME CASCADE" 2>&1); then ext_ok=1; break; fi
  log "CREATE EXTENSION $EXT_NAME failed (attempt $attempt/3): $(echo "$out" | tr '\n' ' ')"
  sleep 5
  for i in $(seq 1 60); do q "SELECT 1" >/dev/null 2>&1 && break; sleep 1; done
done
(( ext_ok )) || die "CREATE EXTENSION $EXT_NAME failed; is it installed (make install)?"
EXT_VERSION=$(q "SELECT extversion FROM pg_extension WHERE extname = '$EXT_NAME'")

# Shops: dash-small, dash-big, conc-0 (same-shop scenario), conc-1 .. conc-8 (own shops).
q "INSERT INTO user_shops (id, user_id, shop_name, shop_slug)
   SELECT md5(k)::uuid, md5('owner-' || k)::uuid, k, k
     FROM (SELECT unnest(ARRAY['dash-small', 'dash-big', 'dash-prime']) AS k
           UNION ALL SELECT 'conc-' || i FROM generate_series(0, 8) AS i) s" >/dev/null
q "INSERT INTO user_shops (id, user_id, shop_name, shop_slug)
   SELECT md5('other-' || i)::uuid, md5('other-owner-' || (i / 2))::uuid, 'other-' || i, 'other-' || i
     FROM generate_series(1, $OTHER_SHOPS) AS i" >/dev/null
SMALL_SHOP=$(q "SELECT md5('dash-small')::uuid")
BIG_SHOP=$(q "SELECT md5('dash-big')::uuid")

# Check the generator's phones normalise (sample across the range, all four formats).
bad=$(q "SELECT count(*) FROM (SELECT c, (ARRAY['24','54','20','27'])[1 + c % 4] || lpad(c::text, 7, '0') AS l
                                FROM (SELECT DISTINCT 1 + (g * 7919) % $CUSTOMERS AS c FROM generate_series(1, 2000) g
                                      UNION SELECT $CUSTOMERS) x) p,
                       LATERAL (VALUES ('0' || l), ('+233 ' || substr(l, 1, 2) || ' ' || substr(l, 3, 3) || ' ' || substr(l, 6)),
                                       ('233' || l), ('0' || substr(l, 1, 2) || ' ' || substr(l, 3, 3) || ' ' || substr(l, 6))) f(phone)
          WHERE normalize_phone(f.phone) IS DISTINCT FROM '+233' || l")
[[ $bad == 0 ]] || die "$bad generated phone numbers do not normalise to the expected E.164 number"

CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
SERVER_VERSION=$(q "SHOW server_version")
GIT_REV=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo "no commit yet")
GIT_DIRTY=$(git -C "$REPO_DIR" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo " (working tree modified)" || true)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "PostgreSQL $SERVER_VERSION, $EXT_NAME $EXT_VERSION, nproc $(nproc), load $LOAD_START"

# ---------------------------------------------------------------------------------------------
# load: every order goes through the real trigger (INSERT ... SELECT into shop_orders)
# ---------------------------------------------------------------------------------------------
AS_OF_LOAD=$(q "SELECT now()")
LOADS=$TMP/loads.tsv     # name customers orders seconds batches batch_min batch_med batch_max
: >"$LOADS"

# load_range NAME SHOP SLUG CUSTOMERS SALT FIRST_G LAST_G : orders g in [FIRST_G, LAST_G] through
# LOADERS parallel sessions, one psql run (= one transaction) per batch.
load_range() {
  local name=$1 shop=$2 slug=$3 ncust=$4 salt=$5 first=$6 last=$7
  local batch=${LR_BATCH:-$BATCH} loaders=${LR_LOADERS:-$LOADERS}
  local orders=$((last - first + 1)) step=$((batch * loaders)) part lo t0 t1 rc=0
  local bt=$TMP/batches-$name.txt
  : >"$bt"
  t0=$(date +%s.%N)
  local pids=()
  for ((part = 0; part < loaders; part++)); do
    (
      for ((lo = first; lo <= last; lo += step)); do
        hi=$((lo + step)); (( hi > last + 1 )) && hi=$((last + 1))
        b0=$(date +%s.%N)
        if ! out=$("${PSQL[@]}" -d "$DBN" -v shop="$shop" -v slug="$slug" -v customers="$ncust" -v salt="$salt" \
                   -v lo="$lo" -v hi="$hi" -v part="$part" -v parts="$loaders" -v as_of="$AS_OF_LOAD" -v days="$DAYS" \
                   -f "$SQL_DIR/load_orders.sql" 2>&1); then
          echo "loader $part, orders [$lo, $hi): $out" >&2; exit 1
        fi
        echo "$(date +%s.%N) $b0" | awk '{printf "%.3f\n", $1 - $2}' >>"$bt"
      done
    ) &
    pids+=($!)
  done
  BG_PIDS+=("${pids[@]}")
  for p in "${pids[@]}"; do wait "$p" || rc=1; done
  BG_PIDS=()
  (( rc == 0 )) || die "loading $name failed (see above)"
  t1=$(date +%s.%N)
  local secs; secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')
  local stats; stats=$(sort -g "$bt" | awk '{a[NR] = $1} END {printf "%d\t%.2f\t%.2f\t%.2f", NR, a[1], a[int((NR + 1) / 2)], a[NR]}')
  printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$ncust" "$orders" "$secs" "$stats" >>"$LOADS"
  log "  $name: $orders orders in $secs s ($(awk -v o="$orders" -v s="$secs" 'BEGIN {printf "%.0f", o / s}') orders/s)"
}

# Prime the planner: on never-analyzed extension tables the trigger's cached generic plans can
# pick a shop_id-prefixed index for "WHERE id = $1 AND shop_id = $2" (seen on 1.1: the first
# 1,000-order batches took 100+ s instead of < 1 s). A live system has statistics, so load a
# few orders of a throwaway shop in small batches and ANALYZE before the real load.
log "priming planner statistics: 300 orders of shop dash-prime in batches of 50, then ANALYZE"
LR_BATCH=50 LR_LOADERS=1 load_range dash-prime "$(q "SELECT md5('dash-prime')::uuid")" dash-prime 250 99 1 300
q "ANALYZE" >/dev/null

# Concurrency shops first (small): half of each pool has bought once.
if (( ! SKIP_CONC )); then
  log "loading the concurrency shops: conc-0 $((CONC_POOL * 8 / 2)) orders, conc-1..8 $((CONC_POOL / 2)) each"
  load_range conc-0 "$(q "SELECT md5('conc-0')::uuid")" conc-0 $((CONC_POOL * 8)) 100 1 $((CONC_POOL * 8 / 2))
  for i in 1 2 3 4 5 6 7 8; do
    load_range "conc-$i" "$(q "SELECT md5('conc-$i')::uuid")" "conc-$i" "$CONC_POOL" $((100 + i)) 1 $((CONC_POOL / 2))
  done
fi
SMALL_ORDERS=$((SMALL * 13 / 10)); BIG_ORDERS=$((CUSTOMERS * 13 / 10))
log "loading dash-small: $SMALL customers, $SMALL_ORDERS orders, batches of $BATCH, $LOADERS loader(s)"
load_range dash-small "$SMALL_SHOP" dash-small "$SMALL" 1 1 "$SMALL_ORDERS"
log "loading dash-big: $CUSTOMERS customers, $BIG_ORDERS orders, batches of $BATCH, $LOADERS loader(s) (this is the long part)"
load_range dash-big "$BIG_SHOP" dash-big "$CUSTOMERS" 2 1 "$BIG_ORDERS"

log "VACUUM (ANALYZE), CHECKPOINT"
q "VACUUM (ANALYZE)" >/dev/null
q "CHECKPOINT" >/dev/null

# What was loaded (sanity, shown in the report).
shop_facts() { # shop_facts SHOP -> "orders linked customers paid_orders slug_rows stripes_per_day"
  q "SELECT (SELECT count(*) FROM shop_orders WHERE shop_id = '$1') || ' ' ||
            (SELECT count(*) FROM shop_orders WHERE shop_id = '$1' AND shop_customer_id IS NOT NULL) || ' ' ||
            (SELECT count(*) FROM shop_customers WHERE shop_id = '$1' AND total_purchases > 0) || ' ' ||
            (SELECT count(*) FROM customer_tracking WHERE shop_id = '$1' AND purchase_completed) || ' ' ||
            (SELECT count(*) FROM customer_tracking_slug_daily WHERE shop_id = '$1') || ' ' ||
            (SELECT coalesce(round(avg(n), 1), 0) FROM (SELECT count(*) AS n FROM customer_tracking_daily WHERE shop_id = '$1' GROUP BY day) d)"
}
read -r S_ORDERS S_LINKED S_CUST S_PAID S_SLUGROWS S_STRIPES <<<"$(shop_facts "$SMALL_SHOP")"
read -r B_ORDERS B_LINKED B_CUST B_PAID B_SLUGROWS B_STRIPES <<<"$(shop_facts "$BIG_SHOP")"
DB_SIZE=$(q "SELECT pg_size_pretty(pg_database_size(current_database()))")
log "dash-small: $S_ORDERS orders, $S_CUST customers; dash-big: $B_ORDERS orders, $B_CUST customers; database $DB_SIZE"

# ---------------------------------------------------------------------------------------------
# measurement harness
# ---------------------------------------------------------------------------------------------
AS_OF=$(q "SELECT now()")
HI_DAY=$(q "SELECT ('$AS_OF'::timestamptz AT TIME ZONE 'UTC')::date")
LO30=$(q "SELECT '$HI_DAY'::date - 29")
LO365=$(q "SELECT '$HI_DAY'::date - 364")
FROM30=$(q "SELECT ('$LO30'::date)::timestamp AT TIME ZONE 'UTC'")
TIMES=$TMP/times.tsv     # key runs plan_ms(median) exec_ms(median) exec_min exec_max rows
: >"$TIMES"
PLANS=$TMP/plans.txt
: >"$PLANS"

sql_of() { grep -v '^[[:space:]]*--' "$1" | sed -e '/^[[:space:]]*$/d' -e 's/;[[:space:]]*$//'; }
PLAIN_METRICS=$(sql_of "$SQL_DIR/plain_metrics.sql")
PLAIN_SLUG=$(sql_of "$SQL_DIR/plain_slug.sql")
PLAIN_DAILY=$(sql_of "$SQL_DIR/plain_daily.sql")
PLAIN_LIST=$(sql_of "$SQL_DIR/plain_list.sql")

# measure KEY REPS SQL [psql -v args]: WARM untimed runs, then REPS x EXPLAIN (ANALYZE, TIMING
# OFF, SUMMARY ON) in the same session; then, still in that session, one EXPLAIN (ANALYZE,
# BUFFERS) with auto_explain showing the plans of statements run inside functions.
measure() {
  local key=$1 reps=$2 sql=$3; shift 3
  local f=$TMP/m-$key.sql out=$TMP/m-$key.out i
  {
    echo '\o /dev/null'
    if [[ -n ${MEASURE_ROLE:-} ]]; then   # as a shop owner: row-level security applies
      echo "SET ROLE $MEASURE_ROLE;"
      echo "SELECT set_config('request.jwt.claims', '{\"sub\": \"$MEASURE_SUB\"}', false);"
    fi
    for ((i = 0; i < WARM; i++)); do printf '%s;\n' "$sql"; done
    echo '\o'
    for ((i = 0; i < reps; i++)); do printf 'EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)\n%s;\n' "$sql"; done
    echo '\echo @@DETAIL@@'
    printf '\\echo @@ROWS@@\nSELECT count(*) FROM (%s) x;\n' "$sql"
    [[ -n ${MEASURE_ROLE:-} ]] && echo 'RESET ROLE;'
    echo "LOAD 'auto_explain';"
    echo 'SET auto_explain.log_min_duration = 0; SET auto_explain.log_analyze = on; SET auto_explain.log_buffers = on;'
    echo 'SET auto_explain.log_nested_statements = on; SET auto_explain.log_level = notice; SET client_min_messages = notice;'
    [[ -n ${MEASURE_ROLE:-} ]] && echo "SET ROLE $MEASURE_ROLE;"
    printf 'EXPLAIN (ANALYZE, BUFFERS)\n%s;\n' "$sql"
  } >"$f"
  if ! "${PSQL[@]}" -d "$DBN" -At "$@" -f "$f" >"$out" 2>&1; then
    tail -n 20 "$out" >&2; die "measuring $key failed"
  fi
  local rows
  rows=$(awk '/^@@ROWS@@/ {getline; print; exit}' "$out")
  awk -v key="$key" -v reps="$reps" -v rows="$rows" '
    /^@@DETAIL@@/ {exit}
    /^Planning Time:/ {p[++np] = $3}
    /^Execution Time:/ {e[++ne] = $3}
    function med(a, n,   i, j, t) {
      for (i = 2; i <= n; i++) { t = a[i]; for (j = i - 1; j >= 1 && a[j] > t; j--) a[j + 1] = a[j]; a[j + 1] = t }
      return n % 2 ? a[(n + 1) / 2] : (a[n / 2] + a[n / 2 + 1]) / 2
    }
    END {
      if (ne == 0) exit 1
      pm = med(p, np); em = med(e, ne)
      printf "%s\t%d\t%.4f\t%.4f\t%.4f\t%.4f\t%s\n", key, ne, pm, em, e[1], e[ne], rows
    }' "$out" >>"$TIMES" || die "no timings parsed for $key (see $out)"
  {
    echo "==================================================================================="
    echo "== $key  (the last of $((WARM + reps + 1)) runs in one session, with buffers; nested plans from auto_explain)"
    echo "==================================================================================="
    sed -n '/^@@DETAIL@@/,$p' "$out" | grep -v -e '^@@' -e '^LOAD$' -e '^SET$' | sed -e "s/^psql:[^ ]*: //"
    echo
  } >>"$PLANS"
  log "  $key: exec $(awk -F'\t' -v k="$key" '$1 == k {printf "%.3f ms (plan %.3f ms), %s rows", $4, $3, $7}' "$TIMES")"
}
t() { awk -F'\t' -v k="$1" -v c="${2:-4}" '$1 == k {print $c}' "$TIMES"; }   # t KEY [column]

# same KEY SQL_A SQL_B [psql -v args]: rows that differ between the two results (0 = identical),
# comparing the rows as text, in order.
declare -A SAME=()
same() {
  local key=$1 a=$2 b=$3; shift 3
  local n
  n=$(printf 'SELECT count(*) FROM (SELECT row_number() OVER () AS n, x::text AS r FROM (%s) x) a FULL JOIN (SELECT row_number() OVER () AS n, y::text AS r FROM (%s) y) b USING (n) WHERE a.r IS DISTINCT FROM b.r;\n' "$a" "$b" \
      | "${PSQL[@]}" -d "$DBN" -At "$@" 2>&1) || n="error: $(echo "$n" | tr '\n' ' ')"
  SAME[$key]=$n
  [[ $n == 0 ]] || log "  WARNING: $key: results differ ($n rows)"
}

# ---------------------------------------------------------------------------------------------
# 1. shop_customer_metrics vs the plain aggregate
# ---------------------------------------------------------------------------------------------
EXT_METRICS="SELECT * FROM shop_customer_metrics(:'shop', :'as_of')"
log "1. shop_customer_metrics vs plain aggregate"
for s in small big; do
  if [[ $s == small ]]; then shop=$SMALL_SHOP; else shop=$BIG_SHOP; fi
  V=(-v shop="$shop" -v as_of="$AS_OF")
  measure "metrics-ext-$s" "$REPS" "$EXT_METRICS" "${V[@]}"
  measure "metrics-plain-$s" "$PLAIN_REPS" "$PLAIN_METRICS" "${V[@]}"
  same "metrics-$s" "$EXT_METRICS" "$PLAIN_METRICS" "${V[@]}"
done
# The same call as the big shop's owner (non-superuser role, PostgREST-style JWT claim):
# row-level security's policy check is then part of the cost, as in production.
q "CREATE ROLE dash_owner NOLOGIN" >/dev/null
OWNER_SUB=$(q "SELECT md5('owner-dash-big')::uuid")
MEASURE_ROLE=dash_owner MEASURE_SUB=$OWNER_SUB measure "metrics-ext-big-owner" "$REPS" "$EXT_METRICS" -v shop="$BIG_SHOP" -v as_of="$AS_OF"
METRICS_BIG_ROW=$("${PSQL[@]}" -d "$DBN" -F ' | ' -A -v shop="$BIG_SHOP" -v as_of="$AS_OF" -f <(echo "$EXT_METRICS;") | sed -n 2p)
METRICS_HDR=$("${PSQL[@]}" -d "$DBN" -F ' | ' -A -v shop="$BIG_SHOP" -v as_of="$AS_OF" -f <(echo "$EXT_METRICS;") | sed -n 1p)

# ---------------------------------------------------------------------------------------------
# 2. slug analytics and daily series: few vs many orders, same days and slugs
# ---------------------------------------------------------------------------------------------
log "2. shop_slug_analytics / shop_daily_series vs plain GROUP BY"
EXT_SLUG_ALL="SELECT * FROM shop_slug_analytics(:'shop')"
EXT_SLUG_30="SELECT * FROM shop_slug_analytics(:'shop', :'from_ts', :'as_of')"
EXT_DAILY="SELECT * FROM shop_daily_series(:'shop', :'lo_day', :'hi_day')"
for s in small big; do
  if [[ $s == small ]]; then shop=$SMALL_SHOP; else shop=$BIG_SHOP; fi
  V=(-v shop="$shop" -v as_of="$AS_OF" -v hi_day="$HI_DAY")
  measure "slug-all-ext-$s" "$REPS" "$EXT_SLUG_ALL" "${V[@]}" -v lo_day=-infinity -v from_ts=-infinity
  measure "slug-all-plain-$s" "$PLAIN_REPS" "$PLAIN_SLUG" "${V[@]}" -v lo_day=-infinity -v hi_day=infinity
  same "slug-all-$s" "$EXT_SLUG_ALL" "$PLAIN_SLUG" "${V[@]}" -v lo_day=-infinity -v hi_day=infinity
  measure "slug-30-ext-$s" "$REPS" "$EXT_SLUG_30" "${V[@]}" -v from_ts="$FROM30"
  measure "slug-30-plain-$s" "$PLAIN_REPS" "$PLAIN_SLUG" "${V[@]}" -v lo_day="$LO30"
  same "slug-30-$s" "$EXT_SLUG_30" "$PLAIN_SLUG" "${V[@]}" -v lo_day="$LO30" -v from_ts="$FROM30"
  for d in 30 365; do
    lo=$LO30; [[ $d == 365 ]] && lo=$LO365
    measure "daily-$d-ext-$s" "$REPS" "$EXT_DAILY" "${V[@]}" -v lo_day="$lo"
    measure "daily-$d-plain-$s" "$PLAIN_REPS" "$PLAIN_DAILY" "${V[@]}" -v lo_day="$lo"
    same "daily-$d-$s" "$EXT_DAILY" "$PLAIN_DAILY" "${V[@]}" -v lo_day="$lo"
  done
done

# ---------------------------------------------------------------------------------------------
# 3. customer list: page 1 vs page P (keyset) vs OFFSET, big shop, 50 rows a page
# ---------------------------------------------------------------------------------------------
PAGE=1000
(( B_CUST / 50 < PAGE )) && PAGE=$((B_CUST / 50))
(( PAGE < 2 )) && PAGE=2
OFFSET=$(((PAGE - 1) * 50))
log "3. shop_customer_list page 1 vs page $PAGE (rows $((OFFSET + 1))..$((OFFSET + 50))) vs OFFSET"
declare -A ORDER_BY=( [last_purchase]='c.last_purchase_at DESC, c.id DESC'
                      [total_spent]='c.total_spent DESC, c.id DESC'
                      [purchases]='c.total_purchases DESC, c.id DESC' )
EXT_LIST_1="SELECT * FROM shop_customer_list(:'shop', p_sort => :'sort', p_limit => 50)"
EXT_LIST_P="SELECT * FROM shop_customer_list(:'shop', p_sort => :'sort', p_limit => 50, p_cursor => :'cursor')"
for sort in last_purchase total_spent purchases; do
  # the cursor of the last row of page PAGE-1 (row OFFSET), as shop_customer_list returns it:
  # paged to with p_cursor, 500 rows (the list's largest page) a call
  cursor="" left=$OFFSET
  while (( left > 0 )); do
    n=$(( left < 500 ? left : 500 ))
    cursor=$(q "SELECT cursor FROM shop_customer_list('$BIG_SHOP', p_sort => '$sort', p_limit => $n$([[ -n $cursor ]] && echo ", p_cursor => '$cursor'")) OFFSET $((n - 1))")
    [[ -n $cursor ]] || die "shop_customer_list ($sort) has fewer than $OFFSET rows"
    left=$((left - n))
  done
  V=(-v shop="$BIG_SHOP" -v sort="$sort" -v order_by="${ORDER_BY[$sort]}" -v cursor="$cursor")
  measure "list-$sort-ext-p1" "$REPS" "$EXT_LIST_1" "${V[@]}"
  measure "list-$sort-ext-pN" "$REPS" "$EXT_LIST_P" "${V[@]}"
  measure "list-$sort-plain-p1" "$REPS" "$PLAIN_LIST" "${V[@]}" -v offset=0
  measure "list-$sort-plain-pN" "$PLAIN_REPS" "$PLAIN_LIST" "${V[@]}" -v offset="$OFFSET"
  if [[ $sort == last_purchase ]]; then
    MEASURE_ROLE=dash_owner MEASURE_SUB=$OWNER_SUB measure "list-$sort-ext-pN-owner" "$REPS" "$EXT_LIST_P" "${V[@]}"
  fi
  same "list-$sort-p1" "SELECT id FROM ($EXT_LIST_1) e" "SELECT id FROM ($PLAIN_LIST) p" "${V[@]}" -v offset=0
  same "list-$sort-pN" "SELECT id FROM ($EXT_LIST_P) e" "SELECT id FROM ($PLAIN_LIST) p" "${V[@]}" -v offset="$OFFSET"
done

# ---------------------------------------------------------------------------------------------
# 4. concurrency: 8 clients into one shop vs 8 clients into 8 shops
# ---------------------------------------------------------------------------------------------
CONC=$TMP/conc.tsv   # mode round scenario tps failed latency
: >"$CONC"
if (( ! SKIP_CONC )); then
  log "4. concurrency: $CONC_CLIENTS clients, same shop vs own shops, ${CONC_SECONDS}s x $CONC_ROUNDS rounds, modes: $CONC_MODES"
  q "VACUUM (ANALYZE)" >/dev/null
  conc_run() { # conc_run MODE SCENARIO SECONDS OUTFILE [SAMPLE]: pgbench; SAMPLE: record what its backends wait on
    local base nshops pool rc=0 sampler="" opts=""
    if [[ $2 == same ]]; then base=0; nshops=1; pool=$((CONC_POOL * 8)); else base=1; nshops=8; pool=$CONC_POOL; fi
    [[ $1 == async ]] && opts="-c synchronous_commit=off"
    if [[ -n ${5:-} ]]; then   # every 0.5 s: the wait event of each active pgbench backend (CPU = none)
      "$PGBIN/psql" -X -At -d "$DBN" -f <(echo "SELECT coalesce(wait_event_type, 'CPU') || ':' || coalesce(wait_event, '-') FROM pg_stat_activity WHERE application_name = 'ct-conc' AND state = 'active' AND pid <> pg_backend_pid() \watch 0.5") \
        >>"$TMP/waits-$1-$2.txt" 2>/dev/null &
      sampler=$!
    fi
    PGAPPNAME=ct-conc PGOPTIONS="$opts" "$PGBIN/pgbench" -n -M prepared -c "$CONC_CLIENTS" -j 2 -T "$3" \
      -D base="$base" -D nshops="$nshops" -D pool="$pool" -f "$SQL_DIR/conc_order.pgbench" "$DBN" >"$4" 2>&1 || rc=$?
    if [[ -n $sampler ]]; then kill "$sampler" 2>/dev/null || true; wait "$sampler" 2>/dev/null || true; fi
    return $rc
  }
  for mode in $CONC_MODES; do
    for sc in same own; do
      log "  warm-up: $mode, $sc, ${CONC_WARM}s"
      f=$TMP/conc-warm-$mode-$sc.out
      conc_run "$mode" "$sc" "$CONC_WARM" "$f" || { tail -n 15 "$f" >&2; die "pgbench ($mode, $sc) failed"; }
    done
    for ((r = 1; r <= CONC_ROUNDS; r++)); do
      if (( r % 2 )); then order="same own"; else order="own same"; fi
      for sc in $order; do
        q "CHECKPOINT" >/dev/null
        f=$TMP/conc-$mode-$r-$sc.out
        conc_run "$mode" "$sc" "$CONC_SECONDS" "$f" sample || { tail -n 15 "$f" >&2; die "pgbench ($mode, $sc) failed"; }
        tps=$(awk '/^tps = / {print $3; exit}' "$f")
        failed=$(awk -F': ' '/number of failed transactions/ {print $2; exit}' "$f" | awk '{print $1}')
        lat=$(awk '/^latency average/ {print $4; exit}' "$f")
        printf '%s\t%d\t%s\t%s\t%s\t%s\n' "$mode" "$r" "$sc" "$tps" "${failed:-0}" "$lat" >>"$CONC"
        log "  $mode round $r $sc: $tps tps, latency $lat ms, failed ${failed:-0}"
      done
    done
  done
fi

# ---------------------------------------------------------------------------------------------
# 5. correctness: stored numbers = recomputation from shop_orders
# ---------------------------------------------------------------------------------------------
log "5. correctness"
declare -A VERIFY=() CHECK=()
verify_shop() { # verify_shop LABEL SHOP: customer_tracking_verify(), rows and seconds
  local t0 n t1
  t0=$(date +%s.%N)
  n=$(q "SELECT count(*) FROM customer_tracking_verify('$2')" 2>&1) || n="error: $(echo "$n" | tr '\n' ' ')"
  t1=$(date +%s.%N)
  VERIFY[$1]="$n rows ($(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}') s)"
  log "  verify $1: ${VERIFY[$1]}"
}
check_shop() { # check_shop LABEL SHOP: the fast recomputation of bench/dashboard/quick_check.sql
  CHECK[$1]=$("${PSQL[@]}" -d "$DBN" -At -v shop="$2" -f "$SQL_DIR/quick_check.sql" 2>&1) || CHECK[$1]="error: ${CHECK[$1]}"
  log "  check $1: ${CHECK[$1]}"
}
CHECK_SHOPS=(dash-small dash-big)
(( SKIP_CONC )) || CHECK_SHOPS+=(conc-0 conc-1 conc-2 conc-3 conc-4 conc-5 conc-6 conc-7 conc-8)
for k in "${CHECK_SHOPS[@]}"; do check_shop "$k" "$(q "SELECT md5('$k')::uuid")"; done
verify_shop dash-small "$SMALL_SHOP"
if (( VERIFY_ALL )); then
  for k in "${CHECK_SHOPS[@]}"; do [[ $k == dash-small ]] || verify_shop "$k" "$(q "SELECT md5('$k')::uuid")"; done
fi
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
f3() { awk -v x="$1" 'BEGIN {if (x == "") print "–"; else if (x < 1) printf "%.3f", x; else if (x < 100) printf "%.2f", x; else printf "%.0f", x}'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN {if (a == "" || b == "" || b == 0) print "–"; else if (a / b >= 100) printf "%.0f×", a / b; else printf "%.1f×", a / b}'; }
num() { echo "$1" | sed -e ':a' -e 's/\B[0-9]\{3\}\>/,&/' -e 'ta'; }
sm() { local v=${SAME[$1]:-?}; if [[ $v == 0 ]]; then echo "yes"; else echo "**NO** ($v rows differ)"; fi; }
verdict() { if awk "BEGIN {exit !($1)}"; then echo "met"; else echo "**MISSED**"; fi; }

report() {
  echo "## customer_tracking dashboard benchmark"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); command: \`bash bench/dashboard.sh $ARGS_ORIG\`"
  echo "- machine: nproc $(nproc)${CPU_MODEL:+, $CPU_MODEL}; load avg at start $LOAD_START, at end $LOAD_END (shared machine: other jobs ran too)"
  echo "- PostgreSQL $SERVER_VERSION; $SETTINGS_DESC"
  echo "- repo: $GIT_REV$GIT_DIRTY; extension: $EXT_NAME $EXT_VERSION"
  echo "- server time = median \`Execution Time\` of \`EXPLAIN (ANALYZE, TIMING OFF, SUMMARY ON)\`, $REPS runs (extension) / $PLAIN_REPS runs (plain SQL) per query in one psql session after $WARM untimed warm-up runs; planning time is listed apart (it is not in Execution Time). Plans: \`$(basename "$PLANS_OUT")\`."
  echo "- data: shop **dash-small** $(num "$S_CUST") customers / $(num "$S_ORDERS") orders, shop **dash-big** $(num "$B_CUST") customers / $(num "$B_ORDERS") orders (same generator: ~1.3 orders per customer, $DAYS days, 72 % of repeat orders paid, 18 % pending, 10 % refunded, 4 slugs + none, 3 networks, 4 phone formats); database $DB_SIZE. Rollup stripes (rows per shop and day, one per loading session): small $S_STRIPES, big $B_STRIPES. user_shops holds $(num $((OTHER_SHOPS + 12))) shops ($(num "$OTHER_SHOPS") of other owners, without orders)."
  echo
  echo "### Load (every order through the trigger, INSERT ... SELECT, $BATCH orders per transaction, $LOADERS parallel sessions, synchronous_commit=off in the load sessions)"
  echo
  echo "| shop | customers | orders | seconds | orders/s | batches | s per batch min / median / max |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
  awk -F'\t' '$1 ~ /^dash-(small|big)$/ {printf "| %s | %d | %d | %.1f | %.0f | %d | %.2f / %.2f / %.2f |\n", $1, $2, $3, $4, $3 / $4, $5, $6, $7, $8}' "$LOADS"
  if (( ! SKIP_CONC )); then
    awk -F'\t' '$1 ~ /^conc-/ {o += $3; s += $4} END {if (s > 0) printf "| conc-0..8 (concurrency shops) | | %d | %.1f | %.0f | | |\n", o, s, o / s}' "$LOADS"
  fi
  echo
  echo "### 1. shop_customer_metrics vs the plain aggregate over shop_customers"
  echo
  echo "| shop | customers | extension exec ms | extension planning ms | plain aggregate exec ms | plain / extension | same 7 numbers |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | --- |"
  local s
  for s in small big; do
    local nc=$S_CUST; [[ $s == big ]] && nc=$B_CUST
    echo "| dash-$s | $(num "$nc") | $(f3 "$(t metrics-ext-$s)") | $(f3 "$(t metrics-ext-$s 3)") | $(f3 "$(t metrics-plain-$s)") | $(ratio "$(t metrics-plain-$s)" "$(t metrics-ext-$s)") | $(sm metrics-$s) |"
  done
  echo
  local eb es pb
  eb=$(t metrics-ext-big); es=$(t metrics-ext-small); pb=$(t metrics-plain-big)
  echo "- target < 1 ms server time at $(num "$B_CUST") customers: $(f3 "$eb") ms execution ($(f3 "$(awk -v a="$eb" -v b="$(t metrics-ext-big 3)" 'BEGIN {print a + b}')") ms with planning): $(verdict "$eb < 1")"
  echo "- target ≥ 100× faster than the plain aggregate: $(ratio "$pb" "$eb"): $(verdict "$pb / $eb >= 100")"
  echo "- growth $(num "$S_CUST") → $(num "$B_CUST") customers: $(ratio "$eb" "$es") ($(f3 "$es") → $(f3 "$eb") ms; the plain aggregate: $(ratio "$pb" "$(t metrics-plain-small)"))"
  echo "- as the shop's owner (non-superuser role with the JWT \`sub\` claim, so the row-level security policies apply): $(f3 "$(t metrics-ext-big-owner)") ms execution, $(f3 "$(t metrics-ext-big-owner 3)") ms planning"
  echo "- dash-big numbers: \`$METRICS_HDR\` = \`$METRICS_BIG_ROW\`"
  echo
  echo "### 2. Slug analytics and daily series: few vs many orders over the same days and slugs"
  echo
  echo "Extension: the function; plain: GROUP BY over the shop's customer_tracking rows (index (shop_id, accessed_at)) + shop_customers. Small = $(num "$S_ORDERS") orders, big = $(num "$B_ORDERS") orders, both over the same $DAYS days and 5 slugs."
  echo
  echo "| query | rows | ext small ms | ext big ms | ext big / small | plain small ms | plain big ms | plain / ext (big) | same results (small, big) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  local k label
  for k in slug-all slug-30 daily-30 daily-365; do
    case $k in
      slug-all) label="shop_slug_analytics, all time" ;;
      slug-30) label="shop_slug_analytics, last 30 days" ;;
      daily-30) label="shop_daily_series, 30 days" ;;
      daily-365) label="shop_daily_series, 365 days" ;;
    esac
    echo "| $label | $(t $k-ext-big 7) | $(f3 "$(t $k-ext-small)") | $(f3 "$(t $k-ext-big)") | $(ratio "$(t $k-ext-big)" "$(t $k-ext-small)") | $(f3 "$(t $k-plain-small)") | $(f3 "$(t $k-plain-big)") | $(ratio "$(t $k-plain-big)" "$(t $k-ext-big)") | $(sm $k-small), $(sm $k-big) |"
  done
  echo
  echo "### 3. shop_customer_list on dash-big ($(num "$B_CUST") customers), p_limit 50: page 1 vs page $PAGE"
  echo
  echo "Page $PAGE = rows $((OFFSET + 1))..$((OFFSET + 50)), reached by passing the cursor of row $OFFSET as p_cursor. Plain = the same SELECT / WHERE / ORDER BY with OFFSET (same indexes usable)."
  echo
  echo "| sort | ext page 1 ms | ext page $PAGE ms | ext page $PAGE / page 1 | plain OFFSET page 1 ms | plain OFFSET page $PAGE ms | plain / ext (page $PAGE) | same rows (p1, p$PAGE) |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
  local sort
  for sort in last_purchase total_spent purchases; do
    echo "| $sort | $(f3 "$(t list-$sort-ext-p1)") | $(f3 "$(t list-$sort-ext-pN)") | $(ratio "$(t list-$sort-ext-pN)" "$(t list-$sort-ext-p1)") | $(f3 "$(t list-$sort-plain-p1)") | $(f3 "$(t list-$sort-plain-pN)") | $(ratio "$(t list-$sort-plain-pN)" "$(t list-$sort-ext-pN)") | $(sm list-$sort-p1), $(sm list-$sort-pN) |"
  done
  echo
  echo "- last_purchase page $PAGE as the shop's owner (row-level security applies): $(f3 "$(t list-last_purchase-ext-pN-owner)") ms"
  echo
  if (( ! SKIP_CONC )); then
    echo "### 4. Concurrency: $CONC_CLIENTS pgbench clients inserting paid orders (pgbench -M prepared -c $CONC_CLIENTS -j 2 -T $CONC_SECONDS)"
    echo
    echo "same shop: all clients → conc-0, pool of $(num $((CONC_POOL * 8))) customers; own shops: client i → conc-(i+1), pool of $(num "$CONC_POOL") each (so each shop sees the same repeat/new mix per order). Each shop was prefilled with orders from half its pool. $CONC_ROUNDS rounds per mode, alternating the order (same/own, own/same, ...), after a ${CONC_WARM}s warm-up each, CHECKPOINT before every run. Modes: durable = synchronous_commit on (every order waits for its WAL flush); async = synchronous_commit=off in the pgbench sessions (CPU- and lock-bound: shows row contention the flush wait can hide)."
    echo
    echo "| mode | scenario | tps per round | median tps | mean latency ms (median) | failed transactions |"
    echo "| --- | --- | --- | ---: | ---: | ---: |"
    local mode sc
    declare -A MED=()
    for mode in $CONC_MODES; do
      for sc in same own; do
        local list med fails lat
        list=$(awk -F'\t' -v m="$mode" -v s="$sc" '$1 == m && $3 == s {printf "%s%.0f", (n++ ? ", " : ""), $4}' "$CONC")
        med=$(awk -F'\t' -v m="$mode" -v s="$sc" '$1 == m && $3 == s {print $4}' "$CONC" | sort -g | awk '{a[NR] = $1} END {if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}')
        lat=$(awk -F'\t' -v m="$mode" -v s="$sc" '$1 == m && $3 == s {print $6}' "$CONC" | sort -g | awk '{a[NR] = $1} END {if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}')
        fails=$(awk -F'\t' -v m="$mode" -v s="$sc" '$1 == m && $3 == s {f += $5} END {print f + 0}' "$CONC")
        MED[$mode,$sc]=$med
        printf '| %s | %s | %s | %.0f | %.2f | %s |\n' "$mode" "$sc shop" "$list" "$med" "$lat" "$fails"
      done
    done
    echo
    for mode in $CONC_MODES; do
      local cr
      cr=$(awk -v a="${MED[$mode,same]}" -v b="${MED[$mode,own]}" 'BEGIN {printf "%.2f", a / b}')
      echo "- **$mode: same shop / own shops = $cr** (target ≥ 0.80: $(verdict "$cr >= 0.80")); per round: $(awk -F'\t' -v m="$mode" '$1 == m {tps[$2 "," $3] = $4; if ($2 > n) n = $2} END {for (r = 1; r <= n; r++) printf "%s%.2f", (r > 1 ? ", " : ""), tps[r ",same"] / tps[r ",own"]}' "$CONC")"
      for sc in same own; do
        echo "  - $sc shop, what its backends were doing (pg_stat_activity every 0.5 s; CPU = running): $(grep -v '^$' "$TMP/waits-$mode-$sc.txt" 2>/dev/null | sort | uniq -c | sort -rn | awk '{a[NR] = $2; c[NR] = $1; t += $1} END {for (i = 1; i <= NR && i <= 6; i++) printf "%s%s %.0f %%", (i > 1 ? ", " : ""), a[i], 100 * c[i] / t}')"
      done
    done
    echo
  fi
  echo "### 5. Correctness"
  echo
  echo "\`SELECT count(*) FROM customer_tracking_verify(shop)\` (0 rows = every stored number equals a recomputation from shop_orders):"
  echo
  local k
  for k in "${CHECK_SHOPS[@]}"; do
    [[ -n ${VERIFY[$k]:-} ]] && echo "- $k: ${VERIFY[$k]}"
  done
  (( VERIFY_ALL )) || echo "- the other shops: not run (use --verify-all)"
  echo
  echo "Fast check (\`bench/dashboard/quick_check.sql\`: purchases, revenue, customers and repeat customers recomputed from shop_orders alone / as stored):"
  echo
  for k in "${CHECK_SHOPS[@]}"; do echo "- $k: ${CHECK[$k]}"; done
  echo
  echo "### All timings (ms)"
  echo
  echo '```'
  printf '%-26s %5s %10s %10s %10s %10s %8s\n' key runs planning exec_med exec_min exec_max rows
  awk -F'\t' '{printf "%-26s %5d %10.3f %10.3f %10.3f %10.3f %8s\n", $1, $2, $3, $4, $5, $6, $7}' "$TIMES"
  echo '```'
}

REPORT=$(report)
echo
echo "$REPORT"
mkdir -p "$(dirname "$OUT")"
printf '%s\n' "$REPORT" >"$OUT"
awk -f "$SQL_DIR/dedupe_plans.awk" "$PLANS" >"$PLANS_OUT"
log "wrote $OUT and $PLANS_OUT"
