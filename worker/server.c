/*
 * The FastCGI loop of one thread and the dispatcher: from FastCGI params
 * to a req_t, through the route table and the route's flags, to the
 * handler, and the response back out.
 */

#include <errno.h>
#include <fcgiapp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <fcntl.h>
#include <unistd.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "auth.h"
#include "log.h"
#include "origin.h"
#include "req.h"
#include "worker.h"

/* How long a connection may keep a thread waiting for its request. */
#define SERVER_READ_TIMEOUT_S  5

/* Set once by server_stop(); threads leave their loop when they see it. */
static _Atomic int       server_stopping;


static void
copy_param(req_t *req, const char *name, char *dst, size_t size)
{
    const char  *v = req_param(req, name);
    size_t       len;

    dst[0] = '\0';
    if (v == NULL) {
        return;
    }
    len = strlen(v);
    if (len >= size) {
        len = size - 1;
    }
    memcpy(dst, v, len);
    dst[len] = '\0';
}


static int
read_path(req_t *req)
{
    const char  *uri;
    size_t       len;

    uri = req_param(req, "DOCUMENT_URI");
    if (uri != NULL && *uri != '\0') {
        len = strlen(uri);
    } else {
        uri = req_param(req, "REQUEST_URI");
        if (uri == NULL) {
            uri = req_param(req, "SCRIPT_NAME");
        }
        if (uri == NULL) {
            return -1;
        }
        len = strcspn(uri, "?");
    }
    if (len == 0 || len >= sizeof(req->path) || uri[0] != '/') {
        return -1;
    }
    memcpy(req->path, uri, len);
    req->path[len] = '\0';
    return 0;
}


static void
make_request_id(req_t *req)
{
    copy_param(req, "TICKET_REQUEST_ID", req->request_id,
               sizeof(req->request_id));
    if (req->request_id[0] == '\0') {
        copy_param(req, "REQUEST_ID", req->request_id,
                   sizeof(req->request_id));
    }
    if (req->request_id[0] == '\0' || !name_is_token(req->request_id, 63)) {
        snprintf(req->request_id, sizeof(req->request_id), "w%d-%x-%llu",
                 req->thr->id, rand_r(&req->thr->seed),
                 (unsigned long long) req->thr->served);
    }
}


/* Reads TICKET_USER/TICKET_ROOM: FastCGI params only, never HTTP_*. */
static void
read_ticket_params(req_t *req)
{
    copy_param(req, "TICKET_USER", req->ticket_user, sizeof(req->ticket_user));
    copy_param(req, "TICKET_ROOM", req->ticket_room, sizeof(req->ticket_room));
    req->ticket_user_id = 0;
    if (req->ticket_user[0] != '\0') {
        if (parse_id(req->ticket_user, strlen(req->ticket_user),
                     &req->ticket_user_id) != 0)
        {
            req->ticket_user_id = 0;
        }
    }
    if (req->ticket_room[0] != '\0'
        && !name_is_token(req->ticket_room, TICKET_TOKEN_ROOM_MAX))
    {
        req->ticket_room[0] = '\0';
    }
}


static int
read_idempotency_key(req_t *req)
{
    const char  *v = req_param(req, "HTTP_IDEMPOTENCY_KEY");
    size_t       len;

    if (v == NULL) {
        return 0;
    }
    len = strlen(v);
    if (len == 0 || len >= sizeof(req->idempotency_key)) {
        return resp_error(req, 400, "VALIDATION",
                          "Idempotency-Key must be 1 to 255 characters");
    }
    for (size_t i = 0; i < len; i++) {
        if ((unsigned char) v[i] < 0x21 || (unsigned char) v[i] > 0x7e) {
            return resp_error(req, 400, "VALIDATION",
                              "Idempotency-Key must be printable ASCII");
        }
    }
    memcpy(req->idempotency_key, v, len + 1);
    return 0;
}


static int
read_body(req_t *req)
{
    FCGX_Request  *fr = req->fcgi;
    const char    *cl = req_param(req, "CONTENT_LENGTH");
    char          *end;
    unsigned long  want;
    int            n;

    if (cl == NULL || *cl == '\0') {
        return 0;
    }
    errno = 0;
    want = strtoul(cl, &end, 10);
    if (errno != 0 || *end != '\0' || cl[0] == '-') {
        return resp_error(req, 400, "BAD_REQUEST", "bad Content-Length");
    }
    if (want > req->conf->max_body) {
        return resp_error(req, 413, "BODY_TOO_LARGE",
                          "the body exceeds %zu bytes", req->conf->max_body);
    }
    if (want == 0) {
        return 0;
    }
    req->body = malloc(want + 1);
    if (req->body == NULL) {
        return resp_error(req, 500, "INTERNAL", "out of memory");
    }
    n = FCGX_GetStr(req->body, (int) want, fr->in);
    if (n < 0 || (unsigned long) n != want) {
        return resp_error(req, 400, "BAD_REQUEST", "truncated body");
    }
    req->body[want] = '\0';
    req->body_len = want;
    return 0;
}


