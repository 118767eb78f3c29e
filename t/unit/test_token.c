/*
 * Unit tests of the token codec shared by the module and the worker.
 */

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ticket_token.h"
#include "tap.h"


static ticket_token_t
sample_token(void)
{
    ticket_token_t  tok;

    memset(&tok, 0, sizeof(tok));
    tok.kind = TICKET_TOKEN_QUEUE;
    tok.user_id = 42;
    tok.number = 123456789012ULL;
    tok.issued_at = 1700000000;
    tok.expires_at = 1700003600;
    tok.room_len = strlen("big-concert");
    memcpy(tok.room, "big-concert", tok.room_len);

    return tok;
}


static void
test_base64url(void)
{
    char           enc[64];
    size_t         n;
    unsigned char  dec[64];

    /* RFC 4648 test vectors, without padding. */
    n = ticket_base64url_encode(enc, sizeof(enc), (unsigned char *) "f", 1);
    tap_is_str(enc, "Zg", "encode one byte");
    n = ticket_base64url_encode(enc, sizeof(enc), (unsigned char *) "fo", 2);
    tap_is_str(enc, "Zm8", "encode two bytes");
    n = ticket_base64url_encode(enc, sizeof(enc),
                                (unsigned char *) "foobar", 6);
    tap_is_str(enc, "Zm9vYmFy", "encode six bytes");
    tap_is_int(n, 8, "encoded length");

    n = ticket_base64url_encode(enc, sizeof(enc),
                                (unsigned char *) "\xfb\xff", 2);
    tap_is_str(enc, "-_8", "url-safe alphabet");

    tap_is_int(ticket_base64url_decode(dec, sizeof(dec), "Zm9vYmFy", 8), 6,
               "decode six bytes");
    tap_ok(memcmp(dec, "foobar", 6) == 0, "decoded bytes");
    tap_is_int(ticket_base64url_decode(dec, sizeof(dec), "Zm8", 3), 2,
               "decode unpadded");
    tap_is_int(ticket_base64url_decode(dec, sizeof(dec), "Zm9=", 4), 0,
               "padding refused");
    tap_is_int(ticket_base64url_decode(dec, sizeof(dec), "Zm+v", 4), 0,
               "standard alphabet refused");
    tap_is_int(ticket_base64url_decode(dec, sizeof(dec), "Zh", 2), 0,
               "non-zero trailing bits refused");
    tap_is_int(ticket_base64url_decode(dec, sizeof(dec), "Z", 1), 0,
               "one character refused");
    tap_is_int(ticket_base64url_decode(dec, 2, "Zm9vYmFy", 8), 0,
               "output too small refused");
    tap_is_int(ticket_base64url_encode(enc, 4, (unsigned char *) "foo", 3), 0,
               "encode buffer too small refused");
}


