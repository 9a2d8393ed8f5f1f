/*
 * impair.c - a user-space UDP relay that impairs what it relays, for
 * testing the datagram transport over real sockets where the kernel has
 * no netem (test code; plain POSIX, no peerlink library).
 *
 *   client --> [listen socket] impair [one socket per client] --> upstream
 *   client <-- [listen socket] impair [one socket per client] <-- upstream
 *
 * Each new source address that sends to the listen socket is a client and
 * gets a socket of its own (ephemeral port) towards the upstream, as a NAT
 * would give it a mapping; upstream's replies on that socket go back to the
 * client from the listen socket. Every datagram, in each direction
 * independently, may be dropped (--loss), have one bit flipped (--corrupt),
 * be sent twice (--dup), be held back --reorder-ms longer than the others
 * (--reorder) and is held for --delay-ms +/- --jitter-ms (uniform; like
 * netem, jitter alone may reorder). During the dark windows
 * [500 + k*period, 500 + k*period + dark) ms after start everything that
 * arrives is dropped, both ways. A rebinding (--rebind-at-ms, counted from
 * the client's first datagram, or --rebind-after-bytes relayed towards the
 * upstream; each fires once per client) opens a new socket for the client
 * and closes the old one: the upstream sees the client move to a new source
 * port mid-connection, and what it still sends to the old one is lost.
 *
 * Held datagrams live in a pool of fixed slots allocated at start, ordered
 * by a binary min-heap on (due time, arrival order): nothing is allocated
 * per datagram. A datagram that must be held when the pool is full is
 * dropped (queue_dropped), as a router with a full buffer would. Randomness
 * is xoshiro256** seeded by splitmix64 from --seed, a stream per direction,
 * so what happens to the n-th datagram in a direction depends only on the
 * seed and n: a run is repeatable.
 *
 * Datagrams the kernel dropped at the relay's own sockets (full receive
 * buffers: the relay did not keep up) are counted too (kernel_dropped,
 * from SO_RXQ_OVFL), so that they are not mistaken for the transport's.
 *
 * On start it prints "impair: listening on ADDR:PORT ..." to stderr (with
 * --listen ...:0, the port the kernel chose). On SIGTERM or SIGINT it
 * prints its counters to stderr, writes them to --stats-file as key=value
 * lines and exits 0; SIGUSR1 writes them without exiting. --progress-ms N
 * prints running totals every N ms (when a transfer stalls, and which way).
 * Exit status: 0 after a signal, 1 when a socket fails, 2 for bad arguments.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_CLIENTS  64
#define SLOTS        16384 /* datagrams held at once, both directions */
#define SLOT_BYTES   2048  /* largest datagram that can be held */
#define RECV_BYTES   65536 /* largest UDP payload */
#define RECV_BURST   64    /* datagrams read from one socket per wakeup */
#define SOCK_BUF     (4 << 20)
#define DARK_OFFSET  500 /* ms after start of the first dark window */
#define MS_MAX       3600000ull
#define ADDR_TEXT    64
#define NS_PER_MS    1000000ull
#define NO_DEADLINE  UINT64_MAX
#define NEVER_REBIND UINT64_MAX

enum dir { UP, DOWN, DIRS }; /* client -> upstream, upstream -> client */

struct counters {
    uint64_t received, forwarded, lost, corrupted, duplicated, reordered, dark_dropped;
    uint64_t queue_dropped, too_big, send_dropped, bytes_received, bytes_forwarded;
};

struct client {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    int fd;            /* towards the upstream */
    uint64_t first_ns; /* first datagram seen */
    uint64_t bytes_up; /* relayed towards the upstream */
    uint32_t drops;    /* the kernel's count for fd (SO_RXQ_OVFL) */
    bool rebound_time, rebound_bytes;
};

struct slot {
    uint64_t due_ns, seq;
    int client;
    enum dir dir;
    size_t len;
    uint8_t data[SLOT_BYTES];
};

struct opts {
    struct sockaddr_storage listen, upstream;
    socklen_t listen_len, upstream_len;
    double loss, corrupt, dup, reorder;
    uint64_t reorder_ms, delay_ms, jitter_ms, dark_period_ms, dark_ms;
    uint64_t rebind_at_ms, rebind_after_bytes, seed, progress_ms;
    const char *stats_file;
};

