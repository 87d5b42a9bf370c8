/*
 * test_quota_redis.c - the quota script against a real Redis: limits,
 * reservations, idempotent commit, NOSCRIPT after SCRIPT FLUSH, TTLs and
 * expiry, and the request deadline while Redis is paused.
 *
 * Run by redis-test.sh, which starts redis-server on a loopback port and
 * passes it in QUOTA_TEST_REDIS_PORT. Admin commands go through redis-cli,
 * so that hiredis stays inside policyd/quota_redis*.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <event2/event.h>

#include "quota_redis.h"
#include "util.h"

static struct event_base *base;
static struct quota_redis *qr;
static const char *port;

struct answer {
    int called, ok;
    struct limiter_result res;
};

static void on_answer(void *arg, int ok, const struct limiter_result *res)
{
    struct answer *a = arg;
    a->called++;
    a->ok = ok;
    if (res)
        a->res = *res;
}

/* Run the loop until cond or about two seconds have passed. */
static void spin(const int *cond)
{
    struct timeval tick = {0, 10000};
    for (int i = 0; i < 200 && !*cond; i++) {
        event_base_loopexit(base, &tick);
        event_base_dispatch(base);
    }
}

static void cli(const char *args, char *out, size_t outlen)
{
    char cmd[512];
    FILE *fp;
    size_t n;

    snprintf(cmd, sizeof(cmd), "redis-cli -h 127.0.0.1 -p %s %s", port, args);
    fp = popen(cmd, "r");
    assert_non_null(fp);
    n = fread(out, 1, outlen - 1, fp);
    out[n] = '\0';
    pclose(fp);
}

static struct answer run(enum quota_redis_op_kind kind, const char *principal,
                         const struct limiter_limits *l, uint64_t txid, uint64_t release,
                         const char *instance, uint64_t msgs, uint64_t rcpts)
{
    struct quota_redis_op op = {kind,    principal, strlen(principal), l, txid,
                                release, instance,  {msgs, rcpts},     0};
    struct answer a = {0, 0, {0, 0, 0, 0}};
    int ready = quota_redis_ready(qr);

    spin(&ready);
    if (quota_redis_submit(qr, &op, on_answer, &a) == NULL)
        fail_msg("got a refused submit, want a request in flight");
    spin(&a.called);
    if (a.called != 1)
        fail_msg("got %d callbacks, want 1", a.called);
    return a;
}

static struct limiter_limits lim(const char *msgs, const char *rcpts)
{
    struct limiter_limits l;
    char err[128];
    memset(&l, 0, sizeof(l));
    l.buckets = 60;
    l.reserve_ttl_ms = 60000;
    l.done_ttl_ms = 600000;
    assert_int_equal(limiter_parse(msgs, LIMITER_MESSAGES, &l, err, sizeof(err)), 0);
    assert_int_equal(limiter_parse(rcpts, LIMITER_RECIPIENTS, &l, err, sizeof(err)), 0);
    return l;
}

static int setup(void **state)
{
    static char empty[] = "", master[] = "mymaster", prefix[] = "qt";
    struct store_conf sc = {empty, empty, empty, 3, 100, 500, empty, master, prefix};
    char server[64], err[256];
    (void)state;
    port = getenv("QUOTA_TEST_REDIS_PORT");
    if (port == NULL)
        return -1;
    snprintf(server, sizeof(server), "127.0.0.1:%s", port);
    sc.server = server;
    base = event_base_new();
    qr = quota_redis_new(base, &sc, err, sizeof(err));
    if (qr == NULL) {
        fprintf(stderr, "quota_redis_new: %s\n", err);
        return -1;
    }
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    quota_redis_free(qr);
    event_base_free(base);
    return 0;
}

static void test_script_enforces_limit_and_dedups_commit(void **state)
{
    struct limiter_limits l = lim("3/1h", "4/1h");
    struct answer a;
    (void)state;
    for (uint64_t i = 1; i <= 3; i++) {
        char inst[32];
        snprintf(inst, sizeof(inst), "aa.%llu", (unsigned long long)i);
        a = run(QUOTA_REDIS_CHECK, "u:t1", &l, i, 0, "", 1, 1);
        if (a.ok != 0 || a.res.verdict != LIMITER_OK)
            fail_msg("message %llu: got ok %d verdict %d, want ok", (unsigned long long)i, a.ok,
                     a.res.verdict);
        a = run(QUOTA_REDIS_COMMIT, "u:t1", &l, i, 0, inst, 1, 1);
        assert_int_equal(a.res.verdict, LIMITER_OK);
        a = run(QUOTA_REDIS_COMMIT, "u:t1", &l, i, 0, inst, 1, 1); /* Postfix retry */
        if (a.res.verdict != LIMITER_DUPLICATE)
            fail_msg("retry %llu: got verdict %d, want duplicate", (unsigned long long)i,
                     a.res.verdict);
    }
    a = run(QUOTA_REDIS_CHECK, "u:t1", &l, 9, 0, "", 1, 1);
    if (a.res.verdict != LIMITER_EXCEEDED || a.res.window != 0 || a.res.used != 3)
        fail_msg("got verdict %d window %zu used %llu, want exceeded window 0 used 3",
                 a.res.verdict, a.res.window, (unsigned long long)a.res.used);
}

