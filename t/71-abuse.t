#!/usr/bin/perl
# Abuse limits: log-ins and joins per client address (limit_req in
# conf/nginx.conf.in, 429 + Retry-After + JSON), failed log-ins per account
# (the worker, 429 TOO_MANY_ATTEMPTS), and secret files that others can
# read (the worker refuses to start; `nginx -t` is covered by
# t/20-directives.t).
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use TicketTest;
use TicketStackConf;

my $t = TicketTest->new(worker => 1);

sub code_of { $_[0]{json} && $_[0]{json}{error} && $_[0]{json}{error}{code} }

sub login {
    my ($email, $password) = @_;
    return $t->post('/api/sessions',
                    json => { email => $email, password => $password });
}

# --- per account: the worker ----------------------------------------------------

for my $who (qw(victim bystander)) {
    my $r = $t->post('/api/users', json => { email => "$who\@example.com",
                                             password => 'the right one',
                                             name => $who });
    is($r->{status}, 201, "$who signs up");
}

# A success clears the count.
login('victim@example.com', 'wrong') for 1 .. 3;
is($t->sql_value("SELECT failures FROM login_attempts
                  WHERE email = 'victim\@example.com'"), 3,
   'failed log-ins are counted per e-mail');
is(login('victim@example.com', 'the right one')->{status}, 200,
   'a right password within the limit logs in');
is($t->sql_value("SELECT COUNT(*) FROM login_attempts"), 0,
   'and clears the count');

my @codes = map { login('Victim@Example.com', "guess $_")->{status} } 1 .. 10;
is_deeply(\@codes, [ (401) x 10 ], 'ten wrong guesses are 401 each');

my $r = login('victim@example.com', 'the right one');
is($r->{status}, 429, 'the next attempt is 429, even with the right password');
is(code_of($r), 'TOO_MANY_ATTEMPTS', 'TOO_MANY_ATTEMPTS');
my $retry = $r->{headers}{'retry-after'} // '';
ok($retry =~ /^\d+$/ && $retry >= 1 && $retry <= 900,
   "with Retry-After in seconds ($retry)");
is($r->{headers}{'set-cookie'}, undef, 'and no session cookie');
is(login('VICTIM@example.com', 'the right one')->{status}, 429,
   'the e-mail is counted whatever its case');
is(login('bystander@example.com', 'the right one')->{status}, 200,
   'another account is not affected');

# Unknown e-mails are limited alike: the answer does not tell which exist.
login('nobody@example.com', "x$_") for 1 .. 10;
is(code_of(login('nobody@example.com', 'x')), 'TOO_MANY_ATTEMPTS',
   'an unknown e-mail is limited the same way');

# Once the window has run out, the account opens again.
$t->sql("UPDATE login_attempts SET window_start = window_start
         - INTERVAL 901 SECOND WHERE email = 'victim\@example.com'");
is(login('victim@example.com', 'the right one')->{status}, 200,
   'after the window the right password works again');

# Counts whose window has ended are purged by the worker's sweeper.
$t->sql("UPDATE login_attempts SET window_start = window_start
         - INTERVAL 901 SECOND WHERE email = 'nobody\@example.com'");
$t->restart_worker(kill => 0);
TicketTest::wait_until('the purge of ended windows', 15, sub {
    !$t->sql_value("SELECT COUNT(*) FROM login_attempts
                    WHERE email = 'nobody\@example.com'") });
pass('a count whose window has ended is purged');

# The limits are the worker's configuration (login_max_failures,
# login_window).
$t->{opt}{worker_conf} = { login_max_failures => 2, login_window => 60 };
$t->restart_worker(kill => 0);
@codes = map { login('bystander@example.com', "guess $_")->{status} } 1 .. 3;
is_deeply(\@codes, [401, 401, 429], 'login_max_failures 2: the third is 429');
$retry = login('bystander@example.com', 'x')->{headers}{'retry-after'} // 0;
ok($retry >= 1 && $retry <= 60, "login_window 60: Retry-After $retry");
$t->{opt}{worker_conf} = {};
$t->restart_worker(kill => 0);

# Injection-looking e-mails are just keys.
is(login("' OR 1=1 -- ", 'x')->{status}, 401,
   'a quoted e-mail is an ordinary failed log-in');
is($t->sql_value("SELECT COUNT(*) FROM login_attempts
                  WHERE email = ''' or 1=1 -- '"), 1,
   'counted under its literal text');

# --- per address: NGINX limit_req, as conf/nginx.conf.in ships it --------------

$t->reload_nginx(TicketStackConf::http_block($t));

my @status;
for my $i (1 .. 8) {
    push @status, login("spray$i\@example.com", 'x')->{status};
}
is_deeply([ @status[0 .. 5] ], [ (401) x 6 ],
          'six log-ins from one address pass (rate plus burst)');
is($status[6], 429, 'the seventh within the minute is 429');
$r = login('spray9@example.com', 'x');
is($r->{status}, 429, 'and stays 429');
is(code_of($r), 'TOO_MANY_REQUESTS', 'with the JSON error body');
like($r->{headers}{'content-type'} // '', qr{^application/json},
     'as application/json');
is($r->{headers}{'retry-after'}, 6, 'and Retry-After');
is($t->sql_value("SELECT COUNT(*) FROM login_attempts
                  WHERE email = 'spray9\@example.com'"), 0,
   'a refused log-in never reached the worker');

my $cookie = $t->session_cookie(7);
$r = $t->del('/api/sessions', cookie => $cookie);
isnt($r->{status}, 429, 'log-out is not limited');

# Joins: POST (or GET ?join=1) on a queue location, per address.
my (@join, $first);
for my $i (1 .. 13) {
    $r = $t->post('/queue/aurora', cookie => $t->session_cookie(100 + $i));
    $first //= join '; ', $t->session_cookie(101), $t->cookies_of($r);
    push @join, $r->{status};
}
is_deeply([ @join[0 .. 10] ], [ (201) x 11 ],
          'eleven joins from one address pass');
is($join[11], 429, 'the twelfth is 429');
$r = $t->get('/queue/aurora?join=1', cookie => $t->session_cookie(200));
is($r->{status}, 429, 'GET ?join=1 counts as a join');
is(code_of($r), 'TOO_MANY_REQUESTS', 'with the JSON body');
is($r->{headers}{'retry-after'}, 2, 'and Retry-After');
$r = $t->get('/queue/aurora', cookie => $first);
is($r->{status}, 200, 'status polls are not limited');

# --- secrets others can read ------------------------------------------------------

my $loose = $t->dir . '/loose.key';
open my $fh, '>', $loose or die;
print $fh "a-secret-that-others-can-read-0123456789\n";
close $fh;
chmod 0644, $loose;
my $conf = $t->dir . '/loose-worker.conf';
my $text = $t->worker_conf_text;
$text =~ s/^secret_file = .*$/secret_file = $loose/m;
open $fh, '>', $conf or die;
print $fh $text;
close $fh;
my $out = `$TicketTest::WORKER_BIN -t -c $conf 2>&1`;
isnt($?, 0, 'the worker refuses a secret file readable by others');
like($out, qr/\Q$loose\E.*group or others/,
     'naming the file and the reason') or diag($out);
$out = `$TicketTest::WORKER_BIN -c $conf 2>&1`;
isnt($?, 0, 'and does not start with it');

chmod 0600, $loose;
$out = `$TicketTest::WORKER_BIN -t -c $conf 2>&1`;
is($?, 0, 'chmod 600 makes it acceptable') or diag($out);

$t->log_is_clean;
done_testing;
