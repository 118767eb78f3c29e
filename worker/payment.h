/*
 * Paying for a hold.  One transaction checks the hold is the caller's and
 * alive, debits the balance, sells the seats, records the payment and the
 * reservation and writes the audit rows.  The answer carries
 * X-Ticket-Release naming the performance's waiting room, which the NGINX
 * module strips and uses to end the buyer's session in that room.
 */

#ifndef WORKER_PAYMENT_H
#define WORKER_PAYMENT_H

#include "req.h"

#define PAYMENT_RELEASE_HEADER  "X-Ticket-Release"

/* POST /api/payments {hold_id, method:"balance"} + Idempotency-Key */
int h_payment_create(req_t *req);

#endif
