/*
 * test_fingerprint.c - fingerprints (DESIGN.md §2.1).
 *
 * The expected values were computed independently of this code, twice:
 * with Python's `cryptography` (DER SubjectPublicKeyInfo from the raw key)
 * plus hashlib.sha3_256 and base64.urlsafe_b64encode, and with the OpenSSL
 * command line:
 *   openssl pkey -inform DER -in <pkcs8 of the seed> -pubout -outform DER |
 *     openssl dgst -sha3-256 -binary | basenc --base64url | tr -d =
 * The keys are RFC 8032 §7.1 TEST 1 and TEST 2, and the all-zero seed.
 */
#include "testutil.h"

#include <stdio.h>
#include <string.h>

#include "peerlink.h"

static const struct {
    const char *pk_hex;
    const char *b64;
    const char *hex;
} kat[] = {
    {"d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a",
     "OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0",
     "39ba09856e81304ec43ff48cef3207ea33c2244b3b6388e4adc2b600f0c690cd"},
    {"3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c",
     "WvqCzN75_NTBjw6wyaIS2E24pLg8u3K_9bTjhcdbFIM",
     "5afa82ccdef9fcd4c18f0eb0c9a212d84db8a4b83cbb72bff5b4e385c75b1483"},
    {"3b6a27bcceb6a42d62a3a8d02a6f0d73653215771de243a63ac048a18b59da29",
     "6nV71fmWwwZ55RSDy9yZBx6IJo6DQT-yqhvgqHz0gIQ",
     "ea757bd5f996c30679e51483cbdc99071e88268e83413fb2aa1be0a87cf48084"},
};

static void known_answers(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof kat / sizeof kat[0]; i++) {
        uint8_t pk[32];
        pl_fingerprint fp;
        char text[PL_FINGERPRINT_STR_MAX], want[PL_FINGERPRINT_STR_MAX];
        tu_unhex(kat[i].pk_hex, pk, sizeof pk);
        assert_int_equal(pl_fingerprint_from_key(&fp, pk, NULL), PL_OK);
        snprintf(want, sizeof want, "ni:///sha3-256;%s", kat[i].b64);
        assert_int_equal(pl_fingerprint_format(&fp, text, sizeof text), (int)strlen(want));
        assert_string_equal(text, want);

        char dns[PL_DNS_NAME_MAX], url[PL_URL_MAX];
        assert_int_equal(pl_fingerprint_set_authority(&fp, "Dir.Example.org:8443", NULL), PL_OK);
        assert_true(pl_fingerprint_dns_name(&fp, dns, sizeof dns) > 0);
        snprintf(want, sizeof want, "%.32s.%.32s.0a.dir.example.org", kat[i].hex, kat[i].hex + 32);
        assert_string_equal(dns, want);
        assert_true(pl_fingerprint_well_known_url(&fp, url, sizeof url) > 0);
        snprintf(want, sizeof want, "https://Dir.Example.org:8443/.well-known/ni/sha3-256/%s",
                 kat[i].b64);
        assert_string_equal(url, want);
    }
}

static void parse_format_round_trip(void **state)
{
    (void)state;
    static const char *good[] = {
        "ni:///sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0",
        "ni://example.org/sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0",
        "ni://dir.example.org:7000/sha3-256;WvqCzN75_NTBjw6wyaIS2E24pLg8u3K_9bTjhcdbFIM",
        "ni://192.0.2.7:80/sha3-256;WvqCzN75_NTBjw6wyaIS2E24pLg8u3K_9bTjhcdbFIM",
        "ni://[2001:db8::1]:443/sha3-256;6nV71fmWwwZ55RSDy9yZBx6IJo6DQT-yqhvgqHz0gIQ",
        "ni://localhost/sha3-256;6nV71fmWwwZ55RSDy9yZBx6IJo6DQT-yqhvgqHz0gIQ",
    };
    for (size_t i = 0; i < sizeof good / sizeof good[0]; i++) {
        pl_fingerprint fp;
        char out[PL_FINGERPRINT_STR_MAX];
        const char *why = NULL;
        assert_int_equal(pl_fingerprint_parse(&fp, good[i], strlen(good[i]), &why), PL_OK);
        assert_int_equal(pl_fingerprint_format(&fp, out, sizeof out), (int)strlen(good[i]));
        assert_string_equal(out, good[i]);
        /* every truncated prefix is rejected, with a reason */
        for (size_t n = 0; n < strlen(good[i]); n++) {
            why = NULL;
            assert_int_not_equal(pl_fingerprint_parse(&fp, good[i], n, &why), PL_OK);
            assert_non_null(why);
        }
    }
}

