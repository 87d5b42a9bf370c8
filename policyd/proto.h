/*
 * proto - sans-I/O parser for the Postfix policy delegation protocol.
 *
 * Bytes in, requests out: the caller feeds whatever read() returned with
 * proto_feed() and takes complete requests with proto_next(). Limits are
 * enforced on input that is still arriving, so a peer cannot make us buffer
 * an endless line: the line length, the number of attributes in a request
 * and the bytes of a request are checked byte by byte as they come in.
 *
 * Framing (SMTPD_POLICY_README): "name=value" lines ending in "\n", a
 * request ends with an empty line. A "\r" before "\n" is dropped so that
 * people can talk to the daemon with telnet. Names must not be empty, values
 * may be. Unknown names are ignored (but counted against the limits); for a
 * duplicate name the first value wins. A NUL byte, a line without "=", or a
 * request whose "request" attribute is missing or is not
 * "smtpd_access_policy" is a protocol error.
 *
 * After an error the parser stays in the error state: the caller logs
 * proto_error() once and closes the connection without a reply, as the
 * Postfix contract asks.
 *
 * Memory: nothing is allocated while the connection is idle; the buffer
 * grows with the request being received and is released when it drains.
 * A request returned by proto_next() points into that buffer and stays
 * valid until the next call of proto_feed() or proto_next().
 */
#ifndef PORTREEVE_PROTO_H
#define PORTREEVE_PROTO_H

#include <stddef.h>

/* The attributes we use; everything else is parsed and ignored. */
enum proto_attr {
    PA_REQUEST,
    PA_PROTOCOL_STATE,
    PA_PROTOCOL_NAME,
    PA_CLIENT_ADDRESS,
    PA_CLIENT_NAME,
    PA_CLIENT_PORT,
    PA_REVERSE_CLIENT_NAME,
    PA_SERVER_ADDRESS,
    PA_SERVER_PORT,
    PA_HELO_NAME,
    PA_SENDER,
    PA_RECIPIENT,
    PA_RECIPIENT_COUNT,
    PA_QUEUE_ID,
    PA_INSTANCE,
    PA_SIZE,
    PA_ETRN_DOMAIN,
    PA_STRESS,
    PA_SASL_METHOD,
    PA_SASL_USERNAME,
    PA_SASL_SENDER,
    PA_CCERT_SUBJECT,
    PA_CCERT_ISSUER,
    PA_CCERT_FINGERPRINT,
    PA_CCERT_PUBKEY_FINGERPRINT,
    PA_ENCRYPTION_PROTOCOL,
    PA_ENCRYPTION_CIPHER,
    PA_ENCRYPTION_KEYSIZE,
    PA_POLICY_CONTEXT,
    PA_COMPATIBILITY_LEVEL, /* Postfix 3.8 */
    PA_MAIL_VERSION,        /* Postfix 3.8 */
    PA_TLS_SNI,             /* Postfix 3.12 */
    PA_COUNT
};

/* A value: NUL-terminated, len excludes the NUL. Absent values are "". */
struct proto_value {
    const char *ptr;
    size_t len;
};

struct proto_request {
    struct proto_value v[PA_COUNT];
    unsigned long long present; /* bit (1 << attr) set when the attribute was sent */
    size_t attrs;               /* attributes in the request, known or not */
    size_t bytes;               /* bytes of the request including the empty line */
};

struct proto_limits {
    size_t max_line;    /* longest "name=value", without the newline */
    size_t max_attrs;   /* attributes per request */
    size_t max_request; /* bytes per request, empty line included */
};

enum proto_status {
    PROTO_AGAIN = 0,   /* need more bytes */
    PROTO_REQUEST = 1, /* *req holds a complete request */
    PROTO_ERROR = -1,  /* protocol violation; see proto_error() */
};

struct proto;

struct proto *proto_new(const struct proto_limits *limits);
void proto_free(struct proto *p);
/* Take bytes from the peer. Returns PROTO_AGAIN, or PROTO_ERROR when they
 * break the syntax or a limit (the bytes are then discarded). */
enum proto_status proto_feed(struct proto *p, const char *buf, size_t len);
/* Take the next complete request, in order. */
enum proto_status proto_next(struct proto *p, struct proto_request *req);
/* Why the parser failed; "" when it has not. */
const char *proto_error(const struct proto *p);
/* Bytes held for requests not yet complete or not yet taken. */
size_t proto_buffered(const struct proto *p);
/* Name of an attribute, for logs and tests. */
const char *proto_attr_name(enum proto_attr a);
/* Look up an attribute by name; returns PA_COUNT if unknown. */
enum proto_attr proto_attr_lookup(const char *name, size_t len);

static inline const char *proto_get(const struct proto_request *req, enum proto_attr a)
{
    return req->v[a].ptr;
}

#endif
