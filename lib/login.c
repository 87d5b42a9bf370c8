/*
 * login.c - login-name policy (see login.h for the contract).
 *
 * Public: login_policy_init, login_split, login_check, login_realm_accepted,
 * login_verdict_text. Inputs to login_check are untrusted and
 * length-delimited (they may hold NUL bytes); nothing is allocated.
 */
#include "login.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

/* Mark one byte as allowed. */
static void login_allow(struct login_policy *p, unsigned char c)
{
    p->allowed[c >> 3] |= (uint8_t)(1u << (c & 7));
}

/* Is one byte allowed? */
static int login_allowed(const struct login_policy *p, unsigned char c)
{
    return (p->allowed[c >> 3] >> (c & 7)) & 1;
}

/* Parse a character-class body into the bitmap. */
static int login_parse_chars(struct login_policy *p, const char *chars, char *err, size_t errlen)
{
    size_t n = strlen(chars);

    if (n == 0) {
        snprintf(err, errlen, "empty character set");
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        unsigned char a = (unsigned char)chars[i];
        if (i + 2 < n && chars[i + 1] == '-') {
            unsigned char b = (unsigned char)chars[i + 2];
            if (b < a) {
                snprintf(err, errlen, "range %c-%c is backwards", a, b);
                return -1;
            }
            for (unsigned c = a; c <= b; c++)
                login_allow(p, (unsigned char)c);
            i += 2;
        } else {
            login_allow(p, a);
        }
    }
    if (login_allowed(p, 0)) {
        snprintf(err, errlen, "NUL cannot be allowed");
        return -1;
    }
    return 0;
}

/* Parse the realm list. */
static int login_parse_realms(struct login_policy *p, const char *realms, char *err, size_t errlen)
{
    const char *s = realms;
    static const char sep[] = ", \t\r\n";

    while (*s) {
        size_t skip = strspn(s, sep), len;
        s += skip;
        len = strcspn(s, sep);
        if (len == 0)
            break;
        if (p->nrealms == LOGIN_REALMS_MAX) {
            snprintf(err, errlen, "more than %d realms", LOGIN_REALMS_MAX);
            return -1;
        }
        if (len > LOGIN_REALM_LEN) {
            snprintf(err, errlen, "realm longer than %d bytes", LOGIN_REALM_LEN);
            return -1;
        }
        if (memchr(s, '*', len) || memchr(s, '@', len)) {
            snprintf(err, errlen, "realm \"%.*s\" may not hold '*' or '@'", (int)len, s);
            return -1;
        }
        memcpy(p->realms[p->nrealms], s, len);
        p->realms[p->nrealms][len] = '\0';
        p->nrealms++;
        s += len;
    }
    return 0;
}

int login_policy_init(struct login_policy *p, const char *chars, long long max_len,
                      const char *realms, char *err, size_t errlen)
{
    memset(p, 0, sizeof(*p));
    if (max_len < 1 || max_len > LOGIN_LEN_MAX) {
        snprintf(err, errlen, "maximum length %lld outside 1..%d", max_len, LOGIN_LEN_MAX);
        return -1;
    }
    p->max_len = (size_t)max_len;
    if (login_parse_chars(p, chars ? chars : LOGIN_DEFAULT_CHARS, err, errlen) < 0)
        return -1;
    return login_parse_realms(p, realms ? realms : "", err, errlen);
}

void login_split(const char *s, size_t len, size_t *ulen, const char **realm, size_t *rlen)
{
    size_t i = len;

    while (i > 0 && s[i - 1] != '@')
        i--;
    if (i == 0) {
        *ulen = len;
        *realm = s + len;
        *rlen = 0;
        return;
    }
    *ulen = i - 1;
    *realm = s + i;
    *rlen = len - i;
}

int login_realm_accepted(const struct login_policy *p, const char *realm, size_t rlen)
{
    if (rlen == 0)
        return 1;
    for (size_t i = 0; i < p->nrealms; i++)
        if (strlen(p->realms[i]) == rlen && strncasecmp(p->realms[i], realm, rlen) == 0)
            return 1;
    return 0;
}

enum login_verdict login_check(const struct login_policy *p, const char *login, size_t len,
                               const char *realm, size_t rlen)
{
    int address = 0, bad = 0;

    if (len == 0)
        return LOGIN_EMPTY;
    if (memchr(login, '\0', len) || (rlen && memchr(realm, '\0', rlen)))
        return LOGIN_NUL;
    if (len > p->max_len)
        return LOGIN_TOO_LONG;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)login[i];
        if (login_allowed(p, c))
            continue;
        if (c == '.' || c == '@')
            address = 1;
        else
            bad = 1;
    }
    /* An address-like login is the common mistake: say so rather than
     * "bad character", whatever else is wrong with it. */
    if (address)
        return LOGIN_ADDRESS;
    if (bad)
        return LOGIN_BAD_CHAR;
    if (!login_realm_accepted(p, realm, rlen))
        return LOGIN_REALM_REFUSED;
    return LOGIN_OK;
}

const char *login_verdict_text(enum login_verdict v)
{
    switch (v) {
    case LOGIN_OK:
        return "ok";
    case LOGIN_EMPTY:
        return "empty login";
    case LOGIN_TOO_LONG:
        return "login too long";
    case LOGIN_NUL:
        return "NUL byte in login";
    case LOGIN_ADDRESS:
        return "login looks like an e-mail address";
    case LOGIN_BAD_CHAR:
        return "login has a character that is not allowed";
    case LOGIN_REALM_REFUSED:
        return "realm not accepted (login looks like an e-mail address)";
    }
    return "unknown";
}
