/* test_identity.c - key pairs, the key file format and its permissions. */
#include "testutil.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "peerlink.h"

/* RFC 8032 §7.1 TEST 1. */
static const char *seed1 = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
static const char *pk1 = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
static const char *sig1_empty = "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
                                "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

static pl_identity *fixed(void)
{
    uint8_t seed[32];
    pl_identity *id;
    tu_unhex(seed1, seed, sizeof seed);
    assert_int_equal(pl_identity_from_seed(&id, seed), PL_OK);
    return id;
}

static void rfc8032_known_answer(void **state)
{
    (void)state;
    pl_identity *id = fixed();
    uint8_t pk[32], want[32], sig[64], wantsig[64];
    pl_identity_public_key(id, pk);
    tu_unhex(pk1, want, sizeof want);
    assert_memory_equal(pk, want, 32);
    assert_int_equal(pl_identity_sign(id, NULL, 0, sig), PL_OK);
    tu_unhex(sig1_empty, wantsig, sizeof wantsig);
    assert_memory_equal(sig, wantsig, 64);
    assert_int_equal(pl_ed25519_verify(sig, NULL, 0, pk), PL_OK);
    pl_fingerprint fp;
    char text[PL_FINGERPRINT_STR_MAX];
    pl_identity_fingerprint(id, &fp);
    assert_true(pl_fingerprint_format(&fp, text, sizeof text) > 0);
    assert_string_equal(text, "ni:///sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0");
    pl_identity_free(id);
}

static void generate_is_random(void **state)
{
    (void)state;
    pl_identity *a, *b;
    uint8_t pa[32], pb[32];
    assert_int_equal(pl_identity_generate(&a), PL_OK);
    assert_int_equal(pl_identity_generate(&b), PL_OK);
    pl_identity_public_key(a, pa);
    pl_identity_public_key(b, pb);
    assert_memory_not_equal(pa, pb, 32);
    assert_int_equal(pl_ed25519_check_key(pa), PL_OK);
    pl_identity_free(a);
    pl_identity_free(b);
    pl_identity_free(NULL);
}

static void encode_decode_round_trip(void **state)
{
    (void)state;
    pl_identity *id = fixed(), *back;
    char buf[PL_IDENTITY_FILE_MAX], again[PL_IDENTITY_FILE_MAX];
    int n = pl_identity_encode(id, buf, sizeof buf);
    assert_true(n > 0);
    assert_int_equal(pl_identity_decode(&back, buf, (size_t)n, NULL), PL_OK);
    assert_int_equal(pl_identity_encode(back, again, sizeof again), n);
    assert_memory_equal(buf, again, (size_t)n);
    pl_identity_free(back);
    /* every truncated prefix is rejected, with a reason */
    for (int len = 0; len < n; len++) {
        const char *why = NULL;
        assert_int_not_equal(pl_identity_decode(&back, buf, (size_t)len, &why), PL_OK);
        assert_null(back);
        assert_non_null(why);
    }
    /* too-small buffer */
    assert_int_equal(pl_identity_encode(id, buf, 40), PL_ERR_BUFSIZE);
    pl_identity_free(id);
}

static void decode_rejects(void **state)
{
    (void)state;
    pl_identity *id = fixed(), *back;
    char good[PL_IDENTITY_FILE_MAX], bad[PL_IDENTITY_FILE_MAX + 8];
    int n = pl_identity_encode(id, good, sizeof good);
    assert_true(n > 0);
    const char *why;

    /* any single changed byte of the key lines is caught (seed and public
     * disagree, or the base64 is not canonical, or the layout is wrong) */
    const char *seedline = strstr(good, "seed ");
    assert_non_null(seedline);
    for (size_t i = (size_t)(seedline - good); i < (size_t)n; i++) {
        memcpy(bad, good, (size_t)n);
        bad[i] = bad[i] == 'A' ? 'B' : 'A';
        assert_int_not_equal(pl_identity_decode(&back, bad, (size_t)n, &why), PL_OK);
    }
    /* version */
    const char *v2 = "peerlink-identity 2\nseed x\npublic y\n";
    assert_int_equal(pl_identity_decode(&back, v2, strlen(v2), &why), PL_ERR_VERSION);
    /* trailing data */
    memcpy(bad, good, (size_t)n);
    memcpy(bad + n, "extra\n", 6);
    assert_int_equal(pl_identity_decode(&back, bad, (size_t)n + 6, &why), PL_ERR_PARSE);
    /* public key of another seed (RFC 8032 TEST 2) */
    char *pub = strstr(good, "public ");
    memcpy(bad, good, (size_t)n);
    memcpy(bad + (pub - good) + 7, "PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw", 43);
    assert_int_equal(pl_identity_decode(&back, bad, (size_t)n, &why), PL_ERR_PARSE);
    assert_non_null(strstr(why, "does not match"));
    /* oversize */
    assert_int_equal(pl_identity_decode(&back, bad, PL_IDENTITY_FILE_MAX + 1, &why), PL_ERR_TOOBIG);
    /* any other version number, however large, is a version */
    const char *vbig = "peerlink-identity 4294967296\nseed x\npublic y\n";
    assert_int_equal(pl_identity_decode(&back, vbig, strlen(vbig), &why), PL_ERR_VERSION);
    const char *v01 = "peerlink-identity 01\n";
    assert_int_equal(pl_identity_decode(&back, v01, strlen(v01), &why), PL_ERR_VERSION);
    /* a CR in a comment line is refused too */
    memcpy(bad, "# c\r\n", 5);
    memcpy(bad + 5, strstr(good, "peerlink-identity"), strlen(strstr(good, "peerlink-identity")));
    assert_int_equal(
        pl_identity_decode(&back, bad, 5 + strlen(strstr(good, "peerlink-identity")), &why),
        PL_ERR_PARSE);
    assert_non_null(strstr(why, "carriage return"));
    /* CRLF line endings are not the format */
    const char *crlf = "peerlink-identity 1\r\n";
    assert_int_equal(pl_identity_decode(&back, crlf, strlen(crlf), &why), PL_ERR_PARSE);
    pl_identity_free(id);
}

