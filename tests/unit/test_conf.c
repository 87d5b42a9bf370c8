/*
 * test_conf.c - the portreeve.conf reader (lib/conf.c) with a table of its
 * own, then through policyd_conf_load() with the daemon's real table.
 *
 * Syntax as Postfix main.cf: continuation lines, "#" comments only at the
 * start of a line (so "x = yes # c" keeps the comment text), the last
 * duplicate wins; every error names the file, the line, the key and the
 * value; -n prints what differs from the default by meaning, not by text.
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
#include "conf.h"
#include "fixture.h"
#include "netset.h"
#include "policyd_conf.h"

struct tconf {
    char *str;
    long long num;
    int flag;
    long long ms;
    unsigned mode;
    char *word;
};

/* conf_check_fn: lower-case letters only. */
static int check_lower(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    (void)e;
    if (v[0] == '\0' || strspn(v, "abcdefghijklmnopqrstuvwxyz") != strlen(v)) {
        snprintf(err, errlen, "lower-case letters only");
        return -1;
    }
    return 0;
}

#define TC(f) offsetof(struct tconf, f)
static const struct conf_entry tentries[] = {
    {"test_str", CONF_STR, "default text", 0, 0, TC(str), NULL, "a string"},
    {"test_int", CONF_INT, "10", 1, 100, TC(num), NULL, "an integer"},
    {"test_bool", CONF_BOOL, "yes", 0, 0, TC(flag), NULL, "a boolean"},
    {"test_time", CONF_TIME, "1m", 1000, 86400000, TC(ms), NULL, "a time"},
    {"test_mode", CONF_MODE, "0660", 0, 0, TC(mode), NULL, "a mode"},
    {"test_word", CONF_STR, "ok", 0, 0, TC(word), check_lower, "a checked string"},
};
#undef TC
static const char *const foreign[] = {"other_", NULL};

static struct conf_section tsection(struct tconf *t)
{
    struct conf_section s = {tentries, sizeof(tentries) / sizeof(tentries[0]), t};
    return s;
}

/* ---- file syntax ---- */

