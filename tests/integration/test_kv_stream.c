/* test_kv_stream.c - the library's KV buckets (flovyn/kv.h), the bridge's streams
 * (flovyn/stream.h) and core subscriptions (flovyn/core_sub.h) on a real nats-server: the
 * compare-and-set pair settles races, a watcher sees values then changes, ensure is idempotent
 * and refuses what JetStream cannot change, and a stream's messages are read by sequence.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "fixture.h"
#include "flovyn/bus.h"
#include "flovyn/core_sub.h"
#include "flovyn/kv.h"
#include "flovyn/stream.h"
#include "flovyn/units.h"

static fv_nats_server srv;
static fv_bus *bus;

static int group_setup(void **state)
{
    if (fv_nats_start(&srv) != 0)
        return -1;
    fv_err err = {{0}};
    if (fv_test_bus_open(srv.url, "test-kv-stream", &bus, &err) != FV_OK) {
        fprintf(stderr, "setup: %s\n", err.msg);
        return -1;
    }
    return 0;
}

static int group_teardown(void **state)
{
    fv_bus_destroy(bus);
    fv_nats_cleanup(&srv);
    return 0;
}

static void test_kv_create_and_update_are_compare_and_set(void **state)
{
    fv_kv *kv = NULL;
    fv_kv_config kc = {.bucket = "T_CAS", .create = true};
    fv_err err = {{0}};
    assert_int_equal(fv_kv_open(bus, &kc, &kv, &err), FV_OK);
    char *v = NULL;
    size_t len = 0;
    uint64_t r0 = 0, r1 = 0, r2 = 0;
    assert_int_equal(fv_kv_get(kv, "k", &v, &len, &r0, &err), FV_ENOTFOUND);
    assert_int_equal(fv_kv_create(kv, "k", "one", 3, &r1, &err), FV_OK);
    assert_int_equal(fv_kv_create(kv, "k", "two", 3, NULL, &err), FV_ECONFLICT);
    assert_int_equal(fv_kv_update(kv, "k", "two", 3, r1, &r2, &err), FV_OK);
    assert_true(r2 > r1);
    /* a writer that read r1 lost the race */
    assert_int_equal(fv_kv_update(kv, "k", "three", 5, r1, NULL, &err), FV_ECONFLICT);
    assert_int_equal(fv_kv_get(kv, "k", &v, &len, &r0, &err), FV_OK);
    assert_int_equal(len, 3);
    assert_string_equal(v, "two");
    assert_int_equal(r0, r2);
    free(v);
    /* deleted keys can be created again and are not listed */
    assert_int_equal(fv_kv_put(kv, "other", "x", 1, NULL, &err), FV_OK);
    assert_int_equal(fv_kv_delete(kv, "k", &err), FV_OK);
    char **keys = NULL;
    size_t n = 0;
    assert_int_equal(fv_kv_keys(kv, &keys, &n, &err), FV_OK);
    assert_int_equal(n, 1);
    assert_string_equal(keys[0], "other");
    fv_kv_keys_free(keys, n);
    assert_int_equal(fv_kv_create(kv, "k", "again", 5, NULL, &err), FV_OK);
    fv_kv_close(kv);
}

static void test_kv_open_without_create_names_the_missing_bucket(void **state)
{
    fv_kv *kv = NULL;
    fv_kv_config kc = {.bucket = "T_ABSENT"};
    fv_err err = {{0}};
    assert_int_equal(fv_kv_open(bus, &kc, &kv, &err), FV_ENOTFOUND);
    assert_null(kv);
    assert_non_null(strstr(err.msg, "T_ABSENT"));
    assert_non_null(strstr(err.msg, "flovyn-bridge init"));
}

