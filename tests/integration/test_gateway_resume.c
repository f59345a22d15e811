/* test_gateway_resume.c - resuming SSE streams without loss or duplicates: by Last-Event-ID header
 * and by last_event_id after 1,000 events published while disconnected, across a replay longer
 * than --replay-limit, after the gateway is SIGKILLed and restarted, and across a nats-server
 * restart, and a gateway started before its nats-server serves once NATS is up. Events are
 * published with the library bus straight into JetStream, as a producer would, while the gateway (a
 * real process) serves the clients. */
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "auth.h"
#include "fixture.h"
#include "flovyn/buf.h"
#include "flovyn/bus.h"
#include "gateway_fixture.h"
#include "flovyn/units.h"

#define SECRET "resume-secret-0123456789-abcdefghijklmnop"
#define MAXN 4096

static fv_nats_server g_nats;
static fv_gateway g_gw;
static fv_bus *g_bus;
static char g_auth[1200];
static char g_secret_path[300];

static int setup(void **state)
{
    (void)state;
    if (fv_nats_start(&g_nats) != 0)
        return -1;
    fv_bus_config bc;
    fv_bus_config_init(&bc);
    bc.nats_url = g_nats.url;
    bc.name = "test-producer";
    fv_err err = {{0}};
    if (fv_bus_create(&bc, &g_bus, &err) != 0 || fv_bus_provision(g_bus, &err) != 0) {
        fprintf(stderr, "bus: %s\n", err.msg);
        return -1;
    }
    snprintf(g_secret_path, sizeof g_secret_path, "%s", fv_gateway_write_secret(&g_gw, SECRET));
    const char *args[] = {
        "--nats-url", g_nats.url, "--jwt-secret-file", g_secret_path, "--heartbeat", "1s", NULL};
    if (fv_gateway_start(&g_gw, args) != 0)
        return -1;
    char *t = NULL;
    if (fv_auth_mint_hs256(SECRET, strlen(SECRET), "tenant-r", 3600000, NULL, NULL, &t, &err))
        return -1;
    snprintf(g_auth, sizeof g_auth, "Authorization: Bearer %s", t);
    free(t);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fv_gateway_cleanup(&g_gw);
    fv_bus_destroy(g_bus);
    fv_nats_cleanup(&g_nats);
    return 0;
}

/* Publishes events i = from..from+n-1 of workflow wf: even i lifecycle `task.progressed`, odd i
 * a token, both carrying {"i":i}. Retries while the bus is reconnecting. */
static void publish_range(const char *wf, int from, int n)
{
    fv_event *evs = calloc((size_t)n, sizeof *evs);
    fv_stream_event *ses = calloc((size_t)n, sizeof *ses);
    fv_publish_item *items = calloc((size_t)n, sizeof *items);
    for (int k = 0; k < n; k++) {
        int i = from + k;
        char data[32];
        int dn = snprintf(data, sizeof data, "{\"i\":%d}", i);
        if (i % 2 == 0) {
            fv_event *e = &evs[k];
            fv_event_init(e);
            snprintf(e->tenant_id, sizeof e->tenant_id, "tenant-r");
            snprintf(e->workflow_execution_id, sizeof e->workflow_execution_id, "%s", wf);
            snprintf(e->event_type, sizeof e->event_type, "task.progressed");
            snprintf(e->source, sizeof e->source, "test");
            snprintf(e->id, sizeof e->id, "%s-%d", wf, i);
            e->timestamp_ms = 1;
            assert_int_equal(fv_event_set_data(e, data, (size_t)dn, NULL, NULL), 0);
            items[k].ev = e;
        } else {
            fv_stream_event *s = &ses[k];
            fv_stream_event_init(s);
            snprintf(s->tenant_id, sizeof s->tenant_id, "tenant-r");
            snprintf(s->workflow_execution_id, sizeof s->workflow_execution_id, "%s", wf);
            s->sequence = i;
            s->kind = FV_KIND_TOKEN;
            s->timestamp_ms = 1;
            assert_int_equal(fv_stream_event_set_payload(s, data, (size_t)dn, NULL, NULL), 0);
            items[k].se = s;
        }
    }
    for (int attempt = 0; attempt < 100; attempt++) {
        fv_err err = {{0}};
        bool all = fv_bus_publish_batch(g_bus, items, (size_t)n, &err) == 0;
        for (int k = 0; all && k < n; k++)
            all = items[k].status == 0;
        if (all)
            break;
        fv_sleep_ms(200); /* reconnecting: the same dedup keys make the retry safe */
        if (attempt == 99)
            fail_msg("publish kept failing: %s", err.msg);
    }
    for (int k = 0; k < n; k++) {
        fv_event_clear(&evs[k]);
        fv_stream_event_clear(&ses[k]);
    }
    free(evs);
    free(ses);
    free(items);
}

