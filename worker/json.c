#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <yajl_parse.h>

#include "json.h"


int
jw_init(jw_t *w)
{
    w->failed = 0;
    w->g = yajl_gen_alloc(NULL);
    if (w->g == NULL) {
        w->failed = 1;
        return -1;
    }
    /* Text from the database must never turn into invalid JSON. */
    if (!yajl_gen_config(w->g, yajl_gen_validate_utf8, 1)) {
        w->failed = 1;
    }
    return 0;
}


void
jw_free(jw_t *w)
{
    if (w->g != NULL) {
        yajl_gen_free(w->g);
        w->g = NULL;
    }
}


static void
jw_check(jw_t *w, yajl_gen_status st)
{
    if (st != yajl_gen_status_ok) {
        w->failed = 1;
    }
}


void
jw_obj_open(jw_t *w)
{
    if (!w->failed) {
        jw_check(w, yajl_gen_map_open(w->g));
    }
}


void
jw_obj_close(jw_t *w)
{
    if (!w->failed) {
        jw_check(w, yajl_gen_map_close(w->g));
    }
}


void
jw_arr_open(jw_t *w)
{
    if (!w->failed) {
        jw_check(w, yajl_gen_array_open(w->g));
    }
}


void
jw_arr_close(jw_t *w)
{
    if (!w->failed) {
        jw_check(w, yajl_gen_array_close(w->g));
    }
}


void
jw_strn(jw_t *w, const char *s, size_t len)
{
    if (!w->failed) {
        jw_check(w, yajl_gen_string(w->g, (const unsigned char *) s, len));
    }
}


void
jw_str(jw_t *w, const char *s)
{
    if (s == NULL) {
        jw_null(w);
        return;
    }
    jw_strn(w, s, strlen(s));
}


void
jw_key(jw_t *w, const char *key)
{
    jw_strn(w, key, strlen(key));
}


void
jw_int(jw_t *w, int64_t v)
{
    if (!w->failed) {
        jw_check(w, yajl_gen_integer(w->g, (long long) v));
    }
}


void
jw_bool(jw_t *w, int v)
{
    if (!w->failed) {
        jw_check(w, yajl_gen_bool(w->g, v != 0));
    }
}


void
jw_null(jw_t *w)
{
    if (!w->failed) {
        jw_check(w, yajl_gen_null(w->g));
    }
}


void
jw_kv_str(jw_t *w, const char *key, const char *s)
{
    jw_key(w, key);
    jw_str(w, s);
}


void
jw_kv_int(jw_t *w, const char *key, int64_t v)
{
    jw_key(w, key);
    jw_int(w, v);
}


void
jw_kv_bool(jw_t *w, const char *key, int v)
{
    jw_key(w, key);
    jw_bool(w, v);
}


int
jw_result(jw_t *w, const char **buf, size_t *len)
{
    const unsigned char  *b;

    if (w->failed) {
        return -1;
    }
    if (yajl_gen_get_buf(w->g, &b, len) != yajl_gen_status_ok) {
        w->failed = 1;
        return -1;
    }
    *buf = (const char *) b;
    return 0;
}


char *
jw_strdup(jw_t *w)
{
    const char  *buf;
    size_t       len;
    char        *s;

    if (jw_result(w, &buf, &len) != 0) {
        return NULL;
    }
    s = malloc(len + 1);
    if (s == NULL) {
        return NULL;
    }
    memcpy(s, buf, len);
    s[len] = '\0';
    return s;
}


/* yajl callback for strings and keys: stops at one holding a NUL. */
static int
json_string_nul(void *ctx, const unsigned char *s, size_t len)
{
    if (memchr(s, '\0', len) != NULL) {
        *(int *) ctx = 1;
        return 0;
    }
    return 1;
}


/*
 * 1 when a string or key of the (valid) JSON text holds a NUL (the escape
 * \u0000).  The tree hands strings over NUL-terminated, so such a string
 * would arrive cut short: "a\u0000b" validated and stored as "a".  Bodies
 * are refused instead, so that every field is handled as sent or not at
 * all.  yajl's own event parser, configured as yajl_tree_parse() configures
 * it (comments allowed), finds them: a scanner of our own once took a
 * quote inside a comment for the start of a string (found by fuzz_json).
 */
static int
json_has_nul_string(const char *buf, size_t len)
{
    static const yajl_callbacks  cb = {
        NULL, NULL, NULL, NULL, NULL, json_string_nul, NULL,
        json_string_nul, NULL, NULL, NULL
    };
    yajl_handle                  h;
    int                          found = 0;

    h = yajl_alloc(&cb, NULL, &found);
    if (h == NULL) {
        return 1;
    }
    yajl_config(h, yajl_allow_comments, 1);
    if (yajl_parse(h, (const unsigned char *) buf, len) == yajl_status_ok) {
        (void) yajl_complete_parse(h);
    }
    yajl_free(h);
    return found;
}


