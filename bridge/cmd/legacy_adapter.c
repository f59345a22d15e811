/* legacy_adapter.c - Flovyn's legacy subjects to canonical events; see legacy_adapter.h.
 *
 * NATS callbacks only copy the message into a bounded queue: with global message delivery one
 * NATS thread serves every subscription, and a blocking publish inside it could wait on an ack
 * that the same thread has to deliver. One worker thread of our own maps, publishes (blocking,
 * durable), and keeps the list of messages waiting for the registry to learn their workflow's
 * tenant. Waiting messages are retried in arrival order before anything newer, so a workflow's
 * messages keep their order once its tenant is known.
 *
 * Ids: a legacy event without one, and every lifecycle payload from the streams subject (whose
 * snapshot `id` names the entity, not the event), get a name-based id hashed from what identifies
 * the event, so a redelivered message dedups in FLOVYN_EVENTS instead of being stored twice.
 */
#include "legacy_adapter.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flovyn/core_sub.h"
#include "flovyn/hmap.h"
#include "flovyn/json.h"
#include "flovyn/legacy.h"
#include "flovyn/log.h"
#include "flovyn/stream.h"
#include "flovyn/subject.h"
#include "flovyn/units.h"
#include "provision.h"

#define FETCH_BATCH 64
#define IDLE_WAIT_MS 200
#define TENANT_CACHE 1024
#define TENANT_CACHE_TTL_MS 60000
#define SOURCE_LEGACY "flovyn-legacy"
#define PUBLISH_RETRY_MS 60000
#define STOP_BUDGET_MS 5000
#define PUBLISH_BATCH 256
#define WAITING_SLOTS TENANT_CACHE

typedef struct item {
    struct item *next;
    char *subject;
    char *data;
    size_t len;
    char *content_type;                         /* NULL = none */
    fv_durable_msg *dm;                         /* capture mode: acknowledged once settled */
    char workflow[FV_ID_MAX + 1];               /* set while waiting */
    int64_t first_ms, deadline_ms, next_try_ms; /* monotonic; deadline 0 = not waiting yet */
    char why[FV_ERR_MSG_MAX];                   /* last reason it could not be mapped */
    /* the canonical event once mapped (OUT_READY), until it is published */
    fv_event ev;
    fv_stream_event se;
    bool has_ev, has_se;
} item;

typedef struct item_list {
    item *head, *tail;
    size_t n;
} item_list;

typedef struct tenant_slot {
    char workflow[FV_ID_MAX + 1];
    char tenant[FV_ID_MAX + 1];
    int64_t until_ms;
} tenant_slot;

struct fv_legacy_adapter {
    fv_bus *bus;
    fv_registry *reg;
    fv_legacy_config cfg;
    char lp[FV_PREFIX_MAX + 1]; /* legacy prefix */
    fv_core_sub *subs[2];
    fv_durable *durable;
    pthread_t thread;
    bool thread_started;

    pthread_mutex_t mu; /* queue, stop, stats */
    pthread_cond_t cond;
    item_list queue;
    size_t held_bytes; /* queue + waiting + in hand */
    bool stop;
    fv_legacy_stats stats;

    /* worker thread only */
    item_list waiting;
    uint32_t waiting_slots[WAITING_SLOTS];
    tenant_slot *tenants;
    fv_buf scratch;
};

/* READY: mapped, to be published; DONE: stored; WAIT: tenant unknown yet; RETRY: NATS failed;
 * INVALID: can never be mapped */
typedef enum outcome { OUT_DONE = 0, OUT_READY, OUT_WAIT, OUT_RETRY, OUT_INVALID } outcome;

/* drops a mapped-but-unpublished event (the item is parked and will be mapped again) */
static void item_unprepare(item *it)
{
    if (it->has_ev)
        fv_event_clear(&it->ev);
    if (it->has_se)
        fv_stream_event_clear(&it->se);
    it->has_ev = it->has_se = false;
}

static void item_free(item *it)
{
    if (!it)
        return;
    item_unprepare(it);
    if (it->dm)
        fv_durable_msg_destroy(it->dm);
    free(it->subject);
    free(it->data);
    free(it->content_type);
    free(it);
}

static void list_push(item_list *l, item *it)
{
    it->next = NULL;
    if (l->tail)
        l->tail->next = it;
    else
        l->head = it;
    l->tail = it;
    l->n++;
}

static item *list_pop(item_list *l)
{
    item *it = l->head;
    if (!it)
        return NULL;
    l->head = it->next;
    if (!l->head)
        l->tail = NULL;
    l->n--;
    it->next = NULL;
    return it;
}

static void bump(fv_legacy_adapter *a, uint64_t *field)
{
    pthread_mutex_lock(&a->mu);
    (*field)++;
    pthread_mutex_unlock(&a->mu);
}

static item *item_new(const char *subject, const void *data, size_t len, const char *ct)
{
    item *it = calloc(1, sizeof *it);
    if (!it)
        return NULL;
    it->subject = strdup(subject ? subject : "");
    it->data = malloc(len + 1);
    it->content_type = ct ? strdup(ct) : NULL;
    if (!it->subject || !it->data || (ct && !it->content_type)) {
        item_free(it);
        return NULL;
    }
    memcpy(it->data, data, len);
    it->data[len] = '\0';
    it->len = len;
    return it;
}

/* --- ids and small helpers ---------------------------------------------------------------------
 */