static void test_script_reservations_block_and_release(void **state)
{
    struct limiter_limits l = lim("1/1h", "");
    struct answer a;
    (void)state;
    a = run(QUOTA_REDIS_CHECK, "u:t2", &l, 100, 0, "", 1, 1);
    assert_int_equal(a.res.verdict, LIMITER_OK);
    a = run(QUOTA_REDIS_CHECK, "u:t2", &l, 101, 0, "", 1, 1);
    if (a.res.verdict != LIMITER_EXCEEDED || a.res.used != 1)
        fail_msg("got verdict %d used %llu, want exceeded by the other reservation", a.res.verdict,
                 (unsigned long long)a.res.used);
    a = run(QUOTA_REDIS_CHECK, "u:t2", &l, 101, 100, "", 1, 1); /* releases 100 */
    assert_int_equal(a.res.verdict, LIMITER_OK);
    a = run(QUOTA_REDIS_RELEASE, "u:t2", &l, 101, 0, "", 0, 0);
    assert_int_equal(a.res.verdict, LIMITER_OK);
    a = run(QUOTA_REDIS_CHECK, "u:t2", &l, 102, 0, "", 1, 1);
    assert_int_equal(a.res.verdict, LIMITER_OK);
}

static void test_noscript_after_script_flush_falls_back_to_eval(void **state)
{
    struct limiter_limits l = lim("5/1h", "");
    char out[256];
    uint64_t before = quota_redis_stats(qr)->noscript;
    struct answer a;
    (void)state;
    cli("SCRIPT FLUSH", out, sizeof(out));
    a = run(QUOTA_REDIS_CHECK, "u:t3", &l, 1, 0, "", 1, 1);
    if (a.ok != 0 || a.res.verdict != LIMITER_OK)
        fail_msg("got ok %d verdict %d, want ok through EVAL", a.ok, a.res.verdict);
    if (quota_redis_stats(qr)->noscript != before + 1)
        fail_msg("got %llu NOSCRIPT fallbacks, want %llu",
                 (unsigned long long)quota_redis_stats(qr)->noscript,
                 (unsigned long long)before + 1);
    a = run(QUOTA_REDIS_CHECK, "u:t3", &l, 1, 0, "", 1, 1); /* EVAL re-cached it */
    assert_int_equal(quota_redis_stats(qr)->noscript, before + 1);
}

