/* testutil.h - helpers for the cmocka unit tests. */
#ifndef PL_TESTUTIL_H
#define PL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Path of a file under ../shared/vectors ($PL_VECTORS). Static buffer. */
const char *tu_vector_path(const char *rel);
/* Whole file, NUL-terminated, malloc'd; fails the test if unreadable. */
char *tu_read_file(const char *path, size_t *len);
/* Hex to bytes; fails the test on bad hex. Returns the byte count. */
size_t tu_unhex(const char *hex, uint8_t *out, size_t cap);
/* A fresh private temporary directory (malloc'd path), and its removal. */
char *tu_tmpdir(void);
void tu_rmrf(const char *path);

/* Signatures only a key holder can make that RFC 8032 verifiers disagree
 * on (docs/ed25519-policy.md). Both pass the cofactorless equation.
 *  - mixed-order key: pk = A + T (T of order 8), signature accepted by
 *    libsodium's crypto_sign_verify_detached; the policy refuses the key.
 *  - identity R: R = (0, 1), S = k*a mod L, for the honest key of seed. */
void tu_sign_mixed_order_key(const uint8_t seed[32], const uint8_t *msg, size_t len, uint8_t pk[32],
                             uint8_t sig[64]);
void tu_sign_identity_r(const uint8_t seed[32], const uint8_t *msg, size_t len, uint8_t pk[32],
                        uint8_t sig[64]);

#endif
