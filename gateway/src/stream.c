/* stream.c - the four SSE endpoints and the registry of open streams; see stream.h.
 *
 * Each stream is one bus subscription feeding one connection queue (conn.h). The callback runs on
 * a bus thread and never blocks: it frames the message (once per fan-out, frame.h), appends it and
 * returns. What happens when the queue is full depends on where the stream is:
 *  - catching up (replaying history): answer FV_SUB_PAUSE; the bus keeps the place and the reader
 *    resumes it once the queue drained below half. Replay is paced by the client, never closed;
 *  - live: the client is slow; it gets `overloaded` (if that fits) and the stream closes. It comes
 *    back with its cursor and loses nothing, because the history is in the store.
 * A (re)connect replays at most --replay-limit events, then closes with a short retry: so that a
 * long replay proceeds in bounded steps.
 *
 * The consolidated stream reads the tenant's events in stream order with an accept predicate
 * holding the set of descendant workflows: an event whose parent is in the set adds its workflow,
 * so grandchildren that start later are followed and delivery stays in sequence order. On resume
 * the set is rebuilt by reading the history up to the cursor before subscribing.
 *
 * Locks: the registry lock is never held while calling into a connection or the bus; timer work
 * runs on a snapshot of references. A subscription handle is used only under a small guard
 * (users + closed), so no thread resumes a subscription that another one closed.
 */
#include "stream.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conn.h"
#include "errors.h"
#include "reqlimit.h"
#include "flovyn/log.h"
#include "flovyn/units.h"
#include "query.h"
#include "sse.h"

#define DESC_MAX 10000          /* descendant workflows followed by one consolidated stream */
#define TERMINAL_SCAN_MAX 10000 /* close_on_terminal: stream events looked up at the end */
#define DESC_REBUILD_PAGE 1000
#define DESC_REBUILD_PAGES 200 /* at most 200k events read on the request thread */

typedef struct idset {
    pthread_mutex_t mu;
    size_t n, cap;
    char (*ids)[FV_ID_MAX + 1];
} idset;

typedef struct fv_stream fv_stream;

struct fv_streams {
    fv_gw *gw;
    pthread_mutex_t mu;
    fv_stream *head;
    size_t n;
    fv_reqlimit *per_tenant; /* open streams per tenant */
    /* what between heartbeats needs the timer (see wants_tick): the earliest token expiry of the
     * open streams (0 = none; may be early after a removal, never late) and how many streams saw
     * their terminal event */
    int64_t next_expiry;
    atomic_long terminals;
    fv_conn_batch batch; /* bus callback thread only: streams written after its round */
};

struct fv_stream {
    fv_conn conn; /* first: conn callbacks cast back */
    /* registry, and what its timer scan reads of every stream: kept together */
    fv_stream *prev, *next;
    bool registered;
    atomic_bool terminal_seen;
    fv_gw *gw;
    fv_streams *reg;
    fv_endpoint ep;
    char root[FV_ID_MAX + 1];
    fv_principal pr;
    fv_gw_query q;
    fv_pattern pattern;
    fv_start start;
    idset desc;
    bool has_desc;
    /* subscription guard */
    pthread_mutex_t sub_mu;
    fv_sub *sub;
    int sub_users;
    bool sub_closed, sub_close_pending;
    /* bus thread only */
    bool live;
    uint64_t replayed;
    /* shared with the timer */
    atomic_llong terminal_at;
    atomic_ullong streams_seq_seen;
    /* timer only */
    bool target_known;
    uint64_t streams_pending; /* last stream event to deliver before `end` (0 = none) */
};

/* --- descendant set ------------------------------------------------------------------------ */

static bool idset_has(idset *d, const char *id)
{
    for (size_t i = 0; i < d->n; i++)
        if (!strcmp(d->ids[i], id))
            return true;
    return false;
}

static void idset_add(idset *d, const char *id)
{
    if (idset_has(d, id) || d->n >= DESC_MAX)
        return;
    if (d->n == d->cap) {
        size_t cap = d->cap ? d->cap * 2 : 16;
        void *p = realloc(d->ids, cap * sizeof d->ids[0]);
        if (!p)
            return;
        d->ids = p;
        d->cap = cap;
    }
    snprintf(d->ids[d->n++], FV_ID_MAX + 1, "%s", id);
}

