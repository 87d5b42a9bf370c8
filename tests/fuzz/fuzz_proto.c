/*
 * fuzz_proto.c - libFuzzer target for the policy protocol parser
 * (policyd/proto.c), the one function of portreeve-policyd that eats bytes
 * from a socket.
 *
 * Each input is parsed several times, under the daemon's default limits
 * and under tiny ones (so that short inputs reach every limit), with the
 * bytes split differently each time: one read; one byte per read; reads of
 * pseudo-random sizes drained after each read (as the daemon does); and
 * pseudo-random reads drained only now and then (pipelined requests piling
 * up inside the parser). The split must not matter: every run fails or
 * none does, runs without an error return the same requests, and a run
 * that fails returns a prefix of what the one-byte run returned.
 * Every request returned must hold: values NUL-terminated at their length
 * with no NUL or newline inside, absent attributes empty, counts within
 * the limits, bytes consistent with what was fed. A broken invariant
 * aborts with a message on stderr.
 *
 * The same function is replayed over the seed corpus by fuzz_replay.c in
 * ordinary test runs (ctest: fuzz_proto_corpus).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

enum fuzz_plan { PLAN_ONE_READ, PLAN_BYTES, PLAN_RANDOM, PLAN_PILE_UP, PLAN_COUNT };

struct fuzz_run {
    int failed;
    size_t nreq;
    uint64_t *hash; /* one per request */
    size_t cap;
    size_t taken; /* sum of request bytes */
    size_t buffered;
};

/* Stop the fuzzer with the reason. */
static void fuzz_die(const char *what, size_t a, size_t b)
{
    fprintf(stderr, "fuzz_proto: invariant broken: %s (%zu, %zu)\n", what, a, b);
    abort();
}

static uint64_t fuzz_fnv(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 1099511628211ULL;
    }
    return h;
}

/* Check one returned request and hash what it says. */
static uint64_t fuzz_check(const struct proto_request *r, const struct proto_limits *lim)
{
    uint64_t h = 14695981039346656037ULL;
    size_t present = 0;

    if (r->attrs == 0 || r->attrs > lim->max_attrs)
        fuzz_die("attribute count outside 1..max_attrs", r->attrs, lim->max_attrs);
    if (r->bytes > lim->max_request || r->bytes < 3 * r->attrs + 1)
        fuzz_die("request bytes inconsistent with the limit or the attributes", r->bytes, r->attrs);
    if (strcmp(proto_get(r, PA_REQUEST), "smtpd_access_policy") != 0)
        fuzz_die("request attribute is not smtpd_access_policy", 0, 0);
    for (int a = 0; a < PA_COUNT; a++) {
        const struct proto_value *v = &r->v[a];
        int sent = (r->present >> a) & 1;
        size_t namelen = strlen(proto_attr_name((enum proto_attr)a));

        if (v->ptr == NULL)
            fuzz_die("NULL value", (size_t)a, 0);
        if (v->ptr[v->len] != '\0' || memchr(v->ptr, '\0', v->len) != NULL)
            fuzz_die("value length does not match its NUL", (size_t)a, v->len);
        if (memchr(v->ptr, '\n', v->len) != NULL)
            fuzz_die("newline inside a value", (size_t)a, v->len);
        if (!sent && v->len != 0)
            fuzz_die("absent attribute with a value", (size_t)a, v->len);
        if (sent && namelen + 1 + v->len > lim->max_line)
            fuzz_die("value longer than a line may be", (size_t)a, v->len);
        present += (size_t)sent;
        h = fuzz_fnv(h, &sent, sizeof(sent));
        h = fuzz_fnv(h, &v->len, sizeof(v->len));
        h = fuzz_fnv(h, v->ptr, v->len);
    }
    if (r->present >> PA_COUNT)
        fuzz_die("present bit beyond the known attributes", 0, 0);
    if (present > r->attrs)
        fuzz_die("more known attributes than attributes", present, r->attrs);
    h = fuzz_fnv(h, &r->attrs, sizeof(r->attrs));
    h = fuzz_fnv(h, &r->bytes, sizeof(r->bytes));
    return h;
}

