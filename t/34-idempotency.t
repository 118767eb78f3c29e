#!/usr/bin/perl
# Idempotency-Key on holds, charges and payments: a replay returns the
# first answer without doing the work again, a different body with the same
# key is 422, twins racing with one key do the work once, keys are per
# user, a refusal is not stored (the same key may try again), holds and
# payments check the session in their first statement, and keys older
# than a day are purged.
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
    worker_conf => { hold_seconds => 60, sweep_interval => 1 });
my ($a, $b) = make_users($t, 2, balance => 1000000);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);

sub count { $t->sql_value("SELECT COUNT(*) FROM $_[0]") }

# --- holds -----------------------------------------------------------------------
my %h = (json => { seat_ids => [$seat[0]] }, cookie => $a->{cookie},
         headers => idem('hold-1'));
my $r1 = $t->post("/api/performances/$perf/holds", %h);
is($r1->{status}, 201, 'hold');
my $holds = count('holds');
my $r2 = $t->post("/api/performances/$perf/holds", %h);
is($r2->{status}, 201, 'replay: same status');
is($r2->{body}, $r1->{body}, 'replay: same body');
is($r2->{headers}{'idempotent-replayed'}, 'true', 'marked as a replay');
is(count('holds'), $holds, 'no second hold');
my $r3 = $t->post("/api/performances/$perf/holds",
                  json => { seat_ids => [$seat[1]] }, cookie => $a->{cookie},
                  headers => idem('hold-1'));
is($r3->{status}, 422, 'same key, other body: 422');
is($r3->{json}{error}{code}, 'IDEMPOTENCY_KEY_REUSED', 'IDEMPOTENCY_KEY_REUSED');
ok(!ref $r3->{headers}{'content-type'}, 'one Content-Type header');
is(count('holds'), $holds, 'still no second hold');

# The same key string is someone else's own key.
my $rb = $t->post("/api/performances/$perf/holds",
                  json => { seat_ids => [$seat[1]] }, cookie => $b->{cookie},
                  headers => idem('hold-1'));
is($rb->{status}, 201, 'keys are per user');

# A refusal changed nothing and is not stored: once the seat is free
# again, the same key holds it.
my $rr = $t->post("/api/performances/$perf/holds",
                  json => { seat_ids => [$seat[1]] }, cookie => $a->{cookie},
                  headers => idem('hold-2'));
is($rr->{status}, 409, 'seat taken');
is($t->sql_value("SELECT COUNT(*) FROM idempotency_keys WHERE"
                 . " idem_key = 'hold-2'"), 0, 'the refusal is not stored');
$t->del("/api/holds/$rb->{json}{id}", cookie => $b->{cookie});
my $rr2 = $t->post("/api/performances/$perf/holds",
                   json => { seat_ids => [$seat[1]] }, cookie => $a->{cookie},
                   headers => idem('hold-2'));
is($rr2->{status}, 201, 'the same key tries again and holds the seat');
my $rr3 = $t->post("/api/performances/$perf/holds",
                   json => { seat_ids => [$seat[1]] }, cookie => $a->{cookie},
                   headers => idem('hold-2'));
is($rr3->{status}, 201, '... and then replays that hold');
is($rr3->{body}, $rr2->{body}, '... with the same body');

# --- charges --------------------------------------------------------------------
my $bal = $t->sql_value("SELECT balance FROM balance_accounts WHERE user_id = $a->{id}");
%h = (json => { amount => 7000 }, cookie => $a->{cookie},
      headers => idem('charge-1'));
$r1 = $t->post('/api/balance/charges', %h);
is($r1->{status}, 201, 'charge');
$r2 = $t->post('/api/balance/charges', %h);
is($r2->{status}, 201, 'replayed charge');
is($r2->{body}, $r1->{body}, 'same body');
is($t->sql_value("SELECT balance FROM balance_accounts WHERE user_id = $a->{id}"),
   $bal + 7000, 'charged once');
$r3 = $t->post('/api/balance/charges', json => { amount => 8000 },
               cookie => $a->{cookie}, headers => idem('charge-1'));
is($r3->{status}, 422, 'other amount, same key: 422');
is($t->sql_value("SELECT balance FROM balance_accounts WHERE user_id = $a->{id}"),
   $bal + 7000, 'still charged once');

