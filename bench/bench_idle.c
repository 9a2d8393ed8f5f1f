/*
 * bench_idle.c - what an idle datagram connection costs (src/dgram/), as a
 * ratio against idle TLS 1.3 connections made with OpenSSL in the same run.
 *
 *   1. N (default 100000, --n) connections between two datagram engines in
 *      this process, datagrams handed over in memory. Every initiator
 *      connection has an address of its own, as N clients would: the
 *      responder sees N sources, and no handshake supersedes another (the
 *      engine replaces an unconfirmed connection when the same peer at the
 *      same address handshakes again). Proof of work is off (forced to 0
 *      bits): the load-based difficulty would otherwise rise at once, as
 *      it should under a flood, and the run would measure hashing. Then:
 *      the time to establish them, heap bytes per connection of each side
 *      (mallinfo2 uordblks + hblkhd: what freeing that side's engine gives
 *      back, less what the empty engine holds), the RSS delta, and what one more
 *      packet, one pl_dg_timer, one pl_dg_deadline and one empty
 *      pl_dg_output cost at 1,000 and at N connections.
 *   2. The baseline: --tls (default 2000) pairs of OpenSSL SSL objects,
 *      TLS 1.3 with Ed25519 certificates on both sides (mutual
 *      authentication, as peerlink always does) and X25519, no tickets and
 *      no session cache, handshakes over memory BIOs; once done the BIOs
 *      are dropped (SSL_set_bio NULL: the SSL object alone is measured)
 *      and the heap each side gives back when freed is its cost, with
 *      SSL_MODE_RELEASE_BUFFERS on and off.
 *
 * Not a test: it prints figures and exits 0 (1 if something failed).
 */
#define _GNU_SOURCE
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include "peerlink.h"
#include "dgram/engine.h"

#define NOW_S   UINT64_C(1800000000)
#define T0      UINT64_C(1000000)
#define BATCH   64   /* handshakes under way at once (the output queue holds 256) */
#define SAMPLES 1000 /* calls per per-call figure */
#define EARLY   1000 /* the connection count of the small figure */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Bytes malloc has handed out: from the heap (uordblks) and as mmapped
 * blocks (hblkhd: large tables, such as a hash table of 100k entries). */
static size_t heap_bytes(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
}

static size_t rss_bytes(void)
{
    FILE *f = fopen("/proc/self/statm", "r");
    unsigned long size = 0, res = 0;
    if (f) {
        if (fscanf(f, "%lu %lu", &size, &res) != 2)
            res = 0;
        fclose(f);
    }
    return (size_t)res * (size_t)sysconf(_SC_PAGESIZE);
}

static int sodium_random(void *user, uint8_t *out, size_t len)
{
    (void)user;
    randombytes_buf(out, len);
    return 0;
}

/* ---- peerlink ------------------------------------------------------------ */

typedef struct side {
    pl_identity *id;
    pl_trust *trust;
    pl_fingerprint fp;
    pl_dg_engine *e;
    size_t fixed; /* heap bytes of the empty engine */
} side;

typedef struct run {
    side ini, resp;
    pl_dg_addr raddr; /* the responder */
    uint64_t now;
    size_t n;
    pl_dg_conn **conns; /* the initiator's ends */
    uint8_t (*icid)[8]; /* per batch slot: whose packets */
    size_t batch_base, batch_len;
    unsigned long established, failed;
} run;

/* Client i's address: 10.a.b.c, port from i too (IPv4: 4 bytes, port 2). */
static pl_dg_addr client_addr(size_t i)
{
    pl_dg_addr a = {6, {10, (uint8_t)(i >> 16), (uint8_t)(i >> 8), (uint8_t)i, 0x1f, 0x90}};
    return a;
}

static int side_init(side *s, size_t max_conns, size_t used_max)
{
    if (pl_identity_generate(&s->id) != PL_OK || pl_trust_new(&s->trust) != PL_OK)
        return -1;
    pl_identity_fingerprint(s->id, &s->fp);
    pl_dg_config cfg = {.id = s->id,
                        .trust = s->trust,
                        .random = sodium_random,
                        .now_s = NOW_S,
                        .capacity_per_s = 1000000,
                        .used_cookies_max = used_max,
                        .max_conns = max_conns};
    size_t before = heap_bytes();
    if (pl_dg_new(&s->e, &cfg) != PL_OK)
        return -1;
    s->fixed = heap_bytes() - before;
    pl_dg_force_difficulty(s->e, 0);
    return 0;
}

