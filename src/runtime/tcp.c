/*
 * tcp.c - the libuv runtime for symmetric TLS over TCP (DESIGN.md §3.1, §5).
 *
 * The only code that touches sockets and clocks: it dials or accepts a TCP
 * connection, drives one pl_stls engine over it and, once the peer is
 * authenticated, joins the connection to a pair of local file descriptors
 * like netcat:
 *
 *   in_fd  --read-->  pl_stls_write  --pl_stls_output-->  socket
 *   out_fd <--write-- pl_stls_read   <--pl_stls_feed----  socket
 *
 * EOF on in_fd sends close_notify and shuts the TCP write side down; the
 * peer's close_notify flushes and closes out_fd. A session ends when both
 * directions are done. Backpressure: in_fd is not read while much is
 * queued for the socket, and the socket is not read while out_fd is full.
 *
 * Meeting (connect with accept_port): the node dials the peer and accepts
 * it at once. The node with the lower fingerprint decides which connection
 * is kept: the one it dialled if that one authenticates, else the first it
 * accepted; it sends COMMIT on the kept one and closes the rest. The other
 * node hands a connection to the application only when COMMIT arrives on
 * it (docs/formats.md §5.6).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <uv.h>

#include "peerlink.h"
#include "stls/stls_int.h"
#include "util/util.h"

#define CHUNK         16384
#define QUEUE_MAX     (256u * 1024) /* socket bytes queued before in_fd is paused */
#define LINGER_MS     2000          /* a failed session's last chance to send its alert */
#define BACKLOG       16
#define TCP_READ_SIZE 65536
#define REDIAL_MS     1    /* between dials of a bound connect that was refused */
#define COMMIT        0x01 /* meeting: "this is the connection we keep" */

struct rt {
    uv_loop_t loop;
    const pl_tcp_opts *opts;
    const pl_tcp_handler *h;
    void *user;
    uv_tcp_t listener;
    int listening;
    unsigned accepted;
    unsigned handshaking; /* sessions not yet authenticated */
    int last_err;
    struct sess *sessions; /* every live session */
    /* meeting (connect with accept_port) */
    int meet, decider;
    struct sess *dial_s;    /* our own dial, while it lives */
    struct sess *committed; /* the connection kept */
    uv_timer_t meet_timer;
    int meet_timer_open;
    int held_err; /* the last failure of a connection that was not kept */
    const char *held_why;
    pl_tcp_info held_info;
};

struct sess {
    struct rt *rt;
    struct sess *next, *prev;
    uv_tcp_t tcp;
    uv_timer_t timer;
    uv_poll_t in_poll, out_poll;
    uv_idle_t in_idle;
    uv_connect_t conn_req;
    uv_shutdown_t shut_req;
    pl_stls *tls;
    pl_tcp_info info;
    int in_fd, out_fd, out_flags;
    int in_pollable, out_pollable, in_active, out_active;
    int connected, established, in_done, out_done, tcp_eof, read_paused;
    int shut_started, shut_done, ending, open_handles;
    int counted, authed, awaiting, parked, quiet;
    int redialing; /* the socket of a refused dial is being closed for another */
    int err, redial;
    uint64_t dial_deadline;
    struct sockaddr_storage to, from;
    const char *why;
    size_t olen, ooff;
    uint8_t obuf[CHUNK];
};

static void sess_fail(struct sess *s, int err, const char *why);
static void pump_out(struct sess *s);
static void input_start(struct sess *s);

static uint64_t wall_now(void)
{
    time_t t = time(NULL);
    return t < 0 ? 0 : (uint64_t)t;
}

static void format_addr(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[64] = "?";
    int port = 0;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        (void)uv_ip4_name(a, host, sizeof host);
        port = ntohs(a->sin_port);
        snprintf(out, cap, "%s:%d", host, port);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        (void)uv_ip6_name(a, host, sizeof host);
        port = ntohs(a->sin6_port);
        snprintf(out, cap, "[%s]:%d", host, port);
    } else {
        snprintf(out, cap, "?");
    }
}

/* Numeric or named host and port to one address (synchronous lookup). */
static int resolve(uv_loop_t *loop, const char *host, const char *port, int passive,
                   struct sockaddr_storage *out, const char **why)
{
    uv_getaddrinfo_t req;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    int e = uv_getaddrinfo(loop, &req, NULL, host && host[0] ? host : NULL, port, &hints);
    if (e != 0) {
        *why = uv_strerror(e);
        return PL_ERR_IO;
    }
    if (!req.addrinfo || req.addrinfo->ai_addrlen > sizeof *out) {
        uv_freeaddrinfo(req.addrinfo);
        *why = "no usable address";
        return PL_ERR_IO;
    }
    memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
    uv_freeaddrinfo(req.addrinfo);
    return PL_OK;
}

