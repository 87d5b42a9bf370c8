/*
 * pcache.c - positive verification cache keyed by HMAC-SHA256 (see
 * pcache.h for the contract and the trade-off).
 *
 * Public: pcache_new, pcache_free, pcache_hit, pcache_put, pcache_forget.
 * Uses nettle, which libldap's GnuTLS already loads. The identity digest
 * picks the slot; the credential digest is compared in constant time.
 */
#include "pcache.h"

#include <nettle/hmac.h>
#include <nettle/memops.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define PCACHE_WAYS 4

struct pcache_entry {
    uint8_t id[SHA256_DIGEST_SIZE];
    uint8_t cred[SHA256_DIGEST_SIZE];
    uint64_t expire_ms; /* 0: empty */
};

struct pcache {
    pthread_mutex_t lock;
    struct pcache_entry *e;
    size_t nsets;
    long long ttl_ms;
    uint8_t key[32];
};

struct pcache *pcache_new(size_t entries, long long ttl_ms)
{
    struct pcache *c;

    if (entries < 1 || entries > 1000000 || ttl_ms < 1)
        return NULL;
    c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    c->nsets = (entries + PCACHE_WAYS - 1) / PCACHE_WAYS;
    c->e = calloc(c->nsets * PCACHE_WAYS, sizeof(*c->e));
    if (c->e == NULL || getrandom(c->key, sizeof(c->key), 0) != (ssize_t)sizeof(c->key)) {
        free(c->e);
        free(c);
        return NULL;
    }
    c->ttl_ms = ttl_ms;
    pthread_mutex_init(&c->lock, NULL);
    return c;
}

void pcache_free(struct pcache *c)
{
    if (c == NULL)
        return;
    explicit_bzero(c->key, sizeof(c->key));
    explicit_bzero(c->e, c->nsets * PCACHE_WAYS * sizeof(*c->e));
    free(c->e);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Feed one length-prefixed value, so that ("ab","c") and ("a","bc") differ. */
static void pcache_feed(struct hmac_sha256_ctx *h, const char *s, size_t n)
{
    uint8_t len[8];

    for (int i = 0; i < 8; i++)
        len[i] = (uint8_t)((uint64_t)n >> (56 - 8 * i));
    hmac_sha256_update(h, sizeof(len), len);
    hmac_sha256_update(h, n, (const uint8_t *)s);
}

/* Identity digest (no password) and, if cred, the credential digest. */
static void pcache_digest(const struct pcache *c, const struct pcache_req *r, uint8_t *id,
                          uint8_t *cred)
{
    struct hmac_sha256_ctx h;

    hmac_sha256_set_key(&h, sizeof(c->key), c->key);
    hmac_sha256_update(&h, 2, (const uint8_t *)"id");
    pcache_feed(&h, r->login, r->login_len);
    pcache_feed(&h, r->realm, r->realm_len);
    pcache_feed(&h, r->service, r->service_len);
    hmac_sha256_digest(&h, SHA256_DIGEST_SIZE, id);
    if (cred) {
        hmac_sha256_update(&h, 2, (const uint8_t *)"pw");
        pcache_feed(&h, r->login, r->login_len);
        pcache_feed(&h, r->realm, r->realm_len);
        pcache_feed(&h, r->service, r->service_len);
        pcache_feed(&h, r->password, r->password_len);
        hmac_sha256_digest(&h, SHA256_DIGEST_SIZE, cred);
    }
    explicit_bzero(&h, sizeof(h));
}

/* First entry of the set an identity maps to. */
static struct pcache_entry *pcache_set(const struct pcache *c, const uint8_t *id)
{
    uint64_t x = 0;

    for (int i = 0; i < 8; i++)
        x = (x << 8) | id[i];
    return &c->e[(x % c->nsets) * PCACHE_WAYS];
}

int pcache_hit(struct pcache *c, const struct pcache_req *r, uint64_t now_ms)
{
    uint8_t id[SHA256_DIGEST_SIZE], cred[SHA256_DIGEST_SIZE];
    struct pcache_entry *set;
    int hit = 0;

    pcache_digest(c, r, id, cred);
    pthread_mutex_lock(&c->lock);
    set = pcache_set(c, id);
    for (int w = 0; w < PCACHE_WAYS; w++) {
        struct pcache_entry *e = &set[w];
        if (e->expire_ms > now_ms && memcmp(e->id, id, sizeof(id)) == 0) {
            hit = memeql_sec(e->cred, cred, sizeof(cred));
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    explicit_bzero(cred, sizeof(cred));
    return hit;
}

void pcache_put(struct pcache *c, const struct pcache_req *r, uint64_t now_ms)
{
    uint8_t id[SHA256_DIGEST_SIZE], cred[SHA256_DIGEST_SIZE];
    struct pcache_entry *set, *victim;

    pcache_digest(c, r, id, cred);
    pthread_mutex_lock(&c->lock);
    set = pcache_set(c, id);
    victim = &set[0];
    for (int w = 0; w < PCACHE_WAYS; w++) {
        if (set[w].expire_ms > now_ms && memcmp(set[w].id, id, sizeof(id)) == 0) {
            victim = &set[w];
            break;
        }
        if (set[w].expire_ms < victim->expire_ms)
            victim = &set[w]; /* the oldest (or an empty) way */
    }
    memcpy(victim->id, id, sizeof(id));
    memcpy(victim->cred, cred, sizeof(cred));
    victim->expire_ms = now_ms + (uint64_t)c->ttl_ms;
    pthread_mutex_unlock(&c->lock);
    explicit_bzero(cred, sizeof(cred));
}

void pcache_forget(struct pcache *c, const struct pcache_req *r)
{
    uint8_t id[SHA256_DIGEST_SIZE];
    struct pcache_entry *set;

    pcache_digest(c, r, id, NULL);
    pthread_mutex_lock(&c->lock);
    set = pcache_set(c, id);
    for (int w = 0; w < PCACHE_WAYS; w++)
        if (memcmp(set[w].id, id, sizeof(id)) == 0)
            explicit_bzero(&set[w], sizeof(set[w]));
    pthread_mutex_unlock(&c->lock);
}
