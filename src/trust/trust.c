/* trust.c - placeholder */
#include "peerlink.h"
