/*
 * domains.c - local domain matching (see domains.h).
 *
 * Entries are kept lower-cased and sorted; a lookup is one binary search for
 * the exact name plus one per parent domain (".b.c", ".c") for the wildcard
 * entries, so the cost grows with the labels of the address, not the list.
 */
#include "domains.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

struct domains {
    char **name; /* sorted; wildcard entries keep their leading dot */
    size_t count;
};

static int domains_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Is s a plausible domain (labels of letters, digits, '-', '_')? */
static int domains_valid(const char *s, size_t len)
{
    size_t label = 0;

    if (len == 0 || len > 253)
        return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '.') {
            if (label == 0)
                return 0;
            label = 0;
        } else if (isalnum(c) || c == '-' || c == '_' || c >= 0x80) {
            if (++label > 63)
                return 0;
        } else {
            return 0;
        }
    }
    return label > 0;
}

int domains_parse(const char *list, struct domains **out, char *err, size_t errlen)
{
    struct domains *d = calloc(1, sizeof(*d));
    const char *p = list, *s;
    size_t len;

    if (d == NULL)
        goto oom;
    while ((s = util_list_next(&p, &len)) != NULL) {
        size_t i;
        char **nn, *copy;

        if (len > 1 && s[len - 1] == '.')
            len--;
        if (!domains_valid(s[0] == '.' ? s + 1 : s, s[0] == '.' ? len - 1 : len)) {
            snprintf(err, errlen, "\"%.*s\" is not a domain name", (int)(len > 64 ? 64 : len), s);
            domains_free(d);
            return -1;
        }
        nn = util_reallocarray(d->name, d->count + 1, sizeof(*nn));
        if (nn == NULL)
            goto oom;
        d->name = nn;
        copy = util_strndup(s, len);
        if (copy == NULL)
            goto oom;
        for (i = 0; i < len; i++)
            copy[i] = (char)tolower((unsigned char)copy[i]);
        d->name[d->count++] = copy;
    }
    if (d->count > 1) /* qsort(NULL, 0, ...) is undefined (UBSan) */
        qsort(d->name, d->count, sizeof(*d->name), domains_cmp);
    *out = d;
    return 0;
oom:
    snprintf(err, errlen, "out of memory");
    domains_free(d);
    return -1;
}

/* Binary search for an exact (already lower-cased) key. */
static int domains_has(const struct domains *d, const char *key)
{
    return d->count > 0 && bsearch(&key, d->name, d->count, sizeof(*d->name), domains_cmp) != NULL;
}

int domains_match(const struct domains *d, const char *domain, size_t len)
{
    char key[256];

    if (d == NULL || d->count == 0)
        return 0;
    if (len && domain[len - 1] == '.')
        len--;
    if (len == 0 || len >= sizeof(key))
        return 0;
    for (size_t i = 0; i < len; i++)
        key[i] = (char)tolower((unsigned char)domain[i]);
    key[len] = '\0';
    if (memchr(key, '\0', len))
        return 0;
    if (domains_has(d, key))
        return 1;
    /* Parent domains, for ".example.edu" entries: ".b.c", then ".c". */
    for (char *dot = strchr(key + 1, '.'); dot; dot = strchr(dot + 1, '.'))
        if (domains_has(d, dot))
            return 1;
    return 0;
}

int domains_match_address(const struct domains *d, const char *addr, size_t len)
{
    const char *at = NULL;

    for (size_t i = len; i > 0; i--)
        if (addr[i - 1] == '@') {
            at = addr + i - 1;
            break;
        }
    if (at == NULL)
        return 1; /* bare local part: Postfix appends a local domain */
    return domains_match(d, at + 1, len - (size_t)(at + 1 - addr));
}

size_t domains_count(const struct domains *d)
{
    return d ? d->count : 0;
}

void domains_free(struct domains *d)
{
    if (d) {
        for (size_t i = 0; i < d->count; i++)
            free(d->name[i]);
        free(d->name);
        free(d);
    }
}
