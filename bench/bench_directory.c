/*
 * bench_directory.c - the directory service over loopback, each figure a
 * ratio against a baseline measured in the same run:
 *
 *   1. announces/s: HTTP PUTs of fresh record sets (distinct keys) through
 *      pl_dir_serve (libmicrohttpd, verification, a synced SQLite commit
 *      per announce), against the single-core ceiling of what an announce
 *      must at least do: pl_record_from_json + pl_record_verify;
 *   2. discovers/s: HTTP GETs of those sets, against the same ceiling
 *      (what one core of a client can verify);
 *   3. DNS TXT answers/s of our responder against Knot DNS (knotd) serving
 *      the same TXT records from a zone file, both on one UDP thread, with
 *      a C load generator keeping DNS_WINDOW queries in flight.
 *
 * HTTP clients are CLIENTS threads with one keep-alive connection each;
 * client and server share the machine's cores, as loopback benches do.
 * PL_BENCH_SECONDS (default 2) per figure; the database lives in $TMPDIR
 * (default /tmp), so announces/s includes that file system's fsync.
 * Not a test: it prints figures and exits 0 (knotd missing: that row says
 * so).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "directory/directory.h"
#include "peerlink.h"

#define ZONE       "dir.bench"
#define N_SETS     30000 /* distinct keys; more than the announces a run makes */
#define N_DNS      1000  /* names queried over DNS */
#define CLIENTS    8
#define DNS_WINDOW 64
#define PER_CLIENT ((N_SETS - N_DNS) / CLIENTS) /* sets each PUT thread may announce */

static double seconds = 2.0;

struct set {
    char b64[PL_FP_B64_LEN + 1];
    char dns[PL_DNS_NAME_MAX];
    char *json;
    size_t json_len;
    uint8_t txt[PL_RECORD_TXT_MAX];
    size_t txt_len;
};

static struct set *sets;
static unsigned short http_port, dns_port;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void die(const char *what)
{
    fprintf(stderr, "bench_directory: %s\n", what);
    exit(1);
}

/* ---- the sets --------------------------------------------------------- */

static void make_sets(uint64_t now)
{
    char json[PL_RECORD_JSON_MAX + 1];
    sets = calloc(N_SETS, sizeof *sets);
    if (!sets)
        die("out of memory");
    for (int i = 0; i < N_SETS; i++) {
        pl_identity *id = NULL;
        pl_fingerprint fp;
        pl_record rs;
        char addr[64];
        int n, t;
        snprintf(addr, sizeof addr, "udp://198.51.100.%d:%d", i % 250 + 1, 7000 + i % 1000);
        pl_record_init(&rs);
        if (pl_identity_generate(&id) != PL_OK || pl_record_add_address(&rs, addr, NULL) != PL_OK ||
            pl_record_sign(&rs, id, now, 3600) != PL_OK)
            die("cannot sign");
        pl_identity_fingerprint(id, &fp);
        pl_identity_free(id);
        if (pl_fingerprint_set_authority(&fp, ZONE, NULL) != PL_OK ||
            pl_fingerprint_dns_name(&fp, sets[i].dns, sizeof sets[i].dns) < 0 ||
            pl_b64url_encode(fp.digest, sizeof fp.digest, sets[i].b64, sizeof sets[i].b64) < 0)
            die("cannot name");
        n = pl_record_to_json(&rs, json, sizeof json);
        t = pl_record_to_txt(&rs, sets[i].txt, sizeof sets[i].txt);
        if (n < 0 || t < 0)
            die("cannot encode");
        sets[i].json = strdup(json);
        sets[i].json_len = (size_t)n;
        sets[i].txt_len = (size_t)t;
    }
}

/* ---- baselines on one core ---------------------------------------------- */

/* parse 0: pl_ed25519_verify of the canonical bytes (the Ed25519 ceiling);
 * parse 1: what an announce must do at least, JSON parse + record verify. */
