/*
 * test_discovery.c - the directory client (src/discovery/).
 *
 * Without a network: the judging of HTTP bodies and DNS answers (check.c)
 * on record sets signed here from fixed seeds at fixed times, DNS answers
 * built with ldns, and a directory's error replies. Over loopback, against
 * servers this test starts: the python3 directory of the tool tests
 * (tests/tool/helpers/dirserver.py) for pl_announce and pl_discover over
 * HTTP, and a forked DNS responder (UDP answers truncated, TCP answers
 * whole) for the TCP retry of pl_discover over DNS. Every child is killed
 * and reaped; each waits at most a few seconds.
 */
#define _GNU_SOURCE /* memmem */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ldns/ldns.h>

#include "discovery/discovery_int.h"
#include "peerlink.h"

#define NOW  1700000000u
#define TTL  3600u
#define SKEW PL_RECORD_SKEW_DEFAULT
#define ZONE "dir.example.org"

static pl_identity *ident(uint8_t fill)
{
    uint8_t seed[PL_ED25519_SEED_LEN];
    pl_identity *id = NULL;
    memset(seed, fill, sizeof seed);
    assert_int_equal(pl_identity_from_seed(&id, seed), PL_OK);
    return id;
}

static void key_fp(uint8_t fill, pl_fingerprint *fp)
{
    pl_identity *id = ident(fill);
    pl_identity_fingerprint(id, fp);
    assert_int_equal(pl_fingerprint_set_authority(fp, ZONE, NULL), PL_OK);
    pl_identity_free(id);
}

/* A set by seed `fill`, signed at `at`, with one address. */
static pl_record *make_set(uint8_t fill, uint64_t at, uint32_t ttl, const char *address)
{
    pl_record *rs = malloc(sizeof *rs);
    pl_identity *id = ident(fill);
    const char *addrs[1] = {address};
    pl_record_fields f;
    assert_non_null(rs);
    memset(&f, 0, sizeof f);
    f.addresses = addrs;
    f.n_addresses = address ? 1 : 0;
    assert_int_equal(pl_record_build(rs, id, &f, at, ttl, NULL), PL_OK);
    pl_identity_free(id);
    return rs;
}

static pl_disc_check check_for(const pl_fingerprint *fp, uint64_t now)
{
    pl_disc_check c = {fp, now, SKEW, 0};
    return c;
}

/* ---- pl_record_build ------------------------------------------------------ */

static void build_fields_in_order(void **state)
{
    static const char *const addrs[] = {"udp://198.51.100.4:7000", "tcp://[2001:db8::1]:7001"};
    static const char *const names[] = {"alice@" ZONE};
    static const uint8_t b0[] = {1, 2, 3};
    const uint8_t *blobs[] = {b0, b0};
    size_t lens[] = {sizeof b0, 0};
    char relay[PL_FINGERPRINT_STR_MAX];
    const char *relays[1] = {relay};
    pl_fingerprint rfp, fp;
    pl_record_fields f = {addrs, 2, relays, 1, names, 1, blobs, lens, 2};
    pl_record rs;
    pl_identity *id = ident(1);
    pl_disc_check c;
    const char *why = NULL;
    (void)state;
    key_fp(0x42, &rfp);
    assert_true(pl_fingerprint_format(&rfp, relay, sizeof relay) > 0);
    assert_int_equal(pl_record_build(&rs, id, &f, NOW, TTL, &why), PL_OK);
    assert_int_equal(rs.timestamp, NOW);
    assert_int_equal(rs.ttl, TTL);
    assert_int_equal(rs.n_addresses, 2);
    assert_string_equal(rs.addresses[1], addrs[1]);
    assert_string_equal(rs.relays[0], relay);
    assert_string_equal(rs.names[0], names[0]);
    assert_int_equal(rs.n_blobs, 2);
    assert_int_equal(rs.blobs[1].len, 0);
    key_fp(1, &fp);
    c = check_for(&fp, NOW);
    assert_int_equal(pl_disc_verify(&rs, &c, NULL, 0), PL_OK);

    /* a bad field: refused with a reason, nothing signed */
    {
        const char *bad[] = {"no scheme"};
        pl_record_fields g = {bad, 1, NULL, 0, NULL, 0, NULL, NULL, 0};
        why = NULL;
        assert_int_equal(pl_record_build(&rs, id, &g, NOW, TTL, &why), PL_ERR_PARSE);
        assert_non_null(why);
        assert_int_equal(rs.n_addresses, 0);
        const char *badrelay[] = {"ni:///sha3-256;short"};
        pl_record_fields h = {NULL, 0, badrelay, 1, NULL, 0, NULL, NULL, 0};
        why = NULL;
        assert_int_not_equal(pl_record_build(&rs, id, &h, NOW, TTL, &why), PL_OK);
        assert_non_null(why);
        pl_record_fields none = {NULL, 0, NULL, 0, NULL, 0, NULL, NULL, 0};
        assert_int_equal(pl_record_build(&rs, id, &none, NOW, 0, &why), PL_ERR_INVAL);
        assert_int_equal(pl_record_build(&rs, id, &none, NOW, PL_RECORD_TTL_MAX + 1, &why),
                         PL_ERR_INVAL);
        assert_int_equal(pl_record_build(&rs, NULL, &none, NOW, TTL, &why), PL_ERR_INVAL);
    }
    pl_identity_free(id);
}

