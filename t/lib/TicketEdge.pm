package TicketEdge;

=head1 NAME

TicketEdge - helpers for the waiting-room module tests (t/2*.t)

=head1 SYNOPSIS

    use lib 't/lib';
    use TicketTest;
    use TicketEdge;

    my $t = TicketTest->new(http => TicketEdge::http(rooms => '...'));
    my $u = TicketEdge::user($t, 42);           # a cookie jar for user 42
    my $r = TicketEdge::join_room($t, $u, "r1"); # POST /queue/r1
    my $s = TicketEdge::status($t, $u, 'r1');   # GET /queue/r1 (JSON)
    my $o = TicketEdge::room($t, 'r1');         # /_ticket/status?room=r1

A user is a hash { id, jar => { cookie name => value } }; every request
sends the jar and stores the cookies the answer sets (an empty value with
Max-Age=0 deletes one).

=cut

use strict;
use warnings;

use Time::HiRes qw(sleep time);

# The http block of most module tests: rooms, their queue locations, a
# gated location that returns the variables, a proxied one that passes them
# to a backend (a unix-socket server here), and the status location.
sub http {
    my (%o) = @_;
    my $rooms = $o{rooms} // <<'EOF';
ticket_room r1 zone=ticket capacity=3 rate=5/s session=3s grace=2s refresh=2s;
ticket_room r2 zone=ticket capacity=50 rate=50/s session=10s grace=5s;
EOF
    my $extra = $o{extra} // '';
    my $zone_size = $o{zone_size} // "4m";
    my $zone_extra = $o{zone_extra} // '';
    my $locations = '';
    for my $name ($rooms =~ /ticket_room\s+(\S+)/g) {
        $locations .= <<"EOF";
    location /queue/$name { ticket_queue $name; }
    location /$name/ {
        ticket_gate $name;
        return 200 "ok \$ticket_user \$ticket_room \$ticket_status\\n";
    }
EOF
    }
    return <<"EOF";
ticket_zone zone=ticket:$zone_size $zone_extra;
ticket_secret %%SECRET%% %%PREVIOUS_SECRET%%;
$rooms
map \$uri \$perf_room {
    ~^/api/performances/1/  r1;
    ~^/api/performances/2/  r2;
    ~^/api/performances/9/  nosuchroom;
    default                 "";
}
server {
    listen 127.0.0.1:%%PORT%%;
$locations    location /api/ {
        ticket_gate \$perf_room;
        proxy_set_header X-Ticket-User \$ticket_user;
        proxy_set_header X-Ticket-Room \$ticket_room;
        proxy_set_header X-Ticket-Status \$ticket_status;
        proxy_pass http://unix:%%PREFIX%%/backend.sock:;
    }
    location /open/ {
        return 200 "open\\n";
    }
    location = /_ticket/status {
        ticket_status;
        allow 127.0.0.1;
        deny all;
    }
    $extra
}
server {
    listen unix:%%PREFIX%%/backend.sock;
    location / {
        return 200 "user=\$http_x_ticket_user room=\$http_x_ticket_room status=\$http_x_ticket_status\\n";
    }
    location ~ /release\$ {
        add_header X-Ticket-Release 1 always;
        return 200 "released\\n";
    }
}
EOF
}

sub user {
    my ($t, $id, %o) = @_;
    my $u = { id => $id, jar => {} };
    $u->{jar}{ticket_session} = (split /=/, $t->session_cookie($id, %o), 2)[1]
        if $id;
    return $u;
}

sub cookie_header {
    my ($u) = @_;
    return join '; ', map { "$_=$u->{jar}{$_}" } sort keys %{ $u->{jar} };
}

sub _store {
    my ($u, $r) = @_;
    my $set = $r->{headers}{'set-cookie'} // [];
    $set = [$set] unless ref $set;
    for my $c (@$set) {
        my ($pair) = split /;/, $c;
        my ($name, $value) = split /=/, $pair, 2;
        if ($c =~ /Max-Age=0\b/ || !length($value // '')) {
            delete $u->{jar}{$name};
        } else {
            $u->{jar}{$name} = $value;
        }
    }
    return $r;
}

# request($t, $user, METHOD, PATH, headers => {...}) with the user's jar.
sub request {
    my ($t, $u, $method, $path, %o) = @_;
    my $cookie = cookie_header($u);
    my $r = $t->request($method, $path, %o,
                        length $cookie ? (cookie => $cookie) : ());
    return _store($u, $r);
}

sub join_room {
    my ($t, $u, $room, %o) = @_;
    return request($t, $u, 'POST', "/queue/$room", %o);
}

sub status {
    my ($t, $u, $room, %o) = @_;
    return request($t, $u, 'GET', "/queue/$room", %o);
}

sub leave {
    my ($t, $u, $room) = @_;
    return request($t, $u, 'DELETE', "/queue/$room");
}

sub room {
    my ($t, $room) = @_;
    my $r = $t->get("/_ticket/status?room=$room");
    return $r->{json}{rooms}[0];
}

sub zone {
    my ($t) = @_;
    return $t->get('/_ticket/status')->{json}{zones}[0];
}

sub admin {
    my ($t, $room, $action) = @_;
    return $t->post("/_ticket/status?room=$room&action=$action");
}

# Polls $cond until true; returns the seconds it took, or dies.
sub wait_for {
    my ($what, $timeout, $cond) = @_;
    my $start = time;
    while (time - $start < $timeout) {
        return time - $start if $cond->();
        sleep 0.05;
    }
    die "timed out waiting for $what\n";
}

# The error log must show no alert and no worker that died.
sub log_checks {
    my ($t) = @_;
    $t->log_is_clean;
    my @exits = grep { /exited on signal|exited with fatal/ }
                split /\n/, $t->error_log;
    Test::More::ok(!@exits, 'no worker process exited') or
        Test::More::diag(join "\n", @exits);
}

1;
