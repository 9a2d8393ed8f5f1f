/* ed25519.c - placeholder */
#include "peerlink.h"
