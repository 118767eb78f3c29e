#!/usr/bin/perl
# Accounts and sessions: sign-up, hashing, log-in cookie, /api/me, key
# rotation, forged and revoked sessions, log-out, admin-only routes.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use TicketTest;

my $t = TicketTest->new(worker => 1);

sub code_of { $_[0]{json} && $_[0]{json}{error} && $_[0]{json}{error}{code} }

my $r = $t->post('/api/users', json => { email => 'Dana@Example.com',
                                         password => 'correct horse',
                                         name => 'Dana' });
is($r->{status}, 201, 'sign-up is 201');
ok($r->{json}{id} > 0, 'with the new id');
is($r->{json}{email}, 'dana@example.com', 'e-mail stored in lower case');
is($r->{json}{role}, 'user', 'role user');
my $uid = $r->{json}{id};

my $hash = $t->sql_value("SELECT password_hash FROM users WHERE id = $uid");
like($hash, qr/^\$y\$/, 'the password is stored as a yescrypt hash');
unlike($hash, qr/correct horse/, 'never in clear');
is($t->sql_value("SELECT balance FROM balance_accounts WHERE user_id = $uid"),
   0, 'a balance account at 0');
is($t->sql_value("SELECT COUNT(*) FROM audit_log WHERE entity = 'user'
                  AND entity_id = $uid AND action = 'create'"), 1,
   'the sign-up is audited');

$r = $t->post('/api/users', json => { email => 'DANA@example.com',
                                      password => 'another one',
                                      name => 'Other' });
is($r->{status}, 409, 'a taken e-mail is 409');
is(code_of($r), 'EMAIL_TAKEN', 'EMAIL_TAKEN');

my $count = $t->sql_value('SELECT COUNT(*) FROM users');
for my $case (
    [ { password => 'long enough', name => 'x' }, 'missing e-mail' ],
    [ { email => 'nobody', password => 'long enough', name => 'x' },
      'not an e-mail' ],
    [ { email => 'e@x.org', password => 'short', name => 'x' },
      'short password' ],
    [ { email => 'e@x.org', password => 12345678901, name => 'x' },
      'numeric password' ],
    [ { email => 'e@x.org', password => 'long enough', name => '' },
      'empty name' ],
    [ { email => 'e@x.org', password => 'long enough', name => ['x'] },
      'array name' ],
) {
    $r = $t->post('/api/users', json => $case->[0]);
    is($r->{status}, 400, "$case->[1]: 400");
    is(code_of($r), 'VALIDATION', "$case->[1]: VALIDATION");
}
is($t->sql_value('SELECT COUNT(*) FROM users'), $count,
   'no refused sign-up created a user');

# Log-in.
$r = $t->post('/api/sessions', json => { email => 'dana@example.com',
                                         password => 'wrong password' });
is($r->{status}, 401, 'a wrong password is 401');
is(code_of($r), 'BAD_CREDENTIALS', 'BAD_CREDENTIALS');
$r = $t->post('/api/sessions', json => { email => 'nobody@example.com',
                                         password => 'whatever1' });
is($r->{status}, 401, 'an unknown e-mail is 401 too');

$r = $t->post('/api/sessions', json => { email => 'dana@example.com',
                                         password => 'correct horse' });
is($r->{status}, 200, 'log-in is 200');
my $set = $r->{headers}{'set-cookie'};
like($set, qr/^ticket_session=[\w-]+\.[\w-]+;/, 'sets ticket_session');
like($set, qr/;\s*HttpOnly/i, 'HttpOnly');
like($set, qr/;\s*SameSite=Lax/i, 'SameSite=Lax');
like($set, qr/;\s*Path=\//, 'Path=/');
my $cookie = $t->cookies_of($r);
my $sid = $r->{json}{session_id};
ok($sid > 0, 'the session id is returned');

$r = $t->get('/api/me', cookie => $cookie);
is($r->{status}, 200, '/api/me with the cookie');
is($r->{json}{id}, $uid, 'is the user');
is($r->{json}{balance}, 0, 'with the balance');
is($r->{json}{name}, 'Dana', 'and the name');

$r = $t->get('/api/me');
is($r->{status}, 401, '/api/me without a cookie is 401');
is(code_of($r), 'UNAUTHENTICATED', 'UNAUTHENTICATED');

# Tokens: signed under the previous key still verify (rotation); under an
# unknown key, or for another user's session, they do not.
$r = $t->get('/api/me', cookie => $t->session_cookie(
                 $uid, session => $sid, key => $t->secret('previous')));
is($r->{status}, 200, 'a session signed with the previous key works');
$r = $t->get('/api/me', cookie => $t->session_cookie(
                 $uid, session => $sid, key => 'x' x 32));
is($r->{status}, 401, 'a token under an unknown key is refused');
$r = $t->get('/api/me', cookie => $t->session_cookie($uid + 1000,
                                                    session => $sid));
is($r->{status}, 401, 'a token naming another user for the session fails');
$r = $t->get('/api/me', cookie => $t->session_cookie(
                 $uid, session => $sid, expires => time - 10));
is($r->{status}, 401, 'an expired token is refused');
$r = $t->get('/api/me', cookie => 'ticket_session=garbage.token');
is($r->{status}, 401, 'garbage is refused');
$r = $t->get('/api/me', cookie => 'ticket_session=' . $t->mint_token(
                 kind => 3, user => $uid, number => $sid, room => 'main'));
is($r->{status}, 401, 'an access token is not a session');

# Admin routes.
$r = $t->post('/api/admin/events', cookie => $cookie,
              json => { title => 'X', category => 'concert' });
is($r->{status}, 403, 'a user may not use the admin API');
is(code_of($r), 'FORBIDDEN', 'FORBIDDEN');
$r = $t->post('/api/admin/events',
              json => { title => 'X', category => 'concert' });
is($r->{status}, 401, 'nor may an anonymous client');

# Log-out revokes the session row.
$r = $t->del('/api/sessions', cookie => $cookie);
is($r->{status}, 204, 'log-out is 204');
like($r->{headers}{'set-cookie'} // '', qr/Max-Age=0/, 'clears the cookie');
ok(defined $t->sql_value("SELECT revoked_at FROM sessions WHERE id = $sid"),
   'the session row is revoked');
$r = $t->get('/api/me', cookie => $cookie);
is($r->{status}, 401, 'the old cookie no longer works');
$r = $t->del('/api/sessions', cookie => $cookie);
is($r->{status}, 401, 'logging out twice is 401');

# A second session is independent; revoking it in the database works too.
$r = $t->post('/api/sessions', json => { email => 'dana@example.com',
                                         password => 'correct horse' });
my $cookie2 = $t->cookies_of($r);
is($t->get('/api/me', cookie => $cookie2)->{status}, 200, 'a new session');
$t->sql("UPDATE sessions SET revoked_at = UTC_TIMESTAMP()
         WHERE id = $r->{json}{session_id}");
is($t->get('/api/me', cookie => $cookie2)->{status}, 401,
   'a session revoked in the database is refused at once');

unlike($t->worker_log, qr/\[error\]/, 'the worker logged no error');

done_testing;
