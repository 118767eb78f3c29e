#!/usr/bin/perl
# Two NGINX instances (different ports) sharing one Redis are one room:
# users joining alternately on both get places in global join order and are
# admitted in that order; admissions respect the rate and the global
# capacity; a release on one frees a slot the other admits into; a pause on
# one stops both; operator settings stored in Redis win over nginx.conf.
use strict;
use warnings;
use lib 't/lib';
use List::Util qw(max);
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketEdge;

my $rooms = <<'EOF';
ticket_redis 127.0.0.1:%%REDIS_PORT%% timeout=500ms sync=50ms;
ticket_room r1 zone=ticket capacity=2 rate=50/s session=30s grace=30s;
ticket_room order zone=ticket capacity=100 rate=10/s session=30s grace=30s;
ticket_room cap zone=ticket capacity=3 rate=50/s session=30s grace=30s;
ticket_room pace zone=ticket capacity=1000 rate=5/s session=30s grace=30s;
ticket_room p zone=ticket capacity=100 rate=50/s session=30s grace=30s;
EOF
my $http = TicketEdge::http(rooms => $rooms);
my $a = TicketTest->new(redis => 1, http => $http);
my $b = TicketTest->new(redis_port => $a->redis_port, http => $http);
isnt($a->port, $b->port, 'two instances on different ports');

sub synced {
    my ($t, $room) = @_;
    TicketEdge::wait_for("the mirror of $room", 5, sub {
        my $s = TicketEdge::room($t, $room);
        $s && $s->{redis} && !$s->{redis}{stale} });
}
synced($_, 'order') for $a, $b;

# --- global join order ------------------------------------------------------

is(TicketEdge::admin($a, 'order', 'pause')->{status}, 200, 'paused on A');
my @u = map { TicketEdge::user($a, 100 + $_) } 1 .. 20;
my @on = map { $_ % 2 ? $b : $a } 0 .. 19;
my $inorder = 0;
for my $i (0 .. 19) {
    my $r = TicketEdge::join_room($on[$i], $u[$i], 'order');
    $inorder++ if $r->{status} == 201 && $r->{json}{position} == $i + 1;
}
is($inorder, 20, 'alternating joins on A and B take places 1..20 in order');

my $r = TicketEdge::join_room($b, $u[0], 'order');
is($r->{status}, 200, 'joining again on the other instance is 200');
is($r->{json}{position}, 1, '... with the same place (one place per user)');

TicketEdge::wait_for('B to see 20 in line', 2, sub {
    TicketEdge::room($b, 'order')->{seq} == 20 });
pass('B mirrors the 20 places');

TicketEdge::admin($b, 'order', 'resume');
my ($bad, $rounds, %admitted_at) = (0, 0);
my $start = time;
while (keys %admitted_at < 20 && time - $start < 8) {
    $rounds++;
    # From the back: whoever is admitted, all before them are by the time
    # they are asked, so the prefix check below cannot race admission.
    # A round asks one instance (they take turns): each mirrors Redis
    # every 50 ms, so two may be a tick apart, but neither goes back.
    my $t = $rounds % 2 ? $a : $b;
    for my $i (reverse 0 .. 19) {
        next if $admitted_at{$i};
        my $j = TicketEdge::status($t, $u[$i], 'order')->{json};
        $admitted_at{$i} = $rounds if $j->{status} eq 'admitted';
    }
    # Admitted so far must be a prefix of the join order.
    my $n = keys %admitted_at;
    $bad++ if grep { !$admitted_at{$_} } 0 .. $n - 1;
    sleep 0.1;
}
is(scalar keys %admitted_at, 20, 'all 20 admitted');
is($bad, 0, 'admitted in global join order at every moment');

# --- the rate is global -------------------------------------------------------

my @pu = map { TicketEdge::user($a, 300 + $_) } 1 .. 40;
TicketEdge::join_room($_ % 2 ? $a : $b, $pu[$_], 'pace') for 0 .. $#pu;
my @samples;
$start = time;
while (time - $start < 4) {
    my $t = @samples % 2 ? $a : $b;
    push @samples, [time, TicketEdge::room($t, 'pace')->{serving}];
    sleep 0.05;
}
my $worst = 0;
for my $i (0 .. $#samples) {
    for my $j ($i + 1 .. $#samples) {
        last if $samples[$j][0] - $samples[$i][0] > 1.0;
        $worst = max($worst, $samples[$j][1] - $samples[$i][1]);
    }
}
my $pace = TicketEdge::room($a, 'pace');
ok($worst <= 5 + 2, "any 1 s window admitted at most 5 + 2 across both ($worst)");
ok($pace->{serving} >= 14 && $pace->{serving} <= 24,
   "about 5/s over 4 s across both instances ($pace->{serving})");
ok(max(@{ $pace->{last_seconds} }) <= 6, 'no second counted more than the rate');

# --- the capacity is global ---------------------------------------------------

my @cu = map { TicketEdge::user($a, 400 + $_) } 1 .. 8;
TicketEdge::join_room($_ % 2 ? $a : $b, $cu[$_], 'cap') for 0 .. $#cu;
# Each instance mirrors Redis on its own sync: wait for both views.
TicketEdge::wait_for('three admissions', 3, sub {
    TicketEdge::room($a, 'cap')->{serving} == 3
        && TicketEdge::room($b, 'cap')->{serving} == 3 });
