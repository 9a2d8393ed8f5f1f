/*
 * record_int.h - what the record-set core shares with its two carriers.
 *
 * Every field enters a pl_record through one of the push functions below,
 * whether it comes from the API (pl_record_add_*), the JSON carrier or the
 * TXT carrier, so all three apply the same rules (docs/formats.md §3.3).
 * A push that fails leaves the record unchanged.
 */
#ifndef PL_RECORD_RECORD_INT_H
#define PL_RECORD_RECORD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "peerlink.h"

/* Field types in the canonical byte string. */
enum {
    PL_RECORD_T_ADDRESS = 1,
    PL_RECORD_T_RELAY = 2,
    PL_RECORD_T_NAME = 3,
    PL_RECORD_T_BLOB = 4,
};

/* Longest relay text: a formatted fingerprint without its NUL. */
#define PL_RECORD_RELAY_TEXT_MAX (PL_FINGERPRINT_STR_MAX - 1)

/* Append a field given as bytes (not NUL-terminated), after validating it.
 * 0, PL_ERR_PARSE (bad value) or PL_ERR_TOOBIG (too long, too many). */
int pl_record_push_address(pl_record *rs, const char *s, size_t len, const char **why) PL_WUR;
int pl_record_push_relay(pl_record *rs, const char *s, size_t len, const char **why) PL_WUR;
int pl_record_push_name(pl_record *rs, const char *s, size_t len, const char **why) PL_WUR;
int pl_record_push_blob(pl_record *rs, const uint8_t *p, size_t len, const char **why) PL_WUR;

/* Range checks of the two numbers; 0 or PL_ERR_PARSE with *why set. */
int pl_record_check_timestamp(uint64_t ts, const char **why) PL_WUR;
int pl_record_check_ttl(uint64_t ttl, const char **why) PL_WUR;

/* Every field of a struct the caller filled (counts, NUL termination,
 * values, timestamp range); ttl is checked separately. 0 or PL_ERR_INVAL. */
int pl_record_check_fields(const pl_record *rs, const char **why) PL_WUR;

#endif
