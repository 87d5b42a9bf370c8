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
 * Limits: replies longer than BENCH_CLIENT_MAX_REPLY bytes are errors; at
 * most LOADGEN_MAX_CONNS connections. Every run is bounded by -t plus a
 * grace of -T milliseconds for the replies still outstanding at the start.
 * The connections, the framing and the common figures are bench_client.c's;
 * what is sent, the modes and the report are this file's.
 */
#include "bench_client.h"
#include "bench_proc.h"
#include "bench_req.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef BENCH_DATA_DIR
#define BENCH_DATA_DIR "tests/bench/data"
#endif

#define LOADGEN_MAX_CONNS 100000
#define LOADGEN_MAX_ACTIONS 16

/* What this program keeps per connection. */
struct lg_conn {
    size_t next_req; /* index of the next variant to send */
    int replied;     /* idle mode: got the one reply */
};

struct loadgen {
    struct bench_client cl;
    struct bench_req_set *reqs;
    struct lg_conn *conns;
    int idle_mode;
    uint64_t max_count;
    size_t idle_replied;
};

/* Start the next request on C. */
static void conn_send_next(struct bench_client_conn *c)
{
    struct loadgen *lg = c->cl->arg;
    struct lg_conn *s = &lg->conns[c->index];
    size_t n = bench_req_count(lg->reqs), len = 0;
    const char *req = bench_req_get(lg->reqs, s->next_req, &len);

    s->next_req = (s->next_req + 1) % n;
    bench_client_send(c, req, len);
}

/* A whole reply arrived on C at time T, LAT after its request. */
static void conn_reply(struct bench_client_conn *c, size_t len, uint64_t t, uint64_t lat)
{
    struct bench_client *cl = c->cl;
    struct loadgen *lg = cl->arg;

    if (lg->idle_mode) {
        if (!lg->conns[c->index].replied) {
            lg->conns[c->index].replied = 1;
            lg->idle_replied++;
            if (lg->idle_replied == cl->nconns)
                bench_client_break(cl);
        }
        return;
    }
    if (cl->measuring) {
        bench_client_record(cl, c, len, lat);
        if (lg->max_count != 0 && cl->completed >= lg->max_count) {
            bench_client_stop(cl, t);
            return;
        }
    }
    if (!cl->stopping)
        conn_send_next(c);
}

/* A failed connection is opened again in load mode, as Postfix's policy
 * client would; in idle mode it stays closed (and counts as not open). */
static int conn_failed(struct bench_client_conn *c)
{
    const struct loadgen *lg = c->cl->arg;

    return !lg->idle_mode;
}

static const struct bench_client_ops lg_ops = {
    .send_next = conn_send_next,
    .reply = conn_reply,
    .failed = conn_failed,
};

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
    double v = 0.0;

    if (bench_client_num(s, 0.0, max, &v) != 0) {
        fprintf(stderr, "policy-loadgen: bad %s \"%s\"\n", what, s);
        exit(2);
    }
    return v;
}

