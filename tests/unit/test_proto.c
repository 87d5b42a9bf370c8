/*
 * test_proto.c - the policy protocol parser (policyd/proto.c).
 *
 * Real requests first: every capture of Postfix 3.7.11 in tests/data must
 * parse to the values an independent reading of the same bytes gives,
 * however the bytes are split across reads and however many requests are
 * pipelined. Then hostile input, one table row per attack, each run both
 * as one read and one byte per read (a slow-drip sender). Finally memory:
 * the buffer is released once the requests are drained; the allocator is
 * wrapped (-Wl,--wrap) to count the bytes the parser holds.
 */
#include <malloc.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "fixture.h"
#include "proto.h"

#ifndef FIXTURE_DIR
#error "FIXTURE_DIR must name tests/data/postfix-3.7"
#endif

static const struct proto_limits lim_default = {16384, 256, 65536};

/* ---- allocator accounting (the parser's memory) ---- */

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void __real_free(void *p);
void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void __wrap_free(void *p);

static long long live_bytes;

void *__wrap_malloc(size_t n)
{
    void *p = __real_malloc(n);

    if (p)
        live_bytes += (long long)malloc_usable_size(p);
    return p;
}

void *__wrap_calloc(size_t n, size_t size)
{
    void *p = __real_calloc(n, size);

    if (p)
        live_bytes += (long long)malloc_usable_size(p);
    return p;
}

void *__wrap_realloc(void *p, size_t n)
{
    size_t old = p ? malloc_usable_size(p) : 0;
    void *q = __real_realloc(p, n);

    if (q) {
        live_bytes -= (long long)old;
        live_bytes += (long long)malloc_usable_size(q);
    }
    return q;
}

void __wrap_free(void *p)
{
    if (p)
        live_bytes -= (long long)malloc_usable_size(p);
    __real_free(p);
}

/* ---- helpers ---- */

/* One line per attribute sent, in enum order, plus the counts. */
static void render(FILE *out, const struct proto_request *r)
{
    fprintf(out, "attrs=%zu bytes=%zu present=%llx\n", r->attrs, r->bytes, r->present);
    for (int a = 0; a < PA_COUNT; a++)
        if (r->present & (1ULL << a))
            fprintf(out, "%s=%.*s\n", proto_attr_name((enum proto_attr)a), (int)r->v[a].len,
                    r->v[a].ptr);
    fputc('\n', out);
}

/* Check what every returned request must satisfy. */
static void check_request_invariants(const struct proto_request *r, const char *ctx)
{
    for (int a = 0; a < PA_COUNT; a++) {
        const struct proto_value *v = &r->v[a];
        CHECK(v->ptr != NULL, "%s: %s: got NULL value, want a string", ctx,
              proto_attr_name((enum proto_attr)a));
        if (v->ptr == NULL)
            continue;
        CHECK_INT(strlen(v->ptr), v->len, ctx);
        CHECK(memchr(v->ptr, '\n', v->len) == NULL, "%s: %s: got a newline in the value", ctx,
              proto_attr_name((enum proto_attr)a));
        if (!(r->present & (1ULL << a)))
            CHECK_INT(v->len, 0, "absent attribute length");
    }
    CHECK_STR(proto_get(r, PA_REQUEST), "smtpd_access_policy", ctx);
}

struct run {
    enum proto_status feed; /* PROTO_ERROR if some feed failed */
    enum proto_status next; /* status of the last proto_next */
    size_t nreq;
    char *text; /* render() of every request */
    size_t text_len;
    size_t buffered; /* proto_buffered at the end */
    char err[256];
};

/* Feed data in chunks of `chunk` bytes (0: all at once), draining after
 * every feed, as the daemon does. */
static void run_parser(const struct proto_limits *lim, const char *data, size_t len, size_t chunk,
                       struct run *out)
{
    struct proto *p = proto_new(lim);
    FILE *fp;
    size_t off = 0;

