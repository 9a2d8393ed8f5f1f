/*
 * test_dgram_engine.c - the datagram handshake engine (src/dgram/engine.c)
 * driven in memory: two engines, a virtual clock, datagrams moved by the
 * test (with seeded loss where asked). What it shows:
 *   - HELLO -> COOKIE -> INITIATE -> ACCEPT with early data and a reply,
 *     then DATA both ways;
 *   - an untrusted initiator gets nothing; a wrong fingerprint gets nothing;
 *   - a replayed INITIATE makes no second connection; one from another
 *     address, with a stale or reused cookie, or without the work asked is
 *     dropped before any public-key operation (counted);
 *   - every bit flipped in COOKIE, INITIATE or ACCEPT (and in HELLO's
 *     fields) fails cleanly: nothing false is ever established;
 *   - 50 handshakes under 30% loss both ways all complete;
 *   - both sides saying HELLO at once settle into one connection;
 *   - max_conns: a full initiator refuses to connect, a full responder
 *     refuses the INITIATE with an authenticated ACCEPT;
 *   - 150 connections between two engines: each packet finds its own,
 *     every connection's timers fire.
 */
#include "testutil.h"

#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dgram/engine.h"
#include "peerlink.h"

#define T0 UINT64_C(1000000)

typedef struct node {
    pl_identity *id;
    pl_trust *trust;
    pl_fingerprint fp;
    pl_dg_engine *e;
    pl_dg_addr addr;
    uint64_t rnd;
} node;

static int det_random(void *user, uint8_t *out, size_t len)
{
    uint64_t *s = user;
    for (size_t i = 0; i < len; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        out[i] = (uint8_t)(*s >> 56);
    }
    return 0;
}

static void node_init_max(node *n, uint8_t tag, uint8_t host, size_t max_conns)
{
    uint8_t seed[32];
    memset(n, 0, sizeof *n);
    memset(seed, tag, sizeof seed);
    assert_int_equal(pl_identity_from_seed(&n->id, seed), PL_OK);
    pl_identity_fingerprint(n->id, &n->fp);
    assert_int_equal(pl_trust_new(&n->trust), PL_OK);
    n->rnd = tag * 7919u + 1;
    pl_dg_config cfg = {0};
    cfg.id = n->id;
    cfg.trust = n->trust;
    cfg.random = det_random;
    cfg.random_user = &n->rnd;
    cfg.now_s = 1800000000;
    cfg.used_cookies_max = 256; /* small tables: thousands of engines are made here */
    cfg.max_conns = max_conns;
    assert_int_equal(pl_dg_new(&n->e, &cfg), PL_OK);
    n->addr.len = 6;
    n->addr.b[0] = 10;
    n->addr.b[3] = host;
    n->addr.b[4] = 0x1b;
    n->addr.b[5] = 0x58;
}

static void node_init(node *n, uint8_t tag, uint8_t host)
{
    node_init_max(n, tag, host, 0);
}

static void node_free(node *n)
{
    pl_dg_free(n->e);
    pl_trust_free(n->trust);
    pl_identity_free(n->id);
}

static void allow(node *n, const node *peer)
{
    const char *why = NULL;
    assert_int_equal(pl_trust_set(n->trust, PL_TRUST_ALLOW, &peer->fp, NULL, NULL, 0, &why), PL_OK);
}

/* ---- moving datagrams --------------------------------------------------- */

typedef struct net {
    node *n[2];
    uint64_t now;
    uint32_t loss_pct;
    uint64_t rng;
    /* a hook may change or drop a datagram: return false to drop */
    bool (*hook)(void *user, int from, uint8_t *pkt, size_t *len);
    void *hook_user;
    unsigned moved;
} net;

static uint32_t rnd100(net *t)
{
    t->rng = t->rng * 6364136223846793005ULL + 1442695040888963407ULL;
    return (uint32_t)((t->rng >> 33) % 100);
}

static int index_of(net *t, const pl_dg_addr *a)
{
    for (int i = 0; i < 2; i++)
        if (t->n[i]->addr.len == a->len && memcmp(t->n[i]->addr.b, a->b, a->len) == 0)
            return i;
    return -1;
}

/* One round: every queued datagram is delivered (or lost). */
static unsigned flush(net *t)
{
    static uint8_t buf[2048];
    unsigned moved = 0;
    for (int i = 0; i < 2; i++) {
        pl_dg_addr to;
        int n;
        while ((n = pl_dg_output(t->n[i]->e, &to, buf, sizeof buf)) > 0) {
            size_t len = (size_t)n;
            moved++;
            t->moved++;
            if (t->loss_pct && rnd100(t) < t->loss_pct)
                continue;
            if (t->hook && !t->hook(t->hook_user, i, buf, &len))
                continue;
            int j = index_of(t, &to);
            if (j >= 0)
                pl_dg_input(t->n[j]->e, t->now, &t->n[i]->addr, buf, len);
        }
    }
    return moved;
}

