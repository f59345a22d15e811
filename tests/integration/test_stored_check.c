/* test_stored_check.c - nothing stored is silently skipped. A third-party producer writes with a
 * plain NATS client (raw bytes on the canonical subjects, JetStream publish) every kind of message
 * readers must skip, between good ones; then, against a real nats-server, the real
 * `flovyn-bridge run` dead-letters each exactly once with its reason (also across a restart, and
 * for one stored while it was down), `flovyn-bridge dlq list` prints them, both daemons' /metrics
 * count them, and the real gateway's SSE (live, resume, after a restart: read from the store) and
 * history serve exactly the good events around them. A JSON event stored without id and
 * timestamp is served everywhere with the same derived id and the time JetStream stored it.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>
#include <nats/nats.h>

#include "gateway_fixture.h"
#include "webhook_env.h"

static wh_env env;
static fv_gateway gw;
static natsConnection *nc;
static jsCtx *js;

static int group_setup(void **state)
{
    if (wh_env_setup(&env) != 0)
        return -1;
    const char *args[] = {"--nats-url", env.nats.url, "--auth", "none", "--heartbeat", "1s", NULL};
    if (fv_gateway_start(&gw, args) != 0)
        return -1;
    if (natsConnection_ConnectTo(&nc, env.nats.url) != NATS_OK ||
        natsConnection_JetStream(&js, nc, NULL) != NATS_OK)
        return -1;
    return 0;
}

static int group_teardown(void **state)
{
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    fv_gateway_cleanup(&gw);
    wh_env_teardown(&env);
    return 0;
}

static int test_teardown(void **state)
{
    wh_env_kill_bridges(&env);
    return 0;
}

/* --- a third-party producer ------------------------------------------------------------------- */

/* JetStream publish of raw bytes, with a Content-Type header when ct is set; the stored seq */
static uint64_t raw_publish(const char *subject, const char *ct, const void *data, size_t len)
{
    natsMsg *m = NULL;
    assert_int_equal(natsMsg_Create(&m, subject, NULL, data, (int)len), NATS_OK);
    if (ct)
        assert_int_equal(natsMsgHeader_Set(m, "Content-Type", ct), NATS_OK);
    jsPubAck *pa = NULL;
    jsErrCode jerr = 0;
    natsStatus s = js_PublishMsg(&pa, js, m, NULL, &jerr);
    if (s != NATS_OK)
        fail_msg("publish %s: %s (%d)", subject, natsStatus_GetText(s), (int)jerr);
    uint64_t seq = pa->Sequence;
    jsPubAck_Destroy(pa);
    natsMsg_Destroy(m);
    /* read back from the store, the two streams merge by store time in milliseconds (the engine's
     * rule): distinct times keep the expected order of a lifecycle event and a token */
    wh_sleep_ms(3);
    return seq;
}

static uint64_t raw_json(const char *subject, const char *json)
{
    return raw_publish(subject, NULL, json, strlen(json));
}

/* when JetStream stored it, in epoch ms */
static int64_t stored_ms(const char *stream, uint64_t seq)
{
    natsMsg *m = NULL;
    jsErrCode jerr = 0;
    assert_int_equal(js_GetMsg(&m, js, stream, seq, NULL, &jerr), NATS_OK);
    int64_t t = natsMsg_GetTime(m) / 1000000;
    natsMsg_Destroy(m);
    return t;
}

/* --- reading the daemons ---------------------------------------------------------------------- */

/* value of one exact series ("name{labels}") in a /metrics body, -1 if absent */
static long long series(const char *body, const char *key)
{
    char k[512];
    snprintf(k, sizeof k, "\n%s ", key);
    const char *p = body ? strstr(body, k) : NULL;
    return p ? atoll(p + strlen(k)) : -1;
}

static char *get_metrics(const char *base)
{
    char url[128];
    snprintf(url, sizeof url, "%s/metrics", base);
    fv_http_resp r;
    if (fv_http_request("GET", url, NULL, NULL, 0, &r) != 0 || r.status != 200) {
        fv_http_resp_free(&r);
        return NULL;
    }
    char *body = r.body;
    r.body = NULL;
    fv_http_resp_free(&r);
    return body;
}

