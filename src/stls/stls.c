/*
 * stls.c - the symmetric TLS engine (DESIGN.md §2.4, §3.1; seeds 000, 001).
 *
 * OpenSSL runs on two memory BIOs: pl_stls_feed writes the peer's bytes into
 * one, pl_stls_output drains the other. Crossing openings:
 *
 *   A (peer, tie-breaker a)              B (peer, tie-breaker b), a < b
 *   ClientHello{a}  ---------\  /-------- ClientHello{b}
 *                             \/
 *                             /\
 *   sees b > a: stays client,   sees a < b: drops its client session,
 *   discards ClientHello{b}     feeds ClientHello{a} to a new server session
 *                 <------------ ServerHello ... Finished
 *   Certificate ... Finished -->
 *
 * The peer's first record is read by our own bounded parser (hello.c)
 * before OpenSSL sees it. The peer's key is judged inside the handshake by
 * pl_stls_verify_cb; a failure there aborts the handshake, so a refused
 * peer never reaches PL_STLS_ESTABLISHED on our side, and we write no
 * application data before that state (0.5-RTT data is never sent).
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "peerlink.h"
#include "stls/stls_int.h"
#include "util/buf.h"
#include "util/util.h"

struct pl_stls {
    const pl_stls_config *cfg;
    unsigned flags; /* PL_STLS_* given to pl_stls_new */
    unsigned role;  /* PL_STLS_CLIENT or PL_STLS_SERVER once settled, else PL_STLS_PEER */
    bool has_expected;
    pl_fingerprint expected;
    SSL *ssl;
    BIO *in, *out; /* owned by ssl */
    enum pl_stls_state state;
    int err;
    const char *why;
    bool has_peer;
    pl_fingerprint peer;
    char peer_name[PL_STLS_NAME_MAX + 1]; /* "" when none or unusable */
    uint64_t now;
    uint64_t tiebreak;
    uint8_t tiebreak_wire[PL_STLS_TIEBREAK_LEN];
    size_t sent;      /* bytes of output handed out so far */
    bool hs_done;     /* OpenSSL finished the handshake and the peer was accepted */
    bool peer_is_pl;  /* server: the ClientHello carried the tie-breaker */
    bool confirm_due; /* client: the server echoed it, so it will confirm */
    bool confirmed;   /* client: the server's confirmation (KeyUpdate) arrived */
    bool sniffing;    /* the peer's first record has not been judged yet */
    size_t first_len;
    uint8_t first[PL_STLS_RECORD_MAX];
};

static int fail(pl_stls *s, int err, const char *why)
{
    if (s->state != PL_STLS_FAILED) {
        s->state = PL_STLS_FAILED;
        s->err = err;
        s->why = why;
        pl_log(PL_LOG_INFO, "stls: %s", why);
    }
    return s->err;
}

/* After OpenSSL reported an error: our own refusal if the verify callback
 * made one, else the peer's alert or a generic handshake failure. */
static int fail_tls(pl_stls *s)
{
    unsigned long e = ERR_peek_error();
    char text[256];
    if (e) {
        ERR_error_string_n(e, text, sizeof text);
        pl_log(PL_LOG_DEBUG, "stls: OpenSSL: %s", text);
    }
    ERR_clear_error();
    if (s->state == PL_STLS_FAILED)
        return s->err;
    if (e && ERR_GET_LIB(e) == ERR_LIB_SSL && ERR_GET_REASON(e) >= SSL_AD_REASON_OFFSET)
        return fail(s, PL_ERR_AUTH, "the peer aborted the TLS handshake (it may not trust us)");
    return fail(s, PL_ERR_AUTH, "the TLS handshake failed");
}

/* A peerlink server confirms that it accepted our certificate with a
 * KeyUpdate right after the handshake (docs/formats.md §5.3); OpenSSL
 * handles the KeyUpdate itself, this only notices it arrived. */
static void on_message(int write_p, int version, int content_type, const void *buf, size_t len,
                       SSL *ssl, void *arg)
{
    pl_stls *s = arg;
    (void)version;
    (void)ssl;
    if (!write_p && content_type == SSL3_RT_HANDSHAKE && len >= 1 &&
        ((const uint8_t *)buf)[0] == SSL3_MT_KEY_UPDATE && s->hs_done)
        s->confirmed = true;
}

