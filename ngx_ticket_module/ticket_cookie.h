/*
 * Cookie header parsing, in pure C.
 *
 * The gate and the queue read the session, queue and access tokens from
 * Cookie headers that any client may fill with anything.  The splitting
 * lives here, apart from NGINX, so that unit tests and fuzz/fuzz_module.c
 * drive the very code the module runs.
 */

#ifndef TICKET_COOKIE_H
#define TICKET_COOKIE_H

#include <stddef.h>


#define TICKET_COOKIE_PAIR    0
#define TICKET_COOKIE_DONE    1


/*
 * Splits the next "name=value" off [*pos, end): skips separators, trims
 * white space after the value and one pair of surrounding double quotes,
 * and advances *pos.  A pair without "=" comes back with an empty name.
 * Returns TICKET_COOKIE_PAIR, or TICKET_COOKIE_DONE at the end.  Every
 * pointer it sets lies within [*pos, end].
 */
int ticket_cookie_next(const unsigned char **pos, const unsigned char *end,
    const unsigned char **name, size_t *name_len,
    const unsigned char **value, size_t *value_len);

#endif /* TICKET_COOKIE_H */
