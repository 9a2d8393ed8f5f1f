/*
 * test_dgram_msg.c - the datagram engine's messages (src/dgram/reliable.c,
 * frame.c) driven in memory on a virtual clock, every failure path:
 *   - a request gets its reply; a refused request gets PL_ERR_REFUSED; a
 *     one-way message cannot be answered; a request is answered once;
 *   - no reply in time: PL_ERR_TIMEOUT, and a late reply is dropped;
 *   - nobody there: the request fails with PL_ERR_UNREACHABLE before the
 *     connection's own failure; an untrusted initiator's request fails with
 *     PL_ERR_REFUSED;
 *   - a peer that goes silent mid-transfer: PL_ERR_UNREACHABLE after
 *     PL_DG_DEAD_MS;
 *   - ping and pong; close on both sides; caps (message size, send queue);
 *   - an application that does not read: messages wait, none is lost;
 *   - authenticated packets with bad frames fail the connection cleanly;
 *   - a hard proof of work is solved in slices (the deadline says "now");
 *   - the frame codec: round trips and every rejection.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dgram/engine.h"
#include "dgram/engine_int.h"
#include "dgram/frame.h"
#include "peerlink.h"
#include "dgpair.h"

/* ---- requests and replies ---------------------------------------------------- */

static void request_reply_refuse(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pl_dg_event ev;
    uint64_t q1, q2, q3;
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    assert_int_equal(pl_dg_msg_send(ca, p.now, (const uint8_t *)"who", 3, true, 0, &q1), PL_OK);
    assert_int_equal(pl_dg_msg_send(ca, p.now, (const uint8_t *)"no", 2, true, 0, &q2), PL_OK);
    assert_int_equal(pl_dg_msg_send(ca, p.now, (const uint8_t *)"note", 4, false, 0, &q3), PL_OK);
    run_until(&p, p.now + 50);
    /* b: two requests and a one-way message, in order */
    assert_true(next(&p.b, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_MESSAGE);
    assert_true(ev.want_reply);
    assert_int_equal(ev.msg_len, 3);
    assert_memory_equal(ev.msg, "who", 3);
    free(ev.msg);
    assert_int_equal(pl_dg_msg_reply(cb, p.now, ev.id, (const uint8_t *)"b here", 6, false), PL_OK);
    assert_int_equal(pl_dg_msg_reply(cb, p.now, ev.id, (const uint8_t *)"again", 5, false),
                     PL_ERR_NOTFOUND);
    assert_true(next(&p.b, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_MESSAGE);
    free(ev.msg);
    assert_int_equal(pl_dg_msg_reply(cb, p.now, ev.id, NULL, 0, true), PL_OK);
    assert_true(next(&p.b, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_MESSAGE);
    assert_false(ev.want_reply);
    assert_memory_equal(ev.msg, "note", 4);
    free(ev.msg);
    assert_int_equal(pl_dg_msg_reply(cb, p.now, ev.id, (const uint8_t *)"x", 1, false),
                     PL_ERR_NOTFOUND);
    assert_false(next(&p.b, &ev));
    run_until(&p, p.now + 50);
    assert_true(next(&p.a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_REPLY);
    assert_int_equal(ev.id, q1);
    assert_int_equal(ev.err, 0);
    assert_int_equal(ev.msg_len, 6);
    assert_memory_equal(ev.msg, "b here", 6);
    free(ev.msg);
    assert_true(next(&p.a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_REPLY);
    assert_int_equal(ev.id, q2);
    assert_int_equal(ev.err, PL_ERR_REFUSED);
    assert_null(ev.msg);
    assert_false(next(&p.a, &ev));
    assert_int_equal(pl_dg_conn_pending(ca), 0);
    pair_free(&p);
}

static void request_times_out(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pl_dg_event ev;
    uint64_t q;
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    uint64_t sent = p.now;
    assert_int_equal(pl_dg_msg_send(ca, p.now, (const uint8_t *)"slow", 4, true, 700, &q), PL_OK);
    run_until(&p, p.now + 2000);
    assert_true(next(&p.b, &ev)); /* b got it but does not answer in time */
    assert_int_equal(ev.kind, PL_DG_EV_MESSAGE);
    uint64_t rid = ev.id;
    free(ev.msg);
    assert_true(next(&p.a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_REPLY);
    assert_int_equal(ev.id, q);
    assert_int_equal(ev.err, PL_ERR_TIMEOUT);
    assert_true(p.now >= sent + 700);
    /* the late reply reaches a but no event */
    assert_int_equal(pl_dg_msg_reply(cb, p.now, rid, (const uint8_t *)"late", 4, false), PL_OK);
    run_until(&p, p.now + 100);
    assert_false(next(&p.a, &ev));
    assert_int_equal(pl_dg_conn_pending(cb), 0); /* ... and was acknowledged */
    pair_free(&p);
}

static void nobody_there(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *c;
    pl_dg_event ev;
    uint64_t q;
    pair_init(&p, true);
    pl_dg_addr nowhere = {6, {192, 0, 2, 99, 0x1f, 0x90}};
    assert_int_equal(pl_dg_connect(p.a.e, p.now, &nowhere, &p.b.fp, NULL, 0, false, &c), PL_OK);
    assert_int_equal(pl_dg_msg_send(c, p.now, (const uint8_t *)"hello?", 6, true, 60000, &q),
                     PL_OK);
    run_until(&p, p.now + PL_DG_HANDSHAKE_MS + 1000);
    assert_true(next(&p.a, &ev)); /* the request first ... */
    assert_int_equal(ev.kind, PL_DG_EV_REPLY);
    assert_int_equal(ev.id, q);
    assert_int_equal(ev.err, PL_ERR_UNREACHABLE);
    assert_true(next(&p.a, &ev)); /* ... then the connection */
    assert_int_equal(ev.kind, PL_DG_EV_FAILED);
    assert_int_equal(ev.err, PL_ERR_UNREACHABLE);
    assert_false(next(&p.a, &ev));
    assert_int_equal(pl_dg_msg_send(c, p.now, (const uint8_t *)"x", 1, false, 0, NULL),
                     PL_ERR_INVAL);
    pair_free(&p);
}

static void refused_peer(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *c;
    pl_dg_event ev;
    uint64_t q;
    pair_init(&p, false); /* b does not trust a */
    assert_int_equal(pl_dg_connect(p.a.e, p.now, &p.b.addr, &p.b.fp, NULL, 0, false, &c), PL_OK);
    assert_int_equal(pl_dg_msg_send(c, p.now, (const uint8_t *)"let me in", 9, true, 0, &q), PL_OK);
    run_until(&p, p.now + 100);
    assert_true(next(&p.a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_REPLY);
    assert_int_equal(ev.err, PL_ERR_REFUSED);
    assert_true(next(&p.a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_FAILED);
    assert_int_equal(ev.err, PL_ERR_REFUSED);
    assert_true(next(&p.b, &ev)); /* b made nothing, and says whom it refused */
    assert_int_equal(ev.kind, PL_DG_EV_REFUSED);
    assert_null(ev.conn);
    assert_true(pl_fingerprint_equal(&ev.peer, &p.a.fp));
    assert_memory_equal(&ev.addr, &p.a.addr, sizeof ev.addr);
    assert_false(next(&p.b, &ev));
    pair_free(&p);
}

static void peer_goes_silent(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pl_dg_event ev;
    uint64_t q;
    static uint8_t big[100000];
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    p.dark = true;
    uint64_t dark_at = p.now;
    assert_int_equal(pl_dg_msg_send(ca, p.now, big, sizeof big, true, 60000, &q), PL_OK);
    run_until(&p, p.now + PL_DG_DEAD_MS + 5000);
    assert_true(next(&p.a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_REPLY);
    assert_int_equal(ev.err, PL_ERR_UNREACHABLE);
    assert_true(next(&p.a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_FAILED);
    assert_int_equal(ev.err, PL_ERR_UNREACHABLE);
    assert_true(p.now >= dark_at + PL_DG_DEAD_MS);
    pl_dg_stats st;
    pl_dg_stats_get(p.a.e, &st);
    assert_true(st.retransmits > 0);
    pair_free(&p);
}

static void ping_and_close(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pl_dg_event ev;
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    assert_int_equal(pl_dg_ping(ca, p.now), PL_OK);
    assert_int_equal(pl_dg_ping(ca, p.now), PL_OK);
    run_until(&p, p.now + 10);
    assert_true(next(&p.a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_PONG);
    assert_int_equal(ev.id, 1);
    assert_true(next(&p.a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_PONG);
    assert_int_equal(ev.id, 2);
    /* a request outstanding at the close fails with PL_ERR_CLOSED */
    uint64_t q;
    assert_int_equal(pl_dg_msg_send(cb, p.now, (const uint8_t *)"bye?", 4, true, 0, &q), PL_OK);
    assert_int_equal(pl_dg_msg_send(ca, p.now, (const uint8_t *)"last", 4, false, 0, NULL), PL_OK);
    assert_int_equal(pl_dg_shutdown(ca, p.now), PL_OK);
    assert_int_equal(pl_dg_msg_send(ca, p.now, (const uint8_t *)"more", 4, false, 0, NULL),
                     PL_ERR_INVAL);
    run_until(&p, p.now + 1000);
    assert_true(next(&p.a, &ev)); /* b's request arrived before the close */
    assert_int_equal(ev.kind, PL_DG_EV_MESSAGE);
    free(ev.msg);
    assert_true(next(&p.a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_CLOSED);
    assert_int_equal(ev.err, 0);
    assert_true(next(&p.b, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_MESSAGE); /* "last" came before the close */
    assert_memory_equal(ev.msg, "last", 4);
    free(ev.msg);
    assert_true(next(&p.b, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_REPLY);
    assert_int_equal(ev.err, PL_ERR_CLOSED);
    assert_true(next(&p.b, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_CLOSED);
    assert_int_equal(ev.err, PL_ERR_CLOSED);
    assert_int_equal(ev.len, 4);
    assert_memory_equal(ev.data, "done", 4);
    assert_int_equal(pl_dg_ping(ca, p.now), PL_ERR_INVAL);
    pair_free(&p);
}

static void caps(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    uint8_t *big = calloc(1, PL_DG_MSG_MAX + 1);
    assert_non_null(big);
    assert_int_equal(pl_dg_msg_send(ca, p.now, big, PL_DG_MSG_MAX + 1, false, 0, NULL),
                     PL_ERR_TOOBIG);
    size_t queued = 0;
    int rc;
    while ((rc = pl_dg_msg_send(ca, p.now, big, PL_DG_MSG_MAX, false, 0, NULL)) == PL_OK)
        queued += PL_DG_MSG_MAX;
    assert_int_equal(rc, PL_ERR_BUFSIZE);
    assert_int_equal(queued, PL_DG_SENDQ_MAX);
    assert_int_equal(pl_dg_conn_pending(ca), PL_DG_SENDQ_MAX);
    assert_int_equal(pl_dg_msg_send(NULL, p.now, big, 1, false, 0, NULL), PL_ERR_INVAL);
    assert_int_equal(pl_dg_msg_send(ca, p.now, NULL, 1, false, 0, NULL), PL_ERR_INVAL);
    free(big);
    /* all of it arrives: 4 MiB through the window */
    run_until(&p, p.now + 5000);
    pl_dg_event ev;
    size_t got = 0, n = 0;
    while (next(&p.b, &ev)) {
        if (ev.kind == PL_DG_EV_MESSAGE) {
            got += ev.msg_len;
            n++;
        }
        free(ev.msg);
    }
    assert_int_equal(n, PL_DG_SENDQ_MAX / PL_DG_MSG_MAX);
    assert_int_equal(got, PL_DG_SENDQ_MAX);
    assert_int_equal(pl_dg_conn_pending(ca), 0);
    pair_free(&p);
}

/* The application does not read for a while: messages wait in reassembly
 * and in the sender's queue, and none is lost or reordered. */
static void slow_reader(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pl_dg_event ev;
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    const unsigned total = 3000;
    for (uint32_t i = 0; i < total; i++) {
        uint8_t m[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        assert_int_equal(pl_dg_msg_send(ca, p.now, m, sizeof m, false, 0, NULL), PL_OK);
    }
    uint32_t want = 0;
    for (int round = 0; round < 200 && want < total; round++) {
        run_until(&p, p.now + 200);
        /* read only a few each round */
        for (int k = 0; k < 100 && next(&p.b, &ev); k++) {
            assert_int_equal(ev.kind, PL_DG_EV_MESSAGE);
            uint32_t v = (uint32_t)ev.msg[0] << 24 | (uint32_t)ev.msg[1] << 16 |
                         (uint32_t)ev.msg[2] << 8 | ev.msg[3];
            assert_int_equal(v, want);
            want++;
            free(ev.msg);
        }
    }
    assert_int_equal(want, total);
    pl_dg_stats st;
    pl_dg_stats_get(p.b.e, &st);
    assert_int_equal(st.events_dropped, 0);
    pair_free(&p);
}

/* Holding a connection: nothing is delivered, the window fills and the
 * sender stops (its messages stay queued); released, all arrive in order. */
static void held_connection(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca, *cb;
    pl_dg_event ev;
    pair_init(&p, true);
    connect_pair(&p, &ca, &cb);
    pl_dg_conn_hold(cb, true);
    const uint32_t total = 300;
    for (uint32_t i = 0; i < total; i++) {
        uint8_t m[4] = {(uint8_t)(i >> 24), (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i};
        assert_int_equal(pl_dg_msg_send(ca, p.now, m, sizeof m, false, 0, NULL), PL_OK);
    }
    run_until(&p, p.now + 3000);
    assert_false(next(&p.b, &ev));           /* nothing delivered */
    assert_true(pl_dg_conn_pending(ca) > 0); /* the sender is held back */
    pl_dg_stats st;
    pl_dg_stats_get(p.a.e, &st);
    uint64_t sent_while_held = st.data_tx;
    pl_dg_conn_hold(cb, false);
    uint32_t want = 0;
    for (int round = 0; round < 100 && want < total; round++) {
        run_until(&p, p.now + 100);
        while (next(&p.b, &ev)) {
            assert_int_equal(ev.kind, PL_DG_EV_MESSAGE);
            uint32_t v = (uint32_t)ev.msg[0] << 24 | (uint32_t)ev.msg[1] << 16 |
                         (uint32_t)ev.msg[2] << 8 | ev.msg[3];
            assert_int_equal(v, want);
            want++;
            free(ev.msg);
        }
    }
    assert_int_equal(want, total);
    assert_int_equal(pl_dg_conn_pending(ca), 0);
    printf("# held: %llu DATA packets from the sender while held, all %u messages after\n",
           (unsigned long long)sent_while_held, total);
    pair_free(&p);
}

/* Authenticated packets with frames that break the rules: the receiving
 * connection fails with PL_ERR_PARSE and a sentence, nothing else. */
static void bad_frames(void **state)
{
    (void)state;
    static const struct {
        const char *name;
        uint8_t pt[16];
        size_t len;
    } cases[] = {
        {"unknown frame type", {0x7f}, 1},
        {"unknown MSG flags", {0x02, 0x80, 0, 0, 0, 0}, 6},
        {"request and reply", {0x02, 0x03, 0, 0, 0, 0, 0}, 7},
        {"fragment length", {0x02, 0x00, 0, 5, 0, 4, 'a', 'b', 'c', 'd'}, 10},
        {"ACK of a packet never sent", {0x01, 0x3f, 0, 0}, 4},
        {"ACK range below 0", {0x01, 0x02, 0x05, 0}, 4},
        {"truncated PING", {0x03, 1, 2}, 3},
    };
    for (size_t k = 0; k < sizeof cases / sizeof cases[0]; k++) {
        pair p;
        pl_dg_conn *ca, *cb;
        pl_dg_event ev;
        uint8_t pkt[PL_DG_PACKET_MAX];
        uint64_t pn;
        pair_init(&p, true);
        connect_pair(&p, &ca, &cb);
        int n = pl_dg_seal_packet(ca, cases[k].pt, cases[k].len, pkt, &pn);
        assert_true(n > 0);
        pl_dg_input(p.b.e, p.now, &p.a.addr, pkt, (size_t)n);
        assert_true(next(&p.b, &ev));
        assert_int_equal(ev.kind, PL_DG_EV_FAILED);
        assert_int_equal(ev.err, PL_ERR_PARSE);
        assert_non_null(ev.why);
        printf("# %s: %s\n", cases[k].name, ev.why);
        assert_false(next(&p.b, &ev));
        pair_free(&p);
    }
}

/* A hard proof of work is solved a slice per call, the deadline saying
 * "now" until it is done, so an event loop stays responsive. */
static void work_in_slices(void **state)
{
    (void)state;
    pair p;
    pl_dg_conn *ca;
    pl_dg_event ev;
    pair_init(&p, true);
    pl_dg_force_difficulty(p.b.e, 20);
    assert_int_equal(pl_dg_connect(p.a.e, p.now, &p.b.addr, &p.b.fp, NULL, 0, false, &ca), PL_OK);
    move(&p); /* HELLO, COOKIE, and the first slice of work */
    unsigned calls = 0;
    while (pl_dg_deadline(p.a.e) == p.now && calls < 100000) {
        pl_dg_timer(p.a.e, p.now);
        calls++;
        move(&p);
    }
    printf("# 20 bits of work took %u more calls after the COOKIE\n", calls);
    assert_true(calls >= 2); /* expected 2^20 / 2^14 = 64 (this seed: see the output) */
    assert_true(next(&p.a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_ESTABLISHED);
    pair_free(&p);
}

/* Per-source accounting in the engine: a source that makes many full
 * handshakes is asked more work than its neighbours in the same /24, who
 * are asked more than a stranger from another /24; after a quiet minute
 * nobody is asked anything. */
static void costly_source_asked_more(void **state)
{
    (void)state;
    pair p;
    pl_dg_event ev;
    pair_init(&p, true);
    pl_dg_free(p.b.e); /* b again, affording 20 handshakes a second */
    pl_dg_config cfg = {.id = p.b.id,
                        .trust = p.b.trust,
                        .random = det_random,
                        .random_user = &p.b.rnd,
                        .now_s = 1800000000,
                        .used_cookies_max = 64,
                        .capacity_per_s = 20};
    assert_int_equal(pl_dg_new(&p.b.e, &cfg), PL_OK);
    pl_dg_addr neighbour = p.a.addr, stranger = p.a.addr;
    neighbour.b[3] ^= 0x40; /* same /24 */
    stranger.b[2] ^= 0x40;  /* another /24 */
    assert_int_equal(pl_dg_difficulty_for(p.b.e, &p.a.addr, p.now), 0);
    for (int i = 0; i < 12; i++) {
        pl_dg_conn *c;
        assert_int_equal(pl_dg_connect(p.a.e, p.now, &p.b.addr, &p.b.fp, NULL, 0, false, &c),
                         PL_OK);
        run_until(&p, p.now + 25);
    }
    int est = 0;
    while (next(&p.b, &ev))
        est += ev.kind == PL_DG_EV_ESTABLISHED;
    assert_int_equal(est, 12);
    unsigned costly = pl_dg_difficulty_for(p.b.e, &p.a.addr, p.now),
             near = pl_dg_difficulty_for(p.b.e, &neighbour, p.now),
             far = pl_dg_difficulty_for(p.b.e, &stranger, p.now);
    printf("# after 12 handshakes in 300 ms at 20/s capacity: the source is asked %u bits, its "
           "/24 neighbour %u, a stranger %u\n",
           costly, near, far);
    assert_true(costly > near);
    assert_true(near > far);
    p.now += 60000;
    assert_int_equal(pl_dg_difficulty_for(p.b.e, &p.a.addr, p.now), 0);
    assert_int_equal(pl_dg_difficulty_for(p.b.e, &neighbour, p.now), 0);
    pair_free(&p);
}

/* ---- the frame codec ------------------------------------------------------------ */

static void frame_round_trips(void **state)
{
    (void)state;
    uint8_t buf[2048], data[PL_DG_FRAG];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (uint8_t)i;
    pl_dg_frame in[8] = {
        {.type = PL_DG_F_PADDING},
        {.type = PL_DG_F_ACK, .ack = {3, {{90, 100}, {50, 60}, {0, 7}}}},
        {.type = PL_DG_F_MSG,
         .flags = PL_DG_MSG_REQUEST,
         .id = 70000,
         .total = 5000,
         .offset = 4800,
         .bytes = data,
         .len = 200},
        {.type = PL_DG_F_MSG,
         .flags = PL_DG_MSG_REPLY | PL_DG_MSG_REFUSED,
         .id = 3,
         .re = 1u << 31,
         .total = 0,
         .offset = 0,
         .len = 0},
        {.type = PL_DG_F_PING, .token = UINT64_MAX},
        {.type = PL_DG_F_PONG, .token = 7},
        {.type = PL_DG_F_CLOSE, .code = 300, .bytes = (const uint8_t *)"why", .len = 3},
        {.type = PL_DG_F_DATAGRAM, .bytes = data, .len = 1000},
    };
    pl_wr w = pl_wr_init(buf, sizeof buf);
    for (size_t i = 0; i < 8; i++)
        pl_dg_frame_write(&w, &in[i]);
    int n = pl_wr_result(&w);
    assert_true(n > 0);
    assert_int_equal(pl_dg_ack_len(&in[1].ack), 1 + 2 + 1 + 1 + 2 * 2); /* 100 takes 2 bytes */
    pl_rd r = pl_rd_init(buf, (size_t)n);
    for (size_t i = 0; i < 8; i++) {
        pl_dg_frame f;
        const char *why = NULL;
        assert_int_equal(pl_dg_frame_read(&r, &f, &why), PL_OK);
        assert_int_equal(f.type, in[i].type);
        assert_int_equal(f.ack.n, in[i].ack.n);
        for (size_t k = 0; k < f.ack.n; k++) {
            assert_int_equal(f.ack.r[k].lo, in[i].ack.r[k].lo);
            assert_int_equal(f.ack.r[k].hi, in[i].ack.r[k].hi);
        }
        assert_int_equal(f.flags, in[i].flags);
        assert_int_equal(f.id, in[i].id);
        assert_int_equal(f.re, in[i].re);
        assert_int_equal(f.total, in[i].total);
        assert_int_equal(f.offset, in[i].offset);
        assert_int_equal(f.token, in[i].token);
        assert_int_equal(f.code, in[i].code);
        assert_int_equal(f.len, in[i].len);
        if (f.len)
            assert_memory_equal(f.bytes, in[i].bytes, f.len);
    }
    assert_true(pl_rd_finish(&r));
    /* varints at every length boundary */
    const uint64_t vs[] = {0, 63, 64, 16383, 16384, (1u << 30) - 1, 1u << 30, PL_DG_VARINT_MAX};
    for (size_t i = 0; i < sizeof vs / sizeof vs[0]; i++) {
        pl_wr v = pl_wr_init(buf, sizeof buf);
        pl_dg_wr_varint(&v, vs[i]);
        assert_int_equal(pl_wr_result(&v), (int)pl_dg_varint_len(vs[i]));
        pl_rd rv = pl_rd_init(buf, (size_t)pl_wr_result(&v));
        assert_int_equal(pl_dg_rd_varint(&rv), vs[i]);
        assert_true(pl_rd_finish(&rv));
    }
    pl_wr v = pl_wr_init(buf, sizeof buf);
    pl_dg_wr_varint(&v, PL_DG_VARINT_MAX + 1);
    assert_true(pl_wr_result(&v) < 0);
}

static void frame_rejections(void **state)
{
    (void)state;
    static const struct {
        uint8_t b[24];
        size_t len;
        const char *why;
    } cases[] = {
        {{0}, 0, "no frame"},
        {{0x0c}, 1, "unknown frame type"},
        {{0x07, 0x02, 0x00, 0x00, 0x00}, 5, "unknown CHAN flags"},
        {{0x07, 0x00, 0x00}, 3, "truncated CHAN frame"},
        {{0x07, 0x01, 0x00, 0x00, 0x05, 'a'}, 6, "truncated CHAN frame"},
        {{0x07, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 'a'},
         13,
         "CHAN frame beyond the largest channel offset"},
        {{0x08}, 1, "truncated MAX_DATA or MAX_CHAN frame"},
        {{0x09, 0x00}, 2, "truncated MAX_DATA or MAX_CHAN frame"},
        {{0x0a, 1, 2}, 3, "truncated PING, PONG or PATH frame"},
        {{0x01, 0x05}, 2, "truncated ACK frame"},
        {{0x01, 0x05, 0x06, 0x00}, 4, "ACK range below packet number 0"},
        {{0x01, 0x05, 0x00, 0x21}, 4, "too many ACK ranges"},
        {{0x01, 0x0a, 0x00, 0x01, 0x09, 0x00}, 6, "ACK range below packet number 0"},
        {{0x01, 0x0a, 0x00, 0x01, 0x03, 0x06}, 6, "ACK range below packet number 0"},
        {{0x01, 0x0a, 0x00, 0x01, 0x03}, 5, "truncated ACK frame"},
        {{0x02, 0x00, 0x00}, 3, "truncated MSG frame"},
        {{0x02, 0x08, 0, 0, 0, 0}, 6, "unknown MSG flags"},
        {{0x02, 0x03, 0, 0, 0, 0, 0}, 7, "a MSG cannot be both a request and a reply"},
        {{0x02, 0x04, 0, 0, 0, 0}, 6, "only a reply can refuse"},
        {{0x02, 0x00, 0, 0x80, 0x10, 0x00, 0x01, 0, 0}, 9, "message longer than PL_DG_MSG_MAX"},
        {{0x02, 0x00, 0, 0x0a, 0x01, 0x09},
         6,
         "fragment offset not on a fragment boundary inside the message"},
        {{0x02, 0x00, 0, 0x0a, 0x00, 0x09}, 6, "fragment length does not fit the message length"},
        {{0x02, 0x00, 0, 0x02, 0x00, 0x02, 'a'}, 7, "truncated MSG frame"},
        {{0x03, 1, 2, 3}, 4, "truncated PING, PONG or PATH frame"},
        {{0x05, 0x00, 0x40, 0x81}, 4, "close reason longer than PL_DG_REASON_MAX"},
        {{0x06, 0x05, 'a'}, 3, "truncated frame"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        pl_rd r = pl_rd_init(cases[i].b, cases[i].len);
        pl_dg_frame f;
        const char *why = NULL;
        if (pl_dg_frame_read(&r, &f, &why) != PL_ERR_PARSE)
            fail_msg("case %zu was accepted", i);
        if (strcmp(why, cases[i].why) != 0)
            fail_msg("case %zu: \"%s\", wanted \"%s\"", i, why, cases[i].why);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(request_reply_refuse),
        cmocka_unit_test(request_times_out),
        cmocka_unit_test(nobody_there),
        cmocka_unit_test(refused_peer),
        cmocka_unit_test(peer_goes_silent),
        cmocka_unit_test(ping_and_close),
        cmocka_unit_test(caps),
        cmocka_unit_test(slow_reader),
        cmocka_unit_test(held_connection),
        cmocka_unit_test(bad_frames),
        cmocka_unit_test(work_in_slices),
        cmocka_unit_test(costly_source_asked_more),
        cmocka_unit_test(frame_round_trips),
        cmocka_unit_test(frame_rejections),
    };
    if (pl_init() != PL_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
