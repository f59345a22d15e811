/* test_bus_jetstream_publish.c - JetStream bus against a real nats-server: provisioning
 * (idempotent, conflicts reported), publish (sequence, dedup window per tenant, batches) and
 * readiness/epoch. One server for the whole group.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "fixture.h"
#include "flovyn/bus.h"
#include "flovyn/subject.h"

static fv_nats_server srv;

static fv_bus *new_bus(const char *prefix)
{
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = srv.url;
    c.prefix = prefix;
    c.name = "test-jsbus";
    fv_bus *bus = NULL;
    fv_err err = {{0}};
    fv_status st = fv_bus_create(&c, &bus, &err);
    if (st != FV_OK)
        fail_msg("create: %s", err.msg);
    st = fv_bus_provision(bus, &err);
    if (st != FV_OK)
        fail_msg("provision: %s", err.msg);
    return bus;
}

static void make_event(fv_event *ev, const char *tenant, const char *id, const char *type)
{
    fv_event_init(ev);
    snprintf(ev->id, sizeof ev->id, "%s", id);
    snprintf(ev->tenant_id, sizeof ev->tenant_id, "%s", tenant);
    snprintf(ev->workflow_execution_id, sizeof ev->workflow_execution_id, "wf-1");
    snprintf(ev->event_type, sizeof ev->event_type, "%s", type);
    snprintf(ev->source, sizeof ev->source, "test");
    ev->timestamp_ms = 1767139200000;
    fv_limits lim = {0};
    fv_err err = {{0}};
    assert_int_equal(fv_event_set_data(ev, "{\"n\":0.1}", 9, &lim, &err), FV_OK);
}

static int group_setup(void **state)
{
    return fv_nats_start(&srv);
}

static int group_teardown(void **state)
{
    fv_nats_cleanup(&srv);
    return 0;
}

static void test_jetstream_provision_is_idempotent_and_ready(void **state)
{
    fv_bus *bus = new_bus("flovyn");
    fv_err err = {{0}};
    assert_true(fv_bus_ready(bus));
    uint64_t e1 = fv_bus_epoch(bus);
    assert_int_not_equal(e1, 0);
    assert_int_equal(fv_bus_provision(bus, &err), FV_OK); /* again: update, same streams */
    assert_int_equal(fv_bus_epoch(bus), e1);
    fv_bus *other = new_bus("flovyn"); /* a second process sees the same incarnation */
    assert_int_equal(fv_bus_epoch(other), e1);
    fv_bus_destroy(other);
    fv_bus_destroy(bus);
}

static void test_jetstream_provision_reports_subject_conflict(void **state)
{
    /* someone else's stream already owns the subjects */
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, srv.url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subj[] = {"flovyn.v1.events.>"};
    sc.Name = "SQUATTER";
    sc.Subjects = subj;
    sc.SubjectsLen = 1;
    sc.Storage = js_MemoryStorage;
    jsStreamInfo *si = NULL;
    assert_int_equal(js_AddStream(&si, js, &sc, NULL, NULL), NATS_OK);
    jsStreamInfo_Destroy(si);

    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = srv.url;
    c.prefix = "flovyn";
    fv_bus *bus = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_create(&c, &bus, &err), FV_OK);
    fv_status st = fv_bus_provision(bus, &err);
    assert_int_equal(st, FV_ECONFLICT);
    assert_non_null(strstr(err.msg, "overlap"));
    fv_bus_destroy(bus);
    js_DeleteStream(js, "SQUATTER", NULL, NULL);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
}

static void test_jetstream_provision_refuses_another_prefix_on_same_streams(void **state)
{
    fv_bus *bus = new_bus("flovyn");
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = srv.url;
    c.prefix = "other";
    fv_bus *other = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_create(&c, &other, &err), FV_OK);
    /* re-pointing FLOVYN_EVENTS at other subjects would hijack the first deployment's history */
    assert_int_equal(fv_bus_provision(other, &err), FV_ECONFLICT);
    assert_non_null(strstr(err.msg, "flovyn.v1.events.>"));
    fv_bus_destroy(other);
    fv_bus_destroy(bus);
}