struct relay {
    struct opts o;
    int listen_fd;
    uint64_t start_ns, seq, progress_ns;
    uint64_t rng[DIRS][4]; /* a stream per direction: one's draws do not shift the other's */
    struct client clients[MAX_CLIENTS];
    size_t nclients;
    uint64_t no_client_slot, rebinds;
    uint32_t listen_drops;        /* the kernel's count for listen_fd */
    uint64_t closed_socket_drops; /* ... for client sockets closed by rebindings */
    struct counters c[DIRS];
    struct slot *slots;
    uint32_t *heap, *free_list; /* slot indices */
    size_t heap_len, free_len;
    uint8_t buf[RECV_BYTES];
};

static volatile sig_atomic_t got_stop, got_dump;

static const char *const dir_name[DIRS] = {"up", "down"};

static void on_stop(int sig)
{
    (void)sig;
    got_stop = 1;
}

static void on_dump(int sig)
{
    (void)sig;
    got_dump = 1;
}

__attribute__((format(printf, 1, 2))) static void say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("impair: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
}

static void usage(FILE *f)
{
    fputs("usage: impair --listen ADDR:PORT --upstream ADDR:PORT [--loss P] [--corrupt P]\n"
          "         [--dup P] [--reorder P --reorder-ms N] [--delay-ms N] [--jitter-ms N]\n"
          "         [--dark-period-ms N --dark-ms N] [--rebind-at-ms N]\n"
          "         [--rebind-after-bytes N] [--seed N] [--stats-file PATH] [--progress-ms N]\n"
          "ADDR is a numeric IPv4 address or [IPv6]; P is a probability from 0 to 1.\n",
          f);
}

__attribute__((format(printf, 1, 2))) _Noreturn static void usage_error(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fputs("impair: ", stderr);
    vfprintf(stderr, fmt, ap);
    fputc('\n', stderr);
    va_end(ap);
    usage(stderr);
    exit(2);
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* ---- randomness: splitmix64 seeds xoshiro256** ---------------------------- */

static uint64_t splitmix64(uint64_t *x)
{
    uint64_t z = (*x += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static uint64_t rotl(uint64_t x, int k)
{
    return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(uint64_t *s)
{
    uint64_t out = rotl(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return out;
}

/* true with probability p (no draw when p is 0, so unused impairments do
 * not change the sequence the others see) */
static bool chance(uint64_t *rng, double p)
{
    if (p <= 0)
        return false;
    return (double)(rng_next(rng) >> 11) * 0x1.0p-53 < p;
}

/* uniform in [0, n) (n > 0; the modulo bias is negligible for our n) */
static uint64_t below(uint64_t *rng, uint64_t n)
{
    return rng_next(rng) % n;
}

/* ---- arguments -------------------------------------------------------------- */

/* "A.B.C.D:PORT" or "[V6]:PORT", numeric only */
static int parse_addr(const char *arg, struct sockaddr_storage *ss, socklen_t *len)
{
    char host[ADDR_TEXT];
    const char *colon = strrchr(arg, ':');
    if (!colon || colon == arg)
        return -1;
    size_t hl = (size_t)(colon - arg);
    const char *h = arg;
    bool v6 = false;
    if (arg[0] == '[') {
        if (hl < 3 || arg[hl - 1] != ']')
            return -1;
        h++;
        hl -= 2;
        v6 = true;
    }
    if (hl >= sizeof host)
        return -1;
    memcpy(host, h, hl);
    host[hl] = 0;
    char *end;
    errno = 0;
    unsigned long port = strtoul(colon + 1, &end, 10);
    if (errno || !colon[1] || *end || colon[1] == '-' || colon[1] == '+' || port > 65535)
        return -1;
    memset(ss, 0, sizeof *ss);
    if (v6) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
            return -1;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        *len = sizeof *a;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
            return -1;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        *len = sizeof *a;
    }
    return 0;
}

static uint16_t addr_port(const struct sockaddr_storage *ss)
{
    if (ss->ss_family == AF_INET6)
        return ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
    return ntohs(((const struct sockaddr_in *)ss)->sin_port);
}

static void addr_text(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN] = "?";
    if (ss->ss_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)ss)->sin6_addr, host, sizeof host);
        snprintf(out, cap, "[%s]:%u", host, (unsigned)addr_port(ss));
    } else {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)ss)->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%u", host, (unsigned)addr_port(ss));
    }
}

