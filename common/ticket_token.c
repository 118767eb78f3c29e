/*
 * The token codec shared by the NGINX module and the FastCGI worker.
 * See ticket_token.h for the format.
 */

/*
 * The low-level SHA-256 calls are deprecated in OpenSSL 3 in favour of
 * EVP, but EVP needs a heap-allocated context per operation.  The plain
 * SHA256_CTX can be precomputed once per key and copied by value, which
 * makes signing allocation-free and safe to share between threads.
 */
#define OPENSSL_API_COMPAT  0x10100000L

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include "ticket_token.h"


#define TICKET_HMAC_LEN        32
#define TICKET_PAYLOAD_FIXED   36
#define TICKET_PAYLOAD_MAX     (TICKET_PAYLOAD_FIXED + TICKET_TOKEN_ROOM_MAX)


struct ticket_key_s {
    SHA256_CTX  inner;
    SHA256_CTX  outer;
};


static const char  b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";


ticket_key_t *
ticket_key_create(const unsigned char *secret, size_t len)
{
    size_t          i;
    ticket_key_t   *key;
    unsigned char   block[SHA256_CBLOCK];
    unsigned char   pad[SHA256_CBLOCK];

    if (len < TICKET_KEY_MIN_LEN) {
        return NULL;
    }

    key = malloc(sizeof(ticket_key_t));
    if (key == NULL) {
        return NULL;
    }

    memset(block, 0, sizeof(block));

    if (len > SHA256_CBLOCK) {
        SHA256(secret, len, block);

    } else {
        memcpy(block, secret, len);
    }

    for (i = 0; i < SHA256_CBLOCK; i++) {
        pad[i] = block[i] ^ 0x36;
    }

    SHA256_Init(&key->inner);
    SHA256_Update(&key->inner, pad, sizeof(pad));

    for (i = 0; i < SHA256_CBLOCK; i++) {
        pad[i] = block[i] ^ 0x5c;
    }

    SHA256_Init(&key->outer);
    SHA256_Update(&key->outer, pad, sizeof(pad));

    OPENSSL_cleanse(block, sizeof(block));
    OPENSSL_cleanse(pad, sizeof(pad));

    return key;
}


void
ticket_key_destroy(ticket_key_t *key)
{
    if (key != NULL) {
        OPENSSL_cleanse(key, sizeof(ticket_key_t));
        free(key);
    }
}


ticket_key_t *
ticket_key_load(const char *path, const char **err)
{
    int             fd;
    size_t          start, end;
    ssize_t         n;
    struct stat     st;
    ticket_key_t   *key;
    unsigned char   buf[TICKET_KEY_MAX_LEN + 2];

    fd = open(path, O_RDONLY);
    if (fd == -1) {
        *err = "cannot open the key file";
        return NULL;
    }

    if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
        close(fd);
        *err = "the key file is not a regular file";
        return NULL;
    }

    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        close(fd);
        *err = "the key file must not be accessible by group or others "
               "(chmod 600)";
        return NULL;
    }

    n = read(fd, buf, sizeof(buf));
    close(fd);

    if (n < 0) {
        *err = "cannot read the key file";
        return NULL;
    }

    if ((size_t) n > TICKET_KEY_MAX_LEN) {
        OPENSSL_cleanse(buf, sizeof(buf));
        *err = "the key file is longer than 128 bytes";
        return NULL;
    }

    start = 0;
    end = (size_t) n;

    while (start < end && (buf[start] == ' ' || buf[start] == '\t'
                           || buf[start] == '\r' || buf[start] == '\n'))
    {
        start++;
    }

    while (end > start && (buf[end - 1] == ' ' || buf[end - 1] == '\t'
                           || buf[end - 1] == '\r' || buf[end - 1] == '\n'))
    {
        end--;
    }

    if (end - start < TICKET_KEY_MIN_LEN) {
        OPENSSL_cleanse(buf, sizeof(buf));
        *err = "the key file holds fewer than 16 bytes";
        return NULL;
    }

    key = ticket_key_create(buf + start, end - start);
    OPENSSL_cleanse(buf, sizeof(buf));

    if (key == NULL) {
        *err = "out of memory";
    }

    return key;
}


