/* Unit tests for ngx_ticket_module/ticket_cookie.c: Cookie splitting. */

#include <string.h>

#include "tap.h"
#include "ticket_cookie.h"


typedef struct {
    const unsigned char  *pos, *end;
    char                  name[64], value[64];
} walk_t;


static int
next(walk_t *w)
{
    const unsigned char  *n, *v;
    size_t                nl, vl;

    if (ticket_cookie_next(&w->pos, w->end, &n, &nl, &v, &vl)
        == TICKET_COOKIE_DONE)
    {
        return 0;
    }
    memcpy(w->name, n, nl);
    w->name[nl] = '\0';
    memcpy(w->value, v, vl);
    w->value[vl] = '\0';
    return 1;
}


static void
walk_init(walk_t *w, const char *s)
{
    w->pos = (const unsigned char *) s;
    w->end = w->pos + strlen(s);
}


int
main(void)
{
    walk_t  w;

    walk_init(&w, "ticket_session=abc; ticket_q_r=\"q.t\" ;bad;\t=x; z=1 \t");
    tap_ok(next(&w) && strcmp(w.name, "ticket_session") == 0
           && strcmp(w.value, "abc") == 0, "first pair");
    tap_ok(next(&w) && strcmp(w.name, "ticket_q_r") == 0
           && strcmp(w.value, "q.t") == 0, "quotes and trailing space go");
    tap_ok(next(&w) && w.name[0] == '\0' && w.value[0] == '\0',
           "a pair without = has an empty name");
    tap_ok(next(&w) && w.name[0] == '\0' && strcmp(w.value, "x") == 0,
           "an empty name stays empty");
    tap_ok(next(&w) && strcmp(w.name, "z") == 0
           && strcmp(w.value, "1") == 0, "trailing tab trimmed");
    tap_ok(!next(&w) && w.pos == w.end, "then done, at the end");

    walk_init(&w, "");
    tap_ok(!next(&w), "an empty header has no pair");
    walk_init(&w, " ; ;\t");
    tap_ok(!next(&w), "separators only have no pair");
    walk_init(&w, "a=\"");
    tap_ok(next(&w) && strcmp(w.value, "\"") == 0,
           "a lone quote is kept, not read past");
    return tap_done();
}
