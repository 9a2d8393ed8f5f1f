/*
 * test_directory.c - the directory's cores (src/directory/): the SQLite
 * store, the rate limiter, the HTTP core and the DNS responder.
 *
 * Real components throughout: SQLite files in a private temporary
 * directory, queries built and responses read back with ldns. Keys come
 * from fixed seeds and times are fixed.
 */
#define _GNU_SOURCE /* strcasestr */
#include "testutil.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "directory/directory.h"
#include "peerlink.h"

#define NOW  1700000000u
#define TTL  3600u
#define SKEW PL_RECORD_SKEW_DEFAULT
#define ZONE "dir.example.org"

/* ---- helpers ------------------------------------------------------------ */

static char *tmp;
static char path_buf[512];

static const char *tmp_path(const char *name)
{
    snprintf(path_buf, sizeof path_buf, "%s/%s", tmp, name);
    return path_buf;
}

static int setup(void **state)
{
    (void)state;
    tmp = tu_tmpdir();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    tu_rmrf(tmp);
    free(tmp);
    return 0;
}

static pl_identity *ident(uint8_t fill)
{
    uint8_t seed[PL_ED25519_SEED_LEN];
    pl_identity *id = NULL;
    memset(seed, fill, sizeof seed);
    assert_int_equal(pl_identity_from_seed(&id, seed), PL_OK);
    return id;
}

static void digest_of(uint8_t fill, uint8_t digest[PL_FP_DIGEST_LEN])
{
    pl_identity *id = ident(fill);
    pl_fingerprint fp;
    pl_identity_fingerprint(id, &fp);
    memcpy(digest, fp.digest, PL_FP_DIGEST_LEN);
    pl_identity_free(id);
}

/* A record set by key `fill` signed at ts with ttl and n_blobs 1 KiB blobs
 * (to make big ones); JSON into json (NUL-terminated), returns its length. */
static size_t make_set(uint8_t fill, uint64_t ts, uint32_t ttl, const char *address, size_t n_blobs,
                       char *json, size_t cap, pl_record *out)
{
    static uint8_t blob[PL_RECORD_BLOB_MAX];
    pl_identity *id = ident(fill);
    pl_record rs;
    int n;
    memset(blob, 'x', sizeof blob);
    pl_record_init(&rs);
    assert_int_equal(pl_record_add_address(&rs, address, NULL), PL_OK);
    for (size_t i = 0; i < n_blobs; i++)
        assert_int_equal(pl_record_add_blob(&rs, blob, sizeof blob), PL_OK);
    assert_int_equal(pl_record_sign(&rs, id, ts, ttl), PL_OK);
    pl_identity_free(id);
    n = pl_record_to_json(&rs, json, cap);
    assert_true(n > 0);
    if (out)
        *out = rs;
    return (size_t)n;
}

static pl_dir_store *open_store(const char *name)
{
    pl_dir_store *st = NULL;
    const char *why = NULL;
    int rc = pl_dir_store_open(&st, name ? tmp_path(name) : ":memory:", &why);
    if (rc != PL_OK)
        print_message("open: %s\n", why ? why : "?");
    assert_int_equal(rc, PL_OK);
    return st;
}

static int put(pl_dir_store *st, uint8_t fill_url, const char *json, size_t len, uint64_t now,
               enum pl_dir_put_outcome *o, const char **why)
{
    uint8_t digest[PL_FP_DIGEST_LEN];
    digest_of(fill_url, digest);
    return pl_dir_store_put(st, digest, json, len, now, SKEW, o, why);
}

static int get_json(pl_dir_store *st, uint8_t fill, uint64_t now, char *out, size_t cap)
{
    uint8_t digest[PL_FP_DIGEST_LEN];
    digest_of(fill, digest);
    return pl_dir_store_get_json(st, digest, now, out, cap, NULL);
}

/* ---- store -------------------------------------------------------------- */

static char ja[PL_RECORD_JSON_MAX + 1], jb[PL_RECORD_JSON_MAX + 1], got[PL_RECORD_JSON_MAX + 1];

static void store_put_get(void **state)
{
    pl_dir_store *st = open_store("a.db");
    enum pl_dir_put_outcome o = 0;
    uint8_t digest[PL_FP_DIGEST_LEN], txt[PL_RECORD_TXT_MAX], want[PL_RECORD_TXT_MAX];
    uint64_t expires = 0;
    pl_record rs;
    size_t n = make_set(1, NOW, TTL, "udp://192.0.2.1:7000", 1, ja, sizeof ja, &rs);
    (void)state;
    assert_int_equal(put(st, 1, ja, n, NOW, &o, NULL), PL_OK);
    assert_int_equal(o, PL_DIR_CREATED);
    assert_int_equal(get_json(st, 1, NOW, got, sizeof got), (int)n);
    assert_string_equal(got, ja);
    digest_of(1, digest);
    int tn = pl_dir_store_get_txt(st, digest, NOW + 1, txt, sizeof txt, &expires);
    assert_int_equal(tn, pl_record_to_txt(&rs, want, sizeof want));
    assert_memory_equal(txt, want, (size_t)tn);
    assert_int_equal(expires, NOW + TTL);
    assert_int_equal(pl_dir_store_count(st, NOW), 1);
    /* the same set again: unchanged; a newer one: replaced */
    assert_int_equal(put(st, 1, ja, n, NOW + 5, &o, NULL), PL_OK);
    assert_int_equal(o, PL_DIR_UNCHANGED);
    n = make_set(1, NOW + 10, TTL, "udp://192.0.2.2:7000", 0, jb, sizeof jb, NULL);
    assert_int_equal(put(st, 1, jb, n, NOW + 10, &o, NULL), PL_OK);
    assert_int_equal(o, PL_DIR_REPLACED);
    assert_int_equal(get_json(st, 1, NOW + 10, got, sizeof got), (int)n);
    assert_string_equal(got, jb);
    /* unknown key; too small a buffer */
    assert_int_equal(get_json(st, 2, NOW, got, sizeof got), PL_ERR_NOTFOUND);
    assert_int_equal(get_json(st, 1, NOW, got, 10), PL_ERR_BUFSIZE);
    pl_dir_store_close(st);
}

/* Reformatted JSON (whitespace, key order) is accepted and re-encoded. */
static void store_reencodes(void **state)
{
    pl_dir_store *st = open_store(NULL);
    size_t n = make_set(1, NOW, TTL, "udp://192.0.2.1:7000", 0, ja, sizeof ja, NULL);
    char spaced[PL_RECORD_JSON_MAX + 64];
    (void)state;
    snprintf(spaced, sizeof spaced, "  %s\n", ja);
    assert_int_equal(put(st, 1, spaced, strlen(spaced), NOW, NULL, NULL), PL_OK);
    assert_int_equal(get_json(st, 1, NOW, got, sizeof got), (int)n);
    assert_string_equal(got, ja);
    pl_dir_store_close(st);
}

