/*
 * noise.c - the Noise Protocol Framework (revision 34) for
 * 25519_ChaChaPoly_BLAKE2b on libsodium: X25519 (crypto_scalarmult),
 * ChaCha20-Poly1305 with the 96-bit IETF nonce (4 zero bytes, then the
 * 64-bit counter little-endian), BLAKE2b-512 with HMAC built on it (block
 * 128 bytes, as the specification asks; not BLAKE2b's own keyed mode).
 */
#include <stdio.h>
#include <string.h>

#include <sodium.h>

#include "noise/noise.h"
#include "util/util.h"

#define BLOCKLEN 128 /* BLAKE2b block, for HMAC */

/* ---- CipherState ------------------------------------------------------ */

static void nonce_bytes(uint64_t n, uint8_t out[12])
{
    memset(out, 0, 4);
    for (int i = 0; i < 8; i++)
        out[4 + i] = (uint8_t)(n >> (8 * i));
}

int pl_noise_encrypt_with(const uint8_t k[PL_NOISE_KEYLEN], uint64_t n, const uint8_t *ad,
                          size_t adlen, const uint8_t *in, size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    unsigned long long clen = 0;
    nonce_bytes(n, nonce);
    if (crypto_aead_chacha20poly1305_ietf_encrypt(out, &clen, in, len, ad, adlen, NULL, nonce, k) !=
        0)
        return PL_ERR_INTERNAL;
    return PL_OK;
}

int pl_noise_decrypt_with(const uint8_t k[PL_NOISE_KEYLEN], uint64_t n, const uint8_t *ad,
                          size_t adlen, const uint8_t *in, size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    unsigned long long plen = 0;
    if (len < PL_NOISE_TAGLEN)
        return PL_ERR_PARSE;
    nonce_bytes(n, nonce);
    if (crypto_aead_chacha20poly1305_ietf_decrypt(out, &plen, NULL, in, len, ad, adlen, nonce, k) !=
        0)
        return PL_ERR_AUTH;
    return PL_OK;
}

void pl_noise_cipher_init(pl_noise_cipher *cs, const uint8_t k[PL_NOISE_KEYLEN])
{
    memcpy(cs->k, k, PL_NOISE_KEYLEN);
    cs->n = 0;
    cs->has_key = true;
}

void pl_noise_cipher_wipe(pl_noise_cipher *cs)
{
    sodium_memzero(cs, sizeof *cs);
}

int pl_noise_cipher_encrypt(pl_noise_cipher *cs, const uint8_t *ad, size_t adlen, const uint8_t *in,
                            size_t len, uint8_t *out)
{
    if (!cs->has_key) {
        if (len > 0)
            memmove(out, in, len);
        return PL_OK;
    }
    if (cs->n == PL_NOISE_NONCE_MAX)
        return PL_ERR_TOOBIG;
    int rc = pl_noise_encrypt_with(cs->k, cs->n, ad, adlen, in, len, out);
    if (rc == PL_OK)
        cs->n++;
    return rc;
}

int pl_noise_cipher_decrypt(pl_noise_cipher *cs, const uint8_t *ad, size_t adlen, const uint8_t *in,
                            size_t len, uint8_t *out)
{
    if (!cs->has_key) {
        if (len > 0)
            memmove(out, in, len);
        return PL_OK;
    }
    if (cs->n == PL_NOISE_NONCE_MAX)
        return PL_ERR_TOOBIG;
    int rc = pl_noise_decrypt_with(cs->k, cs->n, ad, adlen, in, len, out);
    if (rc == PL_OK)
        cs->n++;
    return rc;
}

/* REKEY(k) = the first 32 bytes of ENCRYPT(k, 2^64-1, "", 32 zeros). */
void pl_noise_cipher_rekey(pl_noise_cipher *cs)
{
    uint8_t zeros[PL_NOISE_KEYLEN] = {0}, out[PL_NOISE_KEYLEN + PL_NOISE_TAGLEN];
    if (pl_noise_encrypt_with(cs->k, PL_NOISE_NONCE_MAX, NULL, 0, zeros, sizeof zeros, out) ==
        PL_OK)
        memcpy(cs->k, out, PL_NOISE_KEYLEN);
    sodium_memzero(out, sizeof out);
}

