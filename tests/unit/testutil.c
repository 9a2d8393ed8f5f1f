/* testutil.c - helpers for the cmocka unit tests. */
#define _GNU_SOURCE
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

const char *tu_vector_path(const char *rel)
{
    static char path[4096];
    const char *dir = getenv("PL_VECTORS");
    if (!dir)
        dir = "../shared/vectors";
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return path;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = (size_t)n;
    return buf;
}

static int hv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t tu_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap)
        fail_msg("bad hex length %zu", n);
    for (size_t i = 0; i < n / 2; i++) {
        int a = hv(hex[2 * i]), b = hv(hex[2 * i + 1]);
        if (a < 0 || b < 0)
            fail_msg("bad hex digit");
        out[i] = (uint8_t)(a << 4 | b);
    }
    return n / 2;
}

char *tu_tmpdir(void)
{
    char *t = strdup("/tmp/pltest-XXXXXX");
    assert_non_null(t);
    assert_non_null(mkdtemp(t));
    return t;
}

static int rm1(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void tu_rmrf(const char *path)
{
    nftw(path, rm1, 16, FTW_DEPTH | FTW_PHYS);
}

/* a = the clamped secret scalar of seed; A = [a]B (the public key). */
static void secret_scalar(const uint8_t seed[32], uint8_t a[32], uint8_t A[32])
{
    uint8_t h[64];
    crypto_hash_sha512(h, seed, 32);
    h[0] &= 248;
    h[31] &= 127;
    h[31] |= 64;
    memcpy(a, h, 32);
    assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(A, a), 0);
}

/* k = SHA-512(R || A || M) mod L */
static void challenge(const uint8_t R[32], const uint8_t A[32], const uint8_t *msg, size_t len,
                      uint8_t k[32])
{
    uint8_t h[64];
    crypto_hash_sha512_state st;
    crypto_hash_sha512_init(&st);
    crypto_hash_sha512_update(&st, R, 32);
    crypto_hash_sha512_update(&st, A, 32);
    crypto_hash_sha512_update(&st, msg, len);
    crypto_hash_sha512_final(&st, h);
    crypto_core_ed25519_scalar_reduce(k, h);
}

void tu_sign_mixed_order_key(const uint8_t seed[32], const uint8_t *msg, size_t len, uint8_t pk[32],
                             uint8_t sig[64])
{
    /* T: a point of order 8 (speccheck's small-order R). */
    uint8_t T[32], a[32], A[32];
    tu_unhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a", T, 32);
    secret_scalar(seed, a, A);
    assert_int_equal(crypto_core_ed25519_add(pk, A, T), 0);
    /* Guess t = k mod 8, set R = [r]B - [t]T; when the guess is right,
     * [S]B = R + [k](A + T) with S = r + k*a. One try in eight succeeds. */
    for (int tries = 0; tries < 1000; tries++) {
        uint8_t r[32], R[32], tT[32], k[32], ka[32];
        unsigned t = (unsigned)tries % 8;
        crypto_core_ed25519_scalar_random(r);
        assert_int_equal(crypto_scalarmult_ed25519_base_noclamp(R, r), 0);
        if (t > 0) {
            memcpy(tT, T, 32);
            for (unsigned i = 1; i < t; i++)
                assert_int_equal(crypto_core_ed25519_add(tT, tT, T), 0);
            assert_int_equal(crypto_core_ed25519_sub(R, R, tT), 0);
        }
        challenge(R, pk, msg, len, k);
        /* Verifiers multiply by k mod L; T has order 8, so [k]T = [k mod 8]T. */
        if ((k[0] & 7) != t)
            continue;
        crypto_core_ed25519_scalar_mul(ka, k, a);
        memcpy(sig, R, 32);
        crypto_core_ed25519_scalar_add(sig + 32, r, ka);
        if (crypto_sign_verify_detached(sig, msg, len, pk) == 0)
            return;
    }
    fail_msg("could not make a mixed-order-key signature");
}

void tu_sign_identity_r(const uint8_t seed[32], const uint8_t *msg, size_t len, uint8_t pk[32],
                        uint8_t sig[64])
{
    uint8_t a[32], k[32];
    secret_scalar(seed, a, pk);
    memset(sig, 0, 64);
    sig[0] = 1; /* R = (0, 1) */
    challenge(sig, pk, msg, len, k);
    crypto_core_ed25519_scalar_mul(sig + 32, k, a); /* [S]B = [k]A = R + [k]A */
}
