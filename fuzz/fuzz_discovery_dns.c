/*
 * fuzz_discovery_dns.c - what the directory client does with a DNS answer:
 * the message bytes through ldns's parser, the TXT records owned by the
 * name asked (or the end of a CNAME chain to it), each RDATA through
 * pl_record_from_txt and the verification against the fingerprint asked
 * for (pl_disc_check_dns_wire).
 *
 * The fingerprint asked for is the key of docs/formats.md §3.8 with the
 * authority dir.example.org, at a time its worked example is valid; the
 * seeds in fuzz/corpus/discovery_dns/ are answers for its DNS name (one
 * set, several, a CNAME chain, NXDOMAIN, truncated, compressed names).
 * Checked: a set is accepted only when it is by that key and
 * pl_record_verify agrees; a refusal always says why and leaves nothing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "discovery/discovery_int.h"
#include "peerlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000060u

static pl_fingerprint asked;
static char qname[PL_DNS_NAME_MAX];
static int ready;

static void quiet(void *user, enum pl_log_level level, const char *msg)
{
    (void)user;
    (void)level;
    (void)msg;
}

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
    if (pl_fingerprint_set_authority(&asked, "dir.example.org", NULL) != PL_OK ||
        pl_fingerprint_dns_name(&asked, qname, sizeof qname) <= 0)
        abort();
    pl_set_log(quiet, NULL, PL_LOG_ERROR);
    ready = 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pl_record got;
    pl_disc_check c = {&asked, NOW, PL_RECORD_SKEW_DEFAULT, 0};
    char why[PL_DISCOVERY_WHY_MAX] = "";
    pl_fingerprint signer;
    int rc;

    if (!ready)
        setup();
    rc = pl_disc_check_dns_wire(data, size, qname, &c, &got, why, sizeof why);
    if (rc == PL_OK) {
        if (pl_fingerprint_from_key(&signer, got.public_key, NULL) != PL_OK ||
            !pl_fingerprint_equal(&signer, &asked) ||
            pl_record_verify(&got, &asked, NOW, PL_RECORD_SKEW_DEFAULT) != PL_OK)
            abort();
    } else if (why[0] == 0 || got.n_addresses || got.n_relays || got.n_names || got.n_blobs ||
               got.timestamp || got.ttl) {
        abort();
    }
    return 0;
}
