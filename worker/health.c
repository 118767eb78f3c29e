#include "handlers.h"
#include "worker.h"


/*
 * GET /api/health: the worker is up; "database" says whether this
 * thread's connection answers (a reconnect is tried first).
 */
int
h_health(req_t *req)
{
    jw_t  w;
    int   db_ok, rc;

    db_ok = db_ping(req->db) == DB_OK;

    if (jw_init(&w) != 0) {
        return resp_error(req, 500, "INTERNAL", "out of memory");
    }
    jw_obj_open(&w);
    jw_kv_str(&w, "status", db_ok ? "ok" : "degraded");
    jw_kv_str(&w, "database", db_ok ? "ok" : "down");
    jw_kv_int(&w, "threads", req->conf->threads);
    jw_kv_int(&w, "thread", req->thr->id);
    jw_obj_close(&w);
    resp_header(req, "Cache-Control", "no-store");
    rc = resp_json(req, db_ok ? 200 : 503, &w);
    jw_free(&w);
    return rc;
}
