/*
 * packet.c - packet protection (XChaCha20-Poly1305 with the subkey derived
 * once per direction), windowed packet numbers and the replay window of
 * the datagram transport (DESIGN.md §3.2; docs/protocol.md).
 */
#include <limits.h>
#include <string.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "dgram/dgram_int.h"

/* ---- protection ------------------------------------------------------- */

void pl_dg_aead_init(pl_dg_aead *a, const uint8_t key[PL_DG_KEYLEN], const uint8_t iv[PL_DG_IVLEN])
{
    crypto_core_hchacha20(a->subkey, iv, key, NULL);
    memcpy(a->iv_tail, iv + 16, sizeof a->iv_tail);
    a->evp = NULL;
    a->lazy = false;
}

int pl_dg_aead_init_evp(pl_dg_aead *a, const uint8_t key[PL_DG_KEYLEN],
                        const uint8_t iv[PL_DG_IVLEN])
{
    pl_dg_aead_init(a, key, iv);
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    if (!x)
        return PL_ERR_NOMEM;
    /* the key schedule, once; the direction is set again per packet */
    if (EVP_CipherInit_ex(x, EVP_chacha20_poly1305(), NULL, a->subkey, NULL, 1) != 1) {
        EVP_CIPHER_CTX_free(x);
        return PL_ERR_INTERNAL;
    }
    a->evp = x;
    return PL_OK;
}

void pl_dg_aead_init_lazy(pl_dg_aead *a, const uint8_t key[PL_DG_KEYLEN],
                          const uint8_t iv[PL_DG_IVLEN])
{
    pl_dg_aead_init(a, key, iv);
    a->lazy = true;
}

void pl_dg_aead_warm(pl_dg_aead *a)
{
    if (!a->lazy || a->evp)
        return;
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    if (!x)
        return;
    if (EVP_CipherInit_ex(x, EVP_chacha20_poly1305(), NULL, a->subkey, NULL, 1) != 1) {
        EVP_CIPHER_CTX_free(x);
        return;
    }
    a->evp = x;
}

void pl_dg_aead_cool(pl_dg_aead *a)
{
    if (!a->lazy)
        return;
    EVP_CIPHER_CTX_free(a->evp);
    a->evp = NULL;
}

void pl_dg_aead_wipe(pl_dg_aead *a)
{
    EVP_CIPHER_CTX_free(a->evp); /* cleanses the key it holds */
    sodium_memzero(a, sizeof *a);
}

void pl_dg_aead_move(pl_dg_aead *to, pl_dg_aead *from)
{
    if (to == from)
        return;
    pl_dg_aead_wipe(to);
    *to = *from;
    sodium_memzero(from, sizeof *from);
}

/* The IETF nonce: 4 zero bytes, then IV[16..24] XOR pn (little-endian),
 * exactly what XChaCha20 makes of the 24-byte nonce IV ^ (0^16 || pn). */
static void ietf_nonce(const pl_dg_aead *a, uint64_t pn, uint8_t out[12])
{
    memset(out, 0, 4);
    for (int i = 0; i < 8; i++)
        out[4 + i] = a->iv_tail[i] ^ (uint8_t)(pn >> (8 * i));
}

static bool use_evp(const pl_dg_aead *a, size_t len, size_t adlen)
{
    return a->evp && len >= PL_DG_EVP_MIN && len <= INT_MAX - PL_DG_TAGLEN && adlen <= INT_MAX;
}

/* RFC 8439 §2.8 through the keyed context: only the nonce is new. */
static int evp_seal(EVP_CIPHER_CTX *x, const uint8_t nonce[12], const uint8_t *ad, size_t adlen,
                    const uint8_t *in, size_t len, uint8_t *out)
{
    int n = 0, fin = 0;
    if (EVP_CipherInit_ex(x, NULL, NULL, NULL, nonce, 1) != 1 ||
        EVP_CipherUpdate(x, NULL, &n, ad, (int)adlen) != 1 ||
        EVP_CipherUpdate(x, out, &n, in, (int)len) != 1 || (size_t)n != len ||
        EVP_CipherFinal_ex(x, out + n, &fin) != 1 ||
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, PL_DG_TAGLEN, out + len) != 1)
        return PL_ERR_INTERNAL;
    return PL_OK;
}

/* len excludes the tag. Decrypts before the tag is checked (OpenSSL's
 * order), so a failure zeroes what was written. */
static int evp_open(EVP_CIPHER_CTX *x, const uint8_t nonce[12], const uint8_t *ad, size_t adlen,
                    const uint8_t *in, size_t len, uint8_t *out)
{
    uint8_t tag[PL_DG_TAGLEN];
    int n = 0, fin = 0;
    memcpy(tag, in + len, sizeof tag); /* before out, which may be in, is written */
    if (EVP_CipherInit_ex(x, NULL, NULL, NULL, nonce, 0) != 1 ||
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, PL_DG_TAGLEN, tag) != 1 ||
        EVP_CipherUpdate(x, NULL, &n, ad, (int)adlen) != 1 ||
        EVP_CipherUpdate(x, out, &n, in, (int)len) != 1 || (size_t)n != len ||
        EVP_CipherFinal_ex(x, out + n, &fin) != 1) {
        sodium_memzero(out, len);
        return PL_ERR_AUTH;
    }
    return PL_OK;
}

