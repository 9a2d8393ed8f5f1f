/*
 * fuzz_dir_dns.c - the directory's DNS responder (src/directory/dns.c):
 * query bytes in, response bytes out, over UDP and over TCP.
 *
 * The zone is dir.example.org and the store holds one record set (key of
 * seed 1, signed at a fixed time), so queries can reach every kind of
 * answer. Every response must parse, be a response to the query's ID, and
 * respect the size limit of its transport; and the answer a responder with
 * a cache of answers gives must be byte for byte the one built afresh.
 */
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "directory/directory.h"
#include "peerlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000u

static pl_dir_dns *dns, *fresh;
static pl_dir_store *store;
static uint8_t out[PL_DIR_DNS_MSG_MAX], out2[PL_DIR_DNS_MSG_MAX];

static void setup(void)
{
    uint8_t seed[PL_ED25519_SEED_LEN] = {1};
    static uint8_t blob[PL_RECORD_BLOB_MAX];
    static char json[PL_RECORD_JSON_MAX + 1];
    pl_dir_dns_config c;
    pl_identity *id = NULL;
    pl_fingerprint fp;
    pl_record rs;
    int n;
    memset(&c, 0, sizeof c);
    c.zone = "dir.example.org";
    c.serial = 1;
    pl_record_init(&rs);
    memset(blob, 'b', sizeof blob);
    if (pl_init() != PL_OK || pl_dir_dns_new(&dns, &c, NULL) != PL_OK)
        abort();
    c.no_cache = 1;
    if (pl_dir_dns_new(&fresh, &c, NULL) != PL_OK ||
        pl_dir_store_open(&store, ":memory:", NULL) != PL_OK ||
        pl_identity_from_seed(&id, seed) != PL_OK ||
        pl_record_add_address(&rs, "udp://192.0.2.1:7000", NULL) != PL_OK ||
        pl_record_add_blob(&rs, blob, sizeof blob) != PL_OK ||
        pl_record_sign(&rs, id, NOW, 3600) != PL_OK)
        abort();
    pl_identity_fingerprint(id, &fp);
    pl_identity_free(id);
    n = pl_record_to_json(&rs, json, sizeof json);
    if (n < 0 || pl_dir_store_put(store, fp.digest, json, (size_t)n, NOW, 300, NULL, NULL) != PL_OK)
        abort();
}

static void check(const uint8_t *q, size_t qlen, int tcp)
{
    int n = pl_dir_dns_answer(dns, store, q, qlen, tcp, NOW, out, sizeof out);
    int n2 = pl_dir_dns_answer(fresh, store, q, qlen, tcp, NOW, out2, sizeof out2);
    ldns_pkt *r = NULL;
    if (n < 0 || n != n2 || memcmp(out, out2, (size_t)n) != 0)
        abort();
    if (n == 0)
        return;
    if (!tcp && n > PL_DIR_DNS_UDP_MAX)
        abort();
    if (!tcp && n > PL_DIR_DNS_UDP_MIN) {
        /* more than 512 only for a query that offered more with EDNS0 */
        ldns_pkt *p = NULL;
        if (ldns_wire2pkt(&p, q, qlen) != LDNS_STATUS_OK || (size_t)n > ldns_pkt_edns_udp_size(p))
            abort();
        ldns_pkt_free(p);
    }
    if (ldns_wire2pkt(&r, out, (size_t)n) != LDNS_STATUS_OK || !ldns_pkt_qr(r) ||
        ldns_pkt_id(r) != (uint16_t)(q[0] << 8 | q[1]))
        abort();
    ldns_pkt_free(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!dns)
        setup();
    check(data, size, 0);
    check(data, size, 1);
    check(data, size, 0); /* again: now from the cache */
    return 0;
}
