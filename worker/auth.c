#include <crypt.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "log.h"
#include "worker.h"


int
password_hash(req_t *req, const char *password, char *out, size_t size)
{
    char   salt[CRYPT_GENSALT_OUTPUT_SIZE];
    char  *h;

    /* count 0 picks yescrypt's default cost; NULL rbytes reads the OS RNG. */
    if (crypt_gensalt_rn("$y$", 0, NULL, 0, salt, sizeof(salt)) == NULL) {
        log_error("crypt_gensalt_rn failed");
        return -1;
    }
    memset(req->thr->crypt, 0, sizeof(*req->thr->crypt));
    h = crypt_r(password, salt, req->thr->crypt);
    if (h == NULL || h[0] == '*' || strlen(h) >= size) {
        log_error("crypt_r failed");
        return -1;
    }
    memcpy(out, h, strlen(h) + 1);
    return 0;
}


int
password_verify(req_t *req, const char *password, const char *hash)
{
    char    *h;
    size_t   len;

    memset(req->thr->crypt, 0, sizeof(*req->thr->crypt));
    h = crypt_r(password, hash, req->thr->crypt);
    if (h == NULL || h[0] == '*') {
        return 0;
    }
    len = strlen(hash);
    return strlen(h) == len && ticket_memeq_ct(h, hash, len) == 0;
}


static void
copy_col(char *dst, size_t size, const db_res_t *res, unsigned col)
{
    size_t       len;
    const char  *s = db_str(res, col, &len);

    if (len >= size) {
        len = size - 1;
    }
    memcpy(dst, s, len);
    dst[len] = '\0';
}


int
auth_claim(req_t *req)
{
    ticket_token_t   tok;
    const char      *cookie, *val;
    size_t           len;
    int              rc;

    if (req->claim_user_id != 0) {
        return 1;
    }
    cookie = req_param(req, "HTTP_COOKIE");
    if (!cookie_find(cookie, SESSION_COOKIE, &val, &len)
        || len == 0 || len > TICKET_TOKEN_MAX_LEN)
    {
        return 0;
    }
    rc = ticket_token_decode(&tok, val, len, req->thr->keys, req->thr->nkeys,
                             (int64_t) time(NULL));
    if (rc != TICKET_TOKEN_OK || tok.kind != TICKET_TOKEN_SESSION
        || tok.user_id == 0 || tok.number == 0
        || tok.user_id > INT64_MAX || tok.number > INT64_MAX)
    {
        log_debug("session cookie refused: %s", ticket_token_strerror(rc));
        return 0;
    }
    req->claim_user_id = (int64_t) tok.user_id;
    req->claim_session_id = (int64_t) tok.number;
    return 1;
}


int
auth_adopt(req_t *req, const db_res_t *res, unsigned col)
{
    req_user_t  *u = &req->user_buf;

    if (db_is_null(res, col)) {
        return 0;
    }
    u->id = db_int(res, col);
    u->session_id = req->claim_session_id;
    copy_col(u->email, sizeof(u->email), res, col + 1);
    copy_col(u->name, sizeof(u->name), res, col + 2);
    copy_col(u->role, sizeof(u->role), res, col + 3);
    u->is_admin = strcmp(u->role, "admin") == 0;
    req->user = u;
    return 1;
}


int
auth_load(req_t *req)
{
    db_res_t  res;
    int       rc;

    if (req->user != NULL) {
        return 1;
    }
    if (!auth_claim(req)) {
        return 0;
    }
    rc = db_exec(req->db, &res,
                 "SELECT " AUTH_USER_COLUMNS " FROM sessions sess"
                 " JOIN users usr ON usr.id = sess.user_id"
                 " WHERE " AUTH_SESSION_LIVE,
                 "ii", req->claim_session_id, req->claim_user_id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc == 1) {
        rc = auth_adopt(req, &res, 0);
    }
    db_res_free(&res);
    return rc;
}


int
auth_refuse(req_t *req)
{
    return resp_error(req, 401, "UNAUTHENTICATED", "log in first");
}


int
auth_require(req_t *req, int admin)
{
    int  rc;

    rc = auth_load(req);
    if (rc < 0) {
        return rc;
    }
    if (rc == 0) {
        return auth_refuse(req);
    }
    if (admin && !req->user->is_admin) {
        return resp_error(req, 403, "FORBIDDEN", "administrators only");
    }
    return 0;
}


int
performance_room_allows(req_t *req, const char *room, size_t len)
{
    if (room != NULL
        && (strlen(req->ticket_room) != len
            || memcmp(req->ticket_room, room, len) != 0))
    {
        return resp_error(req, 403, "QUEUE_REQUIRED",
                          "this sale goes through its waiting room");
    }
    if (room != NULL && req->user != NULL && req->ticket_user_id != 0
        && req->ticket_user_id != req->user->id)
    {
        return resp_error(req, 403, "QUEUE_REQUIRED",
                          "the waiting-room pass belongs to another user");
    }
    return 0;
}


int
performance_room_check(req_t *req, int64_t performance_id)
{
    db_res_t     res;
    const char  *room;
    size_t       len;
    int          rc;

    rc = db_exec(req->db, &res,
                 "SELECT room FROM performances WHERE id = ?",
                 "i", performance_id);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc <= 0) {
        db_res_free(&res);
        return rc < 0 ? rc
               : resp_error(req, 404, "NOT_FOUND", "no such performance");
    }
    room = db_str(&res, 0, &len);
    rc = performance_room_allows(req, db_is_null(&res, 0) ? NULL : room, len);
    db_res_free(&res);
    return rc;
}
