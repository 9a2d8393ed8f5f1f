/*
 * test_stls.c - the symmetric TLS engine (src/stls/, DESIGN.md §2.4, §3.1,
 * docs/formats.md §5).
 *
 * Engines are joined in-process by a byte pipe (pump); tie-breakers come
 * from scripted random callbacks, so every run is the same. A stock
 * OpenSSL client (no tie-breaker extension) stands in for a plain peer.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "identity/identity_int.h"
#include "peerlink.h"
#include "stls/stls_int.h"

#define NOW   UINT64_C(1800000000)
#define CHUNK 65536

/* ---- scripted randomness ------------------------------------------- */

typedef struct script {
    uint64_t v[4];
    size_t n, i;
    int fail;
} script;

static int scripted(void *user, uint8_t *out, size_t len)
{
    script *sc = user;
    if (sc->fail)
        return -1;
    assert_int_equal(len, 8);
    uint64_t v = sc->v[sc->i < sc->n ? sc->i : sc->n - 1];
    sc->i++;
    for (size_t k = 0; k < 8; k++)
        out[k] = (uint8_t)(v >> (56 - 8 * k));
    return 0;
}

/* ---- nodes: identity, trust store, configuration -------------------- */

typedef struct node {
    pl_identity *id;
    pl_trust *trust;
    pl_stls_config *cfg;
    pl_fingerprint fp;
    unsigned tag;
    script rnd;
} node;

static void node_init(node *n, uint8_t tag, uint64_t tiebreak)
{
    uint8_t seed[PL_ED25519_SEED_LEN];
    memset(seed, tag, sizeof seed);
    memset(n, 0, sizeof *n);
    n->tag = tag;
    assert_int_equal(pl_identity_from_seed(&n->id, seed), PL_OK);
    pl_identity_fingerprint(n->id, &n->fp);
    assert_int_equal(pl_trust_new(&n->trust), PL_OK);
    char name[16];
    snprintf(name, sizeof name, "node-%u", tag);
    assert_int_equal(pl_stls_config_new(&n->cfg, n->id, name), PL_OK);
    pl_stls_config_set_trust(n->cfg, n->trust);
    n->rnd.v[0] = tiebreak;
    n->rnd.n = 1;
    pl_stls_config_set_random(n->cfg, scripted, &n->rnd);
}

static void node_free(node *n)
{
    pl_stls_config_free(n->cfg);
    pl_trust_free(n->trust);
    pl_identity_free(n->id);
}

static void trust(node *n, enum pl_trust_kind kind, const node *peer, uint64_t expires)
{
    const char *why = NULL;
    assert_int_equal(pl_trust_set(n->trust, kind, &peer->fp, NULL, NULL, expires, &why), PL_OK);
}

/* Two nodes that trust each other. */
static void pair(node *a, node *b, uint64_t ta, uint64_t tb)
{
    node_init(a, 0xa1, ta);
    node_init(b, 0xb2, tb);
    trust(a, PL_TRUST_ALLOW, b, 0);
    trust(b, PL_TRUST_ALLOW, a, 0);
}

static pl_stls *engine(const node *n, unsigned flags, const pl_fingerprint *expected)
{
    pl_stls *s = NULL;
    assert_int_equal(pl_stls_new(&s, n->cfg, flags, expected), PL_OK);
    assert_non_null(s);
    return s;
}

/* ---- the pipe -------------------------------------------------------- */

static size_t move(pl_stls *from, pl_stls *to, size_t chunk, uint64_t now)
{
    static uint8_t buf[CHUNK];
    size_t moved = 0;
    int n;
    while ((n = pl_stls_output(from, buf, chunk)) > 0) {
        int rc = pl_stls_feed(to, buf, (size_t)n, now);
        (void)rc; /* judged by the states afterwards */
        moved += (size_t)n;
    }
    assert_true(n == 0);
    return moved;
}

/* Move bytes both ways, `chunk` at a time, until neither side has any. */
static void pump_at(pl_stls *a, pl_stls *b, size_t chunk, uint64_t now)
{
    for (int round = 0; round < 100; round++)
        if (move(a, b, chunk, now) + move(b, a, chunk, now) == 0)
            return;
    fail_msg("the engines kept talking");
}

static void pump(pl_stls *a, pl_stls *b)
{
    pump_at(a, b, CHUNK, NOW);
}

/* Crossing openings: each side's ClientHello is on the wire before it
 * reads the other's. */
static void cross(pl_stls *a, pl_stls *b)
{
    static uint8_t ha[CHUNK], hb[CHUNK];
    int na = pl_stls_output(a, ha, sizeof ha);
    int nb = pl_stls_output(b, hb, sizeof hb);
    assert_true(na > 0 && nb > 0);
    int rc = pl_stls_feed(a, hb, (size_t)nb, NOW);
    (void)rc;
    rc = pl_stls_feed(b, ha, (size_t)na, NOW);
    (void)rc;
    pump(a, b);
}

static void assert_peer(const pl_stls *s, const node *want)
{
    pl_fingerprint fp;
    assert_int_equal(pl_stls_peer(s, &fp), PL_OK);
    assert_true(pl_fingerprint_equal(&fp, &want->fp));
}

static void assert_failed(const pl_stls *s, int err, const char *why_part)
{
    const char *why = NULL;
    assert_int_equal(pl_stls_state(s), PL_STLS_FAILED);
    assert_int_equal(pl_stls_error(s, &why), err);
    assert_non_null(why);
    if (why_part && !strstr(why, why_part))
        fail_msg("reason \"%s\" does not mention \"%s\"", why, why_part);
}

/* Send msg from `from` and check that `to` reads exactly it. */
static void flows(pl_stls *from, pl_stls *to, const char *msg)
{
    uint8_t got[256];
    size_t len = strlen(msg);
    assert_int_equal(pl_stls_write(from, (const uint8_t *)msg, len), (int)len);
    pump(from, to);
    assert_int_equal(pl_stls_read(to, got, sizeof got), (int)len);
    assert_memory_equal(got, msg, len);
    assert_int_equal(pl_stls_read(to, got, sizeof got), 0);
}

static void established(pl_stls *client, pl_stls *server, const node *c, const node *s)
{
    assert_int_equal(pl_stls_state(client), PL_STLS_ESTABLISHED);
    assert_int_equal(pl_stls_state(server), PL_STLS_ESTABLISHED);
    assert_int_equal(pl_stls_role(client), PL_STLS_CLIENT);
    assert_int_equal(pl_stls_role(server), PL_STLS_SERVER);
    assert_int_equal(pl_stls_error(client, NULL), 0);
    assert_int_equal(pl_stls_error(server, NULL), 0);
    assert_peer(client, s);
    assert_peer(server, c);
    char name[PL_STLS_NAME_MAX + 1], want[16];
    snprintf(want, sizeof want, "node-%u", s->tag);
    assert_int_equal(pl_stls_peer_name(client, name, sizeof name), (int)strlen(want));
    assert_string_equal(name, want);
    snprintf(want, sizeof want, "node-%u", c->tag);
    assert_int_equal(pl_stls_peer_name(server, name, sizeof name), (int)strlen(want));
    assert_string_equal(name, want);
    assert_int_equal(pl_stls_peer_name(server, name, 3), PL_ERR_BUFSIZE);
    flows(client, server, "hello from the client");
    flows(server, client, "hello from the server");
}

/* ---- a stock OpenSSL client: a plain ClientHello, no extension ------- */

