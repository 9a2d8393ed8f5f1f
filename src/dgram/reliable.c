/*
 * reliable.c - request/response messages over an established datagram
 * connection (engine.h, docs/protocol.md §8): fragmentation and
 * reassembly, acknowledgement ranges, loss detection after RFC 9002 (packet
 * and time thresholds, probe timeout with backoff), in-order delivery per
 * direction, replies matched to requests with timeouts, ping and a clean
 * close. Part 1 of the transport: a fixed window of packets in flight, no
 * congestion control yet.
 *
 * Bounds, per connection: PL_DG_INFLIGHT packets in flight (each carries
 * at most one fragment, so the retransmission ring never holds more),
 * PL_DG_MSG_WINDOW messages between the first unacknowledged and the last
 * sent, PL_DG_SENDQ_MAX bytes queued, PL_DG_REASM_MAX bytes in reassembly
 * (plus the one message next in order, which is always admitted so the
 * window cannot deadlock), REQS_MAX and UNANSWERED_MAX requests.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dgram/engine_int.h"
#include "dgram/frame.h"

static bool bit_get(const uint8_t *m, uint32_t i)
{
    return m[i / 8] >> (i % 8) & 1;
}

static void bit_set(uint8_t *m, uint32_t i)
{
    m[i / 8] = (uint8_t)(m[i / 8] | 1u << (i % 8));
}

static uint32_t frags_of(size_t len)
{
    return len ? (uint32_t)((len + PL_DG_FRAG - 1) / PL_DG_FRAG) : 1;
}

void pl_dg_rel_init(pl_dg_conn *c)
{
    struct rel *r = &c->rel;
    memset(r, 0, sizeof *r);
    r->largest_acked = PL_DG_PN_NONE;
    r->ack_at = UINT64_MAX;
    r->srtt_ms = RTT_INITIAL_MS;
    r->rttvar_ms = RTT_INITIAL_MS / 2;
    pl_dg_replay_init(&r->ackset);
}

static void omsg_free(struct omsg *m)
{
    free(m->data);
    free(m->acked);
    free(m);
}

void pl_dg_rel_free(pl_dg_conn *c)
{
    struct rel *r = &c->rel;
    while (r->head) {
        struct omsg *m = r->head;
        r->head = m->next;
        omsg_free(m);
    }
    for (size_t i = 0; i < PL_DG_MSG_WINDOW; i++) {
        free(r->in[i].buf);
        free(r->in[i].have);
    }
    free(r->reqs);
    free(r->unanswered);
    memset(r, 0, sizeof *r);
}

void pl_dg_rel_start(pl_dg_conn *c, uint64_t now_ms, uint64_t rtt_ms)
{
    struct rel *r = &c->rel;
    if (rtt_ms) {
        r->srtt_ms = r->latest_rtt_ms = rtt_ms;
        r->rttvar_ms = rtt_ms / 2;
        r->has_rtt = true;
    }
    r->progress_at = now_ms;
}

/* ---- RTT and timers (RFC 9002 §5, §6) -------------------------------------- */

static void rtt_sample(struct rel *r, uint64_t s)
{
    r->latest_rtt_ms = s;
    if (!r->has_rtt) {
        r->srtt_ms = s;
        r->rttvar_ms = s / 2;
        r->has_rtt = true;
        return;
    }
    uint64_t d = r->srtt_ms > s ? r->srtt_ms - s : s - r->srtt_ms;
    r->rttvar_ms = (3 * r->rttvar_ms + d) / 4;
    r->srtt_ms = (7 * r->srtt_ms + s) / 8;
}

static uint64_t pto_ms(const struct rel *r)
{
    uint64_t v = 4 * r->rttvar_ms;
    uint64_t p = r->srtt_ms + (v ? v : 1) + PL_DG_ACK_DELAY_MS;
    if (p < PTO_MIN_MS)
        p = PTO_MIN_MS;
    return p << (r->pto_count < PTO_BACKOFF_MAX ? r->pto_count : PTO_BACKOFF_MAX);
}

