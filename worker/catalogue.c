/*
 * The public catalogue: events and their performances.
 */

#include <string.h>

#include "catalogue.h"
#include "handlers.h"

#define ISO_FMT  "'%Y-%m-%dT%H:%i:%sZ'"

/* The columns of a performance as write_performance() reads them. */
#define PERFORMANCE_COLUMNS                                                  \
    "p.id, p.event_id, p.venue_id, v.name,"                                  \
    " DATE_FORMAT(p.starts_at, " ISO_FMT "),"                                \
    " DATE_FORMAT(p.on_sale_at, " ISO_FMT "),"                               \
    " p.on_sale_at <= UTC_TIMESTAMP(), p.room, p.seats_total"                \
    " FROM performances p JOIN venues v ON v.id = p.venue_id"


int
category_is_valid(const char *s)
{
    return strcmp(s, "concert") == 0 || strcmp(s, "musical") == 0
           || strcmp(s, "sports") == 0;
}


int
performance_seats_changed(req_t *req, int64_t performance_id)
{
    return db_exec(req->db, NULL,
                   "UPDATE performances SET seat_version = seat_version + 1,"
                   " seat_changed_at = UTC_TIMESTAMP(3) WHERE id = ?",
                   "i", performance_id);
}


/*
 * Seats sold or held by a live hold; an expired hold counts as available,
 * as in the seat map.  One statement per performance with a constant id,
 * so that it is a range over (performance_id, state, hold_expires_at) and
 * reads only the taken seats: as a correlated subquery in a prepared
 * statement, MariaDB scanned the whole inventory instead.
 */
static int
performance_taken(req_t *req, int64_t performance_id, int64_t *taken)
{
    int  rc;

    rc = db_query_int(req->db, taken,
                      "SELECT COUNT(*) FROM performance_seats"
                      " WHERE performance_id = ? AND (state = 'sold'"
                      " OR (state = 'held'"
                      " AND hold_expires_at > UTC_TIMESTAMP(3)))",
                      "i", performance_id);
    return rc == 1 ? DB_OK : (rc == 0 ? DB_ERROR : rc);
}


static int
write_performance(req_t *req, jw_t *w, const db_res_t *res)
{
    int64_t  taken;
    int      rc;

    rc = performance_taken(req, db_int(res, 0), &taken);
    if (rc != DB_OK) {
        return rc;
    }
    jw_obj_open(w);
    jw_kv_int(w, "id", db_int(res, 0));
    jw_kv_int(w, "event_id", db_int(res, 1));
    jw_key(w, "venue");
    jw_obj_open(w);
    jw_kv_int(w, "id", db_int(res, 2));
    jw_kv_str(w, "name", db_str(res, 3, NULL));
    jw_obj_close(w);
    jw_kv_str(w, "starts_at", db_str(res, 4, NULL));
    jw_kv_str(w, "on_sale_at", db_str(res, 5, NULL));
    jw_kv_bool(w, "on_sale", db_int(res, 6) != 0);
    jw_kv_str(w, "room", db_is_null(res, 7) ? NULL : db_str(res, 7, NULL));
    jw_kv_int(w, "seats_total", db_int(res, 8));
    jw_kv_int(w, "seats_available", db_int(res, 8) - taken);
    jw_obj_close(w);
    return DB_OK;
}


