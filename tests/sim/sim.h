/*
 * sim.h - a deterministic in-process network simulator for testing sans-IO
 * engines (DESIGN.md §5). Test code only; never linked into libpeerlink.
 *
 * The model
 *  - One network, one virtual clock in milliseconds, starting at 0. Nothing
 *    reads a wall clock; all randomness comes from one seeded PRNG
 *    (splitmix64), drawn in a fixed order, so the same seed and the same node
 *    behaviour give the same events, byte for byte.
 *  - Nodes are hosts at one address each (a sim_addr: opaque bytes, e.g. IPv4
 *    and port). A node is three callbacks: recv (a datagram arrived), timer
 *    (its deadline passed) and deadline (asked after every recv or timer call,
 *    and by sim_kick; the answer replaces the node's timer).
 *  - sim_send copies the bytes and applies the link from the sender to the
 *    destination host, at send time, in this order: size cap (SIM_MAX_DGRAM),
 *    blackout window [down_from_ms, down_until_ms), mtu, loss; then one copy,
 *    or two with probability dup; each copy independently gets delay_ms +
 *    uniform jitter in [0, jitter_ms], plus reorder_ms with probability
 *    reorder, and with probability corrupt one bit flipped at a uniform
 *    position. A probability of 0 draws no randomness.
 *  - Events (deliveries and node timers) run in (time, sequence) order:
 *    two events due at the same time run in the order they were scheduled.
 *    At most SIM_MAX_EVENTS datagrams are in flight; more are refused and
 *    counted, never queued. sim_run stops after max_events events, so an
 *    engine that loops (a deadline always in the past, endless ping-pong)
 *    cannot hang a test.
 *  - NAT: a node at an `inside` address sits behind a NAT with one current
 *    `outside` address (endpoint-independent mapping: the same outside
 *    address whatever the destination). Its datagrams leave with the outside
 *    address as source, and each destination it sends to is remembered
 *    (even when the link then drops the datagram).
 *    Inbound datagrams to the outside address are filtered on arrival:
 *      endpoint_independent != 0: any sender, once the inside has sent once
 *                                 (full cone);
 *      endpoint_independent == 0: only senders (address and port) the
 *                                 inside has sent to (port-restricted cone).
 *    Passed datagrams are delivered to the inside address. Inside addresses
 *    are unreachable directly from anywhere. sim_nat_rebind moves the
 *    mapping to a new outside address and forgets the remembered
 *    destinations: datagrams to the old address are dropped (no route).
 *  - Links are chosen by host: from the sender's own address to the
 *    destination host (an outside address stands for its inside host), so a
 *    rebinding does not change which link a path uses. Unset pairs use the
 *    default link (initially: no delay, no impairment).
 */
#ifndef PL_SIM_H
#define PL_SIM_H

#include <stddef.h>
#include <stdint.h>

#define SIM_MAX_DGRAM  65535u /* larger datagrams are refused */
#define SIM_MAX_EVENTS 16384u /* datagrams in flight at once */
#define SIM_MAX_NODES  256u
#define SIM_MAX_LINKS  64u
#define SIM_MAX_NATS   16u
#define SIM_NAT_PEERS  32u /* remembered destinations per NAT (oldest replaced) */
#define SIM_ADDR_MAX   18u
#define SIM_FOREVER    UINT64_MAX

typedef struct sim sim;

typedef struct sim_addr {
    uint8_t len;
    uint8_t b[SIM_ADDR_MAX];
} sim_addr;

/* a.b.c.d:port as 6 bytes (address, then port big-endian). */
sim_addr sim_addr_v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d, uint16_t port);
int sim_addr_eq(const sim_addr *x, const sim_addr *y);

