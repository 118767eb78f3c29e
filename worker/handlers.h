/*
 * Every endpoint's handler, by domain file.  routes.c maps them to paths.
 */

#ifndef WORKER_HANDLERS_H
#define WORKER_HANDLERS_H

#include "req.h"

/* health.c */
int h_health(req_t *req);

/* accounts.c */
int h_users_create(req_t *req);
int h_sessions_create(req_t *req);
int h_sessions_delete(req_t *req);
int h_me(req_t *req);

/* catalogue.c */
int h_events_list(req_t *req);
int h_event_get(req_t *req);
int h_performance_get(req_t *req);

/* seatmap.c */
int h_performance_seats(req_t *req);

/* admin.c */
int h_admin_venues_create(req_t *req);
int h_admin_events_create(req_t *req);
int h_admin_performances_create(req_t *req);
int h_admin_performance_room_set(req_t *req);
int h_admin_performance_room_clear(req_t *req);

/* The booking domain declares its handlers in its own headers. */
#include "audit_api.h"
#include "balance.h"
#include "card.h"
#include "hold.h"
#include "payment.h"
#include "reservation.h"

#endif
