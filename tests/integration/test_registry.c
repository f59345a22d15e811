/* test_registry.c - the workflow registry (KV FLOVYN_WORKFLOWS) on a real nats-server: first
 * sequences recorded once, first-come tenant ownership, final terminal status, sweep, and the
 * maintainer catching up from the durable consumers and dead-lettering a foreign tenant's event.
 * One server for the group; each test uses workflow ids of its own.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "fixture.h"
#include "flovyn/bus.h"
#include "flovyn/kv.h"
#include "flovyn/registry.h"
#include "flovyn/units.h"

static fv_nats_server srv;
static fv_bus *bus;
static fv_registry *reg;

static int group_setup(void **state)
{
    if (fv_nats_start(&srv) != 0)
        return -1;
    fv_err err = {{0}};
    if (fv_test_bus_open(srv.url, "test-registry", &bus, &err) != FV_OK ||
        fv_bus_provision(bus, &err) != FV_OK ||
        fv_registry_provision(bus, 7LL * 86400 * 1000, 1, &err) != FV_OK ||
        fv_registry_open(bus, &reg, &err) != FV_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    fv_registry_close(reg);
    fv_bus_destroy(bus);
    fv_nats_cleanup(&srv);
    return 0;
}

static fv_status observe(const char *tenant, const char *wf, const char *parent, const char *type,
                         fv_source src, uint64_t seq, int64_t time_ms)
{
    fv_registry_obs o = {.tenant_id = tenant,
                         .workflow_execution_id = wf,
                         .parent_workflow_execution_id = parent,
                         .event_type = type,
                         .source = src,
                         .seq = seq,
                         .time_ms = time_ms};
    fv_err err = {{0}};
    return fv_registry_observe(reg, &o, &err);
}

static void test_registry_records_first_sequences_once(void **state)
{
    assert_int_equal(observe("ta", "wf-first", NULL, "workflow.started", FV_SRC_EVENTS, 5, 0),
                     FV_OK);
    assert_int_equal(observe("ta", "wf-first", NULL, "task.created", FV_SRC_EVENTS, 9, 0), FV_OK);
    assert_int_equal(observe("ta", "wf-first", NULL, NULL, FV_SRC_STREAMS, 3, 0), FV_OK);
    assert_int_equal(observe("ta", "wf-first", NULL, NULL, FV_SRC_STREAMS, 4, 0), FV_OK);
    fv_registry_entry e;
    fv_err err = {{0}};
    assert_int_equal(fv_registry_get(reg, "wf-first", &e, &err), FV_OK);
    assert_string_equal(e.tenant_id, "ta");
    assert_int_equal(e.first_events_seq, 5);
    assert_int_equal(e.first_streams_seq, 3);
    assert_string_equal(e.status, "running");
}

static void test_registry_stream_event_first_then_lifecycle_fills_events_seq(void **state)
{
    assert_int_equal(observe("ta", "wf-streamfirst", NULL, NULL, FV_SRC_STREAMS, 11, 0), FV_OK);
    assert_int_equal(
        observe("ta", "wf-streamfirst", "wf-first", "workflow.started", FV_SRC_EVENTS, 20, 0),
        FV_OK);
    fv_registry_entry e;
    fv_err err = {{0}};
    assert_int_equal(fv_registry_get(reg, "wf-streamfirst", &e, &err), FV_OK);
    assert_int_equal(e.first_streams_seq, 11);
    assert_int_equal(e.first_events_seq, 20);
    assert_string_equal(e.parent_workflow_execution_id, "wf-first");
}

/* Bridges sharing the registry's durable consumer (or a redelivery) can observe a workflow's
 * events out of order: the entry keeps the lowest sequence, whichever came first, or a workflow
 * stream started from it would skip the workflow's first events. */
static void test_registry_keeps_the_lowest_sequence_seen(void **state)
{
    assert_int_equal(observe("ta", "wf-late", NULL, "task.created", FV_SRC_EVENTS, 30, 0), FV_OK);
    assert_int_equal(observe("ta", "wf-late", NULL, NULL, FV_SRC_STREAMS, 8, 0), FV_OK);
    assert_int_equal(observe("ta", "wf-late", NULL, "workflow.started", FV_SRC_EVENTS, 25, 0),
                     FV_OK);
    assert_int_equal(observe("ta", "wf-late", NULL, NULL, FV_SRC_STREAMS, 6, 0), FV_OK);
    assert_int_equal(observe("ta", "wf-late", NULL, "task.completed", FV_SRC_EVENTS, 31, 0), FV_OK);
    fv_registry_entry e;
    fv_err err = {{0}};
    assert_int_equal(fv_registry_get(reg, "wf-late", &e, &err), FV_OK);
    assert_int_equal(e.first_events_seq, 25);
    assert_int_equal(e.first_streams_seq, 6);
}

