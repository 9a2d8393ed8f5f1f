/*
 * directory.h - the directory's sans-IO cores (internal).
 *
 *   store.c      record sets on SQLite: verify, no rollback, expiry
 *   http.c       method + path + body -> status + JSON body
 *   dns.c        DNS query bytes -> DNS response bytes (ldns), one zone
 *   ratelimit.c  token bucket per source address (IPv6 by /64)
 *
 * None of them reads a clock or touches a socket: the time comes in as an
 * argument. The store and the rate limiter take a mutex of their own, so
 * the runtime (src/runtime/directory.c) may call them from several threads.
 * docs/directory.md describes the behaviour seen from outside.
 */
#ifndef PL_DIRECTORY_DIRECTORY_H
#define PL_DIRECTORY_DIRECTORY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "peerlink.h"

/* ---- store ------------------------------------------------------------ */

typedef struct pl_dir_store pl_dir_store;

#define PL_DIR_SCHEMA_VERSION 1

enum pl_dir_put_outcome {
    PL_DIR_CREATED = 1,   /* no current set was held for this fingerprint */
    PL_DIR_REPLACED = 2,  /* a newer set replaced the one held */
    PL_DIR_UNCHANGED = 3, /* the very set held was announced again */
};

/* Open (creating if missing) the database at path; ":memory:" for a
 * private in-memory store. WAL, synchronous=FULL: a put that returned has
 * reached the disk. Errors: PL_ERR_IO (cannot open or write), PL_ERR_PARSE
 * (not a peerlink directory database), PL_ERR_VERSION (a newer schema),
 * PL_ERR_NOMEM; *why says which. */
int pl_dir_store_open(pl_dir_store **out, const char *path, const char **why) PL_WUR;
void pl_dir_store_close(pl_dir_store *st); /* NULL is fine */

/* Announce: the JSON carrier of a record set for the fingerprint whose
 * digest is `digest` (the one named by the URL). Checks, in order: size
 * (PL_ERR_TOOBIG), JSON carrier (PL_ERR_PARSE, PL_ERR_VERSION), then
 * pl_record_verify against digest at now with skew (PL_ERR_AUTH,
 * PL_ERR_FUTURE, PL_ERR_EXPIRED, PL_ERR_INVAL), then no rollback:
 * PL_ERR_EXIST when the set is older than the newest one this store has
 * accepted for the key (even if that one has expired since), or as old
 * but different. On success *outcome says what happened. PL_ERR_IO when
 * the database fails; nothing is changed on any failure. */
int pl_dir_store_put(pl_dir_store *st, const uint8_t digest[PL_FP_DIGEST_LEN], const char *json,
                     size_t len, uint64_t now, uint32_t skew, enum pl_dir_put_outcome *outcome,
                     const char **why) PL_WUR;

/* The newest unexpired set for digest: its JSON carrier (as the store
 * re-encoded it; pl_record_from_json reads it back) or its TXT carrier
 * RDATA, and when it expires (timestamp + ttl). Returns the length
 * written (a NUL follows the JSON), PL_ERR_NOTFOUND, PL_ERR_BUFSIZE,
 * PL_ERR_IO. expires may be NULL. */
int pl_dir_store_get_json(pl_dir_store *st, const uint8_t digest[PL_FP_DIGEST_LEN], uint64_t now,
                          char *out, size_t cap, uint64_t *expires) PL_WUR;
int pl_dir_store_get_txt(pl_dir_store *st, const uint8_t digest[PL_FP_DIGEST_LEN], uint64_t now,
                         uint8_t *out, size_t cap, uint64_t *expires) PL_WUR;

/* Drop the contents of sets expired at now (their fingerprint and
 * timestamp stay, so an older set cannot be replayed) and forget keys
 * whose newest set is so old that any older one has expired too. Returns
 * the number of sets dropped, or PL_ERR_IO. */
int pl_dir_store_sweep(pl_dir_store *st, uint64_t now) PL_WUR;

/* Sets currently held and unexpired at now; PL_ERR_IO. */
int pl_dir_store_count(pl_dir_store *st, uint64_t now) PL_WUR;

/* A counter that changes whenever a put or a sweep changed what the store
 * holds (lock-free; for caches of answers derived from the store). */
uint64_t pl_dir_store_generation(const pl_dir_store *st);

/* ---- rate limiter ------------------------------------------------------ */

typedef struct pl_dir_ratelimit pl_dir_ratelimit;

#define PL_DIR_RL_ENTRIES_DEFAULT 8192
#define PL_DIR_RL_PROBE           8 /* slots looked at before evicting */

/* A token bucket per source: `burst` tokens, refilled at `per_min` tokens
 * per minute. IPv4 addresses (and IPv4-mapped IPv6) count one by one;
 * IPv6 addresses by their /64. At most `entries` sources are remembered
 * (rounded up to a power of two); a new one evicts the least recently
 * seen in its probe window. key: 16 bytes for the keyed hash (callers
 * pass random bytes, so nobody can aim at one bucket). per_min 0 disables
 * limiting. PL_ERR_INVAL, PL_ERR_NOMEM. */
