/* dgram_int.h - internals of the datagram transport (src/dgram/):
 * packet protection and windowed packet numbers (DESIGN.md §3.2,
 * docs/protocol.md). Sans-IO, no allocation. */
#ifndef PL_DGRAM_INT_H
#define PL_DGRAM_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peerlink.h"

#define PL_DG_KEYLEN   32
#define PL_DG_IVLEN    24 /* XChaCha20 nonce: the per-direction IV */
#define PL_DG_TAGLEN   16
#define PL_DG_PN_MAX   ((UINT64_C(1) << 62) - 1) /* packet numbers stop here */
#define PL_DG_PN_BYTES 9                         /* the longest windowed packet number */

/* Packet protection for one direction: XChaCha20-Poly1305 under `key`
 * with nonce = IV, its last 8 bytes XORed with the packet number
 * (little-endian). As those bytes are the part of the XChaCha20 nonce that
 * reaches the IETF ChaCha20-Poly1305 nonce, the HChaCha20 subkey (of key
 * and IV[0..16]) is derived once here and every packet is plain IETF
 * ChaCha20-Poly1305: bit-identical to XChaCha20-Poly1305 on the wire.
 *
 * Which ChaCha20-Poly1305 runs: libsodium's, or, after
 * pl_dg_aead_init_evp, OpenSSL's for payloads of PL_DG_EVP_MIN bytes and
 * up (bench/bench_aead.c: about 1.2x libsodium's speed for a full packet
 * with AVX-512, but ~300 ns more per call, which loses below ~200 bytes).
 * Its EVP_CIPHER_CTX is keyed once and only given each packet's nonce; it
 * is the one allocation, and pl_dg_aead_wipe frees it. One direction is
 * used by one thread at a time (the context holds per-packet state). */
#define PL_DG_EVP_MIN 256

struct evp_cipher_ctx_st;
typedef struct pl_dg_aead {
    uint8_t subkey[PL_DG_KEYLEN];
    uint8_t iv_tail[8];            /* IV[16..24] */
    struct evp_cipher_ctx_st *evp; /* keyed with subkey, or NULL */
    bool lazy;                     /* pl_dg_aead_warm may make evp */
} pl_dg_aead;

/* libsodium alone: no allocation; pl_dg_aead_wipe is optional. */
void pl_dg_aead_init(pl_dg_aead *a, const uint8_t key[PL_DG_KEYLEN], const uint8_t iv[PL_DG_IVLEN]);
/* pl_dg_aead_init plus OpenSSL's context, which pl_dg_aead_wipe must free.
 * PL_ERR_NOMEM or PL_ERR_INTERNAL: no context, and `a` works on libsodium
 * alone (same bytes), so a caller may ignore the error. */
int pl_dg_aead_init_evp(pl_dg_aead *a, const uint8_t key[PL_DG_KEYLEN],
                        const uint8_t iv[PL_DG_IVLEN]) PL_WUR;
/* pl_dg_aead_init, and OpenSSL's context made only when traffic warrants
 * it (pl_dg_aead_warm) and dropped when it stops (pl_dg_aead_cool): an
 * idle connection costs no context. */
void pl_dg_aead_init_lazy(pl_dg_aead *a, const uint8_t key[PL_DG_KEYLEN],
                          const uint8_t iv[PL_DG_IVLEN]);
/* Make the context now (after pl_dg_aead_init_lazy; without memory,
 * libsodium goes on alone). */
void pl_dg_aead_warm(pl_dg_aead *a);
/* Drop the context (after pl_dg_aead_init_lazy); warm makes it again. */
void pl_dg_aead_cool(pl_dg_aead *a);
/* Frees the context, if any, and zeroes the keys. */
void pl_dg_aead_wipe(pl_dg_aead *a);
/* Moves *from into *to (whose own state is wiped first); *from is left
 * zeroed, so wiping both frees the context once. */
