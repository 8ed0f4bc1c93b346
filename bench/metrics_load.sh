#!/usr/bin/env bash
# bench/metrics_load.sh: latency of shop_customer_metrics() while the shop is busy, in one
# throwaway cluster:
#
#   one shop with --customers (1,000,000; --quick 100,000) customers, --new-today (50,000) of
#   them with their first purchase earlier today (UTC);
#   a reader calling shop_customer_metrics(shop) --reader-rate times a second for --seconds,
#   (1) with no writers, (2) while --writers (16) connections write --rate (1,000) orders/s in
#   total to that shop (pgbench --rate; orders for existing and new customers, created_at =
#   now()); in both, the plan's plain aggregate over shop_customers (bench/dashboard/
#   plain_metrics.sql) as the baseline.
#
# Latency per call: client side from pgbench's per-transaction log (its latency minus the
# schedule lag of --rate: the time from sending the call to the last row), and server side from
# log_min_duration_statement = 0 in the reader's session (bind + execute of the prepared call).
# Usage: bash bench/metrics_load.sh [--quick] [--build] [--lock FILE] [--help]
# See the "bench/metrics_load.sh" section of bench/README.md.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)

# ---------------------------------------------------------------------------------------------
# options
# ---------------------------------------------------------------------------------------------
CUSTOMERS=1000000   # customers of the shop
NEW_TODAY=50000     # of them with their first purchase today (UTC)
REPEAT_PCT=20       # extra orders (repeat purchases of older customers), % of CUSTOMERS
DAYS=730            # older customers' orders spread over the DAYS days before today
BATCH=50000         # orders per load statement (one INSERT ... SELECT, one transaction)
LOADERS=2           # parallel load sessions
WRITERS=16          # writer connections
RATE=1000           # orders/s of all writers together
WRITER_NEW_PCT=50   # share of the writers' orders that are a new customer's first order
SECONDS_=60         # reader run per phase
WARM=5              # writers run that long before the reader starts
READER_RATE=200     # reader calls per second (pgbench --rate, one connection)
PLAIN_REPS=5        # plain-SQL baseline calls per phase
VERIFY=auto         # customer_tracking_verify(shop) after the load and after the writers
BUILD=0
LOCK_FILE=""
KEEP=0
OUT=""
EXT_NAME=${EXT_NAME:-customer_tracking}
HOST_SCHEMA=${HOST_SCHEMA:-$BENCH_DIR/../test/fixtures/host-schema.sql}

usage() {
  cat <<EOF
Usage: bash bench/metrics_load.sh [options]

  --customers N     customers of the shop (default $CUSTOMERS)
  --quick           --customers 100000 --seconds 30 (verify on by default)
  --new-today N     customers whose first purchase is today, UTC (default $NEW_TODAY)
  --repeat-pct N    extra orders for older customers, in % of --customers (default $REPEAT_PCT)
  --batch N         orders per load statement (default $BATCH)
  --loaders N       parallel load sessions (default $LOADERS)
  --writers N       writer connections (default $WRITERS)
  --rate N          orders/s of all writers together (default $RATE)
  --writer-new-pct N  % of the writers' orders that are new customers (default $WRITER_NEW_PCT)
  --seconds N       reader run per phase (default $SECONDS_)
  --reader-rate N   reader calls per second (default $READER_RATE)
  --plain-reps N    plain-SQL calls per phase (default $PLAIN_REPS)
  --verify | --no-verify  run customer_tracking_verify(shop) after the load and after the
                    writers (default: only up to 100,000 customers)
  --build           make && make install in $REPO_DIR first
  --lock FILE       hold flock FILE from before --build until CREATE EXTENSION is done (the
                    library is preloaded, so later installs by others do not affect the run)
  --out FILE        markdown results (default bench/results/metrics-load.md, with --quick
                    bench/results/metrics-load-quick.md)
  --keep            keep the temporary cluster directory
EOF
}

