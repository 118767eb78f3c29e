/*
 * bench/storm: replays an on-sale against the running stack on 127.0.0.1.
 *
 * One thread, one epoll loop, a pool of keep-alive HTTP/1.1 connections
 * shared by every virtual user: a user with something to ask goes into
 * the pending line, the next free connection carries its request, and
 * the response moves the user's state machine on.  Timers (joins spread
 * over the burst, polls at the refresh interval the room gives, thinking
 * time) live in one binary heap.  Every loop and wait is bounded by the
 * storm's deadline.
 */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "json.h"
#include "storm.h"
#include "ticket_token.h"


enum {
    EP_JOIN = 0,
    EP_POLL,
    EP_SEATS,
    EP_HOLD,
    EP_PAY,
    EP_LEAVE,
    EP_N
};

static const char  *ep_names[EP_N] = {
    "join", "poll", "seats", "hold", "pay", "leave"
};

enum {
    VU_NEW = 0,
    VU_JOIN,
    VU_WAIT,
    VU_MAP,
    VU_CHOOSE,
    VU_HOLD,
    VU_HELD,
    VU_PAY,
    VU_LEAVE,
    VU_DONE
};

/* How a user's story ended. */
enum {
    OUT_NONE = 0,
    OUT_BOUGHT,
    OUT_LATE_PAID,
    OUT_LATE_REFUSED,
    OUT_SOLD_OUT,
    OUT_GAVE_UP,
    OUT_ABANDON_WAIT,
    OUT_ABANDON_HOLD,
    OUT_LEFT_ROOM,        /* the room said expired, closed, ... */
    OUT_ERROR,
    OUT_N
};

static const char  *out_names[OUT_N] = {
    "unfinished", "bought", "paid_late", "late_payment_refused", "sold_out",
    "gave_up", "abandoned_waiting", "abandoned_hold", "left_room", "error"
};

/* What each user does besides buying. */
enum {
    BH_BUY = 0,
    BH_ABANDON_WAIT,
    BH_ABANDON_HOLD,
    BH_PAY_LATE
};

#define MAX_TICKETS      4
#define MAX_REFUSED      64
#define SNAPSHOTS        256
#define STATUS_CODES     600
#define RETRIES          3
#define FAULT_RETRIES    12          /* with --faults: about 80 s of backoff */
#define FAULT_REJOINS    3
#define EVENTS_MAX       2000000


typedef struct {
    uint64_t   user_id;
    uint64_t   session_id;
    uint64_t   place;          /* from the queue token: join order */
    uint64_t   snap_gen;
    int64_t    hold_id;
    int64_t    amount;
    int64_t    paid_id;        /* payment id an answer told; -1: none */
    int64_t    paid_amount;    /* the amount counted for it */
    int64_t    t_join;         /* us since the start: join sent */
    int64_t    t_joined;       /* join answered */
    int64_t    t_wait_last;    /* last poll answered "waiting": sent at */
    int64_t    t_adm;          /* first poll answered "admitted": received */
    int64_t    abandon_at;
    int64_t    timer_at;
    int64_t    t_queued;       /* entered the pending line */
    int32_t    est_wait;       /* first estimate shown; -1 unknown */
    int64_t    t_est;          /* when it was shown */
    uint8_t    est_at_join;
    uint32_t   seats[MAX_TICKETS];
    uint32_t  *refused;
    char      *jar;            /* cookies */
    uint16_t   nrefused;
    uint8_t    state;
    uint8_t    req;
    uint8_t    want;
    uint8_t    nseats;
    uint8_t    attempts;
    uint8_t    behaviour;
    uint8_t    outcome;
    uint8_t    retries;
    uint8_t    admitted;
    uint8_t    refusals_since_map;
    uint8_t    pending_outcome;
    uint8_t    map_polls;      /* map fetched again for want of seats */
    uint8_t    rejoins;        /* --faults: back to the queue after the
                                  gate or the room forgot the user */
    uint8_t    rejoining;
    uint8_t    ever_admitted;
} vu_t;


typedef struct {
    int          fd;
    int          connecting;
    int          want_write;
    uint32_t     user;          /* index + 1 while busy */
    uint32_t     served;
    int          lane;
    int64_t      t_sent;
    size_t       got;
    char        *wbuf;
    size_t       wlen;
    size_t       woff;
    size_t       wcap;
    http_resp_t  resp;
} conn_t;


typedef struct {
    int64_t   at;
    uint32_t  user;
} timer_t_;


/*
 * The processes that share the machine, whose CPU time is sampled once a
 * second: where a run's time goes, and so what limits it.
 */
enum { CPU_NGINX, CPU_WORKER, CPU_MARIADB, CPU_STORM, CPU_N };

typedef struct {
    uint32_t  waiting;
    uint32_t  admitted;
    uint32_t  active;
    uint32_t  sold;
    uint32_t  requests[EP_N];
    uint32_t  p50, p95, p99;       /* us, all endpoints */
    uint32_t  ep_p99[EP_N];
    uint32_t  errors;
    int64_t   srv_waiting;         /* the room's own figures, -1 unknown */
    int64_t   srv_active;
    int64_t   zone_used;
    int64_t   cpu_ms[CPU_N];       /* used since the start, -1 unknown */
} sample_t;


static storm_opts_t   opt;
static int            epfd;
static int64_t        t0_us;           /* CLOCK_MONOTONIC at the start */
static time_t         t0_wall;
static uint64_t       rng_state;

static vu_t          *users;
static uint32_t       nusers;
static conn_t        *conns;
static uint32_t       nconns;
/*
 * Three lanes, each with its own connections and pending line: the room's
 * requests (join, poll, leave: answered by NGINX alone), payments, and
 * the rest of the API.  A browser has connections of its own, so a poll
 * never waits behind somebody else's hold, nor a payment behind the
 * crowd still choosing seats (the stack gives payments their own worker
 * threads too); one shared line would make the room look slow whenever
 * the API is, and let holds expire while their payments wait here.
 */
#define LANE_ROOM  0
#define LANE_API   1
#define LANE_PAY   2
#define NLANES     3

typedef struct {
    uint32_t  *idle;            /* stack of free connections */
    uint32_t   nidle;
    uint32_t  *pending;         /* ring of user indexes */
    uint32_t   head;
    uint32_t   count;
    uint32_t   cap;
} lane_t;

static lane_t         lanes[NLANES];

static timer_t_      *heap;
static uint32_t       heap_n, heap_cap;

static ticket_key_t  *key;
static storm_venue_t  venue;
static storm_snapshot_t  snaps[SNAPSHOTS];
static uint64_t       snap_gen;

/* Figures. */
static hist_t         ep_hist[EP_N];
static hist_t         sec_all, sec_ep[EP_N];
static uint64_t       ep_status[EP_N][STATUS_CODES];
static uint64_t       ep_conn_errors[EP_N], ep_timeouts[EP_N];
static uint64_t       sec_requests[EP_N], sec_errors;
static uint64_t       outcomes[OUT_N];

/* Error codes ({"error":{"code":...}}) and room statuses, tallied. */
#define TALLY_MAX  48

typedef struct {
    char      name[40];
    int       ep;
    int       status;
    uint64_t  count;
} tally_t;

static tally_t        tallies[TALLY_MAX];
static uint32_t       ntallies;
static uint64_t       hold_attempts, hold_ok, hold_conflicts;
static uint64_t       pay_ok, releases_seen, idem_replays;
static uint64_t       seats_sold_client, double_sold_client;
static int64_t        money_charged_client, money_prices_client;
static uint8_t       *sold_by_id;
static uint32_t       n_waiting, n_admitted, n_active, n_finished;
static int64_t        t_sellout = -1, t_last_sale = -1, t_first_join = -1;
static int64_t        t_last_join = -1;
static uint64_t       reconnects;
static int64_t        pending_wait_max;
static sample_t      *samples;
static uint32_t       nsamples, samples_cap;
static long           nginx_rss_peak, worker_rss_peak;
static long           nginx_hwm, worker_hwm;
static long           nginx_anon_peak, worker_anon_peak;
static int64_t        zone_peak = -1, zone_size = -1;
static int64_t        srv_waiting = -1, srv_active = -1, zone_used = -1;
static int64_t        srv_admitted_total = -1;
static int64_t        cpu_base[CPU_N], cpu_now[CPU_N];
static const char    *cpu_keys[CPU_N] = {
    "nginx_workers", "worker", "mariadb", "storm"
};
static const char    *cpu_titles[CPU_N] = {
    "NGINX workers", "worker", "MariaDB", "storm"
};
static volatile sig_atomic_t  stop_flag;

/*
 * With --faults: every answer a user sees as an error (a 5xx, a request
 * that failed or timed out, a refusal other than a taken seat), with its
 * time, so that whoever injected the faults can tell which one caused
 * what and for how long.  Written as <result>.events.tsv.
 */
typedef struct {
    int64_t   t_us;
    int16_t   status;           /* 0: connection error, -1: client timeout */
    uint8_t   ep;
    char      code[29];
} event_t;

static event_t       *events;
static uint32_t       nevents, events_cap;
static uint64_t       events_dropped;
static int64_t        t0_epoch_ms;

/* The payment burst (--pay-at): its first request sent, last answered. */
static int64_t        burst_first_us = -1;
static int64_t        burst_last_us = -1;
static uint64_t       burst_paid;
static uint64_t       burst_answers;
static uint64_t       fault_retries, places_lost, rejoins_total;
static uint64_t       unknown_pays, unknown_seats;


/* --- small helpers ---------------------------------------------------------- */

static void
tally(int ep, int status, const char *name)
{
    uint32_t  i;

    for (i = 0; i < ntallies; i++) {
        if (tallies[i].ep == ep && tallies[i].status == status
            && strcmp(tallies[i].name, name) == 0)
        {
            tallies[i].count++;
            return;
        }
    }

    if (ntallies < TALLY_MAX) {
        snprintf(tallies[ntallies].name, sizeof(tallies[0].name), "%s", name);
        tallies[ntallies].ep = ep;
        tallies[ntallies].status = status;
        tallies[ntallies].count = 1;
        ntallies++;
    }
}

static int64_t now_us(void);


static void
event_add(int ep, int status, const char *code)
{
    event_t  *e;

    if (!opt.faults) {
        return;
    }

    if (nevents == events_cap) {
        if (events_cap >= EVENTS_MAX) {
            events_dropped++;
            return;
        }

        events_cap = events_cap ? events_cap * 2 : 4096;
        events = realloc(events, events_cap * sizeof(event_t));

        if (events == NULL) {
            fprintf(stderr, "storm: out of memory\n");
            exit(2);
        }
    }

    e = &events[nevents++];
    e->t_us = now_us();
    e->status = (int16_t) status;
    e->ep = (uint8_t) ep;
    snprintf(e->code, sizeof(e->code), "%s", code);
}


static int64_t
now_us(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);

    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000 - t0_us;
}


static uint64_t
rnd(void)
{
    rng_state ^= rng_state >> 12;
    rng_state ^= rng_state << 25;
    rng_state ^= rng_state >> 27;

    return rng_state * 2685821657736338717ULL;
}


static double
rnd_unit(void)
{
    return (double) (rnd() >> 11) / 9007199254740992.0;
}


static int64_t
rnd_range_us(double lo_s, double hi_s)
{
    return (int64_t) ((lo_s + (hi_s - lo_s) * rnd_unit()) * 1e6);
}


static void
die(const char *msg)
{
    fprintf(stderr, "storm: %s\n", msg);
    exit(2);
}


/* --- the timer heap ------------------------------------------------------------ */

static void
timer_set(uint32_t u, int64_t at)
{
    uint32_t   i, parent;
    timer_t_   t;

    if (heap_n == heap_cap) {
        heap_cap = heap_cap ? heap_cap * 2 : 1024;
        heap = realloc(heap, heap_cap * sizeof(timer_t_));
        if (heap == NULL) {
            die("out of memory");
        }
    }

    users[u].timer_at = at;
    t.at = at;
    t.user = u;
    i = heap_n++;

    while (i > 0) {
        parent = (i - 1) / 2;

        if (heap[parent].at <= at) {
            break;
        }

        heap[i] = heap[parent];
        i = parent;
    }

    heap[i] = t;
}


static void
timer_pop(void)
{
    uint32_t   i, c;
    timer_t_   last;

    last = heap[--heap_n];
    i = 0;

    for ( ;; ) {
        c = 2 * i + 1;

        if (c >= heap_n) {
            break;
        }

        if (c + 1 < heap_n && heap[c + 1].at < heap[c].at) {
            c++;
        }

        if (last.at <= heap[c].at) {
            break;
        }

        heap[i] = heap[c];
        i = c;
    }

    if (heap_n > 0) {
        heap[i] = last;
    }
}


/* --- the pending line and the connections --------------------------------- */

static void send_request(uint32_t u, int ep, int front);
static void dispatch(void);
static void vu_response(uint32_t u, int ep, int status, http_resp_t *r,
    int64_t t_sent);
static void vu_timer(uint32_t u);


static int
ep_lane(int ep)
{
    if (ep == EP_JOIN || ep == EP_POLL || ep == EP_LEAVE) {
        return LANE_ROOM;
    }

    return ep == EP_PAY ? LANE_PAY : LANE_API;
}


static void
pend_push(uint32_t u, int front)
{
    lane_t  *l = &lanes[ep_lane(users[u].req)];

    if (l->count == l->cap) {
        die("the pending line overflowed");
    }

    if (front) {
        l->head = (l->head + l->cap - 1) % l->cap;
        l->pending[l->head] = u;

    } else {
        l->pending[(l->head + l->count) % l->cap] = u;
    }

    l->count++;
}


static int
dispatch_ready(void)
{
    int  k;

    for (k = 0; k < NLANES; k++) {
        if (lanes[k].count > 0 && lanes[k].nidle > 0) {
            return 1;
        }
    }

    return 0;
}


static void
send_request(uint32_t u, int ep, int front)
{
    users[u].req = (uint8_t) ep;

    if (!front) {
        users[u].t_queued = now_us();
    }

    pend_push(u, front);
}


static void
conn_close(conn_t *c)
{
    if (c->fd != -1) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
    }

    c->connecting = 0;
    c->want_write = 0;
    c->served = 0;
}