/* ---- ending a session ------------------------------------------------ */

static void meet_over(struct rt *rt);

static void handshake_done(struct sess *s)
{
    if (s->counted) {
        s->counted = 0;
        s->rt->handshaking--;
    }
}

static void on_handle_closed(uv_handle_t *handle)
{
    struct sess *s = handle->data;
    if (--s->open_handles > 0)
        return;
    struct rt *rt = s->rt;
    if (s->out_fd >= 0) {
        if (s->out_pollable)
            (void)fcntl(s->out_fd, F_SETFL, s->out_flags);
        close(s->out_fd);
    }
    if (s->in_fd >= 0)
        close(s->in_fd);
    handshake_done(s);
    if (s->next)
        s->next->prev = s->prev;
    if (s->prev)
        s->prev->next = s->next;
    else
        rt->sessions = s->next;
    if (rt->dial_s == s)
        rt->dial_s = NULL;
    s->info.established = s->established;
    if (!s->quiet && (!rt->meet || rt->committed == s)) {
        if (rt->h && rt->h->closed)
            rt->h->closed(rt->user, &s->info, s->err, s->err ? s->why : NULL);
        rt->last_err = s->err;
    } else if (!s->quiet && s->err) {
        /* Meeting: a connection that was not kept. Its failure is told
         * only if no connection is kept in the end. */
        pl_log(PL_LOG_INFO, "tcp: %s: %s", s->info.remote[0] ? s->info.remote : "connection",
               s->why ? s->why : pl_strerror(s->err));
        rt->held_err = s->err;
        rt->held_why = s->why;
        rt->held_info = s->info;
    }
    pl_stls_free(s->tls);
    free(s);
    if (rt->meet)
        meet_over(rt);
}

static void close_one(struct sess *s, uv_handle_t *h)
{
    if (!uv_is_closing(h)) {
        s->open_handles++;
        uv_close(h, on_handle_closed);
    }
}

static void sess_close(struct sess *s)
{
    if (s->ending == 2)
        return;
    s->ending = 2;
    s->open_handles++; /* held until every close is issued */
    if (s->redialing)
        s->open_handles++; /* released by on_redial_closed */
    else
        close_one(s, (uv_handle_t *)&s->tcp);
    close_one(s, (uv_handle_t *)&s->timer);
    close_one(s, (uv_handle_t *)&s->in_idle);
    if (s->in_active)
        close_one(s, (uv_handle_t *)&s->in_poll);
    if (s->out_active)
        close_one(s, (uv_handle_t *)&s->out_poll);
    on_handle_closed((uv_handle_t *)&s->tcp);
}

static void maybe_end(struct sess *s)
{
    if (s->in_done && s->out_done && s->shut_done)
        sess_close(s);
}

static void on_shutdown(uv_shutdown_t *req, int status)
{
    struct sess *s = req->data;
    (void)status;
    s->shut_done = 1;
    if (s->ending)
        sess_close(s);
    else
        maybe_end(s);
}

static void shutdown_write(struct sess *s)
{
    if (s->shut_started)
        return;
    s->shut_started = 1;
    s->shut_req.data = s;
    if (!s->connected || uv_shutdown(&s->shut_req, (uv_stream_t *)&s->tcp, on_shutdown) != 0)
        s->shut_done = 1;
}

/* ---- socket side ------------------------------------------------------- */

struct wreq {
    uv_write_t req;
    uint8_t data[];
};

static void on_written(uv_write_t *req, int status)
{
    struct sess *s = req->data;
    free(req);
    if (status < 0 && status != UV_ECANCELED && !s->ending) {
        sess_fail(s, PL_ERR_IO, uv_strerror(status));
        return;
    }
    if (s->established && !s->in_done && !s->ending &&
        uv_stream_get_write_queue_size((uv_stream_t *)&s->tcp) < QUEUE_MAX)
        input_start(s);
}

/* Everything the engine has for the peer goes onto the socket. */
static void flush_tls(struct sess *s)
{
    uint8_t buf[CHUNK];
    int n;
    while (s->connected && (n = pl_stls_output(s->tls, buf, sizeof buf)) > 0) {
        struct wreq *w = malloc(sizeof *w + (size_t)n);
        if (!w) {
            sess_fail(s, PL_ERR_NOMEM, "out of memory");
            return;
        }
        memcpy(w->data, buf, (size_t)n);
        uv_buf_t b = uv_buf_init((char *)w->data, (unsigned)n);
        w->req.data = s;
        int e = uv_write(&w->req, (uv_stream_t *)&s->tcp, &b, 1, on_written);
        if (e != 0) {
            free(w);
            sess_fail(s, PL_ERR_IO, uv_strerror(e));
            return;
        }
    }
}

