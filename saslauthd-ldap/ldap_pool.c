/*
 * ldap_pool.c - per-worker LDAP connections and search-then-bind
 * verification (see ldap_pool.h for the contract).
 *
 * Public: ldap_pool_new, ldap_pool_free, ldap_pool_verify, ldap_pool_filter,
 * ldap_pool_check_filter, ldap_pool_check_uri. Logins and realms are
 * untrusted: they reach the filter only through ldap_bv2escaped_filter_value
 * and are never part of a DN we build (the DN comes from the server). No
 * global (NULL-handle) libldap option is ever set.
 */
#include "ldap_pool.h"

#include <ldap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

struct ldap_pool {
    const struct ldap_pool_conf *conf;
    LDAP *search; /* bound as the service DN */
    LDAP *bind;   /* rebound as each user */
};

struct ldap_pool *ldap_pool_new(const struct ldap_pool_conf *conf)
{
    struct ldap_pool *p = calloc(1, sizeof(*p));

    if (p)
        p->conf = conf;
    return p;
}

/* Close one handle. */
static void ldap_pool_close(LDAP **ld)
{
    if (*ld)
        ldap_unbind_ext_s(*ld, NULL, NULL);
    *ld = NULL;
}

void ldap_pool_free(struct ldap_pool *p)
{
    if (p == NULL)
        return;
    ldap_pool_close(&p->search);
    ldap_pool_close(&p->bind);
    free(p);
}

/* Errors after which the connection is not worth keeping. */
static int ldap_pool_transport_error(int rc)
{
    return rc == LDAP_SERVER_DOWN || rc == LDAP_TIMEOUT || rc == LDAP_CONNECT_ERROR ||
           rc == LDAP_UNAVAILABLE || rc == LDAP_BUSY || rc == LDAP_LOCAL_ERROR ||
           rc == LDAP_TIMELIMIT_EXCEEDED || rc == LDAP_OTHER || rc == LDAP_NO_MEMORY;
}

/* Set the per-handle options: protocol, timeouts, referrals, TLS. */
static int ldap_pool_options(const struct ldap_pool_conf *c, LDAP *ld, char *why, size_t whylen)
{
    int v3 = LDAP_VERSION3, zero = 0;
    struct timeval net = {(time_t)(c->connect_timeout_ms / 1000),
                          (suseconds_t)(c->connect_timeout_ms % 1000 * 1000)};
    struct timeval op = {(time_t)(c->timeout_ms / 1000),
                         (suseconds_t)(c->timeout_ms % 1000 * 1000)};
    int req = c->require_cert ? LDAP_OPT_X_TLS_DEMAND : LDAP_OPT_X_TLS_NEVER;
    int tlsmin = LDAP_OPT_X_TLS_PROTOCOL_TLS1_2;

    if (ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_REFERRALS, LDAP_OPT_OFF) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_NETWORK_TIMEOUT, &net) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_TIMEOUT, &op) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_X_TLS_REQUIRE_CERT, &req) != LDAP_OPT_SUCCESS ||
        ldap_set_option(ld, LDAP_OPT_X_TLS_PROTOCOL_MIN, &tlsmin) != LDAP_OPT_SUCCESS) {
        snprintf(why, whylen, "cannot set LDAP options");
        return -1;
    }
    if (c->ca_file[0] &&
        ldap_set_option(ld, LDAP_OPT_X_TLS_CACERTFILE, c->ca_file) != LDAP_OPT_SUCCESS) {
        snprintf(why, whylen, "cannot set the LDAP CA file");
        return -1;
    }
    /* Per-handle TLS settings take effect only in a new TLS context; this
     * reads the CA file, so a missing or unreadable one fails here. */
    if (ldap_set_option(ld, LDAP_OPT_X_TLS_NEWCTX, &zero) != LDAP_OPT_SUCCESS) {
        snprintf(why, whylen, "cannot create the LDAP TLS context (authd_ldap_tls_ca_file = %s)",
                 c->ca_file[0] ? c->ca_file : "system default");
        return -1;
    }
    return 0;
}

