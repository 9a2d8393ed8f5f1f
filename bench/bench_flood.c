/*
 * bench_flood.c - the datagram responder under a flood on loopback.
 *
 * A responder (the real runtime, pl_udp, pinned to CPU 0) serves on
 * 127.0.0.1. A legitimate client (trusted, bound to 127.0.0.1) starts a
 * new handshake every 20 ms throughout. After a quiet baseline, for the
 * attack window:
 *   - a spoofer sends, from random 127.x.y.z sources through a raw socket,
 *     HELLOs (each worth a COOKIE: a hash and a reply) and junk INITIATEs
 *     (random bytes behind the right type byte: dropped at the cookie),
 *     as fast as one core allows (the --short run paces it at 15x the
 *     capacity);
 *   - a costly attacker with a real address (127.0.1.2) and an identity the
 *     responder does not trust runs 16 full handshakes at a time in a loop:
 *     each passes the cookie and the proof of work and costs the responder
 *     its public-key operations before the refusal. This is what the
 *     proof of work is for: the difficulty it is asked rises with the load.
 * Then a quiet tail. Reported: attack rates against the responder's
 * capacity, the share of legitimate handshakes that complete and their
 * latency (per phase), the difficulty and counters every 250 ms, and the
 * responder's memory (VmRSS, VmHWM) before, during and after.
 *
 *   bench_flood            16 s run, a table (scripts/bench.sh)
 *   bench_flood --short    6.5 s run, TAP with thresholds (the test suite)
 *
 * Loopback only; every process is bounded in time and killed at the end.
 * Needs root for the raw socket; without it the spoofer is skipped.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "peerlink.h"

#define LEGIT_EVERY_MS  20
#define COSTLY_INFLIGHT 16
#define SAMPLE_MS       250
#define MAX_TRIES       4096
#define MAX_SAMPLES     256

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    (void)sched_setaffinity(0, sizeof set, &set);
}

static void rss_kb(long *rss, long *hwm)
{
    char line[256];
    FILE *f = fopen("/proc/self/status", "r");
    *rss = *hwm = -1;
    if (!f)
        return;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "VmRSS:", 6) == 0)
            *rss = atol(line + 6);
        else if (strncmp(line, "VmHWM:", 6) == 0)
            *hwm = atol(line + 6);
    }
    fclose(f);
}

/* ---- the responder (child, CPU 0) ------------------------------------------ */

struct resp {
    pl_udp *u;
    int out;
    double t0, end;
};

static void resp_sample(void *user)
{
    struct resp *r = user;
    pl_udp_stats st;
    long rss, hwm;
    pl_udp_stats_get(r->u, &st);
    rss_kb(&rss, &hwm);
    char line[512];
    int n = snprintf(line, sizeof line,
                     "S %.3f %u %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %ld %ld\n",
                     now_s() - r->t0, st.difficulty, (unsigned long long)st.rx,
                     (unsigned long long)st.rx_dropped, (unsigned long long)st.hellos,
                     (unsigned long long)st.cookies_sent, (unsigned long long)st.initiates,
                     (unsigned long long)st.bad_cookie + st.stale_cookie + st.reused_cookie,
                     (unsigned long long)st.no_work, (unsigned long long)st.pk_ops,
                     (unsigned long long)st.established, (unsigned long long)st.refused, rss, hwm);
    if (write(r->out, line, (size_t)n) != n)
        exit(1);
    if (now_s() > r->end) {
        pl_udp_stop(r->u);
        return;
    }
    if (pl_udp_after(r->u, SAMPLE_MS, resp_sample, r) != PL_OK)
        exit(1);
}

static int resp_established(void *user, pl_udp_conn *c, const pl_udp_info *info)
{
    (void)user;
    (void)info;
    (void)c;
    return 0; /* the client closes */
}

