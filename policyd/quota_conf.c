/*
 * quota_conf.c - policyd_quota_* settings (see quota_conf.h).
 *
 * Public: quota_conf_section, quota_conf_build, quota_conf_release,
 * quota_conf_parse_map, quota_conf_free_map, quota_conf_user,
 * quota_conf_user_exempt.
 *
 * Map file (policyd_quota_user_limits_map), one user per line:
 *     alice@example.org   messages=200/1h,1000/1d recipients=5000/1d
 *     bulk@example.org    none
 * "#" comment lines and blank lines are skipped; user names are compared
 * in lower case; a kind not given keeps the role's limits; "none" exempts.
 * Limits: QUOTA_MAP_LINE_MAX bytes a line, QUOTA_MAP_MAX_ENTRIES lines;
 * a bad line is an error naming file and line (a reload keeps the old map).
 */
#include "quota_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "action.h"
#include "conf_check.h"
#include "netset.h"
#include "util.h"

static int qc_check_limits(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    struct limiter_limits l;

    memset(&l, 0, sizeof(l));
    return limiter_parse(v,
                         e->name[strlen(e->name) - 1] == 's' && strstr(e->name, "recipients")
                             ? LIMITER_RECIPIENTS
                             : LIMITER_MESSAGES,
                         &l, err, errlen);
}

/* An exceed action: DEFER_IF_PERMIT, DEFER, HOLD, REJECT or 4NN/5NN, with text. */
static int qc_check_action(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    size_t w = strcspn(v, " \t");
    (void)e;
    if (action_check(v, err, errlen) < 0)
        return -1;
    if (!action_is_refusal(v) && !(w == 4 && strncasecmp(v, "HOLD", 4) == 0)) {
        snprintf(err, errlen, "want DEFER_IF_PERMIT, DEFER, HOLD, REJECT or a 4NN/5NN reply");
        return -1;
    }
    return 0;
}

static int qc_check_failure(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    (void)e;
    if (strcmp(v, "fallback") && strcmp(v, "dunno") && strcmp(v, "defer")) {
        snprintf(err, errlen, "want fallback, dunno or defer");
        return -1;
    }
    return 0;
}

static int qc_check_listen(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    (void)e;
    if (v[0] && (strncmp(v, "127.", 4) != 0 && strncmp(v, "[::1]:", 6) != 0)) {
        snprintf(err, errlen, "want a loopback 127.x.y.z:PORT or [::1]:PORT, or empty");
        return -1;
    }
    if (v[0] && strrchr(v, ':') == NULL) {
        snprintf(err, errlen, "want HOST:PORT");
        return -1;
    }
    return 0;
}

