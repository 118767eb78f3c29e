#!/usr/bin/perl
# The edge benchmark; see bench/edge/run.  Starts MariaDB with the demo
# data, the worker and one NGINX through the test harness (its own prefix,
# free ports).  The NGINX has two servers: the stack's, which is the http
# block of conf/nginx.conf.in as shipped (the seat map's micro-cache
# included, through t/lib/TicketStackConf.pm), and the benchmark's, with
# its rooms and small locations.  Fills the rooms, runs wrk and prints the
# figures and the ratios.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use FindBin;
use lib "$FindBin::Bin/../../t/lib";
use HTTP::Tiny;
use JSON::PP;
use POSIX ();
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketEdge;
use TicketStackConf;

my $secs = shift // 10;
my $waiting = $ENV{BENCH_WAITING} // 200_000;
my $active = $ENV{BENCH_ACTIVE} // 2_000;
my $conns = $ENV{BENCH_CONNECTIONS} // 64;
my $threads = $ENV{BENCH_THREADS} // 2;
my $changes = $ENV{BENCH_CHANGES} // 10;
my $dir = dirname(abs_path(__FILE__));

my $t = TicketTest->new(nginx_workers => 2, demo => 1, worker => 1,
                        nginx => 0);

# The stack's server moves to a port of its own; the benchmark's server
# takes the harness's port, so that TicketEdge's helpers talk to it.  Its
# rooms live in the stack's zone (32 MB, as the benchmark had its own).
my $stack_port = TicketTest::free_port();
my $stack_conf = TicketStackConf::http_block($t, $ENV{BENCH_CONF});
$stack_conf =~ s/^(\s*listen\s+127\.0\.0\.1:)%%PORT%%;/$1$stack_port;/m
    or die "no 'listen 127.0.0.1:%%PORT%%' in conf/nginx.conf.in\n";
$t->{opt}{http} = $stack_conf . <<'EOF';

# --- the benchmark's rooms and server -----------------------------------------
ticket_room line zone=ticket capacity=2000 rate=200/10s session=10m grace=60s;
ticket_room bench zone=ticket capacity=2000 rate=100000/s session=10m grace=60s;
server {
    listen 127.0.0.1:%%PORT%% backlog=4096;
    keepalive_requests 1000000;
    location /queue/line { ticket_queue line; }
    location /queue/bench { ticket_queue bench; }
    location /plain/ { return 200 "ok\n"; }
    location /gated/ { ticket_gate bench; return 200 "ok\n"; }
    location = /_ticket/status { ticket_status; }
}
EOF
$t->start_nginx;

my $tmp = $t->dir;
my $url = $t->url('');
my $stack_url = "http://127.0.0.1:$stack_port";

sub write_lines {
    my ($file, @lines) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh "$_\n" for @lines;
    close $fh;
}

# --- CPU: who used the two cores during a run ---------------------------------

my $tck = POSIX::sysconf(POSIX::_SC_CLK_TCK()) || 100;

sub slurp { open my $fh, '<', $_[0] or return ''; local $/; <$fh> }

# Our processes: NGINX (master, workers, cache manager), and the worker
# and MariaDB, whose command lines name the stack's directory.
sub stack_pids {
    my %pid = map { $_ => 'nginx' } grep { $_ } $t->nginx_pid,
                                                $t->nginx_worker_pids;
    for my $p (glob '/proc/[0-9]*') {
        my $cmd = slurp("$p/cmdline");
        next unless index($cmd, $tmp) >= 0;
        my ($n) = $p =~ /(\d+)$/;
        $pid{$n} //= $cmd =~ /mariadbd/ ? 'db' : 'worker';
    }
    return \%pid;
}

sub cpu_now {
    my ($u, $n, $s, $idle, $io, $irq, $sirq, $steal) =
        (split ' ', (split /\n/, slurp('/proc/stat'))[0])[1 .. 8];
    # Interrupts are charged to the process they interrupt too (the
    # kernel accounts by tick), so they count as busy here; steal is time
    # other virtual machines took.
    my %c = (busy => $u + $n + $s + $irq + $sirq + $steal,
             all => $u + $n + $s + $idle + $io + $irq + $sirq + $steal);
    my $pids = stack_pids();
    for my $p (keys %$pids) {
        my $stat = slurp("/proc/$p/stat") or next;
        $stat =~ s/^.*\) //s;
        my @f = split ' ', $stat;
        $c{ $pids->{$p} } += $f[11] + $f[12];
    }
    my @times = times;
    $c{wrk} = ($times[2] + $times[3]) * $tck;
    $c{self} = ($times[0] + $times[1]) * $tck;
    return \%c;
}

