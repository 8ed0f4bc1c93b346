
# Copyright (c) customer_tracking contributors; PostgreSQL licence (see LICENSE).

# Crash test: the server is killed hard in the middle of the load of 003_load.pl, then restarted;
# no committed order may be lost and every stored number must still equal a recomputation from
# the orders.
#
#   database ct_crash, set up as ct_load (test/load/setup.sql). Each cycle:
#   1. the pgbench load (test/load/*.pgbench) runs in the background, and 2 "recorder" clients
#      (psql, test/load/recorder.awk) insert, pay, refund and delete orders of the same customers,
#      printing an order's new state only after its COMMIT has returned;
#   2. after a few seconds the server is killed with SIGKILL, alternately
#        postmaster: the postmaster and all its processes at once, then pg_ctl start (crash
#                    recovery at startup);
#        backend:    one busy backend, after which the postmaster itself resets every process
#                    and recovers (restart_after_crash);
#   3. once the server is back: every order the recorders saw committed is there in its last
#      committed state (deleted ones absent; a transaction in flight at the kill may have gone
#      either way), customer_tracking_verify() returns no rows, a new order is tracked.
#   Default: 2 cycles (one of each kind), 16 clients, 5 s of load per cycle. CT_LONG_TESTS=1
#   (scripts/test.sh --long): 6 cycles, 24 clients, 5 to 12 s each. CT_CRASH_CYCLES /
#   CT_LOAD_CLIENTS override. A cycle is survived when the server came back, no recorded order
#   was lost or in the wrong state, verify was empty, the new order was tracked, and no server
#   process died of any signal but our SIGKILL (no PANIC, no unexpected FATAL). The test also
#   fails on an ERROR (e.g. a deadlock) or WARNING in the server log other than those the kills
#   cause, or a recorder stopping on an error: errors of the load itself, counted apart.
#   fsync = off but synchronous_commit = on: a killed process loses no committed transaction
#   that way (only an OS crash or power loss would).
# The last diagnostic line is a summary "crash: ...".
use strict;
use warnings;
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use CustomerTracking::TestLib;

my $db        = 'ct_crash';
my $recorders = 2;
my ($cycles, $clients, $load_min, $load_max) =
  ct_long_tests()
  ? ($ENV{CT_CRASH_CYCLES} || 6, $ENV{CT_LOAD_CLIENTS} || 24, 5, 12)
  : ($ENV{CT_CRASH_CYCLES} || 2, $ENV{CT_LOAD_CLIENTS} || 16, 5, 5);
my $t0 = time;
# Messages a kill causes: other sessions terminated, connections refused during recovery.
my $crash_re =
  'terminating connection because of crash of another server process|the database system is (starting up|in recovery mode|shutting down|not yet accepting connections)|terminating connection due to unexpected postmaster exit';
# What a recorder may print when it stops because the server went away.
my $recorder_gone_re = qr/$crash_re|server closed the connection unexpectedly|connection to server was lost|This probably means the server terminated abnormally|before or while processing the request|no connection to the server|The postmaster has commanded this server process|In a moment you should be able to reconnect|connection to server .* failed|could not connect to server|could not send data to server|could not receive data from server|^psql:.*FATAL:|^$/;

my $node = ct_node('crash', conf => "restart_after_crash = on\n");
my $scratch = PostgreSQL::Test::Utils::tempdir();
my $root    = ct_root();
my @bg;    # pids of this cycle's clients

# Waits up to 30 s for this cycle's clients to end, then kills those still running.
sub stop_clients
{
	my $deadline = time + 30;
	my %left = map { $_ => 1 } @bg;
	while (%left && time < $deadline)
	{
		for my $pid (keys %left)
		{
			delete $left{$pid} if waitpid($pid, WNOHANG) != 0;
		}
		sleep 0.5 if %left;
	}
	for my $pid (keys %left)
	{
		note("client process $pid still running 30 s after the kill; killing it");
		kill 'TERM', $pid;
		waitpid($pid, 0);
	}
	@bg = ();
	return;
}

