/* Unit tests of the SSRF address classifier and the URL check (bridge/cmd/ssrf.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "../../bridge/cmd/ssrf.c"

static void test_ssrf_refuses_ipv4_internal_ranges(void **state)
{
    assert_string_equal(fv_ssrf_classify_text("127.0.0.1"), "loopback");
    assert_string_equal(fv_ssrf_classify_text("127.255.0.9"), "loopback");
    assert_string_equal(fv_ssrf_classify_text("10.0.0.1"), "private");
    assert_string_equal(fv_ssrf_classify_text("172.16.0.1"), "private");
    assert_string_equal(fv_ssrf_classify_text("172.31.255.254"), "private");
    assert_string_equal(fv_ssrf_classify_text("192.168.1.1"), "private");
    assert_string_equal(fv_ssrf_classify_text("100.64.0.1"), "shared");
    assert_string_equal(fv_ssrf_classify_text("100.127.255.255"), "shared");
    assert_string_equal(fv_ssrf_classify_text("169.254.169.254"), "metadata");
    assert_string_equal(fv_ssrf_classify_text("169.254.1.1"), "link-local");
    assert_string_equal(fv_ssrf_classify_text("0.0.0.0"), "unspecified");
    assert_string_equal(fv_ssrf_classify_text("224.0.0.1"), "multicast");
    assert_string_equal(fv_ssrf_classify_text("255.255.255.255"), "reserved");
}

static void test_ssrf_accepts_public_ipv4_next_to_the_ranges(void **state)
{
    assert_null(fv_ssrf_classify_text("8.8.8.8"));
    assert_null(fv_ssrf_classify_text("172.15.255.255"));
    assert_null(fv_ssrf_classify_text("172.32.0.1"));
    assert_null(fv_ssrf_classify_text("100.63.255.255"));
    assert_null(fv_ssrf_classify_text("100.128.0.0"));
    assert_null(fv_ssrf_classify_text("192.169.0.1"));
    assert_null(fv_ssrf_classify_text("11.0.0.1"));
    assert_null(fv_ssrf_classify_text("169.253.0.1"));
}

static void test_ssrf_refuses_ipv6_internal_ranges_and_mapped_ipv4(void **state)
{
    assert_string_equal(fv_ssrf_classify_text("::1"), "loopback");
    assert_string_equal(fv_ssrf_classify_text("::"), "unspecified");
    assert_string_equal(fv_ssrf_classify_text("fc00::1"), "unique-local");
    assert_string_equal(fv_ssrf_classify_text("fd12:3456::1"), "unique-local");
    assert_string_equal(fv_ssrf_classify_text("fe80::1"), "link-local");
    assert_string_equal(fv_ssrf_classify_text("febf::1"), "link-local");
    assert_string_equal(fv_ssrf_classify_text("ff02::1"), "multicast");
    assert_string_equal(fv_ssrf_classify_text("::ffff:127.0.0.1"), "loopback");
    assert_string_equal(fv_ssrf_classify_text("::ffff:169.254.169.254"), "metadata");
    assert_string_equal(fv_ssrf_classify_text("64:ff9b::10.0.0.1"), "private");
    assert_null(fv_ssrf_classify_text("2001:4860:4860::8888"));
    assert_null(fv_ssrf_classify_text("::ffff:8.8.8.8"));
    assert_string_equal(fv_ssrf_classify_text("not-an-address"), "invalid");
}

static void test_ssrf_check_url_refuses_loopback_host_with_a_clear_message(void **state)
{
    fv_err err = {{0}};
    assert_int_equal(fv_ssrf_check_url("http://127.0.0.1:9/hook", false, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "loopback"));
    assert_non_null(strstr(err.msg, "--allow-private"));
    assert_int_equal(fv_ssrf_check_url("http://localhost/hook", false, &err), FV_EINVAL);
    assert_int_equal(fv_ssrf_check_url("http://[::1]:8080/", false, &err), FV_EINVAL);
    assert_int_equal(fv_ssrf_check_url("http://0x7f000001/", false, &err), FV_EINVAL);
    assert_int_equal(fv_ssrf_check_url("http://127.0.0.1:9/hook", true, &err), FV_OK);
}

static void test_ssrf_check_url_rejects_other_schemes(void **state)
{
    fv_err err = {{0}};
    assert_int_equal(fv_ssrf_check_url("file:///etc/passwd", true, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "scheme"));
    assert_int_equal(fv_ssrf_check_url("gopher://8.8.8.8/", true, &err), FV_EINVAL);
    assert_int_equal(fv_ssrf_check_url("not a url", true, &err), FV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ssrf_refuses_ipv4_internal_ranges),
        cmocka_unit_test(test_ssrf_accepts_public_ipv4_next_to_the_ranges),
        cmocka_unit_test(test_ssrf_refuses_ipv6_internal_ranges_and_mapped_ipv4),
        cmocka_unit_test(test_ssrf_check_url_refuses_loopback_host_with_a_clear_message),
        cmocka_unit_test(test_ssrf_check_url_rejects_other_schemes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
