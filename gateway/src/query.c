/* query.c - query parameters of the SSE and history endpoints; see query.h.
 *
 * All parsers are the library's (types filter, ids, times, cursors); this file only knows which
 * parameter feeds which parser and what the defaults are, so the stream endpoints, the history
 * endpoint and the unit tests agree.
 */
#include "query.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/id.h"
#include "flovyn/units.h"

static fv_status parse_id(const char *name, const char *v, char *out, fv_err *err)
{
    if (!v)
        return FV_OK;
    fv_status st = fv_id_validate(name, v, strlen(v), err);
    if (st != FV_OK)
        return st;
    snprintf(out, FV_ID_MAX + 1, "%s", v);
    return FV_OK;
}

static fv_status parse_time(const char *name, const char *v, int64_t *out, fv_err *err)
{
    fv_status st = fv_time_parse(v, out, err);
    if (st != FV_OK) {
        char pre[32];
        snprintf(pre, sizeof pre, "%s: ", name);
        return fv_err_prefix(err, st, pre);
    }
    return FV_OK;
}

static fv_status parse_cursor(const char *name, const char *v, fv_cursor *out, fv_err *err)
{
    fv_status st = fv_cursor_parse(v, strlen(v), out, err);
    if (st != FV_OK) {
        char pre[32];
        snprintf(pre, sizeof pre, "%s: ", name);
        return fv_err_prefix(err, st, pre);
    }
    return FV_OK;
}

static fv_status parse_common(fv_gw_query *q, fv_types_default dflt, fv_query_get_fn get, void *ud,
                              fv_err *err)
{
    memset(q, 0, sizeof *q);
    fv_status st = fv_types_filter_parse(get(ud, "types"), dflt, &q->types, err);
    if (st != FV_OK)
        return st;
    if ((st = parse_id("workflow_execution_id", get(ud, "workflow_execution_id"),
                       q->workflow_execution_id, err)) ||
        (st = parse_id("task_execution_id", get(ud, "task_execution_id"), q->task_execution_id,
                       err)))
        return st;
    const char *src = get(ud, "source");
    if (src && *src) {
        size_t n = strlen(src);
        if (n > FV_SOURCE_MAX)
            return fv_err_set(err, FV_EINVAL, "source: longer than %d bytes", FV_SOURCE_MAX);
        for (size_t i = 0; i < n; i++)
            if ((unsigned char)src[i] < 0x20 || src[i] == 0x7f)
                return fv_err_set(err, FV_EINVAL, "source: control character at byte %zu", i);
        memcpy(q->source, src, n + 1);
    }
    const char *v;
    if ((v = get(ud, "since")) != NULL) {
        if ((st = parse_time("since", v, &q->since_ms, err)))
            return st;
        q->has_since = true;
    }
    if ((v = get(ud, "until")) != NULL) {
        if ((st = parse_time("until", v, &q->until_ms, err)))
            return st;
        if (q->until_ms <= 0)
            return fv_err_set(err, FV_EINVAL, "until: must be after 1970-01-01");
        if (q->has_since && q->until_ms < q->since_ms)
            return fv_err_set(err, FV_EINVAL, "until: earlier than since");
    }
    return FV_OK;
}

fv_status fv_gw_query_parse_stream(fv_gw_query *q, fv_types_default dflt, fv_query_get_fn get,
                                   void *ud, const char *last_event_id_header, fv_err *err)
{
    fv_status st = parse_common(q, dflt, get, ud, err);
    if (st != FV_OK)
        goto fail;
    const char *v;
    if (last_event_id_header && *last_event_id_header) {
        if ((st = parse_cursor("Last-Event-ID", last_event_id_header, &q->cursor, err)))
            goto fail;
        q->has_cursor = true;
    } else if ((v = get(ud, "last_event_id")) != NULL && *v) {
        if ((st = parse_cursor("last_event_id", v, &q->cursor, err)))
            goto fail;
        q->has_cursor = true;
    }
    if ((v = get(ud, "close_on_terminal")) != NULL) {
        if (!strcmp(v, "true") || !strcmp(v, "1") || !*v)
            q->close_on_terminal = true;
        else if (!strcmp(v, "false") || !strcmp(v, "0"))
            q->close_on_terminal = false;
        else {
            st = fv_err_set(err, FV_EINVAL, "close_on_terminal: '%.32s' is not true or false", v);
            goto fail;
        }
    }
    return FV_OK;
fail:
    fv_gw_query_clear(q);
    return st;
}

fv_status fv_gw_query_parse_history(fv_gw_query *q, fv_query_get_fn get, void *ud, fv_err *err)
{
    fv_status st = parse_common(q, FV_TYPES_DEFAULT_LIFECYCLE, get, ud, err);
    if (st != FV_OK)
        goto fail;
    const char *v;
    if ((v = get(ud, "after")) != NULL && *v) {
        if ((st = parse_cursor("after", v, &q->cursor, err)))
            goto fail;
        q->has_cursor = true;
    }
    q->limit = FV_HISTORY_LIMIT_DEFAULT;
    if ((v = get(ud, "limit")) != NULL) {
        char *end;
        long n = strtol(v, &end, 10);
        if (!*v || *end || n < 1 || n > FV_HISTORY_LIMIT_MAX) {
            st = fv_err_set(err, FV_EINVAL, "limit: '%.32s' is not a number in 1..%d", v,
                            FV_HISTORY_LIMIT_MAX);
            goto fail;
        }
        q->limit = (size_t)n;
    }
    return FV_OK;
fail:
    fv_gw_query_clear(q);
    return st;
}

void fv_gw_query_clear(fv_gw_query *q)
{
    fv_types_filter_destroy(q->types);
    q->types = NULL;
}

void fv_gw_query_start(const fv_gw_query *q, fv_start_kind dflt, fv_start *out)
{
    memset(out, 0, sizeof *out);
    if (q->has_cursor) {
        out->kind = FV_START_CURSOR;
        out->cursor = q->cursor;
    } else if (q->has_since) {
        out->kind = FV_START_TIME;
        out->time_ms = q->since_ms;
    } else {
        out->kind = dflt;
    }
    out->until_ms = q->until_ms;
}
