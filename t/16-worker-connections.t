#!/usr/bin/perl
# NGINX keeps its FastCGI connections to the worker open (conf/nginx.conf.in:
# upstream keepalive and fastcgi_keep_conn).  The worker's threads wait on
# all of its connections at once (one epoll set per socket), so requests
# reuse connections, a connection that sends nothing holds no thread, one
# that stops halfway holds one thread for at most 5 s, garbage is closed,
# and NGINX reaches a restarted worker again.
use strict;
use warnings;
use lib 't/lib';
use IO::Select;
use IO::Socket::UNIX;
use Socket qw(SOCK_STREAM);
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketStackConf;
use BookingTest qw(:all);

# Two threads on the main socket: a handful of idle connections outnumber
# them.
my $t = TicketTest->new(worker => 1, demo => 1,
    worker_conf => { threads => 2, priority_threads => 1 });
$t->reload_nginx(TicketStackConf::http_block($t));

# The worker's ends of its connected sockets: /proc/net/unix names the
# listening socket's path on each connection accepted from it.
sub worker_connections {
    my %inode;
    open my $fh, '<', '/proc/net/unix' or die "/proc/net/unix: $!";
    while (<$fh>) {
        my @f = split;
        $inode{ $f[6] } = 1
            if @f >= 8 && $f[7] eq $t->worker_socket && $f[5] eq '03';
    }
    return \%inode;
}

sub all_ok {
    my ($n) = @_;
    my $ok = 0;
    for (1 .. $n) {
        $ok++ if $t->get('/api/events')->{status} == 200;
    }
    return $ok;
}

sub timed_get {
    my $t0 = time;
    my $r = $t->get('/api/events');
    return ($r->{status}, time - $t0);
}

sub connect_worker {
    return IO::Socket::UNIX->new(Type => SOCK_STREAM,
                                 Peer => $t->worker_socket)
        // die "connect " . $t->worker_socket . ": $!";
}

# Seconds until the worker closes the connection (our read sees EOF), or
# undef if it is still open after $limit seconds.
sub closed_within {
    my ($sock, $limit) = @_;
    my $t0 = time;
    my $sel = IO::Select->new($sock);
    while (time - $t0 < $limit) {
        next unless $sel->can_read($limit - (time - $t0));
        my $n = sysread($sock, my $buf, 4096);
        return time - $t0 if !$n;
    }
    return undef;
}

# --- kept connections -------------------------------------------------------
is(all_ok(50), 50, '50 requests answered');
my $kept = worker_connections();
ok(scalar(keys %$kept) >= 1, 'NGINX keeps connections to the worker open')
    or diag('none');
is(all_ok(50), 50, '50 more answered');
my $now = worker_connections();
ok(scalar(grep { $now->{$_} } keys %$kept) >= 1,
   'and sends the next requests on the same connections');

# --- connections that send nothing -----------------------------------------
my @idle = map { connect_worker() } 1 .. 6;
sleep 0.2;
my ($status, $took) = timed_get();
is($status, 200, 'six silent connections, two threads: still answered');
cmp_ok($took, '<', 1.5, 'at once (no thread waits on a silent connection)');

# --- half a request ---------------------------------------------------------
# A FastCGI BEGIN_REQUEST header announcing 8 bytes of body, and no body:
# the thread reading it waits at most the worker's 5 s receive timeout.
my $half = connect_worker();
syswrite($half, pack('CCnnCC', 1, 1, 1, 8, 0, 0));
sleep 0.2;
($status, $took) = timed_get();
is($status, 200, 'a request stopped halfway holds one thread, not both');
cmp_ok($took, '<', 1.5, 'the other answers at once');
my $closed = closed_within($half, 10);
ok(defined $closed, 'the worker closes the stalled connection')
    and cmp_ok($closed, '<', 8, 'within its receive timeout');

# --- garbage ----------------------------------------------------------------
my $junk = connect_worker();
syswrite($junk, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
$closed = closed_within($junk, 5);
ok(defined $closed, 'bytes that are not FastCGI: the worker closes the'
   . ' connection');
is(all_ok(10), 10, 'and goes on serving');
close $_ for @idle, $half, $junk;

# --- a restarted worker -----------------------------------------------------
# The old process's connections close with it; NGINX drops its kept ends
# and connects anew.
$t->restart_worker;
sleep 0.3;
is(all_ok(20), 20, 'after the worker restarts, requests are answered');
my ($buyer) = make_users($t, 1, balance => 1_000_000);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);
my $r = $t->post("/api/performances/$perf/holds",
                 json => { seat_ids => [$seat[0]] },
                 cookie => $buyer->{cookie}, headers => idem());
is($r->{status}, 201, 'a hold (POST) too') or diag($r->{body});
$r = $t->post('/api/payments', json => { hold_id => $r->{json}{id},
                                         method => 'balance' },
              cookie => $buyer->{cookie}, headers => idem());
is($r->{status}, 201, 'and its payment, on the priority socket')
    or diag($r->{body});

# --- stopping ---------------------------------------------------------------
# Threads waiting on kept connections leave when the worker is told to
# stop.
my $idle = connect_worker();
my $t0 = time;
$t->stop_worker;
cmp_ok(time - $t0, '<', 5, 'the worker stops at once with connections open');
like($t->worker_log, qr/ticket-worker stopped/, 'and says it stopped');
close $idle;

$t->log_is_clean;
done_testing;
