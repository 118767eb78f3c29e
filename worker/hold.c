#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_api.h"
#include "auth.h"
#include "hold.h"
#include "idempotency.h"
#include "idlist.h"
#include "log.h"
#include "worker.h"

#define ISO_FMT      "'%Y-%m-%dT%H:%i:%sZ'"
#define SQL_MAX_IDS  16

/* The seat ids of a list as varargs; unused slots are zero and ignored. */
#define IDS16(l)                                                             \
    (l)->id[0], (l)->id[1], (l)->id[2], (l)->id[3], (l)->id[4], (l)->id[5],  \
    (l)->id[6], (l)->id[7], (l)->id[8], (l)->id[9], (l)->id[10],             \
    (l)->id[11], (l)->id[12], (l)->id[13], (l)->id[14], (l)->id[15]

/* The same with one more: a list of up to 16 seats and a parameter after. */
#define IDS17(l)  IDS16(l), (l)->id[16]

typedef struct {
    int64_t   perf;
    idlist_t  seats;
    int64_t   price[IDLIST_MAX];
    int64_t   prev_hold[IDLIST_MAX];    /* the expired hold it came from */
    int64_t   total;
    char      expires_sql[40];
    char      expires_iso[40];
    int64_t   hold_id;
    int       raced;                    /* lost a seat after the pre-check */
    idlist_t  taken;
    int       open;                     /* on sale now */
    int64_t   unknown;                  /* a seat not in the performance */
    int       has_room;
    char      room[TICKET_TOKEN_ROOM_MAX + 1];
    int       authenticated;            /* the session is live */
    int       answered;                 /* the key has a stored answer */
} hold_ctx_t;

/*
 * Every statement with an IN list is built once per list length, with the
 * IN list last so that the fixed parameters keep their positions; only
 * the pre-check has one parameter after it (see hold_precheck()).
 */
