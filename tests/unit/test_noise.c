/*
 * test_noise.c - the Noise layer (src/noise/) against both standard sets of
 * test vectors for 25519_ChaChaPoly_BLAKE2b: cacophony
 * (../shared/vectors/noise/cacophony.txt: every pattern, handshake hash
 * included) and flynn/noise's vectors.txt (Debian's
 * golang-github-flynn-noise-dev). Each vector is run both ways: our
 * initiator's and responder's messages must equal the vector's bytes, and
 * each side must read the other's. Then the failure paths: any flipped bit
 * of any handshake message fails, truncated messages fail, wrong keys
 * fail, and a failed handshake stays failed.
 */
#include "testutil.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "noise/noise.h"
#include "peerlink.h"

#define SUITE     "_25519_ChaChaPoly_BLAKE2b"
#define FLYNN     "/usr/share/gocode/src/github.com/flynn/noise/vectors.txt"
#define BUF       (PL_NOISE_MSG_MAX + 64)
#define MSGS_MAX  16
#define FIELD_MAX 1024

static int no_random(void *user, uint8_t *out, size_t len)
{
    (void)user;
    (void)out;
    (void)len;
    return 1; /* vectors fix every ephemeral: a draw is a bug */
}

static int counter_random(void *user, uint8_t *out, size_t len)
{
    uint8_t *c = user;
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(*c + i * 7);
    (*c)++;
    return 0;
}

/* One vector, in a form both files reduce to. */
typedef struct vec {
    char name[PL_NOISE_NAME_MAX];
    uint8_t prologue[FIELD_MAX];
    size_t prologue_len;
    bool has_is, has_rs_priv, has_ie, has_re_priv;
    uint8_t init_static[32], resp_static[32], init_eph[32], resp_eph[32];
    unsigned n_psks;
    uint8_t psks[PL_NOISE_PSKS_MAX][32];
    bool has_hash;
    uint8_t hash[64];
    /* Who sends transport message m (after n handshake messages)?
     * cacophony: the alternation goes on (m even: the initiator), and a
     * one-way pattern has only the initiator send; flynn: the initiator
     * sends first, then they alternate, one-way patterns too. */
    bool flynn_order;
    unsigned n_msgs;
    size_t payload_len[MSGS_MAX], cipher_len[MSGS_MAX];
    uint8_t *payload[MSGS_MAX], *cipher[MSGS_MAX];
} vec;

static void vec_free(vec *v)
{
    for (unsigned i = 0; i < v->n_msgs; i++) {
        free(v->payload[i]);
        free(v->cipher[i]);
    }
    memset(v, 0, sizeof *v);
}

static size_t unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    assert_true(n % 2 == 0 && n / 2 <= cap);
    for (size_t i = 0; i < n / 2; i++) {
        unsigned b;
        assert_int_equal(sscanf(hex + 2 * i, "%2x", &b), 1);
        out[i] = (uint8_t)b;
    }
    return n / 2;
}

static uint8_t *unhex_alloc(const char *hex, size_t *len)
{
    size_t n = strlen(hex) / 2;
    uint8_t *p = malloc(n + 1);
    assert_non_null(p);
    *len = unhex(hex, p, n);
    return p;
}

/* Run one vector with our initiator and responder; returns the number of
 * messages checked. */
