/*
 * fuzz_keyfile.c - the identity key file decoder. A decoded key must encode
 * to the canonical file, which must decode to the same key.
 */
#include <stdlib.h>
#include <string.h>

#include "peerlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    if (!ready) {
        if (pl_init() != PL_OK)
            abort();
        ready = 1;
    }
    pl_identity *id = NULL, *again = NULL;
    const char *why = NULL;
    if (pl_identity_decode(&id, (const char *)data, size, &why) != PL_OK) {
        if (id || !why)
            abort();
        return 0;
    }
    char buf[PL_IDENTITY_FILE_MAX];
    int n = pl_identity_encode(id, buf, sizeof buf);
    if (n < 0 || pl_identity_decode(&again, buf, (size_t)n, &why) != PL_OK)
        abort();
    uint8_t a[32], b[32];
    pl_identity_public_key(id, a);
    pl_identity_public_key(again, b);
    if (memcmp(a, b, 32) != 0)
        abort();
    pl_identity_free(id);
    pl_identity_free(again);
    return 0;
}
