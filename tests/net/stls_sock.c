/*
 * stls_sock.c - test driver: one pl_stls engine over one TCP connection,
 * with plain blocking POSIX sockets and poll (test code, not the runtime).
 *
 *   stls_sock connect HOST PORT --key FILE [options]
 *   stls_sock listen PORT --key FILE [options]     (binds 127.0.0.1; PORT 0: any)
 *
 * Options: --trust FILE (default: an empty store), --expect FP (the peer
 * must hold this key; accepted even when the store does not list it),
 * --client-only | --server-only (default: either, with a tie-breaker),
 * --send TEXT (the line sent once established; default "hello from
 * peerlink"), --lines N (lines to read before closing; default 1),
 * --timeout SECONDS (default 10), --tiebreak N (draw N as the tie-breaker:
 * for tests of equal values), -v (library log on stderr).
 *
 * stdout, one item per line:
 *   listening PORT          (listen: once bound, before accepting)
 *   peer FINGERPRINT        (established) or refused FINGERPRINT (failed)
 *   name NAME               (the peer's display name, when established)
 *   recv LINE               (each line read from the peer)
 *   closed                  (the peer sent close_notify)
 * Exit status: 0 the handshake completed and N lines arrived (or the peer
 * closed cleanly after the handshake), 1 failure (reason on stderr), 2 usage.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "peerlink.h"

#define BUF_LEN  16384
#define LINE_CAP 4096

struct opts {
    bool listen;
    const char *host, *port, *key, *trust, *expect, *send;
    unsigned flags;
    long lines, timeout;
    int verbose;
    long tiebreak; /* > 0: the tie-breaker every draw gives (tests of equal values) */
};

static void usage(void)
{
    fprintf(stderr, "usage: stls_sock connect HOST PORT --key FILE [options]\n"
                    "       stls_sock listen PORT --key FILE [options]\n"
                    "options: --trust FILE  --expect FP  --client-only | --server-only\n"
                    "         --send TEXT  --lines N  --timeout SECONDS  --tiebreak N  -v\n");
    exit(2);
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("stls_sock: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    exit(1);
}

static void log_cb(void *user, enum pl_log_level level, const char *msg)
{
    (void)user;
    fprintf(stderr, "stls_sock: [%d] %s\n", (int)level, msg);
}

/* A "random" source that always gives the same tie-breaker. */
static int fixed_random(void *user, uint8_t *out, size_t len)
{
    uint64_t v = (uint64_t) * (const long *)user;
    for (size_t i = 0; i < len; i++)
        out[i] = (uint8_t)(v >> (8 * ((len - 1 - i) % 8)));
    return 0;
}

static long number(const char *s, long lo, long hi)
{
    char *end = NULL;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || end == s || *end || v < lo || v > hi)
        usage();
    return v;
}

static void parse(int argc, char **argv, struct opts *o)
{
    int i = 1;
    memset(o, 0, sizeof *o);
    o->flags = PL_STLS_PEER;
    o->send = "hello from peerlink";
    o->lines = 1;
    o->timeout = 10;
    if (argc < 3)
        usage();
    if (strcmp(argv[i], "connect") == 0 && argc >= 4) {
        o->host = argv[++i];
        o->port = argv[++i];
    } else if (strcmp(argv[i], "listen") == 0) {
        o->listen = true;
        o->port = argv[++i];
    } else {
        usage();
    }
    for (i++; i < argc; i++) {
        const char *a = argv[i];
        bool more = i + 1 < argc;
        if (strcmp(a, "--key") == 0 && more)
            o->key = argv[++i];
        else if (strcmp(a, "--trust") == 0 && more)
            o->trust = argv[++i];
        else if (strcmp(a, "--expect") == 0 && more)
            o->expect = argv[++i];
        else if (strcmp(a, "--send") == 0 && more)
            o->send = argv[++i];
        else if (strcmp(a, "--lines") == 0 && more)
            o->lines = number(argv[++i], 0, 1000);
        else if (strcmp(a, "--timeout") == 0 && more)
            o->timeout = number(argv[++i], 1, 3600);
        else if (strcmp(a, "--client-only") == 0)
            o->flags = PL_STLS_CLIENT;
        else if (strcmp(a, "--server-only") == 0)
            o->flags = PL_STLS_SERVER;
        else if (strcmp(a, "--tiebreak") == 0 && more)
            o->tiebreak = number(argv[++i], 1, 0x7fffffff);
        else if (strcmp(a, "-v") == 0)
            o->verbose++;
        else
            usage();
    }
    if (!o->key)
        usage();
}

