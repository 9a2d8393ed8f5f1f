/* test_encode.c - base64url (RFC 4648 §10 vectors, strictness) and hex. */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "peerlink.h"
#include "util/util.h"

static void rfc4648_vectors(void **state)
{
    (void)state;
    static const char *plain[] = {"", "f", "fo", "foo", "foob", "fooba", "foobar"};
    static const char *enc[] = {"", "Zg", "Zm8", "Zm9v", "Zm9vYg", "Zm9vYmE", "Zm9vYmFy"};
    for (size_t i = 0; i < 7; i++) {
        char out[16];
        uint8_t back[16];
        int n = pl_b64url_encode((const uint8_t *)plain[i], strlen(plain[i]), out, sizeof out);
        assert_int_equal(n, (int)strlen(enc[i]));
        assert_string_equal(out, enc[i]);
        assert_int_equal(PL_B64_LEN(strlen(plain[i])), strlen(enc[i]));
        n = pl_b64url_decode(enc[i], strlen(enc[i]), back, sizeof back);
        assert_int_equal(n, (int)strlen(plain[i]));
        assert_memory_equal(back, plain[i], (size_t)n);
    }
}

static void url_alphabet_and_round_trip(void **state)
{
    (void)state;
    uint8_t all[256], back[256];
    char out[400];
    for (int i = 0; i < 256; i++)
        all[i] = (uint8_t)i;
    for (size_t len = 0; len <= 256; len++) {
        int n = pl_b64url_encode(all + 256 - len, len, out, sizeof out);
        assert_int_equal(n, (int)PL_B64_LEN(len));
        assert_null(strpbrk(out, "+/="));
        assert_int_equal(pl_b64url_decode(out, (size_t)n, back, sizeof back), (int)len);
        assert_memory_equal(back, all + 256 - len, len);
    }
    const uint8_t fb[] = {0xfb, 0xff};
    assert_int_equal(pl_b64url_encode(fb, 2, out, sizeof out), 3);
    assert_string_equal(out, "-_8");
}

static void strict_decoding(void **state)
{
    (void)state;
    uint8_t out[8];
    assert_int_equal(pl_b64url_decode("Zg==", 4, out, sizeof out), PL_ERR_PARSE); /* padding */
    assert_int_equal(pl_b64url_decode("Zh", 2, out, sizeof out), PL_ERR_PARSE);   /* low bits */
    assert_int_equal(pl_b64url_decode("Z", 1, out, sizeof out), PL_ERR_PARSE);    /* length */
    assert_int_equal(pl_b64url_decode("Zm+v", 4, out, sizeof out), PL_ERR_PARSE);
    assert_int_equal(pl_b64url_decode("Zm9 ", 4, out, sizeof out), PL_ERR_PARSE);
    assert_int_equal(pl_b64url_decode("Zm9vYmFy", 8, out, 5), PL_ERR_BUFSIZE);
    char small[4];
    assert_int_equal(pl_b64url_encode((const uint8_t *)"foo", 3, small, 4), PL_ERR_BUFSIZE);
}

static void hex(void **state)
{
    (void)state;
    uint8_t in[3] = {0x00, 0xab, 0xff}, out[3];
    char text[7];
    pl_hex_encode(in, 3, text);
    assert_string_equal(text, "00abff");
    assert_int_equal(pl_hex_decode("00ABff", 6, out, 3), PL_OK);
    assert_memory_equal(in, out, 3);
    assert_int_equal(pl_hex_decode("00abf", 5, out, 3), PL_ERR_PARSE);
    assert_int_equal(pl_hex_decode("00abfg", 6, out, 3), PL_ERR_PARSE);
    assert_true(pl_is_graph_ascii("a~!", 3));
    assert_false(pl_is_graph_ascii("a b", 3));
    assert_false(pl_is_graph_ascii("a\x7f", 2));
    assert_false(pl_is_graph_ascii("\xc3\xa9", 2));
}

static void errors_have_text(void **state)
{
    (void)state;
    for (int e = 0; e >= PL_ERR_CLOSED; e--)
        assert_string_not_equal(pl_strerror(e), "unknown error");
    assert_string_equal(pl_strerror(-999), "unknown error");
}

static int log_calls;
static char log_last[64];

static void capture(void *user, enum pl_log_level level, const char *msg)
{
    (void)level;
    log_calls++;
    snprintf(log_last, sizeof log_last, "%s:%s", (const char *)user, msg);
}

/* The library never prints: messages reach the callback, filtered by level. */
static void log_callback(void **state)
{
    (void)state;
    pl_log(PL_LOG_ERROR, "dropped %d", 1); /* no callback: nothing happens */
    pl_set_log(capture, "u", PL_LOG_WARN);
    pl_log(PL_LOG_WARN, "kept %d", 2);
    assert_int_equal(log_calls, 1);
    assert_string_equal(log_last, "u:kept 2");
    pl_log(PL_LOG_DEBUG, "too verbose");
    assert_int_equal(log_calls, 1);
    pl_set_log(NULL, NULL, PL_LOG_DEBUG);
    pl_log(PL_LOG_ERROR, "off again");
    assert_int_equal(log_calls, 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors),  cmocka_unit_test(url_alphabet_and_round_trip),
        cmocka_unit_test(strict_decoding),  cmocka_unit_test(hex),
        cmocka_unit_test(errors_have_text), cmocka_unit_test(log_callback),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
