#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_api.h"
#include "balance.h"
#include "catalogue.h"
#include "hold.h"
#include "idlist.h"
#include "outbox.h"
#include "reservation.h"

#define ISO_FMT           "'%Y-%m-%dT%H:%i:%sZ'"
#define RES_PAGE          20
#define RES_PAGE_MAX      100
#define CANCEL_DONE       2     /* not RESP_DONE: cancelled before */

/* The columns reservation_json() reads, grouped by reservation. */
#define RES_COLUMNS                                                          \
    "SELECT r.id, r.performance_id, r.status, r.total, r.payment_id,"        \
    " DATE_FORMAT(r.created_at, " ISO_FMT "),"                               \
    " DATE_FORMAT(r.cancelled_at, " ISO_FMT "),"                             \
    " DATE_FORMAT(p.starts_at, " ISO_FMT "),"                                \
    " GROUP_CONCAT(rs.seat_id, ':', rs.price ORDER BY rs.seat_id)"           \
    " FROM reservations r"                                                   \
    " JOIN performances p ON p.id = r.performance_id"                        \
    " JOIN reservation_seats rs ON rs.reservation_id = r.id"


static void
reservation_json(jw_t *w, const db_res_t *res)
{
    const char  *s;
    char        *end;
    long long    seat, price;

    jw_obj_open(w);
    jw_kv_int(w, "id", db_int(res, 0));
    jw_kv_int(w, "performance_id", db_int(res, 1));
    jw_kv_str(w, "status", db_str(res, 2, NULL));
    jw_kv_int(w, "total", db_int(res, 3));
    jw_key(w, "payment_id");
    if (db_is_null(res, 4)) {
        jw_null(w);
    } else {
        jw_int(w, db_int(res, 4));
    }
    jw_kv_str(w, "created_at", db_str(res, 5, NULL));
    jw_kv_str(w, "cancelled_at",
              db_is_null(res, 6) ? NULL : db_str(res, 6, NULL));
    jw_kv_str(w, "starts_at", db_str(res, 7, NULL));
    jw_key(w, "seats");
    jw_arr_open(w);
    /* "seat:price,seat:price": written by GROUP_CONCAT above. */
    s = db_str(res, 8, NULL);
    while (*s != '\0') {
        seat = strtoll(s, &end, 10);
        if (*end != ':') {
            break;
        }
        price = strtoll(end + 1, &end, 10);
        jw_obj_open(w);
        jw_kv_int(w, "seat_id", seat);
        jw_kv_int(w, "price", price);
        jw_obj_close(w);
        s = *end == ',' ? end + 1 : end;
        if (*end != ',') {
            break;
        }
    }
    jw_arr_close(w);
    jw_obj_close(w);
}


int
reservation_respond(req_t *req, int64_t id, int status)
{
    db_res_t  res;
    jw_t      w;
    int       rc;

    rc = db_exec(req->db, &res,
                 RES_COLUMNS " WHERE r.id = ? AND r.user_id = ? GROUP BY r.id",
                 "ii", id, req->user->id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc != 1) {
        db_res_free(&res);
        return rc < 0 ? DB_ERROR
               : resp_error(req, 404, "RESERVATION_NOT_FOUND",
                            "no such reservation");
    }
    if (jw_init(&w) != 0) {
        db_res_free(&res);
        return DB_ERROR;
    }
    reservation_json(&w, &res);
    db_res_free(&res);
    rc = resp_json(req, status, &w);
    jw_free(&w);
    return rc;
}


int
h_reservation_get(req_t *req)
{
    return reservation_respond(req, req->params[0], 200);
}


int
h_reservations_list(req_t *req)
{
    int64_t   limit = RES_PAGE, before = INT64_MAX;
    db_res_t  res;
    int       rc;

    if (query_int_arg(req, "limit", 1, RES_PAGE_MAX, &limit)
        || query_int_arg(req, "before", 1, INT64_MAX, &before))
    {
        return RESP_DONE;
    }
    rc = db_exec(req->db, &res,
                 RES_COLUMNS " WHERE r.user_id = ? AND r.id < ?"
                 " GROUP BY r.id ORDER BY r.id DESC LIMIT ?",
                 "iii", req->user->id, before, limit);
    if (rc != DB_OK) {
        return rc;
    }
    return resp_page(req, &res, "reservations", limit, reservation_json);
}


typedef struct {
    int64_t   perf;
    int64_t   total;
    int64_t   payment_id;
    int       by_card;
    idlist_t  seats;
} cancel_ctx_t;