static void
conn_release(conn_t *c)
{
    lane_t  *l = &lanes[c->lane];

    c->user = 0;
    l->idle[l->nidle++] = (uint32_t) (c - conns);
}


static int
conn_open(conn_t *c)
{
    int                 fd, one;
    struct sockaddr_in  sin;
    struct epoll_event  ev;

    fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return -1;
    }

    one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t) opt.port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    c->connecting = 0;

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }

        c->connecting = 1;
    }

    c->fd = fd;
    c->served = 0;
    c->want_write = 1;

    ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP;
    ev.data.u32 = (uint32_t) (c - conns);

    if (epoll_ctl(epfd, EPOLL_CTL_ADD, fd, &ev) == -1) {
        close(fd);
        c->fd = -1;
        return -1;
    }

    reconnects++;

    return 0;
}


static void
conn_want_write(conn_t *c, int want)
{
    struct epoll_event  ev;

    if (c->want_write == want || c->fd == -1) {
        return;
    }

    c->want_write = want;
    ev.events = EPOLLIN | EPOLLRDHUP | (want ? EPOLLOUT : 0);
    ev.data.u32 = (uint32_t) (c - conns);
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
}


static void
wbuf_reserve(conn_t *c, size_t need)
{
    if (c->wcap >= need) {
        return;
    }

    c->wcap = need < 4096 ? 4096 : need * 2;
    c->wbuf = realloc(c->wbuf, c->wcap);

    if (c->wbuf == NULL) {
        die("out of memory");
    }
}


/* Builds the request of user u into the connection's write buffer. */
static void
build_request(conn_t *c, uint32_t u)
{
    int          n, k;
    vu_t        *v = &users[u];
    const char  *method, *cookie;
    char         path[256], body[256], extra[256];
    storm_snapshot_t  *s;

    body[0] = '\0';
    extra[0] = '\0';
    method = "GET";

    switch (v->req) {

    case EP_JOIN:
        method = "POST";
        snprintf(path, sizeof(path), "%s", opt.queue_path);
        break;

    case EP_POLL:
        snprintf(path, sizeof(path), "%s", opt.queue_path);
        break;

    case EP_LEAVE:
        method = "DELETE";
        snprintf(path, sizeof(path), "%s", opt.queue_path);
        break;

    case EP_SEATS:
        snprintf(path, sizeof(path), "/api/performances/%lld/seats",
                 (long long) opt.performance);
        s = &snaps[v->snap_gen % SNAPSHOTS];
        /* As a browser asks: the map comes gzipped (a few KB, not 40). */
        n = snprintf(extra, sizeof(extra), "Accept-Encoding: gzip\r\n");

        if (v->snap_gen != 0 && s->gen == v->snap_gen) {
            snprintf(extra + n, sizeof(extra) - (size_t) n,
                     "If-None-Match: %s\r\n", s->etag);
        }

        break;

    case EP_HOLD:
        method = "POST";
        snprintf(path, sizeof(path), "/api/performances/%lld/holds",
                 (long long) opt.performance);
        n = snprintf(body, sizeof(body), "{\"seat_ids\":[");

        for (k = 0; k < v->nseats; k++) {
            n += snprintf(body + n, sizeof(body) - (size_t) n, "%s%u",
                          k ? "," : "", v->seats[k]);
        }

        snprintf(body + n, sizeof(body) - (size_t) n, "]}");
        /* One key per attempt: a retry of the same attempt replays. */
        snprintf(extra, sizeof(extra), "Idempotency-Key: storm-h-%llu-%u\r\n",
                 (unsigned long long) v->user_id, (unsigned) v->attempts);
        break;

    default:
        method = "POST";
        snprintf(path, sizeof(path), "/api/payments");
        snprintf(body, sizeof(body), "{\"hold_id\":%lld,\"method\":"
                 "\"balance\"}", (long long) v->hold_id);
        /* The same key for every try of one hold: retries are replays. */
        snprintf(extra, sizeof(extra), "Idempotency-Key: storm-%llu-%lld\r\n",
                 (unsigned long long) v->user_id, (long long) v->hold_id);
        break;
    }

    cookie = v->jar ? v->jar : "";

    wbuf_reserve(c, strlen(cookie) + strlen(body) + 1024);

    n = snprintf(c->wbuf, c->wcap,
                 "%s %s HTTP/1.1\r\n"
                 "Host: 127.0.0.1:%d\r\n"
                 "Accept: application/json\r\n"
                 "User-Agent: ticket-storm\r\n"
                 "Cookie: %s\r\n"
                 "%s"
                 "%s%s%s"
                 "Content-Length: %zu\r\n"
                 "\r\n%s",
                 method, path, opt.port, cookie, extra,
                 body[0] ? "Content-Type: application/json" : "",
                 body[0] ? "\r\n" : "", "", strlen(body), body);

    c->wlen = (size_t) n;
    c->woff = 0;
}


static void conn_fail(conn_t *c, int timeout);


static void
conn_write(conn_t *c)
{
    ssize_t  n;

    while (c->woff < c->wlen) {
        n = write(c->fd, c->wbuf + c->woff, c->wlen - c->woff);

        if (n > 0) {
            c->woff += (size_t) n;
            continue;
        }

        if (n == -1 && (errno == EAGAIN || errno == EINTR)) {
            conn_want_write(c, 1);
            return;
        }

        conn_fail(c, 0);
        return;
    }

    conn_want_write(c, 0);
}


static void dispatch_lane(lane_t *l);


static void
dispatch(void)
{
    int        k;
    lane_t    *l;

    for (k = 0; k < NLANES; k++) {
        l = &lanes[k];
        dispatch_lane(l);
    }
}


static void
dispatch_lane(lane_t *l)
{
    uint32_t   u;
    int64_t    now, w;
    conn_t    *c;

    while (l->count > 0 && l->nidle > 0) {
        u = l->pending[l->head];
        l->head = (l->head + 1) % l->cap;
        l->count--;

        c = &conns[l->idle[--l->nidle]];

        if (c->fd == -1 && conn_open(c) != 0) {
            /*
             * Refused or out of sockets: the user sees a failed request
             * and tries again a second later, like after any other.
             */
            l->idle[l->nidle++] = (uint32_t) (c - conns);
            ep_conn_errors[users[u].req]++;
            sec_errors++;
            event_add(users[u].req, 0, "connect");
            vu_response(u, users[u].req, 0, NULL, now_us());
            continue;
        }

        now = now_us();
        w = now - users[u].t_queued;

        if (w > pending_wait_max) {
            pending_wait_max = w;
        }

        c->user = u + 1;
        c->got = 0;
        c->t_sent = now;
        http_resp_reset(&c->resp, 0);
        build_request(c, u);

        if (!c->connecting) {
            conn_write(c);
        }
    }
}


/* The connection broke or timed out with a request on it. */
static void
conn_fail(conn_t *c, int timeout)
{
    int       ep, reused;
    uint32_t  u;
    int64_t   sent;

    reused = c->served > 0;
    conn_close(c);

    if (c->user == 0) {
        return;
    }

    u = c->user - 1;
    ep = users[u].req;
    sent = c->t_sent;
    conn_release(c);

    /*
     * A keep-alive connection the server closed just as we reused it: the
     * request never reached it, so it is sent again on a fresh one.
     */
    if (!timeout && reused && c->got == 0) {
        pend_push(u, 1);
        return;
    }

    if (timeout) {
        ep_timeouts[ep]++;
        event_add(ep, -1, "timeout");

    } else {
        ep_conn_errors[ep]++;
        event_add(ep, 0, "connection");
    }

    sec_errors++;
    vu_response(u, ep, 0, NULL, sent);
}


static void
conn_done(conn_t *c)
{
    int       ep;
    uint32_t  u;
    int64_t   now, lat;

    u = c->user - 1;
    ep = users[u].req;
    now = now_us();
    lat = now - c->t_sent;

    hist_record(&ep_hist[ep], (uint64_t) lat);
    hist_record(&sec_ep[ep], (uint64_t) lat);
    hist_record(&sec_all, (uint64_t) lat);
    sec_requests[ep]++;

    if (c->resp.status > 0 && c->resp.status < STATUS_CODES) {
        ep_status[ep][c->resp.status]++;
    }

    if (c->resp.status >= 500) {
        sec_errors++;
    }

    if (c->resp.status >= 400) {
        char  code[40];

        if (json_get_str(c->resp.body, c->resp.body_len, "error.code", code,
                         sizeof(code)) < 0)
        {
            snprintf(code, sizeof(code), "(no code)");
        }

        tally(ep, c->resp.status, code);

        /*
         * A seat somebody else took, or a payment after the hold expired
         * by one who meant to pay late, is the storm's business, not a
         * fault's.
         */
        if (!(ep == EP_HOLD && c->resp.status == 409
              && strcmp(code, "SEAT_UNAVAILABLE") == 0)
            && !(ep == EP_PAY && c->resp.status < 500
                 && users[u].behaviour == BH_PAY_LATE))
        {
            event_add(ep, c->resp.status, code);
        }
    }

    c->served++;

    if (!c->resp.keep_alive) {
        conn_close(c);
    }

    conn_release(c);
    vu_response(u, ep, c->resp.status, &c->resp, c->t_sent);
}


static void
conn_read(conn_t *c)
{
    int             rc;
    size_t          used;
    ssize_t         n;
    static char     buf[256 * 1024];

    for ( ;; ) {
        n = read(c->fd, buf, sizeof(buf));

        if (n == -1 && errno == EINTR) {
            continue;
        }

        if (n == -1 && errno == EAGAIN) {
            return;
        }

        if (n <= 0) {
            if (c->user != 0 && n == 0
                && http_resp_eof(&c->resp) == HTTP_DONE)
            {
                conn_close(c);
                conn_done(c);
                return;
            }

            conn_fail(c, 0);
            return;
        }

        if (c->user == 0) {
            /* Bytes nobody asked for: the connection is out of step. */
            conn_close(c);
            return;
        }

        c->got += (size_t) n;
        rc = http_resp_feed(&c->resp, buf, (size_t) n, &used);

        if (rc == HTTP_ERROR || (rc == HTTP_DONE && used != (size_t) n)) {
            conn_fail(c, 0);
            return;
        }

        if (rc == HTTP_DONE) {
            conn_done(c);
            return;
        }
    }
}


static void
conn_event(conn_t *c, uint32_t events)
{
    int        err;
    socklen_t  len;

    if (c->fd == -1) {
        return;
    }

    if (c->connecting && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
        err = 0;
        len = sizeof(err);
        getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &len);

        if (err != 0) {
            conn_fail(c, 0);
            return;
        }

        c->connecting = 0;
    }

    if ((events & EPOLLOUT) && c->user != 0 && c->woff < c->wlen) {
        conn_write(c);

        if (c->fd == -1) {
            return;
        }

    } else if (events & EPOLLOUT) {
        conn_want_write(c, 0);
    }

    if (events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
        conn_read(c);
    }
}


static void
check_timeouts(int64_t now)
{
    uint32_t  i;
    int64_t   limit;

    limit = (int64_t) (opt.request_timeout * 1e6);

    for (i = 0; i < nconns; i++) {
        if (conns[i].user != 0 && now - conns[i].t_sent > limit) {
            conn_fail(&conns[i], 1);
        }
    }
}


/* --- the virtual user ------------------------------------------------------ */

static void
vu_finish(uint32_t u, int outcome)
{
    vu_t  *v = &users[u];

    if (v->state == VU_DONE) {
        return;
    }

    if (v->state == VU_WAIT || v->state == VU_JOIN) {
        if (v->state == VU_WAIT) {
            n_waiting--;
        }
    }

    if (v->admitted) {
        n_active--;
    }

    v->state = VU_DONE;
    v->outcome = (uint8_t) outcome;
    outcomes[outcome]++;
    n_finished++;
    v->timer_at = 0;

    free(v->refused);
    v->refused = NULL;
    v->nrefused = 0;
}


/*
 * A user who was let in and is done says so to the room most of the time
 * (the page's "leave" button, or the app closing the session), which
 * frees the place for the next one; the rest just go away and their
 * session times out.
 */
static void
vu_end(uint32_t u, int outcome)
{
    vu_t  *v = &users[u];

    if (v->admitted && rnd_unit() < opt.leave) {
        v->pending_outcome = (uint8_t) outcome;
        v->state = VU_LEAVE;
        v->retries = 0;
        send_request(u, EP_LEAVE, 0);
        return;
    }

    vu_finish(u, outcome);
}


/* Takes the Set-Cookie headers of a response into the user's jar. */
static void
vu_cookies(vu_t *v, http_resp_t *r)
{
    unsigned     i;
    size_t       len;
    const char  *val;
    char         jar[2048];

    snprintf(jar, sizeof(jar), "%s", v->jar ? v->jar : "");

    for (i = 0; http_resp_header(r, "set-cookie", i, &val, &len); i++) {
        if (http_cookie_set(jar, sizeof(jar), val, len) != 0) {
            continue;
        }
    }

    if (i == 0) {
        return;
    }

    free(v->jar);
    v->jar = strdup(jar);

    if (v->jar == NULL) {
        die("out of memory");
    }
}


/* The place in line, read from the queue token the room set. */
static void
vu_place(vu_t *v)
{
    int             rc;
    size_t          len;
    const char     *p, *eq, *end;
    ticket_token_t  tok;

    if (v->jar == NULL || key == NULL) {
        return;
    }

    p = v->jar;

    while (*p != '\0') {
        while (*p == ' ' || *p == ';') {
            p++;
        }

        end = strchr(p, ';');
        if (end == NULL) {
            end = p + strlen(p);
        }

        eq = memchr(p, '=', (size_t) (end - p));

        if (eq != NULL) {
            len = (size_t) (end - eq - 1);
            rc = ticket_token_decode(&tok, eq + 1, len, &key, 1,
                                     (int64_t) time(NULL));

            if ((rc == TICKET_TOKEN_OK || rc == TICKET_TOKEN_EXPIRED)
                && tok.kind == TICKET_TOKEN_QUEUE)
            {
                v->place = tok.number;
                return;
            }
        }

        p = end;
    }
}


/*
 * Errors a user may try again after a pause: our side or the server's.
 * With --faults a user backs off as a real client should (1, 2, 4, then
 * every 8 s, jittered, never sooner than Retry-After) for about 80 s, so
 * that a restart of a component costs a wait, not a sale.
 */
