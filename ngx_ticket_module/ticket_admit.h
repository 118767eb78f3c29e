/*
 * Admission arithmetic of one waiting room, in pure C.
 *
 * A room hands out places (seq) and admits them in order (serving).  This
 * file holds the numbers only: the token-bucket budget of each tick, the
 * capacity clamp, the grace batches of admitted places that were not yet
 * turned into sessions, the per-second history used to measure the real
 * admission rate, and the wait estimate built from it.  It knows nothing of
 * NGINX: the module keeps a ticket_admit_t in shared memory and calls these
 * functions under the zone lock; unit tests call them directly.
 */

#ifndef TICKET_ADMIT_H
#define TICKET_ADMIT_H

#include <stddef.h>
#include <stdint.h>


#define TICKET_ADMIT_TICK_MS       100
#define TICKET_ADMIT_BATCHES       1024
#define TICKET_ADMIT_HISTORY       64      /* seconds, a power of two */
#define TICKET_ADMIT_JOINS         1024
#define TICKET_ADMIT_WINDOW        60      /* seconds of rate measurement */

/* What a place in line is, seen from the room. */
#define TICKET_PLACE_WAITING       0
#define TICKET_PLACE_ADMITTED      1
#define TICKET_PLACE_EXPIRED       2


typedef struct {
    uint32_t        capacity;         /* admitted places at most */
    uint32_t        rate_n;           /* rate_n admissions ... */
    uint64_t        rate_period_ms;   /* ... per this many milliseconds */
    uint64_t        grace_ms;         /* admitted place kept unconverted */
    int64_t         opens_at_ms;      /* no admission before; 0: open */
} ticket_admit_conf_t;


/* Places (previous batch's last, last] admitted at at_ms. */
typedef struct {
    uint64_t        last;
    uint32_t        pending;
    uint32_t        admitted;
    int64_t         at_ms;
} ticket_batch_t;


typedef struct {
    int64_t         sec;
    uint32_t        admitted;
    uint32_t        busy_ms;          /* of it, somebody was waiting */
} ticket_second_t;


/* The last place handed out in second sec. */
typedef struct {
    int64_t         sec;
    uint64_t        seq;
} ticket_join_mark_t;


typedef struct {
    ticket_admit_conf_t  conf;

    uint64_t        seq;              /* places handed out */
    uint64_t        serving;          /* places admitted */
    uint64_t        expired_upto;     /* places forfeited up to here */
    uint32_t        active;           /* sessions that have not ended */
    uint32_t        pending;          /* admitted, not yet a session */
    uint32_t        paused;

    uint64_t        budget;           /* admissions times rate_period_ms */
    int64_t         last_tick_ms;

    uint64_t        admitted_total;
    uint64_t        converted_total;
    uint64_t        forfeited_total;
    uint64_t        ended_total;

    uint32_t        batch_head;       /* oldest batch */
    uint32_t        batch_count;
    uint32_t        join_head;        /* oldest join mark */
    uint32_t        join_count;

    ticket_batch_t      batches[TICKET_ADMIT_BATCHES];
    ticket_second_t     history[TICKET_ADMIT_HISTORY];
    ticket_join_mark_t  joins[TICKET_ADMIT_JOINS];
} ticket_admit_t;


/* A room's state as a shared backend (Redis) holds it. */
typedef struct {
    uint64_t        seq;
    uint64_t        serving;
    uint64_t        expired_upto;
    uint32_t        active;
    uint32_t        pending;
    uint32_t        paused;
    uint32_t        capacity;
    uint32_t        rate_n;
    uint64_t        rate_period_ms;
    uint64_t        admitted_total;
    uint64_t        converted_total;
    uint64_t        forfeited_total;
    uint64_t        ended_total;
} ticket_admit_mirror_t;


void ticket_admit_init(ticket_admit_t *a, int64_t now_ms);

/* New settings take effect at the next tick; the state is kept. */
void ticket_admit_configure(ticket_admit_t *a, const ticket_admit_conf_t *conf);

/* The most admissions any one calendar second may see. */
uint32_t ticket_admit_per_second(const ticket_admit_conf_t *conf);

/* Hands out the next place; 0 when places are exhausted. */
uint64_t ticket_admit_join(ticket_admit_t *a, int64_t now_ms);

/*
 * Frees the slots of grace batches that ran out, then admits as many places
 * as the rate budget, the per-second cap and the free capacity allow.
 * Returns the number admitted.  Calling it again at the same time admits
 * nobody, so every process may try.
 */
uint32_t ticket_admit_tick(ticket_admit_t *a, int64_t now_ms);

int ticket_admit_place(const ticket_admit_t *a, uint64_t place);

/*
 * Turns an admitted place into a session: the place's batch gives its slot
 * to active.  Returns the place's state; only TICKET_PLACE_ADMITTED
 * converted.
 */
int ticket_admit_convert(ticket_admit_t *a, uint64_t place);

/* An admitted place left before converting: its slot is free again. */
void ticket_admit_forfeit(ticket_admit_t *a, uint64_t place);

/* A session ended: its slot is free again. */
void ticket_admit_end(ticket_admit_t *a);

/*
 * Takes over the state a shared backend admitted by: the counters and
 * settings are copied, and what changed since the last mirror is recorded
 * in the per-second history and the join marks, so the measured rate, the
 * wait estimate and the oldest wait work as with local admission.
 * Returns -1, changing nothing, for a snapshot older than the last one
 * taken over (its admission is behind), 0 otherwise.
 */
int ticket_admit_mirror(ticket_admit_t *a, const ticket_admit_mirror_t *m,
    int64_t now_ms);

/* Admissions in the last 60 complete seconds. */
uint64_t ticket_admit_last_minute(const ticket_admit_t *a, int64_t now_ms);

/*
 * Estimated seconds until `position` more admissions happened, from the
 * admission rate measured over the seconds in which people were waiting.
 * Returns 0 and leaves *seconds alone when the rate is unknown.
 */
int ticket_admit_wait(const ticket_admit_t *a, uint64_t position,
    int64_t now_ms, uint64_t *seconds);

/* Seconds the first waiting place has waited; -1 when nobody waits. */
int64_t ticket_admit_oldest_wait(const ticket_admit_t *a, int64_t now_ms);

/* Admissions counted in calendar second sec (0 if out of the history). */
uint32_t ticket_admit_in_second(const ticket_admit_t *a, int64_t sec);

/*
 * Parses "YYYY-MM-DDTHH:MM:SS" followed by "Z" or "+HH:MM"/"-HH:MM" into
 * unix seconds.  Returns 0 on success, -1 on any malformed input.
 */
int ticket_parse_iso8601(const char *s, size_t len, int64_t *out);

#endif /* TICKET_ADMIT_H */
