#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_api.h"
#include "card.h"
#include "catalogue.h"
#include "gateway.h"
#include "hold.h"
#include "idlist.h"
#include "log.h"
#include "outbox.h"
#include "payment.h"

#define ISO_FMT  "'%Y-%m-%dT%H:%i:%sZ'"

typedef struct {
    int64_t            hold_id;
    int64_t            perf;
    int64_t            payment_id;
    int64_t            amount;
    int                created;
    char               expires_iso[40];
    gateway_payment_t  gp;
} card_open_t;

typedef struct {
    int64_t      id;
    int          outcome;
    int64_t      amount;            /* reported; < 0: not reported */
    const char  *currency;          /* reported; NULL: not reported */
    const char  *reason;

    char         status[16];        /* the payment as locked */
    int64_t      pay_amount;
    int64_t      hold_id;
    int64_t      user_id;
    int64_t      perf;
    char         hold_status[16];
    char         after[16];
} card_settle_t;

/* What the buyer reads for a payment's reason code. */
static const struct {
    const char  *code;
    const char  *message;
} card_reasons[] = {
    { "DECLINED", "the card payment was declined" },
    { "EXPIRED", "the checkout was not completed in time" },
    { "CHECKOUT_TIMEOUT", "the checkout was not completed in time" },
    { "NOT_AT_GATEWAY", "the payment never reached the gateway" },
    { "HOLD_EXPIRED", "the payment arrived after the hold had expired; the"
                      " seats went back on sale and the payment is refunded"
                      " to the card" },
    { "HOLD_RELEASED", "the payment arrived after the hold was released;"
                       " it is refunded to the card" },
    { "SEATS_TAKEN", "the payment arrived after the seats were sold to"
                     " someone else; it is refunded to the card" },
    { "PAYMENT_CLOSED", "the payment arrived after it had been closed as"
                        " failed; it is refunded to the card" },
    { "CANCELLED", "the reservation was cancelled; the payment is refunded"
                   " to the card" },
};


static const char *
card_reason_message(const char *code)
{
    for (size_t i = 0; i < sizeof(card_reasons) / sizeof(card_reasons[0]);
         i++)
    {
        if (strcmp(card_reasons[i].code, code) == 0) {
            return card_reasons[i].message;
        }
    }
    return NULL;
}


/*
 * Locks the caller's hold and checks it may start a checkout: 0 with the
 * total in c->amount and *extended, RESP_DONE after a refusal, or DB_*.
 */
static int
card_lock_hold(req_t *req, card_open_t *c, int64_t *extended)
{
    db_res_t  res;
    char      status[16] = "";
    int64_t   alive = 0, seats = 0;
    int       rc;

    rc = db_exec(req->db, &res,
                 "SELECT h.status, h.expires_at > UTC_TIMESTAMP(3),"
                 " h.extended, COALESCE(SUM(hs.price), 0), COUNT(hs.seat_id)"
                 " FROM holds h LEFT JOIN hold_seats hs ON hs.hold_id = h.id"
                 "  AND hs.released_at IS NULL"
                 " WHERE h.id = ? AND h.user_id = ? GROUP BY h.id FOR UPDATE",
                 "ii", c->hold_id, req->user->id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc == 1) {
        snprintf(status, sizeof(status), "%s", db_str(&res, 0, NULL));
        alive = db_int(&res, 1);
        *extended = db_int(&res, 2);
        c->amount = db_int(&res, 3);
        seats = db_int(&res, 4);
    }
    db_res_free(&res);
    if (rc < 0) {
        return DB_ERROR;
    }
    if (rc == 0) {
        return resp_error(req, 404, "HOLD_NOT_FOUND", "no such hold");
    }
    if (strcmp(status, "converted") == 0) {
        return resp_error(req, 409, "HOLD_ALREADY_PAID",
                          "this hold has been paid for already");
    }
    if (strcmp(status, "released") == 0) {
        return resp_error(req, 410, "HOLD_RELEASED",
                          "this hold was released");
    }
    if (strcmp(status, "active") != 0 || !alive || seats == 0) {
        return resp_error(req, 410, "HOLD_EXPIRED", "this hold has expired");
    }
    return 0;
}


