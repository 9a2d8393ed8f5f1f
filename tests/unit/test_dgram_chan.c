/*
 * test_dgram_chan.c - what part 2 of the datagram transport adds, driven in
 * memory on a virtual clock (dgpair.h), every failure path:
 *   - ordered channels: streams larger than every window, both ways, byte
 *     for byte, with their ends;
 *   - flow control: a reader that does not read stops its own channel only;
 *     messages and another channel go on; reading resumes it;
 *   - a peer that sends beyond the flow-control limits or moves a
 *     channel's end fails the connection with a sentence;
 *   - unreliable datagrams under congestion control;
 *   - close with a reason; the idle timeout; keepalives holding an idle
 *     connection;
 *   - path changes: a NAT rebinding mid-transfer is followed and validated;
 *     a forged move to an address that never answers is undone, and at most
 *     three times what it sent goes there meanwhile;
 *   - the congestion controller is used: the window opens in slow start
 *     and the connection's statistics say so.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dgpair.h"
#include "dgram/engine.h"
#include "dgram/engine_int.h"
#include "dgram/frame.h"
#include "peerlink.h"

static uint8_t pattern(uint64_t chan, uint64_t off)
{
    uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ULL ^ (chan << 56);
    return (uint8_t)(x >> 29);
}

/* One side of a stream: what was written and read on one channel. */
typedef struct stream {
    pl_dg_conn *c;
    uint64_t id;
    uint64_t total, written, read;
    bool finished, fin_seen, bad, reading;
} stream;

static void pump_write(stream *s)
{
    static uint8_t buf[65536];
    while (s->written < s->total) {
        size_t n =
            s->total - s->written < sizeof buf ? (size_t)(s->total - s->written) : sizeof buf;
        for (size_t i = 0; i < n; i++)
            buf[i] = pattern(s->id, s->written + i);
        int k = pl_dg_chan_write(s->c, s->id, buf, n);
        assert_true(k >= 0);
        s->written += (uint64_t)k;
        if ((size_t)k < n)
            return;
    }
    if (!s->finished) {
        assert_int_equal(pl_dg_chan_finish(s->c, s->id), PL_OK);
        s->finished = true;
    }
}

static void pump_read(stream *s)
{
    static uint8_t buf[50000];
    if (!s->reading)
        return;
    for (;;) {
        bool fin = false;
        int k = pl_dg_chan_read(s->c, s->id, buf, sizeof buf, &fin);
        if (k == PL_ERR_NOTFOUND) /* not opened yet, or over */
            return;
        assert_true(k >= 0);
        for (int i = 0; i < k; i++)
            if (buf[i] != pattern(s->id, s->read + (uint64_t)i))
                s->bad = true;
        s->read += (uint64_t)k;
        if (fin)
            s->fin_seen = true;
        if (k == 0 || fin)
            return;
    }
}

/* Run in steps of `step` ms, writing and reading between steps. */
static void run_streams(pair *p, stream **ss, size_t n, uint64_t until, uint64_t step)
{
    while (p->now < until) {
        for (size_t i = 0; i < n; i++) {
            pump_write(ss[i]);
            pump_read(ss[i]);
        }
        run_until(p, p->now + step);
        pl_dg_event ev;
        while (next(&p->a, &ev) || next(&p->b, &ev))
            free(ev.msg);
        bool done = true;
        for (size_t i = 0; i < n; i++)
            done &= !ss[i]->reading || ss[i]->fin_seen;
        if (done)
            return;
    }
}

static void streams_both_ways(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    uint64_t ida, idb;
    assert_int_equal(pl_dg_chan_open(ca, &ida), PL_OK);
    assert_int_equal(pl_dg_chan_open(cb, &idb), PL_OK);
    assert_int_equal(ida % 2, 0); /* the initiator's are even */
    assert_int_equal(idb % 2, 1);
    /* 5 MB one way, 3 MB the other: more than any buffer or window */
    stream wa = {ca, ida, 5000000, 0, 0, false, false, false, false};
    stream rb = {cb, ida, 0, 0, 0, true, false, false, true};
    stream wb = {cb, idb, 3000000, 0, 0, false, false, false, false};
    stream ra = {ca, idb, 0, 0, 0, true, false, false, true};
    stream *ss[] = {&wa, &rb, &wb, &ra};
    run_streams(&p, ss, 4, p.now + 60000, 5);
    assert_true(rb.fin_seen && ra.fin_seen);
    assert_int_equal(rb.read, 5000000);
    assert_int_equal(ra.read, 3000000);
    assert_false(rb.bad || ra.bad);
    pl_dg_conn_stats st;
    pl_dg_conn_stats_get(ca, &st);
    printf("# 5 MB and 3 MB crossed in %llu ms of virtual time; a: %llu packets, %llu lost, cwnd "
           "%llu B (%s)\n",
           (unsigned long long)(p.now - T0), (unsigned long long)st.packets_sent,
           (unsigned long long)st.packets_lost, (unsigned long long)st.cwnd, st.cc);
    assert_true(st.cwnd > PL_CC_INITIAL_PACKETS * PL_DG_PACKET_MAX); /* slow start opened it */
    /* both done: the channels are forgotten, and the ids are not reused */
    run_until(&p, p.now + 1000);
    assert_int_equal(pl_dg_chan_pending(ca, ida), 0);
    uint64_t again;
    assert_int_equal(pl_dg_chan_open(ca, &again), PL_OK);
    assert_int_equal(again, ida + 2);
    pair_free(&p);
}

