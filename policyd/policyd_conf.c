/*
 * policyd_conf.c - portreeve-policyd settings (see policyd_conf.h).
 *
 * The table below is the single place where a key, its type, default and
 * range are defined; portreeve.conf(5) documents the same keys and a test
 * checks that the two agree.
 *
 * policyd_mx_allowed_clients_file is read by policyd_conf_load(), so at
 * start-up, on -t and on every SIGHUP (as policyd_user by then): CIDR
 * items separated by white space or commas, "#" to the end of a line is a
 * comment. Limit: POLICYD_CLIENTS_FILE_MAX bytes. A bad item is an error
 * naming the file and line; so is a file that leaves the list empty.
 */
#include "policyd_conf.h"

#include <ctype.h>
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "action.h"
#include "conf_check.h"
#include "domains.h"
#include "log.h"
#include "netset.h"
#include "util.h"

/* conf_check_fn: empty, or "transport:destination" for FILTER. */
static int check_filter(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    (void)e;
    if (v[0] == '\0')
        return 0;
    if (strchr(v, ':') == NULL || strpbrk(v, " \t") != NULL) {
        snprintf(err, errlen, "want transport:destination, as in content_filter");
        return -1;
    }
    return 0;
}

static int check_domains(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    struct domains *d;

    (void)e;
    if (domains_parse(v, &d, err, errlen) < 0)
        return -1;
    domains_free(d);
    return 0;
}

/* conf_check_fn: empty, or an absolute path (a daemon chdirs to /). */
static int check_abs_path(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    (void)e;
    if (v[0] != '\0' && v[0] != '/') {
        snprintf(err, errlen, "want an absolute path");
        return -1;
    }
    return 0;
}

static int check_listen(const struct conf_entry *e, const char *v, char *err, size_t errlen);
static int check_port_roles(const struct conf_entry *e, const char *v, char *err, size_t errlen);

