/* bench_req.c - realistic, varied Postfix policy requests for the load
 * generator.
 *
 * Public: bench_req_new(), bench_req_free(), bench_req_load_file(),
 * bench_req_load_dir(), bench_req_generate(), bench_req_count(),
 * bench_req_get(), bench_req_mix().
 *
 * The templates are real requests captured from Postfix 3.7.11
 * (tests/bench/data/, copied from the shared fixtures): they give the
 * attribute names, their order (29 attributes, always all of them) and the
 * values that do not matter to the rules (helo_name, client_name, ...). Each
 * generated variant then overwrites the attributes the port rules look at,
 * drawn from fixed pools with fixed weights:
 *
 *   server_port      25 (50 %), 587 (35 %), 465 (15 %); production ports,
 *                    policy_context names the role on 40 % of 587/465
 *   client_address   on-net (127/8, 10/8, 2001:db8:1::/48, ::ffff:10.x) or
 *                    off-net IPv4/IPv6 documentation addresses, ~30 % IPv6
 *   sasl_username    85 % on 587/465, 15 % on 25
 *   encryption       always on 465, 90 % on 587, 65 % on 25
 *   recipient        half in example.edu or a subdomain, half remote
 *                    (including look-alikes such as example.edu.evil.example)
 *   protocol_state   RCPT (75 %) or END-OF-MESSAGE with recipient_count 1-5
 *
 * so one run walks every rule path (auth required, TLS required, relay
 * denied, inbound, filter) in a reproducible proportion.
 *
 * Contract: template files are trusted test data but checked: at most
 * BENCH_REQ_MAX_ATTRS attributes per request and BENCH_REQ_MAX_LINE bytes
 * per line, or the load fails with a message. Never prints or exits.
 */
#include "bench_req.h"

#include <dirent.h>
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BENCH_REQ_MAX_ATTRS 64
#define BENCH_REQ_MAX_LINE 16384
#define BENCH_REQ_MAX_TEMPLATES 1024

struct attr {
    char *name;
    char *value;
};

struct tmpl {
    struct attr attrs[BENCH_REQ_MAX_ATTRS];
    size_t n;
    int eom; /* 1 END-OF-MESSAGE, 0 RCPT, -1 other (not used as template) */
};

struct bench_req_set {
    struct tmpl *tmpls;
    size_t ntmpls;
    char **reqs;
    size_t *lens;
    size_t nreqs;
    struct bench_req_mix mix;
};

/* The values one variant overrides; every field is a NUL-terminated string. */
struct variant {
    char protocol_state[24];
    char client_address[48];
    char client_port[8];
    char server_address[48];
    char server_port[8];
    char sender[64];
    char recipient[64];
    char recipient_count[8];
    char queue_id[16];
    char instance[32];
    char size[16];
    char sasl_method[8];
    char sasl_username[64];
    char encryption_protocol[16];
    char encryption_cipher[48];
    char encryption_keysize[8];
    char policy_context[16];
};

#define VFIELD(f)                                                                                  \
    {                                                                                              \
#f, offsetof(struct variant, f)                                                            \
    }
static const struct {
    const char *name;
    size_t off;
} variant_fields[] = {
    VFIELD(protocol_state),
    VFIELD(client_address),
    VFIELD(client_port),
    VFIELD(server_address),
    VFIELD(server_port),
    VFIELD(sender),
    VFIELD(recipient),
    VFIELD(recipient_count),
    VFIELD(queue_id),
    VFIELD(instance),
    VFIELD(size),
    VFIELD(sasl_method),
    VFIELD(sasl_username),
    VFIELD(encryption_protocol),
    VFIELD(encryption_cipher),
    VFIELD(encryption_keysize),
    VFIELD(policy_context),
};

static const char *const onnet_v4[] = {"127.0.0.1", "10.1.2.3", "10.200.0.2", "10.77.0.19"};
static const char *const onnet_v6[] = {"2001:db8:1::25", "2001:db8:1:4::a", "::ffff:10.9.8.7"};
static const char *const offnet_v4[] = {"192.0.2.10", "198.51.100.77", "203.0.113.5", "100.64.3.2"};
static const char *const offnet_v6[] = {"2001:db8:ff::9", "2001:db8:2::1", "2a01:4f8:1:2::3"};
static const char *const users[] = {"alice@example.edu", "bob@example.edu", "carol",
                                    "dave@mail.example.edu"};
static const char *const local_rcpts[] = {"alice@example.edu", "bob@mail.example.edu",
                                          "Carol@Example.EDU", "postmaster@dept.example.edu"};
