/*
 * lockout_mem.c - embedded lockout counter store (see lockout_mem.h).
 *
 * Public: lockout_mem_new, lockout_mem_free, lockout_mem_count,
 * lockout_mem_store. Linear probing over 2 * capacity slots with
 * backward-shift deletion (no tombstones). Keys are copied; the hash is
 * FNV-1a with a per-table random seed so that an attacker cannot aim keys
 * at one probe chain.
 */
#include "lockout_mem.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util.h"

struct lockout_mem_slot {
    char *key; /* NULL: empty */
    uint64_t hash;
    long long count;
    uint64_t expire_ms;
};

struct lockout_mem {
    pthread_mutex_t lock;
    struct lockout_mem_slot *slot;
    size_t nslots; /* power of two */
    size_t capacity, count;
    uint64_t seed;
};

/* Seeded FNV-1a. */
static uint64_t lockout_mem_hash(const struct lockout_mem *m, const char *k)
{
    uint64_t h = 1469598103934665603ull ^ m->seed;

    for (; *k; k++) {
        h ^= (unsigned char)*k;
        h *= 1099511628211ull;
    }
    return h;
}

struct lockout_mem *lockout_mem_new(size_t capacity)
{
    struct lockout_mem *m;
    size_t n = 16;

    if (capacity < 1 || capacity > 10000000)
        return NULL;
    while (n < capacity * 2)
        n *= 2;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->slot = calloc(n, sizeof(*m->slot));
    if (m->slot == NULL) {
        free(m);
        return NULL;
    }
    m->nslots = n;
    m->capacity = capacity;
    if (getrandom(&m->seed, sizeof(m->seed), 0) != sizeof(m->seed))
        m->seed = (uint64_t)util_now_us();
    pthread_mutex_init(&m->lock, NULL);
    return m;
}

void lockout_mem_free(struct lockout_mem *m)
{
    if (m == NULL)
        return;
    for (size_t i = 0; i < m->nslots; i++)
        free(m->slot[i].key);
    free(m->slot);
    pthread_mutex_destroy(&m->lock);
    free(m);
}

size_t lockout_mem_count(struct lockout_mem *m)
{
    size_t n;

    pthread_mutex_lock(&m->lock);
    n = m->count;
    pthread_mutex_unlock(&m->lock);
    return n;
}

/* Find the slot of a key, or the empty slot where it would go. */
static size_t lockout_mem_find(const struct lockout_mem *m, const char *key, uint64_t h)
{
    size_t i = (size_t)h & (m->nslots - 1);

    while (m->slot[i].key && (m->slot[i].hash != h || strcmp(m->slot[i].key, key) != 0))
        i = (i + 1) & (m->nslots - 1);
    return i;
}

/* Remove slot i, shifting later members of its chain back. */
static void lockout_mem_remove(struct lockout_mem *m, size_t i)
{
    size_t mask = m->nslots - 1, j = i;

    free(m->slot[i].key);
    m->slot[i].key = NULL;
    m->count--;
    for (;;) {
        size_t home;
        j = (j + 1) & mask;
        if (m->slot[j].key == NULL)
            return;
        home = (size_t)m->slot[j].hash & mask;
        /* Move j back to i unless its home lies cyclically in (i, j]. */
        if ((j > i && (home <= i || home > j)) || (j < i && (home <= i && home > j))) {
            m->slot[i] = m->slot[j];
            m->slot[j].key = NULL;
            i = j;
        }
    }
}

/* Make room for one more entry: purge expired ones, else evict one. */
static void lockout_mem_make_room(struct lockout_mem *m, uint64_t now_ms)
{
    size_t victim = SIZE_MAX, seen = 0;
    uint64_t soonest = UINT64_MAX;

    for (size_t i = 0; i < m->nslots;) {
        if (m->slot[i].key && m->slot[i].expire_ms <= now_ms)
            lockout_mem_remove(m, i); /* slot i now holds a shifted entry: look again */
        else
            i++;
    }
    if (m->count < m->capacity)
        return;
    /* Sample a few live entries from a random place and drop the one that
     * would expire first: the least valuable lock to lose. */
    for (size_t i = (size_t)(m->seed ^ now_ms) & (m->nslots - 1); seen < 16 && seen < m->count;
         i = (i + 1) & (m->nslots - 1)) {
        if (m->slot[i].key == NULL)
            continue;
        seen++;
        if (m->slot[i].expire_ms < soonest) {
            soonest = m->slot[i].expire_ms;
            victim = i;
        }
    }
    if (victim != SIZE_MAX)
        lockout_mem_remove(m, victim);
}