#define PC(f) offsetof(struct policyd_conf, f)
static const struct conf_entry policyd_entries[] = {
    {"policyd_listen", CONF_STR, "unix:/var/spool/postfix/private/portreeve", 0, 0, PC(listen),
     check_listen, "where to listen: unix:/path, inet:127.0.0.1:PORT, inet:[::1]:PORT"},
    {"policyd_socket_mode", CONF_MODE, "0660", 0, 0, PC(socket_mode), NULL,
     "file mode of unix sockets"},
    {"policyd_socket_owner", CONF_STR, "postfix", 0, 0, PC(socket_owner), NULL,
     "owner of unix sockets (empty: leave as created)"},
    {"policyd_socket_group", CONF_STR, "postfix", 0, 0, PC(socket_group), NULL,
     "group of unix sockets (empty: leave as created)"},
    {"policyd_user", CONF_STR, "portreeve", 0, 0, PC(user), NULL,
     "unprivileged user to run as after binding (empty: do not change)"},
    {"policyd_pid_file", CONF_STR, "/run/portreeve/policyd.pid", 0, 0, PC(pid_file), NULL,
     "pid file when running as a daemon (empty: none)"},
    {"policyd_syslog_facility", CONF_STR, "mail", 0, 0, PC(syslog_facility), conf_check_facility,
     "syslog facility"},
    {"policyd_syslog_name", CONF_STR, "portreeve/policyd", 0, 0, PC(syslog_name), NULL,
     "syslog ident"},
    {"policyd_max_connections", CONF_INT, "4096", 1, 1000000, PC(max_connections), NULL,
     "concurrent connections; more are closed at once"},
    {"policyd_idle_timeout", CONF_TIME, "600s", 1000, 86400000, PC(idle_timeout_ms), NULL,
     "close a connection idle this long (Postfix closes its own after 300s)"},
    {"policyd_max_line_length", CONF_INT, "16384", 1024, 1048576, PC(max_line), NULL,
     "longest name=value line"},
    {"policyd_max_attributes", CONF_INT, "256", 8, 65536, PC(max_attrs), NULL,
     "attributes per request"},
    {"policyd_max_request_size", CONF_INT, "65536", 1024, 16777216, PC(max_request), NULL,
     "bytes per request"},
    {"policyd_port_roles", CONF_STR, "25:mx 587:submission 465:submissions", 0, 0, PC(port_roles),
     check_port_roles, "server_port to role map when policy_context is unset"},
    {"policyd_unknown_role_action", CONF_STR, "DUNNO", 0, 0, PC(unknown_role_action),
     action_conf_check, "action when no role can be determined"},
    {"policyd_local_domains", CONF_STR, "", 0, 0, PC(local_domains), check_domains,
     "domains this site receives mail for; .domain matches subdomains"},
    {"policyd_relay_networks", CONF_STR, "127.0.0.0/8 [::1]/128", 0, 0, PC(relay_networks),
     conf_check_netset, "clients on the local network, allowed to relay on port 25"},
    {"policyd_mx_authenticated_relay", CONF_BOOL, "yes", 0, 0, PC(mx_authenticated_relay), NULL,
     "may authenticated clients relay on the mx role"},
    {"policyd_auth_required_reply", CONF_STR, "530 5.7.0 Authentication required", 0, 0,
     PC(auth_required_reply), action_conf_check_refusal,
     "reply to unauthenticated mail on submission roles"},
    {"policyd_tls_required_reply", CONF_STR, "530 5.7.0 TLS required: issue STARTTLS first", 0, 0,
     PC(tls_required_reply), action_conf_check_refusal,
     "reply to plaintext submission, and to AUTH without TLS on any role"},
    {"policyd_relay_reject_reply", CONF_STR, "554 5.7.1 Relay access denied", 0, 0,
     PC(relay_reject_reply), action_conf_check_refusal,
     "reply to relay attempts from off the local network"},
    {"policyd_mx_content_filter", CONF_STR, "", 0, 0, PC(content_filter[ROLE_MX]), check_filter,
     "FILTER for accepted mail on the mx role (empty: none)"},
    {"policyd_submission_content_filter", CONF_STR, "", 0, 0, PC(content_filter[ROLE_SUBMISSION]),
     check_filter, "FILTER for accepted mail on the submission role (empty: none)"},
    {"policyd_submissions_content_filter", CONF_STR, "", 0, 0, PC(content_filter[ROLE_SUBMISSIONS]),
     check_filter, "FILTER for accepted mail on the submissions role (empty: none)"},
    {"policyd_mx_reject_spoofed_sender", CONF_BOOL, "no", 0, 0, PC(mx_reject_spoofed_sender), NULL,
     "refuse local-domain senders from unauthenticated off-network clients on mx"},
    {"policyd_spoofed_sender_reply", CONF_STR,
     "550 5.7.1 Sender address in a local domain: authenticate on port 587", 0, 0,
     PC(spoofed_sender_reply), action_conf_check_refusal, "reply to a spoofed local sender"},
    {"policyd_mx_allowed_clients", CONF_STR, "", 0, 0, PC(mx_allowed_clients), conf_check_netset,
     "only these clients may send unauthenticated on mx (empty with no file: anyone)"},
    {"policyd_mx_allowed_clients_file", CONF_STR, "", 0, 0, PC(mx_allowed_clients_file),
     check_abs_path, "file of more such clients, re-read on SIGHUP (empty: none)"},
    {"policyd_mx_unlisted_client_reply", CONF_STR,
     "554 5.7.1 Port 25 accepts mail only from registered mail servers; use port 587", 0, 0,
     PC(mx_unlisted_client_reply), action_conf_check_refusal,
     "reply to an unauthenticated client on mx that is not allowed"},
};
#undef PC
#define POLICYD_NENTRIES (sizeof(policyd_entries) / sizeof(policyd_entries[0]))

static const char *const policyd_foreign[] = {"authd_", NULL};

static const char *const role_names[ROLE_COUNT] = {"mx", "submission", "submissions"};

const char *role_name(enum role r)
{
    return r >= 0 && r < ROLE_COUNT ? role_names[r] : "unknown";
}

enum role role_lookup(const char *name, size_t len)
{
    for (int r = 0; r < ROLE_COUNT; r++)
        if (strlen(role_names[r]) == len && strncasecmp(name, role_names[r], len) == 0)
            return (enum role)r;
    return ROLE_NONE;
}

/* Parse "25:mx 587:submission"; fills map when given. */
static int parse_port_roles(const char *v, struct port_role *map, size_t *n, char *err,
                            size_t errlen)
{
    const char *cursor = v, *s;
    size_t count = 0, len;

    while ((s = util_list_next(&cursor, &len)) != NULL) {
        const char *p = s + len, *colon;
        char *end;
        unsigned long port;
        enum role r;

        colon = memchr(s, ':', (size_t)(p - s));
        if (colon == NULL || !isdigit((unsigned char)s[0])) {
            snprintf(err, errlen, "\"%.*s\": want port:role", (int)(p - s > 40 ? 40 : p - s), s);
            return -1;
        }
        port = strtoul(s, &end, 10);
        if (end != colon || port == 0 || port > 65535) {
            snprintf(err, errlen, "\"%.*s\": bad port", (int)(p - s > 40 ? 40 : p - s), s);
            return -1;
        }
        r = role_lookup(colon + 1, (size_t)(p - colon - 1));
        if (r == ROLE_NONE) {
            snprintf(err, errlen, "\"%.*s\": role must be mx, submission or submissions",
                     (int)(p - s > 40 ? 40 : p - s), s);
            return -1;
        }
        if (count == POLICYD_MAX_PORT_ROLES) {
            snprintf(err, errlen, "more than %d ports", POLICYD_MAX_PORT_ROLES);
            return -1;
        }
        for (size_t i = 0; map && i < count; i++)
            if (map[i].port == port) {
                snprintf(err, errlen, "port %lu listed twice", port);
                return -1;
            }
        if (map) {
            map[count].port = (unsigned)port;
            map[count].role = r;
        }
        count++;
    }
    *n = count;
    return 0;
}

