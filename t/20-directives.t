#!/usr/bin/perl
# The module's directives: a good configuration passes `nginx -t`, and every
# bad value fails it with a message naming the directive and the value.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use TicketTest;
use TicketEdge;

my $t = TicketTest->new(nginx => 0);

my $good = TicketEdge::http(rooms => <<'EOF2');
ticket_room r1 zone=ticket capacity=2000 rate=200/10s session=10m grace=60s
            opens_at=2026-12-01T20:00:00+09:00 prequeue=30m refresh=5s;
ticket_room r2 zone=ticket capacity=10 rate=5/s session=3s grace=2s
            closes_at=2030-01-01T00:00:00Z queue_ttl=1h queue_url=/queue/r2;
EOF2

my ($ok, $out) = $t->nginx_test_conf($good);
ok($ok, 'a good configuration passes nginx -t') or diag($out);

my $base = "ticket_zone zone=ticket:4m;\nticket_secret %%SECRET%%;\n";

my @bad = (
    [ 'capacity=abc',
      "ticket_room r1 zone=ticket capacity=abc rate=5/s;" ],
    [ 'capacity=0',
      "ticket_room r1 zone=ticket capacity=0 rate=5/s;" ],
    [ 'rate=0/s',
      "ticket_room r1 zone=ticket capacity=5 rate=0/s;" ],
    [ 'rate=5/x',
      "ticket_room r1 zone=ticket capacity=5 rate=5/x;" ],
    [ 'rate=fast',
      "ticket_room r1 zone=ticket capacity=5 rate=fast;" ],
    [ 'session=forever',
      "ticket_room r1 zone=ticket capacity=5 rate=5/s session=forever;" ],
    [ 'grace=-1s',
      "ticket_room r1 zone=ticket capacity=5 rate=5/s grace=-1s;" ],
    [ 'opens_at=2026-13-01T20:00:00Z',
      "ticket_room r1 zone=ticket capacity=5 rate=5/s "
      . "opens_at=2026-13-01T20:00:00Z;" ],
    [ 'opens_at=tomorrow',
      "ticket_room r1 zone=ticket capacity=5 rate=5/s opens_at=tomorrow;" ],
    [ 'queue_url=queue',
      "ticket_room r1 zone=ticket capacity=5 rate=5/s queue_url=queue;" ],
    [ 'colour=blue',
      "ticket_room r1 zone=ticket capacity=5 rate=5/s colour=blue;" ],
    [ 'bad/name',
      "ticket_room bad/name zone=ticket capacity=5 rate=5/s;" ],
    [ 'nozone',
      "ticket_room r1 zone=nozone capacity=5 rate=5/s;" ],
    [ 'needs capacity',
      "ticket_room r1 zone=ticket rate=5/s;" ],
    [ 'duplicate room "r1"',
      "ticket_room r1 zone=ticket capacity=5 rate=5/s;\n"
      . "ticket_room r1 zone=ticket capacity=5 rate=5/s;" ],
);

for my $case (@bad) {
    my ($value, $conf) = @$case;
    my ($ok, $out) = $t->nginx_test_conf($base . $conf);
    ok(!$ok && $out =~ /ticket_room/ && index($out, $value) >= 0,
       "nginx -t fails on $value, naming ticket_room and the value")
        or diag($out);
}

my @bad_other = (
    [ 'ticket_zone', 'zone=ticket:10k',
      "ticket_zone zone=ticket:10k;\nticket_secret %%SECRET%%;" ],
    [ 'ticket_zone', 'ticket:4m',
      "ticket_zone ticket:4m;\nticket_secret %%SECRET%%;" ],
    [ 'ticket_secret', '/nonexistent/secret.key',
      "ticket_zone zone=ticket:4m;\nticket_secret /nonexistent/secret.key;" ],
    [ 'ticket_gate', 'nosuchroom',
      $base . "server { listen 127.0.0.1:%%PORT%%;"
      . " location / { ticket_gate nosuchroom; } }" ],
    [ 'ticket_queue', 'nosuchroom',
      $base . "server { listen 127.0.0.1:%%PORT%%;"
      . " location / { ticket_queue nosuchroom; } }" ],
    [ 'ticket_secret', 'r1',
      "ticket_zone zone=ticket:4m;\n"
      . "ticket_room r1 zone=ticket capacity=5 rate=5/s;" ],
    [ 'ticket_queue_page', '/nonexistent/page.html',
      $base . "ticket_queue_page /nonexistent/page.html;" ],
);

for my $case (@bad_other) {
    my ($directive, $value, $conf) = @$case;
    my ($ok, $out) = $t->nginx_test_conf($conf);
    ok(!$ok && index($out, $directive) >= 0 && index($out, $value) >= 0,
       "nginx -t fails on $directive $value, naming both")
        or diag($out);
}

# A key file readable by others is refused.
my $loose = $t->dir . '/loose.key';
open my $fh, '>', $loose or die;
print $fh "0123456789abcdef0123456789abcdef\n";
close $fh;
chmod 0644, $loose;
($ok, $out) = $t->nginx_test_conf("ticket_secret $loose;");
ok(!$ok && $out =~ /ticket_secret/ && $out =~ /loose\.key/,
   'a key file readable by others fails nginx -t') or diag($out);

done_testing;
