/*
 * test_sim.c - the network simulator itself (tests/sim/): exact delay and
 * stable ties, copies at send time, jitter, reordering, loss, duplication,
 * corruption, blackouts, mtu and size caps, NAT filtering and rebinding,
 * timers, the max_events guard, the in-flight cap, the capture hook, and
 * determinism across runs. Every statistic comes from a fixed seed, so each
 * count is a fixed number; bands only say the number is sensible.
 */
#include "../unit/testutil.h"

#include <stdlib.h>
#include <string.h>

#include "sim.h"

#define MAXREC 20000

typedef struct got {
    uint64_t at;
    sim_addr from, to;
    size_t len;
    uint8_t data[64];
} got;

typedef struct host {
    sim *s;
    sim_addr addr, peer;
    int echo;        /* send every datagram back to its source */
    uint64_t rearm;  /* on recv, deadline = now + rearm (0: leave it) */
    uint64_t next;   /* deadline, UINT64_MAX for none */
    uint64_t period; /* on timer: send to peer, next += period while ticks */
    unsigned ticks;  /* timer calls still to send */
    int spin;        /* a buggy engine: the deadline is always 0 */
    uint64_t fired[16];
    size_t nfired, calls;
    size_t n;
    got *log;
} host;

static void h_recv(void *ctx, uint64_t now, const sim_addr *from, const sim_addr *to,
                   const uint8_t *data, size_t len)
{
    host *h = ctx;
    assert_true(h->n < MAXREC);
    got *g = &h->log[h->n++];
    g->at = now;
    g->from = *from;
    g->to = *to;
    g->len = len;
    memcpy(g->data, data, len < sizeof g->data ? len : sizeof g->data);
    if (h->echo)
        sim_send(h->s, &h->addr, from, data, len);
    if (h->rearm)
        h->next = now + h->rearm;
}

static void h_timer(void *ctx, uint64_t now)
{
    host *h = ctx;
    h->calls++;
    if (h->nfired < 16)
        h->fired[h->nfired] = now;
    h->nfired++;
    h->next = UINT64_MAX;
    if (h->ticks > 0) {
        uint8_t msg[16] = {0};
        msg[0] = (uint8_t)(h->ticks >> 8);
        msg[1] = (uint8_t)h->ticks;
        sim_send(h->s, &h->addr, &h->peer, msg, sizeof msg);
        if (--h->ticks > 0)
            h->next = now + h->period;
    }
}

static uint64_t h_deadline(void *ctx)
{
    host *h = ctx;
    return h->spin ? 0 : h->next;
}

static const sim_node_ops host_ops = {h_recv, h_timer, h_deadline};

static host *host_new(sim *s, sim_addr addr)
{
    host *h = calloc(1, sizeof *h);
    assert_non_null(h);
    h->log = calloc(MAXREC, sizeof *h->log);
    assert_non_null(h->log);
    h->s = s;
    h->addr = addr;
    h->next = UINT64_MAX;
    return h;
}

static int host_add(host *h)
{
    return sim_add_node(h->s, &h->addr, &host_ops, h);
}

static void host_free(host *h)
{
    free(h->log);
    free(h);
}

static sim_link delay(uint32_t ms)
{
    sim_link l = {0};
    l.delay_ms = ms;
    return l;
}

/* A numbered datagram of `len` bytes (len >= 4). */
static void numbered(uint8_t *buf, size_t len, uint32_t i)
{
    for (size_t j = 0; j < len; j++)
        buf[j] = (uint8_t)(i * 7 + j * 13);
    buf[0] = (uint8_t)(i >> 24);
    buf[1] = (uint8_t)(i >> 16);
    buf[2] = (uint8_t)(i >> 8);
    buf[3] = (uint8_t)i;
}

static uint32_t number_of(const got *g)
{
    return (uint32_t)g->data[0] << 24 | (uint32_t)g->data[1] << 16 | (uint32_t)g->data[2] << 8 |
           g->data[3];
}

/* Two hosts, A and B, and nothing else. */
typedef struct pair {
    sim *s;
    host *a, *b;
} pair;

