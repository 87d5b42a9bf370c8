/*
 * authd_conf.c - the authd_* settings table and the snapshot loader (see
 * authd_conf.h).
 *
 * Public: authd_conf_entries, authd_cfg_load, authd_cfg_ref,
 * authd_cfg_unref, authd_conf_print, authd_conf_read_secret. Every error
 * names the key and the value. Secrets are read from files whose mode
 * denies group and others, and are wiped when the snapshot goes.
 */
#include "authd_conf.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "conf_check.h"
#include "util.h"

static const char *const authd_conf_foreign[] = {"policyd_", NULL};

/* authd_ldap_scope: base, one or sub. */
static int authd_conf_check_scope(const struct conf_entry *e, const char *v, char *err,
                                  size_t errlen)
{
    (void)e;
    if (strcmp(v, "base") && strcmp(v, "one") && strcmp(v, "sub")) {
        snprintf(err, errlen, "want base, one or sub");
        return -1;
    }
    return 0;
}

static int authd_conf_check_filter(const struct conf_entry *e, const char *v, char *err,
                                   size_t errlen)
{
    (void)e;
    return ldap_pool_check_filter(v, err, errlen);
}

static int authd_conf_check_uri(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    (void)e;
    return ldap_pool_check_uri(v, err, errlen);
}

static int authd_conf_check_chars(const struct conf_entry *e, const char *v, char *err,
                                  size_t errlen)
{
    struct login_policy p;

    (void)e;
    return login_policy_init(&p, v, 1, "", err, errlen);
}

static int authd_conf_check_realms(const struct conf_entry *e, const char *v, char *err,
                                   size_t errlen)
{
    struct login_policy p;

    (void)e;
    return login_policy_init(&p, LOGIN_DEFAULT_CHARS, 1, v, err, errlen);
}

/* Socket paths must be absolute and fit in sun_path. */
static int authd_conf_check_socket(const struct conf_entry *e, const char *v, char *err,
                                   size_t errlen)
{
    (void)e;
    if (v[0] == '\0' && strcmp(e->name, "authd_gate_socket") == 0)
        return 0;
    if (v[0] != '/' || strlen(v) >= 108) {
        snprintf(err, errlen, "want an absolute path shorter than 108 bytes");
        return -1;
    }
    return 0;
}