static bool consolidated_accept(void *ud, const fv_event *ev, const fv_stream_event *se)
{
    idset *d = ud;
    pthread_mutex_lock(&d->mu);
    bool ok;
    if (se) {
        ok = idset_has(d, se->workflow_execution_id);
    } else if (!ev->workflow_execution_id[0]) {
        ok = false;
    } else if (idset_has(d, ev->workflow_execution_id)) {
        ok = true;
    } else if (ev->parent_workflow_execution_id[0] &&
               idset_has(d, ev->parent_workflow_execution_id)) {
        idset_add(d, ev->workflow_execution_id);
        ok = true;
    } else {
        ok = false;
    }
    pthread_mutex_unlock(&d->mu);
    return ok;
}

/* --- subscription guard -------------------------------------------------------------------- */

static fv_sub *sub_acquire(fv_stream *s)
{
    pthread_mutex_lock(&s->sub_mu);
    fv_sub *sub = s->sub_closed ? NULL : s->sub;
    if (sub)
        s->sub_users++;
    pthread_mutex_unlock(&s->sub_mu);
    return sub;
}

static void sub_release(fv_stream *s)
{
    pthread_mutex_lock(&s->sub_mu);
    s->sub_users--;
    bool close_now = s->sub_users == 0 && s->sub_close_pending;
    if (close_now)
        s->sub_close_pending = false;
    fv_sub *sub = s->sub;
    pthread_mutex_unlock(&s->sub_mu);
    if (close_now)
        fv_sub_close(sub);
}

static void sub_close(fv_stream *s)
{
    pthread_mutex_lock(&s->sub_mu);
    if (s->sub_closed) {
        pthread_mutex_unlock(&s->sub_mu);
        return;
    }
    s->sub_closed = true;
    fv_sub *sub = s->sub;
    if (sub && s->sub_users > 0) {
        s->sub_close_pending = true;
        sub = NULL;
    }
    pthread_mutex_unlock(&s->sub_mu);
    if (sub)
        fv_sub_close(sub);
}

static void sub_set(fv_stream *s, fv_sub *sub)
{
    pthread_mutex_lock(&s->sub_mu);
    s->sub = sub;
    bool close_now = s->sub_closed;
    pthread_mutex_unlock(&s->sub_mu);
    if (close_now)
        fv_sub_close(sub);
}

static void sub_kick(fv_stream *s)
{
    fv_sub *sub = sub_acquire(s);
    if (sub) {
        fv_sub_resume(sub);
        sub_release(s);
    }
}

/* --- registry ------------------------------------------------------------------------------ */

static fv_status reg_add(fv_streams *r, fv_stream *s)
{
    pthread_mutex_lock(&r->mu);
    if (r->n >= (size_t)r->gw->cfg.max_connections) {
        pthread_mutex_unlock(&r->mu);
        return FV_EFULL;
    }
    if (!fv_reqlimit_begin(r->per_tenant, s->pr.tenant_id)) {
        pthread_mutex_unlock(&r->mu);
        return FV_EFULL;
    }
    s->next = r->head;
    s->prev = NULL;
    if (r->head)
        r->head->prev = s;
    r->head = s;
    r->n++;
    s->registered = true;
    if (s->pr.exp_ms > 0 && (r->next_expiry == 0 || s->pr.exp_ms < r->next_expiry))
        r->next_expiry = s->pr.exp_ms;
    fv_conn_ref(&s->conn);
    pthread_mutex_unlock(&r->mu);
    atomic_fetch_add(&fv_gw_metrics.open_streams[s->ep], 1);
    atomic_fetch_add(&fv_gw_metrics.streams_total[s->ep], 1);
    return FV_OK;
}

static void reg_remove(fv_streams *r, fv_stream *s)
{
    pthread_mutex_lock(&r->mu);
    if (!s->registered) {
        pthread_mutex_unlock(&r->mu);
        return;
    }
    s->registered = false;
    if (s->prev)
        s->prev->next = s->next;
    else
        r->head = s->next;
    if (s->next)
        s->next->prev = s->prev;
    r->n--;
    fv_reqlimit_end(r->per_tenant, s->pr.tenant_id);
    if (atomic_load(&s->terminal_seen))
        atomic_fetch_sub(&r->terminals, 1);
    pthread_mutex_unlock(&r->mu);
    atomic_fetch_sub(&fv_gw_metrics.open_streams[s->ep], 1);
    fv_conn_unref(&s->conn);
}

/* The registered streams (those `pick` accepts, when given), each with a reference; the caller
 * unrefs each and frees the array. */
