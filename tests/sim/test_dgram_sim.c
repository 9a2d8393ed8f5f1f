/*
 * test_dgram_sim.c - the datagram handshake engine in the deterministic
 * network simulator (tests/sim/): engines are simulator nodes, links add
 * delay, jitter, loss, duplication, reordering and corruption, a fixed
 * seed makes every run the same.
 *   - 50 handshakes (each with early data, a reply and one unreliable DATAGRAM each
 *     way) over links with 30% loss both ways, 10% duplication, 5%
 *     reordering, 1% corruption and 20-60 ms delay: all complete;
 *   - the same scenario twice gives the same counts (determinism);
 *   - a responder behind a port-restricted NAT is reached once it has sent
 *     to the initiator (rendezvous through the NAT).
 */
#include "../unit/testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dgram/engine.h"
#include "peerlink.h"
#include "dgnode.h"
#include "sim.h"

#define PAIRS 50

typedef struct enode {
    dgnode d; /* first: the callbacks get it */
    int established, data, failed;
    pl_dg_conn *conn;
} enode;

static void on_event(dgnode *d, uint64_t now, pl_dg_event *ev)
{
    enode *n = (enode *)d;
    (void)now;
    if (ev->kind == PL_DG_EV_ESTABLISHED) {
        n->established++;
        n->conn = ev->conn;
        /* one unreliable DATAGRAM each way once established */
        assert_int_equal(pl_dg_send(ev->conn, (const uint8_t *)"data", 4), PL_OK);
    } else if (ev->kind == PL_DG_EV_DATA) {
        n->data++;
    } else if (ev->kind == PL_DG_EV_FAILED) {
        n->failed++;
    }
}

static void enode_init(enode *n, sim *s, uint8_t tag, sim_addr addr)
{
    memset(n, 0, sizeof *n);
    dgnode_init(&n->d, s, tag, 0x5a, addr, on_event, NULL);
}

typedef struct outcome {
    unsigned complete, data_ok;
    sim_stats_t st;
} outcome;

static void scenario(uint64_t seed, outcome *out)
{
    static enode a[PAIRS], b[PAIRS];
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
    sim_set_default_link(s, &l);
    for (int i = 0; i < PAIRS; i++) {
        enode_init(&a[i], s, (uint8_t)(1 + i), sim_addr_v4(10, 0, 1, (uint8_t)(1 + i), 7000));
        enode_init(&b[i], s, (uint8_t)(101 + i), sim_addr_v4(10, 0, 2, (uint8_t)(1 + i), 7000));
        const char *why = NULL;
        assert_int_equal(
            pl_trust_set(b[i].d.trust, PL_TRUST_ALLOW, &a[i].d.fp, NULL, NULL, 0, &why), PL_OK);
        pl_dg_addr to;
        pl_dg_conn *c = NULL;
        dgnode_to_dg(&b[i].d.addr, &to);
        assert_int_equal(
            pl_dg_connect(a[i].d.e, 0, &to, &b[i].d.fp, (const uint8_t *)"early", 5, false, &c),
            PL_OK);
        dgnode_pump(&a[i].d, 0);
        sim_kick(s, i * 2);
    }
    sim_run(s, 30000, 10000000);
    memset(out, 0, sizeof *out);
    for (int i = 0; i < PAIRS; i++) {
        /* one live connection each (b may have superseded a half-open one) */
        if (a[i].established == 1 && a[i].failed == 0 && b[i].established - b[i].failed == 1)
            out->complete++;
        /* a DATAGRAM is unreliable by design (sent once): count what arrived */
        out->data_ok += a[i].data >= 1 && b[i].data >= 1;
    }
    sim_stats(s, &out->st);
    for (int i = 0; i < PAIRS; i++) {
        dgnode_free(&a[i].d);
        dgnode_free(&b[i].d);
    }
    sim_free(s);
}

static void handshakes_in_bad_weather(void **state)
{
    (void)state;
    outcome o1, o2;
    scenario(7, &o1);
    printf("# %d handshakes, 30%% loss, 10%% dup, 5%% reorder, 1%% corruption, 20-60 ms: "
           "%u complete; an unreliable DATAGRAM each way arrived in %u; %llu "
           "datagrams sent, %llu lost, %llu duplicated, %llu corrupted\n",
           PAIRS, o1.complete, o1.data_ok, (unsigned long long)o1.st.sent,
           (unsigned long long)o1.st.dropped_loss, (unsigned long long)o1.st.duplicated,
           (unsigned long long)o1.st.corrupted);
    assert_int_equal(o1.complete, PAIRS);
    assert_true(o1.st.dropped_loss > 0 && o1.st.duplicated > 0 && o1.st.corrupted > 0);
    /* determinism: the same seed, the same run */
    scenario(7, &o2);
    assert_int_equal(o2.complete, o1.complete);
    assert_int_equal(o2.data_ok, o1.data_ok);
    assert_memory_equal(&o2.st, &o1.st, sizeof o1.st);
}

/* b is behind a port-restricted NAT: a's HELLO is dropped until b has sent
 * to a; once both dial (rendezvous) the handshake completes, whichever
 * side the tie-breaker makes the initiator. */
static void through_a_nat(void **state)
{
    (void)state;
    static enode a, b;
    sim *s = sim_new(3);
    sim_link l = {0};
    l.delay_ms = 15;
    sim_set_default_link(s, &l);
    sim_addr inside = sim_addr_v4(192, 168, 1, 2, 5000),
             outside = sim_addr_v4(203, 0, 113, 7, 40000);
    enode_init(&a, s, 1, sim_addr_v4(198, 51, 100, 1, 7000));
    enode_init(&b, s, 2, inside);
    assert_true(sim_add_nat(s, &inside, &outside, 0) >= 0);
    pl_dg_addr to_b, to_a;
    dgnode_to_dg(&outside, &to_b);
    dgnode_to_dg(&a.d.addr, &to_a);
    pl_dg_conn *ca = NULL, *cb = NULL;
    assert_int_equal(pl_dg_connect(a.d.e, 0, &to_b, &b.d.fp, (const uint8_t *)"A", 1, true, &ca),
                     PL_OK);
    dgnode_pump(&a.d, 0);
    sim_kick(s, 0);
    sim_run(s, 100, 1000000); /* a's first HELLO meets the closed NAT */
    sim_stats_t st;
    sim_stats(s, &st);
    assert_int_equal(st.dropped_nat, 1);
    assert_int_equal(b.established, 0);
    assert_int_equal(pl_dg_connect(b.d.e, 100, &to_a, &a.d.fp, (const uint8_t *)"B", 1, true, &cb),
                     PL_OK);
    dgnode_pump(&b.d, 100);
    sim_kick(s, 1);
    sim_run(s, 20000, 1000000);
    sim_stats(s, &st);
    printf("# rendezvous through a port-restricted NAT: a %d, b %d established; %llu dropped at "
           "the NAT\n",
           a.established, b.established, (unsigned long long)st.dropped_nat);
    assert_int_equal(a.established, 1);
    assert_int_equal(b.established, 1);
    assert_int_equal(a.data, 1);
    assert_int_equal(b.data, 1);
    dgnode_free(&a.d);
    dgnode_free(&b.d);
    sim_free(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshakes_in_bad_weather),
        cmocka_unit_test(through_a_nat),
    };
    if (pl_init() != PL_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
