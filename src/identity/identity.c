/*
 * identity.c - Ed25519 key pairs and the private-key file.
 *
 * The secret lives in sodium_malloc'd memory (guard pages, mlock, wiped on
 * free). The key file is text (docs/formats.md, "Identity key file"):
 *
 *   # optional comment lines
 *   peerlink-identity 1
 *   seed <43 base64url characters: the 32-byte Ed25519 seed>
 *   public <43 base64url characters: the 32-byte public key>
 *
 * The public key is redundant on purpose: a file whose two halves disagree
 * is corrupt and is refused. The file is written 0600 and refused, like
 * OpenSSH, when anyone but its owner can read or write it.
 */
#include <errno.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "peerlink.h"
#include "util/buf.h"
#include "util/util.h"

#define FILE_MAGIC   "peerlink-identity "
#define FILE_VERSION 1

struct pl_identity {
    uint8_t seed[PL_ED25519_SEED_LEN];
    uint8_t sk[crypto_sign_SECRETKEYBYTES];
    uint8_t pk[PL_ED25519_PK_LEN];
};

int pl_identity_from_seed(pl_identity **out, const uint8_t seed[PL_ED25519_SEED_LEN])
{
    *out = NULL;
    if (sodium_init() < 0)
        return PL_ERR_INTERNAL;
    pl_identity *id = sodium_malloc(sizeof *id);
    if (!id)
        return PL_ERR_NOMEM;
    memcpy(id->seed, seed, PL_ED25519_SEED_LEN);
    if (crypto_sign_seed_keypair(id->pk, id->sk, id->seed) != 0) {
        sodium_free(id);
        return PL_ERR_INTERNAL;
    }
    *out = id;
    return PL_OK;
}

int pl_identity_generate(pl_identity **out)
{
    uint8_t seed[PL_ED25519_SEED_LEN];
    *out = NULL;
    if (sodium_init() < 0)
        return PL_ERR_INTERNAL;
    randombytes_buf(seed, sizeof seed);
    int rc = pl_identity_from_seed(out, seed);
    sodium_memzero(seed, sizeof seed);
    return rc;
}

void pl_identity_free(pl_identity *id)
{
    if (id)
        sodium_free(id); /* wipes before unmapping */
}

void pl_identity_public_key(const pl_identity *id, uint8_t pk[PL_ED25519_PK_LEN])
{
    memcpy(pk, id->pk, PL_ED25519_PK_LEN);
}

void pl_identity_fingerprint(const pl_identity *id, pl_fingerprint *fp)
{
    if (pl_fingerprint_from_key(fp, id->pk, NULL) != PL_OK)
        memset(fp, 0, sizeof *fp); /* only on a crypto backend failure */
}

int pl_identity_sign(const pl_identity *id, const uint8_t *msg, size_t len,
                     uint8_t sig[PL_ED25519_SIG_LEN])
{
    if (crypto_sign_detached(sig, NULL, msg, len, id->sk) != 0)
        return PL_ERR_INTERNAL;
    return PL_OK;
}

int pl_identity_encode(const pl_identity *id, char *out, size_t cap)
{
    char seed[PL_B64_LEN(PL_ED25519_SEED_LEN) + 1], pub[PL_B64_LEN(PL_ED25519_PK_LEN) + 1];
    if (pl_b64url_encode(id->seed, sizeof id->seed, seed, sizeof seed) < 0 ||
        pl_b64url_encode(id->pk, sizeof id->pk, pub, sizeof pub) < 0)
        return PL_ERR_INTERNAL;
    pl_wr w = pl_wr_init(out, cap);
    pl_wr_str(&w, "# peerlink identity: keep this file secret (mode 0600)\n");
    pl_wr_str(&w, FILE_MAGIC "1\n");
    pl_wr_str(&w, "seed ");
    pl_wr_str(&w, seed);
    pl_wr_str(&w, "\npublic ");
    pl_wr_str(&w, pub);
    pl_wr_str(&w, "\n");
    pl_wr_nul(&w);
    sodium_memzero(seed, sizeof seed);
    int rc = pl_wr_result(&w);
    if (rc < 0)
        sodium_memzero(out, cap);
    return rc;
}

/* Reads "<key> <43 base64url chars>\n" into out[32]. */
static int read_line_key(pl_rd *r, const char *key, uint8_t out[32])
{
    pl_rd_expect(r, key);
    pl_span v = pl_rd_until(r, '\n');
    pl_rd_expect(r, "\n");
    if (!pl_rd_ok(r) || v.len != PL_B64_LEN(32) ||
        pl_b64url_decode((const char *)v.p, v.len, out, 32) != 32)
        return PL_ERR_PARSE;
    return PL_OK;
}

static int all_digits(pl_span s)
{
    if (s.len == 0)
        return 0;
    for (size_t i = 0; i < s.len; i++)
        if (s.p[i] < '0' || s.p[i] > '9')
            return 0;
    return 1;
}

