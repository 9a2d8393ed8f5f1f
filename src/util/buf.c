/* buf.c - bounded reader and writer (see buf.h). */
#include "util/buf.h"

#include <string.h>

#include "peerlink.h"

static const uint8_t *need(pl_rd *r, size_t n)
{
    if (r->err || n > r->len - r->off) {
        r->err = true;
        return NULL;
    }
    const uint8_t *p = r->p + r->off;
    r->off += n;
    return p;
}

uint8_t pl_rd_u8(pl_rd *r)
{
    const uint8_t *p = need(r, 1);
    return p ? p[0] : 0;
}

uint16_t pl_rd_u16(pl_rd *r)
{
    const uint8_t *p = need(r, 2);
    return p ? (uint16_t)((p[0] << 8) | p[1]) : 0;
}

uint32_t pl_rd_u32(pl_rd *r)
{
    const uint8_t *p = need(r, 4);
    if (!p)
        return 0;
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

uint64_t pl_rd_u64(pl_rd *r)
{
    uint64_t hi = pl_rd_u32(r);
    uint64_t lo = pl_rd_u32(r);
    return r->err ? 0 : (hi << 32) | lo;
}

void pl_rd_copy(pl_rd *r, void *out, size_t n)
{
    const uint8_t *p = need(r, n);
    if (p)
        memcpy(out, p, n);
    else if (n)
        memset(out, 0, n);
}

pl_span pl_rd_take(pl_rd *r, size_t n)
{
    const uint8_t *p = need(r, n);
    pl_span s = {p, p ? n : 0};
    return s;
}

int pl_rd_peek(const pl_rd *r)
{
    if (r->err || r->off >= r->len)
        return -1;
    return r->p[r->off];
}

bool pl_rd_accept(pl_rd *r, const char *lit)
{
    size_t n = strlen(lit);
    if (r->err || n > r->len - r->off || memcmp(r->p + r->off, lit, n) != 0)
        return false;
    r->off += n;
    return true;
}

void pl_rd_expect(pl_rd *r, const char *lit)
{
    if (!pl_rd_accept(r, lit))
        r->err = true;
}

pl_span pl_rd_until(pl_rd *r, uint8_t stop)
{
    pl_span s = {NULL, 0};
    if (r->err)
        return s;
    const uint8_t *start = r->p + r->off;
    const uint8_t *hit = memchr(start, stop, r->len - r->off);
    size_t n = hit ? (size_t)(hit - start) : r->len - r->off;
    s.p = start;
    s.len = n;
    r->off += n;
    return s;
}

bool pl_rd_finish(const pl_rd *r)
{
    return !r->err && r->off == r->len;
}

static uint8_t *room(pl_wr *w, size_t n)
{
    if (w->err || n > w->cap - w->off) {
        w->err = true;
        return NULL;
    }
    uint8_t *p = w->p + w->off;
    w->off += n;
    return p;
}

void pl_wr_u8(pl_wr *w, uint8_t v)
{
    uint8_t *p = room(w, 1);
    if (p)
        p[0] = v;
}

void pl_wr_u16(pl_wr *w, uint16_t v)
{
    uint8_t *p = room(w, 2);
    if (p) {
        p[0] = (uint8_t)(v >> 8);
        p[1] = (uint8_t)v;
    }
}

void pl_wr_u32(pl_wr *w, uint32_t v)
{
    uint8_t *p = room(w, 4);
    if (p) {
        p[0] = (uint8_t)(v >> 24);
        p[1] = (uint8_t)(v >> 16);
        p[2] = (uint8_t)(v >> 8);
        p[3] = (uint8_t)v;
    }
}

void pl_wr_u64(pl_wr *w, uint64_t v)
{
    pl_wr_u32(w, (uint32_t)(v >> 32));
    pl_wr_u32(w, (uint32_t)v);
}

void pl_wr_bytes(pl_wr *w, const void *src, size_t n)
{
    uint8_t *p = room(w, n);
    if (p && n)
        memcpy(p, src, n);
}

void pl_wr_str(pl_wr *w, const char *s)
{
    pl_wr_bytes(w, s, strlen(s));
}

void pl_wr_nul(pl_wr *w)
{
    if (w->err || w->off >= w->cap)
        w->err = true;
    else
        w->p[w->off] = 0;
}

int pl_wr_result(const pl_wr *w)
{
    if (w->err)
        return PL_ERR_BUFSIZE;
    if (w->off > (size_t)INT32_MAX)
        return PL_ERR_TOOBIG;
    return (int)w->off;
}

bool pl_span_eq(pl_span s, const char *lit)
{
    size_t n = strlen(lit);
    return s.len == n && (n == 0 || memcmp(s.p, lit, n) == 0);
}

bool pl_span_u64(pl_span s, uint64_t max, uint64_t *out)
{
    if (s.len == 0 || s.len > 20 || (s.len > 1 && s.p[0] == '0'))
        return false;
    uint64_t v = 0;
    for (size_t i = 0; i < s.len; i++) {
        if (s.p[i] < '0' || s.p[i] > '9')
            return false;
        uint64_t d = (uint64_t)(s.p[i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return false;
        v = v * 10 + d;
    }
    if (v > max)
        return false;
    *out = v;
    return true;
}