/* ---- hashing ------------------------------------------------------------ */

void pl_noise_hmac(const uint8_t *key, size_t klen, const uint8_t *in, size_t len,
                   uint8_t out[PL_NOISE_HASHLEN])
{
    uint8_t k[BLOCKLEN], pad[BLOCKLEN], inner[PL_NOISE_HASHLEN];
    crypto_generichash_blake2b_state st;
    memset(k, 0, sizeof k);
    if (klen > BLOCKLEN)
        crypto_generichash_blake2b(k, PL_NOISE_HASHLEN, key, klen, NULL, 0);
    else if (klen > 0)
        memcpy(k, key, klen);
    for (size_t i = 0; i < BLOCKLEN; i++)
        pad[i] = k[i] ^ 0x36;
    crypto_generichash_blake2b_init(&st, NULL, 0, PL_NOISE_HASHLEN);
    crypto_generichash_blake2b_update(&st, pad, BLOCKLEN);
    crypto_generichash_blake2b_update(&st, in, len);
    crypto_generichash_blake2b_final(&st, inner, PL_NOISE_HASHLEN);
    for (size_t i = 0; i < BLOCKLEN; i++)
        pad[i] = k[i] ^ 0x5c;
    crypto_generichash_blake2b_init(&st, NULL, 0, PL_NOISE_HASHLEN);
    crypto_generichash_blake2b_update(&st, pad, BLOCKLEN);
    crypto_generichash_blake2b_update(&st, inner, PL_NOISE_HASHLEN);
    crypto_generichash_blake2b_final(&st, out, PL_NOISE_HASHLEN);
    sodium_memzero(k, sizeof k);
    sodium_memzero(pad, sizeof pad);
    sodium_memzero(inner, sizeof inner);
    sodium_memzero(&st, sizeof st);
}

void pl_noise_hkdf(const uint8_t ck[PL_NOISE_HASHLEN], const uint8_t *ikm, size_t ikmlen,
                   uint8_t o1[PL_NOISE_HASHLEN], uint8_t o2[PL_NOISE_HASHLEN], uint8_t *o3)
{
    uint8_t temp[PL_NOISE_HASHLEN], buf[PL_NOISE_HASHLEN + 1];
    pl_noise_hmac(ck, PL_NOISE_HASHLEN, ikm, ikmlen, temp);
    buf[0] = 0x01;
    pl_noise_hmac(temp, sizeof temp, buf, 1, o1);
    memcpy(buf, o1, PL_NOISE_HASHLEN);
    buf[PL_NOISE_HASHLEN] = 0x02;
    pl_noise_hmac(temp, sizeof temp, buf, sizeof buf, o2);
    if (o3) {
        memcpy(buf, o2, PL_NOISE_HASHLEN);
        buf[PL_NOISE_HASHLEN] = 0x03;
        pl_noise_hmac(temp, sizeof temp, buf, sizeof buf, o3);
    }
    sodium_memzero(temp, sizeof temp);
    sodium_memzero(buf, sizeof buf);
}

/* ---- SymmetricState ----------------------------------------------------- */

void pl_noise_sym_init(pl_noise_symmetric *ss, const char *protocol_name)
{
    size_t len = strlen(protocol_name);
    memset(ss, 0, sizeof *ss);
    if (len <= PL_NOISE_HASHLEN)
        memcpy(ss->h, protocol_name, len);
    else
        crypto_generichash_blake2b(ss->h, PL_NOISE_HASHLEN, (const uint8_t *)protocol_name, len,
                                   NULL, 0);
    memcpy(ss->ck, ss->h, PL_NOISE_HASHLEN);
}