static const char  *hold_sql_templates[] = {
    /*
     * HOLD_SQL_PRECHECK: hold_seconds x2, session, user, idempotency key,
     * seats, performance.  One statement answers everything a refusal
     * needs: the session (the route only checked the cookie), whether the
     * key has a stored answer, the sale, the room and the seats.  No
     * derived table and no ORDER BY: each cost a temporary table (and a
     * filesort) on every hold attempt, most of which end here.  The
     * primary key is forced: left to itself, MariaDB read every seat of
     * the performance (15,000 rows for the big hall) and kept the few
     * asked for, on every attempt.
     */
    "SELECT p.on_sale_at <= UTC_TIMESTAMP(3)"
    " AND p.starts_at > UTC_TIMESTAMP(3),"
    " DATE_FORMAT(UTC_TIMESTAMP(3) + INTERVAL ? SECOND,"
    "  '%%Y-%%m-%%d %%H:%%i:%%s.%%f'),"
    " DATE_FORMAT(UTC_TIMESTAMP(3) + INTERVAL ? SECOND,"
    "  '%%Y-%%m-%%dT%%H:%%i:%%sZ'),"
    " ps.seat_id, ps.hold_id,"
    " ps.state = 'available' OR (ps.state = 'held'"
    "  AND ps.hold_expires_at <= UTC_TIMESTAMP(3)),"
    " t.price, p.room, ik.user_id IS NOT NULL, " AUTH_USER_COLUMNS ","
    " IF(ps.state = 'held', TIMESTAMPDIFF(MICROSECOND, UTC_TIMESTAMP(3),"
    "  ps.hold_expires_at) DIV 1000, NULL)"
    " FROM performances p"
    " LEFT JOIN sessions sess ON " AUTH_SESSION_LIVE
    " LEFT JOIN users usr ON usr.id = sess.user_id"
    " LEFT JOIN idempotency_keys ik ON ik.user_id = sess.user_id"
    "  AND ik.idem_key = ?"
    " LEFT JOIN performance_seats ps FORCE INDEX (PRIMARY)"
    "  ON ps.performance_id = p.id AND ps.seat_id IN (%s)"
    " LEFT JOIN seats s ON s.id = ps.seat_id"
    " LEFT JOIN price_tiers t ON t.id = s.tier_id"
    " WHERE p.id = ?",

    /*
     * HOLD_SQL_CLAIM: hold, expiry, performance, seats.  The primary key
     * is forced here and in HOLD_SQL_TAKEN: left to itself, MariaDB chose
     * the seat_id index for the claim (next-key locks in a second index)
     * and, for the taken read, every row of the performance, so that a
     * lost race share-locked the whole hall and concurrent claims
     * deadlocked.  By primary key both lock exactly the seats asked for,
     * in seat order, and the taken read only rereads rows the claim has
     * locked already.
     */
    "UPDATE performance_seats FORCE INDEX (PRIMARY)"
    " SET state = 'held', hold_id = ?,"
    " hold_expires_at = ?, updated_at = UTC_TIMESTAMP(3)"
    " WHERE performance_id = ? AND (state = 'available'"
    "  OR (state = 'held' AND hold_expires_at <= UTC_TIMESTAMP(3)))"
    " AND seat_id IN (%s)",

    /* HOLD_SQL_TAKEN: performance, hold, seats (current read) */
    "SELECT seat_id FROM performance_seats FORCE INDEX (PRIMARY)"
    " WHERE performance_id = ? AND NOT (hold_id <=> ?) AND seat_id IN (%s)"
    " ORDER BY seat_id LOCK IN SHARE MODE",

    /*
     * HOLD_SQL_RECORD: performance, hold, seats.  The hold's seats by
     * primary key, whose rows the claim has locked already: found through
     * the hold_id index, the read took a next-key lock up to the highest
     * hold id, which is where every concurrent claim inserts its own, so
     * that all holds waited for each other's commit.  Forced, because
     * MariaDB otherwise read the performance's every seat (15,000 rows,
     * 3 to 5 ms, with the claimed seats locked meanwhile).
     */
    "INSERT INTO hold_seats (hold_id, performance_id, seat_id, price)"
    " SELECT ps.hold_id, ps.performance_id, ps.seat_id, t.price"
    " FROM performance_seats ps FORCE INDEX (PRIMARY)"
    " JOIN seats s ON s.id = ps.seat_id"
    " JOIN price_tiers t ON t.id = s.tier_id"
    " WHERE ps.performance_id = ? AND ps.hold_id = ? AND ps.seat_id IN (%s)"
    " ORDER BY ps.seat_id",

    /* HOLD_SQL_UNCLAIM: performance, hold, seats */
    "UPDATE hold_seats SET released_at = UTC_TIMESTAMP(3)"
    " WHERE performance_id = ? AND claim = 1 AND hold_id <> ?"
    " AND seat_id IN (%s)",
};

static char            *hold_sql_text[HOLD_SQL_COUNT][SQL_MAX_IDS + 1];
static pthread_once_t   hold_sql_once = PTHREAD_ONCE_INIT;


static void
hold_sql_build(void)
{
    char  list[SQL_MAX_IDS * 2 + 1];
    char  sql[2048];

    for (int w = 0; w < HOLD_SQL_COUNT; w++) {
        for (size_t n = 1; n <= SQL_MAX_IDS; n++) {
            idlist_placeholders(list, sizeof(list), n);
            snprintf(sql, sizeof(sql), hold_sql_templates[w], list);
            hold_sql_text[w][n] = strdup(sql);
            if (hold_sql_text[w][n] == NULL) {
                log_error("hold: out of memory building statements");
                abort();
            }
        }
    }
}


const char *
hold_sql(int which, size_t n)
{
    pthread_once(&hold_sql_once, hold_sql_build);
    if (which < 0 || which >= HOLD_SQL_COUNT || n == 0 || n > SQL_MAX_IDS) {
        return NULL;
    }
    return hold_sql_text[which][n];
}


/* "i" * prefix followed by n more "i": the types of an IN-list call. */
static const char *
ids_types(char *buf, const char *prefix, size_t n)
{
    size_t  len = strlen(prefix);

    memcpy(buf, prefix, len);
    memset(buf + len, 'i', n);
    buf[len + n] = '\0';
    return buf;
}


