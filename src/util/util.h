/* util.h - small internal helpers shared by every module. */
#ifndef PL_UTIL_UTIL_H
#define PL_UTIL_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "peerlink.h"

#if defined(__GNUC__) || defined(__clang__)
#define PL_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define PL_PRINTF(a, b)
#endif

/* Log through the user's callback (never prints). */
void pl_log(enum pl_log_level level, const char *fmt, ...) PL_PRINTF(2, 3);

/* SHA3-256 (FIPS 202). 0 or PL_ERR_INTERNAL. */
int pl_sha3_256(const void *data, size_t len, uint8_t out[32]) PL_WUR;

/* Lower-case hex; out needs 2*len+1 bytes. */
void pl_hex_encode(const uint8_t *in, size_t len, char *out);
/* Strict hex (either case) of exactly 2*outlen chars. 0 or PL_ERR_PARSE. */
int pl_hex_decode(const char *in, size_t len, uint8_t *out, size_t outlen) PL_WUR;

/* 1 if every byte is printable ASCII 0x21..0x7e (no space, no controls). */
int pl_is_graph_ascii(const char *s, size_t len);

/* Open path for reading without blocking on a FIFO, and fstat the open
 * descriptor into *st: checks made on *st hold for what is read from *fd
 * (no window to swap the file). Only regular files: PL_ERR_IO with errno
 * EISDIR/EINVAL otherwise; PL_ERR_NOTFOUND; PL_ERR_IO. */
int pl_file_open_regular(const char *path, int *fd, struct stat *st) PL_WUR;

/* Read the rest of fd, at most cap bytes, into a fresh malloc'd buffer (NUL
 * terminated, not counted in *len). Does not close fd. PL_ERR_TOOBIG,
 * PL_ERR_IO, PL_ERR_NOMEM. */
int pl_file_read_fd(int fd, size_t cap, char **out, size_t *len) PL_WUR;

/* pl_file_open_regular + pl_file_read_fd + close. */
int pl_file_read(const char *path, size_t cap, char **out, size_t *len) PL_WUR;

/* Write data to path atomically: temp file in the same directory with
 * `mode`, fsync, rename, fsync of the directory. With exclusive set, an
 * existing path gives PL_ERR_EXIST (checked by link(2), so two racing
 * writers cannot both win). Creates a missing parent directory with 0700. */
int pl_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         int exclusive) PL_WUR;

/* Create the directory part of path (mode 0700) if missing. */
int pl_mkdir_parent(const char *path) PL_WUR;

#endif
