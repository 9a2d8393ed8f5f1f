/*
 * main.c - the peerlink command: global options and command dispatch.
 *
 *   peerlink [-k KEYFILE] [-t TRUSTFILE] [-v] COMMAND [OPTIONS] [ARGS]
 *
 * See docs/peerlink.1.md for the manual.
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#ifndef PEERLINK_VERSION
#define PEERLINK_VERSION "unknown"
#endif

static const struct cli_cmd *const commands[] = {
    &cli_cmd_keygen,  &cli_cmd_id,   &cli_cmd_trust,    &cli_cmd_record,   &cli_cmd_listen,
    &cli_cmd_connect, &cli_cmd_ping, &cli_cmd_announce, &cli_cmd_discover, &cli_cmd_directory,
};
#define N_COMMANDS (sizeof commands / sizeof commands[0])

static int verbosity;

static void print_main_help(FILE *f)
{
    fputs("usage: peerlink [-k KEYFILE] [-t TRUSTFILE] [-v] COMMAND [OPTIONS] [ARGS]\n"
          "       peerlink help [COMMAND [SUBCOMMAND]]\n"
          "       peerlink --version\n"
          "\n"
          "Find and talk to machines knowing only their Ed25519 public keys.\n"
          "\n"
          "Commands:\n",
          f);
    for (size_t i = 0; i < N_COMMANDS; i++)
        fprintf(f, "  %-16s %s\n", commands[i]->name, commands[i]->summary);
    fprintf(f, "  %-16s %s\n", "help", "show this list, or the help of one command");
    fputs("\n"
          "Global options (before the command):\n"
          "  -k, --key FILE     identity key file (default: $PEERLINK_KEY, else\n"
          "                     $XDG_CONFIG_HOME/peerlink/identity, else\n"
          "                     ~/.config/peerlink/identity)\n"
          "  -t, --trust FILE   trust store (default: $PEERLINK_TRUST, else the file\n"
          "                     \"trust\" beside the identity key file)\n"
          "  -v, --verbose      show the library's log messages (repeat for more)\n"
          "  -h, --help         show this help\n"
          "  -V, --version      show the version\n"
          "\n"
          "Exit status: 0 success, 1 the operation failed, 2 bad command line.\n"
          "Run `peerlink COMMAND --help` for the options of a command.\n",
          f);
}

static void log_to_stderr(void *user, enum pl_log_level level, const char *msg)
{
    static const char *const names[] = {"error", "warning", "info", "debug"};
    (void)user;
    fprintf(stderr, "peerlink: [%s] %s\n", (unsigned)level < 4 ? names[level] : "log", msg);
}

static const struct cli_cmd *find_command(const char *name)
{
    for (size_t i = 0; i < N_COMMANDS; i++) {
        if (strcmp(commands[i]->name, name) == 0)
            return commands[i];
    }
    return NULL;
}

/* `peerlink help [COMMAND [SUB]]` is `peerlink COMMAND [SUB] --help`. */
static int run_help(struct cli *cli, int argc, char **argv)
{
    char *args[4];
    const struct cli_cmd *cmd;
    if (argc < 2) {
        print_main_help(stdout);
        return EXIT_OK;
    }
    cmd = find_command(argv[1]);
    if (!cmd || argc > 3) {
        cli_err("help: no command '%s%s%s': run `peerlink help` for the list", argv[1],
                argc > 2 ? " " : "", argc > 2 ? argv[2] : "");
        return EXIT_USAGE;
    }
    args[0] = argv[1];
    args[1] = argc > 2 ? argv[2] : "--help";
    args[2] = argc > 2 ? "--help" : NULL;
    args[3] = NULL;
    return cmd->run(cli, cmd, argc > 2 ? 3 : 2, args);
}

static int bad_global_option(int c, char **argv)
{
    const char *arg = argv[optind - 1];
    if (c == ':')
        cli_err("option %s needs a value", arg);
    else if (strncmp(arg, "--", 2) == 0 && strchr(arg, '=') && optopt)
        cli_err("option %.*s takes no value", (int)(strchr(arg, '=') - arg), arg);
    else if (optopt)
        cli_err("unknown option -%c", optopt);
    else
        cli_err("unknown option %s", arg);
    fputs("Global options go before the command: peerlink [-k KEYFILE] [-t TRUSTFILE] "
          "COMMAND ...\nRun `peerlink --help` for the list.\n",
          stderr);
    return EXIT_USAGE;
}

static int finish(int rc)
{
    errno = 0;
    int failed_now = fflush(stdout) != 0;
    if (failed_now || ferror(stdout)) {
        /* errno says why only when this flush failed: an earlier write's
         * errno is long gone (ping | head: a closed pipe) */
        if (failed_now && errno)
            cli_err("cannot write the output: %s", strerror(errno));
        else
            cli_err("cannot write the output: it was closed, or the disk is full");
        return rc == EXIT_OK ? EXIT_FAIL : rc;
    }
    return rc;
}

int main(int argc, char **argv)
{
    static const struct option opts[] = {
        {"key", required_argument, NULL, 'k'}, {"trust", required_argument, NULL, 't'},
        {"verbose", no_argument, NULL, 'v'},   {"help", no_argument, NULL, 'h'},
        {"version", no_argument, NULL, 'V'},   {NULL, 0, NULL, 0},
    };
    struct cli cli;
    const struct cli_cmd *cmd;
    int c;

    memset(&cli, 0, sizeof cli);
    /* '+': stop at the command name, its options are its own. */
    while ((c = getopt_long(argc, argv, "+:k:t:vhV", opts, NULL)) != -1) {
        switch (c) {
        case 'k': cli.key_opt = optarg; break;
        case 't': cli.trust_opt = optarg; break;
        case 'v': verbosity++; break;
        case 'h': print_main_help(stdout); return finish(EXIT_OK);
        case 'V': printf("peerlink %s\n", PEERLINK_VERSION); return finish(EXIT_OK);
        default: return bad_global_option(c, argv);
        }
    }
    if (optind >= argc) {
        cli_err("no command given");
        print_main_help(stderr);
        return EXIT_USAGE;
    }
    if (pl_init() != PL_OK) {
        cli_err("cannot initialise the crypto library");
        return EXIT_FAIL;
    }
    pl_set_log(log_to_stderr, NULL,
               verbosity >= 2   ? PL_LOG_DEBUG
               : verbosity == 1 ? PL_LOG_INFO
                                : PL_LOG_WARN);

    argc -= optind;
    argv += optind;
    if (strcmp(argv[0], "help") == 0)
        return finish(run_help(&cli, argc, argv));
    cmd = find_command(argv[0]);
    if (!cmd) {
        cli_err("unknown command '%s': run `peerlink help` for the list", argv[0]);
        return EXIT_USAGE;
    }
    return finish(cmd->run(&cli, cmd, argc, argv));
}