void pl_noise_sym_mix_hash(pl_noise_symmetric *ss, const uint8_t *in, size_t len)
{
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init(&st, NULL, 0, PL_NOISE_HASHLEN);
    crypto_generichash_blake2b_update(&st, ss->h, PL_NOISE_HASHLEN);
    crypto_generichash_blake2b_update(&st, in, len);
    crypto_generichash_blake2b_final(&st, ss->h, PL_NOISE_HASHLEN);
}

void pl_noise_sym_mix_key(pl_noise_symmetric *ss, const uint8_t *ikm, size_t len)
{
    uint8_t ck[PL_NOISE_HASHLEN], k[PL_NOISE_HASHLEN];
    pl_noise_hkdf(ss->ck, ikm, len, ck, k, NULL);
    memcpy(ss->ck, ck, PL_NOISE_HASHLEN);
    pl_noise_cipher_init(&ss->cs, k); /* truncated to 32 bytes */
    sodium_memzero(ck, sizeof ck);
    sodium_memzero(k, sizeof k);
}

void pl_noise_sym_mix_key_and_hash(pl_noise_symmetric *ss, const uint8_t *ikm, size_t len)
{
    uint8_t ck[PL_NOISE_HASHLEN], th[PL_NOISE_HASHLEN], k[PL_NOISE_HASHLEN];
    pl_noise_hkdf(ss->ck, ikm, len, ck, th, k);
    memcpy(ss->ck, ck, PL_NOISE_HASHLEN);
    pl_noise_sym_mix_hash(ss, th, sizeof th);
    pl_noise_cipher_init(&ss->cs, k);
    sodium_memzero(ck, sizeof ck);
    sodium_memzero(th, sizeof th);
    sodium_memzero(k, sizeof k);
}

int pl_noise_sym_encrypt_and_hash(pl_noise_symmetric *ss, const uint8_t *in, size_t len,
                                  uint8_t *out)
{
    int rc = pl_noise_cipher_encrypt(&ss->cs, ss->h, PL_NOISE_HASHLEN, in, len, out);
    if (rc == PL_OK)
        pl_noise_sym_mix_hash(ss, out, len + (ss->cs.has_key ? PL_NOISE_TAGLEN : 0));
    return rc;
}

int pl_noise_sym_decrypt_and_hash(pl_noise_symmetric *ss, const uint8_t *in, size_t len,
                                  uint8_t *out)
{
    uint8_t h[PL_NOISE_HASHLEN];
    memcpy(h, ss->h, sizeof h);
    /* MixHash covers the ciphertext, which `out` may overwrite. */
    pl_noise_sym_mix_hash(ss, in, len);
    int rc = pl_noise_cipher_decrypt(&ss->cs, h, sizeof h, in, len, out);
    if (rc != PL_OK)
        memcpy(ss->h, h, sizeof h);
    return rc;
}

void pl_noise_sym_split(const pl_noise_symmetric *ss, pl_noise_cipher *c1, pl_noise_cipher *c2)
{
    uint8_t k1[PL_NOISE_HASHLEN], k2[PL_NOISE_HASHLEN];
    pl_noise_hkdf(ss->ck, NULL, 0, k1, k2, NULL);
    pl_noise_cipher_init(c1, k1);
    pl_noise_cipher_init(c2, k2);
    sodium_memzero(k1, sizeof k1);
    sodium_memzero(k2, sizeof k2);
}

/* ---- patterns ------------------------------------------------------------ */

/* Noise §7.4 (one-way), §7.5 (interactive fundamental), §18 (deferred).
 * pre: "i" the initiator's static is pre-shared (-> s), "r" the
 * responder's (<- s). Messages alternate, initiator first, split by '|'. */
