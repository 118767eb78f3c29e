/*
 * The administrators' catalogue API: venues, events, performances and
 * the waiting room a performance's sale goes through.  Every change is
 * audited in its transaction.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "catalogue.h"
#include "handlers.h"
#include "log.h"

#define VENUE_MAX_TIERS      26
#define VENUE_MAX_SECTIONS   100
#define VENUE_MAX_ROWS       1000
#define VENUE_MAX_ROW_SEATS  1000
#define VENUE_MAX_SEATS      100000


typedef struct {
    const char  *name;
    const char  *address;
    yajl_val     tiers;
    yajl_val     sections;
    int64_t      tier_ids[VENUE_MAX_TIERS];
    char         tier_codes[VENUE_MAX_TIERS];
    int64_t      venue_id;
    int64_t      nseats;
} venue_in_t;


/* Reads the tier codes and counts seats; writes 400 on the first error. */
static int
venue_validate(req_t *req, venue_in_t *v)
{
    const char  *s;
    yajl_val     rows, sec, row;
    jv_err_t     err;
    int64_t      n;
    size_t       i, j, k;

    if (jv_string(req->json, "name", 1, 1, 100, &v->name, &err) < 0
        || jv_string(req->json, "address", 0, 0, 255, &v->address, &err) < 0
        || jv_array(req->json, "tiers", 1, 1, VENUE_MAX_TIERS, &v->tiers,
                    &err) < 0
        || jv_array(req->json, "sections", 1, 1, VENUE_MAX_SECTIONS,
                    &v->sections, &err) < 0)
    {
        return resp_error(req, 400, "VALIDATION", "%s", err.message);
    }

    for (i = 0; i < v->tiers->u.array.len; i++) {
        yajl_val  t = v->tiers->u.array.values[i];

        if (!YAJL_IS_OBJECT(t)
            || jv_string(t, "code", 1, 1, 1, &s, &err) < 0
            || jv_string(t, "name", 1, 1, 50, &s, &err) < 0
            || jv_int(t, "price", 1, 0, 100000000000LL, &n, &err) < 0)
        {
            return resp_error(req, 400, "VALIDATION", "tiers[%zu]: %s", i,
                              YAJL_IS_OBJECT(t) ? err.message
                              : "must be an object");
        }
        jv_string(t, "code", 1, 1, 1, &s, &err);
        if (!name_is_token(s, 1) || s[0] == '-' || s[0] == '_') {
            return resp_error(req, 400, "VALIDATION",
                              "tiers[%zu]: code must be a letter or digit", i);
        }
        for (k = 0; k < i; k++) {
            if (v->tier_codes[k] == s[0]) {
                return resp_error(req, 400, "VALIDATION",
                                  "tiers[%zu]: duplicate code", i);
            }
        }
        v->tier_codes[i] = s[0];
    }

    v->nseats = 0;
    for (i = 0; i < v->sections->u.array.len; i++) {
        sec = v->sections->u.array.values[i];
        if (!YAJL_IS_OBJECT(sec)
            || jv_string(sec, "name", 1, 1, 32, &s, &err) < 0
            || jv_array(sec, "rows", 1, 1, VENUE_MAX_ROWS, &rows, &err) < 0)
        {
            return resp_error(req, 400, "VALIDATION", "sections[%zu]: %s", i,
                              YAJL_IS_OBJECT(sec) ? err.message
                              : "must be an object");
        }
        for (j = 0; j < rows->u.array.len; j++) {
            int64_t  first = 1;

            row = rows->u.array.values[j];
            if (!YAJL_IS_OBJECT(row)
                || jv_string(row, "name", 1, 1, 16, &s, &err) < 0
                || jv_int(row, "seats", 1, 1, VENUE_MAX_ROW_SEATS, &n,
                          &err) < 0
                || jv_int(row, "first_number", 0, 0, 1000000, &first,
                          &err) < 0
                || jv_string(row, "tier", 1, 1, 1, &s, &err) < 0)
            {
                return resp_error(req, 400, "VALIDATION",
                                  "sections[%zu].rows[%zu]: %s", i, j,
                                  YAJL_IS_OBJECT(row) ? err.message
                                  : "must be an object");
            }
            if (memchr(v->tier_codes, s[0], v->tiers->u.array.len) == NULL) {
                return resp_error(req, 400, "VALIDATION",
                                  "sections[%zu].rows[%zu]: unknown tier", i,
                                  j);
            }
            v->nseats += n;
        }
    }
    if (v->nseats > VENUE_MAX_SEATS) {
        return resp_error(req, 400, "VALIDATION",
                          "a venue has at most %d seats", VENUE_MAX_SEATS);
    }
    return 0;
}


