/*
 * record.c - record sets: fields, the canonical byte string, sign, verify
 * (DESIGN.md §2.2, docs/formats.md §3).
 *
 * The canonical string is what is signed; the JSON and TXT carriers
 * (json.c, txt.c) only transport it. Big-endian throughout:
 *
 *   "peerlink-recordset-v1" 0x00         22 bytes, domain separation
 *   public key                           32 bytes
 *   timestamp                            u64, Unix seconds
 *   ttl                                  u32, seconds
 *   { type u8 || length u16 || value }*  addresses (1), relays (2),
 *                                        names (3), blobs (4), in order
 *
 * Every value carries its length, so ["ab","c"] and ["a","bc"] sign
 * different strings (the SEP reference concatenated them).
 */
#include <string.h>

#include "peerlink.h"
#include "record/record_int.h"
#include "util/buf.h"
#include "util/util.h"

static const char domain[] = "peerlink-recordset-v1"; /* sizeof includes the NUL we sign */

#define HEADER_LEN (sizeof domain + PL_ED25519_PK_LEN + 8 + 4)
#define FIELD_HDR  3 /* type u8, length u16 */

void pl_record_init(pl_record *rs)
{
    if (rs)
        memset(rs, 0, sizeof *rs);
}

/* ---- value rules (docs/formats.md §3.3) ---------------------- */

static int is_scheme_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '.' || c == '-';
}

static int check_uri(const char *s, size_t len, const char **why)
{
    size_t i = 0;
    if (len == 0 || len > PL_RECORD_URI_MAX) {
        *why = len ? "an address must be at most 255 bytes long" : "an address must not be empty";
        return len ? PL_ERR_TOOBIG : PL_ERR_PARSE;
    }
    if (!pl_is_graph_ascii(s, len)) {
        *why = "an address must be printable ASCII without spaces (0x21..0x7e)";
        return PL_ERR_PARSE;
    }
    if (s[0] >= 'a' && s[0] <= 'z') {
        for (i = 1; i < len && is_scheme_char((unsigned char)s[i]); i++)
            ;
    }
    if (i == 0 || len - i < 4 || memcmp(s + i, "://", 3) != 0) {
        *why = "an address must be a URI with a lower-case scheme and something after "
               "\"://\", e.g. udp://198.51.100.4:7000";
        return PL_ERR_PARSE;
    }
    return PL_OK;
}

static int check_name(const char *s, size_t len, const char **why)
{
    if (len == 0 || len > PL_RECORD_NAME_MAX) {
        *why = len ? "a name must be at most 255 bytes long" : "a name must not be empty";
        return len ? PL_ERR_TOOBIG : PL_ERR_PARSE;
    }
    if (!pl_is_graph_ascii(s, len)) {
        *why = "a name must be printable ASCII without spaces (0x21..0x7e)";
        return PL_ERR_PARSE;
    }
    return PL_OK;
}

/* A relay is a fingerprint in exactly the text pl_fingerprint_format
 * gives, so one relay has one signed spelling. */
static int check_relay(const char *s, size_t len, const char **why)
{
    pl_fingerprint fp;
    char again[PL_FINGERPRINT_STR_MAX];
    if (len > PL_RECORD_RELAY_TEXT_MAX) {
        *why = "a relay fingerprint is too long";
        return PL_ERR_TOOBIG;
    }
    if (pl_fingerprint_parse(&fp, s, len, why) != PL_OK) {
        *why = "a relay must be a fingerprint, ni://[authority]/sha3-256;<43 characters>";
        return PL_ERR_PARSE;
    }
    int n = pl_fingerprint_format(&fp, again, sizeof again);
    if (n < 0 || (size_t)n != len || memcmp(again, s, len) != 0) {
        *why = "a relay fingerprint must be in canonical form (lower-case \"ni://\", "
               "as peerlink writes it)";
        return PL_ERR_PARSE;
    }
    return PL_OK;
}

int pl_record_check_timestamp(uint64_t ts, const char **why)
{
    if (ts > PL_RECORD_TIMESTAMP_MAX) {
        *why = "the timestamp must be an integer between 0 and 9007199254740991";
        return PL_ERR_PARSE;
    }
    return PL_OK;
}

int pl_record_check_ttl(uint64_t ttl, const char **why)
{
    if (ttl < 1 || ttl > PL_RECORD_TTL_MAX) {
        *why = "the ttl must be an integer between 1 and 604800";
        return PL_ERR_PARSE;
    }
    return PL_OK;
}

/* ---- appending fields ---------------------------------------------- */

static int too_many(const char **why, const char *msg)
{
    *why = msg;
    return PL_ERR_TOOBIG;
}

int pl_record_push_address(pl_record *rs, const char *s, size_t len, const char **why)
{
    if (rs->n_addresses >= PL_RECORD_ADDRESSES_MAX)
        return too_many(why, "a record set has at most 16 addresses");
    int rc = check_uri(s, len, why);
    if (rc != PL_OK)
        return rc;
    memcpy(rs->addresses[rs->n_addresses], s, len);
    rs->addresses[rs->n_addresses++][len] = 0;
    return PL_OK;
}

