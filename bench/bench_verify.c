/*
 * bench_verify.c - what the one Ed25519 policy and record-set verification
 * cost, as ratios against baselines measured in the same run:
 *   - libsodium's crypto_sign_verify_detached (no subgroup check on A),
 *   - OpenSSL 3's EVP_DigestVerify (Ed25519),
 *   - pl_ed25519_verify (the policy: canonical S, R, A, A in the prime-order
 *     subgroup, cofactorless equation),
 *   - the policy refusing a forged signature (what a flood of junk costs),
 *   - pl_record_verify of a typical record set (2 addresses, 1 name),
 *   - pl_record_from_json + verify, and pl_record_from_txt + verify.
 * Each runs single-threaded for about PL_BENCH_SECONDS (default 1) seconds.
 * Not a test: it prints figures and exits 0.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <sodium.h>

#include "peerlink.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

typedef int (*bench_fn)(void *ctx);

/* Runs fn repeatedly for `seconds`; returns operations per second. */
static double rate(bench_fn fn, void *ctx, double seconds)
{
    long n = 0;
    double start = now_s(), t;
    do {
        for (int i = 0; i < 64; i++)
            if (fn(ctx) != 0) {
                fprintf(stderr, "bench: an operation failed\n");
                exit(1);
            }
        n += 64;
        t = now_s() - start;
    } while (t < seconds);
    return (double)n / t;
}

struct ctx {
    uint8_t pk[32], sig[64], msg[225];
    EVP_PKEY *key;
    pl_record rs;
    char json[PL_RECORD_JSON_MAX];
    int json_len;
    uint8_t txt[PL_RECORD_TXT_MAX];
    int txt_len;
    pl_fingerprint fp;
    uint64_t now;
};

static int do_sodium(void *p)
{
    struct ctx *c = p;
    return crypto_sign_verify_detached(c->sig, c->msg, sizeof c->msg, c->pk);
}

static int do_openssl(void *p)
{
    struct ctx *c = p;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    int ok = md && EVP_DigestVerifyInit(md, NULL, NULL, NULL, c->key) == 1 &&
             EVP_DigestVerify(md, c->sig, 64, c->msg, sizeof c->msg) == 1;
    EVP_MD_CTX_free(md);
    return ok ? 0 : -1;
}

static int do_policy(void *p)
{
    struct ctx *c = p;
    return pl_ed25519_verify(c->sig, c->msg, sizeof c->msg, c->pk);
}

/* A forged signature: how cheaply the policy refuses one (flood cost). */
static int do_policy_forged(void *p)
{
    struct ctx *c = p;
    uint8_t bad[64];
    memcpy(bad, c->sig, 64);
    bad[0] ^= 1;
    return pl_ed25519_verify(bad, c->msg, sizeof c->msg, c->pk) == PL_ERR_AUTH ? 0 : -1;
}

static int do_record(void *p)
{
    struct ctx *c = p;
    return pl_record_verify(&c->rs, &c->fp, c->now, PL_RECORD_SKEW_DEFAULT);
}

static int do_json(void *p)
{
    struct ctx *c = p;
    static pl_record rs;
    if (pl_record_from_json(&rs, c->json, (size_t)c->json_len, NULL) != PL_OK)
        return -1;
    return pl_record_verify(&rs, &c->fp, c->now, PL_RECORD_SKEW_DEFAULT);
}

static int do_txt(void *p)
{
    struct ctx *c = p;
    static pl_record rs;
    if (pl_record_from_txt(&rs, c->txt, (size_t)c->txt_len, NULL) != PL_OK)
        return -1;
    return pl_record_verify(&rs, &c->fp, c->now, PL_RECORD_SKEW_DEFAULT);
}

int main(void)
{
    static struct ctx c;
    const char *env = getenv("PL_BENCH_SECONDS");
    double secs = env ? strtod(env, NULL) : 1.0;
    if (pl_init() != PL_OK || secs <= 0)
        return 1;
    uint8_t seed[32] = {42};
    pl_identity *id;
    if (pl_identity_from_seed(&id, seed) != PL_OK)
        return 1;
    pl_identity_public_key(id, c.pk);
    pl_identity_fingerprint(id, &c.fp);
    randombytes_buf(c.msg, sizeof c.msg);
    if (pl_identity_sign(id, c.msg, sizeof c.msg, c.sig) != PL_OK)
        return 1;
    c.key = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, c.pk, 32);
    c.now = 1800000000;
    pl_record_init(&c.rs);
    const char *why;
    if (pl_record_add_address(&c.rs, "udp://[2001:db8::1]:7000", &why) != PL_OK ||
        pl_record_add_address(&c.rs, "tcp://198.51.100.4:7001", &why) != PL_OK ||
        pl_record_add_name(&c.rs, "alice@example.org", &why) != PL_OK ||
        pl_record_sign(&c.rs, id, c.now, 3600) != PL_OK)
        return 1;
    c.json_len = pl_record_to_json(&c.rs, c.json, sizeof c.json);
    c.txt_len = pl_record_to_txt(&c.rs, c.txt, sizeof c.txt);
    if (!c.key || c.json_len < 0 || c.txt_len < 0)
        return 1;

    double sodium = rate(do_sodium, &c, secs);
    double ossl = rate(do_openssl, &c, secs);
    double policy = rate(do_policy, &c, secs);
    double forged = rate(do_policy_forged, &c, secs);
    double record = rate(do_record, &c, secs);
    double json = rate(do_json, &c, secs);
    double txt = rate(do_txt, &c, secs);
    printf("Ed25519 verification, one core, %.1f s each (ops/s; ratio to libsodium)\n", secs);
    printf("  libsodium crypto_sign_verify_detached  %9.0f  1.00\n", sodium);
    printf("  OpenSSL EVP_DigestVerify               %9.0f  %.2f\n", ossl, ossl / sodium);
    printf("  pl_ed25519_verify (the policy)         %9.0f  %.2f\n", policy, policy / sodium);
    printf("  pl_ed25519_verify, forged signature    %9.0f  %.2f\n", forged, forged / sodium);
    printf("  pl_record_verify (2 addresses, 1 name) %9.0f  %.2f\n", record, record / sodium);
    printf("  pl_record_from_json + verify           %9.0f  %.2f\n", json, json / sodium);
    printf("  pl_record_from_txt + verify            %9.0f  %.2f\n", txt, txt / sodium);
    EVP_PKEY_free(c.key);
    pl_identity_free(id);
    return 0;
}