/* Extends the hold once, to cover the checkout.  DB_OK or DB_*. */
static int
card_extend_hold(req_t *req, card_open_t *c)
{
    char  after[96];
    int   rc;

    rc = db_exec(req->db, NULL,
                 "UPDATE holds SET expires_at = GREATEST(expires_at,"
                 " UTC_TIMESTAMP(3) + INTERVAL ? SECOND), extended = 1,"
                 " updated_at = UTC_TIMESTAMP(3) WHERE id = ?", "ii",
                 (int64_t) req->conf->checkout_extend_seconds, c->hold_id);
    if (rc == DB_OK) {
        rc = db_exec(req->db, NULL,
                     "UPDATE performance_seats SET hold_expires_at ="
                     " (SELECT expires_at FROM holds WHERE id = ?),"
                     " updated_at = UTC_TIMESTAMP(3)"
                     " WHERE hold_id = ? AND state = 'held'", "ii",
                     c->hold_id, c->hold_id);
    }
    if (rc == DB_OK) {
        rc = performance_seats_changed(req, c->perf);
    }
    if (rc != DB_OK) {
        return rc;
    }
    snprintf(after, sizeof(after),
             "{\"extended\":true,\"seconds\":%d,\"payment_id\":%lld}",
             req->conf->checkout_extend_seconds, (long long) c->payment_id);
    return audit_write(req, req->user->id, "hold", c->hold_id, "extend",
                       "{\"extended\":false}", after);
}


/*
 * The first transaction: the pending payment (a new one, or the one an
 * earlier attempt left) and the hold's extension.
 */
static int
card_open_tx(req_t *req, void *arg)
{
    card_open_t  *c = arg;
    db_res_t      res;
    int64_t       extended = 0;
    char          after[160];
    int           rc;

    rc = card_lock_hold(req, c, &extended);
    if (rc != 0) {
        return rc;
    }
    c->created = 0;
    c->payment_id = 0;
    rc = db_exec(req->db, &res,
                 "SELECT id, method = 'card' AND status = 'pending', amount"
                 " FROM payments WHERE hold_id = ?", "i", c->hold_id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc == 1) {
        c->payment_id = db_int(&res, 0);
        if (db_int(&res, 1) == 0) {
            c->payment_id = -1;
        } else {
            c->amount = db_int(&res, 2);
        }
    }
    db_res_free(&res);
    if (rc < 0) {
        return DB_ERROR;
    }
    if (c->payment_id < 0) {
        return resp_error(req, 409, "HOLD_ALREADY_PAID",
                          "this hold has a payment already");
    }

    if (c->payment_id == 0) {
        rc = db_exec(req->db, &res,
                     "INSERT INTO payments (user_id, hold_id, method, amount,"
                     " currency, status, next_check_at)"
                     " VALUES (?, ?, 'card', ?, 'KRW', 'pending',"
                     " UTC_TIMESTAMP(3) + INTERVAL ? SECOND)", "iiii",
                     req->user->id, c->hold_id, c->amount,
                     (int64_t) req->conf->payment_check_after);
        if (rc != DB_OK) {
            return rc;
        }
        c->payment_id = (int64_t) res.insert_id;
        c->created = 1;
        snprintf(after, sizeof(after),
                 "{\"status\":\"pending\",\"method\":\"card\","
                 "\"amount\":%lld,\"hold_id\":%lld}", (long long) c->amount,
                 (long long) c->hold_id);
        rc = audit_write(req, req->user->id, "payment", c->payment_id,
                         "create", NULL, after);
        if (rc != DB_OK) {
            return rc;
        }
    }
    if (!extended && req->conf->checkout_extend_seconds > 0) {
        rc = card_extend_hold(req, c);
        if (rc != DB_OK) {
            return rc;
        }
    }
    return 0;
}


