#include <fcgiapp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "encoding.h"
#include "log.h"
#include "req.h"
#include "worker.h"

#define TX_ATTEMPTS  3


const char *
req_param(req_t *req, const char *name)
{
    FCGX_Request  *r = req->fcgi;

    if (r == NULL) {
        return NULL;
    }
    return FCGX_GetParam(name, r->envp);
}


const char *
http_status_text(int status)
{
    switch (status) {
    case 200: return "OK";
    case 201: return "Created";
    case 202: return "Accepted";
    case 204: return "No Content";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 402: return "Payment Required";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 409: return "Conflict";
    case 410: return "Gone";
    case 411: return "Length Required";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 415: return "Unsupported Media Type";
    case 422: return "Unprocessable Entity";
    case 429: return "Too Many Requests";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    default:  return "Unknown";
    }
}


void
resp_header(req_t *req, const char *name, const char *value)
{
    size_t  room = sizeof(req->headers) - req->headers_len;
    int     n;

    if (strpbrk(value, "\r\n") != NULL || strpbrk(name, "\r\n: ") != NULL) {
        log_error("refusing header %s with CR/LF", name);
        return;
    }
    n = snprintf(req->headers + req->headers_len, room, "%s: %s\r\n",
                 name, value);
    if (n < 0 || (size_t) n >= room) {
        log_error("response headers full, dropped %s", name);
        req->headers[req->headers_len] = '\0';
        return;
    }
    req->headers_len += (size_t) n;
}


int
resp_body(req_t *req, int status, const char *type, const char *body,
    size_t len)
{
    char  *copy = NULL;

    if (len > 0) {
        copy = malloc(len);
        if (copy == NULL) {
            log_error("out of memory for a %zu byte response", len);
            status = 500;
            len = 0;
        } else {
            memcpy(copy, body, len);
        }
    }
    free(req->out);
    req->out = copy;
    req->out_len = len;
    req->status = status;
    req->responded = 1;
    if (type != NULL && len > 0) {
        resp_header(req, "Content-Type", type);
    }
    return RESP_DONE;
}


int
resp_json(req_t *req, int status, jw_t *w)
{
    const char  *buf;
    size_t       len;

    if (jw_result(w, &buf, &len) != 0) {
        log_error("JSON generation failed for %s", req->path);
        return resp_error(req, 500, "INTERNAL", "response generation failed");
    }
    return resp_body(req, status, "application/json", buf, len);
}


void
resp_gzip(req_t *req)
{
    size_t   len;
    char    *gz;

    if (req->out_len == 0
        || gzip_compress(req->out, req->out_len, &gz, &len) != 0)
    {
        return;
    }
    free(req->out);
    req->out = gz;
    req->out_len = len;
    resp_header(req, "Content-Encoding", "gzip");
}


int
resp_page(req_t *req, db_res_t *res, const char *key, int64_t limit,
    resp_row_pt row)
{
    int64_t  last = 0, rows = 0;
    jw_t     w;
    int      rc;

    if (jw_init(&w) != 0) {
        db_res_free(res);
        return DB_ERROR;
    }
    jw_obj_open(&w);
    jw_key(&w, key);
    jw_arr_open(&w);
    while ((rc = db_fetch(res)) == 1) {
        last = db_int(res, 0);
        rows++;
        row(&w, res);
    }
    db_res_free(res);
    jw_arr_close(&w);
    jw_key(&w, "next_before");
    if (rows == limit && last > 0) {
        jw_int(&w, last);
    } else {
        jw_null(&w);
    }
    jw_obj_close(&w);
    if (rc != 0) {
        jw_free(&w);
        return DB_ERROR;
    }
    rc = resp_json(req, 200, &w);
    jw_free(&w);
    return rc;
}


int
resp_error(req_t *req, int status, const char *code, const char *fmt, ...)
{
    char     msg[512];
    va_list  ap;
    jw_t     w;
    int      rc;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);

    if (jw_init(&w) == 0) {
        jw_obj_open(&w);
        jw_key(&w, "error");
        jw_obj_open(&w);
        jw_kv_str(&w, "code", code);
        jw_kv_str(&w, "message", msg);
        jw_obj_close(&w);
        jw_obj_close(&w);
    }
    if (!w.failed) {
        const char  *buf;
        size_t       len;

        if (jw_result(&w, &buf, &len) == 0) {
            rc = resp_body(req, status, "application/json", buf, len);
            jw_free(&w);
            return rc;
        }
    }
    jw_free(&w);
    /* The message was not valid UTF-8 or memory ran out: a fixed body. */
    return resp_body(req, status, "application/json",
                     "{\"error\":{\"code\":\"INTERNAL\",\"message\":\"\"}}",
                     sizeof("{\"error\":{\"code\":\"INTERNAL\",\"message\":\"\"}}")
                     - 1);
}


int
resp_empty(req_t *req, int status)
{
    return resp_body(req, status, NULL, NULL, 0);
}


void
resp_reset(req_t *req)
{
    free(req->out);
    req->out = NULL;
    req->out_len = 0;
    req->status = 0;
    req->responded = 0;
    req->headers_len = 0;
    req->headers[0] = '\0';
}


int
resp_db_error(req_t *req, int rc)
{
    switch (rc) {
    case DB_GONE:
        resp_header(req, "Retry-After", "1");
        return resp_error(req, 503, "DB_UNAVAILABLE",
                          "the database is unavailable, try again");
    case DB_RETRY:
        resp_header(req, "Retry-After", "1");
        return resp_error(req, 503, "DB_BUSY",
                          "the database is busy, try again");
    case DB_DUPLICATE:
        return resp_error(req, 409, "CONFLICT", "already exists");
    default:
        return resp_error(req, 500, "INTERNAL", "internal error");
    }
}


int
req_tx(req_t *req, tx_fn_t fn, void *arg)
{
    int  rc = DB_RETRY;

    for (int attempt = 0; attempt < TX_ATTEMPTS; attempt++) {
        if (attempt > 0) {
            /* Back off a little so that the other transaction finishes. */
            usleep((useconds_t) (5000 * attempt
                                  + (rand_r(&req->thr->seed) % 5000)));
            resp_reset(req);
        }

        rc = db_begin(req->db);
        if (rc != DB_OK) {
            if (rc == DB_RETRY) {
                continue;
            }
            return rc;
        }

        rc = fn(req, arg);
        if (rc == 0) {
            rc = db_commit(req->db);
            if (rc == DB_OK) {
                return 0;
            }
            /*
             * fn wrote its success, but nothing was committed (MariaDB
             * went away): that answer must not go out.  A retry with the
             * same Idempotency-Key learns what really happened.
             */
            resp_reset(req);
        }
        db_rollback(req->db);

        if (rc != DB_RETRY) {
            return rc;
        }
        log_info("transaction retry %d for %s %s", attempt + 1,
                 req->method_name, req->path);
    }

    resp_reset(req);
    return resp_db_error(req, DB_RETRY);
}


int
audit_write(req_t *req, int64_t actor_user_id, const char *entity,
    int64_t entity_id, const char *action, const char *before,
    const char *after)
{
    return db_exec(req->db, NULL,
                   "INSERT INTO audit_log (actor_user_id, entity, entity_id,"
                   " action, before_json, after_json, request_id)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)",
                   "Isisss" "s", actor_user_id, entity, entity_id, action,
                   before, after, req->request_id[0] ? req->request_id : NULL);
}
