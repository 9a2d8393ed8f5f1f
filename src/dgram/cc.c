/* cc.c - congestion control and pacing (cc.h): NewReno after RFC 9002 §7
 * and CUBIC after RFC 9438, both with the same slow start, recovery
 * periods, persistent-congestion collapse and undo after spurious loss;
 * a token-bucket pacer in front of either.
 *
 * Times are the engine's milliseconds. A recovery period begins at the
 * millisecond of the loss that started it; packets sent in that same
 * millisecond belong to it (on a loopback a whole window leaves within
 * one millisecond, and its losses are one congestion event). */
#include <math.h>
#include <string.h>

#include "dgram/cc.h"

#define CUBIC_C    0.4 /* RFC 9438 §4.1 */
#define CUBIC_BETA 0.7
#define RENO_BETA  0.5 /* RFC 9002 §7.3.2: kLossReductionFactor */
#define PACE_GAIN  1.25
#define PACE_BURST PL_CC_INITIAL_PACKETS /* mss: a bucket holds at least this */

void pl_rtt_init(pl_rtt *r, uint64_t initial_ms)
{
    memset(r, 0, sizeof *r);
    r->smoothed = initial_ms;
    r->var = initial_ms / 2;
    r->min = UINT64_MAX;
}

void pl_rtt_sample(pl_rtt *r, uint64_t s)
{
    r->latest = s;
    if (s < r->min)
        r->min = s;
    if (!r->has_sample) {
        r->smoothed = s;
        r->var = s / 2;
        r->has_sample = true;
        return;
    }
    uint64_t d = r->smoothed > s ? r->smoothed - s : s - r->smoothed;
    r->var = (3 * r->var + d) / 4;
    r->smoothed = (7 * r->smoothed + s) / 8;
}

static uint64_t min_window(const pl_cc *cc)
{
    return PL_CC_MIN_PACKETS * cc->mss;
}

void pl_cc_init(pl_cc *cc, pl_cc_algo algo, size_t mss)
{
    memset(cc, 0, sizeof *cc);
    cc->algo = algo;
    cc->mss = mss;
    cc->cwnd = PL_CC_INITIAL_PACKETS * mss;
    cc->ssthresh = UINT64_MAX;
    cc->recovery_at = UINT64_MAX;
    cc->epoch_at = UINT64_MAX;
    cc->tokens = PACE_BURST * mss;
    cc->refill_at = UINT64_MAX;
    cc->filled_at = UINT64_MAX;
}

bool pl_cc_can_send(const pl_cc *cc, size_t bytes)
{
    return cc->in_flight + bytes <= cc->cwnd;
}

/* ---- pacing ------------------------------------------------------------------- */

/* Bytes per millisecond: PACE_GAIN * cwnd / srtt (srtt at least 1 ms). */
static double pace_rate(const pl_cc *cc, const pl_rtt *rtt)
{
    uint64_t srtt = rtt->smoothed ? rtt->smoothed : 1;
    return PACE_GAIN * (double)cc->cwnd / (double)srtt;
}

/* The bucket's depth: the initial window, or two milliseconds at the
 * rate (the clock ticks in milliseconds: a shallower bucket could not
 * reach the rate). */
static double pace_burst(const pl_cc *cc, double rate)
{
    double b = (double)(PACE_BURST * cc->mss);
    return 2 * rate > b ? 2 * rate : b;
}

static void refill(pl_cc *cc, uint64_t now_ms, const pl_rtt *rtt)
{
    double rate = pace_rate(cc, rtt), burst = pace_burst(cc, rate);
    if (cc->refill_at == UINT64_MAX || now_ms < cc->refill_at) {
        cc->refill_at = now_ms;
        return;
    }
    double t = (double)cc->tokens + rate * (double)(now_ms - cc->refill_at);
    cc->tokens = t > burst ? (uint64_t)burst : (uint64_t)t;
    cc->refill_at = now_ms;
}