/* name-based id (UUID layout, version 5 bits) from the parts, NUL-separated */
static void hashed_id(char out[FV_ID_MAX + 1], const char *const *parts, size_t n)
{
    unsigned char h[EVP_MAX_MD_SIZE] = {0};
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1) {
        for (size_t i = 0; i < n; i++) {
            const char *p = parts[i] ? parts[i] : "";
            EVP_DigestUpdate(c, p, strlen(p) + 1);
        }
        EVP_DigestFinal_ex(c, h, NULL);
    }
    EVP_MD_CTX_free(c);
    h[6] = (unsigned char)((h[6] & 0x0f) | 0x50);
    h[8] = (unsigned char)((h[8] & 0x3f) | 0x80);
    snprintf(out, FV_ID_MAX + 1,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", h[0], h[1],
             h[2], h[3], h[4], h[5], h[6], h[7], h[8], h[9], h[10], h[11], h[12], h[13], h[14],
             h[15]);
}

/* "TASK_CREATED" -> "task.created"; dotted names are lower-cased; anything else as given */
static fv_status normalize_type(const char *in, char *out, size_t cap, fv_err *err)
{
    bool upper = false, dot = false;
    for (const char *p = in; *p; p++) {
        upper |= *p >= 'A' && *p <= 'Z';
        dot |= *p == '.';
    }
    if (upper && !dot)
        return fv_legacy_to_type(in, out, cap, err);
    size_t n = strlen(in);
    if (n >= cap)
        return fv_err_set(err, FV_EINVAL, "event_type: more than %zu bytes", cap - 1);
    for (size_t i = 0; i <= n; i++)
        out[i] = (char)tolower((unsigned char)in[i]);
    return FV_OK;
}

static bool span_is_ci(fv_span v, const char *lit)
{
    /* v is a string span with quotes */
    size_t n = strlen(lit);
    if (v.n != n + 2)
        return false;
    return strncasecmp(v.p + 1, lit, n) == 0;
}

/* decoded string member of an object span, "" when absent, null or not a string */
static void member_str(fv_span obj, const char *k1, const char *k2, char *out, size_t cap)
{
    out[0] = '\0';
    fv_json_iter it;
    fv_json_iter_init(&it, obj.p, obj.n);
    fv_span key, val;
    fv_json_kind kind;
    fv_err e = {{0}};
    while (fv_json_next_member(&it, &key, &val, &kind, &e) == 1) {
        if (!fv_json_key_is(key, k1) && !(k2 && fv_json_key_is(key, k2)))
            continue;
        if (kind == FV_JSON_STRING && fv_json_string_decode(val, out, cap, NULL, &e) != FV_OK)
            out[0] = '\0';
        return;
    }
}

/* --- tenant lookup ------------------------------------------------------------------------------
 */

static size_t slot_of(const char *w)
{
    return (size_t)(fv_hash_str(w) % TENANT_CACHE);
}

/* FV_OK (tenant set), FV_ENOTFOUND, or another error (registry unreachable) */
static fv_status tenant_of(fv_legacy_adapter *a, const char *workflow, char *tenant, fv_err *err)
{
    tenant_slot *s = &a->tenants[slot_of(workflow)];
    int64_t now = fv_monotonic_ms();
    if (!strcmp(s->workflow, workflow) && s->until_ms > now) {
        memcpy(tenant, s->tenant, sizeof s->tenant);
        return FV_OK;
    }
    fv_registry_entry e;
    fv_status st = fv_registry_get(a->reg, workflow, &e, err);
    if (st != FV_OK)
        return st;
    snprintf(s->workflow, sizeof s->workflow, "%s", workflow);
    snprintf(s->tenant, sizeof s->tenant, "%s", e.tenant_id);
    s->until_ms = now + TENANT_CACHE_TTL_MS;
    memcpy(tenant, e.tenant_id, sizeof e.tenant_id);
    return FV_OK;
}

/* --- publishing ------------------------------------------------------------------------------- */

static outcome published(fv_legacy_adapter *a, item *it, fv_status st, const fv_publish_result *r,
                         const fv_err *err)
{
    if (st == FV_OK) {
        pthread_mutex_lock(&a->mu);
        a->stats.mapped++;
        if (r->duplicate)
            a->stats.duplicates++;
        pthread_mutex_unlock(&a->mu);
        return OUT_DONE;
    }
    snprintf(it->why, sizeof it->why, "%s", err->msg[0] ? err->msg : fv_status_name(st));
    return st == FV_EINVAL || st == FV_ETOOBIG ? OUT_INVALID : OUT_RETRY;
}

static outcome invalid(item *it, const char *fmt, const char *arg)
{
    snprintf(it->why, sizeof it->why, fmt, arg);
    return OUT_INVALID;
}

/* flovyn.events.<tenant>.<type...>: rewrite the envelope with a canonical event_type (and the
 * tenant, id and source it may lack), then decode it with the one FlovynEvent codec */