static double verify_rate(int parse)
{
    static uint8_t canon[64][PL_RECORD_CANONICAL_MAX];
    static int canon_len[64];
    static pl_record rec[64];
    pl_record rs;
    pl_fingerprint fp;
    uint64_t now = (uint64_t)time(NULL);
    long n = 0;
    double start, t;
    memset(&fp, 0, sizeof fp);
    for (int i = 0; i < 64; i++) {
        if (pl_record_from_json(&rec[i], sets[i].json, sets[i].json_len, NULL) != PL_OK)
            die("parse failed");
        canon_len[i] = pl_record_canonical(&rec[i], canon[i], sizeof canon[i]);
        if (canon_len[i] < 0)
            die("canonical failed");
    }
    start = now_s();
    do {
        for (int i = 0; i < 64; i++) {
            struct set *s = &sets[(n + i) % N_SETS];
            if (!parse) {
                if (pl_ed25519_verify(rec[i].signature, canon[i], (size_t)canon_len[i],
                                      rec[i].public_key) != PL_OK)
                    die("verify failed");
                continue;
            }
            if (pl_b64url_decode(s->b64, PL_FP_B64_LEN, fp.digest, sizeof fp.digest) < 0 ||
                pl_record_from_json(&rs, s->json, s->json_len, NULL) != PL_OK ||
                pl_record_verify(&rs, &fp, now, 300) != PL_OK)
                die("parse or verify failed");
        }
        n += 64;
        t = now_s() - start;
    } while (t < seconds);
    return (double)n / t;
}

/* ---- the server in a thread ----------------------------------------------- */

static int stop_pipe[2];

static void on_listening(void *user, const char *service, const char *addr)
{
    const char *colon = strrchr(addr, ':');
    (void)user;
    if (strcmp(service, "http") == 0)
        http_port = (unsigned short)strtoul(colon + 1, NULL, 10);
    else if (strcmp(service, "dns-udp") == 0)
        dns_port = (unsigned short)strtoul(colon + 1, NULL, 10);
}

static void *serve(void *arg)
{
    pl_dir_opts *o = arg;
    const char *why = NULL;
    if (pl_dir_serve(o, on_listening, NULL, &why) != PL_OK) {
        fprintf(stderr, "bench_directory: serve: %s\n", why ? why : "?");
        exit(1);
    }
    return NULL;
}

/* ---- HTTP load ------------------------------------------------------------- */

static int connect_port(unsigned short port, int type)
{
    struct sockaddr_in a;
    int fd = socket(AF_INET, type, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || connect(fd, (struct sockaddr *)&a, sizeof a) != 0)
        die("cannot connect");
    return fd;
}

/* One request on a keep-alive connection; returns the status. */
static int http_request(int fd, const char *method, const struct set *s, int body)
{
    char req[PL_RECORD_JSON_MAX + 512], resp[PL_RECORD_JSON_MAX + 1024];
    size_t len = 0, have = 0;
    int n = snprintf(req, sizeof req,
                     "%s /.well-known/ni/sha3-256/%s HTTP/1.1\r\nHost: " ZONE
                     "\r\nContent-Length: %zu\r\n\r\n",
                     method, s->b64, body ? s->json_len : 0);
    len = (size_t)n;
    if (body) {
        memcpy(req + len, s->json, s->json_len);
        len += s->json_len;
    }
    if (write(fd, req, len) != (ssize_t)len)
        die("short write");
    for (;;) {
        ssize_t r = read(fd, resp + have, sizeof resp - 1 - have);
        char *end, *cl;
        if (r <= 0)
            die("connection closed");
        have += (size_t)r;
        resp[have] = 0;
        end = strstr(resp, "\r\n\r\n");
        if (!end)
            continue;
        cl = strcasestr(resp, "Content-Length: ");
        if (!cl || cl > end)
            die("no Content-Length");
        if (have >= (size_t)(end + 4 - resp) + strtoul(cl + 16, NULL, 10))
            return (int)strtol(resp + 9, NULL, 10);
    }
}

