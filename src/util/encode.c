/* encode.c - base64url (RFC 4648 §5, unpadded, strict) and hex. */
#include <string.h>

#include "peerlink.h"
#include "util/util.h"

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

int pl_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap)
{
    size_t need = PL_B64_LEN(len);
    if (len > (SIZE_MAX - 2) / 4 || cap < need + 1)
        return PL_ERR_BUFSIZE;
    if (need > (size_t)INT32_MAX)
        return PL_ERR_TOOBIG;
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8) | in[i + 2];
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
        out[o++] = b64[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = ((uint32_t)in[i] << 16) | ((uint32_t)in[i + 1] << 8);
        out[o++] = b64[v >> 18];
        out[o++] = b64[(v >> 12) & 63];
        out[o++] = b64[(v >> 6) & 63];
    }
    out[o] = 0;
    return (int)o;
}

static int b64val(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

int pl_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap)
{
    if (len % 4 == 1)
        return PL_ERR_PARSE; /* no byte string encodes to this length */
    size_t n = len / 4 * 3 + (len % 4 ? len % 4 - 1 : 0);
    if (n > cap)
        return PL_ERR_BUFSIZE;
    if (n > (size_t)INT32_MAX)
        return PL_ERR_TOOBIG;
    uint32_t acc = 0;
    int bits = 0;
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int v = b64val((unsigned char)in[i]);
        if (v < 0)
            return PL_ERR_PARSE;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint8_t)(acc >> bits);
            acc &= (1u << bits) - 1;
        }
    }
    if (acc != 0)
        return PL_ERR_PARSE; /* non-zero padding bits: not the canonical encoding */
    return (int)o;
}

void pl_hex_encode(const uint8_t *in, size_t len, char *out)
{
    static const char hx[] = "0123456789abcdef";
    for (size_t i = 0; i < len; i++) {
        out[2 * i] = hx[in[i] >> 4];
        out[2 * i + 1] = hx[in[i] & 15];
    }
    out[2 * len] = 0;
}

static int hexval(unsigned char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

int pl_hex_decode(const char *in, size_t len, uint8_t *out, size_t outlen)
{
    if (len != 2 * outlen)
        return PL_ERR_PARSE;
    for (size_t i = 0; i < outlen; i++) {
        int hi = hexval((unsigned char)in[2 * i]), lo = hexval((unsigned char)in[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return PL_ERR_PARSE;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return PL_OK;
}

int pl_is_graph_ascii(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return 0;
    return 1;
}