static uint64_t oldest_sent(const struct rel *r)
{
    uint64_t t = UINT64_MAX;
    for (size_t i = 0; i < PL_DG_INFLIGHT; i++)
        if (r->sent[i].used && r->sent[i].at < t)
            t = r->sent[i].at;
    return t;
}

/* ---- sending ----------------------------------------------------------------- */

static struct omsg *find_omsg(struct rel *r, uint64_t id)
{
    /* ids are consecutive from head; only the first PL_DG_MSG_WINDOW were sent */
    struct omsg *m = r->head;
    for (unsigned n = 0; m && n <= PL_DG_MSG_WINDOW; m = m->next, n++)
        if (m->id == id)
            return m;
    return NULL;
}

static int queue_msg(pl_dg_conn *c, uint64_t now_ms, const uint8_t *data, size_t len, uint8_t flags,
                     uint64_t re, uint32_t timeout_ms, uint64_t *id)
{
    struct rel *r = &c->rel;
    if (len > PL_DG_MSG_MAX)
        return PL_ERR_TOOBIG;
    if (r->queued + len > PL_DG_SENDQ_MAX)
        return PL_ERR_BUFSIZE;
    if ((flags & PL_DG_MSG_REQUEST) && r->nreqs == REQS_MAX)
        return PL_ERR_BUFSIZE;
    struct omsg *m = calloc(1, sizeof *m);
    if (!m)
        return PL_ERR_NOMEM;
    m->nfrag = frags_of(len);
    m->data = malloc(len ? len : 1);
    m->acked = calloc((m->nfrag + 7) / 8, 1);
    if ((flags & PL_DG_MSG_REQUEST) && !r->reqs)
        r->reqs = calloc(REQS_MAX, sizeof *r->reqs);
    if (!m->data || !m->acked || ((flags & PL_DG_MSG_REQUEST) && !r->reqs)) {
        omsg_free(m);
        return PL_ERR_NOMEM;
    }
    if (len)
        memcpy(m->data, data, len);
    m->len = len;
    m->id = r->next_id++;
    m->flags = flags;
    m->re = re;
    if (r->tail)
        r->tail->next = m;
    else
        r->head = m;
    r->tail = m;
    if (!r->cur)
        r->cur = m;
    r->queued += len;
    if (flags & PL_DG_MSG_REQUEST)
        r->reqs[r->nreqs++] =
            (struct req){m->id, now_ms + (timeout_ms ? timeout_ms : PL_DG_REQUEST_MS)};
    if (id)
        *id = m->id;
    return PL_OK;
}

static bool sendable(const pl_dg_conn *c)
{
    return (c->state == C_HELLO || c->state == C_WORK || c->state == C_INITIATE ||
            c->state == C_YIELDED || c->state == C_ESTABLISHED) &&
           !c->rel.shutting;
}

int pl_dg_msg_send(pl_dg_conn *c, uint64_t now_ms, const uint8_t *data, size_t len, bool want_reply,
                   uint32_t timeout_ms, uint64_t *id)
{
    if (!c || (len && !data) || !sendable(c))
        return PL_ERR_INVAL;
    if (now_ms > c->e->now_ms)
        c->e->now_ms = now_ms;
    return queue_msg(c, now_ms, data, len, want_reply ? PL_DG_MSG_REQUEST : 0, 0, timeout_ms, id);
}

int pl_dg_msg_reply(pl_dg_conn *c, uint64_t now_ms, uint64_t id, const uint8_t *data, size_t len,
                    bool refuse)
{
    if (!c || (len && !data && !refuse) || c->state != C_ESTABLISHED || c->rel.shutting)
        return PL_ERR_INVAL;
    struct rel *r = &c->rel;
    size_t i = 0;
    while (i < r->nunanswered && r->unanswered[i] != id)
        i++;
    if (i == r->nunanswered)
        return PL_ERR_NOTFOUND;
    int rc = queue_msg(c, now_ms, refuse ? NULL : data, refuse ? 0 : len,
                       (uint8_t)(PL_DG_MSG_REPLY | (refuse ? PL_DG_MSG_REFUSED : 0)), id, 0, NULL);
    if (rc != PL_OK)
        return rc;
    r->unanswered[i] = r->unanswered[--r->nunanswered];
    return PL_OK;
}

