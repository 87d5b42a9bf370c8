/*
 * listen.c - binding policyd_listen endpoints (see listen.h).
 */
#include "listen.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "daemon.h"
#include "util.h"

#define LISTEN_BACKLOG 1024

/* Make fd non-blocking and close-on-exec. */
static int listen_fd_flags(int fd)
{
    int fl = fcntl(fd, F_GETFL);

    if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
        return -1;
    return fcntl(fd, F_SETFD, FD_CLOEXEC);
}

/* Bind a TCP socket on host:port (host may be "[v6]"). */
static int listen_inet(const char *hostport, char *err, size_t errlen)
{
    char host[128], port[8];
    const char *colon = strrchr(hostport, ':');
    struct addrinfo hints, *res = NULL;
    size_t hlen;
    int fd = -1, one = 1, rc;

    hlen = (size_t)(colon - hostport);
    if (hostport[0] == '[' && hlen >= 2 && hostport[hlen - 1] == ']') {
        hostport++;
        hlen -= 2;
    }
    if (hlen == 0 || hlen >= sizeof(host) || strlen(colon + 1) >= sizeof(port)) {
        snprintf(err, errlen, "inet:%s: bad host or port", hostport);
        return -1;
    }
    memcpy(host, hostport, hlen);
    host[hlen] = '\0';
    util_strlcpy(port, colon + 1, sizeof(port));
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "inet:%s:%s: %s", host, port, gai_strerror(rc));
        return -1;
    }
    fd = socket(res->ai_family, SOCK_STREAM, 0);
    if (fd >= 0 && res->ai_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
    if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
        bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, LISTEN_BACKLOG) < 0 ||
        listen_fd_flags(fd) < 0) {
        snprintf(err, errlen, "inet:%s:%s: %s", host, port, strerror(errno));
        if (fd >= 0)
            close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

int listen_open(const char *list, unsigned mode, const char *owner, const char *group,
                struct listen_fd *out, size_t *n, char *err, size_t errlen)
{
    const char *p = list, *s;
    size_t len;

    *n = 0;
    while ((s = util_list_next(&p, &len)) != NULL) {
        char item[128];
        int fd;

        if (len >= sizeof(item) || *n == LISTEN_MAX) {
            snprintf(err, errlen, "policyd_listen: too many or too long items");
            listen_close(out, *n);
            return -1;
        }
        memcpy(item, s, len);
        item[len] = '\0';
        out[*n].unix_path[0] = '\0';
        if (strncmp(item, "unix:", 5) == 0) {
            fd = daemon_listen_unix(item + 5, mode, owner, group, LISTEN_BACKLOG, err, errlen);
            if (fd >= 0)
                util_strlcpy(out[*n].unix_path, item + 5, sizeof(out[*n].unix_path));
        } else {
            fd = listen_inet(item + 5, err, errlen);
        }
        if (fd < 0) {
            listen_close(out, *n);
            return -1;
        }
        out[*n].fd = fd;
        util_strlcpy(out[*n].name, item, sizeof(out[*n].name));
        (*n)++;
    }
    return 0;
}

void listen_close(struct listen_fd *fds, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (fds[i].fd >= 0)
            close(fds[i].fd);
        fds[i].fd = -1;
        if (fds[i].unix_path[0])
            unlink(fds[i].unix_path);
        fds[i].unix_path[0] = '\0';
    }
}
