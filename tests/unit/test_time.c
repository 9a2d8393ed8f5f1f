/* test_time.c - RFC 3339 UTC instants (src/util/time.c). */
#define _GNU_SOURCE /* timegm, to compare with libc */
#include "testutil.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "peerlink.h"

/* Every day from 1970 to 2500 and random instants up to 9999: format
 * agrees with gmtime_r and parse inverts format. */
static void utc_against_libc(void **state)
{
    (void)state;
    char out[PL_TIME_LEN + 1], want[64];
    uint64_t x = 88172645463325252u;
    for (uint64_t i = 0; i < 200000; i++) {
        uint64_t t;
        if (i < 193000) {
            t = i * 86400 + (i * 7919) % 86400; /* one instant per day */
        } else {
            x ^= x << 13, x ^= x >> 7, x ^= x << 17;
            t = x % PL_TIME_MAX + 1;
        }
        if (t == 0)
            t = 1;
        time_t tt = (time_t)t;
        struct tm tm;
        assert_non_null(gmtime_r(&tt, &tm));
        snprintf(want, sizeof want, "%04d-%02d-%02dT%02d:%02d:%02dZ", tm.tm_year + 1900,
                 tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        assert_int_equal(pl_time_format(t, out, sizeof out), PL_TIME_LEN);
        assert_string_equal(out, want);
        uint64_t back = 0;
        const char *why = NULL;
        assert_int_equal(pl_time_parse(out, strlen(out), &back, &why), PL_OK);
        assert_int_equal(back, t);
        assert_int_equal((uint64_t)timegm(&tm), t);
    }
}

/* The edges of the range, and what is refused. */
static void edges_and_errors(void **state)
{
    (void)state;
    char out[PL_TIME_LEN + 1];
    uint64_t t = 1;
    const char *why = NULL;
    assert_int_equal(pl_time_format(0, out, sizeof out), PL_TIME_LEN);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
    assert_int_equal(pl_time_parse(out, PL_TIME_LEN, &t, &why), PL_OK);
    assert_int_equal(t, 0);
    assert_int_equal(pl_time_format(PL_TIME_MAX, out, sizeof out), PL_TIME_LEN);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
    assert_int_equal(pl_time_format(PL_TIME_MAX + 1, out, sizeof out), PL_ERR_INVAL);
    assert_int_equal(pl_time_format(0, out, PL_TIME_LEN), PL_ERR_BUFSIZE);
    static const char *bad[] = {
        "1969-12-31T23:59:59Z",      "2026-02-29T00:00:00Z", "2024-13-01T00:00:00Z",
        "2024-01-01T24:00:00Z",      "2024-01-01T00:60:00Z", "2024-01-01T00:00:60Z",
        "2024-01-01T00:00:00+00:00", "2024-01-01 00:00:00Z", "2024-01-01t00:00:00z",
        "2024-01-01T00:00:00.5Z",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why = NULL;
        assert_int_equal(pl_time_parse(bad[i], strlen(bad[i]), &t, &why), PL_ERR_PARSE);
        assert_non_null(why);
    }
    assert_int_equal(pl_time_parse("2024-02-29T12:00:00Z", 20, &t, NULL), PL_OK);
    assert_int_equal(t, 1709208000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utc_against_libc),
        cmocka_unit_test(edges_and_errors),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
