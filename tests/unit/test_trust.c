/*
 * test_trust.c - the trust store (src/trust/, docs/formats.md §4).
 *
 * The hash index is checked against a plain array model under random
 * edits (the calendar code has its own test: test_time.c).
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "peerlink.h"
#include "trust/trust_int.h"

/* Fingerprint values from tests/unit/test_fingerprint.c (RFC 8032 keys). */
#define B_A "OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0"
#define B_B "WvqCzN75_NTBjw6wyaIS2E24pLg8u3K_9bTjhcdbFIM"
#define B_C "6nV71fmWwwZ55RSDy9yZBx6IJo6DQT-yqhvgqHz0gIQ"
#define FA  "ni:///sha3-256;" B_A
#define FB  "ni:///sha3-256;" B_B
#define FC  "ni:///sha3-256;" B_C

#define T_2026_12_01 UINT64_C(1796083200) /* 2026-12-01T00:00:00Z */

/* ---- helpers ------------------------------------------------------- */

static void fp_parse(pl_fingerprint *fp, const char *s)
{
    const char *why = NULL;
    assert_int_equal(pl_fingerprint_parse(fp, s, strlen(s), &why), PL_OK);
}

/* A made-up fingerprint number n (splitmix64 over n fills the digest). */
static void fp_num(pl_fingerprint *fp, uint64_t n)
{
    memset(fp, 0, sizeof *fp);
    for (size_t i = 0; i < PL_FP_DIGEST_LEN; i += 8) {
        uint64_t z = (n * 4 + i / 8 + 1) * UINT64_C(0x9e3779b97f4a7c15);
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        z ^= z >> 31;
        memcpy(fp->digest + i, &z, 8);
    }
}

static pl_trust *parse_ok(const char *text)
{
    pl_trust *ts = NULL;
    size_t line = 99;
    const char *why = NULL;
    int rc = pl_trust_parse(&ts, text, strlen(text), &line, &why);
    if (rc != PL_OK)
        fail_msg("parse failed (%d) on line %zu: %s", rc, line, why ? why : "?");
    assert_non_null(ts);
    assert_int_equal(line, 0);
    return ts;
}

/* Formatted text, malloc'd. */
static char *format(const pl_trust *ts)
{
    char *buf = malloc(PL_TRUST_FILE_MAX + 1);
    assert_non_null(buf);
    int n = pl_trust_format(ts, buf, PL_TRUST_FILE_MAX + 1);
    assert_true(n >= 0);
    assert_int_equal(strlen(buf), (size_t)n);
    return buf;
}

static void assert_format(const pl_trust *ts, const char *want)
{
    char *got = format(ts);
    assert_string_equal(got, want);
    free(got);
}

static void expect_error(const char *text, size_t len, int want_rc, size_t want_line)
{
    pl_trust *ts = (pl_trust *)1;
    size_t line = 12345;
    const char *why = NULL;
    int rc = pl_trust_parse(&ts, text, len, &line, &why);
    if (rc != want_rc || line != want_line)
        fail_msg("\"%.60s\": got rc %d line %zu (%s), want rc %d line %zu", text, rc, line,
                 why ? why : "-", want_rc, want_line);
    assert_null(ts);
    assert_non_null(why);
    assert_true(strlen(why) > 10);
}

static void entries_equal(const pl_trust_entry *a, const pl_trust_entry *b)
{
    assert_int_equal(a->kind, b->kind);
    assert_memory_equal(a->fp.digest, b->fp.digest, PL_FP_DIGEST_LEN);
    assert_string_equal(a->fp.authority, b->fp.authority);
    assert_string_equal(a->petname, b->petname);
    assert_int_equal(a->n_groups, b->n_groups);
    for (size_t i = 0; i < a->n_groups; i++)
        assert_string_equal(a->groups[i], b->groups[i]);
    assert_int_equal(a->expires, b->expires);
}

static void stores_equal(const pl_trust *a, const pl_trust *b)
{
    pl_trust_entry ea, eb;
    assert_int_equal(pl_trust_count(a), pl_trust_count(b));
    for (size_t i = 0; i < pl_trust_count(a); i++) {
        assert_int_equal(pl_trust_get(a, i, &ea), PL_OK);
        assert_int_equal(pl_trust_get(b, i, &eb), PL_OK);
        entries_equal(&ea, &eb);
    }
}

/* ---- round trip ---------------------------------------------------- */

static const char messy[] =
    "# peerlink trust store\n"
    "\n"
    "allow\t" FA "   expires=2026-12-01T00:00:00Z\tgroups=lab,ops name=alice \n"
    "   # an indented comment\n"
    "deny  ni://dir.example.org/sha3-256;" B_B " name=mallory\n"
    "  allow NI:///sha3-256;" B_C "\n"
    "deny " FA " expires=2030-01-01T12:00:00Z\n"
    "\t\n"
    "# last line\n";

static const char messy_canonical[] =
    "# peerlink trust store\n"
    "\n"
    "allow " FA " name=alice groups=lab,ops expires=2026-12-01T00:00:00Z\n"
    "   # an indented comment\n"
    "deny ni://dir.example.org/sha3-256;" B_B " name=mallory\n"
    "allow " FC "\n"
    "deny " FA " expires=2030-01-01T12:00:00Z\n"
    "\t\n"
    "# last line\n";

static void round_trip(void **state)
{
    (void)state;
    pl_trust *ts = parse_ok(messy);
    assert_int_equal(pl_trust_count(ts), 4);
    pl_trust_entry e;
    assert_int_equal(pl_trust_get(ts, 0, &e), PL_OK);
    assert_int_equal(e.kind, PL_TRUST_ALLOW);
    assert_string_equal(e.petname, "alice");
    assert_int_equal(e.n_groups, 2);
    assert_string_equal(e.groups[0], "lab");
    assert_string_equal(e.groups[1], "ops");
    assert_int_equal(e.expires, T_2026_12_01);
    assert_string_equal(e.fp.authority, "");
    assert_int_equal(pl_trust_get(ts, 1, &e), PL_OK);
    assert_int_equal(e.kind, PL_TRUST_DENY);
    assert_string_equal(e.fp.authority, "dir.example.org");
    assert_string_equal(e.petname, "mallory");
    assert_int_equal(e.n_groups, 0);
    assert_int_equal(e.expires, 0);
    assert_int_equal(pl_trust_get(ts, 3, &e), PL_OK);
    assert_int_equal(e.expires, UINT64_C(1893499200)); /* 2030-01-01T12:00:00Z */
    assert_int_equal(pl_trust_get(ts, 4, &e), PL_ERR_NOTFOUND);

    char *text = format(ts);
    assert_string_equal(text, messy_canonical);
    pl_trust *again = parse_ok(text);
    stores_equal(ts, again);
    assert_format(again, messy_canonical);

    /* The length is exact and a buffer one byte short (no room for the
     * NUL) is refused. */
    size_t n = strlen(messy_canonical);
    assert_int_equal(pl_trust_format(ts, text, n + 1), (int)n);
    assert_int_equal(pl_trust_format(ts, text, n), PL_ERR_BUFSIZE);
    free(text);
    pl_trust_free(ts);
    pl_trust_free(again);

    /* The empty file and a file of comments only. */
    ts = parse_ok("");
    assert_int_equal(pl_trust_count(ts), 0);
    assert_format(ts, "");
    pl_trust_free(ts);
    ts = parse_ok("# only\n\n# comments\n");
    assert_int_equal(pl_trust_count(ts), 0);
    assert_format(ts, "# only\n\n# comments\n");
    pl_trust_free(ts);
}

