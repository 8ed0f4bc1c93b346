#!/usr/bin/env bash
# The single test command for customer_tracking (fresh Debian bookworm, as root or not):
#
#   bash scripts/test.sh            # everything: build, unit, regression, isolation, TAP, scripts
#   bash scripts/test.sh --long     # also the long load/crash tests (CT_LONG_TESTS=1)
#
# It installs the dependencies (scripts/install-deps.sh, scripts/install-citus.sh), builds from
# clean (make clean; make: any "warning:" fails), installs (make install), starts a throwaway
# cluster (scripts/lib/cluster.sh: owned by the OS user postgres when run as root, unix socket
# only, free port), runs the make targets `unit`, `regresscheck`, `isolationcheck`, `tapcheck`
# and `scriptcheck` (see the Makefile and CONTRIBUTING.md) and stops the cluster, whatever happens.
#
# Output ends with one line "N passed, N failed": each unit test (ctest), each pg_regress test,
# each isolation spec, each TAP test file, each test script; a failed dependency install, build,
# warning check, install or lint counts as one failure each, and tests that could not run
# because of it count as failed. Exit status is 0 only when nothing failed.
#
# Environment:
#   CT_LINT=1             also run scripts/lint.sh (clang-format + clang-tidy); off by default
#   CT_SKIP_DEPS=1        do not run scripts/install-deps.sh
#   CT_SKIP_CITUS=1       do not install Citus; test/scripts/citus_cluster.sh then skips
#   CT_SCRIPT_TIMEOUT=S   timeout per test/scripts/*.sh and per TAP test file (default 1200 s,
#                         7200 s with --long)
#   CT_TMP_BASE           where temporary directories go (default /tmp)
#   PG_CONFIG             default /usr/lib/postgresql/15/bin/pg_config
# Logs of every step are kept in build/test-logs/.
set -uo pipefail
export LC_ALL=C # byte-order test lists and untranslated messages, whatever the machine

LONG=0
for arg in "$@"; do
	case "$arg" in
		--long) LONG=1 ;;
		-h | --help) sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'; exit 0 ;;
		*) echo "test.sh: unknown argument: $arg (see --help)" >&2; exit 2 ;;
	esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config} CT_LONG_TESTS=$LONG