static pair pair_new(uint64_t seed, const sim_link *ab)
{
    pair p;
    p.s = sim_new(seed);
    assert_non_null(p.s);
    p.a = host_new(p.s, sim_addr_v4(10, 0, 0, 1, 1000));
    p.b = host_new(p.s, sim_addr_v4(10, 0, 0, 2, 2000));
    p.a->peer = p.b->addr;
    p.b->peer = p.a->addr;
    assert_int_equal(host_add(p.a), 0);
    assert_int_equal(host_add(p.b), 1);
    if (ab != NULL)
        assert_int_equal(sim_set_link(p.s, &p.a->addr, &p.b->addr, ab), 0);
    return p;
}

static void pair_free(pair *p)
{
    host_free(p->a);
    host_free(p->b);
    sim_free(p->s);
}

/* A sends `n` numbered datagrams of 32 bytes to B, all at the current time. */
static void burst(pair *p, uint32_t n)
{
    uint8_t buf[32];
    for (uint32_t i = 0; i < n; i++) {
        numbered(buf, sizeof buf, i);
        sim_send(p->s, &p->a->addr, &p->b->addr, buf, sizeof buf);
    }
}

/* ---- delay, ties, copies ---------------------------------------------- */

static void delay_is_exact(void **state)
{
    (void)state;
    sim_link ab = delay(25), dflt = delay(40);
    pair p = pair_new(1, &ab);
    sim_set_default_link(p.s, &dflt);
    p.b->echo = 1;
    assert_int_equal(sim_add_node(p.s, &p.a->addr, &host_ops, p.a), -1); /* address taken */
    burst(&p, 3);
    assert_int_equal(sim_run(p.s, 24, 100), 0);
    assert_int_equal(sim_now(p.s), 24);
    assert_int_equal(p.b->n, 0);
    /* A -> B uses the link set for the pair, B -> A the default. */
    assert_int_equal(sim_run(p.s, SIM_FOREVER, 100), 6);
    assert_int_equal(p.b->n, 3);
    assert_int_equal(p.a->n, 3);
    for (uint32_t i = 0; i < 3; i++) {
        assert_int_equal(p.b->log[i].at, 25);
        assert_int_equal(number_of(&p.b->log[i]), i); /* same time: send order */
        assert_true(sim_addr_eq(&p.b->log[i].from, &p.a->addr));
        assert_true(sim_addr_eq(&p.b->log[i].to, &p.b->addr));
        assert_int_equal(p.a->log[i].at, 65);
        assert_int_equal(number_of(&p.a->log[i]), i);
    }
    assert_int_equal(sim_now(p.s), 65);
    sim_stats_t st;
    sim_stats(p.s, &st);
    assert_int_equal(st.sent, 6);
    assert_int_equal(st.delivered, 6);
    /* Nobody at the address. */
    sim_addr nobody = sim_addr_v4(10, 0, 0, 9, 9);
    sim_send(p.s, &p.a->addr, &nobody, (const uint8_t *)"x", 1);
    assert_int_equal(sim_run(p.s, SIM_FOREVER, 100), 1);
    sim_stats(p.s, &st);
    assert_int_equal(st.dropped_noroute, 1);
    assert_int_equal(st.delivered, 6);
    pair_free(&p);
}

static void addresses(void **state)
{
    (void)state;
    sim_addr x = sim_addr_v4(192, 0, 2, 1, 0x1234), y = x;
    static const uint8_t want[6] = {192, 0, 2, 1, 0x12, 0x34};
    assert_int_equal(x.len, 6);
    assert_memory_equal(x.b, want, 6);
    assert_true(sim_addr_eq(&x, &y));
    y.len = 5; /* a prefix is another address */
    assert_false(sim_addr_eq(&x, &y));
    y = sim_addr_v4(192, 0, 2, 1, 0x1235);
    assert_false(sim_addr_eq(&x, &y));
}

