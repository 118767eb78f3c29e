#!/usr/bin/perl
# The on-sale storm, small: bench/storm --profile ci (3,000 users for 230
# seats, about 13 buyers per seat) against a private stack with a waiting
# room, bounded to about a minute.  The invariants are checked from the
# client's view and from the database: no seat sold twice, the money
# charged equals the prices of the seats sold, every ledger sums to its
# balance, and the room admitted in exact FIFO order.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../bench/storm";
use Test::More;
use Time::HiRes qw(time);
use StormRun;

if (my $why = StormRun::missing()) {
    plan skip_all => $why;
}

my $out = "$TicketTest::BUILD/tmp/storm-results";
mkdir $out;
my $started = time;
my $r = StormRun::run(profile => 'ci', out => $out, label => "ci-$$",
                      args => ['--quiet']);
my $took = time - $started;
my $j = $r->{result};

ok($j, 'the storm wrote its JSON result') or diag($r->{output});
is($r->{exit}, 0, 'the storm reports its invariants hold')
    or diag($r->{output});
cmp_ok($took, '<', 120, sprintf('bounded: the whole run took %.0f s', $took));

SKIP: {
    skip 'no result to check', 17 unless $j;

    cmp_ok($j->{seats_sold}, '>', 0, "seats were sold ($j->{seats_sold})");
    is($j->{seats_sold}, $j->{seats_total}, 'every seat was sold')
        or diag($r->{output});
    is($j->{seats_sold_twice}, 0, 'no seat sold twice (client view)');
    is($j->{money_charged}, $j->{money_sold_prices},
       'money charged equals the sold prices (client view)');
    is($j->{admission}{inversions}, 0,
       "FIFO admission: 0 inversions among $j->{admission}{places_checked}");
    cmp_ok($j->{admission}{places_checked}, '>=', 2500,
           'most users got a place in line');

    my $db = $j->{database} // {};
    ok($db->{checked}, 'the database was checked');
    is($db->{sold_seats}, $db->{sold_distinct},
       'database: sold seats are distinct');
    is($db->{live_duplicates}, 0, 'database: no seat in two reservations');
    is($db->{sold_seats}, $j->{seats_sold},
       'database and client agree on the seats sold');
    is($db->{payments_sum}, $db->{sold_prices_sum},
       'database: payments equal the prices of the sold seats');
    is($db->{ledger_mismatches}, 0, 'database: every ledger sums to its balance');
    is($db->{balance_mismatches}, 0,
       'database: every balance is the opening balance less the payments');

    my $told = $j->{payments_told} // {};
    ok($told->{checked} && $told->{told} > 0,
       "each payment a buyer was told of was looked up ($told->{told})");
    is($told->{found}, $told->{told},
       'each is in the database as told: that buyer, that amount');
    is($told->{missing} + $told->{wrong} + $told->{no_id}, 0,
       'none missing, none another buyer\'s, none without an id');

    my %status = %{ $j->{status} // {} };
    my $fivexx = 0;
    $fivexx += $status{$_} for grep { $_ >= 500 } keys %status;
    is($fivexx, 0, 'no 5xx from our components');
}

unlike($r->{error_log}, qr/\[(alert|emerg|crit)\]|exited on signal/,
       'the NGINX error log has no alert or crash');

# The payment burst (--pay-at): every holder waits for second 8 and pays
# then, and the burst's payments per second are reported.
my $b = StormRun::run(profile => 'ci', out => $out, label => "burst-$$",
                      hold_seconds => 60,
                      args => ['--users', 300, '--seats', 2000,
                               '--spread', 2000, '--abandon-wait', 0,
                               '--abandon-hold', 0, '--pay-late', 0,
                               '--pay-at', 8, '--duration', 25, '--quiet']);
my $burst = $b->{result}{pay_burst};
is($b->{exit}, 0, 'burst: the invariants hold') or diag($b->{output});
ok($burst && $burst->{paid} > 0, 'burst: payments were made in the burst')
    or diag($b->{output});
SKIP: {
    skip 'no burst to check', 3 unless $burst && $burst->{paid} > 0;
    is($burst->{answers}, $b->{result}{endpoints}{pay}{status}{201},
       'burst: every payment was sent in the burst, none before');
    is($burst->{paid}, $burst->{answers}, 'burst: every payment succeeded');
    cmp_ok($burst->{per_second}, '>', 0,
           "burst: $burst->{per_second} payments/s reported");
}

# Where the time went: each process's CPU time, over the run and per
# payment in the burst.
my $cpu = $b->{result}{cpu} // {};
for my $p (qw(nginx_workers worker mariadb storm)) {
    cmp_ok($cpu->{run_ms}{$p} // -1, '>', 0, "CPU time of $p measured");
    cmp_ok($cpu->{pay_burst}{ms_per_payment}{$p} // -1, '>=', 0,
           "burst: CPU a payment of $p reported");
}
cmp_ok($cpu->{pay_burst}{ceiling_per_second} // 0, '>', 0,
       'burst: the payments a second the cores could give at that cost');
like($b->{output}, qr/^payment burst, CPU a payment .* MariaDB \d+\.\d\d ms/m,
     'burst: the report says it in words');

done_testing;
