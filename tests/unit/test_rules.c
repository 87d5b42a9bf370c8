/*
 * test_rules.c - role selection and every rule of policyd/rules.c.
 *
 * Each row takes a real request captured from Postfix 3.7.11 (tests/data),
 * changes the attributes the case is about (server_port, encryption,
 * sasl_username, client, recipient...), loads a configuration with
 * policyd_conf_load() from a temporary file, and checks the role, the rule
 * that decided, the action and whether the decision is final.
 *
 * The captures come from a test Postfix on ports 24025 ("25"), 24587
 * ("587"), 24588 ("587" via LDAP) and 24465 ("465"); local client
 * 127.0.0.1, off-net clients 127.0.0.2 and 10.200.0.2; local domain
 * example.org.
 */
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
#include "fixture.h"
#include "policyd_conf.h"
#include "rules.h"

/* The test instance's ports, the site's networks and domains. */
static const char conf_test[] =
    "policyd_port_roles = 24025:mx 24587:submission 24588:submission 24465:submissions\n"
    "    25:mx 587:submission 465:submissions\n"
    "policyd_local_domains = example.org, .campus.example.org\n"
    "policyd_relay_networks = 127.0.0.1/32, [::1]/128, 192.0.2.0/24, [2001:db8:1::]/48\n";
/* Built-in defaults but for the local domain. */
static const char conf_defaults[] = "policyd_local_domains = example.org\n";

enum base { TEST, DEFAULTS };

struct rule_case {
    const char *name;
    const char *capture; /* file in tests/data/postfix-3.7 */
    const char *state;   /* which request of the capture */
    const char *set;     /* attributes to change: "name=value" lines */
    enum base base;
    const char *conf; /* more configuration lines */
    enum role role;
    const char *rule;
    const char *action;
    int final;
};

#define DUNNO "DUNNO"
#define TLS_REPLY "530 5.7.0 TLS required: issue STARTTLS first"
#define AUTH_REPLY "530 5.7.0 Authentication required"
#define RELAY_REPLY "554 5.7.1 Relay access denied"
#define SPOOF_REPLY "550 5.7.1 Sender address in a local domain: authenticate on port 587"
#define SPOOF_ON "policyd_mx_reject_spoofed_sender = yes\n"
#define MX_FILTER "policyd_mx_content_filter = smtp-amavis:[127.0.0.1]:10024\n"
#define SUB_FILTER "policyd_submission_content_filter = scan:[127.0.0.1]:10026\n"
#define SUBS_FILTER "policyd_submissions_content_filter = scan:[127.0.0.1]:10027\n"
/* Port 25 only from known mail servers: 127.0.0.2 (the off-net capture
 * client) is one, so are a documentation /24 and an IPv6 /64. */
#define MXC_ON "policyd_mx_allowed_clients = 127.0.0.2, 198.51.100.0/24 [2001:db8:25::]/64\n"
#define MXC_REPLY "554 5.7.1 Port 25 accepts mail only from registered mail servers; use port 587"
#define UNLISTED "client_address=10.200.0.9\n"

/* Captures, by what they show. */
#define S25_LOCAL "s25_local_relay_ok.txt"              /* 127.0.0.1, remote rcpt */
#define S25_RELAY "s25_offnet_relay_denied.txt"         /* 127.0.0.2, remote rcpt */
#define S25_INBOUND "s25_offnet_inbound_ok.txt"         /* 127.0.0.2, rcpt alice@example.org */
#define S25_UNKNOWN "s25_offnet_unknown_local_rcpt.txt" /* rcpt nobody@example.org */
#define S25_AUTH "s25_offnet_auth_relay_ok.txt"         /* 127.0.0.2, TLS, alice@example.org */
#define NS_RELAY "netns_offnet_relay_denied.txt"        /* 10.200.0.2 */
#define NS_INBOUND "netns_offnet_inbound_ok.txt"
#define NS_SUB "netns_submission_auth_ok.txt" /* 10.200.0.2 on 587, TLS, auth */
#define S587_AUTH "s587_auth_plain_ok.txt"    /* TLS, auth */
#define S587_LOGIN "s587_auth_login_ok.txt"
#define S587_NOAUTH "s587_no_auth_rejected.txt" /* TLS, no auth */
#define S465_AUTH "s465_auth_ok.txt"
#define S465_NOAUTH "s465_no_auth_rejected.txt"
#define LDAP_AUTH "ldap_auth_ok.txt" /* 24588, user "alice" */

