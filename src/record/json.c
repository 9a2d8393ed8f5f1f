/*
 * json.c - the JSON carrier of a record set (HTTP directory;
 * docs/formats.md §3.4).
 *
 *   {"v":1,"fingerprint":"ni:///sha3-256;...","public_key":"<b64url>",
 *    "timestamp":N,"ttl":N,"address":[...],"relay":[...],"name":[...],
 *    "blob":["<b64url>",...],"signature":"<b64url>"}
 *
 * The JSON is a carrier, not what is signed: decoding rebuilds the struct
 * and the signature is checked over the canonical string (record.c). So
 * decoding is strict about everything that could smuggle unsigned data
 * (unknown keys, duplicate keys) or give one value two readings (floats,
 * negative or out-of-range integers). The encoder writes the JSON itself
 * rather than through jansson so the output is byte-for-byte fixed: compact,
 * keys in the order above, empty arrays omitted.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "peerlink.h"
#include "record/record_int.h"
#include "util/buf.h"

#define PK_B64_LEN   PL_B64_LEN(PL_ED25519_PK_LEN)
#define SIG_B64_LEN  PL_B64_LEN(PL_ED25519_SIG_LEN)
#define BLOB_B64_MAX PL_B64_LEN(PL_RECORD_BLOB_MAX)

/* ---- encoder ---------------------------------------------------------- */

/* Field values are printable ASCII (checked), so only '"' and '\\' need
 * escaping; nothing else is ever escaped. */
static void put_string(pl_wr *w, const char *s, size_t len)
{
    pl_wr_u8(w, '"');
    for (size_t i = 0; i < len; i++) {
        if (s[i] == '"' || s[i] == '\\')
            pl_wr_u8(w, '\\');
        pl_wr_u8(w, (uint8_t)s[i]);
    }
    pl_wr_u8(w, '"');
}

static void put_b64(pl_wr *w, const uint8_t *p, size_t len)
{
    char b64[BLOB_B64_MAX + 1];
    if (len > PL_RECORD_BLOB_MAX || pl_b64url_encode(p, len, b64, sizeof b64) < 0) {
        w->err = true;
        return;
    }
    put_string(w, b64, strlen(b64));
}

static void put_uint(pl_wr *w, uint64_t v)
{
    char dec[24];
    int n = snprintf(dec, sizeof dec, "%" PRIu64, v);
    pl_wr_bytes(w, dec, (size_t)n);
}

static void put_key(pl_wr *w, const char *key)
{
    pl_wr_u8(w, ',');
    put_string(w, key, strlen(key));
    pl_wr_u8(w, ':');
}

static void put_string_array(pl_wr *w, const char *key, size_t n, const char *base, size_t stride)
{
    if (n == 0)
        return;
    put_key(w, key);
    pl_wr_u8(w, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            pl_wr_u8(w, ',');
        put_string(w, base + i * stride, strlen(base + i * stride));
    }
    pl_wr_u8(w, ']');
}

int pl_record_to_json(const pl_record *rs, char *out, size_t cap)
{
    pl_fingerprint fp;
    char fptext[PL_FINGERPRINT_STR_MAX];
    const char *why;
    if (!rs || (!out && cap))
        return PL_ERR_INVAL;
    if (pl_record_check_fields(rs, &why) != PL_OK || pl_record_check_ttl(rs->ttl, &why) != PL_OK)
        return PL_ERR_INVAL;
    if (pl_fingerprint_from_key(&fp, rs->public_key, NULL) != PL_OK ||
        pl_fingerprint_format(&fp, fptext, sizeof fptext) < 0)
        return PL_ERR_INTERNAL;

    pl_wr w = pl_wr_init(out, cap);
    pl_wr_str(&w, "{\"v\":1");
    put_key(&w, "fingerprint");
    put_string(&w, fptext, strlen(fptext));
    put_key(&w, "public_key");
    put_b64(&w, rs->public_key, PL_ED25519_PK_LEN);
    put_key(&w, "timestamp");
    put_uint(&w, rs->timestamp);
    put_key(&w, "ttl");
    put_uint(&w, rs->ttl);
    put_string_array(&w, "address", rs->n_addresses, rs->addresses[0], sizeof rs->addresses[0]);
    put_string_array(&w, "relay", rs->n_relays, rs->relays[0], sizeof rs->relays[0]);
    put_string_array(&w, "name", rs->n_names, rs->names[0], sizeof rs->names[0]);
    if (rs->n_blobs) {
        put_key(&w, "blob");
        pl_wr_u8(&w, '[');
        for (size_t i = 0; i < rs->n_blobs; i++) {
            if (i)
                pl_wr_u8(&w, ',');
            put_b64(&w, rs->blobs[i].data, rs->blobs[i].len);
        }
        pl_wr_u8(&w, ']');
    }
    put_key(&w, "signature");
    put_b64(&w, rs->signature, PL_ED25519_SIG_LEN);
    pl_wr_u8(&w, '}');
    int n = pl_wr_result(&w);
    if (n > PL_RECORD_JSON_MAX)
        return PL_ERR_TOOBIG; /* unreachable with today's caps; kept as the rule */
    if (n >= 0 && (size_t)n < cap)
        out[n] = 0;
    return n;
}

