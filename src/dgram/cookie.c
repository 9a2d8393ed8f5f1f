/*
 * cookie.c - the responder's stateless defences of the datagram handshake
 * (DESIGN.md §3.2, docs/protocol.md §3, §4): cookies under a rotating
 * secret, a bounded record of cookies already used, the proof of work, the
 * difficulty that follows the measured load, and the per-source accounting
 * that asks the costliest sources for more (a keyed count-min sketch of
 * decaying costs, allocated once). Sans-IO: the time and randomness come
 * in. Each check costs one BLAKE2b (or two SipHashes) at most.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "dgram/dgram_int.h"

/* ---- cookies ------------------------------------------------------------ */

static uint32_t cookie_epoch(const uint8_t cookie[PL_DG_COOKIE_LEN])
{
    return (uint32_t)cookie[0] << 24 | (uint32_t)cookie[1] << 16 | (uint32_t)cookie[2] << 8 |
           cookie[3];
}

static uint32_t epoch_of(uint64_t now)
{
    return (uint32_t)(now / PL_DG_COOKIE_ROTATE);
}

int pl_dg_cookie_keys_init(pl_dg_cookie_keys *k, uint64_t now, pl_random_fn random, void *user)
{
    memset(k, 0, sizeof *k);
    k->epoch = epoch_of(now);
    if (random(user, k->secret[k->epoch & 1], PL_DG_KEYLEN) != 0)
        return PL_ERR_INTERNAL;
    k->has_prev = false;
    return PL_OK;
}

int pl_dg_cookie_rotate(pl_dg_cookie_keys *k, uint64_t now, pl_random_fn random, void *user)
{
    uint32_t e = epoch_of(now);
    if (e == k->epoch)
        return PL_OK;
    /* the secret of the epoch before e survives only if it was the current */
    k->has_prev = e == k->epoch + 1;
    if (random(user, k->secret[e & 1], PL_DG_KEYLEN) != 0)
        return PL_ERR_INTERNAL;
    k->epoch = e;
    return PL_OK;
}

void pl_dg_cookie_keys_wipe(pl_dg_cookie_keys *k)
{
    sodium_memzero(k, sizeof *k);
}

static void cookie_mac(const uint8_t secret[PL_DG_KEYLEN], uint32_t epoch, const uint8_t *addr,
                       size_t addrlen, const uint8_t bind[PL_DG_BIND_LEN],
                       uint8_t out[PL_DG_COOKIE_MAC])
{
    static const char label[] = "peerlink dgram cookie 1";
    uint8_t e[4] = {(uint8_t)(epoch >> 24), (uint8_t)(epoch >> 16), (uint8_t)(epoch >> 8),
                    (uint8_t)epoch};
    uint8_t alen = (uint8_t)(addrlen > 255 ? 255 : addrlen);
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init(&st, secret, PL_DG_KEYLEN, PL_DG_COOKIE_MAC);
    crypto_generichash_blake2b_update(&st, (const uint8_t *)label, sizeof label);
    crypto_generichash_blake2b_update(&st, e, sizeof e);
    crypto_generichash_blake2b_update(&st, &alen, 1);
    crypto_generichash_blake2b_update(&st, addr, alen);
    crypto_generichash_blake2b_update(&st, bind, PL_DG_BIND_LEN);
    crypto_generichash_blake2b_final(&st, out, PL_DG_COOKIE_MAC);
}

int pl_dg_cookie_make(const pl_dg_cookie_keys *k, const uint8_t *addr, size_t addrlen,
                      const uint8_t bind[PL_DG_BIND_LEN], uint8_t out[PL_DG_COOKIE_LEN])
{
    if (!addr || addrlen == 0 || addrlen > 255)
        return PL_ERR_INVAL;
    out[0] = (uint8_t)(k->epoch >> 24);
    out[1] = (uint8_t)(k->epoch >> 16);
    out[2] = (uint8_t)(k->epoch >> 8);
    out[3] = (uint8_t)k->epoch;
    cookie_mac(k->secret[k->epoch & 1], k->epoch, addr, addrlen, bind, out + 4);
    return PL_OK;
}

