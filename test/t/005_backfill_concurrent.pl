
# Copyright (c) customer_tracking contributors; PostgreSQL licence (see LICENSE).

# customer_tracking_backfill() is safe while new orders arrive.
#
# A database with ~3000 orders that predate the extension (written with the trigger off) is
# backfilled (customer_tracking_backfill() and customer_tracking_backfill_all() in turn) while
# pgbench clients keep inserting orders, paying and refunding them for the same customers.
# Then: no client transaction failed (no deadlock, no error), every order is still there, a last
# backfill finds nothing left to re-track, and customer_tracking_verify() is empty.
# CT_BACKFILL_SECONDS: how long the writers run (default 12).
use strict;
use warnings;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use CustomerTracking::TestLib;

my $db       = 'ct_bf_conc';
my $duration = $ENV{CT_BACKFILL_SECONDS} || 12;
my $node     = ct_node('backfill_concurrent');
my $scratch  = PostgreSQL::Test::Utils::tempdir();

ct_create_db($node, $db, host_schema => 1);
$node->safe_psql($db, q{
SET client_min_messages = error;
CREATE EXTENSION customer_tracking;
INSERT INTO user_shops (id, user_id, shop_slug)
SELECT ('a6000000-0000-0000-0000-00000000000' || s)::uuid, 'b6000000-0000-0000-0000-000000000001', 'ct-conc-' || s
  FROM generate_series(1, 3) s;
-- Orders from before the install: the trigger does not see them.
SET session_replication_role = replica;
INSERT INTO shop_orders (shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT ('a6000000-0000-0000-0000-00000000000' || (1 + i % 3))::uuid, 'C' || i % 150,
       CASE WHEN i % 97 = 0 THEN 'unknown'
            WHEN i % 4 = 0 THEN '+233 24 ' || lpad((i % 150)::text, 7, '0')
            ELSE '024' || lpad((i % 150)::text, 7, '0') END,
       (ARRAY['MTN', 'Telecel', 'AirtelTigo'])[1 + i % 3], 1 + i % 90,
       (ARRAY['paid', 'completed', 'pending', 'refunded', 'paid'])[1 + i % 5],
       'slug-' || i % 7, now() - i * interval '37 minutes'
  FROM generate_series(1, 3000) i;
RESET session_replication_role;
});
my $pre = $node->safe_psql($db, 'SELECT count(*) FROM shop_orders');
note("setup: $pre orders before the install, "
	  . $node->safe_psql($db, 'SELECT count(*) FROM shop_customers')
	  . ' customers');

# Writers: new orders of the same customers, paid later; refunds and re-payments of old orders.
append_to_file("$scratch/writer.sql", q{
\set s random(1, 3)
\set p random(0, 149)
\set amt random(1, 90)
\set pick random(1, 3000)
SELECT set_config('ct_test.new_id', gen_random_uuid()::text, false);
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
VALUES (current_setting('ct_test.new_id')::uuid, ('a6000000-0000-0000-0000-00000000000' || :s)::uuid, 'C' || :p,
        '024' || lpad(:p::text, 7, '0'), 'MTN', :amt, 'pending', 'live', now());
UPDATE shop_orders SET payment_status = 'paid' WHERE id = current_setting('ct_test.new_id')::uuid;
UPDATE shop_orders SET payment_status = CASE WHEN payment_status = 'refunded' THEN 'paid' ELSE 'refunded' END
 WHERE id = (SELECT id FROM shop_orders WHERE shop_slug = 'slug-' || (:pick % 7) ORDER BY id OFFSET :pick % 400 LIMIT 1);
});
my $bench = ct_spawn(
	[
		'pgbench', '-n', '-d', $db, '-c', 2, '-j', 2, '-T', $duration,
		'-f', "$scratch/writer.sql"
	],
	"$scratch/pgbench.log");

# Backfill, repeatedly, while they write: the one-transaction function and the procedure that
# commits shop by shop (chunks of 700 orders: one shop each), in turn.
my ($runs, $bf_errors, $bench_rc, @errors) = (0, 0);
sleep 1;
while (1)
{
	my $w = waitpid($bench, WNOHANG);
	if ($w != 0)
	{
		$bench_rc = $? >> 8;
		last;
	}
	my $backfill =
	  $runs % 2 == 0
	  ? 'SELECT shop_id, orders_retracked, orders_linked, orders_untracked, customers_repaired FROM customer_tracking_backfill()'
	  : 'CALL customer_tracking_backfill_all(p_chunk_orders => 700, p_restart => true)';
	my ($stdout, $stderr);
	my $rc = $node->psql($db, "SET client_min_messages = error;\n$backfill",
		stdout => \$stdout, stderr => \$stderr);
	if ($rc != 0)
	{
		$bf_errors++;
		push @errors, $stderr;
	}
	$runs++;
}

is($bf_errors, 0, "$runs backfill runs during the load, none failed")
  or diag(join "\n", @errors);
my $log = slurp_file("$scratch/pgbench.log");
my $processed = ct_pgbench_value($log, 'number of transactions actually processed');
my $failed    = ct_pgbench_value($log, 'number of failed transactions') // 0;
ok( $bench_rc == 0 && defined $processed && $processed > 0 && $failed == 0 && $log !~ /error|abort/i,
	'writers: ' . ($processed // '?') . ' order transactions, none failed')
  or diag("pgbench exit $bench_rc:\n" . $log);

my $total = $node->safe_psql($db, 'SELECT count(*) FROM shop_orders');
my $new = $node->safe_psql($db, "SELECT count(*) FROM shop_orders WHERE shop_slug = 'live'");
ok($total == $pre + $new && $new == ($processed // -1),
	"no order lost: $pre old + $new new (pgbench: " . ($processed // '?') . ") = $total");

is( $node->safe_psql(
		$db,
		"SET client_min_messages = error; SELECT coalesce(sum(orders_retracked), 0) || ' ' || coalesce(sum(customers_repaired), 0) FROM customer_tracking_backfill()"
	),
	'0 0',
	'a backfill after the load has nothing left to re-track or repair');
is($node->safe_psql($db, 'SELECT count(*) FROM customer_tracking_verify()'),
	'0', 'customer_tracking_verify() is empty')
  or diag($node->safe_psql($db,
	'SELECT problem, shop_order_id, stored, expected FROM customer_tracking_verify() ORDER BY 1 LIMIT 15'));
is( $node->safe_psql(
		$db,
		q{SELECT count(*) FILTER (WHERE normalize_phone(customer_phone) IS NOT NULL AND shop_customer_id IS NULL) || ' ' ||
         count(*) FILTER (WHERE normalize_phone(customer_phone) IS NULL AND shop_customer_id IS NOT NULL) FROM shop_orders}
	),
	'0 0',
	'every order with a valid phone is linked, none other is');

$node->stop;
done_testing();
