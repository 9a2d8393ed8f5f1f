/*
 * peerlink.h - the one public header of libpeerlink.
 *
 * Conventions (see docs/ARCHITECTURE.md):
 *  - Functions return 0 or a negative PL_ERR_* code; functions that produce
 *    bytes return a count (>= 0) or a negative PL_ERR_* code.
 *  - Where a function can explain a parse failure it takes `const char
 *    **why`: on failure *why points to a static, human-readable sentence
 *    (never NULL when the argument is non-NULL). The caller must not free it.
 *  - The library never prints. Diagnostics go to the log callback.
 *  - Sizes and caps are named constants below; nothing untrusted exceeds them.
 */
#ifndef PEERLINK_H
#define PEERLINK_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define PL_WUR __attribute__((warn_unused_result))
#else
#define PL_WUR
#endif

/* ------------------------------------------------------------------ */
/* Errors                                                             */
/* ------------------------------------------------------------------ */

#define PL_OK              0
#define PL_ERR_INVAL       -1  /* bad argument from the caller */
#define PL_ERR_NOMEM       -2  /* allocation failed */
#define PL_ERR_IO          -3  /* file or system call failed (see errno) */
#define PL_ERR_PARSE       -4  /* malformed input */
#define PL_ERR_TOOBIG      -5  /* input or output exceeds a named cap */
#define PL_ERR_BUFSIZE     -6  /* caller's output buffer too small */
#define PL_ERR_AUTH        -7  /* authentication failed (one code, on purpose) */
#define PL_ERR_EXPIRED     -8  /* signed statement is past its validity */
#define PL_ERR_FUTURE      -9  /* signed statement dated too far ahead */
#define PL_ERR_PERM        -10 /* file permissions unsafe (e.g. key readable by others) */
#define PL_ERR_EXIST       -11 /* refusing to overwrite */
#define PL_ERR_NOTFOUND    -12 /* no such file, entry or record */
#define PL_ERR_VERSION     -13 /* unsupported format version */
#define PL_ERR_DENIED      -14 /* peer is denied by the trust store */
#define PL_ERR_UNTRUSTED   -15 /* peer is not in the trust store */
#define PL_ERR_INTERNAL    -16 /* library bug or crypto backend failure */
#define PL_ERR_ROLE        -17 /* the two sides' roles cannot be settled (both client-only, ...) */
#define PL_ERR_TIMEOUT     -18 /* no answer in time */
#define PL_ERR_UNREACHABLE -19 /* no handshake, or the peer stopped answering */
#define PL_ERR_REFUSED     -20 /* the peer refused (us, or the request) */
#define PL_ERR_CLOSED      -21 /* the peer closed the connection */

/* A short English description of an error code; never NULL. */
const char *pl_strerror(int err);

/* ------------------------------------------------------------------ */
/* Library setup and logging                                          */
/* ------------------------------------------------------------------ */

/* Initialise the crypto backends. Safe to call more than once. */
int pl_init(void) PL_WUR;

enum pl_log_level {
    PL_LOG_ERROR = 0,
    PL_LOG_WARN = 1,
    PL_LOG_INFO = 2,
    PL_LOG_DEBUG = 3,
};

/* The library never prints. It calls this function (if set) instead.
 * Keys appear in log messages only as fingerprints. */
typedef void (*pl_log_fn)(void *user, enum pl_log_level level, const char *msg);
void pl_set_log(pl_log_fn fn, void *user, enum pl_log_level max_level);

/* ------------------------------------------------------------------ */
/* Encodings                                                          */
/* ------------------------------------------------------------------ */

/* Unpadded base64url (RFC 4648 §5). The decoder is strict: no padding, no
 * whitespace, and the unused low bits of the last character must be zero
 * (so each byte string has exactly one encoding). */
#define PL_B64_LEN(n) (((n)*4 + 2) / 3) /* encoded length, no NUL */
int pl_b64url_encode(const uint8_t *in, size_t len, char *out, size_t cap) PL_WUR;
int pl_b64url_decode(const char *in, size_t len, uint8_t *out, size_t cap) PL_WUR;

/* Instants as RFC 3339 UTC date-times, "YYYY-MM-DDTHH:MM:SSZ" (whole
 * seconds, "Z" only, no leap seconds), 1970-01-01T00:00:00Z through
 * 9999-12-31T23:59:59Z. parse: 0 or PL_ERR_PARSE (with *why). format:
 * PL_TIME_LEN, or PL_ERR_INVAL past PL_TIME_MAX, or PL_ERR_BUFSIZE. */
#define PL_TIME_LEN 20
#define PL_TIME_MAX UINT64_C(253402300799)
int pl_time_parse(const char *s, size_t len, uint64_t *out, const char **why) PL_WUR;
int pl_time_format(uint64_t t, char *out, size_t cap) PL_WUR;

/* ------------------------------------------------------------------ */
/* Ed25519 policy (DESIGN.md §2.3, docs/ed25519-policy.md)            */
/* ------------------------------------------------------------------ */

#define PL_ED25519_PK_LEN   32
#define PL_ED25519_SIG_LEN  64
#define PL_ED25519_SEED_LEN 32

/* The one verification every signature in peerlink goes through.
 * Returns 0 if valid, PL_ERR_AUTH otherwise. */
int pl_ed25519_verify(const uint8_t sig[PL_ED25519_SIG_LEN], const uint8_t *msg, size_t len,
                      const uint8_t pk[PL_ED25519_PK_LEN]) PL_WUR;

/* Whether a public key is acceptable as an identity key under the policy
 * (canonical encoding, on the curve, in the prime-order subgroup, not of
 * small order). Returns 0 or PL_ERR_AUTH. */
int pl_ed25519_check_key(const uint8_t pk[PL_ED25519_PK_LEN]) PL_WUR;

/* ------------------------------------------------------------------ */
/* Fingerprints (DESIGN.md §2.1)                                      */
/* ------------------------------------------------------------------ */

#define PL_FP_DIGEST_LEN       32
#define PL_FP_B64_LEN          43  /* base64url of the digest */
#define PL_AUTHORITY_MAX       261 /* host (<= 253, or [IPv6]) plus ":port" */
#define PL_FINGERPRINT_STR_MAX 320 /* longest "ni://..." text, incl. NUL */
#define PL_DNS_NAME_MAX        254 /* incl. NUL */
#define PL_URL_MAX             384 /* well-known URL, incl. NUL */

typedef struct pl_fingerprint {
    uint8_t digest[PL_FP_DIGEST_LEN];     /* SHA3-256 of the DER SubjectPublicKeyInfo */
    char authority[PL_AUTHORITY_MAX + 1]; /* "" when absent */
} pl_fingerprint;

/* Fingerprint of a raw 32-byte Ed25519 key; authority may be NULL or "". */
int pl_fingerprint_from_key(pl_fingerprint *fp, const uint8_t pk[PL_ED25519_PK_LEN],
                            const char *authority) PL_WUR;

