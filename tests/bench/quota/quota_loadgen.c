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
 * a usage or setup error. Replies are at most BENCH_CLIENT_MAX_REPLY bytes;
 * a run is bounded by -t plus the reply timeout -T (default 5000 ms). The
 * connections, the framing and the common figures are tests/bench's
 * bench_client.c, as in policy-loadgen; the sessions are this file's.
 */
#include "bench_client.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define QLG_MAX_REQUEST 2048
#define QLG_MAX_CONNS 10000
#define QLG_MAX_ACTIONS 8

/* One smtpd process: its current session and message. */
struct qlg_session {
    char req[QLG_MAX_REQUEST];
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

struct qlg {
    struct bench_client cl;
    struct qlg_session *sess; /* one per connection */
    unsigned users, addrs;
    uint64_t rng;
    int prime;       /* -P */
    unsigned primed; /* sessions started in prime mode */
    uint64_t rcpt_reqs, eom_reqs, messages;
};

/* xorshift64*: reproducible from -S. */
static unsigned qlg_rand(struct qlg *lg, unsigned n)
{
    lg->rng ^= lg->rng >> 12;
    lg->rng ^= lg->rng << 25;
    lg->rng ^= lg->rng >> 27;
    return (unsigned)(((lg->rng * 2685821657736338717ULL) >> 33) % n);
}

/* A new SMTP session on this connection. */
static void qlg_new_session(struct qlg *lg, struct qlg_session *c)
{
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
static void qlg_new_message(struct qlg *lg, struct qlg_session *c)
{
    unsigned r;

    if (c->msgs_left == 0)
        qlg_new_session(lg, c);
    c->msgs_left--;
    c->counter++;
    r = qlg_rand(lg, 100);
    c->rcpts = lg->prime ? 1 : r < 60 ? 1 : r < 80 ? 2 : r < 90 ? 3 : 4 + qlg_rand(lg, 5);
    c->sent = 0;
}

/* Format the next request of the current message into c->req; its length. */
static size_t qlg_build(struct qlg_session *c)
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
    return (size_t)n;
}

/* Send the next request of connection C's session. */
static void qlg_send_next(struct bench_client_conn *c)
{
    struct qlg *lg = c->cl->arg;
    struct qlg_session *s = &lg->sess[c->index];
    size_t len;

    if (s->sent > s->rcpts || s->rcpts == 0)
        qlg_new_message(lg, s);
    len = qlg_build(s);
    if (s->sent == s->rcpts)
        lg->eom_reqs += lg->cl.measuring;
    else
        lg->rcpt_reqs += lg->cl.measuring;
    s->sent++; /* after the END-OF-MESSAGE: sent = rcpts + 1, the next message */
    bench_client_send(c, s->req, len);
}

/* The first request on C; a prime run only has so many principals. */
static void qlg_start(struct bench_client_conn *c)
{
    const struct qlg *lg = c->cl->arg;

    if (!lg->prime || lg->primed < lg->users + lg->addrs)
        qlg_send_next(c);
}

/* A reply to C's request; a prime run ends when every principal's message
 * has been answered. */
static void qlg_reply(struct bench_client_conn *c, size_t len, uint64_t t, uint64_t lat)
{
    struct bench_client *cl = c->cl;
    struct qlg *lg = cl->arg;
    struct qlg_session *s = &lg->sess[c->index];
    (void)t;

    if (cl->measuring) {
        bench_client_record(cl, c, len, lat);
        lg->messages += s->sent > s->rcpts;
    }
    if (lg->prime && s->sent > s->rcpts && lg->primed >= lg->users + lg->addrs) {
        s->rcpts = 0; /* this one is done */
        for (size_t k = 0; k < cl->nconns; k++)
            if (cl->conns[k].sent_ns)
                return;
        bench_client_break(cl);
        return;
    }
    if (!cl->stopping)
        qlg_send_next(c);
}

/* A request failed: reconnect as Postfix's policy client would, and start
 * a new session (smtpd gives up on the transaction). */
static int qlg_failed(struct bench_client_conn *c)
{
    struct qlg *lg = c->cl->arg;

    lg->sess[c->index].msgs_left = 0;
    lg->sess[c->index].rcpts = 0;
    return 1;
}

/* Measuring starts: the request and message counts start with it. */
static void qlg_warm(struct bench_client *cl)
{
    struct qlg *lg = cl->arg;

    lg->rcpt_reqs = lg->eom_reqs = lg->messages = 0;
}

static const struct bench_client_ops qlg_ops = {
    .send_next = qlg_send_next,
    .reply = qlg_reply,
    .failed = qlg_failed,
    .start = qlg_start,
    .warm = qlg_warm,
};

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
    double v = 0.0;