/* Simple bind; a NULL password means an anonymous connection (no bind). */
static int ldap_pool_simple_bind(LDAP *ld, const char *dn, const char *pw, size_t pwlen)
{
    struct berval cred;

    cred.bv_val = (char *)(uintptr_t)pw; /* libldap does not write it */
    cred.bv_len = pwlen;
    return ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL);
}

/*
 * Buffer what the server sends. libldap 2.5 reads each message from a TCP
 * connection in two or three read(2) calls (tag and length first, then the
 * rest); with liblber's read-ahead layer one read usually takes a whole
 * reply, or several (a search entry and its "done"), and a reply already
 * buffered needs no poll(2) either. The layer sits at the provider level,
 * below TLS, so it only ever sees bytes as they come off the socket. A
 * failure here only costs speed.
 */
static void ldap_pool_readahead(LDAP *ld)
{
    Sockbuf *sb = NULL;

    if (ldap_get_option(ld, LDAP_OPT_SOCKBUF, &sb) != LDAP_OPT_SUCCESS || sb == NULL)
        return;
    if (ber_sockbuf_ctrl(sb, LBER_SB_OPT_HAS_IO, &ber_sockbuf_io_readahead) == 0)
        ber_sockbuf_add_io(sb, &ber_sockbuf_io_readahead, LBER_SBIOD_LEVEL_PROVIDER, NULL);
}

/* Whether a URI list has an ldaps:// URI (TLS from the start). */
static int ldap_pool_has_ldaps(const char *uri)
{
    for (const char *s = uri; *s; s++)
        if (strncasecmp(s, "ldaps://", 8) == 0)
            return 1;
    return 0;
}

/*
 * Say why opening a connection failed at connect or at StartTLS (rc is
 * libldap's or, when positive, the server's code). libldap reports an
 * untrusted certificate, a certificate for another host and a failed
 * handshake as "Can't contact LDAP server" or "Connect error", the same
 * as a server that is down, and its diagnostic message (with GnuTLS only
 * "(unknown error code)") does not tell them apart either; but it sets
 * that message only once a TLS handshake was tried. So a failure with a
 * message on a TLS connection is named as a TLS failure, with the settings
 * to check. The message is escaped: after a refused StartTLS it is the
 * server's text.
 */
static void ldap_pool_open_why(LDAP *ld, const struct ldap_pool_conf *c, int at_starttls, int rc,
                               char *why, size_t whylen)
{
    char *msg = NULL, diag[80];
    int refused = at_starttls && rc > 0; /* the server's answer, not a local failure */
    const char *step = refused       ? "StartTLS refused by the server"
                       : at_starttls ? "StartTLS failed"
                                     : "connect";

    if (ldap_get_option(ld, LDAP_OPT_DIAGNOSTIC_MESSAGE, &msg) != LDAP_OPT_SUCCESS)
        msg = NULL;
    util_escape(diag, sizeof(diag), msg ? msg : "", msg ? strlen(msg) : 0);
    if (msg)
        ldap_memfree(msg);
    if (diag[0] && !refused && (at_starttls || ldap_pool_has_ldaps(c->uri)))
        snprintf(why, whylen, "%s: TLS handshake failed%s: %s", step,
                 c->require_cert ? " (certificate from a CA in authd_ldap_tls_ca_file, for the "
                                   "host in authd_ldap_uri?)"
                                 : "",
                 diag);
    else
        snprintf(why, whylen, "%s: %s%s%s%s", step, ldap_err2string(rc), diag[0] ? " (" : "", diag,
                 diag[0] ? ")" : "");
}

