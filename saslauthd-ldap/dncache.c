/*
 * dncache.c - search-result (login -> DN) cache (see dncache.h for the
 * contract and the trade-off).
 *
 * Public: dncache_new, dncache_free, dncache_get, dncache_put,
 * dncache_forget. Keys hold untrusted login names (escaped into the
 * filter); the set index is a seeded FNV-1a hash and the full key is
 * compared, so a collision costs a miss, never a wrong DN.
 */
#include "dncache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util.h"

#define DNCACHE_WAYS 4

struct dncache_entry {
    char key[DNCACHE_KEY_MAX];
    char dn[DNCACHE_DN_MAX];
    uint64_t expire_ms; /* 0: empty */
};

struct dncache {
    pthread_mutex_t lock;
    struct dncache_entry *e;
    size_t nsets;
    uint64_t ttl_ms, seed;
};

struct dncache *dncache_new(size_t entries, long long ttl_ms)
{
    struct dncache *c;

    if (entries < 1 || entries > 1000000 || ttl_ms < 1)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->nsets = (entries + DNCACHE_WAYS - 1) / DNCACHE_WAYS;
    c->e = calloc(c->nsets * DNCACHE_WAYS, sizeof(*c->e));
    if (c->e == NULL) {
        free(c);
        return NULL;
    }
    c->ttl_ms = (uint64_t)ttl_ms;
    if (getrandom(&c->seed, sizeof(c->seed), 0) != (ssize_t)sizeof(c->seed))
        c->seed = util_now_us();
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void dncache_free(struct dncache *c)
{
    if (c == NULL)
        return;
    free(c->e);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* First entry of the set a key maps to. */
static struct dncache_entry *dncache_set(const struct dncache *c, const char *key)
{
    uint64_t h = 1469598103934665603ull ^ c->seed;

    for (const char *k = key; *k; k++) {
        h ^= (unsigned char)*k;
        h *= 1099511628211ull;
    }
    return &c->e[(h % c->nsets) * DNCACHE_WAYS];
}

/* The live entry of key, or NULL. */
static struct dncache_entry *dncache_find(const struct dncache *c, const char *key, uint64_t now_ms)
{
    struct dncache_entry *set = dncache_set(c, key);

    for (int w = 0; w < DNCACHE_WAYS; w++)
        if (set[w].expire_ms > now_ms && strcmp(set[w].key, key) == 0)
            return &set[w];
    return NULL;
}

int dncache_get(struct dncache *c, const char *key, char *dn, size_t dnlen, uint64_t now_ms)
{
    const struct dncache_entry *e;
    int hit = 0;

    pthread_mutex_lock(&c->lock);
    e = dncache_find(c, key, now_ms);
    if (e && strlen(e->dn) < dnlen) {
        memcpy(dn, e->dn, strlen(e->dn) + 1);
        hit = 1;
    }
    pthread_mutex_unlock(&c->lock);
    return hit;
}

void dncache_put(struct dncache *c, const char *key, const char *dn, uint64_t now_ms)
{
    size_t klen = strlen(key), dlen = strlen(dn);
    struct dncache_entry *set, *v;

    if (klen >= DNCACHE_KEY_MAX || dlen >= DNCACHE_DN_MAX)
        return;
    pthread_mutex_lock(&c->lock);
    v = dncache_find(c, key, now_ms);
    if (v == NULL) {
        set = dncache_set(c, key);
        v = &set[0];
        for (int w = 1; w < DNCACHE_WAYS; w++)
            if (set[w].expire_ms < v->expire_ms)
                v = &set[w]; /* an empty or expired way, else the oldest */
        memcpy(v->key, key, klen + 1);
    }
    memcpy(v->dn, dn, dlen + 1);
    v->expire_ms = now_ms + c->ttl_ms;
    pthread_mutex_unlock(&c->lock);
}

void dncache_forget(struct dncache *c, const char *key)
{
    struct dncache_entry *set;

    pthread_mutex_lock(&c->lock);
    set = dncache_set(c, key);
    for (int w = 0; w < DNCACHE_WAYS; w++)
        if (set[w].expire_ms && strcmp(set[w].key, key) == 0)
            set[w].expire_ms = 0;
    pthread_mutex_unlock(&c->lock);
}
