/*
 * quota_redis.c - the Redis quota store (see quota_redis.h for the contract).
 *
 * Public: quota_redis_new/free, quota_redis_submit, quota_redis_cancel,
 * quota_redis_stats, quota_redis_ready, quota_redis_key_*. The script it
 * runs is policyd/quota.lua (quota_redis_script, quota_redis_script.c).
 *
 * Connection life cycle, all on the event loop:
 *   idle --timer--> [sentinel query] --> connecting --setup replies--> ready
 *   any failure, a request deadline missed, READONLY --> idle (back-off:
 *   100 ms doubling to 5 s, reset once ready).
 * Setup is pipelined: AUTH (if configured), SELECT (if not 0), ROLE (with
 * Sentinel: must say "master"), SCRIPT LOAD; the connection is "ready" when
 * the script's SHA1 is back, and the whole setup has redis_connect_timeout.
 * Requests made while not ready are refused at once (NULL) so that the
 * caller's fallback answers without waiting.
 *
 * Keys (prefix = redis_key_prefix, P = principal; P's bytes go into the key
 * as they are, hiredis sends them length-delimited):
 *   <prefix>:v2:q:p:{P}                        hash: per series its total,
 *                                              oldest/newest bucket and the
 *                                              newest count; reservations
 *                                              txid -> "expires:msgs:rcpts"
 *                                              with their count and sums;
 *                                              TTL past every series and
 *                                              reservation it holds
 *   <prefix>:v2:q:w:<m|r>:<len_ms>:<g_ms>:{P}  hash: closed buckets,
 *                                              bucket -> "count:next"; TTL
 *                                              until the newest of them
 *                                              leaves the window
 *   <prefix>:v2:q:d:{P}:<instance>             "1", TTL instance_ttl
 * (v1, before 2026-11, kept bucket -> count only and read whole hashes on
 * every call; the layouts differ, so the version is part of the key.)
 * All of one principal's keys share the hash tag, so one script call is legal
 * in Redis Cluster. The script takes the time from Redis (TIME): every host
 * shares one clock.
 */
#include "quota_redis.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "log.h"
#include "util.h"

#define QR_BACKOFF_MIN_MS 100
#define QR_BACKOFF_MAX_MS 5000
#define QR_MAX_SENTINELS 8
#define QR_MAX_SILENT 3
#define QR_HOST_MAX 256
#define QR_ARGS_MAX (12 + 5 * LIMITER_MAX_WINDOWS)
#define QR_NUM_MAX 24
#define QR_FREE_MAX 1024 /* requests kept for reuse */
/* A command: its arguments with their RESP headers (at most 24 bytes each). */
#define QR_CMD_MAX                                                                                 \
    (QR_ARGS_MAX * (QR_NUM_MAX + 24) + (LIMITER_MAX_WINDOWS + 2) * QUOTA_REDIS_KEY_MAX + 64)

struct qr_endpoint {
    char host[QR_HOST_MAX]; /* or the unix socket path */
    int port;               /* 0 = unix socket */
};

struct quota_redis {
    struct event_base *base;
    char *prefix, *username, *password, *master_name;
    long long database;
    struct timeval timeout, connect_timeout;
    struct qr_endpoint server;
    struct qr_endpoint sentinels[QR_MAX_SENTINELS];
    size_t nsentinels, next_sentinel;

    redisAsyncContext *ac;  /* the data connection */
    redisAsyncContext *sac; /* a Sentinel being asked */
    int ready;
    char sha[41];
    struct event *retry_timer, *setup_timer;
    long backoff_ms;
    int outage_logged;
    unsigned silent_deadlines; /* deadlines missed with no reply since */
    struct quota_redis_stats st;
    struct quota_redis_req *free_reqs; /* for reuse, with their timers */
    size_t nfree;
};

struct quota_redis_req {
    struct quota_redis *qr;
    quota_redis_cb cb;
    void *arg;
    struct event *timer; /* made once, kept while the request is pooled */
    struct quota_redis_req *next_free;
    int done; /* answered (deadline, cancel): free when hiredis lets go */
    int argc;
    const char *argv[QR_ARGS_MAX];
    size_t argvlen[QR_ARGS_MAX];
    char keys[LIMITER_MAX_WINDOWS + 2][QUOTA_REDIS_KEY_MAX];
    char nums[QR_ARGS_MAX][QR_NUM_MAX];
    char cmd[QR_CMD_MAX]; /* the EVALSHA in RESP */
};

static void qr_start(struct quota_redis *qr);
static void qr_deadline_cb(evutil_socket_t fd, short what, void *arg);

/* ---- keys ---- */

