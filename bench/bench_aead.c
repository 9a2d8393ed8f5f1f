/*
 * bench_aead.c - the AEAD of the datagram packets (DESIGN.md §3.2), seal
 * and open of one packet, against the alternatives, in the same run:
 *   (a) libsodium: crypto_aead_chacha20poly1305_ietf_* under the HChaCha20
 *       subkey, the path src/dgram/packet.c took first,
 *   (b) OpenSSL 3 EVP_chacha20_poly1305 under the same subkey and nonce:
 *       one EVP_CIPHER_CTX per direction, keyed once, given only the
 *       packet's nonce per packet,
 *   (c) OpenSSL 3 EVP_aes_256_gcm, the same way (reference only: another
 *       wire format),
 *   (d) pl_dg_seal / pl_dg_open, whatever packet.c does now (set up with
 *       pl_dg_aead_init_evp: OpenSSL from PL_DG_EVP_MIN bytes up).
 * (a), (b) and (d) must produce the same bytes as libsodium's
 * XChaCha20-Poly1305 under the connection's key and 24-byte nonce: checked
 * before anything is timed (a difference exits 1).
 * Sizes are whole datagrams: type, connection ID and a 2-byte packet
 * number as associated data, the payload, the tag. Each cell runs about
 * PL_BENCH_SECONDS (default 0.15) seconds of this thread's CPU time, 3
 * rounds interleaved, median.
 * MB are 10^6 bytes of payload. Not a test: prints figures, exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "dgram/dgram_int.h"
#include "dgram/engine.h"

#define AD_LEN   (1 + PL_DG_CID_LEN + 2)
#define ROUNDS   3
#define MAX_SIZE 16384

static const size_t sizes[] = {64, 256, 512, 1200, 1452, MAX_SIZE};
#define NSIZES (sizeof sizes / sizeof sizes[0])

enum { IMPL_SODIUM, IMPL_OSSL_CHACHA, IMPL_OSSL_GCM, IMPL_PACKET, NIMPL };
static const char *const impl_name[NIMPL] = {
    "(a) libsodium chacha20poly1305_ietf",
    "(b) OpenSSL EVP chacha20-poly1305",
    "(c) OpenSSL EVP aes-256-gcm",
    "(d) packet.c, pl_dg_aead_init_evp",
};

static void die(const char *what)
{
    fprintf(stderr, "bench_aead: %s\n", what);
    exit(1);
}

/* CPU time of this thread: the 2 cores are shared, and time spent
 * descheduled is no part of an AEAD's cost. */
static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* One direction of a connection, under every implementation. */
struct conn {
    uint8_t key[PL_DG_KEYLEN], iv[PL_DG_IVLEN];
    uint8_t subkey[32], iv_tail[8];
    EVP_CIPHER_CTX *chacha_tx, *chacha_rx, *gcm_tx, *gcm_rx;
    pl_dg_aead dg;
};

/* The IETF nonce of packet pn: 4 zero bytes, IV[16..24] XOR pn (LE). */
static void nonce_of(const struct conn *c, uint64_t pn, uint8_t out[12])
{
    memset(out, 0, 4);
    for (int i = 0; i < 8; i++)
        out[4 + i] = c->iv_tail[i] ^ (uint8_t)(pn >> (8 * i));
}

static EVP_CIPHER_CTX *evp_keyed(const EVP_CIPHER *cipher, const uint8_t key[32], int enc)
{
    EVP_CIPHER_CTX *x = EVP_CIPHER_CTX_new();
    if (!x || EVP_CipherInit_ex(x, cipher, NULL, key, NULL, enc) != 1)
        die("EVP_CipherInit_ex failed");
    return x;
}

static void conn_init(struct conn *c)
{
    randombytes_buf(c->key, sizeof c->key);
    randombytes_buf(c->iv, sizeof c->iv);
    crypto_core_hchacha20(c->subkey, c->iv, c->key, NULL);
    memcpy(c->iv_tail, c->iv + 16, sizeof c->iv_tail);
    c->chacha_tx = evp_keyed(EVP_chacha20_poly1305(), c->subkey, 1);
    c->chacha_rx = evp_keyed(EVP_chacha20_poly1305(), c->subkey, 0);
    c->gcm_tx = evp_keyed(EVP_aes_256_gcm(), c->subkey, 1);
    c->gcm_rx = evp_keyed(EVP_aes_256_gcm(), c->subkey, 0);
    if (pl_dg_aead_init_evp(&c->dg, c->key, c->iv) != PL_OK)
        die("pl_dg_aead_init_evp failed");
}