/* ---- pl_disc_verify: each refusal names its check ------------------------- */

static void verify_explains(void **state)
{
    pl_fingerprint fp, other;
    pl_record *rs = make_set(1, NOW, TTL, "udp://198.51.100.4:7000");
    pl_disc_check c;
    char why[PL_DISCOVERY_WHY_MAX];
    (void)state;
    key_fp(1, &fp);
    key_fp(2, &other);

    c = check_for(&fp, NOW);
    assert_int_equal(pl_disc_verify(rs, &c, why, sizeof why), PL_OK);

    c = check_for(&other, NOW);
    assert_int_equal(pl_disc_verify(rs, &c, why, sizeof why), PL_ERR_AUTH);
    assert_non_null(strstr(why, "signed by another key (ni:///sha3-256;"));

    c = check_for(&fp, NOW);
    rs->addresses[0][14] ^= 1; /* one byte, still a valid address */
    assert_int_equal(pl_disc_verify(rs, &c, why, sizeof why), PL_ERR_AUTH);
    assert_non_null(strstr(why, "the signature does not verify"));
    rs->addresses[0][14] ^= 1;

    c = check_for(&fp, NOW - SKEW - 1);
    assert_int_equal(pl_disc_verify(rs, &c, why, sizeof why), PL_ERR_FUTURE);
    assert_non_null(
        strstr(why, "dated in the future: signed at 2023-11-14T22:13:20Z, 301 seconds"));
    c = check_for(&fp, NOW - SKEW);
    assert_int_equal(pl_disc_verify(rs, &c, why, sizeof why), PL_OK);

    c = check_for(&fp, NOW + TTL);
    assert_int_equal(pl_disc_verify(rs, &c, why, sizeof why), PL_ERR_EXPIRED);
    assert_non_null(strstr(why, "expired at 2023-11-14T23:13:20Z, 0 seconds ago"));

    c = check_for(&fp, NOW);
    c.min_timestamp = NOW + 1;
    assert_int_equal(pl_disc_verify(rs, &c, why, sizeof why), PL_ERR_EXPIRED);
    assert_non_null(strstr(why, "older than one already seen"));
    c.min_timestamp = NOW;
    assert_int_equal(pl_disc_verify(rs, &c, why, sizeof why), PL_OK);

    rs->ttl = 0;
    assert_int_equal(pl_disc_verify(rs, &c, why, sizeof why), PL_ERR_INVAL);
    assert_int_equal(pl_disc_verify(NULL, &c, why, sizeof why), PL_ERR_INVAL);
    free(rs);
}

/* ---- HTTP bodies -------------------------------------------------------- */

static void json_bodies(void **state)
{
    pl_fingerprint fp;
    pl_record *rs = make_set(1, NOW, TTL, "udp://198.51.100.4:7000");
    pl_record got;
    pl_disc_check c;
    char json[PL_RECORD_JSON_MAX + 1], why[PL_DISCOVERY_WHY_MAX];
    char *big;
    int n;
    (void)state;
    key_fp(1, &fp);
    c = check_for(&fp, NOW);
    n = pl_record_to_json(rs, json, sizeof json);
    assert_true(n > 0);
    assert_int_equal(pl_disc_check_json(json, (size_t)n, &c, &got, why, sizeof why), PL_OK);
    assert_string_equal(got.addresses[0], "udp://198.51.100.4:7000");

    /* every single-byte change is refused, none crashes */
    for (int i = 0; i < n; i++) {
        char saved = json[i];
        json[i] = (char)(json[i] == 'A' ? 'B' : 'A');
        int rc = pl_disc_check_json(json, (size_t)n, &c, &got, why, sizeof why);
        json[i] = saved;
        if (rc == PL_OK) /* a byte that does not matter: whitespace-free JSON has none */
            fail_msg("a change at byte %d was accepted", i);
        assert_int_equal(got.n_addresses, 0); /* nothing half-kept */
    }
    /* every truncation is refused */
    for (int len = 0; len < n; len++)
        assert_int_not_equal(pl_disc_check_json(json, (size_t)len, &c, &got, why, sizeof why),
                             PL_OK);

    assert_int_equal(pl_disc_check_json("hello", 5, &c, &got, why, sizeof why), PL_ERR_PARSE);
    assert_non_null(strstr(why, "the reply is not a record set"));
    big = malloc(PL_RECORD_JSON_MAX + 2);
    assert_non_null(big);
    memset(big, ' ', PL_RECORD_JSON_MAX + 1);
    assert_int_equal(pl_disc_check_json(big, PL_RECORD_JSON_MAX + 1, &c, &got, why, sizeof why),
                     PL_ERR_TOOBIG);
    free(big);
    free(rs);
}

