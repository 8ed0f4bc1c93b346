# shellcheck shell=bash disable=SC2034
# Used by test/scripts/driver_concurrency.sh (source it with ROOT = the repo root); the TAP load and
# crash tests (test/t/003_load.pl, 004_crash.pl) have the same helpers in test/perl/CustomerTracking/TestLib.pm.
#
#   load_create_db DB           fresh database: host schema, CREATE EXTENSION, test/load/setup.sql
#   load_pgbench_cmd DB CLIENTS SECONDS
#                               PGBENCH_CMD: the mixed order workload (test/load/*.pgbench),
#                               no retries; run it with PGOPTIONS=$LOAD_PGOPTIONS
#   log_offset                  current size of the server log (CT_CLUSTER_LOG)
#   log_scan OFFSET ALLOWED_RE  scans the server log written since OFFSET; sets LOG_ERRORS,
#                               LOG_DEADLOCKS, LOG_FATALS (FATAL/PANIC), LOG_SIGNALS (a server
#                               process killed by a signal), LOG_WARNINGS (unexpected warnings),
#                               ignoring lines that match ALLOWED_RE, and prints the first entries
#                               found (with their DETAIL/CONTEXT lines, shortened)

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
CT_LOAD_DIR="$ROOT/test/load"
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 --no-psqlrc)

# Weights: checkout 40, payment 25, refund 15, delete 10, edit 10.
LOAD_SCRIPTS=(
	-f "$CT_LOAD_DIR/place.pgbench@40"
	-f "$CT_LOAD_DIR/pay.pgbench@25"
	-f "$CT_LOAD_DIR/refund.pgbench@15"
	-f "$CT_LOAD_DIR/delete.pgbench@10"
	-f "$CT_LOAD_DIR/edit.pgbench@10"
)

# The WARNING every order with the unreadable phone ('call me') gets, by design.
LOG_EXPECTED_RE='saved untracked: invalid_phone'

q() { # q DB SQL: the result, unaligned, no header
	"${PSQL[@]}" -d "$1" -At -c "$2"
}

load_create_db()
{
	local db=$1
	"${PSQL[@]}" -d postgres -c "DROP DATABASE IF EXISTS $db" || return 1
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $db" || return 1
	PGOPTIONS='-c client_min_messages=warning' "${PSQL[@]}" -d "$db" \
		-f "$ROOT/test/fixtures/host-schema.sql" \
		-c 'CREATE EXTENSION customer_tracking' \
		-f "$CT_LOAD_DIR/setup.sql"
}

# The pgbench command line in PGBENCH_CMD (run it with PGOPTIONS=$LOAD_PGOPTIONS); killed if
# still running 120 s after its end (exit status 124). No --max-tries: a deadlock or
# serialization failure is a failed transaction, any other error aborts the client.
# client_min_messages=error hides the expected invalid_phone warnings from the clients.
LOAD_PGOPTIONS='-c client_min_messages=error'
load_pgbench_cmd()
{
	local db=$1 clients=$2 seconds=$3 jobs
	jobs=$(nproc 2>/dev/null || echo 2)
	[ "$jobs" -le "$clients" ] || jobs=$clients
	PGBENCH_CMD=(timeout --kill-after=10 $((seconds + 120))
		"$PGBIN/pgbench" -n -M prepared -c "$clients" -j "$jobs" -T "$seconds"
		--failures-detailed --verbose-errors "${LOAD_SCRIPTS[@]}" "$db")
}

# A value from pgbench's report: pgbench_value FILE 'number of failed transactions'
pgbench_value()
{
	sed -nE "s/^$2: ([0-9.]+).*/\1/p" "$1" | head -n 1
}

log_offset()
{
	if [ -n "${CT_CLUSTER_LOG:-}" ] && [ -f "$CT_CLUSTER_LOG" ]; then
		stat -c %s "$CT_CLUSTER_LOG"
	else
		echo 0
	fi
}

log_scan()
{
	local offset=$1 allowed=$2 tmp
	LOG_ERRORS=0 LOG_DEADLOCKS=0 LOG_FATALS=0 LOG_SIGNALS=0 LOG_WARNINGS=0
	if [ -z "${CT_CLUSTER_LOG:-}" ] || [ ! -r "$CT_CLUSTER_LOG" ]; then
		echo "cannot read the server log (CT_CLUSTER_LOG='${CT_CLUSTER_LOG:-}')"
		LOG_ERRORS=1
		return 1
	fi
	tmp=$(mktemp)
	# One entry per line: continuation lines (tab-indented) and the DETAIL/HINT/CONTEXT/STATEMENT
	# lines that follow a message are joined to it.
	tail -c +"$((offset + 1))" "$CT_CLUSTER_LOG" |
		awk '/^\t/ || / (DETAIL|HINT|CONTEXT|STATEMENT):  / { e = e " | " $0; next }
		     { if (e != "") print e; e = $0 }
		     END { if (e != "") print e }' |
		grep -E '^[^|]* (ERROR|FATAL|PANIC|WARNING):  |^[^|]*terminated by signal' |
		{ if [ -n "$allowed" ]; then grep -vE "$allowed"; else cat; fi } >"$tmp"
	LOG_ERRORS=$(grep -cE '^[^|]* ERROR:  ' "$tmp")
	LOG_DEADLOCKS=$(grep -cE '^[^|]* ERROR:  deadlock detected' "$tmp")
	LOG_FATALS=$(grep -cE '^[^|]* (FATAL|PANIC):  ' "$tmp")
	LOG_SIGNALS=$(grep -cE '^[^|]*terminated by signal' "$tmp")
	LOG_WARNINGS=$(grep -cE '^[^|]* WARNING:  ' "$tmp")
	if [ -s "$tmp" ]; then
		echo "----- server log: $(wc -l <"$tmp") unexpected entries; the first ones (shortened) -----"
		head -n 3 "$tmp" | tr -s ' \t' ' ' | cut -c 1-1200
		echo "----- messages by count -----"
		sed -E 's/ \| .*//; s/^[^]]*\] [^ ]* ?(ERROR|FATAL|PANIC|WARNING|LOG):  /\1:  /' "$tmp" |
			sed -E 's/[0-9a-f]{8}-[0-9a-f-]{27}/<uuid>/g; s/[0-9]+/N/g' | cut -c 1-160 |
			sort | uniq -c | sort -rn | head -n 20
		echo "-----"
	fi
	rm -f "$tmp"
}
