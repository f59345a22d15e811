/* test_gateway_stream.c - flovyn-gateway on JetStream (a real nats-server), every SSE endpoint and
 * parameter, auth errors and tenant isolation, driven over sockets with libcurl. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>

#include "auth.h"
#include "fixture.h"
#include "flovyn/bus.h"
#include "gateway_fixture.h"

#define SECRET "test-secret-0123456789-abcdefghijklmnop"

static fv_nats_server g_nats;
static fv_gateway g_gw;
static char *g_tok_a, *g_tok_b, *g_tok_read, *g_tok_write, *g_tok_bad;
static char g_auth_a[1200], g_auth_b[1200];

static char *mint(const char *tenant, int64_t ttl_ms, const char *scope)
{
    char *t = NULL;
    fv_err err = {{0}};
    if (fv_auth_mint_hs256(SECRET, strlen(SECRET), tenant, ttl_ms, scope, NULL, &t, &err) != 0)
        fail_msg("mint: %s", err.msg);
    return t;
}

static int setup(void **state)
{
    (void)state;
    if (fv_nats_start(&g_nats) != 0)
        return -1;
    const char *secret = fv_gateway_write_secret(&g_gw, SECRET);
    char sf[300];
    snprintf(sf, sizeof sf, "%s", secret);
    const char *args[] = {"--nats-url", g_nats.url,    "--provision", "--jwt-secret-file",
                          sf,           "--heartbeat", "1s",          "--ingest-rate-per-tenant",
                          "300",        "--max-body",  "65536",       "--terminal-wait",
                          "2s",         NULL};
    if (fv_gateway_start(&g_gw, args) != 0)
        return -1;
    g_tok_a = mint("tenant-a", 3600000, NULL);
    g_tok_b = mint("tenant-b", 3600000, NULL);
    g_tok_read = mint("tenant-a", 3600000, "events:read");
    g_tok_write = mint("tenant-a", 3600000, "events:write");
    char *t = mint("tenant-a", 3600000, NULL);
    t[strlen(t) - 3] = t[strlen(t) - 3] == 'A' ? 'B' : 'A'; /* break the signature */
    g_tok_bad = t;
    snprintf(g_auth_a, sizeof g_auth_a, "Authorization: Bearer %s", g_tok_a);
    snprintf(g_auth_b, sizeof g_auth_b, "Authorization: Bearer %s", g_tok_b);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fv_gateway_cleanup(&g_gw);
    fv_nats_cleanup(&g_nats);
    free(g_tok_a);
    free(g_tok_b);
    free(g_tok_read);
    free(g_tok_write);
    free(g_tok_bad);
    return 0;
}

static long request(const char *method, const char *path, const char *auth, const char *ctype,
                    const char *body, fv_http_resp *out)
{
    char url[2304], ct[128]; /* a path of up to 1,199 bytes plus the base */
    snprintf(url, sizeof url, "%s%s", g_gw.base, path);
    snprintf(ct, sizeof ct, "Content-Type: %s", ctype ? ctype : "application/json");
    const char *h[] = {auth ? auth : "X-None: 1", ct, NULL};
    fv_http_resp r;
    assert_int_equal(fv_http_request(method, url, h, body, body ? strlen(body) : 0, &r), 0);
    long st = r.status;
    if (out)
        *out = r;
    else
        fv_http_resp_free(&r);
    return st;
}

static void publish(const char *auth, const char *path, const char *body)
{
    fv_http_resp r;
    long st = request("POST", path, auth, NULL, body, &r);
    if (st != 202)
        fail_msg("POST %s -> %ld %s", path, st, r.body);
    fv_http_resp_free(&r);
}

static fv_sse_client *open_stream(const char *path, const char *auth)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", g_gw.base, path);
    const char *h[] = {auth, NULL};
    fv_sse_client *c = fv_sse_open(url, h);
    /* open once the first retry: arrived (the subscription exists by then) */
    for (int i = 0; i < 250 && fv_sse_first_retry(c) < 0 && !fv_sse_closed(c); i++)
        fv_sse_wait(c, 1, 20);
    if (fv_sse_first_retry(c) < 0)
        fail_msg("stream %s did not open (status %ld)", path, fv_sse_status(c));
    return c;
}