/* Append len bytes to dst[*pos]; 0, or -1 when they do not fit (with room
 * for the NUL that the caller adds). */
static int qr_put(char *dst, size_t dstlen, size_t *pos, const char *src, size_t len)
{
    if (len >= dstlen - *pos)
        return -1;
    memcpy(dst + *pos, src, len);
    *pos += len;
    return 0;
}

/* Decimal digits of v into buf (at least 21 bytes), not NUL-terminated;
 * returns their count. snprintf is slow on this path (10+ per request). */
static size_t qr_u64(char *buf, uint64_t v)
{
    char tmp[24];
    size_t n = 0;

    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        buf[i] = tmp[n - 1 - i];
    return n;
}

static int qr_put_u64(char *dst, size_t dstlen, size_t *pos, uint64_t v)
{
    char d[24];

    return qr_put(dst, dstlen, pos, d, qr_u64(d, v));
}

/* "<prefix>:v2:q:<head>{P}<tail>"; the length, or 0 when it does not fit. */
static size_t qr_key(char *dst, size_t dstlen, const char *prefix, const char *head, size_t headlen,
                     const char *p, size_t plen, const char *tail, size_t taillen)
{
    size_t n = 0;

    if (plen > QUOTA_REDIS_PRINCIPAL_MAX || dstlen == 0 ||
        qr_put(dst, dstlen, &n, prefix, strlen(prefix)) || qr_put(dst, dstlen, &n, ":v2:q:", 6) ||
        qr_put(dst, dstlen, &n, head, headlen) || qr_put(dst, dstlen, &n, "{", 1) ||
        qr_put(dst, dstlen, &n, p, plen) || qr_put(dst, dstlen, &n, "}", 1) ||
        qr_put(dst, dstlen, &n, tail, taillen))
        return 0;
    dst[n] = '\0';
    return n;
}

size_t quota_redis_key_pending(char *dst, size_t dstlen, const char *prefix, const char *p,
                               size_t plen)
{
    return qr_key(dst, dstlen, prefix, "p:", 2, p, plen, "", 0);
}

size_t quota_redis_key_series(char *dst, size_t dstlen, const char *prefix,
                              const struct limiter_window *w, unsigned buckets, const char *p,
                              size_t plen)
{
    char head[64];
    size_t n = 0;

    head[n++] = 'w';
    head[n++] = ':';
    head[n++] = w->kind == LIMITER_MESSAGES ? 'm' : 'r';
    head[n++] = ':';
    n += qr_u64(head + n, w->len_ms);
    head[n++] = ':';
    n += qr_u64(head + n, limiter_bucket_ms(w->len_ms, buckets));
    head[n++] = ':';
    return qr_key(dst, dstlen, prefix, head, n, p, plen, "", 0);
}

size_t quota_redis_key_done(char *dst, size_t dstlen, const char *prefix, const char *p,
                            size_t plen, const char *instance)
{
    char tail[80];
    size_t ilen = strlen(instance), n = 0;

    tail[n++] = ':';
    /* Postfix instances are short hex and dots; anything else is hashed. */
    if (ilen <= 64 && strspn(instance, "0123456789abcdefABCDEF.") == ilen) {
        memcpy(tail + n, instance, ilen);
        n += ilen;
    } else {
        static const char hex[] = "0123456789abcdef";
        uint64_t h = limiter_hash(instance, ilen);
        tail[n++] = 'h';
        for (int i = 60; i >= 0; i -= 4)
            tail[n++] = hex[(h >> i) & 15];
    }
    return qr_key(dst, dstlen, prefix, "d:", 2, p, plen, tail, n);
}

/* ---- settings ---- */

/* "host:port", "[v6]:port" or "unix:/path". */
static int qr_parse_endpoint(const char *s, size_t len, struct qr_endpoint *ep)
{
    const char *colon, *host = s;
    char port[8], *end;
    size_t hl, pl;
    unsigned long v;

    if (len > 5 && strncmp(s, "unix:", 5) == 0) {
        if (len - 5 >= sizeof(ep->host))
            return -1;
        memcpy(ep->host, s + 5, len - 5);
        ep->host[len - 5] = '\0';
        ep->port = 0;
        return 0;
    }
    colon = memrchr(s, ':', len);
    if (colon == NULL)
        return -1;
    hl = (size_t)(colon - s);
    pl = len - hl - 1;
    if (hl >= 2 && s[0] == '[' && s[hl - 1] == ']') {
        host = s + 1;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof(ep->host) || pl == 0 || pl >= sizeof(port))
        return -1;
    memcpy(ep->host, host, hl);
    ep->host[hl] = '\0';
    memcpy(port, colon + 1, pl);
    port[pl] = '\0';
    errno = 0;
    v = strtoul(port, &end, 10);
    if (errno || *end || v == 0 || v > 65535)
        return -1;
    ep->port = (int)v;
    return 0;
}