static int new_session(pl_stls *s, bool client)
{
    s->ssl = SSL_new(s->cfg->ctx);
    s->in = BIO_new(BIO_s_mem());
    s->out = BIO_new(BIO_s_mem());
    if (!s->ssl || !s->in || !s->out) {
        SSL_free(s->ssl);
        BIO_free(s->in);
        BIO_free(s->out);
        s->ssl = NULL;
        ERR_clear_error();
        return PL_ERR_NOMEM;
    }
    BIO_set_mem_eof_return(s->in, -1); /* empty means "more to come", not EOF */
    SSL_set_bio(s->ssl, s->in, s->out);
    SSL_set_app_data(s->ssl, s);
    SSL_set_msg_callback(s->ssl, on_message);
    SSL_set_msg_callback_arg(s->ssl, s);
    if (client)
        SSL_set_connect_state(s->ssl);
    else
        SSL_set_accept_state(s->ssl);
    return PL_OK;
}

/* After the handshake: the key OpenSSL authenticated (CertificateVerify) is
 * the one pl_stls_verify_cb accepted, and the verdict was recorded. */
static bool peer_is_accepted(const pl_stls *s)
{
    X509 *leaf = SSL_get0_peer_certificate(s->ssl);
    EVP_PKEY *key = leaf ? X509_get0_pubkey(leaf) : NULL;
    uint8_t pk[PL_ED25519_PK_LEN];
    size_t n = sizeof pk;
    pl_fingerprint fp;
    return s->has_peer && SSL_get_verify_result(s->ssl) == X509_V_OK && key &&
           EVP_PKEY_get_id(key) == EVP_PKEY_ED25519 &&
           EVP_PKEY_get_raw_public_key(key, pk, &n) == 1 && n == sizeof pk &&
           pl_fingerprint_from_key(&fp, pk, NULL) == PL_OK && pl_fingerprint_equal(&fp, &s->peer);
}

/* Once OpenSSL finished the handshake: a server that met a peerlink
 * client sends the confirmation; a client that was promised one waits for
 * it (or for the server's first application data, which implies it). */
static int finish_handshake(pl_stls *s)
{
    if (!s->hs_done) {
        if (s->state == PL_STLS_FAILED || !peer_is_accepted(s)) /* belt and braces */
            return fail(s, PL_ERR_AUTH, "the handshake ended without an accepted peer");
        s->hs_done = true;
        if (s->role == PL_STLS_SERVER && s->peer_is_pl) {
            if (SSL_key_update(s->ssl, SSL_KEY_UPDATE_NOT_REQUESTED) != 1 ||
                SSL_do_handshake(s->ssl) != 1)
                return fail_tls(s);
        }
    }
    if (s->role == PL_STLS_CLIENT && s->confirm_due && !s->confirmed) {
        uint8_t c;
        size_t n;
        if (SSL_peek_ex(s->ssl, &c, 1, &n) == 1) {
            s->confirmed = true; /* application data: the server accepted us */
        } else {
            /* The KeyUpdate may come with the peer's close_notify behind it
             * (a server with nothing to say): confirmed all the same. */
            int e = SSL_get_error(s->ssl, 0);
            if (e == SSL_ERROR_ZERO_RETURN && !s->confirmed)
                return fail(s, PL_ERR_AUTH, "the peer closed the connection before accepting us");
            if (e != SSL_ERROR_ZERO_RETURN && e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                return fail_tls(s);
            ERR_clear_error();
        }
        if (!s->confirmed)
            return PL_OK;
    }
    s->state = PL_STLS_ESTABLISHED;
    return PL_OK;
}

/* Run the handshake as far as the bytes allow; once established, let
 * OpenSSL look at what arrived so alerts and close_notify are noticed. */
static int drive(pl_stls *s)
{
    ERR_clear_error();
    if (s->state == PL_STLS_HANDSHAKING && !s->hs_done) {
        int r = SSL_do_handshake(s->ssl);
        if (r != 1) {
            int e = SSL_get_error(s->ssl, r);
            if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE)
                return s->state == PL_STLS_FAILED ? s->err : PL_OK;
            return fail_tls(s);
        }
    }
    if (s->state == PL_STLS_HANDSHAKING) {
        int rc = finish_handshake(s);
        if (rc != PL_OK || s->state != PL_STLS_ESTABLISHED)
            return rc;
    }
    if (s->state == PL_STLS_ESTABLISHED) {
        uint8_t c;
        size_t n;
        if (SSL_peek_ex(s->ssl, &c, 1, &n) != 1) {
            int e = SSL_get_error(s->ssl, 0);
            if (e == SSL_ERROR_ZERO_RETURN)
                s->state = PL_STLS_CLOSED;
            else if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
                return fail_tls(s);
        }
        ERR_clear_error();
    }
    return PL_OK;
}

