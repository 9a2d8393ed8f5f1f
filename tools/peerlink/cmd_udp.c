/*
 * cmd_udp.c - the datagram transport in the tool: `listen --udp`,
 * `connect --udp` (stdin/stdout or --exec, like their TCP forms) and
 * `ping --udp` (handshake time, RTT, loss). The runtime (pl_udp_*) does
 * the networking; this file loads the identity and trust store and says
 * who connected, who was refused and why a connection ended.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

struct udp {
    struct cli *cli;
    pl_udp *u;
    pl_fingerprint self;
    const pl_fingerprint *expected;
    const char *exec;
    const char *target; /* connect/ping: HOST:PORT as given */
    int once, busy, used_stdio, status, done;
    int cc, verbose, ticking;
    pl_udp_conn *stdio_owner, *conn;
    pl_udp_conn *joined[16]; /* --verbose: the streams to report on */
    double joined_at[16];
    /* ping */
    unsigned count, sent, got, interval_ms;
    double t_dial, rtt_min, rtt_max, rtt_sum;
};

static double mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void fp_text(const pl_fingerprint *fp, char *out, size_t cap)
{
    if (pl_fingerprint_format(fp, out, cap) < 0)
        snprintf(out, cap, "(unprintable fingerprint)");
}

static void finish(struct udp *n, int status)
{
    n->status = status;
    n->done = 1;
    pl_udp_stop(n->u);
}

/* Why a connection ended, in words and with what to do. */
static void explain(struct udp *n, const pl_udp_info *info, int err, const char *why)
{
    char fp[PL_FINGERPRINT_STR_MAX], self[PL_FINGERPRINT_STR_MAX];
    fp_text(&info->peer, fp, sizeof fp);
    fp_text(&n->self, self, sizeof self);
    const char *where = n->target && info->initiator ? n->target : info->remote;
    switch (err) {
    case PL_ERR_REFUSED:
        cli_err("%s at %s refused us: it does not trust this node.\n"
                "  To be trusted, run there: peerlink trust add '%s'",
                fp, where, self);
        return;
    case PL_ERR_UNREACHABLE:
        if (info->established)
            cli_err("lost the connection with %s (%s): %s", fp, where, why);
        else if (info->initiator)
            cli_err("no answer from %s: %s.\n"
                    "  Is `peerlink listen --udp` running there, and is it %s?",
                    where, why, fp);
        else
            cli_err("connection with %s (%s) ended: %s", fp, where, why);
        return;
    case PL_ERR_TOOBIG:
        cli_err("%s at %s asks for more proof of work than we do: %s", fp, where, why);
        return;
    case PL_ERR_CLOSED: cli_err("%s (%s) closed the connection", fp, where); return;
    default: cli_err("connection with %s (%s) ended: %s", fp, where, why ? why : pl_strerror(err));
    }
}

/* ---- listen and connect ------------------------------------------------- */

static void human(double v, char *out, size_t cap)
{
    if (v >= 1e9)
        snprintf(out, cap, "%.2f G", v / 1e9);
    else if (v >= 1e6)
        snprintf(out, cap, "%.2f M", v / 1e6);
    else if (v >= 1e3)
        snprintf(out, cap, "%.1f k", v / 1e3);
    else
        snprintf(out, cap, "%.0f ", v);
}

/* --verbose: one line on stderr about a connection's congestion control
 * and loss recovery. */
