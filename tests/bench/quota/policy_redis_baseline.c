/* policy_redis_baseline.c - the baseline for the quota benchmark.
 *
 * policy-redis-baseline -l inet:127.0.0.1:PORT -r REDIS_PORT
 *
 * A policy server on the same event library as portreeve-policyd
 * (libevent 2, bufferevents) that does the least a Redis-backed quota
 * server must do: for every request, frame it on the empty line, take
 * sasl_username (or client_address), make one Redis round trip
 * (INCR pb:{principal}) with async hiredis on the same loop, and answer
 * "action=DUNNO". One request in flight per connection, as Postfix does.
 * Benchmark tool only: no limits beyond a 64 KiB request, no logging.
 */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <hiredis/adapters/libevent.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define MAX_REQUEST 65536

struct bconn {
    struct bufferevent *bev;
    int pending, closed;
};

static redisAsyncContext *ac;

static void bconn_free_maybe(struct bconn *c)
{
    if (c->closed && !c->pending) {
        free(c);
    }
}

static void on_redis(redisAsyncContext *r, void *reply, void *arg)
{
    struct bconn *c = arg;
    (void)r;
    (void)reply;
    c->pending = 0;
    if (!c->closed)
        bufferevent_write(c->bev, "action=DUNNO\n\n", 14);
    bconn_free_maybe(c);
}

/* Value of "name=" in the request [p, p+len), or NULL. */
static const char *attr(const char *p, size_t len, const char *name, size_t *vlen)
{
    size_t nl = strlen(name);
    const char *end = p + len;

    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (eol == NULL)
            return NULL;
        if ((size_t)(eol - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            *vlen = (size_t)(eol - p - (long)nl - 1);
            return p + nl + 1;
        }
        p = eol + 1;
    }
    return NULL;
}

static void on_read(struct bufferevent *bev, void *arg)
{
    struct bconn *c = arg;
    struct evbuffer *in = bufferevent_get_input(bev);
    struct evbuffer_ptr e;
    char *req;
    size_t len, vlen = 0;
    const char *v;

    if (c->pending)
        return;
    e = evbuffer_search(in, "\n\n", 2, NULL);
    if (e.pos < 0) {
        if (evbuffer_get_length(in) > MAX_REQUEST) {
            c->closed = 1;
            bufferevent_free(bev);
            bconn_free_maybe(c);
        }
        return;
    }
    len = (size_t)e.pos + 2;
    req = (char *)evbuffer_pullup(in, (ssize_t)len);
    v = attr(req, len, "sasl_username", &vlen);
    if (v == NULL || vlen == 0)
        v = attr(req, len, "client_address", &vlen);
    if (v == NULL)
        v = "", vlen = 0;
    c->pending = 1;
    if (redisAsyncCommand(ac, on_redis, c, "INCR pb:{%b}", v, vlen) != REDIS_OK) {
        c->pending = 0;
        bufferevent_write(bev, "action=DUNNO\n\n", 14);
    }
    evbuffer_drain(in, len);
}

static void on_write(struct bufferevent *bev, void *arg)
{
    (void)bev;
    on_read(((struct bconn *)arg)->bev, arg); /* pipelined requests waiting */
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
    struct bconn *c = arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        c->closed = 1;
        bufferevent_free(bev);
        bconn_free_maybe(c);
    }
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int sl,
                      void *arg)
{
    struct event_base *base = arg;
    struct bconn *c = calloc(1, sizeof(*c));
    (void)l;
    (void)sa;
    (void)sl;
    if (c == NULL) {
        evutil_closesocket(fd);
        return;
    }
    c->bev = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
    bufferevent_setcb(c->bev, on_read, on_write, on_event, c);
    bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

static void on_term(evutil_socket_t s, short w, void *arg)
{
    (void)s;
    (void)w;
    event_base_loopexit(arg, NULL);
}

int main(int argc, char **argv)
{
    struct event_base *base = event_base_new();
    struct sockaddr_in sin;
    struct evconnlistener *lis;
    struct event *term;
    const char *listen = NULL;
    int rport = 0, opt;

    while ((opt = getopt(argc, argv, "l:r:")) != -1) {
        if (opt == 'l')
            listen = optarg;
        else if (opt == 'r')
            rport = (int)strtol(optarg, NULL, 10);
    }
    if (listen == NULL || strncmp(listen, "inet:127.0.0.1:", 15) != 0 || rport <= 0) {
        fprintf(stderr, "usage: policy-redis-baseline -l inet:127.0.0.1:PORT -r REDIS_PORT\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(&sin, 0, sizeof(sin));
    sin.sin_family = AF_INET;
    sin.sin_port = htons((unsigned short)strtol(listen + 15, NULL, 10));
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ac = redisAsyncConnect("127.0.0.1", rport);
    if (ac == NULL || ac->err) {
        fprintf(stderr, "redis connect failed\n");
        return 1;
    }
    redisLibeventAttach(ac, base);
    lis = evconnlistener_new_bind(base, on_accept, base, LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_FREE,
                                  1024, (struct sockaddr *)&sin, sizeof(sin));
    if (lis == NULL) {
        fprintf(stderr, "cannot listen on %s\n", listen);
        return 1;
    }
    term = evsignal_new(base, SIGTERM, on_term, base);
    event_add(term, NULL);
    event_base_dispatch(base);
    evconnlistener_free(lis);
    event_free(term);
    redisAsyncFree(ac);
    event_base_free(base);
    return 0;
}