static outcome map_event(fv_legacy_adapter *a, item *it, const char *rest)
{
    char tenant[FV_ID_MAX + 1];
    const char *dot = strchr(rest, '.');
    if (!dot || (size_t)(dot - rest) > FV_ID_MAX)
        return invalid(it, "legacy subject %s: expected <prefix>.events.<tenant>.<type>",
                       it->subject);
    memcpy(tenant, rest, (size_t)(dot - rest));
    tenant[dot - rest] = '\0';
    fv_err err = {{0}};
    if (fv_id_validate("tenant_id", tenant, strlen(tenant), &err) != FV_OK)
        return invalid(it, "legacy subject: %s", err.msg);
    const char *subj_type = dot + 1;

    fv_json_kind kind;
    if (fv_json_validate(it->data, it->len, FV_JSON_MAX_DEPTH, &kind, &err) != FV_OK)
        return invalid(it, "legacy event: %s", err.msg);
    if (kind != FV_JSON_OBJECT)
        return invalid(it, "%s", "legacy event: not a JSON object");

    fv_buf *b = &a->scratch;
    fv_buf_reset(b);
    fv_buf_putc(b, '{');
    bool first = true, has_tenant = false, has_id = false, has_source = false;
    char type_in[FV_TYPE_MAX + 1] = "";
    fv_json_iter jt;
    fv_json_iter_init(&jt, it->data, it->len);
    fv_span key, val;
    int r;
    while ((r = fv_json_next_member(&jt, &key, &val, &kind, &err)) == 1) {
        if (fv_json_key_is(key, "event_type") || fv_json_key_is(key, "eventType")) {
            if (kind != FV_JSON_STRING ||
                fv_json_string_decode(val, type_in, sizeof type_in, NULL, &err) != FV_OK)
                return invalid(it, "%s", "legacy event: event_type is not a short string");
            continue;
        }
        bool is_id = fv_json_key_is(key, "id");
        bool is_tenant = fv_json_key_is(key, "tenant_id") || fv_json_key_is(key, "tenantId");
        bool is_source = fv_json_key_is(key, "source");
        if ((is_id || is_tenant || is_source) && kind == FV_JSON_NULL)
            continue; /* treated as absent: filled below */
        has_id |= is_id;
        has_tenant |= is_tenant;
        has_source |= is_source;
        if (!first)
            fv_buf_putc(b, ',');
        first = false;
        fv_buf_putc(b, '"');
        fv_buf_append(b, key.p, key.n);
        fv_buf_puts(b, "\":");
        fv_buf_append(b, val.p, val.n);
    }
    if (r < 0)
        return invalid(it, "legacy event: %s", err.msg);
    char type[FV_TYPE_MAX + 1];
    if (normalize_type(type_in[0] ? type_in : subj_type, type, sizeof type, &err) != FV_OK)
        return invalid(it, "legacy event: %s", err.msg);
    fv_json_put_key(b, "event_type", first);
    fv_json_put_cstr(b, type);
    if (!has_tenant) {
        fv_json_put_key(b, "tenant_id", false);
        fv_json_put_cstr(b, tenant);
    }
    if (!has_id) {
        char id[FV_ID_MAX + 1];
        const char *parts[3] = {"legacy-event", it->subject, it->data};
        hashed_id(id, parts, 3);
        fv_json_put_key(b, "id", false);
        fv_json_put_cstr(b, id);
    }
    if (!has_source) {
        fv_json_put_key(b, "source", false);
        fv_json_put_cstr(b, SOURCE_LEGACY);
    }
    fv_buf_putc(b, '}');
    if (fv_buf_status(b) != FV_OK)
        return OUT_RETRY;

    fv_event ev;
    fv_event_init(&ev);
    fv_status st = fv_event_from_json(&ev, b->data, b->len, NULL, &err);
    if (st == FV_OK && strcmp(ev.tenant_id, tenant) != 0)
        st = fv_err_set(&err, FV_EINVAL,
                        "tenant_id '%s' in the body differs from '%s' in the subject", ev.tenant_id,
                        tenant);
    if (st == FV_OK)
        st = fv_event_fill_defaults(&ev);
    if (st != FV_OK) {
        fv_event_clear(&ev);
        return invalid(it, "legacy event: %s", err.msg);
    }
    it->ev = ev; /* the item owns ev.data from here */
    it->has_ev = true;
    return OUT_READY;
}