typedef struct stock {
    SSL_CTX *ctx;
    SSL *ssl;
    BIO *in, *out;
} stock;

/* n NULL: a client without a certificate. */
static void stock_init_named(stock *st, const node *n, const char *name)
{
    st->ctx = SSL_CTX_new(TLS_client_method());
    assert_non_null(st->ctx);
    if (n) {
        EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL,
                                                     pl_identity_seed(n->id), PL_ED25519_SEED_LEN);
        X509 *cert = NULL;
        assert_non_null(key);
        assert_int_equal(pl_stls_cert_new(key, name, &cert), PL_OK);
        assert_int_equal(SSL_CTX_use_certificate(st->ctx, cert), 1);
        assert_int_equal(SSL_CTX_use_PrivateKey(st->ctx, key), 1);
        X509_free(cert);
        EVP_PKEY_free(key);
    }
    st->ssl = SSL_new(st->ctx);
    st->in = BIO_new(BIO_s_mem());
    st->out = BIO_new(BIO_s_mem());
    BIO_set_mem_eof_return(st->in, -1);
    SSL_set_bio(st->ssl, st->in, st->out);
    SSL_set_connect_state(st->ssl);
    assert_int_equal(SSL_do_handshake(st->ssl), -1); /* ClientHello written */
}

static void stock_init(stock *st, const node *n)
{
    stock_init_named(st, n, "stock");
}

static void stock_free(stock *st)
{
    SSL_free(st->ssl);
    SSL_CTX_free(st->ctx);
    ERR_clear_error();
}

static void stock_pump(stock *st, pl_stls *s)
{
    static uint8_t buf[CHUNK];
    for (int round = 0; round < 100; round++) {
        size_t moved = 0;
        int n;
        while ((n = BIO_read(st->out, buf, sizeof buf)) > 0) {
            int rc = pl_stls_feed(s, buf, (size_t)n, NOW);
            (void)rc;
            moved += (size_t)n;
        }
        while ((n = pl_stls_output(s, buf, sizeof buf)) > 0) {
            assert_int_equal(BIO_write(st->in, buf, n), n);
            moved += (size_t)n;
        }
        (void)SSL_do_handshake(st->ssl);
        if (moved == 0)
            return;
    }
    fail_msg("stock client and engine kept talking");
}

/* ---- plain dial and accept ------------------------------------------ */

static void dial_accept(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 1);
    pl_stls *c = engine(&a, PL_STLS_CLIENT, &b.fp);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    assert_int_equal(pl_stls_role(c), PL_STLS_CLIENT);
    assert_true(pl_stls_pending(c) > 0); /* the ClientHello is ready at once */
    assert_int_equal(pl_stls_pending(s), 0);
    pump(c, s);
    established(c, s, &a, &b);
    /* close_notify ends the session on the other side */
    assert_int_equal(pl_stls_close(c), PL_OK);
    assert_int_equal(pl_stls_write(c, (const uint8_t *)"x", 1), PL_ERR_INVAL);
    pump(c, s);
    assert_int_equal(pl_stls_state(s), PL_STLS_CLOSED);
    /* half-close: the other direction stays open until it is closed too */
    uint8_t got[16];
    assert_int_equal(pl_stls_write(s, (const uint8_t *)"reply", 5), 5);
    assert_int_equal(pl_stls_close(s), PL_OK);
    assert_int_equal(pl_stls_write(s, (const uint8_t *)"x", 1), PL_ERR_INVAL);
    pump(c, s);
    assert_int_equal(pl_stls_read(c, got, sizeof got), 5);
    assert_memory_equal(got, "reply", 5);
    assert_int_equal(pl_stls_read(c, got, sizeof got), 0);
    assert_int_equal(pl_stls_state(c), PL_STLS_CLOSED);
    pl_stls_free(c);
    pl_stls_free(s);
    node_free(&a);
    node_free(&b);
}

/* The client reports the connection established only once the server has
 * judged its certificate and confirmed with a KeyUpdate (formats.md §5.3);
 * the server is established when the client's Finished arrives. */
static void confirmation_waits(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 1);
    pl_stls *c = engine(&a, PL_STLS_CLIENT, &b.fp);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    assert_true(move(c, s, CHUNK, NOW) > 0); /* ClientHello */
    assert_true(move(s, c, CHUNK, NOW) > 0); /* ServerHello ... Finished */
    assert_int_equal(pl_stls_state(c), PL_STLS_HANDSHAKING);
    assert_int_equal(pl_stls_write(c, (const uint8_t *)"x", 1), PL_ERR_INVAL);
    assert_true(move(c, s, CHUNK, NOW) > 0); /* Certificate ... Finished */
    assert_int_equal(pl_stls_state(s), PL_STLS_ESTABLISHED);
    assert_int_equal(pl_stls_state(c), PL_STLS_HANDSHAKING);
    size_t confirm = pl_stls_pending(s);
    assert_true(confirm > 0 && confirm < 64); /* one record: the KeyUpdate */
    /* delivered a byte at a time, it still confirms exactly once complete */
    static uint8_t buf[CHUNK];
    int n = pl_stls_output(s, buf, sizeof buf);
    assert_int_equal((size_t)n, confirm);
    for (int i = 0; i < n; i++) {
        assert_int_equal(pl_stls_state(c), PL_STLS_HANDSHAKING);
        assert_int_equal(pl_stls_feed(c, buf + i, 1, NOW), PL_OK);
    }
    established(c, s, &a, &b);
    pl_stls_free(c);
    pl_stls_free(s);
    node_free(&a);
    node_free(&b);
}

/* A server with little to say confirms, sends its data and closes at
 * once: all of it arrives in one read, and the client is established,
 * reads the data, then sees the close. */
static void confirmation_then_close(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 1);
    pl_stls *c = engine(&a, PL_STLS_CLIENT, &b.fp);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    assert_true(move(c, s, CHUNK, NOW) > 0);
    assert_true(move(s, c, CHUNK, NOW) > 0);
    assert_true(move(c, s, CHUNK, NOW) > 0);
    assert_int_equal(pl_stls_state(s), PL_STLS_ESTABLISHED);
    assert_int_equal(pl_stls_write(s, (const uint8_t *)"bye", 3), 3);
    assert_int_equal(pl_stls_close(s), PL_OK);
    assert_true(move(s, c, CHUNK, NOW) > 0); /* KeyUpdate, data, close_notify */
    assert_int_equal(pl_stls_error(c, NULL), 0);
    uint8_t got[8];
    assert_int_equal(pl_stls_read(c, got, sizeof got), 3);
    assert_memory_equal(got, "bye", 3);
    assert_int_equal(pl_stls_read(c, got, sizeof got), 0);
    assert_int_equal(pl_stls_state(c), PL_STLS_CLOSED);
    pl_stls_free(c);
    pl_stls_free(s);
    node_free(&a);
    node_free(&b);
}

/* A close (here undecryptable, as the KeyUpdate was lost) before the
 * confirmation is a failure, never an established session. */
