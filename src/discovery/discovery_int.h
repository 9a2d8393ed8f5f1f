/*
 * discovery_int.h - the directory client's internal pieces.
 *
 * check.c judges what came back (sans-IO: bytes and the time in, a
 * verified record set or an explanation out); dns.c and http.c fetch the
 * bytes (ldns, libcurl); discover.c ties them together. The fuzz targets
 * and unit tests call the check functions directly.
 */
#ifndef PL_DISCOVERY_INT_H
#define PL_DISCOVERY_INT_H

#include <stddef.h>
#include <stdint.h>

#include <ldns/ldns.h>

#include "peerlink.h"

/* How a discovered set is judged. */
typedef struct pl_disc_check {
    const pl_fingerprint *fp; /* the fingerprint asked for */
    uint64_t now;
    uint32_t skew;
    uint64_t min_timestamp; /* 0: none */
} pl_disc_check;

/* Verify a decoded set against c, explaining a refusal in why[cap]:
 * PL_ERR_AUTH (another key; bad signature), PL_ERR_FUTURE, PL_ERR_EXPIRED
 * (also older than c->min_timestamp), PL_ERR_INVAL. */
int pl_disc_verify(const pl_record *rs, const pl_disc_check *c, char *why, size_t cap) PL_WUR;

/* An HTTP response body that should hold the JSON carrier: decode (at most
 * PL_RECORD_JSON_MAX bytes) and verify. *out is zeroed on failure. */
int pl_disc_check_json(const char *body, size_t len, const pl_disc_check *c, pl_record *out,
                       char *why, size_t cap) PL_WUR;

/* A DNS answer to a TXT query for qname (a presentation-form name): the
 * rcode (NXDOMAIN: PL_ERR_NOTFOUND; others but NOERROR: PL_ERR_IO), then
 * each TXT record owned by qname (or by the end of a CNAME chain from it in
 * the answer), at most PL_DISCOVERY_TXT_RRS_MAX: its RDATA through
 * pl_record_from_txt and pl_disc_verify. The newest set that verifies wins;
 * with none, the refusal of the first is reported (PL_ERR_NOTFOUND when
 * there was no TXT record at all). */
int pl_disc_check_dns(const ldns_pkt *pkt, const char *qname, const pl_disc_check *c,
                      pl_record *out, char *why, size_t cap) PL_WUR;

/* The same from the wire bytes of the DNS message (PL_ERR_PARSE when ldns
 * cannot parse them). */
int pl_disc_check_dns_wire(const uint8_t *wire, size_t len, const char *qname,
                           const pl_disc_check *c, pl_record *out, char *why, size_t cap) PL_WUR;

/* A directory's error body, untrusted: {"error":E,"reason":R} gives "E: R"
 * (either alone is fine); other text gives its first line. Only printable
 * ASCII and spaces are kept, at most 200 bytes; returns the length written
 * (0 when nothing usable). out is always NUL-terminated (cap >= 1). */
size_t pl_disc_server_reason(const char *body, size_t len, char *out, size_t cap);

/* Fetchers. timeout_ms > 0. */

/* GET url; a 2xx body of at most body_cap bytes goes to a fresh malloc'd
 * NUL-terminated buffer. *status is the HTTP status (0 if none came).
 * Returns 0 when a response came (any status; a non-2xx body is kept too,
 * capped), PL_ERR_TOOBIG when the body is over body_cap, PL_ERR_IO with
 * why for the network or TLS, PL_ERR_NOMEM. */
int pl_http_get(const char *url, const char *cafile, unsigned timeout_ms, size_t body_cap,
                long *status, char **body, size_t *body_len, char *why, size_t cap) PL_WUR;
/* PUT data (application/json) to url; the reply body as for pl_http_get. */
int pl_http_put(const char *url, const char *cafile, unsigned timeout_ms, const char *data,
                size_t len, size_t body_cap, long *status, char **body, size_t *body_len, char *why,
                size_t cap) PL_WUR;

/* Ask for the TXT records of qname (presentation form, absolute or not)
 * through the servers of /etc/resolv.conf or `server` ("ADDR[:PORT]").
 * A truncated UDP answer is asked again over TCP. On 0, *pkt is the answer
 * (free with ldns_pkt_free). PL_ERR_INVAL (bad server), PL_ERR_IO. */
int pl_dns_query_txt(const char *qname, const char *server, unsigned timeout_ms, unsigned flags,
                     ldns_pkt **pkt, char *why, size_t cap) PL_WUR;

#endif
