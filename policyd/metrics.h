/*
 * metrics - Prometheus text exposition of portreeve-policyd's counters on a
 * loopback HTTP port (libevent's evhttp), GET /metrics.
 *
 * Metric names are documented in portreeve.conf(5), QUOTAS. Decisions are
 * counted by role and by the first word of the action (a fixed label set,
 * so label cardinality is bounded whatever the configuration says).
 */
#ifndef PORTREEVE_METRICS_H
#define PORTREEVE_METRICS_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct server_stats;
struct decision;

/* Listen on "127.0.0.1:PORT" or "[::1]:PORT". 0, or -1 with err set. */
int metrics_start(struct event_base *base, const char *listen, const struct server_stats *st,
                  char *err, size_t errlen);
void metrics_stop(void);
/* Count one final decision and its latency. */
void metrics_observe(const struct decision *d, uint64_t elapsed_us);
/* The exposition text (for tests); caller frees. NULL on OOM. */
char *metrics_render(size_t *len);

#endif
