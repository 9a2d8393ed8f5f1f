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
 * ChaCha20-Poly1305: bit-identical to XChaCha20-Poly1305 on the wire. */
typedef struct pl_dg_aead {
    uint8_t subkey[PL_DG_KEYLEN];
    uint8_t iv_tail[8]; /* IV[16..24] */
} pl_dg_aead;

void pl_dg_aead_init(pl_dg_aead *a, const uint8_t key[PL_DG_KEYLEN], const uint8_t iv[PL_DG_IVLEN]);
void pl_dg_aead_wipe(pl_dg_aead *a);
/* out gets len + PL_DG_TAGLEN bytes; out may equal in. */
int pl_dg_seal(const pl_dg_aead *a, uint64_t pn, const uint8_t *ad, size_t adlen, const uint8_t *in,
               size_t len, uint8_t *out) PL_WUR;
/* PL_ERR_PARSE (shorter than a tag), PL_ERR_AUTH; out gets len - TAGLEN. */
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

#endif /* PL_DGRAM_INT_H */
