/*
 * Reservations: what a payment bought.  The owner lists and reads them
 * and may cancel one before the performance starts: the seats go back on
 * sale and the money back to the balance, in one transaction.
 */

#ifndef WORKER_RESERVATION_H
#define WORKER_RESERVATION_H

#include <stdint.h>

#include "req.h"

/* GET /api/reservations?limit=&before= (newest first) */
int h_reservations_list(req_t *req);

/* GET /api/reservations/{id} */
int h_reservation_get(req_t *req);

/* POST /api/reservations/{id}/cancel */
int h_reservation_cancel(req_t *req);

/*
 * Writes the caller's reservation id as the response with status, or 404
 * RESERVATION_NOT_FOUND.  Returns RESP_DONE or DB_*.
 */
int reservation_respond(req_t *req, int64_t id, int status);

#endif