/* Which connection of the batch a packet of the initiator belongs to
 * (HELLO and INITIATE carry its icid). */
static size_t owner(const run *r, const uint8_t *p, size_t len)
{
    const uint8_t *icid = NULL;
    if (p[0] == 1 && len >= 26)
        icid = p + 18;
    else if (p[0] == 3 && len >= 10)
        icid = p + 2;
    for (size_t k = 0; icid && k < r->batch_len; k++)
        if (memcmp(r->icid[k], icid, 8) == 0)
            return r->batch_base + k;
    return SIZE_MAX;
}

/* Hand every datagram over until both are quiet; `from` of a DATA packet
 * of the initiator: the address of connection `data_from`. */
static void pump(run *r, size_t data_from)
{
    static uint8_t buf[2048];
    bool again = true;
    while (again) {
        again = false;
        pl_dg_addr to;
        int n;
        while ((n = pl_dg_output(r->ini.e, &to, buf, sizeof buf)) > 0) {
            size_t i = buf[0] == 5 ? data_from : owner(r, buf, (size_t)n);
            if (i == SIZE_MAX)
                continue;
            pl_dg_addr from = client_addr(i);
            pl_dg_input(r->resp.e, r->now, &from, buf, (size_t)n);
            again = true;
        }
        while ((n = pl_dg_output(r->resp.e, &to, buf, sizeof buf)) > 0) {
            pl_dg_input(r->ini.e, r->now, &r->raddr, buf, (size_t)n);
            again = true;
        }
    }
    pl_dg_event ev;
    while (pl_dg_event_next(r->ini.e, &ev)) {
        if (ev.kind == PL_DG_EV_ESTABLISHED)
            r->established++;
        else if (ev.kind == PL_DG_EV_FAILED)
            r->failed++;
        free(ev.msg);
    }
    while (pl_dg_event_next(r->resp.e, &ev))
        free(ev.msg);
}

/* Connections [from, to), BATCH at a time. */
static int establish(run *r, size_t from, size_t to)
{
    for (size_t base = from; base < to; base += BATCH) {
        r->batch_base = base;
        r->batch_len = to - base < BATCH ? to - base : BATCH;
        for (size_t k = 0; k < r->batch_len; k++) {
            if (pl_dg_connect(r->ini.e, r->now, &r->raddr, &r->resp.fp, NULL, 0, false,
                              &r->conns[base + k]) != PL_OK)
                return -1;
            /* the icid is the HELLO's: read it from the packet below */
        }
        /* the HELLOs wait in the output queue in order: note their icids */
        static uint8_t buf[2048];
        pl_dg_addr to_addr;
        int n;
        size_t k = 0;
        while (k < r->batch_len && (n = pl_dg_output(r->ini.e, &to_addr, buf, sizeof buf)) > 0) {
            if (buf[0] != 1)
                return -1;
            memcpy(r->icid[k], buf + 18, 8);
            pl_dg_addr fa = client_addr(base + k);
            pl_dg_input(r->resp.e, r->now, &fa, buf, (size_t)n);
            k++;
        }
        pump(r, SIZE_MAX);
    }
    return r->established == to && r->failed == 0 ? 0 : -1;
}

