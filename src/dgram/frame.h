/* frame.h - the frames a DATA packet's plaintext is made of (src/dgram/,
 * docs/protocol.md §8). Internal. Integers in frames are QUIC's variable-
 * length integers (RFC 9000 §16: the top two bits of the first byte give
 * the length, 1, 2, 4 or 8 bytes, values below 2^62).
 *
 *   PADDING  0x00
 *   ACK      0x01 | largest | first range | range count | (gap | range)*
 *   MSG      0x02 | flags 1 | id | [re, when REPLY] | total | offset | len | bytes
 *   PING     0x03 | token 8
 *   PONG     0x04 | token 8 (the PING's)
 *   CLOSE    0x05 | code | reason len | reason (UTF-8)
 *   DATAGRAM 0x06 | len | bytes (unreliable)
 *   CHAN     0x07 | flags 1 (FIN 1) | channel | offset | len | bytes
 *   MAX_DATA 0x08 | max (channel bytes the sender may send, all channels)
 *   MAX_CHAN 0x09 | channel | max (the end offset the sender may reach)
 *   PATH_CHALLENGE 0x0a | token 8;  PATH_RESPONSE 0x0b | token 8
 */
#ifndef PL_DG_FRAME_H
#define PL_DG_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "dgram/engine.h"
#include "util/buf.h"

#define PL_DG_VARINT_MAX ((UINT64_C(1) << 62) - 1)
#define PL_DG_ACK_RANGES 32  /* ranges in one ACK frame */
#define PL_DG_REASON_MAX 128 /* bytes of a CLOSE reason */

enum {
    PL_DG_F_PADDING = 0,
    PL_DG_F_ACK = 1,
    PL_DG_F_MSG = 2,
    PL_DG_F_PING = 3,
    PL_DG_F_PONG = 4,
    PL_DG_F_CLOSE = 5,
    PL_DG_F_DATAGRAM = 6,
    PL_DG_F_CHAN = 7,
    PL_DG_F_MAX_DATA = 8,
    PL_DG_F_MAX_CHAN = 9,
    PL_DG_F_PATH_CHALLENGE = 10,
    PL_DG_F_PATH_RESPONSE = 11,
};

/* CHAN flags */
#define PL_DG_CHAN_FIN        0x01 /* the channel's last byte is at offset + len */
/* The largest channel offset (a channel carries less than 2^62 bytes). */
#define PL_DG_CHAN_OFFSET_MAX PL_DG_VARINT_MAX

/* MSG flags */
#define PL_DG_MSG_REQUEST 0x01 /* the sender wants a reply */
#define PL_DG_MSG_REPLY   0x02 /* answers request `re` */
#define PL_DG_MSG_REFUSED 0x04 /* (with REPLY) the request was refused */

/* Acknowledged packet numbers: ranges [lo, hi], highest first, disjoint
 * and not adjacent. */
typedef struct pl_dg_ack {
    size_t n;
    struct {
        uint64_t lo, hi;
    } r[PL_DG_ACK_RANGES];
} pl_dg_ack;

typedef struct pl_dg_frame {
    uint8_t type;
    pl_dg_ack ack;                  /* ACK */
    uint8_t flags;                  /* MSG, CHAN */
    uint64_t id, re, total, offset; /* MSG; CHAN: id (the channel), offset */
    uint64_t max;                   /* MAX_DATA, MAX_CHAN (id: the channel) */
    uint64_t token;                 /* PING, PONG, PATH_CHALLENGE, PATH_RESPONSE */
    uint64_t code;                  /* CLOSE */
    const uint8_t *bytes;           /* MSG fragment, CLOSE reason, DATAGRAM, CHAN */
    size_t len;
} pl_dg_frame;

size_t pl_dg_varint_len(uint64_t v);
void pl_dg_wr_varint(pl_wr *w, uint64_t v); /* fails the writer above PL_DG_VARINT_MAX */
uint64_t pl_dg_rd_varint(pl_rd *r);

/* One frame from r: PL_OK, or PL_ERR_PARSE with a static sentence in *why.
 * A MSG frame is checked against the fragmentation rule: total at most
 * PL_DG_MSG_MAX, offset a multiple of PL_DG_FRAG inside the message, len
 * exactly min(PL_DG_FRAG, total - offset) (one empty fragment for an empty
 * message). */
int pl_dg_frame_read(pl_rd *r, pl_dg_frame *f, const char **why) PL_WUR;
/* Write f (the writer's error flag tells whether it fit). */
void pl_dg_frame_write(pl_wr *w, const pl_dg_frame *f);
/* Bytes an ACK frame takes. */
size_t pl_dg_ack_len(const pl_dg_ack *a);

#endif /* PL_DG_FRAME_H */
