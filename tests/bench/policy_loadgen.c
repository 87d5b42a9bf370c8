/* policy_loadgen.c - load generator for Postfix policy servers.
 *
 * policy-loadgen -s ENDPOINT [-c CONNS] [-t SECS | -n COUNT] [-w SECS]
 *                [-p PID] [-d DIR] [-V VARIANTS] [-S SEED] [-T MS] [-q]
 * policy-loadgen -s ENDPOINT -i K [-t SECS] [-p PID] [-q]
 *
 * Load mode: opens CONNS persistent connections to ENDPOINT
 * ("unix:/path" or "inet:host:port") and on each keeps exactly one request
 * outstanding, as a Postfix smtpd does with its policy client: send a
 * request, wait for the whole reply ("...\n\n"), send the next. Requests
 * are realistic variants of captured Postfix 3.7 requests (bench_req.c).
 * After a warm-up (-w, default 0.5 s) it measures for -t seconds (default 3)
 * or until COUNT replies, then prints requests/s, latency p50/p99/p999/max
 * (bench_hist.c), the spread of reply actions, and for -p PID the daemon's
 * VmRSS/VmHWM and CPU time per request (from /proc).
 *
 * Idle mode (-i K): opens K connections, sends one request on each (so the
 * server has set up whatever per-connection state it keeps), holds them idle
 * for -t seconds (default 1), then prints the daemon's VmRSS/VmHWM.
 *
 * The last output line is machine-readable: "RESULT key=value ...".
 * Exit status: 0 if the run completed without errors, 1 if any request failed
 * (connection closed, timeout, malformed reply), 2 on a usage or setup error.
 *
 * Limits: replies longer than LOADGEN_MAX_REPLY bytes are errors; at most
 * LOADGEN_MAX_CONNS connections. Every run is bounded by -t plus a grace of
 * -T milliseconds for the replies still outstanding at the start.
 */
#include "bench_addr.h"
#include "bench_hist.h"
#include "bench_proc.h"
#include "bench_req.h"

#include <errno.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#ifndef BENCH_DATA_DIR
#define BENCH_DATA_DIR "tests/bench/data"
#endif

#define LOADGEN_MAX_REPLY 1024
#define LOADGEN_MAX_CONNS 100000
#define LOADGEN_MAX_ACTIONS 16

struct conn {
    struct loadgen *lg;
    int fd;
    struct event *rev;
    struct event *wev;
    const char *req; /* request being written */
    size_t req_len, req_off;
    size_t next_req;  /* index of the next variant to send */
    uint64_t sent_ns; /* 0: no request outstanding */
    char rbuf[LOADGEN_MAX_REPLY];
    size_t rlen;
    int replied; /* idle mode: got the one reply */
};

struct action_count {
    char word[24];
    uint64_t n;
};

struct loadgen {
    struct event_base *base;
    struct bench_addr addr;
    struct bench_req_set *reqs;
    struct conn *conns;
    size_t nconns;
    int idle_mode;
    int measuring; /* after warm-up */
    int stopping;
    uint64_t max_count;
    uint64_t timeout_ns;
    struct bench_hist hist;
    uint64_t completed, errors, reconnects;
    size_t idle_replied;
    struct action_count actions[LOADGEN_MAX_ACTIONS];
    size_t nactions;
    uint64_t other_actions;
    pid_t pid;
    uint64_t cpu_start_us, cpu_end_us;
    int cpu_ok;
    uint64_t t_measure_start, t_measure_end;
};

/* Monotonic clock in nanoseconds. */
static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void conn_send_next(struct conn *c);
static int conn_open(struct conn *c);

/* Count the first word of an action value ("554 5.7.1 ..." -> "554"). */
static void count_action(struct loadgen *lg, const char *reply, size_t len)
{
    if (len < 7 || memcmp(reply, "action=", 7) != 0) {
        lg->other_actions++;
        return;
    }
    const char *w = reply + 7;
    size_t wl = 0;
    while (7 + wl < len && w[wl] != ' ' && w[wl] != '\n' && wl < sizeof(lg->actions[0].word) - 1)
        wl++;
    for (size_t i = 0; i < lg->nactions; i++)
        if (strlen(lg->actions[i].word) == wl && memcmp(lg->actions[i].word, w, wl) == 0) {
            lg->actions[i].n++;
            return;
        }
    if (lg->nactions == LOADGEN_MAX_ACTIONS) {
        lg->other_actions++;
        return;
    }
    memcpy(lg->actions[lg->nactions].word, w, wl);
    lg->actions[lg->nactions].word[wl] = '\0';
    lg->actions[lg->nactions++].n = 1;
}

