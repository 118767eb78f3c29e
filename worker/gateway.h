/*
 * The client of the card payment gateway: plain HTTP/1.1 over a blocking
 * TCP socket, one connection per call ("Connection: close"), every step
 * bounded by gateway_timeout_ms, so that a gateway that hangs costs one
 * thread a bounded wait and never a database lock (callers make these
 * calls outside their transactions).
 *
 * Both directions are signed with the shared secret in
 * gateway_secret_file: our requests carry X-Signature, the hex HMAC-SHA256
 * of "METHOD PATH\n" followed by the body; the gateway's callbacks carry
 * X-Gateway-Signature, the hex HMAC-SHA256 of the raw body.
 *
 * The gateway knows a payment by our payments.id (its merchant
 * reference), so creating one twice gives the same checkout, and a
 * payment whose creation answer was lost can still be asked about.
 *
 * gateway_init() runs once in main() before any thread; afterwards the
 * parsed URL and key are only read.
 */

#ifndef WORKER_GATEWAY_H
#define WORKER_GATEWAY_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define GATEWAY_OK          0
#define GATEWAY_ERROR      -1    /* no answer, timeout, or a bad one */
#define GATEWAY_NOT_FOUND  -2    /* the gateway does not know the payment */
#define GATEWAY_REFUSED    -3    /* a 4xx: asking again will not help */

#define GATEWAY_SIG_HEX    64

typedef struct {
    char     status[24];        /* pending, succeeded, failed, refunded */
    char     ref[64];           /* the gateway's own id */
    char     currency[4];
    int64_t  amount;
    char     checkout_url[512];
} gateway_payment_t;

/*
 * Parses gateway_url and loads gateway_secret_file.  Without gateway_url
 * cards stay off (0 is returned); -1 with a logged reason on bad settings.
 */
int gateway_init(const worker_conf_t *conf);

/* 1 when card payments are configured. */
int gateway_enabled(void);

/*
 * Whether sig (hex, as sent) is the HMAC of data under the shared secret.
 * The comparison takes the same time wherever the first difference is.
 */
int gateway_signature_ok(const char *sig, const void *data, size_t len);

/* Writes the hex HMAC of data and a NUL into out (GATEWAY_SIG_HEX + 1). */
void gateway_sign(const void *data, size_t len, char *out);

/* POST /v1/payments: starts a checkout for our payment. */
int gateway_create(const worker_conf_t *conf, int64_t payment_id,
    int64_t amount, const char *currency, gateway_payment_t *out);

/* GET /v1/payments/{id}: the gateway's view of a payment. */
int gateway_status(const worker_conf_t *conf, int64_t payment_id,
    gateway_payment_t *out);

/* POST /v1/payments/{id}/refund: GATEWAY_OK once refunded (also again). */
int gateway_refund(const worker_conf_t *conf, int64_t payment_id,
    int64_t amount, const char *currency);

/*
 * One HTTP exchange with the gateway (exposed for tests): the status code
 * in *status (0 when no answer) and the body in *body (malloc'd, NUL
 * terminated, NULL when none).  GATEWAY_OK when an answer came back.
 */
int gateway_http(const worker_conf_t *conf, const char *method,
    const char *path, const char *body, size_t len, int *status,
    char **resp_body);

#endif
