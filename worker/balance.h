/*
 * The prepaid balance.  balance_ledger is the record (append-only: every
 * top-up, payment and refund is a row with the balance after it) and
 * balance_accounts.balance its running sum, changed only by balance_move()
 * in the same transaction as the ledger row; a CHECK keeps it from going
 * below zero even if code were wrong.
 */

#ifndef WORKER_BALANCE_H
#define WORKER_BALANCE_H

#include <stdint.h>

#include "audit_api.h"
#include "req.h"

#define BALANCE_CHARGE_MAX  10000000      /* KRW per top-up */
#define BALANCE_MAX         100000000     /* KRW on one account */

/* balance_move(): the debit exceeds the balance, or the credit the cap. */
#define BALANCE_SHORT       2
#define BALANCE_FULL        3

/* GET /api/balance */
int h_balance_get(req_t *req);

/* POST /api/balance/charges {amount} + Idempotency-Key */
int h_balance_charge(req_t *req);

/* GET /api/balance/ledger?limit=&before= */
int h_balance_ledger(req_t *req);

/*
 * Adds amount (negative: a debit) to user's balance in the caller's
 * transaction: locks the account, appends the ledger row of kind
 * ("topup", "payment", "refund"), and adds the audit row to b.  Returns
 * DB_OK (with *after and *ledger_id set when not NULL), BALANCE_SHORT,
 * BALANCE_FULL or a DB_* error.
 */
int balance_move(req_t *req, int64_t user_id, int64_t amount,
    const char *kind, int64_t payment_id, audit_batch_t *b, int64_t *after,
    int64_t *ledger_id);

#endif
