/*
 * test_netset.c - CIDR lists (lib/netset.c): IPv4, IPv6, brackets,
 * IPv4-mapped addresses both ways, and the list errors an admin makes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "netset.h"

struct match_case {
    const char *list;
    const char *addr;
    int want;
};

static const struct match_case matches[] = {
    {"127.0.0.0/8", "127.0.0.1", 1},
    {"127.0.0.0/8", "127.255.255.255", 1},
    {"127.0.0.0/8", "128.0.0.1", 0},
    {"192.0.2.0/24", "192.0.2.255", 1},
    {"192.0.2.0/24", "192.0.3.0", 0},
    {"192.0.2.128/25", "192.0.2.127", 0},
    {"192.0.2.128/25", "192.0.2.128", 1},
    {"10.1.2.3", "10.1.2.3", 1},
    {"10.1.2.3", "10.1.2.4", 0},
    {"10.1.2.3/32", "10.1.2.3", 1},
    {"0.0.0.0/0", "203.0.113.9", 1},
    {"0.0.0.0/0", "2001:db8::1", 0},
    {"::/0", "2001:db8::1", 1},
    {"::/0", "203.0.113.9", 1},
    {"2001:db8::/32", "2001:db8:ffff::1", 1},
    {"2001:db8::/32", "2001:db9::1", 0},
    {"[2001:db8::]/32", "2001:db8:1::1", 1},
    {"[2001:db8:1::]/48", "2001:db8:1:ffff:ffff:ffff:ffff:ffff", 1},
    {"[2001:db8:1::]/48", "2001:db8:2::", 0},
    {"[::1]/128", "::1", 1},
    {"[::1]/128", "::2", 0},
    {"[::1]", "::1", 1},
    {"2001:db8::/32", "2001:DB8::A", 1},
    /* IPv4-mapped clients match IPv4 entries... */
    {"192.0.2.0/24", "::ffff:192.0.2.1", 1},
    {"192.0.2.0/24", "::FFFF:192.0.2.1", 1},
    {"192.0.2.0/24", "::ffff:c000:0201", 1},
    {"192.0.2.0/24", "::ffff:198.51.100.1", 0},
    {"127.0.0.0/8", "::ffff:127.0.0.1", 1},
    /* ...and mapped entries match IPv4 clients. */
    {"::ffff:192.0.2.0/120", "192.0.2.77", 1},
    {"[::ffff:192.0.2.0]/120", "192.0.2.77", 1},
    {"::ffff:192.0.2.0/120", "192.0.3.77", 0},
    /* not mapped: IPv4-compatible and NAT64 forms are other addresses */
    {"192.0.2.0/24", "::192.0.2.1", 0},
    {"192.0.2.0/24", "64:ff9b::192.0.2.1", 0},
    /* bracketed client addresses */
    {"192.0.2.0/24", "[192.0.2.1]", 1},
    {"2001:db8::/32", "[2001:db8::1]", 1},
    /* lists */
    {"10.0.0.0/8, 172.16.0.0/12  192.168.0.0/16", "172.31.255.255", 1},
    {"10.0.0.0/8,172.16.0.0/12,192.168.0.0/16", "192.168.1.1", 1},
    {"10.0.0.0/8 ,\t172.16.0.0/12", "172.32.0.0", 0},
    {"", "127.0.0.1", 0},
    /* not addresses */
    {"0.0.0.0/0", "unknown", 0},
    {"0.0.0.0/0", "", 0},
    {"0.0.0.0/0", "192.0.2", 0},
    {"0.0.0.0/0", "192.0.2.1.5", 0},
    {"0.0.0.0/0", "0x7f.1", 0},
    {"::/0", "2001:db8::1%eth0", 0},
};

static void test_netset_matches_v4_v6_and_mapped_addresses(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(matches) / sizeof(matches[0]); i++) {
        const struct match_case *t = &matches[i];
        struct netset *s = NULL;
        char err[256] = "", ctx[256];

        snprintf(ctx, sizeof(ctx), "\"%s\" contains \"%s\"", t->list, t->addr);
        if (!CHECK(netset_parse(t->list, &s, err, sizeof(err)) == 0, "%s: got error \"%s\"", ctx,
                   err))
            continue;
        CHECK_INT(netset_contains(s, t->addr, strlen(t->addr)), t->want, ctx);
        netset_free(s);
    }
    check_done();
}

