/*
 * Admission arithmetic of one waiting room; see ticket_admit.h.
 */

#include <string.h>

#include "ticket_admit.h"


#define TICKET_ADMIT_MAX_PLACE  0xffffffffULL


static ticket_batch_t *
ticket_admit_batch(ticket_admit_t *a, uint32_t i)
{
    return &a->batches[(a->batch_head + i) % TICKET_ADMIT_BATCHES];
}


static ticket_second_t *
ticket_admit_second(ticket_admit_t *a, int64_t sec)
{
    ticket_second_t  *h;

    h = &a->history[(uint64_t) sec & (TICKET_ADMIT_HISTORY - 1)];

    if (h->sec != sec) {
        h->sec = sec;
        h->admitted = 0;
        h->busy_ms = 0;
    }

    return h;
}


/*
 * Somebody waits at now_ms, in second h.  A second is busy from the moment
 * a spell of waiting began, and whole when the spell began before it.
 * Counting the first second of a spell whole made the rate measured just
 * after the room opened too low, and every wait shown then too long.
 */
static void
ticket_admit_busy(ticket_admit_t *a, ticket_second_t *h, int64_t now_ms)
{
    int64_t                 start;
    const ticket_second_t  *prev;

    if (h->busy_ms != 0) {
        return;
    }

    prev = &a->history[(uint64_t) (h->sec - 1) & (TICKET_ADMIT_HISTORY - 1)];
    start = now_ms - h->sec * 1000;

    if ((prev->sec == h->sec - 1 && prev->busy_ms != 0)
        || start < 0 || start >= 1000)
    {
        start = 0;
    }

    h->busy_ms = (uint32_t) (1000 - start);
}


void
ticket_admit_init(ticket_admit_t *a, int64_t now_ms)
{
    memset(a, 0, sizeof(ticket_admit_t));
    a->last_tick_ms = now_ms;
}


void
ticket_admit_configure(ticket_admit_t *a, const ticket_admit_conf_t *conf)
{
    a->conf = *conf;

    if (a->conf.rate_n == 0) {
        a->conf.rate_n = 1;
    }

    if (a->conf.rate_period_ms == 0) {
        a->conf.rate_period_ms = 1000;
    }
}


uint32_t
ticket_admit_per_second(const ticket_admit_conf_t *conf)
{
    uint64_t  n;

    n = ((uint64_t) conf->rate_n * 1000 + conf->rate_period_ms - 1)
        / conf->rate_period_ms;

    if (n == 0) {
        n = 1;
    }

    return n > 0xffffffffULL ? 0xffffffffU : (uint32_t) n;
}


uint64_t
ticket_admit_join(ticket_admit_t *a, int64_t now_ms)
{
    int64_t              sec;
    ticket_join_mark_t  *m;

    if (a->seq >= TICKET_ADMIT_MAX_PLACE) {
        return 0;
    }

    a->seq++;
    sec = now_ms / 1000;

    if (a->join_count > 0) {
        m = &a->joins[(a->join_head + a->join_count - 1) % TICKET_ADMIT_JOINS];

        if (m->sec == sec) {
            m->seq = a->seq;
            return a->seq;
        }
    }

    if (a->join_count == TICKET_ADMIT_JOINS) {
        a->join_head = (a->join_head + 1) % TICKET_ADMIT_JOINS;
        a->join_count--;
    }

    m = &a->joins[(a->join_head + a->join_count) % TICKET_ADMIT_JOINS];
    m->sec = sec;
    m->seq = a->seq;
    a->join_count++;

    return a->seq;
}


static void
ticket_admit_expire(ticket_admit_t *a, int64_t now_ms)
{
    ticket_batch_t  *b;

    while (a->batch_count > 0) {
        b = ticket_admit_batch(a, 0);

        if (b->at_ms + (int64_t) a->conf.grace_ms > now_ms) {
            break;
        }

        /* Nobody came back for these places in time: free their slots. */
        a->pending -= b->pending < a->pending ? b->pending : a->pending;
        a->forfeited_total += b->pending;
        a->expired_upto = b->last;

        a->batch_head = (a->batch_head + 1) % TICKET_ADMIT_BATCHES;
        a->batch_count--;
    }
}