    memset(out, 0, sizeof(*out));
    assert_non_null(p);
    fp = open_memstream(&out->text, &out->text_len);
    assert_non_null(fp);
    out->feed = out->next = PROTO_AGAIN;
    do {
        size_t n = chunk == 0 || len - off < chunk ? len - off : chunk;
        struct proto_request req;

        if (proto_feed(p, data + off, n) == PROTO_ERROR) {
            out->feed = PROTO_ERROR;
            break;
        }
        off += n;
        while ((out->next = proto_next(p, &req)) == PROTO_REQUEST) {
            check_request_invariants(&req, "returned request");
            render(fp, &req);
            out->nreq++;
        }
        if (out->next == PROTO_ERROR)
            break;
    } while (off < len);
    out->buffered = proto_buffered(p);
    snprintf(out->err, sizeof(out->err), "%s", proto_error(p));
    fclose(fp);
    proto_free(p);
}

static void run_free(struct run *r)
{
    free(r->text);
    r->text = NULL;
}

/* ---- real requests ---- */

/* Every capture parses to the values an independent split of the file gives. */
static void test_proto_parses_every_postfix_37_capture(void **state)
{
    size_t nfiles, total = 0;
    char **files = fixture_list(FIXTURE_DIR, &nfiles);

    (void)state;
    CHECK(nfiles >= 20, "captures: got %zu files, want at least 20", nfiles);
    for (size_t i = 0; i < nfiles; i++) {
        struct fixture_file f;
        struct proto *p = proto_new(&lim_default);
        struct proto_request req;
        size_t r = 0;

        fixture_load(files[i], &f);
        if (f.nreq == 0 || fixture_value(&f.req[0], "request") == NULL) {
            fixture_free(&f); /* rcpt-attributes.txt: a list of names, not a request */
            proto_free(p);
            continue;
        }
        CHECK_INT(proto_feed(p, f.wire, f.wire_len), PROTO_AGAIN, files[i]);
        while (proto_next(p, &req) == PROTO_REQUEST) {
            const struct fixture_req *want = r < f.nreq ? &f.req[r] : NULL;
            char ctx[512];

            snprintf(ctx, sizeof(ctx), "%s request %zu", files[i], r + 1);
            check_request_invariants(&req, ctx);
            if (!CHECK(want != NULL, "%s: got an extra request", ctx))
                break;
            CHECK_INT(req.attrs, want->nattr, ctx);
            CHECK_INT(req.bytes, want->bytes, ctx);
            for (size_t k = 0; k < want->nattr; k++) {
                const struct fixture_attr *fa = &want->attr[k];
                enum proto_attr a = proto_attr_lookup(fa->name, strlen(fa->name));
                char actx[600];
                snprintf(actx, sizeof(actx), "%s: %s", ctx, fa->name);
                if (!CHECK(a != PA_COUNT, "%s: got unknown attribute, want a known one", actx))
                    continue;
                CHECK(req.present & (1ULL << a), "%s: got absent, want present", actx);
                CHECK_STR(proto_get(&req, a), fa->value, actx);
                CHECK_INT(req.v[a].len, strlen(fa->value), actx);
            }
            r++;
        }
        CHECK_INT(r, f.nreq, files[i]);
        CHECK_INT(proto_buffered(p), 0, files[i]);
        CHECK_STR(proto_error(p), "", files[i]);
        total += r;
        proto_free(p);
        fixture_free(&f);
    }
    CHECK(total >= 50, "captured requests: got %zu, want at least 50", total);
    fixture_list_free(files, nfiles);
    check_done();
}

/* The 29 names Postfix 3.7 sends (rcpt-attributes.txt) are all known. */
static void test_proto_knows_every_attribute_postfix_37_sends(void **state)
{
    struct fixture_file f;
    size_t n = 0;

    (void)state;
    fixture_load(FIXTURE_DIR "/rcpt-attributes.txt", &f);
    for (size_t r = 0; r < f.nreq; r++)
        for (size_t k = 0; k < f.req[r].nattr; k++) {
            const char *name = f.req[r].attr[k].name;
            enum proto_attr a = proto_attr_lookup(name, strlen(name));
            if (CHECK(a != PA_COUNT, "%s: got unknown, want known", name))
                CHECK_STR(proto_attr_name(a), name, "proto_attr_name round trip");
            n++;
        }
    CHECK_INT(n, 29, "attribute names in rcpt-attributes.txt");
    fixture_free(&f);
    check_done();
}