/* Strict parse of "ni://[authority]/sha3-256;B". */
int pl_fingerprint_parse(pl_fingerprint *fp, const char *s, size_t len, const char **why) PL_WUR;

/* Replace (or, with NULL/"", clear) the authority. Validates it. */
int pl_fingerprint_set_authority(pl_fingerprint *fp, const char *authority,
                                 const char **why) PL_WUR;

/* "ni://authority/sha3-256;B" (or "ni:///sha3-256;B"). Returns length. */
int pl_fingerprint_format(const pl_fingerprint *fp, char *out, size_t cap) PL_WUR;

/* Equal digests (authority ignored): 1 if equal, 0 if not. */
int pl_fingerprint_equal(const pl_fingerprint *a, const pl_fingerprint *b);

/* "HEX[0..32].HEX[32..64].0a.HOST" - needs a DNS host name authority (the
 * port, if any, is dropped). Returns the length; PL_ERR_INVAL without a DNS
 * host name, PL_ERR_TOOBIG if the name would exceed 253 characters,
 * PL_ERR_BUFSIZE. */
int pl_fingerprint_dns_name(const pl_fingerprint *fp, char *out, size_t cap) PL_WUR;

/* "https://AUTHORITY/.well-known/ni/sha3-256/B". Returns length. */
int pl_fingerprint_well_known_url(const pl_fingerprint *fp, char *out, size_t cap) PL_WUR;

/* ------------------------------------------------------------------ */
/* Identity (Ed25519 key pair) and its key file                       */
/* ------------------------------------------------------------------ */

typedef struct pl_identity pl_identity; /* secret kept in locked memory */

#define PL_IDENTITY_FILE_MAX 1024 /* encoded key file size cap */
#define PL_PATH_MAX          4096

int pl_identity_generate(pl_identity **out) PL_WUR;
int pl_identity_from_seed(pl_identity **out, const uint8_t seed[PL_ED25519_SEED_LEN]) PL_WUR;
void pl_identity_free(pl_identity *id); /* wipes; NULL is fine */

void pl_identity_public_key(const pl_identity *id, uint8_t pk[PL_ED25519_PK_LEN]);
void pl_identity_fingerprint(const pl_identity *id, pl_fingerprint *fp);
int pl_identity_sign(const pl_identity *id, const uint8_t *msg, size_t len,
                     uint8_t sig[PL_ED25519_SIG_LEN]) PL_WUR;

/* Key file text (docs/formats.md). encode returns the length written.*/
int pl_identity_encode(const pl_identity *id, char *out, size_t cap) PL_WUR;
int pl_identity_decode(pl_identity **out, const char *in, size_t len, const char **why) PL_WUR;

#define PL_IDENTITY_FORCE 1 /* pl_identity_save: overwrite an existing file */

/* Writes atomically with mode 0600, creating the parent directory (0700).
 * Without PL_IDENTITY_FORCE an existing file gives PL_ERR_EXIST. */
int pl_identity_save(const pl_identity *id, const char *path, int flags) PL_WUR;

/* Refuses (PL_ERR_PERM) a file that group or others can read or write,
 * like OpenSSH. */
int pl_identity_load(pl_identity **out, const char *path, const char **why) PL_WUR;

/* The key path: $PEERLINK_KEY, else $XDG_CONFIG_HOME/peerlink/identity,
 * else $HOME/.config/peerlink/identity. Returns length. */
int pl_identity_default_path(char *out, size_t cap) PL_WUR;

/* ------------------------------------------------------------------ */
/* Record sets (DESIGN.md §2.2, docs/formats.md §3)                   */
/* ------------------------------------------------------------------ */

#define PL_RECORD_ADDRESSES_MAX 16
#define PL_RECORD_URI_MAX       255 /* bytes of one address URI */
#define PL_RECORD_RELAYS_MAX    8
#define PL_RECORD_NAMES_MAX     4
#define PL_RECORD_NAME_MAX      255 /* bytes of one name */
#define PL_RECORD_BLOBS_MAX     4
#define PL_RECORD_BLOB_MAX      1024   /* bytes of one blob */
#define PL_RECORD_TTL_MAX       604800 /* seconds (7 days) */
/* Latest timestamp, 2^53 - 1: every JSON implementation reads it exactly. */
#define PL_RECORD_TIMESTAMP_MAX 9007199254740991u
#define PL_RECORD_SKEW_DEFAULT  300   /* tolerated clock skew, seconds */
#define PL_RECORD_CANONICAL_MAX 12288 /* canonical byte string */
#define PL_RECORD_JSON_MAX      24576 /* JSON carrier, bytes */
#define PL_RECORD_TXT_MAX       16384 /* TXT carrier RDATA, bytes */

typedef struct pl_record_blob {
    size_t len;
    uint8_t data[PL_RECORD_BLOB_MAX];
} pl_record_blob;

typedef struct pl_record {
    uint8_t public_key[PL_ED25519_PK_LEN];
    uint64_t timestamp; /* seconds since the Unix epoch, when signed */
    uint32_t ttl;       /* seconds of validity from timestamp, 1..PL_RECORD_TTL_MAX */
    size_t n_addresses; /* order is significant and signed */
    char addresses[PL_RECORD_ADDRESSES_MAX][PL_RECORD_URI_MAX + 1];
    size_t n_relays; /* fingerprints in canonical text form */
    char relays[PL_RECORD_RELAYS_MAX][PL_FINGERPRINT_STR_MAX];
    size_t n_names;
    char names[PL_RECORD_NAMES_MAX][PL_RECORD_NAME_MAX + 1];
    size_t n_blobs;
    pl_record_blob blobs[PL_RECORD_BLOBS_MAX];
    uint8_t signature[PL_ED25519_SIG_LEN];
} pl_record;

/* Zero the record (no fields, ttl 0). */
void pl_record_init(pl_record *rs);

/* Append a field, validating it (docs/formats.md §3.3). Returns 0,
 * PL_ERR_PARSE for a bad value, PL_ERR_TOOBIG when the value is too long or
 * the field is already at its count cap, PL_ERR_INVAL for NULL arguments.
 * On failure the record is unchanged. An empty blob is a valid field. */
int pl_record_add_address(pl_record *rs, const char *uri, const char **why) PL_WUR;
int pl_record_add_relay(pl_record *rs, const pl_fingerprint *relay) PL_WUR;
int pl_record_add_name(pl_record *rs, const char *name, const char **why) PL_WUR;
int pl_record_add_blob(pl_record *rs, const uint8_t *data, size_t len) PL_WUR;

/* The canonical byte string that is signed. Returns its length, or
 * PL_ERR_INVAL if any field (ttl included) is invalid, PL_ERR_BUFSIZE. */
