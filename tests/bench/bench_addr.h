/* bench_addr.h - endpoint strings ("unix:/path", "inet:host:port") for the
 * benchmark tools. See bench_addr.c for the contract. */
#ifndef PORTREEVE_BENCH_ADDR_H
#define PORTREEVE_BENCH_ADDR_H

#include <stddef.h>
#include <sys/socket.h>

struct bench_addr {
    struct sockaddr_storage ss;
    socklen_t len;
    int family;     /* AF_UNIX, AF_INET or AF_INET6 */
    char path[108]; /* AF_UNIX only: the socket path, for unlink() */
};

/* Parse SPEC into OUT; 0 on success, -1 with a message in ERR. */
int bench_addr_parse(const char *spec, struct bench_addr *out, char *err, size_t errlen);

/* Connect to A with a connect timeout of TIMEOUT_MS; returns a non-blocking
 * socket, or -1 with errno set. */
int bench_addr_connect(const struct bench_addr *a, int timeout_ms);

#endif
