/* Unit tests of the validating JSON scanner (json.h): RFC 8259 grammar, UTF-8, escapes, depth,
 * member/element iteration with spans, key comparison, string decoding and integers. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flovyn/json.h"

static fv_status validate(const char *s, fv_err *err)
{
    return fv_json_validate(s, strlen(s), FV_JSON_MAX_DEPTH, NULL, err);
}

static void assert_valid(const char *s)
{
    fv_err err = {{0}};
    fv_status st = validate(s, &err);
    if (st != FV_OK)
        fail_msg("expected valid: %s (%s)", s, err.msg);
}

static void assert_invalid(const char *s)
{
    if (validate(s, NULL) == FV_OK)
        fail_msg("expected invalid: %s", s);
}

static void test_json_accepts_every_value_kind(void **state)
{
    const char *ok[] = {
        "{}",
        "[]",
        "\"\"",
        "0",
        "-0",
        "0.1",
        "1e400",
        "-1.5E-7",
        "12345678901234567890123",
        "true",
        "false",
        "null",
        " \t\r\n{ \"a\" : [ 1 , 2 , { } ] } \n",
        "{\"a\":{\"b\":[null,true,false,\"x\"]}}",
        "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"",
        "\"\\u00e9\\uD83D\\uDE00\"",
        "\"h\xc3\xa9llo \xf0\x9f\x98\x80\"",
        "[1,[2,[3]]]",
    };
    for (size_t i = 0; i < sizeof ok / sizeof *ok; i++)
        assert_valid(ok[i]);
    fv_json_kind k;
    assert_int_equal(fv_json_validate(" 1e5 ", 5, 0, &k, NULL), FV_OK);
    assert_int_equal(k, FV_JSON_NUMBER);
    assert_int_equal(fv_json_validate("[]", 2, 0, &k, NULL), FV_OK);
    assert_int_equal(k, FV_JSON_ARRAY);
}

static void test_json_rejects_grammar_violations(void **state)
{
    const char *bad[] = {
        "",           " ",           "{",       "}",     "[1,]",  "{\"a\":1,}",
        "{\"a\" 1}",  "{a:1}",       "{'a':1}", "[1 2]", "01",    "-",
        "1.",         ".5",          "1e",      "1e+",   "+1",    "0x10",
        "NaN",        "Infinity",    "tru",     "nul",   "\"abc", "\"a\\x\"",
        "\"\\u12\"",  "\"\\uZZZZ\"", "{} {}",   "1 2",   "[]]",   "\"tab\there\"",
        "{\"a\":1}x", "[1]\x01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_invalid(bad[i]);
}

static void test_json_rejects_invalid_utf8_and_surrogates(void **state)
{
    const char *bad[] = {
        "\"\xc0\xaf\"",         /* overlong '/' */
        "\"\xe0\x80\xaf\"",     /* overlong 3-byte */
        "\"\xf0\x80\x80\xaf\"", /* overlong 4-byte */
        "\"\xed\xa0\x80\"",     /* encoded surrogate U+D800 */
        "\"\xf4\x90\x80\x80\"", /* > U+10FFFF */
        "\"\xff\"",
        "\"\x80\"",
        "\"\xc3\"",
        "\"\xe2\x82\"",
        "\"\\uD800\"",        /* lone high surrogate */
        "\"\\uDC00\"",        /* lone low surrogate */
        "\"\\uD800\\u0041\"", /* high followed by a non-low */
        "\"\\uD800x\"",
    };
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++)
        assert_invalid(bad[i]);
    assert_true(fv_utf8_valid("h\xc3\xa9", 3));
    assert_false(fv_utf8_valid("\xed\xbf\xbf", 3));
    assert_false(fv_utf8_valid("\xc1\x81", 2));
    assert_true(fv_utf8_valid("\xf4\x8f\xbf\xbf", 4));
}

static void test_json_rejects_raw_nul_byte(void **state)
{
    const char s[] = "\"a\0b\"";
    assert_int_equal(fv_json_validate(s, sizeof s - 1, 0, NULL, NULL), FV_EINVAL);
    const char t[] = "{}\0";
    assert_int_equal(fv_json_validate(t, sizeof t - 1, 0, NULL, NULL), FV_EINVAL);
}

static void test_json_error_names_byte_and_expectation(void **state)
{
    fv_err err = {{0}};
    assert_int_equal(validate("{\"a\":1,\"b\":2 \"c\":3}", &err), FV_EINVAL);
    assert_string_equal(err.msg, "invalid JSON at byte 13: expected ',' or '}'");
    assert_int_equal(validate("[1,2,]", &err), FV_EINVAL);
    assert_string_equal(err.msg, "invalid JSON at byte 5: expected a value");
    assert_int_equal(validate("{} x", &err), FV_EINVAL);
    assert_string_equal(err.msg, "invalid JSON at byte 3: unexpected data after the value");
}

static char *nested(int depth)
{
    char *s = malloc((size_t)depth * 2 + 1);
    for (int i = 0; i < depth; i++) {
        s[i] = '[';
        s[depth * 2 - 1 - i] = ']';
    }
    s[depth * 2] = '\0';
    return s;
}

