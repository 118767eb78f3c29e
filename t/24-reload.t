#!/usr/bin/perl
# Reload in the middle of a queue: every place, admission, session and
# operator pause survives `nginx -s reload`, also with changed room
# settings, which take effect at the next tick; tokens issued before stay
# valid, also across a key rotation.  With a state file they survive a
# restart and a crash too.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketEdge;

my $rooms = <<'EOF';
ticket_room q zone=ticket capacity=3 rate=2/s session=60s grace=60s;
ticket_room other zone=ticket capacity=10 rate=10/s;
EOF
my $state = 'state=%%PREFIX%%/ticket.state';
sub conf { TicketEdge::http(rooms => $_[0], zone_extra => $state) }
my $t = TicketTest->new(http => conf($rooms));

my @u = map { TicketEdge::user($t, 9000 + $_) } 1 .. 30;
TicketEdge::join_room($t, $_, 'q') for @u;
TicketEdge::wait_for('three admissions', 5, sub {
    TicketEdge::room($t, 'q')->{serving} == 3 });
TicketEdge::admin($t, 'q', 'pause');

# The first two turn their places into sessions; the third not yet.
for my $x (@u[0, 1]) {
    is(TicketEdge::request($t, $x, 'GET', '/q/x')->{status}, 200,
       "user $x->{id} passes before the reload");
}
my %access = map { $_->{id} => $_->{jar}{ticket_a_q} } @u[0, 1];