static int
vu_retry(uint32_t u, int status, http_resp_t *r)
{
    size_t       len, i;
    int64_t      delay, after;
    const char  *val;
    vu_t        *v = &users[u];

    if (status != 0 && status < 500 && status != 429) {
        return 0;
    }

    if (!opt.faults) {
        if (v->retries < RETRIES) {
            v->retries++;
            timer_set(u, now_us() + 1000000);
            return 1;
        }

        return 0;
    }

    if (v->retries >= FAULT_RETRIES) {
        return 0;
    }

    v->retries++;
    fault_retries++;

    delay = (int64_t) 1000000 << (v->retries < 4 ? v->retries - 1 : 3);
    delay = delay * 3 / 4 + (int64_t) (rnd() % (uint64_t) (delay / 2 + 1));

    if (r != NULL && http_resp_header(r, "retry-after", 0, &val, &len)) {
        after = 0;

        for (i = 0; i < len && val[i] >= '0' && val[i] <= '9'; i++) {
            after = after * 10 + (val[i] - '0');

            if (after > 60) {
                break;
            }
        }

        if (i == len && after > 0 && after <= 60 && after * 1000000 > delay) {
            delay = after * 1000000;
        }
    }

    timer_set(u, now_us() + delay);

    return 1;
}


/*
 * With --faults: the gate refused a user it had let in, or the room no
 * longer knows the user's place.  A real client goes back to the queue;
 * a place that was kept gives the same number back, and one that was not
 * is counted as lost.
 */
static int
vu_rejoin(uint32_t u)
{
    vu_t  *v = &users[u];

    if (!opt.faults || v->rejoins >= FAULT_REJOINS) {
        return 0;
    }

    v->rejoins++;
    rejoins_total++;

    if (v->admitted) {
        v->admitted = 0;
        n_active--;
    }

    if (v->state == VU_WAIT) {
        n_waiting--;
    }

    v->state = VU_JOIN;
    v->retries = 0;
    v->rejoining = 1;
    timer_set(u, now_us() + rnd_range_us(0.5, 1.5));

    return 1;
}


/* 409 IDEMPOTENCY_IN_PROGRESS: a retry overtook the request it repeats. */
static int
vu_in_progress(http_resp_t *r)
{
    char  code[40];

    return json_get_str(r->body, r->body_len, "error.code", code,
                        sizeof(code)) > 0
           && strcmp(code, "IDEMPOTENCY_IN_PROGRESS") == 0;
}


static int
vu_seat_refused(const vu_t *v, uint32_t id)
{
    uint16_t  i;

    for (i = 0; i < v->nrefused; i++) {
        if (v->refused[i] == id) {
            return 1;
        }
    }

    return 0;
}


static void
vu_refuse(vu_t *v, uint32_t id)
{
    if (v->refused == NULL) {
        v->refused = calloc(MAX_REFUSED, sizeof(uint32_t));
        if (v->refused == NULL) {
            die("out of memory");
        }
    }

    if (v->nrefused < MAX_REFUSED && !vu_seat_refused(v, id)) {
        v->refused[v->nrefused++] = id;
    }
}


/*
 * Picks up to want seats among the best free ones the user's map shows:
 * a random start among the first `spread` usable seats, then the usable
 * seats that follow in rank order (neighbours, mostly).  Returns how many.
 */
static int
vu_choose(vu_t *v)
{
    uint32_t           i, skip, n;
    storm_snapshot_t  *s;

    s = &snaps[v->snap_gen % SNAPSHOTS];

    if (v->snap_gen == 0 || s->gen != v->snap_gen || venue.seats == NULL) {
        return 0;
    }

    /* By default the best tenth of the free seats, at least 16. */
    skip = opt.spread ? opt.spread : venue.nseats / 10;
    skip = (uint32_t) (rnd() % (skip < 16 ? 16 : skip));
    n = 0;

    /* Two passes: with the random skip, then from the top. */
    for (int pass = 0; pass < 2 && n == 0; pass++) {
        uint32_t  seen = 0;

        for (i = 0; i < venue.nseats && n < v->want; i++) {
            if (!s->free[i] || vu_seat_refused(v, venue.seats[i].id)) {
                continue;
            }

            if (pass == 0 && seen++ < skip) {
                continue;
            }

            v->seats[n++] = venue.seats[i].id;
        }

        if (n < v->want && pass == 0) {
            n = 0;
        }
    }

    v->nseats = (uint8_t) n;

    return (int) n;
}


static void
vu_hold(uint32_t u)
{
    vu_t              *v = &users[u];
    storm_snapshot_t  *s;

    if (v->attempts >= opt.max_attempts) {
        vu_end(u, OUT_GAVE_UP);
        return;
    }

    if (vu_choose(v) == 0) {
        s = &snaps[v->snap_gen % SNAPSHOTS];

        /* The user's map fell out of the cache: fetch it anew. */
        if (v->snap_gen == 0 || s->gen != v->snap_gen) {
            v->snap_gen = 0;
            v->state = VU_MAP;
            v->retries = 0;
            send_request(u, EP_SEATS, 0);
            return;
        }

        /*
         * Nothing free for this user, but seats are held (holds expire)
         * or free ones were just refused to him: a buyer looks again a
         * little later before giving up.
         */
        if (s->gen == v->snap_gen && (s->nheld > 0 || s->nfree > 0)
            && v->map_polls < 20)
        {
            v->map_polls++;
            v->state = VU_MAP;
            v->retries = 0;
            timer_set(u, now_us() + rnd_range_us(0.5, 2.0));
            return;
        }

        vu_end(u, OUT_SOLD_OUT);
        return;
    }

    v->attempts++;
    v->state = VU_HOLD;
    v->retries = 0;
    hold_attempts++;
    send_request(u, EP_HOLD, 0);
}


static void
vu_admitted(uint32_t u)
{
    vu_t  *v = &users[u];

    if (v->state == VU_WAIT) {
        n_waiting--;
    }

    v->admitted = 1;
    n_active++;

    if (!v->ever_admitted) {
        v->ever_admitted = 1;
        n_admitted++;
    }

    v->state = VU_MAP;
    v->retries = 0;
    send_request(u, EP_SEATS, 0);
}


/* Reads a queue status answer; returns 1 when admitted, 0 waiting, -1. */
static int
vu_standing(uint32_t u, http_resp_t *r, int joining)
{
    int64_t   refresh, wait;
    int       known;
    char      status[32];
    vu_t     *v = &users[u];

    if (json_get_str(r->body, r->body_len, "status", status, sizeof(status))
        < 0)
    {
        return -1;
    }

    /*
     * The estimate shown at join, or when the room shows none then (it
     * has not measured its pace yet), the first one shown afterwards.
     */
    if (v->est_wait < 0
        && json_get_int(r->body, r->body_len, "wait_seconds", &wait) == 0
        && (json_get_bool(r->body, r->body_len, "wait_known", &known) != 0
            || known))
    {
        v->est_wait = (int32_t) wait;
        v->t_est = now_us();
        v->est_at_join = (uint8_t) joining;
    }

    if (strcmp(status, "admitted") == 0) {
        return 1;
    }

    if (strcmp(status, "waiting") != 0 && strcmp(status, "paused") != 0) {
        char  name[48];

        snprintf(name, sizeof(name), "room:%s", status);
        tally(joining ? EP_JOIN : EP_POLL, 200, name);
        return -1;
    }

    refresh = 5;

    if (json_get_int(r->body, r->body_len, "refresh_seconds", &refresh) != 0
        || refresh < 1)
    {
        refresh = 5;
    }

    if (refresh > 60) {
        refresh = 60;
    }

    v->state = VU_WAIT;
    timer_set(u, now_us() + refresh * 1000000);

    return 0;
}


static void
vu_on_join(uint32_t u, int status, http_resp_t *r, int64_t t_sent)
{
    int       rc;
    uint64_t  old;
    vu_t     *v = &users[u];

    if (status < 200 || status >= 300) {
        if (!vu_retry(u, status, r)) {
            vu_finish(u, OUT_ERROR);
        }

        return;
    }

    old = v->place;
    vu_cookies(v, r);
    vu_place(v);

    if (v->rejoining) {
        v->rejoining = 0;

        if (old != 0 && v->place != old) {
            /* A new number: the room lost the old place. */
            places_lost++;
            event_add(EP_JOIN, status, "place:changed");
            v->t_wait_last = -1;
            v->t_adm = -1;
        }
    }

    v->t_joined = now_us();

    if (t_last_join < v->t_joined) {
        t_last_join = v->t_joined;
    }

    n_waiting++;
    v->state = VU_WAIT;
    rc = vu_standing(u, r, 1);

    if (rc == 1) {
        if (v->t_adm < 0) {
            v->t_adm = now_us();
        }

        vu_admitted(u);

    } else if (rc == 0) {
        /* "Waiting" at join counts as a sighting for the FIFO check. */
        v->t_wait_last = t_sent;

    } else {
        vu_finish(u, OUT_LEFT_ROOM);
    }
}


static void
vu_on_poll(uint32_t u, int status, http_resp_t *r, int64_t t_sent)
{
    int    rc;
    vu_t  *v = &users[u];

    if (status < 200 || status >= 300) {
        if (status >= 400 && status < 500 && status != 429 && opt.faults) {
            /* NOT_IN_QUEUE, a token refused: the room forgot the place. */
            places_lost++;

            if (vu_rejoin(u)) {
                return;
            }
        }

        if (!vu_retry(u, status, r)) {
            vu_finish(u, OUT_ERROR);
        }

        return;
    }

    vu_cookies(v, r);
    rc = vu_standing(u, r, 0);

    if (rc == 0) {
        v->t_wait_last = t_sent;
        v->retries = 0;

    } else if (rc == 1) {
        if (v->t_adm < 0) {
            v->t_adm = now_us();
        }

        vu_admitted(u);

    } else {
        if (opt.faults) {
            event_add(EP_POLL, status, "room:not-waiting");
            places_lost++;

            if (vu_rejoin(u)) {
                return;
            }
        }

        vu_finish(u, OUT_LEFT_ROOM);
    }
}


/* Parses a seat map answer into s, gunzipping it first if it came so. */
static int
vu_seatmap_parse(const http_resp_t *r, storm_snapshot_t *s, const char **err)
{
    const char  *coding;
    size_t       len, plain_len;
    char        *plain;
    int          rc;

    if (!http_resp_header(r, "content-encoding", 0, &coding, &len)) {
        return storm_seatmap_parse(r->body, r->body_len, &venue, s, err);
    }
    if (len != 4 || strncasecmp(coding, "gzip", 4) != 0) {
        *err = "a content coding other than gzip";
        return -1;
    }
    if (http_gunzip(r->body, r->body_len, &plain, &plain_len) != 0) {
        *err = "a gzipped body that does not gunzip";
        return -1;
    }
    rc = storm_seatmap_parse(plain, plain_len, &venue, s, err);
    free(plain);
    return rc;
}


static void
vu_on_seats(uint32_t u, int status, http_resp_t *r)
{
    size_t             len;
    const char        *etag, *err;
    storm_snapshot_t  *s;
    vu_t              *v = &users[u];

    if (status == 304 && v->snap_gen != 0
        && snaps[v->snap_gen % SNAPSHOTS].gen == v->snap_gen)
    {
        goto chosen;
    }

    if (status != 200) {
        if ((status == 401 || status == 403) && vu_rejoin(u)) {
            return;
        }

        if (!vu_retry(u, status, r)) {
            vu_finish(u, OUT_ERROR);
        }

        return;
    }

    if (!http_resp_header(r, "etag", 0, &etag, &len) || len >= 96) {
        etag = "";
        len = 0;
    }

    /* The same map as the latest one parsed: no need to read it again. */
    s = &snaps[snap_gen % SNAPSHOTS];

    if (len == 0 || snap_gen == 0 || s->gen != snap_gen
        || strlen(s->etag) != len || memcmp(s->etag, etag, len) != 0)
    {
        s = &snaps[++snap_gen % SNAPSHOTS];
        s->gen = 0;

        if (vu_seatmap_parse(r, s, &err) != 0) {
            fprintf(stderr, "storm: seat map: %s\n", err);
            vu_finish(u, OUT_ERROR);
            return;
        }

        memcpy(s->etag, etag, len);
        s->etag[len] = '\0';
        s->gen = snap_gen;

        if (sold_by_id == NULL) {
            sold_by_id = calloc((size_t) venue.max_id + 1, 1);
            if (sold_by_id == NULL) {
                die("out of memory");
            }
        }
    }

    v->snap_gen = snap_gen;
    v->refusals_since_map = 0;

    /* A fresh map is the truth: seats refused before may be free again. */
    v->nrefused = 0;

chosen:

    v->state = VU_CHOOSE;
    timer_set(u, now_us() + rnd_range_us(opt.think_min, opt.think_max));
}


/*
 * When a holder pays: after thinking, or with --pay-at not before that
 * second, so that every holder pays in one burst and the burst measures
 * how many payments a second the stack takes.
 */
static int64_t
vu_pay_time(int64_t after_think)
{
    int64_t  burst = (int64_t) (opt.pay_at * 1e6);

    return opt.pay_at > 0 && after_think < burst ? burst : after_think;
}


