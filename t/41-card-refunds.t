#!/usr/bin/perl
# Money that arrives too late is given back: a success after the hold
# expired and the seats went to someone else ends refunded (the refund
# call retried until the gateway accepts it) with the seats unharmed and
# the buyer told why; a success after the payment was closed as failed is
# refunded too; cancelling a card-paid reservation refunds the card.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use TicketTest;
use BookingTest qw(:all);
use CardTest qw(:all);

my $t = TicketTest->new(worker => 1, demo => 1,
    gateway => { delay_ms => 20 },
    worker_conf => { hold_seconds => 2, checkout_extend_seconds => 2,
                     settle_interval => 1, payment_check_after => 600,
                     sweep_interval => 3600, gateway_timeout_ms => 1000 });

my ($a, $b) = make_users($t, 2, balance => 1000000);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);

sub count { $t->sql_value($_[0]) }

# --- A's checkout outlasts the hold; B buys the seat; then A's money comes ----
my $ha = hold($t, $a, $perf, $seat[0]);
my $r = card($t, $a, $ha->{id});
is($r->{status}, 201, 'A starts a card payment') or diag($r->{body});
my $pa = $r->{json}{payment}{id};
sleep 2.5;
my $hb = hold($t, $b, $perf, $seat[0]);
$r = card($t, $b, $hb->{id}, method => 'balance');
is($r->{status}, 201, 'B buys the seat with the balance') or diag($r->{body});
my $rb = $r->{json}{reservation}{id};
my $map_before = $t->sql("SELECT seat_id, state, reservation_id, hold_id FROM"
                         . " performance_seats WHERE performance_id = $perf"
                         . " ORDER BY seat_id");
my $version = count("SELECT seat_version FROM performances WHERE id = $perf");

# The refund call fails twice before the gateway accepts it.
$t->gateway('POST', '/_mock/config', { refund_failures => 2 });
complete($t, $pa, status => 'succeeded');
wait_until_true('the late success to be handled', 10, sub {
    (payment_row($t, $pa)->{status} // '') =~ /refund/ });
like(payment_row($t, $pa)->{reason}, qr/^(SEATS_TAKEN|HOLD_EXPIRED)$/,
     'the payment is marked for refund, with the reason');
wait_status($t, $pa, 'refunded', 20);
cmp_ok(payment_row($t, $pa)->{attempts}, '>=', 2,
       'the refund was retried until the gateway accepted it');
my @refunds = grep { $_->{path} eq "/v1/payments/$pa/refund" }
              @{ $t->gateway('GET', '/_mock/requests') };
is(scalar @refunds, 3, 'three refund calls: two refused, one accepted');
my $gw = $t->gateway('GET', "/_mock/payments/$pa");
is($gw->{status}, 'refunded', 'the gateway has refunded the money');
is($gw->{refunds}, 1, 'once');

is_deeply($t->sql("SELECT seat_id, state, reservation_id, hold_id FROM"
                  . " performance_seats WHERE performance_id = $perf"
                  . " ORDER BY seat_id"), $map_before,
          'the seat map is exactly as before: B keeps the seat');
is(count("SELECT reservation_id FROM performance_seats WHERE performance_id ="
         . " $perf AND seat_id = $seat[0]"), $rb, "the seat is B's");
is(count("SELECT COUNT(*) FROM reservations WHERE payment_id = $pa"), 0,
   'A has no reservation');
is(count("SELECT COUNT(*) FROM reservation_seats WHERE seat_id = $seat[0]"
         . " AND performance_id = $perf AND released_at IS NULL"), 1,
   'one live reservation of the seat');
is(count("SELECT status FROM holds WHERE id = $ha->{id}"), 'expired',
   "A's hold ended as expired");
$r = $t->get("/api/payments/$pa", cookie => $a->{cookie});
is($r->{json}{status}, 'refunded', 'A sees the payment refunded');
like($r->{json}{message}, qr/refunded/, 'and why: ' . ($r->{json}{message} // ''));
is(count("SELECT COUNT(*) FROM outbox WHERE event_type = 'payment.refunded'"
         . " AND aggregate_id = $pa"), 1, 'a payment.refunded event');
is_deeply([map { $_->[0] } @{ $t->sql("SELECT action FROM audit_log WHERE"
          . " entity = 'payment' AND entity_id = $pa ORDER BY id") }],
          ['create', 'refund_due', 'refund'], 'the payment\'s audit trail');

# The same success again changes nothing, and refunds nothing twice.
$r = callback($t, { payment_id => $pa + 0, status => 'succeeded',
                    amount => 30000, currency => 'KRW' });
is($r->{status}, 200, 'the success again: 200');
is($r->{json}{status}, 'refunded', 'still refunded');
sleep 1.5;
is($t->gateway('GET', "/_mock/payments/$pa")->{refunds}, 1, 'no second refund');

# --- a success after the payment was closed as failed --------------------------
my $hc = hold($t, $a, $perf, $seat[1]);
my $pc = card($t, $a, $hc->{id})->{json}{payment}{id};
complete($t, $pc, status => 'failed');
wait_status($t, $pc, 'failed');
my $state = count("SELECT state FROM performance_seats WHERE performance_id ="
                  . " $perf AND seat_id = $seat[1]");
complete($t, $pc, status => 'succeeded');
wait_status($t, $pc, 'refunded', 15);
is(payment_row($t, $pc)->{reason}, 'PAYMENT_CLOSED', 'reason PAYMENT_CLOSED');
is(count("SELECT state FROM performance_seats WHERE performance_id = $perf"
         . " AND seat_id = $seat[1]"), $state, 'the seat is untouched');
is(count("SELECT COUNT(*) FROM reservations WHERE payment_id = $pc"), 0,
   'no reservation');

# --- cancelling a card-paid reservation refunds the card -----------------------
my $hd = hold($t, $b, $perf, $seat[2]);
my $pd = card($t, $b, $hd->{id})->{json}{payment}{id};
complete($t, $pd, status => 'succeeded');
wait_status($t, $pd, 'succeeded');
my $rd = count("SELECT id FROM reservations WHERE payment_id = $pd");
my $bal = count("SELECT balance FROM balance_accounts WHERE user_id = $b->{id}");
$r = $t->post("/api/reservations/$rd/cancel", cookie => $b->{cookie});
is($r->{status}, 200, 'B cancels the card-paid reservation') or diag($r->{body});
is($r->{json}{status}, 'cancelled', 'cancelled');
wait_status($t, $pd, 'refunded', 10);
is(payment_row($t, $pd)->{reason}, 'CANCELLED', 'reason CANCELLED');
is(count("SELECT balance FROM balance_accounts WHERE user_id = $b->{id}"), $bal,
   'the money went back to the card, not to the balance');
is($t->gateway('GET', "/_mock/payments/$pd")->{status}, 'refunded',
   'the gateway refunded it');
is_deeply([map { $_->[0] } @{ $t->sql("SELECT event_type FROM outbox WHERE"
          . " aggregate = 'reservation' AND aggregate_id = $rd ORDER BY id") }],
          ['reservation.confirmed', 'reservation.cancelled',
           'reservation.refunded'], 'the reservation\'s events');
is(count("SELECT state FROM performance_seats WHERE performance_id = $perf"
         . " AND seat_id = $seat[2]"), 'available', 'the seat is on sale again');

is_deeply([ledger_consistent($t)], [], 'balances match the ledger');
$t->log_is_clean;
done_testing;
