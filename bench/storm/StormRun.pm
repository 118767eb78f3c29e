package StormRun;

=head1 NAME

StormRun - starts the stack with a waiting room and runs bench/storm on it

=head1 SYNOPSIS

    use lib 'bench/storm';
    use StormRun;

    my $r = StormRun::run(profile => 'ci');          # starts, storms, stops
    # $r->{exit}, $r->{output}, $r->{result} (decoded JSON), $r->{json_path}

Options: profile (ci|full), rate ("200/s"; "unlimited" admits without a
pace), capacity, refresh (seconds the room tells waiters to poll after),
hold_seconds, threads and priority_threads (worker threads), nginx_workers, zone_size, args
(extra storm flags, an array ref), out (results directory), label, plot
(1: run bench/plot), stream (1: print the storm's output as it runs),
micro_cache (0: no one-second NGINX cache of the seat map, which
conf/nginx.conf.in has), keep_stack (1:
leave the stack running; the caller stops it), redis (1: a private Redis
and `ticket_redis` on it: the room lives in Redis; the worker's outbox
publishes there too), state (1: `ticket_zone ... state=` a file under the
NGINX prefix).  storm_cmd($t, %o) gives the generator's command line for
a stack (bench/storm/FaultRun.pm runs it with faults).  STORM_BIN in the
environment runs another build of the generator.

The stack comes from t/lib/TicketTest.pm: a private MariaDB with the
migrations, the worker and NGINX with our module on free loopback ports,
all under build/tmp/, stopped when the run ends.  The storm's own setup
puts a venue, a performance (room "storm"), users, sessions and balances
in the database with SQL; see bench/storm/setup.c.

=cut

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname);
use JSON::PP;

my $ROOT;
BEGIN { $ROOT = abs_path(dirname(__FILE__) . '/../..') }
use lib "$ROOT/t/lib";
use TicketTest;

our %PROFILE = (
    ci   => { rate => '150/s', capacity => 400, refresh => 1,
              hold_seconds => 4, threads => 8, priority_threads => 2,
              nginx_workers => 2, zone_size => '16m' },
    full => { rate => '100/s', capacity => 2000, refresh => 20,
              hold_seconds => 20, threads => 4, priority_threads => 8,
              nginx_workers => 2, zone_size => '128m' },
);

