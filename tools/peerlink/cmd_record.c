/*
 * cmd_record.c - `peerlink record sign|verify`: signed record sets
 * (DESIGN.md §2.2) in their JSON and DNS TXT carriers.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "cli.h"

#define TTL_DEFAULT  3600
#define TIME_MAX     32
/* Presentation text: up to 4 characters per RDATA byte (\DDD), plus quotes
 * and separators. */
#define TXT_TEXT_MAX (4 * PL_RECORD_TXT_MAX + 4096)
#define TEMPLATE_MAX (64 * 1024)

/* ---- sign ------------------------------------------------------------ */

struct sign_opts {
    const char *in;
    const char *addresses[PL_RECORD_ADDRESSES_MAX];
    size_t n_addresses;
    const char *relays[PL_RECORD_RELAYS_MAX];
    size_t n_relays;
    const char *names[PL_RECORD_NAMES_MAX];
    size_t n_names;
    const char *blobs[PL_RECORD_BLOBS_MAX];
    size_t n_blobs;
    int ttl_set;
    uint64_t ttl;
    int txt;
    int now_set;
    uint64_t now;
};

static int add_address(pl_record *rs, const char *uri)
{
    const char *why = NULL;
    if (pl_record_add_address(rs, uri, &why) == PL_OK)
        return EXIT_OK;
    cli_err("address '%s' is not usable: %s. An address is a URI such as "
            "udp://198.51.100.4:7000 or tcp://[2001:db8::1]:7001",
            uri, why ? why : "invalid");
    return EXIT_USAGE;
}

static int add_relay(pl_record *rs, const char *text)
{
    pl_fingerprint fp;
    int rc = cli_parse_fingerprint(&fp, text, "relay");
    if (rc != EXIT_OK)
        return rc;
    rc = pl_record_add_relay(rs, &fp);
    if (rc == PL_OK)
        return EXIT_OK;
    cli_err("cannot add relay %s: %s", text, pl_strerror(rc));
    return EXIT_USAGE;
}

static int add_name(pl_record *rs, const char *name)
{
    const char *why = NULL;
    if (pl_record_add_name(rs, name, &why) == PL_OK)
        return EXIT_OK;
    cli_err("name '%s' is not usable: %s", name, why ? why : "invalid");
    return EXIT_USAGE;
}

static int add_blob(pl_record *rs, const uint8_t *data, size_t len, const char *from)
{
    int rc = pl_record_add_blob(rs, data, len);
    if (rc == PL_OK)
        return EXIT_OK;
    cli_err("cannot add the blob from %s (%zu bytes): %s; a blob is at most %d bytes", from, len,
            pl_strerror(rc), PL_RECORD_BLOB_MAX);
    return EXIT_USAGE;
}

static int add_blob_file(pl_record *rs, const char *path)
{
    char *data = NULL;
    size_t len = 0;
    int rc = cli_read_input(path, PL_RECORD_BLOB_MAX, &data, &len);
    if (rc != EXIT_OK)
        return rc;
    rc = add_blob(rs, (const uint8_t *)data, len, path);
    free(data);
    return rc;
}

/* Template fields are arrays of strings; `add` takes one string. */
static int template_strings(pl_record *rs, json_t *arr, const char *key, const char *from,
                            int (*add)(pl_record *, const char *))
{
    size_t i;
    json_t *v;
    if (!json_is_array(arr)) {
        cli_err("%s: \"%s\" must be an array of strings", from, key);
        return EXIT_FAIL;
    }
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v)) {
            cli_err("%s: \"%s\" must be an array of strings", from, key);
            return EXIT_FAIL;
        }
        int rc = add(rs, json_string_value(v));
        if (rc != EXIT_OK)
            return rc;
    }
    return EXIT_OK;
}

static int template_blob(pl_record *rs, const char *b64)
{
    uint8_t data[PL_RECORD_BLOB_MAX];
    size_t len = strlen(b64);
    int n = len > PL_B64_LEN(PL_RECORD_BLOB_MAX) ? PL_ERR_TOOBIG
                                                 : pl_b64url_decode(b64, len, data, sizeof data);
    if (n < 0) {
        cli_err("blob '%.20s%s' is not unpadded base64url of at most %d bytes", b64,
                len > 20 ? "..." : "", PL_RECORD_BLOB_MAX);
        return EXIT_USAGE;
    }
    return add_blob(rs, data, (size_t)n, "the template");
}

