/*
 * metrics.c - Prometheus text on a loopback port (see metrics.h).
 *
 * Public: metrics_start, metrics_stop, metrics_observe, metrics_render.
 *
 * The counters live here (decisions) and in quota.c (quota and Redis), read
 * at scrape time. The HTTP side is libevent's evhttp: one handler, GET only,
 * bounded headers and body, so a stray client cannot make us buffer much.
 */
#include "metrics.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "log.h"
#include "quota.h"
#include "rules.h"
#include "server.h"

enum metrics_action {
    MA_DUNNO,
    MA_FILTER,
    MA_HOLD,
    MA_DEFER_IF_PERMIT,
    MA_DEFER,
    MA_REJECT,
    MA_4XX,
    MA_5XX,
    MA_OTHER,
    MA_COUNT
};
static const char *const action_names[MA_COUNT] = {
    "DUNNO", "FILTER", "HOLD", "DEFER_IF_PERMIT", "DEFER", "REJECT", "4xx", "5xx", "other"};

/* Upper bounds of the latency histogram, in microseconds. */
static const uint64_t lat_bounds[] = {100,   250,   500,   1000,   2500,   5000,
                                      10000, 25000, 50000, 100000, 250000, 1000000};
#define NBOUNDS (sizeof(lat_bounds) / sizeof(lat_bounds[0]))

static struct {
    uint64_t requests[ROLE_COUNT + 1][MA_COUNT]; /* last row: no role */
    uint64_t lat[NBOUNDS + 1];
    uint64_t lat_sum_us, lat_count;
    struct evhttp *http;
    const struct server_stats *st;
} m;

static enum metrics_action metrics_action(const char *a)
{
    size_t w = strcspn(a, " \t");
    static const struct {
        const char *word;
        enum metrics_action ma;
    } words[] = {{"DUNNO", MA_DUNNO}, {"FILTER", MA_FILTER},
                 {"HOLD", MA_HOLD},   {"DEFER_IF_PERMIT", MA_DEFER_IF_PERMIT},
                 {"DEFER", MA_DEFER}, {"REJECT", MA_REJECT}};

    for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
        if (strlen(words[i].word) == w && strncasecmp(a, words[i].word, w) == 0)
            return words[i].ma;
    if (a[0] == '4')
        return MA_4XX;
    if (a[0] == '5')
        return MA_5XX;
    return MA_OTHER;
}

void metrics_observe(const struct decision *d, uint64_t us)
{
    size_t r = (d->role >= 0 && d->role < ROLE_COUNT) ? (size_t)d->role : ROLE_COUNT;
    size_t b = 0;

    m.requests[r][metrics_action(d->action)]++;
    while (b < NBOUNDS && us > lat_bounds[b])
        b++;
    m.lat[b]++;
    m.lat_sum_us += us;
    m.lat_count++;
}

struct mbuf {
    char *p;
    size_t len, cap;
    int oom;
};

