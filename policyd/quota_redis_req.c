/*
 * quota_redis_req.c - one call of the quota script: its arguments, the
 * command in RESP, the reply, the deadline.
 *
 * Public: quota_redis_submit, quota_redis_cancel (quota_redis.h); to the
 * other quota_redis*.c files: quota_redis_req_pool_free.
 *
 * A request is EVALSHA <sha> with the principal's keys (quota_redis_key.c)
 * and two arguments, the request and the windows, in the script's binary
 * (the calling convention is at the top of policyd/quota.lua), built into
 * the request's own buffers without snprintf and handed to hiredis as one
 * formatted command. Requests are
 * pooled (up to QR_FREE_MAX), each with its deadline timer made once.
 *
 * Contract (quota_redis.h): quota_redis_submit() returns NULL at once when
 * the connection is not ready, a key does not fit or memory runs out;
 * otherwise the callback runs exactly once, from the event loop, unless
 * quota_redis_cancel() comes first. A reply after the deadline or a cancel
 * is dropped; the request returns to the pool only when hiredis lets go of
 * it (its reply callback, or NULL when the connection goes). NOSCRIPT is
 * answered with EVAL of the script's text; READONLY (a demoted master) and
 * QR_MAX_SILENT deadlines in a row without a reply drop the connection.
 * Replies are untrusted: anything but the script's {0}, {0, granted},
 * {1, window, used} or {2} is an error.
 */
#include "quota_redis_priv.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "log.h"

#define QR_MAX_SILENT 3
#define QR_ARGS_MAX (5 + 2 + LIMITER_MAX_WINDOWS)
#define QR_FREE_MAX 1024 /* requests kept for reuse */
/* A command: its arguments with their RESP headers (at most 24 bytes each). */
#define QR_CMD_MAX                                                                                 \
    (QR_ARGS_MAX * 24 + (LIMITER_MAX_WINDOWS + 2) * QUOTA_REDIS_KEY_MAX +                          \
     QUOTA_REDIS_REQ_ARG_LEN + LIMITER_MAX_WINDOWS * QUOTA_REDIS_WINDOW_ARG_LEN + 64)

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
    char nkeys[4];
    char request[QUOTA_REDIS_REQ_ARG_LEN];
    char windows[LIMITER_MAX_WINDOWS * QUOTA_REDIS_WINDOW_ARG_LEN];
    char cmd[QR_CMD_MAX]; /* the EVALSHA in RESP */
};

static void qr_deadline_cb(evutil_socket_t fd, short what, void *arg);

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
        if (reply->elements == 2) { /* a check's grant */
            if (reply->element[1]->type != REDIS_REPLY_INTEGER || reply->element[1]->integer < 0)
                return -1;
            res->granted = (uint64_t)reply->element[1]->integer;
        }
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
            quota_redis_drop(qr, why); /* the master was demoted: ask Sentinel again */
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
        quota_redis_drop(qr, "no reply within redis_timeout");
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

/* v as the 8 bytes of a little-endian IEEE double (struct's '<d'). */
static void qr_le_double(char *dst, uint64_t v)
{
    double d = (double)v;
    uint64_t u;

    memcpy(&u, &d, sizeof(u));
    for (int i = 0; i < 8; i++)
        dst[i] = (char)(u >> (8 * i) & 0xff);
}

size_t quota_redis_arg_request(char *dst, size_t dstlen, const struct quota_redis_op *op)
{
    const struct limiter_limits *l = op->limits;
    const uint64_t nums[] = {op->txid,
                             op->release,
                             l->reserve_ttl_ms ? l->reserve_ttl_ms : 1,
                             (op->instance && op->instance[0]) ? l->done_ttl_ms : 0,
                             op->cost.messages,
                             op->cost.recipients,
                             op->want > op->cost.recipients ? op->want : op->cost.recipients};

    if (dstlen < QUOTA_REDIS_REQ_ARG_LEN || op->txid >= QUOTA_REDIS_TXID_LIMIT ||
        op->release >= QUOTA_REDIS_TXID_LIMIT)
        return 0;
    dst[0] = (char)(op->kind + 1); /* 1 check, 2 commit, 3 release */
    for (size_t i = 0; i < sizeof(nums) / sizeof(nums[0]); i++)
        qr_le_double(dst + 1 + 8 * i, nums[i]);
    return QUOTA_REDIS_REQ_ARG_LEN;
}

size_t quota_redis_arg_windows(char *dst, size_t dstlen, const struct limiter_limits *l)
{
    size_t n = 0;

    if (l->n > LIMITER_MAX_WINDOWS || dstlen < l->n * QUOTA_REDIS_WINDOW_ARG_LEN)
        return 0;
    for (size_t i = 0; i < l->n; i++, n += QUOTA_REDIS_WINDOW_ARG_LEN) {
        dst[n] = l->w[i].kind == LIMITER_MESSAGES ? 0 : 1;
        qr_le_double(dst + n + 1, l->w[i].max);
        qr_le_double(dst + n + 9, l->w[i].len_ms);
        qr_le_double(dst + n + 17, limiter_bucket_ms(l->w[i].len_ms, l->buckets));
    }
    return n;
}

/* Fill argv for EVALSHA and the RESP command; -1 when a key does not fit. */
static int qr_build(struct quota_redis *qr, struct quota_redis_req *req,
                    const struct quota_redis_op *op)
{
    const struct limiter_limits *l = op->limits;
    int a = 0;
    size_t n;

    qr_arg(req, a++, "EVALSHA", 7);
    qr_arg(req, a++, qr->sha, 40);
    n = qr_u64(req->nkeys, 2 + l->n);
    qr_arg(req, a++, req->nkeys, n);
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
    n = quota_redis_arg_request(req->request, sizeof(req->request), op);
    qr_arg(req, a++, req->request, n);
    if (n == 0)
        return -1;
    qr_arg(req, a++, req->windows, quota_redis_arg_windows(req->windows, sizeof(req->windows), l));
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
/* Free the pooled requests with their timers. */
void quota_redis_req_pool_free(struct quota_redis *qr)
{
    while (qr->free_reqs) {
        struct quota_redis_req *req = qr->free_reqs;
        qr->free_reqs = req->next_free;
        event_free(req->timer);
        free(req);
    }
}
