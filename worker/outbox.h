/*
 * Reservation events for the data platform, through an outbox.
 *
 * A change that confirms, cancels or refunds a reservation writes its
 * event as an `outbox` row in its own transaction (outbox_reservation()),
 * so an event exists exactly when its change committed.  The publisher
 * thread copies the rows to one Redis Stream (conf outbox_stream) with
 * XADD, in outbox id order, one entry per row with the fields event_id
 * (the row id: stable, the key consumers deduplicate on), type,
 * aggregate, aggregate_id, occurred_at and payload (JSON text), and then
 * sets the row's published_at.
 *
 * Delivery is at least once: a crash between the XADD and the UPDATE
 * sends that one entry again after the restart.  While Redis is down the
 * rows simply wait and the publisher reconnects with a growing pause
 * (up to 5 s); no request ever waits for Redis.  Published rows are
 * deleted after 7 days; the stream itself is not trimmed here (that is
 * the data platform's retention to choose, e.g. XTRIM MINID).
 *
 * Order: ids are given out when a row is inserted but become visible
 * when its transaction commits, so a row may appear after a higher id.
 * When the next unpublished id is not the successor of the last one
 * published, the publisher waits up to outbox_gap_wait_ms for the gap to
 * fill (a transaction still running) before going on (the id was burnt
 * by a rollback); a row that commits even later is published as soon as
 * it is seen, out of order but never lost.
 */

#ifndef WORKER_OUTBOX_H
#define WORKER_OUTBOX_H

#include <stdint.h>

#include "config.h"
#include "idlist.h"
#include "req.h"

/* What a reservation event says (its payload). */
typedef struct {
    int64_t          reservation_id;
    int64_t          user_id;
    int64_t          performance_id;
    int64_t          payment_id;        /* 0: none */
    int64_t          total;
    const char      *status;
    const char      *payment_method;    /* "" without a payment */
    const char      *payment_status;
    const idlist_t  *seats;             /* in seat id order */
} outbox_reservation_t;

/*
 * Writes the event `type` ("reservation.confirmed", ".cancelled",
 * ".refunded") for reservation id in the caller's transaction, its
 * payload read from the reservation's rows.  DB_OK or DB_*.
 */
int outbox_reservation(req_t *req, const char *type, int64_t reservation_id);

/* The same for a caller that has the reservation in hand. */
int outbox_reservation_event(req_t *req, const char *type,
    const outbox_reservation_t *r);

/* Writes an event with a ready payload (a JSON object text). */
int outbox_add(req_t *req, const char *type, const char *aggregate,
    int64_t aggregate_id, const char *payload);

/* Starts the publisher when redis_port is set; 0 or -1. */
int outbox_start(const worker_conf_t *conf);

/* Asks the publisher to finish its current entry and waits for it. */
void outbox_stop(void);

#endif
