/*
 * engine.c - the datagram transport's handshake engine (engine.h).
 *
 * The responder keeps no state and does no public-key operation for an
 * initiator until its INITIATE has passed, cheapest first: the cookie's
 * epoch (no hash), the cookie's MAC (one keyed hash), the record of used
 * cookies (a lookup), the proof of work (one hash). Only then X25519,
 * decryption, the trust check and a connection. A HELLO is answered by a
 * COOKIE much smaller than the HELLO (no amplification).
 */
#include <limits.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dgram/dgram_int.h"
#include "dgram/engine.h"
#include "dgram/engine_int.h"
#include "dgram/frame.h"
#include "identity/identity_int.h"
#include "noise/noise.h"
#include "stls/stls_int.h"
#include "util/buf.h"

#define T_HELLO    1
#define T_COOKIE   2
#define T_INITIATE 3
#define T_ACCEPT   4
#define T_DATA     5

#define NOISE_IK       "Noise_IK_25519_ChaChaPoly_BLAKE2b"
#define PROLOGUE       "peerlink dgram 1"
#define SEMI_LABEL     "peerlink dgram semi-static 1"
#define KEYS_LABEL     "peerlink dgram packet keys 1"
#define COOKIE_SIZE    (1 + 1 + 8 + 32 + 32 + 8 + 64 + 1 + PL_DG_COOKIE_LEN)
#define INIT_HDR       (1 + 1 + 8 + 32 + 1 + 32 + PL_DG_COOKIE_LEN + 8)
#define ACCEPT_HDR     (1 + 8)
#define POW_TRIES      (UINT64_C(1) << 28)
#define POW_SLICE      (UINT64_C(1) << 14) /* tries per call: a few milliseconds */
#define INIT_TRIES     4                   /* INITIATEs before starting again from HELLO */
#define ACCEPT_OK      0                   /* ACCEPT status: a connection */
#define ACCEPT_REFUSED 1                   /* ... the initiator is not trusted: no connection */
#define ACCEPT_FULL    2                   /* ... no room for another connection: none */

/* ---- small helpers -------------------------------------------------------- */

static uint64_t now_s(pl_dg_engine *e, uint64_t now_ms)
{
    if (!e->started) {
        e->started = true;
        e->start_ms = now_ms;
    }
    if (now_ms > e->now_ms)
        e->now_ms = now_ms;
    return e->cfg.now_s + (now_ms - e->start_ms) / 1000;
}

static void hash32(uint8_t out[32], const uint8_t *a, size_t alen, const uint8_t *b, size_t blen,
                   const uint8_t *c, size_t clen)
{
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init(&st, NULL, 0, 32);
    crypto_generichash_blake2b_update(&st, a, alen);
    if (blen)
        crypto_generichash_blake2b_update(&st, b, blen);
    if (clen)
        crypto_generichash_blake2b_update(&st, c, clen);
    crypto_generichash_blake2b_final(&st, out, 32);
}

static bool addr_eq(const pl_dg_addr *a, const pl_dg_addr *b)
{
    return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

void pl_dg_queue_out(pl_dg_engine *e, const pl_dg_addr *to, const uint8_t *d, size_t len)
{
    if (e->oq_len == PL_DG_OUTQ_MAX || len > sizeof e->outq[0].data) {
        e->st.rx_dropped++; /* the sender is behind: shed */
        return;
    }
    struct outq_item *it = &e->outq[(e->oq_head + e->oq_len) % PL_DG_OUTQ_MAX];
    it->to = *to;
    it->len = len;
    memcpy(it->data, d, len);
    e->oq_len++;
}

pl_dg_event *pl_dg_push_event(pl_dg_engine *e, enum pl_dg_event_kind kind, pl_dg_conn *c)
{
    if (e->ev_len == EVQ_MAX) { /* drop the oldest: the application is not reading */
        pl_dg_event *old = &e->evq[e->ev_head].ev;
        free(old->msg);
        old->msg = NULL;
        e->ev_head = (e->ev_head + 1) % EVQ_MAX;
        e->ev_len--;
        e->st.events_dropped++;
    }
    pl_dg_event *ev = &e->evq[(e->ev_head + e->ev_len) % EVQ_MAX].ev;
    e->ev_len++;
    memset(ev, 0, offsetof(pl_dg_event, data));
    ev->kind = kind;
    ev->conn = c;
    return ev;
}

void pl_dg_conn_fail(pl_dg_conn *c, int err, const char *why)
{
    if (c->state == C_FAILED || c->state == C_CLOSED)
        return;
    c->state = C_FAILED;
    pl_dg_rel_fail_requests(c, err == PL_ERR_REFUSED || err == PL_ERR_CLOSED ? err
                                                                             : PL_ERR_UNREACHABLE);
    pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_FAILED, c);
    ev->err = err;
    ev->why = why;
}

int pl_dg_draw(pl_dg_engine *e, uint8_t *out, size_t len)
{
    return e->cfg.random(e->cfg.random_user, out, len) == 0 ? PL_OK : PL_ERR_INTERNAL;
}

/* A fresh semi-static key, signed by the identity. */
static int semi_make(pl_dg_engine *e, struct semi *s, uint64_t t)
{
    uint8_t priv[32], msg[sizeof SEMI_LABEL + 32 + 8];
    if (pl_dg_draw(e, priv, sizeof priv) != PL_OK)
        return PL_ERR_INTERNAL;
    pl_noise_keypair_from(&s->kp, priv);
    sodium_memzero(priv, sizeof priv);
    s->expiry = t + PL_DG_SEMI_LIFETIME;
    pl_wr w = pl_wr_init(msg, sizeof msg);
    pl_wr_bytes(&w, (const uint8_t *)SEMI_LABEL, sizeof SEMI_LABEL);
    pl_wr_bytes(&w, s->kp.pub, 32);
    pl_wr_u64(&w, s->expiry);
    if (pl_wr_result(&w) < 0 || pl_identity_sign(e->cfg.id, msg, sizeof msg, s->sig) != PL_OK)
        return PL_ERR_INTERNAL;
    s->live = true;
    return PL_OK;
}

/* Offer a key for half its life; keep the previous one until it expires. */
static void semi_rotate(pl_dg_engine *e, uint64_t t)
{
    if (e->semi[0].live && t + PL_DG_SEMI_LIFETIME / 2 < e->semi[0].expiry)
        return;
    struct semi fresh;
    if (semi_make(e, &fresh, t) != PL_OK)
        return; /* keep offering the old one */
    e->semi[1] = e->semi[0];
    e->semi[0] = fresh;
}

static const struct semi *semi_find(const pl_dg_engine *e, const uint8_t pub[32], uint64_t t)
{
    for (int i = 0; i < 2; i++)
        if (e->semi[i].live && t < e->semi[i].expiry &&
            sodium_memcmp(e->semi[i].kp.pub, pub, 32) == 0)
            return &e->semi[i];
    return NULL;
}

static unsigned difficulty(pl_dg_engine *e, uint64_t now_ms)
{
    if (e->forced_bits != UINT_MAX)
        return e->forced_bits;
    return pl_dg_load_bits(&e->load, now_ms);
}

/* The global difficulty plus the source's extra (docs/protocol.md §4.1). */
static unsigned difficulty_for(pl_dg_engine *e, const pl_dg_addr *from, uint64_t now_ms)
{
    if (e->forced_bits != UINT_MAX)
        return e->forced_bits;
    return pl_dg_srcload_bits(&e->srcload, difficulty(e, now_ms), from->b, from->len, now_ms);
}

static void charge(pl_dg_engine *e, const pl_dg_addr *from, unsigned cost, uint64_t now_ms)
{
    pl_dg_srcload_note(&e->srcload, from->b, from->len, cost, now_ms);
}

/* The cookie binds the address, the HELLO, the difficulty asked and the
 * semi-static key offered. */
static void cookie_bind(uint8_t out[32], const uint8_t hello_digest[32], uint8_t bits,
                        const uint8_t semi_pub[32], const uint8_t icid[PL_DG_CID_LEN])
{
    uint8_t tail[1 + 32 + PL_DG_CID_LEN];
    tail[0] = bits;
    memcpy(tail + 1, semi_pub, 32);
    memcpy(tail + 33, icid, PL_DG_CID_LEN);
    hash32(out, hello_digest, 32, tail, sizeof tail, NULL, 0);
}

