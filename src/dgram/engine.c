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
    pl_dg_aead_init(a, out, out + 32);
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

/* ---- engine ------------------------------------------------------------- */

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

void pl_dg_free(pl_dg_engine *e)
{
    if (!e)
        return;
    while (e->conns) {
        pl_dg_conn *c = e->conns;
        e->conns = c->next;
        pl_dg_rel_free(c);
        if (c->hs) {
            pl_noise_hs_wipe(c->hs);
            free(c->hs);
        }
        sodium_memzero(c, sizeof *c);
        free(c);
    }
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

static pl_dg_conn *conn_new(pl_dg_engine *e, const pl_dg_addr *addr)
{
    if (e->nconns >= PL_DG_CONNS_MAX)
        return NULL;
    pl_dg_conn *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    c->e = e;
    c->addr = *addr;
    pl_dg_rel_init(c);
    c->next = e->conns;
    e->conns = c;
    e->nconns++;
    return c;
}

/* ---- initiator ------------------------------------------------------------ */

static int send_hello(pl_dg_conn *c, uint64_t now_ms)
{
    pl_dg_engine *e = c->e;
    uint8_t *p = c->last;
    memset(p, 0, PL_DG_HELLO_MIN);
    pl_wr w = pl_wr_init(p, PL_DG_HELLO_MIN);
    pl_wr_u8(&w, T_HELLO);
    pl_wr_u8(&w, PL_DG_VERSION);
    pl_wr_u64(&w, c->tiebreak);
    pl_wr_bytes(&w, c->peer.digest, 8); /* which of the node's identities */
    pl_wr_bytes(&w, c->icid, PL_DG_CID_LEN);
    if (pl_wr_result(&w) < 0)
        return PL_ERR_INTERNAL;
    c->last_len = PL_DG_HELLO_MIN;
    hash32(c->hello_digest, p, PL_DG_HELLO_MIN, NULL, 0, NULL, 0);
    c->state = C_HELLO;
    c->retry_at = now_ms + PL_DG_RETRY_MS;
    c->tries = 0;
    pl_dg_queue_out(e, &c->addr, p, c->last_len);
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
    pl_dg_conn *c = conn_new(e, to);
    if (!c)
        return PL_ERR_NOMEM;
    c->initiator = true;
    c->rendezvous = rendezvous;
    c->peer = *peer;
    c->has_peer = true;
    c->early_len = len;
    if (len)
        memcpy(c->early, early, len);
    int rc = pl_dg_draw(e, c->icid, sizeof c->icid);
    if (rc == PL_OK && rendezvous)
        rc = pl_stls_tiebreak_draw(e->cfg.random, e->cfg.random_user, &c->tiebreak);
    if (rc == PL_OK)
        rc = send_hello(c, now_ms);
    if (rc != PL_OK)
        return rc; /* the conn stays in the list; freed with the engine */
    c->give_up_at = now_ms + PL_DG_HANDSHAKE_MS;
    *out = c;
    return PL_OK;
}

static pl_dg_conn *find_initiator(pl_dg_engine *e, const uint8_t icid[PL_DG_CID_LEN],
                                  const pl_dg_addr *from)
{
    for (pl_dg_conn *c = e->conns; c; c = c->next)
        if (c->initiator && memcmp(c->icid, icid, PL_DG_CID_LEN) == 0 && addr_eq(&c->addr, from))
            return c;
    return NULL;
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
    /* Is it the node we want? Its identity key, its signature on the
     * semi-static key, the key's validity. */
    pl_fingerprint fp;
    uint8_t msg[sizeof SEMI_LABEL + 32 + 8];
    pl_wr w = pl_wr_init(msg, sizeof msg);
    pl_wr_bytes(&w, (const uint8_t *)SEMI_LABEL, sizeof SEMI_LABEL);
    pl_wr_bytes(&w, semi_pub, 32);
    pl_wr_u64(&w, expiry);
    if (pl_fingerprint_from_key(&fp, idk, NULL) != PL_OK || !pl_fingerprint_equal(&fp, &c->peer) ||
        pl_wr_result(&w) < 0 || pl_ed25519_verify(sig, msg, sizeof msg, idk) != PL_OK ||
        expiry <= now_s(e, now_ms)) {
        e->st.rx_dropped++; /* a forgery or a stranger: keep waiting for the real one */
        return;
    }
    /* The difficulty is not signed (a COOKIE is stateless): never let one
     * packet make us work more than we chose to. */
    if (bits > PL_DG_POW_ACCEPT_MAX) {
        e->st.rx_dropped++;
        c->too_hard = true;
        return;
    }
    struct work *wk = &c->work;
    wk->bits = bits;
    memcpy(wk->semi, semi_pub, 32);
    memcpy(wk->cookie, cookie, sizeof cookie);
    cookie_bind(wk->bind, c->hello_digest, bits, semi_pub, c->icid);
    wk->tried = 0;
    if (pl_dg_draw(e, (uint8_t *)&wk->next, sizeof wk->next) != PL_OK) {
        pl_dg_conn_fail(c, PL_ERR_INTERNAL, "no randomness");
        return;
    }
    c->state = C_WORK;
    work(c, now_ms);
}

/* Solve the proof of work a slice at a time, so an event loop driving the
 * engine stays responsive; the deadline is "now" until it is done. */
static void work(pl_dg_conn *c, uint64_t now_ms)
{
    struct work *w = &c->work;
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
    const struct work *wk = &c->work;
    uint8_t bits = wk->bits;
    const uint8_t *semi_pub = wk->semi, *cookie = wk->cookie;
    pl_noise_hs hs;
    uint8_t pro[PROLOGUE_LEN];
    prologue(pro, c->hello_digest, bits, semi_pub, cookie);
    if (pl_noise_hs_init(&hs, NOISE_IK, true, pro, sizeof pro, e->xstatic.priv, semi_pub, NULL, 0,
                         e->cfg.random, e->cfg.random_user) != PL_OK) {
        pl_dg_conn_fail(c, PL_ERR_INTERNAL, "cannot start the Noise handshake");
        return;
    }
    uint8_t payload[32 + PL_DG_EARLY_MAX];
    memcpy(payload, e->id_pk, 32);
    memcpy(payload + 32, c->early, c->early_len);
    uint8_t *q = c->last;
    pl_wr h = pl_wr_init(q, INIT_HDR);
    pl_wr_u8(&h, T_INITIATE);
    pl_wr_u8(&h, PL_DG_VERSION);
    pl_wr_bytes(&h, c->icid, 8);
    pl_wr_bytes(&h, c->hello_digest, 32);
    pl_wr_u8(&h, bits);
    pl_wr_bytes(&h, semi_pub, 32);
    pl_wr_bytes(&h, cookie, PL_DG_COOKIE_LEN);
    pl_wr_u64(&h, nonce);
    size_t n = 0;
    e->st.pk_ops += 2; /* es, ss */
    if (pl_wr_result(&h) < 0 || pl_noise_hs_write(&hs, payload, 32 + c->early_len, q + INIT_HDR,
                                                  sizeof c->last - INIT_HDR, &n) != PL_OK) {
        pl_noise_hs_wipe(&hs);
        pl_dg_conn_fail(c, PL_ERR_INTERNAL, "cannot write INITIATE");
        return;
    }
    pl_noise_hs *keep = malloc(sizeof *keep);
    if (!keep) {
        pl_noise_hs_wipe(&hs);
        pl_dg_conn_fail(c, PL_ERR_NOMEM, "out of memory");
        return;
    }
    *keep = hs;
    pl_noise_hs_wipe(&hs);
    if (c->hs) {
        pl_noise_hs_wipe(c->hs);
        free(c->hs);
    }
    c->hs = keep;
    c->last_len = INIT_HDR + n;
    c->state = C_INITIATE;
    c->tries = 0;
    c->init_tries = 0;
    c->initiate_at = now_ms;
    c->retry_at = now_ms + PL_DG_RETRY_MS;
    pl_dg_queue_out(e, &c->addr, c->last, c->last_len);
}

static void on_accept(pl_dg_engine *e, uint64_t now_ms, const pl_dg_addr *from, const uint8_t *p,
                      size_t len)
{
    if (len < ACCEPT_HDR) {
        e->st.rx_dropped++;
        return;
    }
    pl_dg_conn *c = find_initiator(e, p + 1, from);
    if (!c || c->state != C_INITIATE || !c->hs) {
        e->st.rx_dropped++; /* late duplicate or stranger */
        return;
    }
    uint8_t reply[PL_DG_PACKET_MAX];
    size_t n = 0;
    pl_noise_hs try = *c->hs; /* a forged ACCEPT must not spoil the real one */
    e->st.pk_ops += 2;        /* ee, se */
    if (pl_noise_hs_read(&try, p + ACCEPT_HDR, len - ACCEPT_HDR, reply, sizeof reply, &n) !=
        PL_OK) {
        pl_noise_hs_wipe(&try);
        e->st.rx_dropped++;
        return;
    }
    if (n < 1 + PL_DG_CID_LEN || reply[0] > ACCEPT_REFUSED) {
        /* authentic but malformed: the peer is broken */
        pl_noise_hs_wipe(&try);
        pl_dg_conn_fail(c, PL_ERR_PARSE, "the peer's ACCEPT is malformed");
        return;
    }
    if (reply[0] == ACCEPT_REFUSED) {
        pl_noise_hs_wipe(&try);
        pl_dg_conn_fail(c, PL_ERR_REFUSED, "the peer does not trust us");
        return;
    }
    memcpy(c->rcid, reply + 1, PL_DG_CID_LEN);
    /* one RTT sample when INITIATE went once (Karn) */
    uint64_t rtt = c->init_tries == 0 && now_ms >= c->initiate_at ? now_ms - c->initiate_at : 0;
    established(c, c, &try, reply + 1 + PL_DG_CID_LEN, n - 1 - PL_DG_CID_LEN, now_ms, rtt);
    pl_noise_hs_wipe(&try);
    pl_noise_hs_wipe(c->hs);
    free(c->hs);
    c->hs = NULL;
}

/* ---- responder ------------------------------------------------------------ */

static pl_dg_conn *find_rendezvous(pl_dg_engine *e, const pl_dg_addr *from)
{
    for (pl_dg_conn *c = e->conns; c; c = c->next)
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
        switch (pl_stls_tiebreak_decide(mine->tiebreak, tiebreak)) {
        case PL_STLS_CLIENT: return; /* we stay initiator: the peer answers ours */
        case PL_STLS_SERVER: mine->state = C_YIELDED; break;
        default:
            pl_dg_conn_fail(mine, PL_ERR_ROLE, "equal tie-breakers: the roles cannot be settled");
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
 * the same peer: its pointer stays the one the application holds. */
static void adopt(pl_dg_conn *mine, pl_dg_conn *resp)
{
    mine->initiator = false;
    memcpy(mine->icid, resp->icid, PL_DG_CID_LEN);
    memcpy(mine->rcid, resp->rcid, PL_DG_CID_LEN);
    mine->tx = resp->tx;
    mine->rx = resp->rx;
    mine->replay = resp->replay;
    mine->next_pn = resp->next_pn;
    memcpy(mine->last, resp->last, resp->last_len);
    mine->last_len = resp->last_len;
    memcpy(mine->initiate_digest, resp->initiate_digest, 32);
    mine->state = C_ESTABLISHED;
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
     * ACCEPT again, nothing new. */
    for (pl_dg_conn *c = e->conns; c; c = c->next) {
        if (!c->initiator && c->state != C_FAILED && memcmp(c->icid, icid, 8) == 0 &&
            addr_eq(&c->addr, from)) {
            charge(e, from, PL_DG_COST_CHEAP, now_ms);
            if (sodium_memcmp(c->initiate_digest, digest, 32) == 0) {
                e->st.resent_accepts++;
                pl_dg_queue_out(e, from, c->last, c->last_len);
            } else {
                e->st.rx_dropped++;
            }
            return;
        }
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
    if (mine && !pl_fingerprint_equal(&mine->peer, &fp))
        mine = NULL;
    if (!mine) {
        if (!e->cfg.trust || pl_trust_check(e->cfg.trust, &fp, t) != PL_TRUST_ALLOWED) {
            /* Say so, authenticated, and keep nothing: the initiator paid
             * for this with its proof of work, and a clear refusal beats a
             * timeout. Its cookie is spent, so a copy gets nothing. */
            uint8_t out[ACCEPT_HDR + 32 + 1 + PL_DG_CID_LEN + PL_DG_TAGLEN],
                body[1 + PL_DG_CID_LEN];
            size_t m = 0;
            memset(body, 0, sizeof body);
            body[0] = ACCEPT_REFUSED;
            out[0] = T_ACCEPT;
            memcpy(out + 1, icid, 8);
            e->st.untrusted++;
            e->st.pk_ops += 2; /* ee, se */
            if (pl_noise_hs_write(&hs, body, sizeof body, out + ACCEPT_HDR, sizeof out - ACCEPT_HDR,
                                  &m) == PL_OK) {
                e->st.refusals++;
                pl_dg_queue_out(e, from, out, ACCEPT_HDR + m);
            }
            pl_dg_event *ev = pl_dg_push_event(e, PL_DG_EV_REFUSED, NULL);
            ev->err = PL_ERR_UNTRUSTED;
            ev->peer = fp;
            ev->addr = *from;
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
    c->peer = fp;
    c->has_peer = true;
    memcpy(c->icid, icid, 8);
    memcpy(c->initiate_digest, digest, 32);
    const uint8_t *reply = mine ? mine->early : e->reply;
    size_t rlen = mine ? mine->early_len : e->reply_len;
    if (pl_dg_draw(e, c->rcid, 8) != PL_OK) {
        pl_noise_hs_wipe(&hs);
        pl_dg_conn_close(c); /* never handed out */
        return;
    }
    uint8_t *q = c->last, body[1 + PL_DG_CID_LEN + PL_DG_EARLY_MAX];
    q[0] = T_ACCEPT;
    memcpy(q + 1, icid, 8);
    body[0] = ACCEPT_OK;
    memcpy(body + 1, c->rcid, PL_DG_CID_LEN); /* inside the encryption: authenticated */
    memcpy(body + 1 + PL_DG_CID_LEN, reply, rlen);
    size_t m = 0;
    e->st.pk_ops += 2; /* ee, se */
    if (pl_noise_hs_write(&hs, body, 1 + PL_DG_CID_LEN + rlen, q + ACCEPT_HDR,
                          sizeof c->last - ACCEPT_HDR, &m) != PL_OK) {
        pl_noise_hs_wipe(&hs);
        pl_dg_conn_close(c);
        return;
    }
    c->last_len = ACCEPT_HDR + m;
    e->st.accepts_sent++;
    pl_dg_queue_out(e, from, c->last, c->last_len);
    /* A newer handshake from the same peer at the same address replaces an
     * older connection that the peer never used (its ACCEPT was lost and
     * the peer started again). */
    for (pl_dg_conn *o = e->conns; o; o = o->next)
        if (o != c && !o->initiator && o->state == C_ESTABLISHED && !o->confirmed &&
            addr_eq(&o->addr, from) && pl_fingerprint_equal(&o->peer, &fp))
            pl_dg_conn_fail(o, PL_ERR_IO, "superseded by a newer handshake from the same peer");
    /* rendezvous: the application's conn takes over, and the event names it */
    established(c, mine ? mine : c, &hs, payload + 32, n - 32, now_ms, 0);
    pl_noise_hs_wipe(&hs);
    if (mine) {
        adopt(mine, c);
        pl_dg_conn_close(c); /* never handed out */
    }
}

/* ---- data ------------------------------------------------------------------ */

static pl_dg_conn *find_by_dcid(pl_dg_engine *e, const uint8_t *dcid)
{
    for (pl_dg_conn *c = e->conns; c; c = c->next)
        if ((c->state == C_ESTABLISHED || c->state == C_CLOSED) &&
            memcmp(c->initiator ? c->icid : c->rcid, dcid, PL_DG_CID_LEN) == 0)
            return c;
    return NULL;
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
    bool newest = c->replay.largest == PL_DG_PN_NONE || pn > c->replay.largest;
    pl_dg_replay_mark(&c->replay, pn);
    c->confirmed = true;
    e->st.data_rx++;
    pl_dg_rel_input(c, now_ms, pn, newest, from, pt, len - hdr - PL_DG_TAGLEN);
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

void pl_dg_timer(pl_dg_engine *e, uint64_t now_ms)
{
    (void)now_s(e, now_ms);
    for (pl_dg_conn *c = e->conns; c; c = c->next) {
        pl_dg_rel_timer(c, now_ms);
        if (!c->initiator || (c->state != C_HELLO && c->state != C_WORK && c->state != C_INITIATE &&
                              c->state != C_YIELDED))
            continue;
        if (now_ms >= c->give_up_at) {
            pl_dg_conn_fail(c, c->too_hard ? PL_ERR_TOOBIG : PL_ERR_UNREACHABLE,
                            c->too_hard ? "the peer asks for more proof of work than we do"
                                        : "no answer from the peer in time");
            continue;
        }
        if (c->state == C_WORK) {
            work(c, now_ms);
            continue;
        }
        if (c->state == C_YIELDED || now_ms < c->retry_at)
            continue;
        c->tries++;
        if (c->state == C_INITIATE && ++c->init_tries >= INIT_TRIES) {
            /* start again, as a new attempt: the cookie may be stale, and
             * a half-open connection may hold the old id at the peer */
            if (pl_dg_draw(e, c->icid, sizeof c->icid) != PL_OK || send_hello(c, now_ms) != PL_OK)
                pl_dg_conn_fail(c, PL_ERR_INTERNAL, "cannot start the handshake again");
            continue;
        }
        pl_dg_queue_out(e, &c->addr, c->last, c->last_len);
        /* 250, 375, 562, ... ms, at most a second: a lost packet costs
         * little time, a dead peer few packets */
        uint64_t wait = PL_DG_RETRY_MS;
        for (unsigned i = 0; i < c->tries && wait < 1000; i++)
            wait = wait * 3 / 2;
        c->retry_at = now_ms + (wait < 1000 ? wait : 1000);
    }
}

uint64_t pl_dg_deadline(const pl_dg_engine *e)
{
    uint64_t d = UINT64_MAX;
    for (const pl_dg_conn *c = e->conns; c; c = c->next) {
        uint64_t r = pl_dg_rel_deadline(c);
        if (r < d)
            d = r;
        if (!c->initiator)
            continue;
        if (c->state == C_HELLO || c->state == C_INITIATE) {
            if (c->retry_at < d)
                d = c->retry_at;
        }
        if (c->state == C_WORK && e->now_ms < d)
            d = e->now_ms; /* more work to do at once */
        if ((c->state == C_HELLO || c->state == C_WORK || c->state == C_INITIATE ||
             c->state == C_YIELDED) &&
            c->give_up_at < d)
            d = c->give_up_at;
    }
    return d;
}

int pl_dg_output(pl_dg_engine *e, pl_dg_addr *to, uint8_t *buf, size_t cap)
{
    if (e->oq_len == 0) {
        /* acknowledgements and fragments, made now: one connection after
         * another, so none starves the rest */
        pl_dg_conn *start = e->tx_cursor ? e->tx_cursor : e->conns, *c = start;
        if (!c)
            return 0;
        do {
            int n = pl_dg_rel_output(c, e->now_ms, buf, cap);
            pl_dg_conn *next = c->next ? c->next : e->conns;
            if (n != 0) {
                if (n > 0) {
                    *to = c->addr;
                    e->tx_cursor = next;
                }
                return n;
            }
            c = next;
        } while (c != start);
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
        for (pl_dg_conn *c = e->conns; c; c = c->next)
            if (c->state == C_ESTABLISHED)
                pl_dg_rel_deliver(c);
    }
    return true;
}

void pl_dg_conn_close(pl_dg_conn *c)
{
    if (!c)
        return;
    pl_dg_engine *e = c->e;
    for (pl_dg_conn **pp = &e->conns; *pp; pp = &(*pp)->next) {
        if (*pp == c) {
            *pp = c->next;
            e->nconns--;
            break;
        }
    }
    if (e->tx_cursor == c)
        e->tx_cursor = NULL;
    pl_dg_rel_free(c);
    if (c->hs) {
        pl_noise_hs_wipe(c->hs);
        free(c->hs);
    }
    sodium_memzero(c, sizeof *c);
    free(c);
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
    *fp = c->peer;
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