# psql as a client of the test (not through the node: it may be down).
sub cq
{
	my ($sql) = @_;
	my ($out, $err) = ('', '');
	IPC::Run::run([ 'psql', '-X', '-At', '-v', 'ON_ERROR_STOP=1', '-d', $db, '-c', $sql ],
		'>', \$out, '2>', \$err);
	chomp $out;
	return wantarray ? ($out, $err) : $out;
}

# Waits up to SECONDS for the server to accept connections to the database.
sub server_up
{
	my ($seconds) = @_;
	my $deadline = time + $seconds;
	while (time < $deadline)
	{
		my ($out) = cq('SELECT 1');
		return 1 if $out eq '1';
		sleep 0.25;
	}
	return 0;
}

# Kills the postmaster and every process it started with SIGKILL, waits until they are gone,
# starts the server again. Returns a description of what was killed, or undef.
sub kill_postmaster
{
	my ($cycle) = @_;
	my ($pm) = split /\n/, slurp_file($node->data_dir . '/postmaster.pid');
	my ($children) = run_command([ 'pgrep', '-P', $pm ]);
	my @children = grep { /^\d+$/ } split /\s+/, $children;
	$node->kill9;    # the postmaster, SIGKILL
	kill 'KILL', @children;
	my $deadline = time + 30;
	my @alive;
	do
	{
		@alive = grep { kill 0, $_ } ($pm, @children);
		sleep 0.25 if @alive;
	} while (@alive && time < $deadline);
	ok(!@alive, "cycle $cycle: every server process gone after SIGKILL")
	  or return undef;
	ok($node->start(fail_ok => 1), "cycle $cycle: pg_ctl start after the kill")
	  or return undef;
	return "postmaster $pm and " . scalar(@children) . " server processes";
}

