#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_api.h"
#include "auth.h"
#include "balance.h"
#include "card.h"
#include "gateway.h"
#include "idempotency.h"
#include "idlist.h"
#include "log.h"
#include "outbox.h"
#include "payment.h"

typedef struct {
    idem_t   *st;
    int64_t   hold_id;
    int64_t   perf;
    int       has_room;
    char      room[TICKET_TOKEN_ROOM_MAX + 1];
    idlist_t  seats;
    int64_t   price[IDLIST_MAX];
    int64_t   total;
    int64_t   payment_id;
    int64_t   reservation_id;
    int64_t   balance;
} pay_ctx_t;

static char            *pay_reservation_seats_sql[IDLIST_MAX + 1];
static pthread_once_t   pay_reservation_seats_once = PTHREAD_ONCE_INIT;


/*
 * Seat order, for the answer and the rows written.  An ORDER BY in
 * pay_lock_hold() cost MariaDB a temporary table and a sort per payment
 * (a quarter of the statement's time).
 */
static void
pay_sort_seats(pay_ctx_t *c)
{
    int64_t  id, price;
    size_t   j;

    for (size_t i = 1; i < c->seats.n; i++) {
        id = c->seats.id[i];
        price = c->price[i];
        for (j = i; j > 0 && c->seats.id[j - 1] > id; j--) {
            c->seats.id[j] = c->seats.id[j - 1];
            c->price[j] = c->price[j - 1];
        }
        c->seats.id[j] = id;
        c->price[j] = price;
    }
}


/*
 * Locks the hold (and its live seats) and refuses unless the session is
 * live, the hold is the caller's and alive and the request came through
 * the performance's room.  The same statement says whether the key has a
 * stored answer, which is replayed before the room is asked: the first
 * payment has ended the room's session.  Returns 0, RESP_DONE or DB_*.
 *
 * The performance and the key are read in scalar subqueries, which
 * MariaDB does not lock: joined, the performance's row was locked
 * exclusively by every payment of the performance until its commit, so
 * that all payments of a sale ran one at a time, and the key's absent
 * entry took a gap lock that blocked other users' keys.
 */
static int
pay_lock_hold(req_t *req, pay_ctx_t *c)
{
    db_res_t  res;
    char      status[16] = "";
    int64_t   alive = 0;
    int       rc, rows = 0, authenticated = 0, answered = 0;

    rc = db_exec(req->db, &res,
                 "SELECT h.status, h.expires_at > UTC_TIMESTAMP(3),"
                 " hs.seat_id, hs.price, h.performance_id,"
                 " (SELECT p.room FROM performances p"
                 "  WHERE p.id = h.performance_id),"
                 " EXISTS (SELECT 1 FROM idempotency_keys ik"
                 "  WHERE ik.user_id = h.user_id AND ik.idem_key = ?), "
                 AUTH_USER_COLUMNS
                 " FROM holds h"
                 " LEFT JOIN sessions sess ON " AUTH_SESSION_LIVE
                 " LEFT JOIN users usr ON usr.id = sess.user_id"
                 " LEFT JOIN hold_seats hs ON hs.hold_id = h.id"
                 "  AND hs.released_at IS NULL"
                 " WHERE h.id = ? AND h.user_id = ? FOR UPDATE", "siiii",
                 req->idempotency_key, req->claim_session_id,
                 req->claim_user_id, c->hold_id, req->claim_user_id);
    if (rc != DB_OK) {
        return rc;
    }
    memset(&c->seats, 0, sizeof(c->seats));
    c->total = 0;
    while ((rc = db_fetch(&res)) == 1) {
        if (rows++ == 0) {
            snprintf(status, sizeof(status), "%s", db_str(&res, 0, NULL));
            alive = db_int(&res, 1);
            c->perf = db_int(&res, 4);
            c->has_room = !db_is_null(&res, 5);
            snprintf(c->room, sizeof(c->room), "%s",
                     c->has_room ? db_str(&res, 5, NULL) : "");
            answered = db_int(&res, 6) != 0;
            authenticated = auth_adopt(req, &res, 7);
        }
        if (!db_is_null(&res, 2) && c->seats.n < IDLIST_MAX) {
            c->seats.id[c->seats.n] = db_int(&res, 2);
            c->price[c->seats.n] = db_int(&res, 3);
            c->total += c->price[c->seats.n++];
        }
    }
    db_res_free(&res);
    if (rc < 0) {
        return DB_ERROR;
    }
    pay_sort_seats(c);
    if (rows == 0) {
        /* No hold of the claimed user: whether the session is live first. */
        rc = auth_require(req, 0);
        return rc != 0 ? rc
               : resp_error(req, 404, "HOLD_NOT_FOUND", "no such hold");
    }
    if (!authenticated) {
        return auth_refuse(req);
    }
    if (answered) {
        rc = idem_replay(req, c->st);
        if (rc != 0) {
            return rc;
        }
    }
    rc = performance_room_allows(req, c->has_room ? c->room : NULL,
                                 strlen(c->room));
    if (rc != 0) {
        return rc;
    }
    if (strcmp(status, "converted") == 0) {
        return resp_error(req, 409, "HOLD_ALREADY_PAID",
                          "this hold has been paid for already");
    }
    if (strcmp(status, "released") == 0) {
        return resp_error(req, 410, "HOLD_RELEASED",
                          "this hold was released");
    }
    if (strcmp(status, "active") != 0 || !alive || c->seats.n == 0) {
        return resp_error(req, 410, "HOLD_EXPIRED", "this hold has expired");
    }
    return 0;
}


