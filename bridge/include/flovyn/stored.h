/* stored.h - the one rule for reading a message stored in FLOVYN_EVENTS or FLOVYN_STREAMS.
 *
 * Any NATS client can publish on the canonical subjects, so what is stored is not always an event
 * the contract allows. Every reader - the gateway's live path and reads of the store (SSE, resume,
 * history), `flovyn-bridge tail`, webhooks, the registry - and the bridge's checker, which
 * dead-letters what readers skip, judge a stored message with fv_stored_read, so they can never
 * disagree about it. A message is served only when its subject is canonical for its stream, its
 * body decodes and passes every rule of CONTRACT §2, and subject and body agree on tenant,
 * workflow, task and type; a disagreement is never resolved in favour of either side.
 *
 * What a body may leave out is filled the same way for every reader (docs/contract.md §3):
 *   - a FlovynEvent without `id` gets "<stream>-<sequence>" ("FLOVYN_EVENTS-42"): derived from
 *     where it is stored, so a live delivery, a resume, a history page and `tail` all show the
 *     same id, and it passes the id rule of §2;
 *   - `timestamp_ms` absent or 0 (either shape) becomes the time JetStream stored the message.
 * A StreamEvent's JSON shape has no tenant: the subject's is used (a protobuf body that names
 * one must name the subject's).
 */
#ifndef FLOVYN_STORED_H
#define FLOVYN_STORED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/event.h"
#include "flovyn/status.h"

/* Why readers skip a stored message. The names are stable: metrics labels, dead-letter reasons. */
typedef enum fv_stored_reason {
    FV_STORED_OK = 0,
    FV_STORED_BAD_SUBJECT,       /* "bad_subject": not a canonical subject of its stream */
    FV_STORED_CONTENT_TYPE,      /* "content_type": a Content-Type no codec reads */
    FV_STORED_INVALID_JSON,      /* "invalid_json": the body is not valid JSON */
    FV_STORED_INVALID_PROTOBUF,  /* "invalid_protobuf": not a well-formed protobuf message */
    FV_STORED_INVALID_EVENT,     /* "invalid_event": decodes but breaks a rule of §2 */
    FV_STORED_TENANT_MISSING,    /* "tenant_missing": a FlovynEvent body without tenant_id */
    FV_STORED_TENANT_MISMATCH,   /* "tenant_mismatch": body and subject name other tenants */
    FV_STORED_WORKFLOW_MISMATCH, /* "workflow_mismatch" */
    FV_STORED_TASK_MISMATCH,     /* "task_mismatch" */
    FV_STORED_TYPE_MISMATCH,     /* "type_mismatch": event_type, or a stream event's kind */
    FV_STORED_COUNT
} fv_stored_reason;

/* "ok", "bad_subject", ..., "type_mismatch"; "unknown" out of range */
const char *fv_stored_reason_name(fv_stored_reason r);

/* One stored message as taken from JetStream. */
typedef struct fv_stored_msg {
    bool is_stream;           /* stored in FLOVYN_STREAMS (else FLOVYN_EVENTS) */
    uint64_t seq;             /* its stream sequence */
    const char *subject;      /* the subject it is stored on */
    const char *content_type; /* the Content-Type header; NULL = none */
    const void *data;
    size_t len;
    /* when JetStream stored it, in epoch ms; 0 = not known here: stored_time(ud) is asked, once,
     * and only when the body leaves timestamp_ms out */
    int64_t stored_ms;
    int64_t (*stored_time)(void *ud);
    void *ud;
} fv_stored_msg;

/* the id of a FlovynEvent stored without one: "<FV_STREAM_EVENTS>-<seq>" */
fv_status fv_stored_derived_id(uint64_t seq, char *out, size_t cap);

/* Judges m and decodes it into ev (FLOVYN_EVENTS) or se (FLOVYN_STREAMS); the other may be NULL.
 *   FV_OK      servable; the event is filled as above, *why = FV_STORED_OK
 *   FV_EINVAL  readers skip it: *why says which rule, err says what in words; nothing allocated
 *   FV_ENOMEM  it could not be judged (out of memory): neither served nor reported, try again
 * prefix: the subject prefix ("flovyn" when NULL). lim: data limits (NULL = defaults). */
fv_status fv_stored_read(const char *prefix, const fv_stored_msg *m, const fv_limits *lim,
                         fv_event *ev, fv_stream_event *se, fv_stored_reason *why, fv_err *err);

#endif