static void
ticket_admit_record(ticket_admit_t *a, uint32_t n, int64_t now_ms)
{
    int64_t          granularity;
    ticket_batch_t  *b;

    /*
     * Batches are merged within a small fraction of the grace so that the
     * ring covers the whole grace period; a merged place loses at most that
     * fraction of its grace.
     */
    granularity = (int64_t) (a->conf.grace_ms / (TICKET_ADMIT_BATCHES / 2));

    if (granularity < TICKET_ADMIT_TICK_MS / 2) {
        granularity = TICKET_ADMIT_TICK_MS / 2;
    }

    if (a->batch_count > 0) {
        b = ticket_admit_batch(a, a->batch_count - 1);

        if (b->at_ms + granularity > now_ms
            || a->batch_count == TICKET_ADMIT_BATCHES)
        {
            b->last = a->serving;
            b->pending += n;
            b->admitted += n;
            return;
        }
    }

    b = ticket_admit_batch(a, a->batch_count);
    b->last = a->serving;
    b->pending = n;
    b->admitted = n;
    b->at_ms = now_ms;
    a->batch_count++;
}


uint32_t
ticket_admit_tick(ticket_admit_t *a, int64_t now_ms)
{
    uint32_t          per_second;
    uint64_t          n, cap, dt, waiting, used, period;
    ticket_second_t  *h;

    ticket_admit_expire(a, now_ms);

    period = a->conf.rate_period_ms;

    if (now_ms > a->last_tick_ms) {
        dt = (uint64_t) (now_ms - a->last_tick_ms);

        if (dt > 3600 * 1000) {
            dt = 3600 * 1000;
        }

        a->budget += (uint64_t) a->conf.rate_n * dt;
    }

    /* A clock that went back must not stall the room. */
    a->last_tick_ms = now_ms;

    /*
     * The bucket holds two ticks' worth (or a single admission for slow
     * rates): a late tick loses nothing, and admissions stay smooth instead
     * of bursting after a lull.
     */
    cap = (uint64_t) a->conf.rate_n * 2 * TICKET_ADMIT_TICK_MS;

    if (cap < period) {
        cap = period;
    }

    if (a->budget > cap) {
        a->budget = cap;
    }

    h = ticket_admit_second(a, now_ms / 1000);
    waiting = a->seq - a->serving;

    if (a->paused || now_ms < a->conf.opens_at_ms) {
        return 0;
    }

    if (waiting > 0) {
        ticket_admit_busy(a, h, now_ms);
    }

    n = a->budget / period;

    if (n > waiting) {
        n = waiting;
    }

    used = (uint64_t) a->active + a->pending;
    n = used < a->conf.capacity
        ? (n < a->conf.capacity - used ? n : a->conf.capacity - used) : 0;

    per_second = ticket_admit_per_second(&a->conf);
    n = h->admitted < per_second
        ? (n < per_second - h->admitted ? n : per_second - h->admitted) : 0;

    if (n == 0) {
        return 0;
    }

    a->budget -= n * period;
    a->serving += n;
    a->pending += (uint32_t) n;
    a->admitted_total += n;
    h->admitted += (uint32_t) n;

    ticket_admit_record(a, (uint32_t) n, now_ms);

    return (uint32_t) n;
}


int
ticket_admit_place(const ticket_admit_t *a, uint64_t place)
{
    /* A place beyond seq comes from a previous life of the zone. */
    if (place == 0 || place > a->seq || place <= a->expired_upto) {
        return TICKET_PLACE_EXPIRED;
    }

    if (place > a->serving) {
        return TICKET_PLACE_WAITING;
    }

    return TICKET_PLACE_ADMITTED;
}