static void server_reasons(void **state)
{
    char out[256];
    (void)state;
    assert_int_equal(
        pl_disc_server_reason("{\"error\":\"rollback\",\"reason\":\"older\"}", 37, out, sizeof out),
        strlen("rollback: older"));
    assert_string_equal(out, "rollback: older");
    pl_disc_server_reason("{\"reason\":\"only\"}", 17, out, sizeof out);
    assert_string_equal(out, "only");
    pl_disc_server_reason("{\"error\":\"a\\u0007b\"}", 20, out, sizeof out);
    assert_string_equal(out, "a?b");
    pl_disc_server_reason("Bad Gateway\r\n<html>", 19, out, sizeof out);
    assert_string_equal(out, "Bad Gateway");
    assert_int_equal(pl_disc_server_reason("", 0, out, sizeof out), 0);
    assert_string_equal(out, "");
    assert_int_equal(pl_disc_server_reason("{\"error\":5}", 11, out, sizeof out), 0);
    /* long: cut to 200 bytes; small buffers: cut, NUL-terminated */
    char longtext[1000];
    memset(longtext, 'x', sizeof longtext);
    assert_int_equal(pl_disc_server_reason(longtext, sizeof longtext, out, sizeof out), 200);
    assert_int_equal(pl_disc_server_reason(longtext, sizeof longtext, out, 8), 7);
    assert_int_equal(strlen(out), 7);
}

/* ---- DNS answers, built with ldns --------------------------------------------- */

static char qname[PL_DNS_NAME_MAX];

/* An answer to "TXT qname?" with the given RDATAs (each a TXT RR owned by
 * owner, or qname when NULL). */
static uint8_t *answer_wire(uint16_t id, ldns_pkt_rcode rcode, int tc, const char *owner,
                            uint8_t *const *rdatas, const size_t *lens, size_t n, size_t *size)
{
    ldns_pkt *p = ldns_pkt_new();
    ldns_rr *q = ldns_rr_new();
    ldns_rdf *qn = NULL;
    uint8_t *wire = NULL;
    assert_non_null(p);
    assert_int_equal(ldns_str2rdf_dname(&qn, qname), LDNS_STATUS_OK);
    ldns_pkt_set_id(p, id);
    ldns_pkt_set_qr(p, true);
    ldns_pkt_set_aa(p, true);
    ldns_pkt_set_tc(p, tc);
    ldns_pkt_set_rcode(p, (uint8_t)rcode);
    ldns_rr_set_owner(q, qn);
    ldns_rr_set_type(q, LDNS_RR_TYPE_TXT);
    ldns_rr_set_class(q, LDNS_RR_CLASS_IN);
    ldns_rr_set_question(q, true);
    assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_QUESTION, q));
    for (size_t i = 0; i < n; i++) {
        ldns_rr *rr = ldns_rr_new();
        ldns_rdf *o = NULL;
        assert_int_equal(ldns_str2rdf_dname(&o, owner ? owner : qname), LDNS_STATUS_OK);
        ldns_rr_set_owner(rr, o);
        ldns_rr_set_type(rr, LDNS_RR_TYPE_TXT);
        ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
        ldns_rr_set_ttl(rr, 60);
        for (size_t k = 0; k < lens[i];) {
            size_t sl = 1 + rdatas[i][k];
            assert_true(sl <= lens[i] - k);
            assert_true(
                ldns_rr_push_rdf(rr, ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, sl, rdatas[i] + k)));
            k += sl;
        }
        assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, rr));
    }
    assert_int_equal(ldns_pkt2wire(&wire, p, size), LDNS_STATUS_OK);
    ldns_pkt_free(p);
    return wire;
}

