/* cloudevents.c - CloudEvents 1.0 structured-mode JSON for webhook bodies; see cloudevents.h.
 *
 * Written with the project's JSON writer (fv_buf) because `data` must be embedded as the
 * producer's bytes. CloudEvents attributes may not be null, so absent optional ids are omitted
 * rather than written as null.
 */
#include "cloudevents.h"

#include <string.h>

#include "flovyn/units.h"

fv_status fv_cloudevent_write(fv_buf *out, const fv_event *ev)
{
    char time[40];
    fv_time_format(ev->timestamp_ms, time, sizeof time);
    fv_buf_putc(out, '{');
    fv_json_put_key(out, "specversion", true);
    fv_json_put_cstr(out, "1.0");
    fv_json_put_key(out, "id", false);
    fv_json_put_cstr(out, ev->id);
    fv_json_put_key(out, "source", false);
    fv_json_put_cstr(out, ev->source[0] ? ev->source : "flovyn");
    fv_json_put_key(out, "type", false);
    fv_json_put_cstr(out, ev->event_type);
    fv_json_put_key(out, "time", false);
    fv_json_put_cstr(out, time);
    if (ev->workflow_execution_id[0]) {
        fv_json_put_key(out, "subject", false);
        fv_json_put_cstr(out, ev->workflow_execution_id);
    }
    fv_json_put_key(out, "datacontenttype", false);
    fv_json_put_cstr(out, "application/json");
    fv_json_put_key(out, "data", false);
    if (ev->data && ev->data_len)
        fv_buf_append(out, ev->data, ev->data_len);
    else
        fv_buf_puts(out, "null");
    fv_json_put_key(out, "tenantid", false);
    fv_json_put_cstr(out, ev->tenant_id);
    if (ev->workflow_execution_id[0]) {
        fv_json_put_key(out, "workflowexecutionid", false);
        fv_json_put_cstr(out, ev->workflow_execution_id);
    }
    if (ev->task_execution_id[0]) {
        fv_json_put_key(out, "taskexecutionid", false);
        fv_json_put_cstr(out, ev->task_execution_id);
    }
    fv_buf_putc(out, '}');
    return fv_buf_status(out);
}

fv_status fv_cloudevents_batch(fv_buf *out, const fv_event *const *evs, size_t n)
{
    fv_buf_putc(out, '[');
    for (size_t i = 0; i < n; i++) {
        if (i)
            fv_buf_putc(out, ',');
        fv_cloudevent_write(out, evs[i]);
    }
    fv_buf_putc(out, ']');
    return fv_buf_status(out);
}