/* ---- decoder ---------------------------------------------------------- */

static const char *const known_keys[] = {
    "v",       "fingerprint", "public_key", "timestamp", "ttl",
    "address", "relay",       "name",       "blob",      "signature",
};

static int only_known_keys(json_t *root, const char **why)
{
    const char *key;
    json_t *val;
    json_object_foreach(root, key, val)
    {
        size_t i = 0;
        while (i < sizeof known_keys / sizeof known_keys[0] && strcmp(key, known_keys[i]) != 0)
            i++;
        if (i == sizeof known_keys / sizeof known_keys[0]) {
            *why = "the record set has a key that version 1 does not define (allowed: v, "
                   "fingerprint, public_key, timestamp, ttl, address, relay, name, blob, "
                   "signature)";
            return PL_ERR_PARSE;
        }
    }
    return PL_OK;
}

/* A JSON integer (not a float, not negative) no larger than max. */
static int get_uint(json_t *root, const char *key, uint64_t max, uint64_t *out)
{
    json_t *v = json_object_get(root, key);
    if (!v || !json_is_integer(v) || json_integer_value(v) < 0 ||
        (uint64_t)json_integer_value(v) > max)
        return PL_ERR_PARSE;
    *out = (uint64_t)json_integer_value(v);
    return PL_OK;
}

/* A mandatory string holding exactly `len` bytes in base64url. */
static int get_b64_fixed(json_t *root, const char *key, uint8_t *out, size_t len)
{
    json_t *v = json_object_get(root, key);
    if (!v || !json_is_string(v) || json_string_length(v) != PL_B64_LEN(len) ||
        pl_b64url_decode(json_string_value(v), json_string_length(v), out, len) != (int)len)
        return PL_ERR_PARSE;
    return PL_OK;
}

static int decode_version(json_t *root, const char **why)
{
    json_t *v = json_object_get(root, "v");
    if (!v || !json_is_integer(v)) {
        *why = "the record set needs \"v\":1 (the format version, an integer)";
        return PL_ERR_PARSE;
    }
    if (json_integer_value(v) != 1) {
        *why = "unsupported record set version: this peerlink reads \"v\":1";
        return PL_ERR_VERSION;
    }
    return PL_OK;
}

static int decode_header(pl_record *rs, json_t *root, const char **why)
{
    uint64_t ts, ttl;
    if (get_b64_fixed(root, "public_key", rs->public_key, PL_ED25519_PK_LEN) != PL_OK) {
        *why = "the \"public_key\" field must be the 32-byte key in unpadded base64url "
               "(43 characters)";
        return PL_ERR_PARSE;
    }
    if (get_uint(root, "timestamp", PL_RECORD_TIMESTAMP_MAX, &ts) != PL_OK) {
        *why = "the \"timestamp\" field must be an integer between 0 and 9007199254740991";
        return PL_ERR_PARSE;
    }
    if (get_uint(root, "ttl", PL_RECORD_TTL_MAX, &ttl) != PL_OK || ttl == 0) {
        *why = "the \"ttl\" field must be an integer between 1 and 604800";
        return PL_ERR_PARSE;
    }
    rs->timestamp = ts;
    rs->ttl = (uint32_t)ttl;
    if (get_b64_fixed(root, "signature", rs->signature, PL_ED25519_SIG_LEN) != PL_OK) {
        *why = "the \"signature\" field must be the 64-byte signature in unpadded base64url "
               "(86 characters)";
        return PL_ERR_PARSE;
    }
    return PL_OK;
}

typedef int (*push_fn)(pl_record *, const char *, size_t, const char **);

static int push_blob_b64(pl_record *rs, const char *s, size_t len, const char **why)
{
    uint8_t blob[PL_RECORD_BLOB_MAX];
    if (len > BLOB_B64_MAX) {
        *why = "a blob must be at most 1024 bytes long";
        return PL_ERR_TOOBIG;
    }
    int n = pl_b64url_decode(s, len, blob, sizeof blob);
    if (n < 0) {
        *why = "each \"blob\" entry must be unpadded base64url";
        return PL_ERR_PARSE;
    }
    return pl_record_push_blob(rs, blob, (size_t)n, why);
}