static int
parse_json_body(req_t *req)
{
    char  err[256];

    if (req->body_len == 0) {
        return resp_error(req, 400, "BAD_JSON", "a JSON object is required");
    }
    req->json = json_parse(req->body, req->body_len, err, sizeof(err));
    if (req->json == NULL) {
        return resp_error(req, 400, "BAD_JSON", "malformed JSON: %s", err);
    }
    if (!YAJL_IS_OBJECT(req->json)) {
        return resp_error(req, 400, "BAD_JSON", "the body must be an object");
    }
    return 0;
}


/*
 * Refuses a cookie-authenticated write sent from another site.  SameSite=
 * Lax already keeps the session cookie off most cross-site POSTs; this is
 * the second lock, for browsers without SameSite and for same-site but
 * cross-origin pages.  Browsers send Origin on every cross-origin POST (and
 * Referer on most); a request with neither comes from a client that is not
 * a browser page, and one without the session cookie has no authority to
 * borrow (the gateway's signed callback), so both pass.
 */
static int
check_origin(req_t *req)
{
    const char  *cookie, *from, *https, *val;
    size_t       len;

    if (req->method & (HTTP_GET | HTTP_HEAD | HTTP_OPTIONS)) {
        return 0;
    }
    cookie = req_param(req, "HTTP_COOKIE");
    if (!cookie_find(cookie, SESSION_COOKIE, &val, &len)) {
        return 0;
    }
    from = req_param(req, "HTTP_ORIGIN");
    if (from == NULL || *from == '\0') {
        from = req_param(req, "HTTP_REFERER");
        if (from == NULL || *from == '\0') {
            return 0;
        }
    }
    https = req_param(req, "HTTPS");
    if (origin_is_same(from, req_param(req, "HTTP_HOST"),
                       https != NULL && *https != '\0'))
    {
        return 0;
    }
    log_info("%s %s refused: cross-origin request from \"%.100s\"",
             req->method_name, req->path, from);
    return resp_error(req, 403, "CROSS_ORIGIN",
                      "cross-origin requests with a session are refused");
}


static int
dispatch(req_t *req)
{
    const char  *method, *qs;
    unsigned     allowed;
    char         allow[128];
    int          rc;

    method = req_param(req, "REQUEST_METHOD");
    if (method == NULL || read_path(req) != 0) {
        return resp_error(req, 400, "BAD_REQUEST", "no method or path");
    }
    snprintf(req->method_name, sizeof(req->method_name), "%s", method);
    req->method = http_method_parse(method);

    qs = req_param(req, "QUERY_STRING");
    if (query_parse(&req->query, qs) != 0) {
        return resp_error(req, 400, "BAD_QUERY", "malformed query string");
    }

    rc = router_match(worker_routes, worker_nroutes, req->method, req->path,
                      &req->route, req->params, &req->nparams, &allowed);
    if (rc == ROUTER_NOT_FOUND) {
        return resp_error(req, 404, "NOT_FOUND", "no such resource");
    }
    if (rc == ROUTER_BAD_METHOD) {
        http_allow_list(allowed, allow, sizeof(allow));
        resp_header(req, "Allow", allow);
        return resp_error(req, 405, "METHOD_NOT_ALLOWED",
                          "use %s on this resource", allow);
    }

    rc = check_origin(req);
    if (rc != 0) {
        return rc;
    }
    rc = read_body(req);
    if (rc != 0) {
        return rc;
    }
    rc = read_idempotency_key(req);
    if (rc != 0) {
        return rc;
    }

    if (req->route->flags & ROUTE_AUTH_CLAIM) {
        if (!auth_claim(req)) {
            return auth_refuse(req);
        }

    } else if (req->route->flags & (ROUTE_AUTH_USER | ROUTE_AUTH_ADMIN)) {
        rc = auth_require(req, (req->route->flags & ROUTE_AUTH_ADMIN) != 0);
        if (rc != 0) {
            return rc;
        }
    }
    if (req->route->flags & ROUTE_JSON_BODY) {
        rc = parse_json_body(req);
        if (rc != 0) {
            return rc;
        }
    }
    return req->route->handler(req);
}