/* ---- expires= and the calendar ------------------------------------- */

static void utc_known(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        uint64_t t;
    } ok[] = {
        {"1970-01-01T00:00:01Z", 1},
        {"1999-12-31T23:59:59Z", UINT64_C(946684799)},
        {"2000-02-29T12:34:56Z", UINT64_C(951827696)},
        {"2024-02-29T23:59:59Z", UINT64_C(1709251199)},
        {"2026-12-01T00:00:00Z", T_2026_12_01},
        {"2100-03-01T00:00:00Z", UINT64_C(4107542400)},
        {"9999-12-31T23:59:59Z", UINT64_C(253402300799)},
    };
    static const char *bad[] = {
        "2026-02-29T00:00:00Z",
        "2026-02-30T00:00:00Z",
        "2100-02-29T00:00:00Z",
        "2026-04-31T00:00:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-10T00:00:00Z",
        "2026-01-00T00:00:00Z",
        "2026-01-01T24:00:00Z",
        "2026-01-01T23:60:00Z",
        "2026-01-01T23:59:60Z",
        "1969-12-31T23:59:59Z",
        "1970-01-01T00:00:00Z",
        "0000-01-01T00:00:00Z",
        "2026-01-01t00:00:00Z",
        "2026-01-01T00:00:00z",
        "2026-01-01T00:00:00",
        "2026-01-01T00:00:00+00:00",
        "2026-01-01T00:00:00.5Z",
        "2026-1-01T00:00:00Z",
        "2026-01-01 00:00:00Z",
        "+2026-01-01T00:00:00Z",
        "20260101T000000Z",
        "2026-01-01",
        "",
        "2026-01-01T00:00:00ZZ",
        "2026-0a-01T00:00:00Z",
        "10000-01-01T00:00:00Z",
        "2026-01-01T0:00:00Z",
    };
    char line[256], out[PL_TIME_LEN + 1];
    for (size_t i = 0; i < sizeof ok / sizeof ok[0]; i++) {
        snprintf(line, sizeof line, "allow %s expires=%s\n", FA, ok[i].text);
        pl_trust *ts = parse_ok(line);
        pl_trust_entry e;
        assert_int_equal(pl_trust_get(ts, 0, &e), PL_OK);
        assert_int_equal(e.expires, ok[i].t);
        assert_int_equal(pl_time_format(ok[i].t, out, sizeof out), PL_TIME_LEN);
        assert_string_equal(out, ok[i].text);
        assert_format(ts, line);
        pl_trust_free(ts);
    }
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        snprintf(line, sizeof line, "# x\nallow %s expires=%s\n", FA, bad[i]);
        expect_error(line, strlen(line), PL_ERR_PARSE, 2);
    }
}

/* ---- verdicts ------------------------------------------------------ */

static void deny_wins(void **state)
{
    (void)state;
    pl_fingerprint a, a_other_authority, b, c;
    fp_parse(&a, FA);
    fp_parse(&a_other_authority, "ni://elsewhere.example:8443/sha3-256;" B_A);
    fp_parse(&b, FB);
    fp_parse(&c, FC);
    static const char *texts[] = {
        "allow " FA " groups=lab\ndeny " FA "\nallow " FB "\n",
        "deny " FA "\nallow " FA " groups=lab\nallow " FB "\n",
    };
    for (size_t i = 0; i < 2; i++) {
        pl_trust *ts = parse_ok(texts[i]);
        assert_int_equal(pl_trust_check(ts, &a, 0), PL_TRUST_DENIED);
        assert_int_equal(pl_trust_check(ts, &a, T_2026_12_01), PL_TRUST_DENIED);
        assert_int_equal(pl_trust_check(ts, &a_other_authority, 0), PL_TRUST_DENIED);
        assert_int_equal(pl_trust_in_group(ts, &a, "lab", 0), 0);
        assert_int_equal(pl_trust_check(ts, &b, 0), PL_TRUST_ALLOWED);
        assert_int_equal(pl_trust_check(ts, &c, 0), PL_TRUST_UNKNOWN);
        /* Lifting the deny: remove both, add the allow back. */
        assert_int_equal(pl_trust_remove(ts, &a), PL_OK);
        assert_int_equal(pl_trust_check(ts, &a, 0), PL_TRUST_UNKNOWN);
        assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &a, NULL, "lab", 0, NULL), PL_OK);
        assert_int_equal(pl_trust_check(ts, &a, 0), PL_TRUST_ALLOWED);
        assert_int_equal(pl_trust_in_group(ts, &a_other_authority, "lab", 0), 1);
        /* A deny added later wins again. */
        assert_int_equal(pl_trust_set(ts, PL_TRUST_DENY, &a, "x", NULL, 0, NULL), PL_OK);
        assert_int_equal(pl_trust_check(ts, &a, 0), PL_TRUST_DENIED);
        pl_trust_free(ts);
    }
    /* No store, no fingerprint: nothing is allowed. */
    assert_int_equal(pl_trust_check(NULL, &a, 0), PL_TRUST_UNKNOWN);
    pl_trust *ts = parse_ok("allow " FA "\n");
    assert_int_equal(pl_trust_check(ts, NULL, 0), PL_TRUST_UNKNOWN);
    pl_trust_free(ts);
}

