/*
 * lockout.c - brute-force lock decisions over a counter store (see
 * lockout.h for the design and the key layout).
 *
 * Public: lockout_keys_make, lockout_decide, lockout_check, lockout_fail,
 * lockout_success, lockout_state_text. User names and addresses are
 * untrusted; keys are bounded by LOCKOUT_KEY_MAX.
 */
#include "lockout.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

#include "netset.h"

/* Lower-case an untrusted user name into dst (no longer than LOCKOUT_KEY_MAX / 2). */
static int lockout_user(const char *user, size_t ulen, char *dst, size_t dstlen)
{
    if (ulen == 0 || ulen >= dstlen || memchr(user, '\0', ulen))
        return -1;
    for (size_t i = 0; i < ulen; i++)
        dst[i] = (char)tolower((unsigned char)user[i]);
    dst[ulen] = '\0';
    return 0;
}

/* Normalise the client address: IPv4 as is, IPv6 to its prefix. */
static int lockout_addr(const struct lockout_params *p, const char *addr, size_t alen, char *dst,
                        size_t dstlen)
{
    struct netaddr a;

    if (netaddr_parse(addr, alen, &a) < 0)
        return -1;
    return netaddr_prefix_text(&a, netaddr_is_v4(&a) ? 32 : p->v6_prefix, dst, dstlen);
}

int lockout_keys_make(const struct lockout_params *p, const char *user, size_t ulen,
                      const char *addr, size_t alen, struct lockout_keys *out)
{
    char u[LOCKOUT_KEY_MAX / 2], ip[64] = "";
    int n[LOCKOUT_NSCOPES + 1];

    memset(out, 0, sizeof(*out));
    if (lockout_user(user, ulen, u, sizeof(u)) < 0)
        return -1;
    out->ip_known = addr && alen > 0;
    if (out->ip_known && lockout_addr(p, addr, alen, ip, sizeof(ip)) < 0)
        return -1;
    n[LOCKOUT_USER_IP] = snprintf(out->k[LOCKOUT_USER_IP], LOCKOUT_KEY_MAX, "%s:v1:af:uip:{%s}:%s",
                                  p->prefix, u, ip);
    n[LOCKOUT_IP] =
        snprintf(out->k[LOCKOUT_IP], LOCKOUT_KEY_MAX, "%s:v1:af:ip:{%s}", p->prefix, ip);
    n[LOCKOUT_USER] =
        snprintf(out->k[LOCKOUT_USER], LOCKOUT_KEY_MAX, "%s:v1:af:u:{%s}", p->prefix, u);
    n[LOCKOUT_KEY_OK] =
        snprintf(out->k[LOCKOUT_KEY_OK], LOCKOUT_KEY_MAX, "%s:v1:af:ok:{%s}:%s", p->prefix, u, ip);
    for (int i = 0; i <= LOCKOUT_NSCOPES; i++)
        if (n[i] < 0 || n[i] >= LOCKOUT_KEY_MAX)
            return -1;
    return 0;
}

enum lockout_state lockout_decide(const struct lockout_params *p, const long long counts[4])
{
    const struct lockout_rule *r = p->rule;

    if (r[LOCKOUT_USER_IP].limit && counts[LOCKOUT_USER_IP] >= r[LOCKOUT_USER_IP].limit)
        return LOCKOUT_LOCKED_USER_IP;
    if (r[LOCKOUT_IP].limit && counts[LOCKOUT_IP] >= r[LOCKOUT_IP].limit)
        return LOCKOUT_LOCKED_IP;
    /* A known-good (user, IP) pair is not held back by the per-user lock. */
    if (r[LOCKOUT_USER].limit && counts[LOCKOUT_USER] >= r[LOCKOUT_USER].limit &&
        counts[LOCKOUT_KEY_OK] == 0)
        return LOCKOUT_LOCKED_USER;
    return LOCKOUT_NONE;
}

/* The keys and rules that apply: without an address only the per-user one. */
static size_t lockout_scopes(const struct lockout_params *p, const struct lockout_keys *keys,
                             const char *names[4], struct lockout_rule rules[3], long long *map)
{
    size_t n = 0;

    for (int s = 0; s < LOCKOUT_NSCOPES; s++) {
        if (!keys->ip_known && s != LOCKOUT_USER)
            continue;
        if (p->rule[s].limit == 0)
            continue;
        names[n] = keys->k[s];
        rules[n] = p->rule[s];
        map[n] = s;
        n++;
    }
    return n;
}