static const struct rule_case cases[] = {
    /* role */
    {"captured port 24025 is mx", S25_LOCAL, "RCPT", NULL, TEST, NULL, ROLE_MX, "default", DUNNO,
     0},
    {"captured port 24587 is submission", S587_AUTH, "RCPT", NULL, TEST, NULL, ROLE_SUBMISSION,
     "default", DUNNO, 0},
    {"captured port 24588 is submission", LDAP_AUTH, "RCPT", NULL, TEST, NULL, ROLE_SUBMISSION,
     "default", DUNNO, 0},
    {"captured port 24465 is submissions", S465_AUTH, "RCPT", NULL, TEST, NULL, ROLE_SUBMISSIONS,
     "default", DUNNO, 0},
    {"default map: 25 is mx", S25_LOCAL, "RCPT", "server_port=25", DEFAULTS, NULL, ROLE_MX,
     "default", DUNNO, 0},
    {"default map: 587 is submission", S587_NOAUTH, "RCPT", "server_port=587", DEFAULTS, NULL,
     ROLE_SUBMISSION, "auth_required", AUTH_REPLY, 1},
    {"default map: 465 is submissions", S465_NOAUTH, "RCPT", "server_port=465", DEFAULTS, NULL,
     ROLE_SUBMISSIONS, "auth_required", AUTH_REPLY, 1},
    {"default map: 24025 is unmapped", S25_LOCAL, "RCPT", NULL, DEFAULTS, NULL, ROLE_NONE,
     "unknown_role", DUNNO, 1},
    {"policy_context wins over server_port", S25_LOCAL, "RCPT", "policy_context=submission", TEST,
     NULL, ROLE_SUBMISSION, "tls_required", TLS_REPLY, 1},
    {"policy_context ignores case", S587_AUTH, "RCPT", "policy_context=SubmissionS", TEST, NULL,
     ROLE_SUBMISSIONS, "default", DUNNO, 0},
    {"policy_context mx on a submission port", S587_NOAUTH, "RCPT", "policy_context=mx", TEST, NULL,
     ROLE_MX, "default", DUNNO, 0},
    {"policy_context naming no role falls back to server_port", S587_NOAUTH, "RCPT",
     "policy_context=campus", TEST, NULL, ROLE_SUBMISSION, "auth_required", AUTH_REPLY, 1},
    {"policy_context gives a role to an unknown port", S587_AUTH, "RCPT",
     "server_port=unknown\npolicy_context=submission", TEST, NULL, ROLE_SUBMISSION, "default",
     DUNNO, 0},
    {"server_port=unknown", S25_RELAY, "RCPT", "server_port=unknown", TEST, NULL, ROLE_NONE,
     "unknown_role", DUNNO, 1},
    {"unmapped port", S25_RELAY, "RCPT", "server_port=2525", TEST, NULL, ROLE_NONE, "unknown_role",
     DUNNO, 1},
    {"empty server_port", S25_RELAY, "RCPT", "server_port=", TEST, NULL, ROLE_NONE, "unknown_role",
     DUNNO, 1},
    {"port number too long", S25_RELAY, "RCPT", "server_port=240250", TEST, NULL, ROLE_NONE,
     "unknown_role", DUNNO, 1},
    {"port with trailing junk", S25_RELAY, "RCPT", "server_port=24025x", TEST, NULL, ROLE_NONE,
     "unknown_role", DUNNO, 1},
    {"unknown role gets the configured action", S587_NOAUTH, "RCPT", "server_port=2525", TEST,
     "policyd_unknown_role_action = DEFER_IF_PERMIT 4.3.0 port role unknown\n", ROLE_NONE,
     "unknown_role", "DEFER_IF_PERMIT 4.3.0 port role unknown", 1},

    /* protocol states */
    {"CONNECT is not judged", S587_NOAUTH, "RCPT", "protocol_state=CONNECT\nencryption_protocol=",
     TEST, NULL, ROLE_SUBMISSION, "state_ignored", DUNNO, 1},
    {"EHLO is not judged", S587_NOAUTH, "RCPT", "protocol_state=EHLO", TEST, NULL, ROLE_SUBMISSION,
     "state_ignored", DUNNO, 1},
    {"HELO is not judged", S25_RELAY, "RCPT", "protocol_state=HELO", TEST, NULL, ROLE_MX,
     "state_ignored", DUNNO, 1},
    {"ETRN is not judged", S25_RELAY, "RCPT", "protocol_state=ETRN", TEST, NULL, ROLE_MX,
     "state_ignored", DUNNO, 1},
    {"unknown state is not judged", S587_NOAUTH, "RCPT", "protocol_state=XCLIENT", TEST, NULL,
     ROLE_SUBMISSION, "state_ignored", DUNNO, 1},
    {"empty state is not judged", S587_NOAUTH, "RCPT", "protocol_state=", TEST, NULL,
     ROLE_SUBMISSION, "state_ignored", DUNNO, 1},
    {"MAIL on submission needs auth", S587_NOAUTH, "RCPT", "protocol_state=MAIL\nrecipient=", TEST,
     NULL, ROLE_SUBMISSION, "auth_required", AUTH_REPLY, 1},
    {"VRFY on submission needs auth", S587_NOAUTH, "RCPT", "protocol_state=VRFY", TEST, NULL,
     ROLE_SUBMISSION, "auth_required", AUTH_REPLY, 1},
    {"state names ignore case", S587_NOAUTH, "RCPT", "protocol_state=rcpt", TEST, NULL,
     ROLE_SUBMISSION, "auth_required", AUTH_REPLY, 1},
    {"captured DATA", S587_AUTH, "DATA", NULL, TEST, NULL, ROLE_SUBMISSION, "default", DUNNO, 0},
    {"captured END-OF-MESSAGE", S587_AUTH, "END-OF-MESSAGE", NULL, TEST, NULL, ROLE_SUBMISSION,
     "default", DUNNO, 0},

    /* TLS */
    {"submission without TLS", S587_NOAUTH, "RCPT", "encryption_protocol=", TEST, NULL,
     ROLE_SUBMISSION, "tls_required", TLS_REPLY, 1},
    {"submission without TLS, even authenticated", S587_AUTH, "RCPT", "encryption_protocol=", TEST,
     NULL, ROLE_SUBMISSION, "tls_required", TLS_REPLY, 1},
    {"submissions without TLS", S465_AUTH, "RCPT", "encryption_protocol=", TEST, NULL,
     ROLE_SUBMISSIONS, "tls_required", TLS_REPLY, 1},
    {"configured TLS reply", S587_NOAUTH, "RCPT", "encryption_protocol=", TEST,
     "policyd_tls_required_reply = 554 5.7.0 Use STARTTLS\n", ROLE_SUBMISSION, "tls_required",
     "554 5.7.0 Use STARTTLS", 1},
    {"AUTH without TLS on mx, off-net", S25_AUTH, "RCPT", "encryption_protocol=", TEST, NULL,
     ROLE_MX, "auth_without_tls", TLS_REPLY, 1},
    {"AUTH without TLS on mx, local client", S25_LOCAL, "RCPT", "sasl_username=alice", TEST, NULL,
     ROLE_MX, "auth_without_tls", TLS_REPLY, 1},
    {"AUTH without TLS on mx at MAIL", S25_AUTH, "RCPT",
     "encryption_protocol=\nprotocol_state=MAIL\nrecipient=", TEST, NULL, ROLE_MX,
     "auth_without_tls", TLS_REPLY, 1},

    /* authentication */
    {"captured 587 without AUTH", S587_NOAUTH, "RCPT", NULL, TEST, NULL, ROLE_SUBMISSION,
     "auth_required", AUTH_REPLY, 1},
    {"captured 465 without AUTH", S465_NOAUTH, "RCPT", NULL, TEST, NULL, ROLE_SUBMISSIONS,
     "auth_required", AUTH_REPLY, 1},
    {"configured auth reply", S587_NOAUTH, "RCPT", NULL, TEST,
     "policyd_auth_required_reply = 535 5.7.8 Authenticate first\n", ROLE_SUBMISSION,
     "auth_required", "535 5.7.8 Authenticate first", 1},
    {"captured 587 with AUTH LOGIN", S587_LOGIN, "RCPT", NULL, TEST, NULL, ROLE_SUBMISSION,
     "default", DUNNO, 0},
    {"captured 587 from off-net with AUTH", NS_SUB, "RCPT", NULL, TEST, NULL, ROLE_SUBMISSION,
     "default", DUNNO, 0},
    {"submission relays for authenticated users anywhere", NS_SUB, "RCPT",
     "recipient=x@elsewhere.example", TEST, NULL, ROLE_SUBMISSION, "default", DUNNO, 0},

    /* relay on mx */
    {"captured off-net relay", S25_RELAY, "RCPT", NULL, TEST, NULL, ROLE_MX, "relay_denied",
     RELAY_REPLY, 1},
    {"captured off-net relay through a namespace", NS_RELAY, "RCPT", NULL, TEST, NULL, ROLE_MX,
     "relay_denied", RELAY_REPLY, 1},
    {"relay is judged at RCPT, not MAIL", S25_RELAY, "RCPT",
     "protocol_state=MAIL\nrecipient=", TEST, NULL, ROLE_MX, "default", DUNNO, 0},
    {"configured relay reply", S25_RELAY, "RCPT", NULL, TEST,
     "policyd_relay_reject_reply = 550 5.7.1 Relaying denied\n", ROLE_MX, "relay_denied",
     "550 5.7.1 Relaying denied", 1},
    {"captured local-network relay", S25_LOCAL, "RCPT", NULL, TEST, NULL, ROLE_MX, "default", DUNNO,
     0},
    {"captured inbound from off-net", S25_INBOUND, "RCPT", NULL, TEST, NULL, ROLE_MX, "default",
     DUNNO, 0},
    {"captured inbound through a namespace", NS_INBOUND, "RCPT", NULL, TEST, NULL, ROLE_MX,
     "default", DUNNO, 0},
    {"inbound to an unknown local user is not the policy's business", S25_UNKNOWN, "RCPT", NULL,
     TEST, NULL, ROLE_MX, "default", DUNNO, 0},
    {"subdomain of a .domain entry is local", S25_RELAY, "RCPT",
     "recipient=someone@dept.campus.example.org", TEST, NULL, ROLE_MX, "default", DUNNO, 0},
    {"the .domain entry itself is not local", S25_RELAY, "RCPT",
     "recipient=someone@campus.example.org", TEST, NULL, ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"local domain in upper case with a trailing dot", S25_RELAY, "RCPT",
     "recipient=someone@EXAMPLE.ORG.", TEST, NULL, ROLE_MX, "default", DUNNO, 0},
    {"local domain as a prefix of a remote one", S25_RELAY, "RCPT",
     "recipient=someone@example.org.evil.test", TEST, NULL, ROLE_MX, "relay_denied", RELAY_REPLY,
     1},
    {"local domain as a suffix of a remote one", S25_RELAY, "RCPT",
     "recipient=someone@notexample.org", TEST, NULL, ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"bare local part is local", S25_RELAY, "RCPT", "recipient=postmaster", TEST, NULL, ROLE_MX,
     "default", DUNNO, 0},
    {"percent hack is remote", S25_INBOUND, "RCPT", "recipient=someone%remote.example@example.org",
     TEST, NULL, ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"bang path is remote", S25_INBOUND, "RCPT", "recipient=remote.example!someone@example.org",
     TEST, NULL, ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"quoted @ is remote", S25_INBOUND, "RCPT", "recipient=\"someone@remote.example\"@example.org",
     TEST, NULL, ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"source route is remote", S25_INBOUND, "RCPT", "recipient=@example.org:someone@remote.example",
     TEST, NULL, ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"percent hack from the local network is allowed", S25_LOCAL, "RCPT",
     "recipient=someone%remote.example@example.org", TEST, NULL, ROLE_MX, "default", DUNNO, 0},
    {"captured authenticated relay on mx", S25_AUTH, "RCPT", NULL, TEST, NULL, ROLE_MX, "default",
     DUNNO, 0},
    {"authenticated relay on mx switched off", S25_AUTH, "RCPT", NULL, TEST,
     "policyd_mx_authenticated_relay = no\n", ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"authenticated relay off, inbound still fine", S25_AUTH, "RCPT", "recipient=alice@example.org",
     TEST, "policyd_mx_authenticated_relay = no\n", ROLE_MX, "default", DUNNO, 0},
    {"authenticated relay off, local network still relays", S25_LOCAL, "RCPT",
     "sasl_username=alice\nencryption_protocol=TLSv1.3", TEST,
     "policyd_mx_authenticated_relay = no\n", ROLE_MX, "default", DUNNO, 0},

    /* client networks */
    {"IPv4 relay network", S25_RELAY, "RCPT", "client_address=192.0.2.200", TEST, NULL, ROLE_MX,
     "default", DUNNO, 0},
    {"IPv4 outside the relay networks", S25_RELAY, "RCPT", "client_address=192.0.3.1", TEST, NULL,
     ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"IPv4-mapped client in an IPv4 network", S25_RELAY, "RCPT", "client_address=::ffff:192.0.2.7",
     TEST, NULL, ROLE_MX, "default", DUNNO, 0},
    {"IPv4-mapped loopback", S25_RELAY, "RCPT", "client_address=::ffff:127.0.0.1", TEST, NULL,
     ROLE_MX, "default", DUNNO, 0},
    {"IPv4-mapped client outside", S25_RELAY, "RCPT", "client_address=::ffff:198.51.100.7", TEST,
     NULL, ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"IPv6 relay network", S25_RELAY, "RCPT", "client_address=2001:db8:1::25", TEST, NULL, ROLE_MX,
     "default", DUNNO, 0},
    {"IPv6 relay network, far end of the /48", S25_RELAY, "RCPT",
     "client_address=2001:db8:1:ffff:ffff:ffff:ffff:ffff", TEST, NULL, ROLE_MX, "default", DUNNO,
     0},
    {"IPv6 in upper case", S25_RELAY, "RCPT", "client_address=2001:DB8:1::25", TEST, NULL, ROLE_MX,
     "default", DUNNO, 0},
    {"IPv6 outside the relay networks", S25_RELAY, "RCPT", "client_address=2001:db8:2::1", TEST,
     NULL, ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"IPv6 loopback", S25_RELAY, "RCPT", "client_address=::1", TEST, NULL, ROLE_MX, "default",
     DUNNO, 0},
    {"client address that is not an address", S25_RELAY, "RCPT", "client_address=unknown", TEST,
     NULL, ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"default relay networks: 127.0.0.2 is local", S25_RELAY, "RCPT", "server_port=25", DEFAULTS,
     NULL, ROLE_MX, "default", DUNNO, 0},
    {"default relay networks: 10.200.0.2 is not", NS_RELAY, "RCPT", "server_port=25", DEFAULTS,
     NULL, ROLE_MX, "relay_denied", RELAY_REPLY, 1},

    /* spoofed local senders (opt-in) */
    {"spoofed sender allowed by default", S25_INBOUND, "RCPT", "sender=alice@example.org", TEST,
     NULL, ROLE_MX, "default", DUNNO, 0},
    {"spoofed sender at RCPT", S25_INBOUND, "RCPT", "sender=alice@example.org", TEST, SPOOF_ON,
     ROLE_MX, "spoofed_sender", SPOOF_REPLY, 1},
    {"spoofed sender at MAIL", S25_INBOUND, "RCPT",
     "sender=alice@example.org\nprotocol_state=MAIL\nrecipient=", TEST, SPOOF_ON, ROLE_MX,
     "spoofed_sender", SPOOF_REPLY, 1},
    {"spoofed sender in a subdomain, any case", S25_INBOUND, "RCPT",
     "sender=Bob@Dept.Campus.Example.Org", TEST, SPOOF_ON, ROLE_MX, "spoofed_sender", SPOOF_REPLY,
     1},
    {"spoofed sender is not judged at DATA", S25_INBOUND, "DATA", "sender=alice@example.org", TEST,
     SPOOF_ON, ROLE_MX, "default", DUNNO, 0},
    {"local sender from the local network", S25_LOCAL, "RCPT", "sender=alice@example.org", TEST,
     SPOOF_ON, ROLE_MX, "default", DUNNO, 0},
    {"local sender, authenticated", S25_AUTH, "RCPT", NULL, TEST, SPOOF_ON, ROLE_MX, "default",
     DUNNO, 0},
    {"null sender is not spoofed", S25_INBOUND, "RCPT", "sender=", TEST, SPOOF_ON, ROLE_MX,
     "default", DUNNO, 0},
    {"captured remote sender", S25_INBOUND, "RCPT", NULL, TEST, SPOOF_ON, ROLE_MX, "default", DUNNO,
     0},
    {"spoofed sender with a remote recipient is a relay attempt first", S25_RELAY, "RCPT",
     "sender=alice@example.org", TEST, SPOOF_ON, ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"spoofing rule is for mx only", S587_AUTH, "RCPT", NULL, TEST, SPOOF_ON, ROLE_SUBMISSION,
     "default", DUNNO, 0},
    {"configured spoofing reply", S25_INBOUND, "RCPT", "sender=alice@example.org", TEST,
     SPOOF_ON "policyd_spoofed_sender_reply = 550 5.7.1 Use port 587\n", ROLE_MX, "spoofed_sender",
     "550 5.7.1 Use port 587", 1},

    /* port 25 only from listed clients (opt-in) */
    {"mx clients: empty list lets anyone in", NS_INBOUND, "RCPT", NULL, TEST, NULL, ROLE_MX,
     "default", DUNNO, 0},
    {"mx clients: empty list by default", NS_INBOUND, "RCPT", "server_port=25", DEFAULTS, NULL,
     ROLE_MX, "default", DUNNO, 0},
    {"mx clients: listed host", S25_INBOUND, "RCPT", NULL, TEST, MXC_ON, ROLE_MX, "default", DUNNO,
     0},
    {"mx clients: listed network", S25_INBOUND, "RCPT", "client_address=198.51.100.254", TEST,
     MXC_ON, ROLE_MX, "default", DUNNO, 0},
    {"mx clients: unlisted, local recipient", NS_INBOUND, "RCPT", NULL, TEST, MXC_ON, ROLE_MX,
     "mx_client_denied", MXC_REPLY, 1},
    {"mx clients: unlisted, next to a listed network", S25_INBOUND, "RCPT",
     "client_address=198.51.101.1", TEST, MXC_ON, ROLE_MX, "mx_client_denied", MXC_REPLY, 1},
    {"mx clients: unlisted relay attempt is refused by this rule first", NS_RELAY, "RCPT", NULL,
     TEST, MXC_ON, ROLE_MX, "mx_client_denied", MXC_REPLY, 1},
    {"mx clients: the local network is not implied", S25_LOCAL, "RCPT", NULL, TEST, MXC_ON, ROLE_MX,
     "mx_client_denied", MXC_REPLY, 1},
    {"mx clients: unlisted at MAIL", S25_INBOUND, "RCPT",
     UNLISTED "protocol_state=MAIL\nrecipient=", TEST, MXC_ON, ROLE_MX, "mx_client_denied",
     MXC_REPLY, 1},
    {"mx clients: unlisted at VRFY", S25_INBOUND, "RCPT", UNLISTED "protocol_state=VRFY", TEST,
     MXC_ON, ROLE_MX, "mx_client_denied", MXC_REPLY, 1},
    {"mx clients: unlisted at DATA", S25_INBOUND, "DATA", UNLISTED, TEST, MXC_ON, ROLE_MX,
     "mx_client_denied", MXC_REPLY, 1},
    {"mx clients: unlisted at END-OF-MESSAGE", S25_INBOUND, "END-OF-MESSAGE", UNLISTED, TEST,
     MXC_ON, ROLE_MX, "mx_client_denied", MXC_REPLY, 1},
    {"mx clients: CONNECT is not judged (AUTH has not happened yet)", S25_INBOUND, "RCPT",
     UNLISTED "protocol_state=CONNECT", TEST, MXC_ON, ROLE_MX, "state_ignored", DUNNO, 1},
    {"mx clients: EHLO is not judged", S25_INBOUND, "RCPT", UNLISTED "protocol_state=EHLO", TEST,
     MXC_ON, ROLE_MX, "state_ignored", DUNNO, 1},
    {"mx clients: authenticated unlisted client is exempt", S25_AUTH, "RCPT", UNLISTED, TEST,
     MXC_ON, ROLE_MX, "default", DUNNO, 0},
    {"mx clients: authenticated unlisted client, local recipient", S25_AUTH, "RCPT",
     UNLISTED "recipient=bob@example.org", TEST, MXC_ON, ROLE_MX, "default", DUNNO, 0},
    {"mx clients: authenticated without TLS is refused for that first", S25_AUTH, "RCPT",
     UNLISTED "encryption_protocol=", TEST, MXC_ON, ROLE_MX, "auth_without_tls", TLS_REPLY, 1},
    {"mx clients: exempt from this rule, not from relay_denied", S25_AUTH, "RCPT", UNLISTED, TEST,
     MXC_ON "policyd_mx_authenticated_relay = no\n", ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"mx clients: not for submission", NS_SUB, "RCPT", NULL, TEST, MXC_ON, ROLE_SUBMISSION,
     "default", DUNNO, 0},
    {"mx clients: not for submissions", S465_AUTH, "RCPT", UNLISTED, TEST, MXC_ON, ROLE_SUBMISSIONS,
     "default", DUNNO, 0},
    {"mx clients: submission without AUTH gets auth_required, not this rule", S587_NOAUTH, "RCPT",
     UNLISTED, TEST, MXC_ON, ROLE_SUBMISSION, "auth_required", AUTH_REPLY, 1},
    {"mx clients: policy_context mx on a submission port", S587_NOAUTH, "RCPT",
     UNLISTED "policy_context=mx", TEST, MXC_ON, ROLE_MX, "mx_client_denied", MXC_REPLY, 1},
    {"mx clients: unknown role is not judged", S25_INBOUND, "RCPT", UNLISTED "server_port=2525",
     TEST, MXC_ON, ROLE_NONE, "unknown_role", DUNNO, 1},
    {"mx clients: listed IPv6 client", S25_INBOUND, "RCPT", "client_address=2001:db8:25::1", TEST,
     MXC_ON, ROLE_MX, "default", DUNNO, 0},
    {"mx clients: listed IPv6, far end of the /64", S25_INBOUND, "RCPT",
     "client_address=2001:DB8:25:0:FFFF:FFFF:FFFF:FFFF", TEST, MXC_ON, ROLE_MX, "default", DUNNO,
     0},
    {"mx clients: unlisted IPv6 client", S25_INBOUND, "RCPT", "client_address=2001:db8:26::1", TEST,
     MXC_ON, ROLE_MX, "mx_client_denied", MXC_REPLY, 1},
    {"mx clients: IPv6 loopback is not implied", S25_INBOUND, "RCPT", "client_address=::1", TEST,
     MXC_ON, ROLE_MX, "mx_client_denied", MXC_REPLY, 1},
    {"mx clients: IPv4-mapped client in a listed network", S25_INBOUND, "RCPT",
     "client_address=::ffff:198.51.100.9", TEST, MXC_ON, ROLE_MX, "default", DUNNO, 0},
    {"mx clients: IPv4-mapped client outside", S25_INBOUND, "RCPT",
     "client_address=::ffff:203.0.113.9", TEST, MXC_ON, ROLE_MX, "mx_client_denied", MXC_REPLY, 1},
    {"mx clients: IPv4 client of an IPv4-mapped entry", S25_INBOUND, "RCPT",
     "client_address=203.0.113.9", TEST, "policyd_mx_allowed_clients = [::ffff:203.0.113.0]/120\n",
     ROLE_MX, "default", DUNNO, 0},
    {"mx clients: client address that is not an address", S25_INBOUND, "RCPT",
     "client_address=unknown", TEST, MXC_ON, ROLE_MX, "mx_client_denied", MXC_REPLY, 1},
    {"mx clients: configured reply", NS_INBOUND, "RCPT", NULL, TEST,
     MXC_ON "policyd_mx_unlisted_client_reply = 421 4.7.0 Not a registered mail server\n", ROLE_MX,
     "mx_client_denied", "421 4.7.0 Not a registered mail server", 1},
    {"mx clients: listed client still meets relay_denied", S25_RELAY, "RCPT", NULL, TEST, MXC_ON,
     ROLE_MX, "relay_denied", RELAY_REPLY, 1},
    {"mx clients: listed client still meets spoofed_sender", S25_INBOUND, "RCPT",
     "sender=alice@example.org", TEST, MXC_ON SPOOF_ON, ROLE_MX, "spoofed_sender", SPOOF_REPLY, 1},
    {"mx clients: listed client gets the mx filter", S25_INBOUND, "RCPT", NULL, TEST,
     MXC_ON MX_FILTER, ROLE_MX, "content_filter", "FILTER smtp-amavis:[127.0.0.1]:10024", 0},
    {"mx clients: the mx filter does not undo the refusal", NS_INBOUND, "RCPT", NULL, TEST,
     MXC_ON MX_FILTER, ROLE_MX, "mx_client_denied", MXC_REPLY, 1},

    /* content filters */
    {"mx filter at RCPT", S25_INBOUND, "RCPT", NULL, TEST, MX_FILTER, ROLE_MX, "content_filter",
     "FILTER smtp-amavis:[127.0.0.1]:10024", 0},
    {"mx filter for a local-network relay", S25_LOCAL, "RCPT", NULL, TEST, MX_FILTER, ROLE_MX,
     "content_filter", "FILTER smtp-amavis:[127.0.0.1]:10024", 0},
    {"mx filter not at MAIL", S25_INBOUND, "RCPT", "protocol_state=MAIL\nrecipient=", TEST,
     MX_FILTER, ROLE_MX, "default", DUNNO, 0},
    {"mx filter not at DATA", S25_INBOUND, "DATA", NULL, TEST, MX_FILTER, ROLE_MX, "default", DUNNO,
     0},
    {"mx filter not at END-OF-MESSAGE", S25_INBOUND, "END-OF-MESSAGE", NULL, TEST, MX_FILTER,
     ROLE_MX, "default", DUNNO, 0},
    {"mx filter does not undo a refusal", S25_RELAY, "RCPT", NULL, TEST, MX_FILTER, ROLE_MX,
     "relay_denied", RELAY_REPLY, 1},
    {"mx filter is not for submission", S587_AUTH, "RCPT", NULL, TEST, MX_FILTER, ROLE_SUBMISSION,
     "default", DUNNO, 0},
    {"mx filter is not for submissions", S465_AUTH, "RCPT", NULL, TEST, MX_FILTER, ROLE_SUBMISSIONS,
     "default", DUNNO, 0},
    {"submission filter", S587_AUTH, "RCPT", NULL, TEST, SUB_FILTER, ROLE_SUBMISSION,
     "content_filter", "FILTER scan:[127.0.0.1]:10026", 0},
    {"submission filter is not for mx", S25_INBOUND, "RCPT", NULL, TEST, SUB_FILTER, ROLE_MX,
     "default", DUNNO, 0},
    {"submission filter is not for submissions", S465_AUTH, "RCPT", NULL, TEST, SUB_FILTER,
     ROLE_SUBMISSIONS, "default", DUNNO, 0},
    {"submissions filter", S465_AUTH, "RCPT", NULL, TEST, SUBS_FILTER, ROLE_SUBMISSIONS,
     "content_filter", "FILTER scan:[127.0.0.1]:10027", 0},
    {"filter after a refusal on submission", S587_NOAUTH, "RCPT", NULL, TEST, SUB_FILTER,
     ROLE_SUBMISSION, "auth_required", AUTH_REPLY, 1},
    {"no filter for an unknown role", S25_INBOUND, "RCPT", "server_port=2525", TEST,
     MX_FILTER SUB_FILTER SUBS_FILTER, ROLE_NONE, "unknown_role", DUNNO, 1},
};

