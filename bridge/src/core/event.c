/* event.c - the event model: lifecycle, validation (CONTRACT §2) and dedup keys. The event_type
 * grammar is event_type.c's; the JSON and protobuf codecs live in event_json.c and event_proto.c,
 * and event_decode.c picks one for bytes read from NATS. Both codecs funnel `data`/`payload`
 * through fv_*_set_data/payload here, so there is one place where producer JSON is checked,
 * size-limited and stored.
 *
 * Producer JSON is stored as sent except for two things that carry no meaning: surrounding
 * whitespace is trimmed, and CR/LF bytes become spaces. In valid JSON a raw CR or LF can only be
 * insignificant whitespace (inside strings they must be escaped), so values stay byte for byte
 * while every encoded event is guaranteed to be one line (SSE `data:`, NDJSON from `tail`).
 */
#include "flovyn/event.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "flovyn/json.h"

static const char *const kind_names[FV_KIND_COUNT] = {"token", "progress", "data", "error"};

const char *fv_kind_name(fv_stream_kind k)
{
    return (unsigned)k < FV_KIND_COUNT ? kind_names[k] : "unknown";
}

fv_status fv_kind_parse(const char *s, size_t n, fv_stream_kind *out)
{
    for (int k = 0; k < FV_KIND_COUNT; k++) {
        if (strlen(kind_names[k]) == n && strncasecmp(s, kind_names[k], n) == 0) {
            *out = (fv_stream_kind)k;
            return FV_OK;
        }
    }
    return FV_EINVAL;
}

static size_t limit_of(const fv_limits *lim)
{
    return lim && lim->max_data ? lim->max_data : FV_DATA_MAX_DEFAULT;
}

/* Validates, trims and copies producer JSON; NULL/0 and `null` are stored as NULL. */
static fv_status store_json(const char *what, const char *json, size_t len, const fv_limits *lim,
                            char **out, size_t *out_len, fv_err *err)
{
    *out = NULL;
    *out_len = 0;
    if (!json || len == 0)
        return FV_OK;
    size_t max = limit_of(lim);
    if (len > max)
        return fv_err_set(err, FV_ETOOBIG, "%s: %zu bytes, more than the limit of %zu", what, len,
                          max);
    fv_status st = fv_json_validate(json, len, FV_JSON_MAX_DEPTH, NULL, err);
    if (st != FV_OK) {
        char prefix[32];
        snprintf(prefix, sizeof prefix, "%s: ", what);
        return fv_err_prefix(err, st, prefix);
    }
    size_t a = 0, b = len;
    while (a < b && (json[a] == ' ' || json[a] == '\t' || json[a] == '\n' || json[a] == '\r'))
        a++;
    while (b > a && (json[b - 1] == ' ' || json[b - 1] == '\t' || json[b - 1] == '\n' ||
                     json[b - 1] == '\r'))
        b--;
    if (b - a == 4 && memcmp(json + a, "null", 4) == 0)
        return FV_OK;
    char *p = malloc(b - a + 1);
    if (!p)
        return fv_err_set(err, FV_ENOMEM, "%s: out of memory", what);
    memcpy(p, json + a, b - a);
    p[b - a] = '\0';
    for (size_t i = 0; i < b - a; i++)
        if (p[i] == '\n' || p[i] == '\r')
            p[i] = ' ';
    *out = p;
    *out_len = b - a;
    return FV_OK;
}

/* Free text (source, correlation_id): valid UTF-8 without control characters, so it is safe in
 * logs and headers as well as in JSON. */
static fv_status text_validate(const char *field, const char *s, size_t cap, fv_err *err)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        return fv_err_set(err, FV_EINVAL, "%s: more than %zu bytes", field, cap - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7F)
            return fv_err_set(err, FV_EINVAL,
                              "%s: control character 0x%02x at position %zu is not allowed", field,
                              c, i);
    }
    if (!fv_utf8_valid(s, n))
        return fv_err_set(err, FV_EINVAL, "%s: not valid UTF-8", field);
    return FV_OK;
}

static fv_status opt_id_validate(const char *field, const char *id, fv_err *err)
{
    return id[0] ? fv_id_validate(field, id, strnlen(id, FV_ID_MAX + 1), err) : FV_OK;
}

/* --- lifecycle events ---------------------------------------------------------------------- */

void fv_event_init(fv_event *ev)
{
    memset(ev, 0, sizeof *ev);
}

void fv_event_clear(fv_event *ev)
{
    free(ev->data);
    memset(ev, 0, sizeof *ev);
}

fv_status fv_event_copy(fv_event *dst, const fv_event *src)
{
    *dst = *src;
    dst->data = NULL;
    if (src->data) {
        dst->data = malloc(src->data_len + 1);
        if (!dst->data) {
            dst->data_len = 0;
            return FV_ENOMEM;
        }
        memcpy(dst->data, src->data, src->data_len);
        dst->data[src->data_len] = '\0';
    }
    return FV_OK;
}

fv_status fv_event_set_data(fv_event *ev, const char *json, size_t len, const fv_limits *lim,
                            fv_err *err)
{
    char *p;
    size_t n;
    fv_status st = store_json("data", json, len, lim, &p, &n, err);
    if (st != FV_OK)
        return st;
    free(ev->data);
    ev->data = p;
    ev->data_len = n;
    return FV_OK;
}

fv_status fv_event_fill_defaults(fv_event *ev)
{
    if (!ev->id[0]) {
        fv_status st = fv_uuid4(ev->id, sizeof ev->id);
        if (st != FV_OK)
            return st;
    }
    if (ev->timestamp_ms == 0)
        ev->timestamp_ms = fv_now_ms();
    return FV_OK;
}