static void
hold_json(jw_t *w, int64_t id, int64_t perf, const char *status,
    const idlist_t *seats, const int64_t *price, int64_t total,
    const char *expires_iso)
{
    jw_obj_open(w);
    jw_kv_int(w, "id", id);
    jw_kv_int(w, "performance_id", perf);
    jw_kv_str(w, "status", status);
    jw_key(w, "seats");
    jw_arr_open(w);
    for (size_t i = 0; i < seats->n; i++) {
        jw_obj_open(w);
        jw_kv_int(w, "seat_id", seats->id[i]);
        jw_kv_int(w, "price", price[i]);
        jw_obj_close(w);
    }
    jw_arr_close(w);
    jw_kv_int(w, "total", total);
    jw_kv_str(w, "expires_at", expires_iso);
    jw_obj_close(w);
}


/* Writes 409 SEAT_UNAVAILABLE naming the seats in taken. */
static int
hold_unavailable(req_t *req, const idlist_t *taken)
{
    jw_t  w;
    int   rc;

    if (jw_init(&w) != 0) {
        return DB_ERROR;
    }
    jw_obj_open(&w);
    jw_key(&w, "error");
    jw_obj_open(&w);
    jw_kv_str(&w, "code", "SEAT_UNAVAILABLE");
    jw_kv_str(&w, "message", "some of the seats are held or sold");
    jw_key(&w, "seat_ids");
    jw_arr_open(&w);
    for (size_t i = 0; i < taken->n; i++) {
        jw_int(&w, taken->id[i]);
    }
    jw_arr_close(&w);
    jw_obj_close(&w);
    jw_obj_close(&w);
    rc = resp_json(req, 409, &w);
    jw_free(&w);
    return rc;
}


/*
 * Tells the process's cache (taken.h) that these seats are taken now, for
 * left_ms[i] more milliseconds at most (their hold's remaining time; NULL:
 * held or sold for longer than the cache keeps anything).
 */
static void
hold_seats_taken(req_t *req, const hold_ctx_t *c, const idlist_t *seats,
    const int64_t *left_ms)
{
    if (req->thr != NULL && req->thr->taken != NULL && seats->n > 0) {
        taken_cache_put(req->thr->taken, c->perf, seats, left_ms,
                        c->has_room ? c->room : NULL, taken_now_ms());
    }
}


void
hold_seats_freed(req_t *req, int64_t perf, const idlist_t *seats)
{
    if (req->thr != NULL && req->thr->taken != NULL) {
        taken_cache_forget(req->thr->taken, perf, seats);
    }
}


/*
 * Reads the session, the key, the performance and the seats without
 * locking: who is asking, whether the key was answered already, whether
 * the sale is open, its waiting room, what each seat costs and whether it
 * is free now, and the expiry a hold made now gets.  Returns 0, RESP_DONE
 * after 401 UNAUTHENTICATED or 404 NOT_FOUND, or DB_*; hold_verdict()
 * judges the rest.
 */