/* Seal frames and send them now, outside the window (PONG, PING, CLOSE,
 * DATAGRAM: none is retransmitted). */
static int send_now(pl_dg_conn *c, const uint8_t *pt, size_t len)
{
    uint8_t out[PL_DG_PACKET_MAX];
    uint64_t pn;
    int n = pl_dg_seal_packet(c, pt, len, out, &pn);
    if (n < 0)
        return n;
    pl_dg_queue_out(c->e, &c->addr, out, (size_t)n);
    return PL_OK;
}

int pl_dg_send(pl_dg_conn *c, const uint8_t *data, size_t len)
{
    uint8_t pt[PL_DG_PT_MAX];
    if (!c || c->state != C_ESTABLISHED || (len && !data))
        return PL_ERR_INVAL;
    pl_wr w = pl_wr_init(pt, sizeof pt);
    pl_dg_frame f = {.type = PL_DG_F_DATAGRAM, .bytes = data, .len = len};
    pl_dg_frame_write(&w, &f);
    int n = pl_wr_result(&w);
    if (n < 0)
        return PL_ERR_TOOBIG;
    return send_now(c, pt, (size_t)n);
}

int pl_dg_ping(pl_dg_conn *c, uint64_t now_ms)
{
    uint8_t pt[1 + 8];
    if (!c || c->state != C_ESTABLISHED)
        return PL_ERR_INVAL;
    struct rel *r = &c->rel;
    struct ping *p = &r->pings[r->ping_seq % PINGS_MAX];
    if (pl_dg_draw(c->e, (uint8_t *)&p->token, sizeof p->token) != PL_OK)
        return PL_ERR_INTERNAL;
    p->seq = ++r->ping_seq;
    p->at = now_ms;
    pl_wr w = pl_wr_init(pt, sizeof pt);
    pl_dg_frame f = {.type = PL_DG_F_PING, .token = p->token};
    pl_dg_frame_write(&w, &f);
    if (pl_wr_result(&w) < 0)
        return PL_ERR_INTERNAL;
    return send_now(c, pt, sizeof pt);
}

void pl_dg_conn_hold(pl_dg_conn *c, bool hold)
{
    if (!c || c->rel.held == hold)
        return;
    c->rel.held = hold;
    if (!hold && c->state == C_ESTABLISHED)
        pl_dg_rel_deliver(c);
}

size_t pl_dg_conn_pending(const pl_dg_conn *c)
{
    return c ? c->rel.queued : 0;
}

uint64_t pl_dg_conn_srtt_us(const pl_dg_conn *c)
{
    return c && c->rel.has_rtt ? c->rel.srtt_ms * 1000 : 0;
}

/* The acknowledgement ranges of what we accepted (highest first). */
static void ack_build(const pl_dg_replay *w, pl_dg_ack *a)
{
    a->n = 0;
    if (w->largest == PL_DG_PN_NONE)
        return;
    uint64_t i = 0,
             limit = w->largest + 1 < PL_DG_REPLAY_WINDOW ? w->largest + 1 : PL_DG_REPLAY_WINDOW;
    while (i < limit && a->n < PL_DG_ACK_RANGES) {
        while (i < limit && !(w->bits[i / 64] >> (i % 64) & 1))
            i++;
        if (i == limit)
            break;
        uint64_t start = i;
        while (i < limit && (w->bits[i / 64] >> (i % 64) & 1))
            i++;
        a->r[a->n].hi = w->largest - start;
        a->r[a->n].lo = w->largest - (i - 1);
        a->n++;
    }
}

