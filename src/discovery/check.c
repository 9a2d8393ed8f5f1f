/*
 * check.c - judging what a directory, a resolver or the network handed
 * back (docs/discovery.md "What the client checks").
 *
 *   HTTP body  --pl_record_from_json--+
 *                                     +--> pl_disc_verify --> verified set
 *   DNS answer --TXT RDATA, each RR---+      (newest of those that verify)
 *               --pl_record_from_txt--+
 *
 * Nothing that arrives is trusted: the carrier only transports the fields,
 * and the set is accepted only if it verifies against the fingerprint
 * asked for (key, signature under the one Ed25519 policy, clock). The
 * refusal says which check failed: the user needs to know whether to
 * suspect the directory (another key, an altered set) or a clock.
 * Sans-IO: bytes and the time in, a set or an explanation out.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "discovery/discovery_int.h"
#include "util/util.h"

#define REASON_MAX 200 /* bytes of a server's reason we repeat */
#define CNAME_MAX  8   /* CNAME links followed inside one answer */

static void say(char *why, size_t cap, const char *fmt, ...) PL_PRINTF(3, 4);

static void say(char *why, size_t cap, const char *fmt, ...)
{
    va_list ap;
    if (!why || cap == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(why, cap, fmt, ap);
    va_end(ap);
}

static void when_text(uint64_t t, char *out, size_t cap)
{
    if (pl_time_format(t, out, cap) < 0)
        snprintf(out, cap, "@%llu", (unsigned long long)t);
}

int pl_disc_verify(const pl_record *rs, const pl_disc_check *c, char *why, size_t cap)
{
    pl_fingerprint signer;
    char text[PL_FINGERPRINT_STR_MAX], when[32];
    int rc;

    if (!rs || !c || !c->fp) {
        say(why, cap, "nothing to verify");
        return PL_ERR_INVAL;
    }
    /* Say "another key" apart from "bad signature": the first is a
     * directory serving the wrong set, the second an altered one. */
    if (pl_fingerprint_from_key(&signer, rs->public_key, NULL) == PL_OK &&
        !pl_fingerprint_equal(&signer, c->fp)) {
        if (pl_fingerprint_format(&signer, text, sizeof text) < 0)
            snprintf(text, sizeof text, "(unprintable)");
        say(why, cap,
            "the record set is signed by another key (%s), not by the fingerprint asked for", text);
        return PL_ERR_AUTH;
    }
    rc = pl_record_verify(rs, c->fp, c->now, c->skew);
    switch (rc) {
    case PL_OK: break;
    case PL_ERR_AUTH:
        say(why, cap, "the signature does not verify: the record set was altered or forged");
        return rc;
    case PL_ERR_FUTURE:
        when_text(rs->timestamp, when, sizeof when);
        say(why, cap,
            "the record set is dated in the future: signed at %s, %llu seconds ahead of this "
            "clock (more than the %lu seconds of skew allowed)",
            when, (unsigned long long)(rs->timestamp - c->now), (unsigned long)c->skew);
        return rc;
    case PL_ERR_EXPIRED:
        when_text(rs->timestamp + rs->ttl, when, sizeof when);
        say(why, cap, "the record set expired at %s, %llu seconds ago", when,
            (unsigned long long)(c->now - (rs->timestamp + rs->ttl)));
        return rc;
    default:
        say(why, cap, "the record set is not valid: a field or its ttl is out of range");
        return rc;
    }
    if (c->min_timestamp && rs->timestamp < c->min_timestamp) {
        char seen[32];
        when_text(rs->timestamp, when, sizeof when);
        when_text(c->min_timestamp, seen, sizeof seen);
        say(why, cap,
            "the record set is older than one already seen (signed at %s, before %s): a replay",
            when, seen);
        return PL_ERR_EXPIRED;
    }
    return PL_OK;
}

int pl_disc_check_json(const char *body, size_t len, const pl_disc_check *c, pl_record *out,
                       char *why, size_t cap)
{
    const char *pwhy = NULL;
    int rc;

    pl_record_init(out);
    if (len > PL_RECORD_JSON_MAX) {
        say(why, cap, "the reply is %zu bytes, more than the %d a record set can take", len,
            PL_RECORD_JSON_MAX);
        return PL_ERR_TOOBIG;
    }
    rc = pl_record_from_json(out, body, len, &pwhy);
    if (rc != PL_OK) {
        say(why, cap, "the reply is not a record set: %s", pwhy ? pwhy : pl_strerror(rc));
        return rc;
    }
    rc = pl_disc_verify(out, c, why, cap);
    if (rc != PL_OK)
        pl_record_init(out);
    return rc;
}

/* ---- DNS answers ------------------------------------------------------ */

/* The owner names whose TXT records answer qname: qname and the targets of
 * a CNAME chain from it within the answer section. */
static void follow_cnames(const ldns_rr_list *ans, ldns_rdf *names[CNAME_MAX + 1], size_t *n)
{
    size_t count = ldns_rr_list_rr_count(ans);
    while (*n <= CNAME_MAX) {
        ldns_rdf *cur = names[*n - 1], *next = NULL;
        for (size_t i = 0; i < count && !next; i++) {
            ldns_rr *rr = ldns_rr_list_rr(ans, i);
            if (ldns_rr_get_type(rr) == LDNS_RR_TYPE_CNAME && ldns_rr_rd_count(rr) == 1 &&
                ldns_dname_compare(ldns_rr_owner(rr), cur) == 0)
                next = ldns_rr_rdf(rr, 0);
        }
        if (!next)
            return;
        names[(*n)++] = next;
    }
}

static int owned_by(const ldns_rr *rr, ldns_rdf *const *names, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (ldns_dname_compare(ldns_rr_owner(rr), names[i]) == 0)
            return 1;
    }
    return 0;
}

