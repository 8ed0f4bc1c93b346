#!/usr/bin/env bash
# bench/batch_throughput.sh: throughput of the 16-connection random-order batch workload
# (asyncpg executemany / multi-row VALUES / INSERT ... SELECT / COPY batches over a small
# customer pool, bench/batch_throughput.py) against plain inserts, in one throwaway cluster:
#
#   bare       host schema only (test/fixtures/host-schema.sql): plain INSERTs
#   extension  host schema + CREATE EXTENSION customer_tracking
#
# Interleaved rounds (the starting database alternates), --seconds each; reports orders/s of
# each (median), the ratio extension / bare (median of the per-round ratios), deadlocks (must
# be 0) and other errors, and checks the extension's database at the end: every committed order
# there, customer_tracking_verify() empty.
# Usage: bash bench/batch_throughput.sh [--seconds N] [--rounds N] [--people N] [--build] [--help]
# See the "bench/batch_throughput.sh" section of bench/README.md.
set -euo pipefail

BENCH_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$BENCH_DIR/.." && pwd)

SECONDS_=20
ROUNDS=3
CLIENTS=16
SHOPS=3
PEOPLE=50           # customers per shop
BMIN=5
BMAX=20
FSYNC_OFF=0
BUILD=0
LOCK_FILE=""
KEEP=0
OUT=""
PY=${CT_PYTHON:-/usr/bin/python3}
EXT_NAME=${EXT_NAME:-customer_tracking}
HOST_SCHEMA=${HOST_SCHEMA:-$BENCH_DIR/../test/fixtures/host-schema.sql}

usage() {
  cat <<EOF
Usage: bash bench/batch_throughput.sh [options]

  --seconds N     run per database per round (default $SECONDS_)
  --rounds N      interleaved rounds (default $ROUNDS)
  --clients N     connections (default $CLIENTS)
  --shops N       shops (default $SHOPS)
  --people N      customers per shop (default $PEOPLE; the pool is shops x people)
  --batch MIN,MAX orders per transaction (default $BMIN,$BMAX)
  --fsync-off     fsync=off, synchronous_commit=off, full_page_writes=off (default: durable)
  --build         make && make install in $REPO_DIR first
  --lock FILE     hold flock FILE from before --build until CREATE EXTENSION is done (the
                  library is preloaded, so later installs by others do not affect the run)
  --out FILE      markdown results (default bench/results/batch-throughput.md)
  --keep          keep the temporary cluster directory
Environment: CT_PYTHON (default /usr/bin/python3, with Debian's python3-asyncpg), PG_CONFIG.
EOF
}
need_arg() { [[ $# -ge 2 && -n $2 ]] || { echo "batch_throughput.sh: $1 needs a value" >&2; exit 2; }; }
ARGS_ORIG="$*"
while [[ $# -gt 0 ]]; do
  case $1 in
    --seconds) need_arg "$@"; SECONDS_=$2; shift 2 ;;
    --rounds)  need_arg "$@"; ROUNDS=$2; shift 2 ;;
    --clients) need_arg "$@"; CLIENTS=$2; shift 2 ;;
    --shops)   need_arg "$@"; SHOPS=$2; shift 2 ;;
    --people)  need_arg "$@"; PEOPLE=$2; shift 2 ;;
    --batch)   need_arg "$@"; BMIN=${2%,*}; BMAX=${2#*,}; shift 2 ;;
    --fsync-off) FSYNC_OFF=1; shift ;;
    --build)   BUILD=1; shift ;;
    --lock)    need_arg "$@"; LOCK_FILE=$2; shift 2 ;;
    --out)     need_arg "$@"; OUT=$2; shift 2 ;;
    --keep)    KEEP=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "batch_throughput.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done
for n in SECONDS_ ROUNDS CLIENTS SHOPS PEOPLE BMIN BMAX; do
  [[ ${!n} =~ ^[1-9][0-9]*$ ]] || { echo "batch_throughput.sh: $n must be a positive integer (got '${!n}')" >&2; exit 2; }
