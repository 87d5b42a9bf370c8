/*
 * quota_redis - the shared quota store: the limiter algorithm as one Lua
 * script in Redis, driven by async hiredis on the daemon's libevent loop.
 *
 * One round trip per decision: EVALSHA of a script loaded once per
 * connection (SCRIPT LOAD), with the NOSCRIPT -> EVAL fallback. Every key
 * carries the principal as a {hash tag} and a TTL. Each request has a
 * deadline (redis_timeout) from an event-loop timer: hiredis 0.14 has no
 * async timeouts. A request that misses it is answered "unavailable" at
 * once; three misses in a row with no reply in between drop the connection
 * (re-made with back-off), so a hung Redis never stalls the daemon. Sentinel: the master comes from
 * the first Sentinel that answers; a lost connection or a READONLY reply (the master was demoted)
 * makes us ask again.
 *
 * Contract: quota_redis_submit() either returns NULL at once (not connected:
 * the caller falls back) or calls the callback exactly once, later, from
 * the event loop, unless the caller cancels first. Only the quota_redis*.c
 * files include hiredis (quota_redis.c says which does what).
 */
#ifndef PORTREEVE_QUOTA_REDIS_H
#define PORTREEVE_QUOTA_REDIS_H

#include <stddef.h>
#include <stdint.h>

#include "limiter.h"
#include "store_conf.h"

struct event_base;
struct quota_redis;
struct quota_redis_req;

enum quota_redis_op_kind { QUOTA_REDIS_CHECK, QUOTA_REDIS_COMMIT, QUOTA_REDIS_RELEASE };

struct quota_redis_op {
    enum quota_redis_op_kind kind;
    const char *principal; /* normalized, at most QUOTA_REDIS_PRINCIPAL_MAX bytes */
    size_t principal_len;
    const struct limiter_limits *limits;
    uint64_t txid;        /* 0 = none; below QUOTA_REDIS_TXID_LIMIT */
    uint64_t release;     /* CHECK: a transaction to release first; 0 = none */
    const char *instance; /* COMMIT: Postfix instance; "" = do not deduplicate */
    struct limiter_cost cost;
    uint64_t want; /* CHECK: recipients to reserve if there is room (a grant) */
};

#define QUOTA_REDIS_PRINCIPAL_MAX 300
#define QUOTA_REDIS_KEY_MAX 512

/* ok: 0 with *res filled, -1 when Redis failed or missed the deadline. */
typedef void (*quota_redis_cb)(void *arg, int ok, const struct limiter_result *res);

struct quota_redis_stats {
    uint64_t requests, errors, timeouts, noscript, reconnects, connect_failures;
    int connected;
};

/* Settings are copied; the password file is read now. NULL with err set
 * on a bad setting (names the key). Connects in the background. */
struct quota_redis *quota_redis_new(struct event_base *base, const struct store_conf *sc, char *err,
                                    size_t errlen);
void quota_redis_free(struct quota_redis *qr);

struct quota_redis_req *quota_redis_submit(struct quota_redis *qr, const struct quota_redis_op *op,
                                           quota_redis_cb cb, void *arg);
/* The callback will not be called (the reply, if any, is dropped). */
void quota_redis_cancel(struct quota_redis_req *req);
const struct quota_redis_stats *quota_redis_stats(const struct quota_redis *qr);
int quota_redis_ready(const struct quota_redis *qr);

/* The script's arguments (policyd/quota.lua), exported for the tests:
 * ARGV[1], the request, and ARGV[2], the windows, in the script's
 * little-endian binary. Each returns its length (QUOTA_REDIS_REQ_ARG_LEN,
 * resp. QUOTA_REDIS_WINDOW_ARG_LEN per window), or 0 when dst is too small
 * or a txid is not below 2^53 (the script keeps numbers in doubles). */
#define QUOTA_REDIS_REQ_ARG_LEN 57
#define QUOTA_REDIS_WINDOW_ARG_LEN 25
#define QUOTA_REDIS_TXID_LIMIT (1ULL << 53)
size_t quota_redis_arg_request(char *dst, size_t dstlen, const struct quota_redis_op *op);
size_t quota_redis_arg_windows(char *dst, size_t dstlen, const struct limiter_limits *l);

/* Key construction (exported for the tests); return the length, or 0 when
 * the key does not fit in dstlen. */
size_t quota_redis_key_pending(char *dst, size_t dstlen, const char *prefix, const char *p,
                               size_t plen);
size_t quota_redis_key_series(char *dst, size_t dstlen, const char *prefix,
                              const struct limiter_window *w, unsigned buckets, const char *p,
                              size_t plen);
size_t quota_redis_key_done(char *dst, size_t dstlen, const char *prefix, const char *p,
                            size_t plen, const char *instance);
/* The Lua script's text: policyd/quota.lua, byte for byte (also for the
 * tests). */
extern const char quota_redis_script[];

#endif
