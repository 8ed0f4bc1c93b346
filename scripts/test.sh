#!/usr/bin/env bash
# The single test command for customer_tracking (fresh Debian bookworm, as root):
#
#   bash scripts/test.sh            # everything: build, unit, regression, isolation, TAP, scripts
#   bash scripts/test.sh --long     # also the long load/crash tests (CT_LONG_TESTS=1)
#
# Steps:
#   1. scripts/install-deps.sh (returns at once when everything is installed), then
#      scripts/install-citus.sh (builds Citus for the cluster test when it is not installed)
#   2. make clean; make (fails on any "warning:" line in the build log); make install
#   3. GoogleTest unit tests (make unit: CMake in build/, ctest)
#   4. optional lint (CT_LINT=1: scripts/lint.sh)
#   5. a throwaway PostgreSQL 15 cluster (scripts/lib/cluster.sh) in a temp dir, owned by the OS
#      user postgres, unix socket only, on a free port
#   6. make installcheck: pg_regress over sql/*.sql, then pg_isolation_regress over
#      test/isolation/specs/*.spec (run as root, connecting as PGUSER=postgres over the socket)
#   7. make prove_installcheck: the TAP tests test/t/*.pl (PostgreSQL::Test::Cluster; each starts
#      its own cluster). initdb refuses root, so as root they run as the OS user postgres, from
#      build/test-logs/tap (owned by postgres; tmp_check/log/ there keeps their logs)
#   8. every test/scripts/*.sh, with cwd = repo root and env PGHOST PGPORT PGUSER PGBIN PGDATA
#      PG_CONFIG CT_CLUSTER_DIR CT_CLUSTER_LOG CT_PG_RUNAS CT_SCRATCH CT_LONG_TESTS;
#      exit status 0 = pass
#   The cluster is stopped and its temp dir removed on exit, whatever happens.
#
# Output ends with one line "N passed, N failed" (unit tests as counted by ctest, each
# pg_regress test, each isolation spec, each TAP test file (test/t/*.pl: one test however many
# assertions it makes), each test script; a failed dependency install, build,
# warning check, install or lint counts as one failure each, and tests that could not run
# because of it count as failed). Exit status is 0 only when nothing failed.
#
# Environment:
#   CT_LINT=1             also run scripts/lint.sh (clang-format + clang-tidy); off by default
#   CT_SKIP_DEPS=1        do not run scripts/install-deps.sh
#   CT_SKIP_CITUS=1       do not install Citus; test/scripts/citus_cluster.sh then skips
#   CT_SCRIPT_TIMEOUT=S   timeout per test/scripts/*.sh and per TAP test file (default 1200 s,
#                         7200 s with --long)
#   PG_CONFIG             default /usr/lib/postgresql/15/bin/pg_config
# Logs of every step are kept in build/test-logs/.
set -uo pipefail
export LC_ALL=C   # byte-order test lists and untranslated messages, whatever the machine

usage()
{
	sed -n '2,/^set -uo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

LONG=0
for arg in "$@"; do
	case "$arg" in
		--long) LONG=1 ;;
		-h | --help) usage; exit 0 ;;
		*) echo "test.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
	esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 2
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
# shellcheck source=scripts/lib/cluster.sh
source "$ROOT/scripts/lib/cluster.sh"

export CT_LONG_TESTS=$LONG
START_TIME=$SECONDS
PASSED=0
FAILED=0
FAILURES=()
LOGDIR="$ROOT/build/test-logs"
WORKTMP=$(mktemp -d "${CT_TMP_BASE:-/tmp}/ct-test.XXXXXX") || exit 2
CHILD=""
CT_SCRATCH=""

pass() { PASSED=$((PASSED + ${1:-1})); }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$1"); }
section() { printf '\n==== %s ====\n' "$*"; }

