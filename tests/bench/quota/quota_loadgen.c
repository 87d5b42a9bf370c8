/* quota_loadgen.c - load generator for the quota benchmark: Postfix SMTP
 * sessions as portreeve-policyd sees them with quotas hooked in.
 *
 * quota-loadgen -s ENDPOINT [-c CONNS] [-t SECS] [-w SECS] [-p PID]
 *               [-u USERS] [-a ADDRS] [-S SEED] [-T MS] [-q]
 * quota-loadgen -s ENDPOINT -P [-c CONNS] [-u USERS] [-a ADDRS]
 *
 * Each of CONNS persistent connections plays one smtpd process with its
 * policy client: it keeps exactly one request outstanding and runs SMTP
 * sessions one after another. A session has one principal and one client
 * address and port; each of its messages (1, sometimes 2 or 3) sends one
 * RCPT request per recipient (1-8, mostly 1) and then one END-OF-MESSAGE
 * request with recipient_count, all with the same Postfix instance, in the
 * order smtpd sends them (smtpd_recipient_restrictions, then
 * smtpd_end_of_data_restrictions). This is what makes the quota stage's
 * reservations pair with their commits, as they do with real Postfix
 * traffic; tests/bench/policy-loadgen draws RCPT and END-OF-MESSAGE
 * requests from unrelated sessions instead.
 *
 * Principals vary: 65 % of the sessions are SASL users on 587 or 465 with
 * TLS (USERS distinct users, default 2000), 35 % are port-25 clients
 * sending to a local domain from off-net addresses (ADDRS distinct IPv4
 * and IPv6 addresses, default 2000). Every request passes the port rules
 * of run-quota-bench.sh's configuration, so every one reaches the quota
 * stage (with limits that are never reached: DUNNO throughout).
 *
 * Prime mode (-P): one message (one RCPT, one END-OF-MESSAGE) for every
 * user on 587 and every address on 25, then exit: afterwards each
 * principal the load can use has its quota keys (run-quota-bench.sh then
 * fills them with history).
 *
 * After a warm-up (-w, default 0.5 s) it measures for -t seconds (default
 * 3) and prints requests/s, latency p50/p99/p999, the spread of reply
 * actions, and with -p the daemon's CPU time per request. The last line is
 * "RESULT key=value ..." with the keys of policy-loadgen's RESULT line.
 * Exit status 0, 1 when a request failed (closed, timeout, bad reply), 2 on
 * a usage or setup error. Replies are at most QLG_MAX_REPLY bytes; a run
 * is bounded by -t plus the reply timeout -T (default 5000 ms).
 */
#include "bench_addr.h"
#include "bench_hist.h"
#include "bench_proc.h"

#include <errno.h>
#include <event2/event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#define QLG_MAX_REPLY 1024
#define QLG_MAX_REQUEST 2048
#define QLG_MAX_CONNS 10000
#define QLG_MAX_ACTIONS 8

struct qlg;

/* One smtpd process: its current session and message. */
struct qlg_conn {
    struct qlg *lg;
    int fd;
    struct event *rev, *wev;
    char req[QLG_MAX_REQUEST];
    size_t req_len, req_off;
    uint64_t sent_ns; /* 0: nothing outstanding */
    char rbuf[QLG_MAX_REPLY];
    size_t rlen;
    /* session */
    unsigned role;  /* 0 = 25 (address), 1 = 587, 2 = 465 (users) */
    unsigned who;   /* user or address number */
    unsigned cport; /* client port */
    unsigned msgs_left;
    unsigned inst_a; /* instance = pid.time.usec.counter, as smtpd makes it */
    unsigned inst_b, inst_c, counter;
    /* message */
    unsigned rcpts, sent; /* recipients in it; RCPT requests sent so far */
};

struct qlg_action {
    char word[24];
    uint64_t n;
};

