/*
 * test_cc.c - the congestion controllers and the pacer (src/dgram/cc.c)
 * by their rules, on a virtual clock:
 *   - slow start doubles per round trip, up to the caller's cap;
 *   - NewReno halves once per recovery period (RFC 9002 §7.3.2) and then
 *     grows one packet per window;
 *   - CUBIC reduces to 0.7 (RFC 9438 §4.6), returns to W_max after K
 *     seconds (§4.2), and with fast convergence (§4.7) a second loss
 *     short of W_max lowers it;
 *   - an application that does not fill the window does not grow it;
 *   - persistent congestion collapses to the minimum window;
 *   - spurious losses undo the reduction only when every loss of the
 *     period was spurious;
 *   - the pacer lets a burst through, then spaces packets at
 *     1.25 cwnd / srtt.
 */
#include "testutil.h"

#include <math.h>

#include "dgram/cc.h"

#define MSS 1200

/* One round trip at `rtt_ms` in which the whole window is sent and
 * acknowledged, packet by packet. */
static void round_trip(pl_cc *cc, pl_rtt *rtt, uint64_t *now, uint64_t rtt_ms)
{
    uint64_t n = cc->cwnd / MSS, sent_at = *now;
    for (uint64_t i = 0; i < n; i++)
        pl_cc_on_sent(cc, sent_at, MSS);
    *now += rtt_ms;
    pl_rtt_sample(rtt, rtt_ms);
    for (uint64_t i = 0; i < n; i++)
        pl_cc_on_acked(cc, *now, sent_at, MSS, rtt);
}

static void slow_start_and_cap(void **state)
{
    (void)state;
    pl_cc cc;
    pl_rtt rtt;
    pl_rtt_init(&rtt, 100);
    pl_cc_init(&cc, PL_CC_NEWRENO, MSS);
    assert_int_equal(cc.cwnd, PL_CC_INITIAL_PACKETS * MSS);
    assert_true(pl_cc_can_send(&cc, MSS));
    uint64_t now = 0;
    round_trip(&cc, &rtt, &now, 50);
    assert_int_equal(cc.cwnd, 2 * PL_CC_INITIAL_PACKETS * MSS);
    round_trip(&cc, &rtt, &now, 50);
    assert_int_equal(cc.cwnd, 4 * PL_CC_INITIAL_PACKETS * MSS);
    assert_int_equal(cc.in_flight, 0);
    /* the window is the limit */
    for (uint64_t i = 0; i < cc.cwnd / MSS; i++)
        pl_cc_on_sent(&cc, now, MSS);
    assert_false(pl_cc_can_send(&cc, MSS));
    cc.in_flight = 0;
    cc.cwnd_max = 50 * MSS;
    round_trip(&cc, &rtt, &now, 50);
    assert_int_equal(cc.cwnd, 50 * MSS);
}

static void newreno_halves_once(void **state)
{
    (void)state;
    pl_cc cc;
    pl_rtt rtt;
    pl_rtt_init(&rtt, 100);
    pl_cc_init(&cc, PL_CC_NEWRENO, MSS);
    uint64_t now = 0;
    for (int i = 0; i < 3; i++)
        round_trip(&cc, &rtt, &now, 40); /* 80 packets */
    assert_int_equal(cc.cwnd, 80 * MSS);
    for (int i = 0; i < 80; i++)
        pl_cc_on_sent(&cc, now, MSS);
    uint64_t sent_at = now;
    now += 40;
    /* three losses of the same flight: one reduction */
    pl_cc_on_lost(&cc, now, sent_at, MSS);
    pl_cc_on_lost(&cc, now, sent_at, MSS);
    pl_cc_on_lost(&cc, now + 1, sent_at, MSS);
    assert_int_equal(cc.cwnd, 40 * MSS);
    assert_int_equal(cc.ssthresh, 40 * MSS);
    assert_int_equal(cc.congestion_events, 1);
    /* the rest of that flight acknowledged: no growth in recovery */
    for (int i = 0; i < 77; i++)
        pl_cc_on_acked(&cc, now, sent_at, MSS, &rtt);
    assert_int_equal(cc.cwnd, 40 * MSS);
    assert_int_equal(cc.in_flight, 0);
    /* congestion avoidance: one packet per window acknowledged */
    now += 1;
    round_trip(&cc, &rtt, &now, 40);
    assert_int_equal(cc.cwnd, 41 * MSS);
    round_trip(&cc, &rtt, &now, 40);
    assert_int_equal(cc.cwnd, 42 * MSS);
    /* a loss of a packet sent after recovery began is a new event */
    pl_cc_on_sent(&cc, now, MSS);
    pl_cc_on_lost(&cc, now + 40, now, MSS);
    assert_int_equal(cc.cwnd, 21 * MSS);
    assert_int_equal(cc.congestion_events, 2);
    /* never below the minimum */
    for (int i = 0; i < 10; i++) {
        now += 100;
        pl_cc_on_sent(&cc, now, MSS);
        pl_cc_on_lost(&cc, now + 50, now, MSS);
    }
    assert_int_equal(cc.cwnd, PL_CC_MIN_PACKETS * MSS);
}

