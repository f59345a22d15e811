/* stored.c - the one rule for a stored message; see stored.h.
 *
 * The order of the checks decides which reason a message with several faults gets: first what
 * makes the bytes unreadable (subject, content type, syntax), then the agreement of subject and
 * body (tenant first: it decides who may see the event at all), then the remaining rules of §2.
 * A failed decode is classified only on the failure path (one more scan of a body that is already
 * refused), so a good message costs one decode and a few string compares.
 */
#include "flovyn/stored.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "flovyn/json.h"
#include "flovyn/subject.h"

static const char *const reason_names[FV_STORED_COUNT] = {
    [FV_STORED_OK] = "ok",
    [FV_STORED_BAD_SUBJECT] = "bad_subject",
    [FV_STORED_CONTENT_TYPE] = "content_type",
    [FV_STORED_INVALID_JSON] = "invalid_json",
    [FV_STORED_INVALID_PROTOBUF] = "invalid_protobuf",
    [FV_STORED_INVALID_EVENT] = "invalid_event",
    [FV_STORED_TENANT_MISSING] = "tenant_missing",
    [FV_STORED_TENANT_MISMATCH] = "tenant_mismatch",
    [FV_STORED_WORKFLOW_MISMATCH] = "workflow_mismatch",
    [FV_STORED_TASK_MISMATCH] = "task_mismatch",
    [FV_STORED_TYPE_MISMATCH] = "type_mismatch",
};

const char *fv_stored_reason_name(fv_stored_reason r)
{
    return (unsigned)r < FV_STORED_COUNT ? reason_names[r] : "unknown";
}

fv_status fv_stored_derived_id(uint64_t seq, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s-%" PRIu64, FV_STREAM_EVENTS, seq);
    return n < 0 || (size_t)n >= cap ? FV_ETOOBIG : FV_OK;
}

static fv_status skip(fv_stored_reason r, fv_stored_reason *why)
{
    *why = r;
    return FV_EINVAL;
}

/* A decoder refused the body: out of memory is no verdict; otherwise tell bytes that are not
 * JSON/protobuf at all from a readable body that breaks a rule. */
static fv_status decode_failed(fv_status st, fv_codec c, const fv_stored_msg *m,
                               fv_stored_reason *why)
{
    if (st == FV_ENOMEM)
        return st;
    if (c == FV_CODEC_JSON)
        return skip(fv_json_validate(m->data, m->len, FV_JSON_MAX_DEPTH, NULL, NULL) == FV_OK
                        ? FV_STORED_INVALID_EVENT
                        : FV_STORED_INVALID_JSON,
                    why);
    return skip(fv_proto_wellformed(m->is_stream, m->data, m->len) ? FV_STORED_INVALID_EVENT
                                                                   : FV_STORED_INVALID_PROTOBUF,
                why);
}

static const char *or_none(const char *s)
{
    return s[0] ? s : "none";
}

/* body and subject name the same id ("" = none on both sides) */
static fv_status agree(const char *field, const char *body, const char *subject, fv_stored_reason r,
                       fv_stored_reason *why, fv_err *err)
{
    if (strcmp(body, subject) == 0)
        return FV_OK;
    fv_err_set(err, FV_EINVAL, "%s: the body says %s%s%s, the subject %s%s%s", field,
               body[0] ? "'" : "", or_none(body), body[0] ? "'" : "", subject[0] ? "'" : "",
               or_none(subject), subject[0] ? "'" : "");
    return skip(r, why);
}

/* workflow and task: the same in body and subject */
static fv_status agree_execution(const char *workflow, const char *task, const fv_subject_parts *p,
                                 fv_stored_reason *why, fv_err *err)
{
    fv_status st = agree("workflow_execution_id", workflow, p->workflow_execution_id,
                         FV_STORED_WORKFLOW_MISMATCH, why, err);
    if (st == FV_OK)
        st = agree("task_execution_id", task, p->task_execution_id, FV_STORED_TASK_MISMATCH, why,
                   err);
    return st;
}

static int64_t stored_time(const fv_stored_msg *m)
{
    if (m->stored_ms > 0)
        return m->stored_ms;
    return m->stored_time ? m->stored_time(m->ud) : 0;
}

