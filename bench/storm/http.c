/*
 * The incremental HTTP/1.1 response parser: see http.h.
 */

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <zlib.h>

#include "http.h"


enum {
    S_HEAD = 0,
    S_BODY_LENGTH,
    S_BODY_EOF,
    S_CHUNK_SIZE,
    S_CHUNK_DATA,
    S_CHUNK_CRLF,
    S_TRAILER,
    S_DONE
};


static int http_parse_head(http_resp_t *r);
static int http_body_append(http_resp_t *r, const char *data, size_t len);
static int http_grow(char **buf, size_t *cap, size_t need, size_t max);


void
http_resp_init(http_resp_t *r)
{
    memset(r, 0, sizeof(http_resp_t));
    r->content_length = -1;
}


void
http_resp_free(http_resp_t *r)
{
    free(r->head);
    free(r->body);
    http_resp_init(r);
}


void
http_resp_reset(http_resp_t *r, int head_request)
{
    r->state = S_HEAD;
    r->status = 0;
    r->minor = 0;
    r->keep_alive = 0;
    r->chunked = 0;
    r->no_body = head_request;
    r->content_length = -1;
    r->chunk_left = 0;
    r->head_len = 0;
    r->body_len = 0;
    r->line_len = 0;

    if (r->head != NULL) {
        r->head[0] = '\0';
    }

    if (r->body != NULL) {
        r->body[0] = '\0';
    }
}


static int
http_grow(char **buf, size_t *cap, size_t need, size_t max)
{
    char    *p;
    size_t   ncap;

    if (need + 1 <= *cap) {
        return 0;
    }

    if (need + 1 > max) {
        return -1;
    }

    ncap = *cap ? *cap : 1024;

    while (ncap < need + 1) {
        ncap *= 2;
    }

    if (ncap > max) {
        ncap = max;
    }

    p = realloc(*buf, ncap);
    if (p == NULL) {
        return -1;
    }

    *buf = p;
    *cap = ncap;

    return 0;
}