struct qlg {
    struct event_base *base;
    struct bench_addr addr;
    struct qlg_conn *conns;
    size_t nconns;
    unsigned users, addrs;
    uint64_t rng;
    int prime;       /* -P */
    unsigned primed; /* sessions started in prime mode */
    int measuring, stopping;
    uint64_t timeout_ns;
    struct bench_hist hist;
    uint64_t completed, errors, rcpt_reqs, eom_reqs, messages;
    struct qlg_action actions[QLG_MAX_ACTIONS];
    size_t nactions;
    uint64_t other_actions;
    pid_t pid;
    uint64_t cpu_start_us;
    int cpu_ok;
    uint64_t t0, t1;
};

static uint64_t qlg_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* xorshift64*: reproducible from -S. */
static unsigned qlg_rand(struct qlg *lg, unsigned n)
{
    lg->rng ^= lg->rng >> 12;
    lg->rng ^= lg->rng << 25;
    lg->rng ^= lg->rng >> 27;
    return (unsigned)(((lg->rng * 2685821657736338717ULL) >> 33) % n);
}

/* A new SMTP session on this connection. */
static void qlg_new_session(struct qlg_conn *c)
{
    struct qlg *lg = c->lg;
    unsigned r = qlg_rand(lg, 100);

    c->role = r < 35 ? 0 : r < 85 ? 1 : 2;
    c->who = qlg_rand(lg, c->role == 0 ? lg->addrs : lg->users);
    if (lg->prime) {
        c->role = lg->primed < lg->users ? 1 : 0;
        c->who = lg->primed < lg->users ? lg->primed : lg->primed - lg->users;
        lg->primed++;
    }
    c->cport = 1024 + qlg_rand(lg, 64000);
    r = qlg_rand(lg, 100);
    c->msgs_left = lg->prime ? 1 : r < 80 ? 1 : r < 95 ? 2 : 3;
    c->inst_a = 1000 + qlg_rand(lg, 60000);
    c->inst_b = (unsigned)time(NULL);
    c->inst_c = qlg_rand(lg, 1000000);
    c->counter = 0;
}

/* The next message of the session (a new session when it has none left). */
static void qlg_new_message(struct qlg_conn *c)
{
    unsigned r;

    if (c->msgs_left == 0)
        qlg_new_session(c);
    c->msgs_left--;
    c->counter++;
    r = qlg_rand(c->lg, 100);
    c->rcpts = c->lg->prime ? 1 : r < 60 ? 1 : r < 80 ? 2 : r < 90 ? 3 : 4 + qlg_rand(c->lg, 5);
    c->sent = 0;
}

/* Format the next request of the current message into c->req. */
static void qlg_build(struct qlg_conn *c)
{
    static const char *const ports[] = {"25", "587", "465"};
    int eom = c->sent == c->rcpts;
    char addr[64], user[64], sender[80], rcpt[80], qid[16];
    int n;

    if (c->role == 0) {
        if (c->who % 3 == 0) /* a third IPv6, one /64 each */
            snprintf(addr, sizeof(addr), "2001:db8:%x:%x::25", 0x100 + c->who / 256, c->who % 256);
        else
            snprintf(addr, sizeof(addr), "198.%u.%u.%u", 51 + c->who / 65536 % 4,
                     c->who / 256 % 256, c->who % 256);
        user[0] = '\0';
        snprintf(sender, sizeof(sender), "news%u@list%u.example.net", c->who % 7, c->who % 97);
    } else {
        snprintf(addr, sizeof(addr), "10.%u.%u.%u", 1 + c->who / 65536 % 200, c->who / 256 % 256,
                 c->who % 256);
        snprintf(user, sizeof(user), "user%u@example.org", c->who);
        memcpy(sender, user, strlen(user) + 1);
    }
    /* Port 25 mail goes to the local domain, submissions elsewhere. At
     * END-OF-MESSAGE smtpd names the recipient only when there is one. */
    if (eom && c->rcpts > 1)
        rcpt[0] = '\0';
    else
        snprintf(rcpt, sizeof(rcpt), "rcpt%u@%s", eom ? 0 : c->sent,
                 c->role == 0 ? "example.org" : "remote.example");
    snprintf(qid, sizeof(qid), "%05X%06X", c->inst_a & 0xfffff,
             (c->inst_c + c->counter) & 0xffffff);
    n = snprintf(c->req, sizeof(c->req),
                 "request=smtpd_access_policy\nprotocol_state=%s\nprotocol_name=ESMTP\n"
                 "client_address=%s\nclient_name=unknown\nclient_port=%u\n"
                 "reverse_client_name=unknown\nserver_address=192.0.2.1\nserver_port=%s\n"
                 "helo_name=client%u.example.test\nsender=%s\nrecipient=%s\n"
                 "recipient_count=%u\nqueue_id=%s\ninstance=%x.%x.%x.%x\nsize=%u\n"
                 "etrn_domain=\nstress=\nsasl_method=%s\nsasl_username=%s\nsasl_sender=\n"
                 "ccert_subject=\nccert_issuer=\nccert_fingerprint=\n"
                 "ccert_pubkey_fingerprint=\nencryption_protocol=%s\nencryption_cipher=%s\n"
                 "encryption_keysize=%s\npolicy_context=\n\n",
                 eom ? "END-OF-MESSAGE" : "RCPT", addr, c->cport, ports[c->role], c->who, sender,
                 rcpt, eom ? c->rcpts : c->sent, (eom || c->sent > 0) ? qid : "", c->inst_a,
                 c->inst_b, c->inst_c, c->counter, eom ? 2000 + c->who % 50000 : 0,
                 user[0] ? "PLAIN" : "", user, c->role ? "TLSv1.3" : "",
                 c->role ? "TLS_AES_256_GCM_SHA384" : "", c->role ? "256" : "");
    if (n < 0 || (size_t)n >= sizeof(c->req)) {
        fprintf(stderr, "quota-loadgen: request does not fit\n");
        exit(2);
    }
    c->req_len = (size_t)n;
    c->req_off = 0;
}