#define AS(f) offsetof(struct authd_settings, f)
#define H 3600000LL
const struct conf_entry authd_conf_entries[] = {
    {"authd_mux_socket", CONF_STR, "/var/spool/postfix/var/run/portreeve/mux", 0, 0, AS(mux_socket),
     authd_conf_check_socket, "saslauthd-protocol socket (smtpd.conf saslauthd_path)"},
    {"authd_gate_socket", CONF_STR, "/var/spool/postfix/var/run/portreeve/gate", 0, 0,
     AS(gate_socket), authd_conf_check_socket, "gate socket for the SASL plugin; empty = none"},
    {"authd_socket_mode", CONF_MODE, "0666", 0, 0, AS(socket_mode), NULL,
     "mode of both sockets; access is also checked with SO_PEERCRED"},
    {"authd_allowed_users", CONF_STR, "postfix", 0, 0, AS(allowed_users), NULL,
     "users (names or uids) allowed to connect to the sockets"},
    {"authd_user", CONF_STR, "portreeve", 0, 0, AS(user), NULL,
     "user to run as after binding the sockets; empty = do not change"},
    {"authd_pid_file", CONF_STR, "/run/portreeve/authd.pid", 0, 0, AS(pid_file), NULL,
     "pid file when running as a daemon (empty: none)"},
    {"authd_syslog_facility", CONF_STR, "mail", 0, 0, AS(syslog_facility), conf_check_facility,
     "syslog facility"},
    {"authd_workers", CONF_INT, "0", 0, 64, AS(workers), NULL,
     "verifier threads, each with its own LDAP and Redis connections; 0 = 4 per CPU (4-32)"},
    {"authd_gate_workers", CONF_INT, "1", 1, 16, AS(gate_workers), NULL,
     "threads answering the gate plugin"},
    {"authd_deadline", CONF_TIME, "4s", 100, 30000, AS(deadline_ms), NULL,
     "hard deadline of one request; then hang up (454)"},
    {"authd_queue_limit", CONF_INT, "256", 1, 100000, AS(queue_limit), NULL,
     "requests waiting for a worker before new ones are refused (454)"},
    {"authd_gate_pid_ttl", CONF_TIME, "10s", 100, 600000, AS(gate_pid_ttl_ms), NULL,
     "how long a gate call ties an smtpd pid to a client address"},
    {"authd_ldap_uri", CONF_STR, "ldap://127.0.0.1/", 0, 0, AS(ldap_uri), authd_conf_check_uri,
     "LDAP servers, tried in order"},
    {"authd_ldap_search_base", CONF_STR, "", 0, 0, AS(ldap_search_base), NULL,
     "search base (required)"},
    {"authd_ldap_scope", CONF_STR, "sub", 0, 0, AS(ldap_scope), authd_conf_check_scope,
     "search scope: base, one or sub"},
    {"authd_ldap_filter", CONF_STR, "(&(objectClass=posixAccount)(uid=%u))", 0, 0, AS(ldap_filter),
     authd_conf_check_filter,
     "filter template: %u login, %r realm, %s service, escaped per RFC 4515"},
    {"authd_ldap_bind_dn", CONF_STR, "", 0, 0, AS(ldap_bind_dn), NULL,
     "service DN for the search; empty = anonymous"},
    {"authd_ldap_bind_password_file", CONF_STR, "", 0, 0, AS(ldap_bind_password_file), NULL,
     "file holding the service DN's password (mode 0600 or stricter)"},
    {"authd_ldap_starttls", CONF_BOOL, "no", 0, 0, AS(ldap_starttls), NULL,
     "use StartTLS; failure is fatal for the connection"},
    {"authd_ldap_tls_ca_file", CONF_STR, "", 0, 0, AS(ldap_tls_ca_file), NULL,
     "CA certificates for ldaps:// and StartTLS; empty = system default"},
    {"authd_ldap_tls_require_cert", CONF_BOOL, "yes", 0, 0, AS(ldap_tls_require_cert), NULL,
     "verify the server certificate"},
    {"authd_ldap_connect_timeout", CONF_TIME, "1s", 10, 30000, AS(ldap_connect_timeout_ms), NULL,
     "connect timeout per LDAP server"},
    {"authd_ldap_timeout", CONF_TIME, "2s", 10, 30000, AS(ldap_timeout_ms), NULL,
     "timeout of one LDAP operation"},
    {"authd_login_chars", CONF_STR, LOGIN_DEFAULT_CHARS, 0, 0, AS(login_chars),
     authd_conf_check_chars, "characters allowed in a login name (ranges a-z)"},
    {"authd_login_max_length", CONF_INT, "64", 1, LOGIN_LEN_MAX, AS(login_max_length), NULL,
     "longest login name"},
    {"authd_login_realms", CONF_STR, "", 0, 0, AS(login_realms), authd_conf_check_realms,
     "realms accepted after @; empty = none"},
    {"authd_lockout_user_ip_limit", CONF_INT, "5", 0, 1000000, AS(lk_uip_limit), NULL,
     "failures per (user, client IP) that lock the pair; 0 = off"},
    {"authd_lockout_user_ip_window", CONF_TIME, "15m", 1000, 7 * 24 * H, AS(lk_uip_window_ms), NULL,
     "counting window per (user, client IP)"},
    {"authd_lockout_user_ip_time", CONF_TIME, "15m", 1000, 7 * 24 * H, AS(lk_uip_time_ms), NULL,
     "lock time per (user, client IP)"},
    {"authd_lockout_ip_limit", CONF_INT, "30", 0, 1000000, AS(lk_ip_limit), NULL,
     "failures per client IP that lock the IP; 0 = off"},
    {"authd_lockout_ip_window", CONF_TIME, "1h", 1000, 7 * 24 * H, AS(lk_ip_window_ms), NULL,
     "counting window per client IP"},
    {"authd_lockout_ip_time", CONF_TIME, "1h", 1000, 7 * 24 * H, AS(lk_ip_time_ms), NULL,
     "lock time per client IP"},
    {"authd_lockout_user_limit", CONF_INT, "100", 0, 1000000, AS(lk_user_limit), NULL,
     "failures per user that hold the user back (temporary failure only); 0 = off"},
    {"authd_lockout_user_window", CONF_TIME, "1h", 1000, 7 * 24 * H, AS(lk_user_window_ms), NULL,
     "counting window per user"},
    {"authd_lockout_user_time", CONF_TIME, "15m", 1000, 7 * 24 * H, AS(lk_user_time_ms), NULL,
     "lock time per user"},
    {"authd_lockout_known_ttl", CONF_TIME, "30d", 0, 365 * 24 * H, AS(lk_known_ttl_ms), NULL,
     "how long a (user, IP) pair that logged in is exempt from the per-user lock; 0 = never"},
    {"authd_lockout_exempt_networks", CONF_STR, "", 0, 0, AS(lk_exempt_networks), conf_check_netset,
     "client networks never counted or locked"},
    {"authd_lockout_ipv6_prefix", CONF_INT, "64", 1, 128, AS(lk_ipv6_prefix), NULL,
     "IPv6 clients are counted per prefix of this length"},
    {"authd_lockout_memory_entries", CONF_INT, "100000", 16, 10000000, AS(lk_memory_entries), NULL,
     "size of the embedded counter store (also the fallback while Redis is down)"},
    {"authd_lockout_mirror_ttl", CONF_TIME, "1s", 0, 60000, AS(lk_mirror_ttl_ms), NULL,
     "how long a lockout counter read from Redis is trusted locally; 0 = ask Redis every time"},
    {"authd_cache_ttl", CONF_TIME, "0", 0, H, AS(cache_ttl_ms), NULL,
     "positive cache lifetime; 0 = off"},
    {"authd_cache_entries", CONF_INT, "10000", 1, 1000000, AS(cache_entries), NULL,
     "positive cache size"},
    {"authd_ldap_dn_cache_ttl", CONF_TIME, "0", 0, H, AS(dn_cache_ttl_ms), NULL,
     "how long the DN a search found is reused instead of searching again; 0 = off"},
    {"authd_ldap_dn_cache_entries", CONF_INT, "10000", 1, 1000000, AS(dn_cache_entries), NULL,
     "DN cache size"},
};
#undef AS
#undef H
const size_t authd_conf_count = sizeof(authd_conf_entries) / sizeof(authd_conf_entries[0]);

