/*
 * authd_server.c - event loop, connections, work queues and deadlines of
 * portreeve-authd (see authd_server.h).
 *
 * Public: authd_server_run. Threads: the loop thread owns every connection
 * and the pid map; worker threads own only the job they run. The loop
 * reads a request right after accept (it is usually there already) and
 * first tries to decide it without blocking (verify_login_fast /
 * verify_gate_fast: refusals, locks known from the lock mirror, cache
 * hits); only the rest becomes a job. A job goes
 * loop -> queue -> worker -> done list -> loop, and only the loop thread
 * touches job->conn, so a connection closed at its deadline simply leaves
 * an orphan job that is freed when the worker hands it back. Every job
 * holds a reference on the configuration snapshot it started with.
 *
 * Limits: one request per connection, at most 4 KiB read per callback,
 * authd_queue_limit jobs waiting per queue (beyond that: temporary
 * failure at once), authd_deadline per connection from accept.
 */
#include "authd_server.h"

#include <errno.h>
#include <event2/event.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "authd_pidmap.h"
#include "log.h"
#include "util.h"
#include "verify.h"

enum job_kind { JOB_MUX, JOB_GATE };

#define AUTHD_ACCEPT_BATCH 32

struct conn;

struct job {
    enum job_kind kind;
    struct authd_cfg *cfg;
    struct mux_decoder mux;   /* JOB_MUX; holds the password until wiped */
    struct gate_decoder gate; /* JOB_GATE */
    char addr[AUTHD_PIDMAP_ADDR_MAX];
    pid_t pid;
    uint64_t start_us, deadline_us;
    struct verify_outcome out;
    struct conn *conn; /* loop thread only; NULL once the connection is gone */
    struct job *next;
};

struct conn {
    struct server *srv;
    enum job_kind kind;
    int fd;
    pid_t pid;
    uid_t uid;
    uint64_t start_us;
    struct event *rd, *timer;
    struct job *job; /* being decoded, then in flight */
};

struct queue {
    pthread_mutex_t lock;
    pthread_cond_t cond;
    struct job *head, *tail;
    size_t len;
};

struct server {
    struct event_base *base;
    struct authd_cfg *cfg; /* current snapshot */
    const char *conf_path;
    struct queue work[2]; /* by job kind */
    pthread_mutex_t done_lock;
    struct job *done;
    int done_fd; /* eventfd: workers -> loop */
    struct authd_pidmap *pidmap;
    struct verify_shared shared;
    pthread_t *threads;
    size_t nthreads;
    size_t nworkers; /* authd_workers, resolved */
    int stopping;
};

struct worker_arg {
    struct server *srv;
    enum job_kind kind;
};

/* Free a job, wiping the password it may hold. */
static void job_free(struct job *j)
{
    authd_cfg_unref(j->cfg);
    explicit_bzero(j, sizeof(*j));
    free(j);
}

/* Close a connection; its job (if in flight) is orphaned. */
static void conn_close(struct conn *c)
{
    if (c->job) {
        c->job->conn = NULL;
        if (c->job->cfg == NULL) /* still being decoded: not queued */
            job_free(c->job);
    }
    if (c->rd)
        event_free(c->rd);
    if (c->timer)
        event_free(c->timer);
    close(c->fd);
    free(c);
}

/* One log line per login decision. */
static void server_log_login(const struct job *j, const char *result, const char *reason)
{
    char user[200], realm[100], service[40];
    const struct mux_decoder *m = &j->mux;

    util_escape(user, sizeof(user), m->f[MUX_LOGIN].buf, m->f[MUX_LOGIN].len);
    util_escape(realm, sizeof(realm), m->f[MUX_REALM].buf, m->f[MUX_REALM].len);
    util_escape(service, sizeof(service), m->f[MUX_SERVICE].buf, m->f[MUX_SERVICE].len);
    log_info("auth: user=\"%s\" realm=\"%s\" service=\"%s\" client=%s pid=%ld result=%s "
             "reason=\"%s\"%s%s%s ms=%.1f",
             user, realm, service, j->addr[0] ? j->addr : "unknown", (long)j->pid, result, reason,
             j->out.cached ? " cached" : "", j->out.fell_back ? " store=embedded" : "",
             j->out.on_loop ? " loop" : "", (double)(util_now_us() - j->start_us) / 1000.0);
}