static void
send_response(req_t *req)
{
    FCGX_Request  *fr = req->fcgi;
    char           head[sizeof(req->headers) + 128];
    int            n;

    resp_header(req, "X-Request-Id", req->request_id);

    /*
     * libfcgi's own printf lacks %zu and friends: format here.  The
     * length has a fixed width (NGINX reads it as a number and writes its
     * own to the client): a cached answer's header must not grow from one
     * answer to the next (see the micro-cache in conf/nginx.conf.in), and
     * a compressed seat map's length may gain a digit.
     */
    n = snprintf(head, sizeof(head),
                 "Status: %d %s\r\n%sContent-Length: %010zu\r\n\r\n",
                 req->status, http_status_text(req->status), req->headers,
                 req->out_len);
    if (n < 0 || (size_t) n >= sizeof(head)) {
        log_error("response head too long for %s", req->path);
        return;
    }
    if (FCGX_PutStr(head, n, fr->out) < 0
        || (req->out_len > 0
            && FCGX_PutStr(req->out, (int) req->out_len, fr->out) < 0))
    {
        log_info("client went away before the response was written");
    }
}


static void
handle(thread_ctx_t *thr, FCGX_Request *fr)
{
    struct timespec  t0, t1;
    req_t           *req;
    int              rc;

    clock_gettime(CLOCK_MONOTONIC, &t0);

    /* A req_t is several KB: on the heap, zeroed, one per request. */
    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        FCGX_FPrintF(fr->out, "Status: 500 Internal Server Error\r\n\r\n");
        return;
    }
    req->thr = thr;
    req->db = &thr->db;
    req->conf = thr->conf;
    req->fcgi = fr;
    thr->served++;

    make_request_id(req);
    read_ticket_params(req);

    rc = dispatch(req);
    if (!req->responded) {
        if (rc < 0) {
            resp_db_error(req, rc);
        } else {
            log_error("%s %s: handler wrote no response", req->method_name,
                      req->path);
            resp_error(req, 500, "INTERNAL", "no response");
        }
    }
    if (req->db->in_tx) {
        log_error("%s %s: transaction left open, rolling back",
                  req->method_name, req->path);
        db_rollback(req->db);
    }

    send_response(req);

    clock_gettime(CLOCK_MONOTONIC, &t1);
    log_debug("%s %s %d %ldus id=%s", req->method_name, req->path,
              req->status, (long) ((t1.tv_sec - t0.tv_sec) * 1000000
                                   + (t1.tv_nsec - t0.tv_nsec) / 1000),
              req->request_id);

    if (req->json != NULL) {
        yajl_tree_free(req->json);
    }
    free(req->body);
    free(req->out);
    free(req);
}


/*
 * Reads what is left of the body (a refused request did not read it):
 * NGINX keeps FastCGI connections open, and leftover stdin records must
 * not meet the next request.  NGINX's client_max_body_size bounds it.
 */
static void
drain_input(FCGX_Request *fr)
{
    char    buf[8192];
    size_t  total = 0;
    int     n;

    while (total < 64 * 1024 * 1024
           && (n = FCGX_GetStr(buf, sizeof(buf), fr->in)) > 0)
    {
        total += (size_t) n;
    }
}


static int
server_watch(server_socket_t *s, int fd, int op)
{
    struct epoll_event  ev;

    ev.events = EPOLLIN | EPOLLONESHOT;
    ev.data.fd = fd;
    return epoll_ctl(s->epoll_fd, op, fd, &ev);
}


/*
 * The threads of one listening socket share an epoll set holding that
 * socket and every connection NGINX keeps open to it (fastcgi_keep_conn).
 * Each fd is registered EPOLLONESHOT: an event hands it to exactly one
 * thread, which owns it until it re-arms it or closes it, so no two
 * threads ever read one connection and an fd is never closed under
 * another thread.  The wake eventfd stays readable once written: it wakes
 * every thread when the server stops.
 */
int
server_socket_init(server_socket_t *s, int listen_fd)
{
    struct epoll_event  ev;
    int                 flags;

    s->listen_fd = listen_fd;
    s->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    s->wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (s->epoll_fd < 0 || s->wake_fd < 0) {
        log_error("epoll_create1 or eventfd failed: %s", strerror(errno));
        return -1;
    }

    /* Another thread may take the connection first: never block there. */
    flags = fcntl(listen_fd, F_GETFL);
    if (flags < 0 || fcntl(listen_fd, F_SETFL, flags | O_NONBLOCK) != 0) {
        log_error("fcntl O_NONBLOCK failed: %s", strerror(errno));
        return -1;
    }

    ev.events = EPOLLIN;
    ev.data.fd = s->wake_fd;
    if (epoll_ctl(s->epoll_fd, EPOLL_CTL_ADD, s->wake_fd, &ev) != 0
        || server_watch(s, listen_fd, EPOLL_CTL_ADD) != 0)
    {
        log_error("epoll_ctl failed: %s", strerror(errno));
        return -1;
    }
    return 0;
}


