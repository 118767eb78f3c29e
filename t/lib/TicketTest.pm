package TicketTest;

=head1 NAME

TicketTest - starts the real stack on free loopback ports for one test file

=head1 SYNOPSIS

    use lib 't/lib';
    use TicketTest;

    my $t = TicketTest->new(
        mysql  => 1,          # MariaDB with every migration applied
        demo   => 0,          # load the demo data too (needs mysql)
        redis_port => $port,  # or use a running one (another instance's)
        redis  => 0,          # a private redis-server (the worker's
                              # outbox publishes to it)
        gateway => { delay_ms => 100 },  # scripts/mock-gateway, options
                              # as its command line (out_of_order => 1)
        worker => 1,          # build/worker/ticket-worker (needs mysql)
        worker_conf => { hold_seconds => 2 },   # extra worker settings
        nginx  => 1,          # Debian's nginx with our module loaded
        http   => $text,      # the inside of http {}; placeholders below
        main   => $text,      # extra main-context lines (optional)
    );

    my $r = $t->request('POST', '/api/users', json => {...},
                        headers => {...}, cookie => 'a=b');
    # $r->{status}, $r->{headers}{lc name}, $r->{body}, $r->{json}

    $t->sql("SELECT COUNT(*) FROM users");     # rows as array refs
    $t->sql_value("SELECT ...");               # first column of first row
    $t->restart_mysql; $t->reload_nginx($new_http_text);
    $t->log_is_clean;                          # a test: no [alert]/crash

