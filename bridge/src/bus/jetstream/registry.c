/* registry.c - the workflow registry in the KV bucket FLOVYN_WORKFLOWS; see registry.h.
 *
 * Writes are compare-and-set on the KV revision (fv_kv_create for a new key, fv_kv_update with
 * the revision read), so two maintainer threads (events, streams) or two bridges never lose
 * each other's fields and a first sequence, once recorded, is never replaced. A small
 * direct-mapped cache remembers workflows whose entry already holds everything an observation
 * could add, so a token stream does not cost one KV read per token.
 *
 * The maintainer reads both streams through durable consumers (not the live subjects): what was
 * stored while the bridge was down is still recorded when it comes back.
 */
#include "flovyn/registry.h"

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flovyn/hmap.h"
#include "flovyn/kv.h"
#include "flovyn/log.h"
#include "flovyn/stored.h"
#include "flovyn/subject.h"
#include "flovyn/units.h"

#define CACHE_SLOTS 4096
#define CAS_ATTEMPTS 16
#define FETCH_BATCH 256
#define FETCH_WAIT_MS 500
#define LAG_PERIOD_MS 5000

typedef struct cache_slot {
    char workflow[FV_ID_MAX + 1];
    char tenant[FV_ID_MAX + 1];
    char status[FV_WF_STATUS_MAX];
    uint64_t first_events_seq, first_streams_seq; /* 0: none yet */
    bool has_parent;
} cache_slot;

struct fv_registry {
    fv_bus *bus;
    fv_kv *kv;
    pthread_mutex_t lock; /* cache */
    cache_slot *cache;
};

/* --- buckets ---------------------------------------------------------------------------------- */

fv_status fv_registry_provision(fv_bus *bus, int64_t ttl_ms, int replicas, fv_err *err)
{
    fv_kv_config kc = {.bucket = FV_BUCKET_WORKFLOWS, .ttl_ms = ttl_ms, .replicas = replicas};
    return fv_kv_ensure(bus, &kc, err);
}

/* --- open / get ---------------------------------------------------------------------------------
 */

fv_status fv_registry_open(fv_bus *bus, fv_registry **out, fv_err *err)
{
    *out = NULL;
    if (fv_bus_is_memory(bus))
        return fv_err_set(err, FV_ENOTSUP, "workflow registry needs JetStream (--nats-url)");
    fv_registry *reg = calloc(1, sizeof *reg);
    if (!reg || !(reg->cache = calloc(CACHE_SLOTS, sizeof *reg->cache))) {
        free(reg);
        return fv_err_set(err, FV_ENOMEM, "registry: out of memory");
    }
    fv_kv_config kc = {.bucket = FV_BUCKET_WORKFLOWS};
    fv_status st = fv_kv_open(bus, &kc, &reg->kv, err);
    if (st != FV_OK) {
        free(reg->cache);
        free(reg);
        return st;
    }
    pthread_mutex_init(&reg->lock, NULL);
    reg->bus = bus;
    *out = reg;
    return FV_OK;
}

void fv_registry_close(fv_registry *reg)
{
    if (!reg)
        return;
    fv_kv_close(reg->kv);
    pthread_mutex_destroy(&reg->lock);
    free(reg->cache);
    free(reg);
}

static void copy_str(char *dst, size_t cap, const char *src)
{
    snprintf(dst, cap, "%s", src ? src : "");
}

