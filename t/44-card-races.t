#!/usr/bin/perl
# Card payments under concurrency, and the mock gateway's own knobs:
# the same callback ten times at once is one sale; a late success racing
# another buyer for the expired hold's seat ends with exactly one owner and
# no money kept without a seat; --auto with a failure rate; the double
# refuses unsigned API calls.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use TicketTest;
use BookingTest qw(:all);
use CardTest qw(:all);

my $t = TicketTest->new(worker => 1, demo => 1,
    gateway => { delay_ms => 10 },
    worker_conf => { hold_seconds => 2, checkout_extend_seconds => 1,
                     threads => 8, settle_interval => 1,
                     payment_check_after => 600, sweep_interval => 3600 });

my @users = make_users($t, 12, balance => 1000000);
my ($a, $b) = @users;
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);

sub count { $t->sql_value($_[0]) }

# Runs code in n children at once; returns their exit codes.
sub parallel {
    my ($n, $code) = @_;
    my @pids;
    for my $i (1 .. $n) {
        my $pid = fork // die "fork: $!";
        if ($pid == 0) {
            exit($code->($i));
        }
        push @pids, $pid;
    }
    return map { waitpid($_, 0); $? >> 8 } @pids;
}

# --- ten identical callbacks at once ----------------------------------------------
# The hold may expire meanwhile: its seats still point at it, so the
# sale goes through all the same.
my $h = hold($t, $a, $perf, @seat[0, 1]);
my $r = card($t, $a, $h->{id});
is($r->{status}, 201, 'a card payment') or diag($r->{body});
my $pid = $r->{json}{payment}{id};
my %doc = (payment_id => $pid + 0, status => 'succeeded', amount => 60000,
           currency => 'KRW');
my @codes = parallel(10, sub {
    my $res = callback($t, \%doc);
    return $res->{status} == 200 ? 0 : 1;
});
is_deeply(\@codes, [(0) x 10], 'ten simultaneous callbacks all get 200');
is(payment_row($t, $pid)->{status}, 'succeeded', 'succeeded');
is(count("SELECT COUNT(*) FROM reservations WHERE payment_id = $pid"), 1,
   'one reservation');
is(count("SELECT COUNT(*) FROM audit_log WHERE entity = 'payment' AND"
         . " entity_id = $pid AND action = 'succeed'"), 1, 'one state change');
is(count("SELECT COUNT(*) FROM outbox WHERE event_type = 'reservation.confirmed'"
         . " AND payload LIKE '%\"payment_id\":$pid,%'"), 1, 'one event');

# --- a late success racing another buyer for the seat --------------------------
my ($won, $refunded) = (0, 0);
for my $round (1 .. 6) {
    my $s = $seat[10 + $round];
    my ($x, $y) = $round % 2 ? @users[2, 3] : @users[4, 5];
    my $hx = hold($t, $x, $perf, $s);
    my $px = card($t, $x, $hx->{id})->{json}{payment}{id};
    sleep 2.2;    # the hold has expired (the extension is shorter)
    my @c = parallel(2, sub {
        my ($i) = @_;
        if ($i == 1) {
            # The gateway took the money; its callback races the other buyer.
            $t->gateway('POST', "/_mock/payments/$px/complete",
                        { status => 'succeeded', callback => JSON::PP::false });
            return callback($t, { payment_id => $px + 0, status => 'succeeded',
                                  amount => 30000, currency => 'KRW' })
                   ->{status} == 200 ? 0 : 1;
        }
        my $hy = $t->post("/api/performances/$perf/holds",
                          json => { seat_ids => [$s] }, cookie => $y->{cookie},
                          headers => idem());
        return 0 if $hy->{status} == 409;
        return 2 unless $hy->{status} == 201;
        my $py = card($t, $y, $hy->{json}{id}, method => 'balance');
        return $py->{status} == 201 || $py->{status} == 410 ? 0 : 3;
    });
    is_deeply(\@c, [0, 0], "round $round: both sides got sensible answers");
    wait_until_true('the late payment to settle', 10, sub {
        (payment_row($t, $px)->{status} // '') =~ /^(succeeded|refunded)$/ });
    my $st = payment_row($t, $px)->{status};
    my $owners = count("SELECT COUNT(*) FROM reservation_seats WHERE"
                       . " performance_id = $perf AND seat_id = $s"
                       . " AND released_at IS NULL");
    cmp_ok($owners, '<=', 1, "round $round: at most one owner of the seat");
    if ($st eq 'succeeded') {
        $won++;
        is(count("SELECT r.user_id FROM reservation_seats rs JOIN reservations r"
                 . " ON r.id = rs.reservation_id WHERE rs.performance_id = $perf"
                 . " AND rs.seat_id = $s AND rs.released_at IS NULL"), $x->{id},
           "round $round: the card buyer owns the seat");
    } else {
        $refunded++;
        is(count("SELECT COUNT(*) FROM reservations WHERE payment_id = $px"), 0,
           "round $round: refunded, no reservation for the card buyer");
    }
}
note("late successes: $won kept the seat, $refunded refunded");

# --- the double's own knobs ------------------------------------------------------------
my $raw = HTTP::Tiny->new->get($t->gateway_url . '/v1/payments/1');
is($raw->{status}, 401, 'the mock gateway refuses an unsigned API call');
$t->gateway('POST', '/_mock/config', { auto => 'random', failure_rate => 1 });
my $hf = hold($t, $users[6], $perf, $seat[30]);
my $pf = card($t, $users[6], $hf->{id})->{json}{payment}{id};
wait_status($t, $pf, 'failed');
$t->gateway('POST', '/_mock/config', { auto => 'random', failure_rate => 0 });
my $hs = hold($t, $users[7], $perf, $seat[31]);
my $ps = card($t, $users[7], $hs->{id})->{json}{payment}{id};
wait_status($t, $ps, 'succeeded');
$t->gateway('POST', '/_mock/config', { auto => 'none' });

is_deeply([ledger_consistent($t)], [], 'balances match the ledger');
is(count("SELECT COUNT(*) FROM performance_seats ps JOIN reservations r ON"
         . " r.id = ps.reservation_id WHERE ps.state = 'sold' AND r.status <>"
         . " 'confirmed'"), 0, 'no sold seat without a confirmed reservation');
$t->log_is_clean;
done_testing;