static void store_refusals(void **state)
{
    pl_dir_store *st = open_store(NULL);
    const char *why = NULL;
    char *big = calloc(1, PL_RECORD_JSON_MAX + 2);
    size_t n = make_set(1, NOW, TTL, "udp://192.0.2.1:7000", 0, ja, sizeof ja, NULL);
    (void)state;
    assert_non_null(big);
    memset(big, ' ', PL_RECORD_JSON_MAX + 1);
    assert_int_equal(put(st, 1, big, PL_RECORD_JSON_MAX + 1, NOW, NULL, &why), PL_ERR_TOOBIG);
    assert_non_null(strstr(why, "24576"));
    free(big);
    why = NULL;
    assert_int_equal(put(st, 1, "{\"v\":1", 6, NOW, NULL, &why), PL_ERR_PARSE);
    assert_non_null(why);
    assert_int_equal(put(st, 1, "", 0, NOW, NULL, &why), PL_ERR_PARSE);
    assert_int_equal(put(st, 1, "{\"v\":2}", 7, NOW, NULL, &why), PL_ERR_VERSION);
    /* a set by key 1 under key 2's URL */
    assert_int_equal(put(st, 2, ja, n, NOW, NULL, &why), PL_ERR_AUTH);
    assert_non_null(strstr(why, "signature"));
    /* one byte changed in the signed content */
    memcpy(jb, ja, n + 1);
    char *p = strstr(jb, "192.0.2.1");
    assert_non_null(p);
    p[8] = '9';
    assert_int_equal(put(st, 1, jb, n, NOW, NULL, &why), PL_ERR_AUTH);
    /* expired, future */
    assert_int_equal(put(st, 1, ja, n, NOW + TTL, NULL, &why), PL_ERR_EXPIRED);
    assert_non_null(strstr(why, "expired"));
    assert_int_equal(put(st, 1, ja, n, NOW - SKEW - 1, NULL, &why), PL_ERR_FUTURE);
    assert_non_null(strstr(why, "future"));
    /* nothing was stored by any of these */
    assert_int_equal(pl_dir_store_count(st, NOW), 0);
    /* the boundaries: dated exactly now + skew, and one second before expiry */
    assert_int_equal(put(st, 1, ja, n, NOW - SKEW, NULL, &why), PL_OK);
    n = make_set(2, NOW, TTL, "udp://192.0.2.1:7000", 0, ja, sizeof ja, NULL);
    assert_int_equal(put(st, 2, ja, n, NOW + TTL - 1, NULL, &why), PL_OK);
    /* bad arguments */
    assert_int_equal(pl_dir_store_put(NULL, (const uint8_t *)ja, ja, n, NOW, SKEW, NULL, &why),
                     PL_ERR_INVAL);
    assert_int_equal(pl_dir_store_get_json(st, NULL, NOW, got, sizeof got, NULL), PL_ERR_INVAL);
    pl_dir_store_close(st);
}

static void store_no_rollback(void **state)
{
    pl_dir_store *st = open_store(NULL);
    const char *why = NULL;
    char old[PL_RECORD_JSON_MAX + 1];
    size_t on = make_set(1, NOW, 7 * 86400, "udp://192.0.2.1:7000", 0, old, sizeof old, NULL);
    size_t n = make_set(1, NOW + 100, 60, "udp://192.0.2.2:7000", 0, ja, sizeof ja, NULL);
    size_t n2 = make_set(1, NOW + 100, 120, "udp://192.0.2.2:7000", 0, jb, sizeof jb, NULL);
    (void)state;
    assert_int_equal(put(st, 1, ja, n, NOW + 100, NULL, &why), PL_OK);
    /* older: refused, the newer one stays */
    assert_int_equal(put(st, 1, old, on, NOW + 101, NULL, &why), PL_ERR_EXIST);
    assert_non_null(strstr(why, "newer"));
    assert_int_equal(get_json(st, 1, NOW + 101, got, sizeof got), (int)n);
    /* as old but different */
    assert_int_equal(put(st, 1, jb, n2, NOW + 101, NULL, &why), PL_ERR_EXIST);
    assert_non_null(strstr(why, "same timestamp"));
    /* the newer one expires and is swept: the older one is still refused */
    assert_int_equal(get_json(st, 1, NOW + 160, got, sizeof got), PL_ERR_NOTFOUND);
    assert_int_equal(pl_dir_store_sweep(st, NOW + 160), 1);
    assert_int_equal(pl_dir_store_sweep(st, NOW + 161), 0);
    assert_int_equal(put(st, 1, old, on, NOW + 200, NULL, &why), PL_ERR_EXIST);
    assert_non_null(strstr(why, "expired"));
    /* a newer set after the tombstone: created again */
    enum pl_dir_put_outcome o = 0;
    n = make_set(1, NOW + 300, 60, "udp://192.0.2.3:7000", 0, ja, sizeof ja, NULL);
    assert_int_equal(put(st, 1, ja, n, NOW + 300, &o, &why), PL_OK);
    assert_int_equal(o, PL_DIR_CREATED);
    pl_dir_store_close(st);
}

/* Rows in the sets table of database file name, read with the sqlite3
 * command (an independent reader). */
static int rows(const char *name)
{
    char cmd[1024];
    int n = -1;
    FILE *p;
    snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'SELECT count(*) FROM sets'", tmp_path(name));
    p = popen(cmd, "r");
    assert_non_null(p);
    assert_int_equal(fscanf(p, "%d", &n), 1);
    pclose(p);
    return n;
}

static void store_expiry_and_sweep(void **state)
{
    pl_dir_store *st = open_store("sweep.db");
    size_t n = make_set(1, NOW, 10, "udp://192.0.2.1:7000", 0, ja, sizeof ja, NULL);
    (void)state;
    assert_int_equal(put(st, 1, ja, n, NOW, NULL, NULL), PL_OK);
    assert_int_equal(get_json(st, 1, NOW + 9, got, sizeof got), (int)n);
    /* filtered at read time, before any sweep */
    assert_int_equal(get_json(st, 1, NOW + 10, got, sizeof got), PL_ERR_NOTFOUND);
    assert_int_equal(pl_dir_store_count(st, NOW + 10), 0);
    assert_int_equal(pl_dir_store_sweep(st, NOW + 9), 0);
    assert_int_equal(pl_dir_store_sweep(st, NOW + 10), 1);
    assert_int_equal(rows("sweep.db"), 1); /* the tombstone */
    /* the tombstone is forgotten once any older set has expired too */
    assert_int_equal(pl_dir_store_sweep(st, NOW + PL_RECORD_TTL_MAX - 1), 0);
    assert_int_equal(rows("sweep.db"), 1);
    assert_int_equal(pl_dir_store_sweep(st, NOW + PL_RECORD_TTL_MAX), 0);
    assert_int_equal(rows("sweep.db"), 0);
    pl_dir_store_close(st);
}