/* Open a handle (StartTLS if configured) and, for search, bind as the service. */
static int ldap_pool_open(const struct ldap_pool_conf *c, LDAP **out, int service_bind, char *why,
                          size_t whylen)
{
    LDAP *ld = NULL;
    int rc = ldap_initialize(&ld, c->uri);

    if (rc != LDAP_SUCCESS) {
        snprintf(why, whylen, "ldap_initialize: %s", ldap_err2string(rc));
        return rc;
    }
    if (ldap_pool_options(c, ld, why, whylen) < 0) {
        ldap_unbind_ext_s(ld, NULL, NULL);
        return LDAP_LOCAL_ERROR;
    }
    /* Connect now (ldaps:// also does its TLS handshake here), so that the
     * read-ahead layer goes in before the first request. */
    rc = ldap_connect(ld);
    if (rc != LDAP_SUCCESS) {
        ldap_pool_open_why(ld, c, 0, rc, why, whylen);
        ldap_unbind_ext_s(ld, NULL, NULL);
        return ldap_pool_transport_error(rc) ? rc : LDAP_CONNECT_ERROR;
    }
    ldap_pool_readahead(ld);
    /* An ldaps:// server in the list already speaks TLS: StartTLS on top
     * would fail ("Local error") on every connection to it. */
    if (c->starttls && !ldap_tls_inplace(ld)) {
        rc = ldap_start_tls_s(ld, NULL, NULL);
        if (rc != LDAP_SUCCESS) {
            /* Never continue in cleartext. */
            ldap_pool_open_why(ld, c, 1, rc, why, whylen);
            ldap_unbind_ext_s(ld, NULL, NULL);
            return LDAP_CONNECT_ERROR;
        }
    }
    if (service_bind && c->bind_dn[0]) {
        const char *pw = c->bind_pw ? c->bind_pw : "";
        rc = ldap_pool_simple_bind(ld, c->bind_dn, pw, strlen(pw));
        if (rc != LDAP_SUCCESS) {
            snprintf(why, whylen, "service bind as %s: %s", c->bind_dn, ldap_err2string(rc));
            ldap_unbind_ext_s(ld, NULL, NULL);
            /* A refused service bind is a configuration problem: temporary
             * for the user, never "wrong password". */
            return ldap_pool_transport_error(rc) ? rc : LDAP_CONNECT_ERROR;
        }
    }
    *out = ld;
    return LDAP_SUCCESS;
}

/* Append an escaped value to the filter. */
static int ldap_pool_put_escaped(char *out, size_t outlen, size_t *o, const char *v, size_t n)
{
    struct berval in, esc;
    int ok;

    in.bv_val = (char *)(uintptr_t)v;
    in.bv_len = n;
    esc.bv_val = NULL;
    if (ldap_bv2escaped_filter_value(&in, &esc) != 0)
        return -1;
    ok = esc.bv_len < outlen - *o;
    if (ok) {
        memcpy(out + *o, esc.bv_val, esc.bv_len);
        *o += esc.bv_len;
    }
    ber_memfree(esc.bv_val);
    return ok ? 0 : -1;
}

int ldap_pool_filter(const char *tmpl, const char *login, size_t llen, const char *realm,
                     size_t rlen, const char *service, size_t slen, char *out, size_t outlen)
{
    size_t o = 0;

    if (outlen == 0)
        return -1;
    for (const char *t = tmpl; *t; t++) {
        if (*t != '%') {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = *t;
            continue;
        }
        t++;
        if (*t == '%') {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = '%';
        } else if (*t == 'u') {
            if (ldap_pool_put_escaped(out, outlen, &o, login, llen) < 0)
                return -1;
        } else if (*t == 'r') {
            if (ldap_pool_put_escaped(out, outlen, &o, realm, rlen) < 0)
                return -1;
        } else if (*t == 's') {
            if (ldap_pool_put_escaped(out, outlen, &o, service, slen) < 0)
                return -1;
        } else {
            return -1;
        }
    }
    out[o] = '\0';
    return 0;
}

