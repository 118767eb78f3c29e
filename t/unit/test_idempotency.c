/* Unit tests for worker/idempotency.c: the request fingerprint. */

#include <string.h>

#include "idempotency.h"
#include "tap.h"


int
main(void)
{
    char  a[IDEM_HASH_LEN + 1], b[IDEM_HASH_LEN + 1];

    tap_is_int(idem_hash("POST", "/api/payments", "{\"hold_id\":1}", 13, a),
               0, "hash made");
    tap_is_int(strlen(a), IDEM_HASH_LEN, "64 hex digits");
    tap_ok(strspn(a, "0123456789abcdef") == IDEM_HASH_LEN, "lower-case hex");

    idem_hash("POST", "/api/payments", "{\"hold_id\":1}", 13, b);
    tap_is_str(b, a, "same request, same hash");
    idem_hash("POST", "/api/payments", "{\"hold_id\":2}", 13, b);
    tap_ok(strcmp(a, b) != 0, "another body, another hash");
    idem_hash("POST", "/api/balance/charges", "{\"hold_id\":1}", 13, b);
    tap_ok(strcmp(a, b) != 0, "another path, another hash");
    idem_hash("PUT", "/api/payments", "{\"hold_id\":1}", 13, b);
    tap_ok(strcmp(a, b) != 0, "another method, another hash");

    /* The separator keeps "path + body" splits apart. */
    idem_hash("POST", "/a", "\nb", 2, a);
    idem_hash("POST", "/a\n", "b", 1, b);
    tap_ok(strcmp(a, b) != 0, "path/body boundary matters");

    tap_is_int(idem_hash("POST", "/x", NULL, 0, a), 0, "empty body");

    return tap_done();
}