/* Drop the connection after an error; in load mode open a new one, as
 * Postfix's policy client would. */
static void conn_fail(struct conn *c, const char *why)
{
    struct loadgen *lg = c->lg;
    if (lg->measuring || lg->idle_mode)
        lg->errors++;
    if (lg->errors <= 5 && (lg->measuring || lg->idle_mode))
        fprintf(stderr, "policy-loadgen: connection %zu: %s\n", (size_t)(c - lg->conns), why);
    event_free(c->rev);
    event_free(c->wev);
    c->rev = c->wev = NULL;
    close(c->fd);
    c->fd = -1;
    c->sent_ns = 0;
    if (lg->idle_mode || lg->stopping)
        return;
    if (conn_open(c) == 0) {
        lg->reconnects++;
        conn_send_next(c);
    }
}

/* Write what is left of the current request; arm the write event if the
 * socket buffer is full. */
static void conn_flush(struct conn *c)
{
    while (c->req_off < c->req_len) {
        ssize_t w = write(c->fd, c->req + c->req_off, c->req_len - c->req_off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            event_add(c->wev, NULL);
            return;
        }
        if (w <= 0) {
            conn_fail(c, strerror(errno));
            return;
        }
        c->req_off += (size_t)w;
    }
}

/* Start the next request on C. */
static void conn_send_next(struct conn *c)
{
    size_t n = bench_req_count(c->lg->reqs);
    c->req = bench_req_get(c->lg->reqs, c->next_req, &c->req_len);
    c->next_req = (c->next_req + 1) % n;
    c->req_off = 0;
    c->rlen = 0;
    c->sent_ns = now_ns();
    conn_flush(c);
}

/* A whole reply arrived on C at time T. */
static void conn_reply(struct conn *c, size_t len, uint64_t t)
{
    struct loadgen *lg = c->lg;
    uint64_t lat = t - c->sent_ns;
    c->sent_ns = 0;
    if (lg->idle_mode) {
        if (!c->replied) {
            c->replied = 1;
            lg->idle_replied++;
            if (lg->idle_replied == lg->nconns)
                event_base_loopbreak(lg->base);
        }
        return;
    }
    if (lg->measuring) {
        bench_hist_record(&lg->hist, lat);
        count_action(lg, c->rbuf, len);
        lg->completed++;
        if (lg->max_count != 0 && lg->completed >= lg->max_count) {
            lg->t_measure_end = t;
            lg->stopping = 1;
            event_base_loopbreak(lg->base);
            return;
        }
    }
    if (!lg->stopping)
        conn_send_next(c);
}

/* Readable: collect the reply; a reply ends with an empty line. */
static void on_read(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;
    (void)what;
    for (;;) {
        if (c->rlen == sizeof(c->rbuf)) {
            conn_fail(c, "reply longer than LOADGEN_MAX_REPLY");
            return;
        }
        ssize_t r = read(fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            conn_fail(c, r == 0 ? "server closed the connection" : strerror(errno));
            return;
        }
        size_t old = c->rlen;
        c->rlen += (size_t)r;
        if (c->sent_ns == 0) {
            conn_fail(c, "unsolicited bytes from the server");
            return;
        }
        /* look for "\n\n", starting one byte back to catch a split pair */
        size_t from = old > 0 ? old - 1 : 0;
        for (size_t i = from; i + 1 < c->rlen; i++)
            if (c->rbuf[i] == '\n' && c->rbuf[i + 1] == '\n') {
                if (i + 2 != c->rlen) {
                    conn_fail(c, "bytes after the reply");
                    return;
                }
                conn_reply(c, i + 2, now_ns());
                return;
            }
    }
}

static void on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    conn_flush(arg);
}

/* Connect C and create its events. */
static int conn_open(struct conn *c)
{
    c->fd = bench_addr_connect(&c->lg->addr, 5000);
    if (c->fd < 0)
        return -1;
    c->rev = event_new(c->lg->base, c->fd, EV_READ | EV_PERSIST, on_read, c);
    c->wev = event_new(c->lg->base, c->fd, EV_WRITE, on_write, c);
    if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) != 0) {
        fprintf(stderr, "policy-loadgen: cannot create events\n");
        exit(2);
    }
    return 0;
}

