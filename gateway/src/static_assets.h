/* static_assets.h - the demo page (files of gateway/static), embedded in the binary at build.
 *
 * gateway/embed_static.cmake turns every file of gateway/static, and the JavaScript client
 * (gateway/client-js/index.js, as /client.js), into a byte array in a generated C file
 * (CMakeLists.txt, block "static assets"), so the page is always the one that matches the server
 * and a deployment stays one binary. Assets are served with a strong ETag (304 on
 * If-None-Match), `Cache-Control: no-cache` (revalidate, cheap with the ETag), nosniff, and for
 * HTML a Content-Security-Policy that allows only same-origin scripts, styles and connections.
 *
 * What the page needs from the router (owned by the gateway's server module):
 *   GET /            -> index.html           GET /app.js, /style.css, /client.js -> those files
 *   The SSE, ingest and history endpoints of CONTRACT §4 on the same origin; the page reads the
 *   streams through the client (fetch, `Authorization: Bearer`, `Last-Event-ID`).
 *   OPTIONAL demo mode: GET /demo/token -> 200 application/json
 *        {"token":"<JWT>","tenant_id":"<T>","expires_ms":<epoch ms>}
 *   minted for a fixed demo tenant (fv_static_demo_token below builds exactly this body). Any
 *   other status (404 when demo mode is off) makes the page ask the user for a token instead; it
 *   also takes ?token= in its own URL and the flovyn_token cookie. The page calls /demo/token at
 *   load when it has no token, and again on `auth_expired`.
 * The page needs jwt mode: it shows its token's tenant and renews tokens through /demo/token.
 */
#ifndef FLOVYN_GW_STATIC_ASSETS_H
#define FLOVYN_GW_STATIC_ASSETS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/status.h"

struct MHD_Connection;
struct fv_auth;

typedef struct fv_static_asset {
    const char *path;         /* "/index.html" */
    const char *content_type; /* "text/html; charset=utf-8" */
    const unsigned char *data;
    size_t len;
    const char *etag; /* quoted strong ETag */
} fv_static_asset;

/* generated table, terminated by an all-zero entry */
extern const fv_static_asset fv_static_assets[];
extern const size_t fv_static_assets_count;

/* The asset for a request path ("/" -> "/index.html"; a query string is ignored). NULL if none. */
const fv_static_asset *fv_static_find(const char *url);
/* the same lookup under the name the router uses */
const fv_static_asset *fv_static_asset_find(const char *url);

/* Queues the asset (200, or 304 when If-None-Match matches; HEAD without body). Returns the MHD
 * result (MHD_YES/MHD_NO as int), or -1 when url names no asset so the caller answers 404. */
int fv_static_serve(struct MHD_Connection *conn, const char *method, const char *url);

/* Body of GET /demo/token: a fresh HS256 token for tenant, valid ttl_ms, both scopes. FV_ENOTSUP
 * when the gateway has no HS256 secret (public-key or none mode). *json is malloc'd. */
fv_status fv_static_demo_token(struct fv_auth *auth, const char *tenant, int64_t ttl_ms,
                               char **json, fv_err *err);

#endif