/* First line of the password file, or NULL with err set. */
static char *qr_read_password(const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    char buf[1024];
    char *pw;

    if (fp == NULL) {
        snprintf(err, errlen, "redis_password_file = %s: %s", path, strerror(errno));
        return NULL;
    }
    if (fgets(buf, sizeof(buf), fp) == NULL)
        buf[0] = '\0';
    fclose(fp);
    buf[strcspn(buf, "\r\n")] = '\0';
    pw = util_strdup(buf);
    explicit_bzero(buf, sizeof(buf));
    if (pw == NULL)
        snprintf(err, errlen, "out of memory");
    return pw;
}

static struct timeval qr_tv(long long ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

static void qr_retry_cb(evutil_socket_t fd, short what, void *arg);
static void qr_setup_timeout_cb(evutil_socket_t fd, short what, void *arg);

struct quota_redis *quota_redis_new(struct event_base *base, const struct store_conf *sc, char *err,
                                    size_t errlen)
{
    struct quota_redis *qr = calloc(1, sizeof(*qr));
    const char *p;

    if (qr == NULL) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    qr->base = base;
    qr->database = sc->database;
    qr->timeout = qr_tv(sc->timeout_ms);
    qr->connect_timeout = qr_tv(sc->connect_timeout_ms);
    qr->backoff_ms = QR_BACKOFF_MIN_MS;
    qr->prefix = util_strdup(sc->key_prefix);
    qr->username = util_strdup(sc->username);
    qr->master_name = util_strdup(sc->master_name);
    qr->retry_timer = evtimer_new(base, qr_retry_cb, qr);
    qr->setup_timer = evtimer_new(base, qr_setup_timeout_cb, qr);
    if (!qr->prefix || !qr->username || !qr->master_name || !qr->retry_timer || !qr->setup_timer) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    for (p = sc->sentinels; *p;) {
        size_t len;
        p += strspn(p, ", \t");
        len = strcspn(p, ", \t");
        if (len == 0)
            break;
        if (qr->nsentinels == QR_MAX_SENTINELS ||
            qr_parse_endpoint(p, len, &qr->sentinels[qr->nsentinels]) != 0 ||
            qr->sentinels[qr->nsentinels].port == 0) {
            snprintf(err, errlen, "redis_sentinels = %s: want up to %d host:port items",
                     sc->sentinels, QR_MAX_SENTINELS);
            goto fail;
        }
        qr->nsentinels++;
        p += len;
    }
    if (qr->nsentinels == 0 &&
        qr_parse_endpoint(sc->server, strlen(sc->server), &qr->server) != 0) {
        snprintf(err, errlen, "redis_server = %s: want host:port, [ipv6]:port or unix:/path",
                 sc->server);
        goto fail;
    }
    if (sc->password_file[0] &&
        (qr->password = qr_read_password(sc->password_file, err, errlen)) == NULL)
        goto fail;
    qr_start(qr);
    return qr;
fail:
    quota_redis_free(qr);
    return NULL;
}

/* ---- event adapter ----
 *
 * hiredis' libevent adapter re-arms a one-shot read event after every
 * reply and arms, then disarms, a write event for every command: four
 * epoll_ctl calls and an extra loop iteration per request, and one write()
 * per command. This one keeps the read event armed, and on a connected
 * context turns "start writing" into an activated flush event (no system
 * call) that runs once the current callbacks are done: every command made
 * in one loop iteration goes out in one write(). Only a write that would
 * block, or a connect still in progress, arms a real write event.
 */

struct qr_ev {
    redisAsyncContext *ac;
    struct event *rev, *wev, *flush;
    int reading, writing, flushing;
};

static const redisAsyncContext *qr_flushing_ac; /* in redisAsyncHandleWrite from a flush */

static void qr_ev_read_cb(evutil_socket_t fd, short what, void *arg)
{
    struct qr_ev *e = arg;
    (void)fd;
    (void)what;
    redisAsyncHandleRead(e->ac);
}

static void qr_ev_write_cb(evutil_socket_t fd, short what, void *arg)
{
    struct qr_ev *e = arg;
    (void)fd;
    (void)what;
    redisAsyncHandleWrite(e->ac);
}

static void qr_ev_flush_cb(evutil_socket_t fd, short what, void *arg)
{
    struct qr_ev *e = arg;
    redisAsyncContext *ac = e->ac;
    (void)fd;
    (void)what;

    e->flushing = 0;
    qr_flushing_ac = ac;
    redisAsyncHandleWrite(ac); /* may free ac and e (a write error) */
    qr_flushing_ac = NULL;
}

static void qr_ev_add_read(void *privdata)
{
    struct qr_ev *e = privdata;

    if (!e->reading && event_add(e->rev, NULL) == 0)
        e->reading = 1;
}

static void qr_ev_del_read(void *privdata)
{
    struct qr_ev *e = privdata;

    if (e->reading)
        event_del(e->rev);
    e->reading = 0;
}

static void qr_ev_add_write(void *privdata)
{
    struct qr_ev *e = privdata;

    if ((e->ac->c.flags & REDIS_CONNECTED) && qr_flushing_ac != e->ac) {
        if (!e->flushing && !e->writing) {
            event_active(e->flush, EV_WRITE, 1);
            e->flushing = 1;
        }
        return;
    }
    if (!e->writing && event_add(e->wev, NULL) == 0)
        e->writing = 1;
}

static void qr_ev_del_write(void *privdata)
{
    struct qr_ev *e = privdata;

    if (e->writing)
        event_del(e->wev);
    e->writing = 0;
}

static void qr_ev_cleanup(void *privdata)
{
    struct qr_ev *e = privdata;

    event_free(e->rev);
    event_free(e->wev);
    event_free(e->flush); /* also when still active */
    free(e);
}

/* Attach ac to base with the hooks above; -1 when out of memory. */
static int qr_attach(redisAsyncContext *ac, struct event_base *base)
{
    struct qr_ev *e = calloc(1, sizeof(*e));

    if (e == NULL)
        return -1;
    e->ac = ac;
    e->rev = event_new(base, ac->c.fd, EV_READ | EV_PERSIST, qr_ev_read_cb, e);
    e->wev = event_new(base, ac->c.fd, EV_WRITE | EV_PERSIST, qr_ev_write_cb, e);
    e->flush = event_new(base, -1, 0, qr_ev_flush_cb, e);
    if (e->rev == NULL || e->wev == NULL || e->flush == NULL) {
        if (e->rev)
            event_free(e->rev);
        if (e->wev)
            event_free(e->wev);
        if (e->flush)
            event_free(e->flush);
        free(e);
        return -1;
    }
    ac->ev.addRead = qr_ev_add_read;
    ac->ev.delRead = qr_ev_del_read;
    ac->ev.addWrite = qr_ev_add_write;
    ac->ev.delWrite = qr_ev_del_write;
    ac->ev.cleanup = qr_ev_cleanup;
    ac->ev.data = e;
    /* The connect completes when the socket is writable. */
    qr_ev_add_read(e);
    if (event_add(e->wev, NULL) == 0)
        e->writing = 1;
    return 0;
}

/* ---- connection ---- */

static void qr_schedule_retry(struct quota_redis *qr)
{
    struct timeval tv = qr_tv(qr->backoff_ms);

    evtimer_del(qr->setup_timer);
    evtimer_add(qr->retry_timer, &tv);
    qr->backoff_ms =
        qr->backoff_ms * 2 > QR_BACKOFF_MAX_MS ? QR_BACKOFF_MAX_MS : qr->backoff_ms * 2;
}

/* Log a failure once per outage. */
static void qr_trouble(struct quota_redis *qr, const char *what, const char *detail)
{
    if (!qr->outage_logged)
        log_warn("redis: %s: %s; quota decisions use the fallback until it is back", what,
                 detail ? detail : "");
    qr->outage_logged = 1;
}

/* Drop the data connection (pending requests fail at once) and retry later. */
static void qr_drop(struct quota_redis *qr, const char *why)
{
    redisAsyncContext *ac = qr->ac;

    qr->ac = NULL;
    qr->ready = 0;
    qr->st.connected = 0;
    if (ac != NULL) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    qr_trouble(qr, "connection dropped", why);
    qr_schedule_retry(qr);
}

static void qr_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct quota_redis *qr = ac->data;

    (void)status;
    if (qr == NULL || qr->ac != ac)
        return; /* one we dropped ourselves */
    qr->ac = NULL;
    qr->ready = 0;
    qr->st.connected = 0;
    qr_trouble(qr, "connection lost", ac->errstr[0] ? ac->errstr : "closed by server");
    qr_schedule_retry(qr);
}

