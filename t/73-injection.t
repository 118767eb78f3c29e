#!/usr/bin/perl
# SQL injection: every statement the worker runs is a prepared statement
# (checked in the source below), and classic injection strings fed to every
# text field -- names, e-mails, passwords, the category query, idempotency
# keys, the admin API's venue, tier, section, row, event and room names --
# are stored or refused literally while nothing else changes.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use TicketTest;
use Encode qw(encode_utf8);

my $t = TicketTest->new(worker => 1);
binmode(Test::More->builder->$_, ':utf8') for qw(output failure_output todo_output);

sub code_of { $_[0]{json} && $_[0]{json}{error} && $_[0]{json}{error}{code} }
sub hex_of { uc unpack 'H*', encode_utf8($_[0]) }
sub esc { my $s = encode_utf8($_[0]); $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge; $s }

my @inject = (
    q{' OR '1'='1},
    q{'; DROP TABLE users; -- },
    q{" OR ""="},
    q{\' OR 1=1 #},
    q{1); DELETE FROM seats; --},
    q{%' OR 'x' LIKE '%},
    q{Robert'); DROP TABLE students;--},
    q{admin'--},
    q{' UNION SELECT password_hash, email FROM users --},
    qq{\x{02BC} OR 1=1 \x{FF07}; --},
    q{$(id) `id` <script>alert(1)</script>},
    q{\\'; SELECT SLEEP(5); -- \\},
);

# Every table's checksum: the whole content, to show nothing else changed.
my @tables = map { $_->[0] } @{ $t->sql(
    "SELECT table_name FROM information_schema.tables
     WHERE table_schema = 'ticket' AND table_type = 'BASE TABLE'
     AND table_name <> 'schema_migrations' ORDER BY table_name") };
sub snapshot {
    my %skip = map { $_ => 1 } @_;
    my @t = grep { !$skip{$_} } @tables;
    return join ',', map { "$_->[0]=$_->[1]" }
                     @{ $t->sql('CHECKSUM TABLE ' . join ', ', @t) };
}

# --- the source: prepared statements only ------------------------------------------

{
    my @bad;
    for my $file (glob "$TicketTest::ROOT/worker/*.c") {
        open my $fh, '<', $file or die "$file: $!";
        my $src = do { local $/; <$fh> };
        (my $name = $file) =~ s{.*/}{};
        push @bad, "$name calls $1" while
            $src =~ /\b(mysql_(?:real_)?query|mysql_send_query)\s*\(/g;
        # The SQL of db_exec/db_query_int: a literal, or text built once
        # from literals and placeholders (hold.c, audit_api.c).
        while ($src =~ /\b(db_exec|db_query_int)\s*\(\s*[^,;]+,\s*[^,;]+,\s*(\S+)/g) {
            my ($fn, $sqlarg) = ($1, $2);
            next if $name eq 'db.c';
            # Reviewed: static const strings, string-literal macros, and
            # texts built once from literals with "?" placeholders only.
            # A new name here needs the same review.
            next if $sqlarg =~ /^"/
                || $sqlarg =~ /^(?:audit_batch_sql|audit_query_sql|hold_sql
                                  |RES_COLUMNS|sql)\b/x;
            push @bad, "$name: $fn with SQL from $sqlarg";
        }
    }
    ok(!@bad, 'the worker runs prepared statements with constant SQL only')
        or diag(join "\n", @bad);
}

# --- sign-up and log-in ----------------------------------------------------------------

my %user;
my $i = 0;
for my $s (@inject) {
    $i++;
    my $email = "u$i.o'brien+'--\@example.com";
    my $r = $t->post('/api/users', json => { email => $email,
                                             password => "pw $s",
                                             name => $s });
    is($r->{status}, 201, "sign-up with name <$s>") or diag($r->{body});
    my $id = $r->{json}{id} or next;
    is($r->{json}{name}, $s, '... answered literally');
    is($t->sql_value("SELECT HEX(name) FROM users WHERE id = $id"), hex_of($s),
       '... stored literally');
    is($t->sql_value("SELECT HEX(email) FROM users WHERE id = $id"),
       hex_of(lc $email), '... the quoted e-mail too');
    $r = $t->post('/api/sessions', json => { email => $email,
                                             password => "pw $s" });
    is($r->{status}, 200, '... and the injection-string password logs in');
    $user{$s} = $t->cookies_of($r);
    is($t->get('/api/me', cookie => $user{$s})->{json}{name}, $s,
       '... /api/me shows the name as given');
}
is($t->sql_value('SELECT COUNT(*) FROM users'), scalar @inject,
   'exactly one user per sign-up');

my $before = snapshot('login_attempts', 'sessions', 'audit_log');
for my $s (@inject) {
    for my $body ({ email => $s, password => $s },
                  { email => "u1.o'brien+'--\@example.com", password => $s },
                  { email => "u1.o'brien+'--\@example.com' -- ",
                    password => 'x' }) {
        my $r = $t->post('/api/sessions', json => $body);
        ok($r->{status} == 401 || $r->{status} == 429,
           "log-in with <$body->{email}> / <$body->{password}> fails")
            or diag($r->{body});
    }
}
is(snapshot('login_attempts', 'sessions', 'audit_log'), $before,
   'failed injection log-ins changed nothing');
is($t->sql_value('SELECT COUNT(*) FROM sessions'), scalar @inject,
   'and opened no session');

# A NUL escape used to cut a string short ("a\u0000b" stored as "a");
# such bodies are refused whole (fuzz/README.md: found with fuzz_json).
my $r = $t->post('/api/users', body => '{"email":"nul@example.com",'
                 . '"password":"long enough","name":"ok\u0000; DROP"}',
                 headers => { 'Content-Type' => 'application/json' });
is($r->{status}, 400, 'a string with \u0000 is refused');
is(code_of($r), 'BAD_JSON', 'as BAD_JSON');
is($t->sql_value("SELECT COUNT(*) FROM users WHERE email = 'nul\@example.com'"),
   0, 'and nothing is stored');

# --- query strings, path ids, cookies -----------------------------------------------

$before = snapshot();
for my $s (@inject, 'concert OR 1=1', "concert' --") {
    $r = $t->get('/api/events?category=' . esc($s));
    is($r->{status}, 400, "category <$s> is 400");
}
for my $path ('/api/events/1%20OR%201=1', "/api/events/1'--",
              '/api/events/1;DROP%20TABLE%20events', '/api/events/-1',
              '/api/events/0x1', '/api/events/1e3') {
    $r = $t->get($path);
    is($r->{status}, 404, "$path is 404");
}
my ($any) = values %user;
for my $q ('limit=1%20OR%201=1', "before=1'--", 'limit=10;DELETE') {
    $r = $t->get("/api/balance/ledger?$q", cookie => $any);
    is($r->{status}, 400, "ledger ?$q is 400");
}
$r = $t->get('/api/me', cookie => "ticket_session=' OR 1=1 --");
is($r->{status}, 401, 'an injection string as the session cookie is 401');
is(snapshot(), $before, 'none of that changed anything');

# --- idempotency keys ----------------------------------------------------------------

my $cookie = $user{$inject[0]};
my $uid = $t->get('/api/me', cookie => $cookie)->{json}{id};
my $n = 0;
for my $s (grep { !/[^\x21-\x7e ]/ && !/ / } @inject,
           q{'OR'1'='1'--}, q{');DROP/**/TABLE/**/balance_ledger;--}) {
    $n++;
    my $key = "k$n$s";
    $r = $t->post('/api/balance/charges', cookie => $cookie,
                  json => { amount => 100 },
                  headers => { 'Idempotency-Key' => $key });
    is($r->{status}, 201, "a charge with key <$key>") or diag($r->{body});
    my $again = $t->post('/api/balance/charges', cookie => $cookie,
                         json => { amount => 100 },
                         headers => { 'Idempotency-Key' => $key });
    is($again->{status}, 201, '... replayed with the same key');
    is($again->{body}, $r->{body}, '... the same answer');
    is($t->sql_value("SELECT COUNT(*) FROM idempotency_keys
                      WHERE user_id = $uid AND HEX(idem_key) = '"
                      . hex_of($key) . "'"), 1, '... the key stored literally');
}
is($t->sql_value("SELECT balance FROM balance_accounts WHERE user_id = $uid"),
   100 * $n, "each key charged once ($n charges)");
is($t->sql_value("SELECT COUNT(*) FROM balance_ledger WHERE user_id = $uid"),
   $n, 'one ledger row per key');

# --- the admin API ---------------------------------------------------------------------

$t->sql("UPDATE users SET role = 'admin' WHERE id = $uid");
my $admin = $cookie;
my $k = 0;
for my $s (@inject) {
    $k++;
    my $short = $s =~ /[^\x00-\x7f]/ ? substr($s, 0, 5) : substr($s, 0, 16);
    my $venue = {
        name => "$k $s",
        address => $s,
        tiers => [ { code => 'P', name => substr($s, 0, 50), price => 1000 } ],
        sections => [ { name => substr($s, 0, 32),
                        rows => [ { name => $short, seats => 2,
                                    tier => 'P' } ] } ],
    };
    $r = $t->post('/api/admin/venues', cookie => $admin, json => $venue);
    is($r->{status}, 201, "a venue named <$s>") or diag($r->{body});
    my $vid = $r->{json}{id} or next;
    is($t->sql_value("SELECT HEX(name) FROM venues WHERE id = $vid"),
       hex_of("$k $s"), '... its name stored literally');
    is($t->sql_value("SELECT HEX(name) FROM sections WHERE venue_id = $vid"),
       hex_of(substr($s, 0, 32)), '... its section name too');
    is($t->sql_value("SELECT COUNT(*) FROM seats WHERE venue_id = $vid"), 2,
       '... with its two seats');

    $r = $t->post('/api/admin/events', cookie => $admin,
                  json => { title => $s, category => 'concert',
                            description => "$s\n$s" });
    is($r->{status}, 201, "an event titled <$s>") or diag($r->{body});
    my $eid = $r->{json}{id} or next;
    is($t->sql_value("SELECT HEX(title) FROM events WHERE id = $eid"),
       hex_of($s), '... stored literally');
    is($t->get("/api/events/$eid")->{json}{title}, $s, '... served literally');

    $r = $t->post('/api/admin/performances', cookie => $admin,
                  json => { event_id => $eid, venue_id => $vid,
                            starts_at => '2027-06-01T19:30:00Z',
                            room => $s });
    is($r->{status}, 400, "a performance room <$s> is 400");
    $r = $t->post('/api/admin/performances', cookie => $admin,
                  json => { event_id => $eid, venue_id => $vid,
                            starts_at => $s });
    is($r->{status}, 400, "a start time <$s> is 400");
    $r = $t->post('/api/admin/events', cookie => $admin,
                  json => { title => 'x', category => $s });
    is($r->{status}, 400, "an event category <$s> is 400");
}
is($t->sql_value('SELECT COUNT(*) FROM performances'), 0,
   'no refused performance was created');

$r = $t->post('/api/admin/performances', cookie => $admin,
              json => { event_id => 1 * $t->sql_value('SELECT MIN(id) FROM events'),
                        venue_id => 1 * $t->sql_value('SELECT MIN(id) FROM venues'),
                        starts_at => '2027-06-01T19:30:00Z', room => 'safe' });
is($r->{status}, 201, 'a performance with a plain room');
my $pid = $r->{json}{id};
$before = snapshot();
for my $s (@inject) {
    $r = $t->request('PUT', "/api/admin/performances/$pid/room",
                     cookie => $admin, json => { room => $s });
    is($r->{status}, 400, "PUT room <$s> is 400");
}
is(snapshot(), $before, 'refused room changes changed nothing');
is($t->sql_value("SELECT room FROM performances WHERE id = $pid"), 'safe',
   'the room is as it was');

is($t->sql_value("SELECT COUNT(*) FROM information_schema.tables
                  WHERE table_schema = 'ticket'"), @tables + 1,
   'every table is still there');
done_testing;
