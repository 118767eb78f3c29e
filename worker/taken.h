/*
 * The seats this worker process saw held or sold in the last moment, so
 * that the crowd's repeated attempts at a seat just taken are refused
 * without reading the seat again (hold.c).
 *
 * During an on-sale about 13 people try each seat, nearly all within a
 * second of its being taken: they chose it from a seat map that was up to
 * a second old.  The first refusal reads the seat in MariaDB and records
 * it here; the next attempts within taken_cache_ms find it here and cost
 * one small statement (the session and the key) instead of the pre-check.
 * An entry only ever says "taken", never "free": a grant always goes
 * through the claim in MariaDB, so a stale entry can refuse a seat freed
 * less than taken_cache_ms ago by another process (the same staleness as
 * the one-second seat map) but can never sell a seat twice.  Seats this
 * process frees are forgotten at once.
 *
 * One table per process, shared by its threads behind a mutex held for a
 * few hash probes.  Slots are direct-mapped: a collision replaces the
 * older entry, which only costs a pre-check.
 */

#ifndef WORKER_TAKEN_H
#define WORKER_TAKEN_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "idlist.h"
#include "ticket_token.h"

#define TAKEN_SEAT_SLOTS  (1u << 16)
#define TAKEN_PERF_SLOTS  64u

typedef struct {
    int64_t  perf;
    int64_t  seat;
    int64_t  until_ms;
} taken_seat_t;

/* What a refusal needs of the performance: its waiting room. */
typedef struct {
    int64_t  perf;
    int64_t  until_ms;
    int      has_room;
    char     room[TICKET_TOKEN_ROOM_MAX + 1];
} taken_perf_t;

typedef struct {
    pthread_mutex_t  lock;
    int64_t          ttl_ms;
    taken_perf_t     perfs[TAKEN_PERF_SLOTS];
    taken_seat_t     seats[TAKEN_SEAT_SLOTS];
} taken_cache_t;

/* NULL when ttl_ms is 0 (the cache is off) or memory is short. */
taken_cache_t *taken_cache_create(int64_t ttl_ms);
void taken_cache_free(taken_cache_t *tc);

/*
 * Records that the seats of an open performance were held or sold at
 * now_ms, each for the cache's lifetime or left_ms[i] if shorter (the
 * time left of the seat's hold; left_ms NULL: the lifetime for all), with
 * the performance's room (room NULL: none).
 */
void taken_cache_put(taken_cache_t *tc, int64_t perf, const idlist_t *seats,
    const int64_t *left_ms, const char *room, int64_t now_ms);

/* Forgets seats this process has just freed. */
void taken_cache_forget(taken_cache_t *tc, int64_t perf,
    const idlist_t *seats);

/*
 * Which of the seats are known taken at now_ms, in the list's order, and
 * the performance's room: the number of seats put in taken (0: ask
 * MariaDB).  room has TICKET_TOKEN_ROOM_MAX + 1 bytes; *has_room is 0
 * for a performance without a room.
 */
size_t taken_cache_get(taken_cache_t *tc, int64_t perf,
    const idlist_t *seats, idlist_t *taken, char *room, int *has_room,
    int64_t now_ms);

/* CLOCK_MONOTONIC in milliseconds: the cache's clock. */
int64_t taken_now_ms(void);

#endif
