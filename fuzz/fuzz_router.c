/*
 * libFuzzer target: routing (worker/router.c) on hostile paths and
 * methods.  The input is "METHOD\0PATH\0PATTERN": the path is matched
 * against a table shaped like worker/routes.c (literal segments, one or
 * several {id}s, several methods on one path) and against the fuzzed
 * pattern itself, so that both sides of route_pattern_match are explored.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "router.h"

#define FUZZ_CHECK(c)  do { if (!(c)) { abort(); } } while (0)


static int
h_none(req_t *req)
{
    (void) req;
    return 0;
}


static const route_t  routes[] = {
    { HTTP_GET,    "/api/health",                         h_none, 0 },
    { HTTP_POST,   "/api/sessions",                       h_none, 0 },
    { HTTP_DELETE, "/api/sessions",                       h_none, 0 },
    { HTTP_GET,    "/api/events/{id}",                    h_none, 0 },
    { HTTP_GET,    "/api/performances/{id}/seats",        h_none, 0 },
    { HTTP_POST,   "/api/performances/{id}/holds",        h_none, 0 },
    { HTTP_PUT,    "/api/admin/performances/{id}/room",   h_none, 0 },
    { HTTP_DELETE, "/api/admin/performances/{id}/room",   h_none, 0 },
    { HTTP_POST,   "/api/payments/callback",              h_none, 0 },
    { HTTP_GET,    "/api/payments/{id}",                  h_none, 0 },
    { HTTP_GET,    "/api/a/{id}/b/{id}/c/{id}/d/{id}",    h_none, 0 },
    { HTTP_GET,    "/api/a/{id}/b/{id}/c/{id}/d/{id}/e/{id}", h_none, 0 },
};


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const route_t  *found;
    unsigned        method, allowed;
    int64_t         params[ROUTE_MAX_PARAMS];
    size_t          nparams, n, i;
    char           *buf, *parts[3], allow[128];
    int             rc;

    buf = malloc(size + 1);
    if (buf == NULL) {
        return 0;
    }
    memcpy(buf, data, size);
    buf[size] = '\0';
    parts[0] = buf;
    n = 1;
    for (i = 0; i < size && n < 3; i++) {
        if (buf[i] == '\0') {
            parts[n++] = buf + i + 1;
        }
    }
    for (; n < 3; n++) {
        parts[n] = buf + size;
    }

    method = http_method_parse(parts[0]);
    rc = router_match(routes, sizeof(routes) / sizeof(routes[0]), method,
                      parts[1], &found, params, &nparams, &allowed);
    if (rc == ROUTER_OK) {
        FUZZ_CHECK(found->method & method);
        FUZZ_CHECK(nparams <= ROUTE_MAX_PARAMS);
        for (i = 0; i < nparams; i++) {
            FUZZ_CHECK(params[i] > 0);
        }
    } else if (rc == ROUTER_BAD_METHOD) {
        FUZZ_CHECK(allowed != 0 && (allowed & method) == 0);
        http_allow_list(allowed, allow, sizeof(allow));
        http_allow_list(allowed, allow, 1 + size % sizeof(allow));
    } else {
        FUZZ_CHECK(rc == ROUTER_NOT_FOUND && allowed == 0);
    }

    if (route_pattern_match(parts[2], parts[1], params, &nparams)) {
        FUZZ_CHECK(nparams <= ROUTE_MAX_PARAMS);
    }

    free(buf);
    return 0;
}
