/*
 * test_manpage.c - portreeve.conf(5) and the code agree.
 *
 * The page (policyd/portreeve.conf.5, man(7) macros) documents each key as
 *     .TP
 *     .B "name = default"
 * This test reads every such entry and checks that the page lists exactly
 * the keys of the policy daemon's table and of the shared store table
 * (policyd_conf_sections(): sections 0 and 1), each with the default the
 * code uses; a policyd_* or redis_* key in the page that the code does not
 * know is an error too (keys of the quota section may be documented there
 * or in portreeve-quotas(5); when they are in this page their defaults must
 * match). authd_* keys belong to portreeve-authd and are not checked here.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "check.h"
#include "fixture.h"
#include "policyd_conf.h"

#ifndef MAN_PAGE
#define MAN_PAGE SOURCE_DIR "/policyd/portreeve.conf.5"
#endif
#define MAN_MAX 256

struct man_key {
    char name[128];
    char def[512];
    unsigned line;
    int seen; /* matched by the code's tables */
};

/* Undo the troff escapes a default may hold; -1 on one we do not know. */
static int man_unescape(const char *s, size_t len, char *out, size_t outlen)
{
    static const struct {
        const char *esc, *text;
    } known[] = {{"\\-", "-"},    {"\\e", "\\"}, {"\\&", ""},    {"\\(aq", "'"},
                 {"\\(dq", "\""}, {"\\ ", " "},  {"\\(ti", "~"}, {"\\(ha", "^"}};
    size_t o = 0;

    for (size_t i = 0; i < len;) {
        size_t k;
        if (s[i] != '\\') {
            if (o + 1 >= outlen)
                return -1;
            out[o++] = s[i++];
            continue;
        }
        for (k = 0; k < sizeof(known) / sizeof(known[0]); k++) {
            size_t el = strlen(known[k].esc);
            if (len - i >= el && memcmp(s + i, known[k].esc, el) == 0) {
                size_t tl = strlen(known[k].text);
                if (o + tl >= outlen)
                    return -1;
                memcpy(out + o, known[k].text, tl);
                o += tl;
                i += el;
                break;
            }
        }
        if (k == sizeof(known) / sizeof(known[0]))
            return -1;
    }
    out[o] = '\0';
    return 0;
}

/* Read the page's ".TP" + ".B \"name = default\"" entries. */
static size_t man_read(struct man_key *keys, size_t max)
{
    size_t len, n = 0;
    char *text = fixture_slurp(MAN_PAGE, &len);
    char *line = text, *prev = NULL;
    unsigned lineno = 0;

    while (line && *line) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        lineno++;
        if (prev && strcmp(prev, ".TP") == 0 && strncmp(line, ".B ", 3) == 0) {
            char body[700];
            const char *b = line + 3, *eq;
            size_t blen = strlen(b);
            if (blen >= 2 && b[0] == '"' && b[blen - 1] == '"') {
                b++;
                blen -= 2;
            }
            if (!CHECK(man_unescape(b, blen, body, sizeof(body)) == 0,
                       "%s:%u: got an escape this test does not know in \"%s\"", MAN_PAGE, lineno,
                       line))
                goto next;
            eq = strchr(body, '=');
            if (eq && eq > body && eq[-1] == ' ' && (eq[1] == ' ' || eq[1] == '\0') &&
                strspn(body, "abcdefghijklmnopqrstuvwxyz0123456789_") == (size_t)(eq - 1 - body)) {
                if (!CHECK(n < max, "%s: got more than %zu keys", MAN_PAGE, max))
                    break;
                snprintf(keys[n].name, sizeof(keys[n].name), "%.*s", (int)(eq - 1 - body), body);
                snprintf(keys[n].def, sizeof(keys[n].def), "%s", eq[1] ? eq + 2 : "");
                keys[n].line = lineno;
                keys[n].seen = 0;
                for (size_t k = 0; k < n; k++)
                    CHECK(strcmp(keys[k].name, keys[n].name) != 0,
                          "%s:%u: got %s documented twice (first at line %u), want once", MAN_PAGE,
                          lineno, keys[n].name, keys[k].line);
                n++;
            }
        }
    next:
        prev = line;
        line = nl ? nl + 1 : NULL;
    }
    free(text);
    return n;
}

static struct man_key *man_find(struct man_key *keys, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static void test_manpage_lists_every_key_with_its_default(void **state)
{
    static struct man_key keys[MAN_MAX];
    struct policyd_conf c;
    struct conf_section s[4];
    size_t nsec, nkeys, must = 0;

    (void)state;
    memset(&c, 0, sizeof(c));
    policyd_conf_sections(&c, s, &nsec);
    nkeys = man_read(keys, MAN_MAX);
    for (size_t i = 0; i < nsec; i++) {
        for (size_t k = 0; k < s[i].count; k++) {
            const struct conf_entry *e = &s[i].entries[k];
            struct man_key *m = man_find(keys, nkeys, e->name);
            int required = i < 2; /* policyd and store tables */
            char ctx[256];

            must += (size_t)required;
            if (m == NULL) {
                CHECK(!required, "%s: got %s undocumented, want \".TP\" + \".B \\\"%s = %s\\\"\"",
                      MAN_PAGE, e->name, e->name, e->def);
                continue;
            }
            m->seen = 1;
            snprintf(ctx, sizeof(ctx), "%s:%u: default of %s", MAN_PAGE, m->line, e->name);
            CHECK_STR(m->def, e->def, ctx);
        }
    }
    for (size_t i = 0; i < nkeys; i++) {
        if (keys[i].seen || strncmp(keys[i].name, "authd_", 6) == 0)
            continue;
        CHECK(0, "%s:%u: got %s documented, want no such key (not in the code's tables)", MAN_PAGE,
              keys[i].line, keys[i].name);
    }
    CHECK(must >= 30, "keys in the policyd and store tables: got %zu, want at least 30", must);
    CHECK(nkeys >= must, "documented keys: got %zu, want at least %zu", nkeys, must);
    check_done();
}

/* The escapes the parser above understands, and the ones it refuses. */
static void test_manpage_unescape(void **state)
{
    static const struct {
        const char *in, *want; /* NULL: refused */
    } rows[] = {
        {"1\\-32", "1-32"}, {"a\\ b", "a b"}, {"\\&.x", ".x"},
        {"C:\\e", "C:\\"},  {"\\fBx", NULL},  {"x\\", NULL},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char out[64] = "";
        int rc = man_unescape(rows[i].in, strlen(rows[i].in), out, sizeof(out));
        if (rows[i].want == NULL) {
            CHECK_INT(rc, -1, rows[i].in);
        } else {
            CHECK_INT(rc, 0, rows[i].in);
            CHECK_STR(out, rows[i].want, rows[i].in);
        }
    }
    check_done();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_manpage_lists_every_key_with_its_default),
        cmocka_unit_test(test_manpage_unescape),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
