/*
 * discover.c - announce and discover record sets (DESIGN.md §4, §7;
 * docs/discovery.md).
 *
 * Where to ask comes from the fingerprint's authority (docs/formats.md §1):
 *
 *   ni://dir.example.org/sha3-256;B
 *     DNS:   TXT  H[0..32].H[32..64].0a.dir.example.org
 *     HTTPS: GET  https://dir.example.org/.well-known/ni/sha3-256/B
 *
 * and the caller may override either (a directory base URL, a DNS server).
 * Whatever comes back is judged by check.c against the fingerprint asked
 * for; nothing from the network is returned unverified.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "discovery/discovery_int.h"
#include "util/util.h"

#define WELL_KNOWN "/.well-known/ni/sha3-256/"

int pl_record_build(pl_record *rs, const pl_identity *id, const pl_record_fields *f, uint64_t now,
                    uint32_t ttl, const char **why)
{
    const char *dummy = NULL;
    int rc = PL_OK;
    if (!why)
        why = &dummy;
    *why = NULL;
    if (!rs || !id || !f) {
        *why = "missing argument";
        return PL_ERR_INVAL;
    }
    pl_record_init(rs);
    for (size_t i = 0; rc == PL_OK && i < f->n_addresses; i++)
        rc = pl_record_add_address(rs, f->addresses[i], why);
    for (size_t i = 0; rc == PL_OK && i < f->n_relays; i++) {
        pl_fingerprint relay;
        const char *s = f->relays[i];
        rc = s ? pl_fingerprint_parse(&relay, s, strlen(s), why) : PL_ERR_PARSE;
        if (rc == PL_OK)
            rc = pl_record_add_relay(rs, &relay);
        if (rc != PL_OK && !*why)
            *why = "a relay is not a usable fingerprint";
    }
    for (size_t i = 0; rc == PL_OK && i < f->n_names; i++)
        rc = pl_record_add_name(rs, f->names[i], why);
    for (size_t i = 0; rc == PL_OK && i < f->n_blobs; i++) {
        rc = pl_record_add_blob(rs, f->blobs[i], f->blob_lens[i]);
        if (rc != PL_OK)
            *why = "a blob is too long, or there are too many";
    }
    if (rc == PL_OK) {
        rc = pl_record_sign(rs, id, now, ttl);
        if (rc != PL_OK)
            *why = "cannot sign: the ttl must be 1 to 604800 seconds";
    }
    if (rc != PL_OK) {
        if (!*why)
            *why = "a field is not usable";
        pl_record_init(rs);
    }
    return rc;
}

static uint64_t now_or(uint64_t now)
{
    time_t t;
    if (now)
        return now;
    t = time(NULL);
    return t < 0 ? 0 : (uint64_t)t;
}

/* base (or "https://" + authority) + WELL_KNOWN + B */
static int make_url(const pl_fingerprint *fp, const char *base, char *out, size_t cap, char *why,
                    size_t wcap)
{
    char b64[PL_FP_B64_LEN + 1];
    size_t blen;
    int n;
    if (!base && !fp->authority[0]) {
        snprintf(why, wcap,
                 "the fingerprint names no directory (it has no authority): give the "
                 "directory's URL");
        return PL_ERR_INVAL;
    }
    if (pl_b64url_encode(fp->digest, sizeof fp->digest, b64, sizeof b64) < 0) {
        snprintf(why, wcap, "cannot encode the fingerprint");
        return PL_ERR_INTERNAL;
    }
    if (base) {
        blen = strlen(base);
        while (blen > 0 && base[blen - 1] == '/')
            blen--;
        if (strncmp(base, "http://", 7) != 0 && strncmp(base, "https://", 8) != 0) {
            snprintf(why, wcap,
                     "the directory URL '%.100s' does not start with https:// or http://", base);
            return PL_ERR_INVAL;
        }
        n = snprintf(out, cap, "%.*s%s%s", (int)blen, base, WELL_KNOWN, b64);
    } else {
        n = snprintf(out, cap, "https://%s%s%s", fp->authority, WELL_KNOWN, b64);
    }
    if (n < 0 || (size_t)n >= cap) {
        snprintf(why, wcap, "the directory URL is too long");
        return PL_ERR_INVAL;
    }
    return PL_OK;
}

