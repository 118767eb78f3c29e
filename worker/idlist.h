/*
 * Small sorted sets of ids, as holds and payments use them: a request names
 * up to a few dozen seats, and every query over them wants the ids sorted
 * (so that row locks are taken in one global order and two multi-seat
 * claims cannot deadlock) and free of duplicates.  Pure: unit tested in
 * t/unit/test_idlist.c.
 */

#ifndef WORKER_IDLIST_H
#define WORKER_IDLIST_H

#include <stddef.h>
#include <stdint.h>
#include <yajl_tree.h>

#define IDLIST_MAX  32

typedef struct {
    size_t   n;
    int64_t  id[IDLIST_MAX];
} idlist_t;

#define IDLIST_OK         0
#define IDLIST_TYPE      -1     /* not an array of positive integers */
#define IDLIST_DUPLICATE -2     /* an id appears twice */
#define IDLIST_SIZE      -3     /* fewer than min or more than max ids */

/*
 * Reads a JSON array of positive integer ids into l, sorted ascending;
 * the unused slots are zero (callers pass the whole array to varargs).
 * Returns IDLIST_OK or one of the errors above; *bad is set to the
 * offending id for IDLIST_DUPLICATE.
 */
int idlist_from_json(idlist_t *l, yajl_val arr, size_t min, size_t max,
    int64_t *bad);

/* Sorts l ascending and drops duplicates. */
void idlist_normalize(idlist_t *l);

/* 1 when id is in the (sorted) list. */
int idlist_contains(const idlist_t *l, int64_t id);

/*
 * Writes "?,?,?" with n placeholders into out.  Returns the length, or -1
 * when out is too small or n is 0.
 */
int idlist_placeholders(char *out, size_t size, size_t n);

#endif
