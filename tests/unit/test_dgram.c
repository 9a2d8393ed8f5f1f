/*
 * test_dgram.c - the datagram transport's packet layer (src/dgram/):
 *   - Wycheproof XChaCha20-Poly1305 through libsodium and through our
 *     packet protection (subkey once, IETF ChaCha20-Poly1305 per packet),
 *     which must be bit-identical to XChaCha20-Poly1305 for any packet
 *     number, with libsodium alone and with OpenSSL's ChaCha20-Poly1305;
 *   - Wycheproof X25519 through the DH the Noise layer uses (a zero shared
 *     secret, from a low-order key, is refused);
 *   - windowed packet numbers: lengths, round trips from every reference a
 *     receiver may hold, malformed encodings;
 *   - the replay window;
 *   - the responder's cookies, used-cookie record, proof of work, global
 *     load and per-source accounting (decay, prefixes, the rule, bounds).
 */
#include "testutil.h"

#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dgram/dgram_int.h"
#include "noise/noise.h"
#include "peerlink.h"

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    assert_true(n % 2 == 0 && n / 2 <= cap);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned b;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        out[i] = (uint8_t)b;
    }
    return n / 2;
}

static json_t *load(const char *rel)
{
    json_error_t jerr;
    json_t *root = json_load_file(tu_vector_path(rel), 0, &jerr);
    assert_non_null(root);
    return root;
}

/* ---- XChaCha20-Poly1305 ---------------------------------------------- */

static void wycheproof_xchacha(void **state)
{
    (void)state;
    json_t *root = load("wycheproof/xchacha20_poly1305_test.json");
    static uint8_t key[32], iv[64], aad[4096], msg[4096], ct[4096 + 16], out[4096 + 16];
    unsigned valid = 0, invalid = 0, other_iv = 0;
    size_t gi, ti;
    json_t *g, *t;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g)
    {
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            const char *result = json_string_value(json_object_get(t, "result"));
            size_t kl = unhex(json_string_value(json_object_get(t, "key")), key, sizeof key);
            size_t ivl = unhex(json_string_value(json_object_get(t, "iv")), iv, sizeof iv);
            size_t al = unhex(json_string_value(json_object_get(t, "aad")), aad, sizeof aad);
            size_t ml = unhex(json_string_value(json_object_get(t, "msg")), msg, sizeof msg);
            size_t cl = unhex(json_string_value(json_object_get(t, "ct")), ct, sizeof ct);
            size_t tl = unhex(json_string_value(json_object_get(t, "tag")), ct + cl, 16);
            bool ok = strcmp(result, "valid") == 0;
            assert_int_equal(kl, 32);
            if (ivl != PL_DG_IVLEN) {
                /* our API takes a 24-byte IV by type; such vectors cannot
                 * be expressed, and they are all invalid */
                assert_false(ok);
                other_iv++;
                continue;
            }
            unsigned long long n = 0;
            int so = crypto_aead_xchacha20poly1305_ietf_decrypt(out, &n, NULL, ct, cl + tl, aad, al,
                                                                iv, key);
            /* libsodium alone, then with OpenSSL's context */
            for (int evp = 0; evp < 2; evp++) {
                pl_dg_aead a;
                if (evp)
                    assert_int_equal(pl_dg_aead_init_evp(&a, key, iv), PL_OK);
                else
                    pl_dg_aead_init(&a, key, iv);
                int rc = tl == 16 ? pl_dg_open(&a, 0, aad, al, ct, cl + tl, out) : PL_ERR_AUTH;
                if (ok) {
                    assert_int_equal(so, 0);
                    assert_int_equal(rc, PL_OK);
                    assert_int_equal(cl, ml);
                    assert_memory_equal(out, msg, ml);
                    assert_int_equal(pl_dg_seal(&a, 0, aad, al, msg, ml, out), PL_OK);
                    assert_memory_equal(out, ct, cl + 16);
                } else {
                    assert_int_not_equal(so, 0);
                    assert_true(rc == PL_ERR_AUTH || rc == PL_ERR_PARSE);
                }
                pl_dg_aead_wipe(&a);
            }
            if (ok)
                valid++;
            else
                invalid++;
        }
    }
    json_decref(root);
    printf("# wycheproof XChaCha20-Poly1305: %u valid, %u invalid, %u with another IV size\n",
           valid, invalid, other_iv);
    assert_int_equal(valid + invalid + other_iv, 315);
    assert_true(valid > 200 && invalid >= 60);
}

/* For any packet number, our protection is XChaCha20-Poly1305 with nonce
 * IV ^ (0^16 || pn little-endian). */
