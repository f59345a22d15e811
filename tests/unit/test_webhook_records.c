/* Unit tests of webhook subscription records (validation, backoff, the KV JSON form), the
 * CloudEvents batch body and the batch id (bridge/cmd/subscriptions.c, cloudevents.c,
 * webhook_http.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flovyn/json.h"

#include "../../bridge/cmd/cloudevents.c"
#include "../../bridge/cmd/ssrf.c"
#include "../../bridge/cmd/subscriptions.c"
#include "../../bridge/cmd/webhook_http.c"
#include "../../bridge/cmd/webhook_sign.c"

static void valid_sub(fv_subscription *s)
{
    fv_subscription_init(s);
    strcpy(s->name, "hooks-1");
    strcpy(s->tenant_id, "acme");
    strcpy(s->types, "workflow.*,task.failed");
    strcpy(s->url, "https://hooks.example.com/x");
    strcpy(s->secret, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
}

static void test_backoff_parse_durations_and_rejects_garbage(void **state)
{
    int64_t b[FV_SUB_BACKOFF_MAX];
    size_t n;
    assert_int_equal(fv_backoff_parse("1s, 5s,30s,2m,10m", b, FV_SUB_BACKOFF_MAX, &n, NULL), FV_OK);
    assert_int_equal(n, 5);
    assert_int_equal(b[0], 1000);
    assert_int_equal(b[1], 5000);
    assert_int_equal(b[4], 600000);
    assert_int_equal(fv_backoff_parse("100ms", b, FV_SUB_BACKOFF_MAX, &n, NULL), FV_OK);
    assert_int_equal(b[0], 100);
    fv_err err = {{0}};
    assert_int_equal(fv_backoff_parse("1s,,2s", b, FV_SUB_BACKOFF_MAX, &n, &err), FV_EINVAL);
    assert_int_equal(fv_backoff_parse("soon", b, FV_SUB_BACKOFF_MAX, &n, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "soon"));
    assert_int_equal(fv_backoff_parse("", b, FV_SUB_BACKOFF_MAX, &n, &err), FV_EINVAL);
    assert_int_equal(fv_backoff_parse("1s,1s,1s", b, 2, &n, &err), FV_EINVAL);
}

static void test_backoff_for_attempt_repeats_the_last_entry(void **state)
{
    fv_subscription s;
    valid_sub(&s);
    assert_int_equal(fv_subscription_backoff(&s, 2), 1000);
    assert_int_equal(fv_subscription_backoff(&s, 3), 5000);
    assert_int_equal(fv_subscription_backoff(&s, 6), 600000);
    assert_int_equal(fv_subscription_backoff(&s, 50), 600000);
}

static void test_subscription_validate_names_the_bad_field(void **state)
{
    fv_subscription s;
    fv_err err = {{0}};
    valid_sub(&s);
    assert_int_equal(fv_subscription_validate(&s, &err), FV_OK);
    strcpy(s.tenant_id, "a.b");
    assert_int_equal(fv_subscription_validate(&s, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "tenant"));
    valid_sub(&s);
    strcpy(s.types, "tokenz");
    assert_int_equal(fv_subscription_validate(&s, &err), FV_EINVAL);
    valid_sub(&s);
    strcpy(s.types, "token,progress"); /* stream kinds only: nothing a webhook delivers */
    assert_int_equal(fv_subscription_validate(&s, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "lifecycle"));
    valid_sub(&s);
    strcpy(s.url, "ftp://example.com/");
    assert_int_equal(fv_subscription_validate(&s, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "url"));
    valid_sub(&s);
    strcpy(s.secret, "plain");
    assert_int_equal(fv_subscription_validate(&s, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "secret"));
    valid_sub(&s);
    s.max_attempts = 0;
    assert_int_equal(fv_subscription_validate(&s, &err), FV_EINVAL);
    valid_sub(&s);
    s.batch = FV_SUB_BATCH_MAX + 1;
    assert_int_equal(fv_subscription_validate(&s, &err), FV_EINVAL);
    valid_sub(&s);
    strcpy(s.name, "_");
    assert_int_equal(fv_subscription_validate(&s, &err), FV_EINVAL);
}

static void test_subscription_record_round_trips_through_json(void **state)
{
    fv_subscription a, b;
    valid_sub(&a);
    a.max_attempts = 3;
    a.backoff_n = 2;
    a.backoff_ms[0] = 100;
    a.backoff_ms[1] = 250;
    a.batch = 7;
    a.ordered = true;
    a.allow_private = true;
    a.created_ms = 1767139200000;
    char *json = NULL;
    assert_int_equal(fv_subscription_to_json(&a, &json, NULL), FV_OK);
    assert_int_equal(fv_subscription_from_json(json, strlen(json), &b, NULL), FV_OK);
    free(json);
    assert_memory_equal(&a, &b, sizeof a);
}