static void conn_free(struct conn *c)
{
    EVP_CIPHER_CTX_free(c->chacha_tx);
    EVP_CIPHER_CTX_free(c->chacha_rx);
    EVP_CIPHER_CTX_free(c->gcm_tx);
    EVP_CIPHER_CTX_free(c->gcm_rx);
    pl_dg_aead_wipe(&c->dg);
    sodium_memzero(c, sizeof *c);
}

/* ---- the implementations: 0 or -1 ------------------------------------ */

static int sodium_seal(struct conn *c, uint64_t pn, const uint8_t *ad, const uint8_t *in,
                       size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    nonce_of(c, pn, nonce);
    return crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, in, len, ad, AD_LEN, NULL, nonce,
                                                     c->subkey);
}

static int sodium_open(struct conn *c, uint64_t pn, const uint8_t *ad, const uint8_t *in,
                       size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    nonce_of(c, pn, nonce);
    return crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, in, len, ad, AD_LEN, nonce,
                                                     c->subkey);
}

/* The keyed context gets only the nonce: no key schedule, no allocation. */
static int evp_seal(EVP_CIPHER_CTX *x, struct conn *c, uint64_t pn, const uint8_t *ad,
                    const uint8_t *in, size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    int n = 0;
    nonce_of(c, pn, nonce);
    if (EVP_EncryptInit_ex(x, NULL, NULL, NULL, nonce) != 1 ||
        EVP_EncryptUpdate(x, NULL, &n, ad, AD_LEN) != 1 ||
        EVP_EncryptUpdate(x, out, &n, in, (int)len) != 1 ||
        EVP_EncryptFinal_ex(x, out + n, &n) != 1 ||
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_GET_TAG, 16, out + len) != 1)
        return -1;
    return 0;
}

static int evp_open(EVP_CIPHER_CTX *x, struct conn *c, uint64_t pn, const uint8_t *ad,
                    const uint8_t *in, size_t len, uint8_t *out)
{
    uint8_t nonce[12];
    int n = 0;
    if (len < 16)
        return -1;
    len -= 16;
    nonce_of(c, pn, nonce);
    if (EVP_DecryptInit_ex(x, NULL, NULL, NULL, nonce) != 1 ||
        EVP_CIPHER_CTX_ctrl(x, EVP_CTRL_AEAD_SET_TAG, 16, (void *)(in + len)) != 1 ||
        EVP_DecryptUpdate(x, NULL, &n, ad, AD_LEN) != 1 ||
        EVP_DecryptUpdate(x, out, &n, in, (int)len) != 1 ||
        EVP_DecryptFinal_ex(x, out + n, &n) != 1)
        return -1;
    return 0;
}

static int seal(int impl, struct conn *c, uint64_t pn, const uint8_t *ad, const uint8_t *in,
                size_t len, uint8_t *out)
{
    switch (impl) {
    case IMPL_SODIUM: return sodium_seal(c, pn, ad, in, len, out);
    case IMPL_OSSL_CHACHA: return evp_seal(c->chacha_tx, c, pn, ad, in, len, out);
    case IMPL_OSSL_GCM: return evp_seal(c->gcm_tx, c, pn, ad, in, len, out);
    default: return pl_dg_seal(&c->dg, pn, ad, AD_LEN, in, len, out) == PL_OK ? 0 : -1;
    }
}

static int open_(int impl, struct conn *c, uint64_t pn, const uint8_t *ad, const uint8_t *in,
                 size_t len, uint8_t *out)
{
    switch (impl) {
    case IMPL_SODIUM: return sodium_open(c, pn, ad, in, len, out);
    case IMPL_OSSL_CHACHA: return evp_open(c->chacha_rx, c, pn, ad, in, len, out);
    case IMPL_OSSL_GCM: return evp_open(c->gcm_rx, c, pn, ad, in, len, out);
    default: return pl_dg_open(&c->dg, pn, ad, AD_LEN, in, len, out) == PL_OK ? 0 : -1;
    }
}

