/* webhook_receiver.h - a real HTTP webhook receiver for integration tests (libmicrohttpd on a
 * free loopback port).
 *
 * It verifies every request's Standard Webhooks signature itself (its own HMAC, independent of
 * the bridge's code), can fail the first N requests with a chosen status (and Retry-After),
 * answer slowly, and records each request and the CloudEvent ids of the batches it accepted, so
 * tests can count deliveries and duplicates.
 */
#ifndef FLOVYN_TEST_WEBHOOK_RECEIVER_H
#define FLOVYN_TEST_WEBHOOK_RECEIVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct fv_wh_receiver fv_wh_receiver;

typedef struct fv_wh_request {
    char *body;
    size_t len;
    char webhook_id[128];
    char timestamp[32];
    char signature[256];
    char content_type[128];
    bool signature_ok; /* recomputed here and found among the v1 signatures */
    int status;        /* what the receiver answered */
    int64_t at_ms;     /* monotonic */
    size_t nevents;    /* CloudEvents in the body */
} fv_wh_request;

/* whsec: the subscription's secret in whsec_<base64> form. NULL on failure. */
fv_wh_receiver *fv_wh_receiver_start(const char *whsec);
void fv_wh_receiver_stop(fv_wh_receiver *r);
const char *fv_wh_receiver_url(const fv_wh_receiver *r); /* http://127.0.0.1:<port>/hook */

/* The next n requests get `status` (with Retry-After: retry_after_s when >= 0). */
void fv_wh_receiver_fail_next(fv_wh_receiver *r, int n, int status, int retry_after_s);
/* Every request gets `status` until changed (0 = back to 200). */
void fv_wh_receiver_set_status(fv_wh_receiver *r, int status);
/* Sleep this long before answering. */
void fv_wh_receiver_set_delay(fv_wh_receiver *r, int delay_ms);

size_t fv_wh_receiver_requests(fv_wh_receiver *r);
/* copy of request i (body malloc'd: free with fv_wh_request_free) */
bool fv_wh_receiver_request(fv_wh_receiver *r, size_t i, fv_wh_request *out);
void fv_wh_request_free(fv_wh_request *q);

/* events in accepted (2xx) batches, counting repeats, and distinct ids among them */
size_t fv_wh_receiver_accepted(fv_wh_receiver *r);
size_t fv_wh_receiver_accepted_distinct(fv_wh_receiver *r);
/* the i-th accepted event id, in the order the receiver accepted them */
bool fv_wh_receiver_accepted_id(fv_wh_receiver *r, size_t i, char *out, size_t cap);
bool fv_wh_receiver_has_event(fv_wh_receiver *r, const char *event_id);
/* polls until accepted_distinct >= n (true) or timeout */
bool fv_wh_receiver_wait_distinct(fv_wh_receiver *r, size_t n, int timeout_ms);
bool fv_wh_receiver_wait_requests(fv_wh_receiver *r, size_t n, int timeout_ms);
/* requests whose body arrived (counted before a set_delay sleep: "in flight") */
size_t fv_wh_receiver_arrivals(fv_wh_receiver *r);
/* requests whose signature did not verify */
size_t fv_wh_receiver_bad_signatures(fv_wh_receiver *r);

#endif
