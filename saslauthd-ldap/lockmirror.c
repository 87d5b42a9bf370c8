/*
 * lockmirror.c - local mirror of lockout counters (see lockmirror.h for
 * the contract, the freshness bound and the concurrency rule).
 *
 * Public: lockmirror_new, lockmirror_free, lockmirror_get, lockmirror_put,
 * lockmirror_forget, lockmirror_store, lockmirror_front_store. Keys are
 * built by lockout_keys_make (bounded, untrusted user names inside); the
 * set index is a seeded FNV-1a hash, and the full key is compared, so a
 * collision costs a miss (a store read), never a wrong answer.
 */
#include "lockmirror.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util.h"

#define LOCKMIRROR_WAYS 4

struct lockmirror_entry {
    char key[LOCKMIRROR_KEY_MAX];
    size_t klen;
    long long count;
    uint64_t seen_ms;
    int used;
};

struct lockmirror {
    pthread_mutex_t lock;
    struct lockmirror_entry *e;
    size_t nsets;
    uint64_t ttl_ms, seed;
};

struct lockmirror *lockmirror_new(size_t entries, long long ttl_ms)
{
    struct lockmirror *m;

    if (entries < 16 || entries > 1000000 || ttl_ms < 1)
        return NULL;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->nsets = (entries + LOCKMIRROR_WAYS - 1) / LOCKMIRROR_WAYS;
    m->e = calloc(m->nsets * LOCKMIRROR_WAYS, sizeof(*m->e));
    if (m->e == NULL) {
        free(m);
        return NULL;
    }
    m->ttl_ms = (uint64_t)ttl_ms;
    if (getrandom(&m->seed, sizeof(m->seed), 0) != (ssize_t)sizeof(m->seed))
        m->seed = util_now_us();
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void lockmirror_free(struct lockmirror *m)
{
    if (m == NULL)
        return;
    free(m->e);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

/* First entry of the set a key maps to. */
static struct lockmirror_entry *lockmirror_set(const struct lockmirror *m, const char *k,
                                               size_t klen)
{
    uint64_t h = 1469598103934665603ull ^ m->seed;

    for (size_t i = 0; i < klen; i++) {
        h ^= (unsigned char)k[i];
        h *= 1099511628211ull;
    }
    return &m->e[(h % m->nsets) * LOCKMIRROR_WAYS];
}

/* The entry holding key, or NULL. */
static struct lockmirror_entry *lockmirror_find(const struct lockmirror *m, const char *k,
                                                size_t klen)
{
    struct lockmirror_entry *set = lockmirror_set(m, k, klen);

    for (int w = 0; w < LOCKMIRROR_WAYS; w++)
        if (set[w].used && set[w].klen == klen && memcmp(set[w].key, k, klen) == 0)
            return &set[w];
    return NULL;
}

static int lockmirror_fresh(const struct lockmirror *m, const struct lockmirror_entry *e,
                            uint64_t now_ms)
{
    return e->used && now_ms < e->seen_ms + m->ttl_ms && now_ms + m->ttl_ms >= e->seen_ms;
}

int lockmirror_get(struct lockmirror *m, const char *const *keys, size_t n, long long *counts,
                   uint64_t now_ms)
{
    long long got[LOCKOUT_NSCOPES + 1];
    int rc = 0;

    if (n > LOCKOUT_NSCOPES + 1)
        return -1;
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n && rc == 0; i++) {
        size_t klen = strlen(keys[i]);
        const struct lockmirror_entry *e =
            klen < LOCKMIRROR_KEY_MAX ? lockmirror_find(m, keys[i], klen) : NULL;
        if (e && lockmirror_fresh(m, e, now_ms))
            got[i] = e->count;
        else
            rc = -1;
    }
    pthread_mutex_unlock(&m->lock);
    if (rc == 0)
        memcpy(counts, got, n * sizeof(*counts));
    return rc;
}

/* The way of a set to (re)use for a new key: empty or stale, else the oldest. */
static struct lockmirror_entry *lockmirror_victim(const struct lockmirror *m,
                                                  struct lockmirror_entry *set, uint64_t now_ms)
{
    struct lockmirror_entry *v = &set[0];

