#include <stdlib.h>
#include <string.h>

#include "idlist.h"


static int
idlist_cmp(const void *a, const void *b)
{
    int64_t  x = *(const int64_t *) a, y = *(const int64_t *) b;

    return (x > y) - (x < y);
}


void
idlist_normalize(idlist_t *l)
{
    size_t  i, n;

    if (l->n == 0) {
        return;
    }
    qsort(l->id, l->n, sizeof(l->id[0]), idlist_cmp);
    for (i = 1, n = 1; i < l->n; i++) {
        if (l->id[i] != l->id[n - 1]) {
            l->id[n++] = l->id[i];
        }
    }
    l->n = n;
}


int
idlist_from_json(idlist_t *l, yajl_val arr, size_t min, size_t max,
    int64_t *bad)
{
    yajl_val  v;
    size_t    i;

    memset(l, 0, sizeof(*l));
    if (arr == NULL || !YAJL_IS_ARRAY(arr)) {
        return IDLIST_TYPE;
    }
    if (max > IDLIST_MAX) {
        max = IDLIST_MAX;
    }
    if (arr->u.array.len < min || arr->u.array.len > max) {
        return IDLIST_SIZE;
    }
    for (i = 0; i < arr->u.array.len; i++) {
        v = arr->u.array.values[i];
        if (!YAJL_IS_INTEGER(v) || v->u.number.i <= 0) {
            return IDLIST_TYPE;
        }
        l->id[l->n++] = v->u.number.i;
    }
    qsort(l->id, l->n, sizeof(l->id[0]), idlist_cmp);
    for (i = 1; i < l->n; i++) {
        if (l->id[i] == l->id[i - 1]) {
            *bad = l->id[i];
            return IDLIST_DUPLICATE;
        }
    }
    return IDLIST_OK;
}


int
idlist_contains(const idlist_t *l, int64_t id)
{
    return bsearch(&id, l->id, l->n, sizeof(l->id[0]), idlist_cmp) != NULL;
}


int
idlist_placeholders(char *out, size_t size, size_t n)
{
    size_t  len = n * 2 - 1;

    if (n == 0 || size < len + 1) {
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        out[i * 2] = '?';
        if (i + 1 < n) {
            out[i * 2 + 1] = ',';
        }
    }
    out[len] = '\0';
    return (int) len;
}