/* A reader that does not read holds up its own channel only. */
static void slow_reader_isolated(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pl_dg_event ev;
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    uint64_t x, y;
    assert_int_equal(pl_dg_chan_open(ca, &x), PL_OK);
    assert_int_equal(pl_dg_chan_open(ca, &y), PL_OK);
    stream wx = {ca, x, 6000000, 0, 0, false, false, false, false};
    stream rx = {cb, x, 0, 0, 0, true, false, false, false}; /* not reading */
    stream wy = {ca, y, 2000000, 0, 0, false, false, false, false};
    stream ry = {cb, y, 0, 0, 0, true, false, false, true};
    stream *ss[] = {&wx, &rx, &wy, &ry};
    for (int k = 0; k < 20; k++)
        assert_int_equal(pl_dg_msg_send(ca, p.now, (const uint8_t *)"msg", 3, false, 0, NULL),
                         PL_OK);
    run_streams(&p, ss, 4, p.now + 30000, 5);
    assert_true(ry.fin_seen);
    assert_int_equal(ry.read, 2000000);
    assert_false(ry.bad);
    /* x stopped at its window: the receiver holds at most that much */
    struct chan *bx = NULL;
    for (uint16_t i = 0; i < cb->rel.nchans; i++)
        if (cb->rel.chans[i]->id == x)
            bx = cb->rel.chans[i];
    assert_non_null(bx);
    assert_true(bx->r_contig <= PL_DG_CHAN_WINDOW);
    assert_true(wx.written < wx.total);
    printf("# x: %llu of 6000000 B written, %llu B waiting at the reader (window %u); y: all "
           "2000000 B\n",
           (unsigned long long)wx.written, (unsigned long long)bx->r_contig, PL_DG_CHAN_WINDOW);
    /* the messages went by */
    unsigned msgs = 0;
    run_until(&p, p.now + 100);
    while (next(&p.b, &ev)) {
        msgs += ev.kind == PL_DG_EV_MESSAGE;
        free(ev.msg);
    }
    (void)msgs;
    assert_true(cb->rel.next_deliver == 20);
    /* reading resumes x */
    rx.reading = true;
    run_streams(&p, ss, 4, p.now + 60000, 5);
    assert_true(rx.fin_seen);
    assert_int_equal(rx.read, 6000000);
    assert_false(rx.bad);
    pair_free(&p);
}

/* A sealed packet with these frames, from a to b: b's first event. */
static void inject(const uint8_t *pt, size_t len, int want_err, const char *want_why)
{
    pair p;
    pl_dg_conn *ca, *cb;
    pl_dg_event ev;
    uint8_t pkt[PL_DG_PACKET_MAX];
    uint64_t pn;
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    int n = pl_dg_seal_packet(ca, pt, len, pkt, &pn);
    assert_true(n > 0);
    pl_dg_input(p.b.e, p.now, &p.a.addr, pkt, (size_t)n);
    if (want_err == 0) {
        while (next(&p.b, &ev))
            assert_int_not_equal(ev.kind, PL_DG_EV_FAILED);
    } else {
        assert_true(next(&p.b, &ev));
        assert_int_equal(ev.kind, PL_DG_EV_FAILED);
        assert_int_equal(ev.err, want_err);
        printf("# %s\n", ev.why);
        assert_string_equal(ev.why, want_why);
    }
    pair_free(&p);
}

