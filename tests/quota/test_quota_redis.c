/*
 * test_quota_redis.c - the quota script against a real Redis: limits,
 * reservations, idempotent commit, NOSCRIPT after SCRIPT FLUSH, TTLs and
 * expiry, and the request deadline while Redis is paused.
 *
 * Run by redis-test.sh, which starts redis-server on a loopback port and
 * passes it in QUOTA_TEST_REDIS_PORT. Admin commands go through redis-cli,
 * so that hiredis stays inside quota_redis.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "quota_redis.h"
#include "util.h"

static struct event_base *base;
static struct quota_redis *qr;
static const char *port;

struct answer {
    int called, ok;
    struct limiter_result res;
};

static void on_answer(void *arg, int ok, const struct limiter_result *res)
{
    struct answer *a = arg;
    a->called++;
    a->ok = ok;
    if (res)
        a->res = *res;
}

/* Run the loop until cond or about two seconds have passed. */
static void spin(const int *cond)
{
    struct timeval tick = {0, 10000};
    for (int i = 0; i < 200 && !*cond; i++) {
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
    }
}

static void cli(const char *args, char *out, size_t outlen)
{
    char cmd[512];
    FILE *fp;
    size_t n;

    snprintf(cmd, sizeof(cmd), "redis-cli -h 127.0.0.1 -p %s %s", port, args);
    fp = popen(cmd, "r");
    assert_non_null(fp);
    n = fread(out, 1, outlen - 1, fp);
    out[n] = '\0';
    pclose(fp);
}

static struct answer run(enum quota_redis_op_kind kind, const char *principal,
                         const struct limiter_limits *l, uint64_t txid, uint64_t release,
                         const char *instance, uint64_t msgs, uint64_t rcpts)
{
    struct quota_redis_op op = {kind, principal, strlen(principal), l, txid, release,
                                instance, {msgs, rcpts}};
    struct answer a = {0, 0, {0, 0, 0}};
    int ready = quota_redis_ready(qr);

    spin(&ready);
    if (quota_redis_submit(qr, &op, on_answer, &a) == NULL)
        fail_msg("got a refused submit, want a request in flight");
    spin(&a.called);
    if (a.called != 1)
        fail_msg("got %d callbacks, want 1", a.called);
    return a;
}

static struct limiter_limits lim(const char *msgs, const char *rcpts)
{
    struct limiter_limits l;
    char err[128];
    memset(&l, 0, sizeof(l));
    l.buckets = 60;
    l.reserve_ttl_ms = 60000;
    l.done_ttl_ms = 600000;
    assert_int_equal(limiter_parse(msgs, LIMITER_MESSAGES, &l, err, sizeof(err)), 0);
    assert_int_equal(limiter_parse(rcpts, LIMITER_RECIPIENTS, &l, err, sizeof(err)), 0);
    return l;
}