static void
card_payment_json(jw_t *w, int64_t id, const char *status,
    const char *reason, int64_t amount, int64_t hold_id,
    const char *checkout_url)
{
    const char  *message = reason ? card_reason_message(reason) : NULL;

    jw_obj_open(w);
    jw_kv_int(w, "id", id);
    jw_kv_str(w, "method", "card");
    jw_kv_str(w, "status", status);
    jw_kv_int(w, "amount", amount);
    jw_kv_str(w, "currency", "KRW");
    jw_kv_int(w, "hold_id", hold_id);
    jw_kv_str(w, "checkout_url", checkout_url);
    jw_kv_str(w, "reason", reason);
    jw_kv_str(w, "message", message);
}


/* The second transaction: the checkout stored and answered (201). */
static int
card_checkout_tx(req_t *req, void *arg)
{
    card_open_t  *c = arg;
    db_res_t      res;
    char          status[16] = "", reason[40] = "", expires[40] = "";
    int           has_reason = 0;
    jw_t          w;
    int           rc;

    rc = db_exec(req->db, NULL,
                 "UPDATE payments SET gateway_ref = ?, checkout_url = ?,"
                 " updated_at = UTC_TIMESTAMP(3) WHERE id = ?", "ssi",
                 c->gp.ref[0] ? c->gp.ref : NULL, c->gp.checkout_url,
                 c->payment_id);
    if (rc != DB_OK) {
        return rc;
    }
    /* A quick gateway may have called back already: answer what is. */
    rc = db_exec(req->db, &res,
                 "SELECT p.status, p.reason, DATE_FORMAT(h.expires_at, "
                 ISO_FMT ") FROM payments p JOIN holds h ON h.id = p.hold_id"
                 " WHERE p.id = ?", "i", c->payment_id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc == 1) {
        snprintf(status, sizeof(status), "%s", db_str(&res, 0, NULL));
        has_reason = !db_is_null(&res, 1);
        snprintf(reason, sizeof(reason), "%s", db_str(&res, 1, NULL));
        snprintf(expires, sizeof(expires), "%s", db_str(&res, 2, NULL));
    }
    db_res_free(&res);
    if (rc != 1 || jw_init(&w) != 0) {
        return DB_ERROR;
    }
    jw_obj_open(&w);
    jw_key(&w, "payment");
    card_payment_json(&w, c->payment_id, status, has_reason ? reason : NULL,
                      c->amount, c->hold_id, c->gp.checkout_url);
    jw_obj_close(&w);
    jw_key(&w, "hold");
    jw_obj_open(&w);
    jw_kv_int(&w, "id", c->hold_id);
    jw_kv_str(&w, "expires_at", expires);
    jw_obj_close(&w);
    jw_obj_close(&w);
    resp_json(req, 201, &w);
    jw_free(&w);
    return req->status == 201 ? 0 : RESP_DONE;
}


int
card_payment_create(req_t *req, idem_t *st, int64_t hold_id,
    int64_t performance_id)
{
    card_open_t  *c;
    int           rc;

    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return DB_ERROR;
    }
    c->hold_id = hold_id;
    c->perf = performance_id;
    rc = req_tx(req, card_open_tx, c);
    if (rc == RESP_DONE) {
        rc = idem_refuse(req, st);
    } else if (rc == 0) {
        /* No transaction is open while the gateway is asked. */
        rc = gateway_create(req->conf, c->payment_id, c->amount, "KRW",
                            &c->gp);
        if (rc == GATEWAY_OK) {
            rc = idem_tx(req, st, card_checkout_tx, c);
        } else {
            log_warn("card: payment %lld: the gateway did not start a"
                     " checkout", (long long) c->payment_id);
            resp_header(req, "Retry-After", "2");
            rc = resp_error(req, 502, "GATEWAY_UNAVAILABLE",
                            "the payment gateway did not answer; retry with"
                            " the same Idempotency-Key");
        }
    }
    free(c);
    return rc;
}