/* End of warm-up: start counting. */
static void on_warm(evutil_socket_t fd, short what, void *arg)
{
    struct loadgen *lg = arg;
    (void)fd;
    (void)what;
    bench_hist_reset(&lg->hist);
    lg->completed = lg->errors = 0;
    lg->measuring = 1;
    lg->t_measure_start = now_ns();
    if (lg->pid > 0)
        lg->cpu_ok = bench_proc_cpu(lg->pid, &lg->cpu_start_us) == 0;
}

/* End of the measured interval. */
static void on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct loadgen *lg = arg;
    (void)fd;
    (void)what;
    lg->t_measure_end = now_ns();
    lg->stopping = 1;
    event_base_loopbreak(lg->base);
}

/* Periodic check for replies that take longer than the timeout. */
static void on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct loadgen *lg = arg;
    (void)fd;
    (void)what;
    uint64_t t = now_ns();
    for (size_t i = 0; i < lg->nconns; i++) {
        struct conn *c = &lg->conns[i];
        if (c->fd >= 0 && c->sent_ns != 0 && t - c->sent_ns > lg->timeout_ns)
            conn_fail(c, "reply timeout");
    }
}

static void usage(void)
{
    fprintf(stderr,
            "usage: policy-loadgen -s unix:PATH|inet:HOST:PORT [-c CONNS] [-t SECS | -n COUNT]\n"
            "                      [-w WARMUP_SECS] [-p PID] [-d DIR] [-V VARIANTS] [-S SEED]\n"
            "                      [-T TIMEOUT_MS] [-q]\n"
            "       policy-loadgen -s ENDPOINT -i IDLE_CONNS [-t HOLD_SECS] [-p PID] [-q]\n");
    exit(2);
}

/* Parse a non-negative decimal number or exit with a usage message. */
static double num_arg(const char *s, const char *what, double max)
{
    char *end = NULL;
    errno = 0;
    double v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= 0.0) || v > max) {
        fprintf(stderr, "policy-loadgen: bad %s \"%s\"\n", what, s);
        exit(2);
    }
    return v;
}

/* Raise the open-files limit so that thousands of connections fit. */
static void raise_nofile(size_t need)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
        return;
    if (rl.rlim_cur < need + 64) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > need + 64 ? (rlim_t)(need + 64)
                                                                              : rl.rlim_max;
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
}

/* Convert a timeval-style seconds value for evtimer_add. */
static struct timeval tv_of(double secs)
{
    struct timeval tv;
    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    return tv;
}

/* Open every connection; exits on failure (the server is not there). */
static void open_all(struct loadgen *lg)
{
    for (size_t i = 0; i < lg->nconns; i++) {
        lg->conns[i].lg = lg;
        lg->conns[i].fd = -1;
        lg->conns[i].next_req = (i * 7919u) % bench_req_count(lg->reqs);
        if (conn_open(&lg->conns[i]) != 0) {
            fprintf(stderr, "policy-loadgen: connect %zu to server: %s\n", i, strerror(errno));
            exit(2);
        }
    }
}

/* Print the daemon's memory; returns 0 if it could be read. */
static int print_mem(pid_t pid, const char *when, uint64_t *rss, uint64_t *hwm, int quiet)
{
    if (bench_proc_mem(pid, rss, hwm) != 0) {
        fprintf(stderr, "policy-loadgen: cannot read /proc/%ld/status\n", (long)pid);
        return -1;
    }
    if (!quiet)
        printf("daemon     pid %ld %s: VmRSS %llu kB, VmHWM %llu kB\n", (long)pid, when,
               (unsigned long long)*rss, (unsigned long long)*hwm);
    return 0;
}

