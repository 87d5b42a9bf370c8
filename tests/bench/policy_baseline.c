/* policy_baseline.c - the baseline policy server for the benchmarks.
 *
 * policy-baseline -l ENDPOINT [-l ENDPOINT ...] [-m MAXCONN] [-P PIDFILE] [-W]
 *
 * The least a correct Postfix policy server must do, built on the same
 * event library as portreeve-policyd (libevent 2, one bufferevent per
 * connection), so that "policyd vs. baseline" measures what the daemon's
 * parsing, rules and logging cost and nothing else. For every request it
 *
 *   - frames lines on LF and the request on the empty line,
 *   - checks each line is name=value with a non-empty name and no NUL,
 *   - enforces limits on input that is still arriving (BASELINE_MAX_LINE per
 *     line, BASELINE_MAX_ATTRS attributes, BASELINE_MAX_REQUEST bytes),
 *   - answers "action=DUNNO\n\n", in order, on persistent connections.
 *
 * A request that breaks a limit or the syntax gets one warning on stderr and
 * its connection is closed without a reply (the Postfix contract); other
 * connections are unaffected. Idle connections are closed after
 * BASELINE_IDLE_SECS (longer than Postfix's 300 s max_idle).
 *
 * Replies go through the bufferevent, which writes them once the read
 * callbacks of the current loop iteration are done. -W (an experiment, not
 * the baseline) instead send(2)s each reply from the read callback, as a
 * hand-written loop would, to measure what that write pattern costs.
 *
 * ENDPOINT is "unix:/path" (created mode 0666, replacing a stale socket) or
 * "inet:127.0.0.1:PORT" / "inet:[::1]:PORT". Runs in the foreground; SIGTERM
 * or SIGINT stops it and removes its unix sockets. Exit 0 after a signal,
 * 1 if it cannot listen.
 */
#include "bench_addr.h"

#include <errno.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#define BASELINE_MAX_LINE 16384
#define BASELINE_MAX_ATTRS 1024
#define BASELINE_MAX_REQUEST 65536
#define BASELINE_IDLE_SECS 600
#define BASELINE_MAX_LISTEN 8

static const char dunno[] = "action=DUNNO\n\n";
static int write_now; /* -W */

struct server {
    struct event_base *base;
    struct evconnlistener *ls[BASELINE_MAX_LISTEN];
    struct bench_addr addrs[BASELINE_MAX_LISTEN];
    size_t nls;
    size_t nconns, max_conns;
};

struct client {
    struct server *srv;
    struct bufferevent *bev;
    size_t attrs;     /* attributes so far in the current request */
    size_t req_bytes; /* bytes so far in the current request */
};

/* Close C (no reply). */
static void client_close(struct client *c)
{
    c->srv->nconns--;
    bufferevent_free(c->bev);
    free(c);
}

/* Protocol error: one warning, close without reply. */
static void client_reject(struct client *c, const char *why)
{
    fprintf(stderr, "policy-baseline: warning: %s; closing connection\n", why);
    client_close(c);
}

/* Check one attribute line of LEN bytes (no LF); 0 if well-formed. */
static int check_line(const char *line, size_t len)
{
    const char *eq = memchr(line, '=', len);
    return eq == NULL || eq == line || memchr(line, '\0', len) != NULL ? -1 : 0;
}

/* Queue (or with -W, send at once) one DUNNO reply. */
static void queue_reply(struct bufferevent *bev)
{
    struct evbuffer *out = bufferevent_get_output(bev);
    if (write_now && evbuffer_get_length(out) == 0) {
        ssize_t n = send(bufferevent_getfd(bev), dunno, sizeof(dunno) - 1, MSG_NOSIGNAL);
        if (n == (ssize_t)sizeof(dunno) - 1)
            return;
        if (n < 0)
            n = 0; /* EAGAIN or an error the bufferevent will report */
        evbuffer_add(out, dunno + n, sizeof(dunno) - 1 - (size_t)n);
        return;
    }
    evbuffer_add(out, dunno, sizeof(dunno) - 1);
}

/* Consume complete lines; answer every complete request. */
static void on_read(struct bufferevent *bev, void *arg)
{
    struct client *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    for (;;) {
        size_t have = evbuffer_get_length(in);
        if (have == 0)
            return;
        struct evbuffer_ptr eol = evbuffer_search_eol(in, NULL, NULL, EVBUFFER_EOL_LF);
        if (eol.pos < 0) {
            /* the limit applies to the line that is still arriving */
            if (have > BASELINE_MAX_LINE || c->req_bytes + have > BASELINE_MAX_REQUEST)
                client_reject(c, "request line or request too long");
            return;
        }
        size_t len = (size_t)eol.pos;
        if (len > BASELINE_MAX_LINE) {
            client_reject(c, "request line too long");
            return;
        }
        const char *line = (const char *)evbuffer_pullup(in, (ev_ssize_t)len + 1);
        if (line == NULL) {
            client_reject(c, "out of memory");
            return;
        }
        if (len == 0) {
            if (c->attrs == 0) {
                client_reject(c, "empty request");
                return;
            }
            queue_reply(bev);
            c->attrs = 0;
            c->req_bytes = 0;
        } else {
            c->req_bytes += len + 1;
            if (check_line(line, len) != 0) {
                client_reject(c, "malformed request line (want name=value)");
                return;
            }
            if (++c->attrs > BASELINE_MAX_ATTRS || c->req_bytes > BASELINE_MAX_REQUEST) {
                client_reject(c, "too many attributes or request too long");
                return;
            }
        }
        evbuffer_drain(in, len + 1);
    }
}

