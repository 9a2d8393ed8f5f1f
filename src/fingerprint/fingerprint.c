/* fingerprint.c - placeholder */
#include "peerlink.h"
