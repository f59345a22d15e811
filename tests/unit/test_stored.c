/* Unit tests of the one rule for stored messages (stored.h): every reason a reader skips a
 * message, the agreement of subject and body in both directions, the derived id and the store
 * time for what a body leaves out, and that a good message of either shape and codec is served
 * unchanged. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flovyn/stored.h"
#include "flovyn/subject.h"

#define EV_SUBJ "flovyn.v1.events.acme.wf-1.task-1.task.completed"
#define SE_SUBJ "flovyn.v1.streams.acme.wf-1._.token"
#define STORED_MS 1767139200123LL

typedef struct judged {
    fv_status st;
    fv_stored_reason why;
    fv_err err;
    fv_event ev;
    fv_stream_event se;
} judged;

static int lookups;

static int64_t lookup(void *ud)
{
    lookups++;
    return *(int64_t *)ud;
}

static judged judge_ct(bool stream, const char *subject, const char *ct, const void *data,
                       size_t len, int64_t stored_ms)
{
    static int64_t looked_up = STORED_MS + 7;
    judged j;
    memset(&j, 0, sizeof j);
    fv_stored_msg m = {.is_stream = stream,
                       .seq = 42,
                       .subject = subject,
                       .content_type = ct,
                       .data = data,
                       .len = len,
                       .stored_ms = stored_ms,
                       .stored_time = lookup,
                       .ud = &looked_up};
    j.st = fv_stored_read(NULL, &m, NULL, &j.ev, &j.se, &j.why, &j.err);
    return j;
}

static judged judge(const char *subject, const char *json)
{
    return judge_ct(false, subject, NULL, json, strlen(json), STORED_MS);
}

static judged judge_stream(const char *subject, const char *json)
{
    return judge_ct(true, subject, NULL, json, strlen(json), STORED_MS);
}

static void release(judged *j)
{
    fv_event_clear(&j->ev);
    fv_stream_event_clear(&j->se);
}

static void expect_skip(judged j, fv_stored_reason why, const char *in_msg)
{
    if (j.st != FV_EINVAL || j.why != why)
        fail_msg("expected %s, got status %d reason %s (%s)", fv_stored_reason_name(why), j.st,
                 fv_stored_reason_name(j.why), j.err.msg);
    if (in_msg && !strstr(j.err.msg, in_msg))
        fail_msg("'%s' not in the message '%s'", in_msg, j.err.msg);
    /* nothing is handed out for a skipped message */
    assert_null(j.ev.data);
    assert_null(j.se.payload);
    assert_string_equal(j.ev.id, "");
}

/* the protobuf encoding of an event of EV_SUBJ's execution with the given id ("" = none) */
static void proto_event(const char *id, fv_buf *out)
{
    fv_event ev;
    fv_event_init(&ev);
    strcpy(ev.id, id);
    strcpy(ev.tenant_id, "acme");
    strcpy(ev.workflow_execution_id, "wf-1");
    strcpy(ev.task_execution_id, "task-1");
    strcpy(ev.event_type, "task.completed");
    assert_int_equal(fv_event_to_proto(&ev, out), FV_OK);
}

static void test_stored_serves_a_good_json_event_as_stored(void **state)
{
    judged j = judge(EV_SUBJ, "{\"id\":\"e-1\",\"tenant_id\":\"acme\",\"workflow_execution_id\":"
                              "\"wf-1\",\"task_execution_id\":\"task-1\",\"event_type\":"
                              "\"task.completed\",\"data\":{\"x\":0.1},\"timestamp_ms\":5}");
    assert_int_equal(j.st, FV_OK);
    assert_int_equal(j.why, FV_STORED_OK);
    assert_string_equal(j.ev.id, "e-1");
    assert_string_equal(j.ev.tenant_id, "acme");
    assert_int_equal(j.ev.timestamp_ms, 5);
    assert_string_equal(j.ev.data, "{\"x\":0.1}");
    release(&j);
}

static void
test_stored_event_without_id_gets_the_stream_and_sequence_and_the_store_time(void **state)
{
    const char *body = "{\"tenant_id\":\"acme\",\"workflow_execution_id\":\"wf-1\","
                       "\"task_execution_id\":\"task-1\",\"event_type\":\"task.completed\"}";
    judged j = judge(EV_SUBJ, body);
    assert_int_equal(j.st, FV_OK);
    assert_string_equal(j.ev.id, "FLOVYN_EVENTS-42");
    assert_true(fv_id_valid(j.ev.id, strlen(j.ev.id)));
    assert_int_equal(j.ev.timestamp_ms, STORED_MS);
    release(&j);
    /* the same message judged again gets the same id: nothing random */
    j = judge(EV_SUBJ, body);
    assert_string_equal(j.ev.id, "FLOVYN_EVENTS-42");
    release(&j);
    /* "id": null and "timestamp_ms": 0 mean the same as absent */
    j = judge(EV_SUBJ, "{\"id\":null,\"tenant_id\":\"acme\",\"workflow_execution_id\":\"wf-1\","
                       "\"task_execution_id\":\"task-1\",\"event_type\":\"task.completed\","
                       "\"timestamp_ms\":0}");
    assert_int_equal(j.st, FV_OK);
    assert_string_equal(j.ev.id, "FLOVYN_EVENTS-42");
    assert_int_equal(j.ev.timestamp_ms, STORED_MS);
    release(&j);
    char id[FV_ID_MAX + 1];
    assert_int_equal(fv_stored_derived_id(18446744073709551615ULL, id, sizeof id), FV_OK);
    assert_string_equal(id, "FLOVYN_EVENTS-18446744073709551615");
}