static void test_kv_ensure_is_idempotent_and_updates_the_ttl(void **state)
{
    fv_err err = {{0}};
    fv_kv_config kc = {.bucket = "T_TTL", .ttl_ms = 60000};
    assert_int_equal(fv_kv_ensure(bus, &kc, &err), FV_OK);
    assert_int_equal(fv_kv_ensure(bus, &kc, &err), FV_OK);
    kc.ttl_ms = 120000;
    assert_int_equal(fv_kv_ensure(bus, &kc, &err), FV_OK);
    fv_stream_state ss;
    assert_int_equal(fv_stream_info(bus, "KV_T_TTL", &ss, &err), FV_OK);
    assert_int_equal(ss.replicas, 1);
}

static void test_kv_watcher_gives_values_then_changes(void **state)
{
    fv_kv *kv = NULL;
    fv_kv_config kc = {.bucket = "T_WATCH", .create = true};
    fv_err err = {{0}};
    assert_int_equal(fv_kv_open(bus, &kc, &kv, &err), FV_OK);
    assert_int_equal(fv_kv_put(kv, "a", "1", 1, NULL, &err), FV_OK);
    fv_kv_watcher *w = NULL;
    assert_int_equal(fv_kv_watch_all(kv, &w, &err), FV_OK);
    fv_kv_change c;
    bool have = false;
    assert_int_equal(fv_kv_watcher_next(w, 5000, &c, &have, &err), FV_OK);
    assert_true(have);
    assert_int_equal(c.op, FV_KV_PUT);
    assert_string_equal(c.key, "a");
    assert_int_equal(c.len, 1);
    assert_int_equal(fv_kv_watcher_next(w, 5000, &c, &have, &err), FV_OK);
    assert_false(have); /* end of the initial values */
    assert_int_equal(fv_kv_delete(kv, "a", &err), FV_OK);
    assert_int_equal(fv_kv_watcher_next(w, 5000, &c, &have, &err), FV_OK);
    assert_true(have);
    assert_int_equal(c.op, FV_KV_DELETE);
    assert_string_equal(c.key, "a");
    fv_kv_watcher_stop(w);
    assert_int_equal(fv_kv_watcher_next(w, 100, &c, &have, &err), FV_ECLOSED);
    fv_kv_watcher_destroy(w);
    fv_kv_close(kv);
}

static void test_stream_ensure_publish_get_delete_purge(void **state)
{
    const char *subjects[1] = {"t.dlq.>"};
    fv_stream_config sc = {
        .name = "T_DLQ", .subjects = subjects, .nsubjects = 1, .max_age_ms = 3600000};
    fv_err err = {{0}};
    assert_int_equal(fv_stream_ensure(bus, &sc, &err), FV_OK);
    sc.max_age_ms = 7200000;
    assert_int_equal(fv_stream_ensure(bus, &sc, &err), FV_OK);
    fv_stream_header h[1] = {{"Flovyn-Dlq-Reason", "because"}};
    fv_stream_pub p = {.subject = "t.dlq.a",
                       .data = "{}",
                       .len = 2,
                       .headers = h,
                       .nheaders = 1,
                       .msg_id = "m1",
                       .expect_stream = "T_DLQ"};
    uint64_t s1 = 0, s2 = 0, s3 = 0;
    assert_int_equal(fv_stream_publish(bus, &p, &s1, &err), FV_OK);
    assert_int_equal(fv_stream_publish(bus, &p, &s2, &err), FV_OK);
    assert_int_equal(s1, s2); /* same msg id: stored once */
    p.subject = "t.dlq.b";
    p.msg_id = NULL;
    assert_int_equal(fv_stream_publish(bus, &p, &s3, &err), FV_OK);
    fv_stream_msg *m = NULL;
    assert_int_equal(fv_stream_get(bus, "T_DLQ", s1, &m, &err), FV_OK);
    assert_string_equal(fv_stream_msg_subject(m), "t.dlq.a");
    assert_string_equal(fv_stream_msg_header(m, "Flovyn-Dlq-Reason"), "because");
    assert_null(fv_stream_msg_header(m, "Absent"));
    size_t len = 0;
    assert_memory_equal(fv_stream_msg_data(m, &len), "{}", 2);
    assert_int_equal(len, 2);
    fv_stream_msg_destroy(m);
    assert_int_equal(fv_stream_delete_msg(bus, "T_DLQ", s1, &err), FV_OK);
    assert_int_equal(fv_stream_delete_msg(bus, "T_DLQ", s1, &err), FV_OK);
    assert_int_equal(fv_stream_get(bus, "T_DLQ", s1, &m, &err), FV_ENOTFOUND);
    assert_int_equal(fv_stream_purge(bus, "T_DLQ", "t.dlq.b", &err), FV_OK);
    fv_stream_state ss;
    assert_int_equal(fv_stream_info(bus, "T_DLQ", &ss, &err), FV_OK);
    assert_int_equal(ss.msgs, 0);
    assert_int_equal(fv_stream_info(bus, "T_NONE", &ss, &err), FV_ENOTFOUND);
}