static void on_linger(uv_timer_t *t)
{
    sess_close(t->data);
}

static void commit_parked(struct rt *rt);

static void sess_fail(struct sess *s, int err, const char *why)
{
    if (s->ending)
        return;
    s->ending = 1;
    handshake_done(s);
    if (s->rt->meet && s == s->rt->dial_s && s->rt->decider && !s->rt->committed)
        commit_parked(s->rt); /* our dial failed: an accepted connection may be kept */
    s->err = err;
    s->why = why;
    if (pl_stls_peer(s->tls, &s->info.peer) == PL_OK) {
        s->info.has_peer = 1;
        if (pl_stls_peer_name(s->tls, s->info.name, sizeof s->info.name) < 0)
            s->info.name[0] = 0;
    }
    if (s->in_active)
        uv_poll_stop(&s->in_poll);
    if (s->out_active)
        uv_poll_stop(&s->out_poll);
    uv_idle_stop(&s->in_idle);
    if (s->connected)
        uv_read_stop((uv_stream_t *)&s->tcp);
    flush_tls(s); /* an alert, if the engine made one */
    shutdown_write(s);
    if (s->shut_done) {
        sess_close(s);
        return;
    }
    uv_timer_stop(&s->timer);
    uv_timer_start(&s->timer, on_linger, LINGER_MS, 0);
}

static void engine_fail(struct sess *s, int err)
{
    const char *why = NULL;
    if (pl_stls_error(s->tls, &why) == 0 || !why)
        why = pl_strerror(err);
    sess_fail(s, err, why);
}

/* ---- local side -------------------------------------------------------- */

static void on_in_ready(struct sess *s)
{
    uint8_t buf[CHUNK];
    if (s->ending || s->in_done)
        return;
    if (uv_stream_get_write_queue_size((uv_stream_t *)&s->tcp) >= QUEUE_MAX) {
        if (s->in_active)
            uv_poll_stop(&s->in_poll);
        uv_idle_stop(&s->in_idle);
        return;
    }
    ssize_t n = read(s->in_fd, buf, sizeof buf);
    if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
        return;
    if (n > 0) {
        int rc = pl_stls_write(s->tls, buf, (size_t)n);
        if (rc < 0) {
            engine_fail(s, rc);
            return;
        }
        flush_tls(s);
        return;
    }
    /* EOF (or a read error, which ends our side the same way). */
    if (n < 0)
        pl_log(PL_LOG_WARN, "reading the local input: %s", strerror(errno));
    s->in_done = 1;
    if (s->in_active)
        uv_poll_stop(&s->in_poll);
    uv_idle_stop(&s->in_idle);
    if (pl_stls_close(s->tls) == PL_OK)
        flush_tls(s);
    shutdown_write(s);
    maybe_end(s);
}

static void on_in_poll(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct sess *s = p->data;
    if (status < 0) {
        sess_fail(s, PL_ERR_IO, uv_strerror(status));
        return;
    }
    on_in_ready(s);
}

static void on_in_idle(uv_idle_t *i)
{
    on_in_ready(i->data);
}

static void input_start(struct sess *s)
{
    if (s->in_done || s->ending)
        return;
    if (s->in_pollable)
        uv_poll_start(&s->in_poll, UV_READABLE, on_in_poll);
    else
        uv_idle_start(&s->in_idle, on_in_idle);
}

static void on_out_poll(uv_poll_t *p, int status, int events)
{
    (void)events;
    struct sess *s = p->data;
    if (status < 0) {
        sess_fail(s, PL_ERR_IO, uv_strerror(status));
        return;
    }
    pump_out(s);
}

static void on_tcp_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf);
static void alloc_read(uv_handle_t *h, size_t suggested, uv_buf_t *buf);

