/*
 * test_dgram_xfer_sim.c - bulk transfers on ordered channels in the
 * deterministic network simulator, after the quic-interop-runner's test
 * cases: each profile moves a stream one way and a smaller one back, every
 * byte compared (none lost, none corrupted, in order, with its end), then a
 * clean close; with NewReno and with CUBIC.
 *
 *   clean         20 ms one way
 *   loss          2% of datagrams lost each way
 *   corruption    2% of datagrams with one bit flipped each way
 *   blackouts     the link dark 2 s in every 7 s
 *   long delay    750 ms one way
 *   reorder/dup   5% held back 80 ms, 5% duplicated, 20-40 ms
 *   rebinding     the initiator's NAT moves to a new port mid-transfer
 *
 * The figures (virtual time, goodput, losses, retransmissions) go to the
 * TAP comments. The same seed gives the same run.
 */
#include "../unit/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dgnode.h"
#include "dgram/engine.h"
#include "peerlink.h"
#include "sim.h"

static uint8_t pattern(uint64_t salt, uint64_t off)
{
    uint64_t x = (off + 1) * 0x9e3779b97f4a7c15ULL ^ (salt << 52);
    x ^= x >> 31;
    return (uint8_t)(x >> 23);
}

typedef struct xnode {
    dgnode d; /* first: the callbacks get it */
    bool initiator;
    pl_dg_conn *conn;
    uint64_t out_id, out_total, written;
    uint8_t chunk[16384];
    uint64_t chunk_at;
    size_t chunk_len;
    bool out_open, finished;
    uint64_t in_read, in_expect;
    bool in_fin, bad, closed, failed, shut;
    uint64_t done_at;
    const char *why;
} xnode;

static void write_some(xnode *n)
{
    if (!n->out_open)
        return;
    while (n->written < n->out_total) {
        /* the pattern is made once per chunk: a full send buffer makes
         * most calls here write nothing */
        if (n->written >= n->chunk_at + n->chunk_len) {
            uint64_t left = n->out_total - n->written;
            n->chunk_at = n->written;
            n->chunk_len = left < sizeof n->chunk ? (size_t)left : sizeof n->chunk;
            for (size_t i = 0; i < n->chunk_len; i++)
                n->chunk[i] = pattern(n->out_id + 17, n->chunk_at + i);
        }
        size_t off = (size_t)(n->written - n->chunk_at), k = n->chunk_len - off;
        int w = pl_dg_chan_write(n->conn, n->out_id, n->chunk + off, k);
        if (w < 0) {
            n->bad = true;
            return;
        }
        n->written += (uint64_t)w;
        if ((size_t)w < k)
            return;
    }
    if (!n->finished && pl_dg_chan_finish(n->conn, n->out_id) == PL_OK)
        n->finished = true;
}

static void read_some(xnode *n, uint64_t chan)
{
    static uint8_t buf[16384];
    for (;;) {
        bool fin = false;
        int k = pl_dg_chan_read(n->conn, chan, buf, sizeof buf, &fin);
        if (k < 0)
            return;
        for (int i = 0; i < k; i++)
            if (buf[i] != pattern(chan + 17, n->in_read + (uint64_t)i))
                n->bad = true;
        n->in_read += (uint64_t)k;
        if (fin)
            n->in_fin = true;
        if (k == 0 || fin)
            return;
    }
}

static void on_event(dgnode *d, uint64_t now, pl_dg_event *ev)
{
    xnode *n = (xnode *)d;
    switch (ev->kind) {
    case PL_DG_EV_ESTABLISHED:
        n->conn = ev->conn;
        if (pl_dg_chan_open(n->conn, &n->out_id) == PL_OK)
            n->out_open = true;
        else
            n->bad = true;
        break;
    case PL_DG_EV_READABLE: read_some(n, ev->id); break;
    case PL_DG_EV_CLOSED:
        n->closed = true;
        n->done_at = now;
        break;
    case PL_DG_EV_FAILED:
        n->failed = true;
        n->why = ev->why;
        break;
    default: break;
    }
}

static void after(dgnode *d, uint64_t now)
{
    xnode *n = (xnode *)d;
    if (!n->conn || n->closed || n->failed)
        return;
    write_some(n);
    /* the initiator closes once both streams are through */
    if (n->initiator && !n->shut && n->in_fin && n->in_read == n->in_expect && n->finished &&
        pl_dg_chan_pending(n->conn, n->out_id) == 0) {
        n->shut = true;
        if (pl_dg_shutdown(n->conn, now) != PL_OK)
            n->bad = true;
    }
}

