/*
 * ldap_pool - LDAP verification for portreeve-authd (the only file that
 * includes <ldap.h>).
 *
 * A struct ldap_pool is the set of connections one worker thread owns: a
 * search connection (bound as the service DN, or anonymous) and a separate
 * bind connection on which users are verified with a simple bind, so the
 * identity of the search connection never changes. Both are opened on first
 * use and kept; a connection that fails with a transport error is closed,
 * reopened once and the operation retried once; after that the request is
 * a temporary failure. Several URIs in authd_ldap_uri are tried in order
 * (libldap's own failover). StartTLS failure is fatal for the connection:
 * there is no cleartext fallback; a connection to an ldaps:// URI is TLS
 * already and skips StartTLS. Certificates are verified unless the
 * admin turns it off; TLS settings are per handle (LDAP_OPT_X_TLS_NEWCTX).
 *
 * Verification: search for exactly one entry with the filter template, the
 * login and realm escaped per RFC 4515; zero or several matches fail; then
 * bind as the entry's DN with the password, so every hash scheme the
 * directory supports works. The caller refuses empty passwords first (an
 * empty password would be an unauthenticated bind, RFC 4513 5.1.2).
 *
 * Timing: when the search finds no entry (or several), a bind as the DN
 * LDAP_POOL_DUMMY_RDN,<search base> (which must not exist) with a fixed
 * password is made before answering, so "no such user" costs the same two
 * round trips as "wrong password" and cannot be told apart by time.
 */
#ifndef PORTREEVE_LDAP_POOL_H
#define PORTREEVE_LDAP_POOL_H

#include <stddef.h>
#include <stdint.h>

#include "dncache.h"

#define LDAP_POOL_FILTER_MAX 2048
#define LDAP_POOL_DUMMY_RDN "cn=portreeve-authd-no-such-user"

struct ldap_pool_conf {
    const char *uri;     /* space-separated list */
    const char *base;    /* search base */
    int scope;           /* 0 base, 1 one, 2 sub */
    const char *filter;  /* template with %u, %r, %s, %% */
    const char *bind_dn; /* "" = anonymous search */
    const char *bind_pw; /* NULL or the service password */
    int starttls;        /* 1: StartTLS, mandatory */
    const char *ca_file; /* "" = system default */
    int require_cert;    /* 1: demand a valid certificate */
    long long connect_timeout_ms, timeout_ms;
};

enum ldap_pool_result { LDAP_POOL_OK, LDAP_POOL_BADAUTH, LDAP_POOL_TEMPFAIL };

struct ldap_pool;

/* The conf is referenced, not copied: keep it alive as long as the pool. */
struct ldap_pool *ldap_pool_new(const struct ldap_pool_conf *conf);
void ldap_pool_free(struct ldap_pool *p);

/*
 * Verify login[@realm] with password (all length-delimited, already free of
 * NUL bytes, password non-empty). why receives a short reason for the log
 * (never the password). dc (may be NULL) is the search-result cache: with
 * a live DN for this search the bind comes first and the search is
 * skipped on success; a refused bind is confirmed by a fresh search before
 * the answer is NO (so "wrong password" still costs two round trips).
 */
enum ldap_pool_result ldap_pool_verify(struct ldap_pool *p, const char *login, size_t llen,
                                       const char *realm, size_t rlen, const char *service,
                                       size_t slen, const char *password, size_t pwlen,
                                       struct dncache *dc, uint64_t now_ms, char *why,
                                       size_t whylen);

/*
 * Expand a filter template: %u login, %r realm, %s service (each escaped
 * per RFC 4515), %% a percent sign. Returns 0, or -1 if the template is bad
 * or the result would not fit in outlen.
 */
int ldap_pool_filter(const char *tmpl, const char *login, size_t llen, const char *realm,
                     size_t rlen, const char *service, size_t slen, char *out, size_t outlen);
/* Check a template at configuration time; 0 or -1 with a reason. */
int ldap_pool_check_filter(const char *tmpl, char *err, size_t errlen);
/* Check a URI list with ldap_url_parse; 0 or -1 with a reason. */
int ldap_pool_check_uri(const char *uri, char *err, size_t errlen);

#endif
