/*
 * Cookie header parsing; see ticket_cookie.h.
 */

#include <string.h>

#include "ticket_cookie.h"


int
ticket_cookie_next(const unsigned char **pos, const unsigned char *end,
    const unsigned char **name, size_t *name_len,
    const unsigned char **value, size_t *value_len)
{
    const unsigned char  *p, *eq, *semi;

    p = *pos;

    while (p < end && (*p == ' ' || *p == ';' || *p == '\t')) {
        p++;
    }

    if (p == end) {
        *pos = p;
        return TICKET_COOKIE_DONE;
    }

    semi = memchr(p, ';', end - p);
    if (semi == NULL) {
        semi = end;
    }

    eq = memchr(p, '=', semi - p);

    if (eq == NULL) {
        *name = p;
        *name_len = 0;
        *value = p;
        *value_len = 0;

    } else {
        *name = p;
        *name_len = eq - p;
        *value = eq + 1;
        *value_len = semi - *value;

        while (*value_len && ((*value)[*value_len - 1] == ' '
                              || (*value)[*value_len - 1] == '\t'))
        {
            (*value_len)--;
        }

        if (*value_len >= 2 && (*value)[0] == '"'
            && (*value)[*value_len - 1] == '"')
        {
            (*value)++;
            *value_len -= 2;
        }
    }

    *pos = semi;

    return TICKET_COOKIE_PAIR;
}