static void run_responder(pl_identity *id, const pl_fingerprint *legit, int out, double secs)
{
    pin(0);
    pl_trust *trust = NULL;
    const char *why = NULL;
    if (pl_trust_new(&trust) != PL_OK ||
        pl_trust_set(trust, PL_TRUST_ALLOW, legit, NULL, NULL, 0, &why) != PL_OK)
        exit(1);
    struct resp r = {.out = out, .t0 = now_s(), .end = now_s() + secs};
    pl_udp_opts o = {.id = id, .trust = trust, .host = "127.0.0.1", .port = "0"};
    pl_udp_handler h = {resp_established, NULL, NULL, NULL, NULL};
    if (pl_udp_new(&r.u, &o, &h, &r) != PL_OK)
        exit(1);
    char line[128];
    int n = snprintf(line, sizeof line, "P %s\n", strrchr(pl_udp_local(r.u), ':') + 1);
    if (write(out, line, (size_t)n) != n)
        exit(1);
    if (pl_udp_after(r.u, 0, resp_sample, &r) != PL_OK || pl_udp_run(r.u) != PL_OK)
        exit(1);
    pl_udp_free(r.u);
    exit(0);
}

/* ---- the spoofer (child, CPU 1): raw IPv4 from random 127.x.y.z ------------------ */

/* pace: packets per second, 0 for as fast as the CPU allows */
static void run_spoofer(const pl_fingerprint *target, uint16_t port, double secs, double pace,
                        int out)
{
    pin(1);
    int s = socket(AF_INET, SOCK_RAW, IPPROTO_RAW);
    if (s < 0) {
        dprintf(out, "X %d\n", errno);
        exit(0);
    }
    static uint8_t pkt[2][sizeof(struct iphdr) + sizeof(struct udphdr) + 1200];
    size_t len[2];
    for (int k = 0; k < 2; k++) {
        size_t plen = k == 0 ? 1200 : 250; /* HELLO, junk INITIATE */
        uint8_t *p = pkt[k] + sizeof(struct iphdr) + sizeof(struct udphdr);
        struct iphdr *ip = (struct iphdr *)pkt[k];
        struct udphdr *udp = (struct udphdr *)(pkt[k] + sizeof *ip);
        len[k] = sizeof *ip + sizeof *udp + plen;
        ip->version = 4;
        ip->ihl = 5;
        ip->ttl = 64;
        ip->protocol = IPPROTO_UDP;
        ip->tot_len = htons((uint16_t)len[k]);
        ip->daddr = htonl(0x7f000001);
        udp->dest = htons(port);
        udp->len = htons((uint16_t)(sizeof *udp + plen));
        udp->check = 0; /* optional in IPv4 */
        if (k == 0) {
            p[0] = 1; /* HELLO, version 1, no tie-breaker, the responder's hint */
            p[1] = 1;
            memcpy(p + 10, target->digest, 8);
        } else {
            for (size_t i = 0; i < plen; i++)
                p[i] = (uint8_t)rand();
            p[0] = 3; /* INITIATE, version 1 */
            p[1] = 1;
        }
    }
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(0x7f000001)};
    uint64_t x = 88172645463325252ULL, sent[2] = {0, 0};
    double start = now_s(), end = start + secs;
    for (uint64_t i = 0;; i++) {
        if ((i & 255) == 0) {
            double t = now_s(), due = pace > 0 ? start + (double)i / pace : t;
            if (t > end)
                break;
            if (due > t) { /* paced, so the costly attacker on this CPU gets its share */
                double d = due - t;
                struct timespec ts = {(time_t)d, (long)((d - (double)(time_t)d) * 1e9)};
                nanosleep(&ts, NULL);
            }
        }
        int k = (int)(i & 1);
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        struct iphdr *ip = (struct iphdr *)pkt[k];
        struct udphdr *udp = (struct udphdr *)(pkt[k] + sizeof *ip);
        uint8_t *p = pkt[k] + sizeof *ip + sizeof *udp;
        /* 127.1-254.x.y: never the legitimate client's 127.0.0.0/24 */
        ip->saddr =
            htonl(0x7f000000u | (uint32_t)(1 + (x % 254)) << 16 | (uint32_t)(x >> 8 & 0xffff));
        udp->source = htons((uint16_t)(1024 + (x >> 24) % 60000));
        memcpy(p + (k == 0 ? 18 : 2), &x, 8); /* a fresh icid, fresh junk */
        if (sendto(s, pkt[k], len[k], 0, (const struct sockaddr *)&to, sizeof to) > 0)
            sent[k]++;
    }
    dprintf(out, "A %llu %llu\n", (unsigned long long)sent[0], (unsigned long long)sent[1]);
    exit(0);
}

