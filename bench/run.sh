#!/usr/bin/env bash
# bench/run.sh: per-order cost of customer tracking, measured with pgbench in one throwaway
# cluster.
#
#   (a) bare       host schema only, plain INSERT into shop_orders
#   (b) plpgsql    host schema + the plan's migration + PL/pgSQL triggers (bench/plpgsql_baseline.sql)
#   (c) extension  host schema + CREATE EXTENSION customer_tracking (skipped if it fails)
#
# Usage: bash bench/run.sh [--seconds N] [--rounds N] [--clients N] [--bulk] [--fsync-off]
#                          [--build] [--variants a,b,c] [--help]
# See bench/README.md for what is measured and how to read the ratios.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)

# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------
RUN_SECONDS=20      # timed pgbench run per variant per round
ROUNDS=3            # interleaved rounds; medians are reported
CLIENTS=1           # pgbench -c (and -j)
WARM_SECONDS=3      # untimed pgbench run per variant before round 1
BULK=0              # --bulk: INSERT ... SELECT of BULK_ROWS orders per variant per round instead
BULK_ROWS=10000
FSYNC_OFF=0
BUILD=0
KEEP=0
STATEMENTS=0        # --statements: pg_stat_statements (track=all) breakdown of the tracking work
PROFILE=0           # --profile: perf profile of one more run per variant (bench/cpu_split.py)
PROFILE_ORDERS=20000
PROFILE_HZ=4999
CUSTOMERS=20000     # customer pool
SHOPS=50
WARMUP_ORDERS=20000 # prefill of every database before timing
PROTOCOL=prepared   # pgbench -M
VARIANTS="bare,plpgsql,extension"
OUT=""
HOST_SCHEMA=${HOST_SCHEMA:-$BENCH_DIR/../test/fixtures/host-schema.sql}
EXT_NAME=${EXT_NAME:-customer_tracking}

usage() {
  cat <<EOF
Usage: bash bench/run.sh [options]

  --seconds N      timed pgbench run per variant per round (default $RUN_SECONDS)
  --rounds N       interleaved rounds, the median is reported (default $ROUNDS)
  --clients N      pgbench clients/threads (default $CLIENTS; 1 = per-order latency)
  --bulk           instead of pgbench, time one INSERT ... SELECT of --bulk-rows orders
                   per variant per round (default rows $BULK_ROWS)
  --bulk-rows N    rows per bulk statement
  --fsync-off      fsync=off, synchronous_commit=off, full_page_writes=off (CPU-focused runs;
                   default keeps PostgreSQL's durable defaults)
  --build          run 'make && make install' in $REPO_DIR first
  --variants LIST  comma list out of bare,plpgsql,extension (default all three)
  --customers N    customer pool size (default $CUSTOMERS)
  --shops N        number of shops (default $SHOPS)
  --warmup N       orders prefilled into every database before timing (default $WARMUP_ORDERS)
  --warm-seconds N untimed pgbench run per variant before round 1 (default $WARM_SECONDS)
  --protocol P     pgbench -M: simple, extended or prepared (default $PROTOCOL)
  --out FILE       markdown results (default bench/results/latest.md; latest-bulk.md with --bulk,
                   latest-statements.md with --statements, latest-profile.md with --profile)
  --keep           keep the temporary cluster directory (the server is still stopped)
  --statements     also load pg_stat_statements (track = all) and list, per tracking variant,
                   the statements run inside the triggers (where the added time goes); this adds
                   overhead to every variant, so use it for diagnosis, not for the ratios
  --profile        after the timed part, run $PROFILE_ORDERS more orders per variant under
                   'perf record -g' (Debian package linux-perf; root, or perf_event_paranoid <= 1)
                   and split each backend's CPU per order: triggers, PostgreSQL's own row and
                   index work inside them, commit (bench/cpu_split.py)
EOF
}

need_arg() { [[ $# -ge 2 && -n $2 ]] || { echo "run.sh: $1 needs a value" >&2; exit 2; }; }
ARGS_ORIG="$*"
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds)      need_arg "$@"; RUN_SECONDS=$2; shift 2 ;;
    --rounds)       need_arg "$@"; ROUNDS=$2; shift 2 ;;
    --clients)      need_arg "$@"; CLIENTS=$2; shift 2 ;;
    --bulk)         BULK=1; shift ;;
    --bulk-rows)    need_arg "$@"; BULK_ROWS=$2; shift 2 ;;
    --fsync-off)    FSYNC_OFF=1; shift ;;
    --build)        BUILD=1; shift ;;
    --variants)     need_arg "$@"; VARIANTS=$2; shift 2 ;;
    --customers)    need_arg "$@"; CUSTOMERS=$2; shift 2 ;;
    --shops)        need_arg "$@"; SHOPS=$2; shift 2 ;;
    --warmup)       need_arg "$@"; WARMUP_ORDERS=$2; shift 2 ;;
    --warm-seconds) need_arg "$@"; WARM_SECONDS=$2; shift 2 ;;
    --protocol)     need_arg "$@"; PROTOCOL=$2; shift 2 ;;
    --out)          need_arg "$@"; OUT=$2; shift 2 ;;
    --keep)         KEEP=1; shift ;;
    --statements)   STATEMENTS=1; shift ;;
    --profile)      PROFILE=1; shift ;;
    -h|--help)      usage; exit 0 ;;
    *) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
