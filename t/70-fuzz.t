#!/usr/bin/perl
# The libFuzzer targets of fuzz/ (token codec, request bodies, query
# strings/cookies/ids/origins, routing, the module's cookie, time and index
# parsing), each for a bounded time over the corpus in fuzz/corpus/, which
# also replays every input that once found a bug.
#
#   TICKET_FUZZ_SECONDS=600 prove t/70-fuzz.t     longer, on demand
#   fuzz/run -t 3600 fuzz_json                     one target (fuzz/README.md)
use strict;
use warnings;
use FindBin;
use Test::More;

my $root = "$FindBin::Bin/..";
my $seconds = $ENV{TICKET_FUZZ_SECONDS} // 10;

plan skip_all => 'clang is not installed (scripts/install-deps adds it)'
    unless system('command -v clang >/dev/null 2>&1') == 0;

# The targets are clang ASan+UBSan builds whatever the build flavour, so
# the sanitizer pass of scripts/test (TICKET_BUILD=build/asan) would only
# repeat what the plain pass ran.
my $build = $ENV{TICKET_BUILD} || 'build';
$build = "$root/$build" unless $build =~ m{^/};
plan skip_all => 'the fuzz targets are sanitizer builds already; the plain '
               . 'pass runs them'
    if -e "$build/.flavor-sanitize";

my $out = `make -s -j2 -C $root fuzz 2>&1`;
if (!is($?, 0, 'make fuzz builds the targets')) {
    diag("make fuzz:\n$out");
    done_testing;
    exit;
}

my @targets = map { m{/(fuzz_\w+)\.c$} ? $1 : () } sort glob "$root/fuzz/fuzz_*.c";
ok(@targets >= 5, 'five fuzz targets or more: ' . join ' ', @targets);

for my $target (@targets) {
    my @corpus = glob "$root/fuzz/corpus/$target/*";
    ok(@corpus > 0, "$target has a seed corpus");
    my $res = `$root/fuzz/run -t $seconds $target 2>&1`;
    my $rc = $?;
    my ($execs) = $res =~ /number_of_executed_units:\s*(\d+)/;
    ok($rc == 0, "$target: no crash, leak or failed check in ${seconds}s"
                 . ($execs ? " ($execs runs)" : ''))
        or diag($res);
}

done_testing;
