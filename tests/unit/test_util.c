/*
 * test_util.c - lib/util.c: escaping untrusted text for log lines (the
 * parser's error messages quote peer bytes through it), bounded copies,
 * the checked array allocation.
 */
#include <errno.h>
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
#include "util.h"

static void test_util_escape_keeps_printable_ascii_and_hex_escapes_the_rest(void **state)
{
    static const struct {
        const char *in;
        size_t len;
        size_t dstlen;
        const char *want;
    } rows[] = {
        {"plain text", 10, 64, "plain text"},
        {"quote\" and \\", 12, 64, "quote\\x22 and \\x5c"},
        {"nul\0byte", 8, 64, "nul\\x00byte"},
        {"cr\r\nlf", 6, 64, "cr\\x0d\\x0alf"},
        {"\xc3\xa4\x7f", 3, 64, "\\xc3\\xa4\\x7f"},
        {"", 0, 64, ""},
        {"abcdef", 6, 7, "abcdef"},
        {"abcdefg", 7, 7, "abc..."},
        {"abcdefg", 7, 4, "..."},
        {"abcdefg", 7, 3, "ab"},
        {"abcdefg", 7, 1, ""},
        {"\x01\x02\x03\x04", 4, 12, "\\x01\\x02..."},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char out[64], ctx[80];
        memset(out, 'Z', sizeof(out));
        snprintf(ctx, sizeof(ctx), "row %zu into %zu bytes", i, rows[i].dstlen);
        util_escape(out, rows[i].dstlen, rows[i].in, rows[i].len);
        CHECK(memchr(out, '\0', rows[i].dstlen) != NULL, "%s: got no NUL within the buffer", ctx);
        CHECK_STR(out, rows[i].want, ctx);
        CHECK(strlen(out) < rows[i].dstlen, "%s: got %zu bytes, want fewer than %zu", ctx,
              strlen(out), rows[i].dstlen);
    }
    check_done();
}

static void test_util_strlcpy_truncates_and_reports_the_source_length(void **state)
{
    char buf[8];

    (void)state;
    CHECK_INT(util_strlcpy(buf, "short", sizeof(buf)), 5, "short copy: return");
    CHECK_STR(buf, "short", "short copy");
    CHECK_INT(util_strlcpy(buf, "much too long", sizeof(buf)), 13, "long copy: return");
    CHECK_STR(buf, "much to", "long copy");
    CHECK_INT(util_strlcpy(buf, "x", 0), 1, "zero-size copy: return");
    CHECK_STR(buf, "much to", "zero-size copy leaves the buffer");
    check_done();
}

static void test_util_reallocarray_refuses_overflow(void **state)
{
    void *p;

    (void)state;
    errno = 0;
    p = util_reallocarray(NULL, SIZE_MAX / 2 + 1, 2);
    CHECK(p == NULL, "SIZE_MAX/2+1 x 2: got memory, want NULL");
    CHECK_INT(errno, ENOMEM, "errno after overflow");
    p = util_reallocarray(NULL, 0, 16);
    CHECK(p != NULL, "0 x 16: got NULL, want a valid pointer");
    free(p);
    p = util_reallocarray(NULL, 4, 16);
    CHECK(p != NULL, "4 x 16: got NULL");
    free(p);
    check_done();
}

static void test_util_strncaseeq_compares_whole_words(void **state)
{
    (void)state;
    CHECK_INT(util_strncaseeq("RCPT", 4, "rcpt"), 1, "RCPT vs rcpt");
    CHECK_INT(util_strncaseeq("RCPT", 3, "rcpt"), 0, "RCP vs rcpt");
    CHECK_INT(util_strncaseeq("RCPTX", 5, "rcpt"), 0, "RCPTX vs rcpt");
    CHECK_INT(util_strncaseeq("", 0, ""), 1, "empty vs empty");
    check_done();
}

/* util_read_file: the whole file, or NULL with errno saying why. */
static void test_util_read_file_reads_whole_files_up_to_the_limit(void **state)
{
    static const struct {
        const char *name;
        size_t size; /* bytes written; (size_t)-1: no file */
        size_t max;
        int err; /* 0: read */
    } rows[] = {
        {"empty", 0, 16, 0},
        {"small", 10, 16, 0},
        {"exactly the limit", 16, 16, 0},
        {"one byte over", 17, 16, EFBIG},
        {"past the first buffer", 10000, 10000, 0},
        {"far over", 10000, 100, EFBIG},
        {"missing", (size_t)-1, 16, ENOENT},
    };
    char dir[] = "/tmp/portreeve-util.XXXXXX", path[64];
    (void)state;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/f", dir);
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        size_t len = 12345;
        char *buf;

        unlink(path);
        if (rows[i].size != (size_t)-1) {
            FILE *fp = fopen(path, "w");
            assert_non_null(fp);
            for (size_t k = 0; k < rows[i].size; k++)
                fputc('a' + (int)(k % 26), fp);
            fclose(fp);
        }
        errno = 0;
        buf = util_read_file(path, rows[i].max, &len);
        CHECK_INT(buf == NULL ? errno : 0, rows[i].err, rows[i].name);
        if (buf != NULL) {
            CHECK_INT((int)len, (int)rows[i].size, rows[i].name);
            CHECK_INT(buf[len], 0, rows[i].name);
            if (len > 0) /* the last byte written */
                CHECK_INT(buf[len - 1], 'a' + (int)((len - 1) % 26), rows[i].name);
            free(buf);
        }
    }
    unlink(path);
    errno = 0;
    CHECK_INT(util_read_file(dir, 16, &(size_t){0}) == NULL ? errno : 0, EISDIR, "a directory");
    rmdir(dir);
    check_done();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_util_escape_keeps_printable_ascii_and_hex_escapes_the_rest),
        cmocka_unit_test(test_util_strlcpy_truncates_and_reports_the_source_length),
        cmocka_unit_test(test_util_reallocarray_refuses_overflow),
        cmocka_unit_test(test_util_strncaseeq_compares_whole_words),
        cmocka_unit_test(test_util_read_file_reads_whole_files_up_to_the_limit),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