int pl_record_canonical(const pl_record *rs, uint8_t *out, size_t cap) PL_WUR;

/* Sets public_key, timestamp (now) and ttl, then signs. PL_ERR_INVAL for a
 * ttl outside 1..PL_RECORD_TTL_MAX, now past PL_RECORD_TIMESTAMP_MAX or an
 * invalid field; the signature is zeroed on failure. */
int pl_record_sign(pl_record *rs, const pl_identity *id, uint64_t now, uint32_t ttl) PL_WUR;

/* Full verification (docs/formats.md §3.6):
 *  1. fields valid (PL_ERR_INVAL);
 *  2. fingerprint of the key equal to `expected` when non-NULL, authority
 *     ignored (PL_ERR_AUTH);
 *  3. ttl in 1..PL_RECORD_TTL_MAX (PL_ERR_INVAL);
 *  4. signature over the canonical string, by pl_ed25519_verify, which
 *     also refuses keys outside the policy (PL_ERR_AUTH);
 *  5. not dated more than `skew` seconds after `now`: timestamp <= now +
 *     skew, else PL_ERR_FUTURE;
 *  6. not expired: now < timestamp + ttl, else PL_ERR_EXPIRED.
 * PL_ERR_FUTURE and PL_ERR_EXPIRED therefore always describe a record set
 * that its key did sign. */
int pl_record_verify(const pl_record *rs, const pl_fingerprint *expected, uint64_t now,
                     uint32_t skew) PL_WUR;

/* JSON carrier. encode returns the length written (no NUL counted; a NUL is
 * written when room allows). decode does not verify the signature; it
 * returns PL_ERR_PARSE, PL_ERR_TOOBIG or PL_ERR_VERSION ("v" is not 1) and
 * leaves the record zeroed on failure. */
int pl_record_to_json(const pl_record *rs, char *out, size_t cap) PL_WUR;
int pl_record_from_json(pl_record *rs, const char *in, size_t len, const char **why) PL_WUR;

/* DNS TXT carrier: the RDATA of one TXT resource record, i.e. a sequence of
 * <length byte><string> character-strings (RFC 1035 §3.3.14). The encoding
 * is canonical: decode then encode reproduces the input byte for byte.
 * Errors as for the JSON carrier ("v=plN" with N != 1 is PL_ERR_VERSION). */
int pl_record_to_txt(const pl_record *rs, uint8_t *out, size_t cap) PL_WUR;
int pl_record_from_txt(pl_record *rs, const uint8_t *in, size_t len, const char **why) PL_WUR;

/* ------------------------------------------------------------------ */
/* Trust store (docs/formats.md §4)                                   */
/* ------------------------------------------------------------------ */

/* The trust file is text a person can edit, like OpenSSH authorized_keys:
 *
 *   # comment lines and blank lines are kept, in place, when written back
 *   allow ni:///sha3-256;B name=alice groups=lab,ops expires=2026-12-01T00:00:00Z
 *   deny  ni://dir.example.org/sha3-256;B name=mallory
 *
 * Verdict: entries whose expiry has passed are ignored; any deny wins;
 * else an allow allows; else unknown. A fingerprint's authority is kept
 * (for discovery) but never compared. */
typedef struct pl_trust pl_trust;

#define PL_TRUST_FILE_MAX       (4u << 20) /* 4 MiB; also caps pl_trust_format's output */
#define PL_TRUST_ENTRIES_MAX    65536
#define PL_TRUST_LINE_MAX       1024 /* bytes of one line, without its "\n" */
#define PL_TRUST_PETNAME_MAX    64   /* name=: [A-Za-z0-9._@+-] */
#define PL_TRUST_GROUPS_MAX     16   /* groups per entry */
#define PL_TRUST_GROUP_NAME_MAX 32   /* one group name: [a-z0-9_-] */

enum pl_trust_verdict {
    PL_TRUST_UNKNOWN = 0, /* not listed (or listed only with expired entries) */
    PL_TRUST_ALLOWED = 1,
    PL_TRUST_DENIED = 2, /* deny wins over allow */
};

enum pl_trust_kind {
    PL_TRUST_ALLOW = 1,
    PL_TRUST_DENY = 2,
};

typedef struct pl_trust_entry {
    enum pl_trust_kind kind;
    pl_fingerprint fp;
    char petname[PL_TRUST_PETNAME_MAX + 1]; /* "" when none */
    size_t n_groups;                        /* always 0 on a deny entry */
    char groups[PL_TRUST_GROUPS_MAX][PL_TRUST_GROUP_NAME_MAX + 1];
    uint64_t expires; /* Unix seconds; 0 = never */
} pl_trust_entry;

/* An empty store. PL_ERR_NOMEM, PL_ERR_INTERNAL. */
int pl_trust_new(pl_trust **out) PL_WUR;
void pl_trust_free(pl_trust *ts); /* NULL is fine */

/* Parse trust-file text into a fresh store (*out is NULL on failure).
 * PL_ERR_PARSE: *line (if non-NULL) is the 1-based line number and *why
 * says what is wrong with it; this includes a line over PL_TRUST_LINE_MAX
 * and the entry past PL_TRUST_ENTRIES_MAX. PL_ERR_TOOBIG (*line 0): the text
 * is over PL_TRUST_FILE_MAX. Also PL_ERR_INVAL, PL_ERR_NOMEM. */
int pl_trust_parse(pl_trust **out, const char *text, size_t len, size_t *line,
                   const char **why) PL_WUR;

/* Load from a file; a missing file gives an empty store. PL_ERR_PERM if
 * group or others can write the file or another user (not root) owns it;
 * PL_ERR_IO (errno set) if it cannot be read or is not a regular file;
 * PL_ERR_TOOBIG over PL_TRUST_FILE_MAX; else as pl_trust_parse. */
int pl_trust_load(pl_trust **out, const char *path, size_t *line, const char **why) PL_WUR;

/* Serialise: entries in canonical form ("allow <fp> name=.. groups=..
 * expires=..", single spaces, options in that order, empty ones left out),
 * comment and blank lines verbatim where they were, every line ending in
 * "\n". Writes a NUL after the text, which the returned length does not
 * count; PL_TRUST_FILE_MAX + 1 bytes always suffice. PL_ERR_BUFSIZE. */
int pl_trust_format(const pl_trust *ts, char *out, size_t cap) PL_WUR;

/* Atomic replace: write a temporary file in the same directory, fsync,
 * rename. Mode 0600. If path is a symbolic link, the file it names is
 * replaced (load reads that file too). PL_ERR_IO (errno set), PL_ERR_NOMEM. */
int pl_trust_save(const pl_trust *ts, const char *path) PL_WUR;

