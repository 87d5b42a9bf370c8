/*
 * test_fastpath.c - the lock mirror (freshness against a fake clock, the
 * read/write concurrency rule, the store in front of Redis), the "does a
 * success need a write" rule, and the event loop's decisions
 * (verify_login_fast / verify_gate_fast): above all, that a lock holds
 * against a correct cached password, and that the loop hands over to a
 * worker whenever the lock state is not known without a Redis round trip.
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

#include "authd_conf.h"
#include "lockmirror.h"
#include "lockout.h"
#include "lockout_mem.h"
#include "mux_proto.h"
#include "pcache.h"
#include "verify.h"

#define TTL 1000

/* --- the mirror on its own --------------------------------------------- */

static void test_mirror_entry_is_fresh_for_ttl_only(void **state)
{
    static const struct {
        uint64_t at;
        int want_rc;
    } cases[] = {{100, 0}, {100 + TTL - 1, 0}, {100 + TTL, -1}, {100 + 10 * TTL, -1}};
    struct lockmirror *m = lockmirror_new(64, TTL);
    const char *k[1] = {"t:v1:af:u:{alice}"};
    long long v = 7, got;

    (void)state;
    assert_non_null(m);
    lockmirror_put(m, k, 1, &v, 100, 0);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int rc;
        got = -1;
        rc = lockmirror_get(m, k, 1, &got, cases[i].at);
        if (rc != cases[i].want_rc)
            fail_msg("at %llu ms: got rc %d, want %d", (unsigned long long)cases[i].at, rc,
                     cases[i].want_rc);
        if (rc == 0 && got != 7)
            fail_msg("at %llu ms: got count %lld, want 7", (unsigned long long)cases[i].at, got);
    }
    lockmirror_free(m);
}

static void test_mirror_get_needs_every_key_fresh(void **state)
{
    struct lockmirror *m = lockmirror_new(64, TTL);
    const char *k[2] = {"t:v1:af:uip:{bob}:192.0.2.1", "t:v1:af:ip:{192.0.2.1}"};
    long long v[2] = {1, 2}, got[2] = {-1, -1};

    (void)state;
    lockmirror_put(m, k, 1, v, 0, 0);
    if (lockmirror_get(m, k, 2, got, 10) != -1)
        fail_msg("got a hit with one of two keys missing, want a miss");
    if (got[0] != -1)
        fail_msg("got counts written on a miss (%lld), want them untouched", got[0]);
    lockmirror_put(m, k, 2, v, 20, 0);
    assert_int_equal(lockmirror_get(m, k, 2, got, 30), 0);
    if (got[0] != 1 || got[1] != 2)
        fail_msg("got %lld,%lld, want 1,2", got[0], got[1]);
    lockmirror_free(m);
}

static void test_mirror_read_never_hides_a_fresh_write(void **state)
{
    /* A worker's MGET that started before another thread counted the
     * failure that locked the pair must not put "unlocked" back. */
    struct lockmirror *m = lockmirror_new(64, TTL);
    const char *k[1] = {"t:v1:af:uip:{bob}:192.0.2.1"};
    long long locked = 5, stale = 4, got = 0;

    (void)state;
    lockmirror_put(m, k, 1, &locked, 100, 1);
    lockmirror_put(m, k, 1, &stale, 150, 0);
    assert_int_equal(lockmirror_get(m, k, 1, &got, 200), 0);
    if (got != 5)
        fail_msg("read over a fresh write: got %lld, want 5", got);
    /* A write always replaces (a success clears the pair). */
    stale = 0;
    lockmirror_put(m, k, 1, &stale, 250, 1);
    assert_int_equal(lockmirror_get(m, k, 1, &got, 260), 0);
    if (got != 0)
        fail_msg("write over a fresh value: got %lld, want 0", got);
    /* Once stale, a read fills it again. */
    locked = 9;
    lockmirror_put(m, k, 1, &locked, 250 + TTL, 0);
    assert_int_equal(lockmirror_get(m, k, 1, &got, 260 + TTL), 0);
    if (got != 9)
        fail_msg("read over a stale value: got %lld, want 9", got);
    lockmirror_free(m);
}