static void test_registry_refuses_second_tenant_and_keeps_entry(void **state)
{
    assert_int_equal(observe("owner", "wf-claimed", NULL, "workflow.started", FV_SRC_EVENTS, 30, 0),
                     FV_OK);
    fv_registry_obs o = {.tenant_id = "intruder",
                         .workflow_execution_id = "wf-claimed",
                         .parent_workflow_execution_id = "px",
                         .event_type = "workflow.failed",
                         .source = FV_SRC_EVENTS,
                         .seq = 31};
    fv_err err = {{0}};
    assert_int_equal(fv_registry_observe(reg, &o, &err), FV_ECONFLICT);
    assert_non_null(strstr(err.msg, "owner"));
    fv_registry_entry e;
    assert_int_equal(fv_registry_get(reg, "wf-claimed", &e, &err), FV_OK);
    assert_string_equal(e.tenant_id, "owner");
    assert_string_equal(e.status, "running");
    assert_string_equal(e.parent_workflow_execution_id, "");
    assert_int_equal(e.first_events_seq, 30);
}

static void test_registry_terminal_status_is_final(void **state)
{
    assert_int_equal(observe("ta", "wf-term", NULL, "workflow.started", FV_SRC_EVENTS, 40, 0),
                     FV_OK);
    assert_int_equal(observe("ta", "wf-term", NULL, "workflow.completed", FV_SRC_EVENTS, 41, 0),
                     FV_OK);
    /* a redelivered earlier event must not reopen it */
    assert_int_equal(observe("ta", "wf-term", NULL, "workflow.started", FV_SRC_EVENTS, 40, 0),
                     FV_OK);
    fv_registry_entry e;
    fv_err err = {{0}};
    assert_int_equal(fv_registry_get(reg, "wf-term", &e, &err), FV_OK);
    assert_string_equal(e.status, "completed");
}

static void test_registry_status_mapping(void **state)
{
    bool term = false;
    assert_string_equal(fv_registry_status_for_type("workflow.started", &term), "running");
    assert_false(term);
    assert_string_equal(fv_registry_status_for_type("workflow.canceled", &term), "cancelled");
    assert_true(term);
    assert_string_equal(fv_registry_status_for_type("workflow.timed_out", &term), "timed_out");
    assert_null(fv_registry_status_for_type("task.completed", &term));
    assert_null(fv_registry_status_for_type("child_workflow.completed", &term));
}

static void test_registry_get_unknown_and_invalid(void **state)
{
    fv_registry_entry e;
    fv_err err = {{0}};
    assert_int_equal(fv_registry_get(reg, "wf-never-seen", &e, &err), FV_ENOTFOUND);
    assert_int_equal(fv_registry_get(reg, "a.>", &e, &err), FV_EINVAL);
    assert_int_equal(observe("t.x", "wf-x", NULL, NULL, FV_SRC_EVENTS, 1, 0), FV_EINVAL);
}

static void test_registry_sweep_removes_only_old_terminal_entries(void **state)
{
    int64_t old = fv_now_ms() - 60000;
    assert_int_equal(
        observe("ts", "wf-sweep-old", NULL, "workflow.completed", FV_SRC_EVENTS, 50, old), FV_OK);
    assert_int_equal(
        observe("ts", "wf-sweep-running", NULL, "workflow.started", FV_SRC_EVENTS, 51, old), FV_OK);
    assert_int_equal(
        observe("ts", "wf-sweep-recent", NULL, "workflow.failed", FV_SRC_EVENTS, 52, 0), FV_OK);
    size_t removed = 0;
    fv_err err = {{0}};
    assert_int_equal(fv_registry_sweep(reg, 30000, &removed, &err), FV_OK);
    assert_true(removed >= 1);
    fv_registry_entry e;
    assert_int_equal(fv_registry_get(reg, "wf-sweep-old", &e, &err), FV_ENOTFOUND);
    assert_int_equal(fv_registry_get(reg, "wf-sweep-running", &e, &err), FV_OK);
    assert_int_equal(fv_registry_get(reg, "wf-sweep-recent", &e, &err), FV_OK);
}

