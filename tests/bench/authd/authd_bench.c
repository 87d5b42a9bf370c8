/*
 * authd_bench - the load loop and report shared by mux_bench and
 * ldap_bench (the authd benchmark clients).
 *
 *   authd_bench_main(LABEL, THREADS, SECONDS, USERS, client)
 *       THREADS (1..1024) threads, each with its own client->open()
 *       connection state, call client->auth() with a random user in
 *       1..USERS until SECONDS have passed, and time every call. Then one
 *       line on stdout:
 *
 *       "LABEL N auths in Ds = X auths/s, p50 A ms, p99 B ms, ok O, no N,
 *        fail F, client cpu C us/auth"
 *
 *       (C: this process's own CPU time per request). run_authd_bench.sh
 *       parses that line: keep its format. Returns the exit status for
 *       main(): 0, 1 if any request failed, 2 on bad arguments or out of
 *       memory (nothing printed then).
 *
 * Limits: at most AUTHD_BENCH_MAX_SAMPLES latencies are kept for the
 * percentiles (all requests are counted). Arguments are trusted (typed by
 * whoever runs the benchmark).
 */
#include <pthread.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "authd_bench.h"

#define AUTHD_BENCH_MAX_SAMPLES 2000000

struct authd_bench {
    const struct authd_bench_client *client;
    double seconds;
    long users;
    pthread_mutex_t lock;
    double *lat;
    size_t nlat;
    long ok, no, fail;
};

/* Monotonic clock, in seconds. */
static double authd_bench_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* One thread: requests until the time is up, each timed and counted. */
static void *authd_bench_thread(void *arg)
{
    struct authd_bench *b = arg;
    const struct authd_bench_client *c = b->client;
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)time(NULL);
    void *conn = c->open(c->arg);
    double end = authd_bench_now() + b->seconds;

    while (conn) {
        double t0 = authd_bench_now(), dt;
        enum authd_bench_result rc;
        if (t0 >= end)
            break;
        rc = c->auth(conn, 1 + rand_r(&seed) % b->users);
        dt = (authd_bench_now() - t0) * 1000.0;
        pthread_mutex_lock(&b->lock);
        if (b->nlat < AUTHD_BENCH_MAX_SAMPLES)
            b->lat[b->nlat++] = dt;
        if (rc == AUTHD_BENCH_OK)
            b->ok++;
        else if (rc == AUTHD_BENCH_NO)
            b->no++;
        else
            b->fail++;
        pthread_mutex_unlock(&b->lock);
    }
    if (conn && c->close)
        c->close(conn);
    return NULL;
}

/* CPU time this process has used, in microseconds. */
static double authd_bench_cpu_us(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e6 +
           (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

/* qsort order for latencies. */
static int authd_bench_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Run the benchmark and print its line; see the header comment. */
int authd_bench_main(const char *label, const char *threads, const char *seconds, const char *users,
                     const struct authd_bench_client *client)
{
    struct authd_bench b;
    long nthreads;
    pthread_t *t;
    double t0, el, cpu0;

    memset(&b, 0, sizeof(b));
    b.client = client;
    nthreads = strtol(threads, NULL, 10);
    b.seconds = strtod(seconds, NULL);
    b.users = strtol(users, NULL, 10);
    if (nthreads < 1 || nthreads > 1024 || b.seconds <= 0 || b.users < 1)
        return 2;
    b.lat = malloc(sizeof(double) * AUTHD_BENCH_MAX_SAMPLES);
    t = calloc((size_t)nthreads, sizeof(*t));
    if (b.lat == NULL || t == NULL) {
        free(t);
        free(b.lat);
        return 2;
    }
    pthread_mutex_init(&b.lock, NULL);
    cpu0 = authd_bench_cpu_us();
    t0 = authd_bench_now();
    for (long i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, authd_bench_thread, &b);
    for (long i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    el = authd_bench_now() - t0;
    qsort(b.lat, b.nlat, sizeof(double), authd_bench_cmp);
    printf("%-28s %7zu auths in %.1fs = %8.0f auths/s, p50 %6.2f ms, p99 %6.2f ms, ok %ld, no %ld, "
           "fail %ld, "
           "client cpu %.1f us/auth\n",
           label, b.nlat, el, (double)b.nlat / el, b.nlat ? b.lat[b.nlat / 2] : 0.0,
           b.nlat ? b.lat[(size_t)((double)b.nlat * 0.99)] : 0.0, b.ok, b.no, b.fail,
           b.nlat ? (authd_bench_cpu_us() - cpu0) / (double)b.nlat : 0.0);
    free(t);
    free(b.lat);
    return b.fail > 0 ? 1 : 0;
}
