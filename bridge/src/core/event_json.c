/* event_json.c - the JSON codec of both event shapes (CONTRACT §2).
 *
 * Decoding walks the envelope's members with the span scanner and never builds a tree, so `data`
 * and `payload` reach the struct as the producer wrote them. Every known member may appear once
 * under either of its names (snake_case or Flovyn's camelCase): a duplicate is rejected, because
 * two parsers that pick different duplicates are how one event reaches two tenants. Unknown
 * members are ignored so producers can add fields. Encoding writes the one §2 shape with the
 * project's JSON writer and embeds the stored JSON bytes unchanged.
 */
#include "flovyn/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/json.h"

#define ENVELOPE_SLACK (64 * 1024) /* envelope bytes allowed on top of the data limit */

typedef struct field {
    const char *snake;
    const char *camel; /* NULL = no alias */
    bool seen;
    fv_span val;
    fv_json_kind kind;
} field;

static size_t limit_of(const fv_limits *lim)
{
    return lim && lim->max_data ? lim->max_data : FV_DATA_MAX_DEFAULT;
}

/* Walks the members of the envelope into fields[]; *camel_seen tells whether any camelCase
 * alias was used (Flovyn's form). */
static fv_status read_members(const char *json, size_t len, const fv_limits *lim, field *fields,
                              size_t nfields, bool *camel_seen, fv_err *err)
{
    size_t max = limit_of(lim) + ENVELOPE_SLACK;
    if (len > max)
        return fv_err_set(err, FV_ETOOBIG, "event: %zu bytes, more than the limit of %zu", len,
                          max);
    size_t i = 0;
    while (i < len && (json[i] == ' ' || json[i] == '\t' || json[i] == '\n' || json[i] == '\r'))
        i++;
    if (i >= len || json[i] != '{')
        return fv_err_set(err, FV_EINVAL, "invalid JSON at byte %zu: expected an object", i);
    fv_json_iter it;
    fv_json_iter_init(&it, json, len);
    fv_span key, val;
    fv_json_kind kind;
    int r;
    for (;;) {
        key.p = NULL;
        if ((r = fv_json_next_member(&it, &key, &val, &kind, err)) != 1)
            break;
        for (size_t f = 0; f < nfields; f++) {
            bool camel = fields[f].camel && fv_json_key_is(key, fields[f].camel);
            if (!camel && !fv_json_key_is(key, fields[f].snake))
                continue;
            if (fields[f].seen)
                return fv_err_set(err, FV_EINVAL, "%s: appears more than once (at byte %zu)",
                                  fields[f].snake, (size_t)(key.p - json) - 1);
            fields[f].seen = true;
            fields[f].val = val;
            fields[f].kind = kind;
            if (camel)
                *camel_seen = true;
            break;
        }
    }
    if (r < 0 && key.p) {
        /* the value of this member is malformed: name it when it is one we know */
        for (size_t f = 0; f < nfields; f++) {
            if (fv_json_key_is(key, fields[f].snake) ||
                (fields[f].camel && fv_json_key_is(key, fields[f].camel))) {
                char prefix[64];
                snprintf(prefix, sizeof prefix, "%s: ", fields[f].snake);
                return fv_err_prefix(err, r, prefix);
            }
        }
    }
    return r < 0 ? r : FV_OK;
}

static fv_status want_string(const field *f, fv_err *err)
{
    if (f->kind != FV_JSON_STRING)
        return fv_err_set(err, FV_EINVAL, "%s: expected a string", f->snake);
    return FV_OK;
}

