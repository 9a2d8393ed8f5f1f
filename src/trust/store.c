/*
 * store.c - the trust store in memory: entries in file order, the comment
 * runs between them, and an index on the digest for pl_trust_check.
 *
 * Verdict (docs/formats.md §4): entries whose expiry has passed are
 * ignored; then any deny wins; then an allow allows; else unknown. The
 * authority in a fingerprint is kept for discovery and never compared.
 */
#include <stdlib.h>
#include <string.h>

#include "trust/trust_int.h"

enum { ALLOW = PL_TRUST_ALLOW - 1, DENY = PL_TRUST_DENY - 1 }; /* slot index of a kind */

int pl_trust_new(pl_trust **out)
{
    if (!out)
        return PL_ERR_INVAL;
    *out = NULL;
    if (sodium_init() < 0)
        return PL_ERR_INTERNAL;
    pl_trust *ts = calloc(1, sizeof *ts);
    if (!ts)
        return PL_ERR_NOMEM;
    crypto_shorthash_keygen(ts->hkey);
    *out = ts;
    return PL_OK;
}

static void ent_free(struct pl_trust_ent *e)
{
    if (e) {
        free(e->text);
        free(e);
    }
}

void pl_trust_free(pl_trust *ts)
{
    if (!ts)
        return;
    for (size_t i = 0; i < ts->n_ents; i++)
        ent_free(ts->ents[i]);
    for (size_t i = 0; i < ts->n_notes; i++)
        free(ts->notes[i].text);
    free(ts->ents);
    free(ts->notes);
    free(ts->slots);
    free(ts);
}

/* ---- the index ----------------------------------------------------- */

static size_t home(const pl_trust *ts, const uint8_t *digest)
{
    uint8_t h[crypto_shorthash_BYTES];
    uint64_t v = 0;
    crypto_shorthash(h, digest, PL_FP_DIGEST_LEN, ts->hkey);
    for (size_t i = 0; i < 8; i++)
        v = v << 8 | h[i];
    return (size_t)v & (ts->n_slots - 1);
}

static const uint8_t *slot_digest(const struct pl_trust_slot *s)
{
    return s->e[ALLOW] ? s->e[ALLOW]->digest : s->e[DENY] ? s->e[DENY]->digest : NULL;
}

/* The slot holding digest, else the free slot where it would go; NULL
 * before the first entry. Ends because at most half the slots are used. */
static struct pl_trust_slot *probe(const pl_trust *ts, const uint8_t *digest)
{
    if (ts->n_slots == 0)
        return NULL;
    for (size_t i = home(ts, digest);; i = (i + 1) & (ts->n_slots - 1)) {
        const uint8_t *d = slot_digest(&ts->slots[i]);
        if (!d || memcmp(d, digest, PL_FP_DIGEST_LEN) == 0) /* digests are public */
            return &ts->slots[i];
    }
}

static struct pl_trust_slot *find(const pl_trust *ts, const pl_fingerprint *fp)
{
    struct pl_trust_slot *s = ts && fp ? probe(ts, fp->digest) : NULL;
    return s && slot_digest(s) ? s : NULL;
}

/* Room for one more digest, keeping the table at most half full. */
static int reserve_slot(pl_trust *ts)
{
    if ((ts->n_used + 1) * 2 <= ts->n_slots)
        return PL_OK;
    size_t n = ts->n_slots ? ts->n_slots * 2 : 16;
    struct pl_trust_slot *old = ts->slots, *s = calloc(n, sizeof *s);
    size_t old_n = ts->n_slots;
    if (!s)
        return PL_ERR_NOMEM;
    ts->slots = s;
    ts->n_slots = n;
    for (size_t i = 0; i < old_n; i++) {
        const uint8_t *d = slot_digest(&old[i]);
        if (d)
            *probe(ts, d) = old[i];
    }
    free(old);
    return PL_OK;
}

/* Frees slot i and shifts later members of its probe chain back, so no
 * tombstones are needed (linear probing deletion). */