void pl_dg_aead_move(pl_dg_aead *to, pl_dg_aead *from);
/* out gets len + PL_DG_TAGLEN bytes; out may equal in. */
int pl_dg_seal(const pl_dg_aead *a, uint64_t pn, const uint8_t *ad, size_t adlen, const uint8_t *in,
               size_t len, uint8_t *out) PL_WUR;
/* PL_ERR_PARSE (shorter than a tag), PL_ERR_AUTH; out gets len - TAGLEN
 * (zeroes on PL_ERR_AUTH: never unauthenticated plaintext). */
int pl_dg_open(const pl_dg_aead *a, uint64_t pn, const uint8_t *ad, size_t adlen, const uint8_t *in,
               size_t len, uint8_t *out) PL_WUR;

/* Windowed packet numbers (seed 004: "the window size in each packet, the
 * high order bit of each byte saying whether another seven bits follow").
 * A packet number n is sent as its low 7*k bits in k bytes, most
 * significant group first, the top bit of every byte but the last set.
 * The sender picks the smallest k whose window W = 2^(7k) is, before the
 * peer acknowledged anything, above n (the full count: nothing can wander
 * in late yet), and afterwards at least PL_DG_PN_MARGIN times the distance
 * from the largest packet number the peer acknowledged. The receiver takes
 * the number with those low bits nearest to its largest received + 1. */
#define PL_DG_PN_MARGIN 32

/* Bytes the encoding of pn takes given the peer's largest acknowledged
 * (PL_DG_PN_NONE: none yet). */
#define PL_DG_PN_NONE UINT64_MAX
size_t pl_dg_pn_len(uint64_t pn, uint64_t largest_acked);
/* Write it; returns the length, or PL_ERR_BUFSIZE / PL_ERR_INVAL (pn above
 * PL_DG_PN_MAX or not above largest_acked). */
int pl_dg_pn_encode(uint64_t pn, uint64_t largest_acked, uint8_t *out, size_t cap) PL_WUR;
/* Read one from in (len bytes available): sets *pn and returns the bytes
 * used; PL_ERR_PARSE when it does not end within len or PL_DG_PN_BYTES, or
 * the result would pass PL_DG_PN_MAX. largest_rx: PL_DG_PN_NONE before any. */
int pl_dg_pn_decode(const uint8_t *in, size_t len, uint64_t largest_rx, uint64_t *pn) PL_WUR;

/* Replay window: which of the last PL_DG_REPLAY_WINDOW packet numbers
 * below the largest were accepted. */
#define PL_DG_REPLAY_WINDOW 1024
typedef struct pl_dg_replay {
    uint64_t largest; /* PL_DG_PN_NONE before the first */
    uint64_t bits[PL_DG_REPLAY_WINDOW / 64];
} pl_dg_replay;

void pl_dg_replay_init(pl_dg_replay *r);
/* Would pn be new? (Check before decrypting; mark after.) */
bool pl_dg_replay_fresh(const pl_dg_replay *r, uint64_t pn);
/* Record pn as received (after it authenticated). */
void pl_dg_replay_mark(pl_dg_replay *r, uint64_t pn);

/* ---- the responder's stateless defences (cookie.c) ---------------------- */

#define PL_DG_COOKIE_ROTATE  120 /* seconds a cookie secret is current; one more it is accepted */
#define PL_DG_COOKIE_MAC     16
#define PL_DG_COOKIE_LEN     (4 + PL_DG_COOKIE_MAC) /* epoch (u32, big-endian), MAC */
#define PL_DG_BIND_LEN       32                     /* digest of the HELLO a cookie answers */
#define PL_DG_POW_MAX        32  /* the hardest proof of work asked (leading zero bits) */
#define PL_DG_LOAD_WINDOW_MS 100 /* the difficulty moves at most one bit per window */

/* Two secrets: the current epoch's and the one before (epoch parity picks
 * the slot). A cookie is epoch || BLAKE2b-128 keyed with that epoch's
 * secret over a label, the epoch, the initiator's address and the HELLO
 * digest: no state per initiator, one hash to check. */
typedef struct pl_dg_cookie_keys {
    uint8_t secret[2][PL_DG_KEYLEN];
    uint32_t epoch;
    bool has_prev;
} pl_dg_cookie_keys;

