/*
 * dns.c - the directory's authoritative DNS responder for one zone, sans-IO:
 * query bytes in, response bytes out. ldns parses and builds the packets.
 *
 *   ZONE                       SOA, NS
 *   0a.ZONE                    exists, no data (an empty non-terminal)
 *   H2.0a.ZONE                 exists, no data, for any 32-hex-digit H2
 *   H1.H2.0a.ZONE              TXT: the record set of the key whose digest
 *                              is hex H1 || H2 (DESIGN.md §2.1), one RR
 *   anything else in ZONE      NXDOMAIN, SOA in the authority section
 *   names outside ZONE         REFUSED (we are nobody's resolver)
 *
 * Empty non-terminals answer NODATA rather than NXDOMAIN so that resolvers
 * minimising query names (RFC 9156) walk down to the record set instead of
 * stopping at an NXDOMAIN cut (RFC 8020). Answer TTLs never exceed the
 * set's remaining validity (DESIGN.md §2.2) and are capped by max_ttl.
 * Over UDP a response larger than 512 bytes (or the EDNS0 size the query
 * offers, RFC 6891) goes out empty with TC set, and the client asks again
 * over TCP (RFC 7766).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ldns/ldns.h>

#include "directory/directory.h"

#define SUITE_LABEL "0a" /* RFC 6920 suite id of sha3-256 */
#define HEX_LABEL   32

/* One remembered answer: valid for the same query bytes (but the ID) and
 * transport, in the same second, while the store is unchanged. */
struct cached {
    uint64_t generation;
    uint64_t now;
    uint16_t qlen, rlen; /* rlen 0: empty slot */
    uint8_t tcp;
    uint8_t q[PL_DIR_DNS_CACHE_Q_MAX];
    uint8_t r[PL_DIR_DNS_CACHE_R_MAX];
};

struct pl_dir_dns {
    struct cached *cache; /* PL_DIR_DNS_CACHE_SLOTS */
    int uncacheable;      /* set by fill() when the store failed */
    ldns_rdf *zone;       /* canonical (lower case) */
    uint8_t zone_labels;
    ldns_rr *soa;
    ldns_rr *ns;
    uint32_t max_ttl;
    uint32_t neg_ttl; /* TTL of the SOA in negative answers (RFC 2308 §5) */
};

void pl_dir_dns_free(pl_dir_dns *d)
{
    if (!d)
        return;
    free(d->cache);
    ldns_rdf_deep_free(d->zone);
    ldns_rr_free(d->soa);
    ldns_rr_free(d->ns);
    free(d);
}

/* A host name for an SOA or NS field: letters, digits, hyphens and dots. */
static int host_ok(const char *s)
{
    size_t n = strlen(s);
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '.'))
            return 0;
    }
    return s[0] != '.' && strstr(s, "..") == NULL;
}