static void malformed(void **state)
{
    (void)state;
    static const struct {
        const char *in;
        const char *why_contains;
    } bad[] = {
        {"", "starts with"},
        {"http://example.org/sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "starts with"},
        {"ni:sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "starts with"},
        {"ni:///sha-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "sha3-256"},
        {"ni:///sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0=", "padding"},
        {"ni:///sha3-256;OboJhW6BME7EP/SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "'/'"},
        {"ni:///sha3-256;OboJhW6BME7EP+SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "base64url"},
        {"ni:///sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM", "43"},
        {"ni:///sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0A", "43"},
        {"ni:///sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM1", "base64url"},
        {"ni:///sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0?ct=x", "query"},
        {"ni:///sha3-256 OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "';'"},
        {"ni://user@host/sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "user"},
        {"ni://ex ample/sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "DNS name"},
        {"ni://-bad.org/sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "DNS name"},
        {"ni://host:0/sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "port"},
        {"ni://host:65536/sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "port"},
        {"ni://host:08/sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "port"},
        {"ni://[::g]/sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "IPv6"},
        {"ni://1.2.3/sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0", "DNS name"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        pl_fingerprint fp;
        const char *why = NULL;
        int rc = pl_fingerprint_parse(&fp, bad[i].in, strlen(bad[i].in), &why);
        if (rc == PL_OK || !why || !strstr(why, bad[i].why_contains))
            fail_msg("\"%s\": rc %d, why \"%s\" (wanted \"%s\")", bad[i].in, rc,
                     why ? why : "(null)", bad[i].why_contains);
    }
    /* A NUL inside the text is never silently accepted. */
    char withnul[] = "ni:///sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0";
    withnul[20] = 0;
    pl_fingerprint fp;
    assert_int_not_equal(pl_fingerprint_parse(&fp, withnul, sizeof withnul - 1, NULL), PL_OK);
}

static void equality_ignores_authority(void **state)
{
    (void)state;
    pl_fingerprint a, b, c;
    const char *s1 = "ni://a.example/sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0";
    const char *s2 = "ni:///sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0";
    const char *s3 = "ni://a.example/sha3-256;WvqCzN75_NTBjw6wyaIS2E24pLg8u3K_9bTjhcdbFIM";
    assert_int_equal(pl_fingerprint_parse(&a, s1, strlen(s1), NULL), PL_OK);
    assert_int_equal(pl_fingerprint_parse(&b, s2, strlen(s2), NULL), PL_OK);
    assert_int_equal(pl_fingerprint_parse(&c, s3, strlen(s3), NULL), PL_OK);
    assert_true(pl_fingerprint_equal(&a, &b));
    assert_false(pl_fingerprint_equal(&a, &c));
}

static void derived_forms_need_authority(void **state)
{
    (void)state;
    pl_fingerprint fp;
    char buf[PL_URL_MAX];
    const char *s = "ni:///sha3-256;OboJhW6BME7EP_SM7zIH6jPCJEs7Y4jkrcK2APDGkM0";
    assert_int_equal(pl_fingerprint_parse(&fp, s, strlen(s), NULL), PL_OK);
    assert_int_equal(pl_fingerprint_dns_name(&fp, buf, sizeof buf), PL_ERR_INVAL);
    assert_int_equal(pl_fingerprint_well_known_url(&fp, buf, sizeof buf), PL_ERR_INVAL);
    /* an address literal has no DNS name form */
    assert_int_equal(pl_fingerprint_set_authority(&fp, "192.0.2.1", NULL), PL_OK);
    assert_int_equal(pl_fingerprint_dns_name(&fp, buf, sizeof buf), PL_ERR_INVAL);
    assert_true(pl_fingerprint_well_known_url(&fp, buf, sizeof buf) > 0);
    /* too long for a DNS name once the 69-byte prefix is added */
    char host[200];
    memset(host, 'a', sizeof host);
    for (int i = 50; i < 199; i += 51)
        host[i] = '.';
    host[199] = 0;
    assert_int_equal(pl_fingerprint_set_authority(&fp, host, NULL), PL_OK);
    assert_int_equal(pl_fingerprint_dns_name(&fp, buf, sizeof buf), PL_ERR_TOOBIG);
    /* small buffers are reported, never overrun */
    assert_int_equal(pl_fingerprint_set_authority(&fp, "example.org", NULL), PL_OK);
    assert_int_equal(pl_fingerprint_format(&fp, buf, 10), PL_ERR_BUFSIZE);
    assert_int_equal(pl_fingerprint_dns_name(&fp, buf, 10), PL_ERR_BUFSIZE);
    assert_int_equal(pl_fingerprint_well_known_url(&fp, buf, 10), PL_ERR_BUFSIZE);
    assert_int_equal(pl_fingerprint_set_authority(&fp, "bad host", NULL), PL_ERR_PARSE);
}

int main(void)
{
    if (pl_init() != PL_OK)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(known_answers),
        cmocka_unit_test(parse_format_round_trip),
        cmocka_unit_test(malformed),
        cmocka_unit_test(equality_ignores_authority),
        cmocka_unit_test(derived_forms_need_authority),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