static void protection_is_xchacha(void **state)
{
    (void)state;
    uint8_t key[32], iv[24], nonce[24], msg[300], a1[316], a2[316], back[300];
    randombytes_buf(key, sizeof key);
    randombytes_buf(iv, sizeof iv);
    randombytes_buf(msg, sizeof msg);
    pl_dg_aead a;
    pl_dg_aead_init(&a, key, iv);
    const uint64_t pns[] = {0, 1, 2, 255, 256, 65535, UINT64_C(1) << 32, PL_DG_PN_MAX};
    for (size_t i = 0; i < sizeof pns / sizeof pns[0]; i++) {
        for (size_t len = 0; len <= sizeof msg; len += 75) {
            memcpy(nonce, iv, 24);
            for (int b = 0; b < 8; b++)
                nonce[16 + b] ^= (uint8_t)(pns[i] >> (8 * b));
            unsigned long long cl = 0;
            assert_int_equal(crypto_aead_xchacha20poly1305_ietf_encrypt(
                                 a1, &cl, msg, len, (const uint8_t *)"hdr", 3, NULL, nonce, key),
                             0);
            assert_int_equal(pl_dg_seal(&a, pns[i], (const uint8_t *)"hdr", 3, msg, len, a2),
                             PL_OK);
            assert_memory_equal(a1, a2, len + 16);
            assert_int_equal(pl_dg_open(&a, pns[i], (const uint8_t *)"hdr", 3, a2, len + 16, back),
                             PL_OK);
            if (len)
                assert_memory_equal(back, msg, len);
            /* another packet number, header or bit: refused */
            assert_int_equal(
                pl_dg_open(&a, pns[i] ^ 1, (const uint8_t *)"hdr", 3, a2, len + 16, back),
                PL_ERR_AUTH);
            assert_int_equal(pl_dg_open(&a, pns[i], (const uint8_t *)"hdx", 3, a2, len + 16, back),
                             PL_ERR_AUTH);
            a2[len / 2] ^= 0x20;
            assert_int_equal(pl_dg_open(&a, pns[i], (const uint8_t *)"hdr", 3, a2, len + 16, back),
                             PL_ERR_AUTH);
        }
    }
    assert_int_equal(pl_dg_open(&a, 0, NULL, 0, a2, 15, back), PL_ERR_PARSE);
    pl_dg_aead_wipe(&a);
}

/* With OpenSSL's context (payloads of PL_DG_EVP_MIN bytes and up), the
 * same bytes as libsodium's XChaCha20-Poly1305 on either side of the
 * threshold, with and without a header, in place; a refused packet leaves
 * zeroes, never unauthenticated plaintext; a moved state is freed once. */
static void protection_evp_same_bytes(void **state)
{
    (void)state;
    static uint8_t key[32], iv[24], nonce[24], hdr[13], msg[2100], ref[2116], pkt[2116], back[2116];
    randombytes_buf(key, sizeof key);
    randombytes_buf(iv, sizeof iv);
    randombytes_buf(hdr, sizeof hdr);
    randombytes_buf(msg, sizeof msg);
    pl_dg_aead a, moved;
    assert_int_equal(pl_dg_aead_init_evp(&a, key, iv), PL_OK);
    assert_non_null(a.evp);
    pl_dg_aead_init(&moved, key, iv);
    const size_t lens[] = {0,    1,    64,  PL_DG_EVP_MIN - 1, PL_DG_EVP_MIN, PL_DG_EVP_MIN + 1,
                           1000, 1373, 2100};
    const uint64_t pns[] = {0, 1, 256, UINT64_C(0x123456789a), PL_DG_PN_MAX};
    for (size_t p = 0; p < sizeof pns / sizeof pns[0]; p++) {
        memcpy(nonce, iv, 24);
        for (int b = 0; b < 8; b++)
            nonce[16 + b] ^= (uint8_t)(pns[p] >> (8 * b));
        for (size_t i = 0; i < sizeof lens / sizeof lens[0]; i++) {
            size_t len = lens[i];
            for (size_t hl = 0; hl <= sizeof hdr; hl += sizeof hdr) {
                unsigned long long cl = 0;
                assert_int_equal(crypto_aead_xchacha20poly1305_ietf_encrypt(ref, &cl, msg, len, hdr,
                                                                            hl, NULL, nonce, key),
                                 0);
                assert_int_equal(pl_dg_seal(&a, pns[p], hdr, hl, msg, len, pkt), PL_OK);
                assert_memory_equal(pkt, ref, len + 16);
                /* in place, both ways */
                memcpy(back, msg, len);
                assert_int_equal(pl_dg_seal(&a, pns[p], hdr, hl, back, len, back), PL_OK);
                assert_memory_equal(back, ref, len + 16);
                assert_int_equal(pl_dg_open(&a, pns[p], hdr, hl, back, len + 16, back), PL_OK);
                if (len)
                    assert_memory_equal(back, msg, len);
                /* refused: a flipped bit anywhere, another packet number */
                pkt[(len + 16) * p / 5] ^= 0x01;
                memset(back, 0xee, len);
                assert_int_equal(pl_dg_open(&a, pns[p], hdr, hl, pkt, len + 16, back), PL_ERR_AUTH);
                for (size_t k = 0; k < len; k++)
                    assert_int_equal(back[k], 0);
                pkt[(len + 16) * p / 5] ^= 0x01;
                assert_int_equal(pl_dg_open(&a, pns[p] + 1, hdr, hl, pkt, len + 16, back),
                                 PL_ERR_AUTH);
                /* and the context still works after a refusal */
                assert_int_equal(pl_dg_open(&a, pns[p], hdr, hl, pkt, len + 16, back), PL_OK);
                if (len)
                    assert_memory_equal(back, msg, len);
            }
        }
    }
    pl_dg_aead_move(&moved, &a);
    assert_null(a.evp);
    assert_non_null(moved.evp);
    assert_int_equal(pl_dg_seal(&moved, 7, hdr, sizeof hdr, msg, 1000, pkt), PL_OK);
    assert_int_equal(pl_dg_open(&moved, 7, hdr, sizeof hdr, pkt, 1016, back), PL_OK);
    assert_memory_equal(back, msg, 1000);
    pl_dg_aead_wipe(&a);
    pl_dg_aead_wipe(&moved);
}

