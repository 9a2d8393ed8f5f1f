/*
 * udp.c - the datagram transport on a UDP socket (peerlink.h, "Runtime:
 * the datagram transport over UDP"): one libuv loop drives one sans-IO
 * engine (src/dgram/). Datagrams and the loop's monotonic clock go in;
 * the engine's datagrams go out with uv_udp_try_send (a full socket
 * buffer drops the datagram, as the network would, and the engine's
 * timers resend); its events become the application's callbacks. Also
 * the stream convention of the tool (docs/protocol.md §9.8): a connection
 * joined to two descriptors.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <uv.h>

#include "dgram/engine.h"
#include "peerlink.h"
#include "util/util.h"

#define RECV_BUF   65536
#define READ_CHUNK 65536 /* bytes of in_fd per message */
#define PINGS      16

struct cbreq {
    struct cbreq *next;
    uint64_t id;
    pl_udp_reply_fn cb;
    void *user;
};

struct cbping {
    uint64_t seq, t0_ns;
    pl_udp_pong_fn cb;
    void *user;
};

struct pl_udp_conn {
    pl_udp *u;
    pl_dg_conn *dg;
    struct pl_udp_conn *next;
    pl_udp_info info;
    int ended, handles; /* established, joined: in info */
    struct cbreq *reqs;
    struct cbping pings[PINGS];
    uint64_t ping_seq;
    /* joined to descriptors: in_fd goes out on our channel, the peer's
     * channel comes in to out_fd (docs/protocol.md §9.8) */
    int in_fd, out_fd, in_pollable, in_active, in_done, got_eof, shut;
    uv_poll_t in_poll;
    uv_idle_t in_idle;
    uint64_t chan_out, chan_in;
    int has_chan_in;
    /* read from in_fd, not yet taken by the channel */
    uint8_t *ibuf;
    size_t i_off, i_len;
    /* read from the peer's channel, not yet written to out_fd (without blocking) */
    uint8_t *obuf;
    size_t o_off, o_len;
    int out_pollable, out_active, out_flags;
    uv_poll_t out_poll;
};

struct pl_udp {
    uv_loop_t loop;
    uv_udp_t sock;
    uv_timer_t timer;
    int family; /* of the socket */
    pl_dg_engine *e;
    pl_udp_handler h;
    void *user;
    char local[PL_TCP_ADDR_MAX];
    int draining, err;
    struct pl_udp_conn *conns;
    uint64_t sent_dropped;
    uint8_t rbuf[RECV_BUF];
    uint8_t obuf[2048];
};

static int os_random(void *user, uint8_t *out, size_t len)
{
    (void)user;
    randombytes_buf(out, len);
    return 0;
}

static uint64_t now_ms(pl_udp *u)
{
    uv_update_time(&u->loop);
    return uv_now(&u->loop);
}

/* ---- addresses --------------------------------------------------------- */

static void format_sa(const struct sockaddr *sa, char *out, size_t cap)
{
    char host[64] = "?";
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)sa;
        (void)uv_ip4_name(a, host, sizeof host);
        snprintf(out, cap, "%s:%d", host, ntohs(a->sin_port));
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)sa;
        (void)uv_ip6_name(a, host, sizeof host);
        snprintf(out, cap, "[%s]:%d", host, ntohs(a->sin6_port));
    } else {
        snprintf(out, cap, "?");
    }
}

static const uint8_t v4mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

/* The engine's form: IPv4 address and port (6 bytes; a v4-mapped IPv6
 * address counts as IPv4) or IPv6 address and port (18). */
static int to_dg(const struct sockaddr *sa, pl_dg_addr *a)
{
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)sa;
        a->len = 6;
        memcpy(a->b, &in->sin_addr, 4);
        memcpy(a->b + 4, &in->sin_port, 2);
        return PL_OK;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in = (const struct sockaddr_in6 *)sa;
        if (memcmp(in->sin6_addr.s6_addr, v4mapped, 12) == 0) {
            a->len = 6;
            memcpy(a->b, in->sin6_addr.s6_addr + 12, 4);
        } else {
            a->len = 18;
            memcpy(a->b, in->sin6_addr.s6_addr, 16);
        }
        memcpy(a->b + a->len - 2, &in->sin6_port, 2);
        return PL_OK;
    }
    return PL_ERR_INVAL;
}

