/* test_bridge_legacy.c - `flovyn-bridge run` mapping Flovyn's legacy subjects, end to end: a real
 * nats-server, the built daemon, Flovyn-shaped JSON published with a plain NATS client, and the
 * canonical events read back through the bus. Also: a workflow the registry never learns goes to
 * FLOVYN_DLQ with the reason after the bounded wait; a second tenant claiming a workflow id is
 * dead-lettered and leaves the registry entry alone; redelivered lifecycle payloads dedup; and the
 * counters show on /metrics.
 */
#include <curl/curl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "fixture.h"
#include "flovyn/bus.h"
#include "flovyn/registry.h"
#include "flovyn/types_filter.h"
#include "flovyn/units.h"

static fv_nats_server srv;
static pid_t bridge_pid;
static int http_port;
static char log_dir[256];
static char log_path[300];
static natsConnection *nc;
static jsCtx *js;
static fv_bus *bus;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    if (ud)
        fv_buf_append(ud, p, size * n);
    return size * n;
}

/* GET on the bridge's status port; the HTTP code (0 when unreachable), body appended to out */
static long http_get(int port, const char *path, fv_buf *out)
{
    char url[96];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 2000L);
    long code = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code;
}

static int start_bridge(bool capture)
{
    char url[128], http[64];
    snprintf(url, sizeof url, "--nats-url=%s", srv.url);
    http_port = fv_test_free_port();
    snprintf(http, sizeof http, "--http-addr=127.0.0.1:%d", http_port);
    char *argv[] = {(char *)fv_test_bin("flovyn-bridge"),
                    "run",
                    url,
                    http,
                    "--legacy-wait=1500ms",
                    "--webhooks=false",
                    capture ? "--legacy-capture" : "--legacy-capture=false",
                    NULL};
    bridge_pid = fv_test_spawn(argv, NULL, log_path);
    if (bridge_pid <= 0 || !fv_test_wait_port(http_port, 15000))
        return -1;
    /* /healthz answers from the start; /readyz once every part (the adapter too) is running */
    for (int i = 0; i < 300; i++) {
        if (http_get(http_port, "/readyz", NULL) == 200)
            return 0;
        usleep(50000);
    }
    return -1;
}

static int group_setup(void **state)
{
    if (fv_test_tmpdir(log_dir, sizeof log_dir, "bridge-legacy") != 0 || fv_nats_start(&srv) != 0)
        return -1;
    snprintf(log_path, sizeof log_path, "%s/bridge.log", log_dir);
    if (start_bridge(false) != 0)
        return -1;
    if (natsConnection_ConnectTo(&nc, srv.url) != NATS_OK ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
        return -1;
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = srv.url;
    c.name = "test-legacy-reader";
    fv_err err = {{0}};
    if (fv_bus_create(&c, &bus, &err) != FV_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    int status = fv_test_stop_pid(bridge_pid, SIGTERM, 10000);
    fv_bus_destroy(bus);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    fv_nats_cleanup(&srv);
    /* the daemon stopped cleanly on SIGTERM; its log is kept only when it did not */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bridge did not stop cleanly; log: %s\n", log_path);
        return -1;
    }
    unlink(log_path);
    rmdir(log_dir);
    return 0;
}

static void pub(const char *subject, const char *json)
{
    assert_int_equal(natsConnection_PublishString(nc, subject, json), NATS_OK);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);
}

typedef struct collected {
    int n;
    char all[65536];
} collected;

static int collect(void *ud, const fv_msg *m)
{
    collected *c = ud;
    if (m->kind != FV_MSG_EVENT && m->kind != FV_MSG_STREAM)
        return FV_SUB_OK;
    fv_buf b = FV_BUF_INIT;
    if (m->kind == FV_MSG_EVENT)
        fv_event_to_json(m->ev, &b);
    else
        fv_stream_event_to_json(m->se, &b);
    size_t used = strlen(c->all);
    snprintf(c->all + used, sizeof c->all - used, "%s\n", b.data);
    fv_buf_free(&b);
    c->n++;
    return FV_SUB_OK;
}

/* every canonical event (lifecycle and stream) of tenant[/workflow], waiting until at least
 * `want` are there */