/* ---- X25519 -------------------------------------------------------------- */

static bool all_zero(const uint8_t *p, size_t n)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < n; i++)
        acc |= p[i];
    return acc == 0;
}

static void wycheproof_x25519(void **state)
{
    (void)state;
    json_t *root = load("wycheproof/x25519_test.json");
    unsigned agreed = 0, refused = 0;
    size_t gi, ti;
    json_t *g, *t;
    json_array_foreach(json_object_get(root, "testGroups"), gi, g)
    {
        json_array_foreach(json_object_get(g, "tests"), ti, t)
        {
            uint8_t pub[32], priv[32], shared[32], out[32];
            const char *result = json_string_value(json_object_get(t, "result"));
            assert_int_equal(unhex(json_string_value(json_object_get(t, "public")), pub, 32), 32);
            assert_int_equal(unhex(json_string_value(json_object_get(t, "private")), priv, 32), 32);
            assert_int_equal(unhex(json_string_value(json_object_get(t, "shared")), shared, 32),
                             32);
            assert_true(strcmp(result, "invalid") != 0); /* none in this file */
            int rc = pl_noise_dh(priv, pub, out);
            if (all_zero(shared, 32)) {
                /* a low-order public key: we refuse rather than agree on 0 */
                assert_int_equal(rc, PL_ERR_AUTH);
                refused++;
            } else {
                assert_int_equal(rc, PL_OK);
                assert_memory_equal(out, shared, 32);
                agreed++;
            }
        }
    }
    json_decref(root);
    printf("# wycheproof X25519: %u agreed, %u low-order keys refused\n", agreed, refused);
    assert_int_equal(agreed + refused, 518);
    assert_true(refused > 0);
}

/* ---- windowed packet numbers ------------------------------------------- */

static void pn_lengths(void **state)
{
    (void)state;
    /* before any acknowledgement the window holds the full count: the
     * first 128 packets take one byte */
    assert_int_equal(pl_dg_pn_len(0, PL_DG_PN_NONE), 1);
    assert_int_equal(pl_dg_pn_len(127, PL_DG_PN_NONE), 1);
    assert_int_equal(pl_dg_pn_len(128, PL_DG_PN_NONE), 2);
    assert_int_equal(pl_dg_pn_len(16383, PL_DG_PN_NONE), 2);
    assert_int_equal(pl_dg_pn_len(16384, PL_DG_PN_NONE), 3);
    /* afterwards: 32 times the distance from the largest acknowledged */
    assert_int_equal(pl_dg_pn_len(1000004, 1000000), 1);
    assert_int_equal(pl_dg_pn_len(1000005, 1000000), 2);
    assert_int_equal(pl_dg_pn_len(1000512, 1000000), 2);
    assert_int_equal(pl_dg_pn_len(1000513, 1000000), 3);
    assert_int_equal(pl_dg_pn_len(PL_DG_PN_MAX, PL_DG_PN_NONE), 9);
    assert_int_equal(pl_dg_pn_len(PL_DG_PN_MAX, 0), 9);
    uint8_t b[PL_DG_PN_BYTES];
    assert_int_equal(pl_dg_pn_encode(300, PL_DG_PN_NONE, b, sizeof b), 2);
    assert_int_equal(b[0], 0x80 | (300 >> 7));
    assert_int_equal(b[1], 300 & 0x7f);
    assert_int_equal(pl_dg_pn_encode(300, PL_DG_PN_NONE, b, 1), PL_ERR_BUFSIZE);
    assert_int_equal(pl_dg_pn_encode(5, 5, b, sizeof b), PL_ERR_INVAL);
    assert_int_equal(pl_dg_pn_encode(PL_DG_PN_MAX + 1, 0, b, sizeof b), PL_ERR_INVAL);
}

/* Every receiver reference between the sender's largest acknowledged and
 * far beyond the packet (a late one) decodes to the packet sent. */
static void pn_round_trips(void **state)
{
    (void)state;
    uint8_t b[PL_DG_PN_BYTES];
    uint64_t got;
    unsigned checked = 0;
    const uint64_t bases[] = {
        0, 100, 127, 128, 5000, 16383, 16384, 1u << 20, UINT64_C(1) << 40, PL_DG_PN_MAX - 70000};
    const uint64_t gaps[] = {1, 2, 4, 5, 100, 511, 512, 513, 65535};
    for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
        for (size_t j = 0; j < sizeof gaps / sizeof gaps[0]; j++) {
            uint64_t acked = bases[i], pn = acked + gaps[j];
            int k = pl_dg_pn_encode(pn, acked, b, sizeof b);
            assert_true(k > 0);
            uint64_t win = UINT64_C(1) << (7 * k);
            /* receivers that have seen anything from acked up to pn + the
             * window's margin share (packets sent after, arriving first) */
            uint64_t lo = acked, hi = pn + win / PL_DG_PN_MARGIN;
            for (uint64_t rx = lo; rx <= hi; rx += (hi - lo) / 50 + 1) {
                assert_int_equal(pl_dg_pn_decode(b, (size_t)k, rx, &got), k);
                assert_true(got == pn);
                checked++;
            }
        }
    }
    /* from the first packet, before any acknowledgement */
    for (uint64_t pn = 0; pn < 20000; pn += 7) {
        int k = pl_dg_pn_encode(pn, PL_DG_PN_NONE, b, sizeof b);
        assert_int_equal(pl_dg_pn_decode(b, (size_t)k, pn ? pn - 1 : PL_DG_PN_NONE, &got), k);
        assert_true(got == pn);
        assert_int_equal(pl_dg_pn_decode(b, (size_t)k, PL_DG_PN_NONE, &got), k);
        assert_true(got == pn);
        checked++;
    }
    printf("# %u packet-number decodings\n", checked);
}

