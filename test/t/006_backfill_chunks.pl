
# Copyright (c) customer_tracking contributors; PostgreSQL licence (see LICENSE).

# customer_tracking_backfill_all(): a store backfilled in bounded transactions, one per chunk of
# shops; progress NOTICEs (and none when turned off); a run cancelled in the middle goes on where
# it stopped; p_restart starts over; refused in a transaction block and in REPEATABLE READ.
#
# 8 shops of 50 orders each, taken while the triggers were off (as orders that predate the
# install). Chunks of 50 orders: one shop per chunk. For the cancel, another session holds an
# order of the 4th shop, so the run waits in the 4th chunk; the test waits (polling, no fixed
# sleep) until the progress view shows it there, then cancels it.
use strict;
use warnings;
use Time::HiRes qw(sleep);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use CustomerTracking::TestLib;

my $node    = ct_node('backfill_chunks');
my $scratch = PostgreSQL::Test::Utils::tempdir();

# shop N's id ends in N: shops sort by id in their number's order.
sub setup_db
{
	my ($db) = @_;
	ct_create_db($node, $db, host_schema => 1);
	$node->safe_psql($db, q{
SET client_min_messages = error;
CREATE EXTENSION customer_tracking;
INSERT INTO user_shops (id, user_id, shop_slug)
SELECT ('a7000000-0000-0000-0000-00000000000' || s)::uuid, 'b7000000-0000-0000-0000-000000000001', 'ct-chunks-' || s
  FROM generate_series(1, 8) s;
SET session_replication_role = replica;
INSERT INTO shop_orders (id, shop_id, customer_name, customer_phone, network, total_price, payment_status, shop_slug, created_at)
SELECT ('c7000000-0000-0000-0000-' || lpad((s * 1000 + i)::text, 12, '0'))::uuid,
       ('a7000000-0000-0000-0000-00000000000' || s)::uuid, 'C' || i % 12,
       CASE WHEN i = 49 THEN 'n/a' WHEN i % 3 = 0 THEN '+233 24 ' || lpad((i % 12)::text, 7, '0')
            ELSE '024' || lpad((i % 12)::text, 7, '0') END,
       (ARRAY['MTN', 'telecel ', NULL])[1 + i % 3], 1 + i, (ARRAY['paid', 'completed', 'pending', 'Paid'])[1 + i % 4],
       'slug-' || i % 3, timestamptz '2025-06-01 00:00+00' + (s * 50 + i) * interval '9 hours'
  FROM generate_series(1, 8) s, generate_series(1, 50) i;
RESET session_replication_role;
});
	return;
}

# Runs SQL in DB; returns (exit status, stdout and stderr together: NOTICEs and errors).
sub run_sql
{
	my ($db, $sql) = @_;
	my ($stdout, $stderr);
	my $rc = $node->psql($db, $sql, stdout => \$stdout, stderr => \$stderr);
	return ($rc, "$stdout\n$stderr");
}

# ---------------------------------------------------------------------------------------------
# 1. Chunks and NOTICEs.
setup_db('ct_bf_chunks');
my ($rc, $out) = run_sql('ct_bf_chunks',
	"SET customer_tracking.progress_notice_interval = '1ms';\nCALL customer_tracking_backfill_all(p_chunk_orders => 50);");
is($rc, 0, 'CALL customer_tracking_backfill_all() succeeds') or diag($out);
my $progress = () = $out =~ /NOTICE:  customer_tracking: backfill: /g;
ok( $progress >= 1
	  && $out =~ /NOTICE:  customer_tracking: backfill: done, 8 of 8 shops, 400 of 400 orders/,
	"progress NOTICEs while it runs ($progress), the last one says done")
  or diag($out);
like(
	$out,
	qr/NOTICE:  customer_tracking: backfill done: 8 shops, 400 orders \(400 re-tracked\), 0 customers repaired, 8 chunks/,
	'one chunk per shop: 8 chunks, 400 orders');
is( $node->safe_psql(
		'ct_bf_chunks',
		'SELECT chunks_done, shops_done, orders_done, finished_at IS NOT NULL FROM customer_tracking_backfill_state'),
	'8|8|400|t',
	'state after the run');
is($node->safe_psql('ct_bf_chunks', 'SELECT count(*) FROM customer_tracking_verify()'),
	'0', 'customer_tracking_verify() is empty');
is($node->safe_psql('ct_bf_chunks', "SELECT count(shop_customer_id) || '/' || count(*) FROM shop_orders"),
	'392/400', 'every order with a valid phone is linked');

# Off: no progress NOTICE. A second run finds nothing to do (idempotent).
($rc, $out) = run_sql('ct_bf_chunks',
	"SET customer_tracking.progress_notice_interval = 0;\nCALL customer_tracking_backfill_all(p_chunk_orders => 50);");
ok( $rc == 0
	  && $out !~ /customer_tracking: backfill: /
	  && $out =~ /\(0 re-tracked\), 0 customers repaired/,
	'progress_notice_interval = 0: no progress NOTICE; a second run re-tracks nothing')
  or diag($out);

