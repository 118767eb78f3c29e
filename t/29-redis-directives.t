#!/usr/bin/perl
# ticket_redis and ticket_redis_fallback: every bad value fails nginx -t
# naming the directive and the value; a unix socket works; Redis given as
# a password and db; a room with Redis answers the same JSON as without
# (plus what only Redis has).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketEdge;

my $rooms = "ticket_room r zone=ticket capacity=5 rate=10/s;\n";
my $t = TicketTest->new(redis => 1, nginx => 0);

for my $bad ('ticket_redis 127.0.0.1:%%REDIS_PORT%% timeout=x;',
             'ticket_redis 127.0.0.1:%%REDIS_PORT%% sync=500ms;',
             'ticket_redis 127.0.0.1:%%REDIS_PORT%% db=-1;',
             'ticket_redis 127.0.0.1:%%REDIS_PORT%% bogus=1;',
             'ticket_redis unix:;',
             'ticket_redis 127.0.0.1:%%REDIS_PORT%%; ticket_redis 127.0.0.1:1;',
             'ticket_redis_fallback local;',
             'ticket_redis 127.0.0.1:%%REDIS_PORT%%; ticket_redis_fallback maybe;')
{
    my ($ok, $out) = $t->nginx_test_conf(TicketEdge::http(rooms => "$bad\n$rooms"));
    ok(!$ok, "nginx -t fails: $bad");
    like($out, qr/ticket_redis/, '... naming the directive');
}

my ($ok, $out) = $t->nginx_test_conf(TicketEdge::http(
    rooms => "ticket_redis 127.0.0.1:%%REDIS_PORT%% db=2 timeout=250ms sync=100ms;\n"
             . "ticket_redis_fallback off;\n$rooms"));
ok($ok, 'a full ticket_redis line passes nginx -t') or diag($out);

# A password and a database, through a unix socket.
my $sock = $t->dir . '/redis/redis.sock';
system("redis-server --port 0 --unixsocket $sock --requirepass s3cret "
       . "--save '' --appendonly no --daemonize yes --pidfile "
       . $t->dir . "/redis/unix.pid --dir " . $t->dir . "/redis >/dev/null");
TicketTest::wait_until('the unix socket Redis', 10, sub { -S $sock });
END {
    my $pidfile = $t->dir . '/redis/unix.pid';
    if (open my $fh, '<', $pidfile) { my $p = <$fh>; kill 'TERM', $p if $p }
}
$t->{opt}{http} = TicketEdge::http(
    rooms => "ticket_redis unix:$sock password=s3cret db=3 timeout=500ms;\n"
             . $rooms);
$t->start_nginx;
TicketEdge::wait_for('the mirror', 5, sub {
    my $s = TicketEdge::room($t, 'r'); $s->{redis} && !$s->{redis}{stale} });
my $u = TicketEdge::user($t, 42);
my $r = TicketEdge::join_room($t, $u, 'r');
is($r->{status}, 201, 'a join through a unix socket with AUTH and SELECT');
is(`redis-cli -s $sock -a s3cret -n 3 --no-auth-warning HGET ticket:r:u 42`, "1\n",
   'the place is in db 3');
my @keys = sort keys %{ $r->{json} };
is_deeply(\@keys, [qw(ahead behind opens_at position refresh_seconds room
                      status token wait_known wait_seconds)],
          'the join answers the same fields as without Redis');
TicketEdge::wait_for('admission', 3, sub {
    TicketEdge::status($t, $u, 'r')->{json}{status} eq 'admitted' });
is(TicketEdge::request($t, $u, 'GET', '/r/x')->{status}, 200, 'and passes the gate');
$r = TicketEdge::leave($t, $u, 'r');
is($r->{status}, 200, 'leaving works');
TicketEdge::wait_for('the session to end', 2, sub {
    TicketEdge::room($t, 'r')->{active} == 0 });
pass('... and frees the slot in Redis');

TicketEdge::log_checks($t);

done_testing;