for n in RUN_SECONDS ROUNDS CLIENTS BULK_ROWS CUSTOMERS SHOPS WARMUP_ORDERS WARM_SECONDS; do
  [[ ${!n} =~ ^[0-9]+$ ]] || { echo "run.sh: $n must be a non-negative integer (got '${!n}')" >&2; exit 2; }
done
for n in RUN_SECONDS ROUNDS CLIENTS BULK_ROWS CUSTOMERS SHOPS; do
  (( ${!n} > 0 )) || { echo "run.sh: $n must be positive" >&2; exit 2; }
done
case $PROTOCOL in simple|extended|prepared) ;; *) echo "run.sh: bad --protocol '$PROTOCOL'" >&2; exit 2 ;; esac
IFS=',' read -r -a WANTED <<<"$VARIANTS"
for v in "${WANTED[@]}"; do
  case $v in bare|plpgsql|extension) ;; *) echo "run.sh: unknown variant '$v'" >&2; exit 2 ;; esac
done
if [[ -z $OUT ]]; then
  if (( PROFILE )); then OUT=$BENCH_DIR/results/latest-profile.md
  elif (( STATEMENTS )); then OUT=$BENCH_DIR/results/latest-statements.md
  elif (( BULK )); then OUT=$BENCH_DIR/results/latest-bulk.md
  else OUT=$BENCH_DIR/results/latest.md; fi
fi

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }
LABEL_bare="(a) bare"; LABEL_plpgsql="(b) plpgsql"; LABEL_extension="(c) extension"
label() { local n="LABEL_$1"; echo "${!n}"; }

# ---------------------------------------------------------------------------------------------
# tools
# ---------------------------------------------------------------------------------------------
PG_CONFIG=${PG_CONFIG:-pg_config}
command -v "$PG_CONFIG" >/dev/null || die "pg_config not found (set PG_CONFIG)"
PGBIN=$("$PG_CONFIG" --bindir)
for t in initdb pg_ctl psql pgbench; do
  [[ -x $PGBIN/$t ]] || die "$PGBIN/$t not found"
done
[[ -r $HOST_SCHEMA ]] || die "host schema $HOST_SCHEMA not readable"

if (( BUILD )); then
  log "building and installing the extension (make && make install in $REPO_DIR)"
  make -C "$REPO_DIR" PG_CONFIG="$PG_CONFIG" >&2
  make -C "$REPO_DIR" PG_CONFIG="$PG_CONFIG" install >&2
fi

# The cluster must not run as root: as root, run the server tools as the postgres OS user.
if [[ $(id -u) == 0 ]]; then
  id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' OS user"
  AS_PG=(runuser -u postgres --)
  PG_OS_USER=postgres
else
  AS_PG=()
  PG_OS_USER=$(id -un)
fi

# ---------------------------------------------------------------------------------------------
# throwaway cluster
# ---------------------------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ct-bench.XXXXXX")
chown "$PG_OS_USER" "$TMP"
PGDATA_DIR=$TMP/data
SERVER_LOG=$TMP/server.log
STARTED=0

cleanup() {
  local rc=$?
  if (( STARTED )); then
    (cd "$TMP" && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m fast -w stop >/dev/null 2>&1) \
      || (cd "$TMP" && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -m immediate -w stop >/dev/null 2>&1) || true
  fi
  if (( KEEP )); then
    log "kept $TMP"
  else
    rm -rf "$TMP"
  fi
  exit $rc
}
trap cleanup EXIT
trap 'log "interrupted"; exit 130' INT TERM HUP

pick_port() {
  local p i
  for i in $(seq 1 100); do
    p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
    if command -v ss >/dev/null 2>&1; then
      ss -Hltn "sport = :$p" 2>/dev/null | grep -q . && continue
    fi
    echo "$p"; return 0
  done
  die "no free port found"
}
PORT=$(pick_port)

