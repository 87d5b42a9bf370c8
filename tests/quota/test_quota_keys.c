/*
 * test_quota_keys.c - Redis key construction, principals, and the per-user
 * limits map.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "quota.h"
#include "quota_conf.h"
#include "quota_redis.h"

static void test_keys_carry_prefix_version_and_hash_tag(void **state)
{
    struct limiter_window w = {LIMITER_MESSAGES, 100, 3600000};
    struct limiter_window r = {LIMITER_RECIPIENTS, 500, 86400000};
    static const char p[] = "u:alice@example.org";
    char k[QUOTA_REDIS_KEY_MAX];
    static const struct {
        int which;
        const char *instance;
        const char *want;
    } cases[] = {
        {0, NULL, "pp:v3:q:p:{u:alice@example.org}"},
        {1, NULL, "pp:v3:q:w:m:3600000:60000:{u:alice@example.org}"},
        {2, NULL, "pp:v3:q:w:r:86400000:1440000:{u:alice@example.org}"},
        {3, "590c.6b02859d.3735.0", "pp:v3:q:d:{u:alice@example.org}:590c.6b02859d.3735.0"},
        {3, "evil}{x", "pp:v3:q:d:{u:alice@example.org}:h"},
    };
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t n = 0;
        switch (cases[i].which) {
        case 0:
            n = quota_redis_key_pending(k, sizeof(k), "pp", p, strlen(p));
            break;
        case 1:
            n = quota_redis_key_series(k, sizeof(k), "pp", &w, 60, p, strlen(p));
            break;
        case 2:
            n = quota_redis_key_series(k, sizeof(k), "pp", &r, 60, p, strlen(p));
            break;
        default:
            n = quota_redis_key_done(k, sizeof(k), "pp", p, strlen(p), cases[i].instance);
        }
        if (n == 0 || strncmp(k, cases[i].want, strlen(cases[i].want)) != 0)
            fail_msg("case %zu: got \"%s\", want \"%s\"", i, n ? k : "(none)", cases[i].want);
        if (strchr(k, '{') == NULL || strstr(k, "{u:alice@example.org}") == NULL)
            fail_msg("case %zu: got \"%s\", want the {principal} hash tag", i, k);
    }
    /* A principal too long for a key is refused, not cut. */
    {
        char big[400];
        memset(big, 'x', sizeof(big));
        if (quota_redis_key_pending(k, sizeof(k), "pp", big, sizeof(big)) != 0)
            fail_msg("got a key for a 400-byte principal, want none");
    }
}

static void test_principal_normalizes_users_and_prefixes_addresses(void **state)
{
    struct quota_conf q;
    static const struct {
        const char *user, *addr;
        long long v4, v6;
        const char *want;
    } cases[] = {
        {"Alice@Example.ORG", "192.0.2.7", 32, 64, "u:alice@example.org"},
        {"", "192.0.2.7", 32, 64, "a:192.0.2.7/32"},
        {"", "192.0.2.7", 24, 64, "a:192.0.2.0/24"},
        {"", "2001:db8:1:2:3:4:5:6", 32, 64, "a:2001:db8:1:2::/64"},
        {"", "2001:db8:1:2:3:4:5:6", 32, 48, "a:2001:db8:1::/48"},
        {"", "::ffff:192.0.2.9", 32, 64, "a:192.0.2.9/32"},
        {"", "unknown", 32, 64, ""},
    };
    (void)state;
    memset(&q, 0, sizeof(q));
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[QUOTA_PRINCIPAL_MAX];
        size_t n;
        q.ipv4_prefix = cases[i].v4;
        q.ipv6_prefix = cases[i].v6;
        n = quota_principal(&q, cases[i].user, strlen(cases[i].user), cases[i].addr,
                            strlen(cases[i].addr), out, sizeof(out));
        if (n == 0)
            out[0] = '\0';
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("%s/%s: got \"%s\", want \"%s\"", cases[i].user, cases[i].addr, out,
                     cases[i].want);
    }
    {
        char longname[400], out[QUOTA_PRINCIPAL_MAX];
        memset(longname, 'A', sizeof(longname));
        size_t n =
            quota_principal(&q, longname, sizeof(longname), "192.0.2.1", 9, out, sizeof(out));
        if (n != 19 || strncmp(out, "u:h", 3) != 0)
            fail_msg("got \"%.*s\", want u:h + 16 hex digits", (int)n, out);
    }
}

static void test_map_parses_limits_exemptions_and_rejects_junk(void **state)
{
    struct quota_conf q;
    static const struct {
        const char *text;
        int rc;
        size_t n;
    } cases[] = {
        {"alice@example.org messages=200/1h,1000/1d recipients=5000/1d\n", 0, 1},
        {"# comment\n\n  \nBulk@Example.org none\r\nbob messages=5/1m\n", 0, 2},
        {"carol\n", -1, 0},
        {"carol messages=lots\n", -1, 0},
        {"carol colour=blue\n", -1, 0},
        {"dave none\ndave messages=1/1h\n", -1, 0},
        {"erin messages=1/1h", 0, 1}, /* no final newline */
        {"", 0, 0},
    };
    (void)state;
    memset(&q, 0, sizeof(q));
    q.buckets = 60;
    q.reservation_ttl_ms = 600000;
    q.instance_ttl_ms = 3600000;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct quota_user_limits *m = NULL;
        size_t n = 0;
        char err[256] = "";
        int rc = quota_conf_parse_map(cases[i].text, strlen(cases[i].text), &q, &m, &n, err,
                                      sizeof(err));
        if (rc != cases[i].rc || (rc == 0 && n != cases[i].n))
            fail_msg("case %zu: got rc %d n %zu (%s), want rc %d n %zu", i, rc, n, err, cases[i].rc,
                     cases[i].n);
        if (rc == 0)
            quota_conf_free_map(m, n);
    }
    {
        const char *t = "Bulk@Example.org none\nalice messages=2/1h recipients=9/1d\n";
        struct quota_user_limits *m;
        size_t n;
        char err[256];
        assert_int_equal(quota_conf_parse_map(t, strlen(t), &q, &m, &n, err, sizeof(err)), 0);
        q.map = m;
        q.nmap = n;
        const struct quota_user_limits *a = quota_conf_user(&q, "alice");
        const struct quota_user_limits *b = quota_conf_user(&q, "bulk@example.org");
        if (a == NULL || a->l.n != 2 || a->l.w[0].max != 2 || !a->has_messages ||
            !a->has_recipients)
            fail_msg("alice: got %s, want 2 windows, messages 2/1h", a ? "other" : "none");
        if (b == NULL || !b->exempt)
            fail_msg("bulk@example.org: got %s, want exempt (lower-cased lookup)",
                     b ? "not exempt" : "none");
        if (quota_conf_user(&q, "nobody") != NULL)
            fail_msg("nobody: got an entry, want none");
        quota_conf_free_map(m, n);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_keys_carry_prefix_version_and_hash_tag),
        cmocka_unit_test(test_principal_normalizes_users_and_prefixes_addresses),
        cmocka_unit_test(test_map_parses_limits_exemptions_and_rejects_junk),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