static void store_restart(void **state)
{
    pl_dir_store *st = open_store("r.db");
    size_t n = make_set(1, NOW, TTL, "udp://192.0.2.1:7000", 0, ja, sizeof ja, NULL);
    size_t on;
    (void)state;
    assert_int_equal(put(st, 1, ja, n, NOW, NULL, NULL), PL_OK);
    pl_dir_store_close(st);
    st = open_store("r.db");
    assert_int_equal(get_json(st, 1, NOW, got, sizeof got), (int)n);
    assert_string_equal(got, ja);
    /* the rollback state survives too */
    on = make_set(1, NOW - 1, TTL, "udp://192.0.2.9:7000", 0, jb, sizeof jb, NULL);
    assert_int_equal(put(st, 1, jb, on, NOW, NULL, NULL), PL_ERR_EXIST);
    pl_dir_store_close(st);
}

static void store_bad_files(void **state)
{
    pl_dir_store *st = NULL;
    const char *why = NULL;
    FILE *f;
    (void)state;
    /* not a database */
    f = fopen(tmp_path("junk.db"), "w");
    assert_non_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is not an SQLite file\n", f);
    fclose(f);
    assert_int_equal(pl_dir_store_open(&st, tmp_path("junk.db"), &why), PL_ERR_PARSE);
    assert_null(st);
    assert_non_null(strstr(why, "not an SQLite"));
    /* another application's database */
    {
        char cmd[1024];
        snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'CREATE TABLE t(x);'", tmp_path("other.db"));
        assert_int_equal(system(cmd), 0);
        assert_int_equal(pl_dir_store_open(&st, tmp_path("other.db"), &why), PL_ERR_PARSE);
        assert_non_null(strstr(why, "other tables"));
        /* ours, but from a newer peerlink */
        st = open_store("newer.db");
        pl_dir_store_close(st);
        snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'PRAGMA user_version = 2;'", tmp_path("newer.db"));
        assert_int_equal(system(cmd), 0);
        assert_int_equal(pl_dir_store_open(&st, tmp_path("newer.db"), &why), PL_ERR_VERSION);
        /* someone else's schema with a version number */
        snprintf(cmd, sizeof cmd, "sqlite3 '%s' 'CREATE TABLE t(x); PRAGMA user_version = 1;'",
                 tmp_path("foreign.db"));
        assert_int_equal(system(cmd), 0);
        assert_int_equal(pl_dir_store_open(&st, tmp_path("foreign.db"), &why), PL_ERR_PARSE);
        assert_non_null(strstr(why, "another application"));
    }
    /* a directory that does not exist */
    assert_int_equal(pl_dir_store_open(&st, tmp_path("no/such/dir/x.db"), &why), PL_ERR_IO);
    assert_int_equal(pl_dir_store_open(NULL, "x", &why), PL_ERR_INVAL);
}

/* ---- rate limiter -------------------------------------------------------- */

static struct sockaddr_storage v4(const char *a)
{
    struct sockaddr_storage ss;
    struct sockaddr_in *s = (struct sockaddr_in *)&ss;
    memset(&ss, 0, sizeof ss);
    s->sin_family = AF_INET;
    assert_int_equal(inet_pton(AF_INET, a, &s->sin_addr), 1);
    return ss;
}

static struct sockaddr_storage v6(const char *a)
{
    struct sockaddr_storage ss;
    struct sockaddr_in6 *s = (struct sockaddr_in6 *)&ss;
    memset(&ss, 0, sizeof ss);
    s->sin6_family = AF_INET6;
    assert_int_equal(inet_pton(AF_INET6, a, &s->sin6_addr), 1);
    return ss;
}

#define SA(x) ((const struct sockaddr *)&(x))

static void ratelimit_bucket(void **state)
{
    static const uint8_t key[16] = {1};
    pl_dir_ratelimit *rl = NULL;
    struct sockaddr_storage a = v4("192.0.2.1"), b = v4("192.0.2.2");
    struct sockaddr_storage m = v6("::ffff:192.0.2.1");
    (void)state;
    /* 6 per minute (one per 10 s), bursts of 3 */
    assert_int_equal(pl_dir_ratelimit_new(&rl, 6, 3, 64, key), PL_OK);
    for (int i = 0; i < 3; i++)
        assert_int_equal(pl_dir_ratelimit_take(rl, SA(a), 1000), 0);
    assert_int_equal(pl_dir_ratelimit_take(rl, SA(a), 1000), 10);
    /* the v4-mapped form is the same source */
    assert_int_equal(pl_dir_ratelimit_take(rl, SA(m), 1000), 10);
    /* another source has its own bucket */
    assert_int_equal(pl_dir_ratelimit_take(rl, SA(b), 1000), 0);
    /* 4 s later: 6 s still to wait; 10 s later: one token */
    assert_int_equal(pl_dir_ratelimit_take(rl, SA(a), 5000), 6);
    assert_int_equal(pl_dir_ratelimit_take(rl, SA(a), 11000), 0);
    assert_int_equal(pl_dir_ratelimit_take(rl, SA(a), 11000), 10);
    /* a long pause refills the bucket to the burst, not beyond */
    for (int i = 0; i < 3; i++)
        assert_int_equal(pl_dir_ratelimit_take(rl, SA(a), 1000000), 0);
    assert_true(pl_dir_ratelimit_take(rl, SA(a), 1000000) > 0);
    /* other families are not limited */
    struct sockaddr_storage un;
    memset(&un, 0, sizeof un);
    un.ss_family = AF_UNIX;
    for (int i = 0; i < 10; i++)
        assert_int_equal(pl_dir_ratelimit_take(rl, SA(un), 1000), 0);
    pl_dir_ratelimit_free(rl);

    /* per_min 0: no limit at all; bad arguments */
    assert_int_equal(pl_dir_ratelimit_new(&rl, 0, 1, 16, key), PL_OK);
    for (int i = 0; i < 100; i++)
        assert_int_equal(pl_dir_ratelimit_take(rl, SA(a), 0), 0);
    pl_dir_ratelimit_free(rl);
    assert_int_equal(pl_dir_ratelimit_new(&rl, 1, 0, 16, key), PL_ERR_INVAL);
    assert_int_equal(pl_dir_ratelimit_new(&rl, 1, 1, 0, key), PL_ERR_INVAL);
}

static void ratelimit_ipv6_prefix(void **state)
{
    static const uint8_t key[16] = {2};
    pl_dir_ratelimit *rl = NULL;
    struct sockaddr_storage a = v6("2001:db8:1:2::1"), b = v6("2001:db8:1:2:ffff::9");
    struct sockaddr_storage c = v6("2001:db8:1:3::1");
    (void)state;
    assert_int_equal(pl_dir_ratelimit_new(&rl, 1, 2, 64, key), PL_OK);
    assert_int_equal(pl_dir_ratelimit_take(rl, SA(a), 0), 0);
    assert_int_equal(pl_dir_ratelimit_take(rl, SA(b), 0), 0); /* same /64 */
    assert_true(pl_dir_ratelimit_take(rl, SA(a), 0) > 0);
    assert_int_equal(pl_dir_ratelimit_take(rl, SA(c), 0), 0); /* another /64 */
    pl_dir_ratelimit_free(rl);
}

