/*
 * fuzz_discovery_http.c - what the directory client does with an HTTP
 * reply body: as a discover reply (pl_disc_check_json: decode the JSON
 * carrier, verify against the fingerprint asked for) and as an announce
 * error reply (pl_disc_server_reason).
 *
 * The fingerprint asked for is the key of docs/formats.md §3.8 (seed
 * 00 01 .. 1f), at a time its worked example is valid, so the seed
 * fuzz/corpus/discovery_http/example verifies. Checked: a set is accepted
 * only when it is by that key and pl_record_verify agrees; a refusal
 * always says why and leaves no field behind; a server's reason is
 * printable ASCII within its cap.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/discovery_int.h"
#include "peerlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000060u

static pl_fingerprint asked;
static int ready;

static void setup(void)
{
    uint8_t seed[PL_ED25519_SEED_LEN];
    pl_identity *id = NULL;
    for (size_t i = 0; i < sizeof seed; i++)
        seed[i] = (uint8_t)i;
    if (pl_init() != PL_OK || pl_identity_from_seed(&id, seed) != PL_OK)
        abort();
    pl_identity_fingerprint(id, &asked);
    pl_identity_free(id);
    if (pl_fingerprint_set_authority(&asked, "dir.example.org", NULL) != PL_OK)
        abort();
    ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pl_record got;
    pl_disc_check c = {&asked, NOW, PL_RECORD_SKEW_DEFAULT, 0};
    char why[PL_DISCOVERY_WHY_MAX] = "";
    char reason[256];
    pl_fingerprint signer;
    size_t n;
    int rc;

    if (!ready)
        setup();
    rc = pl_disc_check_json((const char *)data, size, &c, &got, why, sizeof why);
    if (rc == PL_OK) {
        if (pl_fingerprint_from_key(&signer, got.public_key, NULL) != PL_OK ||
            !pl_fingerprint_equal(&signer, &asked) ||
            pl_record_verify(&got, &asked, NOW, PL_RECORD_SKEW_DEFAULT) != PL_OK)
            abort();
    } else if (why[0] == 0 || got.n_addresses || got.n_relays || got.n_names || got.n_blobs ||
               got.timestamp || got.ttl) {
        abort();
    }
    n = pl_disc_server_reason((const char *)data, size, reason, sizeof reason);
    if (n != strlen(reason) || n > 200)
        abort();
    for (size_t i = 0; i < n; i++) {
        if (reason[i] < 0x20 || reason[i] > 0x7e)
            abort();
    }
    return 0;
}
