#!/usr/bin/perl
# Cross-site requests: cookie-authenticated writes from another origin are
# refused (403 CROSS_ORIGIN) by the worker, and joins by the queue
# location of conf/nginx.conf.in; the session cookie is SameSite=Lax and
# HttpOnly; requests without the cookie (the gateway's signed callback)
# and safe methods are not affected.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use TicketTest;
use TicketStackConf;

my $t = TicketTest->new(worker => 1);
my $self = 'http://127.0.0.1:' . $t->port;

sub code_of { $_[0]{json} && $_[0]{json}{error} && $_[0]{json}{error}{code} }

my $r = $t->post('/api/users', json => { email => 'carol@example.com',
                                         password => 'carol password',
                                         name => 'Carol' });
is($r->{status}, 201, 'sign-up');
$r = $t->post('/api/sessions', json => { email => 'carol@example.com',
                                         password => 'carol password' });
is($r->{status}, 200, 'log-in');
my $set = $r->{headers}{'set-cookie'};
like($set, qr/SameSite=Lax/, 'the session cookie is SameSite=Lax');
like($set, qr/HttpOnly/, 'and HttpOnly');
my $cookie = $t->cookies_of($r);

my $n = 0;
sub charge {
    my (%h) = @_;
    return $t->post('/api/balance/charges', json => { amount => 1000 },
                    cookie => $cookie,
                    headers => { 'Idempotency-Key' => 'csrf-' . ++$n, %h });
}
sub balance {
    $t->sql_value("SELECT balance FROM balance_accounts b JOIN users u
                   ON u.id = b.user_id WHERE u.email = 'carol\@example.com'");
}

for my $case (
    [ { Origin => 'http://evil.example' }, 'an Origin of another site' ],
    [ { Origin => 'http://127.0.0.1:1' }, 'an Origin with another port' ],
    [ { Origin => 'https://127.0.0.1' }, 'an Origin with a default port' ],
    [ { Origin => 'null' }, 'Origin: null (sandboxed page, redirect)' ],
    [ { Referer => 'http://evil.example/page' },
      'no Origin, a Referer of another site' ],
    [ { Origin => 'http://evil.example', Referer => "$self/shop" },
      'a cross Origin wins over a same-site Referer' ],
) {
    my ($headers, $name) = @$case;
    my $before = balance();
    $r = charge(%$headers);
    is($r->{status}, 403, "$name: 403");
    is(code_of($r), 'CROSS_ORIGIN', "$name: CROSS_ORIGIN");
    is(balance(), $before, "$name: nothing charged");
}

$r = $t->del('/api/sessions', cookie => $cookie,
             headers => { Origin => 'http://evil.example' });
is(code_of($r), 'CROSS_ORIGIN', 'a cross-site log-out is refused too');
is($t->get('/api/me', cookie => $cookie)->{status}, 200,
   'and the session lives on');

my $before = balance();
$r = charge(Origin => $self);
is($r->{status}, 201, 'the same origin may charge') or diag($r->{body});
$r = charge(Referer => "$self/account?x=1");
is($r->{status}, 201, 'a same-origin Referer without Origin too');
$r = charge();
is($r->{status}, 201, 'a client sending neither (not a browser page) too');
is(balance(), $before + 3000, 'three charges went through');

$r = $t->get('/api/me', cookie => $cookie,
             headers => { Origin => 'http://evil.example' });
is($r->{status}, 200, 'safe methods are not checked');

# Without the session cookie there is no authority to borrow: the
# gateway's callback (signed, cookie-less) is judged by its signature.
$r = $t->post('/api/payments/callback', json => { payment_id => 1 },
              headers => { Origin => 'http://gateway.example' });
isnt(code_of($r), 'CROSS_ORIGIN',
     'the payment callback without a cookie is not refused as cross-origin')
    or diag($r->{body});
$r = $t->post('/api/users', json => { email => 'dave@example.com',
                                      password => 'dave password',
                                      name => 'Dave' },
              headers => { Origin => 'http://other.example' });
is($r->{status}, 201, 'a cookie-less sign-up from elsewhere is allowed');

# --- the queue location of conf/nginx.conf.in ---------------------------------------

$t->reload_nginx(TicketStackConf::http_block($t));

sub join_room {
    my ($user, %h) = @_;
    return $t->post('/queue/aurora', cookie => $t->session_cookie($user),
                    headers => \%h);
}

$r = join_room(11, Origin => 'http://evil.example');
is($r->{status}, 403, 'a cross-site join is 403');
is(code_of($r), 'CROSS_ORIGIN', 'CROSS_ORIGIN');
$r = join_room(11, Referer => 'https://evil.example/q');
is(code_of($r), 'CROSS_ORIGIN', 'also by Referer');
$r = $t->get('/queue/aurora?join=1', cookie => $t->session_cookie(11),
             headers => { Referer => 'http://evil.example/' });
is(code_of($r), 'CROSS_ORIGIN', 'GET ?join=1 from a link on another site');
$r = $t->get('/queue/aurora?join=1', cookie => $t->session_cookie(11),
             headers => { Origin => 'http://evil.example' });
is(code_of($r), 'CROSS_ORIGIN', 'GET ?join=1 with a cross Origin');
is($t->get('/_ticket/status?room=aurora')->{json}{rooms}[0]{seq}, 0,
   'nobody joined');

$r = join_room(12, Origin => $self);
is($r->{status}, 201, 'a same-origin join works');
$r = join_room(13, Referer => "$self/queue/aurora");
is($r->{status}, 201, 'a same-origin Referer too');
$r = join_room(14);
is($r->{status}, 201, 'a join with neither too');
$r = $t->get('/queue/aurora', cookie => $t->session_cookie(11),
             headers => { Origin => 'http://evil.example' });
isnt(code_of($r) // '', 'CROSS_ORIGIN', 'a status poll is not a join');

$t->log_is_clean;
done_testing;