int pl_dg_cookie_keys_init(pl_dg_cookie_keys *k, uint64_t now, pl_random_fn random,
                           void *user) PL_WUR;
/* A new secret when now has entered a new epoch (PL_ERR_INTERNAL if the
 * random source fails). */
int pl_dg_cookie_rotate(pl_dg_cookie_keys *k, uint64_t now, pl_random_fn random, void *user) PL_WUR;
void pl_dg_cookie_keys_wipe(pl_dg_cookie_keys *k);
/* addr: the initiator's address as bytes (1..255). */
int pl_dg_cookie_make(const pl_dg_cookie_keys *k, const uint8_t *addr, size_t addrlen,
                      const uint8_t bind[PL_DG_BIND_LEN], uint8_t out[PL_DG_COOKIE_LEN]) PL_WUR;
/* PL_OK; PL_ERR_EXPIRED (an epoch neither current nor the one before: no
 * hash computed); PL_ERR_AUTH (another address, HELLO or secret). */
int pl_dg_cookie_check(const pl_dg_cookie_keys *k, const uint8_t *addr, size_t addrlen,
                       const uint8_t bind[PL_DG_BIND_LEN],
                       const uint8_t cookie[PL_DG_COOKIE_LEN]) PL_WUR;

/* Cookies already used, so each is good for one INITIATE: one open-address
 * table per epoch generation, allocated once, at most half full. A cookie
 * is recorded only after its proof of work passed, so filling the table
 * costs work; when full it refuses (PL_ERR_TOOBIG) rather than forget. */
typedef struct pl_dg_used {
    uint8_t *slots[2];
    size_t cap, limit, count[2];
    uint32_t epoch[2];
} pl_dg_used;

int pl_dg_used_init(pl_dg_used *u, size_t per_epoch) PL_WUR;
void pl_dg_used_free(pl_dg_used *u);
/* Was it recorded? (A lookup: no change.) */
bool pl_dg_used_has(const pl_dg_used *u, const uint8_t cookie[PL_DG_COOKIE_LEN]);
/* PL_OK (recorded), PL_ERR_EXIST (used before), PL_ERR_TOOBIG (full),
 * PL_ERR_EXPIRED (older than the epoch its generation holds). */
int pl_dg_used_add(pl_dg_used *u, const uint8_t cookie[PL_DG_COOKIE_LEN]) PL_WUR;

/* Proof of work: BLAKE2b-256(label, cookie, bind, nonce little-endian) has
 * at least `bits` leading zero bits. Checking costs one hash; solving
 * costs 2^bits on average. */
bool pl_dg_pow_ok(const uint8_t cookie[PL_DG_COOKIE_LEN], const uint8_t bind[PL_DG_BIND_LEN],
                  uint64_t nonce, unsigned bits);
/* Try nonces start, start+1, ... at most max_tries: PL_OK with *nonce, or
 * PL_ERR_TOOBIG. */
int pl_dg_pow_solve(const uint8_t cookie[PL_DG_COOKIE_LEN], const uint8_t bind[PL_DG_BIND_LEN],
                    unsigned bits, uint64_t start, uint64_t max_tries, uint64_t *nonce) PL_WUR;

/* The difficulty asked, from the measured load: the work the responder did
 * (INITIATEs that reached a public-key operation) per window against its
 * capacity (handshakes per second on this machine). Zero when idle. */
typedef struct pl_dg_load {
    unsigned capacity, count, bits;
    uint64_t window_start;
} pl_dg_load;

void pl_dg_load_init(pl_dg_load *l, unsigned capacity_per_s);
void pl_dg_load_note(pl_dg_load *l, uint64_t now_ms);
unsigned pl_dg_load_bits(pl_dg_load *l, uint64_t now_ms);