static int
hold_precheck(req_t *req, hold_ctx_t *c)
{
    idlist_t  args;
    db_res_t  res;
    size_t    found = 0, k;
    char      seen[IDLIST_MAX] = { 0 }, busy[IDLIST_MAX] = { 0 };
    char      types[40];
    int64_t   hs = req->conf->hold_seconds, sid;
    int64_t   left[IDLIST_MAX], taken_left[IDLIST_MAX];
    int       rc, rows = 0;

    /* The performance's parameter follows the IN list. */
    args = c->seats;
    args.id[args.n] = c->perf;
    memset(&c->taken, 0, sizeof(c->taken));
    rc = db_exec(req->db, &res, hold_sql(HOLD_SQL_PRECHECK, c->seats.n),
                 ids_types(types, "iiiis", c->seats.n + 1), hs, hs,
                 req->claim_session_id, req->claim_user_id,
                 req->idempotency_key, IDS17(&args));
    if (rc != DB_OK) {
        return rc;
    }
    while ((rc = db_fetch(&res)) == 1) {
        if (rows++ == 0) {
            c->open = db_int(&res, 0) != 0;
            snprintf(c->expires_sql, sizeof(c->expires_sql), "%s",
                     db_str(&res, 1, NULL));
            snprintf(c->expires_iso, sizeof(c->expires_iso), "%s",
                     db_str(&res, 2, NULL));
            c->has_room = !db_is_null(&res, 7);
            snprintf(c->room, sizeof(c->room), "%s", db_str(&res, 7, NULL));
            c->answered = db_int(&res, 8) != 0;
            c->authenticated = auth_adopt(req, &res, 9);
        }
        if (db_is_null(&res, 3)) {
            continue;
        }
        sid = db_int(&res, 3);
        for (k = 0; k < c->seats.n && c->seats.id[k] != sid; k++) {
            /* Find the seat in the list. */
        }
        if (k == c->seats.n || seen[k]) {
            continue;
        }
        found++;
        seen[k] = 1;
        c->price[k] = db_int(&res, 6);
        c->prev_hold[k] = db_is_null(&res, 4) ? 0 : db_int(&res, 4);
        c->total += c->price[k];
        busy[k] = db_int(&res, 5) == 0;
        left[k] = db_is_null(&res, 13) ? INT64_MAX : db_int(&res, 13);
    }
    db_res_free(&res);
    if (rc != 0) {
        return DB_ERROR;
    }
    if (rows == 0) {
        /* No performance, so no row to say who asked: ask on its own. */
        rc = auth_require(req, 0);
        return rc != 0 ? rc
               : resp_error(req, 404, "NOT_FOUND", "no such performance");
    }
    if (!c->authenticated) {
        return auth_refuse(req);
    }
    /* Named in the order of the list, whatever order the rows came in. */
    for (k = 0; k < c->seats.n; k++) {
        if (busy[k]) {
            taken_left[c->taken.n] = left[k];
            c->taken.id[c->taken.n++] = c->seats.id[k];
        }
    }
    if (found != c->seats.n) {
        for (k = 0; k < c->seats.n && seen[k]; k++) {
            /* The first seat the performance does not have. */
        }
        c->unknown = c->seats.id[k < c->seats.n ? k : 0];
    }
    if (c->open) {
        hold_seats_taken(req, c, &c->taken, taken_left);
    }
    return 0;
}


/*
 * Refuses, without the pre-check, a request naming a seat this process
 * saw taken within taken_cache_ms (see taken.h).  What the cache cannot
 * know is read in one small statement: whether the session is live and
 * whether the key has an answer to replay.  Returns 0 when the pre-check
 * must decide (no seat known taken, or a replay), RESP_DONE after 401,
 * 403 or 409, or DB_*.
 */
static int
hold_refuse_known(req_t *req, hold_ctx_t *c)
{
    taken_cache_t  *tc = req->thr != NULL ? req->thr->taken : NULL;
    db_res_t        res;
    int             rc, authenticated = 0, answered = 0;

    if (tc == NULL
        || taken_cache_get(tc, c->perf, &c->seats, &c->taken, c->room,
                           &c->has_room, taken_now_ms()) == 0)
    {
        return 0;
    }
    rc = db_exec(req->db, &res,
                 "SELECT " AUTH_USER_COLUMNS ", ik.user_id IS NOT NULL"
                 " FROM sessions sess JOIN users usr ON usr.id = sess.user_id"
                 " LEFT JOIN idempotency_keys ik"
                 "  ON ik.user_id = sess.user_id AND ik.idem_key = ?"
                 " WHERE " AUTH_SESSION_LIVE, "sii", req->idempotency_key,
                 req->claim_session_id, req->claim_user_id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc == 1) {
        authenticated = auth_adopt(req, &res, 0);
        answered = db_int(&res, 4) != 0;
    }
    db_res_free(&res);
    if (rc < 0) {
        return DB_ERROR;
    }
    if (!authenticated) {
        return auth_refuse(req);
    }
    if (answered) {
        return 0;
    }
    rc = performance_room_allows(req, c->has_room ? c->room : NULL,
                                 strlen(c->room));
    return rc != 0 ? rc : hold_unavailable(req, &c->taken);
}


