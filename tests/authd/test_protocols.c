/*
 * test_protocols.c - the saslauthd (mux_proto) and gate (gate_proto) wire
 * formats: every split of the input, limits, hostile bytes.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "gate_proto.h"
#include "mux_proto.h"

static size_t mux_request(uint8_t *buf, size_t buflen, const char *l, const char *p, const char *s,
                          const char *r)
{
    const char *f[4] = {l, p, s, r};
    size_t lens[4] = {strlen(l), strlen(p), strlen(s), strlen(r)};
    return mux_encode_request(buf, buflen, f, lens);
}

static void test_mux_decodes_request_split_at_every_byte(void **state)
{
    uint8_t req[512];
    size_t n = mux_request(req, sizeof(req), "alice", "s3cret", "smtp", "example.org");

    (void)state;
    for (size_t cut = 0; cut <= n; cut++) {
        struct mux_decoder d;
        size_t u1 = 0, u2 = 0;
        enum mux_status st;
        mux_decoder_init(&d);
        st = mux_decode(&d, req, cut, &u1);
        if (cut < n && st != MUX_MORE)
            fail_msg("cut %zu: got done early, want more", cut);
        st = mux_decode(&d, req + u1, n - u1, &u2);
        if (st != MUX_DONE || u1 + u2 != n)
            fail_msg("cut %zu: got status %d used %zu, want done used %zu", cut, st, u1 + u2, n);
        assert_string_equal(d.f[MUX_LOGIN].buf, "alice");
        assert_string_equal(d.f[MUX_PASSWORD].buf, "s3cret");
        assert_string_equal(d.f[MUX_SERVICE].buf, "smtp");
        assert_string_equal(d.f[MUX_REALM].buf, "example.org");
    }
}

static void test_mux_flags_over_long_field_and_keeps_framing(void **state)
{
    static uint8_t req[4 * 70000];
    static char big[1000];
    const char *f[4] = {"alice", big, "smtp", ""};
    size_t lens[4] = {5, sizeof(big), 4, 0}, used;
    struct mux_decoder d;
    size_t n;

    (void)state;
    memset(big, 'x', sizeof(big));
    n = mux_encode_request(req, sizeof(req), f, lens);
    mux_decoder_init(&d);
    assert_int_equal(mux_decode(&d, req, n, &used), MUX_DONE);
    if (!d.f[MUX_PASSWORD].too_long || d.f[MUX_PASSWORD].len != 0)
        fail_msg("got too_long=%d len=%zu, want flagged and empty", d.f[MUX_PASSWORD].too_long,
                 d.f[MUX_PASSWORD].len);
    assert_string_equal(d.f[MUX_SERVICE].buf, "smtp");
    assert_int_equal(used, n);
}

static void test_mux_keeps_nul_bytes_for_the_caller_to_refuse(void **state)
{
    const uint8_t req[] = {0, 3, 'a', 0, 'b', 0, 1, 'p', 0, 0, 0, 0};
    struct mux_decoder d;
    size_t used;

    (void)state;
    mux_decoder_init(&d);
    assert_int_equal(mux_decode(&d, req, sizeof(req), &used), MUX_DONE);
    assert_int_equal(d.f[MUX_LOGIN].len, 3);
    assert_non_null(memchr(d.f[MUX_LOGIN].buf, '\0', d.f[MUX_LOGIN].len));
}

static void test_mux_leaves_trailing_bytes_unconsumed(void **state)
{
    uint8_t req[512];
    size_t n = mux_request(req, sizeof(req), "a", "b", "c", "d"), used;
    struct mux_decoder d;

    (void)state;
    memcpy(req + n, "junk", 4);
    mux_decoder_init(&d);
    assert_int_equal(mux_decode(&d, req, n + 4, &used), MUX_DONE);
    if (used != n)
        fail_msg("got used %zu, want %zu", used, n);
}

static void test_mux_wipe_clears_password(void **state)
{
    uint8_t req[512];
    size_t n = mux_request(req, sizeof(req), "a", "topsecret", "c", ""), used;
    struct mux_decoder d;

    (void)state;
    mux_decoder_init(&d);
    mux_decode(&d, req, n, &used);
    mux_decoder_wipe(&d);
    for (size_t i = 0; i < sizeof(d.f[MUX_PASSWORD].buf); i++)
        if (d.f[MUX_PASSWORD].buf[i])
            fail_msg("got byte %zu = %d after wipe, want 0", i, d.f[MUX_PASSWORD].buf[i]);
}

static void test_mux_reply_encoding(void **state)
{
    uint8_t out[300];
    static char longtext[400];

    (void)state;
    assert_int_equal(mux_encode_reply(out, sizeof(out), "OK"), 4);
    assert_memory_equal(out, "\0\2OK", 4);
    memset(longtext, 'x', sizeof(longtext) - 1);
    assert_int_equal(mux_encode_reply(out, sizeof(out), longtext), 0);
    assert_int_equal(mux_encode_reply(out, 3, "OK"), 0);
}

static size_t gate_request(uint8_t *buf, size_t len, const char *u, const char *a)
{
    const char *f[4] = {u, "", "smtp", a};
    size_t l[4] = {strlen(u), 0, 4, strlen(a)};
    return gate_encode_request(buf, len, f, l);
}

static void test_gate_request_round_trip_at_every_split(void **state)
{
    uint8_t req[GATE_REQUEST_MAX];
    size_t n = gate_request(req, sizeof(req), "alice", "2001:db8::1;4321");

    (void)state;
    for (size_t cut = 0; cut <= n; cut++) {
        struct gate_decoder d;
        size_t u1, u2;
        gate_decoder_init(&d, 0);
        if (gate_decode(&d, req, cut, &u1) == GATE_ERROR)
            fail_msg("cut %zu: got error %s, want more", cut, d.error);
        if (gate_decode(&d, req + u1, n - u1, &u2) != GATE_DONE)
            fail_msg("cut %zu: got not done, want done", cut);
        assert_string_equal(d.f[GATE_USER].buf, "alice");
        assert_int_equal(d.f[GATE_REALM].len, 0);
        assert_string_equal(d.f[GATE_ADDR].buf, "2001:db8::1;4321");
    }
}

static void test_gate_rejects_bad_magic_and_long_fields(void **state)
{
    struct gate_decoder d;
    size_t used;
    const uint8_t bad_magic[] = "XRG1\0\1a";
    uint8_t long_field[] = {'P', 'R', 'G', '1', 0x01, 0x01};

    (void)state;
    gate_decoder_init(&d, 0);
    assert_int_equal(gate_decode(&d, bad_magic, sizeof(bad_magic), &used), GATE_ERROR);
    assert_string_equal(d.error, "bad magic");
    gate_decoder_init(&d, 0);
    assert_int_equal(gate_decode(&d, long_field, sizeof(long_field), &used), GATE_ERROR);
    assert_string_equal(d.error, "field too long");
    /* An error is sticky. */
    assert_int_equal(gate_decode(&d, "PRG1", 4, &used), GATE_ERROR);
}