static void copies_at_send(void **state)
{
    (void)state;
    sim_link ab = delay(5);
    pair p = pair_new(1, &ab);
    uint8_t buf[8] = "abcdefg";
    sim_send(p.s, &p.a->addr, &p.b->addr, buf, sizeof buf);
    memset(buf, 'z', sizeof buf); /* the sender reuses its buffer */
    sim_send(p.s, &p.a->addr, &p.b->addr, buf, 0);
    sim_send(p.s, &p.a->addr, &p.b->addr, buf, 1);
    buf[0] = 'y';
    sim_run(p.s, SIM_FOREVER, 100);
    assert_int_equal(p.b->n, 3);
    assert_int_equal(p.b->log[0].len, 8);
    assert_memory_equal(p.b->log[0].data, "abcdefg", 8);
    assert_int_equal(p.b->log[1].len, 0);
    assert_int_equal(p.b->log[2].len, 1);
    assert_int_equal(p.b->log[2].data[0], 'z');
    pair_free(&p);
}

/* ---- jitter and reordering -------------------------------------------- */

static void jitter_reorders_keeps_all(void **state)
{
    (void)state;
    sim_link ab = delay(10);
    ab.jitter_ms = 50;
    pair p = pair_new(7, &ab);
    uint8_t buf[32];
    for (uint32_t i = 0; i < 1000; i++) { /* datagram i leaves at time i */
        sim_run(p.s, i, SIM_FOREVER);
        numbered(buf, sizeof buf, i);
        sim_send(p.s, &p.a->addr, &p.b->addr, buf, sizeof buf);
    }
    sim_run(p.s, SIM_FOREVER, SIM_FOREVER);
    assert_int_equal(p.b->n, 1000);
    static uint8_t seen[1000];
    memset(seen, 0, sizeof seen);
    uint64_t lo = UINT64_MAX, hi = 0, inversions = 0;
    for (size_t k = 0; k < p.b->n; k++) {
        uint32_t i = number_of(&p.b->log[k]);
        assert_true(i < 1000);
        assert_int_equal(seen[i], 0);
        seen[i] = 1;
        uint64_t d = p.b->log[k].at - i;
        lo = d < lo ? d : lo;
        hi = d > hi ? d : hi;
        if (k > 0 && i < number_of(&p.b->log[k - 1]))
            inversions++;
        if (k > 0)
            assert_true(p.b->log[k].at >= p.b->log[k - 1].at); /* time never runs back */
    }
    assert_int_equal(lo, 10); /* jitter is uniform on [0, jitter_ms], both ends */
    assert_int_equal(hi, 60);
    assert_true(inversions > 100);
    pair_free(&p);
}

static void reorder_extra_delay(void **state)
{
    (void)state;
    sim_link ab = delay(10);
    ab.reorder = 0.25;
    ab.reorder_ms = 100;
    pair p = pair_new(3, &ab);
    burst(&p, 2000);
    sim_run(p.s, SIM_FOREVER, SIM_FOREVER);
    assert_int_equal(p.b->n, 2000);
    size_t late = 0, inversions = 0;
    for (size_t k = 0; k < p.b->n; k++) {
        assert_true(p.b->log[k].at == 10 || p.b->log[k].at == 110);
        late += p.b->log[k].at == 110;
        if (k > 0 && number_of(&p.b->log[k]) < number_of(&p.b->log[k - 1]))
            inversions++;
    }
    assert_in_range(late, 400, 600); /* 500 expected */
    assert_int_equal(inversions, 1); /* the late ones arrive after all the others */
    pair_free(&p);
}

/* ---- loss, duplication, corruption ------------------------------------ */

/* Lost datagram numbers out of 10000 as a bitmap; returns how many. */
static size_t lossy_run(uint64_t seed, double loss, uint8_t lost[10000])
{
    sim_link ab = delay(1);
    ab.loss = loss;
    pair p = pair_new(seed, &ab);
    burst(&p, 10000);
    sim_run(p.s, SIM_FOREVER, SIM_FOREVER);
    sim_stats_t st;
    sim_stats(p.s, &st);
    assert_int_equal(st.sent, 10000);
    assert_int_equal(st.delivered, p.b->n);
    assert_int_equal(st.delivered + st.dropped_loss, 10000);
    memset(lost, 1, 10000);
    for (size_t k = 0; k < p.b->n; k++)
        lost[number_of(&p.b->log[k])] = 0;
    size_t n = 10000 - p.b->n;
    pair_free(&p);
    return n;
}