/* Per-call costs with the engines holding what they hold now. */
static void per_call(run *r, size_t held)
{
    static uint8_t buf[2048];
    pl_dg_addr to;
    double in_us = 0;
    unsigned got = 0;
    for (unsigned s = 0; s < SAMPLES; s++) {
        size_t i = (size_t)randombytes_uniform((uint32_t)held);
        if (pl_dg_ping(r->conns[i], r->now) != PL_OK)
            continue;
        int n = pl_dg_output(r->ini.e, &to, buf, sizeof buf);
        if (n <= 0 || buf[0] != 5)
            continue;
        pl_dg_addr from = client_addr(i);
        double t = now_s();
        pl_dg_input(r->resp.e, r->now, &from, buf, (size_t)n);
        in_us += (now_s() - t) * 1e6;
        got++;
        pump(r, i); /* the PONG back */
    }
    pl_dg_event ev;
    while (pl_dg_event_next(r->ini.e, &ev))
        free(ev.msg);
    /* pl_dg_timer when nothing is due, pl_dg_deadline, an empty output */
    uint64_t d = pl_dg_deadline(r->resp.e);
    uint64_t t_at = d > r->now ? r->now : d - 1;
    double t = now_s();
    for (unsigned s = 0; s < SAMPLES; s++)
        pl_dg_timer(r->resp.e, t_at);
    double timer_us = (now_s() - t) * 1e6 / SAMPLES;
    t = now_s();
    uint64_t sink = 0;
    for (unsigned s = 0; s < SAMPLES; s++)
        sink += pl_dg_deadline(r->resp.e);
    double dl_us = (now_s() - t) * 1e6 / SAMPLES;
    t = now_s();
    int outs = 0;
    for (unsigned s = 0; s < SAMPLES; s++)
        outs += pl_dg_output(r->resp.e, &to, buf, sizeof buf);
    double out_us = (now_s() - t) * 1e6 / SAMPLES;
    printf("  at %zu connections: one DATA packet in (a PING, lookup and decryption included) "
           "%.2f us; pl_dg_timer (nothing due) %.3f us; pl_dg_deadline %.3f us; pl_dg_output "
           "(nothing to send) %.3f us%s\n",
           held, got ? in_us / got : 0.0, timer_us, dl_us, out_us,
           sink == 0 || outs != 0 ? " (?)" : "");
}

static int bench_peerlink(size_t n, double *per_conn_resp)
{
    run r;
    memset(&r, 0, sizeof r);
    r.n = n;
    r.now = T0;
    r.raddr = (pl_dg_addr){6, {192, 0, 2, 1, 0x1f, 0x90}};
    r.conns = calloc(n, sizeof *r.conns);
    r.icid = calloc(BATCH, sizeof *r.icid);
    if (!r.conns || !r.icid)
        return -1;
    if (side_init(&r.ini, n, 0) != 0 || side_init(&r.resp, n, 2 * n) != 0)
        return -1;
    const char *why = NULL;
    if (pl_trust_set(r.resp.trust, PL_TRUST_ALLOW, &r.ini.fp, NULL, NULL, 0, &why) != PL_OK)
        return -1;
    size_t h1 = heap_bytes(), rss1 = rss_bytes();
    printf("peerlink: %zu idle connections between two engines in memory; proof of work "
           "forced off (0 bits) so that the run measures the handshakes, not hashing\n",
           n);
    printf("  empty engines (queues, per-source accounting, the used-cookie record: the "
           "responder's sized for %zu handshakes per epoch): initiator %zu B, responder %zu B\n",
           2 * n, r.ini.fixed, r.resp.fixed);
    double t = now_s();
    size_t early = n < EARLY ? n : EARLY;
    if (establish(&r, 0, early) != 0)
        return -1;
    double t_early = now_s() - t;
    per_call(&r, early);
    t = now_s();
    if (establish(&r, early, n) != 0) {
        fprintf(stderr, "established %lu of %zu, %lu failed\n", r.established, n, r.failed);
        return -1;
    }
    double t_est = t_early + (now_s() - t);
    size_t h2 = heap_bytes(), rss2 = rss_bytes();
    printf("  established %zu in %.2f s: %.0f handshakes/s (both sides on this one core)\n", n,
           t_est, (double)n / t_est);
    per_call(&r, n);
    size_t h3 = heap_bytes(); /* the samples' traffic may have left rings */
    pl_dg_free(r.ini.e);
    size_t h4 = heap_bytes();
    pl_dg_free(r.resp.e);
    size_t h5 = heap_bytes();
    double ini = ((double)(h3 - h4) - (double)r.ini.fixed) / (double)n;
    double resp = ((double)(h4 - h5) - (double)r.resp.fixed) / (double)n;
    printf("  heap per idle connection: initiator %.0f B, responder %.0f B (freed with the "
           "engine, less the empty engine); both: %.0f B by the establishing delta\n",
           ini, resp, ((double)h2 - (double)h1) / (double)n);
    printf("  RSS delta while establishing: %.0f B per connection (both sides)\n",
           ((double)rss2 - (double)rss1) / (double)n);
    pl_trust_free(r.ini.trust);
    pl_trust_free(r.resp.trust);
    pl_identity_free(r.ini.id);
    pl_identity_free(r.resp.id);
    free(r.conns);
    free(r.icid);
    *per_conn_resp = resp > ini ? resp : ini;
    return 0;
}