struct http_load {
    const char *method;
    int body;
    int idx;   /* thread number */
    int first; /* index of this thread's first set */
    long done, failed;
};

static long announced[CLIENTS]; /* sets each PUT thread got stored */

static volatile int load_running;

static void *http_client(void *arg)
{
    struct http_load *l = arg;
    int fd = connect_port(http_port, SOCK_STREAM);
    long i = 0, t = l->idx;
    while (load_running) {
        /* GET cycles over the sets its PUT thread stored */
        long k = l->body ? i : i % (announced[t] ? announced[t] : 1);
        const struct set *s = &sets[(l->first + k) % N_SETS];
        int st = http_request(fd, l->method, s, l->body);
        if (st == 200 || st == 201)
            l->done++;
        else
            l->failed++;
        i++;
        if (l->body && i >= PER_CLIENT)
            break; /* every set announced once */
    }
    if (l->body)
        announced[t] = l->done;
    close(fd);
    return NULL;
}

static double http_rate(const char *method, int body, long *failed)
{
    pthread_t th[CLIENTS];
    struct http_load l[CLIENTS];
    double start, t;
    long total = 0;
    *failed = 0;
    load_running = 1;
    start = now_s();
    for (int i = 0; i < CLIENTS; i++) {
        l[i] = (struct http_load){method, body, i, N_DNS + i * PER_CLIENT, 0, 0};
        pthread_create(&th[i], NULL, http_client, &l[i]);
    }
    usleep((useconds_t)(seconds * 1e6));
    load_running = 0;
    for (int i = 0; i < CLIENTS; i++) {
        pthread_join(th[i], NULL);
        total += l[i].done;
        *failed += l[i].failed;
    }
    t = now_s() - start;
    return (double)total / t;
}

/* ---- DNS load --------------------------------------------------------------- */

static size_t dns_query(uint8_t *q, uint16_t id, const char *name)
{
    size_t off = 12;
    const char *p = name;
    memset(q, 0, 12);
    q[0] = (uint8_t)(id >> 8);
    q[1] = (uint8_t)id;
    q[5] = 1; /* QDCOUNT */
    while (*p) {
        const char *dot = strchr(p, '.');
        size_t l = dot ? (size_t)(dot - p) : strlen(p);
        q[off++] = (uint8_t)l;
        memcpy(q + off, p, l);
        off += l;
        p += l + (dot ? 1 : 0);
    }
    q[off++] = 0;
    q[off++] = 0;
    q[off++] = 16; /* TXT */
    q[off++] = 0;
    q[off++] = 1; /* IN */
    return off;
}

/* Answers per second from the server on port: DNS_WINDOW queries kept in
 * flight; only NOERROR answers with one record count. */
static double dns_rate(unsigned short port, long *bad)
{
    int fd = connect_port(port, SOCK_DGRAM);
    uint8_t q[512], r[4096];
    long answered = 0, sent = 0;
    int inflight = 0;
    double start = now_s(), last = start, t = 0;
    *bad = 0;
    fcntl(fd, F_SETFL, O_NONBLOCK);
    while (t < seconds) {
        struct pollfd p = {fd, POLLIN, 0};
        while (inflight < DNS_WINDOW) {
            size_t n = dns_query(q, (uint16_t)sent, sets[sent % N_DNS].dns);
            if (send(fd, q, n, 0) != (ssize_t)n)
                break;
            sent++;
            inflight++;
        }
        if (poll(&p, 1, 50) > 0) {
            for (;;) {
                ssize_t n = recv(fd, r, sizeof r, 0);
                if (n < 0)
                    break;
                inflight--;
                if (n >= 12 && (r[3] & 0xf) == 0 && r[6] == 0 && r[7] == 1)
                    answered++;
                else
                    (*bad)++;
                last = now_s();
            }
        }
        t = now_s() - start;
        if (now_s() - last > 0.2) {
            inflight = 0; /* lost datagrams: refill the window */
            last = now_s();
        }
    }
    close(fd);
    return (double)answered / t;
}

