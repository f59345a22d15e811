/* bench_sse.c - an SSE load client: thousands of EventSource-like connections on one epoll loop,
 * plus paced HTTP publishers, reporting loss and publish-to-receive latency.
 *
 * It speaks just enough HTTP/1.1 to be fair to any server: a GET with Accept: text/event-stream
 * (optionally Last-Event-ID), chunked or raw response bodies, and SSE lines (`data:` carries the
 * publisher's timestamp as "t":<microseconds>, found wherever it sits in the JSON). Publishers
 * POST one event per request on keep-alive connections, so flovyn-gateway (POST /v1/events) and
 * nchan (POST /pub) get the same work. Latency is recorded in a 0.1 ms histogram, so p50/p99 cost
 * no memory per event; events of the first second after all clients connected are not timed
 * (warm-up: the first writes on thousands of fresh sockets, on both sides).
 *
 *   bench_sse --port P --sub-path PATH --conns N [--rate R --seconds S --pub-path PATH
 *             --pub-format flovyn|raw] [--header "K: V"]... [--last-event-id ID --expect N]
 *             [--expect-timeout S] [--idle-seconds S [--settle-seconds S]]
 * Prints one line of `key=value` figures for the driver script (tests/bench/run.sh).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_HEADERS 8
#define HIST_BUCKETS 200000 /* 0.1 ms buckets: 20 s */

typedef struct opts {
    const char *host;
    int port;
    const char *sub_path;
    const char *pub_path;
    const char *pub_format; /* flovyn | raw */
    const char *headers[MAX_HEADERS];
    int nheaders;
    const char *last_event_id;
    int conns;
    double rate; /* events per second, total */
    double seconds;
    int publishers;
    long expect;           /* resume storm: events each connection must receive */
    double expect_timeout; /* give up waiting for `expect` after this long (0 -> 120 s) */
    double idle_seconds;
    double settle_seconds; /* after every connection is ready, read this long before measuring */
    double connect_rate;   /* new connections per second (0 = as fast as possible) */
    long count;            /* stop publishing after this many events (0 = by time) */
} opts;

static opts O = {.host = "127.0.0.1", .pub_format = "flovyn", .publishers = 2};

static int64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- latency histogram ---------------------------------------------------------------------- */
static uint64_t hist[HIST_BUCKETS];
static uint64_t hist_n, hist_over;
static int64_t measure_from_us =
    INT64_MAX; /* monotonic; the first second after connect is warm-up */

static void hist_add(int64_t us)
{
    if (mono_us() < measure_from_us)
        return;
    if (us < 0)
        us = 0;
    int64_t b = us / 100;
    if (b >= HIST_BUCKETS) {
        hist_over++;
        b = HIST_BUCKETS - 1;
    }
    hist[b]++;
    hist_n++;
}

static double hist_pct(double p)
{
    if (!hist_n)
        return 0;
    uint64_t want = (uint64_t)(p * (double)hist_n), acc = 0;
    for (int i = 0; i < HIST_BUCKETS; i++) {
        acc += hist[i];
        if (acc > want)
            return i / 10.0;
    }
    return HIST_BUCKETS / 10.0;
}

/* ---- subscriber connections ----------------------------------------------------------------- */
enum { ST_CONNECTING, ST_HEADERS, ST_BODY, ST_CLOSED };

typedef struct conn {
    int fd;
    int state;
    bool chunked;
    long chunk_left; /* -1: expecting a chunk-size line */
    char line[8192];
    size_t line_len;
    char hdr[4096];
    size_t hdr_len;
    char szbuf[32]; /* a chunk-size line may span reads */
    size_t szlen;
    long events;
    char last_id[96];
    int64_t done_us; /* when `expect` events arrived */
} conn;

static conn *conns;
static long total_events, closed_conns, errors_http, done_conns;

static int dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)O.port)};
    inet_pton(AF_INET, O.host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0 && errno != EINPROGRESS) {
        close(fd);
        return -1;
    }
    return fd;
}