static double parse_prob(const char *opt, const char *arg)
{
    char *end;
    errno = 0;
    double p = strtod(arg, &end);
    if (errno || end == arg || *end || !(p >= 0 && p <= 1))
        usage_error("%s '%s': give a probability from 0 to 1", opt, arg);
    return p;
}

static uint64_t parse_u64(const char *opt, const char *arg, uint64_t max)
{
    char *end;
    errno = 0;
    if (arg[0] < '0' || arg[0] > '9')
        usage_error("%s '%s': give a whole number from 0 to %llu", opt, arg,
                    (unsigned long long)max);
    unsigned long long v = strtoull(arg, &end, 10);
    if (errno || *end || v > max)
        usage_error("%s '%s': give a whole number from 0 to %llu", opt, arg,
                    (unsigned long long)max);
    return v;
}

static void parse_args(struct opts *o, int argc, char **argv)
{
    enum {
        O_LISTEN = 256,
        O_UPSTREAM,
        O_LOSS,
        O_CORRUPT,
        O_DUP,
        O_REORDER,
        O_REORDER_MS,
        O_DELAY_MS,
        O_JITTER_MS,
        O_DARK_PERIOD_MS,
        O_DARK_MS,
        O_REBIND_AT_MS,
        O_REBIND_AFTER_BYTES,
        O_SEED,
        O_STATS_FILE,
        O_PROGRESS_MS,
        O_HELP,
    };
    static const struct option longopts[] = {
        {"listen", required_argument, NULL, O_LISTEN},
        {"upstream", required_argument, NULL, O_UPSTREAM},
        {"loss", required_argument, NULL, O_LOSS},
        {"corrupt", required_argument, NULL, O_CORRUPT},
        {"dup", required_argument, NULL, O_DUP},
        {"reorder", required_argument, NULL, O_REORDER},
        {"reorder-ms", required_argument, NULL, O_REORDER_MS},
        {"delay-ms", required_argument, NULL, O_DELAY_MS},
        {"jitter-ms", required_argument, NULL, O_JITTER_MS},
        {"dark-period-ms", required_argument, NULL, O_DARK_PERIOD_MS},
        {"dark-ms", required_argument, NULL, O_DARK_MS},
        {"rebind-at-ms", required_argument, NULL, O_REBIND_AT_MS},
        {"rebind-after-bytes", required_argument, NULL, O_REBIND_AFTER_BYTES},
        {"seed", required_argument, NULL, O_SEED},
        {"stats-file", required_argument, NULL, O_STATS_FILE},
        {"progress-ms", required_argument, NULL, O_PROGRESS_MS},
        {"help", no_argument, NULL, O_HELP},
        {NULL, 0, NULL, 0},
    };
    bool have_listen = false, have_upstream = false;
    int c;
    memset(o, 0, sizeof *o);
    o->rebind_at_ms = o->rebind_after_bytes = NEVER_REBIND;
    o->seed = 1;
    opterr = 0;
    while ((c = getopt_long(argc, argv, ":", longopts, NULL)) != -1) {
        switch (c) {
        case O_LISTEN:
            if (parse_addr(optarg, &o->listen, &o->listen_len) != 0)
                usage_error("--listen '%s': give a numeric ADDR:PORT (e.g. 127.0.0.1:7000 "
                            "or [::1]:7000)",
                            optarg);
            have_listen = true;
            break;
        case O_UPSTREAM:
            if (parse_addr(optarg, &o->upstream, &o->upstream_len) != 0 ||
                addr_port(&o->upstream) == 0)
                usage_error("--upstream '%s': give a numeric ADDR:PORT with a port from 1 "
                            "to 65535",
                            optarg);
            have_upstream = true;
            break;
        case O_LOSS: o->loss = parse_prob("--loss", optarg); break;
        case O_CORRUPT: o->corrupt = parse_prob("--corrupt", optarg); break;
        case O_DUP: o->dup = parse_prob("--dup", optarg); break;
        case O_REORDER: o->reorder = parse_prob("--reorder", optarg); break;
        case O_REORDER_MS: o->reorder_ms = parse_u64("--reorder-ms", optarg, MS_MAX); break;
        case O_DELAY_MS: o->delay_ms = parse_u64("--delay-ms", optarg, MS_MAX); break;
        case O_JITTER_MS: o->jitter_ms = parse_u64("--jitter-ms", optarg, MS_MAX); break;
        case O_DARK_PERIOD_MS:
            o->dark_period_ms = parse_u64("--dark-period-ms", optarg, MS_MAX);
            break;
        case O_DARK_MS: o->dark_ms = parse_u64("--dark-ms", optarg, MS_MAX); break;
        case O_REBIND_AT_MS: o->rebind_at_ms = parse_u64("--rebind-at-ms", optarg, MS_MAX); break;
        case O_REBIND_AFTER_BYTES:
            o->rebind_after_bytes = parse_u64("--rebind-after-bytes", optarg, UINT64_MAX - 1);
            break;
        case O_SEED: o->seed = parse_u64("--seed", optarg, UINT64_MAX); break;
        case O_STATS_FILE: o->stats_file = optarg; break;
        case O_PROGRESS_MS: o->progress_ms = parse_u64("--progress-ms", optarg, MS_MAX); break;
        case O_HELP: usage(stdout); exit(0);
        case ':': usage_error("%s needs a value", argv[optind - 1]);
        default: usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc)
        usage_error("unexpected argument '%s'", argv[optind]);
    if (!have_listen || !have_upstream)
        usage_error("give both --listen and --upstream");
    if (o->reorder > 0 && o->reorder_ms == 0)
        usage_error("--reorder needs --reorder-ms N (how much longer to hold a datagram)");
    if (o->jitter_ms > o->delay_ms)
        usage_error("--jitter-ms %llu is more than --delay-ms %llu: a datagram cannot arrive "
                    "before it was sent",
                    (unsigned long long)o->jitter_ms, (unsigned long long)o->delay_ms);
    if ((o->dark_ms > 0) != (o->dark_period_ms > 0))
        usage_error("--dark-ms and --dark-period-ms go together");
    if (o->dark_ms > 0 && o->dark_ms >= o->dark_period_ms)
        usage_error("--dark-ms %llu must be shorter than --dark-period-ms %llu",
                    (unsigned long long)o->dark_ms, (unsigned long long)o->dark_period_ms);
}

/* ---- sockets ------------------------------------------------------------------ */

static void set_buffers(int fd)
{
    int v = SOCK_BUF;
    /* FORCE goes past the sysctl cap when we may; otherwise take what we get */
    if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &v, sizeof v) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &v, sizeof v);
    if (setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &v, sizeof v) != 0)
        (void)setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &v, sizeof v);
}