/* Back to a socket address the socket's family can send to. */
static int from_dg(const pl_udp *u, const pl_dg_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (a->len == 6 && u->family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *)ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, a->b, 4);
        memcpy(&in->sin_port, a->b + 4, 2);
        return PL_OK;
    }
    if (u->family == AF_INET6 && (a->len == 6 || a->len == 18)) {
        struct sockaddr_in6 *in = (struct sockaddr_in6 *)ss;
        in->sin6_family = AF_INET6;
        if (a->len == 6) {
            memcpy(in->sin6_addr.s6_addr, v4mapped, 12);
            memcpy(in->sin6_addr.s6_addr + 12, a->b, 4);
        } else {
            memcpy(in->sin6_addr.s6_addr, a->b, 16);
        }
        memcpy(&in->sin6_port, a->b + a->len - 2, 2);
        return PL_OK;
    }
    return PL_ERR_INVAL;
}

static void format_dg(const pl_dg_addr *a, char *out, size_t cap)
{
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    if (a->len == 6) {
        struct sockaddr_in *in = (struct sockaddr_in *)&ss;
        in->sin_family = AF_INET;
        memcpy(&in->sin_addr, a->b, 4);
        memcpy(&in->sin_port, a->b + 4, 2);
    } else if (a->len == 18) {
        struct sockaddr_in6 *in = (struct sockaddr_in6 *)&ss;
        in->sin6_family = AF_INET6;
        memcpy(in->sin6_addr.s6_addr, a->b, 16);
        memcpy(&in->sin6_port, a->b + 16, 2);
    }
    format_sa((const struct sockaddr *)&ss, out, cap);
}

static int resolve(pl_udp *u, const char *host, const char *port, int passive,
                   struct sockaddr_storage *out)
{
    uv_getaddrinfo_t req;
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    /* a dual-stack socket reaches both families; an IPv4 one only IPv4 */
    hints.ai_family = passive || u->family == AF_INET6 ? AF_UNSPEC : AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    hints.ai_flags = passive ? AI_PASSIVE : 0;
    int e = uv_getaddrinfo(&u->loop, &req, NULL, host && host[0] ? host : NULL, port, &hints);
    if (e != 0) {
        errno = EINVAL;
        return PL_ERR_IO;
    }
    int rc = PL_ERR_IO;
    if (req.addrinfo && req.addrinfo->ai_addrlen <= sizeof *out) {
        memcpy(out, req.addrinfo->ai_addr, req.addrinfo->ai_addrlen);
        rc = PL_OK;
    }
    uv_freeaddrinfo(req.addrinfo);
    return rc;
}

/* ---- moving datagrams and events ------------------------------------------ */

static void after(pl_udp *u);

static void flush(pl_udp *u)
{
    pl_dg_addr to;
    int n;
    while ((n = pl_dg_output(u->e, &to, u->obuf, sizeof u->obuf)) > 0) {
        struct sockaddr_storage ss;
        if (from_dg(u, &to, &ss) != PL_OK) {
            u->sent_dropped++;
            continue;
        }
        uv_buf_t b = uv_buf_init((char *)u->obuf, (unsigned)n);
        if (uv_udp_try_send(&u->sock, &b, 1, (const struct sockaddr *)&ss) < 0)
            u->sent_dropped++; /* the socket is full: lost, as on the wire */
    }
}

static void on_timer(uv_timer_t *t);

static void arm(pl_udp *u)
{
    uint64_t d = pl_dg_deadline(u->e), now = uv_now(&u->loop);
    if (d == UINT64_MAX)
        uv_timer_stop(&u->timer);
    else
        uv_timer_start(&u->timer, on_timer, d > now ? d - now : 0, 0);
}

/* ---- connections ---------------------------------------------------------- */

static void on_conn_handles_closed(uv_handle_t *h)
{
    pl_udp_conn *w = h->data;
    if (--w->handles == 0)
        free(w);
}

