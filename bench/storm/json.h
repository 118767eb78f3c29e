/*
 * A small JSON reader for the load generator: it finds values by key path
 * in a response body without building a tree, and walks arrays in place.
 * The bodies come from our own server, but a malformed one must still not
 * crash the generator: every function checks bounds and fails with -1.
 */

#ifndef STORM_JSON_H
#define STORM_JSON_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char  *p;
    size_t       len;
} json_span_t;


/* Skips one value starting at p (after white space); NULL if malformed. */
const char *json_skip(const char *p, const char *end);

/*
 * Finds the value at a dotted path of object keys ("error.code") in the
 * document; returns 0 and its span (strings keep their quotes), or -1.
 */
int json_find(const char *js, size_t len, const char *path, json_span_t *v);

int json_get_int(const char *js, size_t len, const char *path, int64_t *out);
/* Copies a string value without its quotes (escapes other than \" and \\
 * are kept as they are); returns its length or -1. */
int json_get_str(const char *js, size_t len, const char *path, char *out,
    size_t size);
int json_get_bool(const char *js, size_t len, const char *path, int *out);
/* 1 when the value at path is null, 0 when it is something else, -1 when
 * absent. */
int json_is_null(const char *js, size_t len, const char *path);

/*
 * Array iteration: json_array_begin on an array span, then json_array_next
 * until it returns 0 (end) or -1 (malformed).
 */
typedef struct {
    const char  *p;
    const char  *end;
    int          first;
} json_iter_t;

int json_array_begin(json_iter_t *it, json_span_t array);
int json_array_next(json_iter_t *it, json_span_t *item);

/* The span's integer value: 0, or -1 when it is not an integer. */
int json_span_int(json_span_t v, int64_t *out);

#endif /* STORM_JSON_H */