static int udp_socket(int family)
{
    int fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    int on = 1;
    if (fd < 0)
        return -1;
    set_buffers(fd);
    /* the kernel says how many datagrams it dropped with a full buffer, so
     * that the relay's own overload is told apart from the impairments */
    (void)setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &on, sizeof on);
    return fd;
}

/* A new socket towards the upstream, on a port the kernel picks. */
static int upstream_socket(const struct relay *r)
{
    int fd = udp_socket(r->o.upstream.ss_family);
    if (fd < 0)
        return -1;
    if (connect(fd, (const struct sockaddr *)&r->o.upstream, r->o.upstream_len) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void rebind(struct relay *r, struct client *cl, const char *why)
{
    int fd = upstream_socket(r); /* before closing the old one: a new port */
    if (fd < 0) {
        say("cannot open a new upstream socket for a rebinding: %s", strerror(errno));
        return;
    }
    close(cl->fd);
    cl->fd = fd;
    r->closed_socket_drops += cl->drops;
    cl->drops = 0;
    r->rebinds++;
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char from[ADDR_TEXT];
    addr_text(&cl->addr, from, sizeof from);
    if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
        say("rebinding client %s (%s): now from port %u, after %llu bytes up and %llu down", from,
            why, (unsigned)addr_port(&ss), (unsigned long long)r->c[UP].bytes_forwarded,
            (unsigned long long)r->c[DOWN].bytes_forwarded);
}

static bool same_addr(const struct sockaddr_storage *a, socklen_t alen,
                      const struct sockaddr_storage *b, socklen_t blen)
{
    return alen == blen && memcmp(a, b, alen) == 0;
}

/* The client for a source address, created on its first datagram. */
static int client_for(struct relay *r, const struct sockaddr_storage *from, socklen_t len)
{
    for (size_t i = 0; i < r->nclients; i++)
        if (same_addr(&r->clients[i].addr, r->clients[i].addr_len, from, len))
            return (int)i;
    if (r->nclients == MAX_CLIENTS)
        return -1;
    int fd = upstream_socket(r);
    if (fd < 0) {
        say("cannot open an upstream socket: %s", strerror(errno));
        return -1;
    }
    struct client *cl = &r->clients[r->nclients];
    memset(cl, 0, sizeof *cl);
    memcpy(&cl->addr, from, len);
    cl->addr_len = len;
    cl->fd = fd;
    cl->first_ns = now_ns();
    return (int)r->nclients++;
}

/* ---- the heap of held datagrams ----------------------------------------------- */

static bool earlier(const struct relay *r, uint32_t a, uint32_t b)
{
    const struct slot *x = &r->slots[a], *y = &r->slots[b];
    return x->due_ns < y->due_ns || (x->due_ns == y->due_ns && x->seq < y->seq);
}

static void heap_swap(struct relay *r, size_t i, size_t j)
{
    uint32_t t = r->heap[i];
    r->heap[i] = r->heap[j];
    r->heap[j] = t;
}

static void heap_push(struct relay *r, uint32_t s)
{
    size_t i = r->heap_len++;
    r->heap[i] = s;
    while (i > 0 && earlier(r, r->heap[i], r->heap[(i - 1) / 2])) {
        heap_swap(r, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
}

static uint32_t heap_pop(struct relay *r)
{
    uint32_t top = r->heap[0];
    r->heap[0] = r->heap[--r->heap_len];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        if (l < r->heap_len && earlier(r, r->heap[l], r->heap[m]))
            m = l;
        if (l + 1 < r->heap_len && earlier(r, r->heap[l + 1], r->heap[m]))
            m = l + 1;
        if (m == i)
            break;
        heap_swap(r, i, m);
        i = m;
    }
    return top;
}

/* ---- relaying ------------------------------------------------------------------ */

static void send_now(struct relay *r, enum dir d, int client, const uint8_t *p, size_t len)
{
    struct client *cl = &r->clients[client];
    ssize_t n;
    if (d == UP)
        n = send(cl->fd, p, len, 0);
    else
        n = sendto(r->listen_fd, p, len, 0, (const struct sockaddr *)&cl->addr, cl->addr_len);
    if (n < 0) { /* a full buffer or an ICMP error: lost, as on a network */
        r->c[d].send_dropped++;
        return;
    }
    r->c[d].forwarded++;
    r->c[d].bytes_forwarded += len;
    if (d == UP) {
        cl->bytes_up += len;
        if (!cl->rebound_bytes && cl->bytes_up >= r->o.rebind_after_bytes) {
            cl->rebound_bytes = true;
            rebind(r, cl, "bytes relayed");
        }
    }
}

static void hold(struct relay *r, enum dir d, int client, const uint8_t *p, size_t len,
                 uint64_t due_ns)
{
    if (len > SLOT_BYTES) {
        r->c[d].too_big++;
        return;
    }
    if (r->free_len == 0) {
        r->c[d].queue_dropped++;
        return;
    }
    uint32_t s = r->free_list[--r->free_len];
    struct slot *sl = &r->slots[s];
    sl->due_ns = due_ns;
    sl->seq = r->seq++;
    sl->client = client;
    sl->dir = d;
    sl->len = len;
    memcpy(sl->data, p, len);
    heap_push(r, s);
}

static bool dark(const struct relay *r, uint64_t now)
{
    if (r->o.dark_ms == 0)
        return false;
    uint64_t t = (now - r->start_ns) / NS_PER_MS;
    if (t < DARK_OFFSET)
        return false;
    return (t - DARK_OFFSET) % r->o.dark_period_ms < r->o.dark_ms;
}

/* One datagram in, in direction d: impair it, send it now or hold it. */
static void relay(struct relay *r, enum dir d, int client, uint8_t *p, size_t len)
{
    struct counters *c = &r->c[d];
    uint64_t *rng = r->rng[d];
    uint64_t now = now_ns();
    c->received++;
    c->bytes_received += len;
    if (dark(r, now)) {
        c->dark_dropped++;
        return;
    }
    if (chance(rng, r->o.loss)) {
        c->lost++;
        return;
    }
    if (chance(rng, r->o.corrupt) && len > 0) {
        uint64_t bit = below(rng, (uint64_t)len * 8);
        p[bit / 8] ^= (uint8_t)(1u << (bit % 8));
        c->corrupted++;
    }
    int copies = 1;
    if (chance(rng, r->o.dup)) {
        copies = 2;
        c->duplicated++;
    }
    uint64_t delay_ms = r->o.delay_ms;
    if (r->o.jitter_ms > 0) /* uniform in [delay - jitter, delay + jitter] */
        delay_ms = delay_ms - r->o.jitter_ms + below(rng, 2 * r->o.jitter_ms + 1);
    if (chance(rng, r->o.reorder)) {
        delay_ms += r->o.reorder_ms;
        c->reordered++;
    }
    for (int i = 0; i < copies; i++) {
        if (delay_ms == 0) /* overtakes held ones (reordered) */
            send_now(r, d, client, p, len);
        else
            hold(r, d, client, p, len, now + delay_ms * NS_PER_MS);
    }
}

/* Send every held datagram that is due. */
static void release(struct relay *r)
{
    uint64_t now = now_ns();
    while (r->heap_len > 0 && r->slots[r->heap[0]].due_ns <= now) {
        uint32_t s = heap_pop(r);
        struct slot *sl = &r->slots[s];
        send_now(r, sl->dir, sl->client, sl->data, sl->len);
        r->free_list[r->free_len++] = s;
    }
}

/* One datagram from fd into r->buf (and its source into *from, if asked);
 * *drops follows the kernel's count of datagrams the socket dropped. */
static ssize_t recv_one(struct relay *r, int fd, struct sockaddr_storage *from, socklen_t *from_len,
                        uint32_t *drops)
{
    union {
        struct cmsghdr align;
        uint8_t buf[CMSG_SPACE(sizeof(uint32_t))];
    } ctl;
    struct iovec iov = {.iov_base = r->buf, .iov_len = sizeof r->buf};
    struct msghdr m = {
        .msg_name = from,
        .msg_namelen = from ? sizeof *from : 0,
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = ctl.buf,
        .msg_controllen = sizeof ctl.buf,
    };
    ssize_t n = recvmsg(fd, &m, 0);
    if (n < 0)
        return n;
    if (from_len)
        *from_len = m.msg_namelen;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&m); c; c = CMSG_NXTHDR(&m, c))
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL &&
            c->cmsg_len >= CMSG_LEN(sizeof(uint32_t)))
            memcpy(drops, CMSG_DATA(c), sizeof *drops);
    return n;
}

