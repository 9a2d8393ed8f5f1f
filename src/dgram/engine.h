/* engine.h - the datagram transport's handshake engine (src/dgram/):
 * HELLO -> COOKIE -> INITIATE -> ACCEPT (DESIGN.md §3.2), sans-IO.
 *
 * Datagrams and the current time go in (pl_dg_input, pl_dg_timer);
 * datagrams (pl_dg_output), the next deadline (pl_dg_deadline) and events
 * (pl_dg_event) come out. Randomness comes from the callback configured.
 * Internal for now: the runtime and the message layer will build on it.
 *
 * Wire format (all integers big-endian; docs/protocol.md will carry the
 * full specification):
 *   HELLO    1 | ver 1 | tiebreak 8 | target hint 8 | icid 8 | zero padding
 *            to PL_DG_HELLO_MIN bytes (a reply is never larger than this)
 *   COOKIE   2 | ver 1 | icid 8 | identity key 32 | semi-static key 32 |
 *            expiry 8 | signature 64 | difficulty 1 | cookie 20
 *   INITIATE 3 | ver 1 | icid 8 | hello digest 32 | difficulty 1 |
 *            (the cookie binds address, HELLO digest, difficulty, key, icid)
 *            semi-static key 32 | cookie 20 | pow nonce 8 | Noise IK msg 1
 *            (e, es, s, ss; payload: identity key 32 | early data)
 *   ACCEPT   4 | icid 8 | Noise IK msg 2 (e, ee, se; payload: rcid 8 |
 *            the reply)
 *   DATA     5 | dcid 8 | windowed packet number | XChaCha20-Poly1305
 *            (header as associated data)
 */
#ifndef PL_DG_ENGINE_H
#define PL_DG_ENGINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "peerlink.h"

#define PL_DG_VERSION        1
#define PL_DG_HELLO_MIN      1200 /* bytes of a HELLO, padding included */
#define PL_DG_CID_LEN        8
#define PL_DG_PACKET_MAX     1400 /* bytes of any datagram we send */
#define PL_DG_EARLY_MAX      1000 /* application bytes in INITIATE or ACCEPT */
#define PL_DG_RETRY_MS       250  /* first retransmission of HELLO / INITIATE */
#define PL_DG_HANDSHAKE_MS   10000
#define PL_DG_SEMI_LIFETIME  600 /* seconds a semi-static key is offered */
#define PL_DG_CONNS_MAX      4096
#define PL_DG_OUTQ_MAX       256
#define PL_DG_POW_ACCEPT_MAX 20 /* the most work (bits) an initiator does for a COOKIE */

typedef struct pl_dg_addr {
    uint8_t len;
    uint8_t b[18];
} pl_dg_addr;

typedef struct pl_dg_engine pl_dg_engine;
typedef struct pl_dg_conn pl_dg_conn;

typedef struct pl_dg_config {
    const pl_identity *id; /* borrowed */
    const pl_trust *trust; /* borrowed; NULL: empty */
    pl_random_fn random;
    void *random_user;
    unsigned capacity_per_s; /* handshakes/s this node can afford; 0: 2000 */
    size_t used_cookies_max; /* per epoch; 0: 65536 */
    uint64_t now_s;          /* Unix time for key validity, trust and semi-static expiry */
    int cc;                  /* congestion control: PL_DG_CC_NEWRENO (0) or PL_DG_CC_CUBIC */
    uint32_t keepalive_ms;   /* a PING after this long without sending; 0: PL_DG_KEEPALIVE_MS,
                                UINT32_MAX: never */
    uint32_t idle_ms;        /* close after this long without hearing the peer; 0:
                                PL_DG_IDLE_MS, UINT32_MAX: never */
} pl_dg_config;

#define PL_DG_CC_NEWRENO   0
#define PL_DG_CC_CUBIC     1
#define PL_DG_KEEPALIVE_MS 15000 /* holds the mappings of NATs that forget after 30 s */
#define PL_DG_IDLE_MS      60000

