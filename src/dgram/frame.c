/*
 * frame.c - the frames inside a DATA packet's plaintext (docs/protocol.md
 * §8): one bounded reader that turns untrusted bytes into a frame or a
 * sentence saying why not, and one writer. Sans-IO, no allocation; the
 * reader's spans point into its input.
 */
#include <string.h>

#include "dgram/frame.h"

size_t pl_dg_varint_len(uint64_t v)
{
    return v < 64 ? 1 : v < 16384 ? 2 : v < (UINT64_C(1) << 30) ? 4 : 8;
}

void pl_dg_wr_varint(pl_wr *w, uint64_t v)
{
    switch (pl_dg_varint_len(v)) {
    case 1: pl_wr_u8(w, (uint8_t)v); break;
    case 2: pl_wr_u16(w, (uint16_t)(0x4000 | v)); break;
    case 4: pl_wr_u32(w, (uint32_t)(UINT32_C(0x80000000) | v)); break;
    default:
        if (v > PL_DG_VARINT_MAX) {
            w->err = true;
            return;
        }
        pl_wr_u64(w, UINT64_C(0xc000000000000000) | v);
    }
}

uint64_t pl_dg_rd_varint(pl_rd *r)
{
    int first = pl_rd_peek(r);
    if (first < 0) {
        pl_rd_fail(r);
        return 0;
    }
    switch (first >> 6) {
    case 0: return pl_rd_u8(r);
    case 1: return pl_rd_u16(r) & 0x3fff;
    case 2: return pl_rd_u32(r) & UINT32_C(0x3fffffff);
    default: return pl_rd_u64(r) & PL_DG_VARINT_MAX;
    }
}

static int bad(const char **why, const char *text)
{
    if (why)
        *why = text;
    return PL_ERR_PARSE;
}

static int read_ack(pl_rd *r, pl_dg_ack *a, const char **why)
{
    uint64_t largest = pl_dg_rd_varint(r), first = pl_dg_rd_varint(r), n = pl_dg_rd_varint(r);
    if (!pl_rd_ok(r))
        return bad(why, "truncated ACK frame");
    if (first > largest)
        return bad(why, "ACK range below packet number 0");
    if (n + 1 > PL_DG_ACK_RANGES)
        return bad(why, "too many ACK ranges");
    a->n = 1;
    a->r[0].hi = largest;
    a->r[0].lo = largest - first;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t gap = pl_dg_rd_varint(r), len = pl_dg_rd_varint(r);
        uint64_t below = a->r[a->n - 1].lo;
        if (!pl_rd_ok(r))
            return bad(why, "truncated ACK frame");
        /* the next range ends gap + 2 below the previous one's start */
        if (below < 2 || gap > below - 2 || len > below - 2 - gap)
            return bad(why, "ACK range below packet number 0");
        a->r[a->n].hi = below - 2 - gap;
        a->r[a->n].lo = a->r[a->n].hi - len;
        a->n++;
    }
    return PL_OK;
}

int pl_dg_frame_read(pl_rd *r, pl_dg_frame *f, const char **why)
{
    memset(f, 0, sizeof *f);
    f->type = pl_rd_u8(r);
    if (!pl_rd_ok(r))
        return bad(why, "no frame");
    switch (f->type) {
    case PL_DG_F_PADDING: return PL_OK;
    case PL_DG_F_ACK: return read_ack(r, &f->ack, why);
    case PL_DG_F_MSG: {
        f->flags = pl_rd_u8(r);
        f->id = pl_dg_rd_varint(r);
        if (f->flags & PL_DG_MSG_REPLY)
            f->re = pl_dg_rd_varint(r);
        f->total = pl_dg_rd_varint(r);
        f->offset = pl_dg_rd_varint(r);
        uint64_t len = pl_dg_rd_varint(r);
        if (!pl_rd_ok(r))
            return bad(why, "truncated MSG frame");
        if (f->flags & ~(PL_DG_MSG_REQUEST | PL_DG_MSG_REPLY | PL_DG_MSG_REFUSED))
            return bad(why, "unknown MSG flags");
        if ((f->flags & PL_DG_MSG_REQUEST) && (f->flags & PL_DG_MSG_REPLY))
            return bad(why, "a MSG cannot be both a request and a reply");
        if ((f->flags & PL_DG_MSG_REFUSED) && !(f->flags & PL_DG_MSG_REPLY))
            return bad(why, "only a reply can refuse");
        if (f->total > PL_DG_MSG_MAX)
            return bad(why, "message longer than PL_DG_MSG_MAX");
        if (f->offset % PL_DG_FRAG != 0 || (f->offset >= f->total && f->offset != 0))
            return bad(why, "fragment offset not on a fragment boundary inside the message");
        uint64_t want = f->total - f->offset < PL_DG_FRAG ? f->total - f->offset : PL_DG_FRAG;
        if (len != want)
            return bad(why, "fragment length does not fit the message length");
        pl_span s = pl_rd_take(r, (size_t)len);
        if (!pl_rd_ok(r))
            return bad(why, "truncated MSG frame");
        f->bytes = s.p;
        f->len = s.len;
        return PL_OK;
    }
    case PL_DG_F_PING:
    case PL_DG_F_PONG:
    case PL_DG_F_PATH_CHALLENGE:
    case PL_DG_F_PATH_RESPONSE:
        f->token = pl_rd_u64(r);
        return pl_rd_ok(r) ? PL_OK : bad(why, "truncated PING, PONG or PATH frame");
    case PL_DG_F_CHAN: {
        f->flags = pl_rd_u8(r);
        f->id = pl_dg_rd_varint(r);
        f->offset = pl_dg_rd_varint(r);
        uint64_t len = pl_dg_rd_varint(r);
        if (!pl_rd_ok(r))
            return bad(why, "truncated CHAN frame");
        if (f->flags & ~PL_DG_CHAN_FIN)
            return bad(why, "unknown CHAN flags");
        if (len > PL_DG_CHAN_OFFSET_MAX - f->offset)
            return bad(why, "CHAN frame beyond the largest channel offset");
        pl_span s = pl_rd_take(r, len > SIZE_MAX ? SIZE_MAX : (size_t)len);
        if (!pl_rd_ok(r))
            return bad(why, "truncated CHAN frame");
        f->bytes = s.p;
        f->len = s.len;
        return PL_OK;
    }
    case PL_DG_F_MAX_DATA:
    case PL_DG_F_MAX_CHAN:
        if (f->type == PL_DG_F_MAX_CHAN)
            f->id = pl_dg_rd_varint(r);
        f->max = pl_dg_rd_varint(r);
        return pl_rd_ok(r) ? PL_OK : bad(why, "truncated MAX_DATA or MAX_CHAN frame");
    case PL_DG_F_CLOSE:
    case PL_DG_F_DATAGRAM: {
        if (f->type == PL_DG_F_CLOSE)
            f->code = pl_dg_rd_varint(r);
        uint64_t len = pl_dg_rd_varint(r);
        if (!pl_rd_ok(r))
            return bad(why, "truncated frame");
        if (f->type == PL_DG_F_CLOSE && len > PL_DG_REASON_MAX)
            return bad(why, "close reason longer than PL_DG_REASON_MAX");
        pl_span s = pl_rd_take(r, len > SIZE_MAX ? SIZE_MAX : (size_t)len);
        if (!pl_rd_ok(r))
            return bad(why, "truncated frame");
        f->bytes = s.p;
        f->len = s.len;
        return PL_OK;
    }
    default: return bad(why, "unknown frame type");
    }
}