static void
vu_on_hold(uint32_t u, int status, http_resp_t *r)
{
    int          k;
    int64_t      id, amount;
    json_iter_t  it;
    json_span_t  arr, item;
    vu_t        *v = &users[u];

    if (status == 201 || status == 200) {
        if (json_get_int(r->body, r->body_len, "hold_id", &id) != 0
            && json_get_int(r->body, r->body_len, "id", &id) != 0)
        {
            vu_finish(u, OUT_ERROR);
            return;
        }

        amount = 0;

        if (json_get_int(r->body, r->body_len, "total", &amount) != 0
            && json_get_int(r->body, r->body_len, "amount", &amount) != 0)
        {
            for (k = 0; k < v->nseats; k++) {
                amount += venue.price_by_id[v->seats[k]];
            }
        }

        hold_ok++;
        v->hold_id = id;
        v->amount = amount;
        v->state = VU_HELD;
        v->retries = 0;

        if (v->behaviour == BH_ABANDON_HOLD) {
            vu_finish(u, OUT_ABANDON_HOLD);
            return;
        }

        if (v->behaviour == BH_PAY_LATE) {
            timer_set(u, now_us() + (int64_t) ((opt.hold_seconds + 1.5)
                                               * 1e6));
            return;
        }

        timer_set(u, vu_pay_time(now_us()
                                 + rnd_range_us(opt.think_min, opt.think_max)));
        return;
    }

    if (status == 409 && vu_in_progress(r)
        && v->retries < (opt.faults ? FAULT_RETRIES : RETRIES))
    {
        /* The first try of this very attempt is still running: ask again. */
        v->retries++;
        v->state = VU_HOLD;
        timer_set(u, now_us() + 1000000);
        return;
    }

    if (status == 409) {
        hold_conflicts++;

        /* The answer names the seats somebody else has. */
        if ((json_find(r->body, r->body_len, "error.seat_ids", &arr) == 0
             || json_find(r->body, r->body_len, "error.seats", &arr) == 0
             || json_find(r->body, r->body_len, "seat_ids", &arr) == 0)
            && json_array_begin(&it, arr) == 0)
        {
            while (json_array_next(&it, &item) == 1) {
                if (json_span_int(item, &id) == 0 && id > 0) {
                    vu_refuse(v, (uint32_t) id);
                }
            }

        } else {
            for (k = 0; k < v->nseats; k++) {
                vu_refuse(v, v->seats[k]);
            }
        }

        /* After two refusals the map is too old: fetch it again. */
        if (++v->refusals_since_map >= 2) {
            v->state = VU_MAP;
            v->retries = 0;
            send_request(u, EP_SEATS, 0);
            return;
        }

        vu_hold(u);
        return;
    }

    if ((status == 401 || status == 403) && vu_rejoin(u)) {
        return;
    }

    if (!vu_retry(u, status, r)) {
        vu_finish(u, OUT_ERROR);
    }
}


static void
vu_on_pay(uint32_t u, int status, http_resp_t *r)
{
    int          k, n;
    int64_t      amount, id;
    uint32_t     sold[MAX_TICKETS];
    json_iter_t  it;
    json_span_t  arr, item;
    size_t       len;
    const char  *val;
    vu_t        *v = &users[u];

    if (status == 200 || status == 201) {
        if (json_get_int(r->body, r->body_len, "payment.amount", &amount)
            != 0)
        {
            amount = v->amount;
        }

        if (http_resp_header(r, "x-ticket-release", 0, &val, &len)) {
            releases_seen++;
        }

        if (http_resp_header(r, "idempotent-replayed", 0, &val, &len)) {
            idem_replays++;
        }

        pay_ok++;
        money_charged_client += amount;
        v->paid_amount = amount;
        v->paid_id = json_get_int(r->body, r->body_len, "payment.id", &id)
                     == 0 ? id : -1;

        /* The seats the reservation names, or else the ones held. */
        n = 0;

        if (json_find(r->body, r->body_len, "reservation.seats", &arr) == 0
            && json_array_begin(&it, arr) == 0)
        {
            while (json_array_next(&it, &item) == 1 && n < MAX_TICKETS) {
                if (json_get_int(item.p, item.len, "seat_id", &id) == 0
                    && id > 0 && (uint64_t) id <= venue.max_id)
                {
                    sold[n++] = (uint32_t) id;
                }
            }
        }

        if (n == 0) {
            for (k = 0; k < v->nseats; k++) {
                sold[n++] = v->seats[k];
            }
        }

        for (k = 0; k < n; k++) {
            if (sold_by_id[sold[k]]) {
                double_sold_client++;
            }

            sold_by_id[sold[k]] = 1;
            seats_sold_client++;
            money_prices_client += venue.price_by_id[sold[k]];
        }

        t_last_sale = now_us();

        if (t_sellout < 0 && seats_sold_client >= venue.nseats) {
            t_sellout = t_last_sale;
        }

        vu_end(u, v->behaviour == BH_PAY_LATE ? OUT_LATE_PAID : OUT_BOUGHT);
        return;
    }

    if (status == 409 && r != NULL && vu_in_progress(r)
        && v->retries < (opt.faults ? FAULT_RETRIES : RETRIES))
    {
        v->retries++;
        v->state = VU_PAY;
        timer_set(u, now_us() + 1000000);
        return;
    }

    if (v->behaviour == BH_PAY_LATE && status >= 400 && status < 500) {
        vu_end(u, OUT_LATE_REFUSED);
        return;
    }

    if ((status == 401 || status == 403) && vu_rejoin(u)) {
        return;
    }

    /* A retry carries the same Idempotency-Key: a replay, never twice. */
    if (!vu_retry(u, status, r)) {
        if (opt.faults && (status == 0 || status >= 500 || status == 409)) {
            /* Never learnt whether this payment went through. */
            unknown_pays++;
            unknown_seats += v->nseats;
        }

        vu_finish(u, OUT_ERROR);
    }
}


static void
vu_response(uint32_t u, int ep, int status, http_resp_t *r, int64_t t_sent)
{
    if (users[u].state == VU_DONE) {
        return;
    }

    switch (ep) {
    case EP_JOIN:
        vu_on_join(u, status, r, t_sent);
        break;
    case EP_POLL:
        vu_on_poll(u, status, r, t_sent);
        break;
    case EP_SEATS:
        vu_on_seats(u, status, r);
        break;
    case EP_HOLD:
        vu_on_hold(u, status, r);
        break;
    case EP_PAY:
        if (opt.pay_at > 0 && t_sent >= (int64_t) (opt.pay_at * 1e6)) {
            if (burst_first_us < 0 || t_sent < burst_first_us) {
                burst_first_us = t_sent;
            }
            burst_last_us = now_us();
            burst_answers++;
            burst_paid += status == 201;
        }
        vu_on_pay(u, status, r);
        break;
    default:
        vu_finish(u, users[u].pending_outcome);
        break;
    }
}


static void
vu_timer(uint32_t u)
{
    vu_t  *v = &users[u];

    switch (v->state) {

    case VU_NEW:
        v->state = VU_JOIN;
        v->t_join = now_us();

        if (t_first_join < 0) {
            t_first_join = v->t_join;
        }

        send_request(u, EP_JOIN, 0);
        break;

    case VU_JOIN:
        send_request(u, EP_JOIN, 0);
        break;

    case VU_WAIT:
        if (v->behaviour == BH_ABANDON_WAIT && now_us() >= v->abandon_at) {
            vu_finish(u, OUT_ABANDON_WAIT);
            break;
        }

        send_request(u, EP_POLL, 0);
        break;

    case VU_MAP:
        send_request(u, EP_SEATS, 0);
        break;

    case VU_CHOOSE:
        vu_hold(u);
        break;

    case VU_HOLD:
        hold_attempts++;
        send_request(u, EP_HOLD, 0);
        break;

    case VU_HELD:
    case VU_PAY:
        v->state = VU_PAY;
        send_request(u, EP_PAY, 0);
        break;

    default:
        break;
    }
}


/* --- sampling ------------------------------------------------------------------- */

static void
sample_procs(void)
{
    long     pid, kids[64], rss, hwm, anon, total, total_anon;
    size_t   i, n;
    int64_t  cpu;

    pid = storm_read_pid(opt.nginx_pid_file);
    cpu_now[CPU_NGINX] = -1;

    if (pid > 0) {
        n = storm_children(pid, kids, 64);
        total = 0;
        total_anon = 0;
        cpu_now[CPU_NGINX] = 0;

        for (i = 0; i < n; i++) {
            storm_proc_mem(kids[i], &rss, &hwm, &anon);
            total += rss;
            total_anon += anon;
            cpu = storm_proc_cpu_ms(kids[i]);
            cpu_now[CPU_NGINX] += cpu > 0 ? cpu : 0;

            if (hwm > nginx_hwm) {
                nginx_hwm = hwm;
            }
        }

        if (total > nginx_rss_peak) {
            nginx_rss_peak = total;
        }

        if (total_anon > nginx_anon_peak) {
            nginx_anon_peak = total_anon;
        }
    }

    pid = storm_read_pid(opt.worker_pid_file);
    cpu_now[CPU_WORKER] = pid > 0 ? storm_proc_cpu_ms(pid) : -1;

    if (pid > 0) {
        storm_proc_mem(pid, &rss, &hwm, &anon);

        if (anon > worker_anon_peak) {
            worker_anon_peak = anon;
        }

        if (rss > worker_rss_peak) {
            worker_rss_peak = rss;
        }

        if (hwm > worker_hwm) {
            worker_hwm = hwm;
        }
    }

    pid = storm_read_pid(opt.mysql_pid_file);
    cpu_now[CPU_MARIADB] = pid > 0 ? storm_proc_cpu_ms(pid) : -1;
    cpu_now[CPU_STORM] = storm_proc_cpu_ms(getpid());
}


/*
 * CPU time a process used from whole second from_s of the run to whole
 * second to_s (sample i was taken at i + 1 s), -1 when unknown.
 */
static int64_t
cpu_between(int c, uint32_t from_s, uint32_t to_s)
{
    int64_t  from, to;

    if (to_s > nsamples) {
        to_s = nsamples;
    }

    if (from_s >= to_s) {
        return -1;
    }

    from = from_s == 0 ? 0 : samples[from_s - 1].cpu_ms[c];
    to = samples[to_s - 1].cpu_ms[c];

    return from < 0 || to < 0 ? -1 : to - from;
}


/*
 * The room's statistics location, read once a second on a connection of
 * its own (blocking, with a one-second limit: loopback answers in well
 * under a millisecond), for the zone's memory and the room's own counts.
 */
static void
status_sample(void)
{
    int                 fd, rc;
    int64_t             v;
    size_t              used;
    ssize_t             n;
    char                req[512], buf[16384];
    http_resp_t         r;
    json_iter_t         it;
    json_span_t         arr, item;
    struct timeval      tv;
    struct sockaddr_in  sin;
    char                name[80];

    if (opt.status_path == NULL) {
        return;
    }

    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd == -1) {
        return;
    }

    tv.tv_sec = 1;
    tv.tv_usec = 0;
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));

    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((uint16_t) opt.port);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

    if (connect(fd, (struct sockaddr *) &sin, sizeof(sin)) == -1) {
        close(fd);
        return;
    }

    n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                 "Accept: application/json\r\nConnection: close\r\n\r\n",
                 opt.status_path);

    if (write(fd, req, (size_t) n) != n) {
        close(fd);
        return;
    }

    http_resp_init(&r);
    rc = HTTP_AGAIN;

    while (rc == HTTP_AGAIN) {
        n = read(fd, buf, sizeof(buf));

        if (n <= 0) {
            rc = n == 0 ? http_resp_eof(&r) : HTTP_ERROR;
            break;
        }

        rc = http_resp_feed(&r, buf, (size_t) n, &used);
    }

    close(fd);

    if (rc != HTTP_DONE || r.status != 200) {
        http_resp_free(&r);
        return;
    }

    if (json_find(r.body, r.body_len, "zones", &arr) == 0
        && json_array_begin(&it, arr) == 0)
    {
        zone_used = 0;

        while (json_array_next(&it, &item) == 1) {
            if (json_get_int(item.p, item.len, "used", &v) == 0) {
                zone_used += v;
            }

            if (json_get_int(item.p, item.len, "size", &v) == 0) {
                zone_size = v;
            }
        }

        if (zone_used > zone_peak) {
            zone_peak = zone_used;
        }
    }

    if (json_find(r.body, r.body_len, "rooms", &arr) == 0
        && json_array_begin(&it, arr) == 0)
    {
        while (json_array_next(&it, &item) == 1) {
            if (json_get_str(item.p, item.len, "room", name, sizeof(name)) < 0
                || strcmp(name, opt.room) != 0)
            {
                continue;
            }

            if (json_get_int(item.p, item.len, "waiting", &v) == 0) {
                srv_waiting = v;
            }

            if (json_get_int(item.p, item.len, "active", &v) == 0) {
                srv_active = v;
            }

            if (json_get_int(item.p, item.len, "admitted_total", &v) == 0) {
                srv_admitted_total = v;
            }
        }
    }

    http_resp_free(&r);
}


static void
take_sample(void)
{
    int        ep, c;
    sample_t  *s;

    if (nsamples == samples_cap) {
        samples_cap = samples_cap ? samples_cap * 2 : 1024;
        samples = realloc(samples, samples_cap * sizeof(sample_t));
        if (samples == NULL) {
            die("out of memory");
        }
    }

    s = &samples[nsamples++];
    s->waiting = n_waiting;
    s->admitted = n_admitted;
    s->active = n_active;
    s->sold = (uint32_t) seats_sold_client;
    s->p50 = (uint32_t) hist_quantile(&sec_all, 0.50);
    s->p95 = (uint32_t) hist_quantile(&sec_all, 0.95);
    s->p99 = (uint32_t) hist_quantile(&sec_all, 0.99);
    s->errors = (uint32_t) sec_errors;
    status_sample();
    s->srv_waiting = srv_waiting;
    s->srv_active = srv_active;
    s->zone_used = zone_used;
    hist_init(&sec_all);
    sec_errors = 0;

    for (ep = 0; ep < EP_N; ep++) {
        s->requests[ep] = (uint32_t) sec_requests[ep];
        s->ep_p99[ep] = (uint32_t) hist_quantile(&sec_ep[ep], 0.99);
        sec_requests[ep] = 0;
        hist_init(&sec_ep[ep]);
    }

    sample_procs();

    for (c = 0; c < CPU_N; c++) {
        s->cpu_ms[c] = cpu_now[c] < 0 || cpu_base[c] < 0
                       ? -1 : cpu_now[c] - cpu_base[c];
    }

    /* A line every ten seconds for whoever watches the run. */
    if (!opt.quiet && nsamples % 10 == 0) {
        uint32_t  rps = 0;

        for (ep = 0; ep < EP_N; ep++) {
            rps += s->requests[ep];
        }

        fprintf(stderr, "storm: %3us waiting %u admitted %u active %u "
                "sold %u/%u; %u req/s, p99 %.1f ms; finished %u of %u\n",
                nsamples, s->waiting, s->admitted, s->active, s->sold,
                venue.nseats, rps, s->p99 / 1000.0, n_finished, nusers);
    }
}


/* --- the run --------------------------------------------------------------------- */

static void
on_signal(int sig)
{
    (void) sig;
    stop_flag = 1;
}


