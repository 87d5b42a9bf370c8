/*
 * rules - the per-port policy: pure functions from (configuration, request)
 * to a decision, with no I/O, so that unit tests drive every rule directly.
 *
 * Order of evaluation for one request:
 *   1. role: policy_context if it names a role, else server_port through
 *      policyd_port_roles; none -> policyd_unknown_role_action (unknown_role)
 *   2. protocol states other than MAIL, RCPT, DATA, END-OF-MESSAGE and VRFY
 *      -> DUNNO (state_ignored): nothing to judge before MAIL FROM
 *   3. submission roles without TLS -> tls_required
 *   4. any role: sasl_username without TLS -> auth_without_tls
 *   5. submission roles without sasl_username -> auth_required
 *   6. mx, opt-in (policyd_mx_allowed_clients[_file] set): a client that
 *      did not authenticate and is not in the list -> mx_client_denied,
 *      whatever the recipient; authenticated clients are exempt
 *   7. mx, RCPT: recipient outside the local domains, client outside the
 *      relay networks, not authenticated (or authenticated relay disabled)
 *      -> relay_denied
 *   8. mx, MAIL/RCPT, opt-in: local-domain sender from an unauthenticated
 *      client off the local network -> spoofed_sender
 *   9. RCPT with a content filter for the role -> FILTER (content_filter)
 *  10. otherwise DUNNO (default)
 * Quotas (when enabled) come between 8 and 9 and are asynchronous; they are
 * not part of this module.
 */
#ifndef PORTREEVE_RULES_H
#define PORTREEVE_RULES_H

#include <stddef.h>

#include "policyd_conf.h"
#include "proto.h"

enum pstate {
    PSTATE_OTHER,
    PSTATE_CONNECT,
    PSTATE_EHLO,
    PSTATE_HELO,
    PSTATE_MAIL,
    PSTATE_RCPT,
    PSTATE_DATA,
    PSTATE_EOM,
    PSTATE_VRFY,
    PSTATE_ETRN,
};

#define RULES_ACTION_MAX 512

struct decision {
    enum role role;
    enum pstate state;
    const char *rule; /* static name: default, relay_denied, ... */
    char action[RULES_ACTION_MAX];
};

enum pstate rules_state(const char *s, size_t len);
enum role rules_role(const struct policyd_conf *c, const struct proto_request *req);
/* Is the recipient local, as far as relaying goes? Addresses whose local
 * part could route elsewhere (%, !, a quoted @, a source route) are not. */
int rules_recipient_is_local(const struct policyd_conf *c, const char *rcpt, size_t len);
/* Decide a request; always fills d. Returns 1 when the decision is final
 * (a refusal, or a state/role that ends evaluation), 0 when it is a
 * permit-so-far (DUNNO or FILTER) that later stages such as quotas may
 * still turn into a refusal. */
int rules_decide(const struct policyd_conf *c, const struct proto_request *req, struct decision *d);

#endif
