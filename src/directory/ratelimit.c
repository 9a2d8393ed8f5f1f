/*
 * ratelimit.c - announces per source: a token bucket per address.
 *
 * Every announce costs the directory an Ed25519 verification and a synced
 * database write, so each source gets `burst` tokens refilled at `per_min`
 * per minute. A source is an IPv4 address, or an IPv6 /64 (one host
 * usually owns a whole /64). The table is fixed-size open addressing under
 * a keyed hash (so a client cannot aim many sources at one slot); when the
 * probe window is full the least recently seen entry is replaced - a
 * forgotten source starts again with a full bucket, which costs at most
 * one burst. Time comes in as an argument (sans-IO).
 */
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "directory/directory.h"

#define MILLI 1000 /* tokens are kept in thousandths */

struct slot {
    uint8_t addr[8]; /* IPv4 in the first 4 bytes, or the /64 */
    uint8_t family;  /* 0: free, 4 or 6 */
    uint64_t last_ms;
    uint64_t tokens; /* thousandths */
};

struct pl_dir_ratelimit {
    pthread_mutex_t lock;
    unsigned per_min;
    uint64_t cap; /* burst in thousandths */
    size_t mask;
    uint8_t key[crypto_shorthash_KEYBYTES];
    struct slot *slots;
};

int pl_dir_ratelimit_new(pl_dir_ratelimit **out, unsigned per_min, unsigned burst, size_t entries,
                         const uint8_t key[16])
{
    pl_dir_ratelimit *rl;
    size_t n = 16;
    if (!out || !key || burst == 0 || entries == 0 || entries > (1u << 24))
        return PL_ERR_INVAL;
    while (n < entries)
        n <<= 1;
    rl = calloc(1, sizeof *rl);
    if (!rl)
        return PL_ERR_NOMEM;
    rl->slots = calloc(n, sizeof *rl->slots);
    if (!rl->slots || pthread_mutex_init(&rl->lock, NULL) != 0) {
        free(rl->slots);
        free(rl);
        return PL_ERR_NOMEM;
    }
    rl->per_min = per_min;
    rl->cap = (uint64_t)burst * MILLI;
    rl->mask = n - 1;
    memcpy(rl->key, key, sizeof rl->key);
    *out = rl;
    return PL_OK;
}

void pl_dir_ratelimit_free(pl_dir_ratelimit *rl)
{
    if (!rl)
        return;
    pthread_mutex_destroy(&rl->lock);
    free(rl->slots);
    free(rl);
}

/* The source of sa: 4 or 6 with its bytes, or 0 for other families. */
static int source_of(const struct sockaddr *sa, uint8_t addr[8])
{
    static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    memset(addr, 0, 8);
    if (sa && sa->sa_family == AF_INET) {
        memcpy(addr, &((const struct sockaddr_in *)(const void *)sa)->sin_addr, 4);
        return 4;
    }
    if (sa && sa->sa_family == AF_INET6) {
        const uint8_t *a = ((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr.s6_addr;
        if (memcmp(a, mapped, sizeof mapped) == 0) {
            memcpy(addr, a + 12, 4);
            return 4;
        }
        memcpy(addr, a, 8);
        return 6;
    }
    return 0;
}

static void refill(const pl_dir_ratelimit *rl, struct slot *s, uint64_t now_ms)
{
    if (now_ms > s->last_ms) {
        uint64_t dt = now_ms - s->last_ms;
        /* per_min tokens per 60000 ms, in thousandths: per_min * dt / 60. */
        uint64_t add = dt > 60000ull * 1000 ? rl->cap : (uint64_t)rl->per_min * dt / 60;
        s->tokens = s->tokens + add > rl->cap ? rl->cap : s->tokens + add;
        s->last_ms = now_ms;
    }
}

unsigned pl_dir_ratelimit_take(pl_dir_ratelimit *rl, const struct sockaddr *sa, uint64_t now_ms)
{
    uint8_t addr[8], in[9];
    uint64_t h;
    struct slot *s = NULL, *victim = NULL;
    unsigned wait = 0;
    int family;

    if (!rl || rl->per_min == 0)
        return 0;
    family = source_of(sa, addr);
    if (family == 0)
        return 0;
    in[0] = (uint8_t)family;
    memcpy(in + 1, addr, 8);
    crypto_shorthash((uint8_t *)&h, in, sizeof in, rl->key);

    pthread_mutex_lock(&rl->lock);
    for (size_t i = 0; i < PL_DIR_RL_PROBE; i++) {
        struct slot *c = &rl->slots[(h + i) & rl->mask];
        if (c->family == family && memcmp(c->addr, addr, 8) == 0) {
            s = c;
            break;
        }
        if (!victim || (victim->family != 0 && (c->family == 0 || c->last_ms < victim->last_ms)))
            victim = c;
    }
    if (!s) {
        s = victim;
        s->family = (uint8_t)family;
        memcpy(s->addr, addr, 8);
        s->tokens = rl->cap;
        s->last_ms = now_ms;
    }
    refill(rl, s, now_ms);
    if (s->tokens >= MILLI) {
        s->tokens -= MILLI;
    } else {
        /* Seconds until one whole token: (MILLI - tokens) * 60 / per_min ms. */
        uint64_t ms = ((MILLI - s->tokens) * 60 + rl->per_min - 1) / rl->per_min;
        wait = (unsigned)((ms + 999) / 1000);
        if (wait == 0)
            wait = 1;
    }
    pthread_mutex_unlock(&rl->lock);
    return wait;
}
