/*
 * decide - one policy request to one decision, possibly asynchronously.
 *
 * The seam between the connection code and the policy: the server hands a
 * parsed request to decide_request(). The synchronous rules (rules.c) run
 * first; a permit-so-far may then go to asynchronous stages (quotas against
 * Redis). Either the decision is complete on return, or the stage calls
 * done(arg, d) exactly once later, from the event loop, within its own
 * deadline. The request's memory stays valid until then: the server reads
 * nothing more from that connection while a decision is pending.
 */
#ifndef PORTREEVE_DECIDE_H
#define PORTREEVE_DECIDE_H

#include "policyd_conf.h"
#include "proto.h"
#include "rules.h"

struct event_base;

typedef void (*decide_done_fn)(void *arg, struct decision *d);

struct decide_env {
    struct event_base *base;
    struct policyd_conf *conf; /* referenced for the life of the request */
};

/* Returns 1 when *d is final now, 0 when done() will be called later. */
int decide_request(const struct decide_env *env, const struct proto_request *req,
                   struct decision *d, decide_done_fn done, void *arg);

#endif
