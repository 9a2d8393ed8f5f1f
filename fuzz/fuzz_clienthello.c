/*
 * fuzz_clienthello.c - the parser of a peer's first TLS record and the role
 * settlement built on it (src/stls/hello.c, docs/formats.md §5).
 *
 * The parser must classify or refuse every input with an explanation, and
 * agree with the record-length reader. Then the same bytes go to a fresh
 * peer engine, which must settle, wait or fail without crashing.
 */
#include <stdlib.h>
#include <string.h>

#include "peerlink.h"
#include "stls/stls_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Our tie-breaker sits mid-range, so crafted values land on both sides. */
static int half_random(void *user, uint8_t *out, size_t len)
{
    (void)user;
    memset(out, 0, len);
    out[0] = 0x80;
    return 0;
}

static pl_stls_config *config(void)
{
    static pl_stls_config *cfg;
    if (!cfg) {
        uint8_t seed[PL_ED25519_SEED_LEN] = {1};
        pl_identity *id = NULL;
        if (pl_init() != PL_OK || pl_identity_from_seed(&id, seed) != PL_OK ||
            pl_stls_config_new(&cfg, id, "fuzz") != PL_OK)
            abort();
        pl_identity_free(id);
        pl_stls_config_set_random(cfg, half_random, NULL);
    }
    return cfg;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_stls_hello h;
    const char *why = NULL;
    int rc = pl_stls_hello_parse(&h, data, size, &why);
    if (rc != PL_OK) {
        if (rc != PL_ERR_PARSE || !why || h.client_hello || h.has_tiebreak)
            abort();
    } else {
        size_t want = 0;
        if (pl_stls_record_len(data, size, &want) != PL_OK || want != size)
            abort();
        if (h.has_tiebreak && !h.client_hello)
            abort();
    }
    uint64_t other = h.tiebreak ^ 1;
    unsigned a = pl_stls_tiebreak_decide(h.tiebreak, other);
    unsigned b = pl_stls_tiebreak_decide(other, h.tiebreak);
    if (a == 0 || b == 0 || a == b || pl_stls_tiebreak_decide(h.tiebreak, h.tiebreak) != 0)
        abort();

    pl_stls *s = NULL;
    if (pl_stls_new(&s, config(), PL_STLS_PEER, NULL) != PL_OK)
        abort();
    uint8_t out[4096];
    while (pl_stls_output(s, out, sizeof out) > 0)
        ;
    rc = pl_stls_feed(s, data, size, 0);
    if ((rc != PL_OK) != (pl_stls_state(s) == PL_STLS_FAILED))
        abort();
    if (pl_stls_state(s) == PL_STLS_ESTABLISHED) /* no peer was authenticated */
        abort();
    while (pl_stls_output(s, out, sizeof out) > 0)
        ;
    pl_stls_free(s);
    return 0;
}
