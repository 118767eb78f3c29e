/* Unit tests for worker/idlist.c: seat id lists from JSON. */

#include <stdlib.h>
#include <string.h>

#include "idlist.h"
#include "tap.h"


static int
parse(const char *text, idlist_t *l, size_t min, size_t max, int64_t *bad)
{
    char      err[128];
    yajl_val  v;
    int       rc;

    v = yajl_tree_parse(text, err, sizeof(err));
    if (v == NULL) {
        return 99;
    }
    rc = idlist_from_json(l, v, min, max, bad);
    yajl_tree_free(v);
    return rc;
}


int
main(void)
{
    idlist_t  l;
    int64_t   bad = 0;
    char      buf[64];

    tap_is_int(parse("[3, 1, 2]", &l, 1, 4, &bad), IDLIST_OK, "three ids");
    tap_is_int(l.n, 3, "three kept");
    tap_ok(l.id[0] == 1 && l.id[1] == 2 && l.id[2] == 3, "sorted ascending");
    tap_ok(idlist_contains(&l, 2) && !idlist_contains(&l, 4), "contains");

    tap_is_int(parse("[]", &l, 1, 4, &bad), IDLIST_SIZE, "empty refused");
    tap_is_int(parse("[1,2,3,4,5]", &l, 1, 4, &bad), IDLIST_SIZE,
               "too many refused");
    tap_is_int(parse("[1, 2, 1]", &l, 1, 4, &bad), IDLIST_DUPLICATE,
               "duplicate refused");
    tap_is_int(bad, 1, "duplicate named");
    tap_is_int(parse("[1, \"2\"]", &l, 1, 4, &bad), IDLIST_TYPE,
               "string refused");
    tap_is_int(parse("[1, 2.5]", &l, 1, 4, &bad), IDLIST_TYPE,
               "fraction refused");
    tap_is_int(parse("[0]", &l, 1, 4, &bad), IDLIST_TYPE, "zero refused");
    tap_is_int(parse("[-3]", &l, 1, 4, &bad), IDLIST_TYPE,
               "negative refused");
    tap_is_int(parse("[[1]]", &l, 1, 4, &bad), IDLIST_TYPE,
               "nested refused");
    tap_is_int(parse("{\"a\":1}", &l, 1, 4, &bad), IDLIST_TYPE,
               "object refused");
    tap_is_int(parse("[99999999999999999999999]", &l, 1, 4, &bad),
               IDLIST_TYPE, "overflowing number refused");
    tap_is_int(idlist_from_json(&l, NULL, 1, 4, &bad), IDLIST_TYPE,
               "NULL refused");

    l.n = 5;
    l.id[0] = 5; l.id[1] = 1; l.id[2] = 5; l.id[3] = 2; l.id[4] = 1;
    idlist_normalize(&l);
    tap_ok(l.n == 3 && l.id[0] == 1 && l.id[1] == 2 && l.id[2] == 5,
           "normalize sorts and drops duplicates");

    tap_is_int(idlist_placeholders(buf, sizeof(buf), 1), 1, "one placeholder");
    tap_is_str(buf, "?", "one placeholder text");
    tap_is_int(idlist_placeholders(buf, sizeof(buf), 4), 7, "four");
    tap_is_str(buf, "?,?,?,?", "four placeholders text");
    tap_is_int(idlist_placeholders(buf, sizeof(buf), 0), -1, "zero refused");
    tap_is_int(idlist_placeholders(buf, 4, 3), -1, "small buffer refused");

    return tap_done();
}