/* Add or replace the entry of this kind for fp (an entry of the other kind
 * is left alone). A replaced entry keeps its line in the file; a new one is
 * appended. petname and groups may be NULL or ""; groups is a
 * comma-separated list; expires 0 = never. PL_ERR_INVAL with *why for a
 * bad value (also: groups on a deny, expiry after year 9999); PL_ERR_TOOBIG
 * past PL_TRUST_ENTRIES_MAX or PL_TRUST_FILE_MAX; PL_ERR_NOMEM. */
int pl_trust_set(pl_trust *ts, enum pl_trust_kind kind, const pl_fingerprint *fp,
                 const char *petname, const char *groups, uint64_t expires,
                 const char **why) PL_WUR;

/* Remove every entry (allow and deny) for fp. PL_ERR_NOTFOUND if none.
 * Comment lines stay where they were. */
int pl_trust_remove(pl_trust *ts, const pl_fingerprint *fp) PL_WUR;

/* Verdict for fp at time `now` (Unix seconds): an entry with expires != 0
 * and now >= expires is ignored. O(1): safe to call per connection. */
enum pl_trust_verdict pl_trust_check(const pl_trust *ts, const pl_fingerprint *fp, uint64_t now);

/* 1 if fp is allowed (not denied, not expired) and a member of group. */
int pl_trust_in_group(const pl_trust *ts, const pl_fingerprint *fp, const char *group,
                      uint64_t now);

size_t pl_trust_count(const pl_trust *ts);
/* The i-th entry in file order (comments not counted). PL_ERR_NOTFOUND
 * when i >= pl_trust_count. */
int pl_trust_get(const pl_trust *ts, size_t i, pl_trust_entry *out) PL_WUR;

/* Default trust-store path: $PEERLINK_TRUST if set and non-empty, else the
 * file "trust" in the directory of identity_path (NULL or "": of
 * pl_identity_default_path). Returns the length (NUL written);
 * PL_ERR_BUFSIZE. */
int pl_trust_default_path(const char *identity_path, char *out, size_t cap) PL_WUR;

/* ------------------------------------------------------------------ */
/* Symmetric TLS (DESIGN.md §2.4, §3.1, docs/formats.md §5)           */
/* ------------------------------------------------------------------ */

/* A sans-IO TLS 1.3 engine (OpenSSL 3 on memory BIOs). Bytes from the peer
 * go in with pl_stls_feed, bytes for the peer come out of pl_stls_output,
 * application data passes through pl_stls_write and pl_stls_read. The
 * engine never touches a socket, never reads the clock for its own
 * decisions (the time for trust checks is passed in) and draws its
 * tie-breaker only from the random callback it is given. TLS 1.3 only,
 * mutual authentication always: each side presents a self-signed
 * certificate made from its identity key and authenticates the other by
 * the fingerprint of that key, inside the handshake.
 *
 * Roles (DESIGN.md §2.4): PL_STLS_CLIENT opens with a ClientHello whose
 * tie-breaker is 0; PL_STLS_SERVER waits for one; PL_STLS_PEER opens with
 * a ClientHello carrying a random tie-breaker and, when the peer's
 * ClientHello crosses its own, settles the roles: the lower value stays
 * client, the higher becomes server (a ClientHello without the extension
 * makes a PL_STLS_PEER a plain server). */

#define PL_STLS_CLIENT         1u /* may act as the TLS client */
#define PL_STLS_SERVER         2u /* may act as the TLS server */
#define PL_STLS_PEER           3u /* either: PL_STLS_CLIENT | PL_STLS_SERVER */
#define PL_STLS_ACCEPT_UNKNOWN 4u /* accept `expected` even if the trust store does not list it */

#define PL_STLS_NAME_MAX             64          /* bytes of a display name (certificate CN) */
#define PL_STLS_RECORD_MAX           (5 + 16384) /* largest plaintext TLS record, header included */
#define PL_STLS_EXT_TIEBREAK         0xff73      /* tie-breaker extension (private use) */
#define PL_STLS_INBUF_MAX            (1u << 20)  /* peer bytes fed but not yet read */
#define PL_STLS_OUTBUF_MAX           (1u << 20)  /* bytes written but not yet output */
#define PL_STLS_TIEBREAK_CLIENT_ONLY UINT64_C(0)
#define PL_STLS_TIEBREAK_SERVER_ONLY UINT64_MAX

enum pl_stls_state {
    PL_STLS_HANDSHAKING = 0, /* nothing may be read or written yet */
    PL_STLS_ESTABLISHED = 1, /* peer authenticated: application data flows */
    PL_STLS_CLOSED = 2,      /* the peer sent close_notify */
    PL_STLS_FAILED = 3,      /* see pl_stls_error; flush pl_stls_output (alert) */
};

/* Fills out[0..len) with random bytes; returns 0, or non-zero on failure. */
typedef int (*pl_random_fn)(void *user, uint8_t *out, size_t len);

typedef struct pl_stls_config pl_stls_config; /* shared by many engines */
typedef struct pl_stls pl_stls;               /* one connection */

/* A configuration: the TLS context and the node's certificate, made once
 * from the identity (which may be freed afterwards). name is the display
 * name put in the certificate's subject CN: NULL or "" for "peerlink",
 * else 1..PL_STLS_NAME_MAX bytes of UTF-8 without control characters
 * (PL_ERR_INVAL). The default random source is libsodium's. Errors:
 * PL_ERR_INVAL, PL_ERR_NOMEM, PL_ERR_INTERNAL. */
int pl_stls_config_new(pl_stls_config **out, const pl_identity *id, const char *name) PL_WUR;
void pl_stls_config_free(pl_stls_config *cfg); /* after all its engines; NULL is fine */

/* The trust store consulted for every peer (borrowed: it must outlive the
 * engines). NULL, the default, behaves as an empty store. */
void pl_stls_config_set_trust(pl_stls_config *cfg, const pl_trust *ts);
/* The source of tie-breakers (TLS's own randomness stays OpenSSL's). */
void pl_stls_config_set_random(pl_stls_config *cfg, pl_random_fn fn, void *user);

/* A new engine. flags: one of PL_STLS_CLIENT, PL_STLS_SERVER, PL_STLS_PEER,
 * optionally | PL_STLS_ACCEPT_UNKNOWN (only with an expected peer).
 * expected: the fingerprint being dialled (authority ignored), or NULL to
 * accept any peer the trust store allows. A peer is accepted when its
 * certificate holds an Ed25519 key that passes pl_ed25519_check_key, whose
 * fingerprint equals `expected` (if given), and which the trust store
 * allows at `now` (pl_stls_feed) - or, with PL_STLS_ACCEPT_UNKNOWN, does
 * not list. A client or peer has its ClientHello ready in pl_stls_output
 * at once. Errors: PL_ERR_INVAL, PL_ERR_NOMEM, PL_ERR_INTERNAL (also when
 * the random callback fails). */
int pl_stls_new(pl_stls **out, const pl_stls_config *cfg, unsigned flags,
                const pl_fingerprint *expected) PL_WUR;
