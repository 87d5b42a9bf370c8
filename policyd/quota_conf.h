/*
 * quota_conf - the policyd_quota_* settings and what is derived from them:
 * limit sets per role, exempt users and networks, the per-user limits map
 * (read at load, so SIGHUP re-reads it), and the exceed actions.
 *
 * Part of policyd_conf (a section of its table, built and freed with it),
 * so that a configuration in flight stays immutable. Library-style: returns
 * errors that name the key, never exits.
 */
#ifndef PORTREEVE_QUOTA_CONF_H
#define PORTREEVE_QUOTA_CONF_H

#include <stddef.h>

#include "conf.h"
#include "limiter.h"

#define QUOTA_ROLES 3 /* mx, submission, submissions: policyd_conf's enum role */
#define QUOTA_MAP_LINE_MAX 4096
#define QUOTA_MAP_MAX_ENTRIES 1000000
#define QUOTA_USER_MAX 256

enum quota_on_failure { QUOTA_FAIL_FALLBACK, QUOTA_FAIL_DUNNO, QUOTA_FAIL_DEFER };

struct quota_user_limits {
    char *user; /* lower case */
    int exempt; /* "none" */
    struct limiter_limits l;
    int has_messages, has_recipients;
};

struct netset;

struct quota_conf {
    /* from the file */
    char *messages[QUOTA_ROLES];
    char *recipients[QUOTA_ROLES];
    char *user_action;
    char *client_action;
    long long ipv4_prefix, ipv6_prefix;
    char *exempt_users;
    char *exempt_networks;
    char *user_limits_map;
    char *redis_failure;
    char *unavailable_reply;
    long long buckets;
    long long max_principals;
    long long reservation_ttl_ms;
    long long recipient_grant;
    long long instance_ttl_ms;
    char *metrics_listen;

    /* derived by quota_conf_build */
    struct limiter_limits role_limits[QUOTA_ROLES];
    int enabled; /* any limit configured anywhere */
    enum quota_on_failure on_failure;
    struct netset *exempt_nets;
    char **exempt_user_list; /* sorted */
    size_t nexempt_users;
    struct quota_user_limits *map; /* sorted by user */
    size_t nmap;
};

/* The section for policyd_conf's table. */
struct conf_section quota_conf_section(struct quota_conf *q);
/* Derive the structures; 0, or -1 with "key = value: reason" in err. */
int quota_conf_build(struct quota_conf *q, char *err, size_t errlen);
/* Free the derived structures (the strings go with the section). */
void quota_conf_release(struct quota_conf *q);

/* Parse a map file's text (exported for tests). */
int quota_conf_parse_map(const char *text, size_t len, const struct quota_conf *q,
                         struct quota_user_limits **out, size_t *n, char *err, size_t errlen);
void quota_conf_free_map(struct quota_user_limits *m, size_t n);
const struct quota_user_limits *quota_conf_user(const struct quota_conf *q, const char *user);
int quota_conf_user_exempt(const struct quota_conf *q, const char *user);

#endif
