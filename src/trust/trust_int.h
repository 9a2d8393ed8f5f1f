/*
 * trust_int.h - the trust store's internals, shared by its files and tests.
 *
 * A store is the trust file as a list of entries in file order, plus the
 * comment and blank lines that stood between them (kept verbatim), plus an
 * index on the digest for pl_trust_check. See docs/formats.md §4.
 */
#ifndef PL_TRUST_TRUST_INT_H
#define PL_TRUST_TRUST_INT_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "peerlink.h"
#include "util/buf.h"

/* groups=a,b,... at the caps: every name at its longest, with commas. */
#define PL_TRUST_GROUPS_TEXT_MAX (PL_TRUST_GROUPS_MAX * (PL_TRUST_GROUP_NAME_MAX + 1) - 1)

/* One entry. The three strings point into one allocation, `text`; each is
 * "" when absent. groups is the list as written: "lab,ops". */
struct pl_trust_ent {
    enum pl_trust_kind kind;
    uint8_t digest[PL_FP_DIGEST_LEN];
    uint64_t expires;
    size_t line_len; /* bytes of its canonical line, "\n" included */
    char *text;
    const char *authority, *petname, *groups;
};

/* A run of comment and blank lines, verbatim and "\n"-terminated, that
 * stood before entry number `at` (at == entry count: after the last). */
struct pl_trust_note {
    size_t at;
    size_t len;
    char *text;
};

/* Index slot: the allow and the deny entry of one digest (either may be
 * NULL; both NULL means the slot is free). */
struct pl_trust_slot {
    struct pl_trust_ent *e[2]; /* [kind - 1] */
};

struct pl_trust {
    struct pl_trust_ent **ents; /* file order */
    size_t n_ents, cap_ents;
    struct pl_trust_note *notes; /* sorted by `at` */
    size_t n_notes, cap_notes;
    /* Open addressing on a keyed hash of the digest (SipHash, random key
     * per store), so a crafted file cannot pile its entries into one
     * probe chain. n_slots is 0 or a power of two; at most half are used. */
    struct pl_trust_slot *slots;
    size_t n_slots, n_used;
    size_t text_len; /* bytes pl_trust_format writes; <= PL_TRUST_FILE_MAX */
    unsigned char hkey[crypto_shorthash_KEYBYTES];
};

/* store.c */

/* Adds e at the end, or (replace) overwrites the entry of its kind for its
 * digest in place. Without replace an existing one gives PL_ERR_EXIST.
 * PL_ERR_TOOBIG past the entry or size cap, PL_ERR_NOMEM. */
int pl_trust_put(pl_trust *ts, const pl_trust_entry *e, int replace, const char **why) PL_WUR;
/* Appends a comment run before the next entry; adds the final "\n" when
 * text lacks one. */
int pl_trust_add_note(pl_trust *ts, const char *text, size_t len, const char **why) PL_WUR;

/* text.c */

/* One entry line (not a comment or blank line) into e. PL_ERR_PARSE. */
int pl_trust_parse_entry(pl_span line, pl_trust_entry *e, const char **why) PL_WUR;
/* The canonical line of e, "\n" included. */
void pl_trust_write_ent(const struct pl_trust_ent *e, pl_wr *w);
/* Checks of option values, shared by the parser and pl_trust_set. */
int pl_trust_check_petname(const char *s, size_t len, const char **why) PL_WUR;
int pl_trust_parse_groups(pl_trust_entry *e, const char *s, size_t len, const char **why) PL_WUR;
int pl_trust_check_kind_options(const pl_trust_entry *e, const char **why) PL_WUR;

#endif
