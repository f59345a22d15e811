/* errors.h - the one shape of an HTTP error: {"error":{"code":"...","message":"..."}}
 * (CONTRACT §4), plus small helpers to answer with JSON or text.
 */
#ifndef FLOVYN_GW_ERRORS_H
#define FLOVYN_GW_ERRORS_H

#include <stddef.h>

#include <microhttpd.h>

#include "flovyn/buf.h"

/* writes the error body into b */
void fv_http_error_body(fv_buf *b, const char *code, const char *message);

/* Queues a JSON error response. retry_after_s > 0 adds Retry-After. */
enum MHD_Result fv_http_error(struct MHD_Connection *c, unsigned status, const char *code,
                              const char *message, int retry_after_s);
/* Queues a response with the given body bytes (copied) and content type. */
enum MHD_Result fv_http_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                              const char *body, size_t n);

/* the error code name used for an HTTP status: 400 bad_request, 401 unauthorized, ... */
const char *fv_http_code_name(unsigned status);

/* Adds the headers every gateway response carries (CORS, no-sniff); set once by the server. */
void fv_http_common_headers(struct MHD_Connection *c, struct MHD_Response *r);
void fv_http_set_header_hook(void (*hook)(struct MHD_Connection *c, struct MHD_Response *r));

#endif
