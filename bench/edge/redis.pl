#!/usr/bin/perl
# The edge benchmark with Redis; see bench/edge/run-redis.  Starts two
# NGINX through the test harness, one with ticket_redis (and its own
# redis-server) and one on shared memory alone, with the same rooms, then
# measures joins per second through Redis, and status polling and the gate
# on both (alternating rounds, so a change in the machine's load weighs on
# both sides of each ratio alike).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/../../t/lib";
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketEdge;

my $secs = shift // 5;
my $joins = $ENV{BENCH_JOINS} // 200_000;
my $conns = $ENV{BENCH_CONNECTIONS} // 64;
my $threads = $ENV{BENCH_THREADS} // 2;
my $rounds = $ENV{BENCH_ROUNDS} // 2;
my $dir = $FindBin::Bin;

sub conf {
    my ($redis) = @_;
    return ($redis ? "ticket_redis 127.0.0.1:%%REDIS_PORT%%;\n" : '')
        . <<'EOF';
keepalive_requests 1000000;
ticket_zone zone=ticket:32m;
ticket_secret %%SECRET%%;
ticket_room line zone=ticket capacity=2000 rate=200/10s session=10m grace=60s;
ticket_room bench zone=ticket capacity=2000 rate=100000/s session=10m grace=60s;
server {
    listen 127.0.0.1:%%PORT%% backlog=4096;
    location /queue/line { ticket_queue line; }
    location /queue/bench { ticket_queue bench; }
    location /gated/ { ticket_gate bench; return 200 "ok\n"; }
    location = /_ticket/status { ticket_status; }
}
EOF
}

my $r_t = TicketTest->new(redis => 1, nginx_workers => 2, http => conf(1));
my $l_t = TicketTest->new(nginx_workers => 2, http => conf(0));
my $tmp = $r_t->dir;

sub write_lines {
    my ($file, @lines) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh "$_\n" for @lines;
    close $fh;
}

sub wrk {
    my ($t, $name, $script, @args) = @_;
    my $url = $t->url('');
    my $out = `wrk -t$threads -c$conns -d${secs}s --latency -s $dir/$script $url -- @args 2>&1`;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my ($p99) = $out =~ /^\s+99%\s+([\d.]+\w+)/m;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    die "wrk $name failed:\n$out" unless $rps;
    return { name => $name, rps => $rps, p99 => $p99 // '?',
             errors => $non2xx // 0 };
}

# --- joins per second through Redis ---------------------------------------------

TicketEdge::admin($_, 'line', 'pause') for $r_t, $l_t;
TicketEdge::wait_for('the mirror', 5, sub {
    !TicketEdge::room($r_t, 'line')->{redis}{stale} });

write_lines("$tmp/sessions.txt",
            map { (split /=/, $r_t->session_cookie($_), 2)[1] } 1 .. $joins)
    if $joins;

# wrk cycles through the tokens (a repeated join is harmless: one place per
# user); the clock stops when every place is handed out.  The same on the
# shared-memory instance, for the machine's own ceiling.
sub joins {
    my ($t, $label, $seq_of) = @_;
    my $url = $t->url('');
    my $out_file = "$tmp/join-wrk-$t->{nginx_port}.txt";
    my $start = time;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        exec("wrk -t$threads -c$conns -d60s --latency -s $dir/join.lua $url "
             . "-- $tmp/sessions.txt line $threads > $out_file 2>&1");
    }
    my ($seq, $took) = (0, 0);
    while (time - $start < 60) {
        $seq = $seq_of->() || 0;
        $took = time - $start;
        last if $seq >= $joins;
        sleep 0.05;
    }
    kill 'INT', $pid;
    waitpid($pid, 0);
    my $out = do { local (@ARGV, $/) = $out_file; <> } // '';
    my ($p99) = $out =~ /^\s+99%\s+([\d.]+\w+)/m;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    printf "  %-22s %d places in %.2f s: %6.0f joins/s (p99 %s, non-2xx %d)\n",
           $label, $seq, $took, $seq / $took, $p99 // '?', $non2xx // 0;
    return ($seq, $took);
}

if ($joins) {
    printf "joins: %d users, wrk -t%d -c%d\n", $joins, $threads, $conns;
    my ($seq, $took) = joins($r_t, 'through Redis:', sub {
        $r_t->redis_cli('HGET', 'ticket:line:h', 'seq') });
    printf "  target >= 20000 joins/s, %d joined in < 10 s: %s\n", $joins,
           $seq >= $joins && $took < 10 ? 'PASS' : 'FAIL';
    joins($l_t, 'shared memory only:', sub {
        TicketEdge::room($l_t, 'line')->{seq} });
}

# --- a waiting crowd to poll, an admitted session to gate --------------------------

my (%poll, %gate);
for my $t ($r_t, $l_t) {
    my @poll;
    for my $id (1 .. 1000) {
        my $u = TicketEdge::user($t, 1_000_000 + $id);
        my $r = TicketEdge::join_room($t, $u, 'line');
        die "join failed: $r->{status}" unless $r->{status} =~ /^20[01]$/;
        push @poll, "ticket_q_line=$u->{jar}{ticket_q_line}";
    }
    $poll{$t} = "$tmp/poll-$t->{nginx_port}.txt";
    write_lines($poll{$t}, @poll);

    my $u = TicketEdge::user($t, 2_000_000);
    TicketEdge::join_room($t, $u, 'bench');
    TicketEdge::wait_for('admission', 5, sub {
        TicketEdge::status($t, $u, 'bench')->{json}{status} eq 'admitted' });
    $gate{$t} = "$tmp/gate-$t->{nginx_port}.txt";
    write_lines($gate{$t}, "ticket_a_bench=$u->{jar}{ticket_a_bench}");
    my $r = $t->get('/gated/x',
                    cookie => "ticket_a_bench=$u->{jar}{ticket_a_bench}");
    die "the gate refuses: $r->{status}\n" unless $r->{status} == 200;
}

printf "status polling and gate: wrk -t%d -c%d, %d s per run, %d rounds\n",
       $threads, $conns, $secs, $rounds;
my (%sum, @all);
for my $round (1 .. $rounds) {
    for my $what (['status', '/queue/line', \%poll],
                  ['gate', '/gated/x', \%gate])
    {
        my ($name, $path, $files) = @$what;
        for my $t ($round % 2 ? ($l_t, $r_t) : ($r_t, $l_t)) {
            my $mode = $t == $r_t ? 'redis' : 'shm';
            my $x = wrk($t, "$name $mode #$round", 'poll.lua', $path,
                        $files->{$t});
            $sum{"$name $mode"} += $x->{rps};
            push @all, $x;
        }
    }
}
for my $x (@all) {
    printf "  %-18s %10.0f req/s   p99 %-8s non-2xx %d\n", $x->{name},
           $x->{rps}, $x->{p99}, $x->{errors};
}
for my $name ('status', 'gate') {
    my $ratio = $sum{"$name redis"} / $sum{"$name shm"};
    printf "%-7s with Redis / shared memory only: %.3f  (target >= 0.95: "
           . "%s)\n", $name, $ratio, $ratio >= 0.95 ? 'PASS' : 'FAIL';
}
my ($load) = split ' ', `cat /proc/loadavg`;
printf "machine load average: %s (other work on the machine lowers every "
       . "figure but the ratios)\n", $load;

for my $t ($r_t, $l_t) {
    my @bad = grep { /\[(alert|emerg|crit)\]|exited on signal/ }
              split /\n/, $t->error_log;
    print "error log: ", (@bad ? "PROBLEMS\n" . join("\n", @bad) : 'clean'),
          "\n";
}
