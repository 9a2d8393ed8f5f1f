/*
 * directory.c - the directory service's sockets: HTTP and HTTPS through
 * libmicrohttpd (its own threads), DNS over UDP and TCP on a poll loop in
 * the calling thread, a periodic sweep of expired sets. Every decision is
 * made by the sans-IO cores of src/directory/; this file moves bytes and
 * reads the clocks.
 *
 * Threads: MHD's pool threads call the HTTP core; the poll loop calls the
 * DNS core and the sweep. The store and the rate limiter lock internally.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <sodium.h>

#include "directory/directory.h"
#include "util/util.h"

#define TCP_CONNS_MAX   64    /* concurrent DNS-over-TCP clients */
#define TCP_IDLE_MS     10000 /* RFC 7766 §6.2.3: close idle clients */
#define UDP_BURST       32    /* datagrams answered per wake-up (one recvmmsg) */
#define HTTP_TIMEOUT_S  10
#define HTTP_CONNS_MAX  1000
#define CERT_FILE_MAX   (64u << 10)
#define SWEEP_DEFAULT_S 60

struct tcp_conn {
    int fd;
    uint64_t last_ms;
    size_t in_len; /* bytes in `in`: 2-byte length then the message */
    size_t out_len, out_off;
    uint8_t in[2 + PL_DIR_DNS_MSG_MAX];
    uint8_t out[2 + PL_DIR_DNS_MSG_MAX];
};

struct udp_batch {
    struct mmsghdr msg[UDP_BURST], out[UDP_BURST];
    struct iovec iov[UDP_BURST], oiov[UDP_BURST];
    struct sockaddr_storage from[UDP_BURST];
    uint8_t q[UDP_BURST][PL_DIR_DNS_UDP_MAX];
    uint8_t r[UDP_BURST][PL_DIR_DNS_UDP_MAX];
};

struct server {
    const pl_dir_opts *o;
    pl_dir_store *store;
    pl_dir_ratelimit *rl;
    pl_dir_dns *dns;
    pl_dir_http http;
    int udp, tcp;
    struct tcp_conn *conns[TCP_CONNS_MAX];
    struct udp_batch *udp_batch;
};

static uint64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static uint64_t wall(void)
{
    return (uint64_t)time(NULL);
}

/* ---- addresses ---------------------------------------------------------- */

/* "ADDR:PORT" or "[V6]:PORT" into a socket address. */
static int resolve(const char *text, int socktype, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[128], port[16];
    const char *colon = strrchr(text, ':');
    struct addrinfo hints, *ai = NULL;
    size_t hl;
    if (!colon || !colon[1] || strlen(colon + 1) >= sizeof port)
        return -1;
    hl = (size_t)(colon - text);
    if (hl >= 2 && text[0] == '[' && text[hl - 1] == ']') {
        text++;
        hl -= 2;
    }
    if (hl == 0 || hl >= sizeof host)
        return -1;
    memcpy(host, text, hl);
    host[hl] = 0;
    memcpy(port, colon + 1, strlen(colon + 1) + 1);
    memset(&hints, 0, sizeof hints);
    hints.ai_socktype = socktype;
    hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
    if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai)
        return -1;
    memcpy(ss, ai->ai_addr, ai->ai_addrlen);
    *len = ai->ai_addrlen;
    freeaddrinfo(ai);
    return 0;
}

static void format_addr(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const void *)sa;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        snprintf(out, cap, "[%s]:%u", host, ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const void *)sa;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%u", host, ntohs(s4->sin_port));
    }
}

/* A bound (and for TCP listening) non-blocking socket. port_override: use
 * this port instead of the one in ss (0: keep). */