static unsigned run_vector(const vec *v)
{
    pl_noise_pattern pat;
    pl_noise_hs hi, hr;
    const char *pname = v->name + 6;
    char base[PL_NOISE_NAME_MAX];
    size_t blen = strlen(pname) - strlen(SUITE);
    memcpy(base, pname, blen);
    base[blen] = 0;
    assert_int_equal(pl_noise_pattern_get(base, &pat), PL_OK);
    assert_int_equal(v->n_psks, pat.n_psks);
    bool i_needs = pat.pre_init_s, r_needs = pat.pre_resp_s;
    for (unsigned m = 0; m < pat.n_msgs; m++)
        for (unsigned t = 0; t < PL_NOISE_TOKENS_MAX && pat.msgs[m][t]; t++)
            if (pat.msgs[m][t] == PL_NOISE_TOK_S) {
                if (m % 2 == 0)
                    i_needs = true;
                else
                    r_needs = true;
            }
    uint8_t ipub[32], rpub[32];
    pl_noise_keypair kp;
    if (v->has_is) {
        pl_noise_keypair_from(&kp, v->init_static);
        memcpy(ipub, kp.pub, 32);
    }
    if (v->has_rs_priv) {
        pl_noise_keypair_from(&kp, v->resp_static);
        memcpy(rpub, kp.pub, 32);
    }
    assert_true(!i_needs || v->has_is);
    assert_true(!r_needs || v->has_rs_priv);
    assert_int_equal(pl_noise_hs_init(&hi, v->name, true, v->prologue, v->prologue_len,
                                      i_needs ? v->init_static : NULL, pat.pre_resp_s ? rpub : NULL,
                                      v->psks, v->n_psks, no_random, NULL),
                     PL_OK);
    assert_int_equal(pl_noise_hs_init(&hr, v->name, false, v->prologue, v->prologue_len,
                                      r_needs ? v->resp_static : NULL, pat.pre_init_s ? ipub : NULL,
                                      v->psks, v->n_psks, no_random, NULL),
                     PL_OK);
    if (v->has_ie)
        pl_noise_hs_fix_ephemeral(&hi, v->init_eph);
    if (v->has_re_priv)
        pl_noise_hs_fix_ephemeral(&hr, v->resp_eph);
    static uint8_t out[BUF], got[BUF];
    unsigned m = 0;
    for (; m < pat.n_msgs; m++) {
        pl_noise_hs *w = m % 2 == 0 ? &hi : &hr, *r = m % 2 == 0 ? &hr : &hi;
        size_t n = 0, pn = 0;
        assert_true(m < v->n_msgs);
        assert_true(pl_noise_hs_our_turn(w));
        assert_false(pl_noise_hs_our_turn(r));
        assert_int_equal(pl_noise_hs_overhead(w) + v->payload_len[m], v->cipher_len[m]);
        assert_int_equal(
            pl_noise_hs_write(w, v->payload[m], v->payload_len[m], out, sizeof out, &n), PL_OK);
        assert_int_equal(n, v->cipher_len[m]);
        assert_memory_equal(out, v->cipher[m], n);
        assert_int_equal(pl_noise_hs_read(r, out, n, got, sizeof got, &pn), PL_OK);
        assert_int_equal(pn, v->payload_len[m]);
        if (pn)
            assert_memory_equal(got, v->payload[m], pn);
    }
    assert_true(pl_noise_hs_done(&hi) && pl_noise_hs_done(&hr));
    uint8_t h1[64], h2[64];
    pl_noise_hs_hash(&hi, h1);
    pl_noise_hs_hash(&hr, h2);
    assert_memory_equal(h1, h2, 64);
    if (v->has_hash)
        assert_memory_equal(h1, v->hash, 64);
    /* the peer's static key, where the handshake conveyed one */
    uint8_t rs[32];
    if (r_needs) {
        assert_int_equal(pl_noise_hs_remote_static(&hi, rs), PL_OK);
        assert_memory_equal(rs, rpub, 32);
    }
    if (i_needs) {
        assert_int_equal(pl_noise_hs_remote_static(&hr, rs), PL_OK);
        assert_memory_equal(rs, ipub, 32);
    }
    pl_noise_cipher i1, i2, r1, r2;
    assert_int_equal(pl_noise_hs_split(&hi, &i1, &i2), PL_OK);
    assert_int_equal(pl_noise_hs_split(&hr, &r1, &r2), PL_OK);
    bool one_way = pat.n_msgs == 1;
    for (; m < v->n_msgs; m++) {
        bool from_init = v->flynn_order ? (m - pat.n_msgs) % 2 == 0 : one_way || (m % 2 == 0);
        pl_noise_cipher *send = from_init ? &i1 : &r2, *recv = from_init ? &r1 : &i2;
        assert_int_equal(v->payload_len[m] + PL_NOISE_TAGLEN, v->cipher_len[m]);
        assert_int_equal(
            pl_noise_cipher_encrypt(send, NULL, 0, v->payload[m], v->payload_len[m], out), PL_OK);
        assert_memory_equal(out, v->cipher[m], v->cipher_len[m]);
        assert_int_equal(pl_noise_cipher_decrypt(recv, NULL, 0, out, v->cipher_len[m], got), PL_OK);
        if (v->payload_len[m])
            assert_memory_equal(got, v->payload[m], v->payload_len[m]);
    }
    pl_noise_hs_wipe(&hi);
    pl_noise_hs_wipe(&hr);
    return m;
}

