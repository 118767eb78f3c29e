package FaultRun;

=head1 NAME

FaultRun - a storm with faults injected at known times, and the checks after

=head1 SYNOPSIS

    use lib 'bench/storm';
    use FaultRun;

    my $r = FaultRun::run(profile => 'full');    # or 'short' (t/80)
    # $r->{ok}, $r->{failures}, $r->{faults} (per fault figures),
    # $r->{checks}, $r->{json_path}, $r->{text_path}, $r->{storm}

One stack (t/lib/TicketTest.pm): MariaDB, Redis, the worker (its outbox on
that Redis) and NGINX with the room `storm` in Redis mode
(`ticket_redis`) and a state file (`ticket_zone ... state=`).  The storm
(bench/storm with --faults) runs a few thousand users; at fixed seconds
of the storm the driver, in turn: kills the worker with -9 and starts it
again; restarts MariaDB; stops Redis (SHUTDOWN SAVE) for 20 s and starts
it again; reloads NGINX with another room rate; upgrades the NGINX binary
(USR2, both generations serve, WINCH, QUIT).  Before each fault a few
probe users join the line; every probe is polled before and after every
fault (and during it), through the status API, and must keep its place:
the same place number, still waiting or admitted, never told expired or
unknown, and once admitted its session passes the gate.

After the storm and one hold lifetime plus a sweep: no seat sold twice,
payments = prices of the seats sold = reservations, every ledger sums to
its balance and every balance is the opening balance less the payments,
every hold converted (with its payment), released or expired and no seat
left held, no request hung past the client timeout, no place lost, and no
[alert], [emerg], crash or sanitizer report in the logs.  Per fault: the
errors users saw (by endpoint, status and code), the window from the
first to the last one, the longest pause in sales, and how long the fault
itself took.  JSON and a text summary go to bench/results/.

Options: profile (full|short), label, out (directory), stream (print as it
runs), keep_stack, mode ("redis", the default, or "local": the room in
NGINX's shared memory alone, with its state file; the Redis fault is
skipped), and any profile key below to override it.

=cut

use strict;
use warnings;

use Cwd qw(abs_path);
use File::Basename qw(dirname basename);
use HTTP::Tiny;
use IO::Select;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use POSIX qw(WNOHANG strftime);
use Time::HiRes qw(time sleep);

my $ROOT;
BEGIN { $ROOT = abs_path(dirname(__FILE__) . '/../..') }
use lib "$ROOT/t/lib", "$ROOT/bench/storm";
use TicketTest;
use StormRun;

# Seconds of the storm at which each fault starts.
our %PROFILE = (
    full => {
        users => 4000, seats => 5000, burst => 110, duration => 165,
        think => '0.5,2', rate => '20/s', rate_after => '30/s',
        capacity => 500, refresh => 2, hold_seconds => 15, threads => 8, priority_threads => 2,
        nginx_workers => 2, zone_size => '16m', timeout => 20, probes => 12,
        worker_down => 1, redis_down => 20, overlap => 3,
        schedule => [[worker => 15], [mysql => 35], [redis => 55],
                     [reload => 95], [upgrade => 115]],
    },
    short => {
        users => 2000, seats => 2200, burst => 60, duration => 95,
        think => '0.3,1.5', rate => '25/s', rate_after => '40/s',
        capacity => 400, refresh => 2, hold_seconds => 10, threads => 8, priority_threads => 2,
        nginx_workers => 2, zone_size => '16m', timeout => 20, probes => 8,
        worker_down => 1, redis_down => 20, overlap => 2,
        schedule => [[worker => 8], [mysql => 18], [redis => 28],
                     [reload => 56], [upgrade => 64]],
    },
);

my $json = JSON::PP->new->utf8->canonical;

sub _now_ms { int(time * 1000) }

sub _say {
    my ($o, $fmt, @a) = @_;
    my $line = sprintf("faults: $fmt\n", @a);
    $o->{log} .= $line;
    print STDERR $line if $o->{stream};
}

# --- probes: users who join before a fault and must keep their place --------

sub _probe_http { HTTP::Tiny->new(timeout => 10, keep_alive => 0) }