static void report(struct udp *n, int i, const char *when)
{
    pl_udp_conn_stats st;
    pl_udp_info info;
    char fp[PL_FINGERPRINT_STR_MAX], cwnd[32], sent[32], rcvd[32], rate[32];
    pl_udp_conn_stats_get(n->joined[i], &st);
    pl_udp_conn_info(n->joined[i], &info);
    fp_text(&info.peer, fp, sizeof fp);
    double secs = (mono_ms() - n->joined_at[i]) / 1000.0;
    human((double)st.cwnd, cwnd, sizeof cwnd);
    human((double)st.bytes_sent, sent, sizeof sent);
    human((double)st.bytes_received, rcvd, sizeof rcvd);
    human(secs > 0
              ? (double)(st.bytes_sent > st.bytes_received ? st.bytes_sent : st.bytes_received) *
                    8 / secs
              : 0,
          rate, sizeof rate);
    cli_err(
        "%s %.12s..: %s cwnd %sB%s, rtt %.1f ms (min %.1f, var %.1f), sent %sB, received %sB "
        "(%sbit/s), %llu packets, %llu lost, %llu retransmitted, %llu spurious, %llu congestion "
        "events",
        when, fp, st.cc ? st.cc : "?", cwnd, st.ssthresh == UINT64_MAX ? " (slow start)" : "",
        (double)st.srtt_us / 1000.0, (double)st.min_rtt_us / 1000.0, (double)st.rttvar_us / 1000.0,
        sent, rcvd, rate, (unsigned long long)st.packets_sent, (unsigned long long)st.packets_lost,
        (unsigned long long)st.retransmits, (unsigned long long)st.spurious,
        (unsigned long long)st.congestion_events);
}

static void tick(void *user)
{
    struct udp *n = user;
    int any = 0;
    for (int i = 0; i < 16; i++)
        if (n->joined[i]) {
            report(n, i, "stats");
            any = 1;
        }
    n->ticking = any && !n->done && pl_udp_after(n->u, 1000, tick, n) == PL_OK;
}

static void track(struct udp *n, pl_udp_conn *c)
{
    if (!n->verbose)
        return;
    for (int i = 0; i < 16; i++)
        if (!n->joined[i]) {
            n->joined[i] = c;
            n->joined_at[i] = mono_ms();
            break;
        }
    if (!n->ticking)
        n->ticking = pl_udp_after(n->u, 1000, tick, n) == PL_OK;
}

static void untrack(struct udp *n, pl_udp_conn *c)
{
    for (int i = 0; i < 16; i++)
        if (n->joined[i] == c) {
            report(n, i, "end");
            n->joined[i] = NULL;
        }
}

/* Join c to standard input and output, or to a new --exec command. */
static int join(struct udp *n, pl_udp_conn *c, const pl_udp_info *info)
{
    char fp[PL_FINGERPRINT_STR_MAX];
    int in_fd = -1, out_fd = -1;
    fp_text(&info->peer, fp, sizeof fp);
    if (n->exec) {
        if (net_spawn(n->exec, &in_fd, &out_fd) != 0) {
            cli_err("cannot start `%s`: %s", n->exec, strerror(errno));
            return -1;
        }
    } else {
        if (n->busy || n->used_stdio) {
            cli_err("%s: standard input and output are taken by another session; closing this "
                    "one (use --exec CMD to serve several peers)",
                    fp);
            return -1;
        }
        in_fd = dup(0);
        out_fd = dup(1);
        n->busy = 1;
        n->stdio_owner = c;
    }
    if (in_fd < 0 || out_fd < 0 || pl_udp_join(c, in_fd, out_fd) != PL_OK) {
        cli_err("cannot join the connection to its input and output: %s", strerror(errno));
        if (in_fd >= 0)
            close(in_fd);
        if (out_fd >= 0)
            close(out_fd);
        return -1;
    }
    track(n, c);
    return 0;
}

/* connect joins at once; listen joins when the peer's stream begins (it
 * opens its channel), so a peer that only pings never takes stdin/stdout. */
static int on_established(void *user, pl_udp_conn *c, const pl_udp_info *info)
{
    struct udp *n = user;
    char fp[PL_FINGERPRINT_STR_MAX];
    fp_text(&info->peer, fp, sizeof fp);
    if (info->initiator) {
        cli_err("connected to %s at %s (udp)", fp, info->remote);
        return join(n, c, info);
    }
    cli_err("connected to %s from %s (udp)", fp, info->remote);
    return 0;
}

static void on_message(void *user, pl_udp_conn *c, uint64_t id, int want_reply, const uint8_t *msg,
                       size_t len)
{
    (void)user;
    (void)msg;
    (void)len;
    if (want_reply && pl_udp_reply(c, id, NULL, 0, 1) != PL_OK) /* the tool serves streams */
        cli_err("cannot refuse a request");
}

