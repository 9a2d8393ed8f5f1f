/* cc.h - congestion control and pacing of the datagram transport
 * (src/dgram/, docs/protocol.md §10), sans-IO: RFC 9002 §7 (NewReno) and
 * RFC 9438 (CUBIC), selected per connection, and a token-bucket pacer.
 * All sizes are bytes of UDP payload; all times are the engine's
 * milliseconds. Internal.
 *
 * The caller (reliable.c) keeps the RTT estimate (pl_rtt) and the sent
 * packets; it tells the controller what was sent, acknowledged and lost:
 *
 *   before sending:   pl_cc_can_send(cc, bytes)   (window)
 *                     pl_cc_pace_at(cc, now)      (pacing: earliest time)
 *   after sending:    pl_cc_on_sent(cc, now, bytes)
 *   per ACK frame:    pl_cc_on_acked(cc, now, sent_at, bytes, rtt) for each
 *                     newly acknowledged packet, in any order
 *   per loss:         pl_cc_on_lost(cc, now, sent_at, bytes) for each
 *                     packet declared lost; one congestion event per
 *                     recovery period (packets sent before it began
 *                     reduce nothing)
 *   persistent loss:  pl_cc_on_persistent(cc) (RFC 9002 §7.6)
 *   forgotten:        pl_cc_on_discarded(cc, bytes) (in flight no more,
 *                     neither acknowledged nor lost: a path change)
 */
#ifndef PL_DG_CC_H
#define PL_DG_CC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum pl_cc_algo { PL_CC_NEWRENO = 0, PL_CC_CUBIC = 1 } pl_cc_algo;

/* RTT estimate (RFC 9002 §5), in milliseconds; a sample of 0 ms (a
 * loopback) counts as 1 ms of smoothed RTT at least where a divisor needs
 * it. */
typedef struct pl_rtt {
    uint64_t latest, smoothed, var, min;
    bool has_sample;
} pl_rtt;

void pl_rtt_init(pl_rtt *r, uint64_t initial_ms);
void pl_rtt_sample(pl_rtt *r, uint64_t sample_ms);

typedef struct pl_cc {
    pl_cc_algo algo;
    size_t mss;           /* the largest datagram: windows are counted in it */
    uint64_t cwnd;        /* bytes */
    uint64_t cwnd_max;    /* bytes; the caller's limit (its packet tracking), 0: none */
    uint64_t ssthresh;    /* bytes; UINT64_MAX in slow start from the start */
    uint64_t in_flight;   /* bytes sent, not yet acknowledged, lost or discarded */
    uint64_t recovery_at; /* ms: packets sent before this reduce nothing; UINT64_MAX: none yet */
    uint64_t filled_at;   /* ms: the window was last at least half full; UINT64_MAX: never */
    uint64_t acked_ca;    /* NewReno congestion avoidance: bytes acknowledged toward the next mss */
    /* CUBIC (RFC 9438 §4) */
    double w_max, k; /* in mss; K in seconds */
    uint64_t
        epoch_at; /* ms: the start of the current congestion-avoidance epoch; UINT64_MAX: none */
    double w_est; /* Reno-friendly estimate, in mss */
    double cwnd_prior; /* in mss */
    double acked_frac; /* growth toward the next mss */
    double undo_w_max;
    /* pacing: a bucket of bytes refilled at rate() and at most burst() deep */
    uint64_t tokens, refill_at;
    /* undo (pl_cc_on_spurious): the state before the last reduction */
    uint64_t undo_cwnd, undo_ssthresh;
    uint32_t epoch_losses, epoch_spurious;
    /* counters for the stats view */
    uint64_t congestion_events, persistent_events, spurious_events;
} pl_cc;

#define PL_CC_INITIAL_PACKETS 10
#define PL_CC_MIN_PACKETS     2

void pl_cc_init(pl_cc *cc, pl_cc_algo algo, size_t mss);
bool pl_cc_can_send(const pl_cc *cc, size_t bytes);
/* The earliest time (>= now) `bytes` may leave under pacing at rate
 * 1.25 * cwnd / srtt with a burst of PL_CC_INITIAL_PACKETS mss. */
uint64_t pl_cc_pace_at(pl_cc *cc, uint64_t now_ms, const pl_rtt *rtt, size_t bytes);
/* The pacing rate in bytes per second (for the stats view). */
uint64_t pl_cc_pacing_rate(const pl_cc *cc, const pl_rtt *rtt);
void pl_cc_on_sent(pl_cc *cc, uint64_t now_ms, size_t bytes);
void pl_cc_on_acked(pl_cc *cc, uint64_t now_ms, uint64_t sent_at_ms, size_t bytes,
                    const pl_rtt *rtt);
void pl_cc_on_lost(pl_cc *cc, uint64_t now_ms, uint64_t sent_at_ms, size_t bytes);
void pl_cc_on_persistent(pl_cc *cc);
/* A packet declared lost was acknowledged after all (reordering): when
 * every loss of the current recovery period proves spurious, the
 * reduction is undone (the window and threshold from before it). */
void pl_cc_on_spurious(pl_cc *cc, uint64_t sent_at_ms);
void pl_cc_on_discarded(pl_cc *cc, size_t bytes);
const char *pl_cc_name(pl_cc_algo a);

#endif /* PL_DG_CC_H */