static void prologue(uint8_t *out, const uint8_t hello_digest[32], uint8_t bits,
                     const uint8_t semi_pub[32], const uint8_t cookie[PL_DG_COOKIE_LEN])
{
    size_t o = 0;
    memcpy(out + o, PROLOGUE, sizeof PROLOGUE - 1);
    o += sizeof PROLOGUE - 1;
    memcpy(out + o, hello_digest, 32);
    o += 32;
    out[o++] = bits;
    memcpy(out + o, semi_pub, 32);
    o += 32;
    memcpy(out + o, cookie, PL_DG_COOKIE_LEN);
}
#define PROLOGUE_LEN (sizeof PROLOGUE - 1 + 32 + 1 + 32 + PL_DG_COOKIE_LEN)

static void packet_keys(pl_dg_aead *a, const pl_noise_cipher *c)
{
    uint8_t out[64];
    crypto_generichash_blake2b(out, sizeof out, (const uint8_t *)KEYS_LABEL, sizeof KEYS_LABEL - 1,
                               c->k, sizeof c->k);
    /* OpenSSL's ChaCha20-Poly1305 for full packets while traffic flows
     * (packet.c; made by the first full packet, dropped after a quiet
     * while: pl_dg_rel_timer), libsodium's otherwise: the same bytes */
    pl_dg_aead_wipe(a);
    pl_dg_aead_init_lazy(a, out, out + 32);
    sodium_memzero(out, sizeof out);
}

static void established(pl_dg_conn *c, pl_dg_conn *owner, const pl_noise_hs *hs,
                        const uint8_t *data, size_t len, uint64_t now_ms, uint64_t rtt_ms)
{
    pl_noise_cipher c1, c2;
    if (pl_noise_hs_split(hs, &c1, &c2) != PL_OK) {
        pl_dg_conn_fail(c, PL_ERR_INTERNAL, "the handshake did not finish");
        return;
    }
    packet_keys(&c->tx, c->initiator ? &c1 : &c2);
    packet_keys(&c->rx, c->initiator ? &c2 : &c1);
    pl_noise_cipher_wipe(&c1);
    pl_noise_cipher_wipe(&c2);
    pl_dg_replay_init(&c->replay);
    c->next_pn = 0;
    c->state = C_ESTABLISHED;
    c->e->st.established++;
    pl_dg_rel_start(owner, now_ms, rtt_ms);
    pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_ESTABLISHED, owner);
    ev->len = len;
    if (len)
        memcpy(ev->data, data, len);
}

/* ---- the connection indexes --------------------------------------------- */

/* Hash tables: a connection is found by a key a packet carries (icid,
 * rcid) or by its address, in O(1) whatever the number of connections.
 * Keys partly come from peers (an initiator picks its icid), so the hash
 * is SipHash under a key of the engine's. */

#define TAB_MIN 16

static const uint8_t *tab_key_of(const struct conntab *t, const pl_dg_conn *c, size_t *len)
{
    switch (t->kind) {
    case TAB_ICID: *len = PL_DG_CID_LEN; return c->icid;
    case TAB_RCID: *len = PL_DG_CID_LEN; return c->rcid;
    default: *len = 1u + c->addr.len; return &c->addr.len; /* len, then the bytes */
    }
}

static size_t tab_hash(const pl_dg_engine *e, const uint8_t *key, size_t len)
{
    uint8_t h[crypto_shorthash_BYTES];
    crypto_shorthash(h, key, len, e->tab_key);
    uint64_t v = 0;
    for (size_t i = 0; i < sizeof h; i++)
        v = v << 8 | h[i];
    return (size_t)v;
}

static void tab_place(const pl_dg_engine *e, pl_dg_conn **slot, size_t cap, const struct conntab *t,
                      pl_dg_conn *c)
{
    size_t len;
    const uint8_t *key = tab_key_of(t, c, &len);
    size_t i = tab_hash(e, key, len) & (cap - 1);
    while (slot[i])
        i = (i + 1) & (cap - 1);
    slot[i] = c;
}

static int tab_resize(const pl_dg_engine *e, struct conntab *t, size_t cap)
{
    pl_dg_conn **n = calloc(cap, sizeof *n);
    if (!n)
        return PL_ERR_NOMEM;
    for (size_t i = 0; i < t->cap; i++)
        if (t->slot[i])
            tab_place(e, n, cap, t, t->slot[i]);
    free(t->slot);
    t->slot = n;
    t->cap = cap;
    return PL_OK;
}

/* Room for one more entry (the only allocation: at a new connection). */
static int tab_reserve(const pl_dg_engine *e, struct conntab *t)
{
    if ((t->len + 1) * 4 <= t->cap * 3)
        return PL_OK;
    return tab_resize(e, t, t->cap ? t->cap * 2 : TAB_MIN);
}

/* After tab_reserve. */
static void tab_put(const pl_dg_engine *e, struct conntab *t, pl_dg_conn *c)
{
    tab_place(e, t->slot, t->cap, t, c);
    t->len++;
}

/* Remove c, under the key it had when put (linear probing: the entries
 * after it move back, so no lookup ever stops short). */
static void tab_del(const pl_dg_engine *e, struct conntab *t, pl_dg_conn *c)
{
    if (!t->cap)
        return;
    size_t len, mask = t->cap - 1;
    const uint8_t *key = tab_key_of(t, c, &len);
    size_t i = tab_hash(e, key, len) & mask;
    while (t->slot[i] && t->slot[i] != c)
        i = (i + 1) & mask;
    if (!t->slot[i])
        return;
    t->slot[i] = NULL;
    t->len--;
    for (size_t j = (i + 1) & mask; t->slot[j]; j = (j + 1) & mask) {
        const uint8_t *k = tab_key_of(t, t->slot[j], &len);
        size_t home = tab_hash(e, k, len) & mask;
        /* move it back unless its home lies in (i, j] (cyclically) */
        if (i <= j ? home <= i || home > j : home <= i && home > j) {
            t->slot[i] = t->slot[j];
            t->slot[j] = NULL;
            i = j;
        }
    }
    if (t->cap > TAB_MIN && t->len * 8 < t->cap)
        (void)tab_resize(e, t, t->cap / 2); /* on failure it stays larger */
}

/* Walk the connections under key: *pos from tab_start, then tab_next
 * until NULL. The table must not change meanwhile. */
static size_t tab_start(const pl_dg_engine *e, const struct conntab *t, const uint8_t *key,
                        size_t len)
{
    return t->cap ? tab_hash(e, key, len) & (t->cap - 1) : 0;
}

static pl_dg_conn *tab_next(const struct conntab *t, const uint8_t *key, size_t len, size_t *pos)
{
    if (!t->cap)
        return NULL;
    for (size_t i = *pos; t->slot[i]; i = (i + 1) & (t->cap - 1)) {
        size_t klen;
        pl_dg_conn *c = t->slot[i];
        const uint8_t *k = tab_key_of(t, c, &klen);
        if (klen == len && memcmp(k, key, len) == 0) {
            *pos = (i + 1) & (t->cap - 1);
            return c;
        }
    }
    return NULL;
}

/* The deadline heap: the earliest deadline at the top. */

static bool heap_less(const pl_dg_engine *e, size_t a, size_t b)
{
    return e->heap[a]->when < e->heap[b]->when;
}

static void heap_swap(pl_dg_engine *e, size_t a, size_t b)
{
    pl_dg_conn *t = e->heap[a];
    e->heap[a] = e->heap[b];
    e->heap[b] = t;
    e->heap[a]->hpos = (uint32_t)a;
    e->heap[b]->hpos = (uint32_t)b;
}

static void heap_fix(pl_dg_engine *e, size_t i)
{
    while (i > 0 && heap_less(e, i, (i - 1) / 2)) {
        heap_swap(e, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < e->nconns && heap_less(e, l, m))
            m = l;
        if (l + 1 < e->nconns && heap_less(e, l + 1, m))
            m = l + 1;
        if (m == i)
            return;
        heap_swap(e, i, m);
        i = m;
    }
}

static void heap_del(pl_dg_engine *e, pl_dg_conn *c)
{
    size_t i = c->hpos, last = e->nconns - 1;
    if (i != last)
        heap_swap(e, i, last);
    e->nconns--;
    if (i != last)
        heap_fix(e, i);
}

/* Collect the connections whose deadline is at or before now on the
 * `due` list (a subtree at the top of the heap: O(those)). */
static void heap_due(pl_dg_engine *e, size_t i, uint64_t now_ms, pl_dg_conn **list)
{
    if (i >= e->nconns || e->heap[i]->when > now_ms)
        return;
    e->heap[i]->due = *list;
    *list = e->heap[i];
    heap_due(e, 2 * i + 1, now_ms, list);
    heap_due(e, 2 * i + 2, now_ms, list);
}