static int64_t
venue_tier_id(const venue_in_t *v, char code)
{
    const char  *p = memchr(v->tier_codes, code, v->tiers->u.array.len);

    return p != NULL ? v->tier_ids[p - v->tier_codes] : 0;
}


static int
venue_insert_rows(req_t *req, venue_in_t *v, int64_t section_id,
    yajl_val rows)
{
    const char  *name, *tier;
    db_res_t     res;
    jv_err_t     err;
    int64_t      seats, first;
    int          rc;

    for (size_t j = 0; j < rows->u.array.len; j++) {
        yajl_val  row = rows->u.array.values[j];

        first = 1;
        jv_string(row, "name", 1, 1, 16, &name, &err);
        jv_int(row, "seats", 1, 1, VENUE_MAX_ROW_SEATS, &seats, &err);
        jv_int(row, "first_number", 0, 0, 1000000, &first, &err);
        jv_string(row, "tier", 1, 1, 1, &tier, &err);

        rc = db_exec(req->db, &res,
                     "INSERT INTO seat_rows (section_id, name, position)"
                     " VALUES (?, ?, ?)",
                     "isi", section_id, name, (int64_t) j + 1);
        if (rc == DB_DUPLICATE) {
            return resp_error(req, 400, "VALIDATION",
                              "duplicate row name \"%s\"", name);
        }
        if (rc != DB_OK) {
            return rc;
        }

        /* One statement per row; numbers run from first_number. */
        rc = db_exec(req->db, NULL,
                     "INSERT INTO seats (venue_id, row_id, number, tier_id)"
                     " WITH RECURSIVE n (i) AS (SELECT 0 UNION ALL"
                     " SELECT i + 1 FROM n WHERE i + 1 < ?)"
                     " SELECT ?, ?, ? + i, ? FROM n ORDER BY i",
                     "iiiii", seats, v->venue_id, (int64_t) res.insert_id,
                     first, venue_tier_id(v, tier[0]));
        if (rc != DB_OK) {
            return rc;
        }
    }
    return 0;
}


static int
venue_tx(req_t *req, void *arg)
{
    venue_in_t  *v = arg;
    const char  *s, *name;
    db_res_t     res;
    jv_err_t     err;
    yajl_val     rows;
    int64_t      price;
    jw_t         w;
    char        *a;
    int          rc;

    rc = db_exec(req->db, &res,
                 "INSERT INTO venues (name, address) VALUES (?, ?)",
                 "ss", v->name, v->address);
    if (rc == DB_DUPLICATE) {
        return resp_error(req, 409, "VENUE_EXISTS",
                          "a venue with this name exists");
    }
    if (rc != DB_OK) {
        return rc;
    }
    v->venue_id = (int64_t) res.insert_id;

    for (size_t i = 0; i < v->tiers->u.array.len; i++) {
        yajl_val  t = v->tiers->u.array.values[i];

        jv_string(t, "code", 1, 1, 1, &s, &err);
        jv_string(t, "name", 1, 1, 50, &name, &err);
        jv_int(t, "price", 1, 0, 100000000000LL, &price, &err);
        rc = db_exec(req->db, &res,
                     "INSERT INTO price_tiers (venue_id, code, name, price)"
                     " VALUES (?, ?, ?, ?)", "issi", v->venue_id, s, name,
                     price);
        if (rc != DB_OK) {
            return rc;
        }
        v->tier_ids[i] = (int64_t) res.insert_id;
    }

    for (size_t i = 0; i < v->sections->u.array.len; i++) {
        yajl_val  sec = v->sections->u.array.values[i];

        jv_string(sec, "name", 1, 1, 32, &name, &err);
        jv_array(sec, "rows", 1, 1, VENUE_MAX_ROWS, &rows, &err);
        rc = db_exec(req->db, &res,
                     "INSERT INTO sections (venue_id, name, position)"
                     " VALUES (?, ?, ?)", "isi", v->venue_id, name,
                     (int64_t) i + 1);
        if (rc == DB_DUPLICATE) {
            return resp_error(req, 400, "VALIDATION",
                              "duplicate section name \"%s\"", name);
        }
        if (rc != DB_OK) {
            return rc;
        }
        rc = venue_insert_rows(req, v, (int64_t) res.insert_id, rows);
        if (rc != 0) {
            return rc;
        }
    }

    if (jw_init(&w) != 0) {
        return DB_ERROR;
    }
    jw_obj_open(&w);
    jw_kv_int(&w, "id", v->venue_id);
    jw_kv_str(&w, "name", v->name);
    jw_kv_int(&w, "seats", v->nseats);
    jw_obj_close(&w);
    a = jw_strdup(&w);
    jw_free(&w);
    if (a == NULL) {
        return DB_ERROR;
    }
    rc = audit_write(req, req->user->id, "venue", v->venue_id, "create",
                     NULL, a);
    free(a);
    return rc;
}


