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

/*
 * The condition a live session meets, for statements that authenticate
 * while they do their own work (joining `sessions` as AUTH_SESSION and
 * `users` as AUTH_USER): two parameters, the claimed session id and user
 * id (req->claim_session_id, req->claim_user_id).
 */
#define AUTH_SESSION_LIVE                                                    \
    "sess.id = ? AND sess.user_id = ? AND sess.revoked_at IS NULL"           \
    " AND sess.expires_at > UTC_TIMESTAMP()"

/* The user's columns auth_adopt() reads, in its order. */
#define AUTH_USER_COLUMNS  "usr.id, usr.email, usr.name, usr.role"

/*
 * Reads the session cookie and checks its signature and expiry, without
 * the database: 1 with req->claim_* set, 0 when there is no valid cookie.
 */
int auth_claim(req_t *req);

/*
 * Takes the user from AUTH_USER_COLUMNS at column col of the current row:
 * 1 with req->user set, 0 when the row has no live session (NULL id).
 */
int auth_adopt(req_t *req, const db_res_t *res, unsigned col);

/* 1 with req->user set, 0 when there is no valid session, or DB_*. */
int auth_load(req_t *req);

/* Writes 401 UNAUTHENTICATED; returns RESP_DONE. */
int auth_refuse(req_t *req);

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