static void pn_malformed(void **state)
{
    (void)state;
    uint8_t b[12];
    uint64_t got;
    memset(b, 0x80, sizeof b);
    assert_int_equal(pl_dg_pn_decode(b, 0, 0, &got), PL_ERR_PARSE);
    assert_int_equal(pl_dg_pn_decode(b, 1, 0, &got), PL_ERR_PARSE);  /* cut after a continuation */
    assert_int_equal(pl_dg_pn_decode(b, 12, 0, &got), PL_ERR_PARSE); /* a tenth byte */
    /* nine bytes of ones: 2^63 - 1, above the largest packet number */
    memset(b, 0xff, 8);
    b[8] = 0x7f;
    assert_int_equal(pl_dg_pn_decode(b, 9, 0, &got), PL_ERR_PARSE);
    b[0] = 0x05;
    assert_int_equal(pl_dg_pn_decode(b, 1, 0, &got), 1);
    assert_true(got == 5);
}

/* ---- replay window ------------------------------------------------------- */

static void replay_window(void **state)
{
    (void)state;
    pl_dg_replay r;
    pl_dg_replay_init(&r);
    assert_true(pl_dg_replay_fresh(&r, 0));
    pl_dg_replay_mark(&r, 0);
    assert_false(pl_dg_replay_fresh(&r, 0));
    assert_true(pl_dg_replay_fresh(&r, 1));
    pl_dg_replay_mark(&r, 5);
    assert_true(pl_dg_replay_fresh(&r, 3)); /* late but new */
    pl_dg_replay_mark(&r, 3);
    assert_false(pl_dg_replay_fresh(&r, 3));
    assert_false(pl_dg_replay_fresh(&r, 5));
    assert_false(pl_dg_replay_fresh(&r, 0)); /* still remembered */
    /* jumps by every shift size keep exactly the marks inside the window */
    for (uint64_t step = 1; step < 3 * PL_DG_REPLAY_WINDOW; step = step * 3 + 1) {
        pl_dg_replay_init(&r);
        uint64_t base = 1000;
        pl_dg_replay_mark(&r, base);
        pl_dg_replay_mark(&r, base + 1);
        pl_dg_replay_mark(&r, base + step + 1);
        for (uint64_t pn = base; pn <= base + step + 1; pn++) {
            bool marked = pn == base || pn == base + 1 || pn == base + step + 1;
            bool inside = base + step + 1 - pn < PL_DG_REPLAY_WINDOW;
            assert_int_equal(pl_dg_replay_fresh(&r, pn), inside && !marked);
        }
    }
    /* too old: refused even if never seen */
    pl_dg_replay_init(&r);
    pl_dg_replay_mark(&r, 5000);
    assert_false(pl_dg_replay_fresh(&r, 5000 - PL_DG_REPLAY_WINDOW));
    assert_true(pl_dg_replay_fresh(&r, 5000 - PL_DG_REPLAY_WINDOW + 1));
}

/* ---- cookies, proof of work, load ------------------------------------------ */

static int seq_random(void *user, uint8_t *out, size_t len)
{
    uint8_t *c = user;
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(*c * 31 + i);
    (*c)++;
    return 0;
}

static int bad_random(void *user, uint8_t *out, size_t len)
{
    (void)user;
    (void)out;
    (void)len;
    return 1;
}