static uint8_t *txt_of(const pl_record *rs, size_t *len)
{
    uint8_t *t = malloc(PL_RECORD_TXT_MAX);
    int n;
    assert_non_null(t);
    n = pl_record_to_txt(rs, t, PL_RECORD_TXT_MAX);
    assert_true(n > 0);
    *len = (size_t)n;
    return t;
}

static int judge(const uint8_t *wire, size_t size, const pl_disc_check *c, pl_record *got,
                 char *why)
{
    return pl_disc_check_dns_wire(wire, size, qname, c, got, why, PL_DISCOVERY_WHY_MAX);
}

static void dns_answers(void **state)
{
    pl_fingerprint fp;
    pl_record *old = make_set(1, NOW - 600, TTL, "udp://198.51.100.1:1");
    pl_record *new = make_set(1, NOW - 60, TTL, "udp://198.51.100.2:2");
    pl_record *foreign = make_set(2, NOW, TTL, "udp://198.51.100.3:3");
    pl_record *got = malloc(sizeof *got);
    uint8_t *rd[4];
    size_t lens[4], size;
    uint8_t *wire;
    pl_disc_check c;
    char why[PL_DISCOVERY_WHY_MAX];
    (void)state;
    assert_non_null(got);
    key_fp(1, &fp);
    assert_true(pl_fingerprint_dns_name(&fp, qname, sizeof qname) > 0);
    c = check_for(&fp, NOW);
    rd[0] = txt_of(old, &lens[0]);
    rd[1] = txt_of(foreign, &lens[1]);
    rd[2] = txt_of(new, &lens[2]);

    /* one set: verified */
    wire = answer_wire(1, LDNS_RCODE_NOERROR, 0, NULL, rd, lens, 1, &size);
    assert_int_equal(judge(wire, size, &c, got, why), PL_OK);
    assert_int_equal(got->timestamp, NOW - 600);
    /* every truncation of the message is refused without a crash */
    for (size_t len = 0; len < size; len++)
        assert_int_not_equal(judge(wire, len, &c, got, why), PL_OK);
    free(wire);

    /* old, foreign, new: the newest that verifies */
    wire = answer_wire(1, LDNS_RCODE_NOERROR, 0, NULL, rd, lens, 3, &size);
    assert_int_equal(judge(wire, size, &c, got, why), PL_OK);
    assert_int_equal(got->timestamp, NOW - 60);
    assert_string_equal(got->addresses[0], "udp://198.51.100.2:2");
    /* ... unless the newest is older than one seen */
    c.min_timestamp = NOW - 30;
    assert_int_equal(judge(wire, size, &c, got, why), PL_ERR_EXPIRED);
    assert_non_null(strstr(why, "none of the 3 TXT records verifies; the first: the record set "
                                "is older than one already seen"));
    c.min_timestamp = 0;
    free(wire);

    /* only the foreign set */
    wire = answer_wire(1, LDNS_RCODE_NOERROR, 0, NULL, rd + 1, lens + 1, 1, &size);
    assert_int_equal(judge(wire, size, &c, got, why), PL_ERR_AUTH);
    assert_non_null(strstr(why, "signed by another key"));
    assert_int_equal(got->n_addresses, 0);
    free(wire);

    /* one byte of the RDATA changed */
    memcpy(rd[3] = malloc(lens[0]), rd[0], lens[0]);
    lens[3] = lens[0];
    {
        uint8_t *hit = memmem(rd[3], lens[3], "198.51.100.1", 12);
        assert_non_null(hit);
        hit[11] = '7';
    }
    wire = answer_wire(1, LDNS_RCODE_NOERROR, 0, NULL, rd + 3, lens + 3, 1, &size);
    assert_int_equal(judge(wire, size, &c, got, why), PL_ERR_AUTH);
    assert_non_null(strstr(why, "the signature does not verify"));
    free(wire);
    assert_int_equal(rd[3][5], '1');
    rd[3][5] = '2'; /* "v=pl2": a version this client does not know */
    wire = answer_wire(1, LDNS_RCODE_NOERROR, 0, NULL, rd + 3, lens + 3, 1, &size);
    assert_int_equal(judge(wire, size, &c, got, why), PL_ERR_VERSION);
    assert_non_null(strstr(why, "a TXT record is not a record set"));
    free(wire);

    /* owned by another name: not an answer */
    wire = answer_wire(1, LDNS_RCODE_NOERROR, 0, "other." ZONE, rd, lens, 1, &size);
    assert_int_equal(judge(wire, size, &c, got, why), PL_ERR_NOTFOUND);
    assert_non_null(strstr(why, "no TXT record"));
    free(wire);

    /* rcodes, truncation, garbage */
    wire = answer_wire(1, LDNS_RCODE_NXDOMAIN, 0, NULL, rd, lens, 0, &size);
    assert_int_equal(judge(wire, size, &c, got, why), PL_ERR_NOTFOUND);
    assert_non_null(strstr(why, "NXDOMAIN"));
    free(wire);
    wire = answer_wire(1, LDNS_RCODE_SERVFAIL, 0, NULL, rd, lens, 0, &size);
    assert_int_equal(judge(wire, size, &c, got, why), PL_ERR_IO);
    assert_non_null(strstr(why, "SERVFAIL"));
    free(wire);
    wire = answer_wire(1, LDNS_RCODE_NOERROR, 1, NULL, rd, lens, 0, &size);
    assert_int_equal(judge(wire, size, &c, got, why), PL_ERR_IO);
    assert_non_null(strstr(why, "truncated"));
    free(wire);
    assert_int_equal(judge((const uint8_t *)"\x01\x02", 2, &c, got, why), PL_ERR_PARSE);

    for (int i = 0; i < 4; i++)
        free(rd[i]);
    free(old);
    free(new);
    free(foreign);
    free(got);
}