/* ---- OpenSSL ------------------------------------------------------------- */

static int verify_any(int ok, X509_STORE_CTX *xs)
{
    (void)ok;
    (void)xs;
    return 1; /* the keys are fresh: the figure is memory, not trust */
}

static int make_ctx(SSL_CTX **out, bool server, bool release)
{
    EVP_PKEY *key = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
    X509 *x = X509_new();
    SSL_CTX *ctx = SSL_CTX_new(server ? TLS_server_method() : TLS_client_method());
    int rc = -1;
    if (!key || !x || !ctx)
        goto out;
    X509_NAME *name = X509_get_subject_name(x);
    if (X509_set_version(x, 2) != 1 || ASN1_INTEGER_set(X509_get_serialNumber(x), 1) != 1 ||
        !X509_gmtime_adj(X509_getm_notBefore(x), -3600) ||
        !X509_gmtime_adj(X509_getm_notAfter(x), 86400) ||
        X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, (const unsigned char *)"bench", -1, -1,
                                   0) != 1 ||
        X509_set_issuer_name(x, name) != 1 || X509_set_pubkey(x, key) != 1 ||
        X509_sign(x, key, NULL) <= 0)
        goto out;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set1_groups_list(ctx, "X25519") != 1 ||
        SSL_CTX_set1_sigalgs_list(ctx, "ed25519") != 1 || SSL_CTX_use_certificate(ctx, x) != 1 ||
        SSL_CTX_use_PrivateKey(ctx, key) != 1 || SSL_CTX_set_num_tickets(ctx, 0) != 1)
        goto out;
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, verify_any);
    if (release)
        SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
    *out = ctx;
    ctx = NULL;
    rc = 0;
out:
    SSL_CTX_free(ctx);
    X509_free(x);
    EVP_PKEY_free(key);
    return rc;
}

/* Move what one side wrote into the other's read BIO. */
static bool shuttle(BIO *wbio, BIO *rbio)
{
    static char buf[16384];
    bool moved = false;
    int n;
    while ((n = BIO_read(wbio, buf, sizeof buf)) > 0) {
        if (BIO_write(rbio, buf, n) != n)
            return false;
        moved = true;
    }
    return moved;
}

static int handshake(SSL *c, SSL *s)
{
    BIO *c_in = SSL_get_rbio(c), *c_out = SSL_get_wbio(c);
    BIO *s_in = SSL_get_rbio(s), *s_out = SSL_get_wbio(s);
    for (int round = 0; round < 20; round++) {
        /* (the error before moving bytes: a write clears the BIO's retry flags) */
        int rc = SSL_do_handshake(c);
        int ec = rc == 1 ? SSL_ERROR_NONE : SSL_get_error(c, rc);
        int rs = SSL_do_handshake(s);
        int es = rs == 1 ? SSL_ERROR_NONE : SSL_get_error(s, rs);
        bool moved = shuttle(c_out, s_in);
        moved |= shuttle(s_out, c_in);
        if (rc == 1 && rs == 1 && !moved)
            return 0;
        if ((ec != SSL_ERROR_NONE && ec != SSL_ERROR_WANT_READ) ||
            (es != SSL_ERROR_NONE && es != SSL_ERROR_WANT_READ))
            return -1;
    }
    return -1;
}

