#!/usr/bin/perl
# Runs each C unit test (build/t/test_*, built by `make unit`) as a subtest;
# each prints TAP of its own.  TICKET_BUILD runs another build's (as
# t/lib/TicketTest.pm does); a sanitizer report fails the test binary.
use strict;
use warnings;
use FindBin;
use Test::More;

my $dir = $ENV{TICKET_BUILD} || 'build';
my $build = ($dir =~ m{^/} ? $dir : "$FindBin::Bin/../$dir") . '/t';
my @tests = sort glob "$build/test_*";
plan skip_all => 'no unit tests built: run make' unless @tests;

for my $bin (@tests) {
    my $name = (split m{/}, $bin)[-1];
    my $out = `$bin 2>&1`;
    my $rc = $? >> 8;
    my @not_ok = grep { /^not ok/ } split /\n/, $out;
    my ($plan) = $out =~ /^1\.\.(\d+)$/m;
    ok($rc == 0 && !@not_ok && $plan, "$name passes ($plan checks)")
        or diag($out);
}

done_testing;
