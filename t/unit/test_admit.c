/*
 * Unit tests of the waiting room's pure C parts: the admission arithmetic
 * (ticket_admit.c), the user-to-place index (ticket_index.c) and the
 * ISO 8601 parser the room configuration uses.
 */

#include <stdlib.h>
#include <string.h>

#include "tap.h"
#include "ticket_admit.h"
#include "ticket_index.h"


static ticket_admit_t *
new_room(uint32_t capacity, uint32_t rate_n, uint64_t period_ms,
    uint64_t grace_ms, int64_t now)
{
    ticket_admit_t       *a;
    ticket_admit_conf_t   conf;

    a = calloc(1, sizeof(ticket_admit_t));
    ticket_admit_init(a, now);

    conf.capacity = capacity;
    conf.rate_n = rate_n;
    conf.rate_period_ms = period_ms;
    conf.grace_ms = grace_ms;
    conf.opens_at_ms = 0;
    ticket_admit_configure(a, &conf);

    return a;
}


/* The room's timer, every 100 ms from from_ms up to (not at) to_ms. */
static void
tick_until(ticket_admit_t *a, int64_t from_ms, int64_t to_ms)
{
    for (int64_t t = from_ms; t < to_ms; t += 100) {
        ticket_admit_tick(a, t);
    }
}


static void
test_rate_and_capacity(void)
{
    int              over_rate, over_cap;
    int64_t          t, sec;
    uint32_t         n, per_sec;
    uint64_t         i;
    ticket_admit_t  *a;

    /* 200 per 10 s: 20 a second at most, whatever the tick timing. */
    a = new_room(1000, 200, 10000, 60000, 1000000);

    for (i = 0; i < 5000; i++) {
        ticket_admit_join(a, 1000000);
    }

    tap_is_int(a->seq, 5000, "5000 places handed out");
    tap_is_int(ticket_admit_per_second(&a->conf), 20, "20 a second at most");

    over_rate = 0;
    per_sec = 0;
    sec = 1000;

    /* Irregular ticks: 40 ms to 140 ms apart, over 30 seconds. */
    for (t = 1000000; t < 1030000; t += 40 + (t / 7) % 101) {
        if (t / 1000 != sec) {
            if (per_sec > 20) {
                over_rate++;
            }

            per_sec = 0;
            sec = t / 1000;
        }

        n = ticket_admit_tick(a, t);
        per_sec += n;

        /* Everyone admitted converts at once, keeping pending at zero. */
        for (i = a->serving - n + 1; i <= a->serving; i++) {
            ticket_admit_convert(a, i);
        }

        if (a->active > 200) {
            ticket_admit_end(a);
        }
    }

    tap_is_int(over_rate, 0, "no second admits more than the rate");
    tap_ok(a->serving >= 560 && a->serving <= 600,
           "about 20 a second over 30 s (%llu)",
           (unsigned long long) a->serving);

    /* Capacity: nobody ends, so admission stops at capacity. */
    free(a);
    a = new_room(10, 100, 1000, 60000, 0);

    for (i = 0; i < 100; i++) {
        ticket_admit_join(a, 0);
    }

    over_cap = 0;

    for (t = 0; t < 5000; t += 100) {
        n = ticket_admit_tick(a, t);

        for (i = a->serving - n + 1; i <= a->serving; i++) {
            ticket_admit_convert(a, i);
        }

        if (a->active + a->pending > 10) {
            over_cap++;
        }
    }

    tap_is_int(over_cap, 0, "capacity is never exceeded");
    tap_is_int(a->serving, 10, "exactly capacity admitted");
    tap_is_int(a->active, 10, "all of them active");

    ticket_admit_end(a);
    n = ticket_admit_tick(a, 5100);
    tap_is_int(n, 1, "an ended session lets the next one in");
    tap_is_int(a->serving, 11, "the next place is 11");
    free(a);
}