static fv_stream **reg_snapshot(fv_streams *r, bool (*pick)(fv_stream *s, int64_t now_wall),
                                int64_t now_wall, size_t *n)
{
    pthread_mutex_lock(&r->mu);
    fv_stream **arr = malloc((r->n ? r->n : 1) * sizeof *arr);
    size_t k = 0;
    int64_t next = 0; /* the earliest expiry still ahead, seen on the way */
    if (arr)
        for (fv_stream *s = r->head; s; s = s->next) {
            if (s->pr.exp_ms > now_wall && (next == 0 || s->pr.exp_ms < next))
                next = s->pr.exp_ms;
            if (pick && !pick(s, now_wall))
                continue;
            fv_conn_ref(&s->conn);
            arr[k++] = s;
        }
    if (arr && now_wall > 0)
        r->next_expiry = next;
    pthread_mutex_unlock(&r->mu);
    *n = k;
    return arr;
}

fv_status fv_streams_create(fv_gw *gw, fv_streams **out)
{
    fv_streams *r = calloc(1, sizeof *r);
    if (!r)
        return FV_ENOMEM;
    r->gw = gw;
    pthread_mutex_init(&r->mu, NULL);
    size_t max_tenants = (size_t)gw->cfg.max_connections + 16;
    if (fv_reqlimit_create((size_t)gw->cfg.max_connections_per_tenant, max_tenants,
                           &r->per_tenant) != FV_OK) {
        free(r);
        return FV_ENOMEM;
    }
    *out = r;
    return FV_OK;
}

void fv_streams_destroy(fv_streams *r)
{
    if (!r)
        return;
    fv_conn_batch_flush(&r->batch); /* empty once the bus is gone; releases what it holds */
    fv_conn_batch_free(&r->batch);
    fv_reqlimit_destroy(r->per_tenant);
    pthread_mutex_destroy(&r->mu);
    free(r);
}

void fv_streams_after_callbacks(void *ud)
{
    fv_gw *gw = ud;
    if (gw->streams)
        fv_conn_batch_flush(&gw->streams->batch);
}

size_t fv_streams_open(fv_streams *r)
{
    pthread_mutex_lock(&r->mu);
    size_t n = r->n;
    pthread_mutex_unlock(&r->mu);
    return n;
}

/* --- control frames ------------------------------------------------------------------------ */

static void finish_with_event(fv_stream *s, const char *event, const char *data, int retry_ms)
{
    fv_buf b = FV_BUF_INIT;
    if (retry_ms > 0)
        fv_sse_retry(&b, retry_ms);
    if (event)
        fv_sse_event(&b, NULL, event, data, strlen(data));
    fv_conn_finish(&s->conn, b.oom ? NULL : b.data, b.oom ? 0 : b.len);
    fv_buf_free(&b);
    sub_close(s);
}

static void end_terminal(fv_stream *s, const char *reason)
{
    char data[64];
    snprintf(data, sizeof data, "{\"reason\":\"%s\"}", reason);
    if (!fv_conn_is_done(&s->conn))
        atomic_fetch_add(&fv_gw_metrics.terminal_ends, 1);
    finish_with_event(s, "end", data, 0);
}

bool fv_is_workflow_terminal(const char *t)
{
    static const char *const names[] = {
        "workflow.completed",  "workflow.failed",    "workflow.cancelled", "workflow.canceled",
        "workflow.terminated", "workflow.timed_out", "workflow.timedout"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(t, names[i]))
            return true;
    return false;
}

bool fv_is_task_terminal(const char *t)
{
    static const char *const names[] = {"task.completed", "task.failed", "task.cancelled",
                                        "task.canceled", "task.timed_out"};
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (!strcmp(t, names[i]))
            return true;
    return false;
}

static bool is_terminal(const fv_stream *s, const fv_event *ev)
{
    switch (s->ep) {
    case FV_EP_WORKFLOW:
    case FV_EP_CONSOLIDATED:
        return !strcmp(ev->workflow_execution_id, s->root) && !ev->task_execution_id[0] &&
               fv_is_workflow_terminal(ev->event_type);
    case FV_EP_TASK:
        return !strcmp(ev->task_execution_id, s->root) && fv_is_task_terminal(ev->event_type);
    default: return false;
    }
}

/* --- bus callbacks ------------------------------------------------------------------------- */

/* No memory for a frame: nothing would wake a paused replay, so the stream ends as overloaded
 * and the client resumes from its cursor (nothing is lost: it was not sent). */
static int out_of_memory(fv_stream *s)
{
    char data[64];
    int retry = fv_sse_jitter(FV_SSE_RETRY_BASE_MS);
    snprintf(data, sizeof data, "{\"reason\":\"out_of_memory\",\"retry_ms\":%d}", retry);
    finish_with_event(s, "overloaded", data, retry);
    return FV_SUB_OK;
}

