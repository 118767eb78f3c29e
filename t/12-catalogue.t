#!/usr/bin/perl
# The catalogue on the demo data, the seat map (compact, cacheable, states
# and expired holds), and the admin API for venues, events, performances
# and rooms.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use TicketTest;
use Time::HiRes qw(time);

my $t = TicketTest->new(worker => 1, demo => 1);

sub code_of { $_[0]{json} && $_[0]{json}{error} && $_[0]{json}{error}{code} }

my $r = $t->get('/api/events');
is($r->{status}, 200, 'events list');
my @events = @{ $r->{json}{events} };
is(scalar @events, 4, 'the four demo events');
my %cat = map { $_->{category} => 1 } @events;
is_deeply([sort keys %cat], [qw(concert musical sports)], 'three categories');

$r = $t->get('/api/events?category=sports');
is(scalar @{ $r->{json}{events} }, 1, 'filtered by category');
is($r->{json}{events}[0]{category}, 'sports', 'sports only');
is($t->get('/api/events?category=opera')->{status}, 400, 'bad category');

my ($concert) = grep { $_->{title} =~ /Aurora/ } @events;
$r = $t->get("/api/events/$concert->{id}");
is($r->{status}, 200, 'one event');
is(scalar @{ $r->{json}{performances} }, 3, 'with its three performances');
my $perf = $r->{json}{performances}[0];
like($perf->{starts_at}, qr/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/,
     'start time in ISO 8601 UTC');
ok(defined $perf->{on_sale_at}, 'on-sale time');
is($perf->{seats_available}, 15000, '15,000 seats available');
is($perf->{seats_total}, 15000, 'of 15,000');
is($t->get('/api/events/999999')->{status}, 404, 'unknown event is 404');
is($t->get("/api/performances/$perf->{id}")->{json}{id}, $perf->{id},
   'one performance');
is($t->get('/api/performances/999999')->{status}, 404,
   'unknown performance is 404');

# The seat map.
my $pid = $perf->{id};
my $t0 = time;
$r = $t->get("/api/performances/$pid/seats");
my $elapsed = time - $t0;
is($r->{status}, 200, 'seat map');
cmp_ok(length $r->{body}, '<', 200_000, 'under 200 KB for 15,000 seats');
diag(sprintf 'seat map: %d bytes in %.1f ms', length $r->{body},
     $elapsed * 1000);
my $map = $r->{json};
is($map->{seats}, 15000, '15,000 seats');
is(scalar @{ $map->{sections} }, 6, 'six sections');
is(scalar @{ $map->{tiers} }, 4, 'four price tiers');
my $states = join '', map { map { $_->{states} } @{ $_->{rows} } }
                      @{ $map->{sections} };
