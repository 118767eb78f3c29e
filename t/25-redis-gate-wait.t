#!/usr/bin/perl
# The gate waiting for Redis (a session made on another instance, known
# only to Redis) must hold the request until the answer: a keep-alive
# connection's write event used to run the phases again meanwhile, taking
# the request past the gate to the upstream, after which the answer
# resumed it a second time (workers died on signal 11; with a cached
# location, "[alert] header already sent").
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use Time::HiRes qw(sleep);
use TicketTest;
use TicketEdge;

my $rooms = <<'EOF2';
ticket_redis 127.0.0.1:%%REDIS_PORT%% timeout=1s sync=100ms;
ticket_room q zone=ticket capacity=500 rate=500/s session=60s grace=60s;
EOF2
my $extra = <<'EOF2';
    location /plain/ {
        ticket_gate q;
        proxy_pass http://unix:%%PREFIX%%/backend.sock:;
    }
    location /cached/ {
        ticket_gate q;
        proxy_pass http://unix:%%PREFIX%%/backend.sock:;
        proxy_cache mc;
        proxy_cache_key $uri;
        proxy_cache_valid 200 1s;
        proxy_cache_lock on;
        proxy_cache_use_stale error timeout updating;
        proxy_cache_background_update on;
    }
EOF2
my $http = "proxy_cache_path %%PREFIX%%/mc levels=1 keys_zone=mc:1m;\n"
           . TicketEdge::http(rooms => $rooms, extra => $extra);
my $a = TicketTest->new(redis => 1, http => $http);
my $b = TicketTest->new(redis_port => $a->redis_port, http => $http);

TicketEdge::wait_for('the mirror', 5, sub {
    !TicketEdge::room($b, 'q')->{redis}{stale} });

my %seen;
my $n = 0;
for my $round (1 .. 4) {
    my @u = map { TicketEdge::user($a, 100 * $round + $_) } 1 .. 15;
    TicketEdge::join_room($a, $_, 'q') for @u;
    TicketEdge::wait_for('admission', 5, sub {
        (TicketEdge::status($a, $u[-1], 'q')->{json}{status} // '')
            eq 'admitted' });
    TicketEdge::status($a, $_, 'q') for @u;     # sessions made on $a
    sleep 1.1;                                  # the cached entry goes stale
    # On $b, over one keep-alive connection, each session is checked with
    # Redis once.
    for my $u (@u) {
        my $path = $round % 2 ? '/plain/x' : '/cached/x';
        my $r = TicketEdge::request($b, $u, 'GET', $path);
        $seen{$r->{status}}++;
        $n++;
    }
}
is($seen{200} // 0, $n, "all $n requests passed the gate on the other "
   . 'instance') or diag(explain(\%seen));
my @bad = grep { /\[alert\]|exited on signal/ } split /\n/, $b->error_log;
ok(!@bad, 'no alert and no crashed worker') or diag(join "\n", @bad[0 .. 4]);

done_testing;