static void
ticket_hmac(const ticket_key_t *key, const void *data, size_t len,
    unsigned char mac[TICKET_HMAC_LEN])
{
    SHA256_CTX  ctx;

    ctx = key->inner;
    SHA256_Update(&ctx, data, len);
    SHA256_Final(mac, &ctx);

    ctx = key->outer;
    SHA256_Update(&ctx, mac, TICKET_HMAC_LEN);
    SHA256_Final(mac, &ctx);

    OPENSSL_cleanse(&ctx, sizeof(ctx));
}


void
ticket_hmac_sha256(const ticket_key_t *key, const void *data, size_t len,
    unsigned char mac[32])
{
    ticket_hmac(key, data, len, mac);
}


static void
ticket_put_u64(unsigned char *p, uint64_t v)
{
    int  i;

    for (i = 7; i >= 0; i--) {
        p[i] = (unsigned char) (v & 0xff);
        v >>= 8;
    }
}


static uint64_t
ticket_get_u64(const unsigned char *p)
{
    int       i;
    uint64_t  v;

    v = 0;

    for (i = 0; i < 8; i++) {
        v = (v << 8) | p[i];
    }

    return v;
}


size_t
ticket_token_encode(char *out, size_t size, const ticket_token_t *tok,
    const ticket_key_t *key)
{
    size_t          plen, elen, slen;
    unsigned char   payload[TICKET_PAYLOAD_MAX];
    unsigned char   mac[TICKET_HMAC_LEN];

    if (tok->kind < TICKET_TOKEN_SESSION || tok->kind > TICKET_TOKEN_ACCESS
        || tok->room_len > TICKET_TOKEN_ROOM_MAX
        || tok->issued_at < 0 || tok->expires_at < 0)
    {
        return 0;
    }

    payload[0] = TICKET_TOKEN_VERSION;
    payload[1] = (unsigned char) tok->kind;
    payload[2] = (unsigned char) tok->room_len;
    payload[3] = 0;
    ticket_put_u64(payload + 4, tok->user_id);
    ticket_put_u64(payload + 12, tok->number);
    ticket_put_u64(payload + 20, (uint64_t) tok->issued_at);
    ticket_put_u64(payload + 28, (uint64_t) tok->expires_at);
    memcpy(payload + TICKET_PAYLOAD_FIXED, tok->room, tok->room_len);

    plen = TICKET_PAYLOAD_FIXED + tok->room_len;

    elen = ticket_base64url_encode(out, size, payload, plen);
    if (elen == 0 || elen + 1 >= size) {
        return 0;
    }

    /* The signature covers the encoded text, so no other spelling of the
     * same payload can carry it. */
    ticket_hmac(key, out, elen, mac);

    out[elen] = '.';

    slen = ticket_base64url_encode(out + elen + 1, size - elen - 1,
                                   mac, sizeof(mac));
    if (slen == 0) {
        return 0;
    }

    return elen + 1 + slen;
}


int
ticket_token_decode(ticket_token_t *tok, const char *in, size_t len,
    ticket_key_t *const *keys, size_t nkeys, int64_t now)
{
    size_t          i, elen, plen;
    const char     *dot;
    unsigned char   payload[TICKET_PAYLOAD_MAX];
    unsigned char   given[TICKET_HMAC_LEN + 2];
    unsigned char   mac[TICKET_HMAC_LEN];

    if (len == 0 || len > TICKET_TOKEN_MAX_LEN) {
        return TICKET_TOKEN_MALFORMED;
    }

    dot = memchr(in, '.', len);
    if (dot == NULL) {
        return TICKET_TOKEN_MALFORMED;
    }

    elen = (size_t) (dot - in);

    if (ticket_base64url_decode(given, sizeof(given), dot + 1,
                                len - elen - 1)
        != TICKET_HMAC_LEN)
    {
        return TICKET_TOKEN_MALFORMED;
    }

    plen = ticket_base64url_decode(payload, sizeof(payload), in, elen);

    if (plen < TICKET_PAYLOAD_FIXED
        || payload[0] != TICKET_TOKEN_VERSION
        || payload[1] < TICKET_TOKEN_SESSION
        || payload[1] > TICKET_TOKEN_ACCESS
        || payload[2] > TICKET_TOKEN_ROOM_MAX
        || plen != TICKET_PAYLOAD_FIXED + (size_t) payload[2])
    {
        return TICKET_TOKEN_MALFORMED;
    }

    for (i = 0; i < nkeys; i++) {
        ticket_hmac(keys[i], in, elen, mac);

        if (ticket_memeq_ct(mac, given, TICKET_HMAC_LEN) == 0) {
            break;
        }
    }

    if (i == nkeys) {
        return TICKET_TOKEN_BAD_SIGNATURE;
    }

    tok->kind = payload[1];
    tok->room_len = payload[2];
    tok->user_id = ticket_get_u64(payload + 4);
    tok->number = ticket_get_u64(payload + 12);
    tok->issued_at = (int64_t) ticket_get_u64(payload + 20);
    tok->expires_at = (int64_t) ticket_get_u64(payload + 28);
    memcpy(tok->room, payload + TICKET_PAYLOAD_FIXED, tok->room_len);

    if (tok->expires_at <= now) {
        return TICKET_TOKEN_EXPIRED;
    }

    return TICKET_TOKEN_OK;
}