static int push(pl_stls *s, const uint8_t *in, size_t len)
{
    if (len > PL_STLS_INBUF_MAX || BIO_ctrl_pending(s->in) > PL_STLS_INBUF_MAX - len)
        return fail(s, PL_ERR_TOOBIG, "too many unread bytes from the peer");
    while (len > 0) {
        int chunk = len > INT_MAX ? INT_MAX : (int)len;
        if (BIO_write(s->in, in, chunk) != chunk) {
            ERR_clear_error();
            return fail(s, PL_ERR_NOMEM, "out of memory buffering peer bytes");
        }
        in += chunk;
        len -= (size_t)chunk;
    }
    return PL_OK;
}

/* Switch to a server session fed with the peer's ClientHello. Our own
 * ClientHello must be either unsent (the peer never saw it) or wholly sent
 * (the peer settles the same way); half of it would poison the stream. */
static int become_server(pl_stls *s)
{
    if (s->sent > 0 && BIO_ctrl_pending(s->out) > 0)
        return fail(s, PL_ERR_INVAL,
                    "our ClientHello was only partly sent when the peer's "
                    "crossed it: drain pl_stls_output before feeding");
    SSL_free(s->ssl);
    s->ssl = NULL;
    s->role = PL_STLS_SERVER;
    int rc = new_session(s, false);
    if (rc != PL_OK)
        return fail(s, rc, "out of memory creating the server session");
    return push(s, s->first, s->first_len);
}

/* The peer's first record is complete in s->first: settle the roles. */
static int settle(pl_stls *s)
{
    pl_stls_hello h;
    const char *why = NULL;
    s->sniffing = false;
    int rc = pl_stls_hello_parse(&h, s->first, s->first_len, &why);
    if (rc != PL_OK)
        return fail(s, rc, why);
    if (s->role == PL_STLS_SERVER) {
        if (h.client_hello && h.has_tiebreak && h.tiebreak == PL_STLS_TIEBREAK_SERVER_ONLY)
            return fail(s, PL_ERR_ROLE, "both sides can only be the TLS server");
        return push(s, s->first, s->first_len);
    }
    if (!h.client_hello) { /* a ServerHello (or an alert): we are the client */
        s->role = PL_STLS_CLIENT;
        return push(s, s->first, s->first_len);
    }
    if (!h.has_tiebreak) {
        if (!(s->flags & PL_STLS_SERVER))
            return fail(s, PL_ERR_ROLE,
                        "the peer is a plain TLS client and this side can only be client");
        return become_server(s);
    }
    switch (pl_stls_tiebreak_decide(s->tiebreak, h.tiebreak)) {
    case PL_STLS_CLIENT:
        s->role = PL_STLS_CLIENT; /* the peer's ClientHello is discarded, unseen by OpenSSL */
        return PL_OK;
    case PL_STLS_SERVER: return become_server(s);
    default:
        if (s->tiebreak == PL_STLS_TIEBREAK_CLIENT_ONLY)
            return fail(s, PL_ERR_ROLE, "both sides can only be the TLS client");
        return fail(s, PL_ERR_ROLE, "equal tie-breakers: the connection is refused");
    }
}

