/* hash.c - SHA3-256 through OpenSSL (DESIGN.md §6): one place, KAT-tested. */
#include <openssl/evp.h>

#include "peerlink.h"
#include "util/util.h"

int pl_sha3_256(const void *data, size_t len, uint8_t out[32])
{
    unsigned int n = 0;
    if (EVP_Digest(data, len, out, &n, EVP_sha3_256(), NULL) != 1 || n != 32)
        return PL_ERR_INTERNAL;
    return PL_OK;
}
