/*
 * fixture.c - Postfix capture files for tests (see fixture.h).
 */
#include "fixture.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Test code: out of memory or a missing file ends the test program. */
static void fixture_die(const char *what, const char *arg)
{
    fprintf(stderr, "fixture: %s: %s\n", what, arg);
    abort();
}

static void *fixture_alloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);

    if (q == NULL)
        fixture_die("out of memory", "");
    return q;
}

static char *fixture_dup(const char *s, size_t n)
{
    char *d = fixture_alloc(NULL, n + 1);

    memcpy(d, s, n);
    d[n] = '\0';
    return d;
}

static int fixture_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

char **fixture_list(const char *dir, size_t *n)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char **list = NULL;

    *n = 0;
    if (d == NULL)
        fixture_die("cannot open directory", dir);
    while ((e = readdir(d)) != NULL) {
        size_t l = strlen(e->d_name);
        if (l < 5 || strcmp(e->d_name + l - 4, ".txt") != 0)
            continue;
        list = fixture_alloc(list, (*n + 1) * sizeof(*list));
        list[*n] = fixture_alloc(NULL, strlen(dir) + l + 2);
        snprintf(list[*n], strlen(dir) + l + 2, "%s/%s", dir, e->d_name);
        (*n)++;
    }
    closedir(d);
    qsort(list, *n, sizeof(*list), fixture_cmp);
    return list;
}

void fixture_list_free(char **list, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
}

char *fixture_slurp(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    char *buf = NULL;
    size_t cap = 0, n;

    if (fp == NULL)
        fixture_die("cannot open", path);
    *len = 0;
    do {
        if (cap - *len < 4096) {
            cap = cap ? cap * 2 : 8192;
            buf = fixture_alloc(buf, cap + 1);
        }
        n = fread(buf + *len, 1, cap - *len, fp);
        *len += n;
    } while (n > 0);
    fclose(fp);
    buf[*len] = '\0';
    return buf;
}

void fixture_load(const char *path, struct fixture_file *f)
{
    size_t len, i = 0;
    char *text = fixture_slurp(path, &len);
    struct fixture_req *cur = NULL;

    memset(f, 0, sizeof(*f));
    f->path = fixture_dup(path, strlen(path));
    f->wire = fixture_alloc(NULL, len + 1);
    while (i < len) {
        const char *line = text + i;
        const char *nl = memchr(line, '\n', len - i);
        size_t l = nl ? (size_t)(nl - line) : len - i;
        size_t next = i + l + (nl ? 1 : 0);

        i = next;
        if (l > 0 && line[0] == '#')
            continue;
        memcpy(f->wire + f->wire_len, line, l);
        f->wire_len += l;
        if (nl)
            f->wire[f->wire_len++] = '\n';
        if (l == 0) {
            if (cur) {
                cur->bytes++;
                cur = NULL;
            }
            continue;
        }
        if (cur == NULL) {
            f->req = fixture_alloc(f->req, (f->nreq + 1) * sizeof(*f->req));
            cur = &f->req[f->nreq++];
            memset(cur, 0, sizeof(*cur));
        }
        cur->bytes += l + 1;
        {
            const char *eq = memchr(line, '=', l);
            struct fixture_attr *a;
            cur->attr = fixture_alloc(cur->attr, (cur->nattr + 1) * sizeof(*cur->attr));
            a = &cur->attr[cur->nattr++];
            if (eq) {
                a->name = fixture_dup(line, (size_t)(eq - line));
                a->value = fixture_dup(eq + 1, l - (size_t)(eq + 1 - line));
            } else {
                a->name = fixture_dup(line, l);
                a->value = NULL; /* not a name=value line (an attribute list) */
            }
        }
    }
    f->wire[f->wire_len] = '\0';
    free(text);
}

void fixture_free(struct fixture_file *f)
{
    for (size_t r = 0; r < f->nreq; r++) {
        for (size_t a = 0; a < f->req[r].nattr; a++) {
            free(f->req[r].attr[a].name);
            free(f->req[r].attr[a].value);
        }
        free(f->req[r].attr);
    }
    free(f->req);
    free(f->wire);
    free(f->path);
    memset(f, 0, sizeof(*f));
}

const char *fixture_value(const struct fixture_req *r, const char *name)
{
    for (size_t a = 0; a < r->nattr; a++)
        if (strcmp(r->attr[a].name, name) == 0)
            return r->attr[a].value;
    return NULL;
}

void fixture_set(struct fixture_copy *c, enum proto_attr a, const char *value)
{
    free(c->val[a]);
    c->val[a] = fixture_dup(value, strlen(value));
    c->r.v[a].ptr = c->val[a];
    c->r.v[a].len = strlen(value);
    c->r.present |= 1ULL << a;
}

void fixture_set_lines(struct fixture_copy *c, const char *lines)
{
    const char *p = lines;

    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        const char *eq = memchr(p, '=', l);
        enum proto_attr a;
        char *v;

        if (eq == NULL)
            fixture_die("override without '='", p);
        a = proto_attr_lookup(p, (size_t)(eq - p));
        if (a == PA_COUNT)
            fixture_die("override of an attribute the parser does not know", p);
        v = fixture_dup(eq + 1, l - (size_t)(eq + 1 - p));
        fixture_set(c, a, v);
        free(v);
        p = nl ? nl + 1 : NULL;
    }
}

void fixture_request(const char *path, const char *state, struct fixture_copy *out)
{
    static const struct proto_limits lim = {16384, 256, 65536};
    struct fixture_file f;
    struct proto *p = proto_new(&lim);
    struct proto_request req;
    int found = 0;

    memset(out, 0, sizeof(*out));
    fixture_load(path, &f);
    if (p == NULL || proto_feed(p, f.wire, f.wire_len) != PROTO_AGAIN)
        fixture_die("parser refused the capture", path);
    while (!found && proto_next(p, &req) == PROTO_REQUEST) {
        if (strcmp(proto_get(&req, PA_PROTOCOL_STATE), state) != 0)
            continue;
        out->r = req;
        for (int a = 0; a < PA_COUNT; a++) {
            out->val[a] = fixture_dup(req.v[a].ptr, req.v[a].len);
            out->r.v[a].ptr = out->val[a];
        }
        found = 1;
    }
    proto_free(p);
    fixture_free(&f);
    if (!found)
        fixture_die("no request in this state in the capture", path);
}

void fixture_copy_free(struct fixture_copy *c)
{
    for (int a = 0; a < PA_COUNT; a++)
        free(c->val[a]);
    memset(c, 0, sizeof(*c));
}

char *fixture_tmpfile(const char *text)
{
    const char *dir = getenv("TMPDIR");
    char *path;
    size_t n;
    int fd;
    size_t len = strlen(text);

    if (dir == NULL || dir[0] == '\0')
        dir = "/tmp";
    n = strlen(dir) + 32;
    path = fixture_alloc(NULL, n);
    snprintf(path, n, "%s/portreeve-test-XXXXXX", dir);
    fd = mkstemp(path);
    if (fd < 0)
        fixture_die("mkstemp failed in", dir);
    if (write(fd, text, len) != (ssize_t)len)
        fixture_die("short write to", path);
    close(fd);
    return path;
}
