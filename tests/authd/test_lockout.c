/*
 * test_lockout.c - lockout decisions over the embedded store with a fake
 * clock, the store's bounds, and the pid -> address map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "authd_pidmap.h"
#include "lockout.h"
#include "lockout_mem.h"

#define MIN 60000ULL

static struct lockout_params params(void)
{
    struct lockout_params p;

    memset(&p, 0, sizeof(p));
    p.rule[LOCKOUT_USER_IP] = (struct lockout_rule){3, 10 * MIN, 15 * MIN};
    p.rule[LOCKOUT_IP] = (struct lockout_rule){5, 60 * MIN, 60 * MIN};
    p.rule[LOCKOUT_USER] = (struct lockout_rule){8, 60 * MIN, 15 * MIN};
    p.known_ttl_ms = 30LL * 24 * 60 * MIN;
    p.v6_prefix = 64;
    strcpy(p.prefix, "t");
    return p;
}

static const struct lockout_store none = {NULL, NULL};

static enum lockout_state check(const struct lockout_params *p, struct lockout_mem *m,
                                const char *user, const char *ip, uint64_t now)
{
    struct lockout_keys k;
    enum lockout_state st;

    assert_int_equal(lockout_keys_make(p, user, strlen(user), ip, strlen(ip), &k), 0);
    assert_int_equal(lockout_check(p, none, lockout_mem_store(m), &k, now, &st, NULL, NULL), 0);
    return st;
}

static void fail_n(const struct lockout_params *p, struct lockout_mem *m, const char *user,
                   const char *ip, int n, uint64_t now)
{
    struct lockout_keys k;
    enum lockout_state st;

    assert_int_equal(lockout_keys_make(p, user, strlen(user), ip, strlen(ip), &k), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(lockout_fail(p, none, lockout_mem_store(m), &k, now, &st, NULL), 0);
}

static void succeed(const struct lockout_params *p, struct lockout_mem *m, const char *user,
                    const char *ip, uint64_t now)
{
    struct lockout_keys k;

    assert_int_equal(lockout_keys_make(p, user, strlen(user), ip, strlen(ip), &k), 0);
    assert_int_equal(lockout_success(p, none, lockout_mem_store(m), &k, now, NULL), 0);
}

#define EXPECT(got, want)                                                                          \
    do {                                                                                           \
        enum lockout_state g_ = (got), w_ = (want);                                                \
        if (g_ != w_)                                                                              \
            fail_msg("%s: got %s, want %s", #got, lockout_state_text(g_), lockout_state_text(w_)); \
    } while (0)

static void test_lockout_pair_locks_at_threshold_and_expires(void **state)
{
    struct lockout_params p = params();
    struct lockout_mem *m = lockout_mem_new(1000);
    uint64_t t = 1000000;

    (void)state;
    fail_n(&p, m, "alice", "192.0.2.7", 2, t);
    EXPECT(check(&p, m, "alice", "192.0.2.7", t), LOCKOUT_NONE);
    fail_n(&p, m, "alice", "192.0.2.7", 1, t);
    EXPECT(check(&p, m, "alice", "192.0.2.7", t), LOCKOUT_LOCKED_USER_IP);
    EXPECT(check(&p, m, "alice", "192.0.2.8", t), LOCKOUT_NONE);
    EXPECT(check(&p, m, "ALICE", "192.0.2.7", t), LOCKOUT_LOCKED_USER_IP);
    EXPECT(check(&p, m, "alice", "192.0.2.7", t + 15 * MIN - 1), LOCKOUT_LOCKED_USER_IP);
    EXPECT(check(&p, m, "alice", "192.0.2.7", t + 15 * MIN), LOCKOUT_NONE);
    lockout_mem_free(m);
}

static void test_lockout_window_expiry_forgets_old_failures(void **state)
{
    struct lockout_params p = params();
    struct lockout_mem *m = lockout_mem_new(1000);
    uint64_t t = 1000000;

    (void)state;
    fail_n(&p, m, "bob", "192.0.2.7", 2, t);
    fail_n(&p, m, "bob", "192.0.2.7", 1, t + 10 * MIN); /* window ended: a new count */
    EXPECT(check(&p, m, "bob", "192.0.2.7", t + 10 * MIN), LOCKOUT_NONE);
    lockout_mem_free(m);
}

