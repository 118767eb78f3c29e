#!/usr/bin/perl
# The queue location: join, the same place on rejoin, JSON and HTML status,
# leave, admission in join order, pre-queue and closed rooms, and bad
# cookies or query strings answered with a 4xx.
use strict;
use warnings;
use lib 't/lib';
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketEdge;

my $soon = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time + 600));
my $late = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime(time + 86400 * 30));

# A page template of our own, with every placeholder.
my $page = "/tmp/ticket-page-$$.html";
open my $pfh, '>', $page or die "$page: $!";
print $pfh "<p>{{room}}|{{status}}|{{position}}|{{ahead}}|{{behind}}|"
           . "{{wait}}|{{refresh}}|{{queue_url}}|{{message}}|{{unknown}}|{{</p>";
close $pfh;
END { unlink $page if $page }

my $extra = <<"EOF";
location ~ ^/q/(?<qroom>[A-Za-z0-9._-]+)\$ { ticket_queue \$qroom; }
location /custom/r2 { ticket_queue r2; ticket_queue_page $page; }
EOF
my $t = TicketTest->new(http => TicketEdge::http(extra => $extra,
                                                 rooms => <<"EOF"));
ticket_room r1 zone=ticket capacity=3 rate=5/s session=3s grace=2s refresh=2s;
ticket_room r2 zone=ticket capacity=50 rate=50/s session=10s grace=5s;
ticket_room r3 zone=ticket capacity=100 rate=10/s session=10s grace=5s;
ticket_room pre zone=ticket capacity=10 rate=10/s opens_at=$soon;
ticket_room later zone=ticket capacity=10 rate=10/s opens_at=$late;
EOF

# --- join needs a logged-in user -------------------------------------------

my $anon = TicketEdge::user($t, 0);
my $r = TicketEdge::join_room($t, $anon, 'r2');
is($r->{status}, 401, 'joining without a session is 401');
is($r->{json}{error}{code}, 'NOT_LOGGED_IN', '... NOT_LOGGED_IN');

my $forged = TicketEdge::user($t, 0);
$forged->{jar}{ticket_session} = $t->mint_token(kind => 1, user => 7,
                                                 key => 'x' x 32);
$r = TicketEdge::join_room($t, $forged, 'r2');
is($r->{status}, 401, 'a forged session cookie is 401');

my $expired = TicketEdge::user($t, 7, expires => time - 10);
$r = TicketEdge::join_room($t, $expired, 'r2');
is($r->{status}, 401, 'an expired session cookie is 401');

# --- join, rejoin, status ---------------------------------------------------

TicketEdge::admin($t, 'r2', 'pause');

my $u1 = TicketEdge::user($t, 101);
$r = TicketEdge::join_room($t, $u1, 'r2');
is($r->{status}, 201, 'the first join is 201');
is($r->{json}{status}, 'paused', 'status paused while the room is paused');
is($r->{json}{position}, 1, 'position 1');
ok($r->{json}{token}, 'the answer carries the token for apps');
ok($u1->{jar}{ticket_q_r2}, 'and sets the ticket_q_r2 cookie');
like($r->{headers}{'set-cookie'}, qr/HttpOnly; SameSite=Lax/,
     'the cookie is HttpOnly and SameSite=Lax');
my $token1 = $r->{json}{token};

my $u2 = TicketEdge::user($t, 102);
$r = TicketEdge::join_room($t, $u2, 'r2');
is($r->{json}{position}, 2, 'the second user is at position 2');
is($r->{json}{ahead}, 1, '... with 1 ahead');

$r = TicketEdge::join_room($t, $u1, 'r2');
is($r->{status}, 200, 'joining again is 200');
is($r->{json}{position}, 1, '... and keeps position 1');

my $u1b = TicketEdge::user($t, 101, session => 2);
$r = TicketEdge::join_room($t, $u1b, 'r2');
is($r->{json}{position}, 1, 'a second device of the same user gets the same place');
is(TicketEdge::room($t, 'r2')->{seq}, 2, 'two places handed out, not four');

$r = TicketEdge::status($t, $u1, 'r2');
is($r->{status}, 200, 'status is 200');
is_deeply([sort keys %{ $r->{json} }],
          [sort qw(room status position ahead behind wait_seconds wait_known
                   refresh_seconds opens_at)],
          'status has every field');
is($r->{json}{behind}, 1, 'one behind the first');
is($r->{json}{wait_known}, JSON::PP::false(), 'the wait is unknown while paused');
is($r->{json}{wait_seconds}, undef, '... and said as null');

$r = TicketEdge::status($t, $u1, 'r2', headers => { Accept => 'text/html' });
is($r->{status}, 200, 'the waiting page is 200');
like($r->{headers}{'content-type'}, qr{text/html}, '... HTML');
like($r->{body}, qr{id="position">1<}, '... showing position 1');
like($r->{body}, qr{data-status="paused"}, '... and the status');

$r = TicketEdge::request($t, $u1, 'GET', '/custom/r2',
                         headers => { Accept => 'text/html' });