static void expect_events(fv_sse_client *c, const char *const *names, size_t n)
{
    size_t got = fv_sse_wait(c, n, 10000);
    if (got < n)
        fail_msg("expected %zu events, got %zu", n, got);
    for (size_t i = 0; i < n; i++) {
        fv_sse_event e;
        assert_true(fv_sse_get(c, i, &e));
        if (strcmp(e.event, names[i]) != 0)
            fail_msg("event %zu is %s, expected %s", i, e.event, names[i]);
        fv_sse_event_free(&e);
    }
    /* and nothing else shows up */
    assert_int_equal(fv_sse_wait(c, n + 1, 300), n);
}

static void test_tenant_stream_types_filter_selects_by_category_wildcard_and_kind(void **state)
{
    (void)state;
    fv_sse_client *all = open_stream("/v1/events/stream", g_auth_a);
    fv_sse_client *cat = open_stream("/v1/events/stream?types=TASK", g_auth_a);
    fv_sse_client *wild = open_stream("/v1/events/stream?types=*.failed", g_auth_a);
    fv_sse_client *kind = open_stream("/v1/events/stream?types=tokens", g_auth_a);
    fv_sse_client *exact =
        open_stream("/v1/events/stream?types=%20workflow.started%20,progress", g_auth_a);
    fv_sse_client *narrow = open_stream("/v1/events/stream?workflow_execution_id=wf-t2", g_auth_a);
    fv_sse_client *src = open_stream("/v1/events/stream?source=worker:w-9", g_auth_a);
    publish(g_auth_a, "/v1/events",
            "{\"workflow_execution_id\":\"wf-t1\",\"event_type\":\"workflow.started\","
            "\"source\":\"s\",\"data\":{}}\n"
            "{\"workflow_execution_id\":\"wf-t1\",\"task_execution_id\":\"k1\","
            "\"event_type\":\"task.created\",\"source\":\"worker:w-9\",\"data\":{}}\n"
            "{\"workflow_execution_id\":\"wf-t1\",\"task_execution_id\":\"k1\","
            "\"event_type\":\"task.failed\",\"source\":\"s\",\"data\":{}}\n"
            "{\"workflow_execution_id\":\"wf-t2\",\"event_type\":\"workflow.failed\","
            "\"source\":\"s\",\"data\":{}}");
    publish(g_auth_a, "/v1/workflow-executions/wf-t1/stream-events",
            "{\"sequence\":1,\"type\":\"TOKEN\",\"payload\":\"x\"}");
    const char *e_all[] = {"workflow.started", "task.created", "task.failed", "workflow.failed"};
    expect_events(all, e_all, 4); /* no `types`: lifecycle only on the tenant stream */
    const char *e_cat[] = {"task.created", "task.failed"};
    expect_events(cat, e_cat, 2);
    const char *e_wild[] = {"task.failed", "workflow.failed"};
    expect_events(wild, e_wild, 2);
    const char *e_kind[] = {"token"};
    expect_events(kind, e_kind, 1);
    const char *e_exact[] = {"workflow.started"};
    expect_events(exact, e_exact, 1);
    const char *e_narrow[] = {"workflow.failed"};
    expect_events(narrow, e_narrow, 1);
    const char *e_src[] = {"task.created"};
    expect_events(src, e_src, 1);
    fv_sse_close(all);
    fv_sse_close(cat);
    fv_sse_close(wild);
    fv_sse_close(kind);
    fv_sse_close(exact);
    fv_sse_close(narrow);
    fv_sse_close(src);
}

