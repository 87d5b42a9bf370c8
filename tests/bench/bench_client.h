/* bench_client.h - the policy-protocol client side of the load generators:
 * connections, request/reply framing, timers and the common figures.
 * See bench_client.c for the contract. */
#ifndef PORTREEVE_BENCH_CLIENT_H
#define PORTREEVE_BENCH_CLIENT_H

#include "bench_addr.h"
#include "bench_hist.h"

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define BENCH_CLIENT_MAX_REPLY 1024
#define BENCH_CLIENT_MAX_ACTIONS 16

struct event;
struct event_base;
struct bench_client;

/* One connection; it keeps at most one request outstanding. */
struct bench_client_conn {
    struct bench_client *cl;
    size_t index; /* in cl->conns, for the program's own per-connection state */
    int fd;       /* -1: closed */
    struct event *rev, *wev;
    const char *req; /* request being written; owned by the program */
    size_t req_len, req_off;
    uint64_t sent_ns; /* 0: no request outstanding */
    char rbuf[BENCH_CLIENT_MAX_REPLY];
    size_t rlen;
};

/* What the program does; called from the event loop. */
struct bench_client_ops {
    /* Start the next request on C: bench_client_send(), or nothing. */
    void (*send_next)(struct bench_client_conn *c);
    /* A whole reply (c->rbuf, LEN bytes ending in "\n\n") arrived at T_NS,
     * LAT_NS after its request was sent; c->sent_ns is already 0. */
    void (*reply)(struct bench_client_conn *c, size_t len, uint64_t t_ns, uint64_t lat_ns);
    /* Optional: C failed and is closed; return nonzero to have it
     * reconnected and given its next request by send_next, which never
     * happens while stopping (NULL: always reconnect). */
    int (*failed)(struct bench_client_conn *c);
    /* Optional: the first request on C at bench_client_run() (NULL:
     * send_next). */
    void (*start)(struct bench_client_conn *c);
    /* Optional: measuring starts (again, when a zero warm-up's timer fires
     * after the start): reset the program's own counters with the client's. */
    void (*warm)(struct bench_client *cl);
};

struct bench_client_action {
    char word[24];
    uint64_t n;
};

/* The figures of the measured interval, as both RESULT lines print them. */
struct bench_client_figures {
    double secs, rps;
    double mean_us, p50_us, p99_us, p999_us, max_us;
    double cpu_us_per_req; /* -1 when unknown */
    uint64_t rss_kb, hwm_kb;
    int have_mem; /* rss_kb and hwm_kb were read */
};

/* The fields before "ops" are the caller's to set (before bench_client_init()
 * or right after); the rest are the client's, for the caller to read. */
struct bench_client {
    const char *prog; /* prefix of diagnostics on stderr */
    struct bench_addr addr;
    uint64_t timeout_ns; /* a reply that takes longer fails its connection */
    pid_t pid;           /* > 0: the server's CPU time is read at warm-up */
    void *arg;           /* the program's own state, for the callbacks */
    const struct bench_client_ops *ops;
    struct event_base *base;
    struct bench_client_conn *conns;
    size_t nconns;
    int measuring; /* after warm-up: replies are recorded, errors counted */
    int stopping;
    struct bench_hist hist;
    uint64_t completed, errors, reconnects;
    struct bench_client_action actions[BENCH_CLIENT_MAX_ACTIONS];
    size_t nactions, max_actions;
    uint64_t other_actions;
    uint64_t cpu_start_us;
    int cpu_ok;
    uint64_t t_start, t_end; /* the measured interval, monotonic ns */
};

/* Monotonic clock in nanoseconds. */
uint64_t bench_client_now_ns(void);

/* Create the event base and NCONNS closed connections; at most MAX_ACTIONS
 * (<= BENCH_CLIENT_MAX_ACTIONS) distinct reply actions are counted by name.
 * 0, or -1 when out of memory. */
int bench_client_init(struct bench_client *cl, size_t nconns, size_t max_actions,
                      const struct bench_client_ops *ops);

/* Connect C and watch it; 0, or -1 with errno set. */
int bench_client_open(struct bench_client_conn *c);

/* Send REQ (LEN bytes, kept by the caller until the reply) on C. */
void bench_client_send(struct bench_client_conn *c, const char *req, size_t len);

/* Record a reply of LEN bytes in c->rbuf that took LAT_NS: latency, action
 * and count. */
void bench_client_record(struct bench_client *cl, const struct bench_client_conn *c, size_t len,
                         uint64_t lat_ns);

/* End the measured interval at T_NS and leave the event loop. */
void bench_client_stop(struct bench_client *cl, uint64_t t_ns);

/* Leave the event loop (bench_client_run() returns) without ending the
 * measured interval. */
void bench_client_break(struct bench_client *cl);

/* Send the first request on every connection and run the event loop. Warm-up
 * ends after WARM seconds, measuring stops after STOP seconds; WARM < 0: no
 * warm-up timer; WARM <= 0: measuring starts at once; STOP < 0: the callbacks
 * end the loop (bench_client_stop() or event_base_loopbreak()). */
void bench_client_run(struct bench_client *cl, double warm, double stop);

/* The figures of the measured interval; reads the server's memory and CPU
 * time now when cl->pid > 0. */
void bench_client_figures(struct bench_client *cl, struct bench_client_figures *f);

/* Print "actions   " and the share of each reply action, one line. */
void bench_client_print_actions(const struct bench_client *cl);

/* Print "RESULT mode=MODE conns=... cpu_us_per_req=..." without the newline,
 * for the caller to add its own fields. */
void bench_client_print_result(const struct bench_client *cl, const char *mode,
                               const struct bench_client_figures *f);

/* Parse S as a decimal number in [MIN, MAX]: 0, or -1 if it is not one. */
int bench_client_num(const char *s, double min, double max, double *out);

/* Raise the open-files limit for NEED connections, as far as allowed. */
void bench_client_raise_nofile(size_t need);

/* Close every connection and free what bench_client_init() made. */
void bench_client_free(struct bench_client *cl);

#endif