/* One log line per gate decision (routine "proceed" only in debug). */
static void server_log_gate(const struct job *j, const char *result, const char *reason)
{
    char user[200];

    if (j->out.gate == GATE_PROCEED && !log_debug_enabled())
        return;
    util_escape(user, sizeof(user), j->gate.f[GATE_USER].buf, j->gate.f[GATE_USER].len);
    log_info("gate: user=\"%s\" client=%s pid=%ld result=%s reason=\"%s\" ms=%.1f", user,
             j->addr[0] ? j->addr : "unknown", (long)j->pid, result, reason,
             (double)(util_now_us() - j->start_us) / 1000.0);
}

/* Send the answer of a finished job, or hang up for a temporary failure. */
static void server_answer(struct conn *c, struct job *j)
{
    uint8_t buf[GATE_REPLY_MAX + MUX_REPLY_MAX];
    size_t n = 0;

    if (j->kind == JOB_MUX) {
        static const char *const names[] = {"ok", "no", "tempfail"};
        server_log_login(j, names[j->out.result], j->out.reason);
        if (j->out.result == VERIFY_OK)
            n = mux_encode_reply(buf, sizeof(buf), "OK");
        else if (j->out.result == VERIFY_NO)
            n = mux_encode_reply(buf, sizeof(buf), "NO authentication failed");
    } else {
        const char *text = j->out.gate == GATE_DENIED ? LOGIN_USER_MESSAGE : j->out.reason;
        server_log_gate(j,
                        j->out.gate == GATE_PROCEED  ? "proceed"
                        : j->out.gate == GATE_LOCKED ? "locked"
                                                     : "denied",
                        j->out.reason);
        n = gate_encode_reply(buf, sizeof(buf), j->out.gate, text);
    }
    if (n > 0 && send(c->fd, buf, n, MSG_NOSIGNAL | MSG_DONTWAIT) != (ssize_t)n)
        log_warn("reply to pid %ld lost: %s", (long)c->pid, strerror(errno));
    c->job = NULL;
    conn_close(c);
}