static void loss_rate(void **state)
{
    (void)state;
    static uint8_t l1[10000], l2[10000], l3[10000];
    size_t n1 = lossy_run(11, 0.1, l1);
    assert_in_range(n1, 880, 1120); /* 1000 expected, sd 30 */
    assert_int_equal(lossy_run(11, 0.1, l2), n1);
    assert_memory_equal(l1, l2, sizeof l1); /* the same datagrams */
    lossy_run(12, 0.1, l3);
    assert_memory_not_equal(l1, l3, sizeof l1);
    assert_in_range(lossy_run(11, 0.5, l3), 4800, 5200);
    assert_int_equal(lossy_run(11, 0.0, l3), 0);
    assert_int_equal(lossy_run(11, 1.0, l3), 10000);
}

static void duplication(void **state)
{
    (void)state;
    sim_link ab = delay(3);
    ab.dup = 1.0;
    pair p = pair_new(5, &ab);
    burst(&p, 500);
    sim_run(p.s, SIM_FOREVER, SIM_FOREVER);
    assert_int_equal(p.b->n, 1000);
    static unsigned count[500];
    memset(count, 0, sizeof count);
    for (size_t k = 0; k < p.b->n; k++)
        count[number_of(&p.b->log[k])]++;
    for (size_t i = 0; i < 500; i++)
        assert_int_equal(count[i], 2);
    sim_stats_t st;
    sim_stats(p.s, &st);
    assert_int_equal(st.duplicated, 500);
    assert_int_equal(st.delivered, 1000);
    pair_free(&p);

    ab.dup = 0.3;
    p = pair_new(5, &ab);
    burst(&p, 2000);
    sim_run(p.s, SIM_FOREVER, SIM_FOREVER);
    sim_stats(p.s, &st);
    assert_in_range(st.duplicated, 500, 700); /* 600 expected */
    assert_int_equal(p.b->n, 2000 + st.duplicated);
    pair_free(&p);
}

static void corruption_flips_one_bit(void **state)
{
    (void)state;
    sim_link ab = delay(1);
    ab.corrupt = 1.0;
    pair p = pair_new(9, &ab);
    burst(&p, 1000);
    sim_run(p.s, SIM_FOREVER, SIM_FOREVER);
    assert_int_equal(p.b->n, 1000);
    unsigned first_byte = 0, last_byte = 0;
    for (size_t k = 0; k < p.b->n; k++) {
        /* Same delay, same instant: arrival k is datagram k (stable ties). */
        uint8_t orig[32];
        numbered(orig, sizeof orig, (uint32_t)k);
        unsigned bits = 0, where = 0;
        for (size_t j = 0; j < 32; j++) {
            if (orig[j] != p.b->log[k].data[j])
                where = (unsigned)j;
            bits += (unsigned)__builtin_popcount(orig[j] ^ p.b->log[k].data[j]);
        }
        assert_int_equal(bits, 1);
        first_byte += where == 0;
        last_byte += where == 31;
    }
    assert_true(first_byte > 0 && last_byte > 0); /* every position can be hit */
    sim_stats_t st;
    sim_stats(p.s, &st);
    assert_int_equal(st.corrupted, 1000);
    pair_free(&p);

    ab.corrupt = 0;
    p = pair_new(9, &ab);
    burst(&p, 10);
    sim_run(p.s, SIM_FOREVER, SIM_FOREVER);
    for (size_t k = 0; k < p.b->n; k++) {
        uint8_t orig[32];
        numbered(orig, sizeof orig, (uint32_t)k);
        assert_memory_equal(p.b->log[k].data, orig, 32);
    }
    pair_free(&p);
}

/* ---- blackout, mtu, caps ---------------------------------------------- */