/*
 * Takes every waiting connection into the set, then re-arms the listening
 * socket.  All of them, not one: the listening socket re-joins the queue
 * of ready fds behind the kept connections, so taking one connection a
 * turn would leave new connections waiting many turns in a burst.  A new
 * connection is read when it has sent something, never here: one that
 * sends nothing must hold no thread.
 */
static void
server_accept(thread_ctx_t *thr)
{
    struct timeval   limit = { SERVER_READ_TIMEOUT_S, 0 };
    server_socket_t *s = thr->sock;
    int              fd;

    while ((fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC)) >= 0) {
        /*
         * Reads block (libfcgi reads as it parses); the timeout bounds
         * how long a connection that stalls mid-request holds a thread.
         */
        if (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof(limit))
            != 0)
        {
            log_warn("thread %d: SO_RCVTIMEO: %s", thr->id, strerror(errno));
        }
        if (server_watch(s, fd, EPOLL_CTL_ADD) != 0) {
            log_error("thread %d: epoll_ctl: %s", thr->id, strerror(errno));
            close(fd);
        }
    }
    if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED
        && !server_stopping)
    {
        log_error("thread %d: accept failed: %s", thr->id, strerror(errno));
        /* EMFILE and the like: give the process time to recover. */
        usleep(10000);
    }
    if (server_watch(s, s->listen_fd, EPOLL_CTL_MOD) != 0) {
        log_error("thread %d: epoll_ctl: %s", thr->id, strerror(errno));
    }
}


/*
 * Serves one request from the connection fd; 1 if the connection stays
 * open for NGINX's next request, 0 if it was closed (by NGINX, or because
 * NGINX did not ask to keep it, or on a protocol error).
 */
static int
server_serve(thread_ctx_t *thr, FCGX_Request *fr, int fd)
{
    /*
     * FCGX_Accept_r first finishes the previous request and would close
     * this fd unless told the connection is kept; the request's own
     * FCGI_KEEP_CONN flag then replaces this.  With no listening socket
     * of its own, libfcgi returns an error instead of accepting when the
     * connection brings no request (NGINX closing an idle one); it has
     * closed the fd then.
     */
    fr->ipcFd = fd;
    fr->keepConnection = 1;
    if (FCGX_Accept_r(fr) != 0) {
        return 0;
    }
    handle(thr, fr);
    drain_input(fr);

    /*
     * Every byte of the request has been read, so a connection can close
     * at once.  Without this libfcgi shuts the write side and then waits
     * for NGINX to close first, a round trip through NGINX during which
     * the thread serves nobody.
     */
    FCGX_Detach(fr);
    FCGX_Finish_r(fr);
    return fr->ipcFd >= 0;
}


void *
server_thread(void *arg)
{
    thread_ctx_t        *thr = arg;
    server_socket_t     *s = thr->sock;
    struct epoll_event   ev;
    FCGX_Request         fr;
    int                  n, fd;

    /* No listening socket for libfcgi: this loop hands it connections. */
    if (FCGX_InitRequest(&fr, -1, 0) != 0) {
        log_error("thread %d: FCGX_InitRequest failed", thr->id);
        return NULL;
    }

    /* Connect early so that the first request does not pay for it. */
    if (db_ping(&thr->db) != DB_OK) {
        log_warn("thread %d: database not reachable yet", thr->id);
    }

    while (!server_stopping) {
        n = epoll_wait(s->epoll_fd, &ev, 1, -1);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            log_error("thread %d: epoll_wait: %s", thr->id, strerror(errno));
            break;
        }
        if (ev.data.fd == s->wake_fd) {
            continue;
        }
        if (ev.data.fd == s->listen_fd) {
            server_accept(thr);
            continue;
        }
        fd = ev.data.fd;
        if (server_serve(thr, &fr, fd) && server_watch(s, fd, EPOLL_CTL_MOD)
            != 0)
        {
            log_error("thread %d: epoll_ctl: %s", thr->id, strerror(errno));
            close(fd);
            fr.ipcFd = -1;
        }
    }

    FCGX_Free(&fr, 0);
    return NULL;
}


/*
 * Stops the threads of a socket: each finishes the request it is serving,
 * then wakes on the eventfd and leaves.  Connections NGINX still keeps
 * close when the process exits.
 */
void
server_stop(server_socket_t *s)
{
    uint64_t  one = 1;

    server_stopping = 1;
    FCGX_ShutdownPending();
    shutdown(s->listen_fd, SHUT_RDWR);
    if (write(s->wake_fd, &one, sizeof(one)) != sizeof(one)) {
        log_error("cannot wake the server threads: %s", strerror(errno));
    }
}
