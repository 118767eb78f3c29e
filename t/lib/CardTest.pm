package CardTest;

=head1 NAME

CardTest - helpers shared by the card payment and event tests (t/4*.t)

=head1 SYNOPSIS

    use CardTest qw(:all);

    my $h = hold($t, $user, $perf, @seats);          # the hold document
    my $r = card($t, $user, $h->{id});               # POST /api/payments
    complete($t, $payment_id, status => 'succeeded', duplicates => 1);
    wait_status($t, $payment_id, 'succeeded');       # polls the row
    my $r = callback($t, {payment_id => ..., ...}, key => 'forged');
    my @entries = stream_entries($t);                # XRANGE, as hashes

=cut

use strict;
use warnings;

use Exporter 'import';
use JSON::PP;
use Test::More;
use Time::HiRes qw(sleep time);
use BookingTest qw(idem);

our @EXPORT_OK = qw(hold card complete wait_status wait_until_true callback
                    payment_row stream_entries);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

my $json = JSON::PP->new->utf8->canonical;

sub hold {
    my ($t, $user, $perf, @seats) = @_;
    my $r = $t->post("/api/performances/$perf/holds",
                     json => { seat_ids => \@seats }, cookie => $user->{cookie},
                     headers => idem());
    is($r->{status}, 201, 'a hold for the test') or diag($r->{body});
    return $r->{json};
}

sub card {
    my ($t, $user, $hold, %o) = @_;
    return $t->post('/api/payments',
                    json => { hold_id => $hold, method => $o{method} // 'card' },
                    cookie => $user->{cookie},
                    headers => { %{ $o{key} ? idem($o{key}) : idem() },
                                 %{ $o{headers} // {} } });
}

# Tells the mock gateway the buyer finished the checkout.
sub complete {
    my ($t, $payment, %o) = @_;
    my $r = $t->gateway('POST', "/_mock/payments/$payment/complete",
                        { status => 'succeeded', %o });
    is($r->{_status}, 200, "the gateway completes payment $payment")
        or diag(explain($r));
    return $r;
}

sub wait_until_true {
    my ($what, $timeout, $cond) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.1;
    }
    diag("timed out waiting for $what");
    return 0;
}

sub payment_row {
    my ($t, $id) = @_;
    my $row = $t->sql("SELECT status, reason, attempts FROM payments"
                      . " WHERE id = $id")->[0] // [];
    return { status => $row->[0], reason => $row->[1], attempts => $row->[2] };
}

sub wait_status {
    my ($t, $id, $status, $timeout) = @_;
    my $ok = wait_until_true("payment $id to be $status", $timeout // 10,
                             sub { (payment_row($t, $id)->{status} // '')
                                   eq $status });
    ok($ok, "payment $id is $status");
    return $ok;
}

# Posts a callback as the gateway would, signed with the gateway's secret
# (or with key => a forged one, or sig => a given signature).
sub callback {
    my ($t, $doc, %o) = @_;
    my $body = ref $doc ? $json->encode($doc) : $doc;
    my $sig = exists $o{sig} ? $o{sig} : $t->sign_callback($body, $o{key});
    return $t->post('/api/payments/callback', body => $body,
                    headers => { 'Content-Type' => 'application/json',
                                 defined $sig
                                 ? ('X-Gateway-Signature' => $sig) : () });
}

# The stream's entries as { stream_id, field => value ... }, in order.
sub stream_entries {
    my ($t, $stream) = @_;
    $stream //= 'ticket:events';
    my $port = $t->redis_port;
    my $out = `redis-cli -2 -p $port --json XRANGE '$stream' - + 2>/dev/null`;
    my $doc = eval { $json->decode($out) };
    if (!$doc) {
        # redis-cli without --json: fall back to the raw form.
        $out = `redis-cli -p $port --raw XRANGE '$stream' - + 2>&1`;
        my @l = split /\n/, $out;
        my @e;
        while (@l) {
            my $id = shift @l;
            my %f;
            while (@l && $l[0] !~ /^\d+-\d+$/) {
                my $k = shift @l;
                $f{$k} = shift @l;
            }
            push @e, { stream_id => $id, %f };
        }
        return @e;
    }
    return map { { stream_id => $_->[0], @{ $_->[1] } } } @$doc;
}

1;