/* String member into a bounded buffer; null (when allowed) or absent leaves it empty. */
static fv_status get_text(const field *f, bool nullable, char *out, size_t cap, const char *rule,
                          fv_err *err)
{
    out[0] = '\0';
    if (!f->seen || (nullable && f->kind == FV_JSON_NULL))
        return FV_OK;
    fv_status st = want_string(f, err);
    if (st != FV_OK)
        return st;
    st = fv_json_string_decode(f->val, out, cap, NULL, err);
    if (st == FV_ETOOBIG)
        return fv_err_set(err, FV_EINVAL, "%s: more than %zu bytes%s", f->snake, cap - 1, rule);
    if (st != FV_OK) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s: ", f->snake);
        return fv_err_prefix(err, st, prefix);
    }
    return FV_OK;
}

/* An id member: a valid id, or null/absent when optional ("" is never "none" in JSON). */
static fv_status get_id(const field *f, char *out, fv_err *err)
{
    fv_status st = get_text(f, true, out, FV_ID_MAX + 1, " (ids are 1-64 of A-Z a-z 0-9 _ -)", err);
    if (st != FV_OK || !f->seen || f->kind == FV_JSON_NULL)
        return st;
    st = fv_id_validate(f->snake, out, strlen(out), err);
    if (st != FV_OK)
        out[0] = '\0';
    return st;
}

static fv_status get_int(const field *f, int64_t absent, int64_t *out, fv_err *err)
{
    *out = absent;
    if (!f->seen || f->kind == FV_JSON_NULL)
        return FV_OK;
    if (f->kind != FV_JSON_NUMBER)
        return fv_err_set(err, FV_EINVAL, "%s: expected an integer", f->snake);
    fv_status st = fv_json_int64(f->val, out, err);
    if (st != FV_OK) {
        char prefix[64];
        snprintf(prefix, sizeof prefix, "%s: ", f->snake);
        return fv_err_prefix(err, FV_EINVAL, prefix);
    }
    if (*out < 0)
        return fv_err_set(err, FV_EINVAL, "%s: negative", f->snake);
    return FV_OK;
}

/* --- FlovynEvent ---------------------------------------------------------------------------- */

enum { E_ID, E_TENANT, E_WF, E_TASK, E_PARENT, E_TYPE, E_SOURCE, E_DATA, E_TS, E_CORR, E_N };

fv_status fv_event_from_json(fv_event *ev, const char *json, size_t len, const fv_limits *lim,
                             fv_err *err)
{
    field f[E_N] = {
        [E_ID] = {.snake = "id", .camel = NULL},
        [E_TENANT] = {.snake = "tenant_id", .camel = "tenantId"},
        [E_WF] = {.snake = "workflow_execution_id", .camel = "workflowExecutionId"},
        [E_TASK] = {.snake = "task_execution_id", .camel = "taskExecutionId"},
        [E_PARENT] = {.snake = "parent_workflow_execution_id",
                      .camel = "parentWorkflowExecutionId"},
        [E_TYPE] = {.snake = "event_type", .camel = "eventType"},
        [E_SOURCE] = {.snake = "source", .camel = NULL},
        [E_DATA] = {.snake = "data", .camel = NULL},
        [E_TS] = {.snake = "timestamp_ms", .camel = "timestampMs"},
        [E_CORR] = {.snake = "correlation_id", .camel = "correlationId"},
    };
    fv_event_init(ev);
    bool camel = false;
    fv_status st = read_members(json, len, lim, f, E_N, &camel, err);
    if (st != FV_OK)
        return st;
    if ((st = get_id(&f[E_ID], ev->id, err)) != FV_OK ||
        (st = get_id(&f[E_TENANT], ev->tenant_id, err)) != FV_OK ||
        (st = get_id(&f[E_WF], ev->workflow_execution_id, err)) != FV_OK ||
        (st = get_id(&f[E_TASK], ev->task_execution_id, err)) != FV_OK ||
        (st = get_id(&f[E_PARENT], ev->parent_workflow_execution_id, err)) != FV_OK)
        goto fail;
    if ((st = get_text(&f[E_TYPE], true, ev->event_type, sizeof ev->event_type, "", err)) != FV_OK)
        goto fail;
    if (f[E_TYPE].seen && f[E_TYPE].kind == FV_JSON_STRING &&
        (st = fv_event_type_validate(ev->event_type, strlen(ev->event_type), err)) != FV_OK)
        goto fail;
    if ((st = get_text(&f[E_SOURCE], true, ev->source, sizeof ev->source, "", err)) != FV_OK ||
        (st = get_text(&f[E_CORR], true, ev->correlation_id, sizeof ev->correlation_id, "", err)) !=
            FV_OK)
        goto fail;
    if ((st = get_int(&f[E_TS], 0, &ev->timestamp_ms, err)) != FV_OK)
        goto fail;
    if (f[E_DATA].seen &&
        (st = fv_event_set_data(ev, f[E_DATA].val.p, f[E_DATA].val.n, lim, err)) != FV_OK)
        goto fail;
    /* source and correlation_id get the same checks as before publishing */
    if ((st = fv_event_validate_present(ev, lim, err)) != FV_OK)
        goto fail;
    return FV_OK;
fail:
    fv_event_clear(ev);
    return st;
}

