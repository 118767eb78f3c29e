/* Unit tests for worker/json.c: the generator wrapper and validators. */

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "tap.h"


static yajl_val
parse(const char *text)
{
    char  err[256];

    return json_parse(text, strlen(text), err, sizeof(err));
}


static void
test_generate(void)
{
    const char  *buf;
    size_t       len;
    char        *s;
    jw_t         w;

    tap_is_int(jw_init(&w), 0, "jw_init");
    jw_obj_open(&w);
    jw_kv_str(&w, "a", "x\"y");
    jw_kv_int(&w, "n", -42);
    jw_kv_bool(&w, "t", 1);
    jw_key(&w, "z");
    jw_null(&w);
    jw_kv_str(&w, "nul", NULL);
    jw_key(&w, "arr");
    jw_arr_open(&w);
    jw_int(&w, 1);
    jw_strn(&w, "ab", 1);
    jw_arr_close(&w);
    jw_obj_close(&w);
    tap_is_int(jw_result(&w, &buf, &len), 0, "a document is generated");
    s = jw_strdup(&w);
    tap_is_str(s, "{\"a\":\"x\\\"y\",\"n\":-42,\"t\":true,\"z\":null,"
                  "\"nul\":null,\"arr\":[1,\"a\"]}", "exact text");
    free(s);
    jw_free(&w);

    /* A key where a value belongs fails, and the failure sticks. */
    jw_init(&w);
    jw_arr_open(&w);
    jw_arr_close(&w);
    jw_arr_close(&w);
    tap_is_int(jw_result(&w, &buf, &len), -1, "unbalanced close fails");
    tap_ok(jw_strdup(&w) == NULL, "and jw_strdup gives NULL");
    jw_free(&w);

    /* Invalid UTF-8 from the database must not become JSON. */
    jw_init(&w);
    jw_str(&w, "\xff\xfe");
    tap_is_int(jw_result(&w, &buf, &len), -1, "invalid UTF-8 is refused");
    jw_free(&w);
}


static void
test_parse(void)
{
    char      err[256];
    yajl_val  v;

    v = json_parse("{\"a\":1}", 7, err, sizeof(err));
    tap_ok(v != NULL && YAJL_IS_OBJECT(v), "an object parses");
    yajl_tree_free(v);

    v = json_parse("{\"a\":1}garbage", 7, err, sizeof(err));
    tap_ok(v != NULL, "only len bytes are read");
    yajl_tree_free(v);

    v = json_parse("{\"a\":", 5, err, sizeof(err));
    tap_ok(v == NULL && err[0] != '\0', "truncated JSON fails with a message");
    tap_ok(strchr(err, '\n') == NULL, "the message is one line");

    v = json_parse("{\"a\":1}\0x", 9, err, sizeof(err));
    tap_ok(v == NULL, "an embedded NUL is refused");

    v = json_parse("\"\xff\"", 3, err, sizeof(err));
    tap_ok(v == NULL, "invalid UTF-8 is refused");

    v = json_parse("{\"a\":\"x\\u0000y\"}", 16, err, sizeof(err));
    tap_ok(v == NULL, "a string holding \\u0000 is refused");
    v = json_parse("{\"k\\u0000\":1}", 13, err, sizeof(err));
    tap_ok(v == NULL, "so is a key");

    /* fuzz_json's find: a quote inside a comment hid the string after it. */
    v = json_parse("/* /\"\\u00*/\"\\u0000\"", 19, err, sizeof(err));
    tap_ok(v == NULL, "a \\u0000 string after a comment with a quote");
    v = json_parse("/* \" */ {\"a\":\"\\\"\"}", 18, err, sizeof(err));
    tap_ok(v != NULL, "a quote in a comment and an escaped quote parse");
    yajl_tree_free(v);
}


static void
test_validate(void)
{
    const char  *s = NULL;
    yajl_val     v, arr, obj;
    jv_err_t     err;
    int64_t      n = 7;
    int          b = 0;

    v = parse("{\"s\":\"abc\",\"n\":12,\"f\":1.5,\"big\":99999999999999999999,"
              "\"t\":true,\"nul\":null,\"a\":[1,2],\"o\":{}}");
    tap_ok(v != NULL, "fixture parses");

    tap_is_int(jv_string(v, "s", 1, 1, 3, &s, &err), 1, "string in range");
    tap_is_str(s, "abc", "string value");
    tap_is_int(jv_string(v, "s", 1, 4, 10, &s, &err), -1, "string too short");
    tap_ok(strstr(err.message, "\"s\"") != NULL, "message names the field");
    tap_is_int(jv_string(v, "n", 1, 0, 10, &s, &err), -1,
               "a number is not a string");
    tap_is_int(jv_string(v, "missing", 0, 0, 10, &s, &err), 0,
               "optional and absent");
    tap_is_int(jv_string(v, "missing", 1, 0, 10, &s, &err), -1,
               "required and absent");
    tap_is_int(jv_string(v, "nul", 0, 0, 10, &s, &err), 0,
               "null counts as absent");
    tap_is_int(jv_string(v, "nul", 1, 0, 10, &s, &err), -1,
               "null when required fails");

    tap_is_int(jv_int(v, "n", 1, 1, 100, &n, &err), 1, "integer in range");
    tap_is_int(n, 12, "integer value");
    tap_is_int(jv_int(v, "n", 1, 13, 100, &n, &err), -1, "integer below min");
    tap_is_int(jv_int(v, "f", 1, 0, 100, &n, &err), -1, "a float is refused");
    tap_is_int(jv_int(v, "big", 1, 0, INT64_MAX, &n, &err), -1,
               "an overflowing integer is refused");
    tap_is_int(jv_int(v, "s", 1, 0, 100, &n, &err), -1,
               "a string is not an integer");

    tap_is_int(jv_bool(v, "t", 1, &b, &err), 1, "boolean");
    tap_is_int(b, 1, "boolean value");
    tap_is_int(jv_bool(v, "n", 1, &b, &err), -1, "a number is not a boolean");

    tap_is_int(jv_array(v, "a", 1, 1, 2, &arr, &err), 1, "array in range");
    tap_is_int(jv_array(v, "a", 1, 3, 5, &arr, &err), -1, "array too short");
    tap_is_int(jv_array(v, "o", 1, 0, 5, &arr, &err), -1,
               "an object is not an array");
    tap_is_int(jv_object(v, "o", 1, &obj, &err), 1, "object");
    tap_is_int(jv_object(v, "a", 1, &obj, &err), -1,
               "an array is not an object");

    tap_ok(json_field(v, "s") != NULL, "json_field finds a key");
    tap_ok(json_field(v, "zz") == NULL, "json_field misses");
    tap_ok(json_is_null_field(v, "nul"), "json_is_null_field");
    tap_ok(json_field(arr, "x") == NULL, "json_field on a non-object");
    yajl_tree_free(v);
}


int
main(void)
{
    test_generate();
    test_parse();
    test_validate();
    return tap_done();
}
