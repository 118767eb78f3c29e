#!/usr/bin/perl
# The edge benchmark; see bench/edge/run.  Starts NGINX through the test
# harness (its own prefix, a free port), fills the rooms, runs wrk and
# prints the figures and the ratios.
use strict;
use warnings;
use Cwd qw(abs_path);
use File::Basename qw(dirname);
use FindBin;
use lib "$FindBin::Bin/../../t/lib";
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketEdge;

my $secs = shift // 10;
my $waiting = $ENV{BENCH_WAITING} // 200_000;
my $active = $ENV{BENCH_ACTIVE} // 2_000;
my $conns = $ENV{BENCH_CONNECTIONS} // 64;
my $threads = $ENV{BENCH_THREADS} // 2;
my $dir = dirname(abs_path(__FILE__));

my $t = TicketTest->new(nginx_workers => 2, http => <<'EOF');
keepalive_requests 1000000;
ticket_zone zone=ticket:32m state=%%PREFIX%%/ticket.state;
ticket_secret %%SECRET%%;
ticket_room line zone=ticket capacity=2000 rate=200/10s session=10m grace=60s;
ticket_room bench zone=ticket capacity=2000 rate=100000/s session=10m grace=60s;
server {
    listen 127.0.0.1:%%PORT%% backlog=4096;
    location /queue/line { ticket_queue line; }
    location /queue/bench { ticket_queue bench; }
    location /plain/ { return 200 "ok\n"; }
    location /gated/ { ticket_gate bench; return 200 "ok\n"; }
    location = /_ticket/status { ticket_status; }
}
EOF

my $tmp = $t->dir;
my $url = $t->url('');

sub write_lines {
    my ($file, @lines) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh "$_\n" for @lines;
    close $fh;
}

sub wrk {
    my ($name, @args) = @_;
    my $cmd = "wrk -t$threads -c$conns -d${secs}s --latency -s $dir/poll.lua "
              . "$url -- @args 2>&1";
    my $out = `$cmd`;
    my ($rps) = $out =~ /Requests\/sec:\s+([\d.]+)/;
    my ($p99) = $out =~ /^\s+99%\s+([\d.]+\w+)/m;
    my ($non2xx) = $out =~ /Non-2xx or 3xx responses:\s+(\d+)/;
    die "wrk $name failed:\n$out" unless $rps;
    return { name => $name, rps => $rps, p99 => $p99 // '?',
             p99_ms => to_ms($p99 // '0ms'), errors => $non2xx // 0 };
}

sub to_ms {
    my ($v) = @_;
    my ($n, $u) = $v =~ /([\d.]+)(\w+)/;
    return $u eq 'us' ? $n / 1000 : $u eq 's' ? $n * 1000 : $n;
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

# --- wrk -----------------------------------------------------------------------

printf "wrk: %d threads, %d connections, %d s per run\n", $threads, $conns,
       $secs;
# Ungated and gated alternate, so that a change in the machine's load
# during the run weighs on both sides of the ratio alike.
my $rounds = $ENV{BENCH_ROUNDS} // 2;
my (@plain, @gated);
for my $round (1 .. $rounds) {
    push @plain, wrk("ungated #$round", '/plain/x', "$tmp/gate.txt");
    push @gated, wrk("gated #$round", '/gated/x', "$tmp/gate.txt");
}
my $status = wrk('status polling', '/queue/line', "$tmp/poll.txt");

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
my ($load) = split ' ', `cat /proc/loadavg`;
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