static void write_ack(pl_wr *w, struct rel *r)
{
    pl_dg_frame f = {.type = PL_DG_F_ACK};
    ack_build(&r->ackset, &f.ack);
    if (f.ack.n)
        pl_dg_frame_write(w, &f);
    r->ack_pending = 0;
    r->ack_at = UINT64_MAX;
}

static void send_close(pl_dg_conn *c)
{
    struct rel *r = &c->rel;
    uint8_t pt[PL_DG_PT_MAX];
    static const char reason[] = "done";
    pl_wr w = pl_wr_init(pt, sizeof pt);
    write_ack(&w, r);
    pl_dg_frame f = {.type = PL_DG_F_CLOSE,
                     .code = 0,
                     .bytes = (const uint8_t *)reason,
                     .len = sizeof reason - 1};
    pl_dg_frame_write(&w, &f);
    int n = pl_wr_result(&w);
    if (n > 0)
        (void)send_now(c, pt, (size_t)n);
}

/* Our close is over: the peer answered, or we stopped asking. */
static void closed(pl_dg_conn *c, const char *why)
{
    c->state = C_CLOSED;
    pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_CLOSED, c);
    ev->why = why;
}

/* A shutdown begins once everything we sent was acknowledged: CLOSE, again
 * every probe timeout until the peer's CLOSE comes back. */
static void maybe_close(pl_dg_conn *c, uint64_t now_ms)
{
    struct rel *r = &c->rel;
    if (c->state != C_ESTABLISHED || !r->shutting || r->close_sent || r->head)
        return;
    r->close_sent = r->we_closed = true;
    pl_dg_rel_fail_requests(c, PL_ERR_CLOSED);
    send_close(c);
    r->close_tries = 1;
    r->close_at = now_ms + pto_ms(r);
}

int pl_dg_shutdown(pl_dg_conn *c, uint64_t now_ms)
{
    if (!c || !sendable(c))
        return PL_ERR_INVAL;
    if (now_ms > c->e->now_ms)
        c->e->now_ms = now_ms;
    c->rel.shutting = true;
    maybe_close(c, now_ms);
    return PL_OK;
}

/* The next fragment to send: a lost one first, else a new one inside the
 * message window. */
static bool pick(struct rel *r, struct omsg **mp, uint32_t *frag)
{
    while (r->retx_len) {
        struct frag_ref ref = r->retx[r->retx_head];
        r->retx_head = (r->retx_head + 1) % PL_DG_INFLIGHT;
        r->retx_len--;
        struct omsg *m = find_omsg(r, ref.msg_id);
        if (m && !bit_get(m->acked, ref.frag)) {
            *mp = m;
            *frag = ref.frag;
            return true;
        }
    }
    while (r->cur && r->cur->next_frag >= r->cur->nfrag)
        r->cur = r->cur->next;
    if (!r->cur || r->cur->id >= r->head->id + PL_DG_MSG_WINDOW)
        return false;
    *mp = r->cur;
    *frag = r->cur->next_frag++;
    return true;
}

