/* bench_hist.h - log-linear latency histogram (HDR-like) for the benchmark
 * tools. See bench_hist.c for the contract. */
#ifndef PORTREEVE_BENCH_HIST_H
#define PORTREEVE_BENCH_HIST_H

#include <stddef.h>
#include <stdint.h>

/* 64 sub-buckets per power of two: every recorded value lands in a bucket
 * whose width is under 1/64 (1.6 %) of the value; values up to 2^40 ns. */
#define BENCH_HIST_SUB 64u
#define BENCH_HIST_BUCKETS (BENCH_HIST_SUB * 36u)

struct bench_hist {
    uint64_t counts[BENCH_HIST_BUCKETS];
    uint64_t total;
    uint64_t min_ns;
    uint64_t max_ns;
    long double sum_ns;
};

void bench_hist_reset(struct bench_hist *h);
void bench_hist_record(struct bench_hist *h, uint64_t ns);
/* Value (ns) at quantile Q in [0,1]: the upper edge of the bucket that holds
 * the ceil(Q*total)-th smallest sample, clamped to the recorded maximum;
 * 0 when empty. */
uint64_t bench_hist_quantile(const struct bench_hist *h, double q);
double bench_hist_mean(const struct bench_hist *h);

#endif
