/* engine_int.h - the datagram engine's state, shared by the handshake
 * (engine.c) and the reliable message layer (reliable.c). Internal. */
#ifndef PL_DG_ENGINE_INT_H
#define PL_DG_ENGINE_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "dgram/dgram_int.h"
#include "dgram/engine.h"
#include "dgram/cc.h"
#include "noise/noise.h"

#define EVQ_MAX         1024
#define EVQ_DELIVER     (EVQ_MAX / 2) /* messages wait in reassembly while this many events wait */
#define PINGS_MAX       4             /* pings awaiting their PONG, per connection */
#define REQS_MAX        4096          /* our requests awaiting a reply, per connection */
#define UNANSWERED_MAX  4096          /* the peer's requests awaiting our reply, per connection */
#define PTO_MIN_MS      20
#define PTO_BACKOFF_MAX 6
#define RTT_INITIAL_MS  100
#define CLOSE_TRIES     5    /* CLOSEs sent before giving up on the peer's answer */
#define SENT_MIN        64   /* packets tracked at first (the ring doubles) */
#define SENT_MAX        1024 /* packets in flight at most (the peer's ACK window) */
#define CHANS_MAX       256  /* channels open at once per connection */
#define DGRAM_Q         32   /* unreliable datagrams waiting for the window */

/* C_WORK: the initiator is solving a COOKIE's proof of work. */
enum cstate { C_HELLO, C_WORK, C_INITIATE, C_ESTABLISHED, C_YIELDED, C_FAILED, C_CLOSED };

/* The proof of work under way (initiator). */
struct work {
    uint8_t bits;
    uint8_t semi[32];
    uint8_t cookie[PL_DG_COOKIE_LEN];
    uint8_t bind[PL_DG_BIND_LEN];
    uint64_t next, tried;
};

struct semi {
    bool live;
    pl_noise_keypair kp;
    uint64_t expiry;
    uint8_t sig[PL_ED25519_SIG_LEN];
};

/* A message being sent: held until every fragment is acknowledged. */
struct omsg {
    struct omsg *next;
    uint64_t id, re;
    uint8_t flags;
    uint8_t *data;
    size_t len;
    uint32_t nfrag, next_frag, nacked;
    uint8_t *acked; /* a bit per fragment */
};

/* What a DATA packet carried that matters once it is acknowledged or lost
 * (one data item at most per packet). */
enum item_kind { IT_NONE = 0, IT_MSG, IT_CHAN, IT_DGRAM, IT_PROBE };

/* Control frames a packet carried (sent.ctrl): sent again when it is lost. */
#define CTRL_MAX_DATA 0x01
#define CTRL_MAX_CHAN 0x02 /* for the channel in sent.chan */

/* A DATA packet in flight, in a ring indexed by packet number. */
struct sent {
    uint64_t pn;
    uint64_t at;    /* ms */
    uint64_t ref;   /* IT_MSG: message id; IT_CHAN: segment sequence */
    uint32_t sub;   /* IT_MSG: fragment */
    uint16_t bytes; /* 0: the slot is free (acknowledged, lost, or never tracked) */
    uint8_t kind, ctrl;

    uint16_t chan; /* IT_CHAN, CTRL_MAX_CHAN: the channel's slot */
};

/* Lost items waiting to be sent again. */
struct lost {
    uint8_t kind;
    uint16_t chan;
    uint32_t sub;
    uint64_t ref;
};

/* A message being received (slot id % PL_DG_MSG_WINDOW). */
struct imsg {
    bool used;
    uint64_t id, re;
    uint8_t flags;
    uint8_t *buf;
    size_t total;
    uint32_t nfrag, got;
    uint8_t *have; /* a bit per fragment */
};

struct req {
    uint64_t id, deadline;
};

struct ping {
    uint64_t seq, token, at;
};

/* A channel segment sent: the bytes [off, off + len), FIN after them. */
enum { SEG_INFLIGHT = 0, SEG_LOST, SEG_ACKED };
struct seg {
    uint64_t off;
    uint32_t len;
    uint8_t state, fin;
};

#define CHAN_RANGES 32 /* received ranges beyond the contiguous prefix */
struct range {
    uint64_t lo, hi;
};

