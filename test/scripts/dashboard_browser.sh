#!/usr/bin/env bash
# The reference dashboard (examples/dashboard) in a real browser: headless Chromium (Debian's
# chromium package) driven by playwright-core, from examples/dashboard/test/browser.test.mjs.
#
#   1. a cluster of its own (the PostgREST-style roles anon/authenticated/authenticator it creates
#      are cluster-wide: they must not change what the other tests' CREATE EXTENSION grants to);
#   2. a database as the demo has it: host schema, CREATE EXTENSION, the demo orders
#      (test/fixtures/demo-orders.sql), examples/dashboard/sql/setup.sql (roles, host grants) and
#      sql/demo-extra.sql (a shop with no orders);
#   3. npm ci in examples/dashboard (skipped when node_modules is current), the dashboard on a free
#      loopback port, then node --test: every page at a desktop and a phone width without console
#      errors, the numbers on the pages equal to the SQL functions' results for the same owner,
#      a stranger seeing none of another shop's data, a shop with zero customers;
#   4. screenshots in build/dashboard-screenshots/ (kept), the server log alongside.
#
# Environment (scripts/test.sh): PG_CONFIG, CT_SCRATCH. Exit status 0 = pass.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
SHOTS="$ROOT/build/dashboard-screenshots"
DB=ct_dashboard
T0=$SECONDS

for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "FAIL: $tool is not installed (bash scripts/install-deps.sh)"
		exit 1
	fi
done
CHROMIUM=${CHROMIUM:-$(command -v chromium || true)}
if [ -z "$CHROMIUM" ]; then
	echo "FAIL: chromium is not installed (bash scripts/install-deps.sh)"
	exit 1
fi
echo "node $(node --version), $("$CHROMIUM" --version 2>/dev/null | head -n 1)"

# shellcheck source=scripts/lib/cluster.sh
source "$ROOT/scripts/lib/cluster.sh"
# shellcheck source=scripts/lib/dashboard.sh
source "$ROOT/scripts/lib/dashboard.sh"

cleanup()
{
	ct_dashboard_stop
	ct_cluster_stop
}
trap cleanup EXIT

# Our own cluster: unset what scripts/test.sh exported for the shared one.
unset PGHOST PGPORT PGDATA CT_CLUSTER_DIR CT_CLUSTER_LOG
ct_cluster_start || exit 1
export PGUSER=postgres PGDATABASE=$DB
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" || exit 1
"${PSQL[@]}" -d "$DB" -f test/fixtures/host-schema.sql -c 'CREATE EXTENSION customer_tracking' || exit 1
"${PSQL[@]}" -d "$DB" -f test/fixtures/demo-orders.sql >/dev/null 2>"$CT_CLUSTER_DIR/demo-orders.err" || {
	cat "$CT_CLUSTER_DIR/demo-orders.err"
	exit 1
}
ct_dashboard_prepare_db "$DB" || exit 1
echo "database ready ($((SECONDS - T0)) s)"

ct_dashboard_npm_ci || {
	echo "FAIL: npm ci in examples/dashboard"
	exit 1
}

mkdir -p "$SHOTS"
rm -f "$SHOTS"/*.png
ct_dashboard_start "$DB" 0 "$SHOTS/server.log" || exit 1
echo "dashboard at $CT_DASHBOARD_URL ($((SECONDS - T0)) s)"

(cd "$CT_DASHBOARD_DIR" &&
	DASHBOARD_URL=$CT_DASHBOARD_URL SCREENSHOT_DIR=$SHOTS CHROMIUM=$CHROMIUM \
		timeout --kill-after=10 300 node --test --test-concurrency=1 --test-reporter=spec test/)
rc=$?

ct_dashboard_stop
if grep -q 'dashboard: .*: ' "$SHOTS/server.log"; then
	echo "FAIL: the dashboard logged errors:"
	grep 'dashboard: .*: ' "$SHOTS/server.log"
	rc=1
fi
if grep -E 'ERROR|FATAL|PANIC' "$CT_CLUSTER_LOG" >/dev/null; then
	echo "FAIL: the server log has errors:"
	grep -E 'ERROR|FATAL|PANIC' "$CT_CLUSTER_LOG" | head -n 20
	rc=1
fi
echo "screenshots: $SHOTS ($(find "$SHOTS" -name '*.png' | wc -l) files)"
echo "dashboard_browser: $([ "$rc" -eq 0 ] && echo PASS || echo FAIL) ($((SECONDS - T0)) s)"
exit "$rc"