/* ---- cacophony ---------------------------------------------------------- */

static void cacophony(void **state)
{
    (void)state;
    const char *path = tu_vector_path("noise/cacophony.txt");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    assert_non_null(root);
    json_t *list = json_object_get(root, "vectors");
    assert_true(json_is_array(list));
    unsigned ran = 0, msgs = 0, ik = 0, xx = 0;
    size_t idx;
    json_t *j;
    json_array_foreach(list, idx, j)
    {
        const char *name = json_string_value(json_object_get(j, "protocol_name"));
        size_t nl = strlen(name);
        if (nl < strlen(SUITE) || strcmp(name + nl - strlen(SUITE), SUITE) != 0)
            continue;
        vec v;
        memset(&v, 0, sizeof v);
        assert_true(nl < sizeof v.name);
        memcpy(v.name, name, nl + 1);
        const char *s;
        /* both sides share the prologue in every vector of the file */
        assert_string_equal(json_string_value(json_object_get(j, "init_prologue")),
                            json_string_value(json_object_get(j, "resp_prologue")));
        v.prologue_len = unhex(json_string_value(json_object_get(j, "init_prologue")), v.prologue,
                               sizeof v.prologue);
        if ((s = json_string_value(json_object_get(j, "init_static"))))
            v.has_is = unhex(s, v.init_static, 32) == 32;
        if ((s = json_string_value(json_object_get(j, "resp_static"))))
            v.has_rs_priv = unhex(s, v.resp_static, 32) == 32;
        if ((s = json_string_value(json_object_get(j, "init_ephemeral"))))
            v.has_ie = unhex(s, v.init_eph, 32) == 32;
        if ((s = json_string_value(json_object_get(j, "resp_ephemeral"))))
            v.has_re_priv = unhex(s, v.resp_eph, 32) == 32;
        json_t *psks = json_object_get(j, "init_psks");
        size_t pi;
        json_t *pj;
        json_array_foreach(psks, pi, pj)
        {
            assert_true(v.n_psks < PL_NOISE_PSKS_MAX);
            assert_int_equal(unhex(json_string_value(pj), v.psks[v.n_psks++], 32), 32);
        }
        assert_true(json_equal(psks, json_object_get(j, "resp_psks")) || !psks);
        if ((s = json_string_value(json_object_get(j, "handshake_hash"))))
            v.has_hash = unhex(s, v.hash, 64) == 64;
        json_t *ms = json_object_get(j, "messages");
        size_t mi;
        json_t *mj;
        json_array_foreach(ms, mi, mj)
        {
            assert_true(v.n_msgs < MSGS_MAX);
            v.payload[v.n_msgs] = unhex_alloc(json_string_value(json_object_get(mj, "payload")),
                                              &v.payload_len[v.n_msgs]);
            v.cipher[v.n_msgs] = unhex_alloc(json_string_value(json_object_get(mj, "ciphertext")),
                                             &v.cipher_len[v.n_msgs]);
            v.n_msgs++;
        }
        msgs += run_vector(&v);
        ran++;
        ik += strncmp(name, "Noise_IK_", 9) == 0;
        xx += strncmp(name, "Noise_XX_", 9) == 0;
        vec_free(&v);
    }
    json_decref(root);
    printf("# cacophony: %u vectors, %u messages (IK %u, XX %u)\n", ran, msgs, ik, xx);
    assert_int_equal(ran, 59); /* every 25519_ChaChaPoly_BLAKE2b vector in the file */
    assert_true(ik >= 1 && xx >= 1);
}

