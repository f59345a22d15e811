/* static_assets.c - serving the embedded demo page; see static_assets.h.
 *
 * The bytes live in the generated table for the life of the process, so responses point at them
 * (MHD_RESPMEM_PERSISTENT) instead of copying.
 */
#include "static_assets.h"

#include <microhttpd.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "flovyn/buf.h"
#include "flovyn/units.h"

/* The page talks only to its own origin; inline scripts and styles are not needed, so not allowed.
 */
static const char CSP[] = "default-src 'none'; script-src 'self'; style-src 'self'; "
                          "connect-src 'self'; img-src 'self' data:; base-uri 'none'; "
                          "form-action 'self'; frame-ancestors 'none'";

const fv_static_asset *fv_static_find(const char *url)
{
    if (!url)
        return NULL;
    size_t n = strcspn(url, "?#");
    if (n == 1 && url[0] == '/') {
        url = "/index.html";
        n = strlen(url);
    }
    for (size_t i = 0; i < fv_static_assets_count; i++) {
        const fv_static_asset *a = &fv_static_assets[i];
        if (strlen(a->path) == n && !memcmp(a->path, url, n))
            return a;
    }
    return NULL;
}

const fv_static_asset *fv_static_asset_find(const char *url)
{
    return fv_static_find(url);
}

int fv_static_serve(struct MHD_Connection *conn, const char *method, const char *url)
{
    const fv_static_asset *a = fv_static_find(url);
    if (!a)
        return -1;
    bool head = method && !strcmp(method, MHD_HTTP_METHOD_HEAD);
    const char *inm =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_IF_NONE_MATCH);
    bool fresh = inm && strstr(inm, a->etag) != NULL;
    struct MHD_Response *r;
    if (fresh || head)
        r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    else
        r = MHD_create_response_from_buffer(a->len, (void *)a->data, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, a->content_type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_ETAG, a->etag);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(r, "Referrer-Policy", "no-referrer");
    if (!strncmp(a->content_type, "text/html", 9)) {
        MHD_add_response_header(r, "Content-Security-Policy", CSP);
        MHD_add_response_header(r, "X-Frame-Options", "DENY");
    }
    int ret = MHD_queue_response(conn, fresh ? MHD_HTTP_NOT_MODIFIED : MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

fv_status fv_static_demo_token(struct fv_auth *auth, const char *tenant, int64_t ttl_ms,
                               char **json, fv_err *err)
{
    *json = NULL;
    char *tok = NULL;
    int64_t exp = fv_now_ms() + ttl_ms;
    fv_status st = fv_auth_mint(auth, tenant, ttl_ms, NULL, NULL, &tok, err);
    if (st != FV_OK)
        return st;
    fv_buf b = FV_BUF_INIT;
    fv_buf_putc(&b, '{');
    fv_json_put_key(&b, "token", true);
    fv_json_put_cstr(&b, tok);
    fv_json_put_key(&b, "tenant_id", false);
    fv_json_put_cstr(&b, tenant);
    fv_json_put_key(&b, "expires_ms", false);
    fv_json_put_int(&b, exp);
    fv_buf_putc(&b, '}');
    free(tok);
    if (fv_buf_status(&b) != FV_OK) {
        fv_buf_free(&b);
        return fv_err_set(err, FV_ENOMEM, "demo token: out of memory");
    }
    *json = fv_buf_steal(&b, NULL);
    return FV_OK;
}