is($r->{body}, "<p>r2|paused|1|0|1|unknown|10|/queue/r2|"
               . "Admission is paused for a moment; your place is kept."
               . "|{{unknown}}|{{</p>",
   'ticket_queue_page fills the placeholders of its template');

# The token works from a header too (apps).
my $app = TicketEdge::user($t, 0);
$r = TicketEdge::status($t, $app, 'r2',
                        headers => { 'X-Ticket-Token' => $token1 });
is($r->{json}{position}, 1, 'the queue token is accepted in X-Ticket-Token');

# Another user's session with this token is refused.
my $thief = TicketEdge::user($t, 999);
$thief->{jar}{ticket_q_r2} = $u1->{jar}{ticket_q_r2};
$r = TicketEdge::status($t, $thief, 'r2');
is($r->{status}, 403, "another user's queue token is refused");

# The token of one room is not valid in another.
my $hop = TicketEdge::user($t, 101);
$hop->{jar}{ticket_q_r3} = $u1->{jar}{ticket_q_r2};
$r = TicketEdge::status($t, $hop, 'r3');
is($r->{status}, 403, "r2's token in the r3 cookie is refused");
$r = TicketEdge::status($t, TicketEdge::user($t, 0), 'r3',
                        headers => { 'X-Ticket-Token' => $token1 });
is($r->{status}, 403, "r2's token in r3 is refused");

$r = TicketEdge::status($t, TicketEdge::user($t, 5), 'r2');
is($r->{status}, 404, 'status without a token is 404 for apps');
is($r->{json}{error}{code}, 'NOT_IN_QUEUE', '... NOT_IN_QUEUE');
$r = TicketEdge::status($t, TicketEdge::user($t, 5), 'r2',
                        headers => { Accept => 'text/html' });
is($r->{status}, 200, 'and the join page for browsers');
like($r->{body}, qr{<form id="join" method="post"}, '... with a join form');

# Browsers join with a form post and are sent back to the page.
my $br = TicketEdge::user($t, 150);
$r = TicketEdge::join_room($t, $br, 'r2', headers => { Accept => 'text/html' });
is($r->{status}, 303, 'a form join answers 303');
like($r->{headers}{location}, qr{/queue/r2$}, '... to the waiting page');
$r = TicketEdge::request($t, TicketEdge::user($t, 151), 'GET', '/queue/r2?join=1',
                         headers => { Accept => 'text/html' });
is($r->{status}, 303, 'GET ?join=1 joins too');

# One location can serve every room from a variable.
$r = TicketEdge::request($t, TicketEdge::user($t, 160), 'POST', '/q/r2');
is($r->{status}, 201, 'ticket_queue $var joins the named room');
is($r->{json}{room}, 'r2', '... r2');
$r = TicketEdge::request($t, TicketEdge::user($t, 160), 'POST', '/q/nope');
is($r->{status}, 404, 'an unknown room from the variable is 404');
is($r->{json}{error}{code}, 'UNKNOWN_ROOM', '... UNKNOWN_ROOM');

# --- leave ---------------------------------------------------------------------

$r = TicketEdge::leave($t, $u2, 'r2');
is($r->{status}, 200, 'leaving is 200');
is($r->{json}{status}, 'left', '... status left');
ok(!$u2->{jar}{ticket_q_r2}, '... and clears the cookie');
$r = TicketEdge::join_room($t, $u2, 'r2');
is($r->{json}{position}, 6, 'joining after leaving goes to the back');

$r = TicketEdge::leave($t, TicketEdge::user($t, 0), 'r2');
is($r->{status}, 401, 'leaving without any token is 401');

TicketEdge::admin($t, 'r2', 'resume');

# --- admission order equals join order -------------------------------------------

TicketEdge::admin($t, 'r3', 'pause');
my @users = map { TicketEdge::user($t, 1000 + $_) } 1 .. 20;
my @pos = map { TicketEdge::join_room($t, $_, 'r3')->{json}{position} } @users;
is_deeply(\@pos, [1 .. 20], 'positions follow the join order');
TicketEdge::admin($t, 'r3', 'resume');

