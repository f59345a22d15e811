/* history.c - JSON pages of stored events; see history.h.
 *
 * One bounded fv_bus_read per request on the request thread. Each event carries its own cursor so
 * a client can hand any of them to an SSE stream as last_event_id and continue live from there.
 */
#include "history.h"

#include <stdio.h>
#include <string.h>

#include "errors.h"
#include "query.h"

typedef struct page {
    fv_buf *b;
    size_t n;
} page;

/* appends the object in j with extra members before its closing brace */
static void put_with_extras(fv_buf *b, const fv_buf *j, const fv_msg *m)
{
    size_t len = j->len;
    while (len && j->data[len - 1] != '}')
        len--;
    if (!len)
        return;
    fv_buf_append(b, j->data, len - 1);
    char cur[FV_CURSOR_MAX];
    fv_cursor_format(&m->cursor, cur, sizeof cur);
    fv_buf_printf(b, ",\"seq\":%llu,\"cursor\":\"%s\"}", (unsigned long long)m->seq, cur);
}

static int on_msg(void *ud, const fv_msg *m)
{
    page *pg = ud;
    fv_buf j = FV_BUF_INIT;
    fv_status st;
    if (m->kind == FV_MSG_EVENT && m->ev)
        st = fv_event_to_json(m->ev, &j);
    else if (m->kind == FV_MSG_STREAM && m->se)
        st = fv_stream_event_to_json(m->se, &j);
    else
        return FV_SUB_OK;
    if (st == FV_OK) {
        if (pg->n++)
            fv_buf_putc(pg->b, ',');
        put_with_extras(pg->b, &j, m);
    }
    fv_buf_free(&j);
    return FV_SUB_OK;
}

static const char *get_arg(void *ud, const char *key)
{
    return MHD_lookup_connection_value(ud, MHD_GET_ARGUMENT_KIND, key);
}

enum MHD_Result fv_history_handle(fv_gw *gw, struct MHD_Connection *mc, const fv_principal *pr)
{
    fv_err err = {{0}};
    fv_gw_query q;
    if (fv_gw_query_parse_history(&q, get_arg, mc, &err) != FV_OK)
        return fv_http_error(mc, 400, "bad_request", err.msg, 0);
    fv_pattern p;
    fv_pattern_init(&p, pr->tenant_id);
    p.types = q.types;
    p.allowed = pr->allowed;
    snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "%s",
             q.workflow_execution_id);
    snprintf(p.task_execution_id, sizeof p.task_execution_id, "%s", q.task_execution_id);
    snprintf(p.source, sizeof p.source, "%s", q.source);
    fv_start start;
    fv_gw_query_start(&q, FV_START_FIRST, &start);
    fv_buf b = FV_BUF_INIT;
    page pg = {&b, 0};
    fv_cursor next = {0};
    fv_buf_puts(&b, "{\"events\":[");
    fv_status st = fv_bus_read(gw->bus, &p, &start, q.limit, on_msg, &pg, &next, &err);
    fv_gw_query_clear(&q);
    enum MHD_Result ret;
    if (st != FV_OK) {
        fv_buf_free(&b);
        unsigned code = st == FV_EINVAL ? 400 : 503;
        return fv_http_error(mc, code, fv_http_code_name(code), err.msg, code == 503 ? 2 : 0);
    }
    char cur[FV_CURSOR_MAX];
    fv_cursor_format(&next, cur, sizeof cur);
    fv_buf_printf(&b, "],\"next\":\"%s\"}\n", cur);
    if (b.oom)
        ret = fv_http_error(mc, 503, "unavailable", "out of memory", 1);
    else
        ret = fv_http_reply(mc, 200, "application/json", b.data, b.len);
    fv_buf_free(&b);
    return ret;
}