static void check_of(pl_disc_check *c, const pl_fingerprint *fp, const pl_directory_opts *o)
{
    c->fp = fp;
    c->now = now_or(o->now);
    c->skew = o->skew;
    c->min_timestamp = o->min_timestamp;
}

static unsigned timeout_of(const pl_directory_opts *o)
{
    return o->timeout_ms ? o->timeout_ms : PL_DISCOVERY_TIMEOUT_MS;
}

static int via_dns(const pl_fingerprint *fp, const pl_directory_opts *o, pl_record *out,
                   pl_discovery_report *rep)
{
    char *why = rep->dns_why;
    size_t cap = sizeof rep->dns_why;
    pl_disc_check c;
    ldns_pkt *pkt = NULL;
    int rc, n;

    rep->dns_tried = 1;
    n = pl_fingerprint_dns_name(fp, rep->dns_name, sizeof rep->dns_name);
    if (n < 0) {
        rep->dns_name[0] = 0;
        snprintf(why, cap, "%s",
                 fp->authority[0] ? "the fingerprint's authority is not a DNS name, so it names "
                                    "no DNS zone"
                                  : "the fingerprint names no DNS zone (it has no authority)");
        return PL_ERR_INVAL;
    }
    rc = pl_dns_query_txt(rep->dns_name, o->dns_server, timeout_of(o), o->flags, &pkt, why, cap);
    if (rc != PL_OK)
        return rc;
    check_of(&c, fp, o);
    rc = pl_disc_check_dns(pkt, rep->dns_name, &c, out, why, cap);
    ldns_pkt_free(pkt);
    return rc;
}

static int via_https(const pl_fingerprint *fp, const pl_directory_opts *o, pl_record *out,
                     pl_discovery_report *rep)
{
    char *why = rep->https_why;
    size_t cap = sizeof rep->https_why;
    char *body = NULL, reason[PL_DISCOVERY_WHY_MAX / 2];
    size_t len = 0;
    pl_disc_check c;
    int rc;

    rep->https_tried = 1;
    rc = make_url(fp, o->directory, rep->url, sizeof rep->url, why, cap);
    if (rc != PL_OK)
        return rc;
    rc = pl_http_get(rep->url, o->cafile, timeout_of(o), PL_RECORD_JSON_MAX, &rep->http_status,
                     &body, &len, why, cap);
    if (rc != PL_OK)
        return rc;
    if (rep->http_status < 200 || rep->http_status > 299) {
        pl_disc_server_reason(body, len, reason, sizeof reason);
        snprintf(why, cap, "the directory answered HTTP %ld%s%s%s", rep->http_status,
                 rep->http_status == 404 ? " (nothing announced for this fingerprint)" : "",
                 reason[0] ? ": " : "", reason);
        free(body);
        return rep->http_status == 404 ? PL_ERR_NOTFOUND : PL_ERR_IO;
    }
    check_of(&c, fp, o);
    rc = pl_disc_check_json(body, len, &c, out, why, cap);
    free(body);
    return rc;
}

/* Only "not found" and network trouble let another carrier's verdict speak
 * instead: a set that was refused is worth reporting. */
static int soft(int err)
{
    return err == PL_ERR_NOTFOUND || err == PL_ERR_IO || err == PL_ERR_INVAL;
}

