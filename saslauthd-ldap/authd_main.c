/*
 * authd_main.c - portreeve-authd: command line, start-up, privilege drop.
 *
 *   portreeve-authd [-c file] [-f] [-v]   run (-f: foreground, log to stderr)
 *   portreeve-authd [-c file] -t          check the configuration and exit
 *   portreeve-authd -d                    print every setting with its default
 *   portreeve-authd [-c file] -n          print the settings that differ
 *
 * Start-up order: read the configuration (a bad key or value is fatal and
 * named), bind both sockets as the invoking user (root), set their mode,
 * then drop to authd_user and start the server. The sockets' directory is
 * the admin's (see portreeve-authd(8)); an existing socket file is
 * replaced, any other file at that path is an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "authd_conf.h"
#include "authd_server.h"
#include "daemon.h"
#include "log.h"
#include "util.h"

/* Bind one of the sockets; mode from authd_socket_mode, access checked by
 * SO_PEERCRED on every connection. */
static int authd_listen(const char *path, unsigned mode)
{
    char err[CONF_ERR_LEN];
    int fd = daemon_listen_unix(path, mode, NULL, NULL, 256, err, sizeof(err));

    if (fd < 0)
        log_err("cannot listen: %s", err);
    return fd;
}

int main(int argc, char **argv)
{
    struct daemon_args args;
    int rc;
    char err[CONF_ERR_LEN];
    struct authd_cfg *cfg;
    struct authd_server_params p;
    const char *path;

    if (daemon_parse_args(argc, argv, AUTHD_CONF_DEFAULT, &args) < 0) {
        daemon_usage(stderr, "portreeve-authd", AUTHD_CONF_DEFAULT);
        return 2;
    }
    path = args.conf;
    if (args.mode == DAEMON_DEFAULTS || args.mode == DAEMON_NONDEFAULT) {
        if (authd_conf_print(stdout, path, args.mode == DAEMON_NONDEFAULT, err, sizeof(err)) < 0) {
            fprintf(stderr, "portreeve-authd: %s\n", err);
            return 1;
        }
        return 0;
    }
    cfg = authd_cfg_load(path, err, sizeof(err));
    if (cfg == NULL) {
        fprintf(stderr, "portreeve-authd: %s\n", err);
        return 1;
    }
    if (args.mode == DAEMON_CHECK) {
        authd_cfg_unref(cfg);
        return 0;
    }
    if (log_open("portreeve-authd", args.foreground, cfg->s.syslog_facility) < 0) {
        fprintf(stderr, "portreeve-authd: bad syslog facility\n");
        return 1;
    }
    log_set_debug(args.verbose);
    memset(&p, 0, sizeof(p));
    p.mux_fd = authd_listen(cfg->s.mux_socket, cfg->s.socket_mode);
    p.gate_fd = cfg->s.gate_socket[0] ? authd_listen(cfg->s.gate_socket, cfg->s.socket_mode) : -1;
    if (p.mux_fd < 0 || (cfg->s.gate_socket[0] && p.gate_fd < 0))
        return 1;
    if (geteuid() == 0 && cfg->s.user[0] == '\0')
        log_warn("authd_user is empty: running as root");
    if (!args.foreground && daemon_detach(err, sizeof(err)) < 0) {
        log_err("%s", err);
        return 1;
    }
    if (!args.foreground && daemon_write_pid(cfg->s.pid_file, err, sizeof(err)) < 0)
        log_warn("%s", err);
    if (daemon_drop_privileges("authd_user", cfg->s.user, err, sizeof(err)) < 0) {
        log_err("%s", err);
        return 1;
    }
    p.conf_path = path;
    p.cfg = cfg;
    rc = authd_server_run(&p);
    authd_cfg_unref(cfg);
    return rc == 0 ? 0 : 1;
}