static void test_lockout_success_clears_the_pair_only(void **state)
{
    struct lockout_params p = params();
    struct lockout_mem *m = lockout_mem_new(1000);
    uint64_t t = 1000000;

    (void)state;
    p.rule[LOCKOUT_IP].limit = 6;
    fail_n(&p, m, "carol", "192.0.2.9", 2, t);
    fail_n(&p, m, "dave", "192.0.2.9", 1, t);
    succeed(&p, m, "carol", "192.0.2.9", t);
    fail_n(&p, m, "carol", "192.0.2.9", 2, t);
    EXPECT(check(&p, m, "carol", "192.0.2.9", t),
           LOCKOUT_NONE);                     /* pair: 2 (cleared, then 2); ip: 5 < 6 */
    fail_n(&p, m, "erin", "192.0.2.9", 1, t); /* ip: 2+1+2+1 = 6 >= 6 */
    EXPECT(check(&p, m, "frank", "192.0.2.9", t), LOCKOUT_LOCKED_IP);
    lockout_mem_free(m);
}

static void test_lockout_user_lock_spares_known_good_pairs(void **state)
{
    struct lockout_params p = params();
    struct lockout_mem *m = lockout_mem_new(1000);
    uint64_t t = 1000000;
    char ip[32];

    (void)state;
    succeed(&p, m, "alice", "198.51.100.1", t); /* her usual address */
    for (int i = 0; i < 8; i++) {               /* an attacker spreads guesses */
        snprintf(ip, sizeof(ip), "203.0.113.%d", i + 1);
        fail_n(&p, m, "alice", ip, 1, t);
    }
    EXPECT(check(&p, m, "alice", "203.0.113.77", t), LOCKOUT_LOCKED_USER);
    EXPECT(check(&p, m, "alice", "198.51.100.1", t), LOCKOUT_NONE);
    lockout_mem_free(m);
}

static void test_lockout_without_address_counts_per_user_only(void **state)
{
    struct lockout_params p = params();
    struct lockout_mem *m = lockout_mem_new(1000);
    struct lockout_keys k;
    enum lockout_state st;

    (void)state;
    assert_int_equal(lockout_keys_make(&p, "gina", 4, NULL, 0, &k), 0);
    assert_int_equal(k.ip_known, 0);
    for (int i = 0; i < 8; i++)
        lockout_fail(&p, none, lockout_mem_store(m), &k, 1000, &st, NULL);
    EXPECT(st, LOCKOUT_LOCKED_USER);
    assert_int_equal(lockout_mem_count(m), 1);
    lockout_mem_free(m);
}

static void test_lockout_groups_ipv6_by_prefix(void **state)
{
    struct lockout_params p = params();
    struct lockout_mem *m = lockout_mem_new(1000);

    (void)state;
    fail_n(&p, m, "hal", "2001:db8:1:2::10", 2, 1000);
    fail_n(&p, m, "hal", "2001:db8:1:2:ffff::1", 1, 1000);
    EXPECT(check(&p, m, "hal", "2001:db8:1:2::99", 1000), LOCKOUT_LOCKED_USER_IP);
    EXPECT(check(&p, m, "hal", "2001:db8:1:3::10", 1000), LOCKOUT_NONE);
    lockout_mem_free(m);
}

static void test_lockout_keys_reject_garbage(void **state)
{
    struct lockout_params p = params();
    struct lockout_keys k;

    (void)state;
    assert_int_equal(lockout_keys_make(&p, "a", 1, "not-an-ip", 9, &k), -1);
    assert_int_equal(lockout_keys_make(&p, "", 0, "192.0.2.1", 9, &k), -1);
    assert_int_equal(lockout_keys_make(&p, "a\0b", 3, "192.0.2.1", 9, &k), -1);
    assert_int_equal(lockout_keys_make(&p, "Alice", 5, "192.0.2.1", 9, &k), 0);
    assert_string_equal(k.k[LOCKOUT_USER_IP], "t:v1:af:uip:{alice}:192.0.2.1");
    assert_string_equal(k.k[LOCKOUT_IP], "t:v1:af:ip:{192.0.2.1}");
    assert_string_equal(k.k[LOCKOUT_USER], "t:v1:af:u:{alice}");
}

