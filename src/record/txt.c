/*
 * txt.c - the DNS TXT carrier of a record set (docs/formats.md §3.5).
 *
 * The RDATA of ONE TXT resource record: the character-strings inside one RR
 * keep their order, the RRs of an RRset do not (RFC 1035 §3.3.14). One
 * field per string, in a fixed order:
 *
 *   "v=pl1" "pk=<b64url>" "ts=<dec>" "ttl=<dec>"
 *   "a=<uri>"* "r=<fingerprint>"* "n=<name>"* "b=<b64url>"*
 *   "sig=<b64url>"
 *
 * A field longer than 255 bytes goes on in strings that start with "+":
 *
 *   <255>"b=AAAA...(253 more)" <255>"+...(254 bytes)" <n>"+...(n-1 bytes)"
 *
 * Every piece but the last is exactly 255 bytes, so a record set has one
 * TXT encoding: decode then encode gives back the input byte for byte, and
 * anything else (another split, another order, an unknown key) is refused.
 */
#include <string.h>

#include "peerlink.h"
#include "record/record_int.h"
#include "util/buf.h"

#define STR_MAX   255                                  /* longest character-string */
#define CONT      '+'                                  /* first byte of a continuation string */
#define FIELD_MAX (2 + PL_B64_LEN(PL_RECORD_BLOB_MAX)) /* "b=" and the largest blob */

/* The fields in their one order. */
enum stage { ST_V, ST_PK, ST_TS, ST_TTL, ST_A, ST_R, ST_N, ST_B, ST_SIG, ST_COUNT, ST_NONE = -1 };

static const struct key {
    const char *name;
    int repeatable;
    const char *missing; /* why, when this mandatory field is absent; NULL if optional */
} keys[ST_COUNT] = {
    [ST_V] = {"v", 0, "a TXT record set starts with the string \"v=pl1\""},
    [ST_PK] = {"pk", 0, "the \"pk=\" field (public key) must follow \"v=pl1\""},
    [ST_TS] = {"ts", 0, "the \"ts=\" field (timestamp) must follow \"pk=\""},
    [ST_TTL] = {"ttl", 0, "the \"ttl=\" field must follow \"ts=\""},
    [ST_A] = {"a", 1, NULL},
    [ST_R] = {"r", 1, NULL},
    [ST_N] = {"n", 1, NULL},
    [ST_B] = {"b", 1, NULL},
    [ST_SIG] = {"sig", 0, "a TXT record set ends with the \"sig=\" field (the signature)"},
};

/* ---- encoder ---------------------------------------------------------- */

static void put_pieces(pl_wr *w, const uint8_t *f, size_t len)
{
    size_t n = len < STR_MAX ? len : STR_MAX;
    pl_wr_u8(w, (uint8_t)n);
    pl_wr_bytes(w, f, n);
    for (size_t off = n; off < len; off += n) {
        n = len - off < STR_MAX - 1 ? len - off : STR_MAX - 1;
        pl_wr_u8(w, (uint8_t)(n + 1));
        pl_wr_u8(w, CONT);
        pl_wr_bytes(w, f + off, n);
    }
}

static void put_field(pl_wr *w, enum stage k, const void *val, size_t vlen)
{
    uint8_t f[FIELD_MAX];
    size_t klen = strlen(keys[k].name);
    if (klen + 1 + vlen > sizeof f) {
        w->err = true;
        return;
    }
    memcpy(f, keys[k].name, klen);
    f[klen] = '=';
    memcpy(f + klen + 1, val, vlen);
    put_pieces(w, f, klen + 1 + vlen);
}

static void put_b64(pl_wr *w, enum stage k, const uint8_t *p, size_t len)
{
    char b64[PL_B64_LEN(PL_RECORD_BLOB_MAX) + 1];
    int n = pl_b64url_encode(p, len, b64, sizeof b64);
    if (n < 0)
        w->err = true;
    else
        put_field(w, k, b64, (size_t)n);
}