static void send_request(conn *c)
{
    char req[4096];
    int n =
        snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: %s:%d\r\nAccept: text/event-stream\r\n",
                 O.sub_path, O.host, O.port);
    for (int i = 0; i < O.nheaders; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "%s\r\n", O.headers[i]);
    if (O.last_event_id)
        n += snprintf(req + n, sizeof req - (size_t)n, "Last-Event-ID: %s\r\n", O.last_event_id);
    n += snprintf(req + n, sizeof req - (size_t)n, "\r\n");
    if (write(c->fd, req, (size_t)n) != n)
        c->state = ST_CLOSED;
}

/* one SSE line (without the newline) */
static void on_line(conn *c, const char *l, size_t n)
{
    if (n >= 3 && !memcmp(l, "id:", 3)) {
        size_t off = (n > 3 && l[3] == ' ') ? 4 : 3;
        size_t len = n - off < sizeof c->last_id - 1 ? n - off : sizeof c->last_id - 1;
        memcpy(c->last_id, l + off, len);
        c->last_id[len] = '\0';
        return;
    }
    if (n >= 5 && !memcmp(l, "data:", 5)) {
        const char *t = memmem(l, n, "\"t\":", 4);
        if (t) {
            int64_t sent = strtoll(t + 4, NULL, 10);
            hist_add(now_us() - sent);
        }
        c->events++;
        total_events++;
        if (O.expect && c->events == O.expect) {
            c->done_us = mono_us();
            done_conns++;
        }
    }
}

static void on_body(conn *c, const char *p, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch == '\n') {
            size_t len = c->line_len;
            if (len && c->line[len - 1] == '\r')
                len--;
            on_line(c, c->line, len);
            c->line_len = 0;
        } else if (c->line_len < sizeof c->line) {
            c->line[c->line_len++] = ch;
        }
    }
}

/* de-chunks (when needed) and feeds SSE lines */
static void on_data(conn *c, const char *p, size_t n)
{
    if (c->state == ST_HEADERS) {
        size_t take = n < sizeof c->hdr - c->hdr_len ? n : sizeof c->hdr - c->hdr_len;
        memcpy(c->hdr + c->hdr_len, p, take);
        c->hdr_len += take;
        char *end = memmem(c->hdr, c->hdr_len, "\r\n\r\n", 4);
        if (!end) {
            if (c->hdr_len == sizeof c->hdr)
                c->state = ST_CLOSED;
            return;
        }
        size_t hlen = (size_t)(end - c->hdr) + 4;
        if (strncmp(c->hdr, "HTTP/1.1 200", 12) != 0 && strncmp(c->hdr, "HTTP/1.0 200", 12) != 0) {
            errors_http++;
            c->state = ST_CLOSED;
            return;
        }
        c->chunked = memmem(c->hdr, hlen, "chunked", 7) != NULL;
        c->chunk_left = -1;
        c->state = ST_BODY;
        size_t rest = c->hdr_len - hlen;
        /* bytes of this read past the header: they start at p + (n - (hdr_len - hlen)) only when
         * the header fit in this read; recompute from our copy instead */
        char tmp[4096];
        memcpy(tmp, c->hdr + hlen, rest);
        size_t beyond = n - take; /* bytes not copied into hdr */
        if (rest)
            on_data(c, tmp, rest);
        if (beyond)
            on_data(c, p + take, beyond);
        return;
    }
    if (!c->chunked) {
        on_body(c, p, n);
        return;
    }
    size_t i = 0;
    while (i < n) {
        if (c->chunk_left < 0) {
            char ch = p[i++];
            if (ch == '\n') {
                c->szbuf[c->szlen] = '\0';
                c->chunk_left = strtol(c->szbuf, NULL, 16);
                c->szlen = 0;
                if (c->chunk_left == 0) {
                    c->state = ST_CLOSED;
                    return;
                }
                c->chunk_left += 2; /* the CRLF after the data */
            } else if (c->szlen < sizeof c->szbuf - 1 && ch != '\r') {
                c->szbuf[c->szlen++] = ch;
            }
            continue;
        }
        size_t take = (size_t)c->chunk_left;
        if (take > n - i)
            take = n - i;
        /* the trailing CRLF is not SSE data: feed only the payload part */
        size_t payload = take;
        if ((long)take > c->chunk_left - 2)
            payload = c->chunk_left > 2 ? (size_t)(c->chunk_left - 2) : 0;
        if (payload > take)
            payload = take;
        on_body(c, p + i, payload);
        c->chunk_left -= (long)take;
        i += take;
        if (c->chunk_left == 0)
            c->chunk_left = -1;
    }
}

