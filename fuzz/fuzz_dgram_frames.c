/*
 * fuzz_dgram_frames.c - the frames inside DATA packets (src/dgram/frame.c
 * and reliable.c), above the AEAD. The first byte picks the target:
 *   even: the frame reader alone; every frame it accepts must write back
 *         and read again to the same frame;
 *   odd:  the rest, sealed as an authenticated DATA packet from an
 *         established peer, goes into the message layer (acknowledgements,
 *         fragments, reassembly, ping, close); nothing may crash, and a
 *         connection that fails must say why. The pair of engines lives
 *         across inputs and is made again when its connection ends.
 */
#include <stdlib.h>
#include <string.h>

#include "dgram/engine.h"
#include "dgram/engine_int.h"
#include "dgram/frame.h"
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

static void frames_only(const uint8_t *data, size_t size)
{
    pl_rd r = pl_rd_init(data, size);
    while (pl_rd_left(&r)) {
        pl_dg_frame f, g;
        const char *why = NULL;
        if (pl_dg_frame_read(&r, &f, &why) != PL_OK) {
            if (!why)
                abort();
            return;
        }
        uint8_t buf[4096];
        pl_wr w = pl_wr_init(buf, sizeof buf);
        pl_dg_frame_write(&w, &f);
        int n = pl_wr_result(&w);
        if (n < 0)
            abort();
        pl_rd again = pl_rd_init(buf, (size_t)n);
        if (pl_dg_frame_read(&again, &g, &why) != PL_OK || !pl_rd_finish(&again) ||
            g.type != f.type || g.flags != f.flags || g.id != f.id || g.re != f.re ||
            g.total != f.total || g.offset != f.offset || g.token != f.token || g.code != f.code ||
            g.max != f.max || g.len != f.len || g.ack.n != f.ack.n ||
            (f.len && memcmp(g.bytes, f.bytes, f.len)))
            abort();
        for (size_t i = 0; i < f.ack.n; i++)
            if (g.ack.r[i].lo != f.ack.r[i].lo || g.ack.r[i].hi != f.ack.r[i].hi)
                abort();
    }
}

static pl_identity *ida, *idb;
static pl_trust *tb;
static pl_fingerprint fpb;
static uint64_t ra = 1, rb = 2, now = 1000;
static pl_dg_engine *ea, *eb;
static pl_dg_conn *ca;
static const pl_dg_addr aa = {6, {10, 0, 0, 1, 0x1b, 0x58}}, ab = {6, {10, 0, 0, 2, 0x1b, 0x58}};

static void drain(void)
{
    uint8_t out[2048];
    pl_dg_addr to;
    pl_dg_event ev;
    int n;
    for (int guard = 0; guard < 10000; guard++) {
        bool moved = false;
        while ((n = pl_dg_output(ea, &to, out, sizeof out)) > 0) {
            pl_dg_input(eb, now, &aa, out, (size_t)n);
            moved = true;
        }
        while ((n = pl_dg_output(eb, &to, out, sizeof out)) > 0) {
            pl_dg_input(ea, now, &ab, out, (size_t)n);
            moved = true;
        }
        while (pl_dg_event_next(ea, &ev) || pl_dg_event_next(eb, &ev)) {
            if (ev.kind == PL_DG_EV_FAILED && !ev.why)
                abort();
            if ((ev.kind == PL_DG_EV_FAILED || ev.kind == PL_DG_EV_CLOSED) && ev.conn == ca)
                ca = NULL; /* a's end is over: make a new pair next time */
            free(ev.msg);
        }
        if (!moved)
            return;
    }
}

static void pair_new(void)
{
    static pl_dg_config cfa, cfb;
    pl_dg_free(ea);
    pl_dg_free(eb);
    cfa = (pl_dg_config){.id = ida,
                         .trust = NULL,
                         .random = det_random,
                         .random_user = &ra,
                         .used_cookies_max = 64,
                         .now_s = 1800000000};
    cfb = (pl_dg_config){.id = idb,
                         .trust = tb,
                         .random = det_random,
                         .random_user = &rb,
                         .used_cookies_max = 64,
                         .now_s = 1800000000};
    if (pl_dg_new(&ea, &cfa) != PL_OK || pl_dg_new(&eb, &cfb) != PL_OK ||
        pl_dg_connect(ea, now, &ab, &fpb, NULL, 0, false, &ca) != PL_OK)
        abort();
    drain();
    if (!ca || ca->state != C_ESTABLISHED)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > PL_DG_PT_MAX + 1)
        return 0;
    if (!(data[0] & 1)) {
        frames_only(data + 1, size - 1);
        return 0;
    }
    if (!ida) {
        uint8_t seed[32];
        const char *why = NULL;
        pl_fingerprint fpa;
        if (pl_init() != PL_OK)
            abort();
        memset(seed, 3, sizeof seed);
        if (pl_identity_from_seed(&ida, seed) != PL_OK)
            abort();
        memset(seed, 4, sizeof seed);
        if (pl_identity_from_seed(&idb, seed) != PL_OK || pl_trust_new(&tb) != PL_OK)
            abort();
        pl_identity_fingerprint(ida, &fpa);
        pl_identity_fingerprint(idb, &fpb);
        if (pl_trust_set(tb, PL_TRUST_ALLOW, &fpa, NULL, NULL, 0, &why) != PL_OK)
            abort();
    }
    if (!ca || ca->state != C_ESTABLISHED)
        pair_new();
    /* a little real traffic too, so acknowledgements have something to hit */
    if ((data[0] & 2) && pl_dg_msg_send(ca, now, data, size, (data[0] & 4) != 0, 50, NULL) < 0 &&
        pl_dg_conn_pending(ca) == 0)
        abort(); /* refused with nothing queued */
    uint8_t pkt[PL_DG_PACKET_MAX];
    uint64_t pn;
    int n = pl_dg_seal_packet(ca, data + 1, size - 1, pkt, &pn);
    if (n > 0)
        pl_dg_input(eb, now, &aa, pkt, (size_t)n);
    now += data[0] >> 3;
    pl_dg_timer(ea, now);
    pl_dg_timer(eb, now);
    drain();
    return 0;
}
