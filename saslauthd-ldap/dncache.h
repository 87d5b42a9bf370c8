/*
 * dncache - the optional cache of search results of portreeve-authd (off
 * by default): which DN the search for a login found, so that the next
 * verification of that login can bind at once and skip the search.
 *
 * Contract: a key is the whole search (scope, base and the expanded
 * filter), a value the one DN it found; an entry lives for ttl_ms. Only
 * what the search returned is cached; passwords never are, and every
 * password is still checked by the directory (a bind). A failed bind as a
 * cached DN is never the final answer: ldap_pool searches again first (see
 * ldap_pool.h). The trade-off, documented in portreeve-authd(8): an entry
 * that stops matching the filter, or moves out of the search base, but
 * keeps its DN and password, can still log in for up to ttl_ms.
 *
 * Limits: fixed size (entries), 4-way set-associative, no allocation after
 * dncache_new; keys of DNCACHE_KEY_MAX bytes or more and DNs of
 * DNCACHE_DN_MAX bytes or more are not cached. One mutex; safe across
 * threads. Times are passed in. Library-safe: no logging, no exit.
 */
#ifndef PORTREEVE_DNCACHE_H
#define PORTREEVE_DNCACHE_H

#include <stddef.h>
#include <stdint.h>

#define DNCACHE_KEY_MAX 384
#define DNCACHE_DN_MAX 256

struct dncache;

/* entries 1..1,000,000, ttl_ms >= 1; NULL on allocation failure. */
struct dncache *dncache_new(size_t entries, long long ttl_ms);
void dncache_free(struct dncache *c);
/* Copy the live DN for key into dn (1), or 0 if none (or it does not fit). */
int dncache_get(struct dncache *c, const char *key, char *dn, size_t dnlen, uint64_t now_ms);
void dncache_put(struct dncache *c, const char *key, const char *dn, uint64_t now_ms);
void dncache_forget(struct dncache *c, const char *key);

#endif
