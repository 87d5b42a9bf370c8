/*
 * test_filter_cache_conf.c - RFC 4515 filter expansion, the positive cache,
 * the ipremoteport parser, and the agreement between the authd_* table
 * and portreeve-authd(8).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "authd_conf.h"
#include "dncache.h"
#include "ldap_pool.h"
#include "pcache.h"
#include "verify.h"

static void test_filter_escapes_login_per_rfc4515(void **state)
{
    static const struct {
        const char *login;
        size_t len;
        const char *want;
    } cases[] = {
        {"alice", 5, "(uid=alice)"},
        {"al*", 3, "(uid=al\\2A)"},
        {"x)(uid=*", 8, "(uid=x\\29\\28uid=\\2A)"},
        {"back\\slash", 10, "(uid=back\\5Cslash)"},
        {"a\0b", 3, "(uid=a\\00b)"},
        {"caf\xc3\xa9", 5, "(uid=caf\\C3\\A9)"},
    };
    char out[LDAP_POOL_FILTER_MAX];

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        assert_int_equal(ldap_pool_filter("(uid=%u)", cases[i].login, cases[i].len, "", 0, "smtp",
                                          4, out, sizeof(out)),
                         0);
        if (strcmp(out, cases[i].want) != 0)
            fail_msg("login #%zu: got %s, want %s", i, out, cases[i].want);
    }
}

static void test_filter_tokens_and_bad_templates(void **state)
{
    char out[LDAP_POOL_FILTER_MAX], err[128], tiny[8];

    (void)state;
    assert_int_equal(ldap_pool_filter("(&(uid=%u)(mail=%u@%r)(x=%s)(p=100%%))", "bob", 3, "ex*", 3,
                                      "smtp", 4, out, sizeof(out)),
                     0);
    assert_string_equal(out, "(&(uid=bob)(mail=bob@ex\\2A)(x=smtp)(p=100%))");
    assert_int_equal(ldap_pool_filter("(uid=%x)", "a", 1, "", 0, "", 0, out, sizeof(out)), -1);
    assert_int_equal(ldap_pool_filter("(uid=%u)", "abcdefgh", 8, "", 0, "", 0, tiny, sizeof(tiny)),
                     -1);
    assert_int_equal(ldap_pool_check_filter("(uid=%u)", err, sizeof(err)), 0);
    assert_int_equal(ldap_pool_check_filter("uid=%u", err, sizeof(err)), -1);
    assert_int_equal(ldap_pool_check_filter("(uid=alice)", err, sizeof(err)), -1);
    assert_int_equal(ldap_pool_check_uri("ldap://a/ ldaps://b:636/", err, sizeof(err)), 0);
    assert_int_equal(ldap_pool_check_uri("http://a/", err, sizeof(err)), -1);
}

static struct pcache_req req(const char *user, const char *pw)
{
    struct pcache_req r = {user, "", "smtp", pw, strlen(user), 0, 4, strlen(pw)};
    return r;
}

static void test_cache_hits_only_same_password_within_ttl(void **state)
{
    struct pcache *c = pcache_new(100, 1000);
    struct pcache_req ok = req("alice", "s3cret"), other = req("alice", "s3cret2");
    struct pcache_req bob = req("bob", "s3cret");

    (void)state;
    assert_non_null(c);
    assert_int_equal(pcache_hit(c, &ok, 10), 0);
    pcache_put(c, &ok, 10);
    assert_int_equal(pcache_hit(c, &ok, 500), 1);
    assert_int_equal(pcache_hit(c, &other, 500), 0);
    assert_int_equal(pcache_hit(c, &bob, 500), 0);
    assert_int_equal(pcache_hit(c, &ok, 1010), 0); /* TTL over */
    pcache_put(c, &ok, 2000);
    pcache_forget(c, &other); /* a failure with another password drops the entry */
    assert_int_equal(pcache_hit(c, &ok, 2001), 0);
    pcache_free(c);
}

static void test_cache_length_prefix_separates_fields(void **state)
{
    struct pcache *c = pcache_new(10, 1000);
    struct pcache_req a = {"ab", "", "smtp", "c", 2, 0, 4, 1};
    struct pcache_req b = {"a", "", "smtp", "bc", 1, 0, 4, 2};

    (void)state;
    pcache_put(c, &a, 1);
    assert_int_equal(pcache_hit(c, &b, 2), 0);
    pcache_free(c);
}

static void test_dn_cache_keeps_a_dn_for_its_ttl_only(void **state)
{
    static const struct {
        uint64_t at;
        int want_hit;
    } cases[] = {{100, 1}, {100 + 999, 1}, {100 + 1000, 0}, {5000, 0}};
    struct dncache *c = dncache_new(16, 1000);
    char dn[DNCACHE_DN_MAX];

    (void)state;
    assert_non_null(c);
    dncache_put(c, "2\nou=people\n(uid=alice)", "cn=alice,ou=people", 100);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        int hit = dncache_get(c, "2\nou=people\n(uid=alice)", dn, sizeof(dn), cases[i].at);
        if (hit != cases[i].want_hit)
            fail_msg("at %llu ms: got hit %d, want %d", (unsigned long long)cases[i].at, hit,
                     cases[i].want_hit);
        if (hit && strcmp(dn, "cn=alice,ou=people") != 0)
            fail_msg("got DN %s, want cn=alice,ou=people", dn);
    }
    dncache_free(c);
}