/* The pre-check's refusals, once the room has let the request in. */
static int
hold_verdict(req_t *req, hold_ctx_t *c)
{
    if (c->unknown != 0) {
        return resp_error(req, 422, "UNKNOWN_SEAT",
                          "seat %lld is not part of this performance",
                          (long long) c->unknown);
    }
    if (!c->open) {
        return resp_error(req, 409, "NOT_ON_SALE",
                          "this performance is not on sale");
    }
    if (c->taken.n > 0) {
        return hold_unavailable(req, &c->taken);
    }
    return 0;
}


/* The user's live seats (held or bought) in the performance. */
static int
hold_user_seats(req_t *req, int64_t perf, int64_t *count)
{
    int  rc;

    /*
     * Locking the user's row serialises one user's holds, so that two
     * concurrent holds cannot both pass the limit.  The counts are
     * subqueries of the same statement, which MariaDB neither locks nor
     * runs before the row is locked (they depend on it): they are the
     * transaction's first consistent read, made after the lock, so they
     * see every hold the user committed before.  STRAIGHT_JOIN: from the
     * user's reservations to their seats, which MariaDB chose only once
     * its statistics knew reservation_seats was not empty (before, it
     * read the whole table).
     */
    rc = db_query_int(req->db, count,
                      "SELECT (SELECT COUNT(*) FROM holds h"
                      "  JOIN hold_seats hs ON hs.hold_id = h.id"
                      "  WHERE h.user_id = u.id AND h.performance_id = ?"
                      "  AND h.status = 'active'"
                      "  AND h.expires_at > UTC_TIMESTAMP(3)"
                      "  AND hs.released_at IS NULL)"
                      " + (SELECT COUNT(*) FROM reservations r"
                      "  STRAIGHT_JOIN reservation_seats rs"
                      "   ON rs.reservation_id = r.id"
                      "  WHERE r.user_id = u.id AND r.performance_id = ?"
                      "  AND r.status = 'confirmed'"
                      "  AND rs.released_at IS NULL)"
                      " FROM users u WHERE u.id = ? FOR UPDATE",
                      "iii", perf, perf, req->user->id);
    return rc == 1 ? DB_OK : (rc == 0 ? DB_ERROR : rc);
}


static int
hold_find_taken(req_t *req, hold_ctx_t *c)
{
    db_res_t  res;
    char      types[40];
    int       rc;

    memset(&c->taken, 0, sizeof(c->taken));
    rc = db_exec(req->db, &res, hold_sql(HOLD_SQL_TAKEN, c->seats.n),
                 ids_types(types, "ii", c->seats.n), c->perf, c->hold_id,
                 IDS16(&c->seats));
    if (rc != DB_OK) {
        return rc;
    }
    while ((rc = db_fetch(&res)) == 1 && c->taken.n < IDLIST_MAX) {
        c->taken.id[c->taken.n++] = db_int(&res, 0);
    }
    db_res_free(&res);
    return rc < 0 ? DB_ERROR : DB_OK;
}


static int
hold_seats_record(req_t *req, hold_ctx_t *c)
{
    char  types[40];

    return db_exec(req->db, NULL, hold_sql(HOLD_SQL_RECORD, c->seats.n),
                   ids_types(types, "ii", c->seats.n), c->perf, c->hold_id,
                   IDS16(&c->seats));
}


static int
hold_seats_insert(req_t *req, hold_ctx_t *c)
{
    char  types[40];
    int   rc;

    rc = hold_seats_record(req, c);
    if (rc != DB_DUPLICATE) {
        return rc;
    }
    /*
     * A seat came from an expired hold that the sweeper has not ended yet:
     * its hold_seats row still claims the seat.  Release that claim (only
     * this statement failed; the transaction goes on) and insert again.
     */
    rc = db_exec(req->db, NULL, hold_sql(HOLD_SQL_UNCLAIM, c->seats.n),
                 ids_types(types, "ii", c->seats.n), c->perf, c->hold_id,
                 IDS16(&c->seats));
    if (rc != DB_OK) {
        return rc;
    }
    return hold_seats_record(req, c);
}


