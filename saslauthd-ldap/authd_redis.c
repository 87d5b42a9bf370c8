/*
 * authd_redis.c - Redis counter store for lockout (see authd_redis.h).
 *
 * Public: authd_redis_new, authd_redis_free, authd_redis_store,
 * authd_redis_up. Keys come from lockout_keys_make (bounded); user data
 * reaches Redis only as separate argv entries, never in a format string.
 */
#include "authd_redis.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "util.h"

#define AUTHD_REDIS_RETRY_US 1000000u

/* KEYS[i] with ARGV window, lock, limit per key: count one failure. */
static const char authd_redis_fail_lua[] =
    "local out = {}\n"
    "for i = 1, #KEYS do\n"
    "  local b = (i - 1) * 3\n"
    "  local n = redis.call('INCR', KEYS[i])\n"
    "  if n == 1 then redis.call('PEXPIRE', KEYS[i], ARGV[b + 1]) end\n"
    "  if n >= tonumber(ARGV[b + 3]) then redis.call('PEXPIRE', KEYS[i], ARGV[b + 2]) end\n"
    "  out[i] = n\n"
    "end\n"
    "return out\n";

/* Delete KEYS[1]; set KEYS[2] (if any) with a TTL of ARGV[1] ms. */
static const char authd_redis_ok_lua[] =
    "redis.call('DEL', KEYS[1])\n"
    "if #KEYS > 1 then redis.call('SET', KEYS[2], '1', 'PX', ARGV[1]) end\n"
    "return 1\n";

struct authd_redis {
    redisContext *c;
    char *server, *sentinels, *master, *username, *password;
    long long database, timeout_ms, connect_timeout_ms;
    uint64_t retry_at_us;
    int up, was_up;
    char sha_fail[48], sha_ok[48];
};

/* Milliseconds to a timeval. */
static struct timeval authd_redis_tv(long long ms)
{
    struct timeval tv = {(time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000)};
    return tv;
}

/* Split "host:port" / "[v6]:port" into host and port. */
static int authd_redis_hostport(const char *s, size_t len, char *host, size_t hostlen, int *port)
{
    const char *colon = NULL;
    char *end;
    char num[8];
    long p;
    size_t hl;

    for (size_t i = len; i > 0; i--)
        if (s[i - 1] == ':') {
            colon = s + i - 1;
            break;
        }
    if (colon == NULL || (size_t)(s + len - colon - 1) >= sizeof(num) || colon == s)
        return -1;
    memcpy(num, colon + 1, (size_t)(s + len - colon - 1));
    num[s + len - colon - 1] = '\0';
    errno = 0;
    p = strtol(num, &end, 10);
    if (errno || *end || p < 1 || p > 65535)
        return -1;
    hl = (size_t)(colon - s);
    if (s[0] == '[' && hl >= 2 && s[hl - 1] == ']') {
        s++;
        hl -= 2;
    }
    if (hl == 0 || hl >= hostlen)
        return -1;
    memcpy(host, s, hl);
    host[hl] = '\0';
    *port = (int)p;
    return 0;
}

/* Connect to one address ("unix:/path" or host:port). */
static redisContext *authd_redis_dial(const char *addr, size_t len, long long timeout_ms)
{
    char host[256];
    int port;

    if (len > 5 && strncmp(addr, "unix:", 5) == 0) {
        char path[256];
        if (len - 5 >= sizeof(path))
            return NULL;
        memcpy(path, addr + 5, len - 5);
        path[len - 5] = '\0';
        return redisConnectUnixWithTimeout(path, authd_redis_tv(timeout_ms));
    }
    if (authd_redis_hostport(addr, len, host, sizeof(host), &port) < 0)
        return NULL;
    return redisConnectWithTimeout(host, port, authd_redis_tv(timeout_ms));
}

static int authd_redis_prepare(struct authd_redis *r);
static int authd_redis_is_master(struct authd_redis *r, const char *addr);

/* Ask the Sentinels in order until one names a server that we can log in
 * to and whose ROLE is master: a Sentinel with stale information (after a
 * partition, during a failover) may name a replica, which would answer the
 * lock reads but refuse the counting writes. 0 with r->c prepared, or -1. */
