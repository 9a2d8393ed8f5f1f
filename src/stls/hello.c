/*
 * hello.c - the peer's first record, read with pl_rd, and the tie-breaker
 * rule (DESIGN.md §2.4, docs/formats.md §5).
 *
 * A side that sent a ClientHello looks at the first record that comes
 * back: a ServerHello means it stays client; a ClientHello means the
 * openings crossed and the tie-breakers settle who serves.
 *
 *   TLSPlaintext  type=22(1) legacy_record_version(2) length(2) fragment
 *   Handshake     msg_type=1(1) length(3) ClientHello          RFC 8446 §4
 *   ClientHello   legacy_version(2) random(32)                 §4.1.2
 *                 legacy_session_id<0..32>
 *                 cipher_suites<2..2^16-2>
 *                 legacy_compression_methods<1..2^8-1>
 *                 extensions<8..2^16-1>   (absent in very old clients)
 *   Extension     extension_type(2) extension_data<0..2^16-1>
 *   tie-breaker   extension_type=0xff73, extension_data = u64, big-endian
 *
 * Nothing here allocates; the record is untrusted and fuzzed
 * (fuzz/fuzz_clienthello.c).
 */
#include <string.h>

#include "peerlink.h"
#include "stls/stls_int.h"
#include "util/buf.h"

#define REC_HANDSHAKE   22
#define HS_CLIENT_HELLO 1
#define REC_HEADER_LEN  5

int pl_stls_record_len(const uint8_t *in, size_t len, size_t *out)
{
    *out = 0;
    if (len < REC_HEADER_LEN)
        return PL_OK;
    pl_rd r = pl_rd_init(in, REC_HEADER_LEN);
    (void)pl_rd_u8(&r);  /* type */
    (void)pl_rd_u16(&r); /* legacy_record_version */
    size_t body = pl_rd_u16(&r);
    if (body > PL_STLS_FRAGMENT_MAX)
        return PL_ERR_TOOBIG;
    *out = REC_HEADER_LEN + body;
    return PL_OK;
}

static int bad(pl_stls_hello *h, const char **why, const char *msg)
{
    memset(h, 0, sizeof *h);
    if (why)
        *why = msg;
    return PL_ERR_PARSE;
}

/* extensions<8..2^16-1>: find the tie-breaker, refuse it twice or malformed. */
static int read_extensions(pl_rd *r, pl_stls_hello *h, const char **why)
{
    uint16_t total = pl_rd_u16(r);
    pl_span all = pl_rd_take(r, total);
    if (!pl_rd_ok(r))
        return bad(h, why, "ClientHello extensions overrun the message");
    pl_rd e = pl_rd_init(all.p, all.len);
    while (pl_rd_ok(&e) && pl_rd_left(&e) > 0) {
        uint16_t type = pl_rd_u16(&e);
        uint16_t n = pl_rd_u16(&e);
        pl_span data = pl_rd_take(&e, n);
        if (!pl_rd_ok(&e))
            return bad(h, why, "a ClientHello extension overruns the extensions block");
        if (type != PL_STLS_EXT_TIEBREAK)
            continue;
        if (h->has_tiebreak)
            return bad(h, why, "the tie-breaker extension appears twice");
        if (data.len != PL_STLS_TIEBREAK_LEN)
            return bad(h, why, "the tie-breaker extension is not 8 bytes");
        pl_rd v = pl_rd_init(data.p, data.len);
        h->tiebreak = pl_rd_u64(&v);
        h->has_tiebreak = true;
    }
    if (!pl_rd_finish(&e))
        return bad(h, why, "malformed ClientHello extensions");
    return PL_OK;
}

int pl_stls_hello_parse(pl_stls_hello *h, const uint8_t *rec, size_t len, const char **why)
{
    memset(h, 0, sizeof *h);
    pl_rd r = pl_rd_init(rec, len);
    uint8_t type = pl_rd_u8(&r);
    (void)pl_rd_u16(&r); /* legacy_record_version: OpenSSL and the server judge it */
    uint16_t body = pl_rd_u16(&r);
    if (!pl_rd_ok(&r))
        return bad(h, why, "TLS record header cut short");
    if (body > PL_STLS_FRAGMENT_MAX)
        return bad(h, why, "TLS record longer than 2^14 bytes");
    if (pl_rd_left(&r) != body)
        return bad(h, why, "TLS record length does not match its contents");
    if (type != REC_HANDSHAKE || body == 0 || pl_rd_peek(&r) != HS_CLIENT_HELLO)
        return PL_OK; /* not a ClientHello: the TLS session judges it */

    h->client_hello = true;
    (void)pl_rd_u8(&r); /* msg_type */
    uint32_t hs_len = (uint32_t)pl_rd_u8(&r) << 16;
    hs_len |= pl_rd_u16(&r);
    if (!pl_rd_ok(&r) || hs_len != pl_rd_left(&r))
        return bad(h, why,
                   "the ClientHello does not fill its record exactly "
                   "(split over records or followed by other messages)");
    (void)pl_rd_u16(&r);      /* legacy_version */
    (void)pl_rd_take(&r, 32); /* random */
    uint8_t sid = pl_rd_u8(&r);
    if (sid > PL_STLS_SESSION_ID_MAX)
        return bad(h, why, "ClientHello session id longer than 32 bytes");
    (void)pl_rd_take(&r, sid);
    uint16_t suites = pl_rd_u16(&r);
    if (pl_rd_ok(&r) && (suites < 2 || suites % 2 != 0))
        return bad(h, why, "ClientHello cipher suite list is empty or odd");
    (void)pl_rd_take(&r, suites);
    uint8_t comp = pl_rd_u8(&r);
    if (pl_rd_ok(&r) && comp < 1)
        return bad(h, why, "ClientHello has no compression method");
    (void)pl_rd_take(&r, comp);
    if (!pl_rd_ok(&r))
        return bad(h, why, "ClientHello cut short");
    if (pl_rd_left(&r) > 0) {
        int rc = read_extensions(&r, h, why);
        if (rc != PL_OK)
            return rc;
    }
    if (!pl_rd_finish(&r))
        return bad(h, why, "bytes after the ClientHello extensions");
    return PL_OK;
}

unsigned pl_stls_tiebreak_decide(uint64_t ours, uint64_t theirs)
{
    if (ours < theirs)
        return PL_STLS_CLIENT;
    if (ours > theirs)
        return PL_STLS_SERVER;
    return 0;
}

int pl_stls_tiebreak_draw(pl_random_fn fn, void *user, uint64_t *out)
{
    for (int i = 0; i < PL_STLS_DRAWS_MAX; i++) {
        uint8_t b[8];
        if (fn(user, b, sizeof b) != 0)
            return PL_ERR_INTERNAL;
        pl_rd r = pl_rd_init(b, sizeof b);
        uint64_t v = pl_rd_u64(&r);
        if (v != PL_STLS_TIEBREAK_CLIENT_ONLY && v != PL_STLS_TIEBREAK_SERVER_ONLY) {
            *out = v;
            return PL_OK;
        }
    }
    return PL_ERR_INTERNAL;
}
