/* stls_int.h - internals of the symmetric TLS engine (src/stls/). */
#ifndef PL_STLS_INT_H
#define PL_STLS_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/ssl.h>

#include "peerlink.h"

#define PL_STLS_TIEBREAK_LEN   8     /* extension_data: one big-endian u64 */
#define PL_STLS_FRAGMENT_MAX   16384 /* TLSPlaintext.length cap, RFC 8446 §5.1 */
#define PL_STLS_SESSION_ID_MAX 32
#define PL_STLS_DRAWS_MAX      64 /* tie-breaker redraws before giving up */

struct pl_stls_config {
    SSL_CTX *ctx; /* holds the certificate and key */
    const pl_trust *trust;
    pl_random_fn random;
    void *random_user;
    pl_fingerprint self; /* the node's own fingerprint (settles duplicate connections) */
};

/* What a peer's first record is, as far as role settlement cares. */
typedef struct pl_stls_hello {
    bool client_hello; /* a handshake record holding exactly one ClientHello */
    bool has_tiebreak; /* ... with the tie-breaker extension */
    uint64_t tiebreak;
} pl_stls_hello;

/* Total length (header included) of the record that starts `in`, once its
 * 5-byte header is there: 0 while fewer than 5 bytes are in, else the
 * length; PL_ERR_TOOBIG when the header announces more than
 * PL_STLS_FRAGMENT_MAX bytes. */
int pl_stls_record_len(const uint8_t *in, size_t len, size_t *out) PL_WUR;

/* Parse one whole record (exactly `len` bytes). A record that is not a
 * handshake record starting with a ClientHello is reported as such (0,
 * client_hello false); a ClientHello must be well formed and alone in its
 * record (PL_ERR_PARSE with *why otherwise), and a tie-breaker extension
 * must appear at most once and hold exactly 8 bytes. */
int pl_stls_hello_parse(pl_stls_hello *h, const uint8_t *rec, size_t len, const char **why) PL_WUR;

/* The tie-breaker rule (DESIGN.md §2.4), for both transports: given our
 * value and the peer's, PL_STLS_CLIENT (ours is lower), PL_STLS_SERVER
 * (ours is higher) or 0 (equal: abort). */
unsigned pl_stls_tiebreak_decide(uint64_t ours, uint64_t theirs);

/* Draw a tie-breaker for a side that may be both client and server: never
 * 0 or 2^64-1 (redrawn). PL_ERR_INTERNAL when the source fails or keeps
 * hitting the reserved values. */
int pl_stls_tiebreak_draw(pl_random_fn fn, void *user, uint64_t *out) PL_WUR;

/* 1 if name is 1..PL_STLS_NAME_MAX bytes without C0 controls or DEL
 * (config.c; UTF-8 validity is OpenSSL's to check). */
bool pl_stls_name_ok(const char *name, size_t len);

/* A self-signed X.509 certificate for an Ed25519 key (config.c). */
int pl_stls_cert_new(EVP_PKEY *key, const char *name, X509 **out) PL_WUR;

/* The tie-breaker extension callbacks (stls.c), registered on the context. */
int pl_stls_ext_add(SSL *ssl, unsigned int type, unsigned int context, const unsigned char **out,
                    size_t *outlen, X509 *x, size_t chainidx, int *al, void *arg);
int pl_stls_ext_parse(SSL *ssl, unsigned int type, unsigned int context, const unsigned char *in,
                      size_t inlen, X509 *x, size_t chainidx, int *al, void *arg);
/* The certificate check (stls.c), run inside the handshake. */
int pl_stls_verify_cb(X509_STORE_CTX *xs, void *arg);

/* For tests: the engine's own tie-breaker (meaningful for a client or peer),
 * and its current OpenSSL session. */
uint64_t pl_stls_tiebreak(const pl_stls *s);
SSL *pl_stls_session(const pl_stls *s);

#endif