int ldap_pool_check_filter(const char *tmpl, char *err, size_t errlen)
{
    char out[LDAP_POOL_FILTER_MAX];
    int has_u = strstr(tmpl, "%u") != NULL;

    if (ldap_pool_filter(tmpl, "x", 1, "y", 1, "z", 1, out, sizeof(out)) < 0) {
        snprintf(err, errlen, "bad template (use %%u, %%r, %%s, %%%%)");
        return -1;
    }
    if (!has_u || out[0] != '(') {
        snprintf(err, errlen, "want a filter in parentheses that uses %%u");
        return -1;
    }
    return 0;
}

int ldap_pool_check_uri(const char *uri, char *err, size_t errlen)
{
    const char *s = uri;
    int n = 0;

    while (*s) {
        char one[512];
        size_t len;
        LDAPURLDesc *d = NULL;
        s += strspn(s, " \t,");
        len = strcspn(s, " \t,");
        if (len == 0)
            break;
        if (len >= sizeof(one)) {
            snprintf(err, errlen, "URI longer than %zu bytes", sizeof(one) - 1);
            return -1;
        }
        memcpy(one, s, len);
        one[len] = '\0';
        s += len;
        if (ldap_url_parse(one, &d) != LDAP_URL_SUCCESS) {
            snprintf(err, errlen, "\"%s\" is not an ldap://, ldaps:// or ldapi:// URI", one);
            return -1;
        }
        ldap_free_urldesc(d);
        n++;
    }
    if (n == 0) {
        snprintf(err, errlen, "empty");
        return -1;
    }
    return 0;
}

/* Search for exactly one entry; its DN out (ldap_memfree it). */
static int ldap_pool_search(struct ldap_pool *p, const char *filter, char **dn, char *why,
                            size_t whylen)
{
    const struct ldap_pool_conf *c = p->conf;
    static const int scopes[] = {LDAP_SCOPE_BASE, LDAP_SCOPE_ONELEVEL, LDAP_SCOPE_SUBTREE};
    char *attrs[] = {(char *)(uintptr_t)LDAP_NO_ATTRS, NULL};
    struct timeval tv = {(time_t)(c->timeout_ms / 1000),
                         (suseconds_t)(c->timeout_ms % 1000 * 1000)};
    LDAPMessage *res = NULL, *e;
    int rc, n;

    *dn = NULL;
    if (p->search == NULL && (rc = ldap_pool_open(c, &p->search, 1, why, whylen)) != LDAP_SUCCESS)
        return rc;
    /* sizelimit 2: enough to see that a filter is ambiguous. */
    rc = ldap_search_ext_s(p->search, c->base, scopes[c->scope], filter, attrs, 0, NULL, NULL, &tv,
                           2, &res);
    if (rc != LDAP_SUCCESS && rc != LDAP_SIZELIMIT_EXCEEDED) {
        snprintf(why, whylen, "search: %s", ldap_err2string(rc));
        if (res)
            ldap_msgfree(res);
        return rc;
    }
    n = ldap_count_entries(p->search, res);
    if (rc == LDAP_SIZELIMIT_EXCEEDED || n > 1) {
        snprintf(why, whylen, "ambiguous: several entries match");
        ldap_msgfree(res);
        return LDAP_NO_SUCH_OBJECT;
    }
    if (n < 1) {
        snprintf(why, whylen, "no such user");
        ldap_msgfree(res);
        return LDAP_NO_SUCH_OBJECT;
    }
    e = ldap_first_entry(p->search, res);
    *dn = e ? ldap_get_dn(p->search, e) : NULL;
    ldap_msgfree(res);
    if (*dn == NULL) {
        snprintf(why, whylen, "entry without a DN");
        return LDAP_OTHER;
    }
    return LDAP_SUCCESS;
}

