/* dgpair.h - two datagram engines (src/dgram/) wired back to back in
 * memory on a virtual clock that jumps to the next deadline (test code):
 * datagrams go from one to the other when addressed to it (and not `dark`),
 * timers fire in order. */
#ifndef PL_TEST_DGPAIR_H
#define PL_TEST_DGPAIR_H

#include <stdbool.h>
#include <stdint.h>

#include "dgram/engine.h"
#include "peerlink.h"

#define T0 UINT64_C(5000000)

typedef struct mn {
    pl_identity *id;
    pl_trust *trust;
    pl_fingerprint fp;
    pl_dg_engine *e;
    pl_dg_addr addr;
    uint64_t rnd;
} mn;

/* Two nodes, zero delay, a clock that jumps to the next deadline. */
typedef struct pair {
    mn a, b;
    uint64_t now;
    bool dark; /* drop everything */
    unsigned moved;
} pair;

/* A deterministic random source (an LCG over *user). */
int det_random(void *user, uint8_t *out, size_t len);
void mn_init(mn *n, uint8_t tag);
/* With extra's cc, keepalive_ms and idle_ms (NULL: the defaults). */
void mn_init_cfg(mn *n, uint8_t tag, const pl_dg_config *extra);
void mn_free(mn *n);
/* n trusts peer. */
void trust(mn *n, const mn *peer);
/* Move every datagram waiting, both ways, until quiet. */
void move(pair *p);
/* Move datagrams and fire timers until `until` (or quiet). */
void run_until(pair *p, uint64_t until);
void pair_init(pair *p, bool trusted);
void pair_free(pair *p);
/* Next event of node n (freeing nothing: the caller frees ev->msg). */
bool next(mn *n, pl_dg_event *ev);
/* Connect a to b and return both ends. */
void connect_pair(pair *p, pl_dg_conn **ca, pl_dg_conn **cb);

#endif