/* Take every complete request; returns 0, or -1 on a protocol error. */
static int fuzz_drain(struct proto *p, const struct proto_limits *lim, struct fuzz_run *run)
{
    struct proto_request req;
    enum proto_status st;

    while ((st = proto_next(p, &req)) == PROTO_REQUEST) {
        if (run->nreq == run->cap) {
            size_t cap = run->cap ? run->cap * 2 : 16;
            uint64_t *h = realloc(run->hash, cap * sizeof(*h));
            if (h == NULL)
                abort();
            run->hash = h;
            run->cap = cap;
        }
        run->hash[run->nreq++] = fuzz_check(&req, lim);
        run->taken += req.bytes;
    }
    return st == PROTO_ERROR ? -1 : 0;
}

/* Parse data under one plan. */
static void fuzz_run_plan(const struct proto_limits *lim, const uint8_t *data, size_t size,
                          enum fuzz_plan plan, struct fuzz_run *run)
{
    struct proto *p = proto_new(lim);
    uint64_t rnd = fuzz_fnv(14695981039346656037ULL, data, size) | 1;
    size_t off = 0, reads = 0;

    memset(run, 0, sizeof(*run));
    if (p == NULL)
        abort();
    while (!run->failed && (off < size || reads == 0)) {
        size_t n = size - off;

        if (plan == PLAN_BYTES && n > 1)
            n = 1;
        if (plan == PLAN_RANDOM || plan == PLAN_PILE_UP) {
            rnd ^= rnd << 13;
            rnd ^= rnd >> 7;
            rnd ^= rnd << 17;
            if (n > 1)
                n = 1 + (size_t)(rnd % (n < 97 ? n : 97));
        }
        if (proto_feed(p, (const char *)data + off, n) == PROTO_ERROR) {
            run->failed = 1;
            break;
        }
        off += n;
        reads++;
        if (plan == PLAN_PILE_UP && (rnd & 3) != 0 && off < size)
            continue;
        if (plan != PLAN_ONE_READ || off == size)
            run->failed = fuzz_drain(p, lim, run) < 0;
    }
    if (!run->failed)
        run->failed = fuzz_drain(p, lim, run) < 0;
    run->buffered = proto_buffered(p);
    if (run->failed) {
        if (proto_error(p)[0] == '\0')
            fuzz_die("failed without a reason", 0, 0);
        if (run->buffered != 0)
            fuzz_die("bytes still held after an error", run->buffered, 0);
    } else {
        if (proto_error(p)[0] != '\0')
            fuzz_die("a reason without a failure", 0, 0);
        if (run->taken + run->buffered != size)
            fuzz_die("bytes taken + held differ from bytes fed", run->taken + run->buffered, size);
    }
    proto_free(p);
}

/* All plans agree under one set of limits. */
static void fuzz_limits(const struct proto_limits *lim, const uint8_t *data, size_t size)
{
    struct fuzz_run runs[PLAN_COUNT];
    const struct fuzz_run *ref = &runs[PLAN_BYTES];

    for (int plan = 0; plan < PLAN_COUNT; plan++)
        fuzz_run_plan(lim, data, size, (enum fuzz_plan)plan, &runs[plan]);
    for (int plan = 0; plan < PLAN_COUNT; plan++) {
        const struct fuzz_run *r = &runs[plan];
        if (r->failed != ref->failed)
            fuzz_die("one split fails, another does not (plan, failed)", (size_t)plan,
                     (size_t)r->failed);
        if (!r->failed && (r->nreq != ref->nreq || r->buffered != ref->buffered))
            fuzz_die("splits give different request counts", r->nreq, ref->nreq);
        if (r->nreq > ref->nreq)
            fuzz_die("a failing split gave more requests than the one-byte split", r->nreq,
                     ref->nreq);
        for (size_t i = 0; i < r->nreq; i++)
            if (r->hash[i] != ref->hash[i])
                fuzz_die("splits give different requests (plan, request)", (size_t)plan, i);
    }
    for (int plan = 0; plan < PLAN_COUNT; plan++)
        free(runs[plan].hash);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const struct proto_limits daemon = {16384, 256, 65536}; /* the defaults */
    static const struct proto_limits tiny = {64, 8, 512};

    fuzz_limits(&daemon, data, size);
    fuzz_limits(&tiny, data, size);
    return 0;
}