my (%admitted_at, %round_of);
my $violations = 0;
my $deadline = time + 10;
my $round = 0;
while (keys %admitted_at < 20 && time < $deadline) {
    $round++;
    my $seen_later = 0;
    # Later joiners first: once one is admitted, everyone before must be.
    for my $i (reverse 0 .. $#users) {
        next if $admitted_at{$i};
        my $s = TicketEdge::status($t, $users[$i], 'r3');
        if ($s->{json}{status} eq 'admitted') {
            $admitted_at{$i} = time;
            $round_of{$i} = $round;
            $seen_later = 1;
        } elsif ($seen_later) {
            $violations++;
        }
    }
    sleep 0.05;
}
is(scalar keys %admitted_at, 20, 'all 20 were admitted');
is($violations, 0, 'never was a later joiner admitted before an earlier one');
my $inversions = grep { ($round_of{$_} // 1e9) > ($round_of{$_ + 1} // 1e9) }
                 0 .. 18;
is($inversions, 0, 'admission order equals join order (by polling round)');
my $span = $admitted_at{19} - $admitted_at{0};
ok($span > 1.0 && $span < 4, "20 admitted at 10/s over about 2 s ($span)");

$r = TicketEdge::status($t, $users[0], 'r3');
is($r->{json}{status}, 'admitted', 'an admitted user stays admitted');
ok($users[0]->{jar}{ticket_a_r3}, '... holding the access cookie');

# --- pre-queue and closed rooms ----------------------------------------------------

$r = TicketEdge::join_room($t, TicketEdge::user($t, 300), 'pre');
is($r->{status}, 201, 'joining in the pre-queue works');
is($r->{json}{status}, 'waiting', '... waiting');
is($r->{json}{opens_at}, $soon, '... with the opening time');
is($r->{json}{wait_known}, JSON::PP::false(), '... and the wait unknown');
sleep 0.5;
is(TicketEdge::room($t, 'pre')->{serving}, 0, 'nobody is admitted before opening');
is(TicketEdge::room($t, 'pre')->{state}, 'prequeue', 'the room is in pre-queue');

$r = TicketEdge::join_room($t, TicketEdge::user($t, 301), 'later');
is($r->{status}, 403, 'joining long before the pre-queue is 403');
is($r->{json}{error}{code}, 'ROOM_CLOSED', '... ROOM_CLOSED');

# --- bad input: always a 4xx, never a crash -----------------------------------------

my @bad = (
    [ 'ticket_q_r2=garbage', 400 ],
    [ 'ticket_q_r2=', 400 ],
    [ 'ticket_q_r2=' . ('A' x 5000), 400 ],
    [ 'ticket_q_r2=a.b', 400 ],
    [ 'ticket_q_r2=....', 400 ],
    [ 'ticket_q_r2="' . $token1 . '', 400 ],
    [ ';;;=;;ticket_q_r2', 404 ],
    [ 'ticket_q_r2=' . substr($token1, 0, -2) . 'AA', 403 ],
    [ 'ticket_q_r2=' . $t->mint_token(kind => 2, user => 101, number => 1,
                                      room => 'r2', expires => time - 5), 401 ],
    [ 'ticket_q_r2=' . $t->mint_token(kind => 3, user => 101, number => 1,
                                      room => 'r2'), 403 ],
    [ 'ticket_session=%%%; ticket_q_r2=%%%', 400 ],
);
for my $case (@bad) {
    my ($cookie, $want) = @$case;
    $r = $t->get('/queue/r2', cookie => $cookie);
    is($r->{status}, $want, "cookie " . substr($cookie, 0, 40) . " is $want");
}

$r = $t->get('/queue/r2?join=abc');
is($r->{status}, 400, 'join=abc is 400');
$r = $t->get('/queue/r2?join=%ZZ%00');
is($r->{status}, 400, 'a malformed query is 400');
$r = $t->request('PUT', '/queue/r2');
is($r->{status}, 405, 'PUT is 405');
$r = $t->get('/_ticket/status?format=xml');
is($r->{status}, 400, 'status format=xml is 400');
$r = $t->get('/_ticket/status?room=nope');
is($r->{status}, 404, 'status of an unknown room is 404');
$r = $t->post('/_ticket/status?room=r2&action=explode');
is($r->{status}, 400, 'an unknown action is 400');
$r = $t->get('/queue/r2', headers => { 'X-Ticket-Token' => 'x' x 300 });
is($r->{status}, 400, 'an oversized header token is 400');

# Random bytes in cookies, tokens and headers: a 4xx or a page, no crash.
srand(42);
my $bad_status = 0;
for my $i (1 .. 300) {
    my $junk = join '', map { chr(33 + int rand 94) } 1 .. int rand 300;
    $junk =~ s/[;,]//g if $i % 2;
    my $good = $token1;
    my $at = int rand length $good;
    my $c = substr($good, $at, 1);
    $c = chr(33 + int rand 94) while $c eq substr($good, $at, 1);
    substr($good, $at, 1) = $c;
    my $cookie = ($i % 3 == 0) ? "ticket_q_r2=$good"
               : ($i % 3 == 1) ? "ticket_a_r2=$junk; ticket_session=$junk"
               : $junk;
    for my $path ('/queue/r2', '/r2/x', '/api/holds/1',
                  '/api/performances/2/x') {
        my $res = $t->get($path, cookie => $cookie,
                          headers => { 'X-Ticket-Token' => $good });
        if ($res->{status} >= 500 || $res->{status} == 200
            && $path ne '/queue/r2' && $path ne '/api/holds/1') {
            $bad_status++;
            diag("$path $res->{status} $res->{body} [$good]") if $bad_status < 5;
        }
    }
}
is($bad_status, 0, '1200 requests with mangled cookies: no 5xx, no pass');

TicketEdge::log_checks($t);

done_testing;