/* ---- the costly attacker (child, CPU 1): full handshakes, refused ------------------ */

struct costly {
    pl_udp *u;
    const pl_fingerprint *target;
    char port[16];
    double end;
    uint64_t refused, other;
};

static void costly_dial(struct costly *c)
{
    pl_udp_conn *conn;
    if (now_s() < c->end && pl_udp_dial(c->u, "127.0.0.1", c->port, c->target, &conn) != PL_OK)
        c->other++;
}

static void costly_closed(void *user, pl_udp_conn *conn, const pl_udp_info *info, int err,
                          const char *why)
{
    struct costly *c = user;
    (void)conn;
    (void)info;
    (void)why;
    if (err == PL_ERR_REFUSED)
        c->refused++;
    else
        c->other++;
    costly_dial(c);
}

static void costly_check(void *user)
{
    struct costly *c = user;
    if (now_s() > c->end + 0.5) {
        pl_udp_stop(c->u);
        return;
    }
    if (pl_udp_after(c->u, 100, costly_check, c) != PL_OK)
        exit(1);
}

static void run_costly(const pl_fingerprint *target, const char *port, double secs, int out)
{
    pin(1);
    pl_identity *id = NULL;
    if (pl_identity_generate(&id) != PL_OK)
        exit(1);
    struct costly c = {.target = target, .end = now_s() + secs};
    snprintf(c.port, sizeof c.port, "%s", port);
    pl_udp_opts o = {.id = id, .host = "127.0.1.2", .port = "0"};
    pl_udp_handler h = {NULL, NULL, costly_closed, NULL, NULL};
    if (pl_udp_new(&c.u, &o, &h, &c) != PL_OK)
        exit(1);
    for (int i = 0; i < COSTLY_INFLIGHT; i++)
        costly_dial(&c);
    if (pl_udp_after(c.u, 100, costly_check, &c) != PL_OK || pl_udp_run(c.u) != PL_OK)
        exit(1);
    dprintf(out, "C %llu %llu\n", (unsigned long long)c.refused, (unsigned long long)c.other);
    exit(0);
}

/* ---- the legitimate client (parent) ----------------------------------------------- */

enum phase { BEFORE, DURING, AFTER, PHASES };
static const char *phase_name[PHASES] = {"before", "during", "after"};

struct try_ {
    double t0, ms;
    int phase, done, ok;
    pl_udp_conn *c;
};

struct samp {
    double t;
    unsigned bits;
    unsigned long long rx, dropped, hellos, cookies, initiates, badcookie, nowork, pk, est, refused;
    long rss, hwm;
};

struct run {
    pl_udp *u;
    const pl_fingerprint *target;
    char port[16];
    double t0, attack_at, attack_for, tail_for, end_dials, deadline, spoof_pace;
    int attacking, spoof_pid, costly_pid, report_fd, stats_fd;
    pl_identity *resp_id;
    struct try_ tries[MAX_TRIES];
    int ntries;
    struct samp s[MAX_SAMPLES];
    int ns;
    char sbuf[8192];
    size_t slen;
};

static struct run R;

static int phase_of(double t)
{
    return t < R.attack_at ? BEFORE : t < R.attack_at + R.attack_for ? DURING : AFTER;
}

static struct try_ *find_try(pl_udp_conn *c)
{
    for (int i = R.ntries - 1; i >= 0; i--)
        if (R.tries[i].c == c && !R.tries[i].done)
            return &R.tries[i];
    return NULL;
}

static int legit_established(void *user, pl_udp_conn *c, const pl_udp_info *info)
{
    (void)user;
    (void)info;
    struct try_ *t = find_try(c);
    if (t) {
        t->ms = (now_s() - t->t0) * 1e3;
        t->ok = 1;
        t->done = 1;
    }
    return 1; /* close it: one handshake is the measurement */
}

static void legit_closed(void *user, pl_udp_conn *c, const pl_udp_info *info, int err,
                         const char *why)
{
    (void)user;
    (void)info;
    (void)err;
    (void)why;
    struct try_ *t = find_try(c);
    if (t)
        t->done = 1; /* failed before it was established */
}