/* Release a snapshot's memory. */
static void authd_cfg_free(struct authd_cfg *c)
{
    struct conf_section s = {authd_conf_entries, authd_conf_count, &c->s};
    struct conf_section st = store_conf_section(&c->store);

    conf_section_free(&s);
    conf_section_free(&st);
    netset_free(c->exempt);
    if (c->ldap_bind_pw) {
        explicit_bzero(c->ldap_bind_pw, strlen(c->ldap_bind_pw));
        free(c->ldap_bind_pw);
    }
    if (c->redis_pw) {
        explicit_bzero(c->redis_pw, strlen(c->redis_pw));
        free(c->redis_pw);
    }
    free(c);
}

char *authd_conf_read_secret(const char *path, char *err, size_t errlen)
{
    char buf[AUTHD_SECRET_MAX + 2];
    struct stat st;
    ssize_t n;
    size_t len;
    char *out;
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

    if (fd < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    if (fstat(fd, &st) < 0 || (st.st_mode & 077)) {
        snprintf(err, errlen, "%s: must not be readable by group or others (chmod 600)", path);
        close(fd);
        return NULL;
    }
    n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return NULL;
    }
    buf[n] = '\0';
    len = strcspn(buf, "\r\n");
    if (len > AUTHD_SECRET_MAX || len == 0) {
        explicit_bzero(buf, sizeof(buf));
        snprintf(err, errlen, "%s: want one line of 1-%d bytes", path, AUTHD_SECRET_MAX);
        return NULL;
    }
    out = util_strndup(buf, len);
    explicit_bzero(buf, sizeof(buf));
    if (out == NULL)
        snprintf(err, errlen, "out of memory");
    return out;
}

