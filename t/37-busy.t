#!/usr/bin/perl
# Lock waits that do not end are retried a bounded number of times, then
# answered 503 DB_BUSY with Retry-After, and nothing is left behind.
use strict;
use warnings;
use lib 't/lib';
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use BookingTest qw(:all);

my $t = TicketTest->new(worker => 1, demo => 1,
    worker_conf => { hold_seconds => 60, sweep_interval => 3600 });
my ($a) = make_users($t, 1, balance => 100000);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);

# New connections wait one second for a row lock; restart the worker so
# that its connections are new.
$t->sql("SET GLOBAL innodb_lock_wait_timeout = 1");
$t->kill_worker;
$t->start_worker;

# Another session holds the seat's row lock for a while.
my $pid = fork // die;
if ($pid == 0) {
    my @cmd = ('mariadb', '--no-defaults', '-uroot',
               '--socket=' . $t->mysql_socket, 'ticket', '-e',
               "BEGIN; SELECT * FROM performance_seats WHERE performance_id ="
               . " $perf AND seat_id = $seat[0] FOR UPDATE; SELECT SLEEP(12);"
               . " ROLLBACK;");
    exec @cmd or POSIX::_exit(1);
}
sleep 1;

my $before = db_state($t);
my $t0 = time;
my $r = $t->post("/api/performances/$perf/holds",
                 json => { seat_ids => [$seat[0]] }, cookie => $a->{cookie},
                 headers => idem());
my $took = time - $t0;
is($r->{status}, 503, 'a seat locked too long gives 503') or diag($r->{body});
is($r->{json}{error}{code}, 'DB_BUSY', 'DB_BUSY');
ok($r->{headers}{'retry-after'}, 'with Retry-After');
cmp_ok($took, '>=', 2.5, 'after retrying') ;
cmp_ok($took, '<', 10, 'a bounded number of times');
is_deeply(db_state($t), $before, 'nothing was written, not even the key');

kill 'TERM', $pid;
waitpid($pid, 0);
$t->sql("SET GLOBAL innodb_lock_wait_timeout = 50");
$t->log_is_clean;
done_testing;