static void test_conf_reads_main_cf_syntax(void **state)
{
    static const struct {
        const char *name;
        const char *text;
        const char *key;
        const char *want;
    } rows[] = {
        {"plain", "a = value\n", "a", "value"},
        {"white space around", "a\t =   value with  spaces \t\n", "a", "value with  spaces"},
        {"no spaces", "a=value\n", "a", "value"},
        {"value with '='", "a = b=c\n", "a", "b=c"},
        {"empty value", "a =\n", "a", ""},
        {"no final newline", "a = value", "a", "value"},
        {"continuation lines", "a = one\n  two\n\tthree\n", "a", "one two three"},
        {"continuation after a comment", "a = one\n# note\n  two\n", "a", "one two"},
        {"continuation after a blank line", "a = one\n\n  two\n", "a", "one two"},
        {"continuation then next key", "a = one\n two\nb = three\n", "b", "three"},
        {"comment after a value is part of it", "x = yes # c\n", "x", "yes # c"},
        {"indented comment", "   # comment\na = value\n", "a", "value"},
        {"last duplicate wins", "a = 1\nb = 2\na = 3\n", "a", "3"},
        {"CRLF lines", "a = value\r\nb = other\r\n", "a", "value"},
        {"CRLF continuation", "a = one\r\n two\r\n", "a", "one two"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct conf_file f;
        char err[CONF_ERR_LEN] = "";
        const char *got;

        if (!CHECK(conf_file_parse("t.conf", rows[i].text, strlen(rows[i].text), &f, err,
                                   sizeof(err)) == 0,
                   "%s: got error \"%s\", want none", rows[i].name, err))
            continue;
        got = conf_file_get(&f, rows[i].key);
        CHECK_STR(got ? got : "(absent)", rows[i].want, rows[i].name);
        conf_file_free(&f);
    }
    check_done();
}

/* The line number of a duplicate is that of the value that won. */
static void test_conf_duplicate_keeps_the_last_line_number(void **state)
{
    struct conf_file f;
    char err[CONF_ERR_LEN] = "";
    const char *text = "a = 1\n# c\nb = 2\na = 3\n";

    (void)state;
    assert_int_equal(conf_file_parse("t.conf", text, strlen(text), &f, err, sizeof(err)), 0);
    CHECK_INT(f.count, 2, "pairs");
    for (size_t i = 0; i < f.count; i++)
        if (strcmp(f.kv[i].name, "a") == 0)
            CHECK_INT(f.kv[i].line, 4, "line of a");
    conf_file_free(&f);
    check_done();
}

static void test_conf_refuses_broken_files(void **state)
{
    static char longline[CONF_LINE_MAX + 16];
    static char longcont[CONF_LINE_MAX + 16];
    static const struct {
        const char *name;
        const char *text;
        size_t len; /* 0: strlen */
        const char *want;
    } rows[] = {
        {"continuation first", "  a = b\n", 0, "t.conf:1: continuation line without a parameter"},
        {"missing '='", "a = 1\nab\n", 0, "t.conf:2: missing '=' in \"ab\""},
        {"missing name", "\n= b\n", 0, "t.conf:2: missing parameter name before '='"},
        {"bad name", "a-b = c\n", 0, "t.conf:1: bad parameter name \"a-b\""},
        {"NUL byte", "a = b\0c\n", 8, "t.conf: file contains a NUL byte"},
        {"line too long", longline, 0, "t.conf:1: line longer than 65536 bytes"},
        {"continued line too long", longcont, 0, "t.conf:2: line longer than 65536 bytes"},
    };

    (void)state;
    memset(longline, 'x', sizeof(longline) - 1);
    memcpy(longline, "a = ", 4);
    memset(longcont, 'y', sizeof(longcont) - 1);
    memcpy(longcont, "a = 1\n ", 7);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct conf_file f;
        char err[CONF_ERR_LEN] = "";
        size_t len = rows[i].len ? rows[i].len : strlen(rows[i].text);
        int rc = conf_file_parse("t.conf", rows[i].text, len, &f, err, sizeof(err));
        CHECK_INT(rc, -1, rows[i].name);
        CHECK(strstr(err, rows[i].want) != NULL, "%s: got error \"%s\", want \"%s\"", rows[i].name,
              err, rows[i].want);
        if (rc == 0)
            conf_file_free(&f);
    }
    check_done();
}

/* ---- typed values ---- */

/* Apply text to the test table; returns 0 or -1 with err. */
static int apply(const char *text, struct tconf *t, char *err, size_t errlen)
{
    struct conf_file f;
    struct conf_section s = tsection(t);
    int rc;

    memset(t, 0, sizeof(*t));
    if (conf_file_parse("t.conf", text, strlen(text), &f, err, errlen) < 0)
        return -1;
    rc = conf_apply(&f, &s, 1, foreign, err, errlen);
    conf_file_free(&f);
    return rc;
}

static void tconf_free(struct tconf *t)
{
    struct conf_section s = tsection(t);

    conf_section_free(&s);
}