static int
hold_audit(req_t *req, hold_ctx_t *c)
{
    audit_batch_t  b;
    char           before[128], after[256];
    int64_t        uid = req->user->id;

    if (audit_batch_init(&b) != 0) {
        return DB_ERROR;
    }
    for (size_t i = 0; i < c->seats.n; i++) {
        if (c->prev_hold[i]) {
            snprintf(before, sizeof(before),
                     "{\"state\":\"held\",\"hold_id\":%lld,\"expired\":true}",
                     (long long) c->prev_hold[i]);
        } else {
            snprintf(before, sizeof(before), "{\"state\":\"available\"}");
        }
        snprintf(after, sizeof(after), "{\"state\":\"held\",\"hold_id\":%lld}",
                 (long long) c->hold_id);
        audit_batch_add(&b, "seat", c->seats.id[i], "hold", c->perf,
                        c->seats.id[i], uid, before, after);
    }
    snprintf(after, sizeof(after),
             "{\"status\":\"active\",\"seats\":%zu,\"total\":%lld,"
             "\"expires_at\":\"%s\"}", c->seats.n, (long long) c->total,
             c->expires_iso);
    audit_batch_add(&b, "hold", c->hold_id, "create", c->perf, 0, uid, NULL,
                    after);
    return audit_batch_write(req->db, &b, uid, req->request_id);
}


static int
hold_create_tx(req_t *req, void *arg)
{
    hold_ctx_t  *c = arg;
    db_res_t     res;
    int64_t      held;
    char         types[40];
    jw_t         w;
    int          rc;

    rc = hold_user_seats(req, c->perf, &held);
    if (rc != DB_OK) {
        return rc;
    }
    if (held + (int64_t) c->seats.n > req->conf->max_seats_per_user) {
        return resp_error(req, 409, "SEAT_LIMIT",
                          "at most %d seats per performance and user;"
                          " you have %lld", req->conf->max_seats_per_user,
                          (long long) held);
    }

    rc = db_exec(req->db, &res,
                 "INSERT INTO holds (user_id, performance_id, expires_at)"
                 " VALUES (?, ?, ?)", "iis", req->user->id, c->perf,
                 c->expires_sql);
    if (rc != DB_OK) {
        return rc;
    }
    c->hold_id = (int64_t) res.insert_id;

    rc = db_exec(req->db, &res, hold_sql(HOLD_SQL_CLAIM, c->seats.n),
                 ids_types(types, "isi", c->seats.n), c->hold_id,
                 c->expires_sql, c->perf, IDS16(&c->seats));
    if (rc != DB_OK) {
        return rc;
    }
    if (res.affected != c->seats.n) {
        /* Someone claimed a seat after the pre-check: all or nothing. */
        rc = hold_find_taken(req, c);
        if (rc != DB_OK) {
            return rc;
        }
        return hold_unavailable(req, &c->taken);
    }

    rc = hold_seats_insert(req, c);
    if (rc == DB_OK) {
        rc = hold_audit(req, c);
    }
    if (rc != DB_OK) {
        return rc;
    }

    if (jw_init(&w) != 0) {
        return DB_ERROR;
    }
    hold_json(&w, c->hold_id, c->perf, "active", &c->seats, c->price,
              c->total, c->expires_iso);
    rc = resp_json(req, 201, &w);
    jw_free(&w);
    return req->status == 201 ? 0 : rc;
}