fv_status fv_event_to_json(const fv_event *ev, fv_buf *out)
{
    fv_buf_putc(out, '{');
    fv_json_put_key(out, "id", true);
    fv_json_put_str_or_null(out, ev->id);
    fv_json_put_key(out, "tenant_id", false);
    fv_json_put_str_or_null(out, ev->tenant_id);
    fv_json_put_key(out, "workflow_execution_id", false);
    fv_json_put_str_or_null(out, ev->workflow_execution_id);
    fv_json_put_key(out, "task_execution_id", false);
    fv_json_put_str_or_null(out, ev->task_execution_id);
    fv_json_put_key(out, "parent_workflow_execution_id", false);
    fv_json_put_str_or_null(out, ev->parent_workflow_execution_id);
    fv_json_put_key(out, "event_type", false);
    fv_json_put_str_or_null(out, ev->event_type);
    fv_json_put_key(out, "source", false);
    fv_json_put_cstr(out, ev->source);
    fv_json_put_key(out, "data", false);
    if (ev->data)
        fv_buf_append(out, ev->data, ev->data_len);
    else
        fv_buf_puts(out, "null");
    fv_json_put_key(out, "timestamp_ms", false);
    fv_json_put_int(out, ev->timestamp_ms);
    fv_json_put_key(out, "correlation_id", false);
    fv_json_put_str_or_null(out, ev->correlation_id);
    fv_buf_putc(out, '}');
    return fv_buf_status(out);
}

/* --- StreamEvent ---------------------------------------------------------------------------- */

enum { S_WF, S_TASK, S_SEQ, S_TYPE, S_PAYLOAD, S_TS, S_N };

/* Flovyn sends payload as a JSON string holding JSON: such a string is unwrapped when its
 * content is valid JSON, and kept as the string value otherwise (a plain text token). */
static fv_status flovyn_payload(fv_stream_event *se, const field *f, const fv_limits *lim,
                                fv_err *err)
{
    char *text;
    size_t n;
    /* a string that cannot be unwrapped (it holds \u0000) is kept as the string it is */
    if (fv_json_string_decode_alloc(f->val, &text, &n, NULL) != FV_OK)
        return fv_stream_event_set_payload(se, f->val.p, f->val.n, lim, err);
    fv_status st;
    if (n > 0 && fv_json_validate(text, n, FV_JSON_MAX_DEPTH, NULL, NULL) == FV_OK)
        st = fv_stream_event_set_payload(se, text, n, lim, err);
    else
        st = fv_stream_event_set_payload(se, f->val.p, f->val.n, lim, err);
    free(text);
    return st;
}