static void read_listen(struct relay *r)
{
    for (int i = 0; i < RECV_BURST; i++) {
        struct sockaddr_storage from;
        socklen_t fl = 0;
        ssize_t n = recv_one(r, r->listen_fd, &from, &fl, &r->listen_drops);
        if (n < 0)
            return; /* EAGAIN, or an ICMP error for an earlier send */
        int client = client_for(r, &from, fl);
        if (client < 0) {
            r->no_client_slot++;
            continue;
        }
        relay(r, UP, client, r->buf, (size_t)n);
    }
}

static void read_upstream(struct relay *r, int client)
{
    for (int i = 0; i < RECV_BURST; i++) {
        struct client *cl = &r->clients[client];
        ssize_t n = recv_one(r, cl->fd, NULL, NULL, &cl->drops);
        if (n < 0)
            return;
        relay(r, DOWN, client, r->buf, (size_t)n);
    }
}

static void rebind_due(struct relay *r, uint64_t now)
{
    if (r->o.rebind_at_ms == NEVER_REBIND)
        return;
    for (size_t i = 0; i < r->nclients; i++) {
        struct client *cl = &r->clients[i];
        if (!cl->rebound_time && now - cl->first_ns >= r->o.rebind_at_ms * NS_PER_MS) {
            cl->rebound_time = true;
            rebind(r, cl, "time");
        }
    }
}

