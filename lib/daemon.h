/*
 * daemon - start-up chores both daemons share: binding a unix socket with
 * a given mode and ownership, detaching, the pid file, and the permanent
 * drop to an unprivileged user. Each returns 0 (or a descriptor), or -1
 * with the reason in err; none logs or exits.
 */
#ifndef PORTREEVE_DAEMON_H
#define PORTREEVE_DAEMON_H

#include <stddef.h>
#include <stdio.h>

/* The command line both daemons share. */
enum daemon_mode {
    DAEMON_RUN,       /* serve */
    DAEMON_CHECK,     /* -t: check the configuration and exit */
    DAEMON_DEFAULTS,  /* -d: print every setting's default */
    DAEMON_NONDEFAULT /* -n: print the settings that differ */
};

struct daemon_args {
    const char *conf; /* -c file */
    int foreground;   /* -f: stay in the foreground, log to stderr */
    int verbose;      /* -v: debug messages too */
    enum daemon_mode mode;
};

/* Parse [-c file] [-f] [-v] [-t | -d | -n]. Returns 0, or -1 for bad usage
 * (an unknown option, an argument left over, two of -t/-d/-n). */
int daemon_parse_args(int argc, char **argv, const char *default_conf, struct daemon_args *a);
/* The usage text for that command line. */
void daemon_usage(FILE *fp, const char *prog, const char *default_conf);

/*
 * Bind and listen on a unix stream socket. A stale socket at the path is
 * replaced; any other kind of file there is an error and is left alone.
 * mode is applied with chmod; owner and group (names; NULL or "" = leave)
 * with chown. The descriptor is non-blocking and close-on-exec.
 */
int daemon_listen_unix(const char *path, unsigned mode, const char *owner, const char *group,
                       int backlog, char *err, size_t errlen);
/* Fork into the background, new session, stdio on /dev/null. */
int daemon_detach(char *err, size_t errlen);
/* Write our pid to path (NULL or "" = none). */
int daemon_write_pid(const char *path, char *err, size_t errlen);
/*
 * Become user (and its groups) for good. A no-op for an empty user or when
 * not running as root (already unprivileged); refuses uid 0 and checks that
 * the drop cannot be undone. key names the setting in messages.
 */
int daemon_drop_privileges(const char *key, const char *user, char *err, size_t errlen);

#endif
