#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "outbox.h"

#define OUTBOX_BATCH        200
#define OUTBOX_BACKOFF_MAX  5000     /* ms between reconnection attempts */
#define OUTBOX_KEEP_DAYS    7        /* published rows are kept this long */
#define OUTBOX_PURGE_EVERY  60000    /* ms between purges */
#define OUTBOX_PURGE_BATCH  1000

typedef struct {
    int64_t   id;
    int64_t   aggregate_id;
    char      type[64];
    char      aggregate[32];
    char      occurred_at[40];
    char     *payload;
    size_t    payload_len;
} outbox_row_t;

typedef struct {
    const worker_conf_t  *conf;
    db_t                  db;
    redisContext         *redis;
    int64_t               last_id;       /* highest id published in order */
    int64_t               gap_since;     /* ms: when a gap was first seen */
    int                   backoff;       /* ms */
} publisher_t;

static pthread_t        outbox_tid;
static int              outbox_running;
static _Atomic int      outbox_stopping;


int
outbox_add(req_t *req, const char *type, const char *aggregate,
    int64_t aggregate_id, const char *payload)
{
    return db_exec(req->db, NULL,
                   "INSERT INTO outbox (event_type, aggregate, aggregate_id,"
                   " payload) VALUES (?, ?, ?, ?)", "ssis", type, aggregate,
                   aggregate_id, payload);
}


int
outbox_reservation_event(req_t *req, const char *type,
    const outbox_reservation_t *r)
{
    char  *payload;
    jw_t   w;
    int    rc;

    if (jw_init(&w) != 0) {
        return DB_ERROR;
    }
    jw_obj_open(&w);
    jw_kv_int(&w, "reservation_id", r->reservation_id);
    jw_kv_int(&w, "user_id", r->user_id);
    jw_kv_int(&w, "performance_id", r->performance_id);
    jw_key(&w, "payment_id");
    if (r->payment_id == 0) {
        jw_null(&w);
    } else {
        jw_int(&w, r->payment_id);
    }
    jw_kv_int(&w, "total", r->total);
    jw_kv_str(&w, "currency", "KRW");
    jw_kv_str(&w, "status", r->status);
    jw_kv_str(&w, "payment_method", r->payment_method);
    jw_kv_str(&w, "payment_status", r->payment_status);
    jw_key(&w, "seat_ids");
    jw_arr_open(&w);
    for (size_t i = 0; i < r->seats->n; i++) {
        jw_int(&w, r->seats->id[i]);
    }
    jw_arr_close(&w);
    jw_obj_close(&w);
    payload = jw_strdup(&w);
    jw_free(&w);
    if (payload == NULL) {
        return DB_ERROR;
    }
    rc = outbox_add(req, type, "reservation", r->reservation_id, payload);
    free(payload);
    return rc;
}


int
outbox_reservation(req_t *req, const char *type, int64_t reservation_id)
{
    outbox_reservation_t  r;
    idlist_t              seats;
    db_res_t              res;
    char                  status[16], method[16], pay_status[16];
    int                   rc;

    rc = db_exec(req->db, &res,
                 "SELECT r.user_id, r.performance_id, r.payment_id, r.total,"
                 " r.status, COALESCE(p.method, ''), COALESCE(p.status, ''),"
                 " rs.seat_id FROM reservations r"
                 " LEFT JOIN payments p ON p.id = r.payment_id"
                 " JOIN reservation_seats rs ON rs.reservation_id = r.id"
                 " WHERE r.id = ? ORDER BY rs.seat_id", "i", reservation_id);
    if (rc != DB_OK) {
        return rc;
    }
    memset(&r, 0, sizeof(r));
    memset(&seats, 0, sizeof(seats));
    while ((rc = db_fetch(&res)) == 1) {
        if (seats.n == 0) {
            r.user_id = db_int(&res, 0);
            r.performance_id = db_int(&res, 1);
            r.payment_id = db_is_null(&res, 2) ? 0 : db_int(&res, 2);
            r.total = db_int(&res, 3);
            snprintf(status, sizeof(status), "%s", db_str(&res, 4, NULL));
            snprintf(method, sizeof(method), "%s", db_str(&res, 5, NULL));
            snprintf(pay_status, sizeof(pay_status), "%s",
                     db_str(&res, 6, NULL));
        }
        if (seats.n < IDLIST_MAX) {
            seats.id[seats.n++] = db_int(&res, 7);
        }
    }
    db_res_free(&res);
    if (rc != 0 || seats.n == 0) {
        return DB_ERROR;
    }
    r.reservation_id = reservation_id;
    r.status = status;
    r.payment_method = method;
    r.payment_status = pay_status;
    r.seats = &seats;
    return outbox_reservation_event(req, type, &r);
}