static void test_lockout_mem_stays_bounded_under_a_flood(void **state)
{
    struct lockout_params p = params();
    struct lockout_mem *m = lockout_mem_new(64);
    char user[32];

    (void)state;
    for (int i = 0; i < 5000; i++) {
        snprintf(user, sizeof(user), "u%d", i);
        fail_n(&p, m, user, "192.0.2.1", 1, 1000 + (uint64_t)i);
        if (lockout_mem_count(m) > 64)
            fail_msg("got %zu entries after %d inserts, want at most 64", lockout_mem_count(m), i);
    }
    /* Still working after all the evictions, once the flood has expired.
     * (While the table is full of live entries the design evicts the
     * entry closest to expiry, which may be a new pair's short-window
     * counter: asserting a lock then made this test fail at random.) */
    fail_n(&p, m, "last", "192.0.2.2", 3, 2 * 60 * MIN + 99999);
    EXPECT(check(&p, m, "last", "192.0.2.2", 2 * 60 * MIN + 99999), LOCKOUT_LOCKED_USER_IP);
    lockout_mem_free(m);
}

static void test_lockout_falls_back_when_primary_fails(void **state)
{
    struct lockout_params p = params();
    struct lockout_mem *m = lockout_mem_new(100);
    struct lockout_keys k;
    enum lockout_state st;
    int fb = 0;
    struct lockout_store broken = {NULL, NULL};

    (void)state;
    assert_int_equal(lockout_keys_make(&p, "ivy", 3, "192.0.2.3", 9, &k), 0);
    assert_int_equal(lockout_check(&p, broken, lockout_mem_store(m), &k, 1, &st, &fb, NULL), 0);
    if (fb != 1)
        fail_msg("got fell_back=%d, want 1", fb);
    lockout_mem_free(m);
}

static void test_pidmap_ties_pid_to_address_once(void **state)
{
    struct authd_pidmap *pm = authd_pidmap_new();
    char addr[AUTHD_PIDMAP_ADDR_MAX];

    (void)state;
    authd_pidmap_put(pm, 4242, "192.0.2.7", 1000, 10000);
    assert_int_equal(authd_pidmap_take(pm, 4243, 1001, addr, sizeof(addr)), 0);
    assert_string_equal(addr, "");
    assert_int_equal(authd_pidmap_take(pm, 4242, 1001, addr, sizeof(addr)), 1);
    assert_string_equal(addr, "192.0.2.7");
    assert_int_equal(authd_pidmap_take(pm, 4242, 1002, addr, sizeof(addr)), 0);
    authd_pidmap_put(pm, 7, "192.0.2.8", 1000, 10000);
    assert_int_equal(authd_pidmap_take(pm, 7, 11000, addr, sizeof(addr)), 0); /* expired */
    /* More pids than one set holds: newest entries win. */
    for (int i = 0; i < 8; i++)
        authd_pidmap_put(pm, 5 + i * 1024, "198.51.100.1", 2000 + (uint64_t)i, 10000);
    assert_int_equal(authd_pidmap_take(pm, 5 + 7 * 1024, 2010, addr, sizeof(addr)), 1);
    authd_pidmap_free(pm);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_lockout_pair_locks_at_threshold_and_expires),
        cmocka_unit_test(test_lockout_window_expiry_forgets_old_failures),
        cmocka_unit_test(test_lockout_success_clears_the_pair_only),
        cmocka_unit_test(test_lockout_user_lock_spares_known_good_pairs),
        cmocka_unit_test(test_lockout_without_address_counts_per_user_only),
        cmocka_unit_test(test_lockout_groups_ipv6_by_prefix),
        cmocka_unit_test(test_lockout_keys_reject_garbage),
        cmocka_unit_test(test_lockout_mem_stays_bounded_under_a_flood),
        cmocka_unit_test(test_lockout_falls_back_when_primary_fails),
        cmocka_unit_test(test_pidmap_ties_pid_to_address_once),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
