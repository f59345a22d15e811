/* Unit tests of cursor.c: the one cursor format, round trips, and every malformed spelling a
 * client could send as Last-Event-ID or `after`. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flovyn/cursor.h"

static fv_status parse(const char *s, fv_cursor *c, fv_err *err)
{
    return fv_cursor_parse(s, strlen(s), c, err);
}

static void test_cursor_formats_canonical_text(void **state)
{
    char out[FV_CURSOR_MAX];
    fv_cursor c = {12, 0, 0x1a2b};
    assert_int_equal(fv_cursor_format(&c, out, sizeof out), FV_OK);
    assert_string_equal(out, "v1.12.0.1a2b");
    fv_cursor z = {0, 0, 0};
    assert_int_equal(fv_cursor_format(&z, out, sizeof out), FV_OK);
    assert_string_equal(out, "v1.0.0.0");
}

static void test_cursor_max_values_fit_and_round_trip(void **state)
{
    char out[FV_CURSOR_MAX];
    fv_cursor c = {UINT64_MAX, UINT64_MAX, UINT64_MAX};
    assert_int_equal(fv_cursor_format(&c, out, sizeof out), FV_OK);
    assert_string_equal(out, "v1.18446744073709551615.18446744073709551615.ffffffffffffffff");
    assert_true(strlen(out) < FV_CURSOR_MAX);
    fv_cursor back;
    assert_int_equal(parse(out, &back, NULL), FV_OK);
    assert_true(back.events_seq == UINT64_MAX && back.streams_seq == UINT64_MAX &&
                back.epoch == UINT64_MAX);
}

static void test_cursor_round_trips_many_values(void **state)
{
    uint64_t vals[] = {
        0,         1, 9, 10, 99, 100, 4294967295u, 4294967296u, 1234567890123ull, UINT64_MAX - 1,
        UINT64_MAX};
    size_t n = sizeof vals / sizeof vals[0];
    for (size_t a = 0; a < n; a++)
        for (size_t b = 0; b < n; b++)
            for (size_t e = 0; e < n; e++) {
                fv_cursor c = {vals[a], vals[b], vals[e]}, back = {7, 7, 7};
                char out[FV_CURSOR_MAX];
                assert_int_equal(fv_cursor_format(&c, out, sizeof out), FV_OK);
                assert_int_equal(parse(out, &back, NULL), FV_OK);
                assert_memory_equal(&c, &back, sizeof c);
                /* and formatting the parse gives the same text back */
                char again[FV_CURSOR_MAX];
                assert_int_equal(fv_cursor_format(&back, again, sizeof again), FV_OK);
                assert_string_equal(out, again);
            }
}

static void test_cursor_format_refuses_small_buffer(void **state)
{
    char out[8];
    fv_cursor c = {123456, 1, 1};
    assert_int_equal(fv_cursor_format(&c, out, sizeof out), FV_ETOOBIG);
    assert_string_equal(out, "");
    assert_int_equal(fv_cursor_format(&c, out, 0), FV_EINVAL);
}

static void test_cursor_parses_with_explicit_length(void **state)
{
    /* the span need not be NUL-terminated: bytes after len are not part of it */
    const char *s = "v1.5.6.7GARBAGE";
    fv_cursor c;
    assert_int_equal(fv_cursor_parse(s, 8, &c, NULL), FV_OK);
    assert_true(c.events_seq == 5 && c.streams_seq == 6 && c.epoch == 7);
    assert_int_equal(fv_cursor_parse(s, 9, &c, NULL), FV_EINVAL);
}