static void
test_roundtrip(ticket_key_t *key, ticket_key_t *other)
{
    int             rc;
    char            buf[TICKET_TOKEN_MAX_LEN + 1];
    size_t          len;
    ticket_key_t   *keys[2];
    ticket_token_t  tok, got;

    tok = sample_token();
    len = ticket_token_encode(buf, sizeof(buf), &tok, key);
    tap_ok(len > 0 && len == strlen(buf), "encode returns the length");
    tap_ok(strspn(buf, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789-_.") == len, "token is URL-safe");

    keys[0] = key;
    memset(&got, 0, sizeof(got));
    rc = ticket_token_decode(&got, buf, len, keys, 1, 1700000100);
    tap_is_int(rc, TICKET_TOKEN_OK, "decode valid token");
    tap_is_int(got.kind, TICKET_TOKEN_QUEUE, "kind survives");
    tap_ok(got.user_id == 42, "user survives");
    tap_ok(got.number == 123456789012ULL, "number survives");
    tap_is_int(got.expires_at, 1700003600, "expiry survives");
    tap_ok(got.room_len == 11 && memcmp(got.room, "big-concert", 11) == 0,
           "room survives");

    rc = ticket_token_decode(&got, buf, len, keys, 1, 1700003600);
    tap_is_int(rc, TICKET_TOKEN_EXPIRED, "expired at its expiry second");

    keys[0] = other;
    rc = ticket_token_decode(&got, buf, len, keys, 1, 1700000100);
    tap_is_int(rc, TICKET_TOKEN_BAD_SIGNATURE, "other key refused");

    keys[0] = other;
    keys[1] = key;
    rc = ticket_token_decode(&got, buf, len, keys, 2, 1700000100);
    tap_is_int(rc, TICKET_TOKEN_OK, "previous key accepted for rotation");
}


static void
test_tampering(ticket_key_t *key)
{
    int             rc, refused;
    char            buf[TICKET_TOKEN_MAX_LEN + 1], copy[TICKET_TOKEN_MAX_LEN + 1];
    size_t          len, i;
    ticket_key_t   *keys[1];
    ticket_token_t  tok, got;
    const char     *alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrs"
                               "tuvwxyz0123456789-_";

    tok = sample_token();
    len = ticket_token_encode(buf, sizeof(buf), &tok, key);
    keys[0] = key;

    refused = 0;

    for (i = 0; i < len; i++) {
        if (buf[i] == '.') {
            continue;
        }

        memcpy(copy, buf, len + 1);
        copy[i] = (copy[i] == alphabet[0]) ? alphabet[1] : alphabet[0];
        rc = ticket_token_decode(&got, copy, len, keys, 1, 1700000100);
        refused += (rc != TICKET_TOKEN_OK);
    }

    tap_is_int(refused, (long long) len - 1,
               "every single-character change is refused");

    rc = ticket_token_decode(&got, buf, len - 1, keys, 1, 1700000100);
    tap_ok(rc != TICKET_TOKEN_OK, "truncated token refused");

    rc = ticket_token_decode(&got, "abc", 3, keys, 1, 1700000100);
    tap_is_int(rc, TICKET_TOKEN_MALFORMED, "garbage is malformed");

    rc = ticket_token_decode(&got, "", 0, keys, 1, 1700000100);
    tap_is_int(rc, TICKET_TOKEN_MALFORMED, "empty is malformed");

    memset(copy, 'A', sizeof(copy));
    rc = ticket_token_decode(&got, copy, sizeof(copy), keys, 1, 1700000100);
    tap_is_int(rc, TICKET_TOKEN_MALFORMED, "oversized is malformed");

    tok.kind = 9;
    tap_is_int(ticket_token_encode(buf, sizeof(buf), &tok, key), 0,
               "unknown kind not encoded");
    tok = sample_token();
    tap_is_int(ticket_token_encode(buf, 20, &tok, key), 0,
               "small buffer not encoded");
}


static void
test_key_file(void)
{
    FILE          *f;
    char           path[] = "/tmp/ticket-token-test-XXXXXX";
    const char    *err;
    ticket_key_t  *key;
    int            fd;

    fd = mkstemp(path);
    f = fdopen(fd, "w");
    fputs("  0123456789abcdef0123456789abcdef\n", f);
    fclose(f);

    chmod(path, 0600);
    err = NULL;
    key = ticket_key_load(path, &err);
    tap_ok(key != NULL, "private key file loads");
    ticket_key_destroy(key);

    chmod(path, 0644);
    key = ticket_key_load(path, &err);
    tap_ok(key == NULL && strstr(err, "group or others") != NULL,
           "world-readable key file refused");

    f = fopen(path, "w");
    fputs("short\n", f);
    fclose(f);
    chmod(path, 0600);
    key = ticket_key_load(path, &err);
    tap_ok(key == NULL && strstr(err, "fewer than 16") != NULL,
           "short key refused");

    unlink(path);
    key = ticket_key_load(path, &err);
    tap_ok(key == NULL, "missing key file refused");
}


int
main(void)
{
    ticket_key_t  *key, *other;

    key = ticket_key_create((unsigned char *) "0123456789abcdef0123", 20);
    other = ticket_key_create((unsigned char *) "fedcba98765432100123", 20);
    tap_ok(key != NULL && other != NULL, "keys created");
    tap_ok(ticket_key_create((unsigned char *) "short", 5) == NULL,
           "short key refused");

    test_base64url();
    test_roundtrip(key, other);
    test_tampering(key);
    test_key_file();

    ticket_key_destroy(key);
    ticket_key_destroy(other);

    return tap_done();
}