/* Bind as dn on the bind connection. */
static int ldap_pool_user_bind(struct ldap_pool *p, const char *dn, const char *pw, size_t pwlen,
                               char *why, size_t whylen)
{
    int rc;

    if (p->bind == NULL && (rc = ldap_pool_open(p->conf, &p->bind, 0, why, whylen)) != LDAP_SUCCESS)
        return rc;
    rc = ldap_pool_simple_bind(p->bind, dn, pw, pwlen);
    if (rc != LDAP_SUCCESS)
        snprintf(why, whylen, "bind: %s", ldap_err2string(rc));
    return rc;
}

/*
 * "No such user" (or several) must not answer faster than "wrong password":
 * the difference would let a client enumerate users. So make the same
 * second round trip a real verification makes: a simple bind, on the bind
 * connection, as a DN that does not exist, with a fixed password (the
 * user's password goes nowhere it was not meant for). The directory
 * answers invalid credentials; any answer is ignored, and a broken
 * connection is only closed (the next request reopens it).
 */
static void ldap_pool_dummy_bind(struct ldap_pool *p)
{
    static const char pw[] = "portreeve-authd-no-such-user";
    char dn[LDAP_POOL_FILTER_MAX], why[160];
    int n = snprintf(dn, sizeof(dn), "%s,%s", LDAP_POOL_DUMMY_RDN, p->conf->base);
    int rc;

    if (n < 0 || (size_t)n >= sizeof(dn))
        return;
    rc = ldap_pool_user_bind(p, dn, pw, sizeof(pw) - 1, why, sizeof(why));
    if (ldap_pool_transport_error(rc))
        ldap_pool_close(&p->bind);
}

/* Map a bind result: transport trouble is temporary, anything else is "no". */
static enum ldap_pool_result ldap_pool_bind_result(int rc)
{
    if (rc == LDAP_SUCCESS)
        return LDAP_POOL_OK;
    if (rc == LDAP_INVALID_CREDENTIALS || rc == LDAP_INAPPROPRIATE_AUTH ||
        rc == LDAP_UNWILLING_TO_PERFORM || rc == LDAP_INVALID_DN_SYNTAX ||
        rc == LDAP_NO_SUCH_OBJECT || rc == LDAP_CONSTRAINT_VIOLATION)
        return LDAP_POOL_BADAUTH;
    return LDAP_POOL_TEMPFAIL;
}

/* Search, with one reconnect. LDAP_SUCCESS with *dn (ldap_memfree it),
 * LDAP_NO_SUCH_OBJECT for none or several, else a failure (temporary). */
static int ldap_pool_find(struct ldap_pool *p, const char *filter, char **dn, char *why,
                          size_t whylen)
{
    int rc = LDAP_OTHER;

    for (int attempt = 0; attempt < 2; attempt++) {
        rc = ldap_pool_search(p, filter, dn, why, whylen);
        if (rc == LDAP_SUCCESS || !ldap_pool_transport_error(rc))
            break;
        ldap_pool_close(&p->search);
    }
    if (rc != LDAP_SUCCESS && rc != LDAP_NO_SUCH_OBJECT && !ldap_pool_transport_error(rc))
        ldap_pool_close(&p->search);
    return rc;
}

/* Bind as dn, with one reconnect; the mapped result. */
static enum ldap_pool_result ldap_pool_check(struct ldap_pool *p, const char *dn, const char *pw,
                                             size_t pwlen, char *why, size_t whylen)
{
    int rc = LDAP_OTHER;
    enum ldap_pool_result r;

    for (int attempt = 0; attempt < 2; attempt++) {
        rc = ldap_pool_user_bind(p, dn, pw, pwlen, why, whylen);
        if (!ldap_pool_transport_error(rc))
            break;
        ldap_pool_close(&p->bind);
    }
    r = ldap_pool_bind_result(rc);
    if (r == LDAP_POOL_TEMPFAIL)
        ldap_pool_close(&p->bind);
    if (r == LDAP_POOL_OK)
        why[0] = '\0'; /* not the error of an attempt that was retried */
    return r;
}