static void test_registry_replaces_an_unreadable_record(void **state)
{
    fv_kv *kv = NULL;
    fv_kv_config kc = {.bucket = FV_BUCKET_WORKFLOWS};
    assert_int_equal(fv_kv_open(bus, &kc, &kv, NULL), FV_OK);
    assert_int_equal(fv_kv_put(kv, "wf-garbage", "not json", 8, NULL, NULL), FV_OK);
    fv_kv_close(kv);
    fv_registry_entry e;
    fv_err err = {{0}};
    assert_int_equal(fv_registry_get(reg, "wf-garbage", &e, &err), FV_EINVAL);
    assert_int_equal(observe("tg", "wf-garbage", NULL, "workflow.started", FV_SRC_EVENTS, 77, 0),
                     FV_OK);
    assert_int_equal(fv_registry_get(reg, "wf-garbage", &e, &err), FV_OK);
    assert_string_equal(e.tenant_id, "tg");
    assert_int_equal(e.first_events_seq, 77);
}

static void test_registry_entry_json_shape(void **state)
{
    fv_registry_entry e;
    fv_err err = {{0}};
    assert_int_equal(fv_registry_get(reg, "wf-streamfirst", &e, &err), FV_OK);
    fv_buf b = FV_BUF_INIT;
    assert_int_equal(fv_registry_entry_to_json(&e, &b), FV_OK);
    assert_non_null(strstr(b.data, "\"workflow_execution_id\":\"wf-streamfirst\""));
    assert_non_null(strstr(b.data, "\"parent_workflow_execution_id\":\"wf-first\""));
    assert_non_null(strstr(b.data, "\"first_streams_seq\":11"));
    fv_buf_free(&b);
}

/* --- the maintainer ----------------------------------------------------------------------- */

typedef struct dl_capture {
    int n;
    char subject[256];
    char reason[512];
    char msg_id[128];
} dl_capture;

static fv_status capture_dead_letter(void *ud, const char *subject, const void *data, size_t len,
                                     const char *ct, const char *reason, const char *msg_id)
{
    dl_capture *c = ud;
    snprintf(c->msg_id, sizeof c->msg_id, "%s", msg_id);
    snprintf(c->subject, sizeof c->subject, "%s", subject);
    snprintf(c->reason, sizeof c->reason, "%s", reason);
    __atomic_add_fetch(&c->n, 1, __ATOMIC_SEQ_CST);
    return FV_OK;
}

static uint64_t publish(const char *tenant, const char *wf, const char *parent, const char *type)
{
    fv_event ev;
    fv_event_init(&ev);
    snprintf(ev.tenant_id, sizeof ev.tenant_id, "%s", tenant);
    snprintf(ev.workflow_execution_id, sizeof ev.workflow_execution_id, "%s", wf);
    if (parent)
        snprintf(ev.parent_workflow_execution_id, sizeof ev.parent_workflow_execution_id, "%s",
                 parent);
    snprintf(ev.event_type, sizeof ev.event_type, "%s", type);
    snprintf(ev.source, sizeof ev.source, "test");
    fv_event_fill_defaults(&ev);
    fv_publish_result r = {0};
    fv_err err = {{0}};
    assert_int_equal(fv_bus_publish_event(bus, &ev, &r, &err), FV_OK);
    fv_event_clear(&ev);
    return r.seq;
}

static uint64_t publish_token(const char *tenant, const char *wf, int64_t seq)
{
    fv_stream_event se;
    fv_stream_event_init(&se);
    snprintf(se.tenant_id, sizeof se.tenant_id, "%s", tenant);
    snprintf(se.workflow_execution_id, sizeof se.workflow_execution_id, "%s", wf);
    se.sequence = seq;
    se.kind = FV_KIND_TOKEN;
    se.timestamp_ms = fv_now_ms();
    fv_err err = {{0}};
    assert_int_equal(fv_stream_event_set_payload(&se, "\"t\"", 3, NULL, &err), FV_OK);
    fv_publish_result r = {0};
    assert_int_equal(fv_bus_publish_stream(bus, &se, &r, &err), FV_OK);
    fv_stream_event_clear(&se);
    return r.seq;
}

