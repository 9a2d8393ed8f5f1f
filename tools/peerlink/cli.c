/* cli.c - messages, argument parsing and file helpers shared by the commands. */
#define _GNU_SOURCE
#include <errno.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

/* A well-formed fingerprint to show next to a parse error (RFC 6920 style). */
#define EXAMPLE_FP "ni:///sha3-256;f4OxZX_x_FO5LcGBSKHWXfwtSx-j1ncoSt3SABJtkGk"

void cli_err(const char *fmt, ...)
{
    va_list ap;
    fputs("peerlink: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

void cli_err_lib(int rc, const char *fmt, ...)
{
    int saved = errno;
    va_list ap;
    fputs("peerlink: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, ": %s", pl_strerror(rc));
    if (rc == PL_ERR_IO && saved != 0)
        fprintf(stderr, ": %s", strerror(saved));
    fputc('\n', stderr);
}

static void print_usage_lines(FILE *f, const struct cli_cmd *cmd)
{
    const char *p = cmd->usage;
    const char *lead = "usage: ";
    while (*p) {
        const char *nl = strchr(p, '\n');
        int n = nl ? (int)(nl - p) : (int)strlen(p);
        if (*p == ' ') /* continuation of the line above */
            fprintf(f, "%s        %.*s\n", lead, n, p);
        else
            fprintf(f, "%speerlink %.*s\n", lead, n, p);
        lead = "       ";
        p += n + (nl ? 1 : 0);
    }
}

int cli_help(const struct cli_cmd *cmd)
{
    print_usage_lines(stdout, cmd);
    printf("\n%s\n", cmd->summary);
    if (cmd->help && *cmd->help)
        printf("\n%s", cmd->help);
    return EXIT_OK;
}

int cli_usage(const struct cli_cmd *cmd, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "peerlink: %s: ", cmd->name);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    print_usage_lines(stderr, cmd);
    fprintf(stderr, "Run `peerlink %s --help` for details.\n", cmd->name);
    return EXIT_USAGE;
}

/* getopt_long with a leading ':' in optstring returns ':' for a missing
 * argument and '?' for an unknown option (optopt 0 for long options). */
int cli_bad_option(const struct cli_cmd *cmd, int c, char **argv)
{
    const char *arg = optind > 0 ? argv[optind - 1] : "?";
    if (c == ':') /* optopt holds the val of a long option: show the word */
        return cli_usage(cmd, "option %s needs a value", arg);
    if (strncmp(arg, "--", 2) == 0 && strchr(arg, '=') && optopt) /* --json=x */
        return cli_usage(cmd, "option %.*s takes no value", (int)(strchr(arg, '=') - arg), arg);
    if (optopt)
        return cli_usage(cmd, "unknown option -%c", optopt);
    return cli_usage(cmd, "unknown option %s", arg);
}

int cli_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    char *end = NULL;
    unsigned long long v;
    if (!s || *s < '0' || *s > '9')
        return -1; /* no sign, no space, not empty */
    errno = 0;
    v = strtoull(s, &end, 10);
    if (errno || !end || *end || v > max)
        return -1;
    *out = (uint64_t)v;
    return 0;
}

int cli_parse_time(const char *s, uint64_t *out)
{
    return pl_time_parse(s, strlen(s), out, NULL) == PL_OK ? 0 : -1;
}

void cli_format_time(uint64_t t, char *out, size_t cap)
{
    if (pl_time_format(t, out, cap) < 0)
        snprintf(out, cap, "@%llu", (unsigned long long)t);
}

uint64_t cli_now(void)
{
    time_t t = time(NULL);
    return t < 0 ? 0 : (uint64_t)t;
}

int cli_parse_fingerprint(pl_fingerprint *fp, const char *arg, const char *what)
{
    const char *why = NULL;
    if (pl_fingerprint_parse(fp, arg, strlen(arg), &why) == PL_OK)
        return EXIT_OK;
    cli_err("%s '%s' is not a fingerprint: %s", what, arg, why ? why : "malformed");
    fprintf(stderr,
            "  A fingerprint looks like %s\n"
            "  (ni://HOST/sha3-256;... when it names a directory). Run `peerlink id` on the\n"
            "  other machine to print its fingerprint.\n",
            EXAMPLE_FP);
    /* `peerlink trust add ni:///sha3-256;B` unquoted: the shell split it. */
    if (!strchr(arg, ';') && strncmp(arg, "ni:", 3) == 0)
        fprintf(stderr,
                "  Note: a shell ends a command at ';', so quote the fingerprint:\n"
                "  '%s'.\n",
                EXAMPLE_FP);
    return EXIT_USAGE;
}

static int explain_identity_error(const char *path, int rc, const char *why)
{
    struct stat st;
    switch (rc) {
    case PL_ERR_NOTFOUND: cli_err("no identity at %s: run `peerlink keygen` first", path); break;
    case PL_ERR_PERM:
        if (stat(path, &st) == 0)
            cli_err("%s is accessible by group or others (mode %04o): a private key must "
                    "be private. Run `chmod 600 %s` (and consider the key exposed if others "
                    "could read it: `peerlink keygen --force` makes a new one)",
                    path, (unsigned)(st.st_mode & 07777), path);
        else
            cli_err("%s has unsafe permissions: run `chmod 600 %s`", path, path);
        break;
    case PL_ERR_PARSE:
    case PL_ERR_VERSION:
    case PL_ERR_TOOBIG:
        cli_err("cannot use %s as an identity key: %s. Restore it from a backup, or "
                "create a new identity with `peerlink keygen --force`",
                path, why ? why : pl_strerror(rc));
        break;
    default: cli_err_lib(rc, "cannot load the identity %s", path); break;
    }
    return EXIT_FAIL;
}

const char *cli_key_path(struct cli *cli)
{
    int n;
    if (cli->key_path[0])
        return cli->key_path;
    if (cli->key_opt)
        n = snprintf(cli->key_path, sizeof cli->key_path, "%s", cli->key_opt);
    else
        n = pl_identity_default_path(cli->key_path, sizeof cli->key_path);
    if (n <= 0 || (size_t)n >= sizeof cli->key_path) {
        cli->key_path[0] = 0;
        cli_err("cannot find a place for the identity key: set HOME or XDG_CONFIG_HOME, "
                "or give a path with -k FILE");
        return NULL;
    }
    return cli->key_path;
}

const char *cli_trust_path(struct cli *cli)
{
    const char *key = NULL;
    int n;
    if (cli->trust_path[0])
        return cli->trust_path;
    if (cli->trust_opt) {
        n = snprintf(cli->trust_path, sizeof cli->trust_path, "%s", cli->trust_opt);
    } else {
        key = cli_key_path(cli);
        if (!key)
            return NULL;
        n = pl_trust_default_path(key, cli->trust_path, sizeof cli->trust_path);
    }
    if (n <= 0 || (size_t)n >= sizeof cli->trust_path) {
        cli->trust_path[0] = 0;
        cli_err("cannot find a place for the trust store: give a path with -t FILE");
        return NULL;
    }
    return cli->trust_path;
}

int cli_load_identity(struct cli *cli, pl_identity **out)
{
    const char *path = cli_key_path(cli), *why = NULL;
    struct stat st;
    int rc;
    if (!path)
        return EXIT_FAIL;
    /* Say "missing" plainly, whatever code the loader picks for ENOENT. */
    if (stat(path, &st) != 0 && errno == ENOENT)
        return explain_identity_error(path, PL_ERR_NOTFOUND, NULL);
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
        cli_err("%s is a directory, not an identity key file: give the file with -k FILE", path);
        return EXIT_FAIL;
    }
    rc = pl_identity_load(out, path, &why);
    if (rc != PL_OK)
        return explain_identity_error(path, rc, why);
    return EXIT_OK;
}