/* a {"type":"Event","event":"TASK_CREATED","data":{snapshot},"timestampMs":N} payload */
static outcome map_stream_lifecycle(fv_legacy_adapter *a, item *it, const char *workflow,
                                    const char *tenant)
{
    fv_err err = {{0}};
    char name[FV_TYPE_MAX + 1] = "";
    fv_span data = {"null", 4}, snapshot = {NULL, 0};
    int64_t ts = 0;
    fv_json_iter jt;
    fv_json_iter_init(&jt, it->data, it->len);
    fv_span key, val;
    fv_json_kind kind;
    int r;
    while ((r = fv_json_next_member(&jt, &key, &val, &kind, &err)) == 1) {
        if (fv_json_key_is(key, "event") || fv_json_key_is(key, "eventType") ||
            fv_json_key_is(key, "event_type")) {
            if (kind != FV_JSON_STRING ||
                fv_json_string_decode(val, name, sizeof name, NULL, &err) != FV_OK)
                return invalid(it, "%s", "legacy stream lifecycle: event is not a short string");
        } else if (fv_json_key_is(key, "data")) {
            data = val;
            if (kind == FV_JSON_OBJECT)
                snapshot = val;
        } else if ((fv_json_key_is(key, "timestampMs") || fv_json_key_is(key, "timestamp_ms")) &&
                   kind == FV_JSON_NUMBER) {
            if (fv_json_int64(val, &ts, &err) != FV_OK || ts < 0)
                ts = 0;
        }
    }
    if (r < 0)
        return invalid(it, "legacy stream lifecycle: %s", err.msg);
    if (!name[0])
        return invalid(it, "%s", "legacy stream lifecycle: no \"event\" name");

    fv_event ev;
    fv_event_init(&ev);
    if (normalize_type(name, ev.event_type, sizeof ev.event_type, &err) != FV_OK)
        return invalid(it, "legacy stream lifecycle: %s", err.msg);
    snprintf(ev.tenant_id, sizeof ev.tenant_id, "%s", tenant);
    snprintf(ev.workflow_execution_id, sizeof ev.workflow_execution_id, "%s", workflow);
    snprintf(ev.source, sizeof ev.source, "%s", SOURCE_LEGACY);
    if (snapshot.p) {
        char sid[FV_ID_MAX + 1];
        member_str(snapshot, "taskExecutionId", "task_execution_id", ev.task_execution_id,
                   sizeof ev.task_execution_id);
        /* a task snapshot's `id` is the task; a workflow snapshot's `id` is the workflow */
        member_str(snapshot, "id", NULL, sid, sizeof sid);
        if (!ev.task_execution_id[0] && sid[0] && strcmp(sid, workflow) != 0 &&
            !strncmp(ev.event_type, "task.", 5))
            snprintf(ev.task_execution_id, sizeof ev.task_execution_id, "%s", sid);
        member_str(snapshot, "parentWorkflowExecutionId", "parent_workflow_execution_id",
                   ev.parent_workflow_execution_id, sizeof ev.parent_workflow_execution_id);
    }
    ev.timestamp_ms = ts;
    char tsbuf[32];
    snprintf(tsbuf, sizeof tsbuf, "%lld", (long long)ts);
    const char *parts[5] = {"legacy-stream-event", workflow, name, tsbuf, ev.task_execution_id};
    hashed_id(ev.id, parts, 5);
    fv_status st = fv_event_set_data(&ev, data.p, data.n, NULL, &err);
    if (st == FV_OK)
        st = fv_event_fill_defaults(&ev);
    if (st == FV_OK)
        st = fv_event_validate(&ev, NULL, &err);
    if (st != FV_OK) {
        fv_event_clear(&ev);
        return invalid(it, "legacy stream lifecycle: %s", err.msg);
    }
    it->ev = ev; /* the item owns ev.data from here */
    it->has_ev = true;
    return OUT_READY;
}

/* flovyn.streams.workflow.<wf> */
static outcome map_stream(fv_legacy_adapter *a, item *it, const char *workflow)
{
    fv_err err = {{0}};
    if (fv_id_validate("workflow_execution_id", workflow, strlen(workflow), &err) != FV_OK)
        return invalid(it, "legacy subject: %s", err.msg);
    fv_json_kind kind;
    if (fv_json_validate(it->data, it->len, FV_JSON_MAX_DEPTH, &kind, &err) != FV_OK)
        return invalid(it, "legacy stream event: %s", err.msg);
    if (kind != FV_JSON_OBJECT)
        return invalid(it, "%s", "legacy stream event: not a JSON object");
    bool lifecycle = false;
    fv_json_iter jt;
    fv_json_iter_init(&jt, it->data, it->len);
    fv_span key, val;
    while (fv_json_next_member(&jt, &key, &val, &kind, &err) == 1)
        if (fv_json_key_is(key, "type") && kind == FV_JSON_STRING && span_is_ci(val, "event"))
            lifecycle = true;

    char tenant[FV_ID_MAX + 1];
    fv_status st = tenant_of(a, workflow, tenant, &err);
    if (st != FV_OK) {
        snprintf(it->workflow, sizeof it->workflow, "%s", workflow);
        if (st == FV_ENOTFOUND)
            snprintf(it->why, sizeof it->why,
                     "workflow %s is not in the registry (no lifecycle event with its tenant was "
                     "stored)",
                     workflow);
        else
            snprintf(it->why, sizeof it->why, "registry lookup failed: %.200s", err.msg);
        return OUT_WAIT;
    }
    if (lifecycle)
        return map_stream_lifecycle(a, it, workflow, tenant);

    fv_stream_event se;
    fv_stream_event_init(&se);
    st = fv_stream_event_from_json(&se, it->data, it->len, NULL, &err);
    if (st == FV_OK && se.workflow_execution_id[0] && strcmp(se.workflow_execution_id, workflow))
        st = fv_err_set(&err, FV_EINVAL, "workflowExecutionId '%s' differs from the subject's '%s'",
                        se.workflow_execution_id, workflow);
    if (st == FV_OK) {
        snprintf(se.workflow_execution_id, sizeof se.workflow_execution_id, "%s", workflow);
        snprintf(se.tenant_id, sizeof se.tenant_id, "%s", tenant);
        if (!se.timestamp_ms)
            se.timestamp_ms = fv_now_ms();
        st = fv_stream_event_validate(&se, NULL, &err);
    }
    if (st != FV_OK) {
        fv_stream_event_clear(&se);
        return invalid(it, "legacy stream event: %s", err.msg);
    }
    it->se = se;
    it->has_se = true;
    return OUT_READY;
}

static outcome map_item(fv_legacy_adapter *a, item *it)
{
    size_t lpn = strlen(a->lp);
    const char *s = it->subject;
    if (strncmp(s, a->lp, lpn) != 0 || s[lpn] != '.')
        return invalid(it, "unexpected subject %s", s);
    s += lpn + 1;
    if (!strncmp(s, "events.", 7))
        return map_event(a, it, s + 7);
    if (!strncmp(s, "streams.workflow.", 17) && !strchr(s + 17, '.'))
        return map_stream(a, it, s + 17);
    return invalid(it, "unexpected subject %s", it->subject);
}

/* --- settling ------------------------------------------------------------------------------------
 */