static void test_stored_store_time_is_looked_up_only_when_the_body_needs_it(void **state)
{
    const char *with_ts = "{\"id\":\"e\",\"tenant_id\":\"acme\",\"workflow_execution_id\":\"wf-1\","
                          "\"task_execution_id\":\"task-1\",\"event_type\":\"task.completed\","
                          "\"timestamp_ms\":9}";
    lookups = 0;
    judged j = judge_ct(false, EV_SUBJ, NULL, with_ts, strlen(with_ts), 0);
    assert_int_equal(j.st, FV_OK);
    assert_int_equal(j.ev.timestamp_ms, 9);
    assert_int_equal(lookups, 0);
    release(&j);
    const char *without = "{\"tenant_id\":\"acme\",\"workflow_execution_id\":\"wf-1\","
                          "\"task_execution_id\":\"task-1\",\"event_type\":\"task.completed\"}";
    j = judge_ct(false, EV_SUBJ, NULL, without, strlen(without), 0);
    assert_int_equal(j.st, FV_OK);
    assert_int_equal(j.ev.timestamp_ms, STORED_MS + 7);
    assert_int_equal(lookups, 1);
    release(&j);
}

static void test_stored_tenant_missing_or_other_is_skipped(void **state)
{
    expect_skip(judge(EV_SUBJ, "{\"workflow_execution_id\":\"wf-1\",\"task_execution_id\":"
                               "\"task-1\",\"event_type\":\"task.completed\"}"),
                FV_STORED_TENANT_MISSING,
                "tenant_id: missing in the body (the subject says 'acme')");
    expect_skip(judge(EV_SUBJ,
                      "{\"tenant_id\":null,\"workflow_execution_id\":\"wf-1\","
                      "\"task_execution_id\":\"task-1\",\"event_type\":\"task.completed\"}"),
                FV_STORED_TENANT_MISSING, NULL);
    expect_skip(judge(EV_SUBJ,
                      "{\"tenant_id\":\"acme-x\",\"workflow_execution_id\":\"wf-1\","
                      "\"task_execution_id\":\"task-1\",\"event_type\":\"task.completed\"}"),
                FV_STORED_TENANT_MISMATCH, "the body says 'acme-x', the subject 'acme'");
}

static void test_stored_subject_and_body_must_agree_both_ways(void **state)
{
    /* the body names another workflow, or none where the subject names one, or one where the
     * subject says none: each is a disagreement, settled in favour of neither */
    expect_skip(judge(EV_SUBJ,
                      "{\"tenant_id\":\"acme\",\"workflow_execution_id\":\"wf-2\","
                      "\"task_execution_id\":\"task-1\",\"event_type\":\"task.completed\"}"),
                FV_STORED_WORKFLOW_MISMATCH, "the body says 'wf-2', the subject 'wf-1'");
    expect_skip(judge(EV_SUBJ, "{\"tenant_id\":\"acme\",\"task_execution_id\":\"task-1\","
                               "\"event_type\":\"task.completed\"}"),
                FV_STORED_WORKFLOW_MISMATCH, "the body says none, the subject 'wf-1'");
    expect_skip(judge("flovyn.v1.events.acme._.task-1.task.completed",
                      "{\"tenant_id\":\"acme\",\"workflow_execution_id\":\"wf-1\","
                      "\"task_execution_id\":\"task-1\",\"event_type\":\"task.completed\"}"),
                FV_STORED_WORKFLOW_MISMATCH, "the subject none");
    expect_skip(judge(EV_SUBJ,
                      "{\"tenant_id\":\"acme\",\"workflow_execution_id\":\"wf-1\","
                      "\"task_execution_id\":\"task-2\",\"event_type\":\"task.completed\"}"),
                FV_STORED_TASK_MISMATCH, "task_execution_id");
    expect_skip(judge(EV_SUBJ, "{\"tenant_id\":\"acme\",\"workflow_execution_id\":\"wf-1\","
                               "\"event_type\":\"task.completed\"}"),
                FV_STORED_TASK_MISMATCH, NULL);
    expect_skip(judge(EV_SUBJ, "{\"tenant_id\":\"acme\",\"workflow_execution_id\":\"wf-1\","
                               "\"task_execution_id\":\"task-1\",\"event_type\":\"task.failed\"}"),
                FV_STORED_TYPE_MISMATCH,
                "the body says 'task.failed', the subject 'task.completed'");
    expect_skip(judge(EV_SUBJ, "{\"tenant_id\":\"acme\",\"workflow_execution_id\":\"wf-1\","
                               "\"task_execution_id\":\"task-1\"}"),
                FV_STORED_TYPE_MISMATCH, NULL);
    /* the tenant is judged first: it decides who could see the event at all */
    expect_skip(judge(EV_SUBJ, "{\"tenant_id\":\"other\",\"workflow_execution_id\":\"wf-2\","
                               "\"event_type\":\"x\"}"),
                FV_STORED_TENANT_MISMATCH, NULL);
}

