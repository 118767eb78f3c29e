#!/usr/bin/perl
# Admission over time: rate and capacity are never exceeded over a long run
# (counted per second), a release frees a slot for the next person, an
# abandoned admission is reclaimed after grace, pausing holds the line, the
# wait estimate comes from the measured rate, and the operator figures.
use strict;
use warnings;
use lib 't/lib';
use List::Util qw(max);
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketEdge;

# A sale that opens 3 s after the start, and one whose line closes then.
my $t0 = int(time) + 4;
my $opens = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($t0));
my $t = TicketTest->new(http => TicketEdge::http(rooms => <<"EOF"));
ticket_room timed zone=ticket capacity=100 rate=50/s opens_at=$opens prequeue=1m;
ticket_room closing zone=ticket capacity=1 rate=50/s session=60s closes_at=$opens;
ticket_room r1 zone=ticket capacity=2 rate=50/s session=30s grace=30s;
ticket_room long zone=ticket capacity=8 rate=4/s session=2s grace=1s refresh=1s;
ticket_room g zone=ticket capacity=1 rate=50/s session=30s grace=1s;
ticket_room p zone=ticket capacity=100 rate=50/s;
EOF

my @early = map { TicketEdge::user($t, 4000 + $_) } 1 .. 3;
TicketEdge::join_room($t, $_, 'timed') for @early;
is(TicketEdge::room($t, 'timed')->{state}, 'prequeue', 'the timed room is in pre-queue');
is(TicketEdge::room($t, 'timed')->{serving}, 0, 'nobody is admitted before it opens');
my $c1 = TicketEdge::user($t, 4101);
my $c2 = TicketEdge::user($t, 4102);
TicketEdge::join_room($t, $c1, 'closing');
TicketEdge::status($t, $c1, 'closing');
TicketEdge::join_room($t, $c2, 'closing');

# --- a long run: never more than 4 a second, never more than 8 in ------------

my $run = 12;
my @users = map { { u => TicketEdge::user($t, 5000 + $_), n => $_ } } 1 .. 70;
TicketEdge::join_room($t, $_->{u}, 'long') for @users;

my (@samples, $over_capacity, $max_second, $wait_checked, $wait_ok);
$over_capacity = 0;
$max_second = 0;
my $start = time;

while (time - $start < $run) {
    my $s = TicketEdge::room($t, 'long');
    push @samples, [time, $s->{serving}];
    $over_capacity++ if $s->{active} + $s->{pending} > 8;
    $max_second = max($max_second, @{ $s->{last_seconds} });

    for my $x (@users) {
        next if $x->{done};
        # Every third user gave up waiting: never polls again.
        next if $x->{n} % 3 == 0;
        if ($x->{admitted}) {
            # Half of the others leave after a moment, half go idle.
            if ($x->{n} % 2 && time - $x->{admitted} > 0.3) {
                TicketEdge::leave($t, $x->{u}, 'long');
                $x->{done} = 1;
            }
            next;
        }
        next if $x->{polled} && time - $x->{polled} < 0.2;
        $x->{polled} = time;
        my $r = TicketEdge::status($t, $x->{u}, 'long');
        my $j = $r->{json};
        if ($j->{status} eq 'admitted') {
            $x->{admitted} = time;
        } elsif ($j->{wait_known} && !$wait_checked && $j->{position} >= 8) {
            # 4 a second measured: position / 4 seconds, roughly.
            $wait_checked = 1;
            my $expect = $j->{position} / 4;
            $wait_ok = $j->{wait_seconds} >= $expect * 0.5
                       && $j->{wait_seconds} <= $expect * 2 + 2;
            diag("position $j->{position}: wait $j->{wait_seconds} s")
                unless $wait_ok;
        }
    }
    sleep 0.05;
}

my $final = TicketEdge::room($t, 'long');
is($over_capacity, 0, 'active + pending never exceeded capacity 8');
ok($max_second <= 4, "no second admitted more than 4 (max $max_second)");

# Seen from outside: any window of at most 1 s sees at most 4 + 1 (the
# bucket holds at most one admission across a second's edge).
my $worst = 0;
for my $i (0 .. $#samples) {
    for my $j ($i + 1 .. $#samples) {
        last if $samples[$j][0] - $samples[$i][0] > 1.0;
        $worst = max($worst, $samples[$j][1] - $samples[$i][1]);
    }
}
ok($worst <= 5, "any 1 s window seen from outside admitted at most 5 ($worst)");
ok($final->{serving} >= 30, "admission kept going: $final->{serving} in ${run} s");
ok($final->{forfeited_total} >= 5, "abandoned places were reclaimed after grace ($final->{forfeited_total})");
ok($final->{ended_total} >= 5, "sessions ended by leaving or inactivity ($final->{ended_total})");
ok($wait_checked && $wait_ok, 'the estimated wait follows the measured rate');
ok($final->{admitted_per_minute} >= 30, "admitted per minute is reported ($final->{admitted_per_minute})");
ok(defined $final->{oldest_wait_seconds} && $final->{oldest_wait_seconds} >= 5,
   "the oldest wait is reported ($final->{oldest_wait_seconds} s)");
is($final->{wait_known}, JSON::PP::true(), 'the wait at the back is known');
ok($final->{wait_at_back_seconds} > 0, "... $final->{wait_at_back_seconds} s");