static fv_status record_parse(const char *workflow, const void *data, size_t len,
                              fv_registry_entry *e, fv_err *err)
{
    memset(e, 0, sizeof *e);
    copy_str(e->workflow_execution_id, sizeof e->workflow_execution_id, workflow);
    json_error_t jerr;
    json_t *root = json_loadb(data, len, 0, &jerr);
    if (!root || !json_is_object(root)) {
        json_decref(root);
        return fv_err_set(err, FV_EINVAL, "registry entry %s: not a JSON object", workflow);
    }
    copy_str(e->tenant_id, sizeof e->tenant_id,
             json_string_value(json_object_get(root, "tenant_id")));
    copy_str(e->parent_workflow_execution_id, sizeof e->parent_workflow_execution_id,
             json_string_value(json_object_get(root, "parent_workflow_execution_id")));
    copy_str(e->status, sizeof e->status, json_string_value(json_object_get(root, "status")));
    e->first_events_seq = (uint64_t)json_integer_value(json_object_get(root, "first_events_seq"));
    e->first_streams_seq = (uint64_t)json_integer_value(json_object_get(root, "first_streams_seq"));
    e->created_ms = json_integer_value(json_object_get(root, "created_ms"));
    e->updated_ms = json_integer_value(json_object_get(root, "updated_ms"));
    json_decref(root);
    if (!e->tenant_id[0])
        return fv_err_set(err, FV_EINVAL, "registry entry %s: no tenant_id", workflow);
    return FV_OK;
}

/* The stored record (jansson: this JSON is the project's own). */
static char *record_dump(const fv_registry_entry *e)
{
    json_t *o = json_object();
    json_object_set_new(o, "tenant_id", json_string(e->tenant_id));
    json_object_set_new(o, "parent_workflow_execution_id",
                        e->parent_workflow_execution_id[0]
                            ? json_string(e->parent_workflow_execution_id)
                            : json_null());
    json_object_set_new(o, "status", json_string(e->status));
    json_object_set_new(o, "first_events_seq", json_integer((json_int_t)e->first_events_seq));
    json_object_set_new(o, "first_streams_seq", json_integer((json_int_t)e->first_streams_seq));
    json_object_set_new(o, "created_ms", json_integer(e->created_ms));
    json_object_set_new(o, "updated_ms", json_integer(e->updated_ms));
    char *s = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    return s;
}

/* 1 = found, 0 = not found, negative = error */
static int kv_read(fv_registry *reg, const char *workflow, fv_registry_entry *out, fv_err *err)
{
    char *val = NULL;
    size_t len = 0;
    uint64_t rev = 0;
    fv_status st = fv_kv_get(reg->kv, workflow, &val, &len, &rev, err);
    if (st == FV_ENOTFOUND)
        return 0;
    if (st != FV_OK)
        return fv_err_prefix(err, st, "registry get: ");
    st = record_parse(workflow, val, len, out, err);
    out->revision = rev;
    free(val);
    return st == FV_OK ? 1 : st;
}

fv_status fv_registry_get(fv_registry *reg, const char *workflow, fv_registry_entry *out,
                          fv_err *err)
{
    fv_status st = fv_id_validate("workflow_execution_id", workflow, strlen(workflow), err);
    if (st != FV_OK)
        return st;
    int r = kv_read(reg, workflow, out, err);
    if (r == 0)
        return fv_err_set(err, FV_ENOTFOUND, "workflow %s is not in the registry", workflow);
    return r < 0 ? r : FV_OK;
}

fv_status fv_registry_entry_to_json(const fv_registry_entry *e, fv_buf *out)
{
    fv_buf_putc(out, '{');
    fv_json_put_key(out, "workflow_execution_id", true);
    fv_json_put_cstr(out, e->workflow_execution_id);
    fv_json_put_key(out, "tenant_id", false);
    fv_json_put_cstr(out, e->tenant_id);
    fv_json_put_key(out, "parent_workflow_execution_id", false);
    fv_json_put_str_or_null(out, e->parent_workflow_execution_id);
    fv_json_put_key(out, "status", false);
    fv_json_put_cstr(out, e->status);
    fv_json_put_key(out, "first_events_seq", false);
    fv_json_put_uint(out, e->first_events_seq);
    fv_json_put_key(out, "first_streams_seq", false);
    fv_json_put_uint(out, e->first_streams_seq);
    fv_json_put_key(out, "created_ms", false);
    fv_json_put_int(out, e->created_ms);
    fv_json_put_key(out, "updated_ms", false);
    fv_json_put_int(out, e->updated_ms);
    fv_buf_putc(out, '}');
    return fv_buf_status(out);
}