static bool wait_entry(const char *wf, fv_registry_entry *e,
                       bool (*done)(const fv_registry_entry *))
{
    for (int i = 0; i < 200; i++) {
        fv_err err = {{0}};
        if (fv_registry_get(reg, wf, e, &err) == FV_OK && (!done || done(e)))
            return true;
        usleep(50000);
    }
    return false;
}

static bool both_seqs(const fv_registry_entry *e)
{
    return e->first_events_seq && e->first_streams_seq;
}

static bool is_completed(const fv_registry_entry *e)
{
    return !strcmp(e->status, "completed");
}

static void test_maintainer_catches_up_on_events_stored_before_it_started(void **state)
{
    /* stored while no maintainer runs: the durable consumers still see them */
    uint64_t s1 = publish("tm", "wf-maint", NULL, "workflow.started");
    publish("tm", "wf-maint", NULL, "task.created");
    uint64_t t1 = publish_token("tm", "wf-maint", 0);
    publish_token("tm", "wf-maint", 1);
    publish("tm", "wf-maint-child", "wf-maint", "workflow.started");

    dl_capture dl = {0};
    fv_registry_maintainer_config mc = {.dead_letter = capture_dead_letter, .dead_letter_ud = &dl};
    fv_registry_maintainer *m = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_registry_maintainer_start(bus, reg, &mc, &m, &err), FV_OK);

    fv_registry_entry e;
    assert_true(wait_entry("wf-maint", &e, both_seqs));
    assert_string_equal(e.tenant_id, "tm");
    assert_int_equal(e.first_events_seq, s1);
    assert_int_equal(e.first_streams_seq, t1);
    assert_true(wait_entry("wf-maint-child", &e, NULL));
    assert_string_equal(e.parent_workflow_execution_id, "wf-maint");

    /* live: a terminal event updates the status */
    publish("tm", "wf-maint", NULL, "workflow.completed");
    assert_true(wait_entry("wf-maint", &e, is_completed));
    assert_int_equal(e.first_events_seq, s1);

    /* another tenant reusing the workflow id: dead-lettered, entry unchanged */
    publish("tother", "wf-maint", NULL, "workflow.started");
    for (int i = 0; i < 200 && __atomic_load_n(&dl.n, __ATOMIC_SEQ_CST) == 0; i++)
        usleep(50000);
    assert_int_equal(__atomic_load_n(&dl.n, __ATOMIC_SEQ_CST), 1);
    assert_non_null(strstr(dl.reason, "belongs to tenant tm"));
    assert_non_null(strstr(dl.subject, ".tother.wf-maint."));
    assert_non_null(strstr(dl.msg_id, "registry:FLOVYN_EVENTS:"));
    assert_int_equal(fv_registry_get(reg, "wf-maint", &e, &err), FV_OK);
    assert_string_equal(e.tenant_id, "tm");
    assert_string_equal(e.status, "completed");

    fv_registry_stats st;
    fv_registry_maintainer_stats(m, &st);
    assert_true(st.observed >= 6);
    assert_int_equal(st.conflicts, 1);
    fv_registry_maintainer_stop(m);
}

static void test_registry_needs_jetstream(void **state)
{
    fv_bus_config c;
    fv_bus_config_init(&c);
    fv_bus *mem = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_create(&c, &mem, &err), FV_OK);
    fv_registry *r = NULL;
    assert_int_equal(fv_registry_open(mem, &r, &err), FV_ENOTSUP);
    assert_null(r);
    fv_bus_destroy(mem);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_registry_records_first_sequences_once),
        cmocka_unit_test(test_registry_stream_event_first_then_lifecycle_fills_events_seq),
        cmocka_unit_test(test_registry_keeps_the_lowest_sequence_seen),
        cmocka_unit_test(test_registry_refuses_second_tenant_and_keeps_entry),
        cmocka_unit_test(test_registry_terminal_status_is_final),
        cmocka_unit_test(test_registry_status_mapping),
        cmocka_unit_test(test_registry_get_unknown_and_invalid),
        cmocka_unit_test(test_registry_sweep_removes_only_old_terminal_entries),
        cmocka_unit_test(test_registry_entry_json_shape),
        cmocka_unit_test(test_registry_replaces_an_unreadable_record),
        cmocka_unit_test(test_maintainer_catches_up_on_events_stored_before_it_started),
        cmocka_unit_test(test_registry_needs_jetstream),
    };
    return cmocka_run_group_tests_name("registry", tests, group_setup, group_teardown);
}
