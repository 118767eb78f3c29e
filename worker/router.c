#include <stdio.h>
#include <string.h>

#include "router.h"
#include "util.h"

static const struct {
    unsigned     bit;
    const char  *name;
} http_methods[] = {
    { HTTP_GET, "GET" },
    { HTTP_POST, "POST" },
    { HTTP_PUT, "PUT" },
    { HTTP_PATCH, "PATCH" },
    { HTTP_DELETE, "DELETE" },
    { HTTP_HEAD, "HEAD" },
    { HTTP_OPTIONS, "OPTIONS" },
};

#define N_METHODS  (sizeof(http_methods) / sizeof(http_methods[0]))


unsigned
http_method_parse(const char *name)
{
    for (size_t i = 0; i < N_METHODS; i++) {
        if (strcmp(name, http_methods[i].name) == 0) {
            return http_methods[i].bit;
        }
    }
    return 0;
}


int
route_pattern_match(const char *pattern, const char *path, int64_t *params,
    size_t *nparams)
{
    const char  *seg_end;
    size_t       n = 0;

    while (*pattern != '\0' && *path != '\0') {
        if (strncmp(pattern, "{id}", 4) == 0) {
            seg_end = strchr(path, '/');
            if (seg_end == NULL) {
                seg_end = path + strlen(path);
            }
            if (n == ROUTE_MAX_PARAMS
                || parse_id(path, (size_t) (seg_end - path), &params[n]) != 0)
            {
                return 0;
            }
            n++;
            pattern += 4;
            path = seg_end;
            continue;
        }
        if (*pattern != *path) {
            return 0;
        }
        pattern++;
        path++;
    }
    if (*pattern != '\0' || *path != '\0') {
        return 0;
    }
    *nparams = n;
    return 1;
}


int
router_match(const route_t *routes, size_t nroutes, unsigned method,
    const char *path, const route_t **found, int64_t *params,
    size_t *nparams, unsigned *allowed)
{
    int64_t  tmp[ROUTE_MAX_PARAMS];
    size_t   ntmp;

    *allowed = 0;
    for (size_t i = 0; i < nroutes; i++) {
        if (!route_pattern_match(routes[i].pattern, path, tmp, &ntmp)) {
            continue;
        }
        *allowed |= routes[i].method;
        if (routes[i].method & method) {
            *found = &routes[i];
            memcpy(params, tmp, sizeof(tmp[0]) * ntmp);
            *nparams = ntmp;
            return ROUTER_OK;
        }
    }
    return *allowed ? ROUTER_BAD_METHOD : ROUTER_NOT_FOUND;
}


void
http_allow_list(unsigned mask, char *out, size_t size)
{
    size_t  n = 0;

    if (size == 0) {
        return;
    }
    out[0] = '\0';
    for (size_t i = 0; i < N_METHODS; i++) {
        if (mask & http_methods[i].bit) {
            n += (size_t) snprintf(out + n, n < size ? size - n : 0, "%s%s",
                                   n ? ", " : "", http_methods[i].name);
            if (n >= size) {
                out[size - 1] = '\0';
                return;
            }
        }
    }
}