is(length $states, 15000, 'one state per seat');
is($states =~ tr/a//, 15000, 'all available');
my $row = $map->{sections}[0]{rows}[0];
ok(defined $row->{first_id} && $row->{count} == 50,
   'a row gives its first id and count');
my $etag = $r->{headers}{etag};
ok($etag, 'an ETag');
like($etag, qr/^"[0-9a-f]{14}"$/, 'a fixed-width ETag: the hash of the states');
ok(!$r->{headers}{'last-modified'}, 'no Last-Modified: the ETag validates');

$r = $t->get("/api/performances/$pid/seats",
             headers => { 'If-None-Match' => $etag });
is($r->{status}, 304, 'If-None-Match gives 304');
is($r->{body}, '', 'without a body');

# A sold seat, a held seat and an expired hold (made in SQL, as the booking
# code will make them), each with the version bump.
my $uid = $t->sql_value("SELECT id FROM users WHERE email = 'alice\@ticket.test'");
my $s1 = $row->{first_id};
$t->sql("INSERT INTO holds (user_id, performance_id, expires_at)
         VALUES ($uid, $pid, UTC_TIMESTAMP(3) + INTERVAL 5 MINUTE);
         UPDATE performance_seats SET state = 'held', hold_id = LAST_INSERT_ID(),
                hold_expires_at = UTC_TIMESTAMP(3) + INTERVAL 5 MINUTE
          WHERE performance_id = $pid AND seat_id = $s1;
         INSERT INTO holds (user_id, performance_id, expires_at)
         VALUES ($uid, $pid, UTC_TIMESTAMP(3) + INTERVAL 2 SECOND);
         UPDATE performance_seats SET state = 'held', hold_id = LAST_INSERT_ID(),
                hold_expires_at = UTC_TIMESTAMP(3) + INTERVAL 2 SECOND
          WHERE performance_id = $pid AND seat_id = $s1 + 1;
         INSERT INTO reservations (user_id, performance_id, total)
         VALUES ($uid, $pid, 0);
         UPDATE performance_seats SET state = 'sold',
                reservation_id = LAST_INSERT_ID()
          WHERE performance_id = $pid AND seat_id = $s1 + 2;
         UPDATE performances SET seat_version = seat_version + 1
          WHERE id = $pid;");
$r = $t->get("/api/performances/$pid/seats",
             headers => { 'If-None-Match' => $etag });
is($r->{status}, 200, 'a version bump invalidates the ETag');
is(substr($r->{json}{sections}[0]{rows}[0]{states}, 0, 4), 'hhsa',
   'held, held, sold, available');
my $etag2 = $r->{headers}{etag};
isnt($etag2, $etag, 'a new ETag');
sleep 3;
$r = $t->get("/api/performances/$pid/seats",
             headers => { 'If-None-Match' => $etag2 });
is($r->{status}, 200, 'an expired hold changes the ETag without a write');
is(substr($r->{json}{sections}[0]{rows}[0]{states}, 0, 4), 'hasa',
   'an expired hold shows as available');
$r = $t->get("/api/events/$concert->{id}");
is($r->{json}{performances}[0]{seats_available}, 15000 - 2,
   'seats available counts the expired hold as available');

# Admin.
$r = $t->post('/api/sessions', json => { email => 'admin@ticket.test',
                                         password => 'admin-pass-1' });
is($r->{status}, 200, 'the demo admin logs in');
my $admin = $t->cookies_of($r);
my $aid = $r->{json}{user}{id};
$r = $t->post('/api/sessions', json => { email => 'bob@ticket.test',
                                         password => 'bob-pass-1' });
is($r->{status}, 200, 'a demo user logs in');
is($t->get('/api/me', cookie => $t->cookies_of($r))->{json}{balance}, 500000,
   'with a demo balance');

my $venue = {
    name => 'Test Hall',
    tiers => [ { code => 'P', name => 'Premium', price => 90000 },
               { code => 'E', name => 'Economy', price => 40000 } ],
    sections => [
        { name => 'Floor', rows => [
            { name => 'A', seats => 10, tier => 'P' },
            { name => 'B', seats => 12, first_number => 101, tier => 'E' } ] },
        { name => 'Balcony', rows => [ { name => '1', seats => 8,
                                         tier => 'E' } ] } ],
};
$r = $t->post('/api/admin/venues', cookie => $admin, json => $venue);
is($r->{status}, 201, 'a venue is created');
is($r->{json}{seats}, 30, 'with its 30 seats');
my $vid = $r->{json}{id};
is($t->sql_value("SELECT COUNT(*) FROM seats WHERE venue_id = $vid"), 30,
   '30 seat rows in the database');
is($t->post('/api/admin/venues', cookie => $admin, json => $venue)->{status},
   409, 'the same name again is 409');

my $seats_before = $t->sql_value('SELECT COUNT(*) FROM seats');
for my $bad (
    [ { %$venue, name => 'V2', tiers => [] }, 'no tiers' ],
    [ { %$venue, name => 'V3', sections => [ { name => 'S', rows => [
          { name => '1', seats => 5, tier => 'Z' } ] } ] }, 'unknown tier' ],
    [ { %$venue, name => 'V4', sections => [ { name => 'S', rows => [
          { name => '1', seats => 0, tier => 'P' } ] } ] }, 'zero seats' ],
    [ { %$venue, name => 'V5', sections => [
          { name => 'S', rows => [ { name => '1', seats => 5, tier => 'P' } ] },
          { name => 'S', rows => [ { name => '1', seats => 5, tier => 'P' } ] }
      ] }, 'duplicate section' ],
) {
    $r = $t->post('/api/admin/venues', cookie => $admin, json => $bad->[0]);
    is($r->{status}, 400, "$bad->[1]: 400");
    is(code_of($r), 'VALIDATION', "$bad->[1]: VALIDATION");
}
is($t->sql_value('SELECT COUNT(*) FROM seats'), $seats_before,
   'refused venues left nothing behind');

$r = $t->post('/api/admin/events', cookie => $admin,
              json => { title => 'Test Gala', category => 'musical',
                        description => 'One night only.' });
is($r->{status}, 201, 'an event is created');
my $eid = $r->{json}{id};
is($t->post('/api/admin/events', cookie => $admin,
            json => { title => 'X', category => 'opera' })->{status}, 400,
   'a bad category is 400');

$r = $t->post('/api/admin/performances', cookie => $admin,
              json => { event_id => $eid, venue_id => $vid,
                        starts_at => '2027-06-01T19:30:00+09:00',
                        on_sale_at => '2027-01-01T10:00:00Z',
                        room => 'gala' });
is($r->{status}, 201, 'a performance is created');
my $p2 = $r->{json}{id};
is($r->{json}{starts_at}, '2027-06-01T10:30:00Z', 'the time is kept in UTC');
is($r->{json}{room}, 'gala', 'with its room');
is($r->{json}{seats_available}, 30, 'and its 30 seats of inventory');
$r = $t->get("/api/performances/$p2/seats");
my $floor_b = $r->{json}{sections}[0]{rows}[1];
is($floor_b->{first_number}, 101, 'row numbers start where asked');
is($floor_b->{tier}, 'E', 'row tier');
is($t->post('/api/admin/performances', cookie => $admin,
            json => { event_id => $eid, venue_id => $vid,
                      starts_at => '2027-06-01T10:30:00Z' })->{status}, 409,
   'the same event, venue and time again is 409');

for my $bad (
    [ { event_id => 999999, venue_id => $vid,
        starts_at => '2027-06-02T10:00:00Z' }, 404, 'unknown event' ],
    [ { event_id => $eid, venue_id => 999999,
        starts_at => '2027-06-02T10:00:00Z' }, 404, 'unknown venue' ],
    [ { event_id => $eid, venue_id => $vid, starts_at => 'tomorrow' }, 400,
      'bad time' ],
    [ { event_id => "$eid", venue_id => $vid,
        starts_at => '2027-06-02T10:00:00Z' }, 400, 'id as a string' ],
    [ { event_id => $eid, venue_id => $vid,
        starts_at => '2027-06-02T10:00:00Z', room => 'bad room!' }, 400,
      'bad room name' ],
) {
    $r = $t->post('/api/admin/performances', cookie => $admin,
                  json => $bad->[0]);
    is($r->{status}, $bad->[1], "$bad->[2]: $bad->[1]");
}

$r = $t->request('PUT', "/api/admin/performances/$p2/room", cookie => $admin,
                 json => { room => 'gala-2' });
is($r->{status}, 200, 'the room is changed');
is($t->sql_value("SELECT room FROM performances WHERE id = $p2"), 'gala-2',
   'in the database');
$r = $t->del("/api/admin/performances/$p2/room", cookie => $admin);
is($r->{status}, 200, 'the room is cleared');
ok(!defined $t->sql_value("SELECT room FROM performances WHERE id = $p2"),
   'to NULL');
is($t->request('PUT', '/api/admin/performances/999999/room',
               cookie => $admin, json => { room => 'x' })->{status}, 404,
   'room of an unknown performance is 404');
is($t->sql_value("SELECT COUNT(*) FROM audit_log WHERE actor_user_id = $aid
                  AND entity = 'performance' AND entity_id = $p2"), 4,
   'create, set_room, set_room and clear_room are audited');

unlike($t->worker_log, qr/\[error\]/, 'the worker logged no error');

done_testing;