/* POST /api/admin/venues */
int
h_admin_venues_create(req_t *req)
{
    venue_in_t  v;
    jw_t        w;
    int         rc;

    memset(&v, 0, sizeof(v));
    rc = venue_validate(req, &v);
    if (rc != 0) {
        return rc;
    }
    rc = req_tx(req, venue_tx, &v);
    if (rc != 0) {
        return rc;
    }
    if (jw_init(&w) != 0) {
        return resp_error(req, 500, "INTERNAL", "out of memory");
    }
    jw_obj_open(&w);
    jw_kv_int(&w, "id", v.venue_id);
    jw_kv_str(&w, "name", v.name);
    jw_kv_int(&w, "seats", v.nseats);
    jw_obj_close(&w);
    rc = resp_json(req, 201, &w);
    jw_free(&w);
    return rc;
}


typedef struct {
    const char  *title;
    const char  *category;
    const char  *description;
    int64_t      id;
    char        *json;
} event_in_t;


static char *
event_json(const event_in_t *e)
{
    jw_t   w;
    char  *s;

    if (jw_init(&w) != 0) {
        return NULL;
    }
    jw_obj_open(&w);
    jw_kv_int(&w, "id", e->id);
    jw_kv_str(&w, "title", e->title);
    jw_kv_str(&w, "category", e->category);
    jw_kv_str(&w, "description", e->description);
    jw_obj_close(&w);
    s = jw_strdup(&w);
    jw_free(&w);
    return s;
}


static int
event_tx(req_t *req, void *arg)
{
    event_in_t  *e = arg;
    db_res_t     res;
    int          rc;

    rc = db_exec(req->db, &res,
                 "INSERT INTO events (title, category, description)"
                 " VALUES (?, ?, ?)", "sss", e->title, e->category,
                 e->description);
    if (rc != DB_OK) {
        return rc;
    }
    e->id = (int64_t) res.insert_id;
    free(e->json);
    e->json = event_json(e);
    if (e->json == NULL) {
        return DB_ERROR;
    }
    return audit_write(req, req->user->id, "event", e->id, "create", NULL,
                       e->json);
}


/* POST /api/admin/events {title, category, description?} */
int
h_admin_events_create(req_t *req)
{
    event_in_t  e;
    jv_err_t    err;
    int         rc;

    memset(&e, 0, sizeof(e));
    if (jv_string(req->json, "title", 1, 1, 200, &e.title, &err) < 0
        || jv_string(req->json, "category", 1, 1, 16, &e.category, &err) < 0
        || jv_string(req->json, "description", 0, 0, 5000, &e.description,
                     &err) < 0)
    {
        return resp_error(req, 400, "VALIDATION", "%s", err.message);
    }
    if (!category_is_valid(e.category)) {
        return resp_error(req, 400, "VALIDATION",
                          "category must be concert, musical or sports");
    }
    rc = req_tx(req, event_tx, &e);
    if (rc == 0) {
        rc = resp_body(req, 201, "application/json", e.json, strlen(e.json));
    }
    free(e.json);
    return rc;
}


