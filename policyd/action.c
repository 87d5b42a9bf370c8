/*
 * action.c - validation of access(5) actions (see action.h).
 *
 * Accepted: DUNNO; REJECT, DEFER, DEFER_IF_PERMIT, DEFER_IF_REJECT, HOLD,
 * DISCARD, INFO, WARN with optional text; FILTER transport:destination;
 * "4NN text" and "5NN text" with an optional enhanced status code of the
 * same class. Text must be printable ASCII: with smtputf8_enable=yes Postfix
 * replaces a reply with malformed UTF-8 by its default action.
 */
#include "action.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static const char *const action_words[] = {
    "REJECT", "DEFER", "DEFER_IF_PERMIT", "DEFER_IF_REJECT", "HOLD", "DISCARD", "INFO", "WARN",
};

/* Length of the first word. */
static size_t action_word_len(const char *v)
{
    size_t n = 0;

    while (v[n] && !isspace((unsigned char)v[n]))
        n++;
    return n;
}

int action_check(const char *v, char *err, size_t errlen)
{
    size_t w = action_word_len(v);

    for (const char *p = v; *p; p++)
        if ((unsigned char)*p < 0x20 || (unsigned char)*p > 0x7e) {
            snprintf(err, errlen, "only printable ASCII is allowed in an action");
            return -1;
        }
    if (w == 0) {
        snprintf(err, errlen, "empty action");
        return -1;
    }
    if (w == 5 && strncasecmp(v, "DUNNO", 5) == 0 && v[5] == '\0')
        return 0;
    if ((w == 2 && strncasecmp(v, "OK", 2) == 0) || (w == 5 && strncasecmp(v, "RELAY", 5) == 0) ||
        strspn(v, "0123456789") == w) {
        if (!(w == 3 && (v[0] == '4' || v[0] == '5')))
            goto permit_refused;
    }
    for (size_t i = 0; i < sizeof(action_words) / sizeof(action_words[0]); i++)
        if (strlen(action_words[i]) == w && strncasecmp(v, action_words[i], w) == 0)
            return 0;
    if (w == 6 && strncasecmp(v, "FILTER", 6) == 0) {
        const char *arg = v + 6;
        while (*arg == ' ')
            arg++;
        if (*arg == '\0' || strchr(arg, ':') == NULL) {
            snprintf(err, errlen, "FILTER needs transport:destination");
            return -1;
        }
        return 0;
    }
    if (w == 3 && (v[0] == '4' || v[0] == '5') && isdigit((unsigned char)v[1]) &&
        isdigit((unsigned char)v[2])) {
        const char *t = v + 3;
        while (*t == ' ')
            t++;
        /* An enhanced status code, if present, must be of the same class. */
        if (isdigit((unsigned char)t[0]) && t[1] == '.' && t[0] != v[0]) {
            snprintf(err, errlen, "enhanced status code class differs from the reply code");
            return -1;
        }
        return 0;
    }
    snprintf(err, errlen,
             "not an access(5) action (want DUNNO, REJECT, DEFER, DEFER_IF_PERMIT, "
             "DEFER_IF_REJECT, HOLD, DISCARD, INFO, WARN, FILTER or 4NN/5NN text)");
    return -1;

permit_refused:
    snprintf(err, errlen,
             "OK, RELAY and numeric actions are refused: they end the restriction "
             "list and can open a relay");
    return -1;
}

int action_conf_check(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    (void)e;
    return action_check(v, err, errlen);
}

int action_conf_check_refusal(const struct conf_entry *e, const char *v, char *err, size_t errlen)
{
    (void)e;
    if (action_check(v, err, errlen) < 0)
        return -1;
    if (!action_is_refusal(v)) {
        snprintf(err, errlen, "must reject or defer (4NN/5NN text, REJECT, DEFER...)");
        return -1;
    }
    return 0;
}

int action_is_refusal(const char *v)
{
    size_t w = action_word_len(v);

    if (w == 3 && (v[0] == '4' || v[0] == '5'))
        return 1;
    return (w == 6 && strncasecmp(v, "REJECT", 6) == 0) ||
           (w == 5 && strncasecmp(v, "DEFER", 5) == 0) ||
           (w == 15 && strncasecmp(v, "DEFER_IF_PERMIT", 15) == 0) ||
           (w == 15 && strncasecmp(v, "DEFER_IF_REJECT", 15) == 0);
}