const char *
ticket_token_strerror(int rc)
{
    switch (rc) {
    case TICKET_TOKEN_OK:
        return "valid";
    case TICKET_TOKEN_MALFORMED:
        return "malformed token";
    case TICKET_TOKEN_BAD_SIGNATURE:
        return "bad signature";
    case TICKET_TOKEN_EXPIRED:
        return "expired token";
    default:
        return "unknown token error";
    }
}


size_t
ticket_base64url_encode(char *out, size_t size, const unsigned char *in,
    size_t len)
{
    size_t    i, n, need;
    uint32_t  v;

    need = len / 3 * 4 + (len % 3 ? len % 3 + 1 : 0);

    if (need + 1 > size) {
        return 0;
    }

    n = 0;

    for (i = 0; i + 2 < len; i += 3) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8 | in[i + 2];
        out[n++] = b64url_alphabet[v >> 18];
        out[n++] = b64url_alphabet[(v >> 12) & 0x3f];
        out[n++] = b64url_alphabet[(v >> 6) & 0x3f];
        out[n++] = b64url_alphabet[v & 0x3f];
    }

    if (len - i == 1) {
        v = (uint32_t) in[i] << 16;
        out[n++] = b64url_alphabet[v >> 18];
        out[n++] = b64url_alphabet[(v >> 12) & 0x3f];

    } else if (len - i == 2) {
        v = (uint32_t) in[i] << 16 | (uint32_t) in[i + 1] << 8;
        out[n++] = b64url_alphabet[v >> 18];
        out[n++] = b64url_alphabet[(v >> 12) & 0x3f];
        out[n++] = b64url_alphabet[(v >> 6) & 0x3f];
    }

    out[n] = '\0';

    return n;
}


static int
ticket_base64url_value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z') {
        return c - 'A';
    }

    if (c >= 'a' && c <= 'z') {
        return c - 'a' + 26;
    }

    if (c >= '0' && c <= '9') {
        return c - '0' + 52;
    }

    if (c == '-') {
        return 62;
    }

    if (c == '_') {
        return 63;
    }

    return -1;
}


/*
 * Strict decoding: no padding, no white space, and the unused low bits of
 * the last character must be zero, so each byte string has one spelling.
 */
size_t
ticket_base64url_decode(unsigned char *out, size_t size, const char *in,
    size_t len)
{
    int       d;
    size_t    i, n, need, rest;
    uint32_t  v;

    rest = len % 4;

    if (len == 0 || rest == 1) {
        return 0;
    }

    need = len / 4 * 3 + (rest ? rest - 1 : 0);

    if (need > size) {
        return 0;
    }

    n = 0;
    v = 0;

    for (i = 0; i < len; i++) {
        d = ticket_base64url_value((unsigned char) in[i]);
        if (d < 0) {
            return 0;
        }

        v = (v << 6) | (uint32_t) d;

        if (i % 4 == 3) {
            out[n++] = (unsigned char) (v >> 16);
            out[n++] = (unsigned char) (v >> 8);
            out[n++] = (unsigned char) v;
            v = 0;
        }
    }

    if (rest == 2) {
        if (v & 0x0f) {
            return 0;
        }

        out[n++] = (unsigned char) (v >> 4);

    } else if (rest == 3) {
        if (v & 0x03) {
            return 0;
        }

        out[n++] = (unsigned char) (v >> 10);
        out[n++] = (unsigned char) (v >> 2);
    }

    return n;
}


int
ticket_memeq_ct(const void *a, const void *b, size_t len)
{
    return CRYPTO_memcmp(a, b, len);
}