/* Sort a due list newest first, the order in which the engine has
 * always visited its connections (a merge sort: no allocation). */
static pl_dg_conn *due_sort(pl_dg_conn *l)
{
    if (!l || !l->due)
        return l;
    pl_dg_conn *a = l, *b = l->due, *p = l;
    for (pl_dg_conn *fast = l->due; fast && fast->due; fast = fast->due->due)
        p = p->due;
    b = p->due;
    p->due = NULL;
    a = due_sort(a);
    b = due_sort(b);
    pl_dg_conn *head = NULL, **tail = &head;
    while (a && b) {
        pl_dg_conn **pick = a->seq > b->seq ? &a : &b;
        *tail = *pick;
        tail = &(*pick)->due;
        *pick = (*pick)->due;
    }
    *tail = a ? a : b;
    return head;
}

/* The ready list: connections that may have something to send. */

static void ready_add(pl_dg_engine *e, pl_dg_conn *c)
{
    if (c->ready)
        return;
    c->ready = true;
    c->rd_next = NULL;
    c->rd_prev = e->rd_tail;
    if (e->rd_tail)
        e->rd_tail->rd_next = c;
    else
        e->rd_head = c;
    e->rd_tail = c;
}

static void ready_del(pl_dg_engine *e, pl_dg_conn *c)
{
    if (!c->ready)
        return;
    c->ready = false;
    if (c->rd_prev)
        c->rd_prev->rd_next = c->rd_next;
    else
        e->rd_head = c->rd_next;
    if (c->rd_next)
        c->rd_next->rd_prev = c->rd_prev;
    else
        e->rd_tail = c->rd_prev;
    c->rd_next = c->rd_prev = NULL;
}

static bool handshaking(const pl_dg_conn *c)
{
    return c->state == C_HELLO || c->state == C_WORK || c->state == C_INITIATE ||
           c->state == C_YIELDED;
}

/* The earliest moment c needs pl_dg_timer (UINT64_MAX: none). */
static uint64_t conn_deadline(const pl_dg_conn *c)
{
    uint64_t d = pl_dg_rel_deadline(c);
    const struct ihs *h = c->ihs;
    if (!c->initiator || !h)
        return d;
    if ((c->state == C_HELLO || c->state == C_INITIATE) && h->retry_at < d)
        d = h->retry_at;
    if (c->state == C_WORK && c->e->now_ms < d)
        d = c->e->now_ms; /* more work to do at once */
    if (handshaking(c) && h->give_up_at < d)
        d = h->give_up_at;
    return d;
}

static void ihs_free(pl_dg_conn *c)
{
    struct ihs *h = c->ihs;
    if (!h)
        return;
    if (c->rendezvous) {
        if (h->rv_prev)
            h->rv_prev->ihs->rv_next = h->rv_next;
        else
            c->e->rendezvous = h->rv_next;
        if (h->rv_next)
            h->rv_next->ihs->rv_prev = h->rv_prev;
    }
    sodium_memzero(h, sizeof *h); /* the Noise state and the early data */
    free(h);
    c->ihs = NULL;
}

static void racc_free(pl_dg_conn *c)
{
    if (!c->racc)
        return;
    tab_del(c->e, &c->e->by_addr, c);
    free(c->racc);
    c->racc = NULL;
}

/* After anything that may have changed c: drop the handshake state it no
 * longer needs, move it in the heap, and list it as ready to send. */
static void settle(pl_dg_conn *c)
{
    pl_dg_engine *e = c->e;
    if (c->ihs && !handshaking(c))
        ihs_free(c);
    if (c->racc && (c->confirmed || c->state == C_FAILED))
        racc_free(c);
    uint64_t d = conn_deadline(c);
    if (d != c->when) {
        c->when = d;
        heap_fix(e, c->hpos);
    }
}

void pl_dg_conn_touch(pl_dg_conn *c)
{
    if (!c)
        return;
    settle(c);
    if (c->state == C_ESTABLISHED)
        ready_add(c->e, c);
    else
        ready_del(c->e, c);
}

/* Time went on without a call for them: connections whose deadline has
 * come may have an acknowledgement or paced data due, so pl_dg_output
 * visits them too (the engine has always looked at every connection). */
static void promote(pl_dg_engine *e)
{
    if (e->promoted_ms == e->now_ms || !e->nconns || e->heap[0]->when > e->now_ms)
        return;
    e->promoted_ms = e->now_ms;
    pl_dg_conn *list = NULL;
    heap_due(e, 0, e->now_ms, &list);
    for (list = due_sort(list); list; list = list->due)
        if (list->state == C_ESTABLISHED)
            ready_add(e, list);
}

/* ---- engine ------------------------------------------------------------- */

#define TAB_LABEL "peerlink dgram connection tables 1"

int pl_dg_new(pl_dg_engine **out, const pl_dg_config *cfg)
{
    if (!out || !cfg || !cfg->id || !cfg->random)
        return PL_ERR_INVAL;
    *out = NULL;
    pl_dg_engine *e = calloc(1, sizeof *e);
    if (!e)
        return PL_ERR_NOMEM;
    e->cfg = *cfg;
    e->forced_bits = UINT_MAX;
    e->by_icid.kind = TAB_ICID;
    e->by_rcid.kind = TAB_RCID;
    e->by_addr.kind = TAB_ADDR;
    e->outq = calloc(PL_DG_OUTQ_MAX, sizeof *e->outq);
    e->evq = calloc(EVQ_MAX, sizeof *e->evq);
    int rc = e->outq && e->evq ? PL_OK : PL_ERR_NOMEM;
    if (rc == PL_OK)
        rc = pl_dg_used_init(&e->used, cfg->used_cookies_max ? cfg->used_cookies_max : 65536);
    if (rc == PL_OK) {
        uint8_t sk[crypto_sign_SECRETKEYBYTES], xpriv[32];
        pl_identity_public_key(cfg->id, e->id_pk);
        pl_identity_fingerprint(cfg->id, &e->self);
        if (crypto_sign_seed_keypair(e->id_pk, sk, pl_identity_seed(cfg->id)) != 0 ||
            crypto_sign_ed25519_sk_to_curve25519(xpriv, sk) != 0)
            rc = PL_ERR_INTERNAL;
        else
            pl_noise_keypair_from(&e->xstatic, xpriv);
        sodium_memzero(sk, sizeof sk);
        sodium_memzero(xpriv, sizeof xpriv);
    }
    /* The tables' key comes from our static secret, not the random
     * source: the draws the handshakes make stay as they were. */
    if (rc == PL_OK &&
        crypto_generichash(e->tab_key, sizeof e->tab_key, (const uint8_t *)TAB_LABEL,
                           sizeof TAB_LABEL - 1, e->xstatic.priv, sizeof e->xstatic.priv) != 0)
        rc = PL_ERR_INTERNAL;
    if (rc == PL_OK)
        rc = pl_dg_cookie_keys_init(&e->ck, cfg->now_s, cfg->random, cfg->random_user);
    if (rc == PL_OK)
        rc = semi_make(e, &e->semi[0], cfg->now_s);
    if (rc == PL_OK)
        rc = pl_dg_srcload_init(&e->srcload, cfg->capacity_per_s ? cfg->capacity_per_s : 2000,
                                cfg->random, cfg->random_user);
    if (rc != PL_OK) {
        pl_dg_free(e);
        return rc;
    }
    pl_dg_load_init(&e->load, cfg->capacity_per_s ? cfg->capacity_per_s : 2000);
    *out = e;
    return PL_OK;
}

/* Out of every index, and gone. */
static void conn_free(pl_dg_conn *c)
{
    pl_dg_engine *e = c->e;
    ready_del(e, c);
    heap_del(e, c);
    tab_del(e, &e->by_icid, c);
    tab_del(e, &e->by_rcid, c);
    racc_free(c);
    ihs_free(c);
    pl_dg_rel_free(c);
    free(c->peer_authority);
    pl_dg_aead_wipe(&c->tx);
    pl_dg_aead_wipe(&c->rx);
    sodium_memzero(c, sizeof *c);
    free(c);
}

void pl_dg_free(pl_dg_engine *e)
{
    if (!e)
        return;
    while (e->nconns)
        conn_free(e->heap[e->nconns - 1]);
    free(e->heap);
    free(e->by_icid.slot);
    free(e->by_rcid.slot);
    free(e->by_addr.slot);
    pl_dg_used_free(&e->used);
    pl_dg_srcload_free(&e->srcload);
    for (size_t i = 0; e->evq && i < e->ev_len; i++) /* only waiting events own a message */
        free(e->evq[(e->ev_head + i) % EVQ_MAX].ev.msg);
    free(e->outq);
    free(e->evq);
    sodium_memzero(e, sizeof *e);
    free(e);
}

