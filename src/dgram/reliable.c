/*
 * reliable.c - what an established datagram connection carries (engine.h,
 * docs/protocol.md §9): request/response messages, ordered channels and
 * unreliable datagrams, over one packet-number space with selective
 * acknowledgements, loss detection after RFC 9002 (packet and time
 * thresholds, probe timeouts), congestion control and pacing (cc.c), flow
 * control per channel and per connection, path validation when the peer's
 * address changes, keepalives, an idle timeout and a clean close with a
 * reason.
 *
 * A DATA packet carries acknowledgements, control frames and at most one
 * data item (a message fragment, a channel segment or a datagram). A lost
 * item is sent again as it was (same fragment, same segment), so what the
 * receiver acknowledged is exactly what it stored.
 *
 * Bounds, per connection: SENT_MAX packets in flight (the peer acknowledges
 * the last PL_DG_REPLAY_WINDOW), PL_DG_MSG_WINDOW messages between the first
 * unacknowledged and the last sent, PL_DG_SENDQ_MAX bytes of messages
 * queued, PL_DG_REASM_MAX in reassembly (plus the message next in order,
 * always admitted), CHANS_MAX channels, PL_DG_CHAN_SENDBUF bytes buffered
 * per channel to send, PL_DG_CHAN_WINDOW unread per channel and
 * PL_DG_CONN_WINDOW in all, DGRAM_Q datagrams waiting.
 *
 * Memory grows with use only: an idle connection holds no buffer; the
 * packet ring is freed when nothing is in flight.
 */
#include <string.h>

#include <sodium.h>

#include "dgram/engine_int.h"
#include "dgram/frame.h"

#define ACK_EVERY        2    /* ack-eliciting packets that make an acknowledgement due */
#define PKT_THRESHOLD    3    /* RFC 9002 §6.1.1 */
#define REORDER_PKTS_MAX 64   /* the packet threshold after reordering, at most */
#define STALL_MIN_MS     1000 /* a receiver's silence before it shows its address (probe_at) */
#define RING_IDLE_MS     5000 /* an empty packet ring is freed after this long quiet */
#define PERSISTENT_PTOS  3    /* RFC 9002 §7.6.1 */
#define VALIDATE_MIN_MS  1000 /* a new path has at least this long to answer */
#define AMPLIFY          3    /* bytes sent to an unvalidated path per byte received from it */
#define SMALL_PACKET     64   /* the most a packet of acknowledgements and control frames takes */
/* the window stays within the packet ring, with room for probes and for
 * packets that carry only control frames */
#define CWND_MAX         ((uint64_t)(SENT_MAX - SENT_MAX / 8) * PL_DG_PACKET_MAX)

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

static bool addr_same(const pl_dg_addr *a, const pl_dg_addr *b)
{
    return a->len == b->len && memcmp(a->b, b->b, a->len) == 0;
}

/* The same host (a port change only: a NAT rebinding). */
static bool host_same(const pl_dg_addr *a, const pl_dg_addr *b)
{
    return a->len == b->len && a->len >= 2 && memcmp(a->b, b->b, a->len - 2u) == 0;
}

void pl_dg_rel_init(pl_dg_conn *c)
{
    struct rel *r = &c->rel;
    memset(r, 0, sizeof *r);
    r->largest_acked = PL_DG_PN_NONE;
    r->ack_at = UINT64_MAX;
    pl_rtt_init(&r->rtt, RTT_INITIAL_MS);
    pl_cc_init(&r->cc, c->e->cfg.cc == PL_DG_CC_CUBIC ? PL_CC_CUBIC : PL_CC_NEWRENO,
               PL_DG_PACKET_MAX);
    r->cc.cwnd_max = CWND_MAX;
    r->reorder_pkts = PKT_THRESHOLD;
    r->reorder_eighths = 9;
    r->tx_max = PL_DG_CONN_WINDOW;
    r->rx_max = PL_DG_CONN_WINDOW;
    pl_dg_replay_init(&r->ackset);
}

static void omsg_free(struct omsg *m)
{
    free(m->data);
    free(m->acked);
    free(m);
}

static void chan_free(struct chan *ch)
{
    free(ch->sbuf);
    free(ch->rbuf);
    free(ch->segs);
    free(ch);
}

void pl_dg_rel_free(pl_dg_conn *c)
{
    struct rel *r = &c->rel;
    while (r->head) {
        struct omsg *m = r->head;
        r->head = m->next;
        omsg_free(m);
    }
    if (r->in)
        for (size_t i = 0; i < PL_DG_MSG_WINDOW; i++) {
            free(r->in[i].buf);
            free(r->in[i].have);
        }
    free(r->in);
    for (size_t i = 0; i < r->nchans; i++)
        chan_free(r->chans[i]);
    free(r->chans);
    free(r->sent);
    free(r->lost);
    free(r->dq);
    free(r->reqs);
    free(r->unanswered);
    free(r->close_reason);
    memset(r, 0, sizeof *r);
}

void pl_dg_rel_start(pl_dg_conn *c, uint64_t now_ms, uint64_t rtt_ms)
{
    struct rel *r = &c->rel;
    if (rtt_ms)
        pl_rtt_sample(&r->rtt, rtt_ms);
    r->progress_at = r->last_rx_at = r->last_tx_at = now_ms;
}

/* ---- timers (RFC 9002 §6) ------------------------------------------------------ */

static uint64_t pto_base(const struct rel *r)
{
    uint64_t v = 4 * r->rtt.var;
    uint64_t p = r->rtt.smoothed + (v ? v : 1) + PL_DG_ACK_DELAY_MS;
    return p < PTO_MIN_MS ? PTO_MIN_MS : p;
}

/* The probe timeout, backed off, but never so long that fewer than five
 * probes go out before PL_DG_DEAD_MS gives up on the peer. */
static uint64_t pto_ms(const struct rel *r)
{
    uint64_t base = pto_base(r);
    uint64_t p = base << (r->pto_count < PTO_BACKOFF_MAX ? r->pto_count : PTO_BACKOFF_MAX);
    uint64_t cap = PL_DG_DEAD_MS / 5 > base ? PL_DG_DEAD_MS / 5 : base;
    return p < cap ? p : cap;
}

static uint64_t loss_delay(const struct rel *r)
{
    uint64_t rtt = r->rtt.smoothed > r->rtt.latest ? r->rtt.smoothed : r->rtt.latest;
    uint64_t d = rtt * r->reorder_eighths / 8;
    return d < 1 ? 1 : d;
}

static uint32_t keepalive_ms(const pl_dg_conn *c)
{
    return c->e->cfg.keepalive_ms ? c->e->cfg.keepalive_ms : PL_DG_KEEPALIVE_MS;
}

static uint32_t idle_ms(const pl_dg_conn *c)
{
    return c->e->cfg.idle_ms ? c->e->cfg.idle_ms : PL_DG_IDLE_MS;
}

static bool in_flight(const struct rel *r)
{
    return r->cc.in_flight > 0;
}

/* ---- the packet ring ------------------------------------------------------------- */

static struct sent *sent_at(const struct rel *r, uint64_t pn)
{
    return &r->sent[pn & (r->sent_cap - 1)];
}

/* The record of packet pn if it is in flight, else NULL. */
static struct sent *sent_live(const struct rel *r, uint64_t pn)
{
    if (!r->sent || pn < r->sent_lo || pn - r->sent_lo >= r->sent_cap)
        return NULL;
    struct sent *s = sent_at(r, pn);
    return s->bytes && s->pn == pn ? s : NULL;
}

/* Room to track packet pn: grow the ring (doubling) as far as SENT_MAX. */
static bool sent_room(pl_dg_conn *c, uint64_t pn)
{
    struct rel *r = &c->rel;
    if (!r->sent) {
        r->sent = calloc(SENT_MIN, sizeof *r->sent);
        if (!r->sent)
            return false;
        r->sent_cap = SENT_MIN;
        r->sent_lo = pn;
    }
    if (pn - r->sent_lo < r->sent_cap)
        return true;
    if (pn - r->sent_lo >= SENT_MAX)
        return false;
    uint32_t cap = r->sent_cap * 2;
    while (pn - r->sent_lo >= cap)
        cap *= 2;
    struct sent *n = calloc(cap, sizeof *n);
    if (!n)
        return false;
    for (uint64_t p = r->sent_lo; p < pn && p - r->sent_lo < r->sent_cap; p++) {
        const struct sent *s = sent_live(r, p);
        if (s)
            n[p & (cap - 1)] = *s;
    }
    free(r->sent);
    r->sent = n;
    r->sent_cap = cap;
    return true;
}