static void test_mirror_forget_and_long_keys(void **state)
{
    struct lockmirror *m = lockmirror_new(64, TTL);
    char longkey[LOCKMIRROR_KEY_MAX + 10];
    const char *k[1] = {"t:v1:af:u:{carol}"}, *lk[1] = {longkey};
    long long v = 3, got;

    (void)state;
    memset(longkey, 'x', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    lockmirror_put(m, k, 1, &v, 0, 1);
    lockmirror_forget(m, k, 1);
    if (lockmirror_get(m, k, 1, &got, 1) != -1)
        fail_msg("got a hit after forget, want a miss");
    lockmirror_put(m, lk, 1, &v, 0, 1);
    if (lockmirror_get(m, lk, 1, &got, 1) != -1)
        fail_msg("got a hit for a %zu-byte key, want it never mirrored", strlen(longkey));
    lockmirror_free(m);
}

static void test_mirror_stays_bounded_under_many_keys(void **state)
{
    struct lockmirror *m = lockmirror_new(16, TTL);
    char key[64];
    const char *k[1] = {key};
    long long v = 1, got;
    int hits = 0;

    (void)state;
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "t:v1:af:u:{user%d}", i);
        lockmirror_put(m, k, 1, &v, 0, 0);
    }
    for (int i = 0; i < 1000; i++) {
        snprintf(key, sizeof(key), "t:v1:af:u:{user%d}", i);
        hits += lockmirror_get(m, k, 1, &got, 1) == 0;
    }
    if (hits > 16)
        fail_msg("got %d keys held by a 16-entry mirror, want at most 16", hits);
    lockmirror_free(m);
}

/* --- the mirror in front of a store ------------------------------------ */

/* A stand-in for Redis: the embedded store, plus a switch to make it fail
 * and a count of the calls that reached it. */
struct fake_redis {
    struct lockout_mem *mem;
    int down, gets, writes;
};

static int fake_get(void *ctx, const char *const *keys, size_t n, long long *c, uint64_t now)
{
    struct fake_redis *f = ctx;
    struct lockout_store s = lockout_mem_store(f->mem);

    f->gets++;
    return f->down ? -1 : s.ops->get(s.ctx, keys, n, c, now);
}

static int fake_fail(void *ctx, const char *const *keys, const struct lockout_rule *r, size_t n,
                     long long *c, uint64_t now)
{
    struct fake_redis *f = ctx;
    struct lockout_store s = lockout_mem_store(f->mem);

    f->writes++;
    return f->down ? -1 : (s.ops->fail)(s.ctx, keys, r, n, c, now);
}

static int fake_success(void *ctx, const char *del, const char *set, long long ttl, uint64_t now)
{
    struct fake_redis *f = ctx;
    struct lockout_store s = lockout_mem_store(f->mem);

    f->writes++;
    return f->down ? -1 : s.ops->success(s.ctx, del, set, ttl, now);
}

static const struct lockout_store_ops fake_ops = {fake_get, fake_fail, fake_success};

static struct lockout_params params(void)
{
    struct lockout_params p;

    memset(&p, 0, sizeof(p));
    p.rule[LOCKOUT_USER_IP] = (struct lockout_rule){3, 600000, 900000};
    p.rule[LOCKOUT_IP] = (struct lockout_rule){50, 600000, 900000};
    p.rule[LOCKOUT_USER] = (struct lockout_rule){50, 600000, 900000};
    p.known_ttl_ms = 86400000;
    p.v6_prefix = 64;
    snprintf(p.prefix, sizeof(p.prefix), "t");
    return p;
}