/* Load base + extra configuration through a temporary file. */
static struct policyd_conf *load_conf(enum base base, const char *extra, const char *ctx)
{
    const char *b = base == TEST ? conf_test : conf_defaults;
    size_t n = strlen(b) + (extra ? strlen(extra) : 0) + 1;
    char *text = malloc(n), *path;
    char err[CONF_ERR_LEN];
    struct policyd_conf *c;

    assert_non_null(text);
    snprintf(text, n, "%s%s", b, extra ? extra : "");
    path = fixture_tmpfile(text);
    c = policyd_conf_load(path, err, sizeof(err));
    unlink(path);
    free(path);
    free(text);
    if (c == NULL)
        fail_msg("%s: configuration refused: %s", ctx, err);
    return c;
}

static void test_rules_decide_every_rule_and_role(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const struct rule_case *t = &cases[i];
        struct policyd_conf *c = load_conf(t->base, t->conf, t->name);
        struct fixture_copy req;
        struct decision d;
        char path[512], ctx[300];
        int final;

        snprintf(path, sizeof(path), "%s/%s", FIXTURE_DIR, t->capture);
        fixture_request(path, t->state, &req);
        fixture_set_lines(&req, t->set);
        memset(&d, 0x55, sizeof(d));
        final = rules_decide(c, &req.r, &d);

        snprintf(ctx, sizeof(ctx), "%s: role", t->name);
        CHECK_STR(role_name(d.role), role_name(t->role), ctx);
        snprintf(ctx, sizeof(ctx), "%s: rule", t->name);
        CHECK_STR(d.rule, t->rule, ctx);
        snprintf(ctx, sizeof(ctx), "%s: action", t->name);
        CHECK_STR(d.action, t->action, ctx);
        snprintf(ctx, sizeof(ctx), "%s: final", t->name);
        CHECK_INT(final, t->final, ctx);
        fixture_copy_free(&req);
        policyd_conf_unref(c);
    }
    CHECK(sizeof(cases) / sizeof(cases[0]) >= 90, "rule cases: got %zu, want at least 90",
          sizeof(cases) / sizeof(cases[0]));
    check_done();
}