static int bind_socket(const struct sockaddr_storage *ss, socklen_t len, int type,
                       unsigned port_override, struct sockaddr_storage *bound)
{
    struct sockaddr_storage a = *ss;
    socklen_t blen = sizeof *bound;
    int one = 1;
    int fd = socket(a.ss_family, type | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    if (port_override) {
        if (a.ss_family == AF_INET6)
            ((struct sockaddr_in6 *)&a)->sin6_port = htons((uint16_t)port_override);
        else
            ((struct sockaddr_in *)&a)->sin_port = htons((uint16_t)port_override);
    }
    if (type == SOCK_STREAM)
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (a.ss_family == AF_INET6)
        setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
    if (bind(fd, (struct sockaddr *)&a, len) != 0 ||
        (type == SOCK_STREAM && listen(fd, 128) != 0) ||
        getsockname(fd, (struct sockaddr *)bound, &blen) != 0) {
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

static unsigned port_of(const struct sockaddr_storage *ss)
{
    return ss->ss_family == AF_INET6 ? ntohs(((const struct sockaddr_in6 *)ss)->sin6_port)
                                     : ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

/* ---- HTTP ----------------------------------------------------------------- */

struct request {
    size_t len;
    int over;
    uint8_t body[PL_RECORD_JSON_MAX];
};

static enum MHD_Result respond(struct MHD_Connection *c, const pl_dir_http_resp *r)
{
    struct MHD_Response *resp;
    enum MHD_Result ok;
    char retry[16];
    resp = MHD_create_response_from_buffer(r->body_len, (void *)r->body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    if (r->retry_after) {
        snprintf(retry, sizeof retry, "%u", r->retry_after);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, retry);
    }
    if (r->allow)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, r->allow);
    ok = MHD_queue_response(c, (unsigned)r->status, resp);
    MHD_destroy_response(resp);
    return ok;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_size, void **con_cls)
{
    struct server *s = cls;
    struct request *req = *con_cls;
    const union MHD_ConnectionInfo *ci;
    pl_dir_http_resp *r;
    enum MHD_Result ok;
    (void)version;

    if (!req) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "Content-Length");
        req = calloc(1, sizeof *req);
        if (!req)
            return MHD_NO;
        *con_cls = req;
        if (cl && strlen(cl) > 9) /* more than a gigabyte, or garbage MHD refuses */
            req->over = 1;
        else if (cl && strtoul(cl, NULL, 10) > PL_RECORD_JSON_MAX)
            req->over = 1;
        if (req->over && strcmp(method, "PUT") == 0) {
            /* Refuse before the body is sent: MHD closes the connection. */
            r = malloc(sizeof *r);
            if (!r)
                return MHD_NO;
            ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
            pl_dir_http_handle(&s->http, ci ? ci->client_addr : NULL, method, url, NULL, 0, 1,
                               wall(), mono_ms(), r);
            ok = respond(c, r);
            free(r);
            return ok;
        }
        return MHD_YES;
    }
    if (*upload_size) {
        if (!req->over && req->len + *upload_size <= sizeof req->body) {
            memcpy(req->body + req->len, upload_data, *upload_size);
            req->len += *upload_size;
        } else {
            req->over = 1;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    r = malloc(sizeof *r);
    if (!r)
        return MHD_NO;
    ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    pl_dir_http_handle(&s->http, ci ? ci->client_addr : NULL, method, url, req->body, req->len,
                       req->over, wall(), mono_ms(), r);
    if (r->status >= 400)
        pl_log(PL_LOG_INFO, "directory: %s %s: %d %s", method, url, r->status, r->body);
    ok = respond(c, r);
    free(r);
    return ok;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap) PL_PRINTF(2, 0);
static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[256];
    (void)cls;
    vsnprintf(msg, sizeof msg, fmt, ap);
    msg[strcspn(msg, "\n")] = 0;
    pl_log(PL_LOG_DEBUG, "directory: http: %s", msg);
}

static struct MHD_Daemon *start_http(struct server *s, const char *addr, const char *cert,
                                     const char *key, pl_dir_listening_fn fn, void *user,
                                     const char **why)
{
    struct sockaddr_storage ss, bound;
    socklen_t len;
    struct MHD_Daemon *d;
    char text[PL_TCP_ADDR_MAX];
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned pool = ncpu < 1 ? 1 : ncpu > 4 ? 4 : (unsigned)ncpu;
    int fd;

    if (resolve(addr, SOCK_STREAM, &ss, &len) != 0) {
        *why = "bad HTTP(S) listen address: want ADDR:PORT or [V6]:PORT with numbers";
        return NULL;
    }
    fd = bind_socket(&ss, len, SOCK_STREAM, 0, &bound);
    if (fd < 0) {
        *why = "cannot listen on the HTTP(S) address";
        return NULL;
    }
    if (MHD_is_feature_supported(MHD_FEATURE_EPOLL) == MHD_YES)
        flags |= MHD_USE_EPOLL;
    if (bound.ss_family == AF_INET6)
        flags |= MHD_USE_IPv6;
    if (cert)
        flags |= MHD_USE_TLS;
    if (cert)
        d = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_THREAD_POOL_SIZE, pool,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)HTTP_CONNS_MAX, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
            MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_HTTPS_MEM_KEY, key, MHD_OPTION_END);
    else
        d = MHD_start_daemon(
            flags, 0, NULL, NULL, on_request, s, MHD_OPTION_LISTEN_SOCKET, fd,
            MHD_OPTION_NOTIFY_COMPLETED, on_completed, s, MHD_OPTION_THREAD_POOL_SIZE, pool,
            MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)HTTP_TIMEOUT_S, MHD_OPTION_CONNECTION_LIMIT,
            (unsigned)HTTP_CONNS_MAX, MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s, MHD_OPTION_END);
    if (!d) {
        close(fd);
        *why = cert ? "cannot start the HTTPS server (is the certificate and key PEM?)"
                    : "cannot start the HTTP server";
        return NULL;
    }
    format_addr((struct sockaddr *)&bound, text, sizeof text);
    if (fn)
        fn(user, cert ? "https" : "http", text);
    return d;
}