int cli_read_input(const char *path, size_t cap, char **out, size_t *len)
{
    int is_stdin = !path || strcmp(path, "-") == 0;
    const char *name = is_stdin ? "standard input" : path;
    FILE *f = is_stdin ? stdin : fopen(path, "rb");
    char *buf;
    size_t n = 0;
    if (!f) {
        cli_err("cannot open %s: %s", path, strerror(errno));
        return EXIT_FAIL;
    }
    buf = malloc(cap + 1);
    if (!buf) {
        cli_err("out of memory");
        if (!is_stdin)
            fclose(f);
        return EXIT_FAIL;
    }
    /* Read one byte past the cap to tell "exactly cap" from "more". */
    n = fread(buf, 1, cap + 1, f);
    int failed = ferror(f);
    if (!is_stdin)
        fclose(f);
    if (failed) {
        cli_err("cannot read %s: %s", name, strerror(errno));
        free(buf);
        return EXIT_FAIL;
    }
    if (n > cap) {
        cli_err("%s is larger than %zu bytes, the limit here", name, cap);
        free(buf);
        return EXIT_FAIL;
    }
    buf[n] = 0;
    *out = buf;
    *len = n;
    return EXIT_OK;
}

static void print_group_help(FILE *f, const struct cli_cmd *group,
                             const struct cli_cmd *const *subs, size_t n_subs)
{
    fprintf(f, "usage: peerlink %s COMMAND [OPTIONS] [ARGS]\n\n%s\n\nCommands:\n", group->name,
            group->summary);
    for (size_t i = 0; i < n_subs; i++)
        fprintf(f, "  %-16s %s\n", subs[i]->name + strlen(group->name) + 1, subs[i]->summary);
    if (group->help && *group->help)
        fprintf(f, "\n%s", group->help);
    fprintf(f, "\nRun `peerlink %s COMMAND --help` for the options of one command.\n", group->name);
}

int cli_run_group(struct cli *cli, const struct cli_cmd *group, const struct cli_cmd *const *subs,
                  size_t n_subs, int argc, char **argv)
{
    size_t glen = strlen(group->name);
    const char *sub;
    if (argc < 2) {
        cli_err("%s: which one? (see below)", group->name);
        print_group_help(stderr, group, subs, n_subs);
        return EXIT_USAGE;
    }
    sub = argv[1];
    if (strcmp(sub, "--help") == 0 || strcmp(sub, "-h") == 0 || strcmp(sub, "help") == 0) {
        print_group_help(stdout, group, subs, n_subs);
        return EXIT_OK;
    }
    for (size_t i = 0; i < n_subs; i++) {
        if (strcmp(subs[i]->name + glen + 1, sub) == 0)
            return subs[i]->run(cli, subs[i], argc - 1, argv + 1);
    }
    cli_err("%s: unknown command '%s'", group->name, sub);
    print_group_help(stderr, group, subs, n_subs);
    return EXIT_USAGE;
}