int pl_dir_dns_new(pl_dir_dns **out, const pl_dir_dns_config *cfg, const char **why)
{
    const char *dummy;
    char zone[PL_DNS_NAME_MAX], ns[2 * PL_DNS_NAME_MAX], mbox[2 * PL_DNS_NAME_MAX], text[1536];
    char probe[PL_DNS_NAME_MAX];
    pl_fingerprint fp;
    pl_dir_dns *d;
    size_t n;

    if (!why)
        why = &dummy;
    if (!out || !cfg || !cfg->zone) {
        *why = "no zone";
        return PL_ERR_INVAL;
    }
    *out = NULL;
    n = strlen(cfg->zone);
    if (n > 0 && cfg->zone[n - 1] == '.')
        n--;
    if (n == 0 || n >= sizeof zone) {
        *why = "the zone must be a DNS host name such as dir.example.org";
        return PL_ERR_INVAL;
    }
    memcpy(zone, cfg->zone, n);
    zone[n] = 0;
    for (size_t i = 0; i < n; i++)
        if (zone[i] >= 'A' && zone[i] <= 'Z')
            zone[i] = (char)(zone[i] - 'A' + 'a');
    /* The zone must be a name fingerprints can carry as their authority,
     * with room for the two hex labels and the suite label below it. */
    memset(&fp, 0, sizeof fp);
    if (pl_fingerprint_set_authority(&fp, zone, NULL) != PL_OK ||
        pl_fingerprint_dns_name(&fp, probe, sizeof probe) < 0 || strchr(zone, ':')) {
        *why = "the zone must be a DNS host name such as dir.example.org, short enough for "
               "fingerprint names (at most 183 characters)";
        return PL_ERR_INVAL;
    }
    if (cfg->ns)
        snprintf(ns, sizeof ns, "%s", cfg->ns);
    else
        snprintf(ns, sizeof ns, "ns1.%s", zone);
    if (cfg->mbox)
        snprintf(mbox, sizeof mbox, "%s", cfg->mbox);
    else
        snprintf(mbox, sizeof mbox, "hostmaster.%s", zone);
    if (!host_ok(ns) || !host_ok(mbox)) {
        *why = "the NS and SOA mailbox names must be DNS host names";
        return PL_ERR_INVAL;
    }
    d = calloc(1, sizeof *d);
    if (d && !cfg->no_cache)
        d->cache = calloc(PL_DIR_DNS_CACHE_SLOTS, sizeof *d->cache);
    if (!d || (!cfg->no_cache && !d->cache)) {
        free(d);
        *why = "out of memory";
        return PL_ERR_NOMEM;
    }
    d->max_ttl = cfg->max_ttl ? cfg->max_ttl : PL_DIR_DNS_MAX_TTL;
    d->neg_ttl = cfg->neg_ttl ? cfg->neg_ttl : PL_DIR_DNS_NEG_TTL;
    d->zone = ldns_dname_new_frm_str(zone);
    snprintf(text, sizeof text, "%s. %u IN SOA %s%s %s%s %u 3600 600 604800 %u", zone,
             cfg->apex_ttl ? cfg->apex_ttl : PL_DIR_DNS_APEX_TTL, ns,
             ns[strlen(ns) - 1] == '.' ? "" : ".", mbox, mbox[strlen(mbox) - 1] == '.' ? "" : ".",
             cfg->serial, d->neg_ttl);
    if (!d->zone || ldns_rr_new_frm_str(&d->soa, text, 0, NULL, NULL) != LDNS_STATUS_OK)
        goto bad;
    snprintf(text, sizeof text, "%s. %u IN NS %s%s", zone,
             cfg->apex_ttl ? cfg->apex_ttl : PL_DIR_DNS_APEX_TTL, ns,
             ns[strlen(ns) - 1] == '.' ? "" : ".");
    if (ldns_rr_new_frm_str(&d->ns, text, 0, NULL, NULL) != LDNS_STATUS_OK)
        goto bad;
    ldns_dname2canonical(d->zone);
    d->zone_labels = ldns_dname_label_count(d->zone);
    *out = d;
    return PL_OK;
bad:
    pl_dir_dns_free(d);
    *why = "cannot build the SOA and NS records from these names";
    return PL_ERR_INVAL;
}

/* ---- the answer -------------------------------------------------------- */

enum kind {
    K_REFUSED, /* outside the zone */
    K_APEX,
    K_ENT,      /* empty non-terminal: NODATA */
    K_NXDOMAIN, /* in the zone, no such name */
    K_SET,      /* a record-set name: digest filled in */
};

