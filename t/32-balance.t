#!/usr/bin/perl
# The balance: top-ups, the ledger, and many charges and payments from one
# account at the same moment.  The balance always equals the ledger sum,
# each ledger row's balance_after is the running sum, and it never goes
# below zero.
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

my $t = TicketTest->new(worker => 1, demo => 1,
    worker_conf => { hold_seconds => 120, max_seats_per_user => 16,
                     threads => 8 });
my ($u, $other) = make_users($t, 2);

my $r = $t->get('/api/balance', cookie => $u->{cookie});
is($r->{status}, 200, 'balance of a new user');
is($r->{json}{balance}, 0, 'is zero');

$r = $t->post('/api/balance/charges', json => { amount => 200000 },
              cookie => $u->{cookie}, headers => idem());
is($r->{status}, 201, 'top-up') or diag($r->{body});
is($r->{json}{balance}, 200000, 'new balance');
is($r->{json}{entry}{kind}, 'topup', 'ledger entry kind');
is($r->{json}{entry}{amount}, 200000, 'ledger entry amount');

$r = $t->get('/api/balance', cookie => $u->{cookie});
is($r->{json}{balance}, 200000, 'balance reads back');
$r = $t->get('/api/balance', cookie => $other->{cookie});
is($r->{json}{balance}, 0, "another user's balance is separate");

for (1 .. 3) {
    $t->post('/api/balance/charges', json => { amount => 1000 * $_ },
             cookie => $u->{cookie}, headers => idem());
}
$r = $t->get('/api/balance/ledger?limit=2', cookie => $u->{cookie});
is($r->{status}, 200, 'ledger');
is_deeply([map { $_->{amount} } @{ $r->{json}{entries} }], [3000, 2000],
          'newest first, limited');
ok($r->{json}{next_before}, 'a next page');
$r = $t->get("/api/balance/ledger?limit=5&before=$r->{json}{next_before}",
             cookie => $u->{cookie});
is_deeply([map { $_->{amount} } @{ $r->{json}{entries} }], [1000, 200000],
          'second page');
is($r->{json}{next_before}, undef, 'last page');
is($t->sql_value("SELECT COUNT(*) FROM audit_log WHERE entity = 'balance'"
                 . " AND entity_id = $u->{id} AND action = 'topup'"), 4,
   'each top-up audited');

# The cap on one account.
$r = $t->post('/api/balance/charges', json => { amount => 10000000 },
              cookie => $other->{cookie}, headers => idem()) for 1 .. 10;
$r = $t->post('/api/balance/charges', json => { amount => 1 },
              cookie => $other->{cookie}, headers => idem());
is($r->{status}, 422, 'the balance cap holds');
is($r->{json}{error}{code}, 'BALANCE_LIMIT', 'BALANCE_LIMIT');

# --- one account, many requests at once ----------------------------------------
# Holds made beforehand, one seat each, across three arena performances.
my @holds;
for my $perf (1 .. 3) {
    my @s = seat_ids($t, $perf);
    for my $k (0 .. 7) {
        my $h = $t->post("/api/performances/$perf/holds",
                         json => { seat_ids => [$s[$k * 97]] },
                         cookie => $u->{cookie}, headers => idem());
        push @holds, $h->{json} if $h->{status} == 201;
    }
}
is(scalar @holds, 24, '24 holds ready');