cleanup()
{
	if [ -n "${CHILD:-}" ]; then
		kill -TERM "$CHILD" 2>/dev/null
		wait "$CHILD" 2>/dev/null
		CHILD=""
	fi
	ct_cluster_stop
	if [ -n "${CT_SCRATCH:-}" ]; then
		rm -rf "$CT_SCRATCH"
		CT_SCRATCH=""
	fi
	if [ -n "${WORKTMP:-}" ]; then
		rm -rf "$WORKTMP"
		WORKTMP=""
	fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

finish()
{
	cleanup
	section "summary ($((SECONDS - START_TIME)) s)"
	if [ ${#FAILURES[@]} -gt 0 ]; then
		echo "failed:"
		printf '  %s\n' "${FAILURES[@]}"
	fi
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
	exit $?
}

# Print a file (at most N lines) under a header.
show_file()
{
	local file=$1 max=${2:-400} n
	[ -s "$file" ] || return 0
	n=$(wc -l <"$file")
	echo "----- $file ($n lines) -----"
	head -n "$max" "$file"
	[ "$n" -le "$max" ] || echo "... (truncated; see $file)"
	echo "-----"
}

# Test names in pg_regress-style output, with their status:
#   "test foo                ... ok          12 ms"  /  "     foo ... FAILED"
# Prints "name status" lines.
parse_regress_output()
{
	local line re='^(test[[:space:]]+)?[[:space:]]*([^[:space:]]+)[[:space:]]+\.\.\.[[:space:]]+(ok|FAILED|failed)'
	while IFS= read -r line; do
		if [[ $line =~ $re ]]; then
			echo "${BASH_REMATCH[2]} ${BASH_REMATCH[3]}"
		fi
	done <"$1"
}

# Count each expected test of a pg_regress run as passed or failed.
count_regress()
{
	local kind=$1 log=$2
	shift 2
	local -A status=()
	local name st t
	while read -r name st; do
		status[$name]=$st
	done < <(parse_regress_output "$log")
	for t in "$@"; do
		st=${status[$t]:-}
		if [ "$st" = ok ]; then
			pass
		elif [ -n "$st" ]; then
			fail "$kind: $t ($st)"
		else
			fail "$kind: $t (did not run)"
		fi
	done
}

REGRESS_TESTS=()
for f in sql/*.sql; do
	[ -e "$f" ] && REGRESS_TESTS+=("$(basename "$f" .sql)")
done
ISOLATION_TESTS=()
for f in test/isolation/specs/*.spec; do
	[ -e "$f" ] && ISOLATION_TESTS+=("$(basename "$f" .spec)")
done
TAP_TESTS=()
for f in test/t/*.pl; do
	[ -e "$f" ] && TAP_TESTS+=("$f")
done
SCRIPT_TESTS=()
for f in test/scripts/*.sh; do
	[ -e "$f" ] && SCRIPT_TESTS+=("$f")
done

# pg_regress stops at the first test without an expected file, so the tests after it would not
# run. If some are missing, run from a temporary input dir where the real sql/specs and expected
# files are symlinked and the missing expected files are empty: those tests then fail with their
# whole output as the diff, and the others still run.
# Usage: prepare_inputdir SRC_DIR SCRIPTS_SUBDIR EXT TESTS...; prints the dir to use.
prepare_inputdir()
{
	local src=$1 sub=$2 ext=$3 t missing=() dir f
	shift 3
	for t in "$@"; do
		[ -e "$src/expected/$t.out" ] || missing+=("$t")
	done
	if [ ${#missing[@]} -eq 0 ]; then
		echo "$src"
		return
	fi
	dir="$WORKTMP/inputdir-$sub"
	rm -rf "$dir"
	mkdir -p "$dir"
	ln -s "$ROOT/$src/$sub" "$dir/$sub"
	for f in input output data; do
		[ ! -e "$ROOT/$src/$f" ] || ln -s "$ROOT/$src/$f" "$dir/$f"
	done
	mkdir "$dir/expected"
	for f in "$ROOT/$src"/expected/*; do
		[ ! -e "$f" ] || ln -s "$f" "$dir/expected/"
	done
	for t in "${missing[@]}"; do
		: >"$dir/expected/$t.out"
		echo "NOTE: $src/expected/$t.out is missing: $t will fail; its output will be in" \
			"$([ "$ext" = spec ] && echo output_iso/)results/$t.out" >&2
	done
	echo "$dir"
}

# Everything that needs the installed extension and a server is counted failed if it cannot run.
fail_server_tests()
{
	local why=$1 t
	for t in "${REGRESS_TESTS[@]}"; do fail "regress: $t (not run: $why)"; done
	for t in "${ISOLATION_TESTS[@]}"; do fail "isolation: $t (not run: $why)"; done
	for t in "${TAP_TESTS[@]}"; do fail "tap: $t (not run: $why)"; done
	for t in "${SCRIPT_TESTS[@]}"; do fail "script: $t (not run: $why)"; done
}

echo "customer_tracking tests: ${#REGRESS_TESTS[@]} regression, ${#ISOLATION_TESTS[@]} isolation," \
	"${#TAP_TESTS[@]} TAP, ${#SCRIPT_TESTS[@]} script tests; long tests: $([ "$LONG" = 1 ] && echo on || echo off)"

# ---------------------------------------------------------------------------------------------
section "dependencies"
if [ "${CT_SKIP_DEPS:-0}" = 1 ]; then
	echo "skipped (CT_SKIP_DEPS=1)"
elif ! bash "$ROOT/scripts/install-deps.sh"; then
	fail "install-deps.sh"
	fail_server_tests "dependencies missing"
	finish
fi
mkdir -p "$LOGDIR"
rm -f "$LOGDIR"/*.log
rm -rf "$LOGDIR/scripts" "$LOGDIR/tap"

# ---------------------------------------------------------------------------------------------
section "Citus for the cluster test (scripts/install-citus.sh)"
# Builds Citus from ../shared/vendor/citus when it is not installed (a few minutes, once).
# test/scripts/citus_cluster.sh skips, with the reason, when Citus cannot be had.
if [ "${CT_SKIP_CITUS:-0}" = 1 ]; then
	export CT_CITUS_SKIP="CT_SKIP_CITUS=1"
	echo "skipped (CT_SKIP_CITUS=1)"
else
	PG_CONFIG="$PG_CONFIG" bash "$ROOT/scripts/install-citus.sh" 2>&1 | tee "$LOGDIR/citus.log"
	case ${PIPESTATUS[0]} in
		0) ;;
		3) export CT_CITUS_SKIP="Citus is not installed and its source (../shared/vendor/citus) was not found" ;;
		*)
			fail "install-citus.sh; log: $LOGDIR/citus.log"
			export CT_CITUS_SKIP="scripts/install-citus.sh failed"
			;;
	esac
fi

# ---------------------------------------------------------------------------------------------
section "build (make)"
BUILD_OK=1
make clean PG_CONFIG="$PG_CONFIG" >"$LOGDIR/clean.log" 2>&1
make -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$PG_CONFIG" 2>&1 | tee "$LOGDIR/build.log"
if [ "${PIPESTATUS[0]}" -ne 0 ]; then
	fail "build (make); log: $LOGDIR/build.log"
	BUILD_OK=0
fi
if grep -q 'warning:' "$LOGDIR/build.log"; then
	echo
	echo "compiler warnings:"
	grep -n 'warning:' "$LOGDIR/build.log"
	fail "build has compiler warnings ($(grep -c 'warning:' "$LOGDIR/build.log")); log: $LOGDIR/build.log"
fi

if [ "$BUILD_OK" = 1 ]; then
	section "install (make install)"
	if ! make install PG_CONFIG="$PG_CONFIG" 2>&1 | tee "$LOGDIR/install.log"; then
		fail "install (make install); log: $LOGDIR/install.log"
		BUILD_OK=0
	fi
fi

# ---------------------------------------------------------------------------------------------
section "unit tests (GoogleTest via CMake/ctest)"
make unit PG_CONFIG="$PG_CONFIG" 2>&1 | tee "$LOGDIR/unit.log"
unit_rc=${PIPESTATUS[0]}
unit_summary=$(grep -E '^[0-9]+% tests passed, [0-9]+ tests? failed out of [0-9]+' "$LOGDIR/unit.log" | tail -n 1)
if [ -n "$unit_summary" ]; then
	unit_failed=$(sed -E 's/.* ([0-9]+) tests? failed out of ([0-9]+).*/\1/' <<<"$unit_summary")
	unit_total=$(sed -E 's/.* failed out of ([0-9]+).*/\1/' <<<"$unit_summary")
	pass $((unit_total - unit_failed))
	named=0
	while IFS= read -r t; do
		fail "unit: $t"
		named=$((named + 1))
	done < <(sed -n '/The following tests FAILED:/,$p' "$LOGDIR/unit.log" |
		sed -nE 's/^[[:space:]]+[0-9]+ - (.*)$/\1/p')
	# Failures ctest counted but whose names we could not read.
	while [ "$named" -lt "$unit_failed" ]; do
		fail "unit: (unnamed)"
		named=$((named + 1))
	done
elif grep -q 'No tests were found' "$LOGDIR/unit.log" && [ "$unit_rc" -eq 0 ]; then
	echo "(no unit tests yet)"
else
	fail "unit tests: build or ctest failed (exit $unit_rc); log: $LOGDIR/unit.log"
fi
# The unit tests compile warning-free too.
if grep -q 'warning:' "$LOGDIR/unit.log"; then
	grep -n 'warning:' "$LOGDIR/unit.log"
	fail "unit tests have compiler warnings ($(grep -c 'warning:' "$LOGDIR/unit.log")); log: $LOGDIR/unit.log"
fi

# ---------------------------------------------------------------------------------------------
if [ "${CT_LINT:-0}" = 1 ]; then
	section "lint (CT_LINT=1)"
	if bash "$ROOT/scripts/lint.sh" 2>&1 | tee "$LOGDIR/lint.log"; then
		pass
	else
		fail "lint; log: $LOGDIR/lint.log"
	fi
fi

# ---------------------------------------------------------------------------------------------
if [ "$BUILD_OK" != 1 ]; then
	fail_server_tests "build or install failed"
	finish
fi

section "throwaway PostgreSQL cluster"
if ! ct_cluster_start; then
	fail "cluster start"
	fail_server_tests "cluster did not start"
	finish
fi
export PGDATABASE=postgres

SERVER_TROUBLE=0
if [ ${#REGRESS_TESTS[@]} -gt 0 ]; then
	section "regression tests (pg_regress, sql/)"
	rm -f regression.diffs regression.out
	inputdir=$(prepare_inputdir . sql sql "${REGRESS_TESTS[@]}")
	# The test list is passed explicitly: the one counted is the one run, even if files appear
	# meanwhile.
	make installcheck PG_CONFIG="$PG_CONFIG" ISOLATION= CT_REGRESS_INPUTDIR="$inputdir" \
		REGRESS="${REGRESS_TESTS[*]}" \
		PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" 2>&1 | tee "$LOGDIR/regress.log"
	before=$FAILED
	count_regress regress "$LOGDIR/regress.log" "${REGRESS_TESTS[@]}"
	if [ "$FAILED" -gt "$before" ]; then
		SERVER_TROUBLE=1
		show_file regression.diffs 600
	fi
fi

if [ ${#ISOLATION_TESTS[@]} -gt 0 ]; then
	ct_cluster_ensure_up
	section "isolation tests (pg_isolation_regress, test/isolation/specs)"
	rm -rf output_iso
	inputdir=$(prepare_inputdir test/isolation specs spec "${ISOLATION_TESTS[@]}")
	make installcheck PG_CONFIG="$PG_CONFIG" REGRESS= CT_ISOLATION_INPUTDIR="$inputdir" \
		ISOLATION="${ISOLATION_TESTS[*]}" \
		PGHOST="$PGHOST" PGPORT="$PGPORT" PGUSER="$PGUSER" 2>&1 | tee "$LOGDIR/isolation.log"
	before=$FAILED
	count_regress isolation "$LOGDIR/isolation.log" "${ISOLATION_TESTS[@]}"
	if [ "$FAILED" -gt "$before" ]; then
		SERVER_TROUBLE=1
		show_file output_iso/regression.diffs 600
	fi
fi

timeout_s=${CT_SCRIPT_TIMEOUT:-$([ "$LONG" = 1 ] && echo 7200 || echo 1200)}

if [ ${#TAP_TESTS[@]} -gt 0 ]; then
	section "TAP tests (make prove_installcheck, test/t/*.pl)"
	# Each test starts its own cluster (PostgreSQL::Test::Cluster) from the PostgreSQL of
	# PG_CONFIG; initdb refuses root, so as root make runs as postgres (runuser), in a build
	# directory it can write (a VPATH invocation of the Makefile: tmp_check/ goes there).
	tapdir="$LOGDIR/tap"
	mkdir -p "$tapdir"
	RUNAS=()
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$tapdir"
		RUNAS=(runuser -u postgres --)
	fi
	# In the background so that INT/TERM reach our trap at once (cleanup() kills it; runuser
	# and timeout pass the signal on).
	"${RUNAS[@]}" timeout --kill-after=30 $((timeout_s * ${#TAP_TESTS[@]})) \
		make -C "$tapdir" -f "$ROOT/Makefile" prove_installcheck PG_CONFIG="$PG_CONFIG" \
		PROVE_TESTS="${TAP_TESTS[*]}" >"$LOGDIR/tap.log" 2>&1 </dev/null &
	CHILD=$!
	wait "$CHILD"
	rc=$?
	CHILD=""
	cat "$LOGDIR/tap.log"
	[ "$rc" -ne 124 ] || echo "(timed out after $((timeout_s * ${#TAP_TESTS[@]})) s)"
	# prove prints "test/t/NAME.pl .. ok" for a file whose every assertion passed.
	for t in "${TAP_TESTS[@]}"; do
		if grep -qE "^${t//./\\.} \.+ ok" "$LOGDIR/tap.log"; then
			pass
		else
			fail "tap: $t; log: $tapdir/tmp_check/log/regress_log_$(basename "$t" .pl)"
			SERVER_TROUBLE=1
			log="$tapdir/tmp_check/log/regress_log_$(basename "$t" .pl)"
			if [ -f "$log" ]; then
				echo "----- $log (failed assertions, then the last 60 lines) -----"
				grep -E '(^|\) )not ok ' "$log" | head -n 20
				echo "..."
				tail -n 60 "$log"
				echo "-----"
			fi
		fi
	done
fi

if [ ${#SCRIPT_TESTS[@]} -gt 0 ]; then
	section "script tests (test/scripts/*.sh)"
	mkdir -p "$LOGDIR/scripts"
	for script in "${SCRIPT_TESTS[@]}"; do
		if ! ct_cluster_ensure_up; then
			fail "script: $script (not run: server could not be restarted)"
			continue
		fi
		log="$LOGDIR/scripts/$(basename "$script" .sh).log"
		CT_SCRATCH=$(mktemp -d "${CT_TMP_BASE:-/tmp}/ct-scratch.XXXXXX")
		[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$CT_SCRATCH"
		t0=$SECONDS
		# In the background so that INT/TERM reach our trap at once (cleanup() kills it).
		CT_SCRATCH=$CT_SCRATCH timeout --kill-after=30 "$timeout_s" bash "$script" >"$log" 2>&1 </dev/null &
		CHILD=$!
		wait "$CHILD"
		rc=$?
		CHILD=""
		rm -rf "$CT_SCRATCH"
		CT_SCRATCH=""
		if [ "$rc" -eq 0 ]; then
			printf '%-50s ... ok       %4d s\n' "$script" $((SECONDS - t0))
			pass
		else
			[ "$rc" -ne 124 ] || echo "(timed out after $timeout_s s)" >>"$log"
			printf '%-50s ... FAILED   %4d s (exit %d)\n' "$script" $((SECONDS - t0)) "$rc"
			fail "script: $script (exit $rc); log: $log"
			SERVER_TROUBLE=1
			echo "----- output of $script (last 200 lines) -----"
			tail -n 200 "$log"
			echo "-----"
		fi
		if ! ct_cluster_running; then
			echo "(the server was down after $script; restarting it)"
		fi
	done
fi

if [ "$SERVER_TROUBLE" = 1 ]; then
	ct_cluster_log_tail 80
fi

finish