int pl_dg_rel_output(pl_dg_conn *c, uint64_t now_ms, uint8_t *out, size_t cap)
{
    struct rel *r = &c->rel;
    if (c->state != C_ESTABLISHED)
        return 0;
    maybe_close(c, now_ms);
    if (c->state != C_ESTABLISHED)
        return 0;
    if (cap < PL_DG_PACKET_MAX)
        return PL_ERR_BUFSIZE;
    bool ack_due = r->ack_pending && (r->ack_pending >= 2 || now_ms >= r->ack_at);
    bool idle = r->nsent == 0 && r->retx_len == 0;
    struct omsg *m = NULL;
    uint32_t frag = 0;
    bool has_frag = r->nsent < PL_DG_INFLIGHT && pick(r, &m, &frag);
    if (!ack_due && !has_frag)
        return 0;
    uint8_t pt[PL_DG_PT_MAX];
    pl_wr w = pl_wr_init(pt, sizeof pt);
    if (r->ack_pending)
        write_ack(&w, r);
    if (has_frag) {
        size_t off = (size_t)frag * PL_DG_FRAG;
        size_t n = m->len - off < PL_DG_FRAG ? m->len - off : PL_DG_FRAG;
        pl_dg_frame f = {.type = PL_DG_F_MSG,
                         .flags = m->flags,
                         .id = m->id,
                         .re = m->re,
                         .total = m->len,
                         .offset = off,
                         .bytes = m->data + off,
                         .len = n};
        if (m->len == 0)
            f.bytes = NULL;
        pl_dg_frame_write(&w, &f);
    }
    int n = pl_wr_result(&w);
    if (n < 0)
        return PL_ERR_INTERNAL;
    uint64_t pn;
    int k = pl_dg_seal_packet(c, pt, (size_t)n, out, &pn);
    if (k < 0)
        return k;
    if (has_frag) {
        if (idle) /* waiting for the peer starts now */
            r->progress_at = now_ms;
        for (size_t i = 0; i < PL_DG_INFLIGHT; i++) {
            if (!r->sent[i].used) {
                r->sent[i] = (struct sent){true, pn, now_ms, m->id, frag};
                r->nsent++;
                break;
            }
        }
    }
    return k;
}

/* ---- acknowledgements and loss ------------------------------------------------ */

static void lose(struct rel *r, struct sent *s, pl_dg_stats *st)
{
    struct omsg *m = find_omsg(r, s->msg_id);
    if (m && !bit_get(m->acked, s->frag) && r->retx_len < PL_DG_INFLIGHT) {
        r->retx[(r->retx_head + r->retx_len) % PL_DG_INFLIGHT] =
            (struct frag_ref){s->msg_id, s->frag};
        r->retx_len++;
        st->retransmits++;
    }
    s->used = false;
    r->nsent--;
}

static void detect_lost(pl_dg_conn *c, uint64_t now_ms)
{
    struct rel *r = &c->rel;
    if (r->largest_acked == PL_DG_PN_NONE)
        return;
    uint64_t rtt = r->srtt_ms > r->latest_rtt_ms ? r->srtt_ms : r->latest_rtt_ms;
    uint64_t delay = rtt * 9 / 8;
    if (delay < 1)
        delay = 1;
    for (size_t i = 0; i < PL_DG_INFLIGHT; i++) {
        struct sent *s = &r->sent[i];
        if (s->used && s->pn < r->largest_acked &&
            (s->pn + 3 <= r->largest_acked || s->at + delay <= now_ms))
            lose(r, s, &c->e->st);
    }
}

static void on_ack(pl_dg_conn *c, uint64_t now_ms, const pl_dg_ack *a)
{
    struct rel *r = &c->rel;
    bool newly = false;
    for (size_t i = 0; i < PL_DG_INFLIGHT; i++) {
        struct sent *s = &r->sent[i];
        if (!s->used)
            continue;
        for (size_t k = 0; k < a->n; k++) {
            if (s->pn < a->r[k].lo || s->pn > a->r[k].hi)
                continue;
            if (s->pn == a->r[0].hi && now_ms >= s->at)
                rtt_sample(r, now_ms - s->at);
            struct omsg *m = find_omsg(r, s->msg_id);
            if (m && !bit_get(m->acked, s->frag)) {
                bit_set(m->acked, s->frag);
                m->nacked++;
            }
            s->used = false;
            r->nsent--;
            newly = true;
            break;
        }
    }
    if (r->largest_acked == PL_DG_PN_NONE || a->r[0].hi > r->largest_acked)
        r->largest_acked = a->r[0].hi;
    if (newly) {
        r->progress_at = now_ms;
        r->pto_count = 0;
    }
    detect_lost(c, now_ms);
    while (r->head && r->head->nacked == r->head->nfrag) {
        struct omsg *m = r->head;
        r->head = m->next;
        if (r->cur == m)
            r->cur = m->next;
        if (r->tail == m)
            r->tail = NULL;
        r->queued -= m->len;
        omsg_free(m);
    }
}