static void qlg_fail(struct qlg_conn *c, const char *why);

/* Write what is left of the request; wait for EV_WRITE when full. */
static void qlg_flush(struct qlg_conn *c)
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
            qlg_fail(c, strerror(errno));
            return;
        }
        c->req_off += (size_t)w;
    }
}

static void qlg_send_next(struct qlg_conn *c)
{
    if (c->sent > c->rcpts || c->rcpts == 0)
        qlg_new_message(c);
    qlg_build(c);
    if (c->sent == c->rcpts)
        c->lg->eom_reqs += c->lg->measuring;
    else
        c->lg->rcpt_reqs += c->lg->measuring;
    c->sent++; /* after the END-OF-MESSAGE: sent = rcpts + 1, the next message */
    c->rlen = 0;
    c->sent_ns = qlg_now_ns();
    qlg_flush(c);
}

static int qlg_open(struct qlg_conn *c);

/* A request failed: count it, reconnect as Postfix's policy client would,
 * and start a new session (smtpd gives up on the transaction). */
static void qlg_fail(struct qlg_conn *c, const char *why)
{
    struct qlg *lg = c->lg;

    if (lg->measuring && lg->errors++ < 5)
        fprintf(stderr, "quota-loadgen: connection %zu: %s\n", (size_t)(c - lg->conns), why);
    event_free(c->rev);
    event_free(c->wev);
    c->rev = c->wev = NULL;
    close(c->fd);
    c->fd = -1;
    c->sent_ns = 0;
    c->msgs_left = 0;
    c->rcpts = 0;
    if (!lg->stopping && qlg_open(c) == 0)
        qlg_send_next(c);
}

static void qlg_count_action(struct qlg *lg, const char *reply, size_t len)
{
    const char *w = reply + 7;
    size_t wl = 0;

    if (len < 7 || memcmp(reply, "action=", 7) != 0) {
        lg->other_actions++;
        return;
    }
    while (7 + wl < len && w[wl] != ' ' && w[wl] != '\n' && wl < sizeof(lg->actions[0].word) - 1)
        wl++;
    for (size_t i = 0; i < lg->nactions; i++)
        if (strlen(lg->actions[i].word) == wl && memcmp(lg->actions[i].word, w, wl) == 0) {
            lg->actions[i].n++;
            return;
        }
    if (lg->nactions == QLG_MAX_ACTIONS) {
        lg->other_actions++;
        return;
    }
    memcpy(lg->actions[lg->nactions].word, w, wl);
    lg->actions[lg->nactions].word[wl] = '\0';
    lg->actions[lg->nactions++].n = 1;
}

