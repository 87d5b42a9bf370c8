/*
 * store_mem - the embedded quota store: limiter states per principal in
 * process memory, for one host (no Redis) or as the fallback while Redis is
 * unavailable.
 *
 * Bounded: at most max_principals states. A state that holds nothing that
 * matters any more (limiter_state_idle) is freed by store_mem_expire(),
 * which the daemon calls from a timer with a work bound. When the table is
 * full, a new principal takes the slot of the least recently used one, whose
 * counts are forgotten: an address-spraying client can make the store
 * forget (counted in store_mem_evictions, logged by the caller), never grow
 * it. Principals are opaque byte strings (at most STORE_MEM_KEY_MAX bytes).
 * Library-safe; single-threaded.
 */
#ifndef PORTREEVE_STORE_MEM_H
#define PORTREEVE_STORE_MEM_H

#include <stddef.h>
#include <stdint.h>

#include "limiter.h"

#define STORE_MEM_KEY_MAX 512

struct store_mem;

struct store_mem *store_mem_new(size_t max_principals);
void store_mem_free(struct store_mem *m);

/* limiter_check/commit/release on the principal's state (created on
 * demand). Return 0, or -1 on allocation failure or an over-long key. */
int store_mem_check(struct store_mem *m, const char *principal, size_t len,
                    const struct limiter_limits *l, uint64_t now_ms, uint64_t txid,
                    uint64_t release, const struct limiter_cost *cost, struct limiter_result *res);
int store_mem_commit(struct store_mem *m, const char *principal, size_t len,
                     const struct limiter_limits *l, uint64_t now_ms, uint64_t txid,
                     uint64_t instance_id, const struct limiter_cost *cost,
                     struct limiter_result *res);
void store_mem_release(struct store_mem *m, const char *principal, size_t len, uint64_t txid);

/* Free up to max_work idle states, oldest use first; returns how many. */
size_t store_mem_expire(struct store_mem *m, uint64_t now_ms, size_t max_work);
size_t store_mem_count(const struct store_mem *m);
uint64_t store_mem_evictions(const struct store_mem *m);

#endif
