#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hold.h"
#include "idempotency.h"
#include "log.h"
#include "sweeper.h"

#define SWEEP_BATCH          200
#define SWEEP_PURGE_EVERY     60      /* seconds between purges */
#define SWEEP_PURGE_BATCH     1000

typedef struct {
    int64_t  id;
    int64_t  perf;
    int64_t  user;
} sweep_hold_t;


static int
sweep_one_tx(req_t *req, void *arg)
{
    sweep_hold_t  *h = arg;
    int64_t        due;
    int            rc;

    rc = db_query_int(req->db, &due,
                      "SELECT expires_at <= UTC_TIMESTAMP(3) FROM holds"
                      " WHERE id = ? AND status = 'active' FOR UPDATE",
                      "i", h->id);
    if (rc != 1) {
        /* Paid, released or swept by someone else meanwhile. */
        return rc < 0 ? rc : 0;
    }
    if (!due) {
        return 0;
    }
    return hold_end(req, h->id, h->perf, h->user, "expired", 0);
}


int
sweep_holds(req_t *req, int batch)
{
    sweep_hold_t  *list;
    db_res_t       res;
    size_t         n = 0;
    int            rc, ended = 0;

    list = calloc((size_t) batch, sizeof(*list));
    if (list == NULL) {
        return DB_ERROR;
    }
    rc = db_exec(req->db, &res,
                 "SELECT id, performance_id, user_id FROM holds"
                 " WHERE status = 'active' AND expires_at <= UTC_TIMESTAMP(3)"
                 " ORDER BY expires_at LIMIT ?", "i", (int64_t) batch);
    if (rc != DB_OK) {
        free(list);
        return rc;
    }
    while ((rc = db_fetch(&res)) == 1 && n < (size_t) batch) {
        list[n].id = db_int(&res, 0);
        list[n].perf = db_int(&res, 1);
        list[n].user = db_int(&res, 2);
        n++;
    }
    db_res_free(&res);

    for (size_t i = 0; i < n; i++) {
        rc = req_tx(req, sweep_one_tx, &list[i]);
        resp_reset(req);
        if (rc < 0) {
            log_warn("sweeper: hold %lld: error %d", (long long) list[i].id,
                     rc);
            if (rc == DB_GONE) {
                break;
            }
            continue;
        }
        if (rc == 0) {
            ended++;
        }
    }
    free(list);
    return ended;
}


/*
 * Rows nobody needs any more: idempotency keys past their day, and
 * failed log-in counts whose window has ended (the next failure would
 * start a new window anyway).  A batch each time keeps every DELETE short.
 */
static void
sweep_stale_rows(req_t *req)
{
    int  rc;

    rc = db_exec(req->db, NULL,
                 "DELETE FROM idempotency_keys WHERE created_at <"
                 " UTC_TIMESTAMP(3) - INTERVAL ? SECOND LIMIT ?", "ii",
                 (int64_t) IDEM_KEEP_SECONDS, (int64_t) SWEEP_PURGE_BATCH);
    if (rc != DB_OK) {
        log_warn("sweeper: purging idempotency keys failed: %d", rc);
    }
    rc = db_exec(req->db, NULL,
                 "DELETE FROM login_attempts WHERE window_start <"
                 " UTC_TIMESTAMP() - INTERVAL ? SECOND LIMIT ?", "ii",
                 (int64_t) req->conf->login_window,
                 (int64_t) SWEEP_PURGE_BATCH);
    if (rc != DB_OK) {
        log_warn("sweeper: purging log-in counts failed: %d", rc);
    }
}


static void *
sweeper_thread(void *arg)
{
    const worker_conf_t  *conf = arg;
    time_t                last_purge = 0, now;
    db_t                  db;
    req_t                *req;
    int                   n;

    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        log_error("sweeper: out of memory");
        return NULL;
    }
    db_init(&db, conf);
    req->db = &db;
    req->conf = conf;
    strcpy(req->request_id, "sweeper");
    strcpy(req->method_name, "SWEEP");
    strcpy(req->path, "holds");

    for (;;) {
        sleep((unsigned) conf->sweep_interval);
        n = sweep_holds(req, SWEEP_BATCH);
        if (n > 0) {
            log_info("sweeper: %d expired holds ended", n);
        }
        now = time(NULL);
        if (now - last_purge >= SWEEP_PURGE_EVERY) {
            last_purge = now;
            sweep_stale_rows(req);
        }
    }
    return NULL;
}


int
sweeper_start(const worker_conf_t *conf)
{
    pthread_attr_t  attr;
    pthread_t       tid;
    int             rc;

    if (pthread_attr_init(&attr) != 0) {
        return -1;
    }
    pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
    rc = pthread_create(&tid, &attr, sweeper_thread, (void *) conf);
    pthread_attr_destroy(&attr);
    return rc == 0 ? 0 : -1;
}
