/* file.c - bounded file reads and atomic, durable file replacement. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "peerlink.h"
#include "util/util.h"

int pl_file_open_regular(const char *path, int *fd, struct stat *st)
{
    /* O_NONBLOCK so a FIFO cannot hang the open; only regular files pass. */
    *fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (*fd < 0)
        return errno == ENOENT ? PL_ERR_NOTFOUND : PL_ERR_IO;
    if (fstat(*fd, st) != 0 || !S_ISREG(st->st_mode) ||
        fcntl(*fd, F_SETFL, fcntl(*fd, F_GETFL) & ~O_NONBLOCK) != 0) {
        int e = S_ISDIR(st->st_mode) ? EISDIR : EINVAL;
        close(*fd);
        *fd = -1;
        errno = e;
        return PL_ERR_IO;
    }
    return PL_OK;
}

int pl_file_read_fd(int fd, size_t cap, char **out, size_t *len)
{
    char *buf = malloc(cap + 1);
    if (!buf)
        return PL_ERR_NOMEM;
    size_t n = 0;
    for (;;) {
        /* Read one byte past the cap to tell "exactly cap" from "more". */
        ssize_t r = read(fd, buf + n, cap + 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            free(buf);
            return PL_ERR_IO;
        }
        if (r == 0)
            break;
        n += (size_t)r;
        if (n > cap) {
            sodium_memzero(buf, n);
            free(buf);
            return PL_ERR_TOOBIG;
        }
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return PL_OK;
}

int pl_file_read(const char *path, size_t cap, char **out, size_t *len)
{
    int fd;
    struct stat st;
    int rc = pl_file_open_regular(path, &fd, &st);
    if (rc != PL_OK)
        return rc;
    rc = pl_file_read_fd(fd, cap, out, len);
    close(fd);
    return rc;
}

static int dir_of(const char *path, char *dir, size_t cap)
{
    const char *slash = strrchr(path, '/');
    size_t n;
    if (!slash) {
        if (cap < 2)
            return PL_ERR_BUFSIZE;
        memcpy(dir, ".", 2);
        return PL_OK;
    }
    n = slash == path ? 1 : (size_t)(slash - path);
    if (n + 1 > cap)
        return PL_ERR_BUFSIZE;
    memcpy(dir, path, n);
    dir[n] = 0;
    return PL_OK;
}

static int mkdir_p(char *dir)
{
    struct stat st;
    if (stat(dir, &st) == 0)
        return S_ISDIR(st.st_mode) ? PL_OK : PL_ERR_IO;
    char *slash = strrchr(dir, '/');
    if (slash && slash != dir) {
        *slash = 0;
        int rc = mkdir_p(dir);
        *slash = '/';
        if (rc != PL_OK)
            return rc;
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST)
        return PL_ERR_IO;
    return PL_OK;
}

int pl_mkdir_parent(const char *path)
{
    char dir[PL_PATH_MAX];
    int rc = dir_of(path, dir, sizeof dir);
    return rc != PL_OK ? rc : mkdir_p(dir);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return PL_ERR_IO;
        p += w;
        n -= (size_t)w;
    }
    return PL_OK;
}

int pl_file_write_atomic(const char *path, const void *data, size_t len, unsigned mode,
                         int exclusive)
{
    char dir[PL_PATH_MAX], tmp[PL_PATH_MAX];
    int rc = dir_of(path, dir, sizeof dir);
    if (rc != PL_OK)
        return rc;
    if ((rc = mkdir_p(dir)) != PL_OK)
        return rc;
    int n = snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return PL_ERR_BUFSIZE;
    int fd = mkstemp(tmp);
    if (fd < 0)
        return PL_ERR_IO;
    if (fchmod(fd, (mode_t)mode) != 0 || write_all(fd, data, len) != PL_OK || fsync(fd) != 0) {
        close(fd);
        unlink(tmp);
        return PL_ERR_IO;
    }
    if (close(fd) != 0) {
        unlink(tmp);
        return PL_ERR_IO;
    }
    if (exclusive) {
        /* link(2) fails if path exists: no window where two writers win. */
        if (link(tmp, path) != 0) {
            int e = errno;
            unlink(tmp);
            return e == EEXIST ? PL_ERR_EXIST : PL_ERR_IO;
        }
        unlink(tmp);
    } else if (rename(tmp, path) != 0) {
        unlink(tmp);
        return PL_ERR_IO;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd); /* best effort: makes the rename durable */
        close(dfd);
    }
    return PL_OK;
}
