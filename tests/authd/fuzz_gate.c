/*
 * fuzz_gate.c - libFuzzer target for the gate decoder, both directions (the
 * first byte picks request or reply and the split point); checks that
 * consumption and field lengths stay within bounds and that a decoded
 * request re-encodes to the same bytes.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gate_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct gate_decoder d;
    int reply;
    size_t cut, u1 = 0, u2 = 0;
    enum gate_status st;

    if (size < 1)
        return 0;
    reply = data[0] & 1;
    data++;
    size--;
    cut = size ? (size_t)(data[0 % size] % (size + 1)) : 0;
    gate_decoder_init(&d, reply);
    st = gate_decode(&d, data, cut, &u1);
    if (st == GATE_MORE)
        st = gate_decode(&d, data + u1, size - u1, &u2);
    if (u1 + u2 > size)
        abort();
    for (unsigned i = 0; i < d.nfields; i++)
        if (d.f[i].len > GATE_FIELD_MAX)
            abort();
    if (st == GATE_DONE && !reply) {
        uint8_t out[GATE_REQUEST_MAX];
        const char *f[GATE_NFIELDS];
        size_t l[GATE_NFIELDS], n;
        for (int i = 0; i < GATE_NFIELDS; i++) {
            f[i] = d.f[i].buf;
            l[i] = d.f[i].len;
        }
        n = gate_encode_request(out, sizeof(out), f, l);
        if (n != u1 + u2 || memcmp(out, data, n) != 0)
            abort();
    }
    return 0;
}
