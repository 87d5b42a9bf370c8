/*
 * ldap_bench - the baseline: what the directory allows with a bare libldap
 * client doing what a verifier must do (search for the user's DN as the
 * service account, then a simple bind as that DN), on persistent
 * connections, N threads for D seconds. Same output as mux_bench; here
 * "client cpu" is the verifier's own CPU time per search+bind.
 *
 *   ldap_bench LABEL URI BASE BINDDN BINDPW THREADS SECONDS USERS
 */
#include <ldap.h>
#include <pthread.h>
#include <sys/resource.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_MAX_SAMPLES 2000000

struct bench {
    char **argv;
    double seconds;
    long users;
    pthread_mutex_t lock;
    double *lat;
    size_t nlat;
    long ok, fail;
};

static double bench_now(void)
{
    struct timespec t;

    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static LDAP *bench_open(const char *uri, const char *dn, const char *pw)
{
    LDAP *ld = NULL;
    int v3 = LDAP_VERSION3;
    struct berval cred = {0, NULL};

    if (ldap_initialize(&ld, uri) != LDAP_SUCCESS)
        return NULL;
    ldap_set_option(ld, LDAP_OPT_PROTOCOL_VERSION, &v3);
    if (dn) {
        cred.bv_val = (char *)(uintptr_t)pw;
        cred.bv_len = strlen(pw);
        if (ldap_sasl_bind_s(ld, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL) != LDAP_SUCCESS) {
            ldap_unbind_ext_s(ld, NULL, NULL);
            return NULL;
        }
    }
    return ld;
}

static void *bench_thread(void *arg)
{
    struct bench *b = arg;
    char **a = b->argv;
    unsigned seed = (unsigned)(uintptr_t)&seed ^ (unsigned)time(NULL);
    LDAP *search = bench_open(a[2], a[4], a[5]), *bind = bench_open(a[2], NULL, NULL);
    double end = bench_now() + b->seconds;
    char *attrs[] = {(char *)(uintptr_t) "1.1", NULL};

    while (search && bind) {
        double t0 = bench_now(), dt;
        long u = 1 + rand_r(&seed) % b->users;
        char filter[64], pw[32];
        LDAPMessage *res = NULL, *e;
        char *dn = NULL;
        int ok = 0;
        if (t0 >= end)
            break;
        snprintf(filter, sizeof(filter), "(&(objectClass=posixAccount)(uid=user%ld))", u);
        snprintf(pw, sizeof(pw), "pw-%ld", u);
        if (ldap_search_ext_s(search, a[3], LDAP_SCOPE_SUBTREE, filter, attrs, 0, NULL, NULL, NULL,
                              2, &res) == LDAP_SUCCESS &&
            (e = ldap_first_entry(search, res)) && (dn = ldap_get_dn(search, e))) {
            struct berval cred = {strlen(pw), pw};
            ok = ldap_sasl_bind_s(bind, dn, LDAP_SASL_SIMPLE, &cred, NULL, NULL, NULL) ==
                 LDAP_SUCCESS;
        }
        if (dn)
            ldap_memfree(dn);
        if (res)
            ldap_msgfree(res);
        dt = (bench_now() - t0) * 1000.0;
        pthread_mutex_lock(&b->lock);
        if (b->nlat < BENCH_MAX_SAMPLES)
            b->lat[b->nlat++] = dt;
        if (ok)
            b->ok++;
        else
            b->fail++;
        pthread_mutex_unlock(&b->lock);
    }
    if (search)
        ldap_unbind_ext_s(search, NULL, NULL);
    if (bind)
        ldap_unbind_ext_s(bind, NULL, NULL);
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

    if (argc != 9) {
        fprintf(stderr, "usage: ldap_bench LABEL URI BASE BINDDN BINDPW THREADS SECONDS USERS\n");
        return 2;
    }
    memset(&b, 0, sizeof(b));
    b.argv = argv;
    nthreads = strtol(argv[6], NULL, 10);
    b.seconds = strtod(argv[7], NULL);
    b.users = strtol(argv[8], NULL, 10);
    if (nthreads < 1 || nthreads > 1024 || b.seconds <= 0 || b.users < 1)
        return 2;
    b.lat = malloc(sizeof(double) * BENCH_MAX_SAMPLES);
    t = calloc((size_t)nthreads, sizeof(*t));
    if (b.lat == NULL || t == NULL)
        return 2;
    pthread_mutex_init(&b.lock, NULL);
    cpu0 = bench_cpu_us();
    t0 = bench_now();
    for (long i = 0; i < nthreads; i++)
        pthread_create(&t[i], NULL, bench_thread, &b);
    for (long i = 0; i < nthreads; i++)
        pthread_join(t[i], NULL);
    el = bench_now() - t0;
    qsort(b.lat, b.nlat, sizeof(double), bench_cmp);
    printf("%-28s %7zu auths in %.1fs = %8.0f auths/s, p50 %6.2f ms, p99 %6.2f ms, ok %ld, no 0, "
           "fail %ld, "
           "client cpu %.1f us/auth\n",
           argv[1], b.nlat, el, (double)b.nlat / el, b.nlat ? b.lat[b.nlat / 2] : 0.0,
           b.nlat ? b.lat[(size_t)((double)b.nlat * 0.99)] : 0.0, b.ok, b.fail,
           b.nlat ? (bench_cpu_us() - cpu0) / (double)b.nlat : 0.0);
    free(t);
    free(b.lat);
    return b.fail > 0 ? 1 : 0;
}