static void test_stream_ensure_refuses_overlapping_subjects(void **state)
{
    const char *subjects[1] = {"t.over.>"};
    fv_stream_config sc = {.name = "T_OVER1", .subjects = subjects, .nsubjects = 1};
    fv_err err = {{0}};
    assert_int_equal(fv_stream_ensure(bus, &sc, &err), FV_OK);
    sc.name = "T_OVER2";
    assert_int_equal(fv_stream_ensure(bus, &sc, &err), FV_ECONFLICT);
    assert_non_null(strstr(err.msg, "overlap"));
}

typedef struct got {
    char subject[64], data[64], header[64];
    int n;
} got;

static void on_core(void *ud, const fv_core_msg *m)
{
    got *g = ud;
    size_t len = 0;
    const void *d = fv_core_msg_data(m, &len);
    snprintf(g->subject, sizeof g->subject, "%s", fv_core_msg_subject(m));
    snprintf(g->data, sizeof g->data, "%.*s", (int)len, (const char *)d);
    const char *h = fv_core_msg_header(m, "Content-Type");
    snprintf(g->header, sizeof g->header, "%s", h ? h : "");
    __atomic_add_fetch(&g->n, 1, __ATOMIC_SEQ_CST);
}

static void test_core_subscription_sees_messages_until_closed(void **state)
{
    got g = {0};
    fv_core_sub *s = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_core_subscribe(bus, "t.core.*", on_core, &g, &s, &err), FV_OK);
    fv_stream_header h[1] = {{"Content-Type", "application/json"}};
    /* the message reaches core subscribers as it is stored (any publish would) */
    const char *subjects[1] = {"t.core.>"};
    fv_stream_config sc = {.name = "T_CORE", .subjects = subjects, .nsubjects = 1};
    assert_int_equal(fv_stream_ensure(bus, &sc, &err), FV_OK);
    fv_stream_pub p = {.subject = "t.core.x", .data = "hi", .len = 2, .headers = h, .nheaders = 1};
    assert_int_equal(fv_stream_publish(bus, &p, NULL, &err), FV_OK);
    for (int i = 0; i < 200 && __atomic_load_n(&g.n, __ATOMIC_SEQ_CST) < 1; i++)
        fv_sleep_ms(10);
    fv_core_sub_close(s);
    assert_int_equal(g.n, 1);
    assert_string_equal(g.subject, "t.core.x");
    assert_string_equal(g.data, "hi");
    assert_string_equal(g.header, "application/json");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_kv_create_and_update_are_compare_and_set),
        cmocka_unit_test(test_kv_open_without_create_names_the_missing_bucket),
        cmocka_unit_test(test_kv_ensure_is_idempotent_and_updates_the_ttl),
        cmocka_unit_test(test_kv_watcher_gives_values_then_changes),
        cmocka_unit_test(test_stream_ensure_publish_get_delete_purge),
        cmocka_unit_test(test_stream_ensure_refuses_overlapping_subjects),
        cmocka_unit_test(test_core_subscription_sees_messages_until_closed),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
