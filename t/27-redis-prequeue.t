#!/usr/bin/perl
# A scheduled on-sale with Redis: 1,000 users joining before opening wait in
# a pre-queue (countdown shown); at opening their order is drawn at random
# (a permutation of 1..1000 unrelated to the join order: rank correlation
# near 0), and everyone joining after opening is served strictly after
# them, in join order.
use strict;
use warnings;
use lib 't/lib';
use MIME::Base64 qw(decode_base64);
use POSIX qw(strftime);
use Test::More;
use Time::HiRes qw(sleep time);
use TicketTest;
use TicketEdge;

my $n = 1000;
my $opens_at = int(time) + 8;
my $opens = strftime('%Y-%m-%dT%H:%M:%SZ', gmtime($opens_at));
my $rooms = <<"EOF2";
ticket_redis 127.0.0.1:%%REDIS_PORT%% timeout=1s sync=50ms;
ticket_room sale zone=ticket capacity=100 rate=50/s opens_at=$opens prequeue=1h;
EOF2
my $http = TicketEdge::http(rooms => $rooms);
my $ta = TicketTest->new(redis => 1, http => $http);
my $tb = TicketTest->new(redis_port => $ta->redis_port, http => $http);

# Admission held, so places read as positions.
is(TicketEdge::admin($ta, 'sale', 'pause')->{status}, 200, 'admission paused');

sub place_of {
    my ($u) = @_;
    my $tok = $u->{jar}{ticket_q_sale} // return;
    my $p = (split /\./, $tok)[0];
    $p =~ tr{-_}{+/};
    $p .= '=' x ((4 - length($p) % 4) % 4);
    my (undef, undef, undef, undef, $user, $number) =
        unpack('CCCC Q> Q>', decode_base64($p));
    return $number;
}

my @u = map { TicketEdge::user($ta, 10_000 + $_) } 1 .. $n;
my $joined = 0;
for my $i (0 .. $#u) {
    my $r = TicketEdge::join_room($i % 2 ? $tb : $ta, $u[$i], 'sale');
    $joined++ if $r->{status} == 201 && $r->{json}{prequeue};
}
ok(time < $opens_at, sprintf('%d joins took %.1f s, before opening', $n,
                             time - ($opens_at - 8)));
is($joined, $n, 'every early join is taken into the pre-queue');

my $r = TicketEdge::status($ta, $u[0], 'sale');
like($r->{json}{status}, qr/^(waiting|paused)$/, 'a pre-queued user waits');
ok($r->{json}{opens_in_seconds} > 0, "the countdown: opens in $r->{json}{opens_in_seconds} s");
is($r->{json}{position}, 0, '... with no position before the draw');
$r = TicketEdge::request($tb, $u[0], 'GET', '/sale/x');
is($r->{status}, 403, 'the gate refuses a pre-queued user');
$r = TicketEdge::join_room($tb, $u[0], 'sale');
is($r->{status}, 200, 'refreshing the join keeps the pre-queue place');
$r = $ta->request('GET', '/queue/sale', cookie => TicketEdge::cookie_header($u[1]),
                 headers => { Accept => 'text/html' });
like($r->{body}, qr/opens in|countdown/i, 'the waiting page shows the countdown');

sleep 0.2 while time < $opens_at + 0.3;

# After opening: later joiners, in join order.
my @late = map { TicketEdge::user($ta, 20_000 + $_) } 1 .. 20;
my $late_ok = 0;
for my $i (0 .. $#late) {
    $r = TicketEdge::join_room($i % 2 ? $tb : $ta, $late[$i], 'sale');
    $late_ok++ if $r->{status} == 201 && place_of($late[$i]) == $n + $i + 1;
}
is($late_ok, 20, 'later joiners get places 1001..1020 in join order');

# Every pre-queued user's first poll after opening exchanges the token.
my (@places, %seen);
for my $i (0 .. $#u) {
    $r = TicketEdge::status($i % 2 ? $ta : $tb, $u[$i], 'sale');
    my $p = place_of($u[$i]);
    push @places, $p;
    $seen{$p}++ if defined $p;
}
my $perm = grep { $_ >= 1 && $_ <= $n && $seen{$_} == 1 } keys %seen;
is($perm, $n, 'the pre-queue holds places 1..1000, one each');
is($r->{json}{position}, $places[-1], 'the position is the drawn place');

# Spearman's rank correlation of join order and drawn place.
my ($sum, $mean) = (0, ($n + 1) / 2);
my ($sxy, $sxx, $syy) = (0, 0, 0);
for my $i (0 .. $n - 1) {
    my ($x, $y) = ($i + 1 - $mean, ($places[$i] // 0) - $mean);
    $sxy += $x * $y; $sxx += $x * $x; $syy += $y * $y;
}
my $rho = $sxy / sqrt($sxx * $syy);
ok(abs($rho) < 0.1, sprintf('join order and place are unrelated (rho = %.3f)', $rho));

my $room = TicketEdge::room($tb, 'sale');
is($room->{seq}, $n + 20, 'B sees 1020 places');
TicketEdge::admin($tb, 'sale', 'resume');
TicketEdge::wait_for('the first admissions', 3, sub {
    TicketEdge::room($ta, 'sale')->{serving} >= 10 });
my $first = (sort { $places[$a] <=> $places[$b] } 0 .. $n - 1)[0];
is(TicketEdge::status($ta, $u[$first], 'sale')->{json}{status}, 'admitted',
   'the user drawn first is admitted first');
is(TicketEdge::status($ta, $late[0], 'sale')->{json}{status}, 'waiting',
   'the first late joiner still waits behind the pre-queue');

TicketEdge::log_checks($_) for $ta, $tb;

done_testing;