int pl_dg_cookie_check(const pl_dg_cookie_keys *k, const uint8_t *addr, size_t addrlen,
                       const uint8_t bind[PL_DG_BIND_LEN], const uint8_t cookie[PL_DG_COOKIE_LEN])
{
    uint8_t mac[PL_DG_COOKIE_MAC];
    uint32_t e = cookie_epoch(cookie);
    if (!addr || addrlen == 0 || addrlen > 255)
        return PL_ERR_INVAL;
    if (!(e == k->epoch || (k->has_prev && e + 1 == k->epoch)))
        return PL_ERR_EXPIRED; /* stale (or from the future): no MAC computed */
    cookie_mac(k->secret[e & 1], e, addr, addrlen, bind, mac);
    return sodium_memcmp(mac, cookie + 4, sizeof mac) == 0 ? PL_OK : PL_ERR_AUTH;
}

/* ---- cookies already used -------------------------------------------- */

int pl_dg_used_init(pl_dg_used *u, size_t per_epoch)
{
    memset(u, 0, sizeof *u);
    size_t cap = 16;
    while (cap < per_epoch * 2) /* at most half full */
        cap *= 2;
    for (int g = 0; g < 2; g++) {
        u->slots[g] = calloc(cap, PL_DG_COOKIE_MAC);
        if (!u->slots[g]) {
            pl_dg_used_free(u);
            return PL_ERR_NOMEM;
        }
    }
    u->cap = cap;
    u->limit = per_epoch;
    u->epoch[0] = u->epoch[1] = UINT32_MAX;
    return PL_OK;
}

void pl_dg_used_free(pl_dg_used *u)
{
    free(u->slots[0]);
    free(u->slots[1]);
    memset(u, 0, sizeof *u);
}

static bool zero_mac(const uint8_t *m)
{
    uint8_t acc = 0;
    for (size_t i = 0; i < PL_DG_COOKIE_MAC; i++)
        acc |= m[i];
    return acc == 0;
}

/* The MAC is a keyed hash: its first bytes index the table. */
static size_t first_slot(const pl_dg_used *u, const uint8_t *mac)
{
    return ((size_t)mac[0] | (size_t)mac[1] << 8 | (size_t)mac[2] << 16 | (size_t)mac[3] << 24) &
           (u->cap - 1);
}

/* The slot holding mac, or the empty slot where it would go; NULL when the
 * table has neither (full and absent). */
static uint8_t *probe(const pl_dg_used *u, int g, const uint8_t *mac)
{
    size_t i = first_slot(u, mac);
    for (size_t n = 0; n < u->cap; n++, i = (i + 1) & (u->cap - 1)) {
        uint8_t *slot = u->slots[g] + i * PL_DG_COOKIE_MAC;
        if (zero_mac(slot) || memcmp(slot, mac, PL_DG_COOKIE_MAC) == 0)
            return slot;
    }
    return NULL;
}

bool pl_dg_used_has(const pl_dg_used *u, const uint8_t cookie[PL_DG_COOKIE_LEN])
{
    uint32_t e = cookie_epoch(cookie);
    int g = (int)(e & 1);
    const uint8_t *mac = cookie + 4;
    if (u->epoch[g] != e || zero_mac(mac))
        return false;
    const uint8_t *slot = probe(u, g, mac);
    return slot && !zero_mac(slot);
}

