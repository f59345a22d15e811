/* gateway_fixture.c - a real gateway process and libcurl HTTP/SSE clients; see gateway_fixture.h.
 *
 * The SSE parser follows the EventSource rules that matter for the contract: lines end at LF or
 * CRLF, a blank line dispatches, `:` starts a comment, `data` lines are joined with LF, a frame
 * with no data is not an event (but its retry: still counts).
 */
#include "gateway_fixture.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fixture.h"
#include "flovyn/units.h"

static pthread_once_t g_curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* --- gateway process ----------------------------------------------------------------------- */

/* Every gateway still running when the test program exits is killed: a failing assertion jumps
 * out of a test before its cleanup, and a leftover server would outlive the test run. */
#define MAX_LIVE 64
static pid_t g_live[MAX_LIVE];
static pthread_mutex_t g_live_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t g_atexit_once = PTHREAD_ONCE_INIT;

static void kill_leftovers(void)
{
    for (int i = 0; i < MAX_LIVE; i++)
        if (g_live[i] > 0)
            fv_test_stop_pid(g_live[i], SIGKILL, 2000);
}

static void install_atexit(void)
{
    atexit(kill_leftovers);
}

static void live_set(pid_t old, pid_t now)
{
    pthread_once(&g_atexit_once, install_atexit);
    pthread_mutex_lock(&g_live_mu);
    for (int i = 0; i < MAX_LIVE; i++)
        if (g_live[i] == old) {
            g_live[i] = now;
            break;
        }
    pthread_mutex_unlock(&g_live_mu);
}

static int launch(fv_gateway *g)
{
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%d", g->port);
    char *argv[80];
    int k = 0;
    argv[k++] = (char *)fv_test_bin("flovyn-gateway");
    argv[k++] = "--listen";
    argv[k++] = listen;
    for (int i = 0; i < g->nargs && k < 78; i++)
        argv[k++] = g->args[i];
    argv[k] = NULL;
    g->pid = fv_test_spawn(argv, NULL, g->log_path);
    if (g->pid <= 0)
        return -1;
    live_set(0, g->pid);
    char url[128];
    snprintf(url, sizeof url, "%s/healthz", g->base);
    int64_t deadline = mono_ms() + 10000;
    while (mono_ms() < deadline) {
        if (waitpid(g->pid, NULL, WNOHANG) == g->pid) {
            live_set(g->pid, 0);
            g->pid = 0;
            return -1;
        }
        fv_http_resp r;
        int rc = fv_http_request("GET", url, NULL, NULL, 0, &r);
        long st = r.status;
        fv_http_resp_free(&r);
        if (rc == 0 && st == 200)
            return 0;
        fv_sleep_ms(20);
    }
    fv_test_stop_pid(g->pid, SIGKILL, 1000);
    live_set(g->pid, 0);
    g->pid = 0;
    return -1;
}

int fv_gateway_start(fv_gateway *g, const char *const *args)
{
    pthread_once(&g_curl_once, curl_init_once);
    char dir[256] = "";
    if (g->dir[0])
        snprintf(dir, sizeof dir, "%s", g->dir); /* write_secret made it already */
    memset(g, 0, sizeof *g);
    if (dir[0])
        snprintf(g->dir, sizeof g->dir, "%s", dir);
    else if (fv_test_tmpdir(g->dir, sizeof g->dir, "gw") != 0)
        return -1;
    snprintf(g->log_path, sizeof g->log_path, "%s/gateway.log", g->dir);
    for (int i = 0; args && args[i] && i < 60; i++)
        g->args[g->nargs++] = strdup(args[i]);
    for (int attempt = 0; attempt < 5; attempt++) {
        g->port = fv_test_free_port();
        snprintf(g->base, sizeof g->base, "http://127.0.0.1:%d", g->port);
        if (launch(g) == 0)
            return 0;
    }
    fv_gateway_dump_log(g);
    return -1;
}

int fv_gateway_restart(fv_gateway *g)
{
    if (g->pid > 0)
        fv_gateway_stop(g, SIGTERM, 10000);
    for (int attempt = 0; attempt < 50; attempt++) {
        if (launch(g) == 0)
            return 0;
        fv_sleep_ms(100);
    }
    fv_gateway_dump_log(g);
    return -1;
}

