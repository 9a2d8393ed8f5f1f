/*
 * fuzz_record_txt.c - the DNS TXT carrier of record sets.
 *
 * Decode; if that succeeds, re-encoding must give back the input byte for
 * byte (the TXT encoding is canonical: one split, one order, strict
 * numbers and base64url), decoding that must give the same canonical
 * bytes, and the JSON carrier must carry the same record too. verify runs
 * on every decoded record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peerlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t c1[PL_RECORD_CANONICAL_MAX], c2[PL_RECORD_CANONICAL_MAX];
static uint8_t txt1[PL_RECORD_TXT_MAX];
static char json1[PL_RECORD_JSON_MAX + 1];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_record a, b;
    const char *why = NULL;
    if (pl_record_from_txt(&a, data, size, &why) != PL_OK) {
        if (!why)
            abort(); /* a failure always says why */
        return 0;
    }
    /* A decoded record has valid fields and is neither early nor late at
     * its own timestamp: only the key and the signature can fail. */
    int rc = pl_record_verify(&a, NULL, a.timestamp, PL_RECORD_SKEW_DEFAULT);
    if (rc != PL_OK && rc != PL_ERR_AUTH)
        abort();
    int n1 = pl_record_canonical(&a, c1, sizeof c1);
    int tn = pl_record_to_txt(&a, txt1, sizeof txt1);
    if (n1 < 0 || tn < 0 || (size_t)tn != size || memcmp(txt1, data, size) != 0)
        abort();
    if (pl_record_from_txt(&b, txt1, (size_t)tn, &why) != PL_OK)
        abort();
    int n2 = pl_record_canonical(&b, c2, sizeof c2);
    if (n2 != n1 || memcmp(c1, c2, (size_t)n1) != 0)
        abort();
    int jn = pl_record_to_json(&a, json1, sizeof json1);
    if (jn < 0 || pl_record_from_json(&b, json1, (size_t)jn, &why) != PL_OK)
        abort();
    n2 = pl_record_canonical(&b, c2, sizeof c2);
    if (n2 != n1 || memcmp(c1, c2, (size_t)n1) != 0)
        abort();
    return 0;
}
