#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "audit_api.h"
#include "log.h"

#define AUDIT_PAGE_DEFAULT  100
#define AUDIT_PAGE_MAX      500
#define AUDIT_JSON_DEPTH    16

#define AUDIT_COLUMNS  10

struct audit_row_s {
    int64_t   entity_id;
    int64_t   performance_id;
    int64_t   seat_id;
    int64_t   user_id;
    char     *entity;
    char     *action;
    char     *before;
    char     *after;
};

static char            *audit_insert_text[AUDIT_ROWS_PER_INSERT + 1];
static pthread_once_t   audit_insert_once = PTHREAD_ONCE_INIT;


/* The INSERT of n rows, for n from 1 to AUDIT_ROWS_PER_INSERT. */
static void
audit_insert_build(void)
{
    for (size_t n = 1; n <= AUDIT_ROWS_PER_INSERT; n++) {
        audit_insert_text[n] = db_rows_sql(
            "INSERT INTO audit_log (actor_user_id, entity, entity_id,"
            " performance_id, seat_id, user_id, action, before_json,"
            " after_json, request_id) VALUES ",
            "(?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", n);
    }
}


int
audit_batch_init(audit_batch_t *b)
{
    memset(b, 0, sizeof(*b));
    return 0;
}


static char *
audit_strdup(audit_batch_t *b, const char *s)
{
    char  *copy;

    if (s == NULL) {
        return NULL;
    }
    copy = strdup(s);
    if (copy == NULL) {
        b->failed = 1;
    }
    return copy;
}


void
audit_batch_add(audit_batch_t *b, const char *entity, int64_t entity_id,
    const char *action, int64_t performance_id, int64_t seat_id,
    int64_t user_id, const char *before, const char *after)
{
    audit_row_t  *r;
    size_t        cap;

    if (b->failed) {
        return;
    }
    if (b->n == b->cap) {
        cap = b->cap ? b->cap * 2 : 8;
        r = realloc(b->rows, cap * sizeof(*r));
        if (r == NULL) {
            b->failed = 1;
            return;
        }
        b->rows = r;
        b->cap = cap;
    }
    r = &b->rows[b->n++];
    r->entity_id = entity_id;
    r->performance_id = performance_id;
    r->seat_id = seat_id;
    r->user_id = user_id;
    r->entity = audit_strdup(b, entity);
    r->action = audit_strdup(b, action);
    r->before = audit_strdup(b, before);
    r->after = audit_strdup(b, after);
}


void
audit_batch_free(audit_batch_t *b)
{
    for (size_t i = 0; i < b->n; i++) {
        free(b->rows[i].entity);
        free(b->rows[i].action);
        free(b->rows[i].before);
        free(b->rows[i].after);
    }
    free(b->rows);
    memset(b, 0, sizeof(*b));
}


/* One INSERT of rows [from, from + n) of the batch. */
static int
audit_insert(db_t *db, audit_batch_t *b, size_t from, size_t n,
    const int64_t *actor, const char *request_id)
{
    MYSQL_BIND     bind[AUDIT_ROWS_PER_INSERT * AUDIT_COLUMNS];
    unsigned long  len[AUDIT_ROWS_PER_INSERT * AUDIT_COLUMNS];
    my_bool        null[AUDIT_ROWS_PER_INSERT * AUDIT_COLUMNS];
    audit_row_t   *r;
    MYSQL_BIND    *c;
    size_t         k;

    memset(bind, 0, n * AUDIT_COLUMNS * sizeof(bind[0]));
    for (size_t i = 0; i < n; i++) {
        r = &b->rows[from + i];
        k = i * AUDIT_COLUMNS;
        c = &bind[k];
        db_bind_int(&c[0], actor, &null[k]);
        db_bind_str(&c[1], r->entity, &len[k + 1], &null[k + 1]);
        db_bind_int(&c[2], &r->entity_id, NULL);
        db_bind_int(&c[3], &r->performance_id, &null[k + 3]);
        db_bind_int(&c[4], &r->seat_id, &null[k + 4]);
        db_bind_int(&c[5], &r->user_id, &null[k + 5]);
        db_bind_str(&c[6], r->action, &len[k + 6], &null[k + 6]);
        db_bind_str(&c[7], r->before, &len[k + 7], &null[k + 7]);
        db_bind_str(&c[8], r->after, &len[k + 8], &null[k + 8]);
        db_bind_str(&c[9], request_id, &len[k + 9], &null[k + 9]);
    }
    return db_exec_bind(db, NULL, audit_insert_text[n], bind,
                        n * AUDIT_COLUMNS);
}


