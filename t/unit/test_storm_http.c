/*
 * Unit tests of the load generator's pure parts: the incremental HTTP/1.1
 * response parser (lengths, chunks, keep-alive, bytes split anywhere), the
 * cookie jar, the log-bucket latency histogram, the JSON reader and the
 * seat map reader.  The sources are included, not linked, so that the test
 * needs nothing but them.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "../../bench/storm/hist.c"
#include "../../bench/storm/http.c"
#include "../../bench/storm/json.c"
#include "../../bench/storm/seatmap.c"
#include "tap.h"

#define FEED(r, text)  http_resp_feed(r, text, strlen(text), &used)


/* Feeds text in pieces of step bytes; returns the final parser result. */
static int
feed_steps(http_resp_t *r, const char *text, size_t step, size_t *total)
{
    int     rc;
    size_t  off, len, used;

    off = 0;
    rc = HTTP_AGAIN;
    *total = 0;

    while (off < strlen(text)) {
        len = strlen(text) - off;

        if (len > step) {
            len = step;
        }

        rc = http_resp_feed(r, text + off, len, &used);
        *total += used;

        if (rc != HTTP_AGAIN) {
            return rc;
        }

        off += len;
    }

    return rc;
}


static void
test_content_length(void)
{
    int          rc;
    size_t       used, step, vlen;
    const char  *v;
    http_resp_t  r;
    const char  *text =
        "HTTP/1.1 201 Created\r\n"
        "Content-Type: application/json\r\n"
        "Set-Cookie: a=1; Path=/\r\n"
        "Content-Length: 13\r\n"
        "set-cookie: b=2\r\n"
        "\r\n"
        "{\"hold_id\":7}";

    for (step = 1; step <= 7; step += 3) {
        http_resp_init(&r);
        rc = feed_steps(&r, text, step, &used);
        tap_is_int(rc, HTTP_DONE, "content-length response completes");
        tap_is_int(r.status, 201, "status 201");
        tap_is_int(r.keep_alive, 1, "HTTP/1.1 keeps the connection");
        tap_is_int(used, strlen(text), "every byte belongs to it");
        tap_is_str(r.body, "{\"hold_id\":7}", "the body");
        http_resp_free(&r);
    }

    http_resp_init(&r);
    feed_steps(&r, text, 1000, &used);
    tap_ok(http_resp_header(&r, "set-cookie", 1, &v, &vlen)
           && vlen == 3 && memcmp(v, "b=2", 3) == 0,
           "the second Set-Cookie, any case");
    tap_ok(!http_resp_header(&r, "set-cookie", 2, &v, &vlen),
           "no third Set-Cookie");
    tap_ok(http_resp_header(&r, "CONTENT-TYPE", 0, &v, &vlen)
           && vlen == 16, "header lookup ignores case and trims");
    http_resp_free(&r);
}


static void
test_chunked(void)
{
    int          rc;
    size_t       used, step;
    http_resp_t  r;
    const char  *text =
        "HTTP/1.1 200 OK\r\n"
        "Transfer-Encoding: chunked\r\n"
        "\r\n"
        "5\r\nhello\r\n"
        "7;ext=1\r\n, world\r\n"
        "0\r\n"
        "X-Trailer: 1\r\n"
        "\r\n";

    for (step = 1; step <= 13; step += 4) {
        http_resp_init(&r);
        rc = feed_steps(&r, text, step, &used);
        tap_is_int(rc, HTTP_DONE, "chunked response completes");
        tap_is_str(r.body, "hello, world", "chunks joined, trailer skipped");
        tap_is_int(used, strlen(text), "up to the last byte");
        http_resp_free(&r);
    }

    http_resp_init(&r);
    rc = feed_steps(&r, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                    "zz\r\n", 100, &used);
    tap_is_int(rc, HTTP_ERROR, "a bad chunk size is an error");
    http_resp_free(&r);
}