typedef struct {
    int64_t      event_id;
    int64_t      venue_id;
    char         starts_at[32];
    char         on_sale_at[32];
    const char  *room;
    int64_t      id;
} perf_in_t;


static int
perf_tx(req_t *req, void *arg)
{
    perf_in_t  *p = arg;
    db_res_t    res;
    int64_t     found;
    char        after[512];
    int         rc;

    rc = db_query_int(req->db, &found, "SELECT id FROM events WHERE id = ?",
                      "i", p->event_id);
    if (rc <= 0) {
        return rc < 0 ? rc : resp_error(req, 404, "NOT_FOUND",
                                        "no such event");
    }
    rc = db_query_int(req->db, &found,
                      "SELECT id FROM venues WHERE id = ? LOCK IN SHARE MODE",
                      "i", p->venue_id);
    if (rc <= 0) {
        return rc < 0 ? rc : resp_error(req, 404, "NOT_FOUND",
                                        "no such venue");
    }

    rc = db_exec(req->db, &res,
                 "INSERT INTO performances (event_id, venue_id, starts_at,"
                 " on_sale_at, room) VALUES (?, ?, ?, ?, ?)",
                 "iisss", p->event_id, p->venue_id, p->starts_at,
                 p->on_sale_at, p->room);
    if (rc == DB_DUPLICATE) {
        return resp_error(req, 409, "PERFORMANCE_EXISTS",
                          "this event already plays there at that time");
    }
    if (rc != DB_OK) {
        return rc;
    }
    p->id = (int64_t) res.insert_id;

    rc = db_exec(req->db, &res,
                 "INSERT INTO performance_seats (performance_id, seat_id)"
                 " SELECT ?, id FROM seats WHERE venue_id = ? ORDER BY id",
                 "ii", p->id, p->venue_id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_exec(req->db, NULL,
                 "UPDATE performances SET seats_total = ? WHERE id = ?",
                 "ii", (int64_t) res.affected, p->id);
    if (rc != DB_OK) {
        return rc;
    }

    snprintf(after, sizeof(after),
             "{\"id\":%lld,\"event_id\":%lld,\"venue_id\":%lld,"
             "\"starts_at\":\"%s\",\"on_sale_at\":\"%s\"}",
             (long long) p->id, (long long) p->event_id,
             (long long) p->venue_id, p->starts_at, p->on_sale_at);
    rc = audit_write(req, req->user->id, "performance", p->id, "create", NULL,
                     after);
    if (rc != DB_OK || p->room == NULL) {
        return rc;
    }
    snprintf(after, sizeof(after), "{\"room\":\"%s\"}", p->room);
    return audit_write(req, req->user->id, "performance", p->id, "set_room",
                       "{\"room\":null}", after);
}


/* POST /api/admin/performances {event_id, venue_id, starts_at,
 * on_sale_at?, room?}: creates the performance and its seat inventory. */
int
h_admin_performances_create(req_t *req)
{
    const char  *starts, *on_sale = NULL;
    perf_in_t    p;
    jv_err_t     err;
    time_t       ts, tos;
    int          rc;

    memset(&p, 0, sizeof(p));
    if (jv_int(req->json, "event_id", 1, 1, INT64_MAX, &p.event_id, &err) < 0
        || jv_int(req->json, "venue_id", 1, 1, INT64_MAX, &p.venue_id,
                  &err) < 0
        || jv_string(req->json, "starts_at", 1, 1, 40, &starts, &err) < 0
        || jv_string(req->json, "on_sale_at", 0, 1, 40, &on_sale, &err) < 0
        || jv_string(req->json, "room", 0, 1, TICKET_TOKEN_ROOM_MAX, &p.room,
                     &err) < 0)
    {
        return resp_error(req, 400, "VALIDATION", "%s", err.message);
    }
    if (time_parse_iso8601(starts, &ts) != 0) {
        return resp_error(req, 400, "VALIDATION",
                          "starts_at must be like 2027-01-31T19:30:00Z");
    }
    tos = time(NULL);
    if (on_sale != NULL && time_parse_iso8601(on_sale, &tos) != 0) {
        return resp_error(req, 400, "VALIDATION",
                          "on_sale_at must be like 2027-01-01T10:00:00Z");
    }
    if (tos > ts) {
        return resp_error(req, 400, "VALIDATION",
                          "on_sale_at must not be after starts_at");
    }
    if (p.room != NULL && !name_is_token(p.room, TICKET_TOKEN_ROOM_MAX)) {
        return resp_error(req, 400, "VALIDATION",
                          "room must be letters, digits, '-' or '_'");
    }
    time_format_sql(p.starts_at, sizeof(p.starts_at), ts);
    time_format_sql(p.on_sale_at, sizeof(p.on_sale_at), tos);

    rc = req_tx(req, perf_tx, &p);
    if (rc != 0) {
        return rc;
    }
    /* Answer with the same document as GET /api/performances/{id}. */
    req->params[0] = p.id;
    req->nparams = 1;
    rc = h_performance_get(req);
    if (req->responded && req->status == 200) {
        req->status = 201;
    }
    return rc;
}


typedef struct {
    const char  *room;     /* NULL clears */
} room_in_t;


static char *
room_json(const char *room)
{
    jw_t   w;
    char  *s;

    if (jw_init(&w) != 0) {
        return NULL;
    }
    jw_obj_open(&w);
    jw_kv_str(&w, "room", room);
    jw_obj_close(&w);
    s = jw_strdup(&w);
    jw_free(&w);
    return s;
}


static int
room_tx(req_t *req, void *arg)
{
    room_in_t  *r = arg;
    db_res_t    res;
    char       *before, *after;
    int         rc;

    rc = db_exec(req->db, &res,
                 "SELECT room FROM performances WHERE id = ? FOR UPDATE",
                 "i", req->params[0]);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc <= 0) {
        db_res_free(&res);
        return rc < 0 ? rc : resp_error(req, 404, "NOT_FOUND",
                                        "no such performance");
    }
    before = room_json(db_is_null(&res, 0) ? NULL : db_str(&res, 0, NULL));
    db_res_free(&res);
    after = room_json(r->room);
    if (before == NULL || after == NULL) {
        free(before);
        free(after);
        return DB_ERROR;
    }

    rc = db_exec(req->db, NULL, "UPDATE performances SET room = ? WHERE id = ?",
                 "si", r->room, req->params[0]);
    if (rc == DB_OK) {
        rc = audit_write(req, req->user->id, "performance", req->params[0],
                         r->room != NULL ? "set_room" : "clear_room", before,
                         after);
    }
    free(before);
    free(after);
    return rc;
}