static int template_field(pl_record *rs, struct sign_opts *o, const char *key, json_t *v)
{
    const char *from = o->in;
    if (strcmp(key, "address") == 0)
        return template_strings(rs, v, key, from, add_address);
    if (strcmp(key, "relay") == 0)
        return template_strings(rs, v, key, from, add_relay);
    if (strcmp(key, "name") == 0)
        return template_strings(rs, v, key, from, add_name);
    if (strcmp(key, "blob") == 0)
        return template_strings(rs, v, key, from, template_blob);
    if (strcmp(key, "ttl") == 0) {
        json_int_t t = json_is_integer(v) ? json_integer_value(v) : 0;
        if (t < 1 || t > PL_RECORD_TTL_MAX) {
            cli_err("%s: \"ttl\" must be an integer from 1 to %d", from, PL_RECORD_TTL_MAX);
            return EXIT_FAIL;
        }
        if (!o->ttl_set)
            o->ttl = (uint64_t)t; /* --ttl wins */
        return EXIT_OK;
    }
    cli_err("%s: unknown field \"%s\" (a template has address, relay, name, blob, ttl)", from, key);
    return EXIT_FAIL;
}

/* The unsigned template of --in: its fields come first, then the flags'. */
static int apply_template(pl_record *rs, struct sign_opts *o)
{
    char *text = NULL;
    size_t len = 0;
    json_error_t jerr;
    json_t *root, *v;
    const char *key;
    int rc = cli_read_input(o->in, TEMPLATE_MAX, &text, &len);
    if (rc != EXIT_OK)
        return rc;
    root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (!root || !json_is_object(root)) {
        cli_err("%s:%d: %s", o->in, root ? 1 : jerr.line,
                root ? "the template must be a JSON object" : jerr.text);
        json_decref(root);
        return EXIT_FAIL;
    }
    json_object_foreach(root, key, v)
    {
        rc = template_field(rs, o, key, v);
        if (rc != EXIT_OK)
            break;
    }
    json_decref(root);
    return rc;
}

static int fill_record(pl_record *rs, struct sign_opts *o)
{
    int rc = o->in ? apply_template(rs, o) : EXIT_OK;
    for (size_t i = 0; rc == EXIT_OK && i < o->n_addresses; i++)
        rc = add_address(rs, o->addresses[i]);
    for (size_t i = 0; rc == EXIT_OK && i < o->n_relays; i++)
        rc = add_relay(rs, o->relays[i]);
    for (size_t i = 0; rc == EXIT_OK && i < o->n_names; i++)
        rc = add_name(rs, o->names[i]);
    for (size_t i = 0; rc == EXIT_OK && i < o->n_blobs; i++)
        rc = add_blob_file(rs, o->blobs[i]);
    return rc;
}

int cli_print_record_json(const pl_record *rs)
{
    char *buf = malloc(PL_RECORD_JSON_MAX + 1);
    int n = buf ? pl_record_to_json(rs, buf, PL_RECORD_JSON_MAX + 1) : PL_ERR_NOMEM;
    if (n < 0) {
        cli_err("cannot encode the record set as JSON: %s", pl_strerror(n));
        free(buf);
        return EXIT_FAIL;
    }
    fwrite(buf, 1, (size_t)n, stdout);
    if (n == 0 || buf[n - 1] != '\n')
        putchar('\n');
    free(buf);
    return EXIT_OK;
}

static int print_txt(const pl_record *rs)
{
    uint8_t *buf = malloc(PL_RECORD_TXT_MAX);
    int n = buf ? pl_record_to_txt(rs, buf, PL_RECORD_TXT_MAX) : PL_ERR_NOMEM;
    int rc;
    if (n < 0) {
        cli_err("cannot encode the record set as TXT: %s", pl_strerror(n));
        free(buf);
        return EXIT_FAIL;
    }
    rc = cli_txt_print(buf, (size_t)n);
    free(buf);
    return rc;
}

