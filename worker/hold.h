/*
 * Holds: a user's claim on some seats of one performance for a few
 * minutes, while they pay.
 *
 * A seat is claimable when it is 'available' or 'held' by a hold whose
 * time has passed: expiry needs no write, so an expired hold frees its
 * seats at once, and the sweeper (sweeper.c) only tidies up after it.  The
 * claim is one conditional UPDATE over all the requested seats whose
 * affected-row count must equal the number of seats, so a hold gets all
 * its seats or none; row locks are taken in primary-key order, so two
 * multi-seat claims cannot deadlock; and hold_seats' unique key on live
 * claims is the last line of defence.
 */

#ifndef WORKER_HOLD_H
#define WORKER_HOLD_H

#include <stdint.h>

#include "idlist.h"
#include "req.h"

/* POST /api/performances/{id}/holds {seat_ids:[...]} + Idempotency-Key */
int h_hold_create(req_t *req);

/* GET /api/holds/{id} */
int h_hold_get(req_t *req);

/* DELETE /api/holds/{id} */
int h_hold_release(req_t *req);

/*
 * Ends an active hold in the caller's transaction: its seats that still
 * belong to it become available, its hold_seats rows are released, the
 * hold takes status ("released" or "expired") and audit rows are written.
 * The caller has locked the hold row.
 * actor is 0 for the sweeper.  Returns DB_OK or a DB_* error.
 */
int hold_end(req_t *req, int64_t hold_id, int64_t performance_id,
    int64_t user_id, const char *status, int64_t actor);

/*
 * Tells the process's cache of taken seats (taken.h) that these seats of
 * the performance are free again, so that its refusals stop at once.
 */
void hold_seats_freed(req_t *req, int64_t perf, const idlist_t *seats);

/*
 * SQL text with "%s" standing for an IN list, for n placeholders (1 to
 * IDLIST_MAX).  The text lives for the process: the statement cache keeps
 * it.  which is one of the HOLD_SQL_* below.
 */
#define HOLD_SQL_PRECHECK  0
#define HOLD_SQL_CLAIM     1
#define HOLD_SQL_TAKEN     2
#define HOLD_SQL_RECORD    3
#define HOLD_SQL_UNCLAIM   4
#define HOLD_SQL_COUNT     5

const char *hold_sql(int which, size_t n);

#endif