need_arg() { [[ $# -ge 2 && -n $2 ]] || { echo "metrics_load.sh: $1 needs a value" >&2; exit 2; }; }
ARGS_ORIG="$*"
QUICK=0
while [[ $# -gt 0 ]]; do
  case $1 in
    --customers)   need_arg "$@"; CUSTOMERS=$2; shift 2 ;;
    --quick)       QUICK=1; CUSTOMERS=100000; SECONDS_=30; shift ;;
    --new-today)   need_arg "$@"; NEW_TODAY=$2; shift 2 ;;
    --repeat-pct)  need_arg "$@"; REPEAT_PCT=$2; shift 2 ;;
    --batch)       need_arg "$@"; BATCH=$2; shift 2 ;;
    --loaders)     need_arg "$@"; LOADERS=$2; shift 2 ;;
    --writers)     need_arg "$@"; WRITERS=$2; shift 2 ;;
    --rate)        need_arg "$@"; RATE=$2; shift 2 ;;
    --writer-new-pct) need_arg "$@"; WRITER_NEW_PCT=$2; shift 2 ;;
    --seconds)     need_arg "$@"; SECONDS_=$2; shift 2 ;;
    --reader-rate) need_arg "$@"; READER_RATE=$2; shift 2 ;;
    --plain-reps)  need_arg "$@"; PLAIN_REPS=$2; shift 2 ;;
    --verify)      VERIFY=1; shift ;;
    --no-verify)   VERIFY=0; shift ;;
    --build)       BUILD=1; shift ;;
    --lock)        need_arg "$@"; LOCK_FILE=$2; shift 2 ;;
    --out)         need_arg "$@"; OUT=$2; shift 2 ;;
    --keep)        KEEP=1; shift ;;
    -h|--help)     usage; exit 0 ;;
    *) echo "metrics_load.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
for n in CUSTOMERS NEW_TODAY REPEAT_PCT DAYS BATCH LOADERS WRITERS RATE WRITER_NEW_PCT SECONDS_ READER_RATE PLAIN_REPS; do
  [[ ${!n} =~ ^[0-9]+$ ]] || { echo "metrics_load.sh: $n must be a non-negative integer (got '${!n}')" >&2; exit 2; }
done
(( NEW_TODAY < CUSTOMERS && CUSTOMERS <= 5000000 && BATCH > 0 && LOADERS > 0 && WRITERS > 0 && RATE > 0 && SECONDS_ > 0 && READER_RATE > 0 )) \
  || { echo "metrics_load.sh: need 0 <= --new-today < --customers <= 5,000,000 and positive sizes" >&2; exit 2; }
(( WRITER_NEW_PCT <= 100 )) || { echo "metrics_load.sh: --writer-new-pct is a percentage" >&2; exit 2; }
[[ $VERIFY == auto ]] && VERIFY=$(( CUSTOMERS <= 100000 ))
[[ -n $OUT ]] || OUT=$BENCH_DIR/results/metrics-load$( ((QUICK)) && echo -quick || true).md

