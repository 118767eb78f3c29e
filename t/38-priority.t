#!/usr/bin/perl
# Payments go to the worker's priority socket, which has threads of its
# own (conf/nginx.conf.in sends /api/payments there): a buyer who holds
# seats pays at once while every thread of the other socket is busy.
# Here the other socket has one thread, kept busy by sign-ups (each hashes
# a password with yescrypt, on purpose slow), and a payment sent behind
# them still answers before they are done.
use strict;
use warnings;
use lib 't/lib';
use HTTP::Tiny;
use POSIX ();
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketStackConf;
use BookingTest qw(:all);

my $t = TicketTest->new(worker => 1, demo => 1,
    worker_conf => { threads => 1, priority_threads => 1,
                     hold_seconds => 120 });
$t->reload_nginx(TicketStackConf::http_block($t));

my ($buyer) = make_users($t, 1, balance => 1_000_000);
my $perf = small_performance($t);
my @seat = seat_ids($t, $perf);

ok(-S $t->worker_priority_socket, 'the worker listens on its priority socket');

my $hold = $t->post("/api/performances/$perf/holds",
                    json => { seat_ids => [$seat[0]] },
                    cookie => $buyer->{cookie}, headers => idem());
is($hold->{status}, 201, 'a hold');

# How long one sign-up keeps the thread.
my $t0 = time;
is($t->post('/api/users', json => { email => 'one@example.com',
                                    password => 'long enough password',
                                    name => 'One' })->{status}, 201,
   'a sign-up');
my $one = time - $t0;

# Enough sign-ups at once to keep the single thread busy for a while.
my $crowd = 40;
my @pids;
$t0 = time;
for my $i (1 .. $crowd) {
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        my $http = HTTP::Tiny->new(timeout => 60, keep_alive => 0);
        $http->post($t->url('/api/users'), {
            headers => { 'Content-Type' => 'application/json' },
            content => qq({"email":"crowd$i\@example.com",)
                       . qq("password":"long enough password",)
                       . qq("name":"Crowd $i"}) });
        POSIX::_exit(0);
    }
    push @pids, $pid;
}
sleep 0.2;

my $p0 = time;
my $pay = $t->post('/api/payments',
                   json => { hold_id => $hold->{json}{id}, method => 'balance' },
                   cookie => $buyer->{cookie}, headers => idem());
my $paid_in = time - $p0;
waitpid($_, 0) for @pids;
my $crowd_in = time - $t0;

is($pay->{status}, 201, 'the payment succeeds while the other thread is busy');
note(sprintf 'one sign-up %.3f s, %d sign-ups %.3f s, payment %.3f s',
     $one, $crowd, $crowd_in, $paid_in);
cmp_ok($paid_in, '<', $crowd_in / 3,
       'the payment does not wait for the crowd ahead of it');
is($t->sql_value("SELECT COUNT(*) FROM users WHERE email LIKE 'crowd%'"),
   $crowd, 'the crowd was served too');

$t->log_is_clean;
done_testing;
