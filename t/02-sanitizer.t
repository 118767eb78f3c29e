#!/usr/bin/perl
# The sanitizer pass checks itself: with a sanitizer build (scripts/test's
# second pass, TICKET_BUILD=build/asan) the worker and every NGINX process
# really run with ASan and write their reports where the harness reads
# them.  In both passes: the harness's rule for nginx's own leaks keeps
# every leak with a frame of ours.
use strict;
use warnings;
use lib 't/lib';
use Test::More;
use TicketTest;

my $root = $TicketTest::ROOT;

# --- which LeakSanitizer reports fail a test ----------------------------------

my $nginx_only = <<'EOF';
==1==ERROR: LeakSanitizer: detected memory leaks

Indirect leak of 983040 byte(s) in 1 object(s) allocated from:
    #0 0x7f96c12b89cf in __interceptor_malloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:69
    #1 0x564cdfd97cfe in ngx_alloc (/usr/sbin/nginx+0x4ccfe)
    #2 0x564cdfd92af7  (/usr/sbin/nginx+0x47af7)
    #3 0x564cdfd9b212 in ngx_spawn_process (/usr/sbin/nginx+0x50212)
    #4 0x564cdfd703ad in main (/usr/sbin/nginx+0x253ad)
    #5 0x7f96c0a45249 in __libc_start_call_main ../sysdeps/nptl/libc_start_call_main.h:58

SUMMARY: AddressSanitizer: 983040 byte(s) leaked in 1 allocation(s).
EOF
is(TicketTest::_sanitizer_filter($nginx_only), '',
   "a leak allocated by nginx alone is nginx's own");

(my $ours = $nginx_only)
    =~ s{#2 .*}{#2 0x7f00 in ngx_http_ticket_zone_save $root/ngx_ticket_module/ngx_http_ticket_zone.c:760};
like(TicketTest::_sanitizer_filter($ours), qr/ngx_http_ticket_zone_save/,
     'a leak with a frame of our module is reported');

(my $hiredis = $nginx_only)
    =~ s{#2 .*}{#2 0x7f00 in redisAsyncConnect (/lib/x86_64-linux-gnu/libhiredis.so.0.14+0x9f00)};
like(TicketTest::_sanitizer_filter($hiredis), qr/redisAsyncConnect/,
     'a leak in hiredis (which only our module calls) is reported');

(my $worker = $nginx_only)
    =~ s{\(/usr/sbin/nginx\+0x\w+\)}{($root/build/worker/ticket-worker+0x10)}g;
like(TicketTest::_sanitizer_filter($worker), qr/leak of/,
     'a leak in the worker is reported');

my $error = "==7==ERROR: AddressSanitizer: heap-buffer-overflow on address 0x1\n"
          . "    #0 0x5 in ngx_alloc (/usr/sbin/nginx+0x4ccfe)\n";
is(TicketTest::_sanitizer_filter($error), $error,
   'a memory error is always reported, wherever it is');

# --- the processes of a sanitizer build ----------------------------------------

SKIP: {
    skip 'a plain build (the sanitizer pass runs this part)', 7
        unless TicketTest::sanitized();

    my $t = TicketTest->new(mysql => 1, worker => 1);
    is($t->get('/api/events')->{status}, 200, 'the stack answers');

    my %procs = (worker => $t->{procs}{worker},
                 'the NGINX master' => $t->nginx_pid);
    my @workers = $t->nginx_worker_pids;
    $procs{'an NGINX worker'} = $workers[0];
    for my $what (sort keys %procs) {
        my $pid = $procs{$what};
        like(TicketTest::_slurp("/proc/$pid/maps"), qr/libasan/,
             "$what runs with ASan");
    }
    # (NGINX writes its process titles over its environment, so only the
    # worker's can be read; NGINX's runtime reads the same options when
    # the master starts, and its workers inherit them.)
    my $env = TicketTest::_slurp("/proc/$procs{worker}/environ");
    like($env, qr/ASAN_OPTIONS=[^\0]*log_path=\Q$TicketTest::SANITIZER_DIR\E/,
         'reports go where the harness reads them');
    like($env, qr/UBSAN_OPTIONS=[^\0]*halt_on_error=1/,
         'UBSan stops at the first error');
    $t->log_is_clean;
}

done_testing;