static void dns_cname_chain(void **state)
{
    pl_fingerprint fp;
    pl_record *rs = make_set(1, NOW, TTL, NULL);
    pl_record got;
    uint8_t *rd[1];
    size_t len, size;
    uint8_t *wire;
    pl_disc_check c;
    char why[PL_DISCOVERY_WHY_MAX];
    ldns_pkt *p = NULL;
    ldns_rr *cname = NULL;
    (void)state;
    key_fp(1, &fp);
    assert_true(pl_fingerprint_dns_name(&fp, qname, sizeof qname) > 0);
    c = check_for(&fp, NOW);
    rd[0] = txt_of(rs, &len);
    /* TXT owned by target.ZONE, with qname CNAME target.ZONE in front */
    wire = answer_wire(7, LDNS_RCODE_NOERROR, 0, "target." ZONE, rd, &len, 1, &size);
    assert_int_equal(ldns_wire2pkt(&p, wire, size), LDNS_STATUS_OK);
    free(wire);
    {
        char text[PL_DNS_NAME_MAX + 64];
        snprintf(text, sizeof text, "%s. 60 IN CNAME target.%s.", qname, ZONE);
        assert_int_equal(ldns_rr_new_frm_str(&cname, text, 0, NULL, NULL), LDNS_STATUS_OK);
    }
    assert_int_equal(pl_disc_check_dns(p, qname, &c, &got, why, sizeof why), PL_ERR_NOTFOUND);
    assert_true(ldns_pkt_push_rr(p, LDNS_SECTION_ANSWER, cname));
    assert_int_equal(pl_disc_check_dns(p, qname, &c, &got, why, sizeof why), PL_OK);
    ldns_pkt_free(p);
    free(rd[0]);
    free(rs);
}

/* ---- over loopback: a forked DNS responder ------------------------------------ */

/* Answers every UDP query with TC=1 and no records, every TCP query with
 * the TXT record of `rdata`; exits after `secs` seconds. */
static void dns_responder(int udp, int tcp, const uint8_t *rdata, size_t rlen, unsigned secs)
{
    time_t end = time(NULL) + secs;
    uint8_t buf[65536];
    uint8_t *rd[1] = {(uint8_t *)rdata};
    while (time(NULL) < end) {
        struct pollfd pf[2] = {{udp, POLLIN, 0}, {tcp, POLLIN, 0}};
        if (poll(pf, 2, 200) <= 0)
            continue;
        if (pf[0].revents & POLLIN) {
            struct sockaddr_storage from;
            socklen_t fl = sizeof from;
            ssize_t n = recvfrom(udp, buf, sizeof buf, 0, (struct sockaddr *)&from, &fl);
            size_t size;
            if (n < 2)
                continue;
            uint8_t *w = answer_wire((uint16_t)(buf[0] << 8 | buf[1]), LDNS_RCODE_NOERROR, 1, NULL,
                                     rd, &rlen, 0, &size);
            (void)!sendto(udp, w, size, 0, (struct sockaddr *)&from, fl);
            free(w);
        }
        if (pf[1].revents & POLLIN) {
            int c = accept(tcp, NULL, NULL);
            uint8_t hdr[2];
            size_t size;
            if (c < 0)
                continue;
            if (recv(c, hdr, 2, MSG_WAITALL) == 2) {
                size_t ql = (size_t)(hdr[0] << 8 | hdr[1]);
                if (recv(c, buf, ql, MSG_WAITALL) == (ssize_t)ql && ql >= 2) {
                    uint8_t *w = answer_wire((uint16_t)(buf[0] << 8 | buf[1]), LDNS_RCODE_NOERROR,
                                             0, NULL, rd, &rlen, 1, &size);
                    uint8_t len2[2] = {(uint8_t)(size >> 8), (uint8_t)size};
                    (void)!send(c, len2, 2, 0);
                    (void)!send(c, w, size, 0);
                    free(w);
                }
            }
            close(c);
        }
    }
}

