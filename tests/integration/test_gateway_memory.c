/* test_gateway_memory.c - flovyn-gateway on its embedded memory bus (no NATS): ingest and SSE in
 * one process, driven by a real HTTP client over a socket. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "flovyn/buf.h"
#include "gateway_fixture.h"

static fv_gateway g_gw;
static const char *const H_ACME[] = {"X-Flovyn-Tenant: acme", NULL};
static const char *const H_ACME_JSON[] = {"X-Flovyn-Tenant: acme", "Content-Type: application/json",
                                          NULL};

static int setup(void **state)
{
    (void)state;
    const char *args[] = {"--auth",           "none", "--heartbeat", "500ms", "--max-items", "50",
                          "--memory-history", "20",   NULL};
    return fv_gateway_start(&g_gw, args);
}

static int teardown(void **state)
{
    (void)state;
    fv_gateway_cleanup(&g_gw);
    return 0;
}

static long post(const char *path, const char *const *headers, const char *body, fv_http_resp *out)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", g_gw.base, path);
    fv_http_resp r;
    assert_int_equal(fv_http_request("POST", url, headers, body, strlen(body), &r), 0);
    long st = r.status;
    if (out)
        *out = r;
    else
        fv_http_resp_free(&r);
    return st;
}

static void test_healthz_and_readyz_answer_on_the_memory_bus(void **state)
{
    (void)state;
    char url[128];
    fv_http_resp r;
    snprintf(url, sizeof url, "%s/readyz", g_gw.base);
    assert_int_equal(fv_http_request("GET", url, NULL, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    fv_http_resp_free(&r);
}

static void test_posted_event_reaches_tenant_stream_and_not_other_tenant(void **state)
{
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "%s/v1/events/stream", g_gw.base);
    fv_sse_client *a = fv_sse_open(url, H_ACME);
    const char *const hb[] = {"X-Flovyn-Tenant: other", NULL};
    fv_sse_client *b = fv_sse_open(url, hb);
    assert_true(fv_sse_wait_comments(a, 0, 0) >= 0);
    /* the stream is open once the first retry: arrived */
    for (int i = 0; i < 100 && (fv_sse_first_retry(a) < 0 || fv_sse_first_retry(b) < 0); i++)
        fv_sse_wait(a, 1, 20);
    long retry = fv_sse_first_retry(a);
    assert_in_range(retry, 1000, 3000);
    assert_int_equal(
        post("/v1/events", H_ACME_JSON,
             "{\"workflow_execution_id\":\"wf-m1\",\"event_type\":\"workflow.started\","
             "\"source\":\"test\",\"data\":{\"n\":0.10}}",
             NULL),
        202);
    assert_int_equal(fv_sse_wait(a, 1, 5000), 1);
    fv_sse_event e;
    assert_true(fv_sse_get(a, 0, &e));
    assert_string_equal(e.event, "workflow.started");
    assert_non_null(strstr(e.data, "\"data\":{\"n\":0.10}")); /* producer bytes, not reformatted */
    assert_non_null(strstr(e.data, "\"tenant_id\":\"acme\""));
    assert_true(strncmp(e.id, "v1.", 3) == 0);
    fv_sse_event_free(&e);
    assert_int_equal(fv_sse_wait(b, 1, 500), 0);
    fv_sse_close(a);
    fv_sse_close(b);
}

static void test_workflow_stream_merges_lifecycle_and_tokens_from_the_first_event(void **state)
{
    (void)state;
    assert_int_equal(
        post("/v1/events", H_ACME_JSON,
             "{\"workflow_execution_id\":\"wf-m2\",\"event_type\":\"workflow.started\","
             "\"source\":\"t\",\"data\":null}",
             NULL),
        202);
    assert_int_equal(post("/v1/workflow-executions/wf-m2/stream-events", H_ACME_JSON,
                          "[{\"sequence\":1,\"type\":\"token\",\"payload\":\"he\"},"
                          "{\"sequence\":2,\"type\":\"token\",\"payload\":\"llo\"},"
                          "{\"sequence\":3,\"type\":\"error\",\"payload\":{\"m\":\"x\"}}]",
                          NULL),
                     202);
    char url[256];
    snprintf(url, sizeof url, "%s/v1/workflow-executions/wf-m2/stream?close_on_terminal=true",
             g_gw.base);
    fv_sse_client *c = fv_sse_open(url, H_ACME);
    assert_int_equal(fv_sse_wait(c, 4, 5000), 4);
    const char *want[] = {"workflow.started", "token", "token", "stream_error"};
    for (size_t i = 0; i < 4; i++) {
        fv_sse_event e;
        assert_true(fv_sse_get(c, i, &e));
        assert_string_equal(e.event, want[i]);
        fv_sse_event_free(&e);
    }
    assert_int_equal(
        post("/v1/events", H_ACME_JSON,
             "{\"workflow_execution_id\":\"wf-m2\",\"event_type\":\"workflow.completed\","
             "\"source\":\"t\",\"data\":{}}",
             NULL),
        202);
    assert_true(fv_sse_wait_closed(c, 8000));
    assert_true(fv_sse_find(c, "workflow.completed", 0) == 4);
    assert_true(fv_sse_find(c, "end", 0) == 5);
    fv_sse_close(c);
}

