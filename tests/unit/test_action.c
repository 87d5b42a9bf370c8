/*
 * test_action.c - which access(5) actions the daemon may send
 * (policyd/action.c). An action Postfix does not know makes it answer
 * "451 4.3.5 Server configuration error"; OK and RELAY end the
 * restriction list and can open a relay.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "action.h"
#include "check.h"

static void test_action_check_accepts_documented_actions(void **state)
{
    static const char *const ok[] = {
        "DUNNO",
        "dunno",
        "REJECT",
        "REJECT Relay access denied",
        "reject no",
        "DEFER",
        "DEFER try again later",
        "DEFER_IF_PERMIT 4.7.1 Sending quota exceeded",
        "DEFER_IF_REJECT",
        "HOLD",
        "HOLD held for review",
        "DISCARD",
        "INFO logged",
        "WARN logged",
        "FILTER smtp-amavis:[127.0.0.1]:10024",
        "FILTER scan:",
        "554 5.7.1 Relay access denied",
        "530 5.7.0 Authentication required",
        "550 Sender refused",
        "450 4.7.1 Try again later",
        "421 4.3.0 Closing",
        "554",
        "599 5.9.9 Highest code",
        "400 4.0.0 Lowest code",
    };

    (void)state;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
        char err[256] = "";
        CHECK(action_check(ok[i], err, sizeof(err)) == 0,
              "\"%s\": got refused (\"%s\"), want accepted", ok[i], err);
    }
    check_done();
}

static void test_action_check_refuses_the_rest(void **state)
{
    static const struct {
        const char *action;
        const char *why; /* part of the reason */
    } rows[] = {
        {"OK", "OK, RELAY and numeric actions are refused"},
        {"ok", "OK, RELAY and numeric actions are refused"},
        {"OK fine", "OK, RELAY and numeric actions are refused"},
        {"RELAY", "OK, RELAY and numeric actions are refused"},
        {"relay please", "OK, RELAY and numeric actions are refused"},
        {"250 Ok", "OK, RELAY and numeric actions are refused"},
        {"200", "OK, RELAY and numeric actions are refused"},
        {"12345", "OK, RELAY and numeric actions are refused"},
        {"600 6.0.0 x", "OK, RELAY and numeric actions are refused"},
        {"55 5.7.1 x", "OK, RELAY and numeric actions are refused"},
        {"5540 x", "OK, RELAY and numeric actions are refused"},
        {"PERMIT", "not an access(5) action"},
        {"ACCEPT", "not an access(5) action"},
        {"reject_unauth_destination", "not an access(5) action"},
        {"permit_mynetworks", "not an access(5) action"},
        {"DUNNO but with text", "not an access(5) action"},
        {"REJECTED", "not an access(5) action"},
        {"5x4 text", "not an access(5) action"},
        {"FILTER", "FILTER needs transport:destination"},
        {"FILTER amavis", "FILTER needs transport:destination"},
        {"", "empty action"},
        {" REJECT", "empty action"},
        {"554 5.7.1 Zugriff verweigert \xc3\xa4", "only printable ASCII"},
        {"554 5.7.1 tab\there", "only printable ASCII"},
        {"554 5.7.1 new\nline", "only printable ASCII"},
        {"REJECT \x7f", "only printable ASCII"},
        {"554 4.7.1 mismatched", "enhanced status code class differs"},
        {"450 5.7.1 mismatched", "enhanced status code class differs"},
        {"550 2.0.0 success class", "enhanced status code class differs"},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char err[256] = "";
        int rc = action_check(rows[i].action, err, sizeof(err));
        CHECK_INT(rc, -1, rows[i].action);
        CHECK(strstr(err, rows[i].why) != NULL, "\"%s\": got reason \"%s\", want \"%s\"",
              rows[i].action, err, rows[i].why);
    }
    check_done();
}

static void test_action_is_refusal_tells_refusals_from_the_rest(void **state)
{
    static const struct {
        const char *action;
        int want;
    } rows[] = {
        {"554 5.7.1 x", 1},     {"450 4.7.1 x", 1},
        {"REJECT", 1},          {"reject text", 1},
        {"DEFER", 1},           {"DEFER_IF_PERMIT x", 1},
        {"DEFER_IF_REJECT", 1}, {"DUNNO", 0},
        {"FILTER a:b", 0},      {"HOLD", 0},
        {"DISCARD", 0},         {"INFO x", 0},
        {"WARN x", 0},          {"REJECTX", 0},
        {"DEFERRED", 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        CHECK_INT(action_is_refusal(rows[i].action), rows[i].want, rows[i].action);
    check_done();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_action_check_accepts_documented_actions),
        cmocka_unit_test(test_action_check_refuses_the_rest),
        cmocka_unit_test(test_action_is_refusal_tells_refusals_from_the_rest),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