/* ---- publishers ----------------------------------------------------------------------------- */
/* reads what a ready connection has; closes it on end or error */
static void read_into(conn *c, char *buf, size_t cap)
{
    if (c->state == ST_CLOSED)
        return;
    ssize_t r = read(c->fd, buf, cap);
    if (r > 0)
        on_data(c, buf, (size_t)r);
    if (r == 0 || (r < 0 && errno != EAGAIN) || c->state == ST_CLOSED) {
        c->state = ST_CLOSED;
        closed_conns++;
        close(c->fd);
    }
}

static atomic_long published, publish_errors;
static atomic_bool stop_publishing;
static atomic_int publishers_running; /* drained only once none can still add an event */

static int blocking_dial(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)O.port)};
    inet_pton(AF_INET, O.host, &a.sin_addr);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

/* reads one HTTP response (Content-Length or chunked-with-zero) and returns its status */
static int read_response(int fd, char *buf, size_t cap)
{
    size_t len = 0;
    for (;;) {
        ssize_t r = read(fd, buf + len, cap - 1 - len);
        if (r <= 0)
            return -1;
        len += (size_t)r;
        buf[len] = '\0';
        char *end = strstr(buf, "\r\n\r\n");
        if (!end)
            continue;
        size_t hlen = (size_t)(end - buf) + 4;
        const char *cl = strcasestr(buf, "Content-Length:");
        if (cl && cl < end) {
            size_t want = (size_t)strtoul(cl + 15, NULL, 10);
            while (len < hlen + want) {
                r = read(fd, buf + len, cap - 1 - len);
                if (r <= 0)
                    return -1;
                len += (size_t)r;
            }
        } else if (strcasestr(buf, "chunked")) {
            while (!memmem(buf + hlen, len - hlen, "0\r\n\r\n", 5)) {
                r = read(fd, buf + len, cap - 1 - len);
                if (r <= 0)
                    return -1;
                len += (size_t)r;
            }
        }
        return atoi(buf + 9);
    }
}

