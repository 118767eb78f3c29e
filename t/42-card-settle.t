#!/usr/bin/perl
# A payment whose callback never comes is asked about and settled, never
# left pending: succeeded and failed at the gateway, still pending past
# payment_pending_max, unknown to the gateway, and a gateway that does not
# answer for a while.
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
    worker_conf => { hold_seconds => 60, checkout_extend_seconds => 60,
                     settle_interval => 1, payment_check_after => 1,
                     payment_pending_max => 4, sweep_interval => 3600,
                     gateway_timeout_ms => 500 });

my ($a) = make_users($t, 1, balance => 0);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);

sub count { $t->sql_value($_[0]) }

sub status_queries {
    my ($pid) = @_;
    return scalar grep { $_->{method} eq 'GET' && $_->{path} eq "/v1/payments/$pid" }
        @{ $t->gateway('GET', '/_mock/requests') };
}

# --- paid at the gateway, the callback lost ------------------------------------
my $h1 = hold($t, $a, $perf, $seat[0]);
my $p1 = card($t, $a, $h1->{id})->{json}{payment}{id};
complete($t, $p1, status => 'succeeded', callback => JSON::PP::false);
wait_status($t, $p1, 'succeeded', 10);
cmp_ok(status_queries($p1), '>=', 1, 'the worker asked the gateway');
my $rid = count("SELECT id FROM reservations WHERE payment_id = $p1");
ok($rid, 'the reservation is confirmed');
is(count("SELECT COUNT(*) FROM performance_seats WHERE reservation_id = $rid"
         . " AND state = 'sold'"), 1, 'the seat is sold');
is(count("SELECT COUNT(*) FROM outbox WHERE event_type = 'reservation.confirmed'"
         . " AND aggregate_id = $rid"), 1, 'the confirmed event');
is_deeply($t->gateway('GET', '/_mock/callbacks'), [], 'no callback was ever sent');

# --- declined at the gateway, the callback lost --------------------------------
my $h2 = hold($t, $a, $perf, $seat[1]);
my $p2 = card($t, $a, $h2->{id})->{json}{payment}{id};
complete($t, $p2, status => 'failed', callback => JSON::PP::false);
wait_status($t, $p2, 'failed', 10);
is(count("SELECT status FROM holds WHERE id = $h2->{id}"), 'released',
   'the hold is released');

# --- the buyer never finishes the checkout --------------------------------------
my $h3 = hold($t, $a, $perf, $seat[2]);
my $p3 = card($t, $a, $h3->{id})->{json}{payment}{id};
sleep 1.5;
is(payment_row($t, $p3)->{status}, 'pending', 'pending while the checkout may go on');
wait_status($t, $p3, 'failed', 15);
is(payment_row($t, $p3)->{reason}, 'CHECKOUT_TIMEOUT', 'CHECKOUT_TIMEOUT');
cmp_ok(status_queries($p3), '>=', 2, 'asked more than once before giving up');
is(count("SELECT state FROM performance_seats WHERE performance_id = $perf"
         . " AND seat_id = $seat[2]"), 'available', 'the seat is on sale again');

# --- the gateway never saw the payment (it was down, then lost its memory) ----
$t->stop_gateway;
my $h4 = hold($t, $a, $perf, $seat[3]);
my $r = card($t, $a, $h4->{id});
is($r->{status}, 502, 'no gateway');
my $p4 = count("SELECT id FROM payments WHERE hold_id = $h4->{id}");
sleep 2.5;
is(payment_row($t, $p4)->{status}, 'pending',
   'while the gateway does not answer, the payment stays pending');
cmp_ok(payment_row($t, $p4)->{attempts}, '>=', 1, 'and is asked again later');
$t->start_gateway;
wait_status($t, $p4, 'failed', 15);
is(payment_row($t, $p4)->{reason}, 'NOT_AT_GATEWAY', 'NOT_AT_GATEWAY');

is(count("SELECT COUNT(*) FROM payments WHERE status = 'pending'"), 0,
   'nothing is left pending');
$t->log_is_clean;
done_testing;