static int sign_and_print(struct cli *cli, struct sign_opts *o)
{
    pl_record *rs = malloc(sizeof *rs);
    pl_identity *id = NULL;
    int rc;
    if (!rs) {
        cli_err("out of memory");
        return EXIT_FAIL;
    }
    pl_record_init(rs);
    rc = fill_record(rs, o);
    if (rc == EXIT_OK)
        rc = cli_load_identity(cli, &id);
    if (rc == EXIT_OK) {
        int err = pl_record_sign(rs, id, o->now_set ? o->now : cli_now(), (uint32_t)o->ttl);
        if (err != PL_OK) {
            cli_err("cannot sign the record set: %s", pl_strerror(err));
            rc = EXIT_FAIL;
        }
    }
    if (rc == EXIT_OK)
        rc = o->txt ? print_txt(rs) : cli_print_record_json(rs);
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

static int run_sign(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"address", required_argument, NULL, 'a'}, {"relay", required_argument, NULL, 'r'},
        {"name", required_argument, NULL, 'n'},    {"blob", required_argument, NULL, 'b'},
        {"ttl", required_argument, NULL, 'T'},     {"txt", no_argument, NULL, 'x'},
        {"in", required_argument, NULL, 'i'},      {"now", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},          {NULL, 0, NULL, 0},
    };
    struct sign_opts o;
    int c;
    memset(&o, 0, sizeof o);
    o.ttl = TTL_DEFAULT;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":a:r:n:b:T:xi:N:h", opts, NULL)) != -1) {
        switch (c) {
        case 'a': PUSH(o.addresses, o.n_addresses, PL_RECORD_ADDRESSES_MAX, "addresses"); break;
        case 'r': PUSH(o.relays, o.n_relays, PL_RECORD_RELAYS_MAX, "relays"); break;
        case 'n': PUSH(o.names, o.n_names, PL_RECORD_NAMES_MAX, "names"); break;
        case 'b': PUSH(o.blobs, o.n_blobs, PL_RECORD_BLOBS_MAX, "blobs"); break;
        case 'T':
            if (cli_parse_u64(optarg, PL_RECORD_TTL_MAX, &o.ttl) != 0 || o.ttl == 0)
                return cli_usage(cmd, "--ttl wants seconds from 1 to %d, not '%s'",
                                 PL_RECORD_TTL_MAX, optarg);
            o.ttl_set = 1;
            break;
        case 'x': o.txt = 1; break;
        case 'i': o.in = optarg; break;
        case 'N':
            if (cli_parse_u64(optarg, PL_RECORD_TIMESTAMP_MAX, &o.now) != 0)
                return cli_usage(cmd, "--now wants Unix seconds from 0 to %llu, not '%s'",
                                 (unsigned long long)PL_RECORD_TIMESTAMP_MAX, optarg);
            o.now_set = 1;
            break;
        case 'h': return cli_help(cmd);
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s' (addresses go after --address)",
                         argv[optind]);
    return sign_and_print(cli, &o);
}

/* ---- verify ---------------------------------------------------------- */

struct verify_opts {
    const char *file;
    const char *fptext;
    pl_fingerprint fp;
    int txt;
    int json;
    uint64_t skew;
    uint64_t now;
};

static const char *input_name(const struct verify_opts *o)
{
    return !o->file || strcmp(o->file, "-") == 0 ? "standard input" : o->file;
}

static int decode_txt(pl_record *rs, const char *text, size_t len, const char **why)
{
    uint8_t *rdata = malloc(PL_RECORD_TXT_MAX);
    long n;
    int rc;
    if (!rdata) {
        *why = "out of memory";
        return PL_ERR_NOMEM;
    }
    n = cli_txt_parse(text, len, rdata, PL_RECORD_TXT_MAX, why);
    rc = n < 0 ? PL_ERR_PARSE : pl_record_from_txt(rs, rdata, (size_t)n, why);
    free(rdata);
    return rc;
}

static int decode_input(pl_record *rs, const struct verify_opts *o)
{
    char *text = NULL;
    size_t len = 0, skip = 0;
    const char *why = NULL;
    int rc = cli_read_input(o->file, o->txt ? TXT_TEXT_MAX : PL_RECORD_JSON_MAX, &text, &len);
    if (rc != EXIT_OK)
        return rc;
    rc = o->txt ? decode_txt(rs, text, len, &why) : pl_record_from_json(rs, text, len, &why);
    if (rc != PL_OK) {
        while (skip < len && strchr(" \t\r\n", text[skip]))
            skip++;
        cli_err("%s does not hold a valid record set: %s", input_name(o),
                why ? why : pl_strerror(rc));
        if (!o->txt && skip < len && text[skip] == '"')
            cli_err("hint: that looks like the TXT form: add --txt");
        else if (o->txt && skip < len && text[skip] == '{')
            cli_err("hint: that looks like JSON: drop --txt");
    }
    free(text);
    return rc == PL_OK ? EXIT_OK : EXIT_FAIL;
}

