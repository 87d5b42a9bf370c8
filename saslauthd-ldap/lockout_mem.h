/*
 * lockout_mem - the embedded counter store for lockout: used when no Redis
 * is configured and as the fallback while Redis is down.
 *
 * A fixed-capacity hash table (open addressing) of key -> (count, expiry),
 * safe to share between threads (one mutex). When it is full, expired
 * entries are purged; if none expired, the entry closest to expiry among a
 * small sample is evicted, so memory stays bounded whatever an attacker
 * sends. Times are passed in by the caller (tests use a fake clock).
 */
#ifndef PORTREEVE_LOCKOUT_MEM_H
#define PORTREEVE_LOCKOUT_MEM_H

#include <stddef.h>

#include "lockout.h"

struct lockout_mem;

/* Capacity in entries (1..10,000,000); NULL on allocation failure. */
struct lockout_mem *lockout_mem_new(size_t capacity);
void lockout_mem_free(struct lockout_mem *m);
size_t lockout_mem_count(struct lockout_mem *m);
/* A store handle for lockout_check and friends. */
struct lockout_store lockout_mem_store(struct lockout_mem *m);

#endif