typedef struct profile {
    const char *name;
    sim_link link;
    uint64_t period_ms, dark_ms; /* periodic blackouts (0: none) */
    uint64_t a_to_b, b_to_a;     /* stream sizes */
    bool rebind;
    uint64_t limit_ms;
} profile;

typedef struct result {
    bool ok;
    uint64_t end_ms, a_lost, a_retx, a_sent, dark_dropped;
    sim_stats_t st;
} result;

struct dark {
    uint64_t period, dark, dropped;
};

static int darken(void *ctx, uint64_t now, const sim_addr *from, const sim_addr *to, uint8_t *data,
                  size_t len)
{
    struct dark *d = ctx;
    (void)from;
    (void)to;
    (void)data;
    (void)len;
    /* dark from 0.5 s into each period, for dark ms */
    if ((now + d->period - 500) % d->period < d->dark) {
        d->dropped++;
        return 1;
    }
    return 0;
}

static void run_profile(const profile *pf, int cc, uint64_t seed, result *out)
{
    static xnode a, b;
    sim *s = sim_new(seed);
    assert_non_null(s);
    sim_set_default_link(s, &pf->link);
    pl_dg_config extra = {.cc = cc};
    sim_addr aa = sim_addr_v4(10, 3, 1, 1, 7000), ba = sim_addr_v4(10, 3, 2, 1, 7000);
    dgnode_init_cfg(&a.d, s, 1, 0x33, aa, on_event, after, &extra);
    dgnode_init_cfg(&b.d, s, 2, 0x33, ba, on_event, after, &extra);
    memset((uint8_t *)&a + sizeof a.d, 0, sizeof a - sizeof a.d);
    memset((uint8_t *)&b + sizeof b.d, 0, sizeof b - sizeof b.d);
    a.initiator = true;
    a.out_total = pf->a_to_b;
    b.out_total = pf->b_to_a;
    a.in_expect = pf->b_to_a;
    b.in_expect = pf->a_to_b;
    sim_addr outside = sim_addr_v4(198, 51, 100, 1, 40000);
    if (pf->rebind)
        assert_int_equal(sim_add_nat(s, &aa, &outside, 0), 0);
    struct dark dk = {pf->period_ms, pf->dark_ms, 0};
    if (pf->period_ms)
        sim_set_capture(s, darken, &dk);
    const char *why = NULL;
    assert_int_equal(pl_trust_set(b.d.trust, PL_TRUST_ALLOW, &a.d.fp, NULL, NULL, 0, &why), PL_OK);
    pl_dg_addr to;
    pl_dg_conn *c = NULL;
    dgnode_to_dg(&ba, &to);
    assert_int_equal(pl_dg_connect(a.d.e, 0, &to, &b.d.fp, NULL, 0, false, &c), PL_OK);
    dgnode_pump(&a.d, 0);
    sim_kick(s, 0);
    bool rebound = false;
    uint64_t t = 0;
    while (t < pf->limit_ms && !(a.closed && b.closed) && !a.failed && !b.failed) {
        t += 100;
        sim_run(s, t, 20000000);
        if (pf->rebind && !rebound && b.in_read >= pf->a_to_b / 3) {
            sim_addr moved = sim_addr_v4(198, 51, 100, 1, 40001);
            assert_int_equal(sim_nat_rebind(s, &aa, &moved), 0);
            rebound = true;
            printf("#   rebinding at %llu ms, %llu of %llu bytes through\n", (unsigned long long)t,
                   (unsigned long long)b.in_read, (unsigned long long)pf->a_to_b);
        }
    }
    memset(out, 0, sizeof *out);
    out->ok = a.closed && b.closed && !a.failed && !b.failed && !a.bad && !b.bad && a.in_fin &&
              b.in_fin && b.in_read == pf->a_to_b && a.in_read == pf->b_to_a &&
              (!pf->rebind || rebound);
    out->end_ms = a.done_at > b.done_at ? a.done_at : b.done_at;
    if (a.conn) {
        pl_dg_conn_stats cs;
        pl_dg_conn_stats_get(a.conn, &cs);
        out->a_lost = cs.packets_lost;
        out->a_retx = cs.retransmits;
        out->a_sent = cs.packets_sent;
    }
    out->dark_dropped = dk.dropped;
    sim_stats(s, &out->st);
    if (!out->ok)
        printf("#   FAILED: a closed %d failed %d (%s) bad %d read %llu/%llu fin %d; b closed %d "
               "failed %d (%s) bad %d read %llu/%llu fin %d\n",
               a.closed, a.failed, a.why ? a.why : "-", a.bad, (unsigned long long)a.in_read,
               (unsigned long long)pf->b_to_a, a.in_fin, b.closed, b.failed, b.why ? b.why : "-",
               b.bad, (unsigned long long)b.in_read, (unsigned long long)pf->a_to_b, b.in_fin);
    dgnode_free(&a.d);
    dgnode_free(&b.d);
    sim_free(s);
}

