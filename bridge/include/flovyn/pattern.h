/* pattern.h - EventPattern: what a subscriber wants, compiled to NATS filter subjects.
 *
 * A pattern is always tenant-scoped. It compiles to the narrowest filter subject per source
 * (FLOVYN_EVENTS / FLOVYN_STREAMS) that NATS can evaluate, plus residual checks that a subject
 * cannot express (several types, source, the token's allowed types, a caller predicate such as
 * the consolidated stream's descendant set). fv_pattern_match_* applies the whole pattern, so a
 * message is accepted only if both the subject filter and the residuals agree.
 */
#ifndef FLOVYN_PATTERN_H
#define FLOVYN_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

#include "flovyn/event.h"
#include "flovyn/status.h"
#include "flovyn/subject.h"
#include "flovyn/types_filter.h"

typedef struct fv_pattern {
    char tenant_id[FV_ID_MAX + 1];             /* required */
    char workflow_execution_id[FV_ID_MAX + 1]; /* "" = any */
    char task_execution_id[FV_ID_MAX + 1];     /* "" = any */
    char source[FV_SOURCE_MAX + 1];            /* "" = any (lifecycle only) */
    const fv_types_filter *types;              /* NULL = everything; not owned */
    const fv_types_filter *allowed;            /* token's `types` claim; NULL = no limit */
    /* Extra residual check, called for every message the rest of the pattern accepts (lifecycle:
     * ev set, se NULL; stream: se set). Runs on the delivering thread in stream order. */
    bool (*accept)(void *ud, const fv_event *ev, const fv_stream_event *se);
    void *accept_ud;
} fv_pattern;

void fv_pattern_init(fv_pattern *p, const char *tenant_id);
/* validates ids (fv_id_validate) */
fv_status fv_pattern_validate(const fv_pattern *p, fv_err *err);

bool fv_pattern_wants_events(const fv_pattern *p);
bool fv_pattern_wants_streams(const fv_pattern *p);

/* Filter subjects for the stored streams (FLOVYN_EVENTS / FLOVYN_STREAMS). */
fv_status fv_pattern_events_filter(const fv_pattern *p, const char *prefix, char *out, size_t cap);
fv_status fv_pattern_streams_filter(const fv_pattern *p, const char *prefix, char *out, size_t cap);

/* Full matches, including residuals and the accept predicate. */
bool fv_pattern_match_event(const fv_pattern *p, const fv_event *ev);
bool fv_pattern_match_stream(const fv_pattern *p, const fv_stream_event *se);

#endif