static void expiry(void **state)
{
    (void)state;
    const uint64_t t = T_2026_12_01;
    pl_fingerprint a, b;
    fp_parse(&a, FA);
    fp_parse(&b, FB);
    pl_trust *ts = parse_ok("allow " FA " groups=ops expires=2026-12-01T00:00:00Z\n"
                            "allow " FB "\n"
                            "deny " FB " expires=2026-12-01T00:00:00Z\n");
    /* An allow that expires: allowed before the instant, not at or after. */
    assert_int_equal(pl_trust_check(ts, &a, 0), PL_TRUST_ALLOWED);
    assert_int_equal(pl_trust_check(ts, &a, t - 1), PL_TRUST_ALLOWED);
    assert_int_equal(pl_trust_check(ts, &a, t), PL_TRUST_UNKNOWN);
    assert_int_equal(pl_trust_check(ts, &a, t + 1), PL_TRUST_UNKNOWN);
    assert_int_equal(pl_trust_check(ts, &a, UINT64_MAX), PL_TRUST_UNKNOWN);
    assert_int_equal(pl_trust_in_group(ts, &a, "ops", t - 1), 1);
    assert_int_equal(pl_trust_in_group(ts, &a, "ops", t), 0);
    /* A deny that expires: denied before, the standing allow after. */
    assert_int_equal(pl_trust_check(ts, &b, t - 1), PL_TRUST_DENIED);
    assert_int_equal(pl_trust_check(ts, &b, t), PL_TRUST_ALLOWED);
    assert_int_equal(pl_trust_check(ts, &b, t + 1), PL_TRUST_ALLOWED);
    /* Expired entries stay in the file: expiry is not removal. */
    assert_int_equal(pl_trust_count(ts), 3);
    pl_trust_free(ts);
}

static void groups(void **state)
{
    (void)state;
    pl_fingerprint a, b, c;
    fp_parse(&a, FA);
    fp_parse(&b, FB);
    fp_parse(&c, FC);
    pl_trust *ts = parse_ok("allow " FA " groups=lab,ops,a-b_9\nallow " FB "\n");
    assert_int_equal(pl_trust_in_group(ts, &a, "lab", 0), 1);
    assert_int_equal(pl_trust_in_group(ts, &a, "ops", 0), 1);
    assert_int_equal(pl_trust_in_group(ts, &a, "a-b_9", 0), 1);
    assert_int_equal(pl_trust_in_group(ts, &a, "la", 0), 0);
    assert_int_equal(pl_trust_in_group(ts, &a, "labs", 0), 0);
    assert_int_equal(pl_trust_in_group(ts, &a, "lab,ops", 0), 0);
    assert_int_equal(pl_trust_in_group(ts, &a, "", 0), 0);
    assert_int_equal(pl_trust_in_group(ts, &a, NULL, 0), 0);
    assert_int_equal(pl_trust_in_group(ts, &b, "lab", 0), 0);
    assert_int_equal(pl_trust_in_group(ts, &c, "lab", 0), 0);
    pl_trust_free(ts);

    /* 16 groups of 32 characters is the most an entry may carry. */
    char text[1024], list[600];
    pl_wr w = pl_wr_init(list, sizeof list);
    for (int i = 0; i < PL_TRUST_GROUPS_MAX; i++) {
        char g[PL_TRUST_GROUP_NAME_MAX + 2];
        snprintf(g, sizeof g, "%s%02d%s", i ? "," : "", i, "-abcdefghijklmnopqrstuvwxyz_78");
        pl_wr_str(&w, g);
    }
    pl_wr_nul(&w);
    assert_int_equal(pl_wr_result(&w), PL_TRUST_GROUPS_TEXT_MAX);
    snprintf(text, sizeof text, "allow %s groups=%s\n", FA, list);
    ts = parse_ok(text);
    assert_int_equal(pl_trust_in_group(ts, &a, "15-abcdefghijklmnopqrstuvwxyz_78", 0), 1);
    assert_format(ts, text);
    pl_trust_free(ts);
}

/* ---- parse errors -------------------------------------------------- */

static void parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text;
        size_t line;
    } cases[] = {
        /* verbs and fingerprints */
        {"permit " FA "\n", 1},
        {"# c\nAllow " FA "\n", 2},
        {"allow\n", 1},
        {"allow   \t\n", 1},
        {"allow ni:///sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM\n", 1},
        {"allow ni:///sha3-256;" B_A "=\n", 1},
        {"allow ni:///sha256;" B_A "\n", 1},
        {"allow ni://bad_host/sha3-256;" B_A "\n", 1},
        {"allow " B_A "\n", 1},
        /* options */
        {"allow " FA " name=a name=b\n", 1},
        {"allow " FA " groups=a expires=2030-01-01T00:00:00Z groups=b\n", 1},
        {"allow " FA " expires=2030-01-01T00:00:00Z expires=2030-01-01T00:00:00Z\n", 1},
        {"allow " FA " nick=a\n", 1},
        {"allow " FA " name\n", 1},
        {"allow " FA " =a\n", 1},
        {"allow " FA " Name=a\n", 1},
        {"allow " FA " # trailing comment\n", 1},
        {"allow " FA " name=a #trailing\n", 1},
        {"allow #" FA "\n", 1},
        {"allow " FA " name=\n", 1},
        {"allow " FA " name=al ice\n", 1},
        {"allow " FA " name=al/ice\n", 1},
        {"allow " FA " name=\xc3\xa9lise\n", 1},
        {"allow " FA " name=12345678901234567890123456789012345678901234567890123456789012345\n",
         1},
        {"allow " FA " groups=\n", 1},
        {"allow " FA " groups=Lab\n", 1},
        {"allow " FA " groups=a,,b\n", 1},
        {"allow " FA " groups=a,\n", 1},
        {"allow " FA " groups=,a\n", 1},
        {"allow " FA " groups=a,b,a\n", 1},
        {"allow " FA " groups=a.b\n", 1},
        {"allow " FA " groups=abcdefghijklmnopqrstuvwxyz0123456\n", 1},
        {"allow " FA " groups=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p,q\n", 1},
        {"allow " FA " expires=2026-02-30T00:00:00Z\n", 1},
        {"allow " FA " expires=never\n", 1},
        {"deny " FA " groups=lab\n", 1},
        {"deny " FA " name=m groups=lab expires=2030-01-01T00:00:00Z\n", 1},
        /* duplicates: the later line is named */
        {"allow " FA "\n# c\n\nallow " FA " name=again\n", 4},
        {"allow " FA "\ndeny " FA "\nallow ni://x.example/sha3-256;" B_A "\n", 3},
        {"deny " FB "\nallow " FA "\ndeny NI:///sha3-256;" B_B " name=x\n", 3},
        /* bytes a text file must not have */
        {"allow " FA "\r\n", 1},
        {"# ok\n# windows\r\n", 2},
        {"\r", 1},
        {"\v", 1},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_error(cases[i].text, strlen(cases[i].text), PL_ERR_PARSE, cases[i].line);

    /* NUL bytes, in an entry and in a comment. */
    static const char nul1[] = "allow " FA "\n# a\0b\n";
    expect_error(nul1, sizeof nul1 - 1, PL_ERR_PARSE, 2);
    static const char nul2[] = "allow " FA "\0\n";
    expect_error(nul2, sizeof nul2 - 1, PL_ERR_PARSE, 1);

    /* The why strings name the problem. */
    const char *why = NULL;
    size_t line = 0;
    pl_trust *ts = NULL;
    static const struct {
        const char *text, *word;
    } whys[] = {
        {"allow " FA " nick=a\n", "unknown option"},
        {"deny " FA " groups=a\n", "deny"},
        {"allow " FA " # c\n", "comment"},
        {"allow " FA "\r\n", "carriage return"},
        {"allow " FA " expires=2026-02-30T00:00:00Z\n", "calendar"},
        {"allow " FA "\nallow " FA "\n", "second allow"},
        {"deny " FA "\ndeny " FA "\n", "second deny"},
        {"allow ni:///sha3-256;" B_A "=\n", "padding"},
    };
    for (size_t i = 0; i < sizeof whys / sizeof whys[0]; i++) {
        assert_int_equal(pl_trust_parse(&ts, whys[i].text, strlen(whys[i].text), &line, &why),
                         PL_ERR_PARSE);
        if (!strstr(why, whys[i].word))
            fail_msg("why \"%s\" lacks \"%s\"", why, whys[i].word);
    }
    /* NULL line and why are fine; NULL text only with length 0. */
    assert_int_equal(pl_trust_parse(&ts, "bad\n", 4, NULL, NULL), PL_ERR_PARSE);
    assert_int_equal(pl_trust_parse(&ts, NULL, 1, NULL, NULL), PL_ERR_INVAL);
    assert_int_equal(pl_trust_parse(NULL, "", 0, NULL, NULL), PL_ERR_INVAL);
    assert_int_equal(pl_trust_parse(&ts, NULL, 0, NULL, NULL), PL_OK);
    pl_trust_free(ts);
}