static void ratelimit_bounded(void **state)
{
    static const uint8_t key[16] = {3};
    pl_dir_ratelimit *rl = NULL;
    struct sockaddr_storage a = v4("198.51.100.1");
    char text[32];
    (void)state;
    /* a table of 16: 10000 sources cycle through it without growing it,
     * and an evicted source comes back with a full bucket */
    assert_int_equal(pl_dir_ratelimit_new(&rl, 1, 1, 16, key), PL_OK);
    assert_int_equal(pl_dir_ratelimit_take(rl, SA(a), 0), 0);
    assert_true(pl_dir_ratelimit_take(rl, SA(a), 0) > 0);
    for (int i = 0; i < 10000; i++) {
        snprintf(text, sizeof text, "10.%d.%d.%d", i >> 16 & 255, i >> 8 & 255, i & 255);
        struct sockaddr_storage x = v4(text);
        assert_int_equal(pl_dir_ratelimit_take(rl, SA(x), 1 + (uint64_t)i), 0);
    }
    assert_int_equal(pl_dir_ratelimit_take(rl, SA(a), 20000), 0);
    pl_dir_ratelimit_free(rl);
}

/* ---- HTTP ----------------------------------------------------------------- */

static pl_dir_http_resp resp;

static void url_of(uint8_t fill, char *out, size_t cap)
{
    uint8_t digest[PL_FP_DIGEST_LEN];
    char b64[PL_FP_B64_LEN + 1];
    digest_of(fill, digest);
    assert_int_equal(pl_b64url_encode(digest, sizeof digest, b64, sizeof b64), PL_FP_B64_LEN);
    snprintf(out, cap, "%s%s", PL_DIR_HTTP_PREFIX, b64);
}

static void expect(int status, const char *code)
{
    if (resp.status != status)
        print_message("got %d %s\n", resp.status, resp.body);
    assert_int_equal(resp.status, status);
    assert_int_equal(strlen(resp.body), resp.body_len);
    if (code) {
        char want[64];
        snprintf(want, sizeof want, "\"error\":\"%s\"", code);
        assert_non_null(strstr(resp.body, want));
        assert_non_null(strstr(resp.body, "\"reason\":\""));
    }
}

static void http_statuses(void **state)
{
    static const uint8_t key[16] = {4};
    pl_dir_http h;
    pl_dir_ratelimit *rl = NULL;
    struct sockaddr_storage peer = v4("192.0.2.7");
    char url[256], url2[256], old[PL_RECORD_JSON_MAX + 1];
    size_t n, on;
    (void)state;
    memset(&h, 0, sizeof h);
    h.store = open_store(NULL);
    h.skew = SKEW;
    assert_int_equal(pl_dir_ratelimit_new(&rl, 60, 100, 64, key), PL_OK);
    h.rl = rl;
    url_of(1, url, sizeof url);
    url_of(2, url2, sizeof url2);
    on = make_set(1, NOW - 10, TTL, "udp://192.0.2.1:7000", 0, old, sizeof old, NULL);
    n = make_set(1, NOW, TTL, "udp://192.0.2.1:7000", 0, ja, sizeof ja, NULL);

#define REQ(m, u, b, bl, over, now)                                                                \
    pl_dir_http_handle(&h, SA(peer), m, u, (const uint8_t *)(b), bl, over, now, 0, &resp)

    REQ("GET", url, NULL, 0, 0, NOW);
    expect(404, "not_found");
    REQ("PUT", url, ja, n, 0, NOW);
    expect(201, NULL);
    assert_non_null(strstr(resp.body, "\"status\":\"created\""));
    REQ("PUT", url, ja, n, 0, NOW);
    expect(200, NULL);
    assert_non_null(strstr(resp.body, "\"status\":\"unchanged\""));
    REQ("GET", url, NULL, 0, 0, NOW);
    expect(200, NULL);
    assert_string_equal(resp.body, ja);
    REQ("HEAD", url, NULL, 0, 0, NOW);
    expect(200, NULL);
    REQ("PUT", url, old, on, 0, NOW);
    expect(409, "rollback");
    REQ("PUT", url2, ja, n, 0, NOW);
    expect(403, "bad_signature");
    REQ("PUT", url, "{not json", 9, 0, NOW);
    expect(400, "bad_json");
    REQ("PUT", url, "{\"v\":7}", 7, 0, NOW);
    expect(400, "bad_version");
    REQ("PUT", url, NULL, 0, 1, NOW);
    expect(413, "too_big");
    REQ("PUT", url, ja, n, 0, NOW + TTL);
    expect(422, "expired");
    n = make_set(1, NOW + 1000, TTL, "udp://192.0.2.1:7000", 0, jb, sizeof jb, NULL);
    REQ("PUT", url, jb, n, 0, NOW);
    expect(422, "future");
    REQ("DELETE", url, NULL, 0, 0, NOW);
    expect(405, "method_not_allowed");
    assert_string_equal(resp.allow, "GET, HEAD, PUT");
    REQ("GET", "/.well-known/ni/sha3-256/short", NULL, 0, 0, NOW);
    expect(400, "bad_path");
    REQ("GET", "/.well-known/ni/sha3-256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA/x", NULL, 0, 0,
        NOW);
    expect(400, "bad_path");
    REQ("GET", "/index.html", NULL, 0, 0, NOW);
    expect(404, "not_found");
    /* GET after expiry */
    REQ("GET", url, NULL, 0, 0, NOW + TTL);
    expect(404, "not_found");
    pl_dir_ratelimit_free(rl);

    /* 429 with Retry-After once the burst is spent; GET is not limited */
    assert_int_equal(pl_dir_ratelimit_new(&rl, 1, 2, 64, key), PL_OK);
    h.rl = rl;
    REQ("PUT", url, "x", 1, 0, NOW);
    expect(400, "bad_json");
    REQ("PUT", url, "x", 1, 0, NOW);
    expect(400, "bad_json");
    REQ("PUT", url, ja, n, 0, NOW);
    expect(429, "rate_limited");
    assert_true(resp.retry_after >= 1 && resp.retry_after <= 60);
    REQ("GET", url, NULL, 0, 0, NOW);
    expect(200, NULL);
    pl_dir_ratelimit_free(rl);
    pl_dir_store_close(h.store);
#undef REQ
}

/* ---- DNS ------------------------------------------------------------------ */

static uint8_t wire[PL_DIR_DNS_MSG_MAX];