static int64_t
mono_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* Sleeps ms in small steps, so that a stop is noticed quickly. */
static void
pause_ms(int ms)
{
    while (ms > 0 && !outbox_stopping) {
        int  step = ms < 50 ? ms : 50;

        usleep((useconds_t) step * 1000);
        ms -= step;
    }
}


static void
publisher_disconnect(publisher_t *p)
{
    if (p->redis != NULL) {
        redisFree(p->redis);
        p->redis = NULL;
    }
}


/* 0 when connected; otherwise pauses with a growing backoff, -1. */
static int
publisher_connect(publisher_t *p)
{
    struct timeval  tv;

    if (p->redis != NULL) {
        return 0;
    }
    tv.tv_sec = p->conf->redis_timeout_ms / 1000;
    tv.tv_usec = (p->conf->redis_timeout_ms % 1000) * 1000;
    p->redis = redisConnectWithTimeout(p->conf->redis_host,
                                       p->conf->redis_port, tv);
    if (p->redis != NULL && p->redis->err == 0
        && redisSetTimeout(p->redis, tv) == REDIS_OK)
    {
        if (p->backoff > 0) {
            log_info("outbox: connected to Redis again");
        }
        p->backoff = 0;
        return 0;
    }
    if (p->backoff == 0) {
        log_warn("outbox: Redis %s:%d unavailable (%s); events wait",
                 p->conf->redis_host, p->conf->redis_port,
                 p->redis ? p->redis->errstr : "out of memory");
    }
    publisher_disconnect(p);
    p->backoff = p->backoff == 0 ? 100 : p->backoff * 2;
    if (p->backoff > OUTBOX_BACKOFF_MAX) {
        p->backoff = OUTBOX_BACKOFF_MAX;
    }
    pause_ms(p->backoff);
    return -1;
}


static int
publisher_xadd(publisher_t *p, const outbox_row_t *r)
{
    redisReply  *reply;
    int          ok;

    reply = redisCommand(p->redis,
                         "XADD %s * event_id %lld type %s aggregate %s"
                         " aggregate_id %lld occurred_at %s payload %b",
                         p->conf->outbox_stream, (long long) r->id, r->type,
                         r->aggregate, (long long) r->aggregate_id,
                         r->occurred_at, r->payload, r->payload_len);
    if (reply == NULL) {
        log_warn("outbox: Redis: %s", p->redis->errstr);
        publisher_disconnect(p);
        return -1;
    }
    ok = reply->type == REDIS_REPLY_STRING;
    if (!ok) {
        log_warn("outbox: XADD event %lld: %s", (long long) r->id,
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "odd reply");
        /* The connection may be fine, but back off all the same. */
        publisher_disconnect(p);
    }
    freeReplyObject(reply);
    return ok ? 0 : -1;
}


static void
rows_free(outbox_row_t *rows, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        free(rows[i].payload);
    }
}


/* Reads the oldest unpublished rows: their number, or a DB_* error. */
static int
publisher_fetch(publisher_t *p, outbox_row_t *rows)
{
    const char  *s;
    db_res_t     res;
    size_t       len;
    int          rc, n = 0;

    rc = db_exec(&p->db, &res,
                 "SELECT id, event_type, aggregate, aggregate_id,"
                 " DATE_FORMAT(created_at, '%Y-%m-%dT%H:%i:%s.%fZ'), payload"
                 " FROM outbox WHERE published_at IS NULL"
                 " ORDER BY id LIMIT ?", "i", (int64_t) OUTBOX_BATCH);
    if (rc != DB_OK) {
        return rc;
    }
    while (n < OUTBOX_BATCH && (rc = db_fetch(&res)) == 1) {
        outbox_row_t  *r = &rows[n];

        r->id = db_int(&res, 0);
        snprintf(r->type, sizeof(r->type), "%s", db_str(&res, 1, NULL));
        snprintf(r->aggregate, sizeof(r->aggregate), "%s",
                 db_str(&res, 2, NULL));
        r->aggregate_id = db_int(&res, 3);
        snprintf(r->occurred_at, sizeof(r->occurred_at), "%s",
                 db_str(&res, 4, NULL));
        s = db_str(&res, 5, &len);
        r->payload = malloc(len + 1);
        if (r->payload == NULL) {
            break;
        }
        memcpy(r->payload, s, len);
        r->payload[len] = '\0';
        r->payload_len = len;
        n++;
    }
    db_res_free(&res);
    if (rc < 0) {
        rows_free(rows, (size_t) n);
        return DB_ERROR;
    }
    return n;
}