/* Per-source accounting (docs/protocol.md §4.1): the work each source
 * costs the responder, so that the sources that cost the most are asked
 * for more. Two keys per source, its prefix (IPv4 /24, IPv6 /48) and its
 * host (IPv4 /32, IPv6 /64), each counted in a count-min sketch of
 * PL_DG_SRC_ROWS rows of PL_DG_SRC_BUCKETS buckets with conservative
 * update: collisions can only overestimate. Buckets are picked by SipHash
 * under a key drawn at init, so a sender cannot aim at another's buckets.
 * Costs decay by 2^(-1/4) per tick (half-life PL_DG_SRC_HALF_TICKS ticks),
 * lazily, from the time passed in: O(1) per packet, allocated once. */
#define PL_DG_SRC_BUCKETS    4096 /* per row: a power of two, at most 65536 */
#define PL_DG_SRC_ROWS       2
#define PL_DG_SRC_TICK_MS    500  /* costs decay in steps of this */
#define PL_DG_SRC_HALF_TICKS 4    /* ticks per half-life (2 s); the step table assumes 4 */
#define PL_DG_SRC_TAU_MS     2885 /* half-life / ln 2: what a steady rate per ms sums to */
#define PL_DG_SRC_SHARE      16   /* a prefix's fair share: 1/16 of the capacity */
#define PL_DG_SRC_HOST_SHARE 4    /* a host's fair share: 1/4 of its prefix's */
#define PL_DG_SRC_EXTRA_MAX  8    /* the most extra bits a source is asked */
#define PL_DG_SRC_IDLE_MIN   2    /* extra bits asked without global load only from here */
#define PL_DG_COST_COOKIE    1    /* a HELLO answered with a COOKIE */
#define PL_DG_COST_CHEAP     1    /* an INITIATE dropped (or answered again) after a hash */
#define PL_DG_COST_PK        16   /* an INITIATE that reached the public-key operations */

typedef struct pl_dg_src_bucket {
    uint32_t cost; /* decayed to `tick` */
    uint32_t tick; /* now_ms / PL_DG_SRC_TICK_MS when last written, modulo 2^32 */
} pl_dg_src_bucket;

typedef struct pl_dg_srcload {
    pl_dg_src_bucket *b; /* PL_DG_SRC_ROWS * PL_DG_SRC_BUCKETS */
    uint8_t key[16];     /* crypto_shorthash key */
    uint64_t budget;     /* a prefix's fair budget B, in cost units */
} pl_dg_srcload;

enum pl_dg_src_level { PL_DG_SRC_PREFIX = 0, PL_DG_SRC_HOST = 1 };

/* PL_ERR_NOMEM, PL_ERR_INTERNAL (the random source failed). */
int pl_dg_srcload_init(pl_dg_srcload *s, unsigned capacity_per_s, pl_random_fn random,
                       void *user) PL_WUR;
void pl_dg_srcload_free(pl_dg_srcload *s);
/* Charge `cost` units to the source at addr (pl_dg_addr bytes: IP then a
 * 2-byte port; 6 bytes IPv4, 18 IPv6, anything else all but the last 2
 * bytes whole). */
void pl_dg_srcload_note(pl_dg_srcload *s, const uint8_t *addr, size_t addrlen, unsigned cost,
                        uint64_t now_ms);
/* The decayed cost of addr's prefix or host: the smallest over the rows. */
uint32_t pl_dg_srcload_cost(const pl_dg_srcload *s, const uint8_t *addr, size_t addrlen,
                            enum pl_dg_src_level level, uint64_t now_ms);
/* Extra bits for addr: max over prefix and host of floor(log2(cost / fair))
 * clipped to [0, PL_DG_SRC_EXTRA_MAX]. */
unsigned pl_dg_srcload_extra(const pl_dg_srcload *s, const uint8_t *addr, size_t addrlen,
                             uint64_t now_ms);
/* The difficulty to ask addr given the global bits (pl_dg_load_bits):
 * global + extra under load; without it, extra only if at least
 * PL_DG_SRC_IDLE_MIN; clipped to PL_DG_POW_MAX. */
unsigned pl_dg_srcload_bits(const pl_dg_srcload *s, unsigned global, const uint8_t *addr,
                            size_t addrlen, uint64_t now_ms);

#endif /* PL_DGRAM_INT_H */