/* Every enum value has a name that looks up to itself; prefixes do not match. */
static void test_proto_attribute_names_round_trip(void **state)
{
    static const char *const not_names[] = {"", "request_", "reques", "sasl", "zzz", "Request"};

    (void)state;
    for (int a = 0; a < PA_COUNT; a++) {
        const char *name = proto_attr_name((enum proto_attr)a);
        CHECK(strcmp(name, "?") != 0, "attribute %d: got no name, want one", a);
        CHECK_INT(proto_attr_lookup(name, strlen(name)), a, name);
    }
    for (size_t i = 0; i < sizeof(not_names) / sizeof(not_names[0]); i++)
        CHECK_INT(proto_attr_lookup(not_names[i], strlen(not_names[i])), PA_COUNT, not_names[i]);
    check_done();
}

/* Reads of 1, 2, 3, 7, 64 and 4096 bytes give what one read gives. */
static void test_proto_split_reads_give_the_same_requests(void **state)
{
    static const size_t chunks[] = {1, 2, 3, 7, 64, 4096};
    size_t nfiles;
    char **files = fixture_list(FIXTURE_DIR, &nfiles);

    (void)state;
    for (size_t i = 0; i < nfiles; i++) {
        struct fixture_file f;
        struct run whole;

        fixture_load(files[i], &f);
        if (f.nreq == 0 || fixture_value(&f.req[0], "request") == NULL) {
            fixture_free(&f);
            continue;
        }
        run_parser(&lim_default, f.wire, f.wire_len, 0, &whole);
        CHECK_INT(whole.nreq, f.nreq, files[i]);
        for (size_t c = 0; c < sizeof(chunks) / sizeof(chunks[0]); c++) {
            struct run split;
            char ctx[512];
            snprintf(ctx, sizeof(ctx), "%s in %zu-byte reads", files[i], chunks[c]);
            run_parser(&lim_default, f.wire, f.wire_len, chunks[c], &split);
            CHECK_INT(split.nreq, whole.nreq, ctx);
            CHECK_INT(split.feed, PROTO_AGAIN, ctx);
            CHECK_INT(split.next, PROTO_AGAIN, ctx);
            CHECK(split.text_len == whole.text_len &&
                      memcmp(split.text, whole.text, whole.text_len) == 0,
                  "%s: got requests\n%s\nwant\n%s", ctx, split.text, whole.text);
            run_free(&split);
        }
        run_free(&whole);
        fixture_free(&f);
    }
    fixture_list_free(files, nfiles);
    check_done();
}

/* All captures back to back on one connection come out in order, whether
 * drained after every read or only at the end. */