static char *dns_name(uint8_t fill, char *out, size_t cap)
{
    uint8_t digest[PL_FP_DIGEST_LEN];
    pl_fingerprint fp;
    digest_of(fill, digest);
    memset(&fp, 0, sizeof fp);
    memcpy(fp.digest, digest, sizeof digest);
    assert_int_equal(pl_fingerprint_set_authority(&fp, ZONE, NULL), PL_OK);
    assert_true(pl_fingerprint_dns_name(&fp, out, cap) > 0);
    return out;
}

/* Build a query; edns: 0 none, else the UDP size advertised. */
static size_t query(const char *name, ldns_rr_type type, uint16_t edns, uint8_t *out)
{
    ldns_pkt *q = NULL;
    uint8_t *w = NULL;
    size_t size = 0;
    assert_int_equal(ldns_pkt_query_new_frm_str(&q, name, type, LDNS_RR_CLASS_IN, LDNS_RD),
                     LDNS_STATUS_OK);
    ldns_pkt_set_id(q, 0x1234);
    if (edns)
        ldns_pkt_set_edns_udp_size(q, edns);
    assert_int_equal(ldns_pkt2wire(&w, q, &size), LDNS_STATUS_OK);
    memcpy(out, w, size);
    free(w);
    ldns_pkt_free(q);
    return size;
}

struct dns_env {
    pl_dir_dns *d;
    pl_dir_store *st;
};

static ldns_pkt *ask(struct dns_env *e, const uint8_t *q, size_t qlen, int tcp, uint64_t now,
                     size_t *len)
{
    ldns_pkt *r = NULL;
    int n = pl_dir_dns_answer(e->d, e->st, q, qlen, tcp, now, wire, sizeof wire);
    assert_true(n > 0);
    if (len)
        *len = (size_t)n;
    assert_int_equal(ldns_wire2pkt(&r, wire, (size_t)n), LDNS_STATUS_OK);
    assert_true(ldns_pkt_qr(r));
    return r;
}

static ldns_pkt *ask_name(struct dns_env *e, const char *name, ldns_rr_type type, uint16_t edns,
                          int tcp, uint64_t now)
{
    uint8_t q[512];
    size_t n = query(name, type, edns, q);
    ldns_pkt *r = ask(e, q, n, tcp, now, NULL);
    assert_int_equal(ldns_pkt_id(r), 0x1234);
    return r;
}

static void dns_env(struct dns_env *e, uint32_t max_ttl)
{
    pl_dir_dns_config c;
    const char *why = NULL;
    memset(&c, 0, sizeof c);
    c.zone = ZONE ".";
    c.serial = 2024010101;
    c.max_ttl = max_ttl;
    assert_int_equal(pl_dir_dns_new(&e->d, &c, &why), PL_OK);
    e->st = open_store(NULL);
}

static void dns_free(struct dns_env *e)
{
    pl_dir_dns_free(e->d);
    pl_dir_store_close(e->st);
}

/* The negative answer shape: rcode, AA, no answer, the SOA in authority. */
static void expect_negative(ldns_pkt *r, ldns_pkt_rcode rcode)
{
    assert_int_equal(ldns_pkt_get_rcode(r), rcode);
    assert_true(ldns_pkt_aa(r));
    assert_int_equal(ldns_pkt_ancount(r), 0);
    assert_int_equal(ldns_pkt_nscount(r), 1);
    ldns_rr *soa = ldns_rr_list_rr(ldns_pkt_authority(r), 0);
    assert_int_equal(ldns_rr_get_type(soa), LDNS_RR_TYPE_SOA);
    assert_int_equal(ldns_rr_ttl(soa), PL_DIR_DNS_NEG_TTL);
    ldns_pkt_free(r);
}

static void dns_txt_answer(void **state)
{
    struct dns_env e;
    char name[PL_DNS_NAME_MAX], upper[PL_DNS_NAME_MAX];
    uint8_t txt[PL_RECORD_TXT_MAX];
    pl_record rs;
    ldns_pkt *r;
    ldns_rr *rr;
    size_t n;
    (void)state;
    dns_env(&e, 0);
    n = make_set(1, NOW, TTL, "udp://192.0.2.1:7000", 0, ja, sizeof ja, &rs);
    assert_int_equal(put(e.st, 1, ja, n, NOW, NULL, NULL), PL_OK);
    dns_name(1, name, sizeof name);

    r = ask_name(&e, name, LDNS_RR_TYPE_TXT, 0, 0, NOW);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
    assert_true(ldns_pkt_aa(r));
    assert_false(ldns_pkt_tc(r));
    assert_int_equal(ldns_pkt_ancount(r), 1);
    rr = ldns_rr_list_rr(ldns_pkt_answer(r), 0);
    assert_int_equal(ldns_rr_get_type(rr), LDNS_RR_TYPE_TXT);
    assert_int_equal(ldns_rr_ttl(rr), PL_DIR_DNS_MAX_TTL);
    /* the RDATA is the TXT carrier, byte for byte, and verifies */
    {
        uint8_t rd[PL_RECORD_TXT_MAX];
        size_t off = 0;
        pl_record back;
        for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
            ldns_rdf *f = ldns_rr_rdf(rr, i);
            memcpy(rd + off, ldns_rdf_data(f), ldns_rdf_size(f));
            off += ldns_rdf_size(f);
        }
        int tn = pl_record_to_txt(&rs, txt, sizeof txt);
        assert_int_equal(off, (size_t)tn);
        assert_memory_equal(rd, txt, off);
        assert_int_equal(pl_record_from_txt(&back, rd, off, NULL), PL_OK);
        pl_fingerprint fp;
        memset(&fp, 0, sizeof fp);
        digest_of(1, fp.digest);
        assert_int_equal(pl_record_verify(&back, &fp, NOW, SKEW), PL_OK);
    }
    ldns_pkt_free(r);

    /* the TTL never outlives the set: 100 s before expiry, 100 s */
    r = ask_name(&e, name, LDNS_RR_TYPE_TXT, 0, 0, NOW + TTL - 100);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r), 0)), 100);
    ldns_pkt_free(r);
    /* names are case-insensitive; the owner echoes the question's case */
    for (size_t i = 0; i <= strlen(name); i++)
        upper[i] = (char)(i % 2                                ? name[i]
                          : (name[i] >= 'a' && name[i] <= 'z') ? name[i] - 'a' + 'A'
                                                               : name[i]);
    r = ask_name(&e, upper, LDNS_RR_TYPE_TXT, 0, 0, NOW);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    {
        char *owner = ldns_rdf2str(ldns_rr_owner(ldns_rr_list_rr(ldns_pkt_answer(r), 0)));
        assert_non_null(owner);
        assert_memory_equal(owner, upper, strlen(upper));
        free(owner);
    }
    ldns_pkt_free(r);
    /* ANY gives the TXT too; another type at the name: NODATA */
    r = ask_name(&e, name, LDNS_RR_TYPE_ANY, 0, 0, NOW);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    ldns_pkt_free(r);
    expect_negative(ask_name(&e, name, LDNS_RR_TYPE_A, 0, 0, NOW), LDNS_RCODE_NOERROR);
    /* expired: gone (NXDOMAIN) even before a sweep */
    expect_negative(ask_name(&e, name, LDNS_RR_TYPE_TXT, 0, 0, NOW + TTL), LDNS_RCODE_NXDOMAIN);
    /* an unknown key */
    expect_negative(ask_name(&e, dns_name(2, name, sizeof name), LDNS_RR_TYPE_TXT, 0, 0, NOW),
                    LDNS_RCODE_NXDOMAIN);
    dns_free(&e);
}

