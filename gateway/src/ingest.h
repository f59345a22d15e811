/* ingest.h - HTTP ingest: POST /v1/events and POST /v1/workflow-executions/{id}/stream-events.
 *
 * A body is one JSON object, a JSON array of objects, or NDJSON (one object per line). Every item
 * is validated on its own and gets its own result; the tenant is the caller's (a different
 * tenant_id in an item rejects that item). The answer (202) is sent only after the accepted
 * items are durable: {"results":[{"index":0,"id":"...","seq":N,"duplicate":false},
 * {"index":1,"error":{"code":"...","message":"..."}}]}.
 */
#ifndef FLOVYN_GW_INGEST_H
#define FLOVYN_GW_INGEST_H

#include <stdbool.h>
#include <stddef.h>

#include <microhttpd.h>

#include "auth.h"
#include "errors.h"
#include "gw.h"

typedef enum fv_ingest_kind { FV_INGEST_EVENTS = 0, FV_INGEST_STREAM_EVENTS = 1 } fv_ingest_kind;

/* Content-Type check: application/json or application/x-ndjson (parameters ignored).
 * Returns false for anything else (415). *ndjson says which. */
bool fv_ingest_content_type_ok(const char *ctype, bool *ndjson);

/* Processes a complete body into *out (202, 400, 403, 413, 429, 503): validates, publishes and
 * waits for the acknowledgements, so it runs on an ingest worker (jobs.h), never on an HTTP
 * thread. path_wf is the validated path workflow id for stream events (NULL for events). */
void fv_ingest_run(fv_gw *gw, fv_ingest_kind kind, const char *path_wf, const fv_principal *pr,
                   const char *body, size_t len, bool ndjson, fv_http_answer *out);

/* Splits a body into item spans (exposed for unit tests). Returns the number of items found
 * (up to max), or a negative status with err set when the body is not JSON/NDJSON at all; an
 * item that is not a JSON object (an NDJSON line that is not JSON, or any other value) gets
 * span.n == 0, its text in p and raw_n, and its message from fv_ingest_item_error. *too_many is
 * set when the body holds more than max items. */
typedef struct fv_ingest_span {
    const char *p;
    size_t n;     /* 0: not a JSON object */
    size_t raw_n; /* the item's text, valid or not */
} fv_ingest_span;
int fv_ingest_split(const char *body, size_t len, bool ndjson, fv_ingest_span *spans, size_t max,
                    bool *too_many, fv_err *err);
/* Why item `index` (span.n == 0) was refused: "line N: ..." for text that is not JSON, else
 * "item must be a JSON object". Returns FV_EINVAL. */
fv_status fv_ingest_item_error(const fv_ingest_span *sp, size_t index, fv_err *err);

#endif