static void test_cursor_rejects_malformed_spellings(void **state)
{
    const char *bad[] = {
        "",
        "v1",
        "v1.",
        "v1..",
        "v1...",
        "v1.1.2",
        "v1.1.2.",
        "v1.1.2.3.",
        "v1.1.2.3.4",
        "v2.1.2.3",
        "V1.1.2.3",
        "1.2.3",
        "x1.1.2.3",
        " v1.1.2.3",
        "v1.1.2.3 ",
        "v1. 1.2.3",
        "v1.+1.2.3",
        "v1.-1.2.3",
        "v1.1.-2.3",
        "v1.01.2.3",
        "v1.1.00.3",
        "v1.1.2.03",
        "v1.1.2.00",
        "v1.1.2.A",
        "v1.1.2.0x1",
        "v1.1.2.g",
        "v1.a.2.3",
        "v1.1e3.2.3",
        "v1.18446744073709551616.0.1", /* 2^64 */
        "v1.0.99999999999999999999.1", /* > 2^64 */
        "v1.0.0.10000000000000000",    /* 17 hex digits */
        "v1.1.2.3\n",
        "v1.1.2.3;",
        "v1.1..3",
        "v1.1.2.3%2e4",
        "v1%2e1%2e2%2e3",
        "undefined",
        "null",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fv_cursor c = {42, 42, 42};
        fv_err err = {{0}};
        fv_status st = parse(bad[i], &c, &err);
        if (st != FV_EINVAL)
            fail_msg("cursor '%s' was accepted", bad[i]);
        assert_true(strncmp(err.msg, "cursor: ", 8) == 0);
        /* the output is untouched on error */
        assert_true(c.events_seq == 42 && c.streams_seq == 42 && c.epoch == 42);
    }
}

static void test_cursor_rejects_null_and_embedded_nul(void **state)
{
    fv_cursor c;
    assert_int_equal(fv_cursor_parse(NULL, 0, &c, NULL), FV_EINVAL);
    const char s[] = "v1.1\0.2.3";
    assert_int_equal(fv_cursor_parse(s, sizeof s - 1, &c, NULL), FV_EINVAL);
}

static void test_cursor_error_message_names_cursor_and_format(void **state)
{
    fv_err err = {{0}};
    fv_cursor c;
    assert_int_equal(parse("v1.01.2.3", &c, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "'v1.01.2.3'"));
    assert_non_null(strstr(err.msg, "v1.<events_seq>.<streams_seq>.<epoch>"));
    assert_non_null(strstr(err.msg, "leading zeros"));
    assert_int_equal(parse("v9.1.2.3", &c, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "version"));
    assert_int_equal(parse("", &c, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "empty"));
}

static void test_cursor_error_message_never_echoes_control_bytes(void **state)
{
    fv_err err = {{0}};
    fv_cursor c;
    assert_int_equal(parse("v1.1\r\nX-Evil: 1", &c, &err), FV_EINVAL);
    assert_null(strchr(err.msg, '\r'));
    assert_null(strchr(err.msg, '\n'));
}

static void test_cursor_rejects_overlong_input(void **state)
{
    char big[4096];
    memset(big, '1', sizeof big);
    memcpy(big, "v1.", 3);
    fv_err err = {{0}};
    fv_cursor c;
    assert_int_equal(fv_cursor_parse(big, sizeof big, &c, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "too long"));
    assert_true(strlen(err.msg) < FV_ERR_MSG_MAX);
}

static void test_cursor_zero_is_a_valid_position(void **state)
{
    fv_cursor c = {9, 9, 9};
    assert_int_equal(parse("v1.0.0.1", &c, NULL), FV_OK);
    assert_true(c.events_seq == 0 && c.streams_seq == 0 && c.epoch == 1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cursor_formats_canonical_text),
        cmocka_unit_test(test_cursor_max_values_fit_and_round_trip),
        cmocka_unit_test(test_cursor_round_trips_many_values),
        cmocka_unit_test(test_cursor_format_refuses_small_buffer),
        cmocka_unit_test(test_cursor_parses_with_explicit_length),
        cmocka_unit_test(test_cursor_rejects_malformed_spellings),
        cmocka_unit_test(test_cursor_rejects_null_and_embedded_nul),
        cmocka_unit_test(test_cursor_error_message_names_cursor_and_format),
        cmocka_unit_test(test_cursor_error_message_never_echoes_control_bytes),
        cmocka_unit_test(test_cursor_rejects_overlong_input),
        cmocka_unit_test(test_cursor_zero_is_a_valid_position),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
