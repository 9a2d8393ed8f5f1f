/* record.c - placeholder */
#include "peerlink.h"