static void mb_printf(struct mbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void mb_printf(struct mbuf *b, const char *fmt, ...)
{
    va_list ap;
    int n;

    for (;;) {
        if (b->oom)
            return;
        va_start(ap, fmt);
        n = vsnprintf(b->p + b->len, b->cap - b->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            b->oom = 1;
            return;
        }
        if ((size_t)n < b->cap - b->len) {
            b->len += (size_t)n;
            return;
        }
        char *np = realloc(b->p, b->cap * 2);
        if (np == NULL) {
            b->oom = 1;
            return;
        }
        b->p = np;
        b->cap *= 2;
    }
}

#define P "portreeve_policyd_"

static void metrics_counter(struct mbuf *b, const char *name, const char *help, uint64_t v)
{
    mb_printf(b, "# HELP " P "%s %s\n# TYPE " P "%s counter\n" P "%s %llu\n", name, help, name,
              name, (unsigned long long)v);
}

static void metrics_gauge(struct mbuf *b, const char *name, const char *help, uint64_t v)
{
    mb_printf(b, "# HELP " P "%s %s\n# TYPE " P "%s gauge\n" P "%s %llu\n", name, help, name, name,
              (unsigned long long)v);
}

char *metrics_render(size_t *len)
{
    struct mbuf b = {malloc(8192), 0, 8192, 0};
    struct quota_counters q;
    uint64_t cum = 0;

    if (b.p == NULL)
        return NULL;
    quota_counters(&q);
    mb_printf(&b, "# HELP " P "requests_total Decisions by port role and action.\n"
                  "# TYPE " P "requests_total counter\n");
    for (size_t r = 0; r <= ROLE_COUNT; r++)
        for (size_t a = 0; a < MA_COUNT; a++)
            if (m.requests[r][a])
                mb_printf(&b, P "requests_total{role=\"%s\",action=\"%s\"} %llu\n",
                          r < ROLE_COUNT ? role_name((enum role)r) : "none", action_names[a],
                          (unsigned long long)m.requests[r][a]);
    mb_printf(&b, "# HELP " P "decision_seconds Time from request to answer.\n"
                  "# TYPE " P "decision_seconds histogram\n");
    for (size_t i = 0; i < NBOUNDS; i++) {
        cum += m.lat[i];
        mb_printf(&b, P "decision_seconds_bucket{le=\"%g\"} %llu\n", (double)lat_bounds[i] / 1e6,
                  (unsigned long long)cum);
    }
    mb_printf(&b,
              P "decision_seconds_bucket{le=\"+Inf\"} %llu\n" P "decision_seconds_sum %.6f\n" P
                "decision_seconds_count %llu\n",
              (unsigned long long)m.lat_count, (double)m.lat_sum_us / 1e6,
              (unsigned long long)m.lat_count);
    mb_printf(&b,
              "# HELP " P "quota_checks_total Quota checks at RCPT by store.\n"
              "# TYPE " P "quota_checks_total counter\n" P
              "quota_checks_total{store=\"redis\"} %llu\n" P
              "quota_checks_total{store=\"memory\"} %llu\n" P
              "quota_checks_total{store=\"grant\"} %llu\n",
              (unsigned long long)q.checks_redis, (unsigned long long)q.checks_memory,
              (unsigned long long)q.checks_granted);
    mb_printf(&b,
              "# HELP " P "quota_commits_total Messages counted at END-OF-MESSAGE by store.\n"
              "# TYPE " P "quota_commits_total counter\n" P
              "quota_commits_total{store=\"redis\"} %llu\n" P
              "quota_commits_total{store=\"memory\"} %llu\n",
              (unsigned long long)q.commits_redis, (unsigned long long)q.commits_memory);
    mb_printf(&b, "# HELP " P "quota_exceeded_total Quota checks that exceeded a limit.\n"
                  "# TYPE " P "quota_exceeded_total counter\n");
    for (int r = 0; r < QUOTA_ROLES; r++)
        for (int k = 0; k < 2; k++)
            mb_printf(&b, P "quota_exceeded_total{role=\"%s\",kind=\"%s\"} %llu\n",
                      role_name((enum role)r), k ? "recipients" : "messages",
                      (unsigned long long)q.exceeded[r][k]);
    metrics_counter(&b, "quota_duplicate_commits_total",
                    "Repeated END-OF-MESSAGE requests not counted again.", q.duplicates);
    metrics_counter(&b, "quota_fallbacks_total",
                    "Checks answered by the embedded store because Redis failed.", q.fallbacks);
    metrics_counter(&b, "quota_unavailable_dunno_total",
                    "Checks answered DUNNO because Redis failed.", q.unavailable_dunno);
    metrics_counter(&b, "quota_unavailable_defer_total", "Checks deferred because Redis failed.",
                    q.unavailable_defer);
    metrics_counter(&b, "redis_requests_total", "Script calls sent to Redis.", q.redis_requests);
    metrics_counter(&b, "redis_errors_total", "Redis calls that failed.", q.redis_errors);
    metrics_counter(&b, "redis_timeouts_total", "Redis calls past redis_timeout.",
                    q.redis_timeouts);
    metrics_counter(&b, "redis_noscript_total", "NOSCRIPT replies answered with EVAL.",
                    q.redis_noscript);
    metrics_counter(&b, "redis_connects_total", "Connection attempts to Redis.",
                    q.redis_reconnects);
    metrics_gauge(&b, "redis_up", "1 when the Redis connection is ready.", (uint64_t)q.redis_up);
    metrics_gauge(&b, "quota_memory_principals", "Principals in the embedded store.",
                  q.memory_principals);
    metrics_counter(&b, "quota_memory_evictions_total",
                    "Principals forgotten because the embedded store was full.",
                    q.memory_evictions);
    metrics_gauge(&b, "open_connections", "Open policy connections.",
                  m.st ? m.st->open_connections : 0);
    if (b.oom) {
        free(b.p);
        return NULL;
    }
    *len = b.len;
    return b.p;
}

static void metrics_handle(struct evhttp_request *req, void *arg)
{
    struct evbuffer *out;
    size_t len;
    char *text;
    (void)arg;

    if (evhttp_request_get_command(req) != EVHTTP_REQ_GET) {
        evhttp_send_error(req, 405, "Method Not Allowed");
        return;
    }
    text = metrics_render(&len);
    out = evbuffer_new();
    if (text == NULL || out == NULL) {
        free(text);
        if (out)
            evbuffer_free(out);
        evhttp_send_error(req, 500, "Out of memory");
        return;
    }
    evbuffer_add(out, text, len);
    free(text);
    evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
                      "text/plain; version=0.0.4");
    evhttp_send_reply(req, 200, "OK", out);
    evbuffer_free(out);
}

int metrics_start(struct event_base *base, const char *listen, const struct server_stats *st,
                  char *err, size_t errlen)
{
    char host[64];
    const char *colon = strrchr(listen, ':');
    size_t hl;
    char *end;
    unsigned long port;

    m.st = st;
    if (colon == NULL || (hl = (size_t)(colon - listen)) >= sizeof(host)) {
        snprintf(err, errlen, "policyd_quota_metrics_listen = %s: want HOST:PORT", listen);
        return -1;
    }
    if (listen[0] == '[' && hl >= 2) {
        memcpy(host, listen + 1, hl - 2);
        host[hl - 2] = '\0';
    } else {
        memcpy(host, listen, hl);
        host[hl] = '\0';
    }
    port = strtoul(colon + 1, &end, 10);
    if (*end || port == 0 || port > 65535) {
        snprintf(err, errlen, "policyd_quota_metrics_listen = %s: bad port", listen);
        return -1;
    }
    m.http = evhttp_new(base);
    if (m.http == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    evhttp_set_max_headers_size(m.http, 8192);
    evhttp_set_max_body_size(m.http, 1024);
    evhttp_set_timeout(m.http, 10);
    evhttp_set_allowed_methods(m.http, EVHTTP_REQ_GET);
    evhttp_set_cb(m.http, "/metrics", metrics_handle, NULL);
    if (evhttp_bind_socket(m.http, host, (unsigned short)port) != 0) {
        snprintf(err, errlen, "policyd_quota_metrics_listen = %s: cannot bind", listen);
        evhttp_free(m.http);
        m.http = NULL;
        return -1;
    }
    log_info("metrics: serving http://%s/metrics", listen);
    return 0;
}

void metrics_stop(void)
{
    if (m.http)
        evhttp_free(m.http);
    m.http = NULL;
}
