/* Unit tests for worker/encoding.c: Accept-Encoding and gzip. */

#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "encoding.h"
#include "tap.h"


static void
test_accepts_gzip(void)
{
    static const struct {
        const char  *header;
        int          gzip;
    } cases[] = {
        { NULL, 0 },
        { "", 0 },
        { "identity", 0 },
        { "gzip", 1 },
        { "GZip", 1 },
        { "x-gzip", 1 },
        { "gzip, deflate, br", 1 },
        { "br, gzip", 1 },
        { "deflate,gzip;q=0.8", 1 },
        { "gzip;q=1.0", 1 },
        { "gzip; q=0.001", 1 },
        { "gzip;Q=0.5", 1 },
        { "gzip;q=0", 0 },
        { "gzip;q=0.000", 0 },
        { "gzip ; q = 0", 0 },
        { "gzip;q=bad", 0 },
        { "gzipx", 0 },
        { "xgzip", 0 },
        { "*", 1 },
        { "*;q=0", 0 },
        { "*, gzip;q=0", 0 },
        { "gzip;q=0, *", 0 },
        { "br;q=0.9, *;q=0.1", 1 },
        { "deflate;q=0, br", 0 },
        { "  gzip  ", 1 },
        { ",,gzip", 1 },
        { "gzip;level=1", 1 },
        { "gzip;level=1;q=0", 0 },
    };

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        tap_is_int(http_accepts_gzip(cases[i].header), cases[i].gzip,
                   cases[i].header ? cases[i].header : "(no header)");
    }
}


static void
test_gzip_round_trip(void)
{
    char     *in, *gz, *back;
    size_t    n = 40000, gz_len;
    uLongf    back_len;
    z_stream  zs;
    int       rc;

    in = malloc(n);
    back = malloc(n + 1);
    for (size_t i = 0; i < n; i++) {
        in[i] = "ahs"[(i * 7 + i / 13) % 3];
    }
    tap_is_int(gzip_compress(in, n, &gz, &gz_len), 0, "compresses");
    tap_ok(gz_len > 10 && gz_len < n / 4, "to less than a quarter (%zu)",
           gz_len);
    tap_ok((unsigned char) gz[0] == 0x1f && (unsigned char) gz[1] == 0x8b,
           "with a gzip header");

    memset(&zs, 0, sizeof(zs));
    inflateInit2(&zs, 15 + 16);
    zs.next_in = (Bytef *) gz;
    zs.avail_in = (uInt) gz_len;
    zs.next_out = (Bytef *) back;
    zs.avail_out = (uInt) n + 1;
    rc = inflate(&zs, Z_FINISH);
    back_len = zs.total_out;
    inflateEnd(&zs);
    tap_is_int(rc, Z_STREAM_END, "gunzips");
    tap_ok(back_len == n && memcmp(in, back, n) == 0, "to the same bytes");

    free(gz);
    tap_is_int(gzip_compress("", 0, &gz, &gz_len), 0, "an empty body too");
    free(gz);
    free(in);
    free(back);
}


int
main(void)
{
    test_accepts_gzip();
    test_gzip_round_trip();
    return tap_done();
}
