/*
 * Card payments through the external gateway (gateway.c).
 *
 * POST /api/payments {hold_id, method:"card"} opens a pending payment in
 * one transaction (the hold is extended once, to now +
 * checkout_extend_seconds, so that the checkout fits), then asks the
 * gateway for a checkout outside any transaction, then stores and answers
 * the checkout URL (the Idempotency-Key is stored with that answer).  A
 * retry after a failed gateway call finds the pending payment and asks the
 * gateway again: the gateway knows payments by our id, so it answers the
 * same checkout.
 *
 * The gateway answers later with POST /api/payments/callback, signed
 * (X-Gateway-Signature: hex HMAC-SHA256 of the raw body under the shared
 * secret), with no session.  The outcome is applied in one transaction
 * (card_settle()):
 *
 *   - success while the hold still owns all its seats (even past its
 *     expiry, as long as nobody took them): seats sold, reservation
 *     confirmed, hold converted, event "reservation.confirmed";
 *   - success when the seats are gone (or the payment had already been
 *     closed as failed): the payment becomes refund_pending with the
 *     reason, the hold ends, the seats are not touched; settle.c makes the
 *     refund call until the gateway confirms it;
 *   - failure: the payment fails and the hold is released.
 *
 * Terminal states are sticky: a duplicate callback changes nothing and
 * gets 200 again; a stale "pending" after the outcome, or a failure after
 * a success, is acknowledged and ignored.  An amount or currency that is
 * not the payment's is refused (422) and changes nothing.
 *
 * The buyer follows the payment with GET /api/payments/{id}.  The
 * callback comes from the gateway, not from the buyer's browser, so it
 * cannot end the buyer's waiting-room session: X-Ticket-Release is sent
 * instead with the buyer's reading of the succeeded payment (every GET
 * /api/payments/{id} of it; ending an ended session again is harmless),
 * and a buyer who never looks is let go by the room's inactivity
 * timeout.
 */

#ifndef WORKER_CARD_H
#define WORKER_CARD_H

#include <stdint.h>

#include "idempotency.h"
#include "req.h"

#define CARD_SUCCEEDED  1
#define CARD_FAILED     2

/*
 * The card branch of POST /api/payments, after the shared checks
 * (validation, idempotency lookup, hold found, waiting room).
 */
int card_payment_create(req_t *req, idem_t *st, int64_t hold_id,
    int64_t performance_id);

/* POST /api/payments/callback (no session: the signature authenticates). */
int h_payment_callback(req_t *req);

/* GET /api/payments/{id}: the owner's payment, with the reason if any. */
int h_payment_get(req_t *req);

/*
 * Applies an outcome (CARD_*) reported by the gateway to a card payment,
 * in its own transaction.  amount < 0 and currency NULL skip the checks.
 * Returns 0 with *status_after set (the payment's status afterwards),
 * RESP_DONE after a refusal written to req (404, 422), or DB_*.
 */
int card_settle(req_t *req, int64_t payment_id, int outcome, int64_t amount,
    const char *currency, const char *reason, char *status_after,
    size_t size);

/*
 * Marks a refund_pending payment refunded after the gateway confirmed the
 * refund, with its audit row and event.  0 or DB_*.
 */
int card_refunded(req_t *req, int64_t payment_id);

#endif