static void blackout_window(void **state)
{
    (void)state;
    sim_link ab = delay(2);
    ab.down_from_ms = 100;
    ab.down_until_ms = 200;
    pair p = pair_new(1, &ab);
    uint8_t buf[32];
    for (uint32_t i = 0; i < 300; i++) {
        sim_run(p.s, i, SIM_FOREVER);
        numbered(buf, sizeof buf, i);
        sim_send(p.s, &p.a->addr, &p.b->addr, buf, sizeof buf);
        sim_send(p.s, &p.b->addr, &p.a->addr, buf, sizeof buf); /* the other way is up */
    }
    sim_run(p.s, SIM_FOREVER, SIM_FOREVER);
    assert_int_equal(p.b->n, 200);
    assert_int_equal(p.a->n, 300);
    for (size_t k = 0; k < p.b->n; k++) {
        uint32_t i = number_of(&p.b->log[k]);
        assert_int_equal(i, k < 100 ? k : k + 100);
    }
    sim_stats_t st;
    sim_stats(p.s, &st);
    assert_int_equal(st.dropped_blackout, 100);
    pair_free(&p);
}

static void mtu_and_size_cap(void **state)
{
    (void)state;
    sim_link ab = delay(1);
    ab.mtu = 1200;
    pair p = pair_new(1, &ab);
    uint8_t *big = calloc(1, SIM_MAX_DGRAM + 1);
    assert_non_null(big);
    sim_send(p.s, &p.a->addr, &p.b->addr, big, 1200);
    sim_send(p.s, &p.a->addr, &p.b->addr, big, 1201);
    sim_send(p.s, &p.b->addr, &p.a->addr, big, SIM_MAX_DGRAM); /* default: no mtu */
    sim_send(p.s, &p.b->addr, &p.a->addr, big, SIM_MAX_DGRAM + 1);
    sim_run(p.s, SIM_FOREVER, SIM_FOREVER);
    assert_int_equal(p.b->n, 1);
    assert_int_equal(p.b->log[0].len, 1200);
    assert_int_equal(p.a->n, 1);
    assert_int_equal(p.a->log[0].len, SIM_MAX_DGRAM);
    sim_stats_t st;
    sim_stats(p.s, &st);
    assert_int_equal(st.dropped_mtu, 1);
    assert_int_equal(st.refused, 1);
    free(big);
    pair_free(&p);
}

static void events_in_flight_capped(void **state)
{
    (void)state;
    sim_link ab = delay(1);
    pair p = pair_new(1, &ab);
    burst(&p, SIM_MAX_EVENTS + 10);
    sim_stats_t st;
    sim_stats(p.s, &st);
    assert_int_equal(st.refused, 10);
    assert_int_equal(sim_run(p.s, SIM_FOREVER, SIM_FOREVER), SIM_MAX_EVENTS);
    assert_int_equal(p.b->n, SIM_MAX_EVENTS);
    burst(&p, 1); /* room again */
    assert_int_equal(sim_run(p.s, SIM_FOREVER, SIM_FOREVER), 1);
    pair_free(&p);
}

/* ---- NAT ---------------------------------------------------------------- */

typedef struct natnet {
    sim *s;
    host *h, *p, *q, *r; /* h behind the NAT; p its peer; q p's neighbour port; r elsewhere */
    sim_addr out1, out2;
} natnet;

static natnet natnet_new(int endpoint_independent)
{
    natnet n;
    n.s = sim_new(1);
    assert_non_null(n.s);
    n.h = host_new(n.s, sim_addr_v4(10, 0, 0, 2, 5000));
    n.p = host_new(n.s, sim_addr_v4(198, 51, 100, 7, 9000));
    n.q = host_new(n.s, sim_addr_v4(198, 51, 100, 7, 9001));
    n.r = host_new(n.s, sim_addr_v4(192, 0, 2, 9, 9000));
    n.out1 = sim_addr_v4(203, 0, 113, 1, 40000);
    n.out2 = sim_addr_v4(203, 0, 113, 1, 40001);
    host_add(n.h);
    host_add(n.p);
    host_add(n.q);
    host_add(n.r);
    assert_int_equal(sim_add_nat(n.s, &n.h->addr, &n.out1, endpoint_independent), 0);
    assert_int_equal(sim_add_nat(n.s, &n.h->addr, &n.out2, endpoint_independent), -1);
    sim_link l = delay(7);
    sim_set_link(n.s, &n.p->addr, &n.h->addr, &l); /* by host, not by binding */
    return n;
}

