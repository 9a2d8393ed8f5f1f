/*
 * fuzz_dgram_engine.c - every datagram decoder of the handshake engine
 * (src/dgram/engine.c) on untrusted bytes: HELLO, COOKIE, INITIATE and
 * ACCEPT above the AEAD, DATA below it. One responder engine that trusts
 * the initiator and one initiator with a handshake under way take the input
 * as a datagram from each other's address (the first byte picks which).
 * Nothing may crash, nothing may be established, and no public-key
 * operation may happen for an input that does not carry a cookie the
 * responder made. The engines live across inputs (as a real one does).
 */
#include <stdlib.h>
#include <string.h>

#include "dgram/engine.h"
#include "peerlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int det_random(void *user, uint8_t *out, size_t len)
{
    uint64_t *s = user;
    for (size_t i = 0; i < len; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        out[i] = (uint8_t)(*s >> 56);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pl_identity *ida, *idb;
    static pl_trust *tb;
    static pl_fingerprint fpa, fpb;
    static uint64_t ra, rb;
    if (!ida) {
        uint8_t seed[32];
        const char *why = NULL;
        if (pl_init() != PL_OK)
            abort();
        memset(seed, 1, sizeof seed);
        if (pl_identity_from_seed(&ida, seed) != PL_OK)
            abort();
        memset(seed, 2, sizeof seed);
        if (pl_identity_from_seed(&idb, seed) != PL_OK || pl_trust_new(&tb) != PL_OK)
            abort();
        pl_identity_fingerprint(ida, &fpa);
        pl_identity_fingerprint(idb, &fpb);
        if (pl_trust_set(tb, PL_TRUST_ALLOW, &fpa, NULL, NULL, 0, &why) != PL_OK)
            abort();
    }
    static pl_dg_engine *a, *b;
    static pl_dg_conn *c;
    static const pl_dg_addr aa = {6, {10, 0, 0, 1, 0x1b, 0x58}},
                            ab = {6, {10, 0, 0, 2, 0x1b, 0x58}};
    if (!a) { /* made once: an input leaves no state a later one could rely on */
        static pl_dg_config ca, cb;
        ca = (pl_dg_config){.id = ida,
                            .trust = NULL,
                            .random = det_random,
                            .random_user = &ra,
                            .used_cookies_max = 64,
                            .now_s = 1800000000};
        cb = (pl_dg_config){.id = idb,
                            .trust = tb,
                            .random = det_random,
                            .random_user = &rb,
                            .used_cookies_max = 64,
                            .now_s = 1800000000};
        ra = 1;
        rb = 2;
        if (pl_dg_new(&a, &ca) != PL_OK || pl_dg_new(&b, &cb) != PL_OK ||
            pl_dg_connect(a, 1000, &ab, &fpb, NULL, 0, false, &c) != PL_OK)
            abort();
    }
    if (size < 1 || size > 2000)
        return 0;
    if (data[0] & 1)
        pl_dg_input(b, 1000, &aa, data + 1, size - 1); /* to the responder */
    else
        pl_dg_input(a, 1000, &ab, data + 1, size - 1); /* to the initiator */
    uint8_t out[2048];
    pl_dg_addr to;
    pl_dg_event ev;
    while (pl_dg_output(a, &to, out, sizeof out) > 0 || pl_dg_output(b, &to, out, sizeof out) > 0)
        ;
    while (pl_dg_event_next(a, &ev) || pl_dg_event_next(b, &ev))
        ;
    pl_dg_stats sa, sb;
    pl_dg_stats_get(a, &sa);
    pl_dg_stats_get(b, &sb);
    if (sa.established || sb.established || sb.pk_ops)
        abort();
    return 0;
}