static void close_before_confirmation(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 1);
    pl_stls *c = engine(&a, PL_STLS_CLIENT, &b.fp);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    assert_true(move(c, s, CHUNK, NOW) > 0);
    assert_true(move(s, c, CHUNK, NOW) > 0);
    assert_true(move(c, s, CHUNK, NOW) > 0);
    static uint8_t buf[CHUNK];
    int n = pl_stls_output(s, buf, sizeof buf); /* the KeyUpdate: dropped */
    assert_true(n > 0);
    assert_int_equal(pl_stls_close(s), PL_OK);
    assert_true(move(s, c, CHUNK, NOW) > 0); /* close_notify alone */
    assert_failed(c, PL_ERR_AUTH, "");
    assert_int_equal(pl_stls_write(c, (const uint8_t *)"x", 1), PL_ERR_AUTH);
    pl_stls_free(c);
    pl_stls_free(s);
    node_free(&a);
    node_free(&b);
}

/* Bytes may arrive in any split, down to one at a time. */
static void dial_accept_bytewise(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 1);
    pl_stls *c = engine(&a, PL_STLS_PEER, &b.fp);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    pump_at(c, s, 1, NOW);
    established(c, s, &a, &b);
    pl_stls_free(c);
    pl_stls_free(s);
    node_free(&a);
    node_free(&b);
}

/* A peer that dials a server that answers: no crossing, it is the client. */
static void peer_dials_server(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 77, 1);
    pl_stls *c = engine(&a, PL_STLS_PEER, &b.fp);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    assert_int_equal(pl_stls_role(c), PL_STLS_PEER); /* not settled yet */
    pump(c, s);
    established(c, s, &a, &b);
    pl_stls_free(c);
    pl_stls_free(s);
    node_free(&a);
    node_free(&b);
}

/* ---- crossing ClientHellos ------------------------------------------ */

static void crossing(uint64_t ta, uint64_t tb)
{
    node a, b;
    pair(&a, &b, ta, tb);
    pl_stls *ea = engine(&a, PL_STLS_PEER, &b.fp);
    pl_stls *eb = engine(&b, PL_STLS_PEER, &a.fp);
    assert_int_equal(pl_stls_tiebreak(ea), ta);
    assert_int_equal(pl_stls_tiebreak(eb), tb);
    cross(ea, eb);
    if (ta < tb)
        established(ea, eb, &a, &b);
    else
        established(eb, ea, &b, &a);
    pl_stls_free(ea);
    pl_stls_free(eb);
    node_free(&a);
    node_free(&b);
}

static void cross_lower_first(void **state)
{
    (void)state;
    crossing(5, 9);
}

static void cross_higher_first(void **state)
{
    (void)state;
    crossing(UINT64_C(0xfffffffffffffffe), UINT64_C(0x7fffffffffffffff));
}

/* Crossing, and bytes one at a time after that. */
static void cross_bytewise(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1000, 999);
    pl_stls *ea = engine(&a, PL_STLS_PEER, NULL);
    pl_stls *eb = engine(&b, PL_STLS_PEER, NULL);
    static uint8_t ha[CHUNK], hb[CHUNK];
    int na = pl_stls_output(ea, ha, sizeof ha), nb = pl_stls_output(eb, hb, sizeof hb);
    assert_true(na > 0 && nb > 0);
    for (int i = 0; i < na || i < nb; i++) {
        if (i < nb)
            assert_int_equal(pl_stls_feed(ea, hb + i, 1, NOW), PL_OK);
        if (i < na)
            assert_int_equal(pl_stls_feed(eb, ha + i, 1, NOW), PL_OK);
    }
    pump_at(ea, eb, 1, NOW);
    established(eb, ea, &b, &a);
    pl_stls_free(ea);
    pl_stls_free(eb);
    node_free(&a);
    node_free(&b);
}

/* A client-only side (tie-breaker 0) crossing a peer stays client. */
static void cross_client_only_with_peer(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 3);
    pl_stls *ea = engine(&a, PL_STLS_CLIENT, &b.fp);
    pl_stls *eb = engine(&b, PL_STLS_PEER, &a.fp);
    assert_int_equal(pl_stls_tiebreak(ea), PL_STLS_TIEBREAK_CLIENT_ONLY);
    cross(ea, eb);
    established(ea, eb, &a, &b);
    pl_stls_free(ea);
    pl_stls_free(eb);
    node_free(&a);
    node_free(&b);
}

static void cross_equal_aborts(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 42, 42);
    pl_stls *ea = engine(&a, PL_STLS_PEER, &b.fp);
    pl_stls *eb = engine(&b, PL_STLS_PEER, &a.fp);
    cross(ea, eb);
    assert_failed(ea, PL_ERR_ROLE, "equal tie-breakers");
    assert_failed(eb, PL_ERR_ROLE, "equal tie-breakers");
    uint8_t buf[16];
    assert_int_equal(pl_stls_write(ea, (const uint8_t *)"x", 1), PL_ERR_ROLE);
    assert_int_equal(pl_stls_read(eb, buf, sizeof buf), PL_ERR_ROLE);
    assert_int_equal(pl_stls_feed(ea, buf, 1, NOW), PL_ERR_ROLE); /* the error stays */
    pl_stls_free(ea);
    pl_stls_free(eb);
    node_free(&a);
    node_free(&b);
}

static void client_only_both_fail(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 1);
    pl_stls *ea = engine(&a, PL_STLS_CLIENT, &b.fp);
    pl_stls *eb = engine(&b, PL_STLS_CLIENT, &a.fp);
    cross(ea, eb);
    assert_failed(ea, PL_ERR_ROLE, "both sides can only be the TLS client");
    assert_failed(eb, PL_ERR_ROLE, "both sides can only be the TLS client");
    pl_stls_free(ea);
    pl_stls_free(eb);
    node_free(&a);
    node_free(&b);
}

/* A tie-breaker draw never yields the reserved values: they are redrawn. */
static void tiebreak_redrawn(void **state)
{
    (void)state;
    node a;
    node_init(&a, 0xa1, 0);
    a.rnd.v[0] = PL_STLS_TIEBREAK_CLIENT_ONLY;
    a.rnd.v[1] = PL_STLS_TIEBREAK_SERVER_ONLY;
    a.rnd.v[2] = 0;
    a.rnd.v[3] = 12345;
    a.rnd.n = 4;
    pl_stls *s = engine(&a, PL_STLS_PEER, NULL);
    assert_int_equal(pl_stls_tiebreak(s), 12345);
    assert_int_equal(a.rnd.i, 4);
    pl_stls_free(s);
    /* a source stuck on a reserved value, or failing, is an error */
    a.rnd.i = 0;
    a.rnd.n = 1;
    pl_stls *bad = NULL;
    assert_int_equal(pl_stls_new(&bad, a.cfg, PL_STLS_PEER, NULL), PL_ERR_INTERNAL);
    assert_null(bad);
    a.rnd.fail = 1;
    assert_int_equal(pl_stls_new(&bad, a.cfg, PL_STLS_PEER, NULL), PL_ERR_INTERNAL);
    /* client- and server-only sides do not draw */
    pl_stls *c = engine(&a, PL_STLS_CLIENT, NULL);
    assert_int_equal(pl_stls_tiebreak(c), 0);
    pl_stls_free(c);
    node_free(&a);
}

static void tiebreak_rule(void **state)
{
    (void)state;
    assert_int_equal(pl_stls_tiebreak_decide(1, 2), PL_STLS_CLIENT);
    assert_int_equal(pl_stls_tiebreak_decide(2, 1), PL_STLS_SERVER);
    assert_int_equal(pl_stls_tiebreak_decide(0, 0), 0);
    assert_int_equal(pl_stls_tiebreak_decide(UINT64_MAX, UINT64_MAX), 0);
    assert_int_equal(pl_stls_tiebreak_decide(0, UINT64_MAX), PL_STLS_CLIENT);
    assert_int_equal(pl_stls_tiebreak_decide(UINT64_MAX - 1, UINT64_MAX), PL_STLS_CLIENT);
}

