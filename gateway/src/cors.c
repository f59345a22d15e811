/* cors.c - the allowed-origin list and the headers it yields; see cors.h.
 *
 * Origins are normalized once at start (lower case, default port dropped, trailing slash
 * dropped) so that a request's Origin, which browsers always send in that form, is matched with
 * a plain string comparison. A request whose Origin is not in the normalized form simply does not
 * match: the safe direction.
 */
#include "cors.h"

#include <ctype.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ORIGIN_MAX 256

struct fv_cors {
    bool any;
    int n;
    char origins[FV_CORS_MAX_ORIGINS][ORIGIN_MAX];
};

static const char ALLOW_METHODS[] = "GET, POST, OPTIONS";
static const char ALLOW_HEADERS[] = "Authorization, Content-Type, Last-Event-ID";
static const char EXPOSE_HEADERS[] = "Retry-After";

/* "HTTPS://App.Example.com:443/" -> "https://app.example.com" */
static fv_status normalize(const char *s, size_t n, char *out, fv_err *err)
{
    while (n > 0 && isspace((unsigned char)*s))
        s++, n--;
    while (n > 0 && isspace((unsigned char)s[n - 1]))
        n--;
    if (n > 0 && s[n - 1] == '/')
        n--;
    if (n == 0 || n >= ORIGIN_MAX)
        return fv_err_set(err, FV_EINVAL, "cors-origins: empty or overlong entry");
    char tmp[ORIGIN_MAX];
    for (size_t i = 0; i < n; i++)
        tmp[i] = (char)tolower((unsigned char)s[i]);
    tmp[n] = '\0';
    size_t skip;
    const char *dflt;
    if (!strncmp(tmp, "http://", 7))
        skip = 7, dflt = ":80";
    else if (!strncmp(tmp, "https://", 8))
        skip = 8, dflt = ":443";
    else
        return fv_err_set(err, FV_EINVAL,
                          "cors-origins: '%.*s' is not an origin (http:// or https:// host[:port])",
                          (int)n, s);
    const char *host = tmp + skip;
    if (!*host)
        return fv_err_set(err, FV_EINVAL, "cors-origins: '%.*s' has no host", (int)n, s);
    for (const char *c = host; *c; c++) {
        bool ok = isalnum((unsigned char)*c) || *c == '.' || *c == '-' || *c == ':' || *c == '[' ||
                  *c == ']';
        if (!ok)
            return fv_err_set(err, FV_EINVAL,
                              "cors-origins: '%.*s' is not an origin (no path, query or "
                              "wildcard; list each origin)",
                              (int)n, s);
    }
    size_t len = strlen(tmp), dl = strlen(dflt);
    if (len > dl && !strcmp(tmp + len - dl, dflt) && tmp[len - dl - 1] != ']')
        tmp[len - dl] = '\0';
    strcpy(out, tmp);
    return FV_OK;
}

fv_status fv_cors_create(const char *list, fv_cors **out, fv_err *err)
{
    *out = NULL;
    fv_cors *c = calloc(1, sizeof *c);
    if (!c)
        return fv_err_set(err, FV_ENOMEM, "cors: out of memory");
    const char *p = list ? list : "";
    while (*p) {
        const char *end = p + strcspn(p, ",");
        const char *b = p;
        size_t n = (size_t)(end - p);
        while (n > 0 && isspace((unsigned char)*b))
            b++, n--;
        while (n > 0 && isspace((unsigned char)b[n - 1]))
            n--;
        if (n == 1 && *b == '*') {
            c->any = true;
        } else if (n > 0) {
            if (c->n >= FV_CORS_MAX_ORIGINS) {
                free(c);
                return fv_err_set(err, FV_EINVAL, "cors-origins: more than %d origins",
                                  FV_CORS_MAX_ORIGINS);
            }
            fv_status st = normalize(b, n, c->origins[c->n], err);
            if (st != FV_OK) {
                free(c);
                return st;
            }
            c->n++;
        }
        p = *end ? end + 1 : end;
    }
    *out = c;
    return FV_OK;
}

void fv_cors_destroy(fv_cors *c)
{
    free(c);
}

static bool listed(const fv_cors *c, const char *origin)
{
    for (int i = 0; i < c->n; i++)
        if (!strcmp(c->origins[i], origin))
            return true;
    return false;
}

bool fv_cors_origin_allowed(const fv_cors *c, const char *origin)
{
    if (!c || !origin || !*origin)
        return false;
    return c->any || listed(c, origin);
}

void fv_cors_add_headers(const fv_cors *c, struct MHD_Response *resp, const char *origin)
{
    if (!c || !resp || (!c->any && c->n == 0))
        return;
    /* with a list, the answer differs per Origin: caches must key on it */
    if (c->n > 0)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_VARY, "Origin");
    if (!fv_cors_origin_allowed(c, origin))
        return;
    if (listed(c, origin)) {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        MHD_add_response_header(resp, "Access-Control-Allow-Credentials", "true");
    } else {
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ACCESS_CONTROL_ALLOW_ORIGIN, "*");
    }
    MHD_add_response_header(resp, "Access-Control-Expose-Headers", EXPOSE_HEADERS);
}

struct MHD_Response *fv_cors_preflight_response(const fv_cors *c, const char *origin)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(0, NULL, MHD_RESPMEM_PERSISTENT);
    if (!r)
        return NULL;
    fv_cors_add_headers(c, r, origin);
    if (fv_cors_origin_allowed(c, origin)) {
        char age[16];
        snprintf(age, sizeof age, "%d", FV_CORS_MAX_AGE_S);
        MHD_add_response_header(r, "Access-Control-Allow-Methods", ALLOW_METHODS);
        MHD_add_response_header(r, "Access-Control-Allow-Headers", ALLOW_HEADERS);
        MHD_add_response_header(r, "Access-Control-Max-Age", age);
    }
    return r;
}

bool fv_cors_is_preflight(struct MHD_Connection *conn, const char *method)
{
    return method && !strcmp(method, MHD_HTTP_METHOD_OPTIONS) &&
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_ORIGIN) &&
           MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Access-Control-Request-Method");
}
