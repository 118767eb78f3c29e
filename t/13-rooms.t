#!/usr/bin/perl
# The waiting-room check for a performance's sale: once a performance names
# a room, holds need the FastCGI param TICKET_ROOM naming it (NGINX sets it
# after admission); client headers named Ticket-Room/Ticket-User never
# count.  Here NGINX turns X-Test-Room/X-Test-User into the params, playing
# the module's part, and passes every client header as HTTP_* unblanked.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use TicketTest;

my $http = <<'EOF_HTTP';
server {
    listen 127.0.0.1:%%PORT%%;
    location /api/ {
        fastcgi_pass unix:%%WORKER%%;
        fastcgi_param  QUERY_STRING     $query_string;
        fastcgi_param  REQUEST_METHOD   $request_method;
        fastcgi_param  CONTENT_TYPE     $content_type;
        fastcgi_param  CONTENT_LENGTH   $content_length;
        fastcgi_param  REQUEST_URI      $request_uri;
        fastcgi_param  DOCUMENT_URI     $document_uri;
        fastcgi_param  TICKET_ROOM      $http_x_test_room;
        fastcgi_param  TICKET_USER      $http_x_test_user;
    }
}
EOF_HTTP

my $t = TicketTest->new(worker => 1, demo => 1, http => $http);

sub code_of { $_[0]{json} && $_[0]{json}{error} && $_[0]{json}{error}{code} }

my $r = $t->post('/api/sessions', json => { email => 'admin@ticket.test',
                                            password => 'admin-pass-1' });
my $admin = $t->cookies_of($r);
$r = $t->post('/api/sessions', json => { email => 'alice@ticket.test',
                                         password => 'alice-pass-1' });
my $alice = $t->cookies_of($r);
my $uid = $r->{json}{user}{id};

my $event = $t->get('/api/events')->{json}{events}[0]{id};
my @perfs = map { $_->{id} }
            @{ $t->get("/api/events/$event")->{json}{performances} };
my ($p1, $p2) = @perfs;
my $first = sub {
    $t->get("/api/performances/$_[0]/seats")->{json}{sections}[0]{rows}[0]
      {first_id};
};
my ($s1, $s2) = ($first->($p1), $first->($p2));

$r = $t->request('PUT', "/api/admin/performances/$p1/room", cookie => $admin,
                 json => { room => 'gala' });
is($r->{status}, 200, 'the admin puts the sale of a performance in a room');

my $n = 0;
my $hold = sub {
    my ($perf, $seat, %h) = @_;
    $n++;
    return $t->post("/api/performances/$perf/holds", cookie => $alice,
                    json => { seat_ids => [$seat] },
                    headers => { 'Idempotency-Key' => "room-test-$n", %h });
};

$r = $hold->($p1, $s1);
is($r->{status}, 403, 'without the room: 403');
is(code_of($r), 'QUEUE_REQUIRED', 'QUEUE_REQUIRED');

$r = $hold->($p1, $s1, 'Ticket-Room' => 'gala', 'Ticket-User' => $uid);
is($r->{status}, 403, 'Ticket-Room/Ticket-User client headers do not count');

$r = $hold->($p1, $s1, 'X-Test-Room' => 'other');
is($r->{status}, 403, 'another room does not count');

$r = $hold->($p1, $s1, 'X-Test-Room' => 'gala', 'X-Test-User' => $uid + 1);
is($r->{status}, 403, "another user's pass does not count");

is($t->sql_value("SELECT COUNT(*) FROM holds"), 0, 'no hold was made');

$r = $hold->($p1, $s1, 'X-Test-Room' => 'gala', 'X-Test-User' => $uid);
is($r->{status}, 201, 'through the room: the hold is made');

$r = $hold->($p2, $s2);
is($r->{status}, 201, 'a performance without a room needs only the session');

$r = $t->del("/api/admin/performances/$p1/room", cookie => $admin);
is($r->{status}, 200, 'the room is cleared');
$r = $hold->($p1, $s1 + 1);
is($r->{status}, 201, 'then the session alone authorises');

done_testing;
