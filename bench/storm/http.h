/*
 * An incremental HTTP/1.1 response parser for the load generator.  Bytes
 * arrive in pieces of any size; the parser keeps the header block, decodes
 * the body (Content-Length, chunked, or up to the end of the connection)
 * into its own buffer, and says when one response is complete, so that
 * the next one on a keep-alive connection starts at the right byte.
 * Nothing here touches sockets: unit tests feed it strings.
 */

#ifndef STORM_HTTP_H
#define STORM_HTTP_H

#include <stddef.h>
#include <stdint.h>

#define HTTP_AGAIN      0       /* need more bytes */
#define HTTP_DONE       1       /* one whole response */
#define HTTP_ERROR     -1       /* malformed: close the connection */

#define HTTP_HEAD_MAX   (64 * 1024)
#define HTTP_BODY_MAX   (64 * 1024 * 1024)


typedef struct {
    int       state;
    int       status;
    int       minor;            /* HTTP/1.minor */
    int       keep_alive;       /* the connection may carry another one */
    int       chunked;
    int       no_body;          /* HEAD, 1xx, 204, 304 */
    int64_t   content_length;   /* -1 when absent */
    uint64_t  chunk_left;

    char     *head;             /* status line and headers, NUL-ended */
    size_t    head_len;
    size_t    head_cap;

    char     *body;             /* decoded body, NUL-ended */
    size_t    body_len;
    size_t    body_cap;

    char      line[32];         /* a chunk-size line being read */
    size_t    line_len;
} http_resp_t;


void http_resp_init(http_resp_t *r);
void http_resp_free(http_resp_t *r);
/* Prepares for the next response; keeps the buffers. */
void http_resp_reset(http_resp_t *r, int head_request);

/*
 * Feeds bytes; *used says how many belong to this response (the rest
 * starts the next one).  Returns HTTP_AGAIN, HTTP_DONE or HTTP_ERROR.
 */
int http_resp_feed(http_resp_t *r, const char *data, size_t len,
    size_t *used);

/* The peer closed the connection: HTTP_DONE if that ends the body. */
int http_resp_eof(http_resp_t *r);

/*
 * Finds the n-th header called name (case-insensitive) in a parsed head;
 * returns 1 and its trimmed value, or 0.
 */
int http_resp_header(const http_resp_t *r, const char *name, unsigned n,
    const char **value, size_t *len);

/*
 * Gunzips a body (Content-Encoding: gzip) into a new NUL-ended buffer
 * (*out, to free) of *out_len bytes, at most HTTP_BODY_MAX.  0, or -1 when
 * the data is not one whole gzip stream or memory runs out.
 */
int http_gunzip(const char *in, size_t len, char **out, size_t *out_len);

/*
 * A cookie jar as one "a=b; c=d" string, the form a Cookie header wants.
 * Sets (or replaces) the cookie from a Set-Cookie value; a cookie with
 * Max-Age=0 or an empty value is removed.  Returns 0, or -1 when the jar
 * would exceed size.
 */
int http_cookie_set(char *jar, size_t size, const char *set_cookie,
    size_t len);
/* The value of cookie name in a jar, or NULL. */
const char *http_cookie_get(const char *jar, const char *name, size_t *len);

#endif /* STORM_HTTP_H */