static void print_when(const char *label, uint64_t t, uint64_t now)
{
    char when[TIME_MAX];
    cli_format_time(t, when, sizeof when);
    if (t <= now)
        printf("%-12s %s (%llu seconds ago)\n", label, when, (unsigned long long)(now - t));
    else
        printf("%-12s %s (in %llu seconds)\n", label, when, (unsigned long long)(t - now));
}

void cli_print_record(const pl_record *rs, uint64_t now)
{
    pl_fingerprint fp;
    char fptext[PL_FINGERPRINT_STR_MAX];
    if (pl_fingerprint_from_key(&fp, rs->public_key, NULL) != PL_OK ||
        pl_fingerprint_format(&fp, fptext, sizeof fptext) < 0)
        snprintf(fptext, sizeof fptext, "(unprintable)");
    printf("%-12s %s\n", "fingerprint", fptext);
    print_when("signed", rs->timestamp, now);
    print_when("expires", rs->timestamp + rs->ttl, now);
    printf("%-12s %lu seconds\n", "ttl", (unsigned long)rs->ttl);
    for (size_t i = 0; i < rs->n_addresses; i++)
        printf("%-12s %s\n", "address", rs->addresses[i]);
    for (size_t i = 0; i < rs->n_relays; i++)
        printf("%-12s %s\n", "relay", rs->relays[i]);
    for (size_t i = 0; i < rs->n_names; i++)
        printf("%-12s %s\n", "name", rs->names[i]);
    for (size_t i = 0; i < rs->n_blobs; i++)
        printf("%-12s %zu bytes\n", "blob", rs->blobs[i].len);
}

static int explain_verify_error(const pl_record *rs, const struct verify_opts *o, int err)
{
    char when[TIME_MAX];
    uint64_t expiry = rs->timestamp + rs->ttl;
    switch (err) {
    case PL_ERR_AUTH:
        if (o->fptext)
            cli_err("signature does not verify, or the record is not by %s", o->fptext);
        else
            cli_err("signature does not verify: the record set was altered after signing");
        break;
    case PL_ERR_EXPIRED:
        cli_format_time(expiry, when, sizeof when);
        cli_err("expired at %s, %llu seconds ago: ask the node to re-announce", when,
                (unsigned long long)(o->now - expiry));
        break;
    case PL_ERR_FUTURE:
        cli_format_time(rs->timestamp, when, sizeof when);
        cli_err("dated in the future: signed at %s, %llu seconds from now (more than the %llu "
                "seconds of clock skew allowed): check the clocks here and on the signer, or "
                "raise --skew",
                when, (unsigned long long)(rs->timestamp - o->now), (unsigned long long)o->skew);
        break;
    case PL_ERR_INVAL:
        cli_err("%s does not hold a valid record set: a field or the ttl is out of range",
                input_name(o));
        break;
    default:
        cli_err("cannot verify the record set in %s: %s", input_name(o), pl_strerror(err));
        break;
    }
    return EXIT_FAIL;
}

static int verify(const struct verify_opts *o)
{
    pl_record *rs = malloc(sizeof *rs);
    int rc;
    if (!rs) {
        cli_err("out of memory");
        return EXIT_FAIL;
    }
    pl_record_init(rs);
    rc = decode_input(rs, o);
    if (rc == EXIT_OK) {
        const pl_fingerprint *expected = o->fptext ? &o->fp : NULL;
        int err = pl_record_verify(rs, expected, o->now, (uint32_t)o->skew);
        if (err != PL_OK)
            rc = explain_verify_error(rs, o, err);
    }
    if (rc == EXIT_OK && o->json) {
        rc = cli_print_record_json(rs);
    } else if (rc == EXIT_OK) {
        cli_print_record(rs, o->now);
        if (!o->fptext)
            cli_err("note: without --fingerprint this only shows that the record set is "
                    "intact, not whose it is");
    }
    free(rs);
    return rc;
}