/* ---- DNS over UDP and TCP -------------------------------------------------- */

static int open_dns(struct server *s, const char *addr, pl_dir_listening_fn fn, void *user,
                    const char **why)
{
    struct sockaddr_storage ss, bound, tbound;
    socklen_t len;
    char text[PL_TCP_ADDR_MAX];
    if (resolve(addr, SOCK_DGRAM, &ss, &len) != 0) {
        *why = "bad DNS listen address: want ADDR:PORT or [V6]:PORT with numbers";
        return -1;
    }
    /* Port 0: let the kernel pick a UDP port, then take the same for TCP. */
    for (int tries = 0; tries < 20; tries++) {
        s->udp = bind_socket(&ss, len, SOCK_DGRAM, 0, &bound);
        if (s->udp < 0)
            break;
        s->tcp = bind_socket(&ss, len, SOCK_STREAM, port_of(&bound), &tbound);
        if (s->tcp >= 0)
            break;
        close(s->udp);
        s->udp = -1;
        if (port_of(&ss) != 0)
            break;
    }
    if (s->udp < 0 || s->tcp < 0) {
        *why = "cannot listen on the DNS address (UDP and TCP)";
        return -1;
    }
    format_addr((struct sockaddr *)&bound, text, sizeof text);
    if (fn) {
        fn(user, "dns-udp", text);
        fn(user, "dns-tcp", text);
    }
    return 0;
}

/* Answer up to UDP_BURST datagrams with one recvmmsg and one sendmmsg. */
static void serve_udp(struct server *s)
{
    struct udp_batch *b = s->udp_batch;
    int n, k = 0;
    for (int i = 0; i < UDP_BURST; i++) {
        b->iov[i] = (struct iovec){b->q[i], sizeof b->q[i]};
        b->msg[i].msg_hdr = (struct msghdr){.msg_name = &b->from[i],
                                            .msg_namelen = sizeof b->from[i],
                                            .msg_iov = &b->iov[i],
                                            .msg_iovlen = 1};
    }
    n = recvmmsg(s->udp, b->msg, UDP_BURST, MSG_DONTWAIT, NULL);
    if (n <= 0)
        return;
    for (int i = 0; i < n; i++) {
        int rc = pl_dir_dns_answer(s->dns, s->store, b->q[i], b->msg[i].msg_len, 0, wall(), b->r[k],
                                   sizeof b->r[k]);
        if (rc <= 0)
            continue;
        b->oiov[k] = (struct iovec){b->r[k], (size_t)rc};
        b->out[k].msg_hdr = (struct msghdr){.msg_name = &b->from[i],
                                            .msg_namelen = b->msg[i].msg_hdr.msg_namelen,
                                            .msg_iov = &b->oiov[k],
                                            .msg_iovlen = 1};
        k++;
    }
    if (k > 0 && sendmmsg(s->udp, b->out, (unsigned)k, MSG_DONTWAIT) < 0)
        pl_log(PL_LOG_DEBUG, "directory: dns: sendmmsg: %s", strerror(errno));
}

static void close_conn(struct server *s, int i)
{
    close(s->conns[i]->fd);
    free(s->conns[i]);
    s->conns[i] = NULL;
}

