
# Copyright (c) customer_tracking contributors; PostgreSQL licence (see LICENSE).

# Load test: many concurrent clients placing, paying, refunding, deleting and editing orders of a
# small pool of customers (constant same-customer and same-order collisions), then checking that
# nothing went wrong and that every stored number still equals a recomputation from the orders.
#
#   database ct_load: host schema (test/fixtures/host-schema.sql), CREATE EXTENSION
#   customer_tracking, test/load/setup.sql (4 shops, 50 phone strings = 16 people in 3 formats,
#   a foreign number and an unreadable phone).
#   pgbench -M prepared, no retries, weighted scripts (test/load/*.pgbench):
#     place 40   checkout: a new order, ~65% already paid, ~30% pending, ~5% failed
#     pay 25     checkout + payment webhook(s) in one transaction, or the webhook of a random
#                pending order
#     refund 15  a random paid order refunded / cancelled / failed
#     delete 10  a random order deleted
#     edit 10    a random order's amount, phone, network, time, shop, slug, or several
#   Default: 20 clients, 15 s. CT_LONG_TESTS=1 (scripts/test.sh --long): 24 clients, 60 s.
#   CT_LOAD_CLIENTS / CT_LOAD_SECONDS override either. More clients than the extension's 16
#   rollup stripes (one per backend id mod 16), so that, as on a busy production server, some
#   sessions share stripe rows.
#
# Fails unless: pgbench exits 0 with no failed transaction and no aborted client; the server log
# written during the run has no ERROR (so no deadlock), FATAL, PANIC, crashed process, or WARNING
# other than the expected one for the unreadable phone; customer_tracking_verify() returns no
# rows. The last diagnostic line is a summary "load: ...".
use strict;
use warnings;
use POSIX ();
use Time::HiRes qw(sleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use CustomerTracking::TestLib;

my $db      = 'ct_load';
my $clients = $ENV{CT_LOAD_CLIENTS} || (ct_long_tests() ? 24 : 20);
my $seconds = $ENV{CT_LOAD_SECONDS} || (ct_long_tests() ? 60 : 15);
my $t0      = time;

my $node    = ct_node('load');
my $scratch = PostgreSQL::Test::Utils::tempdir();
note("load: $clients clients, $seconds s, database $db");
ct_load_create_db($node, $db);
my $offset = ct_log_offset($node);

# Evidence of the collisions: every 0.2 s, how many clients are waiting for a lock. Stopped
# between two of its queries (killing a psql mid-query makes the server log "connection to
# client lost", which the log check would count as a failure).
my $samples = "$scratch/lock-waits.txt";
my $stop    = "$scratch/sampler.stop";
my $parent  = $$;
my $sampler = fork();
die "fork: $!" unless defined $sampler;
if ($sampler == 0)
{
	while (!-e $stop && getppid() == $parent)
	{
		my ($n) = run_command(
			[
				'psql', '-X', '-At', '-d', 'postgres', '-c',
				"SELECT count(*) FROM pg_stat_activity WHERE datname = '$db' AND wait_event_type = 'Lock'"
			]);
		append_to_file($samples, "$n\n");
		sleep 0.2;
	}
	POSIX::_exit(0);
}

my ($out, $err) = ('', '');
my $rc;
{
	local $ENV{PGOPTIONS} = $CT_LOAD_PGOPTIONS;
	IPC::Run::run(ct_load_pgbench_cmd($db, $clients, $seconds),
		'>', \$out, '2>&1');
	$rc = $? >> 8;
}
append_to_file($stop, '');
waitpid($sampler, 0);

note(join "\n", grep { !/^ - (weight|latency)/ } ($out =~ /^(transaction type.*)\z/ms ? split(/\n/, $1) : ()));
my $tx       = ct_pgbench_value($out, 'number of transactions actually processed');
my $failed   = ct_pgbench_value($out, 'number of failed transactions');
my $pgb_dead = ct_pgbench_value($out, 'number of deadlock failures');
my ($tps)    = $out =~ /^tps = ([0-9.]+)/m;
my $aborted  = () = $out =~ /aborted in command/g;
my @pgb_errors = grep { /got an error|error:/ } split /\n/, $out;

is($rc, 0, 'pgbench exits with status 0' . ($rc == 124 ? ' (timed out)' : ''));
ok(defined $tx && $tx > 0, 'pgbench processed transactions (' . ($tx // '?') . ')');
is($failed, '0',
	'pgbench: no failed transaction (' . ($pgb_dead // '?') . ' deadlocks)');
is($aborted, 0, 'pgbench: no aborted client');
diag("pgbench errors (first 10 of " . scalar(@pgb_errors) . "):\n"
	  . join("\n", map { substr($_, 0, 400) } @pgb_errors[ 0 .. ($#pgb_errors < 9 ? $#pgb_errors : 9) ]))
  if @pgb_errors;

my $log = ct_log_scan($node, $offset, $CT_LOG_EXPECTED_RE);
ct_log_report($log);
is($log->{errors}, 0,
	"server log: no ERROR entries ($log->{deadlocks} deadlocks)");
is($log->{fatals},   0, 'server log: no FATAL/PANIC entries');
is($log->{signals},  0, 'server log: no server process terminated by a signal');
is($log->{warnings}, 0, 'server log: no unexpected WARNING entries');

is($node->safe_psql('postgres', 'SELECT 1'), '1', 'the server answers after the run');

my $vt0    = time;
my $verify = $node->safe_psql($db, 'SELECT count(*) FROM customer_tracking_verify()');
my $vs     = time - $vt0;
is($verify, '0', 'customer_tracking_verify() returns no rows after the load')
  or diag($node->safe_psql($db,
	'SELECT problem, count(*) FROM customer_tracking_verify() GROUP BY 1 ORDER BY 2 DESC LIMIT 20'));

# What the run did (pg_stat counts every row the clients inserted, updated, deleted).
$node->safe_psql($db, 'SELECT pg_stat_force_next_flush()');
sleep 1;
my $stats = $node->safe_psql($db,
	"SELECT n_tup_ins || ' ' || n_tup_upd || ' ' || n_tup_del FROM pg_stat_user_tables WHERE relname = 'shop_orders'");
my ($ins, $upd, $del) = split / /, $stats;
note('left in the database: '
	  . $node->safe_psql($db, q{
SELECT count(*) || ' orders (' || count(*) FILTER (WHERE shop_customer_id IS NULL)
       || ' unlinked), ' || (SELECT count(*) FROM shop_customers WHERE total_purchases > 0)
       || ' customers with purchases, max ' || (SELECT max(total_orders) FROM shop_customers)
       || ' orders per customer'
  FROM shop_orders}));
my @s = grep { /^\d+$/ } split /\n/, (-e $samples ? slurp_file($samples) : '');
my $waiting = grep { $_ > 0 } @s;
my $max = 0;
$max = $_ > $max ? $_ : $max for @s;
note("collisions: $waiting of " . scalar(@s) . " samples had clients waiting for a lock (max $max at once)");

diag(sprintf(
		"load: clients=%d duration=%ds transactions=%s tps=%s orders_placed=%s updates=%s deletes=%s failed=%s errors=%d deadlocks=%d verify_rows=%s (verify %.0fs, total %.0fs)",
		$clients, $seconds, $tx // '?', $tps // '?', $ins // '?', $upd // '?', $del // '?',
		$failed // '?', $log->{errors}, $log->{deadlocks}, $verify, $vs, time - $t0));

$node->stop;
done_testing();