# --- opening and closing times (the long run took us past them) ----------------

my $timed = TicketEdge::room($t, 'timed');
is($timed->{state}, 'open', 'the timed room is open now');
is($timed->{serving}, 3, 'the pre-queue was admitted once it opened');
is(TicketEdge::status($t, $early[0], 'timed')->{json}{status}, 'admitted',
   'the first of the pre-queue is admitted');
is(TicketEdge::room($t, 'closing')->{state}, 'closed', 'the other closed');
my $res = TicketEdge::join_room($t, TicketEdge::user($t, 4103), 'closing');
is($res->{status}, 403, 'joining a closed room is 403');
TicketEdge::leave($t, $c1, 'closing');
TicketEdge::wait_for('admission in a closed room', 3, sub {
    TicketEdge::status($t, $c2, 'closing')->{json}{status} eq 'admitted' });
pass('people already in line are still admitted after closing');

# --- a release frees a slot and the next person is admitted --------------------

my @c = map { TicketEdge::user($t, 6000 + $_) } 1 .. 3;
TicketEdge::join_room($t, $_, 'r1') for @c;
TicketEdge::wait_for('two admissions', 5, sub {
    TicketEdge::room($t, 'r1')->{serving} == 2 });
TicketEdge::status($t, $_, 'r1') for @c[0, 1];
is(TicketEdge::room($t, 'r1')->{active}, 2, 'capacity 2: two active');
sleep 1;
my $r = TicketEdge::status($t, $c[2], 'r1');
is($r->{json}{status}, 'waiting', 'the third waits while the room is full');
is($r->{json}{position}, 1, '... first in line');
is(TicketEdge::room($t, 'r1')->{serving}, 2, 'nobody more is admitted');

my $released = time;
$r = TicketEdge::request($t, $c[0], 'POST', '/api/performances/1/release');
is($r->{status}, 200, 'the backend answers with X-Ticket-Release');
my $took = TicketEdge::wait_for('the next admission', 3, sub {
    TicketEdge::status($t, $c[2], 'r1')->{json}{status} eq 'admitted' });
ok($took < 1, sprintf('the next person is admitted %.2f s after the release', $took));
is(TicketEdge::room($t, 'r1')->{active}, 2, 'two active again');

# --- an abandoned admission is reclaimed after grace -----------------------------

my $gone = TicketEdge::user($t, 7001);
my $next = TicketEdge::user($t, 7002);
TicketEdge::join_room($t, $gone, 'g');
TicketEdge::join_room($t, $next, 'g');
TicketEdge::wait_for('the first admission', 5, sub {
    TicketEdge::room($t, 'g')->{serving} == 1 });
my $admitted = time;
is(TicketEdge::room($t, 'g')->{pending}, 1, 'an admitted place holds the slot');
$took = TicketEdge::wait_for('the reclaim', 5, sub {
    TicketEdge::status($t, $next, 'g')->{json}{status} eq 'admitted' });
ok($took >= 0.7 && $took < 2.5,
   sprintf('the next person is admitted after grace 1 s (%.2f s)', $took));
$r = TicketEdge::status($t, $gone, 'g');
is($r->{json}{status}, 'expired', 'the abandoned place says expired');
$r = TicketEdge::request($t, $gone, 'GET', '/g/x');
is($r->{status}, 403, 'and does not pass the gate');
is($r->{json}{error}{code}, 'PLACE_EXPIRED', '... PLACE_EXPIRED');
$r = TicketEdge::join_room($t, $gone, 'g');
is($r->{status}, 201, 'the user may join again');
is($r->{json}{status}, 'waiting', '... at the back');

# --- pause and resume without a reload ---------------------------------------------

TicketEdge::admin($t, 'p', 'pause');
my @pp = map { TicketEdge::user($t, 8000 + $_) } 1 .. 5;
TicketEdge::join_room($t, $_, 'p') for @pp;
sleep 0.5;
my $s = TicketEdge::room($t, 'p');
is($s->{serving}, 0, 'a paused room admits nobody');
is($s->{paused}, JSON::PP::true(), '... and says so');
is($s->{waiting}, 5, '... keeping the line');
is(TicketEdge::status($t, $pp[0], 'p')->{json}{status}, 'paused',
   'waiting users see paused');
TicketEdge::admin($t, 'p', 'resume');
TicketEdge::wait_for('admission after resume', 2, sub {
    TicketEdge::room($t, 'p')->{serving} == 5 });
pass('resuming admits the line');

# --- operator formats ---------------------------------------------------------------

$r = $t->get('/_ticket/status');
ok($r->{json}{zones}[0]{size} > 0, 'the status reports the zone');
is(scalar @{ $r->{json}{rooms} }, 6, 'and every room');
$r = $t->get('/_ticket/status?format=prometheus');
like($r->{headers}{'content-type'}, qr{text/plain}, 'prometheus is text');
like($r->{body}, qr/^ticket_room_seq\{room="long"\} 70$/m, '... with seq');
like($r->{body}, qr/^# TYPE ticket_room_waiting gauge$/m, '... and types');
like($r->{body}, qr/^ticket_zone_used_bytes\{zone="ticket"\} \d+$/m,
     '... and the zone');

TicketEdge::log_checks($t);

done_testing;
