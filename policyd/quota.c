/*
 * quota.c - the sending-quota stage (see quota.h for the contract).
 *
 * Public: quota_start, quota_stop, quota_decide, quota_principal,
 * quota_counters.
 *
 * One runtime per daemon (module state below): the embedded store, the
 * Redis store when redis_server or redis_sentinels is set, the session
 * table, and the table that makes "exceeded" log once per principal and
 * window. Settings that shape the runtime (redis_*, max_principals, the
 * metrics address) are read at start; changing them needs a restart.
 * Everything per decision (limits, exemptions, map, actions) comes from the
 * configuration the request holds, so SIGHUP applies at once.
 */
#include "quota.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <unistd.h>

#include <event2/event.h>

#include "log.h"
#include "metrics.h"
#include "netset.h"
#include "quota_redis.h"
#include "store_mem.h"
#include "util.h"

#define QUOTA_PROBE 8
#define QUOTA_LOGGED_SLOTS 4096
#define QUOTA_INSTANCE_MAX 80
#define QUOTA_OPS_FREE_MAX 1024 /* operations kept for reuse */

/* One SMTP session's current transaction. */
struct quota_session {
    uint64_t key;         /* hash of client addr/port, server addr/port; 0 = free */
    uint64_t sender;      /* hash of MAIL FROM */
    uint64_t txid;        /* our id of the transaction; 0 = none */
    uint64_t rcpts;       /* recipients admitted so far */
    uint64_t granted;     /* recipients the transaction's reservation holds */
    uint64_t granted_end; /* ... trusted until then (ms, this host's clock) */
    uint64_t last_ms;
    char instance[QUOTA_INSTANCE_MAX];
};

struct quota_rt {
    struct event_base *base;
    struct store_mem *mem;
    struct quota_redis *redis;
    struct event *sweep;
    struct quota_session sessions[QUOTA_SESSIONS];
    uint64_t logged[QUOTA_LOGGED_SLOTS];
    uint64_t txid_state;
    int fallback_logged;
    struct quota_counters c;
    struct quota_op *free_ops; /* reused: one operation per RCPT/END-OF-MESSAGE */
    size_t nfree_ops;
};

static struct quota_rt *rt;

/* An operation in flight at Redis: RCPT checks wait for it, commits not. */
struct quota_op {
    struct policyd_conf *conf; /* referenced */
    struct decision *d;        /* NULL for commits */
    decide_done_fn done;
    void *arg;
    uint64_t t0_us;
    enum quota_redis_op_kind kind;
    char principal[QUOTA_PRINCIPAL_MAX];
    size_t plen;
    struct limiter_limits l;
    uint64_t txid, release, session_key;
    struct limiter_cost cost;
    char instance[QUOTA_INSTANCE_MAX];
    int is_user;
    enum role role;
    struct quota_op *next_free;
};

/* A zeroed operation, from the pool when it has one; NULL when out of memory. */
static struct quota_op *quota_op_new(void)
{
    struct quota_op *op = rt->free_ops;

    if (op == NULL)
        return calloc(1, sizeof(*op));
    rt->free_ops = op->next_free;
    rt->nfree_ops--;
    memset(op, 0, sizeof(*op));
    return op;
}

static void quota_op_free(struct quota_op *op)
{
    if (rt->nfree_ops >= QUOTA_OPS_FREE_MAX) {
        free(op);
        return;
    }
    op->next_free = rt->free_ops;
    rt->free_ops = op;
    rt->nfree_ops++;
}

static uint64_t quota_now_ms(void)
{
    return util_now_us() / 1000;
}

