/*
 * lockmirror - a short-lived local copy of the lockout counters that live
 * in Redis, so that most lock checks cost no Redis round trip and can be
 * made on the event loop (see "Lock state mirror" in portreeve-authd(8)).
 *
 * What it holds: for each counter key, the value last seen in the store
 * and when it was seen. An entry is fresh for ttl_ms; a stale or missing
 * entry means "unknown": the caller must ask the store. Freshness is what
 * bounds the trade-off: a lock that another host sets in Redis is seen
 * here at most ttl_ms late. Locks that this process sets are seen at once,
 * because every counter write goes through lockmirror_front (below), which
 * copies the store's answer into the mirror.
 *
 * Concurrency rule: a value read from the store (a check) fills only an
 * entry that is missing or stale; a value returned by a write (a failure
 * counted, a success recorded) always replaces the entry. So a slow read
 * that started before another thread counted a failure can never hide the
 * lock that failure set. When a write to the store fails, its keys are
 * dropped from the mirror, so the embedded fallback store decides.
 *
 * Limits: fixed size, 4-way set-associative, no allocation after
 * lockmirror_new; keys longer than LOCKMIRROR_KEY_MAX - 1 bytes are never
 * mirrored (their checks always go to the store). One mutex; safe across
 * threads. Times are passed in (tests drive a fake clock). Library-safe:
 * no logging, no exit.
 */
#ifndef PORTREEVE_LOCKMIRROR_H
#define PORTREEVE_LOCKMIRROR_H

#include <stddef.h>
#include <stdint.h>

#include "lockout.h"

#define LOCKMIRROR_KEY_MAX 128

struct lockmirror;

/* entries 16..1,000,000, ttl_ms >= 1; NULL on allocation failure. */
struct lockmirror *lockmirror_new(size_t entries, long long ttl_ms);
void lockmirror_free(struct lockmirror *m);

/* 0 with counts filled if all n keys are fresh, else -1 (counts untouched). */
int lockmirror_get(struct lockmirror *m, const char *const *keys, size_t n, long long *counts,
                   uint64_t now_ms);
/* Record values: from a store read (write = 0) or a store write (write = 1). */
void lockmirror_put(struct lockmirror *m, const char *const *keys, size_t n,
                    const long long *counts, uint64_t now_ms, int write);
/* Drop keys (their values are no longer known). */
void lockmirror_forget(struct lockmirror *m, const char *const *keys, size_t n);

/*
 * A store that answers reads from the mirror only: get fails unless every
 * key is fresh, fail and success always fail. For the event loop, which
 * must not block: a failure there means "let a worker ask the real store".
 */
struct lockout_store lockmirror_store(struct lockmirror *m);

/*
 * A store in front of another (Redis, one per worker thread): reads are
 * answered from the mirror when fresh, else from the inner store, whose
 * answer fills the mirror; writes go to the inner store and their results
 * replace the mirror's entries. The struct belongs to the caller and must
 * outlive the store handle.
 */
struct lockmirror_front {
    struct lockmirror *mirror;
    struct lockout_store inner;
};
struct lockout_store lockmirror_front_store(struct lockmirror_front *f);

#endif