/* Move sent_lo past free slots; free the ring when nothing is in flight. */
static void sent_trim(pl_dg_conn *c)
{
    struct rel *r = &c->rel;
    if (!r->sent)
        return;
    while (r->sent_lo < c->next_pn && !sent_live(r, r->sent_lo))
        r->sent_lo++;
    /* an empty ring is kept while the connection is busy (no allocation
     * per flight) and freed once it has been quiet for RING_IDLE_MS */
}

/* The packet ring is allocated, empty, and has been for RING_IDLE_MS. */
static bool ring_idle(const pl_dg_conn *c)
{
    const struct rel *r = &c->rel;
    return r->sent && r->sent_lo == c->next_pn && r->lost_len == 0;
}

/* When the last packet either way was sent or came (keepalives aside,
 * which are small). */
static uint64_t last_traffic(const struct rel *r)
{
    return r->last_tx_at > r->last_rx_at ? r->last_tx_at : r->last_rx_at;
}

static void ring_release(pl_dg_conn *c, uint64_t now_ms)
{
    struct rel *r = &c->rel;
    if ((c->tx.evp || c->rx.evp) && now_ms >= last_traffic(r) + RING_IDLE_MS) {
        pl_dg_aead_cool(&c->tx); /* the AEAD's OpenSSL contexts too (packet.c) */
        pl_dg_aead_cool(&c->rx);
    }
    if (ring_idle(c) && now_ms >= r->last_tx_at + RING_IDLE_MS) {
        free(r->sent);
        r->sent = NULL;
        r->sent_cap = 0;
    }
}

static bool lost_push(struct rel *r, struct lost it)
{
    if (r->lost_len == r->lost_cap) {
        uint32_t cap = r->lost_cap ? r->lost_cap * 2 : 64;
        if (cap > 2 * SENT_MAX)
            return false;
        struct lost *n = malloc(cap * sizeof *n);
        if (!n)
            return false;
        for (uint32_t i = 0; i < r->lost_len; i++)
            n[i] = r->lost[(r->lost_head + i) % r->lost_cap];
        free(r->lost);
        r->lost = n;
        r->lost_cap = cap;
        r->lost_head = 0;
    }
    r->lost[(r->lost_head + r->lost_len) % r->lost_cap] = it;
    r->lost_len++;
    return true;
}

/* ---- channels ------------------------------------------------------------------------ */

static struct chan *chan_find(const struct rel *r, uint64_t id, uint16_t *slot)
{
    for (uint16_t i = 0; i < r->nchans; i++)
        if (r->chans[i]->id == id) {
            if (slot)
                *slot = i;
            return r->chans[i];
        }
    return NULL;
}

static struct chan *chan_add(struct rel *r, uint64_t id)
{
    if (r->nchans == CHANS_MAX)
        return NULL;
    if (r->nchans == r->chans_cap) {
        uint16_t cap = r->chans_cap ? (uint16_t)(r->chans_cap * 2) : 4;
        struct chan **n = realloc(r->chans, cap * sizeof *n);
        if (!n)
            return NULL;
        r->chans = n;
        r->chans_cap = cap;
    }
    struct chan *ch = calloc(1, sizeof *ch);
    if (!ch)
        return NULL;
    ch->id = id;
    ch->s_max = PL_DG_CHAN_WINDOW;
    ch->r_max = PL_DG_CHAN_WINDOW;
    ch->r_fin_at = UINT64_MAX;
    r->chans[r->nchans++] = ch;
    return ch;
}

/* A channel both sides are done with: forget it. Its slot moves, so no
 * packet in flight may still refer to it (every segment acknowledged). */
static void chan_maybe_drop(struct rel *r, uint16_t slot)
{
    struct chan *ch = r->chans[slot];
    bool sent_done = ch->s_fin && ch->s_fin_acked;
    bool recv_done = ch->r_fin_read;
    if (!sent_done || !recv_done || ch->max_due)
        return;
    for (uint32_t i = 0; i < r->lost_len; i++)
        if (r->lost[(r->lost_head + i) % r->lost_cap].kind == IT_CHAN &&
            r->lost[(r->lost_head + i) % r->lost_cap].chan >= slot)
            return;
    if (r->sent)
        for (uint64_t p = r->sent_lo; p < r->sent_lo + r->sent_cap; p++) {
            const struct sent *s = sent_live(r, p);
            if (s && (s->kind == IT_CHAN || (s->ctrl & CTRL_MAX_CHAN)) && s->chan >= slot)
                return; /* a slot at or above this one is still referenced */
        }
    chan_free(ch);
    r->chans[slot] = r->chans[--r->nchans];
}

static size_t sbuf_room(const struct chan *ch)
{
    return PL_DG_CHAN_SENDBUF - (size_t)(ch->s_end - ch->s_acked);
}

static void ring_put(uint8_t *ring, size_t cap, uint64_t off, const uint8_t *d, size_t len)
{
    size_t at = (size_t)(off % cap), first = cap - at < len ? cap - at : len;
    memcpy(ring + at, d, first);
    if (len > first)
        memcpy(ring, d + first, len - first);
}

static void ring_get(const uint8_t *ring, size_t cap, uint64_t off, uint8_t *d, size_t len)
{
    size_t at = (size_t)(off % cap), first = cap - at < len ? cap - at : len;
    memcpy(d, ring + at, first);
    if (len > first)
        memcpy(d + first, ring, len - first);
}

int pl_dg_chan_open(pl_dg_conn *c, uint64_t *chan)
{
    if (!c || !chan || c->state != C_ESTABLISHED || c->rel.shutting)
        return PL_ERR_INVAL;
    struct rel *r = &c->rel;
    uint64_t id = 2 * r->next_chan + (c->initiator ? 0 : 1);
    struct chan *ch = chan_add(r, id);
    if (!ch)
        return r->nchans == CHANS_MAX ? PL_ERR_BUFSIZE : PL_ERR_NOMEM;
    r->next_chan++;
    *chan = id;
    return PL_OK;
}

int pl_dg_chan_write(pl_dg_conn *c, uint64_t chan, const uint8_t *data, size_t len)
{
    if (!c || (len && !data))
        return PL_ERR_INVAL;
    struct chan *ch = chan_find(&c->rel, chan, NULL);
    if (!ch)
        return PL_ERR_NOTFOUND;
    if (c->state != C_ESTABLISHED || ch->s_fin)
        return PL_ERR_INVAL;
    if (!ch->sbuf && len) {
        ch->sbuf = malloc(PL_DG_CHAN_SENDBUF);
        if (!ch->sbuf)
            return PL_ERR_NOMEM;
    }
    size_t room = sbuf_room(ch), n = len < room ? len : room;
    if (n)
        ring_put(ch->sbuf, PL_DG_CHAN_SENDBUF, ch->s_end, data, n);
    ch->s_end += n;
    ch->s_blocked = n < len;
    pl_dg_conn_touch(c);
    if (n > INT32_MAX)
        n = INT32_MAX;
    return (int)n;
}

int pl_dg_chan_finish(pl_dg_conn *c, uint64_t chan)
{
    if (!c)
        return PL_ERR_INVAL;
    struct chan *ch = chan_find(&c->rel, chan, NULL);
    if (!ch)
        return PL_ERR_NOTFOUND;
    if (c->state != C_ESTABLISHED)
        return PL_ERR_INVAL;
    ch->s_fin = true;
    pl_dg_conn_touch(c);
    return PL_OK;
}

size_t pl_dg_chan_pending(const pl_dg_conn *c, uint64_t chan)
{
    const struct chan *ch = c ? chan_find(&c->rel, chan, NULL) : NULL;
    return ch ? (size_t)(ch->s_end - ch->s_acked) : 0;
}

/* Our credit for the peer, on the channel and the connection: advertise
 * more once half of it was read. */
static void credit_check(struct rel *r, struct chan *ch)
{
    if (ch && ch->r_fin_at == UINT64_MAX && ch->r_max - ch->r_read <= PL_DG_CHAN_WINDOW / 2) {
        ch->r_max = ch->r_read + PL_DG_CHAN_WINDOW;
        ch->max_due = true;
    }
    if (r->rx_max - r->rx_read <= PL_DG_CONN_WINDOW / 2) {
        r->rx_max = r->rx_read + PL_DG_CONN_WINDOW;
        r->max_data_due = true;
    }
}

