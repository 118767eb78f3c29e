/*
 * libFuzzer target: the request line and headers as the worker reads them
 * (worker/util.c: query strings, percent-decoding, cookies, ids, times,
 * names, e-mails; worker/origin.c: Origin/Referer against Host).
 *
 * The input is split at its first two NUL bytes into up to three strings,
 * so that one input can pair a header with a name or a Host.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "origin.h"
#include "util.h"

#define FUZZ_CHECK(c)  do { if (!(c)) { abort(); } } while (0)


static void
fuzz_query_string(const char *s)
{
    static query_t  q;
    const char     *v;
    size_t          i;

    if (query_parse(&q, s) != 0) {
        return;
    }
    FUZZ_CHECK(q.n <= QUERY_MAX_ARGS);
    for (i = 0; i < q.n; i++) {
        FUZZ_CHECK(q.names[i] >= q.buf && q.names[i] < q.buf + sizeof(q.buf));
        FUZZ_CHECK(q.values[i] >= q.buf
                   && q.values[i] < q.buf + sizeof(q.buf));
        v = query_get(&q, q.names[i]);
        FUZZ_CHECK(v != NULL);
    }
    (void) query_get(&q, "category");
    (void) query_get(&q, "from");
}


static void
fuzz_decode(const char *s, size_t len)
{
    char  out[64], big[4096];
    long  n;
    int   raw_nul;

    /* Only an encoded NUL is refused; callers pass C strings. */
    raw_nul = memchr(s, '\0', len) != NULL;
    n = url_decode(out, sizeof(out), s, len);
    FUZZ_CHECK(n < (long) sizeof(out));
    FUZZ_CHECK(n < 0 || raw_nul || strlen(out) == (size_t) n);
    if (len < sizeof(big)) {
        n = url_decode(big, sizeof(big), s, len);
        FUZZ_CHECK(n <= (long) len);
        FUZZ_CHECK(n < 0 || raw_nul || strlen(big) == (size_t) n);
    }
    (void) url_decode(out, len % 8, s, len);
}


static void
fuzz_cookie(const char *header, const char *name)
{
    const char  *val;
    size_t       len;

    if (cookie_find(header, name[0] ? name : "ticket_session", &val, &len)) {
        FUZZ_CHECK(val >= header && val + len <= header + strlen(header));
    }
}


/* parse_id reads len bytes, NUL or not, as path segments arrive. */
static void
fuzz_id(const char *s, size_t len)
{
    int64_t  id;

    if (parse_id(s, len, &id) == 0) {
        FUZZ_CHECK(id > 0);
    }
}


static void
fuzz_scalars(const char *s, size_t len)
{
    char     out[32];
    time_t   t;

    fuzz_id(s, len);
    if (time_parse_iso8601(s, &t) == 0) {
        time_format_sql(out, sizeof(out), t);
    }
    (void) name_is_token(s, 64);
    (void) email_is_valid(s);
}


static void
fuzz_origin(const char *url, const char *host)
{
    char  a[ORIGIN_AUTHORITY_MAX];

    if (origin_authority(url, a, sizeof(a)) == 0) {
        FUZZ_CHECK(strchr(a, ':') != NULL && strlen(a) < sizeof(a));
    }
    (void) origin_authority(url, a, strlen(url) % sizeof(a));
    if (origin_host_authority(host, 0, a, sizeof(a)) == 0) {
        FUZZ_CHECK(strchr(a, ':') != NULL);
    }
    (void) origin_is_same(url, host, 0);
    (void) origin_is_same(url, host, 1);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char        *buf, *parts[3];
    size_t       n = 0, i;

    /* A private NUL-terminated copy: ASan sees any read past its end. */
    buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    buf[size] = '\0';

    parts[0] = buf;
    n = 1;
    for (i = 0; i < size && n < 3; i++) {
        if (buf[i] == '\0') {
            parts[n++] = buf + i + 1;
        }
    }
    for (; n < 3; n++) {
        parts[n] = buf + size;
    }

    fuzz_query_string(parts[0]);
    fuzz_decode((const char *) data, size);
    fuzz_cookie(parts[0], parts[1]);
    fuzz_scalars(parts[0], strlen(parts[0]));
    fuzz_id((const char *) data, size);
    fuzz_origin(parts[0], parts[1]);

    free(buf);
    return 0;
}