int pl_stls_new(pl_stls **out, const pl_stls_config *cfg, unsigned flags,
                const pl_fingerprint *expected)
{
    if (!out)
        return PL_ERR_INVAL;
    *out = NULL;
    unsigned role = flags & PL_STLS_PEER;
    if (!cfg || role == 0 || (flags & ~(PL_STLS_PEER | PL_STLS_ACCEPT_UNKNOWN)) != 0 ||
        ((flags & PL_STLS_ACCEPT_UNKNOWN) && !expected))
        return PL_ERR_INVAL;
    pl_stls *s = calloc(1, sizeof *s);
    if (!s)
        return PL_ERR_NOMEM;
    s->cfg = cfg;
    s->flags = flags;
    s->role = role;
    s->sniffing = true;
    s->state = PL_STLS_HANDSHAKING;
    if (expected) {
        s->expected = *expected;
        s->has_expected = true;
    }
    int rc = PL_OK;
    if (role == PL_STLS_PEER)
        rc = pl_stls_tiebreak_draw(cfg->random, cfg->random_user, &s->tiebreak);
    else
        s->tiebreak = PL_STLS_TIEBREAK_CLIENT_ONLY; /* unused by a server-only side */
    pl_wr w = pl_wr_init(s->tiebreak_wire, sizeof s->tiebreak_wire);
    pl_wr_u64(&w, s->tiebreak);
    if (rc == PL_OK)
        rc = new_session(s, role != PL_STLS_SERVER);
    if (rc == PL_OK && role != PL_STLS_SERVER) {
        rc = drive(s); /* writes our ClientHello */
        if (rc == PL_OK && s->state != PL_STLS_HANDSHAKING)
            rc = PL_ERR_INTERNAL;
    }
    if (rc != PL_OK) {
        pl_stls_free(s);
        return rc;
    }
    *out = s;
    return PL_OK;
}

void pl_stls_free(pl_stls *s)
{
    if (!s)
        return;
    SSL_free(s->ssl);
    OPENSSL_cleanse(s, sizeof *s);
    free(s);
}

int pl_stls_feed(pl_stls *s, const uint8_t *in, size_t len, uint64_t now)
{
    if (s->state == PL_STLS_FAILED)
        return s->err;
    if (s->state == PL_STLS_CLOSED)
        return PL_ERR_INVAL;
    if (len > 0 && !in)
        return PL_ERR_INVAL;
    s->now = now;
    while (s->sniffing && len > 0) {
        /* Gather the peer's first record: its header, then its body. */
        size_t want = 0;
        if (pl_stls_record_len(s->first, s->first_len, &want) != PL_OK)
            return fail(s, PL_ERR_PARSE, "the peer's first TLS record is longer than 2^14 bytes");
        if (want == 0)
            want = 5;
        size_t n = want - s->first_len < len ? want - s->first_len : len;
        memcpy(s->first + s->first_len, in, n);
        s->first_len += n;
        in += n;
        len -= n;
        if (pl_stls_record_len(s->first, s->first_len, &want) != PL_OK)
            return fail(s, PL_ERR_PARSE, "the peer's first TLS record is longer than 2^14 bytes");
        if (want == 0 || s->first_len < want)
            continue;
        int rc = settle(s);
        if (rc != PL_OK)
            return rc;
    }
    if (s->sniffing)
        return PL_OK;
    int rc = push(s, in, len);
    if (rc != PL_OK)
        return rc;
    return drive(s);
}

int pl_stls_output(pl_stls *s, uint8_t *out, size_t cap)
{
    if (cap > 0 && !out)
        return PL_ERR_INVAL;
    if (cap > INT_MAX)
        cap = INT_MAX;
    if (!s->ssl || cap == 0 || BIO_ctrl_pending(s->out) == 0)
        return 0;
    size_t n = 0;
    if (BIO_read_ex(s->out, out, cap, &n) != 1) {
        ERR_clear_error();
        return 0;
    }
    s->sent += n;
    return (int)n;
}

size_t pl_stls_pending(const pl_stls *s)
{
    return s->ssl ? BIO_ctrl_pending(s->out) : 0;
}