yajl_val
json_parse(const char *buf, size_t len, char *err, size_t errlen)
{
    yajl_val  v;
    char     *copy;
    char      ybuf[256];

    copy = malloc(len + 1);
    if (copy == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memcpy(copy, buf, len);
    copy[len] = '\0';

    if (memchr(buf, '\0', len) != NULL) {
        free(copy);
        snprintf(err, errlen, "body contains a NUL byte");
        return NULL;
    }

    ybuf[0] = '\0';
    v = yajl_tree_parse(copy, ybuf, sizeof(ybuf));
    if (v != NULL && json_has_nul_string(copy, len)) {
        yajl_tree_free(v);
        free(copy);
        snprintf(err, errlen, "a string contains \\u0000");
        return NULL;
    }
    free(copy);
    if (v == NULL) {
        /* yajl's message spans lines; keep the first one only. */
        ybuf[strcspn(ybuf, "\n")] = '\0';
        snprintf(err, errlen, "%s", ybuf[0] ? ybuf : "invalid JSON");
    }
    return v;
}


yajl_val
json_field(yajl_val obj, const char *key)
{
    if (obj == NULL || !YAJL_IS_OBJECT(obj)) {
        return NULL;
    }
    for (size_t i = 0; i < obj->u.object.len; i++) {
        if (strcmp(obj->u.object.keys[i], key) == 0) {
            return obj->u.object.values[i];
        }
    }
    return NULL;
}


int
json_is_null_field(yajl_val obj, const char *key)
{
    yajl_val  v = json_field(obj, key);

    return v != NULL && YAJL_IS_NULL(v);
}


/* Common prologue: 0 absent-and-optional, -1 missing, 1 present. */
static int
jv_lookup(yajl_val obj, const char *key, int required, yajl_val *v,
    jv_err_t *err)
{
    *v = json_field(obj, key);
    if (*v == NULL || YAJL_IS_NULL(*v)) {
        if (required) {
            snprintf(err->message, sizeof(err->message),
                     "field \"%s\" is required", key);
            return -1;
        }
        return 0;
    }
    return 1;
}


int
jv_string(yajl_val obj, const char *key, int required, size_t min,
    size_t max, const char **out, jv_err_t *err)
{
    yajl_val  v;
    size_t    len;
    int       rc;

    rc = jv_lookup(obj, key, required, &v, err);
    if (rc <= 0) {
        return rc;
    }
    if (!YAJL_IS_STRING(v)
        || (len = strlen(v->u.string)) < min || len > max)
    {
        snprintf(err->message, sizeof(err->message),
                 "field \"%s\" must be a string of %zu to %zu bytes",
                 key, min, max);
        return -1;
    }
    *out = v->u.string;
    return 1;
}


int
jv_int(yajl_val obj, const char *key, int required, int64_t min,
    int64_t max, int64_t *out, jv_err_t *err)
{
    yajl_val  v;
    int       rc;

    rc = jv_lookup(obj, key, required, &v, err);
    if (rc <= 0) {
        return rc;
    }
    if (!YAJL_IS_INTEGER(v) || v->u.number.i < min || v->u.number.i > max) {
        snprintf(err->message, sizeof(err->message),
                 "field \"%s\" must be an integer from %lld to %lld",
                 key, (long long) min, (long long) max);
        return -1;
    }
    *out = v->u.number.i;
    return 1;
}


int
jv_bool(yajl_val obj, const char *key, int required, int *out,
    jv_err_t *err)
{
    yajl_val  v;
    int       rc;

    rc = jv_lookup(obj, key, required, &v, err);
    if (rc <= 0) {
        return rc;
    }
    if (!YAJL_IS_TRUE(v) && !YAJL_IS_FALSE(v)) {
        snprintf(err->message, sizeof(err->message),
                 "field \"%s\" must be true or false", key);
        return -1;
    }
    *out = YAJL_IS_TRUE(v);
    return 1;
}


int
jv_array(yajl_val obj, const char *key, int required, size_t min,
    size_t max, yajl_val *out, jv_err_t *err)
{
    yajl_val  v;
    int       rc;

    rc = jv_lookup(obj, key, required, &v, err);
    if (rc <= 0) {
        return rc;
    }
    if (!YAJL_IS_ARRAY(v) || v->u.array.len < min || v->u.array.len > max) {
        snprintf(err->message, sizeof(err->message),
                 "field \"%s\" must be an array of %zu to %zu items",
                 key, min, max);
        return -1;
    }
    *out = v;
    return 1;
}


int
jv_object(yajl_val obj, const char *key, int required, yajl_val *out,
    jv_err_t *err)
{
    yajl_val  v;
    int       rc;

    rc = jv_lookup(obj, key, required, &v, err);
    if (rc <= 0) {
        return rc;
    }
    if (!YAJL_IS_OBJECT(v)) {
        snprintf(err->message, sizeof(err->message),
                 "field \"%s\" must be an object", key);
        return -1;
    }
    *out = v;
    return 1;
}