static const struct {
    const char *name, *pre, *msgs;
} patterns[] = {
    {"N", "r", "e es"},
    {"K", "ir", "e es ss"},
    {"X", "r", "e es s ss"},
    {"NN", "", "e|e ee"},
    {"NK", "r", "e es|e ee"},
    {"NX", "", "e|e ee s es"},
    {"KN", "i", "e|e ee se"},
    {"KK", "ir", "e es ss|e ee se"},
    {"KX", "i", "e|e ee se s es"},
    {"XN", "", "e|e ee|s se"},
    {"XK", "r", "e es|e ee|s se"},
    {"XX", "", "e|e ee s es|s se"},
    {"IN", "", "e s|e ee se"},
    {"IK", "r", "e es s ss|e ee se"},
    {"IX", "", "e s|e ee se s es"},
    {"NK1", "r", "e|e ee es"},
    {"NX1", "", "e|e ee s|es"},
    {"X1N", "", "e|e ee|s|se"},
    {"X1K", "r", "e es|e ee|s|se"},
    {"XK1", "r", "e|e ee es|s se"},
    {"X1K1", "r", "e|e ee es|s|se"},
    {"X1X", "", "e|e ee s es|s|se"},
    {"XX1", "", "e|e ee s|es s se"},
    {"X1X1", "", "e|e ee s|es s|se"},
    {"K1N", "i", "e|e ee|se"},
    {"K1K", "ir", "e es|e ee|se"},
    {"KK1", "ir", "e|e ee se es"},
    {"K1K1", "ir", "e|e ee es|se"},
    {"K1X", "i", "e|e ee s es|se"},
    {"KX1", "i", "e|e ee se s|es"},
    {"K1X1", "i", "e|e ee s|se es"},
    {"I1N", "", "e s|e ee|se"},
    {"I1K", "r", "e es s|e ee|se"},
    {"IK1", "r", "e s|e ee se es"},
    {"I1K1", "r", "e s|e ee es|se"},
    {"I1X", "", "e s|e ee s es|se"},
    {"IX1", "", "e s|e ee se s|es"},
    {"I1X1", "", "e s|e ee s|se es"},
};

static int token_of(const char *t, size_t len)
{
    static const char *const names[] = {"", "e", "s", "ee", "es", "se", "ss", "psk"};
    for (int i = 1; i < (int)(sizeof names / sizeof names[0]); i++)
        if (strlen(names[i]) == len && memcmp(names[i], t, len) == 0)
            return i;
    return -1;
}

static int parse_msgs(const char *msgs, pl_noise_pattern *out)
{
    unsigned m = 0, t = 0;
    const char *p = msgs;
    memset(out->msgs, 0, sizeof out->msgs);
    while (*p) {
        if (*p == '|') {
            m++;
            t = 0;
            p++;
            continue;
        }
        if (*p == ' ') {
            p++;
            continue;
        }
        size_t len = strcspn(p, " |");
        int tok = token_of(p, len);
        if (tok < 0 || m >= PL_NOISE_MSGS_MAX || t + 1 >= PL_NOISE_TOKENS_MAX)
            return PL_ERR_INTERNAL;
        out->msgs[m][t++] = (uint8_t)tok;
        p += len;
    }
    out->n_msgs = m + 1;
    return PL_OK;
}

/* Put a psk token at the start of message 0 (psk0) or the end of message
 * n-1 (pskn). */
static int add_psk(pl_noise_pattern *pat, unsigned n)
{
    unsigned m = n == 0 ? 0 : n - 1;
    if (m >= pat->n_msgs)
        return PL_ERR_NOTFOUND;
    uint8_t *toks = pat->msgs[m];
    size_t len = 0;
    while (len < PL_NOISE_TOKENS_MAX && toks[len] != PL_NOISE_TOK_END)
        len++;
    if (len + 1 >= PL_NOISE_TOKENS_MAX)
        return PL_ERR_NOTFOUND;
    if (n == 0) {
        memmove(toks + 1, toks, len);
        toks[0] = PL_NOISE_TOK_PSK;
    } else {
        toks[len] = PL_NOISE_TOK_PSK;
    }
    pat->n_psks++;
    return PL_OK;
}

