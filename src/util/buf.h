/*
 * buf.h - the one bounded reader and writer for untrusted bytes.
 *
 * Every decoder in peerlink reads through a pl_rd. A read past the end, or
 * a failed expectation, sets a sticky error flag: later reads return zeros
 * and fail, so a decoder can read a whole structure and check once. A
 * decoder ends with pl_rd_finish(), which also insists that exactly all
 * input was consumed. Wire bytes are never cast to structs.
 *
 * pl_wr is the mirror image for output into a caller buffer: a write that
 * does not fit sets the sticky flag and writes nothing more.
 */
#ifndef PL_UTIL_BUF_H
#define PL_UTIL_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct pl_rd {
    const uint8_t *p;
    size_t len;
    size_t off;
    bool err;
} pl_rd;

typedef struct pl_wr {
    uint8_t *p;
    size_t cap;
    size_t off;
    bool err;
} pl_wr;

/* A span of the input: pointer and length, valid while the input lives. */
typedef struct pl_span {
    const uint8_t *p;
    size_t len;
} pl_span;

static inline pl_rd pl_rd_init(const void *p, size_t len)
{
    pl_rd r = {(const uint8_t *)p, len, 0, false};
    return r;
}

static inline size_t pl_rd_left(const pl_rd *r)
{
    return r->err ? 0 : r->len - r->off;
}

static inline bool pl_rd_ok(const pl_rd *r)
{
    return !r->err;
}

static inline void pl_rd_fail(pl_rd *r)
{
    r->err = true;
}

/* Binary: big-endian integers and byte runs. */
uint8_t pl_rd_u8(pl_rd *r);
uint16_t pl_rd_u16(pl_rd *r);
uint32_t pl_rd_u32(pl_rd *r);
uint64_t pl_rd_u64(pl_rd *r);
void pl_rd_copy(pl_rd *r, void *out, size_t n); /* zero-fills out on error */
pl_span pl_rd_take(pl_rd *r, size_t n);         /* empty span on error */

/* Text helpers. */
int pl_rd_peek(const pl_rd *r);               /* next byte, or -1 at end / on error */
bool pl_rd_accept(pl_rd *r, const char *lit); /* consume lit if it is next */
void pl_rd_expect(pl_rd *r, const char *lit); /* consume lit or set error */
/* Take bytes up to (not including) `stop` or the end; does not consume stop. */
pl_span pl_rd_until(pl_rd *r, uint8_t stop);

/* true iff no error occurred and all input was consumed. */
bool pl_rd_finish(const pl_rd *r);

static inline pl_wr pl_wr_init(void *p, size_t cap)
{
    pl_wr w = {(uint8_t *)p, cap, 0, false};
    return w;
}

void pl_wr_u8(pl_wr *w, uint8_t v);
void pl_wr_u16(pl_wr *w, uint16_t v);
void pl_wr_u32(pl_wr *w, uint32_t v);
void pl_wr_u64(pl_wr *w, uint64_t v);
void pl_wr_bytes(pl_wr *w, const void *p, size_t n);
void pl_wr_str(pl_wr *w, const char *s); /* without the NUL */
/* Write a NUL after the content if it fits (not counted in off). Text
 * producers call this last; it sets the error flag if there is no room. */
void pl_wr_nul(pl_wr *w);

/* Length written, or PL_ERR_BUFSIZE if anything did not fit. */
int pl_wr_result(const pl_wr *w);

/* Span helpers. */
bool pl_span_eq(pl_span s, const char *lit);
/* Strict unsigned decimal: no sign, no leading zeros (except "0"), no
 * overflow past max. */
bool pl_span_u64(pl_span s, uint64_t max, uint64_t *out);

#endif
