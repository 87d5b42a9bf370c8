/*
 * limiter.c - conservative sliding-window quotas with reservations (see
 * limiter.h for the contract and the algorithm).
 *
 * Public: limiter_parse, limiter_window_text, limiter_bucket_ms,
 * limiter_state_new/free, limiter_check, limiter_commit, limiter_release,
 * limiter_state_idle, limiter_state_bytes, limiter_hash.
 *
 * The Lua script in policyd/quota_redis.c is this file's twin: a change to
 * the arithmetic here must be made there too (tests/quota runs both on the
 * same random operations against a fake clock and compares every answer).
 *
 * Work per call is O(1) amortized: a series keeps the running total of its
 * buckets, and a call first drops the buckets that left the window from
 * the old end (each bucket is made once and dropped once). A check also
 * forgets expired reservations, a commit only expired instances; the
 * script does the same, so that both agree even on a clock that steps back.
 */
#include "limiter.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf.h"
#include "util.h"

struct limiter_bucket {
    int64_t index; /* absolute: floor(t / g) */
    uint64_t count;
};

/* The buckets of one (kind, window length, bucket width): sorted by index,
 * oldest first; total is the sum of their counts. */
struct limiter_series {
    enum limiter_kind kind;
    uint64_t len_ms;
    uint64_t g_ms;
    uint64_t total;
    struct limiter_bucket *b;
    size_t n, cap;
};

struct limiter_pending {
    uint64_t txid;
    uint64_t expires_ms;
    struct limiter_cost cost;
};

struct limiter_done {
    uint64_t id;
    uint64_t expires_ms;
};

struct limiter_state {
    struct limiter_series series[LIMITER_MAX_SERIES];
    size_t nseries;
    struct limiter_pending pending[LIMITER_MAX_PENDING];
    size_t npending;
    struct limiter_done *done; /* grows on demand up to LIMITER_MAX_DONE */
    size_t ndone, done_cap;
};

/* floor(a / b) for b > 0, also for negative a (fake clocks start at 0). */
static int64_t limiter_floordiv(int64_t a, int64_t b)
{
    int64_t q = a / b;

    return (a % b != 0 && a < 0) ? q - 1 : q;
}

uint64_t limiter_bucket_ms(uint64_t len_ms, unsigned buckets)
{
    uint64_t g;

    if (buckets == 0)
        buckets = 1;
    g = (len_ms + buckets - 1) / buckets;
    return g ? g : 1;
}

uint64_t limiter_hash(const void *data, size_t len)
{
    const unsigned char *p = data;
    uint64_t h = 14695981039346656037ULL;

    for (size_t i = 0; i < len; i++) {
        h ^= p[i];
        h *= 1099511628211ULL;
    }
    return h ? h : 1; /* 0 means "none" to the callers */
}

/* Parse one "N/<time>" item; the time as in portreeve.conf, 1s to a year. */
static int limiter_parse_item(const char *s, size_t len, struct limiter_window *w)
{
    char buf[64], *end;
    unsigned long long n;
    long long ms;
    const char *slash;

    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    slash = strchr(buf, '/');
    if (slash == NULL || !isdigit((unsigned char)buf[0]) || !isdigit((unsigned char)slash[1]))
        return -1;
    errno = 0;
    n = strtoull(buf, &end, 10);
    if (errno || end != slash || n > LIMITER_MAX_COUNT)
        return -1;
    if (conf_parse_time(slash + 1, &ms) < 0 || ms < 1000 || ms > 366LL * 86400000)
        return -1;
    w->max = n;
    w->len_ms = (uint64_t)ms;
    return 0;
}

int limiter_parse(const char *text, enum limiter_kind kind, struct limiter_limits *limits,
                  char *err, size_t errlen)
{
    const char *p = text;

    if (strcmp(text, "none") == 0)
        return 0;
    while (*p) {
        size_t len;
        struct limiter_window w;

        p += strspn(p, ", \t");
        if (*p == '\0')
            break;
        len = strcspn(p, ", \t");
        if (limiter_parse_item(p, len, &w) != 0) {
            snprintf(err, errlen, "bad limit \"%.*s\": want COUNT/TIME such as 100/1h",
                     (int)(len > 40 ? 40 : len), p);
            return -1;
        }
        if (limits->n >= LIMITER_MAX_WINDOWS) {
            snprintf(err, errlen, "more than %d windows", LIMITER_MAX_WINDOWS);
            return -1;
        }
        w.kind = kind;
        limits->w[limits->n++] = w;
        p += len;
    }
    return 0;
}

