/* Unit tests of the legacy name mapping (legacy.h): SCREAMING_SNAKE <-> dotted, both ways. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "flovyn/legacy.h"

static const struct {
    const char *legacy, *type;
} pairs[] = {
    {"TASK_CREATED", "task.created"},
    {"CHILD_WORKFLOW_INITIATED", "child_workflow.initiated"},
    {"CHILD_WORKFLOW_CANCELLATION_REQUESTED", "child_workflow.cancellation_requested"},
    {"WORKFLOW_COMPLETED", "workflow.completed"},
    {"WORKFLOW_EXECUTION_STARTED", "workflow.execution_started"},
    {"TIMER_FIRED", "timer.fired"},
    {"PROMISE_RESOLVED", "promise.resolved"},
    {"OPERATION_COMPLETED", "operation.completed"},
    {"STATE_SET", "state.set"},
    {"RETRY_SCHEDULED", "retry.scheduled"},
    {"CANCELLATION_REQUESTED", "cancellation.requested"},
    {"TASK_2FA_SENT", "task.2fa_sent"},
};

static void test_legacy_to_type_uses_longest_category(void **state)
{
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        char out[129];
        fv_err err = {{0}};
        assert_int_equal(fv_legacy_to_type(pairs[i].legacy, out, sizeof out, &err), FV_OK);
        assert_string_equal(out, pairs[i].type);
    }
}

static void test_legacy_from_type_inverts_to_type(void **state)
{
    for (size_t i = 0; i < sizeof pairs / sizeof *pairs; i++) {
        char out[129], back[129];
        assert_int_equal(fv_legacy_from_type(pairs[i].type, out, sizeof out, NULL), FV_OK);
        assert_string_equal(out, pairs[i].legacy);
        assert_int_equal(fv_legacy_to_type(out, back, sizeof back, NULL), FV_OK);
        assert_string_equal(back, pairs[i].type);
    }
}

static void test_legacy_rejects_unknown_category_and_malformed_names(void **state)
{
    const char *bad[] = {"",
                         "CREATED",
                         "FOO_BAR",
                         "TASK",
                         "TASK_",
                         "CHILD_INITIATED",
                         "task_created",
                         "TASK-CREATED",
                         "TASK CREATED",
                         "TASK.CREATED",
                         "WORKFLOWCOMPLETED",
                         "TASK_\xc3\x89"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char out[129] = "unchanged";
        fv_err err = {{0}};
        if (fv_legacy_to_type(bad[i], out, sizeof out, &err) == FV_OK)
            fail_msg("accepted %s as %s", bad[i], out);
        assert_non_null(strstr(err.msg, "legacy event name"));
        assert_string_equal(out, "");
    }
    fv_err err = {{0}};
    char out[129];
    assert_int_equal(fv_legacy_to_type("FOO_BAR", out, sizeof out, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "unknown category"));
    assert_int_equal(fv_legacy_to_type("TASK_CREATED", out, 5, NULL), FV_ETOOBIG);
}

static void test_legacy_from_type_rejects_unmappable_types(void **state)
{
    const char *bad[] = {
        "task", "foo.bar", "task.created.extra", "task.re-tried", "Task.Created", "error.x", ""};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        char out[129];
        if (fv_legacy_from_type(bad[i], out, sizeof out, NULL) == FV_OK)
            fail_msg("mapped %s to %s", bad[i], out);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_legacy_to_type_uses_longest_category),
        cmocka_unit_test(test_legacy_from_type_inverts_to_type),
        cmocka_unit_test(test_legacy_rejects_unknown_category_and_malformed_names),
        cmocka_unit_test(test_legacy_from_type_rejects_unmappable_types),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