/* ---- plain ClientHellos (no extension) ------------------------------- */

static void server_only_accepts_plain(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 1);
    stock st;
    stock_init(&st, &a);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    stock_pump(&st, s);
    assert_int_equal(SSL_is_init_finished(st.ssl), 1);
    assert_int_equal(pl_stls_state(s), PL_STLS_ESTABLISHED);
    assert_int_equal(pl_stls_role(s), PL_STLS_SERVER);
    assert_peer(s, &a);
    char name[PL_STLS_NAME_MAX + 1];
    assert_int_equal(pl_stls_peer_name(s, name, sizeof name), 5);
    assert_string_equal(name, "stock");
    pl_stls_free(s);
    stock_free(&st);
    node_free(&a);
    node_free(&b);
}

/* Mutual authentication always: a client without a certificate is
 * refused, and there is no peer to report. */
static void plain_without_certificate(void **state)
{
    (void)state;
    node b;
    node_init(&b, 0xb2, 1);
    stock st;
    stock_init_named(&st, NULL, NULL);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    stock_pump(&st, s);
    assert_failed(s, PL_ERR_AUTH, NULL);
    pl_fingerprint fp;
    assert_int_equal(pl_stls_peer(s, &fp), PL_ERR_NOTFOUND);
    pl_stls_free(s);
    stock_free(&st);
    node_free(&b);
}

/* A display name we would not make ourselves is shown as none. */
static void odd_peer_names(void **state)
{
    (void)state;
    /* (a CN over 64 bytes cannot be made: OpenSSL enforces ub-common-name) */
    const char *names[] = {"bell\x07", "tab\there", "caf\xc3\xa9"};
    const int want[] = {0, 0, 5};
    for (size_t i = 0; i < 3; i++) {
        node a, b;
        pair(&a, &b, 1, 1);
        stock st;
        stock_init_named(&st, &a, names[i]);
        pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
        stock_pump(&st, s);
        assert_int_equal(pl_stls_state(s), PL_STLS_ESTABLISHED);
        char name[PL_STLS_NAME_MAX + 1];
        assert_int_equal(pl_stls_peer_name(s, name, sizeof name), want[i]);
        if (want[i] > 0)
            assert_string_equal(name, names[i]);
        pl_stls_free(s);
        stock_free(&st);
        node_free(&a);
        node_free(&b);
    }
}

/* A peer whose ClientHello crosses a plain one becomes a plain server. */
static void peer_serves_plain(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 5);
    stock st;
    stock_init(&st, &a);
    pl_stls *s = engine(&b, PL_STLS_PEER, &a.fp);
    static uint8_t own[CHUNK];
    assert_true(pl_stls_output(s, own, sizeof own) > 0); /* sent; the stock client ignores it */
    static uint8_t hello[CHUNK];
    int n = BIO_read(st.out, hello, sizeof hello);
    assert_true(n > 0);
    assert_int_equal(pl_stls_feed(s, hello, (size_t)n, NOW), PL_OK);
    assert_int_equal(pl_stls_role(s), PL_STLS_SERVER);
    stock_pump(&st, s);
    assert_int_equal(SSL_is_init_finished(st.ssl), 1);
    assert_int_equal(pl_stls_state(s), PL_STLS_ESTABLISHED);
    assert_peer(s, &a);
    pl_stls_free(s);
    stock_free(&st);
    node_free(&a);
    node_free(&b);
}

static void client_only_meets_plain(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 1);
    stock st;
    stock_init(&st, &a);
    pl_stls *c = engine(&b, PL_STLS_CLIENT, &a.fp);
    stock_pump(&st, c);
    assert_failed(c, PL_ERR_ROLE, "plain TLS client");
    pl_stls_free(c);
    stock_free(&st);
    node_free(&a);
    node_free(&b);
}

/* ---- authentication -------------------------------------------------- */

/* The classic hole: a check that notices the wrong key but lets the
 * handshake finish. The dialler must fail, and neither side may carry
 * data. */
static void wrong_key_fails(void **state)
{
    (void)state;
    node a, b, c;
    pair(&a, &b, 1, 1);
    node_init(&c, 0xc3, 1);
    trust(&a, PL_TRUST_ALLOW, &c, 0);
    pl_stls *ea = engine(&a, PL_STLS_CLIENT | PL_STLS_ACCEPT_UNKNOWN, &c.fp); /* expects c */
    pl_stls *eb = engine(&b, PL_STLS_SERVER, NULL);                           /* b answers */
    pump(ea, eb);
    assert_failed(ea, PL_ERR_AUTH, "wrong key");
    assert_peer(ea, &b); /* the key that was refused */
    assert_int_equal(pl_stls_state(eb), PL_STLS_FAILED);
    assert_int_equal(pl_stls_write(ea, (const uint8_t *)"x", 1), PL_ERR_AUTH);
    assert_int_equal(pl_stls_write(eb, (const uint8_t *)"x", 1), PL_ERR_AUTH);
    uint8_t buf[16];
    assert_true(pl_stls_read(eb, buf, sizeof buf) < 0);
    pl_stls_free(ea);
    pl_stls_free(eb);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

/* The certificate check itself, given certificates no peerlink node or
 * stock client would send: a key outside the Ed25519 policy, a key that
 * is not Ed25519. Either is refused before any other check. */
static void verify_cb_refuses(X509 *x, const char *why_part)
{
    node b;
    node_init(&b, 0xb2, 1);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    X509_STORE *store = X509_STORE_new();
    X509_STORE_CTX *xs = X509_STORE_CTX_new();
    assert_int_equal(X509_STORE_CTX_init(xs, store, x, NULL), 1);
    assert_int_equal(
        X509_STORE_CTX_set_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx(), pl_stls_session(s)),
        1);
    assert_int_equal(pl_stls_verify_cb(xs, NULL), 0);
    assert_int_equal(X509_STORE_CTX_get_error(xs), X509_V_ERR_APPLICATION_VERIFICATION);
    assert_failed(s, PL_ERR_AUTH, why_part);
    X509_STORE_CTX_free(xs);
    X509_STORE_free(store);
    pl_stls_free(s);
    node_free(&b);
}

static void bad_keys_refused(void **state)
{
    (void)state;
    /* the neutral element (order 1) as an Ed25519 public key, in a
     * certificate signed by some other key */
    static const uint8_t neutral[32] = {1};
    uint8_t seed[32] = {9};
    EVP_PKEY *signer = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, 32);
    EVP_PKEY *weak = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, neutral, 32);
    assert_non_null(signer);
    assert_non_null(weak);
    X509 *x = NULL;
    assert_int_equal(pl_stls_cert_new(signer, "weak", &x), PL_OK);
    assert_int_equal(X509_set_pubkey(x, weak), 1);
    verify_cb_refuses(x, "key policy");
    X509_free(x);
    /* a P-256 key */
    EVP_PKEY *ec = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(ec);
    x = X509_new();
    assert_int_equal(X509_set_pubkey(x, ec), 1);
    assert_true(X509_sign(x, ec, EVP_sha256()) > 0);
    verify_cb_refuses(x, "does not hold an Ed25519 key");
    X509_free(x);
    EVP_PKEY_free(ec);
    EVP_PKEY_free(weak);
    EVP_PKEY_free(signer);
}

