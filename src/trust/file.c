/*
 * file.c - the trust store on disk: load, atomic save, default path.
 *
 * Whoever can write the trust file can grant themselves access, so like
 * OpenSSH's StrictModes we refuse a file that group or others can write,
 * or that belongs to another user (root excepted).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trust/trust_int.h"
#include "util/util.h"

static int check_mode(const struct stat *st, const char **why)
{
    if (!S_ISREG(st->st_mode)) {
        errno = S_ISDIR(st->st_mode) ? EISDIR : EINVAL; /* PL_ERR_IO promises errno */
        *why = "the trust store path is not a regular file";
        return PL_ERR_IO;
    }
    if (st->st_mode & (S_IWGRP | S_IWOTH)) {
        *why = "the trust file is writable by group or others, who could grant themselves "
               "access: run chmod 600 on it";
        return PL_ERR_PERM;
    }
    if (st->st_uid != geteuid() && st->st_uid != 0) {
        *why = "the trust file belongs to another user, who could grant themselves access";
        return PL_ERR_PERM;
    }
    return PL_OK;
}

static int empty_store(pl_trust **out, const char **why)
{
    int rc = pl_trust_new(out);
    if (rc != PL_OK)
        *why = "cannot create a trust store";
    return rc;
}

int pl_trust_load(pl_trust **out, const char *path, size_t *line, const char **why)
{
    const char *why_ignored;
    size_t line_ignored;
    struct stat st;
    char *text;
    size_t len;
    why = why ? why : &why_ignored;
    line = line ? line : &line_ignored;
    *line = 0;
    if (!out || !path) {
        *why = "no trust store or path given";
        return PL_ERR_INVAL;
    }
    *out = NULL;
    /* One open: the mode checked is the mode of the file read, so a link
     * swapped in between cannot smuggle in a file others can write. */
    int fd;
    int rc = pl_file_open_regular(path, &fd, &st);
    if (rc == PL_ERR_NOTFOUND) /* no file yet: nobody is trusted */
        return empty_store(out, why);
    if (rc != PL_OK) {
        *why = errno == EISDIR || errno == EINVAL ? "the trust store path is not a regular file"
                                                  : "cannot read the trust file";
        return rc;
    }
    rc = check_mode(&st, why);
    if (rc != PL_OK) {
        close(fd);
        pl_log(PL_LOG_WARN, "trust store %s refused: %s", path, *why);
        return rc;
    }
    rc = pl_file_read_fd(fd, PL_TRUST_FILE_MAX, &text, &len);
    close(fd);
    if (rc != PL_OK) {
        *why = rc == PL_ERR_TOOBIG ? "the trust file is larger than 4 MiB"
                                   : "cannot read the trust file";
        return rc;
    }
    rc = pl_trust_parse(out, text, len, line, why);
    free(text);
    if (rc == PL_OK)
        pl_log(PL_LOG_DEBUG, "trust store %s: %zu entries", path, pl_trust_count(*out));
    return rc;
}

int pl_trust_save(const pl_trust *ts, const char *path)
{
    if (!ts || !path)
        return PL_ERR_INVAL;
    size_t cap = ts->text_len + 1;
    char *text = malloc(cap);
    if (!text)
        return PL_ERR_NOMEM;
    /* A symbolic link is followed (as load follows it): the file it names
     * is replaced, not the link. */
    char real[PL_PATH_MAX];
    struct stat lst;
    if (lstat(path, &lst) == 0 && S_ISLNK(lst.st_mode)) {
        if (!realpath(path, real)) { /* real has PATH_MAX bytes */
            free(text);
            return PL_ERR_IO;
        }
        path = real;
    }
    int n = pl_trust_format(ts, text, cap);
    int rc = n < 0 ? PL_ERR_INTERNAL : pl_file_write_atomic(path, text, (size_t)n, 0600, 0);
    free(text);
    return rc;
}

int pl_trust_default_path(const char *identity_path, char *out, size_t cap)
{
    char id[PL_PATH_MAX];
    const char *env = getenv("PEERLINK_TRUST");
    if (!out)
        return PL_ERR_INVAL;
    pl_wr w = pl_wr_init(out, cap);
    if (env && env[0]) {
        pl_wr_str(&w, env);
    } else {
        if (!identity_path || !identity_path[0]) {
            int rc = pl_identity_default_path(id, sizeof id);
            if (rc < 0)
                return rc;
            identity_path = id;
        }
        /* "trust" beside the key: keep everything up to the last '/'. */
        const char *slash = strrchr(identity_path, '/');
        if (slash)
            pl_wr_bytes(&w, identity_path, (size_t)(slash - identity_path) + 1);
        pl_wr_str(&w, "trust");
    }
    pl_wr_nul(&w);
    return pl_wr_result(&w);
}
