/* sim.c - the deterministic network simulator; the model is in sim.h. */
#include "sim.h"

#include <stdlib.h>
#include <string.h>

typedef struct event {
    uint64_t at, seq;
    sim_addr from, to; /* as on the wire: after the sender's NAT */
    size_t len;
    uint8_t data[];
} event;

typedef struct node {
    sim_addr addr;
    sim_node_ops ops;
    void *ctx;
    uint64_t timer_at, timer_seq; /* one timer per node, replaced in place */
} node;

typedef struct link {
    sim_addr from, to;
    sim_link l;
} link;

typedef struct nat {
    sim_addr inside, outside;
    int eim_filter;
    int used; /* the inside has sent since the last (re)binding */
    sim_addr peers[SIM_NAT_PEERS];
    unsigned npeers, next;
} nat;

struct sim {
    uint64_t now, seq, rng;
    event **heap; /* min-heap on (at, seq) */
    size_t nheap;
    node nodes[SIM_MAX_NODES];
    size_t nnodes;
    link links[SIM_MAX_LINKS];
    size_t nlinks;
    sim_link dflt;
    nat nats[SIM_MAX_NATS];
    size_t nnats;
    sim_capture_fn capture;
    void *capture_ctx;
    sim_stats_t st;
    int running;
    uint64_t queue_free_us; /* the bottleneck: when its queue is empty again */
};

/* ---- randomness: splitmix64 ------------------------------------------ */

static uint64_t rnd(sim *s)
{
    uint64_t z = (s->rng += 0x9e3779b97f4a7c15u);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9u;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebu;
    return z ^ (z >> 31);
}

/* True with probability p; p <= 0 draws nothing. */
static int chance(sim *s, double p)
{
    if (p <= 0)
        return 0;
    return (double)(rnd(s) >> 11) * (1.0 / 9007199254740992.0) < p;
}

/* Uniform in [0, n] (the modulo bias is below 2^-32 for our n). */
static uint64_t upto(sim *s, uint64_t n)
{
    return n == 0 ? 0 : rnd(s) % (n + 1);
}

/* ---- addresses -------------------------------------------------------- */

sim_addr sim_addr_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port)
{
    sim_addr x = {.len = 6, .b = {a, b, c, d, (uint8_t)(port >> 8), (uint8_t)port}};
    return x;
}

int sim_addr_eq(const sim_addr *x, const sim_addr *y)
{
    return x->len == y->len && memcmp(x->b, y->b, x->len) == 0;
}

static node *node_at(sim *s, const sim_addr *a)
{
    for (size_t i = 0; i < s->nnodes; i++)
        if (sim_addr_eq(&s->nodes[i].addr, a))
            return &s->nodes[i];
    return NULL;
}

static nat *nat_inside(sim *s, const sim_addr *a)
{
    for (size_t i = 0; i < s->nnats; i++)
        if (sim_addr_eq(&s->nats[i].inside, a))
            return &s->nats[i];
    return NULL;
}

static nat *nat_outside(sim *s, const sim_addr *a)
{
    for (size_t i = 0; i < s->nnats; i++)
        if (sim_addr_eq(&s->nats[i].outside, a))
            return &s->nats[i];
    return NULL;
}

/* ---- the event heap --------------------------------------------------- */

static int before(const event *a, const event *b)
{
    return a->at < b->at || (a->at == b->at && a->seq < b->seq);
}

static void heap_push(sim *s, event *e)
{
    size_t i = s->nheap++;
    while (i > 0 && before(e, s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = e;
}

static event *heap_pop(sim *s)
{
    event *top = s->heap[0], *last = s->heap[--s->nheap];
    size_t i = 0, n = s->nheap;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n)
            break;
        if (c + 1 < n && before(s->heap[c + 1], s->heap[c]))
            c++;
        if (!before(s->heap[c], last))
            break;
        s->heap[i] = s->heap[c];
        i = c;
    }
    if (n > 0)
        s->heap[i] = last;
    return top;
}

/* ---- setup ------------------------------------------------------------ */

sim *sim_new(uint64_t seed)
{
    sim *s = calloc(1, sizeof *s);
    if (s == NULL)
        return NULL;
    s->heap = calloc(SIM_MAX_EVENTS, sizeof *s->heap);
    if (s->heap == NULL) {
        free(s);
        return NULL;
    }
    s->rng = seed;
    return s;
}

