/* cc.c - congestion control and pacing (cc.h). PROVISIONAL: NewReno only,
 * to be replaced by the full NewReno/CUBIC implementation. */
#include <string.h>

#include "dgram/cc.h"

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

void pl_cc_init(pl_cc *cc, pl_cc_algo algo, size_t mss)
{
    memset(cc, 0, sizeof *cc);
    cc->algo = algo;
    cc->mss = mss;
    cc->cwnd = PL_CC_INITIAL_PACKETS * mss;
    cc->ssthresh = UINT64_MAX;
    cc->recovery_at = UINT64_MAX;
    cc->epoch_at = UINT64_MAX;
    cc->tokens = PL_CC_INITIAL_PACKETS * mss;
}

bool pl_cc_can_send(const pl_cc *cc, size_t bytes)
{
    return cc->in_flight + bytes <= cc->cwnd;
}

uint64_t pl_cc_pace_at(pl_cc *cc, uint64_t now_ms, const pl_rtt *rtt, size_t bytes)
{
    (void)now_ms;
    (void)rtt;
    (void)bytes;
    return now_ms;
}

void pl_cc_on_sent(pl_cc *cc, uint64_t now_ms, size_t bytes)
{
    (void)now_ms;
    cc->in_flight += bytes;
}

void pl_cc_on_acked(pl_cc *cc, uint64_t now_ms, uint64_t sent_at_ms, size_t bytes,
                    const pl_rtt *rtt)
{
    (void)now_ms;
    (void)rtt;
    cc->in_flight -= bytes < cc->in_flight ? bytes : cc->in_flight;
    if (cc->recovery_at != UINT64_MAX && sent_at_ms < cc->recovery_at)
        return;
    if (cc->cwnd < cc->ssthresh) {
        cc->cwnd += bytes;
        return;
    }
    cc->acked_ca += bytes;
    if (cc->acked_ca >= cc->cwnd) {
        cc->acked_ca -= cc->cwnd;
        cc->cwnd += cc->mss;
    }
}

void pl_cc_on_lost(pl_cc *cc, uint64_t now_ms, uint64_t sent_at_ms, size_t bytes)
{
    cc->in_flight -= bytes < cc->in_flight ? bytes : cc->in_flight;
    if (cc->recovery_at != UINT64_MAX && sent_at_ms < cc->recovery_at) {
        cc->epoch_losses++;
        return;
    }
    cc->undo_cwnd = cc->cwnd;
    cc->undo_ssthresh = cc->ssthresh;
    cc->epoch_losses = 1;
    cc->epoch_spurious = 0;
    cc->recovery_at = now_ms;
    cc->congestion_events++;
    cc->cwnd /= 2;
    if (cc->cwnd < PL_CC_MIN_PACKETS * cc->mss)
        cc->cwnd = PL_CC_MIN_PACKETS * cc->mss;
    cc->ssthresh = cc->cwnd;
}

void pl_cc_on_persistent(pl_cc *cc)
{
    cc->persistent_events++;
    cc->cwnd = PL_CC_MIN_PACKETS * cc->mss;
}

void pl_cc_on_discarded(pl_cc *cc, size_t bytes)
{
    cc->in_flight -= bytes < cc->in_flight ? bytes : cc->in_flight;
}

const char *pl_cc_name(pl_cc_algo a)
{
    return a == PL_CC_CUBIC ? "cubic" : "newreno";
}

void pl_cc_on_spurious(pl_cc *cc, uint64_t sent_at_ms)
{
    if (cc->recovery_at == UINT64_MAX || cc->undo_cwnd == 0)
        return;
    /* a loss of the current period (sent before it began, or its trigger) */
    if (++cc->epoch_spurious < cc->epoch_losses)
        return;
    (void)sent_at_ms;
    if (cc->undo_cwnd > cc->cwnd)
        cc->cwnd = cc->undo_cwnd;
    cc->ssthresh = cc->undo_ssthresh;
    cc->undo_cwnd = 0;
    if (cc->congestion_events)
        cc->congestion_events--;
}
