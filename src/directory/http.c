/*
 * http.c - the directory's HTTP API without the HTTP: a method, a path and
 * a body in; a status, a JSON body and the odd header out.
 *
 *   PUT  /.well-known/ni/sha3-256/B   announce (body: JSON carrier)
 *   GET  /.well-known/ni/sha3-256/B   discover (HEAD: the same, no body)
 *
 * B is the base64url SHA3-256 digest of a fingerprint (DESIGN.md §2.1), so
 * the URL itself names the key the set must be signed by. Errors come back
 * as {"error": "<code>", "reason": "<sentence>"} (docs/directory.md).
 */
#include <string.h>

#include <jansson.h>

#include "directory/directory.h"

static void set_body(pl_dir_http_resp *r, json_t *obj)
{
    char *s = obj ? json_dumps(obj, JSON_COMPACT) : NULL;
    size_t n = s ? strlen(s) : 0;
    json_decref(obj);
    if (!s || n > PL_DIR_HTTP_BODY_MAX) {
        static const char fallback[] = "{\"error\":\"internal\",\"reason\":\"out of memory\"}";
        memcpy(r->body, fallback, sizeof fallback);
        r->body_len = sizeof fallback - 1;
    } else {
        memcpy(r->body, s, n + 1);
        r->body_len = n;
    }
    free(s);
}

static void fail(pl_dir_http_resp *r, int status, const char *code, const char *reason)
{
    r->status = status;
    set_body(r, json_pack("{s:s,s:s}", "error", code, "reason", reason));
}

/* The digest named by path, or -1 with the response filled in. */
static int parse_path(const char *path, uint8_t digest[PL_FP_DIGEST_LEN], pl_dir_http_resp *r)
{
    size_t plen = sizeof PL_DIR_HTTP_PREFIX - 1;
    const char *b;
    if (!path || strncmp(path, PL_DIR_HTTP_PREFIX, plen) != 0) {
        fail(r, 404, "not_found",
             "this directory serves only /.well-known/ni/sha3-256/<base64url digest>");
        return -1;
    }
    b = path + plen;
    if (strlen(b) != PL_FP_B64_LEN ||
        pl_b64url_decode(b, PL_FP_B64_LEN, digest, PL_FP_DIGEST_LEN) != PL_FP_DIGEST_LEN) {
        fail(r, 400, "bad_path",
             "the last path segment must be the 43-character base64url SHA3-256 digest of "
             "a fingerprint");
        return -1;
    }
    return 0;
}

static void get(const pl_dir_http *h, const uint8_t *digest, uint64_t now, pl_dir_http_resp *r)
{
    int n = pl_dir_store_get_json(h->store, digest, now, r->body, sizeof r->body, NULL);
    if (n >= 0) {
        r->status = 200;
        r->body_len = (size_t)n;
    } else if (n == PL_ERR_NOTFOUND) {
        fail(r, 404, "not_found", "no current record set for this fingerprint");
    } else {
        fail(r, 500, "internal", "the database cannot be read");
    }
}

static void put(const pl_dir_http *h, const uint8_t *digest, const uint8_t *body, size_t len,
                uint64_t now, pl_dir_http_resp *r)
{
    enum pl_dir_put_outcome outcome;
    const char *why = NULL;
    char fp[PL_FINGERPRINT_STR_MAX];
    pl_fingerprint f;
    int rc =
        pl_dir_store_put(h->store, digest, (const char *)body, len, now, h->skew, &outcome, &why);
    if (!why)
        why = pl_strerror(rc);
    switch (rc) {
    case PL_OK: break;
    case PL_ERR_PARSE: fail(r, 400, "bad_json", why); return;
    case PL_ERR_VERSION: fail(r, 400, "bad_version", why); return;
    case PL_ERR_INVAL: fail(r, 400, "bad_record", why); return;
    case PL_ERR_TOOBIG: fail(r, 413, "too_big", why); return;
    case PL_ERR_AUTH: fail(r, 403, "bad_signature", why); return;
    case PL_ERR_EXPIRED: fail(r, 422, "expired", why); return;
    case PL_ERR_FUTURE: fail(r, 422, "future", why); return;
    case PL_ERR_EXIST: fail(r, 409, "rollback", why); return;
    default: fail(r, 500, "internal", why); return;
    }
    memset(&f, 0, sizeof f);
    memcpy(f.digest, digest, PL_FP_DIGEST_LEN);
    if (pl_fingerprint_format(&f, fp, sizeof fp) < 0)
        fp[0] = 0;
    r->status = outcome == PL_DIR_CREATED ? 201 : 200;
    set_body(r, json_pack("{s:s,s:s}", "status",
                          outcome == PL_DIR_CREATED    ? "created"
                          : outcome == PL_DIR_REPLACED ? "replaced"
                                                       : "unchanged",
                          "fingerprint", fp));
}

void pl_dir_http_handle(const pl_dir_http *h, const struct sockaddr *peer, const char *method,
                        const char *path, const uint8_t *body, size_t body_len, int body_over,
                        uint64_t now, uint64_t now_ms, pl_dir_http_resp *r)
{
    uint8_t digest[PL_FP_DIGEST_LEN];
    int is_get, is_put;
    memset(r, 0, offsetof(pl_dir_http_resp, body));
    r->body[0] = 0;
    if (!h || !h->store || !method) {
        fail(r, 500, "internal", "the directory is not set up");
        return;
    }
    is_get = strcmp(method, "GET") == 0 || strcmp(method, "HEAD") == 0;
    is_put = strcmp(method, "PUT") == 0;
    if (parse_path(path, digest, r) != 0)
        return;
    if (!is_get && !is_put) {
        r->allow = "GET, HEAD, PUT";
        fail(r, 405, "method_not_allowed",
             "use PUT to announce a record set and GET to discover one");
        return;
    }
    if (is_get) {
        get(h, digest, now, r);
        return;
    }
    /* Cheapest checks first: the rate limit before parsing or verifying. */
    if (h->rl && peer) {
        unsigned wait = pl_dir_ratelimit_take(h->rl, peer, now_ms);
        if (wait) {
            r->retry_after = wait;
            fail(r, 429, "rate_limited",
                 "too many announces from this address: retry after the Retry-After seconds");
            return;
        }
    }
    if (body_over || body_len > PL_RECORD_JSON_MAX) {
        fail(r, 413, "too_big", "the record set is larger than 24576 bytes");
        return;
    }
    put(h, digest, body, body_len, now, r);
}