static long long bridge_dead(const char *base, const char *stream, const char *reason)
{
    char key[256];
    snprintf(key, sizeof key,
             "flovyn_bridge_stored_dead_lettered_total{stream=\"%s\",reason=\"%s\"}", stream,
             reason);
    char *m = get_metrics(base);
    long long v = series(m, key);
    free(m);
    return v;
}

static long long bridge_checked(const char *base, const char *stream)
{
    char key[128];
    snprintf(key, sizeof key, "flovyn_bridge_stored_checked_total{stream=\"%s\"}", stream);
    char *m = get_metrics(base);
    long long v = series(m, key);
    free(m);
    return v;
}

static bool wait_value(long long (*f)(const char *, const char *, const char *), const char *base,
                       const char *a, const char *b, long long want)
{
    for (int i = 0; i < 300; i++) {
        if (f(base, a, b) == want)
            return true;
        wh_sleep_ms(50);
    }
    return false;
}

static long long checked3(const char *base, const char *stream, const char *unused)
{
    (void)unused;
    return bridge_checked(base, stream);
}

/* the checker's dead letters in plain `dlq list`: JSON objects, parsed */
typedef struct dl {
    char subject[256], reason[320], stream[32];
    uint64_t seq;
} dl;

static size_t list_check_dead_letters(dl *out, size_t cap)
{
    const char *args[] = {"dlq", "list", NULL};
    char *o = NULL;
    assert_int_equal(wh_cli(&env, &o, NULL, args), 0);
    size_t n = 0;
    for (char *line = o; line && *line;) {
        char *nl = strchr(line, '\n');
        assert_non_null(nl); /* one object per line */
        *nl = '\0';
        json_error_t jerr;
        json_t *j = json_loads(line, 0, &jerr);
        if (!j)
            fail_msg("dlq list printed a line that is not JSON: %s", line);
        const char *origin = json_string_value(json_object_get(j, "origin"));
        if (origin && !strcmp(origin, "check") && n < cap) {
            dl *d = &out[n++];
            snprintf(d->subject, sizeof d->subject, "%s",
                     json_string_value(json_object_get(j, "subject")));
            snprintf(d->reason, sizeof d->reason, "%s",
                     json_string_value(json_object_get(j, "reason")));
            snprintf(d->stream, sizeof d->stream, "%s",
                     json_string_value(json_object_get(j, "stream")));
            d->seq = (uint64_t)json_integer_value(json_object_get(j, "seq"));
        }
        json_decref(j);
        line = nl + 1;
    }
    free(o);
    return n;
}

static size_t wait_dead_letters(dl *out, size_t cap, size_t want)
{
    size_t n = 0;
    for (int i = 0; i < 150 && (n = list_check_dead_letters(out, cap)) < want; i++)
        wh_sleep_ms(100);
    return n;
}

static fv_sse_client *open_sse(const char *tenant, const char *path_query)
{
    char url[512], h[128];
    snprintf(url, sizeof url, "%s%s", gw.base, path_query);
    snprintf(h, sizeof h, "X-Flovyn-Tenant: %s", tenant);
    const char *hs[] = {h, NULL};
    fv_sse_client *c = fv_sse_open(url, hs);
    for (int i = 0; i < 250 && fv_sse_first_retry(c) < 0 && !fv_sse_closed(c); i++)
        fv_sse_wait(c, 1, 20);
    if (fv_sse_first_retry(c) < 0)
        fail_msg("stream %s did not open (status %ld)", path_query, fv_sse_status(c));
    return c;
}

/* event i of an SSE client: its name, cursor and data (parsed; json_decref it) */
static json_t *sse_event(fv_sse_client *c, size_t i, char *name, size_t ncap, char *cursor,
                         size_t ccap)
{
    fv_sse_event e;
    assert_true(fv_sse_get(c, i, &e));
    if (name)
        snprintf(name, ncap, "%s", e.event);
    if (cursor)
        snprintf(cursor, ccap, "%s", e.id);
    json_error_t jerr;
    json_t *j = json_loads(e.data, 0, &jerr);
    if (!j)
        fail_msg("SSE data is not JSON: %s", e.data);
    fv_sse_event_free(&e);
    return j;
}

