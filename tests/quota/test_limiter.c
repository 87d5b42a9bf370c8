/*
 * test_limiter.c - the quota algorithm against a fake clock: window edges,
 * several windows, reservations, idempotent commit, parsing, and the
 * embedded store's bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "limiter.h"
#include "store_mem.h"

static struct limiter_limits limits_of(const char *msgs, const char *rcpts, unsigned buckets)
{
    struct limiter_limits l;
    char err[128];

    memset(&l, 0, sizeof(l));
    l.buckets = buckets;
    l.reserve_ttl_ms = 60000;
    l.done_ttl_ms = 600000;
    if (limiter_parse(msgs, LIMITER_MESSAGES, &l, err, sizeof(err)) != 0 ||
        limiter_parse(rcpts, LIMITER_RECIPIENTS, &l, err, sizeof(err)) != 0)
        fail_msg("parse: %s", err);
    return l;
}

/* One message at now: check then commit; returns the check's verdict. */
static enum limiter_verdict send_one(struct limiter_state *s, const struct limiter_limits *l,
                                     uint64_t now, uint64_t rcpts, uint64_t id)
{
    struct limiter_cost c = {1, rcpts};
    struct limiter_result r;

    assert_int_equal(limiter_check(s, l, now, id, 0, &c, &r), 0);
    if (r.verdict == LIMITER_OK) {
        struct limiter_result rc;
        assert_int_equal(limiter_commit(s, l, now, id, id, &c, &rc), 0);
    }
    return r.verdict;
}

static void test_limiter_parse_table(void **state)
{
    static const struct {
        const char *text;
        int rc;
        size_t n;
        uint64_t max0, len0;
    } cases[] = {
        {"100/1h", 0, 1, 100, 3600000},
        {"100/1h, 500/1d", 0, 2, 100, 3600000},
        {"  5/30s,10/2m ", 0, 2, 5, 30000},
        {"7/90", 0, 1, 7, 90000},
        {"3/1w", 0, 1, 3, 604800000},
        {"", 0, 0, 0, 0},
        {"none", 0, 0, 0, 0},
        {"100", -1, 0, 0, 0},
        {"100/", -1, 0, 0, 0},
        {"/1h", -1, 0, 0, 0},
        {"100/1x", -1, 0, 0, 0},
        {"100/0s", -1, 0, 0, 0},
        {"-1/1h", -1, 0, 0, 0},
        {"100/2y", -1, 0, 0, 0},
        {"1/1s,1/1s,1/1s,1/1s,1/1s,1/1s,1/1s,1/1s,1/1s", -1, 0, 0, 0},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct limiter_limits l;
        char err[128] = "";
        int rc;

        memset(&l, 0, sizeof(l));
        rc = limiter_parse(cases[i].text, LIMITER_MESSAGES, &l, err, sizeof(err));
        if (rc != cases[i].rc)
            fail_msg("\"%s\": got rc %d, want %d (%s)", cases[i].text, rc, cases[i].rc, err);
        if (rc == 0 && l.n != cases[i].n)
            fail_msg("\"%s\": got %zu windows, want %zu", cases[i].text, l.n, cases[i].n);
        if (rc == 0 && l.n && (l.w[0].max != cases[i].max0 || l.w[0].len_ms != cases[i].len0))
            fail_msg("\"%s\": got %llu/%llums, want %llu/%llums", cases[i].text,
                     (unsigned long long)l.w[0].max, (unsigned long long)l.w[0].len_ms,
                     (unsigned long long)cases[i].max0, (unsigned long long)cases[i].len0);
    }
}

static void test_limiter_window_text_round_trips(void **state)
{
    static const char *texts[] = {"100/1h", "5/30s", "500/1d", "7/90s", "3/1w", "2/5m"};
    (void)state;
    for (size_t i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
        struct limiter_limits l = limits_of(texts[i], "", 60);
        char buf[64];
        limiter_window_text(&l.w[0], buf, sizeof(buf));
        if (strcmp(buf, texts[i]) != 0)
            fail_msg("got %s, want %s", buf, texts[i]);
    }
}

