/*
 * verify.c - login and gate decisions (see verify.h for the order of
 * checks and the ownership rules).
 *
 * Public: verify_worker_new, verify_worker_free, verify_login, verify_gate,
 * verify_addr_from_ipport. All request fields are untrusted and
 * length-delimited; they reach LDAP only through ldap_pool (RFC 4515
 * escaping) and Redis only as keys built by lockout_keys_make.
 */
#include "verify.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd_redis.h"
#include "ldap_pool.h"
#include "lockout.h"

struct verify_worker {
    struct authd_cfg *cfg; /* the snapshot the connections below follow */
    struct ldap_pool *ldap;
    struct authd_redis *redis;     /* NULL without redis_server / redis_sentinels */
    struct lockmirror_front front; /* the lock mirror in front of redis */
};

struct verify_worker *verify_worker_new(void)
{
    return calloc(1, sizeof(struct verify_worker));
}

/* Drop the connections (configuration change or exit). */
static void verify_worker_reset(struct verify_worker *w)
{
    ldap_pool_free(w->ldap);
    authd_redis_free(w->redis);
    authd_cfg_unref(w->cfg);
    w->ldap = NULL;
    w->redis = NULL;
    w->cfg = NULL;
}

void verify_worker_free(struct verify_worker *w)
{
    if (w == NULL)
        return;
    verify_worker_reset(w);
    free(w);
}

/* Follow the job's snapshot; reconnect when it changed. 0 or -1 (OOM). */
static int verify_worker_follow(struct verify_worker *w, struct authd_cfg *cfg)
{
    if (w->cfg && w->cfg->generation == cfg->generation)
        return 0;
    verify_worker_reset(w);
    w->cfg = authd_cfg_ref(cfg);
    w->ldap = ldap_pool_new(&cfg->ldap);
    if (cfg->store.server[0] || cfg->store.sentinels[0])
        w->redis = authd_redis_new(&cfg->store, cfg->redis_pw);
    if (w->ldap == NULL || ((cfg->store.server[0] || cfg->store.sentinels[0]) && !w->redis)) {
        verify_worker_reset(w);
        return -1;
    }
    return 0;
}

int verify_addr_from_ipport(const char *s, size_t len, char *dst, size_t dstlen)
{
    size_t i = len;

    while (i > 0 && s[i - 1] != ';')
        i--;
    if (i > 0)
        len = i - 1;
    if (len >= dstlen || memchr(s, '\0', len))
        return -1;
    memcpy(dst, s, len);
    dst[len] = '\0';
    return 0;
}

/* Set the outcome. */
static void verify_set(struct verify_outcome *out, enum verify_result r, const char *why)
{
    out->result = r;
    snprintf(out->reason, sizeof(out->reason), "%s", why);
}

/* The lockout principal: login or login@realm. */
static int verify_principal(const char *login, size_t llen, const char *realm, size_t rlen,
                            char *dst, size_t dstlen)
{
    int n = rlen ? snprintf(dst, dstlen, "%.*s@%.*s", (int)llen, login, (int)rlen, realm)
                 : snprintf(dst, dstlen, "%.*s", (int)llen, login);
    return n < 0 || (size_t)n >= dstlen ? -1 : n;
}

/* Build lockout keys; returns 0 with *active = 0 when lockout does not apply. */
static int verify_keys(const struct authd_cfg *cfg, const char *principal, size_t plen,
                       const char *addr, struct lockout_keys *keys, int *active)
{
    size_t alen = strlen(addr);

    *active = 0;
    if (alen && netset_contains(cfg->exempt, addr, alen))
        return 0; /* exempt network: never counted, never locked */
    if (lockout_keys_make(&cfg->lockout, principal, plen, addr, alen, keys) < 0)
        return -1;
    *active = 1;
    return 0;
}

/* Is a Redis store configured (the embedded one then only stands in)? */
static int verify_has_redis(const struct authd_cfg *cfg)
{
    return cfg->store.server[0] || cfg->store.sentinels[0];
}

/* The stores for this worker: Redis first (if any, behind the lock mirror
 * when that is on), the embedded one behind it. */