int pl_identity_decode(pl_identity **out, const char *in, size_t len, const char **why)
{
    const char *dummy;
    uint8_t seed[PL_ED25519_SEED_LEN], pub[PL_ED25519_PK_LEN];
    int rc = PL_ERR_PARSE;
    if (!why)
        why = &dummy;
    *out = NULL;
    if (len > PL_IDENTITY_FILE_MAX) {
        *why = "the key file is too large to be a peerlink identity";
        return PL_ERR_TOOBIG;
    }
    pl_rd r = pl_rd_init(in, len);
    while (pl_rd_peek(&r) == '#') {
        pl_span comment = pl_rd_until(&r, '\n');
        pl_rd_expect(&r, "\n");
        if (memchr(comment.p, '\r', comment.len)) {
            *why = "the identity file has a carriage return: lines end with LF only";
            goto done;
        }
    }
    if (!pl_rd_accept(&r, FILE_MAGIC)) {
        *why = "not a peerlink identity file (no \"peerlink-identity\" line)";
        goto done;
    }
    pl_span ver = pl_rd_until(&r, '\n');
    pl_rd_expect(&r, "\n");
    uint64_t v;
    if (!pl_rd_ok(&r) || !all_digits(ver)) {
        *why = "the identity file's version line is malformed";
        goto done;
    }
    /* Any other number, however large, is a version we do not know. */
    if (!pl_span_u64(ver, UINT32_MAX, &v) || v != FILE_VERSION) {
        *why = "the identity file has a version this peerlink does not support";
        rc = PL_ERR_VERSION;
        goto done;
    }
    if (read_line_key(&r, "seed ", seed) != PL_OK) {
        *why = "the identity file's \"seed\" line is malformed";
        goto done;
    }
    if (read_line_key(&r, "public ", pub) != PL_OK) {
        *why = "the identity file's \"public\" line is malformed";
        goto done;
    }
    if (!pl_rd_finish(&r)) {
        *why = "unexpected data after the \"public\" line of the identity file";
        goto done;
    }
    rc = pl_identity_from_seed(out, seed);
    if (rc == PL_OK && sodium_memcmp((*out)->pk, pub, sizeof pub) != 0) {
        *why = "the identity file is corrupt: its public key does not match its seed";
        pl_identity_free(*out);
        *out = NULL;
        rc = PL_ERR_PARSE;
    }
done:
    sodium_memzero(seed, sizeof seed);
    return rc;
}

int pl_identity_save(const pl_identity *id, const char *path, int flags)
{
    char buf[PL_IDENTITY_FILE_MAX];
    int n = pl_identity_encode(id, buf, sizeof buf);
    if (n < 0)
        return n;
    int rc = pl_file_write_atomic(path, buf, (size_t)n, 0600, !(flags & PL_IDENTITY_FORCE));
    sodium_memzero(buf, sizeof buf);
    return rc;
}

int pl_identity_load(pl_identity **out, const char *path, const char **why)
{
    const char *dummy;
    char buf[PL_IDENTITY_FILE_MAX + 1];
    struct stat st;
    size_t n = 0;
    int rc;
    if (!why)
        why = &dummy;
    *out = NULL;
    /* One open, checks on the open file, no hang on a FIFO (util/file.c). */
    int fd;
    rc = pl_file_open_regular(path, &fd, &st);
    if (rc == PL_ERR_NOTFOUND) {
        *why = "no identity file there";
        return rc;
    }
    if (rc != PL_OK) {
        *why = errno == EISDIR || errno == EINVAL ? "the identity path is not a regular file"
                                                  : "cannot open the identity file";
        return rc;
    }
    if ((st.st_mode & 077) != 0) {
        *why = "the identity file is accessible by group or others: chmod 600 it";
        close(fd);
        return PL_ERR_PERM;
    }
    if (st.st_uid != geteuid()) {
        *why = "the identity file is owned by another user";
        close(fd);
        return PL_ERR_PERM;
    }
    for (;;) {
        ssize_t r = read(fd, buf + n, sizeof buf - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            *why = "cannot read the identity file";
            rc = PL_ERR_IO;
            goto done;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n == sizeof buf)
            break;
    }
    rc = pl_identity_decode(out, buf, n, why);
done:
    close(fd);
    sodium_memzero(buf, sizeof buf);
    return rc;
}

int pl_identity_default_path(char *out, size_t cap)
{
    const char *key = getenv("PEERLINK_KEY");
    const char *xdg = getenv("XDG_CONFIG_HOME");
    const char *home = getenv("HOME");
    pl_wr w = pl_wr_init(out, cap);
    if (key && key[0]) {
        pl_wr_str(&w, key);
    } else if (xdg && xdg[0] == '/') { /* XDG: relative values are ignored */
        pl_wr_str(&w, xdg);
        pl_wr_str(&w, "/peerlink/identity");
    } else {
        if (!home || !home[0]) {
            struct passwd *pw = getpwuid(geteuid());
            home = pw ? pw->pw_dir : NULL;
        }
        if (!home)
            return PL_ERR_NOTFOUND;
        pl_wr_str(&w, home);
        pl_wr_str(&w, "/.config/peerlink/identity");
    }
    pl_wr_nul(&w);
    return pl_wr_result(&w);
}

/* Internal (identity_int.h): for the TLS certificate in src/stls/. */
#include "identity/identity_int.h"

const uint8_t *pl_identity_seed(const pl_identity *id)
{
    return id->seed;
}