static void read_stats(void)
{
    ssize_t n;
    while ((n = read(R.stats_fd, R.sbuf + R.slen, sizeof R.sbuf - R.slen - 1)) > 0)
        R.slen += (size_t)n;
    R.sbuf[R.slen] = 0;
    char *line = R.sbuf, *nl;
    while ((nl = strchr(line, '\n'))) {
        *nl = 0;
        struct samp *s = &R.s[R.ns < MAX_SAMPLES ? R.ns : MAX_SAMPLES - 1];
        if (sscanf(line, "S %lf %u %llu %llu %llu %llu %llu %llu %llu %llu %llu %llu %ld %ld",
                   &s->t, &s->bits, &s->rx, &s->dropped, &s->hellos, &s->cookies, &s->initiates,
                   &s->badcookie, &s->nowork, &s->pk, &s->est, &s->refused, &s->rss,
                   &s->hwm) == 14 &&
            R.ns < MAX_SAMPLES)
            R.ns++;
        line = nl + 1;
    }
    R.slen = strlen(line);
    memmove(R.sbuf, line, R.slen);
}

static void start_attack(void)
{
    int fd[2];
    if (pipe(fd) != 0)
        exit(1);
    R.report_fd = fd[0];
    R.spoof_pid = fork();
    if (R.spoof_pid == 0) {
        close(fd[0]);
        run_spoofer(R.target, (uint16_t)atoi(R.port), R.attack_for, R.spoof_pace, fd[1]);
    }
    R.costly_pid = fork();
    if (R.costly_pid == 0) {
        close(fd[0]);
        run_costly(R.target, R.port, R.attack_for, fd[1]);
    }
    close(fd[1]);
    R.attacking = 1;
}