int pl_dg_chan_read(pl_dg_conn *c, uint64_t chan, uint8_t *buf, size_t cap, bool *fin)
{
    if (!c || (cap && !buf))
        return PL_ERR_INVAL;
    struct rel *r = &c->rel;
    uint16_t slot = 0;
    struct chan *ch = chan_find(r, chan, &slot);
    if (fin)
        *fin = false;
    if (!ch)
        return PL_ERR_NOTFOUND;
    size_t n = (size_t)(ch->r_contig - ch->r_read);
    if (n > cap)
        n = cap;
    if (n > INT32_MAX)
        n = INT32_MAX;
    if (n) {
        ring_get(ch->rbuf, PL_DG_CHAN_WINDOW, ch->r_read, buf, n);
        ch->r_read += n;
        r->rx_read += n;
        credit_check(r, ch);
    }
    if (ch->r_read == ch->r_contig)
        ch->rd_signaled = false;
    if (ch->r_read == ch->r_fin_at) {
        if (fin)
            *fin = true;
        if (!ch->r_fin_read) {
            ch->r_fin_read = true;
            free(ch->rbuf);
            ch->rbuf = NULL;
        }
        chan_maybe_drop(r, slot);
    }
    pl_dg_conn_touch(c);
    return (int)n;
}

/* Take a CHAN frame; false when it cannot be stored now (not acknowledged:
 * the peer sends it again). */
static bool on_chan(pl_dg_conn *c, const pl_dg_frame *f)
{
    struct rel *r = &c->rel;
    struct chan *ch = chan_find(r, f->id, NULL);
    bool fin = f->flags & PL_DG_CHAN_FIN;
    uint64_t end = f->offset + f->len;
    if (!ch) {
        /* its parity says whose it is: ours and gone, or the peer's and
         * gone (a late retransmission), or a new one of the peer's (with
         * any of the peer's lower numbers not seen yet) */
        uint64_t k = f->id / 2;
        if ((f->id & 1) == (c->initiator ? 0u : 1u) || k < r->peer_next_chan)
            return true;
        if (k - r->peer_next_chan >= (uint64_t)(CHANS_MAX - r->nchans))
            return false; /* CHANS_MAX: the peer waits */
        for (; r->peer_next_chan <= k; r->peer_next_chan++) {
            ch = chan_add(r, 2 * r->peer_next_chan + (c->initiator ? 1 : 0));
            if (!ch)
                return false;
            ch->peer_opened = true;
        }
    }
    if (end > ch->r_max) {
        pl_dg_conn_fail(c, PL_ERR_PARSE, "the peer sent beyond the channel's flow-control limit");
        return false;
    }
    if ((ch->r_fin_at != UINT64_MAX && (end > ch->r_fin_at || (fin && end != ch->r_fin_at))) ||
        (fin && end < ch->r_contig)) {
        pl_dg_conn_fail(c, PL_ERR_PARSE, "the peer moved a channel's end");
        return false;
    }
    if (end <= ch->r_contig) { /* all of it stored already */
        if (fin && ch->r_fin_at == UINT64_MAX)
            ch->r_fin_at = end;
        return true;
    }
    if (ch->r_fin_read)
        return true;
    /* connection credit: counted by the highest offset of each channel */
    uint64_t high = ch->r_contig;
    for (unsigned i = 0; i < ch->r_nranges; i++)
        if (ch->r_ranges[i].hi > high)
            high = ch->r_ranges[i].hi;
    if (end > high) {
        if (r->rx_data + (end - high) > r->rx_max) {
            pl_dg_conn_fail(c, PL_ERR_PARSE,
                            "the peer sent beyond the connection's flow-control limit");
            return false;
        }
    }
    if (!ch->rbuf) {
        ch->rbuf = malloc(PL_DG_CHAN_WINDOW);
        if (!ch->rbuf)
            return false;
    }
    uint64_t lo = f->offset < ch->r_contig ? ch->r_contig : f->offset;
    /* merge [lo, end) into the ranges beyond r_contig */
    uint64_t nlo = lo, nhi = end;
    unsigned keep = 0;
    struct range out[CHAN_RANGES + 1];
    bool placed = false;
    for (unsigned i = 0; i < ch->r_nranges; i++) {
        if (ch->r_ranges[i].hi < nlo) {
            out[keep++] = ch->r_ranges[i];
        } else if (ch->r_ranges[i].lo > nhi) {
            if (!placed) {
                out[keep].lo = nlo;
                out[keep++].hi = nhi;
                placed = true;
            }
            out[keep++] = ch->r_ranges[i];
        } else {
            if (ch->r_ranges[i].lo < nlo)
                nlo = ch->r_ranges[i].lo;
            if (ch->r_ranges[i].hi > nhi)
                nhi = ch->r_ranges[i].hi;
        }
    }
    if (!placed) {
        out[keep].lo = nlo;
        out[keep++].hi = nhi;
    }
    unsigned first = out[0].lo == ch->r_contig ? 1 : 0;
    if (keep - first > CHAN_RANGES)
        return false; /* too many holes: the peer sends it again later */
    ring_put(ch->rbuf, PL_DG_CHAN_WINDOW, lo, f->bytes + (lo - f->offset), (size_t)(end - lo));
    if (end > high)
        r->rx_data += end - high;
    if (first) /* the prefix grew */
        ch->r_contig = out[0].hi;
    ch->r_nranges = keep - first;
    memcpy(ch->r_ranges, out + first, ch->r_nranges * sizeof out[0]);
    if (fin)
        ch->r_fin_at = end;
    return true;
}

/* ---- messages ---------------------------------------------------------------------- */

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
    int rc = queue_msg(c, now_ms, data, len, want_reply ? PL_DG_MSG_REQUEST : 0, 0, timeout_ms, id);
    pl_dg_conn_touch(c);
    return rc;
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
    pl_dg_conn_touch(c);
    return PL_OK;
}

/* Seal frames and send them now, outside congestion control (PONG, PATH
 * frames to a probed address, CLOSE: small, answers only). */
static int send_now(pl_dg_conn *c, const pl_dg_addr *to, const uint8_t *pt, size_t len)
{
    uint8_t out[PL_DG_PACKET_MAX];
    uint64_t pn;
    int n = pl_dg_seal_packet(c, pt, len, out, &pn);
    if (n < 0)
        return n;
    pl_dg_queue_out(c->e, to ? to : &c->addr, out, (size_t)n);
    return PL_OK;
}

int pl_dg_send(pl_dg_conn *c, const uint8_t *data, size_t len)
{
    if (!c || c->state != C_ESTABLISHED || (len && !data))
        return PL_ERR_INVAL;
    if (len > PL_DG_DATAGRAM_MAX)
        return PL_ERR_TOOBIG;
    struct rel *r = &c->rel;
    if (!r->dq) {
        r->dq = malloc(DGRAM_Q * sizeof *r->dq);
        if (!r->dq)
            return PL_ERR_NOMEM;
    }
    if (r->dq_len == DGRAM_Q) /* unreliable: the oldest waiting goes */
        r->dq_head = (r->dq_head + 1) % DGRAM_Q, r->dq_len--;
    uint8_t *slot = r->dq[(r->dq_head + r->dq_len) % DGRAM_Q];
    slot[0] = (uint8_t)(len >> 8);
    slot[1] = (uint8_t)len;
    if (len)
        memcpy(slot + 2, data, len);
    r->dq_len++;
    pl_dg_conn_touch(c);
    return PL_OK;
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
    p->token |= 1; /* keepalives use token 0 */
    p->seq = ++r->ping_seq;
    p->at = now_ms;
    pl_wr w = pl_wr_init(pt, sizeof pt);
    pl_dg_frame f = {.type = PL_DG_F_PING, .token = p->token};
    pl_dg_frame_write(&w, &f);
    if (pl_wr_result(&w) < 0)
        return PL_ERR_INTERNAL;
    return send_now(c, NULL, pt, sizeof pt);
}

void pl_dg_conn_hold(pl_dg_conn *c, bool hold)
{
    if (!c || c->rel.held == hold)
        return;
    c->rel.held = hold;
    if (!hold && c->state == C_ESTABLISHED)
        pl_dg_rel_deliver(c);
    pl_dg_conn_touch(c);
}

