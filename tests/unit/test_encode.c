/* test_encode.c - base64url (RFC 4648 §10 vectors, strictness) and hex. */
#include "testutil.h"

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
    for (int e = 0; e >= PL_ERR_INTERNAL; e--)
        assert_string_not_equal(pl_strerror(e), "unknown error");
    assert_string_equal(pl_strerror(-999), "unknown error");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors),  cmocka_unit_test(url_alphabet_and_round_trip),
        cmocka_unit_test(strict_decoding),  cmocka_unit_test(hex),
        cmocka_unit_test(errors_have_text),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
