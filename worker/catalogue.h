/*
 * Catalogue helpers shared with the booking code.
 */

#ifndef WORKER_CATALOGUE_H
#define WORKER_CATALOGUE_H

#include <stdint.h>

#include "req.h"

/*
 * Bumps the performance's seat_version (the seat map's ETag) and its
 * Last-Modified time.  Call it in the same transaction as every change of
 * a performance_seats row (hold, release, sale, cancellation, expiry).
 */
int performance_seats_changed(req_t *req, int64_t performance_id);

/* "concert", "musical" or "sports": 1, else 0. */
int category_is_valid(const char *s);

#endif
