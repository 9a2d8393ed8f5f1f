/*
 * cmd_trust.c - `peerlink trust ...`: the allow/deny list of this node.
 *
 * Edits hold an exclusive flock(2) on "<trust file>.lock" from load to
 * save, so concurrent edits are serialised instead of losing updates; the
 * save itself is atomic (pl_trust_save), so readers never take the lock.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

#define GROUPS_ARG_MAX (PL_TRUST_GROUPS_MAX * (PL_TRUST_GROUP_NAME_MAX + 1) + 1)
#define TIME_MAX       32

/* ---- loading, locking, saving -------------------------------------- */

int cli_load_trust(const char *path, pl_trust **out)
{
    size_t line = 0;
    const char *why = NULL;
    int rc, saved;
    errno = 0;
    rc = pl_trust_load(out, path, &line, &why);
    saved = errno;
    if (rc == PL_OK)
        return EXIT_OK;
    if (rc == PL_ERR_PARSE)
        cli_err("%s:%zu: %s\n  Fix or delete that line, then try again.", path, line,
                why ? why : "malformed line");
    else if (rc == PL_ERR_PERM)
        cli_err("%s can be changed by other users (group or others may write it, or it is "
                "not yours): anyone who can edit it decides whom this node trusts. Check it, "
                "then run `chmod 600 %s` (and chown it to yourself)",
                path, path);
    else if (!why)
        cli_err_lib(rc, "cannot read the trust store %s", path);
    else
        cli_err("cannot read the trust store %s: %s%s%s", path, why,
                rc == PL_ERR_IO && saved ? ": " : "",
                rc == PL_ERR_IO && saved ? strerror(saved) : "");
    return EXIT_FAIL;
}

/* mkdir -p of the directory part of path, new directories 0700. */
static int make_parent_dirs(const char *path)
{
    char dir[PL_PATH_MAX];
    struct stat st;
    int n = snprintf(dir, sizeof dir, "%s", path);
    char *slash;
    if (n < 0 || (size_t)n >= sizeof dir)
        return -1;
    slash = strrchr(dir, '/');
    if (!slash || slash == dir)
        return 0;
    *slash = 0;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode))
            return 0;
        errno = ENOTDIR;
        return -1;
    }
    if (make_parent_dirs(dir) != 0)
        return -1;
    return mkdir(dir, 0700) == 0 || errno == EEXIST ? 0 : -1;
}