size_t pl_dg_conn_pending(const pl_dg_conn *c)
{
    return c ? c->rel.queued : 0;
}

uint64_t pl_dg_conn_srtt_us(const pl_dg_conn *c)
{
    return c && c->rel.rtt.has_sample ? c->rel.rtt.smoothed * 1000 : 0;
}

void pl_dg_conn_stats_get(const pl_dg_conn *c, pl_dg_conn_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!c)
        return;
    const struct rel *r = &c->rel;
    out->cc = pl_cc_name(r->cc.algo);
    out->cwnd = r->cc.cwnd;
    out->ssthresh = r->cc.ssthresh;
    out->in_flight = r->cc.in_flight;
    out->srtt_ms = r->rtt.smoothed;
    out->rttvar_ms = r->rtt.var;
    out->min_rtt_ms = r->rtt.min;
    out->latest_rtt_ms = r->rtt.latest;
    out->packets_sent = r->n_sent;
    out->packets_lost = r->n_lost;
    out->retransmits = r->n_retx;
    out->packets_acked = r->n_acked;
    out->spurious = r->n_spurious;
    out->bytes_sent = r->bytes_sent;
    out->bytes_received = r->bytes_rx;
    out->congestion_events = r->cc.congestion_events;
    out->pto_count = r->pto_count;
    out->pacing_rate = pl_cc_pacing_rate(&r->cc, &r->rtt);
    out->path_validated = !r->validating;
}

/* ---- acknowledgement frames ------------------------------------------------------ */

/* The acknowledgement ranges of what we accepted (highest first), as many
 * as fit in `room` bytes. */
static void ack_build(const pl_dg_replay *w, pl_dg_ack *a, size_t room)
{
    a->n = 0;
    if (w->largest == PL_DG_PN_NONE)
        return;
    uint64_t i = 0,
             limit = w->largest + 1 < PL_DG_REPLAY_WINDOW ? w->largest + 1 : PL_DG_REPLAY_WINDOW;
    while (i < limit && a->n < PL_DG_ACK_RANGES) {
        /* skip zeros a word at a time */
        while (i < limit) {
            uint64_t word = w->bits[i / 64] >> (i % 64);
            if (word) {
                i += (uint64_t)__builtin_ctzll(word);
                break;
            }
            i = (i / 64 + 1) * 64;
        }
        if (i >= limit)
            break;
        uint64_t start = i;
        while (i < limit) {
            uint64_t word = ~w->bits[i / 64] >> (i % 64);
            if (i % 64 && word == 0) { /* ones to the end of the word */
                i = (i / 64 + 1) * 64;
                continue;
            }
            if (word) {
                i += (uint64_t)__builtin_ctzll(word);
                break;
            }
            i += 64;
        }
        if (i > limit)
            i = limit;
        a->r[a->n].hi = w->largest - start;
        a->r[a->n].lo = w->largest - (i - 1);
        a->n++;
        if (pl_dg_ack_len(a) > room) {
            a->n--;
            break;
        }
    }
}

static void write_ack(pl_wr *w, struct rel *r, size_t room)
{
    pl_dg_frame f = {.type = PL_DG_F_ACK};
    ack_build(&r->ackset, &f.ack, room);
    if (f.ack.n)
        pl_dg_frame_write(w, &f);
    r->ack_pending = 0;
    r->ack_at = UINT64_MAX;
}

/* ---- close ------------------------------------------------------------------------- */

static void send_close(pl_dg_conn *c)
{
    struct rel *r = &c->rel;
    uint8_t pt[PL_DG_PT_MAX];
    const char *reason = r->close_reason ? r->close_reason : "done";
    pl_wr w = pl_wr_init(pt, sizeof pt);
    write_ack(&w, r, 256);
    pl_dg_frame f = {.type = PL_DG_F_CLOSE,
                     .code = r->close_code,
                     .bytes = (const uint8_t *)reason,
                     .len = strlen(reason)};
    pl_dg_frame_write(&w, &f);
    int n = pl_wr_result(&w);
    if (n > 0)
        (void)send_now(c, NULL, pt, (size_t)n);
}

/* Our close is over: the peer answered, or we stopped asking. */
static void closed(pl_dg_conn *c, const char *why)
{
    c->state = C_CLOSED;
    pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_CLOSED, c);
    ev->why = why;
}

static bool all_acked(const struct rel *r)
{
    if (r->head || in_flight(r) || r->lost_len)
        return false;
    for (uint16_t i = 0; i < r->nchans; i++) {
        const struct chan *ch = r->chans[i];
        if (ch->s_acked != ch->s_end || (ch->s_fin && !ch->s_fin_acked))
            return false;
    }
    return true;
}

/* A shutdown begins once everything we sent was acknowledged: CLOSE, again
 * every probe timeout until the peer's CLOSE comes back. */
static void maybe_close(pl_dg_conn *c, uint64_t now_ms)
{
    struct rel *r = &c->rel;
    if (c->state != C_ESTABLISHED || !r->shutting || r->close_sent || !all_acked(r))
        return;
    r->close_sent = r->we_closed = true;
    pl_dg_rel_fail_requests(c, PL_ERR_CLOSED);
    send_close(c);
    r->close_tries = 1;
    r->close_at = now_ms + pto_ms(r);
}

int pl_dg_shutdown_reason(pl_dg_conn *c, uint64_t now_ms, uint64_t code, const char *reason)
{
    if (!c || !sendable(c) || (reason && strlen(reason) > PL_DG_REASON_MAX) ||
        code > PL_DG_VARINT_MAX)
        return PL_ERR_INVAL;
    if (now_ms > c->e->now_ms)
        c->e->now_ms = now_ms;
    struct rel *r = &c->rel;
    if (reason) {
        char *copy = strdup(reason);
        if (!copy)
            return PL_ERR_NOMEM;
        free(r->close_reason);
        r->close_reason = copy;
    }
    r->close_code = code;
    r->shutting = true;
    maybe_close(c, now_ms);
    pl_dg_conn_touch(c);
    return PL_OK;
}

int pl_dg_shutdown(pl_dg_conn *c, uint64_t now_ms)
{
    return pl_dg_shutdown_reason(c, now_ms, 0, NULL);
}

/* ---- sending --------------------------------------------------------------------- */

/* A data item chosen for the next packet. */
struct item {
    uint8_t kind;
    struct omsg *m; /* IT_MSG */
    uint32_t frag;
    uint16_t chan; /* IT_CHAN */
    uint64_t seg;
    bool retx;
};

static struct seg *seg_at(const struct chan *ch, uint64_t seq)
{
    return &ch->segs[seq & (ch->seg_cap - 1)];
}

/* A lost item still worth sending (not acknowledged meanwhile). */
static bool lost_valid(struct rel *r, const struct lost *l, struct item *it)
{
    if (l->kind == IT_MSG) {
        struct omsg *m = find_omsg(r, l->ref);
        if (!m || bit_get(m->acked, l->sub))
            return false;
        *it = (struct item){.kind = IT_MSG, .m = m, .frag = l->sub, .retx = true};
        return true;
    }
    if (l->kind == IT_CHAN && l->chan < r->nchans) {
        struct chan *ch = r->chans[l->chan];
        if (l->ref < ch->seg_head || l->ref >= ch->seg_tail ||
            seg_at(ch, l->ref)->state != SEG_LOST)
            return false;
        *it = (struct item){.kind = IT_CHAN, .chan = l->chan, .seg = l->ref, .retx = true};
        return true;
    }
    return false;
}

static bool pick_lost(struct rel *r, struct item *it)
{
    while (r->lost_len) {
        struct lost l = r->lost[r->lost_head];
        r->lost_head = (r->lost_head + 1) % r->lost_cap;
        r->lost_len--;
        if (lost_valid(r, &l, it))
            return true;
    }
    return false;
}

static bool pick_msg(struct rel *r, struct item *it)
{
    while (r->cur && r->cur->next_frag >= r->cur->nfrag)
        r->cur = r->cur->next;
    if (!r->cur || r->cur->id >= r->head->id + PL_DG_MSG_WINDOW)
        return false;
    *it = (struct item){.kind = IT_MSG, .m = r->cur, .frag = r->cur->next_frag};
    return true;
}

/* New bytes of channel slot i, within both credits: a segment of at most
 * `room` bytes (recorded when the packet is made). */
