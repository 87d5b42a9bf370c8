/*
 * server - portreeve-policyd's event loop: listeners, connections, signals.
 *
 * The only module that includes libevent's listener and signal APIs. It
 * binds every policyd_listen endpoint (before privileges are dropped),
 * accepts up to policyd_max_connections persistent connections, feeds each
 * connection's bytes to its own proto parser, answers requests in order
 * (one decision in flight per connection, so pipelined requests wait their
 * turn), and closes a connection without a reply on a protocol violation.
 * SIGHUP swaps in a new configuration (a bad one is refused, the old one
 * kept); SIGTERM and SIGINT stop the loop.
 */
#ifndef PORTREEVE_SERVER_H
#define PORTREEVE_SERVER_H

#include "policyd_conf.h"

struct server;

/* Create the loop and bind every listener. conf_path is re-read on SIGHUP.
 * Takes over the reference to conf. Returns NULL with a reason in err. */
struct server *server_new(struct policyd_conf *conf, const char *conf_path, char *err,
                          size_t errlen);
/* Run until SIGTERM/SIGINT. Returns 0. */
int server_run(struct server *s);
void server_free(struct server *s);

/* Counters for logs and metrics. */
struct server_stats {
    unsigned long long connections_total;
    unsigned long long connections_refused;
    unsigned long long requests;
    unsigned long long protocol_errors;
    unsigned long long idle_timeouts;
    unsigned long long reloads;
    unsigned long long reload_failures;
    unsigned open_connections;
};
const struct server_stats *server_stats(const struct server *s);
struct event_base *server_base(struct server *s);

#endif
