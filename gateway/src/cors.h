/* cors.h - cross-origin access for browsers on other origins (--cors-origins).
 *
 * The list is exact origins ("https://app.example.com,http://localhost:3000"), compared the way
 * browsers serialize them (lower-case scheme and host, default port omitted). An allowed origin is
 * echoed back with Access-Control-Allow-Credentials (so a cookie or withCredentials EventSource
 * works); `*` alone allows every origin but is then sent as `*` WITHOUT credentials, never both.
 * A request from an origin not on the list gets no Access-Control-* header at all and the browser
 * blocks the response; the request itself is still authenticated as usual (CORS is not auth).
 *
 * Usage by the HTTP layer:
 *   OPTIONS with Origin + Access-Control-Request-Method -> queue fv_cors_preflight_response;
 *   every other response -> fv_cors_add_headers(c, resp, Origin header or NULL).
 * An fv_cors is immutable after creation; share it between threads.
 */
#ifndef FLOVYN_GW_CORS_H
#define FLOVYN_GW_CORS_H

#include <stdbool.h>

#include "flovyn/status.h"

struct MHD_Response;
struct MHD_Connection;

typedef struct fv_cors fv_cors;

#define FV_CORS_MAX_ORIGINS 64
#define FV_CORS_MAX_AGE_S 600 /* how long a browser may cache a preflight answer */

/* list: comma-separated origins, "*" alone, or NULL/"" (no cross-origin access). An entry that is
 * not scheme://host[:port] (http or https, no path) is FV_EINVAL naming it. */
fv_status fv_cors_create(const char *list, fv_cors **out, fv_err *err);
void fv_cors_destroy(fv_cors *c);

/* false for NULL/empty origin and when nothing is configured */
bool fv_cors_origin_allowed(const fv_cors *c, const char *origin);

/* Adds Access-Control-Allow-Origin (+ Credentials, Expose-Headers) for an allowed origin, and
 * Vary: Origin whenever the answer depends on the origin. c may be NULL (no-op). */
void fv_cors_add_headers(const fv_cors *c, struct MHD_Response *resp, const char *origin);

/* A preflight answer (204): for an allowed origin the Allow-* headers (methods GET, POST, OPTIONS;
 * headers Authorization, Content-Type, Last-Event-ID; Max-Age); otherwise an empty 204 with no CORS
 * header. Caller queues it with status 204 and destroys it. NULL on allocation failure. */
struct MHD_Response *fv_cors_preflight_response(const fv_cors *c, const char *origin);

/* Convenience for the router: true if the request is a CORS preflight (OPTIONS carrying Origin
 * and Access-Control-Request-Method). */
bool fv_cors_is_preflight(struct MHD_Connection *conn, const char *method);

#endif