/* UDP and TCP sockets bound to one free loopback port. */
static int bind_pair(int *udp, int *tcp)
{
    for (int attempt = 0; attempt < 50; attempt++) {
        struct sockaddr_in a;
        socklen_t al = sizeof a;
        int one = 1;
        memset(&a, 0, sizeof a);
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        *udp = socket(AF_INET, SOCK_DGRAM, 0);
        *tcp = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(*udp >= 0 && *tcp >= 0);
        setsockopt(*tcp, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(*udp, (struct sockaddr *)&a, sizeof a) == 0 &&
            getsockname(*udp, (struct sockaddr *)&a, &al) == 0 &&
            bind(*tcp, (struct sockaddr *)&a, sizeof a) == 0 && listen(*tcp, 4) == 0)
            return ntohs(a.sin_port);
        close(*udp);
        close(*tcp);
    }
    fail_msg("no free port pair");
    return -1;
}

static void log_collect(void *user, enum pl_log_level level, const char *msg)
{
    char *acc = user;
    size_t used = strlen(acc);
    (void)level;
    snprintf(acc + used, 4096 - used, "%s\n", msg);
}

static void dns_tcp_retry(void **state)
{
    pl_fingerprint fp;
    pl_record *rs = make_set(1, NOW, TTL, "udp://198.51.100.4:7000");
    pl_record *got = malloc(sizeof *got);
    pl_directory_opts o;
    pl_discovery_report rep;
    static char logs[4096];
    char server[64];
    uint8_t *rd;
    size_t rlen;
    int udp, tcp, port, status;
    pid_t pid;
    (void)state;
    key_fp(1, &fp);
    assert_true(pl_fingerprint_dns_name(&fp, qname, sizeof qname) > 0);
    rd = txt_of(rs, &rlen);
    port = bind_pair(&udp, &tcp);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        dns_responder(udp, tcp, rd, rlen, 10);
        _exit(0);
    }
    close(udp);
    close(tcp);
    snprintf(server, sizeof server, "127.0.0.1:%d", port);
    memset(&o, 0, sizeof o);
    o.dns_server = server;
    o.now = NOW;
    o.skew = SKEW;
    o.timeout_ms = 3000;
    o.flags = PL_DISCOVERY_NO_EDNS;
    logs[0] = 0;
    pl_set_log(log_collect, logs, PL_LOG_INFO);
    assert_int_equal(pl_discover(&fp, PL_VIA_DNS, &o, got, &rep), PL_OK);
    pl_set_log(NULL, NULL, PL_LOG_ERROR);
    assert_int_equal(rep.via, PL_VIA_DNS);
    assert_string_equal(rep.dns_name, qname);
    assert_string_equal(got->addresses[0], "udp://198.51.100.4:7000");
    assert_non_null(strstr(logs, "truncated; asking again over TCP"));
    assert_non_null(strstr(logs, "answer over TCP"));

    /* another fingerprint: the responder's record is owned by the first
     * one's name, so it is no answer to this question */
    pl_fingerprint other;
    key_fp(2, &other);
    assert_int_equal(pl_discover(&other, PL_VIA_DNS, &o, got, &rep), PL_ERR_NOTFOUND);
    assert_non_null(strstr(rep.dns_why, "no TXT record"));

    kill(pid, SIGKILL);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    free(rd);
    free(rs);
    free(got);
}

/* ---- over loopback: the python3 directory ----------------------------------- */

struct dirsrv {
    pid_t pid;
    char *root;
    char base[64];
};