# Everyone but the third, whose first poll would turn the place into a
# session (that must happen after the reload).
my @look = @u[0, 1, 3 .. $#u];
my %before = map { $_->{id} => TicketEdge::status($t, $_, 'q')->{json} } @look;
my $room_before = TicketEdge::room($t, 'q');

# Join a room that is not paused right before the reload, for the
# invariant place = position + serving while admission goes on.
my @o = map { TicketEdge::user($t, 9500 + $_) } 1 .. 10;
TicketEdge::join_room($t, $_, 'other') for @o;

# --- reload with changed settings and a new room ---------------------------------

(my $changed = $rooms) =~ s/capacity=3 rate=2\/s/capacity=40 rate=40\/s/;
$changed .= "ticket_room added zone=ticket capacity=5 rate=5/s;\n";
$t->reload_nginx(conf($changed));

my $room_after = TicketEdge::room($t, 'q');
is($room_after->{seq}, $room_before->{seq}, 'seq is kept');
is($room_after->{serving}, $room_before->{serving}, 'serving is kept');
is($room_after->{active}, 2, 'the two sessions are kept');
is($room_after->{pending}, 1, 'the unconverted admission is kept');
is($room_after->{paused}, JSON::PP::true(), 'the operator pause is kept');
is($room_after->{capacity}, 40, 'the new capacity is in place');
is($room_after->{rate}, 40, 'the new rate is in place');

my $moved = 0;
for my $x (@look) {
    my $j = TicketEdge::status($t, $x, 'q')->{json};
    my $b = $before{ $x->{id} };
    $moved++ if $j->{status} ne $b->{status} || $j->{position} != $b->{position}
                || $j->{behind} != $b->{behind};
}
is($moved, 0, 'all 29 users keep exactly their status and position');
is(TicketEdge::status($t, $u[2], 'q')->{json}{status}, 'admitted',
   'the admission made before the reload turns into a session after it');
is(TicketEdge::room($t, 'q')->{active}, 3, '... and counts as active');

for my $x (@u[0, 1]) {
    my $r = $t->get('/q/x', headers => { 'X-Ticket-Token' => $access{ $x->{id} } });
    is($r->{status}, 200, "user $x->{id}'s access token still passes");
}

my $bad = 0;
my $serving = TicketEdge::room($t, 'other')->{serving};
for my $i (0 .. $#o) {
    my $j = TicketEdge::status($t, $o[$i], 'other')->{json};
    # Place i+1: admitted if within serving, else position + serving.
    $bad++ unless $j->{status} eq 'admitted'
                  || $j->{position} + TicketEdge::room($t, 'other')->{serving}
                     >= $i + 1;
}
is($bad, 0, 'places in a moving line are kept across the reload');

is(TicketEdge::join_room($t, TicketEdge::user($t, 1), 'added')->{status}, 201,
   'a room added by the reload takes people');

# --- the new rate takes effect at the next tick ------------------------------------

TicketEdge::admin($t, 'q', 'resume');
my $took = TicketEdge::wait_for('the whole line', 5, sub {
    TicketEdge::room($t, 'q')->{serving} == 30 });
ok($took < 2, sprintf('27 admitted in %.2f s at the new 40/s', $took));

# --- key rotation: the old key becomes the previous one ------------------------------

my $keep = TicketEdge::user($t, 9900);
TicketEdge::join_room($t, $keep, 'other');
my $old_token = $keep->{jar}{ticket_q_other};
my $rotated = conf($changed);
$rotated =~ s/ticket_secret %%SECRET%% %%PREVIOUS_SECRET%%/ticket_secret %%PREVIOUS_SECRET%% %%SECRET%%/
    or die 'no secret line';
$t->reload_nginx($rotated);
my $r = TicketEdge::status($t, $keep, 'other');
is($r->{status}, 200, 'a token signed before the rotation is still valid');
$r = TicketEdge::join_room($t, TicketEdge::user($t, 9901), 'other');
my $fresh = $r->{json}{token};
isnt((split /\./, $fresh)[1], undef, 'a new token is issued');
my $v = TicketEdge::user($t, 0);
$r = TicketEdge::status($t, $v, 'other', headers => { 'X-Ticket-Token' => $fresh });
is($r->{status}, 200, 'and tokens under the new key verify');

# --- a restart keeps the line (state file saved at exit) -----------------------------

TicketEdge::admin($t, 'other', 'pause');
my @w = map { TicketEdge::user($t, 9600 + $_) } 1 .. 20;
TicketEdge::join_room($t, $_, 'other') for @w;
my %was = map { $_->{id} => TicketEdge::status($t, $_, 'other')->{json} } @w;
my $other = TicketEdge::room($t, 'other');
my $admitted = $o[0]->{jar}{ticket_a_other};
ok($admitted, 'an admitted session of the other room');

$t->stop_nginx;
$t->start_nginx;
$t->{http} = HTTP::Tiny->new(timeout => 30, max_redirect => 0, keep_alive => 1);

like($t->error_log, qr/state saved/, 'the state was saved at exit');
like($t->error_log, qr/restored \d+ rooms, \d+ places and \d+ sessions/,
     'and restored at start');
my $now = TicketEdge::room($t, 'other');
is($now->{seq}, $other->{seq}, 'seq survives a restart');
is($now->{serving}, $other->{serving}, 'serving survives a restart');
is($now->{active}, $other->{active}, 'active sessions survive a restart');
is($now->{paused}, JSON::PP::true(), 'the pause survives a restart');
my $changed_places = grep {
    my $j = TicketEdge::status($t, $_, 'other')->{json};
    $j->{status} ne $was{ $_->{id} }{status}
        || $j->{position} != $was{ $_->{id} }{position}
} @w;
is($changed_places, 0, 'all 20 waiting users keep their place across a restart');
$r = $t->get('/other/x', headers => { 'X-Ticket-Token' => $admitted });
is($r->{status}, 200, 'an admitted session passes after the restart');
$r = TicketEdge::join_room($t, $w[0], 'other');
is($r->{json}{position}, $was{ $w[0]{id} }{position},
   'joining again after the restart gives the same place');

# --- a crash loses at most the last 10 s (periodic save) --------------------------------

my @late = map { TicketEdge::user($t, 9700 + $_) } 1 .. 3;
TicketEdge::join_room($t, $_, 'other') for @late;
my %late = map { $_->{id} => TicketEdge::status($t, $_, 'other')->{json}{position} } @late;
sleep 10.5;
my @pids = ($t->nginx_pid, $t->nginx_worker_pids);
kill 'KILL', @pids;
sleep 0.3;
$t->{nginx_running} = 0;
unlink $t->dir . '/nginx/backend.sock';   # a crash leaves the socket file
$t->start_nginx;
$t->{http} = HTTP::Tiny->new(timeout => 30, max_redirect => 0, keep_alive => 1);
my $kept = grep {
    TicketEdge::status($t, $_, 'other')->{json}{position} == $late{ $_->{id} }
} @late;
is($kept, 3, 'places taken 10 s before a crash survive it');

TicketEdge::log_checks($t);

done_testing;