/* Idle mode: K connections, one request each, then hold and measure RSS. */
static int run_idle(struct loadgen *lg, double hold, const char *spec, int quiet)
{
    uint64_t rss0 = 0, hwm0 = 0, rss = 0, hwm = 0;
    int have0 = lg->pid > 0 && print_mem(lg->pid, "before", &rss0, &hwm0, quiet) == 0;
    open_all(lg);
    for (size_t i = 0; i < lg->nconns; i++)
        conn_send_next(&lg->conns[i]);
    struct event *tick = event_new(lg->base, -1, EV_PERSIST, on_tick, lg);
    struct timeval tv = tv_of(0.1);
    event_add(tick, &tv);
    struct event *stop = evtimer_new(lg->base, on_stop, lg);
    tv = tv_of((double)lg->timeout_ns / 1e9);
    evtimer_add(stop, &tv);
    event_base_dispatch(lg->base); /* until all replied or timeout */
    event_free(stop);
    event_free(tick);
    size_t open = 0;
    for (size_t i = 0; i < lg->nconns; i++)
        open += lg->conns[i].fd >= 0;
    usleep((useconds_t)(hold * 1e6));
    int have = lg->pid > 0 && print_mem(lg->pid, "with idle connections", &rss, &hwm, quiet) == 0;
    if (!quiet)
        printf("idle       %zu connections to %s, %zu answered, %zu still open after %.1f s\n",
               lg->nconns, spec, lg->idle_replied, open, hold);
    printf("RESULT mode=idle conns=%zu answered=%zu open=%zu errors=%llu rss_before_kb=%llu "
           "rss_kb=%llu hwm_kb=%llu\n",
           lg->nconns, lg->idle_replied, open, (unsigned long long)lg->errors,
           (unsigned long long)(have0 ? rss0 : 0), (unsigned long long)(have ? rss : 0),
           (unsigned long long)(have ? hwm : 0));
    return lg->errors == 0 && lg->idle_replied == lg->nconns && open == lg->nconns ? 0 : 1;
}

/* Print the load-mode report. */
static void report(struct loadgen *lg, const char *spec, double warm, int quiet)
{
    double secs = (double)(lg->t_measure_end - lg->t_measure_start) / 1e9;
    double rps = secs > 0 ? (double)lg->completed / secs : 0.0;
    const struct bench_hist *h = &lg->hist;
    double p50 = (double)bench_hist_quantile(h, 0.50) / 1e3;
    double p99 = (double)bench_hist_quantile(h, 0.99) / 1e3;
    double p999 = (double)bench_hist_quantile(h, 0.999) / 1e3;
    double mx = (double)h->max_ns / 1e3;
    uint64_t rss = 0, hwm = 0;
    int have_mem = lg->pid > 0 && bench_proc_mem(lg->pid, &rss, &hwm) == 0;
    double cpu_per_req = -1.0;
    if (lg->cpu_ok && bench_proc_cpu(lg->pid, &lg->cpu_end_us) == 0 && lg->completed > 0)
        cpu_per_req = (double)(lg->cpu_end_us - lg->cpu_start_us) / (double)lg->completed;
    if (!quiet) {
        struct bench_req_mix m;
        bench_req_mix(lg->reqs, &m);
        printf("load       %s, %zu connection(s), %.2f s measured after %.2f s warm-up\n", spec,
               lg->nconns, secs, warm);
        printf("mix        %zu variants: port 25/587/465 %zu/%zu/%zu, policy_context %zu, "
               "on-net %zu, IPv6 %zu, SASL %zu, TLS %zu, local rcpt %zu, END-OF-MESSAGE %zu\n",
               m.total, m.port25, m.port587, m.port465, m.with_context, m.onnet, m.ipv6, m.authed,
               m.tls, m.local_rcpt, m.eom);
        printf("requests   %llu = %.0f req/s, errors %llu, reconnects %llu\n",
               (unsigned long long)lg->completed, rps, (unsigned long long)lg->errors,
               (unsigned long long)lg->reconnects);
        printf("latency    mean %.1f us, p50 %.1f us, p99 %.1f us, p999 %.1f us, max %.1f us\n",
               bench_hist_mean(h) / 1e3, p50, p99, p999, mx);
        printf("actions   ");
        for (size_t i = 0; i < lg->nactions; i++)
            printf(" %s %.1f%%", lg->actions[i].word,
                   100.0 * (double)lg->actions[i].n / (double)(lg->completed ? lg->completed : 1));
        if (lg->other_actions)
            printf(" other %llu", (unsigned long long)lg->other_actions);
        printf("\n");
        if (have_mem)
            printf("daemon     pid %ld: VmRSS %llu kB, VmHWM %llu kB, CPU %.1f us/request\n",
                   (long)lg->pid, (unsigned long long)rss, (unsigned long long)hwm, cpu_per_req);
    }
    printf("RESULT mode=load conns=%zu requests=%llu secs=%.3f rps=%.0f mean_us=%.1f p50_us=%.1f "
           "p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%llu rss_kb=%llu hwm_kb=%llu "
           "cpu_us_per_req=%.2f\n",
           lg->nconns, (unsigned long long)lg->completed, secs, rps, bench_hist_mean(h) / 1e3, p50,
           p99, p999, mx, (unsigned long long)lg->errors, (unsigned long long)rss,
           (unsigned long long)hwm, cpu_per_req);
}