/* Takes one pending slot from the batch of an admitted place. */
static int
ticket_admit_take(ticket_admit_t *a, uint64_t place)
{
    int              rc;
    uint32_t         i;
    ticket_batch_t  *b;

    rc = ticket_admit_place(a, place);

    if (rc != TICKET_PLACE_ADMITTED) {
        return rc;
    }

    for (i = 0; i < a->batch_count; i++) {
        b = ticket_admit_batch(a, i);

        if (b->last < place) {
            continue;
        }

        if (b->pending == 0 || a->pending == 0) {
            return TICKET_PLACE_EXPIRED;
        }

        b->pending--;
        a->pending--;

        return TICKET_PLACE_ADMITTED;
    }

    return TICKET_PLACE_EXPIRED;
}


int
ticket_admit_convert(ticket_admit_t *a, uint64_t place)
{
    int  rc;

    rc = ticket_admit_take(a, place);

    if (rc == TICKET_PLACE_ADMITTED) {
        a->active++;
        a->converted_total++;
    }

    return rc;
}


void
ticket_admit_forfeit(ticket_admit_t *a, uint64_t place)
{
    if (ticket_admit_take(a, place) == TICKET_PLACE_ADMITTED) {
        a->forfeited_total++;
    }
}


void
ticket_admit_end(ticket_admit_t *a)
{
    if (a->active > 0) {
        a->active--;
    }

    a->ended_total++;
}


int
ticket_admit_mirror(ticket_admit_t *a, const ticket_admit_mirror_t *m,
    int64_t now_ms)
{
    ticket_second_t  *h;

    if (m->seq >= a->seq && m->serving < a->serving) {
        /*
         * Admission only moves forward, so this is a snapshot taken before
         * the one already applied (the replies of several processes can
         * arrive out of order); applying it would show admitted places as
         * waiting again.
         */
        return -1;
    }

    h = ticket_admit_second(a, now_ms / 1000);

    if (m->seq > a->seq) {
        /* One join mark for all the places handed out since. */
        a->seq = m->seq - 1;
        (void) ticket_admit_join(a, now_ms);

    } else if (m->seq < a->seq) {
        /* The backend lost its state: start over from what it says. */
        a->join_count = 0;
        a->seq = m->seq;
    }

    if (m->serving > a->serving) {
        h->admitted += (uint32_t) (m->serving - a->serving);
    }

    if (m->seq > m->serving && !m->paused) {
        ticket_admit_busy(a, h, now_ms);
    }

    a->serving = m->serving;
    a->expired_upto = m->expired_upto;
    a->active = m->active;
    a->pending = m->pending;
    a->paused = m->paused;
    a->admitted_total = m->admitted_total;
    a->converted_total = m->converted_total;
    a->forfeited_total = m->forfeited_total;
    a->ended_total = m->ended_total;
    a->batch_count = 0;

    if (m->capacity) {
        a->conf.capacity = m->capacity;
    }

    if (m->rate_n && m->rate_period_ms) {
        a->conf.rate_n = m->rate_n;
        a->conf.rate_period_ms = m->rate_period_ms;
    }

    return 0;
}


uint32_t
ticket_admit_in_second(const ticket_admit_t *a, int64_t sec)
{
    const ticket_second_t  *h;

    h = &a->history[(uint64_t) sec & (TICKET_ADMIT_HISTORY - 1)];

    return h->sec == sec ? h->admitted : 0;
}


uint64_t
ticket_admit_last_minute(const ticket_admit_t *a, int64_t now_ms)
{
    int64_t   s, now;
    uint64_t  total;

    now = now_ms / 1000;
    total = 0;

    for (s = now - TICKET_ADMIT_WINDOW; s < now; s++) {
        total += ticket_admit_in_second(a, s);
    }

    return total;
}