static int hexval(uint8_t c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* A 32-hex-digit label into 16 bytes (lower case: the name is canonical). */
static int hex_label(const uint8_t *lab, uint8_t out[16])
{
    if (lab[0] != HEX_LABEL)
        return -1;
    for (int i = 0; i < 16; i++) {
        int hi = hexval(lab[1 + 2 * i]), lo = hexval(lab[2 + 2 * i]);
        if (hi < 0 || lo < 0)
            return -1;
        out[i] = (uint8_t)(hi << 4 | lo);
    }
    return 0;
}

static enum kind classify(const pl_dir_dns *d, const ldns_rdf *qname, uint8_t digest[32])
{
    const uint8_t *lab[3];
    const uint8_t *p = ldns_rdf_data(qname);
    size_t size = ldns_rdf_size(qname), off = 0;
    int rel;
    uint8_t scratch[16];

    if (ldns_dname_compare(qname, d->zone) == 0)
        return K_APEX;
    if (!ldns_dname_is_subdomain(qname, d->zone))
        return K_REFUSED;
    rel = (int)ldns_dname_label_count(qname) - (int)d->zone_labels;
    if (rel < 1 || rel > 3)
        return K_NXDOMAIN;
    /* The first rel labels of the (canonical, uncompressed) name. */
    for (int i = 0; i < rel; i++) {
        if (off >= size)
            return K_NXDOMAIN;
        lab[i] = p + off;
        off += 1u + p[off];
    }
    if (lab[rel - 1][0] != 2 || memcmp(lab[rel - 1] + 1, SUITE_LABEL, 2) != 0)
        return K_NXDOMAIN;
    if (rel == 1)
        return K_ENT;
    if (hex_label(lab[rel - 2], rel == 3 ? digest + 16 : scratch) != 0)
        return K_NXDOMAIN;
    if (rel == 2)
        return K_ENT;
    return hex_label(lab[0], digest) == 0 ? K_SET : K_NXDOMAIN;
}

/* The TXT RR for a record set: one RR, one rdf per character-string. */
static ldns_rr *txt_rr(const ldns_rdf *owner, const uint8_t *rdata, size_t len, uint32_t ttl)
{
    ldns_rr *rr = ldns_rr_new_frm_type(LDNS_RR_TYPE_TXT);
    size_t off = 0;
    if (!rr)
        return NULL;
    /* ldns_rr_new_frm_type leaves one empty rdf slot per field of TXT. */
    while (ldns_rr_rd_count(rr) > 0)
        ldns_rdf_deep_free(ldns_rr_pop_rdf(rr));
    ldns_rr_set_owner(rr, ldns_rdf_clone(owner));
    ldns_rr_set_ttl(rr, ttl);
    ldns_rr_set_class(rr, LDNS_RR_CLASS_IN);
    while (off < len) {
        size_t n = 1u + rdata[off];
        ldns_rdf *f;
        if (off + n > len)
            break; /* cannot happen: the store wrote this RDATA */
        f = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_STR, n, rdata + off);
        if (!f || !ldns_rr_push_rdf(rr, f)) {
            ldns_rdf_deep_free(f);
            ldns_rr_free(rr);
            return NULL;
        }
        off += n;
    }
    return rr;
}

static int push_clone(ldns_pkt *p, ldns_pkt_section sec, const ldns_rr *rr, uint32_t ttl)
{
    ldns_rr *c = ldns_rr_clone(rr);
    if (!c)
        return -1;
    if (ttl)
        ldns_rr_set_ttl(c, ttl);
    if (!ldns_pkt_push_rr(p, sec, c)) {
        ldns_rr_free(c);
        return -1;
    }
    return 0;
}

/* Serialise into out; 0 if it does not fit in limit, or the length. */
static int emit(const ldns_pkt *p, size_t limit, uint8_t *out, size_t cap)
{
    uint8_t *wire = NULL;
    size_t size = 0;
    int rc;
    if (ldns_pkt2wire(&wire, p, &size) != LDNS_STATUS_OK)
        return PL_ERR_INTERNAL;
    if (size > limit)
        rc = 0;
    else if (size > cap)
        rc = PL_ERR_BUFSIZE;
    else {
        memcpy(out, wire, size);
        rc = (int)size;
    }
    free(wire);
    return rc;
}

/* A response with the header and question of q (and OPT if q had one). */
static ldns_pkt *reply_to(const ldns_pkt *q, uint8_t rcode)
{
    ldns_pkt *r = ldns_pkt_new();
    if (!r)
        return NULL;
    ldns_pkt_set_id(r, ldns_pkt_id(q));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, ldns_pkt_get_opcode(q));
    ldns_pkt_set_rd(r, ldns_pkt_rd(q));
    ldns_pkt_set_cd(r, ldns_pkt_cd(q));
    ldns_pkt_set_rcode(r, rcode);
    if (ldns_pkt_question(q)) {
        for (size_t i = 0; i < ldns_rr_list_rr_count(ldns_pkt_question(q)); i++)
            if (push_clone(r, LDNS_SECTION_QUESTION, ldns_rr_list_rr(ldns_pkt_question(q), i), 0) !=
                0) {
                ldns_pkt_free(r);
                return NULL;
            }
    }
    if (q->_edns_present) {
        ldns_pkt_set_edns_udp_size(r, PL_DIR_DNS_EDNS_SIZE);
        r->_edns_present = 1;
    }
    return r;
}

/* FORMERR for bytes ldns cannot parse: the ID and opcode are all we echo. */
static int formerr_raw(const uint8_t *q, uint8_t *out, size_t cap)
{
    ldns_pkt *r = ldns_pkt_new();
    int rc;
    if (!r)
        return PL_ERR_NOMEM;
    ldns_pkt_set_id(r, (uint16_t)(q[0] << 8 | q[1]));
    ldns_pkt_set_qr(r, true);
    ldns_pkt_set_opcode(r, (ldns_pkt_opcode)((q[2] >> 3) & 0xf));
    ldns_pkt_set_rcode(r, LDNS_RCODE_FORMERR);
    rc = emit(r, PL_DIR_DNS_UDP_MIN, out, cap);
    ldns_pkt_free(r);
    return rc;
}