static void read_canonical(const char *tenant, const char *wf, int want, collected *c)
{
    fv_types_filter *tf = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_types_filter_parse(NULL, FV_TYPES_DEFAULT_ALL, &tf, &err), FV_OK);
    for (int i = 0; i < 100; i++) {
        memset(c, 0, sizeof *c);
        fv_pattern p;
        fv_pattern_init(&p, tenant);
        if (wf)
            snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "%s", wf);
        p.types = tf;
        fv_start st = {.kind = FV_START_SEQ};
        fv_cursor next;
        assert_int_equal(fv_bus_read(bus, &p, &st, 1000, collect, c, &next, &err), FV_OK);
        if (c->n >= want)
            break;
        usleep(100000);
    }
    fv_types_filter_destroy(tf);
}

/* the DLQ message whose body contains `needle`; reason and subject headers copied out */
static bool find_dlq(const char *needle, char *reason, size_t rcap, char *subject, size_t scap,
                     int wait_ms)
{
    for (int waited = 0; waited <= wait_ms; waited += 100) {
        jsStreamInfo *si = NULL;
        jsErrCode jerr = 0;
        if (js_GetStreamInfo(&si, js, "FLOVYN_DLQ", NULL, &jerr) == NATS_OK) {
            uint64_t last = si->State.LastSeq, first = si->State.FirstSeq;
            jsStreamInfo_Destroy(si);
            for (uint64_t s = first; s && s <= last; s++) {
                natsMsg *m = NULL;
                if (js_GetMsg(&m, js, "FLOVYN_DLQ", s, NULL, &jerr) != NATS_OK)
                    continue;
                const char *data = natsMsg_GetData(m);
                int len = natsMsg_GetDataLength(m);
                bool hit = data && memmem(data, (size_t)len, needle, strlen(needle));
                if (hit) {
                    const char *v = NULL;
                    reason[0] = subject[0] = '\0';
                    if (natsMsgHeader_Get(m, "Flovyn-Dlq-Reason", &v) == NATS_OK)
                        snprintf(reason, rcap, "%s", v);
                    snprintf(subject, scap, "%s", natsMsg_GetSubject(m));
                }
                natsMsg_Destroy(m);
                if (hit)
                    return true;
            }
        }
        usleep(100000);
    }
    return false;
}

static void seed_workflow(const char *tenant, const char *wf)
{
    char subj[128], body[512];
    snprintf(subj, sizeof subj, "flovyn.events.%s.WORKFLOW_STARTED", tenant);
    snprintf(body, sizeof body,
             "{\"tenantId\":\"%s\",\"workflowExecutionId\":\"%s\",\"eventType\":"
             "\"WORKFLOW_STARTED\",\"source\":\"flovyn-server\",\"data\":{\"kind\":\"demo\"},"
             "\"timestampMs\":1767139200000}",
             tenant, wf);
    pub(subj, body);
}

static bool registry_has(const char *wf, fv_registry_entry *e)
{
    fv_registry *reg = NULL;
    fv_err err = {{0}};
    bool ok = false;
    for (int i = 0; i < 100 && !ok; i++) {
        if (!reg && fv_registry_open(bus, &reg, &err) != FV_OK) {
            usleep(100000);
            continue;
        }
        ok = fv_registry_get(reg, wf, e, &err) == FV_OK;
        if (!ok)
            usleep(100000);
    }
    fv_registry_close(reg);
    return ok;
}