int pl_noise_pattern_get(const char *name, pl_noise_pattern *out)
{
    size_t base = strcspn(name, "p");
    if (strlen(name) >= sizeof out->name || base == 0)
        return PL_ERR_NOTFOUND;
    memset(out, 0, sizeof *out);
    for (size_t i = 0; i < sizeof patterns / sizeof patterns[0]; i++) {
        if (strlen(patterns[i].name) != base || memcmp(patterns[i].name, name, base) != 0)
            continue;
        snprintf(out->name, sizeof out->name, "%s", name);
        out->pre_init_s = strchr(patterns[i].pre, 'i') != NULL;
        out->pre_resp_s = strchr(patterns[i].pre, 'r') != NULL;
        if (parse_msgs(patterns[i].msgs, out) != PL_OK)
            return PL_ERR_INTERNAL;
        /* modifiers: "psk0", "psk0+psk2", ... in increasing order */
        const char *p = name + base;
        int last = -1;
        while (*p) {
            if (strncmp(p, "psk", 3) != 0 || p[3] < '0' || p[3] > '9' || p[3] - '0' <= last)
                return PL_ERR_NOTFOUND;
            last = p[3] - '0';
            if (add_psk(out, (unsigned)last) != PL_OK || out->n_psks > PL_NOISE_PSKS_MAX)
                return PL_ERR_NOTFOUND;
            p += 4;
            if (*p == '+')
                p++;
            else if (*p)
                return PL_ERR_NOTFOUND;
        }
        return PL_OK;
    }
    return PL_ERR_NOTFOUND;
}

/* ---- X25519 ------------------------------------------------------------- */

void pl_noise_keypair_from(pl_noise_keypair *kp, const uint8_t priv[PL_NOISE_DHLEN])
{
    memcpy(kp->priv, priv, PL_NOISE_DHLEN);
    crypto_scalarmult_base(kp->pub, kp->priv);
}

int pl_noise_dh(const uint8_t priv[PL_NOISE_DHLEN], const uint8_t pub[PL_NOISE_DHLEN],
                uint8_t out[PL_NOISE_DHLEN])
{
    return crypto_scalarmult(out, priv, pub) == 0 ? PL_OK : PL_ERR_AUTH;
}

/* ---- HandshakeState ----------------------------------------------------- */

#define SUITE "_25519_ChaChaPoly_BLAKE2b"