/* The RDATA of a TXT RR as it was on the wire: ldns keeps each
 * character-string as one rdf holding its length byte and its bytes. */
static int txt_rdata(const ldns_rr *rr, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < ldns_rr_rd_count(rr); i++) {
        ldns_rdf *f = ldns_rr_rdf(rr, i);
        size_t sz = ldns_rdf_size(f);
        if (ldns_rdf_get_type(f) != LDNS_RDF_TYPE_STR || sz > cap - n)
            return PL_ERR_TOOBIG;
        memcpy(out + n, ldns_rdf_data(f), sz);
        n += sz;
    }
    *len = n;
    return PL_OK;
}

static const char *rcode_name(ldns_pkt_rcode rc)
{
    switch (rc) {
    case LDNS_RCODE_FORMERR: return "FORMERR";
    case LDNS_RCODE_SERVFAIL: return "SERVFAIL";
    case LDNS_RCODE_NOTIMPL: return "NOTIMP";
    case LDNS_RCODE_REFUSED: return "REFUSED";
    default: return "an error";
    }
}

/* One TXT RR: decode and verify into cand. */
static int judge_rr(const ldns_rr *rr, const pl_disc_check *c, uint8_t *rdata, pl_record *cand,
                    char *why, size_t cap)
{
    const char *pwhy = NULL;
    size_t len = 0;
    int rc = txt_rdata(rr, rdata, PL_RECORD_TXT_MAX, &len);
    if (rc != PL_OK) {
        say(why, cap, "a TXT record is longer than the %d bytes a record set can take",
            PL_RECORD_TXT_MAX);
        return rc;
    }
    rc = pl_record_from_txt(cand, rdata, len, &pwhy);
    if (rc != PL_OK) {
        say(why, cap, "a TXT record is not a record set: %s", pwhy ? pwhy : pl_strerror(rc));
        return rc;
    }
    return pl_disc_verify(cand, c, why, cap);
}