static void test_gate_reply_round_trip_and_bad_code(void **state)
{
    uint8_t rep[GATE_REPLY_MAX];
    size_t n = gate_encode_reply(rep, sizeof(rep), GATE_LOCKED, "user+ip locked"), used;
    struct gate_decoder d;

    (void)state;
    gate_decoder_init(&d, 1);
    assert_int_equal(gate_decode(&d, rep, n, &used), GATE_DONE);
    assert_int_equal(d.code, GATE_LOCKED);
    assert_string_equal(d.f[0].buf, "user+ip locked");
    rep[4] = 'X';
    gate_decoder_init(&d, 1);
    assert_int_equal(gate_decode(&d, rep, n, &used), GATE_ERROR);
}

static void test_gate_encoder_refuses_oversized_fields(void **state)
{
    uint8_t req[GATE_REQUEST_MAX];
    char big[GATE_FIELD_MAX + 2];

    (void)state;
    memset(big, 'a', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    assert_int_equal(gate_request(req, sizeof(req), big, "1.2.3.4;5"), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mux_decodes_request_split_at_every_byte),
        cmocka_unit_test(test_mux_flags_over_long_field_and_keeps_framing),
        cmocka_unit_test(test_mux_keeps_nul_bytes_for_the_caller_to_refuse),
        cmocka_unit_test(test_mux_leaves_trailing_bytes_unconsumed),
        cmocka_unit_test(test_mux_wipe_clears_password),
        cmocka_unit_test(test_mux_reply_encoding),
        cmocka_unit_test(test_gate_request_round_trip_at_every_split),
        cmocka_unit_test(test_gate_rejects_bad_magic_and_long_fields),
        cmocka_unit_test(test_gate_reply_round_trip_and_bad_code),
        cmocka_unit_test(test_gate_encoder_refuses_oversized_fields),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