static void dirsrv_start(struct dirsrv *d)
{
    const char *src = getenv("PL_SOURCE_ROOT");
    char script[PL_PATH_MAX], portfile[PL_PATH_MAX];
    assert_non_null(src);
    snprintf(script, sizeof script, "%s/tests/tool/helpers/dirserver.py", src);
    d->root = tu_tmpdir();
    snprintf(portfile, sizeof portfile, "%s/port", d->root);
    d->pid = fork();
    assert_true(d->pid >= 0);
    if (d->pid == 0) {
        execlp("python3", "python3", script, d->root, portfile, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 100; i++) { /* 10 s at most */
        FILE *f = fopen(portfile, "r");
        int port = 0;
        if (f) {
            int ok = fscanf(f, "%d", &port) == 1;
            fclose(f);
            if (ok && port > 0) {
                snprintf(d->base, sizeof d->base, "http://127.0.0.1:%d", port);
                return;
            }
        }
        struct timespec ts = {0, 100000000L};
        nanosleep(&ts, NULL);
    }
    fail_msg("the python3 directory did not start");
}

static void dirsrv_stop(struct dirsrv *d)
{
    int status;
    kill(d->pid, SIGTERM);
    waitpid(d->pid, &status, 0);
    tu_rmrf(d->root);
    free(d->root);
}

static void write_file(const char *dir, const char *name, const char *text, size_t len)
{
    char path[PL_PATH_MAX];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s", dir, name);
    f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, len, f), len);
    fclose(f);
}

static void http_round_trip(void **state)
{
    struct dirsrv d;
    pl_fingerprint fp;
    time_t t = time(NULL);
    pl_record *rs = make_set(1, (uint64_t)t, TTL, "udp://198.51.100.4:7000");
    pl_record *got = malloc(sizeof *got);
    pl_directory_opts o;
    pl_discovery_report rep;
    char b64[PL_FP_B64_LEN + 1], json[PL_RECORD_JSON_MAX + 1], *big;
    int n;
    (void)state;
    key_fp(1, &fp);
    assert_true(pl_b64url_encode(fp.digest, sizeof fp.digest, b64, sizeof b64) > 0);
    dirsrv_start(&d);
    memset(&o, 0, sizeof o);
    o.directory = d.base;
    o.skew = SKEW;
    o.timeout_ms = 5000;

    /* not there yet */
    assert_int_equal(pl_discover(&fp, PL_VIA_HTTPS, &o, got, &rep), PL_ERR_NOTFOUND);
    assert_int_equal(rep.http_status, 404);
    assert_non_null(strstr(rep.https_why, "HTTP 404"));

    /* announce, discover */
    assert_int_equal(pl_announce(rs, &o, &rep), PL_OK);
    assert_int_equal(rep.http_status, 201);
    assert_non_null(strstr(rep.url, "/.well-known/ni/sha3-256/"));
    assert_int_equal(pl_discover(&fp, PL_VIA_HTTPS, &o, got, &rep), PL_OK);
    assert_int_equal(rep.via, PL_VIA_HTTPS);
    assert_int_equal(got->timestamp, rs->timestamp);

    /* a set that does not verify is not sent */
    rs->ttl = 1;
    assert_int_equal(pl_announce(rs, &o, &rep), PL_ERR_AUTH);
    rs->ttl = TTL;

    /* refused by the directory */
    write_file(d.root, "put.status", "409", 3);
    write_file(d.root, "put.body", "{\"error\":\"rollback\",\"reason\":\"older\"}", 37);
    assert_int_equal(pl_announce(rs, &o, &rep), PL_ERR_IO);
    assert_int_equal(rep.http_status, 409);
    assert_non_null(strstr(rep.https_why, "HTTP 409: rollback: older"));

    /* tampered, foreign, oversize bodies */
    n = pl_record_to_json(rs, json, sizeof json);
    assert_true(n > 0);
    char *hit = strstr(json, "198.51.100.4");
    assert_non_null(hit);
    hit[11] = '5';
    write_file(d.root, b64, json, (size_t)n);
    assert_int_equal(pl_discover(&fp, PL_VIA_HTTPS, &o, got, &rep), PL_ERR_AUTH);
    assert_int_equal(got->n_addresses, 0);
    big = malloc(PL_RECORD_JSON_MAX + 100);
    assert_non_null(big);
    memset(big, ' ', PL_RECORD_JSON_MAX + 100);
    write_file(d.root, b64, big, PL_RECORD_JSON_MAX + 100);
    free(big);
    assert_int_equal(pl_discover(&fp, PL_VIA_HTTPS, &o, got, &rep), PL_ERR_TOOBIG);

    /* errors of the options: no directory known, a bad URL */
    pl_fingerprint bare = fp;
    bare.authority[0] = 0;
    o.directory = NULL;
    assert_int_equal(pl_discover(&bare, PL_VIA_HTTPS, &o, got, &rep), PL_ERR_INVAL);
    assert_int_equal(pl_announce(rs, &o, &rep), PL_ERR_INVAL);
    o.directory = "ftp://127.0.0.1";
    assert_int_equal(pl_discover(&fp, PL_VIA_HTTPS, &o, got, &rep), PL_ERR_INVAL);
    assert_int_equal(pl_discover(&fp, 0, &o, got, &rep), PL_ERR_INVAL);

    dirsrv_stop(&d);
    /* the directory is gone: a network error */
    o.directory = d.base;
    assert_int_equal(pl_discover(&fp, PL_VIA_HTTPS, &o, got, &rep), PL_ERR_IO);
    assert_non_null(strstr(rep.https_why, "failed"));
    assert_int_equal(pl_announce(rs, &o, &rep), PL_ERR_IO);
    free(rs);
    free(got);
}

