#!/usr/bin/perl
# 200 clients race for the 50 seats of the small hall, each asking for 1 to
# 4 random seats at the same moment.  Afterwards every seat is held by at
# most one user, exactly as the answers said, and the audit log accounts
# for every claim.  Then the winners pay at once, and some seats are held
# again at once by two clients each: still one owner per seat.
use strict;
use warnings;
use lib 't/lib';
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use BookingTest qw(:all);

my $CLIENTS = 200;

# Long holds: the checks below must see the holds still alive.
my $t = TicketTest->new(worker => 1, demo => 1,
    worker_conf => { hold_seconds => 120, threads => 8 });
my @users = make_users($t, $CLIENTS, balance => 1000000);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);
is(scalar @seat, 50, '50 seats');

my $dir = $t->dir;
my $json = JSON::PP->new->canonical;

# Runs $code->($i) in $n children started together; returns their results
# (what each child's code returned, as JSON).
sub race {
    my ($n, $code) = @_;
    my $start = time + 1.5;
    my @pids;
    for my $i (0 .. $n - 1) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            srand($$ ^ int(time * 1000));
            $t->{http} = HTTP::Tiny->new(timeout => 60, keep_alive => 0);
            sleep($start - time) if $start > time;
            my $res = $code->($i);
            open my $fh, '>', "$dir/race-$i.json" or POSIX::_exit(1);
            print $fh $json->encode($res);
            close $fh;
            POSIX::_exit(0);
        }
        push @pids, $pid;
    }
    waitpid($_, 0) for @pids;
    my @out;
    for my $i (0 .. $n - 1) {
        open my $fh, '<', "$dir/race-$i.json" or die "child $i: no result";
        local $/;
        push @out, $json->decode(<$fh>);
        close $fh;
        unlink "$dir/race-$i.json";
    }
    return @out;
}

# InnoDB's count of deadlocks since MariaDB started.
sub deadlocks {
    return $t->sql_value("SELECT variable_value FROM"
                         . " information_schema.global_status"
                         . " WHERE variable_name = 'INNODB_DEADLOCKS'");
}

my $t0 = time;
my @res = race($CLIENTS, sub {
    my ($i) = @_;
    my %want;
    my $n = 1 + int(rand(4));
    $want{ $seat[int(rand(@seat))] } = 1 while keys %want < $n;
    my $r = $t->post("/api/performances/$perf/holds",
                     json => { seat_ids => [map { $_ + 0 } keys %want] },
                     cookie => $users[$i]{cookie}, headers => idem());
    return { user => $users[$i]{id}, status => $r->{status},
             body => $r->{json}, want => [sort keys %want] };
});
my $elapsed = time - $t0;
diag(sprintf "%d hold attempts in %.2f s", $CLIENTS, $elapsed);

