#!/usr/bin/env bash
# bench/run.sh: per-order cost of customer tracking, measured with pgbench in one throwaway
# cluster.
#
#   (a) bare       host schema only, plain INSERT into shop_orders
#   (b) plpgsql    host schema + the plan's migration + PL/pgSQL triggers (bench/plpgsql_baseline.sql)
#   (c) extension  host schema + CREATE EXTENSION customer_tracking (skipped if it fails)
#
# Usage: bash bench/run.sh [--seconds N] [--rounds N] [--clients N] [--orders-per-txn N]
#                          [--customer-mix mixed|returning|new] [--bulk] [--fsync-off]
#                          [--build] [--lock FILE] [--variants a,b,c] [--help]
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
ORDERS_PER_TXN=1    # --orders-per-txn: orders per pgbench transaction (BEGIN; N INSERTs; COMMIT)
CUSTOMER_MIX=mixed  # --customer-mix: mixed (pool, most repeat), returning (all exist), new (never seen)
NEW_POOL_MAX=9999999 # new customers are drawn from (CUSTOMERS, NEW_POOL_MAX]: 7-digit phone suffix
SAME_SHOP=0         # --same-shop: all orders of one transaction for customers of one shop
LOCK_FILE=""        # --lock: flock held from before --build until every database is set up
PRELOAD=1           # preload the extension's library (so a later reinstall cannot change it)
WARM_SECONDS=3      # untimed pgbench run per variant before round 1
BULK=0              # --bulk: INSERT ... SELECT of BULK_ROWS orders per variant per round instead
BULK_ROWS=10000
FSYNC_OFF=0
BUILD=0
KEEP=0
STATEMENTS=0        # --statements: pg_stat_statements (track=all) breakdown of the tracking work
PROFILE=0           # --profile: perf profile of one more run per variant (bench/cpu_split.py)
WAL_DETAIL=0        # --wal-detail: pg_waldump of one more run per variant, WAL per order by relation
WAL_ORDERS=5000
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
  --orders-per-txn N  orders per pgbench transaction: BEGIN; N INSERTs, each for a random
                   customer; COMMIT (default $ORDERS_PER_TXN = one autocommit INSERT); every
                   figure is then per order (latency / N, WAL / orders)
  --same-shop      with --orders-per-txn: the orders of one transaction go to customers of one
                   random shop (a cart, a shop's webhook batch) instead of random shops
  --customer-mix M mixed: customers drawn from the pool, most of them already exist (default);
                   returning: the prefill gives every pool customer an order first, so every
                   timed order is a repeat purchase; new: timed orders draw from
                   ($CUSTOMERS, $NEW_POOL_MAX] customers, so almost all are first purchases
                   (the report gives the measured share of new customers)
  --bulk           instead of pgbench, time one INSERT ... SELECT of --bulk-rows orders
                   per variant per round (default rows $BULK_ROWS)
  --bulk-rows N    rows per bulk statement
  --fsync-off      fsync=off, synchronous_commit=off, full_page_writes=off (CPU-focused runs;
                   default keeps PostgreSQL's durable defaults)
  --build          run 'make && make install' in $REPO_DIR first
  --lock FILE      hold flock FILE from before --build until every database is set up (e.g.
                   /tmp/ct-install.lock on a machine where others install other builds); the
                   extension's library is preloaded, so installs after that do not affect the run
  --no-preload     do not put the extension's library in shared_preload_libraries
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
  --wal-detail     after the timed part, run $WAL_ORDERS more orders per variant and split their WAL
                   by relation (pg_waldump): where the WAL bytes per order go
EOF
}

need_arg() { [[ $# -ge 2 && -n $2 ]] || { echo "run.sh: $1 needs a value" >&2; exit 2; }; }
ARGS_ORIG="$*"
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds)      need_arg "$@"; RUN_SECONDS=$2; shift 2 ;;
    --rounds)       need_arg "$@"; ROUNDS=$2; shift 2 ;;
    --clients)      need_arg "$@"; CLIENTS=$2; shift 2 ;;
    --orders-per-txn) need_arg "$@"; ORDERS_PER_TXN=$2; shift 2 ;;
    --customer-mix) need_arg "$@"; CUSTOMER_MIX=$2; shift 2 ;;
    --same-shop)    SAME_SHOP=1; shift ;;
    --lock)         need_arg "$@"; LOCK_FILE=$2; shift 2 ;;
    --no-preload)   PRELOAD=0; shift ;;
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
    --wal-detail)   WAL_DETAIL=1; shift ;;
    -h|--help)      usage; exit 0 ;;
    *) echo "run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
