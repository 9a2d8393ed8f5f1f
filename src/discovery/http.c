/*
 * http.c - the HTTP(S) fetcher of the directory client, on libcurl.
 *
 *   GET https://AUTHORITY/.well-known/ni/sha3-256/B       (discover)
 *   PUT https://AUTHORITY/.well-known/ni/sha3-256/B       (announce)
 *       Content-Type: application/json, the JSON carrier
 *
 * Bounded on every side: one timeout for the whole exchange, the body cut
 * off (and the transfer aborted) past its cap, no redirects, HTTP and
 * HTTPS only, certificates verified (against the system's CAs or a given
 * PEM file). What comes back is judged elsewhere (check.c).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "discovery/discovery_int.h"
#include "util/util.h"

struct sink {
    char *p;
    size_t len, cap;
    int over; /* more than cap bytes were offered */
};

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc = CURLE_FAILED_INIT;

static void init_curl(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

static size_t on_body(char *data, size_t size, size_t nmemb, void *user)
{
    struct sink *s = user;
    size_t n = size * nmemb;
    if (n > s->cap - s->len) {
        s->over = 1;
        return 0; /* aborts the transfer: CURLE_WRITE_ERROR */
    }
    memcpy(s->p + s->len, data, n);
    s->len += n;
    return n;
}

static int request(const char *method, const char *url, const char *cafile, unsigned timeout_ms,
                   const char *data, size_t len, size_t body_cap, long *status, char **body,
                   size_t *body_len, char *why, size_t cap)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    struct curl_slist *headers = NULL;
    struct sink s = {NULL, 0, body_cap, 0};
    CURL *h;
    CURLcode cc;
    int rc = PL_OK;

    *status = 0;
    *body = NULL;
    *body_len = 0;
    pthread_once(&curl_once, init_curl);
    if (curl_init_rc != CURLE_OK) {
        snprintf(why, cap, "cannot initialise libcurl");
        return PL_ERR_INTERNAL;
    }
    s.p = malloc(body_cap + 1);
    h = curl_easy_init();
    if (!s.p || !h) {
        free(s.p);
        curl_easy_cleanup(h);
        snprintf(why, cap, "out of memory");
        return PL_ERR_NOMEM;
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)timeout_ms);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L);
    curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "peerlink");
    if (cafile)
        curl_easy_setopt(h, CURLOPT_CAINFO, cafile);
    if (data) {
        headers = curl_slist_append(headers, "Content-Type: application/json");
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    cc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if (s.over) {
        snprintf(why, cap, "the reply body is larger than %zu bytes, the limit here", body_cap);
        rc = PL_ERR_TOOBIG;
    } else if (cc != CURLE_OK) {
        snprintf(why, cap, "%s %s failed: %s", method, url,
                 errbuf[0] ? errbuf : curl_easy_strerror(cc));
        rc = PL_ERR_IO;
    }
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    if (rc != PL_OK) {
        free(s.p);
        return rc;
    }
    s.p[s.len] = 0;
    *body = s.p;
    *body_len = s.len;
    pl_log(PL_LOG_INFO, "%s %s: HTTP %ld, %zu bytes", method, url, *status, s.len);
    return PL_OK;
}

int pl_http_get(const char *url, const char *cafile, unsigned timeout_ms, size_t body_cap,
                long *status, char **body, size_t *body_len, char *why, size_t cap)
{
    return request("GET", url, cafile, timeout_ms, NULL, 0, body_cap, status, body, body_len, why,
                   cap);
}

int pl_http_put(const char *url, const char *cafile, unsigned timeout_ms, const char *data,
                size_t len, size_t body_cap, long *status, char **body, size_t *body_len, char *why,
                size_t cap)
{
    return request("PUT", url, cafile, timeout_ms, data, len, body_cap, status, body, body_len, why,
                   cap);
}
