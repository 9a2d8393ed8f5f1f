/*
 * cmd_dir.c - `peerlink announce` and `peerlink discover`: the directory
 * client (pl_announce, pl_discover; docs/discovery.md).
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define TTL_DEFAULT    3600
#define TIMEOUT_MAX    3600 /* seconds */
#define URL_MAX        1024
#define BACKOFF_MAX    60 /* seconds between failed --keep attempts, at most */
#define SLEEP_SLICE_MS 100

/* ---- announce ---------------------------------------------------------- */

struct announce_opts {
    const char *directory;
    const char *authority;
    const char *cafile;
    const char *addresses[PL_RECORD_ADDRESSES_MAX];
    size_t n_addresses;
    const char *relays[PL_RECORD_RELAYS_MAX];
    size_t n_relays;
    const char *names[PL_RECORD_NAMES_MAX];
    size_t n_names;
    const char *blob_files[PL_RECORD_BLOBS_MAX];
    size_t n_blobs;
    uint8_t *blobs[PL_RECORD_BLOBS_MAX];
    size_t blob_lens[PL_RECORD_BLOBS_MAX];
    uint64_t ttl;
    uint64_t timeout;
    int keep;
    char url[URL_MAX];
};

static volatile sig_atomic_t stop_signal;

static void on_stop(int sig)
{
    stop_signal = sig;
}

