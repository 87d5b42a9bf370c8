/*
 * quota_redis.c - the Redis quota store (see quota_redis.h for the contract):
 * settings, the connection's life cycle, Sentinel.
 *
 * Public: quota_redis_new/free, quota_redis_stats, quota_redis_ready; to
 * the other quota_redis*.c files: quota_redis_drop. The rest of the module:
 * quota_redis_req.c (quota_redis_submit/cancel: one script call),
 * quota_redis_key.c (quota_redis_key_*: key names and layout),
 * quota_redis_ev.c (the event adapter), quota_redis_script.c (the script,
 * policyd/quota.lua).
 *
 * Connection life cycle, all on the event loop:
 *   idle --timer--> [sentinel query] --> connecting --setup replies--> ready
 *   any failure, a request deadline missed, READONLY --> idle (back-off:
 *   100 ms doubling to 5 s, reset once ready).
 * Setup is pipelined: AUTH (if configured), SELECT (if not 0), ROLE (with
 * Sentinel: must say "master"), SCRIPT LOAD; the connection is "ready" when
 * the script's SHA1 is back, and the whole setup has redis_connect_timeout.
 * Requests made while not ready are refused at once (NULL) so that the
 * caller's fallback answers without waiting. A failure is logged once per
 * outage, and the return once. The script takes the time from Redis
 * (TIME): every host shares one clock.
 *
 * Untrusted: the replies of Redis and of Sentinel (a master's address is
 * checked for length and port range before use). The password is read
 * once, at quota_redis_new, and wiped at quota_redis_free.
 */
#include "quota_redis_priv.h"

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

static void qr_start(struct quota_redis *qr);

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
void quota_redis_drop(struct quota_redis *qr, const char *why)
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
        quota_redis_drop(qr, why);
        return;
    }
    if (step == qr_step_role) {
        if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
            reply->element[0]->type != REDIS_REPLY_STRING ||
            strcmp(reply->element[0]->str, "master") != 0)
            quota_redis_drop(qr, "Sentinel named a server that is not a master");
        return;
    }
    if (step == qr_step_script) {
        if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
            quota_redis_drop(qr, "SCRIPT LOAD: unexpected reply");
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
    if (quota_redis_ev_attach(ac, qr->base) != 0) {
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
    if (quota_redis_ev_attach(ac, qr->base) != 0) {
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
        quota_redis_drop(qr, "connect timeout");
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
    quota_redis_req_pool_free(qr);
    free(qr->prefix);
    free(qr->username);
    free(qr->master_name);
    free(qr);
}

const struct quota_redis_stats *quota_redis_stats(const struct quota_redis *qr)
{
    return &qr->st;
}

int quota_redis_ready(const struct quota_redis *qr)
{
    return qr->ready;
}