static void on_stream(void *user, pl_udp_conn *c)
{
    struct udp *n = user;
    pl_udp_info info;
    pl_udp_conn_info(c, &info);
    if (info.joined)
        return;
    if (join(n, c, &info) != 0 && pl_udp_shutdown(c) != PL_OK)
        cli_err("cannot close the connection");
}

static void on_closed(void *user, pl_udp_conn *c, const pl_udp_info *info, int err, const char *why)
{
    struct udp *n = user;
    untrack(n, c);
    if (n->stdio_owner == c) {
        n->busy = 0;
        n->used_stdio = 1;
        n->stdio_owner = NULL;
    }
    if (err != PL_OK)
        explain(n, info, err, why);
    /* --once: the first stream session (a peer that only pinged does not count) */
    if ((n->once && info->joined) || n->conn == c)
        finish(n, err == PL_OK ? EXIT_OK : EXIT_FAIL);
}

static void on_refused(void *user, const pl_udp_info *info)
{
    struct udp *n = user;
    char fp[PL_FINGERPRINT_STR_MAX];
    const char *topt = n->cli->trust_opt;
    fp_text(&info->peer, fp, sizeof fp);
    cli_err("refused %s from %s: it is not in the trust store.\n"
            "  To trust it, run: peerlink %s%s%strust add '%s'",
            fp, info->remote, topt ? "-t " : "", topt ? topt : "", topt ? " " : "", fp);
}

static void on_signal(int sig)
{
    (void)sig;
    _exit(EXIT_FAIL); /* nothing to flush: the peer sees the connection go quiet */
}

static int node_new(struct udp *n, const char *host, const char *port, pl_identity **id,
                    pl_trust **ts, const pl_udp_handler *h)
{
    int rc = cli_load_identity(n->cli, id);
    if (rc != EXIT_OK)
        return rc;
    pl_identity_fingerprint(*id, &n->self);
    const char *tpath = cli_trust_path(n->cli);
    if (!tpath || cli_load_trust(tpath, ts) != EXIT_OK)
        return EXIT_FAIL;
    pl_udp_opts o = {.id = *id, .trust = *ts, .host = host, .port = port, .cc = n->cc};
    rc = pl_udp_new(&n->u, &o, h, n);
    if (rc != PL_OK) {
        cli_err("cannot use %s:%s for UDP: %s", host ? host : "0.0.0.0", port ? port : "0",
                rc == PL_ERR_IO ? strerror(errno) : pl_strerror(rc));
        return EXIT_FAIL;
    }
    signal(SIGPIPE, SIG_IGN);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    return EXIT_OK;
}

static int run(struct udp *n)
{
    if (pl_udp_run(n->u) != PL_OK) {
        cli_err("the UDP socket failed");
        return EXIT_FAIL;
    }
    return n->status;
}

int udp_listen(struct cli *cli, const char *host, const char *port, const char *exec, int once,
               const struct udp_flags *f)
{
    struct udp n;
    pl_identity *id = NULL;
    pl_trust *ts = NULL;
    pl_udp_handler h = {on_established, on_message, on_closed, on_refused, on_stream};
    memset(&n, 0, sizeof n);
    n.cli = cli;
    n.cc = f->cc;
    n.verbose = f->verbose;
    n.exec = exec;
    n.once = once;
    int rc = node_new(&n, host[0] ? host : NULL, port, &id, &ts, &h);
    if (rc == EXIT_OK) {
        if (exec)
            signal(SIGCHLD, SIG_IGN);
        cli_err("listening on %s (udp)", pl_udp_local(n.u));
        rc = run(&n);
    }
    pl_udp_free(n.u);
    pl_trust_free(ts);
    pl_identity_free(id);
    return rc;
}

/* A node on any local port dials n->target (host, port) expecting
 * n->expected, runs until done, and is freed. */