static void test_bad_requests_get_json_errors(void **state)
{
    (void)state;
    fv_http_resp r;
    char url[256];
    const char *const plain[] = {"X-Flovyn-Tenant: acme", "Content-Type: text/plain", NULL};
    assert_int_equal(post("/v1/events", plain, "{}", NULL), 415);
    snprintf(url, sizeof url, "%s/v1/workflow-executions/a.b/stream", g_gw.base);
    assert_int_equal(fv_http_request("GET", url, H_ACME, NULL, 0, &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "\"code\":\"bad_request\""));
    assert_non_null(strstr(r.body, "workflow_execution_id"));
    fv_http_resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/events/stream?types=ta*", g_gw.base);
    assert_int_equal(fv_http_request("GET", url, H_ACME, NULL, 0, &r), 0);
    assert_int_equal(r.status, 400);
    assert_non_null(strstr(r.body, "types"));
    fv_http_resp_free(&r);
    /* a body over --max-body (default 1 MiB) */
    size_t n = 1100 * 1024;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    big[n] = '\0';
    assert_int_equal(post("/v1/events", H_ACME_JSON, big, NULL), 413);
    free(big);
}

static void test_history_pages_follow_the_cursor(void **state)
{
    (void)state;
    for (int i = 0; i < 5; i++) {
        char body[256];
        snprintf(body, sizeof body,
                 "{\"workflow_execution_id\":\"wf-h\",\"event_type\":\"task.created\","
                 "\"source\":\"t\",\"data\":{\"i\":%d}}",
                 i);
        assert_int_equal(post("/v1/events", H_ACME_JSON, body, NULL), 202);
    }
    char url[512];
    fv_http_resp r;
    snprintf(url, sizeof url, "%s/v1/events?workflow_execution_id=wf-h&limit=3", g_gw.base);
    assert_int_equal(fv_http_request("GET", url, H_ACME, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_non_null(strstr(r.body, "{\"i\":0}"));
    assert_non_null(strstr(r.body, "{\"i\":2}"));
    assert_null(strstr(r.body, "{\"i\":3}"));
    char *next = strstr(r.body, "\"next\":\"");
    assert_non_null(next);
    char cur[80];
    sscanf(next + 8, "%79[^\"]", cur);
    fv_http_resp_free(&r);
    snprintf(url, sizeof url, "%s/v1/events?workflow_execution_id=wf-h&after=%s", g_gw.base, cur);
    assert_int_equal(fv_http_request("GET", url, H_ACME, NULL, 0, &r), 0);
    assert_int_equal(r.status, 200);
    assert_null(strstr(r.body, "{\"i\":2}"));
    assert_non_null(strstr(r.body, "{\"i\":3}"));
    assert_non_null(strstr(r.body, "{\"i\":4}"));
    fv_http_resp_free(&r);
}

static void publish_progress(const char *wf, int from, int n)
{
    fv_buf b = FV_BUF_INIT;
    for (int i = from; i < from + n; i++)
        fv_buf_printf(&b,
                      "{\"workflow_execution_id\":\"%s\",\"event_type\":\"task.progressed\","
                      "\"source\":\"t\",\"data\":{\"i\":%d}}\n",
                      wf, i);
    assert_int_equal(post("/v1/events", H_ACME_JSON, b.data, NULL), 202);
    fv_buf_free(&b);
}

static void test_items_per_request_limit_is_413(void **state)
{
    (void)state;
    fv_buf b = FV_BUF_INIT;
    for (int i = 0; i < 51; i++)
        fv_buf_puts(&b, "{\"event_type\":\"task.created\",\"source\":\"t\"}\n");
    fv_http_resp r;
    assert_int_equal(post("/v1/events", H_ACME_JSON, b.data, &r), 413);
    assert_non_null(strstr(r.body, "max-items"));
    fv_http_resp_free(&r);
    fv_buf_free(&b);
}

static void test_cursor_before_retained_history_gets_gap_then_the_oldest_retained(void **state)
{
    (void)state;
    publish_progress("wf-gap", 0, 5);
    char url[512];
    snprintf(url, sizeof url, "%s/v1/workflow-executions/wf-gap/stream", g_gw.base);
    fv_sse_client *c = fv_sse_open(url, H_ACME);
    assert_int_equal(fv_sse_wait(c, 5, 5000), 5);
    fv_sse_event first;
    assert_true(fv_sse_get(c, 0, &first));
    fv_sse_close(c);
    publish_progress("wf-gap", 5, 40); /* the tenant keeps 20 per source: i=0..24 are gone */
    snprintf(url, sizeof url, "%s/v1/workflow-executions/wf-gap/stream?last_event_id=%s", g_gw.base,
             first.id);
    c = fv_sse_open(url, H_ACME);
    assert_int_equal(fv_sse_wait(c, 21, 5000), 21);
    fv_sse_event e;
    assert_true(fv_sse_get(c, 0, &e));
    assert_string_equal(e.event, "gap");
    char want[256];
    snprintf(want, sizeof want, "{\"requested\":\"%s\",\"resumed_from\":\"", first.id);
    assert_non_null(strstr(e.data, want));
    fv_sse_event_free(&e);
    assert_true(fv_sse_get(c, 1, &e));
    assert_non_null(strstr(e.data, "{\"i\":25}")); /* the oldest retained */
    fv_sse_event_free(&e);
    assert_true(fv_sse_get(c, 20, &e));
    assert_non_null(strstr(e.data, "{\"i\":44}"));
    fv_sse_event_free(&e);
    fv_sse_event_free(&first);
    fv_sse_close(c);
}

static void test_until_in_the_past_replays_then_ends(void **state)
{
    (void)state;
    publish_progress("wf-until", 0, 3);
    struct timespec ts = {0, 30 * 1000000L};
    nanosleep(&ts, NULL);
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    long long now_ms = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    char url[512];
    snprintf(url, sizeof url, "%s/v1/workflow-executions/wf-until/stream?until=%lld", g_gw.base,
             now_ms);
    fv_sse_client *c = fv_sse_open(url, H_ACME);
    assert_true(fv_sse_wait_closed(c, 5000));
    assert_int_equal(fv_sse_find(c, "task.progressed", 0), 0);
    assert_int_equal(fv_sse_find(c, "end", 0), 3);
    fv_sse_close(c);
}

static void test_an_event_larger_than_the_queue_is_delivered(void **state)
{
    (void)state;
    size_t n = 600 * 1024; /* more than the default 256 KiB queue, less than --max-body */
    char *body = malloc(n + 200);
    int k = snprintf(body, 200,
                     "{\"workflow_execution_id\":\"wf-big\",\"event_type\":\"task.output\","
                     "\"source\":\"t\",\"data\":\"");
    memset(body + k, 'z', n);
    strcpy(body + k + n, "\"}");
    char url[256];
    snprintf(url, sizeof url, "%s/v1/workflow-executions/wf-big/stream", g_gw.base);
    fv_sse_client *c = fv_sse_open(url, H_ACME);
    for (int i = 0; i < 250 && fv_sse_first_retry(c) < 0; i++)
        fv_sse_wait(c, 1, 20);
    assert_int_equal(post("/v1/events", H_ACME_JSON, body, NULL), 202);
    assert_int_equal(fv_sse_wait(c, 1, 5000), 1);
    fv_sse_event e;
    assert_true(fv_sse_get(c, 0, &e));
    assert_true(strlen(e.data) > n);
    fv_sse_event_free(&e);
    fv_sse_close(c);
    free(body);
}

static void test_sigterm_ends_streams_with_retry_and_exits_zero(void **state)
{
    (void)state;
    char url[256];
    snprintf(url, sizeof url, "%s/v1/events/stream", g_gw.base);
    fv_sse_client *c = fv_sse_open(url, H_ACME);
    assert_true(fv_sse_wait_comments(c, 1, 3000) >= 1); /* heartbeats arrive */
    int st = fv_gateway_stop(&g_gw, SIGTERM, 10000);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    assert_true(fv_sse_wait_closed(c, 3000));
    /* the drain sent a second retry: before closing */
    assert_true(fv_sse_last_retry(c) >= 1000);
    fv_sse_close(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_healthz_and_readyz_answer_on_the_memory_bus),
        cmocka_unit_test(test_posted_event_reaches_tenant_stream_and_not_other_tenant),
        cmocka_unit_test(test_workflow_stream_merges_lifecycle_and_tokens_from_the_first_event),
        cmocka_unit_test(test_bad_requests_get_json_errors),
        cmocka_unit_test(test_history_pages_follow_the_cursor),
        cmocka_unit_test(test_items_per_request_limit_is_413),
        cmocka_unit_test(test_cursor_before_retained_history_gets_gap_then_the_oldest_retained),
        cmocka_unit_test(test_until_in_the_past_replays_then_ends),
        cmocka_unit_test(test_an_event_larger_than_the_queue_is_delivered),
        cmocka_unit_test(test_sigterm_ends_streams_with_retry_and_exits_zero),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
