/*
 * GET /api/performances/{id}/seats: the whole seat map.
 *
 * The venue's layout (sections, rows, seat ids, numbers, tiers) never
 * changes once created, so each thread keeps it per venue and a request
 * only reads the performance's version and its non-available seats (an
 * index range).  The body groups seats by section and row; a row lists
 * its first seat id and first number when they run consecutively, and
 * its states as one character per seat:
 *   a available (an expired hold is available), h held, s sold.
 *
 * The ETag is a hash of the states the map shows (and "version" is the
 * same hash as a number), so it changes exactly when the map does,
 * expiry included, without a counter that every hold and sale would have
 * to bump: such a row serialised all the transactions of a performance.
 * It is fixed-width, so that the cached response's header keeps its size
 * from one answer to the next (NGINX's micro-cache sizes the read of an
 * entry by the previous one's header and refuses a longer one as "too
 * long header").  There is no Last-Modified: nothing records when a seat
 * became available again, and the ETag is the validator.  A client that
 * accepts gzip gets the map compressed, with an ETag of its own.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "encoding.h"
#include "handlers.h"
#include "log.h"
#include "worker.h"

#define SM_CACHE_MAX    16
#define SM_TIERS_MAX    64

typedef struct {
    char     code;
    char     name[51];
    int64_t  price;
} sm_tier_t;

typedef struct {
    char     name[33];
    size_t   first_row;
    size_t   nrows;
} sm_section_t;

typedef struct {
    char     name[17];
    size_t   first_seat;
    size_t   nseats;
} sm_row_t;

typedef struct {
    int64_t        venue_id;
    size_t         ntiers, nsections, nrows, nseats;
    sm_tier_t      tiers[SM_TIERS_MAX];
    sm_section_t  *sections;
    sm_row_t      *rows;
    int64_t       *ids;         /* map order */
    int32_t       *numbers;
    char          *tier_codes;
    int64_t       *sorted_ids;  /* for id -> position */
    uint32_t      *sorted_pos;
} sm_layout_t;

struct seatmap_cache_s {
    sm_layout_t  *layouts[SM_CACHE_MAX];
    size_t        n;
};


static void
layout_free(sm_layout_t *l)
{
    if (l == NULL) {
        return;
    }
    free(l->sections);
    free(l->rows);
    free(l->ids);
    free(l->numbers);
    free(l->tier_codes);
    free(l->sorted_ids);
    free(l->sorted_pos);
    free(l);
}


void
seatmap_cache_free(seatmap_cache_t *cache)
{
    if (cache == NULL) {
        return;
    }
    for (size_t i = 0; i < cache->n; i++) {
        layout_free(cache->layouts[i]);
    }
    free(cache);
}


static int
layout_load_tiers(req_t *req, sm_layout_t *l)
{
    db_res_t  res;
    int       rc;

    rc = db_exec(req->db, &res,
                 "SELECT code, name, price FROM price_tiers WHERE venue_id = ?"
                 " ORDER BY price DESC, code", "i", l->venue_id);
    if (rc != DB_OK) {
        return rc;
    }
    while ((rc = db_fetch(&res)) == 1 && l->ntiers < SM_TIERS_MAX) {
        sm_tier_t  *t = &l->tiers[l->ntiers++];

        t->code = db_str(&res, 0, NULL)[0];
        snprintf(t->name, sizeof(t->name), "%s", db_str(&res, 1, NULL));
        t->price = db_int(&res, 2);
    }
    db_res_free(&res);
    return rc < 0 ? rc : DB_OK;
}


static int
cmp_pos(const void *a, const void *b, void *arg)
{
    const int64_t  *ids = arg;
    int64_t         x = ids[*(const uint32_t *) a];
    int64_t         y = ids[*(const uint32_t *) b];

    return x < y ? -1 : x > y;
}


