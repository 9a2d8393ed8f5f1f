/*
 * config.c - the TLS context shared by a node's connections: TLS 1.3 only,
 * Ed25519 only, mutual authentication by the peer's key (stls.c checks it),
 * no session tickets, and the node's self-signed certificate, made once.
 *
 * The certificate only carries the identity key to the peer: nobody
 * checks its issuer, dates or self-signature (peers are named by the
 * fingerprint of the key, DESIGN.md §2.1). So it is deterministic and
 * needs no clock: serial from the fingerprint, validity 2000-01-01 to
 * 99991231235959Z (RFC 5280 §4.1.2.5, "no well-defined expiration").
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "identity/identity_int.h"
#include "peerlink.h"
#include "stls/stls_int.h"
#include "util/util.h"

#define DEFAULT_NAME "peerlink"
#define NOT_BEFORE   "20000101000000Z"
#define NOT_AFTER    "99991231235959Z"

static int default_random(void *user, uint8_t *out, size_t len)
{
    (void)user;
    randombytes_buf(out, len);
    return 0;
}

bool pl_stls_name_ok(const char *name, size_t n)
{
    if (n == 0 || n > PL_STLS_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c < 0x20 || c == 0x7f)
            return false;
    }
    return true;
}

/* Serial: the first 8 bytes of the key's fingerprint, top bit clear, never 0. */
static int set_serial(X509 *x, EVP_PKEY *key)
{
    uint8_t pk[PL_ED25519_PK_LEN];
    size_t n = sizeof pk;
    pl_fingerprint fp;
    if (EVP_PKEY_get_raw_public_key(key, pk, &n) != 1 || n != sizeof pk ||
        pl_fingerprint_from_key(&fp, pk, NULL) != PL_OK)
        return PL_ERR_INTERNAL;
    uint64_t serial = 0;
    for (int i = 0; i < 8; i++)
        serial = serial << 8 | fp.digest[i];
    serial = (serial >> 1) | 1;
    return ASN1_INTEGER_set_uint64(X509_get_serialNumber(x), serial) == 1 ? PL_OK : PL_ERR_INTERNAL;
}

int pl_stls_cert_new(EVP_PKEY *key, const char *name, X509 **out)
{
    *out = NULL;
    X509 *x = X509_new();
    if (!x)
        return PL_ERR_NOMEM;
    int rc = PL_ERR_INTERNAL;
    X509_NAME *subject = X509_get_subject_name(x);
    if (X509_set_version(x, X509_VERSION_3) != 1 || set_serial(x, key) != PL_OK)
        goto out;
    if (X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_UTF8, (const unsigned char *)name, -1,
                                   -1, 0) != 1) {
        rc = PL_ERR_INVAL; /* not UTF-8 */
        goto out;
    }
    if (X509_set_issuer_name(x, subject) != 1 ||
        ASN1_TIME_set_string_X509(X509_getm_notBefore(x), NOT_BEFORE) != 1 ||
        ASN1_TIME_set_string_X509(X509_getm_notAfter(x), NOT_AFTER) != 1 ||
        X509_set_pubkey(x, key) != 1 || X509_sign(x, key, NULL) <= 0)
        goto out;
    *out = x;
    x = NULL;
    rc = PL_OK;
out:
    X509_free(x);
    ERR_clear_error();
    return rc;
}

static int setup_ctx(SSL_CTX *ctx, EVP_PKEY *key, X509 *cert)
{
    const int verify = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    const unsigned ext_ctx = SSL_EXT_TLS_ONLY | SSL_EXT_TLS1_3_ONLY | SSL_EXT_CLIENT_HELLO |
                             SSL_EXT_TLS1_3_ENCRYPTED_EXTENSIONS;
    if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1 ||
        SSL_CTX_set1_sigalgs_list(ctx, "ed25519") != 1 ||
        SSL_CTX_set1_client_sigalgs_list(ctx, "ed25519") != 1 ||
        SSL_CTX_use_certificate(ctx, cert) != 1 || SSL_CTX_use_PrivateKey(ctx, key) != 1 ||
        SSL_CTX_check_private_key(ctx) != 1 || SSL_CTX_set_num_tickets(ctx, 0) != 1)
        return PL_ERR_INTERNAL;
    /* No resumption: every connection authenticates the peer's key afresh. */
    SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
    SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
    /* Both sides ask for and check a certificate; pl_stls_verify_cb replaces
     * the X.509 chain check (there is no chain: the key is the name). */
    SSL_CTX_set_verify(ctx, verify, NULL);
    SSL_CTX_set_cert_verify_callback(ctx, pl_stls_verify_cb, NULL);
    if (SSL_CTX_add_custom_ext(ctx, PL_STLS_EXT_TIEBREAK, ext_ctx, pl_stls_ext_add, NULL, NULL,
                               pl_stls_ext_parse, NULL) != 1)
        return PL_ERR_INTERNAL;
    return PL_OK;
}

int pl_stls_config_new(pl_stls_config **out, const pl_identity *id, const char *name)
{
    if (!out)
        return PL_ERR_INVAL;
    *out = NULL;
    if (!id)
        return PL_ERR_INVAL;
    if (!name || !*name)
        name = DEFAULT_NAME;
    if (!pl_stls_name_ok(name, strlen(name)))
        return PL_ERR_INVAL;
    pl_stls_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg)
        return PL_ERR_NOMEM;
    cfg->random = default_random;
    pl_identity_fingerprint(id, &cfg->self);
    X509 *cert = NULL;
    EVP_PKEY *key = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, pl_identity_seed(id),
                                                 PL_ED25519_SEED_LEN);
    int rc = key ? pl_stls_cert_new(key, name, &cert) : PL_ERR_INTERNAL;
    if (rc == PL_OK) {
        cfg->ctx = SSL_CTX_new(TLS_method());
        rc = cfg->ctx ? setup_ctx(cfg->ctx, key, cert) : PL_ERR_NOMEM;
    }
    X509_free(cert);    /* the context holds its own references */
    EVP_PKEY_free(key); /* wipes its copy of the seed */
    ERR_clear_error();
    if (rc != PL_OK) {
        pl_stls_config_free(cfg);
        return rc;
    }
    *out = cfg;
    return PL_OK;
}

void pl_stls_config_free(pl_stls_config *cfg)
{
    if (!cfg)
        return;
    SSL_CTX_free(cfg->ctx);
    free(cfg);
}

void pl_stls_config_set_trust(pl_stls_config *cfg, const pl_trust *ts)
{
    cfg->trust = ts;
}

void pl_stls_config_set_random(pl_stls_config *cfg, pl_random_fn fn, void *user)
{
    cfg->random = fn ? fn : default_random;
    cfg->random_user = fn ? user : NULL;
}