/* ---- same bytes on the wire --------------------------------------------- */

/* Every ChaCha20 implementation against libsodium's XChaCha20-Poly1305
 * under the 24-byte nonce IV ^ (0^16 || pn), across packet numbers that
 * touch every nonce byte; each opens the others' packets and refuses a
 * flipped bit. */
static void check_same_bytes(struct conn *c)
{
    static uint8_t pt[MAX_SIZE], ref[MAX_SIZE + 16], ct[MAX_SIZE + 16], back[MAX_SIZE];
    static const uint64_t pns[] = {0, 1, 255, 256, 65537, UINT64_C(0x0123456789ab), PL_DG_PN_MAX};
    const int chacha[] = {IMPL_SODIUM, IMPL_OSSL_CHACHA, IMPL_PACKET};
    uint8_t ad[AD_LEN];
    randombytes_buf(ad, sizeof ad);
    randombytes_buf(pt, sizeof pt);
    for (size_t s = 0; s < NSIZES + 2; s++) {
        size_t len = s < NSIZES ? sizes[s] - AD_LEN - 16 : s - NSIZES; /* and 0, 1 */
        for (size_t p = 0; p < sizeof pns / sizeof pns[0]; p++) {
            uint8_t xnonce[24];
            memcpy(xnonce, c->iv, 24);
            for (int i = 0; i < 8; i++)
                xnonce[16 + i] ^= (uint8_t)(pns[p] >> (8 * i));
            crypto_aead_xchacha20poly1305_ietf_encrypt(ref, NULL, pt, len, ad, AD_LEN, NULL, xnonce,
                                                       c->key);
            for (size_t i = 0; i < sizeof chacha / sizeof chacha[0]; i++) {
                if (seal(chacha[i], c, pns[p], ad, pt, len, ct) != 0)
                    die("a seal failed");
                if (memcmp(ct, ref, len + 16) != 0) {
                    fprintf(stderr, "bench_aead: %s: ciphertext differs (payload %zu, pn %llu)\n",
                            impl_name[chacha[i]], len, (unsigned long long)pns[p]);
                    exit(1);
                }
                for (size_t j = 0; j < sizeof chacha / sizeof chacha[0]; j++) {
                    memset(back, 0xa5, len);
                    if (open_(chacha[j], c, pns[p], ad, ref, len + 16, back) != 0 ||
                        memcmp(back, pt, len) != 0)
                        die("an open of the reference failed");
                    ct[p % (len + 16)] ^= 4;
                    if (open_(chacha[j], c, pns[p], ad, ct, len + 16, back) == 0)
                        die("an open accepted a flipped bit");
                    ct[p % (len + 16)] ^= 4;
                    if (open_(chacha[j], c, pns[p] ^ 1, ad, ct, len + 16, back) == 0)
                        die("an open accepted the wrong packet number");
                }
            }
            /* GCM: only its own round trip */
            if (seal(IMPL_OSSL_GCM, c, pns[p], ad, pt, len, ct) != 0 ||
                open_(IMPL_OSSL_GCM, c, pns[p], ad, ct, len + 16, back) != 0 ||
                memcmp(back, pt, len) != 0)
                die("aes-256-gcm round trip failed");
        }
    }
}

/* ---- timing ------------------------------------------------------------- */

struct cell {
    double seal_ns, open_ns;
};

