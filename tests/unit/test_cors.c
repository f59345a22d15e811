/* Unit tests of the CORS module: origin list parsing and normalization, the headers added to
 * ordinary responses and to preflight answers, and the rule that `*` never goes with credentials.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <microhttpd.h>

#include "cors.h"

static fv_cors *make(const char *list)
{
    fv_cors *c = NULL;
    fv_err err = {{0}};
    if (fv_cors_create(list, &c, &err) != FV_OK)
        fail_msg("cors %s: %s", list, err.msg);
    return c;
}

static struct MHD_Response *resp_for(const fv_cors *c, const char *origin)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    assert_non_null(r);
    fv_cors_add_headers(c, r, origin);
    return r;
}

static const char *hdr(struct MHD_Response *r, const char *k)
{
    return MHD_get_response_header(r, k);
}

static void test_cors_allows_only_listed_origins_normalized(void **state)
{
    fv_cors *c = make(" https://App.Example.com:443/ , http://localhost:3000,http://a.test:80");
    assert_true(fv_cors_origin_allowed(c, "https://app.example.com"));
    assert_true(fv_cors_origin_allowed(c, "http://localhost:3000"));
    assert_true(fv_cors_origin_allowed(c, "http://a.test"));
    assert_false(fv_cors_origin_allowed(c, "http://app.example.com"));
    assert_false(fv_cors_origin_allowed(c, "https://app.example.com.evil.test"));
    assert_false(fv_cors_origin_allowed(c, "https://evil.test"));
    assert_false(fv_cors_origin_allowed(c, "http://localhost:3001"));
    assert_false(fv_cors_origin_allowed(c, "null"));
    assert_false(fv_cors_origin_allowed(c, ""));
    assert_false(fv_cors_origin_allowed(c, NULL));
    fv_cors_destroy(c);
}

static void test_cors_rejects_entries_that_are_not_origins(void **state)
{
    const char *bad[] = {"app.example.com",   "https://a.test/path",
                         "https://*.a.test",  "ftp://a.test",
                         "https://",          "null",
                         "https://a.test?x=1"};
    for (size_t i = 0; i < sizeof bad / sizeof *bad; i++) {
        fv_cors *c = NULL;
        fv_err err = {{0}};
        if (fv_cors_create(bad[i], &c, &err) != FV_EINVAL)
            fail_msg("'%s' accepted", bad[i]);
        assert_null(c);
        assert_non_null(strstr(err.msg, "cors-origins"));
    }
}

static void test_cors_headers_echo_allowed_origin_with_credentials(void **state)
{
    fv_cors *c = make("https://app.example.com");
    struct MHD_Response *r = resp_for(c, "https://app.example.com");
    assert_string_equal(hdr(r, "Access-Control-Allow-Origin"), "https://app.example.com");
    assert_string_equal(hdr(r, "Access-Control-Allow-Credentials"), "true");
    assert_string_equal(hdr(r, "Vary"), "Origin");
    assert_non_null(hdr(r, "Access-Control-Expose-Headers"));
    MHD_destroy_response(r);
    fv_cors_destroy(c);
}

static void test_cors_not_allowed_origin_gets_no_cors_header(void **state)
{
    fv_cors *c = make("https://app.example.com");
    struct MHD_Response *r = resp_for(c, "https://evil.test");
    assert_null(hdr(r, "Access-Control-Allow-Origin"));
    assert_null(hdr(r, "Access-Control-Allow-Credentials"));
    assert_null(hdr(r, "Access-Control-Expose-Headers"));
    /* the answer still depends on Origin for caches */
    assert_string_equal(hdr(r, "Vary"), "Origin");
    MHD_destroy_response(r);
    r = fv_cors_preflight_response(c, "https://evil.test");
    assert_non_null(r);
    assert_null(hdr(r, "Access-Control-Allow-Origin"));
    assert_null(hdr(r, "Access-Control-Allow-Methods"));
    assert_null(hdr(r, "Access-Control-Allow-Headers"));
    MHD_destroy_response(r);
    fv_cors_destroy(c);
}