static bool chan_sendable(const struct rel *r, const struct chan *ch)
{
    bool fin_only = ch->s_fin && !ch->s_fin_sent && ch->s_sent == ch->s_end;
    if (ch->s_sent == ch->s_end && !fin_only)
        return false;
    if (!fin_only && (ch->s_sent >= ch->s_max || r->tx_data >= r->tx_max))
        return false; /* blocked by flow control */
    return ch->seg_tail - ch->seg_head < SENT_MAX;
}

static bool pick_chan(struct rel *r, uint16_t i, struct item *it)
{
    if (!chan_sendable(r, r->chans[i]))
        return false;
    *it = (struct item){.kind = IT_CHAN, .chan = i, .seg = UINT64_MAX};
    return true;
}

/* A channel with bytes to send and no credit for them. */
static bool flow_blocked(const struct rel *r)
{
    for (uint16_t i = 0; i < r->nchans; i++) {
        const struct chan *ch = r->chans[i];
        if (ch->s_sent < ch->s_end && (ch->s_sent >= ch->s_max || r->tx_data >= r->tx_max))
            return true;
    }
    return false;
}

/* More is expected from the peer: one of its channels has not ended, or
 * a request of ours waits for its reply. */
static bool awaiting(const pl_dg_conn *c)
{
    const struct rel *r = &c->rel;
    if (r->nreqs)
        return true;
    for (uint16_t i = 0; i < r->nchans; i++)
        if (r->chans[i]->peer_opened && r->chans[i]->r_fin_at == UINT64_MAX)
            return true;
    return false;
}

/* An ack-eliciting probe is due with nothing in flight: a keepalive, or,
 * when flow control blocks us, a sign of life after a probe timeout (the
 * peer's credit may be on its way to an address we no longer have). */
static uint64_t probe_at(const pl_dg_conn *c)
{
    const struct rel *r = &c->rel;
    uint64_t t = keepalive_ms(c) == UINT32_MAX ? UINT64_MAX : r->last_tx_at + keepalive_ms(c);
    if (flow_blocked(r)) {
        uint64_t b = r->last_tx_at + pto_ms(r);
        if (b < t)
            t = b;
    }
    /* A receiver whose peer went quiet in the middle of sending: its
     * packets may be going to an address we no longer have (a NAT
     * rebinding while we only acknowledged, and ACKs alone do not elicit
     * anything). A PING from here shows the peer our address. Every
     * STALL while the silence lasts, for at most PL_DG_DEAD_MS. */
    if (r->rx_data_at && awaiting(c)) {
        uint64_t stall = 2 * pto_ms(r) > STALL_MIN_MS ? 2 * pto_ms(r) : STALL_MIN_MS;
        uint64_t from = r->last_rx_at > r->last_tx_at ? r->last_rx_at : r->last_tx_at;
        if (r->rx_data_at + stall >= r->last_rx_at &&
            from + stall < r->last_rx_at + PL_DG_DEAD_MS && from + stall < t)
            t = from + stall;
    }
    return t;
}

/* New data: messages and channels take turns. */
static bool pick_new(struct rel *r, struct item *it)
{
    unsigned n = 1u + r->nchans;
    for (unsigned k = 0; k < n; k++) {
        unsigned i = (r->rr + k) % n;
        bool got = i == 0 ? pick_msg(r, it) : pick_chan(r, (uint16_t)(i - 1), it);
        if (got) {
            r->rr = (uint16_t)((i + 1) % n);
            return true;
        }
    }
    return false;
}

/* Record a new segment for channel slot i: up to `room` bytes. */
static bool seg_new(struct rel *r, uint16_t i, size_t room, uint64_t *seq)
{
    struct chan *ch = r->chans[i];
    if (ch->seg_tail - ch->seg_head == ch->seg_cap) {
        uint32_t cap = ch->seg_cap ? ch->seg_cap * 2 : 16;
        struct seg *n = malloc(cap * sizeof *n);
        if (!n)
            return false;
        for (uint64_t q = ch->seg_head; q < ch->seg_tail; q++)
            n[q & (cap - 1)] = *seg_at(ch, q);
        free(ch->segs);
        ch->segs = n;
        ch->seg_cap = cap;
    }
    uint64_t len = ch->s_end - ch->s_sent;
    if (len > room)
        len = room;
    if (len > ch->s_max - ch->s_sent)
        len = ch->s_max - ch->s_sent;
    if (len > r->tx_max - r->tx_data)
        len = r->tx_max - r->tx_data;
    struct seg *s = seg_at(ch, ch->seg_tail);
    s->off = ch->s_sent;
    s->len = (uint32_t)len;
    s->state = SEG_INFLIGHT;
    s->fin = ch->s_fin && ch->s_sent + len == ch->s_end;
    ch->s_sent += len;
    r->tx_data += len;
    if (s->fin)
        ch->s_fin_sent = true;
    *seq = ch->seg_tail++;
    return true;
}

/* A chosen item's frame. */
static void write_item(struct rel *r, pl_wr *w, struct item *it, uint8_t *scratch)
{
    if (it->kind == IT_MSG) {
        struct omsg *m = it->m;
        if (!it->retx)
            m->next_frag++;
        size_t off = (size_t)it->frag * PL_DG_FRAG;
        size_t n = m->len - off < PL_DG_FRAG ? m->len - off : PL_DG_FRAG;
        pl_dg_frame f = {.type = PL_DG_F_MSG,
                         .flags = m->flags,
                         .id = m->id,
                         .re = m->re,
                         .total = m->len,
                         .offset = off,
                         .bytes = m->len ? m->data + off : NULL,
                         .len = n};
        pl_dg_frame_write(w, &f);
    } else if (it->kind == IT_CHAN) {
        struct chan *ch = r->chans[it->chan];
        struct seg *s = seg_at(ch, it->seg);
        if (s->len)
            ring_get(ch->sbuf, PL_DG_CHAN_SENDBUF, s->off, scratch, s->len);
        s->state = SEG_INFLIGHT;
        pl_dg_frame f = {.type = PL_DG_F_CHAN,
                         .flags = s->fin ? PL_DG_CHAN_FIN : 0,
                         .id = ch->id,
                         .offset = s->off,
                         .bytes = scratch,
                         .len = s->len};
        pl_dg_frame_write(w, &f);
    } else if (it->kind == IT_DGRAM) {
        const uint8_t *slot = r->dq[r->dq_head];
        size_t len = (size_t)slot[0] << 8 | slot[1];
        pl_dg_frame f = {.type = PL_DG_F_DATAGRAM, .bytes = slot + 2, .len = len};
        pl_dg_frame_write(w, &f);
        r->dq_head = (r->dq_head + 1) % DGRAM_Q;
        r->dq_len--;
    } else if (it->kind == IT_PROBE) {
        pl_dg_frame f = {.type = PL_DG_F_PING, .token = 0};
        pl_dg_frame_write(w, &f);
    }
}

static bool ctrl_due(const struct rel *r, uint16_t *max_chan)
{
    for (uint16_t i = 0; i < r->nchans; i++)
        if (r->chans[i]->max_due) {
            *max_chan = i;
            return true;
        }
    *max_chan = UINT16_MAX;
    return r->max_data_due;
}

#define ITEM_ROOM   PL_DG_FRAG /* bytes of a message fragment or a channel segment */
#define ACK_ROOM    120        /* an ACK frame beside a full item */
#define ITEM_HEADER 40         /* frame headers of an item at most */

/* The packet ring has a slot for one more ack-eliciting packet. */
static bool ring_room(const pl_dg_conn *c)
{
    return !c->rel.sent || c->next_pn - c->rel.sent_lo < SENT_MAX;
}

/* Room for both probes of a probe timeout. */
static bool probe_room(const pl_dg_conn *c)
{
    return !c->rel.sent || c->next_pn + 2 - c->rel.sent_lo <= SENT_MAX;
}

/* An unvalidated path gets at most AMPLIFY times what came from it. */
static bool amplify_room(const struct rel *r, size_t bytes)
{
    return !r->validating || r->path_tx + bytes <= AMPLIFY * r->path_rx;
}

/* An ack-eliciting packet of `bytes` may go, pacing aside: the ring has
 * room, the path's amplification limit allows it, and the congestion
 * window does (or a probe is owed, which ignores the window). */