static int run_verify(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"fingerprint", required_argument, NULL, 'f'},
        {"txt", no_argument, NULL, 'x'},
        {"json", no_argument, NULL, 'j'},
        {"skew", required_argument, NULL, 's'},
        {"now", required_argument, NULL, 'N'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct verify_opts o;
    int c, rc;
    (void)cli;
    memset(&o, 0, sizeof o);
    o.skew = PL_RECORD_SKEW_DEFAULT;
    o.now = cli_now();
    optind = 0;
    while ((c = getopt_long(argc, argv, ":f:xjs:N:h", opts, NULL)) != -1) {
        switch (c) {
        case 'f': o.fptext = optarg; break;
        case 'x': o.txt = 1; break;
        case 'j': o.json = 1; break;
        case 's':
            if (cli_parse_u64(optarg, UINT32_MAX, &o.skew) != 0)
                return cli_usage(cmd, "--skew wants seconds, not '%s'", optarg);
            break;
        case 'N':
            if (cli_parse_u64(optarg, PL_RECORD_TIMESTAMP_MAX, &o.now) != 0)
                return cli_usage(cmd, "--now wants Unix seconds from 0 to %llu, not '%s'",
                                 (unsigned long long)PL_RECORD_TIMESTAMP_MAX, optarg);
            break;
        case 'h': return cli_help(cmd);
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (argc - optind > 1)
        return cli_usage(cmd, "one FILE at most");
    o.file = optind < argc ? argv[optind] : NULL;
    if (o.fptext) {
        rc = cli_parse_fingerprint(&o.fp, o.fptext, "--fingerprint");
        if (rc != EXIT_OK)
            return rc;
    }
    if (!o.file && isatty(STDIN_FILENO))
        cli_err("reading a record set from standard input (end it with Ctrl-D)");
    return verify(&o);
}

/* ---- the command table ------------------------------------------------- */

const struct cli_cmd cli_cmd_record_sign = {
    "record sign",
    "sign a record set (this node's addresses) and print it",
    "record sign [--address URI]... [--relay FINGERPRINT]... [--name NAME]...\n"
    "  [--blob FILE]... [--ttl SECONDS] [--in TEMPLATE|-] [--txt] [--now UNIX]",
    "Signs a record set with this node's identity, dated now, and prints its JSON\n"
    "carrier (or with --txt its DNS TXT carrier, in zone-file presentation form).\n"
    "Fields keep the order given; template fields come before the flags'.\n"
    "\n"
    "Options:\n"
    "  -a, --address URI     where to reach this node, e.g. udp://198.51.100.4:7000\n"
    "                        or tcp://[2001:db8::1]:7001 (repeatable)\n"
    "  -r, --relay FP        a relay that forwards for this node (repeatable)\n"
    "  -n, --name NAME       a name such as user@zone (repeatable)\n"
    "  -b, --blob FILE       attach the bytes of FILE, at most 1024 (repeatable)\n"
    "  -T, --ttl SECONDS     validity from now, 1 to 604800 (default 3600)\n"
    "  -i, --in FILE         take fields from an unsigned JSON template (- for stdin):\n"
    "                        {\"address\":[..], \"relay\":[..], \"name\":[..],\n"
    "                         \"blob\":[base64url..], \"ttl\":N}; --ttl overrides its ttl\n"
    "  -x, --txt             print the TXT carrier instead of JSON\n"
    "  -N, --now UNIX        sign as if the time were UNIX seconds (for testing)\n"
    "  -h, --help            show this help\n",
    run_sign,
};

const struct cli_cmd cli_cmd_record_verify = {
    "record verify",
    "check a record set's signature and validity, and show it",
    "record verify [FILE|-] [--fingerprint FP] [--txt] [--json] [--skew SECONDS]\n"
    "  [--now UNIX]",
    "Reads a record set (JSON, or with --txt the TXT presentation form as\n"
    "`dig +short TXT` prints it) from FILE or standard input and verifies it at the\n"
    "current time. Exit status 0 if it is valid, 1 if not.\n"
    "\n"
    "Options:\n"
    "  -f, --fingerprint FP  require the record set to be signed by FP; without it,\n"
    "                        only its integrity is checked\n"
    "  -x, --txt             the input is the TXT carrier\n"
    "  -j, --json            on success print the record set as JSON instead of a\n"
    "                        summary\n"
    "  -s, --skew SECONDS    accept timestamps this far in the future (default 300)\n"
    "  -N, --now UNIX        verify as if the time were UNIX seconds (for testing)\n"
    "  -h, --help            show this help\n",
    run_verify,
};

static const struct cli_cmd *const record_subs[] = {
    &cli_cmd_record_sign,
    &cli_cmd_record_verify,
};

static int run_record(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    return cli_run_group(cli, cmd, record_subs, sizeof record_subs / sizeof record_subs[0], argc,
                         argv);
}

const struct cli_cmd cli_cmd_record = {
    "record",   "sign and verify record sets (where to reach a node)", "record COMMAND ...", "",
    run_record,
};
