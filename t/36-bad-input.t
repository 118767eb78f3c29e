#!/usr/bin/perl
# Bad input on every booking endpoint: malformed JSON, wrong types,
# negative or huge amounts, unknown ids, someone else's hold or
# reservation, a body over the size limit.  Each gets a JSON error with the
# right status, and the database is unchanged (only refusals a replay must
# repeat are remembered, as idempotency keys).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use TicketTest;
use BookingTest qw(:all);

my $t = TicketTest->new(worker => 1, demo => 1,
    worker_conf => { hold_seconds => 600, sweep_interval => 3600 });
my ($a, $b) = make_users($t, 2, balance => 500000);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);

# Something of B's to poke at.
my $bh = $t->post("/api/performances/$perf/holds",
                  json => { seat_ids => [$seat[0]] }, cookie => $b->{cookie},
                  headers => idem())->{json};
my $bh2 = $t->post("/api/performances/$perf/holds",
                   json => { seat_ids => [$seat[1]] }, cookie => $b->{cookie},
                   headers => idem())->{json};
my $bp = $t->post('/api/payments',
                  json => { hold_id => $bh2->{id}, method => 'balance' },
                  cookie => $b->{cookie}, headers => idem())->{json};
ok($bh->{id} && $bp->{reservation}{id}, "B has a hold and a reservation");
my $bres = $bp->{reservation}{id};

my $before = db_state($t);
my $keys_before = $t->sql_value("SELECT COUNT(*) FROM idempotency_keys");

my $holds = "/api/performances/$perf/holds";
my $big = '{"seat_ids":[' . join(',', (1) x 40000) . ']}';
my @cases = (
    # [ name, method, path, body (text) or undef, status, code, options ]
    ['hold: malformed JSON', 'POST', $holds, '{"seat_ids":[1', 400, 'BAD_JSON'],
    ['hold: not an object', 'POST', $holds, '[1,2]', 400, 'BAD_JSON'],
    ['hold: empty body', 'POST', $holds, '', 400, 'BAD_JSON'],
    ['hold: seat_ids missing', 'POST', $holds, '{}', 400, 'VALIDATION'],
    ['hold: seat_ids a string', 'POST', $holds, '{"seat_ids":"1"}', 400,
     'VALIDATION'],
    ['hold: seat_ids empty', 'POST', $holds, '{"seat_ids":[]}', 400,
     'VALIDATION'],
    ['hold: string seat', 'POST', $holds, qq({"seat_ids":["$seat[2]"]}), 400,
     'VALIDATION'],
    ['hold: fractional seat', 'POST', $holds, '{"seat_ids":[1.5]}', 400,
     'VALIDATION'],
    ['hold: negative seat', 'POST', $holds, '{"seat_ids":[-4]}', 400,
     'VALIDATION'],
    ['hold: huge seat', 'POST', $holds, '{"seat_ids":[1e40]}', 400,
     'VALIDATION'],
    ['hold: duplicate seat', 'POST', $holds,
     qq({"seat_ids":[$seat[2],$seat[2]]}), 400, 'VALIDATION'],
    ['hold: too many seats', 'POST', $holds,
     '{"seat_ids":[' . join(',', @seat[2 .. 7]) . ']}', 400, 'VALIDATION'],
    ['hold: body too large', 'POST', $holds, $big, 413, 'BODY_TOO_LARGE'],
    ['hold: no key', 'POST', $holds, qq({"seat_ids":[$seat[2]]}), 400,
     'IDEMPOTENCY_KEY_REQUIRED', nokey => 1],
    ['hold: anonymous', 'POST', $holds, qq({"seat_ids":[$seat[2]]}), 401,
     undef, anon => 1],
    ['hold: unknown performance', 'POST', '/api/performances/987654/holds',
     qq({"seat_ids":[$seat[2]]}), 404, 'NOT_FOUND'],
    ['hold: bad performance id', 'POST', '/api/performances/x/holds',
     qq({"seat_ids":[$seat[2]]}), 404, 'NOT_FOUND'],
    ['hold: unknown seat', 'POST', $holds, '{"seat_ids":[987654321]}', 422,
     'UNKNOWN_SEAT'],
    ['hold: taken seat', 'POST', $holds, qq({"seat_ids":[$seat[0]]}), 409,
     'SEAT_UNAVAILABLE'],
    ['get hold: unknown', 'GET', '/api/holds/987654', undef, 404,
     'HOLD_NOT_FOUND'],
    ["get hold: someone else's", 'GET', "/api/holds/$bh->{id}", undef, 404,
     'HOLD_NOT_FOUND'],
    ["release: someone else's", 'DELETE', "/api/holds/$bh->{id}", undef, 404,
     'HOLD_NOT_FOUND'],
    ['release: unknown', 'DELETE', '/api/holds/987654', undef, 404,
     'HOLD_NOT_FOUND'],
    ['charge: malformed', 'POST', '/api/balance/charges', '{"amount":', 400,
     'BAD_JSON'],
    ['charge: missing amount', 'POST', '/api/balance/charges', '{}', 400,
     'VALIDATION'],
    ['charge: string amount', 'POST', '/api/balance/charges',
     '{"amount":"100"}', 400, 'VALIDATION'],
    ['charge: fractional', 'POST', '/api/balance/charges', '{"amount":10.5}',
     400, 'VALIDATION'],
    ['charge: negative', 'POST', '/api/balance/charges', '{"amount":-5000}',
     400, 'VALIDATION'],
    ['charge: zero', 'POST', '/api/balance/charges', '{"amount":0}', 400,
     'VALIDATION'],
    ['charge: over the limit', 'POST', '/api/balance/charges',
     '{"amount":10000001}', 400, 'VALIDATION'],
    ['charge: huge', 'POST', '/api/balance/charges',
     '{"amount":99999999999999999999999}', 400, undef],
    ['charge: null', 'POST', '/api/balance/charges', '{"amount":null}', 400,
     'VALIDATION'],
    ['charge: no key', 'POST', '/api/balance/charges', '{"amount":100}', 400,
     'IDEMPOTENCY_KEY_REQUIRED', nokey => 1],
    ['pay: malformed', 'POST', '/api/payments', 'hold=1', 400, 'BAD_JSON'],
    ['pay: hold_id string', 'POST', '/api/payments',
     '{"hold_id":"1","method":"balance"}', 400, 'VALIDATION'],
    ['pay: hold_id negative', 'POST', '/api/payments',
     '{"hold_id":-1,"method":"balance"}', 400, 'VALIDATION'],
    ['pay: method missing', 'POST', '/api/payments', '{"hold_id":1}', 400,
     'VALIDATION'],
    ['pay: method a number', 'POST', '/api/payments',
     '{"hold_id":1,"method":7}', 400, 'VALIDATION'],
    ['pay: card', 'POST', '/api/payments',
     qq({"hold_id":$bh->{id},"method":"card"}), 422, 'UNSUPPORTED_METHOD'],
    ['pay: unknown hold', 'POST', '/api/payments',
     '{"hold_id":987654,"method":"balance"}', 404, 'HOLD_NOT_FOUND'],
    ["pay: someone else's hold", 'POST', '/api/payments',
     qq({"hold_id":$bh->{id},"method":"balance"}), 404, 'HOLD_NOT_FOUND'],
    ['pay: body too large', 'POST', '/api/payments', $big, 413,
     'BODY_TOO_LARGE'],
    ['ledger: bad limit', 'GET', '/api/balance/ledger?limit=abc', undef, 400,
     'BAD_QUERY'],
    ['ledger: negative before', 'GET', '/api/balance/ledger?before=-1', undef,
     400, 'BAD_QUERY'],
    ['reservations: huge limit', 'GET', '/api/reservations?limit=100000',
     undef, 400, 'BAD_QUERY'],
    ['reservation: unknown', 'GET', '/api/reservations/987654', undef, 404,
     'RESERVATION_NOT_FOUND'],
    ["reservation: someone else's", 'GET', "/api/reservations/$bres", undef,
     404, 'RESERVATION_NOT_FOUND'],
    ["cancel: someone else's", 'POST', "/api/reservations/$bres/cancel",
     undef, 404, 'RESERVATION_NOT_FOUND'],
    ['cancel: unknown', 'POST', '/api/reservations/987654/cancel', undef, 404,
     'RESERVATION_NOT_FOUND'],
    ['balance: wrong method', 'DELETE', '/api/balance', undef, 405,
     'METHOD_NOT_ALLOWED'],
    ['audit: not an admin', 'GET', '/api/admin/audit', undef, 403, undef],
);

