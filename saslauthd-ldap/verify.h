/*
 * verify - the decisions of portreeve-authd: verify_login() for a
 * saslauthd request and verify_gate() for a gate request, run by worker
 * threads; verify_login_fast() and verify_gate_fast(), run by the event
 * loop, which never block and decide whatever can be decided without LDAP
 * or a Redis round trip (malformed input, login policy, a lock known from
 * the lock mirror or the embedded store, a positive-cache hit), and
 * otherwise leave the request to a worker.
 *
 * Order for a login: refuse malformed input (over-long fields, NUL bytes,
 * empty login or password) -> login-name policy -> lockout check (a lock
 * answers "temporary failure" and LDAP is not contacted) -> positive cache
 * (if on) -> LDAP search and bind -> record a failure or a success. Only a
 * verification failure is counted; temporary failures never are.
 *
 * A struct verify_worker holds what one thread owns (LDAP connections, a
 * Redis connection) and follows the snapshot of the job it runs: when the
 * configuration changes it reconnects. struct verify_shared holds what all
 * threads share (embedded store, cache). No password is ever copied out of
 * the request or logged.
 */
#ifndef PORTREEVE_VERIFY_H
#define PORTREEVE_VERIFY_H

#include <stdint.h>

#include "authd_conf.h"
#include "gate_proto.h"
#include "lockmirror.h"
#include "lockout_mem.h"
#include "mux_proto.h"
#include "pcache.h"

enum verify_result { VERIFY_OK, VERIFY_NO, VERIFY_TEMPFAIL };

struct verify_outcome {
    enum verify_result result;
    enum gate_code gate; /* gate requests */
    char reason[160];    /* for the log; never holds the password */
    int cached;          /* answered from the positive cache */
    int fell_back;       /* the embedded store stood in for Redis */
    int on_loop;         /* decided by the event loop (verify_*_fast) */
};

struct verify_shared {
    struct lockout_mem *mem;   /* never NULL */
    struct pcache *cache;      /* NULL: off */
    struct lockmirror *mirror; /* NULL: off (every Redis check is a round trip) */
    struct dncache *dncache;   /* NULL: off (every verification searches) */
};

struct verify_worker;

struct verify_worker *verify_worker_new(void);
void verify_worker_free(struct verify_worker *w);

/* A saslauthd request; addr is the client address or "" when unknown. */
void verify_login(struct verify_worker *w, struct verify_shared *sh, struct authd_cfg *cfg,
                  const struct mux_decoder *req, const char *addr, uint64_t now_ms,
                  struct verify_outcome *out);
/* A gate request (fields as decoded; addr already stripped of ";port"). */
void verify_gate(struct verify_worker *w, struct verify_shared *sh, struct authd_cfg *cfg,
                 const struct gate_decoder *req, const char *addr, uint64_t now_ms,
                 struct verify_outcome *out);

/*
 * The event loop's attempt at the same decisions, without blocking: 1 with
 * *out set if decided, 0 if a worker must run verify_login / verify_gate.
 */
int verify_login_fast(struct verify_shared *sh, struct authd_cfg *cfg,
                      const struct mux_decoder *req, const char *addr, uint64_t now_ms,
                      struct verify_outcome *out);
int verify_gate_fast(struct verify_shared *sh, struct authd_cfg *cfg,
                     const struct gate_decoder *req, const char *addr, uint64_t now_ms,
                     struct verify_outcome *out);

/* Strip ";port" (after the last ';') from an ipremoteport value into dst. */
int verify_addr_from_ipport(const char *s, size_t len, char *dst, size_t dstlen);

#endif