/* Locks the payment and its hold: 0, RESP_DONE (404) or DB_*. */
static int
card_settle_lock(req_t *req, card_settle_t *c)
{
    db_res_t  res;
    int64_t   is_card = 0;
    int       rc, mismatch = 0;

    rc = db_exec(req->db, &res,
                 "SELECT status, amount, currency, method = 'card', hold_id,"
                 " user_id FROM payments WHERE id = ? FOR UPDATE",
                 "i", c->id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc == 1) {
        snprintf(c->status, sizeof(c->status), "%s", db_str(&res, 0, NULL));
        c->pay_amount = db_int(&res, 1);
        mismatch = (c->amount >= 0 && c->amount != c->pay_amount)
                   || (c->currency != NULL
                       && strcmp(c->currency, db_str(&res, 2, NULL)) != 0);
        is_card = db_int(&res, 3);
        c->hold_id = db_is_null(&res, 4) ? 0 : db_int(&res, 4);
        c->user_id = db_int(&res, 5);
    }
    db_res_free(&res);
    if (rc < 0) {
        return DB_ERROR;
    }
    if (rc == 0 || !is_card || c->hold_id == 0) {
        return resp_error(req, 404, "PAYMENT_NOT_FOUND",
                          "no such card payment");
    }
    if (mismatch) {
        log_error("card: payment %lld: the gateway reports %lld %s, we"
                  " expect %lld KRW; nothing changed", (long long) c->id,
                  (long long) c->amount, c->currency ? c->currency : "?",
                  (long long) c->pay_amount);
        return resp_error(req, 422, "AMOUNT_MISMATCH",
                          "the amount or currency is not the payment's");
    }

    rc = db_exec(req->db, &res,
                 "SELECT status, performance_id FROM holds WHERE id = ?"
                 " FOR UPDATE", "i", c->hold_id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc == 1) {
        snprintf(c->hold_status, sizeof(c->hold_status), "%s",
                 db_str(&res, 0, NULL));
        c->perf = db_int(&res, 1);
    }
    db_res_free(&res);
    return rc == 1 ? 0 : DB_ERROR;
}


/*
 * Whether the hold still owns every seat it claimed (expired or not):
 * then the sale can go through.  Locks those seats.  1, 0 or DB_*.
 */
static int
card_hold_intact(req_t *req, card_settle_t *c, idlist_t *seats)
{
    db_res_t  res;
    int64_t   owned = 0;
    int       rc;

    if (strcmp(c->hold_status, "active") != 0) {
        return 0;
    }
    memset(seats, 0, sizeof(*seats));
    rc = db_exec(req->db, &res,
                 "SELECT seat_id FROM hold_seats WHERE hold_id = ?"
                 " AND released_at IS NULL ORDER BY seat_id", "i",
                 c->hold_id);
    if (rc != DB_OK) {
        return rc;
    }
    while ((rc = db_fetch(&res)) == 1 && seats->n < IDLIST_MAX) {
        seats->id[seats->n++] = db_int(&res, 0);
    }
    db_res_free(&res);
    if (rc < 0) {
        return DB_ERROR;
    }
    rc = db_query_int(req->db, &owned,
                      "SELECT COUNT(*) FROM performance_seats"
                      " WHERE hold_id = ? AND state = 'held' FOR UPDATE",
                      "i", c->hold_id);
    if (rc < 0) {
        return rc;
    }
    return seats->n > 0 && owned == (int64_t) seats->n;
}