# Refused where it cannot commit per chunk, or cannot see what others committed.
(undef, $out) = run_sql('ct_bf_chunks',
	"BEGIN;\nCALL customer_tracking_backfill_all();\nROLLBACK;");
like($out, qr/invalid transaction termination/, 'CALL in a transaction block fails');
(undef, $out) = run_sql('ct_bf_chunks',
	"BEGIN ISOLATION LEVEL REPEATABLE READ;\nSELECT * FROM customer_tracking_backfill();\nROLLBACK;");
like(
	$out,
	qr/backfill must run in READ COMMITTED, not REPEATABLE READ/,
	'refused in REPEATABLE READ');

# ---------------------------------------------------------------------------------------------
# 2. Cancel in the middle, then resume.
setup_db('ct_bf_resume');
# An uncommitted payment of an order of shop 4 holds it until this session is terminated.
my $holder = ct_spawn(
	[
		'psql', '-X', '-q', '-d', 'ct_bf_resume',
		'-c', "SET application_name = 'ct_holder'",
		'-c', 'BEGIN',
		'-c', "UPDATE shop_orders SET payment_status = 'paid' WHERE id = 'c7000000-0000-0000-0000-000000004002'",
		'-c', 'SELECT pg_sleep(600)'
	],
	"$scratch/holder.log");
my $call = ct_spawn(
	[
		'psql', '-X', '-q', '-d', 'ct_bf_resume',
		'-c', "SET application_name = 'ct_backfill'",
		'-c', 'SET customer_tracking.progress_notice_interval = 0',
		'-c', 'CALL customer_tracking_backfill_all(p_chunk_orders => 50)'
	],
	"$scratch/first_call.log");

# Wait until the run is in the 4th chunk, waiting for the holder (or 120 s at most).
my $seen = '';
for (1 .. 1200)
{
	my ($stdout, $stderr);
	$node->psql(
		'ct_bf_resume', q{
SELECT p.phase || ' ' || p.chunks_done || '/' || p.chunks_total || ' ' || p.shops_done || '/' || p.shops_total
       || ' ' || coalesce(a.wait_event_type, '')
  FROM customer_tracking_progress p JOIN pg_stat_activity a ON a.pid = p.pid},
		stdout => \$stdout,
		stderr => \$stderr);
	$seen = $stdout // '';
	last if $seen eq 'linking orders 3/8 3/8 Lock';
	sleep 0.1;
}
is($seen, 'linking orders 3/8 3/8 Lock',
	'another session sees the run in customer_tracking_progress, waiting in the 4th chunk');
$node->safe_psql('ct_bf_resume',
	"SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE application_name = 'ct_backfill'");
waitpid($call, 0);
like(slurp_file("$scratch/first_call.log"),
	qr/canceling statement due to user request/, 'the run was cancelled');
is( $node->safe_psql(
		'ct_bf_resume',
		'SELECT chunks_done, shops_done, orders_done, finished_at IS NULL, right(last_shop_id::text, 1) FROM customer_tracking_backfill_state'
	),
	'3|3|150|t|3',
	'the 3 chunks committed before the cancel stay');
is( $node->safe_psql(
		'ct_bf_resume', q{
SELECT string_agg(right(s.id::text, 1), ',' ORDER BY s.id) FROM user_shops s
 WHERE NOT EXISTS (SELECT 1 FROM customer_tracking_verify(s.id))}),
	'1,2,3',
	'shops 1-3 are exact, the others not yet');
is($node->safe_psql('ct_bf_resume', 'SELECT count(*) FROM customer_tracking_progress'),
	'0', 'nothing left in customer_tracking_progress after the cancel');

$node->safe_psql('ct_bf_resume',
	"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ct_holder'");
waitpid($holder, 0);
($rc, $out) = run_sql('ct_bf_resume',
	"SET customer_tracking.progress_notice_interval = 0;\nCALL customer_tracking_backfill_all(p_chunk_orders => 50);");
ok( $rc == 0
	  && $out =~ /resuming the backfill started at .*: 3 shops \(150 orders\) done, going on after shop a7000000-0000-0000-0000-000000000003/
	  && $out =~ /backfill done: 8 shops, 400 orders \(400 re-tracked\), 0 customers repaired, 8 chunks/,
	'called again, it goes on after shop 3 and finishes: 8 chunks, 400 orders, none twice')
  or diag($out);
is($node->safe_psql('ct_bf_resume', 'SELECT count(*) FROM customer_tracking_verify()'),
	'0', 'customer_tracking_verify() is empty after the resumed run');

($rc, $out) = run_sql('ct_bf_resume',
	"SET customer_tracking.progress_notice_interval = 0;\nCALL customer_tracking_backfill_all(p_chunk_orders => 1000, p_restart => true);");
unlike($out, qr/resuming/, 'p_restart: starts from the first shop');
is( $node->safe_psql(
		'ct_bf_resume',
		'SELECT chunks_done, shops_done, orders_done, orders_retracked FROM customer_tracking_backfill_state'),
	'1|8|400|0',
	'p_restart: in one chunk of 1000 orders, nothing to re-track');

$node->stop;
done_testing();
