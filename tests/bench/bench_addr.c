/* bench_addr.c - endpoint strings for the benchmark tools.
 *
 * bench_addr_parse() turns "unix:/path/to/socket", "inet:127.0.0.1:PORT" or
 * "inet:[::1]:PORT" into a socket address (numeric hosts only: benchmarks
 * never resolve names). bench_addr_connect() makes a connected, non-blocking
 * socket with a bounded connect time.
 *
 * Contract: SPEC comes from the command line (trusted but checked: a path
 * longer than sun_path or a port outside 1-65535 is an error, not a
 * truncation). Neither function prints or exits.
 */
#include "bench_addr.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>

/* Parse a decimal port 1-65535. */
static int parse_port(const char *s, unsigned short *port)
{
    char *end = NULL;
    errno = 0;
    unsigned long v = strtoul(s, &end, 10);
    if (errno != 0 || end == s || *end != '\0' || v == 0 || v > 65535)
        return -1;
    *port = (unsigned short)v;
    return 0;
}

/* Parse "host:port" or "[v6]:port" into OUT. */
static int parse_inet(const char *hp, struct bench_addr *out, char *err, size_t errlen)
{
    char host[64];
    const char *port_s;
    size_t hlen;

    if (hp[0] == '[') {
        const char *close = strchr(hp, ']');
        if (close == NULL || close[1] != ':') {
            snprintf(err, errlen, "bad inet endpoint \"%s\": want [v6addr]:port", hp);
            return -1;
        }
        hlen = (size_t)(close - hp - 1);
        if (hlen >= sizeof(host)) {
            snprintf(err, errlen, "host too long in \"%s\"", hp);
            return -1;
        }
        memcpy(host, hp + 1, hlen);
        port_s = close + 2;
    } else {
        const char *colon = strrchr(hp, ':');
        if (colon == NULL) {
            snprintf(err, errlen, "bad inet endpoint \"%s\": want host:port", hp);
            return -1;
        }
        hlen = (size_t)(colon - hp);
        if (hlen >= sizeof(host)) {
            snprintf(err, errlen, "host too long in \"%s\"", hp);
            return -1;
        }
        memcpy(host, hp, hlen);
        port_s = colon + 1;
    }
    host[hlen] = '\0';

    unsigned short port;
    if (parse_port(port_s, &port) != 0) {
        snprintf(err, errlen, "bad port \"%s\"", port_s);
        return -1;
    }
    memset(out, 0, sizeof(*out));
    struct sockaddr_in *sin = (struct sockaddr_in *)&out->ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&out->ss;
    if (inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons(port);
        out->len = sizeof(*sin);
        out->family = AF_INET;
    } else if (inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(port);
        out->len = sizeof(*sin6);
        out->family = AF_INET6;
    } else {
        snprintf(err, errlen, "bad numeric host \"%s\"", host);
        return -1;
    }
    return 0;
}

int bench_addr_parse(const char *spec, struct bench_addr *out, char *err, size_t errlen)
{
    if (strncmp(spec, "unix:", 5) == 0) {
        const char *path = spec + 5;
        size_t plen = strlen(path);
        memset(out, 0, sizeof(*out));
        struct sockaddr_un *sun = (struct sockaddr_un *)&out->ss;
        if (plen == 0 || plen >= sizeof(sun->sun_path) || plen >= sizeof(out->path)) {
            snprintf(err, errlen, "unix socket path empty or longer than %zu bytes: \"%s\"",
                     sizeof(sun->sun_path) - 1, path);
            return -1;
        }
        sun->sun_family = AF_UNIX;
        memcpy(sun->sun_path, path, plen + 1);
        memcpy(out->path, path, plen + 1);
        out->len = (socklen_t)sizeof(*sun);
        out->family = AF_UNIX;
        return 0;
    }
    if (strncmp(spec, "inet:", 5) == 0)
        return parse_inet(spec + 5, out, err, errlen);
    snprintf(err, errlen, "bad endpoint \"%s\": want unix:PATH or inet:HOST:PORT", spec);
    return -1;
}

int bench_addr_connect(const struct bench_addr *a, int timeout_ms)
{
    int fd = socket(a->family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
        /* A unix socket with a full backlog says EAGAIN; TCP says EINPROGRESS.
         * Both resolve within the timeout or fail. */
        if (errno == EAGAIN && a->family == AF_UNIX) {
            int waited = 0;
            while (connect(fd, (const struct sockaddr *)&a->ss, a->len) != 0) {
                if (errno != EAGAIN || waited >= timeout_ms) {
                    int e = errno;
                    close(fd);
                    errno = e == EAGAIN ? ETIMEDOUT : e;
                    return -1;
                }
                usleep(1000);
                waited++;
            }
        } else if (errno == EINPROGRESS) {
            struct pollfd pfd = {.fd = fd, .events = POLLOUT};
            int soerr = 0;
            socklen_t sl = sizeof(soerr);
            int n = poll(&pfd, 1, timeout_ms);
            if (n <= 0 || getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 || soerr != 0) {
                close(fd);
                errno = n == 0 ? ETIMEDOUT : (soerr != 0 ? soerr : EIO);
                return -1;
            }
        } else {
            int e = errno;
            close(fd);
            errno = e;
            return -1;
        }
    }
    if (a->family != AF_UNIX) {
        /* Postfix's policy client writes one request and waits: no Nagle. */
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    }
    return fd;
}