typedef struct collected {
    int count[MAXN];
    int total, dups, connections;
    char last_id[128];
    long last_i[2]; /* per source, to check order */
    bool out_of_order;
} collected;

static int event_i(const fv_sse_event *e)
{
    const char *p = strstr(e->data, "{\"i\":");
    return p ? atoi(p + 5) : -1;
}

/* Reads one connection: until it closes, `want` unique events are in, or idle_ms of silence. */
static void read_connection(const char *path, bool header, collected *c, int want, int idle_ms)
{
    char url[1024], leh[200];
    if (c->last_id[0] && !header)
        snprintf(url, sizeof url, "%s%s%slast_event_id=%s", g_gw.base, path,
                 strchr(path, '?') ? "&" : "?", c->last_id);
    else
        snprintf(url, sizeof url, "%s%s", g_gw.base, path);
    snprintf(leh, sizeof leh, "Last-Event-ID: %s", c->last_id);
    const char *h[] = {g_auth, c->last_id[0] && header ? leh : NULL, NULL};
    fv_sse_client *s = fv_sse_open(url, h);
    c->connections++;
    size_t seen = 0;
    for (;;) {
        size_t before = seen;
        size_t n = fv_sse_wait(s, seen + 1, idle_ms);
        for (; seen < n; seen++) {
            fv_sse_event e;
            fv_sse_get(s, seen, &e);
            int i = event_i(&e);
            if (i >= 0 && i < MAXN) {
                if (c->count[i]++)
                    c->dups++;
                else
                    c->total++;
                int src = strcmp(e.event, "token") == 0;
                if (i <= c->last_i[src])
                    c->out_of_order = true;
                c->last_i[src] = i;
            }
            if (e.id[0])
                snprintf(c->last_id, sizeof c->last_id, "%s", e.id);
            fv_sse_event_free(&e);
        }
        if (c->total >= want || fv_sse_closed(s) || n == before)
            break;
    }
    fv_sse_close(s);
}

/* Like EventSource: reconnect with the last id until want events are in (or the time is up). */
static void collect_resuming(const char *path, bool header, collected *c, int want, int timeout_ms)
{
    struct timespec t0;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    while (c->total < want) {
        read_connection(path, header, c, want, 3000);
        struct timespec t;
        clock_gettime(CLOCK_MONOTONIC, &t);
        if ((t.tv_sec - t0.tv_sec) * 1000 > timeout_ms)
            break;
    }
}

static void init_collected(collected *c)
{
    memset(c, 0, sizeof *c);
    c->last_i[0] = c->last_i[1] = -1;
}

static void assert_exactly_once(const collected *c, int from, int to)
{
    if (c->dups || c->out_of_order)
        fail_msg("%d duplicates, out of order %d", c->dups, c->out_of_order);
    for (int i = from; i < to; i++)
        if (c->count[i] != 1)
            fail_msg("event %d delivered %d times (total %d)", i, c->count[i], c->total);
}

static void resume_after_1000(const char *wf, bool header)
{
    char path[256];
    snprintf(path, sizeof path, "/v1/workflow-executions/%s/stream", wf);
    publish_range(wf, 0, 10);
    collected *c = malloc(sizeof *c);
    init_collected(c);
    read_connection(path, header, c, 10, 5000);
    assert_int_equal(c->total, 10);
    assert_true(c->last_id[0] != '\0');
    publish_range(wf, 10, 1000); /* while disconnected */
    collect_resuming(path, header, c, 1010, 30000);
    assert_int_equal(c->total, 1010);
    assert_exactly_once(c, 0, 1010);
    assert_int_equal(c->connections, 2); /* the default replay limit covers it in one go */
    free(c);
}

static void test_resume_by_last_event_id_header_after_1000_events(void **state)
{
    (void)state;
    resume_after_1000("wf-hdr", true);
}

static void test_resume_by_last_event_id_parameter_after_1000_events(void **state)
{
    (void)state;
    resume_after_1000("wf-qry", false);
}