for my $c (@cases) {
    my ($name, $method, $path, $body, $status, $code, %o) = @$c;
    my %h = (Accept => 'application/json');
    $h{'Content-Type'} = 'application/json' if defined $body;
    %h = (%h, %{ idem() }) unless $o{nokey};
    my $r = $t->request($method, $path,
                        defined $body ? (body => $body) : (),
                        headers => \%h,
                        $o{anon} ? () : (cookie => $a->{cookie}));
    is($r->{status}, $status, "$name: $status") or diag($r->{body});
    my $err = $r->{json} && $r->{json}{error};
    ok($err && ($err->{code} // '') =~ /^[A-Z][A-Z_]+$/
       && defined $err->{message}, "$name: a JSON error")
        or diag($r->{body});
    is($err->{code}, $code, "$name: $code") if $code && $err;
}

my $after = db_state($t);
my %kb = %$before;
my %ka = %$after;
delete $kb{idempotency_keys};
delete $ka{idempotency_keys};
is_deeply(\%ka, \%kb, 'the database is unchanged');
is($t->sql_value("SELECT COUNT(*) FROM idempotency_keys WHERE"
                 . " response_status NOT BETWEEN 400 AND 499 AND user_id ="
                 . " $a->{id}"), 0,
   'only refusals were remembered for replay');
cmp_ok($t->sql_value("SELECT COUNT(*) FROM idempotency_keys"), '<=',
       $keys_before + 4, 'and only the business refusals');
$t->log_is_clean;
done_testing;
