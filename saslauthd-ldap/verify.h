/*
 * verify - the decisions of portreeve-authd, run by worker threads:
 * verify_login() for a saslauthd request, verify_gate() for a gate request.
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
};

struct verify_shared {
    struct lockout_mem *mem; /* never NULL */
    struct pcache *cache;    /* NULL: off */
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

/* Strip ";port" (after the last ';') from an ipremoteport value into dst. */
int verify_addr_from_ipport(const char *s, size_t len, char *dst, size_t dstlen);

#endif