/* Write len bytes (NULs allowed) to a new temporary file; returns its path. */
static char *write_tmp(const char *bytes, size_t len)
{
    char *path = fixture_tmpfile("");
    FILE *fp = fopen(path, "wb");

    assert_non_null(fp);
    assert_int_equal(fwrite(bytes, 1, len, fp), len);
    assert_int_equal(fclose(fp), 0);
    return path;
}

/* Decide one mx RCPT from client through configuration c. */
static const char *decide_client(const struct policyd_conf *c, const char *client)
{
    static char rule[64];
    struct fixture_copy req;
    struct decision d;
    char path[512];

    snprintf(path, sizeof(path), "%s/%s", FIXTURE_DIR, S25_INBOUND);
    fixture_request(path, "RCPT", &req);
    fixture_set(&req, PA_CLIENT_ADDRESS, client);
    rules_decide(c, &req.r, &d);
    snprintf(rule, sizeof(rule), "%s", d.rule);
    fixture_copy_free(&req);
    return rule;
}

/* policyd_mx_allowed_clients_file: format, union with the inline list,
 * and the errors that refuse a configuration (at start-up and on SIGHUP). */
static void test_rules_mx_allowed_clients_file(void **state)
{
    static const char nul_file[] = "192.0.2.1\n198.51.100.0/24\0 10.0.0.1\n";
    static const struct {
        const char *name;
        const char *file; /* contents; NULL: nul_file */
        const char *inline_list;
        const char *client;
        const char *want_rule; /* NULL: the configuration is refused */
        const char *want_err;  /* in the error, after the path */
    } rows[] = {
        {"listed in the file", "# campus MX hosts\n\n192.0.2.25\n  198.51.100.0/24, # relay\n", "",
         "198.51.100.77", "default", NULL},
        {"host line of the file", "# campus MX hosts\n192.0.2.25\n", "", "192.0.2.25", "default",
         NULL},
        {"not in the file", "192.0.2.25\n198.51.100.0/24\n", "", "192.0.2.26", "mx_client_denied",
         NULL},
        {"commented-out entry does not count", "#192.0.2.26\n192.0.2.25 # 192.0.2.27\n", "",
         "192.0.2.27", "mx_client_denied", NULL},
        {"inline list and file add up", "192.0.2.25\n", "203.0.113.0/24", "203.0.113.5", "default",
         NULL},
        {"file entries with an inline list set", "192.0.2.25\n", "203.0.113.0/24", "192.0.2.25",
         "default", NULL},
        {"IPv6 and bracketed entries", "[2001:db8:25::]/64\n2001:db8:26::1\n", "", "2001:db8:25::9",
         "default", NULL},
        {"IPv4-mapped client of a file entry", "192.0.2.0/24\n", "", "::ffff:192.0.2.9", "default",
         NULL},
        {"no newline at the end", "192.0.2.25", "", "192.0.2.25", "default", NULL},
        {"bad entry names its line", "# list\n192.0.2.25\n10.0.0.1/8\n", "", NULL, NULL,
         ": line 3: \"10.0.0.1/8\" has host bits set beyond the prefix length"},
        {"not an address names its line", "192.0.2.25\nmx.example.org\n", "", NULL, NULL,
         ": line 2: \"mx.example.org\" is not an IPv4 or IPv6 address"},
        {"comments only is refused", "# nothing yet\n\n", "", NULL, NULL, ": no client listed"},
        {"empty file is refused", "", "", NULL, NULL, ": no client listed"},
        {"empty file with an inline list is fine", "", "192.0.2.25", "192.0.2.25", "default", NULL},
        {"NUL byte names its line", NULL, "", NULL, NULL, ": line 2: NUL byte"},
    };
    char err[CONF_ERR_LEN];

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *file = rows[i].file ? write_tmp(rows[i].file, strlen(rows[i].file))
                                  : write_tmp(nul_file, sizeof(nul_file) - 1);
        char conf[1024], want[1024];
        struct policyd_conf *c;
        char *cpath;

        snprintf(conf, sizeof(conf),
                 "policyd_local_domains = example.org\npolicyd_port_roles = 24025:mx\n"
                 "policyd_mx_allowed_clients = %s\npolicyd_mx_allowed_clients_file = %s\n",
                 rows[i].inline_list, file);
        cpath = fixture_tmpfile(conf);
        c = policyd_conf_load(cpath, err, sizeof(err));
        if (rows[i].want_rule) {
            if (CHECK(c != NULL, "%s: got error \"%s\", want the configuration loaded",
                      rows[i].name, err))
                CHECK_STR(decide_client(c, rows[i].client), rows[i].want_rule, rows[i].name);
        } else {
            snprintf(want, sizeof(want), "policyd_mx_allowed_clients_file = %s%s", file,
                     rows[i].want_err);
            if (CHECK(c == NULL, "%s: got the configuration loaded, want error \"%s\"",
                      rows[i].name, want))
                CHECK(strstr(err, want) == err, "%s: got error \"%s\", want \"%s...\"",
                      rows[i].name, err, want);
        }
        policyd_conf_unref(c);
        unlink(cpath);
        unlink(file);
        free(cpath);
        free(file);
    }
    check_done();
}