static void natnet_free(natnet *n)
{
    host_free(n->h);
    host_free(n->p);
    host_free(n->q);
    host_free(n->r);
    sim_free(n->s);
}

static void say(natnet *n, host *from, const sim_addr *to)
{
    sim_send(n->s, &from->addr, to, (const uint8_t *)"hi", 2);
    sim_run(n->s, SIM_FOREVER, 100);
}

static void nat_port_restricted(void **state)
{
    (void)state;
    natnet n = natnet_new(0);
    sim_stats_t st;
    say(&n, n.p, &n.out1);    /* no mapping yet */
    say(&n, n.p, &n.h->addr); /* inside addresses are not routed */
    assert_int_equal(n.h->n, 0);
    sim_stats(n.s, &st);
    assert_int_equal(st.dropped_nat, 2);

    say(&n, n.h, &n.p->addr);
    assert_int_equal(n.p->n, 1);
    assert_true(sim_addr_eq(&n.p->log[0].from, &n.out1)); /* the peer sees the outside */
    uint64_t t = sim_now(n.s);
    say(&n, n.p, &n.out1); /* the reply gets in */
    assert_int_equal(n.h->n, 1);
    assert_true(sim_addr_eq(&n.h->log[0].from, &n.p->addr));
    assert_true(sim_addr_eq(&n.h->log[0].to, &n.h->addr));
    assert_int_equal(n.h->log[0].at, t + 7);

    say(&n, n.q, &n.out1); /* same address, other port */
    say(&n, n.r, &n.out1);
    assert_int_equal(n.h->n, 1);
    sim_stats(n.s, &st);
    assert_int_equal(st.dropped_nat, 4);
    say(&n, n.h, &n.r->addr); /* now r may answer, q still not */
    say(&n, n.r, &n.out1);
    say(&n, n.q, &n.out1);
    assert_int_equal(n.h->n, 2);
    assert_true(sim_addr_eq(&n.h->log[1].from, &n.r->addr));
    sim_stats(n.s, &st);
    assert_int_equal(st.dropped_nat, 5);
    natnet_free(&n);
}

static void nat_full_cone(void **state)
{
    (void)state;
    natnet n = natnet_new(1);
    say(&n, n.q, &n.out1); /* no mapping yet */
    assert_int_equal(n.h->n, 0);
    say(&n, n.h, &n.p->addr);
    say(&n, n.q, &n.out1);
    say(&n, n.r, &n.out1);
    say(&n, n.p, &n.out1);
    assert_int_equal(n.h->n, 3);
    assert_true(sim_addr_eq(&n.h->log[0].from, &n.q->addr));
    assert_true(sim_addr_eq(&n.h->log[1].from, &n.r->addr));
    sim_stats_t st;
    sim_stats(n.s, &st);
    assert_int_equal(st.dropped_nat, 1);
    natnet_free(&n);
}

static void nat_rebinding(void **state)
{
    (void)state;
    natnet n = natnet_new(0);
    say(&n, n.h, &n.p->addr);
    assert_true(sim_addr_eq(&n.p->log[0].from, &n.out1));
    sim_addr elsewhere = sim_addr_v4(10, 0, 0, 3, 5000);
    assert_int_equal(sim_nat_rebind(n.s, &elsewhere, &n.out2), -1);
    assert_int_equal(sim_nat_rebind(n.s, &n.h->addr, &n.out2), 0);
    say(&n, n.p, &n.out1); /* the old binding is gone */
    say(&n, n.p, &n.out2); /* the new one has not sent to p yet */
    assert_int_equal(n.h->n, 0);
    sim_stats_t st;
    sim_stats(n.s, &st);
    assert_int_equal(st.dropped_noroute, 1);
    assert_int_equal(st.dropped_nat, 1);

    say(&n, n.h, &n.p->addr);
    assert_int_equal(n.p->n, 2);
    assert_true(sim_addr_eq(&n.p->log[1].from, &n.out2)); /* the peer sees the change */
    uint64_t t = sim_now(n.s);
    say(&n, n.p, &n.out2);
    assert_int_equal(n.h->n, 1);
    assert_int_equal(n.h->log[0].at, t + 7); /* the same link as before */
    natnet_free(&n);
}

