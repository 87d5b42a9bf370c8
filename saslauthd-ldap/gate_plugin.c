/*
 * gate_plugin.c - libportreeve.so, the Cyrus SASL auxprop "gate" plugin
 * that runs inside smtpd (the only file that includes libsasl2 headers).
 *
 * Public: sasl_auxprop_plug_init (the only exported symbol; everything else
 * is hidden by -fvisibility=hidden). Selected in smtpd.conf with
 * "auxprop_plugin: portreeve", configured with portreeve_* keys there.
 *
 * Contract (portreeve-sasl(5)):
 *   - Dormant without portreeve_gate_socket: every lookup answers
 *     SASL_NOMECH, which libsasl ignores. Every SASL server on the host
 *     loads every plugin in the directory, so this must be harmless.
 *   - On the authentication-id lookup (before the password is checked):
 *     check the login-name syntax locally (refusal: a permanent failure
 *     whose error text tells the user to use the login name), then ask
 *     authd over the gate socket, with the client address from
 *     ipremoteport, whether this attempt may proceed. Locked -> SASL_UNAVAIL
 *     (454) or as configured. Gate unreachable or slower than
 *     portreeve_gate_timeout -> proceed with a warning (fail open), or a
 *     temporary failure if so configured.
 *   - Never exits, aborts, prints, touches signals, environment or
 *     process-global state; allocates only through the SASL utils; no I/O
 *     at init; no secrets. All state hangs off the glob context.
 */
#include <errno.h>
#include <poll.h>
#include <sasl/sasl.h>
#include <sasl/saslplug.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "gate_proto.h"
#include "login.h"

#define GATE_PLUGIN_NAME "portreeve"

enum gate_plugin_failmode { GATE_FAIL_OPEN, GATE_FAIL_TEMP };

struct gate_plugin {
    sasl_auxprop_plug_t plug; /* handed to libsasl; freed with us */
    int active;               /* 0 dormant, 1 active, -1 misconfigured (fail closed) */
    char socket[sizeof(((struct sockaddr_un *)0)->sun_path)];
    long timeout_ms;
    enum gate_plugin_failmode on_failure;
    int locked_code;  /* SASL_UNAVAIL or SASL_DISABLED */
    int refusal_code; /* for bad login names */
    struct login_policy login;
};

/* Read an option; NULL when absent or empty. */
static const char *gate_plugin_opt(const sasl_utils_t *u, const char *key)
{
    const char *v = NULL;
    unsigned len = 0;

    if (u->getopt == NULL ||
        u->getopt(u->getopt_context, GATE_PLUGIN_NAME, key, &v, &len) != SASL_OK)
        return NULL;
    return v && *v ? v : NULL;
}

/* Parse a decimal in [min, max]; -1 on error. */
static long gate_plugin_num(const char *s, long min, long max)
{
    char *end;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < min || v > max)
        return -1;
    return v;
}

/* Map a refusal name to its SASL code; 0 when unknown. */
static int gate_plugin_code(const char *s)
{
    static const struct {
        const char *name;
        int code;
    } codes[] = {
        {"unavail", SASL_UNAVAIL},   {"tempfail", SASL_UNAVAIL}, {"disabled", SASL_DISABLED},
        {"badparam", SASL_BADPARAM}, {"noauthz", SASL_NOAUTHZ},  {"badauth", SASL_BADAUTH},
    };

    for (size_t i = 0; i < sizeof(codes) / sizeof(codes[0]); i++)
        if (strcasecmp(s, codes[i].name) == 0)
            return codes[i].code;
    return 0;
}