/* The file's limits and the path key's own checks. */
static void test_rules_mx_allowed_clients_file_errors(void **state)
{
    static const struct {
        const char *name;
        const char *value; /* of policyd_mx_allowed_clients_file; NULL: an oversized file */
        const char *want_err;
    } rows[] = {
        {"relative path", "mx-clients.txt",
         "policyd_mx_allowed_clients_file = mx-clients.txt: want an absolute path"},
        {"missing file", "/nonexistent/portreeve/mx-clients",
         "policyd_mx_allowed_clients_file = /nonexistent/portreeve/mx-clients: No such file"},
        {"directory", "/", "policyd_mx_allowed_clients_file = /: Is a directory"},
        {"file over 1 MiB", NULL, "larger than 1048576 bytes"},
    };
    char err[CONF_ERR_LEN];

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++) {
        char *big = NULL, *cpath, conf[512];
        struct policyd_conf *c;

        if (rows[i].value == NULL) {
            size_t n = ((size_t)1 << 20) + 1;
            char *bytes = malloc(n);
            assert_non_null(bytes);
            memset(bytes, ' ', n);
            memcpy(bytes, "192.0.2.25\n", 11);
            big = write_tmp(bytes, n);
            free(bytes);
        }
        snprintf(conf, sizeof(conf), "policyd_mx_allowed_clients_file = %s\n",
                 big ? big : rows[i].value);
        cpath = fixture_tmpfile(conf);
        c = policyd_conf_load(cpath, err, sizeof(err));
        if (CHECK(c == NULL, "%s: got the configuration loaded, want error \"%s\"", rows[i].name,
                  rows[i].want_err))
            CHECK(strstr(err, rows[i].want_err) != NULL, "%s: got error \"%s\", want \"%s\"",
                  rows[i].name, err, rows[i].want_err);
        policyd_conf_unref(c);
        unlink(cpath);
        free(cpath);
        if (big) {
            unlink(big);
            free(big);
        }
    }
    check_done();
}

