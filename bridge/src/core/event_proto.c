/* event_proto.c - the protobuf codec of both event shapes (CONTRACT §3, schemas/flovyn/v1).
 *
 * protobuf-c has no size or depth limits and silently cuts a string at an embedded NUL, and any
 * NATS client can publish to our subjects, so untrusted bytes go through three gates: the length
 * is checked before anything is allocated; a cheap walk over the top-level wire format rejects
 * malformed input with a byte position and any string field holding a NUL (which would otherwise
 * turn "a\0.>" into "a"); unpacking uses an allocator with a budget proportional to the input.
 * The unpacked fields then pass the same checks as JSON (ids, type, UTF-8, data is JSON).
 */
#include "flovyn/event.h"

#include <protobuf-c/protobuf-c.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/json.h"
#include "flovyn/v1/events.pb-c.h"

#define ENVELOPE_SLACK (64 * 1024)

static size_t limit_of(const fv_limits *lim)
{
    return lim && lim->max_data ? lim->max_data : FV_DATA_MAX_DEFAULT;
}

/* --- budget-capped allocator ---------------------------------------------------------------- */

typedef struct budget {
    ProtobufCAllocator a;
    size_t left;
} budget;

static void *budget_alloc(void *ud, size_t size)
{
    budget *b = ud;
    if (size > b->left)
        return NULL;
    b->left -= size;
    return malloc(size);
}

static void budget_free(void *ud, void *p)
{
    (void)ud;
    free(p);
}

static void budget_init(budget *b, size_t input_len)
{
    b->a.alloc = budget_alloc;
    b->a.free = budget_free;
    b->a.allocator_data = b;
    b->left = 4 * input_len + 64 * 1024;
}

/* --- wire pre-check ------------------------------------------------------------------------- */

static bool read_varint(const uint8_t *p, size_t n, size_t *i, uint64_t *v)
{
    *v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
        if (*i >= n)
            return false;
        uint8_t b = p[(*i)++];
        *v |= (uint64_t)(b & 0x7F) << shift;
        if (!(b & 0x80))
            return true;
    }
    return false;
}

/* string_names[f] is the name of field number f when it is a string field, NULL otherwise. */
static fv_status wire_check(const uint8_t *p, size_t n, const char *const *string_names,
                            size_t nnames, fv_err *err)
{
    size_t i = 0;
    while (i < n) {
        size_t at = i;
        uint64_t tag, v;
        if (!read_varint(p, n, &i, &tag) || (tag >> 3) == 0)
            return fv_err_set(err, FV_EINVAL, "invalid protobuf at byte %zu: bad field tag", at);
        uint64_t field = tag >> 3;
        switch (tag & 7) {
        case 0:
            if (!read_varint(p, n, &i, &v))
                return fv_err_set(err, FV_EINVAL, "invalid protobuf at byte %zu: truncated varint",
                                  at);
            break;
        case 1:
            if (n - i < 8)
                return fv_err_set(err, FV_EINVAL, "invalid protobuf at byte %zu: truncated field",
                                  at);
            i += 8;
            break;
        case 5:
            if (n - i < 4)
                return fv_err_set(err, FV_EINVAL, "invalid protobuf at byte %zu: truncated field",
                                  at);
            i += 4;
            break;
        case 2:
            if (!read_varint(p, n, &i, &v) || v > n - i)
                return fv_err_set(err, FV_EINVAL,
                                  "invalid protobuf at byte %zu: truncated length-delimited field",
                                  at);
            if (field < nnames && string_names[field] && memchr(p + i, 0, (size_t)v))
                return fv_err_set(err, FV_EINVAL, "%s: contains a NUL byte", string_names[field]);
            i += (size_t)v;
            break;
        default:
            return fv_err_set(err, FV_EINVAL,
                              "invalid protobuf at byte %zu: unsupported wire type %u", at,
                              (unsigned)(tag & 7));
        }
    }
    return FV_OK;
}

/* Copies an unpacked string into a bounded field; over-long or non-UTF-8 is an error. */
static fv_status copy_text(const char *field, const char *s, char *out, size_t cap, fv_err *err)
{
    out[0] = '\0';
    if (!s)
        return FV_OK;
    size_t n = strlen(s);
    if (n >= cap)
        return fv_err_set(err, FV_EINVAL, "%s: %zu bytes, more than %zu", field, n, cap - 1);
    if (!fv_utf8_valid(s, n))
        return fv_err_set(err, FV_EINVAL, "%s: not valid UTF-8", field);
    memcpy(out, s, n + 1);
    return FV_OK;
}