static int deliver(fv_stream *s, const fv_msg *m)
{
    fv_conn *c = &s->conn;
    /* an ended stream takes nothing more; for events the push says so itself (FV_ECLOSED), so
     * the fan-out takes the connection's lock once per delivery, not twice */
    bool is_event = m->kind == FV_MSG_EVENT || m->kind == FV_MSG_STREAM;
    if (!is_event && fv_conn_is_done(c)) {
        sub_close(s);
        return FV_SUB_OK;
    }
    bool catching = !s->live;
    char head[FV_CURSOR_MAX + 8];
    int hl;
    fv_status st;
    switch (m->kind) {
    case FV_MSG_LIVE: s->live = true; return FV_SUB_OK;
    case FV_MSG_END: end_terminal(s, "until"); return FV_SUB_OK;
    case FV_MSG_ERROR:
        fv_log(FV_LOG_WARN, "stream", "subscription failed; client will reconnect", "error",
               m->error ? m->error : "", NULL);
        finish_with_event(s, NULL, NULL, fv_sse_jitter(FV_SSE_RETRY_BASE_MS));
        return FV_SUB_OK;
    case FV_MSG_GAP: {
        char req[FV_CURSOR_MAX], from[FV_CURSOR_MAX], data[3 * FV_CURSOR_MAX];
        fv_cursor_format(&m->gap_requested, req, sizeof req);
        fv_cursor_format(&m->gap_resumed_from, from, sizeof from);
        snprintf(data, sizeof data, "{\"requested\":\"%s\",\"resumed_from\":\"%s\"}", req, from);
        fv_buf b = FV_BUF_INIT;
        fv_sse_event(&b, from, "gap", data, strlen(data));
        fv_frame *gf = b.oom ? NULL : fv_frame_new(b.data, b.len);
        fv_buf_free(&b);
        if (!gf)
            return out_of_memory(s);
        /* a full queue pauses the replay like any frame: its drain resumes the subscription */
        st = fv_conn_push(c, NULL, 0, gf, FV_CONN_CONTROL_SLACK, catching, &s->reg->batch);
        fv_frame_unref(gf);
        if (st == FV_EFULL)
            return catching ? FV_SUB_PAUSE : FV_SUB_OK;
        atomic_fetch_add(&fv_gw_metrics.gaps_sent, 1);
        return FV_SUB_OK;
    }
    case FV_MSG_EVENT:
    case FV_MSG_STREAM: break;
    }
    fv_frame *f = fv_frame_for_msg(m);
    if (!f)
        return out_of_memory(s);
    memcpy(head, "id: ", 4); /* built by hand: once per delivery (see fv_cursor_format) */
    fv_cursor_format(&m->cursor, head + 4, sizeof head - 5);
    hl = 4 + (int)strlen(head + 4);
    head[hl++] = '\n';
    /* the round's last message is written now; others wait for the round's one write */
    st = fv_conn_push(c, head, (size_t)hl, f, 0, catching, m->more ? &s->reg->batch : NULL);
    fv_frame_unref(f);
    if (st == FV_EFULL) {
        if (catching)
            return FV_SUB_PAUSE;
        atomic_fetch_add(&fv_gw_metrics.slow_disconnects, 1);
        char data[64];
        int retry = fv_sse_jitter(FV_SSE_RETRY_BASE_MS);
        snprintf(data, sizeof data, "{\"reason\":\"slow_client\",\"retry_ms\":%d}", retry);
        finish_with_event(s, "overloaded", data, retry);
        return FV_SUB_OK;
    }
    if (st != FV_OK) {
        sub_close(s);
        return FV_SUB_OK;
    }
    atomic_fetch_add(&fv_gw_metrics.events_delivered, 1);
    /* how far the stream source has been delivered (close_on_terminal waits on it) */
    uint64_t sseq = m->kind == FV_MSG_STREAM ? m->seq : m->cursor.streams_seq;
    if (sseq > atomic_load(&s->streams_seq_seen))
        atomic_store(&s->streams_seq_seen, sseq);
    if (m->kind == FV_MSG_EVENT && s->q.close_on_terminal && is_terminal(s, m->ev)) {
        if (!fv_pattern_wants_streams(&s->pattern) || s->ep == FV_EP_TENANT) {
            end_terminal(s, "terminal");
            return FV_SUB_OK;
        }
        if (!atomic_load(&s->terminal_seen)) {
            atomic_store(&s->terminal_at, fv_monotonic_ms());
            pthread_mutex_lock(&s->reg->mu); /* counted while registered (reg_remove) */
            if (s->registered && !atomic_load(&s->terminal_seen))
                atomic_fetch_add(&s->reg->terminals, 1);
            atomic_store(&s->terminal_seen, true);
            pthread_mutex_unlock(&s->reg->mu);
        }
    }
    /* the replay limit never cuts a stream that is about to `end`: a resume after the terminal
     * event would wait for an end that never comes */
    if (catching && ++s->replayed >= (uint64_t)s->gw->cfg.replay_limit &&
        !atomic_load(&s->terminal_seen)) {
        atomic_fetch_add(&fv_gw_metrics.replay_limit_closes, 1);
        finish_with_event(s, NULL, NULL, FV_SSE_RETRY_SHORT_MS);
        return FV_SUB_OK;
    }
    return FV_SUB_OK;
}