static fv_status event_validate(const fv_event *ev, const fv_limits *lim, bool partial, fv_err *err)
{
    fv_status st;
    if (!ev->id[0] && !partial)
        return fv_err_set(err, FV_EINVAL, "id: empty (fv_event_fill_defaults generates one)");
    if ((st = opt_id_validate("id", ev->id, err)) != FV_OK)
        return st;
    if (!ev->tenant_id[0] && !partial)
        return fv_err_set(err, FV_EINVAL, "tenant_id: missing");
    if ((st = opt_id_validate("tenant_id", ev->tenant_id, err)) != FV_OK)
        return st;
    if ((st = opt_id_validate("workflow_execution_id", ev->workflow_execution_id, err)) != FV_OK ||
        (st = opt_id_validate("task_execution_id", ev->task_execution_id, err)) != FV_OK ||
        (st = opt_id_validate("parent_workflow_execution_id", ev->parent_workflow_execution_id,
                              err)) != FV_OK)
        return st;
    if (!ev->event_type[0] && !partial)
        return fv_err_set(err, FV_EINVAL, "event_type: missing");
    if (ev->event_type[0] &&
        (st = fv_event_type_validate(ev->event_type, strnlen(ev->event_type, sizeof ev->event_type),
                                     err)) != FV_OK)
        return st;
    if ((st = text_validate("source", ev->source, sizeof ev->source, err)) != FV_OK ||
        (st = text_validate("correlation_id", ev->correlation_id, sizeof ev->correlation_id,
                            err)) != FV_OK)
        return st;
    if (ev->timestamp_ms < 0)
        return fv_err_set(err, FV_EINVAL, "timestamp_ms: negative");
    if (ev->data && ev->data_len > limit_of(lim))
        return fv_err_set(err, FV_ETOOBIG, "data: %zu bytes, more than the limit of %zu",
                          ev->data_len, limit_of(lim));
    return FV_OK;
}

fv_status fv_event_validate(const fv_event *ev, const fv_limits *lim, fv_err *err)
{
    return event_validate(ev, lim, false, err);
}

fv_status fv_event_validate_present(const fv_event *ev, const fv_limits *lim, fv_err *err)
{
    return event_validate(ev, lim, true, err);
}

fv_status fv_event_dedup_key(const fv_event *ev, char *out, size_t cap)
{
    int n = snprintf(out, cap, "%s:%s", ev->tenant_id, ev->id);
    return n < 0 || (size_t)n >= cap ? FV_ETOOBIG : FV_OK;
}

/* --- stream events ------------------------------------------------------------------------- */

void fv_stream_event_init(fv_stream_event *se)
{
    memset(se, 0, sizeof *se);
}

void fv_stream_event_clear(fv_stream_event *se)
{
    free(se->payload);
    memset(se, 0, sizeof *se);
}

fv_status fv_stream_event_copy(fv_stream_event *dst, const fv_stream_event *src)
{
    *dst = *src;
    dst->payload = NULL;
    if (src->payload) {
        dst->payload = malloc(src->payload_len + 1);
        if (!dst->payload) {
            dst->payload_len = 0;
            return FV_ENOMEM;
        }
        memcpy(dst->payload, src->payload, src->payload_len);
        dst->payload[src->payload_len] = '\0';
    }
    return FV_OK;
}

fv_status fv_stream_event_set_payload(fv_stream_event *se, const char *json, size_t len,
                                      const fv_limits *lim, fv_err *err)
{
    char *p;
    size_t n;
    fv_status st = store_json("payload", json, len, lim, &p, &n, err);
    if (st != FV_OK)
        return st;
    free(se->payload);
    se->payload = p;
    se->payload_len = n;
    return FV_OK;
}

fv_status fv_stream_event_validate(const fv_stream_event *se, const fv_limits *lim, fv_err *err)
{
    fv_status st;
    if ((st = fv_id_validate("tenant_id", se->tenant_id,
                             strnlen(se->tenant_id, sizeof se->tenant_id), err)) != FV_OK)
        return st;
    if ((st = fv_id_validate("workflow_execution_id", se->workflow_execution_id,
                             strnlen(se->workflow_execution_id, sizeof se->workflow_execution_id),
                             err)) != FV_OK)
        return st;
    if ((st = opt_id_validate("task_execution_id", se->task_execution_id, err)) != FV_OK)
        return st;
    if (se->sequence < 0)
        return fv_err_set(
            err, FV_EINVAL,
            "sequence: missing or negative (the producer's sequence is the dedup key)");
    if ((unsigned)se->kind >= FV_KIND_COUNT)
        return fv_err_set(err, FV_EINVAL,
                          "type: missing or not one of token, progress, data, error");
    if (se->timestamp_ms < 0)
        return fv_err_set(err, FV_EINVAL, "timestamp_ms: negative");
    if (se->payload && se->payload_len > limit_of(lim))
        return fv_err_set(err, FV_ETOOBIG, "payload: %zu bytes, more than the limit of %zu",
                          se->payload_len, limit_of(lim));
    return FV_OK;
}

fv_status fv_stream_event_dedup_key(const fv_stream_event *se, char *out, size_t cap)
{
    int n =
        snprintf(out, cap, "%s:%s:%s:%lld", se->tenant_id, se->workflow_execution_id,
                 se->task_execution_id[0] ? se->task_execution_id : "_", (long long)se->sequence);
    return n < 0 || (size_t)n >= cap ? FV_ETOOBIG : FV_OK;
}