static int
layout_load_seats(req_t *req, sm_layout_t *l)
{
    int64_t   sec_id = -1, row_id = -1;
    db_res_t  res;
    size_t    n, i;
    int       rc;

    rc = db_exec(req->db, &res,
                 "SELECT sec.id, sec.name, r.id, r.name, s.id, s.number, t.code"
                 " FROM seats s"
                 " JOIN seat_rows r ON r.id = s.row_id"
                 " JOIN sections sec ON sec.id = r.section_id"
                 " JOIN price_tiers t ON t.id = s.tier_id"
                 " WHERE s.venue_id = ?"
                 " ORDER BY sec.position, sec.id, r.position, r.id, s.number",
                 "i", l->venue_id);
    if (rc != DB_OK) {
        return rc;
    }

    n = (size_t) res.nrows;
    l->sections = calloc(n + 1, sizeof(*l->sections));
    l->rows = calloc(n + 1, sizeof(*l->rows));
    l->ids = calloc(n + 1, sizeof(*l->ids));
    l->numbers = calloc(n + 1, sizeof(*l->numbers));
    l->tier_codes = calloc(n + 1, 1);
    l->sorted_ids = calloc(n + 1, sizeof(*l->sorted_ids));
    l->sorted_pos = calloc(n + 1, sizeof(*l->sorted_pos));
    if (!l->sections || !l->rows || !l->ids || !l->numbers || !l->tier_codes
        || !l->sorted_ids || !l->sorted_pos)
    {
        db_res_free(&res);
        return DB_ERROR;
    }

    while (l->nseats < n && (rc = db_fetch(&res)) == 1) {
        if (db_int(&res, 0) != sec_id) {
            sm_section_t  *s = &l->sections[l->nsections++];

            sec_id = db_int(&res, 0);
            snprintf(s->name, sizeof(s->name), "%s", db_str(&res, 1, NULL));
            s->first_row = l->nrows;
            row_id = -1;
        }
        if (db_int(&res, 2) != row_id) {
            sm_row_t  *r = &l->rows[l->nrows++];

            row_id = db_int(&res, 2);
            snprintf(r->name, sizeof(r->name), "%s", db_str(&res, 3, NULL));
            r->first_seat = l->nseats;
            l->sections[l->nsections - 1].nrows++;
        }
        l->ids[l->nseats] = db_int(&res, 4);
        l->numbers[l->nseats] = (int32_t) db_int(&res, 5);
        l->tier_codes[l->nseats] = db_str(&res, 6, NULL)[0];
        l->rows[l->nrows - 1].nseats++;
        l->nseats++;
    }
    db_res_free(&res);
    if (rc < 0) {
        return rc;
    }

    for (i = 0; i < l->nseats; i++) {
        l->sorted_pos[i] = (uint32_t) i;
    }
    qsort_r(l->sorted_pos, l->nseats, sizeof(uint32_t), cmp_pos, l->ids);
    for (i = 0; i < l->nseats; i++) {
        l->sorted_ids[i] = l->ids[l->sorted_pos[i]];
    }
    return DB_OK;
}


static int
layout_get(req_t *req, int64_t venue_id, sm_layout_t **out)
{
    seatmap_cache_t  *c;
    sm_layout_t      *l;
    int               rc;

    if (req->thr->seatmaps == NULL) {
        req->thr->seatmaps = calloc(1, sizeof(*req->thr->seatmaps));
        if (req->thr->seatmaps == NULL) {
            return DB_ERROR;
        }
    }
    c = req->thr->seatmaps;
    for (size_t i = 0; i < c->n; i++) {
        if (c->layouts[i]->venue_id == venue_id) {
            *out = c->layouts[i];
            return DB_OK;
        }
    }

    l = calloc(1, sizeof(*l));
    if (l == NULL) {
        return DB_ERROR;
    }
    l->venue_id = venue_id;
    rc = layout_load_tiers(req, l);
    if (rc == DB_OK) {
        rc = layout_load_seats(req, l);
    }
    if (rc != DB_OK) {
        layout_free(l);
        return rc;
    }

    if (c->n == SM_CACHE_MAX) {
        layout_free(c->layouts[0]);
        memmove(&c->layouts[0], &c->layouts[1],
                sizeof(c->layouts[0]) * (SM_CACHE_MAX - 1));
        c->n--;
    }
    c->layouts[c->n++] = l;
    log_debug("seat map layout of venue %lld cached: %zu seats",
              (long long) venue_id, l->nseats);
    *out = l;
    return DB_OK;
}


