/* dgpair.c - two datagram engines wired back to back in memory on a
 * virtual clock (test code; dgpair.h). */
#include "dgpair.h"

#include <string.h>

#include "testutil.h"

int det_random(void *user, uint8_t *out, size_t len)
{
    uint64_t *s = user;
    for (size_t i = 0; i < len; i++) {
        *s = *s * 6364136223846793005ULL + 1442695040888963407ULL;
        out[i] = (uint8_t)(*s >> 56);
    }
    return 0;
}

void mn_init(mn *n, uint8_t tag)
{
    mn_init_cfg(n, tag, NULL);
}

void mn_init_cfg(mn *n, uint8_t tag, const pl_dg_config *extra)
{
    uint8_t seed[32];
    memset(n, 0, sizeof *n);
    memset(seed, tag, sizeof seed);
    seed[2] = 0x77;
    assert_int_equal(pl_identity_from_seed(&n->id, seed), PL_OK);
    pl_identity_fingerprint(n->id, &n->fp);
    assert_int_equal(pl_trust_new(&n->trust), PL_OK);
    n->rnd = tag * 104729u + 5;
    pl_dg_config cfg = {.id = n->id,
                        .trust = n->trust,
                        .random = det_random,
                        .random_user = &n->rnd,
                        .now_s = 1800000000,
                        .used_cookies_max = 64};
    if (extra) {
        cfg.cc = extra->cc;
        cfg.keepalive_ms = extra->keepalive_ms;
        cfg.idle_ms = extra->idle_ms;
    }
    assert_int_equal(pl_dg_new(&n->e, &cfg), PL_OK);
    n->addr = (pl_dg_addr){6, {192, 0, 2, tag, 0x1f, 0x90}};
}

void mn_free(mn *n)
{
    pl_dg_free(n->e);
    pl_trust_free(n->trust);
    pl_identity_free(n->id);
}

void trust(mn *n, const mn *peer)
{
    const char *why = NULL;
    assert_int_equal(pl_trust_set(n->trust, PL_TRUST_ALLOW, &peer->fp, NULL, NULL, 0, &why), PL_OK);
}

void move(pair *p)
{
    static uint8_t buf[2048];
    bool again = true;
    while (again) {
        again = false;
        for (int i = 0; i < 2; i++) {
            mn *from = i ? &p->b : &p->a, *to = i ? &p->a : &p->b;
            pl_dg_addr dst;
            int n;
            while ((n = pl_dg_output(from->e, &dst, buf, sizeof buf)) > 0) {
                again = true;
                p->moved++;
                if (!p->dark && dst.len == to->addr.len && memcmp(dst.b, to->addr.b, dst.len) == 0)
                    pl_dg_input(to->e, p->now, &from->addr, buf, (size_t)n);
            }
            assert_int_equal(n, 0);
        }
    }
}

/* Move datagrams and fire timers until `until` (or quiet). */
void run_until(pair *p, uint64_t until)
{
    for (int guard = 0; guard < 200000; guard++) {
        move(p);
        uint64_t d = pl_dg_deadline(p->a.e), db = pl_dg_deadline(p->b.e);
        if (db < d)
            d = db;
        if (d == UINT64_MAX || d > until) {
            if (until != UINT64_MAX && until > p->now)
                p->now = until;
            return;
        }
        if (d > p->now)
            p->now = d;
        pl_dg_timer(p->a.e, p->now);
        pl_dg_timer(p->b.e, p->now);
    }
    fail_msg("the engines kept talking");
}

void pair_init(pair *p, bool trusted)
{
    memset(p, 0, sizeof *p);
    mn_init(&p->a, 1);
    mn_init(&p->b, 2);
    if (trusted)
        trust(&p->b, &p->a);
    p->now = T0;
}

void pair_free(pair *p)
{
    mn_free(&p->a);
    mn_free(&p->b);
}

/* Next event of node n (freeing nothing: the caller frees ev->msg). */
bool next(mn *n, pl_dg_event *ev)
{
    return pl_dg_event_next(n->e, ev);
}

/* Connect a to b and return both ends. */
void connect_pair(pair *p, pl_dg_conn **ca, pl_dg_conn **cb)
{
    pl_dg_event ev;
    assert_int_equal(pl_dg_connect(p->a.e, p->now, &p->b.addr, &p->b.fp, NULL, 0, false, ca),
                     PL_OK);
    run_until(p, p->now + 100);
    assert_true(next(&p->a, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_ESTABLISHED);
    assert_true(next(&p->b, &ev));
    assert_int_equal(ev.kind, PL_DG_EV_ESTABLISHED);
    *cb = ev.conn;
}