static int check_port_roles(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    struct port_role map[POLICYD_MAX_PORT_ROLES];
    size_t n;

    (void)e;
    return parse_port_roles(v, map, &n, err, errlen);
}

/* One listen item: unix:/abs/path or inet:host:port. */
static int check_listen(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    const char *cursor = v, *s;
    size_t n = 0, len;

    (void)e;
    while ((s = util_list_next(&cursor, &len)) != NULL) {
        const char *p = s + len;

        n++;
        if (len > 6 && strncmp(s, "unix:/", 6) == 0) {
            if (len - 5 >= 108) {
                snprintf(err, errlen, "unix socket path too long");
                return -1;
            }
            continue;
        }
        if (len > 5 && strncmp(s, "inet:", 5) == 0) {
            const char *colon = NULL;
            for (const char *q = s + 5; q < p; q++)
                if (*q == ':')
                    colon = q;
            if (colon && colon + 1 < p &&
                strspn(colon + 1, "0123456789") == (size_t)(p - colon - 1))
                continue;
        }
        snprintf(err, errlen, "\"%.*s\": want unix:/path or inet:host:port",
                 (int)(len > 60 ? 60 : len), s);
        return -1;
    }
    if (n == 0) {
        snprintf(err, errlen, "nothing to listen on");
        return -1;
    }
    return 0;
}

void policyd_conf_sections(struct policyd_conf *c, struct conf_section *out, size_t *n)
{
    out[0].entries = policyd_entries;
    out[0].count = POLICYD_NENTRIES;
    out[0].target = c;
    out[1] = store_conf_section(&c->store);
    out[2] = quota_conf_section(&c->quota);
    *n = 3;
}

/* Free the derived structures and every string. */
static void policyd_conf_free(struct policyd_conf *c)
{
    struct conf_section s[4];
    size_t n;

    policyd_conf_sections(c, s, &n);
    for (size_t i = 0; i < n; i++)
        conf_section_free(&s[i]);
    netset_free(c->relay_nets);
    netset_free(c->mx_allowed);
    domains_free(c->local);
    quota_conf_release(&c->quota);
    free(c);
}

/* policyd_mx_allowed_clients_file: a campus list of mail servers holds tens
 * to thousands of entries; 1 MiB is room for some 50,000. */
#define POLICYD_CLIENTS_FILE_MAX ((size_t)1 << 20)

/* Blank the "#" comments of a clients file and check it line by line, so
 * that an error names its line; the buffer stays a valid netset list. */
static int clients_file_check(char *buf, size_t len, char *err, size_t errlen)
{
    char *line = buf, *end = buf + len;
    unsigned lineno = 0;

    while (line < end) {
        char *nl = memchr(line, '\n', (size_t)(end - line));
        char *eol = nl ? nl : end;
        char *hash = memchr(line, '#', (size_t)(eol - line));
        char why[256]; /* netset's reasons quote at most 64 bytes */
        struct netset *s;
        int rc;

        lineno++;
        if (memchr(line, '\0', (size_t)(eol - line)) != NULL) {
            snprintf(err, errlen, "line %u: NUL byte", lineno);
            return -1;
        }
        if (hash)
            memset(hash, ' ', (size_t)(eol - hash));
        *eol = '\0';
        rc = netset_parse(line, &s, why, sizeof(why));
        if (nl)
            *nl = '\n';
        if (rc < 0) {
            snprintf(err, errlen, "line %u: %s", lineno, why);
            return -1;
        }
        netset_free(s);
        line = eol + 1;
    }
    return 0;
}

/* Build c->mx_allowed from policyd_mx_allowed_clients and the file; it
 * stays NULL (rule off) when neither names a client. An empty file is an
 * error: a truncated file must not silently open port 25 to everyone. */