/* Read every portreeve_* option; SASL_OK, or SASL_BADPARAM with a log. */
static int gate_plugin_configure(struct gate_plugin *g, const sasl_utils_t *u)
{
    const char *sock = gate_plugin_opt(u, "portreeve_gate_socket"), *v;
    char err[160];
    long n;

    g->timeout_ms = 200;
    g->on_failure = GATE_FAIL_OPEN;
    g->locked_code = SASL_UNAVAIL;
    g->refusal_code = SASL_BADPARAM;
    if (sock == NULL)
        return SASL_OK; /* dormant */
    if (sock[0] != '/' || strlen(sock) >= sizeof(g->socket)) {
        u->log(NULL, SASL_LOG_ERR,
               "portreeve: portreeve_gate_socket must be an absolute path "
               "shorter than %zu bytes",
               sizeof(g->socket));
        return SASL_BADPARAM;
    }
    memcpy(g->socket, sock, strlen(sock) + 1);
    if ((v = gate_plugin_opt(u, "portreeve_gate_timeout")) &&
        (n = gate_plugin_num(v, 1, 10000)) > 0)
        g->timeout_ms = n;
    else if (v) {
        u->log(NULL, SASL_LOG_ERR, "portreeve: portreeve_gate_timeout: want 1..10000 (ms)");
        return SASL_BADPARAM;
    }
    if ((v = gate_plugin_opt(u, "portreeve_gate_failure"))) {
        if (strcasecmp(v, "open") == 0)
            g->on_failure = GATE_FAIL_OPEN;
        else if (strcasecmp(v, "tempfail") == 0)
            g->on_failure = GATE_FAIL_TEMP;
        else {
            u->log(NULL, SASL_LOG_ERR, "portreeve: portreeve_gate_failure: want open or tempfail");
            return SASL_BADPARAM;
        }
    }
    if ((v = gate_plugin_opt(u, "portreeve_locked_code")) &&
        (g->locked_code = gate_plugin_code(v)) == 0) {
        u->log(NULL, SASL_LOG_ERR, "portreeve: portreeve_locked_code: want unavail or disabled");
        return SASL_BADPARAM;
    }
    if ((v = gate_plugin_opt(u, "portreeve_login_refusal")) &&
        (g->refusal_code = gate_plugin_code(v)) == 0) {
        u->log(NULL, SASL_LOG_ERR,
               "portreeve: portreeve_login_refusal: want badparam, noauthz, disabled or badauth");
        return SASL_BADPARAM;
    }
    n = LOGIN_DEFAULT_MAX_LENGTH;
    if ((v = gate_plugin_opt(u, "portreeve_login_max_length")) &&
        (n = gate_plugin_num(v, 1, LOGIN_LEN_MAX)) < 0) {
        u->log(NULL, SASL_LOG_ERR, "portreeve: portreeve_login_max_length: want 1..%d",
               LOGIN_LEN_MAX);
        return SASL_BADPARAM;
    }
    if (login_policy_init(&g->login, gate_plugin_opt(u, "portreeve_login_chars"), n,
                          gate_plugin_opt(u, "portreeve_login_realms"), err, sizeof(err)) < 0) {
        u->log(NULL, SASL_LOG_ERR, "portreeve: login settings: %s", err);
        return SASL_BADPARAM;
    }
    g->active = 1;
    return SASL_OK;
}

/* Milliseconds left until deadline (monotonic), never negative. */
static int gate_plugin_left(const struct timespec *deadline)
{
    struct timespec now;
    long long ms;

    clock_gettime(CLOCK_MONOTONIC, &now);
    ms = (long long)(deadline->tv_sec - now.tv_sec) * 1000 +
         (deadline->tv_nsec - now.tv_nsec) / 1000000;
    return ms < 0 ? 0 : (int)ms;
}

/* Wait for fd to be ready for events within the deadline; 0 or -1. */
static int gate_plugin_wait(int fd, short events, const struct timespec *deadline)
{
    struct pollfd pfd = {fd, events, 0};
    int rc;

    do {
        rc = poll(&pfd, 1, gate_plugin_left(deadline));
    } while (rc < 0 && errno == EINTR);
    return rc == 1 ? 0 : -1;
}