/* Resolve "postfix, 0, www-data" into uids. */
static int authd_conf_users(struct authd_cfg *c, char *err, size_t errlen)
{
    const char *s = c->s.allowed_users;

    while (*s) {
        char name[64], *end;
        size_t len;
        s += strspn(s, ", \t");
        len = strcspn(s, ", \t");
        if (len == 0)
            break;
        if (len >= sizeof(name) || c->nallowed == AUTHD_ALLOWED_MAX) {
            snprintf(err, errlen, "authd_allowed_users = %s: too long or more than %d users",
                     c->s.allowed_users, AUTHD_ALLOWED_MAX);
            return -1;
        }
        memcpy(name, s, len);
        name[len] = '\0';
        s += len;
        errno = 0;
        unsigned long uid = strtoul(name, &end, 10);
        if (*end == '\0' && errno == 0 && uid < (unsigned long)(uid_t)-1) {
            c->allowed[c->nallowed++] = (uid_t)uid;
        } else {
            struct passwd *pw = getpwnam(name);
            if (pw == NULL) {
                snprintf(err, errlen, "authd_allowed_users = %s: no user \"%s\"",
                         c->s.allowed_users, name);
                return -1;
            }
            c->allowed[c->nallowed++] = pw->pw_uid;
        }
    }
    return 0;
}

/* Derive everything that is computed once per snapshot. */
static int authd_cfg_derive(struct authd_cfg *c, char *err, size_t errlen)
{
    const struct authd_settings *s = &c->s;
    char why[CONF_ERR_LEN];
    static const char *const scopes[] = {"base", "one", "sub"};

    if (s->ldap_search_base[0] == '\0') {
        snprintf(err, errlen, "authd_ldap_search_base: required");
        return -1;
    }
    if (login_policy_init(&c->login, s->login_chars, s->login_max_length, s->login_realms, why,
                          sizeof(why)) < 0 ||
        netset_parse(s->lk_exempt_networks, &c->exempt, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "login or network settings: %s", why);
        return -1;
    }
    if (authd_conf_users(c, err, errlen) < 0)
        return -1;
    /* Checked here so that -t reports it; the drop itself is in authd_main.c. */
    if (s->user[0] && getpwnam(s->user) == NULL) {
        snprintf(err, errlen, "authd_user = %s: no such user", s->user);
        return -1;
    }
    if (s->ldap_bind_password_file[0] &&
        (c->ldap_bind_pw = authd_conf_read_secret(s->ldap_bind_password_file, why, sizeof(why))) ==
            NULL) {
        snprintf(err, errlen, "authd_ldap_bind_password_file = %s", why);
        return -1;
    }
    if (c->store.password_file[0] &&
        (c->redis_pw = authd_conf_read_secret(c->store.password_file, why, sizeof(why))) == NULL) {
        snprintf(err, errlen, "redis_password_file = %s", why);
        return -1;
    }
    c->lockout.rule[LOCKOUT_USER_IP] =
        (struct lockout_rule){s->lk_uip_limit, s->lk_uip_window_ms, s->lk_uip_time_ms};
    c->lockout.rule[LOCKOUT_IP] =
        (struct lockout_rule){s->lk_ip_limit, s->lk_ip_window_ms, s->lk_ip_time_ms};
    c->lockout.rule[LOCKOUT_USER] =
        (struct lockout_rule){s->lk_user_limit, s->lk_user_window_ms, s->lk_user_time_ms};
    c->lockout.known_ttl_ms = s->lk_known_ttl_ms;
    c->lockout.v6_prefix = (unsigned)s->lk_ipv6_prefix;
    util_strlcpy(c->lockout.prefix, c->store.key_prefix, sizeof(c->lockout.prefix));
    c->ldap.uri = s->ldap_uri;
    c->ldap.base = s->ldap_search_base;
    for (int i = 0; i < 3; i++)
        if (strcmp(s->ldap_scope, scopes[i]) == 0)
            c->ldap.scope = i;
    c->ldap.filter = s->ldap_filter;
    c->ldap.bind_dn = s->ldap_bind_dn;
    c->ldap.bind_pw = c->ldap_bind_pw;
    c->ldap.starttls = s->ldap_starttls;
    c->ldap.ca_file = s->ldap_tls_ca_file;
    c->ldap.require_cert = s->ldap_tls_require_cert;
    c->ldap.connect_timeout_ms = s->ldap_connect_timeout_ms;
    c->ldap.timeout_ms = s->ldap_timeout_ms;
    return 0;
}

