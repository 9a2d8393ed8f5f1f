/*
 * cmd_net.c - `peerlink listen` and `peerlink connect`: symmetric TLS over
 * TCP (DESIGN.md §3.1), joined to stdin/stdout or to a command, like netcat.
 *
 * The runtime (pl_tcp_*) does the networking; this file parses the command
 * line, loads the identity and trust store, starts --exec children and
 * says who connected or why a peer was refused.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "cli.h"

#define HOST_MAX NET_HOST_MAX
#define PORT_MAX NET_PORT_MAX

struct net {
    struct cli *cli;
    const char *exec; /* --exec CMD, or NULL */
    const pl_fingerprint *expected;
    pl_fingerprint self;
    int busy;       /* stdin/stdout joined to a session already */
    int used_stdio; /* ... and that session is over: stdin is spent */
    const pl_tcp_info *stdio_owner;
};

/* "HOST:PORT", "[V6]:PORT" or ":PORT" into host (maybe "") and port. */
int net_split_addr(const char *arg, char *host, char *port)
{
    const char *colon = strrchr(arg, ':');
    const char *h = arg;
    size_t hl;
    if (!colon || !colon[1] || strlen(colon + 1) >= PORT_MAX)
        return -1;
    hl = (size_t)(colon - arg);
    if (hl >= 2 && arg[0] == '[' && arg[hl - 1] == ']') {
        h++;
        hl -= 2;
    } else if (memchr(arg, ':', hl)) {
        return -1; /* an IPv6 address needs brackets */
    }
    if (hl >= HOST_MAX)
        return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    snprintf(port, PORT_MAX, "%s", colon + 1);
    for (const char *p = port; *p; p++)
        if (*p < '0' || *p > '9')
            return -1;
    return 0;
}

static void fp_text(const pl_fingerprint *fp, char *out, size_t cap)
{
    if (pl_fingerprint_format(fp, out, cap) < 0)
        snprintf(out, cap, "(unprintable fingerprint)");
}

/* ---- runtime callbacks ------------------------------------------------ */

static void on_listening(void *user, const char *addr)
{
    (void)user;
    cli_err("listening on %s", addr);
}

/* /bin/sh -c CMD with its stdin and stdout on two new pipes. */
int net_spawn(const char *cmd, int *in_fd, int *out_fd)
{
    int to_child[2], from_child[2];
    if (pipe2(to_child, O_CLOEXEC) != 0)
        return -1;
    if (pipe2(from_child, O_CLOEXEC) != 0) {
        close(to_child[0]);
        close(to_child[1]);
        return -1;
    }
    pid_t pid = fork();
    if (pid == 0) {
        signal(SIGPIPE, SIG_DFL);
        signal(SIGCHLD, SIG_DFL);
        if (dup2(to_child[0], 0) < 0 || dup2(from_child[1], 1) < 0)
            _exit(127);
        execl("/bin/sh", "sh", "-c", cmd, (char *)NULL);
        _exit(127);
    }
    close(to_child[0]);
    close(from_child[1]);
    if (pid < 0) {
        close(to_child[1]);
        close(from_child[0]);
        return -1;
    }
    *in_fd = from_child[0]; /* what the command prints goes to the peer */
    *out_fd = to_child[1];  /* what the peer sends is the command's input */
    return 0;
}

static int on_established(void *user, const pl_tcp_info *info, int *in_fd, int *out_fd)
{
    struct net *n = user;
    char fp[PL_FINGERPRINT_STR_MAX];
    fp_text(&info->peer, fp, sizeof fp);
    cli_err("connected to %s \"%s\"", fp, info->name);
    if (n->exec) {
        if (net_spawn(n->exec, in_fd, out_fd) != 0) {
            cli_err("cannot start `%s`: %s", n->exec, strerror(errno));
            return -1;
        }
        return 0;
    }
    if (n->busy || n->used_stdio) {
        cli_err("%s: standard input and output are taken by another session; closing this one "
                "(use --exec CMD to serve several peers)",
                fp);
        return -1;
    }
    *in_fd = dup(0);
    *out_fd = dup(1);
    if (*in_fd < 0 || *out_fd < 0) {
        cli_err("cannot use standard input and output: %s", strerror(errno));
        return -1;
    }
    n->busy = 1;
    n->stdio_owner = info;
    return 0;
}