static void
test_grace(void)
{
    int64_t          t;
    ticket_admit_t  *a;

    a = new_room(5, 100, 1000, 2000, 0);

    for (t = 0; t < 20; t++) {
        ticket_admit_join(a, 0);
    }

    for (t = 0; t <= 1000; t += 100) {
        ticket_admit_tick(a, t);
    }

    tap_is_int(a->serving, 5, "capacity 5 admitted");
    tap_is_int(a->pending, 5, "all 5 pending");
    tap_is_int(ticket_admit_place(a, 3), TICKET_PLACE_ADMITTED,
               "place 3 admitted");
    tap_is_int(ticket_admit_place(a, 6), TICKET_PLACE_WAITING,
               "place 6 waiting");

    tap_is_int(ticket_admit_convert(a, 2), TICKET_PLACE_ADMITTED,
               "place 2 converts");
    tap_is_int(a->active, 1, "one active");

    /* Admitted at the tick of 100 ms, so the grace ends at 2100 ms. */
    for (t = 1100; t <= 2000; t += 100) {
        ticket_admit_tick(a, t);
    }

    tap_is_int(a->serving, 5, "nobody more before the grace ends");

    ticket_admit_tick(a, 2100);
    /* The same tick frees the 4 abandoned slots and refills them. */
    tap_is_int(a->serving, 9, "the 4 abandoned slots are freed at grace");
    tap_is_int(a->forfeited_total, 4, "4 forfeited");
    tap_is_int(ticket_admit_place(a, 3), TICKET_PLACE_EXPIRED,
               "place 3 expired");
    tap_is_int(ticket_admit_convert(a, 3), TICKET_PLACE_EXPIRED,
               "an expired place does not convert");

    for (t = 2200; t <= 3000; t += 100) {
        ticket_admit_tick(a, t);
    }

    tap_is_int(a->serving, 9, "and no more than that");
    tap_is_int(a->pending, 4, "4 pending again");

    ticket_admit_forfeit(a, 7);
    tap_is_int(a->pending, 3, "leaving after admission frees the slot");
    free(a);
}


static void
test_pause_and_opening(void)
{
    int64_t          t;
    uint64_t         secs;
    ticket_admit_t  *a;

    a = new_room(100, 10, 1000, 60000, 0);
    a->conf.opens_at_ms = 5000;

    for (t = 0; t < 50; t++) {
        ticket_admit_join(a, 0);
    }

    tick_until(a, 0, 5000);

    tap_is_int(a->serving, 0, "nobody admitted before opening");
    tap_is_int(ticket_admit_wait(a, 10, 4000, &secs), 0,
               "wait unknown before opening");

    tick_until(a, 5000, 8000);

    tap_ok(a->serving >= 29 && a->serving <= 31, "10 a second after opening");
    tap_is_int(ticket_admit_wait(a, 10, 8000, &secs), 1,
               "wait known after 3 busy seconds");
    tap_ok(secs >= 1 && secs <= 2, "10 places at 10/s take about 1 s (%llu)",
           (unsigned long long) secs);

    a->paused = 1;

    tick_until(a, 8000, 9000);

    tap_ok(a->serving <= 31, "nobody admitted while paused");
    tap_is_int(ticket_admit_wait(a, 10, 9000, &secs), 0,
               "wait unknown while paused");

    a->paused = 0;
    ticket_admit_tick(a, 9100);
    tap_ok(a->serving >= 30, "resumed");

    tap_ok(ticket_admit_oldest_wait(a, 9100) == 9,
           "the first in line joined 9 s ago");
    free(a);
}


/*
 * The room opens mid-second: that second is busy for its second half only,
 * and the rate measured right after must be the room's, not lower.
 */
static void
test_wait_after_opening_mid_second(void)
{
    int64_t          t;
    uint64_t         secs = 0;
    ticket_admit_t  *a;

    a = new_room(1000, 10, 1000, 60000, 0);
    a->conf.opens_at_ms = 5500;

    for (t = 0; t < 500; t++) {
        ticket_admit_join(a, 0);
    }

    tick_until(a, 0, 8000);

    tap_is_int(ticket_admit_wait(a, 100, 8000, &secs), 1,
               "wait known 2.5 busy seconds after opening");
    tap_ok(secs >= 9 && secs <= 11,
           "100 places at 10/s take about 10 s (%llu)",
           (unsigned long long) secs);

    tick_until(a, 8000, 30000);

    tap_is_int(ticket_admit_wait(a, 100, 30000, &secs), 1, "still known");
    tap_ok(secs >= 9 && secs <= 11, "and still about 10 s (%llu)",
           (unsigned long long) secs);
    free(a);
}


static void
test_index(void)
{
    uint32_t               i, bad;
    ticket_index_t         ix;
    ticket_index_entry_t  *slots, *e;

    slots = calloc(1024, sizeof(ticket_index_entry_t));
    ticket_index_init(&ix, slots, 1024);

    tap_is_int(sizeof(ticket_index_entry_t), 16, "16-byte entries");

    for (i = 1; i <= 896; i++) {
        e = ticket_index_insert(&ix, (uint16_t) (i % 3), i);

        if (e == NULL) {
            break;
        }

        e->place = i;
    }

    tap_is_int(ix.count, 896, "filled to 7/8");
    tap_ok(ticket_index_insert(&ix, 0, 5000) == NULL, "then full");
    tap_ok(ticket_index_insert(&ix, 2, 5) != NULL,
           "an existing entry is still found when full");
    tap_ok(ticket_index_insert(&ix, 0, 0) == NULL, "user 0 is refused");

    /* Remove every odd user, then check every even one is found. */
    for (i = 1; i <= 896; i += 2) {
        e = ticket_index_find(&ix, (uint16_t) (i % 3), i);

        if (e) {
            ticket_index_remove(&ix, e);
        }
    }

    bad = 0;

    for (i = 1; i <= 896; i++) {
        e = ticket_index_find(&ix, (uint16_t) (i % 3), i);

        if ((i % 2 == 0) != (e != NULL) || (e && e->place != i)) {
            bad++;
        }
    }

    tap_is_int(bad, 0, "removal by backward shift keeps every lookup");
    tap_is_int(ix.count, 448, "448 left");
    tap_ok(ticket_index_find(&ix, 0, 4) == NULL,
           "the same user in another room is another entry");

    free(slots);
}


