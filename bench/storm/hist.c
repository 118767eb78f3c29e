/*
 * Logarithmic latency histograms: see hist.h.
 */

#include <string.h>

#include "hist.h"


void
hist_init(hist_t *h)
{
    memset(h, 0, sizeof(hist_t));
}


size_t
hist_index(uint64_t value)
{
    unsigned  exp;

    if (value < HIST_SUB) {
        return (size_t) value;
    }

    exp = 63 - (unsigned) __builtin_clzll(value);

    if (exp >= HIST_MAX_EXP) {
        return HIST_BUCKETS - 1;
    }

    /* The top bit is implied; the next HIST_SUB_BITS bits pick the cut. */
    return HIST_SUB + (size_t) (exp - HIST_SUB_BITS) * HIST_SUB
           + (size_t) ((value >> (exp - HIST_SUB_BITS)) & (HIST_SUB - 1));
}


uint64_t
hist_bucket_low(size_t index)
{
    size_t  exp, sub;

    if (index < HIST_SUB) {
        return index;
    }

    exp = (index - HIST_SUB) / HIST_SUB + HIST_SUB_BITS;
    sub = (index - HIST_SUB) % HIST_SUB;

    return ((uint64_t) 1 << exp) + ((uint64_t) sub << (exp - HIST_SUB_BITS));
}


uint64_t
hist_bucket_high(size_t index)
{
    size_t  exp;

    if (index < HIST_SUB) {
        return index;
    }

    exp = (index - HIST_SUB) / HIST_SUB + HIST_SUB_BITS;

    return hist_bucket_low(index) + ((uint64_t) 1 << (exp - HIST_SUB_BITS))
           - 1;
}


void
hist_record(hist_t *h, uint64_t value)
{
    if (h->count == 0 || value < h->min) {
        h->min = value;
    }

    if (value > h->max) {
        h->max = value;
    }

    h->count++;
    h->sum += value;
    h->bucket[hist_index(value)]++;
}


void
hist_add(hist_t *into, const hist_t *from)
{
    size_t  i;

    if (from->count == 0) {
        return;
    }

    if (into->count == 0 || from->min < into->min) {
        into->min = from->min;
    }

    if (from->max > into->max) {
        into->max = from->max;
    }

    into->count += from->count;
    into->sum += from->sum;

    for (i = 0; i < HIST_BUCKETS; i++) {
        into->bucket[i] += from->bucket[i];
    }
}


uint64_t
hist_quantile(const hist_t *h, double q)
{
    size_t    i;
    uint64_t  rank, seen, high;

    if (h->count == 0) {
        return 0;
    }

    if (q <= 0) {
        return h->min;
    }

    rank = (uint64_t) (q * (double) h->count + 0.999999);

    if (rank < 1) {
        rank = 1;
    }

    if (rank > h->count) {
        rank = h->count;
    }

    seen = 0;

    for (i = 0; i < HIST_BUCKETS; i++) {
        seen += h->bucket[i];

        if (seen >= rank) {
            high = hist_bucket_high(i);
            return high > h->max ? h->max : (high < h->min ? h->min : high);
        }
    }

    return h->max;
}


double
hist_mean(const hist_t *h)
{
    return h->count ? (double) h->sum / (double) h->count : 0.0;
}
