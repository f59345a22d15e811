/* test_gateway_limits.c - flow control and limits of the gateway, on the memory bus: a stalled
 * peer on the live path is cut off (with `overloaded`) without slowing a healthy client, a stalled
 * peer in catch-up is paused and loses nothing, a slow reader whose socket fills gets the rest once
 * it reads (the gateway's own writes fall back to its connection loop), a client that hangs up
 * with writes pending or a SIGTERM with writes pending end cleanly, and connection limits answer
 * SSE clients with 200 + retry: + `overloaded`. */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
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

#include "flovyn/buf.h"
#include "flovyn/units.h"
#include "gateway_fixture.h"

static const char *const H_JSON[] = {"X-Flovyn-Tenant: lim", "Content-Type: application/x-ndjson",
                                     NULL};
static const char *const H_LIM[] = {"X-Flovyn-Tenant: lim", NULL};

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* n lifecycle events of workflow wf with ~pad bytes of data each, in NDJSON batches */
static void publish_n(const fv_gateway *g, const char *wf, int from, int n, int pad, int batch,
                      int pause_ms)
{
    char *padding = malloc((size_t)pad + 1);
    memset(padding, 'p', (size_t)pad);
    padding[pad] = '\0';
    char url[256];
    snprintf(url, sizeof url, "%s/v1/events", g->base);
    for (int i = from; i < from + n;) {
        fv_buf b = FV_BUF_INIT;
        for (int k = 0; k < batch && i < from + n; k++, i++)
            fv_buf_printf(&b,
                          "{\"workflow_execution_id\":\"%s\",\"event_type\":\"task.progressed\","
                          "\"source\":\"s\",\"data\":{\"i\":%d,\"pad\":\"%s\"}}\n",
                          wf, i, padding);
        fv_http_resp r;
        assert_int_equal(fv_http_request("POST", url, H_JSON, b.data, b.len, &r), 0);
        if (r.status != 202)
            fail_msg("publish: %ld %s", r.status, r.body);
        fv_http_resp_free(&r);
        fv_buf_free(&b);
        if (pause_ms) {
            struct timespec ts = {0, pause_ms * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    free(padding);
}

static int count_occurrences(const char *hay, size_t n, const char *needle)
{
    int c = 0;
    size_t k = strlen(needle);
    for (const char *p = hay; (p = memmem(p, n - (size_t)(p - hay), needle, k)); p += k)
        c++;
    return c;
}

static void test_stalled_live_client_is_cut_off_without_delaying_a_healthy_one(void **state)
{
    (void)state;
    fv_gateway g = {0};
    const char *args[] = {"--auth", "none", "--queue-bytes", "256K", "--heartbeat", "1s", NULL};
    assert_int_equal(fv_gateway_start(&g, args), 0);
    int stalled = fv_test_stalled_client(g.port, "/v1/events/stream", H_LIM);
    assert_true(stalled >= 0);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/events/stream", g.base);
    fv_sse_client *healthy = fv_sse_open(url, H_LIM);
    for (int i = 0; i < 250 && fv_sse_first_retry(healthy) < 0; i++)
        fv_sse_wait(healthy, 1, 20);
    int64_t t0 = now_ms();
    /* ~1.5 MB in bursts of ~20 KB: far more than the stalled peer takes, while each burst fits
     * a healthy client's queue */
    publish_n(&g, "wf-live", 0, 4000, 400, 50, 5);
    int64_t published = now_ms();
    assert_int_equal(fv_sse_wait(healthy, 4000, 20000), 4000);
    int64_t lag = now_ms() - published;
    /* the healthy client is not held back by the stalled one: everything is there within one
     * heartbeat of the last publish (generous margin for a loaded machine) */
    if (lag > 1000 + 2000)
        fail_msg("healthy client got the last event %lld ms after publishing (publish took %lld)",
                 (long long)lag, (long long)(published - t0));
    /* the stalled client was closed as slow, and learns why once it reads */
    fv_http_resp r;
    snprintf(url, sizeof url, "%s/metrics", g.base);
    assert_int_equal(fv_http_request("GET", url, NULL, NULL, 0, &r), 0);
    assert_non_null(strstr(r.body, "flovyn_gateway_slow_client_disconnects_total 1"));
    fv_http_resp_free(&r);
    size_t n;
    char *got = fv_test_read_raw_body(stalled, "event: overloaded", 1, 10000, &n);
    assert_int_equal(count_occurrences(got, n, "event: overloaded"), 1);
    assert_true(count_occurrences(got, n, "event: task.progressed") < 4000);
    free(got);
    close(stalled);
    fv_sse_close(healthy);
    fv_gateway_cleanup(&g);
}

static void test_stalled_client_in_catch_up_is_paused_not_closed(void **state)
{
    (void)state;
    fv_gateway g = {0};
    const char *args[] = {"--auth", "none", "--queue-bytes", "16K", NULL};
    assert_int_equal(fv_gateway_start(&g, args), 0);
    publish_n(&g, "wf-catch", 0, 1000, 300, 200, 0); /* history first, ~20x the queue */
    int fd = fv_test_stalled_client(g.port, "/v1/workflow-executions/wf-catch/stream", H_LIM);
    assert_true(fd >= 0);
    struct timespec ts = {2, 0};
    nanosleep(&ts, NULL); /* never reads for a while: the replay must wait, not give up */
    size_t n;
    char *got = fv_test_read_raw_body(fd, "{\"i\":999,", 1, 40000, &n);
    assert_int_equal(count_occurrences(got, n, "event: task.progressed"), 1000);
    assert_int_equal(count_occurrences(got, n, "event: overloaded"), 0);
    /* every event exactly once, in order */
    int expect = 0;
    for (const char *p = got; (p = memmem(p, n - (size_t)(p - got), "{\"i\":", 5)); p += 5) {
        int i = atoi(p + 5);
        if (i != expect)
            fail_msg("event %d arrived where %d was expected", i, expect);
        expect++;
    }
    assert_int_equal(expect, 1000);
    free(got);
    close(fd);
    fv_gateway_cleanup(&g);
}

static void test_connection_limits_answer_sse_with_overloaded_and_retry(void **state)
{
    (void)state;
    fv_gateway g = {0};
    const char *args[] = {"--auth",
                          "none",
                          "--max-connections",
                          "3",
                          "--max-connections-per-tenant",
                          "2",
                          "--heartbeat",
                          "300ms",
                          NULL};
    assert_int_equal(fv_gateway_start(&g, args), 0);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/events/stream", g.base);
    const char *ha[] = {"X-Flovyn-Tenant: a", NULL};
    const char *hb[] = {"X-Flovyn-Tenant: b", NULL};
    const char *hc[] = {"X-Flovyn-Tenant: c", NULL};
    fv_sse_client *a1 = fv_sse_open(url, ha), *a2 = fv_sse_open(url, ha);
    for (int i = 0; i < 250 && (fv_sse_first_retry(a1) < 0 || fv_sse_first_retry(a2) < 0); i++)
        fv_sse_wait(a1, 1, 20);
    fv_sse_client *a3 = fv_sse_open(url, ha); /* over the per-tenant limit */
    assert_true(fv_sse_wait_closed(a3, 5000));
    assert_int_equal(fv_sse_status(a3), 200);
    assert_true(fv_sse_find(a3, "overloaded", 0) == 0);
    assert_true(fv_sse_first_retry(a3) >= 1000);
    fv_sse_client *b1 = fv_sse_open(url, hb); /* another tenant still fits */
    for (int i = 0; i < 250 && fv_sse_first_retry(b1) < 0; i++)
        fv_sse_wait(b1, 1, 20);
    assert_false(fv_sse_closed(b1));
    assert_int_equal(fv_sse_count(b1), 0);
    fv_sse_client *c1 = fv_sse_open(url, hc); /* over the total */
    assert_true(fv_sse_wait_closed(c1, 5000));
    assert_true(fv_sse_find(c1, "overloaded", 0) == 0);
    /* a closed stream frees its place once the next keep-alive finds the peer gone (a suspended
     * connection sees a disconnect only on write) */
    fv_sse_close(a1);
    struct timespec ts = {1, 0};
    nanosleep(&ts, NULL);
    fv_sse_client *a4 = fv_sse_open(url, ha);
    for (int i = 0; i < 250 && fv_sse_first_retry(a4) < 0 && !fv_sse_closed(a4); i++)
        fv_sse_wait(a4, 1, 20);
    assert_false(fv_sse_closed(a4));
    assert_int_equal(fv_sse_find(a4, "overloaded", 0), -1);
    fv_sse_close(a2);
    fv_sse_close(a3);
    fv_sse_close(a4);
    fv_sse_close(b1);
    fv_sse_close(c1);
    fv_gateway_cleanup(&g);
}

/* An idle stream writes only once per heartbeat, so a client that hangs up would hold its place
 * (and its tenant's slot) until then; the gateway notices the hang-up itself within about two
 * seconds. The heartbeat here is a minute: only that probe can free the slot in time. */
static void test_a_client_that_hangs_up_frees_its_place_before_any_write(void **state)
{
    (void)state;
    fv_gateway g = {0};
    const char *args[] = {"--auth", "none", "--max-connections-per-tenant", "1", "--heartbeat",
                          "60s",    NULL};
    assert_int_equal(fv_gateway_start(&g, args), 0);
    char url[256], murl[256];
    snprintf(url, sizeof url, "%s/v1/events/stream", g.base);
    snprintf(murl, sizeof murl, "%s/metrics", g.base);
    fv_sse_client *a1 = fv_sse_open(url, H_LIM);
    for (int i = 0; i < 250 && fv_sse_first_retry(a1) < 0; i++)
        fv_sse_wait(a1, 1, 20);
    assert_true(fv_sse_first_retry(a1) >= 0);
    fv_sse_close(a1);
    bool freed = false;
    int64_t t0 = now_ms();
    while (!freed && now_ms() - t0 < 8000) {
        fv_http_resp r;
        assert_int_equal(fv_http_request("GET", murl, NULL, NULL, 0, &r), 0);
        freed = strstr(r.body, "flovyn_gateway_open_streams{endpoint=\"tenant\"} 0") &&
                strstr(r.body, "flovyn_gateway_client_hangups_total 1");
        fv_http_resp_free(&r);
        if (!freed) {
            struct timespec ts = {0, 100 * 1000000L};
            nanosleep(&ts, NULL);
        }
    }
    assert_true(freed);
    fv_sse_client *a2 = fv_sse_open(url, H_LIM); /* the tenant's one place is free again */
    for (int i = 0; i < 250 && fv_sse_first_retry(a2) < 0 && !fv_sse_closed(a2); i++)
        fv_sse_wait(a2, 1, 20);
    assert_false(fv_sse_closed(a2));
    assert_int_equal(fv_sse_find(a2, "overloaded", 0), -1);
    fv_sse_close(a2);
    fv_gateway_cleanup(&g);
}

/* the value of a counter in /metrics (-1 when absent) */
static long long metric(const fv_gateway *g, const char *name)
{
    char url[256];
    snprintf(url, sizeof url, "%s/metrics", g->base);
    fv_http_resp r;
    assert_int_equal(fv_http_request("GET", url, NULL, NULL, 0, &r), 0);
    long long v = -1;
    char key[160];
    snprintf(key, sizeof key, "\n%s ", name);
    const char *p = strstr(r.body, key);
    if (p)
        v = atoll(p + strlen(key));
    fv_http_resp_free(&r);
    return v;
}

/* waits until the tenant endpoint has n open streams */
static void wait_open(const fv_gateway *g, long long n)
{
    int64_t t0 = now_ms();
    while (metric(g, "flovyn_gateway_open_streams{endpoint=\"tenant\"}") != n &&
           now_ms() - t0 < 5000)
        fv_sleep_ms(20);
    assert_int_equal(metric(g, "flovyn_gateway_open_streams{endpoint=\"tenant\"}"), n);
}

/* Waits until a client that never reads has its response's first bytes. The open-streams count
 * rises when a stream is registered, before its subscription starts; the response goes out only
 * after it started, and a tenant stream begins with the events stored from then on: an event
 * published between the two is, rightly, not part of the stream. */
static void wait_subscribed(int fd)
{
    struct pollfd p = {fd, POLLIN, 0};
    assert_int_equal(poll(&p, 1, 5000), 1);
}

/* waits until some write found a client's socket full (the counter passed `before`) */
static bool wait_socket_full(const fv_gateway *g, long long before)
{
    int64_t t0 = now_ms();
    while (metric(g, "flovyn_gateway_sse_socket_full_total") <= before && now_ms() - t0 < 5000)
        fv_sleep_ms(50);
    return metric(g, "flovyn_gateway_sse_socket_full_total") > before;
}

/* A gateway with a 4 MiB queue and two live tenant streams: `ok` reads as EventSource does, `fd`
 * never reads (a tiny receive buffer) */
static void start_with_reader_and_stalled(fv_gateway *g, fv_sse_client **ok, int *fd)
{
    const char *args[] = {"--auth", "none", "--queue-bytes", "4M", NULL};
    assert_int_equal(fv_gateway_start(g, args), 0);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/events/stream", g->base);
    *ok = fv_sse_open(url, H_LIM);
    for (int i = 0; i < 250 && fv_sse_first_retry(*ok) < 0; i++)
        fv_sse_wait(*ok, 1, 20);
    *fd = fv_test_stalled_client(g->port, "/v1/events/stream", H_LIM);
    assert_true(*fd >= 0);
    wait_open(g, 2);
    wait_subscribed(*fd);
}

/* The live path writes straight to the socket; a reader that stops long enough fills it. What did
 * not fit waits in the queue and goes out, in order, once the client reads again. */
static void test_a_slow_live_reader_gets_everything_after_its_socket_filled(void **state)
{
    (void)state;
    fv_gateway g = {0};
    const char *args[] = {"--auth", "none", "--queue-bytes", "32M", NULL};
    assert_int_equal(fv_gateway_start(&g, args), 0);
    int fd = fv_test_stalled_client(g.port, "/v1/events/stream", H_LIM);
    assert_true(fd >= 0);
    wait_open(&g, 1);
    wait_subscribed(fd); /* the stream is open and live */
    size_t n;
    long long full0 = metric(&g, "flovyn_gateway_sse_socket_full_total");
    publish_n(&g, "wf-slow", 0, 3000, 2000, 100, 0); /* ~6.3 MB: more than the socket holds */
    assert_true(wait_socket_full(&g, full0));
    char *got = fv_test_read_raw_body(fd, "{\"i\":2999,", 1, 60000, &n);
    assert_int_equal(count_occurrences(got, n, "event: task.progressed"), 3000);
    assert_int_equal(count_occurrences(got, n, "event: overloaded"), 0);
    int expect = 0;
    for (const char *p = got; (p = memmem(p, n - (size_t)(p - got), "{\"i\":", 5)); p += 5) {
        if (atoi(p + 5) != expect)
            fail_msg("event %d arrived where %d was expected", atoi(p + 5), expect);
        expect++;
    }
    assert_int_equal(expect, 3000);
    free(got);
    close(fd);
    fv_gateway_cleanup(&g);
}

/* A client that leaves while the gateway still has bytes queued for it: its stream ends, its
 * queue is released, and a healthy client on the same tenant gets every event. */
static void test_a_client_leaving_with_writes_pending_ends_and_others_go_on(void **state)
{
    (void)state;
    fv_gateway g = {0};
    fv_sse_client *ok;
    int fd;
    start_with_reader_and_stalled(&g, &ok, &fd);
    long long full0 = metric(&g, "flovyn_gateway_sse_socket_full_total");
    publish_n(&g, "wf-leave", 0, 300, 1000, 50, 0);
    wait_socket_full(&g, full0);
    close(fd); /* gone with bytes still queued for it */
    publish_n(&g, "wf-leave", 300, 100, 1000, 50, 0);
    assert_int_equal(fv_sse_wait(ok, 400, 20000), 400);
    wait_open(&g, 1);
    fv_sse_close(ok);
    fv_gateway_cleanup(&g);
}

/* SIGTERM while a stalled client still has bytes queued: the gateway ends every stream, gives up
 * on the stalled one after its flush wait, and exits 0; a healthy client is told to come back. */
static void test_sigterm_with_writes_pending_exits_zero(void **state)
{
    (void)state;
    fv_gateway g = {0};
    fv_sse_client *ok;
    int fd;
    start_with_reader_and_stalled(&g, &ok, &fd);
    publish_n(&g, "wf-term", 0, 300, 1000, 50, 0);
    assert_int_equal(fv_sse_wait(ok, 300, 20000), 300);
    int64_t t0 = now_ms();
    int st = fv_gateway_stop(&g, SIGTERM, 15000);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(now_ms() - t0 < 15000);
    assert_true(fv_sse_wait_closed(ok, 5000));
    assert_true(fv_sse_last_retry(ok) > 0); /* ended with a retry hint, not cut */
    fv_sse_close(ok);
    close(fd);
    fv_gateway_cleanup(&g);
}

static int count_fds(pid_t pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/fd", (int)pid);
    DIR *d = opendir(path);
    int n = 0;
    if (!d)
        return -1;
    while (readdir(d))
        n++;
    closedir(d);
    return n - 2;
}

/* An SSE stream leaves libmicrohttpd once its headers are out: from then on it holds one
 * descriptor (its socket), not two, and MHD's connection slot is free again. */
static void test_each_open_stream_holds_one_descriptor(void **state)
{
    (void)state;
    fv_gateway g = {0};
    const char *args[] = {"--auth", "none", NULL};
    assert_int_equal(fv_gateway_start(&g, args), 0);
    /* a keep-alive client that stays idle, as a publisher between posts does: MHD's idle checks
     * walk its connections oldest first and stop at the first one still open */
    int idle = fv_test_stalled_client(g.port, "/healthz", H_LIM);
    assert_true(idle >= 0);
    fv_sleep_ms(200);
    int base = count_fds(g.pid);
    enum { N = 200 };
    int fds[N];
    for (int i = 0; i < N; i++) {
        fds[i] = fv_test_stalled_client(g.port, "/v1/events/stream", H_LIM);
        assert_true(fds[i] >= 0);
    }
    wait_open(&g, N);
    int64_t t0 = now_ms();
    while (count_fds(g.pid) > base + N + 4 && now_ms() - t0 < 5000)
        fv_sleep_ms(20);
    int during = count_fds(g.pid);
    if (during > base + N + 4)
        fail_msg("%d streams hold %d descriptors (%d before)", N, during - base, base);
    for (int i = 0; i < N; i++)
        close(fds[i]);
    close(idle);
    wait_open(&g, 0);
    fv_gateway_cleanup(&g);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stalled_live_client_is_cut_off_without_delaying_a_healthy_one),
        cmocka_unit_test(test_stalled_client_in_catch_up_is_paused_not_closed),
        cmocka_unit_test(test_connection_limits_answer_sse_with_overloaded_and_retry),
        cmocka_unit_test(test_a_client_that_hangs_up_frees_its_place_before_any_write),
        cmocka_unit_test(test_a_slow_live_reader_gets_everything_after_its_socket_filled),
        cmocka_unit_test(test_a_client_leaving_with_writes_pending_ends_and_others_go_on),
        cmocka_unit_test(test_sigterm_with_writes_pending_exits_zero),
        cmocka_unit_test(test_each_open_stream_holds_one_descriptor),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