/* ---- flynn/noise vectors.txt --------------------------------------------- */

static void flynn(void **state)
{
    (void)state;
    FILE *f = fopen(FLYNN, "r");
    if (!f) {
        skip(); /* installed by scripts/setup.sh; a bare machine may lack it */
        return;
    }
    static char line[8192];
    vec v;
    bool in = false, want = false;
    unsigned ran = 0, msgs = 0, ik = 0, xx = 0;
    memset(&v, 0, sizeof v);
    for (;;) {
        char *l = fgets(line, sizeof line, f);
        size_t n = l ? strcspn(line, "\r\n") : 0;
        if (l)
            line[n] = 0;
        if (!l || n == 0) { /* end of a vector */
            if (in && want) {
                msgs += run_vector(&v);
                ran++;
                ik += strncmp(v.name, "Noise_IK_", 9) == 0;
                xx += strncmp(v.name, "Noise_XX_", 9) == 0;
            }
            vec_free(&v);
            in = want = false;
            if (!l)
                break;
            continue;
        }
        char *eq = strchr(line, '=');
        assert_non_null(eq);
        *eq = 0;
        const char *key = line, *val = eq + 1;
        if (strcmp(key, "handshake") == 0) {
            in = true;
            size_t vl = strlen(val);
            want = vl >= strlen(SUITE) && vl < sizeof v.name &&
                   strcmp(val + vl - strlen(SUITE), SUITE) == 0;
            if (want)
                memcpy(v.name, val, vl + 1);
            v.flynn_order = true;
        } else if (!want) {
            continue;
        } else if (strcmp(key, "init_static") == 0) {
            v.has_is = unhex(val, v.init_static, 32) == 32;
        } else if (strcmp(key, "resp_static") == 0) {
            v.has_rs_priv = unhex(val, v.resp_static, 32) == 32;
        } else if (strcmp(key, "gen_init_ephemeral") == 0) {
            v.has_ie = unhex(val, v.init_eph, 32) == 32;
        } else if (strcmp(key, "gen_resp_ephemeral") == 0) {
            v.has_re_priv = unhex(val, v.resp_eph, 32) == 32;
        } else if (strcmp(key, "prologue") == 0) {
            v.prologue_len = unhex(val, v.prologue, sizeof v.prologue);
        } else if (strcmp(key, "preshared_key") == 0) {
            assert_int_equal(unhex(val, v.psks[0], 32), 32);
            v.n_psks = 1;
        } else if (strncmp(key, "msg_", 4) == 0) {
            unsigned idx = (unsigned)strtoul(key + 4, NULL, 10);
            assert_true(idx < MSGS_MAX);
            if (strstr(key, "_payload")) {
                v.payload[idx] = unhex_alloc(val, &v.payload_len[idx]);
                if (idx + 1 > v.n_msgs)
                    v.n_msgs = idx + 1;
            } else {
                v.cipher[idx] = unhex_alloc(val, &v.cipher_len[idx]);
            }
        } else {
            fail_msg("unknown field %s", key);
        }
    }
    fclose(f);
    printf("# flynn: %u vectors, %u messages (IK %u, XX %u)\n", ran, msgs, ik, xx);
    assert_true(ran >= 200 && ik >= 1 && xx >= 1);
}

/* ---- failure paths ------------------------------------------------------ */

typedef struct pair {
    pl_noise_hs i, r;
    uint8_t ctr;
} pair;

static const uint8_t S_I[32] = {1, 2, 3}, S_R[32] = {4, 5, 6};