log "initdb in $TMP (as $PG_OS_USER)"
(cd "$TMP" && "${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 \
   --locale=C --no-sync --no-instructions >"$TMP/initdb.log" 2>&1) \
  || { cat "$TMP/initdb.log" >&2; die "initdb failed"; }

if (( FSYNC_OFF )); then
  DURABILITY="fsync=off, synchronous_commit=off, full_page_writes=off (--fsync-off: CPU-focused, not durable)"
else
  DURABILITY="fsync=on, synchronous_commit=on, full_page_writes=on (PostgreSQL defaults)"
fi
{
  echo "# bench/run.sh"
  echo "port = $PORT"
  echo "listen_addresses = ''"                # Unix socket only, in the private temp dir
  echo "unix_socket_directories = '$TMP'"
  echo "shared_buffers = 256MB"
  echo "max_wal_size = 4GB"                   # checkpoints only where run.sh asks for them
  echo "checkpoint_timeout = 30min"
  echo "log_min_messages = warning"
  if (( STATEMENTS )); then
    echo "shared_preload_libraries = 'pg_stat_statements'"
    echo "pg_stat_statements.track = all"
    echo "pg_stat_statements.max = 1000"
  fi
  if (( FSYNC_OFF )); then
    echo "fsync = off"
    echo "synchronous_commit = off"
    echo "full_page_writes = off"
  fi
} >>"$PGDATA_DIR/postgresql.conf"

log "starting PostgreSQL on private socket $TMP port $PORT"
(cd "$TMP" && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$SERVER_LOG" -w -t 60 start >/dev/null) \
  || { tail -n 30 "$SERVER_LOG" >&2 || true; die "server did not start"; }
STARTED=1

unset PGSERVICE PGOPTIONS PGPASSWORD PGSSLMODE
export PGHOST=$TMP PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres PGAPPNAME=ct-bench
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
q()  { "${PSQL[@]}" -d "$1" -At -c "$2"; }   # q DB SQL -> unaligned tuples

# After a failure: if a backend crashed, say so and wait until crash recovery is over, so the
# remaining variants can still run.
crash_note() {
  local c
  c=$(grep -m1 -E 'terminated by signal|was terminated by exception' "$SERVER_LOG" 2>/dev/null || true)
  [[ -n $c ]] && echo " [server log: ${c#*LOG:  }]"
  return 0
}
wait_ready() {
  local i
  for i in $(seq 1 120); do
    q postgres "SELECT 1" >/dev/null 2>&1 && return 0
    sleep 0.5
  done
  die "server did not come back after a failure (see $SERVER_LOG; use --keep)"
}

# ---------------------------------------------------------------------------------------------
# order generator for prefill and bulk: the same customers, shops, phones and amounts as
# bench/order.pgbench, drawn deterministically from (seed, g) so every variant gets the same rows.
# ---------------------------------------------------------------------------------------------
orders_sql() { # orders_sql N SEED TAG
  local n=$1 seed=$2 tag=$3
  cat <<SQL
INSERT INTO shop_orders (shop_id, customer_name, customer_email, customer_phone, network,
                         volume_gb, base_price, total_price, profit_amount, order_status,
                         payment_status, payment_method, reference_code, shop_slug)
SELECT md5('shop-' || s.shop)::uuid, 'Customer ' || s.cust, 'c' || s.cust || '@example.com',
       (ARRAY['024','054','020','027'])[s.kind] || lpad(s.cust::text, 7, '0'),
       (ARRAY['MTN','MTN','Telecel','AirtelTigo'])[s.kind],
       s.gb, s.base / 100.0, s.cents / 100.0, (s.cents - s.base) / 100.0,
       'completed', 'completed', 'momo', '$tag-' || s.g, 'shop-' || s.shop
FROM (SELECT g, c.cust, 1 + c.cust % $SHOPS AS shop, (c.cust / $SHOPS) % 4 + 1 AS kind,
             p.cents, p.cents * 85 / 100 AS base, 1 + (hashint8(g + 3 * $seed * 100000000::bigint) & 2147483647) % 50 AS gb
      FROM generate_series(1, $n) AS g,
           LATERAL (SELECT 1 + (hashint8(g + $seed * 100000000::bigint) & 2147483647) % $CUSTOMERS AS cust) AS c,
           LATERAL (SELECT 500 + (hashint8(-g - $seed * 100000000::bigint) & 2147483647) % 14501 AS cents) AS p
     ) AS s;
SQL
}

# ---------------------------------------------------------------------------------------------
# databases
# ---------------------------------------------------------------------------------------------
declare -A DB=( [bare]=bench_bare [plpgsql]=bench_plpgsql [extension]=bench_extension )
declare -A NOTE=()
ACTIVE=()

setup_variant() { # setup_variant VARIANT -> 0 if usable
  local v=$1 db=${DB[$1]} out
  q postgres "CREATE DATABASE $db" >/dev/null
  "${PSQL[@]}" -d "$db" -f "$HOST_SCHEMA" >/dev/null
  q "$db" "INSERT INTO user_shops (id, user_id, shop_name, shop_slug)
           SELECT md5('shop-' || i)::uuid, md5('owner-' || i)::uuid, 'Shop ' || i, 'shop-' || i
           FROM generate_series(1, $SHOPS) AS i" >/dev/null
  case $v in
    bare) ;;
    plpgsql)
      "${PSQL[@]}" -d "$db" -f "$BENCH_DIR/plpgsql_baseline.sql" >/dev/null ;;
    extension)
      if ! out=$("${PSQL[@]}" -d "$db" -c "CREATE EXTENSION $EXT_NAME CASCADE" 2>&1); then
        wait_ready
        NOTE[extension]="skipped: CREATE EXTENSION $EXT_NAME failed: $(echo "$out" | tr '\n' ' ' | sed 's/  */ /g')$(crash_note)"
        log "SKIPPING variant (c) extension: CREATE EXTENSION $EXT_NAME failed:"
        echo "$out" | sed 's/^/    /' >&2
        log "  (run 'make && make install' in $REPO_DIR first, or pass --build)"
        return 1
      fi
      NOTE[extension]="$EXT_NAME $(q "$db" "SELECT extversion FROM pg_extension WHERE extname = '$EXT_NAME'")"
      ;;
  esac
  log "prefilling $db with $WARMUP_ORDERS orders"
  if (( WARMUP_ORDERS > 0 )); then
    if ! out=$(orders_sql "$WARMUP_ORDERS" 0 WARM | "${PSQL[@]}" -d "$db" 2>&1); then
      wait_ready
      NOTE[$v]="skipped: prefill failed: $(echo "$out" | tr '\n' ' ' | sed 's/  */ /g')$(crash_note)"
      log "SKIPPING variant $v: prefill (INSERT ... SELECT) failed:"; echo "$out" | sed 's/^/    /' >&2
      return 1
    fi
  fi
  q "$db" "VACUUM (ANALYZE)" >/dev/null
  return 0
}