/* Run until quiet or until `until`, firing timers in virtual time. */
static void run(net *t, uint64_t until)
{
    for (int guard = 0; guard < 100000; guard++) {
        if (flush(t))
            continue;
        uint64_t d = UINT64_MAX;
        for (int i = 0; i < 2; i++) {
            uint64_t x = pl_dg_deadline(t->n[i]->e);
            if (x < d)
                d = x;
        }
        if (d == UINT64_MAX || d > until)
            return;
        t->now = d > t->now ? d : t->now;
        for (int i = 0; i < 2; i++)
            pl_dg_timer(t->n[i]->e, t->now);
    }
    fail_msg("the engines kept talking");
}

typedef struct seen {
    int established, failed, data;
    pl_dg_conn *conn;
    int err;
    size_t len;
    uint8_t last[PL_DG_PACKET_MAX];
} seen;

static void drain(node *n, seen *s)
{
    pl_dg_event ev;
    while (pl_dg_event_next(n->e, &ev)) {
        switch (ev.kind) {
        case PL_DG_EV_ESTABLISHED:
            s->established++;
            s->conn = ev.conn;
            break;
        case PL_DG_EV_FAILED:
            s->failed++;
            s->err = ev.err;
            break;
        case PL_DG_EV_DATA: s->data++; break;
        default: break;
        }
        s->len = ev.len;
        memcpy(s->last, ev.data, ev.len);
    }
}

static void net_init(net *t, node *a, node *b)
{
    memset(t, 0, sizeof *t);
    t->n[0] = a;
    t->n[1] = b;
    t->now = T0;
    t->rng = 42;
}

/* ---- tests --------------------------------------------------------------- */

static void handshake_and_data(void **state)
{
    (void)state;
    node a, b;
    net t;
    seen sa = {0}, sb = {0};
    node_init(&a, 1, 1);
    node_init(&b, 2, 2);
    allow(&b, &a);
    net_init(&t, &a, &b);
    pl_dg_set_reply(b.e, (const uint8_t *)"welcome", 7);
    pl_dg_conn *c = NULL;
    assert_int_equal(
        pl_dg_connect(a.e, t.now, &b.addr, &b.fp, (const uint8_t *)"hi bob", 6, false, &c), PL_OK);
    run(&t, t.now + 5000);
    drain(&a, &sa);
    drain(&b, &sb);
    assert_int_equal(sa.established, 1);
    assert_int_equal(sb.established, 1);
    assert_ptr_equal(sa.conn, c);
    assert_int_equal(sa.len, 7);
    assert_memory_equal(sa.last, "welcome", 7);
    assert_int_equal(sb.len, 6);
    assert_memory_equal(sb.last, "hi bob", 6);
    pl_fingerprint fp;
    assert_int_equal(pl_dg_conn_peer(sb.conn, &fp), PL_OK);
    assert_true(pl_fingerprint_equal(&fp, &a.fp));
    assert_true(pl_dg_conn_initiator(c));
    assert_false(pl_dg_conn_initiator(sb.conn));
    pl_dg_conn *bconn = sb.conn;
    /* data both ways, several packets */
    for (int i = 0; i < 5; i++) {
        char msg[32];
        int n = snprintf(msg, sizeof msg, "packet %d", i);
        assert_int_equal(pl_dg_send(c, (const uint8_t *)msg, (size_t)n), PL_OK);
        assert_int_equal(pl_dg_send(bconn, (const uint8_t *)msg, (size_t)n), PL_OK);
    }
    run(&t, t.now + 1000);
    memset(&sa, 0, sizeof sa);
    memset(&sb, 0, sizeof sb);
    drain(&a, &sa);
    drain(&b, &sb);
    assert_int_equal(sa.data, 5);
    assert_int_equal(sb.data, 5);
    assert_memory_equal(sb.last, "packet 4", 8);
    /* closed on b: a's next DATA finds no connection there */
    pl_dg_conn_close(bconn);
    pl_dg_stats st0;
    pl_dg_stats_get(b.e, &st0);
    assert_int_equal(pl_dg_send(c, (const uint8_t *)"late", 4), PL_OK);
    run(&t, t.now + 1000);
    memset(&sb, 0, sizeof sb);
    drain(&b, &sb);
    assert_int_equal(sb.data, 0);
    pl_dg_stats st1;
    pl_dg_stats_get(b.e, &st1);
    assert_true(st1.rx_dropped > st0.rx_dropped); /* (and its probes after it) */
    pl_dg_conn_close(NULL);                       /* harmless */
    /* the handshake sizes: a COOKIE is far smaller than the HELLO */
    pl_dg_stats st;
    pl_dg_stats_get(b.e, &st);
    assert_int_equal(st.established, 1);
    assert_int_equal(st.cookies_sent, 1);
    assert_int_equal(st.pk_ops, 4);
    node_free(&a);
    node_free(&b);
}