int pl_noise_hs_init(pl_noise_hs *hs, const char *protocol_name, bool initiator,
                     const uint8_t *prologue, size_t plen, const uint8_t *s, const uint8_t *rs,
                     const uint8_t (*psks)[PL_NOISE_PSKLEN], unsigned n_psks, pl_random_fn random,
                     void *random_user)
{
    char pname[PL_NOISE_NAME_MAX];
    size_t len = protocol_name ? strlen(protocol_name) : 0;
    memset(hs, 0, sizeof *hs);
    hs->err = PL_ERR_INVAL;
    if (!protocol_name || len >= PL_NOISE_NAME_MAX || strncmp(protocol_name, "Noise_", 6) != 0 ||
        len < 6 + strlen(SUITE) || strcmp(protocol_name + len - strlen(SUITE), SUITE) != 0)
        return PL_ERR_NOTFOUND;
    size_t plen_name = len - 6 - strlen(SUITE);
    memcpy(pname, protocol_name + 6, plen_name);
    pname[plen_name] = 0;
    int rc = pl_noise_pattern_get(pname, &hs->pat);
    if (rc != PL_OK)
        return rc;
    /* Which static keys the pattern needs from us and about the peer. */
    bool sends_s = false, we_pre = initiator ? hs->pat.pre_init_s : hs->pat.pre_resp_s;
    bool peer_pre = initiator ? hs->pat.pre_resp_s : hs->pat.pre_init_s;
    for (unsigned m = 0; m < hs->pat.n_msgs; m++) {
        bool ours = (m % 2 == 0) == initiator;
        for (unsigned t = 0; t < PL_NOISE_TOKENS_MAX && hs->pat.msgs[m][t]; t++) {
            uint8_t tok = hs->pat.msgs[m][t];
            if (tok == PL_NOISE_TOK_S && ours)
                sends_s = true;
        }
    }
    if (((sends_s || we_pre) && !s) || peer_pre != (rs != NULL) || n_psks != hs->pat.n_psks ||
        (n_psks > 0 && !psks) || !random || (plen > 0 && !prologue))
        return PL_ERR_INVAL;
    hs->initiator = initiator;
    hs->random = random;
    hs->random_user = random_user;
    if (s) {
        pl_noise_keypair_from(&hs->s, s);
        hs->has_s = true;
    }
    if (rs) {
        memcpy(hs->rs, rs, PL_NOISE_DHLEN);
        hs->has_rs = true;
    }
    for (unsigned i = 0; i < n_psks; i++)
        memcpy(hs->psks[i], psks[i], PL_NOISE_PSKLEN);
    hs->n_psks_given = n_psks;
    pl_noise_sym_init(&hs->ss, protocol_name);
    pl_noise_sym_mix_hash(&hs->ss, prologue, plen);
    /* pre-messages: the initiator's first, then the responder's */
    if (hs->pat.pre_init_s)
        pl_noise_sym_mix_hash(&hs->ss, initiator ? hs->s.pub : hs->rs, PL_NOISE_DHLEN);
    if (hs->pat.pre_resp_s)
        pl_noise_sym_mix_hash(&hs->ss, initiator ? hs->rs : hs->s.pub, PL_NOISE_DHLEN);
    hs->err = PL_OK;
    return PL_OK;
}

void pl_noise_hs_fix_ephemeral(pl_noise_hs *hs, const uint8_t e[PL_NOISE_DHLEN])
{
    pl_noise_keypair_from(&hs->e, e);
    hs->fixed_e = true;
}

bool pl_noise_hs_our_turn(const pl_noise_hs *hs)
{
    return hs->msg < hs->pat.n_msgs && (hs->msg % 2 == 0) == hs->initiator;
}

bool pl_noise_hs_done(const pl_noise_hs *hs)
{
    return hs->err == PL_OK && hs->msg >= hs->pat.n_msgs;
}

/* Does the cipher have a key when token t of message m is processed? */
size_t pl_noise_hs_overhead(const pl_noise_hs *hs)
{
    if (hs->msg >= hs->pat.n_msgs)
        return 0;
    bool keyed = hs->ss.cs.has_key;
    size_t n = 0;
    bool psk = hs->pat.n_psks > 0;
    const uint8_t *toks = hs->pat.msgs[hs->msg];
    for (unsigned t = 0; t < PL_NOISE_TOKENS_MAX && toks[t]; t++) {
        switch (toks[t]) {
        case PL_NOISE_TOK_E:
            n += PL_NOISE_DHLEN;
            if (psk)
                keyed = true;
            break;
        case PL_NOISE_TOK_S: n += PL_NOISE_DHLEN + (keyed ? PL_NOISE_TAGLEN : 0); break;
        default: keyed = true; break; /* a DH or psk: MixKey */
        }
    }
    return n + (keyed ? PL_NOISE_TAGLEN : 0);
}

static int fail(pl_noise_hs *hs, int err)
{
    hs->err = err;
    return err;
}

