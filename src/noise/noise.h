/* noise.h - a generic Noise Protocol Framework layer (revision 34) for the
 * suite 25519_ChaChaPoly_BLAKE2b: CipherState, SymmetricState and
 * HandshakeState, driven by a pattern table that holds every fundamental
 * and deferred pattern of the specification, with the pskN modifiers.
 * Internal to the library (the datagram transport builds on it); sans-IO:
 * ephemeral keys come from the random callback the caller passes in.
 *
 * Every function that can fail returns PL_OK or a PL_ERR_* code; a
 * HandshakeState that failed stays failed (PL_ERR_AUTH for a message that
 * does not decrypt, PL_ERR_PARSE for one of the wrong length). */
#ifndef PL_NOISE_H
#define PL_NOISE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peerlink.h"

#define PL_NOISE_DHLEN      32         /* X25519 keys and shared secrets */
#define PL_NOISE_HASHLEN    64         /* BLAKE2b-512 */
#define PL_NOISE_KEYLEN     32         /* ChaCha20-Poly1305 key */
#define PL_NOISE_TAGLEN     16         /* Poly1305 tag */
#define PL_NOISE_PSKLEN     32         /* pre-shared keys */
#define PL_NOISE_MSG_MAX    65535      /* the specification's bound on any message */
#define PL_NOISE_NAME_MAX   64         /* protocol names, incl. NUL */
#define PL_NOISE_TOKENS_MAX 8          /* tokens in one message pattern */
#define PL_NOISE_MSGS_MAX   4          /* messages in one handshake pattern */
#define PL_NOISE_PSKS_MAX   4          /* psk modifiers in one pattern */
#define PL_NOISE_NONCE_MAX  UINT64_MAX /* reserved: never used to encrypt */

typedef struct pl_noise_cipher {
    uint8_t k[PL_NOISE_KEYLEN];
    uint64_t n;
    bool has_key;
} pl_noise_cipher;

/* CipherState (Noise §5.1). Without a key, encrypt and decrypt copy. The
 * output of encrypt is len + PL_NOISE_TAGLEN bytes (len without a key);
 * out may equal in. PL_ERR_AUTH when decryption fails, PL_ERR_TOOBIG when
 * the nonce is exhausted, PL_ERR_PARSE when a ciphertext is shorter than
 * a tag. */
void pl_noise_cipher_init(pl_noise_cipher *cs, const uint8_t k[PL_NOISE_KEYLEN]);
int pl_noise_cipher_encrypt(pl_noise_cipher *cs, const uint8_t *ad, size_t adlen, const uint8_t *in,
                            size_t len, uint8_t *out) PL_WUR;
int pl_noise_cipher_decrypt(pl_noise_cipher *cs, const uint8_t *ad, size_t adlen, const uint8_t *in,
                            size_t len, uint8_t *out) PL_WUR;
/* With an explicit nonce (transport packets carry their own number). */
int pl_noise_encrypt_with(const uint8_t k[PL_NOISE_KEYLEN], uint64_t n, const uint8_t *ad,
                          size_t adlen, const uint8_t *in, size_t len, uint8_t *out) PL_WUR;
int pl_noise_decrypt_with(const uint8_t k[PL_NOISE_KEYLEN], uint64_t n, const uint8_t *ad,
                          size_t adlen, const uint8_t *in, size_t len, uint8_t *out) PL_WUR;
void pl_noise_cipher_rekey(pl_noise_cipher *cs);
void pl_noise_cipher_wipe(pl_noise_cipher *cs);

/* HMAC-BLAKE2b and the Noise HKDF (§4.3): outputs 2 or 3 hash-length keys. */
void pl_noise_hmac(const uint8_t *key, size_t klen, const uint8_t *in, size_t len,
                   uint8_t out[PL_NOISE_HASHLEN]);
void pl_noise_hkdf(const uint8_t ck[PL_NOISE_HASHLEN], const uint8_t *ikm, size_t ikmlen,
                   uint8_t o1[PL_NOISE_HASHLEN], uint8_t o2[PL_NOISE_HASHLEN],
                   uint8_t *o3 /* NULL or PL_NOISE_HASHLEN */);

typedef struct pl_noise_symmetric {
    pl_noise_cipher cs;
    uint8_t ck[PL_NOISE_HASHLEN];
    uint8_t h[PL_NOISE_HASHLEN];
} pl_noise_symmetric;

/* SymmetricState (§5.2). */
void pl_noise_sym_init(pl_noise_symmetric *ss, const char *protocol_name);
void pl_noise_sym_mix_hash(pl_noise_symmetric *ss, const uint8_t *in, size_t len);
void pl_noise_sym_mix_key(pl_noise_symmetric *ss, const uint8_t *ikm, size_t len);
void pl_noise_sym_mix_key_and_hash(pl_noise_symmetric *ss, const uint8_t *ikm, size_t len);
int pl_noise_sym_encrypt_and_hash(pl_noise_symmetric *ss, const uint8_t *in, size_t len,
                                  uint8_t *out) PL_WUR;
int pl_noise_sym_decrypt_and_hash(pl_noise_symmetric *ss, const uint8_t *in, size_t len,
                                  uint8_t *out) PL_WUR;
void pl_noise_sym_split(const pl_noise_symmetric *ss, pl_noise_cipher *c1, pl_noise_cipher *c2);

