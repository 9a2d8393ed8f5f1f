/*
 * fuzz_dir_http.c - the directory's HTTP request path: requests in, the
 * store's verdict out (src/directory/http.c and store.c).
 *
 * Input: requests separated by NUL bytes, each "M<path>\n<body>" where M
 * picks the method (P: PUT, G: GET, H: HEAD, anything else: that letter as
 * a method). Each input runs against a fresh in-memory store at a fixed
 * time, so a seed can announce a set and then replay an older one. Every
 * response must have a known status and a JSON body; a successful PUT must
 * make the set discoverable at once.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "directory/directory.h"
#include "peerlink.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define NOW 1700000000u /* the seeds are signed at this time */

static pl_dir_http_resp resp, resp2;

static void check_response(const pl_dir_http_resp *r)
{
    static const int ok[] = {200, 201, 400, 403, 404, 405, 409, 413, 422, 429};
    json_t *j;
    size_t i;
    for (i = 0; i < sizeof ok / sizeof ok[0] && ok[i] != r->status; i++)
        ;
    if (i == sizeof ok / sizeof ok[0] || r->body_len != strlen(r->body))
        abort();
    j = json_loadb(r->body, r->body_len, 0, NULL);
    if (!j || (r->status >= 400 && (!json_is_string(json_object_get(j, "error")) ||
                                    !json_is_string(json_object_get(j, "reason")))))
        abort();
    json_decref(j);
}

static void one(const pl_dir_http *h, const uint8_t *req, size_t len)
{
    char method[2] = {0, 0}, path[512];
    const char *m;
    const uint8_t *nl;
    size_t plen;
    if (len == 0)
        return;
    method[0] = (char)req[0];
    m = req[0] == 'P' ? "PUT" : req[0] == 'G' ? "GET" : req[0] == 'H' ? "HEAD" : method;
    nl = memchr(req + 1, '\n', len - 1);
    plen = nl ? (size_t)(nl - req - 1) : len - 1;
    if (plen >= sizeof path || memchr(req + 1, 0, plen))
        return;
    memcpy(path, req + 1, plen);
    path[plen] = 0;
    const uint8_t *body = nl ? nl + 1 : req + len;
    size_t blen = (size_t)(req + len - body);
    pl_dir_http_handle(h, NULL, m, path, body, blen, 0, NOW, 0, &resp);
    check_response(&resp);
    if (strcmp(m, "PUT") == 0 && (resp.status == 200 || resp.status == 201)) {
        pl_dir_http_handle(h, NULL, "GET", path, NULL, 0, 0, NOW, 0, &resp2);
        if (resp2.status != 200)
            abort();
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int init;
    pl_dir_http h;
    size_t start = 0;
    if (!init) {
        if (pl_init() != PL_OK)
            abort();
        init = 1;
    }
    memset(&h, 0, sizeof h);
    h.skew = PL_RECORD_SKEW_DEFAULT;
    if (pl_dir_store_open(&h.store, ":memory:", NULL) != PL_OK)
        abort();
    for (size_t i = 0; i <= size; i++) {
        if (i == size || data[i] == 0) {
            one(&h, data + start, i - start);
            start = i + 1;
        }
    }
    pl_dir_store_close(h.store);
    return 0;
}