struct authd_cfg *authd_cfg_load(const char *path, char *err, size_t errlen)
{
    static unsigned generation;
    struct conf_file f;
    struct authd_cfg *c = calloc(1, sizeof(*c));
    struct conf_section sec[2];
    int rc;

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    sec[0] = (struct conf_section){authd_conf_entries, authd_conf_count, &c->s};
    sec[1] = store_conf_section(&c->store);
    memset(&f, 0, sizeof(f));
    if (path && conf_file_read(path, &f, err, errlen) < 0) {
        free(c);
        return NULL;
    }
    rc = conf_apply(path ? &f : NULL, sec, 2, authd_conf_foreign, err, errlen);
    conf_file_free(&f);
    if (rc < 0 || authd_cfg_derive(c, err, errlen) < 0) {
        authd_cfg_free(c);
        return NULL;
    }
    c->generation = ++generation;
    c->refs = 1;
    return c;
}

struct authd_cfg *authd_cfg_ref(struct authd_cfg *c)
{
    __atomic_add_fetch(&c->refs, 1, __ATOMIC_ACQ_REL);
    return c;
}

void authd_cfg_unref(struct authd_cfg *c)
{
    if (c && __atomic_sub_fetch(&c->refs, 1, __ATOMIC_ACQ_REL) == 0)
        authd_cfg_free(c);
}

int authd_conf_print(FILE *fp, const char *path, int nondefault_only, char *err, size_t errlen)
{
    struct authd_settings s;
    struct store_conf st;
    struct conf_section sec[2] = {{authd_conf_entries, authd_conf_count, &s},
                                  store_conf_section(&st)};
    struct conf_file f;

    memset(&s, 0, sizeof(s));
    memset(&st, 0, sizeof(st));
    if (!nondefault_only) {
        conf_print_defaults(fp, sec, 2);
        return 0;
    }
    memset(&f, 0, sizeof(f));
    if (conf_file_read(path, &f, err, errlen) < 0)
        return -1;
    if (conf_apply(&f, sec, 2, authd_conf_foreign, err, errlen) < 0) {
        conf_file_free(&f);
        conf_section_free(&sec[0]);
        conf_section_free(&sec[1]);
        return -1;
    }
    conf_print_nondefault(fp, &f, sec, 2);
    conf_file_free(&f);
    conf_section_free(&sec[0]);
    conf_section_free(&sec[1]);
    return 0;
}