/* Unsigned decimal without leading zeros, written back to front. */
static void put_dec(pl_wr *w, enum stage k, uint64_t v)
{
    char dec[20];
    size_t i = sizeof dec;
    do {
        dec[--i] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    put_field(w, k, dec + i, sizeof dec - i);
}

static void put_strings(pl_wr *w, enum stage k, size_t n, const char *base, size_t stride)
{
    for (size_t i = 0; i < n; i++)
        put_field(w, k, base + i * stride, strlen(base + i * stride));
}

int pl_record_to_txt(const pl_record *rs, uint8_t *out, size_t cap)
{
    const char *why;
    if (!rs || (!out && cap))
        return PL_ERR_INVAL;
    if (pl_record_check_fields(rs, &why) != PL_OK || pl_record_check_ttl(rs->ttl, &why) != PL_OK)
        return PL_ERR_INVAL;
    pl_wr w = pl_wr_init(out, cap);
    put_field(&w, ST_V, "pl1", 3);
    put_b64(&w, ST_PK, rs->public_key, PL_ED25519_PK_LEN);
    put_dec(&w, ST_TS, rs->timestamp);
    put_dec(&w, ST_TTL, rs->ttl);
    put_strings(&w, ST_A, rs->n_addresses, rs->addresses[0], sizeof rs->addresses[0]);
    put_strings(&w, ST_R, rs->n_relays, rs->relays[0], sizeof rs->relays[0]);
    put_strings(&w, ST_N, rs->n_names, rs->names[0], sizeof rs->names[0]);
    for (size_t i = 0; i < rs->n_blobs; i++)
        put_b64(&w, ST_B, rs->blobs[i].data, rs->blobs[i].len);
    put_b64(&w, ST_SIG, rs->signature, PL_ED25519_SIG_LEN);
    int n = pl_wr_result(&w);
    if (n > PL_RECORD_TXT_MAX)
        return PL_ERR_TOOBIG; /* unreachable with today's caps; kept as the rule */
    return n;
}

/* ---- decoder: character-strings into fields ---------------------------- */

typedef struct field {
    uint8_t buf[FIELD_MAX];
    size_t len;
} field;

/* Whether the next character-string starts with the continuation mark. */
static int next_is_continuation(const pl_rd *r)
{
    pl_rd t = *r;
    return pl_rd_u8(&t) > 0 && pl_rd_peek(&t) == CONT;
}

static int append(field *f, const uint8_t *p, size_t n, const char **why)
{
    if (n > sizeof f->buf - f->len) {
        *why = "a field is longer than the longest valid field (1368 bytes)";
        return PL_ERR_TOOBIG;
    }
    memcpy(f->buf + f->len, p, n);
    f->len += n;
    return PL_OK;
}

static int read_piece(pl_rd *r, pl_span *s, const char **why)
{
    *s = pl_rd_take(r, pl_rd_u8(r));
    if (!pl_rd_ok(r)) {
        *why = "the TXT data ends inside a character-string (truncated)";
        return PL_ERR_PARSE;
    }
    return PL_OK;
}

/* One field: a string, then its continuations (docs/formats.md §3.5.2). */
static int read_field(pl_rd *r, field *f, const char **why)
{
    pl_span s;
    f->len = 0;
    int rc = read_piece(r, &s, why);
    if (rc != PL_OK)
        return rc;
    if (s.len == 0) {
        *why = "an empty character-string: every string holds a field or its continuation";
        return PL_ERR_PARSE;
    }
    if (s.p[0] == CONT) {
        *why = "a continuation string (\"+...\") with no field before it";
        return PL_ERR_PARSE;
    }
    rc = append(f, s.p, s.len, why);
    while (rc == PL_OK && pl_rd_left(r) > 0 && next_is_continuation(r)) {
        if (s.len != STR_MAX) {
            *why = "a field is split at the wrong place: every piece but the last must be "
                   "255 bytes long";
            return PL_ERR_PARSE;
        }
        rc = read_piece(r, &s, why);
        if (rc == PL_OK && s.len == 1) {
            *why = "an empty continuation string (\"+\" and nothing after it)";
            return PL_ERR_PARSE;
        }
        if (rc == PL_OK)
            rc = append(f, s.p + 1, s.len - 1, why);
    }
    return rc;
}

/* ---- decoder: field values -------------------------------------------- */

static int value_version(pl_span v, const char **why)
{
    if (pl_span_eq(v, "pl1"))
        return PL_OK;
    /* "pl" and any other decimal, however long, is a version we do not know. */
    size_t digits = 2;
    while (digits < v.len && v.p[digits] >= '0' && v.p[digits] <= '9')
        digits++;
    if (v.len > 2 && memcmp(v.p, "pl", 2) == 0 && digits == v.len && v.p[2] != '0') {
        *why = "unsupported record set version: this peerlink reads \"v=pl1\"";
        return PL_ERR_VERSION;
    }
    *why = keys[ST_V].missing;
    return PL_ERR_PARSE;
}

static int value_b64_fixed(pl_span v, uint8_t *out, size_t len)
{
    if (v.len != PL_B64_LEN(len) ||
        pl_b64url_decode((const char *)v.p, v.len, out, len) != (int)len)
        return PL_ERR_PARSE;
    return PL_OK;
}

static int value_blob(pl_record *rs, pl_span v, const char **why)
{
    uint8_t blob[PL_RECORD_BLOB_MAX];
    int n = pl_b64url_decode((const char *)v.p, v.len, blob, sizeof blob);
    if (n < 0) {
        *why = n == PL_ERR_BUFSIZE ? "a blob must be at most 1024 bytes long"
                                   : "the \"b=\" field must be unpadded base64url";
        return n == PL_ERR_BUFSIZE ? PL_ERR_TOOBIG : PL_ERR_PARSE;
    }
    return pl_record_push_blob(rs, blob, (size_t)n, why);
}

static int value_fail(const char **why, const char *msg)
{
    *why = msg;
    return PL_ERR_PARSE;
}

static int store_value(pl_record *rs, enum stage k, pl_span v, const char **why)
{
    uint64_t n;
    const char *s = (const char *)v.p;
    switch (k) {
    case ST_V: return value_version(v, why);
    case ST_PK:
        if (value_b64_fixed(v, rs->public_key, PL_ED25519_PK_LEN) != PL_OK)
            return value_fail(why, "the \"pk=\" field must be the 32-byte public key in "
                                   "unpadded base64url (43 characters)");
        return PL_OK;
    case ST_TS:
        if (!pl_span_u64(v, PL_RECORD_TIMESTAMP_MAX, &n))
            return value_fail(why, "the \"ts=\" field must be a decimal integer between 0 and "
                                   "9007199254740991, without sign or leading zeros");
        rs->timestamp = n;
        return PL_OK;
    case ST_TTL:
        if (!pl_span_u64(v, PL_RECORD_TTL_MAX, &n) || n == 0)
            return value_fail(why, "the \"ttl=\" field must be a decimal integer between 1 and "
                                   "604800, without sign or leading zeros");
        rs->ttl = (uint32_t)n;
        return PL_OK;
    case ST_A: return pl_record_push_address(rs, s, v.len, why);
    case ST_R: return pl_record_push_relay(rs, s, v.len, why);
    case ST_N: return pl_record_push_name(rs, s, v.len, why);
    case ST_B: return value_blob(rs, v, why);
    case ST_SIG:
        if (value_b64_fixed(v, rs->signature, PL_ED25519_SIG_LEN) != PL_OK)
            return value_fail(why, "the \"sig=\" field must be the 64-byte signature in "
                                   "unpadded base64url (86 characters)");
        return PL_OK;
    default: return value_fail(why, "internal error: unknown field");
    }
}

/* ---- decoder: field order --------------------------------------------- */

static int lookup_key(pl_span key)
{
    for (int k = 0; k < ST_COUNT; k++)
        if (pl_span_eq(key, keys[k].name))
            return k;
    return ST_NONE;
}

/* The first mandatory field strictly between `from` and `to`, as a why. */
static const char *skipped(int from, int to)
{
    for (int k = from + 1; k < to; k++)
        if (keys[k].missing)
            return keys[k].missing;
    return NULL;
}

static int check_order(int stage, int k, const char **why)
{
    if (k == ST_NONE) {
        *why = "unknown field: a TXT record set has only the fields v, pk, ts, ttl, a, r, n, b "
               "and sig";
        return PL_ERR_PARSE;
    }
    if (stage == ST_NONE && k != ST_V) {
        *why = keys[ST_V].missing;
        return PL_ERR_PARSE;
    }
    if (stage == ST_SIG) {
        *why = "nothing may follow the \"sig=\" field";
        return PL_ERR_PARSE;
    }
    if (k < stage || (k == stage && !keys[k].repeatable)) {
        *why = "fields out of order or repeated: the order is v, pk, ts, ttl, then any "
               "a, r, n, b in that order, then sig";
        return PL_ERR_PARSE;
    }
    const char *missing = skipped(stage, k);
    if (missing)
        *why = missing;
    return missing ? PL_ERR_PARSE : PL_OK;
}

static int decode_fields(pl_record *rs, pl_rd *r, const char **why)
{
    field f;
    int stage = ST_NONE;
    while (pl_rd_left(r) > 0) {
        int rc = read_field(r, &f, why);
        if (rc != PL_OK)
            return rc;
        pl_rd fr = pl_rd_init(f.buf, f.len);
        pl_span key = pl_rd_until(&fr, '=');
        if (!pl_rd_accept(&fr, "=")) {
            *why = "every TXT string must be a field \"key=value\" (or a \"+\" continuation)";
            return PL_ERR_PARSE;
        }
        int k = lookup_key(key);
        rc = check_order(stage, k, why);
        if (rc == PL_OK)
            rc = store_value(rs, (enum stage)k, pl_rd_take(&fr, pl_rd_left(&fr)), why);
        if (rc != PL_OK)
            return rc;
        stage = k;
    }
    if (!pl_rd_finish(r)) {
        *why = "the TXT data ends inside a character-string (truncated)";
        return PL_ERR_PARSE;
    }
    const char *missing = stage == ST_NONE ? keys[ST_V].missing : skipped(stage, ST_COUNT);
    if (missing)
        *why = missing;
    return missing ? PL_ERR_PARSE : PL_OK;
}

int pl_record_from_txt(pl_record *rs, const uint8_t *in, size_t len, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    if (!rs || (!in && len)) {
        *why = "no record set or no input given";
        return PL_ERR_INVAL;
    }
    pl_record_init(rs);
    if (len > PL_RECORD_TXT_MAX) {
        *why = "the TXT record set is larger than 16384 bytes";
        return PL_ERR_TOOBIG;
    }
    pl_rd r = pl_rd_init(in, len);
    int rc = decode_fields(rs, &r, why);
    if (rc != PL_OK)
        pl_record_init(rs);
    return rc;
}
