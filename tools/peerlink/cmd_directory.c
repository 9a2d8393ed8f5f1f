/*
 * cmd_directory.c - `peerlink directory serve`: the directory for one zone
 * (HTTP(S) announce and discover, authoritative DNS). The library does the
 * work (pl_dir_serve); this file parses the command line, says where it
 * listens, and turns SIGINT/SIGTERM into a clean stop.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define RATE_DEFAULT  60 /* announces per source per minute */
#define BURST_DEFAULT 20

static int stop_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
    int saved = errno;
    char c = (char)sig;
    if (write(stop_pipe[1], &c, 1) < 0) {
        /* the pipe is full: a stop is already pending */
    }
    errno = saved;
}

static void on_listening(void *user, const char *service, const char *addr)
{
    const char *zone = user;
    cli_err("directory for %s: %s listening on %s", zone, service, addr);
}

static int parse_u32(const struct cli_cmd *cmd, const char *opt, const char *arg, uint64_t max,
                     uint32_t *out)
{
    uint64_t v;
    if (cli_parse_u64(arg, max, &v) != 0)
        return cli_usage(cmd, "%s wants a whole number from 0 to %llu, not '%s'", opt,
                         (unsigned long long)max, arg);
    *out = (uint32_t)v;
    return -1;
}

static int run_serve(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"zone", required_argument, NULL, 'z'},
        {"db", required_argument, NULL, 'd'},
        {"http", required_argument, NULL, 'H'},
        {"https", required_argument, NULL, 'S'},
        {"cert", required_argument, NULL, 'c'},
        {"key", required_argument, NULL, 'K'},
        {"dns", required_argument, NULL, 'D'},
        {"ns", required_argument, NULL, 'n'},
        {"mbox", required_argument, NULL, 'm'},
        {"max-ttl", required_argument, NULL, 'T'},
        {"neg-ttl", required_argument, NULL, 'g'},
        {"skew", required_argument, NULL, 's'},
        {"rate", required_argument, NULL, 'r'},
        {"burst", required_argument, NULL, 'b'},
        {"sweep", required_argument, NULL, 'w'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    pl_dir_opts o;
    uint32_t rate = RATE_DEFAULT, burst = BURST_DEFAULT, sweep = 0;
    struct sigaction sa;
    const char *why = NULL;
    int c, rc;
    (void)cli;

    memset(&o, 0, sizeof o);
    o.stop_fd = -1;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":z:d:H:S:c:K:D:n:m:T:g:s:r:b:w:h", opts, NULL)) != -1) {
        rc = -1;
        switch (c) {
        case 'z': o.zone = optarg; break;
        case 'd': o.db = optarg; break;
        case 'H': o.http = optarg; break;
        case 'S': o.https = optarg; break;
        case 'c': o.cert_file = optarg; break;
        case 'K': o.key_file = optarg; break;
        case 'D': o.dns = optarg; break;
        case 'n': o.ns = optarg; break;
        case 'm': o.mbox = optarg; break;
        case 'T': rc = parse_u32(cmd, "--max-ttl", optarg, 604800, &o.max_ttl); break;
        case 'g': rc = parse_u32(cmd, "--neg-ttl", optarg, 86400, &o.neg_ttl); break;
        case 's': rc = parse_u32(cmd, "--skew", optarg, 86400, &o.skew); break;
        case 'r': rc = parse_u32(cmd, "--rate", optarg, 1000000, &rate); break;
        case 'b': rc = parse_u32(cmd, "--burst", optarg, 1000000, &burst); break;
        case 'w': rc = parse_u32(cmd, "--sweep", optarg, 86400, &sweep); break;
        case 'h': return cli_help(cmd);
        default: return cli_bad_option(cmd, c, argv);
        }
        if (rc >= 0)
            return rc;
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o.zone)
        return cli_usage(cmd, "--zone is required (the DNS zone this directory serves)");
    if (!o.db)
        return cli_usage(cmd, "--db is required (the SQLite file that keeps record sets)");
    if (!o.http && !o.https && !o.dns)
        return cli_usage(cmd, "give at least one of --http, --https, --dns");
    if (o.https && (!o.cert_file || !o.key_file))
        return cli_usage(cmd, "--https needs --cert PEM and --key PEM");
    if (!o.https && (o.cert_file || o.key_file))
        return cli_usage(cmd, "--cert and --key go with --https");
    o.rate_per_min = rate;
    o.rate_burst = burst ? burst : 1;
    o.sweep_interval = sweep;

    if (pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) {
        cli_err("cannot create a pipe: %s", strerror(errno));
        return EXIT_FAIL;
    }
    o.stop_fd = stop_pipe[0];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    rc = pl_dir_serve(&o, on_listening, (void *)o.zone, &why);
    close(stop_pipe[0]);
    close(stop_pipe[1]);
    if (rc != PL_OK) {
        cli_err("directory: %s (%s)", why ? why : "cannot start", pl_strerror(rc));
        return EXIT_FAIL;
    }
    cli_err("directory for %s: stopped", o.zone);
    return EXIT_OK;
}