Without C<http>, the http block serves C</api/> from the worker and the
C<web/> directory as the root.  Placeholders in C<http> and C<main>:
C<%%PORT%%> (the NGINX port), C<%%WORKER%%> (the worker's unix socket path),
C<%%SECRET%%> (the secret key file), C<%%PREVIOUS_SECRET%%>, C<%%PREFIX%%>,
C<%%ROOT%%> (the repository), C<%%REDIS_PORT%%>, C<%%FASTCGI%%> (the stock
fastcgi parameters for the worker, without TICKET_* ones).

With C<gateway>, the mock payment gateway (a test double of the external
party) runs on C<< $t->gateway_port >> with the secret in
C<< $t->gateway_secret_file >>, and the worker's configuration gets
gateway_url, gateway_secret_file and gateway_callback_url (through NGINX).
C<< $t->gateway(METHOD, PATH, $doc) >> calls it (its C</_mock/> control
API) and returns the decoded answer; C<< $t->sign_callback($body) >> signs
a callback body as the gateway does.  With C<redis>, the worker's
configuration gets redis_port.

Everything lives under build/tmp/<test name>-<pid>/ and is stopped when the
test ends, also when it dies.  Set TICKET_KEEP=1 to keep the directory.

=cut

use strict;
use warnings;

use Cwd qw(abs_path);
use Digest::SHA qw(hmac_sha256);
use Fcntl qw(:flock);
use File::Basename qw(dirname basename);
use File::Path qw(make_path remove_tree);
use HTTP::Tiny;
use IO::Socket::INET;
use JSON::PP;
use MIME::Base64 qw(encode_base64);
use POSIX qw(WNOHANG);
use Socket qw(IPPROTO_TCP TCP_NODELAY);
use Test::More;
use Time::HiRes qw(sleep time);

# HTTP::Tiny writes a request's header and its body in two writes.  With
# Nagle's algorithm on, the body waits for the ACK of the header, which
# Linux delays by 40 ms: every POST took 40 ms longer than the server
# needed.  Browsers and bench/storm send small writes at once too.
{
    no warnings 'redefine';
    my $connect = \&HTTP::Tiny::Handle::connect;
    *HTTP::Tiny::Handle::connect = sub {
        my $handle = $connect->(@_);
        setsockopt($handle->{fh}, IPPROTO_TCP, TCP_NODELAY, 1)
            or die "TCP_NODELAY: $!";
        return $handle;
    };
}

our $ROOT = abs_path(dirname(__FILE__) . '/../..');
# TICKET_BUILD: another build directory (relative to the repository or
# absolute), e.g. the sanitizer build of `make SANITIZE=1 BUILD=build/asan`.
our $BUILD = _build_dir();
our $MODULE = "$BUILD/nginx/objs/ngx_http_ticket_module.so";
our $WORKER_BIN = $ENV{TICKET_WORKER_BIN} // "$BUILD/worker/ticket-worker";

my @instances;

sub _build_dir {
    my $dir = $ENV{TICKET_BUILD} || 'build';
    return $dir =~ m{^/} ? $dir : "$ROOT/$dir";
}

# --- sanitizers ----------------------------------------------------------------

# With a sanitizer build (make SANITIZE=1), every process of the test
# writes its ASan, LeakSanitizer and UBSan reports into one directory per
# test file, and any report there (or in a worker or NGINX log) makes the
# test file fail with the report's text.  Debian's nginx is not built with
# ASan, so it gets the libasan our module needs in LD_PRELOAD: the runtime
# must be loaded before anything else, not by dlopen() with the module.
our $ASAN_LIB = _asan_lib();
our $SANITIZER_DIR;
my ($sanitizer_owner, %sanitizer_seen, $sanitizer_failed);

sub _asan_lib {
    return '' unless -e $MODULE;
    my ($lib) = `ldd '$MODULE' 2>/dev/null` =~ m{=>\s*(/\S*/libasan\.so[.\d]*)};
    return $lib // '';
}

sub sanitized { $ASAN_LIB ne '' }

if (sanitized()) {
    (my $name = basename($0)) =~ s/\.t$//;
    $SANITIZER_DIR = "$BUILD/tmp/sanitizer-$name-$$";
    $sanitizer_owner = $$;
    make_path($SANITIZER_DIR);
    # Leaks are checked when a process exits; t/lsan.supp lists what is
    # not ours (each entry says why).
    $ENV{ASAN_OPTIONS} = join ':', 'halt_on_error=1', 'detect_leaks=1',
        "log_path=$SANITIZER_DIR/asan", 'detect_stack_use_after_return=0';
    $ENV{LSAN_OPTIONS} = "suppressions=$ROOT/t/lsan.supp:print_suppressions=0";
    $ENV{UBSAN_OPTIONS} = join ':', 'halt_on_error=1', 'print_stacktrace=1',
        "log_path=$SANITIZER_DIR/ubsan";
}

# The environment Debian's nginx needs to load a sanitizer build of the
# module (nothing for a plain build).  nginx has no frame pointers, so its
# allocation stacks need the slow unwinder to be complete (see
# _nginx_own_leak).  exitcode=0: nginx leaks at exit by design (below), and
# that must not turn `nginx -t` or the daemon's parent into a failure; a
# report still fails the test through its file.
sub nginx_env {
    return () unless sanitized();
    return (LD_PRELOAD => $ASAN_LIB,
            ASAN_OPTIONS => "$ENV{ASAN_OPTIONS}:fast_unwind_on_malloc=0"
                            . ':exitcode=0');
}

# nginx itself does not free everything before it exits: a worker's
# connection and event arrays (ngx_event_process_init), the first cycle's
# pool of `nginx -t` and of the daemon's parent, PCRE2 compile contexts.
# Its static functions have no symbols in Debian's binary, so no
# suppression (t/lsan.supp) can name them without hiding our leaks too.
# The rule instead: a leak is nginx's own when no frame of its allocation
# stack is ours (our sources, build or functions, or hiredis, which only
# our module calls) and it was allocated inside /usr/sbin/nginx.
sub _nginx_own_leak {
    my ($block) = @_;
    my @frames = $block =~ /^\s*#\d+ (.*)$/mg;
    return 0 unless grep { m{\(/usr/sbin/nginx\+} } @frames;
    return !grep { /\Q$ROOT\E|\Q$BUILD\E|ngx_http_ticket_|libhiredis/ } @frames;
}

# A report's text without nginx's own leaks; empty when nothing is left.
sub _sanitizer_filter {
    my ($text) = @_;
    return $text unless $text =~ /ERROR: LeakSanitizer/
                        && $text !~ /ERROR: AddressSanitizer|runtime error/;
    my @blocks = grep { !_nginx_own_leak($_) }
                 $text =~ /^((?:Direct|Indirect) leak of .*?)(?=^\S|\z)/msg;
    return @blocks ? join("\n", "LeakSanitizer (nginx's own leaks left out):", @blocks) : '';
}

# Reports not shown yet: sanitizer log files, and sanitizer lines in the
# given logs (where a report goes when its log file cannot be written).
sub _sanitizer_reports {
    my (@logs) = @_;
    return () unless $SANITIZER_DIR;
    my @out;
    for my $f (sort glob "$SANITIZER_DIR/*") {
        next if $sanitizer_seen{$f}++;
        my $text = _sanitizer_filter(_slurp($f));
        push @out, "--- $f\n$text" if length $text;
    }
    for my $f (@logs) {
        my @lines = grep { /ERROR: \w*Sanitizer|runtime error:|SUMMARY: \w*Sanitizer/ }
                    split /\n/, _slurp($f);
        push @out, "--- $f\n" . join("\n", @lines) if @lines;
    }
    return @out;
}

# Called as each stack stops and at the end: a report makes the test file
# fail (its exit status), with the report as a diagnostic.
sub check_sanitizers {
    my (@logs) = @_;
    my @reports = _sanitizer_reports(@logs) or return 1;
    $sanitizer_failed = 1;
    diag("SANITIZER REPORT (the test fails):\n" . join "\n", @reports);
    return 0;
}

sub _sanitizer_end {
    return unless $SANITIZER_DIR && $$ == $sanitizer_owner;
    check_sanitizers();
    if ($sanitizer_failed) {
        diag("sanitizer reports kept in $SANITIZER_DIR");
    } elsif (!$ENV{TICKET_KEEP}) {
        remove_tree($SANITIZER_DIR);
    }
}

sub new {
    my ($class, %opt) = @_;

    my $name = basename($0);
    $name =~ s/\.t$//;
    my $dir = "$BUILD/tmp/$name-$$";
    # A second instance in the same test (e.g. two NGINX sharing a Redis).
    $dir .= '-' . (@instances + 1) if grep { $_->{dir} eq $dir } @instances;
    remove_tree($dir);
    make_path($dir);

    my $self = bless {
        owner => $$,
        opt   => \%opt,
        dir   => $dir,
        procs => {},
        json  => JSON::PP->new->utf8->canonical,
        http  => HTTP::Tiny->new(timeout => 30, max_redirect => 0,
                                 keep_alive => 1),
    }, $class;
    push @instances, $self;

    $self->_write_secrets;

    if ($opt{mysql} || $opt{worker} || $opt{demo}) {
        $self->start_mysql;
        $self->migrate;
        $self->load_demo if $opt{demo};
    }
    # redis_port => N: use that (another instance's) Redis, start none.
    $self->{redis_port} = $opt{redis_port} if $opt{redis_port};
    $self->start_redis if $opt{redis} && !$opt{redis_port};
    $self->start_gateway if $opt{gateway};
    $self->start_worker if $opt{worker};
    $self->start_nginx if $opt{nginx} // 1;

    return $self;
}

sub dir { $_[0]{dir} }
sub port { $_[0]{nginx_port} }
sub secret_file { "$_[0]{dir}/secret.key" }
sub previous_secret_file { "$_[0]{dir}/previous.key" }
sub url { my ($self, $path) = @_; "http://127.0.0.1:$self->{nginx_port}$path" }

sub free_port {
    my $sock = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1',
                                     LocalPort => 0, Proto => 'tcp',
                                     ReuseAddr => 1)
        or die "no free port: $!";
    my $port = $sock->sockport;
    close $sock;
    return $port;
}

sub _write_file {
    my ($path, $text, $mode) = @_;
    open my $fh, '>', $path or die "$path: $!";
    print $fh $text;
    close $fh;
    chmod $mode, $path if defined $mode;
}

sub _slurp {
    my ($path) = @_;
    open my $fh, '<', $path or return '';
    local $/;
    # (undef when a /proc file's process ended after the open)
    return scalar(<$fh>) // '';
}

sub _write_secrets {
    my ($self) = @_;
    _write_file($self->secret_file, "test-secret-" . $$ . "-0123456789abcdef\n",
                0600);
    _write_file($self->previous_secret_file,
                "old-secret-" . $$ . "-fedcba9876543210\n", 0600);
}

# Secrets as the codec sees them: the file's bytes without white space.
sub secret {
    my ($self, $which) = @_;
    my $text = _slurp($which && $which eq 'previous'
                      ? $self->previous_secret_file : $self->secret_file);
    $text =~ s/^\s+|\s+$//g;
    return $text;
}

# Mints a token exactly as common/ticket_token.c does, for tests that need
# a session without going through the worker.
sub mint_token {
    my ($self, %t) = @_;
    my $room = $t{room} // '';
    my $now = time;
    my $payload = pack('CCCC Q> Q> Q> Q>', 1, $t{kind} // 1, length $room, 0,
                       $t{user} // 1, $t{number} // 1,
                       int($t{issued} // $now),
                       int($t{expires} // $now + 3600)) . $room;
    my $p = _b64url($payload);
    my $key = $t{key} // $self->secret;
    return $p . '.' . _b64url(hmac_sha256($p, $key));
}

sub session_cookie {
    my ($self, $user, %t) = @_;
    return 'ticket_session=' . $self->mint_token(kind => 1, user => $user,
                                                  number => $t{session} // 1,
                                                  %t);
}

sub _b64url {
    my $s = encode_base64($_[0], '');
    $s =~ tr{+/}{-_};
    $s =~ s/=+$//;
    return $s;
}

# --- processes ---------------------------------------------------------------

sub _spawn {
    my ($self, $name, @cmd) = @_;
    my $log = "$self->{dir}/$name.log";
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>>', $log;
        open STDERR, '>>', $log;
        setpgrp(0, 0);
        exec @cmd or die "exec $cmd[0]: $!";
    }
    $self->{procs}{$name} = $pid;
    return $pid;
}

sub _stop_proc {
    my ($self, $name, $signal) = @_;
    my $pid = delete $self->{procs}{$name} or return;
    kill $signal // 'TERM', $pid;
    my $deadline = time + 20;
    while (time < $deadline) {
        return if waitpid($pid, WNOHANG) == $pid;
        sleep 0.05;
    }
    kill 'KILL', $pid;
    waitpid($pid, 0);
}

sub wait_until {
    my ($what, $timeout, $cond) = @_;
    my $deadline = time + $timeout;
    while (time < $deadline) {
        return 1 if $cond->();
        sleep 0.05;
    }
    die "timed out waiting for $what\n";
}

sub _port_open {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Proto => 'tcp', Timeout => 1);
    return 0 unless $s;
    close $s;
    return 1;
}

# --- MariaDB -----------------------------------------------------------------

# One data directory made by mariadb-install-db serves as the template for
# every test, copied per test: installing takes seconds, copying does not.
sub _mysql_template {
    my $template = "$BUILD/tmp/mariadb-template";
    my $lock = "$BUILD/tmp/mariadb-template.lock";
    make_path("$BUILD/tmp");
    open my $lfh, '>', $lock or die "$lock: $!";
    flock($lfh, LOCK_EX) or die "flock: $!";
    if (!-e "$template/.done") {
        remove_tree($template);
        make_path($template);
        my $out = `mariadb-install-db --no-defaults --datadir=$template --user=root --auth-root-authentication-method=normal --skip-test-db 2>&1`;
        die "mariadb-install-db failed:\n$out" if $?;
        _write_file("$template/.done", "ok\n");
    }
    close $lfh;
    return $template;
}

sub mysql_port { $_[0]{mysql_port} }
sub mysql_socket { "$_[0]{dir}/mysql.sock" }

sub start_mysql {
    my ($self) = @_;
    my $data = "$self->{dir}/mysql";
    if (!-d $data) {
        my $template = _mysql_template();
        system('cp', '-a', $template, $data) == 0 or die "copy template";
        unlink "$data/.done";
    }
    $self->{mysql_port} //= free_port();
    $self->_spawn('mysql', 'mariadbd', '--no-defaults', "--datadir=$data",
        '--user=root', "--socket=" . $self->mysql_socket,
        "--port=$self->{mysql_port}", '--bind-address=127.0.0.1',
        "--pid-file=$self->{dir}/mysql.pid", '--skip-name-resolve',
        '--innodb-buffer-pool-size=128M', '--innodb-log-file-size=64M',
        '--innodb-flush-log-at-trx-commit=2', '--max-connections=500',
        '--skip-log-bin', "--tmpdir=$self->{dir}",
        split(' ', $ENV{TICKET_MYSQLD_ARGS} // ''));
    wait_until('MariaDB', 60, sub {
        my $sock = $self->mysql_socket;
        system("mariadb-admin --no-defaults -uroot --socket='$sock' "
               . "--connect-timeout=1 ping >/dev/null 2>&1") == 0
            and return 1;
        die "MariaDB exited:\n" . _slurp("$self->{dir}/mysql.log")
            if waitpid($self->{procs}{mysql}, WNOHANG) > 0;
        return 0;
    });
    return 1;
}

sub stop_mysql { $_[0]->_stop_proc('mysql') }

sub kill_mysql { $_[0]->_stop_proc('mysql', 'KILL') }

sub restart_mysql {
    my ($self) = @_;
    $self->stop_mysql;
    $self->start_mysql;
}

sub _mysql_cmd {
    my ($self) = @_;
    return ('mariadb', '--no-defaults', '-uroot',
            '--socket=' . $self->mysql_socket);
}

sub migrate {
    my ($self) = @_;
    local $ENV{TICKET_DB_SOCKET} = $self->mysql_socket;
    my $out = `$ROOT/scripts/migrate 2>&1`;
    die "migrations failed:\n$out" if $?;
}

sub load_demo {
    my ($self) = @_;
    local $ENV{TICKET_DB_SOCKET} = $self->mysql_socket;
    my $out = `$ROOT/scripts/demo-data 2>&1`;
    die "demo data failed:\n$out" if $?;
}

# Runs SQL in the `ticket` database; returns rows as array refs.
sub sql {
    my ($self, $sql) = @_;
    my $file = "$self->{dir}/query.sql";
    _write_file($file, $sql);
    my @cmd = ($self->_mysql_cmd, '--batch', '--skip-column-names',
               '--raw', 'ticket');
    my $cmdline = join(' ', map { "'$_'" } @cmd) . " < '$file' 2>&1";
    my $out = `$cmdline`;
    die "SQL failed: $sql\n$out" if $?;
    return [ map { [ map { $_ eq 'NULL' ? undef : $_ } split /\t/, $_, -1 ] }
             grep { length } split /\n/, $out ];
}

# Runs SQL in the `ticket` database in a client of its own, in the
# background (a transaction left open there holds its locks until the SQL
# ends); returns the client's pid for waitpid.
sub sql_background {
    my ($self, $sql) = @_;
    my $pid = fork // die "fork: $!";
    if ($pid == 0) {
        open STDOUT, '>', '/dev/null' or die "stdout: $!";
        open my $in, '|-', $self->_mysql_cmd, '--batch', 'ticket'
            or die "mariadb: $!";
        print $in $sql;
        close $in;
        POSIX::_exit($? == 0 ? 0 : 1);
    }
    return $pid;
}

sub sql_value {
    my ($self, $sql) = @_;
    my $rows = $self->sql($sql);
    return @$rows ? $rows->[0][0] : undef;
}

# --- Redis ---------------------------------------------------------------------

sub redis_port { $_[0]{redis_port} }

sub start_redis {
    my ($self) = @_;
    $self->{redis_port} //= free_port();
    make_path("$self->{dir}/redis");
    $self->_spawn('redis', 'redis-server', '--port', $self->{redis_port},
        '--bind', '127.0.0.1', '--dir', "$self->{dir}/redis",
        '--save', '', '--appendonly', 'no', '--daemonize', 'no',
        '--enable-debug-command', 'local');
    wait_until('Redis', 20, sub { _port_open($self->{redis_port}) });
}

sub stop_redis { $_[0]->_stop_proc('redis') }

# Stops Redis as a restart with persistence would: SHUTDOWN SAVE writes the
# data set to its --dir, and start_redis (same port, same dir) loads it.
sub stop_redis_saved {
    my ($self) = @_;
    my $pid = $self->{procs}{redis} or return;
    $self->redis_cli('SHUTDOWN', 'SAVE');
    wait_until('Redis to save and stop', 30,
               sub { waitpid($pid, WNOHANG) == $pid });
    delete $self->{procs}{redis};
}

sub redis_cli {
    my ($self, @args) = @_;
    my @cmd = ('redis-cli', '-p', $self->{redis_port}, @args);
    my $out = `@cmd 2>&1`;
    chomp $out;
    return $out;
}

# --- the mock payment gateway (a test double of the external party) ------------

sub gateway_port { $_[0]{gateway_port} }
sub gateway_url { "http://127.0.0.1:$_[0]{gateway_port}" }
sub gateway_secret_file { "$_[0]{dir}/gateway.key" }
sub gateway_log { "$_[0]{dir}/gateway-callbacks.log" }

sub gateway_secret {
    my ($self) = @_;
    my $text = _slurp($self->gateway_secret_file);
    $text =~ s/^\s+|\s+$//g;
    return $text;
}

sub start_gateway {
    my ($self) = @_;
    my $g = ref $self->{opt}{gateway} eq 'HASH' ? $self->{opt}{gateway} : {};
    $self->{gateway_port} //= free_port();
    # The callback goes through NGINX, whose port must be known by now.
    $self->{nginx_port} //= free_port();
    _write_file($self->gateway_secret_file,
                "gateway-secret-$$-0123456789abcdef\n", 0600)
        unless -e $self->gateway_secret_file;
    my @args = ('--port', $self->{gateway_port},
                '--secret-file', $self->gateway_secret_file,
                '--log', $self->gateway_log);
    for my $k (sort keys %$g) {
        (my $o = $k) =~ tr/_/-/;
        if ($k eq 'out_of_order') {
            push @args, $g->{$k} ? '--out-of-order' : '--no-out-of-order';
        } else {
            push @args, "--$o", $g->{$k};
        }
    }
    $self->_spawn('gateway', $^X, "$ROOT/scripts/mock-gateway", @args);
    wait_until('the mock gateway', 20, sub {
        die "the mock gateway exited:\n" . _slurp("$self->{dir}/gateway.log")
            if waitpid($self->{procs}{gateway}, WNOHANG) > 0;
        return _port_open($self->{gateway_port});
    });
}

sub stop_gateway { $_[0]->_stop_proc('gateway') }

# gateway(METHOD, PATH, $doc) -> the decoded JSON answer (status in _status)
sub gateway {
    my ($self, $method, $path, $doc) = @_;
    my $res = HTTP::Tiny->new(timeout => 10)->request($method,
        $self->gateway_url . $path, {
            headers => { 'Content-Type' => 'application/json' },
            defined $doc ? (content => $self->{json}->encode($doc)) : () });
    my $out = eval { $self->{json}->decode($res->{content}) };
    $out = { raw => $res->{content} } unless ref $out;
    $out->{_status} = $res->{status} if ref $out eq 'HASH';
    return $out;
}

sub sign_callback {
    my ($self, $body, $key) = @_;
    return Digest::SHA::hmac_sha256_hex($body, $key // $self->gateway_secret);
}

# --- the worker ----------------------------------------------------------------

sub worker_socket { "$_[0]{dir}/worker.sock" }
sub worker_priority_socket { "$_[0]{dir}/worker-priority.sock" }

sub worker_conf_text {
    my ($self) = @_;
    my %conf = (
        socket       => $self->worker_socket,
        threads      => 4,
        priority_socket  => $self->worker_priority_socket,
        priority_threads => 2,
        db_socket    => $self->mysql_socket,
        db_user      => 'root',
        db_password  => '',
        db_name      => 'ticket',
        secret_file  => $self->secret_file,
        previous_secret_file => $self->previous_secret_file,
        log_level    => 'info',
        $self->{gateway_port} ? (
            gateway_url          => $self->gateway_url,
            gateway_secret_file  => $self->gateway_secret_file,
            gateway_callback_url => $self->url('/api/payments/callback'),
        ) : (),
        $self->{redis_port} ? (redis_port => $self->{redis_port}) : (),
        %{ $self->{opt}{worker_conf} // {} },
    );
    return join '', map { "$_ = $conf{$_}\n" } sort keys %conf;
}

sub start_worker {
    my ($self) = @_;
    die "the worker is not built: run make\n" unless -x $WORKER_BIN;
    my $conf = "$self->{dir}/worker.conf";
    _write_file($conf, $self->worker_conf_text);
    unlink $self->worker_socket, $self->worker_priority_socket;
    my @wrap = $ENV{TICKET_VALGRIND}
        ? ('valgrind', '--error-exitcode=99', '--leak-check=full',
           "--log-file=$self->{dir}/valgrind-worker.%p.log") : ();
    $self->_spawn('worker', @wrap, $WORKER_BIN, '-c', $conf);
    wait_until('the worker', 30, sub {
        die "the worker exited:\n" . _slurp("$self->{dir}/worker.log")
            if waitpid($self->{procs}{worker}, WNOHANG) > 0;
        return -S $self->worker_socket && -S $self->worker_priority_socket;
    });
}

sub stop_worker { $_[0]->_stop_proc('worker') }
sub kill_worker { $_[0]->_stop_proc('worker', 'KILL') }
sub worker_pid { $_[0]{procs}{worker} }

# kill -9 and start again, as a supervisor would (after `down` seconds).
sub restart_worker {
    my ($self, %o) = @_;
    $o{kill} // 1 ? $self->kill_worker : $self->stop_worker;
    sleep $o{down} if $o{down};
    $self->start_worker;
    return $self->{procs}{worker};
}
sub worker_log { _slurp("$_[0]{dir}/worker.log") }

# --- NGINX ---------------------------------------------------------------------

sub fastcgi_params {
    my ($self) = @_;
    return <<"EOF";
fastcgi_param  QUERY_STRING       \$query_string;
fastcgi_param  REQUEST_METHOD     \$request_method;
fastcgi_param  CONTENT_TYPE       \$content_type;
fastcgi_param  CONTENT_LENGTH     \$content_length;
fastcgi_param  REQUEST_URI        \$request_uri;
fastcgi_param  DOCUMENT_URI       \$document_uri;
fastcgi_param  SERVER_PROTOCOL    \$server_protocol;
fastcgi_param  REMOTE_ADDR        \$remote_addr;
fastcgi_param  REMOTE_PORT        \$remote_port;
fastcgi_param  SERVER_NAME        \$server_name;
fastcgi_param  SERVER_PORT        \$server_port;
fastcgi_param  REQUEST_ID         \$request_id;
fastcgi_param  HTTP_TICKET_USER   "";
fastcgi_param  HTTP_TICKET_ROOM   "";
EOF
}

sub default_http {
    my ($self) = @_;
    return <<'EOF';
server {
    listen 127.0.0.1:%%PORT%%;
    root %%ROOT%%/web;

    location /api/ {
        fastcgi_pass unix:%%WORKER%%;
        %%FASTCGI%%
    }
}
EOF
}

sub _expand {
    my ($self, $text) = @_;
    my %v = (
        PORT => $self->{nginx_port}, WORKER => $self->worker_socket,
        WORKER_PRIORITY => $self->worker_priority_socket,
        SECRET => $self->secret_file,
        PREVIOUS_SECRET => $self->previous_secret_file,
        PREFIX => "$self->{dir}/nginx", ROOT => $ROOT,
        REDIS_PORT => $self->{redis_port} // 0,
        FASTCGI => $self->fastcgi_params,
    );
    $text =~ s/%%(\w+)%%/exists $v{$1} ? $v{$1} : die "unknown placeholder $1"/ge;
    return $text;
}

sub nginx_conf_text {
    my ($self, $http, $main) = @_;
    $http //= $self->{opt}{http} // $self->default_http;
    $main //= $self->{opt}{main} // '';
    my $prefix = "$self->{dir}/nginx";
    my $user = $> == 0 ? "user root root;\n" : '';
    my $workers = $self->{opt}{nginx_workers} // 2;
    # A binary upgrade (USR2) starts the new master with only the variables
    # named by `env`: a sanitizer build needs its runtime and options there.
    my $env = join '', map { "env $_;\n" } sanitized()
        ? qw(LD_PRELOAD ASAN_OPTIONS LSAN_OPTIONS UBSAN_OPTIONS) : ();
    return $self->_expand(<<"EOF");
load_module $MODULE;
${env}${user}worker_processes $workers;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log info;
$main
events { worker_connections 4096; }
http {
    access_log off;
    default_type application/octet-stream;
    client_body_temp_path $prefix/tmp/body;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    proxy_temp_path $prefix/tmp/proxy;
    scgi_temp_path $prefix/tmp/scgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
$http
}
EOF
}

sub nginx_conf_file { "$_[0]{dir}/nginx/conf/nginx.conf" }
sub nginx_pid { my $p = _slurp("$_[0]{dir}/nginx/nginx.pid"); chomp $p; $p }

sub write_nginx_conf {
    my ($self, $http, $main) = @_;
    my $prefix = "$self->{dir}/nginx";
    make_path("$prefix/conf", "$prefix/logs", "$prefix/tmp");
    _write_file($self->nginx_conf_file, $self->nginx_conf_text($http, $main));
}

# Runs `nginx -t` on a configuration; returns (ok, output).
sub nginx_test_conf {
    my ($self, $http, $main) = @_;
    $self->{nginx_port} //= free_port();
    my $prefix = "$self->{dir}/nginx";
    make_path("$prefix/conf", "$prefix/logs", "$prefix/tmp");
    my $file = "$prefix/conf/test.conf";
    _write_file($file, $self->nginx_conf_text($http, $main));
    local %ENV = (%ENV, nginx_env());
    my $out = `nginx -t -p $prefix/ -e $prefix/logs/test-error.log -c $file 2>&1`;
    return ($? == 0, $out);
}

sub start_nginx {
    my ($self) = @_;
    die "the module is not built: run make\n" unless -e $MODULE;
    $self->{nginx_port} //= free_port();
    $self->write_nginx_conf;
    my $prefix = "$self->{dir}/nginx";
    local %ENV = (%ENV, nginx_env());
    # TICKET_VALGRIND_NGINX=1 (bench/valgrind-storm): under memcheck, which
    # stays on in the forked daemon, master and workers (one log each);
    # other options come from VALGRIND_OPTS.
    my $wrap = $ENV{TICKET_VALGRIND_NGINX}
        ? "valgrind --trace-children=yes --log-file=$self->{dir}/valgrind-nginx.%p.log "
        : '';
    # By its full path: a binary upgrade (USR2) re-executes argv[0].
    my $out = `$wrap/usr/sbin/nginx -p $prefix/ -e $prefix/logs/error.log -c ${\ $self->nginx_conf_file} 2>&1`;
    die "nginx did not start:\n$out" if $?;
    wait_until('NGINX', $wrap ? 120 : 20,
               sub { _port_open($self->{nginx_port}) });
    $self->{nginx_running} = 1;
}

# Reloads with a new http block (or the same one) and waits until the
# old worker processes are gone, so the next request sees the new config.
sub reload_nginx {
    my ($self, $http, $main) = @_;
    $self->{opt}{http} = $http if defined $http;
    $self->{opt}{main} = $main if defined $main;
    my @old = $self->nginx_worker_pids;
    $self->write_nginx_conf;
    kill 'HUP', $self->nginx_pid or die "cannot signal nginx";
    wait_until('the reload', 30, sub {
        my %now = map { $_ => 1 } $self->nginx_worker_pids;
        return !grep { $now{$_} } @old;
    });
    # A fresh connection: the old one belonged to an old worker.
    $self->{http} = HTTP::Tiny->new(timeout => 30, max_redirect => 0,
                                    keep_alive => 1);
}

sub nginx_worker_pids {
    my ($self) = @_;
    my $master = $self->nginx_pid or return;
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $s = _slurp($stat);
        next unless $s =~ /^(\d+) \(nginx\) \S (\d+)/;
        push @pids, $1 if $2 == $master;
    }
    return @pids;
}

sub nginx_children_of {
    my ($self, $master) = @_;
    my @pids;
    for my $stat (glob '/proc/[0-9]*/stat') {
        my $s = _slurp($stat);
        next unless $s =~ /^(\d+) \(nginx\) (\S) (\d+)/;
        push @pids, $1 if $3 == $master && $2 ne 'Z';
    }
    return @pids;
}

# A binary upgrade as an operator does it: USR2 makes the master start a
# new master from /usr/sbin/nginx (the same -p, -c and -e), which writes
# nginx.pid (the old one moves to nginx.pid.oldbin) and starts its own
# workers; both generations serve for `overlap` seconds (`during` is called
# then, if given); WINCH stops the old workers gracefully and QUIT ends the
# old master.  Returns { old, new, overlap_s, old_workers_s, total_s }.
sub upgrade_nginx {
    my ($self, %o) = @_;
    my $old = $self->nginx_pid or die "no NGINX master\n";
    my $oldbin = "$self->{dir}/nginx/nginx.pid.oldbin";
    my $workers = $self->{opt}{nginx_workers} // 2;
    my $start = time;
    my $new;
    kill 'USR2', $old or die "cannot signal NGINX\n";
    wait_until('the new NGINX master', 30, sub {
        return 0 unless -e $oldbin;
        $new = $self->nginx_pid;
        return $new && $new != $old && kill(0, $new)
               && $self->nginx_children_of($new) >= $workers;
    });
    my $both = time;
    $o{during}->($old, $new) if $o{during};
    my $left = ($o{overlap} // 0) - (time - $both);
    sleep $left if $left > 0;
    my $winch = time;
    kill 'WINCH', $old;
    # The new master is a child of the old one too.
    wait_until('the old NGINX workers to finish', 60,
               sub { !grep { $_ != $new } $self->nginx_children_of($old) });
    my $gone = time;
    kill 'QUIT', $old;
    wait_until('the old NGINX master to exit', 30, sub { !kill 0, $old });
    $self->{http} = HTTP::Tiny->new(timeout => 30, max_redirect => 0,
                                    keep_alive => 1);
    return { old => $old, new => $new, overlap_s => $winch - $both,
             old_workers_s => $gone - $winch, total_s => time - $start };
}

sub stop_nginx {
    my ($self) = @_;
    return unless $self->{nginx_running};
    my $pid = $self->nginx_pid;
    $self->{nginx_running} = 0;
    # The old master of a binary upgrade that did not finish.
    my $oldbin = _slurp("$self->{dir}/nginx/nginx.pid.oldbin");
    kill 'QUIT', $1 if $oldbin =~ /^(\d+)/ && $1 != ($pid || 0);
    return unless $pid && kill 0, $pid;
    kill 'QUIT', $pid;
    my $deadline = time + 10;
    while (time < $deadline && kill 0, $pid) { sleep 0.05 }
    kill 'KILL', $pid if kill 0, $pid;
}

sub error_log { _slurp("$_[0]{dir}/nginx/logs/error.log") }

# A test: the error log has no alert, emergency or crashed worker.
sub log_is_clean {
    my ($self, $name) = @_;
    my @bad = grep { /\[(alert|emerg|crit)\]|exited on signal|AddressSanitizer|runtime error/ }
              split /\n/, $self->error_log;
    ok(!@bad, $name // 'the NGINX error log has no alert or crash')
        or diag(join "\n", @bad[0 .. ($#bad < 9 ? $#bad : 9)]);
}

# --- HTTP ----------------------------------------------------------------------

# request(METHOD, PATH, json => ref | body => text, headers => {},
#         cookie => text) -> { status, headers, body, json }
sub request {
    my ($self, $method, $path, %o) = @_;
    my %h = %{ $o{headers} // {} };
    my $content = $o{body};
    if (exists $o{json}) {
        $content = $self->{json}->encode($o{json});
        $h{'Content-Type'} //= 'application/json';
    }
    $h{'Accept'} //= 'application/json';
    $h{'Cookie'} = $o{cookie} if defined $o{cookie};
    my $res = $self->{http}->request($method, $self->url($path), {
        headers => \%h,
        defined $content ? (content => $content) : (),
    });
    my $r = { status => $res->{status}, headers => $res->{headers},
              body => $res->{content} // '' };
    if (($res->{headers}{'content-type'} // '') =~ m{application/json}) {
        $r->{json} = eval { $self->{json}->decode($r->{body}) };
    }
    return $r;
}

sub get { my ($self, $path, %o) = @_; $self->request('GET', $path, %o) }
sub post { my ($self, $path, %o) = @_; $self->request('POST', $path, %o) }
sub del { my ($self, $path, %o) = @_; $self->request('DELETE', $path, %o) }

# Cookies from a response, as "a=b; c=d" for the next request.
sub cookies_of {
    my ($self, $r) = @_;
    my $set = $r->{headers}{'set-cookie'} // [];
    $set = [$set] unless ref $set;
    return join '; ', map { (split /;/, $_)[0] } @$set;
}

# --- teardown ------------------------------------------------------------------

# Only the process that started the stack stops it: a forked child of a
# test that exits must leave the servers running.
sub stop_all {
    my ($self) = @_;
    return if $$ != $self->{owner} || $self->{stopped}++;
    $self->stop_nginx;
    $self->_stop_proc($_) for grep { $_ ne 'mysql' } keys %{ $self->{procs} };
    $self->stop_mysql;
    my $clean = check_sanitizers("$self->{dir}/worker.log",
                                 "$self->{dir}/nginx/logs/error.log");
    # A test that died (its exit status, at the end) still "is passing".
    $clean &&= !(${^GLOBAL_PHASE} eq 'END' && $?);
    if (!$ENV{TICKET_KEEP} && $clean && Test::More->builder->is_passing) {
        remove_tree($self->{dir});
    } else {
        diag("kept $self->{dir}");
    }
}

sub DESTROY { $_[0]->stop_all }

END {
    my $status = $?;
    $_->stop_all for @instances;
    _sanitizer_end();
    $? = $status || ($sanitizer_failed ? 1 : 0);
}

$SIG{INT} = $SIG{TERM} = sub { $_->stop_all for @instances; exit 1 };

1;
