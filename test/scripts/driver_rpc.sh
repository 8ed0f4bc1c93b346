#!/usr/bin/env bash
# The dashboard functions from real client drivers, called the way PostgREST / Supabase's rpc()
# calls them: Debian's python3-psycopg and python3-asyncpg (test/drivers/rpc_python.py), node's
# pg and postgres from npm (test/drivers/node/rpc.mjs, installed into test/drivers/node/
# node_modules with npm ci). Both read test/drivers/dashboard_spec.json, the surface as clients
# see it: which functions return one object, a set or a value, and each column's kind (bigint
# counts, money with 2 decimals, rates with 1).
#
#   1. a cluster of its own (the PostgREST roles anon/authenticated/authenticator/service_role it
#      creates are cluster-wide and change what CREATE EXTENSION grants);
#   2. a database as a Supabase project has it: the roles first, so that CREATE EXTENSION grants
#      the dashboard functions to authenticated and service_role only; the host schema, the demo
#      orders (test/fixtures/demo-orders.sql), the dashboard's host grants
#      (examples/dashboard/sql/setup.sql) and a shop with ties on every sort key
#      (test/drivers/fixture.sql); customer_tracking_verify() empty;
#   3. each driver connects as authenticator and checks, for every function of the spec, the
#      shapes (object vs array, JSON literals, decoded types), who may call it (authenticated and
#      not anon for the dashboard, anon for the storefront); then the metrics row as one
#      composite value, the JSON overview, keyset paging with the opaque cursor across session
#      TimeZones and the deprecated p_after_value form, a stranger's zeros, anon refused.
# First of all: every function of the dashboard or storefront audience (src/sql/functions/) has
# its entry in the spec, so that a new one cannot be forgotten.
#
# Environment (scripts/test.sh): PG_CONFIG; CT_PYTHON (default /usr/bin/python3, Debian's).
# Exit status 0 = pass; prints "driver_rpc: PASS|FAIL".
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT" || exit 2
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
DB=ct_driver_rpc
NODE_DIR="$ROOT/test/drivers/node"
PY=${CT_PYTHON:-/usr/bin/python3}
[ -x "$PY" ] || PY=python3
T0=$SECONDS

# Every dashboard or storefront function (its file in src/sql/functions/ ends with
# customer_tracking_set_audience(..., 'dashboard' or 'storefront')) has its entry in the spec, or
# is listed under "unlisted" with the reason.
missing=$("$PY" - <<'PY'
import glob, json, os, re
spec = json.load(open("test/drivers/dashboard_spec.json"))
have = {f["name"] for f in spec["functions"]} | set(spec.get("unlisted", {}))
for path in sorted(glob.glob("src/sql/functions/*.sql")):
    calls = re.findall(r"customer_tracking_set_audience\('([a-z0-9_]+)\(.*'(dashboard|storefront|dba)'\)", open(path).read())
    if calls and calls[-1][1] != "dba" and calls[-1][0] not in have:
        print(f"{calls[-1][0]} ({calls[-1][1]}, {os.path.basename(path)})")
PY
)
if [ -n "$missing" ]; then
	echo "driver_rpc: FAIL (dashboard/storefront functions without an entry in test/drivers/dashboard_spec.json:"
	echo "$missing" | sed 's/^/  /'
	echo ")"
	exit 1
fi

for tool in node npm; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "driver_rpc: FAIL ($tool is not installed; bash scripts/install-deps.sh)"
		exit 1
	fi
done
if ! "$PY" -c 'import psycopg, asyncpg' 2>/dev/null; then
	echo "driver_rpc: FAIL (python3-psycopg and python3-asyncpg are needed for $PY; bash scripts/install-deps.sh)"
	exit 1
fi
echo "node $(node --version), $("$PY" -c 'import psycopg, asyncpg; print("psycopg", psycopg.__version__, "asyncpg", asyncpg.__version__)')"

# node's drivers, pinned by package-lock.json; skipped when node_modules matches it already.
stamp="$NODE_DIR/node_modules/.ct-package-lock.json"
if ! { [ -f "$stamp" ] && cmp -s "$stamp" "$NODE_DIR/package-lock.json"; }; then
	(cd "$NODE_DIR" && npm ci --no-audit --no-fund --loglevel=error) || {
		echo "driver_rpc: FAIL (npm ci in test/drivers/node)"
		exit 1
	}
	cp "$NODE_DIR/package-lock.json" "$stamp"
fi

# shellcheck source=scripts/lib/cluster.sh
source "$ROOT/scripts/lib/cluster.sh"
trap ct_cluster_stop EXIT
# Our own cluster: unset what scripts/test.sh exported for the shared one.
unset PGHOST PGPORT PGDATA CT_CLUSTER_DIR CT_CLUSTER_LOG
ct_cluster_start || exit 1
export PGUSER=postgres PGDATABASE=$DB
PSQL=("$PGBIN/psql" -X -q -v ON_ERROR_STOP=1)
setup_log="$CT_CLUSTER_DIR/setup.log"
if ! {
	"${PSQL[@]}" -d postgres -c "CREATE DATABASE $DB" &&
		"${PSQL[@]}" -c "CREATE ROLE anon NOLOGIN; CREATE ROLE authenticated NOLOGIN;
		                 CREATE ROLE service_role NOLOGIN BYPASSRLS;
		                 CREATE ROLE authenticator LOGIN NOINHERIT;
		                 GRANT anon, authenticated, service_role TO authenticator" &&
		"${PSQL[@]}" -f test/fixtures/host-schema.sql -c 'CREATE EXTENSION customer_tracking' &&
		"${PSQL[@]}" -f test/fixtures/demo-orders.sql -f examples/dashboard/sql/setup.sql \
			-f test/drivers/fixture.sql
} >"$setup_log" 2>&1; then
	cat "$setup_log"
	echo "driver_rpc: FAIL (could not set up the database)"
	exit 1
fi
problems=$("${PSQL[@]}" -At -c 'SELECT count(*) FROM customer_tracking_verify()')
if [ "$problems" != 0 ]; then
	echo "driver_rpc: FAIL (customer_tracking_verify() has $problems rows after the fixtures)"
	exit 1
fi
echo "database ready ($((SECONDS - T0)) s)"

rc=0
PGUSER=authenticator "$PY" test/drivers/rpc_python.py "$DB" || rc=1
PGUSER=authenticator node "$NODE_DIR/rpc.mjs" "$DB" || rc=1

if grep -E 'FATAL|PANIC' "$CT_CLUSTER_LOG" >/dev/null; then
	echo "FAIL: the server log has FATAL or PANIC entries:"
	grep -E 'FATAL|PANIC' "$CT_CLUSTER_LOG" | head -n 20
	rc=1
fi
echo "driver_rpc: $([ "$rc" -eq 0 ] && echo PASS || echo FAIL) ($((SECONDS - T0)) s)"
exit "$rc"
