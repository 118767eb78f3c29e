#!/usr/bin/perl
# The gate: admitted sessions pass with $ticket_user/$ticket_room set (and
# the client cannot set them); everything else is stopped before the
# backend; forged, tampered, expired, other-room and other-user tokens are
# refused; X-Ticket-Release, leaving and inactivity end a session.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketEdge;

my $t = TicketTest->new(http => TicketEdge::http(extra => <<'EOF'));
location /inherit/ {
    ticket_gate r1;
    location /inherit/queue { ticket_queue r1; }
    location /inherit/status { ticket_status; }
    location /inherit/free { ticket_gate off; return 200 "free\n"; }
}
EOF

sub admitted {
    my ($u, $room) = @_;
    TicketEdge::join_room($t, $u, $room);
    TicketEdge::wait_for("$room admission", 10, sub {
        TicketEdge::status($t, $u, $room)->{json}{status} eq 'admitted';
    });
    return $u;
}

# --- no token ------------------------------------------------------------------

my $r = $t->get('/r2/seats');
is($r->{status}, 401, 'no token: 401 for apps');
is($r->{json}{error}{code}, 'NO_TOKEN', '... NO_TOKEN');
$r = $t->get('/r2/seats', headers => { Accept => 'text/html' });
is($r->{status}, 302, 'no token: browsers are redirected');
like($r->{headers}{location}, qr{/queue/r2$}, '... to the waiting page');

# An inherited gate does not lock people out of the waiting page.
$r = $t->get('/inherit/x');
is($r->{status}, 401, 'an inherited gate guards its locations');
$r = $t->get('/inherit/queue');
is($r->{status}, 404, 'but not the queue location under it');
$r = $t->get('/inherit/status');
is($r->{status}, 200, 'nor the status location');
$r = $t->get('/inherit/free');
is($r->{body}, "free\n", 'ticket_gate off opens a location');

# --- a queue token turns into a session at the gate ----------------------------

my $u = TicketEdge::user($t, 201);
TicketEdge::join_room($t, $u, 'r2');
TicketEdge::wait_for('r2 serving', 5, sub {
    TicketEdge::room($t, 'r2')->{serving} >= 1 });
ok(!$u->{jar}{ticket_a_r2}, 'no access cookie before the first request');
$r = TicketEdge::request($t, $u, 'GET', '/r2/seats');
is($r->{status}, 200, 'an admitted queue token passes the gate');
is($r->{body}, "ok 201 r2 admitted\n", '... with the variables set');
ok($u->{jar}{ticket_a_r2}, '... and becomes an access cookie');
my $access = $u->{jar}{ticket_a_r2};

$r = TicketEdge::request($t, $u, 'GET', '/r2/seats');
is($r->{body}, "ok 201 r2 admitted\n", 'the access cookie passes');

my $app = TicketEdge::user($t, 0);
$r = TicketEdge::request($t, $app, 'GET', '/r2/seats',
                         headers => { 'X-Ticket-Token' => $access });
is($r->{status}, 200, 'the access token passes in X-Ticket-Token');

# --- the backend gets TICKET_USER; the client cannot set it ---------------------

$r = TicketEdge::request($t, $u, 'GET', '/api/performances/2/seats',
                         headers => { 'X-Ticket-User' => '999',
                                      'X-Ticket-Room' => 'evil',
                                      'Ticket-User' => '999' });
is($r->{body}, "user=201 room=r2 status=admitted\n",
   'the backend sees the real user and room, not the client headers');

$r = $t->get('/api/performances/2/seats',
             headers => { 'X-Ticket-User' => '999' });
is($r->{status}, 401, 'without a token the backend is not reached');

# --- waiting users ----------------------------------------------------------------

TicketEdge::admin($t, 'r1', 'pause');
my $w = TicketEdge::user($t, 301);
TicketEdge::join_room($t, $w, 'r1');
$r = TicketEdge::request($t, $w, 'GET', '/r1/seats');
is($r->{status}, 403, 'a waiting user gets 403');
is($r->{json}{error}{code}, 'NOT_ADMITTED', '... NOT_ADMITTED');
is($r->{json}{error}{position}, 1, '... with the position');
$r = TicketEdge::request($t, $w, 'GET', '/r1/seats',
                         headers => { Accept => 'text/html' });
is($r->{status}, 302, 'a waiting browser is sent to the waiting page');
TicketEdge::admin($t, 'r1', 'resume');

# --- refused tokens -------------------------------------------------------------------

my $me = TicketEdge::user($t, 201);

