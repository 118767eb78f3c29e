/*
 * Unit tests for worker/gateway.c: the callback signature check (a known
 * HMAC-SHA256 vector, tampering, malformed signatures), the URL and
 * settings checks, and a call to a gateway that is not there.
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"
#include "gateway.h"
#include "log.h"
#include "tap.h"

/* Signed under "callback-secret-0123456789" below. */
#define BODY    "{\"payment_id\":1}"


static void
write_key(const char *path, const char *text, mode_t mode)
{
    FILE  *f = fopen(path, "w");

    if (f == NULL) {
        perror(path);
        exit(1);
    }
    fputs(text, f);
    fclose(f);
    chmod(path, mode);
}


int
main(void)
{
    worker_conf_t  c;
    char           key[] = "/tmp/test_gateway_XXXXXX";
    char           sig[GATEWAY_SIG_HEX + 1], upper[GATEWAY_SIG_HEX + 1];
    char          *body = NULL;
    int            fd, status = -1;

    log_set_level(LOG_LEVEL_ERROR + 1);
    fd = mkstemp(key);
    if (fd < 0) {
        perror("mkstemp");
        return 1;
    }
    close(fd);
    write_key(key, "callback-secret-0123456789\n", 0600);

    conf_defaults(&c);
    tap_is_int(gateway_init(&c), 0, "no gateway_url: cards stay off");
    tap_is_int(gateway_enabled(), 0, "off");
    tap_is_int(gateway_signature_ok("00", BODY, strlen(BODY)), 0,
               "nothing verifies while off");

    snprintf(c.gateway_url, sizeof(c.gateway_url), "https://gw.example");
    snprintf(c.gateway_secret_file, sizeof(c.gateway_secret_file), "%s", key);
    snprintf(c.gateway_callback_url, sizeof(c.gateway_callback_url),
             "http://127.0.0.1:1/api/payments/callback");
    tap_is_int(gateway_init(&c), -1, "https is refused (plain HTTP only)");
    snprintf(c.gateway_url, sizeof(c.gateway_url), "http://:80");
    tap_is_int(gateway_init(&c), -1, "a URL without a host is refused");
    snprintf(c.gateway_url, sizeof(c.gateway_url), "http://127.0.0.1:8x/");
    tap_is_int(gateway_init(&c), -1, "a bad port is refused");
    snprintf(c.gateway_url, sizeof(c.gateway_url), "http://127.0.0.1:1/gw/");
    write_key(key, "callback-secret-0123456789\n", 0644);
    tap_is_int(gateway_init(&c), -1, "a key readable by others is refused");
    write_key(key, "callback-secret-0123456789\n", 0600);
    c.gateway_callback_url[0] = '\0';
    tap_is_int(gateway_init(&c), -1, "a gateway without a callback URL");
    snprintf(c.gateway_callback_url, sizeof(c.gateway_callback_url),
             "http://127.0.0.1:1/api/payments/callback");
    tap_is_int(gateway_init(&c), 0, "a good configuration");
    tap_is_int(gateway_enabled(), 1, "on");

    gateway_sign(BODY, strlen(BODY), sig);
    tap_is_str(sig, "b3788376f7977457ae01eef79e0f2fce"
                    "ae35ed5c4f0e4c835d90712f94e22c6d",
               "the vector openssl dgst -hmac gives");
    tap_is_int(gateway_signature_ok(sig, BODY, strlen(BODY)), 1,
               "our own signature verifies");
    for (size_t i = 0; i <= GATEWAY_SIG_HEX; i++) {
        upper[i] = (char) (sig[i] >= 'a' && sig[i] <= 'f' ? sig[i] - 32
                                                          : sig[i]);
    }
    tap_is_int(gateway_signature_ok(upper, BODY, strlen(BODY)), 1,
               "upper-case hex verifies too");
    tap_is_int(gateway_signature_ok(sig, "{\"payment_id\":2}", 16), 0,
               "another body does not");
    tap_is_int(gateway_signature_ok(sig, BODY, strlen(BODY) - 1), 0,
               "a truncated body does not");
    sig[GATEWAY_SIG_HEX - 1] = sig[GATEWAY_SIG_HEX - 1] == '0' ? '1' : '0';
    tap_is_int(gateway_signature_ok(sig, BODY, strlen(BODY)), 0,
               "a changed last digit does not");
    sig[GATEWAY_SIG_HEX - 1] = 'g';
    tap_is_int(gateway_signature_ok(sig, BODY, strlen(BODY)), 0,
               "a non-hex digit does not");
    sig[GATEWAY_SIG_HEX - 1] = '\0';
    tap_is_int(gateway_signature_ok(sig, BODY, strlen(BODY)), 0,
               "a short signature does not");
    tap_is_int(gateway_signature_ok(NULL, BODY, strlen(BODY)), 0,
               "no signature does not");

    c.gateway_timeout_ms = 200;
    tap_is_int(gateway_http(&c, "GET", "/v1/payments/1", NULL, 0, &status,
                            &body), GATEWAY_ERROR,
               "nobody listening: an error, quickly");
    tap_is_int(status, 0, "no status");
    tap_ok(body == NULL, "no body");

    unlink(key);
    return tap_done();
}