/* A reload (SIGHUP loads the file again) sees the new file; the running
 * configuration keeps the list it was built with. */
static void test_rules_mx_allowed_clients_file_reload(void **state)
{
    char *file = write_tmp("192.0.2.25\n", 11), *cpath, conf[512];
    char err[CONF_ERR_LEN];
    struct policyd_conf *before, *after;
    FILE *fp;

    (void)state;
    snprintf(conf, sizeof(conf),
             "policyd_local_domains = example.org\npolicyd_port_roles = 24025:mx\n"
             "policyd_mx_allowed_clients_file = %s\n",
             file);
    cpath = fixture_tmpfile(conf);
    before = policyd_conf_load(cpath, err, sizeof(err));
    if (before == NULL)
        fail_msg("first load: got error \"%s\", want it loaded", err);
    fp = fopen(file, "a");
    assert_non_null(fp);
    fputs("192.0.2.26\n", fp);
    assert_int_equal(fclose(fp), 0);
    after = policyd_conf_load(cpath, err, sizeof(err));
    if (after == NULL)
        fail_msg("reload: got error \"%s\", want it loaded", err);
    CHECK_STR(decide_client(before, "192.0.2.26"), "mx_client_denied", "before reload, new host");
    CHECK_STR(decide_client(after, "192.0.2.26"), "default", "after reload, new host");
    CHECK_STR(decide_client(after, "192.0.2.25"), "default", "after reload, old host");
    CHECK_STR(decide_client(after, "192.0.2.27"), "mx_client_denied", "after reload, unlisted");
    policyd_conf_unref(before);
    policyd_conf_unref(after);
    unlink(cpath);
    unlink(file);
    free(cpath);
    free(file);
    check_done();
}