/* ---- caps ---------------------------------------------------------- */

/* "deny <fp>\n" for fingerprint number n: 64 bytes, the shortest entry. */
static void min_line(char out[65], uint64_t n)
{
    pl_fingerprint fp;
    char s[PL_FINGERPRINT_STR_MAX];
    fp_num(&fp, n);
    assert_int_equal(pl_fingerprint_format(&fp, s, sizeof s), 58);
    memcpy(out, "deny ", 5);
    memcpy(out + 5, s, 58);
    memcpy(out + 63, "\n", 2);
}

static void line_cap(void **state)
{
    (void)state;
    char text[3000];
    /* A comment line of exactly PL_TRUST_LINE_MAX bytes passes... */
    memset(text, 0, sizeof text);
    memcpy(text, "allow " FA "\n#", 6 + 58 + 2);
    memset(text + 66, 'x', PL_TRUST_LINE_MAX - 1);
    memcpy(text + 65 + PL_TRUST_LINE_MAX, "\n", 2);
    pl_trust *ts = parse_ok(text);
    assert_format(ts, text);
    pl_trust_free(ts);
    /* ... one more byte does not, with or without the newline. */
    memset(text + 66, 'x', PL_TRUST_LINE_MAX);
    memcpy(text + 66 + PL_TRUST_LINE_MAX, "\n", 2);
    expect_error(text, strlen(text), PL_ERR_PARSE, 2);
    expect_error(text, strlen(text) - 1, PL_ERR_PARSE, 2);
    /* An entry line padded with blanks is measured the same way. */
    memset(text, 0, sizeof text);
    memcpy(text, "\n\nallow " FA, 2 + 6 + 58);
    memset(text + 66, ' ', PL_TRUST_LINE_MAX - 63); /* 1025 bytes */
    expect_error(text, strlen(text), PL_ERR_PARSE, 3);
}

/* 65536 of the shortest entry line are exactly PL_TRUST_FILE_MAX bytes: the
 * two caps meet, so the entry cap cannot be crossed by a file that fits
 * (the parser still checks it); pl_trust_set is where it bites. */
static void file_and_entry_caps(void **state)
{
    (void)state;
    char *text = malloc(PL_TRUST_FILE_MAX + 2);
    assert_non_null(text);
    for (uint64_t i = 0; i < PL_TRUST_ENTRIES_MAX; i++)
        min_line(text + 64 * i, i);
    assert_int_equal(64u * PL_TRUST_ENTRIES_MAX, PL_TRUST_FILE_MAX);
    pl_trust *ts = NULL;
    size_t line = 1;
    const char *why = NULL;
    assert_int_equal(pl_trust_parse(&ts, text, PL_TRUST_FILE_MAX, &line, &why), PL_OK);
    assert_int_equal(pl_trust_count(ts), PL_TRUST_ENTRIES_MAX);
    char *out = format(ts);
    assert_memory_equal(out, text, PL_TRUST_FILE_MAX);
    free(out);

    pl_fingerprint fp, extra;
    fp_num(&extra, PL_TRUST_ENTRIES_MAX);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_DENY, &extra, NULL, NULL, 0, &why), PL_ERR_TOOBIG);
    /* Replacing one in place is not adding one; it may not grow the file. */
    fp_num(&fp, 7);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_DENY, &fp, NULL, NULL, 0, &why), PL_OK);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_DENY, &fp, "x", NULL, 0, &why), PL_ERR_TOOBIG);
    /* After a removal there is room for one short entry, not a longer one. */
    assert_int_equal(pl_trust_remove(ts, &fp), PL_OK);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_DENY, &extra, "m", NULL, 0, &why), PL_ERR_TOOBIG);
    assert_int_equal(pl_trust_count(ts), PL_TRUST_ENTRIES_MAX - 1);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_DENY, &extra, NULL, NULL, 0, &why), PL_OK);
    assert_int_equal(pl_trust_count(ts), PL_TRUST_ENTRIES_MAX);
    pl_trust_free(ts);

    /* One byte over the file cap. */
    text[PL_TRUST_FILE_MAX] = '\n';
    expect_error(text, PL_TRUST_FILE_MAX + 1, PL_ERR_TOOBIG, 0);
    /* A file at the cap whose last line lacks "\n" is refused as cut short. */
    memset(text + PL_TRUST_FILE_MAX - 64, '#', 64);
    expect_error(text, PL_TRUST_FILE_MAX, PL_ERR_PARSE, PL_TRUST_ENTRIES_MAX);
    free(text);
}

/* ---- editing ------------------------------------------------------- */

