/*
 * conn.c - one persistent connection from a Postfix smtpd process.
 *
 * Reads whatever arrives, feeds it to the connection's sans-I/O parser, and
 * answers the complete requests in order. While a decision is pending
 * (asynchronous quota stage) the request's bytes must stay put in the
 * parser, so what arrives meanwhile goes to a side buffer, fed to the
 * parser once the decision is done; requests are still decided one at a
 * time, in order. Postfix sends nothing while it waits, so the read event
 * simply stays armed (no epoll_ctl per request); a pipelining peer fills
 * at most CONN_MAX_PENDING_INPUT bytes, then reading stops until the
 * decision is done. A protocol error: one warning, close without a reply.
 *
 * Output is a reply of at most ~530 bytes per request; it is written at
 * once, and only a peer that stops reading makes us buffer. Past
 * CONN_MAX_OUTPUT we stop reading from that peer until it drains.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "decide.h"
#include "log.h"
#include "proto.h"
#include "server_priv.h"
#include "util.h"

#define CONN_READ_CHUNK 16384
#define CONN_MAX_OUTPUT 65536
#define CONN_MAX_PENDING_INPUT 16384 /* read while a decision is pending, at most */

struct conn {
    struct server *srv;
    int fd;
    struct event *ev_read, *ev_write;
    struct proto *parser;
    char *out;
    size_t out_len, out_cap;
    int pending; /* a decision is in flight */
    char *stash; /* bytes read while pending (CONN_MAX_PENDING_INPUT) */
    size_t stash_len;
    int closing;  /* close once the pending decision is done */
    int detached; /* taken off the server's list at shutdown */
    int reading;  /* ev_read is armed */
    int dirty;    /* on the server's list of replies to write */
    uint64_t t0;  /* start of the current decision */
    struct decide_env env;
    struct proto_request req;
    struct decision dec;
    struct conn *prev, *next;
    struct conn *next_dirty;
};

static void conn_process(struct conn *c);

/* Unlink, release everything, and update the counters. */
static void conn_free(struct conn *c)
{
    struct server *s = c->srv;

    if (c->dirty) { /* rare: closed with replies not yet written */
        struct conn **pp = &s->dirty;
        while (*pp != c)
            pp = &(*pp)->next_dirty;
        *pp = c->next_dirty;
    }
    if (!c->detached) {
        if (c->prev)
            c->prev->next = c->next;
        else
            s->conns = c->next;
        if (c->next)
            c->next->prev = c->prev;
    }
    event_free(c->ev_read);
    event_free(c->ev_write);
    proto_free(c->parser);
    free(c->out);
    free(c->stash);
    close(c->fd);
    s->stats.open_connections--;
    free(c);
}

/* Close now, or once the pending decision completes. */
static void conn_close(struct conn *c)
{
    if (c->pending) {
        c->closing = 1;
        event_del(c->ev_read);
        c->reading = 0;
        event_del(c->ev_write);
        return;
    }
    conn_free(c);
}

/*
 * (Re)arm reading with the idle timeout, unless we must not read now. While
 * the read event stays armed, libevent restarts its timeout on every
 * activation (EV_PERSIST), so it is re-added only after a pause: one
 * timer-heap update less per request on the hot path.
 */
static void conn_want_read(struct conn *c)
{
    struct timeval tv;
    long long ms = c->srv->conf->idle_timeout_ms;

    if (c->closing || c->out_len > CONN_MAX_OUTPUT ||
        (c->pending && c->stash_len >= CONN_MAX_PENDING_INPUT)) {
        if (c->reading)
            event_del(c->ev_read);
        c->reading = 0;
        return;
    }
    if (c->reading)
        return;
    tv.tv_sec = (time_t)(ms / 1000);
    tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
    event_add(c->ev_read, &tv);
    c->reading = 1;
}

/* Write what we can; keep the rest for EV_WRITE. Returns -1 if closed. */
static int conn_flush(struct conn *c)
{
    while (c->out_len) {
        ssize_t n = send(c->fd, c->out, c->out_len, MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                event_add(c->ev_write, NULL);
                return 0;
            }
            log_debug("connection fd %d: write: %s", c->fd, strerror(errno));
            conn_close(c);
            return -1;
        }
        memmove(c->out, c->out + n, c->out_len - (size_t)n);
        c->out_len -= (size_t)n;
    }
    event_del(c->ev_write);
    return 0;
}