static void test_stored_bytes_that_are_not_json_or_protobuf(void **state)
{
    expect_skip(judge(EV_SUBJ, "{\"tenant_id\":\"acme\",\"event_type\":"), FV_STORED_INVALID_JSON,
                NULL);
    const char *trailing = "{\"tenant_id\":\"acme\"} x";
    expect_skip(judge_ct(false, EV_SUBJ, "application/json", trailing, strlen(trailing), 1),
                FV_STORED_INVALID_JSON, NULL);
    /* no header and no `{`: read as protobuf, which these bytes are not */
    const char junk[] = "\xff\xff\xff\xff not protobuf";
    expect_skip(judge_ct(false, EV_SUBJ, NULL, junk, sizeof junk - 1, 1),
                FV_STORED_INVALID_PROTOBUF, "invalid protobuf");
    expect_skip(judge_ct(false, EV_SUBJ, "application/x-protobuf", junk, sizeof junk - 1, 1),
                FV_STORED_INVALID_PROTOBUF, NULL);
    expect_skip(judge_ct(true, SE_SUBJ, "application/x-protobuf", junk, sizeof junk - 1, 1),
                FV_STORED_INVALID_PROTOBUF, NULL);
    expect_skip(judge_ct(false, EV_SUBJ, "text/plain", "{}", 2, 1), FV_STORED_CONTENT_TYPE,
                "unsupported Content-Type 'text/plain'");
}

static void test_stored_readable_body_breaking_a_rule_is_an_invalid_event(void **state)
{
    /* valid JSON, but not an event the contract allows */
    expect_skip(judge_ct(false, EV_SUBJ, "application/json", "[1,2]", 5, 1),
                FV_STORED_INVALID_EVENT, "expected an object");
    expect_skip(judge(EV_SUBJ, "{\"tenant_id\":\"acme\",\"tenant_id\":\"acme\"}"),
                FV_STORED_INVALID_EVENT, "more than once");
    expect_skip(judge(EV_SUBJ, "{\"tenant_id\":\"ac.me\"}"), FV_STORED_INVALID_EVENT, NULL);
    /* well-formed protobuf whose id breaks the id rule */
    fv_buf b = FV_BUF_INIT;
    proto_event("has space", &b);
    expect_skip(judge_ct(false, EV_SUBJ, "application/x-protobuf", b.data, b.len, 1),
                FV_STORED_INVALID_EVENT, "id");
    fv_buf_free(&b);
    /* a stream event without its producer's sequence has no dedup key */
    expect_skip(judge_stream(SE_SUBJ, "{\"workflow_execution_id\":\"wf-1\",\"type\":\"token\"}"),
                FV_STORED_INVALID_EVENT, "sequence");
}

static void test_stored_subject_must_be_canonical_for_its_stream(void **state)
{
    const char *body = "{\"tenant_id\":\"acme\",\"event_type\":\"task.completed\"}";
    expect_skip(judge("flovyn.v1.events.acme", body), FV_STORED_BAD_SUBJECT, "subject");
    expect_skip(judge("other.v1.events.acme._._.task.completed", body), FV_STORED_BAD_SUBJECT,
                NULL);
    /* an events subject read from FLOVYN_STREAMS is not its stream's */
    expect_skip(judge_stream("flovyn.v1.events.acme._._.task.completed", body),
                FV_STORED_BAD_SUBJECT, FV_STREAM_STREAMS);
}