static long status_of(const char *method, const char *url, const char *const *h, const char *body)
{
    fv_http_resp r = {0};
    if (fv_http_request(method, url, h, body, body ? strlen(body) : 0, &r) != 0)
        return -1;
    long st = r.status;
    fv_http_resp_free(&r);
    return st;
}

static void test_gateway_started_before_nats_serves_once_nats_is_up(void **state)
{
    (void)state;
    /* a nats-server that does not exist yet: its port and store are chosen now */
    fv_nats_server late = {0};
    late.port = fv_test_free_port();
    snprintf(late.url, sizeof late.url, "nats://127.0.0.1:%d", late.port);
    assert_int_equal(fv_test_tmpdir(late.store_dir, sizeof late.store_dir, "nats-late"), 0);
    snprintf(late.log_path, sizeof late.log_path, "%s/nats.log", late.store_dir);
    fv_gateway g2 = {0};
    const char *args[] = {"--nats-url",  late.url,      "--jwt-secret-file",
                          g_secret_path, "--provision", "--heartbeat",
                          "1s",          NULL};
    assert_int_equal(fv_gateway_start(&g2, args), 0); /* /healthz answers without NATS */
    char url[512];
    snprintf(url, sizeof url, "%s/readyz", g2.base);
    assert_int_equal(status_of("GET", url, NULL, NULL), 503);
    const char *h[] = {g_auth, "Content-Type: application/json", NULL};
    snprintf(url, sizeof url, "%s/v1/events", g2.base);
    const char *body =
        "{\"event_type\":\"workflow.started\",\"workflow_execution_id\":\"wf-late\"}";
    assert_int_equal(status_of("POST", url, h, body), 503);

    assert_int_equal(fv_nats_restart(&late), 0);
    snprintf(url, sizeof url, "%s/readyz", g2.base);
    long ready = 0;
    for (int i = 0; i < 150 && ready != 200; i++) {
        ready = status_of("GET", url, NULL, NULL);
        if (ready != 200)
            fv_sleep_ms(100);
    }
    assert_int_equal(ready, 200); /* connected, and --provision created the streams */
    snprintf(url, sizeof url, "%s/v1/events", g2.base);
    assert_int_equal(status_of("POST", url, h, body), 202);
    snprintf(url, sizeof url, "%s/v1/workflow-executions/wf-late/stream", g2.base);
    const char *sh[] = {g_auth, NULL};
    fv_sse_client *sse = fv_sse_open(url, sh);
    assert_int_equal(fv_sse_wait(sse, 1, 10000), 1);
    fv_sse_event e;
    assert_true(fv_sse_get(sse, 0, &e));
    assert_string_equal(e.event, "workflow.started");
    fv_sse_event_free(&e);
    fv_sse_close(sse);
    fv_gateway_cleanup(&g2);
    fv_nats_cleanup(&late);
}

static void test_replay_longer_than_the_limit_completes_across_reconnects(void **state)
{
    (void)state;
    fv_gateway g2 = {0};
    const char *args[] = {"--nats-url",  g_nats.url,       "--jwt-secret-file",
                          g_secret_path, "--replay-limit", "300",
                          NULL};
    assert_int_equal(fv_gateway_start(&g2, args), 0);
    publish_range("wf-limit", 0, 1000);
    fv_gateway saved = g_gw;
    g_gw = g2; /* read_connection talks to g_gw */
    collected *c = malloc(sizeof *c);
    init_collected(c);
    collect_resuming("/v1/workflow-executions/wf-limit/stream", true, c, 1000, 40000);
    g_gw = saved;
    fv_gateway_cleanup(&g2);
    assert_int_equal(c->total, 1000);
    assert_exactly_once(c, 0, 1000);
    assert_true(c->connections >= 4); /* 1000 events in steps of at most 300 */
    free(c);
}

static void test_gateway_killed_and_restarted_delivers_every_event_once(void **state)
{
    (void)state;
    const char *path = "/v1/workflow-executions/wf-kill/stream";
    publish_range("wf-kill", 0, 100);
    collected *c = malloc(sizeof *c);
    init_collected(c);
    read_connection(path, true, c, 100, 5000);
    assert_int_equal(c->total, 100);
    int st = fv_gateway_stop(&g_gw, SIGKILL, 5000);
    assert_true(WIFSIGNALED(st));
    publish_range("wf-kill", 100, 300); /* while the gateway is down */
    assert_int_equal(fv_gateway_restart(&g_gw), 0);
    collect_resuming(path, true, c, 400, 30000);
    assert_int_equal(c->total, 400);
    assert_exactly_once(c, 0, 400);
    free(c);
}