static long
layout_find(const sm_layout_t *l, int64_t seat_id)
{
    size_t  lo = 0, hi = l->nseats;

    while (lo < hi) {
        size_t  mid = lo + (hi - lo) / 2;

        if (l->sorted_ids[mid] < seat_id) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    if (lo < l->nseats && l->sorted_ids[lo] == seat_id) {
        return (long) l->sorted_pos[lo];
    }
    return -1;
}


/* Fills states[] for the seats that are not available. */
static int
load_states(req_t *req, const sm_layout_t *l, int64_t performance_id,
    char *states)
{
    db_res_t  res;
    long      pos;
    int       rc;

    memset(states, 'a', l->nseats);
    states[l->nseats] = '\0';

    rc = db_exec(req->db, &res,
                 "SELECT seat_id, state = 'sold' FROM performance_seats"
                 " WHERE performance_id = ? AND (state = 'sold'"
                 " OR (state = 'held' AND hold_expires_at > UTC_TIMESTAMP(3)))",
                 "i", performance_id);
    if (rc != DB_OK) {
        return rc;
    }
    while ((rc = db_fetch(&res)) == 1) {
        pos = layout_find(l, db_int(&res, 0));
        if (pos >= 0) {
            states[pos] = db_int(&res, 1) ? 's' : 'h';
        }
    }
    db_res_free(&res);
    return rc < 0 ? rc : DB_OK;
}


static void
write_row(jw_t *w, const sm_layout_t *l, const sm_row_t *r,
    const char *states)
{
    const int64_t  *ids = l->ids + r->first_seat;
    const int32_t  *nums = l->numbers + r->first_seat;
    const char     *tiers = l->tier_codes + r->first_seat;
    int             ids_run = 1, nums_run = 1, one_tier = 1;
    size_t          i;

    for (i = 1; i < r->nseats; i++) {
        ids_run &= ids[i] == ids[0] + (int64_t) i;
        nums_run &= nums[i] == nums[0] + (int32_t) i;
        one_tier &= tiers[i] == tiers[0];
    }

    jw_obj_open(w);
    jw_kv_str(w, "name", r->name);
    jw_kv_int(w, "count", (int64_t) r->nseats);
    if (ids_run) {
        jw_kv_int(w, "first_id", ids[0]);
    } else {
        jw_key(w, "ids");
        jw_arr_open(w);
        for (i = 0; i < r->nseats; i++) {
            jw_int(w, ids[i]);
        }
        jw_arr_close(w);
    }
    if (nums_run) {
        jw_kv_int(w, "first_number", nums[0]);
    } else {
        jw_key(w, "numbers");
        jw_arr_open(w);
        for (i = 0; i < r->nseats; i++) {
            jw_int(w, nums[i]);
        }
        jw_arr_close(w);
    }
    if (one_tier) {
        jw_key(w, "tier");
        jw_strn(w, tiers, 1);
    } else {
        jw_key(w, "tiers");
        jw_strn(w, tiers, r->nseats);
    }
    jw_key(w, "states");
    jw_strn(w, states + r->first_seat, r->nseats);
    jw_obj_close(w);
}


/*
 * FNV-1a over the performance and its states: a 53-bit number, so that
 * JSON readers hold it exactly.
 */
static int64_t
states_version(int64_t performance_id, const char *states, size_t n)
{
    uint64_t  h = 14695981039346656037ULL;

    for (int i = 0; i < 8; i++) {
        h = (h ^ ((uint64_t) performance_id >> (i * 8) & 0xff))
            * 1099511628211ULL;
    }
    for (size_t i = 0; i < n; i++) {
        h = (h ^ (unsigned char) states[i]) * 1099511628211ULL;
    }
    return (int64_t) (h >> 11);
}


static void
write_map(jw_t *w, const sm_layout_t *l, int64_t performance_id,
    int64_t version, const char *states)
{
    jw_obj_open(w);
    jw_kv_int(w, "performance_id", performance_id);
    jw_kv_int(w, "venue_id", l->venue_id);
    jw_kv_int(w, "version", version);
    jw_kv_int(w, "seats", (int64_t) l->nseats);
    jw_key(w, "tiers");
    jw_arr_open(w);
    for (size_t i = 0; i < l->ntiers; i++) {
        jw_obj_open(w);
        jw_key(w, "code");
        jw_strn(w, &l->tiers[i].code, 1);
        jw_kv_str(w, "name", l->tiers[i].name);
        jw_kv_int(w, "price", l->tiers[i].price);
        jw_obj_close(w);
    }
    jw_arr_close(w);
    jw_key(w, "sections");
    jw_arr_open(w);
    for (size_t s = 0; s < l->nsections; s++) {
        const sm_section_t  *sec = &l->sections[s];

        jw_obj_open(w);
        jw_kv_str(w, "name", sec->name);
        jw_key(w, "rows");
        jw_arr_open(w);
        for (size_t r = 0; r < sec->nrows; r++) {
            write_row(w, l, &l->rows[sec->first_row + r], states);
        }
        jw_arr_close(w);
        jw_obj_close(w);
    }
    jw_arr_close(w);
    jw_obj_close(w);
}


static int
etag_matches(const char *header, const char *etag)
{
    if (header == NULL) {
        return 0;
    }
    return strcmp(header, "*") == 0 || strstr(header, etag) != NULL;
}


int
h_performance_seats(req_t *req)
{
    int64_t       perf = req->params[0], venue_id, version;
    sm_layout_t  *layout;
    char          etag[32], expires[24];
    char         *states;
    jw_t          w;
    int           rc, gzip;

    rc = db_query_int(req->db, &venue_id,
                      "SELECT venue_id FROM performances WHERE id = ?", "i",
                      perf);
    if (rc <= 0) {
        return rc < 0 ? rc
               : resp_error(req, 404, "NOT_FOUND", "no such performance");
    }

    rc = layout_get(req, venue_id, &layout);
    if (rc != DB_OK) {
        return rc;
    }
    states = malloc(layout->nseats + 1);
    if (states == NULL) {
        return resp_error(req, 500, "INTERNAL", "out of memory");
    }
    /*
     * For NGINX's micro-cache: the answer expires when the second it was
     * read in has passed ("@" and a Unix time), so a cached map is never
     * more than a second behind the database.  A cache time of "1s" alone
     * counts whole seconds from the second of the answer and may serve it
     * for nearly two.  NGINX keeps X-Accel-* headers from clients.
     */
    snprintf(expires, sizeof(expires), "@%lld", (long long) time(NULL));
    rc = load_states(req, layout, perf, states);
    if (rc != DB_OK) {
        free(states);
        return rc;
    }

    /*
     * The map is about 40 KB of JSON for 15,000 seats and a few KB
     * gzipped, and everyone choosing seats loads it: compressed, it costs
     * NGINX and the network a tenth as much.  Each coding has its own
     * ETag (the bytes differ) of a fixed width, and NGINX's micro-cache
     * keeps one entry per coding (see conf/nginx.conf.in).
     */
    gzip = http_accepts_gzip(req_param(req, "HTTP_ACCEPT_ENCODING"));
    version = states_version(perf, states, layout->nseats);
    snprintf(etag, sizeof(etag), gzip ? "\"%014llx-gz\"" : "\"%014llx\"",
             (long long) version);
    resp_header(req, "ETag", etag);
    resp_header(req, "Vary", "Accept-Encoding");
    resp_header(req, "Cache-Control", "public, no-cache");
    resp_header(req, "X-Accel-Expires", expires);

    if (etag_matches(req_param(req, "HTTP_IF_NONE_MATCH"), etag)) {
        free(states);
        return resp_empty(req, 304);
    }

    if (jw_init(&w) != 0) {
        free(states);
        return resp_error(req, 500, "INTERNAL", "out of memory");
    }
    write_map(&w, layout, perf, version, states);
    free(states);
    rc = resp_json(req, 200, &w);
    jw_free(&w);
    if (gzip && req->status == 200) {
        resp_gzip(req);
    }
    return rc;
}