static fv_status check_size(const char *what, size_t len, const fv_limits *lim, fv_err *err)
{
    size_t max = limit_of(lim) + ENVELOPE_SLACK;
    if (len > max)
        return fv_err_set(err, FV_ETOOBIG, "%s: %zu bytes, more than the limit of %zu", what, len,
                          max);
    return FV_OK;
}

static fv_status pack_into(const ProtobufCMessage *m, fv_buf *out)
{
    size_t need = protobuf_c_message_get_packed_size(m);
    if (fv_buf_reserve(out, need) != FV_OK)
        return FV_ENOMEM;
    size_t got = protobuf_c_message_pack(m, (uint8_t *)out->data + out->len);
    out->len += got;
    out->data[out->len] = '\0';
    return FV_OK;
}

/* --- FlovynEvent ---------------------------------------------------------------------------- */

static const char *const event_strings[] = {
    NULL,
    "id",
    "tenant_id",
    "workflow_execution_id",
    "task_execution_id",
    "parent_workflow_execution_id",
    "event_type",
    "source",
    NULL,
    NULL,
    "correlation_id",
};

fv_status fv_event_to_proto(const fv_event *ev, fv_buf *out)
{
    Flovyn__V1__FlovynEvent m = FLOVYN__V1__FLOVYN_EVENT__INIT;
    m.id = (char *)ev->id;
    m.tenant_id = (char *)ev->tenant_id;
    m.workflow_execution_id = (char *)ev->workflow_execution_id;
    m.task_execution_id = (char *)ev->task_execution_id;
    m.parent_workflow_execution_id = (char *)ev->parent_workflow_execution_id;
    m.event_type = (char *)ev->event_type;
    m.source = (char *)ev->source;
    m.correlation_id = (char *)ev->correlation_id;
    m.timestamp_ms = ev->timestamp_ms;
    if (ev->data) {
        m.data_json.data = (uint8_t *)ev->data;
        m.data_json.len = ev->data_len;
    }
    return pack_into(&m.base, out);
}

fv_status fv_event_from_proto(fv_event *ev, const void *buf, size_t len, const fv_limits *lim,
                              fv_err *err)
{
    fv_event_init(ev);
    fv_status st = check_size("event", len, lim, err);
    if (st != FV_OK)
        return st;
    if ((st = wire_check(buf, len, event_strings, sizeof event_strings / sizeof *event_strings,
                         err)) != FV_OK)
        return st;
    budget b;
    budget_init(&b, len);
    Flovyn__V1__FlovynEvent *m = flovyn__v1__flovyn_event__unpack(&b.a, len, buf);
    if (!m)
        return fv_err_set(err, FV_EINVAL, "invalid protobuf FlovynEvent (malformed or too large)");
    if ((st = copy_text("id", m->id, ev->id, sizeof ev->id, err)) != FV_OK ||
        (st = copy_text("tenant_id", m->tenant_id, ev->tenant_id, sizeof ev->tenant_id, err)) !=
            FV_OK ||
        (st = copy_text("workflow_execution_id", m->workflow_execution_id,
                        ev->workflow_execution_id, sizeof ev->workflow_execution_id, err)) !=
            FV_OK ||
        (st = copy_text("task_execution_id", m->task_execution_id, ev->task_execution_id,
                        sizeof ev->task_execution_id, err)) != FV_OK ||
        (st = copy_text("parent_workflow_execution_id", m->parent_workflow_execution_id,
                        ev->parent_workflow_execution_id, sizeof ev->parent_workflow_execution_id,
                        err)) != FV_OK ||
        (st = copy_text("event_type", m->event_type, ev->event_type, sizeof ev->event_type, err)) !=
            FV_OK ||
        (st = copy_text("source", m->source, ev->source, sizeof ev->source, err)) != FV_OK ||
        (st = copy_text("correlation_id", m->correlation_id, ev->correlation_id,
                        sizeof ev->correlation_id, err)) != FV_OK)
        goto done;
    if (m->timestamp_ms < 0) {
        st = fv_err_set(err, FV_EINVAL, "timestamp_ms: negative");
        goto done;
    }
    ev->timestamp_ms = m->timestamp_ms;
    if (m->data_json.len && (st = fv_event_set_data(ev, (const char *)m->data_json.data,
                                                    m->data_json.len, lim, err)) != FV_OK)
        goto done;
    st = fv_event_validate_present(ev, lim, err);
done:
    flovyn__v1__flovyn_event__free_unpacked(m, &b.a);
    if (st != FV_OK)
        fv_event_clear(ev);
    return st;
}