int pl_stls_write(pl_stls *s, const uint8_t *in, size_t len)
{
    if (s->state == PL_STLS_FAILED)
        return s->err;
    /* After the peer's close_notify our direction stays open until we close
     * it (RFC 8446 §6.1: each side closes its own write side). */
    if ((s->state != PL_STLS_ESTABLISHED && s->state != PL_STLS_CLOSED) ||
        SSL_get_shutdown(s->ssl) & SSL_SENT_SHUTDOWN)
        return PL_ERR_INVAL;
    if (len > INT_MAX || (len > 0 && !in))
        return PL_ERR_INVAL;
    if (len == 0)
        return 0;
    if (len > PL_STLS_OUTBUF_MAX || BIO_ctrl_pending(s->out) > PL_STLS_OUTBUF_MAX - len)
        return PL_ERR_TOOBIG; /* not fatal: the caller drains pl_stls_output first */
    size_t n = 0;
    ERR_clear_error();
    if (SSL_write_ex(s->ssl, in, len, &n) != 1 || n != len)
        return fail_tls(s);
    return (int)n;
}

int pl_stls_read(pl_stls *s, uint8_t *out, size_t cap)
{
    if (s->state == PL_STLS_FAILED)
        return s->err;
    if (s->state != PL_STLS_ESTABLISHED || cap == 0)
        return 0; /* nothing before the peer is authenticated */
    if (!out)
        return PL_ERR_INVAL;
    if (cap > INT_MAX)
        cap = INT_MAX;
    size_t n = 0;
    ERR_clear_error();
    if (SSL_read_ex(s->ssl, out, cap, &n) == 1)
        return (int)n;
    int e = SSL_get_error(s->ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        ERR_clear_error();
        return 0;
    }
    if (e == SSL_ERROR_ZERO_RETURN) {
        s->state = PL_STLS_CLOSED;
        ERR_clear_error();
        return 0;
    }
    return fail_tls(s);
}

int pl_stls_close(pl_stls *s)
{
    if (s->state == PL_STLS_FAILED)
        return s->err;
    if (s->state == PL_STLS_HANDSHAKING)
        return PL_ERR_INVAL;
    ERR_clear_error();
    if (SSL_shutdown(s->ssl) < 0) {
        ERR_clear_error();
        return PL_ERR_INTERNAL;
    }
    return PL_OK;
}

enum pl_stls_state pl_stls_state(const pl_stls *s)
{
    return s->state;
}

int pl_stls_error(const pl_stls *s, const char **why)
{
    if (why && s->err)
        *why = s->why;
    return s->err;
}

unsigned pl_stls_role(const pl_stls *s)
{
    return s->role;
}

int pl_stls_peer(const pl_stls *s, pl_fingerprint *fp)
{
    if (!s->has_peer)
        return PL_ERR_NOTFOUND;
    *fp = s->peer;
    return PL_OK;
}

int pl_stls_peer_name(const pl_stls *s, char *out, size_t cap)
{
    if (!s->has_peer)
        return PL_ERR_NOTFOUND;
    pl_wr w = pl_wr_init(out, cap);
    pl_wr_str(&w, s->peer_name);
    pl_wr_nul(&w);
    return pl_wr_result(&w);
}

uint64_t pl_stls_tiebreak(const pl_stls *s)
{
    return s->tiebreak;
}

SSL *pl_stls_session(const pl_stls *s)
{
    return s->ssl;
}

/* ---- callbacks OpenSSL runs inside the handshake -------------------- */

/* ClientHello: our tie-breaker. EncryptedExtensions (OpenSSL asks only
 * when the client sent the extension): empty, the promise to confirm. */
int pl_stls_ext_add(SSL *ssl, unsigned int type, unsigned int context, const unsigned char **out,
                    size_t *outlen, X509 *x, size_t chainidx, int *al, void *arg)
{
    const pl_stls *s = SSL_get_app_data(ssl);
    if (!s)
        return 0; /* leave it out */
    if (context & SSL_EXT_CLIENT_HELLO) {
        *out = s->tiebreak_wire;
        *outlen = sizeof s->tiebreak_wire;
        return 1;
    }
    if (context & SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS) {
        *out = NULL;
        *outlen = 0;
        return 1;
    }
    return 0;
}

/* A server session sees the tie-breaker again (settle() has already acted
 * on it, so only its shape is checked) and learns its client is peerlink;
 * a client learns its server will confirm. */