static void test_nats_server_restart_mid_stream_loses_nothing(void **state)
{
    (void)state;
    /* a live tenant stream (starts with new events): open it first */
    char path[] = "/v1/events/stream?types=task.progressed,token";
    char url[512];
    snprintf(url, sizeof url, "%s%s", g_gw.base, path);
    const char *h[] = {g_auth, NULL};
    fv_sse_client *s = fv_sse_open(url, h);
    for (int i = 0; i < 250 && fv_sse_first_retry(s) < 0; i++)
        fv_sse_wait(s, 1, 20);
    publish_range("wf-nats", 0, 100);
    assert_int_equal(fv_sse_wait(s, 100, 10000), 100);
    collected *c = malloc(sizeof *c);
    init_collected(c);
    for (size_t k = 0; k < 100; k++) {
        fv_sse_event e;
        fv_sse_get(s, k, &e);
        int i = event_i(&e);
        c->count[i]++;
        c->total++;
        snprintf(c->last_id, sizeof c->last_id, "%s", e.id);
        fv_sse_event_free(&e);
    }
    c->last_i[0] = 98;
    c->last_i[1] = 99;
    fv_nats_stop(&g_nats);
    /* while NATS is away: not ready, and ingest answers 503 at once instead of hanging */
    char rurl[256], iurl[256];
    snprintf(rurl, sizeof rurl, "%s/readyz", g_gw.base);
    snprintf(iurl, sizeof iurl, "%s/v1/events", g_gw.base);
    long rst = 0;
    for (int i = 0; i < 100 && rst != 503; i++) {
        fv_http_resp r;
        fv_http_request("GET", rurl, NULL, NULL, 0, &r);
        rst = r.status;
        fv_http_resp_free(&r);
        if (rst != 503)
            fv_sleep_ms(50);
    }
    assert_int_equal(rst, 503);
    const char *ih[] = {g_auth, "Content-Type: application/json", NULL};
    const char *ib = "{\"event_type\":\"task.created\",\"source\":\"s\"}";
    fv_http_resp r;
    struct timespec a, z;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(fv_http_request("POST", iurl, ih, ib, strlen(ib), &r), 0);
    clock_gettime(CLOCK_MONOTONIC, &z);
    assert_int_equal(r.status, 503);
    char ra[16];
    assert_true(fv_http_resp_header(&r, "Retry-After", ra, sizeof ra));
    fv_http_resp_free(&r);
    assert_true(z.tv_sec - a.tv_sec < 3);
    assert_int_equal(fv_nats_restart(&g_nats), 0);
    publish_range("wf-nats", 100, 100);
    /* same connection if it survived, otherwise resume by cursor, like a browser */
    size_t have = fv_sse_wait(s, 200, 10000);
    for (size_t k = 100; k < have; k++) {
        fv_sse_event e;
        fv_sse_get(s, k, &e);
        int i = event_i(&e);
        if (c->count[i]++)
            c->dups++;
        else
            c->total++;
        snprintf(c->last_id, sizeof c->last_id, "%s", e.id);
        fv_sse_event_free(&e);
    }
    fv_sse_close(s);
    if (c->total < 200)
        collect_resuming(path, true, c, 200, 30000);
    assert_int_equal(c->total, 200);
    assert_exactly_once(c, 0, 200);
    free(c);
}

static void test_stalled_client_in_catch_up_on_jetstream_gets_everything_in_order(void **state)
{
    (void)state;
    fv_gateway g2 = {0};
    const char *args[] = {
        "--nats-url", g_nats.url, "--jwt-secret-file", g_secret_path, "--queue-bytes", "8K", NULL};
    assert_int_equal(fv_gateway_start(&g2, args), 0);
    publish_range("wf-stall", 0, 600);
    const char *h[] = {g_auth, NULL};
    int fd = fv_test_stalled_client(g2.port, "/v1/workflow-executions/wf-stall/stream", h);
    assert_true(fd >= 0);
    fv_sleep_ms(1500); /* not reading: the catch-up must wait (paused), not drop or close */
    size_t n;
    char *body = fv_test_read_raw_body(fd, "{\"i\":599}", 1, 30000, &n);
    int next[2] = {0, 1}; /* per source: lifecycle carries even i, tokens odd i */
    int seen = 0;
    for (const char *p = body; (p = memmem(p, n - (size_t)(p - body), "{\"i\":", 5)); p += 5) {
        int i = atoi(p + 5);
        if (i != next[i % 2])
            fail_msg("event %d arrived where %d was expected", i, next[i % 2]);
        next[i % 2] += 2;
        seen++;
    }
    assert_int_equal(seen, 600);
    assert_null(memmem(body, n, "event: overloaded", 17));
    free(body);
    close(fd);
    fv_gateway_cleanup(&g2);
}