static void test_proto_pipelined_requests_come_out_in_order(void **state)
{
    size_t nfiles, nwant = 0, len = 0;
    char **files = fixture_list(FIXTURE_DIR, &nfiles);
    char *all = NULL;
    char **want_instance = NULL, **want_state = NULL;
    struct proto *p = proto_new(&lim_default);
    struct proto_request req;
    size_t got = 0;

    (void)state;
    for (size_t i = 0; i < nfiles; i++) {
        struct fixture_file f;
        fixture_load(files[i], &f);
        if (f.nreq && fixture_value(&f.req[0], "request")) {
            all = realloc(all, len + f.wire_len);
            assert_non_null(all);
            memcpy(all + len, f.wire, f.wire_len);
            len += f.wire_len;
            want_instance = realloc(want_instance, (nwant + f.nreq) * sizeof(char *));
            want_state = realloc(want_state, (nwant + f.nreq) * sizeof(char *));
            assert_true(want_instance && want_state);
            for (size_t r = 0; r < f.nreq; r++, nwant++) {
                want_instance[nwant] = strdup(fixture_value(&f.req[r], "instance"));
                want_state[nwant] = strdup(fixture_value(&f.req[r], "protocol_state"));
            }
        }
        fixture_free(&f);
    }
    /* Everything in one read, then drain. */
    CHECK_INT(proto_feed(p, all, len), PROTO_AGAIN, "one read of all captures");
    while (proto_next(p, &req) == PROTO_REQUEST) {
        char ctx[64];
        snprintf(ctx, sizeof(ctx), "pipelined request %zu", got + 1);
        if (got < nwant) {
            CHECK_STR(proto_get(&req, PA_INSTANCE), want_instance[got], ctx);
            CHECK_STR(proto_get(&req, PA_PROTOCOL_STATE), want_state[got], ctx);
        }
        got++;
    }
    CHECK_INT(got, nwant, "pipelined requests");
    CHECK(nwant >= 50, "pipelined: got %zu requests, want at least 50", nwant);
    /* Reads of 1000 bytes, taking one request after each: requests pile up
     * inside the parser and must still come out in order. */
    got = 0;
    for (size_t off = 0; off < len; off += 1000) {
        CHECK_INT(proto_feed(p, all + off, len - off < 1000 ? len - off : 1000), PROTO_AGAIN,
                  "1000-byte read");
        if (proto_next(p, &req) == PROTO_REQUEST) {
            if (got < nwant)
                CHECK_STR(proto_get(&req, PA_INSTANCE), want_instance[got], "one per read");
            got++;
        }
    }
    while (proto_next(p, &req) == PROTO_REQUEST) {
        if (got < nwant)
            CHECK_STR(proto_get(&req, PA_INSTANCE), want_instance[got], "drain after reads");
        got++;
    }
    CHECK_INT(got, nwant, "requests taken one per read");
    CHECK_INT(proto_buffered(p), 0, "buffered after drain");
    for (size_t i = 0; i < nwant; i++) {
        free(want_instance[i]);
        free(want_state[i]);
    }
    free(want_instance);
    free(want_state);
    free(all);
    proto_free(p);
    fixture_list_free(files, nfiles);
    check_done();
}

/* ---- hostile input ---- */

static const struct proto_limits lim_small = {1024, 16, 4096};
static const struct proto_limits lim_many = {1024, 65536, 1 << 20};
static const struct proto_limits lim_bytes = {1024, 256, 4096};

#define REQ "request=smtpd_access_policy\n"

struct hostile {
    const char *name;
    const struct proto_limits *lim;
    const char *prefix;
    size_t prefix_len; /* 0: strlen(prefix) */
    const char *repeat;
    size_t times;
    const char *suffix;
    enum proto_status want_feed; /* PROTO_ERROR: a read is refused */
    size_t want_nreq;
    enum proto_status want_next; /* after the requests: AGAIN or ERROR */
    const char *want_err;        /* substring of proto_error(), or NULL: "" */
    const char *want_attrs;      /* first request: "name=value" or "name#length" lines */
    size_t want_nattrs;          /* first request's attribute count, 0: not checked */
    size_t want_buffered;        /* (size_t)-1: not checked */
};

#define ANY ((size_t)-1)