/* --- status -------------------------------------------------------------------------------------
 */

const char *fv_registry_status_for_type(const char *event_type, bool *terminal)
{
    static const char *const running[] = {"started", "created", "resumed", "running", "scheduled"};
    static const struct {
        const char *suffix, *status;
    } ends[] = {
        {"completed", "completed"}, {"failed", "failed"},         {"cancelled", "cancelled"},
        {"canceled", "cancelled"},  {"terminated", "terminated"}, {"timed_out", "timed_out"},
    };
    if (terminal)
        *terminal = false;
    if (!event_type || strncmp(event_type, "workflow.", 9) != 0)
        return NULL;
    const char *rest = event_type + 9;
    for (size_t i = 0; i < sizeof ends / sizeof ends[0]; i++)
        if (!strcmp(rest, ends[i].suffix)) {
            if (terminal)
                *terminal = true;
            return ends[i].status;
        }
    for (size_t i = 0; i < sizeof running / sizeof running[0]; i++)
        if (!strcmp(rest, running[i]))
            return "running";
    return NULL;
}

static bool status_terminal(const char *status)
{
    return status[0] && strcmp(status, "running") != 0;
}

/* --- observe ------------------------------------------------------------------------------------
 */

static size_t slot_of(const char *workflow)
{
    return (size_t)(fv_hash_str(workflow) % CACHE_SLOTS);
}

/* true when the entry already holds everything o could add */
static bool cache_covers(fv_registry *reg, const fv_registry_obs *o, const char *status,
                         fv_err *err, fv_status *conflict)
{
    bool covered = false;
    *conflict = FV_OK;
    pthread_mutex_lock(&reg->lock);
    cache_slot *c = &reg->cache[slot_of(o->workflow_execution_id)];
    if (!strcmp(c->workflow, o->workflow_execution_id)) {
        if (strcmp(c->tenant, o->tenant_id) != 0) {
            *conflict = fv_err_set(err, FV_ECONFLICT, "workflow %s belongs to tenant %s, not %s",
                                   o->workflow_execution_id, c->tenant, o->tenant_id);
        } else if (o->source == FV_SRC_STREAMS) {
            covered = c->first_streams_seq && o->seq >= c->first_streams_seq;
        } else {
            bool parent_ok = c->has_parent || !o->parent_workflow_execution_id ||
                             !o->parent_workflow_execution_id[0];
            bool status_ok = !status || !strcmp(c->status, status) || status_terminal(c->status);
            covered =
                c->first_events_seq && o->seq >= c->first_events_seq && parent_ok && status_ok;
        }
    }
    pthread_mutex_unlock(&reg->lock);
    return covered;
}

static void cache_put(fv_registry *reg, const fv_registry_entry *e)
{
    pthread_mutex_lock(&reg->lock);
    cache_slot *c = &reg->cache[slot_of(e->workflow_execution_id)];
    copy_str(c->workflow, sizeof c->workflow, e->workflow_execution_id);
    copy_str(c->tenant, sizeof c->tenant, e->tenant_id);
    copy_str(c->status, sizeof c->status, e->status);
    c->first_events_seq = e->first_events_seq;
    c->first_streams_seq = e->first_streams_seq;
    c->has_parent = e->parent_workflow_execution_id[0] != '\0';
    pthread_mutex_unlock(&reg->lock);
}

static void cache_drop(fv_registry *reg, const char *workflow)
{
    pthread_mutex_lock(&reg->lock);
    cache_slot *c = &reg->cache[slot_of(workflow)];
    if (!strcmp(c->workflow, workflow))
        memset(c, 0, sizeof *c);
    pthread_mutex_unlock(&reg->lock);
}