int
audit_batch_write(db_t *db, audit_batch_t *b, int64_t actor,
    const char *request_id)
{
    size_t  from, n;
    int     rc = DB_OK;

    if (b->failed) {
        log_error("audit: out of memory collecting a batch");
        audit_batch_free(b);
        return DB_ERROR;
    }
    pthread_once(&audit_insert_once, audit_insert_build);
    if (request_id != NULL && request_id[0] == '\0') {
        request_id = NULL;
    }
    for (from = 0; from < b->n && rc == DB_OK; from += n) {
        n = b->n - from;
        if (n > AUDIT_ROWS_PER_INSERT) {
            n = AUDIT_ROWS_PER_INSERT;
        }
        rc = audit_insert(db, b, from, n, &actor, request_id);
    }
    audit_batch_free(b);
    return rc;
}


int
query_int_arg(req_t *req, const char *name, int64_t min, int64_t max,
    int64_t *out)
{
    const char  *v = query_get(&req->query, name);
    char        *end;
    long long    n;

    if (v == NULL || *v == '\0') {
        return 0;
    }
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno != 0 || *end != '\0' || n < min || n > max) {
        return resp_error(req, 400, "BAD_QUERY",
                          "%s must be an integer from %lld to %lld", name,
                          (long long) min, (long long) max);
    }
    *out = n;
    return 0;
}


/*
 * The query has three optional filters; each combination gets its own
 * statement text so that every one can use an index.  The texts are built
 * once and live for the whole process (the statement cache keeps
 * pointers to them).
 */
#define AUDIT_F_PERFORMANCE  1
#define AUDIT_F_SEAT         2
#define AUDIT_F_USER         4

static char            *audit_query_sql[8];
static pthread_once_t   audit_query_once = PTHREAD_ONCE_INIT;


static void
audit_query_build(void)
{
    char  sql[1024];

    for (int f = 0; f < 8; f++) {
        snprintf(sql, sizeof(sql),
                 "SELECT id, actor_user_id, entity, entity_id, action,"
                 " performance_id, seat_id, user_id, before_json, after_json,"
                 " request_id,"
                 " DATE_FORMAT(created_at, '%%Y-%%m-%%dT%%H:%%i:%%s.%%fZ')"
                 " FROM audit_log WHERE id < ?%s%s%s"
                 " ORDER BY id DESC LIMIT ?",
                 f & AUDIT_F_PERFORMANCE ? " AND performance_id = ?" : "",
                 f & AUDIT_F_SEAT ? " AND seat_id = ?" : "",
                 f & AUDIT_F_USER
                     ? " AND (user_id = ? OR actor_user_id = ?)" : "");
        audit_query_sql[f] = strdup(sql);
        if (audit_query_sql[f] == NULL) {
            log_error("audit: out of memory building queries");
            abort();
        }
    }
}


/* Writes a parsed JSON value back out (audit before/after documents). */
static void
jw_tree(jw_t *w, yajl_val v, int depth)
{
    if (v == NULL || depth > AUDIT_JSON_DEPTH) {
        jw_null(w);
    } else if (YAJL_IS_OBJECT(v)) {
        jw_obj_open(w);
        for (size_t i = 0; i < v->u.object.len; i++) {
            jw_key(w, v->u.object.keys[i]);
            jw_tree(w, v->u.object.values[i], depth + 1);
        }
        jw_obj_close(w);
    } else if (YAJL_IS_ARRAY(v)) {
        jw_arr_open(w);
        for (size_t i = 0; i < v->u.array.len; i++) {
            jw_tree(w, v->u.array.values[i], depth + 1);
        }
        jw_arr_close(w);
    } else if (YAJL_IS_STRING(v)) {
        jw_str(w, v->u.string);
    } else if (YAJL_IS_INTEGER(v)) {
        jw_int(w, v->u.number.i);
    } else if (YAJL_IS_NUMBER(v)) {
        /* Audit documents hold integers only; keep others as text. */
        jw_str(w, v->u.number.r);
    } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        jw_bool(w, YAJL_IS_TRUE(v));
    } else {
        jw_null(w);
    }
}