void limiter_window_text(const struct limiter_window *w, char *dst, size_t dstlen)
{
    static const struct {
        uint64_t ms;
        char unit;
    } units[] = {{604800000, 'w'}, {86400000, 'd'}, {3600000, 'h'}, {60000, 'm'}, {1000, 's'}};

    for (size_t i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
        if (w->len_ms % units[i].ms == 0) {
            snprintf(dst, dstlen, "%llu/%llu%c", (unsigned long long)w->max,
                     (unsigned long long)(w->len_ms / units[i].ms), units[i].unit);
            return;
        }
    }
    snprintf(dst, dstlen, "%llu/%llums", (unsigned long long)w->max, (unsigned long long)w->len_ms);
}

struct limiter_state *limiter_state_new(void)
{
    return calloc(1, sizeof(struct limiter_state));
}

void limiter_state_free(struct limiter_state *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nseries; i++)
        free(s->series[i].b);
    free(s->done);
    free(s);
}

static struct limiter_series *limiter_find_series(struct limiter_state *s, enum limiter_kind kind,
                                                  uint64_t len_ms, uint64_t g_ms)
{
    for (size_t i = 0; i < s->nseries; i++)
        if (s->series[i].kind == kind && s->series[i].len_ms == len_ms && s->series[i].g_ms == g_ms)
            return &s->series[i];
    return NULL;
}

/* First bucket index still counted at now for a series. */
static int64_t limiter_lo(const struct limiter_series *se, uint64_t now_ms)
{
    return limiter_floordiv((int64_t)now_ms - (int64_t)se->len_ms, (int64_t)se->g_ms);
}

/* Drop the buckets that left the window at now (the oldest first, as the
 * script walks its chain); returns the count of the window. A clock that
 * stepped back drops nothing. */
static uint64_t limiter_series_advance(struct limiter_series *se, uint64_t now_ms)
{
    int64_t lo = limiter_lo(se, now_ms);
    size_t k = 0;

    if (se->n == 0 || se->b[0].index >= lo)
        return se->total;
    if (se->b[se->n - 1].index < lo) { /* all gone: the script deletes the key */
        se->n = 0;
        se->total = 0;
        return 0;
    }
    while (se->b[k].index < lo)
        se->total -= se->b[k++].count;
    memmove(se->b, se->b + k, (se->n - k) * sizeof(*se->b));
    se->n -= k;
    return se->total;
}

/* Forget expired reservations (at RCPT only, as the script). */
static void limiter_expire_pending(struct limiter_state *s, uint64_t now_ms)
{
    size_t o = 0;

    for (size_t i = 0; i < s->npending; i++)
        if (s->pending[i].expires_ms > now_ms)
            s->pending[o++] = s->pending[i];
    s->npending = o;
}

/* Forget expired instances (Redis: the done keys' TTL). */
static void limiter_expire_done(struct limiter_state *s, uint64_t now_ms)
{
    size_t o = 0;

    for (size_t i = 0; i < s->ndone; i++)
        if (s->done[i].expires_ms > now_ms)
            s->done[o++] = s->done[i];
    s->ndone = o;
}

static struct limiter_pending *limiter_find_pending(struct limiter_state *s, uint64_t txid)
{
    for (size_t i = 0; txid && i < s->npending; i++)
        if (s->pending[i].txid == txid)
            return &s->pending[i];
    return NULL;
}

void limiter_release(struct limiter_state *s, uint64_t txid)
{
    struct limiter_pending *p = limiter_find_pending(s, txid);

    if (p != NULL)
        *p = s->pending[--s->npending];
}

