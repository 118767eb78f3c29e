/*
 * libFuzzer target: request bodies, as the dispatcher and the handlers see
 * them (worker/json.c and worker/idlist.c).
 *
 * The input is parsed like a body; the validators every handler uses run
 * over the common field names, seat-id lists are read, and the tree is
 * written back with the jw_* generator and parsed again: what the worker
 * accepts it must be able to echo, and the echo must parse the same.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yajl_parse.h>

#include "idlist.h"
#include "json.h"

#define FUZZ_CHECK(c)  do { if (!(c)) { abort(); } } while (0)
#define FUZZ_DEPTH     64


static const char  *fields[] = {
    "email", "password", "name", "seat_ids", "amount", "performance_id",
    "hold_id", "room", "method", "card", "starts_at", "",
};


static void
write_tree(jw_t *w, yajl_val v, int depth)
{
    size_t  i;

    if (depth > FUZZ_DEPTH) {
        jw_null(w);
        return;
    }
    if (YAJL_IS_OBJECT(v)) {
        jw_obj_open(w);
        for (i = 0; i < v->u.object.len; i++) {
            jw_key(w, v->u.object.keys[i]);
            write_tree(w, v->u.object.values[i], depth + 1);
        }
        jw_obj_close(w);
    } else if (YAJL_IS_ARRAY(v)) {
        jw_arr_open(w);
        for (i = 0; i < v->u.array.len; i++) {
            write_tree(w, v->u.array.values[i], depth + 1);
        }
        jw_arr_close(w);
    } else if (YAJL_IS_STRING(v)) {
        jw_str(w, v->u.string);
    } else if (YAJL_IS_INTEGER(v)) {
        jw_int(w, v->u.number.i);
    } else if (YAJL_IS_TRUE(v) || YAJL_IS_FALSE(v)) {
        jw_bool(w, YAJL_IS_TRUE(v));
    } else {
        /* Doubles and nulls: no handler takes a double. */
        jw_null(w);
    }
}


/*
 * The tree hands strings over NUL-terminated: a string or key holding a
 * NUL would reach the handlers cut short.  yajl's event parser sees the
 * real lengths, so an accepted body must not have any.
 */
static int
no_nul(void *ctx, const unsigned char *s, size_t len)
{
    (void) ctx;
    FUZZ_CHECK(memchr(s, '\0', len) == NULL);
    return 1;
}


static void
check_strings(const uint8_t *data, size_t size)
{
    static const yajl_callbacks  cb = {
        NULL, NULL, NULL, NULL, NULL, no_nul, NULL, no_nul, NULL, NULL, NULL
    };
    yajl_handle                  h;

    h = yajl_alloc(&cb, NULL, NULL);
    FUZZ_CHECK(h != NULL);
    /* As yajl_tree_parse configures its parser. */
    yajl_config(h, yajl_allow_comments, 1);
    FUZZ_CHECK(yajl_parse(h, data, size) == yajl_status_ok);
    FUZZ_CHECK(yajl_complete_parse(h) == yajl_status_ok);
    yajl_free(h);
}


static void
validate(yajl_val root)
{
    const char  *s;
    yajl_val     v;
    jv_err_t     err;
    idlist_t     ids;
    int64_t      n, bad;
    size_t       i;
    int          b, rc;

    for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        rc = jv_string(root, fields[i], (int) i & 1, 1, 254, &s, &err);
        FUZZ_CHECK(rc != 1 || (strlen(s) >= 1 && strlen(s) <= 254));
        FUZZ_CHECK(rc != -1 || strlen(err.message) > 0);
        rc = jv_int(root, fields[i], 0, 1, INT64_MAX / 2, &n, &err);
        FUZZ_CHECK(rc != 1 || (n >= 1 && n <= INT64_MAX / 2));
        (void) jv_bool(root, fields[i], 0, &b, &err);
        (void) jv_object(root, fields[i], 0, &v, &err);
        if (jv_array(root, fields[i], 0, 0, 64, &v, &err) == 1) {
            rc = idlist_from_json(&ids, v, 1, IDLIST_MAX, &bad);
            if (rc == IDLIST_OK) {
                for (size_t k = 1; k < ids.n; k++) {
                    FUZZ_CHECK(ids.id[k - 1] < ids.id[k]);
                }
                FUZZ_CHECK(ids.n == 0 || idlist_contains(&ids, ids.id[0]));
            }
        }
        (void) json_is_null_field(root, fields[i]);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char  *out;
    yajl_val     root, again;
    size_t       len;
    char         err[256];
    idlist_t     ids;
    int64_t      bad;
    jw_t         w;

    root = json_parse((const char *) data, size, err, sizeof(err));
    if (root == NULL) {
        FUZZ_CHECK(strlen(err) > 0);
        return 0;
    }

    check_strings(data, size);
    validate(root);
    (void) idlist_from_json(&ids, root, 0, IDLIST_MAX, &bad);

    FUZZ_CHECK(jw_init(&w) == 0);
    write_tree(&w, root, 0);
    if (jw_result(&w, &out, &len) == 0) {
        again = json_parse(out, len, err, sizeof(err));
        FUZZ_CHECK(again != NULL);
        FUZZ_CHECK(YAJL_IS_OBJECT(again) == YAJL_IS_OBJECT(root));
        yajl_tree_free(again);
    }
    jw_free(&w);
    yajl_tree_free(root);
    return 0;
}
