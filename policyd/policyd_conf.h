/*
 * policyd_conf - portreeve-policyd's settings: the key table, the values
 * read from portreeve.conf, and the structures derived from them (CIDR
 * sets, domain lists, the port-role map).
 *
 * A loaded configuration is immutable and reference-counted: SIGHUP loads
 * a new one and swaps it in; requests still in flight keep the old one
 * until they finish (policyd_conf_ref/unref).
 */
#ifndef PORTREEVE_POLICYD_CONF_H
#define PORTREEVE_POLICYD_CONF_H

#include <stdio.h>

#include "conf.h"
#include "quota_conf.h"
#include "store_conf.h"

enum role { ROLE_MX, ROLE_SUBMISSION, ROLE_SUBMISSIONS, ROLE_COUNT, ROLE_NONE = -1 };

#define POLICYD_MAX_PORT_ROLES 64

struct port_role {
    unsigned port;
    enum role role;
};

struct policyd_conf {
    /* daemon */
    char *listen;
    unsigned socket_mode;
    char *socket_owner;
    char *socket_group;
    char *user;
    char *pid_file;
    char *syslog_facility;
    char *syslog_name;
    long long max_connections;
    long long idle_timeout_ms;
    long long max_line;
    long long max_attrs;
    long long max_request;
    /* rules */
    char *port_roles;
    char *unknown_role_action;
    char *local_domains;
    char *relay_networks;
    int mx_authenticated_relay;
    char *auth_required_reply;
    char *tls_required_reply;
    char *relay_reject_reply;
    char *content_filter[ROLE_COUNT];
    int mx_reject_spoofed_sender;
    char *spoofed_sender_reply;
    char *mx_allowed_clients;      /* CIDR list; with the file, empty = rule off */
    char *mx_allowed_clients_file; /* absolute path, or empty */
    char *mx_unlisted_client_reply;
    /* shared store settings (redis_*) */
    struct store_conf store;
    /* sending quotas (policyd_quota_*, quota_conf.h) */
    struct quota_conf quota;

    /* derived */
    struct netset *relay_nets;
    struct netset *mx_allowed; /* NULL: everyone may use the mx role */
    struct domains *local;
    struct port_role roles[POLICYD_MAX_PORT_ROLES];
    size_t nroles;
    int refcnt;
};

/* Load a file (NULL: defaults only), and policyd_mx_allowed_clients_file
 * when set. Returns a config with refcnt 1, or NULL with
 * "file:line: key = value: reason" in err. */
struct policyd_conf *policyd_conf_load(const char *path, char *err, size_t errlen);
struct policyd_conf *policyd_conf_ref(struct policyd_conf *c);
void policyd_conf_unref(struct policyd_conf *c);

/* -d and -n. Return 0, or -1 with err set (file unreadable). */
void policyd_conf_print_defaults(FILE *fp);
int policyd_conf_print_nondefault(FILE *fp, const char *path, char *err, size_t errlen);

/* The key table, for the man-page consistency test. */
void policyd_conf_sections(struct policyd_conf *c, struct conf_section *out, size_t *n);

const char *role_name(enum role r);
/* Role by name ("mx", "submission", "submissions"), or ROLE_NONE. */
enum role role_lookup(const char *name, size_t len);
/* Role of a server_port string via the map, or ROLE_NONE. */
enum role policyd_conf_port_role(const struct policyd_conf *c, const char *port, size_t len);

#endif