/* The server is checked too: a crossing peer that became server. */
static void wrong_key_fails_when_serving(void **state)
{
    (void)state;
    node a, b, c;
    pair(&a, &b, 9, 5); /* a becomes server */
    node_init(&c, 0xc3, 1);
    pl_stls *ea = engine(&a, PL_STLS_PEER | PL_STLS_ACCEPT_UNKNOWN, &c.fp);
    pl_stls *eb = engine(&b, PL_STLS_PEER, &a.fp);
    cross(ea, eb);
    assert_int_equal(pl_stls_role(ea), PL_STLS_SERVER);
    assert_failed(ea, PL_ERR_AUTH, "wrong key");
    assert_peer(ea, &b);
    assert_int_equal(pl_stls_state(eb), PL_STLS_FAILED);
    pl_stls_free(ea);
    pl_stls_free(eb);
    node_free(&a);
    node_free(&b);
    node_free(&c);
}

/* A client finishes its side of the TLS 1.3 handshake before the server
 * judges its certificate, so it waits for the server's confirmation
 * (formats.md §5.3) before it reports the connection established or lets
 * data through. A refused client never gets there: the server reports
 * which key it refused and why, and the client fails on the alert. */
static void refused(int err, const char *why, void (*setup)(node *a, node *b))
{
    node a, b;
    node_init(&a, 0xa1, 1);
    node_init(&b, 0xb2, 1);
    setup(&a, &b);
    pl_stls *ea = engine(&a, PL_STLS_CLIENT | PL_STLS_ACCEPT_UNKNOWN, &b.fp);
    pl_stls *eb = engine(&b, PL_STLS_SERVER, NULL);
    uint8_t buf[64];
    assert_true(move(ea, eb, CHUNK, NOW) > 0); /* ClientHello */
    assert_int_equal(pl_stls_write(eb, (const uint8_t *)"early", 5), PL_ERR_INVAL);
    assert_true(move(eb, ea, CHUNK, NOW) > 0); /* ServerHello ... Finished */
    assert_int_equal(pl_stls_state(ea), PL_STLS_HANDSHAKING);
    assert_int_equal(pl_stls_write(ea, (const uint8_t *)"secret", 6), PL_ERR_INVAL);
    assert_true(move(ea, eb, CHUNK, NOW) > 0); /* Certificate ... Finished */
    assert_failed(eb, err, why);
    assert_peer(eb, &a);
    char name[PL_STLS_NAME_MAX + 1];
    assert_int_equal(pl_stls_peer_name(eb, name, sizeof name), 8);
    assert_string_equal(name, "node-161"); /* 0xa1 */
    assert_true(pl_stls_read(eb, buf, sizeof buf) < 0);
    pump(ea, eb); /* the alert reaches the client */
    assert_failed(ea, PL_ERR_AUTH, "aborted");
    assert_true(pl_stls_read(ea, buf, sizeof buf) < 0);
    pl_stls_free(ea);
    pl_stls_free(eb);
    node_free(&a);
    node_free(&b);
}

static void set_nothing(node *a, node *b)
{
    (void)a;
    (void)b;
}

static void set_deny(node *a, node *b)
{
    trust(b, PL_TRUST_ALLOW, a, 0);
    trust(b, PL_TRUST_DENY, a, 0); /* deny wins */
}

static void set_expired(node *a, node *b)
{
    trust(b, PL_TRUST_ALLOW, a, NOW); /* ignored from NOW on */
}

/* The log names the refused key by its fingerprint, never the key. */
static char logged[4096];

static void capture_log(void *user, enum pl_log_level level, const char *msg)
{
    (void)user;
    (void)level;
    size_t used = strlen(logged);
    snprintf(logged + used, sizeof logged - used, "%s\n", msg);
}

static void refusal_logged(void **state)
{
    (void)state;
    node a, b;
    node_init(&a, 0xa1, 1);
    node_init(&b, 0xb2, 1);
    logged[0] = '\0';
    pl_set_log(capture_log, NULL, PL_LOG_INFO);
    pl_stls *c = engine(&a, PL_STLS_CLIENT | PL_STLS_ACCEPT_UNKNOWN, &b.fp);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    pump(c, s);
    pl_set_log(NULL, NULL, PL_LOG_INFO);
    assert_failed(s, PL_ERR_UNTRUSTED, NULL);
    char fp[PL_FINGERPRINT_STR_MAX];
    assert_true(pl_fingerprint_format(&a.fp, fp, sizeof fp) > 0);
    if (!strstr(logged, fp) || !strstr(logged, "not in the trust store"))
        fail_msg("log does not name the refused peer:\n%s", logged);
    pl_stls_free(c);
    pl_stls_free(s);
    node_free(&a);
    node_free(&b);
}

static void untrusted_refused(void **state)
{
    (void)state;
    refused(PL_ERR_UNTRUSTED, "not in the trust store", set_nothing);
}

static void denied_refused(void **state)
{
    (void)state;
    refused(PL_ERR_DENIED, "denied", set_deny);
}

static void expired_refused(void **state)
{
    (void)state;
    refused(PL_ERR_UNTRUSTED, "not in the trust store", set_expired);
}

/* The time passed to feed is the one the trust store is asked about. */
static void trust_uses_time_fed(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 1);
    const char *why = NULL;
    assert_int_equal(pl_trust_set(b.trust, PL_TRUST_ALLOW, &a.fp, NULL, NULL, NOW + 10, &why),
                     PL_OK);
    pl_stls *c = engine(&a, PL_STLS_CLIENT, &b.fp);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    pump_at(c, s, CHUNK, NOW + 9);
    established(c, s, &a, &b);
    pl_stls_free(c);
    pl_stls_free(s);
    c = engine(&a, PL_STLS_CLIENT, &b.fp);
    s = engine(&b, PL_STLS_SERVER, NULL);
    pump_at(c, s, CHUNK, NOW + 10);
    assert_failed(s, PL_ERR_UNTRUSTED, NULL);
    pl_stls_free(c);
    pl_stls_free(s);
    node_free(&a);
    node_free(&b);
}

/* Dialling an unknown key needs PL_STLS_ACCEPT_UNKNOWN; with it, only the
 * dialled key is let in. */
static void accept_unknown(void **state)
{
    (void)state;
    node a, b;
    node_init(&a, 0xa1, 1);
    node_init(&b, 0xb2, 1);
    trust(&b, PL_TRUST_ALLOW, &a, 0); /* a does not list b */
    pl_stls *c = engine(&a, PL_STLS_CLIENT, &b.fp);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    pump(c, s);
    assert_failed(c, PL_ERR_UNTRUSTED, NULL);
    assert_peer(c, &b);
    assert_int_equal(pl_stls_state(s), PL_STLS_FAILED);
    pl_stls_free(c);
    pl_stls_free(s);
    c = engine(&a, PL_STLS_CLIENT | PL_STLS_ACCEPT_UNKNOWN, &b.fp);
    s = engine(&b, PL_STLS_SERVER, NULL);
    pump(c, s);
    established(c, s, &a, &b);
    pl_stls_free(c);
    pl_stls_free(s);
    /* a denied key stays denied even when dialled */
    trust(&a, PL_TRUST_DENY, &b, 0);
    c = engine(&a, PL_STLS_CLIENT | PL_STLS_ACCEPT_UNKNOWN, &b.fp);
    s = engine(&b, PL_STLS_SERVER, NULL);
    pump(c, s);
    assert_failed(c, PL_ERR_DENIED, NULL);
    pl_stls_free(c);
    pl_stls_free(s);
    /* without a trust store nothing but an accepted dialled key gets in */
    pl_stls_config_set_trust(a.cfg, NULL);
    pl_stls_config_set_trust(b.cfg, NULL);
    c = engine(&a, PL_STLS_CLIENT | PL_STLS_ACCEPT_UNKNOWN, &b.fp);
    s = engine(&b, PL_STLS_SERVER, NULL);
    pump(c, s);
    assert_failed(s, PL_ERR_UNTRUSTED, NULL);
    pl_stls_free(c);
    pl_stls_free(s);
    node_free(&a);
    node_free(&b);
}