/*
 * One gate exchange within timeout_ms. Returns the reply code, or 0 with a
 * reason in why when the gate could not be asked.
 */
static int gate_plugin_ask(const struct gate_plugin *g, const uint8_t *req, size_t reqlen,
                           const char **why)
{
    struct sockaddr_un sun;
    struct timespec deadline;
    struct gate_decoder d;
    uint8_t buf[GATE_REPLY_MAX];
    size_t off = 0, used;
    int fd, code = 0;

    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += g->timeout_ms / 1000;
    deadline.tv_nsec += (g->timeout_ms % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    memcpy(sun.sun_path, g->socket, strlen(g->socket) + 1);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *why = "socket() failed";
        return 0;
    }
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 &&
        (errno != EINPROGRESS && errno != EAGAIN)) {
        *why = "cannot connect to the gate socket";
        goto out;
    }
    while (off < reqlen) {
        ssize_t n;
        if (gate_plugin_wait(fd, POLLOUT, &deadline) < 0) {
            *why = "timeout sending to the gate";
            goto out;
        }
        n = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
        if (n < 0 && errno != EAGAIN && errno != EINTR) {
            *why = "cannot send to the gate";
            goto out;
        }
        if (n > 0)
            off += (size_t)n;
    }
    gate_decoder_init(&d, 1);
    for (;;) {
        ssize_t n;
        enum gate_status st;
        if (gate_plugin_wait(fd, POLLIN, &deadline) < 0) {
            *why = "timeout waiting for the gate";
            goto out;
        }
        n = recv(fd, buf, sizeof(buf), 0);
        if (n < 0 && (errno == EAGAIN || errno == EINTR))
            continue;
        if (n <= 0) {
            *why = "the gate closed the connection";
            goto out;
        }
        st = gate_decode(&d, buf, (size_t)n, &used);
        if (st == GATE_ERROR) {
            *why = "malformed gate reply";
            goto out;
        }
        if (st == GATE_DONE) {
            code = d.code;
            break;
        }
    }
out:
    close(fd);
    return code;
}

/* The client address as libsasl gives it ("addr;port"); authd strips the port. */
static void gate_plugin_addr(const sasl_server_params_t *sp, const char **addr, size_t *len)
{
    const char *s = sp->ipremoteport;
    size_t n;

    *addr = "";
    *len = 0;
    if (s == NULL)
        return;
    n = strlen(s);
    *addr = s;
    *len = n;
}