/* applies o to e; true if e changed */
static bool merge(fv_registry_entry *e, const fv_registry_obs *o, const char *status, int64_t now)
{
    bool changed = false;
    /* the lowest sequence seen, not the first observed: bridges sharing the registry's durable
     * consumer (or a redelivery) can observe a workflow's second event before its first, and a
     * workflow stream that started at the second would never show the first */
    uint64_t *first = o->source == FV_SRC_EVENTS ? &e->first_events_seq : &e->first_streams_seq;
    if (o->seq && (*first == 0 || o->seq < *first)) {
        *first = o->seq;
        changed = true;
    }
    if (!e->parent_workflow_execution_id[0] && o->parent_workflow_execution_id &&
        o->parent_workflow_execution_id[0]) {
        copy_str(e->parent_workflow_execution_id, sizeof e->parent_workflow_execution_id,
                 o->parent_workflow_execution_id);
        changed = true;
    }
    /* a terminal status is final: a late `workflow.started` redelivered after `completed` must
     * not reopen it */
    if (status && strcmp(e->status, status) != 0 && !status_terminal(e->status)) {
        copy_str(e->status, sizeof e->status, status);
        changed = true;
    }
    if (changed)
        e->updated_ms = now;
    return changed;
}

fv_status fv_registry_observe(fv_registry *reg, const fv_registry_obs *o, fv_err *err)
{
    fv_status st;
    if ((st = fv_id_validate("tenant_id", o->tenant_id, strlen(o->tenant_id), err)) != FV_OK ||
        (st = fv_id_validate("workflow_execution_id", o->workflow_execution_id,
                             strlen(o->workflow_execution_id), err)) != FV_OK)
        return st;
    const char *status =
        o->source == FV_SRC_EVENTS ? fv_registry_status_for_type(o->event_type, NULL) : NULL;
    fv_status conflict;
    if (cache_covers(reg, o, status, err, &conflict))
        return FV_OK;
    if (conflict != FV_OK)
        return conflict;
    int64_t now = o->time_ms ? o->time_ms : fv_now_ms();
    for (int attempt = 0; attempt < CAS_ATTEMPTS; attempt++) {
        fv_registry_entry e;
        int r = kv_read(reg, o->workflow_execution_id, &e, err);
        if (r < 0 && r != FV_EINVAL)
            return r;
        fv_status ws;
        fv_err werr = {{0}};
        if (r == 1) {
            if (strcmp(e.tenant_id, o->tenant_id) != 0) {
                cache_put(reg, &e);
                return fv_err_set(err, FV_ECONFLICT, "workflow %s belongs to tenant %s, not %s",
                                  o->workflow_execution_id, e.tenant_id, o->tenant_id);
            }
            if (!merge(&e, o, status, now)) {
                cache_put(reg, &e);
                return FV_OK;
            }
            char *rec = record_dump(&e);
            if (!rec)
                return fv_err_set(err, FV_ENOMEM, "registry: out of memory");
            ws = fv_kv_update(reg->kv, o->workflow_execution_id, rec, strlen(rec), e.revision, NULL,
                              &werr);
            free(rec);
        } else {
            /* new (or an unreadable record, which is replaced by a fresh one) */
            uint64_t bad_rev = r == 0 ? 0 : e.revision;
            memset(&e, 0, sizeof e);
            copy_str(e.workflow_execution_id, sizeof e.workflow_execution_id,
                     o->workflow_execution_id);
            copy_str(e.tenant_id, sizeof e.tenant_id, o->tenant_id);
            copy_str(e.status, sizeof e.status, status ? status : "running");
            e.created_ms = now;
            merge(&e, o, NULL, now);
            e.updated_ms = now;
            char *rec = record_dump(&e);
            if (!rec)
                return fv_err_set(err, FV_ENOMEM, "registry: out of memory");
            if (r == 0)
                ws = fv_kv_create(reg->kv, o->workflow_execution_id, rec, strlen(rec), NULL, &werr);
            else
                ws = fv_kv_update(reg->kv, o->workflow_execution_id, rec, strlen(rec), bad_rev,
                                  NULL, &werr);
            free(rec);
        }
        if (ws == FV_OK) {
            cache_put(reg, &e);
            return FV_OK;
        }
        /* somebody else wrote first (FV_ECONFLICT), or the write failed: read again and merge */
    }
    return fv_err_set(err, FV_EIO, "registry: %s kept changing under %d attempts",
                      o->workflow_execution_id, CAS_ATTEMPTS);
}