void pl_dg_set_reply(pl_dg_engine *e, const uint8_t *reply, size_t len)
{
    e->reply_len = len > PL_DG_EARLY_MAX ? PL_DG_EARLY_MAX : len;
    if (e->reply_len)
        memcpy(e->reply, reply, e->reply_len);
}

static bool conns_full(const pl_dg_engine *e)
{
    return e->nconns >= (e->cfg.max_conns ? e->cfg.max_conns : PL_DG_CONNS_MAX);
}

/* A connection in the heap (no deadline yet), with room reserved in the
 * tables; the caller puts it in those its keys belong to. */
static pl_dg_conn *conn_new(pl_dg_engine *e, const pl_dg_addr *addr)
{
    if (e->nconns == e->heap_cap) {
        size_t cap = e->heap_cap ? e->heap_cap * 2 : 16;
        pl_dg_conn **h = cap <= UINT32_MAX ? realloc(e->heap, cap * sizeof *h) : NULL;
        if (!h)
            return NULL;
        e->heap = h;
        e->heap_cap = cap;
    }
    if (tab_reserve(e, &e->by_icid) != PL_OK || tab_reserve(e, &e->by_rcid) != PL_OK ||
        tab_reserve(e, &e->by_addr) != PL_OK)
        return NULL;
    pl_dg_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->e = e;
    c->addr = *addr;
    c->seq = ++e->conn_seq;
    c->when = UINT64_MAX; /* at the bottom of the heap: no sifting */
    pl_dg_rel_init(c);
    c->hpos = (uint32_t)e->nconns;
    e->heap[e->nconns++] = c;
    return c;
}

static int set_peer(pl_dg_conn *c, const pl_fingerprint *fp)
{
    memcpy(c->peer, fp->digest, sizeof c->peer);
    c->has_peer = true;
    free(c->peer_authority);
    c->peer_authority = NULL;
    size_t n = strnlen(fp->authority, sizeof fp->authority);
    if (n) {
        c->peer_authority = malloc(n + 1);
        if (!c->peer_authority)
            return PL_ERR_NOMEM;
        memcpy(c->peer_authority, fp->authority, n);
        c->peer_authority[n] = 0;
    }
    return PL_OK;
}

static bool peer_is(const pl_dg_conn *c, const pl_fingerprint *fp)
{
    return sodium_memcmp(c->peer, fp->digest, sizeof c->peer) == 0;
}

/* ---- initiator ------------------------------------------------------------ */

static int send_hello(pl_dg_conn *c, uint64_t now_ms)
{
    pl_dg_engine *e = c->e;
    struct ihs *h = c->ihs;
    uint8_t *p = h->last;
    memset(p, 0, PL_DG_HELLO_MIN);
    pl_wr w = pl_wr_init(p, PL_DG_HELLO_MIN);
    pl_wr_u8(&w, T_HELLO);
    pl_wr_u8(&w, PL_DG_VERSION);
    pl_wr_u64(&w, h->tiebreak);
    pl_wr_bytes(&w, c->peer, 8); /* which of the node's identities */
    pl_wr_bytes(&w, c->icid, PL_DG_CID_LEN);
    if (pl_wr_result(&w) < 0)
        return PL_ERR_INTERNAL;
    h->last_len = PL_DG_HELLO_MIN;
    hash32(h->hello_digest, p, PL_DG_HELLO_MIN, NULL, 0, NULL, 0);
    c->state = C_HELLO;
    h->retry_at = now_ms + PL_DG_RETRY_MS;
    h->tries = 0;
    pl_dg_queue_out(e, &c->addr, p, h->last_len);
    return PL_OK;
}

int pl_dg_connect(pl_dg_engine *e, uint64_t now_ms, const pl_dg_addr *to,
                  const pl_fingerprint *peer, const uint8_t *early, size_t len, bool rendezvous,
                  pl_dg_conn **out)
{
    if (!e || !to || !peer || !out || len > PL_DG_EARLY_MAX || (len && !early) || to->len == 0 ||
        to->len > sizeof to->b)
        return PL_ERR_INVAL;
    (void)now_s(e, now_ms);
    if (conns_full(e))
        return PL_ERR_TOOBIG;
    pl_dg_conn *c = conn_new(e, to);
    if (!c)
        return PL_ERR_NOMEM;
    c->ihs = calloc(1, sizeof *c->ihs);
    if (!c->ihs || set_peer(c, peer) != PL_OK) {
        conn_free(c);
        return PL_ERR_NOMEM;
    }
    struct ihs *h = c->ihs;
    c->initiator = true;
    c->rendezvous = rendezvous;
    if (rendezvous) {
        h->rv_next = e->rendezvous;
        if (e->rendezvous)
            e->rendezvous->ihs->rv_prev = c;
        e->rendezvous = c;
    }
    h->early_len = len;
    if (len)
        memcpy(h->early, early, len);
    int rc = pl_dg_draw(e, c->icid, sizeof c->icid);
    tab_put(e, &e->by_icid, c);
    if (rc == PL_OK && rendezvous)
        rc = pl_stls_tiebreak_draw(e->cfg.random, e->cfg.random_user, &h->tiebreak);
    if (rc == PL_OK)
        rc = send_hello(c, now_ms);
    if (rc != PL_OK) {
        pl_dg_conn_touch(c); /* the conn stays, given up at the next timer */
        return rc;
    }
    h->give_up_at = now_ms + PL_DG_HANDSHAKE_MS;
    pl_dg_conn_touch(c);
    *out = c;
    return PL_OK;
}

/* The newest connection under key in t that ok() accepts. */
static pl_dg_conn *find(const pl_dg_engine *e, const struct conntab *t, const uint8_t *key,
                        size_t len, bool (*ok)(const pl_dg_conn *, const void *), const void *arg)
{
    pl_dg_conn *best = NULL;
    size_t pos = tab_start(e, t, key, len);
    for (pl_dg_conn *c; (c = tab_next(t, key, len, &pos));)
        if ((!best || c->seq > best->seq) && ok(c, arg))
            best = c;
    return best;
}

static bool is_initiator_at(const pl_dg_conn *c, const void *from)
{
    return c->initiator && addr_eq(&c->addr, from);
}

static pl_dg_conn *find_initiator(pl_dg_engine *e, const uint8_t icid[PL_DG_CID_LEN],
                                  const pl_dg_addr *from)
{
    return find(e, &e->by_icid, icid, PL_DG_CID_LEN, is_initiator_at, from);
}

/* The signature on a node's semi-static key: checked once per key, not
 * once per connection (a node offers one key for minutes, and a client
 * of many connections to it would otherwise verify it every time). The
 * last one verified is kept: the same bytes get the same verdict. */
static bool semi_verified(pl_dg_engine *e, const uint8_t idk[32], const uint8_t sig[64],
                          const uint8_t *msg, size_t len)
{
    struct semi_seen *v = &e->semi_seen;
    if (len > sizeof v->msg)
        return pl_ed25519_verify(sig, msg, len, idk) == PL_OK;
    if (v->valid && memcmp(v->idk, idk, 32) == 0 && memcmp(v->sig, sig, 64) == 0 &&
        memcmp(v->msg, msg, len) == 0)
        return true;
    if (pl_ed25519_verify(sig, msg, len, idk) != PL_OK)
        return false;
    memcpy(v->idk, idk, 32);
    memcpy(v->sig, sig, 64);
    memcpy(v->msg, msg, len);
    v->valid = true;
    return true;
}

static void work(pl_dg_conn *c, uint64_t now_ms);
static void send_initiate(pl_dg_conn *c, uint64_t now_ms, uint64_t nonce);

