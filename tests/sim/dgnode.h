/* dgnode.h - a datagram engine (src/dgram/) as a node of the simulator
 * (test code): the engine's datagrams go onto the simulated network, the
 * simulator's datagrams, timers and deadline come back into the engine,
 * and each event goes to the test's callback. Embed a dgnode first in a
 * test's own node struct. */
#ifndef PL_TEST_DGNODE_H
#define PL_TEST_DGNODE_H

#include <stdint.h>

#include "dgram/engine.h"
#include "peerlink.h"
#include "sim.h"

typedef struct dgnode dgnode;
/* An event of the engine (the callback frees nothing: dgnode frees ev->msg). */
typedef void (*dgnode_event_fn)(dgnode *n, uint64_t now, pl_dg_event *ev);
/* After each batch of events (may be NULL). */
typedef void (*dgnode_after_fn)(dgnode *n, uint64_t now);

struct dgnode {
    sim *s;
    pl_identity *id;
    pl_trust *trust;
    pl_fingerprint fp;
    pl_dg_engine *e;
    sim_addr addr;
    uint64_t rnd;
    dgnode_event_fn on_event;
    dgnode_after_fn after;
};

/* An identity from (tag, salt), an empty trust store, an engine with a
 * seeded random source, and the node added to the simulator. */
void dgnode_init(dgnode *n, sim *s, uint8_t tag, uint8_t salt, sim_addr addr,
                 dgnode_event_fn on_event, dgnode_after_fn after);
/* The same with extra's cc, keepalive_ms and idle_ms (NULL: defaults). */
void dgnode_init_cfg(dgnode *n, sim *s, uint8_t tag, uint8_t salt, sim_addr addr,
                     dgnode_event_fn on_event, dgnode_after_fn after, const pl_dg_config *extra);
void dgnode_free(dgnode *n);
void dgnode_to_dg(const sim_addr *a, pl_dg_addr *out);
/* Send what the engine has, hand its events over, send again. */
void dgnode_pump(dgnode *n, uint64_t now);

#endif /* PL_TEST_DGNODE_H */