static void verify_stores(struct verify_worker *w, struct verify_shared *sh,
                          struct lockout_store *primary, struct lockout_store *fallback)
{
    struct lockout_store none = {NULL, NULL};

    *primary = none;
    if (w->redis && sh->mirror) {
        w->front.mirror = sh->mirror;
        w->front.inner = authd_redis_store(w->redis);
        *primary = lockmirror_front_store(&w->front);
    } else if (w->redis) {
        *primary = authd_redis_store(w->redis);
    }
    *fallback = lockout_mem_store(sh->mem);
}

/* Reject malformed fields before anything else sees them. */
static const char *verify_malformed(const struct mux_decoder *req)
{
    for (int i = 0; i < MUX_NFIELDS; i++)
        if (req->f[i].too_long)
            return "field too long";
    for (int i = 0; i < MUX_NFIELDS; i++)
        if (memchr(req->f[i].buf, '\0', req->f[i].len))
            return "NUL byte in a field";
    if (req->f[MUX_LOGIN].len == 0)
        return "empty login";
    if (req->f[MUX_PASSWORD].len == 0)
        return "empty password";
    return NULL;
}

/*
 * The checks that need no store and no LDAP: malformed input, login
 * policy, the lockout keys. 1 if that decided (*out set), else 0 with keys
 * and *active set.
 */
static int verify_login_local(const struct authd_cfg *cfg, const struct mux_decoder *req,
                              const char *addr, struct lockout_keys *keys, int *active,
                              struct verify_outcome *out)
{
    const struct mux_field *lg = &req->f[MUX_LOGIN], *rl = &req->f[MUX_REALM];
    const char *bad = verify_malformed(req);
    char principal[LOGIN_LEN_MAX + LOGIN_REALM_LEN + 2];
    enum login_verdict lv;
    int plen;

    memset(out, 0, sizeof(*out));
    if (bad) {
        verify_set(out, VERIFY_NO, bad);
        return 1;
    }
    lv = login_check(&cfg->login, lg->buf, lg->len, rl->buf, rl->len);
    if (lv != LOGIN_OK) {
        verify_set(out, VERIFY_NO, login_verdict_text(lv));
        return 1;
    }
    plen = verify_principal(lg->buf, lg->len, rl->buf, rl->len, principal, sizeof(principal));
    if (plen < 0 || verify_keys(cfg, principal, (size_t)plen, addr, keys, active) < 0) {
        verify_set(out, VERIFY_NO, "unusable user name or client address");
        return 1;
    }
    return 0;
}

/* The positive-cache view of a request. */
static struct pcache_req verify_cache_req(const struct mux_decoder *req)
{
    const struct mux_field *f = req->f;
    struct pcache_req cr = {f[MUX_LOGIN].buf,    f[MUX_REALM].buf,   f[MUX_SERVICE].buf,
                            f[MUX_PASSWORD].buf, f[MUX_LOGIN].len,   f[MUX_REALM].len,
                            f[MUX_SERVICE].len,  f[MUX_PASSWORD].len};
    return cr;
}

/*
 * The lock state as far as the event loop may know it without blocking:
 * with Redis configured, from the mirror only (fresh entries); without
 * Redis, from the embedded store, which is exact. 0 with *st and counts
 * set, or -1 when unknown.
 */
static int verify_fast_lock(struct verify_shared *sh, const struct authd_cfg *cfg,
                            const struct lockout_keys *keys, uint64_t now_ms,
                            enum lockout_state *st, long long counts[4], int *exact)
{
    struct lockout_store none = {NULL, NULL}, src;

    *exact = !verify_has_redis(cfg);
    if (*exact)
        src = lockout_mem_store(sh->mem);
    else if (sh->mirror)
        src = lockmirror_store(sh->mirror);
    else
        return -1;
    return lockout_check(&cfg->lockout, src, none, keys, now_ms, st, NULL, counts);
}