    for (int w = 0; w < LOCKMIRROR_WAYS; w++) {
        if (!lockmirror_fresh(m, &set[w], now_ms))
            return &set[w];
        if (set[w].seen_ms < v->seen_ms)
            v = &set[w];
    }
    return v;
}

/* Store one value under the concurrency rule of lockmirror.h. */
static void lockmirror_put_one(struct lockmirror *m, const char *k, long long count,
                               uint64_t now_ms, int write)
{
    size_t klen = strlen(k);
    struct lockmirror_entry *e;

    if (klen >= LOCKMIRROR_KEY_MAX)
        return;
    e = lockmirror_find(m, k, klen);
    if (e && !write && lockmirror_fresh(m, e, now_ms))
        return; /* a read never overrides a fresh value */
    if (e == NULL) {
        struct lockmirror_entry *v = lockmirror_victim(m, lockmirror_set(m, k, klen), now_ms);
        memcpy(v->key, k, klen);
        v->klen = klen;
        v->used = 1;
        e = v;
    }
    e->count = count;
    e->seen_ms = now_ms;
}

void lockmirror_put(struct lockmirror *m, const char *const *keys, size_t n,
                    const long long *counts, uint64_t now_ms, int write)
{
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++)
        lockmirror_put_one(m, keys[i], counts[i], now_ms, write);
    pthread_mutex_unlock(&m->lock);
}

void lockmirror_forget(struct lockmirror *m, const char *const *keys, size_t n)
{
    pthread_mutex_lock(&m->lock);
    for (size_t i = 0; i < n; i++) {
        size_t klen = strlen(keys[i]);
        struct lockmirror_entry *e =
            klen < LOCKMIRROR_KEY_MAX ? lockmirror_find(m, keys[i], klen) : NULL;
        if (e)
            e->used = 0;
    }
    pthread_mutex_unlock(&m->lock);
}

/* --- the mirror-only store (event loop) ---------------------------------- */

static int lockmirror_only_get(void *ctx, const char *const *keys, size_t n, long long *counts,
                               uint64_t now_ms)
{
    return lockmirror_get(ctx, keys, n, counts, now_ms);
}

static int lockmirror_only_fail(void *ctx, const char *const *keys,
                                const struct lockout_rule *rules, size_t n, long long *counts,
                                uint64_t now_ms)
{
    (void)ctx, (void)keys, (void)rules, (void)n, (void)counts, (void)now_ms;
    return -1;
}

static int lockmirror_only_success(void *ctx, const char *del_key, const char *set_key,
                                   long long ttl_ms, uint64_t now_ms)
{
    (void)ctx, (void)del_key, (void)set_key, (void)ttl_ms, (void)now_ms;
    return -1;
}

static const struct lockout_store_ops lockmirror_only_ops = {
    .get = lockmirror_only_get,
    .fail = lockmirror_only_fail,
    .success = lockmirror_only_success,
};

struct lockout_store lockmirror_store(struct lockmirror *m)
{
    struct lockout_store s = {&lockmirror_only_ops, m};
    return s;
}

/* --- the mirror in front of a real store (workers) ----------------------- */

static int lockmirror_front_get(void *ctx, const char *const *keys, size_t n, long long *counts,
                                uint64_t now_ms)
{
    struct lockmirror_front *f = ctx;

    if (lockmirror_get(f->mirror, keys, n, counts, now_ms) == 0)
        return 0;
    if (f->inner.ops->get(f->inner.ctx, keys, n, counts, now_ms) < 0)
        return -1;
    lockmirror_put(f->mirror, keys, n, counts, now_ms, 0);
    return 0;
}

static int lockmirror_front_fail(void *ctx, const char *const *keys,
                                 const struct lockout_rule *rules, size_t n, long long *counts,
                                 uint64_t now_ms)
{
    struct lockmirror_front *f = ctx;

    if (f->inner.ops->fail(f->inner.ctx, keys, rules, n, counts, now_ms) < 0) {
        lockmirror_forget(f->mirror, keys, n);
        return -1;
    }
    lockmirror_put(f->mirror, keys, n, counts, now_ms, 1);
    return 0;
}

static int lockmirror_front_success(void *ctx, const char *del_key, const char *set_key,
                                    long long ttl_ms, uint64_t now_ms)
{
    struct lockmirror_front *f = ctx;
    const char *keys[2] = {del_key, set_key};
    const long long counts[2] = {0, 1};
    size_t n = set_key ? 2 : 1;

    if (f->inner.ops->success(f->inner.ctx, del_key, set_key, ttl_ms, now_ms) < 0) {
        lockmirror_forget(f->mirror, keys, n);
        return -1;
    }
    lockmirror_put(f->mirror, keys, n, counts, now_ms, 1);
    return 0;
}

static const struct lockout_store_ops lockmirror_front_ops = {
    .get = lockmirror_front_get,
    .fail = lockmirror_front_fail,
    .success = lockmirror_front_success,
};

struct lockout_store lockmirror_front_store(struct lockmirror_front *f)
{
    struct lockout_store s = {&lockmirror_front_ops, f};
    return s;
}