int pl_dir_ratelimit_new(pl_dir_ratelimit **out, unsigned per_min, unsigned burst, size_t entries,
                         const uint8_t key[16]) PL_WUR;
void pl_dir_ratelimit_free(pl_dir_ratelimit *rl);

/* Take one token for sa at now_ms (milliseconds, any monotonic origin).
 * Returns 0 when allowed, else the seconds (>= 1) until a token is back.
 * Unknown address families are allowed. */
unsigned pl_dir_ratelimit_take(pl_dir_ratelimit *rl, const struct sockaddr *sa, uint64_t now_ms);

/* ---- HTTP -------------------------------------------------------------- */

#define PL_DIR_HTTP_PREFIX   "/.well-known/ni/sha3-256/"
#define PL_DIR_HTTP_BODY_MAX (PL_RECORD_JSON_MAX + 1024) /* largest response body */

typedef struct pl_dir_http {
    pl_dir_store *store;
    pl_dir_ratelimit *rl; /* NULL: no limit */
    uint32_t skew;        /* seconds a timestamp may be ahead of now */
} pl_dir_http;

typedef struct pl_dir_http_resp {
    int status;           /* 200, 201, 400, 403, 404, 405, 409, 413, 422, 429, 500 */
    unsigned retry_after; /* seconds, for 429 (0 otherwise) */
    const char *allow;    /* for 405: the Allow header value, else NULL */
    size_t body_len;      /* JSON, NUL-terminated in body */
    char body[PL_DIR_HTTP_BODY_MAX + 1];
} pl_dir_http_resp;

/* One request. method and path are as received (path without query);
 * body_over set means the body passed PL_RECORD_JSON_MAX and was not kept.
 * peer may be NULL (no rate limit). now in Unix seconds, now_ms for the
 * rate limiter. Always fills resp. */
void pl_dir_http_handle(const pl_dir_http *h, const struct sockaddr *peer, const char *method,
                        const char *path, const uint8_t *body, size_t body_len, int body_over,
                        uint64_t now, uint64_t now_ms, pl_dir_http_resp *resp);

/* ---- DNS --------------------------------------------------------------- */

typedef struct pl_dir_dns pl_dir_dns;

#define PL_DIR_DNS_UDP_MIN     512   /* without EDNS0 (RFC 1035 §4.2.1) */
#define PL_DIR_DNS_UDP_MAX     4096  /* the most we honour of an EDNS0 size */
#define PL_DIR_DNS_EDNS_SIZE   1232  /* what we advertise (DNS flag day 2020) */
#define PL_DIR_DNS_MSG_MAX     65535 /* over TCP */
#define PL_DIR_DNS_MAX_TTL     300   /* default cap on answer TTLs */
#define PL_DIR_DNS_APEX_TTL    3600  /* SOA and NS records */
#define PL_DIR_DNS_NEG_TTL     60    /* SOA minimum: negative caching */
#define PL_DIR_DNS_CACHE_SLOTS 1024  /* answers remembered (direct-mapped) */
#define PL_DIR_DNS_CACHE_Q_MAX 288   /* longest query whose answer is cached */
#define PL_DIR_DNS_CACHE_R_MAX 1232  /* longest answer cached */

typedef struct pl_dir_dns_config {
    const char *zone;  /* e.g. "dir.example.org" (trailing dot optional) */
    const char *ns;    /* NULL: "ns1." zone */
    const char *mbox;  /* SOA RNAME as a name, NULL: "hostmaster." zone */
    uint32_t serial;   /* SOA serial */
    uint32_t max_ttl;  /* 0: PL_DIR_DNS_MAX_TTL */
    uint32_t neg_ttl;  /* 0: PL_DIR_DNS_NEG_TTL */
    uint32_t apex_ttl; /* 0: PL_DIR_DNS_APEX_TTL */
    int no_cache;      /* build every answer afresh (tests, fuzzing) */
} pl_dir_dns_config;

/* PL_ERR_INVAL with *why for a bad zone, NS or mailbox name. A responder
 * keeps a cache of recent answers: use one per thread. */
int pl_dir_dns_new(pl_dir_dns **out, const pl_dir_dns_config *cfg, const char **why) PL_WUR;
void pl_dir_dns_free(pl_dir_dns *d);

/* Answer one query. tcp: the query came over TCP (no size limit but
 * 65535); else UDP (512 bytes, or the EDNS0 size the query advertises,
 * at most PL_DIR_DNS_UDP_MAX). Returns the response length, 0 when no
 * response should be sent (not a query, or too short to answer), or
 * PL_ERR_BUFSIZE / PL_ERR_NOMEM / PL_ERR_INTERNAL. cap should be
 * PL_DIR_DNS_MSG_MAX.
 *
 * The answer is a function of the query bytes, the transport, now (whole
 * seconds) and what the store holds; so the last answer to the same bytes
 * (but the ID) in the same second, with no change to the store since, is
 * replayed from the cache with the query's ID. */
int pl_dir_dns_answer(pl_dir_dns *d, pl_dir_store *st, const uint8_t *q, size_t qlen, int tcp,
                      uint64_t now, uint8_t *out, size_t cap) PL_WUR;

#endif
