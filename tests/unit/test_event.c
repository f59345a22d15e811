/* Unit tests of the event model and codecs (event.h): the §2 rules, JSON in both spellings,
 * byte-exact data, protobuf with hostile input, codec choice, dedup keys. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flovyn/event.h"
#include "flovyn/json.h"

#define DATA_EXACT                                                                                 \
    "{\"z\":0.1,\"a\":1e400,\"n\":12345678901234567890,\"s\":\"\\u00e9\\n\",\"l\":[ 1 ,2 ]}"

static const char *full_json =
    "{\"id\":\"550e8400-e29b-41d4-a716-446655440000\",\"tenant_id\":\"acme\","
    "\"workflow_execution_id\":\"wf-1\",\"task_execution_id\":\"task_1\","
    "\"parent_workflow_execution_id\":\"wf-0\",\"event_type\":\"task.completed\","
    "\"source\":\"worker:w-1\",\"data\":" DATA_EXACT ",\"timestamp_ms\":1767139200000,"
    "\"correlation_id\":\"corr \\\"1\\\"\"}";

static void make_event(fv_event *ev)
{
    fv_event_init(ev);
    strcpy(ev->id, "e1");
    strcpy(ev->tenant_id, "acme");
    strcpy(ev->event_type, "workflow.started");
    ev->timestamp_ms = 1000;
}

/* --- event_type grammar --------------------------------------------------------------------- */

static void test_event_type_accepts_dotted_lowercase_tokens(void **state)
{
    const char *ok[] = {"task.completed",  "workflow",      "child_workflow.cancellation_requested",
                        "a.b.c.d.e.f.g.h", "x-1.y_2",       "task.error",
                        "my.data",         "tokenizer.ran", "0"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++) {
        fv_err err = {{0}};
        if (fv_event_type_validate(ok[i], strlen(ok[i]), &err) != FV_OK)
            fail_msg("%s: %s", ok[i], err.msg);
    }
    char max[FV_TYPE_MAX + 1];
    memset(max, 'a', FV_TYPE_MAX);
    max[FV_TYPE_MAX] = '\0';
    assert_int_equal(fv_event_type_validate(max, FV_TYPE_MAX, NULL), FV_OK);
}

static void test_event_type_rejects_hostile_and_malformed(void **state)
{
    const char *bad[] = {"",
                         "Task.created",
                         "task..created",
                         ".task",
                         "task.",
                         "a.>",
                         "*",
                         "task.*",
                         ">",
                         "task created",
                         "a.b.c.d.e.f.g.h.i",
                         "task/completed",
                         "t\xc3\xa9",
                         "TASK_CREATED"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fv_err err = {{0}};
        if (fv_event_type_validate(bad[i], strlen(bad[i]), &err) == FV_OK)
            fail_msg("accepted %s", bad[i]);
        assert_memory_equal(err.msg, "event_type: ", 12);
    }
    char longer[FV_TYPE_MAX + 1];
    memset(longer, 'a', sizeof longer);
    assert_int_equal(fv_event_type_validate(longer, sizeof longer, NULL), FV_EINVAL);
    assert_int_equal(fv_event_type_validate("a\0b", 3, NULL), FV_EINVAL);
    fv_err err = {{0}};
    assert_int_equal(fv_event_type_validate("TASK_CREATED", 12, &err), FV_EINVAL);
    assert_string_equal(
        err.msg, "event_type: 'TASK_CREATED' is a legacy Flovyn name; write it as 'task.created'");
    fv_event_type_validate("task..x", 7, &err);
    assert_non_null(strstr(err.msg, "empty token at position 5"));
}

static void test_event_type_rejects_reserved_first_token(void **state)
{
    const char *reserved[] = {"token",      "tokens",       "progress", "data", "error",
                              "errors",     "stream_error", "events",   "gap",  "end",
                              "overloaded", "auth_expired", "message",  "open"};
    for (size_t i = 0; i < sizeof reserved / sizeof *reserved; i++) {
        char t[64];
        fv_err err = {{0}};
        assert_int_equal(fv_event_type_validate(reserved[i], strlen(reserved[i]), &err), FV_EINVAL);
        assert_non_null(strstr(err.msg, "reserved"));
        snprintf(t, sizeof t, "%s.x", reserved[i]);
        assert_int_equal(fv_event_type_validate(t, strlen(t), NULL), FV_EINVAL);
        snprintf(t, sizeof t, "x.%s", reserved[i]);
        assert_int_equal(fv_event_type_validate(t, strlen(t), NULL), FV_OK);
    }
}

/* --- validation ------------------------------------------------------------------------------ */