sub try_token {
    my ($name, $cookie, $path, $want, %o) = @_;
    my $v = TicketEdge::user($t, $o{session_user} // 0);
    $v->{jar}{$cookie} = $o{token};
    my $res = TicketEdge::request($t, $v, 'GET', $path);
    is($res->{status}, $want, "$name: $want");
    unlike($res->{body}, qr/^ok/, "$name: the backend is not reached");
}

try_token('a token signed with another key', 'ticket_a_r2', '/r2/x', 401,
          token => $t->mint_token(kind => 3, user => 201, number => 1,
                                  room => 'r2', key => 'y' x 40));
my $tampered = $access;
substr($tampered, 10, 1) = substr($tampered, 10, 1) eq 'A' ? 'B' : 'A';
try_token('a tampered token', 'ticket_a_r2', '/r2/x', 401, token => $tampered);
try_token('an expired token', 'ticket_a_r2', '/r2/x', 401,
          token => $t->mint_token(kind => 3, user => 201, number => 1,
                                  room => 'r2', expires => time - 1));
try_token("r2's token replayed in r1", 'ticket_a_r1', '/r1/x', 401,
          token => $access);
$r = $t->get('/r1/x', headers => { 'X-Ticket-Token' => $access });
is($r->{status}, 401, "r2's token in r1's X-Ticket-Token is refused");
try_token("the token of user 201 with the session of user 202",
          'ticket_a_r2', '/r2/x', 401, token => $access, session_user => 202);
try_token('a well-signed token with no session behind it', 'ticket_a_r2',
          '/r2/x', 401,
          token => $t->mint_token(kind => 3, user => 201, number => 424242,
                                  room => 'r2'));
try_token('a queue token in the access cookie', 'ticket_a_r2', '/r2/x', 401,
          token => $t->mint_token(kind => 2, user => 201, number => 1,
                                  room => 'r2'));
try_token('a session token in the access cookie', 'ticket_a_r2', '/r2/x', 401,
          token => $t->mint_token(kind => 1, user => 201, number => 1));
try_token('a previous-key token still verifies but has no session',
          'ticket_a_r2', '/r2/x', 401,
          token => $t->mint_token(kind => 3, user => 201, number => 1,
                                  room => 'r2', key => $t->secret('previous')));
try_token('garbage', 'ticket_a_r2', '/r2/x', 401, token => '%%%;;');

# --- rooms from a map ---------------------------------------------------------------

$r = TicketEdge::request($t, $u, 'GET', '/api/performances/9/seats');
is($r->{status}, 503, 'a map naming an unknown room fails closed with 503');
$r = $t->get('/api/holds/5');
is($r->{body}, "user= room= status=none\n",
   'a path with no room passes without a session');
$r = TicketEdge::request($t, $u, 'GET', '/api/holds/5');
is($r->{body}, "user=201 room=r2 status=admitted\n",
   '... and names the admitted session when there is one');
$r = TicketEdge::request($t, $u, 'GET', '/api/performances/1/seats');
is($r->{status}, 401, 'an r2 session does not open r1');

# --- X-Ticket-Release ends the session --------------------------------------------------

my $active = TicketEdge::room($t, 'r2')->{active};
$r = TicketEdge::request($t, $u, 'POST', '/api/performances/2/release');
is($r->{status}, 200, 'the release answer reaches the client');
ok(!exists $r->{headers}{'x-ticket-release'}, 'without X-Ticket-Release');
is(TicketEdge::room($t, 'r2')->{active}, $active - 1, 'the slot is freed');
ok(!$u->{jar}{ticket_a_r2}, 'and the access cookie is cleared');
$r = $t->get('/r2/x', headers => { 'X-Ticket-Token' => $access });
is($r->{status}, 401, 'the old access token is refused after release');
is($r->{json}{error}{code}, 'SESSION_ENDED', '... SESSION_ENDED');

# A release on a path without a room ends the session it found.
my $u2 = admitted(TicketEdge::user($t, 202), 'r2');
TicketEdge::request($t, $u2, 'GET', '/r2/x');
$active = TicketEdge::room($t, 'r2')->{active};
$r = TicketEdge::request($t, $u2, 'POST', '/api/payments/release');
ok(!exists $r->{headers}{'x-ticket-release'}, 'payments release is stripped');
is(TicketEdge::room($t, 'r2')->{active}, $active - 1,
   'and ends the session named by the access cookie');

# --- leaving ends it too --------------------------------------------------------------

my $u3 = admitted(TicketEdge::user($t, 203), 'r2');
my $a3 = $u3->{jar}{ticket_a_r2};
$active = TicketEdge::room($t, 'r2')->{active};
$r = TicketEdge::leave($t, $u3, 'r2');
is(TicketEdge::room($t, 'r2')->{active}, $active - 1, 'DELETE frees the slot');
$r = $t->get('/r2/x', headers => { 'X-Ticket-Token' => $a3 });
is($r->{status}, 401, 'and the access token is refused after leaving');

# --- inactivity: r1 sessions last 3 s ------------------------------------------------------

my $idle = admitted(TicketEdge::user($t, 401), 'r1');
my $a4 = $idle->{jar}{ticket_a_r1};
$r = TicketEdge::request($t, $idle, 'GET', '/r1/x');
is($r->{status}, 200, 'an admitted r1 user passes');
sleep 2;
$r = TicketEdge::request($t, $idle, 'GET', '/r1/x');
is($r->{status}, 200, 'activity keeps the session');
sleep 2;
$r = TicketEdge::request($t, $idle, 'GET', '/r1/x');
is($r->{status}, 200, '... 4 s after admission still');
TicketEdge::wait_for('the r1 session to end', 6, sub {
    TicketEdge::room($t, 'r1')->{active} == 0 });
$r = $t->get('/r1/x', headers => { 'X-Ticket-Token' => $a4 });
is($r->{status}, 401, 'after 3 s of inactivity the session has ended');

TicketEdge::log_checks($t);

done_testing;