static int dial_and_run(struct udp *n, const char *host, const char *port, const pl_udp_handler *h)
{
    pl_identity *id = NULL;
    pl_trust *ts = NULL;
    n->status = EXIT_FAIL;
    int rc = node_new(n, NULL, NULL, &id, &ts, h);
    if (rc == EXIT_OK) {
        n->t_dial = mono_ms();
        rc = pl_udp_dial(n->u, host, port, n->expected, &n->conn);
        if (rc != PL_OK) {
            cli_err("cannot dial %s: %s", n->target,
                    rc == PL_ERR_IO ? "the address does not resolve" : pl_strerror(rc));
            rc = EXIT_FAIL;
        } else {
            rc = run(n);
        }
    }
    pl_udp_free(n->u);
    pl_trust_free(ts);
    pl_identity_free(id);
    return rc;
}

int udp_connect(struct cli *cli, const char *target, const char *host, const char *port,
                const pl_fingerprint *peer, const struct udp_flags *f)
{
    struct udp n;
    pl_udp_handler h = {on_established, on_message, on_closed, on_refused, on_stream};
    memset(&n, 0, sizeof n);
    n.cli = cli;
    n.cc = f->cc;
    n.verbose = f->verbose;
    n.target = target;
    n.expected = peer;
    return dial_and_run(&n, host, port, &h);
}

/* ---- ping ----------------------------------------------------------------- */

static void ping_next(void *user);

static void ping_summary(struct udp *n)
{
    char fp[PL_FINGERPRINT_STR_MAX];
    fp_text(n->expected, fp, sizeof fp);
    printf("--- %s ping statistics ---\n", fp);
    printf("%u sent, %u received, %.0f%% loss", n->sent, n->got,
           n->sent ? 100.0 * (n->sent - n->got) / n->sent : 0.0);
    if (n->got)
        printf("; rtt min/avg/max %.3f/%.3f/%.3f ms", n->rtt_min, n->rtt_sum / n->got, n->rtt_max);
    printf("\n");
    if (n->conn) { /* the connection's own view of the path */
        pl_udp_conn_stats st;
        pl_udp_conn_stats_get(n->conn, &st);
        printf("path: smoothed rtt %.1f ms (ms resolution), %llu packets sent, %llu declared lost, "
               "%llu retransmitted\n",
               (double)st.srtt_us / 1000.0, (unsigned long long)st.packets_sent,
               (unsigned long long)st.packets_lost, (unsigned long long)st.retransmits);
    }
    fflush(stdout);
}

static void on_pong(void *user, uint64_t seq, uint64_t rtt_us)
{
    struct udp *n = user;
    double ms = (double)rtt_us / 1000.0;
    if (n->got == 0 || ms < n->rtt_min)
        n->rtt_min = ms;
    if (ms > n->rtt_max)
        n->rtt_max = ms;
    n->rtt_sum += ms;
    n->got++;
    printf("pong %llu: rtt %.3f ms\n", (unsigned long long)seq, ms);
    fflush(stdout);
}

static void ping_end(void *user)
{
    struct udp *n = user;
    ping_summary(n);
    n->status = n->got ? EXIT_OK : EXIT_FAIL;
    if (!n->conn || pl_udp_shutdown(n->conn) != PL_OK)
        finish(n, n->status);
}

static void ping_next(void *user)
{
    struct udp *n = user;
    if (n->done || !n->conn)
        return;
    if (n->sent == n->count) { /* the last pong has a second (or the interval) to come */
        if (pl_udp_after(n->u, n->interval_ms > 1000 ? n->interval_ms : 1000, ping_end, n) != PL_OK)
            ping_end(n);
        return;
    }
    uint64_t seq;
    if (pl_udp_ping(n->conn, on_pong, n, &seq) != PL_OK) {
        cli_err("cannot ping");
        finish(n, EXIT_FAIL);
        return;
    }
    n->sent++;
    if (pl_udp_after(n->u, n->interval_ms, ping_next, n) != PL_OK)
        finish(n, EXIT_FAIL);
}

