/* subject.h - canonical NATS subjects (CONTRACT §3) and matching them against filters.
 *
 *   <prefix>.v1.events.<tenant>.<workflow|_>.<task|_>.<event_type tokens...>
 *   <prefix>.v1.streams.<tenant>.<workflow>.<task|_>.<token|progress|data|error>
 *   <prefix>.v1.live.events.>   <prefix>.v1.live.streams.>   (RePublish destinations)
 *
 * Every token comes from a validated id or type, so a subject can never carry a wildcard.
 */
#ifndef FLOVYN_SUBJECT_H
#define FLOVYN_SUBJECT_H

#include <stdbool.h>
#include <stddef.h>

#include "flovyn/event.h"
#include "flovyn/status.h"

#define FV_PREFIX_DEFAULT "flovyn"
#define FV_PREFIX_MAX 64
#define FV_SUBJECT_MAX 512
#define FV_STREAM_EVENTS "FLOVYN_EVENTS"
#define FV_STREAM_STREAMS "FLOVYN_STREAMS"
#define FV_STREAM_DLQ "FLOVYN_DLQ"

/* validates a prefix: 1-64 bytes, dot-separated tokens of [A-Za-z0-9_-] */
fv_status fv_prefix_validate(const char *prefix, fv_err *err);

fv_status fv_subject_for_event(const char *prefix, const fv_event *ev, char *out, size_t cap,
                               fv_err *err);
fv_status fv_subject_for_stream_event(const char *prefix, const fv_stream_event *se, char *out,
                                      size_t cap, fv_err *err);

/* "<prefix>.v1.events.>" / "<prefix>.v1.streams.>" (stream subjects) */
fv_status fv_subject_events_all(const char *prefix, char *out, size_t cap);
fv_status fv_subject_streams_all(const char *prefix, char *out, size_t cap);
/* "<prefix>.v1.live.events" / "<prefix>.v1.live.streams" (RePublish destination roots, append
 * ".>" for a subscription) */
fv_status fv_subject_live_events(const char *prefix, char *out, size_t cap);
fv_status fv_subject_live_streams(const char *prefix, char *out, size_t cap);

/* Parsed canonical subject (also accepts the live form). Fields "" when `_`. */
typedef struct fv_subject_parts {
    int is_stream; /* 0 = events, 1 = streams */
    char tenant_id[FV_ID_MAX + 1];
    char workflow_execution_id[FV_ID_MAX + 1];
    char task_execution_id[FV_ID_MAX + 1];
    char event_type[FV_TYPE_MAX + 1]; /* events */
    fv_stream_kind kind;              /* streams */
} fv_subject_parts;

fv_status fv_subject_parse(const char *prefix, const char *subject, fv_subject_parts *out,
                           fv_err *err);

/* NATS subject matching: does `subject` match `filter` (with * and >)? */
bool fv_subject_matches(const char *filter, const char *subject);

#endif