static void test_legacy_events_subject_maps_camel_and_snake_case(void **state)
{
    pub("flovyn.events.tenantA.TASK_CREATED",
        "{\"id\":\"11111111-1111-4111-8111-111111111111\",\"tenantId\":\"tenantA\","
        "\"workflowExecutionId\":\"wf-1\",\"taskExecutionId\":\"task-1\",\"eventType\":"
        "\"TASK_CREATED\",\"source\":\"worker:w-1\",\"data\":{\"x\":0.1},\"timestampMs\":"
        "1767139200001}");
    pub("flovyn.events.tenantA.child_workflow.initiated",
        "{\"id\":\"22222222-2222-4222-8222-222222222222\",\"tenant_id\":\"tenantA\","
        "\"workflow_execution_id\":\"wf-1\",\"event_type\":\"child_workflow.initiated\","
        "\"source\":\"server\",\"data\":null,\"timestamp_ms\":1767139200002}");
    /* no id, type only in the subject: a deterministic id, so a redelivery dedups */
    pub("flovyn.events.tenantA.CHILD_WORKFLOW_CANCELLATION_REQUESTED",
        "{\"workflowExecutionId\":\"wf-1\",\"data\":{}}");
    pub("flovyn.events.tenantA.CHILD_WORKFLOW_CANCELLATION_REQUESTED",
        "{\"workflowExecutionId\":\"wf-1\",\"data\":{}}");

    collected c;
    read_canonical("tenantA", "wf-1", 3, &c);
    assert_int_equal(c.n, 3);
    assert_non_null(strstr(c.all, "\"id\":\"11111111-1111-4111-8111-111111111111\",\"tenant_id\":"
                                  "\"tenantA\",\"workflow_execution_id\":\"wf-1\","
                                  "\"task_execution_id\":\"task-1\""));
    assert_non_null(strstr(c.all, "\"event_type\":\"task.created\",\"source\":\"worker:w-1\","
                                  "\"data\":{\"x\":0.1}"));
    assert_non_null(strstr(c.all, "\"event_type\":\"child_workflow.initiated\""));
    assert_non_null(strstr(c.all, "\"event_type\":\"child_workflow.cancellation_requested\""));
    assert_non_null(strstr(c.all, "\"source\":\"flovyn-legacy\""));
}

static void test_legacy_stream_subject_maps_tokens_and_lifecycle_with_registry_tenant(void **state)
{
    seed_workflow("tenantS", "wf-s");
    fv_registry_entry e;
    assert_true(registry_has("wf-s", &e));
    assert_string_equal(e.tenant_id, "tenantS");

    pub("flovyn.streams.workflow.wf-s",
        "{\"workflowExecutionId\":\"wf-s\",\"taskExecutionId\":\"task-s\",\"sequence\":1,"
        "\"type\":\"TOKEN\",\"payload\":\"{\\\"text\\\":\\\"Hel\\\"}\",\"timestampMs\":"
        "1767139200100}");
    const char *lifecycle =
        "{\"type\":\"Event\",\"event\":\"TASK_COMPLETED\",\"data\":{\"id\":\"task-s\","
        "\"workflowExecutionId\":\"wf-s\",\"status\":\"COMPLETED\"},\"timestampMs\":1767139200200}";
    pub("flovyn.streams.workflow.wf-s", lifecycle);
    pub("flovyn.streams.workflow.wf-s", lifecycle); /* redelivered: stored once */

    collected c;
    read_canonical("tenantS", "wf-s", 3, &c);
    assert_int_equal(c.n, 3); /* workflow.started, the token, task.completed */
    assert_non_null(strstr(c.all, "\"workflow_execution_id\":\"wf-s\",\"task_execution_id\":"
                                  "\"task-s\",\"sequence\":1,\"type\":\"token\",\"payload\":"
                                  "{\"text\":\"Hel\"}"));
    assert_non_null(strstr(c.all, "\"task_execution_id\":\"task-s\",\"parent_workflow_execution_"
                                  "id\":null,\"event_type\":\"task.completed\""));
    assert_non_null(strstr(c.all, "\"timestamp_ms\":1767139200200"));
    /* a workflow snapshot's `id` is the workflow, not a task; the registry sees the end */
    pub("flovyn.streams.workflow.wf-s",
        "{\"type\":\"event\",\"event\":\"WORKFLOW_COMPLETED\",\"data\":{\"id\":\"wf-s\"},"
        "\"timestampMs\":1767139200300}");
    read_canonical("tenantS", "wf-s", 4, &c);
    assert_int_equal(c.n, 4);
    assert_non_null(strstr(c.all, "\"task_execution_id\":null,\"parent_workflow_execution_id\":"
                                  "null,\"event_type\":\"workflow.completed\""));
    bool completed = false;
    for (int i = 0; i < 100 && !completed; i++) {
        completed = registry_has("wf-s", &e) && !strcmp(e.status, "completed");
        if (!completed)
            usleep(100000);
    }
    assert_true(completed);
    /* nothing leaked to another tenant */
    collected other;
    read_canonical("tenantA", "wf-s", 0, &other);
    assert_int_equal(other.n, 0);
}