/* The DH a token names, from our point of view. */
static int dh_token(pl_noise_hs *hs, uint8_t tok)
{
    uint8_t out[PL_NOISE_DHLEN];
    const uint8_t *priv = NULL, *pub = NULL;
    bool i = hs->initiator;
    switch (tok) {
    case PL_NOISE_TOK_EE:
        priv = hs->has_e ? hs->e.priv : NULL;
        pub = hs->has_re ? hs->re : NULL;
        break;
    case PL_NOISE_TOK_ES: /* initiator's e with responder's s */
        priv = i ? (hs->has_e ? hs->e.priv : NULL) : (hs->has_s ? hs->s.priv : NULL);
        pub = i ? (hs->has_rs ? hs->rs : NULL) : (hs->has_re ? hs->re : NULL);
        break;
    case PL_NOISE_TOK_SE: /* initiator's s with responder's e */
        priv = i ? (hs->has_s ? hs->s.priv : NULL) : (hs->has_e ? hs->e.priv : NULL);
        pub = i ? (hs->has_re ? hs->re : NULL) : (hs->has_rs ? hs->rs : NULL);
        break;
    case PL_NOISE_TOK_SS:
        priv = hs->has_s ? hs->s.priv : NULL;
        pub = hs->has_rs ? hs->rs : NULL;
        break;
    default: return PL_ERR_INTERNAL;
    }
    if (!priv || !pub)
        return PL_ERR_INTERNAL;
    int rc = pl_noise_dh(priv, pub, out);
    if (rc == PL_OK)
        pl_noise_sym_mix_key(&hs->ss, out, sizeof out);
    sodium_memzero(out, sizeof out);
    return rc;
}

static int psk_token(pl_noise_hs *hs)
{
    if (hs->psk_next >= hs->n_psks_given)
        return PL_ERR_INTERNAL;
    pl_noise_sym_mix_key_and_hash(&hs->ss, hs->psks[hs->psk_next++], PL_NOISE_PSKLEN);
    return PL_OK;
}

int pl_noise_hs_write(pl_noise_hs *hs, const uint8_t *payload, size_t plen, uint8_t *out,
                      size_t cap, size_t *outlen)
{
    if (hs->err)
        return hs->err;
    if (!pl_noise_hs_our_turn(hs) || (plen > 0 && !payload) || !out || !outlen)
        return PL_ERR_INVAL;
    size_t total = pl_noise_hs_overhead(hs) + plen;
    if (total > PL_NOISE_MSG_MAX)
        return PL_ERR_TOOBIG;
    if (total > cap)
        return PL_ERR_BUFSIZE;
    size_t off = 0;
    const uint8_t *toks = hs->pat.msgs[hs->msg];
    int rc = PL_OK;
    for (unsigned t = 0; t < PL_NOISE_TOKENS_MAX && toks[t] && rc == PL_OK; t++) {
        switch (toks[t]) {
        case PL_NOISE_TOK_E: {
            if (!hs->fixed_e) {
                uint8_t priv[PL_NOISE_DHLEN];
                if (hs->random(hs->random_user, priv, sizeof priv) != 0)
                    return fail(hs, PL_ERR_INTERNAL);
                pl_noise_keypair_from(&hs->e, priv);
                sodium_memzero(priv, sizeof priv);
            }
            hs->has_e = true;
            memcpy(out + off, hs->e.pub, PL_NOISE_DHLEN);
            pl_noise_sym_mix_hash(&hs->ss, hs->e.pub, PL_NOISE_DHLEN);
            if (hs->pat.n_psks > 0)
                pl_noise_sym_mix_key(&hs->ss, hs->e.pub, PL_NOISE_DHLEN);
            off += PL_NOISE_DHLEN;
            break;
        }
        case PL_NOISE_TOK_S: {
            bool keyed = hs->ss.cs.has_key;
            rc = pl_noise_sym_encrypt_and_hash(&hs->ss, hs->s.pub, PL_NOISE_DHLEN, out + off);
            off += PL_NOISE_DHLEN + (keyed ? PL_NOISE_TAGLEN : 0);
            break;
        }
        case PL_NOISE_TOK_PSK: rc = psk_token(hs); break;
        default: rc = dh_token(hs, toks[t]); break;
        }
    }
    if (rc == PL_OK)
        rc = pl_noise_sym_encrypt_and_hash(&hs->ss, payload, plen, out + off);
    if (rc != PL_OK)
        return fail(hs, rc);
    *outlen = total;
    hs->msg++;
    return PL_OK;
}

