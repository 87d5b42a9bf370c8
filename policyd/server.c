/*
 * server.c - the event loop, listeners and signals (see server.h).
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "quota.h"
#include "server_priv.h"
#include "util.h"

/* Re-enable accepting after a pause for EMFILE and friends. */
static void server_on_resume(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;

    (void)fd;
    (void)what;
    for (size_t i = 0; i < s->nfds; i++)
        evconnlistener_enable(s->listeners[i]);
    s->accept_paused = 0;
}

/* evconnlistener_cb: a new connection. */
static void server_on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
                             int salen, void *arg)
{
    struct server *s = arg;
    static uint64_t last_warn;

    (void)l;
    (void)sa;
    (void)salen;
    if ((long long)s->stats.open_connections >= s->conf->max_connections) {
        uint64_t now = util_now_us();
        s->stats.connections_refused++;
        if (now - last_warn > 10 * 1000000u) {
            log_warn("policyd_max_connections (%lld) reached; closing new connections "
                     "(%llu refused so far)",
                     s->conf->max_connections, s->stats.connections_refused);
            last_warn = now;
        }
        close(fd);
        return;
    }
    conn_accept(s, fd);
}

/* evconnlistener_errorcb: accept() failed, usually EMFILE; pause 100 ms. */
static void server_on_accept_error(struct evconnlistener *l, void *arg)
{
    struct server *s = arg;
    struct timeval tv = {0, 100000};

    (void)l;
    log_warn("accept: %s; pausing new connections for 100ms", strerror(errno));
    for (size_t i = 0; i < s->nfds; i++)
        evconnlistener_disable(s->listeners[i]);
    s->accept_paused = 1;
    event_add(s->ev_resume, &tv);
}

/* SIGHUP: load the file again; keep the old configuration if it is bad. */
static void server_on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct server *s = arg;
    char err[CONF_ERR_LEN];
    struct policyd_conf *nc;

    (void)sig;
    (void)what;
    nc = policyd_conf_load(s->conf_path, err, sizeof(err));
    if (nc == NULL) {
        s->stats.reload_failures++;
        log_err("reload refused, keeping the running configuration: %s", err);
        return;
    }
    if (strcmp(nc->listen, s->conf->listen) != 0 ||
        strcmp(nc->socket_owner, s->conf->socket_owner) != 0 ||
        strcmp(nc->socket_group, s->conf->socket_group) != 0 ||
        nc->socket_mode != s->conf->socket_mode || strcmp(nc->user, s->conf->user) != 0)
        log_warn("reload: changes to policyd_listen, policyd_socket_* and policyd_user take "
                 "effect at the next restart");
    policyd_conf_unref(s->conf);
    s->conf = nc;
    s->stats.reloads++;
    log_info("reloaded %s", s->conf_path ? s->conf_path : "(defaults)");
}

/* SIGTERM/SIGINT: stop accepting and leave the loop. */
static void server_on_term(evutil_socket_t sig, short what, void *arg)
{
    struct server *s = arg;

    (void)what;
    log_info("signal %d: stopping (%u open connections)", (int)sig, s->stats.open_connections);
    event_base_loopexit(s->base, NULL);
}

/* Write the replies of this loop iteration (see conn_mark_dirty()). */
static void server_on_flush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_flush_dirty(arg);
}

/* Write the log lines of this loop iteration in one go. */
static void server_on_logflush(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    (void)arg;
    log_flush();
}

/* log.c: the first line went into an empty buffer; flush once the events
 * of this iteration are handled (an activated event runs after those
 * already active). One write() per iteration instead of one per decision. */
static void server_log_hook(void *arg)
{
    struct server *s = arg;

    event_active(s->ev_logflush, EV_TIMEOUT, 0);
}

struct server *server_new(struct policyd_conf *conf, const char *conf_path, char *err,
                          size_t errlen)
{
    struct server *s = calloc(1, sizeof(*s));

    if (s == NULL) {
        snprintf(err, errlen, "out of memory");
        policyd_conf_unref(conf);
        return NULL;
    }
    s->conf = conf;
    s->conf_path = conf_path ? util_strdup(conf_path) : NULL;
    s->base = event_base_new();
    if (s->base == NULL) {
        snprintf(err, errlen, "cannot create the event loop");
        server_free(s);
        return NULL;
    }
    if (listen_open(conf->listen, conf->socket_mode, conf->socket_owner, conf->socket_group, s->fds,
                    &s->nfds, err, errlen) < 0) {
        s->nfds = 0;
        server_free(s);
        return NULL;
    }
    for (size_t i = 0; i < s->nfds; i++) {
        s->listeners[i] = evconnlistener_new(s->base, server_on_accept, s, LEV_OPT_CLOSE_ON_EXEC,
                                             -1, s->fds[i].fd);
        if (s->listeners[i] == NULL) {
            snprintf(err, errlen, "%s: cannot attach listener", s->fds[i].name);
            server_free(s);
            return NULL;
        }
        evconnlistener_set_error_cb(s->listeners[i], server_on_accept_error);
        log_info("listening on %s", s->fds[i].name);
    }
    s->ev_hup = evsignal_new(s->base, SIGHUP, server_on_hup, s);
    s->ev_term = evsignal_new(s->base, SIGTERM, server_on_term, s);
    s->ev_int = evsignal_new(s->base, SIGINT, server_on_term, s);
    s->ev_resume = evtimer_new(s->base, server_on_resume, s);
    s->ev_logflush = event_new(s->base, -1, 0, server_on_logflush, s);
    s->ev_flush = event_new(s->base, -1, 0, server_on_flush, s);
    if (!s->ev_hup || !s->ev_term || !s->ev_int || !s->ev_resume || !s->ev_logflush ||
        !s->ev_flush || event_add(s->ev_hup, NULL) < 0 || event_add(s->ev_term, NULL) < 0 ||
        event_add(s->ev_int, NULL) < 0) {
        snprintf(err, errlen, "cannot install signal handlers");
        server_free(s);
        return NULL;
    }
    signal(SIGPIPE, SIG_IGN);
    log_set_buffered(server_log_hook, s);
    if (quota_start(s->base, conf, &s->stats, err, errlen) < 0) { /* quotas, metrics */
        server_free(s);
        return NULL;
    }
    return s;
}

int server_run(struct server *s)
{
    event_base_dispatch(s->base);
    return 0;
}

void server_free(struct server *s)
{
    if (s == NULL)
        return;
    conn_close_all(s);
    for (size_t i = 0; i < s->nfds; i++)
        if (s->listeners[i])
            evconnlistener_free(s->listeners[i]);
    listen_close(s->fds, s->nfds);
    if (s->ev_hup)
        event_free(s->ev_hup);
    if (s->ev_term)
        event_free(s->ev_term);
    if (s->ev_int)
        event_free(s->ev_int);
    if (s->ev_resume)
        event_free(s->ev_resume);
    if (s->ev_flush)
        event_free(s->ev_flush);
    if (s->ev_logflush) {
        log_set_buffered(NULL, NULL); /* flushes */
        event_free(s->ev_logflush);
    }
    quota_stop();
    if (s->base)
        event_base_free(s->base);
    policyd_conf_unref(s->conf);
    free(s->conf_path);
    free(s);
}

const struct server_stats *server_stats(const struct server *s)
{
    return &s->stats;
}

struct event_base *server_base(struct server *s)
{
    return s->base;
}