/* Append "action=...\n\n" to the output buffer. */
static int conn_queue_reply(struct conn *c, const char *action)
{
    size_t need = strlen(action) + sizeof("action=\n\n");

    if (c->out_cap - c->out_len < need) {
        size_t cap = c->out_cap ? c->out_cap * 2 : 1024;
        char *nb;
        while (cap - c->out_len < need)
            cap *= 2;
        nb = realloc(c->out, cap);
        if (nb == NULL)
            return -1;
        c->out = nb;
        c->out_cap = cap;
    }
    c->out_len +=
        (size_t)snprintf(c->out + c->out_len, c->out_cap - c->out_len, "action=%s\n\n", action);
    return 0;
}

/* Log one line for the decision: everything an admin greps for. */
static void conn_log_decision(const struct conn *c)
{
    const struct proto_request *r = &c->req;
    char qid[64], addr[80], port[16], sport[16], state[32], user[160], sender[272], rcpt[272];
    char action[RULES_ACTION_MAX + 64];

#define ESC(buf, a) util_escape(buf, sizeof(buf), r->v[a].ptr, r->v[a].len)
    log_info("decision: queue_id=%s client=%s[%s] server_port=%s role=%s state=%s "
             "sasl_username=%s sender=<%s> recipient=<%s> rule=%s action=\"%s\" time_us=%llu",
             r->v[PA_QUEUE_ID].len ? ESC(qid, PA_QUEUE_ID) : "NOQUEUE",
             ESC(addr, PA_CLIENT_ADDRESS), ESC(port, PA_CLIENT_PORT), ESC(sport, PA_SERVER_PORT),
             role_name(c->dec.role), ESC(state, PA_PROTOCOL_STATE), ESC(user, PA_SASL_USERNAME),
             ESC(sender, PA_SENDER), ESC(rcpt, PA_RECIPIENT), c->dec.rule,
             util_escape(action, sizeof(action), c->dec.action, strlen(c->dec.action)),
             (unsigned long long)(util_now_us() - c->t0));
#undef ESC
}

/* Warn about requests without a role, at most once a minute. */
static void conn_warn_no_role(const struct conn *c)
{
    static uint64_t last;
    static unsigned long long suppressed;
    uint64_t now = util_now_us();
    char port[16], ctx[64];

    if (last && now - last < 60 * 1000000u) {
        suppressed++;
        return;
    }
    log_warn(
        "no role for server_port=%s policy_context=%s (see policyd_port_roles); "
        "answering %s (%llu more such requests since the last warning)",
        util_escape(port, sizeof(port), c->req.v[PA_SERVER_PORT].ptr, c->req.v[PA_SERVER_PORT].len),
        util_escape(ctx, sizeof(ctx), c->req.v[PA_POLICY_CONTEXT].ptr,
                    c->req.v[PA_POLICY_CONTEXT].len),
        c->dec.action, suppressed);
    last = now;
    suppressed = 0;
}

/* The decision is known: log it, queue the reply, release the config. */
static void conn_finish(struct conn *c)
{
    if (c->dec.role == ROLE_NONE)
        conn_warn_no_role(c);
    conn_log_decision(c);
    policyd_conf_unref(c->env.conf);
    c->env.conf = NULL;
    c->srv->stats.requests++;
    if (conn_queue_reply(c, c->dec.action) < 0) {
        log_warn("connection fd %d: out of memory queueing a reply; closing", c->fd);
        c->closing = 1;
    }
}

/*
 * Have this connection's replies written once the events of this loop
 * iteration are handled. Sending wakes the peer, and on a busy host the
 * scheduler then switches to it at once; writing after reading every ready
 * connection keeps the daemon from being switched out in the middle of a
 * batch (measured: most of the daemon's time went to that switch).
 */
static void conn_mark_dirty(struct conn *c)
{
    struct server *s = c->srv;

    if (c->dirty || c->out_len == 0)
        return;
    if (s->dirty == NULL)
        event_active(s->ev_flush, EV_TIMEOUT, 0);
    c->dirty = 1;
    c->next_dirty = s->dirty;
    s->dirty = c;
}

void conn_flush_dirty(struct server *s)
{
    while (s->dirty) {
        struct conn *c = s->dirty;
        s->dirty = c->next_dirty;
        c->next_dirty = NULL;
        c->dirty = 0;
        if (conn_flush(c) == 0)
            conn_want_read(c);
    }
}

/* decide_done_fn: an asynchronous stage finished. */
static void conn_decided(void *arg, struct decision *d)
{
    struct conn *c = arg;

    (void)d; /* it is &c->dec */
    c->pending = 0;
    conn_finish(c);
    if (c->closing) {
        conn_free(c);
        return;
    }
    if (c->stash_len) {
        /* On a protocol error conn_process logs it and closes. */
        (void)proto_feed(c->parser, c->stash, c->stash_len);
        c->stash_len = 0;
    }
    conn_process(c);
}