/* dead-letters it; false when even that failed (capture mode: redelivered later) */
static bool dead_letter(fv_legacy_adapter *a, item *it, const char *reason)
{
    char msg_id[64];
    if (it->dm)
        snprintf(msg_id, sizeof msg_id, "legacy-%llu",
                 (unsigned long long)fv_durable_msg_seq(it->dm));
    fv_dlq_entry e = {
        .origin = "legacy",
        .subject = it->subject,
        .data = it->data,
        .len = it->len,
        .content_type = it->content_type,
        .reason = reason,
        .msg_id = it->dm ? msg_id : NULL,
    };
    fv_err err = {{0}};
    fv_status st = fv_dlq_publish(a->bus, &e, &err);
    if (st == FV_OK)
        fv_log(FV_LOG_WARN, "legacy", "dead-lettered", "subject", it->subject, "reason", reason,
               NULL);
    else
        fv_log(FV_LOG_ERROR, "legacy", "dead-lettering failed", "subject", it->subject, "reason",
               reason, "error", err.msg, NULL);
    if (st == FV_OK)
        bump(a, &a->stats.dead_lettered);
    else
        bump(a, &a->stats.errors);
    return st == FV_OK;
}

/* the item is done with: its bytes no longer count against max_bytes */
static void release(fv_legacy_adapter *a, item *it)
{
    pthread_mutex_lock(&a->mu);
    a->held_bytes -= it->len < a->held_bytes ? it->len : a->held_bytes;
    pthread_mutex_unlock(&a->mu);
    item_free(it);
}

static void settle(fv_legacy_adapter *a, item *it, bool ok)
{
    if (it->dm) {
        if (ok)
            fv_durable_msg_ack(it->dm);
        else
            fv_durable_msg_nak(it->dm, 1000);
    }
    release(a, it);
}

/* Whether a workflow has messages waiting, without walking the list for every new message: a
 * count per hash slot of the waiting messages' workflows. A collision only makes a new message
 * queue behind the waiting ones for one retry pass. */
static bool waiting_for(fv_legacy_adapter *a, const char *workflow)
{
    return a->waiting_slots[slot_of(workflow)] > 0;
}

static void wait_push(fv_legacy_adapter *a, item *it)
{
    if (it->workflow[0])
        a->waiting_slots[slot_of(it->workflow)]++;
    list_push(&a->waiting, it);
}

/* workflow of a streams subject, or NULL */
static const char *stream_workflow(fv_legacy_adapter *a, const char *subject)
{
    size_t lpn = strlen(a->lp);
    if (strncmp(subject, a->lp, lpn) != 0 || strncmp(subject + lpn, ".streams.workflow.", 18))
        return NULL;
    return subject + lpn + 18;
}

static void park(fv_legacy_adapter *a, item *it, outcome o, int64_t now)
{
    /* the registry gets wait_ms to learn a workflow; NATS itself gets longer to come back */
    if (!it->deadline_ms) {
        it->first_ms = now;
        it->deadline_ms =
            now + (o == OUT_RETRY && a->cfg.wait_ms < PUBLISH_RETRY_MS ? PUBLISH_RETRY_MS
                                                                       : a->cfg.wait_ms);
    }
    it->next_try_ms = now + a->cfg.retry_ms;
    wait_push(a, it);
}

/* settles an item after an attempt, or parks it in the waiting list */
static void finish(fv_legacy_adapter *a, item *it, outcome o)
{
    int64_t now = fv_monotonic_ms();
    item_unprepare(it);
    if (o == OUT_DONE) {
        settle(a, it, true);
        return;
    }
    if (o == OUT_INVALID) {
        bump(a, &a->stats.invalid);
        settle(a, it, dead_letter(a, it, it->why));
        return;
    }
    if (it->deadline_ms && now >= it->deadline_ms) {
        char reason[FV_ERR_MSG_MAX + 64];
        snprintf(reason, sizeof reason, "legacy: %s; gave up after %lld ms", it->why,
                 (long long)(now - it->first_ms));
        settle(a, it, dead_letter(a, it, reason));
        return;
    }
    if (a->waiting.n >= a->cfg.max_waiting) {
        char reason[FV_ERR_MSG_MAX + 64];
        snprintf(reason, sizeof reason, "legacy: %s; %zu messages already waiting", it->why,
                 a->waiting.n);
        settle(a, it, dead_letter(a, it, reason));
        return;
    }
    if (!it->workflow[0]) {
        const char *w = stream_workflow(a, it->subject);
        if (w)
            snprintf(it->workflow, sizeof it->workflow, "%s", w);
    }
    park(a, it, o, now);
}

/* Mapped items are published together: one pipelined batch instead of one round trip each. */
typedef struct batch {
    item *items[PUBLISH_BATCH];
    fv_publish_item pub[PUBLISH_BATCH];
    size_t n;
} batch;

static void batch_flush(fv_legacy_adapter *a, batch *b)
{
    if (!b->n)
        return;
    for (size_t i = 0; i < b->n; i++) {
        memset(&b->pub[i], 0, sizeof b->pub[i]);
        b->pub[i].ev = b->items[i]->has_ev ? &b->items[i]->ev : NULL;
        b->pub[i].se = b->items[i]->has_se ? &b->items[i]->se : NULL;
    }
    fv_err err = {{0}};
    fv_status st = fv_bus_publish_batch(a->bus, b->pub, b->n, &err);
    for (size_t i = 0; i < b->n; i++) {
        fv_publish_item *p = &b->pub[i];
        outcome o = st == FV_OK ? published(a, b->items[i], p->status, &p->result, &p->err)
                                : published(a, b->items[i], st, &p->result, &err);
        finish(a, b->items[i], o);
    }
    b->n = 0;
}