/* Milliseconds until the next held datagram or rebinding is due (-1: none). */
static int next_timeout(const struct relay *r, uint64_t now)
{
    uint64_t due = NO_DEADLINE;
    if (r->heap_len > 0)
        due = r->slots[r->heap[0]].due_ns;
    if (r->o.rebind_at_ms != NEVER_REBIND)
        for (size_t i = 0; i < r->nclients; i++)
            if (!r->clients[i].rebound_time) {
                uint64_t t = r->clients[i].first_ns + r->o.rebind_at_ms * NS_PER_MS;
                if (t < due)
                    due = t;
            }
    if (r->o.progress_ms > 0 && r->progress_ns < due)
        due = r->progress_ns;
    if (due == NO_DEADLINE)
        return -1;
    if (due <= now)
        return 0;
    uint64_t ms = (due - now + NS_PER_MS - 1) / NS_PER_MS; /* round up: never early */
    return ms > 60000 ? 60000 : (int)ms;
}

/* ---- counters ------------------------------------------------------------------- */

static void print_stats(const struct relay *r, FILE *f)
{
    fprintf(f, "seed=%llu\n", (unsigned long long)r->o.seed);
    fprintf(f, "clients=%zu\n", r->nclients);
    fprintf(f, "rebinds=%llu\n", (unsigned long long)r->rebinds);
    fprintf(f, "no_client_slot=%llu\n", (unsigned long long)r->no_client_slot);
    fprintf(f, "held_at_exit=%zu\n", r->heap_len);
    uint64_t down_drops = r->closed_socket_drops;
    for (size_t i = 0; i < r->nclients; i++)
        down_drops += r->clients[i].drops;
    for (int d = 0; d < DIRS; d++) {
        const struct counters *c = &r->c[d];
        const char *n = dir_name[d];
        fprintf(f, "%s.received=%llu\n", n, (unsigned long long)c->received);
        fprintf(f, "%s.forwarded=%llu\n", n, (unsigned long long)c->forwarded);
        fprintf(f, "%s.lost=%llu\n", n, (unsigned long long)c->lost);
        fprintf(f, "%s.corrupted=%llu\n", n, (unsigned long long)c->corrupted);
        fprintf(f, "%s.duplicated=%llu\n", n, (unsigned long long)c->duplicated);
        fprintf(f, "%s.reordered=%llu\n", n, (unsigned long long)c->reordered);
        fprintf(f, "%s.dark_dropped=%llu\n", n, (unsigned long long)c->dark_dropped);
        fprintf(f, "%s.queue_dropped=%llu\n", n, (unsigned long long)c->queue_dropped);
        fprintf(f, "%s.too_big=%llu\n", n, (unsigned long long)c->too_big);
        fprintf(f, "%s.send_dropped=%llu\n", n, (unsigned long long)c->send_dropped);
        fprintf(f, "%s.bytes_received=%llu\n", n, (unsigned long long)c->bytes_received);
        fprintf(f, "%s.bytes_forwarded=%llu\n", n, (unsigned long long)c->bytes_forwarded);
        fprintf(f, "%s.rebinds=%llu\n", n, (unsigned long long)(d == UP ? r->rebinds : 0));
        fprintf(f, "%s.kernel_dropped=%llu\n", n,
                (unsigned long long)(d == UP ? r->listen_drops : down_drops));
    }
}

