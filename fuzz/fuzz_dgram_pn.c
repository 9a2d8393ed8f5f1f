/*
 * fuzz_dgram_pn.c - the windowed packet-number decoder (src/dgram/). The
 * first 8 bytes are the receiver's largest packet number so far (all ones:
 * none), the rest the bytes on the wire. A decoded number must carry the
 * bits that were sent, be at most PL_DG_PN_MAX, and be the candidate
 * nearest to the one expected unless that would pass the limits.
 */
#include <stdlib.h>
#include <string.h>

#include "dgram/dgram_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 8)
        return 0;
    uint64_t rx = 0;
    for (int i = 0; i < 8; i++)
        rx = (rx << 8) | data[i];
    if (rx != PL_DG_PN_NONE)
        rx &= PL_DG_PN_MAX;
    uint64_t pn = 0;
    int k = pl_dg_pn_decode(data + 8, size - 8, rx, &pn);
    if (k < 0) {
        if (k != PL_ERR_PARSE)
            abort();
        return 0;
    }
    if (k < 1 || k > PL_DG_PN_BYTES || (size_t)k > size - 8 || pn > PL_DG_PN_MAX)
        abort();
    uint64_t w = 0;
    for (int i = 0; i < k; i++)
        w = (w << 7) | (data[8 + i] & 0x7f);
    uint64_t win = UINT64_C(1) << (7 * k);
    if ((pn & (win - 1)) != w)
        abort();
    uint64_t expected = rx == PL_DG_PN_NONE ? 0 : rx + 1;
    uint64_t dist = pn > expected ? pn - expected : expected - pn;
    /* nearest candidate, unless the nearer one would pass 0 or the limit */
    if (dist > win / 2 && pn >= win && pn + win <= PL_DG_PN_MAX)
        abort();
    /* what decodes re-encodes: as a full count it decodes from scratch */
    uint8_t b[PL_DG_PN_BYTES];
    int n = pl_dg_pn_encode(pn, PL_DG_PN_NONE, b, sizeof b);
    uint64_t again = 0;
    if (n < 0 || pl_dg_pn_decode(b, (size_t)n, PL_DG_PN_NONE, &again) != n || again != pn)
        abort();
    return 0;
}