static bool may_elicit(const pl_dg_conn *c, size_t bytes)
{
    const struct rel *r = &c->rel;
    return ring_room(c) && amplify_room(r, bytes) &&
           (r->probes > 0 || pl_cc_can_send(&r->cc, bytes));
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
    bool ack_due = r->ack_pending && (r->ack_pending >= ACK_EVERY || now_ms >= r->ack_at);
    uint16_t max_chan;
    bool ctrl = ctrl_due(r, &max_chan);
    bool challenge = r->validating && r->challenge_due;
    bool response = r->response_due;

    /* May an ack-eliciting packet go now? */
    bool room = ring_room(c);
    bool amplify_small = amplify_room(r, SMALL_PACKET);
    bool window =
        may_elicit(c, PL_DG_PACKET_MAX) &&
        (r->probes > 0 || pl_cc_pace_at(&r->cc, now_ms, &r->rtt, PL_DG_PACKET_MAX) <= now_ms);
    struct item it = {.kind = IT_NONE};
    if (window) {
        if (!pick_lost(r, &it)) {
            if (r->dq_len)
                it.kind = IT_DGRAM;
            else if (!pick_new(r, &it) &&
                     (r->probes > 0 || (!in_flight(r) && now_ms >= probe_at(c))))
                it.kind = IT_PROBE;
        }
    }
    if (!room || !amplify_small)
        ctrl = challenge = false;
    if (!amplify_small)
        ack_due = response = false;
    if (!ack_due && !ctrl && !challenge && !response && it.kind == IT_NONE)
        return 0;
    if ((it.kind != IT_NONE || ctrl || challenge) && !sent_room(c, c->next_pn)) {
        if (it.kind == IT_CHAN && it.retx) /* (allocation failed) it goes again later */
            (void)lost_push(r, (struct lost){IT_CHAN, it.chan, 0, it.seg});
        else if (it.kind == IT_MSG && it.retx)
            (void)lost_push(r, (struct lost){IT_MSG, 0, it.frag, it.m->id});
        return PL_ERR_NOMEM;
    }

    uint8_t pt[PL_DG_PT_MAX];
    uint8_t scratch[ITEM_ROOM];
    pl_wr w = pl_wr_init(pt, sizeof pt);
    /* An ack-eliciting packet carries an ACK even when none is due: a
     * lost ACK-only packet is not retransmitted, and on a lossy path the
     * peer's probes would otherwise go unanswered until our next one. */
    if (r->ack_pending || (it.kind != IT_NONE && r->ackset.largest != PL_DG_PN_NONE))
        write_ack(&w, r, it.kind == IT_NONE ? 400 : ACK_ROOM);
    uint8_t ctrl_bits = 0;
    uint16_t ctrl_chan = 0;
    if (ctrl && r->max_data_due) {
        pl_dg_frame f = {.type = PL_DG_F_MAX_DATA, .max = r->rx_max};
        pl_dg_frame_write(&w, &f);
        r->max_data_due = false;
        ctrl_bits |= CTRL_MAX_DATA;
    }
    if (ctrl && max_chan != UINT16_MAX) {
        struct chan *ch = r->chans[max_chan];
        pl_dg_frame f = {.type = PL_DG_F_MAX_CHAN, .id = ch->id, .max = ch->r_max};
        pl_dg_frame_write(&w, &f);
        ch->max_due = false;
        ctrl_bits |= CTRL_MAX_CHAN;
        ctrl_chan = max_chan;
    }
    if (challenge) {
        pl_dg_frame f = {.type = PL_DG_F_PATH_CHALLENGE, .token = r->challenge};
        pl_dg_frame_write(&w, &f);
        r->challenge_due = false;
        r->challenge_at = now_ms + pto_ms(r);
    }
    if (response) {
        pl_dg_frame f = {.type = PL_DG_F_PATH_RESPONSE, .token = r->response};
        pl_dg_frame_write(&w, &f);
        r->response_due = false;
    }
    if (it.kind == IT_CHAN && it.seg == UINT64_MAX) {
        size_t left = sizeof pt - (size_t)pl_wr_result(&w) - ITEM_HEADER;
        if (!seg_new(r, it.chan, left < ITEM_ROOM ? left : ITEM_ROOM, &it.seg))
            it.kind = IT_NONE;
    }
    if (it.kind != IT_NONE)
        write_item(r, &w, &it, scratch);
    int n = pl_wr_result(&w);
    if (n < 0) {
        return PL_ERR_INTERNAL;
    }
    if (n == 0)
        return 0;
    uint64_t pn;
    int k = pl_dg_seal_packet(c, pt, (size_t)n, out, &pn);
    if (k < 0)
        return k;
    bool eliciting = it.kind != IT_NONE || ctrl_bits || challenge;
    if (eliciting) {
        if (!in_flight(r)) /* waiting for the peer starts now */
            r->progress_at = now_ms;
        struct sent *s = sent_at(r, pn);
        *s = (struct sent){.pn = pn,
                           .at = now_ms,
                           .bytes = (uint16_t)k,
                           .kind = it.kind,
                           .ctrl = ctrl_bits,
                           .chan = it.kind == IT_CHAN ? it.chan : ctrl_chan};
        if (it.kind == IT_MSG) {
            s->ref = it.m->id;
            s->sub = it.frag;
        } else if (it.kind == IT_CHAN) {
            s->ref = it.seg;
        }
        pl_cc_on_sent(&r->cc, now_ms, (size_t)k);
        r->last_eliciting_at = r->last_tx_at = now_ms;
        r->n_sent++;
        if (it.retx) {
            r->n_retx++;
            c->e->st.retransmits++;
        }
        if (r->probes)
            r->probes--;
    }
    if (r->validating)
        r->path_tx += (uint64_t)k;
    r->bytes_sent += (uint64_t)k;
    return k;
}

/* ---- acknowledgements and loss ------------------------------------------------ */

static void item_lost(pl_dg_conn *c, struct sent *s)
{
    struct rel *r = &c->rel;
    if (s->kind == IT_MSG) {
        struct omsg *m = find_omsg(r, s->ref);
        if (m && !bit_get(m->acked, s->sub))
            (void)lost_push(r, (struct lost){IT_MSG, 0, s->sub, s->ref});
    } else if (s->kind == IT_CHAN && s->chan < r->nchans) {
        struct chan *ch = r->chans[s->chan];
        if (s->ref >= ch->seg_head && s->ref < ch->seg_tail) {
            struct seg *g = seg_at(ch, s->ref);
            if (g->state == SEG_INFLIGHT) {
                g->state = SEG_LOST;
                (void)lost_push(r, (struct lost){IT_CHAN, s->chan, 0, s->ref});
            }
        }
    }
    if ((s->ctrl & CTRL_MAX_DATA))
        r->max_data_due = true;
    if ((s->ctrl & CTRL_MAX_CHAN) && s->chan < r->nchans)
        r->chans[s->chan]->max_due = true;
}

static void lose(pl_dg_conn *c, struct sent *s, uint64_t now_ms)
{
    struct rel *r = &c->rel;
    item_lost(c, s);
    pl_cc_on_lost(&r->cc, now_ms, s->at, s->bytes);
    r->n_lost++;
    r->recent_lost[r->recent_next++ % 16] = s->pn + 1; /* (+1: 0 means none) */
    s->bytes = 0;
}

static void detect_lost(pl_dg_conn *c, uint64_t now_ms)
{
    struct rel *r = &c->rel;
    if (r->largest_acked == PL_DG_PN_NONE || !r->sent)
        return;
    uint64_t delay = loss_delay(r);
    uint64_t first_at = UINT64_MAX, last_at = 0;
    unsigned nlost = 0;
    for (uint64_t p = r->sent_lo; p < r->largest_acked; p++) {
        struct sent *s = sent_live(r, p);
        if (!s)
            continue;
        if (p + r->reorder_pkts <= r->largest_acked || s->at + delay <= now_ms) {
            if (s->at < first_at)
                first_at = s->at;
            if (s->at > last_at)
                last_at = s->at;
            nlost++;
            lose(c, s, now_ms);
        }
    }
    /* persistent congestion (RFC 9002 §7.6): losses spanning more than
     * three probe timeouts with nothing acknowledged in between */
    if (nlost >= 2 && r->rtt.has_sample && last_at - first_at > PERSISTENT_PTOS * pto_base(r) &&
        r->largest_acked_at < first_at) {
        pl_cc_on_persistent(&r->cc);
    }
    sent_trim(c);
}

