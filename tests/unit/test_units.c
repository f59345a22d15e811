/* Unit tests of the small shared modules: units (times, durations, sizes), buffer/JSON writer,
 * and the option table. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flovyn/buf.h"
#include "flovyn/options.h"
#include "flovyn/units.h"

static void test_time_parse_rfc3339_and_epoch_ms(void **state)
{
    int64_t ms;
    assert_int_equal(fv_time_parse("1970-01-01T00:00:01Z", &ms, NULL), FV_OK);
    assert_int_equal(ms, 1000);
    assert_int_equal(fv_time_parse("2026-01-01T00:00:00.5+01:00", &ms, NULL), FV_OK);
    assert_int_equal(ms, 1767222000500LL);
    assert_int_equal(fv_time_parse("1767139200000", &ms, NULL), FV_OK);
    assert_int_equal(ms, 1767139200000LL);
    fv_err err = {{0}};
    assert_int_equal(fv_time_parse("yesterday", &ms, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "yesterday"));
    assert_int_equal(fv_time_parse("2026-13-01T00:00:00Z", &ms, NULL), FV_EINVAL);
    assert_int_equal(fv_time_parse("2026-01-01T00:00:00", &ms, NULL), FV_EINVAL);
}

static void test_time_format_round_trips(void **state)
{
    char out[40];
    fv_time_format(1767139200123LL, out, sizeof out);
    assert_string_equal(out, "2025-12-31T00:00:00.123Z");
    int64_t ms;
    assert_int_equal(fv_time_parse(out, &ms, NULL), FV_OK);
    assert_int_equal(ms, 1767139200123LL);
}

static void test_duration_and_size_units(void **state)
{
    int64_t v;
    assert_int_equal(fv_duration_parse("7d", &v, NULL), FV_OK);
    assert_int_equal(v, 7LL * 86400000);
    assert_int_equal(fv_duration_parse("250ms", &v, NULL), FV_OK);
    assert_int_equal(v, 250);
    assert_int_equal(fv_duration_parse("2m", &v, NULL), FV_OK);
    assert_int_equal(v, 120000);
    assert_int_equal(fv_duration_parse("1x", &v, NULL), FV_EINVAL);
    assert_int_equal(fv_duration_parse("-1s", &v, NULL), FV_EINVAL);
    assert_int_equal(fv_size_parse("10G", &v, NULL), FV_OK);
    assert_int_equal(v, 10LL << 30);
    assert_int_equal(fv_size_parse("262144", &v, NULL), FV_OK);
    assert_int_equal(v, 262144);
    assert_int_equal(fv_size_parse("99999999999T", &v, NULL), FV_EINVAL);
}

static void test_json_writer_escapes_controls_and_quotes(void **state)
{
    fv_buf b = FV_BUF_INIT;
    fv_json_put_string(&b, "a\"b\\c\n\x01\x7f", 8);
    assert_string_equal(b.data, "\"a\\\"b\\\\c\\n\\u0001\x7f\"");
    fv_buf_reset(&b);
    fv_json_put_str_or_null(&b, "");
    assert_string_equal(b.data, "null");
    fv_buf_free(&b);
}

typedef struct cfg {
    const char *url;
    int64_t n;
    bool flag;
    int64_t dur;
} cfg;

static const fv_option opts[] = {
    {"nats-url", FV_OPT_STRING, offsetof(cfg, url), NULL, "url"},
    {"count", FV_OPT_INT, offsetof(cfg, n), "5", "n"},
    {"flag", FV_OPT_BOOL, offsetof(cfg, flag), "false", "f"},
    {"heartbeat", FV_OPT_DURATION, offsetof(cfg, dur), "15s", "hb"},
    {NULL, 0, 0, NULL, NULL},
};

static void test_options_flags_override_env_override_defaults(void **state)
{
    const fv_option *const tables[] = {opts};
    cfg c = {0};
    fv_options_result r;
    setenv("FLOVYN_COUNT", "7", 1);
    setenv("FLOVYN_NATS_URL", "nats://env", 1);
    char *argv[] = {"run", "--nats-url", "nats://flag", "--flag", "--heartbeat=2s"};
    assert_int_equal(fv_options_parse(tables, 1, &c, 5, argv, &r, NULL), FV_OK);
    assert_string_equal(c.url, "nats://flag");
    assert_int_equal(c.n, 7);
    assert_true(c.flag);
    assert_int_equal(c.dur, 2000);
    assert_int_equal(r.npositional, 1);
    assert_string_equal(r.positional[0], "run");
    unsetenv("FLOVYN_COUNT");
    unsetenv("FLOVYN_NATS_URL");
}

static void test_options_reject_unknown_and_bad_values(void **state)
{
    const fv_option *const tables[] = {opts};
    cfg c = {0};
    fv_options_result r;
    fv_err err = {{0}};
    char *argv1[] = {"--nope"};
    assert_int_equal(fv_options_parse(tables, 1, &c, 1, argv1, &r, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "--nope"));
    char *argv2[] = {"--count", "abc"};
    assert_int_equal(fv_options_parse(tables, 1, &c, 2, argv2, &r, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "count"));
    char *argv3[] = {"--heartbeat"};
    assert_int_equal(fv_options_parse(tables, 1, &c, 1, argv3, &r, &err), FV_EINVAL);
}

/* an old spelling listed before the option it stands for: defaults must not undo it */
static const fv_option renamed[] = {
    {"old-flag", FV_OPT_ALIAS, 0, "flag", NULL},
    {"old-heartbeat", FV_OPT_ALIAS, 0, "heartbeat", NULL},
    {"flag", FV_OPT_BOOL, offsetof(cfg, flag), "false", "f"},
    {"heartbeat", FV_OPT_DURATION, offsetof(cfg, dur), "15s", "hb"},
    {"dangling", FV_OPT_ALIAS, 0, "nothing", NULL},
    {NULL, 0, 0, NULL, NULL},
};

