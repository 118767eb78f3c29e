/*
 * The settler: a thread of the worker that makes sure no card payment
 * stays open for ever.
 *
 *   - A pending payment whose next_check_at has come (payment_check_after
 *     seconds after it was opened, then with a growing pause) is asked
 *     about (GET /v1/payments/{id}): a final answer is applied exactly as
 *     a callback would be (card_settle()); a payment the gateway never saw
 *     fails (NOT_AT_GATEWAY); one still pending after payment_pending_max
 *     seconds fails (CHECKOUT_TIMEOUT), and should it succeed later after
 *     all, that success is refunded.  While the gateway does not answer,
 *     the payment stays pending and is asked again later: we cannot know
 *     whether money was taken.
 *   - A refund_pending payment gets the refund call; until the gateway
 *     confirms, it is retried with a growing pause (2^attempts seconds,
 *     at most 5 minutes).
 *
 * All state is in the payments rows, so a restart loses nothing, and
 * several workers may settle at once: each change locks the payment row
 * and checks its state again; a gateway call made twice is harmless (the
 * status query reads, the refund is idempotent at the gateway).
 */

#ifndef WORKER_SETTLE_H
#define WORKER_SETTLE_H

#include "config.h"
#include "req.h"

/* Starts the thread when card payments are configured; 0 or -1. */
int settle_start(const worker_conf_t *conf);

/* Asks the thread to stop after its current payment and waits. */
void settle_stop(void);

/* One pass with req's connection; the number of payments looked at. */
int settle_pass(req_t *req);

#endif