static void cubic_curve(void **state)
{
    (void)state;
    pl_cc cc;
    pl_rtt rtt;
    pl_rtt_init(&rtt, 100);
    pl_cc_init(&cc, PL_CC_CUBIC, MSS);
    uint64_t now = 0;
    for (int i = 0; i < 4; i++)
        round_trip(&cc, &rtt, &now, 20); /* 160 packets */
    assert_int_equal(cc.cwnd, 160 * MSS);
    pl_cc_on_sent(&cc, now, MSS);
    pl_cc_on_lost(&cc, now + 20, now, MSS);
    now += 21;
    assert_int_equal(cc.cwnd, 112 * MSS); /* 0.7 */
    assert_true(fabs(cc.w_max - 160) < 1e-9);
    /* K = cbrt(W_max (1 - beta) / C) = cbrt(160 * 0.3 / 0.4) = 4.93 s; at
     * 100 ms per round trip the Reno-friendly estimate (alpha 0.53 per
     * RTT) stays below the curve, which then rules */
    double k = cbrt(160 * 0.3 / 0.4);
    uint64_t t0 = now;
    uint64_t cwnd_half = 0;
    while (now < t0 + (uint64_t)(k * 1000) + 2000) {
        round_trip(&cc, &rtt, &now, 100);
        if (!cwnd_half && now >= t0 + (uint64_t)(k * 500))
            cwnd_half = cc.cwnd / MSS;
        if (now <= t0 + (uint64_t)(k * 1000) - 100) /* concave: below W_max until K */
            assert_true(cc.cwnd <= 161 * MSS);
    }
    /* concave: most of the way back by K/2 */
    assert_true(cwnd_half > 140 && cwnd_half < 160);
    /* past K the window grows beyond W_max (the probing, convex part) */
    assert_true(cc.cwnd > 162 * MSS);
    /* fast convergence: a loss short of W_max lowers W_max below the window */
    pl_cc_on_sent(&cc, now, MSS);
    pl_cc_on_lost(&cc, now + 20, now, MSS);
    now += 21;
    double w = (double)cc.cwnd / MSS / 0.7; /* the window before */
    assert_true(fabs(cc.w_max - w) < 1.5);  /* (it had passed the old W_max) */
    pl_cc_on_sent(&cc, now, MSS);
    pl_cc_on_lost(&cc, now + 20, now, MSS);
    assert_true(cc.w_max < (double)cc.cwnd / MSS / 0.7);
}

static void app_limited_and_persistent(void **state)
{
    (void)state;
    pl_cc cc;
    pl_rtt rtt;
    pl_rtt_init(&rtt, 100);
    pl_cc_init(&cc, PL_CC_NEWRENO, MSS);
    /* one packet at a time: the window stays */
    for (uint64_t now = 0; now < 10000; now += 10) {
        pl_cc_on_sent(&cc, now, MSS);
        pl_cc_on_acked(&cc, now + 5, now, MSS, &rtt);
    }
    assert_int_equal(cc.cwnd, PL_CC_INITIAL_PACKETS * MSS);
    pl_cc_on_persistent(&cc);
    assert_int_equal(cc.cwnd, PL_CC_MIN_PACKETS * MSS);
    assert_int_equal(cc.persistent_events, 1);
}

static void spurious_undo(void **state)
{
    (void)state;
    pl_cc cc;
    pl_rtt rtt;
    pl_rtt_init(&rtt, 100);
    pl_cc_init(&cc, PL_CC_NEWRENO, MSS);
    uint64_t now = 0;
    round_trip(&cc, &rtt, &now, 40);
    uint64_t before = cc.cwnd;
    for (int i = 0; i < 20; i++)
        pl_cc_on_sent(&cc, now, MSS);
    pl_cc_on_lost(&cc, now + 40, now, MSS);
    pl_cc_on_lost(&cc, now + 40, now, MSS);
    assert_int_equal(cc.cwnd, before / 2);
    pl_cc_on_spurious(&cc, now); /* one of two: not yet */
    assert_int_equal(cc.cwnd, before / 2);
    pl_cc_on_spurious(&cc, now);
    assert_int_equal(cc.cwnd, before);
    assert_int_equal(cc.ssthresh, UINT64_MAX);
    assert_int_equal(cc.congestion_events, 0);
    assert_int_equal(cc.spurious_events, 1);
    /* after persistent congestion there is nothing to undo */
    pl_cc_on_lost(&cc, now + 100, now + 60, MSS);
    pl_cc_on_persistent(&cc);
    pl_cc_on_spurious(&cc, now + 60);
    assert_int_equal(cc.cwnd, PL_CC_MIN_PACKETS * MSS);
}

static void pacing(void **state)
{
    (void)state;
    pl_cc cc;
    pl_rtt rtt;
    pl_rtt_init(&rtt, 100);
    pl_rtt_sample(&rtt, 100);
    pl_cc_init(&cc, PL_CC_NEWRENO, MSS);
    cc.cwnd = 100 * MSS; /* 1.25 * 120000 B / 100 ms = 1500 B/ms */
    assert_int_equal(pl_cc_pacing_rate(&cc, &rtt), 1500000);
    uint64_t now = 1000, sent = 0;
    /* the bucket starts with the initial window */
    while (pl_cc_pace_at(&cc, now, &rtt, MSS) == now) {
        pl_cc_on_sent(&cc, now, MSS);
        sent++;
    }
    assert_int_equal(sent, PL_CC_INITIAL_PACKETS);
    uint64_t next = pl_cc_pace_at(&cc, now, &rtt, MSS);
    assert_true(next > now && next <= now + 1);
    /* over a second, about the rate: 1500 B/ms -> 1250 packets */
    sent = 0;
    for (uint64_t t = now + 1; t <= now + 1000; t++) {
        while (pl_cc_pace_at(&cc, t, &rtt, MSS) == t) {
            pl_cc_on_sent(&cc, t, MSS);
            cc.in_flight = 0;
            sent++;
        }
    }
    assert_true(sent >= 1240 && sent <= 1260);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slow_start_and_cap), cmocka_unit_test(newreno_halves_once),
        cmocka_unit_test(cubic_curve),        cmocka_unit_test(app_limited_and_persistent),
        cmocka_unit_test(spurious_undo),      cmocka_unit_test(pacing),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