static void qr_on_connect(const redisAsyncContext *ac, int status)
{
    struct quota_redis *qr = ac->data;

    if (qr == NULL || qr->ac != ac || status == REDIS_OK)
        return;
    /* hiredis frees the context after this callback. */
    qr->ac = NULL;
    qr->st.connect_failures++;
    qr_trouble(qr, "connect failed", ac->errstr);
    qr_schedule_retry(qr);
}

/* Setup step names, passed as hiredis privdata (which is not const). */
static char qr_step_auth[] = "AUTH", qr_step_select[] = "SELECT", qr_step_role[] = "ROLE",
            qr_step_script[] = "SCRIPT LOAD";

/* Setup replies: AUTH, SELECT, ROLE must be fine; SCRIPT LOAD makes us ready. */
static void qr_setup_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct quota_redis *qr = ac->data;
    redisReply *reply = r;
    const char *step = privdata;

    if (qr == NULL || qr->ac != ac || reply == NULL)
        return; /* dropped, or the disconnect callback handles it */
    if (reply->type == REDIS_REPLY_ERROR) {
        char why[160];
        snprintf(why, sizeof(why), "%s: %.120s", step, reply->str);
        qr_drop(qr, why);
        return;
    }
    if (step == qr_step_role) {
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
            reply->element[0]->type != REDIS_REPLY_STRING ||
            strcmp(reply->element[0]->str, "master") != 0)
            qr_drop(qr, "Sentinel named a server that is not a master");
        return;
    }
    if (step == qr_step_script) {
        if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
            qr_drop(qr, "SCRIPT LOAD: unexpected reply");
            return;
        }
        memcpy(qr->sha, reply->str, 40);
        qr->sha[40] = '\0';
        qr->ready = 1;
        qr->st.connected = 1;
        qr->backoff_ms = QR_BACKOFF_MIN_MS;
        evtimer_del(qr->setup_timer);
        if (qr->outage_logged)
            log_info("redis: connected again to %s%s%d; shared quotas in force", qr->server.host,
                     qr->server.port ? ":" : "", qr->server.port);
        qr->outage_logged = 0;
    }
}