int pl_dg_used_add(pl_dg_used *u, const uint8_t cookie[PL_DG_COOKIE_LEN])
{
    uint32_t e = cookie_epoch(cookie);
    int g = (int)(e & 1);
    const uint8_t *mac = cookie + 4;
    if (u->epoch[g] != UINT32_MAX && e < u->epoch[g])
        return PL_ERR_EXPIRED;         /* never let an old cookie wipe a newer generation */
    if (u->epoch[g] != e) {            /* a new epoch takes the generation over */
        if (u->epoch[g] != UINT32_MAX) /* (a never-used one is still calloc's zeros:
                                          touching it would fault in every page) */
            memset(u->slots[g], 0, u->cap * PL_DG_COOKIE_MAC);
        u->count[g] = 0;
        u->epoch[g] = e;
    }
    if (zero_mac(mac))
        return PL_ERR_INVAL; /* the empty slot's value: never a real MAC */
    uint8_t *slot = probe(u, g, mac);
    if (!slot)
        return PL_ERR_TOOBIG;
    if (!zero_mac(slot))
        return PL_ERR_EXIST;
    if (u->count[g] >= u->limit)
        return PL_ERR_TOOBIG; /* full: refuse rather than forget */
    memcpy(slot, mac, PL_DG_COOKIE_MAC);
    u->count[g]++;
    return PL_OK;
}

/* ---- proof of work ------------------------------------------------------ */

static void pow_hash(const uint8_t cookie[PL_DG_COOKIE_LEN], const uint8_t bind[PL_DG_BIND_LEN],
                     uint64_t nonce, uint8_t out[32])
{
    static const char label[] = "peerlink dgram pow 1";
    uint8_t n[8];
    for (int i = 0; i < 8; i++)
        n[i] = (uint8_t)(nonce >> (8 * i));
    crypto_generichash_blake2b_state st;
    crypto_generichash_blake2b_init(&st, NULL, 0, 32);
    crypto_generichash_blake2b_update(&st, (const uint8_t *)label, sizeof label);
    crypto_generichash_blake2b_update(&st, cookie, PL_DG_COOKIE_LEN);
    crypto_generichash_blake2b_update(&st, bind, PL_DG_BIND_LEN);
    crypto_generichash_blake2b_update(&st, n, sizeof n);
    crypto_generichash_blake2b_final(&st, out, 32);
}

static unsigned leading_zeros(const uint8_t *h, size_t len)
{
    unsigned z = 0;
    for (size_t i = 0; i < len; i++) {
        if (h[i] == 0) {
            z += 8;
            continue;
        }
        for (int b = 7; b >= 0 && !(h[i] >> b & 1); b--)
            z++;
        break;
    }
    return z;
}

bool pl_dg_pow_ok(const uint8_t cookie[PL_DG_COOKIE_LEN], const uint8_t bind[PL_DG_BIND_LEN],
                  uint64_t nonce, unsigned bits)
{
    uint8_t h[32];
    if (bits == 0)
        return true;
    if (bits > PL_DG_POW_MAX)
        return false;
    pow_hash(cookie, bind, nonce, h);
    return leading_zeros(h, sizeof h) >= bits;
}

int pl_dg_pow_solve(const uint8_t cookie[PL_DG_COOKIE_LEN], const uint8_t bind[PL_DG_BIND_LEN],
                    unsigned bits, uint64_t start, uint64_t max_tries, uint64_t *nonce)
{
    if (bits > PL_DG_POW_MAX)
        return PL_ERR_INVAL;
    for (uint64_t i = 0; i < max_tries; i++) {
        if (pl_dg_pow_ok(cookie, bind, start + i, bits)) {
            *nonce = start + i;
            return PL_OK;
        }
    }
    return PL_ERR_TOOBIG;
}

/* ---- difficulty from load ------------------------------------------------- */

void pl_dg_load_init(pl_dg_load *l, unsigned capacity_per_s)
{
    memset(l, 0, sizeof *l);
    l->capacity = capacity_per_s ? capacity_per_s : 1;
}

/* Close the windows that ended by now_ms: each adjusts the difficulty by
 * one bit, up while the work done ran above half the capacity, down while
 * it ran below a quarter (and at once to zero after a quiet second). */
static void roll(pl_dg_load *l, uint64_t now_ms)
{
    if (l->window_start == 0 && l->count == 0) {
        l->window_start = now_ms;
        return;
    }
    while (now_ms >= l->window_start + PL_DG_LOAD_WINDOW_MS) {
        uint64_t per_s = (uint64_t)l->count * 1000 / PL_DG_LOAD_WINDOW_MS;
        if (per_s * 2 > l->capacity && l->bits < PL_DG_POW_MAX)
            l->bits++;
        else if (per_s * 4 < l->capacity && l->bits > 0)
            l->bits--;
        l->count = 0;
        l->window_start += PL_DG_LOAD_WINDOW_MS;
        if (now_ms >= l->window_start + 1000) { /* a quiet second or more */
            l->bits = 0;
            l->window_start = now_ms;
        }
    }
}