/* Peer data to out_fd, as much as it takes without blocking. */
static void pump_out(struct sess *s)
{
    if (s->ending || s->out_done)
        return;
    for (;;) {
        while (s->ooff < s->olen) {
            ssize_t n = write(s->out_fd, s->obuf + s->ooff, s->olen - s->ooff);
            if (n > 0) {
                s->ooff += (size_t)n;
                continue;
            }
            if (n < 0 && errno == EINTR)
                continue;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK) && s->out_pollable) {
                uv_poll_start(&s->out_poll, UV_WRITABLE, on_out_poll);
                if (!s->read_paused && s->connected) {
                    uv_read_stop((uv_stream_t *)&s->tcp);
                    s->read_paused = 1;
                }
                return;
            }
            sess_fail(s, PL_ERR_IO, "cannot write the local output");
            return;
        }
        s->ooff = s->olen = 0;
        int n = pl_stls_read(s->tls, s->obuf, sizeof s->obuf);
        if (n < 0) {
            engine_fail(s, n);
            return;
        }
        if (n == 0)
            break;
        s->olen = (size_t)n;
    }
    if (s->out_pollable)
        uv_poll_stop(&s->out_poll);
    if (pl_stls_state(s->tls) == PL_STLS_CLOSED) {
        /* close_notify: the peer's direction is done; ours stays open
         * until in_fd ends (half-close). */
        if (s->out_pollable)
            (void)fcntl(s->out_fd, F_SETFL, s->out_flags);
        close(s->out_fd);
        s->out_fd = -1;
        s->out_done = 1;
        maybe_end(s);
        return;
    }
    if (s->tcp_eof) {
        sess_fail(s, PL_ERR_IO, "the peer closed the connection without close_notify");
        return;
    }
    if (s->read_paused) {
        s->read_paused = 0;
        uv_read_start((uv_stream_t *)&s->tcp, alloc_read, on_tcp_read);
    }
}

/* ---- the handshake and after ----------------------------------------- */

/* The application takes the authenticated connection. */
static void hand_over(struct sess *s)
{
    struct rt *rt = s->rt;
    s->established = 1;
    uv_timer_stop(&s->timer);
    s->info.established = 1;
    int in_fd = -1, out_fd = -1;
    if (!rt->h || !rt->h->established ||
        rt->h->established(rt->user, &s->info, &in_fd, &out_fd) != 0 || in_fd < 0 || out_fd < 0) {
        if (in_fd >= 0)
            close(in_fd);
        if (out_fd >= 0)
            close(out_fd);
        sess_fail(s, PL_ERR_INVAL, "the application declined the connection");
        return;
    }
    s->in_fd = in_fd;
    s->out_fd = out_fd;
    s->in_pollable = uv_poll_init(&rt->loop, &s->in_poll, in_fd) == 0;
    if (s->in_pollable) {
        s->in_active = 1;
        s->in_poll.data = s;
    }
    s->out_pollable = uv_poll_init(&rt->loop, &s->out_poll, out_fd) == 0;
    if (s->out_pollable) {
        s->out_active = 1;
        s->out_poll.data = s;
        s->out_flags = fcntl(out_fd, F_GETFL);
        if (s->out_flags < 0 || fcntl(out_fd, F_SETFL, s->out_flags | O_NONBLOCK) < 0) {
            sess_fail(s, PL_ERR_IO, "cannot make the local output non-blocking");
            return;
        }
    }
    pump_out(s);
    input_start(s);
}

/* Meeting: close a connection that is not kept, cleanly and silently. */
static void sess_quit(struct sess *s)
{
    if (s->ending)
        return;
    s->quiet = 1;
    pl_log(PL_LOG_INFO, "tcp: closing the duplicate connection %s %s",
           s->info.dialled ? "to" : "from", s->info.remote);
    if (pl_stls_state(s->tls) == PL_STLS_ESTABLISHED && pl_stls_close(s->tls) != PL_OK)
        pl_log(PL_LOG_DEBUG, "tcp: no close_notify for the duplicate");
    sess_fail(s, PL_OK, NULL);
}

static void stop_listening(struct rt *rt)
{
    if (rt->listening) {
        rt->listening = 0;
        uv_close((uv_handle_t *)&rt->listener, NULL);
    }
    if (rt->meet_timer_open) {
        rt->meet_timer_open = 0;
        uv_close((uv_handle_t *)&rt->meet_timer, NULL);
    }
}

/* Meeting: keep s, close every other connection, stop listening. */
static void commit(struct sess *s)
{
    struct rt *rt = s->rt;
    char fp[PL_FINGERPRINT_STR_MAX];
    rt->committed = s;
    s->parked = s->awaiting = 0;
    if (rt->decider) {
        static const uint8_t byte = COMMIT;
        int rc = pl_stls_write(s->tls, &byte, 1);
        if (rc < 0) {
            engine_fail(s, rc);
            return;
        }
        flush_tls(s);
    }
    if (pl_fingerprint_format(s->info.dialled ? &rt->opts->cfg->self : &s->info.peer, fp,
                              sizeof fp) < 0)
        fp[0] = 0;
    pl_log(PL_LOG_INFO, "tcp: keeping the connection %s %s, dialled by %s",
           s->info.dialled ? "to" : "from", s->info.remote, fp);
    stop_listening(rt);
    for (struct sess *o = rt->sessions; o; o = o->next)
        if (o != s)
            sess_quit(o);
    hand_over(s);
}

