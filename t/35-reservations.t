#!/usr/bin/perl
# Reservations: list (newest first, paged), read, cancel before the show
# (seats back on sale, money back, one transaction; twice is harmless),
# not after it starts; and the operators' audit endpoint.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use TicketTest;
use BookingTest qw(:all);

my $t = TicketTest->new(worker => 1, demo => 1,
    worker_conf => { hold_seconds => 60 });
my ($a, $b) = make_users($t, 2, balance => 1000000);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);

sub buy {
    my ($user, $p, @seats) = @_;
    my $h = $t->post("/api/performances/$p/holds", json => { seat_ids => \@seats },
                     cookie => $user->{cookie}, headers => idem())->{json};
    my $r = $t->post('/api/payments', json => { hold_id => $h->{id},
                                                method => 'balance' },
                     cookie => $user->{cookie}, headers => idem());
    is($r->{status}, 201, 'bought') or diag($r->{body});
    return $r->{json};
}

sub balance_of {
    $t->sql_value("SELECT balance FROM balance_accounts WHERE user_id = $_[0]{id}");
}

my $p1 = buy($a, $perf, @seat[0, 1]);
my $p2 = buy($a, $perf, $seat[2]);
my $p3 = buy($a, $perf, $seat[3]);

my $r = $t->get('/api/reservations', cookie => $a->{cookie});
is($r->{status}, 200, 'list');
is_deeply([map { $_->{id} } @{ $r->{json}{reservations} }],
          [map { $_->{reservation}{id} } $p3, $p2, $p1], 'newest first');
is_deeply([map { $_->{seat_id} } @{ $r->{json}{reservations}[2]{seats} }],
          [@seat[0, 1]], 'with their seats');
$r = $t->get('/api/reservations?limit=2', cookie => $a->{cookie});
is(scalar @{ $r->{json}{reservations} }, 2, 'a page of two');
$r = $t->get("/api/reservations?limit=2&before=$r->{json}{next_before}",
             cookie => $a->{cookie});
is_deeply([map { $_->{id} } @{ $r->{json}{reservations} }],
          [$p1->{reservation}{id}], 'the next page');
$r = $t->get('/api/reservations', cookie => $b->{cookie});
is_deeply($r->{json}{reservations}, [], "B has none");
$r = $t->get('/api/reservations?limit=0', cookie => $a->{cookie});
is($r->{status}, 400, 'bad limit');

my $rid = $p1->{reservation}{id};
$r = $t->get("/api/reservations/$rid", cookie => $a->{cookie});
is($r->{status}, 200, 'read one');
is($r->{json}{total}, 60000, 'total');
is($r->{json}{status}, 'confirmed', 'confirmed');
$r = $t->get("/api/reservations/$rid", cookie => $b->{cookie});
is($r->{status}, 404, "someone else's reservation is not found");

# --- cancel ------------------------------------------------------------------------
$r = $t->post("/api/reservations/$rid/cancel", cookie => $b->{cookie});
is($r->{status}, 404, 'nobody else can cancel it');
my $bal = balance_of($a);
my $v = $t->sql_value("SELECT seat_version FROM performances WHERE id = $perf");
$r = $t->post("/api/reservations/$rid/cancel", cookie => $a->{cookie});
is($r->{status}, 200, 'cancelled') or diag($r->{body});
is($r->{json}{status}, 'cancelled', 'reads cancelled');
is(balance_of($a), $bal + 60000, 'refunded to the balance');
is($t->sql_value("SELECT COUNT(*) FROM performance_seats WHERE performance_id"
                 . " = $perf AND seat_id IN ($seat[0], $seat[1])"
                 . " AND state = 'available'"), 2, 'seats back on sale');
is($t->sql_value("SELECT status FROM payments WHERE id = $p1->{payment}{id}"),
   'refunded', 'payment refunded');
is($t->sql_value("SELECT amount FROM balance_ledger WHERE kind = 'refund'"
                 . " AND payment_id = $p1->{payment}{id}"), 60000,
   'refund ledger row');
