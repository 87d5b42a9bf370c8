/* bench_client.c - the policy-protocol client side of the load generators
 * (policy-loadgen, quota-loadgen): what they share, so that they measure
 * the same way.
 *
 * Public: bench_client_init(), bench_client_open(), bench_client_send(),
 * bench_client_record(), bench_client_stop(), bench_client_break(),
 * bench_client_run(), bench_client_figures(), bench_client_print_actions(),
 * bench_client_print_result(), bench_client_num(), bench_client_raise_nofile(),
 * bench_client_free(), bench_client_now_ns().
 *
 * Each connection keeps at most one request outstanding, as a Postfix smtpd
 * does with its policy client: the program's send_next callback hands a
 * request to bench_client_send(), which writes it (waiting for EV_WRITE when
 * the socket buffer is full); the reader collects the reply up to the empty
 * line and calls the program's reply callback, which records it
 * (bench_client_record(), while measuring) and sends the next. What the
 * requests are is the program's business; the request text is the
 * program's and must stay put until its reply.
 *
 * Contract: replies longer than BENCH_CLIENT_MAX_REPLY bytes, bytes before a
 * request or after a reply, a closed connection, a write error and a reply
 * that takes longer than cl->timeout_ns (checked every 0.1 s) fail the
 * connection: it is closed, counted in cl->errors while measuring (the first
 * five are printed on stderr as "PROG: connection N: why") and, unless the
 * failed callback says otherwise or the run is stopping, reconnected and
 * given its next request. The server's bytes are untrusted and never make
 * the client exit. Tool code, not library code: it prints its diagnostics
 * on stderr, its figures on stdout, and exits with status 2 only when
 * libevent cannot allocate an event (out of memory), as the tools did.
 */
#include "bench_client.h"

#include "bench_proc.h"

#include <errno.h>
#include <event2/event.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

uint64_t bench_client_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* SECS as a timeval for evtimer_add(). */
static struct timeval client_tv(double secs)
{
    struct timeval tv;

    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    return tv;
}

/* Count the first word of an action value ("554 5.7.1 ..." -> "554"). */
static void client_count_action(struct bench_client *cl, const char *reply, size_t len)
{
    const char *w = reply + 7;
    size_t wl = 0;

    if (len < 7 || memcmp(reply, "action=", 7) != 0) {
        cl->other_actions++;
        return;
    }
    while (7 + wl < len && w[wl] != ' ' && w[wl] != '\n' && wl < sizeof(cl->actions[0].word) - 1)
        wl++;
    for (size_t i = 0; i < cl->nactions; i++)
        if (strlen(cl->actions[i].word) == wl && memcmp(cl->actions[i].word, w, wl) == 0) {
            cl->actions[i].n++;
            return;
        }
    if (cl->nactions == cl->max_actions) {
        cl->other_actions++;
        return;
    }
    memcpy(cl->actions[cl->nactions].word, w, wl);
    cl->actions[cl->nactions].word[wl] = '\0';
    cl->actions[cl->nactions++].n = 1;
}

/* Drop C after an error; reconnect it as Postfix's policy client would,
 * unless the program or the end of the run says otherwise. */
static void client_fail(struct bench_client_conn *c, const char *why)
{
    struct bench_client *cl = c->cl;
    int again;

    if (cl->measuring && ++cl->errors <= 5)
        fprintf(stderr, "%s: connection %zu: %s\n", cl->prog, c->index, why);
    event_free(c->rev);
    event_free(c->wev);
    c->rev = c->wev = NULL;
    close(c->fd);
    c->fd = -1;
    c->sent_ns = 0;
    again = cl->ops->failed == NULL || cl->ops->failed(c);
    if (!again || cl->stopping)
        return;
    if (bench_client_open(c) == 0) {
        cl->reconnects++;
        cl->ops->send_next(c);
    }
}

/* Write what is left of the current request; arm the write event if the
 * socket buffer is full. */
static void client_flush(struct bench_client_conn *c)
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
            client_fail(c, strerror(errno));
            return;
        }
        c->req_off += (size_t)w;
    }
}