/* "INSERT ... VALUES" of n reservation seats, for n from 1 to IDLIST_MAX. */
static void
pay_reservation_seats_build(void)
{
    for (size_t n = 1; n <= IDLIST_MAX; n++) {
        pay_reservation_seats_sql[n] = db_rows_sql(
            "INSERT INTO reservation_seats (reservation_id, performance_id,"
            " seat_id, price) VALUES ", "(?, ?, ?, ?)", n);
    }
}


/* The reservation's seats at the prices of the hold, one statement. */
static int
pay_reservation_seats(req_t *req, pay_ctx_t *c)
{
    MYSQL_BIND  bind[IDLIST_MAX * 4];

    pthread_once(&pay_reservation_seats_once, pay_reservation_seats_build);
    memset(bind, 0, c->seats.n * 4 * sizeof(bind[0]));
    for (size_t i = 0; i < c->seats.n; i++) {
        db_bind_int(&bind[i * 4], &c->reservation_id, NULL);
        db_bind_int(&bind[i * 4 + 1], &c->perf, NULL);
        db_bind_int(&bind[i * 4 + 2], &c->seats.id[i], NULL);
        db_bind_int(&bind[i * 4 + 3], &c->price[i], NULL);
    }
    return db_exec_bind(req->db, NULL, pay_reservation_seats_sql[c->seats.n],
                        bind, c->seats.n * 4);
}


/*
 * Sells the hold's seats to reservation c->reservation_id.  One statement
 * sells the seats, ends the hold's claims on them and converts the hold:
 * each live claim of the hold joined with its seat, which must still be
 * the hold's and not expired, so 2n + 1 rows change (n seats, n claims,
 * the hold) or the hold ran out between the check and now.
 */
static int
pay_sell_seats(req_t *req, pay_ctx_t *c)
{
    db_res_t  res;
    int       rc;

    rc = db_exec(req->db, &res,
                 "UPDATE holds h JOIN hold_seats hs ON hs.hold_id = h.id"
                 "  AND hs.released_at IS NULL"
                 " JOIN performance_seats ps"
                 "  ON ps.performance_id = hs.performance_id"
                 "  AND ps.seat_id = hs.seat_id AND ps.hold_id = h.id"
                 "  AND ps.state = 'held'"
                 "  AND ps.hold_expires_at > UTC_TIMESTAMP(3)"
                 " SET ps.state = 'sold', ps.reservation_id = ?,"
                 " ps.hold_id = NULL, ps.hold_expires_at = NULL,"
                 " ps.updated_at = UTC_TIMESTAMP(3),"
                 " hs.released_at = UTC_TIMESTAMP(3),"
                 " h.status = 'converted', h.updated_at = UTC_TIMESTAMP(3)"
                 " WHERE h.id = ?", "ii", c->reservation_id, c->hold_id);
    if (rc != DB_OK) {
        return rc;
    }
    if (res.affected != 2 * c->seats.n + 1) {
        return resp_error(req, 410, "HOLD_EXPIRED", "this hold has expired");
    }
    return pay_reservation_seats(req, c);
}