/* Fill the answer and authority sections of r for the one question. */
static int fill(pl_dir_dns *d, pl_dir_store *st, const ldns_rr *question, uint64_t now, ldns_pkt *r)
{
    uint8_t digest[32];
    uint8_t *rdata;
    ldns_rdf *qname = ldns_rdf_clone(ldns_rr_owner(question));
    ldns_rr_type type = ldns_rr_get_type(question);
    uint32_t neg = d->neg_ttl < ldns_rr_ttl(d->soa) ? d->neg_ttl : ldns_rr_ttl(d->soa);
    enum kind k;
    int rc = 0;

    if (!qname)
        return -1;
    ldns_dname2canonical(qname);
    k = classify(d, qname, digest);
    ldns_rdf_deep_free(qname);
    if (k == K_REFUSED) {
        ldns_pkt_set_rcode(r, LDNS_RCODE_REFUSED);
        return 0;
    }
    ldns_pkt_set_aa(r, true);
    if (ldns_rr_get_class(question) != LDNS_RR_CLASS_IN &&
        ldns_rr_get_class(question) != LDNS_RR_CLASS_ANY) {
        ldns_pkt_set_aa(r, false);
        ldns_pkt_set_rcode(r, LDNS_RCODE_REFUSED);
        return 0;
    }
    if (type == LDNS_RR_TYPE_AXFR || type == LDNS_RR_TYPE_IXFR) {
        ldns_pkt_set_rcode(r, LDNS_RCODE_REFUSED); /* no zone transfers */
        return 0;
    }
    if (k == K_APEX) {
        int any = type == LDNS_RR_TYPE_ANY;
        if (type == LDNS_RR_TYPE_SOA || any)
            rc |= push_clone(r, LDNS_SECTION_ANSWER, d->soa, 0);
        if (type == LDNS_RR_TYPE_NS || any)
            rc |= push_clone(r, LDNS_SECTION_ANSWER, d->ns, 0);
        if (ldns_pkt_ancount(r) == 0)
            rc |= push_clone(r, LDNS_SECTION_AUTHORITY, d->soa, neg);
        return rc;
    }
    if (k == K_SET) {
        uint64_t expires = 0;
        int n;
        rdata = malloc(PL_RECORD_TXT_MAX);
        if (!rdata)
            return -1;
        n = pl_dir_store_get_txt(st, digest, now, rdata, PL_RECORD_TXT_MAX, &expires);
        if (n == PL_ERR_NOTFOUND) {
            k = K_NXDOMAIN;
        } else if (n < 0) {
            ldns_pkt_set_rcode(r, LDNS_RCODE_SERVFAIL);
            d->uncacheable = 1;
        } else if (type == LDNS_RR_TYPE_TXT || type == LDNS_RR_TYPE_ANY) {
            uint64_t left = expires - now; /* > 0: the store filtered expired sets */
            uint32_t ttl = left < d->max_ttl ? (uint32_t)left : d->max_ttl;
            ldns_rr *rr = txt_rr(ldns_rr_owner(question), rdata, (size_t)n, ttl);
            if (!rr || !ldns_pkt_push_rr(r, LDNS_SECTION_ANSWER, rr)) {
                ldns_rr_free(rr);
                rc = -1;
            }
        } else {
            k = K_ENT; /* the name exists, not with this type */
        }
        free(rdata);
    }
    if (k == K_NXDOMAIN)
        ldns_pkt_set_rcode(r, LDNS_RCODE_NXDOMAIN);
    if (k == K_NXDOMAIN || k == K_ENT)
        rc |= push_clone(r, LDNS_SECTION_AUTHORITY, d->soa, neg);
    return rc;
}

/* FNV-1a over the query without its ID, and the transport. */
static size_t slot_of(const uint8_t *q, size_t qlen, int tcp)
{
    uint32_t h = 2166136261u ^ (uint32_t)tcp;
    for (size_t i = 2; i < qlen; i++)
        h = (h ^ q[i]) * 16777619u;
    return h & (PL_DIR_DNS_CACHE_SLOTS - 1);
}

static int answer(pl_dir_dns *d, pl_dir_store *st, const uint8_t *q, size_t qlen, int tcp,
                  uint64_t now, uint8_t *out, size_t cap);

