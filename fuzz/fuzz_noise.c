/*
 * fuzz_noise.c - the Noise layer's message reader (src/noise/) on
 * untrusted bytes. The first byte picks the case:
 *   0: an IK responder reads message 0 (ephemeral, encrypted static,
 *      encrypted payload);
 *   1: an XX responder reads message 0, answers, then reads the rest as
 *      message 2 (byte 1 says where message 0 ends);
 *   2: an XX initiator sends message 0 and reads the rest as message 1.
 * A message that is read must be no shorter than the pattern's overhead and
 * its payload exactly the rest; a failed state must stay failed. Keys and
 * ephemerals are fixed, so seeds made with them reach the AEAD checks.
 */
#include <stdlib.h>
#include <string.h>

#include "noise/noise.h"
#include "peerlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define IK "Noise_IK_25519_ChaChaPoly_BLAKE2b"
#define XX "Noise_XX_25519_ChaChaPoly_BLAKE2b"

static const uint8_t S_I[32] = {1}, S_R[32] = {2}, E_I[32] = {3}, E_R[32] = {4};

static int no_random(void *user, uint8_t *out, size_t len)
{
    (void)user;
    (void)out;
    (void)len;
    return 1;
}

static void read_checked(pl_noise_hs *hs, const uint8_t *msg, size_t len)
{
    static uint8_t out[PL_NOISE_MSG_MAX];
    size_t over = pl_noise_hs_overhead(hs), n = 0;
    int rc = pl_noise_hs_read(hs, msg, len, out, sizeof out, &n);
    if (rc == PL_OK) {
        if (len < over || n != len - over)
            abort();
        return;
    }
    if (rc != PL_ERR_PARSE && rc != PL_ERR_AUTH)
        abort();
    if (pl_noise_hs_read(hs, msg, len, out, sizeof out, &n) != rc) /* sticky */
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static uint8_t buf[PL_NOISE_MSG_MAX];
    if (!ready) {
        if (pl_init() != PL_OK)
            abort();
        ready = 1;
    }
    if (size < 1 || size > PL_NOISE_MSG_MAX)
        return 0;
    pl_noise_hs r, i;
    size_t n;
    switch (data[0] % 3) {
    case 0:
        if (pl_noise_hs_init(&r, IK, false, NULL, 0, S_R, NULL, NULL, 0, no_random, NULL) != PL_OK)
            abort();
        pl_noise_hs_fix_ephemeral(&r, E_R);
        read_checked(&r, data + 1, size - 1);
        break;
    case 1: {
        if (size < 2)
            return 0;
        size_t cut = data[1];
        if (cut > size - 2)
            cut = size - 2;
        if (pl_noise_hs_init(&r, XX, false, NULL, 0, S_R, NULL, NULL, 0, no_random, NULL) != PL_OK)
            abort();
        pl_noise_hs_fix_ephemeral(&r, E_R);
        read_checked(&r, data + 2, cut);
        if (r.err != PL_OK)
            break;
        /* A small-order ephemeral in message 0 is noticed here, at the DH. */
        int rc = pl_noise_hs_write(&r, NULL, 0, buf, sizeof buf, &n);
        if (rc == PL_ERR_AUTH) {
            if (pl_noise_hs_write(&r, NULL, 0, buf, sizeof buf, &n) != PL_ERR_AUTH)
                abort();
            break;
        }
        if (rc != PL_OK)
            abort();
        read_checked(&r, data + 2 + cut, size - 2 - cut);
        break;
    }
    default:
        if (pl_noise_hs_init(&i, XX, true, NULL, 0, S_I, NULL, NULL, 0, no_random, NULL) != PL_OK)
            abort();
        pl_noise_hs_fix_ephemeral(&i, E_I);
        if (pl_noise_hs_write(&i, NULL, 0, buf, sizeof buf, &n) != PL_OK)
            abort();
        read_checked(&i, data + 1, size - 1);
        break;
    }
    pl_noise_hs_wipe(&r);
    pl_noise_hs_wipe(&i);
    return 0;
}