/* An ordered channel (docs/protocol.md §9.9): a reliable byte stream each
 * way. Buffers are rings allocated at the first byte. */
struct chan {
    uint64_t id;
    /* sending: [s_acked, s_end) in sbuf (ring of PL_DG_CHAN_SENDBUF) */
    uint8_t *sbuf;
    uint64_t s_acked, s_sent, s_end, s_max; /* s_max: the peer's credit */
    bool s_fin, s_fin_sent, s_fin_acked, s_blocked;
    struct seg *segs; /* ring of segments [seg_head, seg_tail) in offset order */
    uint32_t seg_cap;
    uint64_t seg_head, seg_tail;
    /* receiving: [r_read, r_read + window) in rbuf */
    uint8_t *rbuf;
    uint64_t r_read, r_contig, r_max;   /* r_max: the credit we gave */
    uint64_t r_fin_at;                  /* UINT64_MAX: not known */
    struct range r_ranges[CHAN_RANGES]; /* beyond r_contig, sorted, disjoint */
    unsigned r_nranges;
    bool max_due, rd_signaled, peer_opened, r_fin_read;
};

/* The reliable layer of one connection (reliable.c). */
struct rel {
    /* packets in flight: sent[pn % sent_cap] for pn in [sent_lo, next_pn) */
    struct sent *sent;
    uint32_t sent_cap;
    uint64_t sent_lo;
    struct lost *lost; /* ring of lost items to send again */
    uint32_t lost_head, lost_len, lost_cap;
    uint64_t largest_acked; /* PL_DG_PN_NONE before the first */
    uint64_t largest_acked_at;
    uint64_t last_eliciting_at; /* when the last ack-eliciting packet left */
    uint64_t progress_at;       /* last time something new was acknowledged, or sending began */
    uint64_t last_rx_at;        /* the last authenticated packet (idle timeout) */
    uint64_t last_tx_at;        /* the last ack-eliciting packet (keepalive) */
    uint64_t rx_data_at;        /* the last MSG or CHAN frame from the peer (0: none) */
    pl_rtt rtt;
    pl_cc cc;
    uint64_t recent_lost[16]; /* packet numbers declared lost lately (0: none) */
    unsigned recent_next;
    uint32_t reorder_pkts;    /* packet threshold: 3, more after reordering was seen */
    uint32_t reorder_eighths; /* time threshold in RTT/8: 9, more after reordering */
    unsigned pto_count, probes;
    /* messages, sending */
    uint64_t next_id;
    struct omsg *head, *tail, *cur; /* cur: the first with fragments never sent */
    size_t queued;                  /* bytes of messages not fully acknowledged */
    struct req *reqs;
    size_t nreqs;
    /* messages, receiving */
    uint64_t next_deliver;
    struct imsg *in; /* PL_DG_MSG_WINDOW slots, allocated at the first fragment */
    size_t reasm;
    uint64_t *unanswered;
    size_t nunanswered;
    /* channels */
    struct chan **chans;
    uint16_t nchans, chans_cap;
    uint16_t rr;              /* round robin over [messages, channels...] */
    uint64_t next_chan;       /* our next channel number (k: id 2k + responder) */
    uint64_t peer_next_chan;  /* the peer's channels below this number were opened */
    uint64_t tx_data, tx_max; /* channel bytes we sent (new), the peer's credit */
    uint64_t rx_data, rx_max; /* channel bytes received (highest offsets), our credit */
    uint64_t rx_read;         /* channel bytes the application read */
    bool max_data_due;
    /* unreliable datagrams waiting for the window (ring of DGRAM_Q) */
    uint8_t (*dq)[PL_DG_DATAGRAM_MAX + 2];
    unsigned dq_head, dq_len;
    /* acknowledging */
    pl_dg_replay ackset; /* packets we accepted: what our ACK frames report */
    unsigned ack_pending;
    uint64_t ack_at; /* UINT64_MAX: no acknowledgement owed */
    bool held;       /* pl_dg_conn_hold: no message delivered */
    /* ping */
    struct ping pings[PINGS_MAX];
    uint64_t ping_seq;
    /* path validation (docs/protocol.md §9.10) */
    pl_dg_addr prev_addr;
    bool validating, challenge_due, response_due;
    uint64_t challenge, response, validate_until, challenge_at;
    uint64_t path_rx, path_tx; /* bytes on an unvalidated path (3x amplification cap) */
    /* close: the closer repeats CLOSE until the peer answers with one */
    bool shutting, close_sent, we_closed;
    unsigned close_tries;
    uint64_t close_at;
    uint64_t close_code;
    char *close_reason; /* malloc'd; NULL: "done" */
    /* counters (pl_dg_conn_stats) */
    uint64_t n_sent, n_lost, n_retx, n_acked, n_spurious, bytes_sent, bytes_rx;
};