/* Readable: collect the reply; a reply ends with an empty line. */
static void client_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct bench_client_conn *c = arg;
    (void)what;

    for (;;) {
        size_t old = c->rlen, from;
        ssize_t r;

        if (c->rlen == sizeof(c->rbuf)) {
            client_fail(c, "reply longer than BENCH_CLIENT_MAX_REPLY");
            return;
        }
        r = read(fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            client_fail(c, r == 0 ? "server closed the connection" : strerror(errno));
            return;
        }
        c->rlen += (size_t)r;
        if (c->sent_ns == 0) {
            client_fail(c, "unsolicited bytes from the server");
            return;
        }
        /* look for "\n\n", starting one byte back to catch a split pair */
        from = old > 0 ? old - 1 : 0;
        for (size_t i = from; i + 1 < c->rlen; i++) {
            uint64_t t, sent;

            if (c->rbuf[i] != '\n' || c->rbuf[i + 1] != '\n')
                continue;
            if (i + 2 != c->rlen) {
                client_fail(c, "bytes after the reply");
                return;
            }
            t = bench_client_now_ns();
            sent = c->sent_ns;
            c->sent_ns = 0;
            c->cl->ops->reply(c, i + 2, t, t - sent);
            return;
        }
    }
}

static void client_on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    client_flush(arg);
}

int bench_client_open(struct bench_client_conn *c)
{
    struct bench_client *cl = c->cl;

    c->fd = bench_addr_connect(&cl->addr, 5000);
    if (c->fd < 0)
        return -1;
    c->rev = event_new(cl->base, c->fd, EV_READ | EV_PERSIST, client_on_read, c);
    c->wev = event_new(cl->base, c->fd, EV_WRITE, client_on_write, c);
    if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) != 0) {
        fprintf(stderr, "%s: cannot create events\n", cl->prog);
        exit(2);
    }
    return 0;
}

void bench_client_send(struct bench_client_conn *c, const char *req, size_t len)
{
    c->req = req;
    c->req_len = len;
    c->req_off = 0;
    c->rlen = 0;
    c->sent_ns = bench_client_now_ns();
    client_flush(c);
}

void bench_client_record(struct bench_client *cl, const struct bench_client_conn *c, size_t len,
                         uint64_t lat_ns)
{
    bench_hist_record(&cl->hist, lat_ns);
    client_count_action(cl, c->rbuf, len);
    cl->completed++;
}

void bench_client_stop(struct bench_client *cl, uint64_t t_ns)
{
    cl->t_end = t_ns;
    cl->stopping = 1;
    event_base_loopbreak(cl->base);
}

void bench_client_break(struct bench_client *cl)
{
    event_base_loopbreak(cl->base);
}

/* End of warm-up: start counting. */
static void client_on_warm(evutil_socket_t fd, short what, void *arg)
{
    struct bench_client *cl = arg;
    (void)fd;
    (void)what;

    bench_hist_reset(&cl->hist);
    cl->completed = cl->errors = 0;
    if (cl->ops->warm != NULL)
        cl->ops->warm(cl);
    cl->measuring = 1;
    cl->t_start = bench_client_now_ns();
    if (cl->pid > 0)
        cl->cpu_ok = bench_proc_cpu(cl->pid, &cl->cpu_start_us) == 0;
}

/* End of the measured interval. */
static void client_on_stop(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    bench_client_stop(arg, bench_client_now_ns());
}

/* Periodic check for replies that take longer than the timeout. */
static void client_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct bench_client *cl = arg;
    uint64_t t = bench_client_now_ns();
    (void)fd;
    (void)what;

    for (size_t i = 0; i < cl->nconns; i++) {
        struct bench_client_conn *c = &cl->conns[i];
        if (c->fd >= 0 && c->sent_ns != 0 && t - c->sent_ns > cl->timeout_ns)
            client_fail(c, "reply timeout");
    }
}

void bench_client_run(struct bench_client *cl, double warm, double stop)
{
    struct event *warm_ev = NULL, *stop_ev = NULL, *tick;
    struct timeval tv;

    if (warm >= 0) {
        warm_ev = evtimer_new(cl->base, client_on_warm, cl);
        tv = client_tv(warm);
        evtimer_add(warm_ev, &tv);
    }
    if (stop >= 0) {
        stop_ev = evtimer_new(cl->base, client_on_stop, cl);
        tv = client_tv(stop);
        evtimer_add(stop_ev, &tv);
    }
    tick = event_new(cl->base, -1, EV_PERSIST, client_on_tick, cl);
    tv = client_tv(0.1);
    event_add(tick, &tv);
    if (warm <= 0)
        client_on_warm(-1, 0, cl);
    for (size_t i = 0; i < cl->nconns; i++) {
        if (cl->ops->start != NULL)
            cl->ops->start(&cl->conns[i]);
        else
            cl->ops->send_next(&cl->conns[i]);
    }
    event_base_dispatch(cl->base);
    if (warm_ev != NULL)
        event_free(warm_ev);
    if (stop_ev != NULL)
        event_free(stop_ev);
    event_free(tick);
}