/* Run one store operation on the primary, else on the fallback. */
#define LOCKOUT_TRY(call_primary, call_fallback)                                                   \
    do {                                                                                           \
        if (fell_back)                                                                             \
            *fell_back = 0;                                                                        \
        if (primary.ops && (call_primary) == 0)                                                    \
            break;                                                                                 \
        if (fell_back)                                                                             \
            *fell_back = 1;                                                                        \
        if (fallback.ops == NULL || (call_fallback) < 0)                                           \
            return -1;                                                                             \
    } while (0)

int lockout_check(const struct lockout_params *p, struct lockout_store primary,
                  struct lockout_store fallback, const struct lockout_keys *keys, uint64_t now_ms,
                  enum lockout_state *state, int *fell_back, long long counts_out[4])
{
    const char *names[4];
    long long counts[4] = {0, 0, 0, 0};
    size_t n = 0;

    if (keys->ip_known) {
        names[n++] = keys->k[LOCKOUT_USER_IP];
        names[n++] = keys->k[LOCKOUT_IP];
    }
    names[n++] = keys->k[LOCKOUT_USER];
    names[n++] = keys->k[LOCKOUT_KEY_OK];
    {
        long long got[4] = {0, 0, 0, 0};
        LOCKOUT_TRY(primary.ops->get(primary.ctx, names, n, got, now_ms),
                    fallback.ops->get(fallback.ctx, names, n, got, now_ms));
        if (keys->ip_known) {
            counts[0] = got[0];
            counts[1] = got[1];
            counts[2] = got[2];
            counts[3] = got[3];
        } else {
            counts[LOCKOUT_USER] = got[0];
            counts[LOCKOUT_KEY_OK] = 0; /* no address, no known pair */
        }
    }
    *state = lockout_decide(p, counts);
    if (counts_out)
        memcpy(counts_out, counts, sizeof(counts));
    return 0;
}

int lockout_fail(const struct lockout_params *p, struct lockout_store primary,
                 struct lockout_store fallback, const struct lockout_keys *keys, uint64_t now_ms,
                 enum lockout_state *state_after, int *fell_back)
{
    const char *names[4];
    struct lockout_rule rules[3];
    long long map[3], got[3] = {0, 0, 0}, counts[4] = {0, 0, 0, 0};
    size_t n = lockout_scopes(p, keys, names, rules, map);

    if (n == 0) {
        *state_after = LOCKOUT_NONE;
        return 0;
    }
    LOCKOUT_TRY(primary.ops->fail(primary.ctx, names, rules, n, got, now_ms),
                fallback.ops->fail(fallback.ctx, names, rules, n, got, now_ms));
    for (size_t i = 0; i < n; i++)
        counts[map[i]] = got[i];
    /* The known-good mark is not read here; the next check reads it. */
    *state_after = lockout_decide(p, counts);
    return 0;
}

int lockout_success(const struct lockout_params *p, struct lockout_store primary,
                    struct lockout_store fallback, const struct lockout_keys *keys, uint64_t now_ms,
                    int *fell_back)
{
    const char *set = keys->ip_known && p->known_ttl_ms > 0 ? keys->k[LOCKOUT_KEY_OK] : NULL;

    if (!keys->ip_known)
        return 0;
    LOCKOUT_TRY(
        primary.ops->success(primary.ctx, keys->k[LOCKOUT_USER_IP], set, p->known_ttl_ms, now_ms),
        fallback.ops->success(fallback.ctx, keys->k[LOCKOUT_USER_IP], set, p->known_ttl_ms,
                              now_ms));
    return 0;
}

int lockout_success_needed(const struct lockout_params *p, const struct lockout_keys *keys,
                           const long long counts[4])
{
    if (!keys->ip_known)
        return 0;
    if (counts[LOCKOUT_USER_IP] != 0)
        return 1;
    return p->known_ttl_ms > 0 && counts[LOCKOUT_KEY_OK] == 0;
}

const char *lockout_state_text(enum lockout_state s)
{
    switch (s) {
    case LOCKOUT_NONE:
        return "none";
    case LOCKOUT_LOCKED_USER_IP:
        return "user+ip locked";
    case LOCKOUT_LOCKED_IP:
        return "ip locked";
    case LOCKOUT_LOCKED_USER:
        return "user locked";
    }
    return "unknown";
}