static int dial(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res, *ai;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0)
        die("%s port %s: %s", host, port, gai_strerror(rc));
    int fd = -1;
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0)
        die("cannot connect to %s port %s: %s", host, port, strerror(errno));
    return fd;
}

static int accept_one(const char *port, long timeout)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof sa;
    int one = 1;
    sa.sin_port = htons((uint16_t)number(port, 0, 65535));
    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (lfd < 0 || setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0 ||
        bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 1) != 0 ||
        getsockname(lfd, (struct sockaddr *)&sa, &len) != 0)
        die("cannot listen on 127.0.0.1 port %s: %s", port, strerror(errno));
    printf("listening %u\n", (unsigned)ntohs(sa.sin_port));
    fflush(stdout);
    struct pollfd p = {.fd = lfd, .events = POLLIN};
    if (poll(&p, 1, (int)(timeout * 1000)) != 1)
        die("no connection within %ld seconds", timeout);
    int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0)
        die("accept: %s", strerror(errno));
    close(lfd);
    return fd;
}

static bool send_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

/* Everything the engine has for the peer goes out now (blocking). When
 * `must` is false (closing), a peer that has gone away is not an error. */
static void flush_to(pl_stls *s, int fd, bool must)
{
    static uint8_t buf[BUF_LEN];
    int n;
    while ((n = pl_stls_output(s, buf, sizeof buf)) > 0)
        if (!send_all(fd, buf, (size_t)n) && must)
            die("send: %s", strerror(errno));
    if (n < 0)
        die("pl_stls_output: %s", pl_strerror(n));
}

static void flush(pl_stls *s, int fd)
{
    flush_to(s, fd, true);
}

static void print_fp(const char *label, const pl_fingerprint *fp)
{
    char text[PL_FINGERPRINT_STR_MAX];
    if (pl_fingerprint_format(fp, text, sizeof text) > 0)
        printf("%s %s\n", label, text);
}

/* Received application bytes, printed as "recv LINE" per line. */
struct lines {
    char line[LINE_CAP];
    size_t len;
    long count;
};

static void take(struct lines *l, const uint8_t *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (p[i] == '\n' || l->len == sizeof l->line - 1) {
            if (l->len > 0 && l->line[l->len - 1] == '\r')
                l->len--;
            printf("recv %.*s\n", (int)l->len, l->line);
            l->len = 0;
            l->count++;
            if (p[i] == '\n')
                continue;
        }
        l->line[l->len++] = (char)p[i];
    }
    fflush(stdout);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Fails the run: the alert goes out, the reason and any refused key are shown. */
static void failed(pl_stls *s, int fd)
{
    const char *why = "unknown";
    pl_fingerprint fp;
    int err = pl_stls_error(s, &why);
    flush_to(s, fd, false); /* the alert, if the peer still listens */
    if (pl_stls_peer(s, &fp) == PL_OK)
        print_fp("refused", &fp);
    fflush(stdout);
    die("handshake failed: %s (%s)", why, pl_strerror(err));
}