static void explain_refusal(struct net *n, const pl_tcp_info *info, int err, const char *why)
{
    char fp[PL_FINGERPRINT_STR_MAX], self[PL_FINGERPRINT_STR_MAX];
    const char *where = info->remote[0] ? info->remote : "the peer";
    const char *topt = n->cli->trust_opt;
    fp_text(&info->peer, fp, sizeof fp);
    fp_text(&n->self, self, sizeof self);
    switch (err) {
    case PL_ERR_UNTRUSTED:
        cli_err("refused %s \"%s\" from %s: it is not in the trust store.\n"
                "  To trust it, run: peerlink %s%s%strust add '%s'",
                fp, info->name, where, topt ? "-t " : "", topt ? topt : "", topt ? " " : "", fp);
        return;
    case PL_ERR_DENIED:
        cli_err("refused %s \"%s\" from %s: the trust store denies it.\n"
                "  To lift the deny, run: peerlink %s%s%strust remove '%s'",
                fp, info->name, where, topt ? "-t " : "", topt ? topt : "", topt ? " " : "", fp);
        return;
    default: break;
    }
    if (err == PL_ERR_AUTH && info->has_peer && n->expected &&
        !pl_fingerprint_equal(&info->peer, n->expected)) {
        char exp[PL_FINGERPRINT_STR_MAX];
        fp_text(n->expected, exp, sizeof exp);
        cli_err("refused %s \"%s\" at %s: it is not %s, the peer you asked for.\n"
                "  Check the fingerprint (run `peerlink id` on the other machine).",
                fp, info->name, where, exp);
        return;
    }
    if (err == PL_ERR_AUTH && info->has_peer) {
        cli_err("the handshake with %s (%s \"%s\") failed: %s.\n"
                "  If it does not trust this node yet, run there: peerlink trust add '%s'",
                where, fp, info->name, why ? why : pl_strerror(err), self);
        return;
    }
    if (err == PL_ERR_AUTH) {
        cli_err("the handshake with %s failed: %s.\n"
                "  If it does not trust this node yet, run there: peerlink trust add '%s'",
                where, why ? why : pl_strerror(err), self);
        return;
    }
    if (err == PL_ERR_ROLE) {
        cli_err("cannot settle who is the TLS client with %s: %s", where,
                why ? why : pl_strerror(err));
        return;
    }
    if (err == PL_ERR_IO && !info->established) {
        cli_err("cannot connect to %s: %s", info->remote[0] ? info->remote : "the address",
                why ? why : pl_strerror(err));
        return;
    }
    cli_err("connection with %s ended: %s", where, why ? why : pl_strerror(err));
}

static void on_closed(void *user, const pl_tcp_info *info, int err, const char *why)
{
    struct net *n = user;
    if (n->busy && n->stdio_owner == info) {
        n->busy = 0;
        n->used_stdio = 1;
        n->stdio_owner = NULL;
    }
    if (err != PL_OK)
        explain_refusal(n, info, err, why);
}

/* ---- shared setup ------------------------------------------------------- */

static int setup(struct cli *cli, const char *name, pl_identity **id, pl_trust **ts,
                 pl_stls_config **cfg, pl_fingerprint *self)
{
    const char *tpath;
    int rc = cli_load_identity(cli, id);
    if (rc != EXIT_OK)
        return rc;
    pl_identity_fingerprint(*id, self);
    tpath = cli_trust_path(cli);
    if (!tpath || cli_load_trust(tpath, ts) != EXIT_OK)
        return EXIT_FAIL;
    rc = pl_stls_config_new(cfg, *id, name);
    if (rc != PL_OK) {
        if (rc == PL_ERR_INVAL)
            cli_err("--name: a display name is 1 to %d bytes of UTF-8 without control "
                    "characters",
                    PL_STLS_NAME_MAX);
        else
            cli_err_lib(rc, "cannot set up TLS");
        return rc == PL_ERR_INVAL ? EXIT_USAGE : EXIT_FAIL;
    }
    pl_stls_config_set_trust(*cfg, *ts);
    signal(SIGPIPE, SIG_IGN);
    return EXIT_OK;
}