/* Give a job back to the loop. */
static void server_done(struct server *s, struct job *j)
{
    uint64_t one = 1;
    int wake;

    pthread_mutex_lock(&s->done_lock);
    /* A non-empty list means a wake-up is already on its way: the loop
     * reads the eventfd before it takes the list, so it takes this job too. */
    wake = s->done == NULL;
    j->next = s->done;
    s->done = j;
    pthread_mutex_unlock(&s->done_lock);
    if (wake && write(s->done_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
        log_warn("eventfd write: %s", strerror(errno));
}

/* Loop side: collect finished jobs. */
static void server_on_done(evutil_socket_t fd, short what, void *arg)
{
    struct server *s = arg;
    uint64_t v;
    struct job *j;

    (void)what;
    if (read(fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
        log_warn("eventfd read: %s", strerror(errno));
    pthread_mutex_lock(&s->done_lock);
    j = s->done;
    s->done = NULL;
    pthread_mutex_unlock(&s->done_lock);
    while (j) {
        struct job *next = j->next;
        if (j->conn)
            server_answer(j->conn, j);
        else
            log_debug("late result for pid %ld dropped (deadline passed)", (long)j->pid);
        job_free(j);
        j = next;
    }
}

/* Queue a job for a worker; -1 when the queue is full. */
static int server_enqueue(struct server *s, struct job *j)
{
    struct queue *q = &s->work[j->kind];
    int rc = 0;

    pthread_mutex_lock(&q->lock);
    if (q->len >= (size_t)s->cfg->s.queue_limit) {
        rc = -1;
    } else {
        j->next = NULL;
        if (q->tail)
            q->tail->next = j;
        else
            q->head = j;
        q->tail = j;
        q->len++;
        pthread_cond_signal(&q->cond);
    }
    pthread_mutex_unlock(&q->lock);
    return rc;
}

/* Worker thread: run jobs of one kind until the server stops. */
static void *server_worker(void *arg)
{
    struct worker_arg *wa = arg;
    struct server *s = wa->srv;
    struct queue *q = &s->work[wa->kind];
    struct verify_worker *w = verify_worker_new();

    for (;;) {
        struct job *j;
        pthread_mutex_lock(&q->lock);
        while (q->head == NULL && !__atomic_load_n(&s->stopping, __ATOMIC_ACQUIRE))
            pthread_cond_wait(&q->cond, &q->lock);
        j = q->head;
        if (j) {
            q->head = j->next;
            if (q->head == NULL)
                q->tail = NULL;
            q->len--;
        }
        pthread_mutex_unlock(&q->lock);
        if (j == NULL)
            break;
        if (w == NULL) {
            j->out.result = VERIFY_TEMPFAIL;
            snprintf(j->out.reason, sizeof(j->out.reason), "out of memory");
        } else if (util_now_us() >= j->deadline_us) {
            j->out.result = VERIFY_TEMPFAIL;
            snprintf(j->out.reason, sizeof(j->out.reason), "deadline passed in the queue");
        } else if (j->kind == JOB_MUX) {
            verify_login(w, &s->shared, j->cfg, &j->mux, j->addr, util_now_us() / 1000u, &j->out);
        } else {
            verify_gate(w, &s->shared, j->cfg, &j->gate, j->addr, util_now_us() / 1000u, &j->out);
        }
        /* The password is no longer needed by anyone. */
        explicit_bzero(j->mux.f[MUX_PASSWORD].buf, sizeof(j->mux.f[MUX_PASSWORD].buf));
        server_done(s, j);
    }
    verify_worker_free(w);
    free(wa);
    return NULL;
}

/* A request is complete: attach the address and queue it. */
static void server_dispatch(struct conn *c)
{
    struct server *s = c->srv;
    struct job *j = c->job;
    uint64_t now_ms = util_wall_ms();

    event_del(c->rd);
    j->cfg = authd_cfg_ref(s->cfg);
    j->pid = c->pid;
    j->start_us = c->start_us;
    j->deadline_us = c->start_us + (uint64_t)s->cfg->s.deadline_ms * 1000u;
    if (j->kind == JOB_GATE) {
        const struct gate_field *a = &j->gate.f[GATE_ADDR];
        if (verify_addr_from_ipport(a->buf, a->len, j->addr, sizeof(j->addr)) == 0 && j->addr[0])
            authd_pidmap_put(s->pidmap, c->pid, j->addr, now_ms,
                             (uint64_t)s->cfg->s.gate_pid_ttl_ms);
    } else {
        authd_pidmap_take(s->pidmap, c->pid, now_ms, j->addr, sizeof(j->addr));
    }
    /* Whatever needs neither LDAP nor a Redis round trip is answered here,
     * without the hand-off to a worker and back. */
    if (j->kind == JOB_MUX ? verify_login_fast(&s->shared, j->cfg, &j->mux, j->addr,
                                               util_now_us() / 1000u, &j->out)
                           : verify_gate_fast(&s->shared, j->cfg, &j->gate, j->addr,
                                              util_now_us() / 1000u, &j->out)) {
        server_answer(c, j);
        job_free(j);
        return;
    }
    if (server_enqueue(s, j) < 0) {
        j->out.result = VERIFY_TEMPFAIL;
        j->out.gate = GATE_PROCEED;
        snprintf(j->out.reason, sizeof(j->out.reason), "queue full");
        server_answer(c, j);
        job_free(j);
    }
}

/*
 * Read what has arrived and feed the decoder. Returns 1 if the connection
 * is still open and waiting for more of its request, 0 if it was closed or
 * its request is complete (answered or handed to a worker).
 */
static int server_read(struct conn *c)
{
    uint8_t buf[4096];
    ssize_t n;
    size_t used;
    int done = 0;

    n = recv(c->fd, buf, sizeof(buf), MSG_DONTWAIT);
    if (n < 0 && (errno == EAGAIN || errno == EINTR))
        return 1;
    if (n <= 0) {
        conn_close(c); /* peer gave up before finishing its request */
        return 0;
    }
    if (c->kind == JOB_MUX) {
        done = mux_decode(&c->job->mux, buf, (size_t)n, &used) == MUX_DONE;
    } else {
        enum gate_status st = gate_decode(&c->job->gate, buf, (size_t)n, &used);
        if (st == GATE_ERROR) {
            log_warn("gate: malformed request from pid %ld: %s", (long)c->pid, c->job->gate.error);
            explicit_bzero(buf, sizeof(buf));
            conn_close(c);
            return 0;
        }
        done = st == GATE_DONE;
    }
    explicit_bzero(buf, sizeof(buf)); /* it may have held a password */
    if (!done)
        return 1;
    server_dispatch(c);
    return 0;
}

/* Readable: feed the decoder. */
static void server_on_read(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    server_read(arg);
}

/* Deadline: hang up, which the client sees as a temporary failure. */
static void server_on_deadline(evutil_socket_t fd, short what, void *arg)
{
    struct conn *c = arg;

    (void)fd;
    (void)what;
    if (c->job && c->job->cfg) {
        c->job->out.result = VERIFY_TEMPFAIL;
        if (c->kind == JOB_MUX)
            server_log_login(c->job, "tempfail", "deadline");
        else
            log_warn("gate: pid %ld: deadline passed", (long)c->pid);
    } else {
        log_warn("%s: pid %ld sent no complete request before the deadline",
                 c->kind == JOB_MUX ? "auth" : "gate", (long)c->pid);
    }
    conn_close(c);
}

/* Is the peer one of the allowed users? */
static int server_peer_ok(const struct authd_cfg *cfg, uid_t uid)
{
    for (size_t i = 0; i < cfg->nallowed; i++)
        if (cfg->allowed[i] == uid)
            return 1;
    return 0;
}

/* Accept one connection; 0 when there was none left to accept. */
static int server_accept_one(struct server *s, evutil_socket_t lfd, enum job_kind kind)
{
    struct conn *c;
    struct ucred cred;
    socklen_t clen = sizeof(cred);
    struct timeval tv;
    int fd;

    fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
        int e = errno;
        if (e != EAGAIN && e != EINTR && e != ECONNABORTED)
            log_warn("accept: %s", strerror(e));
        return e == ECONNABORTED || e == EINTR;
    }
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &clen) < 0 ||
        !server_peer_ok(s->cfg, cred.uid)) {
        log_warn("%s: refused connection from uid %ld pid %ld (not in authd_allowed_users)",
                 kind == JOB_MUX ? "auth" : "gate", (long)cred.uid, (long)cred.pid);
        close(fd);
        return 1;
    }
    c = calloc(1, sizeof(*c));
    if (c)
        c->job = calloc(1, sizeof(*c->job));
    if (c == NULL || c->job == NULL) {
        log_err("out of memory");
        free(c);
        close(fd);
        return 1;
    }
    c->srv = s;
    c->kind = kind;
    c->fd = fd;
    c->pid = cred.pid;
    c->uid = cred.uid;
    c->start_us = util_now_us();
    c->job->kind = kind;
    c->job->conn = c;
    if (kind == JOB_MUX)
        mux_decoder_init(&c->job->mux);
    else
        gate_decoder_init(&c->job->gate, 0);
    c->rd = event_new(s->base, fd, EV_READ | EV_PERSIST, server_on_read, c);
    c->timer = evtimer_new(s->base, server_on_deadline, c);
    tv.tv_sec = (time_t)(s->cfg->s.deadline_ms / 1000);
    tv.tv_usec = (suseconds_t)(s->cfg->s.deadline_ms % 1000 * 1000);
    if (c->rd == NULL || c->timer == NULL || evtimer_add(c->timer, &tv) < 0) {
        log_err("cannot watch a connection");
        conn_close(c);
        return 1;
    }
    /* smtpd writes its request right after connecting, so it is usually
     * here already: read it now and skip a trip through epoll (and the
     * registration of the socket) for the common case. */
    if (server_read(c) && event_add(c->rd, NULL) < 0) {
        log_err("cannot watch a connection");
        conn_close(c);
    }
    return 1;
}

/* Listening socket readable: accept what is waiting, a bounded batch per
 * wake-up (fewer trips through epoll under load, and fair to the other
 * socket and to finished jobs). */
static void server_on_accept(evutil_socket_t lfd, short what, void *arg)
{
    struct {
        struct server *srv;
        enum job_kind kind;
    } *l = arg;

    (void)what;
    for (int i = 0; i < AUTHD_ACCEPT_BATCH; i++)
        if (!server_accept_one(l->srv, lfd, l->kind))
            break;
}

/* SIGHUP: load a new snapshot; keep the old one on error. */
static void server_on_hup(evutil_socket_t sig, short what, void *arg)
{
    struct server *s = arg;
    char err[CONF_ERR_LEN];
    struct authd_cfg *n;

    (void)sig;
    (void)what;
    n = authd_cfg_load(s->conf_path, err, sizeof(err));
    if (n == NULL) {
        log_err("reload failed, keeping the running configuration: %s", err);
        return;
    }
    if (strcmp(n->s.mux_socket, s->cfg->s.mux_socket) ||
        strcmp(n->s.gate_socket, s->cfg->s.gate_socket) || n->s.workers != s->cfg->s.workers ||
        n->s.gate_workers != s->cfg->s.gate_workers ||
        n->s.lk_memory_entries != s->cfg->s.lk_memory_entries ||
        n->s.cache_ttl_ms != s->cfg->s.cache_ttl_ms ||
        n->s.cache_entries != s->cfg->s.cache_entries ||
        n->s.lk_mirror_ttl_ms != s->cfg->s.lk_mirror_ttl_ms ||
        n->s.dn_cache_ttl_ms != s->cfg->s.dn_cache_ttl_ms ||
        n->s.dn_cache_entries != s->cfg->s.dn_cache_entries)
        log_warn("reload: socket, thread, memory-store, cache and mirror settings take effect at "
                 "restart");
    authd_cfg_unref(s->cfg);
    s->cfg = n;
    log_info("configuration reloaded from %s", s->conf_path);
}

/* SIGTERM/SIGINT: stop the loop. */
static void server_on_term(evutil_socket_t sig, short what, void *arg)
{
    struct server *s = arg;

    (void)what;
    log_info("stopping on signal %d", (int)sig);
    event_base_loopbreak(s->base);
}

/*
 * authd_workers = 0: four per online CPU, 4..32. A worker spends most of
 * its time waiting for LDAP round trips, so it takes several per CPU to
 * keep the cores and the directory busy; many more only add contention in
 * slapd (measured on 2 CPUs: 4 to 8 workers best, 16 worse).
 */
static size_t server_nworkers(long long configured)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    size_t n;

    if (configured > 0)
        return (size_t)configured;
    n = ncpu > 0 ? (size_t)ncpu * 4 : 4;
    return n < 4 ? 4 : n > 32 ? 32 : n;
}