/* A pause is always answered by a resume: FV_SUB_PAUSE is returned only when the queue refused
 * the frame and marked itself paused, so its drain calls conn_on_drain; a drain that comes while
 * this callback is still running is kept by the bus (engine.c, resume_early). */
static int on_msg(void *ud, const fv_msg *m)
{
    return deliver(ud, m);
}

static void on_release(void *ud)
{
    fv_stream *s = ud;
    fv_conn_unref(&s->conn);
}

/* --- conn callbacks ------------------------------------------------------------------------ */

static void conn_on_drain(fv_conn *c)
{
    sub_kick((fv_stream *)c);
}

static void conn_on_closed(fv_conn *c)
{
    fv_stream *s = (fv_stream *)c;
    sub_close(s);
    reg_remove(s->reg, s);
    if (fv_log_enabled(FV_LOG_DEBUG)) {
        char bytes[24];
        snprintf(bytes, sizeof bytes, "%llu", (unsigned long long)c->bytes_sent);
        fv_log(FV_LOG_DEBUG, "stream", "closed", "tenant", s->pr.tenant_id, "endpoint",
               fv_endpoint_name(s->ep), "id", s->root, "bytes", bytes, NULL);
    }
}

static void conn_destroy(fv_conn *c)
{
    fv_stream *s = (fv_stream *)c;
    fv_gw_query_clear(&s->q);
    fv_principal_clear(&s->pr);
    pthread_mutex_destroy(&s->sub_mu);
    pthread_mutex_destroy(&s->desc.mu);
    free(s->desc.ids);
    free(s);
}

static const fv_conn_ops g_conn_ops = {conn_on_drain, conn_on_closed, conn_destroy};

/* --- opening a stream ---------------------------------------------------------------------- */

static const char *get_arg(void *ud, const char *key)
{
    return MHD_lookup_connection_value(ud, MHD_GET_ARGUMENT_KIND, key);
}

enum MHD_Result fv_stream_refuse_overloaded(struct MHD_Connection *mc, const char *reason)
{
    atomic_fetch_add(&fv_gw_metrics.overloaded_refusals, 1);
    fv_buf b = FV_BUF_INIT;
    int retry = fv_sse_jitter(FV_SSE_RETRY_BASE_MS * 2);
    char data[96];
    snprintf(data, sizeof data, "{\"reason\":\"%s\",\"retry_ms\":%d}", reason, retry);
    fv_sse_retry(&b, retry);
    fv_sse_event(&b, NULL, "overloaded", data, strlen(data));
    struct MHD_Response *r =
        b.oom ? NULL : MHD_create_response_from_buffer(b.len, b.data, MHD_RESPMEM_MUST_COPY);
    fv_buf_free(&b);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    fv_http_common_headers(mc, r);
    enum MHD_Result ret = MHD_queue_response(mc, MHD_HTTP_OK, r);
    MHD_destroy_response(r);
    return ret;
}

static int read_cb_ignore(void *ud, const fv_msg *m)
{
    (void)ud;
    (void)m;
    return FV_SUB_OK;
}

/* Rebuilds the descendant set of a consolidated stream from history up to the cursor, so that a
 * resume follows children that started before it. Runs on the request thread, bounded. */