static void cookies(void **state)
{
    (void)state;
    pl_dg_cookie_keys k;
    uint8_t ctr = 1, bind[PL_DG_BIND_LEN] = {9}, other[PL_DG_BIND_LEN] = {8};
    const uint8_t addr[] = {127, 0, 0, 1, 0x1f, 0x90}, addr2[] = {127, 0, 0, 2, 0x1f, 0x90};
    uint8_t c[PL_DG_COOKIE_LEN], c2[PL_DG_COOKIE_LEN];
    uint64_t t = 1800000000;
    assert_int_equal(pl_dg_cookie_keys_init(&k, t, seq_random, &ctr), PL_OK);
    assert_int_equal(pl_dg_cookie_make(&k, addr, sizeof addr, bind, c), PL_OK);
    assert_int_equal(pl_dg_cookie_check(&k, addr, sizeof addr, bind, c), PL_OK);
    assert_int_equal(pl_dg_cookie_check(&k, addr2, sizeof addr2, bind, c), PL_ERR_AUTH);
    assert_int_equal(pl_dg_cookie_check(&k, addr, sizeof addr, other, c), PL_ERR_AUTH);
    for (size_t bit = 32; bit < PL_DG_COOKIE_LEN * 8; bit++) { /* every MAC bit */
        memcpy(c2, c, sizeof c2);
        c2[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        assert_int_equal(pl_dg_cookie_check(&k, addr, sizeof addr, bind, c2), PL_ERR_AUTH);
    }
    memcpy(c2, c, sizeof c2);
    c2[3] ^= 1; /* another epoch: refused before any hash */
    assert_int_equal(pl_dg_cookie_check(&k, addr, sizeof addr, bind, c2), PL_ERR_EXPIRED);
    /* one rotation: still good; a cookie of the new epoch differs */
    assert_int_equal(pl_dg_cookie_rotate(&k, t + PL_DG_COOKIE_ROTATE, seq_random, &ctr), PL_OK);
    assert_int_equal(pl_dg_cookie_check(&k, addr, sizeof addr, bind, c), PL_OK);
    assert_int_equal(pl_dg_cookie_make(&k, addr, sizeof addr, bind, c2), PL_OK);
    assert_memory_not_equal(c, c2, sizeof c);
    /* two: stale */
    assert_int_equal(pl_dg_cookie_rotate(&k, t + 2 * PL_DG_COOKIE_ROTATE, seq_random, &ctr), PL_OK);
    assert_int_equal(pl_dg_cookie_check(&k, addr, sizeof addr, bind, c), PL_ERR_EXPIRED);
    assert_int_equal(pl_dg_cookie_check(&k, addr, sizeof addr, bind, c2), PL_OK);
    /* a jump of many epochs forgets the previous secret too */
    assert_int_equal(pl_dg_cookie_rotate(&k, t + 10 * PL_DG_COOKIE_ROTATE, seq_random, &ctr),
                     PL_OK);
    assert_int_equal(pl_dg_cookie_check(&k, addr, sizeof addr, bind, c2), PL_ERR_EXPIRED);
    assert_int_equal(pl_dg_cookie_make(&k, addr, 0, bind, c), PL_ERR_INVAL);
    assert_int_equal(pl_dg_cookie_rotate(&k, t + 11 * PL_DG_COOKIE_ROTATE, bad_random, NULL),
                     PL_ERR_INTERNAL);
    assert_int_equal(pl_dg_cookie_keys_init(&k, t, bad_random, NULL), PL_ERR_INTERNAL);
    pl_dg_cookie_keys_wipe(&k);
}

static void used_once(void **state)
{
    (void)state;
    pl_dg_used u;
    uint8_t c[PL_DG_COOKIE_LEN];
    assert_int_equal(pl_dg_used_init(&u, 100), PL_OK);
    memset(c, 0, sizeof c);
    c[3] = 7; /* epoch 7 */
    for (unsigned i = 0; i < 100; i++) {
        randombytes_buf(c + 4, PL_DG_COOKIE_MAC);
        assert_int_equal(pl_dg_used_add(&u, c), PL_OK);
        assert_int_equal(pl_dg_used_add(&u, c), PL_ERR_EXIST);
    }
    randombytes_buf(c + 4, PL_DG_COOKIE_MAC);
    assert_int_equal(pl_dg_used_add(&u, c), PL_ERR_TOOBIG); /* full: refused, not forgotten */
    c[3] = 8; /* the next epoch has its own generation */
    assert_int_equal(pl_dg_used_add(&u, c), PL_OK);
    c[3] = 9; /* epoch 9 takes over epoch 7's generation */
    assert_int_equal(pl_dg_used_add(&u, c), PL_OK);
    c[3] = 7; /* and an epoch-7 cookie can no longer wipe it */
    assert_int_equal(pl_dg_used_add(&u, c), PL_ERR_EXPIRED);
    memset(c + 4, 0, PL_DG_COOKIE_MAC);
    c[3] = 9;
    assert_int_equal(pl_dg_used_add(&u, c), PL_ERR_INVAL);
    pl_dg_used_free(&u);
}

static void proof_of_work(void **state)
{
    (void)state;
    uint8_t c[PL_DG_COOKIE_LEN] = {1, 2, 3}, bind[PL_DG_BIND_LEN] = {4};
    uint64_t nonce = 0;
    assert_true(pl_dg_pow_ok(c, bind, 12345, 0));
    assert_false(pl_dg_pow_ok(c, bind, 12345, PL_DG_POW_MAX + 1));
    for (unsigned bits = 1; bits <= 14; bits++) {
        assert_int_equal(pl_dg_pow_solve(c, bind, bits, 0, UINT64_C(1) << 24, &nonce), PL_OK);
        assert_true(pl_dg_pow_ok(c, bind, nonce, bits));
        /* the work is bound to the cookie and the HELLO */
        uint8_t c2[PL_DG_COOKIE_LEN];
        memcpy(c2, c, sizeof c2);
        c2[5] ^= 1;
        uint8_t bind2[PL_DG_BIND_LEN] = {5};
        if (bits >= 10) { /* fixed inputs: no chance involved once it passes */
            assert_false(pl_dg_pow_ok(c2, bind, nonce, bits));
            assert_false(pl_dg_pow_ok(c, bind2, nonce, bits));
        }
    }
    assert_int_equal(pl_dg_pow_solve(c, bind, 30, 0, 10, &nonce), PL_ERR_TOOBIG);
    assert_int_equal(pl_dg_pow_solve(c, bind, PL_DG_POW_MAX + 1, 0, 10, &nonce), PL_ERR_INVAL);
}

static void load_difficulty(void **state)
{
    (void)state;
    pl_dg_load l;
    pl_dg_load_init(&l, 1000); /* 1000 handshakes/s */
    uint64_t t = 5000;
    assert_int_equal(pl_dg_load_bits(&l, t), 0);
    /* 300/s: below half the capacity, no work asked */
    for (int w = 0; w < 10; w++, t += PL_DG_LOAD_WINDOW_MS)
        for (int i = 0; i < 30; i++)
            pl_dg_load_note(&l, t + (uint64_t)i);
    assert_int_equal(pl_dg_load_bits(&l, t), 0);
    /* 800/s: one more bit per window */
    unsigned prev = 0;
    for (int w = 0; w < 6; w++, t += PL_DG_LOAD_WINDOW_MS) {
        for (int i = 0; i < 80; i++)
            pl_dg_load_note(&l, t + (uint64_t)i);
        unsigned b = pl_dg_load_bits(&l, t + PL_DG_LOAD_WINDOW_MS);
        assert_true(b == prev + 1 || (w == 0 && b <= 1));
        prev = b;
    }
    assert_true(prev >= 5);
    /* 200/s: coming down a bit per window */
    for (int i = 0; i < 20; i++)
        pl_dg_load_note(&l, t + (uint64_t)i);
    assert_int_equal(pl_dg_load_bits(&l, t + PL_DG_LOAD_WINDOW_MS), prev - 1);
    /* a quiet second: none at all */
    assert_int_equal(pl_dg_load_bits(&l, t + 2000), 0);
    /* it never passes the most that is asked */
    pl_dg_load_init(&l, 10);
    for (int w = 0; w < 100; w++, t += PL_DG_LOAD_WINDOW_MS)
        for (int i = 0; i < 10; i++)
            pl_dg_load_note(&l, t + (uint64_t)i);
    assert_int_equal(pl_dg_load_bits(&l, t), PL_DG_POW_MAX);
}

/* ---- per-source accounting ------------------------------------------------- */

static void v4(uint8_t out[6], uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    out[0] = a;
    out[1] = b;
    out[2] = c;
    out[3] = d;
    out[4] = (uint8_t)(port >> 8);
    out[5] = (uint8_t)port;
}

static void srcload_make(pl_dg_srcload *s, unsigned capacity, uint8_t seed)
{
    uint8_t ctr = seed;
    assert_int_equal(pl_dg_srcload_init(s, capacity, seq_random, &ctr), PL_OK);
}

static uint32_t prefix_cost(const pl_dg_srcload *s, const uint8_t *a, size_t n, uint64_t t)
{
    return pl_dg_srcload_cost(s, a, n, PL_DG_SRC_PREFIX, t);
}

static uint32_t host_cost(const pl_dg_srcload *s, const uint8_t *a, size_t n, uint64_t t)
{
    return pl_dg_srcload_cost(s, a, n, PL_DG_SRC_HOST, t);
}

/* Costs add up, then halve every 2 s in steps of 2^(-1/4) per 500 ms. */
static void srcload_decay(void **state)
{
    (void)state;
    pl_dg_srcload s;
    uint8_t a[6];
    srcload_make(&s, 2000, 1);
    v4(a, 192, 0, 2, 1, 4000);
    const uint64_t t = 1000000; /* a tick boundary */
    assert_int_equal(prefix_cost(&s, a, 6, t), 0);
    pl_dg_srcload_note(&s, a, 6, 600, t);
    pl_dg_srcload_note(&s, a, 6, 400, t + 10);
    assert_int_equal(prefix_cost(&s, a, 6, t + 499), 1000); /* the same tick: no decay */
    assert_int_equal(host_cost(&s, a, 6, t + 499), 1000);
    assert_int_equal(prefix_cost(&s, a, 6, t + 500), 1000 * 55109 / 65536);
    assert_int_equal(prefix_cost(&s, a, 6, t + 1000), 1000 * 46341 / 65536);
    assert_int_equal(prefix_cost(&s, a, 6, t + 1500), 1000 * 38968 / 65536);
    assert_int_equal(prefix_cost(&s, a, 6, t + 2000), 500);
    assert_int_equal(prefix_cost(&s, a, 6, t + 4000), 250);
    assert_int_equal(prefix_cost(&s, a, 6, t + 4500), 250 * 55109 / 65536);
    assert_int_equal(prefix_cost(&s, a, 6, t + 64000), 0); /* 32 half-lives: forgotten */
    /* a cost noted later decays from then: the older part has halved */
    pl_dg_srcload_note(&s, a, 6, 1000, t + 2000);
    assert_int_equal(prefix_cost(&s, a, 6, t + 2000), 1500);
    assert_int_equal(prefix_cost(&s, a, 6, t + 4000), 750);
    /* saturates instead of wrapping */
    pl_dg_srcload_note(&s, a, 6, UINT32_MAX, t + 4000);
    pl_dg_srcload_note(&s, a, 6, UINT32_MAX, t + 4000);
    assert_int_equal(prefix_cost(&s, a, 6, t + 4000), UINT32_MAX);
    /* a clock that went back forgets rather than asks more */
    assert_int_equal(prefix_cost(&s, a, 6, t), 0);
    pl_dg_srcload_free(&s);
    assert_null(s.b);
}

/* IPv4 /24 and IPv6 /48 make a prefix, /32 and /64 a host; the port is
 * never part of either; another length is all but its last 2 bytes. */
static void srcload_prefixes(void **state)
{
    (void)state;
    pl_dg_srcload s;
    const uint64_t t = 7000;
    srcload_make(&s, 2000, 2);
    uint8_t a[6], same_host[6], same_prefix[6], other[6];
    v4(a, 198, 51, 100, 7, 1000);
    v4(same_host, 198, 51, 100, 7, 2000);
    v4(same_prefix, 198, 51, 100, 200, 1000);
    v4(other, 198, 51, 101, 7, 1000);
    pl_dg_srcload_note(&s, a, 6, 100, t);
    pl_dg_srcload_note(&s, same_host, 6, 10, t);
    pl_dg_srcload_note(&s, same_prefix, 6, 1, t);
    assert_int_equal(prefix_cost(&s, a, 6, t), 111);
    assert_int_equal(prefix_cost(&s, same_prefix, 6, t), 111);
    assert_int_equal(host_cost(&s, a, 6, t), 110);
    assert_int_equal(host_cost(&s, same_host, 6, t), 110);
    assert_int_equal(host_cost(&s, same_prefix, 6, t), 1);
    assert_int_equal(prefix_cost(&s, other, 6, t), 0);
    assert_int_equal(host_cost(&s, other, 6, t), 0);

    uint8_t x[18] = {0x20, 0x01, 0x0d, 0xb8, 0x00, 0x01}, y[18], z[18], w[18];
    x[15] = 1;
    memcpy(y, x, 18);
    y[15] = 99;   /* another host address in the same /64 */
    y[16] = 0x77; /* and another port */
    memcpy(z, x, 18);
    z[7] = 1; /* another /64 in the same /48 */
    memcpy(w, x, 18);
    w[5] = 2; /* another /48 */
    pl_dg_srcload_note(&s, x, 18, 40, t);
    pl_dg_srcload_note(&s, y, 18, 2, t);
    pl_dg_srcload_note(&s, z, 18, 300, t);
    assert_int_equal(prefix_cost(&s, x, 18, t), 342);
    assert_int_equal(prefix_cost(&s, z, 18, t), 342);
    assert_int_equal(host_cost(&s, x, 18, t), 42);
    assert_int_equal(host_cost(&s, y, 18, t), 42);
    assert_int_equal(host_cost(&s, z, 18, t), 300);
    assert_int_equal(prefix_cost(&s, w, 18, t), 0);
    /* the first 4 bytes of an IPv6 address are not an IPv4 address */
    uint8_t four[6];
    memcpy(four, x, 4);
    four[4] = four[5] = 0;
    assert_int_equal(prefix_cost(&s, four, 6, t), 0);

    /* any other length: the address is all but the last 2 bytes, whole */
    uint8_t o[5] = {1, 2, 3, 4, 5}, o_port[5] = {1, 2, 3, 9, 9}, o_addr[5] = {1, 2, 4, 4, 5};
    pl_dg_srcload_note(&s, o, 5, 7, t);
    assert_int_equal(prefix_cost(&s, o_port, 5, t), 7);
    assert_int_equal(host_cost(&s, o_port, 5, t), 7);
    assert_int_equal(prefix_cost(&s, o_addr, 5, t), 0);
    uint8_t tiny[1] = {9};
    pl_dg_srcload_note(&s, tiny, 1, 3, t);
    assert_int_equal(prefix_cost(&s, tiny, 1, t), 3);
    pl_dg_srcload_free(&s);
}

/* The rule: extra = max(floor(log2(prefix / B)), floor(log2(4 host / B)))
 * in [0, 8], B = capacity * 2885 / 1000; asked on top of the global bits,
 * or alone when it reaches 2; at most PL_DG_POW_MAX in all. */
static void srcload_rule(void **state)
{
    (void)state;
    pl_dg_srcload s;
    const uint64_t t = 3000;
    srcload_make(&s, 100, 3);
    assert_int_equal(s.budget, 288);
    uint8_t light[6], heavy[6], mid[6], near[6], huge[6];
    v4(light, 10, 1, 0, 1, 5000);
    v4(heavy, 10, 2, 0, 1, 5000);
    v4(mid, 10, 3, 0, 1, 5000);
    v4(near, 10, 2, 0, 2, 5000); /* heavy's prefix, another host */
    v4(huge, 10, 4, 0, 1, 5000);
    /* an idle node: nothing asked of anyone */
    assert_int_equal(pl_dg_srcload_bits(&s, 0, light, 6, t), 0);
    assert_int_equal(pl_dg_srcload_bits(&s, 0, heavy, 6, t), 0);
    /* one handshake and a cookie: well within the share */
    pl_dg_srcload_note(&s, light, 6, PL_DG_COST_COOKIE, t);
    pl_dg_srcload_note(&s, light, 6, PL_DG_COST_PK, t);
    assert_int_equal(pl_dg_srcload_extra(&s, light, 6, t), 0);
    assert_int_equal(pl_dg_srcload_bits(&s, 0, light, 6, t), 0);
    assert_int_equal(pl_dg_srcload_bits(&s, 3, light, 6, t), 3);
    /* 100 handshakes: prefix 1600 / 288 = 5.6 -> 2; host 6400 / 288 = 22 -> 4 */
    for (int i = 0; i < 100; i++)
        pl_dg_srcload_note(&s, heavy, 6, PL_DG_COST_PK, t);
    assert_int_equal(pl_dg_srcload_extra(&s, heavy, 6, t), 4);
    assert_int_equal(pl_dg_srcload_extra(&s, near, 6, t), 2); /* the prefix's share only */
    assert_int_equal(pl_dg_srcload_bits(&s, 0, heavy, 6, t), 4);
    assert_int_equal(pl_dg_srcload_bits(&s, 0, near, 6, t), 2);
    assert_int_equal(pl_dg_srcload_bits(&s, 3, heavy, 6, t), 7);
    assert_int_equal(pl_dg_srcload_bits(&s, 3, light, 6, t), 3);
    /* extra 1 (host 200: 800 / 288 = 2.8): asked under load, not when idle */
    pl_dg_srcload_note(&s, mid, 6, 200, t);
    assert_int_equal(pl_dg_srcload_extra(&s, mid, 6, t), 1);
    assert_int_equal(pl_dg_srcload_bits(&s, 0, mid, 6, t), 0);
    assert_int_equal(pl_dg_srcload_bits(&s, 1, mid, 6, t), 2);
    /* clipped: 8 extra at most, PL_DG_POW_MAX in all */
    pl_dg_srcload_note(&s, huge, 6, 10000000, t);
    assert_int_equal(pl_dg_srcload_extra(&s, huge, 6, t), PL_DG_SRC_EXTRA_MAX);
    assert_int_equal(pl_dg_srcload_bits(&s, 0, huge, 6, t), PL_DG_SRC_EXTRA_MAX);
    assert_int_equal(pl_dg_srcload_bits(&s, 30, huge, 6, t), PL_DG_POW_MAX);
    /* and it passes: 20 s later the heavy source is back to nothing */
    assert_int_equal(pl_dg_srcload_bits(&s, 0, heavy, 6, t + 20000), 0);
    assert_int_equal(pl_dg_srcload_extra(&s, heavy, 6, t + 20000), 0);
    pl_dg_srcload_free(&s);
    /* a tiny capacity still has a budget */
    srcload_make(&s, 0, 4);
    assert_int_equal(s.budget, 2);
    pl_dg_srcload_free(&s);
    uint8_t ctr = 0;
    assert_int_equal(pl_dg_srcload_init(&s, 100, bad_random, &ctr), PL_ERR_INTERNAL);
    assert_null(s.b);
    pl_dg_srcload_free(&s);
}

/* The table never grows: a flood of distinct prefixes only overestimates,
 * a heavy source's cost does not spill onto others, and the buckets a
 * source lands in depend on the table's key. */
static void srcload_bounded(void **state)
{
    (void)state;
    pl_dg_srcload s, s2;
    const uint64_t t = 9000;
    srcload_make(&s, 2000, 5);
    srcload_make(&s2, 2000, 6);
    assert_memory_not_equal(s.key, s2.key, sizeof s.key);
    assert_true(sizeof(pl_dg_src_bucket) * PL_DG_SRC_ROWS * PL_DG_SRC_BUCKETS <= 64 * 1024);
    const pl_dg_src_bucket *table = s.b;
    uint8_t a[6], heavy[6];
    v4(heavy, 203, 0, 113, 1, 443);
    pl_dg_srcload_note(&s, heavy, 6, 1000000, t);
    pl_dg_srcload_note(&s2, heavy, 6, 1000000, t);
    /* 2^16 sources in 2^16 prefixes, 1 each: 16 per bucket on average */
    for (unsigned i = 0; i < 65536; i++) {
        v4(a, 100, (uint8_t)(i >> 8), (uint8_t)i, 1, 1);
        pl_dg_srcload_note(&s, a, 6, 1, t);
    }
    assert_ptr_equal(s.b, table);
    unsigned spilled = 0, over = 0, under = 0;
    for (unsigned i = 0; i < 65536; i++) {
        v4(a, 100, (uint8_t)(i >> 8), (uint8_t)i, 1, 1);
        uint32_t c = prefix_cost(&s, a, 6, t);
        under += c < 1;
        spilled += c >= 1000000;
        over += c > 64; /* 4 times the average load of a bucket */
    }
    assert_int_equal(under, 0); /* never below the truth */
    assert_true(spilled <= 2);  /* both rows would have to collide: ~2^-24 each */
    assert_true(over < 655);    /* under 1% well above the average */
    assert_true(prefix_cost(&s, heavy, 6, t) >= 1000000);
    /* the same source, another key: other buckets (equal only with
     * probability 2^-24) */
    unsigned same = 0;
    for (int r = 0; r < PL_DG_SRC_ROWS; r++)
        for (size_t i = 0; i < PL_DG_SRC_BUCKETS; i++) {
            size_t k = (size_t)r * PL_DG_SRC_BUCKETS + i;
            same += s2.b[k].cost >= 1000000 && s.b[k].cost >= 1000000;
        }
    assert_true(same < 2 * PL_DG_SRC_ROWS); /* prefix and host buckets in each row */
    pl_dg_srcload_free(&s);
    pl_dg_srcload_free(&s2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wycheproof_xchacha),
        cmocka_unit_test(protection_is_xchacha),
        cmocka_unit_test(protection_evp_same_bytes),
        cmocka_unit_test(wycheproof_x25519),
        cmocka_unit_test(pn_lengths),
        cmocka_unit_test(pn_round_trips),
        cmocka_unit_test(pn_malformed),
        cmocka_unit_test(replay_window),
        cmocka_unit_test(cookies),
        cmocka_unit_test(used_once),
        cmocka_unit_test(proof_of_work),
        cmocka_unit_test(load_difficulty),
        cmocka_unit_test(srcload_decay),
        cmocka_unit_test(srcload_prefixes),
        cmocka_unit_test(srcload_rule),
        cmocka_unit_test(srcload_bounded),
    };
    if (pl_init() != PL_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
