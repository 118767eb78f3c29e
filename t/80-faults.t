#!/usr/bin/perl
# Faults during a storm (bench/faults --profile short, about 2.5 minutes):
# 2,000 users on a Redis-mode room while the worker is killed (-9) and
# started again, MariaDB is restarted, Redis is stopped for 20 s, NGINX is
# reloaded with another room rate and the NGINX binary is upgraded (USR2,
# WINCH, QUIT).  After each fault and at the end: no seat sold twice, the
# money and every ledger right, every hold paid, released or expired,
# every place in line kept (probes checked through the status API and the
# gate, and the storm's own users), no request hung past its timeout, no
# alert or crash in the logs.  The figures per fault are in
# build/tmp/faults-results/.
use strict;
use warnings;
use FindBin;
use lib "$FindBin::Bin/lib", "$FindBin::Bin/../bench/storm";
use Test::More;
use Time::HiRes qw(time);
use FaultRun;
use StormRun;

if (my $why = StormRun::missing()) {
    plan skip_all => $why;
}
for my $bin (qw(redis-server redis-cli)) {
    plan skip_all => "$bin is not installed"
        unless grep { -x "$_/$bin" } split /:/, $ENV{PATH};
}

my $out = "$TicketTest::BUILD/tmp/faults-results";
mkdir $out;
my $started = time;
my $r = FaultRun::run(profile => 'short', out => $out, label => "t80-$$");
my $took = time - $started;

cmp_ok($took, '<', 240, sprintf('bounded: the whole run took %.0f s', $took));
is(scalar @{ $r->{faults} }, 5, 'five faults were injected');
is($r->{storm_exit}, 0, "the storm's own invariants hold (seats, money, "
   . 'ledgers, FIFO order, client = database)') or diag($r->{output});

my $s = $r->{storm};
cmp_ok($s->{seats_sold} // 0, '>', 0, "seats were sold ($s->{seats_sold})");
is($s->{hung_requests}, 0, 'no request hung past the client timeout');
is($s->{faults}{places_lost}, 0, "no storm user's place was lost");

for my $f (@{ $r->{faults} }) {
    my $name = $f->{fault};
    ok(!$f->{error}, "$name: injected") or diag($f->{error});
    is($f->{after}{lost} // 0, 0, "$name: every probe kept its place "
       . "($f->{after}{kept} checked after)")
        or diag(join "\n", @{ $f->{after}{why} // [] });
    is($f->{during}{lost} // 0, 0, "$name: no probe lost it during the fault")
        or diag(join "\n", @{ $f->{during}{why} // [] });
    is($f->{users}{hung}, 0, "$name: no request hung");
    note(sprintf('%s: %d errors seen by users over %.1f s; took %.1f s',
                 $name, $f->{users}{errors}, $f->{users}{error_window_s},
                 $f->{took_s}));
}
my ($reload) = grep { $_->{fault} eq 'reload' } @{ $r->{faults} };
ok($reload && $reload->{rate_applied}, 'the reload applied the new rate');
is($r->{final_probes}{lost} // 0, 0, 'every probe kept its place to the end');

my $db = $r->{database};
is($db->{seats_sold_twice}, 0, 'database: no seat sold twice');
is($db->{seats_sold}, $db->{seats_in_confirmed},
   'database: every sold seat is in one confirmed reservation');
is($db->{payments_sum}, $db->{sold_prices_sum},
   'database: payments = prices of the sold seats');
is($db->{reservations_sum}, $db->{payments_sum},
   'database: reservations = payments');
is($db->{ledger_mismatches}, 0, 'database: every ledger sums to its balance');
is($db->{balance_mismatches}, 0,
   'database: every balance = opening - payments');
is($db->{holds_active}, 0, 'every hold ended (paid, released or expired)');
is($db->{seats_held}, 0, 'no seat left held');
is($db->{converted_unpaid}, 0, 'every converted hold has its payment');
is($db->{paid_unconverted}, 0, 'every payment converted its hold');

for my $k (qw(nginx_bad worker_bad mysql_bad)) {
    is(scalar @{ $r->{logs}{$k} }, 0, "logs: nothing alarming ($k)")
        or diag(join "\n", @{ $r->{logs}{$k} });
}

ok($r->{ok}, 'the fault run reports every invariant held')
    or diag(join "\n", @{ $r->{failures} });
diag("summary: $r->{text_path}") unless $r->{ok};

done_testing;
