/*
 * fuzz_record_json.c - the JSON carrier of record sets.
 *
 * Decode; if that succeeds the record must survive re-encoding: encode,
 * decode again, and the canonical bytes (what is signed) must not change,
 * nor may a second encoding differ from the first (the encoder is
 * deterministic). The TXT carrier must carry the same record too, and
 * verify runs on every decoded record.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peerlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static uint8_t c1[PL_RECORD_CANONICAL_MAX], c2[PL_RECORD_CANONICAL_MAX];
static char json1[PL_RECORD_JSON_MAX + 1], json2[PL_RECORD_JSON_MAX + 1];
static uint8_t txt1[PL_RECORD_TXT_MAX];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_record a, b;
    const char *why = NULL;
    if (pl_record_from_json(&a, (const char *)data, size, &why) != PL_OK) {
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
    int jn = pl_record_to_json(&a, json1, sizeof json1);
    if (n1 < 0 || jn < 0 || pl_record_from_json(&b, json1, (size_t)jn, &why) != PL_OK)
        abort();
    int n2 = pl_record_canonical(&b, c2, sizeof c2);
    if (n2 != n1 || memcmp(c1, c2, (size_t)n1) != 0)
        abort();
    int jn2 = pl_record_to_json(&b, json2, sizeof json2);
    if (jn2 != jn || memcmp(json1, json2, (size_t)jn) != 0)
        abort();
    int tn = pl_record_to_txt(&a, txt1, sizeof txt1);
    if (tn < 0 || pl_record_from_txt(&b, txt1, (size_t)tn, &why) != PL_OK)
        abort();
    n2 = pl_record_canonical(&b, c2, sizeof c2);
    if (n2 != n1 || memcmp(c1, c2, (size_t)n1) != 0)
        abort();
    return 0;
}