int verify_login_fast(struct verify_shared *sh, struct authd_cfg *cfg,
                      const struct mux_decoder *req, const char *addr, uint64_t now_ms,
                      struct verify_outcome *out)
{
    struct lockout_keys keys;
    enum lockout_state st = LOCKOUT_NONE;
    long long counts[4] = {0, 0, 0, 0};
    struct pcache_req cr;
    int active = 0, exact = 0;

    if (verify_login_local(cfg, req, addr, &keys, &active, out)) {
        out->on_loop = 1;
        return 1;
    }
    if (active && verify_fast_lock(sh, cfg, &keys, now_ms, &st, counts, &exact) < 0)
        return 0;
    if (st != LOCKOUT_NONE) {
        verify_set(out, VERIFY_TEMPFAIL, lockout_state_text(st));
        out->on_loop = 1;
        return 1;
    }
    if (sh->cache == NULL)
        return 0;
    cr = verify_cache_req(req);
    /* A hit that must write to Redis (a success clears the pair's counter)
     * goes to a worker; the embedded store is written here. */
    if (active && !exact && lockout_success_needed(&cfg->lockout, &keys, counts))
        return 0;
    if (!pcache_hit(sh->cache, &cr, now_ms))
        return 0;
    if (active && exact) {
        struct lockout_store none = {NULL, NULL};
        lockout_success(&cfg->lockout, none, lockout_mem_store(sh->mem), &keys, now_ms, NULL);
    }
    out->cached = 1;
    out->on_loop = 1;
    verify_set(out, VERIFY_OK, "cached");
    return 1;
}

void verify_login(struct verify_worker *w, struct verify_shared *sh, struct authd_cfg *cfg,
                  const struct mux_decoder *req, const char *addr, uint64_t now_ms,
                  struct verify_outcome *out)
{
    const struct mux_field *lg = &req->f[MUX_LOGIN], *pw = &req->f[MUX_PASSWORD];
    const struct mux_field *sv = &req->f[MUX_SERVICE], *rl = &req->f[MUX_REALM];
    char why[160];
    struct lockout_keys keys;
    struct lockout_store primary, fallback;
    enum lockout_state st = LOCKOUT_NONE;
    struct pcache_req cr = verify_cache_req(req);
    long long counts[4] = {0, 0, 0, 0};
    int active = 0, fb = 0;

    if (verify_login_local(cfg, req, addr, &keys, &active, out))
        return;
    if (verify_worker_follow(w, cfg) < 0) {
        verify_set(out, VERIFY_TEMPFAIL, "out of memory");
        return;
    }
    verify_stores(w, sh, &primary, &fallback);
    if (active &&
        lockout_check(&cfg->lockout, primary, fallback, &keys, now_ms, &st, &fb, counts) == 0 &&
        st != LOCKOUT_NONE) {
        out->fell_back = fb;
        verify_set(out, VERIFY_TEMPFAIL, lockout_state_text(st));
        return;
    }
    out->fell_back = fb;
    if (sh->cache && pcache_hit(sh->cache, &cr, now_ms)) {
        out->cached = 1;
        verify_set(out, VERIFY_OK, "cached");
        /* Cache hits need not refresh the known-good mark: the LDAP
         * verification at least once per cache TTL does. */
        if (active && !lockout_success_needed(&cfg->lockout, &keys, counts))
            return;
    } else {
        switch (ldap_pool_verify(w->ldap, lg->buf, lg->len, rl->buf, rl->len, sv->buf, sv->len,
                                 pw->buf, pw->len, sh->dncache, now_ms, why, sizeof(why))) {
        case LDAP_POOL_OK:
            verify_set(out, VERIFY_OK, why[0] ? why : "ldap bind");
            if (sh->cache)
                pcache_put(sh->cache, &cr, now_ms);
            break;
        case LDAP_POOL_BADAUTH:
            verify_set(out, VERIFY_NO, why);
            if (sh->cache)
                pcache_forget(sh->cache, &cr);
            break;
        case LDAP_POOL_TEMPFAIL:
            verify_set(out, VERIFY_TEMPFAIL, why);
            return; /* never counted */
        }
    }
    if (!active)
        return;
    if (out->result == VERIFY_OK) {
        lockout_success(&cfg->lockout, primary, fallback, &keys, now_ms, &fb);
    } else if (lockout_fail(&cfg->lockout, primary, fallback, &keys, now_ms, &st, &fb) == 0 &&
               st != LOCKOUT_NONE) {
        size_t n = strlen(out->reason);
        snprintf(out->reason + n, sizeof(out->reason) - n, "; now %s", lockout_state_text(st));
    }
    out->fell_back |= fb;
}

