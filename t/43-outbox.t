#!/usr/bin/perl
# The outbox delivers every reservation event to the Redis Stream exactly
# once by event id, in order, across a Redis outage (sales go on meanwhile)
# and a worker restart; the stream agrees with the reservations table; the
# operators' consumer reads it through a consumer group and acknowledges.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use BookingTest qw(:all);
use CardTest qw(:all);

my $t = TicketTest->new(worker => 1, demo => 1, redis => 1,
    worker_conf => { hold_seconds => 60, sweep_interval => 3600,
                     outbox_interval_ms => 50, outbox_gap_wait_ms => 300,
                     redis_timeout_ms => 300 });

my @users = make_users($t, 12, balance => 1000000);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);
my $next = 0;

sub count { $t->sql_value($_[0]) }

# Buys one seat for user i; returns the reservation id and the seconds it took.
sub buy {
    my ($i) = @_;
    my $t0 = time;
    my $h = hold($t, $users[$i], $perf, $seat[$next++]);
    my $r = card($t, $users[$i], $h->{id}, method => 'balance');
    is($r->{status}, 201, "user $i buys a seat") or diag($r->{body});
    return ($r->{json}{reservation}{id}, time - $t0);
}

sub unpublished { count("SELECT COUNT(*) FROM outbox WHERE published_at IS NULL") }

sub all_published {
    return wait_until_true('the outbox to drain', 15, sub { unpublished() == 0 });
}

# --- Redis up: events flow ------------------------------------------------------
my @res;
push @res, (buy($_))[0] for 0 .. 3;
my $r = $t->post("/api/reservations/$res[0]/cancel", cookie => $users[0]{cookie});
is($r->{status}, 200, 'a cancellation');
ok(all_published(), 'every event reached the stream');
is(scalar(my @e = stream_entries($t)), 5, 'four confirmations and a cancellation');

# --- Redis down: sales go on, events wait --------------------------------------
is($t->redis_cli('SAVE'), 'OK', 'Redis saves its data before the outage');
$t->stop_redis;
my $slowest = 0;
for my $i (4 .. 7) {
    my ($id, $took) = buy($i);
    push @res, $id;
    $slowest = $took if $took > $slowest;
}
$r = $t->post("/api/reservations/$res[5]/cancel", cookie => $users[5]{cookie});
is($r->{status}, 200, 'a cancellation while Redis is down');
cmp_ok($slowest, '<', 2, "no sale waited for Redis (slowest ${slowest}s)");
sleep 0.5;
is(unpublished(), 5, 'five events wait in the outbox');
$t->start_redis;
ok(all_published(), 'they went out when Redis came back');

# --- a worker restart with events waiting --------------------------------------
is($t->redis_cli('SAVE'), 'OK', 'saved again');
$t->stop_redis;
for my $i (8 .. 10) {
    push @res, (buy($i))[0];
}
$r = $t->post("/api/reservations/$res[8]/cancel", cookie => $users[8]{cookie});
is($r->{status}, 200, 'another cancellation');
$t->stop_worker;
is(unpublished(), 4, 'four events wait while the worker is stopped');
$t->start_redis;
$t->start_worker;
ok(all_published(), 'the restarted worker published them');
push @res, (buy(11))[0];
ok(all_published(), 'and goes on publishing');

# --- an id burnt by a rollback, and a row that commits late ---------------------
# The rollback leaves a gap the publisher waits out (outbox_gap_wait_ms);
# the late row gets an id below the next sale's but commits after it was
# published: it goes out late, out of order, but it goes out.
$t->sql("BEGIN; INSERT INTO outbox (event_type, aggregate, aggregate_id,"
        . " payload) VALUES ('test.burnt', 'test', 1, '{}'); ROLLBACK;");