void bench_client_figures(struct bench_client *cl, struct bench_client_figures *f)
{
    const struct bench_hist *h = &cl->hist;
    uint64_t cpu_end_us = 0;

    f->secs = (double)(cl->t_end - cl->t_start) / 1e9;
    f->rps = f->secs > 0 ? (double)cl->completed / f->secs : 0.0;
    f->mean_us = bench_hist_mean(h) / 1e3;
    f->p50_us = (double)bench_hist_quantile(h, 0.50) / 1e3;
    f->p99_us = (double)bench_hist_quantile(h, 0.99) / 1e3;
    f->p999_us = (double)bench_hist_quantile(h, 0.999) / 1e3;
    f->max_us = (double)h->max_ns / 1e3;
    f->rss_kb = f->hwm_kb = 0;
    f->have_mem = cl->pid > 0 && bench_proc_mem(cl->pid, &f->rss_kb, &f->hwm_kb) == 0;
    f->cpu_us_per_req = -1.0;
    if (cl->cpu_ok && bench_proc_cpu(cl->pid, &cpu_end_us) == 0 && cl->completed > 0)
        f->cpu_us_per_req = (double)(cpu_end_us - cl->cpu_start_us) / (double)cl->completed;
}

void bench_client_print_actions(const struct bench_client *cl)
{
    printf("actions   ");
    for (size_t i = 0; i < cl->nactions; i++)
        printf(" %s %.1f%%", cl->actions[i].word,
               100.0 * (double)cl->actions[i].n / (double)(cl->completed ? cl->completed : 1));
    if (cl->other_actions)
        printf(" other %llu", (unsigned long long)cl->other_actions);
    printf("\n");
}

void bench_client_print_result(const struct bench_client *cl, const char *mode,
                               const struct bench_client_figures *f)
{
    printf("RESULT mode=%s conns=%zu requests=%llu secs=%.3f rps=%.0f mean_us=%.1f p50_us=%.1f "
           "p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%llu rss_kb=%llu hwm_kb=%llu "
           "cpu_us_per_req=%.2f",
           mode, cl->nconns, (unsigned long long)cl->completed, f->secs, f->rps, f->mean_us,
           f->p50_us, f->p99_us, f->p999_us, f->max_us, (unsigned long long)cl->errors,
           (unsigned long long)f->rss_kb, (unsigned long long)f->hwm_kb, f->cpu_us_per_req);
}

int bench_client_num(const char *s, double min, double max, double *out)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min) || v > max)
        return -1;
    *out = v;
    return 0;
}

void bench_client_raise_nofile(size_t need)
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

int bench_client_init(struct bench_client *cl, size_t nconns, size_t max_actions,
                      const struct bench_client_ops *ops)
{
    /* A server that resets a connection must show up as a counted error,
     * not kill the load generator with SIGPIPE. */
    signal(SIGPIPE, SIG_IGN);
    cl->ops = ops;
    cl->nconns = nconns;
    cl->max_actions =
        max_actions < BENCH_CLIENT_MAX_ACTIONS ? max_actions : BENCH_CLIENT_MAX_ACTIONS;
    bench_hist_reset(&cl->hist);
    cl->base = event_base_new();
    cl->conns = calloc(nconns, sizeof(*cl->conns));
    if (cl->base == NULL || cl->conns == NULL)
        return -1;
    for (size_t i = 0; i < nconns; i++) {
        cl->conns[i].cl = cl;
        cl->conns[i].index = i;
        cl->conns[i].fd = -1;
    }
    return 0;
}

void bench_client_free(struct bench_client *cl)
{
    for (size_t i = 0; cl->conns != NULL && i < cl->nconns; i++)
        if (cl->conns[i].fd >= 0) {
            event_free(cl->conns[i].rev);
            event_free(cl->conns[i].wev);
            close(cl->conns[i].fd);
        }
    free(cl->conns);
    cl->conns = NULL;
    if (cl->base != NULL)
        event_base_free(cl->base);
    cl->base = NULL;
}