static void *publisher(void *arg)
{
    long idx = (long)arg;
    double my_rate = O.rate / O.publishers;
    if (my_rate <= 0)
        return NULL;
    int64_t interval = (int64_t)(1e6 / my_rate);
    int64_t next = mono_us() + idx * interval / O.publishers;
    int fd = blocking_dial();
    char body[512], req[2048], resp[8192];
    long seq = 0;
    while (!atomic_load(&stop_publishing)) {
        if (O.count && atomic_load(&published) >= O.count) {
            atomic_store(&stop_publishing, true);
            break;
        }
        int64_t now = mono_us();
        if (now < next) {
            struct timespec ts = {0, (long)(next - now) * 1000};
            nanosleep(&ts, NULL);
        }
        if (atomic_load(&stop_publishing))
            break;
        next += interval;
        int blen;
        if (!strcmp(O.pub_format, "flovyn"))
            blen = snprintf(body, sizeof body,
                            "{\"event_type\":\"bench.tick\",\"workflow_execution_id\":\"wf-bench\","
                            "\"data\":{\"t\":%" PRId64 ",\"p\":%ld,\"s\":%ld}}",
                            now_us(), idx, seq++);
        else
            blen = snprintf(body, sizeof body, "{\"t\":%" PRId64 ",\"p\":%ld,\"s\":%ld}", now_us(),
                            idx, seq++);
        int n = snprintf(req, sizeof req,
                         "POST %s HTTP/1.1\r\nHost: %s:%d\r\nContent-Type: application/json\r\n"
                         "Content-Length: %d\r\n",
                         O.pub_path, O.host, O.port, blen);
        for (int i = 0; i < O.nheaders; i++)
            n += snprintf(req + n, sizeof req - (size_t)n, "%s\r\n", O.headers[i]);
        n += snprintf(req + n, sizeof req - (size_t)n, "\r\n%s", body);
        int status = -1;
        if (fd >= 0 && write(fd, req, (size_t)n) == n)
            status = read_response(fd, resp, sizeof resp);
        if (status >= 200 && status < 300) {
            atomic_fetch_add(&published, 1);
        } else {
            atomic_fetch_add(&publish_errors, 1);
            if (fd >= 0)
                close(fd);
            fd = blocking_dial();
        }
    }
    if (fd >= 0)
        close(fd);
    atomic_fetch_sub(&publishers_running, 1);
    return NULL;
}

/* ---- main ----------------------------------------------------------------------------------- */
static void usage(void)
{
    fprintf(stderr, "usage: bench_sse --port P --sub-path PATH --conns N [--rate R --seconds S "
                    "--pub-path PATH --pub-format flovyn|raw --publishers K] [--header 'K: V'] "
                    "[--last-event-id ID --expect N --expect-timeout S] [--idle-seconds S "
                    "[--settle-seconds S]] [--connect-rate R]\n");
    exit(2);
}

/* /proc/<pid>/<name> into buf, NUL-terminated; false if unreadable */
static bool read_proc(int pid, const char *name, char *buf, size_t cap)
{
    if (pid <= 0)
        return false;
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/%s", pid, name);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return true;
}

/* the server's resident memory in KiB, -1 if unknown */
static long rss_kib_of(int pid)
{
    char buf[4096];
    const char *p = read_proc(pid, "status", buf, sizeof buf) ? strstr(buf, "VmRSS:") : NULL;
    long kib = -1;
    return p && sscanf(p, "VmRSS: %ld", &kib) == 1 ? kib : -1;
}

static long cpu_ticks_of(int pid)
{
    char buf[1024];
    if (!read_proc(pid, "stat", buf, sizeof buf))
        return -1;
    char *p = strrchr(buf, ')');
    long ut = 0, st = 0;
    if (p && sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) == 2)
        return ut + st;
    return -1;
}