static fv_status read_event(const fv_stored_msg *m, const fv_subject_parts *p, fv_codec c,
                            const fv_limits *lim, fv_event *ev, fv_stored_reason *why, fv_err *err)
{
    fv_status st = c == FV_CODEC_JSON ? fv_event_from_json(ev, m->data, m->len, lim, err)
                                      : fv_event_from_proto(ev, m->data, m->len, lim, err);
    if (st != FV_OK)
        return decode_failed(st, c, m, why);
    if (!ev->tenant_id[0]) {
        fv_err_set(err, FV_EINVAL, "tenant_id: missing in the body (the subject says '%s')",
                   p->tenant_id);
        st = skip(FV_STORED_TENANT_MISSING, why);
    }
    if (st == FV_OK)
        st = agree("tenant_id", ev->tenant_id, p->tenant_id, FV_STORED_TENANT_MISMATCH, why, err);
    if (st == FV_OK)
        st = agree_execution(ev->workflow_execution_id, ev->task_execution_id, p, why, err);
    if (st == FV_OK)
        st = agree("event_type", ev->event_type, p->event_type, FV_STORED_TYPE_MISMATCH, why, err);
    if (st == FV_OK && !ev->id[0])
        st = fv_stored_derived_id(m->seq, ev->id, sizeof ev->id);
    if (st == FV_OK && ev->timestamp_ms == 0)
        ev->timestamp_ms = stored_time(m);
    if (st == FV_OK && fv_event_validate(ev, lim, err) != FV_OK)
        st = skip(FV_STORED_INVALID_EVENT, why);
    if (st != FV_OK)
        fv_event_clear(ev);
    return st;
}

static fv_status read_stream_event(const fv_stored_msg *m, const fv_subject_parts *p, fv_codec c,
                                   const fv_limits *lim, fv_stream_event *se, fv_stored_reason *why,
                                   fv_err *err)
{
    fv_status st = c == FV_CODEC_JSON ? fv_stream_event_from_json(se, m->data, m->len, lim, err)
                                      : fv_stream_event_from_proto(se, m->data, m->len, lim, err);
    if (st != FV_OK)
        return decode_failed(st, c, m, why);
    /* the JSON shape has no tenant; a protobuf body that names one must name the subject's */
    if (se->tenant_id[0])
        st = agree("tenant_id", se->tenant_id, p->tenant_id, FV_STORED_TENANT_MISMATCH, why, err);
    else
        snprintf(se->tenant_id, sizeof se->tenant_id, "%s", p->tenant_id);
    if (st == FV_OK)
        st = agree_execution(se->workflow_execution_id, se->task_execution_id, p, why, err);
    if (st == FV_OK && se->kind != p->kind) {
        fv_err_set(err, FV_EINVAL, "type: the body says %s, the subject '%s'",
                   (unsigned)se->kind < FV_KIND_COUNT ? fv_kind_name(se->kind) : "none",
                   fv_kind_name(p->kind));
        st = skip(FV_STORED_TYPE_MISMATCH, why);
    }
    if (st == FV_OK && se->timestamp_ms == 0)
        se->timestamp_ms = stored_time(m);
    if (st == FV_OK && fv_stream_event_validate(se, lim, err) != FV_OK)
        st = skip(FV_STORED_INVALID_EVENT, why);
    if (st != FV_OK)
        fv_stream_event_clear(se);
    return st;
}

fv_status fv_stored_read(const char *prefix, const fv_stored_msg *m, const fv_limits *lim,
                         fv_event *ev, fv_stream_event *se, fv_stored_reason *why, fv_err *err)
{
    *why = FV_STORED_OK;
    if (m->is_stream ? !se : !ev)
        return fv_err_set(err, FV_EINVAL, "stored: no %s to decode into",
                          m->is_stream ? "stream event" : "event");
    if (m->is_stream)
        fv_stream_event_init(se);
    else
        fv_event_init(ev);
    fv_subject_parts parts;
    if (fv_subject_parse(prefix, m->subject ? m->subject : "", &parts, err) != FV_OK)
        return skip(FV_STORED_BAD_SUBJECT, why);
    if (parts.is_stream != m->is_stream) {
        fv_err_set(err, FV_EINVAL, "subject: '%.80s' is not a subject of %s", m->subject,
                   m->is_stream ? FV_STREAM_STREAMS : FV_STREAM_EVENTS);
        return skip(FV_STORED_BAD_SUBJECT, why);
    }
    fv_codec c;
    if (fv_codec_pick(m->content_type, m->data, m->len, &c, err) != FV_OK)
        return skip(FV_STORED_CONTENT_TYPE, why);
    return m->is_stream ? read_stream_event(m, &parts, c, lim, se, why, err)
                        : read_event(m, &parts, c, lim, ev, why, err);
}