int
ticket_admit_wait(const ticket_admit_t *a, uint64_t position, int64_t now_ms,
    uint64_t *seconds)
{
    int64_t                 s, now;
    uint64_t                busy, busy_ms, admitted;
    const ticket_second_t  *h;

    if (a->paused || now_ms < a->conf.opens_at_ms) {
        return 0;
    }

    if (position == 0) {
        *seconds = 0;
        return 1;
    }

    now = now_ms / 1000;
    busy = 0;
    busy_ms = 0;
    admitted = 0;

    /*
     * Only the time in which somebody waited measures the rate: an empty
     * line admits nobody whatever the room could do.
     */
    for (s = now - TICKET_ADMIT_WINDOW; s < now; s++) {
        h = &a->history[(uint64_t) s & (TICKET_ADMIT_HISTORY - 1)];

        if (h->sec == s && h->busy_ms) {
            busy++;
            busy_ms += h->busy_ms;
            admitted += h->admitted;
        }
    }

    if (busy < 2 || admitted == 0) {
        return 0;
    }

    *seconds = (position * busy_ms + admitted * 1000 - 1) / (admitted * 1000);

    return 1;
}


int64_t
ticket_admit_oldest_wait(const ticket_admit_t *a, int64_t now_ms)
{
    uint32_t                   i;
    uint64_t                   first;
    const ticket_join_mark_t  *m;

    if (a->seq <= a->serving) {
        return -1;
    }

    first = a->serving + 1;

    for (i = 0; i < a->join_count; i++) {
        m = &a->joins[(a->join_head + i) % TICKET_ADMIT_JOINS];

        if (m->seq >= first) {
            /* With older marks overwritten this is a lower bound. */
            return now_ms / 1000 > m->sec ? now_ms / 1000 - m->sec : 0;
        }
    }

    return 0;
}


static int
ticket_parse_digits(const char *s, size_t n, int *out)
{
    size_t  i;
    int     v;

    v = 0;

    for (i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') {
            return -1;
        }

        v = v * 10 + (s[i] - '0');
    }

    *out = v;

    return 0;
}


/* Days since 1970-01-01 of a proleptic Gregorian date. */
static int64_t
ticket_days_from_civil(int y, int m, int d)
{
    int64_t  era, yoe, doy, doe;

    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;

    return era * 146097 + doe - 719468;
}


int
ticket_parse_iso8601(const char *s, size_t len, int64_t *out)
{
    int      y, mo, d, h, mi, sec, oh, om, sign, mdays;
    int64_t  t;

    static const int  days[] = { 31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30,
                                 31 };

    if (len < 20
        || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != ' ')
        || s[13] != ':' || s[16] != ':')
    {
        return -1;
    }

    if (ticket_parse_digits(s, 4, &y) || ticket_parse_digits(s + 5, 2, &mo)
        || ticket_parse_digits(s + 8, 2, &d)
        || ticket_parse_digits(s + 11, 2, &h)
        || ticket_parse_digits(s + 14, 2, &mi)
        || ticket_parse_digits(s + 17, 2, &sec))
    {
        return -1;
    }

    if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59
        || sec > 59)
    {
        return -1;
    }

    mdays = days[mo - 1];

    if (mo == 2 && !(y % 4 == 0 && (y % 100 != 0 || y % 400 == 0))) {
        mdays = 28;
    }

    if (d > mdays) {
        return -1;
    }

    if (len == 20 && s[19] == 'Z') {
        oh = 0;
        om = 0;
        sign = 1;

    } else if (len == 25 && (s[19] == '+' || s[19] == '-') && s[22] == ':') {
        sign = s[19] == '+' ? 1 : -1;

        if (ticket_parse_digits(s + 20, 2, &oh)
            || ticket_parse_digits(s + 23, 2, &om)
            || oh > 23 || om > 59)
        {
            return -1;
        }

    } else {
        return -1;
    }

    t = ticket_days_from_civil(y, mo, d) * 86400
        + h * 3600 + mi * 60 + sec;

    *out = t - sign * (oh * 3600 + om * 60);

    return 0;
}
