#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "taken.h"


taken_cache_t *
taken_cache_create(int64_t ttl_ms)
{
    taken_cache_t  *tc;

    if (ttl_ms <= 0) {
        return NULL;
    }
    tc = calloc(1, sizeof(*tc));
    if (tc == NULL) {
        return NULL;
    }
    if (pthread_mutex_init(&tc->lock, NULL) != 0) {
        free(tc);
        return NULL;
    }
    tc->ttl_ms = ttl_ms;
    return tc;
}


void
taken_cache_free(taken_cache_t *tc)
{
    if (tc != NULL) {
        pthread_mutex_destroy(&tc->lock);
        free(tc);
    }
}


int64_t
taken_now_ms(void)
{
    struct timespec  ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}


/* Seat ids of a venue are consecutive: mix the performance in well. */
static size_t
taken_seat_slot(int64_t perf, int64_t seat)
{
    uint64_t  h = (uint64_t) seat * 0x9E3779B97F4A7C15ull
                  ^ (uint64_t) perf * 0xC2B2AE3D27D4EB4Full;

    return (size_t) (h >> 48) & (TAKEN_SEAT_SLOTS - 1);
}


static taken_perf_t *
taken_perf_slot(taken_cache_t *tc, int64_t perf)
{
    return &tc->perfs[(uint64_t) perf & (TAKEN_PERF_SLOTS - 1)];
}


void
taken_cache_put(taken_cache_t *tc, int64_t perf, const idlist_t *seats,
    const int64_t *left_ms, const char *room, int64_t now_ms)
{
    taken_perf_t  *p;
    taken_seat_t  *s;
    int64_t        until = now_ms + tc->ttl_ms;

    if (seats->n == 0) {
        return;
    }
    pthread_mutex_lock(&tc->lock);
    p = taken_perf_slot(tc, perf);
    p->perf = perf;
    p->until_ms = until;
    p->has_room = room != NULL;
    snprintf(p->room, sizeof(p->room), "%s", room != NULL ? room : "");
    for (size_t i = 0; i < seats->n; i++) {
        s = &tc->seats[taken_seat_slot(perf, seats->id[i])];
        s->perf = perf;
        s->seat = seats->id[i];
        s->until_ms = left_ms != NULL && left_ms[i] < tc->ttl_ms
                      ? now_ms + left_ms[i] : until;
    }
    pthread_mutex_unlock(&tc->lock);
}


void
taken_cache_forget(taken_cache_t *tc, int64_t perf, const idlist_t *seats)
{
    taken_seat_t  *s;

    pthread_mutex_lock(&tc->lock);
    for (size_t i = 0; i < seats->n; i++) {
        s = &tc->seats[taken_seat_slot(perf, seats->id[i])];
        if (s->perf == perf && s->seat == seats->id[i]) {
            s->until_ms = 0;
        }
    }
    pthread_mutex_unlock(&tc->lock);
}


size_t
taken_cache_get(taken_cache_t *tc, int64_t perf, const idlist_t *seats,
    idlist_t *taken, char *room, int *has_room, int64_t now_ms)
{
    taken_perf_t  *p;
    taken_seat_t  *s;

    memset(taken, 0, sizeof(*taken));
    pthread_mutex_lock(&tc->lock);
    p = taken_perf_slot(tc, perf);
    if (p->perf == perf && p->until_ms > now_ms) {
        for (size_t i = 0; i < seats->n; i++) {
            s = &tc->seats[taken_seat_slot(perf, seats->id[i])];
            if (s->perf == perf && s->seat == seats->id[i]
                && s->until_ms > now_ms)
            {
                taken->id[taken->n++] = seats->id[i];
            }
        }
        if (taken->n > 0) {
            *has_room = p->has_room;
            memcpy(room, p->room, sizeof(p->room));
        }
    }
    pthread_mutex_unlock(&tc->lock);
    return taken->n;
}