/* exactly these events (by SSE name and a marker in their data), and nothing more */
static void expect_sse(fv_sse_client *c, const char *const *names, const char *const *marks,
                       size_t n)
{
    size_t got = fv_sse_wait(c, n, 10000);
    for (size_t i = 0; got < n && i < got; i++) {
        fv_sse_event e;
        if (fv_sse_get(c, i, &e))
            fprintf(stderr, "# got %s %s\n", e.event, e.data);
        fv_sse_event_free(&e);
    }
    if (got < n) {
        fv_gateway_dump_log(&gw);
        char *mm = get_metrics(gw.base);
        fprintf(stderr, "%s\n", mm ? strstr(mm, "flovyn_gateway_skipped") : "");
        free(mm);
        fail_msg("expected %zu events, got %zu", n, got);
    }
    assert_int_equal(fv_sse_wait(c, n + 1, 1000), n);
    for (size_t i = 0; i < n; i++) {
        char name[160];
        json_t *j = sse_event(c, i, name, sizeof name, NULL, 0);
        char *dump = json_dumps(j, JSON_COMPACT);
        if (strcmp(name, names[i]) != 0 || !strstr(dump, marks[i]))
            fail_msg("event %zu is %s %s, expected %s with %s", i, name, dump, names[i], marks[i]);
        free(dump);
        json_decref(j);
    }
}

/* GET a history page of the tenant; the parsed body */
static json_t *history(const char *tenant, const char *query)
{
    char url[512], h[128];
    snprintf(url, sizeof url, "%s/v1/events?%s", gw.base, query);
    snprintf(h, sizeof h, "X-Flovyn-Tenant: %s", tenant);
    const char *hs[] = {h, NULL};
    fv_http_resp r;
    assert_int_equal(fv_http_request("GET", url, hs, NULL, 0, &r), 0);
    if (r.status != 200)
        fail_msg("history %s -> %ld %s", query, r.status, r.body);
    json_error_t jerr;
    json_t *j = json_loads(r.body, 0, &jerr);
    fv_http_resp_free(&r);
    assert_non_null(j);
    return j;
}

static size_t count_in_file(const char *path, const char *needle)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    char line[8192];
    size_t n = 0;
    while (fgets(line, sizeof line, f))
        n += strstr(line, needle) != NULL;
    fclose(f);
    return n;
}

/* --- nothing skipped silently ----------------------------------------------------------------- */

#define T "chk"
#define EV(rest) "flovyn.v1.events." T ".wf-c." rest
#define ST(rest) "flovyn.v1.streams." T ".wf-c." rest

typedef struct bad {
    const char *stream, *reason;
    uint64_t seq;
} bad;

static const char *const reasons_events[] = {
    "tenant_missing", "tenant_mismatch", "workflow_mismatch", "task_mismatch",
    "type_mismatch",  "invalid_json",    "invalid_protobuf"};

static bool found(const dl *d, size_t n, const bad *b)
{
    size_t hits = 0;
    for (size_t i = 0; i < n; i++)
        if (d[i].seq == b->seq && !strcmp(d[i].stream, b->stream)) {
            hits++;
            size_t rl = strlen(b->reason);
            if (strncmp(d[i].reason, b->reason, rl) != 0 || d[i].reason[rl] != ':')
                fail_msg("%s seq %llu: reason '%s', expected %s", b->stream,
                         (unsigned long long)b->seq, d[i].reason, b->reason);
            assert_true(d[i].subject[0] != '\0');
        }
    if (hits > 1)
        fail_msg("%s seq %llu dead-lettered %zu times", b->stream, (unsigned long long)b->seq,
                 hits);
    return hits == 1;
}