#define HS_PKT_MAX (PL_DG_PACKET_MAX > PL_DG_HELLO_MIN ? PL_DG_PACKET_MAX : PL_DG_HELLO_MIN)

/* An initiator's handshake, from pl_dg_connect until it is established or
 * fails: allocated with the connection, freed once it is over (an idle
 * connection keeps none of it). */
struct ihs {
    pl_dg_conn *rv_next, *rv_prev; /* the engine's rendezvous initiators */
    uint64_t tiebreak;
    unsigned tries, init_tries;
    uint64_t retry_at, give_up_at, initiate_at;
    bool too_hard; /* a COOKIE asked more work than we do */
    bool has_hs;   /* hs: kept from INITIATE until ACCEPT */
    uint8_t hello_digest[32];
    struct work work;
    pl_noise_hs hs;
    size_t early_len, last_len;
    uint8_t early[PL_DG_EARLY_MAX];
    uint8_t last[HS_PKT_MAX]; /* the last HELLO or INITIATE, for retransmission */
};

/* A responder's ACCEPT, kept to answer a repeated INITIATE until the
 * initiator's first DATA shows that the ACCEPT arrived. */
struct racc {
    uint8_t initiate_digest[32]; /* the INITIATE that made the connection */
    size_t len;
    uint8_t pkt[];
};

struct pl_dg_conn {
    pl_dg_engine *e;
    struct ihs *ihs;   /* initiator, handshaking */
    struct racc *racc; /* responder, not yet confirmed */
    /* the engine's indexes (engine.c) */
    pl_dg_conn *rd_next, *rd_prev; /* ready to send: pl_dg_output visits these */
    pl_dg_conn *due;               /* scratch list of pl_dg_timer and friends */
    uint64_t seq;                  /* creation order: newer is higher */
    uint64_t when;                 /* its deadline: the heap's key */
    uint32_t hpos;                 /* its place in the heap */
    bool ready;
    enum cstate state;
    bool initiator, rendezvous;
    bool has_peer;
    bool confirmed; /* responder: the initiator's first DATA arrived */
    pl_dg_addr addr;
    uint8_t peer[PL_FP_DIGEST_LEN]; /* the peer's fingerprint digest */
    char *peer_authority;           /* its authority when not empty (malloc'd) */
    uint8_t icid[PL_DG_CID_LEN], rcid[PL_DG_CID_LEN];
    pl_dg_aead tx, rx;
    uint64_t next_pn;
    pl_dg_replay replay;
    struct rel rel;
    void *user;
};

/* A hash table of connections (open addressing, linear probing, at most
 * 3/4 full), keyed by one of a connection's ids or its address; several
 * connections may share a key. */
enum tab_kind { TAB_ICID, TAB_RCID, TAB_ADDR };
struct conntab {
    pl_dg_conn **slot;
    size_t cap, len; /* cap: a power of two, or 0 */
    enum tab_kind kind;
};

struct evq_item {
    pl_dg_event ev;
};

struct outq_item {
    pl_dg_addr to;
    size_t len;
    uint8_t data[PL_DG_HELLO_MIN > PL_DG_PACKET_MAX ? PL_DG_HELLO_MIN : PL_DG_PACKET_MAX];
};

/* The last semi-static key signature an initiator verified (engine.c). */
struct semi_seen {
    bool valid;
    uint8_t idk[32], sig[PL_ED25519_SIG_LEN];
    uint8_t msg[96]; /* label, key, expiry: what was signed */
};