static void on_cookie(pl_dg_engine *e, uint64_t now_ms, const pl_dg_addr *from, const uint8_t *p,
                      size_t len)
{
    uint8_t icid[8], idk[32], semi_pub[32], sig[64], cookie[PL_DG_COOKIE_LEN];
    uint64_t expiry;
    uint8_t bits, ver;
    pl_rd r = pl_rd_init(p, len);
    (void)pl_rd_u8(&r); /* the type, known */
    ver = pl_rd_u8(&r);
    pl_rd_copy(&r, icid, 8);
    pl_rd_copy(&r, idk, 32);
    pl_rd_copy(&r, semi_pub, 32);
    expiry = pl_rd_u64(&r);
    pl_rd_copy(&r, sig, 64);
    bits = pl_rd_u8(&r);
    pl_rd_copy(&r, cookie, sizeof cookie);
    if (!pl_rd_finish(&r) || ver != PL_DG_VERSION) {
        e->st.rx_dropped++;
        return;
    }
    pl_dg_conn *c = find_initiator(e, icid, from);
    if (!c || c->state != C_HELLO) {
        e->st.rx_dropped++;
        return;
    }
    struct ihs *h = c->ihs;
    /* Is it the node we want? Its identity key, its signature on the
     * semi-static key, the key's validity. */
    pl_fingerprint fp;
    uint8_t msg[sizeof SEMI_LABEL + 32 + 8];
    pl_wr w = pl_wr_init(msg, sizeof msg);
    pl_wr_bytes(&w, (const uint8_t *)SEMI_LABEL, sizeof SEMI_LABEL);
    pl_wr_bytes(&w, semi_pub, 32);
    pl_wr_u64(&w, expiry);
    if (pl_fingerprint_from_key(&fp, idk, NULL) != PL_OK || !peer_is(c, &fp) ||
        pl_wr_result(&w) < 0 || !semi_verified(e, idk, sig, msg, sizeof msg) ||
        expiry <= now_s(e, now_ms)) {
        e->st.rx_dropped++; /* a forgery or a stranger: keep waiting for the real one */
        return;
    }
    /* The difficulty is not signed (a COOKIE is stateless): never let one
     * packet make us work more than we chose to. */
    if (bits > PL_DG_POW_ACCEPT_MAX) {
        e->st.rx_dropped++;
        h->too_hard = true;
        return;
    }
    struct work *wk = &h->work;
    wk->bits = bits;
    memcpy(wk->semi, semi_pub, 32);
    memcpy(wk->cookie, cookie, sizeof cookie);
    cookie_bind(wk->bind, h->hello_digest, bits, semi_pub, c->icid);
    wk->tried = 0;
    if (pl_dg_draw(e, (uint8_t *)&wk->next, sizeof wk->next) != PL_OK) {
        pl_dg_conn_fail(c, PL_ERR_INTERNAL, "no randomness");
        pl_dg_conn_touch(c);
        return;
    }
    c->state = C_WORK;
    work(c, now_ms);
    pl_dg_conn_touch(c);
}

/* Solve the proof of work a slice at a time, so an event loop driving the
 * engine stays responsive; the deadline is "now" until it is done. */
static void work(pl_dg_conn *c, uint64_t now_ms)
{
    struct work *w = &c->ihs->work;
    uint64_t nonce = 0;
    uint64_t slice = POW_TRIES - w->tried < POW_SLICE ? POW_TRIES - w->tried : POW_SLICE;
    int rc = pl_dg_pow_solve(w->cookie, w->bind, w->bits, w->next, slice, &nonce);
    w->tried += slice;
    w->next += slice;
    if (rc == PL_OK) {
        send_initiate(c, now_ms, nonce);
        return;
    }
    if (w->tried >= POW_TRIES)
        pl_dg_conn_fail(c, PL_ERR_TOOBIG, "the proof of work asked is too hard");
}

static void send_initiate(pl_dg_conn *c, uint64_t now_ms, uint64_t nonce)
{
    pl_dg_engine *e = c->e;
    struct ihs *h = c->ihs;
    const struct work *wk = &h->work;
    uint8_t bits = wk->bits;
    const uint8_t *semi_pub = wk->semi, *cookie = wk->cookie;
    pl_noise_hs hs;
    uint8_t pro[PROLOGUE_LEN];
    prologue(pro, h->hello_digest, bits, semi_pub, cookie);
    if (pl_noise_hs_init(&hs, NOISE_IK, true, pro, sizeof pro, e->xstatic.priv, semi_pub, NULL, 0,
                         e->cfg.random, e->cfg.random_user) != PL_OK) {
        pl_dg_conn_fail(c, PL_ERR_INTERNAL, "cannot start the Noise handshake");
        return;
    }
    uint8_t payload[32 + PL_DG_EARLY_MAX];
    memcpy(payload, e->id_pk, 32);
    memcpy(payload + 32, h->early, h->early_len);
    uint8_t *q = h->last;
    pl_wr w = pl_wr_init(q, INIT_HDR);
    pl_wr_u8(&w, T_INITIATE);
    pl_wr_u8(&w, PL_DG_VERSION);
    pl_wr_bytes(&w, c->icid, 8);
    pl_wr_bytes(&w, h->hello_digest, 32);
    pl_wr_u8(&w, bits);
    pl_wr_bytes(&w, semi_pub, 32);
    pl_wr_bytes(&w, cookie, PL_DG_COOKIE_LEN);
    pl_wr_u64(&w, nonce);
    size_t n = 0;
    e->st.pk_ops += 2; /* es, ss */
    if (pl_wr_result(&w) < 0 || pl_noise_hs_write(&hs, payload, 32 + h->early_len, q + INIT_HDR,
                                                  sizeof h->last - INIT_HDR, &n) != PL_OK) {
        pl_noise_hs_wipe(&hs);
        pl_dg_conn_fail(c, PL_ERR_INTERNAL, "cannot write INITIATE");
        return;
    }
    h->hs = hs;
    h->has_hs = true;
    pl_noise_hs_wipe(&hs);
    h->last_len = INIT_HDR + n;
    c->state = C_INITIATE;
    h->tries = 0;
    h->init_tries = 0;
    h->initiate_at = now_ms;
    h->retry_at = now_ms + PL_DG_RETRY_MS;
    pl_dg_queue_out(e, &c->addr, h->last, h->last_len);
}

static void on_accept(pl_dg_engine *e, uint64_t now_ms, const pl_dg_addr *from, const uint8_t *p,
                      size_t len)
{
    if (len < ACCEPT_HDR) {
        e->st.rx_dropped++;
        return;
    }
    pl_dg_conn *c = find_initiator(e, p + 1, from);
    if (!c || c->state != C_INITIATE || !c->ihs || !c->ihs->has_hs) {
        e->st.rx_dropped++; /* late duplicate or stranger */
        return;
    }
    struct ihs *h = c->ihs;
    uint8_t reply[PL_DG_PACKET_MAX];
    size_t n = 0;
    pl_noise_hs try = h->hs; /* a forged ACCEPT must not spoil the real one */
    e->st.pk_ops += 2;       /* ee, se */
    if (pl_noise_hs_read(&try, p + ACCEPT_HDR, len - ACCEPT_HDR, reply, sizeof reply, &n) !=
        PL_OK) {
        pl_noise_hs_wipe(&try);
        e->st.rx_dropped++;
        return;
    }
    if (n < 1 + PL_DG_CID_LEN || reply[0] > ACCEPT_FULL) {
        /* authentic but malformed: the peer is broken */
        pl_noise_hs_wipe(&try);
        pl_dg_conn_fail(c, PL_ERR_PARSE, "the peer's ACCEPT is malformed");
    } else if (reply[0] == ACCEPT_REFUSED) {
        pl_noise_hs_wipe(&try);
        pl_dg_conn_fail(c, PL_ERR_REFUSED, "the peer does not trust us");
    } else if (reply[0] == ACCEPT_FULL) {
        pl_noise_hs_wipe(&try);
        pl_dg_conn_fail(c, PL_ERR_REFUSED, "the peer has no room for another connection");
    } else {
        memcpy(c->rcid, reply + 1, PL_DG_CID_LEN);
        /* one RTT sample when INITIATE went once (Karn) */
        uint64_t rtt = h->init_tries == 0 && now_ms >= h->initiate_at ? now_ms - h->initiate_at : 0;
        established(c, c, &try, reply + 1 + PL_DG_CID_LEN, n - 1 - PL_DG_CID_LEN, now_ms, rtt);
        pl_noise_hs_wipe(&try);
    }
    pl_dg_conn_touch(c); /* the handshake state goes */
}
/* ---- responder ------------------------------------------------------------ */

/* The application's rendezvous attempt at `from`, not past COOKIE yet. */
static pl_dg_conn *find_rendezvous(pl_dg_engine *e, const pl_dg_addr *from)
{
    for (pl_dg_conn *c = e->rendezvous; c; c = c->ihs->rv_next)
        if (c->initiator && c->rendezvous && addr_eq(&c->addr, from) &&
            (c->state == C_HELLO || c->state == C_WORK || c->state == C_YIELDED))
            return c;
    return NULL;
}

