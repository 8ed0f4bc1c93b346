#!/usr/bin/env bash
# One-command demo of customer_tracking on a fresh Debian bookworm machine (as root):
#
#   bash scripts/demo.sh            # build, install, load demo shops and orders, show results
#   bash scripts/demo.sh --keep     # same, but leave the demo server running afterwards
#   bash scripts/demo.sh --dashboard
#                                   # then start the reference dashboard (examples/dashboard) on
#                                   # the demo database, print its URL (loopback only) and serve
#                                   # it until Ctrl-C (DASHBOARD_PORT, default 8080)
#
# It installs the dependencies (scripts/install-deps.sh), runs make and make install, starts a
# throwaway PostgreSQL 15 cluster in a temp dir (scripts/lib/cluster.sh, the same as the tests),
# creates the host application's tables (test/fixtures/host-schema.sql), runs
# CREATE EXTENSION customer_tracking, loads ~300 orders for 3 shops
# (test/fixtures/demo-orders.sql) and prints one shop's customers and dashboard metrics.
# Without --keep the cluster is stopped and deleted at the end (with --dashboard: at Ctrl-C).
# --dashboard also needs node, npm (scripts/install-deps.sh) and the npm packages of
# examples/dashboard (npm ci, from its package-lock.json).
set -euo pipefail

usage()
{
	sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//'
}

KEEP=0
DASHBOARD=0
for arg in "$@"; do
	case "$arg" in
		--keep) KEEP=1 ;;
		--dashboard) DASHBOARD=1 ;;
		-h | --help) usage; exit 0 ;;
		*) echo "demo.sh: unknown argument: $arg" >&2; usage >&2; exit 2 ;;
	esac
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
export PG_CONFIG=${PG_CONFIG:-/usr/lib/postgresql/15/bin/pg_config}
DB=customer_tracking_demo
SHOP=11111111-1111-4111-8111-111111111111   # Kofi Data Hub (test/fixtures/demo-orders.sql)

step() { printf '\n==== %s ====\n' "$*"; }

step "dependencies"
bash scripts/install-deps.sh

step "build and install"
make -j"$(nproc 2>/dev/null || echo 2)" PG_CONFIG="$PG_CONFIG"
make install PG_CONFIG="$PG_CONFIG" >/dev/null
echo "installed into $("$PG_CONFIG" --pkglibdir) and $("$PG_CONFIG" --sharedir)/extension"

# shellcheck source=scripts/lib/cluster.sh
source scripts/lib/cluster.sh
# shellcheck source=scripts/lib/dashboard.sh
source scripts/lib/dashboard.sh

on_exit()
{
	local rc=$?
	ct_dashboard_stop
	if [ "$KEEP" = 1 ] && [ -n "${CT_CLUSTER_DIR:-}" ]; then
		cat <<EOF

==== the demo server is still running (--keep) ====
connect:  $PGBIN/psql -h $PGHOST -p $PGPORT -U postgres $DB
stop:     ${CT_PG_RUNAS:+$CT_PG_RUNAS }$PGBIN/pg_ctl -D $PGDATA stop && rm -rf $CT_CLUSTER_DIR
server log: $CT_CLUSTER_LOG
EOF
	else
		ct_cluster_stop
	fi
	if [ "$DASHBOARD" = 1 ] && [ -n "${CT_DASHBOARD_URL:-}" ] && { [ "$rc" -eq 130 ] || [ "$rc" -eq 143 ]; }; then
		echo "dashboard stopped."
	elif [ "$rc" -ne 0 ]; then
		echo "demo.sh: failed (exit $rc)" >&2
	fi
}
trap on_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

step "throwaway PostgreSQL 15 cluster"
ct_cluster_start

PSQL=("$PGBIN/psql" -X -v ON_ERROR_STOP=1 -P pager=off)
"${PSQL[@]}" -q -d postgres -c "CREATE DATABASE $DB"

step "host application schema (test/fixtures/host-schema.sql)"
"${PSQL[@]}" -q -d "$DB" -f test/fixtures/host-schema.sql
"${PSQL[@]}" -d "$DB" -c '\dt'

step "CREATE EXTENSION customer_tracking"
"${PSQL[@]}" -d "$DB" -c 'CREATE EXTENSION customer_tracking' -c '\dx customer_tracking'

step "demo orders (test/fixtures/demo-orders.sql)"
"${PSQL[@]}" -q -d "$DB" -f test/fixtures/demo-orders.sql

step "Kofi Data Hub: top customers"
"${PSQL[@]}" -d "$DB" -v shop="$SHOP" <<'SQL'
SELECT phone_number, customer_name, total_purchases, total_spent, repeat_customer,
       preferred_network, first_source_slug
FROM shop_customers
WHERE shop_id = :'shop'
ORDER BY total_spent DESC
LIMIT 15;
SQL

step "Kofi Data Hub: dashboard metrics"
"${PSQL[@]}" -d "$DB" -v shop="$SHOP" <<'SQL'
-- Act as the shop's owner (PostgREST-style JWT claims), in case functions filter by owner.
SELECT set_config('request.jwt.claims',
                  json_build_object('sub', user_id, 'role', 'authenticated')::text, false),
       set_config('request.jwt.claim.sub', user_id::text, false)
FROM user_shops WHERE id = :'shop' \g /dev/null
\set QUIET on
\x on
SELECT * FROM shop_customer_metrics(:'shop');
\x off
\pset format unaligned
\pset tuples_only on
\echo
SELECT shop_customer_overview(:'shop');
SQL

echo
echo "demo done."

if [ "$DASHBOARD" = 1 ]; then
	step "reference dashboard (examples/dashboard)"
	ct_dashboard_prepare_db "$DB"
	ct_dashboard_npm_ci
	ct_dashboard_start "$DB" "${DASHBOARD_PORT:-8080}"
	if [ "$KEEP" = 1 ]; then
		at_stop="stops the dashboard; the demo cluster stays up (--keep)"
	else
		at_stop="stops the dashboard and deletes the demo cluster"
	fi
	cat <<EOF

  open:     $CT_DASHBOARD_URL
  sign in:  pick an owner (Kofi Data Hub, Ama Bundles, Accra Gigs, or Nana New Shop with no
            customers yet); every number is read through row-level security as that owner
  Ctrl-C:   $at_stop
  log:      $CT_CLUSTER_DIR/dashboard.log
EOF
	wait "$CT_DASHBOARD_PID"
fi