cmp_ok($t->sql_value("SELECT seat_version FROM performances WHERE id = $perf"),
       '>', $v, 'seat map version moved');
$r = $t->post("/api/reservations/$rid/cancel", cookie => $a->{cookie});
is($r->{status}, 200, 'cancelling twice is harmless');
is(balance_of($a), $bal + 60000, 'refunded once');
is($t->sql_value("SELECT COUNT(*) FROM balance_ledger WHERE kind = 'refund'"
                 . " AND payment_id = $p1->{payment}{id}"), 1,
   'one refund row');

# A cancelled seat can be sold again.
my $p4 = buy($b, $perf, $seat[0]);
ok($p4->{reservation}{id}, 'the seat sells again');

# Not after the performance started.
$t->sql("UPDATE performances SET starts_at = UTC_TIMESTAMP() - INTERVAL 1"
        . " HOUR WHERE id = $perf");
$r = $t->post("/api/reservations/$p2->{reservation}{id}/cancel",
              cookie => $a->{cookie});
is($r->{status}, 409, 'too late to cancel');
is($r->{json}{error}{code}, 'PERFORMANCE_STARTED', 'PERFORMANCE_STARTED');
$t->sql("UPDATE performances SET starts_at = UTC_TIMESTAMP() + INTERVAL 30"
        . " DAY WHERE id = $perf");
$r = $t->post("/api/reservations/999999/cancel", cookie => $a->{cookie});
is($r->{status}, 404, 'unknown reservation');

is_deeply([ledger_consistent($t)], [], 'balances match the ledger');

# --- the audit endpoint ----------------------------------------------------------
my $admin_session = do {
    $t->sql("INSERT INTO sessions (user_id, expires_at) SELECT id,"
            . " UTC_TIMESTAMP() + INTERVAL 1 DAY FROM users"
            . " WHERE email = 'admin\@ticket.test'");
    $t->sql_value("SELECT MAX(s.id) FROM sessions s JOIN users u"
                  . " ON u.id = s.user_id WHERE u.email = 'admin\@ticket.test'");
};
my $admin_id = $t->sql_value("SELECT id FROM users WHERE email = 'admin\@ticket.test'");
my $admin = $t->session_cookie($admin_id, session => $admin_session);

$r = $t->get("/api/admin/audit?performance_id=$perf&seat_id=$seat[0]",
             cookie => $admin);
is($r->{status}, 200, 'audit for one seat');
is_deeply([map { "$_->{entity} $_->{action}" } @{ $r->{json}{entries} }],
          ['seat sell', 'seat hold', 'seat cancel', 'seat sell', 'seat hold'],
          'its whole story, newest first');
my $e = $r->{json}{entries}[-1];
is($e->{before}{state}, 'available', 'before as JSON');
is($e->{after}{state}, 'held', 'after as JSON');
is($e->{user_id}, $a->{id}, 'whose');
is($e->{actor_user_id}, $a->{id}, 'who');
ok($e->{request_id}, 'request id');
like($e->{created_at}, qr/^\d{4}-\d\d-\d\dT/, 'when');

$r = $t->get("/api/admin/audit?user_id=$b->{id}", cookie => $admin);
ok(@{ $r->{json}{entries} } >= 5, "B's entries");
ok(!(grep { ($_->{user_id} // 0) != $b->{id}
            && ($_->{actor_user_id} // 0) != $b->{id} }
     @{ $r->{json}{entries} }), 'only B');
$r = $t->get("/api/admin/audit?performance_id=$perf&limit=3", cookie => $admin);
is(scalar @{ $r->{json}{entries} }, 3, 'limit');
ok($r->{json}{next_before}, 'next page');
$r = $t->get("/api/admin/audit?seat_id=abc", cookie => $admin);
is($r->{status}, 400, 'bad filter');
$r = $t->get("/api/admin/audit", cookie => $a->{cookie});
is($r->{status}, 403, 'users may not read the audit log');

$t->log_is_clean;
done_testing;