static void slot_delete(pl_trust *ts, size_t i)
{
    size_t mask = ts->n_slots - 1;
    memset(&ts->slots[i], 0, sizeof ts->slots[i]);
    for (size_t j = (i + 1) & mask; slot_digest(&ts->slots[j]); j = (j + 1) & mask) {
        size_t k = home(ts, slot_digest(&ts->slots[j]));
        /* The member at j may fill the hole at i unless its home k lies
         * cyclically in (i, j]. */
        int stays = i < j ? (i < k && k <= j) : (i < k || k <= j);
        if (stays)
            continue;
        ts->slots[i] = ts->slots[j];
        memset(&ts->slots[j], 0, sizeof ts->slots[j]);
        i = j;
    }
    ts->n_used--;
}

/* ---- entries ------------------------------------------------------- */

static int ent_new(const pl_trust_entry *src, struct pl_trust_ent **out)
{
    size_t alen = strlen(src->fp.authority), plen = strlen(src->petname), glen = 0;
    for (size_t i = 0; i < src->n_groups; i++)
        glen += strlen(src->groups[i]) + 1; /* name and ',' (the last one: NUL) */
    struct pl_trust_ent *e = calloc(1, sizeof *e);
    char *t = malloc(alen + 1 + plen + 1 + (glen ? glen : 1));
    if (!e || !t) {
        free(e);
        free(t);
        return PL_ERR_NOMEM;
    }
    e->kind = src->kind;
    memcpy(e->digest, src->fp.digest, PL_FP_DIGEST_LEN);
    e->expires = src->expires;
    e->text = t;
    e->authority = memcpy(t, src->fp.authority, alen + 1);
    e->petname = memcpy(t + alen + 1, src->petname, plen + 1);
    char *g = t + alen + 1 + plen + 1;
    e->groups = g;
    *g = 0;
    for (size_t i = 0; i < src->n_groups; i++) {
        size_t n = strlen(src->groups[i]);
        memcpy(g, src->groups[i], n);
        g[n] = i + 1 < src->n_groups ? ',' : 0;
        g += n + 1;
    }
    char line[PL_TRUST_LINE_MAX + 1];
    pl_wr w = pl_wr_init(line, sizeof line);
    pl_trust_write_ent(e, &w);
    if (pl_wr_result(&w) < 0) { /* the caps keep a canonical line under the line cap */
        ent_free(e);
        return PL_ERR_INTERNAL;
    }
    e->line_len = w.off;
    *out = e;
    return PL_OK;
}

static int grow(void **arr, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return PL_OK;
    size_t c = *cap ? *cap * 2 : 16;
    void *p = realloc(*arr, c * size);
    if (!p)
        return PL_ERR_NOMEM;
    *arr = p;
    *cap = c;
    return PL_OK;
}

static int too_big(const char **why)
{
    *why = "the trust file would grow past 4 MiB";
    return PL_ERR_TOOBIG;
}

/* Appends a fresh entry: nothing changes unless everything fits. */
static int append(pl_trust *ts, struct pl_trust_ent *e)
{
    void *ents = ts->ents;
    int rc = grow(&ents, &ts->cap_ents, ts->n_ents, sizeof ts->ents[0]);
    ts->ents = ents;
    struct pl_trust_slot *s = probe(ts, e->digest);
    if (rc == PL_OK && (!s || !slot_digest(s)))
        rc = reserve_slot(ts);
    if (rc != PL_OK)
        return rc;
    s = probe(ts, e->digest); /* the table may have moved */
    if (!slot_digest(s))
        ts->n_used++;
    s->e[e->kind - 1] = e;
    ts->ents[ts->n_ents++] = e;
    ts->text_len += e->line_len;
    return PL_OK;
}

int pl_trust_put(pl_trust *ts, const pl_trust_entry *src, int replace, const char **why)
{
    struct pl_trust_slot *s = probe(ts, src->fp.digest);
    struct pl_trust_ent *old = s ? s->e[src->kind - 1] : NULL, *e;
    if (old && !replace) {
        *why = "an entry of this kind already exists for this fingerprint";
        return PL_ERR_EXIST;
    }
    if (!old && ts->n_ents == PL_TRUST_ENTRIES_MAX) {
        *why = "the trust store is full (at most 65536 entries)";
        return PL_ERR_TOOBIG;
    }
    int rc = ent_new(src, &e);
    if (rc != PL_OK) {
        *why = "cannot store the entry";
        return rc;
    }
    size_t len = ts->text_len - (old ? old->line_len : 0) + e->line_len;
    if (len > PL_TRUST_FILE_MAX) {
        ent_free(e);
        return too_big(why);
    }
    if (old) { /* in place: the line keeps its position in the file */
        free(old->text);
        *old = *e;
        free(e);
        ts->text_len = len;
        return PL_OK;
    }
    rc = append(ts, e);
    if (rc != PL_OK) {
        ent_free(e);
        *why = "cannot store the entry";
    }
    return rc;
}

