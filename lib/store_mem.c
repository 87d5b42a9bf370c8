/*
 * store_mem.c - embedded quota store (see store_mem.h for the contract).
 *
 * Public: store_mem_new/free, store_mem_check, store_mem_commit,
 * store_mem_release, store_mem_expire, store_mem_count, store_mem_evictions.
 *
 * A chained hash table sized once for max_principals (no rehashing, so no
 * latency spike on growth), and a doubly linked list in order of last use
 * for eviction and expiry.
 */
#include "store_mem.h"

#include <stdlib.h>
#include <string.h>

struct store_mem_entry {
    struct store_mem_entry *hnext;
    struct store_mem_entry *prev, *next; /* use order: head = newest */
    uint64_t hash;
    struct limiter_state *st;
    size_t len;
    char key[]; /* len bytes, not NUL-terminated */
};

struct store_mem {
    struct store_mem_entry **table;
    size_t nbuckets; /* power of two */
    size_t count, max;
    struct store_mem_entry *head, *tail;
    uint64_t evictions;
};

struct store_mem *store_mem_new(size_t max_principals)
{
    struct store_mem *m;
    size_t n = 16;

    if (max_principals == 0)
        return NULL;
    while (n < max_principals && n < ((size_t)1 << 30))
        n <<= 1;
    m = calloc(1, sizeof(*m));
    if (m == NULL)
        return NULL;
    m->table = calloc(n, sizeof(*m->table));
    if (m->table == NULL) {
        free(m);
        return NULL;
    }
    m->nbuckets = n;
    m->max = max_principals;
    return m;
}

static void store_mem_unlink(struct store_mem *m, struct store_mem_entry *e)
{
    if (e->prev)
        e->prev->next = e->next;
    else
        m->head = e->next;
    if (e->next)
        e->next->prev = e->prev;
    else
        m->tail = e->prev;
    e->prev = e->next = NULL;
}

static void store_mem_push_front(struct store_mem *m, struct store_mem_entry *e)
{
    e->next = m->head;
    e->prev = NULL;
    if (m->head)
        m->head->prev = e;
    m->head = e;
    if (m->tail == NULL)
        m->tail = e;
}

/* Remove an entry from the table and the use list, and free it. */
static void store_mem_remove(struct store_mem *m, struct store_mem_entry *e)
{
    struct store_mem_entry **pp = &m->table[e->hash & (m->nbuckets - 1)];

    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    store_mem_unlink(m, e);
    limiter_state_free(e->st);
    free(e);
    m->count--;
}

void store_mem_free(struct store_mem *m)
{
    if (m == NULL)
        return;
    while (m->head)
        store_mem_remove(m, m->head);
    free(m->table);
    free(m);
}

static struct store_mem_entry *store_mem_find(struct store_mem *m, const char *key, size_t len,
                                              uint64_t h)
{
    for (struct store_mem_entry *e = m->table[h & (m->nbuckets - 1)]; e; e = e->hnext)
        if (e->hash == h && e->len == len && memcmp(e->key, key, len) == 0)
            return e;
    return NULL;
}

/* The principal's entry, created when absent (evicting the LRU when full),
 * and marked as just used. NULL on allocation failure. */
static struct store_mem_entry *store_mem_get(struct store_mem *m, const char *key, size_t len)
{
    uint64_t h = limiter_hash(key, len);
    struct store_mem_entry *e = store_mem_find(m, key, len, h);

    if (e != NULL) {
        store_mem_unlink(m, e);
        store_mem_push_front(m, e);
        return e;
    }
    if (len > STORE_MEM_KEY_MAX)
        return NULL;
    if (m->count >= m->max) {
        store_mem_remove(m, m->tail);
        m->evictions++;
    }
    e = calloc(1, sizeof(*e) + len);
    if (e == NULL)
        return NULL;
    e->st = limiter_state_new();
    if (e->st == NULL) {
        free(e);
        return NULL;
    }
    memcpy(e->key, key, len);
    e->len = len;
    e->hash = h;
    e->hnext = m->table[h & (m->nbuckets - 1)];
    m->table[h & (m->nbuckets - 1)] = e;
    store_mem_push_front(m, e);
    m->count++;
    return e;
}

int store_mem_check(struct store_mem *m, const char *principal, size_t len,
                    const struct limiter_limits *l, uint64_t now_ms, uint64_t txid,
                    uint64_t release, const struct limiter_cost *cost, struct limiter_result *res)
{
    struct store_mem_entry *e = store_mem_get(m, principal, len);

    if (e == NULL)
        return -1;
    return limiter_check(e->st, l, now_ms, txid, release, cost, res);
}

int store_mem_commit(struct store_mem *m, const char *principal, size_t len,
                     const struct limiter_limits *l, uint64_t now_ms, uint64_t txid,
                     uint64_t instance_id, const struct limiter_cost *cost,
                     struct limiter_result *res)
{
    struct store_mem_entry *e = store_mem_get(m, principal, len);

    if (e == NULL)
        return -1;
    return limiter_commit(e->st, l, now_ms, txid, instance_id, cost, res);
}

void store_mem_release(struct store_mem *m, const char *principal, size_t len, uint64_t txid)
{
    struct store_mem_entry *e = store_mem_find(m, principal, len, limiter_hash(principal, len));

    if (e != NULL)
        limiter_release(e->st, txid);
}

size_t store_mem_expire(struct store_mem *m, uint64_t now_ms, size_t max_work)
{
    struct store_mem_entry *e = m->tail;
    size_t freed = 0;

    for (size_t i = 0; e != NULL && i < max_work; i++) {
        struct store_mem_entry *prev = e->prev;
        if (limiter_state_idle(e->st, now_ms)) {
            store_mem_remove(m, e);
            freed++;
        }
        e = prev;
    }
    return freed;
}

size_t store_mem_count(const struct store_mem *m)
{
    return m->count;
}

uint64_t store_mem_evictions(const struct store_mem *m)
{
    return m->evictions;
}