static pl_udp_conn *conn_new(pl_udp *u, pl_dg_conn *dg, int initiator)
{
    pl_udp_conn *w = calloc(1, sizeof *w);
    if (!w)
        return NULL;
    w->u = u;
    w->dg = dg;
    w->in_fd = w->out_fd = -1;
    w->info.initiator = initiator;
    format_dg(pl_dg_conn_addr(dg), w->info.remote, sizeof w->info.remote);
    if (pl_dg_conn_peer(dg, &w->info.peer) != PL_OK)
        memset(&w->info.peer, 0, sizeof w->info.peer);
    pl_dg_conn_set_user(dg, w);
    w->next = u->conns;
    u->conns = w;
    return w;
}

static void in_stop(pl_udp_conn *w)
{
    if (!w->in_active)
        return;
    w->in_active = 0;
    if (w->in_pollable)
        uv_poll_stop(&w->in_poll);
    else
        uv_idle_stop(&w->in_idle);
}

static void close_out(pl_udp_conn *w)
{
    if (w->out_active) {
        uv_poll_stop(&w->out_poll);
        w->out_active = 0;
    }
    if (w->out_fd >= 0) {
        (void)fcntl(w->out_fd, F_SETFL, w->out_flags); /* as it was given to us */
        close(w->out_fd);
    }
    w->out_fd = -1;
    w->o_off = w->o_len = 0;
}

static void close_fds(pl_udp_conn *w)
{
    in_stop(w);
    if (w->in_fd >= 0)
        close(w->in_fd);
    w->in_fd = -1;
    close_out(w);
}

static void on_conn_handles_closed(uv_handle_t *h);

/* Close the joined connection's handles; the last one frees it. */
static void close_handles(pl_udp_conn *w)
{
    w->handles = 1 + w->out_pollable;
    uv_close(w->in_pollable ? (uv_handle_t *)&w->in_poll : (uv_handle_t *)&w->in_idle,
             on_conn_handles_closed);
    if (w->out_pollable)
        uv_close((uv_handle_t *)&w->out_poll, on_conn_handles_closed);
}