int fv_gateway_stop(fv_gateway *g, int sig, int timeout_ms)
{
    if (g->pid <= 0)
        return -1;
    int st = fv_test_stop_pid(g->pid, sig, timeout_ms);
    live_set(g->pid, 0);
    g->pid = 0;
    return st;
}

void fv_gateway_cleanup(fv_gateway *g)
{
    if (g->pid > 0) {
        /* a clean stop, so a sanitizer build reports leaks and errors; shown if it was not */
        int st = fv_gateway_stop(g, SIGTERM, 10000);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "gateway did not exit cleanly (status %d)\n", st);
            fv_gateway_dump_log(g);
        }
    }
    for (int i = 0; i < g->nargs; i++)
        free(g->args[i]);
    g->nargs = 0;
    if (g->dir[0] && strstr(g->dir, "flovyn-")) {
        char cmd[600];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", g->dir);
        int r = system(cmd);
        (void)r;
    }
    g->dir[0] = '\0';
}

const char *fv_gateway_write_secret(fv_gateway *g, const char *secret)
{
    static __thread char path[300];
    if (!g->dir[0] && fv_test_tmpdir(g->dir, sizeof g->dir, "gw") != 0)
        return NULL;
    snprintf(path, sizeof path, "%s/jwt.secret", g->dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return NULL;
    fputs(secret, f);
    fclose(f);
    return path;
}

void fv_gateway_dump_log(const fv_gateway *g)
{
    FILE *f = fopen(g->log_path, "r");
    if (!f)
        return;
    /* the end of the log is what explains a failure (a sanitizer report comes last) */
    fseek(f, 0, SEEK_END);
    long size = ftell(f);
    long from = size > 64 * 1024 ? size - 64 * 1024 : 0;
    fseek(f, from, SEEK_SET);
    fprintf(stderr, "---- gateway log %s (last %ld bytes) ----\n", g->log_path, size - from);
    char buf[4096];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stderr);
    fclose(f);
}

/* --- plain HTTP ---------------------------------------------------------------------------- */

typedef struct growbuf {
    char *p;
    size_t n, cap;
} growbuf;

static size_t grow_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    growbuf *b = ud;
    size_t n = size * nmemb;
    if (b->n + n + 1 > b->cap) {
        size_t cap = (b->n + n + 1) * 2;
        char *p = realloc(b->p, cap);
        if (!p)
            return 0;
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, ptr, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

static struct curl_slist *make_headers(const char *const *headers)
{
    struct curl_slist *l = NULL;
    for (int i = 0; headers && headers[i]; i++)
        l = curl_slist_append(l, headers[i]);
    return l;
}

int fv_http_request(const char *method, const char *url, const char *const *headers,
                    const char *body, size_t body_len, fv_http_resp *out)
{
    pthread_once(&g_curl_once, curl_init_once);
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    if (!c)
        return -1;
    growbuf b = {0}, h = {0};
    struct curl_slist *hl = make_headers(headers);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (!strcmp(method, "HEAD"))
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, grow_write);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, grow_write);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &h);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    out->body = b.p ? b.p : strdup("");
    out->len = b.n;
    out->headers = h.p ? h.p : strdup("");
    return rc == CURLE_OK ? 0 : -1;
}

void fv_http_resp_free(fv_http_resp *r)
{
    free(r->body);
    free(r->headers);
    r->body = r->headers = NULL;
}

bool fv_http_resp_header(const fv_http_resp *r, const char *name, char *out, size_t cap)
{
    size_t n = strlen(name);
    for (const char *l = r->headers; l && *l;) {
        const char *e = strchr(l, '\n');
        size_t len = e ? (size_t)(e - l) : strlen(l);
        if (len > n && !strncasecmp(l, name, n) && l[n] == ':') {
            const char *v = l + n + 1;
            while (*v == ' ')
                v++;
            size_t vn = (size_t)(l + len - v);
            while (vn && (v[vn - 1] == '\r' || v[vn - 1] == ' '))
                vn--;
            snprintf(out, cap, "%.*s", (int)vn, v);
            return true;
        }
        if (!e)
            break;
        l = e + 1;
    }
    return false;
}

/* --- SSE client ---------------------------------------------------------------------------- */

struct fv_sse_client {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    CURL *curl;
    struct curl_slist *hl;
    atomic_int abort; /* set by fv_sse_close, read by the client thread */
    bool closed;
    long status;
    /* parser */
    char line[1 << 20];
    size_t line_len;
    bool has_data;
    growbuf data;
    char cur_id[128], cur_event[160];
    long cur_retry;
    bool skip_lf;
    /* results */
    fv_sse_event *ev;
    size_t n, cap;
    int comments;
    long first_retry, last_retry;
    char last_id[128];
};

