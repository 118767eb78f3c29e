/*
 * Routing on method and path.  A pattern is a literal path whose segments
 * may be "{id}", which matches a positive decimal id and hands it to the
 * handler in order (req->params[0], [1], ...).  Pure: unit tested in
 * t/unit/test_router.c.
 */

#ifndef WORKER_ROUTER_H
#define WORKER_ROUTER_H

#include <stddef.h>
#include <stdint.h>

#define ROUTE_MAX_PARAMS   4

#define HTTP_GET           0x01
#define HTTP_POST          0x02
#define HTTP_PUT           0x04
#define HTTP_PATCH         0x08
#define HTTP_DELETE        0x10
#define HTTP_HEAD          0x20
#define HTTP_OPTIONS       0x40

/* Route flags: what the dispatcher does before calling the handler. */
#define ROUTE_JSON_BODY    0x01   /* body must be a JSON object: req->json */
#define ROUTE_AUTH_USER    0x02   /* a valid session: req->user */
#define ROUTE_AUTH_ADMIN   0x04   /* a valid session with role admin */
/*
 * A session cookie with a valid signature (req->claim_*); the handler
 * checks the session row in its first statement (AUTH_SESSION_LIVE), which
 * saves a query on the hottest requests.
 */
#define ROUTE_AUTH_CLAIM   0x08

#define ROUTER_OK          0
#define ROUTER_NOT_FOUND   1
#define ROUTER_BAD_METHOD  2

typedef struct req_s  req_t;

/*
 * A handler writes the response with the resp_* helpers and returns 0;
 * a negative DB_* code without a response becomes a 500 or 503.
 */
typedef int (*route_handler_t)(req_t *req);

typedef struct {
    unsigned          method;
    const char       *pattern;
    route_handler_t   handler;
    unsigned          flags;
} route_t;

/* HTTP_* bit for a method name, or 0. */
unsigned http_method_parse(const char *name);

/* 1 and the {id} values when path matches pattern, 0 otherwise. */
int route_pattern_match(const char *pattern, const char *path,
    int64_t *params, size_t *nparams);

/*
 * Finds the route for method and path.  ROUTER_BAD_METHOD when the path
 * exists under other methods (*allowed holds their bits).
 */
int router_match(const route_t *routes, size_t nroutes, unsigned method,
    const char *path, const route_t **found, int64_t *params,
    size_t *nparams, unsigned *allowed);

/* Writes "GET, POST" for the bits in mask. */
void http_allow_list(unsigned mask, char *out, size_t size);

#endif
