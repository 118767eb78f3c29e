#!/usr/bin/perl
# Reload in the middle of a shared queue: new worker processes reconnect,
# old ones close their Redis connections and exit; every place, admission,
# session and operator setting is kept, also with changed room settings,
# and admission goes on across both instances.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketEdge;

my $rooms = <<'EOF2';
ticket_redis 127.0.0.1:%%REDIS_PORT%% timeout=500ms sync=50ms;
ticket_room q zone=ticket capacity=3 rate=20/s session=60s grace=60s;
EOF2
my $ta = TicketTest->new(redis => 1, http => TicketEdge::http(rooms => $rooms));
my $tb = TicketTest->new(redis_port => $ta->redis_port,
                         http => TicketEdge::http(rooms => $rooms));

sub clients {
    my @c = grep { /cmd=/ && !/cmd=client/ } split /\n/, $ta->redis_cli('CLIENT', 'LIST');
    return scalar @c;
}
TicketEdge::wait_for('four connections', 5, sub { clients() == 4 });
pass('one Redis connection per worker process: 2 + 2');

my @u = map { TicketEdge::user($ta, 3000 + $_) } 1 .. 30;
TicketEdge::join_room($_ % 2 ? $ta : $tb, $u[$_], 'q') for 0 .. $#u;
TicketEdge::wait_for('three admissions', 3, sub {
    TicketEdge::room($ta, 'q')->{serving} == 3 });
TicketEdge::status($ta, $u[0], 'q');
TicketEdge::status($tb, $u[1], 'q');
TicketEdge::admin($tb, 'q', 'pause');
sleep 0.3;

my %before = map { $_ => TicketEdge::status($_ % 2 ? $tb : $ta, $u[$_], 'q')->{json} }
             0 .. 1, 3 .. $#u;
my $room_before = TicketEdge::room($ta, 'q');

# Joins keep coming while A reloads with a changed capacity.
(my $changed = $rooms) =~ s/capacity=3/capacity=5/;
my $pid = fork // die "fork: $!";
if ($pid == 0) {
    my @late = map { TicketEdge::user($tb, 3500 + $_) } 1 .. 20;
    TicketEdge::join_room($tb, $_, 'q') for @late;
    exit 0;
}
my @old = $ta->nginx_worker_pids;
$ta->reload_nginx(TicketEdge::http(rooms => $changed));
waitpid($pid, 0);
ok(!(grep { kill 0, $_ } @old), 'the old worker processes exited');
TicketEdge::wait_for('the connections to settle', 5, sub { clients() == 4 });
pass('old workers closed their Redis connections, new ones connected');

my $room_after = TicketEdge::room($ta, 'q');
is($room_after->{serving}, $room_before->{serving}, 'serving is kept');
is($room_after->{seq}, $room_before->{seq} + 20, 'seq kept, plus the 20 joined meanwhile');
is($room_after->{active}, 2, 'the two sessions are kept');
is($room_after->{paused}, JSON::PP::true(), 'the operator pause is kept');
is($room_after->{capacity}, 5, 'the new capacity is in place');

my $moved = 0;
for my $i (keys %before) {
    my $j = TicketEdge::status($i % 2 ? $ta : $tb, $u[$i], 'q')->{json};
    $moved++ if $j->{status} ne $before{$i}{status}
                || $j->{position} != $before{$i}{position};
}
is($moved, 0, 'all 29 users keep exactly their status and position');
is(TicketEdge::request($ta, $u[0], 'GET', '/q/x')->{status}, 200,
   'a session passes the gate of the reloaded instance');
is(TicketEdge::request($ta, $u[1], 'GET', '/q/x')->{status}, 200,
   '... also one admitted on the other instance');

TicketEdge::admin($ta, 'q', 'resume');
TicketEdge::wait_for('admission up to the new capacity', 3, sub {
    TicketEdge::room($tb, 'q')->{serving} == 5 });
pass('admission goes on, up to the new capacity, on both');

TicketEdge::log_checks($_) for $ta, $tb;

done_testing;
