/*
 * daemon.c - shared daemon start-up chores (see daemon.h).
 */
#include "daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "util.h"

int daemon_parse_args(int argc, char **argv, const char *default_conf, struct daemon_args *a)
{
    int ch, modes = 0;

    a->conf = default_conf;
    a->foreground = a->verbose = 0;
    a->mode = DAEMON_RUN;
    optind = 1;
    while ((ch = getopt(argc, argv, "c:fvtdn")) != -1) {
        switch (ch) {
        case 'c':
            a->conf = optarg;
            break;
        case 'f':
            a->foreground = 1;
            break;
        case 'v':
            a->verbose = 1;
            break;
        case 't':
            a->mode = DAEMON_CHECK;
            modes++;
            break;
        case 'd':
            a->mode = DAEMON_DEFAULTS;
            modes++;
            break;
        case 'n':
            a->mode = DAEMON_NONDEFAULT;
            modes++;
            break;
        default:
            return -1;
        }
    }
    return optind != argc || modes > 1 ? -1 : 0;
}

void daemon_usage(FILE *fp, const char *prog, const char *default_conf)
{
    fprintf(fp,
            "usage: %s [-c file] [-f] [-v] [-t | -d | -n]\n"
            "  -c file  configuration (default %s)\n"
            "  -f       stay in the foreground, log to stderr\n"
            "  -v       log debug messages too\n"
            "  -t       check the configuration and exit\n"
            "  -d       print every setting with its default and exit\n"
            "  -n       print the settings that differ from the default and exit\n",
            prog, default_conf);
}

/* Resolve owner and group names; (uid_t)-1 / (gid_t)-1 for "leave". */
static int daemon_ids(const char *owner, const char *group, uid_t *uid, gid_t *gid, char *err,
                      size_t errlen)
{
    *uid = (uid_t)-1;
    *gid = (gid_t)-1;
    if (owner && *owner) {
        struct passwd *pw = getpwnam(owner);
        if (pw == NULL) {
            snprintf(err, errlen, "socket owner %s: no such user", owner);
            return -1;
        }
        *uid = pw->pw_uid;
    }
    if (group && *group) {
        struct group *gr = getgrnam(group);
        if (gr == NULL) {
            snprintf(err, errlen, "socket group %s: no such group", group);
            return -1;
        }
        *gid = gr->gr_gid;
    }
    return 0;
}

int daemon_listen_unix(const char *path, unsigned mode, const char *owner, const char *group,
                       int backlog, char *err, size_t errlen)
{
    struct sockaddr_un sun;
    struct stat st;
    uid_t uid;
    gid_t gid;
    int fd, fl;

    if (daemon_ids(owner, group, &uid, &gid, err, errlen) < 0)
        return -1;
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    if (util_strlcpy(sun.sun_path, path, sizeof(sun.sun_path)) >= sizeof(sun.sun_path)) {
        snprintf(err, errlen, "%s: socket path too long", path);
        return -1;
    }
    if (lstat(path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s: exists and is not a socket; not removing it", path);
            return -1;
        }
        unlink(path);
    }
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        chmod(path, (mode_t)mode) < 0 ||
        ((uid != (uid_t)-1 || gid != (gid_t)-1) && chown(path, uid, gid) < 0) ||
        listen(fd, backlog) < 0 || (fl = fcntl(fd, F_GETFL)) < 0 ||
        fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    return fd;
}

int daemon_detach(char *err, size_t errlen)
{
    pid_t pid = fork();
    int fd;

    if (pid > 0)
        _exit(0);
    if (pid < 0 || setsid() < 0)
        goto fail;
    pid = fork(); /* not a session leader: can never get a controlling tty */
    if (pid > 0)
        _exit(0);
    if (pid < 0 || chdir("/") < 0 || (fd = open("/dev/null", O_RDWR)) < 0)
        goto fail;
    dup2(fd, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    if (fd > 2)
        close(fd);
    return 0;
fail:
    snprintf(err, errlen, "cannot become a daemon: %s", strerror(errno));
    return -1;
}

int daemon_write_pid(const char *path, char *err, size_t errlen)
{
    FILE *fp;

    if (path == NULL || *path == '\0')
        return 0;
    fp = fopen(path, "w");
    if (fp == NULL || fprintf(fp, "%ld\n", (long)getpid()) < 0 || fclose(fp) != 0) {
        snprintf(err, errlen, "pid file %s: %s", path, strerror(errno));
        return -1;
    }
    return 0;
}

int daemon_drop_privileges(const char *key, const char *user, char *err, size_t errlen)
{
    struct passwd *pw;

    /* Not root: already unprivileged, and unable to change anyway. */
    if (user == NULL || *user == '\0' || geteuid() != 0)
        return 0;
    pw = getpwnam(user);
    if (pw == NULL) {
        snprintf(err, errlen, "%s = %s: no such user", key, user);
        return -1;
    }
    if (pw->pw_uid == 0) {
        snprintf(err, errlen, "%s = %s: refusing to run as root", key, user);
        return -1;
    }
    if (initgroups(pw->pw_name, pw->pw_gid) < 0 || setgid(pw->pw_gid) < 0 ||
        setuid(pw->pw_uid) < 0) {
        snprintf(err, errlen, "cannot become %s: %s", user, strerror(errno));
        return -1;
    }
    if (setuid(0) == 0) {
        snprintf(err, errlen, "privilege drop to %s did not stick", user);
        return -1;
    }
    return 0;
}
