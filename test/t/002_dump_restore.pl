
# Copyright (c) customer_tracking contributors; PostgreSQL licence (see LICENSE).

# Dump/restore round trips of a database using customer_tracking.
#
#   1. source db: host schema (test/fixtures/host-schema.sql), CREATE EXTENSION, the demo orders
#      (test/fixtures/demo-orders.sql: ~300 orders, pending then paid, a refund, a bad phone) plus
#      more refunds, deletions, untrackable orders and overlong text; a second database whose
#      shop_orders uses other column names (customer_tracking.column_map).
#   2. pg_dump -Fc | pg_restore into a fresh empty database. pg_restore runs CREATE EXTENSION before
#      the host tables exist; the install script must notice and leave the attachment (column,
#      foreign key, index, triggers) to the dump.
#   3. pg_dump (plain) | psql into another fresh database.
#   Each restored database must have the same rows in shop_orders (with shop_customer_id) and in
#   every table of the extension, the triggers, foreign keys, policies and RLS flags, an empty
#   customer_tracking_verify(), and must go on tracking new orders (insert, pay, refund, bad phone).
use strict;
use warnings;
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use CustomerTracking::TestLib;

my $node    = ct_node('dump_restore');
my $scratch = PostgreSQL::Test::Utils::tempdir();
my ($src, $map) = qw(ct_dr_src ct_dr_map);

# ---------------------------------------------------------------------------------------------
# Source databases
ct_create_db($node, $src, host_schema => 1, extension => 1);
ct_psql_file($node, $src, 'test/fixtures/demo-orders.sql',
	"SET client_min_messages = error;\n");
$node->safe_psql($src, q{
SET client_min_messages = error;
-- More of everything: refunds, cancellations, deletions, bad phones, overlong text.
WITH paid AS (SELECT id, row_number() OVER (ORDER BY id) AS n FROM shop_orders
               WHERE payment_status IN ('paid', 'completed'))
UPDATE shop_orders o SET payment_status = CASE WHEN p.n % 2 = 0 THEN 'refunded' ELSE 'cancelled' END
  FROM paid p WHERE o.id = p.id AND p.n % 17 = 0;
DELETE FROM shop_orders WHERE id IN (SELECT id FROM shop_orders ORDER BY id LIMIT 5);
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT ('dddddddd-0000-4000-8000-' || lpad(i::text, 12, '0'))::uuid, s.id, 'Extra ' || i,
       CASE WHEN i % 10 = 0 THEN 'no phone given' WHEN i % 10 = 1 THEN NULL
            ELSE '02' || (4 + i % 3)::text || lpad((1000000 + i % 25)::text, 7, '0') END,
       CASE WHEN i % 2 = 0 THEN 'MTN' ELSE 'Telecel' END, 5 + i % 40,
       CASE WHEN i % 4 = 0 THEN 'pending' ELSE 'paid' END,
       CASE WHEN i % 25 = 0 THEN repeat('long-slug-', 30) ELSE s.shop_slug END,
       now() - i * interval '7 hours'
  FROM generate_series(1, 120) i
  JOIN (SELECT id, shop_slug, row_number() OVER (ORDER BY id) - 1 AS k FROM user_shops) s ON s.k = i % 3;
UPDATE shop_orders SET payment_status = 'paid'
 WHERE id IN (SELECT id FROM shop_orders WHERE id::text LIKE 'dddddddd%' AND payment_status = 'pending' ORDER BY id LIMIT 10);
UPDATE shop_orders SET customer_phone = '0244000111'
 WHERE id = (SELECT id FROM shop_orders WHERE id::text LIKE 'dddddddd%' AND customer_phone = 'no phone given' ORDER BY id LIMIT 1);
});