/* Messages (docs/protocol.md §8): reliable, delivered whole and in the
 * order sent (per direction and connection), each at most PL_DG_MSG_MAX
 * bytes, split into fragments of at most PL_DG_FRAG bytes. A request
 * (want_reply) gets exactly one PL_DG_EV_REPLY: the reply, or a failure
 * (PL_ERR_TIMEOUT: no reply in time; PL_ERR_UNREACHABLE: the handshake or
 * the connection failed; PL_ERR_REFUSED: the peer refused us or the
 * request; PL_ERR_CLOSED: the connection was closed first). */
#define PL_DG_MSG_MAX      (1u << 20) /* bytes of one message */
#define PL_DG_FRAG         1200       /* message bytes per DATA packet */
#define PL_DG_MSG_WINDOW   64         /* messages sent but not acknowledged, per direction */
#define PL_DG_INFLIGHT     64         /* DATA packets unacknowledged, per connection */
#define PL_DG_SENDQ_MAX    (4u << 20) /* bytes queued per connection (pl_dg_msg_send refuses more) */
#define PL_DG_REASM_MAX    (4u << 20) /* bytes being reassembled per connection */
#define PL_DG_REQUEST_MS   5000       /* default reply timeout */
#define PL_DG_DEAD_MS      10000      /* nothing acknowledged this long: the peer is gone */
#define PL_DG_ACK_DELAY_MS 10         /* the longest an acknowledgement waits */

/* Ordered channels (docs/protocol.md §9.9): reliable byte streams, each
 * delivered in order and independently of the others and of messages (a
 * lost packet holds up only its own channel). Flow control per channel and
 * per connection: a reader that does not read stops its own channel once
 * PL_DG_CHAN_WINDOW bytes wait, and the connection's other traffic goes
 * on. Unreliable datagrams (pl_dg_send) are congestion controlled, never
 * retransmitted, at most PL_DG_DATAGRAM_MAX bytes. */
#define PL_DG_CHAN_WINDOW  (2u << 20) /* bytes a channel may have unread at the receiver */
#define PL_DG_CONN_WINDOW  (8u << 20) /* channel bytes unread at the receiver, all channels */
#define PL_DG_CHAN_SENDBUF (2u << 20) /* bytes a channel buffers to send */
#define PL_DG_DATAGRAM_MAX 1200

enum pl_dg_event_kind {
    PL_DG_EV_NONE = 0,
    PL_DG_EV_ESTABLISHED, /* conn authenticated; data: the peer's early data or reply */
    PL_DG_EV_DATA,        /* raw DATA payload (pl_dg_send) */
    PL_DG_EV_FAILED,      /* conn failed: err and why; the last event of conn */
    PL_DG_EV_MESSAGE,     /* a message: id, want_reply, msg/msg_len */
    PL_DG_EV_REPLY,       /* id: the request's; err 0 and msg/msg_len, or a failure */
    PL_DG_EV_PONG,        /* the answer to pl_dg_ping: rtt_us */
    PL_DG_EV_CLOSED,      /* the last event of conn: err 0 (pl_dg_shutdown done: all
                             acknowledged), PL_ERR_CLOSED (the peer closed: id has its
                             code, data/len its reason) or PL_ERR_TIMEOUT (idle) */
    PL_DG_EV_REFUSED,     /* an initiator the trust store does not allow was refused
                             (conn NULL; peer and addr say who) */
    PL_DG_EV_READABLE,    /* channel id has bytes (or its end) to read; once until a
                             pl_dg_chan_read finds nothing more. A channel the peer
                             opened appears this way first. */
    PL_DG_EV_WRITABLE,    /* channel id has room again after a short pl_dg_chan_write */
    PL_DG_EV_PATH,        /* the peer moved to addr (validated: err 0) or a move
                             failed validation and the old path is back (err
                             PL_ERR_TIMEOUT) */
};

typedef struct pl_dg_event {
    enum pl_dg_event_kind kind;
    pl_dg_conn *conn;
    int err;
    const char *why;
    uint64_t id;     /* MESSAGE, REPLY; READABLE, WRITABLE: the channel; CLOSED: code */
    bool want_reply; /* MESSAGE: answer with pl_dg_msg_reply(conn, id, ...) */
    uint8_t *msg;    /* MESSAGE, REPLY: malloc'd; the caller owns it after
                        pl_dg_event_next and frees it (NULL when empty) */
    size_t msg_len;
    uint64_t rtt_us;     /* PONG */
    pl_fingerprint peer; /* REFUSED */
    pl_dg_addr addr;     /* REFUSED */
    size_t len;
    uint8_t data[PL_DG_PACKET_MAX];
} pl_dg_event;