static int
http_body_append(http_resp_t *r, const char *data, size_t len)
{
    if (http_grow(&r->body, &r->body_cap, r->body_len + len, HTTP_BODY_MAX)
        != 0)
    {
        return -1;
    }

    memcpy(r->body + r->body_len, data, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';

    return 0;
}


/* Finds the end of the header block at or after from; 0 when absent. */
static size_t
http_head_end(const char *p, size_t len, size_t from)
{
    size_t  i;

    for (i = from; i < len; i++) {
        if (p[i] != '\n') {
            continue;
        }

        if (i + 1 < len && p[i + 1] == '\n') {
            return i + 2;
        }

        if (i + 2 < len && p[i + 1] == '\r' && p[i + 2] == '\n') {
            return i + 3;
        }
    }

    return 0;
}


int
http_resp_feed(http_resp_t *r, const char *data, size_t len, size_t *used)
{
    int       rc;
    size_t    n, take, old, end, from;
    uint64_t  size;
    char     *semi;

    n = 0;

    while (n < len || r->state == S_DONE) {

        switch (r->state) {

        case S_HEAD:
            old = r->head_len;
            take = len - n;

            if (old + take > HTTP_HEAD_MAX) {
                take = HTTP_HEAD_MAX - old;
            }

            if (take == 0
                || http_grow(&r->head, &r->head_cap, old + take,
                             HTTP_HEAD_MAX + 1) != 0)
            {
                return HTTP_ERROR;
            }

            memcpy(r->head + old, data + n, take);
            r->head_len = old + take;

            from = old > 3 ? old - 3 : 0;
            end = http_head_end(r->head, r->head_len, from);

            if (end == 0) {
                n += take;
                r->head[r->head_len] = '\0';
                continue;
            }

            n += end - old;
            r->head_len = end;
            r->head[end] = '\0';

            rc = http_parse_head(r);
            if (rc != 0) {
                return HTTP_ERROR;
            }

            /* An interim response (100 Continue): the real one follows. */
            if (r->status >= 100 && r->status < 200 && r->status != 101) {
                r->head_len = 0;
                r->content_length = -1;
                r->chunked = 0;
                continue;
            }

            if (r->no_body || r->status == 204 || r->status == 304
                || r->status == 101)
            {
                r->state = S_DONE;

            } else if (r->chunked) {
                r->state = S_CHUNK_SIZE;

            } else if (r->content_length >= 0) {
                r->state = r->content_length ? S_BODY_LENGTH : S_DONE;

            } else {
                r->state = S_BODY_EOF;
                r->keep_alive = 0;
            }

            if (http_body_append(r, "", 0) != 0) {
                return HTTP_ERROR;
            }

            continue;

        case S_BODY_LENGTH:
            take = len - n;

            if ((int64_t) take > r->content_length - (int64_t) r->body_len) {
                take = (size_t) (r->content_length - (int64_t) r->body_len);
            }

            if (http_body_append(r, data + n, take) != 0) {
                return HTTP_ERROR;
            }

            n += take;

            if ((int64_t) r->body_len == r->content_length) {
                r->state = S_DONE;
            }

            continue;

        case S_BODY_EOF:
            if (http_body_append(r, data + n, len - n) != 0) {
                return HTTP_ERROR;
            }

            n = len;
            continue;

        case S_CHUNK_SIZE:
        case S_TRAILER:
            if (data[n] != '\n') {
                if (r->line_len < sizeof(r->line) - 1) {
                    r->line[r->line_len] = data[n];
                }

                r->line_len++;
                n++;
                continue;
            }

            n++;

            if (r->line_len > 0 && r->line_len < sizeof(r->line)
                && r->line[r->line_len - 1] == '\r')
            {
                r->line_len--;
            }

            if (r->state == S_TRAILER) {
                if (r->line_len == 0) {
                    r->state = S_DONE;
                }

                r->line_len = 0;
                continue;
            }

            if (r->line_len == 0 || r->line_len >= sizeof(r->line)) {
                return HTTP_ERROR;
            }

            r->line[r->line_len] = '\0';
            r->line_len = 0;

            semi = strchr(r->line, ';');
            if (semi != NULL) {
                *semi = '\0';
            }

            size = 0;

            for (from = 0; r->line[from] != '\0'; from++) {
                char  c = r->line[from];
                int   d;

                if (c >= '0' && c <= '9') {
                    d = c - '0';

                } else if (c >= 'a' && c <= 'f') {
                    d = c - 'a' + 10;

                } else if (c >= 'A' && c <= 'F') {
                    d = c - 'A' + 10;

                } else if (c == ' ' || c == '\t') {
                    continue;

                } else {
                    return HTTP_ERROR;
                }

                if (size > (HTTP_BODY_MAX >> 4)) {
                    return HTTP_ERROR;
                }

                size = size * 16 + (uint64_t) d;
            }

            if (size == 0) {
                r->state = S_TRAILER;

            } else {
                r->chunk_left = size;
                r->state = S_CHUNK_DATA;
            }

            continue;

        case S_CHUNK_DATA:
            take = len - n;

            if (take > r->chunk_left) {
                take = (size_t) r->chunk_left;
            }

            if (http_body_append(r, data + n, take) != 0) {
                return HTTP_ERROR;
            }

            n += take;
            r->chunk_left -= take;

            if (r->chunk_left == 0) {
                r->state = S_CHUNK_CRLF;
            }

            continue;

        case S_CHUNK_CRLF:
            if (data[n] == '\r') {
                n++;
                continue;
            }

            if (data[n] != '\n') {
                return HTTP_ERROR;
            }

            n++;
            r->state = S_CHUNK_SIZE;
            continue;

        case S_DONE:
            *used = n;
            return HTTP_DONE;
        }
    }

    *used = n;

    return HTTP_AGAIN;
}


int
http_resp_eof(http_resp_t *r)
{
    if (r->state == S_BODY_EOF) {
        r->state = S_DONE;
        return HTTP_DONE;
    }

    return r->state == S_DONE ? HTTP_DONE : HTTP_ERROR;
}


/* Whether the comma-separated list in v contains token (any case). */
static int
http_list_has(const char *v, size_t len, const char *token)
{
    size_t  i, start, end, tlen;

    tlen = strlen(token);
    i = 0;

    while (i < len) {
        while (i < len && (v[i] == ' ' || v[i] == '\t' || v[i] == ',')) {
            i++;
        }

        start = i;

        while (i < len && v[i] != ',') {
            i++;
        }

        end = i;

        while (end > start && (v[end - 1] == ' ' || v[end - 1] == '\t')) {
            end--;
        }

        if (end - start == tlen && strncasecmp(v + start, token, tlen) == 0) {
            return 1;
        }
    }

    return 0;
}


static int
http_parse_head(http_resp_t *r)
{
    int          conn_close, conn_keep;
    size_t       vlen;
    const char  *p, *v;
    int64_t      cl;

    p = r->head;

    if (r->head_len < 12 || strncmp(p, "HTTP/1.", 7) != 0
        || p[7] < '0' || p[7] > '9' || p[8] != ' '
        || p[9] < '1' || p[9] > '5' || p[10] < '0' || p[10] > '9'
        || p[11] < '0' || p[11] > '9')
    {
        return -1;
    }

    r->minor = p[7] - '0';
    r->status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');

    if (http_resp_header(r, "content-length", 0, &v, &vlen)) {
        cl = 0;

        if (vlen == 0) {
            return -1;
        }

        for (size_t i = 0; i < vlen; i++) {
            if (v[i] < '0' || v[i] > '9' || cl > HTTP_BODY_MAX) {
                return -1;
            }

            cl = cl * 10 + (v[i] - '0');
        }

        r->content_length = cl;
    }

    if (http_resp_header(r, "transfer-encoding", 0, &v, &vlen)
        && http_list_has(v, vlen, "chunked"))
    {
        r->chunked = 1;
        r->content_length = -1;
    }

    conn_close = 0;
    conn_keep = 0;

    if (http_resp_header(r, "connection", 0, &v, &vlen)) {
        conn_close = http_list_has(v, vlen, "close");
        conn_keep = http_list_has(v, vlen, "keep-alive");
    }

    r->keep_alive = conn_close ? 0 : (r->minor >= 1 || conn_keep);

    return 0;
}


int
http_resp_header(const http_resp_t *r, const char *name, unsigned n,
    const char **value, size_t *len)
{
    size_t       nlen;
    const char  *p, *end, *eol, *v, *ve;

    if (r->head == NULL) {
        return 0;
    }

    nlen = strlen(name);
    p = r->head;
    end = r->head + r->head_len;

    /* Skip the status line. */
    p = memchr(p, '\n', (size_t) (end - p));
    if (p == NULL) {
        return 0;
    }

    p++;

    while (p < end) {
        eol = memchr(p, '\n', (size_t) (end - p));
        if (eol == NULL) {
            eol = end;
        }

        if ((size_t) (eol - p) > nlen && p[nlen] == ':'
            && strncasecmp(p, name, nlen) == 0)
        {
            if (n == 0) {
                v = p + nlen + 1;
                ve = eol;

                while (v < ve && (*v == ' ' || *v == '\t')) {
                    v++;
                }

                while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '
                                  || ve[-1] == '\t'))
                {
                    ve--;
                }

                *value = v;
                *len = (size_t) (ve - v);
                return 1;
            }

            n--;
        }

        p = eol + 1;
    }

    return 0;
}