export CT_SCRIPT_TIMEOUT=${CT_SCRIPT_TIMEOUT:-$([ "$LONG" = 1 ] && echo 7200 || echo 1200)}
# shellcheck source=scripts/lib/cluster.sh
source "$ROOT/scripts/lib/cluster.sh"
LOGDIR="$ROOT/build/test-logs"
START_TIME=$SECONDS PASSED=0 FAILED=0 FAILURES=() CHILD="" TAILER=""
REGRESS_TESTS=() ISOLATION_TESTS=() TAP_TESTS=() SCRIPT_TESTS=()
for f in sql/*.sql; do [ -e "$f" ] && REGRESS_TESTS+=("$(basename "$f" .sql)"); done
for f in test/isolation/specs/*.spec; do [ -e "$f" ] && ISOLATION_TESTS+=("$(basename "$f" .spec)"); done
for f in test/t/*.pl; do [ -e "$f" ] && TAP_TESTS+=("$f"); done
for f in test/scripts/*.sh; do [ -e "$f" ] && SCRIPT_TESTS+=("$f"); done

pass() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$1"); }
section() { printf '\n==== %s ====\n' "$*"; }

cleanup()
{
	local p
	for p in $CHILD $TAILER; do kill -TERM "$p" 2>/dev/null && wait "$p" 2>/dev/null; done
	CHILD="" TAILER=""
	ct_cluster_stop
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

finish()
{
	cleanup
	section "summary ($((SECONDS - START_TIME)) s)"
	[ "$FAILED" -eq 0 ] || { echo "failed:"; printf '  %s\n' "${FAILURES[@]}"; }
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

# step LOG CMD...: CMD shown as it runs and kept in LOG. In the background, so that INT/TERM
# reach our trap at once; timeout (no time limit) passes them on to the whole step.
step()
{
	local log=$1 rc
	shift
	: >"$log"
	timeout 0 "$@" >"$log" 2>&1 </dev/null &
	CHILD=$!
	tail -n +1 -f --pid="$CHILD" "$log" &
	TAILER=$!
	wait "$CHILD"
	rc=$?
	wait "$TAILER"
	CHILD="" TAILER=""
	return "$rc"
}

# count KIND LOG TEST...: a test passes when LOG has its line "TEST ... ok" (pg_regress, prove,
# the make targets) or "Test #N: TEST ...  Passed" (ctest), and none saying otherwise.
count()
{
	local kind=$1 log=$2 line t
	local -A st=()
	local re='^(test[[:space:]]+|[[:space:]]*[0-9]+/[0-9]+ Test +#[0-9]+: )?[[:space:]]*([^[:space:]]+)[[:space:]]+\.{2,}[[:space:]]*(\*\*\*)?([A-Za-z]+)'
	shift 2
	while IFS= read -r line; do
		[[ $line =~ $re ]] || continue
		t=${BASH_REMATCH[2]}
		case ${BASH_REMATCH[4]} in
			ok | Passed) st[$t]=${st[$t]:-ok} ;;
			*) st[$t]=${BASH_REMATCH[4]} ;;
		esac
	done <"$log"
	for t in "$@"; do
		case ${st[$t]:-} in
			ok) pass ;;
			"") fail "$kind: $t (did not run; log: $log)" ;;
			*) fail "$kind: $t (${st[$t]}; log: $log)" ;;
		esac
	done
}

# Everything that needs the installed extension and a server is counted failed if it cannot run.
fail_server_tests()
{
	local t
	for t in "${REGRESS_TESTS[@]}"; do fail "regress: $t (not run: $1)"; done
	for t in "${ISOLATION_TESTS[@]}"; do fail "isolation: $t (not run: $1)"; done
	for t in "${TAP_TESTS[@]}"; do fail "tap: $t (not run: $1)"; done
	for t in "${SCRIPT_TESTS[@]}"; do fail "script: $t (not run: $1)"; done
	finish
}

echo "customer_tracking tests: ${#REGRESS_TESTS[@]} regression, ${#ISOLATION_TESTS[@]} isolation," \
	"${#TAP_TESTS[@]} TAP, ${#SCRIPT_TESTS[@]} script tests; long tests: $([ "$LONG" = 1 ] && echo on || echo off)"

section "dependencies"
if [ "${CT_SKIP_DEPS:-0}" = 1 ]; then
	echo "skipped (CT_SKIP_DEPS=1)"
elif ! bash scripts/install-deps.sh; then
	fail "install-deps.sh"
	fail_server_tests "dependencies missing"
fi
mkdir -p "$LOGDIR"
rm -rf "$LOGDIR"/*.log "$LOGDIR/scripts" "$LOGDIR/tap"

section "Citus for the cluster test (scripts/install-citus.sh)"
# Built from ../shared/vendor/citus when not installed; test/scripts/citus_cluster.sh skips,
# with the reason, when Citus cannot be had.
if [ "${CT_SKIP_CITUS:-0}" = 1 ]; then
	export CT_CITUS_SKIP="CT_SKIP_CITUS=1"
	echo "skipped (CT_SKIP_CITUS=1)"
else
	step "$LOGDIR/citus.log" bash scripts/install-citus.sh
	case $? in
		0) ;;
		3) export CT_CITUS_SKIP="Citus is not installed and its source (../shared/vendor/citus) was not found" ;;
		*) fail "install-citus.sh; log: $LOGDIR/citus.log"; export CT_CITUS_SKIP="scripts/install-citus.sh failed" ;;
	esac
fi

section "build (make clean; make; make install)"
BUILD_OK=1
make clean PG_CONFIG="$PG_CONFIG" >"$LOGDIR/clean.log" 2>&1
step "$LOGDIR/build.log" make -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$PG_CONFIG" ||
	{ fail "build (make); log: $LOGDIR/build.log"; BUILD_OK=0; }
if grep -n 'warning:' "$LOGDIR/build.log"; then
	fail "build has compiler warnings ($(grep -c 'warning:' "$LOGDIR/build.log")); log: $LOGDIR/build.log"
fi
if [ "$BUILD_OK" = 1 ] && ! step "$LOGDIR/install.log" make install PG_CONFIG="$PG_CONFIG"; then
	fail "install (make install); log: $LOGDIR/install.log"
	BUILD_OK=0
fi

section "unit tests (make unit: GoogleTest via CMake/ctest)"
step "$LOGDIR/unit.log" make unit PG_CONFIG="$PG_CONFIG"
unit_rc=$?
mapfile -t unit_tests < <(sed -nE 's/^ *[0-9]+\/[0-9]+ Test +#[0-9]+: ([^ ]+) .*/\1/p' "$LOGDIR/unit.log")
count unit "$LOGDIR/unit.log" "${unit_tests[@]}"
if [ "$unit_rc" -ne 0 ] && [ ${#unit_tests[@]} -eq 0 ]; then
	fail "unit tests: build or ctest failed (exit $unit_rc); log: $LOGDIR/unit.log"
fi
if grep -n 'warning:' "$LOGDIR/unit.log"; then # the unit tests compile warning-free too
	fail "unit tests have compiler warnings ($(grep -c 'warning:' "$LOGDIR/unit.log")); log: $LOGDIR/unit.log"
fi

if [ "${CT_LINT:-0}" = 1 ]; then
	section "lint (CT_LINT=1: scripts/lint.sh)"
	if step "$LOGDIR/lint.log" bash scripts/lint.sh; then pass; else fail "lint; log: $LOGDIR/lint.log"; fi
fi

[ "$BUILD_OK" = 1 ] || fail_server_tests "build or install failed"
section "throwaway PostgreSQL cluster"
ct_cluster_start || { fail "cluster start"; fail_server_tests "cluster did not start"; }
export PGDATABASE=postgres

# check KIND TARGET VAR TEST...: make TARGET against the cluster, its list of tests passed as VAR
# (the tests counted are the ones run), then each counted.
check()
{
	local kind=$1 target=$2 var=$3
	shift 3
	[ $# -gt 0 ] || return 0
	section "$kind tests (make $target)"
	ct_cluster_ensure_up
	step "$LOGDIR/$kind.log" make "$target" PG_CONFIG="$PG_CONFIG" "$var=$*"
	count "$kind" "$LOGDIR/$kind.log" "$@"
}
before=$FAILED
check regress regresscheck REGRESS "${REGRESS_TESTS[@]}"
check isolation isolationcheck ISOLATION "${ISOLATION_TESTS[@]}"
check tap tapcheck TAP_TESTS "${TAP_TESTS[@]}"
check script scriptcheck SCRIPT_TESTS "${SCRIPT_TESTS[@]}"
[ "$FAILED" -eq "$before" ] || ct_cluster_log_tail 80
finish