static void test_front_store_reads_once_per_ttl_and_sees_own_locks_at_once(void **state)
{
    struct lockout_params p = params();
    struct fake_redis fr = {lockout_mem_new(1000), 0, 0, 0};
    struct lockmirror *m = lockmirror_new(64, TTL);
    struct lockmirror_front front = {m, {&fake_ops, &fr}};
    struct lockout_store none = {NULL, NULL}, fs = lockmirror_front_store(&front);
    struct lockout_keys k;
    enum lockout_state st;

    (void)state;
    assert_int_equal(lockout_keys_make(&p, "bob", 3, "192.0.2.1", 9, &k), 0);
    assert_int_equal(lockout_check(&p, fs, none, &k, 0, &st, NULL, NULL), 0);
    assert_int_equal(lockout_check(&p, fs, none, &k, 500, &st, NULL, NULL), 0);
    if (fr.gets != 1)
        fail_msg("two checks within the TTL: got %d store reads, want 1", fr.gets);
    for (int i = 0; i < 3; i++)
        assert_int_equal(lockout_fail(&p, fs, none, &k, 600, &st, NULL), 0);
    /* Still within the TTL of the first read: the lock must show anyway. */
    assert_int_equal(lockout_check(&p, fs, none, &k, 700, &st, NULL, NULL), 0);
    if (st != LOCKOUT_LOCKED_USER_IP)
        fail_msg("after 3 failures: got state %s, want user+ip locked", lockout_state_text(st));
    if (fr.gets != 1)
        fail_msg("got %d store reads, want the lock answered from the mirror", fr.gets);
    /* A lock another host sets in the store shows once the entry is stale. */
    assert_int_equal(lockout_keys_make(&p, "eve", 3, "192.0.2.2", 9, &k), 0);
    assert_int_equal(lockout_check(&p, fs, none, &k, 1000, &st, NULL, NULL), 0);
    {
        struct lockout_store direct = lockout_mem_store(fr.mem);
        for (int i = 0; i < 3; i++)
            assert_int_equal(lockout_fail(&p, direct, none, &k, 1100, &st, NULL), 0);
    }
    assert_int_equal(lockout_check(&p, fs, none, &k, 1000 + TTL - 1, &st, NULL, NULL), 0);
    if (st != LOCKOUT_NONE)
        fail_msg("within the TTL: got %s, want the (documented) stale none",
                 lockout_state_text(st));
    assert_int_equal(lockout_check(&p, fs, none, &k, 1000 + TTL, &st, NULL, NULL), 0);
    if (st != LOCKOUT_LOCKED_USER_IP)
        fail_msg("after the TTL: got %s, want user+ip locked", lockout_state_text(st));
    lockmirror_free(m);
    lockout_mem_free(fr.mem);
}

static void test_front_store_drops_keys_when_the_store_fails(void **state)
{
    struct lockout_params p = params();
    struct fake_redis fr = {lockout_mem_new(1000), 0, 0, 0};
    struct lockmirror *m = lockmirror_new(64, TTL);
    struct lockmirror_front front = {m, {&fake_ops, &fr}};
    struct lockout_store fs = lockmirror_front_store(&front);
    struct lockout_mem *fallback = lockout_mem_new(1000);
    struct lockout_keys k;
    enum lockout_state st;
    int fb = 0;

    (void)state;
    assert_int_equal(lockout_keys_make(&p, "bob", 3, "192.0.2.1", 9, &k), 0);
    assert_int_equal(lockout_check(&p, fs, lockout_mem_store(fallback), &k, 0, &st, &fb, NULL), 0);
    fr.down = 1;
    for (int i = 0; i < 3; i++)
        assert_int_equal(lockout_fail(&p, fs, lockout_mem_store(fallback), &k, 10, &st, &fb), 0);
    if (!fb)
        fail_msg("got fell_back 0 with the store down, want 1");
    /* The mirror must not answer "unlocked" from before the outage. */
    assert_int_equal(lockout_check(&p, fs, lockout_mem_store(fallback), &k, 20, &st, &fb, NULL), 0);
    if (st != LOCKOUT_LOCKED_USER_IP || !fb)
        fail_msg("got %s (fell_back %d), want user+ip locked from the embedded store",
                 lockout_state_text(st), fb);
    lockmirror_free(m);
    lockout_mem_free(fr.mem);
    lockout_mem_free(fallback);
}