static void commit_parked(struct rt *rt)
{
    for (struct sess *o = rt->sessions; o; o = o->next) {
        if (o->parked && !o->ending) {
            commit(o);
            return;
        }
    }
}

/* Meeting, on the side that does not decide: wait for COMMIT. */
static void check_commit(struct sess *s)
{
    uint8_t byte;
    int n = pl_stls_read(s->tls, &byte, 1);
    if (n < 0) {
        engine_fail(s, n);
        return;
    }
    if (n == 1) {
        if (byte != COMMIT || s->rt->committed) {
            sess_fail(s, PL_ERR_PARSE, "the peer did not settle the connection properly");
            return;
        }
        commit(s);
        return;
    }
    if (pl_stls_state(s->tls) == PL_STLS_CLOSED || s->tcp_eof)
        sess_quit(s); /* the peer kept another connection */
}

static void on_commit_timeout(uv_timer_t *t)
{
    sess_fail(t->data, PL_ERR_AUTH, "the peer did not confirm the connection in time");
}

static void on_authenticated(struct sess *s)
{
    struct rt *rt = s->rt;
    s->authed = 1;
    uv_timer_stop(&s->timer);
    handshake_done(s);
    if (pl_stls_peer(s->tls, &s->info.peer) == PL_OK)
        s->info.has_peer = 1;
    if (pl_stls_peer_name(s->tls, s->info.name, sizeof s->info.name) < 0)
        s->info.name[0] = 0;
    s->info.role = pl_stls_role(s->tls);
    pl_log(PL_LOG_INFO, "tcp: %s authenticated; we are the TLS %s", s->info.remote,
           s->info.role == PL_STLS_CLIENT ? "client" : "server");
    if (!rt->meet) {
        hand_over(s);
        return;
    }
    if (rt->committed) {
        sess_quit(s);
        return;
    }
    if (!rt->decider) {
        s->awaiting = 1;
        unsigned ms = rt->opts->handshake_timeout_ms;
        uv_timer_start(&s->timer, on_commit_timeout, ms ? ms : PL_TCP_HANDSHAKE_TIMEOUT_MS, 0);
        check_commit(s);
        return;
    }
    if (s->info.dialled || !rt->dial_s || rt->dial_s->ending) {
        commit(s);
        return;
    }
    s->parked = 1; /* our own dial may still win */
    pl_log(PL_LOG_INFO, "tcp: %s authenticated; waiting for our own dial first", s->info.remote);
}

static void alloc_read(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    static char space[TCP_READ_SIZE]; /* one loop, one thread: read in place */
    (void)h;
    (void)suggested;
    *buf = uv_buf_init(space, sizeof space);
}

/* Bytes from the peer (or handed over by pl_tcp_adopt) into the engine. */
static void take_bytes(struct sess *s, const uint8_t *data, size_t len)
{
    int rc = pl_stls_feed(s->tls, data, len, wall_now());
    flush_tls(s);
    if (rc < 0) {
        engine_fail(s, rc);
        return;
    }
    if (!s->authed && pl_stls_state(s->tls) != PL_STLS_HANDSHAKING)
        on_authenticated(s);
    else if (s->awaiting)
        check_commit(s);
    else if (s->established)
        pump_out(s);
}

static void on_tcp_read(uv_stream_t *stream, ssize_t nread, const uv_buf_t *buf)
{
    struct sess *s = stream->data;
    if (s->ending)
        return;
    if (nread == UV_EOF) {
        s->tcp_eof = 1;
        uv_read_stop(stream);
        if (s->awaiting || s->parked) {
            sess_quit(s); /* the peer gave this connection up */
            return;
        }
        if (!s->established) {
            if (pl_stls_state(s->tls) == PL_STLS_FAILED)
                engine_fail(s, pl_stls_error(s->tls, NULL));
            else
                sess_fail(s, PL_ERR_AUTH, "the peer closed the connection during the handshake");
            return;
        }
        pump_out(s);
        return;
    }
    if (nread < 0) {
        sess_fail(s, PL_ERR_IO, uv_strerror((int)nread));
        return;
    }
    if (nread > 0)
        take_bytes(s, (const uint8_t *)buf->base, (size_t)nread);
}

static void on_handshake_timeout(uv_timer_t *t)
{
    sess_fail(t->data, PL_ERR_AUTH, "the handshake timed out");
}

