#!/usr/bin/perl
# Card payments through the mock gateway: the checkout and the hold's
# extension, success, failure, duplicate, out-of-order, forged and
# wrong-amount callbacks, idempotent creation, a gateway that is down.
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
    worker_conf => { hold_seconds => 30, checkout_extend_seconds => 120,
                     settle_interval => 3600, sweep_interval => 3600,
                     gateway_timeout_ms => 1000 },
    http => <<'EOF2');
server {
    listen 127.0.0.1:%%PORT%%;
    location /api/ {
        fastcgi_pass unix:%%WORKER%%;
        %%FASTCGI%%
        fastcgi_param TICKET_ROOM $http_x_test_room;
        # The module strips X-Ticket-Release; this shows what the worker sent.
        add_header X-Seen-Release $upstream_http_x_ticket_release always;
    }
}
EOF2

my ($a, $b) = make_users($t, 2, balance => 1000000);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);

sub count { $t->sql_value($_[0]) }

# --- a checkout and a successful payment, with duplicate callbacks ------------
my $h = hold($t, $a, $perf, @seat[0, 1]);
my $expires = count("SELECT UNIX_TIMESTAMP(expires_at) FROM holds WHERE id = $h->{id}");
my $v = count("SELECT seat_version FROM performances WHERE id = $perf");
my $r = card($t, $a, $h->{id}, key => 'card-a-1');
is($r->{status}, 201, 'a card payment starts') or diag($r->{body});
my $p = $r->{json}{payment};
my $pid = $p->{id};
is($p->{status}, 'pending', 'pending');
is($p->{method}, 'card', 'method card');
is($p->{amount}, 60000, 'the amount is the hold total');
like($p->{checkout_url}, qr{/checkout/$pid$}, 'the checkout URL is the gateway\'s');
my $ext = count("SELECT UNIX_TIMESTAMP(expires_at) FROM holds WHERE id = $h->{id}");
cmp_ok($ext - $expires, '>', 80, 'the hold was extended for the checkout');
is(count("SELECT extended FROM holds WHERE id = $h->{id}"), 1, 'once');
is(count("SELECT COUNT(*) FROM performance_seats WHERE hold_id = $h->{id}"
         . " AND hold_expires_at = (SELECT expires_at FROM holds WHERE id ="
         . " $h->{id})"), 2, 'the seats carry the new expiry');
cmp_ok(count("SELECT seat_version FROM performances WHERE id = $perf"), '>', $v,
       'the seat map version moved');
is(count("SELECT COUNT(*) FROM audit_log WHERE entity = 'hold' AND entity_id ="
         . " $h->{id} AND action = 'extend'"), 1, 'the extension is audited');

# The same request again: the stored answer.
my $again = card($t, $a, $h->{id}, key => 'card-a-1');
is($again->{status}, 201, 'a retry with the same key');
is($again->{headers}{'idempotent-replayed'}, 'true', 'is a replay');
is($again->{json}{payment}{id}, $pid, 'of the same payment');
# Another key for the same hold: the same pending payment, not a second.
$again = card($t, $a, $h->{id});
is($again->{json}{payment}{id}, $pid, 'a new key finds the open payment');
is(count("SELECT COUNT(*) FROM payments WHERE hold_id = $h->{id}"), 1,
   'one payment row');
is(count("SELECT extended FROM holds WHERE id = $h->{id}"), 1,
   'still extended once');
$r = card($t, $a, $h->{id}, method => 'balance');
is($r->{status}, 409, 'paying the hold by balance meanwhile is refused');
is($r->{json}{error}{code}, 'PAYMENT_PENDING', 'PAYMENT_PENDING');

complete($t, $pid, status => 'succeeded', duplicates => 2);
wait_status($t, $pid, 'succeeded');
wait_until_true('three deliveries', 10, sub {
    grep({ $_->{payment_id} == $pid } @{ $t->gateway('GET', '/_mock/callbacks') }) >= 3 });
my @log = grep { $_->{payment_id} == $pid } @{ $t->gateway('GET', '/_mock/callbacks') };
is(scalar @log, 3, 'the gateway sent the callback three times');
is_deeply([map { $_->{answer} } @log], [200, 200, 200], 'three 200s');
my $rid = count("SELECT id FROM reservations WHERE payment_id = $pid");
ok($rid, 'a reservation');
is(count("SELECT status FROM reservations WHERE id = $rid"), 'confirmed', 'confirmed');
is(count("SELECT COUNT(*) FROM reservations WHERE payment_id = $pid"), 1,
   'one reservation for three callbacks');
is(count("SELECT COUNT(*) FROM performance_seats WHERE reservation_id = $rid"
         . " AND state = 'sold'"), 2, 'both seats sold');