fv_status fv_registry_sweep(fv_registry *reg, int64_t older_than_ms, size_t *removed, fv_err *err)
{
    if (removed)
        *removed = 0;
    char **keys = NULL;
    size_t n = 0;
    fv_status st = fv_kv_keys(reg->kv, &keys, &n, err);
    if (st != FV_OK)
        return fv_err_prefix(err, st, "registry sweep: ");
    int64_t cutoff = fv_now_ms() - older_than_ms;
    for (size_t i = 0; i < n; i++) {
        fv_registry_entry e;
        fv_err e2 = {{0}};
        if (kv_read(reg, keys[i], &e, &e2) != 1)
            continue;
        if (!status_terminal(e.status) || e.updated_ms > cutoff)
            continue;
        /* KV has no conditional purge; a terminal entry is not expected to change again */
        if (fv_kv_purge(reg->kv, keys[i], &e2) == FV_OK) {
            cache_drop(reg, keys[i]);
            if (removed)
                (*removed)++;
        }
    }
    fv_kv_keys_free(keys, n);
    return FV_OK;
}

/* --- maintainer
 * ----------------------------------------------------------------------------------- */

typedef struct worker {
    struct fv_registry_maintainer *m;
    fv_source src;
    fv_durable *d;
    pthread_t thread;
    bool started;
} worker;

struct fv_registry_maintainer {
    fv_bus *bus;
    fv_registry *reg;
    fv_registry_maintainer_config cfg;
    worker w[2];
    pthread_mutex_t lock; /* stats, stop */
    pthread_cond_t cond;
    bool stop;
    fv_registry_stats stats;
    int64_t next_sweep_ms;
};

static bool stopping(fv_registry_maintainer *m)
{
    pthread_mutex_lock(&m->lock);
    bool s = m->stop;
    pthread_mutex_unlock(&m->lock);
    return s;
}

static void count(fv_registry_maintainer *m, uint64_t *field, uint64_t n)
{
    pthread_mutex_lock(&m->lock);
    *field += n;
    pthread_mutex_unlock(&m->lock);
}

static void pause_ms(fv_registry_maintainer *m, int64_t ms)
{
    struct timespec ts;
    fv_deadline_ms(&ts, CLOCK_REALTIME, ms);
    pthread_mutex_lock(&m->lock);
    if (!m->stop)
        pthread_cond_timedwait(&m->cond, &m->lock, &ts);
    pthread_mutex_unlock(&m->lock);
}

