/*
 * authd_redis - the Redis lockout store of portreeve-authd (the only file
 * that includes hiredis).
 *
 * One handle per thread (hiredis contexts are not thread-safe), each with
 * its own synchronous connection and redisSetTimeout() on every request, so
 * a slow or dead Redis costs at most redis_timeout per call. After a
 * failure the handle stays down for a second before it reconnects, so an
 * outage does not cost a connect timeout on every login; the caller then
 * uses the embedded store. Failure counting is one atomic Lua script
 * (EVALSHA, falling back to EVAL after NOSCRIPT); reads are one MGET.
 * With redis_sentinels set, each connect asks the Sentinels in order and
 * takes the first server named that answers ROLE as a master (a Sentinel
 * with stale information may name a replica).
 */
#ifndef PORTREEVE_AUTHD_REDIS_H
#define PORTREEVE_AUTHD_REDIS_H

#include "lockout.h"
#include "store_conf.h"

struct authd_redis;

/* Copies what it needs from sc; password may be NULL. Never connects here. */
struct authd_redis *authd_redis_new(const struct store_conf *sc, const char *password);
void authd_redis_free(struct authd_redis *r);
struct lockout_store authd_redis_store(struct authd_redis *r);
/* 1 if the last request succeeded. */
int authd_redis_up(const struct authd_redis *r);

#endif
