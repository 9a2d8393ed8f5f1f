/*
 * dns.c - the DNS fetcher of the directory client, on ldns's resolver.
 *
 *   client                                      resolver / server
 *     TXT? H[0..32].H[32..64].0a.AUTHORITY  -->  (UDP, EDNS0 1232)
 *                                           <--  answer, or TC=1
 *     TC=1: the same question over TCP      -->
 *                                           <--  answer
 *
 * The servers are those of /etc/resolv.conf (the system's resolver path),
 * or one given address. The TCP retry of a truncated answer is done here
 * rather than by ldns's own fallback so that it is one step that can be
 * logged and tested: ldns's fallback first retries over UDP with a larger
 * EDNS0 buffer, which a large record set still overflows. The answer is
 * parsed by ldns and judged by check.c; no packet bytes are parsed here.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "discovery/discovery_int.h"
#include "util/util.h"

#define EDNS_UDP_SIZE 1232 /* the DNS Flag Day 2020 size: no IP fragmentation */
#define ADDR_MAX      64

/* "ADDR", "ADDR:PORT", "[ADDR]:PORT" or a bare IPv6 address. */
static int add_server(ldns_resolver *r, const char *server, char *why, size_t cap)
{
    char addr[ADDR_MAX];
    const char *port = NULL, *colon = strchr(server, ':');
    size_t alen;
    ldns_rdf *ns;
    ldns_status st;

    if (server[0] == '[') {
        const char *end = strchr(server, ']');
        if (!end || (end[1] != 0 && end[1] != ':')) {
            snprintf(why, cap, "DNS server '%s': an IPv6 address with a port is [ADDR]:PORT",
                     server);
            return PL_ERR_INVAL;
        }
        alen = (size_t)(end - server - 1);
        server++;
        port = end[1] == ':' ? end + 2 : NULL;
    } else if (colon && !strchr(colon + 1, ':')) { /* one colon: IPv4:PORT */
        alen = (size_t)(colon - server);
        port = colon + 1;
    } else {
        alen = strlen(server);
    }
    if (alen == 0 || alen >= sizeof addr) {
        snprintf(why, cap, "DNS server '%s' is not an IP address", server);
        return PL_ERR_INVAL;
    }
    memcpy(addr, server, alen);
    addr[alen] = 0;
    if (port) {
        unsigned long p = 0;
        size_t i = 0;
        for (; port[i] >= '0' && port[i] <= '9' && i < 6; i++)
            p = p * 10 + (unsigned long)(port[i] - '0');
        if (i == 0 || port[i] != 0 || p == 0 || p > 65535 || port[0] == '0') {
            snprintf(why, cap, "DNS server port '%s' is not a number from 1 to 65535", port);
            return PL_ERR_INVAL;
        }
        ldns_resolver_set_port(r, (uint16_t)p);
    }
    ns = ldns_rdf_new_frm_str(strchr(addr, ':') ? LDNS_RDF_TYPE_AAAA : LDNS_RDF_TYPE_A, addr);
    if (!ns) {
        snprintf(why, cap, "DNS server '%s' is not an IP address", addr);
        return PL_ERR_INVAL;
    }
    st = ldns_resolver_push_nameserver(r, ns);
    ldns_rdf_deep_free(ns);
    if (st != LDNS_STATUS_OK) {
        snprintf(why, cap, "cannot use DNS server %s: %s", addr, ldns_get_errorstr_by_id(st));
        return PL_ERR_INVAL;
    }
    return PL_OK;
}

static int make_resolver(ldns_resolver **out, const char *server, unsigned timeout_ms,
                         unsigned flags, char *why, size_t cap)
{
    struct timeval tv;
    ldns_resolver *r = NULL;
    int rc = PL_OK;

    if (server) {
        r = ldns_resolver_new();
        if (!r) {
            snprintf(why, cap, "out of memory");
            return PL_ERR_NOMEM;
        }
        rc = add_server(r, server, why, cap);
    } else {
        ldns_status st = ldns_resolver_new_frm_file(&r, NULL);
        if (st != LDNS_STATUS_OK) {
            snprintf(why, cap,
                     "cannot read the system's resolver configuration "
                     "(/etc/resolv.conf): %s",
                     ldns_get_errorstr_by_id(st));
            return PL_ERR_IO;
        }
        if (ldns_resolver_nameserver_count(r) == 0) {
            snprintf(why, cap, "/etc/resolv.conf names no DNS server: give one");
            rc = PL_ERR_IO;
        }
    }
    if (rc != PL_OK) {
        ldns_resolver_deep_free(r);
        return rc;
    }
    tv.tv_sec = timeout_ms / 1000;
    tv.tv_usec = (suseconds_t)(timeout_ms % 1000) * 1000;
    ldns_resolver_set_timeout(r, tv);
    ldns_resolver_set_retry(r, 1);
    ldns_resolver_set_fallback(r, false); /* our own TCP retry, below */
    ldns_resolver_set_usevc(r, false);
    ldns_resolver_set_defnames(r, false); /* the name is absolute: no search list */
    ldns_resolver_set_dnsrch(r, false);
    ldns_resolver_set_recursive(r, true);
    ldns_resolver_set_edns_udp_size(r, (flags & PL_DISCOVERY_NO_EDNS) ? 0 : EDNS_UDP_SIZE);
    *out = r;
    return PL_OK;
}

int pl_dns_query_txt(const char *qname, const char *server, unsigned timeout_ms, unsigned flags,
                     ldns_pkt **pkt, char *why, size_t cap)
{
    ldns_resolver *r = NULL;
    ldns_rdf *name = NULL;
    ldns_status st;
    int rc;

    *pkt = NULL;
    rc = make_resolver(&r, server, timeout_ms, flags, why, cap);
    if (rc != PL_OK)
        return rc;
    if (ldns_str2rdf_dname(&name, qname) != LDNS_STATUS_OK) {
        snprintf(why, cap, "cannot make a DNS name of %s", qname);
        ldns_resolver_deep_free(r);
        return PL_ERR_INVAL;
    }
    st = ldns_resolver_query_status(pkt, r, name, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, LDNS_RD);
    if (st == LDNS_STATUS_OK && *pkt && ldns_pkt_tc(*pkt)) {
        pl_log(PL_LOG_INFO, "TXT %s: the UDP answer is truncated; asking again over TCP", qname);
        ldns_pkt_free(*pkt);
        *pkt = NULL;
        ldns_resolver_set_usevc(r, true);
        st = ldns_resolver_query_status(pkt, r, name, LDNS_RR_TYPE_TXT, LDNS_RR_CLASS_IN, LDNS_RD);
    }
    if (st != LDNS_STATUS_OK || !*pkt) {
        snprintf(why, cap, "no answer from the DNS server%s%s (%s): %s",
                 server ? " " : "s of /etc/resolv.conf", server ? server : "",
                 ldns_resolver_usevc(r) ? "TCP" : "UDP",
                 st != LDNS_STATUS_OK ? ldns_get_errorstr_by_id(st) : "no packet");
        ldns_pkt_free(*pkt);
        *pkt = NULL;
        rc = PL_ERR_IO;
    } else {
        pl_log(PL_LOG_INFO, "TXT %s: answer over %s, %zu bytes, %zu answer records", qname,
               ldns_resolver_usevc(r) ? "TCP" : "UDP", ldns_pkt_size(*pkt),
               (size_t)ldns_pkt_ancount(*pkt));
    }
    ldns_rdf_deep_free(name);
    ldns_resolver_deep_free(r);
    return rc;
}
