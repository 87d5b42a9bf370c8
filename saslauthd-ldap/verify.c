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
    struct authd_redis *redis; /* NULL without redis_server / redis_sentinels */
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

/* The stores for this worker: Redis first (if any), the embedded one behind it. */
static void verify_stores(struct verify_worker *w, struct verify_shared *sh,
                          struct lockout_store *primary, struct lockout_store *fallback)
{
    struct lockout_store none = {NULL, NULL};

    *primary = w->redis ? authd_redis_store(w->redis) : none;
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

void verify_login(struct verify_worker *w, struct verify_shared *sh, struct authd_cfg *cfg,
                  const struct mux_decoder *req, const char *addr, uint64_t now_ms,
                  struct verify_outcome *out)
{
    const struct mux_field *lg = &req->f[MUX_LOGIN], *pw = &req->f[MUX_PASSWORD];
    const struct mux_field *sv = &req->f[MUX_SERVICE], *rl = &req->f[MUX_REALM];
    const char *bad = verify_malformed(req);
    char principal[LOGIN_LEN_MAX + LOGIN_REALM_LEN + 2], why[160];
    struct lockout_keys keys;
    struct lockout_store primary, fallback;
    enum lockout_state st = LOCKOUT_NONE;
    enum login_verdict lv;
    struct pcache_req cr = {lg->buf, rl->buf, sv->buf, pw->buf, lg->len, rl->len, sv->len, pw->len};
    int active = 0, fb = 0, plen;

    memset(out, 0, sizeof(*out));
    if (bad) {
        verify_set(out, VERIFY_NO, bad);
        return;
    }
    lv = login_check(&cfg->login, lg->buf, lg->len, rl->buf, rl->len);
    if (lv != LOGIN_OK) {
        verify_set(out, VERIFY_NO, login_verdict_text(lv));
        return;
    }
    if (verify_worker_follow(w, cfg) < 0) {
        verify_set(out, VERIFY_TEMPFAIL, "out of memory");
        return;
    }
    plen = verify_principal(lg->buf, lg->len, rl->buf, rl->len, principal, sizeof(principal));
    if (plen < 0 || verify_keys(cfg, principal, (size_t)plen, addr, &keys, &active) < 0) {
        verify_set(out, VERIFY_NO, "unusable user name or client address");
        return;
    }
    verify_stores(w, sh, &primary, &fallback);
    if (active && lockout_check(&cfg->lockout, primary, fallback, &keys, now_ms, &st, &fb) == 0 &&
        st != LOCKOUT_NONE) {
        out->fell_back = fb;
        verify_set(out, VERIFY_TEMPFAIL, lockout_state_text(st));
        return;
    }
    out->fell_back = fb;
    if (sh->cache && pcache_hit(sh->cache, &cr, now_ms)) {
        out->cached = 1;
        verify_set(out, VERIFY_OK, "cached");
    } else {
        switch (ldap_pool_verify(w->ldap, lg->buf, lg->len, rl->buf, rl->len, sv->buf, sv->len,
                                 pw->buf, pw->len, why, sizeof(why))) {
        case LDAP_POOL_OK:
            verify_set(out, VERIFY_OK, "ldap bind");
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

void verify_gate(struct verify_worker *w, struct verify_shared *sh, struct authd_cfg *cfg,
                 const struct gate_decoder *req, const char *addr, uint64_t now_ms,
                 struct verify_outcome *out)
{
    const struct gate_field *u = &req->f[GATE_USER];
    const char *realm;
    size_t ulen, rlen;
    enum login_verdict lv;
    struct lockout_keys keys;
    struct lockout_store primary, fallback;
    enum lockout_state st = LOCKOUT_NONE;
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
        return;
    }
    plen = verify_principal(u->buf, ulen, realm, rlen, principal, sizeof(principal));
    if (plen < 0 || verify_keys(cfg, principal, (size_t)plen, addr, &keys, &active) < 0) {
        verify_set(out, VERIFY_OK, "unusable address; proceed");
        return;
    }
    if (!active) {
        verify_set(out, VERIFY_OK, "exempt network");
        return;
    }
    if (verify_worker_follow(w, cfg) < 0) {
        verify_set(out, VERIFY_OK, "out of memory; proceed");
        return;
    }
    verify_stores(w, sh, &primary, &fallback);
    if (lockout_check(&cfg->lockout, primary, fallback, &keys, now_ms, &st, &out->fell_back) < 0) {
        verify_set(out, VERIFY_OK, "counter store failed; proceed");
        return;
    }
    if (st != LOCKOUT_NONE) {
        out->gate = GATE_LOCKED;
        verify_set(out, VERIFY_TEMPFAIL, lockout_state_text(st));
        return;
    }
    verify_set(out, VERIFY_OK, "not locked");
}