void pl_dg_load_note(pl_dg_load *l, uint64_t now_ms)
{
    roll(l, now_ms);
    l->count++;
}

unsigned pl_dg_load_bits(pl_dg_load *l, uint64_t now_ms)
{
    roll(l, now_ms);
    return l->bits;
}

/* ---- per-source accounting ------------------------------------------------ */

int pl_dg_srcload_init(pl_dg_srcload *s, unsigned capacity_per_s, pl_random_fn random, void *user)
{
    memset(s, 0, sizeof *s);
    uint64_t cap = capacity_per_s ? capacity_per_s : 1;
    /* A prefix whose cost rate is 1/SHARE of the capacity sums, in steady
     * state, to rate * TAU: that is its budget. */
    s->budget = cap * PL_DG_COST_PK * PL_DG_SRC_TAU_MS / (1000u * PL_DG_SRC_SHARE);
    if (s->budget == 0)
        s->budget = 1;
    if (random(user, s->key, sizeof s->key) != 0)
        return PL_ERR_INTERNAL;
    s->b = calloc((size_t)PL_DG_SRC_ROWS * PL_DG_SRC_BUCKETS, sizeof *s->b);
    if (!s->b) {
        pl_dg_srcload_free(s);
        return PL_ERR_NOMEM;
    }
    return PL_OK;
}

void pl_dg_srcload_free(pl_dg_srcload *s)
{
    free(s->b);
    sodium_memzero(s, sizeof *s);
}

/* The buckets of addr's prefix or host, one per row: SipHash-2-4 under the
 * table's key of level || family || the leading address bytes that make
 * the prefix (IPv4 3, IPv6 6) or the host (4, 8); another length is all
 * but the port, whole, at both levels. 16 bits of the hash per row. */
static void src_buckets(const pl_dg_srcload *s, const uint8_t *addr, size_t addrlen,
                        enum pl_dg_src_level level, pl_dg_src_bucket *out[PL_DG_SRC_ROWS])
{
    uint8_t in[2 + 255], h[crypto_shorthash_BYTES];
    size_t n = addrlen > 2 ? addrlen - 2 : addrlen;
    in[0] = (uint8_t)level;
    in[1] = 0;
    if (addrlen == 6) {
        in[1] = 4;
        n = level == PL_DG_SRC_PREFIX ? 3 : 4;
    } else if (addrlen == 18) {
        in[1] = 6;
        n = level == PL_DG_SRC_PREFIX ? 6 : 8;
    }
    if (n > 255)
        n = 255;
    if (n)
        memcpy(in + 2, addr, n);
    crypto_shorthash(h, in, 2 + n, s->key);
    for (int r = 0; r < PL_DG_SRC_ROWS; r++) {
        size_t i = ((size_t)h[2 * r] | (size_t)h[2 * r + 1] << 8) & (PL_DG_SRC_BUCKETS - 1);
        out[r] = &s->b[(size_t)r * PL_DG_SRC_BUCKETS + i];
    }
}

/* 2^(-k/4) in 16-bit fixed point: a quarter of a half-life per tick. */
static const uint32_t decay_q16[PL_DG_SRC_HALF_TICKS] = {65536, 55109, 46341, 38968};

/* A bucket's cost at tick: halved per whole half-life, then scaled by the
 * remaining quarter steps, rounding down. Ticks count modulo 2^32; a clock
 * that went back looks like a long wait, and the cost is forgotten (the
 * safe way to err: less work asked). */
