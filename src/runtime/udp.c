/*
 * udp.c - the datagram transport on a UDP socket (peerlink.h, "Runtime:
 * the datagram transport over UDP"): one libuv loop drives one sans-IO
 * engine (src/dgram/). Datagrams and the loop's monotonic clock go in;
 * the engine's datagrams go out; its events become the application's
 * callbacks. The socket is read with recvmmsg, in batches, taking UDP GRO
 * super-datagrams apart where the kernel offers them; datagrams go out in
 * batches with sendmmsg, runs of equal-sized datagrams to one peer as one
 * UDP GSO send where the kernel has it. All buffers are allocated with
 * the node: nothing is allocated per datagram. A full socket buffer drops
 * the datagram, as the network would, and the engine's timers resend. Also
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

#include <netinet/in.h>
#include <netinet/udp.h>
#include <sys/socket.h>

#include <sodium.h>
#include <uv.h>

#include "dgram/engine.h"
#include "peerlink.h"
#include "util/util.h"

#define RX_BATCH   32                         /* datagrams per recvmmsg */
#define RX_ROUNDS  8                          /* recvmmsg calls per wake-up, at most */
#define RX_BUF     65536                      /* per datagram slot: room for a GRO super-datagram */
#define TX_BATCH   64                         /* datagrams per sendmmsg */
#define GSO_MAX    (65507 / PL_DG_PACKET_MAX) /* segments in one GSO send */
#define SOCK_BUF   (4 << 20)                  /* socket buffer sizes asked for */
#define READ_CHUNK 65536                      /* bytes of in_fd per channel write */
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

/* One batch of datagrams on its way out. */
struct txq {
    uint8_t buf[TX_BATCH][PL_DG_PACKET_MAX];
    size_t len[TX_BATCH];
    struct sockaddr_storage to[TX_BATCH];
    socklen_t tolen[TX_BATCH];
    struct mmsghdr msg[TX_BATCH];
    struct iovec iov[TX_BATCH];
    struct {
        _Alignas(struct cmsghdr) uint8_t b[CMSG_SPACE(sizeof(uint16_t))];
    } ctl[TX_BATCH];
};

/* One batch of datagrams coming in. */
struct rxq {
    struct mmsghdr msg[RX_BATCH];
    struct iovec iov[RX_BATCH];
    struct sockaddr_storage from[RX_BATCH];
    struct {
        _Alignas(struct cmsghdr) uint8_t b[CMSG_SPACE(sizeof(int))];
    } ctl[RX_BATCH];
    uint8_t buf[RX_BATCH][RX_BUF];
};