/* An optional array of strings, each appended by push (which validates). */
static int decode_array(pl_record *rs, json_t *root, const char *key, push_fn push,
                        const char *not_array, const char **why)
{
    json_t *arr = json_object_get(root, key);
    size_t i;
    json_t *item;
    if (!arr)
        return PL_OK;
    if (!json_is_array(arr)) {
        *why = not_array;
        return PL_ERR_PARSE;
    }
    json_array_foreach(arr, i, item)
    {
        if (!json_is_string(item)) {
            *why = not_array;
            return PL_ERR_PARSE;
        }
        int rc = push(rs, json_string_value(item), json_string_length(item), why);
        if (rc != PL_OK)
            return rc;
    }
    return PL_OK;
}

static int decode_fields(pl_record *rs, json_t *root, const char **why)
{
    int rc = decode_array(rs, root, "address", pl_record_push_address,
                          "\"address\" must be an array of URI strings", why);
    if (rc == PL_OK)
        rc = decode_array(rs, root, "relay", pl_record_push_relay,
                          "\"relay\" must be an array of fingerprint strings", why);
    if (rc == PL_OK)
        rc = decode_array(rs, root, "name", pl_record_push_name,
                          "\"name\" must be an array of strings", why);
    if (rc == PL_OK)
        rc = decode_array(rs, root, "blob", push_blob_b64,
                          "\"blob\" must be an array of base64url strings", why);
    return rc;
}

/* "fingerprint" is redundant with the key; when present it must agree, so
 * a directory cannot label one node's record with another's name. */
static int decode_fingerprint(const pl_record *rs, json_t *root, const char **why)
{
    pl_fingerprint claimed, actual;
    json_t *v = json_object_get(root, "fingerprint");
    if (!v)
        return PL_OK;
    if (!json_is_string(v) ||
        pl_fingerprint_parse(&claimed, json_string_value(v), json_string_length(v), why) != PL_OK) {
        *why = "the \"fingerprint\" field must be a fingerprint, ni://[authority]/sha3-256;...";
        return PL_ERR_PARSE;
    }
    if (pl_fingerprint_from_key(&actual, rs->public_key, NULL) != PL_OK)
        return PL_ERR_INTERNAL;
    if (!pl_fingerprint_equal(&claimed, &actual)) {
        *why = "the \"fingerprint\" field is not the fingerprint of \"public_key\"";
        return PL_ERR_PARSE;
    }
    return PL_OK;
}

static int decode_root(pl_record *rs, json_t *root, const char **why)
{
    if (!json_is_object(root)) {
        *why = "a record set in JSON is an object: {\"v\":1,...}";
        return PL_ERR_PARSE;
    }
    /* Version first: a later version may add keys this one rejects. */
    int rc = decode_version(root, why);
    if (rc == PL_OK)
        rc = only_known_keys(root, why);
    if (rc == PL_OK)
        rc = decode_header(rs, root, why);
    if (rc == PL_OK)
        rc = decode_fields(rs, root, why);
    if (rc == PL_OK)
        rc = decode_fingerprint(rs, root, why);
    return rc;
}

int pl_record_from_json(pl_record *rs, const char *in, size_t len, const char **why)
{
    const char *dummy;
    json_error_t err;
    if (!why)
        why = &dummy;
    if (!rs || (!in && len)) {
        *why = "no record set or no input given";
        return PL_ERR_INVAL;
    }
    pl_record_init(rs);
    if (len > PL_RECORD_JSON_MAX) {
        *why = "the JSON record set is larger than 24576 bytes";
        return PL_ERR_TOOBIG;
    }
    if (len == 0 || memchr(in, 0, len)) {
        *why = len ? "the JSON record set contains a NUL byte" : "the JSON record set is empty";
        return PL_ERR_PARSE;
    }
    json_t *root = json_loadb(in, len, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        switch (json_error_code(&err)) {
        case json_error_duplicate_key: *why = "a key appears twice in the JSON record set"; break;
        case json_error_numeric_overflow:
            *why = "a number in the JSON record set is too large";
            break;
        default: *why = "the record set is not valid JSON"; break;
        }
        return PL_ERR_PARSE;
    }
    int rc = decode_root(rs, root, why);
    json_decref(root);
    if (rc != PL_OK)
        pl_record_init(rs);
    return rc;
}