int pl_disc_check_dns(const ldns_pkt *pkt, const char *qname, const pl_disc_check *c,
                      pl_record *out, char *why, size_t cap)
{
    ldns_rdf *names[CNAME_MAX + 1];
    ldns_rdf *q = NULL;
    ldns_rr_list *ans;
    pl_record *cand = NULL;
    uint8_t *rdata = NULL;
    size_t n_names = 1, seen = 0, count;
    int first_err = 0, best = 0;
    char first_why[PL_DISCOVERY_WHY_MAX] = "";

    pl_record_init(out);
    if (!pkt || !qname || !c) {
        say(why, cap, "nothing to check");
        return PL_ERR_INVAL;
    }
    if (ldns_pkt_get_rcode(pkt) == LDNS_RCODE_NXDOMAIN) {
        say(why, cap, "no such name in DNS (NXDOMAIN): nothing is announced under it");
        return PL_ERR_NOTFOUND;
    }
    if (ldns_pkt_get_rcode(pkt) != LDNS_RCODE_NOERROR) {
        say(why, cap, "the DNS server answered %s", rcode_name(ldns_pkt_get_rcode(pkt)));
        return PL_ERR_IO;
    }
    if (ldns_pkt_tc(pkt)) {
        say(why, cap, "the DNS answer is truncated");
        return PL_ERR_IO;
    }
    if (ldns_str2rdf_dname(&q, qname) != LDNS_STATUS_OK) {
        say(why, cap, "cannot make a DNS name of %s", qname);
        return PL_ERR_INVAL;
    }
    names[0] = q;
    ans = ldns_pkt_answer(pkt);
    count = ans ? ldns_rr_list_rr_count(ans) : 0;
    if (ans)
        follow_cnames(ans, names, &n_names);
    cand = malloc(sizeof *cand);
    rdata = malloc(PL_RECORD_TXT_MAX);
    if (!cand || !rdata) {
        say(why, cap, "out of memory");
        free(cand);
        free(rdata);
        ldns_rdf_deep_free(q);
        return PL_ERR_NOMEM;
    }
    for (size_t i = 0; i < count && seen < PL_DISCOVERY_TXT_RRS_MAX; i++) {
        ldns_rr *rr = ldns_rr_list_rr(ans, i);
        char one[PL_DISCOVERY_WHY_MAX];
        int rc;
        if (ldns_rr_get_type(rr) != LDNS_RR_TYPE_TXT || ldns_rr_get_class(rr) != LDNS_RR_CLASS_IN ||
            !owned_by(rr, names, n_names))
            continue;
        seen++;
        rc = judge_rr(rr, c, rdata, cand, one, sizeof one);
        if (rc == PL_OK) {
            if (!best || cand->timestamp > out->timestamp)
                memcpy(out, cand, sizeof *out);
            best = 1;
        } else if (!first_err) {
            first_err = rc;
            snprintf(first_why, sizeof first_why, "%s", one);
        }
    }
    free(cand);
    free(rdata);
    ldns_rdf_deep_free(q);
    if (best) {
        if (first_err)
            pl_log(PL_LOG_WARN, "%s: ignored a TXT record that does not verify: %s", qname,
                   first_why);
        return PL_OK;
    }
    pl_record_init(out);
    if (seen == 0) {
        say(why, cap, "the name has no TXT record: nothing is announced under it");
        return PL_ERR_NOTFOUND;
    }
    if (seen == 1)
        say(why, cap, "%s", first_why);
    else
        say(why, cap, "none of the %zu TXT records verifies; the first: %s", seen, first_why);
    return first_err;
}

int pl_disc_check_dns_wire(const uint8_t *wire, size_t len, const char *qname,
                           const pl_disc_check *c, pl_record *out, char *why, size_t cap)
{
    ldns_pkt *pkt = NULL;
    int rc;
    pl_record_init(out);
    if (ldns_wire2pkt(&pkt, wire, len) != LDNS_STATUS_OK) {
        say(why, cap, "the DNS answer is malformed");
        return PL_ERR_PARSE;
    }
    rc = pl_disc_check_dns(pkt, qname, c, out, why, cap);
    ldns_pkt_free(pkt);
    return rc;
}

/* ---- a directory's error reply ----------------------------------------- */

static size_t put_clean(char *out, size_t cap, size_t n, const char *s, size_t len)
{
    for (size_t i = 0; i < len && n + 1 < cap && n < REASON_MAX; i++) {
        unsigned char b = (unsigned char)s[i];
        out[n++] = (b >= 0x20 && b <= 0x7e) ? (char)b : '?';
    }
    out[n] = 0;
    return n;
}

size_t pl_disc_server_reason(const char *body, size_t len, char *out, size_t cap)
{
    json_t *root;
    size_t n = 0;
    if (!out || cap == 0)
        return 0;
    out[0] = 0;
    if (!body || len == 0)
        return 0;
    if (len > PL_DISCOVERY_REPLY_MAX)
        len = PL_DISCOVERY_REPLY_MAX;
    root = json_loadb(body, len, JSON_REJECT_DUPLICATES, NULL);
    if (json_is_object(root)) {
        json_t *e = json_object_get(root, "error"), *r = json_object_get(root, "reason");
        if (json_is_string(e))
            n = put_clean(out, cap, n, json_string_value(e), json_string_length(e));
        if (json_is_string(r)) {
            if (n > 0)
                n = put_clean(out, cap, n, ": ", 2);
            n = put_clean(out, cap, n, json_string_value(r), json_string_length(r));
        }
        json_decref(root);
        return n;
    }
    json_decref(root);
    /* Not JSON: the first line of the text, if it is text. */
    size_t line = 0;
    while (line < len && body[line] != '\n' && body[line] != '\r')
        line++;
    return put_clean(out, cap, 0, body, line);
}
