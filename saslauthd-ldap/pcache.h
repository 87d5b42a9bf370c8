/*
 * pcache - the optional positive cache of portreeve-authd (off by default),
 * the equivalent of "saslauthd -c".
 *
 * A successful verification of (login, realm, service, password) is kept
 * for a short TTL as HMAC-SHA256 under a key drawn at random when the
 * process starts: never the password, never on disk, never in Redis, and
 * useless after a restart. A later request with the same four values is
 * answered without LDAP. A request with another password is not a hit (it
 * goes to LDAP), and a failed verification removes the user's entry, so a
 * wrong or new password is never answered from the cache. The trade-off:
 * after a password change, or after the account is disabled in LDAP, the
 * old password keeps working for up to the TTL.
 *
 * Fixed size, 4-way set-associative, one mutex; safe across threads.
 */
#ifndef PORTREEVE_PCACHE_H
#define PORTREEVE_PCACHE_H

#include <stddef.h>
#include <stdint.h>

struct pcache;

/* The four values of a request; lengths given, bytes untrusted. */
struct pcache_req {
    const char *login, *realm, *service, *password;
    size_t login_len, realm_len, service_len, password_len;
};

/* entries 1..1,000,000; NULL on allocation or randomness failure. */
struct pcache *pcache_new(size_t entries, long long ttl_ms);
void pcache_free(struct pcache *c);
/* 1 if the request matches a live entry. */
int pcache_hit(struct pcache *c, const struct pcache_req *r, uint64_t now_ms);
void pcache_put(struct pcache *c, const struct pcache_req *r, uint64_t now_ms);
/* Drop the entry for this login/realm/service, whatever its password. */
void pcache_forget(struct pcache *c, const struct pcache_req *r);

#endif
