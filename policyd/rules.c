/*
 * rules.c - per-port policy decisions (see rules.h for the order).
 */
#include "rules.h"

#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "domains.h"
#include "netset.h"
#include "util.h"

static const struct {
    const char *name;
    enum pstate state;
} rules_states[] = {
    {"CONNECT", PSTATE_CONNECT},    {"EHLO", PSTATE_EHLO}, {"HELO", PSTATE_HELO},
    {"MAIL", PSTATE_MAIL},          {"RCPT", PSTATE_RCPT}, {"DATA", PSTATE_DATA},
    {"END-OF-MESSAGE", PSTATE_EOM}, {"VRFY", PSTATE_VRFY}, {"ETRN", PSTATE_ETRN},
};

enum pstate rules_state(const char *s, size_t len)
{
    for (size_t i = 0; i < sizeof(rules_states) / sizeof(rules_states[0]); i++)
        if (util_strncaseeq(s, len, rules_states[i].name))
            return rules_states[i].state;
    return PSTATE_OTHER;
}

enum role rules_role(const struct policyd_conf *c, const struct proto_request *req)
{
    enum role r = ROLE_NONE;

    if (req->v[PA_POLICY_CONTEXT].len)
        r = role_lookup(req->v[PA_POLICY_CONTEXT].ptr, req->v[PA_POLICY_CONTEXT].len);
    if (r == ROLE_NONE)
        r = policyd_conf_port_role(c, req->v[PA_SERVER_PORT].ptr, req->v[PA_SERVER_PORT].len);
    return r;
}

int rules_recipient_is_local(const struct policyd_conf *c, const char *rcpt, size_t len)
{
    const char *at = NULL;

    if (len == 0)
        return 0;
    if (rcpt[0] == '@')
        return 0; /* source route: @relay:user@domain */
    for (size_t i = len; i > 0; i--)
        if (rcpt[i - 1] == '@') {
            at = rcpt + i - 1;
            break;
        }
    /* With allow_percent_hack (default yes) and '!' routing, Postfix may
     * deliver "user%elsewhere@local" elsewhere; a quoted '@' in the local
     * part is the same trick. Such recipients are treated as remote. */
    if (memchr(rcpt, '%', at ? (size_t)(at - rcpt) : len) ||
        memchr(rcpt, '!', at ? (size_t)(at - rcpt) : len) ||
        (at && memchr(rcpt, '@', (size_t)(at - rcpt))))
        return 0;
    return domains_match_address(c->local, rcpt, len);
}

/* Fill the decision and say whether it is final. */
static int rules_set(struct decision *d, const char *rule, const char *action, int final)
{
    d->rule = rule;
    util_strlcpy(d->action, action, sizeof(d->action));
    return final;
}

int rules_decide(const struct policyd_conf *c, const struct proto_request *req, struct decision *d)
{
    const struct proto_value *user = &req->v[PA_SASL_USERNAME];
    const struct proto_value *client = &req->v[PA_CLIENT_ADDRESS];
    int tls = req->v[PA_ENCRYPTION_PROTOCOL].len != 0;
    int submission;
    int on_net;

    d->role = rules_role(c, req);
    d->state = rules_state(req->v[PA_PROTOCOL_STATE].ptr, req->v[PA_PROTOCOL_STATE].len);
    if (d->role == ROLE_NONE)
        return rules_set(d, "unknown_role", c->unknown_role_action, 1);
    switch (d->state) {
    case PSTATE_MAIL:
    case PSTATE_RCPT:
    case PSTATE_DATA:
    case PSTATE_EOM:
    case PSTATE_VRFY:
        break;
    default:
        return rules_set(d, "state_ignored", "DUNNO", 1);
    }
    submission = d->role == ROLE_SUBMISSION || d->role == ROLE_SUBMISSIONS;
    if (submission && !tls)
        return rules_set(d, "tls_required", c->tls_required_reply, 1);
    if (user->len && !tls)
        return rules_set(d, "auth_without_tls", c->tls_required_reply, 1);
    if (submission && user->len == 0)
        return rules_set(d, "auth_required", c->auth_required_reply, 1);

    if (d->role == ROLE_MX) {
        int authed = user->len != 0;
        /* "Port 25 only from known mail servers": an authenticated client
         * is a known user, not an anonymous server, and reaching here it
         * also has TLS (auth_without_tls above), so it is exempt. */
        if (c->mx_allowed && !authed && !netset_contains(c->mx_allowed, client->ptr, client->len))
            return rules_set(d, "mx_client_denied", c->mx_unlisted_client_reply, 1);
        on_net = netset_contains(c->relay_nets, client->ptr, client->len);
        if (d->state == PSTATE_RCPT && !on_net && !(authed && c->mx_authenticated_relay) &&
            !rules_recipient_is_local(c, req->v[PA_RECIPIENT].ptr, req->v[PA_RECIPIENT].len))
            return rules_set(d, "relay_denied", c->relay_reject_reply, 1);
        if (c->mx_reject_spoofed_sender && !on_net && !authed &&
            (d->state == PSTATE_MAIL || d->state == PSTATE_RCPT) && req->v[PA_SENDER].len &&
            memchr(req->v[PA_SENDER].ptr, '@', req->v[PA_SENDER].len) &&
            domains_match_address(c->local, req->v[PA_SENDER].ptr, req->v[PA_SENDER].len))
            return rules_set(d, "spoofed_sender", c->spoofed_sender_reply, 1);
    }
    if (d->state == PSTATE_RCPT && c->content_filter[d->role][0]) {
        snprintf(d->action, sizeof(d->action), "FILTER %s", c->content_filter[d->role]);
        d->rule = "content_filter";
        return 0;
    }
    return rules_set(d, "default", "DUNNO", 0);
}
