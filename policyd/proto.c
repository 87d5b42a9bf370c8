/*
 * proto.c - sans-I/O Postfix policy protocol parser (contract in proto.h).
 *
 * The buffer holds, in order: requests already taken (before `start`, freed
 * at the next call), complete requests not yet taken (`complete` of them),
 * and the request still arriving, whose bytes up to `scan` have been
 * checked. Checking happens in proto_feed(), so a limit trips on the byte
 * that breaks it, whatever the peer sends afterwards.
 */
#include "proto.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Keep a drained buffer of this size for the next request; free larger ones. */
#define PROTO_KEEP_BUFFER 4096

struct proto {
    struct proto_limits lim;
    char *buf;
    size_t len, cap;
    size_t start;      /* first byte not yet taken by proto_next() */
    size_t scan;       /* first byte not yet checked */
    size_t line_start; /* start of the line being checked */
    size_t req_start;  /* start of the request being checked */
    size_t attrs;      /* attributes seen in the request being checked */
    size_t complete;   /* complete requests checked but not taken */
    int failed;
    char err[192];
};

/*
 * Attribute names. A lookup compares the length first and then the bytes:
 * Postfix sends about 30 attributes per request, so this runs a few
 * thousand times per second per connection and must not call strlen().
 */
#define PROTO_NAME(s) s, sizeof(s) - 1
static const struct proto_name {
    const char *name;
    size_t len;
    enum proto_attr attr;
} proto_names[] = {
    {PROTO_NAME("ccert_fingerprint"), PA_CCERT_FINGERPRINT},
    {PROTO_NAME("ccert_issuer"), PA_CCERT_ISSUER},
    {PROTO_NAME("ccert_pubkey_fingerprint"), PA_CCERT_PUBKEY_FINGERPRINT},
    {PROTO_NAME("ccert_subject"), PA_CCERT_SUBJECT},
    {PROTO_NAME("client_address"), PA_CLIENT_ADDRESS},
    {PROTO_NAME("client_name"), PA_CLIENT_NAME},
    {PROTO_NAME("client_port"), PA_CLIENT_PORT},
    {PROTO_NAME("compatibility_level"), PA_COMPATIBILITY_LEVEL},
    {PROTO_NAME("encryption_cipher"), PA_ENCRYPTION_CIPHER},
    {PROTO_NAME("encryption_keysize"), PA_ENCRYPTION_KEYSIZE},
    {PROTO_NAME("encryption_protocol"), PA_ENCRYPTION_PROTOCOL},
    {PROTO_NAME("etrn_domain"), PA_ETRN_DOMAIN},
    {PROTO_NAME("helo_name"), PA_HELO_NAME},
    {PROTO_NAME("instance"), PA_INSTANCE},
    {PROTO_NAME("mail_version"), PA_MAIL_VERSION},
    {PROTO_NAME("policy_context"), PA_POLICY_CONTEXT},
    {PROTO_NAME("protocol_name"), PA_PROTOCOL_NAME},
    {PROTO_NAME("protocol_state"), PA_PROTOCOL_STATE},
    {PROTO_NAME("queue_id"), PA_QUEUE_ID},
    {PROTO_NAME("recipient"), PA_RECIPIENT},
    {PROTO_NAME("recipient_count"), PA_RECIPIENT_COUNT},
    {PROTO_NAME("request"), PA_REQUEST},
    {PROTO_NAME("reverse_client_name"), PA_REVERSE_CLIENT_NAME},
    {PROTO_NAME("sasl_method"), PA_SASL_METHOD},
    {PROTO_NAME("sasl_sender"), PA_SASL_SENDER},
    {PROTO_NAME("sasl_username"), PA_SASL_USERNAME},
    {PROTO_NAME("sender"), PA_SENDER},
    {PROTO_NAME("server_address"), PA_SERVER_ADDRESS},
    {PROTO_NAME("server_port"), PA_SERVER_PORT},
    {PROTO_NAME("size"), PA_SIZE},
    {PROTO_NAME("stress"), PA_STRESS},
    {PROTO_NAME("tls_sni"), PA_TLS_SNI},
};
#undef PROTO_NAME
#define PROTO_NNAMES (sizeof(proto_names) / sizeof(proto_names[0]))

enum proto_attr proto_attr_lookup(const char *name, size_t len)
{
    for (size_t i = 0; i < PROTO_NNAMES; i++)
        if (proto_names[i].len == len && memcmp(proto_names[i].name, name, len) == 0)
            return proto_names[i].attr;
    return PA_COUNT;
}

const char *proto_attr_name(enum proto_attr a)
{
    for (size_t i = 0; i < PROTO_NNAMES; i++)
        if (proto_names[i].attr == a)
            return proto_names[i].name;
    return "?";
}

struct proto *proto_new(const struct proto_limits *limits)
{
    struct proto *p = calloc(1, sizeof(*p));

    if (p)
        p->lim = *limits;
    return p;
}

void proto_free(struct proto *p)
{
    if (p) {
        free(p->buf);
        free(p);
    }
}

const char *proto_error(const struct proto *p)
{
    return p->err;
}

size_t proto_buffered(const struct proto *p)
{
    return p->len - p->start;
}