static void test_workflow_stream_replays_the_run_merged_and_ends_on_terminal(void **state)
{
    (void)state;
    publish(g_auth_a, "/v1/events",
            "{\"workflow_execution_id\":\"wf-m\",\"event_type\":\"workflow.started\","
            "\"source\":\"s\",\"data\":{\"big\":12345678901234567890,\"f\":1e400}}");
    publish(g_auth_a, "/v1/workflow-executions/wf-m/stream-events",
            "[{\"sequence\":1,\"type\":\"token\",\"payload\":\"He\"},"
            "{\"sequence\":2,\"type\":\"progress\",\"payload\":{\"pct\":50}},"
            "{\"workflowExecutionId\":\"wf-m\",\"sequence\":3,\"type\":\"ERROR\","
            "\"payload\":\"{\\\"e\\\":1}\",\"timestampMs\":1}]");
    /* a late client sees the whole run, merged */
    fv_sse_client *c =
        open_stream("/v1/workflow-executions/wf-m/stream?close_on_terminal=true", g_auth_a);
    assert_int_equal(fv_sse_wait(c, 4, 10000), 4);
    fv_sse_event e;
    assert_true(fv_sse_get(c, 0, &e));
    assert_string_equal(e.event, "workflow.started");
    assert_non_null(strstr(e.data, "12345678901234567890")); /* passed through, not rounded */
    assert_non_null(strstr(e.data, "1e400"));
    fv_sse_event_free(&e);
    assert_true(fv_sse_get(c, 3, &e));
    assert_string_equal(e.event, "stream_error");
    assert_non_null(strstr(e.data, "\"payload\":{\"e\":1}"));
    fv_sse_event_free(&e);
    publish(g_auth_a, "/v1/workflow-executions/wf-m/stream-events",
            "{\"sequence\":4,\"type\":\"token\",\"payload\":\"llo\"}");
    publish(g_auth_a, "/v1/events",
            "{\"workflow_execution_id\":\"wf-m\",\"event_type\":\"workflow.completed\","
            "\"source\":\"s\",\"data\":{}}");
    assert_true(fv_sse_wait_closed(c, 8000));
    /* `end` comes last, after the terminal event and after the token published before it (the
     * two sources may interleave either way on the live path) */
    long n = (long)fv_sse_count(c);
    long term = fv_sse_find(c, "workflow.completed", 0);
    long end = fv_sse_find(c, "end", 0);
    assert_int_equal(end, n - 1);
    assert_true(term >= 4 && term < end);
    bool llo = false;
    for (long i = 4; i < end; i++) {
        assert_true(fv_sse_get(c, (size_t)i, &e));
        llo = llo || strstr(e.data, "\"payload\":\"llo\"") != NULL;
        fv_sse_event_free(&e);
    }
    assert_true(llo);
    fv_sse_close(c);
}

static void test_task_stream_has_the_task_lifecycle_and_its_stream_events(void **state)
{
    (void)state;
    fv_sse_client *c = open_stream("/v1/task-executions/k-77/stream", g_auth_a);
    publish(g_auth_a, "/v1/events",
            "[{\"workflow_execution_id\":\"wf-k\",\"task_execution_id\":\"k-77\","
            "\"event_type\":\"task.started\",\"source\":\"s\",\"data\":{}},"
            "{\"workflow_execution_id\":\"wf-k\",\"task_execution_id\":\"k-78\","
            "\"event_type\":\"task.started\",\"source\":\"s\",\"data\":{}}]");
    publish(g_auth_a, "/v1/workflow-executions/wf-k/stream-events",
            "{\"task_execution_id\":\"k-77\",\"sequence\":1,\"type\":\"data\",\"payload\":[1]}\n"
            "{\"task_execution_id\":\"k-78\",\"sequence\":1,\"type\":\"data\",\"payload\":[2]}");
    const char *want[] = {"task.started", "data"};
    expect_events(c, want, 2);
    fv_sse_event e;
    assert_true(fv_sse_get(c, 1, &e));
    assert_non_null(strstr(e.data, "\"payload\":[1]"));
    fv_sse_event_free(&e);
    fv_sse_close(c);
}

