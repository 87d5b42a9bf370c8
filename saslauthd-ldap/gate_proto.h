/*
 * gate_proto - the wire format between the SASL gate plugin (inside smtpd)
 * and portreeve-authd's gate socket, sans I/O. Shared by both sides.
 *
 * Request:  "PRG1" then four fields, each a 16-bit big-endian length and
 *           bytes: user (as libsasl canonicalised it), realm, service, and
 *           the client address as libsasl gives it ("addr;port").
 * Reply:    "PRG1", one code byte, then a 16-bit length and a text.
 *           Codes: 'P' proceed, 'T' temporarily locked, 'D' refused for good
 *           (bad login name).
 *
 * One request per connection; the pid of the smtpd process is not sent: the
 * daemon takes it from SO_PEERCRED, which the sender cannot forge.
 * Limits: GATE_FIELD_MAX per request field, GATE_TEXT_MAX for the reply
 * text; a longer length or a bad magic is an error (the plugin never sends
 * them). Library-safe: no allocation, no logging, no global state.
 */
#ifndef PORTREEVE_GATE_PROTO_H
#define PORTREEVE_GATE_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define GATE_MAGIC "PRG1"
#define GATE_FIELD_MAX 256
#define GATE_TEXT_MAX 200
#define GATE_REQUEST_MAX (4 + 4 * (2 + GATE_FIELD_MAX))
#define GATE_REPLY_MAX (4 + 1 + 2 + GATE_TEXT_MAX)

enum gate_field_id { GATE_USER, GATE_REALM, GATE_SERVICE, GATE_ADDR, GATE_NFIELDS };

enum gate_code { GATE_PROCEED = 'P', GATE_LOCKED = 'T', GATE_DENIED = 'D' };

enum gate_status { GATE_MORE, GATE_DONE, GATE_ERROR };

struct gate_field {
    char buf[GATE_FIELD_MAX + 1];
    size_t len;
};

/* Incremental decoder for either direction. */
struct gate_decoder {
    int reply; /* 0: decode a request, 1: a reply */
    unsigned stage;
    unsigned hdr_got;
    uint8_t hdr[4];
    size_t want, got;
    unsigned nfields;
    unsigned field;                    /* field being read */
    struct gate_field f[GATE_NFIELDS]; /* request fields; reply text in f[0] */
    int code;                          /* reply code */
    const char *error;                 /* static text after GATE_ERROR */
};

void gate_decoder_init(struct gate_decoder *d, int reply);
enum gate_status gate_decode(struct gate_decoder *d, const void *buf, size_t len, size_t *used);

/* Encoders; they return the size written, or 0 if a field is too long. */
size_t gate_encode_request(uint8_t *out, size_t outlen, const char *const fields[GATE_NFIELDS],
                           const size_t lens[GATE_NFIELDS]);
size_t gate_encode_reply(uint8_t *out, size_t outlen, enum gate_code code, const char *text);

#endif