static void seg_acked(pl_dg_conn *c, const struct sent *s)
{
    struct rel *r = &c->rel;
    if (s->chan >= r->nchans)
        return;
    struct chan *ch = r->chans[s->chan];
    if (s->ref < ch->seg_head || s->ref >= ch->seg_tail)
        return;
    struct seg *g = seg_at(ch, s->ref);
    if (g->state == SEG_ACKED)
        return;
    g->state = SEG_ACKED;
    while (ch->seg_head < ch->seg_tail && seg_at(ch, ch->seg_head)->state == SEG_ACKED) {
        struct seg *h = seg_at(ch, ch->seg_head);
        ch->s_acked = h->off + h->len;
        if (h->fin)
            ch->s_fin_acked = true;
        ch->seg_head++;
    }
    if (ch->s_blocked && sbuf_room(ch) >= PL_DG_CHAN_SENDBUF / 4) {
        ch->s_blocked = false;
        pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_WRITABLE, c);
        ev->id = ch->id;
    }
    if (ch->s_acked == ch->s_end && ch->seg_head == ch->seg_tail && ch->sbuf &&
        (ch->s_fin_acked || !ch->s_fin)) {
        /* everything acknowledged: the buffer comes back at the next write */
        free(ch->sbuf);
        ch->sbuf = NULL;
    }
}

/* Packets declared lost lately that this ACK covers were not lost: the
 * path reorders. Widen the thresholds (RACK's reordering window, in
 * spirit: RFC 8985 §6.2) and let the controller undo a reduction that
 * only reordering caused. */
static void spurious(pl_dg_conn *c, const pl_dg_ack *a)
{
    struct rel *r = &c->rel;
    for (unsigned i = 0; i < 16; i++) {
        if (!r->recent_lost[i])
            continue;
        uint64_t pn = r->recent_lost[i] - 1;
        for (size_t k = 0; k < a->n; k++) {
            if (pn < a->r[k].lo || pn > a->r[k].hi)
                continue;
            r->recent_lost[i] = 0;
            r->n_spurious++;
            uint64_t dist = r->largest_acked != PL_DG_PN_NONE && r->largest_acked > pn
                                ? r->largest_acked - pn + 1
                                : PKT_THRESHOLD;
            if (dist > r->reorder_pkts)
                r->reorder_pkts = dist < REORDER_PKTS_MAX ? (uint32_t)dist : REORDER_PKTS_MAX;
            if (r->reorder_eighths < 16)
                r->reorder_eighths += 2;
            pl_cc_on_spurious(&r->cc, 0);
            break;
        }
    }
}

