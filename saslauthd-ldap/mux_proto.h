/*
 * mux_proto - the saslauthd wire protocol, sans I/O.
 *
 * Request (libsasl2 checkpw.c): four fields, each a 16-bit big-endian length
 * and that many bytes: login, password, service, realm. Reply: a 16-bit
 * length and text; only "OK..." means success. There is no way to say
 * "temporary failure" except hanging up without a reply.
 *
 * The decoder takes bytes in any split and says when the request is
 * complete. Every field is limited to MUX_FIELD_MAX bytes (as stock
 * saslauthd): a longer field is consumed but not stored, and flagged, so the
 * caller can answer NO rather than hang up. Fields may hold NUL bytes; the
 * caller refuses them. The password lives in the decoder: wipe it with
 * mux_decoder_wipe() when done. Library-safe, no allocation.
 */
#ifndef PORTREEVE_MUX_PROTO_H
#define PORTREEVE_MUX_PROTO_H

#include <stddef.h>
#include <stdint.h>

#define MUX_FIELD_MAX 256
#define MUX_REPLY_MAX 258 /* 2 + text */

enum mux_field_id { MUX_LOGIN, MUX_PASSWORD, MUX_SERVICE, MUX_REALM, MUX_NFIELDS };

struct mux_field {
    char buf[MUX_FIELD_MAX + 1]; /* NUL-terminated copy of the bytes (may hold NULs) */
    size_t len;
    int too_long; /* the sender's length was over MUX_FIELD_MAX */
};

struct mux_decoder {
    struct mux_field f[MUX_NFIELDS];
    unsigned field;   /* field being read */
    unsigned hdr_got; /* bytes of its length read so far (0..2) */
    uint8_t hdr[2];
    size_t want; /* its announced length */
    size_t got;  /* its bytes read so far */
    int done;
};

enum mux_status { MUX_MORE, MUX_DONE };

void mux_decoder_init(struct mux_decoder *d);
/* Feed bytes; *used says how many were taken (the rest follow the request). */
enum mux_status mux_decode(struct mux_decoder *d, const void *buf, size_t len, size_t *used);
/* Wipe every field (the password above all) with explicit_bzero. */
void mux_decoder_wipe(struct mux_decoder *d);
/* Encode a reply ("OK" or "NO reason"); returns its size, 0 if out is too small. */
size_t mux_encode_reply(uint8_t *out, size_t outlen, const char *text);
/* Encode a request (tests, benchmark); returns its size, 0 if it does not fit. */
size_t mux_encode_request(uint8_t *out, size_t outlen, const char *const fields[MUX_NFIELDS],
                          const size_t lens[MUX_NFIELDS]);

#endif
