/*
 * quota_redis_priv.h - what the files of the Redis quota store share; not
 * for callers (they use quota_redis.h).
 *
 * The store is one module in four files: quota_redis.c (settings, the
 * connection's life cycle, Sentinel), quota_redis_req.c (one script call:
 * arguments, RESP, reply, deadline), quota_redis_key.c (key names) and
 * quota_redis_ev.c (the hiredis <-> libevent adapter); quota_redis_script.c
 * holds the script's text. Only these files include hiredis; this header
 * does not, so that quota_redis_key.c need not.
 */
#ifndef PORTREEVE_QUOTA_REDIS_PRIV_H
#define PORTREEVE_QUOTA_REDIS_PRIV_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/time.h>

#include "quota_redis.h"

struct event;
struct redisAsyncContext;

#define QR_MAX_SENTINELS 8
#define QR_HOST_MAX 256

struct qr_endpoint {
    char host[QR_HOST_MAX]; /* or the unix socket path */
    int port;               /* 0 = unix socket */
};

struct quota_redis {
    struct event_base *base;
    char *prefix, *username, *password, *master_name;
    long long database;
    struct timeval timeout, connect_timeout;
    struct qr_endpoint server;
    struct qr_endpoint sentinels[QR_MAX_SENTINELS];
    size_t nsentinels, next_sentinel;

    struct redisAsyncContext *ac;  /* the data connection */
    struct redisAsyncContext *sac; /* a Sentinel being asked */
    int ready;
    char sha[41];
    struct event *retry_timer, *setup_timer;
    long backoff_ms;
    int outage_logged;
    unsigned silent_deadlines; /* deadlines missed with no reply since */
    struct quota_redis_stats st;
    struct quota_redis_req *free_reqs; /* for reuse, with their timers */
    size_t nfree;
};

/* quota_redis.c: drop the data connection (pending requests fail at once)
 * and retry later. */
void quota_redis_drop(struct quota_redis *qr, const char *why);

/* quota_redis_req.c: free the pooled requests (at quota_redis_free). */
void quota_redis_req_pool_free(struct quota_redis *qr);

/* quota_redis_ev.c: attach ac to base with the store's own event hooks;
 * -1 when out of memory. */
int quota_redis_ev_attach(struct redisAsyncContext *ac, struct event_base *base);

/* Append len bytes to dst[*pos]; 0, or -1 when they do not fit (with room
 * for the NUL that the caller adds). */
static inline int qr_put(char *dst, size_t dstlen, size_t *pos, const char *src, size_t len)
{
    if (len >= dstlen - *pos)
        return -1;
    memcpy(dst + *pos, src, len);
    *pos += len;
    return 0;
}

/* Decimal digits of v into buf (at least 21 bytes), not NUL-terminated;
 * returns their count. snprintf is slow on this path (10+ per request). */
static inline size_t qr_u64(char *buf, uint64_t v)
{
    char tmp[24];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

/* v in decimal appended to dst[*pos], as qr_put. */
static inline int qr_put_u64(char *dst, size_t dstlen, size_t *pos, uint64_t v)
{
    char d[24];

    return qr_put(dst, dstlen, pos, d, qr_u64(d, v));
}

#endif