static void test_consolidated_stream_follows_grandchildren_that_start_later(void **state)
{
    (void)state;
    publish(g_auth_a, "/v1/events",
            "{\"workflow_execution_id\":\"root-1\",\"event_type\":\"workflow.started\","
            "\"source\":\"s\",\"data\":{}}");
    fv_sse_client *c = open_stream("/v1/workflow-executions/root-1/stream/consolidated", g_auth_a);
    publish(g_auth_a, "/v1/events",
            "{\"workflow_execution_id\":\"child-1\",\"parent_workflow_execution_id\":\"root-1\","
            "\"event_type\":\"workflow.started\",\"source\":\"s\",\"data\":{}}\n"
            "{\"workflow_execution_id\":\"other-1\",\"event_type\":\"workflow.started\","
            "\"source\":\"s\",\"data\":{}}");
    assert_int_equal(fv_sse_wait(c, 2, 5000), 2);
    publish(g_auth_a, "/v1/events",
            "{\"workflow_execution_id\":\"grand-1\",\"parent_workflow_execution_id\":\"child-1\","
            "\"event_type\":\"workflow.started\",\"source\":\"s\",\"data\":{}}\n"
            "{\"workflow_execution_id\":\"grand-1\",\"event_type\":\"task.created\","
            "\"source\":\"s\",\"data\":{}}");
    /* a descendant's stream events are followed from its first lifecycle event on (the live
     * path does not order the two sources against each other) */
    assert_int_equal(fv_sse_wait(c, 4, 5000), 4);
    publish(g_auth_a, "/v1/workflow-executions/grand-1/stream-events",
            "{\"sequence\":1,\"type\":\"token\",\"payload\":\"g\"}");
    assert_int_equal(fv_sse_wait(c, 5, 8000), 5);
    assert_int_equal(fv_sse_wait(c, 6, 300), 5); /* other-1 never shows up */
    const char *wf[] = {"root-1", "child-1", "grand-1", "grand-1", "grand-1"};
    for (size_t i = 0; i < 5; i++) {
        fv_sse_event e;
        assert_true(fv_sse_get(c, i, &e));
        char needle[64];
        snprintf(needle, sizeof needle, "\"workflow_execution_id\":\"%s\"", wf[i]);
        if (!strstr(e.data, needle))
            fail_msg("event %zu: %s lacks %s", i, e.data, needle);
        fv_sse_event_free(&e);
    }
    /* a resume from the first event rebuilds the descendant set and still follows grand-1 */
    fv_sse_event first;
    assert_true(fv_sse_get(c, 0, &first));
    char path[256];
    snprintf(path, sizeof path,
             "/v1/workflow-executions/root-1/stream/consolidated?last_event_id=%s", first.id);
    fv_sse_event_free(&first);
    fv_sse_close(c);
    c = open_stream(path, g_auth_a);
    assert_int_equal(fv_sse_wait(c, 4, 8000), 4);
    assert_int_equal(fv_sse_wait(c, 5, 300), 4);
    fv_sse_close(c);
}

static void test_tenant_isolation_nothing_of_b_reaches_a_and_a_writes_nothing_to_b(void **state)
{
    (void)state;
    fv_sse_client *a_wf = open_stream("/v1/workflow-executions/shared-wf/stream", g_auth_a);
    fv_sse_client *a_all = open_stream("/v1/events/stream?types=%3E,token", g_auth_a);
    fv_sse_client *b_all = open_stream("/v1/events/stream?types=>,token", g_auth_b);
    /* B writes into a workflow id A also asks for */
    publish(g_auth_b, "/v1/events",
            "{\"workflow_execution_id\":\"shared-wf\",\"event_type\":\"workflow.started\","
            "\"source\":\"b\",\"data\":{\"secret\":\"of-b\"}}");
    publish(g_auth_b, "/v1/workflow-executions/shared-wf/stream-events",
            "{\"sequence\":1,\"type\":\"token\",\"payload\":\"b-token\"}");
    assert_int_equal(fv_sse_wait(b_all, 2, 5000), 2);
    /* A tries to write into B: tenant in the body, in a header, in the query */
    fv_http_resp r;
    const char *const hdrs[] = {g_auth_a, "Content-Type: application/json",
                                "X-Flovyn-Tenant: tenant-b", NULL};
    char url[512];
    snprintf(url, sizeof url, "%s/v1/events?tenant_id=tenant-b", g_gw.base);
    const char *body = "{\"tenant_id\":\"tenant-b\",\"workflow_execution_id\":\"shared-wf\","
                       "\"event_type\":\"workflow.failed\",\"source\":\"a\",\"data\":{}}";
    assert_int_equal(fv_http_request("POST", url, hdrs, body, strlen(body), &r), 0);
    assert_int_equal(r.status, 403);
    assert_non_null(strstr(r.body, "\"code\":\"forbidden\""));
    fv_http_resp_free(&r);
    const char *sbody = "{\"tenant_id\":\"tenant-b\",\"sequence\":9,\"type\":\"token\","
                        "\"payload\":\"a\"}";
    snprintf(url, sizeof url, "%s/v1/workflow-executions/shared-wf/stream-events", g_gw.base);
    assert_int_equal(fv_http_request("POST", url, hdrs, sbody, strlen(sbody), &r), 0);
    assert_int_equal(r.status, 403);
    fv_http_resp_free(&r);
    /* the header is ignored in jwt mode: this lands in A, not B */
    publish(g_auth_a, "/v1/events",
            "{\"workflow_execution_id\":\"shared-wf\",\"event_type\":\"workflow.started\","
            "\"source\":\"a\",\"data\":{}}");
    assert_int_equal(fv_sse_wait(a_wf, 1, 5000), 1);
    fv_sse_event e;
    assert_true(fv_sse_get(a_wf, 0, &e));
    assert_null(strstr(e.data, "of-b"));
    assert_non_null(strstr(e.data, "\"tenant_id\":\"tenant-a\""));
    fv_sse_event_free(&e);
    assert_int_equal(fv_sse_wait(a_wf, 2, 300), 1);
    assert_int_equal(fv_sse_wait(a_all, 1, 3000), 1);
    assert_int_equal(fv_sse_wait(a_all, 2, 300), 1);
    assert_int_equal(fv_sse_wait(b_all, 3, 300), 2); /* nothing of A reached B */
    /* wildcards, dots and traversal in ids are refused, never interpreted */
    const char *bad[] = {"/v1/workflow-executions/*/stream",
                         "/v1/workflow-executions/%3E/stream",
                         "/v1/workflow-executions/a.b/stream",
                         "/v1/workflow-executions/%2E%2E/stream",
                         "/v1/workflow-executions/shared%2Ewf/stream",
                         "/v1/events/stream?workflow_execution_id=*",
                         "/v1/events/stream?workflow_execution_id=tenant-b.shared-wf",
                         "/v1/events?workflow_execution_id=%3E"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        long st = request("GET", bad[i], g_auth_a, NULL, NULL, &r);
        if (st != 400)
            fail_msg("%s -> %ld %s", bad[i], st, r.body);
        fv_http_resp_free(&r);
    }
    /* history: only A's */
    assert_int_equal(request("GET", "/v1/events?workflow_execution_id=shared-wf&types=%3E,token",
                             g_auth_a, NULL, NULL, &r),
                     200);
    assert_null(strstr(r.body, "of-b"));
    assert_null(strstr(r.body, "b-token"));
    assert_non_null(strstr(r.body, "tenant-a"));
    fv_http_resp_free(&r);
    fv_sse_close(a_wf);
    fv_sse_close(a_all);
    fv_sse_close(b_all);
}

