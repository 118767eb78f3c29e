#!/usr/bin/perl
# The web site end to end, in real headless Chromium (Debian's chromium,
# driven by playwright-core from t/e2e) against the whole stack: NGINX with
# the waiting room in front of one performance, the worker, MariaDB with
# the demo data.  The browser side lives in t/e2e/*.js and prints TAP,
# which is passed on here test by test.  Screenshots: build/screenshots/.
use strict;
use warnings;
use lib 't/lib';
use IO::Handle;
use IPC::Open2 qw(open2);
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(time);
use TicketTest;
use TicketEdge;

my $ROOT = $TicketTest::ROOT;
my $E2E = "$ROOT/t/e2e";
my $CHROMIUM = $ENV{CHROMIUM} // '/usr/bin/chromium';
my $HOLD_SECONDS = 20;
my $PERF = 1;
my $CROWD = 40;            # people in line before the first buyer

# Missing tools are a failure, not a skip: scripts/install-deps installs
# them, and a skipped browser test would hide a broken site.
if (!-x $CHROMIUM || !-d "$E2E/node_modules/playwright-core") {
    fail('chromium and t/e2e/node_modules are installed (run scripts/install-deps)');
    done_testing;
    exit;
}

# The room opens an hour from now, so the first buyer and then the second
# wait in the line (pre-queue) behind a crowd however long the browser takes
# to get them there.  Once both are in line the browser asks for the opening,
# and a reload moves it to a few seconds ahead.  The room admits 10 a second,
# so the line visibly moves.
sub http_block {
    my ($opens_at) = @_;
    my $opens = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($opens_at));
    # Chromium opens connections ahead of need; one that has not sent a
    # request yet keeps an old worker alive after a reload until
    # client_header_timeout (60 s by default), and the reload below waits
    # for the old workers to go.
    return <<"EOF";
include /etc/nginx/mime.types;
client_header_timeout 5s;
ticket_zone zone=ticket:4m;
ticket_secret %%SECRET%% %%PREVIOUS_SECRET%%;
ticket_room aurora zone=ticket capacity=100 rate=10/s session=300s grace=60s
            refresh=1s opens_at=$opens;
map \$uri \$perf_room {
    ~^/api/performances/$PERF/  aurora;
    default                    "";
}
server {
    listen 127.0.0.1:%%PORT%%;
    root %%ROOT%%/web;

    location /queue/aurora {
        ticket_queue aurora;
        ticket_queue_page %%ROOT%%/web/queue.html;
    }
    location /api/ {
        ticket_gate \$perf_room;
        fastcgi_pass unix:%%WORKER%%;
        %%FASTCGI%%
        fastcgi_param TICKET_ROOM \$ticket_room;
        fastcgi_param TICKET_USER \$ticket_user;
    }
}
EOF
}

my $opens_at = int(time) + 3600;
my $t = TicketTest->new(mysql => 1, demo => 1, worker => 1,
                        gateway => { delay_ms => 50 },
                        worker_conf => { hold_seconds => $HOLD_SECONDS },
                        http => http_block($opens_at));
$t->sql("UPDATE performances SET room = 'aurora' WHERE id = $PERF");

local $ENV{TICKET_BASE_URL} = $t->url('');
local $ENV{TICKET_PERFORMANCE} = $PERF;
local $ENV{TICKET_HOLD_SECONDS} = $HOLD_SECONDS;
local $ENV{TICKET_CROWD} = $CROWD;
# Card payments (through the mock gateway) on a small hall without a room.
local $ENV{TICKET_CARD_PERFORMANCE} = $t->sql_value(
    "SELECT p.id FROM performances p JOIN venues v ON v.id = p.venue_id"
    . " WHERE v.name = 'Blue Room Hall' ORDER BY p.id LIMIT 1");
local $ENV{CHROMIUM} = $CHROMIUM;

my $started = time;
my $pid = open2(my $node, my $to_node, 'node', "$E2E/buy.js");
# Should this script die (a timeout), the browser must not outlive it: it
# holds prove's output pipe and would hang the whole run.
END { kill 'TERM', $pid if $pid && kill 0, $pid }
my $count = 0;
while (my $line = <$node>) {
    chomp $line;
    if ($line =~ /^@@ crowd$/) {
        for my $id (1 .. $CROWD) {
            my $r = TicketEdge::join_room($t, TicketEdge::user($t, 100000 + $id),
                                          'aurora', headers => { Accept => 'application/json' });
            die "the crowd could not join: $r->{status}\n" unless $r->{status} == 201;
        }
        print {$to_node} "$opens_at\n";
        $to_node->flush;
    } elsif ($line =~ /^@@ open-room$/) {
        my $opens = int(time) + 2;
        $t->reload_nginx(http_block($opens));
        print {$to_node} "$opens\n";
        $to_node->flush;
    } elsif ($line =~ /^(not )?ok \d+ - (.*)$/) {
        ok(!$1, $2);
        $count++;
    } elsif ($line =~ /^# ?(.*)$/) {
        diag($1);
    } elsif ($line !~ /^1\.\.\d+$/) {
        note($line);
    }
}
close $to_node;
waitpid($pid, 0);
is($? >> 8, 0, 'the browser script exited cleanly');
ok($count >= 20, "the browser script ran its $count checks");
note(sprintf('browser run: %.1f s', time - $started));

$t->log_is_clean;
done_testing;