static void flow_control_violations(void **state)
{
    (void)state;
    uint8_t pt[64];
    pl_wr w;
    /* a byte beyond the channel's window */
    w = pl_wr_init(pt, sizeof pt);
    pl_dg_frame f = {.type = PL_DG_F_CHAN,
                     .id = 0,
                     .offset = PL_DG_CHAN_WINDOW,
                     .bytes = (const uint8_t *)"x",
                     .len = 1};
    pl_dg_frame_write(&w, &f);
    inject(pt, (size_t)pl_wr_result(&w), PL_ERR_PARSE,
           "the peer sent beyond the channel's flow-control limit");
    /* an end, then bytes past it */
    w = pl_wr_init(pt, sizeof pt);
    f = (pl_dg_frame){.type = PL_DG_F_CHAN,
                      .flags = PL_DG_CHAN_FIN,
                      .id = 0,
                      .offset = 0,
                      .bytes = (const uint8_t *)"ab",
                      .len = 2};
    pl_dg_frame_write(&w, &f);
    f = (pl_dg_frame){
        .type = PL_DG_F_CHAN, .id = 0, .offset = 2, .bytes = (const uint8_t *)"c", .len = 1};
    pl_dg_frame_write(&w, &f);
    inject(pt, (size_t)pl_wr_result(&w), PL_ERR_PARSE, "the peer moved a channel's end");
    /* a channel of ours (odd: b is the responder) that b never opened:
     * ignored, nothing fails */
    w = pl_wr_init(pt, sizeof pt);
    f = (pl_dg_frame){
        .type = PL_DG_F_CHAN, .id = 1, .offset = 0, .bytes = (const uint8_t *)"z", .len = 1};
    pl_dg_frame_write(&w, &f);
    inject(pt, (size_t)pl_wr_result(&w), 0, NULL);
}