/* Limit 3/10s with 10 buckets (g = 1s): the table walks across the edge. */
static void test_limiter_exact_at_window_edge(void **state)
{
    static const struct {
        uint64_t t;
        enum limiter_verdict want;
    } steps[] = {
        {0, LIMITER_OK},           {0, LIMITER_OK},           {500, LIMITER_OK},
        {999, LIMITER_EXCEEDED},   {9999, LIMITER_EXCEEDED},  {10000, LIMITER_EXCEEDED},
        {10999, LIMITER_EXCEEDED}, /* bucket 0 is still within the counted span */
        {11000, LIMITER_OK},       /* all three have left: three slots again */
        {11000, LIMITER_OK},       {11500, LIMITER_OK},       {11999, LIMITER_EXCEEDED},
        {20999, LIMITER_EXCEEDED}, {21999, LIMITER_EXCEEDED}, {22000, LIMITER_OK},
    };
    struct limiter_limits l = limits_of("3/10s", "", 10);
    struct limiter_state *s = limiter_state_new();
    (void)state;
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        enum limiter_verdict v = send_one(s, &l, steps[i].t, 1, i + 1);
        if (v != steps[i].want)
            fail_msg("step %zu t=%llu: got verdict %d, want %d", i, (unsigned long long)steps[i].t,
                     v, steps[i].want);
    }
    limiter_state_free(s);
}

/*
 * Property, against a random fake clock: (a) no span of length W holds more
 * than N admitted units (safety, exact); (b) a refused request would also be
 * refused by an exact sliding window of length W + g (bounded strictness).
 */
static void test_limiter_never_exceeds_any_window(void **state)
{
    static const struct {
        const char *spec;
        unsigned buckets;
    } cases[] = {{"5/10s", 10}, {"5/10s", 1}, {"20/60s", 7}, {"3/1s", 60}, {"50/1h", 60}};
    (void)state;
    srandom(42);
    for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
        struct limiter_limits l = limits_of("", cases[c].spec, cases[c].buckets);
        uint64_t W = l.w[0].len_ms, N = l.w[0].max, g = limiter_bucket_ms(W, l.buckets);
        struct limiter_state *s = limiter_state_new();
        uint64_t *at = calloc(4000, sizeof(*at)), *cnt = calloc(4000, sizeof(*cnt));
        size_t n = 0;
        uint64_t t = 1000000;

        for (int i = 0; i < 4000; i++) {
            uint64_t k = 1 + (uint64_t)random() % 3, inspan = 0;
            enum limiter_verdict v;

            t += (uint64_t)random() % (2 * W / N + 1);
            v = send_one(s, &l, t, k, (uint64_t)i + 1);
            for (size_t j = 0; j < n; j++)
                if (at[j] + W + g > t) /* exact window of length W + g */
                    inspan += cnt[j];
            if (v == LIMITER_EXCEEDED && inspan + k <= N)
                fail_msg("%s B=%u t=%llu: refused %llu with %llu in the last W+g, N=%llu",
                         cases[c].spec, cases[c].buckets, (unsigned long long)t,
                         (unsigned long long)k, (unsigned long long)inspan, (unsigned long long)N);
            if (v == LIMITER_OK) {
                at[n] = t;
                cnt[n++] = k;
            }
        }
        for (size_t a = 0; a < n; a++) { /* every span [at[a], at[a] + W] */
            uint64_t sum = 0;
            for (size_t b = a; b < n && at[b] <= at[a] + W; b++)
                sum += cnt[b];
            if (sum > N)
                fail_msg("%s B=%u: got %llu units in [%llu, +W], want <= %llu", cases[c].spec,
                         cases[c].buckets, (unsigned long long)sum, (unsigned long long)at[a],
                         (unsigned long long)N);
        }
        if (n < 10)
            fail_msg("%s: got %zu admitted, want a real run", cases[c].spec, n);
        free(at);
        free(cnt);
        limiter_state_free(s);
    }
}

static void test_limiter_several_windows_each_bind(void **state)
{
    struct limiter_limits l = limits_of("2/1s, 3/10s", "", 10);
    struct limiter_state *s = limiter_state_new();
    struct limiter_cost c = {1, 1};
    struct limiter_result r;
    (void)state;
    assert_int_equal(send_one(s, &l, 0, 1, 1), LIMITER_OK);
    assert_int_equal(send_one(s, &l, 0, 1, 2), LIMITER_OK);
    assert_int_equal(limiter_check(s, &l, 100, 3, 0, &c, &r), 0);
    if (r.verdict != LIMITER_EXCEEDED || r.window != 0 || r.used != 2)
        fail_msg("got verdict %d window %zu used %llu, want exceeded window 0 used 2", r.verdict,
                 r.window, (unsigned long long)r.used);
    assert_int_equal(send_one(s, &l, 2000, 1, 4), LIMITER_OK);
    assert_int_equal(limiter_check(s, &l, 4000, 5, 0, &c, &r), 0);
    if (r.verdict != LIMITER_EXCEEDED || r.window != 1 || r.used != 3)
        fail_msg("got verdict %d window %zu used %llu, want exceeded window 1 used 3", r.verdict,
                 r.window, (unsigned long long)r.used);
    limiter_state_free(s);
}