static void save_load_permissions(void **state)
{
    (void)state;
    char *dir = tu_tmpdir();
    char path[512];
    snprintf(path, sizeof path, "%s/sub/dir/identity", dir);
    pl_identity *id = fixed(), *back;
    const char *why;
    assert_int_equal(pl_identity_save(id, path, 0), PL_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0600);
    char sub[512];
    snprintf(sub, sizeof sub, "%s/sub/dir", dir);
    assert_int_equal(stat(sub, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);

    /* refuses to overwrite, unless forced */
    assert_int_equal(pl_identity_save(id, path, 0), PL_ERR_EXIST);
    assert_int_equal(pl_identity_save(id, path, PL_IDENTITY_FORCE), PL_OK);

    assert_int_equal(pl_identity_load(&back, path, &why), PL_OK);
    uint8_t a[32], b[32];
    pl_identity_public_key(id, a);
    pl_identity_public_key(back, b);
    assert_memory_equal(a, b, 32);
    pl_identity_free(back);

    /* group- or world-accessible: refused like OpenSSH */
    static const unsigned modes[] = {0640, 0604, 0620, 0602, 0660, 0644};
    for (size_t i = 0; i < sizeof modes / sizeof modes[0]; i++) {
        assert_int_equal(chmod(path, modes[i]), 0);
        assert_int_equal(pl_identity_load(&back, path, &why), PL_ERR_PERM);
        assert_null(back);
        assert_non_null(strstr(why, "chmod 600"));
    }
    assert_int_equal(chmod(path, 0400), 0);
    assert_int_equal(pl_identity_load(&back, path, &why), PL_OK);
    pl_identity_free(back);

    /* missing file, directory, oversize file */
    char missing[600];
    snprintf(missing, sizeof missing, "%s/nope", dir);
    assert_int_equal(pl_identity_load(&back, missing, &why), PL_ERR_NOTFOUND);
    assert_int_equal(pl_identity_load(&back, dir, &why), PL_ERR_IO);
    char big[600];
    snprintf(big, sizeof big, "%s/big", dir);
    int fd = open(big, O_WRONLY | O_CREAT, 0600);
    assert_true(fd >= 0);
    char junk[PL_IDENTITY_FILE_MAX + 10];
    memset(junk, '#', sizeof junk);
    assert_int_equal(write(fd, junk, sizeof junk), (ssize_t)sizeof junk);
    close(fd);
    assert_int_equal(pl_identity_load(&back, big, &why), PL_ERR_TOOBIG);

    /* a FIFO is refused at once, not waited on */
    char fifo[600];
    snprintf(fifo, sizeof fifo, "%s/fifo", dir);
    assert_int_equal(mkfifo(fifo, 0600), 0);
    assert_int_equal(pl_identity_load(&back, fifo, &why), PL_ERR_IO);
    assert_null(back);

    /* no temporary files left behind */
    char tmpglob[700];
    snprintf(tmpglob, sizeof tmpglob, "ls %s/sub/dir | grep -q tmp", dir);
    assert_int_not_equal(system(tmpglob), 0);
    pl_identity_free(id);
    tu_rmrf(dir);
    free(dir);
}

static void default_path(void **state)
{
    (void)state;
    char buf[PL_PATH_MAX];
    setenv("PEERLINK_KEY", "/k/file", 1);
    setenv("XDG_CONFIG_HOME", "/xdg", 1);
    setenv("HOME", "/home/u", 1);
    assert_true(pl_identity_default_path(buf, sizeof buf) > 0);
    assert_string_equal(buf, "/k/file");
    unsetenv("PEERLINK_KEY");
    assert_true(pl_identity_default_path(buf, sizeof buf) > 0);
    assert_string_equal(buf, "/xdg/peerlink/identity");
    setenv("XDG_CONFIG_HOME", "relative", 1); /* ignored, per the XDG spec */
    assert_true(pl_identity_default_path(buf, sizeof buf) > 0);
    assert_string_equal(buf, "/home/u/.config/peerlink/identity");
    unsetenv("XDG_CONFIG_HOME");
    assert_true(pl_identity_default_path(buf, sizeof buf) > 0);
    assert_string_equal(buf, "/home/u/.config/peerlink/identity");
    assert_int_equal(pl_identity_default_path(buf, 5), PL_ERR_BUFSIZE);
}

int main(void)
{
    if (pl_init() != PL_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc8032_known_answer),     cmocka_unit_test(generate_is_random),
        cmocka_unit_test(encode_decode_round_trip), cmocka_unit_test(decode_rejects),
        cmocka_unit_test(save_load_permissions),    cmocka_unit_test(default_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