static void dispatch(fv_sse_client *c)
{
    pthread_mutex_lock(&c->mu);
    if (c->cur_retry >= 0) {
        if (c->first_retry < 0)
            c->first_retry = c->cur_retry;
        c->last_retry = c->cur_retry;
    }
    if (c->has_data) {
        if (c->n == c->cap) {
            size_t cap = c->cap ? c->cap * 2 : 64;
            fv_sse_event *p = realloc(c->ev, cap * sizeof *p);
            if (p) {
                c->ev = p;
                c->cap = cap;
            }
        }
        if (c->n < c->cap) {
            fv_sse_event *e = &c->ev[c->n++];
            snprintf(e->id, sizeof e->id, "%s", c->cur_id);
            snprintf(e->event, sizeof e->event, "%s", c->cur_event[0] ? c->cur_event : "message");
            e->data = strdup(c->data.p ? c->data.p : "");
            e->retry = c->cur_retry;
            if (c->cur_id[0])
                snprintf(c->last_id, sizeof c->last_id, "%s", c->cur_id);
        }
    }
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    c->has_data = false;
    c->data.n = 0;
    if (c->data.p)
        c->data.p[0] = '\0';
    c->cur_id[0] = c->cur_event[0] = '\0';
    c->cur_retry = -1;
}

static void on_line(fv_sse_client *c, const char *l, size_t n)
{
    if (n == 0) {
        dispatch(c);
        return;
    }
    if (l[0] == ':') {
        pthread_mutex_lock(&c->mu);
        c->comments++;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        return;
    }
    const char *colon = memchr(l, ':', n);
    size_t fn = colon ? (size_t)(colon - l) : n;
    const char *v = colon ? colon + 1 : l + n;
    if (colon && v < l + n && *v == ' ')
        v++;
    size_t vn = (size_t)(l + n - v);
    if (fn == 4 && !strncmp(l, "data", 4)) {
        if (c->has_data)
            grow_write("\n", 1, 1, &c->data);
        grow_write((char *)v, 1, vn, &c->data);
        if (!c->data.p)
            grow_write("", 1, 0, &c->data);
        c->has_data = true;
    } else if (fn == 5 && !strncmp(l, "event", 5)) {
        snprintf(c->cur_event, sizeof c->cur_event, "%.*s", (int)vn, v);
    } else if (fn == 2 && !strncmp(l, "id", 2)) {
        snprintf(c->cur_id, sizeof c->cur_id, "%.*s", (int)vn, v);
    } else if (fn == 5 && !strncmp(l, "retry", 5)) {
        c->cur_retry = strtol(v, NULL, 10);
    }
}

static size_t sse_write(char *p, size_t size, size_t nmemb, void *ud)
{
    fv_sse_client *c = ud;
    size_t n = size * nmemb;
    if (c->status == 0) {
        long st = 0;
        curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &st);
        pthread_mutex_lock(&c->mu);
        c->status = st;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
    }
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (c->skip_lf) {
            c->skip_lf = false;
            if (ch == '\n')
                continue;
        }
        if (ch == '\r' || ch == '\n') {
            on_line(c, c->line, c->line_len);
            c->line_len = 0;
            c->skip_lf = ch == '\r';
        } else if (c->line_len < sizeof c->line - 1) {
            c->line[c->line_len++] = ch;
        }
    }
    return n;
}

static int sse_progress(void *ud, curl_off_t a, curl_off_t b, curl_off_t d, curl_off_t e)
{
    (void)a, (void)b, (void)d, (void)e;
    return atomic_load(&((fv_sse_client *)ud)->abort) ? 1 : 0;
}