/* ---- Knot DNS ------------------------------------------------------------------ */

static void txt_presentation(FILE *f, const uint8_t *rd, size_t len)
{
    size_t off = 0;
    while (off < len) {
        size_t n = rd[off++];
        fputc('"', f);
        for (size_t i = 0; i < n; i++) {
            if (rd[off + i] == '"' || rd[off + i] == '\\')
                fputc('\\', f);
            fputc(rd[off + i], f);
        }
        fputs("\" ", f);
        off += n;
    }
}

static unsigned short free_udp_port(void)
{
    struct sockaddr_in a;
    socklen_t l = sizeof a;
    int fd = socket(AF_INET, SOCK_DGRAM, 0);
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &l) != 0)
        die("no free port");
    close(fd);
    return ntohs(a.sin_port);
}

static pid_t start_knot(const char *dir, unsigned short *port)
{
    char path[600], conf[600];
    FILE *f;
    pid_t pid;
    snprintf(path, sizeof path, "%s/" ZONE ".zone", dir);
    f = fopen(path, "w");
    if (!f)
        die("cannot write the zone file");
    fprintf(f, "$ORIGIN " ZONE ".\n$TTL 300\n@ SOA ns.example.net. hostmaster 1 3600 600 "
               "604800 60\n@ NS ns.example.net.\n");
    for (int i = 0; i < N_DNS; i++) {
        fprintf(f, "%s. 300 TXT ", sets[i].dns);
        txt_presentation(f, sets[i].txt, sets[i].txt_len);
        fputc('\n', f);
    }
    fclose(f);
    *port = free_udp_port();
    snprintf(conf, sizeof conf, "%s/knot.conf", dir);
    f = fopen(conf, "w");
    if (!f)
        die("cannot write knot.conf");
    fprintf(f,
            "server:\n  rundir: %s\n  listen: 127.0.0.1@%u\n  udp-workers: 1\n"
            "  tcp-workers: 1\n  background-workers: 1\n"
            "database:\n  storage: %s\n"
            "log:\n  - target: stderr\n    any: error\n"
            "zone:\n  - domain: " ZONE "\n    storage: %s\n    file: " ZONE ".zone\n",
            dir, *port, dir, dir);
    fclose(f);
    pid = fork();
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        dup2(null, STDOUT_FILENO);
        execlp("knotd", "knotd", "-c", conf, (char *)NULL);
        _exit(127);
    }
    /* Wait until it answers one of the names (at most 10 s). */
    for (int i = 0; i < 200; i++) {
        int fd = connect_port(*port, SOCK_DGRAM), st;
        uint8_t q[512], r[4096];
        size_t n = dns_query(q, 1, sets[0].dns);
        struct pollfd p = {fd, POLLIN, 0};
        if (waitpid(pid, &st, WNOHANG) == pid) {
            close(fd);
            return -1;
        }
        if (send(fd, q, n, 0) == (ssize_t)n && poll(&p, 1, 50) > 0) {
            ssize_t got = recv(fd, r, sizeof r, 0);
            if (got >= 12 && r[7] == 1) {
                close(fd);
                return pid;
            }
            if (got >= 12 && i == 199)
                fprintf(stderr, "bench_directory: knotd answers rcode %d, %d answers\n", r[3] & 0xf,
                        r[7]);
        }
        usleep(20000);
        close(fd);
    }
    fprintf(stderr, "bench_directory: knotd did not answer on port %u\n", *port);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    return -1;
}

