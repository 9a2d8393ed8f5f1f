/*
 * test_dgram_msg_sim.c - reliable messages of the datagram engine in the
 * deterministic network simulator (tests/sim/):
 *   - requests of 0 B .. 300 KB queued before the handshake, each answered
 *     with a reply of another size, and a one-way stream of 40 messages,
 *     over links with 30% loss both ways, 10% duplication, 5% reordering,
 *     1% corruption and 20-60 ms delay: every byte compared, every message
 *     in order, every request answered once, then a clean close on both
 *     sides; the same seed gives the same run;
 *   - the same transfer through a link that goes dark for 3 s mid-way.
 */
#include "../unit/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dgram/engine.h"
#include "dgram/engine_int.h"
#include "peerlink.h"
#include "dgnode.h"
#include "sim.h"

#define PAIRS      6
#define NREQ       6
#define NSTREAM    40
#define STREAM_LEN 10000

static const size_t req_len[NREQ] = {0, 1, PL_DG_FRAG, PL_DG_FRAG + 1, 65536, 300000};
static const size_t rep_len[NREQ] = {5, 0, 200000, 1, PL_DG_FRAG * 3, 7};

typedef struct mnode {
    dgnode d; /* first: the callbacks get it */
    int pair;
    bool initiator;
    pl_dg_conn *conn;
    int established, failed, closed_ok, closed_by_peer, bad;
    int requests_seen, replies_ok, stream_seen;
    uint64_t next_stream_id;
    uint64_t req_id[NREQ];
    bool req_done[NREQ];
    uint64_t last_msg_id;
    bool any_msg, shut;
    uint64_t closed_at;
} mnode;

/* The bytes of message `which` of pair p: a pattern a lost, duplicated or
 * misplaced fragment would break. */
static uint8_t pat(int p, int which, size_t i)
{
    uint64_t x = (uint64_t)p * 1000003u + (uint64_t)which * 7919u + i;
    x ^= x >> 7;
    x *= 0x9e3779b97f4a7c15ULL;
    return (uint8_t)(x >> 56);
}

static uint8_t *make(int p, int which, size_t len)
{
    uint8_t *b = malloc(len ? len : 1);
    assert_non_null(b);
    for (size_t i = 0; i < len; i++)
        b[i] = pat(p, which, i);
    return b;
}

static bool check(int p, int which, const uint8_t *b, size_t len, size_t want)
{
    if (len != want)
        return false;
    for (size_t i = 0; i < len; i++)
        if (b[i] != pat(p, which, i))
            return false;
    return true;
}

static void all_done(dgnode *d, uint64_t now)
{
    mnode *n = (mnode *)d;
    if (!n->initiator || n->replies_ok != NREQ || n->stream_seen != 0)
        return;
    /* the initiator closes once every reply is in */
    if (n->conn && !n->shut && n->failed == 0) {
        assert_int_equal(pl_dg_shutdown(n->conn, now), PL_OK);
        n->shut = true;
        assert_int_equal(pl_dg_shutdown(n->conn, now), PL_ERR_INVAL); /* once */
    }
}