static void handle(fv_registry_maintainer *m, worker *w, fv_durable_msg *dm)
{
    const char *subject = fv_durable_msg_subject(dm);
    size_t len = 0;
    const void *data = fv_durable_msg_data(dm, &len);
    const char *ct = fv_durable_msg_header(dm, "Content-Type");
    bool is_stream = w->src == FV_SRC_STREAMS;
    fv_event ev;
    fv_stream_event se;
    fv_stored_reason why;
    fv_err err = {{0}};
    fv_status st = fv_durable_msg_read(dm, &ev, &se, &why, &err);
    if (st == FV_ENOMEM) {
        fv_durable_msg_nak(dm, 1000);
        return;
    }
    const char *wf = st != FV_OK ? ""
                     : is_stream ? se.workflow_execution_id
                                 : ev.workflow_execution_id;
    if (!wf[0]) {
        /* readers skip it (the bridge's checker dead-letters it), or it is a tenant-wide event
         * without a workflow: nothing to record */
        if (st == FV_OK && is_stream)
            fv_stream_event_clear(&se);
        else if (st == FV_OK)
            fv_event_clear(&ev);
        fv_durable_msg_ack(dm);
        return;
    }
    fv_registry_obs o = {
        .tenant_id = is_stream ? se.tenant_id : ev.tenant_id,
        .workflow_execution_id = wf,
        .parent_workflow_execution_id = is_stream ? NULL : ev.parent_workflow_execution_id,
        .event_type = is_stream ? NULL : ev.event_type,
        .source = w->src,
        .seq = fv_durable_msg_seq(dm),
        .time_ms = fv_durable_msg_stored_ms(dm),
    };
    if (o.time_ms <= 0)
        o.time_ms = fv_now_ms();
    st = fv_registry_observe(m->reg, &o, &err);
    if (is_stream)
        fv_stream_event_clear(&se);
    else
        fv_event_clear(&ev);
    count(m, &m->stats.observed, 1);
    if (st == FV_OK) {
        fv_durable_msg_ack(dm);
        return;
    }
    if (st == FV_ECONFLICT || st == FV_EINVAL) {
        count(m, &m->stats.conflicts, st == FV_ECONFLICT);
        char reason[FV_ERR_MSG_MAX + 16];
        snprintf(reason, sizeof reason, "registry: %s", err.msg);
        fv_log(FV_LOG_WARN, "registry", "event refused", "subject", subject, "reason", err.msg,
               NULL);
        char msg_id[96];
        snprintf(msg_id, sizeof msg_id, "registry:%s:%llu",
                 w->src == FV_SRC_EVENTS ? FV_STREAM_EVENTS : FV_STREAM_STREAMS,
                 (unsigned long long)fv_durable_msg_seq(dm));
        if (m->cfg.dead_letter && m->cfg.dead_letter(m->cfg.dead_letter_ud, subject, data, len, ct,
                                                     reason, msg_id) != FV_OK) {
            count(m, &m->stats.errors, 1);
            fv_durable_msg_nak(dm, 2000);
            return;
        }
        count(m, &m->stats.dead_lettered, 1);
        fv_durable_msg_ack(dm);
        return;
    }
    count(m, &m->stats.errors, 1);
    fv_log(FV_LOG_WARN, "registry", "cannot record, will retry", "subject", subject, "error",
           err.msg, NULL);
    fv_durable_msg_nak(dm, 1000);
}

static void maybe_sweep(fv_registry_maintainer *m)
{
    int64_t now = fv_monotonic_ms();
    if (now < m->next_sweep_ms)
        return;
    m->next_sweep_ms = now + m->cfg.sweep_interval_ms;
    size_t removed = 0;
    fv_err err = {{0}};
    if (fv_registry_sweep(m->reg, m->cfg.sweep_after_ms, &removed, &err) != FV_OK)
        fv_log(FV_LOG_WARN, "registry", "sweep failed", "error", err.msg, NULL);
    count(m, &m->stats.swept, removed);
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    fv_registry_maintainer *m = w->m;
    fv_durable_msg *msgs[FETCH_BATCH];
    int64_t next_lag = 0;
    while (!stopping(m)) {
        if (w->src == FV_SRC_EVENTS)
            maybe_sweep(m);
        if (fv_monotonic_ms() >= next_lag) {
            /* the lag behind the stream, for /metrics (one consumer-info request per period) */
            uint64_t pending = 0;
            fv_err e = {{0}};
            if (fv_durable_pending(w->d, &pending, &e) == FV_OK) {
                pthread_mutex_lock(&m->lock);
                m->stats.pending[w->src] = pending;
                pthread_mutex_unlock(&m->lock);
            }
            next_lag = fv_monotonic_ms() + LAG_PERIOD_MS;
        }
        size_t n = 0;
        fv_err err = {{0}};
        fv_status st = fv_durable_fetch(w->d, FETCH_BATCH, FETCH_WAIT_MS, msgs, &n, &err);
        if (st != FV_OK && st != FV_ETIMEOUT) {
            /* disconnected or the consumer is being recreated: back off, the bus reconnects */
            count(m, &m->stats.errors, 1);
            fv_log(FV_LOG_DEBUG, "registry", "fetch failed", "error", err.msg, NULL);
            pause_ms(m, 1000);
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            handle(m, w, msgs[i]);
            fv_durable_msg_destroy(msgs[i]);
        }
    }
    return NULL;
}