static void desc_rebuild(fv_stream *s)
{
    fv_start st = {.kind = FV_START_FIRST};
    if (s->gw->first_seq_hint)
        s->gw->first_seq_hint(s->gw->first_seq_hint_ud, s->pr.tenant_id, s->root, &st.events_seq,
                              &st.streams_seq);
    st.streams_seq = 0;
    fv_pattern p = s->pattern;
    fv_types_filter *lifecycle = NULL; /* every lifecycle event, whatever the client selects */
    if (fv_types_filter_parse("events", FV_TYPES_DEFAULT_ALL, &lifecycle, NULL) != FV_OK)
        return;
    p.types = lifecycle;
    int page = 0;
    for (; page < DESC_REBUILD_PAGES; page++) {
        fv_cursor next = {0};
        fv_err err = {{0}};
        if (fv_bus_read(s->gw->bus, &p, &st, DESC_REBUILD_PAGE, read_cb_ignore, NULL, &next,
                        &err) != FV_OK)
            break;
        if (next.events_seq >= s->q.cursor.events_seq ||
            (st.kind == FV_START_CURSOR && next.events_seq == st.cursor.events_seq))
            break;
        st.kind = FV_START_CURSOR;
        st.cursor = next;
    }
    if (page == DESC_REBUILD_PAGES)
        fv_log(FV_LOG_WARN, "stream",
               "consolidated resume: descendant lookup cut short; children that started long "
               "before the cursor may be missed",
               "tenant", s->pr.tenant_id, "workflow", s->root, NULL);
    fv_types_filter_destroy(lifecycle);
}

