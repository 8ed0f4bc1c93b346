#!/usr/bin/env bash
# Upgrades: installing 1.0 and updating to the default version gives the same objects as a fresh
# install of the default version, with data kept and tracking still exact; DROP EXTENSION and
# CREATE EXTENSION again work, and a backfill brings the tracking back.
set -euo pipefail
cd "$(dirname "$0")/../.."

latest=$(sed -n "s/^default_version *= *'\(.*\)'/\1/p" customer_tracking.control)
psql_q() { psql -X -q -v ON_ERROR_STOP=1 -At "$@"; }
fail() { echo "FAIL: $*"; exit 1; }

for db in ct_upgrade_old ct_upgrade_new; do
    dropdb --if-exists "$db"
    createdb "$db"
    psql_q -d "$db" -f test/fixtures/host-schema.sql
done

orders_sql="
INSERT INTO user_shops (id, user_id, shop_slug) VALUES
  ('e0000000-0000-0000-0000-000000000001', 'f0000000-0000-0000-0000-000000000001', 'up-shop');
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT 'e0000000-0000-0000-0000-000000000001', 'C' || (i % 9), '024' || lpad((i % 9)::text, 7, '0'),
       (ARRAY['MTN', 'Telecel', 'AirtelTigo'])[1 + i % 3], 5 + i, (ARRAY['paid', 'pending', 'completed', 'refunded'])[1 + i % 4],
       'up-shop', timestamptz '2026-01-01 00:00+00' + i * interval '7 hours'
  FROM generate_series(1, 60) i;
INSERT INTO shop_orders (shop_id, customer_phone, total_price, payment_status) VALUES
  ('e0000000-0000-0000-0000-000000000001', 'not a phone', 9, 'paid');
-- A network spelled oddly (1.4 reads network names trimmed and upper-cased: the update rewrites it).
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status) VALUES
  ('e0000000-0000-0000-0000-000000000001', '0249999999', ' mtn ', 3, 'paid');
UPDATE shop_orders SET payment_status = 'paid' WHERE payment_status = 'pending' AND total_price < 30;
"

# The old version, with data, updated in place.
psql_q -d ct_upgrade_old -c "CREATE EXTENSION customer_tracking VERSION '1.0'" 2>/dev/null
psql_q -d ct_upgrade_old -c "$orders_sql" 2>/dev/null
# Network names compared in their 1.4 spelling (trimmed, upper case), which the update gives them.
snapshot="SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (
    SELECT c.id, c.total_orders, c.total_purchases, c.total_spent, c.first_purchase_at, c.last_purchase_at,
           c.first_source_slug, upper(btrim(c.preferred_network)) FROM shop_customers c) x;"
before=$(psql_q -d ct_upgrade_old -c "$snapshot")
psql_q -d ct_upgrade_old -c "ALTER EXTENSION customer_tracking UPDATE TO '$latest'"
after=$(psql_q -d ct_upgrade_old -c "$snapshot")
[ "$before" = "$after" ] || fail "customer data changed by the update"
[ "$(psql_q -d ct_upgrade_old -c "SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking'")" = "$latest" ] \
    || fail "extension not at $latest after the update"
echo "ok: 1.0 -> $latest keeps customer data ($(psql_q -d ct_upgrade_old -c 'SELECT count(*) FROM shop_customers') customers)"

# The same objects as a fresh install.
psql_q -d ct_upgrade_new -c "CREATE EXTENSION customer_tracking"
fingerprint="
SELECT 'member ' || pg_describe_object(classid, objid, objsubid)
  FROM pg_depend WHERE refobjid = (SELECT oid FROM pg_extension WHERE extname = 'customer_tracking') AND deptype = 'e'
UNION ALL
SELECT 'function ' || p.oid::regprocedure || ' ' || md5(pg_get_functiondef(p.oid)) || ' acl=' || coalesce(p.proacl::text, '')
  FROM pg_proc p JOIN pg_depend d ON d.objid = p.oid AND d.classid = 'pg_proc'::regclass AND d.deptype = 'e'
 WHERE d.refobjid = (SELECT oid FROM pg_extension WHERE extname = 'customer_tracking')
UNION ALL
SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) || ' notnull=' || a.attnotnull
       || ' default=' || coalesce(pg_get_expr(ad.adbin, ad.adrelid), '') || ' generated=' || a.attgenerated::text
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public'
  JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped
  LEFT JOIN pg_attrdef ad ON ad.adrelid = c.oid AND ad.adnum = a.attnum
 WHERE c.relkind IN ('r', 'v')