my $late = fork // die "fork: $!";
if ($late == 0) {
    # Its own client: $t->sql's query file is the parent's.
    exec($t->_mysql_cmd, 'ticket', '-e',
         "BEGIN; INSERT INTO outbox (event_type, aggregate, aggregate_id,"
         . " payload) VALUES ('test.late', 'test', 2, '{}');"
         . " DO SLEEP(1.5); COMMIT;") or exit 1;
}
sleep 0.3;
push @res, (buy(11))[0];
waitpid($late, 0);
ok(all_published(), 'the sale after the gap and the late row are published');
my @late = grep { $_->{type} eq 'test.late' } stream_entries($t);
my $late_id = @late ? $late[0]{event_id} : -1;
is(scalar @late, 1, 'the late row reached the stream once');
like($t->worker_log, qr/published late/, 'out of order, and logged as such');
$t->sql("DELETE FROM outbox WHERE event_type LIKE 'test.%'");

# --- compare the stream with the tables -----------------------------------------
my @entries = grep { $_->{type} !~ /^test\./ } stream_entries($t);
my @ids = map { $_->{event_id} } @entries;
my %seen;
my @dups = grep { $seen{$_}++ } @ids;
is_deeply(\@dups, [], 'no event id twice in the stream');
is_deeply(\@ids, [sort { $a <=> $b } @ids],
          'the stream is in outbox order (the test rows aside)');
is_deeply([sort { $a <=> $b } @ids],
          [map { $_->[0] } @{ $t->sql("SELECT id FROM outbox ORDER BY id") }],
          'every outbox row is in the stream exactly once');

my %want;
for my $row (@{ $t->sql("SELECT id, status FROM reservations WHERE"
                        . " performance_id = $perf") }) {
    $want{"reservation.confirmed $row->[0]"} = 1;
    $want{"reservation.cancelled $row->[0]"} = 1 if $row->[1] eq 'cancelled';
}
my %got = map { ("$_->{type} $_->{aggregate_id}" => 1) } @entries;
is_deeply(\%got, \%want,
          'one confirmed event per reservation, one cancelled per cancellation');
is(scalar @entries, scalar keys %want, 'and nothing else');
my ($one) = grep { $_->{type} eq 'reservation.confirmed'
                   && $_->{aggregate_id} == $res[1] } @entries;
my $payload = JSON::PP->new->decode($one->{payload});
is($payload->{reservation_id}, $res[1], 'the payload names the reservation');
is($payload->{user_id}, $users[1]{id}, 'the user');
is($payload->{total}, 30000, 'the total');
is_deeply($payload->{seat_ids}, [$seat[1]], 'the seats');
is($payload->{payment_method}, 'balance', 'how it was paid');

# --- the operators' consumer ------------------------------------------------------
my $port = $t->redis_port;
my @lines = `$TicketTest::ROOT/scripts/events-consumer --port $port --group ops --consumer c1 --once --json 2>/dev/null`;
is(scalar @lines, scalar @entries + 1, 'the consumer shows every event');
my @shown = grep { $_ != $late_id } map { JSON::PP->new->decode($_)->{event_id} } @lines;
is_deeply(\@shown, \@ids, 'in order');
is($t->redis_cli('XPENDING', 'ticket:events', 'ops'), "0\n\n\n",
   'and acknowledged them all')
    or diag($t->redis_cli('XPENDING', 'ticket:events', 'ops'));
@lines = `$TicketTest::ROOT/scripts/events-consumer --port $port --group ops --consumer c1 --once --json 2>/dev/null`;
is(scalar @lines, 0, 'a second run finds nothing new');
# A duplicate delivery (as after a crash between XADD and marking) is
# recognised by its event id.
open my $cli, '-|', 'redis-cli', '-p', $port, 'XADD', 'ticket:events', '*',
    'event_id', $ids[0], 'type', 'reservation.confirmed', 'aggregate',
    'reservation', 'aggregate_id', 1, 'payload', '{}' or die "redis-cli: $!";
like(scalar <$cli>, qr/^\d+-\d+$/, 'a duplicate entry added by hand');
close $cli;
my $err = `$TicketTest::ROOT/scripts/events-consumer --port $port --group ops2 --once --json 2>&1 >/dev/null`;
like($err, qr/duplicate of event $ids[0]/, 'the consumer skips a duplicate by event id');

is_deeply([ledger_consistent($t)], [], 'balances match the ledger');
$t->log_is_clean;
done_testing;