static void maintainer_free(fv_registry_maintainer *m)
{
    for (int i = 0; i < 2; i++)
        if (m->w[i].d)
            fv_durable_close(m->w[i].d);
    pthread_mutex_destroy(&m->lock);
    pthread_cond_destroy(&m->cond);
    free(m);
}

fv_status fv_registry_maintainer_start(fv_bus *bus, fv_registry *reg,
                                       const fv_registry_maintainer_config *cfg,
                                       fv_registry_maintainer **out, fv_err *err)
{
    *out = NULL;
    fv_registry_maintainer *m = calloc(1, sizeof *m);
    if (!m)
        return fv_err_set(err, FV_ENOMEM, "registry: out of memory");
    m->bus = bus;
    m->reg = reg;
    if (cfg)
        m->cfg = *cfg;
    if (m->cfg.sweep_after_ms <= 0)
        m->cfg.sweep_after_ms = 24LL * 3600 * 1000;
    if (m->cfg.sweep_interval_ms <= 0) {
        m->cfg.sweep_interval_ms = m->cfg.sweep_after_ms / 4;
        if (m->cfg.sweep_interval_ms > 600000)
            m->cfg.sweep_interval_ms = 600000;
        if (m->cfg.sweep_interval_ms < 1000)
            m->cfg.sweep_interval_ms = 1000;
    }
    m->next_sweep_ms = fv_monotonic_ms() + m->cfg.sweep_interval_ms;
    pthread_mutex_init(&m->lock, NULL);
    pthread_cond_init(&m->cond, NULL);
    static const char *const names[2] = {"flovyn-registry-events", "flovyn-registry-streams"};
    static const char *const streams[2] = {FV_STREAM_EVENTS, FV_STREAM_STREAMS};
    for (int i = 0; i < 2; i++) {
        char filter[FV_SUBJECT_MAX];
        if (i == 0)
            fv_subject_events_all(fv_bus_prefix(bus), filter, sizeof filter);
        else
            fv_subject_streams_all(fv_bus_prefix(bus), filter, sizeof filter);
        fv_durable_config dc = {
            .stream = streams[i],
            .name = names[i],
            .filter_subject = filter,
            .ack_wait_ms = 30000,
            .max_ack_pending = 4 * FETCH_BATCH,
        };
        fv_status st = fv_bus_durable_ensure(bus, &dc, err);
        if (st == FV_OK)
            st = fv_bus_durable_open(bus, streams[i], names[i], &m->w[i].d, err);
        if (st != FV_OK) {
            maintainer_free(m);
            return st;
        }
        m->w[i].m = m;
        m->w[i].src = i == 0 ? FV_SRC_EVENTS : FV_SRC_STREAMS;
    }
    for (int i = 0; i < 2; i++) {
        if (pthread_create(&m->w[i].thread, NULL, worker_main, &m->w[i]) != 0) {
            fv_registry_maintainer_stop(m);
            return fv_err_set(err, FV_ENOMEM, "registry: cannot start a thread");
        }
        m->w[i].started = true;
    }
    *out = m;
    return FV_OK;
}

void fv_registry_maintainer_stop(fv_registry_maintainer *m)
{
    if (!m)
        return;
    pthread_mutex_lock(&m->lock);
    m->stop = true;
    pthread_cond_broadcast(&m->cond);
    pthread_mutex_unlock(&m->lock);
    for (int i = 0; i < 2; i++)
        if (m->w[i].started)
            pthread_join(m->w[i].thread, NULL);
    maintainer_free(m);
}

void fv_registry_maintainer_stats(fv_registry_maintainer *m, fv_registry_stats *out)
{
    pthread_mutex_lock(&m->lock);
    *out = m->stats;
    pthread_mutex_unlock(&m->lock);
}