void pl_stls_free(pl_stls *s); /* NULL is fine */

/* Bytes received from the peer, any split. now (Unix seconds) is the time
 * for trust-store expiry. Returns 0 while all is well (also when more bytes
 * are needed), else the error that made the engine fail, which stays
 * (pl_stls_error): PL_ERR_AUTH (the peer's key is not Ed25519, fails the
 * key policy or is not the expected one; the TLS handshake failed; the
 * peer aborted it), PL_ERR_UNTRUSTED, PL_ERR_DENIED (the trust store's
 * verdict), PL_ERR_PARSE (a malformed opening record), PL_ERR_ROLE (the
 * roles cannot be settled: both client-only, both server-only, equal
 * tie-breakers, or a client-only side meeting a plain TLS client), PL_ERR_TOOBIG (more than
 * PL_STLS_INBUF_MAX bytes would wait unread: call pl_stls_read), PL_ERR_NOMEM.
 * Feeding after PL_STLS_CLOSED gives PL_ERR_INVAL. */
int pl_stls_feed(pl_stls *s, const uint8_t *in, size_t len, uint64_t now) PL_WUR;

/* Bytes to send to the peer: copies up to cap of them and returns the count
 * (0 when there is nothing to send). Call it after new, feed, write and
 * close, and also after a failure (it may hold an alert). */
int pl_stls_output(pl_stls *s, uint8_t *out, size_t cap) PL_WUR;
size_t pl_stls_pending(const pl_stls *s); /* bytes pl_stls_output would give */

/* Application data. write, in PL_STLS_ESTABLISHED or (half-close) in
 * PL_STLS_CLOSED until pl_stls_close, returns len (all of it is taken;
 * collect it with pl_stls_output), else PL_ERR_INVAL (not yet established,
 * closed by pl_stls_close), PL_ERR_TOOBIG (nothing taken: more than
 * PL_STLS_OUTBUF_MAX bytes would wait in pl_stls_output; drain it and
 * retry; the engine does not fail) or the engine's error. read returns the count
 * copied, 0 when nothing is available (or before authentication, or after
 * the peer closed), or the engine's error. */
int pl_stls_write(pl_stls *s, const uint8_t *in, size_t len) PL_WUR;
int pl_stls_read(pl_stls *s, uint8_t *out, size_t cap) PL_WUR;

/* Send close_notify; pl_stls_write fails afterwards. */
int pl_stls_close(pl_stls *s) PL_WUR;

enum pl_stls_state pl_stls_state(const pl_stls *s);
/* The error that failed the engine (0 while it has not), with a static
 * sentence saying why (when why is non-NULL and there is an error). */
int pl_stls_error(const pl_stls *s, const char **why);
/* PL_STLS_CLIENT or PL_STLS_SERVER once settled; PL_STLS_PEER before. */
unsigned pl_stls_role(const pl_stls *s);
/* The fingerprint of the key the peer presented - also when it was refused,
 * so a tool can say how to trust it. PL_OK, or PL_ERR_NOTFOUND before the
 * peer's certificate arrived (or when it held no usable Ed25519 key). */
int pl_stls_peer(const pl_stls *s, pl_fingerprint *fp) PL_WUR;
/* The display name in the peer's certificate (its subject CN), as the peer
 * chose it: for showing next to the fingerprint, never for deciding. Writes
 * it NUL-terminated and returns its length: 0 when the certificate has none
 * or one that is not 1..PL_STLS_NAME_MAX bytes of UTF-8 without control
 * characters; PL_ERR_NOTFOUND as for pl_stls_peer; PL_ERR_BUFSIZE. */
int pl_stls_peer_name(const pl_stls *s, char *out, size_t cap) PL_WUR;

/* ------------------------------------------------------------------ */
/* Runtime: symmetric TLS over TCP (src/runtime/, libuv)              */
/* ------------------------------------------------------------------ */

/* The runtime is the only part of the library that touches sockets and
 * clocks. pl_tcp_connect and pl_tcp_listen each run their own event loop
 * until their work is done: they drive one pl_stls engine per TCP
 * connection and, once the peer is authenticated, join the connection to
 * two local file descriptors like netcat: bytes read from in_fd go to the
 * peer, the peer's bytes are written to out_fd. EOF on in_fd sends
 * close_notify and shuts the TCP write side down; the peer's close_notify
 * closes out_fd. A session ends when both directions are done, or on the
 * first error (the engine's alert is still sent). The runtime takes the
 * two descriptors and closes them; it makes out_fd non-blocking while it
 * writes (restoring its flags before closing it). Writing to a closed pipe
 * raises SIGPIPE: callers ignore it. Not thread-safe; one call per thread. */

#define PL_TCP_ADDR_MAX             64    /* "[v6 address]:port", incl. NUL */
#define PL_TCP_HANDSHAKE_TIMEOUT_MS 10000 /* default time to authenticate the peer */
#define PL_TCP_HANDSHAKES_MAX       64    /* default cap on handshakes in progress (listen) */

typedef struct pl_tcp_opts {
    const pl_stls_config *cfg;      /* borrowed for the whole call */
    unsigned flags;                 /* as for pl_stls_new */
    const pl_fingerprint *expected; /* connect: the peer dialled, or NULL; listen: NULL */
    const char *host;               /* connect: where to dial; listen: local address (NULL: any) */
    const char *port;               /* numeric or service name; listen: "0" picks a free port */
    const char *bind_host;          /* connect: bind the local end first (NULL: any) ... */
    const char *bind_port;          /* ... to this port (NULL: any); SO_REUSEADDR is set */
    unsigned max_conns;             /* listen: stop accepting after this many; 0 = never */
    unsigned handshake_timeout_ms;  /* 0: PL_TCP_HANDSHAKE_TIMEOUT_MS */
    const char *accept_host;        /* connect: also accept the dialled peer here (NULL: any) ... */
    const char *accept_port;        /* ... on this port (NULL: dial only); see pl_tcp_connect */
    unsigned max_handshakes;        /* listen: connections authenticating at once; 0: default */
} pl_tcp_opts;

typedef struct pl_tcp_info {
    int established; /* 1 once the peer was authenticated */
    int has_peer;    /* 1 when `peer` holds the key the peer presented (also a refused one) */
    pl_fingerprint peer;
    char name[PL_STLS_NAME_MAX + 1]; /* peer's display name, "" when none */
    unsigned role;                   /* PL_STLS_CLIENT or _SERVER once settled, else _PEER */
    char remote[PL_TCP_ADDR_MAX];    /* the peer's address, "" when unknown */
    int dialled;                     /* 1 when this node opened the TCP connection */
} pl_tcp_info;

