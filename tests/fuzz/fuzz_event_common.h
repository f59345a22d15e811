/* fuzz_event_common.h - field-by-field equality of decoded events for the event fuzzers: a
 * difference after a round trip aborts, which libFuzzer reports as a crash with the input. */
#ifndef FLOVYN_FUZZ_EVENT_COMMON_H
#define FLOVYN_FUZZ_EVENT_COMMON_H

#include <stdlib.h>
#include <string.h>

#include "flovyn/event.h"

static void same_event(const fv_event *a, const fv_event *b)
{
    if (strcmp(a->id, b->id) || strcmp(a->tenant_id, b->tenant_id) ||
        strcmp(a->workflow_execution_id, b->workflow_execution_id) ||
        strcmp(a->task_execution_id, b->task_execution_id) ||
        strcmp(a->parent_workflow_execution_id, b->parent_workflow_execution_id) ||
        strcmp(a->event_type, b->event_type) || strcmp(a->source, b->source) ||
        strcmp(a->correlation_id, b->correlation_id) || a->timestamp_ms != b->timestamp_ms ||
        a->data_len != b->data_len || (a->data == NULL) != (b->data == NULL) ||
        (a->data && memcmp(a->data, b->data, a->data_len)))
        abort();
}

static void same_stream(const fv_stream_event *a, const fv_stream_event *b)
{
    if (strcmp(a->tenant_id, b->tenant_id) ||
        strcmp(a->workflow_execution_id, b->workflow_execution_id) ||
        strcmp(a->task_execution_id, b->task_execution_id) || a->sequence != b->sequence ||
        a->kind != b->kind || a->timestamp_ms != b->timestamp_ms ||
        a->payload_len != b->payload_len || (a->payload == NULL) != (b->payload == NULL) ||
        (a->payload && memcmp(a->payload, b->payload, a->payload_len)))
        abort();
}

#endif