/* ---- receiving ------------------------------------------------------------------ */

static void unanswered_add(pl_dg_conn *c, uint64_t now_ms, uint64_t id, bool *want)
{
    struct rel *r = &c->rel;
    if (!r->unanswered)
        r->unanswered = calloc(UNANSWERED_MAX, sizeof *r->unanswered);
    if (r->unanswered && r->nunanswered < UNANSWERED_MAX) {
        r->unanswered[r->nunanswered++] = id;
        return;
    }
    /* too many waiting: refuse this one ourselves */
    *want = false;
    (void)queue_msg(c, now_ms, NULL, 0, PL_DG_MSG_REPLY | PL_DG_MSG_REFUSED, id, 0, NULL);
}

void pl_dg_rel_deliver(pl_dg_conn *c)
{
    pl_dg_engine *e = c->e;
    struct rel *r = &c->rel;
    for (;;) {
        struct imsg *s = &r->in[r->next_deliver % PL_DG_MSG_WINDOW];
        if (!s->used || s->got < s->nfrag || (r->held && c->state == C_ESTABLISHED))
            return;
        if (e->ev_len >= EVQ_DELIVER) {
            e->deliver_blocked = true;
            return;
        }
        uint8_t *buf = s->buf;
        if (s->total == 0) {
            free(buf);
            buf = NULL;
        }
        if (s->flags & PL_DG_MSG_REPLY) {
            size_t i = 0;
            while (i < r->nreqs && r->reqs[i].id != s->re)
                i++;
            if (i < r->nreqs) {
                r->reqs[i] = r->reqs[--r->nreqs];
                pl_dg_event *ev = pl_dg_push_event(e, PL_DG_EV_REPLY, c);
                ev->id = s->re;
                if (s->flags & PL_DG_MSG_REFUSED) {
                    ev->err = PL_ERR_REFUSED;
                    ev->why = "the peer refused the request";
                    free(buf);
                } else {
                    ev->msg = buf;
                    ev->msg_len = s->total;
                }
            } else {
                free(buf); /* a reply after its request timed out */
            }
        } else {
            bool want = s->flags & PL_DG_MSG_REQUEST;
            if (want)
                unanswered_add(c, e->now_ms, s->id, &want);
            pl_dg_event *ev = pl_dg_push_event(e, PL_DG_EV_MESSAGE, c);
            ev->id = s->id;
            ev->want_reply = want;
            ev->msg = buf;
            ev->msg_len = s->total;
        }
        e->st.msgs_delivered++;
        free(s->have);
        r->reasm -= s->total;
        memset(s, 0, sizeof *s);
        r->next_deliver++;
    }
}

/* Take a fragment; false when it cannot be kept now (not acknowledged, so
 * the peer sends it again). */
static bool on_msg(pl_dg_conn *c, const pl_dg_frame *f)
{
    struct rel *r = &c->rel;
    if (f->id < r->next_deliver)
        return true; /* delivered already: a retransmission */
    if (f->id - r->next_deliver >= PL_DG_MSG_WINDOW)
        return false;
    struct imsg *s = &r->in[f->id % PL_DG_MSG_WINDOW];
    if (!s->used) {
        if (f->id != r->next_deliver && r->reasm + f->total > PL_DG_REASM_MAX)
            return false;
        uint32_t nfrag = frags_of((size_t)f->total);
        s->buf = malloc(f->total ? (size_t)f->total : 1);
        s->have = calloc((nfrag + 7) / 8, 1);
        if (!s->buf || !s->have) {
            free(s->buf);
            free(s->have);
            s->buf = NULL;
            s->have = NULL;
            return false;
        }
        s->used = true;
        s->id = f->id;
        s->re = f->re;
        s->flags = f->flags;
        s->total = (size_t)f->total;
        s->nfrag = nfrag;
        s->got = 0;
        r->reasm += s->total;
    } else if (s->id != f->id || s->flags != f->flags || s->re != f->re || s->total != f->total) {
        pl_dg_conn_fail(c, PL_ERR_PARSE, "the peer's fragments of one message disagree");
        return false;
    }
    uint32_t k = (uint32_t)(f->offset / PL_DG_FRAG);
    if (!bit_get(s->have, k)) {
        if (f->len)
            memcpy(s->buf + f->offset, f->bytes, f->len);
        bit_set(s->have, k);
        s->got++;
    }
    return true;
}

