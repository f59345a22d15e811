/* Unit tests of the id validator and UUIDv4 generator (id.h, CONTRACT §2). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "flovyn/id.h"

static void test_id_accepts_uuids_and_allowed_bytes(void **state)
{
    const char *ok[] = {
        "a",        "Z", "0", "-", "__", "a_b-C9", "550e8400-e29b-41d4-a716-446655440000",
        "tenant_1", "_x"};
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        assert_int_equal(fv_id_validate("tenant_id", ok[i], strlen(ok[i]), NULL), FV_OK);
    char max[FV_ID_MAX];
    memset(max, 'a', sizeof max);
    assert_int_equal(fv_id_validate("tenant_id", max, sizeof max, NULL), FV_OK);
    assert_true(fv_id_valid(max, sizeof max));
}

static void test_id_rejects_subject_specials_and_names_the_field(void **state)
{
    const char *bad[] = {"a.>", "*",    ">",   "..",  "a.b",      "a b",
                         " ",   "a\tb", "a/b", "a:b", "\xc3\xa9", "a\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fv_err err = {{0}};
        assert_int_equal(fv_id_validate("workflow_execution_id", bad[i], strlen(bad[i]), &err),
                         FV_EINVAL);
        assert_memory_equal(err.msg, "workflow_execution_id: ", 23);
        assert_false(fv_id_valid(bad[i], strlen(bad[i])));
    }
    fv_err err = {{0}};
    fv_id_validate("workflow_execution_id", ".", 1, &err);
    assert_string_equal(err.msg, "workflow_execution_id: '.' at position 0 is not allowed (ids are "
                                 "1-64 of A-Z a-z 0-9 _ -)");
    fv_id_validate("task_execution_id", "ab cd", 5, &err);
    assert_non_null(strstr(err.msg, "a space at position 2"));
}

static void test_id_rejects_empty_underscore_overlong_and_nul(void **state)
{
    fv_err err = {{0}};
    assert_int_equal(fv_id_validate("tenant_id", "", 0, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "tenant_id: empty"));
    assert_int_equal(fv_id_validate("tenant_id", NULL, 0, &err), FV_EINVAL);
    assert_int_equal(fv_id_validate("tenant_id", "_", 1, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "'_' alone"));
    char longer[FV_ID_MAX + 1];
    memset(longer, 'a', sizeof longer);
    assert_int_equal(fv_id_validate("tenant_id", longer, sizeof longer, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "65 bytes"));
    assert_int_equal(fv_id_validate("tenant_id", "ab\0c", 4, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "byte 0x00 at position 2"));
    /* the error never echoes non-printable bytes */
    assert_int_equal(fv_id_validate("tenant_id", "a\x1b[2J", 5, &err), FV_EINVAL);
    assert_null(strchr(err.msg, '\x1b'));
}

static void test_uuid4_is_random_version4_and_a_valid_id(void **state)
{
    char a[37], b[37];
    assert_int_equal(fv_uuid4(a, sizeof a), FV_OK);
    assert_int_equal(fv_uuid4(b, sizeof b), FV_OK);
    assert_int_equal(strlen(a), 36);
    assert_string_not_equal(a, b);
    assert_int_equal(a[8], '-');
    assert_int_equal(a[13], '-');
    assert_int_equal(a[14], '4');
    assert_int_equal(a[18], '-');
    assert_non_null(strchr("89ab", a[19]));
    assert_int_equal(a[23], '-');
    assert_true(fv_id_valid(a, strlen(a)));
    char small[36];
    assert_int_equal(fv_uuid4(small, sizeof small), FV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_id_accepts_uuids_and_allowed_bytes),
        cmocka_unit_test(test_id_rejects_subject_specials_and_names_the_field),
        cmocka_unit_test(test_id_rejects_empty_underscore_overlong_and_nul),
        cmocka_unit_test(test_uuid4_is_random_version4_and_a_valid_id),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