/* Start the worker threads. */
static int server_start_workers(struct server *s)
{
    size_t nmux = s->nworkers, ngate = (size_t)s->cfg->s.gate_workers;
    sigset_t all, old;

    s->threads = calloc(nmux + ngate, sizeof(*s->threads));
    if (s->threads == NULL)
        return -1;
    /* Workers never handle signals: the loop does. */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    for (size_t i = 0; i < nmux + ngate; i++) {
        struct worker_arg *wa = malloc(sizeof(*wa));
        if (wa == NULL)
            break;
        wa->srv = s;
        wa->kind = i < nmux ? JOB_MUX : JOB_GATE;
        if (pthread_create(&s->threads[i], NULL, server_worker, wa) != 0) {
            free(wa);
            break;
        }
        s->nthreads++;
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    return s->nthreads == nmux + ngate ? 0 : -1;
}

/* Stop and join the workers; free what is left in the queues. */
static void server_stop_workers(struct server *s)
{
    __atomic_store_n(&s->stopping, 1, __ATOMIC_RELEASE);
    for (int k = 0; k < 2; k++) {
        pthread_mutex_lock(&s->work[k].lock);
        while (s->work[k].head) {
            struct job *j = s->work[k].head;
            s->work[k].head = j->next;
            job_free(j);
        }
        s->work[k].tail = NULL;
        pthread_cond_broadcast(&s->work[k].cond);
        pthread_mutex_unlock(&s->work[k].lock);
    }
    for (size_t i = 0; i < s->nthreads; i++)
        pthread_join(s->threads[i], NULL);
    free(s->threads);
}

/* The state all threads share: counters, caches, the lock mirror. 0 or -1. */
static int server_shared_new(struct verify_shared *sh, const struct authd_cfg *cfg)
{
    const struct authd_settings *st = &cfg->s;

    sh->mem = lockout_mem_new((size_t)st->lk_memory_entries);
    if (st->cache_ttl_ms > 0)
        sh->cache = pcache_new((size_t)st->cache_entries, st->cache_ttl_ms);
    if (st->lk_mirror_ttl_ms > 0)
        sh->mirror = lockmirror_new(AUTHD_MIRROR_ENTRIES, st->lk_mirror_ttl_ms);
    if (st->dn_cache_ttl_ms > 0)
        sh->dncache = dncache_new((size_t)st->dn_cache_entries, st->dn_cache_ttl_ms);
    if (sh->mem == NULL || (st->cache_ttl_ms > 0 && sh->cache == NULL) ||
        (st->lk_mirror_ttl_ms > 0 && sh->mirror == NULL) ||
        (st->dn_cache_ttl_ms > 0 && sh->dncache == NULL))
        return -1;
    return 0;
}

static void server_shared_free(struct verify_shared *sh)
{
    lockout_mem_free(sh->mem);
    pcache_free(sh->cache);
    lockmirror_free(sh->mirror);
    dncache_free(sh->dncache);
}

int authd_server_run(const struct authd_server_params *p)
{
    struct server s;
    struct event *ev[6] = {NULL};
    struct {
        struct server *srv;
        enum job_kind kind;
    } lmux = {&s, JOB_MUX}, lgate = {&s, JOB_GATE};
    int rc = -1;

    memset(&s, 0, sizeof(s));
    s.cfg = authd_cfg_ref(p->cfg);
    s.conf_path = p->conf_path;
    s.done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    s.base = event_base_new();
    s.pidmap = authd_pidmap_new();
    for (int k = 0; k < 2; k++) {
        pthread_mutex_init(&s.work[k].lock, NULL);
        pthread_cond_init(&s.work[k].cond, NULL);
    }
    pthread_mutex_init(&s.done_lock, NULL);
    if (s.done_fd < 0 || s.base == NULL || s.pidmap == NULL ||
        server_shared_new(&s.shared, s.cfg) < 0) {
        log_err("start-up failed: out of memory or descriptors");
        goto out;
    }
    ev[0] = event_new(s.base, p->mux_fd, EV_READ | EV_PERSIST, server_on_accept, &lmux);
    ev[1] = p->gate_fd >= 0
                ? event_new(s.base, p->gate_fd, EV_READ | EV_PERSIST, server_on_accept, &lgate)
                : NULL;
    ev[2] = event_new(s.base, s.done_fd, EV_READ | EV_PERSIST, server_on_done, &s);
    ev[3] = evsignal_new(s.base, SIGHUP, server_on_hup, &s);
    ev[4] = evsignal_new(s.base, SIGTERM, server_on_term, &s);
    ev[5] = evsignal_new(s.base, SIGINT, server_on_term, &s);
    for (int i = 0; i < 6; i++)
        if ((ev[i] == NULL && !(i == 1 && p->gate_fd < 0)) ||
            (ev[i] && event_add(ev[i], NULL) < 0)) {
            log_err("start-up failed: cannot register events");
            goto out;
        }
    signal(SIGPIPE, SIG_IGN);
    s.nworkers = server_nworkers(s.cfg->s.workers);
    if (server_start_workers(&s) < 0) {
        log_err("start-up failed: cannot start worker threads");
        server_stop_workers(&s);
        goto out;
    }
    log_info("ready: %zu workers, %lld gate workers, deadline %lldms, store %s%s", s.nworkers,
             s.cfg->s.gate_workers, s.cfg->s.deadline_ms,
             s.cfg->store.server[0] || s.cfg->store.sentinels[0] ? "redis+embedded fallback"
                                                                 : "embedded",
             s.shared.cache ? ", positive cache on" : "");
    if (s.shared.dncache)
        log_info("DN cache on: a search result is reused for %lldms", s.cfg->s.dn_cache_ttl_ms);
    event_base_dispatch(s.base);
    server_stop_workers(&s);
    rc = 0;
out:
    for (int i = 0; i < 6; i++)
        if (ev[i])
            event_free(ev[i]);
    /* Connections still open are dropped with the base: the process exits. */
    if (s.base)
        event_base_free(s.base);
    if (s.done_fd >= 0)
        close(s.done_fd);
    close(p->mux_fd);
    if (p->gate_fd >= 0)
        close(p->gate_fd);
    authd_pidmap_free(s.pidmap);
    server_shared_free(&s.shared);
    authd_cfg_unref(s.cfg);
    return rc;
}