static int authd_redis_via_sentinel(struct authd_redis *r)
{
    const char *s = r->sentinels;

    while (*s) {
        size_t len;
        redisContext *c;
        redisReply *rep;
        s += strspn(s, ", \t");
        len = strcspn(s, ", \t");
        if (len == 0)
            break;
        c = authd_redis_dial(s, len, r->connect_timeout_ms);
        s += len;
        if (c == NULL || c->err) {
            if (c)
                redisFree(c);
            continue;
        }
        redisSetTimeout(c, authd_redis_tv(r->timeout_ms));
        {
            const char *argv[] = {"SENTINEL", "get-master-addr-by-name", r->master};
            rep = redisCommandArgv(c, 3, argv, NULL);
        }
        redisFree(c);
        if (rep && rep->type == REDIS_REPLY_ARRAY && rep->elements == 2 &&
            rep->element[0]->type == REDIS_REPLY_STRING &&
            rep->element[1]->type == REDIS_REPLY_STRING) {
            char addr[300];
            int n =
                snprintf(addr, sizeof(addr), "[%s]:%s", rep->element[0]->str, rep->element[1]->str);
            freeReplyObject(rep);
            if (n <= 0 || (size_t)n >= sizeof(addr))
                continue;
            r->c = authd_redis_dial(addr, (size_t)n, r->connect_timeout_ms);
            if (r->c && !r->c->err && authd_redis_prepare(r) == 0 &&
                authd_redis_is_master(r, addr) == 0)
                return 0;
            if (r->c)
                redisFree(r->c);
            r->c = NULL;
            continue;
        }
        if (rep)
            freeReplyObject(rep);
    }
    return -1;
}

/* Run a command; NULL (and the context dropped) on any error reply or I/O error. */
static redisReply *authd_redis_cmd(struct authd_redis *r, int argc, const char **argv,
                                   const size_t *lens)
{
    redisReply *rep = redisCommandArgv(r->c, argc, argv, lens);

    if (rep == NULL) {
        log_warn("redis: %s: %s", argv[0], r->c->errstr[0] ? r->c->errstr : "no reply");
        redisFree(r->c);
        r->c = NULL;
        return NULL;
    }
    return rep;
}

/* Load a script; keeps its SHA1 in sha. */
static int authd_redis_load(struct authd_redis *r, const char *lua, char *sha, size_t shalen)
{
    const char *argv[] = {"SCRIPT", "LOAD", lua};
    redisReply *rep = authd_redis_cmd(r, 3, argv, NULL);

    if (rep == NULL)
        return -1;
    if (rep->type != REDIS_REPLY_STRING || rep->len >= shalen) {
        freeReplyObject(rep);
        return -1;
    }
    memcpy(sha, rep->str, rep->len + 1);
    freeReplyObject(rep);
    return 0;
}

/* Run a command that must answer +OK (AUTH, SELECT). */
static int authd_redis_ok(struct authd_redis *r, int argc, const char **argv)
{
    redisReply *rep = authd_redis_cmd(r, argc, argv, NULL);
    int ok;

    if (rep == NULL)
        return -1;
    ok = rep->type == REDIS_REPLY_STATUS;
    if (!ok)
        log_warn("redis: %s refused: %s", argv[0], rep->type == REDIS_REPLY_ERROR ? rep->str : "?");
    freeReplyObject(rep);
    return ok ? 0 : -1;
}

/* Timeouts, AUTH and SELECT on the new connection r->c; -1 on failure. */
static int authd_redis_prepare(struct authd_redis *r)
{
    char db[24];

    redisSetTimeout(r->c, authd_redis_tv(r->timeout_ms));
    redisEnableKeepAlive(r->c);
    if (r->password) {
        const char *a2[] = {"AUTH", r->password};
        const char *a3[] = {"AUTH", r->username, r->password};
        if ((r->username[0] ? authd_redis_ok(r, 3, a3) : authd_redis_ok(r, 2, a2)) < 0)
            return -1;
    }
    snprintf(db, sizeof(db), "%lld", r->database);
    if (r->database != 0) {
        const char *argv[] = {"SELECT", db};
        if (authd_redis_ok(r, 2, argv) < 0)
            return -1;
    }
    return 0;
}