static void qr_connect_data(struct quota_redis *qr)
{
    redisAsyncContext *ac = qr->server.port ? redisAsyncConnect(qr->server.host, qr->server.port)
                                            : redisAsyncConnectUnix(qr->server.host);

    if (ac == NULL || ac->err) {
        qr->st.connect_failures++;
        qr_trouble(qr, "connect failed", ac ? ac->errstr : "out of memory");
        if (ac)
            redisAsyncFree(ac);
        qr_schedule_retry(qr);
        return;
    }
    if (qr_attach(ac, qr->base) != 0) {
        qr->st.connect_failures++;
        qr_trouble(qr, "connect failed", "out of memory");
        redisAsyncFree(ac);
        qr_schedule_retry(qr);
        return;
    }
    ac->data = qr;
    qr->ac = ac;
    qr->st.reconnects++;
    redisAsyncSetConnectCallback(ac, qr_on_connect);
    redisAsyncSetDisconnectCallback(ac, qr_on_disconnect);
    if (qr->password) {
        if (qr->username[0])
            redisAsyncCommand(ac, qr_setup_reply, qr_step_auth, "AUTH %s %s", qr->username,
                              qr->password);
        else
            redisAsyncCommand(ac, qr_setup_reply, qr_step_auth, "AUTH %s", qr->password);
    }
    if (qr->database)
        redisAsyncCommand(ac, qr_setup_reply, qr_step_select, "SELECT %lld", qr->database);
    if (qr->nsentinels)
        redisAsyncCommand(ac, qr_setup_reply, qr_step_role, "ROLE");
    redisAsyncCommand(ac, qr_setup_reply, qr_step_script, "SCRIPT LOAD %s", quota_redis_script);
    evtimer_add(qr->setup_timer, &qr->connect_timeout);
}

static void qr_sentinel_next(struct quota_redis *qr);

static void qr_sentinel_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct quota_redis *qr = ac->data;
    redisReply *reply = r;
    (void)privdata;

    if (qr == NULL || qr->sac != ac)
        return;
    qr->sac = NULL;
    ac->data = NULL;
    if (reply != NULL && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2 &&
        reply->element[0]->type == REDIS_REPLY_STRING &&
        reply->element[1]->type == REDIS_REPLY_STRING &&
        reply->element[0]->len < sizeof(qr->server.host)) {
        util_strlcpy(qr->server.host, reply->element[0]->str, sizeof(qr->server.host));
        char *end;
        long port = strtol(reply->element[1]->str, &end, 10);
        qr->server.port = (*end == '\0' && port > 0 && port <= 65535) ? (int)port : 0;
        redisAsyncFree(ac); /* deferred by hiredis: we are in its callback */
        if (qr->server.port > 0) {
            qr_connect_data(qr);
            return;
        }
    } else {
        redisAsyncFree(ac);
    }
    qr_sentinel_next(qr);
}

