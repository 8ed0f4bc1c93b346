# shellcheck shell=bash disable=SC2034
# Used by test/scripts/driver_concurrency.sh and driver_codes.sh (source it with ROOT = the repo root). The TAP load
# and crash tests (test/t/003_load.pl, 004_crash.pl) have these helpers and the workload's in
# test/perl/CustomerTracking/TestLib.pm.
#
#   q DB SQL                    one result, unaligned
#   log_offset                  current size of the server log (CT_CLUSTER_LOG)
#   log_scan OFFSET ALLOWED_RE  scans the server log written since OFFSET; sets LOG_ERRORS,
#                               LOG_DEADLOCKS, LOG_FATALS (FATAL/PANIC), LOG_SIGNALS (a server
#                               process killed by a signal), LOG_WARNINGS (unexpected warnings),
#                               ignoring lines that match ALLOWED_RE, and prints the first entries
#                               found (with their DETAIL/CONTEXT lines, shortened)
#   log_clean OFFSET ALLOWED_RE log_scan, then fails (status 1, with a FAIL line) when it found
#                               any entry; passes without a server log to read (no CT_CLUSTER_LOG)

PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 --no-psqlrc)

q() { # q DB SQL: the result, unaligned, no header
	"${PSQL[@]}" -d "$1" -At -c "$2"
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

log_clean()
{
	[ -n "${CT_CLUSTER_LOG:-}" ] || return 0
	log_scan "$1" "$2"
	if [ "$LOG_ERRORS" -ne 0 ] || [ "$LOG_FATALS" -ne 0 ] || [ "$LOG_SIGNALS" -ne 0 ] ||
		[ "$LOG_WARNINGS" -ne 0 ]; then
		echo "FAIL: server log: $LOG_ERRORS ERROR ($LOG_DEADLOCKS deadlocks), $LOG_FATALS FATAL/PANIC," \
			"$LOG_SIGNALS processes killed by a signal, $LOG_WARNINGS WARNING entries"
		return 1
	fi
}