/* Enter the error state with a reason; the buffer is dropped. */
static enum proto_status proto_fail(struct proto *p, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum proto_status proto_fail(struct proto *p, const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(p->err, sizeof(p->err), fmt, ap);
    va_end(ap);
    p->failed = 1;
    free(p->buf);
    p->buf = NULL;
    p->len = p->cap = p->start = p->scan = p->line_start = p->req_start = 0;
    p->complete = 0;
    return PROTO_ERROR;
}

/* Drop the bytes of requests already taken; release a drained buffer. */
static void proto_compact(struct proto *p)
{
    if (p->start == 0)
        return;
    if (p->start == p->len) {
        p->len = p->scan = p->line_start = p->req_start = 0;
        if (p->cap > PROTO_KEEP_BUFFER) {
            free(p->buf);
            p->buf = NULL;
            p->cap = 0;
        }
    } else {
        memmove(p->buf, p->buf + p->start, p->len - p->start);
        p->len -= p->start;
        p->scan -= p->start;
        p->line_start -= p->start;
        p->req_start -= p->start;
    }
    p->start = 0;
}

/* Check the line [line_start, end) that just ended; a line in a request. */
static enum proto_status proto_check_line(struct proto *p, size_t end)
{
    const char *line = p->buf + p->line_start;
    size_t l = end - p->line_start;
    char shown[64];

    if (l && line[l - 1] == '\r')
        l--;
    /* proto_feed() allows one byte more for a "\r"; without one, the line
     * is only known to be too long once its newline arrives. */
    if (l > p->lim.max_line)
        return proto_fail(p, "line longer than %zu bytes", p->lim.max_line);
    if (l == 0) {
        if (p->attrs == 0)
            return proto_fail(p, "empty request (a blank line with no attributes)");
        p->complete++;
        p->attrs = 0;
        p->req_start = end + 1;
        return PROTO_AGAIN;
    }
    if (line[0] == '=')
        return proto_fail(p, "attribute with an empty name: \"%s\"",
                          util_escape(shown, sizeof(shown), line, l));
    if (memchr(line, '=', l) == NULL)
        return proto_fail(p, "attribute without '=': \"%s\"",
                          util_escape(shown, sizeof(shown), line, l));
    if (++p->attrs > p->lim.max_attrs)
        return proto_fail(p, "more than %zu attributes in one request", p->lim.max_attrs);
    return PROTO_AGAIN;
}

enum proto_status proto_feed(struct proto *p, const char *data, size_t n)
{
    if (p->failed)
        return PROTO_ERROR;
    proto_compact(p);
    if (n == 0)
        return PROTO_AGAIN;
    if (p->cap - p->len < n) {
        size_t want = p->cap ? p->cap : 1024;
        char *nb;
        while (want - p->len < n) {
            if (want > ((size_t)-1) / 2)
                return proto_fail(p, "out of memory");
            want *= 2;
        }
        nb = realloc(p->buf, want);
        if (nb == NULL)
            return proto_fail(p, "out of memory");
        p->buf = nb;
        p->cap = want;
    }
    memcpy(p->buf + p->len, data, n);
    p->len += n;

    while (p->scan < p->len) {
        char *from = p->buf + p->scan;
        char *nl = memchr(from, '\n', p->len - p->scan);
        size_t end = nl ? (size_t)(nl - p->buf) : p->len;

        if (memchr(from, '\0', end - p->scan))
            return proto_fail(p, "NUL byte in request");
        if (end - p->line_start > p->lim.max_line + 1) /* +1: a "\r" before "\n" */
            return proto_fail(p, "line longer than %zu bytes", p->lim.max_line);
        if (end + (nl ? 1 : 0) - p->req_start > p->lim.max_request)
            return proto_fail(p, "request larger than %zu bytes", p->lim.max_request);
        if (nl == NULL) {
            p->scan = p->len;
            break;
        }
        if (proto_check_line(p, end) == PROTO_ERROR)
            return PROTO_ERROR;
        p->scan = p->line_start = end + 1;
    }
    return PROTO_AGAIN;
}

enum proto_status proto_next(struct proto *p, struct proto_request *req)
{
    static const char empty[] = "";
    char *s;

    if (p->failed)
        return PROTO_ERROR;
    proto_compact(p);
    if (p->complete == 0)
        return PROTO_AGAIN;

    memset(req, 0, sizeof(*req));
    for (int a = 0; a < PA_COUNT; a++) {
        req->v[a].ptr = empty;
        req->v[a].len = 0;
    }
    s = p->buf + p->start;
    for (;;) {
        char *nl = memchr(s, '\n', p->len - (size_t)(s - p->buf));
        size_t l = (size_t)(nl - s); /* proto_feed() saw this newline */
        char *eq;
        enum proto_attr a;

        *nl = '\0';
        if (l && s[l - 1] == '\r')
            s[--l] = '\0';
        if (l == 0) {
            s = nl + 1;
            break;
        }
        eq = memchr(s, '=', l);
        a = proto_attr_lookup(s, (size_t)(eq - s));
        if (a != PA_COUNT && !(req->present & (1ULL << a))) {
            req->present |= 1ULL << a;
            req->v[a].ptr = eq + 1;
            req->v[a].len = l - (size_t)(eq + 1 - s);
        }
        req->attrs++;
        s = nl + 1;
    }
    req->bytes = (size_t)(s - (p->buf + p->start));
    p->start = (size_t)(s - p->buf);
    p->complete--;

    if (!(req->present & (1ULL << PA_REQUEST)))
        return proto_fail(p, "request without a \"request\" attribute");
    if (strcmp(req->v[PA_REQUEST].ptr, "smtpd_access_policy") != 0) {
        char shown[64];
        return proto_fail(
            p, "unsupported request type \"%s\"",
            util_escape(shown, sizeof(shown), req->v[PA_REQUEST].ptr, req->v[PA_REQUEST].len));
    }
    return PROTO_REQUEST;
}