/* Ask the next Sentinel; after a full round without an answer, back off. */
static void qr_sentinel_next(struct quota_redis *qr)
{
    const struct qr_endpoint *ep;
    redisAsyncContext *ac;

    if (qr->next_sentinel >= qr->nsentinels) {
        qr->next_sentinel = 0;
        qr->st.connect_failures++;
        qr_trouble(qr, "no Sentinel named a master", qr->master_name);
        qr_schedule_retry(qr);
        return;
    }
    ep = &qr->sentinels[qr->next_sentinel++];
    ac = redisAsyncConnect(ep->host, ep->port);
    if (ac == NULL || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        qr_sentinel_next(qr);
        return;
    }
    if (qr_attach(ac, qr->base) != 0) {
        redisAsyncFree(ac);
        qr_sentinel_next(qr);
        return;
    }
    ac->data = qr;
    qr->sac = ac;
    redisAsyncCommand(ac, qr_sentinel_reply, NULL, "SENTINEL get-master-addr-by-name %s",
                      qr->master_name);
    evtimer_add(qr->setup_timer, &qr->connect_timeout);
}

static void qr_start(struct quota_redis *qr)
{
    if (qr->nsentinels) {
        qr->next_sentinel = 0;
        qr_sentinel_next(qr);
    } else {
        qr_connect_data(qr);
    }
}

static void qr_retry_cb(evutil_socket_t fd, short what, void *arg)
{
    struct quota_redis *qr = arg;
    (void)fd;
    (void)what;
    if (qr->ac == NULL && qr->sac == NULL)
        qr_start(qr);
}

/* The connect/setup (or a Sentinel query) took longer than allowed. */
static void qr_setup_timeout_cb(evutil_socket_t fd, short what, void *arg)
{
    struct quota_redis *qr = arg;
    (void)fd;
    (void)what;
    if (qr->sac != NULL) {
        redisAsyncContext *sac = qr->sac;
        qr->sac = NULL;
        sac->data = NULL;
        redisAsyncFree(sac);
        qr_sentinel_next(qr);
        return;
    }
    if (qr->ac != NULL && !qr->ready) {
        qr->st.connect_failures++;
        qr_drop(qr, "connect timeout");
    }
}

void quota_redis_free(struct quota_redis *qr)
{
    if (qr == NULL)
        return;
    if (qr->ac) {
        qr->ac->data = NULL;
        redisAsyncFree(qr->ac);
    }
    if (qr->sac) {
        qr->sac->data = NULL;
        redisAsyncFree(qr->sac);
    }
    if (qr->retry_timer)
        event_free(qr->retry_timer);
    if (qr->setup_timer)
        event_free(qr->setup_timer);
    if (qr->password) {
        explicit_bzero(qr->password, strlen(qr->password));
        free(qr->password);
    }
    while (qr->free_reqs) {
        struct quota_redis_req *req = qr->free_reqs;
        qr->free_reqs = req->next_free;
        event_free(req->timer);
        free(req);
    }
    free(qr->prefix);
    free(qr->username);
    free(qr->master_name);
    free(qr);
}

/* ---- requests ---- */

/* A request from the pool, or a new one; NULL when out of memory. Only
 * the fields qr_build does not set are reset: a request is ~13 KB. */
static struct quota_redis_req *qr_req_get(struct quota_redis *qr, quota_redis_cb cb, void *arg)
{
    struct quota_redis_req *req = qr->free_reqs;

    if (req != NULL) {
        qr->free_reqs = req->next_free;
        qr->nfree--;
    } else {
        req = malloc(sizeof(*req));
        if (req == NULL)
            return NULL;
        req->timer = evtimer_new(qr->base, qr_deadline_cb, req);
        if (req->timer == NULL) {
            free(req);
            return NULL;
        }
    }
    req->qr = qr;
    req->cb = cb;
    req->arg = arg;
    req->done = 0;
    req->next_free = NULL;
    return req;
}

/* Back to the pool (hiredis and the timer have let go of it). */
static void qr_req_free(struct quota_redis_req *req)
{
    struct quota_redis *qr = req->qr;

    if (qr->nfree >= QR_FREE_MAX) {
        event_free(req->timer);
        free(req);
        return;
    }
    req->next_free = qr->free_reqs;
    qr->free_reqs = req;
    qr->nfree++;
}