static void test_stored_protobuf_event_round_trips_and_gets_the_same_defaults(void **state)
{
    fv_buf b = FV_BUF_INIT;
    proto_event("", &b);
    judged j = judge_ct(false, EV_SUBJ, "application/x-protobuf", b.data, b.len, STORED_MS);
    assert_int_equal(j.st, FV_OK);
    assert_string_equal(j.ev.id, "FLOVYN_EVENTS-42");
    assert_int_equal(j.ev.timestamp_ms, STORED_MS);
    release(&j);
    /* the same bytes under another tenant's subject */
    j = judge_ct(false, "flovyn.v1.events.beta.wf-1.task-1.task.completed",
                 "application/x-protobuf", b.data, b.len, STORED_MS);
    expect_skip(j, FV_STORED_TENANT_MISMATCH, NULL);
    fv_buf_free(&b);
}

static void test_stored_stream_events_agree_on_workflow_task_kind_and_tenant(void **state)
{
    judged j = judge_stream(SE_SUBJ, "{\"workflow_execution_id\":\"wf-1\",\"sequence\":3,"
                                     "\"type\":\"token\",\"payload\":\"hi\"}");
    assert_int_equal(j.st, FV_OK);
    assert_string_equal(j.se.tenant_id, "acme"); /* the JSON shape has none: the subject's */
    assert_int_equal(j.se.sequence, 3);
    assert_int_equal(j.se.timestamp_ms, STORED_MS);
    release(&j);
    expect_skip(judge_stream(SE_SUBJ, "{\"workflow_execution_id\":\"wf-9\",\"sequence\":3,"
                                      "\"type\":\"token\"}"),
                FV_STORED_WORKFLOW_MISMATCH, NULL);
    expect_skip(judge_stream(SE_SUBJ, "{\"sequence\":3,\"type\":\"token\"}"),
                FV_STORED_WORKFLOW_MISMATCH, NULL);
    expect_skip(judge_stream(SE_SUBJ, "{\"workflow_execution_id\":\"wf-1\",\"task_execution_id\":"
                                      "\"k\",\"sequence\":3,\"type\":\"token\"}"),
                FV_STORED_TASK_MISMATCH, NULL);
    expect_skip(judge_stream(SE_SUBJ, "{\"workflow_execution_id\":\"wf-1\",\"sequence\":3,"
                                      "\"type\":\"progress\"}"),
                FV_STORED_TYPE_MISMATCH, "the body says progress, the subject 'token'");
    expect_skip(judge_stream(SE_SUBJ, "{\"workflow_execution_id\":\"wf-1\",\"sequence\":3}"),
                FV_STORED_TYPE_MISMATCH, "the body says none");
    /* protobuf carries a tenant: it must be the subject's */
    fv_stream_event se;
    fv_stream_event_init(&se);
    strcpy(se.tenant_id, "beta");
    strcpy(se.workflow_execution_id, "wf-1");
    se.sequence = 1;
    se.kind = FV_KIND_TOKEN;
    fv_buf b = FV_BUF_INIT;
    assert_int_equal(fv_stream_event_to_proto(&se, &b), FV_OK);
    expect_skip(judge_ct(true, SE_SUBJ, "application/x-protobuf", b.data, b.len, 1),
                FV_STORED_TENANT_MISMATCH, NULL);
    fv_buf_free(&b);
}

static void test_stored_reason_names_are_stable(void **state)
{
    const char *names[FV_STORED_COUNT] = {"ok",
                                          "bad_subject",
                                          "content_type",
                                          "invalid_json",
                                          "invalid_protobuf",
                                          "invalid_event",
                                          "tenant_missing",
                                          "tenant_mismatch",
                                          "workflow_mismatch",
                                          "task_mismatch",
                                          "type_mismatch"};
    for (int i = 0; i < FV_STORED_COUNT; i++)
        assert_string_equal(fv_stored_reason_name((fv_stored_reason)i), names[i]);
    assert_string_equal(fv_stored_reason_name(FV_STORED_COUNT), "unknown");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_stored_serves_a_good_json_event_as_stored),
        cmocka_unit_test(
            test_stored_event_without_id_gets_the_stream_and_sequence_and_the_store_time),
        cmocka_unit_test(test_stored_store_time_is_looked_up_only_when_the_body_needs_it),
        cmocka_unit_test(test_stored_tenant_missing_or_other_is_skipped),
        cmocka_unit_test(test_stored_subject_and_body_must_agree_both_ways),
        cmocka_unit_test(test_stored_bytes_that_are_not_json_or_protobuf),
        cmocka_unit_test(test_stored_readable_body_breaking_a_rule_is_an_invalid_event),
        cmocka_unit_test(test_stored_subject_must_be_canonical_for_its_stream),
        cmocka_unit_test(test_stored_protobuf_event_round_trips_and_gets_the_same_defaults),
        cmocka_unit_test(test_stored_stream_events_agree_on_workflow_task_kind_and_tenant),
        cmocka_unit_test(test_stored_reason_names_are_stable),
    };
    return cmocka_run_group_tests_name("stored", tests, NULL, NULL);
}
