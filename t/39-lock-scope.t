#!/usr/bin/perl
# A hold or a payment locks its own rows, not the sale's: while one buyer's
# transaction is stopped just before its commit, other buyers of the same
# performance still hold and pay at once.  And a hold reads only the seats
# it names (see the end).
#
# The stop: a MariaDB client locks the place of the buyer's Idempotency-Key
# in its index and keeps its transaction open, so the worker's INSERT of
# that key (the last statement before COMMIT) waits, with every lock of
# the hold or payment taken.  Before, a payment locked the performance's row (joined
# in its locking read), so every payment of a sale waited for the one
# before to commit; and a hold's seats were read back through the hold_id
# index, whose next-key lock reached the highest hold id, where every
# concurrent hold inserts its own.
use strict;
use warnings;
use lib 't/lib';
use HTTP::Tiny;
use JSON::PP;
use POSIX qw(WNOHANG);
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use BookingTest qw(:all);

my $STOP = 6;    # seconds the stopped transaction is kept waiting

# No cache of taken seats: the refused hold at the end must reach MariaDB.
my $t = TicketTest->new(worker => 1, demo => 1,
    worker_conf => { threads => 4, priority_threads => 4,
                     hold_seconds => 120, taken_cache_ms => 0 });

my ($first, $second) = make_users($t, 2, balance => 1_000_000);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);

# Makes the INSERT of user's key wait for $STOP seconds: an open
# transaction locks the gap where the key would go, between two keys
# around it.  (Inserting the key itself would not do: its foreign key
# locks the user's row, which a hold or payment locks first.)
sub stop_key {
    my ($user, $key) = @_;
    my $row = "'POST', '/stop', REPEAT('0', 64), 'done'";
    $t->sql("INSERT INTO idempotency_keys (user_id, idem_key, method, path,"
            . " request_hash, status) VALUES ($user->{id}, '$key-a', $row),"
            . " ($user->{id}, '$key-z', $row)");
    my $pid = $t->sql_background(
        "START TRANSACTION;\n"
        . "SELECT id FROM idempotency_keys WHERE user_id = $user->{id}"
        . " AND idem_key = '$key-m' FOR UPDATE;\n"
        . "SELECT SLEEP($STOP);\nROLLBACK;\n");
    TicketTest::wait_until('the stopping transaction', 5, sub {
        $t->sql_value("SELECT COUNT(*) FROM information_schema.processlist"
                      . " WHERE info LIKE 'SELECT SLEEP%'") > 0 });
    return ($pid, "$key-m");
}

# Sends a request in a child; the answer's status and body come back in
# a file.
sub in_background {
    my ($path, $json, $user, $key) = @_;
    my $file = $t->dir . "/answer-$key";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $r = $t->post($path, json => $json, cookie => $user->{cookie},
                         headers => idem($key));
        open my $fh, '>', $file or POSIX::_exit(1);
        print $fh encode_json({ status => $r->{status},
                                json => $r->{json} });
        close $fh;
        POSIX::_exit(0);
    }
    return ($pid, $file);
}

sub answer_of {
    my ($file) = @_;
    open my $fh, '<', $file or return { status => 0 };
    local $/;
    return decode_json(scalar <$fh>);
}

sub stopped_then_other {
    my ($what, $stopped, $other) = @_;
    my $key = "stop-$what-$$";
    my $blocker;
    ($blocker, $key) = stop_key($stopped->{user}, $key);
    my ($pid, $file) = in_background(@{$stopped}{qw(path json user)}, $key);
    sleep 0.5;
    is(waitpid($pid, WNOHANG), 0, "$what: the stopped one waits at its key");

    my $t0 = time;
    my $r = $t->post($other->{path}, json => $other->{json},
                     cookie => $other->{user}{cookie}, headers => idem());
    my $took = time - $t0;
    is($r->{status}, 201, "$what: another buyer's succeeds meanwhile");
    cmp_ok($took, '<', $STOP / 2,
           "$what: without waiting for the stopped one")
        or diag(sprintf '%.2f s', $took);
    is(waitpid($pid, WNOHANG), 0,
       "$what: the stopped one was still waiting then");

    waitpid($blocker, 0);
    waitpid($pid, 0);
    is(answer_of($file)->{status}, 201,
       "$what: the stopped one succeeds once its key is free");
    return ($r, answer_of($file));
}

my ($hold_b, $hold_a) = stopped_then_other('hold',
    { user => $first, path => "/api/performances/$perf/holds",
      json => { seat_ids => [$seat[0]] } },
    { user => $second, path => "/api/performances/$perf/holds",
      json => { seat_ids => [$seat[1]] } });

stopped_then_other('payment',
    { user => $first, path => '/api/payments',
      json => { hold_id => $hold_a->{json}{id}, method => 'balance' } },
    { user => $second, path => '/api/payments',
      json => { hold_id => $hold_b->{json}{id}, method => 'balance' } });

is($t->sql_value("SELECT COUNT(*) FROM performance_seats"
                 . " WHERE performance_id = $perf AND state = 'sold'"),
   2, 'both seats sold, once each');
is_deeply([ledger_consistent($t)], [], 'every ledger adds up');

# --- and reads only its own seats --------------------------------------------
# On the 15,000-seat performance a hold, granted or refused, reads the few
# seats it names, not the performance's every row: MariaDB chose such a
# scan for the pre-check and for recording the hold's seats until their
# statements forced the primary key.  Counted as rows MariaDB read (its
# global counters: the other traffic of this test is a few rows).
my $big = $t->sql_value("SELECT id FROM performances WHERE seats_total = 15000"
                        . " AND on_sale_at <= UTC_TIMESTAMP()"
                        . " AND starts_at > UTC_TIMESTAMP() ORDER BY id LIMIT 1");
my @big_seat = seat_ids($t, $big);
my ($buyer, $rival) = make_users($t, 2, balance => 1_000_000);

sub rows_read {
    my %s = map { @$_ } @{ $t->sql("SHOW GLOBAL STATUS WHERE Variable_name"
                                   . " IN ('Handler_read_next',"
                                   . " 'Handler_read_prev',"
                                   . " 'Handler_read_rnd_next')") };
    my $n = 0;
    $n += $_ for values %s;
    return $n;
}

for my $case (['granted', $buyer, 201], ['refused', $rival, 409]) {
    my ($name, $user, $status) = @$case;
    my $before = rows_read();
    my $r = $t->post("/api/performances/$big/holds",
                     json => { seat_ids => [@big_seat[7000 .. 7003]] },
                     cookie => $user->{cookie}, headers => idem());
    my $read = rows_read() - $before;
    is($r->{status}, $status, "a 4-seat hold in the big hall, $name");
    cmp_ok($read, '<', 1000, "reads a few rows, not 15,000 ($read)");
}

$t->log_is_clean;
done_testing;