static uint64_t limiter_cost_of(const struct limiter_cost *c, enum limiter_kind kind)
{
    return kind == LIMITER_MESSAGES ? c->messages : c->recipients;
}

int limiter_check(struct limiter_state *s, const struct limiter_limits *l, uint64_t now_ms,
                  uint64_t txid, uint64_t release, const struct limiter_cost *cost,
                  struct limiter_result *res)
{
    return limiter_check_grant(s, l, now_ms, txid, release, cost, cost->recipients, res);
}

int limiter_check_grant(struct limiter_state *s, const struct limiter_limits *l, uint64_t now_ms,
                        uint64_t txid, uint64_t release, const struct limiter_cost *cost,
                        uint64_t want, struct limiter_result *res)
{
    struct limiter_pending *own;
    struct limiter_cost others = {0, 0};
    uint64_t grant = want > cost->recipients ? want : cost->recipients;

    memset(res, 0, sizeof(*res));
    limiter_expire_pending(s, now_ms);
    if (release && release != txid)
        limiter_release(s, release);
    own = limiter_find_pending(s, txid);
    /* Other transactions' reservations count; our own is replaced. */
    for (size_t k = 0; k < s->npending; k++) {
        if (&s->pending[k] != own) {
            others.messages += s->pending[k].cost.messages;
            others.recipients += s->pending[k].cost.recipients;
        }
    }
    for (size_t i = 0; i < l->n; i++) {
        const struct limiter_window *w = &l->w[i];
        struct limiter_series *se =
            limiter_find_series(s, w->kind, w->len_ms, limiter_bucket_ms(w->len_ms, l->buckets));
        uint64_t used =
            limiter_cost_of(&others, w->kind) + (se ? limiter_series_advance(se, now_ms) : 0);

        if (used + limiter_cost_of(cost, w->kind) > w->max) {
            res->verdict = LIMITER_EXCEEDED;
            res->window = i;
            res->used = used;
            return 0; /* the earlier reservation, if any, stays */
        }
        if (w->kind == LIMITER_RECIPIENTS) {
            /* Half of the room beyond what is asked for, at most. */
            uint64_t g = cost->recipients + (w->max - used - cost->recipients) / 2;
            if (g < grant)
                grant = g;
        }
    }
    res->granted = grant;
    if (txid == 0)
        return 0;
    if (own == NULL) {
        if (s->npending == LIMITER_MAX_PENDING) {
            /* Full: reuse the slot that expires first, on a tie the lower
             * txid (documented bound; the script picks the same one). */
            size_t old = 0;
            for (size_t k = 1; k < s->npending; k++)
                if (s->pending[k].expires_ms < s->pending[old].expires_ms ||
                    (s->pending[k].expires_ms == s->pending[old].expires_ms &&
                     s->pending[k].txid < s->pending[old].txid))
                    old = k;
            own = &s->pending[old];
        } else {
            own = &s->pending[s->npending++];
        }
    }
    own->txid = txid;
    own->expires_ms = now_ms + l->reserve_ttl_ms;
    own->cost.messages = cost->messages;
    own->cost.recipients = grant;
    return 0;
}

/* Add count to the bucket of now in a series, after dropping the buckets
 * out of range. A clock that steps back counts in the newest bucket. */
static int limiter_series_add(struct limiter_series *se, uint64_t now_ms, uint64_t count)
{
    int64_t cur = limiter_floordiv((int64_t)now_ms, (int64_t)se->g_ms);

    limiter_series_advance(se, now_ms);
    if (se->n && se->b[se->n - 1].index >= cur) {
        se->b[se->n - 1].count += count;
        se->total += count;
        return 0;
    }
    if (se->n == se->cap) {
        size_t ncap = se->cap ? se->cap * 2 : 2;
        struct limiter_bucket *nb = util_reallocarray(se->b, ncap, sizeof(*nb));
        if (nb == NULL)
            return -1;
        se->b = nb;
        se->cap = ncap;
    }
    se->b[se->n].index = cur;
    se->b[se->n].count = count;
    se->n++;
    se->total += count;
    return 0;
}