int
h_hold_create(req_t *req)
{
    hold_ctx_t  *c;
    jv_err_t     err;
    yajl_val     arr;
    idem_t       st;
    int64_t      bad = 0;
    int          rc;

    rc = jv_array(req->json, "seat_ids", 1, 0, 1000, &arr, &err);
    if (rc < 0) {
        return resp_error(req, 400, "VALIDATION", "%s", err.message);
    }
    c = calloc(1, sizeof(*c));
    if (c == NULL) {
        return DB_ERROR;
    }
    c->perf = req->params[0];
    rc = idlist_from_json(&c->seats, arr, 1,
                          (size_t) req->conf->max_seats_per_user, &bad);
    if (rc != IDLIST_OK) {
        free(c);
        if (rc == IDLIST_DUPLICATE) {
            return resp_error(req, 400, "VALIDATION",
                              "seat %lld is named twice", (long long) bad);
        }
        if (rc == IDLIST_SIZE) {
            return resp_error(req, 400, "VALIDATION",
                              "seat_ids must name 1 to %d seats",
                              req->conf->max_seats_per_user);
        }
        return resp_error(req, 400, "VALIDATION",
                          "seat_ids must be an array of seat ids");
    }

    /*
     * The pre-check looks the key up itself; a refusal it decides is not
     * stored (see idempotency.h), so most attempts at a contended seat
     * cost this one statement, and those at a seat this process saw taken
     * a moment ago a smaller one (hold_refuse_known()).
     */
    rc = idem_start(req, &st, 0);
    if (rc == 0) {
        rc = hold_refuse_known(req, c);
    }
    if (rc == 0) {
        rc = hold_precheck(req, c);
    }
    if (rc == 0 && c->answered) {
        rc = idem_replay(req, &st);
    }
    if (rc == 0) {
        rc = performance_room_allows(req, c->has_room ? c->room : NULL,
                                     strlen(c->room));
    }
    if (rc == 0) {
        rc = hold_verdict(req, c);
    }
    if (rc == 0) {
        rc = idem_tx(req, &st, hold_create_tx, c);
        if (req->status == 201) {
            hold_seats_taken(req, c, &c->seats, NULL);
        } else if (req->status == 409) {
            /* Lost a seat between the pre-check and the claim. */
            hold_seats_taken(req, c, &c->taken, NULL);
        }
    }
    free(c);
    return rc;
}


/* GET /api/holds/{id}: the owner's hold, 404 for anyone else. */
int
h_hold_get(req_t *req)
{
    idlist_t  seats;
    db_res_t  res;
    int64_t   price[IDLIST_MAX], total = 0, perf = 0, owner = 0;
    char      status[16] = "", expires[40] = "";
    jw_t      w;
    int       rc;

    memset(&seats, 0, sizeof(seats));
    rc = db_exec(req->db, &res,
                 "SELECT h.user_id, h.performance_id,"
                 " IF(h.status = 'active' AND h.expires_at <= UTC_TIMESTAMP(3),"
                 "  'expired', h.status),"
                 " DATE_FORMAT(h.expires_at, " ISO_FMT "), hs.seat_id, hs.price"
                 " FROM holds h JOIN hold_seats hs ON hs.hold_id = h.id"
                 " WHERE h.id = ? ORDER BY hs.seat_id", "i", req->params[0]);
    if (rc != DB_OK) {
        return rc;
    }
    while ((rc = db_fetch(&res)) == 1 && seats.n < IDLIST_MAX) {
        owner = db_int(&res, 0);
        perf = db_int(&res, 1);
        snprintf(status, sizeof(status), "%s", db_str(&res, 2, NULL));
        snprintf(expires, sizeof(expires), "%s", db_str(&res, 3, NULL));
        seats.id[seats.n] = db_int(&res, 4);
        price[seats.n] = db_int(&res, 5);
        total += price[seats.n++];
    }
    db_res_free(&res);
    if (rc < 0) {
        return DB_ERROR;
    }
    if (seats.n == 0 || owner != req->user->id) {
        return resp_error(req, 404, "HOLD_NOT_FOUND", "no such hold");
    }
    if (jw_init(&w) != 0) {
        return DB_ERROR;
    }
    hold_json(&w, req->params[0], perf, status, &seats, price, total,
              expires);
    rc = resp_json(req, 200, &w);
    jw_free(&w);
    return rc;
}