static const profile profiles[] = {
    {"clean", {.delay_ms = 20}, 0, 0, 4000000, 500000, false, 60000},
    {"2% loss", {.delay_ms = 20, .loss = 0.02}, 0, 0, 4000000, 500000, false, 60000},
    {"2% corruption", {.delay_ms = 20, .corrupt = 0.02}, 0, 0, 4000000, 500000, false, 60000},
    {"dark 2 s in every 7 s", {.delay_ms = 20}, 7000, 2000, 120000000, 500000, false, 120000},
    {"750 ms one-way delay", {.delay_ms = 750}, 0, 0, 2000000, 200000, false, 120000},
    {"5% reordered by 80 ms, 5% duplicated",
     {.delay_ms = 20, .jitter_ms = 20, .reorder = 0.05, .reorder_ms = 80, .dup = 0.05},
     0,
     0,
     4000000,
     500000,
     false,
     60000},
    {"NAT rebinding mid-transfer", {.delay_ms = 20}, 0, 0, 4000000, 500000, true, 60000},
};

static void transfers(void **state)
{
    (void)state;
    unsigned failed = 0;
    const char *only = getenv("PL_XFER_ONLY"); /* a profile's index, for a closer look */
    for (int cc = PL_DG_CC_NEWRENO; cc <= PL_DG_CC_CUBIC; cc++) {
        for (size_t i = 0; i < sizeof profiles / sizeof profiles[0]; i++) {
            const profile *pf = &profiles[i];
            if (only && (size_t)atoi(only) != i)
                continue;
            result r;
            run_profile(pf, cc, 1000 + i, &r);
            double secs = (double)r.end_ms / 1000.0;
            printf("# %-7s %-38s %s: %llu+%llu B in %.1f s virtual (%.0f kB/s), %llu packets, "
                   "%llu lost, %llu retransmitted; link: %llu lost, %llu corrupted, %llu "
                   "duplicated, %llu dark\n",
                   cc == PL_DG_CC_CUBIC ? "cubic" : "newreno", pf->name, r.ok ? "ok" : "FAILED",
                   (unsigned long long)pf->a_to_b, (unsigned long long)pf->b_to_a, secs,
                   secs > 0 ? (double)pf->a_to_b / 1000.0 / secs : 0.0,
                   (unsigned long long)r.a_sent, (unsigned long long)r.a_lost,
                   (unsigned long long)r.a_retx, (unsigned long long)r.st.dropped_loss,
                   (unsigned long long)r.st.corrupted, (unsigned long long)r.st.duplicated,
                   (unsigned long long)r.dark_dropped);
            if (!r.ok)
                failed++;
            if (pf->link.loss > 0)
                assert_true(r.st.dropped_loss > 0);
            if (pf->link.corrupt > 0)
                assert_true(r.st.corrupted > 0);
            if (pf->period_ms)
                assert_true(r.dark_dropped > 0); /* it did cross a blackout */
        }
    }
    assert_int_equal(failed, 0);
    /* determinism */
    result r1, r2;
    run_profile(&profiles[1], PL_DG_CC_CUBIC, 77, &r1);
    run_profile(&profiles[1], PL_DG_CC_CUBIC, 77, &r2);
    assert_true(r1.ok && r2.ok);
    assert_int_equal(r1.end_ms, r2.end_ms);
    assert_int_equal(r1.a_sent, r2.a_sent);
    assert_int_equal(r1.st.delivered, r2.st.delivered);
}

/* Two connections, one started 3 s after the other, share a 20 Mbit/s
 * bottleneck with a drop-tail queue of one bandwidth-delay product
 * (40 ms RTT): over the last 20 s of 45 each gets close to half, and
 * together they fill the link. Both algorithms; the bytes are checked
 * as everywhere here. */