static void qlg_on_read(evutil_socket_t fd, short what, void *arg)
{
    struct qlg_conn *c = arg;
    struct qlg *lg = c->lg;
    (void)what;

    for (;;) {
        size_t old = c->rlen, from;
        ssize_t r;

        if (c->rlen == sizeof(c->rbuf)) {
            qlg_fail(c, "reply longer than QLG_MAX_REPLY");
            return;
        }
        r = read(fd, c->rbuf + c->rlen, sizeof(c->rbuf) - c->rlen);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        if (r <= 0) {
            qlg_fail(c, r == 0 ? "server closed the connection" : strerror(errno));
            return;
        }
        c->rlen += (size_t)r;
        if (c->sent_ns == 0) {
            qlg_fail(c, "unsolicited bytes from the server");
            return;
        }
        from = old > 0 ? old - 1 : 0;
        for (size_t i = from; i + 1 < c->rlen; i++) {
            if (c->rbuf[i] != '\n' || c->rbuf[i + 1] != '\n')
                continue;
            if (i + 2 != c->rlen) {
                qlg_fail(c, "bytes after the reply");
                return;
            }
            if (lg->measuring) {
                bench_hist_record(&lg->hist, qlg_now_ns() - c->sent_ns);
                qlg_count_action(lg, c->rbuf, i + 2);
                lg->completed++;
                lg->messages += c->sent > c->rcpts;
            }
            c->sent_ns = 0;
            if (lg->prime && c->sent > c->rcpts && lg->primed >= lg->users + lg->addrs) {
                c->rcpts = 0; /* this one is done */
                for (size_t k = 0; k < lg->nconns; k++)
                    if (lg->conns[k].sent_ns)
                        return;
                event_base_loopbreak(lg->base);
                return;
            }
            if (!lg->stopping)
                qlg_send_next(c);
            return;
        }
    }
}

static void qlg_on_write(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    qlg_flush(arg);
}

static int qlg_open(struct qlg_conn *c)
{
    c->fd = bench_addr_connect(&c->lg->addr, 5000);
    if (c->fd < 0)
        return -1;
    c->rev = event_new(c->lg->base, c->fd, EV_READ | EV_PERSIST, qlg_on_read, c);
    c->wev = event_new(c->lg->base, c->fd, EV_WRITE, qlg_on_write, c);
    if (c->rev == NULL || c->wev == NULL || event_add(c->rev, NULL) != 0) {
        fprintf(stderr, "quota-loadgen: cannot create events\n");
        exit(2);
    }
    return 0;
}

static void qlg_on_warm(evutil_socket_t fd, short what, void *arg)
{
    struct qlg *lg = arg;
    (void)fd;
    (void)what;

    bench_hist_reset(&lg->hist);
    lg->completed = lg->errors = lg->rcpt_reqs = lg->eom_reqs = lg->messages = 0;
    lg->measuring = 1;
    lg->t0 = qlg_now_ns();
    if (lg->pid > 0)
        lg->cpu_ok = bench_proc_cpu(lg->pid, &lg->cpu_start_us) == 0;
}

static void qlg_on_stop(evutil_socket_t fd, short what, void *arg)
{
    struct qlg *lg = arg;
    (void)fd;
    (void)what;

    lg->t1 = qlg_now_ns();
    lg->stopping = 1;
    event_base_loopbreak(lg->base);
}

static void qlg_on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct qlg *lg = arg;
    uint64_t t = qlg_now_ns();
    (void)fd;
    (void)what;

    for (size_t i = 0; i < lg->nconns; i++)
        if (lg->conns[i].fd >= 0 && lg->conns[i].sent_ns &&
            t - lg->conns[i].sent_ns > lg->timeout_ns)
            qlg_fail(&lg->conns[i], "reply timeout");
}

static void qlg_usage(void)
{
    fprintf(stderr, "usage: quota-loadgen -s unix:PATH|inet:HOST:PORT [-c CONNS] [-t SECS]\n"
                    "                     [-w WARMUP] [-p PID] [-u USERS] [-a ADDRS] [-S SEED]\n"
                    "                     [-T TIMEOUT_MS] [-q]\n"
                    "       quota-loadgen -s ENDPOINT -P [-c CONNS] [-u USERS] [-a ADDRS]\n");
    exit(2);
}