const char *
http_cookie_get(const char *jar, const char *name, size_t *len)
{
    size_t       nlen;
    const char  *p, *end;

    nlen = strlen(name);
    p = jar;

    while (*p != '\0') {
        while (*p == ' ' || *p == ';') {
            p++;
        }

        end = strchr(p, ';');
        if (end == NULL) {
            end = p + strlen(p);
        }

        if ((size_t) (end - p) > nlen && p[nlen] == '='
            && strncmp(p, name, nlen) == 0)
        {
            *len = (size_t) (end - p) - nlen - 1;
            return p + nlen + 1;
        }

        p = end;
    }

    return NULL;
}


int
http_cookie_set(char *jar, size_t size, const char *set_cookie, size_t len)
{
    int          remove;
    size_t       nlen, vlen, out, i, alen;
    const char  *eq, *semi, *p, *end, *attr;
    char         tmp[4096];

    semi = memchr(set_cookie, ';', len);
    end = semi ? semi : set_cookie + len;

    while (end > set_cookie && end[-1] == ' ') {
        end--;
    }

    eq = memchr(set_cookie, '=', (size_t) (end - set_cookie));
    if (eq == NULL || eq == set_cookie) {
        return -1;
    }

    nlen = (size_t) (eq - set_cookie);
    vlen = (size_t) (end - eq - 1);
    remove = (vlen == 0);

    /* Max-Age=0 (or negative) deletes the cookie. */
    attr = semi;

    while (attr != NULL && attr < set_cookie + len) {
        attr++;

        while (attr < set_cookie + len && *attr == ' ') {
            attr++;
        }

        p = memchr(attr, ';', (size_t) (set_cookie + len - attr));
        alen = p ? (size_t) (p - attr) : (size_t) (set_cookie + len - attr);

        if (alen >= 8 && strncasecmp(attr, "max-age=", 8) == 0
            && (attr[8] == '0' || attr[8] == '-'))
        {
            remove = 1;
        }

        attr = p;
    }

    /* Copy the other cookies, then append this one. */
    out = 0;
    p = jar;

    while (*p != '\0') {
        while (*p == ' ' || *p == ';') {
            p++;
        }

        if (*p == '\0') {
            break;
        }

        end = strchr(p, ';');
        if (end == NULL) {
            end = p + strlen(p);
        }

        if (!((size_t) (end - p) > nlen && p[nlen] == '='
              && strncmp(p, set_cookie, nlen) == 0))
        {
            i = (size_t) (end - p);

            if (out + i + 2 >= sizeof(tmp)) {
                return -1;
            }

            if (out) {
                tmp[out++] = ';';
                tmp[out++] = ' ';
            }

            memcpy(tmp + out, p, i);
            out += i;
        }

        p = end;
    }

    if (!remove) {
        i = nlen + 1 + vlen;

        if (out + i + 2 >= sizeof(tmp)) {
            return -1;
        }

        if (out) {
            tmp[out++] = ';';
            tmp[out++] = ' ';
        }

        memcpy(tmp + out, set_cookie, i);
        out += i;
    }

    if (out + 1 > size) {
        return -1;
    }

    memcpy(jar, tmp, out);
    jar[out] = '\0';

    return 0;
}