static void test_limiter_recipients_and_messages_counted_apart(void **state)
{
    struct limiter_limits l = limits_of("10/1h", "5/1h", 60);
    struct limiter_state *s = limiter_state_new();
    struct limiter_cost c = {1, 3};
    struct limiter_result r;
    (void)state;
    assert_int_equal(send_one(s, &l, 0, 3, 1), LIMITER_OK);
    assert_int_equal(limiter_check(s, &l, 1, 2, 0, &c, &r), 0);
    if (r.verdict != LIMITER_EXCEEDED || l.w[r.window].kind != LIMITER_RECIPIENTS || r.used != 3)
        fail_msg("got verdict %d used %llu, want recipients exceeded with 3 used", r.verdict,
                 (unsigned long long)r.used);
    c.recipients = 2;
    assert_int_equal(limiter_check(s, &l, 1, 2, 0, &c, &r), 0);
    assert_int_equal(r.verdict, LIMITER_OK);
    limiter_state_free(s);
}

static void test_limiter_commit_is_idempotent_per_instance(void **state)
{
    struct limiter_limits l = limits_of("2/1h", "", 60);
    struct limiter_state *s = limiter_state_new();
    struct limiter_cost c = {1, 1};
    struct limiter_result r;
    (void)state;
    assert_int_equal(limiter_commit(s, &l, 0, 1, 777, &c, &r), 0);
    assert_int_equal(r.verdict, LIMITER_OK);
    for (int i = 0; i < 3; i++) { /* Postfix retries END-OF-MESSAGE */
        assert_int_equal(limiter_commit(s, &l, 100 + (uint64_t)i, 1, 777, &c, &r), 0);
        if (r.verdict != LIMITER_DUPLICATE)
            fail_msg("retry %d: got verdict %d, want duplicate", i, r.verdict);
    }
    assert_int_equal(limiter_check(s, &l, 200, 2, 0, &c, &r), 0);
    if (r.verdict != LIMITER_OK)
        fail_msg("got verdict %d used %llu, want ok (one message counted)", r.verdict,
                 (unsigned long long)r.used);
    limiter_state_free(s);
}

static void test_limiter_reservation_blocks_concurrent_transaction(void **state)
{
    struct limiter_limits l = limits_of("1/1h", "", 60);
    struct limiter_state *s = limiter_state_new();
    struct limiter_cost c = {1, 1};
    struct limiter_result r;
    (void)state;
    assert_int_equal(limiter_check(s, &l, 0, 10, 0, &c, &r), 0);
    assert_int_equal(r.verdict, LIMITER_OK);
    /* A second RCPT of the same transaction replaces, not adds. */
    c.recipients = 2;
    assert_int_equal(limiter_check(s, &l, 1, 10, 0, &c, &r), 0);
    assert_int_equal(r.verdict, LIMITER_OK);
    /* Another session of the same principal sees the reservation. */
    assert_int_equal(limiter_check(s, &l, 2, 11, 0, &c, &r), 0);
    if (r.verdict != LIMITER_EXCEEDED || r.used != 1)
        fail_msg("got verdict %d used %llu, want exceeded with 1 reserved", r.verdict,
                 (unsigned long long)r.used);
    /* The first is aborted (next transaction on its connection releases it). */
    assert_int_equal(limiter_check(s, &l, 3, 12, 10, &c, &r), 0);
    assert_int_equal(r.verdict, LIMITER_OK);
    limiter_release(s, 12);
    /* An unreleased reservation expires after reserve_ttl. */
    assert_int_equal(limiter_check(s, &l, 4, 13, 0, &c, &r), 0);
    assert_int_equal(r.verdict, LIMITER_OK);
    assert_int_equal(limiter_check(s, &l, 5, 14, 0, &c, &r), 0);
    assert_int_equal(r.verdict, LIMITER_EXCEEDED);
    assert_int_equal(limiter_check(s, &l, 4 + l.reserve_ttl_ms, 14, 0, &c, &r), 0);
    assert_int_equal(r.verdict, LIMITER_OK);
    limiter_state_free(s);
}