static void set_in_place(void **state)
{
    (void)state;
    pl_fingerprint a, b, c, a2;
    fp_parse(&a, FA);
    fp_parse(&b, FB);
    fp_parse(&c, FC);
    fp_parse(&a2, "ni://dir.example.org/sha3-256;" B_A);
    pl_trust *ts = parse_ok("# head\n"
                            "allow " FA " name=a\n"
                            "# mid\n"
                            "deny " FB "\n"
                            "# tail\n");
    const char *why = NULL;
    /* Replace: same line, every field from the new call. */
    assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &a2, "alice", "lab,ops", T_2026_12_01, &why),
                     PL_OK);
    /* New entries go to the end of the file. */
    assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &c, NULL, "", 0, &why), PL_OK);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_DENY, &a, "", NULL, 0, &why), PL_OK);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_DENY, &b, "bob", NULL, 0, &why), PL_OK);
    const char *want = "# head\n"
                       "allow ni://dir.example.org/sha3-256;" B_A
                       " name=alice groups=lab,ops expires=2026-12-01T00:00:00Z\n"
                       "# mid\n"
                       "deny " FB " name=bob\n"
                       "# tail\n"
                       "allow " FC "\n"
                       "deny " FA "\n";
    assert_format(ts, want);
    assert_int_equal(pl_trust_count(ts), 4);

    /* Bad values change nothing. */
    char long_name[PL_TRUST_PETNAME_MAX + 2], long_groups[700];
    memset(long_name, 'n', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = 0;
    memset(long_groups, 'g', sizeof long_groups - 1);
    long_groups[sizeof long_groups - 1] = 0;
    pl_fingerprint bad_auth = a;
    memcpy(bad_auth.authority, "bad host", 9);
    pl_fingerprint unterminated = a;
    memset(unterminated.authority, 'a', sizeof unterminated.authority);
    static const char *bad_names[] = {"two words", "a/b", "\xc3\xa9", "#x"};
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names[0]; i++)
        assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &a, bad_names[i], NULL, 0, &why),
                         PL_ERR_INVAL);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &a, long_name, NULL, 0, &why), PL_ERR_INVAL);
    long_name[PL_TRUST_PETNAME_MAX] = 0; /* exactly the cap is fine (checked below) */
    static const char *bad_groups[] = {"Lab", "a,,b", "a,", "a,a", "a b", ","};
    for (size_t i = 0; i < sizeof bad_groups / sizeof bad_groups[0]; i++)
        assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &a, NULL, bad_groups[i], 0, &why),
                         PL_ERR_INVAL);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &a, NULL, long_groups, 0, &why),
                     PL_ERR_INVAL);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_DENY, &a, NULL, "lab", 0, &why), PL_ERR_INVAL);
    assert_non_null(strstr(why, "deny"));
    assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &a, NULL, NULL, PL_TIME_MAX + 1, &why),
                     PL_ERR_INVAL);
    assert_int_equal(pl_trust_set(ts, (enum pl_trust_kind)0, &a, NULL, NULL, 0, &why),
                     PL_ERR_INVAL);
    assert_int_equal(pl_trust_set(ts, (enum pl_trust_kind)3, &a, NULL, NULL, 0, &why),
                     PL_ERR_INVAL);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &bad_auth, NULL, NULL, 0, &why),
                     PL_ERR_INVAL);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &unterminated, NULL, NULL, 0, &why),
                     PL_ERR_INVAL);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, NULL, NULL, NULL, 0, &why), PL_ERR_INVAL);
    assert_int_equal(pl_trust_set(NULL, PL_TRUST_ALLOW, &a, NULL, NULL, 0, NULL), PL_ERR_INVAL);
    assert_format(ts, want);

    /* The longest values are accepted and re-parse. */
    assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &a, long_name, NULL, PL_TIME_MAX, &why),
                     PL_OK);
    char *text = format(ts);
    pl_trust *again = parse_ok(text);
    stores_equal(ts, again);
    free(text);
    pl_trust_free(again);
    pl_trust_free(ts);
}

static void remove_entries(void **state)
{
    (void)state;
    pl_fingerprint a, b, c;
    fp_parse(&a, FA);
    fp_parse(&b, FB);
    fp_parse(&c, FC);
    pl_trust *ts = parse_ok("# alice's laptop\n"
                            "allow " FA " name=alice\n"
                            "\n"
                            "# bob\n"
                            "allow " FB "\n"
                            "# alice was naughty\n"
                            "deny " FA "\n"
                            "# end\n");
    assert_int_equal(pl_trust_remove(ts, &a), PL_OK);
    assert_int_equal(pl_trust_count(ts), 1);
    assert_int_equal(pl_trust_check(ts, &a, 0), PL_TRUST_UNKNOWN);
    assert_int_equal(pl_trust_check(ts, &b, 0), PL_TRUST_ALLOWED);
    /* Comments are a person's: they stay, in order, around what is left. */
    assert_format(ts, "# alice's laptop\n"
                      "\n"
                      "# bob\n"
                      "allow " FB "\n"
                      "# alice was naughty\n"
                      "# end\n");
    assert_int_equal(pl_trust_remove(ts, &a), PL_ERR_NOTFOUND);
    assert_int_equal(pl_trust_remove(ts, &c), PL_ERR_NOTFOUND);
    assert_int_equal(pl_trust_remove(ts, NULL), PL_ERR_INVAL);
    assert_int_equal(pl_trust_remove(ts, &b), PL_OK);
    assert_int_equal(pl_trust_count(ts), 0);
    assert_format(ts, "# alice's laptop\n\n# bob\n# alice was naughty\n# end\n");
    /* Adding to an emptied store appends after the comments. */
    assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &c, NULL, NULL, 0, NULL), PL_OK);
    assert_format(ts, "# alice's laptop\n\n# bob\n# alice was naughty\n# end\nallow " FC "\n");
    pl_trust_free(ts);

    /* An empty store from pl_trust_new. */
    assert_int_equal(pl_trust_new(&ts), PL_OK);
    assert_int_equal(pl_trust_remove(ts, &a), PL_ERR_NOTFOUND);
    assert_int_equal(pl_trust_check(ts, &a, 0), PL_TRUST_UNKNOWN);
    pl_trust_entry e;
    assert_int_equal(pl_trust_get(ts, 0, &e), PL_ERR_NOTFOUND);
    assert_int_equal(pl_trust_get(NULL, 0, &e), PL_ERR_INVAL);
    assert_int_equal(pl_trust_count(NULL), 0);
    pl_trust_free(ts);
    pl_trust_free(NULL);
}

/* Random edits against a plain array model: the hash index (growth,
 * deletion with backward shift, probe chains wrapping around the end of
 * the table) must agree with it at every step, and the file order must be
 * what the edits imply. Small pools keep the table small, so chains wrap
 * often. */