static void on_pong(pl_dg_conn *c, uint64_t now_ms, uint64_t token)
{
    struct rel *r = &c->rel;
    for (size_t i = 0; i < PINGS_MAX; i++) {
        struct ping *p = &r->pings[i];
        if (p->seq && p->token == token) {
            pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_PONG, c);
            ev->id = p->seq;
            ev->rtt_us = now_ms >= p->at ? (now_ms - p->at) * 1000 : 0;
            memset(p, 0, sizeof *p);
            return;
        }
    }
}

static void on_close(pl_dg_conn *c, const pl_dg_frame *f)
{
    struct rel *r = &c->rel;
    if (r->we_closed) { /* the answer we waited for (or a close that crossed ours) */
        closed(c, "closed; the peer confirmed");
        return;
    }
    send_close(c);        /* the answer the closer waits for */
    c->state = C_CLOSED;  /* (a held connection delivers now too) */
    pl_dg_rel_deliver(c); /* what arrived before the close still counts */
    pl_dg_rel_fail_requests(c, PL_ERR_CLOSED);
    r->close_sent = true;
    pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_CLOSED, c);
    ev->err = PL_ERR_CLOSED;
    ev->why = "the peer closed the connection";
    ev->len = f->len < sizeof ev->data ? f->len : sizeof ev->data;
    if (ev->len)
        memcpy(ev->data, f->bytes, ev->len);
}

void pl_dg_rel_input(pl_dg_conn *c, uint64_t now_ms, uint64_t pn, const uint8_t *pt, size_t len)
{
    struct rel *r = &c->rel;
    if (c->state == C_CLOSED) {
        /* The peer has not heard: say it again. A CLOSE is answered only
         * by the side that did not start the close (no endless echo). */
        bool has_close = false;
        pl_rd rd = pl_rd_init(pt, len);
        pl_dg_frame f;
        while (pl_rd_left(&rd) && pl_dg_frame_read(&rd, &f, NULL) == PL_OK)
            has_close |= f.type == PL_DG_F_CLOSE;
        if (!has_close || !r->we_closed)
            send_close(c);
        return;
    }
    if (c->state != C_ESTABLISHED)
        return;
    pl_rd rd = pl_rd_init(pt, len);
    bool eliciting = false, accepted = true;
    while (pl_rd_left(&rd)) {
        pl_dg_frame f;
        const char *why = NULL;
        if (pl_dg_frame_read(&rd, &f, &why) != PL_OK) {
            pl_dg_conn_fail(c, PL_ERR_PARSE, why);
            return;
        }
        switch (f.type) {
        case PL_DG_F_ACK:
            if (f.ack.r[0].hi >= c->next_pn) {
                pl_dg_conn_fail(c, PL_ERR_PARSE, "the peer acknowledged a packet never sent");
                return;
            }
            on_ack(c, now_ms, &f.ack);
            break;
        case PL_DG_F_MSG:
            eliciting = true;
            if (!on_msg(c, &f))
                accepted = false;
            break;
        case PL_DG_F_PING: {
            uint8_t out[1 + 8];
            pl_wr w = pl_wr_init(out, sizeof out);
            pl_dg_frame p = {.type = PL_DG_F_PONG, .token = f.token};
            pl_dg_frame_write(&w, &p);
            if (pl_wr_result(&w) > 0)
                (void)send_now(c, out, sizeof out);
            break;
        }
        case PL_DG_F_PONG: on_pong(c, now_ms, f.token); break;
        case PL_DG_F_CLOSE: on_close(c, &f); return;
        case PL_DG_F_DATAGRAM: {
            pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_DATA, c);
            ev->len = f.len;
            if (f.len)
                memcpy(ev->data, f.bytes, f.len);
            break;
        }
        default: break; /* PADDING */
        }
        if (c->state != C_ESTABLISHED)
            return;
    }
    if (accepted) {
        pl_dg_replay_mark(&r->ackset, pn);
        if (eliciting) {
            r->ack_pending++;
            if (r->ack_at == UINT64_MAX)
                r->ack_at = now_ms + PL_DG_ACK_DELAY_MS;
        }
    }
    pl_dg_rel_deliver(c);
    maybe_close(c, now_ms);
}

