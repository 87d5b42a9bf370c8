/*
 * test_domains.c - local domain lists (policyd/domains.c): exact names,
 * ".domain" subdomain entries, case, a trailing dot, bare local parts.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "domains.h"

#define SITE "example.edu, .example.edu, Dept.Example.ORG., .Lab.Example.NET"

static const struct {
    const char *list;
    const char *domain;
    int want;
} domain_rows[] = {
    {SITE, "example.edu", 1},
    {SITE, "EXAMPLE.EDU", 1},
    {SITE, "example.edu.", 1},
    {SITE, "mail.example.edu", 1},
    {SITE, "a.b.c.example.edu", 1},
    {SITE, "xexample.edu", 0},
    {SITE, "edu", 0},
    {SITE, "example.edu.evil.test", 0},
    {SITE, "dept.example.org", 1},
    {SITE, "DEPT.example.org.", 1},
    {SITE, "sub.dept.example.org", 0},
    {SITE, "example.org", 0},
    {SITE, "lab.example.net", 0},
    {SITE, "x.lab.example.net", 1},
    {SITE, "X.LAB.EXAMPLE.NET.", 1},
    {SITE, "", 0},
    {SITE, ".", 0},
    {SITE, ".example.edu", 1},
    {"example.edu", "mail.example.edu", 0},
    {"example.edu", "example.edu", 1},
    {".example.edu", "example.edu", 0},
    {"", "example.edu", 0},
    {"  ,  ", "example.edu", 0},
};

static void test_domains_match_exact_and_subdomain_entries(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(domain_rows) / sizeof(domain_rows[0]); i++) {
        struct domains *d = NULL;
        char err[256] = "", ctx[256];

        snprintf(ctx, sizeof(ctx), "[%s] matches \"%s\"", domain_rows[i].list,
                 domain_rows[i].domain);
        if (!CHECK(domains_parse(domain_rows[i].list, &d, err, sizeof(err)) == 0,
                   "%s: got error \"%s\"", ctx, err))
            continue;
        CHECK_INT(domains_match(d, domain_rows[i].domain, strlen(domain_rows[i].domain)),
                  domain_rows[i].want, ctx);
        domains_free(d);
    }
    check_done();
}

static void test_domains_match_addresses(void **state)
{
    static const struct {
        const char *addr;
        int want;
    } rows[] = {
        {"alice@example.edu", 1},  {"Alice@Mail.Example.EDU", 1},
        {"alice@example.edu.", 1}, {"alice@remote.example", 0},
        {"postmaster", 1},         {"alice@", 0},
        {"a@b@example.edu", 1},    {"a@example.edu@remote.example", 0},
        {"@example.edu", 1},
    };
    struct domains *d = NULL;
    char err[256] = "";

    (void)state;
    assert_int_equal(domains_parse(SITE, &d, err, sizeof(err)), 0);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        CHECK_INT(domains_match_address(d, rows[i].addr, strlen(rows[i].addr)), rows[i].want,
                  rows[i].addr);
    CHECK_INT(domains_count(d), 4, "entries in " SITE);
    domains_free(d);
    check_done();
}

/* A name that is not a domain is refused with its text in the message. */
static void test_domains_refuse_what_is_not_a_domain(void **state)
{
    static const char *const bad[] = {
        "exa@mple.edu",
        "a..b",
        "..example.edu",
        ".",
        "example.edu/24",
        "exa!mple.edu",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.edu", /* 64 */
    };

    (void)state;
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        struct domains *d = NULL;
        char err[256] = "";
        int rc = domains_parse(bad[i], &d, err, sizeof(err));
        CHECK_INT(rc, -1, bad[i]);
        CHECK(strstr(err, "is not a domain name") != NULL, "\"%s\": got error \"%s\"", bad[i], err);
        if (rc == 0)
            domains_free(d);
    }
    check_done();
}

/* Long names: 253 bytes is the most a domain can have. */
static void test_domains_length_limits(void **state)
{
    char name[300], list[310];
    struct domains *d = NULL;
    char err[256] = "";
    size_t n = 0;

    (void)state;
    /* 4 labels of 63 = 252 + 3 dots = 255 > 253 */
    for (int l = 0; l < 4; l++) {
        memset(name + n, 'a' + l, 63);
        n += 63;
        name[n++] = '.';
    }
    name[n - 1] = '\0';
    CHECK_INT(domains_parse(name, &d, err, sizeof(err)), -1, "255-byte domain");
    /* 253 bytes is fine, and matches. */
    memmove(name, name + 2, strlen(name + 2) + 1);
    name[0] = 'z';
    CHECK_INT(strlen(name), 253, "test name length");
    snprintf(list, sizeof(list), "%s", name);
    if (CHECK(domains_parse(list, &d, err, sizeof(err)) == 0, "253-byte domain: got \"%s\"", err)) {
        CHECK_INT(domains_match(d, name, strlen(name)), 1, "253-byte domain matches itself");
        domains_free(d);
    }
    check_done();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_domains_match_exact_and_subdomain_entries),
        cmocka_unit_test(test_domains_match_addresses),
        cmocka_unit_test(test_domains_refuse_what_is_not_a_domain),
        cmocka_unit_test(test_domains_length_limits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
