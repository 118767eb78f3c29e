/* Unit tests for worker/taken.c: the process's cache of taken seats. */

#include <stdlib.h>
#include <string.h>

#include "taken.h"
#include "tap.h"


static idlist_t
ids(size_t n, const int64_t *v)
{
    idlist_t  l;

    memset(&l, 0, sizeof(l));
    for (size_t i = 0; i < n; i++) {
        l.id[l.n++] = v[i];
    }
    return l;
}


int
main(void)
{
    taken_cache_t  *tc;
    idlist_t        put, ask, got;
    char            room[TICKET_TOKEN_ROOM_MAX + 1];
    int             has_room = -1;

    tap_ok(taken_cache_create(0) == NULL, "ttl 0: no cache");
    tc = taken_cache_create(1000);
    tap_ok(tc != NULL, "a cache with a 1 s lifetime");

    put = ids(2, (int64_t[]) { 10, 12 });
    ask = ids(3, (int64_t[]) { 10, 11, 12 });
    tap_is_int(taken_cache_get(tc, 7, &ask, &got, room, &has_room, 5000), 0,
               "nothing known before a put");

    taken_cache_put(tc, 7, &put, NULL, "aurora", 5000);
    tap_is_int(taken_cache_get(tc, 7, &ask, &got, room, &has_room, 5999), 2,
               "two of three known taken within the lifetime");
    tap_ok(got.id[0] == 10 && got.id[1] == 12, "named in the list's order");
    tap_ok(has_room == 1 && strcmp(room, "aurora") == 0,
           "with the performance's room");
    tap_is_int(taken_cache_get(tc, 7, &ask, &got, room, &has_room, 6000), 0,
               "forgotten when the lifetime ends");
    tap_is_int(taken_cache_get(tc, 8, &ask, &got, room, &has_room, 5500), 0,
               "another performance knows nothing");

    ask = ids(1, (int64_t[]) { 11 });
    tap_is_int(taken_cache_get(tc, 7, &ask, &got, room, &has_room, 5500), 0,
               "a seat never put is not taken");

    put = ids(1, (int64_t[]) { 12 });
    taken_cache_forget(tc, 7, &put);
    ask = ids(2, (int64_t[]) { 10, 12 });
    tap_is_int(taken_cache_get(tc, 7, &ask, &got, room, &has_room, 5500), 1,
               "a freed seat is forgotten at once");
    tap_ok(got.id[0] == 10, "the other stays");

    put = ids(1, (int64_t[]) { 20 });
    taken_cache_put(tc, 9, &put, NULL, NULL, 5000);
    ask = ids(1, (int64_t[]) { 20 });
    tap_is_int(taken_cache_get(tc, 9, &ask, &got, room, &has_room, 5100), 1,
               "a performance without a room");
    tap_ok(has_room == 0, "says it has none");

    put = ids(2, (int64_t[]) { 40, 41 });
    taken_cache_put(tc, 9, &put, (int64_t[]) { 300, 5000 }, NULL, 5000);
    ask = ids(2, (int64_t[]) { 40, 41 });
    tap_is_int(taken_cache_get(tc, 9, &ask, &got, room, &has_room, 5299), 2,
               "both taken before the first hold ends");
    tap_is_int(taken_cache_get(tc, 9, &ask, &got, room, &has_room, 5300), 1,
               "a seat whose hold ends is free at once");
    tap_ok(got.id[0] == 41, "the other kept for the lifetime only");

    /* Performance 7 + 64 shares performance 7's slot: the newer one wins. */
    put = ids(1, (int64_t[]) { 30 });
    taken_cache_put(tc, 7 + TAKEN_PERF_SLOTS, &put, NULL, "other", 5200);
    ask = ids(1, (int64_t[]) { 10 });
    tap_is_int(taken_cache_get(tc, 7, &ask, &got, room, &has_room, 5300), 0,
               "a performance pushed out of its slot is asked again");

    taken_cache_free(tc);
    return tap_done();
}