static void test_bad_stored_messages_are_dead_lettered_once_and_never_served(void **state)
{
    const char *wf_path = "/v1/workflow-executions/wf-c/stream";
    fv_sse_client *live = open_sse(T, wf_path);

    bad b[16];
    size_t nb = 0;
    raw_json(EV("_.task.started"), "{\"id\":\"good-1\",\"tenant_id\":\"" T "\","
                                   "\"workflow_execution_id\":\"wf-c\",\"event_type\":"
                                   "\"task.started\",\"data\":{\"n\":1}}");
    b[nb++] = (bad){FV_STREAM_EVENTS, "tenant_missing",
                    raw_json(EV("_.task.started"), "{\"id\":\"bad-1\",\"workflow_execution_id\":"
                                                   "\"wf-c\",\"event_type\":\"task.started\"}")};
    b[nb++] = (bad){FV_STREAM_EVENTS, "tenant_mismatch",
                    raw_json(EV("_.task.started"),
                             "{\"id\":\"bad-2\",\"tenant_id\":\"other\",\"workflow_execution_id\":"
                             "\"wf-c\",\"event_type\":\"task.started\"}")};
    b[nb++] = (bad){FV_STREAM_EVENTS, "workflow_mismatch",
                    raw_json(EV("_.task.started"),
                             "{\"id\":\"bad-3\",\"tenant_id\":\"" T "\",\"workflow_execution_id\":"
                             "\"wf-x\",\"event_type\":\"task.started\"}")};
    b[nb++] = (bad){FV_STREAM_EVENTS, "task_mismatch",
                    raw_json(EV("k1.task.started"),
                             "{\"id\":\"bad-4\",\"tenant_id\":\"" T "\",\"workflow_execution_id\":"
                             "\"wf-c\",\"task_execution_id\":\"k2\",\"event_type\":"
                             "\"task.started\"}")};
    b[nb++] = (bad){FV_STREAM_EVENTS, "type_mismatch",
                    raw_json(EV("_.task.started"),
                             "{\"id\":\"bad-5\",\"tenant_id\":\"" T "\",\"workflow_execution_id\":"
                             "\"wf-c\",\"event_type\":\"task.failed\"}")};
    const char *broken = "{\"id\":\"bad-6\",\"tenant_id\":\"" T "\",\"event_type\":";
    b[nb++] = (bad){FV_STREAM_EVENTS, "invalid_json",
                    raw_publish(EV("_.task.started"), "application/json", broken, strlen(broken))};
    const char junk[] = "\x0a\xff\xff\xff\x7f garbage";
    b[nb++] =
        (bad){FV_STREAM_EVENTS, "invalid_protobuf",
              raw_publish(EV("_.task.started"), "application/x-protobuf", junk, sizeof junk - 1)};
    raw_json(ST("_.token"), "{\"workflow_execution_id\":\"wf-c\",\"sequence\":1,\"type\":\"token\","
                            "\"payload\":\"good-token\"}");
    b[nb++] = (bad){FV_STREAM_STREAMS, "type_mismatch",
                    raw_json(ST("_.token"), "{\"workflow_execution_id\":\"wf-c\",\"sequence\":2,"
                                            "\"type\":\"progress\",\"payload\":\"bad-token\"}")};
    raw_json(EV("_.task.completed"), "{\"id\":\"good-2\",\"tenant_id\":\"" T "\","
                                     "\"workflow_execution_id\":\"wf-c\",\"event_type\":"
                                     "\"task.completed\",\"data\":{\"n\":2}}");

    /* SSE live: the good events around the bad ones, and nothing else */
    const char *names[] = {"task.started", "token", "task.completed"};
    const char *marks[] = {"\"good-1\"", "\"good-token\"", "\"good-2\""};
    expect_sse(live, names, marks, 3);
    fv_sse_close(live);

    /* the gateway counted every one it skipped, and logged them in one line (rate-limited) */
    char *gm = get_metrics(gw.base);
    for (size_t i = 0; i < sizeof reasons_events / sizeof *reasons_events; i++) {
        char key[160];
        snprintf(key, sizeof key, "flovyn_gateway_skipped_messages_total{reason=\"%s\"}",
                 reasons_events[i]);
        if (series(gm, key) < 1)
            fail_msg("%s: %lld", key, series(gm, key));
    }
    assert_true(series(gm, "flovyn_gateway_skipped_messages_total{reason=\"tenant_mismatch\"}") >=
                1);
    free(gm);
    assert_int_equal(count_in_file(gw.log_path, "stored message skipped"), 1);
    assert_int_equal(count_in_file(gw.log_path, "\"reason\":\"tenant_missing\""), 1);

    /* the bridge (first start: checks what is already stored) dead-letters each exactly once */
    int port = 0;
    pid_t br = wh_bridge_start(&env, true, &port);
    assert_true(br > 0);
    char base[64];
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    dl d[32];
    size_t n = wait_dead_letters(d, 32, nb);
    assert_int_equal(n, nb);
    for (size_t i = 0; i < nb; i++)
        assert_true(found(d, n, &b[i]));
    assert_true(wait_value(bridge_dead, base, FV_STREAM_STREAMS, "type_mismatch", 1));
    for (size_t i = 0; i < sizeof reasons_events / sizeof *reasons_events; i++)
        assert_int_equal(bridge_dead(base, FV_STREAM_EVENTS, reasons_events[i]), 1);
    assert_int_equal(bridge_dead(base, FV_STREAM_EVENTS, "invalid_event"), 0);
    assert_true(wait_value(checked3, base, FV_STREAM_EVENTS, NULL, 9));
    assert_true(wait_value(checked3, base, FV_STREAM_STREAMS, NULL, 2));
    assert_int_equal(wh_bridge_stop(&env, br, SIGTERM), 0);

    /* stored while the bridge is down: checked after its restart, and nothing twice */
    b[nb++] = (bad){FV_STREAM_STREAMS, "workflow_mismatch",
                    raw_json(ST("_.data"), "{\"workflow_execution_id\":\"wf-other\",\"sequence\":3,"
                                           "\"type\":\"data\",\"payload\":{}}")};
    br = wh_bridge_start(&env, true, &port);
    assert_true(br > 0);
    snprintf(base, sizeof base, "http://127.0.0.1:%d", port);
    n = wait_dead_letters(d, 32, nb);
    assert_int_equal(n, nb);
    for (size_t i = 0; i < nb; i++)
        assert_true(found(d, n, &b[i]));
    assert_true(wait_value(bridge_dead, base, FV_STREAM_STREAMS, "workflow_mismatch", 1));
    /* this process checked the one new message only */
    assert_true(wait_value(checked3, base, FV_STREAM_STREAMS, NULL, 1));
    wh_sleep_ms(1500);
    assert_int_equal(bridge_checked(base, FV_STREAM_EVENTS), 0);
    assert_int_equal(bridge_checked(base, FV_STREAM_STREAMS), 1);
    assert_int_equal(bridge_dead(base, FV_STREAM_EVENTS, "tenant_missing"), 0);
    assert_int_equal(list_check_dead_letters(d, 32), nb);
    assert_int_equal(wh_bridge_stop(&env, br, SIGTERM), 0);

    /* SSE from the start of the run (the window), history, then both again after a gateway
     * restart, when everything is read back from the store */
    for (int round = 0; round < 2; round++) {
        fv_sse_client *c = open_sse(T, wf_path);
        expect_sse(c, names, marks, 3);
        char cursor[128];
        json_decref(sse_event(c, 0, NULL, 0, cursor, sizeof cursor));
        fv_sse_close(c);
        char resume[512];
        snprintf(resume, sizeof resume, "%s?last_event_id=%s", wf_path, cursor);
        c = open_sse(T, resume);
        expect_sse(c, names + 1, marks + 1, 2);
        fv_sse_close(c);
        json_t *h = history(T, "workflow_execution_id=wf-c&types=events,token,progress,data");
        json_t *evs = json_object_get(h, "events");
        assert_int_equal(json_array_size(evs), 3);
        char *dump = json_dumps(evs, JSON_COMPACT);
        assert_non_null(strstr(dump, "good-1"));
        assert_non_null(strstr(dump, "good-token"));
        assert_non_null(strstr(dump, "good-2"));
        assert_null(strstr(dump, "bad-"));
        free(dump);
        json_decref(h);
        if (round == 0)
            assert_int_equal(fv_gateway_restart(&gw), 0);
    }
    /* the restarted gateway met them again in the store, and says so */
    gm = get_metrics(gw.base);
    assert_true(series(gm, "flovyn_gateway_skipped_messages_total{reason=\"invalid_json\"}") >= 1);
    free(gm);
}