static void test_every_key_has_a_ttl_and_expires(void **state)
{
    struct limiter_limits l = lim("1/1s", "2/2s");
    char out[8192], *line, *save = NULL;
    struct answer a;
    int keys = 0;
    (void)state;
    a = run(QUOTA_REDIS_CHECK, "u:t4", &l, 7, 0, "", 1, 1);
    assert_int_equal(a.res.verdict, LIMITER_OK);
    a = run(QUOTA_REDIS_COMMIT, "u:t4", &l, 7, 0, "bb.1", 1, 1);
    assert_int_equal(a.res.verdict, LIMITER_OK);
    a = run(QUOTA_REDIS_CHECK, "u:t4", &l, 8, 0, "", 1, 1); /* refused: no reservation */
    assert_int_equal(a.res.verdict, LIMITER_EXCEEDED);
    a = run(QUOTA_REDIS_CHECK, "u:t4x", &l, 8, 0, "", 1, 1); /* leaves a reservation */
    assert_int_equal(a.res.verdict, LIMITER_OK);
    cli("-n 3 --scan --pattern 'qt:v3:q:*'", out, sizeof(out));
    for (line = strtok_r(out, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char cmd[600], ttl[64];
        snprintf(cmd, sizeof(cmd), "-n 3 PTTL '%s'", line);
        cli(cmd, ttl, sizeof(ttl));
        if (atoll(ttl) <= 0) /* test code: atoll of redis-cli output is fine */
            fail_msg("%s: got PTTL %s, want a TTL", line, ttl);
        keys++;
    }
    if (keys < 3)
        fail_msg("got %d keys, want the pending, done and series keys", keys);
    sleep(3); /* the 2 s window and its bucket have passed */
    a = run(QUOTA_REDIS_CHECK, "u:t4", &l, 9, 0, "", 1, 1);
    if (a.res.verdict != LIMITER_OK)
        fail_msg("after the window: got verdict %d used %llu, want ok", a.res.verdict,
                 (unsigned long long)a.res.used);
    cli("-n 3 EXISTS 'qt:v3:q:w:m:1000:17:{u:t4}' 'qt:v3:q:w:r:2000:34:{u:t4}'", out, sizeof(out));
    if (atoi(out) != 0)
        fail_msg("got %s series keys after expiry, want 0", out);
}

/*
 * Real time, 2 s window of 2 buckets: a message in bucket k, one in k+1
 * (k is closed into the series key, which expires when k leaves the
 * window). Once k has left, only the second counts: the expired key is
 * read as "every closed bucket has left", not as a loss of the newest.
 */
static void test_expired_series_key_keeps_the_newest_bucket(void **state)
{
    struct limiter_limits l = lim("2/2s", "");
    char out[64], key[QUOTA_REDIS_KEY_MAX], cmd[QUOTA_REDIS_KEY_MAX + 32];
    uint64_t k;
    struct answer a;
    (void)state;

    l.buckets = 2;
    assert_true(quota_redis_key_series(key, sizeof(key), "qt", &l.w[0], 2, "u:t6", 4) > 0);
    a = run(QUOTA_REDIS_CHECK, "u:t6", &l, 1, 0, "", 1, 1);
    k = util_wall_ms() / 1000;
    a = run(QUOTA_REDIS_COMMIT, "u:t6", &l, 1, 0, "", 1, 1);
    assert_int_equal(a.res.verdict, LIMITER_OK);
    usleep((useconds_t)(((k + 1) * 1000 + 100 - util_wall_ms()) * 1000)); /* bucket k+1 */
    a = run(QUOTA_REDIS_COMMIT, "u:t6", &l, 0, 0, "", 1, 1);
    assert_int_equal(a.res.verdict, LIMITER_OK);
    a = run(QUOTA_REDIS_CHECK, "u:t6", &l, 2, 0, "", 1, 1);
    if (a.res.verdict != LIMITER_EXCEEDED || a.res.used != 2)
        fail_msg("both buckets in the window: got verdict %d used %llu, want exceeded with 2",
                 a.res.verdict, (unsigned long long)a.res.used);
    usleep((useconds_t)(((k + 1) * 1000 + 2000 + 150 - util_wall_ms()) * 1000)); /* k left */
    snprintf(cmd, sizeof(cmd), "-n 3 EXISTS '%s'", key);
    cli(cmd, out, sizeof(out));
    if (atoi(out) != 0)
        fail_msg("got the series key after its bucket left, want it expired");
    a = run(QUOTA_REDIS_CHECK, "u:t6", &l, 3, 0, "", 1, 1);
    if (a.res.verdict != LIMITER_OK)
        fail_msg("after bucket k left: got verdict %d used %llu, want ok (1 counted)",
                 a.res.verdict, (unsigned long long)a.res.used);
    a = run(QUOTA_REDIS_CHECK, "u:t6", &l, 4, 0, "", 1, 1);
    if (a.res.verdict != LIMITER_EXCEEDED || a.res.used != 2)
        fail_msg("got verdict %d used %llu, want exceeded: bucket k+1 (1) and a reservation (1)",
                 a.res.verdict, (unsigned long long)a.res.used);
}

static void test_deadline_answers_while_redis_is_paused(void **state)
{
    struct limiter_limits l = lim("5/1h", "");
    struct quota_redis_op op = {QUOTA_REDIS_CHECK, "u:t5", 4, &l, 1, 0, "", {1, 1}, 0};
    struct answer a = {0, 0, {0, 0, 0, 0}};
    uint64_t t0, before = quota_redis_stats(qr)->timeouts;
    char out[64];
    int ready = quota_redis_ready(qr);
    (void)state;
    spin(&ready);
    cli("CLIENT PAUSE 900", out, sizeof(out));
    t0 = util_now_us();
    assert_non_null(quota_redis_submit(qr, &op, on_answer, &a));
    spin(&a.called);
    if (a.called != 1 || a.ok != -1)
        fail_msg("got %d callbacks, ok %d, want one answer 'unavailable'", a.called, a.ok);
    if (util_now_us() - t0 > 400000)
        fail_msg("got the answer after %llu us, want it near redis_timeout (100 ms)",
                 (unsigned long long)(util_now_us() - t0));
    if (quota_redis_stats(qr)->timeouts != before + 1)
        fail_msg("got %llu timeouts, want 1",
                 (unsigned long long)(quota_redis_stats(qr)->timeouts - before));
    /* Still paused: two more silent deadlines drop the connection, after
     * which requests are refused at once (the caller falls back). */
    for (int i = 0; i < 2; i++) {
        memset(&a, 0, sizeof(a));
        assert_non_null(quota_redis_submit(qr, &op, on_answer, &a));
        spin(&a.called);
        assert_int_equal(a.ok, -1);
    }
    if (quota_redis_submit(qr, &op, on_answer, &a) != NULL)
        fail_msg("got a request in flight after 3 silent deadlines, want an immediate refusal");
    usleep(800000);
    ready = 0;
    for (int i = 0; i < 50 && !ready; i++) { /* back-off, then reconnect */
        spin(&ready);
        ready = quota_redis_ready(qr);
    }
    if (!ready)
        fail_msg("got no reconnect after the pause, want one");
}

/* ---- the script and lib/limiter.c on the same operations ---- */

#define DIFF_OPS 2000
#define DIFF_PRINCIPALS 4 /* at most */
#define DIFF_OPEN 64

struct diff_op {
    int kind; /* 'c' check, 'm' commit, 'r' release */
    size_t p;
    uint64_t now, txid, release, msgs, rcpts;
    uint64_t ask; /* check: recipients wanted (a grant); 0 = rcpts */
    char instance[24];
    struct limiter_result want; /* filled by diff_apply */
};

struct diff {
    const char *const *principals;
    struct limiter_limits l[DIFF_PRINCIPALS];
    struct limiter_state *st[DIFF_PRINCIPALS];
    size_t exceeded, dups;
};

static long diff_rand(long n)
{
    return random() % n;
}

/* Run one operation on the limiter and keep its answer. */
static void diff_apply(struct diff *d, struct diff_op *o)
{
    struct limiter_cost c = {o->msgs, o->rcpts};
    struct limiter_state *st = d->st[o->p];
    const struct limiter_limits *l = &d->l[o->p];

    memset(&o->want, 0, sizeof(o->want));
    if (o->kind == 'c')
        assert_int_equal(
            limiter_check_grant(st, l, o->now, o->txid, o->release, &c, o->ask, &o->want), 0);
    else if (o->kind == 'm')
        assert_int_equal(
            limiter_commit(st, l, o->now, o->txid,
                           o->instance[0] ? limiter_hash(o->instance, strlen(o->instance)) : 0, &c,
                           &o->want),
            0);
    else
        limiter_release(st, o->txid);
    d->exceeded += o->want.verdict == LIMITER_EXCEEDED;
    d->dups += o->want.verdict == LIMITER_DUPLICATE;
}

/* Bytes as one redis-cli argument: "\xNN..." (redis-cli unquotes it). */
static void diff_bytes(FILE *fp, const char *b, size_t n)
{
    fputs(" \"", fp);
    for (size_t i = 0; i < n; i++)
        fprintf(fp, "\\x%02x", (unsigned char)b[i]);
    fputc('"', fp);
}

/* Append the EVALSHA of one operation to fp, keys and arguments as qr_build
 * makes them (the same encoders). */
static void diff_write(FILE *fp, const char *sha, const struct diff_op *o, const char *principal,
                       const struct limiter_limits *l)
{
    static const enum quota_redis_op_kind kinds[] = {
        ['c'] = QUOTA_REDIS_CHECK, ['m'] = QUOTA_REDIS_COMMIT, ['r'] = QUOTA_REDIS_RELEASE};
    struct quota_redis_op op = {kinds[o->kind], principal,   strlen(principal),   l,     o->txid,
                                o->release,     o->instance, {o->msgs, o->rcpts}, o->ask};
    char key[QUOTA_REDIS_KEY_MAX], arg[LIMITER_MAX_WINDOWS * QUOTA_REDIS_WINDOW_ARG_LEN];
    size_t n;

    fprintf(fp, "SET qd:clock %llu\nEVALSHA %s %zu", (unsigned long long)o->now, sha, 2 + l->n);
    assert_true(quota_redis_key_pending(key, sizeof(key), "qd", principal, strlen(principal)) > 0);
    fprintf(fp, " %s", key);
    assert_true(quota_redis_key_done(key, sizeof(key), "qd", principal, strlen(principal),
                                     o->instance) > 0);
    fprintf(fp, " %s", key);
    for (size_t i = 0; i < l->n; i++) {
        assert_true(quota_redis_key_series(key, sizeof(key), "qd", &l->w[i], l->buckets, principal,
                                           strlen(principal)) > 0);
        fprintf(fp, " %s", key);
    }
    n = quota_redis_arg_request(arg, sizeof(arg), &op);
    assert_int_equal(n, QUOTA_REDIS_REQ_ARG_LEN);
    diff_bytes(fp, arg, n);
    n = quota_redis_arg_windows(arg, sizeof(arg), l);
    assert_int_equal(n, l->n * QUOTA_REDIS_WINDOW_ARG_LEN);
    diff_bytes(fp, arg, n);
    fputc('\n', fp);
}

/* Write text to dir/name; the path goes to path. */
static void diff_file(const char *dir, const char *name, const char *text, char *path,
                      size_t pathlen)
{
    FILE *fp;

    snprintf(path, pathlen, "%s/%s", dir, name);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs(text, fp);
    fclose(fp);
}

/*
 * Run ops through the script in Redis (db 5, prefix "qd", emptied first),
 * with the script's clock (the one line that calls TIME) read from
 * qd:clock, and compare every answer (verdict, window, used) with the
 * limiter's. Then every key must have a TTL and no series more than
 * max_fields fields.
 */
static void diff_run(const struct diff *d, const struct diff_op *ops, size_t n,
                     long long max_fields)
{
    const char *clock = strstr(quota_redis_script, "redis.call('TIME')");
    const char *bol, *nl;
    char dir[] = "/tmp/portreeve-qdiff.XXXXXX", path[300], cmd[700], sha[64] = "", line[256];
    char *fake;
    size_t keys = 0, flen;
    FILE *fp;

    assert_non_null(mkdtemp(dir));
    if (clock == NULL || strstr(clock + 1, "redis.call('TIME')") != NULL)
        fail_msg("got %s call of TIME in the script, want exactly one (its clock)",
                 clock == NULL ? "no" : "more than one");
    /* The clock's whole line gives way to the fake clock; the rest stays. */
    for (bol = clock; bol > quota_redis_script && bol[-1] != '\n'; bol--)
        ;
    nl = strchr(clock, '\n');
    assert_non_null(nl);
    flen = strlen(quota_redis_script) + 64;
    fake = malloc(flen);
    assert_non_null(fake);
    snprintf(fake, flen, "%.*slocal now = tonumber(redis.call('GET', 'qd:clock'))%s",
             (int)(bol - quota_redis_script), quota_redis_script, nl);
    diff_file(dir, "script.lua", fake, path, sizeof(path));
    free(fake);
    snprintf(cmd, sizeof(cmd),
             "redis-cli -h 127.0.0.1 -p %s -n 5 FLUSHDB >/dev/null && "
             "redis-cli -h 127.0.0.1 -p %s -n 5 -x SCRIPT LOAD < %s",
             port, port, path);
    fp = popen(cmd, "r");
    assert_non_null(fp);
    if (fgets(sha, sizeof(sha), fp) == NULL || strlen(sha) < 40)
        fail_msg("SCRIPT LOAD of the fake-clock script: got \"%s\", want a SHA1", sha);
    sha[40] = '\0';
    pclose(fp);
    unlink(path);

    snprintf(path, sizeof(path), "%s/ops.txt", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    for (size_t i = 0; i < n; i++)
        diff_write(fp, sha, &ops[i], d->principals[ops[i].p], &d->l[ops[i].p]);
    fclose(fp);
    if (getenv("QUOTA_TEST_KEEP")) { /* debugging: keep the script and the operations */
        snprintf(cmd, sizeof(cmd), "cp %s %s.kept", path, path);
        if (system(cmd) != 0)
            fprintf(stderr, "could not keep %s\n", path);
        fprintf(stderr, "kept: %s.kept\n", path);
    }
    snprintf(cmd, sizeof(cmd), "redis-cli -h 127.0.0.1 -p %s -n 5 < %s", port, path);
    fp = popen(cmd, "r");
    assert_non_null(fp);
    for (size_t i = 0; i < n; i++) {
        const struct diff_op *o = &ops[i];
        long long got[3] = {-1, -1, -1};
        int nf = 0;

        if (fgets(line, sizeof(line), fp) == NULL || strncmp(line, "OK", 2) != 0)
            fail_msg("op %zu: got \"%s\" for SET, want OK", i, line);
        while (nf < 3 && fgets(line, sizeof(line), fp) != NULL) {
            char *end;
            got[nf++] = strtoll(line, &end, 10);
            if (*end != '\n')
                fail_msg("op %zu (%c at %llu): got reply \"%s\", want integers", i, o->kind,
                         (unsigned long long)o->now, line);
            if (nf == 1 && got[0] != 1 && (got[0] != 0 || o->kind != 'c'))
                break;
            if (nf == 2 && got[0] == 0)
                break; /* a check's grant */
        }
        if (got[0] != (long long)o->want.verdict ||
            (got[0] == 1 &&
             (got[1] != (long long)o->want.window || got[2] != (long long)o->want.used)) ||
            (got[0] == 0 && o->kind == 'c' && got[1] != (long long)o->want.granted))
            fail_msg("op %zu (%c %s tx %llu rel %llu cost %llu/%llu inst %s at t0 %llu +%llu): "
                     "got script %lld %lld %lld, want limiter %d %zu %llu (granted %llu)",
                     i, o->kind, d->principals[o->p], (unsigned long long)o->txid,
                     (unsigned long long)o->release, (unsigned long long)o->msgs,
                     (unsigned long long)o->rcpts, o->instance, (unsigned long long)ops[0].now,
                     (unsigned long long)(o->now - ops[0].now), got[0], got[1], got[2],
                     o->want.verdict, o->want.window, (unsigned long long)o->want.used,
                     (unsigned long long)o->want.granted);
    }
    pclose(fp);
    unlink(path);

    /* Asked inside Redis, in one call. */
    diff_file(dir, "keys.lua",
              "local ks, bad = redis.call('KEYS', ARGV[1]), {}\n"
              "for _, k in ipairs(ks) do\n"
              "  if redis.call('PTTL', k) <= 0 then bad[#bad + 1] = 'no TTL: ' .. k end\n"
              "  if string.find(k, ':q:w:', 1, true) and\n"
              "     redis.call('HLEN', k) > tonumber(ARGV[2]) then\n"
              "    bad[#bad + 1] = 'too many fields: ' .. k\n"
              "  end\n"
              "end\n"
              "bad[#bad + 1] = #ks\n"
              "return bad\n",
              path, sizeof(path));
    snprintf(cmd, sizeof(cmd), "redis-cli -h 127.0.0.1 -p %s -n 5 --eval %s , 'qd:v3:*' %lld", port,
             path, max_fields);
    fp = popen(cmd, "r");
    assert_non_null(fp);
    while (fgets(line, sizeof(line), fp) != NULL) {
        char *end;
        keys = (size_t)strtoull(line, &end, 10);
        if (*end != '\n')
            fail_msg("got \"%s\", want every key with a TTL and within its bound", line);
    }
    pclose(fp);
    unlink(path);
    if (!getenv("QUOTA_TEST_KEEP"))
        rmdir(dir);
    if (keys < 2)
        fail_msg("got %zu keys, want the series, pending and done keys", keys);
}

static void diff_init(struct diff *d, const char *const *principals, const char *const *msgs,
                      const char *const *rcpts, const unsigned *buckets, size_t np)
{
    memset(d, 0, sizeof(*d));
    d->principals = principals;
    for (size_t p = 0; p < np; p++) {
        d->l[p] = lim(msgs[p], rcpts[p]);
        d->l[p].buckets = buckets[p];
        d->l[p].reserve_ttl_ms = 3000;
        d->l[p].done_ttl_ms = 86400000; /* neither side forgets an instance here */
        d->st[p] = limiter_state_new();
        assert_non_null(d->st[p]);
    }
}

static void diff_free(struct diff *d)
{
    for (size_t p = 0; p < DIFF_PRINCIPALS; p++)
        limiter_state_free(d->st[p]);
}

/*
 * Random checks, commits (new, repeated and no instance), releases and
 * bursts of parallel transactions over three principals, with a clock that
 * mostly moves forward by up to a few seconds, sometimes jumps past every
 * window and sometimes steps back. Bursts reach the cap of reservations,
 * half of them with every reservation made in the same millisecond (the
 * tie-break decides which one gives way), half spread over a few ms (the
 * one that expires first gives way); their costs differ, so that the
 * choice shows in later answers.
 */
static void diff_random_round(uint64_t t0, unsigned seed)
{
    static const char *const principals[] = {"u:d0", "u:d1", "a:192.0.2.9/32"};
    static const char *const msgs[] = {"4/10s, 9/60s", "3/5s", "60/10s"};
    static const char *const rcpts[] = {"12/30s", "7/20s, 20/2m", "50/10s"};
    static const unsigned buckets[] = {6, 1, 10};
    static uint64_t open[3][DIFF_OPEN], openrc[3][DIFF_OPEN];
    size_t nopen[3] = {0, 0, 0}, n = 0;
    struct diff_op *ops = calloc(DIFF_OPS + 64, sizeof(*ops));
    uint64_t now = t0, nexttx = 1, ninst = 0;
    struct diff d;

    assert_non_null(ops);
    memset(open, 0, sizeof(open));
    memset(openrc, 0, sizeof(openrc));
    diff_init(&d, principals, msgs, rcpts, buckets, 3);
    srandom(seed);
    while (n < DIFF_OPS) {
        long r = diff_rand(1000);
        size_t p = (size_t)diff_rand(3), burst = 1;
        int spread = 0;

        if (r < 6)
            now += 70000 + (uint64_t)diff_rand(100000); /* past every window */
        else if (r < 50 && now > 5000)
            now -= (uint64_t)diff_rand(2000); /* a clock that steps back */
        else
            now += (uint64_t)diff_rand(r < 700 ? 400 : 3000);
        if (r >= 990) { /* parallel transactions of one principal: the cap */
            p = 2;
            burst = 48;
            spread = (int)diff_rand(2);
        }
        for (size_t b = 0; b < burst && n < DIFF_OPS; b++) {
            long k = burst > 1 ? 0 : diff_rand(100);
            struct diff_op *o = &ops[n++];

            memset(o, 0, sizeof(*o));
            o->p = p;
            if (spread)
                now += (uint64_t)diff_rand(20);
            o->now = now;
            if (k < 60) { /* RCPT */
                size_t slot = nopen[p];
                o->kind = 'c';
                if (burst == 1 && nopen[p] && diff_rand(2)) { /* one more recipient */
                    slot = (size_t)diff_rand((long)nopen[p]);
                } else {
                    if (nopen[p] == DIFF_OPEN)
                        slot = (size_t)diff_rand(DIFF_OPEN);
                    else
                        nopen[p]++;
                    open[p][slot] = nexttx++;
                    openrc[p][slot] = 0;
                }
                o->txid = open[p][slot];
                if (nopen[p] > 1 && diff_rand(5) == 0)
                    o->release = open[p][(size_t)diff_rand((long)nopen[p])];
                o->msgs = 1;
                openrc[p][slot] += burst > 1 && diff_rand(8) == 0 ? 4 : 1;
                o->rcpts = openrc[p][slot];
                /* Half the checks ask for a grant of a few more recipients. */
                o->ask = diff_rand(2) ? o->rcpts + (uint64_t)diff_rand(7) : 0;
            } else if (k < 92) { /* END-OF-MESSAGE */
                long i = diff_rand(10);
                o->kind = 'm';
                if (nopen[p] && diff_rand(5)) {
                    size_t slot = (size_t)diff_rand((long)nopen[p]);
                    o->txid = open[p][slot];
                    open[p][slot] = open[p][--nopen[p]];
                    openrc[p][slot] = openrc[p][nopen[p]];
                }
                if (i < 7)
                    snprintf(o->instance, sizeof(o->instance), "a%llx.%zu",
                             (unsigned long long)++ninst, p);
                else if (i < 9 && ninst)
                    snprintf(o->instance, sizeof(o->instance), "a%llx.%zu",
                             (unsigned long long)(1 + (uint64_t)diff_rand((long)ninst)), p);
                o->msgs = 1;
                o->rcpts = 1 + (uint64_t)diff_rand(5);
            } else { /* a transaction dropped */
                o->kind = 'r';
                if (nopen[p]) {
                    size_t slot = (size_t)diff_rand((long)nopen[p]);
                    o->txid = open[p][slot];
                    open[p][slot] = open[p][--nopen[p]];
                    openrc[p][slot] = openrc[p][nopen[p]];
                }
            }
            diff_apply(&d, o);
        }
    }
    if (d.exceeded < 100 || d.dups < 10 || d.exceeded > n / 2)
        fail_msg("got %zu exceeded and %zu duplicate answers in %zu operations, want a mix",
                 d.exceeded, d.dups, n);
    diff_run(&d, ops, n, 10 + 2 + 3); /* B <= 10 here: B + 2 buckets, 3 totals */
    print_message("t0 %llu seed %u: %zu operations, %zu exceeded, %zu duplicates: the same "
                  "answers\n",
                  (unsigned long long)t0, seed, n, d.exceeded, d.dups);
    diff_free(&d);
    free(ops);
}

/*
 * The random rounds, each from another start: where the clock falls within
 * the buckets (1 s to 2 min wide here) decides which edge cases come up,
 * so the rounds start at fixed offsets from the next whole minute of the
 * real clock, with four seeds. (The script's keys expire in real
 * time: a fake clock behind the real one would lose them, so it runs
 * ahead.) A failure names its start (t0).
 */
static void test_script_matches_limiter_on_random_operations(void **state)
{
    uint64_t minute = (util_wall_ms() / 60000 + 1) * 60000;
    (void)state;

    /* 16 starts 1,693 ms apart: spread over every bucket width here. */
    for (unsigned i = 0; i < 16; i++)
        diff_random_round(minute + 1693 * (uint64_t)i, 20261122u + i % 4);
}

/*
 * The edges, step by step: a window's bucket edge (the table of
 * test_limiter_exact_at_window_edge), a reservation at 1 ms before, at and
 * after its expiry, a transaction that replaces its own reservation, a
 * release, a clock that steps back across a bucket edge, a series that
 * empties and starts again, and 33 transactions in one millisecond: at the
 * cap the lowest txid gives way (99 before 100: numbers, not strings).
 */
static void test_script_matches_limiter_at_the_edges(void **state)
{
    static const char *const principals[] = {"u:e0", "u:e1", "u:e2", "u:e3"};
    static const char *const msgs[] = {"3/10s", "2/1h", "4/10s", "100/1h"};
    static const char *const rcpts[] = {"", "5/1h", "", "40/1h"};
    static const unsigned buckets[] = {10, 60, 10, 60};
    /* kind, principal, time (ms after t0), txid, release, recipients, instance */
    static const struct {
        int kind;
        size_t p;
        uint64_t t, txid, release, rcpts;
        const char *instance;
    } steps[] = {
        /* 3/10s, g = 1s: the window edge */
        {'c', 0, 0, 1, 0, 1, ""},
        {'m', 0, 0, 1, 0, 1, "e1"},
        {'c', 0, 0, 2, 0, 1, ""},
        {'m', 0, 0, 2, 0, 1, "e2"},
        {'c', 0, 500, 3, 0, 1, ""},
        {'m', 0, 500, 3, 0, 1, "e3"},
        {'c', 0, 999, 4, 0, 1, ""},
        {'c', 0, 9999, 4, 0, 1, ""},
        {'c', 0, 10000, 4, 0, 1, ""},
        {'c', 0, 10999, 4, 0, 1, ""},
        {'c', 0, 11000, 4, 0, 1, ""},
        {'m', 0, 11000, 4, 0, 1, "e4"},
        {'c', 0, 11999, 5, 0, 1, ""},
        {'m', 0, 11999, 5, 0, 1, "e5"},
        {'c', 0, 11999, 6, 0, 1, ""},
        {'c', 0, 21999, 6, 0, 1, ""},
        {'c', 0, 22000, 6, 0, 1, ""},
        {'m', 0, 22000, 6, 0, 1, "e5"}, /* repeat */
        {'c', 0, 22001, 7, 0, 1, ""},
        {'c', 0, 60000, 7, 0, 1, ""}, /* all gone */
        {'m', 0, 60000, 7, 0, 1, "e7"},
        {'c', 0, 60001, 8, 0, 1, ""},
        /* 2/1h and 5/1h recipients: reservations at their expiry (3 s) */
        {'c', 1, 0, 10, 0, 1, ""},
        {'c', 1, 1, 10, 0, 2, ""}, /* own, replaced */
        {'c', 1, 2, 11, 0, 4, ""},
        {'c', 1, 3, 11, 0, 3, ""},
        {'c', 1, 4, 12, 0, 1, ""},
        {'c', 1, 2999, 12, 0, 1, ""},
        {'c', 1, 3000, 12, 0, 1, ""},
        {'c', 1, 3001, 12, 0, 1, ""},
        {'c', 1, 3002, 13, 0, 1, ""},
        {'c', 1, 3002, 14, 13, 1, ""}, /* release */
        {'r', 1, 3003, 14, 0, 0, ""},
        {'c', 1, 3004, 15, 0, 5, ""},
        {'m', 1, 3005, 15, 0, 5, "f1"},
        {'c', 1, 3006, 16, 0, 1, ""},
        {'m', 1, 3007, 0, 0, 1, ""},
        {'c', 1, 3008, 17, 0, 1, ""},
        /* 4/10s: a clock that steps back across a bucket edge */
        {'m', 2, 5000, 0, 0, 1, ""},
        {'m', 2, 6000, 0, 0, 1, ""},
        {'m', 2, 4500, 0, 0, 1, ""},
        {'c', 2, 4600, 20, 0, 1, ""},
        {'c', 2, 15999, 21, 0, 1, ""},
        {'c', 2, 16000, 22, 0, 1, ""},
        {'c', 2, 16999, 23, 0, 1, ""},
        {'c', 2, 17000, 24, 0, 1, ""},
    };
    struct diff_op ops[sizeof(steps) / sizeof(steps[0]) + 36];
    uint64_t t0 = util_wall_ms() / 10000 * 10000 + 10000; /* on a 10 s edge */
    size_t n = sizeof(steps) / sizeof(steps[0]);
    struct diff d;
    (void)state;

    diff_init(&d, principals, msgs, rcpts, buckets, 4);
    for (size_t i = 0; i < n; i++) {
        memset(&ops[i], 0, sizeof(ops[i]));
        ops[i].kind = steps[i].kind;
        ops[i].p = steps[i].p;
        ops[i].now = t0 + steps[i].t;
        ops[i].txid = steps[i].txid;
        ops[i].release = steps[i].release;
        ops[i].msgs = steps[i].kind == 'r' ? 0 : 1;
        ops[i].rcpts = steps[i].rcpts;
        snprintf(ops[i].instance, sizeof(ops[i].instance), "%s", steps[i].instance);
        diff_apply(&d, &ops[i]);
    }
    /* Recipients: txid 99 reserves 3, 100 reserves 2, 101..131 one each:
     * 33 in one ms, so 99 gives way (33 in use, 132 with 9 is refused);
     * 133 takes 100's place (32 in use, 134 with 9 is refused). */
    for (uint64_t tx = 99; tx <= 134; tx++) {
        struct diff_op *o = &ops[n++];
        memset(o, 0, sizeof(*o));
        o->kind = 'c';
        o->p = 3;
        o->now = t0 + 50000;
        o->txid = tx;
        o->msgs = 1;
        o->rcpts = tx == 99 ? 3 : tx == 100 ? 2 : (tx == 132 || tx == 134) ? 9 : 1;
        diff_apply(&d, o);
    }
    if (ops[n - 3].want.verdict != LIMITER_EXCEEDED || ops[n - 3].want.used != 33 ||
        ops[n - 1].want.verdict != LIMITER_EXCEEDED || ops[n - 1].want.used != 32)
        fail_msg("at the cap: got used %llu and %llu, want 33 (99 gone) and 32 (100 gone)",
                 (unsigned long long)ops[n - 3].want.used,
                 (unsigned long long)ops[n - 1].want.used);
    if (d.exceeded < 10 || d.dups != 1)
        fail_msg("got %zu exceeded and %zu duplicates, want the edges reached", d.exceeded, d.dups);
    diff_run(&d, ops, n, 60 + 2 + 3);
    diff_free(&d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_script_enforces_limit_and_dedups_commit),
        cmocka_unit_test(test_script_reservations_block_and_release),
        cmocka_unit_test(test_noscript_after_script_flush_falls_back_to_eval),
        cmocka_unit_test(test_every_key_has_a_ttl_and_expires),
        cmocka_unit_test(test_expired_series_key_keeps_the_newest_bucket),
        cmocka_unit_test(test_deadline_answers_while_redis_is_paused),
        cmocka_unit_test(test_script_matches_limiter_on_random_operations),
        cmocka_unit_test(test_script_matches_limiter_at_the_edges),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