static void test_success_needs_a_write_only_when_something_changes(void **state)
{
    static const struct {
        const char *ip;
        long long uip, ok, known_ttl;
        int want;
    } cases[] = {
        {"", 0, 0, 86400000, 0},          /* address unknown: nothing to clear or mark */
        {"192.0.2.1", 0, 1, 86400000, 0}, /* clean and already known-good */
        {"192.0.2.1", 2, 1, 86400000, 1}, /* failures to clear */
        {"192.0.2.1", 0, 0, 86400000, 1}, /* not yet known-good */
        {"192.0.2.1", 0, 0, 0, 0},        /* marking off */
    };
    struct lockout_params p = params();

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct lockout_keys k;
        long long counts[4] = {cases[i].uip, 0, 0, cases[i].ok};
        int got;
        p.known_ttl_ms = cases[i].known_ttl;
        assert_int_equal(lockout_keys_make(&p, "bob", 3, cases[i].ip, strlen(cases[i].ip), &k), 0);
        got = lockout_success_needed(&p, &k, counts);
        if (got != cases[i].want)
            fail_msg("case #%zu: got %d, want %d", i, got, cases[i].want);
    }
}

/* --- the event loop's decisions ---------------------------------------- */

/* A configuration from lines; with_redis adds a redis_server. */
static struct authd_cfg *load_cfg(int with_redis)
{
    char path[] = "/tmp/authd-fastpath-XXXXXX", err[256];
    int fd = mkstemp(path);
    struct authd_cfg *c;
    FILE *fp;

    assert_true(fd >= 0);
    fp = fdopen(fd, "w");
    assert_non_null(fp);
    fprintf(fp, "authd_ldap_search_base = ou=people,dc=example,dc=test\n"
                "authd_allowed_users = 0\nauthd_user =\n"
                "authd_lockout_user_ip_limit = 3\nredis_key_prefix = t\n");
    if (with_redis)
        fprintf(fp, "redis_server = 127.0.0.1:1\n");
    fclose(fp);
    c = authd_cfg_load(path, err, sizeof(err));
    unlink(path);
    if (c == NULL)
        fail_msg("config: %s", err);
    return c;
}

static void request(struct mux_decoder *d, const char *login, const char *pw)
{
    const char *f[4] = {login, pw, "smtp", ""};
    size_t lens[4] = {strlen(login), strlen(pw), 4, 0}, used;
    uint8_t buf[1200];
    size_t n = mux_encode_request(buf, sizeof(buf), f, lens);

    mux_decoder_init(d);
    assert_int_equal(mux_decode(d, buf, n, &used), MUX_DONE);
}

/* Put a password in the cache as the worker does after an LDAP success. */
static void cache_put(struct pcache *c, const struct mux_decoder *d, uint64_t now)
{
    const struct mux_field *f = d->f;
    struct pcache_req r = {f[MUX_LOGIN].buf,    f[MUX_REALM].buf,   f[MUX_SERVICE].buf,
                           f[MUX_PASSWORD].buf, f[MUX_LOGIN].len,   f[MUX_REALM].len,
                           f[MUX_SERVICE].len,  f[MUX_PASSWORD].len};
    pcache_put(c, &r, now);
}

/* Count failures for (login, ip) in a store. */
static void fail_in(const struct authd_cfg *cfg, struct lockout_store s, const char *login,
                    const char *ip, int n, uint64_t now)
{
    struct lockout_store none = {NULL, NULL};
    struct lockout_keys k;
    enum lockout_state st;

    assert_int_equal(lockout_keys_make(&cfg->lockout, login, strlen(login), ip, strlen(ip), &k), 0);
    for (int i = 0; i < n; i++)
        assert_int_equal(lockout_fail(&cfg->lockout, s, none, &k, now, &st, NULL), 0);
}