#define QC(f) offsetof(struct quota_conf, f)
static const struct conf_entry quota_entries[] = {
    {"policyd_quota_mx_messages", CONF_STR, "", 0, 0, QC(messages[0]), qc_check_limits,
     "message limits on the mx role, e.g. 100/1h, 500/1d (empty: none)"},
    {"policyd_quota_mx_recipients", CONF_STR, "", 0, 0, QC(recipients[0]), qc_check_limits,
     "recipient limits on the mx role"},
    {"policyd_quota_submission_messages", CONF_STR, "", 0, 0, QC(messages[1]), qc_check_limits,
     "message limits on the submission role"},
    {"policyd_quota_submission_recipients", CONF_STR, "", 0, 0, QC(recipients[1]), qc_check_limits,
     "recipient limits on the submission role"},
    {"policyd_quota_submissions_messages", CONF_STR, "", 0, 0, QC(messages[2]), qc_check_limits,
     "message limits on the submissions role"},
    {"policyd_quota_submissions_recipients", CONF_STR, "", 0, 0, QC(recipients[2]), qc_check_limits,
     "recipient limits on the submissions role"},
    {"policyd_quota_user_action", CONF_STR, "DEFER_IF_PERMIT 4.7.1", 0, 0, QC(user_action),
     qc_check_action, "action when an authenticated user exceeds a limit"},
    {"policyd_quota_client_action", CONF_STR, "DEFER_IF_PERMIT 4.7.1", 0, 0, QC(client_action),
     qc_check_action, "action when an unauthenticated client address exceeds a limit"},
    {"policyd_quota_ipv4_prefix", CONF_INT, "32", 8, 32, QC(ipv4_prefix), NULL,
     "IPv4 client addresses are counted per this prefix"},
    {"policyd_quota_ipv6_prefix", CONF_INT, "64", 16, 128, QC(ipv6_prefix), NULL,
     "IPv6 client addresses are counted per this prefix"},
    {"policyd_quota_exempt_users", CONF_STR, "", 0, 0, QC(exempt_users), NULL,
     "SASL user names without quotas"},
    {"policyd_quota_exempt_networks", CONF_STR, "", 0, 0, QC(exempt_networks), conf_check_netset,
     "client networks without quotas"},
    {"policyd_quota_user_limits_map", CONF_STR, "", 0, 0, QC(user_limits_map), NULL,
     "file of per-user limits, re-read on SIGHUP (empty: none)"},
    {"policyd_quota_redis_failure", CONF_STR, "fallback", 0, 0, QC(redis_failure), qc_check_failure,
     "when Redis fails: fallback (embedded store), dunno or defer"},
    {"policyd_quota_unavailable_reply", CONF_STR,
     "DEFER_IF_PERMIT 4.3.0 Sending quota service unavailable, try again later", 0, 0,
     QC(unavailable_reply), action_conf_check_refusal,
     "reply when Redis fails and the setting is defer"},
    {"policyd_quota_buckets", CONF_INT, "60", 1, LIMITER_MAX_BUCKETS, QC(buckets), NULL,
     "buckets per window; a window may count up to 1/buckets of its length extra"},
    {"policyd_quota_max_principals", CONF_INT, "100000", 16, 100000000, QC(max_principals), NULL,
     "principals the embedded store tracks at most"},
    {"policyd_quota_reservation_ttl", CONF_TIME, "2m", 1000, 86400000, QC(reservation_ttl_ms), NULL,
     "life of a reservation made at RCPT and not committed"},
    {"policyd_quota_recipient_grant", CONF_INT, "32", 0, 1000, QC(recipient_grant), NULL,
     "recipients a Redis check may reserve beyond those asked for (0: none)"},
    {"policyd_quota_instance_ttl", CONF_TIME, "1h", 60000, 604800000, QC(instance_ttl_ms), NULL,
     "how long a committed Postfix instance is remembered (retries)"},
    {"policyd_quota_metrics_listen", CONF_STR, "", 0, 0, QC(metrics_listen), qc_check_listen,
     "loopback HOST:PORT for Prometheus metrics (empty: off)"},
};
#undef QC

struct conf_section quota_conf_section(struct quota_conf *q)
{
    struct conf_section s = {quota_entries, sizeof(quota_entries) / sizeof(quota_entries[0]), q};
    return s;
}

static void qc_lower(char *s)
{
    for (; *s; s++)
        *s = (char)tolower((unsigned char)*s);
}

static int qc_strcmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int qc_mapcmp(const void *a, const void *b)
{
    return strcmp(((const struct quota_user_limits *)a)->user,
                  ((const struct quota_user_limits *)b)->user);
}