int pl_dg_seal(const pl_dg_aead *a, uint64_t pn, const uint8_t *ad, size_t adlen, const uint8_t *in,
               size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    unsigned long long clen = 0;
    ietf_nonce(a, pn, nonce);
    if (use_evp(a, len, adlen))
        return evp_seal(a->evp, nonce, ad, adlen, in, len, out);
    if (crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, in, len, ad, adlen, NULL, nonce,
                                                  a->subkey) != 0)
        return PL_ERR_INTERNAL;
    return PL_OK;
}

int pl_dg_open(const pl_dg_aead *a, uint64_t pn, const uint8_t *ad, size_t adlen, const uint8_t *in,
               size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    unsigned long long plen = 0;
    if (len < PL_DG_TAGLEN)
        return PL_ERR_PARSE;
    ietf_nonce(a, pn, nonce);
    if (use_evp(a, len - PL_DG_TAGLEN, adlen))
        return evp_open(a->evp, nonce, ad, adlen, in, len - PL_DG_TAGLEN, out);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, NULL, in, len, ad, adlen, nonce,
                                                  a->subkey) != 0)
        return PL_ERR_AUTH;
    return PL_OK;
}

/* ---- windowed packet numbers ------------------------------------------ */

size_t pl_dg_pn_len(uint64_t pn, uint64_t largest_acked)
{
    size_t k = 1;
    if (largest_acked == PL_DG_PN_NONE) {
        /* nothing can wander in late yet: the window holds the full count */
        while (k < PL_DG_PN_BYTES && (UINT64_C(1) << (7 * k)) <= pn)
            k++;
        return k;
    }
    /* the smallest k with 2^(7k) >= MARGIN * (pn - largest_acked) */
    uint64_t d = pn - largest_acked;
    while (k < PL_DG_PN_BYTES && ((UINT64_C(1) << (7 * k)) / PL_DG_PN_MARGIN) < d)
        k++;
    return k;
}

int pl_dg_pn_encode(uint64_t pn, uint64_t largest_acked, uint8_t *out, size_t cap)
{
    if (pn > PL_DG_PN_MAX || (largest_acked != PL_DG_PN_NONE && pn <= largest_acked))
        return PL_ERR_INVAL;
    size_t k = pl_dg_pn_len(pn, largest_acked);
    if (k > cap)
        return PL_ERR_BUFSIZE;
    for (size_t i = 0; i < k; i++) {
        uint8_t group = (uint8_t)((pn >> (7 * (k - 1 - i))) & 0x7f);
        out[i] = (uint8_t)(group | (i + 1 < k ? 0x80 : 0));
    }
    return (int)k;
}

int pl_dg_pn_decode(const uint8_t *in, size_t len, uint64_t largest_rx, uint64_t *pn)
{
    uint64_t w = 0;
    size_t k = 0;
    for (;;) {
        if (k >= len || k >= PL_DG_PN_BYTES)
            return PL_ERR_PARSE;
        uint8_t b = in[k++];
        w = (w << 7) | (b & 0x7f);
        if (!(b & 0x80))
            break;
    }
    uint64_t expected = largest_rx == PL_DG_PN_NONE ? 0 : largest_rx + 1;
    uint64_t win = UINT64_C(1) << (7 * k), half = win / 2, mask = win - 1;
    uint64_t cand = (expected & ~mask) | w;
    if (cand + half <= expected && win <= PL_DG_PN_MAX && cand <= PL_DG_PN_MAX - win)
        cand += win;
    else if (cand > expected + half && cand >= win)
        cand -= win;
    if (cand > PL_DG_PN_MAX)
        return PL_ERR_PARSE;
    *pn = cand;
    return (int)k;
}

/* ---- replay window ------------------------------------------------------ */

#define WORDS (PL_DG_REPLAY_WINDOW / 64)

void pl_dg_replay_init(pl_dg_replay *r)
{
    memset(r, 0, sizeof *r);
    r->largest = PL_DG_PN_NONE;
}

static bool bit_get(const pl_dg_replay *r, uint64_t i)
{
    return (r->bits[i / 64] >> (i % 64)) & 1;
}

bool pl_dg_replay_fresh(const pl_dg_replay *r, uint64_t pn)
{
    if (r->largest == PL_DG_PN_NONE || pn > r->largest)
        return true;
    uint64_t d = r->largest - pn;
    return d < PL_DG_REPLAY_WINDOW && !bit_get(r, d);
}

/* Bit i stands for largest - i: moving largest up by s moves bit i to i+s. */
static void shift_up(pl_dg_replay *r, uint64_t s)
{
    if (s >= PL_DG_REPLAY_WINDOW) {
        memset(r->bits, 0, sizeof r->bits);
        return;
    }
    size_t words = (size_t)(s / 64);
    unsigned bits = (unsigned)(s % 64);
    for (size_t i = WORDS; i-- > 0;) {
        uint64_t v = 0;
        if (i >= words) {
            v = r->bits[i - words] << bits;
            if (bits && i - words >= 1)
                v |= r->bits[i - words - 1] >> (64 - bits);
        }
        r->bits[i] = v;
    }
}

void pl_dg_replay_mark(pl_dg_replay *r, uint64_t pn)
{
    if (r->largest == PL_DG_PN_NONE) {
        r->largest = pn;
        r->bits[0] = 1;
        return;
    }
    if (pn > r->largest) {
        shift_up(r, pn - r->largest);
        r->largest = pn;
        r->bits[0] |= 1;
        return;
    }
    uint64_t d = r->largest - pn;
    if (d < PL_DG_REPLAY_WINDOW)
        r->bits[d / 64] |= UINT64_C(1) << (d % 64);
}