static void test_auth_and_request_errors_have_the_contract_status_codes(void **state)
{
    (void)state;
    fv_http_resp r;
    char h[1200];
    assert_int_equal(request("GET", "/v1/events", NULL, NULL, NULL, &r), 401);
    assert_non_null(strstr(r.body, "\"code\":\"unauthorized\""));
    fv_http_resp_free(&r);
    snprintf(h, sizeof h, "Authorization: Bearer %s", g_tok_bad);
    assert_int_equal(request("GET", "/v1/events/stream", h, NULL, NULL, NULL), 401);
    snprintf(h, sizeof h, "Authorization: Bearer %s", g_tok_read);
    assert_int_equal(request("POST", "/v1/events", h, NULL, "{}", NULL), 403);
    snprintf(h, sizeof h, "Authorization: Bearer %s", g_tok_write);
    assert_int_equal(request("GET", "/v1/events", h, NULL, NULL, NULL), 403);
    /* access_token in the query works for a GET (EventSource cannot send headers) */
    char path[1200];
    snprintf(path, sizeof path, "/v1/events?access_token=%s", g_tok_a);
    assert_int_equal(request("GET", path, NULL, NULL, NULL, NULL), 200);
    assert_int_equal(request("POST", "/v1/events", g_auth_a, "text/plain", "{}", NULL), 415);
    assert_int_equal(request("POST", "/v1/events", g_auth_a, NULL, "{nope", NULL), 400);
    assert_int_equal(
        request("GET", "/v1/events/stream?last_event_id=v9.1.1.1", g_auth_a, NULL, NULL, NULL),
        400);
    /* per item: one bad, one good -> 202 with both results */
    assert_int_equal(request("POST", "/v1/events", g_auth_a, NULL,
                             "[{\"event_type\":\"Bad Type\",\"source\":\"s\"},"
                             "{\"event_type\":\"task.created\",\"source\":\"s\",\"data\":1}]",
                             &r),
                     202);
    assert_non_null(strstr(r.body, "{\"index\":0,\"error\":{\"code\":\"invalid\""));
    assert_non_null(strstr(r.body, "{\"index\":1,\"id\":"));
    fv_http_resp_free(&r);
    /* items that are not objects, and an NDJSON line that is not JSON, each say why */
    assert_int_equal(request("POST", "/v1/events", g_auth_a, NULL,
                             "[7,{\"event_type\":\"task.created\",\"source\":\"s\"}]", &r),
                     202);
    assert_non_null(strstr(r.body, "{\"index\":0,\"error\":{\"code\":\"invalid\",\"message\":"
                                   "\"item must be a JSON object\"}}"));
    fv_http_resp_free(&r);
    assert_int_equal(request("POST", "/v1/events", g_auth_a, "application/x-ndjson",
                             "{\"event_type\":\"task.created\",\"source\":\"s\"}\n{oops\n", &r),
                     202);
    assert_non_null(strstr(r.body, "{\"index\":0,\"id\":"));
    assert_non_null(
        strstr(r.body, "{\"index\":1,\"error\":{\"code\":\"invalid\",\"message\":\"line 2: "));
    fv_http_resp_free(&r);
    /* the same id twice is stored once */
    const char *dup = "{\"id\":\"dup-1\",\"event_type\":\"task.created\",\"source\":\"s\"}";
    assert_int_equal(request("POST", "/v1/events", g_auth_a, NULL, dup, NULL), 202);
    assert_int_equal(request("POST", "/v1/events", g_auth_a, NULL, dup, &r), 202);
    assert_non_null(strstr(r.body, "\"duplicate\":true"));
    fv_http_resp_free(&r);
    /* 413 over --max-body (64 KiB) */
    size_t n = 70000;
    char *big = malloc(n + 1);
    memset(big, ' ', n);
    memcpy(big, "{\"event_type\":\"task.created\",\"source\":\"s\",\"data\":\"", 48);
    big[n - 2] = '"';
    big[n - 1] = '}';
    big[n] = '\0';
    assert_int_equal(request("POST", "/v1/events", g_auth_a, NULL, big, NULL), 413);
    free(big);
    /* 429 over --ingest-rate-per-tenant (300/s) with Retry-After; another tenant is unaffected */
    fv_buf b = FV_BUF_INIT;
    for (int i = 0; i < 250; i++)
        fv_buf_printf(&b, "{\"event_type\":\"task.created\",\"source\":\"s\",\"data\":%d}\n", i);
    assert_int_equal(request("POST", "/v1/events", g_auth_a, "application/x-ndjson", b.data, NULL),
                     202);
    assert_int_equal(request("POST", "/v1/events", g_auth_a, "application/x-ndjson", b.data, &r),
                     429);
    char ra[16];
    assert_true(fv_http_resp_header(&r, "Retry-After", ra, sizeof ra));
    assert_true(atoi(ra) >= 1);
    fv_http_resp_free(&r);
    assert_int_equal(request("POST", "/v1/events", g_auth_b, "application/x-ndjson", b.data, NULL),
                     202);
    fv_buf_free(&b);
}

