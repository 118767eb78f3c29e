/*
 * libFuzzer target: the token codec (common/ticket_token.c), as the gate
 * and the worker meet it in a cookie or an X-Ticket-Token header.
 *
 * Every input is decoded under two keys.  A decoded token must encode
 * again to a token that decodes to the same fields, and base64url must
 * round-trip: a forged or mangled token may be refused, never misread.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ticket_token.h"

#define FUZZ_CHECK(c)  do { if (!(c)) { abort(); } } while (0)


static ticket_key_t  *keys[2];


static void
fuzz_keys(void)
{
    static const char  k0[] = "fuzz-current-key-0123456789abcdef";
    static const char  k1[] = "fuzz-previous-key-fedcba987654321";

    if (keys[0] == NULL) {
        keys[0] = ticket_key_create((const unsigned char *) k0,
                                    sizeof(k0) - 1);
        keys[1] = ticket_key_create((const unsigned char *) k1,
                                    sizeof(k1) - 1);
        FUZZ_CHECK(keys[0] != NULL && keys[1] != NULL);
    }
}


static void
fuzz_base64(const uint8_t *data, size_t size)
{
    unsigned char  raw[512], back[512];
    char           enc[700];
    size_t         n, m, small;

    n = ticket_base64url_decode(raw, sizeof(raw), (const char *) data, size);
    if (n > 0) {
        m = ticket_base64url_encode(enc, sizeof(enc), raw, n);
        FUZZ_CHECK(m > 0);
        FUZZ_CHECK(ticket_base64url_decode(back, sizeof(back), enc, m) == n);
        FUZZ_CHECK(memcmp(raw, back, n) == 0);
    }

    /* Output buffers of every small size must be respected. */
    small = size % 16;
    (void) ticket_base64url_decode(raw, small, (const char *) data, size);

    if (size <= 300) {
        m = ticket_base64url_encode(enc, sizeof(enc), data, size);
        FUZZ_CHECK(size == 0 || m > 0);
        if (m > 0) {
            n = ticket_base64url_decode(back, sizeof(back), enc, m);
            FUZZ_CHECK(n == size && memcmp(back, data, size) == 0);
        }
        (void) ticket_base64url_encode(enc, small, data, size);
    }
}


static void
fuzz_decode(const uint8_t *data, size_t size)
{
    ticket_token_t  tok, again;
    char            enc[TICKET_TOKEN_MAX_LEN + 1];
    size_t          len;
    int             rc;

    memset(&tok, 0, sizeof(tok));
    rc = ticket_token_decode(&tok, (const char *) data, size, keys, 2,
                             1800000000);
    FUZZ_CHECK(rc == TICKET_TOKEN_OK || rc == TICKET_TOKEN_MALFORMED
               || rc == TICKET_TOKEN_BAD_SIGNATURE
               || rc == TICKET_TOKEN_EXPIRED);
    FUZZ_CHECK(ticket_token_strerror(rc) != NULL);
    if (rc != TICKET_TOKEN_OK && rc != TICKET_TOKEN_EXPIRED) {
        return;
    }
    FUZZ_CHECK(tok.room_len <= TICKET_TOKEN_ROOM_MAX);

    len = ticket_token_encode(enc, sizeof(enc), &tok, keys[0]);
    if (len == 0) {
        return;
    }
    FUZZ_CHECK(len == strlen(enc));
    memset(&again, 0, sizeof(again));
    FUZZ_CHECK(ticket_token_decode(&again, enc, len, keys, 1, 0)
               == TICKET_TOKEN_OK);
    FUZZ_CHECK(again.kind == tok.kind && again.user_id == tok.user_id
               && again.number == tok.number
               && again.issued_at == tok.issued_at
               && again.expires_at == tok.expires_at
               && again.room_len == tok.room_len
               && memcmp(again.room, tok.room, tok.room_len) == 0);
}


/*
 * Tokens built from fuzzed fields: whatever encode accepts, decode must
 * give back unchanged.
 */
static void
fuzz_encode(const uint8_t *data, size_t size)
{
    ticket_token_t  tok, again;
    char            enc[TICKET_TOKEN_MAX_LEN + 1];
    size_t          len;

    if (size < 33) {
        return;
    }
    memset(&tok, 0, sizeof(tok));
    tok.kind = data[0];
    memcpy(&tok.user_id, data + 1, 8);
    memcpy(&tok.number, data + 9, 8);
    memcpy(&tok.issued_at, data + 17, 8);
    memcpy(&tok.expires_at, data + 25, 8);
    tok.room_len = size - 33 > TICKET_TOKEN_ROOM_MAX
                   ? TICKET_TOKEN_ROOM_MAX : size - 33;
    memcpy(tok.room, data + 33, tok.room_len);

    len = ticket_token_encode(enc, (size_t) data[0] % 2 ? sizeof(enc)
                                   : 1 + data[1] % sizeof(enc), &tok, keys[1]);
    if (len == 0) {
        return;
    }
    memset(&again, 0, sizeof(again));
    FUZZ_CHECK(ticket_token_decode(&again, enc, len, keys, 2, INT64_MIN)
               == TICKET_TOKEN_OK);
    FUZZ_CHECK(again.kind == tok.kind && again.user_id == tok.user_id
               && again.number == tok.number
               && again.expires_at == tok.expires_at
               && again.room_len == tok.room_len
               && memcmp(again.room, tok.room, tok.room_len) == 0);
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fuzz_keys();
    fuzz_base64(data, size);
    fuzz_decode(data, size);
    fuzz_encode(data, size);
    return 0;
}