typedef struct pl_tcp_handler {
    /* listen: the socket is bound; addr is its "address:port". May be NULL. */
    void (*listening)(void *user, const char *addr);
    /* info stays at one address for a session, from established to closed.
     * The peer is authenticated: set *in_fd and *out_fd (they may be the
     * same descriptor only when it is not pollable) and return 0, or return
     * non-zero to drop the connection (closing any descriptor set). */
    int (*established)(void *user, const pl_tcp_info *info, int *in_fd, int *out_fd);
    /* A connection ended: err 0 when both directions closed cleanly, else
     * the error with a static sentence why: the engine's errors (see
     * pl_stls_feed: PL_ERR_AUTH, _UNTRUSTED, _DENIED, _INVAL, ...), or
     * PL_ERR_IO for the network or the local descriptors (why from the
     * system). Also called once, with an empty info, when the address
     * cannot be resolved, bound or listened on. May be NULL. */
    void (*closed)(void *user, const pl_tcp_info *info, int err, const char *why);
} pl_tcp_handler;

/* Dial host:port (after binding bind_host:bind_port when either is set)
 * and run that one session to its end. A bound dial that is refused (the
 * other side of a simultaneous open is not dialling yet) is repeated every
 * millisecond until the handshake timeout. Returns the error given to closed
 * (0 when the session ended cleanly); PL_ERR_INVAL for bad options,
 * PL_ERR_INTERNAL when the event loop cannot start.
 *
 * With accept_port set (needs `expected`), the node also listens there for
 * the same peer dialling it at the same time (each side knowing the other's
 * address), redialling a refused dial until the handshake timeout. When
 * both connections authenticate, the one dialled by the node with the lower
 * fingerprint is kept on both sides and the other is closed: that node
 * decides, and confirms the connection it keeps with one byte before any
 * application data (docs/formats.md §5.6; both sides must use this mode).
 * Only the kept session reaches `established` and `closed`; if none is
 * kept, `closed` gets the last failure. */
int pl_tcp_connect(const pl_tcp_opts *opts, const pl_tcp_handler *h, void *user) PL_WUR;

/* STARTTLS: run one session on a connected TCP socket that the application
 * opened and used in the clear (a line protocol that agreed to start TLS).
 * pre[0..pre_len) are bytes the application already read past its own
 * protocol (the start of the peer's TLS); they are fed first. Either side
 * may send its ClientHello first, or both at once: the tie-breaker settles
 * the roles as on a fresh connection. The runtime takes fd in every case
 * and closes it. host, port, bind_* and accept_* must be NULL. Returns as
 * pl_tcp_connect. */
int pl_tcp_adopt(const pl_tcp_opts *opts, int fd, const uint8_t *pre, size_t pre_len,
                 const pl_tcp_handler *h, void *user) PL_WUR;

/* Listen on host:port and serve each connection as its own session,
 * concurrently, until max_conns connections were accepted and have ended
 * (with max_conns 0: until an error stops the listener). At most
 * max_handshakes (default PL_TCP_HANDSHAKES_MAX) connections authenticate
 * at once; one more is closed as soon as it is accepted. Returns the error
 * of the last session to end (as for pl_tcp_connect), or the listening
 * error. */
int pl_tcp_listen(const pl_tcp_opts *opts, const pl_tcp_handler *h, void *user) PL_WUR;

/* ------------------------------------------------------------------ */
/* Runtime: the datagram transport over UDP (src/runtime/udp.c, libuv) */
/* ------------------------------------------------------------------ */

/* A UDP node: one socket, one datagram engine (docs/protocol.md), one
 * libuv loop run by pl_udp_run in the calling thread until pl_udp_stop.
 * Peers are authenticated by their key in a 1-RTT handshake guarded by
 * cookies and proof of work; the trust store decides who may connect to
 * this node, and a dialled peer must be the fingerprint asked for. On a
 * connection both sides exchange messages (reliable, in order, up to
 * PL_UDP_MSG_MAX bytes each): one-way, or requests that get exactly one
 * reply or failure. Everything runs in the loop thread: call the functions
 * below from it (from the callbacks, or before pl_udp_run). */

#define PL_UDP_MSG_MAX (1u << 20) /* bytes of one message */

typedef struct pl_udp pl_udp;
typedef struct pl_udp_conn pl_udp_conn;

typedef struct pl_udp_opts {
    const pl_identity *id;   /* borrowed for the node's life */
    const pl_trust *trust;   /* borrowed; who may connect here (NULL: nobody) */
    const char *host;        /* local address to bind (NULL: 0.0.0.0) */
    const char *port;        /* local port (NULL or "0": any) */
    unsigned capacity_per_s; /* handshakes per second this node affords (0: 2000); the
                                proof of work asked rises when load passes half of it */
    int cc;                  /* congestion control: PL_UDP_CC_NEWRENO (0) or PL_UDP_CC_CUBIC */
    unsigned keepalive_ms;   /* a PING after this long quiet (0: 15000) */
    unsigned idle_ms;        /* close after this long without a word from the peer (0: 60000) */
} pl_udp_opts;

#define PL_UDP_CC_NEWRENO 0
#define PL_UDP_CC_CUBIC   1

typedef struct pl_udp_info {
    pl_fingerprint peer;
    char remote[PL_TCP_ADDR_MAX]; /* "address:port" */
    int initiator;                /* 1 when this node started the handshake */
    int established;              /* 1 once the peer was authenticated */
    int joined;                   /* 1 once joined to descriptors (pl_udp_join) */
} pl_udp_info;

typedef struct pl_udp_handler {
    /* A connection is authenticated (dialled, or accepted from a peer the
     * trust store allows). Return 0 to keep it, non-zero to close it. */
    int (*established)(void *user, pl_udp_conn *c, const pl_udp_info *info);
    /* A message (not for joined connections, see pl_udp_join). Answer a
     * request (want_reply) with pl_udp_reply, now or later; without this
     * callback requests are refused. msg is valid during the call. A
     * callback that joins c (pl_udp_join) makes this message the first of
     * the peer's stream. */
    void (*message)(void *user, pl_udp_conn *c, uint64_t id, int want_reply, const uint8_t *msg,
                    size_t len);
    /* The connection is over and c invalid: err 0 (closed cleanly: all we
     * sent was acknowledged; for a joined connection, both streams ended),
     * PL_ERR_CLOSED (the peer closed), PL_ERR_UNREACHABLE (no handshake, or
     * the peer stopped answering), PL_ERR_REFUSED (the peer does not trust
     * us), PL_ERR_TOOBIG (it asks more proof of work than we do), ... with a
     * static sentence why. A dial that never started gets c NULL. */
    void (*closed)(void *user, pl_udp_conn *c, const pl_udp_info *info, int err, const char *why);
    /* A peer the trust store does not allow tried to connect and was told
     * so (after its proof of work). May be NULL. */
    void (*refused)(void *user, const pl_udp_info *info);
    /* The peer began its stream (opened a channel) on a connection not
     * joined yet: join it now (pl_udp_join) to take the stream, or leave
     * it unread (its flow control holds the peer). May be NULL. */
    void (*stream)(void *user, pl_udp_conn *c);
} pl_udp_handler;