/* 0 if ROLE on r->c says master; else logs that addr is not one. */
static int authd_redis_is_master(struct authd_redis *r, const char *addr)
{
    const char *argv[] = {"ROLE"};
    redisReply *rep = authd_redis_cmd(r, 1, argv, NULL);
    int ok;

    if (rep == NULL)
        return -1;
    ok = rep->type == REDIS_REPLY_ARRAY && rep->elements > 0 &&
         rep->element[0]->type == REDIS_REPLY_STRING && strcmp(rep->element[0]->str, "master") == 0;
    freeReplyObject(rep);
    if (!ok)
        log_warn("redis: %s, named by a Sentinel, is not a master; asking the next Sentinel", addr);
    return ok ? 0 : -1;
}

/* Make sure there is a usable connection; -1 while down. */
static int authd_redis_ensure(struct authd_redis *r)
{
    uint64_t now = util_now_us();

    if (r->c)
        return 0;
    if (now < r->retry_at_us)
        return -1;
    if (r->sentinels[0]) {
        if (authd_redis_via_sentinel(r) < 0) {
            if (r->was_up || r->retry_at_us == 0)
                log_warn("redis: no Sentinel named a master that answers as one; using the "
                         "embedded store");
            goto fail;
        }
    } else {
        r->c = authd_redis_dial(r->server, strlen(r->server), r->connect_timeout_ms);
        if (r->c == NULL || r->c->err) {
            if (r->was_up || r->retry_at_us == 0)
                log_warn("redis: cannot connect to %s: %s; using the embedded store", r->server,
                         r->c ? r->c->errstr : "bad address");
            goto fail;
        }
        if (authd_redis_prepare(r) < 0)
            goto fail;
    }
    if (authd_redis_load(r, authd_redis_fail_lua, r->sha_fail, sizeof(r->sha_fail)) < 0 ||
        authd_redis_load(r, authd_redis_ok_lua, r->sha_ok, sizeof(r->sha_ok)) < 0)
        goto fail;
    if (!r->was_up)
        log_info("redis: connected to %s", r->sentinels[0] ? "the Sentinel master" : r->server);
    r->was_up = 1;
    return 0;
fail:
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
    r->was_up = 0;
    r->retry_at_us = now + AUTHD_REDIS_RETRY_US;
    return -1;
}

/* Note a failed request: drop the connection and back off. */
static int authd_redis_down(struct authd_redis *r)
{
    if (r->c)
        redisFree(r->c);
    r->c = NULL;
    r->up = 0;
    r->retry_at_us = util_now_us() + AUTHD_REDIS_RETRY_US;
    return -1;
}

/* EVALSHA a script, with EVAL after NOSCRIPT (a flushed or restarted Redis). */
static redisReply *authd_redis_eval(struct authd_redis *r, const char *sha, const char *lua,
                                    int argc, const char **argv, size_t *lens)
{
    redisReply *rep;

    argv[0] = "EVALSHA";
    argv[1] = sha;
    lens[0] = 7;
    lens[1] = strlen(sha);
    rep = authd_redis_cmd(r, argc, argv, lens);
    if (rep && rep->type == REDIS_REPLY_ERROR && strncmp(rep->str, "NOSCRIPT", 8) == 0) {
        freeReplyObject(rep);
        argv[0] = "EVAL";
        argv[1] = lua;
        lens[0] = 4;
        lens[1] = strlen(lua);
        rep = authd_redis_cmd(r, argc, argv, lens);
    }
    if (rep && rep->type == REDIS_REPLY_ERROR) {
        log_warn("redis: script error: %s", rep->str);
        freeReplyObject(rep);
        return NULL;
    }
    return rep;
}

static int authd_redis_get(void *ctx, const char *const *keys, size_t n, long long *counts,
                           uint64_t now_ms)
{
    struct authd_redis *r = ctx;
    const char *argv[5];
    redisReply *rep;

    (void)now_ms; /* Redis keeps its own clock for TTLs */
    if (n > 4 || authd_redis_ensure(r) < 0)
        return -1;
    argv[0] = "MGET";
    for (size_t i = 0; i < n; i++)
        argv[i + 1] = keys[i];
    rep = authd_redis_cmd(r, (int)n + 1, argv, NULL);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        if (rep)
            freeReplyObject(rep);
        return authd_redis_down(r);
    }
    for (size_t i = 0; i < n; i++) {
        const redisReply *e = rep->element[i];
        counts[i] = e->type == REDIS_REPLY_STRING ? strtoll(e->str, NULL, 10) : 0;
    }
    freeReplyObject(rep);
    r->up = 1;
    return 0;
}

