/*
 * test_daemon.c - lib/daemon.c: the command line both daemons share
 * ([-c file] [-f] [-v] [-t | -d | -n]) and the unix socket binder's refusal
 * to replace a file that is not a socket.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "check.h"
#include "daemon.h"

#define DEF "/etc/portreeve/portreeve.conf"

static void test_daemon_parse_args_accepts_the_documented_options(void **state)
{
    static const struct {
        const char *argv[6];
        int rc;
        const char *conf;
        int foreground, verbose;
        enum daemon_mode mode;
    } rows[] = {
        {{"d", NULL}, 0, DEF, 0, 0, DAEMON_RUN},
        {{"d", "-c", "/x.conf", "-f", "-v", NULL}, 0, "/x.conf", 1, 1, DAEMON_RUN},
        {{"d", "-t", NULL}, 0, DEF, 0, 0, DAEMON_CHECK},
        {{"d", "-c", "/y", "-n", NULL}, 0, "/y", 0, 0, DAEMON_NONDEFAULT},
        {{"d", "-d", NULL}, 0, DEF, 0, 0, DAEMON_DEFAULTS},
        {{"d", "-t", "-d", NULL}, -1, NULL, 0, 0, DAEMON_RUN},
        {{"d", "-x", NULL}, -1, NULL, 0, 0, DAEMON_RUN},
        {{"d", "extra", NULL}, -1, NULL, 0, 0, DAEMON_RUN},
        {{"d", "-c", NULL}, -1, NULL, 0, 0, DAEMON_RUN},
    };

    (void)state;
    opterr = 0; /* getopt's own complaints would clutter the test output */
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *argv[6];
        int argc = 0;
        struct daemon_args a;
        int rc;

        while (rows[i].argv[argc]) {
            argv[argc] = (char *)(uintptr_t)rows[i].argv[argc];
            argc++;
        }
        argv[argc] = NULL;
        rc = daemon_parse_args(argc, argv, DEF, &a);
        check_that(rc == rows[i].rc, "row %zu: rc got %d, want %d", i, rc, rows[i].rc);
        if (rc != 0 || rows[i].rc != 0)
            continue;
        check_that(strcmp(a.conf, rows[i].conf) == 0, "row %zu: conf got %s, want %s", i, a.conf,
                   rows[i].conf);
        check_that(a.foreground == rows[i].foreground && a.verbose == rows[i].verbose,
                   "row %zu: -f/-v got %d/%d, want %d/%d", i, a.foreground, a.verbose,
                   rows[i].foreground, rows[i].verbose);
        check_that(a.mode == rows[i].mode, "row %zu: mode got %d, want %d", i, (int)a.mode,
                   (int)rows[i].mode);
    }
    check_done();
}

static void test_daemon_listen_unix_never_replaces_a_regular_file(void **state)
{
    char dir[] = "/tmp/portreeve-test-daemon.XXXXXX";
    char path[128], err[256] = "";
    FILE *fp;
    int fd;

    (void)state;
    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/sock", dir);
    fp = fopen(path, "w");
    assert_non_null(fp);
    fputs("precious\n", fp);
    fclose(fp);
    fd = daemon_listen_unix(path, 0660, NULL, NULL, 8, err, sizeof(err));
    check_that(fd == -1, "regular file: fd got %d, want -1", fd);
    check_that(strstr(err, "not a socket") != NULL, "regular file: error got \"%s\"", err);
    check_that(access(path, F_OK) == 0, "regular file: it was removed");
    unlink(path);
    /* A stale socket is replaced. */
    fd = daemon_listen_unix(path, 0660, NULL, NULL, 8, err, sizeof(err));
    check_that(fd >= 0, "fresh socket: got %d (%s), want a descriptor", fd, err);
    if (fd >= 0)
        close(fd);
    fd = daemon_listen_unix(path, 0660, NULL, NULL, 8, err, sizeof(err));
    check_that(fd >= 0, "stale socket: got %d (%s), want a descriptor", fd, err);
    if (fd >= 0)
        close(fd);
    unlink(path);
    rmdir(dir);
    check_done();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_daemon_parse_args_accepts_the_documented_options),
        cmocka_unit_test(test_daemon_listen_unix_never_replaces_a_regular_file),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