static void on_hello(pl_dg_engine *e, uint64_t now_ms, const pl_dg_addr *from, const uint8_t *p,
                     size_t len)
{
    uint8_t ver, hint[8], icid[8];
    uint64_t tiebreak;
    e->st.hellos++;
    if (len < PL_DG_HELLO_MIN) { /* too short to be answered: no amplification */
        e->st.rx_dropped++;
        return;
    }
    pl_rd r = pl_rd_init(p, 1 + 1 + 8 + 8 + 8);
    (void)pl_rd_u8(&r); /* the type, known */
    ver = pl_rd_u8(&r);
    tiebreak = pl_rd_u64(&r);
    pl_rd_copy(&r, hint, 8);
    pl_rd_copy(&r, icid, 8);
    if (!pl_rd_finish(&r) || ver != PL_DG_VERSION || memcmp(hint, e->self.digest, 8) != 0) {
        e->st.rx_dropped++;
        return;
    }
    /* Both sides said HELLO at once (DESIGN.md §2.4)? */
    pl_dg_conn *mine = tiebreak ? find_rendezvous(e, from) : NULL;
    if (mine) {
        switch (pl_stls_tiebreak_decide(mine->ihs->tiebreak, tiebreak)) {
        case PL_STLS_CLIENT: return; /* we stay initiator: the peer answers ours */
        case PL_STLS_SERVER:
            mine->state = C_YIELDED;
            pl_dg_conn_touch(mine);
            break;
        default:
            pl_dg_conn_fail(mine, PL_ERR_ROLE, "equal tie-breakers: the roles cannot be settled");
            pl_dg_conn_touch(mine);
            return;
        }
    }
    uint64_t t = now_s(e, now_ms);
    semi_rotate(e, t);
    if (pl_dg_cookie_rotate(&e->ck, t, e->cfg.random, e->cfg.random_user) != PL_OK)
        return;
    uint8_t digest[32], bind[32], cookie[PL_DG_COOKIE_LEN];
    uint8_t bits = (uint8_t)difficulty_for(e, from, now_ms);
    hash32(digest, p, len, NULL, 0, NULL, 0);
    cookie_bind(bind, digest, bits, e->semi[0].kp.pub, icid);
    if (pl_dg_cookie_make(&e->ck, from->b, from->len, bind, cookie) != PL_OK)
        return;
    uint8_t out[COOKIE_SIZE];
    pl_wr w = pl_wr_init(out, sizeof out);
    pl_wr_u8(&w, T_COOKIE);
    pl_wr_u8(&w, PL_DG_VERSION);
    pl_wr_bytes(&w, icid, 8);
    pl_wr_bytes(&w, e->id_pk, 32);
    pl_wr_bytes(&w, e->semi[0].kp.pub, 32);
    pl_wr_u64(&w, e->semi[0].expiry);
    pl_wr_bytes(&w, e->semi[0].sig, 64);
    pl_wr_u8(&w, bits);
    pl_wr_bytes(&w, cookie, sizeof cookie);
    if (pl_wr_result(&w) != (int)sizeof out)
        return;
    e->st.cookies_sent++;
    charge(e, from, PL_DG_COST_COOKIE, now_ms);
    pl_dg_queue_out(e, from, out, sizeof out);
}

/* The application's rendezvous conn takes over the responder conn made for
 * the same peer: its pointer stays the one the application holds. resp
 * is out of the tables already; mine takes its keys. */
static void adopt(pl_dg_conn *mine, pl_dg_conn *resp)
{
    pl_dg_engine *e = mine->e;
    tab_del(e, &e->by_icid, mine);
    mine->initiator = false;
    memcpy(mine->icid, resp->icid, PL_DG_CID_LEN);
    memcpy(mine->rcid, resp->rcid, PL_DG_CID_LEN);
    pl_dg_aead_move(&mine->tx, &resp->tx);
    pl_dg_aead_move(&mine->rx, &resp->rx);
    mine->replay = resp->replay;
    mine->next_pn = resp->next_pn;
    mine->racc = resp->racc;
    resp->racc = NULL;
    mine->state = C_ESTABLISHED;
    tab_put(e, &e->by_icid, mine);
    tab_put(e, &e->by_rcid, mine);
    if (mine->racc)
        tab_put(e, &e->by_addr, mine);
}

/* An authenticated ACCEPT that makes no connection (status: refused or
 * full), from the Noise state that read the INITIATE. */
static bool refuse(pl_dg_engine *e, pl_noise_hs *hs, const uint8_t icid[PL_DG_CID_LEN],
                   const pl_dg_addr *from, uint8_t status)
{
    uint8_t out[ACCEPT_HDR + 32 + 1 + PL_DG_CID_LEN + PL_DG_TAGLEN], body[1 + PL_DG_CID_LEN];
    size_t m = 0;
    memset(body, 0, sizeof body);
    body[0] = status;
    out[0] = T_ACCEPT;
    memcpy(out + 1, icid, PL_DG_CID_LEN);
    e->st.pk_ops += 2; /* ee, se */
    if (pl_noise_hs_write(hs, body, sizeof body, out + ACCEPT_HDR, sizeof out - ACCEPT_HDR, &m) !=
        PL_OK)
        return false;
    pl_dg_queue_out(e, from, out, ACCEPT_HDR + m);
    return true;
}

static bool is_live_responder_at(const pl_dg_conn *c, const void *from)
{
    return !c->initiator && c->state != C_FAILED && addr_eq(&c->addr, from);
}