# Kills one busy backend of the load with SIGKILL; the postmaster resets and recovers by itself.
# Returns (description, the log line the kill allows), or undef.
sub kill_backend
{
	my ($cycle, $offset) = @_;
	my $pid = cq(
		"SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND backend_type = 'client backend'
		    AND pid <> pg_backend_pid() AND state = 'active' ORDER BY random() LIMIT 1");
	$pid = cq(
		"SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND backend_type = 'client backend'
		    AND pid <> pg_backend_pid() ORDER BY random() LIMIT 1")
	  if $pid eq '';
	ok($pid =~ /^\d+$/, "cycle $cycle: a backend of the load to kill") or return undef;
	kill 'KILL', $pid;
	# Wait until the postmaster has noticed and reset (then server_up waits for the recovery).
	ok( $node->wait_for_log(qr/all server processes terminated; reinitializing/, $offset),
		"cycle $cycle: the postmaster reinitializes after the backend kill");
	return ("backend $pid", "|server process \\(PID $pid\\) was terminated by signal 9");
}

# Expected state of every recorder order from the recorders' output (all cycles so far): a list
# of [id, last committed state or 'absent', state in flight at a kill or undef].
sub expected_states
{
	my (@order, %seen, %last, %pend);
	for my $f (sort glob("$scratch/rec-*.log"))
	{
		for (split /\n/, slurp_file($f))
		{
			my ($what, $id, $state) = split / /;
			next unless defined $state;
			push @order, $id unless $seen{$id}++;
			if ($what eq 'ok') { $last{$id} = $state; delete $pend{$id}; }
			elsif ($what eq 'try') { $pend{$id} = $state; }
		}
	}
	return map { [ $_, $last{$_} // 'absent', $pend{$_} ] } @order;
}

my %rec = (orders => '?', deleted => '?', doubt => '?', wrong => '?');

# Every order the recorders saw committed is in its last committed state.
sub check_recorded
{
	my ($cycle) = @_;
	my $tsv = "$scratch/expected.tsv";
	unlink $tsv;
	append_to_file($tsv,
		join('', map { "$_->[0]\t$_->[1]\t" . ($_->[2] // '\N') . "\n" } expected_states()));
	my $load = qq{
SET client_min_messages = warning;
CREATE TEMP TABLE rec (id uuid PRIMARY KEY, state text NOT NULL, alt text);
\\copy rec FROM '$tsv'
};
	my $res = $node->safe_psql($db, $load . q{
CREATE TEMP TABLE res AS
SELECT r.*, CASE WHEN o.id IS NULL THEN 'deleted' ELSE o.payment_status END AS actual
  FROM rec r LEFT JOIN shop_orders o ON o.id = r.id;
-- committed orders, committed deletions, in flight at the kill, wrong
SELECT count(*) FILTER (WHERE state NOT IN ('absent', 'deleted')) || ' ' ||
       count(*) FILTER (WHERE state = 'deleted') || ' ' ||
       count(*) FILTER (WHERE alt IS NOT NULL) || ' ' ||
       count(*) FILTER (WHERE actual IS DISTINCT FROM replace(state, 'absent', 'deleted')
                          AND actual IS DISTINCT FROM alt)
  FROM res;});
	@rec{qw(orders deleted doubt wrong)} = split / /, $res;
	is($rec{wrong}, '0',
		"cycle $cycle: every recorded order is in its last committed state ($rec{orders} committed orders present, $rec{deleted} committed deletions absent, $rec{doubt} in flight at a kill)"
	  )
	  or diag($node->safe_psql($db, $load . q{
SELECT r.id, r.state AS committed_state, r.alt AS in_flight, o.payment_status AS found
  FROM rec r LEFT JOIN shop_orders o ON o.id = r.id
 WHERE coalesce(o.payment_status, 'deleted') IS DISTINCT FROM replace(r.state, 'absent', 'deleted')
   AND coalesce(o.payment_status, 'deleted') IS DISTINCT FROM r.alt
 LIMIT 20}));
	return;
}

# A recorder may only have stopped because the server went away.
sub check_recorder_exits
{
	my ($cycle) = @_;
	for my $r (1 .. $recorders)
	{
		my @bad = grep { !/$recorder_gone_re/ } split /\n/,
		  slurp_file("$scratch/rec-$cycle-$r.err");
		ok(!@bad, "cycle $cycle: recorder $r stopped only because the server went away")
		  or diag(join "\n", @bad[ 0 .. ($#bad < 9 ? $#bad : 9) ]);
	}
	return;
}

# A new customer's order is tracked after the restart (two transactions: the order is counted
# when its transaction commits).
sub check_new_order
{
	my ($cycle) = @_;
	my $phone = sprintf('+23324%07d', 9000000 + $cycle);
	cq(qq{SET client_min_messages = error;
INSERT INTO shop_orders (shop_id, customer_phone, network, total_price, payment_status, reference_code)
SELECT id, '$phone', 'MTN', 12.50, 'paid', 'new' FROM load_shops WHERE n = 1});
	my ($got, $err) = cq(
		qq{SELECT c.total_purchases || ' ' || c.total_spent FROM shop_customers c
		     JOIN load_shops s ON s.id = c.shop_id AND s.n = 1 WHERE c.phone_number = '$phone'});
	is($got, '1 12.50', "cycle $cycle: a new order after the restart is tracked") or diag($err);
	return;
}

note("crash: $cycles cycles, $clients clients + $recorders recorders, database $db");
ct_load_create_db($node, $db);
# Recovery starts from here, not from the setup.
$node->safe_psql('postgres', 'CHECKPOINT');

my ($total_errors, $total_deadlocks, $survived, $lost, $verify) = (0, 0, 0, 0, '?');
for my $cycle (1 .. $cycles)
{
	my $offset = ct_log_offset($node);
	my @fails_before = grep { !$_ } Test::More->builder->summary;

	push @bg,
	  ct_spawn(ct_load_pgbench_cmd($db, $clients, 600),
		"$scratch/pgbench-$cycle.out", undef, PGOPTIONS => $CT_LOAD_PGOPTIONS);
	for my $r (1 .. $recorders)
	{
		system_or_bail('sh', '-c',
			"awk -v cycle=$cycle -v rec=$r -v n=10000 -f '$root/test/load/recorder.awk' >'$scratch/rec-$cycle-$r.sql'"
		);
		push @bg,
		  ct_spawn(
			[
				'stdbuf', '-oL', 'psql', '-X', '-q', '--no-psqlrc', '-v', 'ON_ERROR_STOP=1',
				'-d', $db, '-f', "$scratch/rec-$cycle-$r.sql"
			],
			"$scratch/rec-$cycle-$r.log",
			"$scratch/rec-$cycle-$r.err");
	}
	my $wait_s = $load_min + int(rand($load_max - $load_min + 1));
	sleep $wait_s;
	ok(waitpid($bg[0], WNOHANG) == 0, "cycle $cycle: pgbench still running at the kill")
	  or diag(slurp_file("$scratch/pgbench-$cycle.out"));

	my $t_kill = time;
	my ($kind, $killed, $allowed_signal) = ('', undef, '');
	if ($cycle % 2 == 1)
	{
		$kind   = 'postmaster';
		$killed = kill_postmaster($cycle);
	}
	else
	{
		$kind = 'backend';
		($killed, $allowed_signal) = kill_backend($cycle, $offset);
	}
	my $up = server_up(120);
	ok($up, "cycle $cycle: the server came back within 120 s");
	if (!$up)
	{
		stop_clients();
		last;
	}
	my $down = time - $t_kill;
	stop_clients();
	check_recorder_exits($cycle);
	check_recorded($cycle);
	$verify = $node->safe_psql($db, 'SELECT count(*) FROM customer_tracking_verify()');
	is($verify, '0', "cycle $cycle: customer_tracking_verify() returns no rows")
	  or diag($node->safe_psql($db,
		'SELECT problem, count(*) FROM customer_tracking_verify() GROUP BY 1 ORDER BY 2 DESC LIMIT 20'));
	check_new_order($cycle);

	my $log = ct_log_scan($node, $offset, "$CT_LOG_EXPECTED_RE|$crash_re$allowed_signal");
	ct_log_report($log);
	$total_errors    += $log->{errors};
	$total_deadlocks += $log->{deadlocks};
	is($log->{errors}, 0,
		"cycle $cycle: server log: no ERROR entries ($log->{deadlocks} deadlocks)");
	is($log->{fatals}, 0, "cycle $cycle: server log: no unexpected FATAL/PANIC entries");
	is($log->{signals}, 0,
		"cycle $cycle: server log: no server process terminated by a signal we did not send");
	is($log->{warnings}, 0, "cycle $cycle: server log: no unexpected WARNING entries");

	my @fails_after = grep { !$_ } Test::More->builder->summary;
	$survived++ if @fails_after == @fails_before;
	$lost = $rec{wrong} if $rec{wrong} =~ /^\d+$/ && $rec{wrong} > $lost;
	note(sprintf(
			"cycle %d: killed %s (%s) after %ds of load; back in %.0fs; recorded so far: %s committed orders present, %s committed deletions absent, %s in flight at a kill; wrong: %s; verify rows: %s; orders in the database: %s",
			$cycle, $killed // '?', $kind, $wait_s, $down, $rec{orders}, $rec{deleted}, $rec{doubt},
			$rec{wrong}, $verify, scalar cq('SELECT count(*) FROM shop_orders')));
}

diag(sprintf(
		"crash: cycles_survived=%d/%d clients=%d+%d committed_orders_checked=%s committed_deletes_checked=%s in_doubt=%s lost_or_wrong=%s errors=%d deadlocks=%d verify_rows=%s (total %.0fs)",
		$survived, $cycles, $clients, $recorders, $rec{orders}, $rec{deleted}, $rec{doubt}, $lost,
		$total_errors, $total_deadlocks, $verify, time - $t0));

$node->stop;
done_testing();