static void
jw_json_text(jw_t *w, const char *key, const db_res_t *res, unsigned col)
{
    const char  *s;
    yajl_val     v;
    size_t       len;
    char         err[64];

    jw_key(w, key);
    if (db_is_null(res, col)) {
        jw_null(w);
        return;
    }
    s = db_str(res, col, &len);
    v = json_parse(s, len, err, sizeof(err));
    if (v == NULL) {
        jw_strn(w, s, len);
        return;
    }
    jw_tree(w, v, 0);
    yajl_tree_free(v);
}


static void
jw_kv_id(jw_t *w, const char *key, const db_res_t *res, unsigned col)
{
    if (db_is_null(res, col)) {
        jw_key(w, key);
        jw_null(w);
    } else {
        jw_kv_int(w, key, db_int(res, col));
    }
}


static void
audit_row_json(jw_t *w, const db_res_t *res)
{
    jw_obj_open(w);
    jw_kv_int(w, "id", db_int(res, 0));
    jw_kv_str(w, "created_at", db_str(res, 11, NULL));
    jw_kv_id(w, "actor_user_id", res, 1);
    jw_kv_str(w, "entity", db_str(res, 2, NULL));
    jw_kv_int(w, "entity_id", db_int(res, 3));
    jw_kv_str(w, "action", db_str(res, 4, NULL));
    jw_kv_id(w, "performance_id", res, 5);
    jw_kv_id(w, "seat_id", res, 6);
    jw_kv_id(w, "user_id", res, 7);
    jw_json_text(w, "before", res, 8);
    jw_json_text(w, "after", res, 9);
    jw_kv_str(w, "request_id",
              db_is_null(res, 10) ? NULL : db_str(res, 10, NULL));
    jw_obj_close(w);
}


int
h_admin_audit(req_t *req)
{
    int64_t    perf = 0, seat = 0, user = 0, limit = AUDIT_PAGE_DEFAULT;
    int64_t    before = INT64_MAX, p[6] = { 0 };
    db_res_t   res;
    size_t     np = 0;
    char       types[8];
    int        f = 0, rc;

    if (query_int_arg(req, "performance_id", 1, INT64_MAX, &perf)
        || query_int_arg(req, "seat_id", 1, INT64_MAX, &seat)
        || query_int_arg(req, "user_id", 1, INT64_MAX, &user)
        || query_int_arg(req, "limit", 1, AUDIT_PAGE_MAX, &limit)
        || query_int_arg(req, "before", 1, INT64_MAX, &before))
    {
        return RESP_DONE;
    }

    pthread_once(&audit_query_once, audit_query_build);

    p[np++] = before;
    if (perf) {
        f |= AUDIT_F_PERFORMANCE;
        p[np++] = perf;
    }
    if (seat) {
        f |= AUDIT_F_SEAT;
        p[np++] = seat;
    }
    if (user) {
        f |= AUDIT_F_USER;
        p[np++] = user;
        p[np++] = user;
    }
    p[np++] = limit;
    memset(types, 'i', np);
    types[np] = '\0';

    /* db_exec takes its parameters as varargs: pad with unused ones. */
    rc = db_exec(req->db, &res, audit_query_sql[f], types, p[0], p[1], p[2],
                 p[3], p[4], p[5]);
    if (rc != DB_OK) {
        return rc;
    }
    return resp_page(req, &res, "entries", limit, audit_row_json);
}