/* A session on an initialised s->tcp (accepted, or connecting). */
static struct sess *sess_new(struct rt *rt)
{
    struct sess *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->rt = rt;
    s->in_fd = s->out_fd = -1;
    s->info.role = PL_STLS_PEER;
    if (pl_stls_new(&s->tls, rt->opts->cfg, rt->opts->flags, rt->opts->expected) != PL_OK ||
        uv_tcp_init(&rt->loop, &s->tcp) != 0) {
        pl_stls_free(s->tls);
        free(s);
        return NULL;
    }
    s->tcp.data = s;
    uv_timer_init(&rt->loop, &s->timer);
    s->timer.data = s;
    uv_idle_init(&rt->loop, &s->in_idle);
    s->in_idle.data = s;
    s->next = rt->sessions;
    if (s->next)
        s->next->prev = s;
    rt->sessions = s;
    return s;
}

static void sess_start(struct sess *s)
{
    struct sockaddr_storage ss;
    int len = sizeof ss;
    s->connected = 1;
    s->counted = 1;
    s->rt->handshaking++;
    if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len) == 0)
        format_addr((struct sockaddr *)&ss, s->info.remote, sizeof s->info.remote);
    (void)uv_tcp_nodelay(&s->tcp, 1);
    unsigned ms = s->rt->opts->handshake_timeout_ms;
    uv_timer_start(&s->timer, on_handshake_timeout, ms ? ms : PL_TCP_HANDSHAKE_TIMEOUT_MS, 0);
    flush_tls(s); /* our ClientHello, unless server-only */
    if (!s->ending)
        uv_read_start((uv_stream_t *)&s->tcp, alloc_read, on_tcp_read);
}

/* ---- connect ---------------------------------------------------------- */

static void dial(struct sess *s);

static void on_redial_timer(uv_timer_t *t)
{
    dial(t->data);
}

static void on_redial_closed(uv_handle_t *h)
{
    struct sess *s = h->data;
    s->redialing = 0;
    if (s->ending) { /* the session ended while the socket was closing */
        if (s->ending == 2)
            on_handle_closed(h);
        return;
    }
    if (uv_tcp_init(&s->rt->loop, &s->tcp) != 0) {
        s->connected = 0;
        sess_fail(s, PL_ERR_INTERNAL, "cannot make a new socket");
        return;
    }
    s->tcp.data = s;
    uv_timer_start(&s->timer, on_redial_timer, REDIAL_MS, 0);
}

/* Meeting: the peer's own dial reached us, so its listener is up; a
 * refusal of ours is then final, not "not listening yet". */
static int has_parked(const struct rt *rt)
{
    for (const struct sess *o = rt->sessions; o; o = o->next)
        if (o->parked && !o->ending)
            return 1;
    return 0;
}

static void on_connect(uv_connect_t *req, int status)
{
    struct sess *s = req->data;
    /* Bound for a simultaneous open, the other side may not be dialling
     * yet: its port answers with a reset. Dial again until it does. */
    if (status == UV_ECONNREFUSED && s->redial && uv_now(&s->rt->loop) < s->dial_deadline &&
        !has_parked(s->rt)) {
        s->redialing = 1;
        uv_close((uv_handle_t *)&s->tcp, on_redial_closed);
        return;
    }
    if (status < 0) {
        sess_fail(s, PL_ERR_IO, uv_strerror(status));
        return;
    }
    sess_start(s);
}

static void report(struct rt *rt, int err, const char *why)
{
    pl_tcp_info info;
    memset(&info, 0, sizeof info);
    info.role = PL_STLS_PEER;
    if (rt->h && rt->h->closed)
        rt->h->closed(rt->user, &info, err, why);
    rt->last_err = err;
}

static void close_left(uv_handle_t *h, void *arg)
{
    (void)arg;
    if (!uv_is_closing(h))
        uv_close(h, NULL);
}

static int run_loop(struct rt *rt)
{
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    uv_walk(&rt->loop, close_left, NULL); /* nothing should be left */
    uv_run(&rt->loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&rt->loop);
    return rt->last_err;
}

static int loop_start(struct rt *rt, const pl_tcp_opts *opts, const pl_tcp_handler *h, void *user)
{
    memset(rt, 0, sizeof *rt);
    rt->opts = opts;
    rt->h = h;
    rt->user = user;
    return uv_loop_init(&rt->loop) == 0 ? PL_OK : PL_ERR_INTERNAL;
}

static unsigned handshake_ms(const pl_tcp_opts *opts)
{
    return opts->handshake_timeout_ms ? opts->handshake_timeout_ms : PL_TCP_HANDSHAKE_TIMEOUT_MS;
}

static void on_accept(uv_stream_t *server, int status);

