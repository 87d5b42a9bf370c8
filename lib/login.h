/*
 * login - the login-name policy shared by portreeve-authd and the SASL gate
 * plugin: a login is a login name, not an e-mail address.
 *
 * A policy holds a set of allowed characters (default A-Z a-z 0-9 _ -, so
 * no "." and no "@"), a maximum length, and a list of accepted realms
 * (default none, so "user@anything" is refused). Everything lives inside
 * struct login_policy: no allocation, no global state, no logging, so the
 * plugin can use it inside smtpd.
 *
 * Limits: LOGIN_LEN_MAX bytes per login, LOGIN_REALMS_MAX realms of at most
 * LOGIN_REALM_LEN bytes each.
 */
#ifndef PORTREEVE_LOGIN_H
#define PORTREEVE_LOGIN_H

#include <stddef.h>
#include <stdint.h>

#define LOGIN_LEN_MAX 256
#define LOGIN_REALMS_MAX 16
#define LOGIN_REALM_LEN 255
#define LOGIN_DEFAULT_CHARS "A-Za-z0-9_-"
#define LOGIN_DEFAULT_MAX_LENGTH 64

struct login_policy {
    uint8_t allowed[32]; /* bitmap over bytes 0..255 */
    size_t max_len;
    size_t nrealms;
    char realms[LOGIN_REALMS_MAX][LOGIN_REALM_LEN + 1];
};

enum login_verdict {
    LOGIN_OK,
    LOGIN_EMPTY,         /* empty login */
    LOGIN_TOO_LONG,      /* longer than the policy's maximum */
    LOGIN_NUL,           /* a NUL byte in the login or the realm */
    LOGIN_ADDRESS,       /* looks like an address: "." or "@" where not allowed */
    LOGIN_BAD_CHAR,      /* another character outside the allowed set */
    LOGIN_REALM_REFUSED, /* a realm that is not in the accepted list */
};

/*
 * Build a policy. chars is a character-class body such as "A-Za-z0-9_-"
 * (ranges a-b; a "-" first or last is literal); realms is a list separated
 * by commas and/or white space. Returns 0, or -1 with a reason in err.
 */
int login_policy_init(struct login_policy *p, const char *chars, long long max_len,
                      const char *realms, char *err, size_t errlen);

/* Split "user@realm" at the last "@" as libsasl does; no "@" gives rlen 0. */
void login_split(const char *s, size_t len, size_t *ulen, const char **realm, size_t *rlen);

/*
 * Check a login and its realm (either may come from untrusted input; the
 * realm may be empty). The realm is compared case-insensitively.
 */
enum login_verdict login_check(const struct login_policy *p, const char *login, size_t len,
                               const char *realm, size_t rlen);

/* Is the realm in the accepted list? An empty realm is always accepted. */
int login_realm_accepted(const struct login_policy *p, const char *realm, size_t rlen);

/* Short reason for logs ("login looks like an e-mail address"). */
const char *login_verdict_text(enum login_verdict v);

/* The sentence shown to users whose login was refused for its form. */
#define LOGIN_USER_MESSAGE "use your login name, not your e-mail address, to authenticate"

#endif