static int run(const struct opts *o, pl_stls *s, int fd)
{
    static uint8_t buf[BUF_LEN];
    struct lines got = {.len = 0};
    bool greeted = false;
    double deadline = now_s() + (double)o->timeout;
    for (;;) {
        flush(s, fd);
        enum pl_stls_state st = pl_stls_state(s);
        if (st == PL_STLS_FAILED)
            failed(s, fd);
        if (st != PL_STLS_HANDSHAKING && !greeted) {
            pl_fingerprint fp;
            char name[PL_STLS_NAME_MAX + 1];
            greeted = true;
            if (pl_stls_peer(s, &fp) == PL_OK)
                print_fp("peer", &fp);
            if (pl_stls_peer_name(s, name, sizeof name) >= 0)
                printf("name %s\n", name);
            fflush(stdout);
            if (st == PL_STLS_ESTABLISHED) {
                size_t len = strlen(o->send);
                int rc = pl_stls_write(s, (const uint8_t *)o->send, len);
                if (rc >= 0)
                    rc = pl_stls_write(s, (const uint8_t *)"\n", 1);
                if (rc < 0)
                    die("pl_stls_write: %s", pl_strerror(rc));
                flush(s, fd);
            }
        }
        int n;
        while ((n = pl_stls_read(s, buf, sizeof buf)) > 0)
            take(&got, buf, (size_t)n);
        if (n < 0)
            failed(s, fd);
        if (pl_stls_state(s) == PL_STLS_CLOSED) {
            printf("closed\n");
            fflush(stdout);
            return 0;
        }
        if (greeted && got.count >= o->lines) {
            if (pl_stls_close(s) == PL_OK)
                flush_to(s, fd, false);
            shutdown(fd, SHUT_WR);
            return 0;
        }
        double left = deadline - now_s();
        if (left <= 0)
            die("timed out after %ld seconds", o->timeout);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        int pr = poll(&p, 1, (int)(left * 1000) + 1);
        if (pr < 0 && errno != EINTR)
            die("poll: %s", strerror(errno));
        if (pr <= 0)
            continue;
        ssize_t r = recv(fd, buf, sizeof buf, 0);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0)
            die("recv: %s", strerror(errno));
        if (r == 0) {
            if (pl_stls_state(s) == PL_STLS_HANDSHAKING)
                die("the peer closed the connection during the handshake");
            die("the peer closed the connection without close_notify");
        }
        int rc = pl_stls_feed(s, buf, (size_t)r, (uint64_t)time(NULL));
        if (rc != PL_OK)
            failed(s, fd);
    }
}

int main(int argc, char **argv)
{
    struct opts o;
    parse(argc, argv, &o);
    if (pl_init() != PL_OK)
        die("pl_init failed");
    if (o.verbose)
        pl_set_log(log_cb, NULL, o.verbose > 1 ? PL_LOG_DEBUG : PL_LOG_INFO);

    const char *why = "";
    size_t line = 0;
    pl_identity *id = NULL;
    pl_trust *ts = NULL;
    pl_stls_config *cfg = NULL;
    pl_stls *s = NULL;
    pl_fingerprint expected;
    int rc = pl_identity_load(&id, o.key, &why);
    if (rc != PL_OK)
        die("%s: %s (%s)", o.key, pl_strerror(rc), why ? why : "");
    rc = o.trust ? pl_trust_load(&ts, o.trust, &line, &why) : pl_trust_new(&ts);
    if (rc != PL_OK)
        die("%s: %s", o.trust ? o.trust : "trust store", pl_strerror(rc));
    if (o.expect && pl_fingerprint_parse(&expected, o.expect, strlen(o.expect), &why) != PL_OK)
        die("--expect %s: %s", o.expect, why);
    rc = pl_stls_config_new(&cfg, id, "stls_sock");
    if (rc != PL_OK)
        die("pl_stls_config_new: %s", pl_strerror(rc));
    pl_stls_config_set_trust(cfg, ts);
    if (o.tiebreak > 0)
        pl_stls_config_set_random(cfg, fixed_random, &o.tiebreak);
    pl_identity_free(id);

    int fd = o.listen ? accept_one(o.port, o.timeout) : dial(o.host, o.port);
    unsigned flags = o.flags | (o.expect ? PL_STLS_ACCEPT_UNKNOWN : 0);
    rc = pl_stls_new(&s, cfg, flags, o.expect ? &expected : NULL);
    if (rc != PL_OK)
        die("pl_stls_new: %s", pl_strerror(rc));
    rc = run(&o, s, fd);
    close(fd);
    pl_stls_free(s);
    pl_stls_config_free(cfg);
    pl_trust_free(ts);
    return rc;
}
