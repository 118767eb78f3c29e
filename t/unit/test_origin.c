/* Unit tests for worker/origin.c: Origin/Referer against Host. */

#include <string.h>

#include "origin.h"
#include "tap.h"


static void
test_authority(void)
{
    char  out[ORIGIN_AUTHORITY_MAX];

    tap_is_int(origin_authority("https://Shop.Example/x?y", out, sizeof(out)),
               0, "https URL");
    tap_ok(strcmp(out, "shop.example:443") == 0, "lower case, port 443");
    tap_is_int(origin_authority("http://127.0.0.1:8080", out, sizeof(out)), 0,
               "http with a port");
    tap_ok(strcmp(out, "127.0.0.1:8080") == 0, "the port is kept");
    tap_is_int(origin_authority("http://[::1]:81/", out, sizeof(out)), 0,
               "IPv6 literal");
    tap_ok(strcmp(out, "[::1]:81") == 0, "brackets kept");
    tap_is_int(origin_authority("null", out, sizeof(out)), -1,
               "Origin: null is no origin");
    tap_is_int(origin_authority("ftp://x.example", out, sizeof(out)), -1,
               "other schemes refused");
    tap_is_int(origin_authority("http://a@b.example", out, sizeof(out)), -1,
               "user info refused");
    tap_is_int(origin_authority("http://", out, sizeof(out)), -1,
               "empty host");
    tap_is_int(origin_authority("http://x.example:", out, sizeof(out)), -1,
               "empty port");
    tap_is_int(origin_authority("http://x.example:65536", out, sizeof(out)),
               -1, "port out of range");
    tap_is_int(origin_authority("http://x.example:0", out, sizeof(out)), -1,
               "port 0");
    tap_is_int(origin_authority("http://[::1", out, sizeof(out)), -1,
               "unclosed bracket");
    tap_is_int(origin_authority("http://x.example", out, 8), -1,
               "no room in out");
}


static void
test_same(void)
{
    tap_ok(origin_is_same("http://127.0.0.1:8080", "127.0.0.1:8080", 0),
           "same host and port");
    tap_ok(origin_is_same("http://127.0.0.1:8080/page", "127.0.0.1:8080", 0),
           "a Referer with a path");
    tap_ok(origin_is_same("https://shop.example", "SHOP.example", 1),
           "default ports on both sides");
    tap_ok(origin_is_same("https://shop.example", "shop.example:443", 1),
           "explicit default port");
    tap_ok(!origin_is_same("http://shop.example", "shop.example", 1),
           "http origin to an https host");
    tap_ok(!origin_is_same("http://127.0.0.1:9999", "127.0.0.1:8080", 0),
           "another port");
    tap_ok(!origin_is_same("http://evil.example", "shop.example", 0),
           "another host");
    tap_ok(!origin_is_same("http://shop.example.evil.example",
                           "shop.example", 0), "a longer host");
    tap_ok(!origin_is_same("null", "shop.example", 0), "null origin");
    tap_ok(!origin_is_same("http://shop.example", NULL, 0), "no Host");
    tap_ok(!origin_is_same("http://shop.example", "shop.example:x", 0),
           "a bad Host");
}


int
main(void)
{
    test_authority();
    test_same();
    return tap_done();
}