static void
test_keep_alive_pipeline(void)
{
    int          rc;
    size_t       used;
    http_resp_t  r;
    const char  *two =
        "HTTP/1.1 304 Not Modified\r\nETag: \"1.2.3\"\r\n\r\n"
        "HTTP/1.1 409 Conflict\r\nContent-Length: 2\r\n\r\n{}";

    http_resp_init(&r);
    rc = http_resp_feed(&r, two, strlen(two), &used);
    tap_is_int(rc, HTTP_DONE, "304 ends at its head");
    tap_is_int(r.status, 304, "status 304");
    tap_is_int(r.body_len, 0, "304 has no body");

    http_resp_reset(&r, 0);
    rc = http_resp_feed(&r, two + used, strlen(two) - used, &used);
    tap_is_int(rc, HTTP_DONE, "the next response parses after a reset");
    tap_is_int(r.status, 409, "status 409");
    tap_is_str(r.body, "{}", "its body");
    http_resp_free(&r);

    http_resp_init(&r);
    rc = FEED(&r, "HTTP/1.1 200 OK\r\nConnection: close\r\n"
              "Content-Length: 0\r\n\r\n");
    tap_is_int(rc, HTTP_DONE, "an empty body");
    tap_is_int(r.keep_alive, 0, "Connection: close");
    http_resp_free(&r);

    http_resp_init(&r);
    rc = FEED(&r, "HTTP/1.0 200 OK\r\n\r\nuntil the end");
    tap_is_int(rc, HTTP_AGAIN, "no length: the body runs to the close");
    tap_is_int(http_resp_eof(&r), HTTP_DONE, "the close ends it");
    tap_is_str(r.body, "until the end", "the whole body");
    tap_is_int(r.keep_alive, 0, "HTTP/1.0 closes");
    http_resp_free(&r);

    http_resp_init(&r);
    rc = FEED(&r, "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\nabc");
    tap_is_int(rc, HTTP_AGAIN, "a body still short");
    tap_is_int(http_resp_eof(&r), HTTP_ERROR, "a short body is an error");
    http_resp_free(&r);

    http_resp_init(&r);
    rc = FEED(&r, "HTTP/1.1 100 Continue\r\n\r\n"
              "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx");
    tap_ok(rc == HTTP_DONE && r.status == 200 && r.body_len == 1,
           "an interim 100 is skipped");
    http_resp_free(&r);

    http_resp_init(&r);
    rc = FEED(&r, "SSH-2.0-OpenSSH\r\n\r\n");
    tap_is_int(rc, HTTP_ERROR, "not HTTP is an error");
    http_resp_free(&r);
}


static void
test_cookies(void)
{
    char         jar[512];
    size_t       len;
    const char  *v;

    jar[0] = '\0';
    tap_is_int(http_cookie_set(jar, sizeof(jar), "ticket_session=abc; Path=/",
                               25), 0, "set a cookie");
    http_cookie_set(jar, sizeof(jar), "ticket_q_storm=q1; HttpOnly", 27);
    tap_is_str(jar, "ticket_session=abc; ticket_q_storm=q1", "two cookies");
    http_cookie_set(jar, sizeof(jar), "ticket_q_storm=q2", 17);
    tap_is_str(jar, "ticket_session=abc; ticket_q_storm=q2",
               "the same name replaces");
    http_cookie_set(jar, sizeof(jar), "ticket_q_storm=; Max-Age=0", 26);
    tap_is_str(jar, "ticket_session=abc", "Max-Age=0 removes");
    v = http_cookie_get("a=1; ab=2; b=3", "ab", &len);
    tap_ok(v != NULL && len == 1 && *v == '2', "get by exact name");
    tap_ok(http_cookie_get("a=1", "b", &len) == NULL, "absent cookie");
    tap_is_int(http_cookie_set(jar, 10, "x=0123456789", 12), -1,
               "a full jar refuses");
}


