#!/usr/bin/perl
# Redis away or slow: admitted users keep their access, the gate and the
# status keep answering (the status says stale), joins get 503 with
# Retry-After (or, with ticket_redis_fallback local, a provisional place);
# nothing waits beyond the timeout; the log says it once; when Redis is
# back everything resumes without a restart.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketEdge;

my $rooms = <<'EOF';
ticket_redis 127.0.0.1:%%REDIS_PORT%% timeout=300ms sync=50ms;
ticket_room q zone=ticket capacity=5 rate=20/s session=60s grace=60s;
EOF
my $t = TicketTest->new(redis => 1, http => TicketEdge::http(rooms => $rooms));
my $f = TicketTest->new(redis_port => $t->redis_port,
                        http => TicketEdge::http(rooms => $rooms
                            . "ticket_redis_fallback local;\n"));

TicketEdge::wait_for('the mirror', 5, sub {
    !TicketEdge::room($t, 'q')->{redis}{stale} });

my @u = map { TicketEdge::user($t, 700 + $_) } 1 .. 10;
TicketEdge::join_room($t, $_, 'q') for @u;
TicketEdge::wait_for('five admissions', 3, sub {
    TicketEdge::room($t, 'q')->{serving} == 5 });
for my $x (@u[0, 1]) {
    is(TicketEdge::status($t, $x, 'q')->{json}{status}, 'admitted',
       "user $x->{id} is admitted");
}

sub timed {
    my ($code) = @_;
    my $start = time;
    my $r = $code->();
    return ($r, time - $start);
}

# --- Redis killed mid-queue ---------------------------------------------------

$t->redis_cli('SAVE');          # stands for Redis' own persistence (AOF)
$t->_stop_proc('redis', 'KILL');

my ($r, $took) = timed(sub { TicketEdge::request($t, $u[0], 'GET', '/q/x') });
is($r->{status}, 200, 'an admitted user passes the gate with Redis down');
ok($took < 0.3, sprintf('... at once (%.3f s)', $took));

TicketEdge::wait_for('the status to say stale', 3, sub {
    TicketEdge::status($t, $u[7], 'q')->{json}{stale} });
($r, $took) = timed(sub { TicketEdge::status($t, $u[7], 'q') });
is($r->{status}, 200, 'a waiting user\'s status still answers');
is($r->{json}{status}, 'waiting', '... from the last known state');
is($r->{json}{position}, 3, '... with the last known position');
is($r->{json}{stale}, JSON::PP::true(), '... and says it is stale');
ok($took < 0.3, sprintf('... at once (%.3f s)', $took));

my $o = TicketEdge::room($t, 'q');
is($o->{redis}{connected}, JSON::PP::false(), 'the operator status says disconnected');
is($o->{redis}{stale}, JSON::PP::true(), '... and stale');

my $late = TicketEdge::user($t, 799);
my $slowest = 0;
for (1 .. 20) {
    ($r, $took) = timed(sub { TicketEdge::join_room($t, $late, 'q') });
    $slowest = $took if $took > $slowest;
}
is($r->{status}, 503, 'a new join gets 503');
is($r->{json}{error}{code}, 'QUEUE_UNAVAILABLE', '... QUEUE_UNAVAILABLE');
ok($r->{headers}{'retry-after'}, '... with Retry-After');
ok($slowest < 0.4, sprintf('no join waited beyond the timeout (%.3f s)', $slowest));

# The fallback instance takes people in a provisional line.
my $fb = TicketEdge::user($f, 801);
$r = TicketEdge::join_room($f, $fb, 'q');
is($r->{status}, 201, 'with fallback local, a join is taken');
is($r->{json}{status}, 'waiting', '... in a local provisional line');

sleep 0.5;
my @lines = grep { /Redis at/ && /closed the connection|cannot be reached/ }
            split /\n/, $t->error_log;
is(scalar @lines, 1, 'the error log says it once') or diag(join "\n", @lines);
like($f->error_log, qr/fallback local: they queue locally/,
     'the fallback instance logs that joins queue locally');

# --- Redis back: everything resumes -----------------------------------------------

$t->start_redis;
TicketEdge::wait_for('the mirror again', 5, sub {
    !TicketEdge::room($t, 'q')->{redis}{stale} });
pass('the mirror resumes without a restart');
like($t->error_log, qr/Redis at "[^"]+" is back/, 'the log says Redis is back');

# Each worker process reconnects on its own backoff (at most 2 s), so a
# join may meet one that has not yet: it gets 503 and changes nothing.
TicketEdge::wait_for('joins on every worker process', 4, sub {
    $r = TicketEdge::join_room($t, $late, 'q');
    $r->{status} == 201 });
is($r->{status}, 201, 'joins work again');
is($r->{json}{position}, 6, '... behind the line that was kept');

TicketEdge::leave($t, $u[0], 'q');
TicketEdge::wait_for('admission to resume', 3, sub {
    TicketEdge::status($t, $u[5], 'q')->{json}{status} eq 'admitted' });
pass('admission resumes: a leave frees a slot for the next');

$r = TicketEdge::status($f, $fb, 'q');
is($r->{json}{status}, 'waiting', 'the provisional place gets a number');
ok($r->{json}{position} >= 1 && !$r->{json}{prequeue}, "... position $r->{json}{position}");

# --- Redis slow: nobody waits beyond the timeout ------------------------------------

my $port = $t->redis_port;
system("redis-cli -p $port DEBUG SLEEP 2 >/dev/null 2>&1 &");
sleep 0.2;
my $slow = TicketEdge::user($t, 900);
($r, $took) = timed(sub { TicketEdge::join_room($t, $slow, 'q') });
is($r->{status}, 503, 'a join while Redis sleeps gets 503');
ok($took < 0.45, sprintf('... within the 300 ms timeout (%.3f s)', $took));
($r, $took) = timed(sub { TicketEdge::join_room($t, $slow, 'q') });
ok($took < 0.45, sprintf('the next one too (%.3f s)', $took));
($r, $took) = timed(sub { TicketEdge::request($t, $u[1], 'GET', '/q/x') });
is($r->{status}, 200, 'the gate answers while Redis sleeps');
ok($took < 0.3, sprintf('... at once (%.3f s)', $took));
($r, $took) = timed(sub { TicketEdge::status($t, $u[8], 'q') });
is($r->{status}, 200, 'a status poll answers');
ok($took < 0.3, sprintf('... at once (%.3f s)', $took));
($r, $took) = timed(sub { $t->post('/_ticket/status?room=q&action=pause') });
ok($took < 0.45, sprintf('an operator action is bounded too (%.3f s)', $took));

# A join that timed out may have reached Redis all the same: 200 or 201.
TicketEdge::wait_for('Redis to wake up', 6, sub {
    TicketEdge::join_room($t, $slow, 'q')->{status} =~ /^20[01]$/ });
pass('joins work again once Redis answers');

TicketEdge::log_checks($_) for $t, $f;

done_testing;