sub _probe_req {
    my ($t, $p, $method, $path) = @_;
    my $jar = join '; ', map { "$_=$p->{jar}{$_}" } sort keys %{ $p->{jar} };
    my $res = _probe_http()->request($method, $t->url($path), {
        headers => { Accept => 'application/json', Cookie => $jar } });
    my $set = $res->{headers}{'set-cookie'} // [];
    for my $c (ref $set ? @$set : ($set)) {
        my ($pair) = split /;/, $c;
        my ($name, $value) = split /=/, $pair, 2;
        if ($c =~ /Max-Age=0\b/ || !length($value // '')) {
            delete $p->{jar}{$name};
        } else {
            $p->{jar}{$name} = $value;
        }
    }
    my $doc = eval { $json->decode($res->{content} // '') };
    return { status => $res->{status}, json => ref $doc ? $doc : {} };
}

# The place a queue token holds (common/ticket_token.c's layout).
sub _place_of {
    my ($token) = @_;
    return 0 unless defined $token && $token =~ /^([A-Za-z0-9_-]+)\./;
    (my $b = $1) =~ tr{-_}{+/};
    $b .= '=' x ((4 - length($b) % 4) % 4);
    my @f = unpack('CCCC Q> Q> Q> Q>', decode_base64($b));
    return $f[5] // 0;
}

sub _probe_join {
    my ($t, $p) = @_;
    my $r = _probe_req($t, $p, 'POST', '/queue/storm');
    $p->{place} = _place_of($p->{jar}{ticket_q_storm});
    $p->{status} = $r->{json}{status} // "http $r->{status}";
    $p->{position} = $r->{json}{position};
    return $r->{status} == 200 || $r->{status} == 201;
}

# One poll of a probe; returns undef when its place is kept, else why not.
# A poll that fails for want of a component (5xx, during a fault) is
# counted apart: it says nothing about the place.
sub _probe_check {
    my ($t, $p, $perf, $fig) = @_;
    my $r = _probe_req($t, $p, 'GET', '/queue/storm');
    $fig->{polls}++;
    if ($r->{status} >= 500 || !$r->{status}) {
        $fig->{unavailable}++;
        return undef;
    }
    my $st = $r->{json}{status} // '';
    my $place = _place_of($p->{jar}{ticket_q_storm});
    $fig->{stale}++ if $r->{json}{stale};
    return "user $p->{id}: HTTP $r->{status} "
           . ($r->{json}{error}{code} // '') if $r->{status} != 200;
    return "user $p->{id}: status $st" if $st !~ /^(waiting|admitted|paused)$/;
    return "user $p->{id}: place $place, was $p->{place}"
        if $place != $p->{place};
    if ($st eq 'admitted') {
        $p->{admitted} = 1;
        # The session the poll made (or had) passes the gate.
        my $g = _probe_req($t, $p, 'GET', "/api/performances/$perf/seats");
        $fig->{gate}++;
        if ($g->{status} >= 500 || !$g->{status}) {
            $fig->{unavailable}++;
        } elsif ($g->{status} != 200 && $g->{status} != 304) {
            return "user $p->{id}: admitted, the gate says $g->{status} "
                   . ($g->{json}{error}{code} // '');
        }
    } elsif ($p->{admitted}) {
        return "user $p->{id}: was admitted, now $st";
    } elsif (defined $p->{position} && defined $r->{json}{position}
             && $r->{json}{position} > $p->{position}) {
        $fig->{moved_back}++;
    }
    $p->{status} = $st;
    $p->{position} = $r->{json}{position} if defined $r->{json}{position};
    return undef;
}

sub _probe_round {
    my ($t, $probes, $perf, $fig) = @_;
    for my $p (@$probes) {
        my $why = _probe_check($t, $p, $perf, $fig);
        if ($why) {
            $fig->{lost}++;
            push @{ $fig->{why} }, $why if @{ $fig->{why} // [] } < 10;
        } else {
            $fig->{kept}++;
        }
    }
}

# --- the storm as a child, its output read while faults are injected -------

sub _spawn_storm {
    my (@cmd) = @_;
    pipe(my $rd, my $wr) or die "pipe: $!";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        close $rd;
        open STDOUT, '>&', $wr;
        open STDERR, '>&', $wr;
        exec @cmd or exit 127;
    }
    close $wr;
    return ($pid, $rd);
}

# Reads the storm's output until $until (epoch seconds) or its end.
sub _pump {
    my ($s, $until) = @_;
    while (!$s->{eof}) {
        my $left = $until - time;
        last if $left <= 0;
        my @ready = IO::Select->new($s->{fh})->can_read($left > 0.5 ? 0.5 : $left);
        next unless @ready;
        my $n = sysread($s->{fh}, my $buf, 65536);
        if (!$n) {
            $s->{eof} = 1;
            last;
        }
        $s->{output} .= $buf;
        print STDERR $buf if $s->{stream};
    }
}

sub _status_room {
    my ($t) = @_;
    my $r = HTTP::Tiny->new(timeout => 5)->get($t->url('/ticket-status?room=storm'));
    my $doc = eval { $json->decode($r->{content} // '') };
    return ref $doc ? $doc->{rooms}[0] : undef;
}

sub _write_pid {
    my ($t) = @_;
    open my $fh, '>', $t->dir . '/worker.pid' or return;
    print $fh $t->worker_pid, "\n";
    close $fh;
}

# --- the faults ---------------------------------------------------------------

sub _inject {
    my ($kind, $t, $o, $rec, $during) = @_;

    if ($kind eq 'worker') {
        my $old = $t->worker_pid;
        $t->restart_worker(kill => 1, down => $o->{worker_down});
        _write_pid($t);
        $rec->{what} = "kill -9 of the worker (pid $old), started again "
                       . "$o->{worker_down} s later";

    } elsif ($kind eq 'mysql') {
        $t->restart_mysql;
        $rec->{what} = 'MariaDB stopped (SIGTERM, clean shutdown) and started';

    } elsif ($kind eq 'redis') {
        my $down = time;
        $t->stop_redis_saved;
        while (time - $down < $o->{redis_down}) {
            $during->();
            sleep(($o->{redis_down} - (time - $down)) < 4
                  ? $o->{redis_down} - (time - $down) : 4);
        }
        $t->start_redis;
        my $back = time;
        my $synced;
        while (time - $back < 20) {
            my $room = _status_room($t);
            if ($room && $room->{redis} && !$room->{redis}{stale}
                && $room->{redis}{connected})
            {
                $synced = time - $back;
                last;
            }
            sleep 0.1;
        }
        $rec->{redis_resynced_s} = defined $synced
                                   ? sprintf('%.1f', $synced) + 0 : undef;
        $rec->{what} = "Redis stopped (SHUTDOWN SAVE) for $o->{redis_down} s "
                       . 'and started on its saved data';

    } elsif ($kind eq 'reload') {
        my %h = (%$o, rate => $o->{rate_after}, state => 1);
        my $before = _status_room($t);
        $t->reload_nginx(StormRun::http_block(%h));
        my $after = _status_room($t);
        my ($n) = $o->{rate_after} =~ /^(\d+)/;
        $rec->{rate_before} = $before ? $before->{rate} : undef;
        $rec->{rate_after} = $after ? $after->{rate} : undef;
        $rec->{rate_applied} = ($after && ($after->{rate} // 0) == $n) ? 1 : 0;
        $rec->{what} = "nginx -s reload with the room rate $o->{rate} -> "
                       . "$o->{rate_after}";

    } elsif ($kind eq 'upgrade') {
        my $u = $t->upgrade_nginx(overlap => $o->{overlap}, during => sub {
            for (1 .. 3) { $during->(); sleep 0.3 }
        });
        $rec->{upgrade} = { map { $_ => ($_ =~ /_s$/
                                  ? sprintf('%.1f', $u->{$_}) + 0 : $u->{$_}) }
                            keys %$u };
        $rec->{what} = "binary upgrade: USR2 (new master $u->{new}), both "
                       . "generations served $rec->{upgrade}{overlap_s} s, "
                       . "WINCH (old workers gone after "
                       . "$rec->{upgrade}{old_workers_s} s), QUIT";
    } else {
        die "unknown fault $kind\n";
    }
}

# --- figures from the storm's events and series ------------------------------

sub _read_tsv {
    my ($path) = @_;
    open my $fh, '<', $path or return [];
    my $head = <$fh>;
    return [] unless $head;
    chomp $head;
    my @cols = split /\t/, $head;
    my @rows;
    while (my $line = <$fh>) {
        chomp $line;
        my %r;
        @r{@cols} = split /\t/, $line, -1;
        push @rows, \%r;
    }
    close $fh;
    return \@rows;
}

sub _window_figures {
    my ($events, $from_ms, $to_ms, $series, $t0_ms) = @_;
    my %by;
    my ($first, $last, $n, $hung) = (undef, undef, 0, 0);
    for my $e (@$events) {
        next if $e->{epoch_ms} < $from_ms || $e->{epoch_ms} >= $to_ms;
        my $what = $e->{status} == 0 ? 'connection'
                 : $e->{status} == -1 ? 'timeout' : $e->{status};
        $by{"$e->{endpoint} $what $e->{code}"}++;
        $n++;
        $hung++ if $e->{status} == -1;
        $first //= $e->{epoch_ms};
        $last = $e->{epoch_ms};
    }
    # The longest run of seconds without a seat sold, within the window
    # and before the last sale of the storm.
    my ($gap, $run, $prev) = (0, 0, undef);
    my $final = @$series ? $series->[-1]{sold} : 0;
    for my $s (@$series) {
        my $at = $t0_ms + ($s->{t} - 1) * 1000;
        next if $at < $from_ms || $at >= $to_ms;
        last if defined $prev && $prev == $final;
        if (defined $prev && $s->{sold} == $prev) {
            $run++;
            $gap = $run if $run > $gap;
        } else {
            $run = 0;
        }
        $prev = $s->{sold};
    }
    return {
        errors => $n, hung => $hung, by => \%by,
        first_error_s => defined $first
            ? sprintf('%.1f', ($first - $from_ms) / 1000) + 0 : undef,
        last_error_s => defined $last
            ? sprintf('%.1f', ($last - $from_ms) / 1000) + 0 : undef,
        error_window_s => defined $first
            ? sprintf('%.1f', ($last - $first) / 1000) + 0 : 0,
        longest_no_sale_s => $gap,
    };
}

# --- the checks after the storm ---------------------------------------------

sub _db_checks {
    my ($t, $perf, $balance) = @_;
    my $v = sub { $t->sql_value($_[0]) // 0 };
    my %c;
    $c{holds_by_status} = { map { $_->[0] => $_->[1] + 0 } @{ $t->sql(
        "SELECT status, COUNT(*) FROM holds WHERE performance_id = $perf "
        . "GROUP BY status") } };
    $c{holds_active} = $c{holds_by_status}{active} // 0;
    $c{seats_held} = $v->("SELECT COUNT(*) FROM performance_seats "
        . "WHERE performance_id = $perf AND state = 'held'");
    $c{converted_unpaid} = $v->("SELECT COUNT(*) FROM holds h "
        . "WHERE h.performance_id = $perf AND h.status = 'converted' "
        . "AND NOT EXISTS (SELECT 1 FROM payments p WHERE p.hold_id = h.id "
        . "AND p.status = 'succeeded')");
    $c{paid_unconverted} = $v->("SELECT COUNT(*) FROM payments p "
        . "JOIN holds h ON h.id = p.hold_id WHERE h.performance_id = $perf "
        . "AND p.status = 'succeeded' AND h.status <> 'converted'");
    $c{seats_sold} = $v->("SELECT COUNT(*) FROM performance_seats "
        . "WHERE performance_id = $perf AND state = 'sold'");
    $c{seats_sold_twice} = $v->("SELECT COUNT(*) - COUNT(DISTINCT seat_id) "
        . "FROM reservation_seats WHERE performance_id = $perf "
        . "AND released_at IS NULL");
    $c{seats_in_confirmed} = $v->("SELECT COUNT(DISTINCT rs.seat_id) "
        . "FROM reservation_seats rs JOIN reservations r "
        . "ON r.id = rs.reservation_id WHERE rs.performance_id = $perf "
        . "AND rs.released_at IS NULL AND r.status = 'confirmed'");
    $c{payments_sum} = $v->("SELECT COALESCE(SUM(p.amount), 0) FROM payments p "
        . "JOIN holds h ON h.id = p.hold_id WHERE h.performance_id = $perf "
        . "AND p.status = 'succeeded'");
    $c{sold_prices_sum} = $v->("SELECT COALESCE(SUM(pt.price), 0) "
        . "FROM performance_seats ps JOIN seats s ON s.id = ps.seat_id "
        . "JOIN price_tiers pt ON pt.id = s.tier_id "
        . "WHERE ps.performance_id = $perf AND ps.state = 'sold'");
    $c{reservations_sum} = $v->("SELECT COALESCE(SUM(total), 0) "
        . "FROM reservations WHERE performance_id = $perf "
        . "AND status = 'confirmed'");
    $c{ledger_mismatches} = $v->("SELECT COUNT(*) FROM balance_accounts a "
        . "WHERE a.balance <> (SELECT COALESCE(SUM(l.amount), 0) "
        . "FROM balance_ledger l WHERE l.user_id = a.user_id)");
    $c{balance_mismatches} = $v->("SELECT COUNT(*) FROM balance_accounts a "
        . "JOIN users u ON u.id = a.user_id WHERE u.email LIKE 'storm-%' "
        . "AND a.balance <> $balance - (SELECT COALESCE(SUM(p.amount), 0) "
        . "FROM payments p WHERE p.user_id = a.user_id "
        . "AND p.status = 'succeeded')");
    $c{$_} += 0 for grep { !ref $c{$_} } keys %c;
    return \%c;
}

sub _log_checks {
    my ($t) = @_;
    my %l;
    my @nginx = split /\n/, $t->error_log;
    $l{nginx_bad} = [grep {
        /\[(alert|emerg)\]|exited on signal|AddressSanitizer|LeakSanitizer|runtime error/
    } @nginx];
    # [crit] lines are listed (a connect() to the worker's socket while it
    # is down is one), with their numbers blanked so that alike lines group.
    my %crit;
    for (grep { /\[crit\]/ } @nginx) {
        (my $k = $_) =~ s/^\S+ \S+ \[crit\] \d+#\d+: (\*\d+ )?//;
        $k =~ s/\d+/N/g;
        $k =~ s/, client: .*//;
        $crit{$k}++;
    }
    $l{nginx_crit} = \%crit;
    my $w = $t->worker_log;
    $l{worker_bad} = [grep {
        /AddressSanitizer|LeakSanitizer|runtime error|Segmentation|segfault|Assertion|double free|corrupted|core dumped/i
    } split /\n/, $w];
    my $m = TicketTest::_slurp($t->dir . '/mysql.log');
    $l{mysql_bad} = [grep {
        /got signal|Assertion|corrupt|\[ERROR\]/i
    } split /\n/, $m];
    $l{$_} = [@{ $l{$_} }[0 .. ($#{ $l{$_} } < 9 ? $#{ $l{$_} } : 9)]]
        for qw(nginx_bad worker_bad mysql_bad);
    return \%l;
}

# --- the run --------------------------------------------------------------------

sub run {
    my (%o) = @_;
    my $profile = $o{profile} // 'full';
    my $p = $PROFILE{$profile} or die "unknown profile $profile\n";
    %o = (%$p, %o, profile => $profile, log => '');
    my $why = StormRun::missing();
    die "$why\n" if $why;

    my $stamp = strftime('%Y%m%dT%H%M%SZ', gmtime);
    my $label = $o{label} // "faults-$profile";
    my $out = $o{out} // "$ROOT/bench/results";
    mkdir $out;
    my $started = time;

    my $redis = ($o{mode} // 'redis') ne 'local';
    my @schedule = grep { $redis || $_->[0] ne 'redis' } @{ $o{schedule} };
    $o{redis} = $redis ? 1 : 0;
    my $t = StormRun::start_stack(%o, redis => $redis, state => 1);
    _say(\%o, 'stack up in %s (%s room, state file)', $t->dir,
         $redis ? 'Redis mode' : 'local (shared memory) mode');

    my @cmd = StormRun::storm_cmd($t, %o, profile => 'ci', label => $label,
        out => $out, args => [
            '--faults', '--users', $o{users}, '--seats', $o{seats},
            '--burst', $o{burst}, '--duration', $o{duration},
            '--think', $o{think}, '--timeout', $o{timeout},
            '--connections', 128]);
    my ($pid, $fh) = _spawn_storm(@cmd);
    my $s = { fh => $fh, output => '', stream => $o{stream} };

    my $deadline = time + 300;
    while (!$s->{eof} && $s->{output} !~ /started at epoch_ms (\d+)/
           && time < $deadline) {
        _pump($s, time + 0.5);
    }
    my ($t0_ms) = $s->{output} =~ /started at epoch_ms (\d+)/;
    my ($perf) = $s->{output} =~ /storm: performance (\d+)/;
    die "the storm did not start:\n$s->{output}\n" unless $t0_ms && $perf;

    my (@probes, @faults);
    my $next_id = 9_000_000;
    my $n = 0;
    for my $step (@schedule) {
        my ($kind, $at) = @$step;
        _pump($s, $t0_ms / 1000 + $at);
        if ($s->{eof}) {
            _say(\%o, 'the storm ended before the %s fault', $kind);
            last;
        }
        my $rec = { fault => $kind, at_s => $at };

        # Fresh probes join at the back of the line, then every probe so far
        # is polled: the "before" picture.
        my @fresh;
        for (1 .. $o{probes}) {
            my $id = $next_id++;
            my $pr = { id => $id, jar => {} };
            $pr->{jar}{ticket_session}
                = (split /=/, $t->session_cookie($id), 2)[1];
            push @fresh, $pr if _probe_join($t, $pr);
        }
        push @probes, @fresh;
        $rec->{probes_joined} = scalar @fresh;
        $rec->{before} = {};
        _probe_round($t, \@probes, $perf, $rec->{before});

        $rec->{start_ms} = _now_ms();
        $rec->{during} = {};
        eval {
            _inject($kind, $t, \%o, $rec,
                    sub { _probe_round($t, \@probes, $perf, $rec->{during}) });
            1;
        } or do {
            $rec->{error} = "$@";
            $rec->{what} //= "$kind: FAILED: $@";
        };
        $rec->{end_ms} = _now_ms();
        $rec->{took_s} = sprintf('%.1f', ($rec->{end_ms} - $rec->{start_ms})
                                         / 1000) + 0;
        _say(\%o, '%ds: %s (%.1f s)', $at, $rec->{what}, $rec->{took_s});

        # The after picture, once the mirror had a tick or two.
        sleep 1;
        $rec->{after} = {};
        _probe_round($t, \@probes, $perf, $rec->{after});
        _say(\%o, '  probes: %d kept, %d lost of %d',
             $rec->{after}{kept} // 0, $rec->{after}{lost} // 0,
             scalar @probes);
        push @faults, $rec;
        $n++;
    }

    # The storm ends by itself (duration, sell-out, or everybody done).
    _pump($s, time + $o{duration} + 120);
    if (!$s->{eof}) {
        kill 'TERM', $pid;
        _pump($s, time + 60);
    }
    waitpid($pid, 0);
    my $exit = $? >> 8;
    my $storm_end_ms = _now_ms();
    my $res = StormRun::read_result({ output => $s->{output} });
    my $j = $res->{result} // {};

    # One hold lifetime and a sweep (the worker sweeps every 5 s) later,
    # every hold must have ended.
    my $settle = $o{hold_seconds} + 5 + 3;
    _say(\%o, 'storm over (exit %d); %d s for holds to expire and be swept',
         $exit, $settle);
    sleep $settle;
    my $final = {};
    _probe_round($t, \@probes, $perf, $final);
    my $db = _db_checks($t, $perf, 1000000);
    my $logs = _log_checks($t);

    # Figures per fault from the storm's events and series.
    my (@events, $series);
    if ($res->{json_path}) {
        (my $ev = $res->{json_path}) =~ s/\.json$/.events.tsv/;
        @events = @{ _read_tsv($ev) };
        (my $ts = $res->{json_path}) =~ s/\.json$/.tsv/;
        $series = _read_tsv($ts);
    }
    my $baseline = _window_figures(\@events, 0,
        @faults ? $faults[0]{start_ms} : $storm_end_ms, $series // [], $t0_ms);
    for my $i (0 .. $#faults) {
        my $to = $i < $#faults ? $faults[$i + 1]{start_ms} : $storm_end_ms;
        $faults[$i]{users} = _window_figures(\@events, $faults[$i]{start_ms},
                                             $to, $series // [], $t0_ms);
        $faults[$i]{window_s} = sprintf('%.1f',
            ($to - $faults[$i]{start_ms}) / 1000) + 0;
    }

    # The verdict.
    my @fail;
    push @fail, "the storm's invariants failed (exit $exit)" if $exit != 0;
    push @fail, 'no storm result' unless $j->{seats_sold};
    push @fail, "$db->{seats_sold_twice} seats sold twice"
        if $db->{seats_sold_twice};
    push @fail, "sold seats $db->{seats_sold} != seats in confirmed "
                . "reservations $db->{seats_in_confirmed}"
        if $db->{seats_sold} != $db->{seats_in_confirmed};
    push @fail, "payments $db->{payments_sum} != sold prices "
                . "$db->{sold_prices_sum}"
        if $db->{payments_sum} != $db->{sold_prices_sum};
    push @fail, "reservations $db->{reservations_sum} != payments "
                . "$db->{payments_sum}"
        if $db->{reservations_sum} != $db->{payments_sum};
    push @fail, "$db->{ledger_mismatches} ledgers differ from the balance"
        if $db->{ledger_mismatches};
    push @fail, "$db->{balance_mismatches} balances != opening - paid"
        if $db->{balance_mismatches};
    push @fail, "$db->{holds_active} holds still active after "
                . "$settle s" if $db->{holds_active};
    push @fail, "$db->{seats_held} seats still held" if $db->{seats_held};
    push @fail, "$db->{converted_unpaid} holds converted without payment"
        if $db->{converted_unpaid};
    push @fail, "$db->{paid_unconverted} payments on unconverted holds"
        if $db->{paid_unconverted};
    my $hung = $j->{hung_requests} // 0;
    push @fail, "$hung requests hung past the $o{timeout} s client timeout"
        if $hung;
    my $lost = $j->{faults}{places_lost} // 0;
    push @fail, "$lost storm users lost their place in line" if $lost;
    push @fail, "admission order: $j->{admission}{inversions} inversions"
        if $j->{admission} && $j->{admission}{inversions};
    for my $f (@faults) {
        push @fail, "$f->{fault}: the injection failed: $f->{error}"
            if $f->{error};
        for my $when (qw(before during after)) {
            next unless $f->{$when}{lost};
            push @fail, "$f->{fault}: $f->{$when}{lost} probe places lost "
                        . "($when): " . join('; ', @{ $f->{$when}{why} });
        }
        push @fail, 'reload: the new rate was not applied'
            if $f->{fault} eq 'reload' && !$f->{rate_applied};
    }
    push @fail, "probes at the end: $final->{lost} lost: "
                . join('; ', @{ $final->{why} }) if $final->{lost};
    push @fail, "fewer faults injected than planned (" . scalar(@faults)
                . ")" if @faults != @schedule;
    for my $k (qw(nginx_bad worker_bad mysql_bad)) {
        push @fail, "$k: " . join(' | ', @{ $logs->{$k} }) if @{ $logs->{$k} };
    }

    my $doc = {
        tool => 'bench/faults', profile => $profile, label => $label,
        mode => $redis ? 'redis' : 'local',
        started_at => $stamp, ok => @fail ? JSON::PP::false : JSON::PP::true,
        failures => \@fail,
        config => { map { $_ => $o{$_} } grep { !/^(log|stream)$/ } keys %o },
        storm_result => $res->{json_path}, storm_exit => $exit,
        storm => { map { $_ => $j->{$_} } grep { exists $j->{$_} }
                   qw(seats_total seats_sold seats_sold_twice money_charged
                      money_sold_prices elapsed_s requests outcomes status
                      hung_requests faults admission holds payments_ok) },
        baseline => $baseline, faults => \@faults, final_probes => $final,
        probes => scalar @probes, database => $db, logs => $logs,
        wall_s => sprintf('%.0f', time - $started) + 0,
    };
    my $base = "$out/faults-$label-$stamp";
    open my $jf, '>', "$base.json" or die "$base.json: $!";
    print $jf JSON::PP->new->utf8->canonical->pretty->encode($doc);
    close $jf;
    my $text = summary($doc);
    open my $tf, '>', "$base.txt" or die "$base.txt: $!";
    print $tf $text;
    close $tf;
    print STDERR $text if $o{stream};

    $doc->{json_path} = "$base.json";
    $doc->{text_path} = "$base.txt";
    $doc->{ok} = @fail ? 0 : 1;
    $doc->{output} = $s->{output};
    $doc->{stack} = $t;
    # A failed run keeps its stack's directory (logs, database) to look at.
    local $ENV{TICKET_KEEP} = 1 if @fail;
    $t->stop_all unless $o{keep_stack};
    return $doc;
}

sub summary {
    my ($d) = @_;
    my $s = $d->{storm};
    my $txt = sprintf("== bench/faults: %s profile, %s mode, %d users, %d "
        . "seats; %d faults; %d probes ==\n", $d->{profile}, $d->{mode},
        $d->{config}{users},
        $d->{config}{seats}, scalar @{ $d->{faults} }, $d->{probes});
    $txt .= sprintf("storm: sold %s of %s in %.0f s, %s requests; sold twice "
        . "%s; money charged %s = sold prices %s; hung requests %s; places "
        . "lost %s; retries %s; payments of unknown outcome %s\n",
        $s->{seats_sold} // '?', $s->{seats_total} // '?',
        $s->{elapsed_s} // 0, $s->{requests} // '?',
        $s->{seats_sold_twice} // '?', $s->{money_charged} // '?',
        $s->{money_sold_prices} // '?', $s->{hung_requests} // '?',
        $s->{faults}{places_lost} // '?', $s->{faults}{retries} // '?',
        $s->{faults}{unknown_payments} // '?');
    my $line = sub {
        my ($name, $f, $took) = @_;
        my $u = $f;
        my $by = join(', ', map { "$_ x$u->{by}{$_}" }
                      sort { $u->{by}{$b} <=> $u->{by}{$a} } keys %{ $u->{by} });
        return sprintf("%-8s %s errors %d%s; sales paused at most %d s%s\n",
            $name, defined $took ? "took ${took} s;" : '', $u->{errors},
            $u->{errors} ? sprintf(' from +%.1f s to +%.1f s (window %.1f s)',
                $u->{first_error_s}, $u->{last_error_s}, $u->{error_window_s})
                : '', $u->{longest_no_sale_s}, $by ? "\n         $by" : '');
    };
    $txt .= $line->('baseline', $d->{baseline});
    for my $f (@{ $d->{faults} }) {
        $txt .= $line->($f->{fault}, $f->{users}, $f->{took_s});
        $txt .= "         $f->{what}\n";
        $txt .= sprintf("         probes: %d kept, %d lost after (%d polls "
            . "during, %d unanswered, %d stale, %d shown further back)\n",
            $f->{after}{kept} // 0, $f->{after}{lost} // 0,
            $f->{during}{polls} // 0, $f->{during}{unavailable} // 0,
            $f->{during}{stale} // 0,
            ($f->{during}{moved_back} // 0) + ($f->{after}{moved_back} // 0));
    }
    my $db = $d->{database};
    $txt .= sprintf("database after the sweep: holds %s; seats held %d; sold "
        . "%d (twice %d); payments %d = prices %d = reservations %d; ledger "
        . "!= balance %d; balance != opening - paid %d\n",
        join(' ', map { "$_=$db->{holds_by_status}{$_}" }
             sort keys %{ $db->{holds_by_status} }), $db->{seats_held},
        $db->{seats_sold}, $db->{seats_sold_twice}, $db->{payments_sum},
        $db->{sold_prices_sum}, $db->{reservations_sum},
        $db->{ledger_mismatches}, $db->{balance_mismatches});
    my $crit = $d->{logs}{nginx_crit};
    $txt .= "NGINX [crit] lines: "
        . (%$crit ? join('; ', map { "$crit->{$_} x $_" } sort keys %$crit)
                  : 'none') . "\n";
    $txt .= @{ $d->{failures} }
        ? "FAILED:\n" . join('', map { "  $_\n" } @{ $d->{failures} })
        : "ALL INVARIANTS HELD\n";
    return $txt;
}

1;