/* ---- the fuzz seeds are what their names say --------------------------------- */

static int seed_verdict(const char *target, const char *name)
{
    const char *src = getenv("PL_SOURCE_ROOT");
    char path[PL_PATH_MAX], why[PL_DISCOVERY_WHY_MAX];
    uint8_t seed[PL_ED25519_SEED_LEN];
    pl_identity *id = NULL;
    pl_fingerprint fp;
    pl_record got;
    pl_disc_check c;
    size_t len;
    char *data;
    int rc;
    assert_non_null(src);
    for (size_t i = 0; i < sizeof seed; i++)
        seed[i] = (uint8_t)i;
    assert_int_equal(pl_identity_from_seed(&id, seed), PL_OK);
    pl_identity_fingerprint(id, &fp);
    pl_identity_free(id);
    assert_int_equal(pl_fingerprint_set_authority(&fp, ZONE, NULL), PL_OK);
    assert_true(pl_fingerprint_dns_name(&fp, qname, sizeof qname) > 0);
    c = check_for(&fp, NOW + 60);
    snprintf(path, sizeof path, "%s/fuzz/corpus/%s/%s", src, target, name);
    data = tu_read_file(path, &len);
    if (strcmp(target, "discovery_http") == 0)
        rc = pl_disc_check_json(data, len, &c, &got, why, sizeof why);
    else
        rc = pl_disc_check_dns_wire((const uint8_t *)data, len, qname, &c, &got, why, sizeof why);
    free(data);
    return rc;
}

static void fuzz_seeds(void **state)
{
    (void)state;
    assert_int_equal(seed_verdict("discovery_http", "example"), PL_OK);
    assert_int_equal(seed_verdict("discovery_http", "foreign"), PL_OK); /* foreign layout */
    assert_int_equal(seed_verdict("discovery_http", "other_key"), PL_ERR_AUTH);
    assert_int_equal(seed_verdict("discovery_http", "error_reply"), PL_ERR_PARSE);
    assert_int_equal(seed_verdict("discovery_dns", "example"), PL_OK);
    assert_int_equal(seed_verdict("discovery_dns", "uncompressed"), PL_OK);
    assert_int_equal(seed_verdict("discovery_dns", "several"), PL_OK);
    assert_int_equal(seed_verdict("discovery_dns", "cname"), PL_OK);
    assert_int_equal(seed_verdict("discovery_dns", "other_owner"), PL_ERR_NOTFOUND);
    assert_int_equal(seed_verdict("discovery_dns", "nxdomain"), PL_ERR_NOTFOUND);
    assert_int_equal(seed_verdict("discovery_dns", "servfail"), PL_ERR_IO);
    assert_int_equal(seed_verdict("discovery_dns", "truncated"), PL_ERR_IO);
}

/* ---- DNS server arguments refused before anything is sent ---------------------- */

static void dns_server_arguments(void **state)
{
    static const char *const bad[] = {
        "localhost",
        "127.0.0.1:",
        "127.0.0.1:0",
        "127.0.0.1:65536",
        "127.0.0.1:053",
        "127.0.0.1:5x",
        "[::1",
        "[::1]5353",
        "",
        "300.1.1.1",
        "[]:53",
    };
    char why[PL_DISCOVERY_WHY_MAX];
    ldns_pkt *pkt = NULL;
    (void)state;
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        why[0] = 0;
        if (pl_dns_query_txt("x." ZONE, bad[i], 1000, 0, &pkt, why, sizeof why) != PL_ERR_INVAL)
            fail_msg("DNS server '%s' was accepted", bad[i]);
        assert_null(pkt);
        assert_true(why[0] != 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(build_fields_in_order),
        cmocka_unit_test(verify_explains),
        cmocka_unit_test(json_bodies),
        cmocka_unit_test(server_reasons),
        cmocka_unit_test(dns_answers),
        cmocka_unit_test(dns_cname_chain),
        cmocka_unit_test(dns_tcp_retry),
        cmocka_unit_test(http_round_trip),
        cmocka_unit_test(fuzz_seeds),
        cmocka_unit_test(dns_server_arguments),
    };
    signal(SIGPIPE, SIG_IGN);
    if (pl_init() != PL_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