/* Counters for tests and the flood report. */
typedef struct pl_dg_stats {
    uint64_t rx, rx_dropped, hellos, cookies_sent, initiates, stale_cookie, bad_cookie,
        reused_cookie, no_work, pk_ops, accepts_sent, established, untrusted, resent_accepts,
        refusals, events_dropped, data_tx, data_rx, retransmits, msgs_delivered, migrations;
} pl_dg_stats;

/* One connection's transport state (`peerlink ... --verbose`). */
typedef struct pl_dg_conn_stats {
    const char *cc;                     /* "newreno" or "cubic" */
    uint64_t cwnd, ssthresh, in_flight; /* bytes (ssthresh UINT64_MAX: none yet) */
    uint64_t srtt_ms, rttvar_ms, min_rtt_ms, latest_rtt_ms;
    uint64_t packets_sent, packets_lost, retransmits, packets_acked, spurious;
    uint64_t bytes_sent, bytes_received;
    uint64_t congestion_events, pto_count;
    uint64_t pacing_rate; /* bytes per second */
    bool path_validated;
} pl_dg_conn_stats;

int pl_dg_new(pl_dg_engine **out, const pl_dg_config *cfg) PL_WUR;
void pl_dg_free(pl_dg_engine *e);

/* Start a handshake with the node whose fingerprint is `peer` at `to`,
 * carrying `early` (at most PL_DG_EARLY_MAX bytes) in INITIATE. With
 * rendezvous set, the HELLO carries a random tie-breaker so that a
 * crossing HELLO from that peer settles the roles (DESIGN.md §2.4). */
int pl_dg_connect(pl_dg_engine *e, uint64_t now_ms, const pl_dg_addr *to,
                  const pl_fingerprint *peer, const uint8_t *early, size_t len, bool rendezvous,
                  pl_dg_conn **out) PL_WUR;
/* The reply a responder puts in ACCEPT: set before input (NULL: empty). */
void pl_dg_set_reply(pl_dg_engine *e, const uint8_t *reply, size_t len);

void pl_dg_input(pl_dg_engine *e, uint64_t now_ms, const pl_dg_addr *from, const uint8_t *pkt,
                 size_t len);
void pl_dg_timer(pl_dg_engine *e, uint64_t now_ms);
uint64_t pl_dg_deadline(const pl_dg_engine *e); /* UINT64_MAX: none */
/* Next datagram to send: its length (0: none), PL_ERR_BUFSIZE. */
int pl_dg_output(pl_dg_engine *e, pl_dg_addr *to, uint8_t *buf, size_t cap) PL_WUR;
/* Next event: true when one was written to *ev. */
bool pl_dg_event_next(pl_dg_engine *e, pl_dg_event *ev);
/* Send payload in one DATA packet on an established connection. */
int pl_dg_send(pl_dg_conn *c, const uint8_t *data, size_t len) PL_WUR;

/* Queue a message on c, which may still be handshaking (it is sent once
 * established; a failed handshake fails it). want_reply makes it a request
 * whose reply or failure arrives as PL_DG_EV_REPLY with *id within
 * timeout_ms (0: PL_DG_REQUEST_MS). PL_ERR_TOOBIG (len > PL_DG_MSG_MAX),
 * PL_ERR_BUFSIZE (PL_DG_SENDQ_MAX bytes already queued: wait for
 * acknowledgements, see pl_dg_conn_pending), PL_ERR_INVAL (c failed,
 * closed or shutting down). */
int pl_dg_msg_send(pl_dg_conn *c, uint64_t now_ms, const uint8_t *data, size_t len, bool want_reply,
                   uint32_t timeout_ms, uint64_t *id) PL_WUR;
/* Answer request id received on c; refuse: the requester gets
 * PL_ERR_REFUSED instead (data ignored). Each request is answered once
 * (PL_ERR_NOTFOUND for an unknown or answered id). */