static int setup(void **state)
{
    static char empty[] = "", master[] = "mymaster", prefix[] = "qt";
    struct store_conf sc = {empty, empty, empty, 3, 100, 500, empty, master, prefix};
    char server[64], err[256];
    (void)state;
    port = getenv("QUOTA_TEST_REDIS_PORT");
    if (port == NULL)
        return -1;
    snprintf(server, sizeof(server), "127.0.0.1:%s", port);
    sc.server = server;
    base = event_base_new();
    qr = quota_redis_new(base, &sc, err, sizeof(err));
    if (qr == NULL) {
        fprintf(stderr, "quota_redis_new: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    quota_redis_free(qr);
    event_base_free(base);
    return 0;
}

static void test_script_enforces_limit_and_dedups_commit(void **state)
{
    struct limiter_limits l = lim("3/1h", "4/1h");
    struct answer a;
    (void)state;
    for (uint64_t i = 1; i <= 3; i++) {
        char inst[32];
        snprintf(inst, sizeof(inst), "aa.%llu", (unsigned long long)i);
        a = run(QUOTA_REDIS_CHECK, "u:t1", &l, i, 0, "", 1, 1);
        if (a.ok != 0 || a.res.verdict != LIMITER_OK)
            fail_msg("message %llu: got ok %d verdict %d, want ok", (unsigned long long)i, a.ok,
                     a.res.verdict);
        a = run(QUOTA_REDIS_COMMIT, "u:t1", &l, i, 0, inst, 1, 1);
        assert_int_equal(a.res.verdict, LIMITER_OK);
        a = run(QUOTA_REDIS_COMMIT, "u:t1", &l, i, 0, inst, 1, 1); /* Postfix retry */
        if (a.res.verdict != LIMITER_DUPLICATE)
            fail_msg("retry %llu: got verdict %d, want duplicate", (unsigned long long)i,
                     a.res.verdict);
    }
    a = run(QUOTA_REDIS_CHECK, "u:t1", &l, 9, 0, "", 1, 1);
    if (a.res.verdict != LIMITER_EXCEEDED || a.res.window != 0 || a.res.used != 3)
        fail_msg("got verdict %d window %zu used %llu, want exceeded window 0 used 3",
                 a.res.verdict, a.res.window, (unsigned long long)a.res.used);
}

static void test_script_reservations_block_and_release(void **state)
{
    struct limiter_limits l = lim("1/1h", "");
    struct answer a;
    (void)state;
    a = run(QUOTA_REDIS_CHECK, "u:t2", &l, 100, 0, "", 1, 1);
    assert_int_equal(a.res.verdict, LIMITER_OK);
    a = run(QUOTA_REDIS_CHECK, "u:t2", &l, 101, 0, "", 1, 1);
    if (a.res.verdict != LIMITER_EXCEEDED || a.res.used != 1)
        fail_msg("got verdict %d used %llu, want exceeded by the other reservation",
                 a.res.verdict, (unsigned long long)a.res.used);
    a = run(QUOTA_REDIS_CHECK, "u:t2", &l, 101, 100, "", 1, 1); /* releases 100 */
    assert_int_equal(a.res.verdict, LIMITER_OK);
    a = run(QUOTA_REDIS_RELEASE, "u:t2", &l, 101, 0, "", 0, 0);
    assert_int_equal(a.res.verdict, LIMITER_OK);
    a = run(QUOTA_REDIS_CHECK, "u:t2", &l, 102, 0, "", 1, 1);
    assert_int_equal(a.res.verdict, LIMITER_OK);
}

static void test_noscript_after_script_flush_falls_back_to_eval(void **state)
{
    struct limiter_limits l = lim("5/1h", "");
    char out[256];
    uint64_t before = quota_redis_stats(qr)->noscript;
    struct answer a;
    (void)state;
    cli("SCRIPT FLUSH", out, sizeof(out));
    a = run(QUOTA_REDIS_CHECK, "u:t3", &l, 1, 0, "", 1, 1);
    if (a.ok != 0 || a.res.verdict != LIMITER_OK)
        fail_msg("got ok %d verdict %d, want ok through EVAL", a.ok, a.res.verdict);
    if (quota_redis_stats(qr)->noscript != before + 1)
        fail_msg("got %llu NOSCRIPT fallbacks, want %llu",
                 (unsigned long long)quota_redis_stats(qr)->noscript,
                 (unsigned long long)before + 1);
    a = run(QUOTA_REDIS_CHECK, "u:t3", &l, 1, 0, "", 1, 1); /* EVAL re-cached it */
    assert_int_equal(quota_redis_stats(qr)->noscript, before + 1);
}

static void test_every_key_has_a_ttl_and_expires(void **state)
{
    struct limiter_limits l = lim("1/1s", "2/2s");
    char out[8192], *line, *save = NULL;
    struct answer a;
    int keys = 0;
    (void)state;
    a = run(QUOTA_REDIS_CHECK, "u:t4", &l, 7, 0, "", 1, 1);
    assert_int_equal(a.res.verdict, LIMITER_OK);
    a = run(QUOTA_REDIS_COMMIT, "u:t4", &l, 7, 0, "bb.1", 1, 1);
    assert_int_equal(a.res.verdict, LIMITER_OK);
    a = run(QUOTA_REDIS_CHECK, "u:t4", &l, 8, 0, "", 1, 1); /* refused: no reservation */
    assert_int_equal(a.res.verdict, LIMITER_EXCEEDED);
    a = run(QUOTA_REDIS_CHECK, "u:t4x", &l, 8, 0, "", 1, 1); /* leaves a reservation */
    assert_int_equal(a.res.verdict, LIMITER_OK);
    cli("-n 3 --scan --pattern 'qt:v1:q:*'", out, sizeof(out));
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char cmd[600], ttl[64];
        snprintf(cmd, sizeof(cmd), "-n 3 PTTL '%s'", line);
        cli(cmd, ttl, sizeof(ttl));
        if (atoll(ttl) <= 0) /* test code: atoll of redis-cli output is fine */
            fail_msg("%s: got PTTL %s, want a TTL", line, ttl);
        keys++;
    }
    if (keys < 3)
        fail_msg("got %d keys, want the pending, done and series keys", keys);
    sleep(3); /* the 2 s window and its bucket have passed */
    a = run(QUOTA_REDIS_CHECK, "u:t4", &l, 9, 0, "", 1, 1);
    if (a.res.verdict != LIMITER_OK)
        fail_msg("after the window: got verdict %d used %llu, want ok", a.res.verdict,
                 (unsigned long long)a.res.used);
    cli("-n 3 EXISTS 'qt:v1:q:w:m:1000:17:{u:t4}' 'qt:v1:q:w:r:2000:34:{u:t4}'", out,
        sizeof(out));
    if (atoi(out) != 0)
        fail_msg("got %s series keys after expiry, want 0", out);
}

static void test_deadline_answers_while_redis_is_paused(void **state)
{
    struct limiter_limits l = lim("5/1h", "");
    struct quota_redis_op op = {QUOTA_REDIS_CHECK, "u:t5", 4, &l, 1, 0, "", {1, 1}};
    struct answer a = {0, 0, {0, 0, 0}};
    uint64_t t0, before = quota_redis_stats(qr)->timeouts;
    char out[64];
    int ready = quota_redis_ready(qr);
    (void)state;
    spin(&ready);
    cli("CLIENT PAUSE 900", out, sizeof(out));
    t0 = util_now_us();
    assert_non_null(quota_redis_submit(qr, &op, on_answer, &a));
    spin(&a.called);
    if (a.called != 1 || a.ok != -1)
        fail_msg("got %d callbacks, ok %d, want one answer 'unavailable'", a.called, a.ok);
    if (util_now_us() - t0 > 400000)
        fail_msg("got the answer after %llu us, want it near redis_timeout (100 ms)",
                 (unsigned long long)(util_now_us() - t0));
    if (quota_redis_stats(qr)->timeouts != before + 1)
        fail_msg("got %llu timeouts, want 1", (unsigned long long)(quota_redis_stats(qr)->timeouts - before));
    /* Still paused: two more silent deadlines drop the connection, after
     * which requests are refused at once (the caller falls back). */
    for (int i = 0; i < 2; i++) {
        memset(&a, 0, sizeof(a));
        assert_non_null(quota_redis_submit(qr, &op, on_answer, &a));
        spin(&a.called);
        assert_int_equal(a.ok, -1);
    }
    if (quota_redis_submit(qr, &op, on_answer, &a) != NULL)
        fail_msg("got a request in flight after 3 silent deadlines, want an immediate refusal");
    usleep(800000);
    ready = 0;
    for (int i = 0; i < 50 && !ready; i++) { /* back-off, then reconnect */
        spin(&ready);
        ready = quota_redis_ready(qr);
    }
    if (!ready)
        fail_msg("got no reconnect after the pause, want one");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_enforces_limit_and_dedups_commit),
        cmocka_unit_test(test_script_reservations_block_and_release),
        cmocka_unit_test(test_noscript_after_script_flush_falls_back_to_eval),
        cmocka_unit_test(test_every_key_has_a_ttl_and_expires),
        cmocka_unit_test(test_deadline_answers_while_redis_is_paused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