/*
 * The gate checks that need no store: login policy, the lockout keys, an
 * exempt network. 1 if that decided (*out set), else 0 with keys set.
 */
static int verify_gate_local(const struct authd_cfg *cfg, const struct gate_decoder *req,
                             const char *addr, struct lockout_keys *keys,
                             struct verify_outcome *out)
{
    const struct gate_field *u = &req->f[GATE_USER];
    const char *realm;
    size_t ulen, rlen;
    enum login_verdict lv;
    char principal[LOGIN_LEN_MAX + LOGIN_REALM_LEN + 2];
    int active = 0, plen;

    memset(out, 0, sizeof(*out));
    out->result = VERIFY_OK;
    out->gate = GATE_PROCEED;
    /* libsasl splits user@realm at the last '@' before the saslauthd
     * request; do the same so that both paths see the same principal. */
    login_split(u->buf, u->len, &ulen, &realm, &rlen);
    if (rlen == 0 && ulen == u->len) {
        realm = req->f[GATE_REALM].buf;
        rlen = req->f[GATE_REALM].len;
    }
    lv = login_check(&cfg->login, u->buf, ulen, realm, rlen);
    if (lv != LOGIN_OK) {
        out->gate = GATE_DENIED;
        verify_set(out, VERIFY_NO, login_verdict_text(lv));
        return 1;
    }
    plen = verify_principal(u->buf, ulen, realm, rlen, principal, sizeof(principal));
    if (plen < 0 || verify_keys(cfg, principal, (size_t)plen, addr, keys, &active) < 0) {
        verify_set(out, VERIFY_OK, "unusable address; proceed");
        return 1;
    }
    if (!active) {
        verify_set(out, VERIFY_OK, "exempt network");
        return 1;
    }
    return 0;
}

/* The gate's answer for a lock state. */
static void verify_gate_state(enum lockout_state st, struct verify_outcome *out)
{
    if (st != LOCKOUT_NONE) {
        out->gate = GATE_LOCKED;
        verify_set(out, VERIFY_TEMPFAIL, lockout_state_text(st));
    } else {
        verify_set(out, VERIFY_OK, "not locked");
    }
}

int verify_gate_fast(struct verify_shared *sh, struct authd_cfg *cfg,
                     const struct gate_decoder *req, const char *addr, uint64_t now_ms,
                     struct verify_outcome *out)
{
    struct lockout_keys keys;
    enum lockout_state st = LOCKOUT_NONE;
    long long counts[4];
    int exact;

    if (!verify_gate_local(cfg, req, addr, &keys, out)) {
        if (verify_fast_lock(sh, cfg, &keys, now_ms, &st, counts, &exact) < 0)
            return 0;
        verify_gate_state(st, out);
    }
    out->on_loop = 1;
    return 1;
}

void verify_gate(struct verify_worker *w, struct verify_shared *sh, struct authd_cfg *cfg,
                 const struct gate_decoder *req, const char *addr, uint64_t now_ms,
                 struct verify_outcome *out)
{
    struct lockout_keys keys;
    struct lockout_store primary, fallback;
    enum lockout_state st = LOCKOUT_NONE;

    if (verify_gate_local(cfg, req, addr, &keys, out))
        return;
    if (verify_worker_follow(w, cfg) < 0) {
        verify_set(out, VERIFY_OK, "out of memory; proceed");
        return;
    }
    verify_stores(w, sh, &primary, &fallback);
    if (lockout_check(&cfg->lockout, primary, fallback, &keys, now_ms, &st, &out->fell_back, NULL) <
        0) {
        verify_set(out, VERIFY_OK, "counter store failed; proceed");
        return;
    }
    verify_gate_state(st, out);
}