static void test_netset_counts_list_items(void **state)
{
    static const struct {
        const char *list;
        size_t want;
    } rows[] = {
        {"", 0},
        {"  , ,\t", 0},
        {"127.0.0.0/8", 1},
        {"127.0.0.0/8 [::1]/128", 2},
        {"10.0.0.0/8,172.16.0.0/12, 192.168.0.0/16\n2001:db8::/32", 4},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct netset *s = NULL;
        char err[256] = "";
        if (CHECK(netset_parse(rows[i].list, &s, err, sizeof(err)) == 0, "\"%s\": got error \"%s\"",
                  rows[i].list, err))
            CHECK_INT(netset_count(s), rows[i].want, rows[i].list);
        netset_free(s);
    }
    check_done();
}

static void test_netset_refuses_bad_lists(void **state)
{
    static const struct {
        const char *list;
        const char *want; /* part of the message */
    } rows[] = {
        {"10.0.0.1/8", "\"10.0.0.1/8\" has host bits set"},
        {"192.0.2.1/24", "host bits"},
        {"2001:db8::1/32", "host bits"},
        {"[2001:db8::1]/64", "host bits"},
        {"127.0.0.0/8 10.0.0.1/8", "\"10.0.0.1/8\" has host bits"},
        {"10.0.0.0/33", "prefix length too large"},
        {"2001:db8::/129", "prefix length too large"},
        {"10.0.0.0/", "bad prefix length"},
        {"10.0.0.0/abc", "bad prefix length"},
        {"10.0.0.0/-1", "bad prefix length"},
        {"10.0.0.0/+8", "bad prefix length"},
        {"10.0.0.0/8/8", "bad prefix length"},
        {"10.0.0.0/123456789", "bad prefix length"},
        {"/8", "is not an IPv4 or IPv6 address"},
        {"10.0.0/8", "\"10.0.0\" is not an IPv4 or IPv6 address"},
        {"10.0.0.256", "is not an IPv4 or IPv6 address"},
        {"localhost", "\"localhost\" is not an IPv4 or IPv6 address"},
        {"[10.0.0.0/8]", "is not an IPv4 or IPv6 address"},
        {"[2001:db8::/32", "is not an IPv4 or IPv6 address"},
        {"2001:db8:::/32", "is not an IPv4 or IPv6 address"},
        {"[]", "is not an IPv4 or IPv6 address"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct netset *s = NULL;
        char err[256] = "";
        int rc = netset_parse(rows[i].list, &s, err, sizeof(err));
        CHECK_INT(rc, -1, rows[i].list);
        CHECK(strstr(err, rows[i].want) != NULL, "\"%s\": got error \"%s\", want \"%s\"",
              rows[i].list, err, rows[i].want);
        if (rc == 0)
            netset_free(s);
    }
    check_done();
}

static void test_netaddr_prefix_text_clears_host_bits(void **state)
{
    static const struct {
        const char *addr;
        unsigned prefix;
        const char *want; /* NULL: refused */
    } rows[] = {
        {"192.0.2.77", 24, "192.0.2.0"},
        {"192.0.2.77", 32, "192.0.2.77"},
        {"192.0.2.77", 0, "0.0.0.0"},
        {"::ffff:192.0.2.77", 16, "192.0.0.0"},
        {"2001:db8:1:2:3:4:5:6", 64, "2001:db8:1:2::"},
        {"2001:db8:1:2:3:4:5:6", 48, "2001:db8:1::"},
        {"2001:db8:1:2:3:4:5:6", 128, "2001:db8:1:2:3:4:5:6"},
        {"192.0.2.77", 33, NULL},
        {"2001:db8::1", 129, NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct netaddr a;
        char out[64] = "", ctx[128];
        int rc;

        snprintf(ctx, sizeof(ctx), "%s/%u", rows[i].addr, rows[i].prefix);
        if (!CHECK(netaddr_parse(rows[i].addr, strlen(rows[i].addr), &a) == 0,
                   "%s: got unparsable, want an address", ctx))
            continue;
        rc = netaddr_prefix_text(&a, rows[i].prefix, out, sizeof(out));
        if (rows[i].want == NULL) {
            CHECK_INT(rc, -1, ctx);
        } else {
            CHECK_INT(rc, 0, ctx);
            CHECK_STR(out, rows[i].want, ctx);
        }
    }
    check_done();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_netset_matches_v4_v6_and_mapped_addresses),
        cmocka_unit_test(test_netset_counts_list_items),
        cmocka_unit_test(test_netset_refuses_bad_lists),
        cmocka_unit_test(test_netaddr_prefix_text_clears_host_bits),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