# Converting on both instances: one on A, two on B.
is(TicketEdge::status($a, $cu[0], 'cap')->{json}{status}, 'admitted', 'first converts on A');
is(TicketEdge::status($b, $cu[1], 'cap')->{json}{status}, 'admitted', 'second on B');
is(TicketEdge::status($b, $cu[2], 'cap')->{json}{status}, 'admitted', 'third on B');
sleep 0.5;
my ($sa, $sb) = (TicketEdge::room($a, 'cap'), TicketEdge::room($b, 'cap'));
is($sa->{serving}, 3, 'capacity 3 holds on A');
is($sb->{serving}, 3, '... and on B');
is($sa->{active}, 3, 'three sessions counted once, globally');
is(TicketEdge::status($a, $cu[3], 'cap')->{json}{status}, 'waiting', 'the fourth waits');

# --- a session from one instance passes the gate of the other -----------------

$r = TicketEdge::request($b, $cu[0], 'GET', '/cap/x');
is($r->{status}, 200, 'admitted on A, passes the gate on B');
like($r->{body}, qr/ok 401 cap admitted/, '... as the same user');

# Leaving on A ends the session on B too (B had recorded it).
my $access = $cu[0]{jar}{ticket_a_cap};
is(TicketEdge::leave($a, $cu[0], 'cap')->{status}, 200, 'the first leaves on A');
TicketEdge::wait_for('B to forget the session', 2, sub {
    $b->get('/cap/x', headers => { 'X-Ticket-Token' => $access })->{status}
        == 401 });
pass('... and B refuses the ended session');
TicketEdge::wait_for('the fourth admitted', 2, sub {
    TicketEdge::status($b, $cu[3], 'cap')->{json}{status} eq 'admitted' });
pass('the freed slot goes to the fourth');

# --- a release on one frees a slot the other admits into ------------------------

my @ru = map { TicketEdge::user($a, 500 + $_) } 1 .. 3;
TicketEdge::join_room($a, $_, 'r1') for @ru;
TicketEdge::wait_for('two admissions in r1', 3, sub {
    TicketEdge::room($a, 'r1')->{serving} == 2 });
TicketEdge::status($a, $_, 'r1') for @ru[0, 1];
sleep 0.3;
is(TicketEdge::status($b, $ru[2], 'r1')->{json}{status}, 'waiting',
   'the third waits on B while r1 is full');
$r = TicketEdge::request($a, $ru[0], 'POST', '/api/performances/1/release');
is($r->{status}, 200, 'released on A');
my $took = TicketEdge::wait_for('the admission on B', 3, sub {
    TicketEdge::status($b, $ru[2], 'r1')->{json}{status} eq 'admitted' });
ok($took < 1, sprintf('B admits into the freed slot %.2f s later', $took));
TicketEdge::wait_for('two active again', 1, sub {
    TicketEdge::room($b, 'r1')->{active} == 2 });
pass('two active again');

# --- pause on one stops both; settings from Redis win -----------------------------

is(TicketEdge::admin($a, 'p', 'pause')->{json}{paused}, JSON::PP::true(), 'pause on A');
my @wu = map { TicketEdge::user($a, 600 + $_) } 1 .. 6;
TicketEdge::join_room($_ % 2 ? $a : $b, $wu[$_], 'p') for 0 .. $#wu;
sleep 0.5;
is(TicketEdge::room($b, 'p')->{serving}, 0, 'B admits nobody');
is(TicketEdge::room($b, 'p')->{paused}, JSON::PP::true(), 'B says paused');
is(TicketEdge::status($b, $wu[0], 'p')->{json}{status}, 'paused', 'waiting users on B see paused');

$r = $a->post('/_ticket/status?room=p&action=set&rate=2/s&capacity=3');
is($r->{status}, 200, 'rate and capacity set on A');
is($r->{json}{capacity}, 3, '... capacity 3');
TicketEdge::wait_for('B to follow the new capacity', 1, sub {
    TicketEdge::room($b, 'p')->{capacity} == 3 });
is(TicketEdge::room($b, 'p')->{rate}, 2, 'B follows the new rate');
TicketEdge::admin($b, 'p', 'resume');
sleep 2.2;
my $sp = TicketEdge::room($a, 'p');
ok($sp->{serving} >= 3 && $sp->{serving} <= 3, "capacity 3 from Redis holds ($sp->{serving})");

$r = $b->post('/_ticket/status?room=p&action=queue_all');
is($r->{json}{queue_all}, JSON::PP::true(), 'queue_all on B');
TicketEdge::wait_for('queue_all on A', 1, sub {
    TicketEdge::room($a, 'p')->{queue_all} });
pass('A follows queue_all');
$r = $a->post('/_ticket/status?room=p&action=defaults');
is($r->{json}{capacity}, 100, 'defaults: the nginx.conf capacity again');
$r = $a->post('/_ticket/status?room=p&action=bogus');
is($r->{status}, 400, 'an unknown action is 400');

TicketEdge::log_checks($_) for $a, $b;

done_testing;