/* Success with the seats still there: the sale, as for a balance. */
static int
card_sell(req_t *req, card_settle_t *c, const idlist_t *seats)
{
    audit_batch_t  b;
    db_res_t       res;
    int64_t        rid;
    char           before[96], after[160];
    int            rc;

    rc = db_exec(req->db, &res,
                 "INSERT INTO reservations (user_id, performance_id,"
                 " hold_id, payment_id, total) VALUES (?, ?, ?, ?, ?)",
                 "iiiii", c->user_id, c->perf, c->hold_id, c->id,
                 c->pay_amount);
    if (rc != DB_OK) {
        return rc;
    }
    rid = (int64_t) res.insert_id;
    rc = db_exec(req->db, NULL,
                 "UPDATE performance_seats SET state = 'sold',"
                 " reservation_id = ?, hold_id = NULL, hold_expires_at = NULL,"
                 " updated_at = UTC_TIMESTAMP(3)"
                 " WHERE hold_id = ? AND state = 'held'", "ii", rid,
                 c->hold_id);
    if (rc == DB_OK) {
        rc = db_exec(req->db, NULL,
                     "INSERT INTO reservation_seats (reservation_id,"
                     " performance_id, seat_id, price)"
                     " SELECT ?, performance_id, seat_id, price"
                     " FROM hold_seats WHERE hold_id = ?"
                     " AND released_at IS NULL", "ii", rid,
                     c->hold_id);
    }
    if (rc == DB_OK) {
        rc = db_exec(req->db, NULL,
                     "UPDATE hold_seats SET released_at = UTC_TIMESTAMP(3)"
                     " WHERE hold_id = ? AND released_at IS NULL", "i",
                     c->hold_id);
    }
    if (rc == DB_OK) {
        rc = db_exec(req->db, NULL,
                     "UPDATE holds SET status = 'converted',"
                     " updated_at = UTC_TIMESTAMP(3) WHERE id = ?", "i",
                     c->hold_id);
    }
    if (rc == DB_OK) {
        rc = db_exec(req->db, NULL,
                     "UPDATE payments SET status = 'succeeded', reason = NULL,"
                     " settled_at = UTC_TIMESTAMP(3), next_check_at = NULL,"
                     " updated_at = UTC_TIMESTAMP(3) WHERE id = ?", "i",
                     c->id);
    }
    if (rc != DB_OK || audit_batch_init(&b) != 0) {
        return rc != DB_OK ? rc : DB_ERROR;
    }
    snprintf(before, sizeof(before), "{\"state\":\"held\",\"hold_id\":%lld}",
             (long long) c->hold_id);
    snprintf(after, sizeof(after),
             "{\"state\":\"sold\",\"reservation_id\":%lld}", (long long) rid);
    for (size_t i = 0; i < seats->n; i++) {
        audit_batch_add(&b, "seat", seats->id[i], "sell", c->perf,
                        seats->id[i], c->user_id, before, after);
    }
    audit_batch_add(&b, "hold", c->hold_id, "convert", c->perf, 0, c->user_id,
                    "{\"status\":\"active\"}", after);
    snprintf(after, sizeof(after),
             "{\"status\":\"succeeded\",\"amount\":%lld,\"method\":\"card\"}",
             (long long) c->pay_amount);
    audit_batch_add(&b, "payment", c->id, "succeed", c->perf, 0, c->user_id,
                    "{\"status\":\"pending\"}", after);
    snprintf(after, sizeof(after),
             "{\"status\":\"confirmed\",\"total\":%lld,\"seats\":%zu,"
             "\"payment_id\":%lld}", (long long) c->pay_amount, seats->n,
             (long long) c->id);
    audit_batch_add(&b, "reservation", rid, "create", c->perf, 0, c->user_id,
                    NULL, after);
    rc = audit_batch_write(req->db, &b, 0, req->request_id);
    if (rc == DB_OK) {
        rc = performance_seats_changed(req, c->perf);
    }
    if (rc == DB_OK) {
        rc = outbox_reservation(req, "reservation.confirmed", rid);
    }
    return rc;
}


/*
 * Ends the payment without a sale: status ("failed" or
 * "refund_pending") with reason; an active hold ends too.
 */
static int
card_close(req_t *req, card_settle_t *c, const char *status,
    const char *reason)
{
    char  before[64], after[160];
    int   rc, refund = strcmp(status, "refund_pending") == 0;

    if (strcmp(c->hold_status, "active") == 0) {
        rc = hold_end(req, c->hold_id, c->perf, c->user_id,
                      refund ? "expired" : "released", 0);
        if (rc != DB_OK) {
            return rc;
        }
    }
    /* A refund is due at once; settle.c makes the call. */
    rc = db_exec(req->db, NULL,
                 "UPDATE payments SET status = ?, reason = ?,"
                 " next_check_at = IF(? = 'refund_pending', UTC_TIMESTAMP(3),"
                 "  NULL), attempts = 0, settled_at = IF(? = 'failed',"
                 "  UTC_TIMESTAMP(3), settled_at),"
                 " updated_at = UTC_TIMESTAMP(3) WHERE id = ?", "ssssi",
                 status, reason, status, status, c->id);
    if (rc != DB_OK) {
        return rc;
    }
    snprintf(before, sizeof(before), "{\"status\":\"%s\"}", c->status);
    snprintf(after, sizeof(after),
             "{\"status\":\"%s\",\"reason\":\"%s\",\"amount\":%lld}", status,
             reason, (long long) c->pay_amount);
    return audit_write(req, 0, "payment", c->id, refund ? "refund_due"
                       : "fail", before, after);
}


