/*
 * The booking domain's audit trail: batches of audit_log rows written with
 * one statement, and the operators' query endpoint.
 *
 * A hold of four seats changes five rows (four seats and the hold); a
 * payment changes the seats, the hold, the balance, the payment and the
 * reservation.  Each transition is its own audit row, but writing them one
 * statement each would double the round trips of the hottest transactions,
 * so a batch collects them and one multi-row INSERT stores them all (up to
 * AUDIT_ROWS_PER_INSERT rows a statement, each row count a prepared
 * statement of its own).  An INSERT ... SELECT FROM JSON_TABLE(...) did
 * the same with one parameter, at twice the cost in MariaDB.
 * audit_write() (req.c) remains the way to write a single row elsewhere.
 */

#ifndef WORKER_AUDIT_API_H
#define WORKER_AUDIT_API_H

#include <stdint.h>

#include "db.h"
#include "json.h"
#include "req.h"

#define AUDIT_ROWS_PER_INSERT  16

typedef struct audit_row_s  audit_row_t;

typedef struct {
    audit_row_t  *rows;
    size_t        n;
    size_t        cap;
    int           failed;       /* out of memory while adding */
} audit_batch_t;

/* 0, or -1 when out of memory. */
int audit_batch_init(audit_batch_t *b);

/*
 * Adds one transition.  performance_id, seat_id and user_id are 0 when
 * they do not apply; before and after are JSON object texts or NULL.
 */
void audit_batch_add(audit_batch_t *b, const char *entity, int64_t entity_id,
    const char *action, int64_t performance_id, int64_t seat_id,
    int64_t user_id, const char *before, const char *after);

/*
 * Writes the rows in the caller's transaction with the actor (0: none)
 * and request id (NULL: none).  Returns DB_OK or a DB_* error.  The batch
 * is freed either way.
 */
int audit_batch_write(db_t *db, audit_batch_t *b, int64_t actor,
    const char *request_id);

void audit_batch_free(audit_batch_t *b);

/* GET /api/admin/audit?performance_id=&seat_id=&user_id=&limit=&before= */
int h_admin_audit(req_t *req);

/*
 * Reads a paging argument: absent leaves *out alone; present must be an
 * integer in [min, max] or a 400 BAD_QUERY is written (RESP_DONE).
 */
int query_int_arg(req_t *req, const char *name, int64_t min, int64_t max,
    int64_t *out);

#endif
