/*
 * bench_stls.c - what the symmetric TLS engine (src/stls/) costs, as ratios
 * against plain OpenSSL measured in the same run:
 *
 *   1. Full mutual-auth TLS 1.3 handshakes per second on one core, both
 *      sides in this thread, in memory: pairs of pl_stls engines (client and
 *      server-only, and two peer-role engines whose ClientHellos cross) vs
 *      plain OpenSSL SSL objects on a BIO pair, with the very same
 *      certificates and keys (taken from the peerlink configurations), the
 *      same settings (TLS 1.3, ed25519 signatures, X25519, no tickets) and
 *      the peer's key pinned by a certificate-verify callback.
 *   2. Bulk throughput over loopback TCP, one sender thread and one
 *      receiver thread, 64 KiB per write: pl_stls engines (bytes copied
 *      between the engine and the socket: one send per write, up to 256 KiB
 *      per recv) vs OpenSSL on memory BIOs doing the same I/O (the
 *      baseline), and OpenSSL on the socket itself (SSL_set_fd: with
 *      read-ahead, and with the defaults, which read each record in two
 *      system calls and send each record in one), for
 *      TLS_AES_256_GCM_SHA384 (peerlink's default) and
 *      TLS_CHACHA20_POLY1305_SHA256. The suite is forced on the
 *      configuration's SSL_CTX through the internal header: the public API
 *      has no knob for it.
 *
 * PL_BENCH_SECONDS (default 1) sets the time per handshake figure (split
 * over ROUNDS rounds), PL_BENCH_MB (default 256) the bytes per bulk run
 * (ROUNDS runs per figure). Not a test:
 * it prints figures and exits 0 (1 if something failed).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "peerlink.h"
#include "dgram/engine.h"
#include "stls/stls_int.h"

#define NOW         UINT64_C(1800000000)
#define PUMP_BUF    65536
#define RECORD_DATA 16384 /* plaintext per write: one full TLS record */
#define SEND_BUF    (4 * (RECORD_DATA + 256))
#define RECV_BUF    (256 * 1024)

#define ROUNDS 3

#define SUITE_AES    "TLS_AES_256_GCM_SHA384"
#define SUITE_CHACHA "TLS_CHACHA20_POLY1305_SHA256"

static void fatal(const char *what) __attribute__((noreturn));

static void fatal(const char *what)
{
    fprintf(stderr, "bench_stls: %s failed\n", what);
    ERR_print_errors_fp(stderr);
    exit(1);
}