/* splitmix64: distinct, unpredictable transaction ids. */
static uint64_t quota_new_txid(void)
{
    uint64_t z = (rt->txid_state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    z &= QUOTA_REDIS_TXID_LIMIT - 1; /* the Redis script keeps txids in doubles */
    return z ? z : 1;
}

static void quota_sweep_cb(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    store_mem_expire(rt->mem, quota_now_ms(), 1000);
}

int quota_start(struct event_base *base, const struct policyd_conf *conf,
                const struct server_stats *st, char *err, size_t errlen)
{
    const struct store_conf *sc = &conf->store;
    struct timeval sec = {1, 0};

    if (rt != NULL)
        return 0;
    rt = calloc(1, sizeof(*rt));
    if (rt == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    rt->base = base;
    if (getrandom(&rt->txid_state, sizeof(rt->txid_state), 0) != sizeof(rt->txid_state))
        rt->txid_state = util_now_us() ^ ((uint64_t)getpid() << 32);
    rt->mem = store_mem_new((size_t)conf->quota.max_principals);
    rt->sweep = event_new(base, -1, EV_PERSIST, quota_sweep_cb, NULL);
    if (rt->mem == NULL || rt->sweep == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    event_add(rt->sweep, &sec);
    if (sc->server[0] || sc->sentinels[0]) {
        rt->redis = quota_redis_new(base, sc, err, errlen);
        if (rt->redis == NULL)
            goto fail;
        rt->c.redis_configured = 1;
    }
    if (conf->quota.metrics_listen[0] &&
        metrics_start(base, conf->quota.metrics_listen, st, err, errlen) < 0)
        goto fail;
    return 0;
fail:
    quota_stop();
    return -1;
}

void quota_stop(void)
{
    if (rt == NULL)
        return;
    metrics_stop();
    quota_redis_free(rt->redis);
    if (rt->sweep)
        event_free(rt->sweep);
    store_mem_free(rt->mem);
    while (rt->free_ops) {
        struct quota_op *op = rt->free_ops;
        rt->free_ops = op->next_free;
        free(op);
    }
    free(rt);
    rt = NULL;
}

size_t quota_principal(const struct quota_conf *q, const char *user, size_t ulen, const char *addr,
                       size_t alen, char *dst, size_t dstlen)
{
    struct netaddr a;
    char text[64];
    int n;

    if (dstlen < 24)
        return 0;
    if (ulen > 0) {
        if (ulen + 3 > dstlen || ulen > QUOTA_PRINCIPAL_MAX - 20) {
            /* Over-long names: hash (of the lower-cased bytes) in the tag. */
            uint64_t h = 14695981039346656037ULL;
            for (size_t i = 0; i < ulen; i++)
                h = (h ^ (unsigned char)tolower((unsigned char)user[i])) * 1099511628211ULL;
            n = snprintf(dst, dstlen, "u:h%016llx", (unsigned long long)h);
            return n > 0 ? (size_t)n : 0;
        }
        dst[0] = 'u';
        dst[1] = ':';
        for (size_t i = 0; i < ulen; i++)
            dst[2 + i] = (char)tolower((unsigned char)user[i]);
        dst[ulen + 2] = '\0';
        return ulen + 2;
    }
    if (netaddr_parse(addr, alen, &a) < 0)
        return 0;
    if (netaddr_is_v4(&a)) {
        if (netaddr_prefix_text(&a, (unsigned)q->ipv4_prefix, text, sizeof(text)) < 0)
            return 0;
        n = snprintf(dst, dstlen, "a:%s/%lld", text, q->ipv4_prefix);
    } else {
        if (netaddr_prefix_text(&a, (unsigned)q->ipv6_prefix, text, sizeof(text)) < 0)
            return 0;
        n = snprintf(dst, dstlen, "a:%s/%lld", text, q->ipv6_prefix);
    }
    return (n > 0 && (size_t)n < dstlen) ? (size_t)n : 0;
}

/* The session's slot: found, or a free/stale/oldest one among QUOTA_PROBE. */
static struct quota_session *quota_session(const struct proto_request *req, uint64_t now,
                                           uint64_t stale_ms)
{
    uint64_t h = 14695981039346656037ULL;
    static const enum proto_attr parts[] = {PA_CLIENT_ADDRESS, PA_CLIENT_PORT, PA_SERVER_ADDRESS,
                                            PA_SERVER_PORT};
    struct quota_session *best = NULL;

    for (size_t i = 0; i < sizeof(parts) / sizeof(parts[0]); i++) {
        h ^= limiter_hash(req->v[parts[i]].ptr, req->v[parts[i]].len);
        h *= 1099511628211ULL;
    }
    h = h ? h : 1;
    for (size_t i = 0; i < QUOTA_PROBE; i++) {
        struct quota_session *s = &rt->sessions[(h + i) % QUOTA_SESSIONS];
        if (s->key == h)
            return s;
        if (best == NULL || s->key == 0 || s->last_ms + stale_ms < now ||
            (best->key != 0 && s->last_ms < best->last_ms))
            best = s;
    }
    memset(best, 0, sizeof(*best));
    best->key = h;
    return best;
}

/* Once per principal, window and window period: should we log this exceed? */
static int quota_log_once(const char *p, size_t plen, const struct limiter_window *w, uint64_t now)
{
    uint64_t k = limiter_hash(p, plen) ^ (w->len_ms * 31 + w->max) ^ ((now / w->len_ms) << 17);
    uint64_t *slot = &rt->logged[k % QUOTA_LOGGED_SLOTS];

    if (*slot == k)
        return 0;
    *slot = k;
    return 1;
}

/* An RCPT check passed: the session's transaction has one more recipient,
 * and a reservation of `granted` recipients (0: only those admitted), which
 * lives reservation_ttl from the request on in the store; half of that is
 * trusted here, whatever the two clocks say. */
static void quota_admitted(const struct quota_op *op, uint64_t granted)
{
    for (size_t i = 0; i < QUOTA_PROBE; i++) {
        struct quota_session *s = &rt->sessions[(op->session_key + i) % QUOTA_SESSIONS];
        if (s->key == op->session_key) {
            if (s->txid == op->txid && s->rcpts < op->cost.recipients)
                s->rcpts = op->cost.recipients;
            if (s->txid == op->txid && granted > s->rcpts) {
                s->granted = granted;
                s->granted_end = op->t0_us / 1000 + op->l.reserve_ttl_ms / 2;
            }
            return;
        }
    }
}

/* Recipients to ask the shared store to reserve at RCPT number k of a
 * transaction: twice as many, at most `most` (policyd_quota_recipient_grant)
 * more, so that a message to n recipients costs about log2(n) round trips,
 * not n. The store grants at most half of a window's room beyond k
 * (limiter.h). */
static uint64_t quota_want(uint64_t k, uint64_t most)
{
    return k + (k < most ? k : most);
}

/* Turn a verdict into the decision. */
static void quota_apply(struct quota_op *op, const struct limiter_result *res, const char *store)
{
    const struct quota_conf *q = &op->conf->quota;
    const struct limiter_window *w;
    char lim[48], who[QUOTA_PRINCIPAL_MAX + 8];
    const char *kind;

    if (op->d == NULL)
        return;
    if (res->verdict != LIMITER_EXCEEDED) {
        quota_admitted(op, res->granted);
        return;
    }
    w = &op->l.w[res->window < op->l.n ? res->window : 0];
    kind = w->kind == LIMITER_MESSAGES ? "messages" : "recipients";
    limiter_window_text(w, lim, sizeof(lim));
    if (op->role >= 0 && op->role < QUOTA_ROLES)
        rt->c.exceeded[op->role][w->kind]++;
    snprintf(op->d->action, sizeof(op->d->action), "%s Sending quota exceeded: %s %s",
             op->is_user ? q->user_action : q->client_action, lim, kind);
    op->d->rule = "quota_exceeded";
    if (quota_log_once(op->principal, op->plen, w, util_wall_ms()))
        log_warn("quota: %s exceeded %s %s (used %llu) on role %s, store %s; further exceeds "
                 "in this window are not logged",
                 util_escape(who, sizeof(who), op->principal, op->plen), lim, kind,
                 (unsigned long long)res->used, role_name(op->role), store);
}

/* Run the operation on the embedded store. */
static void quota_run_memory(struct quota_op *op, const char *why)
{
    struct limiter_result res;
    int rc;

    if (op->kind == QUOTA_REDIS_COMMIT) {
        rt->c.commits_memory++;
        rc =
            store_mem_commit(rt->mem, op->principal, op->plen, &op->l, quota_now_ms(), op->txid,
                             op->instance[0] ? limiter_hash(op->instance, strlen(op->instance)) : 0,
                             &op->cost, &res);
        if (rc == 0 && res.verdict == LIMITER_DUPLICATE)
            rt->c.duplicates++;
        return;
    }
    rt->c.checks_memory++;
    rc = store_mem_check(rt->mem, op->principal, op->plen, &op->l, quota_now_ms(), op->txid,
                         op->release, &op->cost, &res);
    if (rc < 0) {
        log_warn("quota: embedded store: out of memory; not limiting");
        return;
    }
    quota_apply(op, &res, why);
}

/* Redis failed for this operation: the configured fallback. */
static void quota_unavailable(struct quota_op *op)
{
    const struct quota_conf *q = &op->conf->quota;

    if (op->kind == QUOTA_REDIS_COMMIT || q->on_failure == QUOTA_FAIL_FALLBACK) {
        if (op->kind != QUOTA_REDIS_COMMIT)
            rt->c.fallbacks++;
        if (!rt->fallback_logged && q->on_failure == QUOTA_FAIL_FALLBACK)
            log_warn("quota: Redis unavailable; using the embedded store (limits hold per "
                     "host until Redis is back)");
        rt->fallback_logged = 1;
        quota_run_memory(op, "memory (fallback)");
        return;
    }
    if (q->on_failure == QUOTA_FAIL_DEFER && op->d) {
        rt->c.unavailable_defer++;
        util_strlcpy(op->d->action, q->unavailable_reply, sizeof(op->d->action));
        op->d->rule = "quota_unavailable";
    } else {
        rt->c.unavailable_dunno++;
        if (op->d)
            quota_admitted(op, 0);
    }
}

static void quota_finish(struct quota_op *op)
{
    if (op->done) {
        metrics_observe(op->d, util_now_us() - op->t0_us);
        op->done(op->arg, op->d);
    }
    policyd_conf_unref(op->conf);
    quota_op_free(op);
}

/* quota_redis_cb */
static void quota_redis_done(void *arg, int ok, const struct limiter_result *res)
{
    struct quota_op *op = arg;

    if (ok < 0) {
        quota_unavailable(op);
    } else {
        if (rt->fallback_logged)
            log_info("quota: Redis answers again; shared limits in force");
        rt->fallback_logged = 0;
        if (op->kind == QUOTA_REDIS_COMMIT && res->verdict == LIMITER_DUPLICATE)
            rt->c.duplicates++;
        quota_apply(op, res, "redis");
    }
    quota_finish(op);
}

/* Start the operation; 1 when finished now, 0 when Redis will answer. */
static int quota_run(struct quota_op *op)
{
    struct quota_redis_op ro;

    if (rt->redis == NULL) {
        quota_run_memory(op, "memory");
        return 1;
    }
    memset(&ro, 0, sizeof(ro));
    ro.kind = op->kind;
    ro.principal = op->principal;
    ro.principal_len = op->plen;
    ro.limits = &op->l;
    ro.txid = op->txid;
    ro.release = op->release;
    ro.instance = op->instance;
    ro.cost = op->cost;
    if (op->kind == QUOTA_REDIS_CHECK)
        ro.want = quota_want(op->cost.recipients, (uint64_t)op->conf->quota.recipient_grant);
    if (quota_redis_submit(rt->redis, &ro, quota_redis_done, op) != NULL) {
        if (op->kind == QUOTA_REDIS_COMMIT)
            rt->c.commits_redis++;
        else
            rt->c.checks_redis++;
        return 0;
    }
    quota_unavailable(op);
    return 1;
}

/* The limits for a principal, or 0 when it is exempt or has none. */
static int quota_limits(const struct quota_conf *q, const struct proto_request *req, enum role role,
                        const char *principal, struct limiter_limits *out)
{
    const struct quota_user_limits *u = NULL;
    const struct limiter_limits *base = &q->role_limits[role];

    if (q->exempt_nets && netset_contains(q->exempt_nets, req->v[PA_CLIENT_ADDRESS].ptr,
                                          req->v[PA_CLIENT_ADDRESS].len))
        return 0;
    if (principal[0] == 'u') {
        if (quota_conf_user_exempt(q, principal + 2))
            return 0;
        u = quota_conf_user(q, principal + 2);
        if (u && u->exempt)
            return 0;
    }
    memset(out, 0, sizeof(*out));
    out->buckets = base->buckets;
    out->reserve_ttl_ms = base->reserve_ttl_ms;
    out->done_ttl_ms = base->done_ttl_ms;
    for (size_t i = 0; i < base->n; i++) {
        if (u && ((base->w[i].kind == LIMITER_MESSAGES && u->has_messages) ||
                  (base->w[i].kind == LIMITER_RECIPIENTS && u->has_recipients)))
            continue;
        out->w[out->n++] = base->w[i];
    }
    for (size_t i = 0; u && i < u->l.n && out->n < LIMITER_MAX_WINDOWS; i++)
        out->w[out->n++] = u->l.w[i];
    return out->n > 0;
}

static uint64_t quota_parse_count(const struct proto_value *v)
{
    char *end;
    unsigned long long n;

    if (v->len == 0 || v->len > 9)
        return 0;
    n = strtoull(v->ptr, &end, 10);
    return *end == '\0' ? (uint64_t)n : 0;
}

int quota_decide(const struct decide_env *env, const struct proto_request *req, struct decision *d,
                 uint64_t t0_us, decide_done_fn done, void *arg)
{
    const struct quota_conf *q = &env->conf->quota;
    const struct proto_value *inst = &req->v[PA_INSTANCE], *user = &req->v[PA_SASL_USERNAME];
    struct quota_session *s;
    struct quota_op *op;
    uint64_t now = quota_now_ms(), sender;

    if (rt == NULL || !q->enabled || d->role < 0 || d->role >= QUOTA_ROLES ||
        (d->state != PSTATE_RCPT && d->state != PSTATE_EOM) || inst->len >= QUOTA_INSTANCE_MAX)
        return 1;
    op = quota_op_new();
    if (op == NULL)
        return 1;
    op->role = d->role;
    op->is_user = user->len > 0;
    op->plen = quota_principal(q, user->ptr, user->len, req->v[PA_CLIENT_ADDRESS].ptr,
                               req->v[PA_CLIENT_ADDRESS].len, op->principal, sizeof(op->principal));
    if (op->plen == 0 || !quota_limits(q, req, d->role, op->principal, &op->l)) {
        quota_op_free(op);
        return 1;
    }
    op->conf = policyd_conf_ref(env->conf);
    op->t0_us = t0_us;
    memcpy(op->instance, inst->ptr, inst->len + 1);
    s = quota_session(req, now, q->reservation_ttl_ms);
    s->last_ms = now;
    sender = limiter_hash(req->v[PA_SENDER].ptr, req->v[PA_SENDER].len);
    if (d->state == PSTATE_RCPT) {
        /* A new MAIL FROM, or another instance, is another transaction. */
        if (s->txid == 0 || s->sender != sender ||
            (s->instance[0] && strcmp(s->instance, op->instance) != 0)) {
            op->release = s->txid;
            s->txid = quota_new_txid();
            s->rcpts = 0;
            s->granted = 0;
            s->sender = sender;
        } else if (s->rcpts < s->granted && now < s->granted_end) {
            /* Within the transaction's grant: reserved in the store already. */
            s->rcpts++;
            rt->c.checks_granted++;
            policyd_conf_unref(op->conf);
            quota_op_free(op);
            return 1;
        }
        memcpy(s->instance, op->instance, inst->len + 1);
        op->kind = QUOTA_REDIS_CHECK;
        op->txid = s->txid;
        op->session_key = s->key;
        op->cost.messages = 1;
        op->cost.recipients = s->rcpts + 1;
        op->d = d;
        op->done = done;
        op->arg = arg;
    } else {
        op->kind = QUOTA_REDIS_COMMIT;
        /* The first RCPT of a transaction often has no instance yet
         * (smtpd_delay_open_until_valid_rcpt): an empty one matches. */
        op->txid = (s->txid && s->sender == sender &&
                    (s->instance[0] == '\0' || strcmp(s->instance, op->instance) == 0))
                       ? s->txid
                       : 0;
        op->cost.messages = 1;
        op->cost.recipients = quota_parse_count(&req->v[PA_RECIPIENT_COUNT]);
        if (op->cost.recipients == 0)
            op->cost.recipients = 1;
        s->txid = 0; /* the next RCPT starts a new transaction */
        s->rcpts = 0;
        s->granted = 0;
    }
    if (quota_run(op)) {
        if (op->d) {
            op->done = NULL; /* final now: decide_request observes metrics */
            policyd_conf_unref(op->conf);
            quota_op_free(op);
            return 1;
        }
        quota_finish(op);
        return 1;
    }
    /* Commits do not make Postfix wait: the store's order keeps them first. */
    return op->d == NULL;
}

void quota_counters(struct quota_counters *out)
{
    if (rt == NULL) {
        memset(out, 0, sizeof(*out));
        return;
    }
    *out = rt->c;
    if (rt->redis) {
        const struct quota_redis_stats *st = quota_redis_stats(rt->redis);
        out->redis_requests = st->requests;
        out->redis_errors = st->errors;
        out->redis_timeouts = st->timeouts;
        out->redis_noscript = st->noscript;
        out->redis_reconnects = st->reconnects;
        out->redis_up = st->connected;
    }
    out->memory_principals = store_mem_count(rt->mem);
    out->memory_evictions = store_mem_evictions(rt->mem);
}