int pl_discover(const pl_fingerprint *fp, unsigned via, const pl_directory_opts *o, pl_record *out,
                pl_discovery_report *rep)
{
    pl_discovery_report local;
    pl_directory_opts none;
    int rc;

    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    if (out)
        pl_record_init(out);
    if (!o) {
        memset(&none, 0, sizeof none);
        none.skew = PL_RECORD_SKEW_DEFAULT;
        o = &none;
    }
    if (!fp || !out || via == 0 || (via & ~PL_VIA_ANY)) {
        snprintf(rep->dns_why, sizeof rep->dns_why, "bad arguments");
        return PL_ERR_INVAL;
    }
    if (via & PL_VIA_DNS) {
        rep->dns_err = via_dns(fp, o, out, rep);
        if (rep->dns_err == PL_OK) {
            rep->via = PL_VIA_DNS;
            return PL_OK;
        }
        pl_log(PL_LOG_INFO, "discover via DNS: %s", rep->dns_why);
    }
    if (via & PL_VIA_HTTPS) {
        rep->https_err = via_https(fp, o, out, rep);
        if (rep->https_err == PL_OK) {
            rep->via = PL_VIA_HTTPS;
            return PL_OK;
        }
        pl_log(PL_LOG_INFO, "discover via HTTPS: %s", rep->https_why);
    }
    pl_record_init(out);
    if (!(via & PL_VIA_HTTPS))
        return rep->dns_err;
    if (!(via & PL_VIA_DNS))
        return rep->https_err;
    rc = rep->dns_err;
    if (soft(rc) && !soft(rep->https_err))
        rc = rep->https_err;
    else if (rc == PL_ERR_INVAL && rep->https_err != PL_ERR_INVAL)
        rc = rep->https_err;
    return rc;
}

int pl_announce(const pl_record *rs, const pl_directory_opts *o, pl_discovery_report *rep)
{
    pl_discovery_report local;
    pl_fingerprint fp;
    char *json = NULL, *body = NULL, reason[PL_DISCOVERY_WHY_MAX / 2];
    char *why;
    size_t cap, len = 0;
    int rc, n;

    if (!rep)
        rep = &local;
    memset(rep, 0, sizeof *rep);
    why = rep->https_why;
    cap = sizeof rep->https_why;
    rep->https_tried = 1;
    if (!rs || !o || !o->directory) {
        snprintf(why, cap, "no directory URL given");
        return rep->https_err = PL_ERR_INVAL;
    }
    rc = pl_fingerprint_from_key(&fp, rs->public_key, NULL);
    if (rc == PL_OK) {
        pl_disc_check c;
        check_of(&c, &fp, o);
        rc = pl_disc_verify(rs, &c, why, cap);
    }
    if (rc != PL_OK)
        return rep->https_err = rc;
    rc = make_url(&fp, o->directory, rep->url, sizeof rep->url, why, cap);
    if (rc != PL_OK)
        return rep->https_err = rc;
    json = malloc(PL_RECORD_JSON_MAX + 1);
    if (!json) {
        snprintf(why, cap, "out of memory");
        return rep->https_err = PL_ERR_NOMEM;
    }
    n = pl_record_to_json(rs, json, PL_RECORD_JSON_MAX + 1);
    if (n < 0) {
        free(json);
        snprintf(why, cap, "cannot encode the record set");
        return rep->https_err = n;
    }
    rc = pl_http_put(rep->url, o->cafile, timeout_of(o), json, (size_t)n, PL_DISCOVERY_REPLY_MAX,
                     &rep->http_status, &body, &len, why, cap);
    free(json);
    if (rc == PL_ERR_TOOBIG && rep->http_status >= 200 && rep->http_status <= 299)
        rc = PL_OK; /* stored; a chatty reply is not our concern */
    if (rc != PL_OK) {
        free(body);
        return rep->https_err = rc == PL_ERR_TOOBIG ? PL_ERR_IO : rc;
    }
    if (rep->http_status < 200 || rep->http_status > 299) {
        pl_disc_server_reason(body, len, reason, sizeof reason);
        snprintf(why, cap, "the directory refused the record set: HTTP %ld%s%s", rep->http_status,
                 reason[0] ? ": " : "", reason);
        rc = PL_ERR_IO;
    }
    free(body);
    return rep->https_err = rc;
}
