#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "card.h"
#include "gateway.h"
#include "log.h"
#include "settle.h"
#include "worker.h"

#define SETTLE_BATCH       50
#define SETTLE_PAUSE_MAX   300      /* seconds between retries, at most */

typedef struct {
    int64_t  id;
    int      refund;
    int64_t  age;                   /* seconds since the payment opened */
    int64_t  amount;
    int64_t  attempts;
} settle_item_t;

static pthread_t     settle_tid;
static int           settle_running;
static _Atomic int   settle_stopping;


/* Asks again later: 2^attempts seconds, bounded. */
static void
settle_later(req_t *req, const settle_item_t *it)
{
    int64_t  pause = it->attempts < 9 ? (int64_t) 1 << it->attempts
                     : SETTLE_PAUSE_MAX;
    int      rc;

    if (pause > SETTLE_PAUSE_MAX) {
        pause = SETTLE_PAUSE_MAX;
    }
    rc = db_exec(req->db, NULL,
                 "UPDATE payments SET attempts = attempts + 1,"
                 " next_check_at = UTC_TIMESTAMP(3) + INTERVAL ? SECOND"
                 " WHERE id = ? AND status IN ('pending', 'refund_pending')",
                 "ii", pause, it->id);
    if (rc != DB_OK) {
        log_warn("settle: payment %lld: rescheduling failed: %d",
                 (long long) it->id, rc);
    }
}


static void
settle_refund(req_t *req, const settle_item_t *it)
{
    int  rc;

    rc = gateway_refund(req->conf, it->id, it->amount, "KRW");
    if (rc != GATEWAY_OK) {
        log_warn("settle: payment %lld: refund not confirmed (attempt"
                 " %lld); retrying later", (long long) it->id,
                 (long long) it->attempts + 1);
        settle_later(req, it);
        return;
    }
    rc = card_refunded(req, it->id);
    resp_reset(req);
    if (rc != 0) {
        log_warn("settle: payment %lld: refunded at the gateway but not"
                 " recorded (%d); the next pass records it",
                 (long long) it->id, rc);
        return;
    }
    log_info("settle: payment %lld refunded", (long long) it->id);
}


static void
settle_pending(req_t *req, const settle_item_t *it)
{
    gateway_payment_t  gp;
    const char        *reason = NULL;
    char               after[16];
    int                rc, outcome = 0;

    rc = gateway_status(req->conf, it->id, &gp);
    if (rc == GATEWAY_NOT_FOUND) {
        outcome = CARD_FAILED;
        reason = "NOT_AT_GATEWAY";
    } else if (rc != GATEWAY_OK) {
        settle_later(req, it);
        return;
    } else if (strcmp(gp.status, "succeeded") == 0) {
        outcome = CARD_SUCCEEDED;
    } else if (strcmp(gp.status, "failed") == 0
               || strcmp(gp.status, "declined") == 0)
    {
        outcome = CARD_FAILED;
        reason = "DECLINED";
    } else if (strcmp(gp.status, "expired") == 0
               || strcmp(gp.status, "cancelled") == 0
               || it->age >= req->conf->payment_pending_max)
    {
        outcome = CARD_FAILED;
        reason = strcmp(gp.status, "pending") == 0
                 || strcmp(gp.status, "processing") == 0
                 ? "CHECKOUT_TIMEOUT" : "EXPIRED";
    }
    if (outcome == 0) {
        settle_later(req, it);
        return;
    }
    rc = card_settle(req, it->id, outcome,
                     outcome == CARD_SUCCEEDED ? gp.amount : -1,
                     outcome == CARD_SUCCEEDED ? gp.currency : NULL, reason,
                     after, sizeof(after));
    resp_reset(req);
    if (rc != 0) {
        log_warn("settle: payment %lld: not settled (%d); later",
                 (long long) it->id, rc);
        settle_later(req, it);
        return;
    }
    log_info("settle: payment %lld settled by the status query: %s",
             (long long) it->id, after);
}


int
settle_pass(req_t *req)
{
    settle_item_t  *list;
    db_res_t        res;
    size_t          n = 0;
    int             rc;

    list = calloc(SETTLE_BATCH, sizeof(*list));
    if (list == NULL) {
        return DB_ERROR;
    }
    rc = db_exec(req->db, &res,
                 "SELECT id, status = 'refund_pending',"
                 " TIMESTAMPDIFF(SECOND, created_at, UTC_TIMESTAMP(3)),"
                 " amount, attempts FROM payments"
                 " WHERE status IN ('pending', 'refund_pending')"
                 " AND next_check_at <= UTC_TIMESTAMP(3)"
                 " ORDER BY next_check_at LIMIT ?", "i",
                 (int64_t) SETTLE_BATCH);
    if (rc != DB_OK) {
        free(list);
        return rc;
    }
    while ((rc = db_fetch(&res)) == 1 && n < SETTLE_BATCH) {
        list[n].id = db_int(&res, 0);
        list[n].refund = db_int(&res, 1) != 0;
        list[n].age = db_int(&res, 2);
        list[n].amount = db_int(&res, 3);
        list[n].attempts = db_int(&res, 4);
        n++;
    }
    db_res_free(&res);
    for (size_t i = 0; i < n && !settle_stopping; i++) {
        if (list[i].refund) {
            settle_refund(req, &list[i]);
        } else {
            settle_pending(req, &list[i]);
        }
    }
    free(list);
    return (int) n;
}


static void *
settle_thread(void *arg)
{
    thread_ctx_t  *thr = arg;
    req_t         *req;

    req = calloc(1, sizeof(*req));
    if (req == NULL) {
        log_error("settle: out of memory");
        return NULL;
    }
    req->thr = thr;
    req->db = &thr->db;
    req->conf = thr->conf;
    strcpy(req->request_id, "settle");
    strcpy(req->method_name, "SETTLE");
    strcpy(req->path, "payments");

    while (!settle_stopping) {
        for (int i = 0; i < thr->conf->settle_interval * 10
                        && !settle_stopping; i++)
        {
            usleep(100000);
        }
        if (!settle_stopping) {
            settle_pass(req);
            resp_reset(req);
        }
    }
    resp_reset(req);
    free(req);
    db_close(&thr->db);
    free(thr);
    return NULL;
}


int
settle_start(const worker_conf_t *conf)
{
    thread_ctx_t  *thr;

    if (!gateway_enabled()) {
        return 0;
    }
    thr = calloc(1, sizeof(*thr));
    if (thr == NULL) {
        return -1;
    }
    thr->id = -1;
    thr->conf = conf;
    thr->seed = (unsigned) time(NULL) ^ (unsigned) getpid() ^ 0x5e771e;
    db_init(&thr->db, conf);
    if (pthread_create(&settle_tid, NULL, settle_thread, thr) != 0) {
        free(thr);
        return -1;
    }
    settle_running = 1;
    return 0;
}


void
settle_stop(void)
{
    if (!settle_running) {
        return;
    }
    settle_stopping = 1;
    pthread_join(settle_tid, NULL);
    settle_running = 0;
}