/* Options both commands take. */
enum {
    OPT_TCP = 256,
    OPT_EXEC,
    OPT_ONCE,
    OPT_BIND,
    OPT_CLIENT,
    OPT_SERVER,
    OPT_NAME,
    OPT_ACCEPT,
    OPT_FD,
    OPT_UDP,
    OPT_CC,
    OPT_VERBOSE
};

struct net_args {
    const char *tcp, *udp, *exec, *bind, *name, *accept, *cc;
    int once, fd, verbose;
    unsigned flags;
};

static int parse_args(const struct cli_cmd *cmd, int is_listen, int argc, char **argv,
                      struct net_args *a)
{
    static const struct option opts[] = {
        {"tcp", required_argument, NULL, OPT_TCP},
        {"exec", required_argument, NULL, OPT_EXEC},
        {"once", no_argument, NULL, OPT_ONCE},
        {"bind", required_argument, NULL, OPT_BIND},
        {"client-only", no_argument, NULL, OPT_CLIENT},
        {"server-only", no_argument, NULL, OPT_SERVER},
        {"name", required_argument, NULL, OPT_NAME},
        {"accept", required_argument, NULL, OPT_ACCEPT},
        {"fd", required_argument, NULL, OPT_FD},
        {"udp", required_argument, NULL, OPT_UDP},
        {"cc", required_argument, NULL, OPT_CC},
        {"verbose", no_argument, NULL, OPT_VERBOSE},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int c;
    memset(a, 0, sizeof *a);
    a->flags = PL_STLS_PEER;
    a->fd = -1;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
        switch (c) {
        case OPT_TCP: a->tcp = optarg; break;
        case OPT_UDP: a->udp = optarg; break;
        case OPT_CC:
            if (strcmp(optarg, "cubic") != 0 && strcmp(optarg, "newreno") != 0)
                return cli_usage(cmd, "--cc '%s': cubic or newreno", optarg);
            a->cc = optarg;
            break;
        case OPT_VERBOSE: a->verbose = 1; break;
        case OPT_EXEC: a->exec = optarg; break;
        case OPT_ONCE: a->once = 1; break;
        case OPT_BIND: a->bind = optarg; break;
        case OPT_CLIENT: a->flags = a->flags == PL_STLS_SERVER ? 0 : PL_STLS_CLIENT; break;
        case OPT_SERVER: a->flags = a->flags == PL_STLS_CLIENT ? 0 : PL_STLS_SERVER; break;
        case OPT_NAME: a->name = optarg; break;
        case OPT_ACCEPT: a->accept = optarg; break;
        case OPT_FD: {
            char *end = NULL;
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || !end || *end || end == optarg || v < 0 || v > 65535)
                return cli_usage(cmd, "--fd '%s' is not a file descriptor number", optarg);
            a->fd = (int)v;
            break;
        }
        case 'h': return cli_help(cmd);
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (a->flags == 0)
        return cli_usage(cmd, "--client-only and --server-only exclude each other");
    if (a->udp &&
        (a->tcp || a->fd >= 0 || a->bind || a->accept || a->name || a->flags != PL_STLS_PEER))
        return cli_usage(cmd, "--udp is the datagram transport: no %s",
                         a->tcp       ? "--tcp"
                         : a->fd >= 0 ? "--fd"
                         : a->bind    ? "--bind"
                         : a->accept  ? "--accept"
                         : a->name    ? "--name"
                                      : "--client-only or --server-only");
    if (!a->udp && (a->cc || a->verbose))
        return cli_usage(cmd, "%s is for --udp", a->cc ? "--cc" : "--verbose");
    if (a->fd >= 0 && (a->tcp || a->bind || a->accept))
        return cli_usage(cmd, "--fd takes a connected socket: no --tcp, --bind or --accept");
    if (!a->tcp && !a->udp && a->fd < 0)
        return cli_usage(cmd, "give the address with --tcp or --udp %s",
                         is_listen ? "ADDR:PORT" : "HOST:PORT");
    if (is_listen && (a->bind || a->accept || a->fd >= 0))
        return cli_usage(cmd, "%s is for connect; listen binds to its --tcp address",
                         a->bind     ? "--bind"
                         : a->accept ? "--accept"
                                     : "--fd");
    if (!is_listen && (a->exec || a->once))
        return cli_usage(cmd, "%s is for listen", a->exec ? "--exec" : "--once");
    if (a->exec && !a->exec[0])
        return cli_usage(cmd, "--exec needs a command");
    return -1; /* go on */
}

/* ---- listen ------------------------------------------------------------ */

static int run_listen(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    struct net_args a;
    char host[HOST_MAX], port[PORT_MAX];
    int rc = parse_args(cmd, 1, argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (optind < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind]);
    if (a.udp) {
        if (net_split_addr(a.udp, host, port) != 0)
            return cli_usage(cmd, "--udp '%s' is not ADDR:PORT (e.g. 0.0.0.0:7001, [::]:7001)",
                             a.udp);
        struct udp_flags f = {
            a.cc && strcmp(a.cc, "cubic") == 0 ? PL_UDP_CC_CUBIC : PL_UDP_CC_NEWRENO, a.verbose};
        return udp_listen(cli, host, port, a.exec, a.once, &f);
    }
    if (net_split_addr(a.tcp, host, port) != 0)
        return cli_usage(cmd, "--tcp '%s' is not ADDR:PORT (e.g. 0.0.0.0:7001, [::]:7001)", a.tcp);

    pl_identity *id = NULL;
    pl_trust *ts = NULL;
    pl_stls_config *cfg = NULL;
    struct net n;
    memset(&n, 0, sizeof n);
    n.cli = cli;
    n.exec = a.exec;
    rc = setup(cli, a.name, &id, &ts, &cfg, &n.self);
    if (rc == EXIT_OK) {
        pl_tcp_opts o;
        pl_tcp_handler h = {on_listening, on_established, on_closed};
        memset(&o, 0, sizeof o);
        o.cfg = cfg;
        o.flags = a.flags;
        o.host = host[0] ? host : NULL;
        o.port = port;
        o.max_conns = a.once ? 1 : 0;
        if (a.exec)
            signal(SIGCHLD, SIG_IGN); /* children are reaped by the kernel */
        rc = pl_tcp_listen(&o, &h, &n) == PL_OK ? EXIT_OK : EXIT_FAIL;
    }
    pl_stls_config_free(cfg);
    pl_trust_free(ts);
    pl_identity_free(id);
    return rc;
}

const struct cli_cmd cli_cmd_listen = {
    "listen",
    "accept trusted peers over TLS or UDP and join them to stdin/stdout or a command",
    "listen --tcp ADDR:PORT [--exec CMD] [--once] [--name NAME]\n"
    "       [--client-only | --server-only]\n"
    "       peerlink listen --udp ADDR:PORT [--exec CMD] [--once] [--cc ALGO] [--verbose]",
    "Listens on ADDR:PORT (port 0 picks a free one; the address is printed on\n"
    "stderr as \"listening on ADDR:PORT\") and accepts peers that the trust store\n"
    "allows. Each peer is authenticated inside the TLS 1.3 handshake by the\n"
    "fingerprint of its key; a refused peer is named with the command that would\n"
    "trust it. An accepted peer is joined to standard input and output (one at a\n"
    "time), or with --exec to a new `sh -c CMD` whose input is what the peer\n"
    "sends and whose output goes back to the peer.\n"
    "\n"
    "With --udp the datagram transport is used instead: a 1-RTT handshake\n"
    "guarded by cookies and a proof of work that rises with load; a peer the\n"
    "trust store does not allow is told so and named here. Each direction of the\n"
    "stream is an ordered channel with its own flow control, under congestion\n"
    "control (--cc); a peer is joined to input and output when its stream\n"
    "begins, so `peerlink ping` never takes them, nor counts for --once.\n"
    "\n"
    "Options:\n"
    "  --tcp ADDR:PORT   where to listen (0.0.0.0:7001, [::]:7001, 127.0.0.1:0)\n"
    "  --udp ADDR:PORT   the same, over UDP\n"
    "  --cc ALGO         (--udp) congestion control: newreno (default) or cubic\n"
    "  --verbose         (--udp) each second and at the end, a line on stderr per\n"
    "                    connection: window, RTT, bytes, losses, retransmissions\n"
    "  --exec CMD        serve each peer with its own `sh -c CMD`\n"
    "  --once            accept one connection, then exit with its status\n"
    "  --name NAME       display name shown to peers (default \"peerlink\")\n"
    "  --client-only     only act as the TLS client (for stock TLS servers)\n"
    "  --server-only     only act as the TLS server (for stock TLS clients)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 when the --once connection ended cleanly, 1 when it failed\n"
    "(refused, handshake or network error) or the address cannot be used, 2 for\n"
    "a bad command line.\n",
    run_listen,
};

/* ---- connect ----------------------------------------------------------- */

static int run_connect(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    struct net_args a;
    char host[HOST_MAX], port[PORT_MAX], bhost[HOST_MAX], bport[PORT_MAX];
    char ahost[HOST_MAX], aport[PORT_MAX];
    pl_fingerprint expected;
    int rc = parse_args(cmd, 0, argc, argv, &a);
    if (rc >= 0)
        return rc;
    if (optind >= argc && a.fd < 0)
        return cli_usage(cmd, "give the fingerprint of the peer");
    if (optind + 1 < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
    if (a.tcp && (net_split_addr(a.tcp, host, port) != 0 || !host[0]))
        return cli_usage(cmd, "--tcp '%s' is not HOST:PORT (e.g. 192.0.2.7:7001)", a.tcp);
    if (a.bind && net_split_addr(a.bind, bhost, bport) != 0)
        return cli_usage(cmd, "--bind '%s' is not ADDR:PORT (e.g. 0.0.0.0:7001)", a.bind);
    if (a.accept && net_split_addr(a.accept, ahost, aport) != 0)
        return cli_usage(cmd, "--accept '%s' is not ADDR:PORT (e.g. 0.0.0.0:7001)", a.accept);
    int have_fp = optind < argc;
    if (have_fp) {
        rc = cli_parse_fingerprint(&expected, argv[optind], "the peer");
        if (rc != EXIT_OK)
            return rc;
    }
    if (a.udp) {
        if (net_split_addr(a.udp, host, port) != 0 || !host[0])
            return cli_usage(cmd, "--udp '%s' is not HOST:PORT (e.g. 192.0.2.7:7001)", a.udp);
        if (!have_fp)
            return cli_usage(cmd, "give the fingerprint of the peer");
        struct udp_flags f = {
            a.cc && strcmp(a.cc, "cubic") == 0 ? PL_UDP_CC_CUBIC : PL_UDP_CC_NEWRENO, a.verbose};
        return udp_connect(cli, a.udp, host, port, &expected, &f);
    }
    if (a.fd >= 0) {
        int type = 0;
        socklen_t len = sizeof type;
        if (getsockopt(a.fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0 || type != SOCK_STREAM) {
            cli_err("--fd %d: not a connected TCP socket (%s)", a.fd,
                    errno ? strerror(errno) : "wrong socket type");
            return EXIT_FAIL;
        }
    }

    pl_identity *id = NULL;
    pl_trust *ts = NULL;
    pl_stls_config *cfg = NULL;
    struct net n;
    memset(&n, 0, sizeof n);
    n.cli = cli;
    n.expected = have_fp ? &expected : NULL;
    rc = setup(cli, a.name, &id, &ts, &cfg, &n.self);
    if (rc == EXIT_OK) {
        pl_tcp_opts o;
        pl_tcp_handler h = {on_listening, on_established, on_closed};
        memset(&o, 0, sizeof o);
        o.cfg = cfg;
        /* The fingerprint on the command line is the trust: a peer the
         * store does not list is accepted, a denied one is not. Without
         * one (--fd), the trust store decides. */
        o.flags = a.flags | (have_fp ? PL_STLS_ACCEPT_UNKNOWN : 0);
        o.expected = n.expected;
        if (a.fd >= 0) {
            rc = pl_tcp_adopt(&o, a.fd, NULL, 0, &h, &n) == PL_OK ? EXIT_OK : EXIT_FAIL;
        } else {
            o.host = host;
            o.port = port;
            if (a.bind) {
                o.bind_host = bhost[0] ? bhost : NULL;
                o.bind_port = bport;
            }
            if (a.accept) {
                o.accept_host = ahost[0] ? ahost : NULL;
                o.accept_port = aport;
            }
            rc = pl_tcp_connect(&o, &h, &n) == PL_OK ? EXIT_OK : EXIT_FAIL;
        }
    }
    pl_stls_config_free(cfg);
    pl_trust_free(ts);
    pl_identity_free(id);
    return rc;
}

const struct cli_cmd cli_cmd_connect = {
    "connect",
    "dial a peer over TLS or UDP, check its fingerprint, join it to stdin/stdout",
    "connect --tcp HOST:PORT FINGERPRINT [--bind ADDR:PORT | --accept ADDR:PORT]\n"
    "       [--name NAME] [--client-only | --server-only]\n"
    "       peerlink connect --fd N [FINGERPRINT] [--name NAME]\n"
    "       peerlink connect --udp HOST:PORT [--cc ALGO] [--verbose] FINGERPRINT",
    "Dials HOST:PORT and runs TLS 1.3 in which the peer must prove the key whose\n"
    "fingerprint is FINGERPRINT (a peer the trust store denies is refused even\n"
    "then). Once connected, standard input goes to the peer and what the peer\n"
    "sends goes to standard output; end of input closes our direction, and the\n"
    "command exits when both directions are closed.\n"
    "\n"
    "Either side may open: two `connect`s bound to each other's ports meet in a\n"
    "TCP simultaneous open, and two `connect`s joined by a relay both send a\n"
    "ClientHello; the tie-breaker settles which one is the TLS client.\n"
    "\n"
    "With --accept, the peer may dial us at the same time as we dial it (each\n"
    "knowing the other's address): if both connections succeed, both sides keep\n"
    "the one dialled by the node with the lower fingerprint and close the other.\n"
    "The peer must use --accept too.\n"
    "\n"
    "With --fd (STARTTLS), N is a connected TCP socket this command inherited,\n"
    "on which a clear-text protocol has agreed to start TLS; either side, or\n"
    "both, may send the first ClientHello. Without FINGERPRINT the trust store\n"
    "decides who is accepted.\n"
    "\n"
    "With --udp, the datagram transport: the peer must prove the key in a 1-RTT\n"
    "handshake (after the proof of work it asks, if any) and must trust this\n"
    "node, or it says so and we exit at once; with no answer in 10 s we exit too\n"
    "(nobody there, or it is not FINGERPRINT: a node ignores handshakes meant\n"
    "for another key).\n"
    "\n"
    "Options:\n"
    "  --tcp HOST:PORT   the peer's address\n"
    "  --udp HOST:PORT   the peer's address, over UDP\n"
    "  --cc ALGO         (--udp) congestion control: newreno (default) or cubic\n"
    "  --verbose         (--udp) window, RTT, losses and retransmissions on stderr\n"
    "                    each second and at the end\n"
    "  --bind ADDR:PORT  bind the local end first (SO_REUSEADDR)\n"
    "  --accept ADDR:PORT  also accept the peer's own dial here\n"
    "  --fd N            run TLS on the connected socket N (STARTTLS)\n"
    "  --name NAME       display name shown to the peer (default \"peerlink\")\n"
    "  --client-only     only act as the TLS client (for stock TLS servers)\n"
    "  --server-only     only act as the TLS server (for stock TLS clients)\n"
    "  -h, --help        show this help\n"
    "\n"
    "Exit status: 0 when the session ended cleanly, 1 when it failed (refused,\n"
    "wrong fingerprint, handshake or network error), 2 for a bad command line.\n",
    run_connect,
};