int pl_record_push_relay(pl_record *rs, const char *s, size_t len, const char **why)
{
    if (rs->n_relays >= PL_RECORD_RELAYS_MAX)
        return too_many(why, "a record set has at most 8 relays");
    int rc = check_relay(s, len, why);
    if (rc != PL_OK)
        return rc;
    memcpy(rs->relays[rs->n_relays], s, len);
    rs->relays[rs->n_relays++][len] = 0;
    return PL_OK;
}

int pl_record_push_name(pl_record *rs, const char *s, size_t len, const char **why)
{
    if (rs->n_names >= PL_RECORD_NAMES_MAX)
        return too_many(why, "a record set has at most 4 names");
    int rc = check_name(s, len, why);
    if (rc != PL_OK)
        return rc;
    memcpy(rs->names[rs->n_names], s, len);
    rs->names[rs->n_names++][len] = 0;
    return PL_OK;
}

int pl_record_push_blob(pl_record *rs, const uint8_t *p, size_t len, const char **why)
{
    if (rs->n_blobs >= PL_RECORD_BLOBS_MAX)
        return too_many(why, "a record set has at most 4 blobs");
    if (len > PL_RECORD_BLOB_MAX)
        return too_many(why, "a blob must be at most 1024 bytes long");
    pl_record_blob *b = &rs->blobs[rs->n_blobs++];
    b->len = len;
    if (len)
        memcpy(b->data, p, len);
    return PL_OK;
}

int pl_record_add_address(pl_record *rs, const char *uri, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!rs || !uri) {
        *why = "no record set or no address given";
        return PL_ERR_INVAL;
    }
    return pl_record_push_address(rs, uri, strnlen(uri, PL_RECORD_URI_MAX + 1), why);
}

int pl_record_add_name(pl_record *rs, const char *name, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!rs || !name) {
        *why = "no record set or no name given";
        return PL_ERR_INVAL;
    }
    return pl_record_push_name(rs, name, strnlen(name, PL_RECORD_NAME_MAX + 1), why);
}

int pl_record_add_relay(pl_record *rs, const pl_fingerprint *relay)
{
    char text[PL_FINGERPRINT_STR_MAX];
    const char *why;
    if (!rs || !relay)
        return PL_ERR_INVAL;
    int n = pl_fingerprint_format(relay, text, sizeof text);
    if (n < 0)
        return PL_ERR_INVAL;
    return pl_record_push_relay(rs, text, (size_t)n, &why);
}

int pl_record_add_blob(pl_record *rs, const uint8_t *data, size_t len)
{
    const char *why;
    if (!rs || (!data && len))
        return PL_ERR_INVAL;
    return pl_record_push_blob(rs, data, len, &why);
}

/* ---- whole-record checks ------------------------------------------- */

static int check_strings(size_t n, size_t max, const char *base, size_t stride,
                         int (*check)(const char *, size_t, const char **), const char **why)
{
    if (n > max) {
        *why = "a field count is larger than its cap";
        return PL_ERR_INVAL;
    }
    for (size_t i = 0; i < n; i++) {
        const char *s = base + i * stride;
        size_t len = strnlen(s, stride); /* == stride: no NUL, do not overrun */
        if (len == stride || check(s, len, why) != PL_OK)
            return PL_ERR_INVAL;
    }
    return PL_OK;
}

int pl_record_check_fields(const pl_record *rs, const char **why)
{
    if (check_strings(rs->n_addresses, PL_RECORD_ADDRESSES_MAX, rs->addresses[0],
                      sizeof rs->addresses[0], check_uri, why) != PL_OK ||
        check_strings(rs->n_relays, PL_RECORD_RELAYS_MAX, rs->relays[0], sizeof rs->relays[0],
                      check_relay, why) != PL_OK ||
        check_strings(rs->n_names, PL_RECORD_NAMES_MAX, rs->names[0], sizeof rs->names[0],
                      check_name, why) != PL_OK)
        return PL_ERR_INVAL;
    if (rs->n_blobs > PL_RECORD_BLOBS_MAX) {
        *why = "a record set has at most 4 blobs";
        return PL_ERR_INVAL;
    }
    for (size_t i = 0; i < rs->n_blobs; i++) {
        if (rs->blobs[i].len > PL_RECORD_BLOB_MAX) {
            *why = "a blob must be at most 1024 bytes long";
            return PL_ERR_INVAL;
        }
    }
    if (pl_record_check_timestamp(rs->timestamp, why) != PL_OK)
        return PL_ERR_INVAL;
    return PL_OK;
}

/* ---- the canonical byte string -------------------------------------- */

static void put_field(pl_wr *w, uint8_t type, const void *p, size_t len)
{
    pl_wr_u8(w, type);
    pl_wr_u16(w, (uint16_t)len); /* every value is <= 1024 bytes (checked) */
    pl_wr_bytes(w, p, len);
}