static void test_loop_refuses_a_locked_pair_even_with_the_cached_password(void **state)
{
    (void)state;
    /* Without Redis (embedded store, exact) and with Redis (mirror fresh). */
    for (int redis = 0; redis < 2; redis++) {
        struct authd_cfg *cfg = load_cfg(redis);
        struct verify_shared sh = {lockout_mem_new(1000), pcache_new(100, 60000),
                                   lockmirror_new(64, TTL), NULL};
        struct lockmirror_front front = {sh.mirror, lockout_mem_store(sh.mem)};
        struct mux_decoder d;
        struct verify_outcome out;

        request(&d, "alice", "s3cret-A");
        cache_put(sh.cache, &d, 10);
        if (redis) {
            /* What a worker leaves in the mirror after alice's last LDAP
             * success from this address: a clean, known-good pair. */
            struct lockout_store none = {NULL, NULL}, fs = lockmirror_front_store(&front);
            struct lockout_keys k;
            enum lockout_state st;
            assert_int_equal(lockout_keys_make(&cfg->lockout, "alice", 5, "192.0.2.7", 9, &k), 0);
            assert_int_equal(lockout_check(&cfg->lockout, fs, none, &k, 20, &st, NULL, NULL), 0);
            assert_int_equal(lockout_success(&cfg->lockout, fs, none, &k, 20, NULL), 0);
        }
        assert_int_equal(verify_login_fast(&sh, cfg, &d, "192.0.2.7", 30, &out), 1);
        if (out.result != VERIFY_OK || !out.cached || !out.on_loop)
            fail_msg("redis=%d clean pair: got result %d cached %d, want OK from the cache", redis,
                     (int)out.result, out.cached);
        /* Three failures lock the pair (as counted by a worker). */
        fail_in(cfg, redis ? lockmirror_front_store(&front) : lockout_mem_store(sh.mem), "alice",
                "192.0.2.7", 3, 40);
        assert_int_equal(verify_login_fast(&sh, cfg, &d, "192.0.2.7", 50, &out), 1);
        if (out.result != VERIFY_TEMPFAIL || out.cached)
            fail_msg("redis=%d locked pair, cached password: got result %d cached %d, "
                     "want a temporary failure",
                     redis, (int)out.result, out.cached);
        explicit_bzero(&d, sizeof(d));
        pcache_free(sh.cache);
        lockmirror_free(sh.mirror);
        lockout_mem_free(sh.mem);
        authd_cfg_unref(cfg);
    }
}

static void test_loop_hands_over_when_the_lock_state_is_unknown(void **state)
{
    struct authd_cfg *cfg = load_cfg(1);
    struct verify_shared sh = {lockout_mem_new(1000), pcache_new(100, 60000),
                               lockmirror_new(64, TTL), NULL};
    struct mux_decoder d;
    struct verify_outcome out;
    struct gate_decoder g;
    const char *gf[4] = {"alice", "", "smtp", "192.0.2.7;5555"};
    size_t gl[4] = {5, 0, 4, 14}, used;
    uint8_t gbuf[GATE_REQUEST_MAX];
    size_t gn = gate_encode_request(gbuf, sizeof(gbuf), gf, gl);

    (void)state;
    request(&d, "alice", "s3cret-A");
    cache_put(sh.cache, &d, 10);
    /* Redis configured, nothing in the mirror: a worker must ask Redis. */
    if (verify_login_fast(&sh, cfg, &d, "192.0.2.7", 20, &out) != 0)
        fail_msg("cache hit with an empty mirror: got decided on the loop, want a worker");
    gate_decoder_init(&g, 0);
    assert_int_equal(gate_decode(&g, gbuf, gn, &used), GATE_DONE);
    if (verify_gate_fast(&sh, cfg, &g, "192.0.2.7", 20, &out) != 0)
        fail_msg("gate with an empty mirror: got decided on the loop, want a worker");
    /* Mirror off: the same. */
    lockmirror_free(sh.mirror);
    sh.mirror = NULL;
    if (verify_login_fast(&sh, cfg, &d, "192.0.2.7", 20, &out) != 0)
        fail_msg("cache hit with the mirror off: got decided on the loop, want a worker");
    /* What needs no store is decided anyway: a bad login, an empty password. */
    request(&d, "alice@example.org", "x");
    assert_int_equal(verify_login_fast(&sh, cfg, &d, "192.0.2.7", 20, &out), 1);
    if (out.result != VERIFY_NO)
        fail_msg("realm not accepted: got result %d, want NO", (int)out.result);
    request(&d, "alice", "");
    assert_int_equal(verify_login_fast(&sh, cfg, &d, "192.0.2.7", 20, &out), 1);
    if (out.result != VERIFY_NO)
        fail_msg("empty password: got result %d, want NO", (int)out.result);
    pcache_free(sh.cache);
    lockout_mem_free(sh.mem);
    authd_cfg_unref(cfg);
}