static void test_jetstream_provision_reports_storage_conflict(void **state)
{
    fv_bus *bus = new_bus("flovyn");
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, srv.url), NATS_OK);
    assert_int_equal(natsConnection_JetStream(&js, nc, NULL), NATS_OK);
    /* recreate FLOVYN_STREAMS with memory storage, as an operator mistake would */
    assert_int_equal(js_DeleteStream(js, FV_STREAM_STREAMS, NULL, NULL), NATS_OK);
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    const char *subj[] = {"flovyn.v1.streams.>"};
    sc.Name = FV_STREAM_STREAMS;
    sc.Subjects = subj;
    sc.SubjectsLen = 1;
    sc.Storage = js_MemoryStorage;
    jsStreamInfo *si = NULL;
    assert_int_equal(js_AddStream(&si, js, &sc, NULL, NULL), NATS_OK);
    jsStreamInfo_Destroy(si);
    fv_err err = {{0}};
    assert_int_equal(fv_bus_provision(bus, &err), FV_ECONFLICT);
    assert_non_null(strstr(err.msg, "storage"));
    /* clean up so the next tests can provision */
    assert_int_equal(fv_test_js_delete_stream(srv.url, FV_STREAM_STREAMS), 0);
    assert_int_equal(fv_test_js_delete_stream(srv.url, FV_STREAM_EVENTS), 0);
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    fv_bus_destroy(bus);
}

static void test_jetstream_epoch_changes_when_stream_recreated(void **state)
{
    fv_bus *bus = new_bus("flovyn");
    uint64_t e1 = fv_bus_epoch(bus);
    /* an operator deletes the stream, on a connection of its own */
    assert_int_equal(fv_test_js_delete_stream(srv.url, FV_STREAM_EVENTS), 0);
    fv_err err = {{0}};
    assert_int_equal(fv_bus_provision(bus, &err), FV_OK);
    uint64_t e2 = fv_bus_epoch(bus);
    assert_int_not_equal(e2, 0);
    assert_int_not_equal(e1, e2);
    assert_int_equal(fv_test_js_delete_stream(srv.url, FV_STREAM_STREAMS), 0);
    assert_int_equal(fv_test_js_delete_stream(srv.url, FV_STREAM_EVENTS), 0);
    fv_bus_destroy(bus);
}

static void test_jetstream_publish_returns_sequence_and_dedups_per_tenant(void **state)
{
    fv_bus *bus = new_bus("flovyn");
    fv_err err = {{0}};
    fv_event a, b;
    make_event(&a, "tenant-a", "id-1", "task.completed");
    make_event(&b, "tenant-b", "id-1", "task.completed");
    fv_publish_result r1 = {0}, r2 = {0}, r3 = {0};
    assert_int_equal(fv_bus_publish_event(bus, &a, &r1, &err), FV_OK);
    assert_true(r1.seq > 0);
    assert_false(r1.duplicate);
    /* same id, same tenant, within the window: stored once, original sequence */
    assert_int_equal(fv_bus_publish_event(bus, &a, &r2, &err), FV_OK);
    assert_true(r2.duplicate);
    assert_int_equal(r2.seq, r1.seq);
    /* same id from another tenant is another event */
    assert_int_equal(fv_bus_publish_event(bus, &b, &r3, &err), FV_OK);
    assert_false(r3.duplicate);
    assert_int_equal(r3.seq, r1.seq + 1);
    uint64_t last = 0;
    assert_int_equal(fv_bus_last_seq(bus, FV_SRC_EVENTS, &last, &err), FV_OK);
    assert_int_equal(last, r3.seq);

    fv_stream_event se;
    fv_stream_event_init(&se);
    snprintf(se.tenant_id, sizeof se.tenant_id, "tenant-a");
    snprintf(se.workflow_execution_id, sizeof se.workflow_execution_id, "wf-1");
    se.sequence = 1;
    se.kind = FV_KIND_TOKEN;
    se.timestamp_ms = 1767139200000;
    fv_publish_result rs = {0};
    assert_int_equal(fv_bus_publish_stream(bus, &se, &rs, &err), FV_OK);
    assert_int_equal(rs.seq, 1);
    assert_int_equal(fv_bus_publish_stream(bus, &se, &rs, &err), FV_OK);
    assert_true(rs.duplicate);
    fv_stream_event_clear(&se);
    fv_event_clear(&a);
    fv_event_clear(&b);
    fv_bus_destroy(bus);
}