/* one attempt: mapped items join the batch, the others are settled or parked at once */
static void process(fv_legacy_adapter *a, batch *b, item *it)
{
    outcome o = map_item(a, it);
    if (o != OUT_READY) {
        finish(a, it, o);
        return;
    }
    b->items[b->n++] = it;
    if (b->n == PUBLISH_BATCH)
        batch_flush(a, b);
}

/* a new message: behind its workflow's waiting messages, if any, to keep their order */
static void process_new(fv_legacy_adapter *a, batch *b, item *it)
{
    bump(a, &a->stats.received);
    const char *w = a->waiting.n ? stream_workflow(a, it->subject) : NULL;
    if (w && a->waiting.n < a->cfg.max_waiting && waiting_for(a, w)) {
        snprintf(it->workflow, sizeof it->workflow, "%s", w);
        snprintf(it->why, sizeof it->why, "workflow %s is not in the registry", w);
        it->first_ms = fv_monotonic_ms();
        it->deadline_ms = it->first_ms + a->cfg.wait_ms;
        it->next_try_ms = 0;
        wait_push(a, it);
        return;
    }
    process(a, b, it);
}

/* Retries the waiting messages that are due, in arrival order. Once one message of a workflow
 * stays behind (not due yet, or still unmappable), every later one of that workflow stays too, so
 * a workflow's messages are stored in the order they arrived. */
static void retry_due(fv_legacy_adapter *a, bool all)
{
    int64_t now = fv_monotonic_ms();
    item_list due = a->waiting;
    memset(&a->waiting, 0, sizeof a->waiting);
    memset(a->waiting_slots, 0, sizeof a->waiting_slots);
    batch b;
    b.n = 0;
    item *it;
    while ((it = list_pop(&due))) {
        /* the waiting count of a slot is the "held back in this pass" mark: only what was
         * pushed back (or parked) in this pass is counted */
        bool held = it->workflow[0] && waiting_for(a, it->workflow);
        if (held || (!all && it->next_try_ms > now))
            wait_push(a, it);
        else
            process(a, &b, it);
    }
    batch_flush(a, &b);
}

static int64_t next_due(fv_legacy_adapter *a)
{
    int64_t t = INT64_MAX;
    for (item *w = a->waiting.head; w; w = w->next)
        if (w->next_try_ms < t)
            t = w->next_try_ms;
    return t;
}

/* --- input ------------------------------------------------------------------------------------ */

static void on_core_msg(void *ud, const fv_core_msg *msg)
{
    fv_legacy_adapter *a = ud;
    size_t len = 0;
    const void *data = fv_core_msg_data(msg, &len);
    item *it =
        item_new(fv_core_msg_subject(msg), data, len, fv_core_msg_header(msg, "Content-Type"));
    pthread_mutex_lock(&a->mu);
    bool full =
        !it || a->queue.n >= a->cfg.queue_capacity || a->held_bytes + it->len > a->cfg.max_bytes;
    if (full) {
        a->stats.overflow++;
    } else {
        a->held_bytes += it->len;
        list_push(&a->queue, it);
        pthread_cond_signal(&a->cond);
    }
    pthread_mutex_unlock(&a->mu);
    if (full) {
        /* not silent: the count is exported and the message named; --legacy-capture avoids it */
        fv_log(FV_LOG_ERROR, "legacy", "hand-off queue full, message lost", "subject",
               fv_core_msg_subject(msg), NULL);
        item_free(it);
    }
}

static bool stopping(fv_legacy_adapter *a)
{
    pthread_mutex_lock(&a->mu);
    bool s = a->stop;
    pthread_mutex_unlock(&a->mu);
    return s;
}

static void take_core(fv_legacy_adapter *a, int64_t wait_ms, item_list *out)
{
    struct timespec ts;
    fv_deadline_ms(&ts, CLOCK_REALTIME, wait_ms);
    pthread_mutex_lock(&a->mu);
    if (!a->queue.n && !a->stop)
        pthread_cond_timedwait(&a->cond, &a->mu, &ts);
    *out = a->queue;
    memset(&a->queue, 0, sizeof a->queue);
    pthread_mutex_unlock(&a->mu);
}

static void take_capture(fv_legacy_adapter *a, int64_t wait_ms, item_list *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&a->mu);
    bool over = a->held_bytes >= a->cfg.max_bytes;
    pthread_mutex_unlock(&a->mu);
    if (over) {
        /* the waiting list holds the budget: leave the rest in the stream until it drains */
        fv_sleep_ms(wait_ms > 0 ? wait_ms : 1);
        return;
    }
    fv_durable_msg *msgs[FETCH_BATCH];
    size_t n = 0;
    fv_err err = {{0}};
    fv_status st = fv_durable_fetch(a->durable, FETCH_BATCH, (int)wait_ms, msgs, &n, &err);
    if (st != FV_OK && st != FV_ETIMEOUT) {
        bump(a, &a->stats.errors);
        fv_log(FV_LOG_DEBUG, "legacy", "fetch failed", "error", err.msg, NULL);
        fv_sleep_ms(200);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        size_t len = 0;
        const void *data = fv_durable_msg_data(msgs[i], &len);
        item *it = item_new(fv_durable_msg_subject(msgs[i]), data, len,
                            fv_durable_msg_header(msgs[i], "Content-Type"));
        if (!it) {
            fv_durable_msg_nak(msgs[i], 1000);
            fv_durable_msg_destroy(msgs[i]);
            continue;
        }
        it->dm = msgs[i];
        pthread_mutex_lock(&a->mu);
        a->held_bytes += it->len;
        pthread_mutex_unlock(&a->mu);
        list_push(out, it);
    }
}

