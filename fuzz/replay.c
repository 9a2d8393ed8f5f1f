/*
 * replay.c - runs a fuzz target over its seed corpus without libFuzzer.
 *
 * For every seed file: the whole input, every truncated prefix, and every
 * single-bit flip of the first 256 bytes go through LLVMFuzzerTestOneInput.
 * Built into the ordinary test suite (and under ASan/UBSan in CI), so a
 * target that crashes on its own seeds or their neighbours fails the suite.
 * Output is TAP, one line per seed file.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return -1;
    static uint8_t buf[1 << 20];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    uint8_t *copy = malloc(n ? n : 1);
    if (!copy)
        return -1;
    for (size_t len = 0; len <= n; len++) {
        memcpy(copy, buf, len); /* a fresh allocation-sized copy: ASan sees overreads */
        uint8_t *exact = malloc(len ? len : 1);
        if (!exact) {
            free(copy);
            return -1;
        }
        memcpy(exact, copy, len);
        LLVMFuzzerTestOneInput(exact, len);
        free(exact);
    }
    size_t flips = n < 256 ? n : 256;
    for (size_t i = 0; i < flips * 8; i++) {
        memcpy(copy, buf, n);
        copy[i / 8] ^= (uint8_t)(1u << (i % 8));
        LLVMFuzzerTestOneInput(copy, n);
    }
    free(copy);
    return 0;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s CORPUS_DIR\n", argv[0]);
        return 2;
    }
    DIR *d = opendir(argv[1]);
    if (!d) {
        printf("1..1\nnot ok 1 - cannot open corpus %s\n", argv[1]);
        return 1;
    }
    char *names[4096];
    size_t count = 0;
    struct dirent *e;
    while ((e = readdir(d)) && count < 4096) {
        if (e->d_name[0] == '.')
            continue;
        names[count++] = strdup(e->d_name);
    }
    closedir(d);
    qsort(names, count, sizeof names[0], cmp);
    if (count == 0) {
        printf("1..1\nnot ok 1 - corpus %s is empty\n", argv[1]);
        return 1;
    }
    printf("1..%zu\n", count);
    int failed = 0;
    for (size_t i = 0; i < count; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[1], names[i]);
        int rc = run_file(path);
        printf("%s %zu - %s\n", rc == 0 ? "ok" : "not ok", i + 1, names[i]);
        failed |= rc != 0;
        free(names[i]);
    }
    return failed;
}