/* Returns a descriptor holding the edit lock, or -1 (message printed). */
static int lock_trust(const char *path)
{
    char lock[PL_PATH_MAX], real[PL_PATH_MAX];
    /* Lock the file the path names: two names (links) for one trust file
     * must take one lock, as the save goes to the file a link names. */
    if (realpath(path, real))
        path = real;
    int n = snprintf(lock, sizeof lock, "%s.lock", path);
    int fd;
    if (n < 0 || (size_t)n >= sizeof lock) {
        cli_err("trust store path too long: %s", path);
        return -1;
    }
    if (make_parent_dirs(lock) != 0) {
        cli_err("cannot create the directory of %s: %s", path, strerror(errno));
        return -1;
    }
    fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        cli_err("cannot open the lock file %s: %s", lock, strerror(errno));
        return -1;
    }
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            cli_err("cannot lock %s: %s", lock, strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

struct edit {
    enum pl_trust_kind kind; /* 0: remove */
    pl_fingerprint fp;
    const char *fptext; /* as the user wrote it */
    const char *petname;
    const char *groups; /* comma-separated, or NULL */
    uint64_t expires;
};

static int apply_edit(pl_trust *ts, const struct edit *e, const char *path)
{
    const char *why = NULL;
    int rc;
    if (e->kind == 0) {
        rc = pl_trust_remove(ts, &e->fp);
        if (rc == PL_ERR_NOTFOUND)
            cli_err("%s is not in the trust store %s (see `peerlink trust list`)", e->fptext, path);
        else if (rc != PL_OK)
            cli_err("cannot remove %s: %s", e->fptext, pl_strerror(rc));
        return rc == PL_OK ? EXIT_OK : EXIT_FAIL;
    }
    rc = pl_trust_set(ts, e->kind, &e->fp, e->petname, e->groups, e->expires, &why);
    if (rc == PL_OK)
        return EXIT_OK;
    if (rc == PL_ERR_INVAL || rc == PL_ERR_PARSE) {
        cli_err("trust %s: %s", e->kind == PL_TRUST_DENY ? "deny" : "add",
                why ? why : pl_strerror(rc));
        return EXIT_USAGE;
    }
    cli_err("cannot add %s: %s", e->fptext, why ? why : pl_strerror(rc));
    return EXIT_FAIL;
}

static int save_trust(const pl_trust *ts, const char *path)
{
    int rc = pl_trust_save(ts, path);
    if (rc == PL_OK)
        return EXIT_OK;
    cli_err_lib(rc, "cannot save the trust store %s", path);
    return EXIT_FAIL;
}

/* ---- showing entries ----------------------------------------------- */

static int entry_expired(const pl_trust_entry *e, uint64_t now)
{
    return e->expires != 0 && e->expires <= now;
}

static void print_entry(const pl_trust_entry *e, uint64_t now)
{
    char fptext[PL_FINGERPRINT_STR_MAX], when[TIME_MAX];
    if (pl_fingerprint_format(&e->fp, fptext, sizeof fptext) < 0)
        snprintf(fptext, sizeof fptext, "(unprintable)");
    printf("%-5s %s", e->kind == PL_TRUST_DENY ? "deny" : "allow", fptext);
    if (e->petname[0])
        printf(" name=%s", e->petname);
    for (size_t g = 0; g < e->n_groups; g++)
        printf("%s%s", g == 0 ? " groups=" : ",", e->groups[g]);
    if (e->expires) {
        cli_format_time(e->expires, when, sizeof when);
        printf(" %s=%s", entry_expired(e, now) ? "expired" : "expires", when);
    }
    putchar('\n');
}

static json_t *entry_json(const pl_trust_entry *e, uint64_t now)
{
    char fptext[PL_FINGERPRINT_STR_MAX], when[TIME_MAX];
    json_t *o = json_object(), *groups = json_array();
    if (!o || !groups || pl_fingerprint_format(&e->fp, fptext, sizeof fptext) < 0) {
        json_decref(o);
        json_decref(groups);
        return NULL;
    }
    json_object_set_new(o, "kind", json_string(e->kind == PL_TRUST_DENY ? "deny" : "allow"));
    json_object_set_new(o, "fingerprint", json_string(fptext));
    json_object_set_new(o, "name", e->petname[0] ? json_string(e->petname) : json_null());
    for (size_t g = 0; g < e->n_groups; g++)
        json_array_append_new(groups, json_string(e->groups[g]));
    json_object_set_new(o, "groups", groups);
    if (e->expires) {
        cli_format_time(e->expires, when, sizeof when);
        json_object_set_new(o, "expires", json_string(when));
    } else {
        json_object_set_new(o, "expires", json_null());
    }
    json_object_set_new(o, "expired", json_boolean(entry_expired(e, now)));
    return o;
}

/* After an edit, say why the fingerprint is still not what was asked. */
static void explain_verdict(const pl_trust *ts, const struct edit *e, uint64_t now)
{
    enum pl_trust_verdict v = pl_trust_check(ts, &e->fp, now);
    char when[TIME_MAX];
    if (e->expires && e->expires <= now) {
        cli_format_time(e->expires, when, sizeof when);
        cli_err("note: this entry expired already (%s), so it has no effect", when);
    }
    if (e->kind == PL_TRUST_ALLOW && v == PL_TRUST_DENIED)
        cli_err("note: %s is also denied, and deny wins. To allow it, run `peerlink trust "
                "remove %s`, then add it again",
                e->fptext, e->fptext);
}

static void show_result(const pl_trust *ts, const struct edit *e, uint64_t now)
{
    pl_trust_entry ent;
    size_t n = pl_trust_count(ts);
    if (e->kind == 0) {
        printf("removed %s\n", e->fptext);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (pl_trust_get(ts, i, &ent) == PL_OK && ent.kind == e->kind &&
            pl_fingerprint_equal(&ent.fp, &e->fp)) {
            print_entry(&ent, now);
            break;
        }
    }
    explain_verdict(ts, e, now);
}

static int edit_trust(struct cli *cli, const struct edit *e)
{
    const char *path = cli_trust_path(cli);
    pl_trust *ts = NULL;
    int fd = path ? lock_trust(path) : -1;
    int rc;
    if (fd < 0)
        return EXIT_FAIL;
    rc = cli_load_trust(path, &ts);
    if (rc == EXIT_OK)
        rc = apply_edit(ts, e, path);
    if (rc == EXIT_OK)
        rc = save_trust(ts, path);
    close(fd); /* releases the lock */
    if (rc == EXIT_OK)
        show_result(ts, e, cli_now());
    pl_trust_free(ts);
    return rc;
}

/* ---- add, deny, remove --------------------------------------------- */

static int append_group(char *buf, size_t cap, const char *g)
{
    size_t used = strlen(buf);
    int n = snprintf(buf + used, cap - used, "%s%s", used ? "," : "", g);
    return n < 0 || (size_t)n >= cap - used ? -1 : 0;
}

static int run_set(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv,
                   enum pl_trust_kind kind)
{
    static const struct option opts[] = {
        {"name", required_argument, NULL, 'n'},
        {"group", required_argument, NULL, 'g'},
        {"expires", required_argument, NULL, 'e'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *optstring = kind == PL_TRUST_ALLOW ? ":n:g:e:h" : ":n:e:h";
    char groups[GROUPS_ARG_MAX] = "";
    struct edit e;
    int c, rc;

    memset(&e, 0, sizeof e);
    e.kind = kind;
    optind = 0;
    while ((c = getopt_long(argc, argv, optstring, opts, NULL)) != -1) {
        switch (c) {
        case 'n':
            if (!optarg[0])
                return cli_usage(cmd, "--name needs a name of 1 to %d characters",
                                 PL_TRUST_PETNAME_MAX);
            e.petname = optarg;
            break;
        case 'g':
            if (!optarg[0])
                return cli_usage(cmd, "--group needs a group name");
            if (kind != PL_TRUST_ALLOW)
                return cli_usage(cmd, "--group applies to allowed peers only");
            if (append_group(groups, sizeof groups, optarg) != 0)
                return cli_usage(cmd, "too many groups (at most %d of %d characters)",
                                 PL_TRUST_GROUPS_MAX, PL_TRUST_GROUP_NAME_MAX);
            break;
        case 'e':
            if (cli_parse_time(optarg, &e.expires) != 0 || e.expires == 0)
                return cli_usage(cmd,
                                 "--expires wants a UTC time like 2030-01-31T23:59:59Z, "
                                 "not '%s'",
                                 optarg);
            break;
        case 'h': return cli_help(cmd);
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (argc - optind != 1)
        return cli_usage(cmd, argc == optind ? "which FINGERPRINT?" : "one FINGERPRINT only");
    e.fptext = argv[optind];
    rc = cli_parse_fingerprint(&e.fp, e.fptext, "FINGERPRINT");
    if (rc != EXIT_OK)
        return rc;
    e.groups = groups[0] ? groups : NULL;
    return edit_trust(cli, &e);
}

static int run_add(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    return run_set(cli, cmd, argc, argv, PL_TRUST_ALLOW);
}

static int run_deny(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    return run_set(cli, cmd, argc, argv, PL_TRUST_DENY);
}

/* Parses "[--help] FINGERPRINT" for remove and check. */
static int parse_fp_only(const struct cli_cmd *cmd, int argc, char **argv, pl_fingerprint *fp,
                         const char **fptext, int *done)
{
    static const struct option opts[] = {
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    *done = 1;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        if (c == 'h')
            return cli_help(cmd);
        return cli_bad_option(cmd, c, argv);
    }
    if (argc - optind != 1)
        return cli_usage(cmd, argc == optind ? "which FINGERPRINT?" : "one FINGERPRINT only");
    *fptext = argv[optind];
    int rc = cli_parse_fingerprint(fp, *fptext, "FINGERPRINT");
    *done = rc != EXIT_OK;
    return rc;
}

static int run_remove(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    struct edit e;
    int done, rc;
    memset(&e, 0, sizeof e);
    rc = parse_fp_only(cmd, argc, argv, &e.fp, &e.fptext, &done);
    if (done)
        return rc;
    return edit_trust(cli, &e);
}

/* ---- list, check ---------------------------------------------------- */

static int list_json(const pl_trust *ts, uint64_t now)
{
    json_t *arr = json_array();
    pl_trust_entry ent;
    size_t n = pl_trust_count(ts);
    int rc = EXIT_FAIL;
    if (!arr)
        return EXIT_FAIL;
    for (size_t i = 0; i < n; i++) {
        if (pl_trust_get(ts, i, &ent) != PL_OK)
            goto out;
        json_t *o = entry_json(&ent, now);
        if (!o || json_array_append_new(arr, o) != 0)
            goto out;
    }
    if (json_dumpf(arr, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0) {
        putchar('\n');
        rc = EXIT_OK;
    }
out:
    if (rc != EXIT_OK)
        cli_err("cannot list the trust store");
    json_decref(arr);
    return rc;
}

static int list_text(const pl_trust *ts, const char *path, uint64_t now)
{
    pl_trust_entry ent;
    size_t n = pl_trust_count(ts);
    if (n == 0)
        cli_err("the trust store %s is empty: add peers with `peerlink trust add FINGERPRINT`",
                path);
    for (size_t i = 0; i < n; i++) {
        if (pl_trust_get(ts, i, &ent) != PL_OK) {
            cli_err("cannot read entry %zu of %s", i + 1, path);
            return EXIT_FAIL;
        }
        print_entry(&ent, now);
    }
    return EXIT_OK;
}

static int run_list(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    pl_trust *ts = NULL;
    const char *path;
    int json = 0, c, rc;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":jh", opts, NULL)) != -1) {
        switch (c) {
        case 'j': json = 1; break;
        case 'h': return cli_help(cmd);
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    path = cli_trust_path(cli);
    rc = path ? cli_load_trust(path, &ts) : EXIT_FAIL;
    if (rc != EXIT_OK)
        return rc;
    rc = json ? list_json(ts, cli_now()) : list_text(ts, path, cli_now());
    pl_trust_free(ts);
    return rc;
}

static int run_check(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    static const char *const words[] = {"unknown", "allowed", "denied"};
    pl_fingerprint fp;
    const char *fptext = NULL, *path;
    pl_trust *ts = NULL;
    enum pl_trust_verdict v;
    int done, rc = parse_fp_only(cmd, argc, argv, &fp, &fptext, &done);
    if (done)
        return rc;
    path = cli_trust_path(cli);
    rc = path ? cli_load_trust(path, &ts) : EXIT_FAIL;
    if (rc != EXIT_OK)
        return rc;
    v = pl_trust_check(ts, &fp, cli_now());
    pl_trust_free(ts);
    if ((unsigned)v > PL_TRUST_DENIED) {
        cli_err("trust check: unexpected verdict %d", (int)v);
        return EXIT_FAIL;
    }
    printf("%s\n", words[v]);
    return v == PL_TRUST_ALLOWED ? EXIT_OK : EXIT_FAIL;
}

/* ---- the command table ---------------------------------------------- */

const struct cli_cmd cli_cmd_trust_add = {
    "trust add",
    "allow a peer",
    "trust add FINGERPRINT [--name PETNAME] [--group GROUP]... [--expires TIME]",
    "Adds (or replaces) the allow entry for FINGERPRINT. A deny entry for the\n"
    "same fingerprint still wins.\n"
    "\n"
    "Options:\n"
    "  -n, --name PETNAME   your own name for the peer\n"
    "  -g, --group GROUP    put the peer in GROUP (repeatable, or a comma list)\n"
    "  -e, --expires TIME   ignore the entry from TIME on (UTC, YYYY-MM-DDTHH:MM:SSZ)\n"
    "  -h, --help           show this help\n",
    run_add,
};

const struct cli_cmd cli_cmd_trust_deny = {
    "trust deny",
    "deny a peer (deny wins over allow)",
    "trust deny FINGERPRINT [--name PETNAME] [--expires TIME]",
    "Adds (or replaces) the deny entry for FINGERPRINT.\n"
    "\n"
    "Options:\n"
    "  -n, --name PETNAME   your own name for the peer\n"
    "  -e, --expires TIME   ignore the entry from TIME on (UTC, YYYY-MM-DDTHH:MM:SSZ)\n"
    "  -h, --help           show this help\n",
    run_deny,
};

const struct cli_cmd cli_cmd_trust_remove = {
    "trust remove",
    "forget a peer (its allow and deny entries)",
    "trust remove FINGERPRINT",
    "Options:\n"
    "  -h, --help   show this help\n",
    run_remove,
};

const struct cli_cmd cli_cmd_trust_list = {
    "trust list",
    "show the trust store",
    "trust list [--json]",
    "Prints one line per entry: KIND FINGERPRINT [name=..] [groups=..]\n"
    "[expires=TIME | expired=TIME], in file order.\n"
    "\n"
    "Options:\n"
    "  -j, --json   print a JSON array of {kind, fingerprint, name, groups,\n"
    "               expires, expired}\n"
    "  -h, --help   show this help\n",
    run_list,
};

const struct cli_cmd cli_cmd_trust_check = {
    "trust check",
    "print allowed, denied or unknown for a peer",
    "trust check FINGERPRINT",
    "Exit status 0 if the peer is allowed, 1 if it is denied or unknown.\n"
    "\n"
    "Options:\n"
    "  -h, --help   show this help\n",
    run_check,
};

static const struct cli_cmd *const trust_subs[] = {
    &cli_cmd_trust_add,  &cli_cmd_trust_deny,  &cli_cmd_trust_remove,
    &cli_cmd_trust_list, &cli_cmd_trust_check,
};

static int run_trust(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    return cli_run_group(cli, cmd, trust_subs, sizeof trust_subs / sizeof trust_subs[0], argc,
                         argv);
}

const struct cli_cmd cli_cmd_trust = {
    "trust",
    "manage the peers this node accepts",
    "trust COMMAND ...",
    "The trust store is a text file you may also edit by hand; comments and blank\n"
    "lines survive edits made with these commands.\n",
    run_trust,
};