/* Bind and listen on `at`; says where through h->listening. */
static int start_listener(struct rt *rt, const struct sockaddr_storage *at, const char **why)
{
    uv_tcp_init(&rt->loop, &rt->listener);
    rt->listener.data = rt;
    rt->listening = 1;
    int e = uv_tcp_bind(&rt->listener, (const struct sockaddr *)at, 0);
    if (e == 0)
        e = uv_listen((uv_stream_t *)&rt->listener, BACKLOG, on_accept);
    if (e != 0) {
        rt->listening = 0;
        uv_close((uv_handle_t *)&rt->listener, NULL);
        *why = uv_strerror(e);
        return PL_ERR_IO;
    }
    if (rt->h && rt->h->listening) {
        struct sockaddr_storage bound;
        char addr[PL_TCP_ADDR_MAX];
        int len = sizeof bound;
        if (uv_tcp_getsockname(&rt->listener, (struct sockaddr *)&bound, &len) == 0)
            format_addr((struct sockaddr *)&bound, addr, sizeof addr);
        else
            snprintf(addr, sizeof addr, "?");
        rt->h->listening(rt->user, addr);
    }
    return PL_OK;
}

/* ---- meeting ----------------------------------------------------------- */

/* Nothing more can come: no connection kept, none alive, not listening. */
static void meet_over(struct rt *rt)
{
    if (rt->committed || rt->sessions || rt->listening)
        return;
    if (rt->meet == 2)
        return; /* told already */
    rt->meet = 2;
    stop_listening(rt);
    if (rt->held_err) {
        rt->held_info.established = 0;
        if (rt->h && rt->h->closed)
            rt->h->closed(rt->user, &rt->held_info, rt->held_err, rt->held_why);
        rt->last_err = rt->held_err;
    } else {
        report(rt, PL_ERR_IO, "no connection with the peer was kept");
    }
}

static void on_meet_timeout(uv_timer_t *t)
{
    struct rt *rt = t->data;
    if (rt->committed)
        return;
    if (rt->listening) {
        rt->listening = 0;
        uv_close((uv_handle_t *)&rt->listener, NULL);
    }
    if (!rt->sessions && !rt->held_err) {
        rt->held_err = PL_ERR_IO;
        rt->held_why = "the peer did not connect in time";
    }
    meet_over(rt);
}

/* ---- connect ----------------------------------------------------------- */

int pl_tcp_connect(const pl_tcp_opts *opts, const pl_tcp_handler *h, void *user)
{
    struct rt rt;
    struct sockaddr_storage to, from, at;
    const char *why = NULL;
    int rc;

    if (!opts || !opts->cfg || !opts->host || !opts->port)
        return PL_ERR_INVAL;
    if ((opts->accept_host || opts->accept_port) && (!opts->accept_port || !opts->expected))
        return PL_ERR_INVAL;
    memset(&from, 0, sizeof from);
    if (loop_start(&rt, opts, h, user) != PL_OK)
        return PL_ERR_INTERNAL;
    rc = resolve(&rt.loop, opts->host, opts->port, 0, &to, &why);
    if (rc == PL_OK && (opts->bind_host || opts->bind_port))
        rc = resolve(&rt.loop, opts->bind_host, opts->bind_port ? opts->bind_port : "0", 1, &from,
                     &why);
    if (rc == PL_OK && opts->accept_port) {
        rc = resolve(&rt.loop, opts->accept_host, opts->accept_port, 1, &at, &why);
        if (rc == PL_OK)
            rc = start_listener(&rt, &at, &why);
        if (rc == PL_OK) {
            rt.meet = 1;
            rt.decider = memcmp(opts->cfg->self.digest, opts->expected->digest,
                                sizeof opts->expected->digest) < 0;
            uv_timer_init(&rt.loop, &rt.meet_timer);
            rt.meet_timer.data = &rt;
            rt.meet_timer_open = 1;
            uv_timer_start(&rt.meet_timer, on_meet_timeout, handshake_ms(opts), 0);
        }
    }
    if (rc != PL_OK) {
        stop_listening(&rt);
        report(&rt, rc, why);
        return run_loop(&rt);
    }
    struct sess *s = sess_new(&rt);
    if (!s) {
        stop_listening(&rt);
        report(&rt, PL_ERR_NOMEM, "cannot set up the connection");
        return run_loop(&rt);
    }
    format_addr((struct sockaddr *)&to, s->info.remote, sizeof s->info.remote);
    s->info.dialled = 1;
    s->to = to;
    s->from = from;
    s->redial = opts->bind_host || opts->bind_port || rt.meet;
    s->dial_deadline = uv_now(&rt.loop) + handshake_ms(opts);
    rt.dial_s = s;
    dial(s);
    return run_loop(&rt);
}

static void on_dial_timeout(uv_timer_t *t)
{
    sess_fail(t->data, PL_ERR_IO, "no answer from the address in time");
}