/* ---- timers and the guards -------------------------------------------- */

static void timers(void **state)
{
    (void)state;
    sim_link ab = delay(4);
    pair p = pair_new(1, &ab);
    p.a->period = 100;
    p.a->ticks = 5;
    p.a->next = 100;
    sim_kick(p.s, 0);
    assert_int_equal(sim_run(p.s, SIM_FOREVER, 100), 10); /* 5 timers, 5 deliveries */
    assert_int_equal(p.a->nfired, 5);
    for (size_t i = 0; i < 5; i++) {
        assert_int_equal(p.a->fired[i], 100 * (i + 1));
        assert_int_equal(p.b->log[i].at, 100 * (i + 1) + 4);
    }
    sim_stats_t st;
    sim_stats(p.s, &st);
    assert_int_equal(st.timers, 5);

    /* A receive moves the deadline earlier: the old one is replaced. */
    p.b->next = 10000;
    p.b->rearm = 5;
    sim_kick(p.s, 1);
    sim_send(p.s, &p.a->addr, &p.b->addr, (const uint8_t *)"x", 1); /* at 504 */
    sim_run(p.s, SIM_FOREVER, 100);
    assert_int_equal(p.b->nfired, 1);
    assert_int_equal(p.b->fired[0], 504 + 4 + 5);

    /* A deadline in the past fires now. */
    sim_run(p.s, 600, 100);
    p.b->rearm = 0;
    p.b->next = 10;
    sim_kick(p.s, 1);
    assert_int_equal(sim_run(p.s, SIM_FOREVER, 100), 1);
    assert_int_equal(p.b->fired[1], 600);
    pair_free(&p);
}

static void max_events_guard(void **state)
{
    (void)state;
    /* An engine whose deadline is always in the past. */
    pair p = pair_new(1, NULL);
    p.a->spin = 1;
    sim_kick(p.s, 0);
    assert_int_equal(sim_run(p.s, SIM_FOREVER, 1000), 1000);
    assert_int_equal(p.a->calls, 1000);
    assert_int_equal(sim_now(p.s), 0);
    pair_free(&p);

    /* Two echoes at zero delay: endless ping-pong at one instant. */
    p = pair_new(1, NULL);
    p.a->echo = p.b->echo = 1;
    sim_send(p.s, &p.a->addr, &p.b->addr, (const uint8_t *)"ping", 4);
    assert_int_equal(sim_run(p.s, SIM_FOREVER, 5000), 5000);
    assert_int_equal(p.a->n + p.b->n, 5000);
    assert_int_equal(sim_now(p.s), 0);
    pair_free(&p);

    /* With 1 ms each way, until_ms bounds it instead. */
    sim_link one = delay(1);
    p = pair_new(1, &one);
    sim_set_default_link(p.s, &one);
    p.a->echo = p.b->echo = 1;
    sim_send(p.s, &p.a->addr, &p.b->addr, (const uint8_t *)"ping", 4);
    assert_int_equal(sim_run(p.s, 100, SIM_FOREVER), 100);
    assert_int_equal(sim_now(p.s), 100);
    pair_free(&p);
}

/* ---- capture and determinism ------------------------------------------ */

typedef struct trace {
    uint8_t *buf;
    size_t len, cap;
    unsigned calls;
} trace;

static void put(trace *t, const void *p, size_t n)
{
    assert_true(t->len + n <= t->cap);
    memcpy(t->buf + t->len, p, n);
    t->len += n;
}