static void untrusted_gets_nothing(void **state)
{
    (void)state;
    node a, b;
    net t;
    seen sa = {0}, sb = {0};
    node_init(&a, 1, 1);
    node_init(&b, 2, 2); /* b does not list a */
    net_init(&t, &a, &b);
    pl_dg_conn *c = NULL;
    assert_int_equal(pl_dg_connect(a.e, t.now, &b.addr, &b.fp, NULL, 0, false, &c), PL_OK);
    run(&t, t.now + PL_DG_HANDSHAKE_MS + 1000);
    drain(&a, &sa);
    drain(&b, &sb);
    assert_int_equal(sb.established, 0);
    assert_true(t.now - T0 < PL_DG_RETRY_MS); /* no retransmission was needed */
    assert_int_equal(sa.established, 0);
    assert_int_equal(sa.failed, 1);
    assert_int_equal(sa.err, PL_ERR_REFUSED); /* told, not left to time out */
    pl_dg_stats st;
    pl_dg_stats_get(b.e, &st);
    assert_int_equal(st.untrusted, 1);
    assert_int_equal(st.refusals, 1);
    assert_int_equal(st.established, 0);
    node_free(&a);
    node_free(&b);
}

/* Dialling b's address expecting another key: b's HELLO hint does not match
 * and nobody answers; a COOKIE from b would not match the fingerprint. */