struct pl_dg_engine {
    pl_dg_config cfg;
    uint8_t id_pk[32];
    pl_fingerprint self;
    pl_noise_keypair xstatic; /* our Noise static: X25519 of the identity */
    struct semi semi[2];      /* [0] current, [1] previous */
    struct semi_seen semi_seen;
    pl_dg_cookie_keys ck;
    pl_dg_used used;
    pl_dg_load load;
    pl_dg_srcload srcload; /* per-source costs: more work for the costliest */
    unsigned forced_bits;  /* UINT_MAX: from load */
    uint64_t start_ms, now_ms;
    bool started;
    /* connections: every one in a min-heap on its deadline (pl_dg_timer
     * and pl_dg_deadline look at the due ones only), found by connection
     * id or address in hash tables, and listed when it may have something
     * to send (pl_dg_output visits only those) */
    pl_dg_conn **heap;
    size_t nconns, heap_cap;
    struct conntab by_icid; /* every connection, by icid */
    struct conntab by_rcid; /* responders, by rcid */
    struct conntab by_addr; /* responders not yet confirmed, by address */
    uint8_t tab_key[16];    /* SipHash key of the tables */
    pl_dg_conn *rd_head, *rd_tail;
    pl_dg_conn *rendezvous; /* rendezvous initiators, handshaking */
    uint64_t conn_seq;
    uint64_t promoted_ms; /* pl_dg_output looked for due connections at this time */
    bool deliver_blocked; /* a message waits for room in the event queue */
    struct outq_item *outq;
    size_t oq_head, oq_len;
    struct evq_item *evq;
    size_t ev_head, ev_len;
    uint8_t reply[PL_DG_EARLY_MAX];
    size_t reply_len;
    pl_dg_stats st;
};

/* engine.c */
void pl_dg_queue_out(pl_dg_engine *e, const pl_dg_addr *to, const uint8_t *d, size_t len);
pl_dg_event *pl_dg_push_event(pl_dg_engine *e, enum pl_dg_event_kind kind, pl_dg_conn *c);
void pl_dg_conn_fail(pl_dg_conn *c, int err, const char *why);
/* c's state changed outside the engine's entry points (an API call of
 * reliable.c): its deadline and whether it has something to send. */
void pl_dg_conn_touch(pl_dg_conn *c);
int pl_dg_draw(pl_dg_engine *e, uint8_t *out, size_t len) PL_WUR;
/* Seal plaintext pt (frames) as the next DATA packet of c into out (at
 * least PL_DG_PACKET_MAX bytes): its length, or a negative error. *pn
 * gets the packet number used. */
int pl_dg_seal_packet(pl_dg_conn *c, const uint8_t *pt, size_t len, uint8_t *out,
                      uint64_t *pn) PL_WUR;
/* Plaintext bytes a DATA packet can carry at most. */
#define PL_DG_PT_MAX (PL_DG_PACKET_MAX - 1 - PL_DG_CID_LEN - PL_DG_PN_BYTES - PL_DG_TAGLEN)

/* reliable.c */
void pl_dg_rel_init(pl_dg_conn *c);
void pl_dg_rel_free(pl_dg_conn *c);
/* The established connection's first moment (for RTT and timers). */
void pl_dg_rel_start(pl_dg_conn *c, uint64_t now_ms, uint64_t rtt_ms);
/* The plaintext of an authenticated DATA packet pn from `from` (newest:
 * pn is the highest received so far, so an address change is a move). */
void pl_dg_rel_input(pl_dg_conn *c, uint64_t now_ms, uint64_t pn, bool newest,
                     const pl_dg_addr *from, const uint8_t *pt, size_t len);
/* The next DATA packet c wants to send (acknowledgements, fragments) into
 * out: its length, 0 for none. */
int pl_dg_rel_output(pl_dg_conn *c, uint64_t now_ms, uint8_t *out, size_t cap);
void pl_dg_rel_timer(pl_dg_conn *c, uint64_t now_ms);
uint64_t pl_dg_rel_deadline(const pl_dg_conn *c);
/* The connection failed or closed: every request waiting gets err. */
void pl_dg_rel_fail_requests(pl_dg_conn *c, int err);
/* Deliver complete messages while the event queue has room. */
void pl_dg_rel_deliver(pl_dg_conn *c);

#endif /* PL_DG_ENGINE_INT_H */