static void test_event_validate_names_the_bad_field(void **state)
{
    fv_event ev;
    fv_err err = {{0}};
    make_event(&ev);
    assert_int_equal(fv_event_validate(&ev, NULL, &err), FV_OK);

    make_event(&ev);
    strcpy(ev.workflow_execution_id, "a.>");
    assert_int_equal(fv_event_validate(&ev, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "workflow_execution_id: '.'", 26);

    make_event(&ev);
    strcpy(ev.task_execution_id, "_");
    assert_int_equal(fv_event_validate(&ev, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "task_execution_id:", 18);

    make_event(&ev);
    strcpy(ev.parent_workflow_execution_id, "a b");
    assert_int_equal(fv_event_validate(&ev, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "parent_workflow_execution_id:", 29);

    make_event(&ev);
    ev.tenant_id[0] = '\0';
    assert_int_equal(fv_event_validate(&ev, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "tenant_id:", 10);
    assert_int_equal(fv_event_validate_present(&ev, NULL, &err), FV_OK);

    make_event(&ev);
    ev.id[0] = '\0';
    assert_int_equal(fv_event_validate(&ev, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "id:", 3);

    make_event(&ev);
    ev.event_type[0] = '\0';
    assert_int_equal(fv_event_validate(&ev, NULL, &err), FV_EINVAL);

    make_event(&ev);
    strcpy(ev.source, "worker\n1");
    assert_int_equal(fv_event_validate(&ev, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "source:", 7);

    make_event(&ev);
    strcpy(ev.correlation_id, "\xff");
    assert_int_equal(fv_event_validate(&ev, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "correlation_id:", 15);

    make_event(&ev);
    ev.timestamp_ms = -1;
    assert_int_equal(fv_event_validate(&ev, NULL, &err), FV_EINVAL);

    make_event(&ev);
    memset(ev.tenant_id, 'a', sizeof ev.tenant_id); /* no terminator: 65 bytes */
    assert_int_equal(fv_event_validate(&ev, NULL, &err), FV_EINVAL);
}

static void test_event_set_data_enforces_limit_and_json(void **state)
{
    fv_event ev;
    make_event(&ev);
    fv_limits lim = {.max_data = 16};
    fv_err err = {{0}};
    assert_int_equal(fv_event_set_data(&ev, "[1,2,3]", 7, &lim, &err), FV_OK);
    assert_string_equal(ev.data, "[1,2,3]");
    assert_int_equal(fv_event_set_data(&ev, "\"0123456789abcdef\"", 18, &lim, &err), FV_ETOOBIG);
    assert_non_null(strstr(err.msg, "data: 18 bytes"));
    assert_string_equal(ev.data, "[1,2,3]"); /* unchanged on error */
    assert_int_equal(fv_event_set_data(&ev, "{\"a\":}", 6, &lim, &err), FV_EINVAL);
    assert_string_equal(err.msg, "data: invalid JSON at byte 5: expected a value");
    assert_int_equal(fv_event_set_data(&ev, " null ", 6, &lim, &err), FV_OK);
    assert_null(ev.data);
    /* surrounding whitespace trimmed, line breaks become spaces: one line, same values */
    assert_int_equal(fv_event_set_data(&ev, "\n{\"a\":\r\n1}\n", 11, NULL, &err), FV_OK);
    assert_string_equal(ev.data, "{\"a\":  1}");
    fv_event_clear(&ev);

    /* the limit is checked before anything else and on the default when unset */
    size_t big = FV_DATA_MAX_DEFAULT + 1;
    char *p = malloc(big);
    memset(p, ' ', big);
    p[0] = '1';
    make_event(&ev);
    assert_int_equal(fv_event_set_data(&ev, p, big, NULL, &err), FV_ETOOBIG);
    free(p);
}

static void test_event_fill_defaults_generates_id_and_time(void **state)
{
    fv_event ev;
    fv_event_init(&ev);
    int64_t before = fv_now_ms();
    assert_int_equal(fv_event_fill_defaults(&ev), FV_OK);
    assert_int_equal(strlen(ev.id), 36);
    assert_true(ev.timestamp_ms >= before);
    char keep[sizeof ev.id];
    strcpy(keep, ev.id);
    ev.timestamp_ms = 5;
    assert_int_equal(fv_event_fill_defaults(&ev), FV_OK);
    assert_string_equal(ev.id, keep);
    assert_int_equal(ev.timestamp_ms, 5);
}

static void test_dedup_keys_follow_contract(void **state)
{
    fv_event ev;
    make_event(&ev);
    char key[FV_DEDUP_KEY_MAX];
    assert_int_equal(fv_event_dedup_key(&ev, key, sizeof key), FV_OK);
    assert_string_equal(key, "acme:e1");
    assert_int_equal(fv_event_dedup_key(&ev, key, 4), FV_ETOOBIG);

    fv_stream_event se;
    fv_stream_event_init(&se);
    strcpy(se.tenant_id, "acme");
    strcpy(se.workflow_execution_id, "wf");
    se.sequence = 12;
    assert_int_equal(fv_stream_event_dedup_key(&se, key, sizeof key), FV_OK);
    assert_string_equal(key, "acme:wf:_:12");
    strcpy(se.task_execution_id, "t1");
    assert_int_equal(fv_stream_event_dedup_key(&se, key, sizeof key), FV_OK);
    assert_string_equal(key, "acme:wf:t1:12");
}

/* --- JSON ------------------------------------------------------------------------------------ */

static void test_event_from_json_reads_every_field_and_keeps_data_bytes(void **state)
{
    fv_event ev;
    fv_err err = {{0}};
    assert_int_equal(fv_event_from_json(&ev, full_json, strlen(full_json), NULL, &err), FV_OK);
    assert_string_equal(ev.id, "550e8400-e29b-41d4-a716-446655440000");
    assert_string_equal(ev.tenant_id, "acme");
    assert_string_equal(ev.workflow_execution_id, "wf-1");
    assert_string_equal(ev.task_execution_id, "task_1");
    assert_string_equal(ev.parent_workflow_execution_id, "wf-0");
    assert_string_equal(ev.event_type, "task.completed");
    assert_string_equal(ev.source, "worker:w-1");
    assert_string_equal(ev.correlation_id, "corr \"1\"");
    assert_true(ev.timestamp_ms == 1767139200000LL);
    assert_string_equal(ev.data, DATA_EXACT);
    assert_int_equal(ev.data_len, strlen(DATA_EXACT));
    assert_int_equal(fv_event_validate(&ev, NULL, &err), FV_OK);
    fv_event_clear(&ev);
}

static void test_event_from_json_accepts_camel_case_and_nulls(void **state)
{
    const char *j =
        "{\"tenantId\":\"acme\",\"workflowExecutionId\":\"wf\",\"taskExecutionId\":null,"
        "\"parentWorkflowExecutionId\":\"p\",\"eventType\":\"workflow.started\","
        "\"timestampMs\":7,\"correlationId\":null,\"unknown\":{\"deep\":[1]}}";
    fv_event ev;
    fv_err err = {{0}};
    assert_int_equal(fv_event_from_json(&ev, j, strlen(j), NULL, &err), FV_OK);
    assert_string_equal(ev.tenant_id, "acme");
    assert_string_equal(ev.workflow_execution_id, "wf");
    assert_string_equal(ev.task_execution_id, "");
    assert_string_equal(ev.parent_workflow_execution_id, "p");
    assert_string_equal(ev.event_type, "workflow.started");
    assert_int_equal(ev.timestamp_ms, 7);
    assert_string_equal(ev.id, ""); /* defaults are the caller's job */
    assert_null(ev.data);           /* missing data = null */
    fv_event_clear(&ev);
}

static void test_event_from_json_rejects_hostile_ids_naming_field(void **state)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"tenant_id\":\"a.>\"}", "tenant_id: '.' at position 1"},
        {"{\"tenant_id\":\"*\"}", "tenant_id: '*'"},
        {"{\"tenant_id\":\"\"}", "tenant_id: empty"},
        {"{\"tenant_id\":\"_\"}", "tenant_id: '_' alone"},
        {"{\"workflow_execution_id\":\"a b\"}", "workflow_execution_id: a space"},
        {"{\"task_execution_id\":\"a\\u0000b\"}", "task_execution_id: string contains a NUL"},
        {"{\"workflowExecutionId\":\"..\"}", "workflow_execution_id: '.'"},
        {"{\"tenant_id\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"}",
         "tenant_id: more than 64 bytes"},
        {"{\"tenant_id\":5}", "tenant_id: expected a string"},
        {"{\"event_type\":\"error\"}", "event_type: 'error' is a reserved"},
        {"{\"event_type\":\"Task.Done\"}", "event_type: 'T' at position 0"},
        {"{\"timestamp_ms\":-5}", "timestamp_ms: negative"},
        {"{\"timestamp_ms\":1.5}", "timestamp_ms: expected an integer"},
        {"{\"timestamp_ms\":\"5\"}", "timestamp_ms: expected an integer"},
        {"{\"source\":\"a\\nb\"}", "source: control character"},
        {"{\"tenant_id\":\"a\",\"tenantId\":\"b\"}", "tenant_id: appears more than once"},
        {"{\"data\":1,\"data\":2}", "data: appears more than once"},
        {"{\"tenant_id\":\"a\",\"data\":[1,}", "data: invalid JSON at byte 27: expected a value"},
        {"[1]", "invalid JSON at byte 0: expected an object"},
        {"", "invalid JSON at byte 0"},
        {"{\"tenant_id\":\"a\"} {}", "invalid JSON at byte 18: unexpected data"},
        {"{\"source\":\"w\xff\"}", "source: invalid JSON at byte 12: invalid UTF-8 in string"},
        {"{\"source\":\"\xed\xa0\x80\"}", "invalid JSON at byte 11: invalid UTF-8"},
        {"{\"data\":\"\\uDC00\"}", "data: invalid JSON at byte 9: unpaired low surrogate"},
        {"{\"event_type\":\"task.completed\",\"event_type\":\"x.y\"}",
         "event_type: appears more than once (at byte 31)"},
        {"{\"eventType\":\"a.>\"}", "event_type: '>' at position 2"},
        {"{\"id\":\"a:b\"}", "id: ':' at position 1"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fv_event ev;
        fv_err err = {{0}};
        fv_status st = fv_event_from_json(&ev, cases[i].json, strlen(cases[i].json), NULL, &err);
        if (st == FV_OK)
            fail_msg("accepted %s", cases[i].json);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("%s: got '%s', want '%s'", cases[i].json, err.msg, cases[i].msg);
        assert_null(ev.data);
    }
}

static void test_event_from_json_rejects_raw_nul_byte(void **state)
{
    const char j[] = "{\"tenant_id\":\"acme\",\"data\":\"a\0b\"}";
    fv_event ev;
    fv_err err = {{0}};
    assert_int_equal(fv_event_from_json(&ev, j, sizeof j - 1, NULL, &err), FV_EINVAL);
    assert_string_equal(
        err.msg, "data: invalid JSON at byte 29: control character in string (must be escaped)");
    const char t[] = "{\"tenant_id\":\"acme\"}\0";
    assert_int_equal(fv_event_from_json(&ev, t, sizeof t - 1, NULL, &err), FV_EINVAL);
}

static void test_event_from_json_rejects_deep_and_oversized_data(void **state)
{
    char deep[300];
    int d = FV_JSON_MAX_DEPTH + 1, k = 0;
    k += sprintf(deep, "{\"data\":");
    for (int i = 0; i < d; i++)
        deep[k++] = '[';
    for (int i = 0; i < d; i++)
        deep[k++] = ']';
    deep[k++] = '}';
    deep[k] = '\0';
    fv_event ev;
    fv_err err = {{0}};
    assert_int_equal(fv_event_from_json(&ev, deep, strlen(deep), NULL, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "nesting deeper"));

    fv_limits lim = {.max_data = 8};
    const char *j = "{\"tenant_id\":\"a\",\"data\":\"0123456789\"}";
    assert_int_equal(fv_event_from_json(&ev, j, strlen(j), &lim, &err), FV_ETOOBIG);
    assert_non_null(strstr(err.msg, "data: 12 bytes"));
    /* a whole envelope far above the limit is refused before it is scanned */
    size_t n = 8 + 64 * 1024 + 10;
    char *big = malloc(n);
    memset(big, ' ', n);
    big[0] = '{';
    big[n - 1] = '}';
    assert_int_equal(fv_event_from_json(&ev, big, n, &lim, &err), FV_ETOOBIG);
    free(big);
}

static void test_event_to_json_writes_contract_shape_on_one_line(void **state)
{
    fv_event ev;
    make_event(&ev);
    strcpy(ev.source, "s\"q");
    fv_buf b = FV_BUF_INIT;
    assert_int_equal(fv_event_to_json(&ev, &b), FV_OK);
    assert_string_equal(b.data,
                        "{\"id\":\"e1\",\"tenant_id\":\"acme\",\"workflow_execution_id\":null,"
                        "\"task_execution_id\":null,\"parent_workflow_execution_id\":null,"
                        "\"event_type\":\"workflow.started\",\"source\":\"s\\\"q\",\"data\":null,"
                        "\"timestamp_ms\":1000,\"correlation_id\":null}");
    fv_buf_free(&b);
    assert_int_equal(fv_event_set_data(&ev, "{\"a\":\n[1,\r\n2]}", 14, NULL, NULL), FV_OK);
    assert_int_equal(fv_event_to_json(&ev, &b), FV_OK);
    assert_null(strchr(b.data, '\n'));
    assert_null(strchr(b.data, '\r'));
    assert_non_null(strstr(b.data, "\"data\":{\"a\": [1,  2]}"));
    fv_buf_free(&b);
    fv_event_clear(&ev);
}

static void assert_events_equal(const fv_event *a, const fv_event *b)
{
    assert_string_equal(a->id, b->id);
    assert_string_equal(a->tenant_id, b->tenant_id);
    assert_string_equal(a->workflow_execution_id, b->workflow_execution_id);
    assert_string_equal(a->task_execution_id, b->task_execution_id);
    assert_string_equal(a->parent_workflow_execution_id, b->parent_workflow_execution_id);
    assert_string_equal(a->event_type, b->event_type);
    assert_string_equal(a->source, b->source);
    assert_string_equal(a->correlation_id, b->correlation_id);
    assert_true(a->timestamp_ms == b->timestamp_ms);
    assert_int_equal(a->data_len, b->data_len);
    if (a->data)
        assert_memory_equal(a->data, b->data, a->data_len);
    else
        assert_null(b->data);
}

static void test_event_data_survives_json_proto_json_byte_for_byte(void **state)
{
    fv_event a, b, c;
    fv_err err = {{0}};
    assert_int_equal(fv_event_from_json(&a, full_json, strlen(full_json), NULL, &err), FV_OK);
    fv_buf pb = FV_BUF_INIT, js = FV_BUF_INIT;
    assert_int_equal(fv_event_to_proto(&a, &pb), FV_OK);
    assert_int_equal(fv_event_from_proto(&b, pb.data, pb.len, NULL, &err), FV_OK);
    assert_events_equal(&a, &b);
    assert_int_equal(fv_event_to_json(&b, &js), FV_OK);
    assert_non_null(strstr(js.data, "\"data\":" DATA_EXACT ","));
    assert_int_equal(fv_event_from_json(&c, js.data, js.len, NULL, &err), FV_OK);
    assert_events_equal(&a, &c);
    fv_buf_free(&pb);
    fv_buf_free(&js);
    fv_event_clear(&a);
    fv_event_clear(&b);
    fv_event_clear(&c);
}

/* --- protobuf --------------------------------------------------------------------------------- */

static void test_event_from_proto_rejects_truncated_and_garbage(void **state)
{
    fv_event a, b;
    fv_err err = {{0}};
    assert_int_equal(fv_event_from_json(&a, full_json, strlen(full_json), NULL, &err), FV_OK);
    fv_buf pb = FV_BUF_INIT;
    assert_int_equal(fv_event_to_proto(&a, &pb), FV_OK);
    for (size_t cut = 1; cut < pb.len; cut++) {
        fv_status st = fv_event_from_proto(&b, pb.data, cut, NULL, &err);
        if (st == FV_OK) /* a cut on a field boundary is a valid, shorter message */
            fv_event_clear(&b);
        else
            assert_null(b.data);
    }
    assert_int_equal(fv_event_from_proto(&b, pb.data, pb.len - 1, NULL, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "protobuf"));
    const unsigned char garbage[] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
                                     0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(fv_event_from_proto(&b, garbage, sizeof garbage, NULL, &err), FV_EINVAL);
    const unsigned char group[] = {0x0b, 0x0c};
    assert_int_equal(fv_event_from_proto(&b, group, sizeof group, NULL, &err), FV_EINVAL);
    const unsigned char huge_len[] = {0x12, 0xff, 0xff, 0xff, 0xff, 0x0f, 'a'};
    assert_int_equal(fv_event_from_proto(&b, huge_len, sizeof huge_len, NULL, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "at byte 0"));
    fv_limits lim = {.max_data = 10};
    assert_int_equal(fv_event_from_proto(&b, pb.data, 64 * 1024 + 11, &lim, &err), FV_ETOOBIG);
    fv_buf_free(&pb);
    fv_event_clear(&a);
}

static void test_event_from_proto_validates_fields(void **state)
{
    fv_event b;
    fv_err err = {{0}};
    /* tenant_id "a\0b" would become "a" if protobuf-c's NUL-terminated copy were trusted */
    const unsigned char nul[] = {0x12, 0x03, 'a', 0x00, 'b'};
    assert_int_equal(fv_event_from_proto(&b, nul, sizeof nul, NULL, &err), FV_EINVAL);
    assert_string_equal(err.msg, "tenant_id: contains a NUL byte");
    const unsigned char dots[] = {0x12, 0x03, 'a', '.', '>'};
    assert_int_equal(fv_event_from_proto(&b, dots, sizeof dots, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "tenant_id: '.'", 14);
    const unsigned char badtype[] = {0x32, 0x03, 'g', 'a', 'p'};
    assert_int_equal(fv_event_from_proto(&b, badtype, sizeof badtype, NULL, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "reserved"));
    const unsigned char badutf[] = {0x3a, 0x02, 0xc3, 0x28};
    assert_int_equal(fv_event_from_proto(&b, badutf, sizeof badutf, NULL, &err), FV_EINVAL);
    assert_string_equal(err.msg, "source: not valid UTF-8");
    const unsigned char baddata[] = {0x42, 0x03, '{', '1', '}'};
    assert_int_equal(fv_event_from_proto(&b, baddata, sizeof baddata, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "data: invalid JSON at byte 1", 28);
    const unsigned char negts[] = {0x48, 0xff, 0xff, 0xff, 0xff, 0xff,
                                   0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(fv_event_from_proto(&b, negts, sizeof negts, NULL, &err), FV_EINVAL);
    /* an empty message is a (not yet publishable) event */
    assert_int_equal(fv_event_from_proto(&b, "", 0, NULL, &err), FV_OK);
    assert_int_equal(fv_event_validate(&b, NULL, &err), FV_EINVAL);
}

static void test_event_from_proto_caps_unpack_memory(void **state)
{
    /* 60,000 unknown 2-byte fields: protobuf-c would keep ~25 bytes for each */
    size_t n = 120000;
    unsigned char *p = malloc(n);
    for (size_t i = 0; i < n; i += 2) {
        p[i] = 0x78; /* field 15, varint */
        p[i + 1] = 0x00;
    }
    fv_event ev;
    fv_err err = {{0}};
    assert_int_equal(fv_event_from_proto(&ev, p, n, NULL, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "too large"));
    free(p);

    /* data at the limit still decodes: the budget scales with the input */
    fv_event a, b;
    make_event(&a);
    size_t dn = FV_DATA_MAX_DEFAULT;
    char *d = malloc(dn);
    memset(d, ' ', dn);
    d[0] = '[';
    d[dn - 1] = ']';
    assert_int_equal(fv_event_set_data(&a, d, dn, NULL, &err), FV_OK);
    fv_buf pb = FV_BUF_INIT;
    assert_int_equal(fv_event_to_proto(&a, &pb), FV_OK);
    assert_int_equal(fv_event_from_proto(&b, pb.data, pb.len, NULL, &err), FV_OK);
    assert_int_equal(b.data_len, dn);
    fv_buf_free(&pb);
    free(d);
    fv_event_clear(&a);
    fv_event_clear(&b);
}

static void test_event_decode_picks_codec_from_content_type(void **state)
{
    fv_event a, b;
    fv_err err = {{0}};
    assert_int_equal(fv_event_from_json(&a, full_json, strlen(full_json), NULL, &err), FV_OK);
    fv_buf pb = FV_BUF_INIT;
    fv_event_to_proto(&a, &pb);
    assert_int_equal(fv_event_decode(&b, "application/x-protobuf", pb.data, pb.len, NULL, &err),
                     FV_OK);
    assert_events_equal(&a, &b);
    fv_event_clear(&b);
    assert_int_equal(fv_event_decode(&b, NULL, pb.data, pb.len, NULL, &err), FV_OK);
    assert_events_equal(&a, &b);
    fv_event_clear(&b);
    assert_int_equal(fv_event_decode(&b, "Application/JSON; charset=utf-8", full_json,
                                     strlen(full_json), NULL, &err),
                     FV_OK);
    assert_events_equal(&a, &b);
    fv_event_clear(&b);
    char spaced[2048];
    snprintf(spaced, sizeof spaced, " \n%s", full_json);
    assert_int_equal(fv_event_decode(&b, NULL, spaced, strlen(spaced), NULL, &err), FV_OK);
    assert_events_equal(&a, &b);
    fv_event_clear(&b);
    assert_int_equal(fv_event_decode(&b, "", full_json, strlen(full_json), NULL, &err), FV_OK);
    fv_event_clear(&b);
    /* JSON bytes announced as protobuf are not guessed at */
    assert_int_equal(
        fv_event_decode(&b, "application/x-protobuf", full_json, strlen(full_json), NULL, &err),
        FV_EINVAL);
    assert_int_equal(fv_event_decode(&b, "text/plain", full_json, strlen(full_json), NULL, &err),
                     FV_EINVAL);
    assert_non_null(strstr(err.msg, "unsupported Content-Type 'text/plain'"));
    fv_buf_free(&pb);
    fv_event_clear(&a);
}

static void test_event_copy_is_deep(void **state)
{
    fv_event a, b;
    assert_int_equal(fv_event_from_json(&a, full_json, strlen(full_json), NULL, NULL), FV_OK);
    assert_int_equal(fv_event_copy(&b, &a), FV_OK);
    assert_ptr_not_equal(a.data, b.data);
    assert_events_equal(&a, &b);
    fv_event_clear(&a);
    assert_string_equal(b.data, DATA_EXACT);
    fv_event_clear(&b);
}

/* --- stream events ---------------------------------------------------------------------------- */

static void test_kind_names_parse_case_insensitively(void **state)
{
    fv_stream_kind k;
    assert_int_equal(fv_kind_parse("TOKEN", 5, &k), FV_OK);
    assert_int_equal(k, FV_KIND_TOKEN);
    assert_int_equal(fv_kind_parse("Progress", 8, &k), FV_OK);
    assert_int_equal(k, FV_KIND_PROGRESS);
    assert_int_equal(fv_kind_parse("data", 4, &k), FV_OK);
    assert_int_equal(fv_kind_parse("error", 5, &k), FV_OK);
    assert_int_equal(k, FV_KIND_ERROR);
    assert_int_equal(fv_kind_parse("tokens", 6, &k), FV_EINVAL);
    assert_int_equal(fv_kind_parse("tok", 3, &k), FV_EINVAL);
    assert_int_equal(fv_kind_parse("", 0, &k), FV_EINVAL);
    assert_string_equal(fv_kind_name(FV_KIND_ERROR), "error");
    assert_string_equal(fv_kind_name(FV_KIND_DATA), "data");
}

static void test_stream_event_snake_case_round_trips(void **state)
{
    const char *j =
        "{\"workflow_execution_id\":\"wf\",\"task_execution_id\":\"t1\",\"sequence\":12,"
        "\"type\":\"token\",\"payload\":{\"text\":\"Hel\",\"p\":0.10},"
        "\"timestamp_ms\":1767139200000}";
    fv_stream_event se, back;
    fv_stream_event_init(&se);
    strcpy(se.tenant_id, "acme");
    fv_err err = {{0}};
    assert_int_equal(fv_stream_event_from_json(&se, j, strlen(j), NULL, &err), FV_OK);
    assert_string_equal(se.tenant_id, "acme"); /* kept: the caller knows the tenant */
    assert_string_equal(se.workflow_execution_id, "wf");
    assert_string_equal(se.task_execution_id, "t1");
    assert_int_equal(se.sequence, 12);
    assert_int_equal(se.kind, FV_KIND_TOKEN);
    assert_string_equal(se.payload, "{\"text\":\"Hel\",\"p\":0.10}");
    assert_int_equal(fv_stream_event_validate(&se, NULL, &err), FV_OK);
    fv_buf js = FV_BUF_INIT, pb = FV_BUF_INIT;
    assert_int_equal(fv_stream_event_to_json(&se, &js), FV_OK);
    assert_string_equal(js.data, j);
    assert_int_equal(fv_stream_event_to_proto(&se, &pb), FV_OK);
    assert_int_equal(
        fv_stream_event_decode(&back, "application/x-protobuf", pb.data, pb.len, NULL, &err),
        FV_OK);
    assert_string_equal(back.tenant_id, "acme");
    assert_string_equal(back.workflow_execution_id, "wf");
    assert_int_equal(back.sequence, 12);
    assert_int_equal(back.kind, FV_KIND_TOKEN);
    assert_string_equal(back.payload, se.payload);
    assert_true(back.timestamp_ms == se.timestamp_ms);
    fv_buf_free(&js);
    fv_buf_free(&pb);
    fv_stream_event_clear(&se);
    fv_stream_event_clear(&back);
}

static void test_stream_event_accepts_flovyn_camel_case(void **state)
{
    const char *j = "{\"workflowExecutionId\":\"wf\",\"taskExecutionId\":null,\"sequence\":3,"
                    "\"type\":\"PROGRESS\",\"payload\":\"{\\\"pct\\\":0.50}\",\"timestampMs\":9}";
    fv_stream_event se;
    fv_stream_event_init(&se);
    fv_err err = {{0}};
    assert_int_equal(fv_stream_event_from_json(&se, j, strlen(j), NULL, &err), FV_OK);
    assert_string_equal(se.workflow_execution_id, "wf");
    assert_string_equal(se.task_execution_id, "");
    assert_int_equal(se.kind, FV_KIND_PROGRESS);
    assert_string_equal(se.payload, "{\"pct\":0.50}"); /* the string's content, unwrapped */
    assert_int_equal(se.timestamp_ms, 9);
    fv_stream_event_clear(&se);

    /* Flovyn form with a plain-text payload string: kept as that string */
    const char *t = "{\"workflowExecutionId\":\"wf\",\"sequence\":4,\"type\":\"TOKEN\","
                    "\"payload\":\"Hello\"}";
    assert_int_equal(fv_stream_event_from_json(&se, t, strlen(t), NULL, &err), FV_OK);
    assert_string_equal(se.payload, "\"Hello\"");
    fv_stream_event_clear(&se);
    const char *z = "{\"workflowExecutionId\":\"wf\",\"sequence\":5,\"type\":\"token\","
                    "\"payload\":\"a\\u0000b\"}";
    assert_int_equal(fv_stream_event_from_json(&se, z, strlen(z), NULL, &err), FV_OK);
    assert_string_equal(se.payload, "\"a\\u0000b\"");
    fv_stream_event_clear(&se);

    /* snake form: a string payload is a string value, never unwrapped */
    const char *s = "{\"workflow_execution_id\":\"wf\",\"sequence\":4,\"type\":\"data\","
                    "\"payload\":\"[1]\"}";
    assert_int_equal(fv_stream_event_from_json(&se, s, strlen(s), NULL, &err), FV_OK);
    assert_string_equal(se.payload, "\"[1]\"");
    assert_int_equal(se.kind, FV_KIND_DATA);
    fv_stream_event_clear(&se);
}

static void test_stream_event_rejects_bad_fields(void **state)
{
    static const struct {
        const char *json, *msg;
    } cases[] = {
        {"{\"workflow_execution_id\":\"w.x\",\"sequence\":1,\"type\":\"token\"}",
         "workflow_execution_id: '.'"},
        {"{\"workflow_execution_id\":\"w\",\"sequence\":-1,\"type\":\"token\"}",
         "sequence: negative"},
        {"{\"workflow_execution_id\":\"w\",\"sequence\":1,\"type\":\"tokens\"}",
         "type: not one of token, progress, data, error (at byte 49)"},
        {"{\"workflow_execution_id\":\"w\",\"sequence\":1,\"type\":7}", "type: expected a string"},
        {"{\"workflow_execution_id\":\"w\",\"sequence\":1,\"type\":\"token\",\"payload\":[}",
         "invalid JSON at byte 68: expected a value"},
        {"{\"workflowExecutionId\":\"w\",\"workflow_execution_id\":\"w\"}",
         "workflow_execution_id: appears more than once"},
        {"{\"workflowExecutionId\":\"w\",\"sequence\":99999999999999999999}",
         "sequence: integer out of the 64-bit range"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        fv_stream_event se;
        fv_stream_event_init(&se);
        strcpy(se.tenant_id, "acme");
        fv_err err = {{0}};
        if (fv_stream_event_from_json(&se, cases[i].json, strlen(cases[i].json), NULL, &err) ==
            FV_OK)
            fail_msg("accepted %s", cases[i].json);
        if (!strstr(err.msg, cases[i].msg))
            fail_msg("%s: got '%s', want '%s'", cases[i].json, err.msg, cases[i].msg);
        assert_string_equal(se.tenant_id, "acme");
        assert_null(se.payload);
    }
}

static void test_stream_event_validate_requires_sequence_and_type(void **state)
{
    fv_stream_event se;
    fv_stream_event_init(&se);
    strcpy(se.tenant_id, "acme");
    fv_err err = {{0}};
    const char *j = "{\"workflow_execution_id\":\"wf\"}";
    assert_int_equal(fv_stream_event_from_json(&se, j, strlen(j), NULL, &err), FV_OK);
    assert_int_equal(fv_stream_event_validate(&se, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "sequence:", 9);
    se.sequence = 1;
    assert_int_equal(fv_stream_event_validate(&se, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "type:", 5);
    se.kind = FV_KIND_ERROR;
    assert_int_equal(fv_stream_event_validate(&se, NULL, &err), FV_OK);
    se.tenant_id[0] = '\0';
    assert_int_equal(fv_stream_event_validate(&se, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "tenant_id:", 10);
    strcpy(se.tenant_id, "acme");
    se.workflow_execution_id[0] = '\0';
    assert_int_equal(fv_stream_event_validate(&se, NULL, &err), FV_EINVAL);
    assert_memory_equal(err.msg, "workflow_execution_id:", 22);
    fv_stream_event_clear(&se);
}

static void test_stream_event_from_proto_rejects_hostile_input(void **state)
{
    fv_stream_event se;
    fv_err err = {{0}};
    const unsigned char badkind[] = {0x28, 0x07};
    assert_int_equal(fv_stream_event_from_proto(&se, badkind, sizeof badkind, NULL, &err),
                     FV_EINVAL);
    assert_non_null(strstr(err.msg, "kind: 7"));
    const unsigned char nul[] = {0x12, 0x02, 'w', 0x00};
    assert_int_equal(fv_stream_event_from_proto(&se, nul, sizeof nul, NULL, &err), FV_EINVAL);
    assert_string_equal(err.msg, "workflow_execution_id: contains a NUL byte");
    const unsigned char badpayload[] = {0x32, 0x02, '{', '{'};
    assert_int_equal(fv_stream_event_from_proto(&se, badpayload, sizeof badpayload, NULL, &err),
                     FV_EINVAL);
    assert_memory_equal(err.msg, "payload: invalid JSON", 21);
    const unsigned char trunc[] = {0x32, 0x05, '1'};
    assert_int_equal(fv_stream_event_from_proto(&se, trunc, sizeof trunc, NULL, &err), FV_EINVAL);
    const unsigned char negseq[] = {0x20, 0xff, 0xff, 0xff, 0xff, 0xff,
                                    0xff, 0xff, 0xff, 0xff, 0x01};
    assert_int_equal(fv_stream_event_from_proto(&se, negseq, sizeof negseq, NULL, &err), FV_EINVAL);
    assert_string_equal(err.msg, "sequence: negative");
    fv_limits lim = {.max_data = 4};
    const unsigned char big[] = {0x32, 0x05, '1', '2', '3', '4', '5'};
    assert_int_equal(fv_stream_event_from_proto(&se, big, sizeof big, &lim, &err), FV_ETOOBIG);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_event_type_accepts_dotted_lowercase_tokens),
        cmocka_unit_test(test_event_type_rejects_hostile_and_malformed),
        cmocka_unit_test(test_event_type_rejects_reserved_first_token),
        cmocka_unit_test(test_event_validate_names_the_bad_field),
        cmocka_unit_test(test_event_set_data_enforces_limit_and_json),
        cmocka_unit_test(test_event_fill_defaults_generates_id_and_time),
        cmocka_unit_test(test_dedup_keys_follow_contract),
        cmocka_unit_test(test_event_from_json_reads_every_field_and_keeps_data_bytes),
        cmocka_unit_test(test_event_from_json_accepts_camel_case_and_nulls),
        cmocka_unit_test(test_event_from_json_rejects_hostile_ids_naming_field),
        cmocka_unit_test(test_event_from_json_rejects_raw_nul_byte),
        cmocka_unit_test(test_event_from_json_rejects_deep_and_oversized_data),
        cmocka_unit_test(test_event_to_json_writes_contract_shape_on_one_line),
        cmocka_unit_test(test_event_data_survives_json_proto_json_byte_for_byte),
        cmocka_unit_test(test_event_from_proto_rejects_truncated_and_garbage),
        cmocka_unit_test(test_event_from_proto_validates_fields),
        cmocka_unit_test(test_event_from_proto_caps_unpack_memory),
        cmocka_unit_test(test_event_decode_picks_codec_from_content_type),
        cmocka_unit_test(test_event_copy_is_deep),
        cmocka_unit_test(test_kind_names_parse_case_insensitively),
        cmocka_unit_test(test_stream_event_snake_case_round_trips),
        cmocka_unit_test(test_stream_event_accepts_flovyn_camel_case),
        cmocka_unit_test(test_stream_event_rejects_bad_fields),
        cmocka_unit_test(test_stream_event_validate_requires_sequence_and_type),
        cmocka_unit_test(test_stream_event_from_proto_rejects_hostile_input),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