# Twins racing with one key: one charge, one answer.
my $dir = $t->dir;
my $start = time + 1;
my @pids;
for my $i (0 .. 9) {
    my $pid = fork // die;
    if ($pid == 0) {
        $t->{http} = HTTP::Tiny->new(timeout => 60, keep_alive => 0);
        sleep($start - time) if $start > time;
        my $r = $t->post('/api/balance/charges', json => { amount => 3000 },
                         cookie => $a->{cookie}, headers => idem('twins'));
        open my $fh, '>', "$dir/twin$i";
        print $fh "$r->{status} $r->{body}";
        close $fh;
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
waitpid($_, 0) for @pids;
my %answers;
for my $i (0 .. 9) {
    open my $fh, '<', "$dir/twin$i" or die;
    local $/;
    $answers{ scalar <$fh> }++;
}
is(scalar keys %answers, 1, 'ten twins got one answer')
    or diag(explain \%answers);
like((keys %answers)[0], qr/^201 /, 'a 201');
is($t->sql_value("SELECT balance FROM balance_accounts WHERE user_id = $a->{id}"),
   $bal + 10000, 'charged once');

# --- payments --------------------------------------------------------------------
my $hold = $r1 = $t->post("/api/performances/$perf/holds",
                          json => { seat_ids => [$seat[5]] },
                          cookie => $a->{cookie}, headers => idem())->{json};
%h = (json => { hold_id => $hold->{id}, method => 'balance' },
      cookie => $a->{cookie}, headers => idem('pay-1'));
$bal = $t->sql_value("SELECT balance FROM balance_accounts WHERE user_id = $a->{id}");
$r1 = $t->post('/api/payments', %h);
is($r1->{status}, 201, 'payment');
my $payments = count('payments');
$r2 = $t->post('/api/payments', %h);
is($r2->{status}, 201, 'replayed payment: 201 again');
is($r2->{body}, $r1->{body}, 'same body');
is(count('payments'), $payments, 'no second payment');
is($t->sql_value("SELECT balance FROM balance_accounts WHERE user_id = $a->{id}"),
   $bal - 30000, 'paid once');
$r3 = $t->post('/api/payments', json => { hold_id => $hold->{id} + 1000,
                                          method => 'balance' },
               cookie => $a->{cookie}, headers => idem('pay-1'));
is($r3->{status}, 422, 'other hold, same key: 422');
$r3 = $t->post('/api/payments', json => { hold_id => $hold->{id},
                                          method => 'balance' },
               cookie => $a->{cookie}, headers => idem('hold-1'));
is($r3->{status}, 422, 'a hold key reused for a payment: 422');

# A signed cookie whose session has ended: holds and payments, which check
# the session in their first statement, refuse it like every other route.
my ($c) = make_users($t, 1, balance => 100000);
my $chold = $t->post("/api/performances/$perf/holds",
                     json => { seat_ids => [$seat[7]] }, cookie => $c->{cookie},
                     headers => idem())->{json};
is($t->del('/api/sessions', cookie => $c->{cookie})->{status}, 204,
   'logged out');
my $r401 = $t->post("/api/performances/$perf/holds",
                    json => { seat_ids => [$seat[8]] }, cookie => $c->{cookie},
                    headers => idem());
is($r401->{status}, 401, 'a hold with an ended session: 401');
is($r401->{json}{error}{code}, 'UNAUTHENTICATED', '... UNAUTHENTICATED');
$r401 = $t->post('/api/payments', json => { hold_id => $chold->{id},
                                            method => 'balance' },
                 cookie => $c->{cookie}, headers => idem());
is($r401->{status}, 401, 'paying with an ended session: 401');
$r401 = $t->post('/api/payments', json => { hold_id => 999999,
                                            method => 'balance' },
                 cookie => $c->{cookie}, headers => idem());
is($r401->{status}, 401, '... also for a hold that does not exist');
$r401 = $t->post("/api/performances/999999/holds",
                 json => { seat_ids => [$seat[8]] }, cookie => $c->{cookie},
                 headers => idem());
is($r401->{status}, 401, '... and a hold of a performance that does not');
is($t->sql_value("SELECT COUNT(*) FROM payments WHERE hold_id = $chold->{id}"),
   0, 'nothing paid');

# --- keys are kept a day, then purged ------------------------------------------
$t->sql("INSERT INTO idempotency_keys (user_id, idem_key, method, path,"
        . " request_hash, status, response_status, response_body, created_at)"
        . " VALUES ($a->{id}, 'old', 'POST', '/x', REPEAT('0', 64), 'done',"
        . " 201, '{}', UTC_TIMESTAMP() - INTERVAL 3 DAY),"
        . " ($a->{id}, 'recent', 'POST', '/x', REPEAT('0', 64), 'done',"
        . " 201, '{}', UTC_TIMESTAMP() - INTERVAL 23 HOUR)");
$t->kill_worker;
$t->start_worker;
TicketTest::wait_until('the purge', 10, sub {
    !$t->sql_value("SELECT COUNT(*) FROM idempotency_keys WHERE idem_key = 'old'")
});
pass('a key older than a day is purged');
is($t->sql_value("SELECT COUNT(*) FROM idempotency_keys WHERE"
                 . " idem_key = 'recent'"), 1, 'a 23-hour-old key is kept');

$t->log_is_clean;
done_testing;