static void handle(dgnode *d, uint64_t now, pl_dg_event *ev)
{
    mnode *n = (mnode *)d;
    switch (ev->kind) {
    case PL_DG_EV_ESTABLISHED:
        n->established++;
        n->conn = ev->conn;
        break;
    case PL_DG_EV_MESSAGE:
        /* ids are consecutive: in order, none twice */
        if (n->any_msg && ev->id != n->last_msg_id + 1)
            n->bad++;
        n->any_msg = true;
        n->last_msg_id = ev->id;
        if (ev->want_reply) {
            int k = (int)ev->id; /* the requests were queued first */
            if (k >= NREQ || !check(n->pair, k, ev->msg, ev->msg_len, req_len[k])) {
                n->bad++;
                break;
            }
            n->requests_seen++;
            uint8_t *r = make(n->pair, 100 + k, rep_len[k]);
            assert_int_equal(pl_dg_msg_reply(ev->conn, now, ev->id, r, rep_len[k], false), PL_OK);
            /* answered once */
            assert_int_equal(pl_dg_msg_reply(ev->conn, now, ev->id, r, 1, false), PL_ERR_NOTFOUND);
            free(r);
        } else {
            int k = (int)ev->id - NREQ;
            if (k < 0 || !check(n->pair, 200 + k, ev->msg, ev->msg_len, STREAM_LEN))
                n->bad++;
            else
                n->stream_seen++;
        }
        break;
    case PL_DG_EV_REPLY: {
        int k = -1;
        for (int i = 0; i < NREQ; i++)
            if (n->req_id[i] == ev->id && !n->req_done[i])
                k = i;
        if (k < 0 || ev->err != 0 || !check(n->pair, 100 + k, ev->msg, ev->msg_len, rep_len[k])) {
            printf("# bad reply: k %d err %d %s\n", k, ev->err, ev->why ? ev->why : "");
            n->bad++;
            break;
        }
        n->req_done[k] = true;
        n->replies_ok++;
        break;
    }
    case PL_DG_EV_FAILED:
        /* a responder's connection that the initiator never used (the
         * ACCEPT was lost and it started again) is replaced by the new
         * one: expected on this path, and no data is lost with it */
        if (ev->conn != NULL && !ev->conn->confirmed && ev->why &&
            strncmp(ev->why, "superseded", 10) == 0) {
            printf("# replaced: %s\n", ev->why);
            break;
        }
        n->failed++;
        printf("# failed: %s\n", ev->why ? ev->why : "?");
        break;
    case PL_DG_EV_CLOSED:
        n->closed_at = now;
        if (ev->err == 0)
            n->closed_ok++;
        else if (ev->err == PL_ERR_CLOSED)
            n->closed_by_peer++;
        break;
    default: break;
    }
}

static void mnode_init(mnode *n, sim *s, uint8_t tag, sim_addr addr, int pair)
{
    memset(n, 0, sizeof *n);
    n->pair = pair;
    dgnode_init(&n->d, s, tag, 0x6b, addr, handle, all_done);
}

typedef struct outcome {
    unsigned complete;
    uint64_t retransmits, end_ms;
    sim_stats_t st;
} outcome;