/* Parse the script's reply into res; 0 or -1. */
static int qr_parse_result(const redisReply *reply, struct limiter_result *res)
{
    memset(res, 0, sizeof(*res));
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
        reply->element[0]->type != REDIS_REPLY_INTEGER)
        return -1;
    switch (reply->element[0]->integer) {
    case 0:
        res->verdict = LIMITER_OK;
        return 0;
    case 2:
        res->verdict = LIMITER_DUPLICATE;
        return 0;
    case 1:
        if (reply->elements != 3 || reply->element[1]->type != REDIS_REPLY_INTEGER ||
            reply->element[2]->type != REDIS_REPLY_INTEGER || reply->element[1]->integer < 0 ||
            reply->element[1]->integer >= LIMITER_MAX_WINDOWS || reply->element[2]->integer < 0)
            return -1;
        res->verdict = LIMITER_EXCEEDED;
        res->window = (size_t)reply->element[1]->integer;
        res->used = (uint64_t)reply->element[2]->integer;
        return 0;
    default:
        return -1;
    }
}

static void qr_reply(redisAsyncContext *ac, void *r, void *privdata);

static void qr_finish(struct quota_redis_req *req, int ok, const struct limiter_result *res)
{
    quota_redis_cb cb = req->cb;
    void *arg = req->arg;

    req->done = 1;
    req->cb = NULL;
    evtimer_del(req->timer);
    if (cb)
        cb(arg, ok, res);
}

static void qr_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct quota_redis_req *req = privdata;
    struct quota_redis *qr = req->qr;
    redisReply *reply = r;
    struct limiter_result res;

    if (reply != NULL)
        qr->silent_deadlines = 0; /* the server answers */
    if (req->done) {
        qr_req_free(req);
        return;
    }
    if (reply == NULL) { /* connection gone */
        qr->st.errors++;
        qr_finish(req, -1, NULL);
        qr_req_free(req);
        return;
    }
    if (reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "NOSCRIPT", 8) == 0 &&
        req->argv[0][4] == 'S') {
        /* Script cache emptied (restart, failover, SCRIPT FLUSH): EVAL re-caches. */
        qr->st.noscript++;
        req->argv[0] = "EVAL";
        req->argvlen[0] = 4;
        req->argv[1] = quota_redis_script;
        req->argvlen[1] = strlen(quota_redis_script);
        if (redisAsyncCommandArgv(ac, qr_reply, req, req->argc, req->argv, req->argvlen) ==
            REDIS_OK)
            return;
    }
    if (reply->type == REDIS_REPLY_ERROR || qr_parse_result(reply, &res) != 0) {
        int readonly = reply->type == REDIS_REPLY_ERROR && strncmp(reply->str, "READONLY", 8) == 0;
        char why[160];
        qr->st.errors++;
        snprintf(why, sizeof(why), "%.150s",
                 reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
        qr_finish(req, -1, NULL);
        qr_req_free(req);
        if (readonly && qr->ac == ac)
            qr_drop(qr, why); /* the master was demoted: ask Sentinel again */
        else
            log_warn("redis: quota script: %s", why);
        return;
    }
    qr_finish(req, 0, &res);
    qr_req_free(req);
}

/* The deadline passed: answer "unavailable" now. */
static void qr_deadline_cb(evutil_socket_t fd, short what, void *arg)
{
    struct quota_redis_req *req = arg;
    struct quota_redis *qr = req->qr;
    quota_redis_cb cb = req->cb;
    void *cbarg = req->arg;
    (void)fd;
    (void)what;

    qr->st.timeouts++;
    req->done = 1; /* hiredis still holds it; freed by qr_reply(NULL) below */
    req->cb = NULL;
    /* One late reply is a slow moment (the request is answered anyway);
     * QR_MAX_SILENT deadlines in a row without any reply is a hung server:
     * drop it, so that requests fall back at once until it is back. */
    if (qr->ac != NULL && ++qr->silent_deadlines >= QR_MAX_SILENT) {
        qr->silent_deadlines = 0;
        qr_drop(qr, "no reply within redis_timeout");
    }
    if (cb)
        cb(cbarg, -1, NULL);
}

/* The request's argv as one RESP command in req->cmd; its length, or 0
 * when it does not fit. */
static size_t qr_resp(struct quota_redis_req *req)
{
    size_t n = 0;

    if (qr_put(req->cmd, sizeof(req->cmd), &n, "*", 1) ||
        qr_put_u64(req->cmd, sizeof(req->cmd), &n, (uint64_t)req->argc) ||
        qr_put(req->cmd, sizeof(req->cmd), &n, "\r\n", 2))
        return 0;
    for (int i = 0; i < req->argc; i++)
        if (qr_put(req->cmd, sizeof(req->cmd), &n, "$", 1) ||
            qr_put_u64(req->cmd, sizeof(req->cmd), &n, req->argvlen[i]) ||
            qr_put(req->cmd, sizeof(req->cmd), &n, "\r\n", 2) ||
            qr_put(req->cmd, sizeof(req->cmd), &n, req->argv[i], req->argvlen[i]) ||
            qr_put(req->cmd, sizeof(req->cmd), &n, "\r\n", 2))
            return 0;
    return n;
}