fv_status fv_stream_event_from_json(fv_stream_event *se, const char *json, size_t len,
                                    const fv_limits *lim, fv_err *err)
{
    field f[S_N] = {
        [S_WF] = {.snake = "workflow_execution_id", .camel = "workflowExecutionId"},
        [S_TASK] = {.snake = "task_execution_id", .camel = "taskExecutionId"},
        [S_SEQ] = {.snake = "sequence", .camel = NULL},
        [S_TYPE] = {.snake = "type", .camel = NULL},
        [S_PAYLOAD] = {.snake = "payload", .camel = NULL},
        [S_TS] = {.snake = "timestamp_ms", .camel = "timestampMs"},
    };
    char tenant[sizeof se->tenant_id];
    memcpy(tenant, se->tenant_id, sizeof tenant);
    tenant[sizeof tenant - 1] = '\0';
    fv_stream_event_init(se);
    memcpy(se->tenant_id, tenant, sizeof tenant);
    se->sequence = -1;
    se->kind = FV_KIND_COUNT;
    bool camel = false;
    fv_status st = read_members(json, len, lim, f, S_N, &camel, err);
    if (st != FV_OK)
        goto fail;
    if ((st = get_id(&f[S_WF], se->workflow_execution_id, err)) != FV_OK ||
        (st = get_id(&f[S_TASK], se->task_execution_id, err)) != FV_OK)
        goto fail;
    if ((st = get_int(&f[S_SEQ], -1, &se->sequence, err)) != FV_OK ||
        (st = get_int(&f[S_TS], 0, &se->timestamp_ms, err)) != FV_OK)
        goto fail;
    if (f[S_TYPE].seen && f[S_TYPE].kind != FV_JSON_NULL) {
        char type[16];
        if ((st = want_string(&f[S_TYPE], err)) != FV_OK)
            goto fail;
        if (fv_json_string_decode(f[S_TYPE].val, type, sizeof type, NULL, NULL) != FV_OK ||
            fv_kind_parse(type, strlen(type), &se->kind) != FV_OK) {
            st = fv_err_set(err, FV_EINVAL,
                            "type: not one of token, progress, data, error (at byte %zu)",
                            (size_t)(f[S_TYPE].val.p - json));
            goto fail;
        }
    }
    if (f[S_PAYLOAD].seen) {
        if (camel && f[S_PAYLOAD].kind == FV_JSON_STRING)
            st = flovyn_payload(se, &f[S_PAYLOAD], lim, err);
        else
            st = fv_stream_event_set_payload(se, f[S_PAYLOAD].val.p, f[S_PAYLOAD].val.n, lim, err);
        if (st != FV_OK)
            goto fail;
    }
    return FV_OK;
fail:
    fv_stream_event_clear(se);
    memcpy(se->tenant_id, tenant, sizeof tenant);
    return st;
}

fv_status fv_stream_event_to_json(const fv_stream_event *se, fv_buf *out)
{
    fv_buf_putc(out, '{');
    fv_json_put_key(out, "workflow_execution_id", true);
    fv_json_put_str_or_null(out, se->workflow_execution_id);
    fv_json_put_key(out, "task_execution_id", false);
    fv_json_put_str_or_null(out, se->task_execution_id);
    /* a sequence or type not known yet (decoded, not validated) is written as null */
    fv_json_put_key(out, "sequence", false);
    if (se->sequence >= 0)
        fv_json_put_int(out, se->sequence);
    else
        fv_buf_puts(out, "null");
    fv_json_put_key(out, "type", false);
    if ((unsigned)se->kind < FV_KIND_COUNT)
        fv_json_put_cstr(out, fv_kind_name(se->kind));
    else
        fv_buf_puts(out, "null");
    fv_json_put_key(out, "payload", false);
    if (se->payload)
        fv_buf_append(out, se->payload, se->payload_len);
    else
        fv_buf_puts(out, "null");
    fv_json_put_key(out, "timestamp_ms", false);
    fv_json_put_int(out, se->timestamp_ms);
    fv_buf_putc(out, '}');
    return fv_buf_status(out);
}