struct pl_udp {
    uv_loop_t loop;
    int fd, gso, gro; /* the socket; UDP GSO and GRO in use */
    uv_poll_t poll;
    int polling;
    uv_timer_t timer;
    int family; /* of the socket */
    pl_dg_engine *e;
    pl_udp_handler h;
    void *user;
    char local[PL_TCP_ADDR_MAX];
    int draining, err;
    struct pl_udp_conn *conns;
    uint64_t sent_dropped;
    uint64_t tx_calls, tx_datagrams, rx_calls, rx_datagrams;
    struct txq *tx;
    struct rxq *rx;
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

/* Send tx's first n datagrams: runs of equal length to one address (the
 * last of a run may be shorter) as one GSO send, then sendmmsg. */
static void tx_send(pl_udp *u, size_t n)
{
    struct txq *q = u->tx;
    size_t nmsg = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + 1;
        if (u->gso)
            while (j < n && j - i < GSO_MAX && q->len[j] <= q->len[i] &&
                   q->tolen[j] == q->tolen[i] && memcmp(&q->to[j], &q->to[i], q->tolen[i]) == 0 &&
                   q->len[j - 1] == q->len[i])
                j++;
        /* the datagrams of a run are contiguous in buf only row by row:
         * one iovec each */
        struct msghdr *m = &q->msg[nmsg].msg_hdr;
        memset(m, 0, sizeof *m);
        for (size_t k = i; k < j; k++)
            q->iov[k] = (struct iovec){q->buf[k], q->len[k]};
        m->msg_iov = &q->iov[i];
        m->msg_iovlen = j - i;
        m->msg_name = &q->to[i];
        m->msg_namelen = q->tolen[i];
        if (j - i > 1) {
            m->msg_control = q->ctl[nmsg].b;
            m->msg_controllen = sizeof q->ctl[nmsg].b;
            struct cmsghdr *c = CMSG_FIRSTHDR(m);
            c->cmsg_level = SOL_UDP;
            c->cmsg_type = UDP_SEGMENT;
            c->cmsg_len = CMSG_LEN(sizeof(uint16_t));
            uint16_t seg = (uint16_t)q->len[i];
            memcpy(CMSG_DATA(c), &seg, sizeof seg);
        }
        q->msg[nmsg].msg_len = 0;
        nmsg++;
        i = j;
    }
    size_t done = 0;
    while (done < nmsg) {
        int k = sendmmsg(u->fd, &q->msg[done], (unsigned)(nmsg - done), 0);
        u->tx_calls++;
        if (k < 0 && errno == EINTR)
            continue;
        if (k < 0 && u->gso && (errno == EIO || errno == EINVAL || errno == ENOPROTOOPT) &&
            q->msg[done].msg_hdr.msg_iovlen > 1) {
            /* the device cannot segment: no GSO from now on; this batch again */
            u->gso = 0;
            pl_log(PL_LOG_INFO, "UDP GSO unavailable (%s): sending datagrams one by one",
                   strerror(errno));
            size_t first = 0;
            for (size_t m = 0; m < done; m++)
                first += q->msg[m].msg_hdr.msg_iovlen;
            memmove(q->len, q->len + first, (n - first) * sizeof q->len[0]);
            memmove(q->to, q->to + first, (n - first) * sizeof q->to[0]);
            memmove(q->tolen, q->tolen + first, (n - first) * sizeof q->tolen[0]);
            memmove(q->buf, q->buf + first, (n - first) * sizeof q->buf[0]);
            tx_send(u, n - first);
            return;
        }
        if (k <= 0) {
            /* the socket is full (or refuses): the rest is lost, as on the wire */
            for (size_t m = done; m < nmsg; m++)
                u->sent_dropped += q->msg[m].msg_hdr.msg_iovlen;
            return;
        }
        for (size_t m = done; m < done + (size_t)k; m++)
            u->tx_datagrams += q->msg[m].msg_hdr.msg_iovlen;
        done += (size_t)k;
    }
}

