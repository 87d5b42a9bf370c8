/*
 * sasl_harness - drive libsasl2 the way Postfix smtpd does, for the authd
 * tests: sasl_server_init(appname "smtpd") with our plugin directory and
 * smtpd.conf directory, sasl_server_new("smtp", ..., "127.0.0.1;25",
 * "<client>;54321", ...), then PLAIN (one step) or LOGIN (start + two
 * steps).
 *
 *   sasl_harness CONFDIR PLUGINDIRS MECH USER PASSWORD [CLIENT_IP [REALM]]
 *
 * Prints "RESULT <name> <code> <detail>" and exits 0 on SASL_OK, 1 for a
 * permanent failure, 2 for a temporary one (as Postfix maps them: FAIL,
 * NOMEM, TRYAGAIN, UNAVAIL -> 454), 3 on usage errors.
 */
#include <sasl/sasl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *harness_confdir, *harness_plugdir;

static int harness_getpath(void *ctx, const char **path)
{
    (void)ctx;
    *path = harness_plugdir;
    return SASL_OK;
}

static int harness_getconfpath(void *ctx, char **path)
{
    (void)ctx;
    *path = (char *)(uintptr_t)harness_confdir;
    return SASL_OK;
}

static int harness_log(void *ctx, int level, const char *msg)
{
    (void)ctx;
    if (level <= SASL_LOG_NOTE)
        fprintf(stderr, "sasl[%d]: %s\n", level, msg);
    return SASL_OK;
}

static const char *harness_name(int rc)
{
    switch (rc) {
    case SASL_OK:
        return "SASL_OK";
    case SASL_BADAUTH:
        return "SASL_BADAUTH";
    case SASL_NOUSER:
        return "SASL_NOUSER";
    case SASL_UNAVAIL:
        return "SASL_UNAVAIL";
    case SASL_FAIL:
        return "SASL_FAIL";
    case SASL_DISABLED:
        return "SASL_DISABLED";
    case SASL_BADPARAM:
        return "SASL_BADPARAM";
    case SASL_NOAUTHZ:
        return "SASL_NOAUTHZ";
    case SASL_NOMECH:
        return "SASL_NOMECH";
    case SASL_TRYAGAIN:
        return "SASL_TRYAGAIN";
    default:
        return "other";
    }
}

int main(int argc, char **argv)
{
    sasl_callback_t cb[] = {
        {SASL_CB_GETPATH, (int (*)(void))(uintptr_t)harness_getpath, NULL},
        {SASL_CB_GETCONFPATH, (int (*)(void))(uintptr_t)harness_getconfpath, NULL},
        {SASL_CB_LOG, (int (*)(void))(uintptr_t)harness_log, NULL},
        {SASL_CB_LIST_END, NULL, NULL},
    };
    sasl_conn_t *conn = NULL;
    const char *out = NULL;
    unsigned outlen = 0;
    char remote[128], buf[1024];
    const char *ip = argc > 6 ? argv[6] : "192.0.2.7";
    const char *realm = argc > 7 && argv[7][0] ? argv[7] : NULL;
    int rc;
    size_t ulen, plen;

    /* Line-buffered even into a pipe: the RESULT line must reach the test
     * before exit, where LeakSanitizer may abort the process over a leak in
     * libsasl2's LOGIN mechanism (a realm in the user name), which is not
     * ours and cannot be suppressed by name: libsasl2 has unloaded the
     * mechanism by then. */
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (argc < 6) {
        fprintf(stderr, "usage: sasl_harness CONFDIR PLUGINDIRS MECH USER PASSWORD [IP [REALM]]\n");
        return 3;
    }
    harness_confdir = argv[1];
    harness_plugdir = argv[2];
    ulen = strlen(argv[4]);
    plen = strlen(argv[5]);
    snprintf(remote, sizeof(remote), "%s;54321", ip);
    rc = sasl_server_init(cb, "smtpd");
    if (rc != SASL_OK) {
        printf("RESULT init %s %d\n", harness_name(rc), rc);
        return 3;
    }
    rc =
        sasl_server_new("smtp", "mail.example.test", realm, "127.0.0.1;25", remote, NULL, 0, &conn);
    if (rc != SASL_OK) {
        printf("RESULT new %s %d\n", harness_name(rc), rc);
        return 3;
    }
    if (strcmp(argv[3], "PLAIN") == 0) {
        /* authzid \0 authcid \0 password, authzid empty as most clients send */
        if (ulen + plen + 2 > sizeof(buf))
            return 3;
        buf[0] = '\0';
        memcpy(buf + 1, argv[4], ulen + 1);
        memcpy(buf + 2 + ulen, argv[5], plen);
        rc = sasl_server_start(conn, "PLAIN", buf, (unsigned)(ulen + plen + 2), &out, &outlen);
    } else {
        rc = sasl_server_start(conn, "LOGIN", NULL, 0, &out, &outlen);
        if (rc == SASL_CONTINUE)
            rc = sasl_server_step(conn, argv[4], (unsigned)ulen, &out, &outlen);
        if (rc == SASL_CONTINUE)
            rc = sasl_server_step(conn, argv[5], (unsigned)plen, &out, &outlen);
    }
    printf("RESULT %s %d %s\n", harness_name(rc), rc, rc == SASL_OK ? "" : sasl_errdetail(conn));
    sasl_dispose(&conn);
    sasl_done();
    if (rc == SASL_OK)
        return 0;
    return rc == SASL_FAIL || rc == SASL_NOMEM || rc == SASL_TRYAGAIN || rc == SASL_UNAVAIL ? 2 : 1;
}
