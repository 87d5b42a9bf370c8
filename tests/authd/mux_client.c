/*
 * mux_client - send one saslauthd-protocol request and print the outcome,
 * for the authd tests.
 *
 *   mux_client SOCKET LOGIN PASSWORD [SERVICE [REALM]]
 *
 * Prints "OK", "NO ..." (the reply text) or "HANGUP" (closed without a
 * reply: what libsasl2 turns into a temporary failure), then the time in
 * milliseconds. A login or password of the form "hex:4142" is decoded, so
 * tests can send NUL bytes; "long:N" sends N bytes of 'a'.
 * Exit status: 0 OK, 1 NO, 2 HANGUP, 3 usage or connect error.
 */
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mux_proto.h"

/* Decode an argument into buf; returns its length. */
static size_t arg_bytes(const char *a, char *buf, size_t buflen)
{
    if (strncmp(a, "hex:", 4) == 0) {
        size_t n = 0;
        for (a += 4; a[0] && a[1] && n < buflen; a += 2) {
            unsigned v;
            if (sscanf(a, "%2x", &v) != 1)
                break;
            buf[n++] = (char)v;
        }
        return n;
    }
    if (strncmp(a, "long:", 5) == 0) {
        size_t n = strtoul(a + 5, NULL, 10);
        if (n > buflen)
            n = buflen;
        memset(buf, 'a', n);
        return n;
    }
    {
        size_t n = strlen(a);
        if (n > buflen)
            n = buflen;
        memcpy(buf, a, n);
        return n;
    }
}

int main(int argc, char **argv)
{
    static char f[4][70000];
    static uint8_t req[4 * 70002];
    const char *fields[4];
    size_t lens[4], n, got = 0;
    struct sockaddr_un sun;
    struct timespec t0, t1;
    uint8_t rep[600];
    int fd;
    ssize_t r;

    if (argc < 4 || argc > 6) {
        fprintf(stderr, "usage: mux_client SOCKET LOGIN PASSWORD [SERVICE [REALM]]\n");
        return 3;
    }
    for (int i = 0; i < 4; i++) {
        const char *a = i + 2 < argc ? argv[i + 2] : (i == 2 ? "smtp" : "");
        lens[i] = arg_bytes(a, f[i], sizeof(f[i]));
        fields[i] = f[i];
    }
    n = mux_encode_request(req, sizeof(req), fields, lens);
    signal(SIGPIPE, SIG_IGN); /* a refusing server closes before we finish writing */
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", argv[1]);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        fprintf(stderr, "connect %s: %s\n", argv[1], strerror(errno));
        return 3;
    }
    if (n == 0) {
        fprintf(stderr, "request does not fit\n");
        return 3;
    }
    if (write(fd, req, n) != (ssize_t)n) {
        printf("HANGUP 0\n"); /* closed on us while we were still sending */
        return 2;
    }
    while ((r = read(fd, rep + got, sizeof(rep) - 1 - got)) > 0)
        got += (size_t)r;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    close(fd);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1000.0 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    if (got < 2) {
        printf("HANGUP %.0f\n", ms);
        return 2;
    }
    rep[got] = '\0';
    printf("%s %.0f\n", (char *)rep + 2, ms);
    return strncmp((char *)rep + 2, "OK", 2) == 0 ? 0 : 1;
}