static void *sse_main(void *arg)
{
    fv_sse_client *c = arg;
    curl_easy_perform(c->curl);
    long st = 0;
    curl_easy_getinfo(c->curl, CURLINFO_RESPONSE_CODE, &st);
    pthread_mutex_lock(&c->mu);
    if (!c->status)
        c->status = st;
    c->closed = true;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

fv_sse_client *fv_sse_open(const char *url, const char *const *headers)
{
    pthread_once(&g_curl_once, curl_init_once);
    fv_sse_client *c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    c->first_retry = c->last_retry = c->cur_retry = -1;
    c->curl = curl_easy_init();
    c->hl = make_headers(headers);
    c->hl = curl_slist_append(c->hl, "Accept: text/event-stream");
    curl_easy_setopt(c->curl, CURLOPT_URL, url);
    curl_easy_setopt(c->curl, CURLOPT_HTTPHEADER, c->hl);
    curl_easy_setopt(c->curl, CURLOPT_WRITEFUNCTION, sse_write);
    curl_easy_setopt(c->curl, CURLOPT_WRITEDATA, c);
    curl_easy_setopt(c->curl, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFOFUNCTION, sse_progress);
    curl_easy_setopt(c->curl, CURLOPT_XFERINFODATA, c);
    curl_easy_setopt(c->curl, CURLOPT_NOSIGNAL, 1L);
    if (pthread_create(&c->th, NULL, sse_main, c) != 0) {
        curl_easy_cleanup(c->curl);
        curl_slist_free_all(c->hl);
        free(c);
        return NULL;
    }
    return c;
}

static bool timed_wait(fv_sse_client *c, int64_t deadline)
{
    int64_t left = deadline - mono_ms();
    if (left <= 0)
        return false;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    int64_t ns = ts.tv_nsec + (left % 1000) * 1000000L;
    ts.tv_sec += left / 1000 + ns / 1000000000L;
    ts.tv_nsec = ns % 1000000000L;
    pthread_cond_timedwait(&c->cv, &c->mu, &ts);
    return true;
}

size_t fv_sse_wait(fv_sse_client *c, size_t n, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    pthread_mutex_lock(&c->mu);
    while (c->n < n && !c->closed && timed_wait(c, deadline)) {
    }
    size_t r = c->n;
    pthread_mutex_unlock(&c->mu);
    return r;
}

bool fv_sse_wait_closed(fv_sse_client *c, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    pthread_mutex_lock(&c->mu);
    while (!c->closed && timed_wait(c, deadline)) {
    }
    bool r = c->closed;
    pthread_mutex_unlock(&c->mu);
    return r;
}

int fv_sse_wait_comments(fv_sse_client *c, int n, int timeout_ms)
{
    int64_t deadline = mono_ms() + timeout_ms;
    pthread_mutex_lock(&c->mu);
    while (c->comments < n && !c->closed && timed_wait(c, deadline)) {
    }
    int r = c->comments;
    pthread_mutex_unlock(&c->mu);
    return r;
}

size_t fv_sse_count(fv_sse_client *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n;
    pthread_mutex_unlock(&c->mu);
    return n;
}

bool fv_sse_get(fv_sse_client *c, size_t i, fv_sse_event *out)
{
    pthread_mutex_lock(&c->mu);
    bool ok = i < c->n;
    if (ok) {
        *out = c->ev[i];
        out->data = strdup(c->ev[i].data);
    }
    pthread_mutex_unlock(&c->mu);
    return ok;
}

void fv_sse_event_free(fv_sse_event *e)
{
    free(e->data);
    e->data = NULL;
}

long fv_sse_find(fv_sse_client *c, const char *name, size_t from)
{
    pthread_mutex_lock(&c->mu);
    long r = -1;
    for (size_t i = from; i < c->n; i++)
        if (!strcmp(c->ev[i].event, name)) {
            r = (long)i;
            break;
        }
    pthread_mutex_unlock(&c->mu);
    return r;
}

long fv_sse_status(fv_sse_client *c)
{
    pthread_mutex_lock(&c->mu);
    long s = c->status;
    pthread_mutex_unlock(&c->mu);
    return s;
}

long fv_sse_first_retry(fv_sse_client *c)
{
    pthread_mutex_lock(&c->mu);
    long s = c->first_retry;
    pthread_mutex_unlock(&c->mu);
    return s;
}

long fv_sse_last_retry(fv_sse_client *c)
{
    pthread_mutex_lock(&c->mu);
    long s = c->last_retry;
    pthread_mutex_unlock(&c->mu);
    return s;
}

bool fv_sse_closed(fv_sse_client *c)
{
    pthread_mutex_lock(&c->mu);
    bool s = c->closed;
    pthread_mutex_unlock(&c->mu);
    return s;
}

void fv_sse_last_id(fv_sse_client *c, char *out, size_t cap)
{
    pthread_mutex_lock(&c->mu);
    snprintf(out, cap, "%s", c->last_id);
    pthread_mutex_unlock(&c->mu);
}

void fv_sse_close(fv_sse_client *c)
{
    if (!c)
        return;
    atomic_store(&c->abort, 1);
    pthread_join(c->th, NULL);
    curl_easy_cleanup(c->curl);
    curl_slist_free_all(c->hl);
    for (size_t i = 0; i < c->n; i++)
        free(c->ev[i].data);
    free(c->ev);
    free(c->data.p);
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c);
}

