/*
 * The token codec shared by the NGINX module and the FastCGI worker.
 *
 * A token is base64url(payload) "." base64url(HMAC-SHA256(key, payload)).
 * The payload is a fixed binary layout (version, kind, user, number, expiry,
 * room name) so that the gate can verify it without any allocation.  This
 * file knows nothing of NGINX or MySQL: both sides compile the very same
 * source, and unit tests call it directly.
 */

#ifndef TICKET_TOKEN_H
#define TICKET_TOKEN_H

#include <stddef.h>
#include <stdint.h>

#define TICKET_TOKEN_VERSION      1

/* What a token grants. */
#define TICKET_TOKEN_SESSION      1   /* logged-in user (worker's cookie) */
#define TICKET_TOKEN_QUEUE        2   /* a place in a room's line */
#define TICKET_TOKEN_ACCESS       3   /* an admitted session in a room */

#define TICKET_TOKEN_ROOM_MAX     64
#define TICKET_TOKEN_MAX_LEN      192  /* encoded length, NUL not included */
#define TICKET_KEY_MIN_LEN        16
#define TICKET_KEY_MAX_LEN        128

/* Results of ticket_token_decode(). */
#define TICKET_TOKEN_OK            0
#define TICKET_TOKEN_MALFORMED    -1
#define TICKET_TOKEN_BAD_SIGNATURE -2
#define TICKET_TOKEN_EXPIRED      -3


typedef struct {
    unsigned       kind;
    uint64_t       user_id;
    /* The session id, the place in line, or the access session serial. */
    uint64_t       number;
    int64_t        issued_at;     /* unix seconds */
    int64_t        expires_at;    /* unix seconds */
    size_t         room_len;      /* 0 for session tokens */
    unsigned char  room[TICKET_TOKEN_ROOM_MAX];
} ticket_token_t;


/*
 * A signing key with its HMAC state precomputed, so that each sign or
 * verify costs two SHA-256 compressions of the payload and no allocation.
 */
typedef struct ticket_key_s  ticket_key_t;


ticket_key_t *ticket_key_create(const unsigned char *secret, size_t len);
void ticket_key_destroy(ticket_key_t *key);

/*
 * Reads a key file: its bytes with surrounding white space removed.  Fails
 * (returns NULL and sets *err to a static message) when the file is
 * missing, shorter than TICKET_KEY_MIN_LEN, or readable by group or others.
 */
ticket_key_t *ticket_key_load(const char *path, const char **err);

/*
 * Writes the token and a terminating NUL into out; returns its length, or
 * 0 when out is too small or the token's fields are out of range.
 */
size_t ticket_token_encode(char *out, size_t size, const ticket_token_t *tok,
    const ticket_key_t *key);

/*
 * Verifies the signature under any of nkeys keys (current key first, then
 * previous ones for rotation), then the expiry against now.  On
 * TICKET_TOKEN_OK and TICKET_TOKEN_EXPIRED, tok holds the payload.
 */
int ticket_token_decode(ticket_token_t *tok, const char *in, size_t len,
    ticket_key_t *const *keys, size_t nkeys, int64_t now);

const char *ticket_token_strerror(int rc);

/* base64url without padding; both return the output length, or 0 on error */
size_t ticket_base64url_encode(char *out, size_t size,
    const unsigned char *in, size_t len);
size_t ticket_base64url_decode(unsigned char *out, size_t size,
    const char *in, size_t len);

/*
 * HMAC-SHA256 of data under key (32 bytes into mac), for other signed
 * messages than tokens (the payment gateway's callbacks).
 */
void ticket_hmac_sha256(const ticket_key_t *key, const void *data,
    size_t len, unsigned char mac[32]);

/* Constant-time comparison: 0 when equal. */
int ticket_memeq_ct(const void *a, const void *b, size_t len);

#endif /* TICKET_TOKEN_H */
