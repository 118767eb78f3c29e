#include <stdio.h>
#include <string.h>

#include "balance.h"
#include "idempotency.h"

#define ISO_FMT          "'%Y-%m-%dT%H:%i:%s.%fZ'"
#define LEDGER_PAGE      50
#define LEDGER_PAGE_MAX  500


int
balance_move(req_t *req, int64_t user_id, int64_t amount, const char *kind,
    int64_t payment_id, audit_batch_t *b, int64_t *after, int64_t *ledger_id)
{
    db_res_t  res;
    int64_t   before = 0, now, cap;
    char      jb[64], ja[96];
    int       rc;

    /*
     * LAST_INSERT_ID(expr) hands the new balance back with the update
     * itself (as the statement's insert id), saving a round trip.
     */
    if (amount < 0) {
        rc = db_exec(req->db, &res,
                     "UPDATE balance_accounts"
                     " SET balance = LAST_INSERT_ID(balance + ?),"
                     " updated_at = UTC_TIMESTAMP(3)"
                     " WHERE user_id = ? AND balance + ? >= 0",
                     "iii", amount, user_id, amount);
        if (rc != DB_OK) {
            return rc == DB_CHECK ? BALANCE_SHORT : rc;
        }
        if (res.affected == 0) {
            return BALANCE_SHORT;
        }
        now = (int64_t) res.insert_id;
    } else {
        /*
         * One statement creates the account or locks it and adds the
         * amount unless that would pass the cap (0 rows changed then).
         * The cap limits top-ups; a refund always goes through.
         */
        cap = strcmp(kind, "topup") == 0 ? BALANCE_MAX : INT64_MAX / 2;
        rc = db_exec(req->db, &res,
                     "INSERT INTO balance_accounts (user_id, balance)"
                     " VALUES (?, ?) ON DUPLICATE KEY UPDATE"
                     " updated_at = IF(balance + VALUES(balance) <= ?,"
                     "  UTC_TIMESTAMP(3), updated_at),"
                     " balance = IF(balance + VALUES(balance) <= ?,"
                     "  LAST_INSERT_ID(balance + VALUES(balance)), balance)",
                     "iiii", user_id, amount, cap, cap);
        if (rc != DB_OK) {
            return rc;
        }
        if (res.affected == 0) {
            return BALANCE_FULL;
        }
        /* 1: a new account holding amount; 2: an existing one updated. */
        now = res.affected == 1 ? amount : (int64_t) res.insert_id;
    }
    before = now - amount;

    rc = db_exec(req->db, &res,
                 "INSERT INTO balance_ledger (user_id, amount, kind,"
                 " balance_after, payment_id) VALUES (?, ?, ?, ?, ?)",
                 "iisiI", user_id, amount, kind, now, payment_id);
    if (rc != DB_OK) {
        return rc;
    }
    if (ledger_id != NULL) {
        *ledger_id = (int64_t) res.insert_id;
    }
    if (after != NULL) {
        *after = now;
    }
    snprintf(jb, sizeof(jb), "{\"balance\":%lld}", (long long) before);
    snprintf(ja, sizeof(ja), "{\"balance\":%lld,\"ledger_id\":%lld}",
             (long long) now, (long long) res.insert_id);
    audit_batch_add(b, "balance", user_id, kind, 0, 0, user_id, jb, ja);
    return DB_OK;
}


int
h_balance_get(req_t *req)
{
    int64_t  balance = 0;
    jw_t     w;
    int      rc;

    rc = db_query_int(req->db, &balance,
                      "SELECT balance FROM balance_accounts WHERE user_id = ?",
                      "i", req->user->id);
    if (rc < 0) {
        return rc;
    }
    if (jw_init(&w) != 0) {
        return DB_ERROR;
    }
    jw_obj_open(&w);
    jw_kv_int(&w, "balance", balance);
    jw_kv_str(&w, "currency", "KRW");
    jw_obj_close(&w);
    rc = resp_json(req, 200, &w);
    jw_free(&w);
    return rc;
}


static int
balance_charge_tx(req_t *req, void *arg)
{
    audit_batch_t  b;
    int64_t        amount = *(int64_t *) arg, after = 0, ledger = 0;
    jw_t           w;
    int            rc;

    if (audit_batch_init(&b) != 0) {
        return DB_ERROR;
    }
    rc = balance_move(req, req->user->id, amount, "topup", 0, &b, &after,
                      &ledger);
    if (rc == BALANCE_FULL) {
        audit_batch_free(&b);
        return resp_error(req, 422, "BALANCE_LIMIT",
                          "a balance may not exceed %d KRW", BALANCE_MAX);
    }
    if (rc != DB_OK) {
        audit_batch_free(&b);
        return rc;
    }
    rc = audit_batch_write(req->db, &b, req->user->id, req->request_id);
    if (rc != DB_OK) {
        return rc;
    }

    if (jw_init(&w) != 0) {
        return DB_ERROR;
    }
    jw_obj_open(&w);
    jw_kv_int(&w, "balance", after);
    jw_key(&w, "entry");
    jw_obj_open(&w);
    jw_kv_int(&w, "id", ledger);
    jw_kv_int(&w, "amount", amount);
    jw_kv_str(&w, "kind", "topup");
    jw_kv_int(&w, "balance_after", after);
    jw_obj_close(&w);
    jw_obj_close(&w);
    resp_json(req, 201, &w);
    jw_free(&w);
    return req->status == 201 ? 0 : RESP_DONE;
}


int
h_balance_charge(req_t *req)
{
    jv_err_t  err;
    int64_t   amount = 0;
    idem_t    st;
    int       rc;

    if (jv_int(req->json, "amount", 1, 1, BALANCE_CHARGE_MAX, &amount,
               &err) < 0)
    {
        return resp_error(req, 400, "VALIDATION", "%s", err.message);
    }
    rc = idem_start(req, &st, 1);
    if (rc != 0) {
        return rc;
    }
    return idem_tx(req, &st, balance_charge_tx, &amount);
}


static void
ledger_row_json(jw_t *w, const db_res_t *res)
{
    jw_obj_open(w);
    jw_kv_int(w, "id", db_int(res, 0));
    jw_kv_int(w, "amount", db_int(res, 1));
    jw_kv_str(w, "kind", db_str(res, 2, NULL));
    jw_kv_int(w, "balance_after", db_int(res, 3));
    jw_key(w, "payment_id");
    if (db_is_null(res, 4)) {
        jw_null(w);
    } else {
        jw_int(w, db_int(res, 4));
    }
    jw_kv_str(w, "created_at", db_str(res, 5, NULL));
    jw_obj_close(w);
}


int
h_balance_ledger(req_t *req)
{
    int64_t   limit = LEDGER_PAGE, before = INT64_MAX;
    db_res_t  res;
    int       rc;

    if (query_int_arg(req, "limit", 1, LEDGER_PAGE_MAX, &limit)
        || query_int_arg(req, "before", 1, INT64_MAX, &before))
    {
        return RESP_DONE;
    }
    rc = db_exec(req->db, &res,
                 "SELECT id, amount, kind, balance_after, payment_id,"
                 " DATE_FORMAT(created_at, " ISO_FMT ")"
                 " FROM balance_ledger WHERE user_id = ? AND id < ?"
                 " ORDER BY id DESC LIMIT ?", "iii", req->user->id, before,
                 limit);
    if (rc != DB_OK) {
        return rc;
    }
    return resp_page(req, &res, "entries", limit, ledger_row_json);
}