/* Locks the reservation: 0 to cancel, CANCEL_DONE when cancelled already. */
static int
cancel_lock(req_t *req, cancel_ctx_t *c)
{
    db_res_t  res;
    int64_t   future = 0;
    int       rc, cancelled = 0;

    rc = db_exec(req->db, &res,
                 "SELECT r.performance_id, r.status = 'cancelled', r.total,"
                 " r.payment_id, COALESCE(p.method = 'card', 0)"
                 " FROM reservations r"
                 " LEFT JOIN payments p ON p.id = r.payment_id"
                 " WHERE r.id = ? AND r.user_id = ? FOR UPDATE",
                 "ii", req->params[0], req->user->id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc == 1) {
        c->perf = db_int(&res, 0);
        cancelled = db_int(&res, 1) != 0;
        c->total = db_int(&res, 2);
        c->payment_id = db_is_null(&res, 3) ? 0 : db_int(&res, 3);
        c->by_card = db_int(&res, 4) != 0;
    }
    db_res_free(&res);
    if (rc != 1) {
        return rc < 0 ? DB_ERROR
               : resp_error(req, 404, "RESERVATION_NOT_FOUND",
                            "no such reservation");
    }
    if (cancelled) {
        return CANCEL_DONE;
    }
    rc = db_query_int(req->db, &future,
                      "SELECT starts_at > UTC_TIMESTAMP() FROM performances"
                      " WHERE id = ?", "i", c->perf);
    if (rc < 0) {
        return rc;
    }
    if (!future) {
        return resp_error(req, 409, "PERFORMANCE_STARTED",
                          "the performance has started; it cannot be"
                          " cancelled");
    }

    rc = db_exec(req->db, &res,
                 "SELECT seat_id FROM reservation_seats"
                 " WHERE reservation_id = ? AND released_at IS NULL"
                 " ORDER BY seat_id", "i", req->params[0]);
    if (rc != DB_OK) {
        return rc;
    }
    memset(&c->seats, 0, sizeof(c->seats));
    while ((rc = db_fetch(&res)) == 1 && c->seats.n < IDLIST_MAX) {
        c->seats.id[c->seats.n++] = db_int(&res, 0);
    }
    db_res_free(&res);
    return rc < 0 ? DB_ERROR : 0;
}


static int
cancel_tx(req_t *req, void *arg)
{
    cancel_ctx_t   *c = arg;
    audit_batch_t   b;
    int64_t         id = req->params[0], uid = req->user->id;
    char            before[96], after[96];
    int             rc;

    rc = cancel_lock(req, c);
    if (rc != 0) {
        /* Cancelling twice changes nothing and answers the same. */
        return rc == CANCEL_DONE ? 0 : rc;
    }

    hold_seats_freed(req, c->perf, &c->seats);
    rc = db_exec(req->db, NULL,
                 "UPDATE performance_seats SET state = 'available',"
                 " reservation_id = NULL, hold_id = NULL,"
                 " hold_expires_at = NULL, updated_at = UTC_TIMESTAMP(3)"
                 " WHERE reservation_id = ? AND state = 'sold'", "i", id);
    if (rc == DB_OK) {
        rc = db_exec(req->db, NULL,
                     "UPDATE reservation_seats SET released_at ="
                     " UTC_TIMESTAMP(3) WHERE reservation_id = ?"
                     " AND released_at IS NULL", "i", id);
    }
    if (rc == DB_OK) {
        rc = db_exec(req->db, NULL,
                     "UPDATE reservations SET status = 'cancelled',"
                     " cancelled_at = UTC_TIMESTAMP(3) WHERE id = ?", "i", id);
    }
    if (rc == DB_OK && c->payment_id) {
        /*
         * A card payment is refunded to the card by the settler
         * (settle.c), which emits "reservation.refunded" once the gateway
         * confirms; a balance payment is refunded here.
         */
        rc = db_exec(req->db, NULL,
                     "UPDATE payments SET status = IF(?, 'refund_pending',"
                     " 'refunded'), reason = IF(?, 'CANCELLED', reason),"
                     " next_check_at = IF(?, UTC_TIMESTAMP(3), NULL),"
                     " attempts = 0, updated_at = UTC_TIMESTAMP(3)"
                     " WHERE id = ?", "iiii", (int64_t) c->by_card,
                     (int64_t) c->by_card, (int64_t) c->by_card,
                     c->payment_id);
    }
    if (rc == DB_OK) {
        rc = outbox_reservation(req, "reservation.cancelled", id);
    }
    if (rc != DB_OK) {
        return rc;
    }

    if (audit_batch_init(&b) != 0) {
        return DB_ERROR;
    }
    if (c->total > 0 && !c->by_card) {
        rc = balance_move(req, uid, c->total, "refund", c->payment_id, &b,
                          NULL, NULL);
        if (rc != DB_OK) {
            audit_batch_free(&b);
            return rc > 0 ? DB_ERROR : rc;
        }
    }
    snprintf(before, sizeof(before),
             "{\"state\":\"sold\",\"reservation_id\":%lld}", (long long) id);
    for (size_t i = 0; i < c->seats.n; i++) {
        audit_batch_add(&b, "seat", c->seats.id[i], "cancel", c->perf,
                        c->seats.id[i], uid, before,
                        "{\"state\":\"available\"}");
    }
    audit_batch_add(&b, "reservation", id, "cancel", c->perf, 0, uid,
                    "{\"status\":\"confirmed\"}",
                    "{\"status\":\"cancelled\"}");
    if (c->payment_id) {
        snprintf(after, sizeof(after),
                 "{\"status\":\"%s\",\"amount\":%lld}",
                 c->by_card ? "refund_pending" : "refunded",
                 (long long) c->total);
        audit_batch_add(&b, "payment", c->payment_id, "refund", c->perf, 0,
                        uid, "{\"status\":\"succeeded\"}", after);
    }
    rc = audit_batch_write(req->db, &b, uid, req->request_id);
    if (rc == DB_OK && c->seats.n > 0) {
        rc = performance_seats_changed(req, c->perf);
    }
    return rc;
}


int
h_reservation_cancel(req_t *req)
{
    cancel_ctx_t  c;
    int           rc;

    memset(&c, 0, sizeof(c));
    rc = req_tx(req, cancel_tx, &c);
    if (rc != 0) {
        return rc;
    }
    return reservation_respond(req, req->params[0], 200);
}