/* Nothing is read or written before the handshake has authenticated the
 * peer on that side. */
static void no_data_before_auth(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 1);
    pl_stls *c = engine(&a, PL_STLS_CLIENT, &b.fp);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    uint8_t buf[16];
    assert_int_equal(pl_stls_write(c, (const uint8_t *)"x", 1), PL_ERR_INVAL);
    assert_int_equal(pl_stls_read(c, buf, sizeof buf), 0);
    assert_int_equal(pl_stls_close(c), PL_ERR_INVAL);
    assert_true(move(c, s, CHUNK, NOW) > 0);
    /* the server has sent its Finished but not yet seen the client's */
    assert_int_equal(pl_stls_state(s), PL_STLS_HANDSHAKING);
    assert_int_equal(pl_stls_write(s, (const uint8_t *)"x", 1), PL_ERR_INVAL);
    assert_int_equal(pl_stls_read(s, buf, sizeof buf), 0);
    assert_int_equal(pl_stls_peer(s, &a.fp), PL_ERR_NOTFOUND);
    char name[8];
    assert_int_equal(pl_stls_peer_name(s, name, sizeof name), PL_ERR_NOTFOUND);
    pump(c, s);
    established(c, s, &a, &b);
    pl_stls_free(c);
    pl_stls_free(s);
    node_free(&a);
    node_free(&b);
}

/* ---- configuration --------------------------------------------------- */

static void config_names(void **state)
{
    (void)state;
    node a;
    node_init(&a, 0xa1, 1);
    pl_stls_config *cfg = NULL;
    char longname[PL_STLS_NAME_MAX + 2];
    memset(longname, 'x', sizeof longname);
    longname[PL_STLS_NAME_MAX + 1] = '\0';
    assert_int_equal(pl_stls_config_new(&cfg, a.id, longname), PL_ERR_INVAL);
    assert_null(cfg);
    assert_int_equal(pl_stls_config_new(&cfg, a.id, "tab\there"), PL_ERR_INVAL);
    assert_int_equal(pl_stls_config_new(&cfg, a.id, "\xff\xfe"), PL_ERR_INVAL); /* not UTF-8 */
    assert_int_equal(pl_stls_config_new(&cfg, NULL, NULL), PL_ERR_INVAL);
    longname[PL_STLS_NAME_MAX] = '\0';
    assert_int_equal(pl_stls_config_new(&cfg, a.id, longname), PL_OK);
    pl_stls_config_free(cfg);
    assert_int_equal(pl_stls_config_new(&cfg, a.id, NULL), PL_OK);
    pl_stls_config_free(cfg);
    /* the certificate: the identity key, the display name, self-issued */
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, pl_identity_seed(a.id),
                                                 PL_ED25519_SEED_LEN);
    X509 *x = NULL;
    assert_int_equal(pl_stls_cert_new(key, "Alice's laptop", &x), PL_OK);
    char cn[PL_STLS_NAME_MAX + 1];
    assert_int_equal(
        X509_NAME_get_text_by_NID(X509_get_subject_name(x), NID_commonName, cn, sizeof cn), 14);
    assert_string_equal(cn, "Alice's laptop");
    assert_int_equal(X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)), 0);
    uint8_t pk[32], want[32];
    size_t n = sizeof pk;
    assert_int_equal(EVP_PKEY_get_raw_public_key(X509_get0_pubkey(x), pk, &n), 1);
    pl_identity_public_key(a.id, want);
    assert_memory_equal(pk, want, 32);
    assert_int_equal(X509_verify(x, key), 1);
    X509_free(x);
    EVP_PKEY_free(key);
    node_free(&a);
}

static void new_arguments(void **state)
{
    (void)state;
    node a;
    node_init(&a, 0xa1, 1);
    pl_stls *s = NULL;
    assert_int_equal(pl_stls_new(&s, a.cfg, 0, NULL), PL_ERR_INVAL);
    assert_int_equal(pl_stls_new(&s, a.cfg, 8 | PL_STLS_PEER, NULL), PL_ERR_INVAL);
    assert_int_equal(pl_stls_new(&s, a.cfg, PL_STLS_PEER | PL_STLS_ACCEPT_UNKNOWN, NULL),
                     PL_ERR_INVAL);
    assert_int_equal(pl_stls_new(&s, NULL, PL_STLS_PEER, NULL), PL_ERR_INVAL);
    assert_null(s);
    pl_stls_free(NULL);
    pl_stls_config_free(NULL);
    node_free(&a);
}

/* ---- the ClientHello parser ------------------------------------------ */

/* A ClientHello as the engine sends it. */
static size_t captured_hello(uint8_t *out, size_t cap, unsigned flags, uint64_t tiebreak)
{
    node a;
    node_init(&a, 0xa1, tiebreak);
    pl_stls *s = engine(&a, flags, NULL);
    int n = pl_stls_output(s, out, cap);
    assert_true(n > 0);
    assert_int_equal(pl_stls_pending(s), 0);
    pl_stls_free(s);
    node_free(&a);
    return (size_t)n;
}

static void parse_captured(void **state)
{
    (void)state;
    uint8_t rec[CHUNK];
    const char *why = NULL;
    pl_stls_hello h;
    size_t n = captured_hello(rec, sizeof rec, PL_STLS_PEER, UINT64_C(0x0123456789abcdef));
    assert_int_equal(pl_stls_hello_parse(&h, rec, n, &why), PL_OK);
    assert_true(h.client_hello && h.has_tiebreak);
    assert_true(h.tiebreak == UINT64_C(0x0123456789abcdef));
    size_t len = 0;
    assert_int_equal(pl_stls_record_len(rec, n, &len), PL_OK);
    assert_int_equal(len, n);
    /* the extension on the wire: type ff73, length 8, big-endian value */
    static const uint8_t ext[] = {0xff, 0x73, 0x00, 0x08, 0x01, 0x23,
                                  0x45, 0x67, 0x89, 0xab, 0xcd, 0xef};
    assert_non_null(memmem(rec, n, ext, sizeof ext));
    n = captured_hello(rec, sizeof rec, PL_STLS_CLIENT, 99);
    assert_int_equal(pl_stls_hello_parse(&h, rec, n, &why), PL_OK);
    assert_true(h.client_hello && h.has_tiebreak && h.tiebreak == 0);
}

/* The fuzz seeds (captured from the engine and a stock client) still mean
 * what their names say. */
