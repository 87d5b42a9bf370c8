/*
 * gate_proto.c - gate request/reply decoder and encoders (see gate_proto.h).
 *
 * Public: gate_decoder_init, gate_decode, gate_encode_request,
 * gate_encode_reply. The decoder is a small state machine over
 * magic -> [code] -> (length, bytes)*; it stops at the first error and keeps
 * a static reason in d->error.
 */
#include "gate_proto.h"

#include <string.h>

enum { ST_MAGIC, ST_CODE, ST_LEN, ST_BYTES, ST_DONE, ST_ERROR };

void gate_decoder_init(struct gate_decoder *d, int reply)
{
    memset(d, 0, sizeof(*d));
    d->reply = reply;
    d->nfields = reply ? 1 : GATE_NFIELDS;
    d->stage = ST_MAGIC;
}

/* Record an error and stop. */
static enum gate_status gate_fail(struct gate_decoder *d, const char *why)
{
    d->stage = ST_ERROR;
    d->error = why;
    return GATE_ERROR;
}

/* One field finished: advance to the next or to the end. */
static void gate_field_done(struct gate_decoder *d)
{
    d->f[d->field].len = d->want;
    d->f[d->field].buf[d->want] = '\0';
    d->field++;
    d->stage = d->field == d->nfields ? ST_DONE : ST_LEN;
    d->hdr_got = 0;
}

enum gate_status gate_decode(struct gate_decoder *d, const void *buf, size_t len, size_t *used)
{
    const uint8_t *p = buf;
    size_t i = 0;
    size_t max = d->reply ? GATE_TEXT_MAX : GATE_FIELD_MAX;

    *used = 0;
    if (d->stage == ST_ERROR)
        return GATE_ERROR;
    while (i < len && d->stage != ST_DONE) {
        switch (d->stage) {
        case ST_MAGIC:
            d->hdr[d->hdr_got++] = p[i++];
            if (d->hdr_got == 4) {
                if (memcmp(d->hdr, GATE_MAGIC, 4) != 0)
                    return gate_fail(d, "bad magic");
                d->hdr_got = 0;
                d->stage = d->reply ? ST_CODE : ST_LEN;
            }
            break;
        case ST_CODE:
            d->code = p[i++];
            if (d->code != GATE_PROCEED && d->code != GATE_LOCKED && d->code != GATE_DENIED)
                return gate_fail(d, "bad reply code");
            d->stage = ST_LEN;
            break;
        case ST_LEN:
            d->hdr[d->hdr_got++] = p[i++];
            if (d->hdr_got == 2) {
                d->want = ((size_t)d->hdr[0] << 8) | d->hdr[1];
                d->got = 0;
                if (d->want > max)
                    return gate_fail(d, "field too long");
                d->stage = ST_BYTES;
                if (d->want == 0)
                    gate_field_done(d);
            }
            break;
        case ST_BYTES: {
            size_t n = d->want - d->got;
            if (n > len - i)
                n = len - i;
            memcpy(d->f[d->field].buf + d->got, p + i, n);
            d->got += n;
            i += n;
            if (d->got == d->want)
                gate_field_done(d);
            break;
        }
        default:
            break;
        }
    }
    *used = i;
    return d->stage == ST_DONE ? GATE_DONE : GATE_MORE;
}

/* Append a length-prefixed field. */
static int gate_put(uint8_t *out, size_t outlen, size_t *o, const char *s, size_t n, size_t max)
{
    if (n > max || outlen - *o < n + 2)
        return -1;
    out[(*o)++] = (uint8_t)(n >> 8);
    out[(*o)++] = (uint8_t)(n & 0xff);
    memcpy(out + *o, s, n);
    *o += n;
    return 0;
}

size_t gate_encode_request(uint8_t *out, size_t outlen, const char *const fields[GATE_NFIELDS],
                           const size_t lens[GATE_NFIELDS])
{
    size_t o = 4;

    if (outlen < 4)
        return 0;
    memcpy(out, GATE_MAGIC, 4);
    for (int i = 0; i < GATE_NFIELDS; i++)
        if (gate_put(out, outlen, &o, fields[i], lens[i], GATE_FIELD_MAX) < 0)
            return 0;
    return o;
}

size_t gate_encode_reply(uint8_t *out, size_t outlen, enum gate_code code, const char *text)
{
    size_t o = 5;

    if (outlen < 5)
        return 0;
    memcpy(out, GATE_MAGIC, 4);
    out[4] = (uint8_t)code;
    if (gate_put(out, outlen, &o, text, strlen(text), GATE_TEXT_MAX) < 0)
        return 0;
    return o;
}
