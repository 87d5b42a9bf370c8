/*
 * quota_redis_ev.c - the Redis quota store's hiredis <-> libevent adapter.
 *
 * Public (to the quota_redis*.c files, quota_redis_priv.h):
 * quota_redis_ev_attach.
 *
 * hiredis' libevent adapter re-arms a one-shot read event after every
 * reply and arms, then disarms, a write event for every command: four
 * epoll_ctl calls and an extra loop iteration per request, and one write()
 * per command. This one keeps the read event armed, and on a connected
 * context turns "start writing" into an activated flush event (no system
 * call) that runs once the current callbacks are done: every command made
 * in one loop iteration goes out in one write(). Only a write that would
 * block, or a connect still in progress, arms a real write event.
 *
 * Contract: quota_redis_ev_attach() is called once per context, right
 * after redisAsyncConnect*(), before any command; the events belong to the
 * context and are freed by hiredis' cleanup hook when the context goes
 * (redisAsyncFree, a lost connection). A flush runs redisAsyncHandleWrite(),
 * which may free the context: nothing touches it afterwards. One event
 * loop thread.
 */
#include "quota_redis_priv.h"

#include <stdlib.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

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
int quota_redis_ev_attach(redisAsyncContext *ac, struct event_base *base)
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