#define POOL_MAX 300
static void model_run(size_t pool_n, uint64_t seed)
{
    struct {
        int has[2];
        uint64_t exp[2];
    } model[POOL_MAX];
    int order[2 * POOL_MAX]; /* file order: pool index * 2 + kind slot */
    size_t n_order = 0;
    pl_fingerprint pool[POOL_MAX];
    memset(model, 0, sizeof model);
    for (size_t i = 0; i < pool_n; i++)
        fp_num(&pool[i], seed * 1000 + i);
    pl_trust *ts;
    assert_int_equal(pl_trust_new(&ts), PL_OK);
    uint64_t x = seed * 2463534242u + 1;
    for (int step = 0; step < 20000; step++) {
        x ^= x << 13, x ^= x >> 7, x ^= x << 17;
        size_t i = (size_t)(x >> 8) % pool_n;
        unsigned op = (unsigned)(x % 8);
        uint64_t exp = (x >> 40) % 3 * 100; /* 0, 100 or 200 */
        if (op < 5) {
            int k = op % 2; /* 0 allow, 1 deny */
            assert_int_equal(pl_trust_set(ts, k ? PL_TRUST_DENY : PL_TRUST_ALLOW, &pool[i], NULL,
                                          NULL, exp, NULL),
                             PL_OK);
            if (!model[i].has[k])
                order[n_order++] = (int)(i * 2 + (size_t)k);
            model[i].has[k] = 1;
            model[i].exp[k] = exp;
        } else {
            int had = model[i].has[0] || model[i].has[1];
            assert_int_equal(pl_trust_remove(ts, &pool[i]), had ? PL_OK : PL_ERR_NOTFOUND);
            model[i].has[0] = model[i].has[1] = 0;
            size_t w = 0;
            for (size_t r = 0; r < n_order; r++)
                if ((size_t)order[r] / 2 != i)
                    order[w++] = order[r];
            n_order = w;
        }
        assert_int_equal(pl_trust_count(ts), n_order);
        uint64_t now = (x >> 32) % 250;
        int all = pool_n < 50 || step % 500 == 0;
        for (size_t j = all ? 0 : (size_t)(x >> 20) % pool_n; j < pool_n; j++) {
            int deny = model[j].has[1] && (!model[j].exp[1] || now < model[j].exp[1]);
            int allow = model[j].has[0] && (!model[j].exp[0] || now < model[j].exp[0]);
            enum pl_trust_verdict want = deny    ? PL_TRUST_DENIED
                                         : allow ? PL_TRUST_ALLOWED
                                                 : PL_TRUST_UNKNOWN;
            assert_int_equal(pl_trust_check(ts, &pool[j], now), want);
            if (!all)
                break;
        }
    }
    pl_trust_entry e;
    for (size_t r = 0; r < n_order; r++) {
        assert_int_equal(pl_trust_get(ts, r, &e), PL_OK);
        assert_memory_equal(e.fp.digest, pool[order[r] / 2].digest, PL_FP_DIGEST_LEN);
        assert_int_equal(e.kind, order[r] % 2 ? PL_TRUST_DENY : PL_TRUST_ALLOW);
    }
    char *text = format(ts);
    pl_trust *again = parse_ok(text);
    stores_equal(ts, again);
    free(text);
    pl_trust_free(again);
    pl_trust_free(ts);
}

static void index_model(void **state)
{
    (void)state;
    static const size_t pools[] = {3, 7, 9, 15, 40, POOL_MAX};
    for (size_t i = 0; i < sizeof pools / sizeof pools[0]; i++)
        for (uint64_t seed = 1; seed <= 4; seed++)
            model_run(pools[i], seed);
}

/* ---- truncation ---------------------------------------------------- */

/*
 * Every prefix of a valid trust file. Every line ends with "\n", so:
 *  - a prefix that ends inside a line (not just after a "\n", and not
 *    empty) is rejected with PL_ERR_PARSE on the line the cut falls in:
 *    a cut can never shorten a name or a group list, drop an option, or
 *    cut a fingerprint;
 *  - a prefix that ends just after a "\n" parses, and its entries are
 *    exactly the first entries of the full file (it is a shorter file).
 */
static void check_prefixes(const char *text)
{
    size_t len = strlen(text);
    pl_trust *full = parse_ok(text);
    size_t rejected = 0, accepted = 0;
    for (size_t k = 0; k < len; k++) {
        size_t lineno = 1;
        for (size_t i = 0; i < k; i++)
            lineno += text[i] == '\n';
        pl_trust *ts = NULL;
        size_t errline = 0;
        const char *why = NULL;
        int rc = pl_trust_parse(&ts, text, k, &errline, &why);
        if (k > 0 && text[k - 1] != '\n') {
            if (rc != PL_ERR_PARSE || errline != lineno || !why)
                fail_msg("prefix of %zu bytes (line %zu) not rejected: rc %d", k, lineno, rc);
            assert_null(ts);
            rejected++;
            continue;
        }
        assert_int_equal(rc, PL_OK);
        accepted++;
        assert_true(pl_trust_count(ts) <= pl_trust_count(full));
        for (size_t i = 0; i < pl_trust_count(ts); i++) {
            pl_trust_entry a, b;
            assert_int_equal(pl_trust_get(full, i, &a), PL_OK);
            assert_int_equal(pl_trust_get(ts, i, &b), PL_OK);
            entries_equal(&a, &b);
        }
        pl_trust_free(ts);
    }
    assert_true(rejected > accepted && accepted > 1);
    pl_trust_free(full);
}

static void truncated_prefixes(void **state)
{
    (void)state;
    check_prefixes("# trust store\n"
                   "\n"
                   "allow " FA " name=alice groups=lab,ops expires=2026-12-01T00:00:00Z\n"
                   "  # indented\n"
                   "deny\tni://dir.example.org:8443/sha3-256;" B_B "  name=mallory \n"
                   "allow " FC " expires=2030-01-01T00:00:00Z groups=a,bb name=c@d.e\n");
    check_prefixes("allow " FB " groups=admins-ro,x name=bob\n"
                   "deny " FA " expires=2027-06-30T23:59:59Z name=eve\n"
                   "\t\n"
                   "allow ni://198.51.100.7/sha3-256;" B_C " name=carol groups=g1\n");
}

/* A last line without its newline is refused, entry or comment alike. */
static void missing_final_newline(void **state)
{
    (void)state;
    static const char *cut[] = {
        "allow " FA " name=alice",
        "allow " FA "\n# a comment",
        "allow " FA "\n   ",
    };
    for (size_t i = 0; i < sizeof cut / sizeof cut[0]; i++) {
        pl_trust *ts = NULL;
        size_t line = 0;
        const char *why = NULL;
        assert_int_equal(pl_trust_parse(&ts, cut[i], strlen(cut[i]), &line, &why), PL_ERR_PARSE);
        assert_int_equal(line, i == 0 ? 1 : 2);
        assert_non_null(strstr(why, "newline"));
        assert_null(ts);
    }
}

/* ---- files --------------------------------------------------------- */

static const char stored[] = "# my peers\n"
                             "allow " FA " name=alice groups=lab\n"
                             "\n"
                             "# do not let mallory in\n"
                             "deny " FB " name=mallory\n";

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    assert_int_equal(fclose(f), 0);
    assert_int_equal(chmod(path, mode), 0);
}