static int gate_plugin_lookup(void *glob, sasl_server_params_t *sp, unsigned flags,
                              const char *user, unsigned ulen)
{
    struct gate_plugin *g = glob;
    const sasl_utils_t *u = sp->utils;
    const char *realm, *addr, *why = "";
    size_t login_len, rlen, alen;
    enum login_verdict lv;
    uint8_t req[GATE_REQUEST_MAX];
    const char *fields[GATE_NFIELDS];
    size_t lens[GATE_NFIELDS], reqlen;
    int code;

    if (g->active == 0)
        return SASL_NOMECH;
    if (g->active < 0) {
        /* A broken smtpd.conf must not silently turn the gate off. */
        u->log(u->conn, SASL_LOG_ERR, "portreeve: misconfigured (see earlier errors); refusing");
        return SASL_UNAVAIL;
    }
    /* Only the authentication-id pass; the authzid pass has nothing to add. */
    if (flags & SASL_AUXPROP_AUTHZID)
        return SASL_NOUSER;
    login_split(user, ulen, &login_len, &realm, &rlen);
    if (rlen == 0 && login_len == ulen && sp->user_realm) {
        realm = sp->user_realm;
        rlen = strlen(sp->user_realm);
    }
    lv = login_check(&g->login, user, login_len, realm, rlen);
    if (lv != LOGIN_OK) {
        u->seterror(u->conn, 0, "%s", LOGIN_USER_MESSAGE);
        u->log(u->conn, SASL_LOG_WARN, "portreeve: refused login: %s: %s", login_verdict_text(lv),
               LOGIN_USER_MESSAGE);
        return g->refusal_code;
    }
    gate_plugin_addr(sp, &addr, &alen);
    fields[GATE_USER] = user;
    lens[GATE_USER] = ulen;
    fields[GATE_REALM] = sp->user_realm ? sp->user_realm : "";
    lens[GATE_REALM] = strlen(fields[GATE_REALM]);
    fields[GATE_SERVICE] = sp->service ? sp->service : "";
    lens[GATE_SERVICE] = strlen(fields[GATE_SERVICE]);
    fields[GATE_ADDR] = addr;
    lens[GATE_ADDR] = alen;
    reqlen = gate_encode_request(req, sizeof(req), fields, lens);
    if (reqlen == 0)
        return g->refusal_code; /* longer than any login the policy accepts */
    code = gate_plugin_ask(g, req, reqlen, &why);
    switch (code) {
    case GATE_PROCEED:
        return SASL_NOUSER; /* "nothing to add": the verifier decides */
    case GATE_LOCKED:
        u->seterror(u->conn, 0, "too many failed logins; try again later");
        u->log(u->conn, SASL_LOG_WARN, "portreeve: login attempt held back (lockout)");
        return g->locked_code;
    case GATE_DENIED:
        u->seterror(u->conn, 0, "%s", LOGIN_USER_MESSAGE);
        u->log(u->conn, SASL_LOG_WARN, "portreeve: refused login: %s", LOGIN_USER_MESSAGE);
        return g->refusal_code;
    default:
        u->log(u->conn, SASL_LOG_WARN, "portreeve: gate %s: %s; %s", g->socket, why,
               g->on_failure == GATE_FAIL_OPEN ? "proceeding" : "temporary failure");
        return g->on_failure == GATE_FAIL_OPEN ? SASL_NOUSER : SASL_UNAVAIL;
    }
}

/* Refuse to store anything (sasl_setpass, auto_transition). */
static int gate_plugin_store(void *glob, sasl_server_params_t *sp, struct propctx *ctx,
                             const char *user, unsigned ulen)
{
    (void)glob;
    (void)sp;
    (void)ctx;
    (void)user;
    (void)ulen;
    return SASL_NOMECH;
}

static void gate_plugin_free(void *glob, const sasl_utils_t *utils)
{
    struct gate_plugin *g = glob;

    if (g)
        utils->free(g);
}

__attribute__((visibility("default"))) int sasl_auxprop_plug_init(const sasl_utils_t *utils,
                                                                  int max_version, int *out_version,
                                                                  sasl_auxprop_plug_t **plug,
                                                                  const char *plugname);

int sasl_auxprop_plug_init(const sasl_utils_t *utils, int max_version, int *out_version,
                           sasl_auxprop_plug_t **plug, const char *plugname)
{
    struct gate_plugin *g;
    int rc;

    (void)plugname;
    if (max_version < SASL_AUXPROP_PLUG_VERSION)
        return SASL_BADVERS;
    g = utils->malloc(sizeof(*g));
    if (g == NULL)
        return SASL_NOMEM;
    memset(g, 0, sizeof(*g));
    rc = gate_plugin_configure(g, utils);
    if (rc != SASL_OK)
        g->active = -1; /* stay loaded and fail closed rather than vanish */
    g->plug.features = 0;
    g->plug.glob_context = g;
    g->plug.auxprop_free = gate_plugin_free;
    g->plug.auxprop_lookup = gate_plugin_lookup;
    g->plug.name = (char *)(uintptr_t)GATE_PLUGIN_NAME;
    g->plug.auxprop_store = gate_plugin_store;
    *out_version = SASL_AUXPROP_PLUG_VERSION;
    *plug = &g->plug;
    return SASL_OK;
}