static void
pay_audit_rows(req_t *req, pay_ctx_t *c, audit_batch_t *b)
{
    int64_t  uid = req->user->id;
    char     before[96], after[160];

    for (size_t i = 0; i < c->seats.n; i++) {
        snprintf(before, sizeof(before),
                 "{\"state\":\"held\",\"hold_id\":%lld}",
                 (long long) c->hold_id);
        snprintf(after, sizeof(after),
                 "{\"state\":\"sold\",\"reservation_id\":%lld}",
                 (long long) c->reservation_id);
        audit_batch_add(b, "seat", c->seats.id[i], "sell", c->perf,
                        c->seats.id[i], uid, before, after);
    }
    snprintf(after, sizeof(after),
             "{\"status\":\"converted\",\"reservation_id\":%lld}",
             (long long) c->reservation_id);
    audit_batch_add(b, "hold", c->hold_id, "convert", c->perf, 0, uid,
                    "{\"status\":\"active\"}", after);
    snprintf(after, sizeof(after),
             "{\"status\":\"succeeded\",\"amount\":%lld,\"method\":\"balance\","
             "\"hold_id\":%lld}", (long long) c->total,
             (long long) c->hold_id);
    audit_batch_add(b, "payment", c->payment_id, "create", c->perf, 0, uid,
                    NULL, after);
    snprintf(after, sizeof(after),
             "{\"status\":\"confirmed\",\"total\":%lld,\"seats\":%zu,"
             "\"payment_id\":%lld}", (long long) c->total, c->seats.n,
             (long long) c->payment_id);
    audit_batch_add(b, "reservation", c->reservation_id, "create", c->perf,
                    0, uid, NULL, after);
}


static int
pay_outbox(req_t *req, pay_ctx_t *c)
{
    outbox_reservation_t  r;

    r.reservation_id = c->reservation_id;
    r.user_id = req->user->id;
    r.performance_id = c->perf;
    r.payment_id = c->payment_id;
    r.total = c->total;
    r.status = "confirmed";
    r.payment_method = "balance";
    r.payment_status = "succeeded";
    r.seats = &c->seats;
    return outbox_reservation_event(req, "reservation.confirmed", &r);
}


static int
pay_respond(req_t *req, pay_ctx_t *c)
{
    jw_t  w;

    if (c->room[0] != '\0') {
        resp_header(req, PAYMENT_RELEASE_HEADER, c->room);
    }
    if (jw_init(&w) != 0) {
        return DB_ERROR;
    }
    jw_obj_open(&w);
    jw_key(&w, "payment");
    jw_obj_open(&w);
    jw_kv_int(&w, "id", c->payment_id);
    jw_kv_str(&w, "method", "balance");
    jw_kv_str(&w, "status", "succeeded");
    jw_kv_int(&w, "amount", c->total);
    jw_kv_int(&w, "hold_id", c->hold_id);
    jw_obj_close(&w);
    jw_key(&w, "reservation");
    jw_obj_open(&w);
    jw_kv_int(&w, "id", c->reservation_id);
    jw_kv_int(&w, "performance_id", c->perf);
    jw_kv_str(&w, "status", "confirmed");
    jw_kv_int(&w, "total", c->total);
    jw_key(&w, "seats");
    jw_arr_open(&w);
    for (size_t i = 0; i < c->seats.n; i++) {
        jw_obj_open(&w);
        jw_kv_int(&w, "seat_id", c->seats.id[i]);
        jw_kv_int(&w, "price", c->price[i]);
        jw_obj_close(&w);
    }
    jw_arr_close(&w);
    jw_obj_close(&w);
    jw_kv_int(&w, "balance", c->balance);
    jw_obj_close(&w);
    resp_json(req, 201, &w);
    jw_free(&w);
    return req->status == 201 ? 0 : RESP_DONE;
}


