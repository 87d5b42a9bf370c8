/* test_bench.c - unit tests for the benchmark tools' own logic.
 *
 * The figures the benchmarks print are only as good as the histogram that
 * computes the percentiles and the request generator that feeds the daemon,
 * so both are tested here (cmocka, table-driven): quantiles against exactly
 * sorted samples, bucket error bounds, and that every generated request is a
 * well-formed Postfix 3.7 request with the advertised mix.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bench_addr.h"
#include "bench_hist.h"
#include "bench_req.h"

#ifndef BENCH_DATA_DIR
#define BENCH_DATA_DIR "tests/bench/data"
#endif

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Exact quantile of sorted V (N samples): the ceil(q*n)-th smallest. */
static uint64_t exact_quantile(const uint64_t *v, size_t n, double q)
{
    size_t rank = (size_t)(q * (double)n);
    if ((double)rank < q * (double)n)
        rank++;
    if (rank == 0)
        rank = 1;
    return v[rank - 1];
}

static void test_hist_quantiles_within_bucket_error(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint64_t lo, span; /* samples lo + (x mod span) */
    } cases[] = {
        {"sub-128 ns exact", 0, 128},
        {"microseconds", 1000, 50000},
        {"milliseconds", 1000000, 30000000},
        {"wide range", 10, 4000000000ull},
    };
    static const double qs[] = {0.5, 0.9, 0.99, 0.999, 1.0};
    enum { N = 20000 };
    static uint64_t v[N];
    static struct bench_hist h;

    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        uint64_t st = 88172645463325252ull + c;
        bench_hist_reset(&h);
        for (size_t i = 0; i < N; i++) {
            st ^= st << 13;
            st ^= st >> 7;
            st ^= st << 17;
            v[i] = cases[c].lo + st % cases[c].span;
            bench_hist_record(&h, v[i]);
        }
        qsort(v, N, sizeof(v[0]), cmp_u64);
        for (size_t k = 0; k < sizeof(qs) / sizeof(qs[0]); k++) {
            uint64_t want = exact_quantile(v, N, qs[k]);
            uint64_t got = bench_hist_quantile(&h, qs[k]);
            /* reported value is the bucket's upper edge: >= the sample,
             * and above it by less than 1/64 of it (exact below 128 ns) */
            uint64_t slack = want < 128 ? 1 : want / 64 + 1;
            if (got < want || got > want + slack)
                fail_msg("%s q=%.3f: got %llu, want %llu..%llu", cases[c].name, qs[k],
                         (unsigned long long)got, (unsigned long long)want,
                         (unsigned long long)(want + slack));
        }
        if (h.total != N || h.max_ns != v[N - 1] || h.min_ns != v[0])
            fail_msg("%s: got total/min/max %llu/%llu/%llu, want %d/%llu/%llu", cases[c].name,
                     (unsigned long long)h.total, (unsigned long long)h.min_ns,
                     (unsigned long long)h.max_ns, N, (unsigned long long)v[0],
                     (unsigned long long)v[N - 1]);
    }
}

static void test_hist_empty_reports_zero(void **state)
{
    (void)state;
    static struct bench_hist h;
    bench_hist_reset(&h);
    uint64_t got = bench_hist_quantile(&h, 0.99);
    if (got != 0)
        fail_msg("empty p99: got %llu, want 0", (unsigned long long)got);
}

