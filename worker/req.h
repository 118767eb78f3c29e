/*
 * A request as handlers see it, and the response they build.
 *
 * The dispatcher (server.c) fills a req_t from the FastCGI params, routes
 * it, enforces the route's flags (body size, JSON body, session, admin)
 * and calls the handler.  A handler reads req->params[] ({id} segments in
 * order), req->query, req->json, req->user, then answers with exactly one
 * resp_json/resp_error/resp_empty call (plus resp_header for extras).
 *
 * Helper return convention used across the worker:
 *   0          OK, carry on
 *   RESP_DONE  a response (usually an error) was written: return it
 *   < 0        a DB_* error; the dispatcher answers 500/503 if nothing
 *              was written
 */

#ifndef WORKER_REQ_H
#define WORKER_REQ_H

#include <stddef.h>
#include <stdint.h>
#include <yajl_tree.h>

#include "config.h"
#include "db.h"
#include "json.h"
#include "router.h"
#include "ticket_token.h"
#include "util.h"

#define RESP_DONE  1

typedef struct thread_ctx_s  thread_ctx_t;

typedef struct {
    int64_t  id;
    int64_t  session_id;
    int      is_admin;
    char     email[256];
    char     name[256];
    char     role[16];
} req_user_t;

struct req_s {
    thread_ctx_t         *thr;
    db_t                 *db;
    const worker_conf_t  *conf;
    void                 *fcgi;        /* FCGX_Request *, NULL in tests */

    unsigned              method;      /* HTTP_* */
    char                  method_name[16];
    char                  path[1024];
    const route_t        *route;
    int64_t               params[ROUTE_MAX_PARAMS];
    size_t                nparams;
    query_t               query;

    char                 *body;
    size_t                body_len;
    yajl_val              json;        /* with ROUTE_JSON_BODY: an object */

    req_user_t           *user;        /* NULL unless authenticated */
    req_user_t            user_buf;

    /*
     * What a session cookie with a valid signature claims (auth_claim), 0
     * when there is none; the session row has the last word.
     */
    int64_t               claim_user_id;
    int64_t               claim_session_id;

    /*
     * From the FastCGI params TICKET_USER/TICKET_ROOM that NGINX sets after
     * admitting the request through a waiting room; never from headers.
     * Empty strings when absent.
     */
    char                  ticket_user[64];
    int64_t               ticket_user_id;
    char                  ticket_room[TICKET_TOKEN_ROOM_MAX + 1];

    char                  request_id[64];
    char                  idempotency_key[256];   /* "" when absent */

    /* The response. */
    int                   status;
    int                   responded;
    char                  headers[2048];
    size_t                headers_len;
    char                 *out;
    size_t                out_len;
};

/* A FastCGI param ("HTTP_IF_NONE_MATCH", "REMOTE_ADDR"), or NULL. */
const char *req_param(req_t *req, const char *name);

/* Adds "Name: value" to the response; CR/LF in value is refused. */
void resp_header(req_t *req, const char *name, const char *value);

/* Sends the document in w (freed by the caller) with status. */
int resp_json(req_t *req, int status, jw_t *w);

/*
 * Compresses the body written so far with gzip and says so
 * (Content-Encoding).  On failure (memory) the body stays as it was,
 * uncompressed, which is still a correct answer.
 */
void resp_gzip(req_t *req);

/* Writes one result row as a JSON object. */
typedef void (*resp_row_pt)(jw_t *w, const db_res_t *res);

/*
 * Sends {"<key>":[rows...],"next_before":id|null} from res, whose first
 * column is the row id, newest first; next_before is the last id when the
 * page is full (limit rows), so that ?before= fetches the next one.  Frees
 * res on every path.
 */
int resp_page(req_t *req, db_res_t *res, const char *key, int64_t limit,
    resp_row_pt row);

/* Sends a raw body with a content type. */
int resp_body(req_t *req, int status, const char *type, const char *body,
    size_t len);

/* {"error":{"code":code,"message":...}} with status.  Returns RESP_DONE. */
int resp_error(req_t *req, int status, const char *code, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

/* A status without a body (204, 304). */
int resp_empty(req_t *req, int status);

/* Forgets anything written so far (a retried transaction starts over). */
void resp_reset(req_t *req);

/* The reason phrase for a status. */
const char *http_status_text(int status);

/*
 * Answers a DB_* error that a handler passed up: 503 DB_UNAVAILABLE
 * (connection) or 503 DB_BUSY (retries exhausted) with Retry-After, 409
 * CONFLICT (unique key), or 500 INTERNAL.  Returns RESP_DONE.
 */
int resp_db_error(req_t *req, int rc);

/*
 * Runs fn inside a transaction.  fn returns 0 to commit, RESP_DONE to roll
 * back keeping its response (a refusal found half-way), or a DB_* error to
 * roll back.  Deadlocks and lock wait timeouts are retried (3 attempts,
 * response reset each time); then 503 DB_BUSY with Retry-After.  Returns
 * 0 when committed, RESP_DONE when a response was written, or a DB_* code.
 */
typedef int (*tx_fn_t)(req_t *req, void *arg);
int req_tx(req_t *req, tx_fn_t fn, void *arg);

/*
 * Appends a row to audit_log in the caller's transaction: actor (0 for
 * none), entity ("user", "performance", ...), its id, action ("create",
 * "set_room", ...), and the JSON text before/after (NULL for none).  The
 * request id is recorded too.  Returns DB_OK or a DB_* error.
 */
int audit_write(req_t *req, int64_t actor_user_id, const char *entity,
    int64_t entity_id, const char *action, const char *before,
    const char *after);

#endif
