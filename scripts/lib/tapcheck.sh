#!/usr/bin/env bash
# `make tapcheck`: the TAP tests (test/t/*.pl, PostgreSQL::Test::Cluster) through `make
# prove_installcheck`, runnable as root. Each test starts its own clusters from the PostgreSQL of
# PG_CONFIG, where the extension must be installed. initdb refuses root, so as root make runs as
# the OS user postgres (runuser), in a directory it owns (a VPATH invocation of the Makefile:
# tmp_check/ with the tests' logs goes there).
#
#   bash scripts/lib/tapcheck.sh DIR TEST...   (DIR: where tmp_check/ goes; TEST: test/t/NAME.pl)
#
# Environment: PG_CONFIG; CT_SCRIPT_TIMEOUT (seconds per test file: 1200, 7200 with
# CT_LONG_TESTS=1). prove's line per file says "test/t/NAME.pl .. ok"; a file that did not pass
# gets a line "test/t/NAME.pl ... FAILED" at the end, with its failed assertions and the end of
# its log. Exit status 0 when every file passed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
unset MAKEFLAGS MFLAGS MAKELEVEL # run as from a shell, whether make started us or not
dir=$1
shift
mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
timeout_s=${CT_SCRIPT_TIMEOUT:-$([ "${CT_LONG_TESTS:-0}" = 1 ] && echo 7200 || echo 1200)}
RUNAS=()
if [ "$(id -u)" -eq 0 ]; then
	chown postgres:postgres "$dir"
	RUNAS=(runuser -u postgres --)
fi

log="$dir/prove.log"
"${RUNAS[@]}" timeout --kill-after=30 $((timeout_s * $#)) \
	make -C "$dir" -f "$ROOT/Makefile" prove_installcheck PG_CONFIG="${PG_CONFIG:?}" \
	PROVE_TESTS="$*" </dev/null 2>&1 | tee "$log"
prc=${PIPESTATUS[0]}
[ "$prc" -ne 124 ] || echo "(timed out after $((timeout_s * $#)) s)"

# prove prints "test/t/NAME.pl .. ok" for a file whose every assertion passed; the others get
# their line "test/t/NAME.pl ... FAILED" here.
rc=$((prc != 0))
for t in "$@"; do
	grep -qE "^${t//./\\.} \.+ ok" "$log" && continue
	rc=1
	tlog="$dir/tmp_check/log/regress_log_$(basename "$t" .pl)"
	echo "$t ... FAILED (log: $tlog)"
	if [ -f "$tlog" ]; then
		echo "----- $tlog (failed assertions, then the last 60 lines) -----"
		grep -E '(^|\) )not ok ' "$tlog" | head -n 20
		echo "..."
		tail -n 60 "$tlog"
		echo "-----"
	fi
done
exit "$rc"
