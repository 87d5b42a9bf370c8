/*
 * authd_conf - portreeve-authd's settings: the authd_* table (name, type,
 * default, range, check, one-line doc), and the run-time snapshot built
 * from it plus the shared redis_* keys.
 *
 * A snapshot (struct authd_cfg) is immutable once loaded and reference
 * counted: SIGHUP loads a new one and swaps it in; requests in flight keep
 * the one they started with. A bad file leaves the running snapshot alone.
 * The table is documented once, in portreeve-authd(8); a test checks that
 * the two agree.
 */
#ifndef PORTREEVE_AUTHD_CONF_H
#define PORTREEVE_AUTHD_CONF_H

#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "conf.h"
#include "ldap_pool.h"
#include "lockout.h"
#include "login.h"
#include "netset.h"
#include "store_conf.h"

#define AUTHD_CONF_DEFAULT "/etc/portreeve/portreeve.conf"
#define AUTHD_ALLOWED_MAX 16
#define AUTHD_SECRET_MAX 1024
#define AUTHD_MIRROR_ENTRIES 16384 /* lock mirror size (keys), see lockmirror.h */

/* The raw values of the authd_* table. */
struct authd_settings {
    char *mux_socket, *gate_socket;
    unsigned socket_mode;
    char *allowed_users, *user, *pid_file, *syslog_facility;
    long long workers, gate_workers, deadline_ms, queue_limit, gate_pid_ttl_ms;
    char *ldap_uri, *ldap_search_base, *ldap_scope, *ldap_filter, *ldap_bind_dn;
    char *ldap_bind_password_file, *ldap_tls_ca_file;
    int ldap_starttls, ldap_tls_require_cert;
    long long ldap_connect_timeout_ms, ldap_timeout_ms;
    char *login_chars, *login_realms;
    long long login_max_length;
    long long lk_uip_limit, lk_uip_window_ms, lk_uip_time_ms;
    long long lk_ip_limit, lk_ip_window_ms, lk_ip_time_ms;
    long long lk_user_limit, lk_user_window_ms, lk_user_time_ms;
    long long lk_known_ttl_ms, lk_ipv6_prefix, lk_memory_entries, lk_mirror_ttl_ms;
    char *lk_exempt_networks;
    long long cache_ttl_ms, cache_entries, dn_cache_ttl_ms, dn_cache_entries;
};

struct authd_cfg {
    struct authd_settings s;
    struct store_conf store;
    struct login_policy login;
    struct netset *exempt;
    struct lockout_params lockout;
    struct ldap_pool_conf ldap;
    char *ldap_bind_pw, *redis_pw; /* wiped when freed */
    uid_t allowed[AUTHD_ALLOWED_MAX];
    size_t nallowed;
    unsigned generation;
    int refs; /* atomic */
};

extern const struct conf_entry authd_conf_entries[];
extern const size_t authd_conf_count;

/* Load a snapshot from path (NULL: defaults only). NULL with err on error. */
struct authd_cfg *authd_cfg_load(const char *path, char *err, size_t errlen);
struct authd_cfg *authd_cfg_ref(struct authd_cfg *c);
void authd_cfg_unref(struct authd_cfg *c);

/* -d and -n output. Returns 0, or -1 with err. */
int authd_conf_print(FILE *fp, const char *path, int nondefault_only, char *err, size_t errlen);

/* Read the first line of a secret file (mode must deny group and others). */
char *authd_conf_read_secret(const char *path, char *err, size_t errlen);

#endif