# STORM_BIN runs another build of the generator; by default it comes from
# the build directory the harness uses (TICKET_BUILD).
sub storm_bin { $ENV{STORM_BIN} // "$TicketTest::BUILD/bench/storm" }

# What is missing to run a storm, or undef.
sub missing {
    for my $f ($TicketTest::MODULE, $TicketTest::WORKER_BIN, storm_bin()) {
        return "$f is not built: run make" unless -e $f;
    }
    return undef;
}

sub http_block {
    my (%o) = @_;
    my ($rate, $capacity) = ($o{rate}, $o{capacity});
    if ($rate eq 'unlimited') {
        # The software alone: the room lets everybody in at once.
        ($rate, $capacity) = ('16000000/s', 10000000);
    }
    my $text = <<'CONF';
ticket_zone zone=storm:@ZONE@@STATE@;
@REDIS@ticket_secret %%SECRET%% %%PREVIOUS_SECRET%%;
ticket_room storm zone=storm capacity=@CAPACITY@ rate=@RATE@ refresh=@REFRESH@s session=10m grace=2m;

# As conf/nginx.conf.in: connections to the worker are kept.
upstream storm_worker {
    server unix:%%WORKER%%;
    keepalive 32;
}
upstream storm_worker_priority {
    server unix:%%WORKER_PRIORITY%%;
    keepalive 32;
}
fastcgi_keep_conn on;

server {
    listen 127.0.0.1:%%PORT%% backlog=4096;
    keepalive_requests 1000000;
    keepalive_timeout 120s;

    location /queue/storm {
        ticket_queue storm;
    }

    location = /ticket-status {
        allow 127.0.0.1;
        deny all;
        ticket_status;
    }

    location /api/ {
        ticket_gate storm;
        fastcgi_pass storm_worker;
        %%FASTCGI%%
        fastcgi_param TICKET_USER $ticket_user;
        fastcgi_param TICKET_ROOM $ticket_room;
    }

    # As conf/nginx.conf.in: payments on the worker's priority socket.
    location = /api/payments {
        ticket_gate storm;
        fastcgi_pass storm_worker_priority;
        %%FASTCGI%%
        fastcgi_param TICKET_USER $ticket_user;
        fastcgi_param TICKET_ROOM $ticket_room;
    }
}
CONF
    if ($o{micro_cache} // 1) {
        # As conf/nginx.conf.in ships it: the seat map cached by NGINX until
        # the second it was read in ends (the worker's X-Accel-Expires), one
        # request at a time refreshing it in the background while the
        # others get the previous answer.  The hold is the truth
        # (its 409 names the taken seats), so a map a second or two old
        # costs a buyer at most one refusal.
        my $cache = <<'CACHE';
fastcgi_cache_path %%PREFIX%%/seatmap-cache levels=1 keys_zone=seatmap:4m
                   max_size=256m inactive=60s;
CACHE
        my $loc = <<'LOC';
    location ~ ^/api/performances/[0-9]+/seats$ {
        ticket_gate storm;
        fastcgi_pass storm_worker;
        %%FASTCGI%%
        fastcgi_param TICKET_USER $ticket_user;
        fastcgi_param TICKET_ROOM $ticket_room;
        fastcgi_cache seatmap;
        fastcgi_cache_key $uri;
        fastcgi_cache_valid 200 1s;
        fastcgi_cache_lock on;
        fastcgi_cache_lock_timeout 2s;
        fastcgi_cache_use_stale error timeout updating;
        fastcgi_cache_background_update on;
        fastcgi_ignore_headers Cache-Control Expires;
        fastcgi_buffers 16 16k;
        open_file_cache max=1000 inactive=20s;
        tcp_nopush on;
    }

LOC
        $text = $cache . $text;
        $text =~ s/(    location \/api\/ \{)/$loc$1/;
    }
    $text =~ s/\@ZONE\@/$o{zone_size}/;
    $text =~ s/\@STATE\@/$o{state} ? ' state=%%PREFIX%%\/storm.state' : ''/e;
    $text =~ s/\@REDIS\@/$o{redis}
        ? "ticket_redis 127.0.0.1:%%REDIS_PORT%% timeout=1s sync=100ms;\n"
        : ''/e;
    $text =~ s/\@CAPACITY\@/$capacity/;
    $text =~ s/\@RATE\@/$rate/;
    $text =~ s/\@REFRESH\@/$o{refresh}/;
    return $text;
}

sub start_stack {
    my (%o) = @_;
    my $t = TicketTest->new(
        mysql => 1, worker => 1, nginx => 1, redis => $o{redis} ? 1 : 0,
        nginx_workers => $o{nginx_workers},
        worker_conf => { threads => $o{threads},
                         priority_threads => $o{priority_threads},
                         hold_seconds => $o{hold_seconds},
                         log_level => 'warn' },
        http => http_block(%o),
    );
    my $pidfile = $t->dir . '/worker.pid';
    open my $fh, '>', $pidfile or die "$pidfile: $!";
    print $fh "$t->{procs}{worker}\n";
    close $fh;
    return $t;
}

sub run {
    my (%o) = @_;
    my $profile = $o{profile} // 'ci';
    my $p = $PROFILE{$profile} or die "unknown profile $profile\n";
    %o = (%$p, %o);
    my $why = missing();
    die "$why\n" if $why;

    my $t = start_stack(%o);
    my @cmd = storm_cmd($t, %o);

    my $output = '';
    open my $out, '-|', @cmd or die "cannot run $cmd[0]: $!";
    while (my $line = <$out>) {
        print $line if $o{stream};
        $output .= $line;
    }
    close $out;
    my $exit = $? >> 8;

    my $res = { exit => $exit, output => $output, stack => $t };
    read_result($res);
    $res->{error_log} = $t->error_log;
    $res->{worker_log} = $t->worker_log;
    if ($o{plot} && $res->{json_path}) {
        system("$ROOT/bench/plot", $res->{json_path});
    }
    $t->stop_all unless $o{keep_stack};
    return $res;
}

# The decoded JSON result named by a storm's output ("result: PATH").
sub read_result {
    my ($res) = @_;
    if ($res->{output} =~ /^result: (\S+)$/m) {
        $res->{json_path} = $1;
        open my $fh, '<', $1 or die "$1: $!";
        local $/;
        $res->{result} = JSON::PP->new->decode(scalar <$fh>);
        close $fh;
    }
    return $res;
}

# The generator's command line against a stack from start_stack.
sub storm_cmd {
    my ($t, %o) = @_;
    my $profile = $o{profile} // 'ci';
    return (storm_bin(), '--profile', $profile,
               '--port', $t->port,
               '--secret', $t->secret_file,
               '--db-socket', $t->mysql_socket,
               '--nginx-pid', $t->dir . '/nginx/nginx.pid',
               '--worker-pid', $t->dir . '/worker.pid',
               '--mysql-pid', $t->dir . '/mysql.pid',
               '--status-path', '/ticket-status',
               '--room', 'storm',
               '--hold-seconds', $o{hold_seconds},
               '--out', $o{out} // "$ROOT/bench/results",
               ($o{label} ? ('--label', $o{label}) : ()),
               @{ $o{args} // [] });
}

1;
