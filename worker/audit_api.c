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

static const char  audit_batch_sql[] =
    "INSERT INTO audit_log (actor_user_id, entity, entity_id, performance_id,"
    " seat_id, user_id, action, before_json, after_json, request_id)"
    " SELECT ?, j.e, j.i, j.p, j.s, j.u, j.a, j.b, j.f, ?"
    " FROM JSON_TABLE(?, '$[*]' COLUMNS ("
    "  e VARCHAR(32) CHARACTER SET utf8mb4 PATH '$.e',"
    "  i BIGINT UNSIGNED PATH '$.i',"
    "  p BIGINT UNSIGNED PATH '$.p',"
    "  s BIGINT UNSIGNED PATH '$.s',"
    "  u BIGINT UNSIGNED PATH '$.u',"
    "  a VARCHAR(32) CHARACTER SET utf8mb4 PATH '$.a',"
    "  b LONGTEXT CHARACTER SET utf8mb4 PATH '$.b',"
    "  f LONGTEXT CHARACTER SET utf8mb4 PATH '$.f')) AS j";


int
audit_batch_init(audit_batch_t *b)
{
    b->n = 0;
    if (jw_init(&b->w) != 0) {
        return -1;
    }
    jw_arr_open(&b->w);
    return 0;
}


void
audit_batch_add(audit_batch_t *b, const char *entity, int64_t entity_id,
    const char *action, int64_t performance_id, int64_t seat_id,
    int64_t user_id, const char *before, const char *after)
{
    jw_t  *w = &b->w;

    jw_obj_open(w);
    jw_kv_str(w, "e", entity);
    jw_kv_int(w, "i", entity_id);
    jw_kv_str(w, "a", action);
    if (performance_id > 0) {
        jw_kv_int(w, "p", performance_id);
    }
    if (seat_id > 0) {
        jw_kv_int(w, "s", seat_id);
    }
    if (user_id > 0) {
        jw_kv_int(w, "u", user_id);
    }
    if (before != NULL) {
        jw_kv_str(w, "b", before);
    }
    if (after != NULL) {
        jw_kv_str(w, "f", after);
    }
    jw_obj_close(w);
    b->n++;
}


void
audit_batch_free(audit_batch_t *b)
{
    jw_free(&b->w);
    b->n = 0;
}


int
audit_batch_write(db_t *db, audit_batch_t *b, int64_t actor,
    const char *request_id)
{
    const char  *buf;
    size_t       len;
    int          rc;

    if (b->n == 0) {
        audit_batch_free(b);
        return DB_OK;
    }
    jw_arr_close(&b->w);
    if (jw_result(&b->w, &buf, &len) != 0) {
        log_error("audit: batch generation failed");
        audit_batch_free(b);
        return DB_ERROR;
    }
    rc = db_exec(db, NULL, audit_batch_sql, "Isb", actor,
                 request_id != NULL && request_id[0] ? request_id : NULL,
                 buf, len);
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
