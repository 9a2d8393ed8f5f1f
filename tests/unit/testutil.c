/* testutil.c - helpers for the cmocka unit tests. */
#define _GNU_SOURCE
#include "testutil.h"

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *tu_vector_path(const char *rel)
{
    static char path[4096];
    const char *dir = getenv("PL_VECTORS");
    if (!dir)
        dir = "../shared/vectors";
    snprintf(path, sizeof path, "%s/%s", dir, rel);
    return path;
}

char *tu_read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    assert_non_null(buf);
    assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
    fclose(f);
    buf[n] = 0;
    if (len)
        *len = (size_t)n;
    return buf;
}

static int hv(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t tu_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex);
    if (n % 2 || n / 2 > cap)
        fail_msg("bad hex length %zu", n);
    for (size_t i = 0; i < n / 2; i++) {
        int a = hv(hex[2 * i]), b = hv(hex[2 * i + 1]);
        if (a < 0 || b < 0)
            fail_msg("bad hex digit");
        out[i] = (uint8_t)(a << 4 | b);
    }
    return n / 2;
}

char *tu_tmpdir(void)
{
    char *t = strdup("/tmp/pltest-XXXXXX");
    assert_non_null(t);
    assert_non_null(mkdtemp(t));
    return t;
}

static int rm1(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(p);
}

void tu_rmrf(const char *path)
{
    nftw(path, rm1, 16, FTW_DEPTH | FTW_PHYS);
}