/* The connection is over: tell the application, forget it. */
static void conn_end(pl_udp_conn *w, int err, const char *why)
{
    pl_udp *u = w->u;
    if (w->ended)
        return;
    w->ended = 1;
    if (w->info.joined && err == PL_ERR_CLOSED && w->in_done && w->got_eof)
        err = PL_OK;  /* both streams ended; the peer's close crossed ours */
    while (w->reqs) { /* the engine failed them first; this is belt and braces */
        struct cbreq *r = w->reqs;
        w->reqs = r->next;
        r->cb(r->user, err ? err : PL_ERR_CLOSED, why, NULL, 0);
        free(r);
    }
    close_fds(w);
    free(w->ibuf);
    free(w->obuf);
    w->ibuf = w->obuf = NULL;
    for (pl_udp_conn **pp = &u->conns; *pp; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    if (u->h.closed)
        u->h.closed(u->user, w, &w->info, err, why);
    pl_dg_conn_close(w->dg);
    w->dg = NULL;
    if (w->info.joined)
        close_handles(w);
    else
        free(w);
}

/* ---- the stream convention (docs/protocol.md §9.8) ----------------------- */

static void in_start(pl_udp_conn *w);

/* in_fd onto our channel: what the channel does not take now waits in
 * ibuf, and in_fd is not read again until PL_DG_EV_WRITABLE. */
static void in_ready(pl_udp_conn *w)
{
    pl_udp *u = w->u;
    for (int round = 0; round < 16 && !w->in_done && !w->ended; round++) {
        if (w->i_off == w->i_len) {
            ssize_t n = read(w->in_fd, w->ibuf, READ_CHUNK);
            if (n < 0 && (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK))
                break;
            if (n < 0)
                pl_log(PL_LOG_WARN, "reading the local input: %s", strerror(errno));
            if (n <= 0) { /* EOF (or an error, which ends our side the same way) */
                w->in_done = 1;
                in_stop(w);
                close(w->in_fd);
                w->in_fd = -1;
                if (pl_dg_chan_finish(w->dg, w->chan_out) != PL_OK)
                    pl_log(PL_LOG_WARN, "cannot end the stream");
                break;
            }
            w->i_off = 0;
            w->i_len = (size_t)n;
        }
        int k = pl_dg_chan_write(w->dg, w->chan_out, w->ibuf + w->i_off, w->i_len - w->i_off);
        if (k < 0) {
            pl_log(PL_LOG_WARN, "the connection refused the local input: %s", pl_strerror(k));
            w->in_done = 1;
            in_stop(w);
            break;
        }
        w->i_off += (size_t)k;
        if (w->i_off < w->i_len) {
            in_stop(w); /* the channel is full: PL_DG_EV_WRITABLE resumes */
            break;
        }
    }
    after(u);
}

static void on_in_poll(uv_poll_t *p, int status, int events)
{
    (void)events;
    pl_udp_conn *w = p->data;
    if (status < 0) {
        w->in_done = 1;
        in_stop(w);
        return;
    }
    in_ready(w);
}

static void on_in_idle(uv_idle_t *i)
{
    in_ready(i->data);
}

static void in_start(pl_udp_conn *w)
{
    if (w->in_done || w->in_active || w->ended)
        return;
    w->in_active = 1;
    if (w->in_pollable)
        uv_poll_start(&w->in_poll, UV_READABLE, on_in_poll);
    else
        uv_idle_start(&w->in_idle, on_in_idle);
}

static void out_pull(pl_udp_conn *w);

static void on_out_poll(uv_poll_t *p, int status, int events)
{
    (void)events;
    pl_udp_conn *w = p->data;
    if (status < 0) {
        pl_log(PL_LOG_WARN, "the local output failed: %s", uv_strerror(status));
        close_out(w);
        return;
    }
    out_pull(w);
    after(w->u);
}

/* The peer's channel onto out_fd, without blocking: what out_fd does not
 * take waits in obuf, and the channel is not read meanwhile, so its flow
 * control holds this peer (and only this channel) back. */
static void out_pull(pl_udp_conn *w)
{
    while (w->dg && !w->ended) {
        if (w->o_off == w->o_len) {
            if (!w->has_chan_in || w->got_eof)
                break;
            bool fin = false;
            int k = pl_dg_chan_read(w->dg, w->chan_in, w->obuf, READ_CHUNK, &fin);
            if (k < 0)
                break;
            w->o_off = 0;
            w->o_len = (size_t)k;
            if (fin)
                w->got_eof = 1;
            if (k == 0)
                break;
        }
        if (w->out_fd < 0) { /* the output is gone: what the peer sends is dropped */
            w->o_off = w->o_len;
            continue;
        }
        ssize_t n = write(w->out_fd, w->obuf + w->o_off, w->o_len - w->o_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (w->out_pollable && !w->out_active) {
                uv_poll_start(&w->out_poll, UV_WRITABLE, on_out_poll);
                w->out_active = 1;
            }
            return;
        }
        if (n <= 0) {
            pl_log(PL_LOG_WARN, "writing the local output: %s", strerror(errno));
            close_out(w);
            continue;
        }
        w->o_off += (size_t)n;
    }
    if (w->out_active) {
        uv_poll_stop(&w->out_poll);
        w->out_active = 0;
    }
    if (w->o_off == w->o_len && w->got_eof && w->out_fd >= 0)
        close_out(w); /* the peer's end, after all it sent */
}

/* Streams that can go on, and the close once both are done. */
static void streams(pl_udp *u)
{
    for (pl_udp_conn *w = u->conns; w; w = w->next) {
        if (!w->info.joined || w->ended)
            continue;
        if (w->in_done && w->got_eof && w->o_off == w->o_len && !w->shut &&
            pl_dg_chan_pending(w->dg, w->chan_out) == 0 && pl_dg_conn_pending(w->dg) == 0) {
            w->shut = 1;
            if (pl_dg_shutdown(w->dg, now_ms(u)) != PL_OK)
                pl_log(PL_LOG_WARN, "cannot close a finished stream");
        }
    }
}

/* The peer's channels have this parity: the initiator's ids are even. */
static int peer_chan(const pl_udp_conn *w, uint64_t id)
{
    return (int)(id & 1) == (w->info.initiator ? 1 : 0);
}

/* ---- events ------------------------------------------------------------------ */

static void handle(pl_udp *u, pl_dg_event *ev)
{
    pl_udp_conn *w = ev->conn ? pl_dg_conn_user(ev->conn) : NULL;
    switch (ev->kind) {
    case PL_DG_EV_ESTABLISHED:
        if (!w && !(w = conn_new(u, ev->conn, 0))) {
            pl_dg_conn_close(ev->conn);
            return;
        }
        w->info.established = 1;
        if (pl_dg_conn_peer(ev->conn, &w->info.peer) != PL_OK)
            memset(&w->info.peer, 0, sizeof w->info.peer);
        if (u->h.established && u->h.established(u->user, w, &w->info) != 0 && !w->ended &&
            pl_dg_shutdown(w->dg, now_ms(u)) != PL_OK)
            pl_log(PL_LOG_WARN, "cannot close a connection the application refused");
        return;
    case PL_DG_EV_MESSAGE:
        if (!w)
            return;
        if (u->h.message)
            u->h.message(u->user, w, ev->id, ev->want_reply, ev->msg, ev->msg_len);
        else if (ev->want_reply &&
                 pl_dg_msg_reply(w->dg, now_ms(u), ev->id, NULL, 0, true) != PL_OK)
            pl_log(PL_LOG_WARN, "cannot refuse a request");
        return;
    case PL_DG_EV_READABLE:
        if (!w || !peer_chan(w, ev->id) || (w->has_chan_in && ev->id != w->chan_in))
            return; /* (a second channel of the peer's waits unread: its flow control holds it) */
        if (!w->info.joined) {
            /* the peer's stream begins: the application may take it */
            if (u->h.stream)
                u->h.stream(u->user, w);
            if (!w->info.joined || w->ended)
                return;
        }
        if (w->has_chan_in && ev->id == w->chan_in)
            out_pull(w);
        return;
    case PL_DG_EV_WRITABLE:
        if (w && w->info.joined && ev->id == w->chan_out && !w->in_done) {
            in_start(w);
            if (!w->in_pollable || w->i_off < w->i_len)
                in_ready(w); /* (what waits in ibuf goes before the next read) */
        }
        return;
    case PL_DG_EV_REPLY:
        if (!w)
            return;
        for (struct cbreq **pp = &w->reqs; *pp; pp = &(*pp)->next) {
            if ((*pp)->id == ev->id) {
                struct cbreq *r = *pp;
                *pp = r->next;
                r->cb(r->user, ev->err, ev->why, ev->msg, ev->msg_len);
                free(r);
                return;
            }
        }
        return;
    case PL_DG_EV_PONG:
        if (!w)
            return;
        for (int i = 0; i < PINGS; i++) {
            struct cbping *p = &w->pings[i];
            if (p->seq == ev->id && p->cb) {
                uint64_t rtt = (uv_hrtime() - p->t0_ns) / 1000;
                pl_udp_pong_fn cb = p->cb;
                void *user = p->user;
                memset(p, 0, sizeof *p);
                cb(user, ev->id, rtt);
                return;
            }
        }
        return;
    case PL_DG_EV_REFUSED:
        if (u->h.refused) {
            pl_udp_info info;
            memset(&info, 0, sizeof info);
            info.peer = ev->peer;
            format_dg(&ev->addr, info.remote, sizeof info.remote);
            u->h.refused(u->user, &info);
        }
        return;
    case PL_DG_EV_CLOSED:
    case PL_DG_EV_FAILED:
        if (!w) {
            pl_dg_conn_close(ev->conn);
            return;
        }
        conn_end(w, ev->err, ev->why ? ev->why : pl_strerror(ev->err));
        return;
    default: return;
    }
}

/* After anything the engine saw: its datagrams out, its events to the
 * application (which may call back in), streams on, the timer set. */
static void after(pl_udp *u)
{
    flush(u);
    if (!u->draining) {
        u->draining = 1;
        pl_dg_event ev;
        while (pl_dg_event_next(u->e, &ev)) {
            handle(u, &ev);
            free(ev.msg);
            flush(u);
        }
        streams(u);
        flush(u);
        u->draining = 0;
    }
    arm(u);
}

static void on_timer(uv_timer_t *t)
{
    pl_udp *u = t->data;
    pl_dg_timer(u->e, now_ms(u));
    after(u);
}

static void on_alloc(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
    pl_udp *u = h->data;
    (void)suggested;
    *buf = uv_buf_init((char *)u->rbuf, sizeof u->rbuf);
}

static void on_recv(uv_udp_t *sock, ssize_t nread, const uv_buf_t *buf, const struct sockaddr *addr,
                    unsigned flags)
{
    pl_udp *u = sock->data;
    pl_dg_addr from;
    (void)flags;
    if (nread <= 0 || !addr || to_dg(addr, &from) != PL_OK)
        return; /* nothing, or an error on an unconnected socket: ignore */
    pl_dg_input(u->e, now_ms(u), &from, (const uint8_t *)buf->base, (size_t)nread);
    after(u);
}

/* ---- the API -------------------------------------------------------------------- */

int pl_udp_new(pl_udp **out, const pl_udp_opts *o, const pl_udp_handler *h, void *user)
{
    if (!out || !o || !o->id)
        return PL_ERR_INVAL;
    *out = NULL;
    pl_udp *u = calloc(1, sizeof *u);
    if (!u)
        return PL_ERR_NOMEM;
    if (h)
        u->h = *h;
    u->user = user;
    if (uv_loop_init(&u->loop) != 0) {
        free(u);
        return PL_ERR_INTERNAL;
    }
    struct sockaddr_storage at;
    u->family = AF_INET;
    /* No address given: dual stack ("::", IPv4 peers as v4-mapped), or
     * IPv4 alone where the machine has no IPv6. */
    int rc = resolve(u, o->host ? o->host : "::", o->port ? o->port : "0", 1, &at);
    if (rc == PL_OK) {
        u->family = at.ss_family;
        uv_udp_init(&u->loop, &u->sock);
        u->sock.data = u;
        int e = uv_udp_bind(&u->sock, (const struct sockaddr *)&at, 0);
        if (e != 0 && !o->host && resolve(u, "0.0.0.0", o->port ? o->port : "0", 1, &at) == PL_OK) {
            u->family = AF_INET;
            e = uv_udp_bind(&u->sock, (const struct sockaddr *)&at, 0);
        }
        if (e == 0)
            e = uv_udp_recv_start(&u->sock, on_alloc, on_recv);
        if (e != 0) {
            errno = -e;
            rc = PL_ERR_IO;
        }
        int len = sizeof at;
        if (rc == PL_OK && uv_udp_getsockname(&u->sock, (struct sockaddr *)&at, &len) == 0)
            format_sa((const struct sockaddr *)&at, u->local, sizeof u->local);
    }
    if (rc == PL_OK) {
        time_t t = time(NULL);
        pl_dg_config cfg = {.id = o->id,
                            .trust = o->trust,
                            .random = os_random,
                            .capacity_per_s = o->capacity_per_s,
                            .cc = o->cc == PL_UDP_CC_CUBIC ? PL_DG_CC_CUBIC : PL_DG_CC_NEWRENO,
                            .keepalive_ms = o->keepalive_ms,
                            .idle_ms = o->idle_ms,
                            .now_s = t < 0 ? 0 : (uint64_t)t};
        rc = pl_dg_new(&u->e, &cfg);
    }
    uv_timer_init(&u->loop, &u->timer);
    u->timer.data = u;
    if (rc != PL_OK) {
        int saved = errno;
        pl_udp_free(u);
        errno = saved;
        return rc;
    }
    *out = u;
    return PL_OK;
}

static void on_later_closed(uv_handle_t *h);

static void close_handle(uv_handle_t *h, void *arg)
{
    pl_udp *u = arg;
    if (uv_is_closing(h))
        return;
    /* a pl_udp_after timer owns its memory */
    uv_close(h, h->type == UV_TIMER && h != (uv_handle_t *)&u->timer ? on_later_closed : NULL);
}

void pl_udp_free(pl_udp *u)
{
    if (!u)
        return;
    while (u->conns) {
        pl_udp_conn *w = u->conns;
        u->conns = w->next;
        while (w->reqs) {
            struct cbreq *r = w->reqs;
            w->reqs = r->next;
            free(r);
        }
        close_fds(w);
        if (w->info.joined)
            close_handles(w);
        else
            free(w);
    }
    uv_walk(&u->loop, close_handle, u);
    (void)uv_run(&u->loop, UV_RUN_DEFAULT);
    (void)uv_loop_close(&u->loop);
    pl_dg_free(u->e);
    free(u);
}

const char *pl_udp_local(const pl_udp *u)
{
    return u->local;
}

int pl_udp_run(pl_udp *u)
{
    if (!u)
        return PL_ERR_INVAL;
    u->err = PL_OK;
    after(u);
    (void)uv_run(&u->loop, UV_RUN_DEFAULT);
    return u->err;
}

void pl_udp_stop(pl_udp *u)
{
    uv_stop(&u->loop);
}

struct later {
    uv_timer_t t;
    void (*cb)(void *);
    void *user;
};

static void on_later_closed(uv_handle_t *h)
{
    free(h->data);
}

static void on_later(uv_timer_t *t)
{
    struct later *l = t->data;
    l->cb(l->user);
    uv_close((uv_handle_t *)&l->t, on_later_closed);
}

int pl_udp_after(pl_udp *u, unsigned ms, void (*cb)(void *user), void *user)
{
    if (!u || !cb)
        return PL_ERR_INVAL;
    struct later *l = calloc(1, sizeof *l);
    if (!l)
        return PL_ERR_NOMEM;
    l->cb = cb;
    l->user = user;
    uv_timer_init(&u->loop, &l->t);
    l->t.data = l;
    uv_timer_start(&l->t, on_later, ms, 0);
    return PL_OK;
}

int pl_udp_dial(pl_udp *u, const char *host, const char *port, const pl_fingerprint *peer,
                pl_udp_conn **out)
{
    if (!u || !host || !port || !peer || !out)
        return PL_ERR_INVAL;
    struct sockaddr_storage ss;
    pl_dg_addr to;
    int rc = resolve(u, host, port, 0, &ss);
    if (rc != PL_OK)
        return rc;
    if (to_dg((const struct sockaddr *)&ss, &to) != PL_OK)
        return PL_ERR_INVAL;
    pl_dg_conn *dg = NULL;
    rc = pl_dg_connect(u->e, now_ms(u), &to, peer, NULL, 0, false, &dg);
    if (rc != PL_OK)
        return rc;
    pl_udp_conn *w = conn_new(u, dg, 1);
    if (!w) {
        pl_dg_conn_close(dg);
        return PL_ERR_NOMEM;
    }
    w->info.peer = *peer;
    *out = w;
    after(u);
    return PL_OK;
}

int pl_udp_request(pl_udp_conn *c, const uint8_t *msg, size_t len, unsigned timeout_ms,
                   pl_udp_reply_fn cb, void *user)
{
    if (!c || c->ended || !cb)
        return PL_ERR_INVAL;
    struct cbreq *r = calloc(1, sizeof *r);
    if (!r)
        return PL_ERR_NOMEM;
    int rc = pl_dg_msg_send(c->dg, now_ms(c->u), msg, len, true, timeout_ms, &r->id);
    if (rc != PL_OK) {
        free(r);
        return rc;
    }
    r->cb = cb;
    r->user = user;
    r->next = c->reqs;
    c->reqs = r;
    after(c->u);
    return PL_OK;
}

int pl_udp_send(pl_udp_conn *c, const uint8_t *msg, size_t len)
{
    if (!c || c->ended || c->info.joined)
        return PL_ERR_INVAL;
    int rc = pl_dg_msg_send(c->dg, now_ms(c->u), msg, len, false, 0, NULL);
    if (rc == PL_OK)
        after(c->u);
    return rc;
}

int pl_udp_reply(pl_udp_conn *c, uint64_t id, const uint8_t *msg, size_t len, int refuse)
{
    if (!c || c->ended)
        return PL_ERR_INVAL;
    int rc = pl_dg_msg_reply(c->dg, now_ms(c->u), id, msg, len, refuse != 0);
    if (rc == PL_OK)
        after(c->u);
    return rc;
}

int pl_udp_ping(pl_udp_conn *c, pl_udp_pong_fn cb, void *user, uint64_t *seq)
{
    if (!c || c->ended || !cb)
        return PL_ERR_INVAL;
    int rc = pl_dg_ping(c->dg, now_ms(c->u));
    if (rc != PL_OK)
        return rc;
    struct cbping *p = &c->pings[c->ping_seq % PINGS];
    p->seq = ++c->ping_seq; /* the engine numbers its pings the same way */
    p->t0_ns = uv_hrtime();
    p->cb = cb;
    p->user = user;
    if (seq)
        *seq = p->seq;
    after(c->u);
    return PL_OK;
}

int pl_udp_join(pl_udp_conn *c, int in_fd, int out_fd)
{
    if (!c || c->ended || c->info.joined || !c->info.established || in_fd < 0 || out_fd < 0)
        return PL_ERR_INVAL;
    pl_udp *u = c->u;
    c->info.joined = 1;
    c->in_fd = in_fd;
    c->out_fd = out_fd;
    c->in_poll.data = c->in_idle.data = c;
    if (uv_poll_init(&u->loop, &c->in_poll, in_fd) == 0) {
        c->in_pollable = 1;
    } else {
        c->in_pollable = 0; /* a regular file: read it when idle */
        uv_idle_init(&u->loop, &c->in_idle);
    }
    c->in_poll.data = c->in_idle.data = c;
    if (!c->ibuf)
        c->ibuf = malloc(READ_CHUNK);
    if (!c->obuf)
        c->obuf = malloc(READ_CHUNK);
    if (!c->ibuf || !c->obuf || pl_dg_chan_open(c->dg, &c->chan_out) != PL_OK) {
        pl_log(PL_LOG_WARN, "cannot open a channel for the stream");
        c->in_done = 1;
        c->got_eof = 1; /* nothing comes in or goes out; the close follows */
    }
    /* the peer's stream is the first channel it opens (it may be open already) */
    c->chan_in = c->info.initiator ? 1 : 0;
    c->has_chan_in = 1;
    c->out_flags = fcntl(out_fd, F_GETFL);
    if (c->out_flags >= 0 && uv_poll_init(&u->loop, &c->out_poll, out_fd) == 0) {
        c->out_pollable = 1; /* a pipe or socket: written without blocking */
        c->out_poll.data = c;
        (void)fcntl(out_fd, F_SETFL, c->out_flags | O_NONBLOCK);
    }
    in_start(c);
    out_pull(c);
    after(u);
    return PL_OK;
}

int pl_udp_shutdown(pl_udp_conn *c)
{
    if (!c || c->ended)
        return PL_ERR_INVAL;
    int rc = pl_dg_shutdown(c->dg, now_ms(c->u));
    if (rc == PL_OK)
        after(c->u);
    return rc;
}

size_t pl_udp_pending(const pl_udp_conn *c)
{
    return c && !c->ended ? pl_dg_conn_pending(c->dg) : 0;
}

void pl_udp_conn_info(const pl_udp_conn *c, pl_udp_info *out)
{
    *out = c->info;
}

void pl_udp_conn_stats_get(const pl_udp_conn *c, pl_udp_conn_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c || !c->dg)
        return;
    pl_dg_conn_stats st;
    pl_dg_conn_stats_get(c->dg, &st);
    out->cc = st.cc;
    out->cwnd = st.cwnd;
    out->ssthresh = st.ssthresh;
    out->in_flight = st.in_flight;
    /* (the engine's clock counts milliseconds) */
    out->srtt_us = st.srtt_ms * 1000;
    out->rttvar_us = st.rttvar_ms * 1000;
    out->min_rtt_us = st.min_rtt_ms == UINT64_MAX ? 0 : st.min_rtt_ms * 1000;
    out->latest_rtt_us = st.latest_rtt_ms * 1000;
    out->packets_sent = st.packets_sent;
    out->packets_lost = st.packets_lost;
    out->retransmits = st.retransmits;
    out->spurious = st.spurious;
    out->congestion_events = st.congestion_events;
    out->bytes_sent = st.bytes_sent;
    out->bytes_received = st.bytes_received;
    out->pacing_rate = st.pacing_rate;
}

void pl_udp_stats_get(pl_udp *u, pl_udp_stats *out)
{
    pl_dg_stats st;
    pl_dg_stats_get(u->e, &st);
    memset(out, 0, sizeof *out);
    out->difficulty = pl_dg_difficulty(u->e, now_ms(u));
    out->rx = st.rx;
    out->rx_dropped = st.rx_dropped;
    out->hellos = st.hellos;
    out->cookies_sent = st.cookies_sent;
    out->initiates = st.initiates;
    out->stale_cookie = st.stale_cookie;
    out->bad_cookie = st.bad_cookie;
    out->reused_cookie = st.reused_cookie;
    out->no_work = st.no_work;
    out->pk_ops = st.pk_ops;
    out->established = st.established;
    out->refused = st.refusals;
    for (pl_udp_conn *w = u->conns; w; w = w->next)
        out->conns++;
}