static void test_jetstream_publish_batch_settles_every_item_in_order(void **state)
{
    fv_bus *bus = new_bus("flovyn");
    fv_err err = {{0}};
    enum { N = 5000 };
    fv_event *evs = calloc(N, sizeof *evs);
    fv_publish_item *items = calloc(N + 1, sizeof *items);
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof id, "batch-%d", i);
        make_event(&evs[i], "tenant-batch", id, "workflow.started");
        items[i].ev = &evs[i];
    }
    /* an invalid item keeps its own error and does not stop the others */
    fv_event bad;
    make_event(&bad, "tenant-batch", "bad", "error.x"); /* reserved first token */
    items[N].ev = &bad;
    uint64_t before = 0;
    assert_int_equal(fv_bus_last_seq(bus, FV_SRC_EVENTS, &before, &err), FV_OK);
    assert_int_equal(fv_bus_publish_batch(bus, items, N + 1, &err), FV_OK);
    for (int i = 0; i < N; i++) {
        assert_int_equal(items[i].status, FV_OK);
        assert_false(items[i].result.duplicate);
    }
    assert_int_equal(items[N].status, FV_EINVAL);
    /* one stream, one connection: stored in the order sent */
    for (int i = 1; i < N; i++)
        assert_true(items[i].result.seq > items[i - 1].result.seq);
    uint64_t after = 0;
    assert_int_equal(fv_bus_last_seq(bus, FV_SRC_EVENTS, &after, &err), FV_OK);
    assert_int_equal(after - before, N);
    /* the same batch again: every item is a duplicate pointing at its original */
    uint64_t first_seq = items[0].result.seq;
    assert_int_equal(fv_bus_publish_batch(bus, items, N, &err), FV_OK);
    assert_true(items[0].result.duplicate);
    assert_int_equal(items[0].result.seq, first_seq);
    fv_bus_stats stats;
    fv_bus_get_stats(bus, &stats);
    assert_true(stats.duplicates >= N);
    for (int i = 0; i < N; i++)
        fv_event_clear(&evs[i]);
    fv_event_clear(&bad);
    free(evs);
    free(items);
    fv_bus_destroy(bus);
}

static void test_jetstream_publish_too_big_for_the_server_fails_alone(void **state)
{
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = srv.url;
    c.limits.max_data = 4 << 20; /* the library allows it; nats-server's 1 MB max_payload not */
    fv_bus *bus = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_create(&c, &bus, &err), FV_OK);
    assert_int_equal(fv_bus_provision(bus, &err), FV_OK);
    size_t n = 1100 * 1024;
    char *big = malloc(n + 1);
    memset(big, 'a', n);
    big[0] = '"';
    big[n - 1] = '"';
    big[n] = '\0';
    fv_event ev[2];
    make_event(&ev[0], "tenant-big", "big-1", "task.completed");
    assert_int_equal(fv_event_set_data(&ev[0], big, n, &c.limits, &err), FV_OK);
    make_event(&ev[1], "tenant-big", "small-1", "task.completed");
    fv_publish_item items[2] = {{.ev = &ev[0]}, {.ev = &ev[1]}};
    assert_int_equal(fv_bus_publish_batch(bus, items, 2, &err), FV_OK);
    assert_int_equal(items[0].status, FV_ETOOBIG);
    assert_non_null(strstr(items[0].err.msg, "max_payload"));
    assert_int_equal(items[1].status, FV_OK);
    assert_true(items[1].result.seq > 0);
    free(big);
    fv_event_clear(&ev[0]);
    fv_event_clear(&ev[1]);
    fv_bus_destroy(bus);
}

static void test_jetstream_create_fails_clearly_without_server(void **state)
{
    fv_bus_config c;
    fv_bus_config_init(&c);
    char url[64];
    snprintf(url, sizeof url, "nats://127.0.0.1:%d", fv_test_free_port());
    c.nats_url = url;
    fv_bus *bus = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_create(&c, &bus, &err), FV_EUNAVAIL);
    assert_null(bus);
    assert_non_null(strstr(err.msg, "cannot connect"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jetstream_provision_reports_subject_conflict),
        cmocka_unit_test(test_jetstream_provision_is_idempotent_and_ready),
        cmocka_unit_test(test_jetstream_provision_refuses_another_prefix_on_same_streams),
        cmocka_unit_test(test_jetstream_provision_reports_storage_conflict),
        cmocka_unit_test(test_jetstream_epoch_changes_when_stream_recreated),
        cmocka_unit_test(test_jetstream_publish_returns_sequence_and_dedups_per_tenant),
        cmocka_unit_test(test_jetstream_publish_batch_settles_every_item_in_order),
        cmocka_unit_test(test_jetstream_publish_too_big_for_the_server_fails_alone),
        cmocka_unit_test(test_jetstream_create_fails_clearly_without_server),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