static void
mint_sessions(const uint64_t *user_ids, const uint64_t *session_ids)
{
    uint32_t        i;
    size_t          len;
    char            tok[TICKET_TOKEN_MAX_LEN + 1], jar[256];
    ticket_token_t  t;

    memset(&t, 0, sizeof(t));
    t.kind = TICKET_TOKEN_SESSION;
    t.issued_at = (int64_t) time(NULL);
    t.expires_at = t.issued_at + 86400;

    for (i = 0; i < nusers; i++) {
        t.user_id = user_ids[i];
        t.number = session_ids[i];
        len = ticket_token_encode(tok, sizeof(tok), &t, key);

        if (len == 0) {
            die("cannot mint a session token");
        }

        snprintf(jar, sizeof(jar), "ticket_session=%s", tok);
        users[i].user_id = user_ids[i];
        users[i].session_id = session_ids[i];
        users[i].jar = strdup(jar);

        if (users[i].jar == NULL) {
            die("out of memory");
        }
    }
}


static void
plan_users(void)
{
    uint32_t  i;
    double    x;
    int64_t   burst;

    burst = (int64_t) (opt.burst * 1e6);

    for (i = 0; i < nusers; i++) {
        vu_t  *v = &users[i];

        v->state = VU_NEW;
        v->est_wait = -1;
        v->t_wait_last = -1;
        v->t_adm = -1;
        v->want = (uint8_t) (1 + rnd() % opt.max_tickets);

        x = rnd_unit();

        if (x < opt.abandon_wait) {
            v->behaviour = BH_ABANDON_WAIT;

        } else if (x < opt.abandon_wait + opt.abandon_hold) {
            v->behaviour = BH_ABANDON_HOLD;

        } else if (x < opt.abandon_wait + opt.abandon_hold + opt.pay_late) {
            v->behaviour = BH_PAY_LATE;

        } else {
            v->behaviour = BH_BUY;
        }

        /* Joins arrive in the burst, in a random order of users. */
        timer_set(i, burst > 0 ? (int64_t) (rnd() % (uint64_t) burst) : 0);
        v->abandon_at = v->timer_at + rnd_range_us(2, 60);
    }
}


/*
 * The storm is over: no new request leaves, but the ones on the wire are
 * answered (or time out) before the database is checked, so that the
 * client and the database count the same sales.
 */
/* Requests not sent yet are dropped (the storm is over). */
static void
lanes_forget(void)
{
    int  k;

    for (k = 0; k < NLANES; k++) {
        lanes[k].count = 0;
    }
}


static void
drain(void)
{
    int                 i, n;
    uint32_t            c, busy;
    int64_t             until;
    struct epoll_event  events[1024];

    lanes_forget();
    until = now_us() + (int64_t) (opt.request_timeout * 1e6) + 1000000;

    for ( ;; ) {
        busy = 0;

        for (c = 0; c < nconns; c++) {
            busy += conns[c].user != 0;
        }

        if (busy == 0 || now_us() >= until) {
            break;
        }

        check_timeouts(now_us());
        lanes_forget();
        n = epoll_wait(epfd, events, 1024, 100);

        for (i = 0; i < n; i++) {
            conn_event(&conns[events[i].data.u32], events[i].events);
        }

        /* Answers may have queued follow-ups: they are not sent. */
        lanes_forget();
    }
}


static void
run(void)
{
    int                 i, n, timeout_ms;
    uint32_t            u;
    int64_t             now, deadline, next_sample, next_scan, end_after;
    struct epoll_event  events[1024];

    deadline = (int64_t) (opt.duration * 1e6);
    next_sample = 1000000;
    sample_procs();
    memcpy(cpu_base, cpu_now, sizeof(cpu_base));
    next_scan = 100000;
    end_after = -1;

    while (!stop_flag) {
        now = now_us();

        if (now >= deadline) {
            break;
        }

        while (now >= next_sample) {
            take_sample();
            next_sample += 1000000;
        }

        if (n_finished == nusers) {
            break;
        }

        /*
         * Once every seat is sold nothing can come back (no cancellation
         * in a storm), so a few seconds later the storm is over.
         */
        if (t_sellout >= 0 && end_after < 0) {
            end_after = now + 5000000;
        }

        if (end_after >= 0 && now >= end_after) {
            break;
        }

        while (heap_n > 0 && heap[0].at <= now) {
            u = heap[0].user;
            int64_t  at = heap[0].at;

            timer_pop();

            if (users[u].timer_at == at && users[u].state != VU_DONE) {
                users[u].timer_at = 0;
                vu_timer(u);
            }
        }

        dispatch();

        if (now >= next_scan) {
            check_timeouts(now);
            next_scan = now + 100000;
        }

        timeout_ms = 100;

        if (heap_n > 0) {
            int64_t  d = (heap[0].at - now + 999) / 1000;

            if (d < timeout_ms) {
                timeout_ms = d < 0 ? 0 : (int) d;
            }
        }

        if (dispatch_ready()) {
            timeout_ms = 0;
        }

        n = epoll_wait(epfd, events, 1024, timeout_ms);

        for (i = 0; i < n; i++) {
            conn_event(&conns[events[i].data.u32], events[i].events);
        }
    }

    take_sample();
    drain();
}


/* --- the report ------------------------------------------------------------------ */

static int
cmp_i64(const void *a, const void *b)
{
    int64_t  x = *(const int64_t *) a, y = *(const int64_t *) b;

    return x < y ? -1 : x > y;
}


typedef struct {
    uint64_t  place;
    int64_t   wait_last;
    int64_t   adm;
} order_t;


static int
cmp_place_desc(const void *a, const void *b)
{
    const order_t  *x = a, *y = b;

    return x->place > y->place ? -1 : x->place < y->place;
}


/*
 * Admission inversions: pairs (A, B) where A joined before B (a smaller
 * place) yet B had been told "admitted" before A was last told "waiting"
 * (by the time A's poll was sent).  Timestamps are conservative: a pair is
 * counted only when the order is certain from the client's side.
 */
static uint64_t
count_inversions(uint64_t *checked)
{
    uint32_t   i, n, na, k, j;
    int64_t   *adm;
    uint32_t  *bit;
    uint64_t   inv;
    order_t   *o;

    o = calloc(nusers ? nusers : 1, sizeof(order_t));
    adm = calloc(nusers ? nusers : 1, sizeof(int64_t));
    bit = calloc((size_t) nusers + 2, sizeof(uint32_t));

    if (o == NULL || adm == NULL || bit == NULL) {
        die("out of memory");
    }

    n = 0;
    na = 0;

    for (i = 0; i < nusers; i++) {
        if (users[i].place == 0) {
            continue;
        }

        o[n].place = users[i].place;
        o[n].wait_last = users[i].t_wait_last;
        o[n].adm = users[i].t_adm;
        n++;

        if (users[i].t_adm >= 0) {
            adm[na++] = users[i].t_adm;
        }
    }

    qsort(o, n, sizeof(order_t), cmp_place_desc);
    qsort(adm, na, sizeof(int64_t), cmp_i64);

    inv = 0;

    for (i = 0; i < n; i++) {
        /* Count later places admitted strictly before A's last wait. */
        if (o[i].wait_last >= 0) {
            /* rank = number of adm values < wait_last */
            uint32_t  lo = 0, hi = na;

            while (lo < hi) {
                uint32_t  mid = (lo + hi) / 2;

                if (adm[mid] < o[i].wait_last) {
                    lo = mid + 1;

                } else {
                    hi = mid;
                }
            }

            for (k = lo; k > 0; k -= k & (~k + 1)) {
                inv += bit[k];
            }
        }

        if (o[i].adm >= 0) {
            uint32_t  lo = 0, hi = na;

            while (lo < hi) {
                uint32_t  mid = (lo + hi) / 2;

                if (adm[mid] < o[i].adm) {
                    lo = mid + 1;

                } else {
                    hi = mid;
                }
            }

            for (j = lo + 1; j <= na; j += j & (~j + 1)) {
                bit[j]++;
            }
        }
    }

    *checked = n;
    free(o);
    free(adm);
    free(bit);

    return inv;
}


static double
pct(int64_t *v, size_t n, double q)
{
    size_t  i;

    if (n == 0) {
        return 0;
    }

    i = (size_t) (q * (double) (n - 1) + 0.5);

    return (double) v[i < n ? i : n - 1];
}


/*
 * Every payment a buyer was told succeeded, checked against the database:
 * the payment the answer names must exist, have succeeded, belong to that
 * buyer and be of the amount counted.  Catches what the totals cannot: an
 * answer for a payment that was never committed, or another buyer's
 * answer delivered to this one.
 */
typedef struct {
    uint64_t   told;           /* successful payment answers */
    uint64_t   no_id;          /* ... naming no payment */
    uint64_t   found;          /* ... matching a payment in the database */
    uint64_t   missing;        /* ... naming none the database has */
    uint64_t   wrong;          /* ... another user's or another amount */
    int        ok;
} pay_check_t;

typedef struct {
    pay_check_t  *pc;
    uint32_t     *by_id;       /* users sorted by paid_id */
    size_t        n;
} pay_rows_t;


static int
pay_cmp(const void *a, const void *b)
{
    int64_t  x = users[*(const uint32_t *) a].paid_id;
    int64_t  y = users[*(const uint32_t *) b].paid_id;

    return x < y ? -1 : x > y;
}


/* One row "id user_id amount" of a succeeded payment the answers named. */
static int
pay_row_check(void *ctx, char *line)
{
    pay_rows_t  *pr = ctx;
    long long    id, user, amount;
    size_t       lo = 0, hi = pr->n, mid;
    vu_t        *v;

    if (sscanf(line, "%lld\t%lld\t%lld", &id, &user, &amount) != 3) {
        return 0;
    }

    while (lo < hi) {
        mid = (lo + hi) / 2;

        if (users[pr->by_id[mid]].paid_id < id) {
            lo = mid + 1;

        } else {
            hi = mid;
        }
    }

    for ( ; lo < pr->n && users[pr->by_id[lo]].paid_id == id; lo++) {
        v = &users[pr->by_id[lo]];

        if ((long long) v->user_id == user && v->paid_amount == amount) {
            pr->pc->found++;

        } else {
            pr->pc->wrong++;
        }
    }

    return 0;
}


static void
pay_verify(pay_check_t *pc)
{
    pay_rows_t  pr;
    uint32_t    u;
    size_t      len, cap;
    char       *sql, *p;

    memset(pc, 0, sizeof(*pc));
    pr.pc = pc;
    pr.n = 0;
    pr.by_id = malloc((nusers + 1) * sizeof(uint32_t));
    cap = 128 + (size_t) nusers * 21;
    sql = malloc(cap);

    if (pr.by_id == NULL || sql == NULL) {
        free(pr.by_id);
        free(sql);
        return;
    }

    for (u = 0; u < nusers; u++) {
        if (users[u].paid_id > 0) {
            pr.by_id[pr.n++] = u;

        } else if (users[u].paid_id < 0) {
            pc->no_id++;
        }
    }

    pc->told = pr.n + pc->no_id;
    qsort(pr.by_id, pr.n, sizeof(uint32_t), pay_cmp);

    len = (size_t) snprintf(sql, cap, "SELECT id, user_id, amount FROM"
                            " payments WHERE status = 'succeeded' AND id IN"
                            " (0");
    p = sql + len;

    for (size_t i = 0; i < pr.n; i++) {
        p += snprintf(p, cap - (size_t) (p - sql), ",%lld",
                      (long long) users[pr.by_id[i]].paid_id);
    }

    snprintf(p, cap - (size_t) (p - sql), ");\n");

    if (storm_sql_query(&opt, sql, pay_row_check, &pr) == 0) {
        pc->ok = 1;
        pc->missing = pr.n - pc->found - pc->wrong;
    }

    free(sql);
    free(pr.by_id);
}


typedef struct {
    long long  sold_rows;
    long long  sold_distinct;
    long long  live_claims_dup;
    long long  payments_sum;
    long long  payments_n;
    long long  sold_prices_sum;
    long long  reservations_total;
    long long  ledger_mismatch;
    long long  balance_mismatch;
    long long  seats_total;
    int        ok;
} db_check_t;


static int
db_row_check(void *ctx, char *line)
{
    db_check_t  *d = ctx;

    if (sscanf(line, "%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld\t%lld"
               "\t%lld", &d->sold_rows, &d->sold_distinct,
               &d->live_claims_dup, &d->payments_sum, &d->payments_n,
               &d->sold_prices_sum, &d->reservations_total,
               &d->ledger_mismatch, &d->balance_mismatch, &d->seats_total)
        == 10)
    {
        d->ok = 1;
    }

    return 0;
}


/*
 * The invariants as the database sees them: every sold seat once, the
 * payments equal to the prices of the seats sold, each user's ledger
 * summing to the balance and the balance equal to the opening balance
 * less what the user paid.
 */
static void
db_verify(db_check_t *d, const char *tag)
{
    char  *sql;

    memset(d, 0, sizeof(db_check_t));

    if (asprintf(&sql,
        "SELECT"
        " (SELECT COUNT(*) FROM performance_seats WHERE performance_id = %lld"
        "   AND state = 'sold'),"
        " (SELECT COUNT(DISTINCT rs.seat_id) FROM reservation_seats rs"
        "   JOIN reservations r ON r.id = rs.reservation_id"
        "   WHERE rs.performance_id = %lld AND rs.released_at IS NULL"
        "   AND r.status = 'confirmed'),"
        " (SELECT COUNT(*) - COUNT(DISTINCT seat_id) FROM reservation_seats"
        "   WHERE performance_id = %lld AND released_at IS NULL),"
        " (SELECT COALESCE(SUM(p.amount), 0) FROM payments p"
        "   JOIN holds h ON h.id = p.hold_id"
        "   WHERE h.performance_id = %lld AND p.status = 'succeeded'),"
        " (SELECT COUNT(*) FROM payments p JOIN holds h ON h.id = p.hold_id"
        "   WHERE h.performance_id = %lld AND p.status = 'succeeded'),"
        " (SELECT COALESCE(SUM(t.price), 0) FROM performance_seats ps"
        "   JOIN seats s ON s.id = ps.seat_id"
        "   JOIN price_tiers t ON t.id = s.tier_id"
        "   WHERE ps.performance_id = %lld AND ps.state = 'sold'),"
        " (SELECT COALESCE(SUM(total), 0) FROM reservations"
        "   WHERE performance_id = %lld AND status = 'confirmed'),"
        " (SELECT COUNT(*) FROM balance_accounts a WHERE a.user_id IN"
        "   (SELECT id FROM users WHERE email LIKE 'storm-%s-%%')"
        "   AND a.balance <> (SELECT COALESCE(SUM(l.amount), 0)"
        "   FROM balance_ledger l WHERE l.user_id = a.user_id)),"
        " (SELECT COUNT(*) FROM balance_accounts a WHERE a.user_id IN"
        "   (SELECT id FROM users WHERE email LIKE 'storm-%s-%%')"
        "   AND a.balance <> %lld - (SELECT COALESCE(SUM(p.amount), 0)"
        "   FROM payments p WHERE p.user_id = a.user_id"
        "   AND p.status = 'succeeded')),"
        " (SELECT COUNT(*) FROM performance_seats WHERE performance_id = %lld)"
        ";\n",
        (long long) opt.performance, (long long) opt.performance,
        (long long) opt.performance, (long long) opt.performance,
        (long long) opt.performance, (long long) opt.performance,
        (long long) opt.performance, tag, tag, (long long) opt.balance,
        (long long) opt.performance) < 0)
    {
        return;
    }

    storm_sql_query(&opt, sql, db_row_check, d);
    free(sql);
}


