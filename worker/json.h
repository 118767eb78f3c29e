/*
 * JSON in and out.  Generation goes through jw_t, a yajl_gen that remembers
 * the first failure, so that a handler can write a whole document and check
 * once at the end (every yajl status is still checked, by the wrapper).
 * Parsing and validation helpers turn a request body into typed fields with
 * a message a client can act on.
 */

#ifndef WORKER_JSON_H
#define WORKER_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <yajl_gen.h>
#include <yajl_tree.h>

typedef struct {
    yajl_gen  g;
    int       failed;
} jw_t;

int jw_init(jw_t *w);
void jw_free(jw_t *w);

void jw_obj_open(jw_t *w);
void jw_obj_close(jw_t *w);
void jw_arr_open(jw_t *w);
void jw_arr_close(jw_t *w);
void jw_key(jw_t *w, const char *key);
void jw_str(jw_t *w, const char *s);              /* NULL writes null */
void jw_strn(jw_t *w, const char *s, size_t len);
void jw_int(jw_t *w, int64_t v);
void jw_bool(jw_t *w, int v);
void jw_null(jw_t *w);

void jw_kv_str(jw_t *w, const char *key, const char *s);
void jw_kv_int(jw_t *w, const char *key, int64_t v);
void jw_kv_bool(jw_t *w, const char *key, int v);

/* 0 and the generated text (owned by w), or -1 when any call failed. */
int jw_result(jw_t *w, const char **buf, size_t *len);

/* The generated text as a malloc'd NUL-terminated string, or NULL. */
char *jw_strdup(jw_t *w);


/*
 * Parses buf[0..len) (copied to add the NUL yajl needs).  Returns the tree
 * or NULL with a message in err.
 */
yajl_val json_parse(const char *buf, size_t len, char *err, size_t errlen);


/*
 * Field validation.  Each returns 1 when the field is present and valid
 * (*out set), 0 when it is absent or null and not required (*out left
 * alone), -1 when invalid or required and missing (err filled with a
 * message naming the field).
 */
typedef struct {
    char  message[200];
} jv_err_t;

int jv_string(yajl_val obj, const char *key, int required, size_t min,
    size_t max, const char **out, jv_err_t *err);
int jv_int(yajl_val obj, const char *key, int required, int64_t min,
    int64_t max, int64_t *out, jv_err_t *err);
int jv_bool(yajl_val obj, const char *key, int required, int *out,
    jv_err_t *err);
int jv_array(yajl_val obj, const char *key, int required, size_t min,
    size_t max, yajl_val *out, jv_err_t *err);
int jv_object(yajl_val obj, const char *key, int required, yajl_val *out,
    jv_err_t *err);

/* Field lookup in an object; NULL when absent or obj is not an object. */
yajl_val json_field(yajl_val obj, const char *key);

/* 1 when the object has the key with a JSON null value. */
int json_is_null_field(yajl_val obj, const char *key);

#endif