static void pair_init(pair *p, const char *name)
{
    pl_noise_keypair kr;
    pl_noise_keypair_from(&kr, S_R);
    p->ctr = 9;
    bool ik = strstr(name, "_IK_") != NULL;
    assert_int_equal(pl_noise_hs_init(&p->i, name, true, (const uint8_t *)"pro", 3, S_I,
                                      ik ? kr.pub : NULL, NULL, 0, counter_random, &p->ctr),
                     PL_OK);
    assert_int_equal(pl_noise_hs_init(&p->r, name, false, (const uint8_t *)"pro", 3, S_R, NULL,
                                      NULL, 0, counter_random, &p->ctr),
                     PL_OK);
}

/* Every bit of every handshake message matters: a flip fails the reader
 * with PL_ERR_AUTH (it stays failed), never a different success. */
static void flips_fail(const char *name)
{
    static uint8_t msg[BUF], got[BUF];
    pair p;
    pair_init(&p, name);
    unsigned n_msgs = p.i.pat.n_msgs;
    for (unsigned target = 0; target < n_msgs; target++) {
        size_t len = 0;
        /* learn the length of message `target` */
        pair q;
        pair_init(&q, name);
        for (unsigned m = 0; m <= target; m++) {
            pl_noise_hs *w = m % 2 == 0 ? &q.i : &q.r, *r = m % 2 == 0 ? &q.r : &q.i;
            size_t pn;
            assert_int_equal(
                pl_noise_hs_write(w, (const uint8_t *)"payload", 7, msg, sizeof msg, &len), PL_OK);
            if (m < target)
                assert_int_equal(pl_noise_hs_read(r, msg, len, got, sizeof got, &pn), PL_OK);
        }
        for (size_t bit = 0; bit < len * 8; bit++) {
            pair_init(&q, name);
            for (unsigned m = 0; m <= target; m++) {
                pl_noise_hs *w = m % 2 == 0 ? &q.i : &q.r, *r = m % 2 == 0 ? &q.r : &q.i;
                size_t n, pn;
                assert_int_equal(
                    pl_noise_hs_write(w, (const uint8_t *)"payload", 7, msg, sizeof msg, &n),
                    PL_OK);
                if (m == target)
                    msg[bit / 8] ^= (uint8_t)(1u << (bit % 8));
                int rc = pl_noise_hs_read(r, msg, n, got, sizeof got, &pn);
                if (m < target) {
                    assert_int_equal(rc, PL_OK);
                    continue;
                }
                /* Message 0 of XX is a clear ephemeral key and payload: a flip
                 * there is only noticed by the next message's tags. */
                if (rc == PL_OK) {
                    assert_true(target == 0 && strstr(name, "_XX_"));
                    size_t n2;
                    assert_int_equal(pl_noise_hs_write(&q.r, NULL, 0, msg, sizeof msg, &n2), PL_OK);
                    assert_int_equal(pl_noise_hs_read(&q.i, msg, n2, got, sizeof got, &pn),
                                     PL_ERR_AUTH);
                } else {
                    assert_int_equal(rc, PL_ERR_AUTH);
                    assert_int_equal(pl_noise_hs_read(r, msg, n, got, sizeof got, &pn),
                                     PL_ERR_AUTH); /* sticky */
                }
            }
        }
    }
}

static void flipped_bits_ik(void **state)
{
    (void)state;
    flips_fail("Noise_IK" SUITE);
}

static void flipped_bits_xx(void **state)
{
    (void)state;
    flips_fail("Noise_XX" SUITE);
}