my $dir = $t->dir;
my $json = JSON::PP->new;
my $start = time + 1.5;
my @pids;
my $N = 48;
for my $i (0 .. $N - 1) {
    my $pid = fork // die;
    if ($pid == 0) {
        $t->{http} = HTTP::Tiny->new(timeout => 60, keep_alive => 0);
        sleep($start - time) if $start > time;
        my $r = $i % 2
            ? $t->post('/api/payments',
                       json => { hold_id => $holds[$i >> 1]{id},
                                 method => 'balance' },
                       cookie => $u->{cookie}, headers => idem())
            : $t->post('/api/balance/charges',
                       json => { amount => 5000 * (1 + $i % 7) },
                       cookie => $u->{cookie}, headers => idem());
        open my $fh, '>', "$dir/r$i" or POSIX::_exit(1);
        print $fh $json->encode({ status => $r->{status},
                                  body => $r->{json} });
        close $fh;
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
waitpid($_, 0) for @pids;
my %st;
my @out = map {
    open my $fh, '<', "$dir/r$_" or die; local $/; my $x = $json->decode(<$fh>);
    $st{ ($_ % 2 ? 'pay ' : 'charge ') . $x->{status} }++; $x
} 0 .. $N - 1;
diag(join ', ', map { "$_: $st{$_}" } sort keys %st);
is($st{'charge 201'}, $N / 2, 'every charge went through');
ok($st{'pay 201'}, 'some payments went through');
is(($st{'pay 201'} // 0) + ($st{'pay 402'} // 0), $N / 2,
   'the others were refused for lack of money');
for my $i (grep { $_ % 2 } 0 .. $N - 1) {
    next unless $out[$i]{status} == 402;
    is($out[$i]{body}{error}{code}, 'INSUFFICIENT_BALANCE', '402 says why');
    last;
}

is_deeply([ledger_consistent($t)], [], 'balance equals the ledger sum');
my $rows = $t->sql("SELECT amount, balance_after FROM balance_ledger"
                   . " WHERE user_id = $u->{id} ORDER BY id");
my ($sum, $bad, $neg) = (0, 0, 0);
for my $row (@$rows) {
    $sum += $row->[0];
    $bad++ if $sum != $row->[1];
    $neg++ if $sum < 0;
}
is($bad, 0, 'every balance_after is the running sum');
is($neg, 0, 'the balance never dipped below zero');
my $paid = 0;
$paid += $_->{body}{payment}{amount} for grep { $_->{status} == 201
                                                && $_->{body}{payment} } @out;
my $charged = 0;
$charged += $_->{body}{entry}{amount} for grep { $_->{status} == 201
                                                 && $_->{body}{entry} } @out;
is($t->sql_value("SELECT balance FROM balance_accounts WHERE user_id ="
                 . " $u->{id}"), 206000 + $charged - $paid,
   'final balance = start + charges - payments');
is($t->sql_value("SELECT COUNT(*) FROM payments WHERE user_id = $u->{id}"),
   $st{'pay 201'}, 'no payment row from a refused payment');
is($t->sql_value("SELECT COUNT(*) FROM holds WHERE user_id = $u->{id}"
                 . " AND status = 'converted'"), $st{'pay 201'},
   'refused payments left their holds active');

# Sixteen seats: the payment's twenty audit rows take two INSERTs (at most
# AUDIT_ROWS_PER_INSERT rows each), all in its transaction.
my ($big) = make_users($t, 1, balance => 100_000_000);
my $perf = 2;
my @free = map { $_->[0] } @{ $t->sql(
    "SELECT seat_id FROM performance_seats WHERE performance_id = $perf"
    . " AND state = 'available' ORDER BY seat_id DESC LIMIT 16") };
my $hold = $t->post("/api/performances/$perf/holds",
                    json => { seat_ids => [map { $_ + 0 } @free] },
                    cookie => $big->{cookie}, headers => idem());
is($hold->{status}, 201, 'a hold of sixteen seats') or diag($hold->{body});
my $pay = $t->post('/api/payments',
                   json => { hold_id => $hold->{json}{id},
                             method => 'balance' },
                   cookie => $big->{cookie}, headers => idem());
is($pay->{status}, 201, 'paid') or diag($pay->{body});
my $audit = $t->sql(
    "SELECT entity, action, COUNT(*), COUNT(DISTINCT request_id),"
    . " SUM(actor_user_id = $big->{id}), SUM(user_id = $big->{id})"
    . " FROM audit_log WHERE user_id = $big->{id}"
    . " GROUP BY entity, action ORDER BY entity, action");
is_deeply($audit, [
    ['balance', 'payment', 1, 1, 1, 1],
    ['hold', 'convert', 1, 1, 1, 1],
    ['hold', 'create', 1, 1, 1, 1],
    ['payment', 'create', 1, 1, 1, 1],
    ['reservation', 'create', 1, 1, 1, 1],
    ['seat', 'hold', 16, 1, 16, 16],
    ['seat', 'sell', 16, 1, 16, 16],
], 'every row of both batches, with actor, user and request id');
is($t->sql_value("SELECT COUNT(DISTINCT seat_id) FROM audit_log"
                 . " WHERE user_id = $big->{id} AND entity = 'seat'"
                 . " AND action = 'sell' AND performance_id = $perf"), 16,
   'one sale row per seat');
$t->log_is_clean;
done_testing;