static void parse_seeds(void **state)
{
    (void)state;
    static const struct {
        const char *file;
        bool client_hello, has_tiebreak;
        uint64_t tiebreak;
    } seeds[] = {
        {"client_only", true, true, 0},
        {"peer", true, true, UINT64_C(0x0123456789abcdef)},
        {"peer_high", true, true, UINT64_C(0xfffffffffffffffe)},
        {"plain_openssl", true, false, 0},
        {"server_hello", false, false, 0},
    };
    const char *root = getenv("PL_SOURCE_ROOT");
    if (!root)
        root = ".";
    for (size_t i = 0; i < sizeof seeds / sizeof seeds[0]; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/fuzz/corpus/clienthello/%s", root, seeds[i].file);
        size_t len = 0;
        char *rec = tu_read_file(path, &len);
        pl_stls_hello h;
        const char *why = NULL;
        assert_int_equal(pl_stls_hello_parse(&h, (const uint8_t *)rec, len, &why), PL_OK);
        assert_int_equal(h.client_hello, seeds[i].client_hello);
        assert_int_equal(h.has_tiebreak, seeds[i].has_tiebreak);
        assert_true(h.tiebreak == seeds[i].tiebreak);
        free(rec);
    }
}

/* Every prefix fails with a reason; every single-bit flip is handled, by
 * the parser and by an engine fed the damaged record. */