static void test_loop_sends_a_hit_that_must_write_to_a_worker(void **state)
{
    /* Redis configured, mirror fresh, pair not yet known-good: the success
     * must be written to Redis, which the loop cannot do. */
    struct authd_cfg *cfg = load_cfg(1);
    struct verify_shared sh = {lockout_mem_new(1000), pcache_new(100, 60000),
                               lockmirror_new(64, TTL), NULL};
    struct lockmirror_front front = {sh.mirror, lockout_mem_store(sh.mem)};
    struct lockout_store none = {NULL, NULL};
    struct lockout_keys k;
    enum lockout_state st;
    struct mux_decoder d;
    struct verify_outcome out;

    (void)state;
    request(&d, "alice", "s3cret-A");
    cache_put(sh.cache, &d, 10);
    assert_int_equal(lockout_keys_make(&cfg->lockout, "alice", 5, "192.0.2.7", 9, &k), 0);
    assert_int_equal(
        lockout_check(&cfg->lockout, lockmirror_front_store(&front), none, &k, 20, &st, NULL, NULL),
        0);
    if (verify_login_fast(&sh, cfg, &d, "192.0.2.7", 30, &out) != 0)
        fail_msg("hit on a pair not yet known-good: got decided on the loop, want a worker");
    assert_int_equal(
        lockout_success(&cfg->lockout, lockmirror_front_store(&front), none, &k, 40, NULL), 0);
    if (verify_login_fast(&sh, cfg, &d, "192.0.2.7", 50, &out) != 1 || !out.cached)
        fail_msg("hit on a known-good pair: got a hand-over, want OK from the loop");
    pcache_free(sh.cache);
    lockmirror_free(sh.mirror);
    lockout_mem_free(sh.mem);
    authd_cfg_unref(cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mirror_entry_is_fresh_for_ttl_only),
        cmocka_unit_test(test_mirror_get_needs_every_key_fresh),
        cmocka_unit_test(test_mirror_read_never_hides_a_fresh_write),
        cmocka_unit_test(test_mirror_forget_and_long_keys),
        cmocka_unit_test(test_mirror_stays_bounded_under_many_keys),
        cmocka_unit_test(test_front_store_reads_once_per_ttl_and_sees_own_locks_at_once),
        cmocka_unit_test(test_front_store_drops_keys_when_the_store_fails),
        cmocka_unit_test(test_success_needs_a_write_only_when_something_changes),
        cmocka_unit_test(test_loop_refuses_a_locked_pair_even_with_the_cached_password),
        cmocka_unit_test(test_loop_hands_over_when_the_lock_state_is_unknown),
        cmocka_unit_test(test_loop_sends_a_hit_that_must_write_to_a_worker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