static int bench_openssl(size_t n, bool release, double *per_conn_server)
{
    SSL_CTX *cctx = NULL, *sctx = NULL;
    SSL **cl = calloc(n, sizeof *cl), **sv = calloc(n, sizeof *sv);
    int rc = -1;
    if (!cl || !sv || make_ctx(&cctx, false, release) != 0 || make_ctx(&sctx, true, release) != 0)
        goto out;
    size_t h1 = heap_bytes(), rss1 = rss_bytes();
    double t = now_s();
    for (size_t i = 0; i < n; i++) {
        cl[i] = SSL_new(cctx);
        sv[i] = SSL_new(sctx);
        if (!cl[i] || !sv[i])
            goto out;
        BIO *b[4];
        for (int k = 0; k < 4; k++) {
            b[k] = BIO_new(BIO_s_mem());
            if (!b[k])
                goto out;
            BIO_set_mem_eof_return(b[k], -1); /* empty: "try again", not EOF */
        }
        SSL_set_bio(cl[i], b[0], b[1]);
        SSL_set_bio(sv[i], b[2], b[3]);
        SSL_set_connect_state(cl[i]);
        SSL_set_accept_state(sv[i]);
        if (handshake(cl[i], sv[i]) != 0) {
            fprintf(stderr, "TLS handshake %zu failed\n", i);
            ERR_print_errors_fp(stderr);
            goto out;
        }
        SSL_set_bio(cl[i], NULL, NULL); /* idle: the SSL object alone */
        SSL_set_bio(sv[i], NULL, NULL);
    }
    double dt = now_s() - t;
    size_t h2 = heap_bytes(), rss2 = rss_bytes();
    for (size_t i = 0; i < n; i++) {
        SSL_free(cl[i]);
        cl[i] = NULL;
    }
    size_t h3 = heap_bytes();
    for (size_t i = 0; i < n; i++) {
        SSL_free(sv[i]);
        sv[i] = NULL;
    }
    size_t h4 = heap_bytes();
    double client = (double)(h2 - h3) / (double)n, server = (double)(h3 - h4) / (double)n;
    printf("OpenSSL %s, SSL_MODE_RELEASE_BUFFERS %s: %zu pairs in %.2f s (%.0f handshakes/s); "
           "heap per idle connection: client %.0f B, server %.0f B (both: %.0f B by the "
           "establishing delta); RSS delta %.0f B per pair (after the runs before: their "
           "freed pages are reused)\n",
           OpenSSL_version(OPENSSL_VERSION), release ? "on" : "off", n, dt, (double)n / dt, client,
           server, ((double)h2 - (double)h1) / (double)n,
           ((double)rss2 - (double)rss1) / (double)n);
    *per_conn_server = server > client ? server : client;
    rc = 0;
out:
    for (size_t i = 0; cl && sv && i < n; i++) {
        SSL_free(cl[i]);
        SSL_free(sv[i]);
    }
    free(cl);
    free(sv);
    SSL_CTX_free(cctx);
    SSL_CTX_free(sctx);
    return rc;
}

static void usage(FILE *f)
{
    fprintf(f, "usage: bench_idle [--n CONNECTIONS] [--tls PAIRS]\n"
               "  --n     idle peerlink datagram connections (default 100000)\n"
               "  --tls   idle OpenSSL TLS 1.3 pairs for the baseline (default 2000)\n");
}

static bool parse_count(const char *s, size_t *out)
{
    char *end = NULL;
    unsigned long long v = strtoull(s, &end, 10);
    if (!s[0] || *end || v == 0 || v > 1000000)
        return false;
    *out = (size_t)v;
    return true;
}

int main(int argc, char **argv)
{
    size_t n = 100000, tls = 2000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0) {
            usage(stdout);
            return 0;
        }
        if (i + 1 < argc && strcmp(argv[i], "--n") == 0 && parse_count(argv[i + 1], &n)) {
            i++;
        } else if (i + 1 < argc && strcmp(argv[i], "--tls") == 0 &&
                   parse_count(argv[i + 1], &tls)) {
            i++;
        } else {
            usage(stderr);
            return 2;
        }
    }
    if (pl_init() != PL_OK)
        return 1;
    double pl = 0, ossl_off = 0, ossl_on = 0;
    if (bench_peerlink(n, &pl) != 0) {
        fprintf(stderr, "bench_idle: the peerlink run failed\n");
        return 1;
    }
    if (bench_openssl(tls, true, &ossl_on) != 0 || bench_openssl(tls, false, &ossl_off) != 0) {
        fprintf(stderr, "bench_idle: the OpenSSL run failed\n");
        return 1;
    }
    printf("idle memory per connection: peerlink %.0f B, OpenSSL TLS 1.3 %.0f B (ratio %.2fx) "
           "with SSL_MODE_RELEASE_BUFFERS, %.0f B (ratio %.2fx) without\n",
           pl, ossl_on, ossl_on / pl, ossl_off, ossl_off / pl);
    return 0;
}
