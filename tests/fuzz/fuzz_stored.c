/* libFuzzer target: the one rule for stored messages (stored.h) on untrusted subjects and bodies.
 *
 * Input: a mode byte (bit 0: FLOVYN_STREAMS, bits 1-2: no Content-Type, JSON, protobuf, other),
 * the subject up to the first newline, then the body. Whatever is served must pass every rule of
 * §2 and agree with its subject on tenant, workflow, task and type, with an id and a time filled
 * in; whatever is skipped must name a reason and a message and leave nothing allocated.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/stored.h"
#include "flovyn/subject.h"

#define STORED_MS 1767139200000LL

static void check_event(const fv_event *ev, const fv_subject_parts *p, const fv_limits *lim)
{
    if (fv_event_validate(ev, lim, NULL) != FV_OK || strcmp(ev->tenant_id, p->tenant_id) ||
        strcmp(ev->workflow_execution_id, p->workflow_execution_id) ||
        strcmp(ev->task_execution_id, p->task_execution_id) ||
        strcmp(ev->event_type, p->event_type) || !ev->id[0] || ev->timestamp_ms == 0)
        abort();
}

static void check_stream(const fv_stream_event *se, const fv_subject_parts *p, const fv_limits *lim)
{
    if (fv_stream_event_validate(se, lim, NULL) != FV_OK || strcmp(se->tenant_id, p->tenant_id) ||
        strcmp(se->workflow_execution_id, p->workflow_execution_id) ||
        strcmp(se->task_execution_id, p->task_execution_id) || se->kind != p->kind ||
        se->timestamp_ms == 0)
        abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    static const char *const cts[4] = {NULL, "application/json", "application/x-protobuf",
                                       "text/plain"};
    uint8_t mode = data[0];
    const uint8_t *rest = data + 1;
    size_t n = size - 1;
    const uint8_t *nl = memchr(rest, '\n', n);
    size_t sl = nl ? (size_t)(nl - rest) : n;
    char subject[FV_SUBJECT_MAX + 2];
    if (sl > FV_SUBJECT_MAX + 1)
        sl = FV_SUBJECT_MAX + 1;
    memcpy(subject, rest, sl);
    subject[sl] = '\0';
    const uint8_t *body = nl ? nl + 1 : rest + n;
    size_t blen = (size_t)(rest + n - body);
    fv_stored_msg m = {.is_stream = mode & 1,
                       .seq = 7,
                       .subject = subject,
                       .content_type = cts[(mode >> 1) & 3],
                       .data = body,
                       .len = blen,
                       .stored_ms = STORED_MS};
    fv_limits lim = {.max_data = 4096};
    fv_event ev;
    fv_stream_event se;
    fv_stored_reason why = FV_STORED_COUNT;
    fv_err err = {{0}};
    fv_status st = fv_stored_read(NULL, &m, &lim, &ev, &se, &why, &err);
    if (st == FV_EINVAL) {
        if (why <= FV_STORED_OK || why >= FV_STORED_COUNT || !err.msg[0] ||
            (m.is_stream ? se.payload != NULL : ev.data != NULL))
            abort();
        return 0;
    }
    if (st != FV_OK || why != FV_STORED_OK)
        abort();
    fv_subject_parts p;
    if (fv_subject_parse(NULL, subject, &p, NULL) != FV_OK)
        abort();
    if (m.is_stream) {
        check_stream(&se, &p, &lim);
        fv_stream_event_clear(&se);
    } else {
        check_event(&ev, &p, &lim);
        fv_event_clear(&ev);
    }
    return 0;
}