static void scenario(uint64_t seed, bool blackout, outcome *out)
{
    static mnode a[PAIRS], b[PAIRS];
    sim *s = sim_new(seed);
    assert_non_null(s);
    sim_link l = {0};
    l.delay_ms = 20;
    l.jitter_ms = 40;
    l.loss = 0.30;
    l.dup = 0.10;
    l.reorder = 0.05;
    l.reorder_ms = 80;
    l.corrupt = 0.01;
    if (blackout) { /* dark from 1 s to 4 s */
        l.loss = 0.02;
        l.down_from_ms = 1000;
        l.down_until_ms = 4000;
    }
    sim_set_default_link(s, &l);
    for (int i = 0; i < PAIRS; i++) {
        mnode_init(&a[i], s, (uint8_t)(1 + i), sim_addr_v4(10, 1, 1, (uint8_t)(1 + i), 7000), i);
        mnode_init(&b[i], s, (uint8_t)(101 + i), sim_addr_v4(10, 1, 2, (uint8_t)(1 + i), 7000), i);
        a[i].initiator = true;
        const char *why = NULL;
        assert_int_equal(
            pl_trust_set(b[i].d.trust, PL_TRUST_ALLOW, &a[i].d.fp, NULL, NULL, 0, &why), PL_OK);
        pl_dg_addr to;
        pl_dg_conn *c = NULL;
        dgnode_to_dg(&b[i].d.addr, &to);
        assert_int_equal(pl_dg_connect(a[i].d.e, 0, &to, &b[i].d.fp, NULL, 0, false, &c), PL_OK);
        a[i].conn = c;
        /* queued before the handshake: sent once it is done */
        for (int k = 0; k < NREQ; k++) {
            uint8_t *m = make(i, k, req_len[k]);
            assert_int_equal(pl_dg_msg_send(c, 0, m, req_len[k], true, 60000, &a[i].req_id[k]),
                             PL_OK);
            free(m);
        }
        for (int k = 0; k < NSTREAM; k++) {
            uint8_t *m = make(i, 200 + k, STREAM_LEN);
            assert_int_equal(pl_dg_msg_send(c, 0, m, STREAM_LEN, false, 0, NULL), PL_OK);
            free(m);
        }
        dgnode_pump(&a[i].d, 0);
        sim_kick(s, i * 2);
    }
    sim_run(s, 120000, 50000000);
    memset(out, 0, sizeof *out);
    for (int i = 0; i < PAIRS; i++) {
        if (a[i].established == 1 && a[i].failed == 0 && a[i].bad == 0 && b[i].bad == 0 &&
            a[i].replies_ok == NREQ && b[i].requests_seen == NREQ && b[i].stream_seen == NSTREAM &&
            a[i].closed_ok == 1 && b[i].closed_by_peer == 1 && b[i].failed == 0)
            out->complete++;
        else
            printf("# pair %d: established %d failed %d/%d bad %d/%d replies %d requests %d "
                   "stream %d closed %d/%d\n",
                   i, a[i].established, a[i].failed, b[i].failed, a[i].bad, b[i].bad,
                   a[i].replies_ok, b[i].requests_seen, b[i].stream_seen, a[i].closed_ok,
                   b[i].closed_by_peer);
        if (a[i].closed_at > out->end_ms)
            out->end_ms = a[i].closed_at;
        pl_dg_stats st;
        pl_dg_stats_get(a[i].d.e, &st);
        out->retransmits += st.retransmits;
        pl_dg_stats_get(b[i].d.e, &st);
        out->retransmits += st.retransmits;
    }
    sim_stats(s, &out->st);
    for (int i = 0; i < PAIRS; i++) {
        dgnode_free(&a[i].d);
        dgnode_free(&b[i].d);
    }
    sim_free(s);
}

static void messages_in_bad_weather(void **state)
{
    (void)state;
    outcome o1, o2;
    scenario(11, false, &o1);
    printf("# %d pairs, each %d requests (0 B..300 KB, replies 0 B..200 KB) and %d one-way "
           "messages of %d B, 30%% loss, 10%% dup, 5%% reorder, 1%% corruption, 20-60 ms: %u "
           "complete and closed cleanly; %llu datagrams, %llu lost, %llu duplicated, %llu "
           "corrupted, %llu fragments retransmitted\n",
           PAIRS, NREQ, NSTREAM, STREAM_LEN, o1.complete, (unsigned long long)o1.st.sent,
           (unsigned long long)o1.st.dropped_loss, (unsigned long long)o1.st.duplicated,
           (unsigned long long)o1.st.corrupted, (unsigned long long)o1.retransmits);
    assert_int_equal(o1.complete, PAIRS);
    assert_true(o1.retransmits > 0 && o1.st.corrupted > 0 && o1.st.duplicated > 0);
    scenario(11, false, &o2);
    assert_int_equal(o2.complete, o1.complete);
    assert_int_equal(o2.retransmits, o1.retransmits);
    assert_memory_equal(&o2.st, &o1.st, sizeof o1.st);
}

static void messages_across_a_blackout(void **state)
{
    (void)state;
    outcome o;
    scenario(5, true, &o);
    printf("# the same through a link dark from 1 s to 4 s (2%% loss otherwise): %u complete, "
           "%llu dropped in the dark, done at %llu ms, %llu fragments retransmitted\n",
           o.complete, (unsigned long long)o.st.dropped_blackout, (unsigned long long)o.end_ms,
           (unsigned long long)o.retransmits);
    assert_int_equal(o.complete, PAIRS);
    assert_true(o.st.dropped_blackout > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(messages_in_bad_weather),
        cmocka_unit_test(messages_across_a_blackout),
    };
    if (pl_init() != PL_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
