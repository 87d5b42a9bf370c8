/*
 * lockout - brute-force limits for SMTP AUTH: failed verifications counted
 * per (user, client IP), per client IP and per user, each with its own
 * threshold, counting window and lock time.
 *
 * Design (documented for admins in portreeve-authd(8)):
 *   - Only verification failures count (LDAP said no, or no such user);
 *     temporary failures never do.
 *   - A counter starts with the first failure and lives for its window; when
 *     it reaches its limit its lifetime becomes the lock time. While any
 *     counter is at its limit the attempt is refused without contacting LDAP.
 *   - A success clears the (user, IP) counter and marks the pair "known
 *     good" for known_ttl. The per-user lock does not apply to a known-good
 *     pair: an attacker elsewhere can slow the victim's account down for
 *     everyone else, but not lock the real user out of the places they
 *     normally log in from. All locks answer with a temporary failure (454),
 *     never with "wrong password".
 *   - IPv6 clients are grouped by prefix (default /64).
 *
 * Keys: <prefix>:v1:af:uip:{<user>}:<ip>, <prefix>:v1:af:ip:{<ip>},
 * <prefix>:v1:af:u:{<user>}, <prefix>:v1:af:ok:{<user>}:<ip>. Users are
 * lower-cased. Every key has a TTL.
 *
 * The counters live in a store behind a small vtable (Redis, or the
 * embedded lockout_mem). lockout_* functions take "now" so that tests can
 * drive a fake clock. Library-safe: no logging, no exit.
 */
#ifndef PORTREEVE_LOCKOUT_H
#define PORTREEVE_LOCKOUT_H

#include <stddef.h>
#include <stdint.h>

#define LOCKOUT_KEY_MAX 1024

enum lockout_scope { LOCKOUT_USER_IP, LOCKOUT_IP, LOCKOUT_USER, LOCKOUT_NSCOPES };

struct lockout_rule {
    long long limit;     /* failures that lock; 0 disables the scope */
    long long window_ms; /* how long a counter lives before it locks */
    long long lock_ms;   /* how long a lock lasts */
};

struct lockout_params {
    struct lockout_rule rule[LOCKOUT_NSCOPES];
    long long known_ttl_ms; /* 0: no known-good pairs */
    unsigned v6_prefix;     /* IPv6 grouping, 1..128 */
    char prefix[40];        /* redis_key_prefix */
};

/* The keys of one attempt; ip_known is 0 when the client address is unknown. */
struct lockout_keys {
    char k[LOCKOUT_NSCOPES + 1][LOCKOUT_KEY_MAX]; /* indexed by scope, then "ok" */
    int ip_known;
};
#define LOCKOUT_KEY_OK LOCKOUT_NSCOPES

/* A counter store. Each operation returns 0, or -1 when the backend fails. */
struct lockout_store_ops {
    /* Counts of the n keys (0 when absent). */
    int (*get)(void *ctx, const char *const *keys, size_t n, long long *counts, uint64_t now_ms);
    /* Count one failure in each key under its rule; new counts out. */
    int (*fail)(void *ctx, const char *const *keys, const struct lockout_rule *rules, size_t n,
                long long *counts, uint64_t now_ms);
    /* Delete del_key; if set_key, set it with a TTL of ttl_ms. */
    int (*success)(void *ctx, const char *del_key, const char *set_key, long long ttl_ms,
                   uint64_t now_ms);
};

struct lockout_store {
    const struct lockout_store_ops *ops;
    void *ctx;
};

enum lockout_state { LOCKOUT_NONE, LOCKOUT_LOCKED_USER_IP, LOCKOUT_LOCKED_IP, LOCKOUT_LOCKED_USER };

/*
 * Build the keys for user (login[@realm], untrusted, length-delimited) and
 * the client address (text as Postfix gives it, or NULL/empty if unknown).
 * Returns 0, or -1 if the address does not parse or a key would not fit.
 */
int lockout_keys_make(const struct lockout_params *p, const char *user, size_t ulen,
                      const char *addr, size_t alen, struct lockout_keys *out);

/* The decision from the four counts (uip, ip, user, ok). Pure. */
enum lockout_state lockout_decide(const struct lockout_params *p, const long long counts[4]);

/*
 * Check, record a failure, record a success. Each tries the primary store
 * and uses the fallback store when it fails (either may have ops NULL:
 * absent); *fell_back (may be NULL) says so. Return -1 only when both
 * fail. lockout_check also gives the four counts it decided on (uip, ip,
 * user, ok; may be NULL) for lockout_success_needed.
 */
int lockout_check(const struct lockout_params *p, struct lockout_store primary,
                  struct lockout_store fallback, const struct lockout_keys *keys, uint64_t now_ms,
                  enum lockout_state *state, int *fell_back, long long counts[4]);
int lockout_fail(const struct lockout_params *p, struct lockout_store primary,
                 struct lockout_store fallback, const struct lockout_keys *keys, uint64_t now_ms,
                 enum lockout_state *state_after, int *fell_back);
int lockout_success(const struct lockout_params *p, struct lockout_store primary,
                    struct lockout_store fallback, const struct lockout_keys *keys, uint64_t now_ms,
                    int *fell_back);

/*
 * Would lockout_success change anything, given the counts a check just
 * read? Not when the address is unknown, nor when the (user, IP) counter is
 * already zero and the pair is already marked known-good (or marking is
 * off). Lets a cache hit skip the store write. Pure.
 */
int lockout_success_needed(const struct lockout_params *p, const struct lockout_keys *keys,
                           const long long counts[4]);

const char *lockout_state_text(enum lockout_state s);

#endif