static size_t count_dir(const char *dir)
{
    DIR *d = opendir(dir);
    size_t n = 0;
    assert_non_null(d);
    for (struct dirent *e; (e = readdir(d));)
        n += e->d_name[0] != '.';
    closedir(d);
    return n;
}

static void save_and_load(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), path[4096], sub[2048];
    snprintf(sub, sizeof sub, "%s/conf", dir);
    snprintf(path, sizeof path, "%s/trust", sub);
    pl_trust *ts = parse_ok(stored), *back = NULL;
    size_t line = 7;
    const char *why = NULL;

    /* Saving creates the directory and a 0600 file, and nothing else. */
    assert_int_equal(pl_trust_save(ts, path), PL_OK);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    assert_int_equal(count_dir(sub), 1);
    size_t n;
    char *text = tu_read_file(path, &n);
    assert_string_equal(text, stored);
    free(text);

    /* Load, edit, save, load: comments survive. */
    assert_int_equal(pl_trust_load(&back, path, &line, &why), PL_OK);
    assert_int_equal(line, 0);
    stores_equal(ts, back);
    pl_fingerprint c, a;
    fp_parse(&c, FC);
    fp_parse(&a, FA);
    assert_int_equal(pl_trust_set(back, PL_TRUST_ALLOW, &c, "carol", NULL, 0, &why), PL_OK);
    assert_int_equal(pl_trust_set(back, PL_TRUST_ALLOW, &a, "alice", "lab,ops", 0, &why), PL_OK);
    assert_int_equal(pl_trust_save(back, path), PL_OK);
    assert_int_equal(count_dir(sub), 1);
    pl_trust_free(back);
    assert_int_equal(pl_trust_load(&back, path, &line, &why), PL_OK);
    assert_format(back, "# my peers\n"
                        "allow " FA " name=alice groups=lab,ops\n"
                        "\n"
                        "# do not let mallory in\n"
                        "deny " FB " name=mallory\n"
                        "allow " FC " name=carol\n");
    /* Saving over a looser file leaves it 0600. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(pl_trust_save(back, path), PL_OK);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 07777, 0600);
    pl_trust_free(back);

    /* A missing file is an empty store. */
    snprintf(path, sizeof path, "%s/absent/trust", dir);
    assert_int_equal(pl_trust_load(&back, path, &line, &why), PL_OK);
    assert_int_equal(pl_trust_count(back), 0);
    pl_trust_free(back);

    /* A parse error names the line; a directory is not a trust file. */
    snprintf(path, sizeof path, "%s/broken", dir);
    write_file(path, "# ok\nallow " FA " color=red\n", 5 + 6 + 58 + 11, 0600);
    back = (pl_trust *)1;
    assert_int_equal(pl_trust_load(&back, path, &line, &why), PL_ERR_PARSE);
    assert_null(back);
    assert_int_equal(line, 2);
    errno = 0;
    assert_int_equal(pl_trust_load(&back, dir, &line, &why), PL_ERR_IO);
    assert_int_equal(errno, EISDIR);
    assert_int_equal(pl_trust_load(&back, NULL, &line, &why), PL_ERR_INVAL);
    assert_int_equal(pl_trust_save(ts, NULL), PL_ERR_INVAL);
    assert_int_equal(pl_trust_save(NULL, path), PL_ERR_INVAL);

    /* Over the size cap. */
    char *big = malloc(PL_TRUST_FILE_MAX + 1);
    assert_non_null(big);
    memset(big, '\n', PL_TRUST_FILE_MAX + 1);
    snprintf(path, sizeof path, "%s/big", dir);
    write_file(path, big, PL_TRUST_FILE_MAX + 1, 0600);
    assert_int_equal(pl_trust_load(&back, path, &line, &why), PL_ERR_TOOBIG);
    write_file(path, big, PL_TRUST_FILE_MAX, 0600);
    assert_int_equal(pl_trust_load(&back, path, &line, &why), PL_OK);
    assert_int_equal(pl_trust_count(back), 0);
    pl_trust_free(back);
    free(big);

    pl_trust_free(ts);
    tu_rmrf(dir);
    free(dir);
}

static void load_refuses_loose_files(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/trust", dir);
    pl_trust *ts = NULL;
    size_t line;
    const char *why = NULL;
    static const mode_t refused[] = {0620, 0602, 0666, 0660, 0622, 0777};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        write_file(path, stored, strlen(stored), refused[i]);
        ts = (pl_trust *)1;
        assert_int_equal(pl_trust_load(&ts, path, &line, &why), PL_ERR_PERM);
        assert_null(ts);
        assert_non_null(strstr(why, "writable"));
    }
    static const mode_t accepted[] = {0600, 0644, 0640, 0400};
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        write_file(path, stored, strlen(stored), accepted[i]);
        assert_int_equal(pl_trust_load(&ts, path, &line, &why), PL_OK);
        assert_int_equal(pl_trust_count(ts), 2);
        pl_trust_free(ts);
    }
    /* A symbolic link is judged by the file it points to. */
    char link_path[4096];
    snprintf(link_path, sizeof link_path, "%s/link", dir);
    assert_int_equal(symlink(path, link_path), 0);
    assert_int_equal(pl_trust_load(&ts, link_path, &line, &why), PL_OK);
    pl_trust_free(ts);
    assert_int_equal(chmod(path, 0666), 0);
    assert_int_equal(pl_trust_load(&ts, link_path, &line, &why), PL_ERR_PERM);
    assert_int_equal(chmod(path, 0600), 0);
    /* Another user's file (only root can make one here). */
    if (geteuid() == 0) {
        assert_int_equal(chown(path, 65534, 65534), 0);
        assert_int_equal(pl_trust_load(&ts, path, &line, &why), PL_ERR_PERM);
        assert_non_null(strstr(why, "another user"));
    }
    tu_rmrf(dir);
    free(dir);
}

/* A save that cannot write the directory fails and leaves the old file as
 * it was, with no temporary file behind. Root ignores directory
 * permissions, so as root the save runs in a child that drops to nobody. */
static void save_failure_keeps_original(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/trust", dir);
    write_file(path, stored, strlen(stored), 0600);
    pl_trust *ts = parse_ok("allow " FC "\n");
    int rc;
    if (geteuid() == 0) {
        assert_int_equal(chmod(dir, 0755), 0); /* nobody may enter, not write */
        pid_t pid = fork();
        assert_true(pid >= 0);
        if (pid == 0) {
            if (setgid(65534) != 0 || setuid(65534) != 0)
                _exit(2);
            _exit(pl_trust_save(ts, path) == PL_ERR_IO ? 0 : 1);
        }
        int status;
        assert_int_equal(waitpid(pid, &status, 0), pid);
        assert_true(WIFEXITED(status));
        rc = WEXITSTATUS(status) == 0 ? PL_ERR_IO : PL_OK;
    } else {
        assert_int_equal(chmod(dir, 0500), 0);
        rc = pl_trust_save(ts, path);
        assert_int_equal(chmod(dir, 0700), 0);
    }
    assert_int_equal(rc, PL_ERR_IO);
    size_t n;
    char *text = tu_read_file(path, &n);
    assert_string_equal(text, stored);
    free(text);
    assert_int_equal(count_dir(dir), 1);
    pl_trust_free(ts);
    tu_rmrf(dir);
    free(dir);
}