static void test_heartbeats_arrive_and_expired_token_closes_with_auth_expired(void **state)
{
    (void)state;
    char *t = mint("tenant-a", 2500, NULL);
    char h[1200];
    snprintf(h, sizeof h, "Authorization: Bearer %s", t);
    fv_sse_client *c = open_stream("/v1/events/stream", h);
    assert_true(fv_sse_wait_comments(c, 1, 3000) >= 1);
    assert_true(fv_sse_wait_closed(c, 6000));
    assert_true(fv_sse_find(c, "auth_expired", 0) >= 0);
    fv_sse_close(c);
    free(t);
}

static void test_history_since_until_and_types(void **state)
{
    (void)state;
    publish(g_auth_a, "/v1/events",
            "{\"workflow_execution_id\":\"wf-hist\",\"event_type\":\"task.created\","
            "\"source\":\"s\",\"data\":{\"n\":1}}");
    struct timespec ts = {0, 50 * 1000000L};
    nanosleep(&ts, NULL);
    char path[256];
    fv_http_resp r;
    long long mid = 0;
    {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        mid = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    }
    nanosleep(&ts, NULL);
    publish(g_auth_a, "/v1/events",
            "{\"workflow_execution_id\":\"wf-hist\",\"event_type\":\"task.completed\","
            "\"source\":\"s\",\"data\":{\"n\":2}}");
    snprintf(path, sizeof path, "/v1/events?workflow_execution_id=wf-hist&since=%lld", mid);
    assert_int_equal(request("GET", path, g_auth_a, NULL, NULL, &r), 200);
    if (strstr(r.body, "{\"n\":1}") || !strstr(r.body, "{\"n\":2}"))
        fail_msg("since=%lld: %s", mid, r.body);
    fv_http_resp_free(&r);
    snprintf(path, sizeof path, "/v1/events?workflow_execution_id=wf-hist&until=%lld", mid);
    assert_int_equal(request("GET", path, g_auth_a, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "{\"n\":1}"));
    assert_null(strstr(r.body, "{\"n\":2}"));
    fv_http_resp_free(&r);
    assert_int_equal(request("GET", "/v1/events?workflow_execution_id=wf-hist&types=task.completed",
                             g_auth_a, NULL, NULL, &r),
                     200);
    assert_null(strstr(r.body, "{\"n\":1}"));
    assert_non_null(strstr(r.body, "{\"n\":2}"));
    fv_http_resp_free(&r);
    assert_int_equal(request("GET", "/v1/events?limit=5000", g_auth_a, NULL, NULL, NULL), 400);
}

