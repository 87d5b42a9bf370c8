/*
 * ldap_bench - the baseline: what the directory allows with a bare libldap
 * client doing what a verifier must do (search for the user's DN as the
 * service account, then a simple bind as that DN), on persistent
 * connections, N threads for D seconds. Same output as mux_bench (the loop
 * and the line are authd_bench.c's); here "client cpu" is the verifier's
 * own CPU time per search+bind.
 *
 *   ldap_bench LABEL URI BASE BINDDN BINDPW THREADS SECONDS USERS
 */
#include <ldap.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authd_bench.h"

/* Where to search and as whom: argv[2..5]. */
struct ldap_bench_target {
    const char *uri, *base, *binddn, *bindpw;
};

/* One thread's persistent connections: one to search, one to bind users. */
struct ldap_bench_conn {
    const struct ldap_bench_target *target;
    LDAP *search, *bind;
};

/* A v3 connection to uri, bound as dn with pw when dn is set; NULL on error. */
static LDAP *ldap_bench_connect(const char *uri, const char *dn, const char *pw)
{
    LDAP *ld = NULL;
    int v3 = LDAP_VERSION3;
    struct berval cred = {0, NULL};

    if (ldap_initialize(&ld, uri) != LDAP_SUCCESS)
        return NULL;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
    if (dn) {
        cred.bv_val = (char *)(uintptr_t)pw;
        cred.bv_len = strlen(pw);
        if (ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL) != LDAP_SUCCESS) {
            ldap_unbind_ext_s(ld, NULL, NULL);
            return NULL;
        }
    }
    return ld;
}

/* Close whatever of c is open, and c. */
static void ldap_bench_close(void *arg)
{
    struct ldap_bench_conn *c = arg;

    if (c->search)
        ldap_unbind_ext_s(c->search, NULL, NULL);
    if (c->bind)
        ldap_unbind_ext_s(c->bind, NULL, NULL);
    free(c);
}

/* Both connections of one thread; NULL (the thread sends nothing) if either fails. */
static void *ldap_bench_open(void *arg)
{
    const struct ldap_bench_target *t = arg;
    struct ldap_bench_conn *c = calloc(1, sizeof(*c));

    if (c == NULL)
        return NULL;
    c->target = t;
    c->search = ldap_bench_connect(t->uri, t->binddn, t->bindpw);
    c->bind = ldap_bench_connect(t->uri, NULL, NULL);
    if (c->search == NULL || c->bind == NULL) {
        ldap_bench_close(c);
        return NULL;
    }
    return c;
}

/* Search user u's DN as the service account, then bind as it with pw-u. */
static enum authd_bench_result ldap_bench_auth(void *arg, long u)
{
    struct ldap_bench_conn *c = arg;
    char *attrs[] = {(char *)(uintptr_t) "1.1", NULL};
    char filter[64], pw[32];
    LDAPMessage *res = NULL, *e;
    char *dn = NULL;
    int ok = 0;

    snprintf(filter, sizeof(filter), "(&(objectClass=posixAccount)(uid=user%ld))", u);
    snprintf(pw, sizeof(pw), "pw-%ld", u);
    if (ldap_search_ext_s(c->search, c->target->base, LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL,
                          NULL, NULL, 2, &res) == LDAP_SUCCESS &&
        (e = ldap_first_entry(c->search, res)) && (dn = ldap_get_dn(c->search, e))) {
        struct berval cred = {strlen(pw), pw};
        ok = ldap_sasl_bind_s(c->bind, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL) ==
             LDAP_SUCCESS;
    }
    if (dn)
        ldap_memfree(dn);
    if (res)
        ldap_msgfree(res);
    return ok ? AUTHD_BENCH_OK : AUTHD_BENCH_FAIL;
}

int main(int argc, char **argv)
{
    struct ldap_bench_target target;
    struct authd_bench_client client = {
        .open = ldap_bench_open,
        .auth = ldap_bench_auth,
        .close = ldap_bench_close,
        .arg = &target,
    };

    if (argc != 9) {
        fprintf(stderr, "usage: ldap_bench LABEL URI BASE BINDDN BINDPW THREADS SECONDS USERS\n");
        return 2;
    }
    target.uri = argv[2];
    target.base = argv[3];
    target.binddn = argv[4];
    target.bindpw = argv[5];
    return authd_bench_main(argv[1], argv[6], argv[7], argv[8], &client);
}