static int authd_redis_fail(void *ctx, const char *const *keys, const struct lockout_rule *rules,
                            size_t n, long long *counts, uint64_t now_ms)
{
    struct authd_redis *r = ctx;
    const char *argv[3 + 3 + 9];
    size_t lens[3 + 3 + 9];
    char nums[9][24];
    char nkeys[8];
    redisReply *rep;
    int argc = 3;

    (void)now_ms;
    if (n > 3 || authd_redis_ensure(r) < 0)
        return -1;
    snprintf(nkeys, sizeof(nkeys), "%zu", n);
    argv[2] = nkeys;
    lens[2] = strlen(nkeys);
    for (size_t i = 0; i < n; i++, argc++) {
        argv[argc] = keys[i];
        lens[argc] = strlen(keys[i]);
    }
    for (size_t i = 0; i < n; i++) {
        long long v[3] = {rules[i].window_ms, rules[i].lock_ms, rules[i].limit};
        for (int j = 0; j < 3; j++, argc++) {
            snprintf(nums[i * 3 + (size_t)j], sizeof(nums[0]), "%lld", v[j]);
            argv[argc] = nums[i * 3 + (size_t)j];
            lens[argc] = strlen(argv[argc]);
        }
    }
    rep = authd_redis_eval(r, r->sha_fail, authd_redis_fail_lua, argc, argv, lens);
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY || rep->elements != n) {
        if (rep)
            freeReplyObject(rep);
        return authd_redis_down(r);
    }
    for (size_t i = 0; i < n; i++)
        counts[i] = rep->element[i]->integer;
    freeReplyObject(rep);
    r->up = 1;
    return 0;
}

static int authd_redis_success(void *ctx, const char *del_key, const char *set_key,
                               long long ttl_ms, uint64_t now_ms)
{
    struct authd_redis *r = ctx;
    const char *argv[6];
    size_t lens[6];
    char ttl[24];
    redisReply *rep;
    int argc;

    (void)now_ms;
    if (authd_redis_ensure(r) < 0)
        return -1;
    snprintf(ttl, sizeof(ttl), "%lld", ttl_ms);
    argv[2] = set_key ? "2" : "1";
    argv[3] = del_key;
    argc = 4;
    if (set_key) {
        argv[argc++] = set_key;
        argv[argc++] = ttl;
    }
    for (int i = 2; i < argc; i++)
        lens[i] = strlen(argv[i]);
    rep = authd_redis_eval(r, r->sha_ok, authd_redis_ok_lua, argc, argv, lens);
    if (rep == NULL)
        return authd_redis_down(r);
    freeReplyObject(rep);
    r->up = 1;
    return 0;
}

static const struct lockout_store_ops authd_redis_ops = {
    .get = authd_redis_get,
    .fail = authd_redis_fail,
    .success = authd_redis_success,
};

struct authd_redis *authd_redis_new(const struct store_conf *sc, const char *password)
{
    struct authd_redis *r = calloc(1, sizeof(*r));

    if (r == NULL)
        return NULL;
    r->server = util_strdup(sc->server);
    r->sentinels = util_strdup(sc->sentinels);
    r->master = util_strdup(sc->master_name);
    r->username = util_strdup(sc->username);
    r->password = password ? util_strdup(password) : NULL;
    if (!r->server || !r->sentinels || !r->master || !r->username || (password && !r->password)) {
        authd_redis_free(r);
        return NULL;
    }
    r->database = sc->database;
    r->timeout_ms = sc->timeout_ms;
    r->connect_timeout_ms = sc->connect_timeout_ms;
    r->was_up = 0;
    return r;
}

void authd_redis_free(struct authd_redis *r)
{
    if (r == NULL)
        return;
    if (r->c)
        redisFree(r->c);
    if (r->password) {
        explicit_bzero(r->password, strlen(r->password));
        free(r->password);
    }
    free(r->server);
    free(r->sentinels);
    free(r->master);
    free(r->username);
    free(r);
}

struct lockout_store authd_redis_store(struct authd_redis *r)
{
    struct lockout_store s = {&authd_redis_ops, r};
    return s;
}

int authd_redis_up(const struct authd_redis *r)
{
    return r->up;
}