/* PL_ERR_INVAL (options), PL_ERR_IO (the address cannot be resolved or
 * bound: errno), PL_ERR_NOMEM, PL_ERR_INTERNAL. */
int pl_udp_new(pl_udp **out, const pl_udp_opts *opts, const pl_udp_handler *h, void *user) PL_WUR;
void pl_udp_free(pl_udp *u);
/* The bound address, "address:port". */
const char *pl_udp_local(const pl_udp *u);
/* Run the loop until pl_udp_stop (PL_OK) or a fatal socket error. */
int pl_udp_run(pl_udp *u) PL_WUR;
void pl_udp_stop(pl_udp *u);
/* Call cb(user) once, ms milliseconds from now, in the loop thread. */
int pl_udp_after(pl_udp *u, unsigned ms, void (*cb)(void *user), void *user) PL_WUR;

/* Start a handshake with the node `peer` at host:port (resolved now). The
 * connection may carry messages at once: they are sent when it is
 * established, and fail with it. */
int pl_udp_dial(pl_udp *u, const char *host, const char *port, const pl_fingerprint *peer,
                pl_udp_conn **out) PL_WUR;
/* The reply to a request: err 0 and the reply (valid during the call), or
 * PL_ERR_TIMEOUT, PL_ERR_REFUSED, PL_ERR_UNREACHABLE, PL_ERR_CLOSED. */
typedef void (*pl_udp_reply_fn)(void *user, int err, const char *why, const uint8_t *msg,
                                size_t len);
/* Send a request; cb runs exactly once (timeout_ms 0: 5 s). PL_ERR_TOOBIG,
 * PL_ERR_BUFSIZE (4 MiB queued: wait), PL_ERR_INVAL (closed or closing). */
int pl_udp_request(pl_udp_conn *c, const uint8_t *msg, size_t len, unsigned timeout_ms,
                   pl_udp_reply_fn cb, void *user) PL_WUR;
/* Send a one-way message (errors as pl_udp_request). */
int pl_udp_send(pl_udp_conn *c, const uint8_t *msg, size_t len) PL_WUR;
/* Answer request id (refuse: the requester gets PL_ERR_REFUSED). */
int pl_udp_reply(pl_udp_conn *c, uint64_t id, const uint8_t *msg, size_t len, int refuse) PL_WUR;
/* One RTT sample in microseconds, measured by this node's clock from the
 * PING to its PONG; a lost ping gives no callback. */
typedef void (*pl_udp_pong_fn)(void *user, uint64_t seq, uint64_t rtt_us);
int pl_udp_ping(pl_udp_conn *c, pl_udp_pong_fn cb, void *user, uint64_t *seq) PL_WUR;
/* Join an established connection to two descriptors, like netcat: what
 * in_fd gives goes out on an ordered channel this side opens (its end at
 * EOF), and the peer's first channel is written to out_fd (closed at its
 * end). Each direction has its own flow control: in_fd is read only while
 * the channel's send buffer has room, and the peer's channel only as fast
 * as out_fd takes it. Messages go on beside it (the message callback).
 * Once both streams ended and all was acknowledged, the connection closes
 * (closed gets err 0). The runtime takes both descriptors and closes
 * them. docs/protocol.md §9.8. */
int pl_udp_join(pl_udp_conn *c, int in_fd, int out_fd) PL_WUR;
/* Close gracefully once all sent is acknowledged. */
int pl_udp_shutdown(pl_udp_conn *c) PL_WUR;
/* What the congestion controller and loss recovery of a connection see. */
typedef struct pl_udp_conn_stats {
    const char *cc;                     /* "newreno" or "cubic" */
    uint64_t cwnd, ssthresh, in_flight; /* bytes (ssthresh UINT64_MAX: still in slow start) */
    uint64_t srtt_us, rttvar_us, min_rtt_us, latest_rtt_us;
    uint64_t packets_sent, packets_lost, retransmits, spurious, congestion_events;
    uint64_t bytes_sent, bytes_received; /* UDP payload bytes */
    uint64_t pacing_rate;                /* bytes per second */
} pl_udp_conn_stats;
void pl_udp_conn_stats_get(const pl_udp_conn *c, pl_udp_conn_stats *out);
/* Message bytes queued or unacknowledged. */
size_t pl_udp_pending(const pl_udp_conn *c);
void pl_udp_conn_info(const pl_udp_conn *c, pl_udp_info *out);

typedef struct pl_udp_stats {
    unsigned difficulty; /* proof-of-work bits a COOKIE asks now (of a fresh source) */
    uint64_t rx, rx_dropped, hellos, cookies_sent, initiates, stale_cookie, bad_cookie,
        reused_cookie, no_work, pk_ops, established, refused, conns;
} pl_udp_stats;
void pl_udp_stats_get(pl_udp *u, pl_udp_stats *out);

/* ------------------------------------------------------------------ */
/* Directory client: announce and discover (src/discovery/)           */
/* ------------------------------------------------------------------ */

/* A node announces its signed record set to its directory with an HTTP PUT
 * of the JSON carrier to the fingerprint's well-known path; anyone
 * discovers it by a DNS TXT query for the fingerprint's DNS name or an
 * HTTPS GET of the well-known URL (docs/formats.md §1, §3;
 * docs/discovery.md). Whatever the carrier, a discovered set is decoded
 * and verified end to end against the fingerprint asked for: the
 * directory, the resolvers and the network are not trusted. These calls
 * block (each carrier bounded by a timeout) and touch the network; they
 * are not for event-loop threads. */

#define PL_VIA_DNS   1u /* TXT query via the system's resolver or a given server */
#define PL_VIA_HTTPS 2u /* GET of the well-known URL */
#define PL_VIA_ANY   3u /* DNS first, then HTTPS: the first set that verifies wins */

#define PL_DISCOVERY_NO_EDNS 1u /* DNS: ask without EDNS0 (512-byte UDP answers) */

#define PL_DISCOVERY_TIMEOUT_MS  10000 /* default, per carrier */
#define PL_DISCOVERY_WHY_MAX     512   /* bytes of one explanation, incl. NUL */
#define PL_DISCOVERY_REPLY_MAX   4096  /* bytes of an announce reply body kept */
#define PL_DISCOVERY_TXT_RRS_MAX 16    /* TXT records of one answer examined */

