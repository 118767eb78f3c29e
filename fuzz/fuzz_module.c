/*
 * libFuzzer target: what the NGINX module parses from clients and
 * configuration without NGINX around it: Cookie headers
 * (ngx_ticket_module/ticket_cookie.c, the gate's and the queue's token
 * lookup), ISO 8601 times of ticket_room opens_at/closes_at
 * (ticket_admit.c, compared with the worker's own parser), and the
 * user-to-place index (ticket_index.c) driven by a fuzzed sequence of
 * joins and leaves.
 */

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ticket_admit.h"
#include "ticket_cookie.h"
#include "ticket_index.h"
#include "util.h"

#define FUZZ_CHECK(c)  do { if (!(c)) { abort(); } } while (0)
#define FUZZ_SLOTS     64


static void
fuzz_cookies(const uint8_t *data, size_t size)
{
    const unsigned char  *pos, *end, *name, *value;
    size_t                name_len, value_len, pairs = 0;

    pos = data;
    end = data + size;
    while (ticket_cookie_next(&pos, end, &name, &name_len, &value,
                              &value_len)
           == TICKET_COOKIE_PAIR)
    {
        FUZZ_CHECK(name >= data && name + name_len <= end);
        FUZZ_CHECK(value >= data && value + value_len <= end);
        FUZZ_CHECK(pos > data && pos <= end);
        FUZZ_CHECK(++pairs <= size);
    }
    FUZZ_CHECK(pos == end);
}


/* Where both accept a time, the module and the worker must agree on it. */
static void
fuzz_iso8601(const uint8_t *data, size_t size)
{
    int64_t  t;
    time_t   w;
    char    *s;

    s = malloc(size + 1);
    if (s == NULL) {
        return;
    }
    memcpy(s, data, size);
    if (ticket_parse_iso8601(s, size, &t) == 0) {
        s[size] = '\0';
        if (strlen(s) == size && time_parse_iso8601(s, &w) == 0) {
            FUZZ_CHECK((int64_t) w == t);
        }
    }
    free(s);
}


static int
sweep_odd(const ticket_index_entry_t *e, void *data)
{
    (void) data;
    return (e->user & 1) != 0;
}


static void
fuzz_index(const uint8_t *data, size_t size)
{
    ticket_index_entry_t  slots[FUZZ_SLOTS], *e;
    ticket_index_t        ix;
    uint32_t              cursor = 0;
    uint64_t              user;
    uint16_t              room;
    size_t                i;

    memset(slots, 0, sizeof(slots));
    ticket_index_init(&ix, slots, FUZZ_SLOTS);

    for (i = 0; i + 3 <= size; i += 3) {
        room = data[i + 1] & 3;
        user = data[i + 2] & 0x7f;
        switch (data[i] & 3) {
        case 0:
        case 1:
            e = ticket_index_insert(&ix, room, user);
            FUZZ_CHECK(e != NULL || user == 0 || ix.count >= ix.limit);
            if (e != NULL) {
                FUZZ_CHECK(e->user == user && e->room == room);
                FUZZ_CHECK(ticket_index_find(&ix, room, user) == e);
            }
            break;
        case 2:
            e = ticket_index_find(&ix, room, user);
            if (e != NULL) {
                ticket_index_remove(&ix, e);
                FUZZ_CHECK(ticket_index_find(&ix, room, user) == NULL);
            }
            break;
        default:
            (void) ticket_index_sweep(&ix, &cursor, data[i + 1] % 80,
                                      sweep_odd, NULL);
            break;
        }
        FUZZ_CHECK(ix.count <= ix.limit);
    }
}


int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t  *copy;

    /* An exact-size copy: ASan sees any read past the header's end. */
    copy = malloc(size ? size : 1);
    if (copy == NULL) {
        return 0;
    }
    memcpy(copy, data, size);
    fuzz_cookies(copy, size);
    fuzz_iso8601(copy, size);
    fuzz_index(copy, size);
    free(copy);
    return 0;
}