static void test_subscription_record_rejects_invalid_json_and_fields(void **state)
{
    fv_subscription s;
    fv_err err = {{0}};
    assert_int_equal(fv_subscription_from_json("[]", 2, &s, &err), FV_EINVAL);
    const char *nourl = "{\"name\":\"n\",\"tenant_id\":\"t\",\"secret\":\"x\"}";
    assert_int_equal(fv_subscription_from_json(nourl, strlen(nourl), &s, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "url"));
    const char *dup = "{\"name\":\"n\",\"name\":\"m\"}";
    assert_int_equal(fv_subscription_from_json(dup, strlen(dup), &s, &err), FV_EINVAL);
}

static void test_cloudevents_batch_carries_ids_and_producer_bytes(void **state)
{
    fv_event a, b;
    fv_event_init(&a);
    fv_event_init(&b);
    strcpy(a.id, "e-1");
    strcpy(a.tenant_id, "acme");
    strcpy(a.workflow_execution_id, "wf-1");
    strcpy(a.task_execution_id, "task-9");
    strcpy(a.event_type, "task.failed");
    strcpy(a.source, "worker:w-1");
    a.timestamp_ms = 1767139200123;
    assert_int_equal(fv_event_set_data(&a, "{\"n\":1e400}", 11, NULL, NULL), FV_OK);
    strcpy(b.id, "e-2");
    strcpy(b.tenant_id, "acme");
    strcpy(b.event_type, "workflow.started");
    b.timestamp_ms = 1767139200000;
    const fv_event *evs[2] = {&a, &b};
    fv_buf out = FV_BUF_INIT;
    assert_int_equal(fv_cloudevents_batch(&out, evs, 2), FV_OK);
    assert_string_equal(
        out.data, "[{\"specversion\":\"1.0\",\"id\":\"e-1\",\"source\":\"worker:w-1\",\"type\":"
                  "\"task.failed\","
                  "\"time\":\"2025-12-31T00:00:00.123Z\",\"subject\":\"wf-1\",\"datacontenttype\":"
                  "\"application/json\",\"data\":{\"n\":1e400},\"tenantid\":\"acme\","
                  "\"workflowexecutionid\":\"wf-1\",\"taskexecutionid\":\"task-9\"},"
                  "{\"specversion\":\"1.0\",\"id\":\"e-2\",\"source\":\"flovyn\",\"type\":"
                  "\"workflow.started\",\"time\":\"2025-12-31T00:00:00.000Z\",\"datacontenttype\":"
                  "\"application/json\",\"data\":null,\"tenantid\":\"acme\"}]");
    assert_int_equal(fv_json_validate(out.data, out.len, FV_JSON_MAX_DEPTH, NULL, NULL), FV_OK);
    fv_buf_free(&out);
    fv_event_clear(&a);
    fv_event_clear(&b);
}

static void test_batch_id_is_stable_for_the_same_events(void **state)
{
    const char *ids1[] = {"e-1", "e-2"};
    const char *ids2[] = {"e-1", "e-2"};
    const char *ids3[] = {"e-1", "e-3"};
    char a[FV_WEBHOOK_ID_MAX], b[FV_WEBHOOK_ID_MAX], c[FV_WEBHOOK_ID_MAX];
    fv_webhook_batch_id(ids1, 2, a, sizeof a);
    fv_webhook_batch_id(ids2, 2, b, sizeof b);
    fv_webhook_batch_id(ids3, 2, c, sizeof c);
    assert_string_equal(a, b);
    assert_string_not_equal(a, c);
    assert_int_equal(strlen(a), 4 + 32);
    assert_true(strncmp(a, "msg_", 4) == 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_backoff_parse_durations_and_rejects_garbage),
        cmocka_unit_test(test_backoff_for_attempt_repeats_the_last_entry),
        cmocka_unit_test(test_subscription_validate_names_the_bad_field),
        cmocka_unit_test(test_subscription_record_round_trips_through_json),
        cmocka_unit_test(test_subscription_record_rejects_invalid_json_and_fields),
        cmocka_unit_test(test_cloudevents_batch_carries_ids_and_producer_bytes),
        cmocka_unit_test(test_batch_id_is_stable_for_the_same_events),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