int pl_stls_ext_parse(SSL *ssl, unsigned int type, unsigned int context, const unsigned char *in,
                      size_t inlen, X509 *x, size_t chainidx, int *al, void *arg)
{
    pl_stls *s = SSL_get_app_data(ssl);
    size_t want = (context & SSL_EXT_CLIENT_HELLO) ? PL_STLS_TIEBREAK_LEN : 0;
    if (!s || inlen != want) {
        *al = SSL_AD_DECODE_ERROR;
        return 0;
    }
    if (context & SSL_EXT_CLIENT_HELLO)
        s->peer_is_pl = true;
    else
        s->confirm_due = true;
    return 1;
}

/* The subject CN, if it is a usable display name. */
static void read_name(X509 *leaf, char out[PL_STLS_NAME_MAX + 1])
{
    X509_NAME *subject = X509_get_subject_name(leaf);
    int i = subject ? X509_NAME_get_index_by_NID(subject, NID_commonName, -1) : -1;
    X509_NAME_ENTRY *e = i >= 0 ? X509_NAME_get_entry(subject, i) : NULL;
    unsigned char *utf8 = NULL;
    int n = e ? ASN1_STRING_to_UTF8(&utf8, X509_NAME_ENTRY_get_data(e)) : -1;
    out[0] = '\0';
    if (n > 0 && pl_stls_name_ok((const char *)utf8, (size_t)n) && !memchr(utf8, '\0', (size_t)n)) {
        memcpy(out, utf8, (size_t)n);
        out[n] = '\0';
    }
    OPENSSL_free(utf8);
    ERR_clear_error();
}

static int refuse(pl_stls *s, X509_STORE_CTX *xs, int err, const char *why)
{
    char fp[PL_FINGERPRINT_STR_MAX];
    if (s->has_peer && pl_fingerprint_format(&s->peer, fp, sizeof fp) > 0)
        pl_log(PL_LOG_INFO, "stls: refusing %s", fp);
    X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
    fail(s, err, why);
    return 0;
}

/* The peer's leaf certificate: an Ed25519 key under our policy, the
 * expected fingerprint, the trust store's verdict. Returning 1 is the only
 * way into the session; every other path returns 0 and aborts it. */
int pl_stls_verify_cb(X509_STORE_CTX *xs, void *arg)
{
    SSL *ssl = X509_STORE_CTX_get_ex_data(xs, SSL_get_ex_data_X509_STORE_CTX_idx());
    pl_stls *s = ssl ? SSL_get_app_data(ssl) : NULL;
    if (!s)
        return 0;
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    EVP_PKEY *key = leaf ? X509_get0_pubkey(leaf) : NULL;
    uint8_t pk[PL_ED25519_PK_LEN];
    size_t n = sizeof pk;
    if (!key || EVP_PKEY_get_id(key) != EVP_PKEY_ED25519 ||
        EVP_PKEY_get_raw_public_key(key, pk, &n) != 1 || n != sizeof pk)
        return refuse(s, xs, PL_ERR_AUTH, "the peer's certificate does not hold an Ed25519 key");
    if (pl_ed25519_check_key(pk) != PL_OK)
        return refuse(s, xs, PL_ERR_AUTH, "the peer's key fails the Ed25519 key policy");
    if (pl_fingerprint_from_key(&s->peer, pk, NULL) != PL_OK)
        return refuse(s, xs, PL_ERR_INTERNAL, "cannot compute the peer's fingerprint");
    s->has_peer = true;
    read_name(leaf, s->peer_name);
    if (s->has_expected && !pl_fingerprint_equal(&s->peer, &s->expected))
        return refuse(s, xs, PL_ERR_AUTH, "the peer's key is not the one dialled (wrong key)");
    enum pl_trust_verdict v =
        s->cfg->trust ? pl_trust_check(s->cfg->trust, &s->peer, s->now) : PL_TRUST_UNKNOWN;
    if (v == PL_TRUST_DENIED)
        return refuse(s, xs, PL_ERR_DENIED, "the peer is denied by the trust store");
    if (v != PL_TRUST_ALLOWED && !(s->has_expected && (s->flags & PL_STLS_ACCEPT_UNKNOWN)))
        return refuse(s, xs, PL_ERR_UNTRUSTED, "the peer is not in the trust store");
    X509_STORE_CTX_set_error(xs, X509_V_OK);
    return 1;
}