/*
 * Whether row may go now: it follows the last one published, or it is
 * late (below it), or the gap before it has lasted long enough.
 */
static int
publisher_in_order(publisher_t *p, const outbox_row_t *r)
{
    int64_t  now;

    if (r->id <= p->last_id + 1 || p->last_id == 0) {
        return 1;
    }
    now = mono_ms();
    if (p->gap_since == 0) {
        p->gap_since = now;
    }
    if (now - p->gap_since < p->conf->outbox_gap_wait_ms) {
        return 0;
    }
    log_info("outbox: ids %lld to %lld never appeared; going on",
             (long long) p->last_id + 1, (long long) r->id - 1);
    return 1;
}


/* One pass: publishes what it can; the number of rows published. */
static int
publisher_pass(publisher_t *p)
{
    outbox_row_t  *rows;
    int            n, i, done = 0, rc;

    rows = calloc(OUTBOX_BATCH, sizeof(*rows));
    if (rows == NULL) {
        return 0;
    }
    n = publisher_fetch(p, rows);
    for (i = 0; i < n && !outbox_stopping; i++) {
        if (!publisher_in_order(p, &rows[i])) {
            break;
        }
        if (publisher_xadd(p, &rows[i]) != 0) {
            break;
        }
        rc = db_exec(&p->db, NULL,
                     "UPDATE outbox SET published_at = UTC_TIMESTAMP(3)"
                     " WHERE id = ?", "i", rows[i].id);
        if (rc != DB_OK) {
            /* Sent but not marked: it goes again later (at least once). */
            log_warn("outbox: marking event %lld failed: %d",
                     (long long) rows[i].id, rc);
            break;
        }
        if (rows[i].id > p->last_id) {
            p->last_id = rows[i].id;
        } else {
            log_info("outbox: event %lld published late",
                     (long long) rows[i].id);
        }
        p->gap_since = 0;
        done++;
    }
    rows_free(rows, n > 0 ? (size_t) n : 0);
    free(rows);
    return done;
}


/*
 * Deletes rows published more than OUTBOX_KEEP_DAYS ago, a batch at a
 * time: the stream has them, and the table must not grow for ever.
 */
static void
publisher_purge(publisher_t *p)
{
    int  rc;

    rc = db_exec(&p->db, NULL,
                 "DELETE FROM outbox WHERE published_at <"
                 " UTC_TIMESTAMP(3) - INTERVAL ? DAY ORDER BY published_at"
                 " LIMIT ?", "ii", (int64_t) OUTBOX_KEEP_DAYS,
                 (int64_t) OUTBOX_PURGE_BATCH);
    if (rc != DB_OK) {
        log_warn("outbox: purging published events failed: %d", rc);
    }
}


static void *
outbox_thread(void *arg)
{
    publisher_t  *p = arg;
    int64_t       last = 0, purged = 0;
    int           rc, n;

    while (!outbox_stopping) {
        rc = db_query_int(&p->db, &last,
                          "SELECT COALESCE(MAX(id), 0) FROM outbox"
                          " WHERE published_at IS NOT NULL", "");
        if (rc == 1) {
            p->last_id = last;
            break;
        }
        pause_ms(1000);
    }
    while (!outbox_stopping) {
        if (publisher_connect(p) != 0) {
            continue;
        }
        n = publisher_pass(p);
        if (mono_ms() - purged >= OUTBOX_PURGE_EVERY) {
            purged = mono_ms();
            publisher_purge(p);
        }
        if (n < OUTBOX_BATCH) {
            pause_ms(p->conf->outbox_interval_ms);
        }
    }
    publisher_disconnect(p);
    db_close(&p->db);
    free(p);
    return NULL;
}


int
outbox_start(const worker_conf_t *conf)
{
    publisher_t  *p;

    if (conf->redis_port == 0) {
        log_info("outbox: redis_port is 0; events stay in the outbox");
        return 0;
    }
    p = calloc(1, sizeof(*p));
    if (p == NULL) {
        return -1;
    }
    p->conf = conf;
    db_init(&p->db, conf);
    if (pthread_create(&outbox_tid, NULL, outbox_thread, p) != 0) {
        free(p);
        return -1;
    }
    outbox_running = 1;
    return 0;
}


void
outbox_stop(void)
{
    if (!outbox_running) {
        return;
    }
    outbox_stopping = 1;
    pthread_join(outbox_tid, NULL);
    outbox_running = 0;
}