/* --- a JSON event stored without id or timestamp ---------------------------------------------- */

static void expect_same(json_t *ev, const char *id, int64_t ts)
{
    const char *got = json_string_value(json_object_get(ev, "id"));
    if (!got || strcmp(got, id) != 0)
        fail_msg("id %s, expected %s", got ? got : "null", id);
    assert_int_equal(json_integer_value(json_object_get(ev, "timestamp_ms")), ts);
}

static void test_event_without_id_is_served_with_one_derived_id_and_the_store_time(void **state)
{
    const char *path = "/v1/workflow-executions/wf-noid/stream";
    fv_sse_client *live = open_sse("noid", path);
    uint64_t s1 = raw_json("flovyn.v1.events.noid.wf-noid._.workflow.started",
                           "{\"tenant_id\":\"noid\",\"workflow_execution_id\":\"wf-noid\","
                           "\"event_type\":\"workflow.started\",\"data\":{}}");
    uint64_t s2 = raw_json("flovyn.v1.events.noid.wf-noid._.workflow.completed",
                           "{\"tenant_id\":\"noid\",\"workflow_execution_id\":\"wf-noid\","
                           "\"event_type\":\"workflow.completed\",\"id\":null,\"timestamp_ms\":0}");
    char id1[64], id2[64];
    snprintf(id1, sizeof id1, "FLOVYN_EVENTS-%llu", (unsigned long long)s1);
    snprintf(id2, sizeof id2, "FLOVYN_EVENTS-%llu", (unsigned long long)s2);
    int64_t t1 = stored_ms(FV_STREAM_EVENTS, s1), t2 = stored_ms(FV_STREAM_EVENTS, s2);
    assert_true(t1 > 1700000000000LL);

    /* SSE live */
    assert_int_equal(fv_sse_wait(live, 2, 10000), 2);
    char cursor1[128];
    json_t *e = sse_event(live, 0, NULL, 0, cursor1, sizeof cursor1);
    expect_same(e, id1, t1);
    json_decref(e);
    e = sse_event(live, 1, NULL, 0, NULL, 0);
    expect_same(e, id2, t2);
    json_decref(e);
    fv_sse_close(live);

    for (int round = 0; round < 2; round++) {
        /* SSE resume after the first */
        char resume[512];
        snprintf(resume, sizeof resume, "%s?last_event_id=%s", path, cursor1);
        fv_sse_client *c = open_sse("noid", resume);
        assert_int_equal(fv_sse_wait(c, 1, 10000), 1);
        e = sse_event(c, 0, NULL, 0, NULL, 0);
        expect_same(e, id2, t2);
        json_decref(e);
        fv_sse_close(c);
        /* history */
        json_t *h = history("noid", "workflow_execution_id=wf-noid");
        json_t *evs = json_object_get(h, "events");
        assert_int_equal(json_array_size(evs), 2);
        expect_same(json_array_get(evs, 0), id1, t1);
        expect_same(json_array_get(evs, 1), id2, t2);
        json_decref(h);
        /* and again from the store, by a fresh gateway */
        if (round == 0)
            assert_int_equal(fv_gateway_restart(&gw), 0);
    }

    /* `flovyn-bridge tail` */
    const char *args[] = {"tail", "--tenant", "noid", "--workflow", "wf-noid", NULL};
    char *o = NULL;
    assert_int_equal(wh_cli(&env, &o, NULL, args), 0);
    assert_int_equal(wh_count_lines(o), 2);
    char *nl = strchr(o, '\n');
    *nl = '\0';
    json_error_t jerr;
    json_t *l1 = json_loads(o, 0, &jerr), *l2 = json_loads(nl + 1, 0, &jerr);
    assert_non_null(l1);
    assert_non_null(l2);
    expect_same(l1, id1, t1);
    expect_same(l2, id2, t2);
    json_decref(l1);
    json_decref(l2);
    free(o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_bad_stored_messages_are_dead_lettered_once_and_never_served,
                                  test_teardown),
        cmocka_unit_test_teardown(
            test_event_without_id_is_served_with_one_derived_id_and_the_store_time, test_teardown),
    };
    return cmocka_run_group_tests_name("stored_check", tests, group_setup, group_teardown);
}