void sim_free(sim *s)
{
    if (s == NULL)
        return;
    for (size_t i = 0; i < s->nheap; i++)
        free(s->heap[i]);
    free(s->heap);
    free(s);
}

static void ask_deadline(sim *s, node *n)
{
    uint64_t d = n->ops.deadline ? n->ops.deadline(n->ctx) : UINT64_MAX;
    n->timer_at = d == UINT64_MAX ? d : (d < s->now ? s->now : d);
    n->timer_seq = s->seq++;
}

int sim_add_node(sim *s, const sim_addr *addr, const sim_node_ops *ops, void *ctx)
{
    if (s->nnodes == SIM_MAX_NODES || node_at(s, addr) != NULL)
        return -1;
    node *n = &s->nodes[s->nnodes];
    n->addr = *addr;
    n->ops = *ops;
    n->ctx = ctx;
    ask_deadline(s, n);
    return (int)s->nnodes++;
}

void sim_kick(sim *s, int id)
{
    if (id >= 0 && (size_t)id < s->nnodes)
        ask_deadline(s, &s->nodes[id]);
}

void sim_set_default_link(sim *s, const sim_link *l)
{
    s->dflt = *l;
}

int sim_set_link(sim *s, const sim_addr *from, const sim_addr *to, const sim_link *l)
{
    for (size_t i = 0; i < s->nlinks; i++) {
        if (sim_addr_eq(&s->links[i].from, from) && sim_addr_eq(&s->links[i].to, to)) {
            s->links[i].l = *l;
            return 0;
        }
    }
    if (s->nlinks == SIM_MAX_LINKS)
        return -1;
    s->links[s->nlinks++] = (link){.from = *from, .to = *to, .l = *l};
    return 0;
}

int sim_add_nat(sim *s, const sim_addr *inside, const sim_addr *outside, int endpoint_independent)
{
    if (s->nnats == SIM_MAX_NATS || nat_inside(s, inside) != NULL)
        return -1;
    nat *t = &s->nats[s->nnats++];
    memset(t, 0, sizeof *t);
    t->inside = *inside;
    t->outside = *outside;
    t->eim_filter = endpoint_independent != 0;
    return 0;
}

int sim_nat_rebind(sim *s, const sim_addr *inside, const sim_addr *new_outside)
{
    nat *t = nat_inside(s, inside);
    if (t == NULL)
        return -1;
    t->outside = *new_outside;
    t->used = 0;
    t->npeers = t->next = 0;
    return 0;
}

void sim_set_capture(sim *s, sim_capture_fn fn, void *ctx)
{
    s->capture = fn;
    s->capture_ctx = ctx;
}

uint64_t sim_now(const sim *s)
{
    return s->now;
}

void sim_stats(const sim *s, sim_stats_t *out)
{
    *out = s->st;
}

/* ---- sending: the link decides at send time --------------------------- */

static const sim_link *link_for(sim *s, const sim_addr *from, const sim_addr *to)
{
    const nat *t = nat_outside(s, to);
    if (t != NULL)
        to = &t->inside; /* links join hosts, whatever their NAT's binding */
    for (size_t i = 0; i < s->nlinks; i++)
        if (sim_addr_eq(&s->links[i].from, from) && sim_addr_eq(&s->links[i].to, to))
            return &s->links[i].l;
    return &s->dflt;
}

static void nat_remember(nat *t, const sim_addr *peer)
{
    t->used = 1;
    for (unsigned i = 0; i < t->npeers; i++)
        if (sim_addr_eq(&t->peers[i], peer))
            return;
    t->peers[t->next] = *peer;
    t->next = (t->next + 1) % SIM_NAT_PEERS;
    if (t->npeers < SIM_NAT_PEERS)
        t->npeers++;
}