is(count("SELECT status FROM holds WHERE id = $h->{id}"), 'converted', 'hold converted');
is(count("SELECT COUNT(*) FROM audit_log WHERE entity = 'payment' AND entity_id"
         . " = $pid AND action = 'succeed'"), 1, 'one state change audited');
is(count("SELECT COUNT(*) FROM audit_log WHERE entity = 'seat' AND action ="
         . " 'sell' AND after_json LIKE '%\"reservation_id\":$rid}%'"), 2,
   'each seat sale audited');
is(count("SELECT COUNT(*) FROM outbox WHERE event_type = 'reservation.confirmed'"
         . " AND aggregate_id = $rid"), 1, 'one confirmed event in the outbox');
$r = $t->get("/api/payments/$pid", cookie => $a->{cookie});
is($r->{status}, 200, 'the buyer reads the payment');
is($r->{json}{status}, 'succeeded', 'succeeded');
is($r->{json}{reservation_id}, $rid, 'with its reservation');
$r = $t->get("/api/payments/$pid", cookie => $b->{cookie});
is($r->{status}, 404, 'someone else does not');
is(count("SELECT balance FROM balance_accounts WHERE user_id = $a->{id}"), 1000000,
   'the balance is untouched by a card payment');

# A failure reported after the success, and a stale "processing": ignored.
$r = callback($t, { payment_id => $pid + 0, status => 'failed',
                    amount => 60000, currency => 'KRW' });
is($r->{status}, 200, 'a failure after the success is acknowledged');
is($r->{json}{status}, 'succeeded', 'and changes nothing');

# --- out of order: the final outcome, then a stale "processing" ------------
my $h2 = hold($t, $a, $perf, $seat[2]);
my $p2 = card($t, $a, $h2->{id})->{json}{payment}{id};
complete($t, $p2, status => 'succeeded', out_of_order => 1);
wait_until_true('the stale callback', 10, sub {
    grep({ $_->{payment_id} == $p2 && $_->{status} eq 'processing' }
         @{ $t->gateway('GET', '/_mock/callbacks') }) });
@log = grep { $_->{payment_id} == $p2 } @{ $t->gateway('GET', '/_mock/callbacks') };
is_deeply([map { "$_->{status} $_->{answer}" } @log],
          ['succeeded 200', 'processing 200'], 'both acknowledged, in that order');
is(payment_row($t, $p2)->{status}, 'succeeded', 'the stale one changed nothing');
is(count("SELECT COUNT(*) FROM reservations WHERE payment_id = $p2"), 1,
   'one reservation');

# --- a declined payment releases the hold ---------------------------------------
my $h3 = hold($t, $b, $perf, @seat[3, 4]);
my $p3 = card($t, $b, $h3->{id})->{json}{payment}{id};
complete($t, $p3, status => 'failed', duplicates => 1);
wait_status($t, $p3, 'failed');
is(payment_row($t, $p3)->{reason}, 'DECLINED', 'reason DECLINED');
is(count("SELECT status FROM holds WHERE id = $h3->{id}"), 'released', 'hold released');
is(count("SELECT COUNT(*) FROM performance_seats WHERE performance_id = $perf"
         . " AND seat_id IN ($seat[3], $seat[4]) AND state = 'available'"), 2,
   'the seats are on sale again');
is(count("SELECT COUNT(*) FROM reservations WHERE payment_id = $p3"), 0, 'no reservation');
$r = $t->get("/api/payments/$p3", cookie => $b->{cookie});
is($r->{json}{status}, 'failed', 'the buyer sees failed');
like($r->{json}{message}, qr/declined/, 'and why');
is(count("SELECT COUNT(*) FROM audit_log WHERE entity = 'payment' AND entity_id"
         . " = $p3 AND action = 'fail'"), 1, 'one state change for two callbacks');
$r = card($t, $b, $h3->{id});
is($r->{status}, 410, 'the released hold cannot be paid again');

# --- forged, unsigned, altered and wrong-amount callbacks -------------------
my $h4 = hold($t, $b, $perf, $seat[5]);
my $p4 = card($t, $b, $h4->{id})->{json}{payment}{id};
my $amount4 = count("SELECT amount FROM payments WHERE id = $p4");
my %good = (payment_id => $p4 + 0, status => 'succeeded', amount => $amount4 + 0,
            currency => 'KRW');
