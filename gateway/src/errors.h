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
/* An answer made away from the HTTP threads (ingest runs on worker threads, jobs.h) and queued
 * by one of them later: a status, a JSON body, and Retry-After when retry_after_s > 0. */
typedef struct fv_http_answer {
    unsigned status;
    int retry_after_s;
    fv_buf body;
} fv_http_answer;
/* sets a to the error shape above */
void fv_http_answer_error(fv_http_answer *a, unsigned status, const char *code, const char *message,
                          int retry_after_s);
/* queues a (JSON) and frees its body; MHD_NO when its body ran out of memory */
enum MHD_Result fv_http_answer_send(struct MHD_Connection *c, fv_http_answer *a);

/* fv_http_reply with Retry-After when retry_after_s > 0 */
enum MHD_Result fv_http_reply_retry(struct MHD_Connection *c, unsigned status, const char *ctype,
                                    const char *body, size_t n, int retry_after_s);
/* Queues a response with the given body bytes (copied) and content type. */
enum MHD_Result fv_http_reply(struct MHD_Connection *c, unsigned status, const char *ctype,
                              const char *body, size_t n);

/* the error code name used for an HTTP status: 400 bad_request, 401 unauthorized, ... */
const char *fv_http_code_name(unsigned status);

/* Adds the headers every gateway response carries (CORS, no-sniff); set once by the server. */
void fv_http_common_headers(struct MHD_Connection *c, struct MHD_Response *r);
void fv_http_set_header_hook(void (*hook)(struct MHD_Connection *c, struct MHD_Response *r));

#endif
