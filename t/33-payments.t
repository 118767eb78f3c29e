#!/usr/bin/perl
# Paying for a hold with the balance: the sale, its rows and audit, the
# release header, 402, 410 for an expired hold bought by someone else (no
# money moves), someone else's hold, methods not accepted.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use TicketTest;
use BookingTest qw(:all);

my $t = TicketTest->new(worker => 1, demo => 1,
    # No sweeper: the checksums of "nothing changed" must not see it.
    worker_conf => { hold_seconds => 2, sweep_interval => 3600 },
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
my ($poor) = make_users($t, 1, balance => 1000);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);

sub hold {
    my ($user, @seats) = @_;
    my $r = $t->post("/api/performances/$perf/holds",
                     json => { seat_ids => \@seats }, cookie => $user->{cookie},
                     headers => idem());
    is($r->{status}, 201, 'hold for the test') or diag($r->{body});
    return $r->{json};
}

sub pay {
    my ($user, $hold, %o) = @_;
    return $t->post('/api/payments',
                    json => { hold_id => $hold, method => $o{method} // 'balance' },
                    cookie => $user->{cookie},
                    headers => { %{ idem() }, %{ $o{headers} // {} } });
}

sub balance_of {
    $t->sql_value("SELECT balance FROM balance_accounts WHERE user_id = $_[0]{id}");
}

# --- a sale ----------------------------------------------------------------------
my $h = hold($a, @seat[0, 1]);
my $v = $t->get("/api/performances/$perf/seats")->{headers}{etag};
my $r = pay($a, $h->{id});
is($r->{status}, 201, 'paid') or diag($r->{body});
my $p = $r->{json};
is($p->{payment}{amount}, 60000, 'payment amount');
is($p->{payment}{status}, 'succeeded', 'payment status');
is($p->{reservation}{status}, 'confirmed', 'reservation confirmed');
is($p->{reservation}{total}, 60000, 'reservation total');
is_deeply([map { $_->{seat_id} } @{ $p->{reservation}{seats} }], [@seat[0, 1]],
          'reservation seats');
is($p->{balance}, 940000, 'balance after');
is(balance_of($a), 940000, 'balance in the database');
ok(!$r->{headers}{'x-seen-release'},
   'no release header without a waiting room');
is($t->sql_value("SELECT COUNT(*) FROM performance_seats WHERE performance_id"
                 . " = $perf AND state = 'sold' AND reservation_id ="
                 . " $p->{reservation}{id}"), 2, 'seats sold');
is($t->sql_value("SELECT status FROM holds WHERE id = $h->{id}"), 'converted',
   'hold converted');
is($t->sql_value("SELECT amount FROM balance_ledger WHERE payment_id ="
                 . " $p->{payment}{id}"), -60000, 'ledger debit row');
isnt($t->get("/api/performances/$perf/seats")->{headers}{etag}, $v,
     'the seat map ETag moved');
my %audit = map { ("$_->[0] $_->[1]" => $_->[2]) } @{ $t->sql(
    "SELECT entity, action, COUNT(*) FROM audit_log WHERE request_id ="
    . " (SELECT request_id FROM audit_log WHERE entity = 'payment'"
    . "  AND entity_id = $p->{payment}{id}) GROUP BY entity, action") };
is_deeply(\%audit, { 'seat sell' => 2, 'hold convert' => 1,
                     'payment create' => 1, 'reservation create' => 1,
                     'balance payment' => 1 },
          'every transition of the sale is one audit row');

$r = pay($a, $h->{id});
is($r->{status}, 409, 'paying a paid hold again (new key)');
is($r->{json}{error}{code}, 'HOLD_ALREADY_PAID', 'HOLD_ALREADY_PAID');
is(balance_of($a), 940000, 'no money moved');

# --- not enough money ----------------------------------------------------------
my $hp = hold($poor, $seat[5]);
my $before = db_state($t);
$r = pay($poor, $hp->{id});
is($r->{status}, 402, 'not enough money');
is($r->{json}{error}{code}, 'INSUFFICIENT_BALANCE', 'INSUFFICIENT_BALANCE');
my $after = db_state($t);
delete $_->{idempotency_keys} for $before, $after;
is_deeply($after, $before, 'nothing changed but the stored refusal');
is($t->sql_value("SELECT state FROM performance_seats WHERE performance_id ="
                 . " $perf AND seat_id = $seat[5]"), 'held', 'seat still held');

# --- the hold expires and someone else buys the seat --------------------------
my $ha = hold($a, $seat[10]);
sleep 2.3;
my $hb = hold($b, $seat[10]);
$r = pay($b, $hb->{id});
is($r->{status}, 201, 'B buys the seat') or diag($r->{body});
my $bal_a = balance_of($a);
my $ledger_a = $t->sql_value("SELECT COUNT(*) FROM balance_ledger WHERE"
                             . " user_id = $a->{id}");
$r = pay($a, $ha->{id});
is($r->{status}, 410, "A's late payment is refused");
is($r->{json}{error}{code}, 'HOLD_EXPIRED', 'HOLD_EXPIRED');
is(balance_of($a), $bal_a, 'no money moved');
is($t->sql_value("SELECT COUNT(*) FROM balance_ledger WHERE user_id ="
                 . " $a->{id}"), $ledger_a, 'no ledger row');
is($t->sql_value("SELECT COUNT(*) FROM payments WHERE hold_id = $ha->{id}"), 0,
   'no payment row');

# Expired and not taken: still 410.
my $hc = hold($a, $seat[11]);
sleep 2.3;
$r = pay($a, $hc->{id});
is($r->{status}, 410, 'expired hold nobody took: 410');

# Released: 410 too.
my $hd = hold($a, $seat[12]);
$t->del("/api/holds/$hd->{id}", cookie => $a->{cookie});
$r = pay($a, $hd->{id});
is($r->{status}, 410, 'released hold: 410');
is($r->{json}{error}{code}, 'HOLD_RELEASED', 'HOLD_RELEASED');

# --- someone else's hold, unknown hold, methods ------------------------------
my $he = hold($b, $seat[13]);
# This hold must outlive the next checks: stretch it.
$t->sql("UPDATE holds SET expires_at = expires_at + INTERVAL 1 HOUR"
        . " WHERE id = $he->{id}");
$t->sql("UPDATE performance_seats SET hold_expires_at = hold_expires_at"
        . " + INTERVAL 1 HOUR WHERE hold_id = $he->{id}");
$before = db_state($t);
$r = pay($a, $he->{id});
is($r->{status}, 404, "someone else's hold is not found");
is($r->{json}{error}{code}, 'HOLD_NOT_FOUND', 'HOLD_NOT_FOUND');
$r = pay($a, 99999999);
is($r->{status}, 404, 'unknown hold');
$r = pay($b, $he->{id}, method => 'card');
is($r->{status}, 422, 'card is not accepted yet');
is($r->{json}{error}{code}, 'UNSUPPORTED_METHOD', 'UNSUPPORTED_METHOD');
$r = pay($b, $he->{id}, method => 'cash');
is($r->{status}, 422, 'unknown method');
$r = $t->post('/api/payments', json => { hold_id => $he->{id},
                                        method => 'balance' },
              cookie => $b->{cookie});
is($r->{status}, 400, 'no Idempotency-Key');
is($r->{json}{error}{code}, 'IDEMPOTENCY_KEY_REQUIRED',
   'IDEMPOTENCY_KEY_REQUIRED');
$after = db_state($t);
delete $_->{idempotency_keys} for $before, $after;
is_deeply($after, $before, 'refusals changed nothing');

# --- the waiting room and the release header -----------------------------------
$t->sql("UPDATE performances SET room = 'jazz' WHERE id = $perf");
$r = pay($b, $he->{id});
is($r->{status}, 403, 'a room needs the queue for paying too');
is($r->{json}{error}{code}, 'QUEUE_REQUIRED', 'QUEUE_REQUIRED');
$r = pay($b, $he->{id}, headers => { 'X-Test-Room' => 'jazz' });
is($r->{status}, 201, 'paid through the room') or diag($r->{body});
is($r->{headers}{'x-seen-release'}, 'jazz',
   'X-Ticket-Release names the room');
ok(!exists $r->{headers}{'x-ticket-release'}, 'the module strips it');
$t->sql("UPDATE performances SET room = NULL WHERE id = $perf");

is_deeply([ledger_consistent($t)], [], 'balances match the ledger');
$t->log_is_clean;
done_testing;
