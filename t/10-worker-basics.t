#!/usr/bin/perl
# The worker's foundation through NGINX: health, routing errors, malformed
# requests answered with JSON errors, the body limit, request ids, and a
# MariaDB restart under the running worker.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use TicketTest;

my $t = TicketTest->new(worker => 1, worker_conf => { max_body => 4096 });

sub error_is {
    my ($r, $status, $code, $what) = @_;
    is($r->{status}, $status, "$what: status $status");
    is($r->{json} && $r->{json}{error} && $r->{json}{error}{code}, $code,
       "$what: error code $code");
    ok(defined $r->{json}{error}{message}, "$what: has a message")
        if $r->{json} && $r->{json}{error};
}

my $r = $t->get('/api/health');
is($r->{status}, 200, 'health is 200');
is($r->{json}{status}, 'ok', 'health status ok');
is($r->{json}{database}, 'ok', 'health database ok');
like($r->{headers}{'x-request-id'} // '', qr/^[0-9a-zA-Z_-]+$/,
     'responses carry a request id');

error_is($t->get('/api/nothing-here'), 404, 'NOT_FOUND', 'unknown path');
error_is($t->get('/api/events/abc'), 404, 'NOT_FOUND', 'non-numeric id');
error_is($t->get('/api/events/0'), 404, 'NOT_FOUND', 'zero id');
error_is($t->get('/api/events/1/'), 404, 'NOT_FOUND', 'trailing slash');

$r = $t->request('PATCH', '/api/health');
error_is($r, 405, 'METHOD_NOT_ALLOWED', 'wrong method');
is($r->{headers}{allow}, 'GET', 'Allow lists the methods');
$r = $t->request('PUT', '/api/sessions', json => {});
error_is($r, 405, 'METHOD_NOT_ALLOWED', 'PUT on sessions');
is($r->{headers}{allow}, 'POST, DELETE', 'Allow lists POST and DELETE');

my $users = $t->sql_value('SELECT COUNT(*) FROM users');
error_is($t->post('/api/users', body => '{"email": "a@b.c",',
                  headers => { 'Content-Type' => 'application/json' }),
         400, 'BAD_JSON', 'truncated JSON');
error_is($t->post('/api/users', body => '',
                  headers => { 'Content-Type' => 'application/json' }),
         400, 'BAD_JSON', 'empty body');
error_is($t->post('/api/users', body => '[1,2]',
                  headers => { 'Content-Type' => 'application/json' }),
         400, 'BAD_JSON', 'array instead of object');
error_is($t->post('/api/users', body => "{\"email\":\"\xff\xfe\"}",
                  headers => { 'Content-Type' => 'application/json' }),
         400, 'BAD_JSON', 'invalid UTF-8');
error_is($t->post('/api/users', json => { email => 5, password => 'x' x 10,
                                          name => 'n' }),
         400, 'VALIDATION', 'wrong type');
error_is($t->post('/api/users', body => '{"pad":"' . ('x' x 5000) . '"}',
                  headers => { 'Content-Type' => 'application/json' }),
         413, 'BODY_TOO_LARGE', 'body over max_body');
is($t->sql_value('SELECT COUNT(*) FROM users'), $users,
   'no malformed request created a user');

error_is($t->get('/api/events?category=%zz'), 400, 'BAD_QUERY',
         'bad escape in the query string');
error_is($t->get('/api/events?category=opera'), 400, 'VALIDATION',
         'unknown category');

# The worker keeps serving on the same FastCGI connection after a refusal
# whose body it did not read.
is($t->get('/api/health')->{status}, 200, 'still healthy after refusals');

# A client header named like the waiting-room params does not become one.
$r = $t->get('/api/health', headers => { 'Ticket-User' => '1',
                                          'Ticket-Room' => 'main' });
is($r->{status}, 200, 'Ticket-* headers are harmless');

# MariaDB goes away under the worker, then comes back.
$t->stop_mysql;
$r = $t->get('/api/health');
is($r->{status}, 503, 'health is 503 with the database down');
is($r->{json}{database}, 'down', 'health says the database is down');
$r = $t->get('/api/events');
error_is($r, 503, 'DB_UNAVAILABLE', 'a database endpoint while it is down');
is($r->{headers}{'retry-after'}, '1', 'with Retry-After');

$t->start_mysql;
$r = $t->get('/api/events');
is($r->{status}, 200, 'the next request after the restart succeeds');
my $ok = 0;
for (1 .. 8) {
    $ok++ if $t->get('/api/health')->{status} == 200;
}
is($ok, 8, 'every thread reconnected');

# A restart the worker does not see coming (connections die mid-life).
$t->restart_mysql;
is($t->get('/api/events')->{status}, 200, 'survives a second restart');

unlike($t->worker_log, qr/\[error\]/, 'the worker logged no error');

done_testing;