typedef struct pl_directory_opts {
    /* Base URL of the directory's HTTP(S) service, e.g.
     * "http://127.0.0.1:8080". NULL: "https://" + the fingerprint's
     * authority (pl_discover); required by pl_announce. */
    const char *directory;
    /* DNS server "ADDR" or "ADDR:PORT" ("[ADDR]:PORT" for IPv6), an IP
     * address. NULL: the servers of /etc/resolv.conf. */
    const char *dns_server;
    const char *cafile;     /* PEM certificates to trust for HTTPS; NULL: the system's */
    unsigned timeout_ms;    /* per carrier; 0: PL_DISCOVERY_TIMEOUT_MS */
    uint64_t now;           /* Unix seconds to verify at; 0: the current time */
    uint32_t skew;          /* clock skew tolerated (PL_RECORD_SKEW_DEFAULT is usual) */
    uint64_t min_timestamp; /* refuse sets signed before this (a cached newer one); 0: none */
    unsigned flags;         /* PL_DISCOVERY_NO_EDNS */
} pl_directory_opts;

/* What happened on each carrier, for messages: each `why` is an English
 * clause such as "the signature does not verify: ...", "" when all went well. */
typedef struct pl_discovery_report {
    unsigned via;                   /* the carrier the returned set came by, 0 if none */
    int dns_err;                    /* 0: verified or not tried (dns_tried) */
    int https_err;                  /* likewise */
    int dns_tried;                  /* 1 when DNS was asked */
    int https_tried;                /* 1 when HTTPS was asked */
    long http_status;               /* last HTTP status, 0 if none */
    char dns_name[PL_DNS_NAME_MAX]; /* the name queried, "" if none */
    char url[PL_URL_MAX + 64];      /* the URL fetched or put, "" if none */
    char dns_why[PL_DISCOVERY_WHY_MAX];
    char https_why[PL_DISCOVERY_WHY_MAX];
} pl_discovery_report;

/* Make and sign a record set from the identity, dated now, with the given
 * fields in order (relays as fingerprint text). PL_ERR_PARSE or
 * PL_ERR_TOOBIG (with *why) for a bad field, PL_ERR_INVAL for a bad ttl or
 * argument. */
typedef struct pl_record_fields {
    const char *const *addresses;
    size_t n_addresses;
    const char *const *relays;
    size_t n_relays;
    const char *const *names;
    size_t n_names;
    const uint8_t *const *blobs;
    const size_t *blob_lens;
    size_t n_blobs;
} pl_record_fields;
int pl_record_build(pl_record *rs, const pl_identity *id, const pl_record_fields *f, uint64_t now,
                    uint32_t ttl, const char **why) PL_WUR;

/* Look up fp's record set by `via` (PL_VIA_*), verify it and copy it to
 * *out. The DNS name and the default directory come from fp's authority;
 * o->directory and o->dns_server override them. Returns 0, or:
 * PL_ERR_NOTFOUND (no such name, no TXT record, HTTP 404), PL_ERR_AUTH
 * (signed by another key, or the signature does not verify), PL_ERR_EXPIRED
 * (expired, or older than o->min_timestamp), PL_ERR_FUTURE, PL_ERR_PARSE
 * (not a record set), PL_ERR_TOOBIG (reply over its cap), PL_ERR_IO
 * (network, TLS, DNS or HTTP failure), PL_ERR_INVAL (bad options, or the
 * carrier cannot be used for fp: no authority, IP-literal authority for
 * DNS). With PL_VIA_ANY the error is the DNS one unless that was only
 * "not found" or a network failure. rep (may be NULL) says what each
 * carrier did. *out is zeroed unless a set verified. */
int pl_discover(const pl_fingerprint *fp, unsigned via, const pl_directory_opts *o, pl_record *out,
                pl_discovery_report *rep) PL_WUR;

/* PUT rs's JSON carrier to o->directory's well-known path for its key.
 * rs must verify (at o->now) first (else its pl_record_verify error).
 * Returns 0 on a 2xx reply; PL_ERR_IO for the network or another status,
 * with the status and the server's (sanitised) error in rep->https_why;
 * PL_ERR_INVAL without o->directory. */
int pl_announce(const pl_record *rs, const pl_directory_opts *o, pl_discovery_report *rep) PL_WUR;

/* ------------------------------------------------------------------ */
/* Directory service (src/directory/, src/runtime/directory.c)        */
/* ------------------------------------------------------------------ */

/* A directory for one zone (DESIGN.md §1, docs/directory.md): nodes
 * announce signed record sets with HTTP PUT to the well-known URL of their
 * fingerprint and anyone discovers them with HTTP GET, or as the TXT record
 * at the fingerprint's DNS name, from the authoritative DNS responder for
 * the zone. Every set is verified (signature, key matching the URL,
 * freshness, size) before it is stored; an older set never replaces a
 * newer one; expired sets disappear from HTTP and DNS. Sets live in one
 * SQLite file (WAL, synchronous=FULL: an acknowledged announce survives a
 * crash). */

typedef struct pl_dir_opts {
    const char *zone;        /* DNS zone, e.g. "dir.example.org" */
    const char *db;          /* SQLite database file (created if missing) */
    const char *http;        /* "ADDR:PORT" / "[V6]:PORT" (port 0: any free), or NULL */
    const char *https;       /* the same for HTTPS, or NULL ... */
    const char *cert_file;   /* ... with a PEM certificate (chain) ... */
    const char *key_file;    /* ... and its PEM private key */
    const char *dns;         /* DNS over UDP and TCP on this address, or NULL */
    const char *ns;          /* NS of the zone, NULL: "ns1." zone */
    const char *mbox;        /* SOA mailbox as a name, NULL: "hostmaster." zone */
    uint32_t max_ttl;        /* cap on DNS answer TTLs, 0: 300 */
    uint32_t neg_ttl;        /* negative-caching TTL (SOA minimum), 0: 60 */
    uint32_t skew;           /* seconds a set may be dated ahead, 0: PL_RECORD_SKEW_DEFAULT */
    unsigned rate_per_min;   /* announces per source address (IPv6: /64) per minute, 0: no limit */
    unsigned rate_burst;     /* ... with bursts of this many (0: 1) */
    unsigned sweep_interval; /* seconds between sweeps of expired sets, 0: 60 */
    int stop_fd;             /* the service stops when this becomes readable; -1: never */
} pl_dir_opts;

/* Called once per bound socket: service is "http", "https", "dns-udp" or
 * "dns-tcp", addr its "address:port" (the real port when 0 was asked). */
typedef void (*pl_dir_listening_fn)(void *user, const char *service, const char *addr);

/* Run the directory until stop_fd is readable. Returns 0 after a clean
 * stop, else PL_ERR_INVAL (bad options, zone or names), PL_ERR_IO (cannot
 * open the database or listen), PL_ERR_PARSE / PL_ERR_VERSION (the database
 * file is not a peerlink directory, or a newer one), PL_ERR_NOMEM, with a
 * static sentence in *why. Logs refused announces at PL_LOG_INFO. */
int pl_dir_serve(const pl_dir_opts *opts, pl_dir_listening_fn fn, void *user,
                 const char **why) PL_WUR;

#ifdef __cplusplus
}
#endif

#endif /* PEERLINK_H */