/* A slot for a new series: a free one, else an empty one, else the one
 * whose newest bucket is oldest (its counts are forgotten: only when more
 * than LIMITER_MAX_SERIES series are in use). Series that the limits of
 * this request do not use are kept: another role's limits may. */
static struct limiter_series *limiter_new_series(struct limiter_state *s, uint64_t now_ms)
{
    struct limiter_series *victim = NULL;

    if (s->nseries < LIMITER_MAX_SERIES)
        return &s->series[s->nseries++];
    for (size_t i = 0; i < s->nseries; i++) {
        struct limiter_series *se = &s->series[i];
        limiter_series_advance(se, now_ms);
        if (se->n == 0)
            return se;
        if (victim == NULL || se->b[se->n - 1].index * (int64_t)se->g_ms <
                                  victim->b[victim->n - 1].index * (int64_t)victim->g_ms)
            victim = se;
    }
    victim->n = 0;
    victim->total = 0;
    return victim;
}

int limiter_commit(struct limiter_state *s, const struct limiter_limits *l, uint64_t now_ms,
                   uint64_t txid, uint64_t instance_id, const struct limiter_cost *cost,
                   struct limiter_result *res)
{
    memset(res, 0, sizeof(*res));
    limiter_expire_done(s, now_ms);
    for (size_t i = 0; instance_id && i < s->ndone; i++) {
        if (s->done[i].id == instance_id) {
            res->verdict = LIMITER_DUPLICATE;
            return 0;
        }
    }
    for (size_t i = 0; i < l->n; i++) {
        const struct limiter_window *w = &l->w[i];
        uint64_t g = limiter_bucket_ms(w->len_ms, l->buckets);
        struct limiter_series *se = limiter_find_series(s, w->kind, w->len_ms, g);

        if (se == NULL) {
            struct limiter_bucket *b;
            size_t cap;

            se = limiter_new_series(s, now_ms);
            b = se->b; /* an evicted series' buckets are reused */
            cap = se->b ? se->cap : 0;
            memset(se, 0, sizeof(*se));
            se->b = b;
            se->cap = cap;
            se->kind = w->kind;
            se->len_ms = w->len_ms;
            se->g_ms = g;
        }
        if (limiter_series_add(se, now_ms, limiter_cost_of(cost, w->kind)) != 0)
            return -1;
    }
    limiter_release(s, txid);
    if (instance_id) { /* on allocation failure the instance is not remembered */
        size_t slot = s->ndone;
        if (slot == s->done_cap && s->done_cap < LIMITER_MAX_DONE) {
            size_t ncap = s->done_cap ? s->done_cap * 2 : 2;
            struct limiter_done *nd = util_reallocarray(s->done, ncap, sizeof(*nd));
            if (nd != NULL) {
                s->done = nd;
                s->done_cap = ncap;
            }
        }
        if (s->done_cap == 0)
            return 0;
        if (slot == s->done_cap) { /* full: forget the oldest */
            slot = 0;
            for (size_t k = 1; k < s->ndone; k++)
                if (s->done[k].expires_ms < s->done[slot].expires_ms)
                    slot = k;
        } else {
            s->ndone++;
        }
        s->done[slot].id = instance_id;
        s->done[slot].expires_ms = now_ms + l->done_ttl_ms;
    }
    return 0;
}

int limiter_state_idle(const struct limiter_state *s, uint64_t now_ms)
{
    for (size_t i = 0; i < s->npending; i++)
        if (s->pending[i].expires_ms > now_ms)
            return 0;
    for (size_t i = 0; i < s->ndone; i++)
        if (s->done[i].expires_ms > now_ms)
            return 0;
    for (size_t i = 0; i < s->nseries; i++) {
        const struct limiter_series *se = &s->series[i];
        int64_t lo = limiter_lo(se, now_ms);
        if (se->n && se->b[se->n - 1].index >= lo)
            return 0;
    }
    return 1;
}

size_t limiter_state_bytes(const struct limiter_state *s)
{
    size_t n = sizeof(*s);

    for (size_t i = 0; i < s->nseries; i++)
        n += s->series[i].cap * sizeof(struct limiter_bucket);
    return n + s->done_cap * sizeof(struct limiter_done);
}