int pl_dg_msg_reply(pl_dg_conn *c, uint64_t now_ms, uint64_t id, const uint8_t *data, size_t len,
                    bool refuse) PL_WUR;
/* Send a PING; its PONG gives one RTT sample (PL_DG_EV_PONG). Unreliable:
 * a lost ping gets no event. */
int pl_dg_ping(pl_dg_conn *c, uint64_t now_ms) PL_WUR;
/* Hold c's messages: none is delivered while held (except at a close by
 * the peer); they wait in reassembly, whose window then fills, so the
 * peer stops sending to this connection alone (backpressure). */
void pl_dg_conn_hold(pl_dg_conn *c, bool hold);
/* Message bytes queued or not yet acknowledged on c. */
size_t pl_dg_conn_pending(const pl_dg_conn *c);
/* The smoothed RTT in microseconds (0 before a sample). */
uint64_t pl_dg_conn_srtt_us(const pl_dg_conn *c);
/* Close gracefully: send nothing new; once everything queued is
 * acknowledged, tell the peer (CLOSE) and give PL_DG_EV_CLOSED, err 0. */
int pl_dg_shutdown(pl_dg_conn *c, uint64_t now_ms) PL_WUR;

/* Open an ordered channel on an established connection: its id in *chan.
 * PL_ERR_BUFSIZE: CHANS_MAX open. */
int pl_dg_chan_open(pl_dg_conn *c, uint64_t *chan) PL_WUR;
/* Queue bytes on a channel: how many were taken (0 <= n <= len; fewer
 * when the send buffer is full: PL_DG_EV_WRITABLE follows), or
 * PL_ERR_NOTFOUND, PL_ERR_INVAL (finished, or the connection is not
 * established). */
int pl_dg_chan_write(pl_dg_conn *c, uint64_t chan, const uint8_t *data, size_t len) PL_WUR;
/* No more bytes on this channel: the peer reads its end after the last. */
int pl_dg_chan_finish(pl_dg_conn *c, uint64_t chan) PL_WUR;
/* Read what arrived in order: bytes copied (0: nothing now), *fin set when
 * the channel's end was reached (every byte read). PL_ERR_NOTFOUND. */
int pl_dg_chan_read(pl_dg_conn *c, uint64_t chan, uint8_t *buf, size_t cap, bool *fin) PL_WUR;
/* Bytes written to the channel and not yet acknowledged. */
size_t pl_dg_chan_pending(const pl_dg_conn *c, uint64_t chan);
/* Close gracefully with a reason the peer sees (code, UTF-8 reason of at
 * most 128 bytes): like pl_dg_shutdown. */
int pl_dg_shutdown_reason(pl_dg_conn *c, uint64_t now_ms, uint64_t code, const char *reason) PL_WUR;
void pl_dg_conn_stats_get(const pl_dg_conn *c, pl_dg_conn_stats *out);

/* Forget a connection (established or failed); its pointer is invalid
 * afterwards, so drain its events first. */
void pl_dg_conn_close(pl_dg_conn *c);
bool pl_dg_conn_initiator(const pl_dg_conn *c);
/* One pointer of the application's per connection (NULL at first). */
void pl_dg_conn_set_user(pl_dg_conn *c, void *user);
void *pl_dg_conn_user(const pl_dg_conn *c);
/* The peer's address. */
const pl_dg_addr *pl_dg_conn_addr(const pl_dg_conn *c);
int pl_dg_conn_peer(const pl_dg_conn *c, pl_fingerprint *fp) PL_WUR;
void pl_dg_stats_get(const pl_dg_engine *e, pl_dg_stats *out);
/* Tests: the proof-of-work difficulty asked now. */
unsigned pl_dg_difficulty(pl_dg_engine *e, uint64_t now_ms);
/* Tests: the difficulty a HELLO from `from` would be asked now (the global
 * one plus that source's extra, docs/protocol.md §4.1). */
unsigned pl_dg_difficulty_for(pl_dg_engine *e, const pl_dg_addr *from, uint64_t now_ms);
/* Tests and the flood bench: force a difficulty (UINT_MAX: back to load). */
void pl_dg_force_difficulty(pl_dg_engine *e, unsigned bits);

#endif /* PL_DG_ENGINE_H */
