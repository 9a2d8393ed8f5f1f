/*
 * test_runtime.c - the libuv runtime (src/runtime/): pl_tcp_connect and
 * pl_tcp_listen over loopback. The listener runs in a forked child that
 * reports its port through a pipe and exits with its result; files stand
 * in for the joined descriptors, so every run compares exact bytes.
 */
#define _GNU_SOURCE
#include "testutil.h"

#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "peerlink.h"

#define DATA_LEN 300000

typedef struct node {
    pl_identity *id;
    pl_trust *trust;
    pl_stls_config *cfg;
    pl_fingerprint fp;
} node;

static void node_init(node *n, uint8_t tag, const char *name)
{
    uint8_t seed[PL_ED25519_SEED_LEN];
    memset(seed, tag, sizeof seed);
    memset(n, 0, sizeof *n);
    assert_int_equal(pl_identity_from_seed(&n->id, seed), PL_OK);
    pl_identity_fingerprint(n->id, &n->fp);
    assert_int_equal(pl_trust_new(&n->trust), PL_OK);
    assert_int_equal(pl_stls_config_new(&n->cfg, n->id, name), PL_OK);
    pl_stls_config_set_trust(n->cfg, n->trust);
}

static void node_free(node *n)
{
    pl_stls_config_free(n->cfg);
    pl_trust_free(n->trust);
    pl_identity_free(n->id);
}

static void allow(node *n, const node *peer)
{
    const char *why = NULL;
    assert_int_equal(pl_trust_set(n->trust, PL_TRUST_ALLOW, &peer->fp, NULL, NULL, 0, &why), PL_OK);
}

/* ---- what a handler saw ------------------------------------------------ */

typedef struct seen {
    const char *in_path, *out_path;
    int refuse;      /* established returns non-zero */
    int port_fd;     /* listening writes the port here */
    int established; /* calls */
    int closed;
    int err;
    pl_tcp_info info;
} seen;

static void on_listening(void *user, const char *addr)
{
    seen *s = user;
    const char *colon = strrchr(addr, ':');
    size_t len = colon ? strlen(colon + 1) : 0;
    if (write(s->port_fd, colon ? colon + 1 : "", len + 1) < 0)
        _exit(100);
}

static int on_established(void *user, const pl_tcp_info *info, int *in_fd, int *out_fd)
{
    seen *s = user;
    s->established++;
    s->info = *info;
    if (s->refuse || !s->in_path || !s->out_path)
        return -1;
    *in_fd = open(s->in_path, O_RDONLY | O_CLOEXEC);
    *out_fd = open(s->out_path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    return 0;
}

static void on_closed(void *user, const pl_tcp_info *info, int err, const char *why)
{
    seen *s = user;
    s->closed++;
    s->err = err;
    if (err != 0)
        assert_non_null(why);
    if (!s->established)
        s->info = *info;
}

static const pl_tcp_handler handler = {on_listening, on_established, on_closed};

/* ---- a listener in a child process -------------------------------------- */

typedef struct child {
    pid_t pid;
    char port[16];
} child;

/* Fork a listener for one connection; its exit status is -(its result). */
static void listener(child *c, const node *n, unsigned flags, seen *s)
{
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    c->pid = fork();
    assert_true(c->pid >= 0);
    if (c->pid == 0) {
        pl_tcp_opts o;
        close(fds[0]);
        s->port_fd = fds[1];
        memset(&o, 0, sizeof o);
        o.cfg = n->cfg;
        o.flags = flags;
        o.host = "127.0.0.1";
        o.port = "0";
        o.max_conns = 1;
        alarm(20);
        int rc = pl_tcp_listen(&o, &handler, s);
        _exit(s->closed == 1 ? -rc : 99);
    }
    close(fds[1]);
    ssize_t got = 0, r;
    while ((r = read(fds[0], c->port + got, sizeof c->port - 1 - (size_t)got)) > 0) {
        got += r;
        if (memchr(c->port, 0, (size_t)got))
            break;
    }
    close(fds[0]);
    c->port[sizeof c->port - 1] = 0;
    assert_true(got > 1);
}

static int child_result(child *c)
{
    int status = 0;
    assert_int_equal(waitpid(c->pid, &status, 0), c->pid);
    assert_true(WIFEXITED(status));
    return -WEXITSTATUS(status);
}

static int dial(const node *n, const pl_fingerprint *expected, unsigned flags, const char *port,
                seen *s)
{
    pl_tcp_opts o;
    memset(&o, 0, sizeof o);
    o.cfg = n->cfg;
    o.flags = flags;
    o.expected = expected;
    o.host = "127.0.0.1";
    o.port = port;
    return pl_tcp_connect(&o, &handler, s);
}

/* ---- files ------------------------------------------------------------- */

typedef struct files {
    char *dir;
    char a_in[256], a_out[256], b_in[256], b_out[256];
} files;

static void write_random(const char *path, size_t len, uint8_t tag)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    for (size_t i = 0; i < len; i++)
        fputc((int)((i * 131 + tag) ^ (i >> 8)) & 0xff, f);
    assert_int_equal(fclose(f), 0);
}