static void wrong_fingerprint(void **state)
{
    (void)state;
    node a, b, c;
    net t;
    seen sa = {0};
    node_init(&a, 1, 1);
    node_init(&b, 2, 2);
    node_init(&c, 3, 3);
    allow(&b, &a);
    net_init(&t, &a, &b);
    pl_dg_conn *conn = NULL;
    assert_int_equal(pl_dg_connect(a.e, t.now, &b.addr, &c.fp, NULL, 0, false, &conn), PL_OK);
    run(&t, t.now + PL_DG_HANDSHAKE_MS + 1000);
    drain(&a, &sa);
    assert_int_equal(sa.established, 0);
    assert_int_equal(sa.failed, 1);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

/* Capture the handshake's packets by type. */
typedef struct capture {
    uint8_t pkt[8][2048];
    size_t len[8];
} capture;

static bool capture_hook(void *user, int from, uint8_t *pkt, size_t *len)
{
    capture *cap = user;
    (void)from;
    if (pkt[0] < 8 && cap->len[pkt[0]] == 0) {
        memcpy(cap->pkt[pkt[0]], pkt, *len);
        cap->len[pkt[0]] = *len;
    }
    return true;
}

static void replays_and_cheap_drops(void **state)
{
    (void)state;
    node a, b;
    net t;
    capture cap;
    seen sb = {0};
    memset(&cap, 0, sizeof cap);
    node_init(&a, 1, 1);
    node_init(&b, 2, 2);
    allow(&b, &a);
    net_init(&t, &a, &b);
    t.hook = capture_hook;
    t.hook_user = &cap;
    pl_dg_conn *c = NULL;
    assert_int_equal(pl_dg_connect(a.e, t.now, &b.addr, &b.fp, NULL, 0, false, &c), PL_OK);
    run(&t, t.now + 5000);
    drain(&b, &sb);
    assert_int_equal(sb.established, 1);
    assert_true(cap.len[3] > 0); /* INITIATE */
    pl_dg_stats before, after;
    pl_dg_stats_get(b.e, &before);
    /* the same INITIATE again: the same ACCEPT again, no new connection */
    pl_dg_input(b.e, t.now, &a.addr, cap.pkt[3], cap.len[3]);
    pl_dg_stats_get(b.e, &after);
    assert_int_equal(after.established, 1);
    assert_int_equal(after.resent_accepts, before.resent_accepts + 1);
    assert_int_equal(after.pk_ops, before.pk_ops);
    /* from another address: the cookie is bound to a's */
    pl_dg_addr other = a.addr;
    other.b[3] = 99;
    pl_dg_input(b.e, t.now, &other, cap.pkt[3], cap.len[3]);
    pl_dg_stats_get(b.e, &after);
    assert_int_equal(after.bad_cookie, before.bad_cookie + 1);
    assert_int_equal(after.pk_ops, before.pk_ops);
    /* the same icid with other content: not the INITIATE that made the
     * connection, dropped; another icid: the cookie does not bind it */
    uint8_t tweak[2048];
    memcpy(tweak, cap.pkt[3], cap.len[3]);
    tweak[cap.len[3] - 1] ^= 1;
    pl_dg_input(b.e, t.now, &a.addr, tweak, cap.len[3]);
    tweak[2] ^= 0x40;
    pl_dg_input(b.e, t.now, &a.addr, tweak, cap.len[3]);
    pl_dg_stats_get(b.e, &after);
    assert_int_equal(after.bad_cookie, before.bad_cookie + 2);
    assert_int_equal(after.pk_ops, before.pk_ops);
    assert_int_equal(after.established, 1);
    /* later than two cookie epochs: stale, refused before any hash */
    pl_dg_input(b.e, t.now + 3 * 120 * 1000, &other, tweak, cap.len[3]);
    pl_dg_stats_get(b.e, &after);
    assert_int_equal(after.stale_cookie, before.stale_cookie + 1);
    assert_int_equal(after.pk_ops, before.pk_ops);
    node_free(&a);
    node_free(&b);
}

/* A cookie is good for one INITIATE: once one that passed the work was
 * tried (here, one damaged in its Noise part), the genuine one that follows
 * is refused as reused, before any public-key operation. */
static void cookie_used_once(void **state)
{
    (void)state;
    node a, b;
    net t;
    node_init(&a, 1, 1);
    node_init(&b, 2, 2);
    allow(&b, &a);
    net_init(&t, &a, &b);
    pl_dg_conn *c = NULL;
    assert_int_equal(pl_dg_connect(a.e, t.now, &b.addr, &b.fp, NULL, 0, false, &c), PL_OK);
    flush(&t); /* HELLO -> b, COOKIE -> a; a queues INITIATE */
    static uint8_t ini[2048], bad[2048];
    pl_dg_addr to;
    int n = pl_dg_output(a.e, &to, ini, sizeof ini);
    assert_true(n > 0 && ini[0] == 3);
    memcpy(bad, ini, (size_t)n);
    bad[n - 1] ^= 1;
    pl_dg_stats before, after;
    pl_dg_stats_get(b.e, &before);
    pl_dg_input(b.e, t.now, &a.addr, bad, (size_t)n);
    pl_dg_stats_get(b.e, &after);
    assert_int_equal(after.pk_ops, before.pk_ops + 2); /* it got as far as the DH */
    assert_int_equal(after.established, 0);
    pl_dg_input(b.e, t.now, &a.addr, ini, (size_t)n);
    pl_dg_stats_get(b.e, &after);
    assert_int_equal(after.reused_cookie, before.reused_cookie + 1);
    assert_int_equal(after.pk_ops, before.pk_ops + 2);
    assert_int_equal(after.established, 0);
    /* a starts again with a new cookie and gets through */
    run(&t, t.now + PL_DG_HANDSHAKE_MS);
    pl_dg_stats_get(b.e, &after);
    assert_int_equal(after.established, 1);
    node_free(&a);
    node_free(&b);
}

/* b asks for work; an INITIATE whose nonce does not do it is dropped before
 * any public-key operation; a lowered difficulty breaks the cookie. */
static void proof_of_work_asked(void **state)
{
    (void)state;
    node a, b;
    net t;
    capture cap;
    seen sa = {0}, sb = {0};
    memset(&cap, 0, sizeof cap);
    node_init(&a, 1, 1);
    node_init(&b, 2, 2);
    allow(&b, &a);
    pl_dg_force_difficulty(b.e, 12);
    net_init(&t, &a, &b);
    t.hook = capture_hook;
    t.hook_user = &cap;
    pl_dg_conn *c = NULL;
    assert_int_equal(pl_dg_connect(a.e, t.now, &b.addr, &b.fp, NULL, 0, false, &c), PL_OK);
    run(&t, t.now + 5000);
    drain(&a, &sa);
    drain(&b, &sb);
    assert_int_equal(sa.established, 1); /* a did the work */
    assert_int_equal(cap.pkt[2][1 + 1 + 8 + 32 + 32 + 8 + 64], 12);
    /* the INITIATE with another nonce (and a fresh icid so it is new) */
    node b2;
    node_init(&b2, 2, 2);
    allow(&b2, &a);
    pl_dg_force_difficulty(b2.e, 12);
    /* b2 has other cookie secrets: use a's exchange with b2 instead */
    net t2;
    capture cap2;
    memset(&cap2, 0, sizeof cap2);
    net_init(&t2, &a, &b2);
    t2.hook = capture_hook;
    t2.hook_user = &cap2;
    /* let the HELLO and COOKIE through, stop the INITIATE */
    pl_dg_conn *c2 = NULL;
    assert_int_equal(pl_dg_connect(a.e, t2.now, &b2.addr, &b2.fp, NULL, 0, false, &c2), PL_OK);
    flush(&t2); /* HELLO -> b2, COOKIE -> a; a queues INITIATE */
    static uint8_t ini[2048];
    pl_dg_addr to;
    int n = pl_dg_output(a.e, &to, ini, sizeof ini);
    assert_true(n > 0 && ini[0] == 3);
    pl_dg_stats before, after;
    pl_dg_stats_get(b2.e, &before);
    size_t nonce_at = 1 + 1 + 8 + 32 + 1 + 32 + 20;
    uint8_t bad[2048];
    memcpy(bad, ini, (size_t)n);
    unsigned dropped_no_work = 0;
    for (int k = 0; k < 8; k++) { /* another nonce: at 12 bits, almost surely no work */
        bad[nonce_at + 7] = (uint8_t)(ini[nonce_at + 7] + 1 + k);
        pl_dg_input(b2.e, t2.now, &a.addr, bad, (size_t)n);
        pl_dg_stats_get(b2.e, &after);
        dropped_no_work = (unsigned)(after.no_work - before.no_work);
    }
    assert_true(dropped_no_work >= 7);
    assert_int_equal(after.pk_ops, before.pk_ops);
    /* a lowered difficulty: the cookie no longer matches */
    memcpy(bad, ini, (size_t)n);
    bad[1 + 1 + 8 + 32] = 0;
    pl_dg_input(b2.e, t2.now, &a.addr, bad, (size_t)n);
    pl_dg_stats_get(b2.e, &after);
    assert_int_equal(after.bad_cookie, before.bad_cookie + 1);
    assert_int_equal(after.pk_ops, before.pk_ops);
    /* the real one still works */
    pl_dg_input(b2.e, t2.now, &a.addr, ini, (size_t)n);
    pl_dg_stats_get(b2.e, &after);
    assert_int_equal(after.established, 1);
    node_free(&a);
    node_free(&b);
    node_free(&b2);
}

/* The difficulty in a COOKIE is not signed: an initiator never does more
 * work than PL_DG_POW_ACCEPT_MAX for one, and says so when it gives up. */
static void too_much_work(void **state)
{
    (void)state;
    node a, b;
    net t;
    seen sa = {0};
    node_init(&a, 1, 1);
    node_init(&b, 2, 2);
    allow(&b, &a);
    pl_dg_force_difficulty(b.e, PL_DG_POW_ACCEPT_MAX + 1);
    net_init(&t, &a, &b);
    pl_dg_conn *c = NULL;
    assert_int_equal(pl_dg_connect(a.e, t.now, &b.addr, &b.fp, NULL, 0, false, &c), PL_OK);
    run(&t, t.now + PL_DG_HANDSHAKE_MS + 1000);
    drain(&a, &sa);
    assert_int_equal(sa.established, 0);
    assert_int_equal(sa.failed, 1);
    assert_int_equal(sa.err, PL_ERR_TOOBIG);
    pl_dg_stats st;
    pl_dg_stats_get(b.e, &st);
    assert_int_equal(st.pk_ops, 0);
    assert_int_equal(pl_dg_difficulty(b.e, t.now), PL_DG_POW_ACCEPT_MAX + 1);
    node_free(&a);
    node_free(&b);
}

/* ---- bit flips -------------------------------------------------------------- */

typedef struct flipper {
    uint8_t type;
    size_t bit;
    bool done;
} flipper;

static bool flip_hook(void *user, int from, uint8_t *pkt, size_t *len)
{
    flipper *f = user;
    (void)from;
    if (!f->done && pkt[0] == f->type && f->bit / 8 < *len) {
        pkt[f->bit / 8] ^= (uint8_t)(1u << (f->bit % 8));
        f->done = true;
    }
    return true;
}

static void flipped_bits(void **state)
{
    (void)state;
    const struct {
        uint8_t type;
        size_t bytes;
    } targets[] = {{1, 27}, {2, 167}, {3, 400}, {4, 100}};
    unsigned trials = 0, recovered = 0;
    for (size_t k = 0; k < sizeof targets / sizeof targets[0]; k++) {
        for (size_t bit = 0; bit < targets[k].bytes * 8; bit += 3) {
            node a, b;
            net t;
            seen sa = {0}, sb = {0};
            flipper f = {targets[k].type, bit, false};
            node_init(&a, 1, 1);
            node_init(&b, 2, 2);
            allow(&b, &a);
            net_init(&t, &a, &b);
            t.hook = flip_hook;
            t.hook_user = &f;
            pl_dg_conn *c = NULL;
            assert_int_equal(
                pl_dg_connect(a.e, t.now, &b.addr, &b.fp, (const uint8_t *)"early", 5, false, &c),
                PL_OK);
            run(&t, t.now + PL_DG_HANDSHAKE_MS + 1000);
            drain(&a, &sa);
            drain(&b, &sb);
            if (!f.done) { /* the packet was shorter than the bit */
                node_free(&a);
                node_free(&b);
                continue;
            }
            trials++;
            /* never established with anything false: whatever is
             * established is the real peer with the real data */
            assert_true(sa.established <= 1 && sb.established <= 1);
            if (sb.established) {
                pl_fingerprint fp;
                assert_int_equal(pl_dg_conn_peer(sb.conn, &fp), PL_OK);
                assert_true(pl_fingerprint_equal(&fp, &a.fp));
            }
            if (sa.established) {
                recovered++;
                assert_int_equal(sb.established, 1);
                /* and the keys agree */
                assert_int_equal(pl_dg_send(c, (const uint8_t *)"check", 5), PL_OK);
                run(&t, t.now + 1000);
                seen d = {0};
                drain(&b, &d);
                assert_int_equal(d.data, 1);
                assert_memory_equal(d.last, "check", 5);
            } else {
                assert_int_equal(sa.failed, 1);
            }
            node_free(&a);
            node_free(&b);
        }
    }
    printf("# %u flipped-bit handshakes: %u recovered by retransmission, %u failed cleanly\n",
           trials, recovered, trials - recovered);
    assert_true(trials > 1000);
}

/* ---- loss ---------------------------------------------------------------------- */

static void handshakes_under_loss(void **state)
{
    (void)state;
    unsigned done = 0, sent = 0, superseded = 0;
    for (int i = 0; i < 50; i++) {
        node a, b;
        net t;
        seen sa = {0}, sb = {0};
        node_init(&a, (uint8_t)(10 + i), 1);
        node_init(&b, (uint8_t)(100 + i), 2);
        allow(&b, &a);
        net_init(&t, &a, &b);
        t.loss_pct = 30;
        t.rng = (uint64_t)i * 1000003u + 7;
        pl_dg_conn *c = NULL;
        assert_int_equal(pl_dg_connect(a.e, t.now, &b.addr, &b.fp, NULL, 0, false, &c), PL_OK);
        run(&t, t.now + PL_DG_HANDSHAKE_MS);
        drain(&a, &sa);
        drain(&b, &sb);
        /* a connection b made for an ACCEPT that never arrived is
         * superseded when a starts again: one live connection each */
        bool ok = sa.established == 1 && sa.failed == 0 && sb.established - sb.failed == 1;
        done += ok;
        superseded += (unsigned)sb.failed;
        if (!ok) {
            pl_dg_stats sta, stb;
            pl_dg_stats_get(a.e, &sta);
            pl_dg_stats_get(b.e, &stb);
            printf("# handshake %d: a est %d failed %d; b est %d hellos %llu cookies %llu "
                   "initiates %llu accepts %llu resent %llu reused %llu bad %llu a-dropped %llu\n",
                   i, sa.established, sa.failed, sb.established, (unsigned long long)stb.hellos,
                   (unsigned long long)stb.cookies_sent, (unsigned long long)stb.initiates,
                   (unsigned long long)stb.accepts_sent, (unsigned long long)stb.resent_accepts,
                   (unsigned long long)stb.reused_cookie, (unsigned long long)stb.bad_cookie,
                   (unsigned long long)sta.rx_dropped);
        }
        sent += t.moved;
        node_free(&a);
        node_free(&b);
    }
    printf("# 50 handshakes under 30%% loss each way: %u complete (%u datagrams sent, %u "
           "half-open connections superseded)\n",
           done, sent, superseded);
    assert_int_equal(done, 50);
}

static bool drop_accepts(void *user, int from, uint8_t *pkt, size_t *len)
{
    unsigned *n = user;
    (void)from;
    (void)len;
    return !(pkt[0] == 4 && (*n)++ < 4); /* the first four ACCEPTs (one attempt) are lost */
}

/* Every ACCEPT of the first attempt is lost: a starts again and b replaces
 * the connection the peer never used with the new one. */
static void superseded_half_open(void **state)
{
    (void)state;
    node a, b;
    net t;
    seen sa = {0}, sb = {0};
    unsigned dropped = 0;
    node_init(&a, 1, 1);
    node_init(&b, 2, 2);
    allow(&b, &a);
    net_init(&t, &a, &b);
    t.hook = drop_accepts;
    t.hook_user = &dropped;
    pl_dg_conn *c = NULL;
    assert_int_equal(pl_dg_connect(a.e, t.now, &b.addr, &b.fp, NULL, 0, false, &c), PL_OK);
    run(&t, t.now + PL_DG_HANDSHAKE_MS);
    drain(&a, &sa);
    drain(&b, &sb);
    assert_true(dropped >= 4);
    assert_int_equal(sa.established, 1);
    assert_int_equal(sb.established, 2);
    assert_int_equal(sb.failed, 1); /* the first, superseded */
    assert_int_equal(pl_dg_send(c, (const uint8_t *)"x", 1), PL_OK);
    run(&t, t.now + 1000);
    seen d = {0};
    drain(&b, &d);
    assert_int_equal(d.data, 1);
    node_free(&a);
    node_free(&b);
}

/* ---- rendezvous ---------------------------------------------------------------- */

static void rendezvous(void **state)
{
    (void)state;
    node a, b;
    net t;
    seen sa = {0}, sb = {0};
    node_init(&a, 1, 1);
    node_init(&b, 2, 2);
    net_init(&t, &a, &b); /* no trust entries: each dialled the other's fingerprint */
    pl_dg_conn *ca = NULL, *cb = NULL;
    assert_int_equal(
        pl_dg_connect(a.e, t.now, &b.addr, &b.fp, (const uint8_t *)"from a", 6, true, &ca), PL_OK);
    assert_int_equal(
        pl_dg_connect(b.e, t.now, &a.addr, &a.fp, (const uint8_t *)"from b", 6, true, &cb), PL_OK);
    run(&t, t.now + 5000);
    drain(&a, &sa);
    drain(&b, &sb);
    assert_int_equal(sa.established, 1);
    assert_int_equal(sb.established, 1);
    assert_ptr_equal(sa.conn, ca);
    assert_ptr_equal(sb.conn, cb);
    assert_true(pl_dg_conn_initiator(ca) != pl_dg_conn_initiator(cb)); /* one of each */
    assert_int_equal(sa.len, 6);
    assert_memory_equal(sa.last, "from b", 6);
    assert_memory_equal(sb.last, "from a", 6);
    assert_int_equal(pl_dg_send(ca, (const uint8_t *)"ping", 4), PL_OK);
    assert_int_equal(pl_dg_send(cb, (const uint8_t *)"pong", 4), PL_OK);
    run(&t, t.now + 1000);
    memset(&sa, 0, sizeof sa);
    memset(&sb, 0, sizeof sb);
    drain(&a, &sa);
    drain(&b, &sb);
    assert_int_equal(sa.data, 1);
    assert_memory_equal(sa.last, "pong", 4);
    assert_int_equal(sb.data, 1);
    assert_memory_equal(sb.last, "ping", 4);
    node_free(&a);
    node_free(&b);
}

static void bad_arguments(void **state)
{
    (void)state;
    node a;
    node_init(&a, 1, 1);
    pl_dg_conn *c = NULL;
    pl_dg_addr empty = {0};
    static uint8_t big[PL_DG_EARLY_MAX + 1];
    assert_int_equal(pl_dg_connect(a.e, T0, &empty, &a.fp, NULL, 0, false, &c), PL_ERR_INVAL);
    assert_int_equal(pl_dg_connect(a.e, T0, &a.addr, &a.fp, big, sizeof big, false, &c),
                     PL_ERR_INVAL);
    assert_int_equal(pl_dg_send(NULL, NULL, 0), PL_ERR_INVAL);
    pl_dg_engine *e = NULL;
    pl_dg_config cfg = {0};
    assert_int_equal(pl_dg_new(&e, &cfg), PL_ERR_INVAL);
    /* junk of every type and length is dropped without harm */
    uint8_t junk[1300];
    for (size_t len = 1; len < sizeof junk; len += 37) {
        for (uint8_t type = 0; type < 8; type++) {
            randombytes_buf(junk, len);
            junk[0] = type;
            pl_dg_input(a.e, T0, &a.addr, junk, len);
        }
    }
    pl_dg_stats st;
    pl_dg_stats_get(a.e, &st);
    assert_int_equal(st.established, 0);
    assert_int_equal(st.pk_ops, 0);
    node_free(&a);
}

/* An idle responder asks no work of anyone, after a handshake too. */
static void idle_asks_nothing(void **state)
{
    (void)state;
    node a, b;
    net t;
    seen sa = {0};
    node_init(&a, 1, 1);
    node_init(&b, 2, 2);
    allow(&b, &a);
    net_init(&t, &a, &b);
    assert_int_equal(pl_dg_difficulty_for(b.e, &a.addr, t.now), 0);
    pl_dg_conn *c = NULL;
    assert_int_equal(pl_dg_connect(a.e, t.now, &b.addr, &b.fp, NULL, 0, false, &c), PL_OK);
    run(&t, t.now + 5000);
    drain(&a, &sa);
    assert_int_equal(sa.established, 1);
    assert_int_equal(pl_dg_difficulty_for(b.e, &a.addr, t.now), 0);
    node_free(&a);
    node_free(&b);
}

/* Connect a to b, then a's first DATA confirms the connection at b (an
 * unconfirmed one would be superseded by the next handshake from a). */
static pl_dg_conn *connect_confirmed(net *t, node *a, node *b, seen *sa, seen *sb)
{
    pl_dg_conn *c = NULL;
    int before = sa->established;
    assert_int_equal(pl_dg_connect(a->e, t->now, &b->addr, &b->fp, NULL, 0, false, &c), PL_OK);
    run(t, t->now + 2000);
    drain(a, sa);
    drain(b, sb);
    if (sa->established == before)
        return c; /* failed: the caller looks at sa */
    assert_int_equal(pl_dg_send(c, (const uint8_t *)"hi", 2), PL_OK);
    run(t, t->now + 100);
    drain(b, sb);
    return c;
}

/* max_conns: a full initiator refuses to connect (PL_ERR_TOOBIG); a full
 * responder refuses the INITIATE with an authenticated ACCEPT, so the
 * initiator fails at once (PL_ERR_REFUSED) instead of timing out. */
static void full_engine_refuses(void **state)
{
    (void)state;
    node a, b;
    net t;
    seen sa = {0}, sb = {0};
    node_init_max(&a, 1, 1, 3);
    node_init_max(&b, 2, 2, 2);
    allow(&b, &a);
    net_init(&t, &a, &b);
    pl_dg_conn *c1 = connect_confirmed(&t, &a, &b, &sa, &sb);
    pl_dg_conn *c2 = connect_confirmed(&t, &a, &b, &sa, &sb);
    assert_int_equal(sa.established, 2);
    assert_int_equal(sb.established, 2);
    assert_int_equal(sb.data, 2);
    uint64_t start = t.now;
    pl_dg_conn *c3 = connect_confirmed(&t, &a, &b, &sa, &sb);
    assert_int_equal(sa.established, 2);
    assert_int_equal(sa.failed, 1);
    assert_int_equal(sa.err, PL_ERR_REFUSED);
    assert_true(t.now - start < 1000); /* at once, not after PL_DG_HANDSHAKE_MS */
    pl_dg_stats st;
    pl_dg_stats_get(b.e, &st);
    assert_int_equal(st.full, 1);
    assert_int_equal(st.established, 2);
    /* a holds three now (the failed one until it is closed): full */
    pl_dg_conn *c = NULL;
    assert_int_equal(pl_dg_connect(a.e, t.now, &b.addr, &b.fp, NULL, 0, false, &c), PL_ERR_TOOBIG);
    pl_dg_conn_close(c3);
    /* room at a, none at b yet; then b forgets one of its two */
    c3 = connect_confirmed(&t, &a, &b, &sa, &sb);
    assert_int_equal(sa.failed, 2);
    pl_dg_conn_close(c3);
    pl_dg_conn_close(sb.conn);
    pl_dg_conn_close(c2); /* its peer end is the one b forgot */
    c3 = connect_confirmed(&t, &a, &b, &sa, &sb);
    assert_int_equal(sa.established, 3);
    assert_int_equal(sa.failed, 2);
    assert_int_equal(pl_dg_send(c1, (const uint8_t *)"x", 1), PL_OK);
    assert_int_equal(pl_dg_send(c3, (const uint8_t *)"y", 1), PL_OK);
    int data = sb.data;
    run(&t, t.now + 100);
    drain(&b, &sb);
    assert_int_equal(sb.data, data + 2);
    node_free(&a);
    node_free(&b);
}

/* Many connections between two engines: every packet finds its own
 * connection, keepalives keep them all (each one's timer fires, from the
 * deadline heap), and when one side forgets them all the other gives
 * every one up. */
#define MANY 150
static void many_connections(void **state)
{
    (void)state;
    node a, b;
    net t;
    seen sa = {0}, sb = {0};
    static pl_dg_conn *ca[MANY];
    node_init(&a, 1, 1);
    node_init(&b, 2, 2);
    allow(&b, &a);
    net_init(&t, &a, &b);
    for (int i = 0; i < MANY; i++) {
        ca[i] = connect_confirmed(&t, &a, &b, &sa, &sb);
        assert_int_equal(sa.established, i + 1);
    }
    assert_int_equal(sb.established, MANY);
    assert_int_equal(sb.data, MANY);
    /* 40 s: keepalives both ways on every connection, nothing closes */
    pl_dg_stats a0, a1;
    pl_dg_stats_get(a.e, &a0);
    run(&t, t.now + 40000);
    drain(&a, &sa);
    drain(&b, &sb);
    pl_dg_stats_get(a.e, &a1);
    assert_true(a1.data_tx - a0.data_tx >= 2 * MANY);
    assert_int_equal(sa.failed + sb.failed, 0);
    /* a forgets them all without a word: b gives each up when idle */
    for (int i = 0; i < MANY; i++)
        pl_dg_conn_close(ca[i]);
    run(&t, t.now + PL_DG_IDLE_MS + 1000);
    pl_dg_event ev;
    int closed = 0;
    while (pl_dg_event_next(b.e, &ev)) {
        /* its keepalive unanswered (PL_DG_DEAD_MS), or idle */
        if ((ev.kind == PL_DG_EV_FAILED && ev.err == PL_ERR_UNREACHABLE) ||
            (ev.kind == PL_DG_EV_CLOSED && ev.err == PL_ERR_TIMEOUT))
            closed++;
        free(ev.msg);
    }
    assert_int_equal(closed, MANY);
    assert_int_equal(pl_dg_deadline(b.e), UINT64_MAX);
    assert_int_equal(pl_dg_deadline(a.e), UINT64_MAX);
    node_free(&a);
    node_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_and_data),   cmocka_unit_test(untrusted_gets_nothing),
        cmocka_unit_test(wrong_fingerprint),    cmocka_unit_test(replays_and_cheap_drops),
        cmocka_unit_test(cookie_used_once),     cmocka_unit_test(proof_of_work_asked),
        cmocka_unit_test(flipped_bits),         cmocka_unit_test(handshakes_under_loss),
        cmocka_unit_test(rendezvous),           cmocka_unit_test(bad_arguments),
        cmocka_unit_test(superseded_half_open), cmocka_unit_test(too_much_work),
        cmocka_unit_test(idle_asks_nothing),    cmocka_unit_test(full_engine_refuses),
        cmocka_unit_test(many_connections),
    };
    if (pl_init() != PL_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