uint64_t pl_cc_pace_at(pl_cc *cc, uint64_t now_ms, const pl_rtt *rtt, size_t bytes)
{
    refill(cc, now_ms, rtt);
    if (cc->tokens >= bytes)
        return now_ms;
    double rate = pace_rate(cc, rtt);
    double wait = ceil((double)(bytes - cc->tokens) / rate);
    return now_ms + (wait < 1 ? 1 : (uint64_t)wait);
}

uint64_t pl_cc_pacing_rate(const pl_cc *cc, const pl_rtt *rtt)
{
    return (uint64_t)(pace_rate(cc, rtt) * 1000.0);
}

void pl_cc_on_sent(pl_cc *cc, uint64_t now_ms, size_t bytes)
{
    cc->in_flight += bytes;
    if (cc->in_flight >= cc->cwnd / 2)
        cc->filled_at = now_ms;
    cc->tokens -= bytes < cc->tokens ? bytes : cc->tokens;
}

/* ---- growth ------------------------------------------------------------------- */

static bool in_recovery(const pl_cc *cc, uint64_t sent_at_ms)
{
    return cc->recovery_at != UINT64_MAX && sent_at_ms <= cc->recovery_at;
}

static void reno_avoid(pl_cc *cc, size_t bytes)
{
    cc->acked_ca += bytes;
    if (cc->acked_ca >= cc->cwnd) {
        cc->acked_ca -= cc->cwnd;
        cc->cwnd += cc->mss;
    }
}

/* W_cubic(t) = C (t - K)^3 + W_max, in mss, t in seconds (RFC 9438 §4.2) */
static double w_cubic(const pl_cc *cc, double t)
{
    double d = t - cc->k;
    return CUBIC_C * d * d * d + cc->w_max;
}

static void cubic_avoid(pl_cc *cc, uint64_t now_ms, size_t bytes, const pl_rtt *rtt)
{
    double mss = (double)cc->mss, cwnd = (double)cc->cwnd / mss;
    if (cc->epoch_at == UINT64_MAX) {
        /* a new epoch (§4.2): after a reduction, or the first time out of
         * slow start (then the curve starts at the current window) */
        cc->epoch_at = now_ms;
        if (cc->w_max < cwnd) {
            cc->w_max = cwnd;
            cc->k = 0;
        } else {
            cc->k = cbrt((cc->w_max - cwnd) / CUBIC_C);
        }
        cc->w_est = cwnd;
        if (cc->cwnd_prior <= 0)
            cc->cwnd_prior = cwnd;
    }
    double t = (double)(now_ms - cc->epoch_at) / 1000.0;
    double rtt_s = (double)(rtt->smoothed ? rtt->smoothed : 1) / 1000.0;
    /* the Reno-friendly estimate (§4.3) grows at alpha per RTT until it
     * passes the window before the last reduction, then at 1 */
    double alpha = cc->w_est < cc->cwnd_prior ? 3.0 * (1 - CUBIC_BETA) / (1 + CUBIC_BETA) : 1.0;
    cc->w_est += alpha * ((double)bytes / mss) / cwnd;
    double target = w_cubic(cc, t + rtt_s);
    if (target < cwnd)
        target = cwnd;
    if (target > 1.5 * cwnd)
        target = 1.5 * cwnd;
    double next;
    if (w_cubic(cc, t) < cc->w_est) {
        next = cc->w_est; /* the Reno-friendly region */
    } else {
        /* concave or convex: (target - cwnd) / cwnd per mss acknowledged */
        cc->acked_frac += (target - cwnd) / cwnd * ((double)bytes / mss);
        next = cwnd;
        if (cc->acked_frac >= 1.0) {
            double whole = floor(cc->acked_frac);
            next += whole;
            cc->acked_frac -= whole;
        }
    }
    if (next > cwnd)
        cc->cwnd = (uint64_t)(next * mss);
}