static int
pay_tx(req_t *req, void *arg)
{
    pay_ctx_t      *c = arg;
    audit_batch_t   b;
    db_res_t        res;
    int             rc;

    rc = pay_lock_hold(req, c);
    if (rc != 0) {
        return rc;
    }

    rc = db_exec(req->db, &res,
                 "INSERT INTO payments (user_id, hold_id, amount)"
                 " VALUES (?, ?, ?)", "iii", req->user->id, c->hold_id,
                 c->total);
    if (rc == DB_DUPLICATE) {
        /* uq_payments_hold: a card checkout for this hold is open. */
        return resp_error(req, 409, "PAYMENT_PENDING",
                          "a card payment for this hold is in progress");
    }
    if (rc != DB_OK) {
        return rc;
    }
    c->payment_id = (int64_t) res.insert_id;

    if (audit_batch_init(&b) != 0) {
        return DB_ERROR;
    }
    rc = balance_move(req, req->user->id, -c->total, "payment", c->payment_id,
                      &b, &c->balance, NULL);
    if (rc == BALANCE_SHORT) {
        audit_batch_free(&b);
        return resp_error(req, 402, "INSUFFICIENT_BALANCE",
                          "the balance does not cover %lld KRW",
                          (long long) c->total);
    }
    if (rc == DB_OK) {
        rc = db_exec(req->db, &res,
                     "INSERT INTO reservations (user_id, performance_id,"
                     " hold_id, payment_id, total) VALUES (?, ?, ?, ?, ?)",
                     "iiiii", req->user->id, c->perf, c->hold_id,
                     c->payment_id, c->total);
        c->reservation_id = (int64_t) res.insert_id;
    }
    if (rc == DB_OK) {
        rc = pay_sell_seats(req, c);
    }
    if (rc != DB_OK) {
        audit_batch_free(&b);
        return rc;
    }
    pay_audit_rows(req, c, &b);
    rc = audit_batch_write(req->db, &b, req->user->id, req->request_id);
    if (rc == DB_OK) {
        rc = pay_outbox(req, c);
    }
    if (rc != DB_OK) {
        return rc;
    }
    return pay_respond(req, c);
}


/*
 * Finds the hold's performance and room, without locking, for a card
 * payment's room check before it talks to the gateway.  0/RESP_DONE.
 */
static int
pay_find_hold(req_t *req, pay_ctx_t *c)
{
    db_res_t  res;
    int       rc;

    rc = db_exec(req->db, &res,
                 "SELECT h.performance_id, p.room FROM holds h"
                 " JOIN performances p ON p.id = h.performance_id"
                 " WHERE h.id = ? AND h.user_id = ?", "ii", c->hold_id,
                 req->user->id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc == 1) {
        c->perf = db_int(&res, 0);
        c->has_room = !db_is_null(&res, 1);
        snprintf(c->room, sizeof(c->room), "%s",
                 db_is_null(&res, 1) ? "" : db_str(&res, 1, NULL));
    }
    db_res_free(&res);
    if (rc != 1) {
        return rc < 0 ? DB_ERROR
               : resp_error(req, 404, "HOLD_NOT_FOUND", "no such hold");
    }
    return 0;
}


int
h_payment_create(req_t *req)
{
    const char  *method = NULL;
    pay_ctx_t   *c;
    jv_err_t     err;
    int64_t      hold_id = 0;
    idem_t       st;
    int          rc, card;

    if (jv_int(req->json, "hold_id", 1, 1, INT64_MAX, &hold_id, &err) < 0
        || jv_string(req->json, "method", 1, 1, 32, &method, &err) < 0)
    {
        return resp_error(req, 400, "VALIDATION", "%s", err.message);
    }
    card = strcmp(method, "card") == 0 && gateway_enabled();
    if (strcmp(method, "balance") != 0 && !card) {
        return resp_error(req, 422, "UNSUPPORTED_METHOD",
                          "method must be \"balance\"%s",
                          strcmp(method, "card") == 0
                          ? "; cards are not accepted yet" : "");
    }

    /*
     * A balance payment authenticates and looks the key up in its first
     * statement (pay_lock_hold); a card payment asks before it talks to
     * the gateway.
     */
    rc = card ? auth_require(req, 0) : 0;
    if (rc == 0) {
        rc = idem_start(req, &st, card);
    }
    if (rc != 0) {
        return rc;
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return DB_ERROR;
    }
    c->st = &st;
    c->hold_id = hold_id;
    if (!card) {
        rc = idem_tx(req, &st, pay_tx, c);

    } else {
        rc = pay_find_hold(req, c);
        if (rc == 0) {
            rc = performance_room_allows(req, c->has_room ? c->room : NULL,
                                         strlen(c->room));
        }
        if (rc == 0) {
            rc = card_payment_create(req, &st, c->hold_id, c->perf);
        }
    }
    free(c);
    return rc;
}