static void flush(pl_udp *u)
{
    struct txq *q = u->tx;
    for (;;) {
        size_t n = 0;
        pl_dg_addr to;
        int len = 0;
        while (n < TX_BATCH && (len = pl_dg_output(u->e, &to, q->buf[n], sizeof q->buf[n])) > 0) {
            if (from_dg(u, &to, &q->to[n]) != PL_OK) {
                u->sent_dropped++;
                continue;
            }
            q->tolen[n] = q->to[n].ss_family == AF_INET ? sizeof(struct sockaddr_in)
                                                        : sizeof(struct sockaddr_in6);
            q->len[n++] = (size_t)len;
        }
        if (n)
            tx_send(u, n);
        if (n < TX_BATCH)
            return;
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

/* The peer closed: all it sent arrived (its close waits for our
 * acknowledgements), but out_fd may not have taken it yet. What is left
 * is written now, blocking: the session is over. */
static void out_drain(pl_udp_conn *w)
{
    if (w->out_fd < 0)
        return;
    (void)fcntl(w->out_fd, F_SETFL, w->out_flags);
    if (w->out_active) {
        uv_poll_stop(&w->out_poll);
        w->out_active = 0;
    }
    for (;;) {
        while (w->o_off < w->o_len && w->out_fd >= 0) {
            ssize_t n = write(w->out_fd, w->obuf + w->o_off, w->o_len - w->o_off);
            if (n < 0 && errno == EINTR)
                continue;
            if (n <= 0) {
                pl_log(PL_LOG_WARN, "writing the local output: %s", strerror(errno));
                close_out(w);
                return;
            }
            w->o_off += (size_t)n;
        }
        if (!w->has_chan_in || w->got_eof)
            return;
        bool fin = false;
        int k = pl_dg_chan_read(w->dg, w->chan_in, w->obuf, READ_CHUNK, &fin);
        if (k <= 0 && !fin)
            return;
        w->o_off = 0;
        w->o_len = k > 0 ? (size_t)k : 0;
        if (fin)
            w->got_eof = 1;
    }
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
        if (ev->kind == PL_DG_EV_CLOSED && w->info.joined)
            out_drain(w);
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

/* Datagrams in: batches of recvmmsg until the socket is empty (or
 * RX_ROUNDS batches, so that timers and the other handles get their
 * turn), a GRO super-datagram taken apart at its segment size. */
static void on_readable(uv_poll_t *p, int status, int events)
{
    pl_udp *u = p->data;
    struct rxq *q = u->rx;
    (void)events;
    if (status < 0)
        return;
    uint64_t now = now_ms(u);
    for (int round = 0; round < RX_ROUNDS; round++) {
        for (int i = 0; i < RX_BATCH; i++) {
            q->iov[i] = (struct iovec){q->buf[i], RX_BUF};
            struct msghdr *m = &q->msg[i].msg_hdr;
            memset(m, 0, sizeof *m);
            m->msg_name = &q->from[i];
            m->msg_namelen = sizeof q->from[i];
            m->msg_iov = &q->iov[i];
            m->msg_iovlen = 1;
            m->msg_control = q->ctl[i].b;
            m->msg_controllen = sizeof q->ctl[i].b;
        }
        int n = recvmmsg(u->fd, q->msg, RX_BATCH, MSG_DONTWAIT, NULL);
        u->rx_calls++;
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break; /* empty (or an error on an unconnected socket: ignored) */
        for (int i = 0; i < n; i++) {
            struct msghdr *m = &q->msg[i].msg_hdr;
            size_t len = q->msg[i].msg_len, seg = len;
            pl_dg_addr from;
            if (to_dg((const struct sockaddr *)&q->from[i], &from) != PL_OK)
                continue;
            for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
                if (c->cmsg_level == SOL_UDP && c->cmsg_type == UDP_GRO) {
                    int g = 0;
                    memcpy(&g, CMSG_DATA(c), sizeof g);
                    if (g > 0)
                        seg = (size_t)g;
                }
            }
            for (size_t off = 0; off < len; off += seg) {
                size_t k = len - off < seg ? len - off : seg;
                pl_dg_input(u->e, now, &from, q->buf[i] + off, k);
                u->rx_datagrams++;
            }
        }
        if (n < RX_BATCH)
            break;
    }
    after(u);
}

/* A UDP socket on `at`, non-blocking, with large buffers, GSO and GRO
 * where the kernel has them. */
static int sock_open(pl_udp *u, const struct sockaddr_storage *at)
{
    int fd = socket(at->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int zero = 0, one = 1, size = SOCK_BUF;
    if (at->ss_family == AF_INET6)
        (void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero); /* dual stack */
    /* (beyond the system's limit only for a privileged process) */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof size) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof size);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &size, sizeof size) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof size);
    socklen_t alen =
        at->ss_family == AF_INET ? sizeof(struct sockaddr_in) : sizeof(struct sockaddr_in6);
    if (bind(fd, (const struct sockaddr *)at, alen) != 0) {
        int saved = errno;
        close(fd);
        errno = saved;
        return -1;
    }
    /* GSO: asked for per send (UDP_SEGMENT); probe that the option exists */
    int seg = 0;
    socklen_t sl = sizeof seg;
    u->gso = getsockopt(fd, SOL_UDP, UDP_SEGMENT, &seg, &sl) == 0;
    u->gro = setsockopt(fd, SOL_UDP, UDP_GRO, &one, sizeof one) == 0;
    return fd;
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
    u->fd = -1;
    u->tx = malloc(sizeof *u->tx);
    u->rx = malloc(sizeof *u->rx);
    /* No address given: dual stack ("::", IPv4 peers as v4-mapped), or
     * IPv4 alone where the machine has no IPv6. */
    int rc = !u->tx || !u->rx
                 ? PL_ERR_NOMEM
                 : resolve(u, o->host ? o->host : "::", o->port ? o->port : "0", 1, &at);
    if (rc == PL_OK) {
        u->family = at.ss_family;
        u->fd = sock_open(u, &at);
        if (u->fd < 0 && !o->host &&
            resolve(u, "0.0.0.0", o->port ? o->port : "0", 1, &at) == PL_OK) {
            u->family = AF_INET;
            u->fd = sock_open(u, &at);
        }
        if (u->fd < 0 || uv_poll_init_socket(&u->loop, &u->poll, u->fd) != 0) {
            rc = PL_ERR_IO;
        } else {
            u->polling = 1;
            u->poll.data = u;
            if (uv_poll_start(&u->poll, UV_READABLE, on_readable) != 0)
                rc = PL_ERR_IO;
        }
        socklen_t len = sizeof at;
        if (rc == PL_OK && getsockname(u->fd, (struct sockaddr *)&at, &len) == 0)
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
    if (u->fd >= 0)
        close(u->fd);
    pl_dg_free(u->e);
    free(u->tx);
    free(u->rx);
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