static void *worker_main(void *arg)
{
    fv_legacy_adapter *a = arg;
    int64_t next_lag = 0;
    while (!stopping(a)) {
        if (a->durable && fv_monotonic_ms() >= next_lag) {
            uint64_t pending = 0;
            fv_err e = {{0}};
            if (fv_durable_pending(a->durable, &pending, &e) == FV_OK) {
                pthread_mutex_lock(&a->mu);
                a->stats.capture_pending = pending;
                pthread_mutex_unlock(&a->mu);
            }
            next_lag = fv_monotonic_ms() + 5000;
        }
        /* older messages first: they may be mappable now */
        retry_due(a, false);
        int64_t wait = IDLE_WAIT_MS, due = next_due(a);
        if (due != INT64_MAX) {
            int64_t d = due - fv_monotonic_ms();
            wait = d < 1 ? 1 : d < wait ? d : wait;
        }
        item_list in;
        if (a->durable)
            take_capture(a, wait, &in);
        else
            take_core(a, wait, &in);
        batch b;
        b.n = 0;
        item *it;
        while ((it = list_pop(&in)))
            process_new(a, &b, it);
        batch_flush(a, &b);
        pthread_mutex_lock(&a->mu);
        a->stats.waiting = a->waiting.n;
        pthread_mutex_unlock(&a->mu);
    }
    return NULL;
}

/* --- lifecycle -------------------------------------------------------------------------------- */

static fv_status start_capture(fv_legacy_adapter *a, fv_err *err)
{
    char s1[FV_SUBJECT_MAX], s2[FV_SUBJECT_MAX], s3[FV_SUBJECT_MAX];
    /* `*.*` and `*.*.>` do not overlap (the second needs a fifth token), and neither overlaps the
     * canonical `<prefix>.v1.>` subjects */
    snprintf(s1, sizeof s1, "%s.events.*.*", a->lp);
    snprintf(s2, sizeof s2, "%s.events.*.*.>", a->lp);
    snprintf(s3, sizeof s3, "%s.streams.workflow.*", a->lp);
    const char *subjects[3] = {s1, s2, s3};
    fv_stream_config sc = {.name = FV_LEGACY_STREAM,
                           .subjects = subjects,
                           .nsubjects = 3,
                           .max_age_ms = a->cfg.capture_max_age_ms,
                           .replicas = a->cfg.replicas};
    fv_status st = fv_stream_ensure(a->bus, &sc, err);
    if (st != FV_OK)
        return st;
    /* a held message must not be redelivered while it waits (registry) or retries (NATS) */
    int64_t held = a->cfg.wait_ms > PUBLISH_RETRY_MS ? a->cfg.wait_ms : PUBLISH_RETRY_MS;
    int64_t ack_wait = held + 30000;
    fv_durable_config dc = {
        .stream = FV_LEGACY_STREAM,
        .name = "flovyn-legacy",
        .filter_subject = NULL,
        .ack_wait_ms = ack_wait,
        .max_ack_pending = (int64_t)a->cfg.max_waiting + FETCH_BATCH,
    };
    st = fv_bus_durable_ensure(a->bus, &dc, err);
    if (st == FV_OK)
        st = fv_bus_durable_open(a->bus, FV_LEGACY_STREAM, "flovyn-legacy", &a->durable, err);
    return st;
}

static fv_status start_core(fv_legacy_adapter *a, fv_err *err)
{
    if (fv_bus_is_memory(a->bus))
        return fv_err_set(err, FV_ENOTSUP, "legacy adapter needs NATS (--nats-url)");
    char s1[FV_SUBJECT_MAX], s2[FV_SUBJECT_MAX];
    snprintf(s1, sizeof s1, "%s.events.*.>", a->lp);
    snprintf(s2, sizeof s2, "%s.streams.workflow.*", a->lp);
    const char *subjects[2] = {s1, s2};
    for (int i = 0; i < 2; i++) {
        fv_status st = fv_bus_core_subscribe(a->bus, subjects[i], on_core_msg, a, &a->subs[i], err);
        if (st != FV_OK)
            return fv_err_prefix(err, st, "legacy: ");
    }
    return FV_OK;
}

static void stop_core(fv_legacy_adapter *a)
{
    for (int i = 0; i < 2; i++) {
        /* drains, then waits: no callback can touch the adapter once this returns */
        fv_core_sub_close(a->subs[i]);
        a->subs[i] = NULL;
    }
}

