/* cmd_key.c - `peerlink keygen` and `peerlink id`: the node's own identity. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "cli.h"

/* ---- keygen ------------------------------------------------------- */

static void refuse_overwrite(const char *path)
{
    cli_err("an identity already exists at %s; refusing to overwrite it.", path);
    fprintf(stderr, "  Run `peerlink id` to see its fingerprint. To replace it for good, run\n"
                    "  `peerlink keygen --force`: the old key is lost, and peers that trust its\n"
                    "  fingerprint will no longer recognise this machine.\n");
}

static int keygen(const char *path, int force)
{
    pl_identity *id = NULL;
    pl_fingerprint fp;
    char fptext[PL_FINGERPRINT_STR_MAX];
    struct stat st;
    int rc;

    /* Checked first to spare a key generation; pl_identity_save checks
     * again, atomically, for a racing keygen. */
    if (!force && lstat(path, &st) == 0) {
        refuse_overwrite(path);
        return EXIT_FAIL;
    }
    rc = pl_identity_generate(&id);
    if (rc != PL_OK) {
        cli_err_lib(rc, "cannot generate a key");
        return EXIT_FAIL;
    }
    rc = pl_identity_save(id, path, force ? PL_IDENTITY_FORCE : 0);
    if (rc == PL_ERR_EXIST) {
        refuse_overwrite(path);
    } else if (rc != PL_OK) {
        cli_err_lib(rc, "cannot save the identity to %s", path);
    } else {
        pl_identity_fingerprint(id, &fp);
        rc = pl_fingerprint_format(&fp, fptext, sizeof fptext);
        if (rc < 0)
            cli_err("cannot format the fingerprint: %s", pl_strerror(rc));
        else
            printf("identity: %s\nfingerprint: %s\n", path, fptext);
        rc = rc < 0 ? rc : PL_OK;
    }
    pl_identity_free(id);
    return rc == PL_OK ? EXIT_OK : EXIT_FAIL;
}

static int run_keygen(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"force", no_argument, NULL, 'f'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int force = 0, c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":fh", opts, NULL)) != -1) {
        switch (c) {
        case 'f': force = 1; break;
        case 'h': return cli_help(cmd);
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    const char *path = cli_key_path(cli);
    return path ? keygen(path, force) : EXIT_FAIL;
}

const struct cli_cmd cli_cmd_keygen = {
    "keygen",
    "create this node's identity (an Ed25519 key pair)",
    "keygen [--force]",
    "Writes a new private key to the identity file (mode 0600, in a directory of\n"
    "mode 0700) and prints its path and fingerprint. The fingerprint is what other\n"
    "nodes use to find and trust this one.\n"
    "\n"
    "Options:\n"
    "  -f, --force   replace an existing identity (the old key is lost)\n"
    "  -h, --help    show this help\n",
    run_keygen,
};

/* ---- id ----------------------------------------------------------- */

struct id_opts {
    int json;
    int qr;
    int invert;
    const char *authority;
};

static int id_json(const pl_identity *id, const pl_fingerprint *fp, const char *fptext)
{
    uint8_t pk[PL_ED25519_PK_LEN];
    char pkb64[PL_B64_LEN(PL_ED25519_PK_LEN) + 1];
    char dns[PL_DNS_NAME_MAX];
    char url[PL_URL_MAX];
    json_t *o = json_object();
    int n, rc = EXIT_FAIL;

    pl_identity_public_key(id, pk);
    n = pl_b64url_encode(pk, sizeof pk, pkb64, sizeof pkb64);
    if (!o || n < 0 || (size_t)n >= sizeof pkb64)
        goto out;
    pkb64[n] = 0;
    json_object_set_new(o, "fingerprint", json_string(fptext));
    json_object_set_new(o, "public_key", json_string(pkb64));
    if (fp->authority[0]) {
        json_object_set_new(o, "authority", json_string(fp->authority));
        /* An IP-literal authority has no DNS name: null, not an error. */
        n = pl_fingerprint_dns_name(fp, dns, sizeof dns);
        json_object_set_new(o, "dns_name", n >= 0 ? json_string(dns) : json_null());
        n = pl_fingerprint_well_known_url(fp, url, sizeof url);
        if (n < 0) {
            cli_err("cannot form the well-known URL: %s", pl_strerror(n));
            goto out;
        }
        json_object_set_new(o, "well_known_url", json_string(url));
    }
    if (json_dumpf(o, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER) == 0) {
        putchar('\n');
        rc = EXIT_OK;
    }
out:
    json_decref(o);
    return rc;
}

static int show_id(struct cli *cli, const struct id_opts *o)
{
    pl_identity *id = NULL;
    pl_fingerprint fp;
    char fptext[PL_FINGERPRINT_STR_MAX];
    const char *why = NULL;
    int rc = cli_load_identity(cli, &id);

    if (rc != EXIT_OK)
        return rc;
    pl_identity_fingerprint(id, &fp);
    if (o->authority && pl_fingerprint_set_authority(&fp, o->authority, &why) != PL_OK) {
        cli_err("id: '%s' is not a usable authority: %s. Give a host name such as "
                "dir.example.org (optionally with :PORT)",
                o->authority, why ? why : "malformed");
        rc = EXIT_USAGE;
    } else if (pl_fingerprint_format(&fp, fptext, sizeof fptext) < 0) {
        cli_err("cannot format the fingerprint");
        rc = EXIT_FAIL;
    } else if (o->json) {
        rc = id_json(id, &fp, fptext);
    } else if (o->qr) {
        rc = cli_print_qr(fptext, o->invert);
        if (rc == EXIT_OK)
            printf("%s\n", fptext);
    } else {
        printf("%s\n", fptext);
    }
    pl_identity_free(id);
    return rc;
}

static int run_id(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},   {"qr", no_argument, NULL, 'q'},
        {"invert", no_argument, NULL, 'i'}, {"authority", required_argument, NULL, 'a'},
        {"help", no_argument, NULL, 'h'},   {NULL, 0, NULL, 0},
    };
    struct id_opts o = {0, 0, 0, NULL};
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":jqia:h", opts, NULL)) != -1) {
        switch (c) {
        case 'j': o.json = 1; break;
        case 'q': o.qr = 1; break;
        case 'i': o.invert = 1; break;
        case 'a': o.authority = optarg; break;
        case 'h': return cli_help(cmd);
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (o.json && o.qr)
        return cli_usage(cmd, "--json and --qr do not mix: pick one");
    if (o.invert && !o.qr)
        return cli_usage(cmd, "--invert only applies to --qr");
    return show_id(cli, &o);
}

const struct cli_cmd cli_cmd_id = {
    "id",
    "print this node's fingerprint",
    "id [--authority HOST[:PORT]] [--json | --qr [--invert]]",
    "Prints the fingerprint of the identity, ni://[AUTHORITY]/sha3-256;B, which\n"
    "other nodes use to find and trust this one.\n"
    "\n"
    "Options:\n"
    "  -a, --authority HOST[:PORT]\n"
    "                the directory this node announces to; it becomes part of the\n"
    "                fingerprint text (and is ignored when comparing fingerprints)\n"
    "  -j, --json    print a JSON object: fingerprint, public_key (base64url),\n"
    "                and with an authority also authority, dns_name (null for an IP\n"
    "                address) and well_known_url\n"
    "  -q, --qr      draw the fingerprint as a QR code, then print it as text. The\n"
    "                code is drawn for light-on-dark terminals: light modules are\n"
    "                block characters, dark modules are blanks\n"
    "  -i, --invert  with --qr: draw for dark-on-light terminals instead\n"
    "  -h, --help    show this help\n",
    run_id,
};
