package BookingTest;

=head1 NAME

BookingTest - helpers shared by the booking tests (t/3*.t)

=head1 SYNOPSIS

    use lib 't/lib';
    use TicketTest;
    use BookingTest qw(:all);

    my $t = TicketTest->new(worker => 1, demo => 1,
                            worker_conf => { hold_seconds => 2 });
    my @users = make_users($t, 10, balance => 100000);   # {id, cookie}
    my $perf = small_performance($t);                    # 50 seats
    my @seats = seat_ids($t, $perf);
    my $r = $t->post("/api/performances/$perf/holds",
                     json => { seat_ids => [$seats[0]] },
                     cookie => $users[0]{cookie}, headers => idem());
    my $before = db_state($t);  ...  is_deeply(db_state($t), $before);

Users are made with SQL (no password hashing) and a session row each;
their cookie is minted by TicketTest->session_cookie.  A balance is given
as a ledger top-up, so that balance equals the ledger sum from the start.

=cut

use strict;
use warnings;

use Exporter 'import';

our @EXPORT_OK = qw(make_users small_performance seat_ids idem db_state
                    ledger_consistent);
our %EXPORT_TAGS = (all => \@EXPORT_OK);

my $key_seq = 0;

# A fresh Idempotency-Key header.
sub idem {
    my ($key) = @_;
    $key //= "k-$$-" . ++$key_seq . '-' . int(rand(1e9));
    return { 'Idempotency-Key' => $key };
}

sub make_users {
    my ($t, $n, %o) = @_;
    my $tag = $o{tag} // "u$$" . int(rand(1e6));
    my $balance = $o{balance} // 0;
    my @values = map { "('$tag-$_\@test.test', 'x', '$tag $_', 'user')" }
                 1 .. $n;
    $t->sql("INSERT INTO users (email, password_hash, name, role) VALUES "
            . join(',', @values));
    my $rows = $t->sql("SELECT id FROM users WHERE email LIKE '$tag-%'"
                       . " ORDER BY id");
    my @ids = map { $_->[0] + 0 } @$rows;
    $t->sql("INSERT INTO sessions (user_id, expires_at) VALUES "
            . join(',', map { "($_, UTC_TIMESTAMP() + INTERVAL 1 DAY)" }
                   @ids));
    my %session = map { $_->[0] => $_->[1] } @{ $t->sql(
        "SELECT user_id, MAX(id) FROM sessions WHERE user_id IN ("
        . join(',', @ids) . ") GROUP BY user_id") };
    if ($balance > 0) {
        $t->sql("INSERT INTO balance_accounts (user_id, balance) VALUES "
                . join(',', map { "($_, $balance)" } @ids));
        $t->sql("INSERT INTO balance_ledger (user_id, amount, kind,"
                . " balance_after, note) VALUES "
                . join(',', map { "($_, $balance, 'topup', $balance, 'test')" }
                       @ids));
    }
    return map { { id => $_, cookie => $t->session_cookie(
                       $_, session => $session{$_}) } } @ids;
}

# The first on-sale performance of the 50-seat demo hall.
sub small_performance {
    my ($t) = @_;
    return $t->sql_value(
        "SELECT p.id FROM performances p JOIN venues v ON v.id = p.venue_id"
        . " WHERE v.name = 'Blue Room Hall' AND p.on_sale_at <= UTC_TIMESTAMP()"
        . " AND p.starts_at > UTC_TIMESTAMP() ORDER BY p.id LIMIT 1");
}

sub seat_ids {
    my ($t, $perf) = @_;
    return map { $_->[0] + 0 } @{ $t->sql(
        "SELECT seat_id FROM performance_seats WHERE performance_id = $perf"
        . " ORDER BY seat_id") };
}

# Row counts and a checksum of the contents of every table a booking
# request may change: { table => "count/crc" }.
sub db_state {
    my ($t) = @_;
    my @tables = qw(holds hold_seats performance_seats payments
                    reservations reservation_seats balance_accounts
                    balance_ledger idempotency_keys audit_log performances);
    my %s;
    for my $table (@tables) {
        my $cols = $t->sql("SELECT column_name FROM information_schema.columns"
                           . " WHERE table_schema = 'ticket'"
                           . " AND table_name = '$table'"
                           . " ORDER BY ordinal_position");
        my $row = join ", ", map { "COALESCE($_->[0], '~')" } @$cols;
        my $r = $t->sql("SELECT COUNT(*), COALESCE(SUM(CRC32(CONCAT_WS('|',"
                        . " $row))), 0) FROM $table")->[0];
        $s{$table} = "$r->[0]/$r->[1]";
    }
    return \%s;
}

# Every account's balance equals its ledger sum and is not negative;
# returns the list of offending user ids.
sub ledger_consistent {
    my ($t) = @_;
    my $rows = $t->sql(
        "SELECT a.user_id FROM balance_accounts a"
        . " LEFT JOIN (SELECT user_id, SUM(amount) s FROM balance_ledger"
        . "  GROUP BY user_id) l ON l.user_id = a.user_id"
        . " WHERE a.balance <> COALESCE(l.s, 0) OR a.balance < 0");
    return map { $_->[0] } @$rows;
}

1;
