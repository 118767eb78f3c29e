/*
 * Catalogue helpers shared with the booking code.
 */

#ifndef WORKER_CATALOGUE_H
#define WORKER_CATALOGUE_H

#include <stdint.h>

#include "req.h"

/*
 * Bumps the performance's seat_version and seat_changed_at.  The seat map
 * no longer reads them (its ETag is a hash of the seat states, see
 * seatmap.c), and holds, releases, expiries and balance payments no longer
 * call this: the row it updates serialised every transaction of a
 * performance.  Cancellations and card payments still do, until their
 * owners drop the call; then the columns can go.
 */
int performance_seats_changed(req_t *req, int64_t performance_id);

/* "concert", "musical" or "sports": 1, else 0. */
int category_is_valid(const char *s);

#endif