static void test_options_deprecated_alias_sets_its_option_and_is_reported(void **state)
{
    const fv_option *const tables[] = {renamed};
    cfg c = {0};
    fv_options_result r;
    fv_err err = {{0}};
    char *argv[] = {"--old-flag", "--old-heartbeat", "2s", "--old-flag=true"};
    assert_int_equal(fv_options_parse(tables, 1, &c, 4, argv, &r, &err), FV_OK);
    assert_true(c.flag);
    assert_int_equal(c.dur, 2000);
    assert_int_equal(r.ndeprecated, 2); /* each spelling once */
    assert_string_equal(r.deprecated[0]->name, "old-flag");
    assert_string_equal(r.deprecated[1]->name, "old-heartbeat");
    /* the canonical spelling is not reported */
    char *argv2[] = {"--flag", "--heartbeat=3s"};
    assert_int_equal(fv_options_parse(tables, 1, &c, 2, argv2, &r, &err), FV_OK);
    assert_int_equal(r.ndeprecated, 0);
    assert_int_equal(c.dur, 3000);
    /* the old environment variable still works and is reported too */
    setenv("FLOVYN_OLD_HEARTBEAT", "4s", 1);
    assert_int_equal(fv_options_parse(tables, 1, &c, 0, NULL, &r, &err), FV_OK);
    unsetenv("FLOVYN_OLD_HEARTBEAT");
    assert_int_equal(c.dur, 4000);
    assert_int_equal(r.ndeprecated, 1);
    /* a bad value is reported under the spelling the user wrote */
    char *argv3[] = {"--old-flag=maybe"};
    assert_int_equal(fv_options_parse(tables, 1, &c, 1, argv3, &r, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "--old-flag"));
    /* an alias of nothing is a clear error, not a crash */
    char *argv4[] = {"--dangling"};
    assert_int_equal(fv_options_parse(tables, 1, &c, 1, argv4, &r, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "dangling"));
}

static void test_options_help_leaves_deprecated_spellings_out(void **state)
{
    const fv_option *const tables[] = {renamed};
    char buf[2048] = {0};
    FILE *f = fmemopen(buf, sizeof buf - 1, "w");
    assert_non_null(f);
    fv_options_help(tables, 1, f);
    fclose(f);
    assert_non_null(strstr(buf, "--flag"));
    assert_non_null(strstr(buf, "--heartbeat"));
    assert_null(strstr(buf, "old-"));
    assert_null(strstr(buf, "dangling"));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_time_parse_rfc3339_and_epoch_ms),
        cmocka_unit_test(test_time_format_round_trips),
        cmocka_unit_test(test_duration_and_size_units),
        cmocka_unit_test(test_json_writer_escapes_controls_and_quotes),
        cmocka_unit_test(test_options_flags_override_env_override_defaults),
        cmocka_unit_test(test_options_reject_unknown_and_bad_values),
        cmocka_unit_test(test_options_deprecated_alias_sets_its_option_and_is_reported),
        cmocka_unit_test(test_options_help_leaves_deprecated_spellings_out),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