/* Answer every complete request we hold, in order, until one is pending. */
static void conn_process(struct conn *c)
{
    for (;;) {
        enum proto_status st = proto_next(c->parser, &c->req);

        if (st == PROTO_AGAIN)
            break;
        if (st == PROTO_ERROR) {
            /* proto_error() is ours, with the peer's bytes already escaped. */
            c->srv->stats.protocol_errors++;
            log_warn("connection fd %d: %s; closing without a reply", c->fd,
                     proto_error(c->parser));
            /* Replies to the requests before the bad one: best effort. */
            if (conn_flush(c) == 0)
                conn_close(c);
            return;
        }
        c->t0 = util_now_us();
        c->env.base = c->srv->base;
        c->env.conf = policyd_conf_ref(c->srv->conf);
        if (!decide_request(&c->env, &c->req, &c->dec, conn_decided, c)) {
            c->pending = 1;
            break;
        }
        conn_finish(c);
        if (c->closing) {
            conn_free(c);
            return;
        }
    }
    conn_mark_dirty(c);
    conn_want_read(c);
}

/* EV_READ (or the idle timeout) on a connection. */
static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    char buf[CONN_READ_CHUNK];
    ssize_t n;

    if (what & EV_TIMEOUT) {
        c->srv->stats.idle_timeouts++;
        log_debug("connection fd %d: idle timeout; closing", (int)fd);
        conn_close(c);
        return;
    }
    if (c->pending) {                                 /* the parser's bytes stay put: stash it */
        if (c->stash_len == CONN_MAX_PENDING_INPUT) { /* an activation already queued */
            conn_want_read(c);
            return;
        }
        if (c->stash == NULL && (c->stash = malloc(CONN_MAX_PENDING_INPUT)) == NULL) {
            log_warn("connection fd %d: out of memory; closing", (int)fd);
            conn_close(c);
            return;
        }
        n = recv(fd, c->stash + c->stash_len, CONN_MAX_PENDING_INPUT - c->stash_len, 0);
    } else {
        n = recv(fd, buf, sizeof(buf), 0);
    }
    if (n < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
            return;
        log_debug("connection fd %d: read: %s", (int)fd, strerror(errno));
        conn_close(c);
        return;
    }
    if (n == 0) {
        if (proto_buffered(c->parser))
            log_warn("connection fd %d: peer closed in the middle of a request", (int)fd);
        conn_close(c);
        return;
    }
    if (c->pending) { /* it waits its turn: conn_decided feeds it */
        c->stash_len += (size_t)n;
        conn_want_read(c);
        return;
    }
    if (proto_feed(c->parser, buf, (size_t)n) == PROTO_ERROR) {
        conn_process(c); /* logs the error once and closes */
        return;
    }
    conn_process(c);
}

/* EV_WRITE: the peer can take more of our replies. */
static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (conn_flush(c) == 0)
        conn_want_read(c);
}

void conn_accept(struct server *s, int fd)
{
    struct conn *c = calloc(1, sizeof(*c));
    struct proto_limits lim;

    lim.max_line = (size_t)s->conf->max_line;
    lim.max_attrs = (size_t)s->conf->max_attrs;
    lim.max_request = (size_t)s->conf->max_request;
    if (c == NULL || (c->parser = proto_new(&lim)) == NULL) {
        log_warn("out of memory accepting a connection");
        free(c);
        close(fd);
        return;
    }
    c->srv = s;
    c->fd = fd;
    c->ev_read = event_new(s->base, fd, EV_READ | EV_PERSIST, conn_on_read, c);
    c->ev_write = event_new(s->base, fd, EV_WRITE | EV_PERSIST, conn_on_write, c);
    if (c->ev_read == NULL || c->ev_write == NULL) {
        log_warn("out of memory accepting a connection");
        if (c->ev_read)
            event_free(c->ev_read);
        if (c->ev_write)
            event_free(c->ev_write);
        proto_free(c->parser);
        free(c);
        close(fd);
        return;
    }
    c->next = s->conns;
    if (s->conns)
        s->conns->prev = c;
    s->conns = c;
    s->stats.open_connections++;
    s->stats.connections_total++;
    conn_want_read(c);
}

void conn_close_all(struct server *s)
{
    while (s->conns) {
        struct conn *c = s->conns;
        if (c->pending) {
            /* The pending stage still holds c: detach it from the list and
             * let conn_decided() free it when its deadline fires. */
            s->conns = c->next;
            if (s->conns)
                s->conns->prev = NULL;
            c->prev = c->next = NULL;
            c->detached = 1;
            c->closing = 1;
            event_del(c->ev_read);
            c->reading = 0;
            event_del(c->ev_write);
            continue;
        }
        conn_free(c);
    }
}
