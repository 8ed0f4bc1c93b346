
# Copyright (c) customer_tracking contributors; PostgreSQL licence (see LICENSE).

=pod

=head1 NAME

CustomerTracking::TestLib - shared helpers of the TAP tests in test/t/*.pl

=head1 SYNOPSIS

  use PostgreSQL::Test::Utils;
  use Test::More;
  use lib 'test/perl';    # also passed by the Makefile (-I test/perl)
  use CustomerTracking::TestLib;

  my $node = ct_node('upgrade');          # initdb + start; PGHOST/PGPORT point at it
  ct_create_db($node, 'ct_x', host_schema => 1, extension => 1);
  ...
  done_testing();

=head1 DESCRIPTION

Each TAP test starts its own cluster (PostgreSQL::Test::Cluster) from the PostgreSQL installation
first in PATH (make prove_installcheck puts the bindir of PG_CONFIG there), where the extension
must be installed. Tests run with the repository root as the current directory.

=cut

package CustomerTracking::TestLib;

use strict;
use warnings;

use Exporter 'import';
use File::Basename qw(dirname);
use Cwd qw(abs_path);
use POSIX ();
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;

our @EXPORT = qw(
  ct_root ct_long_tests ct_default_version ct_node ct_create_db ct_psql_file
  ct_same_lines ct_log_offset ct_log_scan ct_log_report
  ct_spawn ct_load_create_db ct_load_pgbench_cmd ct_pgbench_value
  $CT_LOAD_PGOPTIONS $CT_LOG_EXPECTED_RE);

# The repository root (this file is test/perl/CustomerTracking/TestLib.pm).
sub ct_root
{
	return abs_path(dirname(__FILE__) . '/../../..');
}

# True when the long variants run (scripts/test.sh --long exports CT_LONG_TESTS=1).
sub ct_long_tests
{
	return ($ENV{CT_LONG_TESTS} // '0') eq '1';
}

# default_version of customer_tracking.control: the version being built.
sub ct_default_version
{
	my $control = slurp_file(ct_root() . '/customer_tracking.control');
	$control =~ /^default_version\s*=\s*'([^']*)'/m
	  or die "no default_version in customer_tracking.control";
	return $1;
}

=pod

=item ct_node(NAME, conf => 'extra postgresql.conf lines')

A new cluster, initialised and started, with the settings of the old throwaway test cluster
(fsync off, synchronous_commit on, no statement logging, 60 connections, prepared
transactions). Exports PGHOST, PGPORT and PGDATABASE=postgres so that psql, pgbench and pg_dump
started by the test reach it.

=cut

sub ct_node
{
	my ($name, %opts) = @_;
	my $node = PostgreSQL::Test::Cluster->new($name);
	$node->init;
	# After Cluster.pm's own lines: the last setting wins.
	$node->append_conf(
		'postgresql.conf', qq{
# customer_tracking TAP test
# fsync off is safe for process crashes (kill -9): only an OS crash loses data.
# synchronous_commit stays on: with it off, a backend crash can lose just-committed rows.
fsync = off
full_page_writes = off
log_statement = none
log_min_messages = warning
max_connections = 60
max_prepared_transactions = 10
} . ($opts{conf} // ''));
	$node->start;
	$ENV{PGHOST}     = $node->host;
	$ENV{PGPORT}     = $node->port;
	$ENV{PGDATABASE} = 'postgres';
	delete $ENV{PGOPTIONS};
	return $node;
}

# Runs the SQL of FILE (relative to the repository root) in DB; dies on an error.
sub ct_psql_file
{
	my ($node, $db, $file, $prefix) = @_;
	return $node->safe_psql($db,
		($prefix // '') . slurp_file(ct_root() . "/$file"));
}

=pod

=item ct_create_db(NODE, DB, host_schema => 1, extension => 1)

DROP/CREATE DATABASE DB; optionally the host schema (test/fixtures/host-schema.sql) and
CREATE EXTENSION customer_tracking.

=cut

sub ct_create_db
{
	my ($node, $db, %opts) = @_;
	$node->safe_psql('postgres', "DROP DATABASE IF EXISTS $db WITH (FORCE)");
	$node->safe_psql('postgres', "CREATE DATABASE $db");
	ct_psql_file($node, $db, 'test/fixtures/host-schema.sql',
		"SET client_min_messages = warning;\n")
	  if $opts{host_schema};
	$node->safe_psql($db,
		'SET client_min_messages = warning; CREATE EXTENSION customer_tracking')
	  if $opts{extension};
	return;
}

=pod

=item ct_same_lines(GOT, EXPECTED, NAME)

ok() when both strings are equal; otherwise a unified diff (- expected, + got) as diagnostics.

=cut

sub ct_same_lines
{
	my ($got, $expected, $name) = @_;
	return ok(1, $name) if $got eq $expected;
	my $dir = PostgreSQL::Test::Utils::tempdir();
	append_to_file("$dir/expected", "$expected\n");
	append_to_file("$dir/got",      "$got\n");
	my ($diff) = run_command([ 'diff', '-u', "$dir/expected", "$dir/got" ]);
	ok(0, $name);
	diag($diff);
	return 0;
}

=pod

=item ct_spawn(CMD, OUT, ERR, ENV_NAME => VALUE, ...)

Starts the command (array ref) in the background, stdin from /dev/null, stdout to the file OUT,
stderr to the file ERR (or OUT when ERR is undef), with extra environment variables; returns its
pid (waitpid() it, or kill it).

=cut

sub ct_spawn
{
	my ($cmd, $out, $err, %env) = @_;
	my $pid = fork();
	die "fork: $!" unless defined $pid;
	if ($pid == 0)
	{
		open STDIN,  '<', '/dev/null' or POSIX::_exit(126);
		open STDOUT, '>', $out        or POSIX::_exit(126);
		if (defined $err) { open STDERR, '>', $err or POSIX::_exit(126); }
		else { open STDERR, '>&', \*STDOUT or POSIX::_exit(126); }
		$ENV{$_} = $env{$_} for keys %env;
		exec @$cmd or POSIX::_exit(127);
	}
	return $pid;
}

# ---------------------------------------------------------------------------------------------
# The server log

# Current size of the node's server log.
sub ct_log_offset
{
	my ($node) = @_;
	return -s $node->logfile // 0;
}

=pod

=item ct_log_scan(NODE, OFFSET, ALLOWED_RE)

Scans the server log written since OFFSET, one entry per line (DETAIL/HINT/CONTEXT/STATEMENT
and continuation lines joined to their message), ignoring entries matching ALLOWED_RE. Returns
a hash ref: errors, deadlocks, fatals (FATAL/PANIC), signals (a server process terminated by a
signal), warnings, entries (the unexpected entries).

=cut

sub ct_log_scan
{
	my ($node, $offset, $allowed) = @_;
	open my $fh, '<', $node->logfile or die "cannot read " . $node->logfile . ": $!";
	seek $fh, $offset, 0;
	my @entries;
	my $e = '';
	while (my $line = <$fh>)
	{
		chomp $line;
		if ($line =~ /^\t/ || $line =~ / (DETAIL|HINT|CONTEXT|STATEMENT):  /)
		{
			$e .= " | $line";
			next;
		}
		push @entries, $e if $e ne '';
		$e = $line;
	}
	push @entries, $e if $e ne '';
	close $fh;
	my @bad = grep {
		(/^[^|]* (ERROR|FATAL|PANIC|WARNING):  / || /^[^|]*terminated by signal/)
		  && !(defined $allowed && $allowed ne '' && /$allowed/)
	} @entries;
	my %r = (entries => \@bad);
	$r{errors}    = grep { /^[^|]* ERROR:  / } @bad;
	$r{deadlocks} = grep { /^[^|]* ERROR:  deadlock detected/ } @bad;
	$r{fatals}    = grep { /^[^|]* (FATAL|PANIC):  / } @bad;
	$r{signals}   = grep { /^[^|]*terminated by signal/ } @bad;
	$r{warnings}  = grep { /^[^|]* WARNING:  / } @bad;
	return \%r;
}

# Diagnostics for the unexpected entries of a ct_log_scan(): the first ones and the messages by count.
sub ct_log_report
{
	my ($scan) = @_;
	my @bad = @{ $scan->{entries} };
	return unless @bad;
	my $text = scalar(@bad) . " unexpected server log entries; the first ones (shortened):\n";
	for my $e (@bad[ 0 .. ($#bad < 2 ? $#bad : 2) ])
	{
		(my $s = $e) =~ s/[ \t]+/ /g;
		$text .= substr($s, 0, 1200) . "\n";
	}
	my %count;
	for my $e (@bad)
	{
		(my $m = $e) =~ s/ \| .*//;
		$m =~ s/^[^]]*\] [^ ]* ?(ERROR|FATAL|PANIC|WARNING|LOG):  /$1:  /;
		$m =~ s/[0-9a-f]{8}-[0-9a-f-]{27}/<uuid>/g;
		$m =~ s/[0-9]+/N/g;
		$count{ substr($m, 0, 160) }++;
	}
	$text .= "messages by count:\n";
	my @top = sort { $count{$b} <=> $count{$a} || $a cmp $b } keys %count;
	$text .= sprintf("%7d %s\n", $count{$_}, $_) for @top[ 0 .. ($#top < 19 ? $#top : 19) ];
	diag($text);
	return;
}

# ---------------------------------------------------------------------------------------------
# The mixed order workload of the load and crash tests (test/load/)

# The WARNING every order with the unreadable phone ('call me') gets, by design.
our $CT_LOG_EXPECTED_RE = 'saved untracked: invalid_phone';

# PGOPTIONS for the pgbench clients: hide the expected invalid_phone warnings from them.
our $CT_LOAD_PGOPTIONS = '-c client_min_messages=error';

# A fresh database: host schema, CREATE EXTENSION, test/load/setup.sql (4 shops, 50 phone
# strings of 16 people, a foreign number and an unreadable phone).
sub ct_load_create_db
{
	my ($node, $db) = @_;
	ct_create_db($node, $db, host_schema => 1, extension => 1);
	ct_psql_file($node, $db, 'test/load/setup.sql',
		"SET client_min_messages = warning;\n");
	return;
}

=pod

=item ct_load_pgbench_cmd(DB, CLIENTS, SECONDS)

The pgbench command (array ref) of the mixed workload, weights: checkout 40, payment 25,
refund 15, delete 10, edit 10 (test/load/*.pgbench); -M prepared, no retries (a deadlock or
serialization failure is a failed transaction, any other error aborts the client); killed if
still running 120 s after its end (exit status 124). Run it with PGOPTIONS=$CT_LOAD_PGOPTIONS.

=cut

sub ct_load_pgbench_cmd
{
	my ($db, $clients, $seconds) = @_;
	my $dir  = ct_root() . '/test/load';
	my $jobs = 2;
	if (open my $np, '-|', 'nproc')
	{
		my $n = <$np>;
		$jobs = $1 if defined $n && $n =~ /^(\d+)/;
		close $np;
	}
	$jobs = $clients if $jobs > $clients;
	return [
		'timeout', '--kill-after=10', $seconds + 120,
		'pgbench', '-n', '-M', 'prepared', '-c', $clients, '-j', $jobs,
		'-T', $seconds, '--failures-detailed', '--verbose-errors',
		'-f', "$dir/place.pgbench\@40",
		'-f', "$dir/pay.pgbench\@25",
		'-f', "$dir/refund.pgbench\@15",
		'-f', "$dir/delete.pgbench\@10",
		'-f', "$dir/edit.pgbench\@10",
		$db
	];
}

# A value from pgbench's report: ct_pgbench_value(OUTPUT, 'number of failed transactions').
sub ct_pgbench_value
{
	my ($out, $what) = @_;
	return $out =~ /^\Q$what\E: ([0-9.]+)/m ? $1 : undef;
}

1;