int main(int argc, char **argv)
{
    int server_pid = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!v)
            usage();
        if (!strcmp(a, "--host"))
            O.host = v;
        else if (!strcmp(a, "--port"))
            O.port = atoi(v);
        else if (!strcmp(a, "--sub-path"))
            O.sub_path = v;
        else if (!strcmp(a, "--pub-path"))
            O.pub_path = v;
        else if (!strcmp(a, "--pub-format"))
            O.pub_format = v;
        else if (!strcmp(a, "--header") && O.nheaders < MAX_HEADERS)
            O.headers[O.nheaders++] = v;
        else if (!strcmp(a, "--last-event-id"))
            O.last_event_id = v;
        else if (!strcmp(a, "--conns"))
            O.conns = atoi(v);
        else if (!strcmp(a, "--rate"))
            O.rate = atof(v);
        else if (!strcmp(a, "--seconds"))
            O.seconds = atof(v);
        else if (!strcmp(a, "--publishers"))
            O.publishers = atoi(v);
        else if (!strcmp(a, "--expect"))
            O.expect = atol(v);
        else if (!strcmp(a, "--expect-timeout"))
            O.expect_timeout = atof(v);
        else if (!strcmp(a, "--idle-seconds"))
            O.idle_seconds = atof(v);
        else if (!strcmp(a, "--settle-seconds"))
            O.settle_seconds = atof(v);
        else if (!strcmp(a, "--connect-rate"))
            O.connect_rate = atof(v);
        else if (!strcmp(a, "--server-pid"))
            server_pid = atoi(v);
        else if (!strcmp(a, "--count"))
            O.count = atol(v);
        else
            usage();
        i++;
    }
    if (!O.port || !O.sub_path || O.conns <= 0 || O.publishers <= 0)
        usage();
    /* raise the descriptor limit itself: to the hard limit (an unprivileged process, or a
     * container, cannot go beyond it), and say so when the connections cannot fit */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t want = (rlim_t)O.conns + (rlim_t)O.publishers + 64;
        rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ? rl.rlim_max : want;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
            fprintf(stderr,
                    "bench_sse: open-file limit %llu is below the %llu descriptors needed\n",
                    (unsigned long long)rl.rlim_cur, (unsigned long long)want);
    }

    conns = calloc((size_t)O.conns, sizeof *conns);
    int ep = epoll_create1(0);
    int64_t t0 = mono_us();
    for (int i = 0; i < O.conns; i++) {
        conn *c = &conns[i];
        c->fd = dial();
        if (c->fd < 0) {
            c->state = ST_CLOSED;
            closed_conns++;
            continue;
        }
        c->state = ST_CONNECTING;
        struct epoll_event ev = {.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP, .data.ptr = c};
        epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
        if (O.connect_rate > 0) {
            struct timespec ts = {0, (long)(1e9 / O.connect_rate)};
            nanosleep(&ts, NULL);
        }
    }

    struct epoll_event evs[512];
    char buf[65536];
    long ready_conns = 0;
    int64_t all_ready_us = 0;
    /* phase 1: connect and get headers (bounded 60 s) */
    while (ready_conns + closed_conns < O.conns && mono_us() - t0 < 60000000) {
        int n = epoll_wait(ep, evs, 512, 100);
        for (int k = 0; k < n; k++) {
            conn *c = evs[k].data.ptr;
            if (c->state == ST_CONNECTING && (evs[k].events & EPOLLOUT)) {
                c->state = ST_HEADERS;
                send_request(c);
                struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP, .data.ptr = c};
                epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
            }
            if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                ssize_t r = read(c->fd, buf, sizeof buf);
                int before = c->state;
                if (r > 0)
                    on_data(c, buf, (size_t)r);
                if (r == 0 || (r < 0 && errno != EAGAIN) || c->state == ST_CLOSED) {
                    if (c->state != ST_CLOSED || before != ST_CLOSED) {
                        c->state = ST_CLOSED;
                        closed_conns++;
                        close(c->fd);
                    }
                } else if (before == ST_HEADERS && c->state == ST_BODY) {
                    ready_conns++;
                }
            }
        }
    }
    all_ready_us = mono_us();
    /* a server is still busy for a while after a burst of opens (hand-overs, freeing and
     * trimming what the burst allocated): an idle measurement starts after it settles */
    for (int64_t settle_end = all_ready_us + (int64_t)(O.settle_seconds * 1e6);
         mono_us() < settle_end;) {
        int n = epoll_wait(ep, evs, 512, 50);
        for (int k = 0; k < n; k++)
            read_into(evs[k].data.ptr, buf, sizeof buf);
    }
    long ticks0 = cpu_ticks_of(server_pid);
    long rss0 = rss_kib_of(server_pid); /* with every connection open, settled */
    int64_t phase_start = mono_us();
    measure_from_us = O.expect ? phase_start : phase_start + 1000000;

    /* phase 2: publish for `seconds` (or wait idle / for expect) while reading */
    pthread_t pubs[64];
    int npubs = 0;
    if (O.rate > 0 && O.pub_path)
        for (long i = 0; i < O.publishers && i < 64; i++) {
            atomic_fetch_add(&publishers_running, 1);
            if (pthread_create(&pubs[npubs], NULL, publisher, (void *)i) == 0)
                npubs++;
            else
                atomic_fetch_sub(&publishers_running, 1);
        }
    double run_s = O.seconds > 0 ? O.seconds : O.idle_seconds;
    int64_t end_pub = phase_start + (int64_t)(run_s * 1e6);
    int64_t drain_until = 0;
    for (;;) {
        int64_t now = mono_us();
        if (!drain_until && (now >= end_pub || atomic_load(&stop_publishing))) {
            /* Publishers are joined after the loop: joining here would stop reading for up to
             * one publisher interval (800 ms at 5 events/s from 4 publishers), and the events
             * arriving meanwhile would be timed late - the p99 artifact of earlier runs. */
            atomic_store(&stop_publishing, true);
            drain_until = mono_us() + (O.rate > 0 ? 3000000 : 0); /* late deliveries */
            if (O.expect) /* a server that lost its buffer never delivers: bounded */
                drain_until =
                    mono_us() + (int64_t)((O.expect_timeout > 0 ? O.expect_timeout : 120) * 1e6);
        }
        if (drain_until && mono_us() >= drain_until)
            break;
        if (O.expect && done_conns >= ready_conns)
            break;
        if (O.rate > 0 && drain_until && atomic_load(&publishers_running) == 0 &&
            total_events >= atomic_load(&published) * (long)ready_conns)
            break;
        int n = epoll_wait(ep, evs, 512, 50);
        for (int k = 0; k < n; k++)
            read_into(evs[k].data.ptr, buf, sizeof buf);
    }
    for (int i = 0; i < npubs; i++)
        pthread_join(pubs[i], NULL);
    double elapsed = (mono_us() - phase_start) / 1e6;
    long ticks1 = cpu_ticks_of(server_pid);
    long pub = atomic_load(&published);
    long expected = pub * ready_conns;
    long hz = sysconf(_SC_CLK_TCK);
    double cpu_s = ticks0 >= 0 && ticks1 >= 0 ? (double)(ticks1 - ticks0) / (double)hz : -1;
    int64_t last_done = 0;
    for (int i = 0; i < O.conns; i++)
        if (conns[i].done_us > last_done)
            last_done = conns[i].done_us;
    /* the storm is timed from the first connection attempt */
    if (O.expect)
        phase_start = t0;
    printf("conns=%d ready=%ld closed=%ld http_errors=%ld connect_s=%.2f published=%ld "
           "publish_errors=%ld received=%ld expected=%ld lost=%ld p50_ms=%.1f p99_ms=%.1f "
           "elapsed_s=%.2f server_cpu_s=%.2f",
           O.conns, ready_conns, closed_conns, errors_http, (all_ready_us - t0) / 1e6, pub,
           atomic_load(&publish_errors), total_events, expected,
           expected > total_events ? expected - total_events : 0, hist_pct(0.50), hist_pct(0.99),
           elapsed, cpu_s);
    if (O.rate > 0 && run_s > 0) /* what the publishers achieved over their window */
        printf(" publish_rate=%.1f", (double)pub / run_s);
    if (rss0 >= 0)
        printf(" server_rss_kib=%ld", rss0);
    if (cpu_s >= 0 && total_events > 0) /* server CPU per delivered event */
        printf(" cpu_us_per_delivery=%.2f", cpu_s * 1e6 / (double)total_events);
    if (O.expect)
        printf(" expect=%ld done=%ld all_done_s=%.2f", O.expect, done_conns,
               last_done ? (last_done - phase_start) / 1e6 : -1.0);
    if (O.conns > 0 && conns[0].last_id[0])
        printf(" last_id=%s", conns[0].last_id);
    printf("\n");
    for (int i = 0; i < O.conns; i++)
        if (conns[i].state != ST_CLOSED)
            close(conns[i].fd);
    free(conns);
    return 0;
}
