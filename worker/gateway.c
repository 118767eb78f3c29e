#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "gateway.h"
#include "json.h"
#include "log.h"
#include "ticket_token.h"

#define GW_RESPONSE_MAX  (64 * 1024)
#define GW_HOST_MAX      256
#define GW_PATH_MAX      256

/* Set once by gateway_init() before the threads start; read-only after. */
static struct {
    int            enabled;
    char           host[GW_HOST_MAX];
    char           port[8];
    char           base[GW_PATH_MAX];     /* path prefix, without the '/' */
    ticket_key_t  *key;
} gw;


/* "http://host[:port][/base]" into gw; 0 or -1. */
static int
gateway_parse_url(const char *url)
{
    const char  *p, *slash, *colon;
    size_t       hlen;

    if (strncmp(url, "http://", 7) != 0) {
        return -1;
    }
    p = url + 7;
    slash = strchr(p, '/');
    if (slash == NULL) {
        slash = p + strlen(p);
    }
    colon = memchr(p, ':', (size_t) (slash - p));
    hlen = (size_t) ((colon ? colon : slash) - p);
    if (hlen == 0 || hlen >= sizeof(gw.host)) {
        return -1;
    }
    memcpy(gw.host, p, hlen);
    gw.host[hlen] = '\0';
    if (colon != NULL) {
        size_t  plen = (size_t) (slash - colon - 1);

        if (plen == 0 || plen >= sizeof(gw.port)
            || strspn(colon + 1, "0123456789") < plen)
        {
            return -1;
        }
        memcpy(gw.port, colon + 1, plen);
        gw.port[plen] = '\0';
    } else {
        snprintf(gw.port, sizeof(gw.port), "80");
    }
    snprintf(gw.base, sizeof(gw.base), "%s", *slash ? slash : "");
    /* The base never ends with '/': paths below start with one. */
    hlen = strlen(gw.base);
    while (hlen > 0 && gw.base[hlen - 1] == '/') {
        gw.base[--hlen] = '\0';
    }
    return 0;
}


int
gateway_init(const worker_conf_t *conf)
{
    const char  *err = NULL;

    if (conf->gateway_url[0] == '\0') {
        return 0;
    }
    if (gateway_parse_url(conf->gateway_url) != 0) {
        log_error("gateway_url %s: expected http://host[:port][/path]",
                  conf->gateway_url);
        return -1;
    }
    if (conf->gateway_secret_file[0] == '\0') {
        log_error("gateway_url is set but gateway_secret_file is not");
        return -1;
    }
    if (conf->gateway_callback_url[0] == '\0') {
        log_error("gateway_url is set but gateway_callback_url is not");
        return -1;
    }
    gw.key = ticket_key_load(conf->gateway_secret_file, &err);
    if (gw.key == NULL) {
        log_error("gateway_secret_file %s: %s", conf->gateway_secret_file,
                  err ? err : "unreadable");
        return -1;
    }
    gw.enabled = 1;
    return 0;
}


int
gateway_enabled(void)
{
    return gw.enabled;
}


void
gateway_sign(const void *data, size_t len, char *out)
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      mac[32];

    ticket_hmac_sha256(gw.key, data, len, mac);
    for (size_t i = 0; i < sizeof(mac); i++) {
        out[i * 2] = hex[mac[i] >> 4];
        out[i * 2 + 1] = hex[mac[i] & 0x0f];
    }
    out[GATEWAY_SIG_HEX] = '\0';
}


static int
hex_value(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c |= 0x20;
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}


int
gateway_signature_ok(const char *sig, const void *data, size_t len)
{
    unsigned char  mac[32], given[32];
    int            hi, lo;

    if (!gw.enabled || sig == NULL || strlen(sig) != GATEWAY_SIG_HEX) {
        return 0;
    }
    for (size_t i = 0; i < sizeof(given); i++) {
        hi = hex_value((unsigned char) sig[i * 2]);
        lo = hex_value((unsigned char) sig[i * 2 + 1]);
        if (hi < 0 || lo < 0) {
            return 0;
        }
        given[i] = (unsigned char) (hi << 4 | lo);
    }
    ticket_hmac_sha256(gw.key, data, len, mac);
    return ticket_memeq_ct(mac, given, sizeof(mac)) == 0;
}


static int64_t
now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* Waits for events on fd until the deadline: 1 ready, 0 timeout, -1. */
static int
wait_fd(int fd, short events, int64_t deadline)
{
    struct pollfd  pfd = { fd, events, 0 };
    int64_t        left;
    int            rc;

    for (;;) {
        left = deadline - now_ms();
        if (left <= 0) {
            return 0;
        }
        rc = poll(&pfd, 1, (int) left);
        if (rc >= 0) {
            return rc > 0 ? 1 : 0;
        }
        if (errno != EINTR) {
            return -1;
        }
    }
}