/* Live slot of a key, or SIZE_MAX; drops it if it expired. */
static size_t lockout_mem_live(struct lockout_mem *m, const char *key, uint64_t now_ms)
{
    uint64_t h = lockout_mem_hash(m, key);
    size_t i = lockout_mem_find(m, key, h);

    if (m->slot[i].key == NULL)
        return SIZE_MAX;
    if (m->slot[i].expire_ms <= now_ms) {
        lockout_mem_remove(m, i);
        return SIZE_MAX;
    }
    return i;
}

/* Insert a new key (known absent); returns its slot or SIZE_MAX on OOM. */
static size_t lockout_mem_insert(struct lockout_mem *m, const char *key, uint64_t now_ms)
{
    uint64_t h = lockout_mem_hash(m, key);
    size_t i;
    char *k;

    if (m->count >= m->capacity)
        lockout_mem_make_room(m, now_ms);
    k = util_strdup(key);
    if (k == NULL)
        return SIZE_MAX;
    i = lockout_mem_find(m, key, h);
    m->slot[i].key = k;
    m->slot[i].hash = h;
    m->slot[i].count = 0;
    m->slot[i].expire_ms = now_ms;
    m->count++;
    return i;
}

static int lockout_mem_get(void *ctx, const char *const *keys, size_t n, long long *counts,
                           uint64_t now_ms)
{
    struct lockout_mem *m = ctx;

    pthread_mutex_lock(&m->lock);
    for (size_t k = 0; k < n; k++) {
        size_t i = lockout_mem_live(m, keys[k], now_ms);
        counts[k] = i == SIZE_MAX ? 0 : m->slot[i].count;
    }
    pthread_mutex_unlock(&m->lock);
    return 0;
}

static int lockout_mem_fail(void *ctx, const char *const *keys, const struct lockout_rule *rules,
                            size_t n, long long *counts, uint64_t now_ms)
{
    struct lockout_mem *m = ctx;
    int rc = 0;

    pthread_mutex_lock(&m->lock);
    for (size_t k = 0; k < n; k++) {
        size_t i = lockout_mem_live(m, keys[k], now_ms);
        if (i == SIZE_MAX) {
            i = lockout_mem_insert(m, keys[k], now_ms);
            if (i == SIZE_MAX) {
                rc = -1;
                break;
            }
            m->slot[i].expire_ms = now_ms + (uint64_t)rules[k].window_ms;
        }
        counts[k] = ++m->slot[i].count;
        if (counts[k] >= rules[k].limit)
            m->slot[i].expire_ms = now_ms + (uint64_t)rules[k].lock_ms;
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static int lockout_mem_success(void *ctx, const char *del_key, const char *set_key,
                               long long ttl_ms, uint64_t now_ms)
{
    struct lockout_mem *m = ctx;
    size_t i;
    int rc = 0;

    pthread_mutex_lock(&m->lock);
    i = lockout_mem_live(m, del_key, now_ms);
    if (i != SIZE_MAX)
        lockout_mem_remove(m, i);
    if (set_key) {
        i = lockout_mem_live(m, set_key, now_ms);
        if (i == SIZE_MAX)
            i = lockout_mem_insert(m, set_key, now_ms);
        if (i == SIZE_MAX) {
            rc = -1;
        } else {
            m->slot[i].count = 1;
            m->slot[i].expire_ms = now_ms + (uint64_t)ttl_ms;
        }
    }
    pthread_mutex_unlock(&m->lock);
    return rc;
}

static const struct lockout_store_ops lockout_mem_ops = {
    .get = lockout_mem_get,
    .fail = lockout_mem_fail,
    .success = lockout_mem_success,
};

struct lockout_store lockout_mem_store(struct lockout_mem *m)
{
    struct lockout_store s = {&lockout_mem_ops, m};
    return s;
}