static void test_since_starts_a_stream_at_that_time_and_task_id_narrows(void **state)
{
    (void)state;
    publish(g_auth_a, "/v1/events",
            "{\"workflow_execution_id\":\"wf-since\",\"task_execution_id\":\"k-a\","
            "\"event_type\":\"task.created\",\"source\":\"s\",\"data\":{\"n\":1}}");
    struct timespec ts = {0, 50 * 1000000L}, now;
    nanosleep(&ts, NULL);
    clock_gettime(CLOCK_REALTIME, &now);
    long long mid = (long long)now.tv_sec * 1000 + now.tv_nsec / 1000000;
    nanosleep(&ts, NULL);
    publish(g_auth_a, "/v1/events",
            "[{\"workflow_execution_id\":\"wf-since\",\"task_execution_id\":\"k-a\","
            "\"event_type\":\"task.completed\",\"source\":\"s\",\"data\":{\"n\":2}},"
            "{\"workflow_execution_id\":\"wf-since\",\"task_execution_id\":\"k-b\","
            "\"event_type\":\"task.completed\",\"source\":\"s\",\"data\":{\"n\":3}}]");
    char path[256];
    snprintf(path, sizeof path, "/v1/events/stream?workflow_execution_id=wf-since&since=%lld", mid);
    fv_sse_client *c = open_stream(path, g_auth_a);
    const char *want[] = {"task.completed", "task.completed"};
    expect_events(c, want, 2); /* n=1 was before `since` */
    fv_sse_close(c);
    c = open_stream("/v1/workflow-executions/wf-since/stream?task_execution_id=k-b", g_auth_a);
    const char *one[] = {"task.completed"};
    expect_events(c, one, 1);
    fv_sse_event e;
    assert_true(fv_sse_get(c, 0, &e));
    assert_non_null(strstr(e.data, "{\"n\":3}"));
    fv_sse_event_free(&e);
    fv_sse_close(c);
}

static void test_metrics_and_readyz(void **state)
{
    (void)state;
    fv_http_resp r;
    assert_int_equal(request("GET", "/readyz", NULL, NULL, NULL, NULL), 200);
    assert_int_equal(request("GET", "/metrics", NULL, NULL, NULL, &r), 200);
    assert_non_null(strstr(r.body, "flovyn_gateway_open_streams{endpoint=\"tenant\"}"));
    assert_non_null(strstr(r.body, "flovyn_gateway_ingest_accepted_total"));
    assert_non_null(strstr(r.body, "flovyn_gateway_nats_connected 1"));
    assert_non_null(strstr(r.body, "flovyn_gateway_publish_seconds_bucket{le=\"+Inf\"}"));
    fv_http_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_tenant_stream_types_filter_selects_by_category_wildcard_and_kind),
        cmocka_unit_test(test_workflow_stream_replays_the_run_merged_and_ends_on_terminal),
        cmocka_unit_test(test_task_stream_has_the_task_lifecycle_and_its_stream_events),
        cmocka_unit_test(test_consolidated_stream_follows_grandchildren_that_start_later),
        cmocka_unit_test(test_tenant_isolation_nothing_of_b_reaches_a_and_a_writes_nothing_to_b),
        cmocka_unit_test(test_auth_and_request_errors_have_the_contract_status_codes),
        cmocka_unit_test(test_heartbeats_arrive_and_expired_token_closes_with_auth_expired),
        cmocka_unit_test(test_history_since_until_and_types),
        cmocka_unit_test(test_since_starts_a_stream_at_that_time_and_task_id_narrows),
        cmocka_unit_test(test_metrics_and_readyz),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