void pl_cc_on_acked(pl_cc *cc, uint64_t now_ms, uint64_t sent_at_ms, size_t bytes,
                    const pl_rtt *rtt)
{
    cc->in_flight -= bytes < cc->in_flight ? bytes : cc->in_flight;
    if (in_recovery(cc, sent_at_ms))
        return;
    if (cc->recovery_at != UINT64_MAX) {
        cc->recovery_at = UINT64_MAX; /* a packet sent after it began: recovery is over */
        cc->undo_cwnd = 0;
    }
    /* an application that does not fill the window does not grow it
     * (RFC 9002 §7.8): a packet grows it only when the window was at
     * least half full at some time since it was sent */
    if (cc->filled_at == UINT64_MAX || cc->filled_at < sent_at_ms)
        return;
    if (cc->cwnd < cc->ssthresh)
        cc->cwnd += bytes; /* slow start */
    else if (cc->algo == PL_CC_CUBIC)
        cubic_avoid(cc, now_ms, bytes, rtt);
    else
        reno_avoid(cc, bytes);
    if (cc->cwnd_max && cc->cwnd > cc->cwnd_max)
        cc->cwnd = cc->cwnd_max;
}

/* ---- reduction ---------------------------------------------------------------- */

static void reduce(pl_cc *cc, uint64_t now_ms)
{
    cc->undo_cwnd = cc->cwnd;
    cc->undo_ssthresh = cc->ssthresh;
    cc->undo_w_max = cc->w_max;
    cc->epoch_losses = 1;
    cc->epoch_spurious = 0;
    cc->recovery_at = now_ms;
    cc->congestion_events++;
    cc->acked_ca = 0;
    cc->acked_frac = 0;
    double mss = (double)cc->mss, cwnd = (double)cc->cwnd / mss;
    uint64_t next;
    if (cc->algo == PL_CC_CUBIC) {
        /* fast convergence (§4.7): a flow whose window stops short of the
         * last maximum releases some of it to newcomers */
        cc->w_max = cwnd < cc->w_max ? cwnd * (1 + CUBIC_BETA) / 2 : cwnd;
        cc->cwnd_prior = cwnd;
        next = (uint64_t)((double)cc->cwnd * CUBIC_BETA);
        cc->epoch_at = UINT64_MAX;
    } else {
        next = (uint64_t)((double)cc->cwnd * RENO_BETA);
    }
    if (next < min_window(cc))
        next = min_window(cc);
    cc->cwnd = next;
    cc->ssthresh = next;
}

void pl_cc_on_lost(pl_cc *cc, uint64_t now_ms, uint64_t sent_at_ms, size_t bytes)
{
    cc->in_flight -= bytes < cc->in_flight ? bytes : cc->in_flight;
    if (in_recovery(cc, sent_at_ms)) {
        cc->epoch_losses++;
        return;
    }
    reduce(cc, now_ms);
}

void pl_cc_on_persistent(pl_cc *cc)
{
    /* RFC 9002 §7.6.2: the window collapses to the minimum; no undo */
    cc->persistent_events++;
    cc->cwnd = min_window(cc);
    cc->undo_cwnd = 0;
    cc->epoch_at = UINT64_MAX;
    cc->acked_ca = 0;
    cc->acked_frac = 0;
}

void pl_cc_on_spurious(pl_cc *cc, uint64_t sent_at_ms)
{
    (void)sent_at_ms;
    if (cc->recovery_at == UINT64_MAX || cc->undo_cwnd == 0)
        return;
    /* only when every loss of the period proved spurious */
    if (++cc->epoch_spurious < cc->epoch_losses)
        return;
    if (cc->undo_cwnd > cc->cwnd)
        cc->cwnd = cc->undo_cwnd;
    cc->ssthresh = cc->undo_ssthresh;
    cc->w_max = cc->undo_w_max;
    cc->epoch_at = UINT64_MAX;
    cc->undo_cwnd = 0;
    cc->recovery_at = UINT64_MAX;
    cc->spurious_events++;
    if (cc->congestion_events)
        cc->congestion_events--;
}

void pl_cc_on_discarded(pl_cc *cc, size_t bytes)
{
    cc->in_flight -= bytes < cc->in_flight ? bytes : cc->in_flight;
}

const char *pl_cc_name(pl_cc_algo a)
{
    return a == PL_CC_CUBIC ? "cubic" : "newreno";
}
