/*
 * netset - IPv4 and IPv6 CIDR lists ("127.0.0.0/8, [::1]/128, 10.1.2.3").
 *
 * Addresses are held as 16-byte IPv6; IPv4 is stored IPv4-mapped
 * (::ffff:a.b.c.d) so that a client reported as ::ffff:192.0.2.1 matches
 * the entry 192.0.2.0/24 and the other way round. List items are separated
 * by commas and/or white space; IPv6 may be written in brackets as in
 * Postfix ("[2001:db8::]/32"). Host bits set under the mask are an error,
 * as in Postfix, because they usually mean a typo. Library-safe.
 */
#ifndef PORTREEVE_NETSET_H
#define PORTREEVE_NETSET_H

#include <stddef.h>
#include <stdint.h>

struct netaddr {
    uint8_t a[16];
};

struct netset;

/* Parse one address ("192.0.2.1", "2001:db8::1", "[::1]"); 0 or -1. */
int netaddr_parse(const char *s, size_t len, struct netaddr *out);
/* Is the address an IPv4 (or IPv4-mapped) one? */
int netaddr_is_v4(const struct netaddr *a);
/* Write the address with the host bits beyond the prefix cleared, as text
 * ("192.0.2.0" or "2001:db8:1:2::"); prefix counts within the family. */
int netaddr_prefix_text(const struct netaddr *a, unsigned prefix, char *dst, size_t dstlen);

/* Parse a list; an empty list is valid and matches nothing. */
int netset_parse(const char *list, struct netset **out, char *err, size_t errlen);
/* 1 if the address (as Postfix sends it) is in the set, else 0. */
int netset_contains(const struct netset *set, const char *addr, size_t len);
int netset_contains_addr(const struct netset *set, const struct netaddr *a);
size_t netset_count(const struct netset *set);
void netset_free(struct netset *set);

#endif
