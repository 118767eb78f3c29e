/* Unit tests for worker/router.c: patterns, methods, 404 and 405. */

#include <string.h>

#include "router.h"
#include "tap.h"


static int  called;


static int
h_a(req_t *req)
{
    (void) req;
    called = 1;
    return 0;
}


static const route_t  routes[] = {
    { HTTP_GET, "/api/events", h_a, 0 },
    { HTTP_GET, "/api/events/{id}", h_a, 0 },
    { HTTP_POST | HTTP_PUT, "/api/events/{id}", h_a, ROUTE_JSON_BODY },
    { HTTP_GET, "/api/performances/{id}/seats/{id}", h_a, 0 },
    { HTTP_DELETE, "/api/sessions", h_a, ROUTE_AUTH_USER },
};

#define NROUTES  (sizeof(routes) / sizeof(routes[0]))


int
main(void)
{
    const route_t  *found = NULL;
    unsigned        allowed;
    int64_t         p[ROUTE_MAX_PARAMS];
    size_t          n = 0;
    char            allow[64];

    tap_is_int(http_method_parse("GET"), HTTP_GET, "GET");
    tap_is_int(http_method_parse("DELETE"), HTTP_DELETE, "DELETE");
    tap_is_int(http_method_parse("get"), 0, "methods are case-sensitive");
    tap_is_int(http_method_parse("BREW"), 0, "unknown method");

    tap_ok(route_pattern_match("/api/events", "/api/events", p, &n),
           "literal match");
    tap_is_int(n, 0, "no params");
    tap_ok(!route_pattern_match("/api/events", "/api/events/", p, &n),
           "trailing slash does not match");
    tap_ok(!route_pattern_match("/api/events", "/api/event", p, &n),
           "prefix does not match");
    tap_ok(route_pattern_match("/api/events/{id}", "/api/events/42", p, &n)
           && n == 1 && p[0] == 42, "one id");
    tap_ok(route_pattern_match("/api/performances/{id}/seats/{id}",
                               "/api/performances/7/seats/15000", p, &n)
           && n == 2 && p[0] == 7 && p[1] == 15000, "two ids");
    tap_ok(!route_pattern_match("/api/events/{id}", "/api/events/abc", p, &n),
           "letters are not an id");
    tap_ok(!route_pattern_match("/api/events/{id}", "/api/events/0", p, &n),
           "zero is not an id");
    tap_ok(!route_pattern_match("/api/events/{id}", "/api/events/007", p, &n),
           "leading zeros are not an id");
    tap_ok(!route_pattern_match("/api/events/{id}", "/api/events/-1", p, &n),
           "negative is not an id");
    tap_ok(!route_pattern_match("/api/events/{id}",
                                "/api/events/1234567890123456789", p, &n),
           "19 digits are too many");
    tap_ok(!route_pattern_match("/api/events/{id}", "/api/events/", p, &n),
           "empty id");
    tap_ok(!route_pattern_match("/api/events/{id}", "/api/events/1/x", p, &n),
           "extra segment");

    tap_is_int(router_match(routes, NROUTES, HTTP_GET, "/api/events/5", &found,
                            p, &n, &allowed), ROUTER_OK, "GET an event");
    tap_ok(found == &routes[1] && p[0] == 5, "the right route and id");
    tap_is_int(router_match(routes, NROUTES, HTTP_PUT, "/api/events/5", &found,
                            p, &n, &allowed), ROUTER_OK, "PUT an event");
    tap_ok(found == &routes[2], "a route with two methods");
    tap_is_int(router_match(routes, NROUTES, HTTP_DELETE, "/api/events/5",
                            &found, p, &n, &allowed), ROUTER_BAD_METHOD,
               "DELETE an event is 405");
    tap_is_int(allowed, HTTP_GET | HTTP_POST | HTTP_PUT, "allowed methods");
    http_allow_list(allowed, allow, sizeof(allow));
    tap_is_str(allow, "GET, POST, PUT", "Allow header text");
    tap_is_int(router_match(routes, NROUTES, HTTP_GET, "/api/nothing", &found,
                            p, &n, &allowed), ROUTER_NOT_FOUND, "404");
    tap_is_int(router_match(routes, NROUTES, 0, "/api/events", &found, p, &n,
                            &allowed), ROUTER_BAD_METHOD,
               "an unknown method on a known path is 405");

    http_allow_list(HTTP_GET | HTTP_POST | HTTP_PUT | HTTP_DELETE, allow, 8);
    tap_ok(strlen(allow) < 8, "Allow text is truncated safely");

    found->handler(NULL);
    tap_ok(called, "the handler is callable");
    return tap_done();
}