int
http_gunzip(const char *in, size_t len, char **out, size_t *out_len)
{
    z_stream  zs;
    size_t    cap = len * 8 + 64;
    char     *buf, *bigger;
    int       rc;

    if (len > HTTP_BODY_MAX) {
        return -1;
    }
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 15 + 16) != Z_OK) {
        return -1;
    }
    buf = malloc(cap);
    zs.next_in = (Bytef *) in;
    zs.avail_in = (uInt) len;

    for ( ;; ) {
        if (buf == NULL) {
            rc = Z_MEM_ERROR;
            break;
        }
        zs.next_out = (Bytef *) buf + zs.total_out;
        zs.avail_out = (uInt) (cap - 1 - zs.total_out);
        rc = inflate(&zs, Z_NO_FLUSH);
        if (rc != Z_OK || zs.avail_out > 0) {
            break;
        }
        /* The output filled the buffer: grow it (NUL kept out of it). */
        if (cap > HTTP_BODY_MAX) {
            rc = Z_BUF_ERROR;
            break;
        }
        cap *= 2;
        bigger = realloc(buf, cap);
        if (bigger == NULL) {
            free(buf);
        }
        buf = bigger;
    }

    if (rc != Z_STREAM_END || zs.avail_in != 0) {
        inflateEnd(&zs);
        free(buf);
        return -1;
    }
    *out_len = zs.total_out;
    inflateEnd(&zs);
    buf[*out_len] = '\0';
    *out = buf;
    return 0;
}