static void dns_ttl_cap(void **state)
{
    struct dns_env e;
    char name[PL_DNS_NAME_MAX];
    size_t n;
    ldns_pkt *r;
    (void)state;
    dns_env(&e, 30);
    n = make_set(1, NOW, TTL, "udp://192.0.2.1:7000", 0, ja, sizeof ja, NULL);
    assert_int_equal(put(e.st, 1, ja, n, NOW, NULL, NULL), PL_OK);
    r = ask_name(&e, dns_name(1, name, sizeof name), LDNS_RR_TYPE_TXT, 0, 0, NOW);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r), 0)), 30);
    ldns_pkt_free(r);
    r = ask_name(&e, name, LDNS_RR_TYPE_TXT, 0, 0, NOW + TTL - 1);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r), 0)), 1);
    ldns_pkt_free(r);
    dns_free(&e);
}

/* The answer cache: a new set shows at once, the TTL still counts down
 * each second, and a cached answer carries the new query's ID. */
static void dns_cache(void **state)
{
    struct dns_env e;
    char name[PL_DNS_NAME_MAX];
    uint8_t q[512];
    size_t n, qn;
    ldns_pkt *r;
    (void)state;
    dns_env(&e, 0);
    dns_name(1, name, sizeof name);
    expect_negative(ask_name(&e, name, LDNS_RR_TYPE_TXT, 0, 0, NOW), LDNS_RCODE_NXDOMAIN);
    n = make_set(1, NOW - TTL + 200, TTL, "udp://192.0.2.1:7000", 0, ja, sizeof ja, NULL);
    assert_int_equal(put(e.st, 1, ja, n, NOW, NULL, NULL), PL_OK);
    r = ask_name(&e, name, LDNS_RR_TYPE_TXT, 0, 0, NOW);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r), 0)), 200);
    ldns_pkt_free(r);
    r = ask_name(&e, name, LDNS_RR_TYPE_TXT, 0, 0, NOW + 1);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_answer(r), 0)), 199);
    ldns_pkt_free(r);
    qn = query(name, LDNS_RR_TYPE_TXT, 0, q);
    q[0] = 0xbe;
    q[1] = 0xef;
    r = ask(&e, q, qn, 0, NOW + 1, NULL);
    assert_int_equal(ldns_pkt_id(r), 0xbeef);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    ldns_pkt_free(r);
    /* at expiry the set is gone, cache or not */
    expect_negative(ask_name(&e, name, LDNS_RR_TYPE_TXT, 0, 0, NOW + 200), LDNS_RCODE_NXDOMAIN);
    dns_free(&e);
}

static void dns_apex_and_names(void **state)
{
    struct dns_env e;
    ldns_pkt *r;
    char name[PL_DNS_NAME_MAX];
    (void)state;
    dns_env(&e, 0);
    r = ask_name(&e, ZONE, LDNS_RR_TYPE_SOA, 0, 0, NOW);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NOERROR);
    assert_true(ldns_pkt_aa(r));
    assert_int_equal(ldns_pkt_ancount(r), 1);
    {
        char *s = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(r), 0));
        assert_non_null(strstr(s, "ns1.dir.example.org. hostmaster.dir.example.org. 2024010101"));
        free(s);
    }
    ldns_pkt_free(r);
    r = ask_name(&e, "DIR.Example.ORG.", LDNS_RR_TYPE_NS, 0, 0, NOW);
    assert_int_equal(ldns_pkt_ancount(r), 1);
    {
        char *s = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(r), 0));
        /* (name compression may point into the question's spelling) */
        assert_non_null(strcasestr(s, "NS\tns1.dir.example.org."));
        free(s);
    }
    ldns_pkt_free(r);
    /* ANY at the apex: SOA and NS; another type: NODATA */
    r = ask_name(&e, ZONE, LDNS_RR_TYPE_ANY, 0, 0, NOW);
    assert_int_equal(ldns_pkt_ancount(r), 2);
    ldns_pkt_free(r);
    expect_negative(ask_name(&e, ZONE, LDNS_RR_TYPE_A, 0, 0, NOW), LDNS_RCODE_NOERROR);
    /* empty non-terminals: NODATA, so name-minimising resolvers go on */
    expect_negative(ask_name(&e, "0a." ZONE, LDNS_RR_TYPE_A, 0, 0, NOW), LDNS_RCODE_NOERROR);
    dns_name(1, name, sizeof name);
    expect_negative(ask_name(&e, name + 33, LDNS_RR_TYPE_TXT, 0, 0, NOW), LDNS_RCODE_NOERROR);
    /* other names inside: NXDOMAIN */
    expect_negative(ask_name(&e, "www." ZONE, LDNS_RR_TYPE_A, 0, 0, NOW), LDNS_RCODE_NXDOMAIN);
    expect_negative(ask_name(&e, "0b." ZONE, LDNS_RR_TYPE_A, 0, 0, NOW), LDNS_RCODE_NXDOMAIN);
    expect_negative(ask_name(&e, "zz.0a." ZONE, LDNS_RR_TYPE_TXT, 0, 0, NOW), LDNS_RCODE_NXDOMAIN);
    expect_negative(ask_name(&e, "a.b.c.d." ZONE, LDNS_RR_TYPE_TXT, 0, 0, NOW),
                    LDNS_RCODE_NXDOMAIN);
    name[0] = 'g'; /* not hex */
    expect_negative(ask_name(&e, name, LDNS_RR_TYPE_TXT, 0, 0, NOW), LDNS_RCODE_NXDOMAIN);
    /* outside the zone: REFUSED, not authoritative */
    r = ask_name(&e, "example.org", LDNS_RR_TYPE_A, 0, 0, NOW);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
    assert_false(ldns_pkt_aa(r));
    ldns_pkt_free(r);
    r = ask_name(&e, "xdir.example.org", LDNS_RR_TYPE_A, 0, 0, NOW);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
    ldns_pkt_free(r);
    /* zone transfers: REFUSED */
    r = ask_name(&e, ZONE, LDNS_RR_TYPE_AXFR, 0, 1, NOW);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
    ldns_pkt_free(r);
    dns_free(&e);
}

