/* legacy.h - Flovyn's SCREAMING_SNAKE lifecycle names <-> dotted event types.
 *
 * The category is the longest known prefix (WORKFLOW, TASK, TIMER, PROMISE, CHILD_WORKFLOW,
 * OPERATION, STATE, RETRY, CANCELLATION), so CHILD_WORKFLOW_CANCELLATION_REQUESTED becomes
 * child_workflow.cancellation_requested.
 */
#ifndef FLOVYN_LEGACY_H
#define FLOVYN_LEGACY_H

#include <stddef.h>

#include "flovyn/status.h"

/* "TASK_CREATED" -> "task.created". out_cap >= 129. */
fv_status fv_legacy_to_type(const char *legacy, char *out, size_t out_cap, fv_err *err);
/* "task.created" -> "TASK_CREATED" (only for types whose category is a known one). */
fv_status fv_legacy_from_type(const char *type, char *out, size_t out_cap, fv_err *err);

#endif