typedef struct poster {
    int accepted, failed;
} poster;

static void *post_batches(void *arg)
{
    poster *p = arg;
    char url[256];
    snprintf(url, sizeof url, "%s/v1/workflow-executions/wf-term/stream-events", g_gw.base);
    const char *h[] = {g_auth, "Content-Type: application/x-ndjson", NULL};
    for (int k = 0; k < 5; k++) {
        fv_buf b = FV_BUF_INIT;
        for (int i = 0; i < 400; i++)
            fv_buf_printf(&b, "{\"sequence\":%d,\"type\":\"token\",\"payload\":%d}\n", k * 400 + i,
                          i);
        fv_http_resp r;
        int rc = fv_http_request("POST", url, h, b.data, b.len, &r);
        if (rc == 0 && r.status == 202)
            p->accepted++;
        else
            p->failed++;
        fv_http_resp_free(&r);
        fv_buf_free(&b);
    }
    return NULL;
}

static long http_requests(void)
{
    char url[256];
    snprintf(url, sizeof url, "%s/metrics", g_gw.base);
    fv_http_resp r;
    long n = -1;
    if (fv_http_request("GET", url, NULL, NULL, 0, &r) == 0) {
        const char *p = strstr(r.body, "\nflovyn_gateway_http_requests_total ");
        if (p)
            n = atol(p + strlen("\nflovyn_gateway_http_requests_total "));
    }
    fv_http_resp_free(&r);
    return n;
}

static int count_cb(void *ud, const fv_msg *m)
{
    if (m->kind == FV_MSG_STREAM)
        (*(int *)ud)++;
    return 0;
}

static void test_sigterm_acknowledges_in_flight_publishes_and_exits_zero(void **state)
{
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "%s/v1/events/stream", g_gw.base);
    const char *h[] = {g_auth, NULL};
    fv_sse_client *s = fv_sse_open(url, h);
    for (int i = 0; i < 250 && fv_sse_first_retry(s) < 0; i++)
        fv_sse_wait(s, 1, 20);
    poster p = {0};
    pthread_t th;
    long base = http_requests();
    pthread_create(&th, NULL, post_batches, &p);
    /* wait until the gateway has the first request (each poll counts as one request too) */
    for (long polls = 1; polls < 500 && http_requests() - base - polls < 1; polls++)
        fv_sleep_ms(2);
    int st = fv_gateway_stop(&g_gw, SIGTERM, 15000);
    pthread_join(th, NULL);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(fv_sse_wait_closed(s, 3000)); /* the open stream was ended */
    assert_true(fv_sse_last_retry(s) > 0);
    fv_sse_close(s);
    /* every 202 means stored: exactly 400 tokens per accepted request are in JetStream */
    fv_pattern pat;
    fv_pattern_init(&pat, "tenant-r");
    snprintf(pat.workflow_execution_id, sizeof pat.workflow_execution_id, "wf-term");
    fv_start start = {.kind = FV_START_FIRST};
    int stored = 0;
    fv_cursor next;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_read(g_bus, &pat, &start, 5000, count_cb, &stored, &next, &err), 0);
    if (p.accepted < 1 || stored < p.accepted * 400)
        fail_msg("accepted %d, failed %d, stored %d", p.accepted, p.failed, stored);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_resume_by_last_event_id_header_after_1000_events),
        cmocka_unit_test(test_resume_by_last_event_id_parameter_after_1000_events),
        cmocka_unit_test(test_replay_longer_than_the_limit_completes_across_reconnects),
        cmocka_unit_test(test_gateway_killed_and_restarted_delivers_every_event_once),
        cmocka_unit_test(test_nats_server_restart_mid_stream_loses_nothing),
        cmocka_unit_test(test_stalled_client_in_catch_up_on_jetstream_gets_everything_in_order),
        cmocka_unit_test(test_sigterm_acknowledges_in_flight_publishes_and_exits_zero),
        cmocka_unit_test(test_gateway_started_before_nats_serves_once_nats_is_up),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