static int
card_settle_tx(req_t *req, void *arg)
{
    card_settle_t  *c = arg;
    idlist_t        seats;
    int             rc;

    rc = card_settle_lock(req, c);
    if (rc != 0) {
        return rc;
    }
    snprintf(c->after, sizeof(c->after), "%s", c->status);

    if (strcmp(c->status, "pending") == 0) {
        if (c->outcome == CARD_FAILED) {
            snprintf(c->after, sizeof(c->after), "failed");
            return card_close(req, c, "failed", c->reason);
        }
        rc = card_hold_intact(req, c, &seats);
        if (rc < 0) {
            return rc;
        }
        if (rc == 1) {
            snprintf(c->after, sizeof(c->after), "succeeded");
            return card_sell(req, c, &seats);
        }
        snprintf(c->after, sizeof(c->after), "refund_pending");
        return card_close(req, c, "refund_pending",
                          strcmp(c->hold_status, "active") == 0
                          ? "SEATS_TAKEN"
                          : strcmp(c->hold_status, "released") == 0
                          ? "HOLD_RELEASED" : "HOLD_EXPIRED");
    }
    if (strcmp(c->status, "failed") == 0 && c->outcome == CARD_SUCCEEDED) {
        /* Money taken for a payment we had given up on: give it back. */
        snprintf(c->after, sizeof(c->after), "refund_pending");
        return card_close(req, c, "refund_pending", "PAYMENT_CLOSED");
    }
    if ((strcmp(c->status, "succeeded") == 0 && c->outcome == CARD_FAILED)) {
        log_warn("card: payment %lld: a failure reported after the success;"
                 " ignored", (long long) c->id);
    }
    /* The outcome is known already: a duplicate or a stale report. */
    return 0;
}


int
card_settle(req_t *req, int64_t payment_id, int outcome, int64_t amount,
    const char *currency, const char *reason, char *status_after,
    size_t size)
{
    card_settle_t  c;
    int            rc;

    memset(&c, 0, sizeof(c));
    c.id = payment_id;
    c.outcome = outcome;
    c.amount = amount;
    c.currency = currency;
    c.reason = reason != NULL ? reason : "DECLINED";
    rc = req_tx(req, card_settle_tx, &c);
    if (rc == 0) {
        snprintf(status_after, size, "%s", c.after);
        if (strcmp(c.status, c.after) != 0) {
            log_info("card: payment %lld: %s -> %s", (long long) payment_id,
                     c.status, c.after);
        }
    }
    return rc;
}