/* Handshake patterns: tokens of each message; pre-messages. */
enum pl_noise_token {
    PL_NOISE_TOK_END = 0,
    PL_NOISE_TOK_E,
    PL_NOISE_TOK_S,
    PL_NOISE_TOK_EE,
    PL_NOISE_TOK_ES,
    PL_NOISE_TOK_SE,
    PL_NOISE_TOK_SS,
    PL_NOISE_TOK_PSK,
};

typedef struct pl_noise_pattern {
    char name[16];   /* "IK", "XX", "NNpsk0", "IKpsk1+psk2" ... */
    bool pre_init_s; /* -> s before the handshake (the responder knows it) */
    bool pre_resp_s; /* <- s before the handshake (the initiator knows it) */
    unsigned n_msgs; /* messages; they alternate, initiator first */
    unsigned n_psks; /* psk tokens */
    uint8_t msgs[PL_NOISE_MSGS_MAX][PL_NOISE_TOKENS_MAX];
} pl_noise_pattern;

/* Look up a pattern by name ("XX", "IKpsk2", "NNpsk0+psk2"): PL_OK,
 * PL_ERR_NOTFOUND. */
int pl_noise_pattern_get(const char *name, pl_noise_pattern *out) PL_WUR;

typedef struct pl_noise_keypair {
    uint8_t priv[PL_NOISE_DHLEN];
    uint8_t pub[PL_NOISE_DHLEN];
} pl_noise_keypair;

/* X25519: a key pair from 32 private bytes; a shared secret (PL_ERR_AUTH
 * when the peer's key gives the all-zero output: a small-order point). */
void pl_noise_keypair_from(pl_noise_keypair *kp, const uint8_t priv[PL_NOISE_DHLEN]);
int pl_noise_dh(const uint8_t priv[PL_NOISE_DHLEN], const uint8_t pub[PL_NOISE_DHLEN],
                uint8_t out[PL_NOISE_DHLEN]) PL_WUR;

typedef struct pl_noise_hs {
    pl_noise_symmetric ss;
    pl_noise_pattern pat;
    bool initiator;
    bool has_s, has_e, has_rs, has_re;
    pl_noise_keypair s, e;
    uint8_t rs[PL_NOISE_DHLEN], re[PL_NOISE_DHLEN];
    uint8_t psks[PL_NOISE_PSKS_MAX][PL_NOISE_PSKLEN];
    unsigned n_psks_given, psk_next;
    unsigned msg; /* index of the next message */
    int err;      /* sticky failure */
    pl_random_fn random;
    void *random_user;
    bool fixed_e; /* tests: an ephemeral key given in advance */
} pl_noise_hs;

/* Set up a handshake for protocol_name, which must be
 * "Noise_<pattern>_25519_ChaChaPoly_BLAKE2b" (PL_ERR_NOTFOUND for another
 * pattern or suite). s: our static private key (required when the pattern
 * sends or pre-shares ours, ignored otherwise); rs: the peer's static
 * public key (required exactly when it is pre-shared to us); psks: n_psks
 * keys, exactly as many as the pattern uses. random fills ephemeral
 * private keys. PL_ERR_INVAL for a missing or superfluous key. */
int pl_noise_hs_init(pl_noise_hs *hs, const char *protocol_name, bool initiator,
                     const uint8_t *prologue, size_t plen, const uint8_t *s, const uint8_t *rs,
                     const uint8_t (*psks)[PL_NOISE_PSKLEN], unsigned n_psks, pl_random_fn random,
                     void *random_user) PL_WUR;
/* Tests: use this private key as the next (only) ephemeral. */
void pl_noise_hs_fix_ephemeral(pl_noise_hs *hs, const uint8_t e[PL_NOISE_DHLEN]);

/* Whose turn: true when we write the next message. */
bool pl_noise_hs_our_turn(const pl_noise_hs *hs);
bool pl_noise_hs_done(const pl_noise_hs *hs);
/* The overhead (bytes added to a payload) of the next message. */
size_t pl_noise_hs_overhead(const pl_noise_hs *hs);

/* Write the next message with payload into out (cap bytes): sets *outlen.
 * PL_ERR_INVAL when it is not our turn or the handshake is over,
 * PL_ERR_BUFSIZE, PL_ERR_TOOBIG above PL_NOISE_MSG_MAX. */
int pl_noise_hs_write(pl_noise_hs *hs, const uint8_t *payload, size_t plen, uint8_t *out,
                      size_t cap, size_t *outlen) PL_WUR;
/* Read the peer's next message; its payload into out (cap bytes), *outlen.
 * PL_ERR_PARSE (too short), PL_ERR_AUTH (does not decrypt, or a DH with a
 * small-order key), PL_ERR_BUFSIZE. */
int pl_noise_hs_read(pl_noise_hs *hs, const uint8_t *msg, size_t mlen, uint8_t *out, size_t cap,
                     size_t *outlen) PL_WUR;

/* After the last message: the two transport CipherStates (c1 for the
 * initiator's sending direction), and the handshake hash. */
int pl_noise_hs_split(const pl_noise_hs *hs, pl_noise_cipher *c1, pl_noise_cipher *c2) PL_WUR;
void pl_noise_hs_hash(const pl_noise_hs *hs, uint8_t out[PL_NOISE_HASHLEN]);
/* The peer's static public key once known: PL_OK or PL_ERR_NOTFOUND. */
int pl_noise_hs_remote_static(const pl_noise_hs *hs, uint8_t out[PL_NOISE_DHLEN]) PL_WUR;
void pl_noise_hs_wipe(pl_noise_hs *hs);

#endif /* PL_NOISE_H */