static uint32_t decayed(const pl_dg_src_bucket *b, uint32_t tick)
{
    uint32_t d = tick - b->tick;
    if (d >= 32 * PL_DG_SRC_HALF_TICKS)
        return 0;
    uint64_t c = b->cost >> (d / PL_DG_SRC_HALF_TICKS);
    return (uint32_t)(c * decay_q16[d % PL_DG_SRC_HALF_TICKS] >> 16);
}

static uint32_t tick_of(uint64_t now_ms)
{
    return (uint32_t)(now_ms / PL_DG_SRC_TICK_MS);
}

/* Conservative update: every row rises to at least the estimate + cost,
 * none further. */
static void charge(pl_dg_srcload *s, const uint8_t *addr, size_t addrlen,
                   enum pl_dg_src_level level, unsigned cost, uint32_t tick)
{
    pl_dg_src_bucket *b[PL_DG_SRC_ROWS];
    uint32_t v[PL_DG_SRC_ROWS], min = UINT32_MAX;
    src_buckets(s, addr, addrlen, level, b);
    for (int r = 0; r < PL_DG_SRC_ROWS; r++) {
        v[r] = decayed(b[r], tick);
        if (v[r] < min)
            min = v[r];
    }
    uint32_t want = min > UINT32_MAX - cost ? UINT32_MAX : min + cost;
    for (int r = 0; r < PL_DG_SRC_ROWS; r++) {
        b[r]->cost = v[r] > want ? v[r] : want;
        b[r]->tick = tick;
    }
}

void pl_dg_srcload_note(pl_dg_srcload *s, const uint8_t *addr, size_t addrlen, unsigned cost,
                        uint64_t now_ms)
{
    if (!s->b || cost == 0)
        return;
    charge(s, addr, addrlen, PL_DG_SRC_PREFIX, cost, tick_of(now_ms));
    charge(s, addr, addrlen, PL_DG_SRC_HOST, cost, tick_of(now_ms));
}

uint32_t pl_dg_srcload_cost(const pl_dg_srcload *s, const uint8_t *addr, size_t addrlen,
                            enum pl_dg_src_level level, uint64_t now_ms)
{
    pl_dg_src_bucket *b[PL_DG_SRC_ROWS];
    uint32_t min = UINT32_MAX;
    if (!s->b)
        return 0;
    src_buckets(s, addr, addrlen, level, b);
    for (int r = 0; r < PL_DG_SRC_ROWS; r++) {
        uint32_t v = decayed(b[r], tick_of(now_ms));
        if (v < min)
            min = v;
    }
    return min;
}

/* floor(log2(cost / fair)), 0 below fair, at most PL_DG_SRC_EXTRA_MAX. */
static unsigned log2_over(uint64_t cost, uint64_t fair)
{
    unsigned n = 0;
    while (n < PL_DG_SRC_EXTRA_MAX && cost >= fair << (n + 1))
        n++;
    return n;
}

unsigned pl_dg_srcload_extra(const pl_dg_srcload *s, const uint8_t *addr, size_t addrlen,
                             uint64_t now_ms)
{
    uint64_t prefix = pl_dg_srcload_cost(s, addr, addrlen, PL_DG_SRC_PREFIX, now_ms);
    uint64_t host = pl_dg_srcload_cost(s, addr, addrlen, PL_DG_SRC_HOST, now_ms);
    /* a host's fair share is 1/HOST_SHARE of its prefix's */
    unsigned a = log2_over(prefix, s->budget);
    unsigned b = log2_over(host * PL_DG_SRC_HOST_SHARE, s->budget);
    return a > b ? a : b;
}

unsigned pl_dg_srcload_bits(const pl_dg_srcload *s, unsigned global, const uint8_t *addr,
                            size_t addrlen, uint64_t now_ms)
{
    unsigned extra = pl_dg_srcload_extra(s, addr, addrlen, now_ms);
    /* Idle, a source pays only once it alone costs well beyond its share:
     * ordinary clients, and a busy NAT behind one address, pay nothing. */
    if (global == 0 && extra < PL_DG_SRC_IDLE_MIN)
        extra = 0;
    unsigned bits = global + extra;
    return bits > PL_DG_POW_MAX ? PL_DG_POW_MAX : bits;
}