# A second source: shop_orders with other column names and no slug, installed with a mapping.
ct_create_db($node, $map);
$node->safe_psql($map, q{
SET client_min_messages = error;
CREATE TABLE user_shops (id uuid PRIMARY KEY, user_id uuid NOT NULL);
CREATE TABLE shop_orders (id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  shop_id uuid NOT NULL REFERENCES user_shops (id), customer_name text, customer_email text,
  buyer_phone text, network text, amount numeric(12,2) NOT NULL, status text NOT NULL DEFAULT 'pending',
  placed_at timestamptz NOT NULL DEFAULT now());
SET customer_tracking.column_map = 'customer_phone=buyer_phone, total_price=amount, payment_status=status, created_at=placed_at, shop_slug=';
CREATE EXTENSION customer_tracking;
RESET customer_tracking.column_map;
INSERT INTO user_shops VALUES ('a5000000-0000-0000-0000-000000000001', 'b5000000-0000-0000-0000-000000000001');
INSERT INTO shop_orders (shop_id, customer_name, buyer_phone, network, amount, status, placed_at)
SELECT 'a5000000-0000-0000-0000-000000000001', 'M' || i % 9, CASE WHEN i % 13 = 0 THEN 'x' ELSE '0551' || lpad((i % 9)::text, 6, '0') END,
       CASE WHEN i % 3 = 0 THEN 'MTN' ELSE 'Telecel' END, i, CASE WHEN i % 5 = 0 THEN 'pending' ELSE 'paid' END,
       now() - i * interval '1 day'
  FROM generate_series(1, 60) i;
UPDATE shop_orders SET status = 'refunded' WHERE amount IN (7, 14, 21);
});

for my $db ($src, $map)
{
	is($node->safe_psql($db, 'SELECT count(*) FROM customer_tracking_verify()'),
		'0', "source $db is consistent before the dump");
}
note("sources: $src "
	  . $node->safe_psql($src,
		"SELECT count(*) || ' orders, ' || count(shop_customer_id) || ' linked' FROM shop_orders"));

# ---------------------------------------------------------------------------------------------
# What must survive: every row of the host tables and of the extension's tables, and the objects.

# One line per table: name, row count, md5 of the sorted rows. Tables: the host's and every table
# that belongs to the extension (so tables added later are covered too), but the visit salt and
# the day's visitor hashes, which are not dumped by design (the restore makes new salts).
sub fingerprint
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
SELECT format('SELECT %L || '' '' || count(*) || '' '' || coalesce(md5(string_agg(t::text, E''\n'' ORDER BY t::text)), ''-'') FROM %s t',
              c.relname, c.oid::regclass)
  FROM pg_class c
 WHERE c.relkind = 'r'
   AND c.relname NOT IN ('customer_tracking_visit_salt', 'customer_tracking_visitors')
   AND (c.relname IN ('shop_orders', 'user_shops')
        OR c.oid IN (SELECT objid FROM pg_depend WHERE classid = 'pg_class'::regclass AND deptype = 'e'
                        AND refobjid = (SELECT oid FROM pg_extension WHERE extname = 'customer_tracking')))
 ORDER BY c.relname
\gexec
});
}

# The attachment and the security objects.
sub objects
{
	my ($db) = @_;
	return $node->safe_psql($db, q{
SELECT 'trigger ' || tgname || ' ' || tgenabled::text || ' ' || pg_get_triggerdef(oid)
  FROM pg_trigger WHERE tgrelid = 'shop_orders'::regclass AND NOT tgisinternal
UNION ALL
SELECT 'constraint ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid)
  FROM pg_constraint WHERE conrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace) AND contype IN ('f', 'p', 'u', 'c')
UNION ALL
SELECT 'index ' || indexrelid::regclass || ' ' || pg_get_indexdef(indexrelid)
  FROM pg_index WHERE indrelid IN (SELECT oid FROM pg_class WHERE relnamespace = 'public'::regnamespace)
UNION ALL
SELECT 'policy ' || polrelid::regclass || ' ' || polname || ' ' || polcmd::text || ' ' || pg_get_expr(polqual, polrelid)
  FROM pg_policy
UNION ALL
SELECT 'rls ' || oid::regclass || ' ' || relrowsecurity || ' ' || relforcerowsecurity
  FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind = 'r'
UNION ALL
SELECT 'acl ' || oid::regclass || ' ' || coalesce(relacl::text, '-')
  FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relkind IN ('r', 'v')
UNION ALL
SELECT 'extension ' || extname || ' ' || extversion || ' ' || coalesce(extconfig::regclass[]::text, '-')
  FROM pg_extension
UNION ALL
SELECT 'column shop_orders.' || attname || ' ' || format_type(atttypid, atttypmod)
  FROM pg_attribute WHERE attrelid = 'shop_orders'::regclass AND attnum > 0 AND NOT attisdropped
ORDER BY 1});
}