static void test_legacy_child_workflow_gets_parent_from_snapshot(void **state)
{
    char subj[] = "flovyn.events.tenantC.WORKFLOW_STARTED";
    pub(subj, "{\"workflowExecutionId\":\"wf-child\",\"parentWorkflowExecutionId\":\"wf-parent\","
              "\"eventType\":\"WORKFLOW_STARTED\",\"data\":{}}");
    fv_registry_entry e;
    assert_true(registry_has("wf-child", &e));
    assert_string_equal(e.parent_workflow_execution_id, "wf-parent");
    pub("flovyn.streams.workflow.wf-child",
        "{\"type\":\"EVENT\",\"event\":\"TASK_CREATED\",\"data\":{\"id\":\"t-c\","
        "\"parentWorkflowExecutionId\":\"wf-parent\"},\"timestampMs\":1767139200300}");
    collected c;
    read_canonical("tenantC", "wf-child", 2, &c);
    assert_int_equal(c.n, 2);
    assert_non_null(strstr(c.all, "\"workflow_execution_id\":\"wf-child\",\"task_execution_id\":"
                                  "\"t-c\",\"parent_workflow_execution_id\":\"wf-parent\","
                                  "\"event_type\":\"task.created\""));
}

static void test_legacy_unknown_workflow_waits_then_goes_to_dlq(void **state)
{
    int64_t t0 = fv_monotonic_ms();
    pub("flovyn.streams.workflow.wf-nobody",
        "{\"workflowExecutionId\":\"wf-nobody\",\"sequence\":3,\"type\":\"TOKEN\","
        "\"payload\":\"\\\"marker-nobody\\\"\",\"timestampMs\":1767139200400}");
    char reason[512], subject[256];
    assert_true(find_dlq("marker-nobody", reason, sizeof reason, subject, sizeof subject, 10000));
    /* it waited (--legacy-wait 1500ms) before giving up */
    assert_true(fv_monotonic_ms() - t0 >= 1400);
    assert_string_equal(subject, "flovyn.v1.dlq.legacy");
    assert_non_null(strstr(reason, "wf-nobody"));
    assert_non_null(strstr(reason, "not in the registry"));
}

static void test_legacy_late_registry_entry_releases_waiting_messages_in_order(void **state)
{
    char body[256];
    for (int i = 0; i < 3; i++) {
        snprintf(body, sizeof body,
                 "{\"workflowExecutionId\":\"wf-late\",\"sequence\":%d,\"type\":\"progress\","
                 "\"payload\":\"0.%d\",\"timestampMs\":1767139200500}",
                 i, i + 1);
        pub("flovyn.streams.workflow.wf-late", body);
    }
    usleep(300000);
    seed_workflow("tenantL", "wf-late");
    /* arrives while the first three may still wait: stored after them, not before */
    pub("flovyn.streams.workflow.wf-late",
        "{\"workflowExecutionId\":\"wf-late\",\"sequence\":3,\"type\":\"progress\","
        "\"payload\":\"0.4\",\"timestampMs\":1767139200600}");
    collected c;
    read_canonical("tenantL", "wf-late", 5, &c);
    assert_int_equal(c.n, 5);
    const char *p0 = strstr(c.all, "\"sequence\":0,\"type\":\"progress\",\"payload\":0.1");
    const char *p1 = strstr(c.all, "\"sequence\":1,");
    const char *p2 = strstr(c.all, "\"sequence\":2,");
    const char *p3 = strstr(c.all, "\"sequence\":3,");
    assert_non_null(p0);
    assert_non_null(p1);
    assert_non_null(p2);
    assert_non_null(p3);
    assert_true(p0 < p1 && p1 < p2 && p2 < p3);
}

static void test_legacy_second_tenant_claiming_workflow_is_dead_lettered(void **state)
{
    seed_workflow("tenantO", "wf-owned");
    fv_registry_entry e;
    assert_true(registry_has("wf-owned", &e));
    pub("flovyn.events.tenantX.WORKFLOW_FAILED",
        "{\"workflowExecutionId\":\"wf-owned\",\"eventType\":\"WORKFLOW_FAILED\","
        "\"data\":{\"marker\":\"claim-x\"}}");
    char reason[512], subject[256];
    assert_true(find_dlq("claim-x", reason, sizeof reason, subject, sizeof subject, 10000));
    assert_string_equal(subject, "flovyn.v1.dlq.registry");
    assert_non_null(strstr(reason, "belongs to tenant tenantO"));
    assert_true(registry_has("wf-owned", &e));
    assert_string_equal(e.tenant_id, "tenantO");
    assert_string_equal(e.status, "running");
}