static void
test_hist(void)
{
    size_t    i;
    uint64_t  v, prev;
    hist_t    h, g;
    int       ok;

    ok = 1;
    prev = 0;

    for (v = 0; v < 5000000; v = v < 100 ? v + 1 : v + v / 7) {
        i = hist_index(v);

        if (i < prev || hist_bucket_low(i) > v || hist_bucket_high(i) < v
            || (v >= 16 && (hist_bucket_high(i) - hist_bucket_low(i) + 1)
                           * 16 > v + v / 8))
        {
            ok = 0;
            printf("# value %llu index %zu [%llu, %llu]\n",
                   (unsigned long long) v, i,
                   (unsigned long long) hist_bucket_low(i),
                   (unsigned long long) hist_bucket_high(i));
            break;
        }

        prev = i;
    }

    tap_ok(ok, "buckets are monotonic, hold their value, ~6%% wide");
    tap_is_int(hist_index(UINT64_MAX), HIST_BUCKETS - 1,
               "huge values land in the last bucket");

    hist_init(&h);

    for (v = 1; v <= 1000; v++) {
        hist_record(&h, v * 1000);
    }

    tap_is_int(h.count, 1000, "count");
    v = hist_quantile(&h, 0.5);
    tap_ok(v >= 500000 && v <= 500000 * 107 / 100, "p50 within 7%%");
    v = hist_quantile(&h, 0.99);
    tap_ok(v >= 990000 && v <= 1000000, "p99 within the max");
    tap_is_int(hist_quantile(&h, 1.0), 1000000, "p100 is the exact max");
    tap_is_int(hist_quantile(&h, 0), 1000, "p0 is the exact min");

    hist_init(&g);
    hist_record(&g, 5);
    hist_add(&g, &h);
    tap_is_int(g.count, 1001, "added counts");
    tap_is_int(g.min, 5, "added min");
    tap_is_int(g.max, 1000000, "added max");

    hist_init(&g);
    tap_is_int(hist_quantile(&g, 0.5), 0, "empty histogram");
}


static void
test_json(void)
{
    int64_t      n;
    int          b;
    char         s[32];
    json_iter_t  it;
    json_span_t  v, item;
    const char  *js =
        "{\"status\":\"waiting\",\"position\":12,\"wait_seconds\":null,"
        "\"nested\":{\"a\":[1,{\"x\":\"}\"}],\"b\":-3},\"wait_known\":false,"
        "\"error\":{\"code\":\"SEAT_UNAVAILABLE\",\"seat_ids\":[4, 5 ,6]},"
        "\"q\":\"a\\\"b\"}";
    size_t       len = strlen(js);

    tap_is_int(json_get_str(js, len, "status", s, sizeof(s)), 7,
               "string value");
    tap_is_str(s, "waiting", "its text");
    tap_ok(json_get_int(js, len, "position", &n) == 0 && n == 12, "integer");
    tap_is_int(json_is_null(js, len, "wait_seconds"), 1, "null");
    tap_ok(json_get_int(js, len, "wait_seconds", &n) != 0,
           "null is not an integer");
    tap_ok(json_get_int(js, len, "nested.b", &n) == 0 && n == -3,
           "a dotted path past an array with a brace in a string");
    tap_ok(json_get_bool(js, len, "wait_known", &b) == 0 && b == 0, "bool");
    tap_ok(json_get_str(js, len, "error.code", s, sizeof(s)) > 0
           && strcmp(s, "SEAT_UNAVAILABLE") == 0, "error code");
    tap_ok(json_get_str(js, len, "q", s, sizeof(s)) == 3
           && strcmp(s, "a\"b") == 0, "escaped quote");
    tap_ok(json_find(js, len, "missing", &v) != 0, "absent key");
    tap_ok(json_find(js, len, "status.x", &v) != 0, "path through a string");

    n = 0;
    json_find(js, len, "error.seat_ids", &v);
    json_array_begin(&it, v);

    while (json_array_next(&it, &item) == 1) {
        int64_t  x;

        json_span_int(item, &x);
        n = n * 10 + x;
    }

    tap_is_int(n, 456, "array walk");
    tap_ok(json_find("{\"a\":[1,2", 9, "a", &v) != 0, "truncated document");
    tap_ok(json_find("{\"a\" 1}", 7, "a", &v) != 0, "missing colon");
}


