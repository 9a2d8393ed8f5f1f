/* dgnode.c - a datagram engine as a simulator node (dgnode.h). */
#include "dgnode.h"

#include <stdlib.h>
#include <string.h>

#include "../unit/testutil.h"

static int det_random(void *user, uint8_t *out, size_t len)
{
    uint64_t *st = user;
    for (size_t i = 0; i < len; i++) {
        *st = *st * 6364136223846793005ULL + 1442695040888963407ULL;
        out[i] = (uint8_t)(*st >> 56);
    }
    return 0;
}

void dgnode_to_dg(const sim_addr *a, pl_dg_addr *out)
{
    out->len = a->len;
    memcpy(out->b, a->b, a->len);
}

static void send_out(dgnode *n)
{
    static uint8_t buf[2048];
    pl_dg_addr to;
    int len;
    while ((len = pl_dg_output(n->e, &to, buf, sizeof buf)) > 0) {
        sim_addr sa;
        sa.len = to.len;
        memcpy(sa.b, to.b, to.len);
        sim_send(n->s, &n->addr, &sa, buf, (size_t)len);
    }
    assert_int_equal(len, 0);
}

void dgnode_pump(dgnode *n, uint64_t now)
{
    pl_dg_event ev;
    send_out(n);
    while (pl_dg_event_next(n->e, &ev)) {
        n->on_event(n, now, &ev);
        free(ev.msg);
    }
    if (n->after)
        n->after(n, now);
    send_out(n);
}

static void on_recv(void *node, uint64_t now, const sim_addr *from, const sim_addr *to,
                    const uint8_t *data, size_t len)
{
    dgnode *n = node;
    pl_dg_addr f;
    (void)to;
    dgnode_to_dg(from, &f);
    pl_dg_input(n->e, now, &f, data, len);
    dgnode_pump(n, now);
}

static void on_timer(void *node, uint64_t now)
{
    dgnode *n = node;
    pl_dg_timer(n->e, now);
    dgnode_pump(n, now);
}

static uint64_t on_deadline(void *node)
{
    return pl_dg_deadline(((dgnode *)node)->e);
}

static const sim_node_ops ops = {on_recv, on_timer, on_deadline};

void dgnode_init(dgnode *n, sim *s, uint8_t tag, uint8_t salt, sim_addr addr,
                 dgnode_event_fn on_event, dgnode_after_fn after)
{
    dgnode_init_cfg(n, s, tag, salt, addr, on_event, after, NULL);
}

void dgnode_init_cfg(dgnode *n, sim *s, uint8_t tag, uint8_t salt, sim_addr addr,
                     dgnode_event_fn on_event, dgnode_after_fn after, const pl_dg_config *extra)
{
    uint8_t seed[32];
    memset(n, 0, sizeof *n);
    memset(seed, tag, sizeof seed);
    seed[1] = salt;
    n->s = s;
    n->addr = addr;
    n->rnd = tag * 977u + salt;
    n->on_event = on_event;
    n->after = after;
    assert_int_equal(pl_identity_from_seed(&n->id, seed), PL_OK);
    pl_identity_fingerprint(n->id, &n->fp);
    assert_int_equal(pl_trust_new(&n->trust), PL_OK);
    pl_dg_config cfg = {0};
    cfg.id = n->id;
    cfg.trust = n->trust;
    cfg.random = det_random;
    cfg.random_user = &n->rnd;
    cfg.now_s = 1800000000;
    cfg.used_cookies_max = 256;
    if (extra) {
        cfg.cc = extra->cc;
        cfg.keepalive_ms = extra->keepalive_ms;
        cfg.idle_ms = extra->idle_ms;
    }
    assert_int_equal(pl_dg_new(&n->e, &cfg), PL_OK);
    assert_true(sim_add_node(s, &addr, &ops, n) >= 0);
}

void dgnode_free(dgnode *n)
{
    pl_dg_free(n->e);
    pl_trust_free(n->trust);
    pl_identity_free(n->id);
}