static void files_init(files *f)
{
    f->dir = tu_tmpdir();
    snprintf(f->a_in, sizeof f->a_in, "%s/a.in", f->dir);
    snprintf(f->a_out, sizeof f->a_out, "%s/a.out", f->dir);
    snprintf(f->b_in, sizeof f->b_in, "%s/b.in", f->dir);
    snprintf(f->b_out, sizeof f->b_out, "%s/b.out", f->dir);
    write_random(f->a_in, DATA_LEN, 1);
    write_random(f->b_in, DATA_LEN / 3, 2);
}

static void files_free(files *f)
{
    tu_rmrf(f->dir);
    free(f->dir);
}

static void same_file(const char *a, const char *b)
{
    size_t la = 0, lb = 0;
    char *x = tu_read_file(a, &la), *y = tu_read_file(b, &lb);
    assert_int_equal(la, lb);
    assert_memory_equal(x, y, la);
    free(x);
    free(y);
}

/* ---- tests ------------------------------------------------------------- */

static void bad_options(void **state)
{
    (void)state;
    node a;
    node_init(&a, 0x11, "a");
    pl_tcp_opts o;
    memset(&o, 0, sizeof o);
    assert_int_equal(pl_tcp_connect(NULL, &handler, NULL), PL_ERR_INVAL);
    assert_int_equal(pl_tcp_listen(NULL, &handler, NULL), PL_ERR_INVAL);
    o.host = "127.0.0.1";
    o.port = "1";
    assert_int_equal(pl_tcp_connect(&o, &handler, NULL), PL_ERR_INVAL); /* no cfg */
    o.cfg = a.cfg;
    o.expected = &a.fp;
    assert_int_equal(pl_tcp_listen(&o, &handler, NULL), PL_ERR_INVAL); /* expected */
    node_free(&a);
}

static void nobody_listening(void **state)
{
    (void)state;
    node a, b;
    seen s;
    child c;
    node_init(&a, 0x11, "a");
    node_init(&b, 0x22, "b");
    /* a port that was just free: a listener that took one connection */
    memset(&s, 0, sizeof s);
    s.refuse = 1;
    listener(&c, &b, PL_STLS_PEER, &s);
    seen d;
    memset(&d, 0, sizeof d);
    d.refuse = 1;
    (void)dial(&a, &b.fp, PL_STLS_PEER | PL_STLS_ACCEPT_UNKNOWN, c.port, &d);
    (void)child_result(&c);
    memset(&d, 0, sizeof d);
    assert_int_equal(dial(&a, &b.fp, PL_STLS_PEER, c.port, &d), PL_ERR_IO);
    assert_int_equal(d.closed, 1);
    assert_int_equal(d.established, 0);
    assert_int_equal(d.err, PL_ERR_IO);
    assert_int_equal(d.info.has_peer, 0);
    node_free(&a);
    node_free(&b);
}