fv_status fv_legacy_start(fv_bus *bus, fv_registry *reg, const fv_legacy_config *cfg,
                          fv_legacy_adapter **out, fv_err *err)
{
    *out = NULL;
    fv_legacy_adapter *a = calloc(1, sizeof *a);
    if (!a || !(a->tenants = calloc(TENANT_CACHE, sizeof *a->tenants))) {
        free(a);
        return fv_err_set(err, FV_ENOMEM, "legacy: out of memory");
    }
    a->bus = bus;
    a->reg = reg;
    if (cfg)
        a->cfg = *cfg;
    const char *lp =
        a->cfg.legacy_prefix && *a->cfg.legacy_prefix ? a->cfg.legacy_prefix : FV_PREFIX_DEFAULT;
    fv_status st = fv_prefix_validate(lp, err);
    if (st != FV_OK) {
        free(a->tenants);
        free(a);
        return fv_err_prefix(err, st, "legacy prefix: ");
    }
    snprintf(a->lp, sizeof a->lp, "%s", lp);
    if (a->cfg.wait_ms <= 0)
        a->cfg.wait_ms = 5000;
    if (a->cfg.retry_ms <= 0)
        a->cfg.retry_ms = a->cfg.wait_ms / 5 > 0 ? a->cfg.wait_ms / 5 : 1;
    if (!a->cfg.max_waiting)
        a->cfg.max_waiting = 10000;
    if (!a->cfg.queue_capacity)
        a->cfg.queue_capacity = 65536;
    if (!a->cfg.max_bytes)
        a->cfg.max_bytes = 64u << 20;
    if (a->cfg.capture_max_age_ms <= 0)
        a->cfg.capture_max_age_ms = 3600LL * 1000;
    pthread_mutex_init(&a->mu, NULL);
    pthread_cond_init(&a->cond, NULL);
    fv_buf_init(&a->scratch);
    st = a->cfg.capture ? start_capture(a, err) : start_core(a, err);
    if (st == FV_OK && pthread_create(&a->thread, NULL, worker_main, a) != 0)
        st = fv_err_set(err, FV_ENOMEM, "legacy: cannot start a thread");
    if (st != FV_OK) {
        fv_legacy_stop(a);
        return st;
    }
    a->thread_started = true;
    *out = a;
    return FV_OK;
}

void fv_legacy_stop(fv_legacy_adapter *a)
{
    if (!a)
        return;
    stop_core(a); /* no new input */
    pthread_mutex_lock(&a->mu);
    a->stop = true;
    pthread_cond_broadcast(&a->cond);
    pthread_mutex_unlock(&a->mu);
    if (a->thread_started)
        pthread_join(a->thread, NULL);
    /* what was handed over but not yet mapped: one last attempt, in order, within a time budget
     * (with NATS down every publish would wait out its timeouts) */
    int64_t deadline = fv_monotonic_ms() + STOP_BUDGET_MS;
    item *it;
    while ((it = list_pop(&a->queue))) {
        if (fv_monotonic_ms() < deadline) {
            batch b;
            b.n = 0;
            process_new(a, &b, it);
            batch_flush(a, &b);
            continue;
        }
        bump(a, &a->stats.errors);
        fv_log(FV_LOG_ERROR, "legacy", "stopping: message not mapped in time, lost", "subject",
               it->subject, NULL);
        release(a, it);
    }
    while ((it = list_pop(&a->waiting))) {
        if (it->dm) {
            settle(a, it, false); /* capture: redelivered after restart */
            continue;
        }
        if (fv_monotonic_ms() >= deadline) {
            bump(a, &a->stats.errors);
            fv_log(FV_LOG_ERROR, "legacy", "stopping: waiting message not mapped in time, lost",
                   "subject", it->subject, "reason", it->why, NULL);
            release(a, it);
            continue;
        }
        batch b;
        b.n = 0;
        outcome o = map_item(a, it);
        if (o == OUT_READY) {
            b.items[b.n++] = it;
            b.pub[0] = (fv_publish_item){.ev = it->has_ev ? &it->ev : NULL,
                                         .se = it->has_se ? &it->se : NULL};
            fv_err err = {{0}};
            fv_status st = fv_bus_publish_batch(a->bus, b.pub, 1, &err);
            o = published(a, it, st == FV_OK ? b.pub[0].status : st, &b.pub[0].result,
                          st == FV_OK ? &b.pub[0].err : &err);
        }
        item_unprepare(it);
        if (o == OUT_DONE) {
            release(a, it);
            continue;
        }
        char reason[FV_ERR_MSG_MAX + 64];
        snprintf(reason, sizeof reason, "legacy: %s; the bridge stopped while it waited", it->why);
        dead_letter(a, it, reason);
        release(a, it);
    }
    if (a->durable)
        fv_durable_close(a->durable);
    fv_buf_free(&a->scratch);
    pthread_mutex_destroy(&a->mu);
    pthread_cond_destroy(&a->cond);
    free(a->tenants);
    free(a);
}

void fv_legacy_get_stats(fv_legacy_adapter *a, fv_legacy_stats *out)
{
    pthread_mutex_lock(&a->mu);
    *out = a->stats;
    pthread_mutex_unlock(&a->mu);
}

void fv_legacy_metrics(fv_legacy_adapter *a, fv_buf *out)
{
    fv_legacy_stats s;
    fv_legacy_get_stats(a, &s);
    static const char *const names[] = {"received_total", "mapped_total",        "duplicates_total",
                                        "waiting",        "dead_lettered_total", "invalid_total",
                                        "overflow_total", "errors_total",        "capture_pending"};
    const uint64_t vals[] = {s.received, s.mapped,        s.duplicates,
                             s.waiting,  s.dead_lettered, s.invalid,
                             s.overflow, s.errors,        s.capture_pending};
    for (size_t i = 0; i < sizeof vals / sizeof vals[0]; i++) {
        bool gauge = !strstr(names[i], "_total");
        fv_buf_printf(out, "# TYPE flovyn_bridge_legacy_%s %s\nflovyn_bridge_legacy_%s %llu\n",
                      names[i], gauge ? "gauge" : "counter", names[i], (unsigned long long)vals[i]);
    }
}