done
(( BMIN <= BMAX )) || { echo "batch_throughput.sh: --batch MIN,MAX with MIN <= MAX" >&2; exit 2; }
[[ -n $OUT ]] || OUT=$BENCH_DIR/results/batch-throughput.md

log() { printf '[batch %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

"$PY" -c 'import asyncpg' 2>/dev/null || die "$PY has no asyncpg (apt-get install python3-asyncpg, or set CT_PYTHON)"
PG_CONFIG=${PG_CONFIG:-pg_config}
PGBIN=$("$PG_CONFIG" --bindir)
for t in initdb pg_ctl psql; do [[ -x $PGBIN/$t ]] || die "$PGBIN/$t not found"; done

if [[ -n $LOCK_FILE ]]; then
  exec {LOCK_FD}>>"$LOCK_FILE"
  log "waiting for $LOCK_FILE"
  flock "$LOCK_FD"
fi
if (( BUILD )); then
  make -C "$REPO_DIR" PG_CONFIG="$PG_CONFIG" >&2
  make -C "$REPO_DIR" PG_CONFIG="$PG_CONFIG" install >&2
fi
EXT_LIB=$("$PG_CONFIG" --pkglibdir)/$EXT_NAME.so
[[ -r $EXT_LIB ]] || die "$EXT_LIB not installed (make install, or --build)"
EXT_LIB_MD5=$(md5sum "$EXT_LIB" | cut -c1-12)

if [[ $(id -u) == 0 ]]; then
  AS_PG=(runuser -u postgres --); PG_OS_USER=postgres
else
  AS_PG=(); PG_OS_USER=$(id -un)
fi
TMP=$(mktemp -d "${TMPDIR:-/tmp}/ct-batch.XXXXXX")
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
(cd "$TMP" && "${AS_PG[@]}" "$PGBIN/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust -E UTF8 \
   --locale=C --no-sync --no-instructions >"$TMP/initdb.log" 2>&1) || { cat "$TMP/initdb.log" >&2; die "initdb failed"; }
if (( FSYNC_OFF )); then
  DURABILITY="fsync=off, synchronous_commit=off, full_page_writes=off"
else
  DURABILITY="fsync=on, synchronous_commit=on (PostgreSQL defaults)"
fi
{
  echo "port = $PORT"
  echo "listen_addresses = ''"
  echo "unix_socket_directories = '$TMP'"
  echo "shared_buffers = 256MB"
  echo "max_wal_size = 4GB"
  echo "checkpoint_timeout = 30min"
  echo "log_min_messages = warning"
  echo "jit = off"   # asyncpg's type introspection query would otherwise be JIT-compiled per connection
  echo "shared_preload_libraries = '$EXT_NAME'"
  (( FSYNC_OFF )) && printf '%s\n' "fsync = off" "synchronous_commit = off" "full_page_writes = off"
  true
} >>"$PGDATA_DIR/postgresql.conf"
(cd "$TMP" && "${AS_PG[@]}" "$PGBIN/pg_ctl" -D "$PGDATA_DIR" -l "$SERVER_LOG" -w -t 60 start >/dev/null) \
  || { tail -n 30 "$SERVER_LOG" >&2 || true; die "server did not start"; }
STARTED=1
unset PGSERVICE PGOPTIONS PGPASSWORD PGSSLMODE
export PGHOST=$TMP PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)

for db in batch_bare batch_extension; do
  "${PSQL[@]}" -c "CREATE DATABASE $db" >/dev/null
  "${PSQL[@]}" -d "$db" -f "$HOST_SCHEMA" >/dev/null
  "${PSQL[@]}" -d "$db" -c "INSERT INTO user_shops (id, user_id, shop_name, shop_slug)
      SELECT ('b0000000-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, md5('owner-' || i)::uuid,
             'Batch shop ' || i, 'batch-shop-' || i FROM generate_series(1, $SHOPS) AS i" >/dev/null
done
"${PSQL[@]}" -d batch_extension -c "SET client_min_messages = warning; CREATE EXTENSION $EXT_NAME CASCADE" >/dev/null
EXT_VERSION=$("${PSQL[@]}" -d batch_extension -At -c "SELECT extversion FROM pg_extension WHERE extname = '$EXT_NAME'")
if [[ -n $LOCK_FILE ]]; then flock -u "$LOCK_FD"; log "released $LOCK_FILE"; fi

export CT_BATCH_CLIENTS=$CLIENTS CT_BATCH_SHOPS=$SHOPS CT_BATCH_PEOPLE=$PEOPLE CT_BATCH_MIN=$BMIN CT_BATCH_MAX=$BMAX
RESULTS=$TMP/results.tsv   # round db orders/s orders deadlocks errors json
: >"$RESULTS"
LOAD_START=$(cut -d' ' -f1-3 /proc/loadavg)
log "warm-up: 3 s per database"
declare -A WARM_ORDERS=()
for db in bare extension; do
  WARM_ORDERS[$db]=$("$PY" "$BENCH_DIR/batch_throughput.py" "batch_$db" 3 999 | "$PY" -c 'import json, sys; print(json.load(sys.stdin)["orders"])') \
    || die "the warm-up failed on $db"
done
T0=$(date +%s)
for ((r = 1; r <= ROUNDS; r++)); do
  if (( r % 2 )); then order="bare extension"; else order="extension bare"; fi
  for db in $order; do
    "${PSQL[@]}" -c "CHECKPOINT" >/dev/null
    log "round $r/$ROUNDS: $db, ${SECONDS_}s, $CLIENTS connections"
    json=$("$PY" "$BENCH_DIR/batch_throughput.py" "batch_$db" "$SECONDS_" "$r") || die "the workload failed on $db"
    "$PY" -c 'import json, sys
j = json.loads(sys.argv[1])
print("\t".join(str(x) for x in (sys.argv[2], sys.argv[3], "%.1f" % (j["orders"] / j["seconds"]), j["orders"], j["deadlocks"], j["errors"], sys.argv[1])))' \
      "$json" "$r" "$db" >>"$RESULTS"
  done
done
T1=$(date +%s)
LOAD_END=$(cut -d' ' -f1-3 /proc/loadavg)

# the extension's database: every committed order is there and counted exactly
COMMITTED=$(awk -F'\t' -v w="${WARM_ORDERS[extension]}" '$2 == "extension" {s += $4} END {print s + w}' "$RESULTS")
STORED=$("${PSQL[@]}" -d batch_extension -At -c "SELECT count(*) FROM shop_orders")
VERIFY=$("${PSQL[@]}" -d batch_extension -At -c "SELECT count(*) FROM customer_tracking_verify()")
LOG_DEADLOCKS=$(grep -c 'deadlock detected' "$SERVER_LOG" || true)
LOG_ERRORS=$(grep -cE '(ERROR|FATAL|PANIC):' "$SERVER_LOG" || true)
CUSTOMERS=$("${PSQL[@]}" -d batch_extension -At -c "SELECT count(*) FROM shop_customers")

median() { sort -g | awk '{a[NR] = $1} END {if (NR == 0) print ""; else if (NR % 2) print a[(NR + 1) / 2]; else printf "%.3f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2}'; }
MB=$(awk -F'\t' '$2 == "bare" {print $3}' "$RESULTS" | median)
ME=$(awk -F'\t' '$2 == "extension" {print $3}' "$RESULTS" | median)
PAIRED=$(awk -F'\t' '{t[$1 "," $2] = $3; if ($1 > n) n = $1} END {for (r = 1; r <= n; r++) if (t[r ",bare"] > 0) printf "%s%.3f", (k++ ? ", " : ""), t[r ",extension"] / t[r ",bare"]}' "$RESULTS")
DEADLOCKS=$(awk -F'\t' '{s[$2] += $5} END {printf "bare %d, extension %d", s["bare"], s["extension"]}' "$RESULTS")
ERRORS=$(awk -F'\t' '{s[$2] += $6} END {printf "bare %d, extension %d", s["bare"], s["extension"]}' "$RESULTS")
EXT_DEADLOCKS=$(awk -F'\t' '$2 == "extension" {s += $5} END {print s + 0}' "$RESULTS")

report() {
  echo "## Batch workload throughput: 16 connections, random-order batches, plain inserts vs customer_tracking"
  echo
  echo "- date: $(date -u '+%Y-%m-%d %H:%M UTC'); command: \`bash bench/batch_throughput.sh $ARGS_ORIG\`"
  echo "- machine: nproc $(nproc), $(awk -F': ' '/^model name/ {print $2; exit}' /proc/cpuinfo); load avg at start $LOAD_START, at end $LOAD_END"
  echo "- PostgreSQL $("${PSQL[@]}" -At -c 'SHOW server_version'); shared_buffers=256MB, jit=off; $DURABILITY"
  echo "- repo: $(git -C "$REPO_DIR" rev-parse --short HEAD 2>/dev/null || echo '?'); extension: $EXT_NAME $EXT_VERSION (library md5 $EXT_LIB_MD5, preloaded)"
  echo "- workload (bench/batch_throughput.py, asyncpg $("$PY" -c 'import asyncpg; print(asyncpg.__version__)')): $CLIENTS connections in one client process, each sending one batch of $BMIN-$BMAX orders per transaction (asyncpg executemany in a transaction, one multi-row INSERT ... VALUES, INSERT ... SELECT FROM unnest, copy_records_to_table; equally often), customers drawn at random in random order from $SHOPS shops x $PEOPLE customers, 80 % paid; no retries; $ROUNDS interleaved rounds of $SECONDS_ s per database (timed part $((T1 - T0)) s)"
  echo
  echo "| database | orders/s (median) | runs |"
  echo "| --- | ---: | ---: |"
  echo "| bare (plain inserts) | $MB | $ROUNDS |"
  echo "| customer_tracking | $ME | $ROUNDS |"
  echo
  echo "- **customer_tracking / bare = $(awk -v a="$ME" -v b="$MB" 'BEGIN {printf "%.3f", a / b}')** (orders/s, medians); per round (paired): $PAIRED"
  echo "- **deadlocks: $DEADLOCKS**$( ((EXT_DEADLOCKS)) && echo ' (NOT 0)'); 'deadlock detected' lines in the server log: $LOG_DEADLOCKS; other failed transactions: $ERRORS; ERROR/FATAL/PANIC lines in the server log: $LOG_ERRORS"
  echo "- extension database after the run: $STORED orders stored, $COMMITTED committed (client count, warm-up included)$( [[ $STORED == "$COMMITTED" ]] || echo ' (MISMATCH)'), $CUSTOMERS customers; customer_tracking_verify(): **$VERIFY rows**"
  echo
  echo "Per round:"
  echo
  echo '```'
  awk -F'\t' '{printf "round %s  %-10s %9s orders/s  (%s orders, %s deadlocks, %s errors)\n", $1, $2, $3, $4, $5, $6}' "$RESULTS"
  echo '```'
  local samples
  samples=$(cut -f7 "$RESULTS" | "$PY" -c 'import json, sys
s = [e for l in sys.stdin for e in json.loads(l)["error_samples"]]
print("\n".join("- " + e for e in s[:5]))')
  if [[ -n $samples ]]; then echo; echo "Error samples:"; echo "$samples"; fi
}
REPORT=$(report)
echo
echo "$REPORT"
mkdir -p "$(dirname "$OUT")"
printf '%s\n' "$REPORT" >"$OUT"
log "wrote $OUT"