static void test_json_depth_limit_is_enforced(void **state)
{
    char *ok = nested(FV_JSON_MAX_DEPTH);
    assert_int_equal(validate(ok, NULL), FV_OK);
    char *deep = nested(FV_JSON_MAX_DEPTH + 1);
    fv_err err = {{0}};
    assert_int_equal(validate(deep, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "nesting deeper than 64"));
    /* far beyond the limit: no stack exhaustion */
    char *huge = nested(100000);
    assert_int_equal(validate(huge, NULL), FV_EINVAL);
    assert_int_equal(fv_json_validate("[[1]]", 5, 1, NULL, NULL), FV_EINVAL);
    assert_int_equal(fv_json_validate("[[1]]", 5, 2, NULL, NULL), FV_OK);
    free(ok);
    free(deep);
    free(huge);
}

static void test_json_members_report_raw_spans_in_order(void **state)
{
    const char *s = " {\"b\" : 0.10 , \"a\":{\"x\":[1e400]},\"c\":\"s\\n\", \"n\":null} ";
    fv_json_iter it;
    fv_json_iter_init(&it, s, strlen(s));
    fv_span k, v;
    fv_json_kind kind;
    assert_int_equal(fv_json_next_member(&it, &k, &v, &kind, NULL), 1);
    assert_int_equal(k.n, 1);
    assert_memory_equal(k.p, "b", 1);
    assert_int_equal(v.n, 4);
    assert_memory_equal(v.p, "0.10", 4);
    assert_int_equal(kind, FV_JSON_NUMBER);
    assert_int_equal(fv_json_next_member(&it, &k, &v, &kind, NULL), 1);
    assert_int_equal(kind, FV_JSON_OBJECT);
    assert_int_equal(v.n, strlen("{\"x\":[1e400]}"));
    assert_memory_equal(v.p, "{\"x\":[1e400]}", v.n);
    assert_int_equal(fv_json_next_member(&it, &k, &v, &kind, NULL), 1);
    assert_int_equal(kind, FV_JSON_STRING);
    assert_memory_equal(v.p, "\"s\\n\"", v.n);
    assert_int_equal(fv_json_next_member(&it, &k, &v, &kind, NULL), 1);
    assert_int_equal(kind, FV_JSON_NULL);
    assert_int_equal(fv_json_next_member(&it, &k, &v, &kind, NULL), 0);
    assert_int_equal(fv_json_next_member(&it, &k, &v, &kind, NULL), 0);
}

static void test_json_member_iteration_rejects_bad_envelopes(void **state)
{
    const char *bad[] = {"[1]",        "{\"a\":1", "{\"a\":1}}",  "{\"a\":01}",
                         "{\"a\":1,}", "",         "{\"a\":[1,}", "{\"a\":1} 2"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fv_json_iter it;
        fv_json_iter_init(&it, bad[i], strlen(bad[i]));
        int r;
        fv_err err = {{0}};
        while ((r = fv_json_next_member(&it, NULL, NULL, NULL, &err)) == 1)
            ;
        if (r >= 0)
            fail_msg("expected an error for %s", bad[i]);
        assert_non_null(strstr(err.msg, "invalid JSON at byte"));
        /* a failed iterator stays failed */
        assert_true(fv_json_next_member(&it, NULL, NULL, NULL, NULL) < 0);
    }
    fv_json_iter it;
    fv_json_iter_init(&it, "{}", 2);
    assert_int_equal(fv_json_next_member(&it, NULL, NULL, NULL, NULL), 0);

    /* a bad value leaves its member's key in `key`, so callers can name the member */
    const char *s = "{\"ok\":1,\"data\":[1,}";
    fv_span k = {NULL, 0};
    fv_json_iter_init(&it, s, strlen(s));
    assert_int_equal(fv_json_next_member(&it, &k, NULL, NULL, NULL), 1);
    assert_true(fv_json_next_member(&it, &k, NULL, NULL, NULL) < 0);
    assert_true(fv_json_key_is(k, "data"));
}

static void test_json_elements_iterate_arrays(void **state)
{
    const char *s = "[ {\"a\":1} , 2 ,\"x\" ]";
    fv_json_iter it;
    fv_json_iter_init(&it, s, strlen(s));
    fv_span v;
    fv_json_kind kind;
    assert_int_equal(fv_json_next_element(&it, &v, &kind, NULL), 1);
    assert_int_equal(kind, FV_JSON_OBJECT);
    assert_memory_equal(v.p, "{\"a\":1}", v.n);
    assert_int_equal(fv_json_next_element(&it, &v, &kind, NULL), 1);
    assert_memory_equal(v.p, "2", v.n);
    assert_int_equal(fv_json_next_element(&it, &v, &kind, NULL), 1);
    assert_memory_equal(v.p, "\"x\"", v.n);
    assert_int_equal(fv_json_next_element(&it, &v, &kind, NULL), 0);
    fv_json_iter_init(&it, "[]", 2);
    assert_int_equal(fv_json_next_element(&it, &v, &kind, NULL), 0);
    fv_json_iter_init(&it, "{}", 2);
    assert_true(fv_json_next_element(&it, &v, &kind, NULL) < 0);
}