int pl_dir_dns_answer(pl_dir_dns *d, pl_dir_store *st, const uint8_t *q, size_t qlen, int tcp,
                      uint64_t now, uint8_t *out, size_t cap)
{
    struct cached *c = NULL;
    uint64_t gen = 0;
    int rc;

    if (!d || !q || !out)
        return PL_ERR_INVAL;
    if (qlen < 12 || (q[2] & 0x80))
        return 0; /* no header, or a response: never answer those */
    if (d->cache && qlen <= PL_DIR_DNS_CACHE_Q_MAX) {
        gen = pl_dir_store_generation(st);
        c = &d->cache[slot_of(q, qlen, tcp)];
        if (c->rlen && c->generation == gen && c->now == now && c->tcp == (uint8_t) !!tcp &&
            c->qlen == qlen && memcmp(c->q + 2, q + 2, qlen - 2) == 0) {
            if (c->rlen > cap)
                return PL_ERR_BUFSIZE;
            memcpy(out, c->r, c->rlen);
            out[0] = q[0]; /* the ID */
            out[1] = q[1];
            return c->rlen;
        }
    }
    d->uncacheable = 0;
    rc = answer(d, st, q, qlen, tcp, now, out, cap);
    if (c && rc > 0 && rc <= PL_DIR_DNS_CACHE_R_MAX && !d->uncacheable) {
        c->generation = gen;
        c->now = now;
        c->tcp = (uint8_t) !!tcp;
        c->qlen = (uint16_t)qlen;
        c->rlen = (uint16_t)rc;
        memcpy(c->q, q, qlen);
        memcpy(c->r, out, (size_t)rc);
    }
    return rc;
}

static int answer(pl_dir_dns *d, pl_dir_store *st, const uint8_t *q, size_t qlen, int tcp,
                  uint64_t now, uint8_t *out, size_t cap)
{
    ldns_pkt *query = NULL, *r = NULL;
    size_t limit = PL_DIR_DNS_UDP_MIN;
    int rc;

    if (ldns_wire2pkt(&query, q, qlen) != LDNS_STATUS_OK)
        return formerr_raw(q, out, cap);
    if (query->_edns_present && ldns_pkt_edns_udp_size(query) > PL_DIR_DNS_UDP_MIN)
        limit = ldns_pkt_edns_udp_size(query) < PL_DIR_DNS_UDP_MAX ? ldns_pkt_edns_udp_size(query)
                                                                   : PL_DIR_DNS_UDP_MAX;
    if (tcp)
        limit = PL_DIR_DNS_MSG_MAX;

    if (ldns_pkt_get_opcode(query) != LDNS_PACKET_QUERY) {
        r = reply_to(query, LDNS_RCODE_NOTIMPL);
    } else if (ldns_pkt_qdcount(query) != 1 || ldns_pkt_ancount(query) != 0 ||
               ldns_pkt_nscount(query) != 0) {
        r = reply_to(query, LDNS_RCODE_FORMERR);
    } else if (query->_edns_present && ldns_pkt_edns_version(query) != 0) {
        /* BADVERS (16): the upper eight bits go in the OPT record. */
        r = reply_to(query, LDNS_RCODE_NOERROR);
        if (r)
            ldns_pkt_set_edns_extended_rcode(r, 1);
    } else {
        r = reply_to(query, LDNS_RCODE_NOERROR);
        if (r && fill(d, st, ldns_rr_list_rr(ldns_pkt_question(query), 0), now, r) != 0) {
            ldns_pkt_free(r);
            r = reply_to(query, LDNS_RCODE_SERVFAIL);
        }
    }
    if (!r) {
        ldns_pkt_free(query);
        return PL_ERR_NOMEM;
    }
    rc = emit(r, limit, out, cap);
    if (rc == 0) {
        /* Too big for this transport: an empty answer with TC set makes the
         * client retry over TCP (RFC 1035 §4.2.1, RFC 7766 §5). */
        bool aa = ldns_pkt_aa(r);
        uint8_t rcode = ldns_pkt_get_rcode(r);
        ldns_pkt_free(r);
        r = reply_to(query, rcode);
        if (!r) {
            ldns_pkt_free(query);
            return PL_ERR_NOMEM;
        }
        ldns_pkt_set_aa(r, aa);
        ldns_pkt_set_tc(r, true);
        rc = emit(r, limit, out, cap);
        if (rc == 0)
            rc = PL_ERR_BUFSIZE; /* a question longer than the limit: cannot happen */
    }
    ldns_pkt_free(r);
    ldns_pkt_free(query);
    return rc;
}