static void
test_seatmap(void)
{
    const char        *err;
    storm_venue_t      venue;
    storm_snapshot_t   snap;
    const char        *map =
        "{\"performance_id\":3,\"venue_id\":2,\"version\":9,\"seats\":7,"
        "\"tiers\":[{\"code\":\"V\",\"name\":\"VIP\",\"price\":100},"
        "{\"code\":\"S\",\"name\":\"Std\",\"price\":50}],"
        "\"sections\":[{\"name\":\"A\",\"rows\":["
        "{\"name\":\"1\",\"count\":3,\"first_id\":10,\"first_number\":1,"
        "\"tier\":\"S\",\"states\":\"aha\"},"
        "{\"name\":\"2\",\"count\":2,\"ids\":[20,22],\"numbers\":[1,3],"
        "\"tiers\":\"VS\",\"states\":\"as\"}]},"
        "{\"name\":\"B\",\"rows\":[{\"name\":\"1\",\"count\":2,"
        "\"first_id\":30,\"first_number\":1,\"tier\":\"V\","
        "\"states\":\"aa\"}]}]}";

    memset(&venue, 0, sizeof(venue));
    memset(&snap, 0, sizeof(snap));

    tap_is_int(storm_seatmap_parse(map, strlen(map), &venue, &snap, &err), 0,
               "the seat map parses");
    tap_is_int(venue.nseats, 7, "seven seats");
    tap_is_int(venue.max_id, 31, "largest id");
    tap_ok(venue.seats[0].id == 20 && venue.seats[1].id == 30
           && venue.seats[2].id == 31 && venue.seats[3].id == 10,
           "ranked: dearest first, then map order");
    tap_is_int(venue.price_by_id[22], 50, "price from a per-seat tier");
    tap_is_int(snap.nfree, 5, "five seats free");
    tap_ok(snap.free[0] && !snap.free[venue.index[22] - 1]
           && !snap.free[venue.index[11] - 1], "held and sold are not free");

    tap_ok(storm_seatmap_parse("{\"seats\":7,\"sections\":[]}", 25, &venue,
                               &snap, &err) != 0,
           "a map that lost its seats is refused");

    storm_venue_free(&venue);
    free(snap.free);
}


/* gzip of len bytes of in, as a server sends it; the caller frees. */
static char *
gzip_of(const char *in, size_t len, size_t *out_len)
{
    z_stream  zs;
    size_t    cap = len + 1024;
    char     *out = malloc(cap);

    memset(&zs, 0, sizeof(zs));
    deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
    zs.next_in = (Bytef *) in;
    zs.avail_in = (uInt) len;
    zs.next_out = (Bytef *) out;
    zs.avail_out = (uInt) cap;
    deflate(&zs, Z_FINISH);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    return out;
}


static void
test_gunzip(void)
{
    const char  *map = "{\"seats\":3,\"states\":\"ahs\"}";
    size_t       gz_len, out_len, big_len = 1 << 20;
    char        *gz, *out, *big;

    gz = gzip_of(map, strlen(map), &gz_len);
    tap_is_int(http_gunzip(gz, gz_len, &out, &out_len), 0, "gunzips");
    tap_is_str(out, map, "the body as it was, NUL-ended");
    tap_is_int(out_len, strlen(map), "its length");
    free(out);
    tap_is_int(http_gunzip(gz, gz_len - 3, &out, &out_len), -1,
               "a truncated stream is refused");
    free(gz);
    tap_is_int(http_gunzip(map, strlen(map), &out, &out_len), -1,
               "so is a body that is not gzip");

    /* 1 MB of one letter gzips to about 1 KB: the buffer must grow. */
    big = malloc(big_len);
    memset(big, 'a', big_len);
    gz = gzip_of(big, big_len, &gz_len);
    tap_is_int(http_gunzip(gz, gz_len, &out, &out_len), 0,
               "a body 1,000 times its gzip gunzips");
    tap_ok(out_len == big_len && memcmp(out, big, big_len) == 0,
           "to every byte");
    free(out);
    free(gz);
    free(big);
}


int
main(void)
{
    test_content_length();
    test_chunked();
    test_keep_alive_pipeline();
    test_cookies();
    test_hist();
    test_json();
    test_seatmap();
    test_gunzip();

    return tap_done();
}