/* GET /api/events[?category=concert|musical|sports] */
int
h_events_list(req_t *req)
{
    const char  *category;
    db_res_t     res;
    jw_t         w;
    int          rc;

    category = query_get(&req->query, "category");
    if (category != NULL && !category_is_valid(category)) {
        return resp_error(req, 400, "VALIDATION",
                          "category must be concert, musical or sports");
    }

    rc = db_exec(req->db, &res,
                 "SELECT e.id, e.title, e.category, e.description,"
                 " COUNT(p.id),"
                 " DATE_FORMAT(MIN(p.starts_at), " ISO_FMT "),"
                 " DATE_FORMAT(MAX(p.starts_at), " ISO_FMT ")"
                 " FROM events e LEFT JOIN performances p ON p.event_id = e.id"
                 " WHERE ? IS NULL OR e.category = ?"
                 " GROUP BY e.id ORDER BY e.id",
                 "ss", category, category);
    if (rc != DB_OK) {
        return rc;
    }
    if (jw_init(&w) != 0) {
        db_res_free(&res);
        return resp_error(req, 500, "INTERNAL", "out of memory");
    }
    jw_obj_open(&w);
    jw_key(&w, "events");
    jw_arr_open(&w);
    while ((rc = db_fetch(&res)) == 1) {
        jw_obj_open(&w);
        jw_kv_int(&w, "id", db_int(&res, 0));
        jw_kv_str(&w, "title", db_str(&res, 1, NULL));
        jw_kv_str(&w, "category", db_str(&res, 2, NULL));
        jw_kv_str(&w, "description",
                  db_is_null(&res, 3) ? NULL : db_str(&res, 3, NULL));
        jw_kv_int(&w, "performances", db_int(&res, 4));
        jw_kv_str(&w, "first_starts_at",
                  db_is_null(&res, 5) ? NULL : db_str(&res, 5, NULL));
        jw_kv_str(&w, "last_starts_at",
                  db_is_null(&res, 6) ? NULL : db_str(&res, 6, NULL));
        jw_obj_close(&w);
    }
    db_res_free(&res);
    jw_arr_close(&w);
    jw_obj_close(&w);
    if (rc < 0) {
        jw_free(&w);
        return rc;
    }
    rc = resp_json(req, 200, &w);
    jw_free(&w);
    return rc;
}


/* GET /api/events/{id}: the event with its performances. */
int
h_event_get(req_t *req)
{
    db_res_t  res;
    jw_t      w;
    int       rc;

    rc = db_exec(req->db, &res,
                 "SELECT id, title, category, description FROM events"
                 " WHERE id = ?", "i", req->params[0]);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc <= 0) {
        db_res_free(&res);
        return rc < 0 ? rc : resp_error(req, 404, "NOT_FOUND", "no such event");
    }
    if (jw_init(&w) != 0) {
        db_res_free(&res);
        return resp_error(req, 500, "INTERNAL", "out of memory");
    }
    jw_obj_open(&w);
    jw_kv_int(&w, "id", db_int(&res, 0));
    jw_kv_str(&w, "title", db_str(&res, 1, NULL));
    jw_kv_str(&w, "category", db_str(&res, 2, NULL));
    jw_kv_str(&w, "description",
              db_is_null(&res, 3) ? NULL : db_str(&res, 3, NULL));
    db_res_free(&res);

    rc = db_exec(req->db, &res,
                 "SELECT " PERFORMANCE_COLUMNS
                 " WHERE p.event_id = ? ORDER BY p.starts_at, p.id",
                 "i", req->params[0]);
    if (rc != DB_OK) {
        jw_free(&w);
        return rc;
    }
    jw_key(&w, "performances");
    jw_arr_open(&w);
    while ((rc = db_fetch(&res)) == 1) {
        rc = write_performance(req, &w, &res);
        if (rc != DB_OK) {
            break;
        }
    }
    db_res_free(&res);
    jw_arr_close(&w);
    jw_obj_close(&w);
    if (rc < 0) {
        jw_free(&w);
        return rc;
    }
    rc = resp_json(req, 200, &w);
    jw_free(&w);
    return rc;
}


/* GET /api/performances/{id} */
int
h_performance_get(req_t *req)
{
    db_res_t  res;
    jw_t      w;
    int       rc;

    rc = db_exec(req->db, &res, "SELECT " PERFORMANCE_COLUMNS
                 " WHERE p.id = ?", "i", req->params[0]);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc <= 0) {
        db_res_free(&res);
        return rc < 0 ? rc
               : resp_error(req, 404, "NOT_FOUND", "no such performance");
    }
    if (jw_init(&w) != 0) {
        db_res_free(&res);
        return resp_error(req, 500, "INTERNAL", "out of memory");
    }
    rc = write_performance(req, &w, &res);
    db_res_free(&res);
    if (rc != DB_OK) {
        jw_free(&w);
        return rc;
    }
    rc = resp_json(req, 200, &w);
    jw_free(&w);
    return rc;
}