my (%owner, %count, $dup);
for my $r (@res) {
    $count{ $r->{status} }++;
    next unless $r->{status} == 201;
    for my $s (map { $_->{seat_id} } @{ $r->{body}{seats} }) {
        $dup++ if exists $owner{$s};
        $owner{$s} = { user => $r->{user}, hold => $r->{body}{id} };
    }
    is_deeply([sort map { $_->{seat_id} } @{ $r->{body}{seats} }],
              [sort @{ $r->{want} }], 'a hold has exactly the seats asked')
        or last;
}
diag(join ', ', map { "$_: $count{$_}" } sort keys %count);
for my $r (grep { $_->{status} != 201 && $_->{status} != 409 } @res) {
    diag("$r->{status}: " . $json->encode($r->{body} // {}));
}
ok(!$dup, 'no seat was given to two holds');
ok($count{201}, 'some holds won');
is(($count{201} // 0) + ($count{409} // 0), $CLIENTS,
   'every other attempt got 409');
for my $r (grep { $_->{status} == 409 } @res) {
    is($r->{body}{error}{code}, 'SEAT_UNAVAILABLE', '409 says why') or last;
}
# Claims lock their seats by primary key in seat order, so racing holds
# wait for each other but never deadlock (a deadlock costs a retry, and
# three in a row a 503).
is(deadlocks(), 0, 'no deadlock among the racing holds');

# The database agrees with the answers, seat by seat.
my $rows = $t->sql("SELECT ps.seat_id, ps.state, ps.hold_id, h.user_id"
                   . " FROM performance_seats ps"
                   . " LEFT JOIN holds h ON h.id = ps.hold_id"
                   . " WHERE ps.performance_id = $perf");
my $bad = 0;
for my $row (@$rows) {
    my ($s, $state, $hold, $user) = @$row;
    my $o = $owner{$s};
    if ($o) {
        $bad++ unless $state eq 'held' && $hold == $o->{hold}
                      && $user == $o->{user};
    } else {
        $bad++ unless $state eq 'available';
    }
}
is($bad, 0, 'every seat is held by exactly the user the answers name');
is($t->sql_value("SELECT COUNT(*) FROM hold_seats WHERE performance_id ="
                 . " $perf AND claim = 1"), scalar keys %owner,
   'live hold_seats rows match');
is($t->sql_value("SELECT COUNT(*) FROM holds WHERE performance_id = $perf"),
   $count{201}, 'no hold row from a failed attempt');

# The audit log accounts for every claim, and only for them.
my $audit = $t->sql("SELECT seat_id, JSON_VALUE(after_json, '\$.hold_id'),"
                    . " user_id FROM audit_log WHERE entity = 'seat'"
                    . " AND action = 'hold' AND performance_id = $perf");
is(scalar @$audit, scalar keys %owner, 'one audit row per claimed seat');
my $matched = grep { my $o = $owner{ $_->[0] };
                     $o && $o->{hold} == $_->[1] && $o->{user} == $_->[2] }
              @$audit;
is($matched, scalar keys %owner, 'each audit row names the right hold');
is($t->sql_value("SELECT COUNT(*) FROM audit_log WHERE entity = 'hold'"
                 . " AND action = 'create' AND performance_id = $perf"),
   $count{201}, 'one audit row per hold');

# --- the winners pay at once ---------------------------------------------------
my @winners = grep { $_->{status} == 201 } @res;
my %cookie = map { $_->{id} => $_->{cookie} } @users;
my @paid = race(scalar @winners, sub {
    my ($i) = @_;
    my $w = $winners[$i];
    my $r = $t->post('/api/payments',
                     json => { hold_id => $w->{body}{id}, method => 'balance' },
                     cookie => $cookie{ $w->{user} }, headers => idem());
    return { status => $r->{status}, body => $r->{json} };
});
is(scalar(grep { $_->{status} == 201 } @paid), scalar @winners,
   'every winner paid') or diag(explain [map { $_->{body} } @paid]);
is($t->sql_value("SELECT COUNT(*) FROM performance_seats WHERE performance_id"
                 . " = $perf AND state = 'sold'"), scalar keys %owner,
   'all held seats are sold');
is($t->sql_value("SELECT COUNT(*) FROM reservation_seats WHERE performance_id"
                 . " = $perf AND claim = 1"), scalar keys %owner,
   'one live reservation seat each');
is($t->sql_value("SELECT COUNT(*) FROM performance_seats ps"
                 . " JOIN reservations r ON r.id = ps.reservation_id"
                 . " JOIN holds h ON h.id = r.hold_id"
                 . " WHERE ps.performance_id = $perf AND ps.state = 'sold'"
                 . " AND r.user_id = h.user_id"), scalar keys %owner,
   'each sold seat belongs to its holder');
is_deeply([ledger_consistent($t)], [], 'balances match the ledger');

# --- two clients per free seat, again ----------------------------------------
my @free = map { $_->[0] + 0 } @{ $t->sql(
    "SELECT seat_id FROM performance_seats WHERE performance_id = $perf"
    . " AND state = 'available' ORDER BY seat_id") };
SKIP: {
    skip 'no seat left', 2 unless @free;
    my @pairs = race(2 * @free, sub {
        my ($i) = @_;
        my $u = $users[$CLIENTS - 1 - $i];
        my $r = $t->post("/api/performances/$perf/holds",
                         json => { seat_ids => [$free[int($i / 2)]] },
                         cookie => $u->{cookie}, headers => idem());
        return { status => $r->{status} };
    });
    is(scalar(grep { $_->{status} == 201 } @pairs), scalar @free,
       'exactly one of each pair won');
    is(scalar(grep { $_->{status} == 409 } @pairs), scalar @free,
       'the other got 409');
    is(deadlocks(), 0, 'no deadlock among the pairs either');
}
# --- one user, more holds at once than the limit allows --------------------
# The limit (4 seats per user and performance) is checked under a lock of
# the user's row, with the count read in the same statement after the lock:
# of eight single-seat holds sent together, exactly four are granted.
my @greedy = make_users($t, 5, balance => 1000000);
my @arena = seat_ids($t, 2);
my @tries = race(8 * @greedy, sub {
    my ($i) = @_;
    my $r = $t->post('/api/performances/2/holds',
                     json => { seat_ids => [$arena[1000 + $i]] },
                     cookie => $greedy[$i % @greedy]{cookie},
                     headers => idem());
    return { user => $greedy[$i % @greedy]{id}, status => $r->{status},
             code => $r->{json}{error}{code} };
});
for my $u (@greedy) {
    my @mine = grep { $_->{user} == $u->{id} } @tries;
    my $granted = grep { $_->{status} == 201 } @mine;
    my $limited = grep { ($_->{code} // '') eq 'SEAT_LIMIT' } @mine;
    is("$granted/$limited", '4/4',
       "user $u->{id}: four granted, four refused with SEAT_LIMIT");
    is($t->sql_value("SELECT COUNT(*) FROM holds h JOIN hold_seats hs"
                     . " ON hs.hold_id = h.id WHERE h.user_id = $u->{id}"
                     . " AND h.status = 'active' AND hs.released_at IS NULL"),
       4, "user $u->{id}: four seats held");
}

cmp_ok(time - $t0, '<', 60, 'the race stays under a minute');
$t->log_is_clean;
done_testing;
