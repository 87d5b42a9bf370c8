/*
 * conf.c - portreeve.conf reader (see conf.h for the contract).
 *
 * Syntax, as Postfix main.cf:
 *   - "#" starts a comment only at the start of a line (after white space);
 *     "x = yes # no" sets x to "yes # no", exactly as Postfix does.
 *   - a line that starts with white space continues the previous logical
 *     line; the joint becomes one space.
 *   - white space around the name and the value is removed.
 * Limits: a logical line is at most CONF_LINE_MAX bytes; NUL bytes are
 * refused. Duplicate names: the last one wins, as in main.cf.
 */
#include "conf.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* Format an error message into err. */
static int conf_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int conf_fail(char *err, size_t errlen, const char *fmt, ...)
{
    va_list ap;

    if (err && errlen) {
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* Append a name/value pair to the file image. */
static int conf_add(struct conf_file *out, const char *line, size_t len, unsigned lineno,
                    const char *name, char *err, size_t errlen)
{
    const char *eq = memchr(line, '=', len);
    const char *ns, *ne, *vs, *ve;
    struct conf_kv *kv;
    size_t i;

    if (eq == NULL)
        return conf_fail(err, errlen, "%s:%u: missing '=' in \"%.*s\"", name, lineno,
                         (int)(len > 60 ? 60 : len), line);
    ns = line;
    ne = eq;
    while (ne > ns && isspace((unsigned char)ne[-1]))
        ne--;
    vs = eq + 1;
    ve = line + len;
    while (vs < ve && isspace((unsigned char)*vs))
        vs++;
    while (ve > vs && isspace((unsigned char)ve[-1]))
        ve--;
    if (ne == ns)
        return conf_fail(err, errlen, "%s:%u: missing parameter name before '='", name, lineno);
    for (const char *p = ns; p < ne; p++)
        if (!(isalnum((unsigned char)*p) || *p == '_'))
            return conf_fail(err, errlen, "%s:%u: bad parameter name \"%.*s\"", name, lineno,
                             (int)(ne - ns > 60 ? 60 : ne - ns), ns);
    /* Last one wins: replace an earlier value in place. */
    for (i = 0; i < out->count; i++) {
        if (strlen(out->kv[i].name) == (size_t)(ne - ns) &&
            memcmp(out->kv[i].name, ns, (size_t)(ne - ns)) == 0) {
            char *v = util_strndup(vs, (size_t)(ve - vs));
            if (v == NULL)
                return conf_fail(err, errlen, "out of memory");
            free(out->kv[i].value);
            out->kv[i].value = v;
            out->kv[i].line = lineno;
            return 0;
        }
    }
    kv = util_reallocarray(out->kv, out->count + 1, sizeof(*kv));
    if (kv == NULL)
        return conf_fail(err, errlen, "out of memory");
    out->kv = kv;
    kv = &out->kv[out->count];
    kv->name = util_strndup(ns, (size_t)(ne - ns));
    kv->value = util_strndup(vs, (size_t)(ve - vs));
    kv->line = lineno;
    if (kv->name == NULL || kv->value == NULL) {
        free(kv->name);
        free(kv->value);
        return conf_fail(err, errlen, "out of memory");
    }
    out->count++;
    return 0;
}

/* Is this physical line blank or a comment? */
static int conf_is_blank(const char *s, size_t len)
{
    size_t i = 0;

    while (i < len && isspace((unsigned char)s[i]))
        i++;
    return i == len || s[i] == '#';
}

int conf_file_parse(const char *name, const char *text, size_t len, struct conf_file *out,
                    char *err, size_t errlen)
{
    char *logical = NULL;
    size_t llen = 0;
    unsigned lineno = 0, lstart = 0;
    const char *p = text, *end = text + len;

    memset(out, 0, sizeof(*out));
    out->path = util_strdup(name);
    logical = malloc(CONF_LINE_MAX + 1);
    if (out->path == NULL || logical == NULL) {
        free(logical);
        conf_file_free(out);
        return conf_fail(err, errlen, "out of memory");
    }
    if (memchr(text, '\0', len) != NULL) {
        free(logical);
        conf_file_free(out);
        return conf_fail(err, errlen, "%s: file contains a NUL byte", name);
    }
    while (p < end) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t plen = nl ? (size_t)(nl - p) : (size_t)(end - p);

        lineno++;
        if (plen && p[plen - 1] == '\r')
            plen--;
        if (conf_is_blank(p, plen)) {
            /* Blank and comment lines do not end a logical line in main.cf. */
        } else if (isspace((unsigned char)p[0])) {
            size_t skip = 0;
            if (llen == 0) {
                free(logical);
                conf_file_free(out);
                return conf_fail(err, errlen, "%s:%u: continuation line without a parameter", name,
                                 lineno);
            }
            while (skip < plen && isspace((unsigned char)p[skip]))
                skip++;
            if (llen + 1 + plen - skip > CONF_LINE_MAX) {
                free(logical);
                conf_file_free(out);
                return conf_fail(err, errlen, "%s:%u: line longer than %d bytes", name, lineno,
                                 CONF_LINE_MAX);
            }
            logical[llen++] = ' ';
            memcpy(logical + llen, p + skip, plen - skip);
            llen += plen - skip;
        } else {
            if (llen && conf_add(out, logical, llen, lstart, name, err, errlen) < 0) {
                free(logical);
                conf_file_free(out);
                return -1;
            }
            if (plen > CONF_LINE_MAX) {
                free(logical);
                conf_file_free(out);
                return conf_fail(err, errlen, "%s:%u: line longer than %d bytes", name, lineno,
                                 CONF_LINE_MAX);
            }
            memcpy(logical, p, plen);
            llen = plen;
            lstart = lineno;
        }
        p = nl ? nl + 1 : end;
    }
    if (llen && conf_add(out, logical, llen, lstart, name, err, errlen) < 0) {
        free(logical);
        conf_file_free(out);
        return -1;
    }
    free(logical);
    return 0;
}

int conf_file_read(const char *path, struct conf_file *out, char *err, size_t errlen)
{
    size_t len;
    char *buf = util_read_file(path, (size_t)16 << 20, &len);
    int rc;

    memset(out, 0, sizeof(*out));
    if (buf == NULL) {
        if (errno == EFBIG)
            return conf_fail(err, errlen, "%s: file larger than 16 MiB", path);
        return conf_fail(err, errlen, "%s: %s", path, strerror(errno));
    }
    rc = conf_file_parse(path, buf, len, out, err, errlen);
    free(buf);
    return rc;
}

void conf_file_free(struct conf_file *f)
{
    for (size_t i = 0; i < f->count; i++) {
        free(f->kv[i].name);
        free(f->kv[i].value);
    }
    free(f->kv);
    free(f->path);
    memset(f, 0, sizeof(*f));
}

const char *conf_file_get(const struct conf_file *f, const char *name)
{
    for (size_t i = 0; f && i < f->count; i++)
        if (strcmp(f->kv[i].name, name) == 0)
            return f->kv[i].value;
    return NULL;
}

int conf_parse_time(const char *v, long long *ms)
{
    char *end;
    long long n, mult;

    if (!isdigit((unsigned char)v[0]))
        return -1;
    errno = 0;
    n = strtoll(v, &end, 10);
    if (errno)
        return -1;
    if (strcmp(end, "") == 0 || strcmp(end, "s") == 0)
        mult = 1000;
    else if (strcmp(end, "ms") == 0)
        mult = 1;
    else if (strcmp(end, "m") == 0)
        mult = 60000;
    else if (strcmp(end, "h") == 0)
        mult = 3600000;
    else if (strcmp(end, "d") == 0)
        mult = 86400000;
    else if (strcmp(end, "w") == 0)
        mult = 604800000;
    else
        return -1;
    if (n > INT64_MAX / mult)
        return -1;
    *ms = n * mult;
    return 0;
}

int conf_parse_value(const struct conf_entry *e, const char *value, void *slot, char *err,
                     size_t errlen)
{
    char *end;
    long long n;

    switch (e->type) {
    case CONF_STR: {
        char *s = util_strdup(value);
        if (s == NULL)
            return conf_fail(err, errlen, "out of memory");
        free(*(char **)slot);
        *(char **)slot = s;
        break;
    }
    case CONF_INT:
        errno = 0;
        n = strtoll(value, &end, 10);
        if (value[0] == '\0' || *end != '\0' || errno)
            return conf_fail(err, errlen, "%s = %s: not an integer", e->name, value);
        if (n < e->min || n > e->max)
            return conf_fail(err, errlen, "%s = %s: out of range %lld..%lld", e->name, value,
                             e->min, e->max);
        *(long long *)slot = n;
        break;
    case CONF_TIME:
        if (conf_parse_time(value, &n) < 0)
            return conf_fail(err, errlen,
                             "%s = %s: not a time (want a number with ms, s, m, h, d or w)",
                             e->name, value);
        if (n < e->min || n > e->max)
            return conf_fail(err, errlen, "%s = %s: out of range %lldms..%lldms", e->name, value,
                             e->min, e->max);
        *(long long *)slot = n;
        break;
    case CONF_BOOL:
        if (!strcasecmp(value, "yes") || !strcasecmp(value, "true") || !strcmp(value, "1") ||
            !strcasecmp(value, "on"))
            *(int *)slot = 1;
        else if (!strcasecmp(value, "no") || !strcasecmp(value, "false") || !strcmp(value, "0") ||
                 !strcasecmp(value, "off"))
            *(int *)slot = 0;
        else
            return conf_fail(err, errlen, "%s = %s: want yes or no", e->name, value);
        break;
    case CONF_MODE:
        errno = 0;
        n = strtoll(value, &end, 8);
        if (value[0] == '\0' || *end != '\0' || errno || n < 0 || n > 07777)
            return conf_fail(err, errlen, "%s = %s: not an octal file mode", e->name, value);
        *(unsigned *)slot = (unsigned)n;
        break;
    }
    if (e->check) {
        char why[CONF_ERR_LEN] = "";
        if (e->check(e, value, why, sizeof(why)) < 0)
            return conf_fail(err, errlen, "%s = %s: %s", e->name, value, why);
    }
    return 0;
}

/* Find an entry by name across sections. */
static const struct conf_entry *conf_find(const struct conf_section *sections, size_t nsections,
                                          const char *name, size_t *which)
{
    for (size_t s = 0; s < nsections; s++)
        for (size_t i = 0; i < sections[s].count; i++)
            if (strcmp(sections[s].entries[i].name, name) == 0) {
                *which = s;
                return &sections[s].entries[i];
            }
    return NULL;
}

/* Does a name belong to the other daemon? */
static int conf_is_foreign(const char *name, const char *const *prefixes)
{
    for (size_t i = 0; prefixes && prefixes[i]; i++)
        if (strncmp(name, prefixes[i], strlen(prefixes[i])) == 0)
            return 1;
    return 0;
}

int conf_apply(const struct conf_file *f, const struct conf_section *sections, size_t nsections,
               const char *const *foreign_prefixes, char *err, size_t errlen)
{
    for (size_t s = 0; s < nsections; s++) {
        for (size_t i = 0; i < sections[s].count; i++) {
            const struct conf_entry *e = &sections[s].entries[i];
            void *slot = (char *)sections[s].target + e->offset;
            if (e->type == CONF_STR)
                *(char **)slot = NULL;
            if (conf_parse_value(e, e->def, slot, err, errlen) < 0)
                return -1; /* a broken built-in default is a bug; report it anyway */
        }
    }
    for (size_t k = 0; f && k < f->count; k++) {
        const struct conf_kv *kv = &f->kv[k];
        size_t which;
        const struct conf_entry *e = conf_find(sections, nsections, kv->name, &which);
        char why[CONF_ERR_LEN];

        if (e == NULL) {
            if (conf_is_foreign(kv->name, foreign_prefixes))
                continue;
            return conf_fail(err, errlen, "%s:%u: unknown parameter \"%s\"", f->path, kv->line,
                             kv->name);
        }
        if (conf_parse_value(e, kv->value, (char *)sections[which].target + e->offset, why,
                             sizeof(why)) < 0)
            return conf_fail(err, errlen, "%s:%u: %s", f->path, kv->line, why);
    }
    return 0;
}

void conf_section_free(const struct conf_section *s)
{
    for (size_t i = 0; i < s->count; i++) {
        if (s->entries[i].type == CONF_STR) {
            char **slot = (char **)((char *)s->target + s->entries[i].offset);
            free(*slot);
            *slot = NULL;
        }
    }
}

void conf_print_defaults(FILE *fp, const struct conf_section *sections, size_t nsections)
{
    for (size_t s = 0; s < nsections; s++)
        for (size_t i = 0; i < sections[s].count; i++) {
            const struct conf_entry *e = &sections[s].entries[i];
            fprintf(fp, "%s = %s\n", e->name, e->def);
        }
}

/* Do two textual values of an entry mean the same thing? */
static int conf_same_value(const struct conf_entry *e, const char *a, const char *b)
{
    union {
        char *s;
        long long n;
        int b;
        unsigned m;
    } va, vb;
    char err[CONF_ERR_LEN];
    int same;

    memset(&va, 0, sizeof(va));
    memset(&vb, 0, sizeof(vb));
    if (e->type == CONF_STR)
        return strcmp(a, b) == 0;
    if (conf_parse_value(e, a, &va, err, sizeof(err)) < 0 ||
        conf_parse_value(e, b, &vb, err, sizeof(err)) < 0)
        return 0;
    switch (e->type) {
    case CONF_BOOL:
        same = va.b == vb.b;
        break;
    case CONF_MODE:
        same = va.m == vb.m;
        break;
    default:
        same = va.n == vb.n;
        break;
    }
    return same;
}

void conf_print_nondefault(FILE *fp, const struct conf_file *f, const struct conf_section *sections,
                           size_t nsections)
{
    for (size_t k = 0; f && k < f->count; k++) {
        size_t which;
        const struct conf_entry *e = conf_find(sections, nsections, f->kv[k].name, &which);
        if (e && !conf_same_value(e, e->def, f->kv[k].value))
            fprintf(fp, "%s = %s\n", e->name, f->kv[k].value);
    }
}