static const char *const remote_addrs[] = {"someone@remote.example", "friend@gmail.example",
                                           "x@example.edu.evil.example", "y@notexample.edu"};

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

struct bench_req_set *bench_req_new(void)
{
    return calloc(1, sizeof(struct bench_req_set));
}

void bench_req_free(struct bench_req_set *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->ntmpls; i++)
        for (size_t j = 0; j < s->tmpls[i].n; j++) {
            free(s->tmpls[i].attrs[j].name);
            free(s->tmpls[i].attrs[j].value);
        }
    free(s->tmpls);
    for (size_t i = 0; i < s->nreqs; i++)
        free(s->reqs[i]);
    free(s->reqs);
    free(s->lens);
    free(s);
}

/* Close the request being read (if any) into the template list. */
static int finish_tmpl(struct bench_req_set *s, struct tmpl *cur, char *err, size_t errlen)
{
    if (cur->n == 0)
        return 0;
    if (s->ntmpls >= BENCH_REQ_MAX_TEMPLATES) {
        snprintf(err, errlen, "more than %d template requests", BENCH_REQ_MAX_TEMPLATES);
        return -1;
    }
    struct tmpl *t = realloc(s->tmpls, (s->ntmpls + 1) * sizeof(*t));
    if (t == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    s->tmpls = t;
    cur->eom = -1;
    for (size_t i = 0; i < cur->n; i++)
        if (strcmp(cur->attrs[i].name, "protocol_state") == 0) {
            if (strcmp(cur->attrs[i].value, "RCPT") == 0)
                cur->eom = 0;
            else if (strcmp(cur->attrs[i].value, "END-OF-MESSAGE") == 0)
                cur->eom = 1;
        }
    s->tmpls[s->ntmpls++] = *cur;
    memset(cur, 0, sizeof(*cur));
    return 0;
}

/* Append the attribute in LINE (LEN bytes, no newline) to CUR. */
static int add_attr(struct tmpl *cur, const char *line, size_t len, const char *path, size_t lineno,
                    char *err, size_t errlen)
{
    const char *eq = memchr(line, '=', len);
    if (eq == NULL || eq == line) {
        snprintf(err, errlen, "%s:%zu: not name=value", path, lineno);
        return -1;
    }
    if (cur->n >= BENCH_REQ_MAX_ATTRS) {
        snprintf(err, errlen, "%s:%zu: more than %d attributes", path, lineno, BENCH_REQ_MAX_ATTRS);
        return -1;
    }
    struct attr *a = &cur->attrs[cur->n];
    a->name = strndup(line, (size_t)(eq - line));
    a->value = strndup(eq + 1, len - (size_t)(eq - line) - 1);
    if (a->name == NULL || a->value == NULL) {
        free(a->name);
        free(a->value);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    cur->n++;
    return 0;
}

/* Free the attributes of an unfinished template. */
static void drop_tmpl(struct tmpl *cur)
{
    for (size_t i = 0; i < cur->n; i++) {
        free(cur->attrs[i].name);
        free(cur->attrs[i].value);
    }
    cur->n = 0;
}

int bench_req_load_file(struct bench_req_set *s, const char *path, char *err, size_t errlen)
{
    FILE *fp = fopen(path, "r");
    if (fp == NULL) {
        snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    struct tmpl cur;
    memset(&cur, 0, sizeof(cur));
    char *line = NULL;
    size_t cap = 0, lineno = 0;
    ssize_t got;
    int rc = 0;
    while ((got = getline(&line, &cap, fp)) >= 0) {
        size_t len = (size_t)got;
        lineno++;
        if (len > 0 && line[len - 1] == '\n')
            len--;
        if (len > BENCH_REQ_MAX_LINE) {
            snprintf(err, errlen, "%s:%zu: line longer than %d", path, lineno, BENCH_REQ_MAX_LINE);
            rc = -1;
            break;
        }
        if (len > 0 && line[0] == '#')
            continue;
        rc = len == 0 ? finish_tmpl(s, &cur, err, errlen)
                      : add_attr(&cur, line, len, path, lineno, err, errlen);
        if (rc != 0)
            break;
    }
    if (rc == 0)
        rc = finish_tmpl(s, &cur, err, errlen);
    drop_tmpl(&cur);
    free(line);
    fclose(fp);
    return rc;
}

/* scandir() filter: names ending in ".txt". */
static int is_txt(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 4 && strcmp(d->d_name + n - 4, ".txt") == 0;
}

int bench_req_load_dir(struct bench_req_set *s, const char *dir, char *err, size_t errlen)
{
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_txt, alphasort);
    if (n < 0) {
        snprintf(err, errlen, "%s: %s", dir, strerror(errno));
        return -1;
    }
    int rc = 0;
    for (int i = 0; i < n; i++) {
        char path[4096];
        int w = snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
        if (rc == 0 && (w < 0 || (size_t)w >= sizeof(path))) {
            snprintf(err, errlen, "path too long in %s", dir);
            rc = -1;
        }
        if (rc == 0)
            rc = bench_req_load_file(s, path, err, errlen);
        free(names[i]);
    }
    free(names);
    if (rc == 0 && n == 0) {
        snprintf(err, errlen, "%s: no *.txt request files", dir);
        rc = -1;
    }
    return rc;
}

/* xorshift64* step: a fixed, portable sequence for a given seed. */
static uint64_t rnd(uint64_t *st)
{
    *st ^= *st >> 12;
    *st ^= *st << 25;
    *st ^= *st >> 27;
    return *st * 0x2545F4914F6CDD1DULL;
}

/* True with probability PCT percent. */
static int chance(uint64_t *st, unsigned pct)
{
    return rnd(st) % 100u < pct;
}

/* Copy SRC into DST (size DSTLEN), which is sized for every pool entry. */
static void put(char *dst, size_t dstlen, const char *src)
{
    int n = snprintf(dst, dstlen, "%s", src);
    (void)n; /* pools are fixed and fit; a truncation would only shorten a value */
}

/* Draw the overridden values for one variant and count it in MIX. */
static int draw_variant(struct variant *v, uint64_t *st, struct bench_req_mix *mix)
{
    memset(v, 0, sizeof(*v));
    unsigned r = (unsigned)(rnd(st) % 100u);
    int port = r < 50 ? 25 : (r < 85 ? 587 : 465);
    snprintf(v->server_port, sizeof(v->server_port), "%d", port);
    int submission = port != 25;
    if (submission && chance(st, 40)) {
        put(v->policy_context, sizeof(v->policy_context),
            port == 587 ? "submission" : "submissions");
        mix->with_context++;
    }
    mix->port25 += port == 25;
    mix->port587 += port == 587;
    mix->port465 += port == 465;

    int onnet = chance(st, 40), v6 = chance(st, 30);
    const char *addr =
        onnet
            ? (v6 ? onnet_v6[rnd(st) % NELEM(onnet_v6)] : onnet_v4[rnd(st) % NELEM(onnet_v4)])
            : (v6 ? offnet_v6[rnd(st) % NELEM(offnet_v6)] : offnet_v4[rnd(st) % NELEM(offnet_v4)]);
    put(v->client_address, sizeof(v->client_address), addr);
    put(v->server_address, sizeof(v->server_address), v6 ? "::1" : "127.0.0.1");
    snprintf(v->client_port, sizeof(v->client_port), "%u", (unsigned)(1024 + rnd(st) % 64000));
    mix->onnet += (size_t)onnet;
    mix->ipv6 += (size_t)v6;

    int authed = chance(st, submission ? 85 : 15);
    int tls = port == 465 || chance(st, port == 587 ? 90 : 65);
    if (authed) {
        const char *u = users[rnd(st) % NELEM(users)];
        put(v->sasl_method, sizeof(v->sasl_method), chance(st, 70) ? "PLAIN" : "LOGIN");
        put(v->sasl_username, sizeof(v->sasl_username), u);
        put(v->sender, sizeof(v->sender), strchr(u, '@') ? u : "carol@example.edu");
    } else {
        put(v->sender, sizeof(v->sender),
            chance(st, 30) ? local_rcpts[rnd(st) % NELEM(local_rcpts)]
                           : remote_addrs[rnd(st) % NELEM(remote_addrs)]);
    }
    if (tls) {
        int v13 = chance(st, 80);
        put(v->encryption_protocol, sizeof(v->encryption_protocol), v13 ? "TLSv1.3" : "TLSv1.2");
        put(v->encryption_cipher, sizeof(v->encryption_cipher),
            v13 ? "TLS_AES_256_GCM_SHA384" : "ECDHE-RSA-AES256-GCM-SHA384");
        put(v->encryption_keysize, sizeof(v->encryption_keysize), "256");
    } else {
        put(v->encryption_keysize, sizeof(v->encryption_keysize), "0");
    }
    mix->authed += (size_t)authed;
    mix->tls += (size_t)tls;

    int local = chance(st, 50);
    put(v->recipient, sizeof(v->recipient),
        local ? local_rcpts[rnd(st) % NELEM(local_rcpts)]
              : remote_addrs[rnd(st) % NELEM(remote_addrs)]);
    mix->local_rcpt += (size_t)local;

    int eom = chance(st, 25);
    uint64_t id = rnd(st);
    snprintf(v->instance, sizeof(v->instance), "%x.%08x.%x.0", (unsigned)(id & 0xffff),
             (unsigned)(id >> 16), (unsigned)(id >> 48));
    if (eom) {
        unsigned rcpts = 1u + (unsigned)(rnd(st) % 5u);
        put(v->protocol_state, sizeof(v->protocol_state), "END-OF-MESSAGE");
        snprintf(v->recipient_count, sizeof(v->recipient_count), "%u", rcpts);
        if (rcpts > 1) /* Postfix sends recipient at EOM only for one recipient */
            v->recipient[0] = '\0';
        snprintf(v->size, sizeof(v->size), "%u", (unsigned)(300 + rnd(st) % 200000));
        snprintf(v->queue_id, sizeof(v->queue_id), "%010llX",
                 (unsigned long long)(rnd(st) & 0xffffffffffULL));
    } else {
        put(v->protocol_state, sizeof(v->protocol_state), "RCPT");
        put(v->recipient_count, sizeof(v->recipient_count), "0");
        put(v->size, sizeof(v->size), "0");
        if (chance(st, 50)) /* empty on the first RCPT of a transaction */
            snprintf(v->queue_id, sizeof(v->queue_id), "%010llX",
                     (unsigned long long)(rnd(st) & 0xffffffffffULL));
    }
    mix->eom += (size_t)eom;
    mix->total++;
    return eom;
}

/* Overridden value of attribute NAME in V, or NULL to keep the template's. */
static const char * override(const struct variant *v, const char *name)
{
    for (size_t i = 0; i < NELEM(variant_fields); i++)
        if (strcmp(variant_fields[i].name, name) == 0)
            return (const char *)v + variant_fields[i].off;
    return NULL;
}

/* Serialise template T with V's values into a new wire-format string. */
static char *render(const struct tmpl *t, const struct variant *v, size_t *len)
{
    size_t need = 2;
    for (size_t i = 0; i < t->n; i++) {
        const char *val = override(v, t->attrs[i].name);
        need += strlen(t->attrs[i].name) + 2 + strlen(val ? val : t->attrs[i].value);
    }
    char *buf = malloc(need);
    if (buf == NULL)
        return NULL;
    size_t off = 0;
    for (size_t i = 0; i < t->n; i++) {
        const char *val = override(v, t->attrs[i].name);
        int w = snprintf(buf + off, need - off, "%s=%s\n", t->attrs[i].name,
                         val ? val : t->attrs[i].value);
        if (w < 0 || (size_t)w >= need - off) {
            free(buf);
            return NULL;
        }
        off += (size_t)w;
    }
    buf[off++] = '\n';
    buf[off] = '\0';
    *len = off;
    return buf;
}

int bench_req_generate(struct bench_req_set *s, size_t count, uint64_t seed, char *err,
                       size_t errlen)
{
    size_t by_state[2] = {0, 0};
    for (size_t i = 0; i < s->ntmpls; i++)
        if (s->tmpls[i].eom >= 0)
            by_state[s->tmpls[i].eom]++;
    if (by_state[0] == 0 || by_state[1] == 0) {
        snprintf(err, errlen,
                 "need at least one RCPT and one END-OF-MESSAGE template, have %zu and %zu",
                 by_state[0], by_state[1]);
        return -1;
    }
    if (count == 0 || count > SIZE_MAX / sizeof(char *)) {
        snprintf(err, errlen, "bad variant count %zu", count);
        return -1;
    }
    s->reqs = calloc(count, sizeof(char *));
    s->lens = calloc(count, sizeof(size_t));
    if (s->reqs == NULL || s->lens == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    uint64_t st = seed != 0 ? seed : 0x9E3779B97F4A7C15ULL;
    for (size_t i = 0; i < count; i++) {
        struct variant v;
        int eom = draw_variant(&v, &st, &s->mix);
        /* pick the k-th template of the wanted state */
        size_t k = (size_t)(rnd(&st) % by_state[eom]), j = 0;
        for (; j < s->ntmpls; j++)
            if (s->tmpls[j].eom == eom && k-- == 0)
                break;
        s->reqs[i] = render(&s->tmpls[j], &v, &s->lens[i]);
        if (s->reqs[i] == NULL) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        s->nreqs++;
    }
    return 0;
}

size_t bench_req_count(const struct bench_req_set *s)
{
    return s->nreqs;
}

const char *bench_req_get(const struct bench_req_set *s, size_t i, size_t *len)
{
    *len = s->lens[i];
    return s->reqs[i];
}

void bench_req_mix(const struct bench_req_set *s, struct bench_req_mix *mix)
{
    *mix = s->mix;
}