static int
gw_connect(int64_t deadline)
{
    struct addrinfo   hints, *ai = NULL, *a;
    socklen_t         elen = sizeof(int);
    int               fd = -1, err = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if (getaddrinfo(gw.host, gw.port, &hints, &ai) != 0) {
        return -1;
    }
    for (a = ai; a != NULL; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype | SOCK_NONBLOCK
                    | SOCK_CLOEXEC, a->ai_protocol);
        if (fd < 0) {
            continue;
        }
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0
            || (errno == EINPROGRESS && wait_fd(fd, POLLOUT, deadline) == 1
                && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) == 0
                && err == 0))
        {
            break;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(ai);
    return fd;
}


static int
send_all(int fd, const char *p, size_t len, int64_t deadline)
{
    ssize_t  n;

    while (len > 0) {
        n = send(fd, p, len, MSG_NOSIGNAL);
        if (n > 0) {
            p += n;
            len -= (size_t) n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            return -1;
        }
        if (wait_fd(fd, POLLOUT, deadline) != 1) {
            return -1;
        }
    }
    return 0;
}


/* Reads until the peer closes (we asked it to); the length or -1. */
static ssize_t
recv_all(int fd, char *buf, size_t size, int64_t deadline)
{
    size_t   got = 0;
    ssize_t  n;

    for (;;) {
        if (got == size) {
            return -1;
        }
        n = recv(fd, buf + got, size - got, 0);
        if (n == 0) {
            return (ssize_t) got;
        }
        if (n > 0) {
            got += (size_t) n;
            continue;
        }
        if (errno != EAGAIN && errno != EINTR) {
            return -1;
        }
        if (wait_fd(fd, POLLIN, deadline) != 1) {
            return -1;
        }
    }
}


/* Splits a response into status and body; 0 or -1. */
static int
parse_response(char *buf, size_t len, int *status, char **body)
{
    char    *end, *p, *line;
    size_t   blen;
    long     clen = -1;

    buf[len] = '\0';
    if (len < 12 || strncmp(buf, "HTTP/1.", 7) != 0) {
        return -1;
    }
    *status = (int) strtol(buf + 9, &p, 10);
    end = strstr(buf, "\r\n\r\n");
    if (end == NULL || *status < 100 || *status > 599) {
        return -1;
    }
    *end = '\0';
    for (line = strstr(buf, "\r\n"); line != NULL;
         line = strstr(line + 2, "\r\n"))
    {
        if (strncasecmp(line + 2, "Content-Length:", 15) == 0) {
            clen = strtol(line + 17, NULL, 10);
        } else if (strncasecmp(line + 2, "Transfer-Encoding:", 18) == 0) {
            /* Not needed with our own gateway; refuse rather than guess. */
            return -1;
        }
    }
    blen = len - (size_t) (end + 4 - buf);
    if (clen >= 0) {
        if ((size_t) clen > blen) {
            return -1;
        }
        blen = (size_t) clen;
    }
    *body = malloc(blen + 1);
    if (*body == NULL) {
        return -1;
    }
    memcpy(*body, end + 4, blen);
    (*body)[blen] = '\0';
    return 0;
}


int
gateway_http(const worker_conf_t *conf, const char *method, const char *path,
    const char *body, size_t len, int *status, char **resp_body)
{
    char     head[1024], sig[GATEWAY_SIG_HEX + 1], *buf, *signed_text;
    int64_t  deadline = now_ms() + conf->gateway_timeout_ms;
    ssize_t  got;
    size_t   slen;
    int      fd, n, rc = GATEWAY_ERROR;

    *status = 0;
    *resp_body = NULL;
    if (!gw.enabled) {
        return GATEWAY_ERROR;
    }

    /* "METHOD PATH\n" + body, so that a signature fits one request only. */
    slen = strlen(method) + strlen(gw.base) + strlen(path) + 2 + len;
    signed_text = malloc(slen + 1);
    if (signed_text == NULL) {
        return GATEWAY_ERROR;
    }
    n = snprintf(signed_text, slen + 1, "%s %s%s\n", method, gw.base, path);
    if (len > 0) {
        memcpy(signed_text + n, body, len);
    }
    gateway_sign(signed_text, slen, sig);
    free(signed_text);

    n = snprintf(head, sizeof(head),
                 "%s %s%s HTTP/1.1\r\nHost: %s:%s\r\nConnection: close\r\n"
                 "Accept: application/json\r\nX-Signature: %s\r\n"
                 "Content-Type: application/json\r\n"
                 "Content-Length: %zu\r\n\r\n",
                 method, gw.base, path, gw.host, gw.port, sig, len);
    if (n < 0 || (size_t) n >= sizeof(head)) {
        return GATEWAY_ERROR;
    }
    buf = malloc(GW_RESPONSE_MAX + 1);
    if (buf == NULL) {
        return GATEWAY_ERROR;
    }
    fd = gw_connect(deadline);
    if (fd < 0) {
        log_warn("gateway: cannot connect to %s:%s", gw.host, gw.port);
        free(buf);
        return GATEWAY_ERROR;
    }
    if (send_all(fd, head, (size_t) n, deadline) == 0
        && (len == 0 || send_all(fd, body, len, deadline) == 0))
    {
        got = recv_all(fd, buf, GW_RESPONSE_MAX, deadline);
        if (got > 0 && parse_response(buf, (size_t) got, status, resp_body)
                       == 0)
        {
            rc = GATEWAY_OK;
        }
    }
    close(fd);
    free(buf);
    if (rc != GATEWAY_OK) {
        log_warn("gateway: %s %s%s: no valid answer in %d ms", method,
                 gw.base, path, conf->gateway_timeout_ms);
    }
    return rc;
}