int pl_trust_add_note(pl_trust *ts, const char *text, size_t len, const char **why)
{
    /* The parser passes whole lines ending in "\n"; store whole lines even
     * if a caller ever does not. */
    size_t n = len + (len == 0 || text[len - 1] != '\n');
    if (ts->text_len + n > PL_TRUST_FILE_MAX)
        return too_big(why);
    void *notes = ts->notes;
    int rc = grow(&notes, &ts->cap_notes, ts->n_notes, sizeof ts->notes[0]);
    ts->notes = notes;
    char *t = rc == PL_OK ? malloc(n) : NULL;
    if (!t) {
        *why = "cannot store a comment";
        return PL_ERR_NOMEM;
    }
    memcpy(t, text, len);
    t[n - 1] = '\n';
    ts->notes[ts->n_notes].at = ts->n_ents;
    ts->notes[ts->n_notes].len = n;
    ts->notes[ts->n_notes].text = t;
    ts->n_notes++;
    ts->text_len += n;
    return PL_OK;
}

/* Builds the entry pl_trust_set was asked for, with the parser's checks. */
static int build(pl_trust_entry *e, enum pl_trust_kind kind, const pl_fingerprint *fp,
                 const char *petname, const char *groups, uint64_t expires, const char **why)
{
    char auth[PL_AUTHORITY_MAX + 1];
    memset(e, 0, sizeof *e);
    if (kind != PL_TRUST_ALLOW && kind != PL_TRUST_DENY) {
        *why = "the kind must be PL_TRUST_ALLOW or PL_TRUST_DENY";
        return PL_ERR_INVAL;
    }
    size_t alen = strnlen(fp->authority, sizeof fp->authority);
    if (alen == sizeof fp->authority) {
        *why = "the fingerprint's authority is not terminated";
        return PL_ERR_INVAL;
    }
    memcpy(auth, fp->authority, alen + 1);
    e->kind = kind;
    memcpy(e->fp.digest, fp->digest, PL_FP_DIGEST_LEN);
    if (pl_fingerprint_set_authority(&e->fp, auth, why) != PL_OK)
        return PL_ERR_INVAL;
    if (petname && petname[0]) {
        size_t n = strnlen(petname, PL_TRUST_PETNAME_MAX + 1);
        if (pl_trust_check_petname(petname, n, why) != PL_OK)
            return PL_ERR_INVAL;
        memcpy(e->petname, petname, n);
    }
    if (groups && groups[0]) {
        size_t n = strnlen(groups, PL_TRUST_GROUPS_TEXT_MAX + 1);
        if (n > PL_TRUST_GROUPS_TEXT_MAX) {
            *why = "too many groups, or group names too long (at most 16 of 32 characters)";
            return PL_ERR_INVAL;
        }
        if (pl_trust_parse_groups(e, groups, n, why) != PL_OK)
            return PL_ERR_INVAL;
    }
    if (expires > PL_TIME_MAX) {
        *why = "the expiry is after 9999-12-31T23:59:59Z";
        return PL_ERR_INVAL;
    }
    e->expires = expires;
    return pl_trust_check_kind_options(e, why) == PL_OK ? PL_OK : PL_ERR_INVAL;
}

int pl_trust_set(pl_trust *ts, enum pl_trust_kind kind, const pl_fingerprint *fp,
                 const char *petname, const char *groups, uint64_t expires, const char **why)
{
    const char *why_ignored;
    pl_trust_entry e;
    why = why ? why : &why_ignored;
    if (!ts || !fp) {
        *why = "no trust store or fingerprint given";
        return PL_ERR_INVAL;
    }
    int rc = build(&e, kind, fp, petname, groups, expires, why);
    return rc != PL_OK ? rc : pl_trust_put(ts, &e, 1, why);
}

