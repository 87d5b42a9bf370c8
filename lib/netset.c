/*
 * netset.c - CIDR lists for IPv4 and IPv6 (see netset.h).
 *
 * A linear scan: relay and exemption lists hold a handful to a few hundred
 * entries, and each test is two 16-byte masked compares.
 */
#include "netset.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct netset_entry {
    struct netaddr net;
    unsigned prefix; /* 0..128, IPv4 entries are 96 + n */
};

struct netset {
    struct netset_entry *e;
    size_t count;
};

static const uint8_t netset_v4_mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

int netaddr_parse(const char *s, size_t len, struct netaddr *out)
{
    char buf[INET6_ADDRSTRLEN + 2];
    struct in_addr v4;

    if (len >= 2 && s[0] == '[' && s[len - 1] == ']') {
        s++;
        len -= 2;
    }
    if (len == 0 || len >= sizeof(buf))
        return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    /* inet_pton accepts "a.b.c.d" only, no shorthand: what we want. */
    if (inet_pton(AF_INET, buf, &v4) == 1) {
        memcpy(out->a, netset_v4_mapped, 12);
        memcpy(out->a + 12, &v4, 4);
        return 0;
    }
    if (inet_pton(AF_INET6, buf, out->a) == 1)
        return 0;
    return -1;
}

int netaddr_is_v4(const struct netaddr *a)
{
    return memcmp(a->a, netset_v4_mapped, 12) == 0;
}

/* Clear the bits of a beyond the first prefix bits (0..128). */
static void netaddr_mask(struct netaddr *a, unsigned prefix)
{
    for (unsigned i = 0; i < 16; i++) {
        unsigned bits = prefix > i * 8 ? prefix - i * 8 : 0;
        if (bits < 8)
            a->a[i] &= (uint8_t)(0xff00u >> bits);
    }
}

int netaddr_prefix_text(const struct netaddr *a, unsigned prefix, char *dst, size_t dstlen)
{
    struct netaddr m = *a;
    int v4 = netaddr_is_v4(a);

    if (prefix > (v4 ? 32u : 128u))
        return -1;
    netaddr_mask(&m, v4 ? prefix + 96 : prefix);
    if (v4)
        return inet_ntop(AF_INET, m.a + 12, dst, (socklen_t)dstlen) ? 0 : -1;
    return inet_ntop(AF_INET6, m.a, dst, (socklen_t)dstlen) ? 0 : -1;
}

/* Parse one "addr[/len]" item into an entry. */
static int netset_item(const char *s, size_t len, struct netset_entry *e, char *err, size_t errlen)
{
    const char *slash = memchr(s, '/', len);
    size_t alen = slash ? (size_t)(slash - s) : len;
    unsigned long plen;
    struct netaddr masked;
    int v4;

    if (netaddr_parse(s, alen, &e->net) < 0) {
        snprintf(err, errlen, "\"%.*s\" is not an IPv4 or IPv6 address",
                 (int)(alen > 64 ? 64 : alen), s);
        return -1;
    }
    v4 = netaddr_is_v4(&e->net) && !(alen > 2 && memchr(s, ':', alen));
    if (slash) {
        const char *p = slash + 1;
        char *end;
        char num[8];
        size_t nlen = len - alen - 1;
        if (nlen == 0 || nlen >= sizeof(num)) {
            snprintf(err, errlen, "bad prefix length in \"%.*s\"", (int)(len > 64 ? 64 : len), s);
            return -1;
        }
        memcpy(num, p, nlen);
        num[nlen] = '\0';
        for (size_t i = 0; i < nlen; i++)
            if (!isdigit((unsigned char)num[i])) {
                snprintf(err, errlen, "bad prefix length in \"%.*s\"", (int)(len > 64 ? 64 : len),
                         s);
                return -1;
            }
        plen = strtoul(num, &end, 10);
        if (plen > (v4 ? 32u : 128u)) {
            snprintf(err, errlen, "prefix length too large in \"%.*s\"", (int)(len > 64 ? 64 : len),
                     s);
            return -1;
        }
    } else {
        plen = v4 ? 32 : 128;
    }
    e->prefix = (unsigned)plen + (v4 ? 96 : 0);
    masked = e->net;
    netaddr_mask(&masked, e->prefix);
    if (memcmp(&masked, &e->net, sizeof(masked)) != 0) {
        snprintf(err, errlen, "\"%.*s\" has host bits set beyond the prefix length",
                 (int)(len > 64 ? 64 : len), s);
        return -1;
    }
    return 0;
}

int netset_parse(const char *list, struct netset **out, char *err, size_t errlen)
{
    struct netset *set = calloc(1, sizeof(*set));
    const char *p = list, *start;
    size_t len;

    if (set == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    while ((start = util_list_next(&p, &len)) != NULL) {
        struct netset_entry *ne;

        ne = util_reallocarray(set->e, set->count + 1, sizeof(*ne));
        if (ne == NULL) {
            snprintf(err, errlen, "out of memory");
            netset_free(set);
            return -1;
        }
        set->e = ne;
        if (netset_item(start, len, &set->e[set->count], err, errlen) < 0) {
            netset_free(set);
            return -1;
        }
        set->count++;
    }
    *out = set;
    return 0;
}

int netset_contains_addr(const struct netset *set, const struct netaddr *a)
{
    for (size_t i = 0; set && i < set->count; i++) {
        struct netaddr m = *a;
        netaddr_mask(&m, set->e[i].prefix);
        if (memcmp(&m, &set->e[i].net, sizeof(m)) == 0)
            return 1;
    }
    return 0;
}

int netset_contains(const struct netset *set, const char *addr, size_t len)
{
    struct netaddr a;

    if (netaddr_parse(addr, len, &a) < 0)
        return 0;
    return netset_contains_addr(set, &a);
}

size_t netset_count(const struct netset *set)
{
    return set ? set->count : 0;
}

void netset_free(struct netset *set)
{
    if (set) {
        free(set->e);
        free(set);
    }
}