/* Value of attribute NAME in request REQ (LEN bytes), or NULL. */
static const char *attr(const char *req, size_t len, const char *name, char *buf, size_t buflen)
{
    size_t nl = strlen(name);
    for (const char *p = req; p < req + len;) {
        const char *eol = memchr(p, '\n', (size_t)(req + len - p));
        if (eol == NULL)
            return NULL;
        if ((size_t)(eol - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            size_t vl = (size_t)(eol - p) - nl - 1;
            if (vl >= buflen)
                vl = buflen - 1;
            memcpy(buf, p + nl + 1, vl);
            buf[vl] = '\0';
            return buf;
        }
        p = eol + 1;
    }
    return NULL;
}

static void test_req_generates_wellformed_postfix_requests(void **state)
{
    (void)state;
    char err[256];
    struct bench_req_set *s = bench_req_new();
    assert_non_null(s);
    if (bench_req_load_dir(s, BENCH_DATA_DIR, err, sizeof(err)) != 0 ||
        bench_req_generate(s, 2000, 42, err, sizeof(err)) != 0)
        fail_msg("load/generate: %s", err);
    if (bench_req_count(s) != 2000)
        fail_msg("count: got %zu, want 2000", bench_req_count(s));

    size_t eom = 0, rcpt = 0, port[3] = {0, 0, 0};
    for (size_t i = 0; i < bench_req_count(s); i++) {
        size_t len, lines = 0;
        const char *r = bench_req_get(s, i, &len);
        char v[128];
        if (len < 2 || r[len - 1] != '\n' || r[len - 2] != '\n')
            fail_msg("request %zu: does not end with an empty line", i);
        for (size_t j = 0; j + 1 < len; j++)
            if (r[j] == '\n')
                lines++;
        if (lines != 29)
            fail_msg("request %zu: got %zu attributes, want 29 (Postfix 3.7)", i, lines);
        if (memchr(r, '\0', len) != NULL)
            fail_msg("request %zu: contains NUL", i);
        const char *st = attr(r, len, "protocol_state", v, sizeof(v));
        if (st != NULL && strcmp(st, "END-OF-MESSAGE") == 0)
            eom++;
        else if (st != NULL && strcmp(st, "RCPT") == 0)
            rcpt++;
        else
            fail_msg("request %zu: got protocol_state=%s, want RCPT or END-OF-MESSAGE", i,
                     st ? st : "(none)");
        const char *sp = attr(r, len, "server_port", v, sizeof(v));
        if (sp == NULL)
            fail_msg("request %zu: no server_port", i);
        port[0] += strcmp(sp, "25") == 0;
        port[1] += strcmp(sp, "587") == 0;
        port[2] += strcmp(sp, "465") == 0;
        if (strcmp(attr(r, len, "request", v, sizeof(v)) ? v : "", "smtpd_access_policy") != 0)
            fail_msg("request %zu: got request=%s, want smtpd_access_policy", i, v);
    }
    /* the advertised mix, with a generous margin for 2,000 draws */
    const struct {
        const char *what;
        size_t *got;
        size_t lo, hi;
    } want[] = {
        {"END-OF-MESSAGE", &eom, 400, 600}, {"RCPT", &rcpt, 1400, 1600},
        {"port 25", &port[0], 900, 1100},   {"port 587", &port[1], 600, 800},
        {"port 465", &port[2], 220, 380},
    };
    for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++)
        if (*want[k].got < want[k].lo || *want[k].got > want[k].hi)
            fail_msg("%s: got %zu of 2000, want %zu..%zu", want[k].what, *want[k].got, want[k].lo,
                     want[k].hi);
    bench_req_free(s);
}

static void test_req_same_seed_same_requests(void **state)
{
    (void)state;
    char err[256];
    struct bench_req_set *a = bench_req_new(), *b = bench_req_new();
    assert_non_null(a);
    assert_non_null(b);
    if (bench_req_load_dir(a, BENCH_DATA_DIR, err, sizeof(err)) != 0 ||
        bench_req_load_dir(b, BENCH_DATA_DIR, err, sizeof(err)) != 0 ||
        bench_req_generate(a, 100, 7, err, sizeof(err)) != 0 ||
        bench_req_generate(b, 100, 7, err, sizeof(err)) != 0)
        fail_msg("load/generate: %s", err);
    for (size_t i = 0; i < 100; i++) {
        size_t la, lb;
        const char *ra = bench_req_get(a, i, &la), *rb = bench_req_get(b, i, &lb);
        if (la != lb || memcmp(ra, rb, la) != 0)
            fail_msg("request %zu differs between two runs with seed 7", i);
    }
    bench_req_free(a);
    bench_req_free(b);
}

static void test_addr_parses_endpoints(void **state)
{
    (void)state;
    static const struct {
        const char *spec;
        int ok, family;
    } cases[] = {
        {"unix:/tmp/x.sock", 1, AF_UNIX},  {"inet:127.0.0.1:25001", 1, AF_INET},
        {"inet:[::1]:25001", 1, AF_INET6}, {"inet:127.0.0.1:0", 0, 0},
        {"inet:127.0.0.1:65536", 0, 0},    {"inet:localhost:25", 0, 0},
        {"inet:127.0.0.1", 0, 0},          {"unix:", 0, 0},
        {"tcp:127.0.0.1:25", 0, 0},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct bench_addr a;
        char err[128];
        int ok = bench_addr_parse(cases[i].spec, &a, err, sizeof(err)) == 0;
        if (ok != cases[i].ok || (ok && a.family != cases[i].family))
            fail_msg("%s: got ok=%d family=%d, want ok=%d family=%d", cases[i].spec, ok,
                     ok ? a.family : 0, cases[i].ok, cases[i].family);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hist_quantiles_within_bucket_error),
        cmocka_unit_test(test_hist_empty_reports_zero),
        cmocka_unit_test(test_req_generates_wellformed_postfix_requests),
        cmocka_unit_test(test_req_same_seed_same_requests),
        cmocka_unit_test(test_addr_parses_endpoints),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