enum MHD_Result fv_stream_open(fv_gw *gw, struct MHD_Connection *mc, fv_endpoint ep, const char *id,
                               fv_principal *pr)
{
    fv_err err = {{0}};
    if (atomic_load(&gw->stopping)) {
        fv_principal_clear(pr);
        return fv_stream_refuse_overloaded(mc, "shutting_down");
    }
    if (id) {
        const char *field = ep == FV_EP_TASK ? "task_execution_id" : "workflow_execution_id";
        if (fv_id_validate(field, id, strlen(id), &err) != FV_OK) {
            fv_principal_clear(pr);
            return fv_http_error(mc, 400, "bad_request", err.msg, 0);
        }
    }
    fv_stream *s = calloc(1, sizeof *s);
    if (!s) {
        fv_principal_clear(pr);
        return MHD_NO;
    }
    fv_conn_init(&s->conn, (size_t)gw->cfg.queue_bytes, &g_conn_ops, gw->loop);
    pthread_mutex_init(&s->sub_mu, NULL);
    pthread_mutex_init(&s->desc.mu, NULL);
    s->gw = gw;
    s->reg = gw->streams;
    s->ep = ep;
    s->pr = *pr;
    memset(pr, 0, sizeof *pr); /* moved */
    if (id)
        snprintf(s->root, sizeof s->root, "%s", id);

    const char *leid = MHD_lookup_connection_value(mc, MHD_HEADER_KIND, "Last-Event-ID");
    fv_types_default dflt = ep == FV_EP_TENANT ? FV_TYPES_DEFAULT_LIFECYCLE : FV_TYPES_DEFAULT_ALL;
    if (fv_gw_query_parse_stream(&s->q, dflt, get_arg, mc, leid, &err) != FV_OK) {
        fv_conn_unref(&s->conn);
        return fv_http_error(mc, 400, "bad_request", err.msg, 0);
    }
    fv_pattern *p = &s->pattern;
    fv_pattern_init(p, s->pr.tenant_id);
    p->types = s->q.types;
    p->allowed = s->pr.allowed;
    snprintf(p->source, sizeof p->source, "%s", s->q.source);
    snprintf(p->task_execution_id, sizeof p->task_execution_id, "%s", s->q.task_execution_id);
    fv_start_kind first = FV_START_FIRST;
    switch (ep) {
    case FV_EP_TENANT:
        snprintf(p->workflow_execution_id, sizeof p->workflow_execution_id, "%s",
                 s->q.workflow_execution_id);
        first = FV_START_NEW;
        break;
    case FV_EP_WORKFLOW:
        snprintf(p->workflow_execution_id, sizeof p->workflow_execution_id, "%s", s->root);
        break;
    case FV_EP_CONSOLIDATED:
        s->has_desc = true;
        idset_add(&s->desc, s->root);
        p->accept = consolidated_accept;
        p->accept_ud = &s->desc;
        break;
    case FV_EP_TASK:
        snprintf(p->task_execution_id, sizeof p->task_execution_id, "%s", s->root);
        break;
    default: break;
    }
    if (fv_pattern_validate(p, &err) != FV_OK) {
        fv_conn_unref(&s->conn);
        return fv_http_error(mc, 400, "bad_request", err.msg, 0);
    }
    fv_gw_query_start(&s->q, first, &s->start);
    if (s->start.kind == FV_START_NEW)
        s->live = true; /* nothing to replay: the replay limit does not apply */
    if (s->start.kind == FV_START_FIRST && gw->first_seq_hint && ep != FV_EP_TENANT) {
        gw->first_seq_hint(gw->first_seq_hint_ud, s->pr.tenant_id, s->root, &s->start.events_seq,
                           &s->start.streams_seq);
        /* descendants start after the root's first lifecycle event, but their stream events may
         * come before the root's own first one */
        if (ep == FV_EP_CONSOLIDATED)
            s->start.streams_seq = 0;
    }

    if (reg_add(gw->streams, s) != FV_OK) {
        fv_conn_unref(&s->conn);
        return fv_stream_refuse_overloaded(mc, "too_many_streams");
    }
    /* Shutdown sets `stopping` before it snapshots the registry: a stream registered after the
     * snapshot sees the flag here, so no stream escapes the drain. */
    if (atomic_load(&gw->stopping)) {
        reg_remove(gw->streams, s);
        fv_conn_unref(&s->conn);
        return fv_stream_refuse_overloaded(mc, "shutting_down");
    }
    struct MHD_Response *resp = fv_conn_response(&s->conn, mc);
    if (!resp) {
        reg_remove(gw->streams, s);
        fv_conn_unref(&s->conn);
        return MHD_NO;
    }
    char first_frame[32];
    int n = snprintf(first_frame, sizeof first_frame, "retry: %d\n\n",
                     fv_sse_jitter(FV_SSE_RETRY_BASE_MS));
    fv_conn_push_bytes(&s->conn, first_frame, (size_t)n, FV_CONN_CONTROL_SLACK);

    if (ep == FV_EP_CONSOLIDATED && s->q.has_cursor) {
        desc_rebuild(s);
    }
    if (s->start.kind != FV_START_NEW)
        atomic_fetch_add(&fv_gw_metrics.replays_started, 1);

    fv_sub_config sc = {0};
    sc.pattern = *p;
    sc.start = s->start;
    sc.on_msg = on_msg;
    sc.on_release = on_release;
    sc.ud = s;
    fv_conn_ref(&s->conn); /* the bus's reference, dropped by on_release */
    fv_sub *sub = NULL;
    fv_status st = fv_bus_subscribe(gw->bus, &sc, &sub, &err);
    if (st != FV_OK) {
        fv_conn_unref(&s->conn);    /* the bus never took it */
        MHD_destroy_response(resp); /* runs the free callback: closed + unregistered */
        fv_conn_unref(&s->conn);
        fv_log(FV_LOG_WARN, "stream", "subscribe failed", "error", err.msg, NULL);
        if (st == FV_EINVAL)
            return fv_http_error(mc, 400, "bad_request", err.msg, 0);
        /* like a capacity limit: 200 + retry: + overloaded, so EventSource comes back later
         * (it gives up for good on a non-200 answer) */
        return fv_stream_refuse_overloaded(mc, "unavailable");
    }
    sub_set(s, sub);
    if (fv_conn_is_paused_with_room(&s->conn))
        sub_kick(s);

    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    fv_http_common_headers(mc, resp);
    enum MHD_Result ret = MHD_queue_response(mc, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    fv_conn_unref(&s->conn); /* the creator's */
    return ret;
}

/* --- timer and shutdown -------------------------------------------------------------------- */

typedef struct pending_scan {
    uint64_t target, last;
    size_t n;
} pending_scan;

static int pending_cb(void *ud, const fv_msg *m)
{
    pending_scan *p = ud;
    if (m->kind == FV_MSG_STREAM) {
        p->n++;
        if (m->seq <= p->target && m->seq > p->last)
            p->last = m->seq;
    }
    return FV_SUB_OK;
}

/* this stream's selection, stream events only (the kinds the client asked for) */
static bool terminal_accept(void *ud, const fv_event *ev, const fv_stream_event *se)
{
    fv_stream *s = ud;
    if (!se || !fv_types_filter_match_kind(s->q.types, se->kind))
        return false;
    return !s->has_desc || consolidated_accept(&s->desc, ev, se);
}

/* The sequence of the last stream event this stream must still deliver before `end`: the ones
 * stored up to `target` (the stream's last sequence when the terminal event was seen) that the
 * client has not had yet. 0 when there are none. Read from the store, so the answer does not
 * depend on how the two sources interleave on the live path. */
static uint64_t pending_stream_seq(fv_stream *s, uint64_t target)
{
    uint64_t seen = atomic_load(&s->streams_seq_seen);
    if (seen >= target)
        return 0;
    fv_types_filter *kinds = NULL;
    if (fv_types_filter_parse("token,progress,data,error", FV_TYPES_DEFAULT_ALL, &kinds, NULL) !=
        FV_OK)
        return target;
    fv_pattern p = s->pattern;
    p.types = kinds;
    p.accept = terminal_accept;
    p.accept_ud = s;
    fv_start st = {.kind = FV_START_SEQ, .streams_seq = seen + 1};
    pending_scan ps = {target, 0, 0};
    fv_cursor next;
    fv_err err = {{0}};
    fv_status rc =
        fv_bus_read(s->gw->bus, &p, &st, TERMINAL_SCAN_MAX, pending_cb, &ps, &next, &err);
    fv_types_filter_destroy(kinds);
    if (rc != FV_OK || ps.n >= TERMINAL_SCAN_MAX)
        return target; /* unknown: wait for the cursor to pass the target, bounded */
    return ps.last;
}

/* a finished stream whose client does not take its last bytes is closed after this long */
#define FINISH_GRACE_MS 10000

static void tick_one(fv_stream *s, bool heartbeat, fv_frame *ka, int64_t now_wall, int64_t now_mono)
{
    fv_conn *c = &s->conn;
    if (fv_conn_is_done(c)) {
        fv_conn_expire(c, now_mono, FINISH_GRACE_MS);
        return;
    }
    if (s->pr.exp_ms > 0 && now_wall >= s->pr.exp_ms) {
        atomic_fetch_add(&fv_gw_metrics.auth_expired_closes, 1);
        finish_with_event(s, "auth_expired", "{\"reason\":\"token_expired\"}", 0);
        return;
    }
    if (atomic_load(&s->terminal_seen)) {
        if (!s->target_known) {
            uint64_t last = 0;
            fv_err err = {{0}};
            if (fv_bus_last_seq(s->gw->bus, FV_SRC_STREAMS, &last, &err) == FV_OK) {
                s->streams_pending = pending_stream_seq(s, last);
                s->target_known = true;
            }
        }
        int64_t t0 = atomic_load(&s->terminal_at);
        if ((s->target_known && atomic_load(&s->streams_seq_seen) >= s->streams_pending) ||
            now_mono - t0 >= s->gw->cfg.terminal_wait_ms) {
            end_terminal(s, "terminal");
            return;
        }
    }
    if (heartbeat && ka)
        fv_conn_push(c, NULL, 0, ka, FV_CONN_CONTROL_SLACK, false, NULL);
}

/* r->mu held. Between heartbeats a stream needs the timer only when its token expired or it saw
 * its terminal event: thousands of idle streams then cost a glance at a few words each, not a
 * reference, three locks and a call apiece. */
static bool wants_tick(fv_stream *s, int64_t now_wall)
{
    return (s->pr.exp_ms > 0 && now_wall >= s->pr.exp_ms) || atomic_load(&s->terminal_seen);
}

void fv_streams_tick(fv_streams *r, bool heartbeat)
{
    int64_t now = fv_now_ms();
    if (!heartbeat) {
        /* nothing expired and nothing terminal: no walk (20,000 idle streams cost a cache miss
         * each per walk - a quarter of an idle gateway's CPU, perf) */
        pthread_mutex_lock(&r->mu);
        bool need = atomic_load(&r->terminals) > 0 || (r->next_expiry && now >= r->next_expiry);
        pthread_mutex_unlock(&r->mu);
        if (!need)
            return;
    }
    size_t n;
    fv_stream **arr = reg_snapshot(r, heartbeat ? NULL : wants_tick, now, &n);
    if (!arr)
        return;
    fv_frame *ka = heartbeat ? fv_frame_keepalive() : NULL;
    int64_t wall = fv_now_ms(), mono = fv_monotonic_ms();
    for (size_t i = 0; i < n; i++) {
        tick_one(arr[i], heartbeat, ka, wall, mono);
        fv_conn_unref(&arr[i]->conn);
    }
    fv_frame_unref(ka);
    free(arr);
}

void fv_streams_drain(fv_streams *r)
{
    size_t n;
    fv_stream **arr = reg_snapshot(r, NULL, 0, &n);
    if (!arr)
        return;
    for (size_t i = 0; i < n; i++) {
        finish_with_event(arr[i], NULL, NULL, fv_sse_jitter(FV_SSE_RETRY_BASE_MS));
        fv_conn_unref(&arr[i]->conn);
    }
    free(arr);
}
