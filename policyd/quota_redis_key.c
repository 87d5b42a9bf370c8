/*
 * quota_redis_key.c - the names of the Redis quota store's keys.
 *
 * Public: quota_redis_key_pending, quota_redis_key_series,
 * quota_redis_key_done (quota_redis.h; the tests call them too).
 *
 * Keys (prefix = redis_key_prefix, P = principal; P's bytes go into the key
 * as they are, hiredis sends them length-delimited):
 *   <prefix>:v3:q:p:{P}                        string: per series its total,
 *                                              oldest/newest bucket and the
 *                                              newest count; reservations
 *                                              (txid, expires, messages,
 *                                              recipients), in struct's
 *                                              binary; expires with the last
 *                                              series or reservation in it
 *   <prefix>:v3:q:w:<m|r>:<len_ms>:<g_ms>:{P}  hash: closed buckets,
 *                                              bucket -> "count:next"; TTL
 *                                              until the newest of them
 *                                              leaves the window
 *   <prefix>:v3:q:d:{P}:<instance>             "1", TTL instance_ttl
 * (v2 kept the principal as a hash of printed numbers; v1, before 2026-11,
 * kept bucket -> count only and read whole hashes on every call; the
 * layouts differ, so the version is part of the key.)
 * All of one principal's keys share the hash tag, so one script call is legal
 * in Redis Cluster. What the script keeps in them: policyd/quota.lua.
 *
 * Contract: P is at most QUOTA_REDIS_PRINCIPAL_MAX bytes, any bytes; a
 * Postfix instance that is not short hex and dots is hashed. Each function
 * writes a NUL-terminated key into dst and returns its length, or 0 when
 * it does not fit in dstlen (nothing else fails). No allocation, no I/O.
 */
#include "quota_redis_priv.h"

#include <string.h>

/* "<prefix>:v3:q:<head>{P}<tail>"; the length, or 0 when it does not fit. */
static size_t qr_key(char *dst, size_t dstlen, const char *prefix, const char *head, size_t headlen,
                     const char *p, size_t plen, const char *tail, size_t taillen)
{
    size_t n = 0;

    if (plen > QUOTA_REDIS_PRINCIPAL_MAX || dstlen == 0 ||
        qr_put(dst, dstlen, &n, prefix, strlen(prefix)) || qr_put(dst, dstlen, &n, ":v3:q:", 6) ||
        qr_put(dst, dstlen, &n, head, headlen) || qr_put(dst, dstlen, &n, "{", 1) ||
        qr_put(dst, dstlen, &n, p, plen) || qr_put(dst, dstlen, &n, "}", 1) ||
        qr_put(dst, dstlen, &n, tail, taillen))
        return 0;
    dst[n] = '\0';
    return n;
}

size_t quota_redis_key_pending(char *dst, size_t dstlen, const char *prefix, const char *p,
                               size_t plen)
{
    return qr_key(dst, dstlen, prefix, "p:", 2, p, plen, "", 0);
}

size_t quota_redis_key_series(char *dst, size_t dstlen, const char *prefix,
                              const struct limiter_window *w, unsigned buckets, const char *p,
                              size_t plen)
{
    char head[64];
    size_t n = 0;

    head[n++] = 'w';
    head[n++] = ':';
    head[n++] = w->kind == LIMITER_MESSAGES ? 'm' : 'r';
    head[n++] = ':';
    n += qr_u64(head + n, w->len_ms);
    head[n++] = ':';
    n += qr_u64(head + n, limiter_bucket_ms(w->len_ms, buckets));
    head[n++] = ':';
    return qr_key(dst, dstlen, prefix, head, n, p, plen, "", 0);
}

size_t quota_redis_key_done(char *dst, size_t dstlen, const char *prefix, const char *p,
                            size_t plen, const char *instance)
{
    char tail[80];
    size_t ilen = strlen(instance), n = 0;

    tail[n++] = ':';
    /* Postfix instances are short hex and dots; anything else is hashed. */
    if (ilen <= 64 && strspn(instance, "0123456789abcdefABCDEF.") == ilen) {
        memcpy(tail + n, instance, ilen);
        n += ilen;
    } else {
        static const char hex[] = "0123456789abcdef";
        uint64_t h = limiter_hash(instance, ilen);
        tail[n++] = 'h';
        for (int i = 60; i >= 0; i -= 4)
            tail[n++] = hex[(h >> i) & 15];
    }
    return qr_key(dst, dstlen, prefix, "d:", 2, p, plen, tail, n);
}