sub compare
{
	my ($from, $to, $label) = @_;
	my $a = fingerprint($from);
	my $b = fingerprint($to);
	my @tables = map { (split / /)[0] . '=' . (split / /)[1] } split /\n/, $a;
	ct_same_lines($b, $a,
		"$label: same rows in "
		  . scalar(@tables)
		  . ' tables ('
		  . join(', ', @tables)
		  . '; table, count, md5: - source, + restored)');
	$a = objects($from);
	$b = objects($to);
	my $n = () = $a =~ /\n/g;
	ct_same_lines($b, $a,
		"$label: same triggers, constraints, indexes, policies, RLS flags, grants ("
		  . ($n + 1)
		  . ' items; - source, + restored)');
	# The essentials, named (so a change that drops them in both databases is still caught).
	for my $want (
		'trigger customer_tracking_link O',
		'trigger customer_tracking_track O',
		'trigger customer_tracking_truncate O',
		'index idx_shop_orders_customer_id',
		'rls shop_customers true',
		'rls customer_tracking true',
		'rls customer_tracking_issues true',
		'policy shop_customers shop_customers_owner_select',
		'policy customer_tracking customer_tracking_owner_select',
		'policy customer_tracking_issues customer_tracking_issues_owner_select')
	{
		ok(index($b, $want) >= 0, "$label: $to has $want");
	}
	is($node->safe_psql($to, 'SELECT count(*) FROM customer_tracking_verify()'),
		'0', "$label: customer_tracking_verify() is empty after the restore");
	return;
}