const struct cli_cmd cli_cmd_directory_serve = {
    "directory serve",
    "run the directory for one zone: HTTP(S) announce/discover and DNS",
    "directory serve --zone NAME --db FILE [--http ADDR:PORT]\n"
    "  [--https ADDR:PORT --cert PEM --key PEM] [--dns ADDR:PORT] [--ns NAME]\n"
    "  [--mbox NAME] [--max-ttl S] [--neg-ttl S] [--skew S] [--rate N] [--burst N]\n"
    "  [--sweep S]",
    "Serves signed record sets for one DNS zone until SIGINT or SIGTERM.\n"
    "Nodes announce with HTTP PUT of a JSON record set to\n"
    "/.well-known/ni/sha3-256/B (B: the base64url digest of their fingerprint);\n"
    "anyone discovers with GET of the same URL, or with a DNS TXT query for\n"
    "HEX[0..32].HEX[32..64].0a.ZONE. Every set is verified before it is stored;\n"
    "an older set never replaces a newer one; expired sets disappear.\n"
    "The bound addresses are printed on standard error (useful with port 0).\n"
    "\n"
    "Options:\n"
    "  -z, --zone NAME     the DNS zone, e.g. dir.example.org (required)\n"
    "  -d, --db FILE       SQLite database of record sets, created if missing\n"
    "                      (required)\n"
    "  -H, --http A:P      plain HTTP on A:P, e.g. 127.0.0.1:8080 or [::1]:0\n"
    "  -S, --https A:P     HTTPS on A:P, with --cert and --key (PEM files)\n"
    "  -c, --cert PEM      certificate (chain) for --https\n"
    "  -K, --key PEM       private key for --https\n"
    "  -D, --dns A:P       authoritative DNS over UDP and TCP on A:P\n"
    "  -n, --ns NAME       the zone's name server (default ns1.ZONE)\n"
    "  -m, --mbox NAME     SOA mailbox (default hostmaster.ZONE)\n"
    "  -T, --max-ttl S     cap on DNS answer TTLs (default 300); answers never\n"
    "                      outlive the record set\n"
    "  -g, --neg-ttl S     negative-caching TTL, the SOA minimum (default 60)\n"
    "  -s, --skew S        accept sets dated up to S seconds ahead (default 300)\n"
    "  -r, --rate N        announces per source address (IPv6: per /64) per\n"
    "                      minute (default 60; 0: no limit)\n"
    "  -b, --burst N       ... in bursts of up to N (default 20)\n"
    "  -w, --sweep S       seconds between sweeps of expired sets (default 60)\n"
    "  -h, --help          show this help\n",
    run_serve,
};

static const struct cli_cmd *const directory_subs[] = {
    &cli_cmd_directory_serve,
};

static int run_directory(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    return cli_run_group(cli, cmd, directory_subs, sizeof directory_subs / sizeof directory_subs[0],
                         argc, argv);
}

const struct cli_cmd cli_cmd_directory = {
    "directory",
    "run a directory (announce and discover record sets)",
    "directory COMMAND ...",
    "",
    run_directory,
};