/* Written to a temporary name and renamed, so a reader never sees half. */
static int write_stats(const struct relay *r)
{
    char tmp[4096];
    if (!r->o.stats_file)
        return 0;
    if (snprintf(tmp, sizeof tmp, "%s.tmp", r->o.stats_file) >= (int)sizeof tmp) {
        say("--stats-file: the name is too long");
        return -1;
    }
    FILE *f = fopen(tmp, "w");
    if (!f) {
        say("cannot write %s: %s", tmp, strerror(errno));
        return -1;
    }
    print_stats(r, f);
    if (fclose(f) != 0 || rename(tmp, r->o.stats_file) != 0) {
        say("cannot write %s: %s", r->o.stats_file, strerror(errno));
        return -1;
    }
    return 0;
}

/* Every --progress-ms: one line of running totals on stderr, to see when
 * a transfer stalls. */
static void progress(struct relay *r, uint64_t now)
{
    if (r->o.progress_ms == 0 || now < r->progress_ns)
        return;
    r->progress_ns = now + r->o.progress_ms * NS_PER_MS;
    const struct counters *u = &r->c[UP], *d = &r->c[DOWN];
    say("t=%.3f up %llu/%llu (%llu bytes) down %llu/%llu (%llu bytes) received/forwarded%s",
        (double)(now - r->start_ns) / 1e9, (unsigned long long)u->received,
        (unsigned long long)u->forwarded, (unsigned long long)u->bytes_forwarded,
        (unsigned long long)d->received, (unsigned long long)d->forwarded,
        (unsigned long long)d->bytes_forwarded, dark(r, now) ? " (dark)" : "");
}