static const struct hostile hostile[] = {
    {"line over the limit", &lim_small, REQ "client_name=", 0, "a", 2000, "\n\n", PROTO_ERROR, 0,
     PROTO_AGAIN, "line longer than 1024 bytes", NULL, 0, 0},
    {"line at the limit", &lim_small, REQ "client_name=", 0, "a", 1024 - 12, "\n\n", PROTO_AGAIN, 1,
     PROTO_AGAIN, NULL, "client_name#1012", 2, 0},
    {"line one byte over the limit", &lim_small, REQ "client_name=", 0, "a", 1024 - 11, "\n\n",
     PROTO_ERROR, 0, PROTO_AGAIN, "line longer than 1024 bytes", NULL, 0, 0},
    {"line at the limit with CRLF", &lim_small, REQ "client_name=", 0, "a", 1024 - 12, "\r\n\r\n",
     PROTO_AGAIN, 1, PROTO_AGAIN, NULL, "client_name#1012", 2, 0},
    {"unterminated line at the limit is held", &lim_small, REQ "client_name=", 0, "a", 1024 - 12,
     "", PROTO_AGAIN, 0, PROTO_AGAIN, NULL, NULL, 0, 28 + 1024},
    {"unterminated line one byte over the limit", &lim_small, REQ "client_name=", 0, "a", 1024 - 10,
     "", PROTO_ERROR, 0, PROTO_AGAIN, "line longer than 1024 bytes", NULL, 0, 0},
    {"NUL byte in a complete line", &lim_small, REQ "client_name=a\0b\n\n", 28 + 17, NULL, 0, "",
     PROTO_ERROR, 0, PROTO_AGAIN, "NUL byte", NULL, 0, 0},
    {"NUL byte in a line still arriving", &lim_small, REQ "client_na\0", 28 + 10, NULL, 0, "",
     PROTO_ERROR, 0, PROTO_AGAIN, "NUL byte", NULL, 0, 0},
    {"NUL byte as the blank line", &lim_small, REQ "\0\n", 28 + 2, NULL, 0, "", PROTO_ERROR, 0,
     PROTO_AGAIN, "NUL byte", NULL, 0, 0},
    {"thousands of attributes", &lim_small, REQ, 0, "x=y\n", 5000, "\n", PROTO_ERROR, 0,
     PROTO_AGAIN, "more than 16 attributes", NULL, 0, 0},
    {"thousands of attributes within raised limits", &lim_many, REQ, 0, "x=y\n", 5000, "\n",
     PROTO_AGAIN, 1, PROTO_AGAIN, NULL, "request=smtpd_access_policy", 5001, 0},
    {"attributes at the limit", &lim_small, REQ, 0, "x=y\n", 15, "\n", PROTO_AGAIN, 1, PROTO_AGAIN,
     NULL, NULL, 16, 0},
    {"request over max bytes", &lim_bytes, REQ, 0,
     "stress=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n", 60,
     "\n", PROTO_ERROR, 0, PROTO_AGAIN, "request larger than 4096 bytes", NULL, 0, 0},
    {"request at max bytes", &(const struct proto_limits){1024, 16, 1024}, REQ "client_name=", 0,
     "a", 1024 - 28 - 12 - 2, "\n\n", PROTO_AGAIN, 1, PROTO_AGAIN, NULL, "client_name#982", 2, 0},
    {"request one byte over max bytes", &(const struct proto_limits){1024, 16, 1024},
     REQ "client_name=", 0, "a", 1024 - 28 - 12 - 1, "\n\n", PROTO_ERROR, 0, PROTO_AGAIN,
     "request larger than 1024 bytes", NULL, 0, 0},
    {"duplicate names: the first wins", &lim_small,
     REQ "sender=first@example.org\nsender=second@example.org\n\n", 0, NULL, 0, "", PROTO_AGAIN, 1,
     PROTO_AGAIN, NULL, "sender=first@example.org", 3, 0},
    {"duplicate request attribute: the first wins", &lim_small, REQ "request=junk\n\n", 0, NULL, 0,
     "", PROTO_AGAIN, 1, PROTO_AGAIN, NULL, "request=smtpd_access_policy", 2, 0},
    {"name without '='", &lim_small, REQ "sender\n\n", 0, NULL, 0, "", PROTO_ERROR, 0, PROTO_AGAIN,
     "without '='", NULL, 0, 0},
    {"empty name", &lim_small, REQ "=value\n\n", 0, NULL, 0, "", PROTO_ERROR, 0, PROTO_AGAIN,
     "empty name", NULL, 0, 0},
    {"empty request (blank line first)", &lim_small, "\n" REQ "\n", 0, NULL, 0, "", PROTO_ERROR, 0,
     PROTO_AGAIN, "empty request", NULL, 0, 0},
    {"empty request with CRLF", &lim_small, "\r\n", 0, NULL, 0, "", PROTO_ERROR, 0, PROTO_AGAIN,
     "empty request", NULL, 0, 0},
    {"missing request attribute", &lim_small, "protocol_state=RCPT\n\n", 0, NULL, 0, "",
     PROTO_AGAIN, 0, PROTO_ERROR, "without a \"request\" attribute", NULL, 0, 0},
    {"wrong request type", &lim_small, "request=junk\n\n", 0, NULL, 0, "", PROTO_AGAIN, 0,
     PROTO_ERROR, "unsupported request type \"junk\"", NULL, 0, 0},
    {"wrong request type after a good request", &lim_small, REQ "\nrequest=junk\n\n", 0, NULL, 0,
     "", PROTO_AGAIN, 1, PROTO_ERROR, "unsupported request type", NULL, 1, 0},
    {"request type with control characters is escaped", &lim_small, "request=a\x01\"b\n\n", 0, NULL,
     0, "", PROTO_AGAIN, 0, PROTO_ERROR, "\"a\\x01\\x22b\"", NULL, 0, 0},
    {"CRLF lines", &lim_small,
     "request=smtpd_access_policy\r\nprotocol_state=RCPT\r\nsender=a@example.org\r\n\r\n", 0, NULL,
     0, "", PROTO_AGAIN, 1, PROTO_AGAIN, NULL,
     "protocol_state=RCPT\nsender=a@example.org\nrequest=smtpd_access_policy", 3, 0},
    {"unknown attributes are ignored", &lim_small,
     REQ "x_future_attribute=1\nprotocol_state=RCPT\nx-odd name!=2\n\n", 0, NULL, 0, "",
     PROTO_AGAIN, 1, PROTO_AGAIN, NULL, "protocol_state=RCPT", 4, 0},
    {"Postfix 3.8 and 3.12 attributes", &lim_small,
     REQ "policy_context=\ncompatibility_level=3.6\nmail_version=3.8.1\ntls_sni=mx.example.org\n\n",
     0, NULL, 0, "", PROTO_AGAIN, 1, PROTO_AGAIN, NULL,
     "compatibility_level=3.6\nmail_version=3.8.1\ntls_sni=mx.example.org\npolicy_context=", 5, 0},
    {"value holding '='", &lim_small, REQ "ccert_subject=CN=mx.example.org,O=Example\n\n", 0, NULL,
     0, "", PROTO_AGAIN, 1, PROTO_AGAIN, NULL, "ccert_subject=CN=mx.example.org,O=Example", 2, 0},
    {"request without its empty line is held", &lim_small, REQ "protocol_state=RCPT\n", 0, NULL, 0,
     "", PROTO_AGAIN, 0, PROTO_AGAIN, NULL, NULL, 0, 48},
    {"two requests in one read", &lim_small, REQ "sender=a@x\n\n" REQ "sender=b@y\n\n", 0, NULL, 0,
     "", PROTO_AGAIN, 2, PROTO_AGAIN, NULL, "sender=a@x", 2, 0},
};