static void accept_tcp(struct server *s)
{
    for (;;) {
        int fd = accept4(s->tcp, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i;
        if (fd < 0)
            return;
        for (i = 0; i < TCP_CONNS_MAX && s->conns[i]; i++)
            ;
        if (i == TCP_CONNS_MAX) {
            close(fd); /* full: the client retries later */
            continue;
        }
        s->conns[i] = malloc(sizeof *s->conns[i]);
        if (!s->conns[i]) {
            close(fd);
            return;
        }
        s->conns[i]->fd = fd;
        s->conns[i]->in_len = s->conns[i]->out_len = s->conns[i]->out_off = 0;
        s->conns[i]->last_ms = mono_ms();
    }
}

/* Write what is pending, then read and answer whole messages, one at a
 * time. Returns -1 to close the connection. */
static int serve_tcp(struct server *s, struct tcp_conn *c, short revents)
{
    int budget = 32; /* answers per wake-up: one client cannot starve the rest */
    if (revents & (POLLERR | POLLNVAL))
        return -1;
    for (;;) {
        size_t want;
        ssize_t n;
        int rc;
        if (c->out_len) {
            n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
            if (n < 0)
                return errno == EAGAIN ? 0 : -1;
            c->out_off += (size_t)n;
            if (c->out_off < c->out_len)
                return 0;
            c->out_len = c->out_off = 0;
            c->last_ms = mono_ms();
        }
        want = c->in_len < 2 ? 2 : 2 + (size_t)(c->in[0] << 8 | c->in[1]);
        if (want == 2 && c->in_len == 2)
            return -1; /* a zero-length message */
        if (c->in_len < want) {
            n = recv(c->fd, c->in + c->in_len, want - c->in_len, 0);
            if (n == 0)
                return -1;
            if (n < 0)
                return errno == EAGAIN ? 0 : -1;
            c->in_len += (size_t)n;
            c->last_ms = mono_ms();
            continue;
        }
        rc = pl_dir_dns_answer(s->dns, s->store, c->in + 2, want - 2, 1, wall(), c->out + 2,
                               PL_DIR_DNS_MSG_MAX);
        c->in_len = 0;
        if (rc <= 0)
            return -1; /* nothing to say to this: hang up */
        c->out[0] = (uint8_t)(rc >> 8);
        c->out[1] = (uint8_t)rc;
        c->out_len = 2 + (size_t)rc;
        c->out_off = 0;
        if (--budget == 0)
            return 0;
    }
}

/* ---- the service -------------------------------------------------------- */

static void cleanup(struct server *s)
{
    for (int i = 0; i < TCP_CONNS_MAX; i++)
        if (s->conns[i])
            close_conn(s, i);
    if (s->udp >= 0)
        close(s->udp);
    if (s->tcp >= 0)
        close(s->tcp);
    pl_dir_dns_free(s->dns);
    pl_dir_ratelimit_free(s->rl);
    pl_dir_store_close(s->store);
    free(s->udp_batch);
}

static int read_pem(const char *path, char **out, const char **why, const char *what)
{
    size_t len;
    int rc = pl_file_read(path, CERT_FILE_MAX, out, &len);
    if (rc != PL_OK)
        *why = what;
    return rc;
}

int pl_dir_serve(const pl_dir_opts *o, pl_dir_listening_fn fn, void *user, const char **why)
{
    struct server s;
    struct MHD_Daemon *http = NULL, *https = NULL;
    struct pollfd pfd[3 + TCP_CONNS_MAX];
    int idx[3 + TCP_CONNS_MAX];
    pl_dir_dns_config dc;
    uint8_t key[16];
    char *cert = NULL, *pkey = NULL;
    const char *dummy;
    uint64_t next_sweep;
    unsigned sweep_s;
    int rc = PL_OK;

    if (!why)
        why = &dummy;
    *why = NULL;
    memset(&s, 0, sizeof s);
    s.udp = s.tcp = -1;
    if (!o || !o->zone || !o->db || (!o->http && !o->https && !o->dns) ||
        (o->https && (!o->cert_file || !o->key_file))) {
        *why = "need a zone, a database, at least one listen address, and for HTTPS a "
               "certificate and key";
        return PL_ERR_INVAL;
    }
    s.o = o;
    memset(&dc, 0, sizeof dc);
    dc.zone = o->zone;
    dc.ns = o->ns;
    dc.mbox = o->mbox;
    dc.serial = (uint32_t)wall();
    dc.max_ttl = o->max_ttl;
    dc.neg_ttl = o->neg_ttl;
    rc = pl_dir_dns_new(&s.dns, &dc, why);
    if (rc == PL_OK)
        rc = pl_dir_store_open(&s.store, o->db, why);
    randombytes_buf(key, sizeof key);
    if (rc == PL_OK && o->rate_per_min) {
        rc = pl_dir_ratelimit_new(&s.rl, o->rate_per_min, o->rate_burst ? o->rate_burst : 1,
                                  PL_DIR_RL_ENTRIES_DEFAULT, key);
        if (rc != PL_OK)
            *why = "cannot set up the rate limiter";
    }
    s.udp_batch = malloc(sizeof *s.udp_batch);
    if (rc == PL_OK && !s.udp_batch) {
        rc = PL_ERR_NOMEM;
        *why = "out of memory";
    }
    s.http.store = s.store;
    s.http.rl = s.rl;
    s.http.skew = o->skew ? o->skew : PL_RECORD_SKEW_DEFAULT;
    if (rc == PL_OK && o->https && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        *why = "this libmicrohttpd was built without TLS: HTTPS is not available";
        rc = PL_ERR_INVAL;
    }
    if (rc == PL_OK && o->https) {
        rc = read_pem(o->cert_file, &cert, why, "cannot read the certificate file");
        if (rc == PL_OK)
            rc = read_pem(o->key_file, &pkey, why, "cannot read the key file");
    }
    if (rc == PL_OK && o->dns && open_dns(&s, o->dns, fn, user, why) != 0)
        rc = PL_ERR_IO;
    if (rc == PL_OK && o->http && !(http = start_http(&s, o->http, NULL, NULL, fn, user, why)))
        rc = PL_ERR_IO;
    if (rc == PL_OK && o->https && !(https = start_http(&s, o->https, cert, pkey, fn, user, why)))
        rc = PL_ERR_IO;
    if (pkey)
        sodium_memzero(pkey, strlen(pkey));
    if (rc != PL_OK)
        goto out;

    sweep_s = o->sweep_interval ? o->sweep_interval : SWEEP_DEFAULT_S;
    next_sweep = mono_ms();
    for (;;) {
        int n = 0, timeout, ready;
        uint64_t now = mono_ms();
        if (now >= next_sweep) {
            int swept = pl_dir_store_sweep(s.store, wall());
            if (swept > 0)
                pl_log(PL_LOG_INFO, "directory: %d expired record sets dropped", swept);
            else if (swept < 0)
                pl_log(PL_LOG_WARN, "directory: the sweep of expired sets failed");
            next_sweep = now + (uint64_t)sweep_s * 1000;
        }
        if (o->stop_fd >= 0) {
            pfd[n] = (struct pollfd){.fd = o->stop_fd, .events = POLLIN};
            idx[n++] = -1;
        }
        if (s.udp >= 0) {
            pfd[n] = (struct pollfd){.fd = s.udp, .events = POLLIN};
            idx[n++] = -2;
            pfd[n] = (struct pollfd){.fd = s.tcp, .events = POLLIN};
            idx[n++] = -3;
        }
        for (int i = 0; i < TCP_CONNS_MAX; i++) {
            if (!s.conns[i])
                continue;
            if (now - s.conns[i]->last_ms > TCP_IDLE_MS) {
                close_conn(&s, i);
                continue;
            }
            pfd[n] = (struct pollfd){.fd = s.conns[i]->fd,
                                     .events = s.conns[i]->out_len ? POLLOUT : POLLIN};
            idx[n++] = i;
        }
        timeout = (int)(next_sweep > now ? next_sweep - now : 0);
        if (timeout > 1000)
            timeout = 1000; /* also the granularity of the idle timeout */
        ready = poll(pfd, (nfds_t)n, timeout);
        if (ready < 0 && errno != EINTR) {
            *why = "poll failed";
            rc = PL_ERR_IO;
            break;
        }
        if (ready <= 0)
            continue;
        if (o->stop_fd >= 0 && (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)))
            break;
        for (int k = 0; k < n; k++) {
            if (!pfd[k].revents)
                continue;
            if (idx[k] == -2)
                serve_udp(&s);
            else if (idx[k] == -3)
                accept_tcp(&s);
            else if (idx[k] >= 0 && s.conns[idx[k]] &&
                     serve_tcp(&s, s.conns[idx[k]], pfd[k].revents) != 0)
                close_conn(&s, idx[k]);
        }
    }
out:
    if (http)
        MHD_stop_daemon(http);
    if (https)
        MHD_stop_daemon(https);
    free(cert);
    free(pkey);
    cleanup(&s);
    return rc;
}
