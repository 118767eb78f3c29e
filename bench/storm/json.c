/*
 * The small JSON reader: see json.h.
 */

#include <string.h>

#include "json.h"


static const char *
json_ws(const char *p, const char *end)
{
    while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r')) {
        p++;
    }

    return p;
}


static const char *
json_skip_string(const char *p, const char *end)
{
    /* p is at the opening quote. */
    for (p++; p < end; p++) {
        if (*p == '\\') {
            p++;
            continue;
        }

        if (*p == '"') {
            return p + 1;
        }
    }

    return NULL;
}


const char *
json_skip(const char *p, const char *end)
{
    int   depth;
    char  c;

    p = json_ws(p, end);

    if (p >= end) {
        return NULL;
    }

    c = *p;

    if (c == '"') {
        return json_skip_string(p, end);
    }

    if (c == '{' || c == '[') {
        depth = 0;

        while (p < end) {
            c = *p;

            if (c == '"') {
                p = json_skip_string(p, end);
                if (p == NULL) {
                    return NULL;
                }

                continue;
            }

            if (c == '{' || c == '[') {
                depth++;

            } else if (c == '}' || c == ']') {
                depth--;

                if (depth == 0) {
                    return p + 1;
                }
            }

            p++;
        }

        return NULL;
    }

    /* A number or a literal: up to the next delimiter. */
    while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' '
           && *p != '\n' && *p != '\r' && *p != '\t')
    {
        p++;
    }

    return p;
}


/* Finds key in the object starting at p; returns the value's start. */
static const char *
json_member(const char *p, const char *end, const char *key, size_t klen)
{
    const char  *k, *ke;

    p = json_ws(p, end);

    if (p >= end || *p != '{') {
        return NULL;
    }

    p++;

    for ( ;; ) {
        p = json_ws(p, end);

        if (p >= end) {
            return NULL;
        }

        if (*p == '}') {
            return NULL;
        }

        if (*p != '"') {
            return NULL;
        }

        k = p + 1;
        ke = json_skip_string(p, end);
        if (ke == NULL) {
            return NULL;
        }

        p = json_ws(ke, end);

        if (p >= end || *p != ':') {
            return NULL;
        }

        p = json_ws(p + 1, end);

        if ((size_t) (ke - 1 - k) == klen && memcmp(k, key, klen) == 0) {
            return p;
        }

        p = json_skip(p, end);
        if (p == NULL) {
            return NULL;
        }

        p = json_ws(p, end);

        if (p < end && *p == ',') {
            p++;
        }
    }
}


int
json_find(const char *js, size_t len, const char *path, json_span_t *v)
{
    const char  *p, *end, *dot, *ve;

    p = js;
    end = js + len;

    while (*path != '\0') {
        dot = strchr(path, '.');
        if (dot == NULL) {
            dot = path + strlen(path);
        }

        p = json_member(p, end, path, (size_t) (dot - path));
        if (p == NULL) {
            return -1;
        }

        path = *dot ? dot + 1 : dot;
    }

    p = json_ws(p, end);
    ve = json_skip(p, end);

    if (ve == NULL) {
        return -1;
    }

    v->p = p;
    v->len = (size_t) (ve - p);

    return 0;
}


int
json_span_int(json_span_t v, int64_t *out)
{
    int       neg;
    size_t    i;
    int64_t   n;

    if (v.len == 0) {
        return -1;
    }

    i = 0;
    neg = 0;

    if (v.p[0] == '-') {
        neg = 1;
        i = 1;
    }

    if (i == v.len) {
        return -1;
    }

    n = 0;

    for ( ; i < v.len; i++) {
        if (v.p[i] < '0' || v.p[i] > '9') {
            /* Accept "12.0" as 12 but nothing else after the digits. */
            if (v.p[i] == '.') {
                break;
            }

            return -1;
        }

        if (n > (INT64_MAX - 9) / 10) {
            return -1;
        }

        n = n * 10 + (v.p[i] - '0');
    }

    *out = neg ? -n : n;

    return 0;
}


int
json_get_int(const char *js, size_t len, const char *path, int64_t *out)
{
    json_span_t  v;

    if (json_find(js, len, path, &v) != 0) {
        return -1;
    }

    return json_span_int(v, out);
}


int
json_get_str(const char *js, size_t len, const char *path, char *out,
    size_t size)
{
    size_t       i, n;
    json_span_t  v;

    if (json_find(js, len, path, &v) != 0 || v.len < 2 || v.p[0] != '"') {
        return -1;
    }

    n = 0;

    for (i = 1; i + 1 < v.len; i++) {
        if (v.p[i] == '\\' && i + 2 < v.len
            && (v.p[i + 1] == '"' || v.p[i + 1] == '\\'
                || v.p[i + 1] == '/'))
        {
            i++;
        }

        if (n + 1 >= size) {
            return -1;
        }

        out[n++] = v.p[i];
    }

    out[n] = '\0';

    return (int) n;
}


int
json_get_bool(const char *js, size_t len, const char *path, int *out)
{
    json_span_t  v;

    if (json_find(js, len, path, &v) != 0) {
        return -1;
    }

    if (v.len == 4 && memcmp(v.p, "true", 4) == 0) {
        *out = 1;
        return 0;
    }

    if (v.len == 5 && memcmp(v.p, "false", 5) == 0) {
        *out = 0;
        return 0;
    }

    return -1;
}


int
json_is_null(const char *js, size_t len, const char *path)
{
    json_span_t  v;

    if (json_find(js, len, path, &v) != 0) {
        return -1;
    }

    return v.len == 4 && memcmp(v.p, "null", 4) == 0;
}


int
json_array_begin(json_iter_t *it, json_span_t array)
{
    const char  *end;

    end = array.p + array.len;

    if (array.len < 2 || array.p[0] != '[' || end[-1] != ']') {
        return -1;
    }

    it->p = array.p + 1;
    it->end = end - 1;
    it->first = 1;

    return 0;
}


int
json_array_next(json_iter_t *it, json_span_t *item)
{
    const char  *p, *ve;

    p = json_ws(it->p, it->end);

    if (p >= it->end) {
        return 0;
    }

    if (!it->first) {
        if (*p != ',') {
            return -1;
        }

        p = json_ws(p + 1, it->end);
    }

    it->first = 0;

    ve = json_skip(p, it->end);
    if (ve == NULL || ve == p) {
        return -1;
    }

    item->p = p;
    item->len = (size_t) (ve - p);
    it->p = ve;

    return 1;
}