static double qlg_num(const char *s, const char *what, double min, double max)
{
    char *end = NULL;
    double v;

    errno = 0;
    v = strtod(s, &end);
    if (errno != 0 || end == s || *end != '\0' || !(v >= min) || v > max) {
        fprintf(stderr, "quota-loadgen: bad %s \"%s\"\n", what, s);
        exit(2);
    }
    return v;
}

static struct timeval qlg_tv(double secs)
{
    struct timeval tv;

    tv.tv_sec = (time_t)secs;
    tv.tv_usec = (suseconds_t)((secs - (double)tv.tv_sec) * 1e6);
    return tv;
}

static void qlg_report(struct qlg *lg, const char *spec, int quiet)
{
    const struct bench_hist *h = &lg->hist;
    double secs = (double)(lg->t1 - lg->t0) / 1e9;
    double rps = secs > 0 ? (double)lg->completed / secs : 0.0;
    double cpu = -1.0;
    uint64_t cpu_end = 0, rss = 0, hwm = 0;

    if (lg->cpu_ok && bench_proc_cpu(lg->pid, &cpu_end) == 0 && lg->completed)
        cpu = (double)(cpu_end - lg->cpu_start_us) / (double)lg->completed;
    if (lg->pid > 0)
        (void)bench_proc_mem(lg->pid, &rss, &hwm);
    if (!quiet) {
        printf("load       %s, %zu connection(s), %.2f s, %u users, %u addresses\n", spec,
               lg->nconns, secs, lg->users, lg->addrs);
        printf("requests   %llu = %.0f req/s (RCPT %llu, END-OF-MESSAGE %llu), errors %llu\n",
               (unsigned long long)lg->completed, rps, (unsigned long long)lg->rcpt_reqs,
               (unsigned long long)lg->eom_reqs, (unsigned long long)lg->errors);
        printf("latency    mean %.1f us, p50 %.1f us, p99 %.1f us, p999 %.1f us\n",
               bench_hist_mean(h) / 1e3, (double)bench_hist_quantile(h, 0.5) / 1e3,
               (double)bench_hist_quantile(h, 0.99) / 1e3,
               (double)bench_hist_quantile(h, 0.999) / 1e3);
        printf("actions   ");
        for (size_t i = 0; i < lg->nactions; i++)
            printf(" %s %.1f%%", lg->actions[i].word,
                   100.0 * (double)lg->actions[i].n / (double)(lg->completed ? lg->completed : 1));
        if (lg->other_actions)
            printf(" other %llu", (unsigned long long)lg->other_actions);
        printf("\n");
    }
    printf("RESULT mode=quota conns=%zu requests=%llu secs=%.3f rps=%.0f mean_us=%.1f "
           "p50_us=%.1f p99_us=%.1f p999_us=%.1f max_us=%.1f errors=%llu rss_kb=%llu "
           "hwm_kb=%llu cpu_us_per_req=%.2f rcpt=%llu eom=%llu\n",
           lg->nconns, (unsigned long long)lg->completed, secs, rps, bench_hist_mean(h) / 1e3,
           (double)bench_hist_quantile(h, 0.5) / 1e3, (double)bench_hist_quantile(h, 0.99) / 1e3,
           (double)bench_hist_quantile(h, 0.999) / 1e3, (double)h->max_ns / 1e3,
           (unsigned long long)lg->errors, (unsigned long long)rss, (unsigned long long)hwm, cpu,
           (unsigned long long)lg->rcpt_reqs, (unsigned long long)lg->eom_reqs);
}

