/* identity.c - placeholder */
#include "peerlink.h"
