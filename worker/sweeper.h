/*
 * The sweeper: a thread of the worker that ends expired holds.
 *
 * Expiry itself needs no sweeper (a claim treats an expired hold's seats
 * as free), so the sweeper only turns what expiry means into rows: the
 * hold becomes 'expired', seats it still points at become 'available',
 * hold_seats claims are released, audit rows are written and the seat
 * map's version moves.  Each hold is its own transaction that locks the
 * hold and checks again, so several workers may sweep at once and a late
 * payment or release racing the sweeper finds the hold in one state or
 * the other, never half.  All state is in the database: a restart loses
 * nothing, the next sweep catches up.  It also deletes idempotency keys
 * older than IDEM_KEEP_SECONDS.
 */

#ifndef WORKER_SWEEPER_H
#define WORKER_SWEEPER_H

#include "config.h"
#include "req.h"

/* Starts the detached thread; 0 or -1. */
int sweeper_start(const worker_conf_t *conf);

/*
 * One pass over expired holds (at most batch of them) with req's
 * connection.  Returns the number ended, or a DB_* error.
 */
int sweep_holds(req_t *req, int batch);

#endif