/*
 * Grants: a check may reserve more recipients than it needs, up to want,
 * but never more than half of what a recipient window has left beyond the
 * need, so it refuses nothing that limiter_check admits. Each row: limits,
 * recipients already counted (committed at t=0), the need and the want,
 * then the verdict and the grant.
 */
static void test_limiter_grant_takes_at_most_half_the_room(void **state)
{
    static const struct {
        const char *msgs, *rcpts;
        uint64_t counted, need, want;
        enum limiter_verdict verdict;
        uint64_t granted;
    } cases[] = {
        {"100/1h", "1000/1h", 0, 1, 8, LIMITER_OK, 8}, /* far from the limit: all of want */
        {"100/1h", "1000/1h", 0, 3, 2, LIMITER_OK, 3}, /* want below the need: the need */
        {"100/1h", "20/1h", 10, 1, 8, LIMITER_OK, 5},  /* room 10: 1 + (10 - 1) / 2 */
        {"100/1h", "20/1h", 18, 1, 8, LIMITER_OK, 1},  /* room 2: 1 + 0 */
        {"100/1h", "20/1h", 19, 1, 8, LIMITER_OK, 1},  /* room 1: exactly the need */
        {"100/1h", "20/1h", 20, 1, 8, LIMITER_EXCEEDED, 0},
        {"100/1h", "20/1h, 50/1d", 0, 1, 40, LIMITER_OK, 10}, /* the tighter window binds */
        {"100/1h", "", 0, 1, 64, LIMITER_OK, 64},             /* no recipient window: want */
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct limiter_limits l = limits_of(cases[i].msgs, cases[i].rcpts, 60);
        struct limiter_state *s = limiter_state_new();
        struct limiter_cost done = {1, cases[i].counted}, need = {1, cases[i].need};
        struct limiter_result r;

        if (cases[i].counted)
            assert_int_equal(limiter_commit(s, &l, 0, 0, 0, &done, &r), 0);
        assert_int_equal(limiter_check_grant(s, &l, 1, 7, 0, &need, cases[i].want, &r), 0);
        if (r.verdict != cases[i].verdict ||
            (r.verdict == LIMITER_OK && r.granted != cases[i].granted))
            fail_msg("case %zu (%s, %llu counted, need %llu want %llu): got verdict %d granted "
                     "%llu, want %d granted %llu",
                     i, cases[i].rcpts, (unsigned long long)cases[i].counted,
                     (unsigned long long)cases[i].need, (unsigned long long)cases[i].want,
                     r.verdict, (unsigned long long)r.granted, cases[i].verdict,
                     (unsigned long long)cases[i].granted);
        limiter_state_free(s);
    }
}

/* A grant is a reservation: another transaction of the principal sees all
 * of it until the commit counts the recipients really sent. */
static void test_limiter_grant_reserved_until_commit(void **state)
{
    struct limiter_limits l = limits_of("100/1h", "10/1h", 60);
    struct limiter_state *s = limiter_state_new();
    struct limiter_cost one = {1, 1};
    struct limiter_result r;
    (void)state;
    assert_int_equal(limiter_check_grant(s, &l, 0, 1, 0, &one, 9, &r), 0);
    if (r.verdict != LIMITER_OK || r.granted != 5)
        fail_msg("got verdict %d granted %llu, want ok granted 5 (1 + 9 / 2)", r.verdict,
                 (unsigned long long)r.granted);
    /* Another transaction needs 6: 5 are reserved, 5 left. */
    one.recipients = 6;
    assert_int_equal(limiter_check(s, &l, 1, 2, 0, &one, &r), 0);
    if (r.verdict != LIMITER_EXCEEDED || r.used != 5)
        fail_msg("got verdict %d used %llu, want exceeded with the grant of 5 in use", r.verdict,
                 (unsigned long long)r.used);
    /* The first commits 2 recipients: its grant goes, 2 count. */
    one.recipients = 2;
    assert_int_equal(limiter_commit(s, &l, 2, 1, 1, &one, &r), 0);
    one.recipients = 8;
    assert_int_equal(limiter_check(s, &l, 3, 2, 0, &one, &r), 0);
    if (r.verdict != LIMITER_OK)
        fail_msg("got verdict %d used %llu, want ok: 2 counted + 8 = 10", r.verdict,
                 (unsigned long long)r.used);
    limiter_state_free(s);
}

/* A user who sends on 587 (submission limits) and on 25 (mx limits, other
 * windows) keeps the counts of both: a commit under one role's limits must
 * not forget the other role's series. */