/* Data both ways, both roles peer: the tie-breaker settles them. */
static void session_both_ways(void **state)
{
    (void)state;
    node a, b;
    files f;
    seen sa, sb;
    child c;
    node_init(&a, 0x11, "alpha");
    node_init(&b, 0x22, "beta");
    allow(&b, &a);
    files_init(&f);
    memset(&sb, 0, sizeof sb);
    sb.in_path = f.b_in;
    sb.out_path = f.b_out;
    listener(&c, &b, PL_STLS_PEER, &sb);
    memset(&sa, 0, sizeof sa);
    sa.in_path = f.a_in;
    sa.out_path = f.a_out;
    assert_int_equal(dial(&a, &b.fp, PL_STLS_PEER | PL_STLS_ACCEPT_UNKNOWN, c.port, &sa), PL_OK);
    assert_int_equal(child_result(&c), PL_OK);
    assert_int_equal(sa.established, 1);
    assert_int_equal(sa.closed, 1);
    assert_int_equal(sa.err, 0);
    assert_true(sa.info.has_peer);
    assert_true(pl_fingerprint_equal(&sa.info.peer, &b.fp));
    assert_string_equal(sa.info.name, "beta");
    assert_true(sa.info.role == PL_STLS_CLIENT || sa.info.role == PL_STLS_SERVER);
    char want[32];
    snprintf(want, sizeof want, "127.0.0.1:%s", c.port);
    assert_string_equal(sa.info.remote, want);
    same_file(f.a_in, f.b_out);
    same_file(f.b_in, f.a_out);
    files_free(&f);
    node_free(&a);
    node_free(&b);
}

/* The listener's store does not list the dialler: refused in the
 * handshake, with the refused fingerprint reported; nothing joined. */
static void untrusted_refused(void **state)
{
    (void)state;
    node a, b;
    seen sa, sb;
    child c;
    node_init(&a, 0x11, "alpha");
    node_init(&b, 0x22, "beta");
    memset(&sb, 0, sizeof sb);
    sb.refuse = 1; /* would fail the child's status if it were reached */
    listener(&c, &b, PL_STLS_SERVER, &sb);
    /* The dialler waits for the server's confirmation (formats.md §5.5),
     * so it never reports the refused session as established. */
    memset(&sa, 0, sizeof sa);
    sa.in_path = "/dev/null";
    sa.out_path = "/dev/null";
    assert_int_equal(dial(&a, &b.fp, PL_STLS_CLIENT | PL_STLS_ACCEPT_UNKNOWN, c.port, &sa),
                     PL_ERR_AUTH);
    assert_int_equal(child_result(&c), PL_ERR_UNTRUSTED);
    assert_int_equal(sa.closed, 1);
    assert_int_equal(sa.established, 0);
    node_free(&a);
    node_free(&b);
}

/* The dialler expects another key: PL_ERR_AUTH, and the key presented is
 * reported so a tool can name it. */
static void wrong_key(void **state)
{
    (void)state;
    node a, b, other;
    seen sa, sb;
    child c;
    node_init(&a, 0x11, "alpha");
    node_init(&b, 0x22, "beta");
    node_init(&other, 0x33, "other");
    allow(&b, &a);
    memset(&sb, 0, sizeof sb);
    sb.refuse = 1;
    listener(&c, &b, PL_STLS_SERVER, &sb);
    memset(&sa, 0, sizeof sa);
    sa.refuse = 1;
    assert_int_equal(dial(&a, &other.fp, PL_STLS_CLIENT | PL_STLS_ACCEPT_UNKNOWN, c.port, &sa),
                     PL_ERR_AUTH);
    assert_int_equal(sa.established, 0);
    assert_true(sa.info.has_peer);
    assert_true(pl_fingerprint_equal(&sa.info.peer, &b.fp));
    assert_true(child_result(&c) < 0);
    node_free(&a);
    node_free(&b);
    node_free(&other);
}

/* An application that declines an authenticated peer drops the connection. */
static void declined(void **state)
{
    (void)state;
    node a, b;
    seen sa, sb;
    child c;
    node_init(&a, 0x11, "alpha");
    node_init(&b, 0x22, "beta");
    allow(&b, &a);
    memset(&sb, 0, sizeof sb);
    sb.refuse = 1;
    listener(&c, &b, PL_STLS_SERVER, &sb);
    memset(&sa, 0, sizeof sa);
    sa.refuse = 1;
    assert_int_equal(dial(&a, &b.fp, PL_STLS_CLIENT | PL_STLS_ACCEPT_UNKNOWN, c.port, &sa),
                     PL_ERR_INVAL);
    assert_int_equal(sa.established, 1);
    assert_int_equal(child_result(&c), PL_ERR_INVAL);
    node_free(&a);
    node_free(&b);
}

/* ---- STARTTLS ------------------------------------------------------------ */

static int tcp_pair(int *a, int *b)
{
    struct sockaddr_in sa;
    socklen_t len = sizeof sa;
    int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    memset(&sa, 0, sizeof sa);
    sa.sin_family = AF_INET;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(l, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sa, &len), 0);
    *a = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    assert_int_equal(connect(*a, (struct sockaddr *)&sa, sizeof sa), 0);
    *b = accept(l, NULL, NULL);
    assert_true(*b >= 0);
    close(l);
    return 0;
}