/* Reads the fields we use from a payment document. */
static int
payment_from_json(const char *body, gateway_payment_t *out)
{
    const char  *s;
    yajl_val     doc, v;
    char         err[128];

    memset(out, 0, sizeof(*out));
    doc = json_parse(body, strlen(body), err, sizeof(err));
    if (doc == NULL || !YAJL_IS_OBJECT(doc)) {
        if (doc != NULL) {
            yajl_tree_free(doc);
        }
        return GATEWAY_ERROR;
    }
    v = json_field(doc, "status");
    s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "";
    snprintf(out->status, sizeof(out->status), "%s", s);
    v = json_field(doc, "id");
    s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "";
    snprintf(out->ref, sizeof(out->ref), "%s", s);
    v = json_field(doc, "currency");
    s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "";
    snprintf(out->currency, sizeof(out->currency), "%s", s);
    v = json_field(doc, "checkout_url");
    s = YAJL_IS_STRING(v) ? YAJL_GET_STRING(v) : "";
    snprintf(out->checkout_url, sizeof(out->checkout_url), "%s", s);
    v = json_field(doc, "amount");
    out->amount = YAJL_IS_INTEGER(v) ? YAJL_GET_INTEGER(v) : -1;
    yajl_tree_free(doc);
    return out->status[0] != '\0' ? GATEWAY_OK : GATEWAY_ERROR;
}


static int
gateway_call(const worker_conf_t *conf, const char *method, const char *path,
    jw_t *w, gateway_payment_t *out)
{
    const char  *body = NULL;
    size_t       len = 0;
    char        *resp = NULL;
    int          status, rc;

    if (w != NULL && jw_result(w, &body, &len) != 0) {
        return GATEWAY_ERROR;
    }
    rc = gateway_http(conf, method, path, body, len, &status, &resp);
    if (rc == GATEWAY_OK) {
        if (status == 404) {
            rc = GATEWAY_NOT_FOUND;
        } else if (status >= 400 && status < 500) {
            log_warn("gateway: %s %s: %d %s", method, path, status,
                     resp ? resp : "");
            rc = GATEWAY_REFUSED;
        } else if (status < 200 || status > 299) {
            rc = GATEWAY_ERROR;
        } else if (out != NULL) {
            rc = payment_from_json(resp ? resp : "", out);
        }
    }
    free(resp);
    return rc;
}


int
gateway_create(const worker_conf_t *conf, int64_t payment_id, int64_t amount,
    const char *currency, gateway_payment_t *out)
{
    jw_t  w;
    int   rc;

    if (jw_init(&w) != 0) {
        return GATEWAY_ERROR;
    }
    jw_obj_open(&w);
    jw_kv_int(&w, "payment_id", payment_id);
    jw_kv_int(&w, "amount", amount);
    jw_kv_str(&w, "currency", currency);
    jw_kv_str(&w, "callback_url", conf->gateway_callback_url);
    jw_obj_close(&w);
    rc = gateway_call(conf, "POST", "/v1/payments", &w, out);
    jw_free(&w);
    if (rc == GATEWAY_OK && out->checkout_url[0] == '\0') {
        rc = GATEWAY_ERROR;
    }
    return rc;
}


int
gateway_status(const worker_conf_t *conf, int64_t payment_id,
    gateway_payment_t *out)
{
    char  path[64];

    snprintf(path, sizeof(path), "/v1/payments/%lld", (long long) payment_id);
    return gateway_call(conf, "GET", path, NULL, out);
}


int
gateway_refund(const worker_conf_t *conf, int64_t payment_id, int64_t amount,
    const char *currency)
{
    gateway_payment_t  p;
    char               path[80];
    jw_t               w;
    int                rc;

    if (jw_init(&w) != 0) {
        return GATEWAY_ERROR;
    }
    jw_obj_open(&w);
    jw_kv_int(&w, "amount", amount);
    jw_kv_str(&w, "currency", currency);
    jw_obj_close(&w);
    snprintf(path, sizeof(path), "/v1/payments/%lld/refund",
             (long long) payment_id);
    rc = gateway_call(conf, "POST", path, &w, &p);
    jw_free(&w);
    if (rc == GATEWAY_OK && strcmp(p.status, "refunded") != 0) {
        rc = GATEWAY_ERROR;
    }
    return rc;
}