for n in RUN_SECONDS ROUNDS CLIENTS BULK_ROWS CUSTOMERS SHOPS WARMUP_ORDERS WARM_SECONDS ORDERS_PER_TXN; do
  [[ ${!n} =~ ^[0-9]+$ ]] || { echo "run.sh: $n must be a non-negative integer (got '${!n}')" >&2; exit 2; }
done
for n in RUN_SECONDS ROUNDS CLIENTS BULK_ROWS CUSTOMERS SHOPS ORDERS_PER_TXN; do
  (( ${!n} > 0 )) || { echo "run.sh: $n must be positive" >&2; exit 2; }
done
case $CUSTOMER_MIX in mixed|returning|new) ;; *) echo "run.sh: bad --customer-mix '$CUSTOMER_MIX'" >&2; exit 2 ;; esac
if (( BULK )) && [[ $ORDERS_PER_TXN != 1 || $CUSTOMER_MIX != mixed ]]; then
  echo "run.sh: --bulk takes neither --orders-per-txn nor --customer-mix" >&2; exit 2
fi
# the targets for extension added / plpgsql added per order
if (( BULK )); then TARGET="" TARGET_WHAT=""
elif (( ORDERS_PER_TXN == 1 )); then TARGET=1.0 TARGET_WHAT="single-order transactions"
else TARGET=0.7 TARGET_WHAT="per order in 10-order transactions"; fi
(( CUSTOMERS < NEW_POOL_MAX / 10 )) || { echo "run.sh: --customers must be below $((NEW_POOL_MAX / 10))" >&2; exit 2; }
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
  SUFFIX=""
  (( ORDERS_PER_TXN > 1 )) && SUFFIX+="-txn$ORDERS_PER_TXN"
  (( ORDERS_PER_TXN > 1 && SAME_SHOP )) && SUFFIX+="-same-shop"
  [[ $CUSTOMER_MIX != mixed ]] && SUFFIX+="-$CUSTOMER_MIX"
  OUT=${OUT%.md}$SUFFIX.md
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

if [[ -n $LOCK_FILE ]]; then
  exec {LOCK_FD}>>"$LOCK_FILE"
  log "waiting for $LOCK_FILE"
  flock "$LOCK_FD"
  log "holding $LOCK_FILE until the databases are set up"
fi

if (( BUILD )); then
  log "building and installing the extension (make && make install in $REPO_DIR)"
  make -C "$REPO_DIR" PG_CONFIG="$PG_CONFIG" >&2
  make -C "$REPO_DIR" PG_CONFIG="$PG_CONFIG" install >&2
fi

