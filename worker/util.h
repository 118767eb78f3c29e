/*
 * Pure helpers with no I/O: query strings, cookies, times, names.  They
 * are unit tested in t/unit/test_util.c.
 */

#ifndef WORKER_UTIL_H
#define WORKER_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define QUERY_MAX_ARGS  32
#define QUERY_MAX_LEN   2048

typedef struct {
    size_t  n;
    char   *names[QUERY_MAX_ARGS];
    char   *values[QUERY_MAX_ARGS];
    char    buf[QUERY_MAX_LEN + 1];
} query_t;

/*
 * Parses "a=1&b=x%20y" into q (decoded copies in q->buf).  Returns 0, or -1
 * when the string is too long, has too many arguments or a bad escape.
 */
int query_parse(query_t *q, const char *qs);

/* The first value of name, or NULL. */
const char *query_get(const query_t *q, const char *name);

/*
 * Percent-decodes in[0..len) into out (NUL-terminated, '+' is a space).
 * Returns the decoded length or -1 on a bad escape, an encoded NUL or
 * when out is too small.
 */
long url_decode(char *out, size_t size, const char *in, size_t len);

/*
 * Finds cookie name in a Cookie header; sets *val and *len to the value
 * inside header.  Returns 1 when found, 0 otherwise.
 */
int cookie_find(const char *header, const char *name, const char **val,
    size_t *len);

/*
 * Parses an ISO 8601 date-time with seconds and a zone: "Z" or "+HH:MM"
 * ("2026-12-24T19:30:00Z", "2026-12-24T19:30:00+09:00").  Returns 0 and
 * the UTC time, or -1.
 */
int time_parse_iso8601(const char *s, time_t *out);

/* Formats t as "YYYY-MM-DD HH:MM:SS" (UTC, for DATETIME columns). */
void time_format_sql(char *out, size_t size, time_t t);

/* A room or code name: 1..max of [A-Za-z0-9_-]. */
int name_is_token(const char *s, size_t max);

/* A plausible e-mail: local@domain.tld, no spaces or controls. */
int email_is_valid(const char *s);

/* Parses a positive decimal id (1..2^62), the whole string.  0 or -1. */
int parse_id(const char *s, size_t len, int64_t *out);

#endif