static void dns_edns_and_truncation(void **state)
{
    struct dns_env e;
    char name[PL_DNS_NAME_MAX];
    ldns_pkt *r;
    size_t n, len;
    uint8_t q[512];
    (void)state;
    dns_env(&e, 0);
    /* two 1 KiB blobs: a TXT RR of about 3 KB */
    n = make_set(1, NOW, TTL, "udp://192.0.2.1:7000", 2, ja, sizeof ja, NULL);
    assert_int_equal(put(e.st, 1, ja, n, NOW, NULL, NULL), PL_OK);
    dns_name(1, name, sizeof name);

    /* no EDNS: 512 bytes at most, so TC and an empty answer, no OPT */
    n = query(name, LDNS_RR_TYPE_TXT, 0, q);
    r = ask(&e, q, n, 0, NOW, &len);
    assert_true(ldns_pkt_tc(r));
    assert_true(ldns_pkt_aa(r));
    assert_int_equal(ldns_pkt_ancount(r), 0);
    assert_int_equal(ldns_pkt_qdcount(r), 1);
    assert_false(ldns_pkt_edns(r));
    assert_true(len <= 512);
    ldns_pkt_free(r);
    /* EDNS 1232: still too small; OPT echoed with our size */
    n = query(name, LDNS_RR_TYPE_TXT, 1232, q);
    r = ask(&e, q, n, 0, NOW, &len);
    assert_true(ldns_pkt_tc(r));
    assert_true(ldns_pkt_edns(r));
    assert_int_equal(ldns_pkt_edns_udp_size(r), PL_DIR_DNS_EDNS_SIZE);
    ldns_pkt_free(r);
    /* EDNS 4096: fits */
    n = query(name, LDNS_RR_TYPE_TXT, 4096, q);
    r = ask(&e, q, n, 0, NOW, &len);
    assert_false(ldns_pkt_tc(r));
    assert_int_equal(ldns_pkt_ancount(r), 1);
    assert_true(len > 1232 && len <= 4096);
    ldns_pkt_free(r);
    /* a huge advertised size is capped at 4096: a bigger set truncates */
    n = make_set(2, NOW, TTL, "udp://192.0.2.1:7000", 4, ja, sizeof ja, NULL);
    assert_int_equal(put(e.st, 2, ja, n, NOW, NULL, NULL), PL_OK);
    n = query(dns_name(2, name, sizeof name), LDNS_RR_TYPE_TXT, 65000, q);
    r = ask(&e, q, n, 0, NOW, &len);
    assert_true(ldns_pkt_tc(r));
    ldns_pkt_free(r);
    /* over TCP: the whole answer, no EDNS needed */
    n = query(name, LDNS_RR_TYPE_TXT, 0, q);
    r = ask(&e, q, n, 1, NOW, &len);
    assert_false(ldns_pkt_tc(r));
    assert_int_equal(ldns_pkt_ancount(r), 1);
    assert_true(len > 4096);
    ldns_pkt_free(r);
    /* small answers fit in 512 without EDNS */
    r = ask_name(&e, ZONE, LDNS_RR_TYPE_SOA, 0, 0, NOW);
    assert_false(ldns_pkt_tc(r));
    assert_false(ldns_pkt_edns(r));
    ldns_pkt_free(r);
    dns_free(&e);
}

static void dns_bad_queries(void **state)
{
    struct dns_env e;
    uint8_t q[512];
    size_t n;
    ldns_pkt *r;
    (void)state;
    dns_env(&e, 0);
    n = query(ZONE, LDNS_RR_TYPE_SOA, 0, q);
    /* too short for a header, or a response: no answer at all */
    assert_int_equal(pl_dir_dns_answer(e.d, e.st, q, 11, 0, NOW, wire, sizeof wire), 0);
    q[2] |= 0x80;
    assert_int_equal(pl_dir_dns_answer(e.d, e.st, q, n, 0, NOW, wire, sizeof wire), 0);
    q[2] &= 0x7f;
    /* truncated question: FORMERR with the ID */
    r = ask(&e, q, n - 3, 0, NOW, NULL);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_FORMERR);
    assert_int_equal(ldns_pkt_id(r), 0x1234);
    ldns_pkt_free(r);
    /* no question (QDCOUNT 0): FORMERR */
    {
        uint8_t h[12] = {0x12, 0x34, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0};
        r = ask(&e, h, sizeof h, 0, NOW, NULL);
        assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_FORMERR);
        ldns_pkt_free(r);
    }
    /* two questions: FORMERR */
    {
        ldns_pkt *p = NULL;
        uint8_t *w = NULL;
        size_t size;
        ldns_rr *extra = NULL;
        assert_int_equal(
            ldns_pkt_query_new_frm_str(&p, ZONE, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0),
            LDNS_STATUS_OK);
        assert_int_equal(ldns_rr_new_question_frm_str(&extra, ZONE " IN NS", NULL, NULL),
                         LDNS_STATUS_OK);
        ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, extra);
        assert_int_equal(ldns_pkt2wire(&w, p, &size), LDNS_STATUS_OK);
        r = ask(&e, w, size, 0, NOW, NULL);
        assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_FORMERR);
        ldns_pkt_free(r);
        free(w);
        ldns_pkt_free(p);
    }
    /* another opcode (NOTIFY = 4, UPDATE = 5): NOTIMP */
    n = query(ZONE, LDNS_RR_TYPE_SOA, 0, q);
    q[2] = (uint8_t)((q[2] & 0x87) | (5 << 3));
    r = ask(&e, q, n, 0, NOW, NULL);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_NOTIMPL);
    ldns_pkt_free(r);
    /* class CH: REFUSED */
    n = query(ZONE, LDNS_RR_TYPE_TXT, 0, q);
    q[n - 1] = 3;
    r = ask(&e, q, n, 0, NOW, NULL);
    assert_int_equal(ldns_pkt_get_rcode(r), LDNS_RCODE_REFUSED);
    ldns_pkt_free(r);
    /* EDNS version 1: BADVERS (extended rcode 1 in the OPT, rcode 0) */
    {
        ldns_pkt *p = NULL;
        uint8_t *w = NULL;
        size_t size;
        assert_int_equal(
            ldns_pkt_query_new_frm_str(&p, ZONE, LDNS_RR_TYPE_SOA, LDNS_RR_CLASS_IN, 0),
            LDNS_STATUS_OK);
        ldns_pkt_set_edns_udp_size(p, 1232);
        ldns_pkt_set_edns_version(p, 1);
        assert_int_equal(ldns_pkt2wire(&w, p, &size), LDNS_STATUS_OK);
        r = ask(&e, w, size, 0, NOW, NULL);
        assert_int_equal(ldns_pkt_edns_extended_rcode(r), 1);
        assert_int_equal(ldns_pkt_ancount(r), 0);
        ldns_pkt_free(r);
        free(w);
        ldns_pkt_free(p);
    }
    /* garbage of every length up to 64: an answer or silence, never a crash */
    for (size_t len = 0; len < 64; len++) {
        uint8_t g[64];
        for (size_t i = 0; i < len; i++)
            g[i] = (uint8_t)(i * 37 + len);
        g[2 % (len ? len : 1)] &= 0x7f;
        assert_true(pl_dir_dns_answer(e.d, e.st, g, len, 0, NOW, wire, sizeof wire) >= 0);
    }
    /* a buffer too small for the response */
    n = query(ZONE, LDNS_RR_TYPE_SOA, 0, q);
    assert_int_equal(pl_dir_dns_answer(e.d, e.st, q, n, 0, NOW, wire, 20), PL_ERR_BUFSIZE);
    dns_free(&e);
}