static void on_ack(pl_dg_conn *c, uint64_t now_ms, const pl_dg_ack *a)
{
    struct rel *r = &c->rel;
    bool newly = false;
    if (r->sent) {
        for (size_t k = 0; k < a->n; k++) {
            uint64_t lo = a->r[k].lo > r->sent_lo ? a->r[k].lo : r->sent_lo;
            for (uint64_t p = lo; p <= a->r[k].hi && p < c->next_pn; p++) {
                struct sent *s = sent_live(r, p);
                if (!s)
                    continue;
                if (p == a->r[0].hi && now_ms >= s->at)
                    pl_rtt_sample(&r->rtt, now_ms - s->at);
                if (s->kind == IT_MSG) {
                    struct omsg *m = find_omsg(r, s->ref);
                    if (m && !bit_get(m->acked, s->sub)) {
                        bit_set(m->acked, s->sub);
                        m->nacked++;
                    }
                } else if (s->kind == IT_CHAN) {
                    seg_acked(c, s);
                }
                pl_cc_on_acked(&r->cc, now_ms, s->at, s->bytes, &r->rtt);
                s->bytes = 0;
                r->n_acked++;
                newly = true;
            }
        }
    }
    spurious(c, a);
    if (r->largest_acked == PL_DG_PN_NONE || a->r[0].hi > r->largest_acked)
        r->largest_acked = a->r[0].hi;
    if (newly) {
        r->progress_at = now_ms;
        r->largest_acked_at = now_ms;
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
    for (uint16_t i = r->nchans; i-- > 0;)
        chan_maybe_drop(r, i);
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

/* Tell the application about channels with bytes (or an end) to read. */
static void signal_readable(pl_dg_conn *c)
{
    struct rel *r = &c->rel;
    for (uint16_t i = 0; i < r->nchans; i++) {
        struct chan *ch = r->chans[i];
        if (ch->rd_signaled || ch->r_fin_read ||
            (ch->r_contig == ch->r_read && ch->r_fin_at != ch->r_read))
            continue;
        if (c->e->ev_len >= EVQ_DELIVER) {
            c->e->deliver_blocked = true;
            return;
        }
        ch->rd_signaled = true;
        pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_READABLE, c);
        ev->id = ch->id;
    }
}

void pl_dg_rel_deliver(pl_dg_conn *c)
{
    pl_dg_engine *e = c->e;
    struct rel *r = &c->rel;
    signal_readable(c);
    for (;;) {
        if (!r->in)
            return;
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
    if (!r->in) {
        r->in = calloc(PL_DG_MSG_WINDOW, sizeof *r->in);
        if (!r->in)
            return false;
    }
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
    if (token == 0)
        return; /* a keepalive's */
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
    ev->id = f->code;
    ev->len = f->len < sizeof ev->data ? f->len : sizeof ev->data;
    if (ev->len)
        memcpy(ev->data, f->bytes, ev->len);
}

/* The peer's packets come from somewhere new (docs/protocol.md §9.10):
 * answer there at once, but at most AMPLIFY times what it sent until it
 * echoes a challenge; no echo by the deadline, and the old path is back. */
static void path_move(pl_dg_conn *c, uint64_t now_ms, const pl_dg_addr *from)
{
    struct rel *r = &c->rel;
    if (!r->validating)
        r->prev_addr = c->addr;
    bool rebinding = host_same(&c->addr, from);
    c->addr = *from;
    c->e->st.migrations++;
    if (r->validating && addr_same(&r->prev_addr, from)) {
        r->validating = false; /* back where we were: known good */
        return;
    }
    r->validating = true;
    r->challenge_due = true;
    r->path_rx = r->path_tx = 0;
    if (pl_dg_draw(c->e, (uint8_t *)&r->challenge, sizeof r->challenge) != PL_OK)
        r->challenge = now_ms ^ 0x5a5a5a5a5a5a5a5aULL;
    uint64_t t = 3 * pto_ms(r);
    r->validate_until = now_ms + (t > VALIDATE_MIN_MS ? t : VALIDATE_MIN_MS);
    if (!rebinding) {
        /* another network: what we learned of the old path says nothing */
        uint64_t flying = r->cc.in_flight;
        pl_cc_init(&r->cc, r->cc.algo, PL_DG_PACKET_MAX);
        r->cc.cwnd_max = CWND_MAX;
        r->cc.in_flight = flying;
        pl_rtt_init(&r->rtt, RTT_INITIAL_MS);
    }
}

void pl_dg_rel_input(pl_dg_conn *c, uint64_t now_ms, uint64_t pn, bool newest,
                     const pl_dg_addr *from, const uint8_t *pt, size_t len)
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
    r->last_rx_at = now_ms;
    r->bytes_rx += len + PL_DG_TAGLEN;
    if (from && !addr_same(from, &c->addr)) {
        if (!newest)
            return; /* an old packet by another way: no move, no answer */
        path_move(c, now_ms, from);
    }
    if (r->validating) /* the datagram's size: header, packet number (at least 1), tag */
        r->path_rx += 1 + PL_DG_CID_LEN + 1 + len + PL_DG_TAGLEN;
    pl_rd rd = pl_rd_init(pt, len);
    bool eliciting = false, accepted = true;
    while (pl_rd_left(&rd)) {
        pl_dg_frame f;
        const char *why = NULL;
        if (pl_dg_frame_read(&rd, &f, &why) != PL_OK) {
            pl_dg_conn_fail(c, PL_ERR_PARSE, why);
            return;
        }
        if (f.type != PL_DG_F_ACK && f.type != PL_DG_F_PADDING)
            eliciting = true;
        switch (f.type) {
        case PL_DG_F_ACK:
            if (f.ack.r[0].hi >= c->next_pn) {
                pl_dg_conn_fail(c, PL_ERR_PARSE, "the peer acknowledged a packet never sent");
                return;
            }
            on_ack(c, now_ms, &f.ack);
            break;
        case PL_DG_F_MSG:
            r->rx_data_at = now_ms;
            if (!on_msg(c, &f)) {
                accepted = false;
            }
            break;
        case PL_DG_F_CHAN:
            r->rx_data_at = now_ms;
            if (!on_chan(c, &f))
                accepted = false;
            break;
        case PL_DG_F_MAX_DATA:
            if (f.max > r->tx_max)
                r->tx_max = f.max;
            break;
        case PL_DG_F_MAX_CHAN: {
            struct chan *ch = chan_find(r, f.id, NULL);
            if (ch && f.max > ch->s_max)
                ch->s_max = f.max;
            break;
        }
        case PL_DG_F_PATH_CHALLENGE:
            r->response = f.token;
            r->response_due = true;
            break;
        case PL_DG_F_PATH_RESPONSE:
            if (r->validating && f.token == r->challenge) {
                r->validating = false;
                pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_PATH, c);
                ev->addr = c->addr;
            }
            break;
        case PL_DG_F_PING: {
            uint8_t out[1 + 8];
            pl_wr w = pl_wr_init(out, sizeof out);
            pl_dg_frame p = {.type = PL_DG_F_PONG, .token = f.token};
            pl_dg_frame_write(&w, &p);
            if (f.token && pl_wr_result(&w) > 0)
                (void)send_now(c, NULL, out, sizeof out);
            break;
        }
        case PL_DG_F_PONG: on_pong(c, now_ms, f.token); break;
        case PL_DG_F_CLOSE: on_close(c, &f); return;
        case PL_DG_F_DATAGRAM: {
            pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_DATA, c);
            ev->len = f.len < sizeof ev->data ? f.len : sizeof ev->data;
            if (ev->len)
                memcpy(ev->data, f.bytes, ev->len);
            break;
        }
        default: break; /* PADDING */
        }
        if (c->state != C_ESTABLISHED)
            return;
    }
    if (accepted) {
        /* out of order, or after a gap: acknowledge at once (RFC 9000
         * §13.2.1), so a loss is seen (and a probe answered) quickly */
        bool gap = r->ackset.largest != PL_DG_PN_NONE &&
                   (pn < r->ackset.largest || pn > r->ackset.largest + 1);
        pl_dg_replay_mark(&r->ackset, pn);
        if (eliciting) {
            r->ack_pending = gap ? ACK_EVERY : r->ack_pending + 1;
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

/* The earliest time-threshold loss among packets below the largest
 * acknowledged (RFC 9002 §6.1.2), UINT64_MAX: none. */
static uint64_t loss_time(const struct rel *r)
{
    if (r->largest_acked == PL_DG_PN_NONE || !r->sent)
        return UINT64_MAX;
    uint64_t d = loss_delay(r);
    for (uint64_t p = r->sent_lo; p < r->largest_acked; p++) {
        const struct sent *s = sent_live(r, p);
        if (s)
            return s->at + d; /* the oldest decides */
    }
    return UINT64_MAX;
}

void pl_dg_rel_timer(pl_dg_conn *c, uint64_t now_ms)
{
    struct rel *r = &c->rel;
    if (c->state == C_FAILED || c->state == C_CLOSED)
        return;
    if (c->state == C_ESTABLISHED) {
        if (loss_time(r) <= now_ms)
            detect_lost(c, now_ms);
        ring_release(c, now_ms);
        if (in_flight(r) && now_ms >= r->last_eliciting_at + pto_ms(r) && r->probes == 0) {
            /* a probe timeout: two probes, outside the window */
            r->probes = 2;
            if (r->pto_count < PTO_BACKOFF_MAX)
                r->pto_count++;
            /* the two oldest unacknowledged items go again first */
            unsigned queued = 0;
            for (uint64_t p = r->sent_lo; r->sent && p < c->next_pn && queued < 2; p++) {
                struct sent *s = sent_live(r, p);
                if (s && (s->kind == IT_MSG || s->kind == IT_CHAN)) {
                    struct lost l = {s->kind, s->chan, s->sub, s->ref};
                    if (s->kind == IT_CHAN && s->chan < r->nchans) {
                        struct chan *ch = r->chans[s->chan];
                        if (s->ref >= ch->seg_head && s->ref < ch->seg_tail &&
                            seg_at(ch, s->ref)->state == SEG_INFLIGHT)
                            seg_at(ch, s->ref)->state = SEG_LOST;
                    }
                    (void)lost_push(r, l);
                    queued++;
                }
            }
            /* a full ring has no slot for the probes: its oldest packets,
             * a ring's length behind, are presumed lost */
            for (uint64_t p = r->sent_lo; r->sent && p < c->next_pn && !probe_room(c); p++) {
                struct sent *s = sent_live(r, p);
                if (s)
                    lose(c, s, now_ms);
                sent_trim(c);
            }
            r->last_eliciting_at = now_ms; /* the next PTO counts from the probes */
        }
        if ((in_flight(r) || r->lost_len) && now_ms >= r->progress_at + PL_DG_DEAD_MS) {
            pl_dg_conn_fail(c, PL_ERR_UNREACHABLE, "the peer stopped acknowledging");
            return;
        }
        if (idle_ms(c) != UINT32_MAX && now_ms >= r->last_rx_at + idle_ms(c)) {
            c->state = C_CLOSED;
            pl_dg_rel_fail_requests(c, PL_ERR_UNREACHABLE);
            pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_CLOSED, c);
            ev->err = PL_ERR_TIMEOUT;
            ev->why = "idle: nothing heard from the peer";
            return;
        }
        if (r->validating) {
            if (now_ms >= r->validate_until) {
                /* the new path never answered: back to the old one */
                c->addr = r->prev_addr;
                r->validating = false;
                pl_dg_event *ev = pl_dg_push_event(c->e, PL_DG_EV_PATH, c);
                ev->err = PL_ERR_TIMEOUT;
                ev->why = "the peer's new address did not answer a path challenge";
                ev->addr = c->addr;
            } else if (now_ms >= r->challenge_at) {
                r->challenge_due = true;
            }
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

/* New message fragments to send (what pick_msg would find). */
static bool msg_ready(const struct rel *r)
{
    const struct omsg *m = r->cur;
    while (m && m->next_frag >= m->nfrag)
        m = m->next;
    return m && m->id < r->head->id + PL_DG_MSG_WINDOW;
}

static void earliest(uint64_t *d, uint64_t t)
{
    if (t < *d)
        *d = t;
}

uint64_t pl_dg_rel_deadline(const pl_dg_conn *c)
{
    const struct rel *r = &c->rel;
    uint64_t d = UINT64_MAX;
    if (c->state == C_FAILED || c->state == C_CLOSED)
        return d;
    if (c->state == C_ESTABLISHED) {
        if (r->ack_pending)
            earliest(&d, r->ack_at);
        earliest(&d, loss_time(r));
        if (in_flight(r)) {
            if (r->probes == 0) /* (owed probes wait for output, not for time) */
                earliest(&d, r->last_eliciting_at + pto_ms(r));
            earliest(&d, r->progress_at + PL_DG_DEAD_MS);
        } else {
            earliest(&d, probe_at(c));
        }
        /* data waiting for pacing; the window, the packet ring and the
         * amplification limit are opened by an ACK or a PTO, not by time */
        bool data = r->lost_len || r->dq_len || msg_ready(r);
        for (uint16_t i = 0; !data && i < r->nchans; i++)
            data = chan_sendable(r, r->chans[i]);
        if (data && may_elicit(c, PL_DG_PACKET_MAX)) {
            pl_cc cc = r->cc;
            earliest(&d, pl_cc_pace_at(&cc, c->e->now_ms, &r->rtt, PL_DG_PACKET_MAX));
        }
        if (idle_ms(c) != UINT32_MAX)
            earliest(&d, r->last_rx_at + idle_ms(c));
        if (ring_idle(c))
            earliest(&d, r->last_tx_at + RING_IDLE_MS);
        if (c->tx.evp || c->rx.evp)
            earliest(&d, last_traffic(r) + RING_IDLE_MS);
        if (r->validating) {
            earliest(&d, r->validate_until);
            earliest(&d, r->challenge_at);
        }
        if (r->we_closed)
            earliest(&d, r->close_at);
    }
    for (size_t i = 0; i < r->nreqs; i++)
        earliest(&d, r->reqs[i].deadline);
    return d;
}
