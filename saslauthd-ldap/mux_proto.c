/*
 * mux_proto.c - saslauthd wire protocol decoder and encoders (see
 * mux_proto.h for the contract).
 *
 * Public: mux_decoder_init, mux_decode, mux_decoder_wipe, mux_encode_reply,
 * mux_encode_request. The input is untrusted: every announced length is
 * honoured for framing but only MUX_FIELD_MAX bytes are ever stored.
 */
#include "mux_proto.h"

#include <string.h>

void mux_decoder_init(struct mux_decoder *d)
{
    memset(d, 0, sizeof(*d));
}

void mux_decoder_wipe(struct mux_decoder *d)
{
    explicit_bzero(d, sizeof(*d));
}

enum mux_status mux_decode(struct mux_decoder *d, const void *buf, size_t len, size_t *used)
{
    const uint8_t *p = buf;
    size_t i = 0;

    while (!d->done && i < len) {
        struct mux_field *f = &d->f[d->field];
        if (d->hdr_got < 2) {
            d->hdr[d->hdr_got++] = p[i++];
            if (d->hdr_got == 2) {
                d->want = ((size_t)d->hdr[0] << 8) | d->hdr[1];
                d->got = 0;
                f->too_long = d->want > MUX_FIELD_MAX;
            }
        } else {
            size_t n = d->want - d->got;
            if (n > len - i)
                n = len - i;
            /* Store only what fits; an over-long field is just counted. */
            if (!f->too_long)
                memcpy(f->buf + d->got, p + i, n);
            d->got += n;
            i += n;
        }
        if (d->hdr_got == 2 && d->got == d->want) {
            f->len = f->too_long ? 0 : d->want;
            f->buf[f->len] = '\0';
            d->hdr_got = 0;
            if (++d->field == MUX_NFIELDS)
                d->done = 1;
        }
    }
    *used = i;
    return d->done ? MUX_DONE : MUX_MORE;
}

size_t mux_encode_reply(uint8_t *out, size_t outlen, const char *text)
{
    size_t n = strlen(text);

    if (n > MUX_REPLY_MAX - 2 || outlen < n + 2)
        return 0;
    out[0] = (uint8_t)(n >> 8);
    out[1] = (uint8_t)(n & 0xff);
    memcpy(out + 2, text, n);
    return n + 2;
}

size_t mux_encode_request(uint8_t *out, size_t outlen, const char *const fields[MUX_NFIELDS],
                          const size_t lens[MUX_NFIELDS])
{
    size_t o = 0;

    for (int i = 0; i < MUX_NFIELDS; i++) {
        if (lens[i] > 0xffff || outlen - o < lens[i] + 2)
            return 0;
        out[o++] = (uint8_t)(lens[i] >> 8);
        out[o++] = (uint8_t)(lens[i] & 0xff);
        memcpy(out + o, fields[i], lens[i]);
        o += lens[i];
    }
    return o;
}