static void truncated_and_wrong(void **state)
{
    (void)state;
    static uint8_t msg[BUF], got[BUF];
    pair p;
    size_t n, pn;
    /* truncated: every shorter length of the IK first message */
    pair_init(&p, "Noise_IK" SUITE);
    assert_int_equal(pl_noise_hs_write(&p.i, NULL, 0, msg, sizeof msg, &n), PL_OK);
    assert_int_equal(n, 32 + 48 + 16);
    for (size_t cut = 0; cut < n; cut++) {
        pair q;
        pair_init(&q, "Noise_IK" SUITE);
        size_t n2;
        assert_int_equal(pl_noise_hs_write(&q.i, NULL, 0, msg, sizeof msg, &n2), PL_OK);
        int rc = pl_noise_hs_read(&q.r, msg, cut, got, sizeof got, &pn);
        assert_true(rc == PL_ERR_PARSE || rc == PL_ERR_AUTH);
    }
    /* IK to the wrong responder key: the responder cannot read message 0 */
    pl_noise_keypair other;
    uint8_t ctr = 1, seed[32] = {7};
    pl_noise_keypair_from(&other, seed);
    pl_noise_hs hi, hr;
    assert_int_equal(pl_noise_hs_init(&hi, "Noise_IK" SUITE, true, NULL, 0, S_I, other.pub, NULL, 0,
                                      counter_random, &ctr),
                     PL_OK);
    assert_int_equal(pl_noise_hs_init(&hr, "Noise_IK" SUITE, false, NULL, 0, S_R, NULL, NULL, 0,
                                      counter_random, &ctr),
                     PL_OK);
    assert_int_equal(pl_noise_hs_write(&hi, NULL, 0, msg, sizeof msg, &n), PL_OK);
    assert_int_equal(pl_noise_hs_read(&hr, msg, n, got, sizeof got, &pn), PL_ERR_AUTH);
    /* a different prologue: the transcripts differ, the first tag fails */
    assert_int_equal(pl_noise_hs_init(&hi, "Noise_XX" SUITE, true, (const uint8_t *)"a", 1, S_I,
                                      NULL, NULL, 0, counter_random, &ctr),
                     PL_OK);
    assert_int_equal(pl_noise_hs_init(&hr, "Noise_XX" SUITE, false, (const uint8_t *)"b", 1, S_R,
                                      NULL, NULL, 0, counter_random, &ctr),
                     PL_OK);
    assert_int_equal(pl_noise_hs_write(&hi, NULL, 0, msg, sizeof msg, &n), PL_OK);
    assert_int_equal(pl_noise_hs_read(&hr, msg, n, got, sizeof got, &pn), PL_OK);
    assert_int_equal(pl_noise_hs_write(&hr, NULL, 0, msg, sizeof msg, &n), PL_OK);
    assert_int_equal(pl_noise_hs_read(&hi, msg, n, got, sizeof got, &pn), PL_ERR_AUTH);
    /* a small-order responder ephemeral: the DH fails */
    pair_init(&p, "Noise_XX" SUITE);
    assert_int_equal(pl_noise_hs_write(&p.i, NULL, 0, msg, sizeof msg, &n), PL_OK);
    assert_int_equal(pl_noise_hs_read(&p.r, msg, n, got, sizeof got, &pn), PL_OK);
    assert_int_equal(pl_noise_hs_write(&p.r, NULL, 0, msg, sizeof msg, &n), PL_OK);
    memset(msg, 0, 32); /* the all-zero point */
    assert_int_equal(pl_noise_hs_read(&p.i, msg, n, got, sizeof got, &pn), PL_ERR_AUTH);
}

