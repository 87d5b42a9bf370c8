/*
 * main.c - portreeve-policyd: command line, daemon start-up, privilege drop.
 *
 *   portreeve-policyd [-c file] [-f] [-v]   run
 *   portreeve-policyd [-c file] -t          check the configuration
 *   portreeve-policyd -d                    print every setting's default
 *   portreeve-policyd [-c file] -n          print settings that differ
 *
 * Start-up is the only place that exits on bad configuration, with a
 * message naming the key and the value. Order: load the configuration, bind
 * (as root, so that sockets can be given to postfix), write the pid file,
 * drop to policyd_user, then serve.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "policyd_conf.h"
#include "server.h"

#define POLICYD_DEFAULT_CONF "/etc/portreeve/portreeve.conf"

int main(int argc, char **argv)
{
    struct daemon_args args;
    char err[CONF_ERR_LEN];
    struct policyd_conf *conf;
    struct server *srv;
    const char *path;

    if (daemon_parse_args(argc, argv, POLICYD_DEFAULT_CONF, &args) < 0) {
        daemon_usage(stderr, "portreeve-policyd", POLICYD_DEFAULT_CONF);
        return 2;
    }
    path = args.conf;
    if (args.mode == DAEMON_DEFAULTS) {
        policyd_conf_print_defaults(stdout);
        return 0;
    }
    if (args.mode == DAEMON_NONDEFAULT) {
        if (policyd_conf_print_nondefault(stdout, path, err, sizeof(err)) < 0) {
            fprintf(stderr, "portreeve-policyd: %s\n", err);
            return 1;
        }
        return 0;
    }
    conf = policyd_conf_load(path, err, sizeof(err));
    if (conf == NULL) {
        fprintf(stderr, "portreeve-policyd: %s\n", err);
        return 1;
    }
    if (args.mode == DAEMON_CHECK) {
        if (conf->local == NULL || *conf->local_domains == '\0')
            fprintf(stderr, "portreeve-policyd: warning: policyd_local_domains is empty: on the "
                            "mx role every recipient counts as remote\n");
        printf("%s: configuration OK\n", path);
        policyd_conf_unref(conf);
        return 0;
    }
    if (log_open(conf->syslog_name, args.foreground, conf->syslog_facility) < 0) {
        fprintf(stderr, "portreeve-policyd: cannot open the log\n");
        return 1;
    }
    log_set_debug(args.verbose);
    if (*conf->local_domains == '\0')
        log_warn("policyd_local_domains is empty: on the mx role every recipient counts as "
                 "remote");
    srv = server_new(conf, path, err, sizeof(err));
    if (srv == NULL) {
        log_err("%s", err);
        if (!args.foreground)
            fprintf(stderr, "portreeve-policyd: %s\n", err);
        return 1;
    }
    if (!args.foreground && daemon_detach(err, sizeof(err)) < 0) {
        log_err("%s", err);
        return 1;
    }
    if (!args.foreground && daemon_write_pid(conf->pid_file, err, sizeof(err)) < 0)
        log_warn("%s", err);
    if (daemon_drop_privileges("policyd_user", conf->user, err, sizeof(err)) < 0) {
        log_err("%s", err);
        server_free(srv);
        return 1;
    }
    log_info("portreeve-policyd started");
    server_run(srv);
    server_free(srv);
    log_info("portreeve-policyd stopped");
    return 0;
}