static void test_dn_cache_keys_are_whole_searches_and_bounded(void **state)
{
    struct dncache *c = dncache_new(16, 60000);
    char dn[DNCACHE_DN_MAX], longkey[DNCACHE_KEY_MAX + 8], longdn[DNCACHE_DN_MAX + 8], key[64];
    int live = 0;

    (void)state;
    dncache_put(c, "2\nou=people\n(uid=alice)", "cn=alice,ou=people", 0);
    if (dncache_get(c, "2\nou=other\n(uid=alice)", dn, sizeof(dn), 1))
        fail_msg("got a hit for another base, want a miss");
    if (dncache_get(c, "2\nou=people\n(uid=alice2)", dn, sizeof(dn), 1))
        fail_msg("got a hit for another filter, want a miss");
    dncache_forget(c, "2\nou=people\n(uid=alice)");
    if (dncache_get(c, "2\nou=people\n(uid=alice)", dn, sizeof(dn), 1))
        fail_msg("got a hit after forget, want a miss");
    memset(longkey, 'k', sizeof(longkey) - 1);
    longkey[sizeof(longkey) - 1] = '\0';
    memset(longdn, 'd', sizeof(longdn) - 1);
    longdn[sizeof(longdn) - 1] = '\0';
    dncache_put(c, longkey, "cn=x", 0);
    dncache_put(c, "k", longdn, 0);
    if (dncache_get(c, longkey, dn, sizeof(dn), 1) || dncache_get(c, "k", dn, sizeof(dn), 1))
        fail_msg("got an over-long key or DN cached, want neither");
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "2\nb\n(uid=user%d)", i);
        dncache_put(c, key, "cn=u", 0);
    }
    for (int i = 0; i < 500; i++) {
        snprintf(key, sizeof(key), "2\nb\n(uid=user%d)", i);
        live += dncache_get(c, key, dn, sizeof(dn), 1);
    }
    if (live > 16)
        fail_msg("got %d DNs held by a 16-entry cache, want at most 16", live);
    dncache_free(c);
}

static void test_addr_from_ipremoteport(void **state)
{
    char out[64];

    (void)state;
    assert_int_equal(verify_addr_from_ipport("192.0.2.7;54321", 15, out, sizeof(out)), 0);
    assert_string_equal(out, "192.0.2.7");
    assert_int_equal(verify_addr_from_ipport("2001:db8::1;25", 14, out, sizeof(out)), 0);
    assert_string_equal(out, "2001:db8::1");
    assert_int_equal(verify_addr_from_ipport("192.0.2.7", 9, out, sizeof(out)), 0);
    assert_string_equal(out, "192.0.2.7");
    assert_int_equal(verify_addr_from_ipport("1\0002;3", 5, out, sizeof(out)), -1);
}

/* Read a whole file. */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    char *buf;
    long n;

    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    return buf;
}

static void test_man_page_documents_every_key_with_its_default(void **state)
{
    char *man = slurp(AUTHD_MAN_PAGE);
    char line[512];

    (void)state;
    assert_non_null(man);
    for (size_t i = 0; i < authd_conf_count; i++) {
        const struct conf_entry *e = &authd_conf_entries[i];
        snprintf(line, sizeof(line), "\n.B %s =%s%s\n", e->name, e->def[0] ? " " : "", e->def);
        if (strstr(man, line) == NULL)
            fail_msg("man page: got no line \".B %s =%s%s\", want one", e->name,
                     e->def[0] ? " " : "", e->def);
    }
    /* And nothing documented that the table does not have. */
    for (const char *p = strstr(man, "\n.B authd_"); p; p = strstr(p + 1, "\n.B authd_")) {
        char name[64];
        size_t n = strcspn(p + 4, " \n");
        int found = 0;
        snprintf(name, sizeof(name), "%.*s", (int)n, p + 4);
        for (size_t i = 0; i < authd_conf_count; i++)
            found |= strcmp(authd_conf_entries[i].name, name) == 0;
        if (!found)
            fail_msg("man page documents %s: got no such key in the table, want none", name);
    }
    free(man);
}

static void test_defaults_fail_only_on_required_search_base(void **state)
{
    char err[CONF_ERR_LEN];
    struct authd_cfg *c = authd_cfg_load(NULL, err, sizeof(err));

    (void)state;
    assert_null(c);
    if (strstr(err, "authd_ldap_search_base") == NULL)
        fail_msg("got \"%s\", want the required search base named", err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_filter_escapes_login_per_rfc4515),
        cmocka_unit_test(test_filter_tokens_and_bad_templates),
        cmocka_unit_test(test_cache_hits_only_same_password_within_ttl),
        cmocka_unit_test(test_cache_length_prefix_separates_fields),
        cmocka_unit_test(test_dn_cache_keeps_a_dn_for_its_ttl_only),
        cmocka_unit_test(test_dn_cache_keys_are_whole_searches_and_bounded),
        cmocka_unit_test(test_addr_from_ipremoteport),
        cmocka_unit_test(test_man_page_documents_every_key_with_its_default),
        cmocka_unit_test(test_defaults_fail_only_on_required_search_base),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