/* Drops e from the file order; comment runs after it move up one entry. */
static void unlink_ent(pl_trust *ts, struct pl_trust_ent *e)
{
    size_t i = 0;
    while (ts->ents[i] != e)
        i++;
    memmove(&ts->ents[i], &ts->ents[i + 1], (ts->n_ents - i - 1) * sizeof ts->ents[0]);
    ts->n_ents--;
    for (size_t k = 0; k < ts->n_notes; k++)
        if (ts->notes[k].at > i)
            ts->notes[k].at--;
    ts->text_len -= e->line_len;
    ent_free(e);
}

int pl_trust_remove(pl_trust *ts, const pl_fingerprint *fp)
{
    if (!ts || !fp)
        return PL_ERR_INVAL;
    struct pl_trust_slot *s = find(ts, fp);
    if (!s)
        return PL_ERR_NOTFOUND;
    struct pl_trust_slot gone = *s;
    slot_delete(ts, (size_t)(s - ts->slots));
    for (size_t k = 0; k < 2; k++)
        if (gone.e[k])
            unlink_ent(ts, gone.e[k]);
    return PL_OK;
}

/* ---- queries ------------------------------------------------------- */

static int live(const struct pl_trust_ent *e, uint64_t now)
{
    return e && (e->expires == 0 || now < e->expires);
}

/* The live allow entry for fp, if fp is allowed at now; else NULL. */
static const struct pl_trust_ent *allowing(const pl_trust *ts, const pl_fingerprint *fp,
                                           uint64_t now)
{
    const struct pl_trust_slot *s = find(ts, fp);
    if (!s || live(s->e[DENY], now) || !live(s->e[ALLOW], now))
        return NULL;
    return s->e[ALLOW];
}

enum pl_trust_verdict pl_trust_check(const pl_trust *ts, const pl_fingerprint *fp, uint64_t now)
{
    const struct pl_trust_slot *s = find(ts, fp);
    if (s && live(s->e[DENY], now))
        return PL_TRUST_DENIED;
    if (s && live(s->e[ALLOW], now))
        return PL_TRUST_ALLOWED;
    return PL_TRUST_UNKNOWN;
}

int pl_trust_in_group(const pl_trust *ts, const pl_fingerprint *fp, const char *group, uint64_t now)
{
    const struct pl_trust_ent *e = group ? allowing(ts, fp, now) : NULL;
    if (!e)
        return 0;
    pl_rd r = pl_rd_init(e->groups, strlen(e->groups));
    while (pl_rd_left(&r) > 0) {
        pl_span g = pl_rd_until(&r, ',');
        (void)pl_rd_accept(&r, ",");
        if (pl_span_eq(g, group))
            return 1;
    }
    return 0;
}

size_t pl_trust_count(const pl_trust *ts)
{
    return ts ? ts->n_ents : 0;
}

int pl_trust_get(const pl_trust *ts, size_t i, pl_trust_entry *out)
{
    if (!ts || !out)
        return PL_ERR_INVAL;
    if (i >= ts->n_ents)
        return PL_ERR_NOTFOUND;
    const struct pl_trust_ent *e = ts->ents[i];
    memset(out, 0, sizeof *out);
    out->kind = e->kind;
    memcpy(out->fp.digest, e->digest, PL_FP_DIGEST_LEN);
    memcpy(out->fp.authority, e->authority, strlen(e->authority) + 1);
    memcpy(out->petname, e->petname, strlen(e->petname) + 1);
    out->expires = e->expires;
    pl_rd r = pl_rd_init(e->groups, strlen(e->groups));
    while (pl_rd_left(&r) > 0 && out->n_groups < PL_TRUST_GROUPS_MAX) {
        pl_span g = pl_rd_until(&r, ',');
        (void)pl_rd_accept(&r, ",");
        memcpy(out->groups[out->n_groups], g.p, g.len);
        out->groups[out->n_groups++][g.len] = 0;
    }
    return PL_OK;
}
