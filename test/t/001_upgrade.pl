
# Copyright (c) customer_tracking contributors; PostgreSQL licence (see LICENSE).

# Upgrades: installing 1.0 and updating to the default version gives the same objects as a fresh
# install of the default version (members, function definitions and grants, columns, tables'
# RLS flags and grants, indexes, constraints, triggers, policies, configuration tables), with
# customer data kept and tracking still exact; DROP EXTENSION and CREATE EXTENSION again work,
# and a backfill brings the tracking back. sql/40_upgrade_path.sql shows what each version
# changes, step by step.
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use CustomerTracking::TestLib;

my $latest = ct_default_version();
my $node   = ct_node('upgrade');
my ($old, $new) = qw(ct_upgrade_old ct_upgrade_new);
ct_create_db($node, $_, host_schema => 1) for ($old, $new);

my $orders_sql = q{
SET client_min_messages = error;
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
};

# The old version, with data, updated in place.
$node->safe_psql($old,
	"SET client_min_messages = error; CREATE EXTENSION customer_tracking VERSION '1.0'");
$node->safe_psql($old, $orders_sql);
# Network names compared in their 1.4 spelling (trimmed, upper case), which the update gives them.
my $snapshot = q{
SELECT md5(string_agg(x::text, ',' ORDER BY x::text)) FROM (
    SELECT c.id, c.total_orders, c.total_purchases, c.total_spent, c.first_purchase_at, c.last_purchase_at,
           c.first_source_slug, upper(btrim(c.preferred_network)) FROM shop_customers c) x};
my $before = $node->safe_psql($old, $snapshot);
$node->safe_psql($old, "ALTER EXTENSION customer_tracking UPDATE TO '$latest'");
is($node->safe_psql($old, $snapshot), $before, "1.0 -> $latest keeps customer data");
is( $node->safe_psql(
		$old,
		"SELECT extversion FROM pg_extension WHERE extname = 'customer_tracking'"),
	$latest,
	"extension at $latest after the update");
cmp_ok($node->safe_psql($old, 'SELECT count(*) FROM shop_customers'),
	'>', 0, 'the old install had customers');

# The same objects as a fresh install.
$node->safe_psql($new,
	'SET client_min_messages = warning; CREATE EXTENSION customer_tracking');
my $fingerprint = q{
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
ORDER BY 1};
my $upgraded = $node->safe_psql($old, $fingerprint);
my $fresh    = $node->safe_psql($new, $fingerprint);
my $n        = () = $fresh =~ /\n/g;
ct_same_lines($upgraded, $fresh,
	"1.0 updated to $latest has the same objects, definitions, grants and policies as a fresh install ("
	  . ($n + 1)
	  . " items; diff: - fresh, + updated)");
like($fresh, qr/^member function customer_tracking_verify\(/m,
	'the fingerprint lists the extension members');
like($fresh, qr/^policy shop_customers /m, 'the fingerprint lists the policies');

# Still exact, and still tracking.
$node->safe_psql($old,
	q{SET client_min_messages = error;
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, shop_slug)
VALUES ('e0000000-0000-0000-0000-000000000001', '0240000003', 'MTN', 11, 'paid', 'up-shop')});
is($node->safe_psql($old, 'SELECT count(*) FROM customer_tracking_verify()'),
	'0', 'after the update new orders are tracked and customer_tracking_verify() is empty');
is( $node->safe_psql(
		$old,
		"SELECT preferred_network FROM shop_customers WHERE phone_number = '+233249999999'"),
	'MTN',
	'network names rewritten by the update');

# DROP EXTENSION removes what it created (the column and its values stay); CREATE brings it back.
$node->safe_psql($old,
	'SET client_min_messages = error; DROP EXTENSION customer_tracking CASCADE');
is( $node->safe_psql(
		$old,
		"SELECT count(*) FROM pg_class WHERE relname IN ('shop_customers', 'customer_tracking')"),
	'0',
	'no tables left after DROP EXTENSION');
is( $node->safe_psql(
		$old,
		"SELECT count(*) FROM pg_trigger WHERE tgrelid = 'shop_orders'::regclass AND NOT tgisinternal"),
	'0',
	'no triggers left after DROP EXTENSION');
$node->safe_psql($old,
	'SET client_min_messages = error; CREATE EXTENSION customer_tracking');
$node->safe_psql($old,
	'SET client_min_messages = error; SELECT count(*) FROM customer_tracking_backfill()');
is($node->safe_psql($old, 'SELECT count(*) FROM customer_tracking_verify()'),
	'0', 'customer_tracking_verify() is empty after CREATE EXTENSION again + backfill');
cmp_ok($node->safe_psql($old, 'SELECT count(*) FROM shop_customers'),
	'>', 0, 'the backfill tracked the orders again');

$node->stop;
done_testing();