int main(int argc, char **argv)
{
    static struct qlg lg; /* holds the histogram; zeroed */
    const char *spec = NULL;
    double secs = 3, warm = 0.5, timeout_ms = 5000;
    size_t conns = 8;
    int quiet = 0, opt, rc;
    char err[256];
    struct event *warm_ev, *stop_ev, *tick;
    struct timeval tv;
    struct rlimit rl;

    lg.users = lg.addrs = 2000;
    lg.rng = 1;
    while ((opt = getopt(argc, argv, "s:c:t:w:p:u:a:S:T:qP")) != -1) {
        switch (opt) {
        case 's':
            spec = optarg;
            break;
        case 'c':
            conns = (size_t)qlg_num(optarg, "connection count", 1, QLG_MAX_CONNS);
            break;
        case 't':
            secs = qlg_num(optarg, "duration", 0.1, 3600);
            break;
        case 'w':
            warm = qlg_num(optarg, "warm-up", 0, 60);
            break;
        case 'p':
            lg.pid = (pid_t)qlg_num(optarg, "pid", 1, 4194304);
            break;
        case 'u':
            lg.users = (unsigned)qlg_num(optarg, "user count", 1, 1e7);
            break;
        case 'a':
            lg.addrs = (unsigned)qlg_num(optarg, "address count", 1, 1e7);
            break;
        case 'S':
            lg.rng = (uint64_t)qlg_num(optarg, "seed", 1, 1e15);
            break;
        case 'T':
            timeout_ms = qlg_num(optarg, "timeout", 1, 600000);
            break;
        case 'q':
            quiet = 1;
            break;
        case 'P':
            lg.prime = 1;
            break;
        default:
            qlg_usage();
        }
    }
    if (spec == NULL || optind != argc)
        qlg_usage();
    if (bench_addr_parse(spec, &lg.addr, err, sizeof(err)) != 0) {
        fprintf(stderr, "quota-loadgen: %s\n", err);
        return 2;
    }
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < conns + 64 &&
        (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= conns + 64)) {
        rl.rlim_cur = (rlim_t)(conns + 64);
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    lg.base = event_base_new();
    lg.nconns = conns;
    lg.conns = calloc(conns, sizeof(*lg.conns));
    lg.timeout_ns = (uint64_t)(timeout_ms * 1e6);
    if (lg.base == NULL || lg.conns == NULL) {
        fprintf(stderr, "quota-loadgen: out of memory\n");
        return 2;
    }
    bench_hist_reset(&lg.hist);
    for (size_t i = 0; i < conns; i++) {
        lg.conns[i].lg = &lg;
        if (qlg_open(&lg.conns[i]) != 0) {
            fprintf(stderr, "quota-loadgen: connect to %s: %s\n", spec, strerror(errno));
            return 2;
        }
    }
    warm_ev = evtimer_new(lg.base, qlg_on_warm, &lg);
    stop_ev = evtimer_new(lg.base, qlg_on_stop, &lg);
    tick = event_new(lg.base, -1, EV_PERSIST, qlg_on_tick, &lg);
    if (!lg.prime) { /* a prime run ends when every principal has sent */
        tv = qlg_tv(warm);
        evtimer_add(warm_ev, &tv);
        tv = qlg_tv(warm + secs);
        evtimer_add(stop_ev, &tv);
    }
    tv = qlg_tv(0.1);
    event_add(tick, &tv);
    if (warm <= 0 || lg.prime)
        qlg_on_warm(-1, 0, &lg);
    for (size_t i = 0; i < conns; i++)
        if (!lg.prime || lg.primed < lg.users + lg.addrs)
            qlg_send_next(&lg.conns[i]);
    event_base_dispatch(lg.base);
    if (lg.prime) {
        printf("primed %u principals with %llu requests, errors %llu\n", lg.primed,
               (unsigned long long)lg.completed, (unsigned long long)lg.errors);
        return lg.errors != 0 || lg.primed < lg.users + lg.addrs;
    }
    qlg_report(&lg, spec, quiet);
    rc = lg.errors == 0 && lg.completed > 0 ? 0 : 1;
    event_free(warm_ev);
    event_free(stop_ev);
    event_free(tick);
    for (size_t i = 0; i < conns; i++)
        if (lg.conns[i].fd >= 0) {
            event_free(lg.conns[i].rev);
            event_free(lg.conns[i].wev);
            close(lg.conns[i].fd);
        }
    free(lg.conns);
    event_base_free(lg.base);
    return rc;
}
