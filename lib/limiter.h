/*
 * limiter - sending quotas: a conservative sliding window with reservations.
 *
 * Pure algorithm, no I/O, no clock: every call takes "now" in milliseconds,
 * so tests drive it with a fake clock. The embedded store (store_mem) keeps
 * one limiter_state per principal; the Redis store runs the same algorithm
 * as a Lua script (quota_redis.c) and the unit tests hold both to the same
 * cases.
 *
 * Algorithm (the proof is in portreeve.conf(5), QUOTAS):
 *   A window "N/W" is split into buckets of width g = ceil(W / B) aligned to
 *   absolute time (bucket k covers [k*g, (k+1)*g)). At time t the count is
 *   the sum of the buckets k >= floor((t - W) / g): a superset of the events
 *   in [t - W, t]. Admission needs count + pending + cost <= N. Hence no
 *   window of length W ever holds more than N admitted units (exact on the
 *   safe side); the error is only over-strictness: the counted span is
 *   shorter than W + g, so a sender waits at most g longer than with an
 *   exact sliding log.
 *
 * Two phases: limiter_check() at RCPT reserves the message's cost under a
 * transaction id (a later RCPT of the same transaction replaces it, so a
 * message counts once however many RCPTs it has); limiter_commit() at
 * END-OF-MESSAGE turns it into counted units with the real recipient count,
 * once per Postfix instance (a repeated END-OF-MESSAGE is a no-op).
 * Reservations of transactions that never commit expire after
 * reserve_ttl_ms, or are released by limiter_release().
 *
 * Each series keeps the running total of its buckets; a call drops the
 * buckets that left the window from the old end and subtracts them, so the
 * work per call is O(1) amortized, not O(buckets) (the script does the
 * same with a chain of buckets in its hash).
 *
 * Memory per state is bounded: at most LIMITER_MAX_SERIES series of at most
 * buckets+1 buckets, LIMITER_MAX_PENDING reservations and LIMITER_MAX_DONE
 * remembered instances. Library-safe: returns errors, never exits.
 */
#ifndef PORTREEVE_LIMITER_H
#define PORTREEVE_LIMITER_H

#include <stddef.h>
#include <stdint.h>

#define LIMITER_MAX_WINDOWS 8 /* windows per limit set, both kinds together */
/* Bucket series per principal: two limit sets (a user on 25 and on 587)
 * fit; past that the least recently used series gives way. */
#define LIMITER_MAX_SERIES (2 * LIMITER_MAX_WINDOWS)
#define LIMITER_MAX_PENDING 32 /* open reservations per principal */
#define LIMITER_MAX_DONE 256   /* instances remembered per principal */
#define LIMITER_MAX_BUCKETS 1024
#define LIMITER_MAX_COUNT 100000000ULL

enum limiter_kind { LIMITER_MESSAGES = 0, LIMITER_RECIPIENTS = 1 };

struct limiter_window {
    enum limiter_kind kind;
    uint64_t max;    /* units allowed in any span of len_ms */
    uint64_t len_ms; /* window length */
};

struct limiter_limits {
    struct limiter_window w[LIMITER_MAX_WINDOWS];
    size_t n;
    unsigned buckets;        /* B: buckets per window, 1..LIMITER_MAX_BUCKETS */
    uint64_t reserve_ttl_ms; /* life of an uncommitted reservation */
    uint64_t done_ttl_ms;    /* how long a committed instance is remembered */
};

/* Cost of one message: 1 message and this many recipients. */
struct limiter_cost {
    uint64_t messages;
    uint64_t recipients;
};

enum limiter_verdict { LIMITER_OK = 0, LIMITER_EXCEEDED = 1, LIMITER_DUPLICATE = 2 };

struct limiter_result {
    enum limiter_verdict verdict;
    size_t window;    /* index into limits->w of the first window exceeded */
    uint64_t used;    /* units counted in that window, reservations included */
    uint64_t granted; /* check, LIMITER_OK: recipients the reservation holds */
};

struct limiter_state;

/*
 * Parse "100/1h, 500/1d" (units s, m, h, d, w; bare = seconds) and append
 * windows of the given kind to limits. "" and "none" add nothing. Returns 0,
 * or -1 with a reason in err.
 */
int limiter_parse(const char *text, enum limiter_kind kind, struct limiter_limits *limits,
                  char *err, size_t errlen);
/* Format one window as "100/1h" (for logs and reply texts). */
void limiter_window_text(const struct limiter_window *w, char *dst, size_t dstlen);
/* Bucket width g of a window for the given B. */
uint64_t limiter_bucket_ms(uint64_t len_ms, unsigned buckets);

struct limiter_state *limiter_state_new(void);
void limiter_state_free(struct limiter_state *s);

/*
 * RCPT: would the transaction txid, costing cost in all, fit in every
 * window? If so its reservation is set to cost. release (0 = none) names a
 * transaction to drop first (the previous one on the same connection).
 * Returns 0, or -1 on allocation failure (state unchanged).
 */
int limiter_check(struct limiter_state *s, const struct limiter_limits *l, uint64_t now_ms,
                  uint64_t txid, uint64_t release, const struct limiter_cost *cost,
                  struct limiter_result *res);
/*
 * limiter_check that may reserve more recipients than cost asks for, up to
 * want (a grant: the caller admits later RCPTs of the transaction up to
 * res->granted without asking again). The grant is cost->recipients plus
 * at most half of what each recipient window has left beyond it, and at
 * most want (want below cost->recipients counts as cost->recipients), so
 * it never refuses what limiter_check admits and never takes more than
 * half of a window's room from other transactions. Without a recipient
 * window the grant is want.
 */
int limiter_check_grant(struct limiter_state *s, const struct limiter_limits *l, uint64_t now_ms,
                        uint64_t txid, uint64_t release, const struct limiter_cost *cost,
                        uint64_t want, struct limiter_result *res);
/*
 * END-OF-MESSAGE: count cost in every window, once per instance_id (a hash
 * of the Postfix instance; 0 = do not deduplicate), and drop txid's
 * reservation. Returns 0 (res->verdict LIMITER_OK or LIMITER_DUPLICATE), or
 * -1 on allocation failure.
 */
int limiter_commit(struct limiter_state *s, const struct limiter_limits *l, uint64_t now_ms,
                   uint64_t txid, uint64_t instance_id, const struct limiter_cost *cost,
                   struct limiter_result *res);
/* Drop a reservation (connection closed, transaction aborted). */
void limiter_release(struct limiter_state *s, uint64_t txid);
/* 1 when the state holds nothing that matters at now_ms (may be freed). */
int limiter_state_idle(const struct limiter_state *s, uint64_t now_ms);
/* Bytes held by the state, for the store's memory accounting. */
size_t limiter_state_bytes(const struct limiter_state *s);

/* 64-bit FNV-1a, for instance ids and txids. */
uint64_t limiter_hash(const void *data, size_t len);

#endif
