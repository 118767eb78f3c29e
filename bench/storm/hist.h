/*
 * Latency histograms with logarithmic buckets, in the spirit of HDR
 * histograms: values below 16 are exact, above that each power of two is
 * cut into 16 sub-buckets, so any recorded value is known to within 1/16
 * (about 6%).  The whole table is a fixed array: recording is an index
 * computation and an increment, and histograms add up bucket by bucket.
 */

#ifndef STORM_HIST_H
#define STORM_HIST_H

#include <stddef.h>
#include <stdint.h>

#define HIST_SUB_BITS   4
#define HIST_SUB        (1u << HIST_SUB_BITS)
#define HIST_MAX_EXP    40              /* up to 2^40 us: 12 days */
#define HIST_BUCKETS    (HIST_SUB + (HIST_MAX_EXP - HIST_SUB_BITS) * HIST_SUB)


typedef struct {
    uint64_t  count;
    uint64_t  sum;
    uint64_t  min;
    uint64_t  max;
    uint32_t  bucket[HIST_BUCKETS];
} hist_t;


void hist_init(hist_t *h);
size_t hist_index(uint64_t value);
/* The smallest and the largest value a bucket holds. */
uint64_t hist_bucket_low(size_t index);
uint64_t hist_bucket_high(size_t index);
void hist_record(hist_t *h, uint64_t value);
void hist_add(hist_t *into, const hist_t *from);
/*
 * The value at quantile q (0..1): the upper bound of the bucket holding
 * the ceil(q * count)-th smallest value, clamped to the exact maximum.
 * 0 for an empty histogram.
 */
uint64_t hist_quantile(const hist_t *h, double q);
double hist_mean(const hist_t *h);

#endif /* STORM_HIST_H */