static void test_cors_unconfigured_adds_nothing(void **state)
{
    fv_cors *c = make(NULL);
    struct MHD_Response *r = resp_for(c, "https://app.example.com");
    assert_null(hdr(r, "Access-Control-Allow-Origin"));
    assert_null(hdr(r, "Vary"));
    MHD_destroy_response(r);
    fv_cors_destroy(c);
    r = resp_for(NULL, "https://app.example.com");
    assert_null(hdr(r, "Access-Control-Allow-Origin"));
    MHD_destroy_response(r);
}

static void test_cors_preflight_lists_methods_headers_and_max_age(void **state)
{
    fv_cors *c = make("http://localhost:3000");
    struct MHD_Response *r = fv_cors_preflight_response(c, "http://localhost:3000");
    assert_string_equal(hdr(r, "Access-Control-Allow-Origin"), "http://localhost:3000");
    assert_string_equal(hdr(r, "Access-Control-Allow-Methods"), "GET, POST, OPTIONS");
    const char *h = hdr(r, "Access-Control-Allow-Headers");
    assert_non_null(h);
    assert_non_null(strstr(h, "Authorization"));
    assert_non_null(strstr(h, "Content-Type"));
    assert_non_null(strstr(h, "Last-Event-ID"));
    assert_string_equal(hdr(r, "Access-Control-Max-Age"), "600");
    assert_string_equal(hdr(r, "Vary"), "Origin");
    MHD_destroy_response(r);
    fv_cors_destroy(c);
}

static void test_cors_wildcard_never_goes_with_credentials(void **state)
{
    fv_cors *c = make("*");
    assert_true(fv_cors_origin_allowed(c, "https://anything.test"));
    struct MHD_Response *r = resp_for(c, "https://anything.test");
    assert_string_equal(hdr(r, "Access-Control-Allow-Origin"), "*");
    assert_null(hdr(r, "Access-Control-Allow-Credentials"));
    MHD_destroy_response(r);
    r = fv_cors_preflight_response(c, "https://anything.test");
    assert_string_equal(hdr(r, "Access-Control-Allow-Origin"), "*");
    assert_null(hdr(r, "Access-Control-Allow-Credentials"));
    MHD_destroy_response(r);
    fv_cors_destroy(c);
    /* a listed origin next to `*` is echoed with credentials, others get `*` */
    c = make("*,https://app.example.com");
    r = resp_for(c, "https://app.example.com");
    assert_string_equal(hdr(r, "Access-Control-Allow-Origin"), "https://app.example.com");
    assert_string_equal(hdr(r, "Access-Control-Allow-Credentials"), "true");
    MHD_destroy_response(r);
    r = resp_for(c, "https://other.test");
    assert_string_equal(hdr(r, "Access-Control-Allow-Origin"), "*");
    assert_null(hdr(r, "Access-Control-Allow-Credentials"));
    MHD_destroy_response(r);
    fv_cors_destroy(c);
}

static void test_cors_list_is_bounded(void **state)
{
    char list[64 * 40];
    size_t o = 0;
    for (int i = 0; i <= FV_CORS_MAX_ORIGINS; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%shttp://h%d.test", i ? "," : "", i);
    fv_cors *c = NULL;
    assert_int_equal(fv_cors_create(list, &c, NULL), FV_EINVAL);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_cors_allows_only_listed_origins_normalized),
        cmocka_unit_test(test_cors_rejects_entries_that_are_not_origins),
        cmocka_unit_test(test_cors_headers_echo_allowed_origin_with_credentials),
        cmocka_unit_test(test_cors_not_allowed_origin_gets_no_cors_header),
        cmocka_unit_test(test_cors_unconfigured_adds_nothing),
        cmocka_unit_test(test_cors_preflight_lists_methods_headers_and_max_age),
        cmocka_unit_test(test_cors_wildcard_never_goes_with_credentials),
        cmocka_unit_test(test_cors_list_is_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
