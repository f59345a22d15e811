/* test_query.c - query parameters of the SSE and history endpoints: defaults, precedence
 * (Last-Event-ID header over last_event_id, cursor over since) and 400 messages naming the
 * parameter. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "query.h"

typedef struct kv {
    const char *k, *v;
} kv;

static const char *get(void *ud, const char *key)
{
    for (const kv *p = ud; p->k; p++)
        if (!strcmp(p->k, key))
            return p->v;
    return NULL;
}

static fv_status parse(const kv *params, const char *leid, fv_gw_query *q, fv_err *err)
{
    return fv_gw_query_parse_stream(q, FV_TYPES_DEFAULT_ALL, get, (void *)params, leid, err);
}

static void test_no_parameters_means_everything_from_the_default_start(void **state)
{
    (void)state;
    kv p[] = {{NULL, NULL}};
    fv_gw_query q;
    fv_err err = {{0}};
    assert_int_equal(parse(p, NULL, &q, &err), FV_OK);
    assert_non_null(q.types);
    assert_true(fv_types_filter_match_type(q.types, "task.completed"));
    assert_true(fv_types_filter_match_kind(q.types, FV_KIND_TOKEN));
    fv_start s;
    fv_gw_query_start(&q, FV_START_FIRST, &s);
    assert_int_equal(s.kind, FV_START_FIRST);
    assert_false(q.close_on_terminal);
    fv_gw_query_clear(&q);
}

static void test_tenant_default_is_lifecycle_only(void **state)
{
    (void)state;
    kv p[] = {{NULL, NULL}};
    fv_gw_query q;
    fv_err err = {{0}};
    assert_int_equal(fv_gw_query_parse_stream(&q, FV_TYPES_DEFAULT_LIFECYCLE, get, p, NULL, &err),
                     FV_OK);
    assert_true(fv_types_filter_match_type(q.types, "workflow.started"));
    assert_false(fv_types_filter_match_kind(q.types, FV_KIND_TOKEN));
    fv_gw_query_clear(&q);
}

static void test_last_event_id_header_wins_over_the_parameter(void **state)
{
    (void)state;
    kv p[] = {{"last_event_id", "v1.5.0.1"}, {NULL, NULL}};
    fv_gw_query q;
    fv_err err = {{0}};
    assert_int_equal(parse(p, "v1.9.2.1", &q, &err), FV_OK);
    assert_true(q.has_cursor);
    assert_int_equal(q.cursor.events_seq, 9);
    assert_int_equal(q.cursor.streams_seq, 2);
    fv_gw_query_clear(&q);
    assert_int_equal(parse(p, NULL, &q, &err), FV_OK);
    assert_int_equal(q.cursor.events_seq, 5);
    fv_gw_query_clear(&q);
}

static void test_cursor_wins_over_since(void **state)
{
    (void)state;
    kv p[] = {{"last_event_id", "v1.5.0.1"}, {"since", "1767139200000"}, {NULL, NULL}};
    fv_gw_query q;
    fv_err err = {{0}};
    assert_int_equal(parse(p, NULL, &q, &err), FV_OK);
    fv_start s;
    fv_gw_query_start(&q, FV_START_NEW, &s);
    assert_int_equal(s.kind, FV_START_CURSOR);
    fv_gw_query_clear(&q);
    kv p2[] = {{"since", "2026-01-01T00:00:00Z"}, {"until", "1767312000000"}, {NULL, NULL}};
    assert_int_equal(parse(p2, NULL, &q, &err), FV_OK);
    fv_gw_query_start(&q, FV_START_NEW, &s);
    assert_int_equal(s.kind, FV_START_TIME);
    assert_int_equal(s.time_ms, 1767225600000LL);
    assert_int_equal(s.until_ms, 1767312000000LL);
    fv_gw_query_clear(&q);
}

static void expect_400(const kv *p, const char *leid, const char *needle)
{
    fv_gw_query q;
    fv_err err = {{0}};
    assert_int_equal(parse(p, leid, &q, &err), FV_EINVAL);
    if (!strstr(err.msg, needle))
        fail_msg("message '%s' does not name '%s'", err.msg, needle);
    assert_null(q.types);
}

static void test_bad_ids_are_rejected_naming_the_parameter(void **state)
{
    (void)state;
    kv a[] = {{"workflow_execution_id", "a.b"}, {NULL, NULL}};
    expect_400(a, NULL, "workflow_execution_id");
    kv b[] = {{"task_execution_id", "*"}, {NULL, NULL}};
    expect_400(b, NULL, "task_execution_id");
    kv c[] = {{"workflow_execution_id", "_"}, {NULL, NULL}};
    expect_400(c, NULL, "workflow_execution_id");
    kv d[] = {{"workflow_execution_id", ""}, {NULL, NULL}};
    expect_400(d, NULL, "workflow_execution_id");
    kv e[] = {{"workflow_execution_id", ">"}, {NULL, NULL}};
    expect_400(e, NULL, "workflow_execution_id");
}

static void test_bad_types_are_rejected_naming_the_item(void **state)
{
    (void)state;
    kv a[] = {{"types", "token,ta*"}, {NULL, NULL}};
    expect_400(a, NULL, "ta*");
    kv b[] = {{"types", "workflow.>.x"}, {NULL, NULL}};
    expect_400(b, NULL, "types");
}

static void test_bad_cursors_and_times_are_rejected(void **state)
{
    (void)state;
    kv none[] = {{NULL, NULL}};
    expect_400(none, "v2.1.1.1", "Last-Event-ID");
    kv a[] = {{"last_event_id", "v1.-1.0.1"}, {NULL, NULL}};
    expect_400(a, NULL, "last_event_id");
    kv b[] = {{"since", "yesterday"}, {NULL, NULL}};
    expect_400(b, NULL, "since");
    kv c[] = {{"since", "1767312000000"}, {"until", "1767139200000"}, {NULL, NULL}};
    expect_400(c, NULL, "until");
    kv d[] = {{"close_on_terminal", "maybe"}, {NULL, NULL}};
    expect_400(d, NULL, "close_on_terminal");
    kv e[] = {{"source", "a\nb"}, {NULL, NULL}};
    expect_400(e, NULL, "source");
}

static void test_history_limit_defaults_and_bounds(void **state)
{
    (void)state;
    fv_gw_query q;
    fv_err err = {{0}};
    kv none[] = {{NULL, NULL}};
    assert_int_equal(fv_gw_query_parse_history(&q, get, none, &err), FV_OK);
    assert_int_equal(q.limit, 100);
    fv_gw_query_clear(&q);
    kv ok[] = {{"limit", "1000"}, {"after", "v1.7.0.ff"}, {NULL, NULL}};
    assert_int_equal(fv_gw_query_parse_history(&q, get, ok, &err), FV_OK);
    assert_int_equal(q.limit, 1000);
    assert_true(q.has_cursor);
    assert_int_equal(q.cursor.events_seq, 7);
    fv_gw_query_clear(&q);
    kv big[] = {{"limit", "1001"}, {NULL, NULL}};
    assert_int_equal(fv_gw_query_parse_history(&q, get, big, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "limit"));
    kv zero[] = {{"limit", "0"}, {NULL, NULL}};
    assert_int_equal(fv_gw_query_parse_history(&q, get, zero, &err), FV_EINVAL);
    kv bad[] = {{"after", "nope"}, {NULL, NULL}};
    assert_int_equal(fv_gw_query_parse_history(&q, get, bad, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "after"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_no_parameters_means_everything_from_the_default_start),
        cmocka_unit_test(test_tenant_default_is_lifecycle_only),
        cmocka_unit_test(test_last_event_id_header_wins_over_the_parameter),
        cmocka_unit_test(test_cursor_wins_over_since),
        cmocka_unit_test(test_bad_ids_are_rejected_naming_the_parameter),
        cmocka_unit_test(test_bad_types_are_rejected_naming_the_item),
        cmocka_unit_test(test_bad_cursors_and_times_are_rejected),
        cmocka_unit_test(test_history_limit_defaults_and_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