int fv_test_stalled_client(int port, const char *path_and_query, const char *const *headers)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    int small = 1024;
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
    struct sockaddr_in a = {0};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    a.sin_port = htons((uint16_t)port);
    if (connect(fd, (struct sockaddr *)&a, sizeof a) != 0) {
        close(fd);
        return -1;
    }
    char req[4096];
    int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\n", path_and_query);
    for (int i = 0; headers && headers[i]; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "%s\r\n", headers[i]);
    n += snprintf(req + n, sizeof req - (size_t)n, "Accept: text/event-stream\r\n\r\n");
    if (write(fd, req, (size_t)n) != n) {
        close(fd);
        return -1;
    }
    return fd;
}

static int count_in(const char *hay, size_t n, const char *needle)
{
    int c = 0;
    size_t k = strlen(needle);
    for (const char *p = hay; (p = memmem(p, n - (size_t)(p - hay), needle, k)); p += k)
        c++;
    return c;
}

/* Incremental decoder of an HTTP/1.1 response body: headers skipped; a chunked body has its
 * chunk-size lines removed (so a search never trips over a chunk boundary inside a frame), a
 * close-delimited one (SSE streams) is taken as it is. */
typedef struct dechunk {
    int state; /* 0 headers, 1 size line, 2 data, 3 CRLF after data, 4 done, 5 raw body */
    bool chunked;
    char hdr[4096];
    size_t hdr_n;
    size_t left, hdr_match;
    char size_line[32];
    size_t size_len;
    char *out;
    size_t n, cap;
} dechunk;

static void dechunk_feed(dechunk *d, const char *p, size_t len)
{
    static const char end_hdr[] = "\r\n\r\n";
    for (size_t i = 0; i < len; i++) {
        char c = p[i];
        switch (d->state) {
        case 0:
            if (d->hdr_n < sizeof d->hdr - 1)
                d->hdr[d->hdr_n++] = c;
            d->hdr_match = c == end_hdr[d->hdr_match] ? d->hdr_match + 1 : (c == '\r');
            if (d->hdr_match == 4) {
                d->hdr[d->hdr_n] = '\0';
                d->chunked = strcasestr(d->hdr, "transfer-encoding: chunked") != NULL;
                d->state = d->chunked ? 1 : 5;
            }
            break;
        case 1:
            if (c == '\n') {
                d->size_line[d->size_len] = '\0';
                d->left = strtoul(d->size_line, NULL, 16);
                d->size_len = 0;
                d->state = d->left ? 2 : 4;
            } else if (c != '\r' && d->size_len < sizeof d->size_line - 1) {
                d->size_line[d->size_len++] = c;
            }
            break;
        case 2:
        case 5: /* a raw body byte is kept like a chunk's */
            if (d->n + 1 >= d->cap) {
                d->cap = d->cap ? d->cap * 2 : 1 << 20;
                d->out = realloc(d->out, d->cap);
            }
            d->out[d->n++] = c;
            d->out[d->n] = '\0';
            if (d->state == 2 && --d->left == 0)
                d->state = 3;
            break;
        case 3:
            if (c == '\n')
                d->state = 1;
            break;
        default: break;
        }
    }
}

char *fv_test_read_raw_body(int fd, const char *stop, int want, int timeout_ms, size_t *len)
{
    dechunk d = {0};
    char buf[65536];
    int64_t deadline = mono_ms() + timeout_ms;
    while (mono_ms() < deadline) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t r = read(fd, buf, sizeof buf);
        if (r <= 0)
            break;
        size_t before = d.n;
        dechunk_feed(&d, buf, (size_t)r);
        (void)before;
        if (d.n && count_in(d.out, d.n, stop) >= want)
            break;
        if (d.state == 4)
            break;
    }
    if (!d.out)
        d.out = calloc(1, 1);
    *len = d.n;
    return d.out;
}