static void test_limiter_keeps_counts_across_roles(void **state)
{
    struct limiter_limits sub = limits_of("2/1h", "", 60), mx = limits_of("100/1d", "", 60);
    struct limiter_state *s = limiter_state_new();
    (void)state;
    assert_int_equal(send_one(s, &sub, 0, 1, 1), LIMITER_OK);
    assert_int_equal(send_one(s, &sub, 1, 1, 2), LIMITER_OK);
    assert_int_equal(send_one(s, &mx, 2, 1, 3), LIMITER_OK);
    if (send_one(s, &sub, 3, 1, 4) != LIMITER_EXCEEDED)
        fail_msg("got ok on 587 after a message on 25, want exceeded (2/1h used)");
    limiter_state_free(s);
}

static void test_limiter_state_goes_idle_after_longest_window(void **state)
{
    struct limiter_limits l = limits_of("5/10s, 9/60s", "", 10);
    struct limiter_state *s = limiter_state_new();
    (void)state;
    l.done_ttl_ms = 1000;
    assert_int_equal(send_one(s, &l, 0, 1, 1), LIMITER_OK);
    if (limiter_state_idle(s, 59999))
        fail_msg("got idle at 59999, want busy until the 60s window has passed");
    if (!limiter_state_idle(s, 66000))
        fail_msg("got busy at 66000, want idle");
    limiter_state_free(s);
}

static void test_store_mem_bounded_under_address_spray(void **state)
{
    struct limiter_limits l = limits_of("1/1h", "", 60);
    struct store_mem *m = store_mem_new(100);
    struct limiter_cost c = {1, 1};
    struct limiter_result r;
    char key[32];
    (void)state;
    for (int i = 0; i < 10000; i++) {
        int len = snprintf(key, sizeof(key), "a:10.%d.%d.%d", i >> 16, (i >> 8) & 255, i & 255);
        assert_int_equal(store_mem_commit(m, key, (size_t)len, &l, 0, 0, 0, &c, &r), 0);
    }
    if (store_mem_count(m) != 100)
        fail_msg("got %zu principals, want the cap 100", store_mem_count(m));
    if (store_mem_evictions(m) != 9900)
        fail_msg("got %llu evictions, want 9900", (unsigned long long)store_mem_evictions(m));
    /* The most recent principal is still counted. */
    assert_int_equal(store_mem_check(m, key, strlen(key), &l, 1, 5, 0, &c, &r), 0);
    assert_int_equal(r.verdict, LIMITER_EXCEEDED);
    store_mem_free(m);
}

static void test_store_mem_expire_frees_idle_principals(void **state)
{
    struct limiter_limits l = limits_of("3/10s", "", 10);
    struct store_mem *m = store_mem_new(1000);
    struct limiter_cost c = {1, 1};
    struct limiter_result r;
    size_t freed;
    (void)state;
    l.done_ttl_ms = 1000;
    assert_int_equal(store_mem_commit(m, "u:old", 5, &l, 0, 0, 1, &c, &r), 0);
    assert_int_equal(store_mem_commit(m, "u:new", 5, &l, 15000, 0, 2, &c, &r), 0);
    freed = store_mem_expire(m, 15000, 100);
    if (freed != 1 || store_mem_count(m) != 1)
        fail_msg("got %zu freed, %zu left, want 1 and 1", freed, store_mem_count(m));
    assert_int_equal(store_mem_check(m, "u:new", 5, &l, 15001, 9, 0, &c, &r), 0);
    assert_int_equal(r.verdict, LIMITER_OK);
    store_mem_free(m);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_limiter_parse_table),
        cmocka_unit_test(test_limiter_window_text_round_trips),
        cmocka_unit_test(test_limiter_exact_at_window_edge),
        cmocka_unit_test(test_limiter_never_exceeds_any_window),
        cmocka_unit_test(test_limiter_several_windows_each_bind),
        cmocka_unit_test(test_limiter_recipients_and_messages_counted_apart),
        cmocka_unit_test(test_limiter_commit_is_idempotent_per_instance),
        cmocka_unit_test(test_limiter_reservation_blocks_concurrent_transaction),
        cmocka_unit_test(test_limiter_grant_takes_at_most_half_the_room),
        cmocka_unit_test(test_limiter_grant_reserved_until_commit),
        cmocka_unit_test(test_limiter_keeps_counts_across_roles),
        cmocka_unit_test(test_limiter_state_goes_idle_after_longest_window),
        cmocka_unit_test(test_store_mem_bounded_under_address_spray),
        cmocka_unit_test(test_store_mem_expire_frees_idle_principals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