static void dns_config(void **state)
{
    pl_dir_dns *d = NULL;
    pl_dir_dns_config c;
    const char *why = NULL;
    struct dns_env e;
    ldns_pkt *r;
    (void)state;
    memset(&c, 0, sizeof c);
    assert_int_equal(pl_dir_dns_new(&d, &c, &why), PL_ERR_INVAL);
    c.zone = "192.0.2.1";
    assert_int_equal(pl_dir_dns_new(&d, &c, &why), PL_ERR_INVAL);
    assert_non_null(strstr(why, "zone"));
    c.zone = "bad zone";
    assert_int_equal(pl_dir_dns_new(&d, &c, &why), PL_ERR_INVAL);
    c.zone = "";
    assert_int_equal(pl_dir_dns_new(&d, &c, &why), PL_ERR_INVAL);
    c.zone = ZONE;
    c.ns = "ns with space";
    assert_int_equal(pl_dir_dns_new(&d, &c, &why), PL_ERR_INVAL);
    assert_non_null(strstr(why, "NS"));
    c.ns = "a.ns.example.net.";
    c.mbox = "admin.example.net";
    c.apex_ttl = 7200;
    c.neg_ttl = 30;
    assert_int_equal(pl_dir_dns_new(&e.d, &c, &why), PL_OK);
    e.st = open_store(NULL);
    r = ask_name(&e, ZONE, LDNS_RR_TYPE_SOA, 0, 0, NOW);
    {
        char *s = ldns_rr2str(ldns_rr_list_rr(ldns_pkt_answer(r), 0));
        assert_non_null(strstr(s, "7200\tIN\tSOA\ta.ns.example.net. admin.example.net. 0 3600 "
                                  "600 604800 30"));
        free(s);
    }
    ldns_pkt_free(r);
    r = ask_name(&e, "nope." ZONE, LDNS_RR_TYPE_SOA, 0, 0, NOW);
    assert_int_equal(ldns_rr_ttl(ldns_rr_list_rr(ldns_pkt_authority(r), 0)), 30);
    ldns_pkt_free(r);
    dns_free(&e);
}

/* ---- the service's start-up and stop (src/runtime/directory.c) ---------- */

struct seen {
    int http, udp, tcp;
};

static void on_listening(void *user, const char *service, const char *addr)
{
    struct seen *s = user;
    assert_non_null(strstr(addr, "127.0.0.1:"));
    assert_true(strtoul(strrchr(addr, ':') + 1, NULL, 10) > 0);
    if (strcmp(service, "http") == 0)
        s->http++;
    else if (strcmp(service, "dns-udp") == 0)
        s->udp++;
    else if (strcmp(service, "dns-tcp") == 0)
        s->tcp++;
}

static void serve_options(void **state)
{
    pl_dir_opts o;
    const char *why = NULL;
    struct seen seen = {0, 0, 0};
    int p[2];
    (void)state;
    assert_int_equal(pl_dir_serve(NULL, NULL, NULL, &why), PL_ERR_INVAL);
    memset(&o, 0, sizeof o);
    o.stop_fd = -1;
    o.zone = ZONE;
    o.db = tmp_path("serve.db");
    assert_int_equal(pl_dir_serve(&o, NULL, NULL, &why), PL_ERR_INVAL); /* nothing to listen on */
    o.https = "127.0.0.1:0";
    assert_int_equal(pl_dir_serve(&o, NULL, NULL, &why), PL_ERR_INVAL); /* no certificate */
    assert_non_null(strstr(why, "certificate"));
    o.https = NULL;
    o.http = "127.0.0.1:0";
    o.zone = "not a zone";
    assert_int_equal(pl_dir_serve(&o, NULL, NULL, &why), PL_ERR_INVAL);
    assert_non_null(strstr(why, "zone"));
    o.zone = ZONE;
    o.http = "nonsense";
    assert_int_equal(pl_dir_serve(&o, NULL, NULL, &why), PL_ERR_IO);
    assert_non_null(strstr(why, "ADDR:PORT"));
    o.http = NULL;
    o.dns = "127.0.0.1";
    assert_int_equal(pl_dir_serve(&o, NULL, NULL, &why), PL_ERR_IO);
    o.dns = "127.0.0.1:0";
    o.db = tmp_path("no/such/dir.db");
    assert_int_equal(pl_dir_serve(&o, NULL, NULL, &why), PL_ERR_IO);
    assert_non_null(strstr(why, "database"));
    /* a clean start and stop: the stop descriptor is readable at once */
    o.db = tmp_path("serve.db");
    o.http = "127.0.0.1:0";
    assert_int_equal(pipe(p), 0);
    assert_int_equal(write(p[1], "x", 1), 1);
    o.stop_fd = p[0];
    assert_int_equal(pl_dir_serve(&o, on_listening, &seen, &why), PL_OK);
    assert_int_equal(seen.http, 1);
    assert_int_equal(seen.udp, 1);
    assert_int_equal(seen.tcp, 1);
    close(p[0]);
    close(p[1]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(store_put_get),
        cmocka_unit_test(store_reencodes),
        cmocka_unit_test(store_refusals),
        cmocka_unit_test(store_no_rollback),
        cmocka_unit_test(store_expiry_and_sweep),
        cmocka_unit_test(store_restart),
        cmocka_unit_test(store_bad_files),
        cmocka_unit_test(ratelimit_bucket),
        cmocka_unit_test(ratelimit_ipv6_prefix),
        cmocka_unit_test(ratelimit_bounded),
        cmocka_unit_test(http_statuses),
        cmocka_unit_test(dns_txt_answer),
        cmocka_unit_test(dns_ttl_cap),
        cmocka_unit_test(dns_cache),
        cmocka_unit_test(dns_apex_and_names),
        cmocka_unit_test(dns_edns_and_truncation),
        cmocka_unit_test(dns_bad_queries),
        cmocka_unit_test(dns_config),
        cmocka_unit_test(serve_options),
    };
    if (pl_init() != PL_OK)
        return 1;
    return cmocka_run_group_tests(tests, setup, teardown);
}
