/* webhook_http.h - one signed webhook POST as a curl easy handle, and what its result means.
 *
 * The dispatcher drives these handles with curl's multi interface and `dlq replay` performs them
 * one at a time; both get the same headers, signature, SSRF guard, timeouts and the same
 * classification of the outcome (2xx delivered; 408, 429, 5xx and transport errors retried;
 * other statuses permanent).
 */
#ifndef FLOVYN_WEBHOOK_HTTP_H
#define FLOVYN_WEBHOOK_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "flovyn/status.h"
#include "ssrf.h"

#define FV_WEBHOOK_ID_MAX 48

typedef enum fv_webhook_outcome {
    FV_WH_DELIVERED = 0,
    FV_WH_RETRY,     /* 408, 429, 5xx, timeout, connection error */
    FV_WH_PERMANENT, /* any other status, or the SSRF guard refused the address */
} fv_webhook_outcome;

typedef struct fv_webhook_req {
    CURL *h;
    struct curl_slist *headers;
    fv_ssrf_guard guard;
    char errbuf[CURL_ERROR_SIZE];
    int64_t retry_after_ms; /* from the response, -1 when absent */
    size_t response_bytes;  /* read and discarded, bounded */
} fv_webhook_req;

/* Batch id `msg_<hex>` derived from the events' ids, so a redelivered batch of the same events
 * gets the same webhook-id (receivers deduplicate by it). */
void fv_webhook_batch_id(const char *const *event_ids, size_t n, char *out, size_t cap);

/* Prepares the POST. body must stay valid until the transfer ends. */
fv_status fv_webhook_req_init(fv_webhook_req *r, const char *url, const char *whsec,
                              const char *webhook_id, const char *body, size_t body_len,
                              bool allow_private, int64_t timeout_ms, fv_err *err);
void fv_webhook_req_cleanup(fv_webhook_req *r);
/* Classifies a finished transfer; why gets a short description ("HTTP 503", "timeout ..."). */
fv_webhook_outcome fv_webhook_req_outcome(fv_webhook_req *r, CURLcode rc, long *http_status,
                                          char *why, size_t cap);

#endif