static int ping_established(void *user, pl_udp_conn *c, const pl_udp_info *info)
{
    struct udp *n = user;
    char fp[PL_FINGERPRINT_STR_MAX];
    (void)c;
    fp_text(&info->peer, fp, sizeof fp);
    printf("handshake with %s at %s: %.3f ms\n", fp, info->remote, mono_ms() - n->t_dial);
    fflush(stdout);
    ping_next(n);
    return 0;
}

static void ping_closed(void *user, pl_udp_conn *c, const pl_udp_info *info, int err,
                        const char *why)
{
    struct udp *n = user;
    (void)c;
    n->conn = NULL;
    if (err != PL_OK && err != PL_ERR_CLOSED) {
        explain(n, info, err, why);
        finish(n, EXIT_FAIL);
        return;
    }
    finish(n, n->status);
}

static int run_ping(struct cli *cli, const struct cli_cmd *cmd, int argc, char **argv)
{
    static const struct option opts[] = {
        {"udp", required_argument, NULL, 'u'},
        {"count", required_argument, NULL, 'c'},
        {"interval", required_argument, NULL, 'i'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *target = NULL;
    uint64_t count = 4, interval = 1000;
    int c;
    optind = 0;
    while ((c = getopt_long(argc, argv, ":hc:i:", opts, NULL)) != -1) {
        switch (c) {
        case 'u': target = optarg; break;
        case 'c':
            if (cli_parse_u64(optarg, 100000, &count) != 0 || count == 0)
                return cli_usage(cmd, "-c '%s': a count from 1 to 100000", optarg);
            break;
        case 'i':
            if (cli_parse_u64(optarg, 60000, &interval) != 0 || interval == 0)
                return cli_usage(cmd, "-i '%s': milliseconds from 1 to 60000", optarg);
            break;
        case 'h': return cli_help(cmd);
        default: return cli_bad_option(cmd, c, argv);
        }
    }
    if (!target)
        return cli_usage(cmd, "give the address with --udp HOST:PORT");
    if (optind >= argc)
        return cli_usage(cmd, "give the fingerprint of the peer");
    if (optind + 1 < argc)
        return cli_usage(cmd, "unexpected argument '%s'", argv[optind + 1]);
    char host[NET_HOST_MAX], port[NET_PORT_MAX];
    if (net_split_addr(target, host, port) != 0 || !host[0])
        return cli_usage(cmd, "--udp '%s' is not HOST:PORT (e.g. 192.0.2.7:7001)", target);
    pl_fingerprint peer;
    int rc = cli_parse_fingerprint(&peer, argv[optind], "the peer");
    if (rc != EXIT_OK)
        return rc;

    struct udp n;
    pl_udp_handler h = {ping_established, NULL, ping_closed, NULL, NULL};
    memset(&n, 0, sizeof n);
    n.cli = cli;
    n.target = target;
    n.expected = &peer;
    n.count = (unsigned)count;
    n.interval_ms = (unsigned)interval;
    return dial_and_run(&n, host, port, &h);
}

const struct cli_cmd cli_cmd_ping = {
    "ping",
    "measure the handshake time and round trips to a peer over UDP",
    "ping --udp HOST:PORT FINGERPRINT [-c COUNT] [-i MS]",
    "Runs the datagram handshake with the peer at HOST:PORT, which must prove\n"
    "the key whose fingerprint is FINGERPRINT and must trust this node, prints\n"
    "how long it took, then sends COUNT pings (default 4) every MS milliseconds\n"
    "(default 1000) and prints each round trip as its pong arrives, and a\n"
    "summary with the loss and min/avg/max round trip. Times are measured on\n"
    "this machine's monotonic clock.\n"
    "\n"
    "Options:\n"
    "  --udp HOST:PORT       the peer's address\n"
    "  -c, --count COUNT     pings to send (1..100000)\n"
    "  -i, --interval MS     time between pings (1..60000)\n"
    "  -h, --help            show this help\n"
    "\n"
    "Exit status: 0 when at least one pong came back, 1 otherwise (refused,\n"
    "unreachable, wrong fingerprint, every ping lost), 2 for a bad command line.\n",
    run_ping,
};
