/*
 * fingerprint.c - self-certifying names (DESIGN.md §2.1, RFC 6920).
 *
 *   ni://[authority]/sha3-256;B
 *
 * B is unpadded base64url of SHA3-256 over the DER SubjectPublicKeyInfo of
 * the Ed25519 key (12 fixed bytes, then the 32 key bytes). The authority
 * names the directory the node announces to; it is not part of the identity
 * and is ignored by pl_fingerprint_equal.
 */
#include <arpa/inet.h>
#include <string.h>

#include <sodium.h>

#include "peerlink.h"
#include "util/buf.h"
#include "util/util.h"

/* SEQUENCE { SEQUENCE { OID 1.3.101.112 } BIT STRING (32 bytes) } */
static const uint8_t spki_prefix[12] = {0x30, 0x2a, 0x30, 0x05, 0x06, 0x03,
                                        0x2b, 0x65, 0x70, 0x03, 0x21, 0x00};

#define ALG_NAME     "sha3-256"
#define ALG_SUITE_ID "0a" /* RFC 6920 suite ID 10 (IANA registry: sha3-256) */
#define HOST_MAX     253

int pl_fingerprint_from_key(pl_fingerprint *fp, const uint8_t pk[PL_ED25519_PK_LEN],
                            const char *authority)
{
    uint8_t der[sizeof spki_prefix + PL_ED25519_PK_LEN];
    memset(fp, 0, sizeof *fp);
    memcpy(der, spki_prefix, sizeof spki_prefix);
    memcpy(der + sizeof spki_prefix, pk, PL_ED25519_PK_LEN);
    if (pl_sha3_256(der, sizeof der, fp->digest) != PL_OK)
        return PL_ERR_INTERNAL;
    return pl_fingerprint_set_authority(fp, authority, NULL);
}