static void on_initiate(pl_dg_engine *e, uint64_t now_ms, const pl_dg_addr *from, const uint8_t *p,
                        size_t len)
{
    uint8_t ver, icid[8], hello_digest[32], bits, semi_pub[32], cookie[PL_DG_COOKIE_LEN];
    uint64_t nonce;
    e->st.initiates++;
    if (len < INIT_HDR) {
        e->st.rx_dropped++;
        return;
    }
    pl_rd r = pl_rd_init(p, INIT_HDR);
    (void)pl_rd_u8(&r); /* the type, known */
    ver = pl_rd_u8(&r);
    pl_rd_copy(&r, icid, 8);
    pl_rd_copy(&r, hello_digest, 32);
    bits = pl_rd_u8(&r);
    pl_rd_copy(&r, semi_pub, 32);
    pl_rd_copy(&r, cookie, sizeof cookie);
    nonce = pl_rd_u64(&r);
    if (!pl_rd_finish(&r) || ver != PL_DG_VERSION || bits > PL_DG_POW_MAX) {
        e->st.rx_dropped++;
        return;
    }
    uint8_t digest[32];
    hash32(digest, p, len, NULL, 0, NULL, 0);
    /* A retransmission of the INITIATE that made a connection: the same
     * ACCEPT again (until the initiator's DATA shows it has it), nothing
     * new. */
    pl_dg_conn *dup = find(e, &e->by_icid, icid, PL_DG_CID_LEN, is_live_responder_at, from);
    if (dup) {
        charge(e, from, PL_DG_COST_CHEAP, now_ms);
        if (dup->racc && sodium_memcmp(dup->racc->initiate_digest, digest, 32) == 0) {
            e->st.resent_accepts++;
            pl_dg_queue_out(e, from, dup->racc->pkt, dup->racc->len);
        } else {
            e->st.rx_dropped++;
        }
        return;
    }
    uint64_t t = now_s(e, now_ms);
    if (pl_dg_cookie_rotate(&e->ck, t, e->cfg.random, e->cfg.random_user) != PL_OK)
        return;
    uint8_t bind[32];
    cookie_bind(bind, hello_digest, bits, semi_pub, icid);
    int rc = pl_dg_cookie_check(&e->ck, from->b, from->len, bind, cookie);
    if (rc == PL_ERR_EXPIRED) {
        e->st.stale_cookie++;
        charge(e, from, PL_DG_COST_CHEAP, now_ms);
        return;
    }
    if (rc != PL_OK) {
        e->st.bad_cookie++;
        charge(e, from, PL_DG_COST_CHEAP, now_ms);
        return;
    }
    if (pl_dg_used_has(&e->used, cookie)) {
        e->st.reused_cookie++;
        charge(e, from, PL_DG_COST_CHEAP, now_ms);
        return;
    }
    if (!pl_dg_pow_ok(cookie, bind, nonce, bits)) {
        e->st.no_work++;
        charge(e, from, PL_DG_COST_CHEAP, now_ms);
        return;
    }
    const struct semi *semi = semi_find(e, semi_pub, t);
    if (!semi || pl_dg_used_add(&e->used, cookie) != PL_OK) {
        e->st.stale_cookie++;
        charge(e, from, PL_DG_COST_CHEAP, now_ms);
        return;
    }
    /* Only now: public-key operations. */
    pl_dg_load_note(&e->load, now_ms);
    charge(e, from, PL_DG_COST_PK, now_ms);
    pl_noise_hs hs;
    uint8_t pro[PROLOGUE_LEN], payload[PL_DG_PACKET_MAX];
    size_t n = 0;
    prologue(pro, hello_digest, bits, semi_pub, cookie);
    if (pl_noise_hs_init(&hs, NOISE_IK, false, pro, sizeof pro, semi->kp.priv, NULL, NULL, 0,
                         e->cfg.random, e->cfg.random_user) != PL_OK)
        return;
    e->st.pk_ops += 2; /* es, ss */
    if (pl_noise_hs_read(&hs, p + INIT_HDR, len - INIT_HDR, payload, sizeof payload, &n) != PL_OK ||
        n < 32) {
        pl_noise_hs_wipe(&hs);
        e->st.rx_dropped++;
        return;
    }
    /* The payload names the identity whose X25519 form is the Noise static. */
    uint8_t rs[32], xs[32];
    pl_fingerprint fp;
    if (pl_noise_hs_remote_static(&hs, rs) != PL_OK || pl_ed25519_check_key(payload) != PL_OK ||
        crypto_sign_ed25519_pk_to_curve25519(xs, payload) != 0 || sodium_memcmp(xs, rs, 32) != 0 ||
        pl_fingerprint_from_key(&fp, payload, NULL) != PL_OK) {
        pl_noise_hs_wipe(&hs);
        e->st.rx_dropped++;
        return;
    }
    pl_dg_conn *mine = find_rendezvous(e, from);
    if (mine && !peer_is(mine, &fp))
        mine = NULL;
    if (!mine) {
        if (!e->cfg.trust || pl_trust_check(e->cfg.trust, &fp, t) != PL_TRUST_ALLOWED) {
            /* Say so, authenticated, and keep nothing: the initiator paid
             * for this with its proof of work, and a clear refusal beats a
             * timeout. Its cookie is spent, so a copy gets nothing. */
            e->st.untrusted++;
            if (refuse(e, &hs, icid, from, ACCEPT_REFUSED))
                e->st.refusals++;
            pl_dg_event *ev = pl_dg_push_event(e, PL_DG_EV_REFUSED, NULL);
            ev->err = PL_ERR_UNTRUSTED;
            ev->peer = fp;
            ev->addr = *from;
            pl_noise_hs_wipe(&hs);
            return;
        }
        if (conns_full(e)) {
            /* No room: say that too (a rendezvous conn needs none: it
             * takes over the one made here). */
            if (refuse(e, &hs, icid, from, ACCEPT_FULL))
                e->st.full++;
            pl_noise_hs_wipe(&hs);
            return;
        }
    }
    pl_dg_conn *c = conn_new(e, from);
    if (!c) {
        pl_noise_hs_wipe(&hs);
        e->st.rx_dropped++;
        return;
    }
    c->initiator = false;
    (void)set_peer(c, &fp); /* no authority: nothing to allocate */
    memcpy(c->icid, icid, PL_DG_CID_LEN);
    tab_put(e, &e->by_icid, c);
    const uint8_t *reply = mine ? mine->ihs->early : e->reply;
    size_t rlen = mine ? mine->ihs->early_len : e->reply_len;
    if (pl_dg_draw(e, c->rcid, 8) != PL_OK) {
        pl_noise_hs_wipe(&hs);
        conn_free(c); /* never handed out */
        return;
    }
    tab_put(e, &e->by_rcid, c);
    uint8_t q[HS_PKT_MAX], body[1 + PL_DG_CID_LEN + PL_DG_EARLY_MAX];
    q[0] = T_ACCEPT;
    memcpy(q + 1, icid, 8);
    body[0] = ACCEPT_OK;
    memcpy(body + 1, c->rcid, PL_DG_CID_LEN); /* inside the encryption: authenticated */
    memcpy(body + 1 + PL_DG_CID_LEN, reply, rlen);
    size_t m = 0;
    e->st.pk_ops += 2; /* ee, se */
    if (pl_noise_hs_write(&hs, body, 1 + PL_DG_CID_LEN + rlen, q + ACCEPT_HDR,
                          sizeof q - ACCEPT_HDR, &m) != PL_OK ||
        !(c->racc = malloc(sizeof *c->racc + ACCEPT_HDR + m))) {
        pl_noise_hs_wipe(&hs);
        conn_free(c);
        return;
    }
    memcpy(c->racc->initiate_digest, digest, 32);
    c->racc->len = ACCEPT_HDR + m;
    memcpy(c->racc->pkt, q, c->racc->len);
    tab_put(e, &e->by_addr, c);
    e->st.accepts_sent++;
    pl_dg_queue_out(e, from, c->racc->pkt, c->racc->len);
    /* A newer handshake from the same peer at the same address replaces an
     * older connection that the peer never used (its ACCEPT was lost and
     * the peer started again). Collected first: failing them changes the
     * table. */
    pl_dg_conn *old = NULL;
    uint8_t akey[1 + sizeof from->b];
    akey[0] = from->len;
    memcpy(akey + 1, from->b, from->len);
    size_t pos = tab_start(e, &e->by_addr, akey, 1u + from->len);
    for (pl_dg_conn *o; (o = tab_next(&e->by_addr, akey, 1u + from->len, &pos));)
        if (o != c && !o->initiator && o->state == C_ESTABLISHED && !o->confirmed &&
            addr_eq(&o->addr, from) && peer_is(o, &fp)) {
            o->due = old;
            old = o;
        }
    for (old = due_sort(old); old;) {
        pl_dg_conn *o = old;
        old = old->due;
        pl_dg_conn_fail(o, PL_ERR_IO, "superseded by a newer handshake from the same peer");
        pl_dg_conn_touch(o);
    }
    /* rendezvous: the application's conn takes over, and the event names it */
    established(c, mine ? mine : c, &hs, payload + 32, n - 32, now_ms, 0);
    pl_noise_hs_wipe(&hs);
    if (mine) {
        tab_del(e, &e->by_icid, c);
        tab_del(e, &e->by_rcid, c);
        tab_del(e, &e->by_addr, c);
        adopt(mine, c);
        conn_free(c); /* never handed out */
    }
    pl_dg_conn_touch(mine ? mine : c);
}

/* ---- data ------------------------------------------------------------------ */

static bool takes_data(const pl_dg_conn *c, const void *initiator)
{
    return c->initiator == *(const bool *)initiator &&
           (c->state == C_ESTABLISHED || c->state == C_CLOSED);
}

/* The connection a DATA packet names: an initiator's icid or a
 * responder's rcid (the newest, should two share one). */
static pl_dg_conn *find_by_dcid(pl_dg_engine *e, const uint8_t *dcid)
{
    static const bool yes = true, no = false;
    pl_dg_conn *a = find(e, &e->by_icid, dcid, PL_DG_CID_LEN, takes_data, &yes);
    pl_dg_conn *b = find(e, &e->by_rcid, dcid, PL_DG_CID_LEN, takes_data, &no);
    return a && b ? (a->seq > b->seq ? a : b) : a ? a : b;
}

static void on_data(pl_dg_engine *e, uint64_t now_ms, const pl_dg_addr *from, const uint8_t *p,
                    size_t len)
{
    if (len < 1 + PL_DG_CID_LEN + 1 + PL_DG_TAGLEN || len > PL_DG_PACKET_MAX) {
        e->st.rx_dropped++;
        return;
    }
    pl_dg_conn *c = find_by_dcid(e, p + 1);
    if (!c) {
        e->st.rx_dropped++;
        return;
    }
    uint64_t pn = 0;
    size_t hdr = 1 + PL_DG_CID_LEN;
    int k = pl_dg_pn_decode(p + hdr, len - hdr, c->replay.largest, &pn);
    if (k < 0 || !pl_dg_replay_fresh(&c->replay, pn)) {
        e->st.rx_dropped++;
        return;
    }
    hdr += (size_t)k;
    if (len - hdr < PL_DG_TAGLEN) {
        e->st.rx_dropped++;
        return;
    }
    uint8_t pt[PL_DG_PACKET_MAX];
    if (pl_dg_open(&c->rx, pn, p, hdr, p + hdr, len - hdr, pt) != PL_OK) {
        e->st.rx_dropped++;
        return;
    }
    if (len - hdr >= PL_DG_EVP_MIN + PL_DG_TAGLEN)
        pl_dg_aead_warm(&c->rx); /* (an authenticated full packet: traffic flows) */
    bool newest = c->replay.largest == PL_DG_PN_NONE || pn > c->replay.largest;
    pl_dg_replay_mark(&c->replay, pn);
    if (!c->confirmed) {
        c->confirmed = true;
        racc_free(c); /* before the address may move */
    }
    e->st.data_rx++;
    pl_dg_rel_input(c, now_ms, pn, newest, from, pt, len - hdr - PL_DG_TAGLEN);
    pl_dg_conn_touch(c);
}