static const char LINE_HELLO_A[] = "HELLO alpha\r\nSTARTTLS\r\n";
static const char LINE_HELLO_B[] = "HELLO beta\r\nSTARTTLS\r\n";

/* Read the peer's clear-text lines up to and including STARTTLS with one
 * buffered read, as a line-protocol library would: whatever came after
 * (the start of the peer's TLS) is returned in pre. */
static size_t read_lines(int fd, const char *want, uint8_t *pre, size_t cap)
{
    static char buf[8192];
    size_t got = 0, wl = strlen(want);
    while (got < wl) {
        ssize_t n = recv(fd, buf + got, sizeof buf - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(buf, want, wl);
    assert_true(got - wl <= cap);
    memcpy(pre, buf + wl, got - wl);
    return got - wl;
}

static void opts_adopt(pl_tcp_opts *o, const node *n, const pl_fingerprint *expected)
{
    memset(o, 0, sizeof *o);
    o->cfg = n->cfg;
    o->flags = PL_STLS_PEER | (expected ? PL_STLS_ACCEPT_UNKNOWN : 0);
    o->expected = expected;
}

/* Both sides say STARTTLS and start TLS at once on a socket they opened
 * themselves: the ClientHellos cross and the tie-breaker settles them.
 * One side reads the other's ClientHello together with its last line and
 * hands those bytes over (pre). */
static void starttls_symmetric(void **state)
{
    (void)state;
    node a, b;
    files f;
    seen sa, sb;
    int fa, fb;
    node_init(&a, 0x11, "alpha");
    node_init(&b, 0x22, "beta");
    files_init(&f);
    tcp_pair(&fa, &fb);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        static uint8_t pre[8192];
        pl_tcp_opts o;
        close(fa);
        alarm(20);
        if (send(fb, LINE_HELLO_B, strlen(LINE_HELLO_B), 0) < 0)
            _exit(98);
        size_t n = read_lines(fb, LINE_HELLO_A, pre, sizeof pre);
        memset(&sb, 0, sizeof sb);
        sb.in_path = f.b_in;
        sb.out_path = f.b_out;
        opts_adopt(&o, &b, NULL); /* the trust store decides */
        allow(&b, &a);
        int rc = pl_tcp_adopt(&o, fb, pre, n, &handler, &sb);
        _exit(sb.closed == 1 && sb.established == 1 ? -rc : 99);
    }
    close(fb);
    static uint8_t pre[8192];
    assert_true(send(fa, LINE_HELLO_A, strlen(LINE_HELLO_A), 0) > 0);
    /* let the peer's ClientHello arrive behind its STARTTLS line */
    struct pollfd p = {fa, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 5000), 1);
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL);
    size_t n = read_lines(fa, LINE_HELLO_B, pre, sizeof pre);
    assert_true(n > 0); /* the peer's ClientHello came with its line */
    pl_tcp_opts o;
    opts_adopt(&o, &a, &b.fp);
    memset(&sa, 0, sizeof sa);
    sa.in_path = f.a_in;
    sa.out_path = f.a_out;
    assert_int_equal(pl_tcp_adopt(&o, fa, pre, n, &handler, &sa), PL_OK);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    assert_int_equal(sa.established, 1);
    assert_true(pl_fingerprint_equal(&sa.info.peer, &b.fp));
    assert_int_equal(sa.info.dialled, 0);
    same_file(f.a_in, f.b_out);
    same_file(f.b_in, f.a_out);
    files_free(&f);
    node_free(&a);
    node_free(&b);
}

