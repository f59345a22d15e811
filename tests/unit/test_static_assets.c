/* Unit tests of the embedded demo page: the generated table holds the source files (and the
 * JavaScript client as /client.js) byte for byte, lookup maps "/" to index.html and nothing else,
 * serving over real HTTP sets the caching and security headers (ETag with 304, CSP on HTML, HEAD
 * without body), and the demo token body carries a token the gateway itself accepts. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <unistd.h>
#include <microhttpd.h>

#include "auth.h"
#include "fixture.h"
#include "static_assets.h"

static void test_embedded_assets_match_the_source_files(void **state)
{
    /* the page's files, and the JavaScript client kept in its own directory */
    const char *files[][2] = {{"/index.html", "gateway/static/index.html"},
                              {"/app.js", "gateway/static/app.js"},
                              {"/style.css", "gateway/static/style.css"},
                              {"/client.js", "gateway/client-js/index.js"}};
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char path[512];
        const char *url = files[i][0];
        snprintf(path, sizeof path, "%s/%s", FV_SOURCE_DIR, files[i][1]);
        FILE *f = fopen(path, "rb");
        assert_non_null(f);
        static char buf[1 << 20];
        size_t n = fread(buf, 1, sizeof buf, f);
        fclose(f);
        const fv_static_asset *a = fv_static_find(url);
        assert_non_null(a);
        assert_int_equal(a->len, n);
        assert_memory_equal(a->data, buf, n);
        assert_int_equal(a->etag[0], '"');
    }
    assert_true(fv_static_assets_count >= 4);
}

static void test_static_find_maps_root_and_ignores_query(void **state)
{
    const fv_static_asset *a = fv_static_find("/");
    assert_non_null(a);
    assert_string_equal(a->path, "/index.html");
    assert_string_equal(a->content_type, "text/html; charset=utf-8");
    assert_ptr_equal(fv_static_find("/?token=abc"), a);
    assert_ptr_equal(fv_static_asset_find("/index.html"), a);
    a = fv_static_find("/app.js?v=2");
    assert_non_null(a);
    assert_string_equal(a->content_type, "text/javascript; charset=utf-8");
    assert_string_equal(fv_static_find("/style.css")->content_type, "text/css; charset=utf-8");
    assert_string_equal(fv_static_find("/client.js")->content_type,
                        "text/javascript; charset=utf-8");
    const char *none[] = {
        "/nope",       "",           "/index.html/", "/../index.html", "//index.html",
        "/INDEX.HTML", "index.html", "/app.js.map",  "/index.js",      "/client-js/index.js"};
    for (size_t i = 0; i < sizeof none / sizeof *none; i++)
        if (fv_static_find(none[i]))
            fail_msg("'%s' found", none[i]);
    assert_null(fv_static_find(NULL));
}

/* --- serving over real HTTP ----------------------------------------------------------------- */

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    int r = fv_static_serve(c, method, url);
    if (r >= 0)
        return (enum MHD_Result)r;
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 404, resp);
    MHD_destroy_response(resp);
    return ret;
}

typedef struct reply {
    long code;
    char headers[4096];
    size_t body_len;
} reply;

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;
    size_t have = strlen(r->headers);
    if (have + sz * n < sizeof r->headers) {
        memcpy(r->headers + have, p, sz * n);
        r->headers[have + sz * n] = '\0';
    }
    return sz * n;
}

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    ((reply *)ud)->body_len += sz * n;
    return sz * n;
}

static void get(int port, const char *path, const char *extra_header, bool head, reply *r)
{
    memset(r, 0, sizeof *r);
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    CURL *c = curl_easy_init();
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    if (head)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    struct curl_slist *h = extra_header ? curl_slist_append(NULL, extra_header) : NULL;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    assert_int_equal(curl_easy_perform(c), CURLE_OK);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->code);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

static void test_serve_sets_etag_csp_and_answers_304(void **state)
{
    int port = fv_test_free_port();
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, (uint16_t)port, NULL,
                                            NULL, handler, NULL, MHD_OPTION_END);
    assert_non_null(d);
    const fv_static_asset *idx = fv_static_find("/");
    reply r;
    get(port, "/", NULL, false, &r);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.body_len, idx->len);
    assert_non_null(strcasestr(r.headers, "Content-Security-Policy: default-src 'none'"));
    assert_non_null(strcasestr(r.headers, "X-Content-Type-Options: nosniff"));
    assert_non_null(strcasestr(r.headers, "Cache-Control: no-cache"));
    assert_non_null(strstr(r.headers, idx->etag));

    char inm[128];
    snprintf(inm, sizeof inm, "If-None-Match: %s", idx->etag);
    get(port, "/", inm, false, &r);
    assert_int_equal(r.code, 304);
    assert_int_equal(r.body_len, 0);
    get(port, "/", "If-None-Match: \"stale\"", false, &r);
    assert_int_equal(r.code, 200);

    get(port, "/app.js", NULL, true, &r);
    assert_int_equal(r.code, 200);
    assert_int_equal(r.body_len, 0);
    assert_non_null(strcasestr(r.headers, "Content-Type: text/javascript"));
    /* scripts are not documents: no CSP needed on them */
    assert_null(strcasestr(r.headers, "Content-Security-Policy"));

    get(port, "/secret.txt", NULL, false, &r);
    assert_int_equal(r.code, 404);
    MHD_stop_daemon(d);
}

static void test_demo_token_body_carries_a_token_the_gateway_accepts(void **state)
{
    char dir[256], path[300];
    assert_int_equal(fv_test_tmpdir(dir, sizeof dir, "static"), 0);
    snprintf(path, sizeof path, "%s/secret", dir);
    FILE *f = fopen(path, "w");
    fputs("a-demo-secret-that-is-long-enough-for-hs256\n", f);
    fclose(f);
    fv_auth_config cfg = {.secret_file = path};
    fv_auth *a = NULL;
    assert_int_equal(fv_auth_create(&cfg, &a, NULL), FV_OK);
    char *json = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_static_demo_token(a, "demo", 60000, &json, &err), FV_OK);
    json_t *j = json_loads(json, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "tenant_id")), "demo");
    assert_true(json_integer_value(json_object_get(j, "expires_ms")) > 0);
    fv_principal p;
    assert_int_equal(fv_auth_verify(a, json_string_value(json_object_get(j, "token")), &p, &err),
                     FV_OK);
    assert_string_equal(p.tenant_id, "demo");
    assert_true(p.can_read && p.can_write);
    fv_principal_clear(&p);
    json_decref(j);
    free(json);
    /* a hostile tenant never becomes a token */
    assert_int_equal(fv_static_demo_token(a, "a.>", 60000, &json, &err), FV_EINVAL);
    assert_null(json);
    fv_auth_destroy(a);

    fv_auth_config none = {.mode = "none"};
    assert_int_equal(fv_auth_create(&none, &a, NULL), FV_OK);
    assert_int_equal(fv_static_demo_token(a, "demo", 60000, &json, &err), FV_ENOTSUP);
    assert_null(json);
    fv_auth_destroy(a);
    remove(path);
    rmdir(dir);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_embedded_assets_match_the_source_files),
        cmocka_unit_test(test_static_find_maps_root_and_ignores_query),
        cmocka_unit_test(test_serve_sets_etag_csp_and_answers_304),
        cmocka_unit_test(test_demo_token_body_carries_a_token_the_gateway_accepts),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