my $before = db_state($t);
$r = callback($t, \%good, key => 'forged-secret-0123456789abcdef');
is($r->{status}, 401, 'a forged signature is refused');
is($r->{json}{error}{code}, 'BAD_SIGNATURE', 'BAD_SIGNATURE');
$r = callback($t, \%good, sig => undef);
is($r->{status}, 401, 'no signature is refused');
$r = callback($t, \%good, sig => 'zz' x 32);
is($r->{status}, 401, 'a signature that is not hex is refused');
my $body = JSON::PP->new->canonical->encode(\%good);
my $sig = $t->sign_callback($body);
(my $altered = $body) =~ s/"amount":\d+/"amount":1/;
$r = callback($t, $altered, sig => $sig);
is($r->{status}, 401, 'a body changed after signing is refused');
$r = callback($t, { %good, amount => $amount4 + 1 });
is($r->{status}, 422, 'a wrong amount is refused');
is($r->{json}{error}{code}, 'AMOUNT_MISMATCH', 'AMOUNT_MISMATCH');
$r = callback($t, { %good, currency => 'USD' });
is($r->{status}, 422, 'a wrong currency is refused');
# The gateway itself claiming another amount.
complete($t, $p4, status => 'succeeded', amount => $amount4 - 1000);
wait_until_true('the wrong-amount deliveries', 15, sub {
    grep({ $_->{payment_id} == $p4 } @{ $t->gateway('GET', '/_mock/callbacks') }) });
@log = grep { $_->{payment_id} == $p4 } @{ $t->gateway('GET', '/_mock/callbacks') };
is($log[0]{answer}, 422, 'the worker refused the gateway\'s wrong amount');
is_deeply(db_state($t), $before, 'none of them changed anything');
is(payment_row($t, $p4)->{status}, 'pending', 'the payment is still pending');
# The right callback still works afterwards.
$r = callback($t, \%good);
is($r->{status}, 200, 'the genuine callback');
is($r->{json}{status}, 'succeeded', 'succeeds');
$r = callback($t, \%good);
is($r->{status}, 200, 'and again: 200');
is(count("SELECT COUNT(*) FROM reservations WHERE payment_id = $p4"), 1,
   'still one reservation');
$r = callback($t, { %good, payment_id => 99999999 });
is($r->{status}, 404, 'an unknown payment: 404');
$r = callback($t, '{"payment_id":');
is($r->{status}, 400, 'signed but malformed JSON: 400');

# --- the gateway is down when the checkout starts ----------------------------
$t->stop_gateway;
my $h5 = hold($t, $b, $perf, $seat[6]);
$r = card($t, $b, $h5->{id}, key => 'card-b-down');
is($r->{status}, 502, 'no gateway: 502');
is($r->{json}{error}{code}, 'GATEWAY_UNAVAILABLE', 'GATEWAY_UNAVAILABLE');
my $p5 = count("SELECT id FROM payments WHERE hold_id = $h5->{id}");
is(payment_row($t, $p5)->{status}, 'pending', 'the payment waits, pending');
$t->start_gateway;
$r = card($t, $b, $h5->{id}, key => 'card-b-down');
is($r->{status}, 201, 'the retry with the same key works') or diag($r->{body});
is($r->{json}{payment}{id}, $p5, 'for the same payment');

# --- a sale through a waiting room: the release comes with the buyer's look ---
$t->sql("UPDATE performances SET room = 'jazz' WHERE id = $perf");
my $h6 = $t->post("/api/performances/$perf/holds",
                  json => { seat_ids => [$seat[7]] }, cookie => $a->{cookie},
                  headers => { %{ idem() }, 'X-Test-Room' => 'jazz' })->{json};
ok($h6->{id}, 'a hold through the room');
$r = card($t, $a, $h6->{id});
is($r->{status}, 403, 'a room needs the queue for a card payment too');
$r = card($t, $a, $h6->{id}, headers => { 'X-Test-Room' => 'jazz' });
is($r->{status}, 201, 'the card payment through the room');
ok(!$r->{headers}{'x-seen-release'}, 'no release while the checkout runs');
my $p6 = $r->{json}{payment}{id};
$r = $t->get("/api/payments/$p6", cookie => $a->{cookie});
ok(!$r->{headers}{'x-seen-release'}, 'nor while it is pending');
complete($t, $p6, status => 'succeeded');
wait_status($t, $p6, 'succeeded');
wait_until_true('the delivery log', 10, sub {
    grep({ $_->{payment_id} == $p6 } @{ $t->gateway('GET', '/_mock/callbacks') }) });
@log = grep { $_->{payment_id} == $p6 } @{ $t->gateway('GET', '/_mock/callbacks') };
is($log[0]{answer}, 200, 'the callback needs no waiting-room pass');
$r = $t->get("/api/payments/$p6", cookie => $a->{cookie});
is($r->{headers}{'x-seen-release'}, 'jazz',
   "the buyer's look at the succeeded payment carries X-Ticket-Release");
$t->sql("UPDATE performances SET room = NULL WHERE id = $perf");

# --- cards are refused without a gateway (covered by t/33), bad input --------
$r = $t->post('/api/payments/callback', body => 'x',
              headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 401, 'an unsigned junk callback');

is_deeply([ledger_consistent($t)], [], 'balances match the ledger');
unlike($t->worker_log, qr/transaction left open|handler wrote no response/,
       'the worker log is clean');
$t->log_is_clean;
done_testing;
