/* test_gateway_config.c - flovyn-gateway's options: the defaults of CONTRACT §6, environment
 * variables under flags, range checks and --listen parsing. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static fv_status parse(fv_gw_config *c, const char *const *args, fv_err *err)
{
    int argc = 0;
    char *argv[32];
    for (; args && args[argc]; argc++)
        argv[argc] = (char *)args[argc];
    bool help = false;
    return fv_gw_config_parse(c, argc, argv, &help, err);
}

static void test_defaults_are_the_contract_ones(void **state)
{
    (void)state;
    fv_gw_config c;
    fv_err err = {{0}};
    assert_int_equal(parse(&c, NULL, &err), FV_OK);
    assert_null(c.nats_url); /* memory bus */
    assert_string_equal(c.listen, "127.0.0.1:8080");
    assert_string_equal(c.host, "127.0.0.1");
    assert_int_equal(c.port, 8080);
    assert_string_equal(c.auth, "jwt");
    assert_int_equal(c.replicas, 1);
    assert_int_equal(c.events_max_age_ms, 7LL * 86400 * 1000);
    assert_int_equal(c.streams_max_age_ms, 3600LL * 1000);
    assert_int_equal(c.events_max_bytes, 10LL << 30);
    assert_int_equal(c.streams_max_bytes, 1LL << 30);
    assert_int_equal(c.heartbeat_ms, 15000);
    assert_int_equal(c.max_connections, 10000);
    assert_int_equal(c.max_connections_per_tenant, 1000);
    assert_int_equal(c.queue_bytes, 262144);
    assert_int_equal(c.replay_limit, 10000);
    assert_int_equal(c.max_body, 1048576);
    assert_int_equal(c.ingest_rate_per_tenant, 5000);
    assert_string_equal(c.log_level, "info");
    assert_string_equal(c.log_format, "json");
    assert_int_equal(c.window_bytes, (int64_t)64 << 20);
}

static void test_flags_override_environment(void **state)
{
    (void)state;
    setenv("FLOVYN_HEARTBEAT", "5s", 1);
    setenv("FLOVYN_QUEUE_BYTES", "64K", 1);
    fv_gw_config c;
    fv_err err = {{0}};
    const char *args[] = {"--queue-bytes", "128K", "--listen", "[::1]:9000", NULL};
    assert_int_equal(parse(&c, args, &err), FV_OK);
    assert_int_equal(c.heartbeat_ms, 5000);      /* from the environment */
    assert_int_equal(c.queue_bytes, 128 * 1024); /* the flag wins */
    assert_string_equal(c.host, "::1");
    assert_int_equal(c.port, 9000);
    unsetenv("FLOVYN_HEARTBEAT");
    unsetenv("FLOVYN_QUEUE_BYTES");
}

static void expect_bad(const char *const *args, const char *needle)
{
    fv_gw_config c;
    fv_err err = {{0}};
    assert_int_equal(parse(&c, args, &err), FV_EINVAL);
    if (!strstr(err.msg, needle))
        fail_msg("'%s' does not mention '%s'", err.msg, needle);
}

static void test_bad_values_are_refused_with_the_option_named(void **state)
{
    (void)state;
    const char *a[] = {"--auth", "maybe", NULL};
    expect_bad(a, "--auth");
    const char *b[] = {"--heartbeat", "0s", NULL};
    expect_bad(b, "heartbeat");
    const char *c[] = {"--listen", "8080", NULL};
    expect_bad(c, "--listen");
    const char *d[] = {"--listen", "127.0.0.1:99999", NULL};
    expect_bad(d, "port");
    const char *e[] = {"--queue-bytes", "1", NULL};
    expect_bad(e, "queue-bytes");
    const char *f[] = {"--nope", NULL};
    expect_bad(f, "--nope");
    const char *g[] = {"--demo-tenant", "a.b", NULL};
    expect_bad(g, "demo-tenant");
    const char *h[] = {"serve", NULL};
    expect_bad(h, "serve");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults_are_the_contract_ones),
        cmocka_unit_test(test_flags_override_environment),
        cmocka_unit_test(test_bad_values_are_refused_with_the_option_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