static void test_json_key_is_compares_after_decoding_escapes(void **state)
{
    fv_span k = {"tenant_id", 9};
    assert_true(fv_json_key_is(k, "tenant_id"));
    assert_false(fv_json_key_is(k, "tenant"));
    assert_false(fv_json_key_is(k, "tenant_idx"));
    fv_span e = {"tenant\\u005fid", 14};
    assert_true(fv_json_key_is(e, "tenant_id"));
    fv_span bad = {"a\\u00", 6};
    assert_false(fv_json_key_is(bad, "a"));
    fv_span emoji = {"\\uD83D\\uDE00", 12};
    assert_true(fv_json_key_is(emoji, "\xf0\x9f\x98\x80"));
}

static void test_json_string_decode_handles_escapes_and_rejects_nul(void **state)
{
    char out[64];
    size_t n;
    const char *s = "\"a\\\"b\\\\c\\/\\n\\u00e9\\uD83D\\uDE00\"";
    assert_int_equal(fv_json_string_decode((fv_span){s, strlen(s)}, out, sizeof out, &n, NULL),
                     FV_OK);
    assert_string_equal(out, "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80");
    assert_int_equal(n, strlen(out));
    fv_err err = {{0}};
    const char *z = "\"a\\u0000b\"";
    assert_int_equal(fv_json_string_decode((fv_span){z, strlen(z)}, out, sizeof out, &n, &err),
                     FV_EINVAL);
    assert_non_null(strstr(err.msg, "\\u0000"));
    const char *lng = "\"abcdef\"";
    assert_int_equal(fv_json_string_decode((fv_span){lng, strlen(lng)}, out, 4, &n, NULL),
                     FV_ETOOBIG);
    assert_int_equal(fv_json_string_decode((fv_span){"12", 2}, out, sizeof out, &n, NULL),
                     FV_EINVAL);
    assert_int_equal(fv_json_string_decode((fv_span){"\"a\" ", 4}, out, sizeof out, &n, NULL),
                     FV_EINVAL);
    char *heap;
    assert_int_equal(fv_json_string_decode_alloc((fv_span){s, strlen(s)}, &heap, &n, NULL), FV_OK);
    assert_string_equal(heap, "a\"b\\c/\n\xc3\xa9\xf0\x9f\x98\x80");
    free(heap);
    assert_int_equal(fv_json_string_decode_alloc((fv_span){z, strlen(z)}, &heap, &n, NULL),
                     FV_EINVAL);
    assert_null(heap);
}

static void test_json_int64_parses_full_range_and_rejects_others(void **state)
{
    int64_t v;
    assert_int_equal(fv_json_int64((fv_span){"0", 1}, &v, NULL), FV_OK);
    assert_int_equal(v, 0);
    assert_int_equal(fv_json_int64((fv_span){"-42", 3}, &v, NULL), FV_OK);
    assert_int_equal(v, -42);
    assert_int_equal(fv_json_int64((fv_span){"9223372036854775807", 19}, &v, NULL), FV_OK);
    assert_true(v == INT64_MAX);
    assert_int_equal(fv_json_int64((fv_span){"-9223372036854775808", 20}, &v, NULL), FV_OK);
    assert_true(v == INT64_MIN);
    assert_int_equal(fv_json_int64((fv_span){"9223372036854775808", 19}, &v, NULL), FV_ETOOBIG);
    assert_int_equal(fv_json_int64((fv_span){"12345678901234567890", 20}, &v, NULL), FV_ETOOBIG);
    assert_int_equal(fv_json_int64((fv_span){"1.5", 3}, &v, NULL), FV_EINVAL);
    assert_int_equal(fv_json_int64((fv_span){"1e3", 3}, &v, NULL), FV_EINVAL);
    assert_int_equal(fv_json_int64((fv_span){"01", 2}, &v, NULL), FV_EINVAL);
    assert_int_equal(fv_json_int64((fv_span){"-", 1}, &v, NULL), FV_EINVAL);
    assert_int_equal(fv_json_int64((fv_span){"", 0}, &v, NULL), FV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_json_accepts_every_value_kind),
        cmocka_unit_test(test_json_rejects_grammar_violations),
        cmocka_unit_test(test_json_rejects_invalid_utf8_and_surrogates),
        cmocka_unit_test(test_json_rejects_raw_nul_byte),
        cmocka_unit_test(test_json_error_names_byte_and_expectation),
        cmocka_unit_test(test_json_depth_limit_is_enforced),
        cmocka_unit_test(test_json_members_report_raw_spans_in_order),
        cmocka_unit_test(test_json_member_iteration_rejects_bad_envelopes),
        cmocka_unit_test(test_json_elements_iterate_arrays),
        cmocka_unit_test(test_json_key_is_compares_after_decoding_escapes),
        cmocka_unit_test(test_json_string_decode_handles_escapes_and_rejects_nul),
        cmocka_unit_test(test_json_int64_parses_full_range_and_rejects_others),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