int pl_dg_seal_packet(pl_dg_conn *c, const uint8_t *pt, size_t len, uint8_t *out, uint64_t *pn)
{
    size_t hdr = 1 + PL_DG_CID_LEN;
    out[0] = T_DATA;
    memcpy(out + 1, c->initiator ? c->rcid : c->icid, PL_DG_CID_LEN);
    int k = pl_dg_pn_encode(c->next_pn, c->rel.largest_acked, out + hdr, PL_DG_PN_BYTES);
    if (k < 0)
        return k;
    hdr += (size_t)k;
    if (hdr + len + PL_DG_TAGLEN > PL_DG_PACKET_MAX)
        return PL_ERR_TOOBIG;
    if (len >= PL_DG_EVP_MIN)
        pl_dg_aead_warm(&c->tx);
    int rc = pl_dg_seal(&c->tx, c->next_pn, out, hdr, pt, len, out + hdr);
    if (rc != PL_OK)
        return rc;
    *pn = c->next_pn++;
    c->e->st.data_tx++;
    return (int)(hdr + len + PL_DG_TAGLEN);
}

/* ---- the outside -------------------------------------------------------- */

void pl_dg_input(pl_dg_engine *e, uint64_t now_ms, const pl_dg_addr *from, const uint8_t *pkt,
                 size_t len)
{
    if (!e || !from || !pkt || len == 0 || from->len == 0 || from->len > sizeof from->b)
        return;
    (void)now_s(e, now_ms);
    e->st.rx++;
    switch (pkt[0]) {
    case T_HELLO: on_hello(e, now_ms, from, pkt, len); break;
    case T_COOKIE: on_cookie(e, now_ms, from, pkt, len); break;
    case T_INITIATE: on_initiate(e, now_ms, from, pkt, len); break;
    case T_ACCEPT: on_accept(e, now_ms, from, pkt, len); break;
    case T_DATA: on_data(e, now_ms, from, pkt, len); break;
    default: e->st.rx_dropped++; break;
    }
}

/* The handshake's timers of an initiator. */
static void hs_timer(pl_dg_conn *c, uint64_t now_ms)
{
    pl_dg_engine *e = c->e;
    struct ihs *h = c->ihs;
    if (!c->initiator || !h || !handshaking(c))
        return;
    if (now_ms >= h->give_up_at) {
        pl_dg_conn_fail(c, h->too_hard ? PL_ERR_TOOBIG : PL_ERR_UNREACHABLE,
                        h->too_hard ? "the peer asks for more proof of work than we do"
                                    : "no answer from the peer in time");
        return;
    }
    if (c->state == C_WORK) {
        work(c, now_ms);
        return;
    }
    if (c->state == C_YIELDED || now_ms < h->retry_at)
        return;
    h->tries++;
    if (c->state == C_INITIATE && ++h->init_tries >= INIT_TRIES) {
        /* start again, as a new attempt: the cookie may be stale, and
         * a half-open connection may hold the old id at the peer */
        tab_del(e, &e->by_icid, c);
        int rc = pl_dg_draw(e, c->icid, sizeof c->icid);
        tab_put(e, &e->by_icid, c);
        if (rc != PL_OK || send_hello(c, now_ms) != PL_OK)
            pl_dg_conn_fail(c, PL_ERR_INTERNAL, "cannot start the handshake again");
        return;
    }
    pl_dg_queue_out(e, &c->addr, h->last, h->last_len);
    /* 250, 375, 562, ... ms, at most a second: a lost packet costs
     * little time, a dead peer few packets */
    uint64_t wait = PL_DG_RETRY_MS;
    for (unsigned i = 0; i < h->tries && wait < 1000; i++)
        wait = wait * 3 / 2;
    h->retry_at = now_ms + (wait < 1000 ? wait : 1000);
}

/* Only the connections whose deadline has come: the others' timers would
 * find nothing to do. They go newest first, as they always have. */
void pl_dg_timer(pl_dg_engine *e, uint64_t now_ms)
{
    (void)now_s(e, now_ms);
    pl_dg_conn *list = NULL;
    heap_due(e, 0, now_ms, &list);
    for (list = due_sort(list); list;) {
        pl_dg_conn *c = list;
        list = list->due;
        pl_dg_rel_timer(c, now_ms);
        hs_timer(c, now_ms);
        pl_dg_conn_touch(c);
    }
}

uint64_t pl_dg_deadline(const pl_dg_engine *e)
{
    return e->nconns ? e->heap[0]->when : UINT64_MAX;
}

int pl_dg_output(pl_dg_engine *e, pl_dg_addr *to, uint8_t *buf, size_t cap)
{
    if (e->oq_len == 0) {
        /* acknowledgements and fragments, made now: one connection after
         * another (a sender goes to the back), so none starves the rest */
        promote(e);
        pl_dg_conn *c;
        while ((c = e->rd_head)) {
            int n = pl_dg_rel_output(c, e->now_ms, buf, cap);
            if (n < 0)
                return n;
            settle(c);
            if (n > 0) {
                *to = c->addr;
                ready_del(e, c);
                ready_add(e, c);
                return n;
            }
            ready_del(e, c); /* nothing more until something happens to it */
        }
        return 0;
    }
    struct outq_item *it = &e->outq[e->oq_head];
    if (it->len > cap)
        return PL_ERR_BUFSIZE;
    *to = it->to;
    memcpy(buf, it->data, it->len);
    e->oq_head = (e->oq_head + 1) % PL_DG_OUTQ_MAX;
    e->oq_len--;
    return (int)it->len;
}

bool pl_dg_event_next(pl_dg_engine *e, pl_dg_event *ev)
{
    if (e->ev_len == 0)
        return false;
    *ev = e->evq[e->ev_head].ev;
    e->evq[e->ev_head].ev.msg = NULL; /* the caller owns it now */
    e->ev_head = (e->ev_head + 1) % EVQ_MAX;
    e->ev_len--;
    if (e->deliver_blocked && e->ev_len < EVQ_DELIVER / 2) {
        e->deliver_blocked = false;
        /* (every connection: rare, only after the queue was full) */
        pl_dg_conn *list = NULL;
        for (size_t i = 0; i < e->nconns; i++) {
            e->heap[i]->due = list;
            list = e->heap[i];
        }
        for (list = due_sort(list); list;) {
            pl_dg_conn *c = list;
            list = list->due;
            if (c->state == C_ESTABLISHED) {
                pl_dg_rel_deliver(c);
                pl_dg_conn_touch(c);
            }
        }
    }
    return true;
}

void pl_dg_conn_close(pl_dg_conn *c)
{
    if (c)
        conn_free(c);
}

bool pl_dg_conn_initiator(const pl_dg_conn *c)
{
    return c->initiator;
}

void pl_dg_conn_set_user(pl_dg_conn *c, void *user)
{
    c->user = user;
}

void *pl_dg_conn_user(const pl_dg_conn *c)
{
    return c->user;
}

const pl_dg_addr *pl_dg_conn_addr(const pl_dg_conn *c)
{
    return &c->addr;
}

int pl_dg_conn_peer(const pl_dg_conn *c, pl_fingerprint *fp)
{
    if (!c->has_peer)
        return PL_ERR_NOTFOUND;
    memset(fp, 0, sizeof *fp);
    memcpy(fp->digest, c->peer, sizeof fp->digest);
    if (c->peer_authority)
        memcpy(fp->authority, c->peer_authority, strlen(c->peer_authority) + 1);
    return PL_OK;
}

void pl_dg_stats_get(const pl_dg_engine *e, pl_dg_stats *out)
{
    *out = e->st;
}

unsigned pl_dg_difficulty(pl_dg_engine *e, uint64_t now_ms)
{
    return difficulty(e, now_ms);
}

unsigned pl_dg_difficulty_for(pl_dg_engine *e, const pl_dg_addr *from, uint64_t now_ms)
{
    return difficulty_for(e, from, now_ms);
}

void pl_dg_force_difficulty(pl_dg_engine *e, unsigned bits)
{
    e->forced_bits = bits > PL_DG_POW_MAX && bits != UINT_MAX ? PL_DG_POW_MAX : bits;
}