static void parse_damaged(void **state)
{
    (void)state;
    uint8_t rec[CHUNK], bad[CHUNK];
    size_t n = captured_hello(rec, sizeof rec, PL_STLS_PEER, 77);
    node a;
    node_init(&a, 0xa1, UINT64_C(1) << 63);
    for (size_t len = 0; len < n; len++) {
        pl_stls_hello h;
        const char *why = NULL;
        memcpy(bad, rec, len);
        assert_int_equal(pl_stls_hello_parse(&h, bad, len, &why), PL_ERR_PARSE);
        assert_non_null(why);
        pl_stls *s = engine(&a, PL_STLS_PEER, NULL);
        uint8_t own[CHUNK];
        assert_true(pl_stls_output(s, own, sizeof own) > 0);
        assert_int_equal(pl_stls_feed(s, bad, len, NOW), PL_OK); /* waits for the rest */
        assert_int_equal(pl_stls_state(s), PL_STLS_HANDSHAKING);
        pl_stls_free(s);
    }
    size_t parsed = 0, refused_n = 0;
    for (size_t bit = 0; bit < n * 8; bit++) {
        pl_stls_hello h;
        const char *why = NULL;
        memcpy(bad, rec, n);
        bad[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        int rc = pl_stls_hello_parse(&h, bad, n, &why);
        if (rc == PL_OK) {
            parsed++;
        } else {
            assert_int_equal(rc, PL_ERR_PARSE);
            assert_non_null(why);
            assert_false(h.client_hello || h.has_tiebreak);
            refused_n++;
        }
        pl_stls *s = engine(&a, PL_STLS_PEER, NULL);
        uint8_t own[CHUNK];
        assert_true(pl_stls_output(s, own, sizeof own) > 0);
        rc = pl_stls_feed(s, bad, n, NOW);
        assert_true(pl_stls_state(s) != PL_STLS_ESTABLISHED);
        assert_true((rc != PL_OK) == (pl_stls_state(s) == PL_STLS_FAILED));
        while (pl_stls_output(s, own, sizeof own) > 0)
            ;
        pl_stls_free(s);
    }
    assert_true(parsed > 0 && refused_n > 0); /* both paths were taken */
    node_free(&a);
}

/* Hand-made records for the rules a real ClientHello never breaks. */
static size_t make_hello(uint8_t *out, const uint8_t *exts, size_t ext_len, int with_exts,
                         size_t trailing)
{
    uint8_t body[1024];
    size_t b = 0;
    body[b++] = 1; /* ClientHello */
    size_t len_at = b;
    b += 3;
    body[b++] = 3;
    body[b++] = 3;
    memset(body + b, 0x5a, 32);
    b += 32;
    body[b++] = 0; /* session id */
    body[b++] = 0;
    body[b++] = 2; /* one cipher suite */
    body[b++] = 0x13;
    body[b++] = 0x01;
    body[b++] = 1; /* compression: null */
    body[b++] = 0;
    if (with_exts) {
        body[b++] = (uint8_t)(ext_len >> 8);
        body[b++] = (uint8_t)ext_len;
        if (ext_len > 0)
            memcpy(body + b, exts, ext_len);
        b += ext_len;
    }
    memset(body + b, 0, trailing);
    b += trailing;
    size_t hs = b - 4 - trailing;
    body[len_at] = (uint8_t)(hs >> 16);
    body[len_at + 1] = (uint8_t)(hs >> 8);
    body[len_at + 2] = (uint8_t)hs;
    out[0] = 22;
    out[1] = 3;
    out[2] = 1;
    out[3] = (uint8_t)(b >> 8);
    out[4] = (uint8_t)b;
    memcpy(out + 5, body, b);
    return 5 + b;
}

static void parse_rules(void **state)
{
    (void)state;
    static const uint8_t one[] = {0x00, 0x0a, 0x00, 0x02, 0x00, 0x1d, /* another extension */
                                  0xff, 0x73, 0x00, 0x08, 0,    0,    0, 0, 0, 0, 0, 7};
    static const uint8_t twice[] = {0xff, 0x73, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 7,
                                    0xff, 0x73, 0x00, 0x08, 0, 0, 0, 0, 0, 0, 0, 8};
    static const uint8_t short7[] = {0xff, 0x73, 0x00, 0x07, 0, 0, 0, 0, 0, 0, 7};
    static const uint8_t overrun[] = {0xff, 0x73, 0x00, 0x09, 0, 0, 0, 0, 0, 0, 0, 7};
    uint8_t rec[2048];
    pl_stls_hello h;
    const char *why = NULL;
    size_t n = make_hello(rec, one, sizeof one, 1, 0);
    assert_int_equal(pl_stls_hello_parse(&h, rec, n, &why), PL_OK);
    assert_true(h.client_hello && h.has_tiebreak && h.tiebreak == 7);
    n = make_hello(rec, NULL, 0, 0, 0); /* no extensions at all */
    assert_int_equal(pl_stls_hello_parse(&h, rec, n, &why), PL_OK);
    assert_true(h.client_hello && !h.has_tiebreak);
    n = make_hello(rec, NULL, 0, 1, 0); /* an empty extensions block */
    assert_int_equal(pl_stls_hello_parse(&h, rec, n, &why), PL_OK);
    assert_false(h.has_tiebreak);
    n = make_hello(rec, twice, sizeof twice, 1, 0);
    assert_int_equal(pl_stls_hello_parse(&h, rec, n, &why), PL_ERR_PARSE);
    assert_string_equal(why, "the tie-breaker extension appears twice");
    n = make_hello(rec, short7, sizeof short7, 1, 0);
    assert_int_equal(pl_stls_hello_parse(&h, rec, n, &why), PL_ERR_PARSE);
    assert_string_equal(why, "the tie-breaker extension is not 8 bytes");
    n = make_hello(rec, overrun, sizeof overrun, 1, 0);
    assert_int_equal(pl_stls_hello_parse(&h, rec, n, &why), PL_ERR_PARSE);
    n = make_hello(rec, one, sizeof one, 1, 4); /* another message in the record */
    assert_int_equal(pl_stls_hello_parse(&h, rec, n, &why), PL_ERR_PARSE);
    /* not a ClientHello: an alert, a ServerHello, an empty record */
    static const uint8_t alert[] = {21, 3, 3, 0, 2, 2, 40};
    assert_int_equal(pl_stls_hello_parse(&h, alert, sizeof alert, &why), PL_OK);
    assert_false(h.client_hello);
    static const uint8_t server_hello[] = {22, 3, 3, 0, 4, 2, 0, 0, 0};
    assert_int_equal(pl_stls_hello_parse(&h, server_hello, sizeof server_hello, &why), PL_OK);
    assert_false(h.client_hello);
    static const uint8_t empty[] = {22, 3, 3, 0, 0};
    assert_int_equal(pl_stls_hello_parse(&h, empty, sizeof empty, &why), PL_OK);
    assert_false(h.client_hello);
    /* a header announcing more than 2^14 bytes */
    static const uint8_t huge[] = {22, 3, 1, 0x40, 0x01};
    size_t len = 0;
    assert_int_equal(pl_stls_record_len(huge, sizeof huge, &len), PL_ERR_TOOBIG);
    assert_int_equal(pl_stls_hello_parse(&h, huge, sizeof huge, &why), PL_ERR_PARSE);
    assert_int_equal(pl_stls_record_len(huge, 4, &len), PL_OK);
    assert_int_equal(len, 0);
    /* an engine refuses such a header at once */
    node a;
    node_init(&a, 0xa1, 5);
    pl_stls *s = engine(&a, PL_STLS_PEER, NULL);
    assert_int_equal(pl_stls_feed(s, huge, sizeof huge, NOW), PL_ERR_PARSE);
    pl_stls_free(s);
    node_free(&a);
}

/* A server-only side meeting a ClientHello that says "server only". */
static void server_only_both_fail(void **state)
{
    (void)state;
    static const uint8_t ext[] = {0xff, 0x73, 0x00, 0x08, 0xff, 0xff,
                                  0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
    uint8_t rec[2048];
    size_t n = make_hello(rec, ext, sizeof ext, 1, 0);
    node a;
    node_init(&a, 0xa1, 1);
    pl_stls *s = engine(&a, PL_STLS_SERVER, NULL);
    assert_int_equal(pl_stls_feed(s, rec, n, NOW), PL_ERR_ROLE);
    assert_failed(s, PL_ERR_ROLE, "both sides can only be the TLS server");
    pl_stls_free(s);
    node_free(&a);
}

/* A side that must become server after handing out only part of its own
 * ClientHello cannot take it back: it fails instead of corrupting the
 * stream. */
static void partly_sent_hello_fails(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 9, 5); /* a must serve */
    pl_stls *ea = engine(&a, PL_STLS_PEER, NULL);
    pl_stls *eb = engine(&b, PL_STLS_PEER, NULL);
    uint8_t part[10], hb[CHUNK];
    assert_int_equal(pl_stls_output(ea, part, sizeof part), (int)sizeof part);
    int nb = pl_stls_output(eb, hb, sizeof hb);
    assert_true(nb > 0);
    assert_int_equal(pl_stls_feed(ea, hb, (size_t)nb, NOW), PL_ERR_INVAL);
    assert_failed(ea, PL_ERR_INVAL, "partly sent");
    pl_stls_free(ea);
    pl_stls_free(eb);
    /* unsent, it is simply dropped: the peer never saw it */
    ea = engine(&a, PL_STLS_PEER, NULL);
    eb = engine(&b, PL_STLS_PEER, NULL);
    nb = pl_stls_output(eb, hb, sizeof hb);
    assert_int_equal(pl_stls_feed(ea, hb, (size_t)nb, NOW), PL_OK);
    assert_int_equal(pl_stls_role(ea), PL_STLS_SERVER);
    pump(ea, eb);
    established(eb, ea, &b, &a);
    pl_stls_free(ea);
    pl_stls_free(eb);
    node_free(&a);
    node_free(&b);
}

/* Bounded buffers: unread peer bytes fail the engine; unsent output makes
 * write refuse until it is drained. */
static void buffer_caps(void **state)
{
    (void)state;
    node a, b;
    pair(&a, &b, 1, 1);
    pl_stls *c = engine(&a, PL_STLS_CLIENT, &b.fp);
    pl_stls *s = engine(&b, PL_STLS_SERVER, NULL);
    pump(c, s);
    uint8_t *big = calloc(1, PL_STLS_OUTBUF_MAX);
    assert_non_null(big);
    assert_int_equal(pl_stls_write(c, big, PL_STLS_OUTBUF_MAX + (size_t)1), PL_ERR_TOOBIG);
    assert_int_equal(pl_stls_write(c, big, PL_STLS_OUTBUF_MAX / 2), PL_STLS_OUTBUF_MAX / 2);
    assert_int_equal(pl_stls_write(c, big, PL_STLS_OUTBUF_MAX / 2), PL_ERR_TOOBIG);
    assert_int_equal(pl_stls_state(c), PL_STLS_ESTABLISHED);
    size_t pending = pl_stls_pending(c);
    assert_true(pending > PL_STLS_OUTBUF_MAX / 2);
    uint8_t *wire = malloc(pending);
    assert_non_null(wire);
    assert_int_equal(pl_stls_output(c, wire, pending), (int)pending);
    assert_int_equal(pl_stls_write(c, big, 100), 100); /* drained: taken again */
    /* the server is fed the first part but nobody reads it */
    assert_int_equal(pl_stls_feed(s, wire, pending, NOW), PL_OK);
    assert_int_equal(pl_stls_feed(s, big, PL_STLS_INBUF_MAX, NOW), PL_ERR_TOOBIG);
    assert_failed(s, PL_ERR_TOOBIG, NULL);
    free(wire);
    free(big);
    pl_stls_free(c);
    pl_stls_free(s);
    node_free(&a);
    node_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(dial_accept),
        cmocka_unit_test(dial_accept_bytewise),
        cmocka_unit_test(confirmation_waits),
        cmocka_unit_test(confirmation_then_close),
        cmocka_unit_test(close_before_confirmation),
        cmocka_unit_test(peer_dials_server),
        cmocka_unit_test(cross_lower_first),
        cmocka_unit_test(cross_higher_first),
        cmocka_unit_test(cross_bytewise),
        cmocka_unit_test(cross_client_only_with_peer),
        cmocka_unit_test(cross_equal_aborts),
        cmocka_unit_test(client_only_both_fail),
        cmocka_unit_test(tiebreak_redrawn),
        cmocka_unit_test(tiebreak_rule),
        cmocka_unit_test(server_only_accepts_plain),
        cmocka_unit_test(odd_peer_names),
        cmocka_unit_test(plain_without_certificate),
        cmocka_unit_test(peer_serves_plain),
        cmocka_unit_test(client_only_meets_plain),
        cmocka_unit_test(wrong_key_fails),
        cmocka_unit_test(wrong_key_fails_when_serving),
        cmocka_unit_test(bad_keys_refused),
        cmocka_unit_test(untrusted_refused),
        cmocka_unit_test(refusal_logged),
        cmocka_unit_test(denied_refused),
        cmocka_unit_test(expired_refused),
        cmocka_unit_test(trust_uses_time_fed),
        cmocka_unit_test(accept_unknown),
        cmocka_unit_test(no_data_before_auth),
        cmocka_unit_test(config_names),
        cmocka_unit_test(new_arguments),
        cmocka_unit_test(parse_captured),
        cmocka_unit_test(parse_seeds),
        cmocka_unit_test(parse_damaged),
        cmocka_unit_test(parse_rules),
        cmocka_unit_test(server_only_both_fail),
        cmocka_unit_test(partly_sent_hello_fails),
        cmocka_unit_test(buffer_caps),
    };
    if (pl_init() != PL_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
