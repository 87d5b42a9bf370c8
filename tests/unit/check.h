/*
 * check.h - soft assertions for table-driven cmocka tests.
 *
 * A table test checks every row and reports each failing row as
 * "row: got X, want Y", then fails once at the end (check_done), so one
 * run shows every broken case instead of the first. check_count() lets a
 * test prove it checked something: a table that loaded no rows is a
 * failure, not a pass.
 *
 * Include after <cmocka.h>; one counter per test executable.
 */
#ifndef PORTREEVE_TEST_CHECK_H
#define PORTREEVE_TEST_CHECK_H

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static int check_failed;
static unsigned long check_checked;

/* Record one check; print the message when it failed. */
static inline int check_that(int ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static inline int check_that(int ok, const char *fmt, ...)
{
    check_checked++;
    if (!ok) {
        va_list ap;
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        check_failed++;
    }
    return ok;
}

/* End a test: fail it if any check failed since the last call. */
#define check_done()                                                                               \
    do {                                                                                           \
        int n_ = check_failed;                                                                     \
        check_failed = 0;                                                                          \
        if (n_)                                                                                    \
            fail_msg("%d check(s) failed, see above", n_);                                         \
    } while (0)

#define CHECK(cond, ...) check_that((cond) != 0, __VA_ARGS__)

/* Strings: "ctx: got \"X\", want \"Y\"". */
static inline int check_str(const char *got, const char *want, const char *ctx)
{
    return check_that(strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"", ctx, got, want);
}

/* Integers: "ctx: got X, want Y". */
static inline int check_int(long long got, long long want, const char *ctx)
{
    return check_that(got == want, "%s: got %lld, want %lld", ctx, got, want);
}

/* Each argument is evaluated once. */
#define CHECK_STR(got, want, ctx) check_str((got), (want), (ctx))
#define CHECK_INT(got, want, ctx) check_int((long long)(got), (long long)(want), (ctx))

#endif
