/*
 * Idempotency-Key for the requests that create something or move money
 * (holds, charges, payments).
 *
 * A key belongs to a user.  The first request with it that does its work
 * (a 2xx answer) stores a hash of its method, path and body with that
 * answer, in the same transaction as the work; a later request with the
 * same key and the same hash gets that answer again (status and body, plus
 * "Idempotent-Replayed: true") without doing the work, and one with a
 * different hash gets 422 IDEMPOTENCY_KEY_REUSED.  A refusal (4xx) changed
 * nothing and is not stored, so the same key may be tried again; storing
 * it would cost a write on the hottest path of an on-sale, where most hold
 * attempts are refused.  Answers that ask to retry (5xx) are not stored
 * either.
 *
 * Two requests racing with one key are serialised by the unique key on
 * (user_id, idem_key): the second INSERT waits for the first transaction
 * and then fails as a duplicate, the second request's work is rolled back
 * and it replays the first one's stored answer; one refused in its
 * transaction (its seats went to the twin) looks the key up and replays
 * too.  Rows are kept at least 24 hours; the sweeper deletes older ones.
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
    int    replayed;          /* the answer written is a stored one */
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
 * Holds and balance payments pass no lookup: their first statement reads
 * whether the key has an answer (a join on idempotency_keys) and calls
 * idem_replay() only then, as a query per attempt counts.  Without any
 * lookup a replay would still end with the stored answer, because storing
 * the new one (idem_tx) meets the old row, rolls the work back and
 * replays, but a refusal on the way would win.
 */
int idem_start(req_t *req, idem_t *st, int lookup);

/*
 * Replays the answer stored under the request's key, or refuses a reused
 * key: RESP_DONE.  0 when the key has no answer; or DB_*.
 */
int idem_replay(req_t *req, idem_t *st);

/*
 * Runs fn in a transaction (req_tx, with its deadlock retries) that, when
 * fn succeeds, stores the key with fn's response before committing.
 * A refusal from fn (RESP_DONE with a 4xx) goes through idem_refuse().
 * Returns like req_tx.
 */
int idem_tx(req_t *req, idem_t *st, tx_fn_t fn, void *arg);

/*
 * For the refusal the caller has just written (outside a transaction):
 * should a twin request with the key have finished first, its answer
 * replaces ours.  Stores nothing; returns RESP_DONE or DB_*.
 */
int idem_refuse(req_t *req, idem_t *st);

#endif