static void
json_hist(FILE *f, const hist_t *h)
{
    fprintf(f, "{\"count\":%llu,\"mean_ms\":%.3f,\"p50_ms\":%.3f,"
            "\"p95_ms\":%.3f,\"p99_ms\":%.3f,\"max_ms\":%.3f}",
            (unsigned long long) h->count, hist_mean(h) / 1000.0,
            (double) hist_quantile(h, 0.50) / 1000.0,
            (double) hist_quantile(h, 0.95) / 1000.0,
            (double) hist_quantile(h, 0.99) / 1000.0,
            (double) h->max / 1000.0);
}


/* From the burst's first payment sent to its last answered. */
static double
burst_seconds(void)
{
    return burst_first_us < 0 ? 0.0
           : (double) (burst_last_us - burst_first_us) / 1e6;
}


static double
burst_per_second(void)
{
    return burst_seconds() > 0 ? (double) burst_paid / burst_seconds() : 0.0;
}


/*
 * The payment burst's CPU time a payment, by process (ms[c], -1 unknown),
 * over the whole seconds of the run that cover the burst, and the payments
 * a second that all the machine's cores could give at that cost (0 when a
 * process is unknown).  Returns 0 when there was no burst.
 */
static int
burst_cpu(double *ms, uint32_t *from_s, uint32_t *to_s, double *ceiling)
{
    double   all;
    int64_t  used;
    long     cores;
    int      c;

    if (opt.pay_at <= 0 || burst_first_us < 0 || burst_paid == 0) {
        return 0;
    }

    *from_s = (uint32_t) (burst_first_us / 1000000);
    *to_s = (uint32_t) ((burst_last_us + 999999) / 1000000);
    all = 0;

    for (c = 0; c < CPU_N; c++) {
        used = cpu_between(c, *from_s, *to_s);
        ms[c] = used < 0 ? -1.0 : (double) used / (double) burst_paid;
        all = all < 0 || ms[c] < 0 ? -1.0 : all + ms[c];
    }

    cores = sysconf(_SC_NPROCESSORS_ONLN);
    *ceiling = all > 0 && cores > 0 ? 1000.0 * (double) cores / all : 0;

    return 1;
}


static void
report_cpu_text(double elapsed)
{
    double    ms[CPU_N], ceiling;
    uint32_t  from_s, to_s;
    int64_t   used;
    int       c;

    printf("CPU over the storm (%ld cores, %.1f s):",
           sysconf(_SC_NPROCESSORS_ONLN), elapsed);

    for (c = 0; c < CPU_N; c++) {
        used = cpu_between(c, 0, nsamples);

        if (used < 0) {
            printf("%s %s unknown", c ? "," : "", cpu_titles[c]);

        } else {
            printf("%s %s %.1f s", c ? "," : "", cpu_titles[c],
                   used / 1000.0);
        }
    }

    printf("\n");

    if (!burst_cpu(ms, &from_s, &to_s, &ceiling)) {
        return;
    }

    printf("payment burst, CPU a payment (seconds %u to %u of the run):",
           from_s, to_s);

    for (c = 0; c < CPU_N; c++) {
        if (ms[c] < 0) {
            printf("%s %s unknown", c ? "," : "", cpu_titles[c]);

        } else {
            printf("%s %s %.2f ms", c ? "," : "", cpu_titles[c], ms[c]);
        }
    }

    if (ceiling > 0) {
        printf("; at that cost the cores pay at most %.0f a second",
               ceiling);
    }

    printf("\n");
}


static void
report_cpu_json(FILE *f)
{
    double    ms[CPU_N], ceiling;
    uint32_t  from_s, to_s;
    int       c;

    fprintf(f, "\"cpu\":{\"cores\":%ld,\"run_ms\":{",
            sysconf(_SC_NPROCESSORS_ONLN));

    for (c = 0; c < CPU_N; c++) {
        fprintf(f, "%s\"%s\":%lld", c ? "," : "", cpu_keys[c],
                (long long) cpu_between(c, 0, nsamples));
    }

    fprintf(f, "}");

    if (burst_cpu(ms, &from_s, &to_s, &ceiling)) {
        fprintf(f, ",\"pay_burst\":{\"from_s\":%u,\"to_s\":%u,"
                "\"ceiling_per_second\":%.0f,\"ms_per_payment\":{", from_s,
                to_s, ceiling);

        for (c = 0; c < CPU_N; c++) {
            fprintf(f, "%s\"%s\":%.3f", c ? "," : "", cpu_keys[c], ms[c]);
        }

        fprintf(f, "}}");
    }

    fprintf(f, "},\n");
}