/* ---- main ------------------------------------------------------------------------- */

static int setup(struct relay *r)
{
    r->slots = calloc(SLOTS, sizeof *r->slots);
    r->heap = calloc(SLOTS, sizeof *r->heap);
    r->free_list = calloc(SLOTS, sizeof *r->free_list);
    if (!r->slots || !r->heap || !r->free_list) {
        say("out of memory");
        return -1;
    }
    for (uint32_t i = 0; i < SLOTS; i++)
        r->free_list[i] = SLOTS - 1 - i;
    r->free_len = SLOTS;
    uint64_t x = r->o.seed;
    for (int d = 0; d < DIRS; d++)
        for (int i = 0; i < 4; i++)
            r->rng[d][i] = splitmix64(&x);

    r->listen_fd = udp_socket(r->o.listen.ss_family);
    if (r->listen_fd < 0 ||
        bind(r->listen_fd, (const struct sockaddr *)&r->o.listen, r->o.listen_len) != 0) {
        char a[ADDR_TEXT];
        addr_text(&r->o.listen, a, sizeof a);
        say("cannot listen on %s: %s", a, strerror(errno));
        return -1;
    }
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char la[ADDR_TEXT] = "?", ua[ADDR_TEXT];
    if (getsockname(r->listen_fd, (struct sockaddr *)&ss, &sl) == 0)
        addr_text(&ss, la, sizeof la);
    addr_text(&r->o.upstream, ua, sizeof ua);
    say("listening on %s, upstream %s, seed %llu", la, ua, (unsigned long long)r->o.seed);
    r->start_ns = now_ns();
    return 0;
}

static int loop(struct relay *r)
{
    struct pollfd pfd[1 + MAX_CLIENTS];
    sigset_t none;
    sigemptyset(&none);
    while (!got_stop) {
        if (got_dump) {
            got_dump = 0;
            (void)write_stats(r);
        }
        uint64_t now = now_ns();
        progress(r, now);
        rebind_due(r, now);
        release(r);
        int ms = next_timeout(r, now_ns());
        struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
        size_t n = 0;
        pfd[n++] = (struct pollfd){.fd = r->listen_fd, .events = POLLIN};
        for (size_t i = 0; i < r->nclients; i++)
            pfd[n++] = (struct pollfd){.fd = r->clients[i].fd, .events = POLLIN};
        /* signals are blocked except inside ppoll: none is missed */
        int rc = ppoll(pfd, n, ms < 0 ? NULL : &ts, &none);
        if (rc < 0) {
            if (errno == EINTR)
                continue;
            say("poll: %s", strerror(errno));
            return 1;
        }
        if (pfd[0].revents)
            read_listen(r);
        /* pfd[i + 1] is the socket client i had when we polled; a rebinding
         * since then replaced it, and the new one is read next time */
        for (size_t i = 0; i + 1 < n; i++)
            if (pfd[i + 1].revents && pfd[i + 1].fd == r->clients[i].fd)
                read_upstream(r, (int)i);
    }
    return 0;
}

int main(int argc, char **argv)
{
    static struct relay r; /* large: not on the stack */
    parse_args(&r.o, argc, argv);

    sigset_t block;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGUSR1);
    sigprocmask(SIG_BLOCK, &block, NULL);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sa.sa_handler = on_dump;
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

    if (setup(&r) != 0)
        return 1;
    int rc = loop(&r);
    print_stats(&r, stderr);
    if (write_stats(&r) != 0 && rc == 0)
        rc = 1;
    return rc;
}