void pl_dg_frame_write(pl_wr *w, const pl_dg_frame *f)
{
    pl_wr_u8(w, f->type);
    switch (f->type) {
    case PL_DG_F_PADDING: break;
    case PL_DG_F_ACK: {
        const pl_dg_ack *a = &f->ack;
        if (a->n == 0 || a->n > PL_DG_ACK_RANGES) {
            w->err = true;
            return;
        }
        pl_dg_wr_varint(w, a->r[0].hi);
        pl_dg_wr_varint(w, a->r[0].hi - a->r[0].lo);
        pl_dg_wr_varint(w, a->n - 1);
        for (size_t i = 1; i < a->n; i++) {
            pl_dg_wr_varint(w, a->r[i - 1].lo - a->r[i].hi - 2);
            pl_dg_wr_varint(w, a->r[i].hi - a->r[i].lo);
        }
        break;
    }
    case PL_DG_F_MSG:
        pl_wr_u8(w, f->flags);
        pl_dg_wr_varint(w, f->id);
        if (f->flags & PL_DG_MSG_REPLY)
            pl_dg_wr_varint(w, f->re);
        pl_dg_wr_varint(w, f->total);
        pl_dg_wr_varint(w, f->offset);
        pl_dg_wr_varint(w, f->len);
        pl_wr_bytes(w, f->bytes, f->len);
        break;
    case PL_DG_F_PING:
    case PL_DG_F_PONG:
    case PL_DG_F_PATH_CHALLENGE:
    case PL_DG_F_PATH_RESPONSE: pl_wr_u64(w, f->token); break;
    case PL_DG_F_CHAN:
        pl_wr_u8(w, f->flags);
        pl_dg_wr_varint(w, f->id);
        pl_dg_wr_varint(w, f->offset);
        pl_dg_wr_varint(w, f->len);
        pl_wr_bytes(w, f->bytes, f->len);
        break;
    case PL_DG_F_MAX_CHAN:
        pl_dg_wr_varint(w, f->id);
        pl_dg_wr_varint(w, f->max);
        break;
    case PL_DG_F_MAX_DATA: pl_dg_wr_varint(w, f->max); break;
    case PL_DG_F_CLOSE:
    case PL_DG_F_DATAGRAM:
        if (f->type == PL_DG_F_CLOSE)
            pl_dg_wr_varint(w, f->code);
        pl_dg_wr_varint(w, f->len);
        pl_wr_bytes(w, f->bytes, f->len);
        break;
    default: w->err = true;
    }
}

size_t pl_dg_ack_len(const pl_dg_ack *a)
{
    size_t n = 1 + pl_dg_varint_len(a->r[0].hi) + pl_dg_varint_len(a->r[0].hi - a->r[0].lo) +
               pl_dg_varint_len(a->n - 1);
    for (size_t i = 1; i < a->n; i++)
        n += pl_dg_varint_len(a->r[i - 1].lo - a->r[i].hi - 2) +
             pl_dg_varint_len(a->r[i].hi - a->r[i].lo);
    return n;
}
