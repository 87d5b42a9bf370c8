/*
 * test_login.c - lib/login: login-name syntax, length, realms, splitting.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "login.h"

struct login_case {
    const char *login;
    size_t len; /* 0: strlen */
    const char *realm;
    enum login_verdict want;
};

static void check_cases(const struct login_policy *p, const struct login_case *c, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = c[i].len ? c[i].len : strlen(c[i].login);
        enum login_verdict got = login_check(p, c[i].login, len, c[i].realm, strlen(c[i].realm));
        if (got != c[i].want)
            fail_msg("login \"%s\" realm \"%s\": got %s, want %s", c[i].login, c[i].realm,
                     login_verdict_text(got), login_verdict_text(c[i].want));
    }
}

static void test_login_default_policy_accepts_names_refuses_addresses(void **state)
{
    struct login_policy p;
    char err[128];
    static const struct login_case cases[] = {
        {"alice", 0, "", LOGIN_OK},
        {"Bob_2", 0, "", LOGIN_OK},
        {"a-b", 0, "", LOGIN_OK},
        {"a.lice", 0, "", LOGIN_ADDRESS},
        {"john.doe", 0, "", LOGIN_ADDRESS},
        {"alice@example.org", 0, "", LOGIN_ADDRESS},
        {"alice", 0, "example.org", LOGIN_REALM_REFUSED},
        {"al*", 0, "", LOGIN_BAD_CHAR},
        {"x)(uid=*", 0, "", LOGIN_BAD_CHAR},
        {"caf\xc3\xa9", 0, "", LOGIN_BAD_CHAR},
        {"", 0, "", LOGIN_EMPTY},
        {"al\0ce", 5, "", LOGIN_NUL},
        {"a b", 0, "", LOGIN_BAD_CHAR},
    };

    (void)state;
    assert_int_equal(login_policy_init(&p, NULL, 64, NULL, err, sizeof(err)), 0);
    check_cases(&p, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_login_length_limit_is_inclusive(void **state)
{
    struct login_policy p;
    char err[128], name[80];

    (void)state;
    assert_int_equal(login_policy_init(&p, "a-z", 8, "", err, sizeof(err)), 0);
    memset(name, 'a', sizeof(name));
    if (login_check(&p, name, 8, "", 0) != LOGIN_OK)
        fail_msg("got refusal for 8 bytes, want ok at the limit");
    if (login_check(&p, name, 9, "", 0) != LOGIN_TOO_LONG)
        fail_msg("got %s for 9 bytes, want too long",
                 login_verdict_text(login_check(&p, name, 9, "", 0)));
}

static void test_login_accepted_realms_match_case_insensitively(void **state)
{
    struct login_policy p;
    char err[128];
    static const struct login_case cases[] = {
        {"alice", 0, "example.org", LOGIN_OK},
        {"alice", 0, "EXAMPLE.ORG", LOGIN_OK},
        {"alice", 0, "mail.example.org", LOGIN_OK},
        {"alice", 0, "other.example", LOGIN_REALM_REFUSED},
        {"alice", 0, "", LOGIN_OK},
    };

    (void)state;
    assert_int_equal(
        login_policy_init(&p, NULL, 64, "example.org, mail.example.org", err, sizeof(err)), 0);
    assert_int_equal(p.nrealms, 2);
    check_cases(&p, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_login_custom_chars_allow_dots(void **state)
{
    struct login_policy p;
    char err[128];
    static const struct login_case cases[] = {
        {"john.doe", 0, "", LOGIN_OK},
        {"john@doe", 0, "", LOGIN_ADDRESS},
        {"JOHN", 0, "", LOGIN_BAD_CHAR},
    };

    (void)state;
    assert_int_equal(login_policy_init(&p, "a-z.", 64, "", err, sizeof(err)), 0);
    check_cases(&p, cases, sizeof(cases) / sizeof(cases[0]));
}

static void test_login_policy_rejects_bad_settings(void **state)
{
    struct login_policy p;
    char err[128];
    static const struct {
        const char *chars;
        long long max;
        const char *realms;
    } bad[] = {
        {"", 64, ""},
        {"z-a", 64, ""},
        {"a-z", 0, ""},
        {"a-z", 257, ""},
        {"a-z", 64, "a*b"},
        {"a-z", 64, "x@y"},
        {"a-z", 64, "a b c d e f g h i j k l m n o p q"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (login_policy_init(&p, bad[i].chars, bad[i].max, bad[i].realms, err, sizeof(err)) == 0)
            fail_msg("chars \"%s\" max %lld realms \"%s\": got accepted, want an error",
                     bad[i].chars, bad[i].max, bad[i].realms);
}

static void test_login_split_uses_last_at(void **state)
{
    static const struct {
        const char *in;
        const char *user, *realm;
    } cases[] = {
        {"alice", "alice", ""},  {"alice@example.org", "alice", "example.org"},
        {"a@b@c", "a@b", "c"},   {"alice@", "alice", ""},
        {"@realm", "", "realm"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t ulen, rlen;
        const char *realm;
        login_split(cases[i].in, strlen(cases[i].in), &ulen, &realm, &rlen);
        if (ulen != strlen(cases[i].user) || strncmp(cases[i].in, cases[i].user, ulen) ||
            rlen != strlen(cases[i].realm) || strncmp(realm, cases[i].realm, rlen))
            fail_msg("split \"%s\": got \"%.*s\" / \"%.*s\", want \"%s\" / \"%s\"", cases[i].in,
                     (int)ulen, cases[i].in, (int)rlen, realm, cases[i].user, cases[i].realm);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_login_default_policy_accepts_names_refuses_addresses),
        cmocka_unit_test(test_login_length_limit_is_inclusive),
        cmocka_unit_test(test_login_accepted_realms_match_case_insensitively),
        cmocka_unit_test(test_login_custom_chars_allow_dots),
        cmocka_unit_test(test_login_policy_rejects_bad_settings),
        cmocka_unit_test(test_login_split_uses_last_at),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
