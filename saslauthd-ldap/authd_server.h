/*
 * authd_server - portreeve-authd's event loop (the only file that includes
 * libevent): accepts on the saslauthd and gate sockets, checks the peer
 * with SO_PEERCRED, decodes requests without blocking, answers what needs
 * neither LDAP nor a Redis round trip itself, hands the rest to worker
 * threads, and enforces the hard per-request deadline: when it
 * passes, the connection is closed without a reply (libsasl2 turns that
 * into a temporary failure, 454) whatever the worker is doing.
 *
 * The server owns the listening sockets it is given. SIGHUP reloads the
 * configuration through the reload callback; SIGTERM and SIGINT stop.
 */
#ifndef PORTREEVE_AUTHD_SERVER_H
#define PORTREEVE_AUTHD_SERVER_H

#include "authd_conf.h"

struct authd_server_params {
    int mux_fd;  /* listening, non-blocking */
    int gate_fd; /* -1: no gate socket */
    const char *conf_path;
    struct authd_cfg *cfg; /* reference taken by the server */
};

/* Run until SIGTERM/SIGINT; returns 0, or -1 if start-up failed (logged). */
int authd_server_run(const struct authd_server_params *p);

#endif