/* Open every connection; exits on failure (the server is not there). */
static void open_all(struct loadgen *lg)
{
    for (size_t i = 0; i < lg->cl.nconns; i++) {
        lg->conns[i].next_req = (i * 7919u) % bench_req_count(lg->reqs);
        if (bench_client_open(&lg->cl.conns[i]) != 0) {
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

/* Idle mode: K connections, one request each, then hold and measure RSS.
 * Errors count from the start (there is no warm-up). */
static int run_idle(struct loadgen *lg, double hold, const char *spec, int quiet)
{
    struct bench_client *cl = &lg->cl;
    uint64_t rss0 = 0, hwm0 = 0, rss = 0, hwm = 0;
    int have0 = cl->pid > 0 && print_mem(cl->pid, "before", &rss0, &hwm0, quiet) == 0;
    open_all(lg);
    bench_client_run(cl, -1.0, (double)cl->timeout_ns / 1e9); /* until all replied or timeout */
    size_t open = 0;
    for (size_t i = 0; i < cl->nconns; i++)
        open += cl->conns[i].fd >= 0;
    usleep((useconds_t)(hold * 1e6));
    int have = cl->pid > 0 && print_mem(cl->pid, "with idle connections", &rss, &hwm, quiet) == 0;
    if (!quiet)
        printf("idle       %zu connections to %s, %zu answered, %zu still open after %.1f s\n",
               cl->nconns, spec, lg->idle_replied, open, hold);
    printf("RESULT mode=idle conns=%zu answered=%zu open=%zu errors=%llu rss_before_kb=%llu "
           "rss_kb=%llu hwm_kb=%llu\n",
           cl->nconns, lg->idle_replied, open, (unsigned long long)cl->errors,
           (unsigned long long)(have0 ? rss0 : 0), (unsigned long long)(have ? rss : 0),
           (unsigned long long)(have ? hwm : 0));
    return cl->errors == 0 && lg->idle_replied == cl->nconns && open == cl->nconns ? 0 : 1;
}

/* Print the load-mode report. */
static void report(struct loadgen *lg, const char *spec, double warm, int quiet)
{
    struct bench_client *cl = &lg->cl;
    struct bench_client_figures f;

    bench_client_figures(cl, &f);
    if (!quiet) {
        struct bench_req_mix m;
        bench_req_mix(lg->reqs, &m);
        printf("load       %s, %zu connection(s), %.2f s measured after %.2f s warm-up\n", spec,
               cl->nconns, f.secs, warm);
        printf("mix        %zu variants: port 25/587/465 %zu/%zu/%zu, policy_context %zu, "
               "on-net %zu, IPv6 %zu, SASL %zu, TLS %zu, local rcpt %zu, END-OF-MESSAGE %zu\n",
               m.total, m.port25, m.port587, m.port465, m.with_context, m.onnet, m.ipv6, m.authed,
               m.tls, m.local_rcpt, m.eom);
        printf("requests   %llu = %.0f req/s, errors %llu, reconnects %llu\n",
               (unsigned long long)cl->completed, f.rps, (unsigned long long)cl->errors,
               (unsigned long long)cl->reconnects);
        printf("latency    mean %.1f us, p50 %.1f us, p99 %.1f us, p999 %.1f us, max %.1f us\n",
               f.mean_us, f.p50_us, f.p99_us, f.p999_us, f.max_us);
        bench_client_print_actions(cl);
        if (f.have_mem)
            printf("daemon     pid %ld: VmRSS %llu kB, VmHWM %llu kB, CPU %.1f us/request\n",
                   (long)cl->pid, (unsigned long long)f.rss_kb, (unsigned long long)f.hwm_kb,
                   f.cpu_us_per_req);
    }
    bench_client_print_result(cl, "load", &f);
    printf("\n");
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
    if (bench_addr_parse(spec, &lg.cl.addr, err, sizeof(err)) != 0) {
        fprintf(stderr, "policy-loadgen: %s\n", err);
        return 2;
    }
    lg.reqs = bench_req_new();
    if (lg.reqs == NULL || bench_req_load_dir(lg.reqs, dir, err, sizeof(err)) != 0 ||
        bench_req_generate(lg.reqs, variants, seed, err, sizeof(err)) != 0) {
        fprintf(stderr, "policy-loadgen: %s\n", lg.reqs ? err : "out of memory");
        return 2;
    }
    size_t nconns = idle > 0 ? idle : conns;
    lg.idle_mode = idle > 0;
    lg.max_count = count;
    lg.cl.prog = "policy-loadgen";
    lg.cl.timeout_ns = (uint64_t)(timeout_ms * 1e6);
    lg.cl.pid = (pid_t)pid;
    lg.cl.arg = &lg;
    lg.conns = calloc(nconns, sizeof(*lg.conns));
    if (bench_client_init(&lg.cl, nconns, LOADGEN_MAX_ACTIONS, &lg_ops) != 0 || lg.conns == NULL) {
        fprintf(stderr, "policy-loadgen: out of memory\n");
        return 2;
    }
    bench_client_raise_nofile(nconns);

    if (lg.idle_mode)
        return run_idle(&lg, secs < 0 ? 1.0 : secs, spec, quiet);

    if (secs < 0)
        secs = count > 0 ? 3600 : 3; /* -n alone: the count ends the run */
    open_all(&lg);
    bench_client_run(&lg.cl, warm, warm + secs);
    report(&lg, spec, warm, quiet);
    int rc = lg.cl.errors == 0 && lg.cl.completed > 0 ? 0 : 1;
    bench_client_free(&lg.cl);
    free(lg.conns);
    bench_req_free(lg.reqs);
    return rc;
}
