# shellcheck shell=bash
# The reference dashboard (examples/dashboard) for the demo and its browser test. Source this
# file (after scripts/lib/cluster.sh has started a cluster), then:
#
#   ct_dashboard_npm_ci        # npm ci in examples/dashboard, skipped when node_modules matches
#                              # package-lock.json already
#   ct_dashboard_prepare_db DB # roles, host grants and the empty demo shop (examples/dashboard/sql)
#   ct_dashboard_start DB [PORT] [LOG]
#                              # starts server.js in the background on 127.0.0.1:PORT (default
#                              # 8080, any free port if that one is taken) and exports
#                              # CT_DASHBOARD_URL and CT_DASHBOARD_PID
#   ct_dashboard_stop          # stops it (safe to call twice)

CT_DASHBOARD_DIR=${CT_DASHBOARD_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../../examples/dashboard" && pwd)}
CT_DASHBOARD_PID=${CT_DASHBOARD_PID:-}

ct_dashboard_npm_ci()
{
	local stamp="$CT_DASHBOARD_DIR/node_modules/.ct-package-lock.json"
	if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
		echo "dashboard: node and npm are needed (bash scripts/install-deps.sh installs them)" >&2
		return 1
	fi
	if [ -f "$stamp" ] && cmp -s "$stamp" "$CT_DASHBOARD_DIR/package-lock.json"; then
		echo "dashboard: node_modules up to date"
		return 0
	fi
	(cd "$CT_DASHBOARD_DIR" && npm ci --no-audit --no-fund --loglevel=error) || return 1
	cp "$CT_DASHBOARD_DIR/package-lock.json" "$stamp"
}

ct_dashboard_prepare_db()
{
	local db=$1
	"$PGBIN/psql" -X -q -v ON_ERROR_STOP=1 -d "$db" \
		-f "$CT_DASHBOARD_DIR/sql/setup.sql" -f "$CT_DASHBOARD_DIR/sql/demo-extra.sql"
}

# Start the server and wait for its "dashboard: URL" line (or its exit).
_ct_dashboard_try()
{
	local db=$1 port=$2 log=$3 _
	: >"$log"
	PGDATABASE=$db node "$CT_DASHBOARD_DIR/server.js" --host 127.0.0.1 --port "$port" >>"$log" 2>&1 &
	CT_DASHBOARD_PID=$!
	for _ in $(seq 1 300); do
		if grep -q '^dashboard: http' "$log"; then
			CT_DASHBOARD_URL=$(sed -n 's/^dashboard: \(http[^ ]*\).*/\1/p' "$log" | head -n 1)
			export CT_DASHBOARD_URL CT_DASHBOARD_PID
			return 0
		fi
		if ! kill -0 "$CT_DASHBOARD_PID" 2>/dev/null; then
			wait "$CT_DASHBOARD_PID" 2>/dev/null || true
			CT_DASHBOARD_PID=""
			return 1
		fi
		sleep 0.1
	done
	echo "dashboard: no URL from server.js after 30 s; log:" >&2
	cat "$log" >&2
	ct_dashboard_stop
	return 1
}

ct_dashboard_start()
{
	local db=$1 port=${2:-8080} log=${3:-${CT_CLUSTER_DIR:-/tmp}/dashboard.log}
	if _ct_dashboard_try "$db" "$port" "$log"; then
		return 0
	fi
	if [ "$port" != 0 ] && grep -q EADDRINUSE "$log"; then
		echo "dashboard: port $port is taken; using a free one"
		_ct_dashboard_try "$db" 0 "$log" && return 0
	fi
	echo "dashboard: server.js did not start; log ($log):" >&2
	cat "$log" >&2
	return 1
}

ct_dashboard_stop()
{
	if [ -n "${CT_DASHBOARD_PID:-}" ]; then
		kill -TERM "$CT_DASHBOARD_PID" 2>/dev/null || true
		wait "$CT_DASHBOARD_PID" 2>/dev/null || true
		CT_DASHBOARD_PID=""
	fi
}