/* ---- time ------------------------------------------------------------------------ */

void pl_dg_rel_fail_requests(pl_dg_conn *c, int err)
{
    struct rel *r = &c->rel;
    for (size_t i = 0; i < r->nreqs; i++) {
        pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_REPLY, c);
        ev->id = r->reqs[i].id;
        ev->err = err;
        ev->why = err == PL_ERR_REFUSED  ? "the peer refused us"
                  : err == PL_ERR_CLOSED ? "the connection was closed before the reply"
                                         : "the peer could not be reached";
    }
    r->nreqs = 0;
}

void pl_dg_rel_timer(pl_dg_conn *c, uint64_t now_ms)
{
    struct rel *r = &c->rel;
    if (c->state == C_FAILED || c->state == C_CLOSED)
        return;
    if (c->state == C_ESTABLISHED) {
        uint64_t oldest = oldest_sent(r);
        if (r->nsent && now_ms >= oldest + pto_ms(r)) {
            uint64_t p = pto_ms(r);
            for (size_t i = 0; i < PL_DG_INFLIGHT; i++)
                if (r->sent[i].used && r->sent[i].at + p <= now_ms)
                    lose(r, &r->sent[i], &c->e->st);
            if (r->pto_count < PTO_BACKOFF_MAX)
                r->pto_count++;
        }
        if ((r->nsent || r->retx_len) && now_ms >= r->progress_at + PL_DG_DEAD_MS) {
            pl_dg_conn_fail(c, PL_ERR_UNREACHABLE, "the peer stopped acknowledging");
            return;
        }
        if (r->we_closed && now_ms >= r->close_at) {
            if (r->close_tries >= CLOSE_TRIES) {
                /* all we sent was acknowledged: only the goodbye is lost */
                closed(c, "closed; the peer did not confirm");
                return;
            }
            send_close(c);
            r->close_tries++;
            r->close_at = now_ms + (pto_ms(r) << r->close_tries);
        }
    }
    for (size_t i = 0; i < r->nreqs;) {
        if (r->reqs[i].deadline <= now_ms) {
            pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_REPLY, c);
            ev->id = r->reqs[i].id;
            ev->err = PL_ERR_TIMEOUT;
            ev->why = "no reply in time";
            r->reqs[i] = r->reqs[--r->nreqs];
        } else {
            i++;
        }
    }
}

uint64_t pl_dg_rel_deadline(const pl_dg_conn *c)
{
    const struct rel *r = &c->rel;
    uint64_t d = UINT64_MAX;
    if (c->state == C_FAILED || c->state == C_CLOSED)
        return d;
    if (c->state == C_ESTABLISHED) {
        if (r->ack_pending && r->ack_at < d)
            d = r->ack_at;
        if (r->nsent) {
            uint64_t t = oldest_sent(r) + pto_ms(r);
            if (t < d)
                d = t;
        }
        if ((r->nsent || r->retx_len) && r->progress_at + PL_DG_DEAD_MS < d)
            d = r->progress_at + PL_DG_DEAD_MS;
        if (r->we_closed && r->close_at < d)
            d = r->close_at;
    }
    for (size_t i = 0; i < r->nreqs; i++)
        if (r->reqs[i].deadline < d)
            d = r->reqs[i].deadline;
    return d;
}