static size_t canonical_len(const pl_record *rs)
{
    size_t n = HEADER_LEN;
    for (size_t i = 0; i < rs->n_addresses; i++)
        n += FIELD_HDR + strlen(rs->addresses[i]);
    for (size_t i = 0; i < rs->n_relays; i++)
        n += FIELD_HDR + strlen(rs->relays[i]);
    for (size_t i = 0; i < rs->n_names; i++)
        n += FIELD_HDR + strlen(rs->names[i]);
    for (size_t i = 0; i < rs->n_blobs; i++)
        n += FIELD_HDR + rs->blobs[i].len;
    return n;
}

int pl_record_canonical(const pl_record *rs, uint8_t *out, size_t cap)
{
    const char *why;
    if (!rs || (!out && cap))
        return PL_ERR_INVAL;
    if (pl_record_check_fields(rs, &why) != PL_OK || pl_record_check_ttl(rs->ttl, &why) != PL_OK)
        return PL_ERR_INVAL;
    size_t need = canonical_len(rs);
    if (need > PL_RECORD_CANONICAL_MAX)
        return PL_ERR_TOOBIG; /* unreachable with today's caps; kept as the rule */
    if (need > cap)
        return PL_ERR_BUFSIZE;
    pl_wr w = pl_wr_init(out, cap);
    pl_wr_bytes(&w, domain, sizeof domain);
    pl_wr_bytes(&w, rs->public_key, PL_ED25519_PK_LEN);
    pl_wr_u64(&w, rs->timestamp);
    pl_wr_u32(&w, rs->ttl);
    for (size_t i = 0; i < rs->n_addresses; i++)
        put_field(&w, PL_RECORD_T_ADDRESS, rs->addresses[i], strlen(rs->addresses[i]));
    for (size_t i = 0; i < rs->n_relays; i++)
        put_field(&w, PL_RECORD_T_RELAY, rs->relays[i], strlen(rs->relays[i]));
    for (size_t i = 0; i < rs->n_names; i++)
        put_field(&w, PL_RECORD_T_NAME, rs->names[i], strlen(rs->names[i]));
    for (size_t i = 0; i < rs->n_blobs; i++)
        put_field(&w, PL_RECORD_T_BLOB, rs->blobs[i].data, rs->blobs[i].len);
    return pl_wr_result(&w);
}

/* ---- sign and verify -------------------------------------------------- */

int pl_record_sign(pl_record *rs, const pl_identity *id, uint64_t now, uint32_t ttl)
{
    uint8_t canon[PL_RECORD_CANONICAL_MAX];
    const char *why;
    if (!rs || !id)
        return PL_ERR_INVAL;
    memset(rs->signature, 0, sizeof rs->signature);
    if (pl_record_check_ttl(ttl, &why) != PL_OK || pl_record_check_timestamp(now, &why) != PL_OK)
        return PL_ERR_INVAL;
    pl_identity_public_key(id, rs->public_key);
    rs->timestamp = now;
    rs->ttl = ttl;
    int n = pl_record_canonical(rs, canon, sizeof canon);
    if (n < 0)
        return n;
    int rc = pl_identity_sign(id, canon, (size_t)n, rs->signature);
    if (rc != PL_OK)
        memset(rs->signature, 0, sizeof rs->signature);
    return rc;
}

/* Freshness (docs/formats.md §3.6 steps 5 and 6). Both comparisons are
 * written without `now + skew` or `timestamp + ttl`, which could wrap for
 * a hostile `now` or skew. */
static int check_time(const pl_record *rs, uint64_t now, uint32_t skew)
{
    if (rs->timestamp > now && rs->timestamp - now > skew)
        return PL_ERR_FUTURE;
    if (now >= rs->timestamp && now - rs->timestamp >= rs->ttl)
        return PL_ERR_EXPIRED;
    return PL_OK;
}

int pl_record_verify(const pl_record *rs, const pl_fingerprint *expected, uint64_t now,
                     uint32_t skew)
{
    uint8_t canon[PL_RECORD_CANONICAL_MAX];
    pl_fingerprint fp;
    const char *why;
    if (!rs)
        return PL_ERR_INVAL;
    if (pl_record_check_fields(rs, &why) != PL_OK)
        return PL_ERR_INVAL;
    if (expected) {
        if (pl_fingerprint_from_key(&fp, rs->public_key, NULL) != PL_OK)
            return PL_ERR_INTERNAL;
        if (!pl_fingerprint_equal(&fp, expected))
            return PL_ERR_AUTH;
    }
    if (pl_record_check_ttl(rs->ttl, &why) != PL_OK)
        return PL_ERR_INVAL;
    /* The signature comes before the clock: "expired" or "from the future"
     * is said only of a record set its key really signed, so a forged or
     * altered one is never mistaken for a stale one worth re-fetching.
     * Checking time first would save nothing against an attacker, who can
     * put any timestamp in a forgery. */
    int n = pl_record_canonical(rs, canon, sizeof canon);
    if (n < 0)
        return n;
    if (pl_ed25519_verify(rs->signature, canon, (size_t)n, rs->public_key) != PL_OK)
        return PL_ERR_AUTH;
    return check_time(rs, now, skew);
}