    if (bench_client_num(s, min, max, &v) != 0) {
        fprintf(stderr, "quota-loadgen: bad %s \"%s\"\n", what, s);
        exit(2);
    }
    return v;
}

static void qlg_report(struct qlg *lg, const char *spec, int quiet)
{
    struct bench_client *cl = &lg->cl;
    struct bench_client_figures f;

    bench_client_figures(cl, &f);
    if (!quiet) {
        printf("load       %s, %zu connection(s), %.2f s, %u users, %u addresses\n", spec,
               cl->nconns, f.secs, lg->users, lg->addrs);
        printf("requests   %llu = %.0f req/s (RCPT %llu, END-OF-MESSAGE %llu), errors %llu\n",
               (unsigned long long)cl->completed, f.rps, (unsigned long long)lg->rcpt_reqs,
               (unsigned long long)lg->eom_reqs, (unsigned long long)cl->errors);
        printf("latency    mean %.1f us, p50 %.1f us, p99 %.1f us, p999 %.1f us\n", f.mean_us,
               f.p50_us, f.p99_us, f.p999_us);
        bench_client_print_actions(cl);
    }
    bench_client_print_result(cl, "quota", &f);
    printf(" rcpt=%llu eom=%llu\n", (unsigned long long)lg->rcpt_reqs,
           (unsigned long long)lg->eom_reqs);
}

int main(int argc, char **argv)
{
    static struct qlg lg; /* holds the histogram; zeroed */
    const char *spec = NULL;
    double secs = 3, warm = 0.5, timeout_ms = 5000;
    size_t conns = 8;
    int quiet = 0, opt, rc;
    char err[256];

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
            lg.cl.pid = (pid_t)qlg_num(optarg, "pid", 1, 4194304);
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
    if (bench_addr_parse(spec, &lg.cl.addr, err, sizeof(err)) != 0) {
        fprintf(stderr, "quota-loadgen: %s\n", err);
        return 2;
    }
    bench_client_raise_nofile(conns);
    lg.cl.prog = "quota-loadgen";
    lg.cl.timeout_ns = (uint64_t)(timeout_ms * 1e6);
    lg.cl.arg = &lg;
    lg.sess = calloc(conns, sizeof(*lg.sess));
    if (bench_client_init(&lg.cl, conns, QLG_MAX_ACTIONS, &qlg_ops) != 0 || lg.sess == NULL) {
        fprintf(stderr, "quota-loadgen: out of memory\n");
        return 2;
    }
    for (size_t i = 0; i < conns; i++)
        if (bench_client_open(&lg.cl.conns[i]) != 0) {
            fprintf(stderr, "quota-loadgen: connect to %s: %s\n", spec, strerror(errno));
            return 2;
        }
    if (lg.prime) /* a prime run ends when every principal has sent */
        bench_client_run(&lg.cl, -1.0, -1.0);
    else
        bench_client_run(&lg.cl, warm, warm + secs);
    if (lg.prime) {
        printf("primed %u principals with %llu requests, errors %llu\n", lg.primed,
               (unsigned long long)lg.cl.completed, (unsigned long long)lg.cl.errors);
        return lg.cl.errors != 0 || lg.primed < lg.users + lg.addrs;
    }
    qlg_report(&lg, spec, quiet);
    rc = lg.cl.errors == 0 && lg.cl.completed > 0 ? 0 : 1;
    bench_client_free(&lg.cl);
    free(lg.sess);
    return rc;
}