static int build_mx_allowed(struct policyd_conf *c, char *err, size_t errlen)
{
    const char *path = c->mx_allowed_clients_file;
    size_t ilen = strlen(c->mx_allowed_clients), flen = 0;
    char *file = NULL, *list;
    char why[CONF_ERR_LEN];
    int rc;

    if (path[0]) {
        file = util_read_file(path, POLICYD_CLIENTS_FILE_MAX, &flen);
        if (file == NULL && errno == EFBIG)
            snprintf(why, sizeof(why), "larger than %zu bytes", POLICYD_CLIENTS_FILE_MAX);
        else if (file == NULL)
            snprintf(why, sizeof(why), "%s", strerror(errno));
        /* As for policyd_quota_user_limits_map: "key = path: line N: reason". */
        if (file == NULL || clients_file_check(file, flen, why, sizeof(why)) < 0) {
            snprintf(err, errlen, "policyd_mx_allowed_clients_file = %s: %s", path, why);
            free(file);
            return -1;
        }
    }
    list = malloc(ilen + 1 + flen + 1);
    if (list == NULL) {
        free(file);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    memcpy(list, c->mx_allowed_clients, ilen);
    list[ilen] = '\n';
    memcpy(list + ilen + 1, file ? file : "", flen + 1);
    free(file);
    rc = netset_parse(list, &c->mx_allowed, why, sizeof(why));
    free(list);
    if (rc < 0) {
        snprintf(err, errlen, "policyd_mx_allowed_clients: %s", why);
        return -1;
    }
    if (netset_count(c->mx_allowed) == 0) {
        netset_free(c->mx_allowed);
        c->mx_allowed = NULL;
        if (path[0]) {
            snprintf(err, errlen,
                     "policyd_mx_allowed_clients_file = %s: no client listed (to let every "
                     "client use the mx role, leave both policyd_mx_allowed_clients keys empty)",
                     path);
            return -1;
        }
    }
    return 0;
}

struct policyd_conf *policyd_conf_load(const char *path, char *err, size_t errlen)
{
    struct policyd_conf *c = calloc(1, sizeof(*c));
    struct conf_file f;
    struct conf_section s[4];
    size_t n;
    char why[CONF_ERR_LEN];
    int rc;

    if (c == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    memset(&f, 0, sizeof(f));
    if (path && conf_file_read(path, &f, err, errlen) < 0) {
        free(c);
        return NULL;
    }
    policyd_conf_sections(c, s, &n);
    rc = conf_apply(path ? &f : NULL, s, n, policyd_foreign, err, errlen);
    conf_file_free(&f);
    if (rc < 0) {
        policyd_conf_free(c);
        return NULL;
    }
    /* The checks above already validated these; build the real structures. */
    if (netset_parse(c->relay_networks, &c->relay_nets, why, sizeof(why)) < 0 ||
        domains_parse(c->local_domains, &c->local, why, sizeof(why)) < 0 ||
        parse_port_roles(c->port_roles, c->roles, &c->nroles, why, sizeof(why)) < 0) {
        snprintf(err, errlen, "%s", why);
        policyd_conf_free(c);
        return NULL;
    }
    if (build_mx_allowed(c, err, errlen) < 0) {
        policyd_conf_free(c);
        return NULL;
    }
    if (quota_conf_build(&c->quota, err, errlen) < 0) {
        policyd_conf_free(c);
        return NULL;
    }
    c->refcnt = 1;
    return c;
}

struct policyd_conf *policyd_conf_ref(struct policyd_conf *c)
{
    c->refcnt++;
    return c;
}

void policyd_conf_unref(struct policyd_conf *c)
{
    if (c && --c->refcnt == 0)
        policyd_conf_free(c);
}

enum role policyd_conf_port_role(const struct policyd_conf *c, const char *port, size_t len)
{
    unsigned long v = 0;

    if (len == 0 || len > 5)
        return ROLE_NONE;
    for (size_t i = 0; i < len; i++) {
        if (!isdigit((unsigned char)port[i]))
            return ROLE_NONE; /* "unknown", or anything odd */
        v = v * 10 + (unsigned long)(port[i] - '0');
    }
    for (size_t i = 0; i < c->nroles; i++)
        if (c->roles[i].port == v)
            return c->roles[i].role;
    return ROLE_NONE;
}

void policyd_conf_print_defaults(FILE *fp)
{
    struct policyd_conf c;
    struct conf_section s[4];
    size_t n;

    memset(&c, 0, sizeof(c));
    policyd_conf_sections(&c, s, &n);
    conf_print_defaults(fp, s, n);
}

int policyd_conf_print_nondefault(FILE *fp, const char *path, char *err, size_t errlen)
{
    struct policyd_conf c;
    struct conf_section s[4];
    struct conf_file f;
    size_t n;

    if (conf_file_read(path, &f, err, errlen) < 0)
        return -1;
    memset(&c, 0, sizeof(c));
    policyd_conf_sections(&c, s, &n);
    conf_print_nondefault(fp, &f, s, n);
    conf_file_free(&f);
    return 0;
}
