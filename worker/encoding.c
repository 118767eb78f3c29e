#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "encoding.h"

#define GZIP_WINDOW_BITS  (15 + 16)     /* a gzip header, not zlib's */
#define GZIP_LEVEL        6


/* Skips spaces and tabs (HTTP's optional whitespace). */
static const char *
skip_ows(const char *p)
{
    while (*p == ' ' || *p == '\t') {
        p++;
    }
    return p;
}


/*
 * Whether the parameters of one coding, from just after its name to the
 * comma or the end, leave it acceptable: any "q" above zero, or no "q".
 * A malformed q-value counts as zero, so a garbled header gets plain
 * text, which every client reads.
 */
static int
coding_q_positive(const char *p, const char *end)
{
    while (p < end) {
        p = skip_ows(p);
        if (*p != ';') {
            return p >= end;
        }
        p = skip_ows(p + 1);
        if ((*p == 'q' || *p == 'Q') && *skip_ows(p + 1) == '=') {
            p = skip_ows(skip_ows(p + 1) + 1);
            if (*p == '1') {
                return 1;
            }
            if (*p != '0') {
                return 0;
            }
            p++;
            if (*p == '.') {
                for (p++; p < end && *p >= '0' && *p <= '9'; p++) {
                    if (*p != '0') {
                        return 1;
                    }
                }
            }
            return 0;
        }
        while (p < end && *p != ';') {
            p++;
        }
    }
    return 1;
}


int
http_accepts_gzip(const char *accept_encoding)
{
    const char  *p, *end, *name;
    size_t       len;
    int          star = 0;

    if (accept_encoding == NULL) {
        return 0;
    }
    for (p = accept_encoding; *p != '\0'; p = *end ? end + 1 : end) {
        end = strchr(p, ',');
        if (end == NULL) {
            end = p + strlen(p);
        }
        name = skip_ows(p);
        len = strcspn(name, " \t;,");
        if ((len == 4 && strncasecmp(name, "gzip", 4) == 0)
            || (len == 6 && strncasecmp(name, "x-gzip", 6) == 0))
        {
            /* Named: its own q-value decides, whatever "*" says. */
            return coding_q_positive(name + len, end);
        }
        if (len == 1 && name[0] == '*') {
            star = coding_q_positive(name + 1, end);
        }
    }
    return star;
}


int
gzip_compress(const char *in, size_t len, char **out, size_t *out_len)
{
    z_stream  zs;
    char     *buf;
    uLong     bound;
    int       rc;

    if (len > UINT_MAX) {
        return -1;
    }
    memset(&zs, 0, sizeof(zs));
    if (deflateInit2(&zs, GZIP_LEVEL, Z_DEFLATED, GZIP_WINDOW_BITS, 8,
                     Z_DEFAULT_STRATEGY) != Z_OK)
    {
        return -1;
    }
    /* deflateBound() covers zlib's own header; gzip's is 12 bytes more. */
    bound = deflateBound(&zs, (uLong) len) + 12;
    buf = malloc(bound);
    if (buf == NULL) {
        deflateEnd(&zs);
        return -1;
    }
    zs.next_in = (Bytef *) in;
    zs.avail_in = (uInt) len;
    zs.next_out = (Bytef *) buf;
    zs.avail_out = (uInt) bound;
    rc = deflate(&zs, Z_FINISH);
    *out_len = zs.total_out;
    deflateEnd(&zs);
    if (rc != Z_STREAM_END) {
        free(buf);
        return -1;
    }
    *out = buf;
    return 0;
}