static void misuse(void **state)
{
    (void)state;
    static uint8_t msg[BUF], got[BUF];
    pl_noise_hs h;
    pl_noise_pattern pat;
    uint8_t ctr = 0;
    size_t n, pn;
    const uint8_t psk[1][32] = {{1}};
    assert_int_equal(pl_noise_pattern_get("ZZ", &pat), PL_ERR_NOTFOUND);
    assert_int_equal(pl_noise_pattern_get("XXpsk9", &pat), PL_ERR_NOTFOUND);
    assert_int_equal(pl_noise_pattern_get("XXpsk2+psk1", &pat), PL_ERR_NOTFOUND);
    assert_int_equal(pl_noise_pattern_get("NNpsk0+psk2", &pat), PL_OK);
    assert_int_equal(pat.n_psks, 2);
    assert_int_equal(pl_noise_hs_init(&h, "Noise_XX_25519_AESGCM_SHA256", true, NULL, 0, S_I, NULL,
                                      NULL, 0, counter_random, &ctr),
                     PL_ERR_NOTFOUND);
    assert_int_equal(pl_noise_hs_init(&h, "Noise_XX" SUITE, true, NULL, 0, NULL, NULL, NULL, 0,
                                      counter_random, &ctr),
                     PL_ERR_INVAL); /* XX sends our static: we need one */
    assert_int_equal(pl_noise_hs_init(&h, "Noise_IK" SUITE, true, NULL, 0, S_I, NULL, NULL, 0,
                                      counter_random, &ctr),
                     PL_ERR_INVAL); /* IK: the responder's key must be known */
    assert_int_equal(pl_noise_hs_init(&h, "Noise_XXpsk3" SUITE, true, NULL, 0, S_I, NULL, NULL, 0,
                                      counter_random, &ctr),
                     PL_ERR_INVAL); /* the psk is missing */
    assert_int_equal(pl_noise_hs_init(&h, "Noise_XX" SUITE, true, NULL, 0, S_I, NULL, psk, 1,
                                      counter_random, &ctr),
                     PL_ERR_INVAL); /* one psk too many */
    assert_int_equal(pl_noise_hs_init(&h, "Noise_XX" SUITE, true, NULL, 0, S_I, NULL, NULL, 0,
                                      counter_random, &ctr),
                     PL_OK);
    assert_int_equal(pl_noise_hs_read(&h, msg, 32, got, sizeof got, &pn),
                     PL_ERR_INVAL); /* our turn */
    assert_int_equal(pl_noise_hs_write(&h, NULL, 0, msg, 31, &n), PL_ERR_BUFSIZE);
    assert_int_equal(pl_noise_hs_write(&h, msg, PL_NOISE_MSG_MAX, msg, sizeof msg, &n),
                     PL_ERR_TOOBIG);
    assert_int_equal(pl_noise_hs_write(&h, NULL, 0, msg, sizeof msg, &n), PL_OK);
    assert_int_equal(pl_noise_hs_write(&h, NULL, 0, msg, sizeof msg, &n),
                     PL_ERR_INVAL); /* theirs */
    pl_noise_cipher c1, c2;
    assert_int_equal(pl_noise_hs_split(&h, &c1, &c2), PL_ERR_INVAL); /* not done */
    /* a failed random source fails the write */
    assert_int_equal(
        pl_noise_hs_init(&h, "Noise_XX" SUITE, true, NULL, 0, S_I, NULL, NULL, 0, no_random, NULL),
        PL_OK);
    assert_int_equal(pl_noise_hs_write(&h, NULL, 0, msg, sizeof msg, &n), PL_ERR_INTERNAL);
    /* nonce exhaustion and rekey */
    uint8_t k[32] = {3};
    pl_noise_cipher cs;
    pl_noise_cipher_init(&cs, k);
    cs.n = PL_NOISE_NONCE_MAX;
    assert_int_equal(pl_noise_cipher_encrypt(&cs, NULL, 0, k, 1, msg), PL_ERR_TOOBIG);
    pl_noise_cipher_rekey(&cs);
    assert_memory_not_equal(cs.k, k, 32);
    assert_int_equal(pl_noise_cipher_decrypt(&cs, NULL, 0, msg, 15, got), PL_ERR_TOOBIG);
    cs.n = 0;
    assert_int_equal(pl_noise_cipher_decrypt(&cs, NULL, 0, msg, 15, got), PL_ERR_PARSE);
    assert_int_equal(pl_noise_cipher_decrypt(&cs, NULL, 0, msg, 16, got), PL_ERR_AUTH);
    assert_int_equal(cs.n, 0); /* a failed decryption does not use the nonce */
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cacophony),           cmocka_unit_test(flynn),
        cmocka_unit_test(flipped_bits_ik),     cmocka_unit_test(flipped_bits_xx),
        cmocka_unit_test(truncated_and_wrong), cmocka_unit_test(misuse),
    };
    if (pl_init() != PL_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