static void datagrams_and_close_reason(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pl_dg_event ev;
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    uint8_t big[PL_DG_DATAGRAM_MAX + 1] = {0};
    assert_int_equal(pl_dg_send(ca, big, sizeof big), PL_ERR_TOOBIG);
    for (int i = 0; i < 10; i++)
        assert_int_equal(pl_dg_send(ca, (const uint8_t *)"dgram", 5), PL_OK);
    run_until(&p, p.now + 100);
    unsigned got = 0;
    while (next(&p.b, &ev)) {
        got += ev.kind == PL_DG_EV_DATA && ev.len == 5 && memcmp(ev.data, "dgram", 5) == 0;
        free(ev.msg);
    }
    assert_int_equal(got, 10);
    char reason[PL_DG_REASON_MAX + 2];
    memset(reason, 'r', sizeof reason - 1);
    reason[sizeof reason - 1] = 0;
    assert_int_equal(pl_dg_shutdown_reason(ca, p.now, 7, reason), PL_ERR_INVAL);
    assert_int_equal(pl_dg_shutdown_reason(ca, p.now, 7, "maintenance"), PL_OK);
    run_until(&p, p.now + 1000);
    assert_true(next(&p.b, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_CLOSED);
    assert_int_equal(ev.err, PL_ERR_CLOSED);
    assert_int_equal(ev.id, 7);
    assert_int_equal(ev.len, 11);
    assert_memory_equal(ev.data, "maintenance", 11);
    assert_true(next(&p.a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_CLOSED);
    assert_int_equal(ev.err, 0);
    pair_free(&p);
}

/* Keepalives hold an idle connection; a silent peer is closed for idleness. */
static void keepalive_and_idle(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pl_dg_event ev;
    memset(&p, 0, sizeof p);
    pl_dg_config ka = {.keepalive_ms = 5000, .idle_ms = 12000};
    mn_init_cfg(&p.a, 1, &ka);
    mn_init_cfg(&p.b, 2, &ka);
    trust(&p.b, &p.a);
    p.now = T0;
    connect_pair(&p, &ca, &cb);
    unsigned before = p.moved;
    run_until(&p, p.now + 60000); /* a minute of silence from the application */
    assert_false(next(&p.a, &ev));
    assert_false(next(&p.b, &ev));
    printf("# a quiet minute: %u packets kept it alive (keepalive 5 s, idle timeout 12 s)\n",
           p.moved - before);
    assert_true(p.moved - before >= 12 && p.moved - before <= 60);
    /* the peer vanishes: each side gives up on its own */
    p.dark = true;
    run_until(&p, p.now + 20000);
    assert_true(next(&p.a, &ev));
    assert_true(ev.kind == PL_DG_EV_CLOSED || ev.kind == PL_DG_EV_FAILED);
    if (ev.kind == PL_DG_EV_CLOSED)
        assert_int_equal(ev.err, PL_ERR_TIMEOUT);
    else
        assert_int_equal(ev.err, PL_ERR_UNREACHABLE);
    printf("# the peer vanished: %s\n", ev.why);
    pair_free(&p);
}

/* The initiator's NAT rebinds mid-transfer: b follows it to the new
 * address, validates it, and the transfer completes. */
static void rebinding_mid_transfer(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pl_dg_event ev;
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    uint64_t id;
    assert_int_equal(pl_dg_chan_open(ca, &id), PL_OK);
    stream wa = {ca, id, 10000000, 0, 0, false, false, false, false};
    stream rb = {cb, id, 0, 0, 0, true, false, false, true};
    stream *ss[] = {&wa, &rb};
    for (int k = 0; k < 10000 && rb.read == 0; k++)
        run_streams(&p, ss, 2, p.now + 1, 1);
    assert_true(rb.read > 0 && wa.written < wa.total);
    p.a.addr.b[5] ^= 0x55; /* a new port on the NAT: old mappings gone */
    bool path_ok = false;
    for (int k = 0; k < 20000 && !rb.fin_seen; k++) {
        pump_write(&wa);
        pump_read(&rb);
        run_until(&p, p.now + 5);
        while (next(&p.b, &ev)) {
            if (ev.kind == PL_DG_EV_PATH && ev.err == 0)
                path_ok = true;
            free(ev.msg);
        }
        while (next(&p.a, &ev)) {
            if (ev.kind == PL_DG_EV_FAILED || ev.kind == PL_DG_EV_CLOSED)
                printf("# a: %s\n", ev.why);
            free(ev.msg);
        }
    }
    assert_true(rb.fin_seen);
    assert_int_equal(rb.read, 10000000);
    assert_false(rb.bad);
    assert_true(path_ok);
    assert_memory_equal(pl_dg_conn_addr(cb)->b, p.a.addr.b, 6);
    pl_dg_stats st;
    pl_dg_stats_get(p.b.e, &st);
    assert_int_equal(st.migrations, 1);
    pair_free(&p);
}

/* Someone replays a's newest packet from an address that never answers:
 * b moves there, sends at most three times what came from it, and comes
 * back when the challenge goes unanswered. */
static void forged_move_undone(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pl_dg_event ev;
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    uint64_t id;
    assert_int_equal(pl_dg_chan_open(cb, &id), PL_OK);
    static uint8_t blob[1000000];
    assert_true(pl_dg_chan_write(cb, id, blob, sizeof blob) > 0);
    /* a's next packet, seen first by an attacker who sends it on from
     * elsewhere (the original is lost) */
    uint8_t pkt[PL_DG_PACKET_MAX];
    uint64_t pn;
    int n =
        pl_dg_seal_packet(ca, (const uint8_t *)"\x03\x00\x00\x00\x00\x00\x00\x00\x00", 9, pkt, &pn);
    assert_true(n > 0);
    pl_dg_addr forged = {6, {203, 0, 113, 9, 0x30, 0x39}};
    pl_dg_input(p.b.e, p.now, &forged, pkt, (size_t)n);
    uint64_t to_forged = 0;
    static uint8_t buf[2048];
    pl_dg_addr dst;
    int k;
    uint64_t until = p.now + 5000;
    while (p.now < until) {
        while ((k = pl_dg_output(p.b.e, &dst, buf, sizeof buf)) > 0) {
            if (dst.len == forged.len && memcmp(dst.b, forged.b, 6) == 0)
                to_forged += (uint64_t)k;
            else if (memcmp(dst.b, p.a.addr.b, 6) == 0)
                pl_dg_input(p.a.e, p.now, &p.b.addr, buf, (size_t)k);
        }
        while ((k = pl_dg_output(p.a.e, &dst, buf, sizeof buf)) > 0)
            ; /* a's packets are lost meanwhile */
        uint64_t d = pl_dg_deadline(p.b.e);
        p.now = d > p.now && d < until ? d : p.now + 10;
        pl_dg_timer(p.b.e, p.now);
        pl_dg_timer(p.a.e, p.now);
    }
    bool reverted = false;
    while (next(&p.b, &ev)) {
        if (ev.kind == PL_DG_EV_PATH) {
            assert_int_equal(ev.err, PL_ERR_TIMEOUT);
            printf("# %s\n", ev.why);
            reverted = true;
        }
        free(ev.msg);
    }
    assert_true(reverted);
    printf("# %llu bytes went to the forged address, %d came from it\n",
           (unsigned long long)to_forged, n);
    assert_true(to_forged > 0 && to_forged <= 3 * (uint64_t)n);
    assert_memory_equal(pl_dg_conn_addr(cb)->b, p.a.addr.b, 6);
    pair_free(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(streams_both_ways),       cmocka_unit_test(slow_reader_isolated),
        cmocka_unit_test(flow_control_violations), cmocka_unit_test(datagrams_and_close_reason),
        cmocka_unit_test(keepalive_and_idle),      cmocka_unit_test(rebinding_mid_transfer),
        cmocka_unit_test(forged_move_undone),
    };
    if (pl_init() != PL_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