int main(void)
{
    const char *env = getenv("PL_BENCH_SECONDS");
    const char *tmpdir = getenv("TMPDIR");
    char dir[512], db[600];
    pl_dir_opts o;
    pthread_t srv;
    double ceiling, ed, ann, disc, ours, knot = 0;
    long failed_ann, failed_disc, bad_ours, bad_knot = 0;
    unsigned short knot_port;
    pid_t kp;
    uint64_t now = (uint64_t)time(NULL);

    if (env && atof(env) > 0)
        seconds = atof(env);
    if (pl_init() != PL_OK)
        die("pl_init");
    signal(SIGPIPE, SIG_IGN);
    snprintf(dir, sizeof dir, "%s/pl-bench-dir.XXXXXX", tmpdir ? tmpdir : "/tmp");
    if (!mkdtemp(dir))
        die("mkdtemp");
    snprintf(db, sizeof db, "%s/dir.db", dir);
    make_sets(now);

    ed = verify_rate(0);
    ceiling = verify_rate(1);

    /* The sets DNS asks for are stored before the server starts (through
     * the store itself: the HTTP path is measured below). */
    {
        pl_dir_store *st = NULL;
        if (pl_dir_store_open(&st, db, NULL) != PL_OK)
            die("cannot open the database");
        for (int i = 0; i < N_DNS; i++) {
            uint8_t digest[PL_FP_DIGEST_LEN];
            if (pl_b64url_decode(sets[i].b64, PL_FP_B64_LEN, digest, sizeof digest) < 0 ||
                pl_dir_store_put(st, digest, sets[i].json, sets[i].json_len, now, 300, NULL,
                                 NULL) != PL_OK)
                die("cannot store a set");
        }
        pl_dir_store_close(st);
    }
    if (pipe(stop_pipe) != 0)
        die("pipe");
    memset(&o, 0, sizeof o);
    o.zone = ZONE;
    o.db = db;
    o.http = "127.0.0.1:0";
    o.dns = "127.0.0.1:0";
    o.stop_fd = stop_pipe[0];
    pthread_create(&srv, NULL, serve, &o);
    for (int i = 0; i < 500 && (!http_port || !dns_port); i++)
        usleep(10000);
    if (!http_port || !dns_port)
        die("the directory did not start");

    ann = http_rate("PUT", 1, &failed_ann);
    disc = http_rate("GET", 0, &failed_disc);
    ours = dns_rate(dns_port, &bad_ours);

    kp = start_knot(dir, &knot_port);
    if (kp > 0) {
        knot = dns_rate(knot_port, &bad_knot);
        kill(kp, SIGTERM);
        waitpid(kp, NULL, 0);
    }
    if (write(stop_pipe[1], "x", 1) != 1)
        die("cannot stop the directory");
    pthread_join(srv, NULL);

    printf("Directory over loopback, %d HTTP client threads (keep-alive), %.0f s per figure;\n"
           "database in %s\n",
           CLIENTS, seconds, dir);
    printf("                                                  per second   ratio\n");
    printf("  baseline: pl_ed25519_verify, 1 core               %9.0f   1.00\n", ed);
    printf("  JSON parse + pl_record_verify, 1 core             %9.0f   %.2f\n", ceiling,
           ceiling / ed);
    printf("  HTTP PUT announces (verify + synced commit)       %9.0f   %.2f%s\n", ann, ann / ed,
           failed_ann ? "  (some failed!)" : "");
    printf("  HTTP GET discovers                                %9.0f   %.2f%s\n", disc, disc / ed,
           failed_disc ? "  (some failed!)" : "");
    printf("DNS TXT answers over UDP, %d queries in flight, %d names, one UDP thread each\n",
           DNS_WINDOW, N_DNS);
    if (kp > 0) {
        printf("  baseline: Knot DNS (knotd, udp-workers 1)         %9.0f   1.00\n", knot);
        printf("  peerlink directory serve                          %9.0f   %.2f\n", ours,
               ours / knot);
    } else {
        printf("  peerlink directory serve                          %9.0f   (knotd not "
               "available: no ratio)\n",
               ours);
    }
    if (bad_ours || bad_knot)
        printf("  unexpected answers: ours %ld, knot %ld\n", bad_ours, bad_knot);
    {
        char cmd[700];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
        if (system(cmd) != 0)
            fprintf(stderr, "bench_directory: cannot remove %s\n", dir);
    }
    return 0;
}