log() { printf '[metrics %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

PG_CONFIG=${PG_CONFIG:-pg_config}
command -v "$PG_CONFIG" >/dev/null || die "pg_config not found (set PG_CONFIG)"
PGBIN=$("$PG_CONFIG" --bindir)
for t in initdb pg_ctl psql pgbench; do [[ -x $PGBIN/$t ]] || die "$PGBIN/$t not found"; done

if [[ -n $LOCK_FILE ]]; then
  exec {LOCK_FD}>>"$LOCK_FILE"
  log "waiting for $LOCK_FILE"
  flock "$LOCK_FD"
fi
if (( BUILD )); then
  log "make && make install in $REPO_DIR"
  make -C "$REPO_DIR" PG_CONFIG="$PG_CONFIG" >&2
  make -C "$REPO_DIR" PG_CONFIG="$PG_CONFIG" install >&2
fi
EXT_LIB=$("$PG_CONFIG" --pkglibdir)/$EXT_NAME.so
[[ -r $EXT_LIB ]] || die "$EXT_LIB not installed (make install, or --build)"
EXT_LIB_MD5=$(md5sum "$EXT_LIB" | cut -c1-12)

if [[ $(id -u) == 0 ]]; then
  id postgres >/dev/null 2>&1 || die "running as root but there is no 'postgres' OS user"
  AS_PG=(runuser -u postgres --); PG_OS_USER=postgres
else
  AS_PG=(); PG_OS_USER=$(id -un)
fi

# ---------------------------------------------------------------------------------------------
# throwaway cluster
# ---------------------------------------------------------------------------------------------
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ct-mload.XXXXXX")
chown "$PG_OS_USER" "$TMP"
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

PORT=""
for _ in $(seq 1 100); do
  p=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
  if command -v ss >/dev/null 2>&1 && ss -Hltn "sport = :$p" 2>/dev/null | grep -q .; then continue; fi
  PORT=$p; break
done
[[ -n $PORT ]] || die "no free port"

log "initdb in $TMP"
(cd "$TMP" && "${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 \
   --locale=C --no-sync --no-instructions >"$TMP/initdb.log" 2>&1) || { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
cat >>"$PGDATA_DIR/postgresql.conf" <<EOF
# bench/metrics_load.sh
port = $PORT
listen_addresses = ''
unix_socket_directories = '$TMP'
shared_buffers = 512MB
max_wal_size = 8GB
checkpoint_timeout = 30min
max_connections = 100
timezone = 'UTC'
jit = off
log_min_messages = warning
log_line_prefix = '%a '
shared_preload_libraries = '$EXT_NAME'
EOF
(cd "$TMP" && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$SERVER_LOG" -w -t 60 start >/dev/null) \
  || { tail -n 30 "$SERVER_LOG" >&2 || true; die "server did not start"; }
STARTED=1

unset PGSERVICE PGOPTIONS PGPASSWORD PGSSLMODE
export PGHOST=$TMP PGPORT=$PORT PGUSER=postgres PGDATABASE=mload PGAPPNAME=ct-mload
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
q() { "${PSQL[@]}" -At -c "$1"; }

SHOP=$("${PSQL[@]}" -d postgres -At -c "SELECT md5('metrics-load-shop')::uuid")
"${PSQL[@]}" -d postgres -c "CREATE DATABASE mload" >/dev/null
"${PSQL[@]}" -f "$HOST_SCHEMA" >/dev/null
q "INSERT INTO user_shops (id, user_id, shop_name, shop_slug)
   VALUES ('$SHOP', md5('metrics-load-owner')::uuid, 'Metrics load shop', 'mload')" >/dev/null
q "SET client_min_messages = warning; CREATE EXTENSION $EXT_NAME CASCADE" >/dev/null
EXT_VERSION=$(q "SELECT extversion FROM pg_extension WHERE extname = '$EXT_NAME'")
if [[ -n $LOCK_FILE ]]; then flock -u "$LOCK_FD"; log "released $LOCK_FILE"; fi
log "PostgreSQL $(q 'SHOW server_version'), $EXT_NAME $EXT_VERSION (library md5 $EXT_LIB_MD5, preloaded)"

# ---------------------------------------------------------------------------------------------
# load, through the trigger: order g <= CUSTOMERS is customer g's first (paid) order; customers
# above CUSTOMERS - NEW_TODAY bought first today (00:00 UTC .. T_NEW_END), the others on one of
# the DAYS days before today; g > CUSTOMERS are repeat purchases of the older customers, in the
# past too. Phones: '0' + a Ghana mobile prefix chosen by c + c in 7 digits.
# ---------------------------------------------------------------------------------------------
TODAY=$(q "SELECT (now() AT TIME ZONE 'UTC')::date")
T_NEW_SECONDS=$(q "SELECT greatest(60, floor(extract(epoch FROM now() - '$TODAY'::timestamp AT TIME ZONE 'UTC')) - 60)::int")
(( T_NEW_SECONDS > 120 )) || log "WARNING: it is just after 00:00 UTC: today's new customers all fall into the first minute"
OLD=$((CUSTOMERS - NEW_TODAY))
TOTAL=$((CUSTOMERS + CUSTOMERS * REPEAT_PCT / 100))

load_sql() { # load_sql LO HI PART: orders g in [LO, HI] of customers c % LOADERS = PART
  cat <<SQL
SET synchronous_commit = off;
SET client_min_messages = warning;
INSERT INTO shop_orders (shop_id, customer_name, customer_email, customer_phone, network, volume_gb,
                         base_price, total_price, profit_amount, order_status, payment_status,
                         payment_method, reference_code, shop_slug, created_at, updated_at)
SELECT '$SHOP'::uuid, 'Customer ' || s.c, 'c' || s.c || '@example.com',
       '0' || (ARRAY['24','54','20','27'])[1 + s.c % 4] || lpad(s.c::text, 7, '0'),
       (ARRAY['MTN','MTN','Telecel','AirtelTigo'])[1 + s.c % 4],
       1 + s.h % 50, s.cents * 85 / 10000.0, s.cents / 100.0, (s.cents - s.cents * 85 / 100) / 100.0,
       'completed', 'completed', 'momo', 'L-' || s.g,
       (ARRAY['mload', 'mload', 'mload-promo', NULL])[1 + s.h % 4],
       s.at, s.at
FROM (SELECT x.g, x.c, x.h, 500 + x.h % 14501 AS cents,
             CASE WHEN x.c > $OLD
                  THEN '$TODAY'::timestamp AT TIME ZONE 'UTC' + (x.h % $T_NEW_SECONDS) * interval '1 second'
                  ELSE '$TODAY'::timestamp AT TIME ZONE 'UTC' - (1 + x.h % $DAYS) * interval '1 day'
                       + (x.h / $DAYS % 86400) * interval '1 second' END AS at
      FROM (SELECT g, CASE WHEN g <= $CUSTOMERS THEN g
                           ELSE 1 + (hashint8(g) & 2147483647) % $OLD END AS c,
                   hashint8(-g) & 2147483647 AS h
            FROM generate_series($1, $2) AS g) AS x
      WHERE x.c % $LOADERS = $3) AS s;
SQL
}

log "loading $TOTAL orders ($CUSTOMERS customers, $NEW_TODAY new today) in statements of $BATCH, $LOADERS sessions"
L0=$(date +%s.%N)
for ((part = 0; part < LOADERS; part++)); do
  (
    for ((lo = 1; lo <= TOTAL; lo += BATCH * LOADERS)); do
      hi=$((lo + BATCH * LOADERS - 1)); (( hi > TOTAL )) && hi=$TOTAL
      load_sql "$lo" "$hi" "$part" | "${PSQL[@]}" >/dev/null || exit 1
    done
  ) &
  BG_PIDS+=($!)
done
for p in "${BG_PIDS[@]}"; do wait "$p" || die "a load session failed (see $SERVER_LOG; --keep)"; done
BG_PIDS=()
L1=$(date +%s.%N)
LOAD_S=$(awk -v a="$L0" -v b="$L1" 'BEGIN {printf "%.0f", b - a}')
LOAD_RATE=$(awk -v s="$LOAD_S" -v n="$TOTAL" 'BEGIN {printf "%.0f", n / (s > 0 ? s : 1)}')
log "loaded in ${LOAD_S} s ($LOAD_RATE orders/s); VACUUM (ANALYZE), CHECKPOINT"
q "VACUUM (ANALYZE)" >/dev/null
q "CHECKPOINT" >/dev/null

# What the loaded shop must show, from shop_orders alone: every order is paid, one customer per c.
check_counts() { # -> customers, of them new today, revenue from shop_orders, revenue equal to metrics'?
  q "SELECT (SELECT count(*) FROM shop_customers WHERE shop_id = '$SHOP' AND total_purchases > 0)
            || ' ' || (SELECT count(*) FROM shop_customers WHERE shop_id = '$SHOP' AND total_purchases > 0
                         AND first_purchase_at >= '$TODAY'::timestamp AT TIME ZONE 'UTC')
            || ' ' || o.revenue || ' ' || (o.revenue = m.total_revenue)
       FROM (SELECT sum(total_price) AS revenue FROM shop_orders WHERE shop_id = '$SHOP') o,
            shop_customer_metrics('$SHOP') m"
}
read -r N_CUST N_NEW REV_ORDERS REV_SAME < <(check_counts)
LOAD_CHECK="shop_customers: $N_CUST customers with a purchase (expected $CUSTOMERS), $N_NEW first bought today (expected $NEW_TODAY); revenue from shop_orders $REV_ORDERS, the same in shop_customer_metrics: $REV_SAME"
[[ $N_CUST == "$CUSTOMERS" && $N_NEW == "$NEW_TODAY" && $REV_SAME == true ]] || LOAD_CHECK+=" (MISMATCH)"
log "$LOAD_CHECK"

verify() { # verify LABEL -> appends to VERIFY_LINES
  local t0 t1 n
  t0=$(date +%s)
  n=$(q "SELECT count(*) FROM customer_tracking_verify('$SHOP')")
  t1=$(date +%s)
  VERIFY_LINES+=("- customer_tracking_verify(shop) $1: **$n rows** ($((t1 - t0)) s)$( [[ $n == 0 ]] || echo ' (NOT EXACT)')")
  log "verify $1: $n rows"
}
VERIFY_LINES=()
(( VERIFY )) && verify "after the load"

# The plain baseline and the function must agree (at a quiet moment, same as_of).
SAME=$(q "SELECT (SELECT row(m.*)::text FROM shop_customer_metrics('$SHOP', '$TODAY'::timestamp AT TIME ZONE 'UTC' + interval '$T_NEW_SECONDS seconds') m)
            = (SELECT row(p.*)::text FROM (
$(sed -e '/^--/d' -e "s/:'shop'/'$SHOP'/g" -e "s/:'as_of'/('$TODAY'::timestamp AT TIME ZONE 'UTC' + interval '$T_NEW_SECONDS seconds')/g" "$BENCH_DIR/dashboard/plain_metrics.sql")
              ) p)")
METRICS_ROW=$(q "SELECT row(m.*)::text FROM shop_customer_metrics('$SHOP') m")
log "metrics now: $METRICS_ROW; plain SQL returns the same: $SAME"

# ---------------------------------------------------------------------------------------------
# pgbench scripts
# ---------------------------------------------------------------------------------------------
cat >"$TMP/reader.pgbench" <<'EOF'
SELECT * FROM shop_customer_metrics(:shop);
EOF
{
  sed -e '/^--/d' -e "s/:'shop'/:shop/g" -e "s/:'as_of'::timestamptz/now()/g" "$BENCH_DIR/dashboard/plain_metrics.sql" | tr '\n' ' '
  echo ';'
} >"$TMP/plain.pgbench"
cat >"$TMP/writer.pgbench" <<EOF
\\set r random(1, 100)
\\set c CASE WHEN :r <= $WRITER_NEW_PCT THEN random($((CUSTOMERS + 1)), 9999999) ELSE random(1, $CUSTOMERS) END
\\set cents random(500, 15000)
\\set ref random(1, 2000000000)
INSERT INTO shop_orders (shop_id, customer_name, customer_email, customer_phone, network, volume_gb, base_price, total_price, profit_amount, order_status, payment_status, payment_method, reference_code, shop_slug, created_at) VALUES (:shop, 'Customer ' || :c, 'c' || :c || '@example.com', '0' || (ARRAY['24','54','20','27'])[1 + :c % 4] || lpad((:c)::text, 7, '0'), (ARRAY['MTN','MTN','Telecel','AirtelTigo'])[1 + :c % 4], 1 + :cents % 50, (:cents)::numeric * 85 / 10000, (:cents)::numeric / 100, (:cents)::numeric * 15 / 10000, 'completed', 'completed', 'momo', 'W-' || :client_id || '-' || :ref, 'mload', now());
EOF

# reader PHASE SECONDS: the metrics call at READER_RATE/s, per-call log (client) and
# log_min_duration_statement = 0 (server); then the plain baseline PLAIN_REPS times.
reader() {
  local phase=$1 secs=$2 off
  off=$(stat -c %s "$SERVER_LOG")
  PGAPPNAME=ct-reader-$phase PGOPTIONS="-c log_min_duration_statement=0" \
    "$PGBIN/pgbench" -n -M prepared -c 1 -j 1 -R "$READER_RATE" -T "$secs" -D shop="$SHOP" \
    -l --log-prefix="$TMP/log-$phase" -f "$TMP/reader.pgbench" >"$TMP/reader-$phase.out" 2>&1 \
    || { cat "$TMP/reader-$phase.out" >&2; die "reader ($phase) failed"; }
  # client: pgbench latency (from the scheduled start) minus schedule lag, µs
  cat "$TMP/log-$phase".* | awk '{print $3 - $7}' >"$TMP/client-$phase.us"
  # server: bind + execute of each call, ms -> µs
  tail -c +"$((off + 1))" "$SERVER_LOG" | awk -v app="ct-reader-$phase" '
    $1 == app && /duration: .* ms  bind / {for (i = 1; i <= NF; i++) if ($i == "duration:") b = $(i + 1)}
    $1 == app && /duration: .* ms  execute / {for (i = 1; i <= NF; i++) if ($i == "duration:") print 1000 * (b + $(i + 1)); b = 0}' \
    >"$TMP/server-$phase.us"
  PGAPPNAME=ct-plain-$phase "$PGBIN/pgbench" -n -M prepared -c 1 -j 1 -t "$PLAIN_REPS" -D shop="$SHOP" \
    -l --log-prefix="$TMP/plainlog-$phase" -f "$TMP/plain.pgbench" >"$TMP/plain-$phase.out" 2>&1 \
    || { cat "$TMP/plain-$phase.out" >&2; die "plain baseline ($phase) failed"; }
  cat "$TMP/plainlog-$phase".* | awk '{print $3}' >"$TMP/plain-$phase.us"
}

# diag PHASE: DIAG_CALLS more calls with auto_explain (analyze, buffers, nested statements, no
# per-node timing): the shared buffers the metrics statement touches per call (median) and the
# plan of the slowest call (to PLANS). If the buffers grow under the writers, the data is the
# cause (dead row versions, index churn); if only the time grows, it is waiting for a core.
DIAG_CALLS=30
PLANS=${OUT%.md}-plans.txt
: >"$TMP/plans.txt"
diag() {
  local phase=$1 off
  off=$(stat -c %s "$SERVER_LOG")
  PGAPPNAME=ct-diag-$phase PGOPTIONS="-c session_preload_libraries=auto_explain -c auto_explain.log_min_duration=0 -c auto_explain.log_nested_statements=on -c auto_explain.log_analyze=on -c auto_explain.log_buffers=on -c auto_explain.log_timing=off" \
    "$PGBIN/pgbench" -n -M prepared -c 1 -j 1 -t "$DIAG_CALLS" -R "$READER_RATE" -D shop="$SHOP" -f "$TMP/reader.pgbench" >"$TMP/diag-$phase.out" 2>&1 \
    || { log "diagnostic calls ($phase) failed"; return 0; }
  # one block per logged plan: from "<app> LOG:  duration: X ms  plan:" to the next prefixed line
  tail -c +"$((off + 1))" "$SERVER_LOG" | awk -v app="ct-diag-$phase" -v out="$TMP/diag-$phase.blocks" '
    /^[^ \t]* *(LOG|DETAIL|WARNING|ERROR|STATEMENT|HINT|CONTEXT): / { inb = ($1 == app && / duration: .* plan:/); if (inb) { n++; printf "\f", "" > out } }
    inb { print > out }'
  # nested metrics statements: duration (ms) and total shared buffers of the top node
  awk 'BEGIN {RS = "\f"} /customer_tracking_shop_totals/ {
         d = ""; b = ""
         if (match($0, /duration: [0-9.]+ ms/)) d = substr($0, RSTART + 10, RLENGTH - 13)
         if (match($0, /Buffers: shared hit=[0-9]+( read=[0-9]+)?/)) { split(substr($0, RSTART, RLENGTH), x, /[= ]/); b = x[4] + (x[6] == "" ? 0 : x[6]) }
         print d "\t" b }' "$TMP/diag-$phase.blocks" >"$TMP/diag-$phase.tsv"
  DIAG_BUF[$phase]=$(cut -f2 "$TMP/diag-$phase.tsv" | sort -g | awk '{a[NR] = $1} END {print (NR ? a[int((NR + 1) / 2)] : "–")}')
  DIAG_MS[$phase]=$(cut -f1 "$TMP/diag-$phase.tsv" | sort -g | awk '{a[NR] = $1} END {print (NR ? a[int((NR + 1) / 2)] : "–")}')
  {
    echo "===== $phase: the slowest of $DIAG_CALLS calls with auto_explain (nested metrics statement) ====="
    awk -v RS='\f' -v ORS='' '/customer_tracking_shop_totals/ {
           if (match($0, /duration: [0-9.]+ ms/)) { d = substr($0, RSTART + 10, RLENGTH - 13) + 0; if (d >= best) { best = d; blk = $0 } } }
         END {print blk}' "$TMP/diag-$phase.blocks"
    echo
  } >>"$TMP/plans.txt"
}
declare -A DIAG_BUF=() DIAG_MS=()

pct() { # pct FILE P -> P-th percentile (nearest rank) in ms
  sort -g "$1" | awk -v p="$2" '{a[NR] = $1} END {if (NR == 0) {print "–"; exit} k = int(p / 100 * NR + 0.999999); if (k < 1) k = 1; if (k > NR) k = NR; printf "%.3f", a[k] / 1000}'
}
stats_row() { # stats_row LABEL FILE
  printf '| %s | %s | %s | %s | %s | %s |\n' "$1" "$(wc -l <"$2")" "$(pct "$2" 50)" "$(pct "$2" 95)" "$(pct "$2" 99)" "$(pct "$2" 100)"
}

# ---------------------------------------------------------------------------------------------
# phase 1: no writers; phase 2: writers at RATE orders/s
# ---------------------------------------------------------------------------------------------
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "phase idle: reader ${SECONDS_}s at $READER_RATE calls/s, no writers"
reader idle "$SECONDS_"
diag idle

ORDERS_BEFORE=$(q "SELECT count(*) FROM shop_orders WHERE shop_id = '$SHOP'")
CUST_BEFORE=$(q "SELECT count(*) FROM shop_customers WHERE shop_id = '$SHOP'")
PLAIN_EST_S=$(awk -v f="$TMP/plain-idle.us" -v n="$PLAIN_REPS" 'BEGIN {while ((getline x < f) > 0) s += x; printf "%d", s / 1e6 * 2 + 5}')
PLAIN_EST_S=$((PLAIN_EST_S + DIAG_CALLS / READER_RATE + 3))
W_SECS=$((WARM + SECONDS_ + PLAIN_EST_S + 5))
log "phase writers: $WRITERS writers at $RATE orders/s for ${W_SECS}s; reader from ${WARM}s on"
PGAPPNAME=ct-writer "$PGBIN/pgbench" -n -M prepared -c "$WRITERS" -j 2 -R "$RATE" -T "$W_SECS" \
  -D shop="$SHOP" --failures-detailed -f "$TMP/writer.pgbench" >"$TMP/writer.out" 2>&1 &
WPID=$!
BG_PIDS+=("$WPID")
sleep "$WARM"
ACT=$(q "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'ct-writer'")
reader writers "$SECONDS_"
diag writers
WRITERS_DONE_EARLY=0
kill -0 "$WPID" 2>/dev/null || WRITERS_DONE_EARLY=1
wait "$WPID" || { cat "$TMP/writer.out" >&2; die "writer pgbench failed"; }
BG_PIDS=()
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)
W_TPS=$(awk '/^tps = / {printf "%.0f", $3; exit}' "$TMP/writer.out")
W_LAT=$(awk '/^latency average/ {print $4; exit}' "$TMP/writer.out")
W_LAG=$(awk '/rate limit schedule lag/ {print; exit}' "$TMP/writer.out" | sed 's/^ *//')
W_FAILED=$(awk -F': ' '/number of failed transactions/ {print $2; exit}' "$TMP/writer.out")
W_DEADLOCKS=$(awk -F': ' '/number of deadlock failures/ {print $2; exit}' "$TMP/writer.out")
ORDERS_AFTER=$(q "SELECT count(*) FROM shop_orders WHERE shop_id = '$SHOP'")
CUST_AFTER=$(q "SELECT count(*) FROM shop_customers WHERE shop_id = '$SHOP'")
SERVER_ERRORS=$(grep -cE '(ERROR|FATAL|PANIC):' "$SERVER_LOG" || true)
SERVER_ERROR_LINES=$(grep -E '(ERROR|FATAL|PANIC):' "$SERVER_LOG" | sed -E 's/^[^ ]* //' | sort | uniq -c | sort -rn | head -n 3 | sed -E 's/^ *([0-9]+) (.*)$/\2 (x\1)/' | cut -c1-200 | paste -sd ';' - || true)
read -r N_CUST2 N_NEW2 REV_ORDERS2 REV_SAME2 < <(check_counts)
AFTER_CHECK="revenue from shop_orders $REV_ORDERS2, the same in shop_customer_metrics: $REV_SAME2$( [[ $REV_SAME2 == true ]] || echo ' (MISMATCH)'); customers $N_CUST2, $N_NEW2 first bought today"
(( VERIFY )) && verify "after the writers"

# ---------------------------------------------------------------------------------------------
# report
# ---------------------------------------------------------------------------------------------
report() {
  echo "## shop_customer_metrics under write load"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); command: \`bash bench/metrics_load.sh $ARGS_ORIG\`"
  echo "- machine: nproc $(nproc), $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo); load avg at start of the phases $LOAD_START, at end $LOAD_END"
  echo "- PostgreSQL $(q 'SHOW server_version'); shared_buffers=512MB, durable defaults (fsync, synchronous_commit on), autovacuum on, timezone UTC"
  echo "- repo: $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?'); extension: $EXT_NAME $EXT_VERSION (library md5 $EXT_LIB_MD5, preloaded)"
  echo "- shop: $CUSTOMERS customers, $NEW_TODAY of them new today (first purchase between 00:00 UTC and $((T_NEW_SECONDS / 60)) min later), $TOTAL orders, loaded through the trigger in ${LOAD_S} s ($LOAD_RATE orders/s; statements of $BATCH orders, $LOADERS sessions)"
  echo "- load check: $LOAD_CHECK"
  echo "- metrics after the load: \`$METRICS_ROW\`; the plain SQL baseline returns the same row: $SAME"
  echo "- reader: one connection, \`SELECT * FROM shop_customer_metrics(\$1)\` (pgbench -M prepared) at $READER_RATE calls/s for $SECONDS_ s per phase; client = pgbench's per-call latency without the --rate schedule lag (Unix socket round trip included), server = bind + execute from log_min_duration_statement = 0"
  echo "- writers: $WRITERS connections, pgbench -R $RATE (orders/s in total), one paid order per transaction, $WRITER_NEW_PCT % for new customers, the rest for random existing ones, created_at = now(); they ran ${W_SECS} s, the reader started after ${WARM} s ($ACT writer connections seen then)"
  echo
  echo "| phase | calls | p50, ms | p95, ms | p99, ms | max, ms |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  stats_row "no writers, client" "$TMP/client-idle.us"
  stats_row "no writers, server" "$TMP/server-idle.us"
  stats_row "**$WRITERS writers at $RATE orders/s, client**" "$TMP/client-writers.us"
  stats_row "$WRITERS writers at $RATE orders/s, server" "$TMP/server-writers.us"
  stats_row "plain SQL (bench/dashboard/plain_metrics.sql), no writers" "$TMP/plain-idle.us"
  stats_row "plain SQL, with writers" "$TMP/plain-writers.us"
  echo
  local p99
  p99=$(pct "$TMP/client-writers.us" 99)
  if awk -v p="$p99" 'BEGIN {exit !(p <= 1.0)}'; then
    echo "- **p99 with writers: $p99 ms (client side): meets the ≤ 1 ms target**"
  else
    echo "- **p99 with writers: $p99 ms (client side): MISSES the ≤ 1 ms target**; server side $(pct "$TMP/server-writers.us" 99) ms"
  fi
  echo "- writers: $W_TPS orders/s achieved (target $RATE), mean latency $W_LAT ms, ${W_LAG:-no lag line}; failed transactions: ${W_FAILED:-?}, deadlocks: ${W_DEADLOCKS:-?}$( ((WRITERS_DONE_EARLY)) && echo '; NOTE: the writers ended before the reader')"
  echo "- auto_explain, $DIAG_CALLS more calls per phase (\`$(basename "$PLANS")\`: the slowest call's nested plan): the metrics statement touches a median of ${DIAG_BUF[idle]:-–} shared buffers per call without writers (${DIAG_MS[idle]:-–} ms), ${DIAG_BUF[writers]:-–} with them (${DIAG_MS[writers]:-–} ms)"
  echo "- orders of the shop $ORDERS_BEFORE -> $ORDERS_AFTER, customers $CUST_BEFORE -> $CUST_AFTER during the writer phase; ERROR/FATAL lines in the server log: $SERVER_ERRORS${SERVER_ERROR_LINES:+ ($SERVER_ERROR_LINES)}"
  echo "- after the writers: $AFTER_CHECK"
  local l
  for l in "${VERIFY_LINES[@]}"; do echo "$l"; done
}
REPORT=$(report)
echo
echo "$REPORT"
mkdir -p "$(dirname "$OUT")"
printf '%s\n' "$REPORT" >"$OUT"
cp "$TMP/plans.txt" "$PLANS"
log "wrote $OUT and $PLANS"