# Shares of one core (100 % = one core) since $c0.
sub cpu_since {
    my ($c0) = @_;
    my $c1 = cpu_now();
    my $ticks = ($c1->{all} - $c0->{all}) / 2 || 1;   # per core, 2 cores
    my %p = map { $_ => 100 * (($c1->{$_} // 0) - ($c0->{$_} // 0)) / $ticks }
            qw(nginx wrk worker db busy self);
    $p{rest} = $p{busy} - $p{nginx} - $p{wrk} - $p{worker} - $p{db} - $p{self};
    $p{rest} = 0 if $p{rest} < 0;
    return \%p;
}

sub cpu_text {
    my ($c) = @_;
    return sprintf "nginx %.0f %%, wrk %.0f %%, worker+MariaDB %.0f %%, "
                   . "rest of the machine %.0f %% (of 200 %%)",
                   $c->{nginx}, $c->{wrk}, $c->{worker} + $c->{db},
                   $c->{rest};
}

# --- wrk ----------------------------------------------------------------------

sub to_ms {
    my ($v) = @_;
    my ($n, $u) = $v =~ /([\d.]+)(\w+)/;
    return $u eq 'us' ? $n / 1000 : $u eq 's' ? $n * 1000 : $n;
}

sub wrk_figures {
    my ($name, $out) = @_;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my ($p99) = $out =~ /^\s+99%\s+([\d.]+\w+)/m;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    # "123 requests in 10.00s, 4.56GB read": the bytes per answer.
    my ($n, $read, $unit) =
        $out =~ /(\d+) requests in [\d.]+\w+, ([\d.]+)(\w*B) read/;
    die "wrk $name failed:\n$out" unless $rps;
    my %mult = (B => 1, KB => 2**10, MB => 2**20, GB => 2**30, TB => 2**40);
    return { name => $name, rps => $rps, p99 => $p99 // '?',
             p99_ms => to_ms($p99 // '0ms'), errors => $non2xx // 0,
             bytes => $n ? $read * ($mult{$unit} // 1) / $n : 0 };
}

# Starts wrk in the background: [name, pid, pipe].
sub wrk_start {
    my ($name, $cmd) = @_;
    my $pid = open(my $fh, '-|', 'sh', '-c', "exec $cmd 2>&1")
        or die "wrk: $!";
    return [$name, $pid, $fh];
}

sub wrk_finish {
    my ($run) = @_;
    my ($name, $pid, $fh) = @$run;
    my $out = do { local $/; <$fh> };
    close $fh;
    return wrk_figures($name, $out);
}

# Runs several wrk at once ([name, command] each) and returns their
# figures, each with the CPU shares of the whole run.
sub wrk_together {
    my (@runs) = @_;
    my $c0 = cpu_now();
    my @res = map { wrk_finish($_) } map { wrk_start(@$_) } @runs;
    my $cpu = cpu_since($c0);
    $_->{cpu} = $cpu for @res;
    return @res;
}

# Status polling and the small locations: poll.lua, a cookie per request
# taken in turn from a file.
sub poll_cmd {
    my ($n_threads, $d, @args) = @_;
    return "wrk -t$n_threads -c$conns -d${d}s --latency -s $dir/poll.lua "
           . "$url -- @args";
}

sub wrk {
    my ($name, @args) = @_;
    return (wrk_together([$name, poll_cmd($threads, $secs, @args)]))[0];
}

# --- 200,000 waiting users ------------------------------------------------

TicketEdge::admin($t, 'line', 'pause');

printf "filling: %d waiting users, %d admitted sessions\n", $waiting, $active;
my @poll;
for my $id (1 .. 1000) {
    my $u = TicketEdge::user($t, $id);
    my $r = TicketEdge::join_room($t, $u, 'line');
    die "join failed: $r->{status}" unless $r->{status} == 201;
    push @poll, "ticket_q_line=$u->{jar}{ticket_q_line}";
}
write_lines("$tmp/poll.txt", @poll);

write_lines("$tmp/sessions.txt",
            map { (split /=/, $t->session_cookie($_), 2)[1] }
            1001 .. $waiting);

my $start = time;
for my $try (1 .. 5) {
    my $seq = TicketEdge::room($t, 'line')->{seq};
    last if $seq >= $waiting;
    my $left = $waiting - $seq;
    my $d = int($left / 15000) + 3;
    my $cmd = "wrk -t$threads -c32 -d${d}s -s $dir/join.lua $url -- "
              . "$tmp/sessions.txt line $threads 2>&1";
    my $out = `$cmd`;
    my $now = TicketEdge::room($t, 'line')->{seq};
    print "seq $seq -> $now\n$out" if $now == $seq || $ENV{BENCH_DEBUG};
}
my $line = TicketEdge::room($t, 'line');
printf "  joined %d in %.1f s\n", $line->{seq}, time - $start;
die "only $line->{seq} joined\n" if $line->{seq} < $waiting;

# --- 2,000 admitted sessions -------------------------------------------------

my $gate_cookie;
for my $id (1 .. $active) {
    my $u = TicketEdge::user($t, 500_000 + $id);
    TicketEdge::join_room($t, $u, 'bench');
    push @{ $t->{bench_users} }, $u;
}
TicketEdge::wait_for('admission', 10, sub {
    TicketEdge::room($t, 'bench')->{serving} >= $active });
for my $u (@{ $t->{bench_users} }) {
    TicketEdge::status($t, $u, 'bench');
    $gate_cookie //= "ticket_a_bench=$u->{jar}{ticket_a_bench}";
}
my $bench = TicketEdge::room($t, 'bench');
printf "  %d admitted sessions active\n", $bench->{active};
write_lines("$tmp/gate.txt", $gate_cookie);

my $r = $t->get('/gated/x', cookie => $gate_cookie);
die "the gate refuses the bench session: $r->{status}\n"
    unless $r->{status} == 200;
$r = $t->get('/queue/line', cookie => $poll[0]);
die "status polling fails: $r->{status}\n"
    unless $r->{status} == 200 && $r->{json}{status} eq 'paused';

my $zone = TicketEdge::zone($t);

# --- the seat map of a 15,000-seat performance, on the stack's server ---------
#
# The performance is the one the shipped configuration sends through its
# room (map $uri $ticket_perf_room) if it has 15,000 seats, else the first
# with 15,000; BENCH_PERF picks another.  A demo user logs in through the
# API and, for a performance behind a room, joins it and is admitted, as a
# buyer would be: wrk and the staleness probe send that user's cookies.

my $api = StackClient->new($stack_url);
my %room_of = $stack_conf
    =~ m{~\^/api/performances/(\d+)\(/\|\$\)\s+([A-Za-z0-9._-]+);}g;
my @big;
for my $e (@{ $api->get('/api/events')->{json}{events} // [] }) {
    my $ev = $api->get("/api/events/$e->{id}")->{json};
    push @big, map { $_->{id} } grep { $_->{seats_total} == 15000 }
               @{ $ev->{performances} // [] };
}
my $perf = $ENV{BENCH_PERF} // (grep { $room_of{$_} } @big)[0] // $big[0]
    // die "no 15,000-seat performance in the demo data\n";
my $perf_room = $room_of{$perf};

my $buyer = { id => 0, jar => {} };
$r = TicketEdge::request($api, $buyer, 'POST', '/api/sessions',
                         json => { email => 'alice@ticket.test',
                                   password => 'alice-pass-1' });
die "log-in: $r->{status} $r->{body}\n" unless $r->{status} == 200;
if ($perf_room) {
    $r = TicketEdge::join_room($api, $buyer, $perf_room);
    die "joining $perf_room: $r->{status} $r->{body}\n"
        unless $r->{status} == 201 || $r->{status} == 200;
    TicketEdge::wait_for("admission to $perf_room", 30, sub {
        TicketEdge::status($api, $buyer, $perf_room);
        $buyer->{jar}{"ticket_a_$perf_room"} });
}
my $map_cookie = TicketEdge::cookie_header($buyer);
my $map_path = "/api/performances/$perf/seats";
my $map_url = "$stack_url$map_path";

# Mid-sale, seats are held and sold all over the hall, which is what makes
# the gzipped map large: BENCH_TAKEN (0.5) of the seats, chosen at random,
# are held for a day by one hold (the map shows them as 'h'), all but the
# first, which the staleness probe holds and releases.
my $seat = 0 + $t->sql_value("SELECT MIN(seat_id) FROM performance_seats"
                             . " WHERE performance_id = $perf");
my $taken = $ENV{BENCH_TAKEN} // 0.5;
if ($taken > 0) {
    $t->sql("INSERT INTO holds (user_id, performance_id, expires_at)"
            . " SELECT MIN(id), $perf, UTC_TIMESTAMP(3) + INTERVAL 1 DAY"
            . " FROM users");
    $t->sql("UPDATE performance_seats SET state = 'held', hold_id ="
            . " (SELECT MAX(id) FROM holds), hold_expires_at ="
            . " UTC_TIMESTAMP(3) + INTERVAL 1 DAY WHERE performance_id ="
            . " $perf AND seat_id <> $seat AND RAND(7) < $taken");
}

# Browsers send Accept-Encoding: gzip and get the map compressed; other
# clients get it plain.  The benchmark measures both.
my %gzip = ('Accept-Encoding' => 'gzip, deflate, br');
sleep 1.1;
$r = $api->get($map_path, cookie => $map_cookie);
die "seat map: $r->{status} $r->{body}\n"
    unless $r->{status} == 200 && $r->{json} && $r->{json}{seats} == 15000;
my $map_bytes = length $r->{body};
my $map_etag = $r->{headers}{etag} // die "the seat map has no ETag\n";
$r = $api->get($map_path, cookie => $map_cookie,
               headers => { 'If-None-Match' => $map_etag });
die "If-None-Match: $r->{status}\n" unless $r->{status} == 304;
$r = $api->get($map_path, cookie => $map_cookie, headers => \%gzip);
die "gzipped seat map: $r->{status}\n"
    unless $r->{status} == 200
           && ($r->{headers}{'content-encoding'} // '') eq 'gzip';
my $map_gzip_bytes = length $r->{body};

sub map_cmd {
    my ($n_threads, $d, $etag, $gzip) = @_;
    return "wrk -t$n_threads -c$conns -d${d}s --latency "
           . "-H 'Cookie: $map_cookie' "
           . ($gzip ? "-H 'Accept-Encoding: $gzip{'Accept-Encoding'}' " : '')
           . ($etag ? "-H 'If-None-Match: $etag' " : '') . $map_url;
}

# Two wrk at once share the threads: each gets half.
my $half = int($threads / 2) || 1;

# --- staleness: how long a change takes to show in the map NGINX serves -------
#
# While wrk loads the map (full bodies) and status polling, the buyer holds
# the seat, then releases it, $changes times, each at a random moment of
# the cache's second.  After the API's answer (the change is committed),
# a client polls the map with If-None-Match: the ETag served before the
# change (304 while the map is unchanged, 5 ms apart) until it gets the
# new map, and checks the seat's state in it.  The delay is from the API's
# answer to the new map; its resolution is the time since the last poll
# that still got the old map.

my $key = 0;
my $hold;

sub change_seat {
    if (!$hold) {
        my $r = TicketEdge::request($api, $buyer, 'POST',
            "/api/performances/$perf/holds", json => { seat_ids => [$seat] },
            headers => { 'Idempotency-Key' => "bench-$$-" . ++$key });
        die "hold: $r->{status} $r->{body}\n" unless $r->{status} == 201;
        $hold = $r->{json}{id};
        return 'h';
    }
    my $r = TicketEdge::request($api, $buyer, 'DELETE', "/api/holds/$hold");
    die "release: $r->{status} $r->{body}\n" unless $r->{status} == 204;
    undef $hold;
    return 'a';
}

sub staleness {
    my $poller = HTTP::Tiny->new(keep_alive => 1, timeout => 10);
    my %h = (Cookie => $map_cookie, Accept => 'application/json');
    my @out;
    for my $i (1 .. $changes) {
        sleep rand 1;
        my $res = $poller->get($map_url, { headers => \%h });
        die "seat map: $res->{status}\n" unless $res->{status} == 200;
        my $before = $res->{headers}{etag};
        my $t0 = time;
        my $want = change_seat();
        my $t1 = time;
        my $last_old = $t1;
        while (1) {
            my $sent = time;
            $res = $poller->get($map_url, { headers => {
                %h, 'If-None-Match' => $before } });
            last if $res->{status} == 200;
            die "seat map: $res->{status}\n" unless $res->{status} == 304;
            die "the change did not show in 10 s\n" if $sent - $t1 > 10;
            $last_old = $sent;
            sleep 0.005;
        }
        my $t2 = time;
        my $map = JSON::PP->new->utf8->decode($res->{content});
        my $state = substr($map->{sections}[0]{rows}[0]{states}, 0, 1);
        die "the new map shows the seat '$state', not '$want'\n"
            unless $state eq $want;
        push @out, { api => $t1 - $t0, delay => $t2 - $t1,
                     res => $t2 - $last_old };
    }
    return @out;
}

# --- the runs -----------------------------------------------------------------

printf "wrk: %d threads, %d connections, %d s per run\n", $threads, $conns,
       $secs;
# Ungated and gated alternate, so that a change in the machine's load
# during the run weighs on both sides of the ratio alike.
my $rounds = $ENV{BENCH_ROUNDS} // 4;
my (@plain, @gated);
for my $round (1 .. $rounds) {
    push @plain, wrk("ungated #$round", '/plain/x', "$tmp/gate.txt");
    push @gated, wrk("gated #$round", '/gated/x', "$tmp/gate.txt");
}
my $status = wrk('status polling', '/queue/line', "$tmp/poll.txt");

my ($map_gzip) = wrk_together(['map gzip', map_cmd($threads, $secs, '', 1)]);
my ($map_gzip_busy, $poll_gzip_busy) = wrk_together(
    ['map gzip + poll', map_cmd($half, $secs, '', 1)],
    ['polling + gzip', poll_cmd($half, $secs, '/queue/line', "$tmp/poll.txt")]);
my ($map200) = wrk_together(['seat map 200', map_cmd($threads, $secs)]);
my ($map304) = wrk_together(['seat map 304',
                             map_cmd($threads, $secs, $map_etag)]);
my ($map_busy, $poll_busy) = wrk_together(
    ['map + polling', map_cmd($half, $secs)],
    ['polling + map', poll_cmd($half, $secs, '/queue/line', "$tmp/poll.txt")]);
my ($map304_busy, $poll304_busy) = wrk_together(
    ['map 304 + poll', map_cmd($half, $secs, $map_etag)],
    ['polling + 304', poll_cmd($half, $secs, '/queue/line', "$tmp/poll.txt")]);

my $c0 = cpu_now();
my @load = (wrk_start('map (probe)', map_cmd($half, 3600)),
            wrk_start('poll (probe)', poll_cmd($half, 3600, '/queue/line',
                                               "$tmp/poll.txt")));
sleep 1;
my @stale = eval { staleness() };
my $failed = $@;
kill 'INT', $_->[1] for @load;
my @probe_load = map { wrk_finish($_) } @load;
die $failed if $failed;
$_->{cpu} = cpu_since($c0) for @probe_load;

# --- the figures --------------------------------------------------------------

for my $x (@plain, @gated, $status) {
    printf "  %-16s %10.0f req/s   p99 %-8s non-2xx %d\n", $x->{name},
           $x->{rps}, $x->{p99}, $x->{errors};
}

my $sum = sub { my $t = 0; $t += $_->{rps} for @_; $t };
my $ratio = $sum->(@gated) / $sum->(@plain);
printf "gate / ungated:          %.3f  (target >= 0.85: %s)\n", $ratio,
       $ratio >= 0.85 ? 'PASS' : 'FAIL';
printf "status polling:          %.0f req/s, p99 %.2f ms  (target >= 50000 "
       . "req/s, p99 < 10 ms: %s)\n", $status->{rps}, $status->{p99_ms},
       $status->{rps} >= 50000 && $status->{p99_ms} < 10 ? 'PASS' : 'FAIL';

printf "seat map of performance %d (%d seats%s, %.0f %% of them held; "
       . "%d bytes, %d gzipped; %s), on the stack's server:\n", $perf, 15000,
       $perf_room ? ", behind room $perf_room" : '', 100 * $taken,
       $map_bytes, $map_gzip_bytes,
       'micro-cached as ' . ($ENV{BENCH_CONF} // 'conf/nginx.conf.in')
       . ' says';
for my $x ($map_gzip, $map_gzip_busy, $poll_gzip_busy, $map200, $map304,
           $map_busy, $poll_busy, $map304_busy, $poll304_busy, @probe_load) {
    printf "  %-16s %10.0f req/s   p99 %-8s non-2xx %d   %6.0f bytes/answer\n",
           $x->{name}, $x->{rps}, $x->{p99}, $x->{errors}, $x->{bytes};
}
for my $x ($map_gzip, $map_gzip_busy, $map200, $map304, $map_busy,
           $map304_busy, $probe_load[0]) {
    printf "  cpu, %-14s %s\n", "$x->{name}:", cpu_text($x->{cpu});
}
# What NGINX would serve with the cores to itself (clients elsewhere).
printf "seat map per NGINX core (alone): %.0f req/s full, %.0f req/s 304\n",
       map { $_->{rps} / ($_->{cpu}{nginx} / 100 || 1) } $map200, $map304;
printf "map under polling / map alone:       %.3f (304: %.3f)\n",
       $map_busy->{rps} / $map200->{rps},
       $map304_busy->{rps} / $map304->{rps};
printf "polling under map / polling alone:   %.3f\n",
       $poll_busy->{rps} / $status->{rps};
printf "304 / 200 alone:                     %.3f\n",
       $map304->{rps} / $map200->{rps};
my $target = sub { $_[0]{rps} >= 20000 && $_[0]{p99_ms} < 10 };
printf "seat map under polling load, gzipped as browsers get it: %.0f "
       . "req/s, p99 %.2f ms  (target >= 20000 req/s, p99 < 10 ms: %s)\n",
       $map_gzip_busy->{rps}, $map_gzip_busy->{p99_ms},
       $target->($map_gzip_busy) ? 'PASS' : 'FAIL';
printf "  plain (clients without gzip): %.0f req/s, p99 %.2f ms (%s); "
       . "304s: %.0f req/s, p99 %.2f ms (%s)\n",
       $map_busy->{rps}, $map_busy->{p99_ms},
       $target->($map_busy) ? 'PASS' : 'FAIL',
       $map304_busy->{rps}, $map304_busy->{p99_ms},
       $target->($map304_busy) ? 'PASS' : 'FAIL';

my ($worst) = sort { $b->{delay} <=> $a->{delay} } @stale;
my $max = sub { my $m = 0; $_ > $m and $m = $_ for @_; $m };
my $ms = sub { sprintf '%.0f', 1000 * $_[0] };
my $res_max = $max->(map { $_->{res} } @stale);
printf "staleness, %d changes under load: %s ms (hold, release alternating; "
       . "from the API's answer)\n", scalar @stale,
       join ' ', map { $ms->($_->{delay}) } @stale;
printf "  max %s ms, resolution %s ms (last old map before the new one), "
       . "the API call itself up to %s ms\n", $ms->($worst->{delay}),
       $ms->($res_max),
       $ms->($max->(map { $_->{api} } @stale));
printf "never staler than 1 s:   %s ms  (target <= 1000 ms + resolution "
       . "%s ms: %s)\n", $ms->($worst->{delay}), $ms->($res_max),
       $worst->{delay} <= 1 + $res_max ? 'PASS' : 'FAIL';

my ($load) = split ' ', slurp('/proc/loadavg');
printf "machine load average:    %s (other work on the machine lowers every "
       . "figure but the ratio)\n", $load;
printf "shared memory:           %d waiting + %d active use %.2f MB of the "
       . "%.0f MB zone\n", $line->{waiting}, $bench->{active},
       $zone->{used} / 1048576, $zone->{size} / 1048576;
printf "  index: %d entries of %d bytes (%.2f MB), %d slots preallocated "
       . "(%.1f MB, up to %d entries); %d session records\n",
       $zone->{index_entries}, $zone->{index_entry_bytes},
       $zone->{index_entries} * $zone->{index_entry_bytes} / 1048576,
       $zone->{index_slots}, $zone->{index_bytes} / 1048576,
       $zone->{index_limit}, $zone->{sessions};

my @bad = grep { /\[(alert|emerg|crit)\]|exited on signal/ }
          split /\n/, $t->error_log;
print "error log: ", (@bad ? "PROBLEMS\n" . join("\n", @bad) : 'clean'), "\n";

# TicketTest's request() for the stack's server (TicketEdge's helpers take
# either).
package StackClient;

sub new {
    my ($class, $base) = @_;
    return bless { base => $base, json => JSON::PP->new->utf8->canonical,
                   http => HTTP::Tiny->new(keep_alive => 1, timeout => 30,
                                           max_redirect => 0) }, $class;
}

sub request {
    my ($self, $method, $path, %o) = @_;
    my %h = (Accept => 'application/json', %{ $o{headers} // {} });
    $h{Cookie} = $o{cookie} if defined $o{cookie};
    my $content;
    if (exists $o{json}) {
        $content = $self->{json}->encode($o{json});
        $h{'Content-Type'} = 'application/json';
    }
    my $res = $self->{http}->request($method, "$self->{base}$path", {
        headers => \%h, defined $content ? (content => $content) : () });
    my $r = { status => $res->{status}, headers => $res->{headers},
              body => $res->{content} // '' };
    $r->{json} = eval { $self->{json}->decode($r->{body}) }
        if ($res->{headers}{'content-type'} // '') =~ m{application/json};
    return $r;
}

sub get { my ($self, $path, %o) = @_; $self->request('GET', $path, %o) }