/* Build the input of a row. */
static char *hostile_input(const struct hostile *h, size_t *len)
{
    size_t plen = h->prefix_len ? h->prefix_len : strlen(h->prefix);
    size_t rlen = h->repeat ? strlen(h->repeat) : 0;
    size_t slen = strlen(h->suffix);
    char *buf = malloc(plen + rlen * h->times + slen + 1);
    char *o = buf;

    assert_non_null(buf);
    memcpy(o, h->prefix, plen);
    o += plen;
    for (size_t i = 0; i < h->times; i++, o += rlen)
        memcpy(o, h->repeat, rlen);
    memcpy(o, h->suffix, slen);
    o += slen;
    *len = (size_t)(o - buf);
    return buf;
}

/* Check the first request against a row's "name=value" / "name#len" lines. */
static void hostile_check_attrs(const struct hostile *h, const struct proto_request *r,
                                const char *mode)
{
    const char *p = h->want_attrs;
    char ctx[256];

    snprintf(ctx, sizeof(ctx), "%s (%s)", h->name, mode);
    if (h->want_nattrs)
        CHECK_INT(r->attrs, h->want_nattrs, ctx);
    while (p && *p) {
        const char *nl = strchr(p, '\n');
        size_t l = nl ? (size_t)(nl - p) : strlen(p);
        const char *eq = memchr(p, '=', l), *hash = memchr(p, '#', l);
        const char *sep = eq ? eq : hash;
        enum proto_attr a = proto_attr_lookup(p, (size_t)(sep - p));
        char want[256];

        assert_true(sep != NULL && a != PA_COUNT);
        snprintf(want, sizeof(want), "%.*s", (int)(l - (size_t)(sep + 1 - p)), sep + 1);
        if (eq)
            CHECK_STR(proto_get(r, a), want, ctx);
        else
            CHECK_INT(r->v[a].len, strtoul(want, NULL, 10), ctx);
        CHECK(r->present & (1ULL << a), "%s: %s: got absent, want present", ctx,
              proto_attr_name(a));
        p = nl ? nl + 1 : NULL;
    }
}