static int
card_refunded_tx(req_t *req, void *arg)
{
    int64_t   id = *(int64_t *) arg, rid = 0;
    db_res_t  res;
    char      reason[40] = "", payload[256];
    int64_t   amount = 0, user = 0, hold = 0;
    int       rc, due = 0;

    rc = db_exec(req->db, &res,
                 "SELECT status = 'refund_pending', amount, user_id,"
                 " COALESCE(hold_id, 0), COALESCE(reason, '')"
                 " FROM payments WHERE id = ? FOR UPDATE", "i", id);
    if (rc != DB_OK) {
        return rc;
    }
    if ((rc = db_fetch(&res)) == 1) {
        due = db_int(&res, 0) != 0;
        amount = db_int(&res, 1);
        user = db_int(&res, 2);
        hold = db_int(&res, 3);
        snprintf(reason, sizeof(reason), "%s", db_str(&res, 4, NULL));
    }
    db_res_free(&res);
    if (rc < 0) {
        return DB_ERROR;
    }
    if (!due) {
        return 0;
    }
    rc = db_exec(req->db, NULL,
                 "UPDATE payments SET status = 'refunded',"
                 " next_check_at = NULL, settled_at = UTC_TIMESTAMP(3),"
                 " updated_at = UTC_TIMESTAMP(3)"
                 " WHERE id = ?", "i", id);
    if (rc != DB_OK) {
        return rc;
    }
    snprintf(payload, sizeof(payload),
             "{\"status\":\"refunded\",\"amount\":%lld,\"reason\":\"%s\"}",
             (long long) amount, reason);
    rc = audit_write(req, 0, "payment", id, "refund",
                     "{\"status\":\"refund_pending\"}", payload);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_query_int(req->db, &rid,
                      "SELECT id FROM reservations WHERE payment_id = ?",
                      "i", id);
    if (rc < 0) {
        return rc;
    }
    if (rc == 1) {
        return outbox_reservation(req, "reservation.refunded", rid);
    }
    /* No reservation was made (a late success): the payment's event. */
    snprintf(payload, sizeof(payload),
             "{\"payment_id\":%lld,\"user_id\":%lld,\"hold_id\":%lld,"
             "\"amount\":%lld,\"currency\":\"KRW\",\"reason\":\"%s\"}",
             (long long) id, (long long) user, (long long) hold,
             (long long) amount, reason);
    return outbox_add(req, "payment.refunded", "payment", id, payload);
}


int
card_refunded(req_t *req, int64_t payment_id)
{
    return req_tx(req, card_refunded_tx, &payment_id);
}


/* Maps a gateway status word: CARD_*, 0 (not final) or -1 (unknown). */
static int
card_outcome(const char *status, const char **reason)
{
    *reason = NULL;
    if (strcmp(status, "succeeded") == 0) {
        return CARD_SUCCEEDED;
    }
    if (strcmp(status, "failed") == 0 || strcmp(status, "declined") == 0) {
        *reason = "DECLINED";
        return CARD_FAILED;
    }
    if (strcmp(status, "expired") == 0 || strcmp(status, "cancelled") == 0) {
        *reason = "EXPIRED";
        return CARD_FAILED;
    }
    if (strcmp(status, "pending") == 0 || strcmp(status, "processing") == 0) {
        return 0;
    }
    return -1;
}


int
h_payment_callback(req_t *req)
{
    const char  *sig, *status = NULL, *currency = NULL, *reason;
    jv_err_t     err;
    int64_t      id = 0, amount = 0;
    char         after[16], msg[128];
    jw_t         w;
    int          rc, outcome;

    if (!gateway_enabled()) {
        return resp_error(req, 404, "NOT_FOUND", "no card payments here");
    }
    sig = req_param(req, "HTTP_X_GATEWAY_SIGNATURE");
    if (req->body_len == 0
        || !gateway_signature_ok(sig, req->body, req->body_len))
    {
        log_warn("card: a callback with a bad signature from %s",
                 req_param(req, "REMOTE_ADDR") ? req_param(req, "REMOTE_ADDR")
                 : "?");
        return resp_error(req, 401, "BAD_SIGNATURE",
                          "the callback signature does not verify");
    }
    req->json = json_parse(req->body, req->body_len, msg, sizeof(msg));
    if (req->json == NULL || !YAJL_IS_OBJECT(req->json)) {
        return resp_error(req, 400, "BAD_JSON", "a JSON object is required");
    }
    if (jv_int(req->json, "payment_id", 1, 1, INT64_MAX, &id, &err) < 0
        || jv_string(req->json, "status", 1, 1, 32, &status, &err) < 0
        || jv_int(req->json, "amount", 1, 0, INT64_MAX, &amount, &err) < 0
        || jv_string(req->json, "currency", 1, 3, 3, &currency, &err) < 0)
    {
        return resp_error(req, 400, "VALIDATION", "%s", err.message);
    }
    outcome = card_outcome(status, &reason);
    if (outcome < 0) {
        return resp_error(req, 422, "UNKNOWN_STATUS",
                          "status \"%s\" is not known", status);
    }
    if (outcome == 0) {
        /* Progress news changes nothing, even when it comes late. */
        rc = db_query_int(req->db, &amount,
                          "SELECT id FROM payments WHERE id = ?"
                          " AND method = 'card'", "i", id);
        if (rc < 0) {
            return rc;
        }
        if (rc == 0) {
            return resp_error(req, 404, "PAYMENT_NOT_FOUND",
                              "no such card payment");
        }
        snprintf(after, sizeof(after), "%s", "unchanged");
    } else {
        rc = card_settle(req, id, outcome, amount, currency, reason, after,
                         sizeof(after));
        if (rc != 0) {
            return rc;
        }
    }
    if (jw_init(&w) != 0) {
        return DB_ERROR;
    }
    jw_obj_open(&w);
    jw_kv_int(&w, "payment_id", id);
    jw_kv_str(&w, "status", after);
    jw_obj_close(&w);
    rc = resp_json(req, 200, &w);
    jw_free(&w);
    return rc;
}


