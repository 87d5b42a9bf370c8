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
 * client cpu C us/auth" (C: this load generator's own CPU time per request)
 */
#include <pthread.h>
#include <sys/resource.h>
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

#define BENCH_MAX_SAMPLES 2000000

struct bench {
    const char *socket;
    double seconds;
    long users;
    pthread_mutex_t lock;
    double *lat;
    size_t nlat;
    long ok, no, fail;
};

static double bench_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One request; returns 0 OK, 1 NO, 2 failure. */
static int bench_one(const char *path, long u)
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
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", path);
    fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0)
        return 2;
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 || write(fd, req, n) != (ssize_t)n) {
        close(fd);
        return 2;
    }
    while ((r = read(fd, rep + got, sizeof(rep) - got)) > 0)
        got += (size_t)r;
    close(fd);
    if (got < 4)
        return 2;
    return memcmp(rep + 2, "OK", 2) == 0 ? 0 : 1;
}

static void *bench_thread(void *arg)
{
    struct bench *b = arg;
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)time(NULL);
    double end = bench_now() + b->seconds;

    for (;;) {
        double t0 = bench_now(), dt;
        int rc;
        if (t0 >= end)
            break;
        rc = bench_one(b->socket, 1 + rand_r(&seed) % b->users);
        dt = (bench_now() - t0) * 1000.0;
        pthread_mutex_lock(&b->lock);
        if (b->nlat < BENCH_MAX_SAMPLES)
            b->lat[b->nlat++] = dt;
        if (rc == 0)
            b->ok++;
        else if (rc == 1)
            b->no++;
        else
            b->fail++;
        pthread_mutex_unlock(&b->lock);
    }
    return NULL;
}

/* CPU time this process has used, in microseconds. */
static double bench_cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static int bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    struct bench b;
    long nthreads;
    pthread_t *t;
    double t0, el, cpu0;

    if (argc != 6) {
        fprintf(stderr, "usage: mux_bench LABEL SOCKET THREADS SECONDS USERS\n");
        return 2;
    }
    memset(&b, 0, sizeof(b));
    b.socket = argv[2];
    nthreads = strtol(argv[3], NULL, 10);
    b.seconds = strtod(argv[4], NULL);
    b.users = strtol(argv[5], NULL, 10);
    if (nthreads < 1 || nthreads > 1024 || b.seconds <= 0 || b.users < 1)
        return 2;
    b.lat = malloc(sizeof(double) * BENCH_MAX_SAMPLES);
    t = calloc((size_t)nthreads, sizeof(*t));
    if (b.lat == NULL || t == NULL)
        return 2;
    pthread_mutex_init(&b.lock, NULL);
    signal(SIGPIPE, SIG_IGN);
    cpu0 = bench_cpu_us();
    t0 = bench_now();
    for (long i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, bench_thread, &b);
    for (long i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    el = bench_now() - t0;
    qsort(b.lat, b.nlat, sizeof(double), bench_cmp);
    printf("%-28s %7zu auths in %.1fs = %8.0f auths/s, p50 %6.2f ms, p99 %6.2f ms, ok %ld, no %ld, "
           "fail %ld, "
           "client cpu %.1f us/auth\n",
           argv[1], b.nlat, el, (double)b.nlat / el, b.nlat ? b.lat[b.nlat / 2] : 0.0,
           b.nlat ? b.lat[(size_t)((double)b.nlat * 0.99)] : 0.0, b.ok, b.no, b.fail,
           b.nlat ? (bench_cpu_us() - cpu0) / (double)b.nlat : 0.0);
    free(t);
    free(b.lat);
    return b.fail > 0 ? 1 : 0;
}
