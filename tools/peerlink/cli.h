/*
 * cli.h - shared pieces of the peerlink command-line tool.
 *
 * The tool is a thin layer over the public API (include/peerlink.h): it
 * resolves paths, parses arguments, calls the library and turns its error
 * codes into messages that say what to do next. Output meant for scripts
 * goes to stdout; everything else, prefixed "peerlink: ", to stderr.
 */
#ifndef PEERLINK_TOOL_CLI_H
#define PEERLINK_TOOL_CLI_H

#include <stddef.h>
#include <stdint.h>

#include "peerlink.h"

#if defined(__GNUC__) || defined(__clang__)
#define CLI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#else
#define CLI_PRINTF(a, b)
/* A record set as JSON on stdout, or as a summary a person reads
 * (fingerprint, dates relative to now, fields) - cmd_record.c. */
int cli_print_record_json(const pl_record *rs);
void cli_print_record(const pl_record *rs, uint64_t now);

/* Directory client commands (cmd_dir.c). */
extern const struct cli_cmd cli_cmd_announce;
extern const struct cli_cmd cli_cmd_discover;

#endif

/* Exit codes (docs/peerlink.1.md, EXIT STATUS). */
#define EXIT_OK    0 /* success */
#define EXIT_FAIL  1 /* the operation failed (or: denied, unknown, invalid) */
#define EXIT_USAGE 2 /* bad command line */

/* Global options; the paths are resolved on first use (cli_key_path,
 * cli_trust_path) so that --help works even without HOME. */
struct cli {
    const char *key_opt;   /* -k, or NULL */
    const char *trust_opt; /* -t, or NULL */
    char key_path[PL_PATH_MAX];
    char trust_path[PL_PATH_MAX];
};

/* The identity and trust store paths, or NULL (message printed). */
const char *cli_key_path(struct cli *cli);
const char *cli_trust_path(struct cli *cli);

/* A command or subcommand: `run` gets argv with argv[0] = its name. */
struct cli_cmd {
    const char *name;    /* "keygen", "trust add", ... */
    const char *summary; /* one line for `peerlink help` */
    const char *usage;   /* synopsis lines, without "usage: " */
    const char *help;    /* options and description */
    int (*run)(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv);
};

/* Messages: "peerlink: " + text + newline, on stderr. */
void cli_err(const char *fmt, ...) CLI_PRINTF(1, 2);

/* A failed library call: "peerlink: " + text + ": " + pl_strerror(rc), and
 * for PL_ERR_IO the system's reason (errno as the call left it). */
void cli_err_lib(int rc, const char *fmt, ...) CLI_PRINTF(2, 3);

/* Help and usage errors. cli_help prints to stdout and returns EXIT_OK;
 * cli_usage prints the message, the synopsis and a hint to stderr and
 * returns EXIT_USAGE. cli_bad_option explains a getopt_long failure. */
int cli_help(const struct cli_cmd *cmd);
int cli_usage(const struct cli_cmd *cmd, const char *fmt, ...) CLI_PRINTF(2, 3);
int cli_bad_option(const struct cli_cmd *cmd, int c, char **argv);

/* Strict number and time arguments: 0 on success, -1 on a bad value. */
int cli_parse_u64(const char *s, uint64_t max, uint64_t *out);
int cli_parse_time(const char *s, uint64_t *out); /* YYYY-MM-DDTHH:MM:SSZ */
void cli_format_time(uint64_t t, char *out, size_t cap);
uint64_t cli_now(void);

/* Parse a fingerprint argument. On failure prints the parser's reason and
 * an example of the right form, and returns EXIT_USAGE. */
int cli_parse_fingerprint(pl_fingerprint *fp, const char *arg, const char *what);

/* Load the identity at cli_key_path, explaining every failure (missing
 * file, unsafe mode, garbage). Returns EXIT_OK or EXIT_FAIL. */
int cli_load_identity(struct cli *cli, pl_identity **out);

/* Load the trust store at path (a missing file is an empty store),
 * explaining every failure. Returns EXIT_OK or EXIT_FAIL. */
int cli_load_trust(const char *path, pl_trust **out);

/* Read a whole file ("-" or NULL: stdin) of at most cap bytes into a fresh
 * NUL-terminated buffer. Prints the error and returns EXIT_FAIL on failure. */
int cli_read_input(const char *path, size_t cap, char **out, size_t *len);

/* Commands (cmd_*.c). */
extern const struct cli_cmd cli_cmd_keygen;
extern const struct cli_cmd cli_cmd_id;
extern const struct cli_cmd cli_cmd_trust;
extern const struct cli_cmd cli_cmd_trust_add;
extern const struct cli_cmd cli_cmd_trust_deny;
extern const struct cli_cmd cli_cmd_trust_remove;
extern const struct cli_cmd cli_cmd_trust_list;
extern const struct cli_cmd cli_cmd_trust_check;
extern const struct cli_cmd cli_cmd_record;
extern const struct cli_cmd cli_cmd_record_sign;
extern const struct cli_cmd cli_cmd_record_verify;
extern const struct cli_cmd cli_cmd_listen;
extern const struct cli_cmd cli_cmd_connect;
extern const struct cli_cmd cli_cmd_ping;
extern const struct cli_cmd cli_cmd_directory;
extern const struct cli_cmd cli_cmd_directory_serve;

/* Networking shared by cmd_net.c and cmd_udp.c. */
#define NET_HOST_MAX 256
#define NET_PORT_MAX 32
/* "HOST:PORT", "[V6]:PORT" or ":PORT" into host (maybe "") and port: 0 or -1. */
int net_split_addr(const char *arg, char *host, char *port);
/* /bin/sh -c CMD with its stdin and stdout on two new pipes: *in_fd reads
 * what it prints, *out_fd writes its input. 0 or -1 (errno). */
int net_spawn(const char *cmd, int *in_fd, int *out_fd);
struct udp_flags {
    int cc;      /* PL_UDP_CC_NEWRENO or PL_UDP_CC_CUBIC */
    int verbose; /* a stats line per connection every second and at its end */
};
int udp_listen(struct cli *cli, const char *host, const char *port, const char *exec, int once,
               const struct udp_flags *f);
int udp_connect(struct cli *cli, const char *target, const char *host, const char *port,
                const pl_fingerprint *peer, const struct udp_flags *f);

/* Run a group command ("trust", "record"): dispatch to one of subs. */
int cli_run_group(struct cli *cli, const struct cli_cmd *group, const struct cli_cmd *const *subs,
                  size_t n_subs, int argc, char **argv);

/* QR code of text on stdout (qr.c); invert for dark-on-light terminals. */
int cli_print_qr(const char *text, int invert);

/* DNS presentation form of TXT RDATA (txt.c). */
int cli_txt_print(const uint8_t *rdata, size_t len);
/* Parse presentation text (quoted or bare character-strings, separated by
 * white space, possibly on several lines) into RDATA. Returns the RDATA
 * length or -1 with *why set. */
long cli_txt_parse(const char *text, size_t len, uint8_t *out, size_t cap, const char **why);

/* A record set as JSON on stdout, or as a summary a person reads
 * (fingerprint, dates relative to now, fields) - cmd_record.c. */
int cli_print_record_json(const pl_record *rs);
void cli_print_record(const pl_record *rs, uint64_t now);

/* Directory client commands (cmd_dir.c). */
extern const struct cli_cmd cli_cmd_announce;
extern const struct cli_cmd cli_cmd_discover;

#endif