/* One map line (NUL-terminated, no newline) into *u. */
static int qc_map_line(char *line, const struct quota_conf *q, struct quota_user_limits *u,
                       char *err, size_t errlen)
{
    char *p = line, *user;
    size_t n;

    memset(u, 0, sizeof(*u));
    u->l.buckets = (unsigned)q->buckets;
    u->l.reserve_ttl_ms = (uint64_t)q->reservation_ttl_ms;
    u->l.done_ttl_ms = (uint64_t)q->instance_ttl_ms;
    n = strcspn(p, " \t");
    if (n == 0 || n > QUOTA_USER_MAX) {
        snprintf(err, errlen, "want: user messages=LIMITS recipients=LIMITS, or user none");
        return -1;
    }
    user = p;
    p += n;
    if (*p)
        *p++ = '\0';
    while (*p) {
        char item[QUOTA_MAP_LINE_MAX];
        p += strspn(p, " \t");
        n = strcspn(p, " \t");
        if (n == 0)
            break;
        memcpy(item, p, n);
        item[n] = '\0';
        p += n;
        if (strcmp(item, "none") == 0) {
            u->exempt = 1;
        } else if (strncmp(item, "messages=", 9) == 0) {
            if (limiter_parse(item + 9, LIMITER_MESSAGES, &u->l, err, errlen) < 0)
                return -1;
            u->has_messages = 1;
        } else if (strncmp(item, "recipients=", 11) == 0) {
            if (limiter_parse(item + 11, LIMITER_RECIPIENTS, &u->l, err, errlen) < 0)
                return -1;
            u->has_recipients = 1;
        } else {
            snprintf(err, errlen, "\"%.40s\": want messages=, recipients= or none", item);
            return -1;
        }
    }
    if (!u->exempt && !u->has_messages && !u->has_recipients) {
        snprintf(err, errlen, "no limits for %.60s", user);
        return -1;
    }
    u->user = util_strdup(user);
    if (u->user == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    qc_lower(u->user);
    return 0;
}

void quota_conf_free_map(struct quota_user_limits *m, size_t n)
{
    for (size_t i = 0; m && i < n; i++)
        free(m[i].user);
    free(m);
}

int quota_conf_parse_map(const char *text, size_t len, const struct quota_conf *q,
                         struct quota_user_limits **out, size_t *nout, char *err, size_t errlen)
{
    struct quota_user_limits *m = NULL;
    size_t n = 0, cap = 0, lineno = 0;
    const char *p = text, *end = text + len;

    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t ll = nl ? (size_t)(nl - p) : (size_t)(end - p);
        char line[QUOTA_MAP_LINE_MAX + 1], why[256];
        size_t s;

        lineno++;
        if (ll > QUOTA_MAP_LINE_MAX || memchr(p, '\0', ll)) {
            snprintf(err, errlen, "line %zu: too long or holds a NUL byte", lineno);
            goto fail;
        }
        memcpy(line, p, ll);
        line[ll] = '\0';
        p += ll + (nl ? 1 : 0);
        line[strcspn(line, "\r")] = '\0';
        s = strspn(line, " \t");
        if (line[s] == '\0' || line[s] == '#')
            continue;
        if (n == QUOTA_MAP_MAX_ENTRIES) {
            snprintf(err, errlen, "line %zu: more than %d entries", lineno, QUOTA_MAP_MAX_ENTRIES);
            goto fail;
        }
        if (n == cap) {
            size_t ncap = cap ? cap * 2 : 16;
            struct quota_user_limits *nm = util_reallocarray(m, ncap, sizeof(*nm));
            if (nm == NULL) {
                snprintf(err, errlen, "out of memory");
                goto fail;
            }
            m = nm;
            cap = ncap;
        }
        if (qc_map_line(line + s, q, &m[n], why, sizeof(why)) < 0) {
            snprintf(err, errlen, "line %zu: %s", lineno, why);
            goto fail;
        }
        n++;
    }
    if (n)
        qsort(m, n, sizeof(*m), qc_mapcmp);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(m[i - 1].user, m[i].user) == 0) {
            snprintf(err, errlen, "%.80s listed twice", m[i].user);
            goto fail;
        }
    }
    *out = m;
    *nout = n;
    return 0;
fail:
    quota_conf_free_map(m, n);
    return -1;
}

