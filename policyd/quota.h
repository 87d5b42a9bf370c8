/*
 * quota - the sending-quota stage of a decision: principal, exemptions,
 * limits, two-phase accounting, the store (Redis or embedded) and the
 * fallback when Redis fails.
 *
 * RCPT: would this transaction, with the recipients accepted so far plus
 * this one, exceed a limit? The answer may come later (Redis): then
 * done(arg, d) is called once, within redis_timeout. END-OF-MESSAGE: commit
 * 1 message and recipient_count recipients, once per Postfix instance; the
 * answer does not wait for the store.
 *
 * Transactions are tracked per SMTP session (client address and port,
 * server address and port) in a fixed table of QUOTA_SESSIONS slots: a
 * session whose MAIL FROM or instance changes starts a new transaction and
 * releases the previous one's reservation.
 */
#ifndef PORTREEVE_QUOTA_H
#define PORTREEVE_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#include "decide.h"
#include "quota_conf.h"

#define QUOTA_SESSIONS 8192
#define QUOTA_PRINCIPAL_MAX 300

struct server_stats;

/* Start the runtime (stores, Redis connection, metrics listener) on the
 * daemon's loop. Returns 0, or -1 with err set (bad Redis settings). */
int quota_start(struct event_base *base, const struct policyd_conf *conf,
                const struct server_stats *st, char *err, size_t errlen);
void quota_stop(void);

/*
 * Apply quotas to a permit-so-far decision d. Returns 1 when d is final now
 * (maybe changed to the exceed action), 0 when done() will be called.
 * t0_us is when the request arrived (for the latency metric).
 */
int quota_decide(const struct decide_env *env, const struct proto_request *req, struct decision *d,
                 uint64_t t0_us, decide_done_fn done, void *arg);

/*
 * The principal of a request: "u:" + lower-cased sasl_username, or "a:" +
 * the client address cut to the configured prefix ("a:192.0.2.7/32",
 * "a:2001:db8:1:2::/64"). Names longer than QUOTA_PRINCIPAL_MAX - 20 bytes
 * become "u:h" + 16 hex digits of their hash. Returns the length, 0 when
 * there is none (client address unknown).
 */
size_t quota_principal(const struct quota_conf *q, const char *user, size_t ulen, const char *addr,
                       size_t alen, char *dst, size_t dstlen);

struct quota_counters {
    uint64_t checks_redis, checks_memory, checks_granted, commits_redis, commits_memory, duplicates;
    uint64_t exceeded[QUOTA_ROLES][2]; /* by role, by kind */
    uint64_t fallbacks, unavailable_dunno, unavailable_defer;
    uint64_t redis_requests, redis_errors, redis_timeouts, redis_noscript, redis_reconnects;
    int redis_configured, redis_up;
    uint64_t memory_principals, memory_evictions;
};
void quota_counters(struct quota_counters *out);

#endif
