/*
 * Idempotency-Key for the requests that create something or move money
 * (holds, charges, payments).
 *
 * A key belongs to a user.  The first request with it stores a hash of
 * its method, path and body with the response it got, in the same
 * transaction as the work; a later request with the same key and the same hash
 * gets that response again (status and body, plus "Idempotent-Replayed:
 * true") without doing the work, and one with a different hash gets 422
 * IDEMPOTENCY_KEY_REUSED.  Refusals (4xx) are stored too, in their own
 * statement once the work's transaction has rolled back; answers that ask
 * to retry (5xx) are not.
 *
 * Two requests racing with one key are serialised by the unique key on
 * (user_id, idem_key): the second INSERT waits for the first transaction
 * and then fails as a duplicate, the second request's work is rolled back
 * and it replays the first one's stored answer.  Rows are kept at least 24 hours; the
 * sweeper deletes older ones.
 */

#ifndef WORKER_IDEMPOTENCY_H
#define WORKER_IDEMPOTENCY_H

#include <stddef.h>

#include "req.h"

#define IDEM_HASH_LEN   64
#define IDEM_KEEP_SECONDS  (24 * 3600 + 3600)

typedef struct {
    char   hash[IDEM_HASH_LEN + 1];
    int    duplicate;         /* our claim met a committed twin */
} idem_t;

/*
 * Hex SHA-256 of "METHOD\nLEN:PATH\n" followed by the body; out holds
 * IDEM_HASH_LEN + 1 bytes.  0, or -1 when hashing failed.
 */
int idem_hash(const char *method, const char *path, const char *body,
    size_t body_len, char *out);

/*
 * Call first, after validating the body: requires the header (400
 * IDEMPOTENCY_KEY_REQUIRED); with lookup, replays a stored answer or
 * refuses a reused key (both RESP_DONE).  0 means "do the work".
 *
 * The lookup only saves work: without it a replay still ends with the
 * stored answer, because storing the new answer (idem_tx, idem_refuse)
 * meets the old row, rolls the work back and replays.  Holds skip it, as
 * most attempts at a contended seat are refused at once and a query per
 * attempt counts; payments keep it, since a retried payment must replay
 * before the waiting-room check, whose session the payment has ended.
 */
int idem_start(req_t *req, idem_t *st, int lookup);

/*
 * Runs fn in a transaction (req_tx, with its deadlock retries) that, when
 * fn succeeds, stores the key with fn's response before committing.
 * A refusal from fn (RESP_DONE with a 4xx) is stored after the rollback.
 * Returns like req_tx.
 */
int idem_tx(req_t *req, idem_t *st, tx_fn_t fn, void *arg);

/*
 * Stores the refusal the caller has just written (outside a transaction)
 * and returns RESP_DONE.  Should another request with the key have
 * finished first, its answer replaces ours.
 */
int idem_refuse(req_t *req, idem_t *st);

#endif
