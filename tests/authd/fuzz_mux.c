/*
 * fuzz_mux.c - libFuzzer target for the saslauthd request decoder: feed the
 * input in two chunks split by its first byte; check the decoder's
 * invariants (never more consumed than given, lengths within limits).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "mux_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct mux_decoder d;
    size_t cut = size ? data[0] % (size + 1) : 0, u1 = 0, u2 = 0;

    mux_decoder_init(&d);
    if (mux_decode(&d, data, cut, &u1) == MUX_MORE)
        mux_decode(&d, data + u1, size - u1, &u2);
    if (u1 + u2 > size)
        abort();
    for (int i = 0; i < MUX_NFIELDS; i++)
        if (d.f[i].len > MUX_FIELD_MAX || (d.f[i].too_long && d.f[i].len))
            abort();
    mux_decoder_wipe(&d);
    return 0;
}
