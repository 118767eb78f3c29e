/*
 * Where a request comes from: the host and port named by an Origin or
 * Referer header, compared with the Host the request was sent to.  The
 * dispatcher refuses cookie-authenticated writes from other origins, so
 * that another site cannot make a logged-in browser buy or cancel.  Pure:
 * unit tested in t/unit/test_origin.c and fuzzed by fuzz/fuzz_query.c.
 */

#ifndef WORKER_ORIGIN_H
#define WORKER_ORIGIN_H

#include <stddef.h>

/* "host:port" at most: a DNS name (253) or a bracketed IPv6 address. */
#define ORIGIN_AUTHORITY_MAX  272

/*
 * Writes the lower-cased "host:port" of an absolute http(s) URL ("https://
 * Shop.example/x" gives "shop.example:443") into out.  Returns 0, or -1 for
 * anything else: another scheme, "null", user info, an empty or bad host,
 * a bad port, or no room in out.
 */
int origin_authority(const char *url, char *out, size_t size);

/*
 * The same for a Host header value, whose missing port is the default of
 * the scheme the request arrived with (https when tls is 1).
 */
int origin_host_authority(const char *host, int tls, char *out, size_t size);

/*
 * 1 when url (an Origin or a Referer) names the host and port of the Host
 * header, 0 when it names another one or cannot be read.
 */
int origin_is_same(const char *url, const char *host, int tls);

#endif