static void enqueue(sim *s, const sim_link *l, const sim_addr *from, const sim_addr *to,
                    const uint8_t *data, size_t len)
{
    if (s->nheap == SIM_MAX_EVENTS) {
        s->st.refused++;
        return;
    }
    event *e = malloc(sizeof *e + len);
    if (e == NULL) {
        s->st.refused++;
        return;
    }
    e->at = s->now + l->delay_ms + upto(s, l->jitter_ms);
    if (l->rate_kbps) {
        /* serialised behind what is queued: rate_kbps bits per ms */
        uint64_t now_us = s->now * 1000,
                 start = s->queue_free_us > now_us ? s->queue_free_us : now_us;
        uint64_t backlog = (start - now_us) * l->rate_kbps / 8000; /* bytes queued */
        if (backlog + len > l->queue_bytes) {
            s->st.dropped_queue++;
            free(e);
            return;
        }
        s->queue_free_us = start + ((uint64_t)len * 8000 + l->rate_kbps - 1) / l->rate_kbps;
        e->at += (s->queue_free_us + 999) / 1000 - s->now;
    }
    if (chance(s, l->reorder))
        e->at += l->reorder_ms;
    e->seq = s->seq++;
    e->from = *from;
    e->to = *to;
    e->len = len;
    if (len > 0)
        memcpy(e->data, data, len);
    if (chance(s, l->corrupt) && len > 0) {
        uint64_t bit = upto(s, (uint64_t)len * 8 - 1);
        e->data[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        s->st.corrupted++;
    }
    heap_push(s, e);
}

void sim_send(sim *s, const sim_addr *from, const sim_addr *to, const uint8_t *data, size_t len)
{
    const sim_link *l = link_for(s, from, to);
    s->st.sent++;
    if (len > SIM_MAX_DGRAM) {
        s->st.refused++;
        return;
    }
    nat *t = nat_inside(s, from);
    if (t != NULL) { /* the mapping exists once the datagram leaves the host */
        nat_remember(t, to);
        from = &t->outside;
    }
    if (s->now >= l->down_from_ms && s->now < l->down_until_ms) {
        s->st.dropped_blackout++;
        return;
    }
    if (l->mtu != 0 && len > l->mtu) {
        s->st.dropped_mtu++;
        return;
    }
    if (chance(s, l->loss)) {
        s->st.dropped_loss++;
        return;
    }
    int copies = 1 + chance(s, l->dup);
    s->st.duplicated += (uint64_t)copies - 1;
    for (int i = 0; i < copies; i++)
        enqueue(s, l, from, to, data, len);
}

/* ---- running ---------------------------------------------------------- */

/* Arrival: NAT filter and translation, then the receiving node. */
static void deliver(sim *s, event *e)
{
    const sim_addr *to = &e->to;
    nat *t = nat_outside(s, to);
    if (t != NULL) {
        int ok = t->used && t->eim_filter;
        for (unsigned i = 0; !ok && i < t->npeers; i++)
            ok = sim_addr_eq(&t->peers[i], &e->from);
        if (!ok) {
            s->st.dropped_nat++;
            return;
        }
        to = &t->inside;
    } else if (nat_inside(s, to) != NULL) {
        s->st.dropped_nat++; /* private addresses are not routed */
        return;
    }
    node *n = node_at(s, to);
    if (n == NULL) {
        s->st.dropped_noroute++;
        return;
    }
    if (s->capture && s->capture(s->capture_ctx, s->now, &e->from, to, e->data, e->len)) {
        s->st.dropped_capture++;
        return;
    }
    s->st.delivered++;
    n->ops.recv(n->ctx, s->now, &e->from, to, e->data, e->len);
    ask_deadline(s, n);
}

uint64_t sim_run(sim *s, uint64_t until_ms, uint64_t max_events)
{
    uint64_t ran = 0;
    if (s->running)
        return 0;
    s->running = 1;
    while (ran < max_events) {
        node *tn = NULL;
        for (size_t i = 0; i < s->nnodes; i++) {
            node *n = &s->nodes[i];
            if (n->timer_at != UINT64_MAX && n->ops.timer != NULL &&
                (tn == NULL || n->timer_at < tn->timer_at ||
                 (n->timer_at == tn->timer_at && n->timer_seq < tn->timer_seq)))
                tn = n;
        }
        event *top = s->nheap > 0 ? s->heap[0] : NULL;
        int use_timer = tn != NULL && (top == NULL || tn->timer_at < top->at ||
                                       (tn->timer_at == top->at && tn->timer_seq < top->seq));
        uint64_t at = use_timer ? tn->timer_at : top != NULL ? top->at : UINT64_MAX;
        if (at == UINT64_MAX || at > until_ms) {
            if (until_ms != SIM_FOREVER && until_ms > s->now)
                s->now = until_ms;
            break;
        }
        s->now = at;
        ran++;
        if (use_timer) {
            tn->timer_at = UINT64_MAX;
            s->st.timers++;
            tn->ops.timer(tn->ctx, s->now);
            ask_deadline(s, tn);
        } else {
            event *e = heap_pop(s);
            deliver(s, e);
            free(e);
        }
    }
    s->running = 0;
    return ran;
}