static double best(double a, double b)
{
    return a > b ? a : b;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- two peerlink nodes that trust each other ------------------------ */

typedef struct node {
    pl_identity *id;
    pl_trust *trust;
    pl_stls_config *cfg;
    pl_fingerprint fp;
} node;

static void node_init(node *n, uint8_t tag)
{
    uint8_t seed[PL_ED25519_SEED_LEN];
    memset(seed, tag, sizeof seed);
    if (pl_identity_from_seed(&n->id, seed) != PL_OK || pl_trust_new(&n->trust) != PL_OK ||
        pl_stls_config_new(&n->cfg, n->id, "bench") != PL_OK)
        fatal("node setup");
    pl_identity_fingerprint(n->id, &n->fp);
    pl_stls_config_set_trust(n->cfg, n->trust);
}

static void node_trust(node *n, const node *peer)
{
    const char *why = NULL;
    if (pl_trust_set(n->trust, PL_TRUST_ALLOW, &peer->fp, NULL, NULL, 0, &why) != PL_OK)
        fatal("pl_trust_set");
}

static void node_free(node *n)
{
    pl_stls_config_free(n->cfg);
    pl_trust_free(n->trust);
    pl_identity_free(n->id);
}

/* ---- 1. handshakes in memory ----------------------------------------- */

static size_t move(pl_stls *from, pl_stls *to)
{
    static uint8_t buf[PUMP_BUF];
    size_t moved = 0;
    int n;
    while ((n = pl_stls_output(from, buf, sizeof buf)) > 0) {
        if (pl_stls_feed(to, buf, (size_t)n, NOW) != PL_OK)
            return 0;
        moved += (size_t)n;
    }
    return moved;
}

static int pl_handshake(const node *a, const node *b, unsigned fa, unsigned fb)
{
    pl_stls *x = NULL, *y = NULL;
    int rc = -1;
    if (pl_stls_new(&x, a->cfg, fa, &b->fp) != PL_OK || pl_stls_new(&y, b->cfg, fb, NULL) != PL_OK)
        goto out;
    if (fa == PL_STLS_PEER && fb == PL_STLS_PEER) {
        /* Both ClientHellos are on the wire before either is read. */
        static uint8_t hx[PUMP_BUF], hy[PUMP_BUF];
        int nx = pl_stls_output(x, hx, sizeof hx), ny = pl_stls_output(y, hy, sizeof hy);
        if (nx <= 0 || ny <= 0 || pl_stls_feed(x, hy, (size_t)ny, NOW) != PL_OK ||
            pl_stls_feed(y, hx, (size_t)nx, NOW) != PL_OK)
            goto out;
    }
    for (int round = 0; round < 16; round++)
        if (move(x, y) + move(y, x) == 0)
            break;
    if (pl_stls_state(x) == PL_STLS_ESTABLISHED && pl_stls_state(y) == PL_STLS_ESTABLISHED)
        rc = 0;
out:
    pl_stls_free(x);
    pl_stls_free(y);
    return rc;
}

/* Plain OpenSSL: the same certificate, key and TLS settings as a peerlink
 * node, the peer pinned by its public key. */
typedef struct plain {
    SSL_CTX *ctx;
    EVP_PKEY *pin; /* the peer's key */
} plain;

static int pin_cb(X509_STORE_CTX *xs, void *arg)
{
    const plain *p = arg;
    X509 *leaf = X509_STORE_CTX_get0_cert(xs);
    EVP_PKEY *key = leaf ? X509_get0_pubkey(leaf) : NULL;
    if (key && EVP_PKEY_eq(key, p->pin) == 1) {
        X509_STORE_CTX_set_error(xs, X509_V_OK);
        return 1;
    }
    X509_STORE_CTX_set_error(xs, X509_V_ERR_APPLICATION_VERIFICATION);
    return 0;
}

static void plain_init(plain *p, const node *self, const node *peer, const char *suite)
{
    SSL_CTX *src = self->cfg->ctx, *peer_src = peer->cfg->ctx;
    p->ctx = SSL_CTX_new(TLS_method());
    p->pin = X509_get_pubkey(SSL_CTX_get0_certificate(peer_src));
    if (!p->ctx || !p->pin || SSL_CTX_set_min_proto_version(p->ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(p->ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set1_sigalgs_list(p->ctx, "ed25519") != 1 ||
        SSL_CTX_set_ciphersuites(p->ctx, suite) != 1 ||
        SSL_CTX_use_certificate(p->ctx, SSL_CTX_get0_certificate(src)) != 1 ||
        SSL_CTX_use_PrivateKey(p->ctx, SSL_CTX_get0_privatekey(src)) != 1 ||
        SSL_CTX_set_num_tickets(p->ctx, 0) != 1)
        fatal("plain OpenSSL context");
    SSL_CTX_set_session_cache_mode(p->ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(p->ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_verify(p->ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    SSL_CTX_set_cert_verify_callback(p->ctx, pin_cb, p);
}

static void plain_free(plain *p)
{
    SSL_CTX_free(p->ctx);
    EVP_PKEY_free(p->pin);
}

/* Time spent on the server's side of plain_handshake, and how many. */
static double plain_srv_s;
static long plain_srv_n;

static int plain_handshake(const plain *c, const plain *s)
{
    double t0 = now_s();
    SSL *y = SSL_new(s->ctx);
    double srv = now_s() - t0;
    SSL *x = SSL_new(c->ctx);
    BIO *bx = NULL, *by = NULL;
    int rc = -1;
    if (!x || !y || BIO_new_bio_pair(&bx, 0, &by, 0) != 1)
        goto out;
    SSL_set_bio(x, bx, bx);
    SSL_set_bio(y, by, by);
    SSL_set_connect_state(x);
    SSL_set_accept_state(y);
    for (int round = 0; round < 16; round++) {
        int rx = SSL_do_handshake(x);
        t0 = now_s();
        int ry = SSL_do_handshake(y);
        srv += now_s() - t0;
        if (rx == 1 && ry == 1) {
            rc = 0;
            break;
        }
        if ((rx != 1 && SSL_get_error(x, rx) != SSL_ERROR_WANT_READ) ||
            (ry != 1 && SSL_get_error(y, ry) != SSL_ERROR_WANT_READ))
            break;
    }
out:
    SSL_free(x);
    t0 = now_s();
    SSL_free(y);
    srv += now_s() - t0;
    ERR_clear_error();
    if (rc == 0) {
        plain_srv_s += srv;
        plain_srv_n++;
    }
    return rc;
}

struct hs_ctx {
    const node *a, *b;
    const plain *pc, *ps;
};

static int do_pl_cs(void *p)
{
    const struct hs_ctx *c = p;
    return pl_handshake(c->a, c->b, PL_STLS_CLIENT, PL_STLS_SERVER);
}

static int do_pl_peer(void *p)
{
    const struct hs_ctx *c = p;
    return pl_handshake(c->a, c->b, PL_STLS_PEER, PL_STLS_PEER);
}

static int do_plain(void *p)
{
    const struct hs_ctx *c = p;
    return plain_handshake(c->pc, c->ps);
}

/* ---- the datagram handshake (src/dgram/) ------------------------------ */

static int dg_random(void *user, uint8_t *out, size_t len)
{
    (void)user;
    randombytes_buf(out, len);
    return 0;
}

struct dg_ctx {
    pl_dg_engine *a, *b;
    pl_fingerprint bfp;
    pl_dg_addr aa, ab;
    double resp_s; /* time spent inside the responder */
};

/* Move a's datagrams to b (timing b) or b's to a. */
static void dg_move(struct dg_ctx *d, bool to_b)
{
    static uint8_t buf[2048];
    pl_dg_addr to;
    int n;
    pl_dg_engine *from = to_b ? d->a : d->b, *dst = to_b ? d->b : d->a;
    while ((n = pl_dg_output(from, &to, buf, sizeof buf)) > 0) {
        double t0 = to_b ? now_s() : 0;
        pl_dg_input(dst, 1000, to_b ? &d->aa : &d->ab, buf, (size_t)n);
        if (to_b)
            d->resp_s += now_s() - t0;
    }
}

static int dg_established(pl_dg_engine *e)
{
    pl_dg_event ev;
    int n = 0;
    while (pl_dg_event_next(e, &ev)) {
        if (ev.kind == PL_DG_EV_ESTABLISHED) {
            n++;
            pl_dg_conn_close(ev.conn);
        }
    }
    return n;
}

/* One handshake, HELLO to ACCEPT, both engines in this thread. */
static int do_dg(void *p)
{
    struct dg_ctx *d = p;
    pl_dg_conn *c = NULL;
    if (pl_dg_connect(d->a, 1000, &d->ab, &d->bfp, NULL, 0, false, &c) != PL_OK)
        return -1;
    int est = 0;
    for (int round = 0; round < 4 && est < 2; round++) {
        dg_move(d, true);
        double t0 = now_s();
        est += dg_established(d->b);
        d->resp_s += now_s() - t0;
        dg_move(d, false);
        est += dg_established(d->a);
    }
    return est == 2 ? 0 : -1;
}

static void dg_init(struct dg_ctx *d, const node *a, const node *b)
{
    pl_dg_config ca = {.id = a->id,
                       .trust = a->trust,
                       .random = dg_random,
                       .used_cookies_max = 1u << 20,
                       .now_s = 1800000000};
    pl_dg_config cb = {.id = b->id,
                       .trust = b->trust,
                       .random = dg_random,
                       .used_cookies_max = 1u << 20,
                       .now_s = 1800000000};
    memset(d, 0, sizeof *d);
    if (pl_dg_new(&d->a, &ca) != PL_OK || pl_dg_new(&d->b, &cb) != PL_OK)
        fatal("pl_dg_new");
    d->bfp = b->fp;
    d->aa = (pl_dg_addr){6, {127, 0, 0, 1, 0x1f, 0x40}};
    d->ab = (pl_dg_addr){6, {127, 0, 0, 2, 0x1f, 0x40}};
}

typedef int (*bench_fn)(void *ctx);

static double rate(bench_fn fn, void *ctx, double seconds)
{
    long n = 0;
    double start = now_s(), t;
    do {
        for (int i = 0; i < 16; i++)
            if (fn(ctx) != 0)
                fatal("a handshake");
        n += 16;
        t = now_s() - start;
    } while (t < seconds);
    return (double)n / t;
}

/* ---- 2. bulk data over loopback TCP ---------------------------------- */

/* A connected loopback TCP pair: fds[0] dialled, fds[1] accepted. */
static void tcp_pair(int fds[2])
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (l < 0 || bind(l, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(l, 1) != 0 ||
        getsockname(l, (struct sockaddr *)&sa, &len) != 0)
        fatal("loopback listen");
    fds[0] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fds[0] < 0 || connect(fds[0], (struct sockaddr *)&sa, sizeof sa) != 0)
        fatal("loopback connect");
    fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
    if (fds[1] < 0)
        fatal("loopback accept");
    close(l);
    /* No Nagle: a record written alone must not wait for a delayed ACK. */
    int one = 1;
    for (int i = 0; i < 2; i++)
        if (setsockopt(fds[i], IPPROTO_TCP, TCP_NODELAY, &one, sizeof one) != 0)
            fatal("TCP_NODELAY");
}

static bool send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static bool flush(pl_stls *s, int fd, uint8_t *buf, size_t cap)
{
    int n;
    while ((n = pl_stls_output(s, buf, cap)) > 0)
        if (!send_all(fd, buf, (size_t)n))
            return false;
    return n == 0;
}

/* How a bulk run moves bytes. */
enum mode {
    FD_READ_AHEAD, /* OpenSSL on the socket, read-ahead on */
    FD_PLAIN,      /* OpenSSL on the socket, defaults: a record is two reads */
    MEM,           /* OpenSSL on memory BIOs, the same send/recv as PL */
    PL,            /* pl_stls engines */
};

/* One side of a bulk run: a thread with its socket. */
struct side {
    enum mode mode;
    bool sender;
    int fd;
    const node *self, *peer;
    const plain *pp;
    uint64_t total;
    double start, end; /* receiver: handshake done, last byte read */
    int ok;
};

static bool pl_side_handshake(struct side *sd, pl_stls *s, uint8_t *buf, size_t cap)
{
    for (int round = 0; round < 64; round++) {
        if (!flush(s, sd->fd, buf, cap))
            return false;
        if (pl_stls_state(s) == PL_STLS_ESTABLISHED)
            return true;
        if (pl_stls_state(s) != PL_STLS_HANDSHAKING)
            return false;
        ssize_t r = recv(sd->fd, buf, cap, 0);
        if (r <= 0 || pl_stls_feed(s, buf, (size_t)r, NOW) != PL_OK)
            return false;
    }
    return false;
}

static int pl_side(struct side *sd)
{
    uint8_t *buf = malloc(RECV_BUF), *data = malloc(RECORD_DATA * 4);
    pl_stls *s = NULL;
    unsigned flags = sd->sender ? PL_STLS_CLIENT : PL_STLS_SERVER;
    uint64_t done = 0;
    int rc = -1;
    if (!buf || !data ||
        pl_stls_new(&s, sd->self->cfg, flags, sd->sender ? &sd->peer->fp : NULL) != PL_OK ||
        !pl_side_handshake(sd, s, buf, RECV_BUF))
        goto out;
    sd->start = now_s();
    if (sd->sender) {
        memset(data, 0x5a, RECORD_DATA * 4);
        while (done < sd->total) {
            for (int i = 0; i < 4; i++)
                if (pl_stls_write(s, data + i * RECORD_DATA, RECORD_DATA) != RECORD_DATA)
                    goto out;
            if (!flush(s, sd->fd, buf, SEND_BUF))
                goto out;
            done += 4 * RECORD_DATA;
        }
    } else {
        while (done < sd->total) {
            ssize_t r = recv(sd->fd, buf, RECV_BUF, 0);
            if (r <= 0 || pl_stls_feed(s, buf, (size_t)r, NOW) != PL_OK)
                goto out;
            int n;
            while ((n = pl_stls_read(s, data, RECORD_DATA * 4)) > 0)
                done += (uint64_t)n;
            if (n < 0)
                goto out;
        }
    }
    rc = 0;
out:
    sd->end = now_s();
    pl_stls_free(s);
    free(buf);
    free(data);
    return rc;
}

/* OpenSSL on memory BIOs: everything written goes out in one send. */
static bool mem_flush(BIO *out, int fd, uint8_t *buf, size_t cap)
{
    size_t n;
    while (BIO_ctrl_pending(out) > 0)
        if (BIO_read_ex(out, buf, cap, &n) != 1 || !send_all(fd, buf, n))
            return false;
    return true;
}

static bool mem_handshake(SSL *ssl, BIO *in, BIO *out, int fd, uint8_t *buf, size_t cap)
{
    for (int round = 0; round < 64; round++) {
        int r = SSL_do_handshake(ssl);
        if (!mem_flush(out, fd, buf, cap))
            return false;
        if (r == 1)
            return true;
        if (SSL_get_error(ssl, r) != SSL_ERROR_WANT_READ)
            return false;
        size_t w;
        ssize_t got = recv(fd, buf, cap, 0);
        if (got <= 0 || BIO_write_ex(in, buf, (size_t)got, &w) != 1)
            return false;
    }
    return false;
}

static int plain_side(struct side *sd)
{
    uint8_t *data = malloc(RECV_BUF), *buf = malloc(RECV_BUF);
    SSL *ssl = SSL_new(sd->pp->ctx);
    BIO *in = NULL, *out = NULL;
    int rc = -1;
    if (!data || !buf || !ssl)
        goto out;
    if (sd->sender)
        SSL_set_connect_state(ssl);
    else
        SSL_set_accept_state(ssl);
    if (sd->mode == MEM) {
        in = BIO_new(BIO_s_mem());
        out = BIO_new(BIO_s_mem());
        if (!in || !out) {
            BIO_free(in);
            BIO_free(out);
            goto out;
        }
        BIO_set_mem_eof_return(in, -1);
        SSL_set_bio(ssl, in, out);
        if (!mem_handshake(ssl, in, out, sd->fd, buf, RECV_BUF))
            goto out;
    } else {
        SSL_set_read_ahead(ssl, sd->mode == FD_READ_AHEAD);
        if (SSL_set_fd(ssl, sd->fd) != 1 || SSL_do_handshake(ssl) != 1)
            goto out;
    }
    uint64_t done = 0;
    size_t n;
    sd->start = now_s();
    if (sd->sender) {
        memset(data, 0x5a, 4 * RECORD_DATA);
        while (done < sd->total) {
            if (SSL_write_ex(ssl, data, 4 * RECORD_DATA, &n) != 1)
                goto out;
            if (out && !mem_flush(out, sd->fd, buf, SEND_BUF))
                goto out;
            done += n;
        }
    } else {
        while (done < sd->total) {
            if (in) {
                size_t w;
                ssize_t got = recv(sd->fd, buf, RECV_BUF, 0);
                if (got <= 0 || BIO_write_ex(in, buf, (size_t)got, &w) != 1)
                    goto out;
                while (SSL_read_ex(ssl, data, RECV_BUF, &n) == 1)
                    done += n;
                if (SSL_get_error(ssl, 0) != SSL_ERROR_WANT_READ)
                    goto out;
            } else {
                if (SSL_read_ex(ssl, data, RECV_BUF, &n) != 1)
                    goto out;
                done += n;
            }
        }
    }
    rc = 0;
out:
    sd->end = now_s();
    SSL_free(ssl);
    free(data);
    free(buf);
    ERR_clear_error();
    return rc;
}

static void *side_main(void *arg)
{
    struct side *sd = arg;
    sd->ok = (sd->mode == PL ? pl_side(sd) : plain_side(sd)) == 0;
    return NULL;
}

/* MB/s (10^6 bytes) seen by the receiver, from its handshake's end to the
 * last byte read. */
static double bulk(enum mode mode, const node *a, const node *b, const char *suite, uint64_t total)
{
    int fds[2];
    plain pa = {0}, pb = {0};
    if (mode == PL) {
        if (SSL_CTX_set_ciphersuites(a->cfg->ctx, suite) != 1 ||
            SSL_CTX_set_ciphersuites(b->cfg->ctx, suite) != 1)
            fatal("setting the suite");
    } else {
        plain_init(&pa, a, b, suite);
        plain_init(&pb, b, a, suite);
    }
    tcp_pair(fds);
    struct side tx = {0}, rx = {0};
    tx.mode = rx.mode = mode;
    tx.total = rx.total = total;
    tx.sender = true;
    tx.fd = fds[0];
    rx.fd = fds[1];
    tx.self = rx.peer = a;
    tx.peer = rx.self = b;
    tx.pp = &pa;
    rx.pp = &pb;
    pthread_t t1, t2;
    if (pthread_create(&t1, NULL, side_main, &tx) != 0 ||
        pthread_create(&t2, NULL, side_main, &rx) != 0)
        fatal("pthread_create");
    pthread_join(t2, NULL);
    shutdown(fds[0], SHUT_RDWR); /* unblock a sender stuck after a failure */
    pthread_join(t1, NULL);
    close(fds[0]);
    close(fds[1]);
    plain_free(&pa);
    plain_free(&pb);
    if (!tx.ok || !rx.ok)
        fatal(mode == PL ? "a peerlink bulk run" : "an OpenSSL bulk run");
    return (double)total / (rx.end - rx.start) / 1e6;
}

int main(void)
{
    const char *env = getenv("PL_BENCH_SECONDS");
    double secs = env ? strtod(env, NULL) : 1.0;
    env = getenv("PL_BENCH_MB");
    double mb = env ? strtod(env, NULL) : 256;
    if (pl_init() != PL_OK || secs <= 0 || mb < 1 || mb > 1e6)
        return 1;
    uint64_t total = (uint64_t)(mb * 1048576) / (4 * RECORD_DATA) * (4 * RECORD_DATA);
    node a = {0}, b = {0};
    node_init(&a, 0xa1);
    node_init(&b, 0xb2);
    node_trust(&a, &b);
    node_trust(&b, &a);

    /* Rounds interleave the variants and each keeps its best figure, so a
     * busy machine skews the ratios less. */
    plain pa, pb;
    plain_init(&pa, &a, &b, SUITE_AES);
    plain_init(&pb, &b, &a, SUITE_AES);
    struct hs_ctx hc = {&a, &b, &pa, &pb};
    double ossl = 0, cs = 0, peer = 0, ossl_srv = 0;
    for (int r = 0; r < ROUNDS; r++) {
        plain_srv_s = 0;
        plain_srv_n = 0;
        ossl = best(ossl, rate(do_plain, &hc, secs / ROUNDS));
        ossl_srv = best(ossl_srv, (double)plain_srv_n / plain_srv_s);
        cs = best(cs, rate(do_pl_cs, &hc, secs / ROUNDS));
        peer = best(peer, rate(do_pl_peer, &hc, secs / ROUNDS));
    }
    /* the datagram transport's handshake: both sides, and the responder's
     * share of the time (what a server spends per handshake) */
    struct dg_ctx dg;
    dg_init(&dg, &a, &b);
    double dgr = 0, dg_resp = 0;
    for (int r = 0; r < ROUNDS; r++) {
        dg.resp_s = 0;
        double start = now_s(), t;
        long n = 0;
        do {
            for (int i = 0; i < 16; i++)
                if (do_dg(&dg) != 0)
                    fatal("a datagram handshake");
            n += 16;
            t = now_s() - start;
        } while (t < secs / ROUNDS);
        dgr = best(dgr, (double)n / t);
        dg_resp = best(dg_resp, (double)n / dg.resp_s);
    }
    pl_dg_free(dg.a);
    pl_dg_free(dg.b);
    plain_free(&pa);
    plain_free(&pb);
    printf("TLS 1.3 mutual Ed25519 handshakes in memory, both sides on one core\n"
           "(handshakes/s, best of %d rounds of %.2f s; ratio to OpenSSL)\n",
           ROUNDS, secs / ROUNDS);
    printf("  OpenSSL, BIO pair, key pinned by callback   %8.0f  1.00\n", ossl);
    printf("  pl_stls client-only + server-only           %8.0f  %.2f\n", cs, cs / ossl);
    printf("  pl_stls peer + peer (crossing ClientHellos) %8.0f  %.2f\n", peer, peer / ossl);
    printf("Datagram transport handshakes in memory (HELLO, COOKIE, INITIATE, ACCEPT), ratio to\n"
           "OpenSSL's TLS 1.3 mutual Ed25519 handshake measured above\n");
    printf("  pl_dg, both sides on one core               %8.0f  %.2f\n", dgr, dgr / ossl);
    printf("  OpenSSL server side alone (its time only)   %8.0f  1.00\n", ossl_srv);
    printf("  pl_dg responder alone (its time only)       %8.0f  %.2f\n", dg_resp,
           dg_resp / ossl_srv);

    printf("Bulk data over loopback TCP, sender and receiver threads, %.0f MiB per run, 64 KiB\n"
           "per write (MB/s at the receiver, best of %d runs; ratio to OpenSSL on memory BIOs\n"
           "with the same I/O)\n",
           (double)total / 1048576, ROUNDS);
    const char *suites[] = {SUITE_AES, SUITE_CHACHA};
    for (size_t i = 0; i < 2; i++) {
        double mb_s[4] = {0};
        for (int r = 0; r < ROUNDS; r++)
            for (int m = 0; m < 4; m++)
                mb_s[m] = best(mb_s[m], bulk((enum mode)m, &a, &b, suites[i], total));
        double base = mb_s[MEM];
        printf("  %s\n", suites[i]);
        printf("    OpenSSL, memory BIOs, send/recv     %8.0f  1.00\n", base);
        printf("    OpenSSL, SSL_set_fd + read-ahead    %8.0f  %.2f\n", mb_s[FD_READ_AHEAD],
               mb_s[FD_READ_AHEAD] / base);
        printf("    OpenSSL, SSL_set_fd (defaults)      %8.0f  %.2f\n", mb_s[FD_PLAIN],
               mb_s[FD_PLAIN] / base);
        printf("    pl_stls engines, send/recv          %8.0f  %.2f\n", mb_s[PL], mb_s[PL] / base);
    }
    node_free(&a);
    node_free(&b);
    return 0;
}