/* Set argument a of req to the string v of length n. */
static inline void qr_arg(struct quota_redis_req *req, int a, const char *v, size_t n)
{
    req->argv[a] = v;
    req->argvlen[a] = n;
}

/* Argument a of req: v in decimal, in number slot `slot`. */
static inline void qr_arg_num(struct quota_redis_req *req, int a, int slot, uint64_t v)
{
    size_t n = qr_u64(req->nums[slot], v);

    req->nums[slot][n] = '\0';
    qr_arg(req, a, req->nums[slot], n);
}

/* Fill argv for EVALSHA and the RESP command; -1 when a key does not fit. */
static int qr_build(struct quota_redis *qr, struct quota_redis_req *req,
                    const struct quota_redis_op *op)
{
    const struct limiter_limits *l = op->limits;
    static const char *const ops[] = {"c", "m", "r"};
    int a = 0;
    size_t n;

    qr_arg(req, a++, "EVALSHA", 7);
    qr_arg(req, a++, qr->sha, 40);
    qr_arg_num(req, a++, 0, 2 + l->n);
    n = quota_redis_key_pending(req->keys[0], QUOTA_REDIS_KEY_MAX, qr->prefix, op->principal,
                                op->principal_len);
    qr_arg(req, a++, req->keys[0], n);
    if (n == 0)
        return -1;
    n = quota_redis_key_done(req->keys[1], QUOTA_REDIS_KEY_MAX, qr->prefix, op->principal,
                             op->principal_len, op->instance ? op->instance : "");
    qr_arg(req, a++, req->keys[1], n);
    if (n == 0)
        return -1;
    for (size_t i = 0; i < l->n; i++) {
        n = quota_redis_key_series(req->keys[2 + i], QUOTA_REDIS_KEY_MAX, qr->prefix, &l->w[i],
                                   l->buckets, op->principal, op->principal_len);
        qr_arg(req, a++, req->keys[2 + i], n);
        if (n == 0)
            return -1;
    }
    qr_arg(req, a++, ops[op->kind], 1);
    if (op->txid)
        qr_arg_num(req, a++, 2, op->txid);
    else
        qr_arg(req, a++, "", 0);
    if (op->release)
        qr_arg_num(req, a++, 3, op->release);
    else
        qr_arg(req, a++, "", 0);
    qr_arg_num(req, a++, 4, l->reserve_ttl_ms ? l->reserve_ttl_ms : 1);
    qr_arg_num(req, a++, 5, (op->instance && op->instance[0]) ? l->done_ttl_ms : 0);
    qr_arg_num(req, a++, 6, op->cost.messages);
    qr_arg_num(req, a++, 7, op->cost.recipients);
    for (size_t i = 0; i < l->n; i++) {
        int s = 8 + 3 * (int)i;
        qr_arg(req, a++, l->w[i].kind == LIMITER_MESSAGES ? "m" : "r", 1);
        qr_arg_num(req, a++, s, l->w[i].max);
        qr_arg_num(req, a++, s + 1, l->w[i].len_ms);
        qr_arg_num(req, a++, s + 2, limiter_bucket_ms(l->w[i].len_ms, l->buckets));
    }
    req->argc = a;
    return 0;
}

struct quota_redis_req *quota_redis_submit(struct quota_redis *qr, const struct quota_redis_op *op,
                                           quota_redis_cb cb, void *arg)
{
    struct quota_redis_req *req;
    size_t len;

    if (!qr->ready || qr->ac == NULL)
        return NULL;
    req = qr_req_get(qr, cb, arg);
    if (req == NULL)
        return NULL;
    if (qr_build(qr, req, op) != 0 || (len = qr_resp(req)) == 0 ||
        redisAsyncFormattedCommand(qr->ac, qr_reply, req, req->cmd, len) != REDIS_OK) {
        qr_req_free(req);
        return NULL;
    }
    qr->st.requests++;
    evtimer_add(req->timer, &qr->timeout);
    return req;
}

void quota_redis_cancel(struct quota_redis_req *req)
{
    req->cb = NULL;
    req->done = 1;
    evtimer_del(req->timer);
}

const struct quota_redis_stats *quota_redis_stats(const struct quota_redis *qr)
{
    return &qr->st;
}

int quota_redis_ready(const struct quota_redis *qr)
{
    return qr->ready;
}
