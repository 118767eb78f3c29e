/*
 * Sessions, passwords and the waiting-room check.
 *
 * A session is a row in `sessions` and a cookie `ticket_session` holding a
 * TICKET_TOKEN_SESSION token (user id, number = session id, expiry) signed
 * under the worker's secret; the previous secret still verifies, for
 * rotation.  A request is authenticated when the token verifies and its
 * session row is neither revoked nor expired.
 */

#ifndef WORKER_AUTH_H
#define WORKER_AUTH_H

#include <stddef.h>
#include <stdint.h>

#include "req.h"

#define SESSION_COOKIE  "ticket_session"

/* 1 with req->user set, 0 when there is no valid session, or DB_*. */
int auth_load(req_t *req);

/*
 * 0 when authenticated (and admin if asked); otherwise writes 401
 * UNAUTHENTICATED or 403 FORBIDDEN and returns RESP_DONE, or DB_*.
 */
int auth_require(req_t *req, int admin);

/* yescrypt with a fresh salt; 0 or -1. */
int password_hash(req_t *req, const char *password, char *out, size_t size);

/* 1 when password matches hash, 0 otherwise. */
int password_verify(req_t *req, const char *password, const char *hash);

/*
 * Whether the request may hold or pay seats of this performance.  When the
 * performance names a waiting room, the request must have come through it:
 * TICKET_ROOM must name that room (and TICKET_USER, when numeric, must be
 * the session's user).  Without a room the session alone authorises.
 * Returns 0 when allowed; RESP_DONE after 404 NOT_FOUND or 403
 * QUEUE_REQUIRED; or DB_*.  Call after auth (req->user set).
 */
int performance_room_check(req_t *req, int64_t performance_id);

/*
 * The same decision for a caller that read the performance's room itself
 * (room NULL: the performance has none), saving the lookup.  Returns 0
 * when allowed or RESP_DONE after 403 QUEUE_REQUIRED.
 */
int performance_room_allows(req_t *req, const char *room, size_t len);

#endif