/* "ctx: what", for messages. */
static const char *field(char *buf, size_t len, const char *ctx, const char *what)
{
    snprintf(buf, len, "%s: %s", ctx, what);
    return buf;
}

/* Run one row with reads of `chunk` bytes (0: one read). */
static void hostile_run(const struct hostile *h, const char *in, size_t len, size_t chunk)
{
    struct proto *p = proto_new(h->lim);
    enum proto_status feed = PROTO_AGAIN, next = PROTO_AGAIN;
    size_t nreq = 0, off = 0;
    const char *mode = chunk ? "one byte per read" : "one read";
    char ctx[256], c[320];

    assert_non_null(p);
    snprintf(ctx, sizeof(ctx), "%s (%s)", h->name, mode);
    do {
        size_t n = chunk && chunk < len - off ? chunk : len - off;
        struct proto_request req;
        if ((feed = proto_feed(p, in + off, n)) == PROTO_ERROR)
            break;
        off += n;
        while ((next = proto_next(p, &req)) == PROTO_REQUEST) {
            check_request_invariants(&req, ctx);
            if (nreq == 0)
                hostile_check_attrs(h, &req, mode);
            nreq++;
        }
        if (next == PROTO_ERROR)
            break;
    } while (off < len);
    CHECK_INT(feed, h->want_feed, field(c, sizeof(c), ctx, "feed status"));
    CHECK_INT(nreq, h->want_nreq, field(c, sizeof(c), ctx, "requests"));
    CHECK_INT(next, h->want_next, field(c, sizeof(c), ctx, "last proto_next status"));
    if (h->want_err)
        CHECK(strstr(proto_error(p), h->want_err) != NULL, "%s: got error \"%s\", want \"%s\"", ctx,
              proto_error(p), h->want_err);
    else
        CHECK_STR(proto_error(p), "", field(c, sizeof(c), ctx, "error"));
    if (h->want_buffered != ANY)
        CHECK_INT(proto_buffered(p), h->want_buffered, field(c, sizeof(c), ctx, "buffered"));
    /* The error state is final: nothing more is accepted. */
    if (h->want_err) {
        struct proto_request req;
        CHECK_INT(proto_feed(p, REQ "\n", strlen(REQ "\n")), PROTO_ERROR,
                  field(c, sizeof(c), ctx, "feed after the error"));
        CHECK_INT(proto_next(p, &req), PROTO_ERROR,
                  field(c, sizeof(c), ctx, "next after the error"));
        CHECK_INT(proto_buffered(p), 0, field(c, sizeof(c), ctx, "buffered after the error"));
    }
    proto_free(p);
}

static void test_proto_refuses_hostile_input(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
        size_t len;
        char *in = hostile_input(&hostile[i], &len);
        hostile_run(&hostile[i], in, len, 0);
        hostile_run(&hostile[i], in, len, 1);
        free(in);
    }
    check_done();
}

/* A peer that sends an endless line is cut off before its newline, and the
 * parser never holds much more than the limit. */
static void test_proto_line_limit_trips_while_the_line_is_still_arriving(void **state)
{
    struct proto *p = proto_new(&lim_small);
    char block[256];
    size_t sent = 0;
    enum proto_status st = PROTO_AGAIN;

    (void)state;
    memset(block, 'a', sizeof(block));
    assert_int_equal(proto_feed(p, REQ "client_name=", strlen(REQ "client_name=")), PROTO_AGAIN);
    sent = strlen("client_name=");
    while (sent < 100000) {
        st = proto_feed(p, block, sizeof(block));
        if (st == PROTO_ERROR)
            break;
        sent += sizeof(block);
        CHECK(proto_buffered(p) <= 28 + lim_small.max_line + 1,
              "buffered while the line arrives: got %zu, want at most %zu", proto_buffered(p),
              (size_t)(28 + lim_small.max_line + 1));
    }
    CHECK_INT(st, PROTO_ERROR, "status of the read that crossed the limit");
    CHECK(sent <= lim_small.max_line + 1,
          "line bytes accepted before the error: got %zu, want at most %zu", sent,
          lim_small.max_line + 1);
    CHECK(strstr(proto_error(p), "line longer") != NULL, "error: got \"%s\", want \"line longer\"",
          proto_error(p));
    CHECK_INT(proto_buffered(p), 0, "buffered after the error");

    /* Byte by byte: the error comes within one byte of the limit. */
    proto_free(p);
    p = proto_new(&lim_small);
    sent = 0;
    assert_int_equal(proto_feed(p, REQ, strlen(REQ)), PROTO_AGAIN);
    while (sent < 10000 && proto_feed(p, "b", 1) == PROTO_AGAIN)
        sent++;
    CHECK(sent >= lim_small.max_line && sent <= lim_small.max_line + 1,
          "bytes of the line accepted one at a time: got %zu, want %zu or %zu", sent,
          lim_small.max_line, lim_small.max_line + 1);
    proto_free(p);
    check_done();
}

