/* testutil.h - helpers for the cmocka unit tests. */
#ifndef PL_TESTUTIL_H
#define PL_TESTUTIL_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

/* Path of a file under ../shared/vectors ($PL_VECTORS). Static buffer. */
const char *tu_vector_path(const char *rel);
/* Whole file, NUL-terminated, malloc'd; fails the test if unreadable. */
char *tu_read_file(const char *path, size_t *len);
/* Hex to bytes; fails the test on bad hex. Returns the byte count. */
size_t tu_unhex(const char *hex, uint8_t *out, size_t cap);
/* A fresh private temporary directory (malloc'd path), and its removal. */
char *tu_tmpdir(void);
void tu_rmrf(const char *path);

#endif