static void tick(void *user)
{
    (void)user;
    double t = now_s() - R.t0;
    read_stats();
    if (!R.attacking && t >= R.attack_at)
        start_attack();
    if (t < R.end_dials && R.ntries < MAX_TRIES) {
        struct try_ *tr = &R.tries[R.ntries];
        tr->t0 = now_s();
        tr->phase = phase_of(t);
        if (pl_udp_dial(R.u, "127.0.0.1", R.port, R.target, &tr->c) == PL_OK)
            R.ntries++;
    }
    int open = 0;
    for (int i = 0; i < R.ntries; i++)
        open += !R.tries[i].done;
    if ((t >= R.end_dials && open == 0) || t > R.deadline) {
        pl_udp_stop(R.u);
        return;
    }
    if (pl_udp_after(R.u, LEGIT_EVERY_MS, tick, NULL) != PL_OK)
        exit(1);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv)
{
    int short_run = argc > 1 && strcmp(argv[1], "--short") == 0;
    signal(SIGPIPE, SIG_IGN);
    if (pl_init() != PL_OK)
        return 1;
    R.attack_at = short_run ? 1.0 : 3.0;
    R.attack_for = short_run ? 4.0 : 10.0;
    R.tail_for = short_run ? 1.5 : 3.0;
    /* The test paces the spoofer at 15x the capacity: flat out, on a
     * two-CPU machine it starves the costly attacker sharing its CPU and
     * the difficulty check would measure the scheduler. The bench floods
     * flat out. */
    R.spoof_pace = short_run ? 30000.0 : 0.0;
    R.end_dials = R.attack_at + R.attack_for + R.tail_for;
    R.deadline = R.end_dials + 12.0; /* dials still open then count as failed */

    pl_identity *resp_id = NULL, *legit_id = NULL;
    pl_fingerprint resp_fp, legit_fp;
    if (pl_identity_generate(&resp_id) != PL_OK || pl_identity_generate(&legit_id) != PL_OK)
        return 1;
    pl_identity_fingerprint(resp_id, &resp_fp);
    pl_identity_fingerprint(legit_id, &legit_fp);
    R.target = &resp_fp;

    int sp[2];
    if (pipe(sp) != 0)
        return 1;
    pid_t resp_pid = fork();
    if (resp_pid == 0) {
        close(sp[0]);
        run_responder(resp_id, &legit_fp, sp[1], R.deadline + 2.0);
    }
    close(sp[1]);
    R.stats_fd = sp[0];
    /* the port first (blocking), then stats without blocking */
    char pl[64];
    size_t got = 0;
    while (got < sizeof pl - 1 && read(sp[0], pl + got, 1) == 1 && pl[got] != '\n')
        got++;
    pl[got] = 0;
    if (sscanf(pl, "P %15s", R.port) != 1) {
        fprintf(stderr, "the responder did not start\n");
        return 1;
    }
    (void)fcntl(sp[0], F_SETFL, O_NONBLOCK);
    pin(1);

    pl_udp_opts o = {.id = legit_id, .host = "127.0.0.1", .port = "0"};
    pl_udp_handler h = {legit_established, NULL, legit_closed, NULL, NULL};
    if (pl_udp_new(&R.u, &o, &h, NULL) != PL_OK)
        return 1;
    R.t0 = now_s();
    if (pl_udp_after(R.u, 0, tick, NULL) != PL_OK || pl_udp_run(R.u) != PL_OK)
        return 1;

    /* the attackers' own counts */
    unsigned long long hellos_sent = 0, junk_sent = 0, costly_refused = 0, costly_other = 0;
    int no_raw = 0;
    if (R.attacking) {
        int st;
        waitpid(R.spoof_pid, &st, 0);
        waitpid(R.costly_pid, &st, 0);
        char buf[256] = {0};
        ssize_t n = read(R.report_fd, buf, sizeof buf - 1);
        for (char *line = n > 0 ? buf : NULL; line && *line;) {
            int e;
            if (sscanf(line, "A %llu %llu", &hellos_sent, &junk_sent) == 2)
                ;
            else if (sscanf(line, "C %llu %llu", &costly_refused, &costly_other) == 2)
                ;
            else if (sscanf(line, "X %d", &e) == 1)
                no_raw = 1;
            char *nl = strchr(line, '\n');
            line = nl ? nl + 1 : NULL;
        }
    }
    kill(resp_pid, SIGTERM);
    waitpid(resp_pid, NULL, 0);
    read_stats();

    /* ---- report */
    double lat[PHASES][MAX_TRIES];
    int nlat[PHASES] = {0}, tried[PHASES] = {0};
    for (int i = 0; i < R.ntries; i++) {
        struct try_ *t = &R.tries[i];
        tried[t->phase]++;
        if (t->ok)
            lat[t->phase][nlat[t->phase]++] = t->ms;
    }
    /* the responder's capacity: the load rule's (2000/s) and its pace in the run */
    unsigned max_bits = 0;
    double max_pk_rate = 0; /* the responder's public-key handshakes per second, per sample */
    for (int i = 1; i < R.ns; i++) {
        double dt = R.s[i].t - R.s[i - 1].t;
        double r = dt > 0 ? (double)(R.s[i].pk - R.s[i - 1].pk) / 4.0 / dt : 0;
        if (r > max_pk_rate)
            max_pk_rate = r;
    }
    long rss_before = -1, rss_during = -1, rss_after = -1, hwm = -1;
    for (int i = 0; i < R.ns; i++) {
        struct samp *s = &R.s[i];
        int ph = phase_of(s->t);
        if (s->bits > max_bits)
            max_bits = s->bits;
        if (ph == BEFORE)
            rss_before = s->rss;
        if (ph == DURING && s->rss > rss_during)
            rss_during = s->rss;
        if (ph == AFTER)
            rss_after = s->rss;
        if (s->hwm > hwm)
            hwm = s->hwm;
    }
    double spoof_pps = (double)(hellos_sent + junk_sent) / R.attack_for;
    double costly_ps = (double)(costly_refused + costly_other) / R.attack_for;
    const double capacity = 2000.0; /* the responder's configured capacity (the default) */
    printf("%sflood on loopback: responder pinned to CPU 0, attackers and client on CPU 1\n",
           short_run ? "# " : "");
    if (no_raw)
        printf("%sspoofer: no raw socket (not root): skipped\n", short_run ? "# " : "");
    else
        printf("%sspoofed HELLOs %llu + junk INITIATEs %llu in %.0f s: %.0f packets/s = %.0fx "
               "the responder's handshake capacity (%.0f/s)\n",
               short_run ? "# " : "", hellos_sent, junk_sent, R.attack_for, spoof_pps,
               spoof_pps / capacity, capacity);
    printf("%scostly attacker (untrusted key, real address, %d handshakes in flight): %llu "
           "refused after full work, %llu other (%.0f/s)\n",
           short_run ? "# " : "", COSTLY_INFLIGHT, costly_refused, costly_other, costly_ps);
    int ok_all[PHASES];
    for (int p = 0; p < PHASES; p++) {
        qsort(lat[p], (size_t)nlat[p], sizeof(double), cmp_double);
        ok_all[p] = nlat[p];
        double med = nlat[p] ? lat[p][nlat[p] / 2] : 0,
               p95 =
                   nlat[p]
                       ? lat[p][(nlat[p] * 95) / 100 < nlat[p] ? (nlat[p] * 95) / 100 : nlat[p] - 1]
                       : 0,
               mx = nlat[p] ? lat[p][nlat[p] - 1] : 0;
        printf("%slegitimate handshakes %-6s the attack: %d of %d complete (%.1f%%); latency "
               "median %.1f ms, p95 %.1f ms, max %.1f ms\n",
               short_run ? "# " : "", phase_name[p], nlat[p], tried[p],
               tried[p] ? 100.0 * nlat[p] / tried[p] : 0.0, med, p95, mx);
    }
    printf("%sthe responder's public-key work peaked at %.0f handshakes/s (the load rule raises "
           "the difficulty above half its capacity, %.0f/s); difficulty at most %u bits\n",
           short_run ? "# " : "", max_pk_rate, capacity / 2, max_bits);
    printf("%sresponder memory: VmRSS %ld kB before, %ld kB at most during, %ld kB after; VmHWM "
           "%ld kB\n",
           short_run ? "# " : "", rss_before, rss_during, rss_after, hwm);
    printf("%sdifficulty (bits asked of a fresh source) and responder counters every %d ms:\n",
           short_run ? "# " : "", SAMPLE_MS);
    printf("%s%7s %4s %9s %9s %9s %9s %9s %7s %7s %6s %7s\n", short_run ? "# " : "", "t(s)", "bits",
           "rx", "dropped", "cookies", "initiates", "badcookie", "nowork", "pk_ops", "estab",
           "refused");
    for (int i = 0; i < R.ns; i++) {
        struct samp *s = &R.s[i];
        if (short_run && i % 4 != 0 && i != R.ns - 1)
            continue;
        printf("%s%7.2f %4u %9llu %9llu %9llu %9llu %9llu %7llu %7llu %6llu %7llu\n",
               short_run ? "# " : "", s->t, s->bits, s->rx, s->dropped, s->cookies, s->initiates,
               s->badcookie, s->nowork, s->pk, s->est, s->refused);
    }
    if (!short_run)
        return 0;
    /* TAP: thresholds that hold with margin on this class of machine */
    int n = 0, failed = 0;
    printf("1..5\n");
#define TAP(cond, ...)                                                                             \
    do {                                                                                           \
        int ok_ = (cond);                                                                          \
        failed += !ok_;                                                                            \
        printf("%s %d - ", ok_ ? "ok" : "not ok", ++n);                                            \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
    } while (0)
    TAP(tried[BEFORE] > 0 && ok_all[BEFORE] == tried[BEFORE],
        "every legitimate handshake before the attack completes (%d/%d)", ok_all[BEFORE],
        tried[BEFORE]);
    TAP(tried[DURING] > 0 && ok_all[DURING] * 10 >= tried[DURING] * 9,
        "at least 90%% of legitimate handshakes complete during the attack (%d/%d)", ok_all[DURING],
        tried[DURING]);
    TAP(no_raw || spoof_pps > 10 * capacity,
        "the spoofed flood ran at more than 10x the handshake capacity (%.0f/s)", spoof_pps);
    if (max_pk_rate >= 0.6 * capacity)
        TAP(max_bits > 0, "the costly attacker's load (%.0f/s) raised the difficulty (to %u bits)",
            max_pk_rate, max_bits);
    else /* a slow build (sanitizers) cannot load the responder that much */
        printf("ok %d - the costly attacker's load raised the difficulty # SKIP it reached only "
               "%.0f handshakes/s, under 60%% of the capacity\n",
               ++n, max_pk_rate);
    TAP(hwm > 0 && hwm < 64 * 1024, "the responder's memory stayed bounded (VmHWM %ld kB)", hwm);
    return failed ? 1 : 0;
}
