/* errors.c - JSON error bodies and plain replies; see errors.h.
 *
 * Error messages come from fv_err and may quote client input, so they go through the JSON writer
 * (escaped), never through printf into JSON.
 */
#include "errors.h"

#include <stdio.h>
#include <string.h>

static void (*g_hook)(struct MHD_Connection *c, struct MHD_Response *r);

void fv_http_set_header_hook(void (*hook)(struct MHD_Connection *c, struct MHD_Response *r))
{
    g_hook = hook;
}

void fv_http_common_headers(struct MHD_Connection *c, struct MHD_Response *r)
{
    MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
    if (g_hook)
        g_hook(c, r);
}

void fv_http_error_body(fv_buf *b, const char *code, const char *message)
{
    fv_buf_puts(b, "{\"error\":{\"code\":");
    fv_json_put_cstr(b, code);
    fv_buf_puts(b, ",\"message\":");
    fv_json_put_cstr(b, message ? message : "");
    fv_buf_puts(b, "}}\n");
}

const char *fv_http_code_name(unsigned status)
{
    switch (status) {
    case 400: return "bad_request";
    case 401: return "unauthorized";
    case 403: return "forbidden";
    case 404: return "not_found";
    case 405: return "method_not_allowed";
    case 413: return "payload_too_large";
    case 415: return "unsupported_media_type";
    case 429: return "rate_limited";
    case 503: return "unavailable";
    default: return status >= 500 ? "internal" : "error";
    }
}

enum MHD_Result fv_http_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                              const char *body, size_t n)
{
    return fv_http_reply_retry(c, status, ctype, body, n, 0);
}

static void add_retry_after(struct MHD_Response *r, int retry_after_s)
{
    if (retry_after_s > 0) {
        char ra[24];
        snprintf(ra, sizeof ra, "%d", retry_after_s);
        MHD_add_response_header(r, MHD_HTTP_HEADER_RETRY_AFTER, ra);
    }
}

enum MHD_Result fv_http_reply_retry(struct MHD_Connection *c, unsigned status, const char *ctype,
                                    const char *body, size_t n, int retry_after_s)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(n, (void *)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    if (ctype)
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    add_retry_after(r, retry_after_s);
    fv_http_common_headers(c, r);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

enum MHD_Result fv_http_error(struct MHD_Connection *c, unsigned status, const char *code,
                              const char *message, int retry_after_s)
{
    fv_buf b = FV_BUF_INIT;
    fv_http_error_body(&b, code ? code : fv_http_code_name(status), message);
    if (b.oom) {
        fv_buf_free(&b);
        return MHD_NO;
    }
    struct MHD_Response *r = MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
    fv_buf_free(&b);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    if (status == 405)
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, POST, OPTIONS");
    add_retry_after(r, retry_after_s);
    fv_http_common_headers(c, r);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

void fv_http_answer_error(fv_http_answer *a, unsigned status, const char *code, const char *message,
                          int retry_after_s)
{
    a->status = status;
    a->retry_after_s = retry_after_s;
    fv_buf_reset(&a->body);
    fv_http_error_body(&a->body, code ? code : fv_http_code_name(status), message);
}

enum MHD_Result fv_http_answer_send(struct MHD_Connection *c, fv_http_answer *a)
{
    enum MHD_Result r = MHD_NO;
    if (!a->body.oom && a->status)
        r = fv_http_reply_retry(c, a->status, "application/json", a->body.data ? a->body.data : "",
                                a->body.len, a->retry_after_s);
    fv_buf_free(&a->body);
    return r;
}