static void fair_share(void **state)
{
    (void)state;
    static xnode n[4]; /* a1, b1, a2, b2 */
    const uint32_t kbps = 20000;
    for (int cc = PL_DG_CC_NEWRENO; cc <= PL_DG_CC_CUBIC; cc++) {
        sim *s = sim_new(4242 + (uint64_t)cc);
        assert_non_null(s);
        sim_link back = {.delay_ms = 20};
        sim_link neck = {.delay_ms = 20, .rate_kbps = kbps, .queue_bytes = kbps / 8 * 40};
        sim_set_default_link(s, &back);
        pl_dg_config extra = {.cc = cc};
        sim_addr addr[4];
        for (int i = 0; i < 4; i++) {
            addr[i] = sim_addr_v4(10, 4, (uint8_t)(i + 1), 1, 7000);
            dgnode_init_cfg(&n[i].d, s, 10 + i, 0x44, addr[i], on_event, after, &extra);
            memset((uint8_t *)&n[i] + sizeof n[i].d, 0, sizeof n[i] - sizeof n[i].d);
        }
        for (int f = 0; f < 2; f++) {
            xnode *a = &n[2 * f], *b = &n[2 * f + 1];
            a->initiator = true;
            a->out_total = UINT64_C(1) << 40; /* endless */
            a->in_expect = 0;
            b->out_total = 0;
            b->in_expect = a->out_total;
            assert_int_equal(sim_set_link(s, &addr[2 * f], &addr[2 * f + 1], &neck), 0);
            const char *why = NULL;
            assert_int_equal(
                pl_trust_set(b->d.trust, PL_TRUST_ALLOW, &a->d.fp, NULL, NULL, 0, &why), PL_OK);
        }
        uint64_t at20[2] = {0, 0}, t = 0;
        for (int f = 0; f < 2; f++) {
            /* flow 1 at 0 s, flow 2 at 3 s */
            if (f == 1) {
                t = 3000;
                sim_run(s, t, 50000000);
            }
            pl_dg_addr to;
            pl_dg_conn *c = NULL;
            dgnode_to_dg(&addr[2 * f + 1], &to);
            assert_int_equal(
                pl_dg_connect(n[2 * f].d.e, t, &to, &n[2 * f + 1].d.fp, NULL, 0, false, &c), PL_OK);
            dgnode_pump(&n[2 * f].d, t);
            sim_kick(s, 2 * f);
        }
        while (t < 45000) {
            t += 100;
            sim_run(s, t, 50000000);
            if (t == 25000)
                for (int f = 0; f < 2; f++)
                    at20[f] = n[2 * f + 1].in_read;
        }
        double rate[2], total = 0;
        for (int f = 0; f < 2; f++) {
            rate[f] = (double)(n[2 * f + 1].in_read - at20[f]) * 8 / 20.0 / 1000.0; /* kbit/s */
            total += rate[f];
        }
        double jain = total * total / (2 * (rate[0] * rate[0] + rate[1] * rate[1]));
        sim_stats_t st;
        sim_stats(s, &st);
        pl_dg_conn_stats cs[2];
        for (int f = 0; f < 2; f++)
            pl_dg_conn_stats_get(n[2 * f].conn, &cs[f]);
        printf(
            "# %-7s fair share of %u kbit/s: flow 1 %.0f kbit/s, flow 2 %.0f kbit/s over the last "
            "20 s (%.0f%% of the link, Jain index %.3f); %llu dropped at the queue; "
            "retransmitted %llu and %llu\n",
            cc == PL_DG_CC_CUBIC ? "cubic" : "newreno", kbps, rate[0], rate[1],
            100.0 * total / kbps, jain, (unsigned long long)st.dropped_queue,
            (unsigned long long)cs[0].retransmits, (unsigned long long)cs[1].retransmits);
        for (int i = 0; i < 4; i++) {
            assert_false(n[i].bad);
            assert_false(n[i].failed);
        }
        assert_true(st.dropped_queue > 0); /* the queue was the bottleneck */
        assert_true(total >= 0.8 * kbps);
        assert_true(jain >= 0.95);
        for (int f = 0; f < 2; f++)
            assert_true(rate[f] >= 0.35 * total);
        for (int i = 0; i < 4; i++)
            dgnode_free(&n[i].d);
        sim_free(s);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(transfers),
        cmocka_unit_test(fair_share),
    };
    if (pl_init() != PL_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