static void test_conf_applies_defaults_then_typed_values(void **state)
{
    static const struct {
        const char *text;
        long long num, ms;
        int flag;
        unsigned mode;
        const char *str;
    } rows[] = {
        {"", 10, 60000, 1, 0660, "default text"},
        {"test_int = 100\ntest_time = 1500ms\ntest_bool = no\ntest_mode = 644\ntest_str = x y", 100,
         1500, 0, 0644, "x y"},
        {"test_int = 1\ntest_time = 3s\ntest_bool = false\ntest_mode = 0", 1, 3000, 0, 0,
         "default text"},
        {"test_time = 7\ntest_bool = 0\ntest_mode = 7777", 10, 7000, 0, 07777, "default text"},
        {"test_time = 5m\ntest_bool = OFF", 10, 300000, 0, 0660, "default text"},
        {"test_time = 2h\ntest_bool = on", 10, 7200000, 1, 0660, "default text"},
        {"test_time = 1d\ntest_bool = True", 10, 86400000, 1, 0660, "default text"},
        {"test_time = 1000ms\ntest_bool = 1", 10, 1000, 1, 0660, "default text"},
        {"test_str =", 10, 60000, 1, 0660, ""},
        {"other_setting = anything at all\nother_x=1", 10, 60000, 1, 0660, "default text"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tconf t;
        char err[CONF_ERR_LEN] = "", ctx[200];

        snprintf(ctx, sizeof(ctx), "\"%s\"", rows[i].text);
        if (CHECK(apply(rows[i].text, &t, err, sizeof(err)) == 0, "%s: got error \"%s\"", ctx,
                  err)) {
            CHECK_INT(t.num, rows[i].num, ctx);
            CHECK_INT(t.ms, rows[i].ms, ctx);
            CHECK_INT(t.flag, rows[i].flag, ctx);
            CHECK_INT(t.mode, rows[i].mode, ctx);
            CHECK_STR(t.str, rows[i].str, ctx);
            CHECK_STR(t.word, "ok", ctx);
        }
        tconf_free(&t);
    }
    check_done();
}

static void test_conf_errors_name_file_line_key_and_value(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } rows[] = {
        {"test_int = 12x", "t.conf:1: test_int = 12x: not an integer"},
        {"\ntest_int =", "t.conf:2: test_int = : not an integer"},
        {"test_int = 99999999999999999999", "test_int = 99999999999999999999: not an integer"},
        {"test_int = 1000", "t.conf:1: test_int = 1000: out of range 1..100"},
        {"test_int = 0", "test_int = 0: out of range 1..100"},
        {"test_int = -5", "test_int = -5: out of range 1..100"},
        {"test_time = 5y", "t.conf:1: test_time = 5y: not a time"},
        {"test_time = -1s", "test_time = -1s: not a time"},
        {"test_time = s", "test_time = s: not a time"},
        {"test_time = 99999999999999999w", "test_time = 99999999999999999w: not a time"},
        {"test_time = 2d", "test_time = 2d: out of range 1000ms..86400000ms"},
        {"test_time = 999ms", "test_time = 999ms: out of range"},
        {"test_bool = maybe", "t.conf:1: test_bool = maybe: want yes or no"},
        {"test_bool = yes # c", "test_bool = yes # c: want yes or no"},
        {"test_bool =", "test_bool = : want yes or no"},
        {"test_mode = 0999", "test_mode = 0999: not an octal file mode"},
        {"test_mode = 17777", "test_mode = 17777: not an octal file mode"},
        {"test_mode = rw", "test_mode = rw: not an octal file mode"},
        {"test_word = Bad", "t.conf:1: test_word = Bad: lower-case letters only"},
        {"test_int = 5\n# c\nbogus = 1", "t.conf:3: unknown parameter \"bogus\""},
        {"test_intx = 1", "t.conf:1: unknown parameter \"test_intx\""},
        {"test_in = 1", "unknown parameter \"test_in\""},
        {"othe_x = 1", "unknown parameter \"othe_x\""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        struct tconf t;
        char err[CONF_ERR_LEN] = "";
        CHECK_INT(apply(rows[i].text, &t, err, sizeof(err)), -1, rows[i].text);
        CHECK(strstr(err, rows[i].want) != NULL, "\"%s\": got error \"%s\", want \"%s\"",
              rows[i].text, err, rows[i].want);
        tconf_free(&t);
    }
    check_done();
}

/* Capture what a print function writes. */
static char *print_nondefault(const char *text)
{
    struct conf_file f;
    struct tconf t;
    struct conf_section s = tsection(&t);
    char err[CONF_ERR_LEN], *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    assert_non_null(fp);
    memset(&t, 0, sizeof(t));
    assert_int_equal(conf_file_parse("t.conf", text, strlen(text), &f, err, sizeof(err)), 0);
    conf_print_nondefault(fp, &f, &s, 1);
    conf_file_free(&f);
    fclose(fp);
    return out;
}

static void test_conf_nondefault_compares_meaning_not_text(void **state)
{
    static const struct {
        const char *text;
        const char *want;
    } rows[] = {
        {"test_bool = on\ntest_int = 010\ntest_time = 60s\ntest_mode = 660\n"
         "test_str = default text\ntest_word = ok\nother_x = 3\nbogus = 1\n",
         ""},
        {"test_time = 60000ms\ntest_bool = TRUE\ntest_int = 10", ""},
        {"test_int = 11\ntest_time = 61s\n", "test_int = 11\ntest_time = 61s\n"},
        {"test_bool = no\ntest_mode = 0640\ntest_str = Default text\n",
         "test_bool = no\ntest_mode = 0640\ntest_str = Default text\n"},
        {"test_word = changed\n", "test_word = changed\n"},
        {"test_int = bad\n", "test_int = bad\n"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *got = print_nondefault(rows[i].text);
        CHECK_STR(got, rows[i].want, rows[i].text);
        free(got);
    }
    check_done();
}

static void test_conf_defaults_print_every_key(void **state)
{
    struct tconf t;
    struct conf_section s = tsection(&t);
    char *out = NULL;
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    (void)state;
    assert_non_null(fp);
    conf_print_defaults(fp, &s, 1);
    fclose(fp);
    CHECK_STR(out,
              "test_str = default text\ntest_int = 10\ntest_bool = yes\ntest_time = 1m\n"
              "test_mode = 0660\ntest_word = ok\n",
              "-d output");
    free(out);
    check_done();
}

/* ---- the policy daemon's table ---- */

static struct policyd_conf *load_text(const char *text, char **path_out, char *err, size_t errlen)
{
    char *path = fixture_tmpfile(text);
    struct policyd_conf *c = policyd_conf_load(path, err, errlen);

    unlink(path);
    if (path_out)
        *path_out = path;
    else
        free(path);
    return c;
}

static void test_policyd_conf_refuses_bad_settings_by_name(void **state)
{
    static const struct {
        const char *text;
        const char *want; /* after "path:" */
    } rows[] = {
        {"policyd_max_line_length = 10",
         ":1: policyd_max_line_length = 10: out of range 1024..1048576"},
        {"policyd_idle_timeout = 0", "policyd_idle_timeout = 0: out of range"},
        {"policyd_idle_timeout = 10x", "policyd_idle_timeout = 10x: not a time"},
        {"policyd_max_connections = many", "policyd_max_connections = many: not an integer"},
        {"policyd_socket_mode = rw-rw----",
         "policyd_socket_mode = rw-rw----: not an octal file mode"},
        {"policyd_mx_authenticated_relay = yes # allowed on campus",
         "policyd_mx_authenticated_relay = yes # allowed on campus: want yes or no"},
        {"policyd_relay_reject_reply = OK",
         "policyd_relay_reject_reply = OK: OK, RELAY and numeric actions are refused"},
        {"policyd_relay_reject_reply = WARN relay",
         "policyd_relay_reject_reply = WARN relay: must reject or defer"},
        {"policyd_auth_required_reply = DUNNO",
         "policyd_auth_required_reply = DUNNO: must reject or defer"},
        {"policyd_tls_required_reply = 554 4.7.0 x", "enhanced status code class differs"},
        {"policyd_unknown_role_action = RELAY", "policyd_unknown_role_action = RELAY: OK, RELAY"},
        {"policyd_unknown_role_action = permit",
         "policyd_unknown_role_action = permit: not an access(5) action"},
        {"policyd_port_roles = 25:relay",
         "policyd_port_roles = 25:relay: \"25:relay\": role must be"},
        {"policyd_port_roles = 25:mx 25:submission", "port 25 listed twice"},
        {"policyd_port_roles = 70000:mx", "\"70000:mx\": bad port"},
        {"policyd_port_roles = mx", "\"mx\": want port:role"},
        {"policyd_relay_networks = 10.0.0.1/8",
         "policyd_relay_networks = 10.0.0.1/8: \"10.0.0.1/8\" has host bits"},
        {"policyd_local_domains = exa@mple.org",
         "policyd_local_domains = exa@mple.org: \"exa@mple.org\" is not a domain name"},
        {"policyd_mx_content_filter = amavis",
         "policyd_mx_content_filter = amavis: want transport:destination"},
        {"policyd_listen = tcp:10040",
         "policyd_listen = tcp:10040: \"tcp:10040\": want unix:/path or inet:host:port"},
        {"policyd_listen =", "policyd_listen = : nothing to listen on"},
        {"policyd_mx_allowed_clients = 192.0.2.1/24",
         "policyd_mx_allowed_clients = 192.0.2.1/24: \"192.0.2.1/24\" has host bits"},
        {"policyd_mx_allowed_clients_file = etc/mx-clients",
         "policyd_mx_allowed_clients_file = etc/mx-clients: want an absolute path"},
        {"policyd_mx_unlisted_client_reply = DUNNO",
         "policyd_mx_unlisted_client_reply = DUNNO: must reject or defer"},
        {"policyd_mx_unlisted_client_reply = OK",
         "policyd_mx_unlisted_client_reply = OK: OK, RELAY"},
        {"redis_timeout = 2m", "redis_timeout = 2m: out of range"},
        {"redis_key_prefix = a:b", "redis_key_prefix = a:b: want 1-32 characters"},
        {"policyd_max_attributes = 256\n\npolicyd_bogus = 1",
         ":3: unknown parameter \"policyd_bogus\""},
        {"relay_networks = 127.0.0.1", ":1: unknown parameter \"relay_networks\""},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char err[CONF_ERR_LEN] = "", *path = NULL;
        struct policyd_conf *c = load_text(rows[i].text, &path, err, sizeof(err));
        CHECK(c == NULL, "\"%s\": got accepted, want refused", rows[i].text);
        CHECK(strncmp(err, path, strlen(path)) == 0,
              "\"%s\": got error \"%s\", want it to start "
              "with the file name %s",
              rows[i].text, err, path);
        CHECK(strstr(err, rows[i].want) != NULL, "\"%s\": got error \"%s\", want \"%s\"",
              rows[i].text, err, rows[i].want);
        policyd_conf_unref(c);
        free(path);
    }
    check_done();
}

static void test_policyd_conf_loads_values_and_skips_authd_keys(void **state)
{
    static const char text[] = "# site settings\n"
                               "policyd_listen = unix:/run/test/portreeve,\n"
                               "    inet:127.0.0.1:10040 inet:[::1]:10040\n"
                               "authd_ldap_uri = ldap://127.0.0.1:389/\n"
                               "authd_anything = is not ours to judge\n"
                               "policyd_idle_timeout = 10m\n"
                               "policyd_mx_authenticated_relay = no\n"
                               "policyd_port_roles = 2525:mx, 10587:submission\n"
                               "policyd_mx_content_filter = smtp-amavis:[127.0.0.1]:10024\n"
                               "policyd_local_domains = example.org .example.org\n"
                               "policyd_relay_networks = 192.0.2.0/24\n"
                               "policyd_relay_networks = 198.51.100.0/24 2001:db8::/32\n"
                               "redis_timeout = 250ms\n";
    char err[CONF_ERR_LEN] = "";
    struct policyd_conf *c = load_text(text, NULL, err, sizeof(err));

    (void)state;
    if (c == NULL)
        fail_msg("got error \"%s\", want the file accepted", err);
    CHECK_STR(c->listen, "unix:/run/test/portreeve, inet:127.0.0.1:10040 inet:[::1]:10040",
              "listen");
    CHECK_INT(c->idle_timeout_ms, 600000, "idle timeout");
    CHECK_INT(c->mx_authenticated_relay, 0, "mx authenticated relay");
    CHECK_INT(c->nroles, 2, "port roles");
    CHECK_INT(policyd_conf_port_role(c, "2525", 4), ROLE_MX, "port 2525");
    CHECK_INT(policyd_conf_port_role(c, "25", 2), ROLE_NONE, "port 25 once unmapped");
    CHECK_STR(c->content_filter[ROLE_MX], "smtp-amavis:[127.0.0.1]:10024", "mx filter");
    CHECK_STR(c->content_filter[ROLE_SUBMISSION], "", "submission filter");
    CHECK_INT(netset_count(c->relay_nets), 2, "relay networks: the last line wins");
    CHECK_INT(c->store.timeout_ms, 250, "redis timeout");
    CHECK_INT(c->max_line, 16384, "default line limit");
    CHECK_STR(c->relay_reject_reply, "554 5.7.1 Relay access denied", "default relay reply");
    policyd_conf_unref(c);
    check_done();
}

static void test_policyd_conf_missing_file_is_named(void **state)
{
    char err[CONF_ERR_LEN] = "";
    struct policyd_conf *c = policyd_conf_load("/nonexistent/portreeve.conf", err, sizeof(err));

    (void)state;
    CHECK(c == NULL, "missing file: got a configuration, want NULL");
    CHECK(strstr(err, "/nonexistent/portreeve.conf: No such file") != NULL,
          "missing file: got \"%s\", want the path and the reason", err);
    policyd_conf_unref(c);
    check_done();
}

/* -n: only what differs in meaning from the built-in default. */
static void test_policyd_conf_nondefault_output(void **state)
{
    static const char text[] = "policyd_idle_timeout = 10m\n"
                               "policyd_max_connections = 4096\n"
                               "policyd_socket_mode = 660\n"
                               "policyd_mx_authenticated_relay = no\n"
                               "policyd_relay_networks = 127.0.0.0/8 [::1]/128\n"
                               "authd_ldap_uri = ldap://127.0.0.1/\n"
                               "redis_timeout = 100ms\n"
                               "redis_connect_timeout = 1s\n";
    char *path = fixture_tmpfile(text), *out = NULL;
    char err[CONF_ERR_LEN] = "";
    size_t len = 0;
    FILE *fp = open_memstream(&out, &len);

    (void)state;
    assert_non_null(fp);
    CHECK_INT(policyd_conf_print_nondefault(fp, path, err, sizeof(err)), 0, "-n status");
    fclose(fp);
    CHECK_STR(out, "policyd_mx_authenticated_relay = no\nredis_connect_timeout = 1s\n",
              "-n output");
    unlink(path);
    free(path);
    free(out);
    check_done();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_conf_reads_main_cf_syntax),
        cmocka_unit_test(test_conf_duplicate_keeps_the_last_line_number),
        cmocka_unit_test(test_conf_refuses_broken_files),
        cmocka_unit_test(test_conf_applies_defaults_then_typed_values),
        cmocka_unit_test(test_conf_errors_name_file_line_key_and_value),
        cmocka_unit_test(test_conf_nondefault_compares_meaning_not_text),
        cmocka_unit_test(test_conf_defaults_print_every_key),
        cmocka_unit_test(test_policyd_conf_refuses_bad_settings_by_name),
        cmocka_unit_test(test_policyd_conf_loads_values_and_skips_authd_keys),
        cmocka_unit_test(test_policyd_conf_missing_file_is_named),
        cmocka_unit_test(test_policyd_conf_nondefault_output),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