static int
report(const char *tag, int64_t t_end)
{
    int          ep, s, c, failed;
    uint32_t     i;
    uint64_t     inversions, checked, total_req, st_total[STATUS_CODES];
    size_t       nerr, nconnerr, n_est_join = 0;
    int64_t     *err_abs, *err_signed, *err_out;
    double       elapsed, sellout_s, q_abs50, q_abs90, q_sgn50, q_out50;
    double       q_out90, cpu_user, cpu_sys;
    struct rusage  ru;
    char         path[512], tsv[512], evp[512], stamp[32];
    struct tm    tm;
    FILE        *f, *t;
    db_check_t   db;
    pay_check_t  pc;
    uint64_t     hung;

    elapsed = (double) t_end / 1e6;
    inversions = count_inversions(&checked);
    outcomes[OUT_NONE] = nusers - n_finished;

    /*
     * A payment sent and not answered yet when the storm ended (a user
     * backing off after an error, with --faults) may have gone through.
     */
    for (i = 0; i < nusers; i++) {
        if (users[i].state == VU_PAY) {
            unknown_pays++;
            unknown_seats += users[i].nseats;
        }
    }

    /* Estimated wait at join versus the wait the user really had. */
    err_abs = calloc(nusers ? nusers : 1, sizeof(int64_t));
    err_signed = calloc(nusers ? nusers : 1, sizeof(int64_t));
    err_out = calloc(nusers ? nusers : 1, sizeof(int64_t));

    if (err_abs == NULL || err_signed == NULL || err_out == NULL) {
        die("out of memory");
    }

    nerr = 0;

    for (i = 0; i < nusers; i++) {
        vu_t     *v = &users[i];
        int64_t   lo, hi, est;

        if (v->t_adm < 0 || v->est_wait < 0) {
            continue;
        }

        /*
         * The admission happened after the last "waiting" answer was asked
         * for and before the "admitted" one came back: the actual wait is
         * known to within that interval (about one refresh period).  The
         * error is measured from its middle, and, more fairly, as the
         * distance from the interval (0 when the estimate falls inside).
         */
        lo = (v->t_wait_last >= 0 ? v->t_wait_last : v->t_est) - v->t_est;
        lo = lo < 0 ? 0 : lo / 1000;
        hi = (v->t_adm - v->t_est) / 1000;
        n_est_join += v->est_at_join;
        est = (int64_t) v->est_wait * 1000;
        err_signed[nerr] = (lo + hi) / 2 - est;
        err_abs[nerr] = err_signed[nerr] < 0 ? -err_signed[nerr]
                                             : err_signed[nerr];
        err_out[nerr] = est < lo ? lo - est : (est > hi ? est - hi : 0);
        nerr++;
    }

    qsort(err_abs, nerr, sizeof(int64_t), cmp_i64);
    qsort(err_signed, nerr, sizeof(int64_t), cmp_i64);
    qsort(err_out, nerr, sizeof(int64_t), cmp_i64);
    q_abs50 = pct(err_abs, nerr, 0.5) / 1000.0;
    q_abs90 = pct(err_abs, nerr, 0.9) / 1000.0;
    q_sgn50 = pct(err_signed, nerr, 0.5) / 1000.0;
    q_out50 = pct(err_out, nerr, 0.5) / 1000.0;
    q_out90 = pct(err_out, nerr, 0.9) / 1000.0;

    sellout_s = t_sellout >= 0 ? (double) (t_sellout - t_first_join) / 1e6
                               : -1;

    if (opt.verify && opt.db_socket != NULL) {
        db_verify(&db, tag);
        pay_verify(&pc);

    } else {
        memset(&db, 0, sizeof(db));
        memset(&pc, 0, sizeof(pc));
    }

    memset(st_total, 0, sizeof(st_total));
    total_req = 0;

    for (ep = 0; ep < EP_N; ep++) {
        total_req += ep_hist[ep].count;

        for (s = 0; s < STATUS_CODES; s++) {
            st_total[s] += ep_status[ep][s];
        }
    }

    /* Text. */
    printf("\n== bench/storm: %s profile, %u users, %u seats, %u connections"
           " ==\n", opt.profile, nusers, venue.nseats, nconns);
    printf("users logged in ahead of time by SQL (users, sessions and "
           "ledger-backed balances inserted in bulk; session cookies minted "
           "with the secret key and common/ticket_token.c), not through "
           "POST /api/sessions\n");
    printf("elapsed %.1f s; joins sent over %.1f s; requests %llu "
           "(%.0f/s)\n", elapsed, t_last_join >= 0
                               ? (double) (t_last_join - t_first_join) / 1e6
                               : 0.0,
           (unsigned long long) total_req,
           elapsed > 0 ? (double) total_req / elapsed : 0);
    printf("%-6s %9s %9s %9s %9s %9s %9s\n", "ep", "count", "req/s",
           "p50 ms", "p95 ms", "p99 ms", "max ms");

    for (ep = 0; ep < EP_N; ep++) {
        const hist_t  *h = &ep_hist[ep];

        printf("%-6s %9llu %9.0f %9.2f %9.2f %9.2f %9.2f\n", ep_names[ep],
               (unsigned long long) h->count,
               elapsed > 0 ? (double) h->count / elapsed : 0,
               (double) hist_quantile(h, 0.50) / 1000.0,
               (double) hist_quantile(h, 0.95) / 1000.0,
               (double) hist_quantile(h, 0.99) / 1000.0,
               (double) h->max / 1000.0);
    }

    printf("status:");

    for (s = 0; s < STATUS_CODES; s++) {
        if (st_total[s]) {
            printf(" %d=%llu", s, (unsigned long long) st_total[s]);
        }
    }

    nconnerr = 0;

    for (ep = 0; ep < EP_N; ep++) {
        nconnerr += ep_conn_errors[ep] + ep_timeouts[ep];
    }

    printf("; connection errors+timeouts %zu\n", nconnerr);

    hung = 0;

    for (ep = 0; ep < EP_N; ep++) {
        hung += ep_timeouts[ep];
    }

    if (opt.faults) {
        printf("faults mode: %u error events seen by users (%llu not kept), "
               "%llu retries after errors, %llu back to the queue, %llu "
               "places lost, %llu requests hung past the %.0f s client "
               "timeout, %llu payments of unknown outcome (%llu seats)\n",
               nevents, (unsigned long long) events_dropped,
               (unsigned long long) fault_retries,
               (unsigned long long) rejoins_total,
               (unsigned long long) places_lost, (unsigned long long) hung,
               opt.request_timeout, (unsigned long long) unknown_pays,
               (unsigned long long) unknown_seats);
    }
    if (ntallies > 0) {
        printf("refusals and room answers:");

        for (i = 0; i < ntallies; i++) {
            printf(" %s %d %s=%llu;", ep_names[tallies[i].ep],
                   tallies[i].status, tallies[i].name,
                   (unsigned long long) tallies[i].count);
        }

        printf("\n");
    }

    printf("outcomes:");

    for (s = 0; s < OUT_N; s++) {
        printf(" %s=%llu", out_names[s], (unsigned long long) outcomes[s]);
    }

    printf("\nholds: %llu attempts, %llu granted, %llu refused (409)\n",
           (unsigned long long) hold_attempts, (unsigned long long) hold_ok,
           (unsigned long long) hold_conflicts);
    printf("seats sold %llu of %u (client view), sold twice %llu; money "
           "charged %lld vs sold prices %lld\n",
           (unsigned long long) seats_sold_client, venue.nseats,
           (unsigned long long) double_sold_client,
           (long long) money_charged_client, (long long) money_prices_client);

    if (sellout_s >= 0) {
        printf("sold out %.1f s after the first join\n", sellout_s);

    } else {
        printf("not sold out; last sale at %.1f s\n",
               t_last_sale >= 0 ? (double) (t_last_sale - t_first_join) / 1e6
                                : -1.0);
    }

    if (opt.pay_at > 0) {
        printf("payment burst from %.1f s: %llu paid of %llu answers in "
               "%.2f s, %.0f payments/s\n", opt.pay_at,
               (unsigned long long) burst_paid,
               (unsigned long long) burst_answers, burst_seconds(),
               burst_per_second());
    }

    printf("admission order: %llu inversions among %llu places\n",
           (unsigned long long) inversions, (unsigned long long) checked);
    printf("wait estimate vs actual (%zu users shown one, %zu of them at "
           "join): median |error| %.1f s, p90 |error| %.1f s, median signed %.1f s "
           "(actual minus estimate); beyond the polling uncertainty: median "
           "%.1f s, p90 %.1f s\n", nerr, n_est_join, q_abs50, q_abs90, q_sgn50, q_out50,
           q_out90);
    printf("peak RSS: NGINX workers %ld KiB (sum over workers, shared zone "
           "pages included; private %ld KiB; largest VmHWM %ld KiB), "
           "worker %ld KiB (private %ld KiB, VmHWM %ld KiB); zone peak %lld "
           "bytes used of %lld\n",
           nginx_rss_peak, nginx_anon_peak, nginx_hwm, worker_rss_peak,
           worker_anon_peak, worker_hwm, (long long) zone_peak,
           (long long) zone_size);
    getrusage(RUSAGE_SELF, &ru);
    cpu_user = (double) ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6;
    cpu_sys = (double) ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    printf("client: max wait for a free connection %.1f ms, %llu "
           "connects; CPU %.1f s user + %.1f s system (%.0f%% of one core "
           "over the storm, setup included)\n",
           (double) pending_wait_max / 1000.0,
           (unsigned long long) reconnects, cpu_user, cpu_sys,
           elapsed > 0 ? 100.0 * (cpu_user + cpu_sys) / elapsed : 0);
    report_cpu_text(elapsed);

    if (opt.verify) {
        printf("database: %s; sold seats %lld (distinct %lld, live "
               "duplicates %lld) of %lld; payments %lld = %lld KRW; sold "
               "prices %lld; reservations %lld; ledger != balance %lld; "
               "balance != opening - paid %lld\n",
               db.ok ? "checked" : "CHECK FAILED", db.sold_rows,
               db.sold_distinct, db.live_claims_dup, db.seats_total,
               db.payments_n, db.payments_sum, db.sold_prices_sum,
               db.reservations_total, db.ledger_mismatch,
               db.balance_mismatch);
        printf("payments told to buyers: %llu, %s: %llu in the database as "
               "told, %llu missing, %llu another buyer's or amount, %llu "
               "naming no payment\n", (unsigned long long) pc.told,
               pc.ok ? "checked" : "CHECK FAILED",
               (unsigned long long) pc.found,
               (unsigned long long) pc.missing,
               (unsigned long long) pc.wrong,
               (unsigned long long) pc.no_id);
    }

    /* Files. */
    gmtime_r(&t0_wall, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
    snprintf(path, sizeof(path), "%s/storm-%s-%s.json", opt.out_dir,
             opt.label ? opt.label : opt.profile, stamp);
    snprintf(tsv, sizeof(tsv), "%s/storm-%s-%s.tsv", opt.out_dir,
             opt.label ? opt.label : opt.profile, stamp);
    snprintf(evp, sizeof(evp), "%s/storm-%s-%s.events.tsv", opt.out_dir,
             opt.label ? opt.label : opt.profile, stamp);

    mkdir(opt.out_dir, 0755);

    f = fopen(path, "w");
    t = fopen(tsv, "w");

    if (f == NULL || t == NULL) {
        perror("storm: result files");
        return 2;
    }

    fprintf(f, "{\n\"tool\":\"bench/storm\",\"profile\":\"%s\","
            "\"started_at\":\"%s\",\"label\":\"%s\",\n", opt.profile, stamp,
            opt.label ? opt.label : "");
    fprintf(f, "\"login\":\"sql-bulk-insert+minted-session-cookies\",\n");
    fprintf(f, "\"config\":{\"users\":%u,\"seats\":%u,\"connections\":%u,"
            "\"duration_s\":%.1f,\"burst_s\":%.1f,\"room\":\"%s\","
            "\"performance\":%lld,\"abandon_wait\":%.3f,"
            "\"abandon_hold\":%.3f,\"pay_late\":%.3f,\"hold_seconds\":%.1f,"
            "\"think_s\":[%.2f,%.2f],\"max_tickets\":%u,\"spread\":%u,"
            "\"seed\":%llu},\n", nusers, venue.nseats, nconns, opt.duration,
            opt.burst, opt.room, (long long) opt.performance,
            opt.abandon_wait, opt.abandon_hold, opt.pay_late,
            opt.hold_seconds, opt.think_min, opt.think_max, opt.max_tickets,
            opt.spread, (unsigned long long) opt.seed);
    if (opt.pay_at > 0) {
        fprintf(f, "\"pay_burst\":{\"at_s\":%.1f,\"paid\":%llu,"
                "\"answers\":%llu,\"seconds\":%.3f,\"per_second\":%.1f},\n",
                opt.pay_at, (unsigned long long) burst_paid,
                (unsigned long long) burst_answers, burst_seconds(),
                burst_per_second());
    }
    fprintf(f, "\"elapsed_s\":%.3f,\"requests\":%llu,\"rps\":%.1f,\n",
            elapsed, (unsigned long long) total_req,
            elapsed > 0 ? (double) total_req / elapsed : 0);
    fprintf(f, "\"seats_total\":%u,\"seats_sold\":%llu,"
            "\"seats_sold_twice\":%llu,\"money_charged\":%lld,"
            "\"money_sold_prices\":%lld,\"sellout_s\":%.3f,"
            "\"last_sale_s\":%.3f,\n", venue.nseats,
            (unsigned long long) seats_sold_client,
            (unsigned long long) double_sold_client,
            (long long) money_charged_client, (long long) money_prices_client,
            sellout_s, t_last_sale >= 0
                       ? (double) (t_last_sale - t_first_join) / 1e6 : -1.0);
    fprintf(f, "\"holds\":{\"attempts\":%llu,\"granted\":%llu,"
            "\"refused\":%llu},\"payments_ok\":%llu,"
            "\"release_headers\":%llu,\n", (unsigned long long) hold_attempts,
            (unsigned long long) hold_ok, (unsigned long long) hold_conflicts,
            (unsigned long long) pay_ok, (unsigned long long) releases_seen);
    fprintf(f, "\"admission\":{\"places_checked\":%llu,\"inversions\":%llu},"
            "\n", (unsigned long long) checked,
            (unsigned long long) inversions);
    fprintf(f, "\"wait_estimate\":{\"users\":%zu,\"shown_at_join\":%zu,\"median_abs_error_s\":%.2f,"
            "\"p90_abs_error_s\":%.2f,\"median_signed_error_s\":%.2f,"
            "\"median_error_outside_poll_interval_s\":%.2f,"
            "\"p90_error_outside_poll_interval_s\":%.2f},\n",
            nerr, n_est_join, q_abs50, q_abs90, q_sgn50, q_out50, q_out90);
    fprintf(f, "\"memory\":{\"nginx_workers_rss_peak_kb\":%ld,"
            "\"nginx_worker_hwm_kb\":%ld,\"worker_rss_peak_kb\":%ld,"
            "\"worker_hwm_kb\":%ld,\"zone_peak_bytes\":%lld,"
            "\"zone_size_bytes\":%lld,\"nginx_workers_private_peak_kb\":%ld,"
            "\"worker_private_peak_kb\":%ld},\n",
            nginx_rss_peak, nginx_hwm, worker_rss_peak, worker_hwm,
            (long long) zone_peak, (long long) zone_size, nginx_anon_peak,
            worker_anon_peak);
    fprintf(f, "\"room_admitted_total\":%lld,\n",
            (long long) srv_admitted_total);
    report_cpu_json(f);
    fprintf(f, "\"t0_epoch_ms\":%lld,\"request_timeout_s\":%.1f,"
            "\"hung_requests\":%llu,\n", (long long) t0_epoch_ms,
            opt.request_timeout, (unsigned long long) hung);

    if (opt.faults) {
        fprintf(f, "\"faults\":{\"events\":%u,\"events_dropped\":%llu,"
                "\"events_file\":\"%s\",\"retries\":%llu,\"rejoins\":%llu,"
                "\"places_lost\":%llu,\"unknown_payments\":%llu,"
                "\"unknown_seats\":%llu},\n", nevents,
                (unsigned long long) events_dropped,
                strrchr(evp, '/') ? strrchr(evp, '/') + 1 : evp,
                (unsigned long long) fault_retries,
                (unsigned long long) rejoins_total,
                (unsigned long long) places_lost,
                (unsigned long long) unknown_pays,
                (unsigned long long) unknown_seats);
    }
    fprintf(f, "\"client\":{\"cpu_user_s\":%.2f,\"cpu_system_s\":%.2f,"
            "\"max_wait_for_connection_ms\":%.1f},\n", cpu_user, cpu_sys,
            (double) pending_wait_max / 1000.0);
    fprintf(f, "\"outcomes\":{");

    for (s = 0; s < OUT_N; s++) {
        fprintf(f, "%s\"%s\":%llu", s ? "," : "", out_names[s],
                (unsigned long long) outcomes[s]);
    }

    fprintf(f, "},\n\"codes\":[");

    for (i = 0; i < ntallies; i++) {
        fprintf(f, "%s{\"endpoint\":\"%s\",\"status\":%d,\"code\":\"%s\","
                "\"count\":%llu}", i ? "," : "", ep_names[tallies[i].ep],
                tallies[i].status, tallies[i].name,
                (unsigned long long) tallies[i].count);
    }

    fprintf(f, "],\n\"endpoints\":{");

    for (ep = 0; ep < EP_N; ep++) {
        int  first = 1;

        fprintf(f, "%s\n \"%s\":{\"rps\":%.1f,\"latency\":", ep ? "," : "",
                ep_names[ep], elapsed > 0
                              ? (double) ep_hist[ep].count / elapsed : 0);
        json_hist(f, &ep_hist[ep]);
        fprintf(f, ",\"connection_errors\":%llu,\"timeouts\":%llu,"
                "\"status\":{", (unsigned long long) ep_conn_errors[ep],
                (unsigned long long) ep_timeouts[ep]);

        for (s = 0; s < STATUS_CODES; s++) {
            if (ep_status[ep][s]) {
                fprintf(f, "%s\"%d\":%llu", first ? "" : ",", s,
                        (unsigned long long) ep_status[ep][s]);
                first = 0;
            }
        }

        fprintf(f, "}}");
    }

    fprintf(f, "},\n\"status\":{");

    for (s = 0, i = 0; s < STATUS_CODES; s++) {
        if (st_total[s]) {
            fprintf(f, "%s\"%d\":%llu", i++ ? "," : "", s,
                    (unsigned long long) st_total[s]);
        }
    }

    fprintf(f, "},\n");

    if (opt.verify) {
        fprintf(f, "\"database\":{\"checked\":%s,\"sold_seats\":%lld,"
                "\"sold_distinct\":%lld,\"live_duplicates\":%lld,"
                "\"seats\":%lld,\"payments\":%lld,\"payments_sum\":%lld,"
                "\"sold_prices_sum\":%lld,\"reservations_total\":%lld,"
                "\"ledger_mismatches\":%lld,\"balance_mismatches\":%lld},\n",
                db.ok ? "true" : "false", db.sold_rows, db.sold_distinct,
                db.live_claims_dup, db.seats_total, db.payments_n,
                db.payments_sum, db.sold_prices_sum, db.reservations_total,
                db.ledger_mismatch, db.balance_mismatch);
        fprintf(f, "\"payments_told\":{\"checked\":%s,\"told\":%llu,"
                "\"found\":%llu,\"missing\":%llu,\"wrong\":%llu,"
                "\"no_id\":%llu},\n", pc.ok ? "true" : "false",
                (unsigned long long) pc.told, (unsigned long long) pc.found,
                (unsigned long long) pc.missing,
                (unsigned long long) pc.wrong,
                (unsigned long long) pc.no_id);
    }

    fprintf(f, "\"series\":\"%s\"\n}\n",
            strrchr(tsv, '/') ? strrchr(tsv, '/') + 1 : tsv);
    fclose(f);

    fprintf(t, "t\twaiting\tadmitted\tactive\tsold\trps\tp50_ms\tp95_ms"
            "\tp99_ms\terrors");

    for (ep = 0; ep < EP_N; ep++) {
        fprintf(t, "\t%s_rps", ep_names[ep]);
    }

    for (ep = 0; ep < EP_N; ep++) {
        fprintf(t, "\t%s_p99_ms", ep_names[ep]);
    }

    fprintf(t, "\tsrv_waiting\tsrv_active\tzone_used");

    for (c = 0; c < CPU_N; c++) {
        fprintf(t, "\tcpu_%s_ms", cpu_keys[c]);
    }

    fprintf(t, "\n");

    for (i = 0; i < nsamples; i++) {
        sample_t  *sm = &samples[i];
        uint32_t   rps = 0;

        for (ep = 0; ep < EP_N; ep++) {
            rps += sm->requests[ep];
        }

        fprintf(t, "%u\t%u\t%u\t%u\t%u\t%u\t%.2f\t%.2f\t%.2f\t%u", i + 1,
                sm->waiting, sm->admitted, sm->active, sm->sold, rps,
                sm->p50 / 1000.0, sm->p95 / 1000.0, sm->p99 / 1000.0,
                sm->errors);

        for (ep = 0; ep < EP_N; ep++) {
            fprintf(t, "\t%u", sm->requests[ep]);
        }

        for (ep = 0; ep < EP_N; ep++) {
            fprintf(t, "\t%.2f", sm->ep_p99[ep] / 1000.0);
        }

        fprintf(t, "\t%lld\t%lld\t%lld", (long long) sm->srv_waiting,
                (long long) sm->srv_active, (long long) sm->zone_used);

        /* CPU time used in this second of the run. */
        for (c = 0; c < CPU_N; c++) {
            fprintf(t, "\t%lld", (long long) cpu_between(c, i, i + 1));
        }

        fprintf(t, "\n");
    }

    fclose(t);

    if (opt.faults) {
        t = fopen(evp, "w");

        if (t == NULL) {
            perror("storm: events file");
            return 2;
        }

        /* status 0: the connection failed; -1: the client timeout. */
        fprintf(t, "t_s\tepoch_ms\tendpoint\tstatus\tcode\n");

        for (i = 0; i < nevents; i++) {
            fprintf(t, "%.3f\t%lld\t%s\t%d\t%s\n",
                    (double) events[i].t_us / 1e6,
                    (long long) (t0_epoch_ms + events[i].t_us / 1000),
                    ep_names[events[i].ep], events[i].status,
                    events[i].code);
        }

        fclose(t);
        printf("events: %s\n", evp);
    }

    printf("result: %s\nseries: %s\n", path, tsv);

    /* The verdict on the invariants. */
    failed = 0;

    if (double_sold_client != 0) {
        printf("FAIL: a seat was sold twice (client view)\n");
        failed = 1;
    }

    if (money_charged_client != money_prices_client) {
        printf("FAIL: money charged differs from the sold prices\n");
        failed = 1;
    }

    if (inversions != 0) {
        printf("FAIL: admission order is not FIFO\n");
        failed = 1;
    }

    if (seats_sold_client == 0) {
        printf("FAIL: nothing was sold\n");
        failed = 1;
    }

    for (s = 500, i = 0; s < STATUS_CODES; s++) {
        i += (uint32_t) st_total[s];
    }

    /* With --faults, 5xx answers are what the faults look like. */
    if (i != 0 && !opt.faults) {
        printf("FAIL: %u answers were 5xx\n", i);
        failed = 1;
    }

    if (opt.verify) {
        /*
         * A payment whose every try failed may still have gone through:
         * with --faults the database may count those seats on top of what
         * the client saw, never more, never fewer.
         */
        if (!db.ok || db.sold_rows != db.sold_distinct
            || db.live_claims_dup != 0 || db.payments_sum != db.sold_prices_sum
            || db.reservations_total != db.payments_sum
            || db.ledger_mismatch != 0 || db.balance_mismatch != 0
            || db.sold_rows < (long long) seats_sold_client
            || db.sold_rows - (long long) seats_sold_client
               > (long long) unknown_seats)
        {
            printf("FAIL: the database disagrees (see above)\n");
            failed = 1;
        }

        if (!pc.ok || pc.missing != 0 || pc.wrong != 0 || pc.no_id != 0) {
            printf("FAIL: a buyer was told of a payment the database does"
                   " not have as told\n");
            failed = 1;
        }
    }

    printf("%s\n", failed ? "INVARIANTS: FAILED" : "INVARIANTS: OK");
    free(err_abs);
    free(err_signed);
    free(err_out);

    return failed;
}


/* --- options ---------------------------------------------------------------------- */

static void
usage(void)
{
    fprintf(stderr,
"usage: storm [options]\n"
"  --profile ci|full     ci: 3,000 users, 230 seats, <= 75 s; full: 200,000\n"
"                        users, 15,000 seats (default full)\n"
"  --port N              NGINX on 127.0.0.1:N (required; loopback only)\n"
"  --users N --seats N --duration S --burst S --connections N\n"
"  --room NAME           the waiting room (default storm)\n"
"  --queue-path PATH     default /queue/<room>\n"
"  --performance ID      use this performance (default: setup makes one)\n"
"  --secret FILE         the token key file (to mint sessions)\n"
"  --db-socket PATH      MariaDB socket for the setup and the checks\n"
"  --db-name NAME        default ticket\n"
"  --out DIR             results (default bench/results)\n"
"  --label NAME          result file name part\n"
"  --nginx-pid FILE --worker-pid FILE   for peak RSS and CPU time\n"
"  --mysql-pid FILE      MariaDB's pid file, for its CPU time\n"
"  --abandon-wait F --abandon-hold F --pay-late F   fractions of users\n"
"  --hold-seconds S      the worker's hold lifetime (pay-late waits longer)\n"
"  --think MIN,MAX       seconds between a user's steps\n"
"  --max-tickets N --attempts N --spread N --balance KRW --seed N\n"
"  --timeout S           per request\n"
"  --leave F             done users who leave the room (DELETE), default 0.9\n"
"  --status-path PATH    the room's ticket_status location (zone memory)\n"
"  --pay-at S            holders pay from second S on, all at once: the\n"
"                        burst's payments per second are reported\n"
"                        (holds must outlive S: --hold-seconds)\n"
"  --faults              faults are being injected: 5xx, connection errors\n"
"                        and timeouts are counted (with their times, in\n"
"                        <result>.events.tsv), users back off and retry;\n"
"                        seats, money and order still fail the run\n"
"  --no-verify --quiet\n");
    exit(2);
}


static void
parse_options(int argc, char **argv)
{
    int          c, idx;
    const char  *profile;

    static struct option  longopts[] = {
        { "profile", 1, NULL, 'P' }, { "port", 1, NULL, 'p' },
        { "host", 1, NULL, 'H' },
        { "users", 1, NULL, 'u' }, { "seats", 1, NULL, 's' },
        { "duration", 1, NULL, 'd' }, { "burst", 1, NULL, 'b' },
        { "connections", 1, NULL, 'c' }, { "room", 1, NULL, 'r' },
        { "queue-path", 1, NULL, 'q' }, { "performance", 1, NULL, 'f' },
        { "secret", 1, NULL, 'k' }, { "db-socket", 1, NULL, 'D' },
        { "db-name", 1, NULL, 'N' }, { "out", 1, NULL, 'o' },
        { "label", 1, NULL, 'l' }, { "nginx-pid", 1, NULL, 'n' },
        { "worker-pid", 1, NULL, 'w' }, { "abandon-wait", 1, NULL, 1 },
        { "abandon-hold", 1, NULL, 2 }, { "pay-late", 1, NULL, 3 },
        { "hold-seconds", 1, NULL, 4 }, { "think", 1, NULL, 5 },
        { "max-tickets", 1, NULL, 6 }, { "attempts", 1, NULL, 7 },
        { "spread", 1, NULL, 8 }, { "balance", 1, NULL, 9 },
        { "seed", 1, NULL, 10 }, { "timeout", 1, NULL, 11 },
        { "no-verify", 0, NULL, 13 },
        { "quiet", 0, NULL, 14 }, { "help", 0, NULL, 'h' },
        { "leave", 1, NULL, 15 }, { "status-path", 1, NULL, 16 },
        { "faults", 0, NULL, 17 }, { "pay-at", 1, NULL, 18 },
        { "mysql-pid", 1, NULL, 19 },
        { NULL, 0, NULL, 0 }
    };

    /* The profile sets the defaults; any other flag overrides them. */
    profile = "full";

    for (idx = 1; idx < argc - 1; idx++) {
        if (strcmp(argv[idx], "--profile") == 0) {
            profile = argv[idx + 1];
        }
    }

    memset(&opt, 0, sizeof(opt));
    opt.host = "127.0.0.1";
    opt.room = "storm";
    opt.db_name = "ticket";
    opt.out_dir = "bench/results";
    opt.abandon_wait = 0.05;
    opt.abandon_hold = 0.03;
    opt.pay_late = 0.02;
    opt.leave = 0.9;
    opt.hold_seconds = 60;
    opt.request_timeout = 30;
    opt.max_tickets = 4;
    opt.max_attempts = 8;
    opt.spread = 0;
    opt.balance = 1000000;
    opt.seed = 20261123;
    opt.verify = 1;

    if (strcmp(profile, "ci") == 0) {
        opt.profile = "ci";
        opt.users = 3000;
        opt.seats = 230;
        opt.duration = 75;
        opt.burst = 3;
        opt.connections = 64;
        opt.think_min = 0.05;
        opt.think_max = 0.3;

    } else if (strcmp(profile, "full") == 0) {
        opt.profile = "full";
        opt.users = 200000;
        opt.seats = 15000;
        opt.duration = 900;
        opt.burst = 10;
        opt.connections = 512;
        opt.think_min = 0.5;
        opt.think_max = 3;

    } else {
        usage();
    }

    while ((c = getopt_long(argc, argv, "h", longopts, &idx)) != -1) {
        switch (c) {
        case 'P': break;
        case 'p': opt.port = atoi(optarg); break;
        case 'H': opt.host = optarg; break;
        case 'u': opt.users = (uint32_t) strtoul(optarg, NULL, 10); break;
        case 's': opt.seats = (uint32_t) strtoul(optarg, NULL, 10); break;
        case 'd': opt.duration = atof(optarg); break;
        case 'b': opt.burst = atof(optarg); break;
        case 'c': opt.connections = (uint32_t) strtoul(optarg, NULL, 10);
                  break;
        case 'r': opt.room = optarg; break;
        case 'q': opt.queue_path = optarg; break;
        case 'f': opt.performance = strtoll(optarg, NULL, 10); break;
        case 'k': opt.secret_file = optarg; break;
        case 'D': opt.db_socket = optarg; break;
        case 'N': opt.db_name = optarg; break;
        case 'o': opt.out_dir = optarg; break;
        case 'l': opt.label = optarg; break;
        case 'n': opt.nginx_pid_file = optarg; break;
        case 'w': opt.worker_pid_file = optarg; break;
        case 1: opt.abandon_wait = atof(optarg); break;
        case 2: opt.abandon_hold = atof(optarg); break;
        case 3: opt.pay_late = atof(optarg); break;
        case 4: opt.hold_seconds = atof(optarg); break;
        case 5:
            if (sscanf(optarg, "%lf,%lf", &opt.think_min, &opt.think_max)
                != 2)
            {
                usage();
            }
            break;
        case 6: opt.max_tickets = (uint32_t) atoi(optarg); break;
        case 7: opt.max_attempts = (uint32_t) atoi(optarg); break;
        case 8: opt.spread = (uint32_t) atoi(optarg); break;
        case 9: opt.balance = strtoll(optarg, NULL, 10); break;
        case 10: opt.seed = strtoull(optarg, NULL, 10); break;
        case 11: opt.request_timeout = atof(optarg); break;
        case 13: opt.verify = 0; break;
        case 14: opt.quiet = 1; break;
        case 15: opt.leave = atof(optarg); break;
        case 16: opt.status_path = optarg; break;
        case 17: opt.faults = 1; break;
        case 18: opt.pay_at = atof(optarg); break;
        case 19: opt.mysql_pid_file = optarg; break;
        default: usage();
        }
    }

    /* Loopback only: the storm must never be aimed at somebody's server. */
    if (strcmp(opt.host, "127.0.0.1") != 0) {
        die("only 127.0.0.1 is a valid target");
    }

    if (opt.port <= 0 || opt.port > 65535 || opt.users == 0
        || opt.connections == 0 || opt.duration <= 0 || opt.duration > 3600
        || opt.max_tickets < 1 || opt.max_tickets > MAX_TICKETS
        || opt.max_attempts < 1 || opt.max_attempts > 250
        || opt.think_min < 0 || opt.think_max < opt.think_min
        || opt.pay_at < 0)
    {
        usage();
    }

    if (opt.secret_file == NULL) {
        die("--secret is needed to mint session cookies");
    }
}


int
main(int argc, char **argv)
{
    uint32_t         i, nroom, npay;
    conn_t          *c;
    uint64_t        *user_ids, *session_ids;
    int64_t          t_end;
    const char      *err;
    char             tag[32], qpath[128];
    struct timespec  ts;
    struct sigaction  sa;

    parse_options(argc, argv);

    clock_gettime(CLOCK_MONOTONIC, &ts);
    rng_state = opt.seed ? opt.seed : 1;

    if (opt.queue_path == NULL) {
        snprintf(qpath, sizeof(qpath), "/queue/%s", opt.room);
        opt.queue_path = qpath;
    }

    key = ticket_key_load(opt.secret_file, &err);
    if (key == NULL) {
        fprintf(stderr, "storm: %s: %s\n", opt.secret_file, err);
        return 2;
    }

    /* A tag keeps the users of different runs on one database apart. */
    snprintf(tag, sizeof(tag), "%lx%x", (unsigned long) time(NULL),
             (unsigned) getpid() & 0xfff);

    if (!opt.quiet) {
        fprintf(stderr, "storm: setup: %u users%s (SQL bulk insert)\n",
                opt.users, opt.performance ? "" : " and a venue");
    }

    if (storm_setup(&opt, tag, &user_ids, &session_ids, &nusers) != 0) {
        die("the setup failed");
    }

    users = calloc(nusers, sizeof(vu_t));
    conns = calloc(opt.connections, sizeof(conn_t));
    for (i = 0; i < NLANES; i++) {
        lanes[i].idle = calloc(opt.connections, sizeof(uint32_t));
        lanes[i].cap = nusers + 1;
        lanes[i].pending = calloc(lanes[i].cap, sizeof(uint32_t));

        if (lanes[i].idle == NULL || lanes[i].pending == NULL) {
            die("out of memory");
        }
    }

    if (users == NULL || conns == NULL) {
        die("out of memory");
    }

    mint_sessions(user_ids, session_ids);
    free(user_ids);
    free(session_ids);

    nconns = opt.connections;

    /*
     * A quarter of the connections (at least 4) carry the room's calls,
     * an eighth (at least 2) the payments, the rest the API's others.
     */
    nroom = nconns / 4 < 4 ? 4 : nconns / 4;
    npay = nconns / 8 < 2 ? 2 : nconns / 8;

    if (nroom + npay >= nconns) {
        die("--connections must be at least 8");
    }

    for (i = 0; i < nconns; i++) {
        c = &conns[nconns - 1 - i];
        c->fd = -1;
        c->lane = (nconns - 1 - i) < nroom ? LANE_ROOM
                  : (nconns - 1 - i) < nroom + npay ? LANE_PAY : LANE_API;
        http_resp_init(&c->resp);
        lanes[c->lane].idle[lanes[c->lane].nidle++] = nconns - 1 - i;
    }

    epfd = epoll_create1(EPOLL_CLOEXEC);
    if (epfd == -1) {
        die("epoll_create1 failed");
    }

    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (!opt.quiet) {
        fprintf(stderr, "storm: performance %lld, room %s at %s; %u users "
                "join over %.1f s; bounded by %.0f s\n",
                (long long) opt.performance, opt.room, opt.queue_path, nusers,
                opt.burst, opt.duration);
    }

    clock_gettime(CLOCK_MONOTONIC, &ts);
    t0_us = (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
    t0_wall = time(NULL);
    clock_gettime(CLOCK_REALTIME, &ts);
    t0_epoch_ms = (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;

    /* For a driver that injects faults at known times of the storm. */
    if (!opt.quiet || opt.faults) {
        fprintf(stderr, "storm: started at epoch_ms %lld\n",
                (long long) t0_epoch_ms);
    }

    plan_users();
    run();
    t_end = now_us();

    for (i = 0; i < nconns; i++) {
        conn_close(&conns[i]);
    }

    return report(tag, t_end);
}