int main(int argc, char **argv)
{
    const char *spec = NULL, *dir = BENCH_DATA_DIR;
    double secs = -1.0, warm = 0.5, timeout_ms = 5000;
    size_t conns = 1, idle = 0, variants = 4096;
    uint64_t count = 0, seed = 1;
    long pid = 0;
    int quiet = 0, opt;

    while ((opt = getopt(argc, argv, "s:c:t:n:w:p:d:V:S:T:i:q")) != -1) {
        switch (opt) {
        case 's':
            spec = optarg;
            break;
        case 'c':
            conns = (size_t)num_arg(optarg, "connection count", LOADGEN_MAX_CONNS);
            break;
        case 't':
            secs = num_arg(optarg, "duration", 3600);
            break;
        case 'n':
            count = (uint64_t)num_arg(optarg, "request count", 1e12);
            break;
        case 'w':
            warm = num_arg(optarg, "warm-up", 60);
            break;
        case 'p':
            pid = (long)num_arg(optarg, "pid", 4194304);
            break;
        case 'd':
            dir = optarg;
            break;
        case 'V':
            variants = (size_t)num_arg(optarg, "variant count", 1000000);
            break;
        case 'S':
            seed = (uint64_t)num_arg(optarg, "seed", 1e15);
            break;
        case 'T':
            timeout_ms = num_arg(optarg, "timeout", 600000);
            break;
        case 'i':
            idle = (size_t)num_arg(optarg, "idle connection count", LOADGEN_MAX_CONNS);
            break;
        case 'q':
            quiet = 1;
            break;
        default:
            usage();
        }
    }
    if (spec == NULL || optind != argc || (idle == 0 && conns == 0) || variants == 0 ||
        timeout_ms < 1)
        usage();

    static struct loadgen lg; /* holds the histogram; zeroed */
    char err[512];
    if (bench_addr_parse(spec, &lg.addr, err, sizeof(err)) != 0) {
        fprintf(stderr, "policy-loadgen: %s\n", err);
        return 2;
    }
    lg.reqs = bench_req_new();
    if (lg.reqs == NULL || bench_req_load_dir(lg.reqs, dir, err, sizeof(err)) != 0 ||
        bench_req_generate(lg.reqs, variants, seed, err, sizeof(err)) != 0) {
        fprintf(stderr, "policy-loadgen: %s\n", lg.reqs ? err : "out of memory");
        return 2;
    }
    lg.base = event_base_new();
    lg.idle_mode = idle > 0;
    lg.nconns = idle > 0 ? idle : conns;
    lg.max_count = count;
    lg.timeout_ns = (uint64_t)(timeout_ms * 1e6);
    lg.pid = (pid_t)pid;
    lg.conns = calloc(lg.nconns, sizeof(struct conn));
    if (lg.base == NULL || lg.conns == NULL) {
        fprintf(stderr, "policy-loadgen: out of memory\n");
        return 2;
    }
    bench_hist_reset(&lg.hist);
    raise_nofile(lg.nconns);

    if (lg.idle_mode)
        return run_idle(&lg, secs < 0 ? 1.0 : secs, spec, quiet);

    if (secs < 0)
        secs = count > 0 ? 3600 : 3; /* -n alone: the count ends the run */
    open_all(&lg);
    struct event *warm_ev = evtimer_new(lg.base, on_warm, &lg);
    struct event *stop_ev = evtimer_new(lg.base, on_stop, &lg);
    struct event *tick = event_new(lg.base, -1, EV_PERSIST, on_tick, &lg);
    struct timeval tv = tv_of(warm);
    evtimer_add(warm_ev, &tv);
    tv = tv_of(warm + secs);
    evtimer_add(stop_ev, &tv);
    tv = tv_of(0.1);
    event_add(tick, &tv);
    if (warm <= 0.0)
        on_warm(-1, 0, &lg);
    for (size_t i = 0; i < lg.nconns; i++)
        conn_send_next(&lg.conns[i]);
    event_base_dispatch(lg.base);
    report(&lg, spec, warm, quiet);
    int rc = lg.errors == 0 && lg.completed > 0 ? 0 : 1;
    event_free(warm_ev);
    event_free(stop_ev);
    event_free(tick);
    for (size_t i = 0; i < lg.nconns; i++)
        if (lg.conns[i].fd >= 0) {
            event_free(lg.conns[i].rev);
            event_free(lg.conns[i].wev);
            close(lg.conns[i].fd);
        }
    free(lg.conns);
    bench_req_free(lg.reqs);
    event_base_free(lg.base);
    return rc;
}
