#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "idempotency.h"
#include "log.h"

typedef struct {
    idem_t    *st;
    tx_fn_t    fn;
    void      *arg;
} idem_call_t;


int
idem_hash(const char *method, const char *path, const char *body,
    size_t body_len, char *out)
{
    static const char  hex[] = "0123456789abcdef";
    unsigned char      md[EVP_MAX_MD_SIZE];
    unsigned int       mdlen = 0;
    EVP_MD_CTX        *ctx;
    char               plen[24];
    int                ok, n;

    /* The path's length goes first: a decoded path may hold a newline. */
    n = snprintf(plen, sizeof(plen), "%zu:", strlen(path));
    ctx = EVP_MD_CTX_new();
    if (ctx == NULL) {
        return -1;
    }
    ok = EVP_DigestInit_ex(ctx, EVP_sha256(), NULL)
         && EVP_DigestUpdate(ctx, method, strlen(method))
         && EVP_DigestUpdate(ctx, "\n", 1)
         && EVP_DigestUpdate(ctx, plen, (size_t) n)
         && EVP_DigestUpdate(ctx, path, strlen(path))
         && EVP_DigestUpdate(ctx, "\n", 1)
         && (body_len == 0 || EVP_DigestUpdate(ctx, body, body_len))
         && EVP_DigestFinal_ex(ctx, md, &mdlen)
         && mdlen * 2 == IDEM_HASH_LEN;
    EVP_MD_CTX_free(ctx);
    if (!ok) {
        return -1;
    }
    for (unsigned i = 0; i < mdlen; i++) {
        out[i * 2] = hex[md[i] >> 4];
        out[i * 2 + 1] = hex[md[i] & 0x0f];
    }
    out[IDEM_HASH_LEN] = '\0';
    return 0;
}


int
idem_replay(req_t *req, idem_t *st)
{
    const char  *hash, *body;
    db_res_t     res;
    size_t       hlen, blen;
    int64_t      status;
    int          rc;

    if (req->user == NULL) {
        /* Refused before the session was known: no keys to look at. */
        return 0;
    }

    rc = db_exec(req->db, &res,
                 "SELECT request_hash, status, response_status, response_body"
                 " FROM idempotency_keys WHERE user_id = ? AND idem_key = ?",
                 "is", req->user->id, req->idempotency_key);
    if (rc != DB_OK) {
        return rc;
    }
    rc = db_fetch(&res);
    if (rc != 1) {
        db_res_free(&res);
        return rc;
    }
    /* Whatever this request was about to answer gives way. */
    resp_reset(req);
    st->replayed = 1;
    hash = db_str(&res, 0, &hlen);
    if (hlen != IDEM_HASH_LEN || memcmp(hash, st->hash, hlen) != 0) {
        db_res_free(&res);
        return resp_error(req, 422, "IDEMPOTENCY_KEY_REUSED",
                          "this Idempotency-Key was used for another request");
    }
    status = db_is_null(&res, 2) ? 0 : db_int(&res, 2);
    if (strcmp(db_str(&res, 1, NULL), "done") != 0 || status == 0) {
        /* Only visible if a writer committed half a claim: never expected. */
        db_res_free(&res);
        resp_header(req, "Retry-After", "1");
        return resp_error(req, 409, "IDEMPOTENCY_IN_PROGRESS",
                          "a request with this Idempotency-Key is running");
    }
    body = db_str(&res, 3, &blen);
    resp_header(req, "Idempotent-Replayed", "true");
    rc = resp_body(req, (int) status, "application/json", body, blen);
    db_res_free(&res);
    return rc;
}


int
idem_start(req_t *req, idem_t *st, int lookup)
{
    memset(st, 0, sizeof(*st));
    if (req->idempotency_key[0] == '\0') {
        return resp_error(req, 400, "IDEMPOTENCY_KEY_REQUIRED",
                          "this request needs an Idempotency-Key header");
    }
    if (idem_hash(req->method_name, req->path, req->body, req->body_len,
                  st->hash) != 0)
    {
        log_error("idempotency: hashing failed");
        return DB_ERROR;
    }
    return lookup ? idem_replay(req, st) : 0;
}


/*
 * The work first, then the key with its answer, in one transaction.  A
 * twin request with the same key either finds the row (idem_replay) or
 * inserts it second: its INSERT waits for the first transaction and fails
 * as a duplicate, its work is rolled back and it replays the first answer.
 */
static int
idem_claim_tx(req_t *req, void *arg)
{
    idem_call_t  *c = arg;
    int           rc;

    rc = c->fn(req, c->arg);
    if (rc != 0) {
        return rc;
    }
    rc = db_exec(req->db, NULL,
                 "INSERT INTO idempotency_keys (user_id, idem_key, method,"
                 " path, request_hash, status, response_status,"
                 " response_body) VALUES (?, ?, ?, ?, ?, 'done', ?, ?)",
                 "issssib", req->user->id, req->idempotency_key,
                 req->method_name, req->path, c->st->hash,
                 (int64_t) req->status, req->out, req->out_len);
    if (rc == DB_DUPLICATE) {
        c->st->duplicate = 1;
    }
    return rc;
}


int
idem_refuse(req_t *req, idem_t *st)
{
    int  rc;

    if (st->replayed || req->status < 400 || req->status >= 500) {
        return RESP_DONE;
    }
    /* A twin request that finished first: both answer what it answered. */
    rc = idem_replay(req, st);
    return rc == 0 ? RESP_DONE : rc;
}


int
idem_tx(req_t *req, idem_t *st, tx_fn_t fn, void *arg)
{
    idem_call_t  c = { st, fn, arg };
    int          rc;

    st->duplicate = 0;
    rc = req_tx(req, idem_claim_tx, &c);
    if (rc == DB_DUPLICATE && st->duplicate) {
        resp_reset(req);
        rc = idem_replay(req, st);
        if (rc == 0) {
            resp_header(req, "Retry-After", "1");
            return resp_error(req, 409, "IDEMPOTENCY_IN_PROGRESS",
                              "a request with this Idempotency-Key is"
                              " running");
        }
        return rc;
    }
    if (rc == RESP_DONE) {
        return idem_refuse(req, st);
    }
    return rc;
}
