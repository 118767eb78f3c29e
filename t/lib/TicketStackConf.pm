package TicketStackConf;

# The http block of conf/nginx.conf.in, the configuration the stack ships,
# ready for TicketTest: its placeholders mapped to the harness's and the
# lines the harness writes itself left out.  Tests of what that file
# configures (limits, origin checks) run against the very text.

use strict;
use warnings;

use File::Path ();

# http_block($t [, $file]): another file in the same form (a variant of
# conf/nginx.conf.in to compare with, as bench/edge/run's BENCH_CONF).
sub http_block {
    my ($t, $file) = @_;
    $file //= "$TicketTest::ROOT/conf/nginx.conf.in";
    open my $fh, '<', $file or die "$file: $!";
    my $text = do { local $/; <$fh> };
    close $fh;
    $text =~ /^http \{\n(.*)^\}\s*\z/ms or die "no http block in $file";
    my $http = $1;
    $http =~ s/^ {4}(default_type|\w+_temp_path)\b[^;]*;\n//mg;
    my $dir = $t->dir;
    $http =~ s/%%VAR%%/$dir/g;
    # NGINX makes the cache's last directory only.
    File::Path::make_path("$dir/nginx/cache");
    return $http;
}

1;