static int is_alnum(int c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

/* A DNS host name: LDH labels of 1..63, no leading/trailing hyphen, <= 253,
 * and not all-numeric in the last label (that would be an IPv4 literal). */
static int valid_dns_name(const char *s, size_t len)
{
    if (len == 0 || len > HOST_MAX)
        return 0;
    size_t label = 0;
    int last_alpha = 0;
    for (size_t i = 0; i <= len; i++) {
        int c = i < len ? (unsigned char)s[i] : '.';
        if (c == '.') {
            if (label == 0 || label > 63 || s[i - 1] == '-')
                return 0;
            if (i < len)
                last_alpha = 0;
            label = 0;
            continue;
        }
        if (!is_alnum(c) && c != '-')
            return 0;
        if (c == '-' && label == 0)
            return 0;
        if (!(c >= '0' && c <= '9'))
            last_alpha = 1;
        label++;
    }
    return last_alpha;
}

/* Splits authority into host and port and validates both. Sets *dns when
 * the host is a DNS name (not an address literal). */
static int check_authority(const char *a, size_t len, size_t *hostlen, int *dns, const char **why)
{
    const char *colon;
    char tmp[64];
    *dns = 0;
    if (memchr(a, '@', len)) {
        *why = "the authority must not contain user information ('@')";
        return PL_ERR_PARSE;
    }
    if (len > 0 && a[0] == '[') {
        const char *end = memchr(a, ']', len);
        size_t n = end ? (size_t)(end - a - 1) : 0;
        if (!end || n == 0 || n >= sizeof tmp) {
            *why = "an IPv6 authority must be written [address]";
            return PL_ERR_PARSE;
        }
        memcpy(tmp, a + 1, n);
        tmp[n] = 0;
        uint8_t addr[16];
        if (inet_pton(AF_INET6, tmp, addr) != 1) {
            *why = "the IPv6 address in the authority is not valid";
            return PL_ERR_PARSE;
        }
        *hostlen = n + 2;
        colon = *hostlen < len ? a + *hostlen : NULL;
        if (colon && *colon != ':') {
            *why = "unexpected characters after the IPv6 address in the authority";
            return PL_ERR_PARSE;
        }
    } else {
        colon = memchr(a, ':', len);
        *hostlen = colon ? (size_t)(colon - a) : len;
        if (*hostlen < sizeof tmp) {
            memcpy(tmp, a, *hostlen);
            tmp[*hostlen] = 0;
        }
        uint8_t addr[4];
        if (*hostlen < sizeof tmp && inet_pton(AF_INET, tmp, addr) == 1) {
            /* dotted-quad IPv4 literal */
        } else if (valid_dns_name(a, *hostlen)) {
            *dns = 1;
        } else {
            *why = "the authority must be a DNS name, an IPv4 address or [IPv6], "
                   "optionally with :port";
            return PL_ERR_PARSE;
        }
    }
    if (colon) {
        pl_span port = {(const uint8_t *)colon + 1, len - (size_t)(colon + 1 - a)};
        uint64_t v;
        if (!pl_span_u64(port, 65535, &v) || v == 0) {
            *why = "the port in the authority must be a number from 1 to 65535";
            return PL_ERR_PARSE;
        }
    }
    return PL_OK;
}

int pl_fingerprint_set_authority(pl_fingerprint *fp, const char *authority, const char **why)
{
    const char *dummy;
    size_t hostlen;
    int dns;
    if (!why)
        why = &dummy;
    if (!authority || !authority[0]) {
        fp->authority[0] = 0;
        return PL_OK;
    }
    size_t len = strnlen(authority, PL_AUTHORITY_MAX + 1);
    if (len > PL_AUTHORITY_MAX) {
        *why = "the authority is too long";
        return PL_ERR_TOOBIG;
    }
    int rc = check_authority(authority, len, &hostlen, &dns, why);
    if (rc != PL_OK)
        return rc;
    memcpy(fp->authority, authority, len + 1);
    return PL_OK;
}

/* Explains the commonest ways a hash value goes wrong. */
static const char *explain_value(pl_span v)
{
    if (memchr(v.p, '?', v.len))
        return "query parameters (\"?...\") are not supported in fingerprints";
    if (memchr(v.p, '=', v.len))
        return "remove the '=' padding: the hash is unpadded base64url";
    if (memchr(v.p, '+', v.len) || memchr(v.p, '/', v.len))
        return "the hash must be base64url ('-' and '_'), not base64 ('+' and '/')";
    if (v.len != PL_FP_B64_LEN)
        return "the hash must be exactly 43 base64url characters (32 bytes)";
    return "the hash is not valid base64url";
}

int pl_fingerprint_parse(pl_fingerprint *fp, const char *s, size_t len, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    memset(fp, 0, sizeof *fp);
    if (!s) {
        *why = "no fingerprint given";
        return PL_ERR_INVAL;
    }
    if (len > PL_FINGERPRINT_STR_MAX) {
        *why = "the fingerprint is too long";
        return PL_ERR_TOOBIG;
    }
    pl_rd r = pl_rd_init(s, len);
    if (!pl_rd_accept(&r, "ni://") && !pl_rd_accept(&r, "NI://") && !pl_rd_accept(&r, "Ni://") &&
        !pl_rd_accept(&r, "nI://")) {
        *why = "a fingerprint starts with \"ni://\", e.g. ni:///sha3-256;<43 characters>";
        return PL_ERR_PARSE;
    }
    pl_span auth = pl_rd_until(&r, '/');
    if (pl_rd_peek(&r) != '/') {
        *why = "missing '/' after the authority: expected ni://[authority]/sha3-256;...";
        return PL_ERR_PARSE;
    }
    pl_rd_expect(&r, "/");
    if (auth.len > 0) {
        char a[PL_AUTHORITY_MAX + 1];
        size_t hostlen;
        int dns;
        if (auth.len > PL_AUTHORITY_MAX) {
            *why = "the authority is too long";
            return PL_ERR_TOOBIG;
        }
        memcpy(a, auth.p, auth.len);
        a[auth.len] = 0;
        if (memchr(a, 0, auth.len)) {
            *why = "the authority contains a NUL byte";
            return PL_ERR_PARSE;
        }
        int rc = check_authority(a, auth.len, &hostlen, &dns, why);
        if (rc != PL_OK)
            return rc;
        memcpy(fp->authority, a, auth.len + 1);
    }
    pl_span alg = pl_rd_until(&r, ';');
    if (pl_rd_peek(&r) != ';') {
        *why = "missing ';' between the hash algorithm and the hash value";
        goto fail;
    }
    pl_rd_expect(&r, ";");
    if (!pl_span_eq(alg, ALG_NAME)) {
        *why = "unsupported hash algorithm: peerlink fingerprints use sha3-256";
        goto fail;
    }
    pl_span val = pl_rd_take(&r, pl_rd_left(&r));
    if (val.len != PL_FP_B64_LEN || pl_b64url_decode((const char *)val.p, val.len, fp->digest,
                                                     sizeof fp->digest) != PL_FP_DIGEST_LEN) {
        *why = explain_value(val);
        goto fail;
    }
    if (!pl_rd_finish(&r)) {
        *why = "unexpected characters at the end of the fingerprint";
        goto fail;
    }
    return PL_OK;
fail:
    memset(fp, 0, sizeof *fp);
    return PL_ERR_PARSE;
}

/* The hash value B of the fingerprint text. */
static int digest_b64(const pl_fingerprint *fp, char b64[PL_FP_B64_LEN + 1])
{
    int n = pl_b64url_encode(fp->digest, PL_FP_DIGEST_LEN, b64, PL_FP_B64_LEN + 1);
    return n == PL_FP_B64_LEN ? PL_OK : PL_ERR_INTERNAL;
}

int pl_fingerprint_format(const pl_fingerprint *fp, char *out, size_t cap)
{
    char b64[PL_FP_B64_LEN + 1];
    if (digest_b64(fp, b64) != PL_OK)
        return PL_ERR_INTERNAL;
    pl_wr w = pl_wr_init(out, cap);
    pl_wr_str(&w, "ni://");
    pl_wr_str(&w, fp->authority);
    pl_wr_str(&w, "/" ALG_NAME ";");
    pl_wr_str(&w, b64);
    pl_wr_nul(&w);
    return pl_wr_result(&w);
}

int pl_fingerprint_equal(const pl_fingerprint *a, const pl_fingerprint *b)
{
    return sodium_memcmp(a->digest, b->digest, PL_FP_DIGEST_LEN) == 0;
}

int pl_fingerprint_dns_name(const pl_fingerprint *fp, char *out, size_t cap)
{
    const char *why;
    size_t hostlen;
    int dns;
    size_t alen = strnlen(fp->authority, sizeof fp->authority);
    if (alen == 0 || check_authority(fp->authority, alen, &hostlen, &dns, &why) != PL_OK || !dns)
        return PL_ERR_INVAL; /* needs a DNS host name authority */
    char hex[2 * PL_FP_DIGEST_LEN + 1];
    pl_hex_encode(fp->digest, PL_FP_DIGEST_LEN, hex);
    /* two 32-character labels, the suite id, then the host */
    if (2 * 33 + 3 + hostlen > PL_DNS_NAME_MAX - 1)
        return PL_ERR_TOOBIG;
    pl_wr w = pl_wr_init(out, cap);
    pl_wr_bytes(&w, hex, 32);
    pl_wr_u8(&w, '.');
    pl_wr_bytes(&w, hex + 32, 32);
    pl_wr_str(&w, "." ALG_SUITE_ID ".");
    for (size_t i = 0; i < hostlen; i++) {
        char c = fp->authority[i];
        pl_wr_u8(&w, (uint8_t)(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c));
    }
    pl_wr_nul(&w);
    return pl_wr_result(&w);
}

int pl_fingerprint_well_known_url(const pl_fingerprint *fp, char *out, size_t cap)
{
    char b64[PL_FP_B64_LEN + 1];
    if (!fp->authority[0])
        return PL_ERR_INVAL;
    if (digest_b64(fp, b64) != PL_OK)
        return PL_ERR_INTERNAL;
    pl_wr w = pl_wr_init(out, cap);
    pl_wr_str(&w, "https://");
    pl_wr_str(&w, fp->authority);
    pl_wr_str(&w, "/.well-known/ni/" ALG_NAME "/");
    pl_wr_str(&w, b64);
    pl_wr_nul(&w);
    return pl_wr_result(&w);
}