static int
room_apply(req_t *req, const char *room)
{
    room_in_t  r;
    jw_t       w;
    int        rc;

    r.room = room;
    rc = req_tx(req, room_tx, &r);
    if (rc != 0) {
        return rc;
    }
    if (jw_init(&w) != 0) {
        return resp_error(req, 500, "INTERNAL", "out of memory");
    }
    jw_obj_open(&w);
    jw_kv_int(&w, "id", req->params[0]);
    jw_kv_str(&w, "room", room);
    jw_obj_close(&w);
    rc = resp_json(req, 200, &w);
    jw_free(&w);
    return rc;
}


/* PUT /api/admin/performances/{id}/room {"room": "name" | null} */
int
h_admin_performance_room_set(req_t *req)
{
    const char  *room = NULL;
    jv_err_t     err;

    if (json_field(req->json, "room") == NULL) {
        return resp_error(req, 400, "VALIDATION",
                          "field \"room\" is required (null clears it)");
    }
    if (jv_string(req->json, "room", 0, 1, TICKET_TOKEN_ROOM_MAX, &room,
                  &err) < 0)
    {
        return resp_error(req, 400, "VALIDATION", "%s", err.message);
    }
    if (room != NULL && !name_is_token(room, TICKET_TOKEN_ROOM_MAX)) {
        return resp_error(req, 400, "VALIDATION",
                          "room must be letters, digits, '-' or '_'");
    }
    return room_apply(req, room);
}


/* DELETE /api/admin/performances/{id}/room */
int
h_admin_performance_room_clear(req_t *req)
{
    return room_apply(req, NULL);
}