UNION ALL
SELECT 'table ' || c.relname || ' rls=' || c.relrowsecurity || ' acl=' || coalesce(c.relacl::text, '') || ' options=' || coalesce(c.reloptions::text, '')
  FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace AND n.nspname = 'public' WHERE c.relkind IN ('r', 'v')
UNION ALL
SELECT 'index ' || indexdef FROM pg_indexes WHERE schemaname = 'public'
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint
 WHERE connamespace = 'public'::regnamespace
UNION ALL
SELECT 'trigger ' || pg_get_triggerdef(oid) FROM pg_trigger WHERE tgrelid = 'shop_orders'::regclass AND NOT tgisinternal
UNION ALL
SELECT 'policy ' || tablename || ' ' || policyname || ' ' || cmd || ' ' || coalesce(qual, '') || ' ' || roles::text FROM pg_policies
UNION ALL
SELECT 'config ' || extconfig::regclass[]::text FROM pg_extension WHERE extname = 'customer_tracking'
ORDER BY 1"
psql_q -d ct_upgrade_old -c "$fingerprint" > "$CT_SCRATCH/upgraded.txt"
psql_q -d ct_upgrade_new -c "$fingerprint" > "$CT_SCRATCH/fresh.txt"
if ! diff -u "$CT_SCRATCH/fresh.txt" "$CT_SCRATCH/upgraded.txt"; then
    fail "1.0 updated to $latest differs from a fresh $latest install (diff above: - fresh, + updated)"
fi
echo "ok: 1.0 updated to $latest has the same $(wc -l < "$CT_SCRATCH/fresh.txt") objects, definitions, grants and policies as a fresh install"

# Still exact, and still tracking.
psql_q -d ct_upgrade_old -c "INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug)
    VALUES ('e0000000-0000-0000-0000-000000000001', '0240000003', 'MTN', 11, 'paid', 'up-shop')"
[ "$(psql_q -d ct_upgrade_old -c 'SELECT count(*) FROM customer_tracking_verify()')" = 0 ] || fail "verify not empty after the update"
[ "$(psql_q -d ct_upgrade_old -c "SELECT preferred_network FROM shop_customers WHERE phone_number = '+233249999999'")" = MTN ] \
    || fail "network names not rewritten by the update"
echo "ok: after the update new orders are tracked and customer_tracking_verify() is empty"

# DROP EXTENSION removes what it created (the column and its values stay); CREATE brings it back.
psql_q -d ct_upgrade_old -c "DROP EXTENSION customer_tracking CASCADE" 2>/dev/null
left=$(psql_q -d ct_upgrade_old -c "SELECT count(*) FROM pg_class WHERE relname IN ('shop_customers', 'customer_tracking')")
[ "$left" = 0 ] || fail "tables left after DROP EXTENSION"
[ "$(psql_q -d ct_upgrade_old -c "SELECT count(*) FROM pg_trigger WHERE tgrelid = 'shop_orders'::regclass AND NOT tgisinternal")" = 0 ] \
    || fail "triggers left after DROP EXTENSION"
psql_q -d ct_upgrade_old -c "CREATE EXTENSION customer_tracking" 2>/dev/null
psql_q -d ct_upgrade_old -c "SELECT count(*) FROM customer_tracking_backfill()" >/dev/null 2>&1
[ "$(psql_q -d ct_upgrade_old -c 'SELECT count(*) FROM customer_tracking_verify()')" = 0 ] || fail "verify not empty after re-create + backfill"
[ "$(psql_q -d ct_upgrade_old -c 'SELECT count(*) FROM shop_customers')" -gt 0 ] || fail "backfill tracked nothing"
echo "ok: DROP EXTENSION ... CASCADE then CREATE EXTENSION + customer_tracking_backfill() restores exact tracking"

for db in ct_upgrade_old ct_upgrade_new; do dropdb "$db"; done
echo "PASS upgrade"