/* ---- memory ---- */

/* Drained, the parser gives back a large buffer and keeps a small one; an
 * idle parser holds nothing but itself. */
static void test_proto_releases_memory_after_drain(void **state)
{
    static const struct proto_limits lim = {16384, 256, 1 << 20};
    long long before, after_new, held;
    struct proto *p;
    struct proto_request req;
    size_t len;
    const struct hostile big = {
        "big",
        &lim,
        REQ,
        0,
        "ccert_subject=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
        200,
        "\n",
        PROTO_AGAIN,
        1,
        PROTO_AGAIN,
        NULL,
        NULL,
        0,
        0};
    char *in = hostile_input(&big, &len);
    const char *small = REQ "protocol_state=RCPT\n\n";

    (void)state;
    before = live_bytes;
    p = proto_new(&lim);
    after_new = live_bytes;
    CHECK(after_new - before > 0 && after_new - before < 1024,
          "an idle parser: got %lld bytes, want a little (< 1024)", after_new - before);

    CHECK_INT(proto_feed(p, in, len), PROTO_AGAIN, "feed of a 24 KB request");
    held = live_bytes - after_new;
    CHECK(held >= (long long)len, "held during the request: got %lld, want at least %zu", held,
          len);
    CHECK_INT(proto_next(p, &req), PROTO_REQUEST, "the 24 KB request");
    CHECK_INT(proto_buffered(p), 0, "buffered once the request is taken");
    CHECK_INT(proto_next(p, &req), PROTO_AGAIN, "drain");
    CHECK_INT(live_bytes - after_new, 0, "bytes held after draining a large request");

    CHECK_INT(proto_feed(p, small, strlen(small)), PROTO_AGAIN, "small request");
    CHECK_INT(proto_next(p, &req), PROTO_REQUEST, "small request");
    CHECK_INT(proto_next(p, &req), PROTO_AGAIN, "drain");
    held = live_bytes - after_new;
    CHECK(held <= 4096 + 64, "bytes kept after a small request: got %lld, want at most 4096", held);
    CHECK_INT(proto_buffered(p), 0, "buffered after drain");

    /* A partial request is held; an error releases it. */
    CHECK_INT(proto_feed(p, in, len / 2), PROTO_AGAIN, "half a request");
    CHECK_INT(proto_buffered(p), len / 2, "buffered half request");
    CHECK_INT(proto_feed(p, "\0", 1), PROTO_ERROR, "NUL after half a request");
    CHECK_INT(live_bytes - after_new, 0, "bytes held after an error");

    proto_free(p);
    CHECK_INT(live_bytes, before, "bytes after proto_free");
    free(in);
    check_done();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_proto_parses_every_postfix_37_capture),
        cmocka_unit_test(test_proto_knows_every_attribute_postfix_37_sends),
        cmocka_unit_test(test_proto_attribute_names_round_trip),
        cmocka_unit_test(test_proto_split_reads_give_the_same_requests),
        cmocka_unit_test(test_proto_pipelined_requests_come_out_in_order),
        cmocka_unit_test(test_proto_refuses_hostile_input),
        cmocka_unit_test(test_proto_line_limit_trips_while_the_line_is_still_arriving),
        cmocka_unit_test(test_proto_releases_memory_after_drain),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
