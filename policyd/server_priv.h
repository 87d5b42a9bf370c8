/*
 * server_priv - what server.c and conn.c share; not for other modules.
 */
#ifndef PORTREEVE_SERVER_PRIV_H
#define PORTREEVE_SERVER_PRIV_H

#include <event2/event.h>
#include <event2/listener.h>

#include "listen.h"
#include "policyd_conf.h"
#include "server.h"

struct conn;

struct server {
    struct event_base *base;
    struct policyd_conf *conf; /* current; requests hold their own reference */
    char *conf_path;
    struct listen_fd fds[LISTEN_MAX];
    struct evconnlistener *listeners[LISTEN_MAX];
    size_t nfds;
    struct event *ev_hup, *ev_term, *ev_int, *ev_resume, *ev_logflush, *ev_flush;
    struct conn *dirty; /* connections with replies to write this iteration */
    struct conn *conns; /* doubly linked, for shutdown */
    struct server_stats stats;
    int accept_paused;
};

/* Take over an accepted descriptor. */
void conn_accept(struct server *s, int fd);
/* Write the replies queued during this loop iteration (ev_flush). */
void conn_flush_dirty(struct server *s);
/* Close every connection (shutdown). */
void conn_close_all(struct server *s);

#endif
