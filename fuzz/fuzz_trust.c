/*
 * fuzz_trust.c - the trust file parser (docs/formats.md §4).
 *
 * Whatever parses must format, and its formatted text must parse back to
 * the same entries and format to the same bytes (a fixed point after one
 * step). Every entry is then looked up, at and around its expiry, and
 * finally removed again.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "peerlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char text1[PL_TRUST_FILE_MAX + 1], text2[PL_TRUST_FILE_MAX + 1];

static int same_entry(const pl_trust_entry *a, const pl_trust_entry *b)
{
    if (a->kind != b->kind || memcmp(a->fp.digest, b->fp.digest, PL_FP_DIGEST_LEN) != 0 ||
        strcmp(a->fp.authority, b->fp.authority) != 0 || strcmp(a->petname, b->petname) != 0 ||
        a->n_groups != b->n_groups || a->expires != b->expires)
        return 0;
    for (size_t i = 0; i < a->n_groups; i++)
        if (strcmp(a->groups[i], b->groups[i]) != 0)
            return 0;
    return 1;
}

static void probe(const pl_trust *ts, const pl_trust_entry *e)
{
    enum pl_trust_verdict v = pl_trust_check(ts, &e->fp, 0);
    if (v == PL_TRUST_UNKNOWN)
        abort(); /* listed, and nothing is expired at time 0 */
    if (e->kind == PL_TRUST_DENY && v != PL_TRUST_DENIED)
        abort(); /* deny wins */
    if (e->expires) {
        (void)pl_trust_check(ts, &e->fp, e->expires - 1);
        (void)pl_trust_check(ts, &e->fp, e->expires);
    }
    for (size_t g = 0; g < e->n_groups; g++)
        if (pl_trust_in_group(ts, &e->fp, e->groups[g], 0) != (v == PL_TRUST_ALLOWED))
            abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_trust *a = NULL, *b = NULL;
    size_t line;
    const char *why = NULL;
    int rc = pl_trust_parse(&a, (const char *)data, size, &line, &why);
    if (rc != PL_OK) {
        if (!why || a)
            abort();
        return 0;
    }
    int n1 = pl_trust_format(a, text1, sizeof text1);
    if (n1 < 0 || pl_trust_parse(&b, text1, (size_t)n1, &line, &why) != PL_OK)
        abort();
    int n2 = pl_trust_format(b, text2, sizeof text2);
    if (n2 != n1 || memcmp(text1, text2, (size_t)n1) != 0)
        abort();
    if (pl_trust_count(a) != pl_trust_count(b))
        abort();
    for (size_t i = 0; i < pl_trust_count(a); i++) {
        pl_trust_entry ea, eb;
        if (pl_trust_get(a, i, &ea) != PL_OK || pl_trust_get(b, i, &eb) != PL_OK ||
            !same_entry(&ea, &eb))
            abort();
        probe(a, &ea);
    }
    /* Emptying the store entry by entry exercises deletion from the index. */
    for (size_t i = 0; pl_trust_count(b) > 0; i++) {
        pl_trust_entry e;
        if (pl_trust_get(b, 0, &e) != PL_OK || pl_trust_remove(b, &e.fp) != PL_OK ||
            pl_trust_check(b, &e.fp, 0) != PL_TRUST_UNKNOWN || i > pl_trust_count(a))
            abort();
    }
    pl_trust_free(a);
    pl_trust_free(b);
    return 0;
}
