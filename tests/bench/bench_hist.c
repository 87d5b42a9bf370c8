/* bench_hist.c - log-linear latency histogram for the benchmark tools.
 *
 * Public: bench_hist_reset(), bench_hist_record(), bench_hist_quantile(),
 * bench_hist_mean().
 *
 * Like HdrHistogram with 2 significant decimal digits: values below 128 ns
 * get one bucket each; above, each power of two [2^k, 2^(k+1)) is cut into
 * 64 equal buckets, so a quantile is reported with under 1.6 % error at
 * fixed memory (~18 KiB) whatever the number of samples. That is why p999
 * over millions of requests costs nothing to keep. Values at or above 2^40 ns
 * (18 minutes) are clamped into the last bucket.
 */
#include "bench_hist.h"

#include <string.h>

/* Bucket index of NS. */
static size_t bucket_of(uint64_t ns)
{
    if (ns < 2 * BENCH_HIST_SUB)
        return (size_t)ns;
    unsigned msb = 63u - (unsigned)__builtin_clzll(ns);
    unsigned shift = msb - 6u; /* keeps 7 significant bits: 64..127 */
    size_t idx = (size_t)shift * BENCH_HIST_SUB + (size_t)(ns >> shift);
    return idx < BENCH_HIST_BUCKETS ? idx : BENCH_HIST_BUCKETS - 1;
}

/* Smallest value that falls into bucket IDX + 1 (the bucket's upper edge). */
static uint64_t bucket_upper(size_t idx)
{
    size_t next = idx + 1;
    if (next < 2 * BENCH_HIST_SUB)
        return (uint64_t)next;
    uint64_t shift = next / BENCH_HIST_SUB - 1;
    uint64_t mant = next % BENCH_HIST_SUB + BENCH_HIST_SUB;
    return mant << shift;
}

void bench_hist_reset(struct bench_hist *h)
{
    memset(h, 0, sizeof(*h));
    h->min_ns = UINT64_MAX;
}

void bench_hist_record(struct bench_hist *h, uint64_t ns)
{
    h->counts[bucket_of(ns)]++;
    h->total++;
    h->sum_ns += (long double)ns;
    if (ns < h->min_ns)
        h->min_ns = ns;
    if (ns > h->max_ns)
        h->max_ns = ns;
}

uint64_t bench_hist_quantile(const struct bench_hist *h, double q)
{
    if (h->total == 0)
        return 0;
    if (q <= 0.0)
        return h->min_ns;
    /* rank = ceil(q * total), at least 1 */
    long double want = (long double)q * (long double)h->total;
    uint64_t rank = (uint64_t)want;
    if ((long double)rank < want)
        rank++;
    if (rank == 0)
        rank = 1;
    if (rank > h->total)
        rank = h->total;
    uint64_t seen = 0;
    for (size_t i = 0; i < BENCH_HIST_BUCKETS; i++) {
        seen += h->counts[i];
        if (seen >= rank) {
            uint64_t v = bucket_upper(i);
            return v > h->max_ns ? h->max_ns : v;
        }
    }
    return h->max_ns;
}

double bench_hist_mean(const struct bench_hist *h)
{
    return h->total == 0 ? 0.0 : (double)(h->sum_ns / (long double)h->total);
}