/* --- StreamEvent ---------------------------------------------------------------------------- */

static const char *const stream_strings[] = {
    NULL,
    "tenant_id",
    "workflow_execution_id",
    "task_execution_id",
};

fv_status fv_stream_event_to_proto(const fv_stream_event *se, fv_buf *out)
{
    Flovyn__V1__StreamEvent m = FLOVYN__V1__STREAM_EVENT__INIT;
    m.tenant_id = (char *)se->tenant_id;
    m.workflow_execution_id = (char *)se->workflow_execution_id;
    m.task_execution_id = (char *)se->task_execution_id;
    m.sequence = se->sequence;
    m.kind = (Flovyn__V1__StreamEventKind)se->kind;
    m.timestamp_ms = se->timestamp_ms;
    if (se->payload) {
        m.payload_json.data = (uint8_t *)se->payload;
        m.payload_json.len = se->payload_len;
    }
    return pack_into(&m.base, out);
}

static fv_status opt_id(const char *field, const char *id, fv_err *err)
{
    return id[0] ? fv_id_validate(field, id, strlen(id), err) : FV_OK;
}

fv_status fv_stream_event_from_proto(fv_stream_event *se, const void *buf, size_t len,
                                     const fv_limits *lim, fv_err *err)
{
    fv_stream_event_init(se);
    fv_status st = check_size("stream event", len, lim, err);
    if (st != FV_OK)
        return st;
    if ((st = wire_check(buf, len, stream_strings, sizeof stream_strings / sizeof *stream_strings,
                         err)) != FV_OK)
        return st;
    budget b;
    budget_init(&b, len);
    Flovyn__V1__StreamEvent *m = flovyn__v1__stream_event__unpack(&b.a, len, buf);
    if (!m)
        return fv_err_set(err, FV_EINVAL, "invalid protobuf StreamEvent (malformed or too large)");
    if ((st = copy_text("tenant_id", m->tenant_id, se->tenant_id, sizeof se->tenant_id, err)) !=
            FV_OK ||
        (st = copy_text("workflow_execution_id", m->workflow_execution_id,
                        se->workflow_execution_id, sizeof se->workflow_execution_id, err)) !=
            FV_OK ||
        (st = copy_text("task_execution_id", m->task_execution_id, se->task_execution_id,
                        sizeof se->task_execution_id, err)) != FV_OK)
        goto done;
    if ((st = opt_id("tenant_id", se->tenant_id, err)) != FV_OK ||
        (st = opt_id("workflow_execution_id", se->workflow_execution_id, err)) != FV_OK ||
        (st = opt_id("task_execution_id", se->task_execution_id, err)) != FV_OK)
        goto done;
    if (m->sequence < 0 || m->timestamp_ms < 0) {
        st = fv_err_set(err, FV_EINVAL, "%s: negative",
                        m->sequence < 0 ? "sequence" : "timestamp_ms");
        goto done;
    }
    if ((unsigned)m->kind >= FV_KIND_COUNT) {
        st = fv_err_set(err, FV_EINVAL, "kind: %d is not one of token, progress, data, error",
                        (int)m->kind);
        goto done;
    }
    se->sequence = m->sequence;
    se->kind = (fv_stream_kind)m->kind;
    se->timestamp_ms = m->timestamp_ms;
    if (m->payload_json.len &&
        (st = fv_stream_event_set_payload(se, (const char *)m->payload_json.data,
                                          m->payload_json.len, lim, err)) != FV_OK)
        goto done;
done:
    flovyn__v1__stream_event__free_unpacked(m, &b.a);
    if (st != FV_OK)
        fv_stream_event_clear(se);
    return st;
}

bool fv_proto_wellformed(bool stream, const void *buf, size_t len)
{
    const char *const *names = stream ? stream_strings : event_strings;
    size_t nnames = stream ? sizeof stream_strings / sizeof *stream_strings
                           : sizeof event_strings / sizeof *event_strings;
    if (wire_check(buf, len, names, nnames, NULL) != FV_OK)
        return false;
    budget b;
    budget_init(&b, len);
    const ProtobufCMessageDescriptor *d =
        stream ? &flovyn__v1__stream_event__descriptor : &flovyn__v1__flovyn_event__descriptor;
    ProtobufCMessage *m = protobuf_c_message_unpack(d, &b.a, len, buf);
    if (!m)
        return false;
    protobuf_c_message_free_unpacked(m, &b.a);
    return true;
}
