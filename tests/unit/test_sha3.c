/*
 * test_sha3.c - SHA3-256 known answers: the NIST CAVS ShortMsg and LongMsg
 * files shipped by Debian's python3-cryptography-vectors.
 */
#include "testutil.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

#define NIST_DIR "/usr/lib/python3/dist-packages/cryptography_vectors/hashes/SHA3/"

/* Runs every "Len/Msg/MD" triple of one .rsp file; returns the count. */
static size_t run_rsp(const char *name)
{
    char path[512];
    snprintf(path, sizeof path, "%s%s", NIST_DIR, name);
    size_t len;
    char *text = tu_read_file(path, &len);
    size_t count = 0;
    long bits = -1;
    uint8_t *msg = NULL;
    size_t mlen = 0;
    for (char *line = text, *next; line && *line; line = next) {
        next = strchr(line, '\n');
        if (next)
            *next++ = 0;
        size_t l = strlen(line);
        if (l && line[l - 1] == '\r')
            line[--l] = 0;
        if (strncmp(line, "Len = ", 6) == 0) {
            bits = strtol(line + 6, NULL, 10);
        } else if (strncmp(line, "Msg = ", 6) == 0) {
            free(msg);
            msg = malloc(l / 2 + 1);
            assert_non_null(msg);
            mlen = tu_unhex(line + 6, msg, l / 2 + 1);
        } else if (strncmp(line, "MD = ", 5) == 0) {
            uint8_t want[32], got[32];
            assert_int_equal(tu_unhex(line + 5, want, sizeof want), 32);
            assert_true(bits >= 0 && bits % 8 == 0);
            assert_int_equal(pl_sha3_256(msg, (size_t)bits / 8, got), PL_OK);
            assert_true((size_t)bits / 8 <= mlen);
            assert_memory_equal(got, want, 32);
            count++;
        }
    }
    free(msg);
    free(text);
    return count;
}

static void short_msg(void **state)
{
    (void)state;
    assert_true(run_rsp("SHA3_256ShortMsg.rsp") >= 100);
}

static void long_msg(void **state)
{
    (void)state;
    assert_true(run_rsp("SHA3_256LongMsg.rsp") >= 100);
}

/* FIPS 202 example: SHA3-256("abc"). */
static void abc(void **state)
{
    (void)state;
    uint8_t want[32], got[32];
    tu_unhex("3a985da74fe225b2045c172d6bd390bd855f086e3e9d525b46bfe24511431532", want, 32);
    assert_int_equal(pl_sha3_256("abc", 3, got), PL_OK);
    assert_memory_equal(got, want, 32);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(short_msg),
        cmocka_unit_test(long_msg),
        cmocka_unit_test(abc),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
