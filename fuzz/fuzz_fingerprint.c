/*
 * fuzz_fingerprint.c - the ni URI parser. A parsed fingerprint must format
 * back to text that parses to the same value and formats identically, and
 * the derived forms must never overrun their buffers.
 */
#include <stdlib.h>
#include <string.h>

#include "peerlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    pl_fingerprint fp, again;
    char text[PL_FINGERPRINT_STR_MAX], text2[PL_FINGERPRINT_STR_MAX];
    char dns[PL_DNS_NAME_MAX], url[PL_URL_MAX];
    const char *why = NULL;
    if (pl_fingerprint_parse(&fp, (const char *)data, size, &why) != PL_OK) {
        if (!why)
            abort(); /* every rejection explains itself */
        return 0;
    }
    int n = pl_fingerprint_format(&fp, text, sizeof text);
    if (n < 0 || pl_fingerprint_parse(&again, text, (size_t)n, &why) != PL_OK ||
        !pl_fingerprint_equal(&fp, &again) || strcmp(fp.authority, again.authority) != 0)
        abort();
    if (pl_fingerprint_format(&again, text2, sizeof text2) != n || memcmp(text, text2, (size_t)n))
        abort();
    int d = pl_fingerprint_dns_name(&fp, dns, sizeof dns);
    if (d > 253 || (d >= 0 && strlen(dns) != (size_t)d))
        abort();
    int u = pl_fingerprint_well_known_url(&fp, url, sizeof url);
    if (u >= 0 && strlen(url) != (size_t)u)
        abort();
    return 0;
}
