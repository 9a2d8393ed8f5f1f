/*
 * test_ed25519.c - the one Ed25519 policy against Wycheproof and the
 * ed25519-speccheck edge cases (docs/ed25519-policy.md gives each verdict).
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <sodium.h>

#include "peerlink.h"

static json_t *load_json(const char *rel)
{
    json_error_t err;
    json_t *j = json_load_file(tu_vector_path(rel), 0, &err);
    if (!j)
        fail_msg("%s: %s", rel, err.text);
    return j;
}

/* Decodes hex into a malloc'd buffer (at least one byte allocated). */
static uint8_t *unhex_alloc(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *b = malloc(n + 1);
    assert_non_null(b);
    *len = tu_unhex(hex, b, n + 1);
    return b;
}

static int policy_verify(const uint8_t *sig, size_t siglen, const uint8_t *msg, size_t msglen,
                         const uint8_t *pk, size_t pklen)
{
    if (siglen != PL_ED25519_SIG_LEN || pklen != PL_ED25519_PK_LEN)
        return PL_ERR_AUTH; /* wrong sizes never reach the verifier */
    return pl_ed25519_verify(sig, msg, msglen, pk);
}

static void wycheproof(void **state)
{
    (void)state;
    json_t *root = load_json("wycheproof/ed25519_test.json");
    size_t gi, ti, total = 0, valid = 0;
    json_t *group, *test;
    json_array_foreach(json_object_get(root, "testGroups"), gi, group)
    {
        size_t pklen;
        uint8_t *pk = unhex_alloc(
            json_string_value(json_object_get(json_object_get(group, "publicKey"), "pk")), &pklen);
        json_array_foreach(json_object_get(group, "tests"), ti, test)
        {
            size_t mlen, slen;
            uint8_t *msg = unhex_alloc(json_string_value(json_object_get(test, "msg")), &mlen);
            uint8_t *sig = unhex_alloc(json_string_value(json_object_get(test, "sig")), &slen);
            const char *result = json_string_value(json_object_get(test, "result"));
            int expect_ok = strcmp(result, "valid") == 0;
            int rc = policy_verify(sig, slen, msg, mlen, pk, pklen);
            if ((rc == PL_OK) != expect_ok)
                fail_msg("wycheproof tcId %lld: expected %s, got %d",
                         (long long)json_integer_value(json_object_get(test, "tcId")), result, rc);
            total++;
            valid += expect_ok;
            free(msg);
            free(sig);
        }
        free(pk);
    }
    assert_int_equal(total, 151);
    assert_int_equal(valid, 88);
    json_decref(root);
}

/* The policy's verdict for each of the 12 speccheck cases, with the reason
 * (cases numbered as in the file; see docs/ed25519-policy.md). */
static const struct {
    int accept;
    const char *why;
} speccheck_verdict[12] = {
    {0, "small-order A and R, S = 0"},
    {0, "small-order A, mixed-order R"},
    {0, "mixed-order A, small-order R"},
    {0, "mixed-order A and R, both equations hold"},
    {0, "mixed-order A and R, only the cofactored equation holds"},
    {0, "mixed-order A, only the cofactored equation holds"},
    {0, "S >= L: non-canonical S (S mod L would verify)"},
    {0, "S much larger than L: high bits of S set"},
    {0, "non-canonical R (x = 0 with the sign bit set), mixed-order A"},
    {0, "non-canonical R (x = 0 with the sign bit set), mixed-order A"},
    {0, "non-canonical A (x = 0 with the sign bit set)"},
    {0, "non-canonical A (x = 0 with the sign bit set)"},
};

/* OpenSSL's verdict, for the record in the test log. */
static int openssl_verify(const uint8_t *sig, const uint8_t *msg, size_t mlen, const uint8_t *pk)
{
    EVP_PKEY *key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pk, 32);
    if (!key)
        return 0;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = ctx && EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, key) == 1 &&
             EVP_DigestVerify(ctx, sig, 64, msg, mlen) == 1;
    EVP_MD_CTX_free(ctx);
    EVP_PKEY_free(key);
    return ok;
}

static void speccheck(void **state)
{
    (void)state;
    json_t *root = load_json("ed25519-speccheck/cases.json");
    size_t i;
    json_t *c;
    assert_int_equal(json_array_size(root), 12);
    json_array_foreach(root, i, c)
    {
        size_t mlen, pklen, slen;
        uint8_t *msg = unhex_alloc(json_string_value(json_object_get(c, "message")), &mlen);
        uint8_t *pk = unhex_alloc(json_string_value(json_object_get(c, "pub_key")), &pklen);
        uint8_t *sig = unhex_alloc(json_string_value(json_object_get(c, "signature")), &slen);
        assert_int_equal(pklen, 32);
        assert_int_equal(slen, 64);
        int ours = pl_ed25519_verify(sig, msg, mlen, pk) == PL_OK;
        int sodium = crypto_sign_verify_detached(sig, msg, mlen, pk) == 0;
        int ossl = openssl_verify(sig, msg, mlen, pk);
        printf("# speccheck %zu: policy %s, libsodium %s, OpenSSL %s (%s)\n", i,
               ours ? "accept" : "reject", sodium ? "accept" : "reject", ossl ? "accept" : "reject",
               speccheck_verdict[i].why);
        if (ours != speccheck_verdict[i].accept)
            fail_msg("speccheck case %zu (%s): policy verdict changed", i,
                     speccheck_verdict[i].why);
        free(msg);
        free(pk);
        free(sig);
    }
    json_decref(root);
}