static void dial(struct sess *s)
{
    /* libuv sets SO_REUSEADDR on bind: two dialers bound to each other's
     * target ports meet in a TCP simultaneous open. */
    int e = 0;
    if (s->from.ss_family != 0)
        e = uv_tcp_bind(&s->tcp, (struct sockaddr *)&s->from, 0);
    s->conn_req.data = s;
    if (e == 0)
        e = uv_tcp_connect(&s->conn_req, &s->tcp, (struct sockaddr *)&s->to, on_connect);
    if (e != 0) {
        sess_fail(s, PL_ERR_IO, uv_strerror(e));
        return;
    }
    /* The kernel would try an unanswered address for minutes. */
    uint64_t now = uv_now(&s->rt->loop);
    uv_timer_start(&s->timer, on_dial_timeout, s->dial_deadline > now ? s->dial_deadline - now : 1,
                   0);
}

/* ---- STARTTLS: a socket the application opened ------------------------- */

int pl_tcp_adopt(const pl_tcp_opts *opts, int fd, const uint8_t *pre, size_t pre_len,
                 const pl_tcp_handler *h, void *user)
{
    struct rt rt;
    int type = 0;
    socklen_t tlen = sizeof type;
    if (!opts || !opts->cfg || opts->host || opts->port || opts->bind_host || opts->bind_port ||
        opts->accept_host || opts->accept_port || (pre_len > 0 && !pre) || fd < 0 ||
        getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &tlen) != 0 || type != SOCK_STREAM) {
        if (fd >= 0)
            close(fd);
        return PL_ERR_INVAL;
    }
    if (loop_start(&rt, opts, h, user) != PL_OK) {
        close(fd);
        return PL_ERR_INTERNAL;
    }
    struct sess *s = sess_new(&rt);
    if (!s) {
        close(fd);
        report(&rt, PL_ERR_NOMEM, "cannot set up the connection");
        return run_loop(&rt);
    }
    int e = uv_tcp_open(&s->tcp, fd);
    if (e != 0) {
        close(fd);
        s->ending = 1;
        sess_close(s);
        report(&rt, PL_ERR_IO, uv_strerror(e));
        return run_loop(&rt);
    }
    sess_start(s);
    if (!s->ending && pre_len > 0)
        take_bytes(s, pre, pre_len);
    return run_loop(&rt);
}

/* ---- listen ----------------------------------------------------------- */

static void on_accept(uv_stream_t *server, int status)
{
    struct rt *rt = server->data;
    if (status < 0) {
        pl_log(PL_LOG_WARN, "accept: %s", uv_strerror(status));
        return;
    }
    struct sess *s = sess_new(rt);
    if (!s) {
        pl_log(PL_LOG_ERROR, "out of memory for a new connection");
        return;
    }
    if (uv_accept(server, (uv_stream_t *)&s->tcp) != 0) {
        s->ending = 1;
        sess_close(s);
        return;
    }
    unsigned cap = rt->opts->max_handshakes ? rt->opts->max_handshakes : PL_TCP_HANDSHAKES_MAX;
    if (rt->handshaking >= cap) {
        struct sockaddr_storage ss;
        int len = sizeof ss;
        if (uv_tcp_getpeername(&s->tcp, (struct sockaddr *)&ss, &len) == 0)
            format_addr((struct sockaddr *)&ss, s->info.remote, sizeof s->info.remote);
        pl_log(PL_LOG_WARN, "tcp: %u handshakes in progress; dropped the connection from %s",
               rt->handshaking, s->info.remote);
        s->quiet = 1;
        s->ending = 1;
        sess_close(s);
        return;
    }
    if (!rt->meet) {
        rt->accepted++;
        if (rt->opts->max_conns && rt->accepted >= rt->opts->max_conns && rt->listening) {
            rt->listening = 0;
            uv_close((uv_handle_t *)&rt->listener, NULL);
        }
    }
    sess_start(s);
}

int pl_tcp_listen(const pl_tcp_opts *opts, const pl_tcp_handler *h, void *user)
{
    struct rt rt;
    struct sockaddr_storage at;
    const char *why = NULL;

    if (!opts || !opts->cfg || !opts->port || opts->expected || opts->accept_host ||
        opts->accept_port)
        return PL_ERR_INVAL;
    if (loop_start(&rt, opts, h, user) != PL_OK)
        return PL_ERR_INTERNAL;
    int rc = resolve(&rt.loop, opts->host, opts->port, 1, &at, &why);
    if (rc == PL_OK)
        rc = start_listener(&rt, &at, &why);
    if (rc != PL_OK)
        report(&rt, rc, why);
    return run_loop(&rt);
}