typedef struct sim_node_ops {
    /* A datagram arrived; the simulator owns `data` for the call only. */
    void (*recv)(void *node, uint64_t now_ms, const sim_addr *from, const sim_addr *to,
                 const uint8_t *data, size_t len);
    /* The node's deadline passed (called at or after it). May be NULL. */
    void (*timer)(void *node, uint64_t now_ms);
    /* The next deadline, UINT64_MAX for none. May be NULL: no timers. */
    uint64_t (*deadline)(void *node);
} sim_node_ops;

typedef struct sim_link {
    uint32_t delay_ms, jitter_ms; /* one-way delay plus uniform [0, jitter] */
    double loss, dup, corrupt;    /* per datagram: drop, deliver twice, flip a bit */
    double reorder;               /* probability of an extra reorder_ms */
    uint32_t reorder_ms;
    uint64_t down_from_ms, down_until_ms; /* blackout [from, until): all dropped */
    uint32_t mtu;                         /* larger datagrams dropped; 0: no limit */
    /* A bottleneck: datagrams leave at rate_kbps (1000 bit/s) through a
     * drop-tail queue of queue_bytes before the delay applies. Every link
     * with a rate shares the one queue (the simulator's bottleneck), so
     * flows on different links compete for it. 0: no limit. */
    uint32_t rate_kbps, queue_bytes;
} sim_link;

typedef struct sim_stats_t {
    uint64_t sent;      /* sim_send calls */
    uint64_t delivered; /* recv calls */
    uint64_t dropped_loss, dropped_blackout, dropped_mtu, dropped_nat;
    uint64_t dropped_queue;   /* the bottleneck's queue was full */
    uint64_t dropped_noroute; /* no node or NAT at the destination */
    uint64_t dropped_capture; /* the capture hook said drop */
    uint64_t refused;         /* over SIM_MAX_DGRAM or SIM_MAX_EVENTS */
    uint64_t duplicated;      /* extra copies */
    uint64_t corrupted;       /* copies with one bit flipped */
    uint64_t timers;          /* timer calls */
} sim_stats_t;

/* Called for every datagram about to be delivered, with the addresses the
 * receiver will see; may change the bytes. Nonzero: drop it instead. */
typedef int (*sim_capture_fn)(void *ctx, uint64_t now_ms, const sim_addr *from, const sim_addr *to,
                              uint8_t *data, size_t len);

/* NULL on allocation failure. */
sim *sim_new(uint64_t seed);
void sim_free(sim *s);
/* The node id (>= 0), or -1: table full, or the address is taken. The
 * node's deadline is asked at once. */
int sim_add_node(sim *s, const sim_addr *addr, const sim_node_ops *ops, void *node);
/* Ask a node's deadline again (after the test drove the engine directly). */
void sim_kick(sim *s, int node_id);
/* Send now; callable from callbacks and from the test. Never fails: every
 * fate is counted in the stats. */
void sim_send(sim *s, const sim_addr *from, const sim_addr *to, const uint8_t *data, size_t len);
void sim_set_default_link(sim *s, const sim_link *l);
/* 0, or -1 when the link table is full. Setting a pair again replaces it. */
int sim_set_link(sim *s, const sim_addr *from, const sim_addr *to, const sim_link *l);
/* 0, or -1: table full, or `inside` already behind a NAT. */
int sim_add_nat(sim *s, const sim_addr *inside, const sim_addr *outside, int endpoint_independent);
/* 0, or -1 when `inside` is behind no NAT. */
int sim_nat_rebind(sim *s, const sim_addr *inside, const sim_addr *new_outside);
void sim_set_capture(sim *s, sim_capture_fn fn, void *ctx);
/* Run events due at or before until_ms, at most max_events of them; returns
 * how many ran. Unless it stopped at max_events, the clock then stands at
 * until_ms (at the last event when until_ms is SIM_FOREVER). Not reentrant. */
uint64_t sim_run(sim *s, uint64_t until_ms, uint64_t max_events);
uint64_t sim_now(const sim *s);
void sim_stats(const sim *s, sim_stats_t *out);

#endif