/* ns per seal and per open of `size`-byte datagrams, each for ~secs. */
static struct cell time_cell(int impl, struct conn *c, size_t size, double secs)
{
    static uint8_t pt[MAX_SIZE], ct[MAX_SIZE + 16], back[MAX_SIZE];
    static uint64_t pn;
    uint8_t ad[AD_LEN] = {0x40};
    size_t len = size - AD_LEN - 16;
    struct cell r;
    long n = 0;
    double start = now_s(), t;
    do {
        for (int i = 0; i < 64; i++)
            if (seal(impl, c, ++pn, ad, pt, len, ct) != 0)
                die("a timed seal failed");
        n += 64;
        t = now_s() - start;
    } while (t < secs);
    r.seal_ns = t * 1e9 / (double)n;
    n = 0;
    start = now_s();
    do {
        for (int i = 0; i < 64; i++)
            if (open_(impl, c, pn, ad, ct, len + 16, back) != 0)
                die("a timed open failed");
        n += 64;
        t = now_s() - start;
    } while (t < secs);
    r.open_ns = t * 1e9 / (double)n;
    return r;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median3(double a, double b, double c)
{
    double v[3] = {a, b, c};
    qsort(v, 3, sizeof v[0], cmp_double);
    return v[1];
}

static void cpu_flags(char *out, size_t cap)
{
    static const char *const want[] = {"aes", "pclmulqdq", "avx2", "avx512f", "avx512vl"};
    char line[8192];
    out[0] = 0;
    FILE *f = fopen("/proc/cpuinfo", "r");
    if (!f)
        return;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "flags", 5) == 0)
            break;
    fclose(f);
    size_t o = 0;
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++) {
        char pat[32];
        snprintf(pat, sizeof pat, " %s ", want[i]);
        bool has = strstr(line, pat) != NULL;
        int k = snprintf(out + o, cap - o, "%s%s%s", o ? " " : "", has ? "" : "no-", want[i]);
        if (k < 0 || (size_t)k >= cap - o)
            return;
        o += (size_t)k;
    }
}

int main(void)
{
    static struct conn c;
    static struct cell cells[NSIZES][NIMPL][ROUNDS];
    const char *env = getenv("PL_BENCH_SECONDS");
    double secs = env ? strtod(env, NULL) : 0.15;
    if (pl_init() != PL_OK || secs <= 0)
        return 1;
    conn_init(&c);
    check_same_bytes(&c);

    for (int round = 0; round < ROUNDS; round++)
        for (size_t s = 0; s < NSIZES; s++)
            for (int impl = 0; impl < NIMPL; impl++)
                cells[s][impl][round] = time_cell(impl, &c, sizes[s], secs);

    char flags[128];
    cpu_flags(flags, sizeof flags);
    printf("Datagram AEAD, one thread, %.2f CPU s per cell, median of %d (%s; CPU: %s)\n", secs,
           ROUNDS, OpenSSL_version(OPENSSL_VERSION), flags);
    printf("libsodium %s. Same bytes as XChaCha20-Poly1305 checked for (a), (b), (d).\n",
           sodium_version_string());
    printf("%-6s %-36s %9s %9s %11s %9s\n", "size", "implementation", "seal ns", "open ns",
           "seal+open", "MB/s");
    double pair[NSIZES][NIMPL];
    for (size_t s = 0; s < NSIZES; s++) {
        size_t payload = sizes[s] - AD_LEN - 16;
        for (int impl = 0; impl < NIMPL; impl++) {
            struct cell *k = cells[s][impl];
            double se = median3(k[0].seal_ns, k[1].seal_ns, k[2].seal_ns);
            double op = median3(k[0].open_ns, k[1].open_ns, k[2].open_ns);
            pair[s][impl] = se + op;
            /* payload bytes through one seal and one open, per second */
            double mbs = (double)payload / pair[s][impl] * 1e3;
            printf("%-6zu %-36s %9.0f %9.0f %11.0f %9.0f\n", sizes[s], impl_name[impl], se, op,
                   pair[s][impl], mbs);
        }
    }
    printf("ratio (a)/(b) time, >1 = OpenSSL ChaCha20 faster:");
    for (size_t s = 0; s < NSIZES; s++)
        printf(" %zu B %.2f;", sizes[s], pair[s][IMPL_SODIUM] / pair[s][IMPL_OSSL_CHACHA]);
    printf("\nratio (a)/(c) time, >1 = AES-256-GCM faster:     ");
    for (size_t s = 0; s < NSIZES; s++)
        printf(" %zu B %.2f;", sizes[s], pair[s][IMPL_SODIUM] / pair[s][IMPL_OSSL_GCM]);
    printf("\nratio (a)/(d) time, >1 = packet.c beats libsodium:");
    for (size_t s = 0; s < NSIZES; s++)
        printf(" %zu B %.2f;", sizes[s], pair[s][IMPL_SODIUM] / pair[s][IMPL_PACKET]);
    printf("\n(1452 B and 16 KiB are above PL_DG_PACKET_MAX = %d: for scale only)\n",
           PL_DG_PACKET_MAX);
    conn_free(&c);
    return 0;
}