int
hold_end(req_t *req, int64_t hold_id, int64_t performance_id,
    int64_t user_id, const char *status, int64_t actor)
{
    audit_batch_t  b;
    idlist_t       seats;
    db_res_t       res;
    char           after[128];
    const char    *action;
    int            rc;

    memset(&seats, 0, sizeof(seats));
    rc = db_exec(req->db, &res,
                 "SELECT seat_id FROM performance_seats"
                 " WHERE hold_id = ? AND state = 'held'"
                 " ORDER BY performance_id, seat_id FOR UPDATE",
                 "i", hold_id);
    if (rc != DB_OK) {
        return rc;
    }
    while ((rc = db_fetch(&res)) == 1 && seats.n < IDLIST_MAX) {
        seats.id[seats.n++] = db_int(&res, 0);
    }
    db_res_free(&res);
    if (rc < 0) {
        return DB_ERROR;
    }

    if (seats.n > 0) {
        hold_seats_freed(req, performance_id, &seats);
        rc = db_exec(req->db, NULL,
                     "UPDATE performance_seats SET state = 'available',"
                     " hold_id = NULL, hold_expires_at = NULL,"
                     " updated_at = UTC_TIMESTAMP(3)"
                     " WHERE hold_id = ? AND state = 'held'", "i", hold_id);
        if (rc != DB_OK) {
            return rc;
        }
    }
    rc = db_exec(req->db, NULL,
                 "UPDATE hold_seats SET released_at = UTC_TIMESTAMP(3)"
                 " WHERE hold_id = ? AND released_at IS NULL", "i", hold_id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_exec(req->db, NULL,
                 "UPDATE holds SET status = ?, updated_at = UTC_TIMESTAMP(3)"
                 " WHERE id = ?", "si", status, hold_id);
    if (rc != DB_OK) {
        return rc;
    }

    action = strcmp(status, "expired") == 0 ? "expire" : "release";
    if (audit_batch_init(&b) != 0) {
        return DB_ERROR;
    }
    snprintf(after, sizeof(after), "{\"state\":\"available\"}");
    for (size_t i = 0; i < seats.n; i++) {
        char  before[64];

        snprintf(before, sizeof(before),
                 "{\"state\":\"held\",\"hold_id\":%lld}", (long long) hold_id);
        audit_batch_add(&b, "seat", seats.id[i], action, performance_id,
                        seats.id[i], user_id, before, after);
    }
    snprintf(after, sizeof(after), "{\"status\":\"%s\"}", status);
    audit_batch_add(&b, "hold", hold_id, action, performance_id, 0, user_id,
                    "{\"status\":\"active\"}", after);
    return audit_batch_write(req->db, &b, actor, req->request_id);
}


static int
hold_release_tx(req_t *req, void *arg)
{
    db_res_t  res;
    int64_t   owner, perf, expired;
    char      status[16];
    int       rc;

    (void) arg;
    rc = db_exec(req->db, &res,
                 "SELECT user_id, performance_id, status,"
                 " expires_at <= UTC_TIMESTAMP(3)"
                 " FROM holds WHERE id = ? FOR UPDATE", "i", req->params[0]);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc != 1) {
        db_res_free(&res);
        return rc < 0 ? DB_ERROR
               : resp_error(req, 404, "HOLD_NOT_FOUND", "no such hold");
    }
    owner = db_int(&res, 0);
    perf = db_int(&res, 1);
    snprintf(status, sizeof(status), "%s", db_str(&res, 2, NULL));
    expired = db_int(&res, 3);
    db_res_free(&res);

    if (owner != req->user->id) {
        return resp_error(req, 404, "HOLD_NOT_FOUND", "no such hold");
    }
    if (strcmp(status, "converted") == 0) {
        return resp_error(req, 409, "HOLD_CONVERTED",
                          "this hold was paid for; cancel the reservation");
    }
    if (strcmp(status, "active") == 0) {
        rc = hold_end(req, req->params[0], perf, owner,
                      expired ? "expired" : "released", owner);
        if (rc != DB_OK) {
            return rc;
        }
    }
    /* Releasing a hold that has ended already is harmless. */
    resp_empty(req, 204);
    return 0;
}


int
h_hold_release(req_t *req)
{
    return req_tx(req, hold_release_tx, NULL);
}