/* Protocol states by name, as Postfix writes them. */
static void test_rules_state_names(void **state)
{
    static const struct {
        const char *name;
        enum pstate want;
    } rows[] = {
        {"CONNECT", PSTATE_CONNECT},
        {"EHLO", PSTATE_EHLO},
        {"HELO", PSTATE_HELO},
        {"MAIL", PSTATE_MAIL},
        {"RCPT", PSTATE_RCPT},
        {"DATA", PSTATE_DATA},
        {"END-OF-MESSAGE", PSTATE_EOM},
        {"VRFY", PSTATE_VRFY},
        {"ETRN", PSTATE_ETRN},
        {"rcpt", PSTATE_RCPT},
        {"RCPT ", PSTATE_OTHER},
        {"RCP", PSTATE_OTHER},
        {"", PSTATE_OTHER},
        {"XCLIENT", PSTATE_OTHER},
        {"END-OF-MESSAGEX", PSTATE_OTHER},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        CHECK_INT(rules_state(rows[i].name, strlen(rows[i].name)), rows[i].want, rows[i].name);
    check_done();
}

/* Which recipients count as local for relaying. */
static void test_rules_recipient_locality(void **state)
{
    static const struct {
        const char *rcpt;
        int want;
    } rows[] = {
        {"alice@example.org", 1},
        {"alice@dept.campus.example.org", 1},
        {"alice@Example.Org", 1},
        {"postmaster", 1},
        {"alice@remote.example", 0},
        {"alice%remote.example@example.org", 0},
        {"remote.example!alice@example.org", 0},
        {"remote.example!alice", 0},
        {"alice%remote.example", 0},
        {"\"alice@remote.example\"@example.org", 0},
        {"@example.org:alice@remote.example", 0},
        {"@example.org,@relay.example:alice@example.org", 0},
        {"", 0},
        {"alice@", 0},
    };
    struct policyd_conf *c = load_conf(TEST, NULL, "locality");

    (void)state;
    for (size_t i = 0; i < sizeof(rows) / sizeof(rows[0]); i++)
        CHECK_INT(rules_recipient_is_local(c, rows[i].rcpt, strlen(rows[i].rcpt)), rows[i].want,
                  rows[i].rcpt);
    policyd_conf_unref(c);
    check_done();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_rules_decide_every_rule_and_role),
        cmocka_unit_test(test_rules_state_names),
        cmocka_unit_test(test_rules_recipient_locality),
        cmocka_unit_test(test_rules_mx_allowed_clients_file),
        cmocka_unit_test(test_rules_mx_allowed_clients_file_errors),
        cmocka_unit_test(test_rules_mx_allowed_clients_file_reload),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