int
h_payment_get(req_t *req)
{
    db_res_t  res;
    jw_t      w;
    int       rc, succeeded;

    rc = db_exec(req->db, &res,
                 "SELECT p.user_id, p.method, p.status, p.reason, p.amount,"
                 " p.currency, p.hold_id, p.checkout_url, r.id, r.status,"
                 " pf.room, DATE_FORMAT(p.created_at, " ISO_FMT ")"
                 " FROM payments p"
                 " LEFT JOIN reservations r ON r.payment_id = p.id"
                 " LEFT JOIN holds h ON h.id = p.hold_id"
                 " LEFT JOIN performances pf ON pf.id = h.performance_id"
                 " WHERE p.id = ?", "i", req->params[0]);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc != 1 || db_int(&res, 0) != req->user->id) {
        db_res_free(&res);
        return rc < 0 ? DB_ERROR
               : resp_error(req, 404, "PAYMENT_NOT_FOUND", "no such payment");
    }
    if (jw_init(&w) != 0) {
        db_res_free(&res);
        return DB_ERROR;
    }
    jw_obj_open(&w);
    jw_kv_int(&w, "id", req->params[0]);
    jw_kv_str(&w, "method", db_str(&res, 1, NULL));
    jw_kv_str(&w, "status", db_str(&res, 2, NULL));
    jw_kv_str(&w, "reason",
              db_is_null(&res, 3) ? NULL : db_str(&res, 3, NULL));
    jw_kv_str(&w, "message", db_is_null(&res, 3) ? NULL
              : card_reason_message(db_str(&res, 3, NULL)));
    jw_kv_int(&w, "amount", db_int(&res, 4));
    jw_kv_str(&w, "currency", db_str(&res, 5, NULL));
    jw_key(&w, "hold_id");
    if (db_is_null(&res, 6)) {
        jw_null(&w);
    } else {
        jw_int(&w, db_int(&res, 6));
    }
    jw_kv_str(&w, "checkout_url",
              db_is_null(&res, 7) ? NULL : db_str(&res, 7, NULL));
    jw_key(&w, "reservation_id");
    if (db_is_null(&res, 8)) {
        jw_null(&w);
    } else {
        jw_int(&w, db_int(&res, 8));
    }
    jw_kv_str(&w, "created_at", db_str(&res, 11, NULL));
    jw_obj_close(&w);

    /*
     * The gateway's callback could not end the buyer's waiting-room
     * session (it is not the buyer's request); the buyer's look at the
     * succeeded card payment does.
     */
    succeeded = strcmp(db_str(&res, 1, NULL), "card") == 0
                && strcmp(db_str(&res, 2, NULL), "succeeded") == 0;
    if (succeeded && !db_is_null(&res, 10)) {
        resp_header(req, PAYMENT_RELEASE_HEADER, db_str(&res, 10, NULL));
    }
    db_res_free(&res);
    rc = resp_json(req, 200, &w);
    jw_free(&w);
    return rc;
}