static int record(void *ctx, uint64_t now, const sim_addr *from, const sim_addr *to, uint8_t *data,
                  size_t len)
{
    trace *t = ctx;
    t->calls++;
    put(t, &now, sizeof now);
    put(t, from, sizeof *from);
    put(t, to, sizeof *to);
    put(t, &len, sizeof len);
    put(t, data, len);
    return 0;
}

static int tamper(void *ctx, uint64_t now, const sim_addr *from, const sim_addr *to, uint8_t *data,
                  size_t len)
{
    trace *t = ctx;
    if (t->calls++ == 0) {
        data[0] ^= 0xff;
        return 0;
    }
    return 1;
}

static void capture_hook(void **state)
{
    (void)state;
    trace t = {0};
    pair p = pair_new(1, NULL);
    sim_set_capture(p.s, tamper, &t);
    sim_send(p.s, &p.a->addr, &p.b->addr, (const uint8_t *)"ab", 2);
    sim_send(p.s, &p.a->addr, &p.b->addr, (const uint8_t *)"cd", 2);
    sim_run(p.s, SIM_FOREVER, 100);
    assert_int_equal(t.calls, 2);
    assert_int_equal(p.b->n, 1);
    assert_int_equal(p.b->log[0].data[0], 'a' ^ 0xff);
    sim_stats_t st;
    sim_stats(p.s, &st);
    assert_int_equal(st.dropped_capture, 1);
    assert_int_equal(st.delivered, 1);
    pair_free(&p);
}

/* A ticks every 10 ms to B, B echoes, over a link that does everything. */
static void scenario(uint64_t seed, trace *t)
{
    sim_link l = delay(20);
    l.jitter_ms = 30;
    l.loss = 0.1;
    l.dup = 0.1;
    l.corrupt = 0.1;
    l.reorder = 0.1;
    l.reorder_ms = 50;
    pair p = pair_new(seed, NULL);
    sim_set_default_link(p.s, &l);
    sim_set_capture(p.s, record, t);
    p.b->echo = 1;
    p.a->period = 10;
    p.a->ticks = 500;
    p.a->next = 0;
    sim_kick(p.s, 0);
    sim_run(p.s, SIM_FOREVER, 100000);
    assert_true(p.a->n > 300);
    pair_free(&p);
}

static void determinism(void **state)
{
    (void)state;
    trace t1 = {calloc(1, 1 << 20), 0, 1 << 20, 0};
    trace t2 = {calloc(1, 1 << 20), 0, 1 << 20, 0};
    trace t3 = {calloc(1, 1 << 20), 0, 1 << 20, 0};
    assert_non_null(t1.buf);
    assert_non_null(t2.buf);
    assert_non_null(t3.buf);
    scenario(42, &t1);
    scenario(42, &t2);
    scenario(43, &t3);
    assert_true(t1.calls > 800);
    assert_int_equal(t1.len, t2.len);
    assert_memory_equal(t1.buf, t2.buf, t1.len);
    assert_true(t1.len != t3.len ||
                memcmp(t1.buf, t3.buf, t1.len) != 0); /* another seed, another trace */
    free(t1.buf);
    free(t2.buf);
    free(t3.buf);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(addresses),
        cmocka_unit_test(delay_is_exact),
        cmocka_unit_test(copies_at_send),
        cmocka_unit_test(jitter_reorders_keeps_all),
        cmocka_unit_test(reorder_extra_delay),
        cmocka_unit_test(loss_rate),
        cmocka_unit_test(duplication),
        cmocka_unit_test(corruption_flips_one_bit),
        cmocka_unit_test(blackout_window),
        cmocka_unit_test(mtu_and_size_cap),
        cmocka_unit_test(events_in_flight_capped),
        cmocka_unit_test(nat_port_restricted),
        cmocka_unit_test(nat_full_cone),
        cmocka_unit_test(nat_rebinding),
        cmocka_unit_test(timers),
        cmocka_unit_test(max_events_guard),
        cmocka_unit_test(capture_hook),
        cmocka_unit_test(determinism),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
