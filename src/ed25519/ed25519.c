/*
 * ed25519.c - the one Ed25519 verification policy (DESIGN.md §2.3).
 *
 * libsodium and OpenSSL disagree on edge cases (small-order and mixed-order
 * keys, non-canonical encodings, S >= L). Every signature peerlink accepts
 * goes through pl_ed25519_verify, whose verdict is fixed here rather than
 * left to whichever backend version is installed:
 *
 *   1. S must be canonical: S < L (no malleability).
 *   2. A must be a canonical encoding of a point of the prime-order
 *      subgroup that is not of small order (honest keys always are).
 *   3. R must be a canonical encoding and not the neutral element. With A
 *      in the prime-order subgroup the recomputed R = [S]B - [k]A is in it
 *      too, so the neutral element is the only small-order R that could
 *      satisfy the equation (libsodium refuses it, OpenSSL accepts it).
 *   4. The cofactorless equation [S]B = R + [k]A, k = SHA-512(R||A||M).
 *
 * Each check is explicit so a libsodium upgrade cannot change a verdict;
 * tests/unit/test_ed25519.c pins the verdict of every speccheck and
 * Wycheproof case, and docs/ed25519-policy.md explains them.
 */
#include <sodium.h>

#include "peerlink.h"

/* L = 2^252 + 27742317777372353535851937790883648493, little-endian. */
static const uint8_t group_order[32] = {
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x10,
};

/* Little-endian a < b, constant time is not needed (public values). */
static int less_than(const uint8_t a[32], const uint8_t b[32])
{
    for (int i = 31; i >= 0; i--) {
        if (a[i] != b[i])
            return a[i] < b[i];
    }
    return 0;
}

/* y (the low 255 bits) < p = 2^255 - 19. */
static int canonical_y(const uint8_t enc[32])
{
    static const uint8_t p[32] = {
        0xed, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f,
    };
    uint8_t y[32];
    for (int i = 0; i < 32; i++)
        y[i] = enc[i];
    y[31] &= 0x7f;
    return less_than(y, p);
}

/* The neutral element (0, 1), canonically encoded. */
static int is_neutral(const uint8_t enc[32])
{
    uint8_t acc = (uint8_t)(enc[0] ^ 1);
    for (int i = 1; i < 32; i++)
        acc |= enc[i];
    return acc == 0;
}

int pl_ed25519_check_key(const uint8_t pk[PL_ED25519_PK_LEN])
{
    /* is_valid_point: canonical, on the curve, in the prime-order subgroup,
     * not of small order. */
    if (!canonical_y(pk) || crypto_core_ed25519_is_valid_point(pk) != 1)
        return PL_ERR_AUTH;
    return PL_OK;
}

int pl_ed25519_verify(const uint8_t sig[PL_ED25519_SIG_LEN], const uint8_t *msg, size_t len,
                      const uint8_t pk[PL_ED25519_PK_LEN])
{
    if (!less_than(sig + 32, group_order) || !canonical_y(sig) || is_neutral(sig) ||
        !canonical_y(pk))
        return PL_ERR_AUTH;
    if (crypto_sign_verify_detached(sig, msg, len, pk) != 0)
        return PL_ERR_AUTH;
    /* The subgroup check costs about as much as the verification itself;
     * doing it last means a forged signature is refused at the price of
     * one verification. The verdict is the same in either order. */
    if (pl_ed25519_check_key(pk) != PL_OK)
        return PL_ERR_AUTH;
    return PL_OK;
}
