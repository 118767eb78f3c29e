#!/usr/bin/perl
# The seat map's micro-cache as conf/nginx.conf.in configures it: hits,
# 304 from the cache, a gzipped map for clients that accept it, a change showing within the second (not the two
# seconds a plain 1 s validity allows), the worker's own errors passed on,
# and stale maps or the JSON 503 while the worker is down.
use strict;
use warnings;
use lib 't/lib';
use IO::Uncompress::Gunzip qw(gunzip $GunzipError);
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketStackConf;

my $t = TicketTest->new(worker => 1, demo => 1);
$t->reload_nginx(TicketStackConf::http_block($t));

sub code_of { $_[0]{json} && $_[0]{json}{error} && $_[0]{json}{error}{code} }

# Two 15,000-seat performances that no room guards.
my ($perf, $other) = map { $_->[0] } @{ $t->sql(
    "SELECT id FROM performances WHERE seats_total = 15000 AND id <> 1"
    . " ORDER BY id LIMIT 2") };
my $path = "/api/performances/$perf/seats";

# Just after a second begins, so that the next requests fall in the same
# second as the entry they make.
sleep 1.05 - (time - int(time));
my $r = $t->get($path);
is($r->{status}, 200, 'the seat map');
is($r->{json}{seats}, 15000, 'of 15,000 seats');
is($r->{headers}{'x-cache'}, 'MISS', 'first from the worker');
my $etag = $r->{headers}{etag};
like($etag, qr/^"[0-9a-f]{14}"$/, "the worker's ETag");
ok(!exists $r->{headers}{'x-accel-expires'},
   "the worker's expiry for the cache does not reach clients");
my $body = $r->{body};
$r = $t->get($path);
is($r->{headers}{'x-cache'}, 'HIT', 'then from the cache');
is($r->{body}, $body, 'the same map');
is($r->{headers}{etag}, $etag, 'with the same ETag');
$r = $t->get($path, headers => { 'If-None-Match' => $etag });
is($r->{status}, 304, 'If-None-Match: 304 from the cache');
is($r->{body}, '', 'without a body');

# A client that accepts gzip (every browser does) gets the map compressed:
# the same JSON, with an ETag and a cache entry of its own.
my %gzip = ('Accept-Encoding' => 'gzip, deflate, br');
$r = $t->get($path, headers => \%gzip);
is($r->{status}, 200, 'gzip: the seat map');
is($r->{headers}{'content-encoding'}, 'gzip', 'compressed');
like($r->{headers}{vary} // '', qr/Accept-Encoding/i, 'Vary: Accept-Encoding');
is($r->{headers}{'x-cache'}, 'MISS', 'an entry of its own');
my $gunzipped;
gunzip(\$r->{body} => \$gunzipped) or diag($GunzipError);
is($gunzipped, $body, 'the same map once gunzipped');
cmp_ok(length $r->{body}, '<', length($body) / 5,
       sprintf('a fifth of the size or less (%d bytes)', length $r->{body}));
my $gzip_etag = $r->{headers}{etag};
like($gzip_etag, qr/^"[0-9a-f]{14}-gz"$/, 'an ETag of its own');
$r = $t->get($path, headers => \%gzip);
is($r->{headers}{'x-cache'}, 'HIT', 'gzip: then from the cache');
is($r->{headers}{etag}, $gzip_etag, 'with the same ETag');
$r = $t->get($path, headers => { %gzip, 'If-None-Match' => $gzip_etag });
is($r->{status}, 304, 'gzip: If-None-Match: 304 from the cache');
$r = $t->get($path, headers => { 'If-None-Match' => $gzip_etag });
is($r->{status}, 200, "the compressed map's ETag does not validate the plain");
is($r->{body}, $body, 'which comes in full');
for my $ae ('gzip;q=0', 'identity', 'deflate') {
    $r = $t->get($path, headers => { 'Accept-Encoding' => $ae });
    ok(!exists $r->{headers}{'content-encoding'} && $r->{body} eq $body,
       "Accept-Encoding: $ae gets the plain map");
}
$r = $t->get($path, headers => { 'Accept-Encoding' => 'br;q=1, GZIP;q=0.5' });
is($r->{headers}{'content-encoding'}, 'gzip', 'gzip;q=0.5 gets it compressed');

$r = $t->get('/api/performances/999999/seats');
is($r->{status}, 404, "the worker's 404 passes");
is(code_of($r), 'NOT_FOUND', 'with its JSON');

# A change made a little after a second begins shows when that second
# ends (about 0.8 s later), not when the next one does (1.8 s): the cache
# keeps an entry only until the end of the second it was made in.
$r = $t->post('/api/sessions', json => { email => 'alice@ticket.test',
                                         password => 'alice-pass-1' });
is($r->{status}, 200, 'a buyer logs in');
my $cookie = $t->cookies_of($r);
my $seat = 0 + $t->sql_value("SELECT MIN(seat_id) FROM performance_seats"
                             . " WHERE performance_id = $perf");
my ($hold, $key, @late);
for my $i (1 .. 4) {
    sleep 1.15 - (time - int(time));
    my $before = $t->get($path)->{headers}{etag};
    my $t0 = time;
    if (!$hold) {
        $r = $t->post("/api/performances/$perf/holds",
                      json => { seat_ids => [$seat] }, cookie => $cookie,
                      headers => { 'Idempotency-Key' => 'k' . ++$key });
        $hold = $r->{status} == 201 ? $r->{json}{id} : undef;
        ok($hold, "hold $i") or diag($r->{body});
    } else {
        is($t->del("/api/holds/$hold", cookie => $cookie)->{status}, 204,
           "release $i");
        undef $hold;
    }
    my $etag_now = $before;
    while (time - $t0 < 5) {
        $etag_now = $t->get($path)->{headers}{etag};
        last if $etag_now ne $before;
        sleep 0.02;
    }
    isnt($etag_now, $before, "change $i shows in the cached map");
    push @late, time - $t0;
}
diag(sprintf 'changes showed after %s s', join ' ',
     map { sprintf '%.2f', $_ } @late);
cmp_ok((sort { $b <=> $a } @late)[0], '<', 1.3,
       'each within the second it was made in (plus a margin)');

$t->log_is_clean;

# The worker down: a cached map is served stale, an uncached one gets the
# JSON error every API path gets then.  NGINX logs the failed connects as [crit].
$t->stop_worker;
sleep 1.2;
$r = $t->get($path);
is($r->{status}, 200, 'worker down: the cached map is still served');
like($r->{headers}{'x-cache'} // '', qr/^(STALE|UPDATING|HIT)$/,
     'from the cache');
my $api = $t->get('/api/events');
$r = $t->get("/api/performances/$other/seats");
is($r->{status}, $api->{status}, 'a map never cached: the status of the '
   . "other API paths ($api->{status})");
is(code_of($r), 'SERVICE_UNAVAILABLE', 'the JSON error');
is($r->{headers}{'retry-after'}, 2, 'with Retry-After');
$t->start_worker;
$r = $t->get("/api/performances/$other/seats");
is($r->{status}, 200, 'the worker back: the map again');
ok(!grep({ /too long header/ } split /\n/, $t->error_log),
   'no cache entry was refused for its header');

done_testing;