/* EOF, error or idle timeout. */
static void on_event(struct bufferevent *bev, short what, void *arg)
{
    (void)bev;
    if (what & BEV_EVENT_TIMEOUT)
        fprintf(stderr, "policy-baseline: idle timeout; closing connection\n");
    client_close(arg);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen,
                      void *arg)
{
    struct server *srv = arg;
    (void)l;
    (void)sa;
    (void)salen;
    struct client *c = calloc(1, sizeof(*c));
    if (c == NULL || srv->nconns >= srv->max_conns) {
        fprintf(stderr, "policy-baseline: warning: %s; refusing connection\n",
                c == NULL ? "out of memory" : "connection limit reached");
        free(c);
        evutil_closesocket(fd);
        return;
    }
    c->srv = srv;
    c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE);
    if (c->bev == NULL) {
        free(c);
        evutil_closesocket(fd);
        return;
    }
    srv->nconns++;
    struct timeval idle = {BASELINE_IDLE_SECS, 0};
    bufferevent_setcb(c->bev, on_read, NULL, on_event, c);
    bufferevent_set_timeouts(c->bev, &idle, NULL);
    bufferevent_enable(c->bev, EV_READ);
}

/* Listen on A; 0 or -1 with a message on stderr. */
static int server_listen(struct server *srv, const struct bench_addr *a)
{
    struct evconnlistener *l;
    if (a->family == AF_UNIX) {
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        (void)unlink(a->path); /* a stale socket from an earlier run */
        if (fd < 0 || bind(fd, (const struct sockaddr *)&a->ss, a->len) != 0 ||
            chmod(a->path, 0666) != 0 || listen(fd, 4096) != 0) {
            fprintf(stderr, "policy-baseline: unix:%s: %s\n", a->path, strerror(errno));
            if (fd >= 0)
                close(fd);
            return -1;
        }
        l = evconnlistener_new(srv->base, on_accept, srv, LEV_OPT_CLOSE_ON_FREE, 0, fd);
    } else {
        l = evconnlistener_new_bind(srv->base, on_accept, srv,
                                    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE |
                                        LEV_OPT_CLOSE_ON_EXEC,
                                    4096, (const struct sockaddr *)&a->ss, (int)a->len);
        if (l == NULL)
            fprintf(stderr, "policy-baseline: cannot listen on TCP: %s\n", strerror(errno));
    }
    if (l == NULL)
        return -1;
    srv->ls[srv->nls] = l;
    srv->addrs[srv->nls++] = *a;
    return 0;
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
    (void)sig;
    (void)what;
    event_base_loopbreak(arg);
}

static void usage(void)
{
    fprintf(stderr, "usage: policy-baseline -l unix:PATH|inet:HOST:PORT [-l ...] [-m MAXCONN] "
                    "[-P PIDFILE] [-W]\n");
    exit(1);
}

int main(int argc, char **argv)
{
    static struct server srv;
    const char *specs[BASELINE_MAX_LISTEN], *pidfile = NULL;
    size_t nspecs = 0;
    int opt;
    srv.max_conns = 10000;
    while ((opt = getopt(argc, argv, "l:m:P:W")) != -1) {
        char *end = NULL;
        switch (opt) {
        case 'l':
            if (nspecs == BASELINE_MAX_LISTEN)
                usage();
            specs[nspecs++] = optarg;
            break;
        case 'm':
            errno = 0;
            srv.max_conns = (size_t)strtoul(optarg, &end, 10);
            if (errno != 0 || end == optarg || *end != '\0' || srv.max_conns == 0 ||
                srv.max_conns > 1000000)
                usage();
            break;
        case 'P':
            pidfile = optarg;
            break;
        case 'W':
            write_now = 1;
            break;
        default:
            usage();
        }
    }
    if (nspecs == 0 || optind != argc)
        usage();

    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < srv.max_conns + 64) {
        rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < srv.max_conns + 64
                          ? rl.rlim_max
                          : (rlim_t)(srv.max_conns + 64);
        (void)setrlimit(RLIMIT_NOFILE, &rl);
    }
    signal(SIGPIPE, SIG_IGN);
    srv.base = event_base_new();
    if (srv.base == NULL)
        return 1;
    for (size_t i = 0; i < nspecs; i++) {
        struct bench_addr a;
        char err[256];
        if (bench_addr_parse(specs[i], &a, err, sizeof(err)) != 0) {
            fprintf(stderr, "policy-baseline: %s\n", err);
            return 1;
        }
        if (server_listen(&srv, &a) != 0)
            return 1;
    }
    if (pidfile != NULL) {
        FILE *fp = fopen(pidfile, "w");
        if (fp == NULL || fprintf(fp, "%ld\n", (long)getpid()) < 0 || fclose(fp) != 0) {
            fprintf(stderr, "policy-baseline: %s: %s\n", pidfile, strerror(errno));
            return 1;
        }
    }
    struct event *sterm = evsignal_new(srv.base, SIGTERM, on_signal, srv.base);
    struct event *sint = evsignal_new(srv.base, SIGINT, on_signal, srv.base);
    evsignal_add(sterm, NULL);
    evsignal_add(sint, NULL);
    fprintf(stderr, "policy-baseline: pid %ld listening\n", (long)getpid());
    event_base_dispatch(srv.base);

    for (size_t i = 0; i < srv.nls; i++) {
        evconnlistener_free(srv.ls[i]);
        if (srv.addrs[i].family == AF_UNIX)
            (void)unlink(srv.addrs[i].path);
    }
    if (pidfile != NULL)
        (void)unlink(pidfile);
    event_free(sterm);
    event_free(sint);
    event_base_free(srv.base);
    return 0;
}