static void catch_stop_signals(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

/* Sleep up to `seconds`, returning early (1) once SIGINT or SIGTERM came. */
static int sleep_unless_stopped(uint64_t seconds)
{
    uint64_t slices = seconds * (1000 / SLEEP_SLICE_MS);
    struct timespec ts = {0, SLEEP_SLICE_MS * 1000000L};
    for (uint64_t i = 0; i < slices && !stop_signal; i++)
        nanosleep(&ts, NULL);
    return stop_signal != 0;
}

static int read_blobs(struct announce_opts *o)
{
    for (size_t i = 0; i < o->n_blobs; i++) {
        char *data = NULL;
        size_t len = 0;
        int rc = cli_read_input(o->blob_files[i], PL_RECORD_BLOB_MAX, &data, &len);
        if (rc != EXIT_OK)
            return rc;
        o->blobs[i] = (uint8_t *)data;
        o->blob_lens[i] = len;
    }
    return EXIT_OK;
}

/* Sign a fresh set now; EXIT_USAGE for a field the user got wrong. */
static int build(pl_record *rs, const pl_identity *id, const struct announce_opts *o)
{
    pl_record_fields f;
    const char *why = NULL;
    int rc;
    memset(&f, 0, sizeof f);
    f.addresses = o->addresses;
    f.n_addresses = o->n_addresses;
    f.relays = o->relays;
    f.n_relays = o->n_relays;
    f.names = o->names;
    f.n_names = o->n_names;
    f.blobs = (const uint8_t *const *)o->blobs;
    f.blob_lens = o->blob_lens;
    f.n_blobs = o->n_blobs;
    rc = pl_record_build(rs, id, &f, cli_now(), (uint32_t)o->ttl, &why);
    if (rc == PL_OK)
        return EXIT_OK;
    cli_err("announce: cannot make the record set: %s", why ? why : pl_strerror(rc));
    return EXIT_USAGE;
}

/* A refusal the directory will repeat whatever we do (4xx but timeout and
 * rate limit), or one that is ours. */
static int permanent(int err, long status)
{
    if (err == PL_ERR_IO)
        return status >= 400 && status <= 499 && status != 408 && status != 429;
    return err != PL_OK;
}

static int announce_once(const pl_identity *id, const struct announce_opts *o, pl_record *rs,
                         long *status, int quiet)
{
    pl_directory_opts d;
    pl_discovery_report rep;
    char fptext[PL_FINGERPRINT_STR_MAX], until[32];
    pl_fingerprint fp;
    int rc = build(rs, id, o);
    if (rc != EXIT_OK)
        return rc;
    memset(&d, 0, sizeof d);
    d.directory = o->url;
    d.cafile = o->cafile;
    d.timeout_ms = (unsigned)(o->timeout * 1000);
    d.skew = PL_RECORD_SKEW_DEFAULT;
    rc = pl_announce(rs, &d, &rep);
    *status = rep.http_status;
    pl_identity_fingerprint(id, &fp);
    if (pl_fingerprint_format(&fp, fptext, sizeof fptext) < 0)
        fptext[0] = 0;
    if (rc != PL_OK) {
        cli_err("announce to %s failed: %s", rep.url[0] ? rep.url : o->url, rep.https_why);
        return EXIT_FAIL;
    }
    cli_format_time(rs->timestamp + rs->ttl, until, sizeof until);
    if (!quiet)
        cli_err("announced %s to %s (HTTP %ld), valid until %s", fptext, rep.url, rep.http_status,
                until);
    return EXIT_OK;
}

/* --keep: announce, then again at 2/3 of the ttl; after a failure again
 * after 1, 2, 4 ... seconds (at most BACKOFF_MAX, and never past the point
 * where the set last announced would expire unrenewed for long). Runs
 * until SIGINT or SIGTERM. */
static int keep_announcing(const pl_identity *id, const struct announce_opts *o, pl_record *rs)
{
    uint64_t backoff = 1, renew = o->ttl * 2 / 3;
    unsigned long count = 0;
    if (renew == 0)
        renew = 1;
    catch_stop_signals();
    while (!stop_signal) {
        long status = 0;
        int rc = announce_once(id, o, rs, &status, 0);
        if (rc == EXIT_USAGE)
            return rc;
        if (rc == EXIT_OK) {
            count++;
            backoff = 1;
            if (sleep_unless_stopped(renew))
                break;
            continue;
        }
        if (permanent(PL_ERR_IO, status)) {
            cli_err("the directory refuses this record set (HTTP %ld): not retrying", status);
            return EXIT_FAIL;
        }
        cli_err("retrying in %llu seconds", (unsigned long long)backoff);
        if (sleep_unless_stopped(backoff))
            break;
        backoff = backoff * 2 > BACKOFF_MAX ? BACKOFF_MAX : backoff * 2;
    }
    cli_err("stopped by signal %d after %lu announcements", (int)stop_signal, count);
    return EXIT_OK;
}

static int announce(struct cli *cli, struct announce_opts *o)
{
    pl_identity *id = NULL;
    pl_record *rs = malloc(sizeof *rs);
    long status = 0;
    int rc;
    if (!rs) {
        cli_err("out of memory");
        return EXIT_FAIL;
    }
    rc = read_blobs(o);
    if (rc == EXIT_OK)
        rc = cli_load_identity(cli, &id);
    if (rc == EXIT_OK)
        rc = o->keep ? keep_announcing(id, o, rs) : announce_once(id, o, rs, &status, 0);
    for (size_t i = 0; i < o->n_blobs; i++)
        free(o->blobs[i]);
    pl_identity_free(id);
    free(rs);
    return rc;
}

#define PUSH(arr, n, cap, what)                                                                    \
    do {                                                                                           \
        if ((n) == (cap))                                                                          \
            return cli_usage(cmd, "at most %d %s", (int)(cap), what);                              \
        (arr)[(n)++] = optarg;                                                                     \
    } while (0)

static int parse_timeout(const struct cli_cmd *cmd, uint64_t *out)
{
    if (cli_parse_u64(optarg, TIMEOUT_MAX, out) != 0 || *out == 0)
        return cli_usage(cmd, "--timeout wants seconds from 1 to %d, not '%s'", TIMEOUT_MAX,
                         optarg);
    return EXIT_OK;
}

static int run_announce(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"directory", required_argument, NULL, 'd'},
        {"authority", required_argument, NULL, 'A'},
        {"address", required_argument, NULL, 'a'},
        {"relay", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'n'},
        {"blob", required_argument, NULL, 'b'},
        {"ttl", required_argument, NULL, 'T'},
        {"cacert", required_argument, NULL, 'C'},
        {"timeout", required_argument, NULL, 'W'},
        {"keep", no_argument, NULL, 'K'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct announce_opts o;
    int c, n;
    memset(&o, 0, sizeof o);
    o.ttl = TTL_DEFAULT;
    o.timeout = PL_DISCOVERY_TIMEOUT_MS / 1000;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":d:A:a:r:n:b:T:C:W:Kh", opts, NULL)) != -1) {
        switch (c) {
        case 'd': o.directory = optarg; break;
        case 'A': o.authority = optarg; break;
        case 'a': PUSH(o.addresses, o.n_addresses, PL_RECORD_ADDRESSES_MAX, "addresses"); break;
        case 'r': PUSH(o.relays, o.n_relays, PL_RECORD_RELAYS_MAX, "relays"); break;
        case 'n': PUSH(o.names, o.n_names, PL_RECORD_NAMES_MAX, "names"); break;
        case 'b': PUSH(o.blob_files, o.n_blobs, PL_RECORD_BLOBS_MAX, "blobs"); break;
        case 'T':
            if (cli_parse_u64(optarg, PL_RECORD_TTL_MAX, &o.ttl) != 0 || o.ttl == 0)
                return cli_usage(cmd, "--ttl wants seconds from 1 to %d, not '%s'",
                                 PL_RECORD_TTL_MAX, optarg);
            break;
        case 'C': o.cafile = optarg; break;
        case 'W':
            if (parse_timeout(cmd, &o.timeout) != EXIT_OK)
                return EXIT_USAGE;
            break;
        case 'K': o.keep = 1; break;
        case 'h': return cli_help(cmd);
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (!o.directory == !o.authority)
        return cli_usage(cmd, "give the directory: --directory URL or --authority HOST[:PORT] "
                              "(one of them)");
    if (o.authority) {
        pl_fingerprint probe;
        const char *why = NULL;
        memset(&probe, 0, sizeof probe);
        if (pl_fingerprint_set_authority(&probe, o.authority, &why) != PL_OK || !o.authority[0])
            return cli_usage(cmd, "'%s' is not a usable authority: %s", o.authority,
                             why ? why : "empty");
        n = snprintf(o.url, sizeof o.url, "https://%s", o.authority);
    } else {
        n = snprintf(o.url, sizeof o.url, "%s", o.directory);
        if (strncmp(o.url, "https://", 8) != 0 && strncmp(o.url, "http://", 7) != 0)
            return cli_usage(cmd,
                             "--directory wants a URL such as https://dir.example.org, "
                             "not '%s'",
                             o.directory);
    }
    if (n < 0 || (size_t)n >= sizeof o.url)
        return cli_usage(cmd, "the directory URL is too long");
    return announce(cli, &o);
}

/* ---- discover ---------------------------------------------------------- */

struct discover_opts {
    pl_fingerprint fp;
    unsigned via;
    int json;
    pl_directory_opts d;
    uint64_t timeout;
};

static void explain(const struct discover_opts *o, const pl_discovery_report *rep)
{
    if (rep->dns_tried)
        cli_err("discover via DNS%s%s%s: %s", rep->dns_name[0] ? " (TXT " : "", rep->dns_name,
                rep->dns_name[0] ? ")" : "", rep->dns_why);
    if (rep->https_tried)
        cli_err("discover via HTTPS%s%s%s: %s", rep->url[0] ? " (" : "", rep->url,
                rep->url[0] ? ")" : "", rep->https_why);
    if ((rep->dns_err == PL_ERR_INVAL || rep->https_err == PL_ERR_INVAL) && !o->fp.authority[0])
        cli_err("hint: use a fingerprint with the directory's host (ni://HOST/sha3-256;...), or "
                "give --directory URL for HTTPS");
}

static int discover(const struct discover_opts *o)
{
    pl_record *rs = malloc(sizeof *rs);
    pl_discovery_report rep;
    uint64_t now = o->d.now ? o->d.now : cli_now();
    int rc;
    if (!rs) {
        cli_err("out of memory");
        return EXIT_FAIL;
    }
    rc = pl_discover(&o->fp, o->via, &o->d, rs, &rep);
    if (rc != PL_OK) {
        explain(o, &rep);
        free(rs);
        return EXIT_FAIL;
    }
    if (o->json) {
        rc = cli_print_record_json(rs);
    } else {
        cli_print_record(rs, now);
        if (rep.via == PL_VIA_DNS)
            printf("%-12s DNS, TXT %s\n", "via", rep.dns_name);
        else
            printf("%-12s HTTPS, %s\n", "via", rep.url);
        rc = EXIT_OK;
    }
    if (rep.dns_tried && rep.via != PL_VIA_DNS)
        cli_err("note: DNS gave nothing usable (%s); the set came by HTTPS", rep.dns_why);
    free(rs);
    return rc;
}

static int run_discover(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"via", required_argument, NULL, 'V'},
        {"json", no_argument, NULL, 'j'},
        {"directory", required_argument, NULL, 'd'},
        {"dns-server", required_argument, NULL, 'S'},
        {"cacert", required_argument, NULL, 'C'},
        {"timeout", required_argument, NULL, 'W'},
        {"skew", required_argument, NULL, 's'},
        {"now", required_argument, NULL, 'N'},
        {"min-timestamp", required_argument, NULL, 'M'},
        {"no-edns", no_argument, NULL, 'E'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct discover_opts o;
    uint64_t skew = PL_RECORD_SKEW_DEFAULT;
    int c, rc;
    (void)cli;
    memset(&o, 0, sizeof o);
    o.via = PL_VIA_ANY;
    o.timeout = PL_DISCOVERY_TIMEOUT_MS / 1000;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":V:jd:S:C:W:s:N:M:Eh", opts, NULL)) != -1) {
        switch (c) {
        case 'V':
            if (strcmp(optarg, "dns") == 0)
                o.via = PL_VIA_DNS;
            else if (strcmp(optarg, "https") == 0)
                o.via = PL_VIA_HTTPS;
            else if (strcmp(optarg, "any") == 0)
                o.via = PL_VIA_ANY;
            else
                return cli_usage(cmd, "--via wants dns, https or any, not '%s'", optarg);
            break;
        case 'j': o.json = 1; break;
        case 'd':
            if (strncmp(optarg, "https://", 8) != 0 && strncmp(optarg, "http://", 7) != 0)
                return cli_usage(cmd,
                                 "--directory wants a URL such as https://dir.example.org, "
                                 "not '%s'",
                                 optarg);
            o.d.directory = optarg;
            break;
        case 'S': o.d.dns_server = optarg; break;
        case 'C': o.d.cafile = optarg; break;
        case 'W':
            if (parse_timeout(cmd, &o.timeout) != EXIT_OK)
                return EXIT_USAGE;
            break;
        case 's':
            if (cli_parse_u64(optarg, UINT32_MAX, &skew) != 0)
                return cli_usage(cmd, "--skew wants seconds, not '%s'", optarg);
            break;
        case 'N':
            if (cli_parse_u64(optarg, PL_RECORD_TIMESTAMP_MAX, &o.d.now) != 0 || o.d.now == 0)
                return cli_usage(cmd, "--now wants Unix seconds from 1 to %llu, not '%s'",
                                 (unsigned long long)PL_RECORD_TIMESTAMP_MAX, optarg);
            break;
        case 'M':
            if (cli_parse_u64(optarg, PL_RECORD_TIMESTAMP_MAX, &o.d.min_timestamp) != 0)
                return cli_usage(cmd, "--min-timestamp wants Unix seconds, not '%s'", optarg);
            break;
        case 'E': o.d.flags |= PL_DISCOVERY_NO_EDNS; break;
        case 'h': return cli_help(cmd);
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (argc - optind != 1)
        return cli_usage(cmd, argc - optind == 0 ? "which FINGERPRINT?" : "one FINGERPRINT only");
    rc = cli_parse_fingerprint(&o.fp, argv[optind], "discover:");
    if (rc != EXIT_OK)
        return rc;
    o.d.skew = (uint32_t)skew;
    o.d.timeout_ms = (unsigned)(o.timeout * 1000);
    if (o.via == PL_VIA_DNS && o.d.directory)
        cli_err("note: --directory is not used with --via dns");
    if (o.via == PL_VIA_HTTPS && o.d.dns_server)
        cli_err("note: --dns-server is not used with --via https");
    return discover(&o);
}

/* ---- the command table ------------------------------------------------- */

const struct cli_cmd cli_cmd_announce = {
    "announce",
    "sign this node's record set and put it in its directory",
    "announce (--directory URL | --authority HOST[:PORT]) [--address URI]...\n"
    "  [--relay FINGERPRINT]... [--name NAME]... [--blob FILE]... [--ttl SECONDS]\n"
    "  [--cacert FILE] [--timeout SECONDS] [--keep]",
    "Signs a record set with this node's identity, dated now, and puts its JSON\n"
    "carrier (HTTP PUT) at the directory's well-known path for this node:\n"
    "URL/.well-known/ni/sha3-256/B. Others find it with `peerlink discover`, by\n"
    "DNS or HTTPS, using a fingerprint that names the directory\n"
    "(`peerlink id --authority HOST`).\n"
    "\n"
    "Options:\n"
    "  -d, --directory URL   the directory's base URL, e.g. https://dir.example.org\n"
    "                        (http://127.0.0.1:8080 for a local one)\n"
    "  -A, --authority HOST  the same as --directory https://HOST[:PORT]\n"
    "  -a, --address URI     where to reach this node, e.g. udp://198.51.100.4:7000\n"
    "                        (repeatable, in order of preference)\n"
    "  -r, --relay FP        a relay that forwards for this node (repeatable)\n"
    "  -n, --name NAME       a name such as user@zone (repeatable)\n"
    "  -b, --blob FILE       attach the bytes of FILE, at most 1024 (repeatable)\n"
    "  -T, --ttl SECONDS     validity, 1 to 604800 (default 3600)\n"
    "  -C, --cacert FILE     trust the CA certificates in FILE (PEM) for HTTPS\n"
    "                        instead of the system's\n"
    "  -W, --timeout SECONDS give up on one attempt after this long (default 10)\n"
    "  -K, --keep            keep the record fresh: sign and announce again at 2/3\n"
    "                        of the ttl, retry failures after 1, 2, 4 ... 60\n"
    "                        seconds, until SIGINT or SIGTERM (exit 0); a 4xx\n"
    "                        refusal other than 408 and 429 ends it (exit 1)\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status: 0 stored, 1 refused by the directory or network failure (the\n"
    "message gives the HTTP status and the directory's reason), 2 bad command line.\n",
    run_announce,
};

const struct cli_cmd cli_cmd_discover = {
    "discover",
    "find a node's record set by its fingerprint, and verify it",
    "discover FINGERPRINT [--via dns|https|any] [--json] [--directory URL]\n"
    "  [--dns-server ADDR[:PORT]] [--cacert FILE] [--timeout SECONDS] [--no-edns]\n"
    "  [--skew SECONDS] [--min-timestamp UNIX] [--now UNIX]",
    "Looks up the record set of FINGERPRINT in the directory its authority names\n"
    "(ni://HOST/sha3-256;B): by DNS, a TXT query for\n"
    "HEX[0..32].HEX[32..64].0a.HOST through the system's resolver; by HTTPS, a GET\n"
    "of https://HOST/.well-known/ni/sha3-256/B. Whatever the carrier, the set is\n"
    "verified end to end - signed by FINGERPRINT's key, signature valid, not\n"
    "expired, not dated in the future - and anything else is refused, saying\n"
    "which check failed. Of several TXT records the newest that verifies wins.\n"
    "\n"
    "Options:\n"
    "  -V, --via WAY         dns, https, or any (default): DNS first, then HTTPS\n"
    "  -j, --json            print the verified set's JSON carrier instead of a\n"
    "                        summary\n"
    "  -d, --directory URL   ask this directory over HTTP(S) instead of\n"
    "                        https://HOST, e.g. http://127.0.0.1:8080\n"
    "  -S, --dns-server ADDR[:PORT]\n"
    "                        ask this DNS server (an IP address; [ADDR]:PORT for\n"
    "                        IPv6) instead of those of /etc/resolv.conf\n"
    "  -C, --cacert FILE     trust the CA certificates in FILE (PEM) for HTTPS\n"
    "  -W, --timeout SECONDS per carrier (default 10)\n"
    "  -E, --no-edns         ask DNS without EDNS0 (plain 512-byte UDP answers; a\n"
    "                        truncated answer is asked again over TCP anyway)\n"
    "  -s, --skew SECONDS    accept timestamps this far in the future (default 300)\n"
    "  -M, --min-timestamp UNIX\n"
    "                        refuse sets signed before UNIX, e.g. the timestamp of\n"
    "                        the set seen last (a directory replaying an older set)\n"
    "  -N, --now UNIX        verify as if the time were UNIX seconds (for testing)\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status: 0 a set verified, 1 not found, refused or network failure (the\n"
    "message says which, for each carrier tried), 2 bad command line.\n",
    run_discover,
};