int pl_noise_hs_read(pl_noise_hs *hs, const uint8_t *msg, size_t mlen, uint8_t *out, size_t cap,
                     size_t *outlen)
{
    if (hs->err)
        return hs->err;
    if (hs->msg >= hs->pat.n_msgs || pl_noise_hs_our_turn(hs) || (mlen > 0 && !msg) || !outlen ||
        (cap > 0 && !out))
        return PL_ERR_INVAL;
    size_t over = pl_noise_hs_overhead(hs);
    if (mlen > PL_NOISE_MSG_MAX || mlen < over)
        return fail(hs, PL_ERR_PARSE);
    if (mlen - over > cap)
        return PL_ERR_BUFSIZE; /* not fatal: the caller may retry with room */
    size_t off = 0;
    const uint8_t *toks = hs->pat.msgs[hs->msg];
    int rc = PL_OK;
    for (unsigned t = 0; t < PL_NOISE_TOKENS_MAX && toks[t] && rc == PL_OK; t++) {
        switch (toks[t]) {
        case PL_NOISE_TOK_E:
            memcpy(hs->re, msg + off, PL_NOISE_DHLEN);
            hs->has_re = true;
            pl_noise_sym_mix_hash(&hs->ss, hs->re, PL_NOISE_DHLEN);
            if (hs->pat.n_psks > 0)
                pl_noise_sym_mix_key(&hs->ss, hs->re, PL_NOISE_DHLEN);
            off += PL_NOISE_DHLEN;
            break;
        case PL_NOISE_TOK_S: {
            size_t n = PL_NOISE_DHLEN + (hs->ss.cs.has_key ? PL_NOISE_TAGLEN : 0);
            uint8_t tmp[PL_NOISE_DHLEN + PL_NOISE_TAGLEN];
            rc = pl_noise_sym_decrypt_and_hash(&hs->ss, msg + off, n, tmp);
            if (rc == PL_OK) {
                memcpy(hs->rs, tmp, PL_NOISE_DHLEN);
                hs->has_rs = true;
            }
            off += n;
            break;
        }
        case PL_NOISE_TOK_PSK: rc = psk_token(hs); break;
        default: rc = dh_token(hs, toks[t]); break;
        }
    }
    if (rc == PL_OK) {
        /* decrypt in place into out: the ciphertext is copied first */
        size_t clen = mlen - off;
        uint8_t none[1];
        rc = pl_noise_sym_decrypt_and_hash(&hs->ss, msg + off, clen, out ? out : none);
        if (rc == PL_OK)
            *outlen = clen - (hs->ss.cs.has_key ? PL_NOISE_TAGLEN : 0);
    }
    if (rc != PL_OK)
        return fail(hs, rc == PL_ERR_PARSE ? PL_ERR_PARSE : PL_ERR_AUTH);
    hs->msg++;
    return PL_OK;
}

int pl_noise_hs_split(const pl_noise_hs *hs, pl_noise_cipher *c1, pl_noise_cipher *c2)
{
    if (!pl_noise_hs_done(hs))
        return PL_ERR_INVAL;
    pl_noise_sym_split(&hs->ss, c1, c2);
    return PL_OK;
}

void pl_noise_hs_hash(const pl_noise_hs *hs, uint8_t out[PL_NOISE_HASHLEN])
{
    memcpy(out, hs->ss.h, PL_NOISE_HASHLEN);
}

int pl_noise_hs_remote_static(const pl_noise_hs *hs, uint8_t out[PL_NOISE_DHLEN])
{
    if (!hs->has_rs)
        return PL_ERR_NOTFOUND;
    memcpy(out, hs->rs, PL_NOISE_DHLEN);
    return PL_OK;
}

void pl_noise_hs_wipe(pl_noise_hs *hs)
{
    sodium_memzero(hs, sizeof *hs);
}