/* The DN cache key of a search: scope, base and filter. 0, or -1 if too long. */
static int ldap_pool_dnkey(const struct ldap_pool_conf *c, const char *filter, char *key,
                           size_t keylen)
{
    int n = snprintf(key, keylen, "%d\n%s\n%s", c->scope, c->base, filter);
    return n < 0 || (size_t)n >= keylen ? -1 : 0;
}

/*
 * A verification that starts with a cached DN: bind at once. Success is
 * final. A refusal is not: the DN may be stale, so search again (which
 * also gives "wrong password" its usual two round trips); the same DN
 * means the password is wrong, another DN is bound as usual.
 */
static enum ldap_pool_result ldap_pool_verify_cached(struct ldap_pool *p, struct dncache *dc,
                                                     const char *key, const char *cdn,
                                                     const char *filter, const char *pw,
                                                     size_t pwlen, uint64_t now_ms, char *why,
                                                     size_t whylen)
{
    enum ldap_pool_result r = ldap_pool_check(p, cdn, pw, pwlen, why, whylen);
    char first[160], *dn = NULL;
    int rc;

    if (r == LDAP_POOL_OK) {
        snprintf(why, whylen, "bind as the cached DN");
        return r;
    }
    dncache_forget(dc, key);
    if (r == LDAP_POOL_TEMPFAIL)
        return r;
    snprintf(first, sizeof(first), "%s", why);
    rc = ldap_pool_find(p, filter, &dn, why, whylen);
    if (rc == LDAP_NO_SUCH_OBJECT)
        return LDAP_POOL_BADAUTH;
    if (rc != LDAP_SUCCESS)
        return LDAP_POOL_TEMPFAIL;
    dncache_put(dc, key, dn, now_ms);
    if (strcmp(dn, cdn) == 0) {
        snprintf(why, whylen, "%s", first);
    } else {
        r = ldap_pool_check(p, dn, pw, pwlen, why, whylen);
    }
    ldap_memfree(dn);
    return r;
}

enum ldap_pool_result ldap_pool_verify(struct ldap_pool *p, const char *login, size_t llen,
                                       const char *realm, size_t rlen, const char *service,
                                       size_t slen, const char *password, size_t pwlen,
                                       struct dncache *dc, uint64_t now_ms, char *why,
                                       size_t whylen)
{
    char filter[LDAP_POOL_FILTER_MAX], key[DNCACHE_KEY_MAX], cdn[DNCACHE_DN_MAX];
    char *dn = NULL;
    int rc, keyed;
    enum ldap_pool_result r;

    why[0] = '\0';
    if (pwlen == 0) {
        snprintf(why, whylen, "empty password");
        return LDAP_POOL_BADAUTH;
    }
    if (ldap_pool_filter(p->conf->filter, login, llen, realm, rlen, service, slen, filter,
                         sizeof(filter)) < 0) {
        snprintf(why, whylen, "filter too long");
        return LDAP_POOL_BADAUTH;
    }
    keyed = dc && ldap_pool_dnkey(p->conf, filter, key, sizeof(key)) == 0;
    if (keyed && dncache_get(dc, key, cdn, sizeof(cdn), now_ms))
        return ldap_pool_verify_cached(p, dc, key, cdn, filter, password, pwlen, now_ms, why,
                                       whylen);
    rc = ldap_pool_find(p, filter, &dn, why, whylen);
    if (rc == LDAP_NO_SUCH_OBJECT) {
        ldap_pool_dummy_bind(p);
        return LDAP_POOL_BADAUTH;
    }
    if (rc != LDAP_SUCCESS)
        return LDAP_POOL_TEMPFAIL;
    if (keyed)
        dncache_put(dc, key, dn, now_ms);
    r = ldap_pool_check(p, dn, password, pwlen, why, whylen);
    ldap_memfree(dn);
    return r;
}