/* A trust path that is a symbolic link: load reads the file it names, and
 * save replaces that file, leaving the link a link. */
static void save_through_symlink(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), real[4096], link_path[4096];
    snprintf(real, sizeof real, "%s/real", dir);
    snprintf(link_path, sizeof link_path, "%s/trust", dir);
    write_file(real, stored, strlen(stored), 0600);
    assert_int_equal(symlink("real", link_path), 0);
    pl_trust *ts = NULL;
    assert_int_equal(pl_trust_load(&ts, link_path, NULL, NULL), PL_OK);
    pl_fingerprint c;
    fp_parse(&c, FC);
    assert_int_equal(pl_trust_set(ts, PL_TRUST_ALLOW, &c, "carol", NULL, 0, NULL), PL_OK);
    assert_int_equal(pl_trust_save(ts, link_path), PL_OK);
    struct stat st;
    assert_int_equal(lstat(link_path, &st), 0);
    assert_true(S_ISLNK(st.st_mode));
    size_t n;
    char *text = tu_read_file(real, &n);
    assert_non_null(strstr(text, "name=carol"));
    assert_int_equal(strncmp(text, stored, strlen(stored)), 0);
    free(text);
    assert_int_equal(count_dir(dir), 2); /* the file and the link, no temp file */
    pl_trust_free(ts);
    tu_rmrf(dir);
    free(dir);
}

/* A FIFO in place of the trust file is refused at once, not waited on. */
static void fifo_refused(void **state)
{
    (void)state;
    char *dir = tu_tmpdir(), path[4096];
    snprintf(path, sizeof path, "%s/trust", dir);
    assert_int_equal(mkfifo(path, 0600), 0);
    pl_trust *ts = NULL;
    const char *why = NULL;
    assert_int_equal(pl_trust_load(&ts, path, NULL, &why), PL_ERR_IO);
    assert_null(ts);
    assert_non_null(strstr(why, "not a regular file"));
    tu_rmrf(dir);
    free(dir);
}

/* ---- default path -------------------------------------------------- */

struct saved_env {
    const char *name;
    char *value;
};

static void default_path(void **state)
{
    (void)state;
    struct saved_env env[] = {{"PEERLINK_TRUST", NULL},
                              {"PEERLINK_KEY", NULL},
                              {"XDG_CONFIG_HOME", NULL},
                              {"HOME", NULL}};
    for (size_t i = 0; i < 4; i++) {
        const char *v = getenv(env[i].name);
        env[i].value = v ? strdup(v) : NULL;
        unsetenv(env[i].name);
    }
    char out[PL_PATH_MAX];
    setenv("HOME", "/home/u", 1);

    /* $PEERLINK_TRUST wins over everything. */
    setenv("PEERLINK_TRUST", "/etc/peerlink/trust.list", 1);
    assert_int_equal(pl_trust_default_path("/k/identity", out, sizeof out), 24);
    assert_string_equal(out, "/etc/peerlink/trust.list");
    assert_int_equal(pl_trust_default_path(NULL, out, sizeof out), 24);
    /* Empty counts as unset: beside the identity path given. */
    setenv("PEERLINK_TRUST", "", 1);
    assert_int_equal(pl_trust_default_path("/k/identity", out, sizeof out), 8);
    assert_string_equal(out, "/k/trust");
    unsetenv("PEERLINK_TRUST");
    assert_int_equal(pl_trust_default_path("/a/b/my.key", out, sizeof out), 10);
    assert_string_equal(out, "/a/b/trust");
    assert_int_equal(pl_trust_default_path("/id", out, sizeof out), 6);
    assert_string_equal(out, "/trust");
    assert_int_equal(pl_trust_default_path("keys/id", out, sizeof out), 10);
    assert_string_equal(out, "keys/trust");
    assert_int_equal(pl_trust_default_path("id", out, sizeof out), 5);
    assert_string_equal(out, "trust");
    /* No identity path: beside pl_identity_default_path. */
    setenv("PEERLINK_KEY", "/srv/node/key", 1);
    assert_true(pl_trust_default_path(NULL, out, sizeof out) > 0);
    assert_string_equal(out, "/srv/node/trust");
    assert_true(pl_trust_default_path("", out, sizeof out) > 0);
    assert_string_equal(out, "/srv/node/trust");
    unsetenv("PEERLINK_KEY");
    setenv("XDG_CONFIG_HOME", "/xdg", 1);
    assert_true(pl_trust_default_path(NULL, out, sizeof out) > 0);
    assert_string_equal(out, "/xdg/peerlink/trust");
    unsetenv("XDG_CONFIG_HOME");
    assert_true(pl_trust_default_path(NULL, out, sizeof out) > 0);
    assert_string_equal(out, "/home/u/.config/peerlink/trust");
    /* The buffer must hold the path and its NUL. */
    assert_int_equal(pl_trust_default_path("/k/identity", out, 9), 8);
    assert_int_equal(pl_trust_default_path("/k/identity", out, 8), PL_ERR_BUFSIZE);
    assert_int_equal(pl_trust_default_path("/k/identity", NULL, 0), PL_ERR_INVAL);

    for (size_t i = 0; i < 4; i++) {
        if (env[i].value)
            setenv(env[i].name, env[i].value, 1);
        else
            unsetenv(env[i].name);
        free(env[i].value);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(round_trip),
        cmocka_unit_test(utc_known),
        cmocka_unit_test(deny_wins),
        cmocka_unit_test(expiry),
        cmocka_unit_test(groups),
        cmocka_unit_test(parse_errors),
        cmocka_unit_test(line_cap),
        cmocka_unit_test(file_and_entry_caps),
        cmocka_unit_test(set_in_place),
        cmocka_unit_test(remove_entries),
        cmocka_unit_test(index_model),
        cmocka_unit_test(truncated_prefixes),
        cmocka_unit_test(missing_final_newline),
        cmocka_unit_test(save_and_load),
        cmocka_unit_test(load_refuses_loose_files),
        cmocka_unit_test(save_failure_keeps_original),
        cmocka_unit_test(save_through_symlink),
        cmocka_unit_test(fifo_refused),
        cmocka_unit_test(default_path),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