# The library the run uses: with --lock and the preload below, the one installed now.
EXT_LIB=$("$PG_CONFIG" --pkglibdir)/$EXT_NAME.so
EXT_LIB_MD5=$(md5sum "$EXT_LIB" 2>/dev/null | cut -c1-12 || true)

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
  PRELOAD_LIBS=()
  (( STATEMENTS )) && PRELOAD_LIBS+=(pg_stat_statements)
  (( PRELOAD )) && [[ ",$VARIANTS," == *",extension,"* && -n $EXT_LIB_MD5 ]] && PRELOAD_LIBS+=("$EXT_NAME")
  if (( ${#PRELOAD_LIBS[@]} )); then
    echo "shared_preload_libraries = '$(IFS=,; echo "${PRELOAD_LIBS[*]}")'"
  fi
  if (( STATEMENTS )); then
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
orders_sql() { # orders_sql N SEED TAG [cover]: with cover, order g <= CUSTOMERS is customer g's
  local n=$1 seed=$2 tag=$3 cust="1 + (hashint8(g + $2 * 100000000::bigint) & 2147483647) % $CUSTOMERS"
  [[ ${4:-} == cover ]] && cust="CASE WHEN g <= $CUSTOMERS THEN g ELSE $cust END"
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
           LATERAL (SELECT $cust AS cust) AS c,
           LATERAL (SELECT 500 + (hashint8(-g - $seed * 100000000::bigint) & 2147483647) % 14501 AS cents) AS p
     ) AS s;
SQL
}

# ---------------------------------------------------------------------------------------------
# databases
# ---------------------------------------------------------------------------------------------
declare -A DB=( [bare]=bench_bare [plpgsql]=bench_plpgsql [extension]=bench_extension )
# --customer-mix returning: every pool customer gets the first of its orders in the prefill.
PREFILL_ORDERS=$WARMUP_ORDERS PREFILL_MODE=""
if [[ $CUSTOMER_MIX == returning ]]; then
  PREFILL_MODE=cover
  (( PREFILL_ORDERS < CUSTOMERS )) && PREFILL_ORDERS=$CUSTOMERS
fi
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
      NOTE[extension]="$EXT_NAME $(q "$db" "SELECT extversion FROM pg_extension WHERE extname = '$EXT_NAME'") (library md5 $EXT_LIB_MD5$( ((${#PRELOAD_LIBS[@]})) && [[ " ${PRELOAD_LIBS[*]} " == *" $EXT_NAME "* ]] && echo ', preloaded' || true))"
      ;;
  esac
  log "prefilling $db with $PREFILL_ORDERS orders"
  if (( PREFILL_ORDERS > 0 )); then
    if ! out=$(orders_sql "$PREFILL_ORDERS" 0 WARM $PREFILL_MODE | "${PSQL[@]}" -d "$db" 2>&1); then
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
if [[ -n $LOCK_FILE ]]; then
  flock -u "$LOCK_FD"
  log "released $LOCK_FILE"
fi
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
RESULTS=$TMP/results.tsv   # round variant orders/s latency_ms_per_order orders wal_bytes_per_order new_customers_per_order backend_cpu_us_per_order
: >"$RESULTS"

drop_variant() { # drop_variant VARIANT REASON
  local v=$1 keep=() x
  wait_ready
  NOTE[$v]="dropped: $2$(crash_note)"
  for x in "${ACTIVE[@]}"; do [[ $x == "$v" ]] || keep+=("$x"); done
  ACTIVE=("${keep[@]}")
  log "dropping variant $v: $2"
}

# The pgbench script: bench/order.pgbench (one autocommit INSERT), or for --orders-per-txn N a
# transaction of N copies of its order, each with its own random customer.
if (( ORDERS_PER_TXN == 1 )); then
  PGB_SCRIPT=$BENCH_DIR/order.pgbench
else
  PGB_SCRIPT=$TMP/orders-$ORDERS_PER_TXN.pgbench
  {
    echo "-- bench/run.sh --orders-per-txn $ORDERS_PER_TXN: bench/order.pgbench's order $ORDERS_PER_TXN times in one transaction"
    (( SAME_SHOP )) && echo '\set s random(1, :shops)'
    for ((i = 1; i <= ORDERS_PER_TXN; i++)); do
      grep '^\\set ' "$BENCH_DIR/order.pgbench" \
        | if (( SAME_SHOP )); then sed -E 's/^\\set cust random\(:cust_lo, :cust_hi\)$/\\set cust :shops * random(:k_lo, :k_hi) + :s - 1/'; else cat; fi \
        | sed -E "s/^\\\\set (cust|shop|kind|cents|base|profit|gb|ref) /\\\\set \\1_$i /; s/:(cust|shop|kind|cents|base|profit|gb|ref)\\b/:\\1_$i/g"
    done
    echo "BEGIN;"
    for ((i = 1; i <= ORDERS_PER_TXN; i++)); do
      grep '^INSERT ' "$BENCH_DIR/order.pgbench" | sed -E "s/:(cust|shop|kind|cents|base|profit|gb|ref)\\b/:\\1_$i/g"
    done
    echo "COMMIT;"
  } >"$PGB_SCRIPT"
fi
if [[ $CUSTOMER_MIX == new ]]; then CUST_LO=$((CUSTOMERS + 1)) CUST_HI=$NEW_POOL_MAX; else CUST_LO=1 CUST_HI=$CUSTOMERS; fi
PGB_DEFS=(-D cust_lo="$CUST_LO" -D cust_hi="$CUST_HI" -D shops="$SHOPS" -f "$PGB_SCRIPT")
# --same-shop: customer = shops * k + s - 1 is one of shop s's (shop = 1 + customer % shops),
# with k such that it stays within [cust_lo, cust_hi]
K_LO=$(( (CUST_LO + SHOPS - 1) / SHOPS )); (( K_LO < 1 )) && K_LO=1
K_HI=$(( (CUST_HI - SHOPS + 1) / SHOPS ))
PGB_DEFS+=(-D k_lo="$K_LO" -D k_hi="$K_HI")

backend_pid() { # backend_pid DB [APPNAME] -> pid of the pgbench session, waiting for it to connect
  local pid="" i
  for ((i = 0; i < 500; i++)); do
    # the session that has run a statement: pgbench's first, short connection runs none
    pid=$(q postgres "SELECT pid FROM pg_stat_activity WHERE datname = '$1' AND application_name = '${2:-ct-bench-profile}'
                      AND query <> '' ORDER BY backend_start DESC LIMIT 1")
    [[ -n $pid ]] && break
    sleep 0.01
  done
  echo "$pid"
}

# With one client and perf available, the timed runs also count the CPU time of the pgbench
# session's backend (perf stat -e task-clock, attached once it has connected): unlike latency,
# CPU time does not grow when other processes compete for the cores.
HAVE_PERF=0
if (( CLIENTS == 1 && ! BULK )) && command -v perf >/dev/null 2>&1 \
   && perf stat -e task-clock -x, -o /dev/null true >/dev/null 2>&1; then HAVE_PERF=1; fi

run_pgbench() { # run_pgbench VARIANT SECONDS SEED OUTFILE [CPU-FILE]
  if [[ -n ${5:-} ]] && (( HAVE_PERF )); then
    local bg pid rec="" rc=0
    PGAPPNAME=ct-bench-timed "$PGBIN/pgbench" -n -M "$PROTOCOL" -c 1 -j 1 -T "$2" --random-seed="$3" \
      "${PGB_DEFS[@]}" "${DB[$1]}" >"$4" 2>&1 &
    bg=$!
    pid=$(backend_pid "${DB[$1]}" ct-bench-timed)
    if [[ -n $pid ]]; then perf stat -e task-clock -x, -o "$5" -p "$pid" >/dev/null 2>&1 & rec=$!; fi
    wait "$bg" || rc=$?
    [[ -n $rec ]] && { wait "$rec" || true; }
    return $rc
  fi
  "$PGBIN/pgbench" -n -M "$PROTOCOL" -c "$CLIENTS" -j "$CLIENTS" -T "$2" --random-seed="$3" \
    "${PGB_DEFS[@]}" "${DB[$1]}" >"$4" 2>&1
}

customer_count() { # customer_count VARIANT -> rows of shop_customers (empty for bare)
  [[ $1 == bare ]] && return 0
  q "${DB[$1]}" "SELECT count(*) FROM shop_customers"
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
        'BEGIN {printf "%d\t%s\t%.3f\t%.6f\t%d\t%s\t-\t-\n", r, v, n / (ms / 1000), ms / n, n, w}' >>"$RESULTS"
    else
      log "round $r/$ROUNDS: $v, ${RUN_SECONDS}s, $CLIENTS client(s)"
      c0=$(customer_count "$v")
      lsn0=$(q postgres "SELECT pg_current_wal_insert_lsn()")
      if ! run_pgbench "$v" "$RUN_SECONDS" "$r" "$f" "$f.cpu"; then
        sed 's/^/    /' "$f" | tail -n 15 >&2
        drop_variant "$v" "pgbench failed: $(grep -m1 -i error "$f" || true)"; continue
      fi
      # per order: a transaction has ORDERS_PER_TXN orders; mean latency per order =
      # clients / (tps * orders per transaction) (pgbench's "latency average" is the per-transaction
      # number, printed with only 3 decimals)
      tps=$(awk '/^tps = / {printf "%.3f", $3 * n; exit}' n="$ORDERS_PER_TXN" "$f")
      lat=$(awk '/^tps = / {printf "%.6f", 1000 * c / ($3 * n); exit}' c="$CLIENTS" n="$ORDERS_PER_TXN" "$f")
      cnt=$(awk -F': ' '/number of transactions actually processed/ {print $2; exit}' "$f" | awk '{print $1 * n}' n="$ORDERS_PER_TXN")
      failed=$(awk -F': ' '/number of failed transactions/ {print $2; exit}' "$f" | awk '{print $1}')
      if [[ -z $tps || -z $lat ]]; then drop_variant "$v" "could not parse pgbench output"; continue; fi
      if [[ -n $failed && $failed != 0 ]]; then log "WARNING: $v had $failed failed transactions"; fi
      wal=$(q postgres "SELECT round(pg_wal_lsn_diff(pg_current_wal_insert_lsn(), '$lsn0') / greatest(${cnt:-0}, 1))")
      newc=-
      if [[ -n $c0 ]]; then newc=$(awk -v a="$c0" -v b="$(customer_count "$v")" -v n="${cnt:-0}" 'BEGIN {printf "%.3f", (n > 0) ? (b - a) / n : 0}'); fi
      cpu=-
      if [[ -s $f.cpu ]]; then cpu=$(awk -F, -v n="${cnt:-0}" '/task-clock/ && n > 0 {printf "%.1f", $1 * 1000 / n}' "$f.cpu"); fi
      printf '%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$r" "$v" "$tps" "$lat" "${cnt:-?}" "$wal" "$newc" "${cpu:--}" >>"$RESULTS"
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


perf_run() { # perf_run VARIANT SEED PERF-ARGS... -> perf attached to the backend of one pgbench run
  local v=$1 seed=$2 bg pid rec
  shift 2
  PGAPPNAME=ct-bench-profile "$PGBIN/pgbench" -n -M "$PROTOCOL" -c 1 -j 1 -t "$PROFILE_TXNS" \
    --random-seed="$seed" "${PGB_DEFS[@]}" "${DB[$v]}" >"$TMP/perf-$v-$seed.out" 2>&1 &
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
    | python3 "$BENCH_DIR/cpu_split.py" "$v" "$(awk -v ms="$cpu_ms" -v n="$((PROFILE_TXNS * ORDERS_PER_TXN))" 'BEGIN {printf "%.3f", ms * 1000 / n}')"
}

PROFILE_TXNS=$(( (PROFILE_ORDERS + ORDERS_PER_TXN - 1) / ORDERS_PER_TXN ))
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
  echo "| variant | CPU, µs | in its code (triggers, commit-time apply) | of which PostgreSQL's row and index work | of which at commit | commit | of which deferred checks |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"
  for v in bare plpgsql extension; do
    [[ -n ${SPLIT[$v]:-} ]] && awk -F'\t' -v l="$(label "$v")" '{printf "| %s | %s | %s | %s | %s | %s | %s |\n", l, $2, $3, $4, $5, $6, $7}' <<<"${SPLIT[$v]}"
  done
  if [[ -n ${SPLIT[bare]:-} && -n ${SPLIT[plpgsql]:-} && -n ${SPLIT[extension]:-} ]]; then
    printf '%s\n%s\n%s\n' "${SPLIT[bare]}" "${SPLIT[plpgsql]}" "${SPLIT[extension]}" | awk -F'\t' -v t="${TARGET:-1.0}" '
      {all[$1] = $2; rows[$1] = $4; checks[$1] = $7}
      END {
        padded = all["plpgsql"] - all["bare"]; budget = t * padded
        floor = rows["extension"] + checks["extension"]
        printf "\n- PL/pgSQL adds %.0f µs of CPU per order; the target (%.1f× that) allows the extension %.0f µs.\n", padded, t, budget
        printf "- The extension adds %.0f µs (%.2f× PL/pgSQL). Inside its code, PostgreSQL'"'"'s row and index routines\n", all["extension"] - all["bare"], (all["extension"] - all["bare"]) / padded
        printf "  alone take %.0f µs (the rows every order needs written: customer, ledger, per-slug count, rollups)", rows["extension"]
        if (checks["extension"] >= 0.5) printf ",\n  and foreign-key checks at commit %.0f µs", checks["extension"]
        printf ": %.0f µs, %.2f× the budget, before any logic of its own.\n", floor, floor / budget
      }'
  fi
}
PROFILE_REPORT=""
if (( PROFILE )); then PROFILE_REPORT=$(profile_report); fi

# --wal-detail: WAL_ORDERS more orders per variant, their WAL split by the relation of each
# record's first block (records without one, e.g. commits, by resource manager).
wal_detail_report() {
  local v db lsn0 lsn1 txns=$(( (WAL_ORDERS + ORDERS_PER_TXN - 1) / ORDERS_PER_TXN )) f
  echo
  echo "WAL per order by relation (--wal-detail: $((txns * ORDERS_PER_TXN)) more orders per variant, pg_waldump;"
  echo "a record counts for the relation of its first block, records without a block by resource manager):"
  for v in "${ACTIVE[@]}"; do
    db=${DB[$v]}
    q postgres "CHECKPOINT" >/dev/null
    lsn0=$(q postgres "SELECT pg_current_wal_insert_lsn()")
    "$PGBIN/pgbench" -n -M "$PROTOCOL" -c 1 -j 1 -t "$txns" --random-seed=55 "${PGB_DEFS[@]}" "$db" >"$TMP/wal-$v.out" 2>&1 || continue
    q postgres "SELECT pg_switch_wal()" >/dev/null   # so that the range ends in a complete segment
    lsn1=$(q postgres "SELECT pg_current_wal_insert_lsn()")
    f=$TMP/wal-$v.tsv
    (cd "$TMP" && "${AS_PG[@]}" "$PGBIN/pg_waldump" -p "$PGDATA_DIR/pg_wal" -s "$lsn0" -e "$lsn1" 2>/dev/null) | awk '
      {
        tot = 0; key = ""
        if (match($0, /len \(rec\/tot\): *[0-9]+\/ *[0-9]+/)) { split(substr($0, RSTART, RLENGTH), a, "/"); tot = a[3] + 0 }
        if (match($0, /blkref #0: rel [0-9]+\/[0-9]+\/[0-9]+/)) { split(substr($0, RSTART, RLENGTH), b, "/"); key = b[3] }
        else { key = "rmgr:" $2 }
        bytes[key] += tot
      }
      END { for (k in bytes) printf "%s\t%d\n", k, bytes[k] }' >"$f"
    echo
    echo "$(label "$v"): $(awk -F'\t' -v n="$((txns * ORDERS_PER_TXN))" '{s += $2} END {printf "%.0f", s / n}' "$f") WAL bytes per order"
    echo
    echo "| table (or record kind) | bytes per order | of which its indexes | share | indexes, bytes per order |"
    echo "| --- | ---: | ---: | ---: | --- |"
    local names
    # filenode -> table name, index name (empty for a table)
    names=$(q "$db" "SELECT pg_relation_filenode(c.oid) || E'\t' || coalesce(t.relname, c.relname) || E'\t' || CASE WHEN t.relname IS NULL THEN '' ELSE c.relname END
                     FROM pg_class c LEFT JOIN pg_index i ON i.indexrelid = c.oid LEFT JOIN pg_class t ON t.oid = i.indrelid
                     WHERE pg_relation_filenode(c.oid) IS NOT NULL")
    awk -F'\t' -v n="$((txns * ORDERS_PER_TXN))" -v names="$names" '
      BEGIN { k = split(names, l, "\n"); for (i = 1; i <= k; i++) { split(l[i], p, "\t"); tb[p[1]] = p[2]; ix[p[1]] = p[3] } }
      {
        if ($1 in tb) { t = tb[$1]; x = ix[$1] }
        else { t = ($1 ~ /^rmgr:/ ? "(" substr($1, 6) " records)" : "(relfilenode " $1 ")"); x = "" }
        b[t] += $2; s += $2
        if (x != "") { bi[t] += $2; bx[t "\034" x] += $2 }
      }
      END {
        for (k2 in bx) { split(k2, q, "\034"); d[q[1]] = d[q[1]] (d[q[1]] == "" ? "" : ", ") sprintf("%s %.0f", q[2], bx[k2] / n) }
        for (t in b) if (b[t] / n >= 0.5) printf "%s\t%.1f\t%.1f\t%.1f\t%s\n", t, b[t] / n, bi[t] / n, 100 * b[t] / s, d[t]
      }' "$f" \
      | sort -t$'\t' -k2,2gr | awk -F'\t' '{printf "| %s | %s | %s | %s %% | %s |\n", $1, $2, $3, $4, $5}'
  done
}
WAL_REPORT=""
if (( WAL_DETAIL )); then log "WAL detail: $WAL_ORDERS orders per variant"; WAL_REPORT=$(wal_detail_report); fi

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
declare -A MED_TPS=() MED_LAT=() NRUNS=() MIN_LAT=() MED_WAL=() MED_NEW=() MED_CPU=()
for v in "${ACTIVE[@]}"; do
  MED_TPS[$v]=$(awk -v v="$v" '$2 == v {print $3}' "$RESULTS" | median)
  MED_LAT[$v]=$(awk -v v="$v" '$2 == v {print $4}' "$RESULTS" | median)
  NRUNS[$v]=$(awk -v v="$v" '$2 == v' "$RESULTS" | wc -l)
  MED_WAL[$v]=$(awk -v v="$v" '$2 == v {print $6}' "$RESULTS" | median)
  MED_NEW[$v]=$(awk -v v="$v" '$2 == v && $7 != "-" {print $7}' "$RESULTS" | median)
  MED_CPU[$v]=$(awk -v v="$v" '$2 == v && $8 != "-" {print $8}' "$RESULTS" | median)
  MIN_LAT[$v]=$(awk -v v="$v" '$2 == v {print $4}' "$RESULTS" | sort -g | head -n 1)
done
has() { [[ -n ${MED_LAT[$1]:-} ]]; }
calc() { awk "BEGIN {printf \"$1\n\", $2}"; }


if (( BULK )); then
  MODE_DESC="bulk: one INSERT ... SELECT of $BULK_ROWS orders per variant per round (psql \\timing, includes commit)"
  THR_HDR="orders/s"
elif (( ORDERS_PER_TXN == 1 )); then
  MODE_DESC="pgbench -M $PROTOCOL -c $CLIENTS -j $CLIENTS -T $RUN_SECONDS, one order per transaction (autocommit INSERT)"
  THR_HDR="tps"
else
  MODE_DESC="pgbench -M $PROTOCOL -c $CLIENTS -j $CLIENTS -T $RUN_SECONDS, $ORDERS_PER_TXN orders per transaction (BEGIN; $ORDERS_PER_TXN INSERTs, each for a random customer$( ((SAME_SHOP)) && echo ' of one random shop per transaction (--same-shop)' || echo ', so mostly of different shops'); COMMIT); all figures per order"
  THR_HDR="orders/s"
fi
case $CUSTOMER_MIX in
  mixed) MIX_DESC="customers drawn uniformly from the pool (most already exist)" ;;
  returning) MIX_DESC="returning customers only (the prefill gave every pool customer an order)" ;;
  new) MIX_DESC="new customers: drawn from ($CUSTOMERS, $NEW_POOL_MAX], not in the prefill" ;;
esac

report() {
  echo "## customer_tracking insert benchmark"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); command: \`bash bench/run.sh $ARGS_ORIG\`"
  echo "- machine: nproc $NPROC${CPU_MODEL:+, $CPU_MODEL}; load avg at start $LOAD_START, at end $LOAD_END"
  echo "- PostgreSQL $SERVER_VERSION; shared_buffers=256MB; $DURABILITY"
  echo "- repo: $GIT_REV; extension: ${NOTE[extension]:-not requested}"
  echo "- workload: $MODE_DESC; $SHOPS shops, $CUSTOMERS-customer pool, $MIX_DESC; $PREFILL_ORDERS orders prefilled per database; $ROUNDS interleaved rounds, medians shown; timed part took $((T1 - T0)) s"
  echo
  echo "| variant | $THR_HDR (median) | mean latency per order, ms (median) | added per order vs bare, µs | backend CPU per order, µs | WAL bytes per order | new customers per order | runs |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
  local v added
  for v in bare plpgsql extension; do
    if has "$v"; then
      if has bare; then added=$(calc "%+.1f" "(${MED_LAT[$v]} - ${MED_LAT[bare]}) * 1000"); else added="n/a"; fi
      [[ $v == bare ]] && added="0 (reference)"
      printf '| %s | %.1f | %.4f | %s | %s | %.0f | %s | %s |\n' "$(label "$v")" "${MED_TPS[$v]}" "${MED_LAT[$v]}" "$added" \
        "$([[ -n ${MED_CPU[$v]:-} ]] && printf '%.1f' "${MED_CPU[$v]}" || echo –)" "${MED_WAL[$v]}" \
        "$([[ -n ${MED_NEW[$v]:-} ]] && printf '%.3f' "${MED_NEW[$v]}" || echo –)" "${NRUNS[$v]}"
    elif [[ ",$VARIANTS," == *",$v,"* ]]; then
      printf '| %s | – | – | %s | – | – | – | 0 |\n' "$(label "$v")" "$(printf '%.300s' "${NOTE[$v]:-skipped}")"
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
      if [[ -z $TARGET ]]; then verdict="no target for one bulk statement"
      elif awk "BEGIN {exit !($ratio <= $TARGET)}"; then verdict="meets the ≤ $TARGET target ($TARGET_WHAT)"
      else verdict="MISSES the ≤ $TARGET target ($TARGET_WHAT) by $(calc "%.0f" "100 * ($ratio / $TARGET - 1)") %"; fi
      echo "- **extension added / plpgsql added = $ratio** per order ($verdict)"
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
    if [[ -n ${MED_CPU[bare]:-} && -n ${MED_CPU[plpgsql]:-} && -n ${MED_CPU[extension]:-} ]]; then
      local cr cpr cv
      cr=$(calc "%.3f" "(${MED_CPU[extension]} - ${MED_CPU[bare]}) / (${MED_CPU[plpgsql]} - ${MED_CPU[bare]})")
      cpr=$(awk -F'\t' '$8 != "-" {c[$1 "," $2] = $8; if ($1 > n) n = $1}
          END {for (r = 1; r <= n; r++) {
                 b = c[r ",bare"]; p = c[r ",plpgsql"]; e = c[r ",extension"]
                 if (b != "" && p != "" && e != "" && p - b > 0) printf "%s%.3f", (k++ ? ", " : ""), (e - b) / (p - b)
               }}' "$RESULTS")
      if [[ -z $TARGET ]]; then cv=""
      elif awk "BEGIN {exit !($cr <= $TARGET)}"; then cv="; meets ≤ $TARGET"
      else cv="; misses ≤ $TARGET by $(calc "%.0f" "100 * ($cr / $TARGET - 1)") %"; fi
      echo "- **same ratio in backend CPU per order = $cr** (added: plpgsql $(calc "%+.1f" "${MED_CPU[plpgsql]} - ${MED_CPU[bare]}") µs, extension $(calc "%+.1f" "${MED_CPU[extension]} - ${MED_CPU[bare]}") µs; paired per round: ${cpr:-–}$cv): the CPU time of the pgbench session's backend during the timed runs (perf stat task-clock), which other load on the machine does not inflate as it does latency"
    fi
    local wr wv
    wr=$(calc "%.3f" "${MED_WAL[extension]} / ${MED_WAL[plpgsql]}")
    if awk "BEGIN {exit !($wr <= 1.3)}"; then wv="meets the ≤ 1.3 target"; else wv="MISSES the ≤ 1.3 target by $(calc "%.0f" "100 * ($wr / 1.3 - 1)") %"; fi
    echo "- **WAL bytes per order, extension / plpgsql = $wr** ($(printf '%.0f / %.0f' "${MED_WAL[extension]}" "${MED_WAL[plpgsql]}"): all WAL written during the timed runs divided by their orders, medians over rounds, totals not added over bare; $wv)$( ((FSYNC_OFF)) || echo '; with full_page_writes on this includes the full-page images after each run'"'"'s CHECKPOINT')"
    echo "- extension total / plpgsql total = $(calc "%.3f" "${MED_LAT[extension]} / ${MED_LAT[plpgsql]}")"
    echo "- plpgsql total / bare = $(calc "%.2f" "${MED_LAT[plpgsql]} / ${MED_LAT[bare]}"), extension total / bare = $(calc "%.2f" "${MED_LAT[extension]} / ${MED_LAT[bare]}")"
  elif has bare && has plpgsql; then
    echo "- extension not measured (see the table); plpgsql total / bare = $(calc "%.2f" "${MED_LAT[plpgsql]} / ${MED_LAT[bare]}")"
  fi
  echo
  echo "Per round ($THR_HDR / ms per order):"
  echo
  echo '```'
  awk -F'\t' '{printf "round %s  %-10s %12.1f  %9.4f ms  (%s orders, %s µs backend CPU/order, %s WAL bytes/order, %s new customers/order)\n", $1, $2, $3, $4, $5, $8, $6, $7}' "$RESULTS"
  echo '```'
  echo
  echo "Sanity after the run:"
  for v in "${ACTIVE[@]}"; do echo "- $(label "$v"): ${SANITY[$v]:-}"; done
}

REPORT=$(report)
if (( STATEMENTS )); then REPORT+=$'\n'$STMT_REPORT; fi
if (( PROFILE )); then REPORT+=$'\n'$PROFILE_REPORT; fi
if (( WAL_DETAIL )); then REPORT+=$'\n'$WAL_REPORT; fi
echo
echo "$REPORT"
[[ -s $RESULTS ]] || die "no variant produced a measurement; $OUT left unchanged"
mkdir -p "$(dirname "$OUT")"
printf '%s\n' "$REPORT" >"$OUT"
log "wrote $OUT"