/* A valid signature stops verifying after any single-bit change of the
 * signature, the message or the key. */
static void bit_flips(void **state)
{
    (void)state;
    uint8_t seed[32] = {1, 2, 3}, pk[32], sk[64], sig[64], msg[40] = "peerlink ed25519 policy";
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    assert_int_equal(pl_ed25519_verify(sig, msg, sizeof msg, pk), PL_OK);
    assert_int_equal(pl_ed25519_check_key(pk), PL_OK);
    for (size_t b = 0; b < 64 * 8; b++) {
        sig[b / 8] ^= (uint8_t)(1u << (b % 8));
        assert_int_equal(pl_ed25519_verify(sig, msg, sizeof msg, pk), PL_ERR_AUTH);
        sig[b / 8] ^= (uint8_t)(1u << (b % 8));
    }
    for (size_t b = 0; b < sizeof msg * 8; b++) {
        msg[b / 8] ^= (uint8_t)(1u << (b % 8));
        assert_int_equal(pl_ed25519_verify(sig, msg, sizeof msg, pk), PL_ERR_AUTH);
        msg[b / 8] ^= (uint8_t)(1u << (b % 8));
    }
    for (size_t b = 0; b < 32 * 8; b++) {
        pk[b / 8] ^= (uint8_t)(1u << (b % 8));
        assert_int_equal(pl_ed25519_verify(sig, msg, sizeof msg, pk), PL_ERR_AUTH);
        pk[b / 8] ^= (uint8_t)(1u << (b % 8));
    }
}

/* S + L verifies under a verifier that reduces S; the policy must not. */
static void malleated_s(void **state)
{
    (void)state;
    static const uint8_t L[32] = {0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7,
                                  0xa2, 0xde, 0xf9, 0xde, 0x14, 0,    0,    0,    0,    0,    0,
                                  0,    0,    0,    0,    0,    0,    0,    0,    0,    0x10};
    uint8_t seed[32] = {9}, pk[32], sk[64], sig[64], msg[3] = "abc";
    crypto_sign_seed_keypair(pk, sk, seed);
    crypto_sign_detached(sig, NULL, msg, sizeof msg, sk);
    unsigned carry = 0;
    for (int i = 0; i < 32; i++) {
        unsigned v = sig[32 + i] + L[i] + carry;
        sig[32 + i] = (uint8_t)v;
        carry = v >> 8;
    }
    if (carry == 0) /* S + L < 2^256: a real malleated signature */
        assert_int_equal(pl_ed25519_verify(sig, msg, sizeof msg, pk), PL_ERR_AUTH);
}

/* Keys the policy refuses outright: identity, small order, non-canonical. */
static void bad_keys(void **state)
{
    (void)state;
    uint8_t k[32] = {0};
    k[0] = 1; /* the neutral element (0, 1) */
    assert_int_equal(pl_ed25519_check_key(k), PL_ERR_AUTH);
    memset(k, 0, sizeof k); /* (x, 0): order 4 */
    assert_int_equal(pl_ed25519_check_key(k), PL_ERR_AUTH);
    memset(k, 0xff, sizeof k); /* y >= p */
    k[31] = 0x7f;
    assert_int_equal(pl_ed25519_check_key(k), PL_ERR_AUTH);
    k[0] = 0xee; /* y = p + 1: non-canonical encoding of y = 1 */
    memset(k + 1, 0xff, 30);
    k[31] = 0x7f;
    assert_int_equal(pl_ed25519_check_key(k), PL_ERR_AUTH);
}

/* Key-holder-made signatures on which verifiers disagree: the policy's
 * verdict is pinned, and the libraries' verdicts are checked so the test
 * shows the case is real (the equation holds). */
static void disputed_signatures(void **state)
{
    (void)state;
    uint8_t seed[32], pk[32], sig[64];
    const uint8_t msg[] = "hello";
    for (int i = 0; i < 32; i++)
        seed[i] = (uint8_t)i;

    tu_sign_identity_r(seed, msg, sizeof msg, pk, sig);
    assert_int_equal(pl_ed25519_check_key(pk), PL_OK);
    assert_int_equal(openssl_verify(sig, msg, sizeof msg, pk), 1); /* OpenSSL accepts */
    assert_int_not_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pk), 0);
    assert_int_equal(pl_ed25519_verify(sig, msg, sizeof msg, pk), PL_ERR_AUTH);

    for (int n = 0; n < 8; n++) {
        seed[0] = (uint8_t)n;
        tu_sign_mixed_order_key(seed, msg, sizeof msg, pk, sig);
        assert_int_equal(crypto_sign_verify_detached(sig, msg, sizeof msg, pk), 0);
        assert_int_equal(pl_ed25519_check_key(pk), PL_ERR_AUTH);
        assert_int_equal(pl_ed25519_verify(sig, msg, sizeof msg, pk), PL_ERR_AUTH);
    }
}

int main(void)
{
    if (pl_init() != PL_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wycheproof), cmocka_unit_test(speccheck),
        cmocka_unit_test(bit_flips),  cmocka_unit_test(malleated_s),
        cmocka_unit_test(bad_keys),   cmocka_unit_test(disputed_signatures),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
