/* identity_int.h - what other modules (not applications) may see of an identity. */
#ifndef PL_IDENTITY_INT_H
#define PL_IDENTITY_INT_H

#include <stdint.h>

#include "peerlink.h"

/* The 32-byte Ed25519 seed, in the identity's locked memory: valid while
 * the identity lives. Only for handing the key to a crypto backend (the
 * TLS certificate, src/stls/); never copy it anywhere that is not wiped. */
const uint8_t *pl_identity_seed(const pl_identity *id);

#endif