# after_restore(DB, LABEL): new orders in the restored database are tracked.
sub after_restore
{
	my ($db, $label) = @_;
	my $out = $node->safe_psql($db, q{
SET client_min_messages = warning;
\set shop '''11111111-1111-4111-8111-111111111111'''
-- A customer of the shop (linked, with purchases), found from the data.
SELECT phone_number AS phone, total_purchases AS p0, total_spent AS s0, total_orders AS o0
  FROM shop_customers WHERE shop_id = :shop AND total_purchases > 0 ORDER BY phone_number LIMIT 1 \gset
SELECT coalesce(sum(total_purchases), 0) AS n0, coalesce(sum(total_spent), 0) AS ns0 FROM shop_customers
 WHERE shop_id = :shop AND phone_number = '+233209990001' \gset
SELECT id AS refund_id, total_price AS refund_amount FROM shop_orders
 WHERE shop_id = :shop AND payment_status IN ('paid', 'completed') AND shop_customer_id = customer_tracking_customer_id(:shop, :'phone')
 ORDER BY id LIMIT 1 \gset
-- Paid at once (phone written another way), pending then paid, a refund, a bad phone.
INSERT INTO shop_orders (id, shop_id, customer_phone, network, total_price, payment_status, created_at) VALUES
  ('eeeeeeee-0000-4000-8000-000000000001', :shop, '+' || substr(:'phone', 2, 3) || ' ' || substr(:'phone', 5), 'MTN', 11.00, 'paid', now()),
  ('eeeeeeee-0000-4000-8000-000000000002', :shop, :'phone', 'MTN', 12.00, 'pending', now()),
  ('eeeeeeee-0000-4000-8000-000000000003', :shop, 'call the office', 'MTN', 13.00, 'paid', now()),
  ('eeeeeeee-0000-4000-8000-000000000004', :shop, '0209990001', 'Telecel', 14.00, 'paid', now());
UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'eeeeeeee-0000-4000-8000-000000000002';
UPDATE shop_orders SET payment_status = 'refunded' WHERE id = :'refund_id';
SELECT 'customer ' || (total_purchases - :p0) || ' ' || (total_spent - :s0) || ' ' || (total_orders - :o0)
  FROM shop_customers WHERE shop_id = :shop AND phone_number = :'phone';
SELECT 'expected ' || (2 - 1) || ' ' || (11.00 + 12.00 - :refund_amount) || ' 2';
SELECT 'new ' || (total_purchases - :n0) || ' ' || (total_spent - :ns0) FROM shop_customers WHERE shop_id = :shop AND phone_number = '+233209990001';
SELECT 'untracked ' || string_agg(reason, ',') FROM customer_tracking_untracked WHERE shop_order_id = 'eeeeeeee-0000-4000-8000-000000000003';
SELECT 'linked ' || count(*) FILTER (WHERE shop_customer_id IS NOT NULL) || '/' || count(*) FROM shop_orders WHERE id::text LIKE 'eeeeeeee%';
SELECT 'verify ' || count(*) FROM customer_tracking_verify();
});
	my ($cust) = $out =~ /^customer (.*)$/m;
	my ($exp)  = $out =~ /^expected (.*)$/m;
	my $num    = sub { join ' ', map { $_ + 0 } split / /, ($_[0] // '') };
	ok( defined $cust && $cust ne '' && $num->($cust) eq $num->($exp),
		"$label: an existing customer gains the new purchases and loses the refund (delta purchases/spent/orders: "
		  . ($cust // '?') . ', expected '
		  . ($exp // '?') . ')');
	like($out, qr/^new 1 14.00$/m, "$label: the purchase of a new phone is counted");
	like($out, qr/^untracked invalid_phone$/m, "$label: an untrackable order is listed");
	like($out, qr{^linked 3/4$}m, "$label: the new orders are linked");
	like($out, qr/^verify 0$/m,
		"$label: customer_tracking_verify() is empty after the new orders");
	return;
}

# after_restore_mapped(DB, LABEL): the restored mapping is used.
sub after_restore_mapped
{
	my ($db, $label) = @_;
	my $out = $node->safe_psql($db, q{
SET client_min_messages = warning;
INSERT INTO shop_orders (id, shop_id, buyer_phone, network, amount, status, placed_at) VALUES
  ('eeeeeeee-0000-4000-8000-000000000011', 'a5000000-0000-0000-0000-000000000001', '0551 000 001', 'MTN', 100.00, 'pending', now());
UPDATE shop_orders SET status = 'paid' WHERE id = 'eeeeeeee-0000-4000-8000-000000000011';
SELECT 'linked ' || (shop_customer_id = customer_tracking_customer_id(shop_id, '+233551000001'))
  FROM shop_orders WHERE id = 'eeeeeeee-0000-4000-8000-000000000011';
SELECT 'tracked ' || purchase_completed || ' ' || purchase_amount FROM customer_tracking WHERE id = 'eeeeeeee-0000-4000-8000-000000000011';
SELECT 'verify ' || count(*) FROM customer_tracking_verify();
});
	like($out, qr/^linked true$/m,
		"$label: a new order is tracked through the restored column mapping");
	like($out, qr/^tracked true 100.00$/m, "$label: its payment is counted");
	like($out, qr/^verify 0$/m,
		"$label: customer_tracking_verify() is empty after the new order");
	return;
}

# ---------------------------------------------------------------------------------------------
# Round trips

# restore_custom(SOURCE, TARGET, LABEL): pg_dump -Fc, pg_restore into a fresh empty database.
sub restore_custom
{
	my ($from, $to, $label) = @_;
	my $dump = "$scratch/$from.dump";
	ok(run_log([ 'pg_dump', '-Fc', '-d', $from, '-f', $dump ]),
		"$label: pg_dump -Fc $from")
	  or return 0;
	$node->safe_psql('postgres', "CREATE DATABASE $to TEMPLATE template0");
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run([ 'pg_restore', '--exit-on-error', '-d', $to, $dump ],
		'>', \$out, '2>', \$err);
	ok($ok, "$label: pg_restore into an empty database succeeded")
	  or diag($out . $err);
	return $ok;
}

# restore_plain(SOURCE, TARGET, LABEL): pg_dump | psql into a fresh empty database.
sub restore_plain
{
	my ($from, $to, $label) = @_;
	$node->safe_psql('postgres', "CREATE DATABASE $to TEMPLATE template0");
	my ($dump, $dump_err) = run_command([ 'pg_dump', '-d', $from ]);
	is($dump_err, '', "$label: pg_dump $from") or return 0;
	my ($out, $err) = ('', '');
	my $ok = IPC::Run::run(
		[ 'psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '--no-psqlrc', '-d', $to ],
		'<', \$dump, '>', \$out, '2>', \$err);
	ok($ok, "$label: pg_dump | psql into an empty database succeeded")
	  or diag($err);
	return $ok;
}

if (restore_custom($src, 'ct_dr_custom', 'custom format'))
{
	compare($src, 'ct_dr_custom', 'custom format');
	after_restore('ct_dr_custom', 'custom format');
}
if (restore_plain($src, 'ct_dr_plain', 'plain format'))
{
	compare($src, 'ct_dr_plain', 'plain format');
	after_restore('ct_dr_plain', 'plain format');
}
if (restore_custom($map, 'ct_dr_map_custom', 'mapped columns, custom format'))
{
	compare($map, 'ct_dr_map_custom', 'mapped columns, custom format');
	after_restore_mapped('ct_dr_map_custom', 'mapped columns, custom format');
}

$node->stop;
done_testing();
