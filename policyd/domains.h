/*
 * domains - the local domain list: "example.edu" matches exactly,
 * ".example.edu" matches every subdomain of example.edu (as Postfix's
 * parent_domain_matches_subdomains; list both to match both). Matching
 * is case-insensitive and ignores one trailing dot.
 */
#ifndef PORTREEVE_DOMAINS_H
#define PORTREEVE_DOMAINS_H

#include <stddef.h>

struct domains;

int domains_parse(const char *list, struct domains **out, char *err, size_t errlen);
/* 1 if the domain is local. */
int domains_match(const struct domains *d, const char *domain, size_t len);
/* 1 if the address (local@domain, or a bare local part) is in a local
 * domain. A bare local part ("postmaster") counts as local, as in Postfix. */
int domains_match_address(const struct domains *d, const char *addr, size_t len);
size_t domains_count(const struct domains *d);
void domains_free(struct domains *d);

#endif
