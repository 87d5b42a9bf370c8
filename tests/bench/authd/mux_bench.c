/*
 * mux_bench - load generator for the saslauthd protocol: N threads, each
 * doing one request per connection (as libsasl2 does) for D seconds,
 * cycling through users user1..userU with passwords pw-1..pw-U. Prints
 * auths/s and latency percentiles. Works against portreeve-authd and
 * against Debian's saslauthd alike.
 *
 *   mux_bench LABEL SOCKET THREADS SECONDS USERS
 *
 * Output: "LABEL N auths in Ds = X auths/s, p50 A ms, p99 B ms, ok O, no N, fail F,
 * client cpu C us/auth" (C: this load generator's own CPU time per request;
 * the loop and the line are authd_bench.c's).
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "authd_bench.h"
#include "mux_proto.h"

/* Per-thread state: nothing but the socket path (one connection per request). */
static void *mux_bench_open(void *arg)
{
    return arg;
}

/* One request on a fresh connection to the socket at path. */
static enum authd_bench_result mux_bench_auth(void *path, long u)
{
    char login[32], pw[32];
    const char *f[4] = {login, pw, "smtp", ""};
    size_t lens[4];
    uint8_t req[256], rep[300];
    struct sockaddr_un sun;
    size_t n, got = 0;
    ssize_t r;
    int fd;

    snprintf(login, sizeof(login), "user%ld", u);
    snprintf(pw, sizeof(pw), "pw-%ld", u);
    lens[0] = strlen(login);
    lens[1] = strlen(pw);
    lens[2] = 4;
    lens[3] = 0;
    n = mux_encode_request(req, sizeof(req), f, lens);
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", (const char *)path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return AUTHD_BENCH_FAIL;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || write(fd, req, n) != (ssize_t)n) {
        close(fd);
        return AUTHD_BENCH_FAIL;
    }
    while ((r = read(fd, rep + got, sizeof(rep) - got)) > 0)
        got += (size_t)r;
    close(fd);
    if (got < 4)
        return AUTHD_BENCH_FAIL;
    return memcmp(rep + 2, "OK", 2) == 0 ? AUTHD_BENCH_OK : AUTHD_BENCH_NO;
}

int main(int argc, char **argv)
{
    struct authd_bench_client client = {
        .open = mux_bench_open,
        .auth = mux_bench_auth,
        .close = NULL,
        .arg = NULL,
    };

    if (argc != 6) {
        fprintf(stderr, "usage: mux_bench LABEL SOCKET THREADS SECONDS USERS\n");
        return 2;
    }
    client.arg = argv[2];
    signal(SIGPIPE, SIG_IGN);
    return authd_bench_main(argv[1], argv[3], argv[4], argv[5], &client);
}