static void test_legacy_invalid_messages_go_to_dlq_with_reason(void **state)
{
    char reason[512], subject[256];
    pub("flovyn.events.tenantA.TASK_CREATED", "{\"workflowExecutionId\":\"wf-1\",\"data\":"
                                              "[\"marker-badjson\"");
    assert_true(find_dlq("marker-badjson", reason, sizeof reason, subject, sizeof subject, 5000));
    assert_non_null(strstr(reason, "JSON"));
    pub("flovyn.events.tenantA.NOT_A_CATEGORY", "{\"data\":\"marker-badtype\"}");
    assert_true(find_dlq("marker-badtype", reason, sizeof reason, subject, sizeof subject, 5000));
    assert_non_null(strstr(reason, "category"));
    pub("flovyn.events.tenantA.TASK_CREATED",
        "{\"tenantId\":\"tenantB\",\"data\":\"marker-tenantmismatch\"}");
    assert_true(
        find_dlq("marker-tenantmismatch", reason, sizeof reason, subject, sizeof subject, 5000));
    assert_non_null(strstr(reason, "differs"));
}

static void test_metrics_show_legacy_counters(void **state)
{
    fv_buf body = FV_BUF_INIT;
    assert_int_equal(http_get(http_port, "/metrics", &body), 200);
    assert_non_null(strstr(body.data, "flovyn_bridge_legacy_mapped_total "));
    assert_null(strstr(body.data, "flovyn_bridge_legacy_mapped_total 0\n"));
    assert_null(strstr(body.data, "flovyn_bridge_legacy_dead_lettered_total 0\n"));
    assert_null(strstr(body.data, "flovyn_bridge_legacy_invalid_total 0\n"));
    assert_non_null(strstr(body.data, "flovyn_bridge_registry_conflicts_total 1\n"));
    fv_buf_free(&body);
}

static void test_capture_mode_keeps_messages_published_while_bridge_is_down(void **state)
{
    /* restart in capture mode (creates FLOVYN_LEGACY), stop it, publish, start again */
    int status = fv_test_stop_pid(bridge_pid, SIGTERM, 10000);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    assert_int_equal(start_bridge(true), 0);
    usleep(500000);
    status = fv_test_stop_pid(bridge_pid, SIGTERM, 10000);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    pub("flovyn.events.tenantD.WORKFLOW_STARTED",
        "{\"workflowExecutionId\":\"wf-down\",\"data\":{\"while\":\"down\"}}");
    pub("flovyn.streams.workflow.wf-down",
        "{\"workflowExecutionId\":\"wf-down\",\"sequence\":1,\"type\":\"DATA\",\"payload\":"
        "\"{\\\"k\\\":1}\"}");
    assert_int_equal(start_bridge(true), 0);
    collected c;
    read_canonical("tenantD", "wf-down", 2, &c);
    assert_int_equal(c.n, 2);
    assert_non_null(strstr(c.all, "\"data\":{\"while\":\"down\"}"));
    assert_non_null(strstr(c.all, "\"type\":\"data\",\"payload\":{\"k\":1}"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_events_subject_maps_camel_and_snake_case),
        cmocka_unit_test(test_legacy_stream_subject_maps_tokens_and_lifecycle_with_registry_tenant),
        cmocka_unit_test(test_legacy_child_workflow_gets_parent_from_snapshot),
        cmocka_unit_test(test_legacy_unknown_workflow_waits_then_goes_to_dlq),
        cmocka_unit_test(test_legacy_late_registry_entry_releases_waiting_messages_in_order),
        cmocka_unit_test(test_legacy_second_tenant_claiming_workflow_is_dead_lettered),
        cmocka_unit_test(test_legacy_invalid_messages_go_to_dlq_with_reason),
        cmocka_unit_test(test_metrics_show_legacy_counters),
        cmocka_unit_test(test_capture_mode_keeps_messages_published_while_bridge_is_down),
    };
    return cmocka_run_group_tests_name("bridge_legacy", tests, group_setup, group_teardown);
}