static int qc_read_map(struct quota_conf *q, char *err, size_t errlen)
{
    char why[300];
    size_t len;
    char *buf =
        util_read_file(q->user_limits_map, (size_t)256 << 20, &len); /* far beyond any sane map */
    int rc;

    if (buf == NULL) {
        if (errno == EFBIG)
            snprintf(err, errlen, "policyd_quota_user_limits_map: file too large");
        else
            snprintf(err, errlen, "policyd_quota_user_limits_map = %s: %s", q->user_limits_map,
                     strerror(errno));
        return -1;
    }
    rc = quota_conf_parse_map(buf, len, q, &q->map, &q->nmap, why, sizeof(why));
    free(buf);
    if (rc < 0)
        snprintf(err, errlen, "policyd_quota_user_limits_map = %s: %s", q->user_limits_map, why);
    return rc;
}

/* Split the exempt user list into a sorted array of lower-case names. */
static int qc_exempt_users(struct quota_conf *q, char *err, size_t errlen)
{
    const char *p = q->exempt_users;

    while (*p) {
        size_t n;
        char **nl;
        p += strspn(p, ", \t");
        n = strcspn(p, ", \t");
        if (n == 0)
            break;
        nl = util_reallocarray(q->exempt_user_list, q->nexempt_users + 1, sizeof(*nl));
        if (nl == NULL || (nl[q->nexempt_users] = util_strndup(p, n)) == NULL) {
            if (nl)
                q->exempt_user_list = nl;
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        q->exempt_user_list = nl;
        qc_lower(nl[q->nexempt_users++]);
        p += n;
    }
    if (q->nexempt_users)
        qsort(q->exempt_user_list, q->nexempt_users, sizeof(char *), qc_strcmp);
    return 0;
}

int quota_conf_build(struct quota_conf *q, char *err, size_t errlen)
{
    char why[256];

    q->enabled = 0;
    for (int r = 0; r < QUOTA_ROLES; r++) {
        struct limiter_limits *l = &q->role_limits[r];
        memset(l, 0, sizeof(*l));
        l->buckets = (unsigned)q->buckets;
        l->reserve_ttl_ms = (uint64_t)q->reservation_ttl_ms;
        l->done_ttl_ms = (uint64_t)q->instance_ttl_ms;
        if (limiter_parse(q->messages[r], LIMITER_MESSAGES, l, why, sizeof(why)) < 0 ||
            limiter_parse(q->recipients[r], LIMITER_RECIPIENTS, l, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "quota limits of role %d: %s", r, why);
            return -1;
        }
        q->enabled |= l->n > 0;
    }
    q->on_failure = strcmp(q->redis_failure, "dunno") == 0   ? QUOTA_FAIL_DUNNO
                    : strcmp(q->redis_failure, "defer") == 0 ? QUOTA_FAIL_DEFER
                                                             : QUOTA_FAIL_FALLBACK;
    if (netset_parse(q->exempt_networks, &q->exempt_nets, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "policyd_quota_exempt_networks: %s", why);
        return -1;
    }
    if (qc_exempt_users(q, err, errlen) < 0)
        return -1;
    if (q->user_limits_map[0] && qc_read_map(q, err, errlen) < 0)
        return -1;
    q->enabled |= q->nmap > 0;
    return 0;
}

void quota_conf_release(struct quota_conf *q)
{
    netset_free(q->exempt_nets);
    q->exempt_nets = NULL;
    for (size_t i = 0; i < q->nexempt_users; i++)
        free(q->exempt_user_list[i]);
    free(q->exempt_user_list);
    q->exempt_user_list = NULL;
    q->nexempt_users = 0;
    quota_conf_free_map(q->map, q->nmap);
    q->map = NULL;
    q->nmap = 0;
}

const struct quota_user_limits *quota_conf_user(const struct quota_conf *q, const char *user)
{
    struct quota_user_limits key;

    if (q->nmap == 0)
        return NULL;
    key.user = (char *)(uintptr_t)user; /* bsearch key only; never written */
    return bsearch(&key, q->map, q->nmap, sizeof(*q->map), qc_mapcmp);
}

int quota_conf_user_exempt(const struct quota_conf *q, const char *user)
{
    return q->nexempt_users &&
           bsearch(&user, q->exempt_user_list, q->nexempt_users, sizeof(char *), qc_strcmp) != NULL;
}