static int
sweep_small(const ticket_index_entry_t *e, void *data)
{
    (void) data;

    return e->place < 100;
}


static void
test_sweep(void)
{
    uint32_t               i, cursor, deleted, bad;
    ticket_index_t         ix;
    ticket_index_entry_t  *slots, *e;

    slots = calloc(512, sizeof(ticket_index_entry_t));
    ticket_index_init(&ix, slots, 512);

    for (i = 1; i <= 400; i++) {
        e = ticket_index_insert(&ix, 1, i * 7919);
        e->place = i;
    }

    cursor = 0;
    deleted = 0;

    /* Two passes: entries shifted behind the cursor are caught next time. */
    for (i = 0; i < 4; i++) {
        deleted += ticket_index_sweep(&ix, &cursor, 256, sweep_small, NULL);
    }

    tap_is_int(deleted, 99, "the sweep deletes the 99 small places");

    bad = 0;

    for (i = 1; i <= 400; i++) {
        e = ticket_index_find(&ix, 1, i * 7919);

        if ((i >= 100) != (e != NULL)) {
            bad++;
        }
    }

    tap_is_int(bad, 0, "and keeps every other");
    free(slots);
}


static void
test_iso8601(void)
{
    int64_t  t;

    tap_is_int(ticket_parse_iso8601("1970-01-01T00:00:00Z", 20, &t), 0,
               "epoch parses");
    tap_is_int(t, 0, "epoch is 0");

    tap_is_int(ticket_parse_iso8601("2026-12-01T20:00:00+09:00", 25, &t), 0,
               "offset parses");
    tap_is_int(t, 1796122800, "2026-12-01T20:00:00+09:00");

    tap_is_int(ticket_parse_iso8601("2024-02-29T12:00:00-05:30", 25, &t), 0,
               "leap day parses");
    tap_is_int(t, 1709227800, "negative offset");

    tap_is_int(ticket_parse_iso8601("2023-02-29T12:00:00Z", 20, &t), -1,
               "no 29 February in 2023");
    tap_is_int(ticket_parse_iso8601("2026-13-01T20:00:00Z", 20, &t), -1,
               "month 13 refused");
    tap_is_int(ticket_parse_iso8601("2026-12-01T20:00:00", 19, &t), -1,
               "a zone is required");
    tap_is_int(ticket_parse_iso8601("2026-12-01T2x:00:00Z", 20, &t), -1,
               "digits only");
}


/*
 * Mirroring Redis: snapshots from several processes can arrive out of
 * order, and an older one must not take admissions back; a backend that
 * lost its state is taken over as it is.
 */
static void
test_mirror(void)
{
    ticket_admit_t         *a;
    ticket_admit_mirror_t   m;

    a = new_room(100, 10, 1000, 30000, 1000000);

    memset(&m, 0, sizeof(m));
    m.seq = 20;
    m.serving = 10;
    tap_is_int(ticket_admit_mirror(a, &m, 1000100), 0, "snapshot taken over");
    tap_is_int((long) a->serving, 10, "serving from the backend");

    m.serving = 8;
    tap_is_int(ticket_admit_mirror(a, &m, 1000200), -1,
               "an older snapshot is dropped");
    tap_is_int((long) a->serving, 10, "... admission does not go back");

    m.seq = 25;
    m.serving = 12;
    tap_is_int(ticket_admit_mirror(a, &m, 1000300), 0, "a newer one applies");
    tap_is_int((long) a->seq, 25, "... with the new places");

    m.seq = 3;
    m.serving = 1;
    tap_is_int(ticket_admit_mirror(a, &m, 1000400), 0,
               "a backend that lost its state is taken over");
    tap_is_int((long) a->serving, 1, "... from what it says");

    free(a);
}


int
main(void)
{
    test_rate_and_capacity();
    test_grace();
    test_pause_and_opening();
    test_wait_after_opening_mid_second();
    test_index();
    test_sweep();
    test_iso8601();
    test_mirror();

    return tap_done();
}
