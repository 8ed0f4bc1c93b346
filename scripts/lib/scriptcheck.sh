#!/usr/bin/env bash
# `make scriptcheck`: the shell tests test/scripts/*.sh, one after the other, against the shared
# throwaway cluster (scripts/lib/cluster.sh). scripts/test.sh passes its cluster in the
# environment; without one (CT_CLUSTER_DIR unset) this starts its own and stops it at the end.
#
#   bash scripts/lib/scriptcheck.sh LOGDIR SCRIPT...
#
# Each script runs with bash, cwd = repo root, stdin /dev/null, env PGHOST PGPORT PGUSER
# PGDATABASE PGBIN PGDATA PG_CONFIG CT_CLUSTER_DIR CT_CLUSTER_LOG CT_PG_RUNAS CT_LONG_TESTS and
# CT_SCRATCH (an empty directory writable by postgres, deleted afterwards), with a timeout
# (CT_SCRIPT_TIMEOUT seconds: 1200, 7200 with CT_LONG_TESTS=1); its output goes to
# LOGDIR/NAME.log. Exit status 0 = pass. A script may stop or crash the server: it is started
# again before the next one. Prints "SCRIPT ... ok  N s" or "SCRIPT ... FAILED ..." (then the end
# of its output) per script; exit status 0 when every script passed.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
unset MAKEFLAGS MFLAGS MAKELEVEL # run as from a shell, whether make started us or not
logdir=$1
shift
mkdir -p "$logdir"
export CT_LONG_TESTS=${CT_LONG_TESTS:-0}
timeout_s=${CT_SCRIPT_TIMEOUT:-$([ "$CT_LONG_TESTS" = 1 ] && echo 7200 || echo 1200)}
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
# shellcheck source=scripts/lib/cluster.sh
source "$ROOT/scripts/lib/cluster.sh"

CT_SCRATCH=""
CHILD=""
own_cluster=0
cleanup()
{
	# timeout passes the signal on to the script
	[ -z "$CHILD" ] || { kill -TERM "$CHILD" 2>/dev/null; wait "$CHILD" 2>/dev/null; }
	[ -z "$CT_SCRATCH" ] || rm -rf "$CT_SCRATCH"
	[ "$own_cluster" = 0 ] || ct_cluster_stop
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [ -z "${CT_CLUSTER_DIR:-}" ]; then
	ct_cluster_start || exit 1
	own_cluster=1
fi
export PGDATABASE=${PGDATABASE:-postgres}

rc=0
for script in "$@"; do
	if ! ct_cluster_ensure_up; then
		echo "$script ... FAILED (not run: the server could not be restarted)"
		rc=1
		continue
	fi
	log="$logdir/$(basename "$script" .sh).log"
	CT_SCRATCH=$(mktemp -d "${CT_TMP_BASE:-/tmp}/ct-scratch.XXXXXX") || exit 2
	[ "$(id -u)" -ne 0 ] || chown postgres:postgres "$CT_SCRATCH"
	t0=$SECONDS
	# In the background so that INT/TERM reach our trap at once (cleanup() stops it).
	CT_SCRATCH=$CT_SCRATCH timeout --kill-after=30 "$timeout_s" bash "$script" >"$log" 2>&1 </dev/null &
	CHILD=$!
	wait "$CHILD"
	src=$?
	CHILD=""
	rm -rf "$CT_SCRATCH"
	CT_SCRATCH=""
	if [ "$src" -eq 0 ]; then
		printf '%-50s ... ok       %4d s\n' "$script" $((SECONDS - t0))
	else
		rc=1
		[ "$src" -ne 124 ] || echo "(timed out after $timeout_s s)" >>"$log"
		printf '%-50s ... FAILED   %4d s (exit %d; log: %s)\n' "$script" $((SECONDS - t0)) "$src" "$log"
		echo "----- output of $script (last 200 lines) -----"
		tail -n 200 "$log"
		echo "-----"
	fi
	ct_cluster_running || echo "(the server was down after $script; it is started again before the next script)"
done
exit "$rc"