for v in bare plpgsql extension; do
  [[ ",$VARIANTS," == *",$v,"* ]] || continue
  if setup_variant "$v"; then ACTIVE+=("$v"); fi
done
(( ${#ACTIVE[@]} > 0 )) || die "no variant could be set up"
q postgres "CHECKPOINT" >/dev/null

SERVER_VERSION=$(q postgres "SHOW server_version")
CPU_MODEL=$(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo 2>/dev/null || true)
NPROC=$(nproc)
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')
GIT_REV=$(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo "no commit yet")
log "PostgreSQL $SERVER_VERSION, nproc $NPROC, $DURABILITY"
log "variants: ${ACTIVE[*]}"

# ---------------------------------------------------------------------------------------------
# measurement
# ---------------------------------------------------------------------------------------------
RESULTS=$TMP/results.tsv   # round variant tps latency_ms count wal_bytes_per_order
: >"$RESULTS"

drop_variant() { # drop_variant VARIANT REASON
  local v=$1 keep=() x
  wait_ready
  NOTE[$v]="dropped: $2$(crash_note)"
  for x in "${ACTIVE[@]}"; do [[ $x == "$v" ]] || keep+=("$x"); done
  ACTIVE=("${keep[@]}")
  log "dropping variant $v: $2"
}

run_pgbench() { # run_pgbench VARIANT SECONDS SEED OUTFILE
  "$PGBIN/pgbench" -n -M "$PROTOCOL" -c "$CLIENTS" -j "$CLIENTS" -T "$2" --random-seed="$3" \
    -D customers="$CUSTOMERS" -D shops="$SHOPS" -f "$BENCH_DIR/order.pgbench" "${DB[$1]}" >"$4" 2>&1
}

run_bulk() { # run_bulk VARIANT SEED OUTFILE
  { echo '\timing on'; orders_sql "$BULK_ROWS" "$2" "BULK$2"; } \
    | "${PSQL[@]}" -d "${DB[$1]}" >"$3" 2>&1
}

rotate() { # rotate ROUND -> active variants, starting at a different one each round
  local r=$1 n=${#ACTIVE[@]} i
  for ((i = 0; i < n; i++)); do echo "${ACTIVE[$(((r - 1 + i) % n))]}"; done
}

if (( ! BULK && WARM_SECONDS > 0 )); then
  for v in "${ACTIVE[@]}"; do
    log "warm-up: $v, ${WARM_SECONDS}s untimed"
    f=$TMP/warm-$v.out
    run_pgbench "$v" "$WARM_SECONDS" 999 "$f" || { sed 's/^/    /' "$f" | tail -n 15 >&2; drop_variant "$v" "pgbench failed during warm-up: $(grep -m1 -i error "$f" || true)"; }
  done
fi

if (( STATEMENTS )); then
  for v in "${ACTIVE[@]}"; do
    q "${DB[$v]}" "CREATE EXTENSION IF NOT EXISTS pg_stat_statements" >/dev/null
  done
  q postgres "CREATE EXTENSION IF NOT EXISTS pg_stat_statements; SELECT pg_stat_statements_reset()" >/dev/null
fi
T0=$(date +%s)
for ((r = 1; r <= ROUNDS; r++)); do
  for v in $(rotate "$r"); do
    q postgres "CHECKPOINT" >/dev/null
    lsn0=$(q postgres "SELECT pg_current_wal_insert_lsn()")
    f=$TMP/r$r-$v.out
    if (( BULK )); then
      log "round $r/$ROUNDS: $v, INSERT ... SELECT of $BULK_ROWS orders"
      if ! run_bulk "$v" "$r" "$f"; then
        sed 's/^/    /' "$f" | tail -n 15 >&2
        drop_variant "$v" "bulk insert failed: $(grep -m1 -i error "$f" || true)"; continue
      fi
      ms=$(awk '/^Time:/ {t = $2} END {print t}' "$f")
      [[ -n $ms ]] || { drop_variant "$v" "no timing in psql output"; continue; }
      wal=$(q postgres "SELECT round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn0') / $BULK_ROWS)")
      awk -v r="$r" -v v="$v" -v ms="$ms" -v n="$BULK_ROWS" -v w="$wal" \
        'BEGIN {printf "%d\t%s\t%.3f\t%.6f\t%d\t%s\n", r, v, n / (ms / 1000), ms / n, n, w}' >>"$RESULTS"
    else
      log "round $r/$ROUNDS: $v, ${RUN_SECONDS}s, $CLIENTS client(s)"
      if ! run_pgbench "$v" "$RUN_SECONDS" "$r" "$f"; then
        sed 's/^/    /' "$f" | tail -n 15 >&2
        drop_variant "$v" "pgbench failed: $(grep -m1 -i error "$f" || true)"; continue
      fi
      tps=$(awk '/^tps = / {print $3; exit}' "$f")
      # mean latency per order = clients / tps (pgbench's "latency average" is the same number,
      # printed with only 3 decimals)
      lat=$(awk '/^tps = / {printf "%.6f", 1000 * c / $3; exit}' c="$CLIENTS" "$f")
      cnt=$(awk -F': ' '/number of transactions actually processed/ {print $2; exit}' "$f" | awk '{print $1}')
      failed=$(awk -F': ' '/number of failed transactions/ {print $2; exit}' "$f" | awk '{print $1}')
      if [[ -z $tps || -z $lat ]]; then drop_variant "$v" "could not parse pgbench output"; continue; fi
      if [[ -n $failed && $failed != 0 ]]; then log "WARNING: $v had $failed failed transactions"; fi
      wal=$(q postgres "SELECT round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn0') / greatest(${cnt:-0}, 1))")
      printf '%d\t%s\t%s\t%s\t%s\t%s\n' "$r" "$v" "$tps" "$lat" "${cnt:-?}" "$wal" >>"$RESULTS"
    fi
  done
done
T1=$(date +%s)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg 2>/dev/null || echo '?')

statements_report() {
  local v
  echo
  echo "pg_stat_statements during the timed part (--statements: timings above include its overhead):"
  for v in "${ACTIVE[@]}"; do
    echo
    echo "$(label "$v"), top statements by total time (top-level = the client's INSERT, nested = run by triggers):"
    echo
    echo '```'
    "${PSQL[@]}" -d "${DB[$v]}" -P pager=off -c "
      SELECT s.calls, round(s.total_exec_time::numeric, 1) AS total_ms,
             round((1000 * s.mean_exec_time)::numeric, 1) AS mean_us,
             CASE WHEN s.toplevel THEN 'top' ELSE 'nested' END AS level,
             left(regexp_replace(s.query, '\s+', ' ', 'g'), 110) AS query
      FROM pg_stat_statements s JOIN pg_database d ON d.oid = s.dbid
      WHERE d.datname = current_database() AND s.query !~* 'pg_stat_statements|^checkpoint'
      ORDER BY s.total_exec_time DESC LIMIT 12" 2>&1
    echo '```'
  done
}

# taken before the sanity queries below, so they do not show up in it
STMT_REPORT=""
if (( STATEMENTS )); then STMT_REPORT=$(statements_report); fi

backend_pid() { # backend_pid DB -> pid of the profiled pgbench session, waiting for it to connect
  local pid="" i
  for ((i = 0; i < 500; i++)); do
    pid=$(q postgres "SELECT pid FROM pg_stat_activity WHERE datname = '$1' AND application_name = 'ct-bench-profile'")
    [[ -n $pid ]] && break
    sleep 0.01
  done
  echo "$pid"
}

perf_run() { # perf_run VARIANT SEED PERF-ARGS... -> perf attached to the backend of one pgbench run
  local v=$1 seed=$2 bg pid rec
  shift 2
  PGAPPNAME=ct-bench-profile "$PGBIN/pgbench" -n -M "$PROTOCOL" -c 1 -j 1 -t "$PROFILE_ORDERS" \
    --random-seed="$seed" -D customers="$CUSTOMERS" -D shops="$SHOPS" -f "$BENCH_DIR/order.pgbench" \
    "${DB[$v]}" >"$TMP/perf-$v-$seed.out" 2>&1 &
  bg=$!
  pid=$(backend_pid "${DB[$v]}")
  if [[ -z $pid ]]; then wait "$bg"; return 1; fi
  perf "$@" -p "$pid" >/dev/null 2>&1 &
  rec=$!
  wait "$bg"
  wait "$rec"
}

profile_variant() { # profile_variant VARIANT -> a line of bench/cpu_split.py, or nothing
  local v=$1 cpu_ms
  # CPU per order from the task clock (exact); its split from a sampled run (perf record -g
  # costs time of its own per sample, so only its shares are used).
  perf_run "$v" 77 stat -e task-clock -x, -o "$TMP/perf-$v.stat" || return 0
  cpu_ms=$(awk -F, '/task-clock/ {print $1}' "$TMP/perf-$v.stat")
  [[ -n $cpu_ms ]] || return 0
  perf_run "$v" 78 record -F "$PROFILE_HZ" -g -o "$TMP/perf-$v.data" || return 0
  perf script -i "$TMP/perf-$v.data" 2>/dev/null \
    | python3 "$BENCH_DIR/cpu_split.py" "$v" "$(awk -v ms="$cpu_ms" -v n="$PROFILE_ORDERS" 'BEGIN {printf "%.3f", ms * 1000 / n}')"
}

profile_report() {
  local v line
  declare -A SPLIT=()
  for v in "${ACTIVE[@]}"; do
    log "profile: $v, 2 x $PROFILE_ORDERS orders under perf"
    line=$(profile_variant "$v")
    [[ -n $line ]] && SPLIT[$v]=$line
  done
  echo
  echo "Backend CPU per order (--profile: $PROFILE_ORDERS orders per variant under 'perf stat -e task-clock',"
  echo "split by the shares of $PROFILE_ORDERS more under 'perf record -g' at $PROFILE_HZ Hz; bench/cpu_split.py):"
  echo
  if [[ ${#SPLIT[@]} == 0 ]]; then
    echo "perf was not available or could not attach (install linux-perf; run as root or with"
    echo "kernel.perf_event_paranoid <= 1)."
    return
  fi
  echo "| variant | CPU, µs | in its triggers | of which PostgreSQL's row and index work | commit | of which deferred checks |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  for v in bare plpgsql extension; do
    [[ -n ${SPLIT[$v]:-} ]] && awk -F'\t' -v l="$(label "$v")" '{printf "| %s | %s | %s | %s | %s | %s |\n", l, $2, $3, $4, $5, $6}' <<<"${SPLIT[$v]}"
  done
  if [[ -n ${SPLIT[bare]:-} && -n ${SPLIT[plpgsql]:-} && -n ${SPLIT[extension]:-} ]]; then
    printf '%s\n%s\n%s\n' "${SPLIT[bare]}" "${SPLIT[plpgsql]}" "${SPLIT[extension]}" | awk -F'\t' '
      {all[$1] = $2; rows[$1] = $4; checks[$1] = $6}
      END {
        budget = (all["plpgsql"] - all["bare"]) / 2
        floor = rows["extension"] + checks["extension"]
        printf "\n- PL/pgSQL adds %.0f µs of CPU per order; half of that, the target'"'"'s budget for the extension, is %.0f µs.\n", 2 * budget, budget
        printf "- The extension adds %.0f µs (%.2f× PL/pgSQL). Inside its triggers, PostgreSQL'"'"'s row and index routines\n", all["extension"] - all["bare"], (all["extension"] - all["bare"]) / (2 * budget)
        printf "  alone take %.0f µs (the rows every order needs written: customer, ledger, per-slug count, rollups),\n", rows["extension"]
        printf "  and its foreign-key check at commit %.0f µs: %.0f µs, %.2f× the budget, before any logic of its own.\n", checks["extension"], floor, floor / budget
      }'
  fi
}
PROFILE_REPORT=""
if (( PROFILE )); then PROFILE_REPORT=$(profile_report); fi

# ---------------------------------------------------------------------------------------------
# sanity: did the tracking variants actually track every paid order?
# ---------------------------------------------------------------------------------------------
declare -A SANITY=()
for v in "${ACTIVE[@]}"; do
  db=${DB[$v]}
  orders=$(q "$db" "SELECT count(*) FROM shop_orders")
  if [[ $v == bare ]]; then SANITY[$v]="$orders orders"; continue; fi
  # shop_customers / total_purchases are the plan's names; the extension may use its own schema.
  rel=$(q "$db" "SELECT format('%I.%I', n.nspname, c.relname) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                 WHERE c.relname = 'shop_customers' AND c.relkind IN ('r','p') ORDER BY n.nspname = 'public' DESC LIMIT 1")
  if [[ -z $rel ]]; then SANITY[$v]="$orders orders; no shop_customers table found to check"; continue; fi
  has_tp=$(q "$db" "SELECT count(*) FROM pg_attribute WHERE attrelid = '$rel'::regclass AND attname = 'total_purchases' AND NOT attisdropped")
  if [[ $has_tp == 1 ]]; then
    read -r custs purchases < <(q "$db" "SELECT count(*) || ' ' || coalesce(sum(total_purchases), 0) FROM $rel")
    SANITY[$v]="$orders orders, $custs customers, sum(total_purchases) = $purchases"
    if [[ $purchases != "$orders" ]]; then
      SANITY[$v]+=" (MISMATCH: not every paid order was counted)"
      log "WARNING: $v counted $purchases purchases for $orders paid orders"
    fi
  else
    SANITY[$v]="$orders orders, $(q "$db" "SELECT count(*) FROM $rel") customers"
  fi
done

# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.6f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
declare -A MED_TPS=() MED_LAT=() NRUNS=() MIN_LAT=() MED_WAL=()
for v in "${ACTIVE[@]}"; do
  MED_TPS[$v]=$(awk -v v="$v" '$2 == v {print $3}' "$RESULTS" | median)
  MED_LAT[$v]=$(awk -v v="$v" '$2 == v {print $4}' "$RESULTS" | median)
  NRUNS[$v]=$(awk -v v="$v" '$2 == v' "$RESULTS" | wc -l)
  MED_WAL[$v]=$(awk -v v="$v" '$2 == v {print $6}' "$RESULTS" | median)
  MIN_LAT[$v]=$(awk -v v="$v" '$2 == v {print $4}' "$RESULTS" | sort -g | head -n 1)
done
has() { [[ -n ${MED_LAT[$1]:-} ]]; }
calc() { awk "BEGIN {printf \"$1\n\", $2}"; }


if (( BULK )); then
  MODE_DESC="bulk: one INSERT ... SELECT of $BULK_ROWS orders per variant per round (psql \\timing, includes commit)"
  THR_HDR="orders/s"
else
  MODE_DESC="pgbench -M $PROTOCOL -c $CLIENTS -j $CLIENTS -T $RUN_SECONDS, one order per transaction"
  THR_HDR="tps"
fi

report() {
  echo "## customer_tracking insert benchmark"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); command: \`bash bench/run.sh $ARGS_ORIG\`"
  echo "- machine: nproc $NPROC${CPU_MODEL:+, $CPU_MODEL}; load avg at start $LOAD_START, at end $LOAD_END"
  echo "- PostgreSQL $SERVER_VERSION; shared_buffers=256MB; $DURABILITY"
  echo "- repo: $GIT_REV; extension: ${NOTE[extension]:-not requested}"
  echo "- workload: $MODE_DESC; $SHOPS shops, $CUSTOMERS-customer pool (uniform), $WARMUP_ORDERS orders prefilled per database; $ROUNDS interleaved rounds, medians shown; timed part took $((T1 - T0)) s"
  echo
  echo "| variant | $THR_HDR (median) | mean latency per order, ms (median) | added per order vs bare, µs | WAL bytes per order | runs |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  local v added
  for v in bare plpgsql extension; do
    if has "$v"; then
      if has bare; then added=$(calc "%+.1f" "(${MED_LAT[$v]} - ${MED_LAT[bare]}) * 1000"); else added="n/a"; fi
      [[ $v == bare ]] && added="0 (reference)"
      printf '| %s | %.1f | %.4f | %s | %.0f | %s |\n' "$(label "$v")" "${MED_TPS[$v]}" "${MED_LAT[$v]}" "$added" "${MED_WAL[$v]}" "${NRUNS[$v]}"
    elif [[ ",$VARIANTS," == *",$v,"* ]]; then
      printf '| %s | – | – | %s | – | 0 |\n' "$(label "$v")" "$(printf '%.300s' "${NOTE[$v]:-skipped}")"
    fi
  done
  echo
  if has bare && has plpgsql && has extension; then
    local pa ea
    pa=$(calc "%.6f" "${MED_LAT[plpgsql]} - ${MED_LAT[bare]}")
    ea=$(calc "%.6f" "${MED_LAT[extension]} - ${MED_LAT[bare]}")
    if awk "BEGIN {exit !($pa > 0)}"; then
      local ratio verdict
      ratio=$(calc "%.3f" "$ea / $pa")
      if awk "BEGIN {exit !($ratio <= 0.5)}"; then verdict="meets the ≤ 0.5 target"; else verdict="MISSES the ≤ 0.5 target"; fi
      echo "- **extension added / plpgsql added = $ratio** ($verdict)"
    else
      echo "- extension added / plpgsql added: undefined (plpgsql added cost ≤ 0 — too noisy, rerun with more --seconds/--rounds)"
    fi
    local per_round
    per_round=$(awk -F'\t' '{lat[$1 "," $2] = $4; if ($1 > n) n = $1}
        END {for (r = 1; r <= n; r++) {
               b = lat[r ",bare"]; p = lat[r ",plpgsql"]; e = lat[r ",extension"]
               if (b != "" && p != "" && e != "" && p - b > 0) printf "%s%.3f", (k++ ? ", " : ""), (e - b) / (p - b)
             }}' "$RESULTS")
    if [[ -n $per_round ]]; then
      echo "- same ratio within each round (paired, as a noise check): $per_round (median $(tr ',' '\n' <<<"$per_round" | median | xargs printf '%.3f'))"
    fi
    local mp me
    mp=$(calc "%.6f" "${MIN_LAT[plpgsql]} - ${MIN_LAT[bare]}")
    me=$(calc "%.6f" "${MIN_LAT[extension]} - ${MIN_LAT[bare]}")
    if awk "BEGIN {exit !($mp > 0)}"; then
      echo "- same ratio on each variant's best (least disturbed) round: $(calc "%.3f" "$me / $mp") (added: plpgsql $(calc "%+.1f" "$mp * 1000") µs, extension $(calc "%+.1f" "$me * 1000") µs)"
    fi
    echo "- extension total / plpgsql total = $(calc "%.3f" "${MED_LAT[extension]} / ${MED_LAT[plpgsql]}")"
    echo "- plpgsql total / bare = $(calc "%.2f" "${MED_LAT[plpgsql]} / ${MED_LAT[bare]}"), extension total / bare = $(calc "%.2f" "${MED_LAT[extension]} / ${MED_LAT[bare]}")"
  elif has bare && has plpgsql; then
    echo "- extension not measured (see the table); plpgsql total / bare = $(calc "%.2f" "${MED_LAT[plpgsql]} / ${MED_LAT[bare]}")"
  fi
  echo
  echo "Per round ($THR_HDR / ms per order):"
  echo
  echo '```'
  awk -F'\t' '{printf "round %s  %-10s %12.1f  %9.4f ms  (%s orders, %s WAL bytes/order)\n", $1, $2, $3, $4, $5, $6}' "$RESULTS"
  echo '```'
  echo
  echo "Sanity after the run:"
  for v in "${ACTIVE[@]}"; do echo "- $(label "$v"): ${SANITY[$v]:-}"; done
}

REPORT=$(report)
if (( STATEMENTS )); then REPORT+=$'\n'$STMT_REPORT; fi
if (( PROFILE )); then REPORT+=$'\n'$PROFILE_REPORT; fi
echo
echo "$REPORT"
[[ -s $RESULTS ]] || die "no variant produced a measurement; $OUT left unchanged"
mkdir -p "$(dirname "$OUT")"
printf '%s\n' "$REPORT" >"$OUT"
log "wrote $OUT"