static void adopt_bad(void **state)
{
    (void)state;
    node a;
    pl_tcp_opts o;
    int p[2];
    node_init(&a, 0x11, "a");
    opts_adopt(&o, &a, NULL);
    assert_int_equal(pipe(p), 0);
    assert_int_equal(pl_tcp_adopt(&o, p[0], NULL, 0, &handler, NULL), PL_ERR_INVAL);
    assert_int_equal(fcntl(p[0], F_GETFD), -1); /* taken and closed all the same */
    close(p[1]);
    int fa, fb;
    tcp_pair(&fa, &fb);
    o.host = "127.0.0.1";
    assert_int_equal(pl_tcp_adopt(&o, fa, NULL, 0, &handler, NULL), PL_ERR_INVAL);
    assert_int_equal(fcntl(fa, F_GETFD), -1);
    o.host = NULL;
    assert_int_equal(pl_tcp_adopt(&o, fb, NULL, 1, &handler, NULL), PL_ERR_INVAL); /* pre NULL */
    assert_int_equal(pl_tcp_adopt(NULL, -1, NULL, 0, &handler, NULL), PL_ERR_INVAL);
    /* meeting needs the peer's fingerprint */
    memset(&o, 0, sizeof o);
    o.cfg = a.cfg;
    o.flags = PL_STLS_PEER;
    o.host = "127.0.0.1";
    o.port = "1";
    o.accept_port = "0";
    assert_int_equal(pl_tcp_connect(&o, &handler, NULL), PL_ERR_INVAL);
    o.host = NULL;
    o.port = "0";
    assert_int_equal(pl_tcp_listen(&o, &handler, NULL), PL_ERR_INVAL); /* accept_* on listen */
    node_free(&a);
}

static void dbg_log(void *user, enum pl_log_level level, const char *msg)
{
    (void)user;
    fprintf(stderr, "log %d: %s\n", (int)level, msg);
}

/* ---- a cap on handshakes in progress ------------------------------------- */

/* A listener that allows one handshake at a time: a second connection that
 * arrives while a silent one holds the slot is closed at once; once the
 * slot is free, a real peer gets through. */
static void handshake_cap(void **state)
{
    (void)state;
    node a, b;
    seen sa, sb;
    int fds[2];
    node_init(&a, 0x11, "alpha");
    node_init(&b, 0x22, "beta");
    allow(&b, &a);
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        pl_tcp_opts o;
        close(fds[0]);
        memset(&sb, 0, sizeof sb);
        sb.port_fd = fds[1];
        sb.in_path = "/dev/null";
        sb.out_path = "/dev/null";
        memset(&o, 0, sizeof o);
        o.cfg = b.cfg;
        o.flags = PL_STLS_PEER;
        o.host = "127.0.0.1";
        o.port = "0";
        o.max_conns = 2; /* the silent one and the real one */
        o.max_handshakes = 1;
        o.handshake_timeout_ms = 5000;
        if (getenv("PL_TEST_LOG"))
            pl_set_log(dbg_log, NULL, PL_LOG_DEBUG);
        alarm(20);
        int rc = pl_tcp_listen(&o, &handler, &sb);
        _exit(sb.established == 1 ? -rc : 99);
    }
    close(fds[1]);
    char port[16] = {0};
    assert_true(read(fds[0], port, sizeof port - 1) > 1);
    close(fds[0]);
    struct sockaddr_in sa_in;
    memset(&sa_in, 0, sizeof sa_in);
    sa_in.sin_family = AF_INET;
    sa_in.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    sa_in.sin_port = htons((uint16_t)strtoul(port, NULL, 10));
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(silent, (struct sockaddr *)&sa_in, sizeof sa_in), 0);
    struct timespec ts = {0, 100 * 1000 * 1000};
    nanosleep(&ts, NULL); /* the listener has accepted it */
    int extra = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(extra, (struct sockaddr *)&sa_in, sizeof sa_in), 0);
    struct pollfd p = {extra, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 3000), 1); /* closed long before the 5 s timeout */
    char byte;
    assert_true(recv(extra, &byte, 1, 0) <= 0);
    close(extra);
    close(silent); /* frees the slot */
    nanosleep(&ts, NULL);
    memset(&sa, 0, sizeof sa);
    sa.in_path = "/dev/null";
    sa.out_path = "/dev/null";
    assert_int_equal(dial(&a, &b.fp, PL_STLS_PEER | PL_STLS_ACCEPT_UNKNOWN, port, &sa), PL_OK);
    assert_int_equal(sa.established, 1);
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 0);
    node_free(&a);
    node_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(bad_options),        cmocka_unit_test(nobody_listening),
        cmocka_unit_test(session_both_ways),  cmocka_unit_test(untrusted_refused),
        cmocka_unit_test(wrong_key),          cmocka_unit_test(declined),
        cmocka_unit_test(starttls_symmetric), cmocka_unit_test(adopt_bad),
        cmocka_unit_test(handshake_cap),
    };
    signal(SIGPIPE, SIG_IGN);
    if (pl_init() != PL_OK)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
