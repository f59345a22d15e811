/* bus_memory.c - the embedded in-memory bus: the default without a NATS URL and the unit-test
 * double of the JetStream backend, with the same observable behaviour (bus.h).
 *
 * Storage mirrors the two JetStream streams: per source (events, streams) a global sequence from
 * 1, and per tenant a ring of the retained records in sequence order (bounded by
 * memory_history_per_tenant, oldest dropped; also dropped by max age). Every subscription is
 * tenant-scoped, so reading history is a binary search in one tenant's ring. A tenant remembers
 * the highest sequence it lost (`evicted_seq`), which is how a cursor before retained history is
 * recognised and answered with `gap`. Records are reference-counted and immutable once stored, so
 * a callback can hold one while the store drops it.
 *
 * Delivery: one dispatcher thread owned by the bus runs every callback, which gives "never
 * concurrently for one subscription, in order" for free and keeps callbacks off publisher
 * threads. Publishing appends to history and to a bounded live queue (publishers wait when it is
 * full: backpressure instead of unbounded memory). The dispatcher fans each queued record out to
 * the subscriptions that are live (one shared frame slot per record), and serves catching-up
 * subscriptions from history in bounded batches, round robin. `fanout_order` is the arrival
 * number of the last record fanned out: a catching-up subscription is caught up when history
 * holds nothing for it up to that point, and every later record is still in the queue, so the
 * hand-over has neither a hole nor a duplicate (a live subscription also ignores sequences at or
 * below its position). Two sources are merged by arrival order, keeping each source's order.
 *
 * Pausing keeps the position; resuming simply goes back to catch-up from history (and to `gap`
 * if the held record was dropped meanwhile). Subscriptions are reference-counted (the user's
 * handle, the work queue, an in-progress fan-out); on_release runs when the last one goes. A
 * callback counts as started once the dispatcher committed to it under the lock, so
 * fv_sub_close never waits for anything; the user's data stays valid until on_release anyway.
 *
 * Bounds: history per tenant and source (count), per source (bytes, age); dedup keys for the
 * window but at most MEM_DEDUP_MAX per source (beyond that rate a retry may store twice, as after
 * the window); the live queue (publishers wait, except a callback publishing on the dispatcher).
 * A tenant with nothing retained and no subscription is freed; what it lost is kept as a bus-wide
 * floor so its old cursors still get `gap`.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "bus_internal.h"
#include "flovyn/units.h"

#define MEM_DEDUP_WINDOW_MS (2LL * 60 * 1000) /* JetStream's default, also our streams' */
#define MEM_DEDUP_MAX 262144                  /* per source: bounds memory at high rates */
#define MEM_DEDUP_BUCKETS 65536
#define MEM_TENANT_BUCKETS 1024
#define MEM_LIVE_QUEUE_MAX 65536 /* records published but not yet fanned out */
#define MEM_TICK_MS 50           /* max-age sweep and `until` checks */
#define MEM_FANOUT_PER_TURN 64   /* live records per dispatcher turn */
#define MEM_READ_BATCH 64
#define MEM_RING_MIN 16

typedef struct mem_tenant mem_tenant;
typedef struct mem_sub mem_sub;

typedef struct mem_rec {
    atomic_int refs; /* history + live queue + readers/deliveries in progress */
    fv_source src;
    uint64_t seq;       /* per source */
    uint64_t order;     /* arrival number across both sources */
    int64_t stored_ms;  /* monotonic per bus */
    mem_tenant *tenant; /* valid while in history or the live queue (both count as users) */
    struct mem_rec *prev, *next; /* per-source history list, oldest first (max-age sweep) */
    struct mem_rec *live_next;
    bool in_history;
    size_t bytes; /* what it costs, for the max-bytes bound */
    char *subject;
    union { /* by src */
        fv_event ev;
        fv_stream_event se;
    };
} mem_rec;

typedef struct mem_ring {
    mem_rec **items;
    size_t cap, head, n;
} mem_ring;

struct mem_tenant {
    char id[FV_ID_MAX + 1];
    mem_tenant *hnext;
    mem_ring ring[2];
    uint64_t evicted_seq[2]; /* highest sequence of this tenant no longer retained */
    int64_t evicted_ms[2];
    /* ... and no longer retained nor queued for fan-out: a subscription that goes live still
     * gets records between gone and evicted from the queue, a reader of history does not */
    uint64_t gone_seq[2];
    int64_t gone_ms[2];
    size_t users; /* retained records + queued records + open subscriptions */
    mem_sub *subs;
};

typedef struct mem_dedup_ent {
    struct mem_dedup_ent *hnext, *fnext;
    uint64_t hash, seq;
    int64_t at_ms;
    char key[];
} mem_dedup_ent;

typedef struct mem_dedup {
    mem_dedup_ent **buckets;
    mem_dedup_ent *head, *tail; /* insertion (= time) order, for expiry */
    size_t n;
} mem_dedup;

typedef enum { SUB_CATCHUP, SUB_LIVE, SUB_PAUSED, SUB_DONE } mem_sub_state;

typedef struct mem_bus mem_bus;

struct mem_sub {
    struct fv_sub base;
    mem_bus *b;
    fv_pattern pattern;
    bool want[2];
    int (*on_msg)(void *ud, const fv_msg *m);
    void (*on_release)(void *ud);
    void *ud;
    size_t batch;
    int64_t until_ms; /* 0 = none */
    int64_t min_ms;   /* TIME start: records stored earlier are scanned past */
    mem_tenant *t;    /* valid until closed */
    uint64_t pos[2];  /* last scanned sequence per source (0 for a source not wanted) */
    mem_sub_state state;
    bool closed, queued, in_cb, resume_early;
    bool gap_pending, live_sent, end_pending;
    fv_cursor gap_req, gap_from;
    int refs;               /* under the bus lock */
    mem_sub *tprev, *tnext; /* tenant's open subscriptions */
    mem_sub *aprev, *anext; /* all open subscriptions */
    mem_sub *wnext;         /* work queue */
};

struct mem_bus {
    struct fv_bus base;
    pthread_mutex_t mu;
    pthread_cond_t wake, space;
    pthread_t thread;
    bool thread_started, stopping;
    uint64_t epoch;
    uint64_t last_seq[2], order;
    int64_t clock_floor; /* stored_ms never goes backwards */
    int64_t max_age[2], dedup_window[2];
    uint64_t bytes[2], max_bytes[2]; /* retained bytes per source, bounded like the streams */
    size_t history;
    mem_rec *hist_head[2], *hist_tail[2];
    mem_rec *live_head, *live_tail;
    size_t live_n;
    uint64_t fanout_order;
    mem_tenant *tenants[MEM_TENANT_BUCKETS];
    uint64_t floor_seq[2]; /* evicted_seq inherited by tenants created after one was freed */
    int64_t floor_ms[2];
    mem_dedup dedup[2];
    mem_sub *all;
    mem_sub *work_head, *work_tail;
    size_t work_n;
    fv_bus_stats stats;
    int64_t last_tick;
    mem_sub **fan; /* dispatcher scratch: subscriptions receiving one record */
    size_t fan_cap;
};

/* --- small helpers ------------------------------------------------------------------------- */

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

static int64_t clock_now_locked(mem_bus *b)
{
    int64_t now = fv_now_ms();
    if (now < b->clock_floor)
        now = b->clock_floor;
    b->clock_floor = now;
    return now;
}

static void rec_ref(mem_rec *r)
{
    atomic_fetch_add(&r->refs, 1);
}

static void rec_unref(mem_rec *r)
{
    if (atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    if (r->src == FV_SRC_EVENTS)
        fv_event_clear(&r->ev);
    else
        fv_stream_event_clear(&r->se);
    free(r->subject);
    free(r);
}

static fv_cursor cursor_of(const mem_bus *b, const uint64_t pos[2])
{
    fv_cursor c = {pos[0], pos[1], b->epoch};
    return c;
}

/* --- rings --------------------------------------------------------------------------------- */

static mem_rec *ring_at(const mem_ring *r, size_t i)
{
    return r->items[(r->head + i) % r->cap];
}

/* first index whose sequence is > seq */
static size_t ring_upper_seq(const mem_ring *r, uint64_t seq)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_at(r, mid)->seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* first index stored at or after ms */
static size_t ring_lower_ms(const mem_ring *r, int64_t ms)
{
    size_t lo = 0, hi = r->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_at(r, mid)->stored_ms < ms)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* room for one more below limit (the caller evicts when n == limit) */
static fv_status ring_reserve(mem_ring *r, size_t limit)
{
    if (r->n < r->cap)
        return FV_OK;
    size_t ncap = r->cap ? r->cap * 2 : MEM_RING_MIN;
    if (ncap > limit)
        ncap = limit;
    if (ncap <= r->cap)
        return FV_OK; /* full at the limit: the caller evicts */
    mem_rec **items = malloc(ncap * sizeof *items);
    if (!items)
        return FV_ENOMEM;
    for (size_t i = 0; i < r->n; i++)
        items[i] = ring_at(r, i);
    free(r->items);
    r->items = items;
    r->cap = ncap;
    r->head = 0;
    return FV_OK;
}

static void ring_push(mem_ring *r, mem_rec *x)
{
    r->items[(r->head + r->n) % r->cap] = x;
    r->n++;
}

static mem_rec *ring_front(const mem_ring *r)
{
    return r->n ? r->items[r->head] : NULL;
}

static void ring_pop(mem_ring *r)
{
    r->head = (r->head + 1) % r->cap;
    r->n--;
}

/* --- tenants ------------------------------------------------------------------------------- */

static mem_tenant *tenant_find(mem_bus *b, const char *id)
{
    for (mem_tenant *t = b->tenants[hash_str(id) % MEM_TENANT_BUCKETS]; t; t = t->hnext)
        if (strcmp(t->id, id) == 0)
            return t;
    return NULL;
}

static mem_tenant *tenant_get(mem_bus *b, const char *id)
{
    mem_tenant *t = tenant_find(b, id);
    if (t)
        return t;
    t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    snprintf(t->id, sizeof t->id, "%s", id);
    for (int s = 0; s < 2; s++) {
        t->evicted_seq[s] = t->gone_seq[s] = b->floor_seq[s];
        t->evicted_ms[s] = t->gone_ms[s] = b->floor_ms[s];
    }
    size_t h = hash_str(id) % MEM_TENANT_BUCKETS;
    t->hnext = b->tenants[h];
    b->tenants[h] = t;
    return t;
}

/* A freed tenant hands what it lost to the bus floor, so a cursor of a tenant that disappeared
 * still produces `gap` (possibly a needless one for a brand-new tenant: safe, never a loss). */
static void tenant_unuse(mem_bus *b, mem_tenant *t)
{
    if (--t->users > 0)
        return;
    for (int s = 0; s < 2; s++) {
        if (t->evicted_seq[s] > b->floor_seq[s])
            b->floor_seq[s] = t->evicted_seq[s];
        if (t->evicted_ms[s] > b->floor_ms[s])
            b->floor_ms[s] = t->evicted_ms[s];
        free(t->ring[s].items);
    }
    mem_tenant **pp = &b->tenants[hash_str(t->id) % MEM_TENANT_BUCKETS];
    while (*pp != t)
        pp = &(*pp)->hnext;
    *pp = t->hnext;
    free(t);
}

/* --- dedup --------------------------------------------------------------------------------- */

static mem_dedup_ent *dedup_find(mem_dedup *d, const char *key, uint64_t h)
{
    for (mem_dedup_ent *e = d->buckets[h % MEM_DEDUP_BUCKETS]; e; e = e->hnext)
        if (e->hash == h && strcmp(e->key, key) == 0)
            return e;
    return NULL;
}

static void dedup_drop_oldest(mem_dedup *d)
{
    mem_dedup_ent *e = d->head;
    d->head = e->fnext;
    if (!d->head)
        d->tail = NULL;
    mem_dedup_ent **pp = &d->buckets[e->hash % MEM_DEDUP_BUCKETS];
    while (*pp != e)
        pp = &(*pp)->hnext;
    *pp = e->hnext;
    d->n--;
    free(e);
}

static void dedup_expire(mem_dedup *d, int64_t before_ms)
{
    while (d->head && d->head->at_ms < before_ms)
        dedup_drop_oldest(d);
}

static void dedup_add(mem_dedup *d, const char *key, uint64_t h, uint64_t seq, int64_t at)
{
    size_t len = strlen(key);
    mem_dedup_ent *e = malloc(sizeof *e + len + 1);
    if (!e)
        return; /* dedup is best effort under memory pressure; the event is stored */
    memcpy(e->key, key, len + 1);
    e->hash = h;
    e->seq = seq;
    e->at_ms = at;
    e->fnext = NULL;
    size_t bkt = h % MEM_DEDUP_BUCKETS;
    e->hnext = d->buckets[bkt];
    d->buckets[bkt] = e;
    if (d->tail)
        d->tail->fnext = e;
    else
        d->head = e;
    d->tail = e;
    if (++d->n > MEM_DEDUP_MAX)
        dedup_drop_oldest(d);
}

static void dedup_free(mem_dedup *d)
{
    while (d->head)
        dedup_drop_oldest(d);
    free(d->buckets);
}

/* --- history ------------------------------------------------------------------------------- */

static bool rec_matches(const fv_pattern *p, const mem_rec *r);

/* A subscription behind history that has lost nothing yet scans past a record leaving history
 * that it would not deliver anyway, so the eviction costs it no `gap`: one for records of other
 * workflows would tell the client it may have missed something when it missed nothing. Live
 * ones are included: one may be pausing in its callback right now. A caller's predicate cannot
 * run under the bus lock; such a subscription keeps the plain rule. Up-to-date subscriptions
 * (the usual case) cost two comparisons. */
static void pass_evicted(mem_tenant *t, const mem_rec *r)
{
    int src = (int)r->src;
    for (mem_sub *s = t->subs; s; s = s->tnext) {
        if (s->state == SUB_DONE || s->closed || !s->want[src] || s->pattern.accept)
            continue;
        if (s->pos[src] >= r->seq || s->pos[src] < t->evicted_seq[src])
            continue;
        if (r->stored_ms < s->min_ms || !rec_matches(&s->pattern, r))
            s->pos[src] = r->seq;
    }
}

/* r must be the oldest retained record of its tenant and source */
static void evict(mem_bus *b, mem_rec *r)
{
    mem_tenant *t = r->tenant;
    int s = (int)r->src;
    pass_evicted(t, r);
    ring_pop(&t->ring[s]);
    if (r->prev)
        r->prev->next = r->next;
    else
        b->hist_head[s] = r->next;
    if (r->next)
        r->next->prev = r->prev;
    else
        b->hist_tail[s] = r->prev;
    r->in_history = false;
    b->bytes[s] -= r->bytes;
    t->evicted_seq[s] = r->seq;
    t->evicted_ms[s] = r->stored_ms;
    if (r->order <= b->fanout_order) {
        t->gone_seq[s] = r->seq;
        t->gone_ms[s] = r->stored_ms;
    } /* else fanout_one records it once the queue let go of it */
    tenant_unuse(b, t);
    rec_unref(r);
}

static void sweep_age(mem_bus *b, int64_t now)
{
    for (int s = 0; s < 2; s++)
        while (b->hist_head[s] && b->hist_head[s]->stored_ms < now - b->max_age[s])
            evict(b, b->hist_head[s]);
}

/* Next retained record of t after pos among the wanted sources, merged by arrival order, with
 * arrival number <= max_order. */
static mem_rec *next_rec(const mem_tenant *t, const uint64_t pos[2], const bool want[2],
                         uint64_t max_order)
{
    mem_rec *best = NULL;
    if (!t)
        return NULL;
    for (int s = 0; s < 2; s++) {
        if (!want[s])
            continue;
        const mem_ring *ring = &t->ring[s];
        size_t i = ring_upper_seq(ring, pos[s]);
        if (i >= ring->n)
            continue;
        mem_rec *r = ring_at(ring, i);
        if (r->order <= max_order && (!best || r->order < best->order))
            best = r;
    }
    return best;
}

/* True (and positions moved to the oldest retained) when something after pos was dropped. */
static bool lagging(const mem_bus *b, const mem_tenant *t, const bool want[2], uint64_t pos[2],
                    bool reach_live)
{
    bool lag = false;
    for (int s = 0; s < 2; s++) {
        uint64_t floor = !t ? b->floor_seq[s] : reach_live ? t->gone_seq[s] : t->evicted_seq[s];
        if (want[s] && pos[s] < floor) {
            pos[s] = floor;
            lag = true;
        }
    }
    return lag;
}

typedef struct mem_start {
    uint64_t pos[2];
    int64_t min_ms;
    bool gap;
    fv_cursor gap_req, gap_from;
} mem_start;

/* Where a subscription or read starts (CONTRACT §4), under the lock. */
static void start_positions(mem_bus *b, const mem_tenant *t, const fv_start *st, bool reach_live,
                            const bool want[2], mem_start *out)
{
    memset(out, 0, sizeof *out);
    out->min_ms = INT64_MIN;
    uint64_t floor[2];
    int64_t floor_ms[2];
    for (int s = 0; s < 2; s++) {
        floor[s] = !t ? b->floor_seq[s] : reach_live ? t->gone_seq[s] : t->evicted_seq[s];
        floor_ms[s] = !t ? b->floor_ms[s] : reach_live ? t->gone_ms[s] : t->evicted_ms[s];
    }
    uint64_t *pos = out->pos;
    switch (st->kind) {
    case FV_START_NEW:
        pos[0] = b->last_seq[0];
        pos[1] = b->last_seq[1];
        break;
    case FV_START_CURSOR:
        out->gap_req = st->cursor;
        if (st->cursor.epoch != b->epoch) {
            pos[0] = floor[0];
            pos[1] = floor[1];
            out->gap = true;
        } else {
            pos[0] = st->cursor.events_seq;
            pos[1] = st->cursor.streams_seq;
            out->gap = lagging(b, t, want, pos, reach_live);
        }
        break;
    case FV_START_TIME:
        out->min_ms = st->time_ms;
        out->gap_req.epoch = b->epoch;
        for (int s = 0; s < 2; s++) {
            pos[s] = floor[s];
            if (t) {
                size_t i = ring_lower_ms(&t->ring[s], st->time_ms);
                if (i > 0)
                    pos[s] = ring_at(&t->ring[s], i - 1)->seq;
            }
            if (want[s] && floor[s] > 0 && floor_ms[s] >= st->time_ms)
                out->gap = true;
        }
        break;
    case FV_START_FIRST:
        pos[0] = st->events_seq > floor[0] ? st->events_seq - 1 : floor[0];
        pos[1] = st->streams_seq > floor[1] ? st->streams_seq - 1 : floor[1];
        break;
    case FV_START_SEQ:
        out->gap_req = (fv_cursor){st->events_seq ? st->events_seq - 1 : 0,
                                   st->streams_seq ? st->streams_seq - 1 : 0, b->epoch};
        pos[0] = st->events_seq ? st->events_seq - 1 : floor[0];
        pos[1] = st->streams_seq ? st->streams_seq - 1 : floor[1];
        out->gap = lagging(b, t, want, pos, reach_live);
        break;
    }
    for (int s = 0; s < 2; s++)
        if (!want[s])
            pos[s] = 0;
    if (!want[0])
        out->gap_req.events_seq = 0;
    if (!want[1])
        out->gap_req.streams_seq = 0;
    out->gap_from = cursor_of(b, pos);
}

static bool rec_matches(const fv_pattern *p, const mem_rec *r)
{
    return r->src == FV_SRC_EVENTS ? fv_pattern_match_event(p, &r->ev)
                                   : fv_pattern_match_stream(p, &r->se);
}

static void msg_for_rec(fv_msg *m, const mem_rec *r)
{
    memset(m, 0, sizeof *m);
    m->kind = r->src == FV_SRC_EVENTS ? FV_MSG_EVENT : FV_MSG_STREAM;
    m->source = r->src;
    m->seq = r->seq;
    m->stored_ms = r->stored_ms;
    m->ev = r->src == FV_SRC_EVENTS ? &r->ev : NULL;
    m->se = r->src == FV_SRC_STREAMS ? &r->se : NULL;
    m->subject = r->subject;
}

/* --- subscriptions: references and the work queue ------------------------------------------ */

static void sub_free(mem_sub *s)
{
    if (s->on_release)
        s->on_release(s->ud);
    free(s);
}

/* Drops a reference under the lock; the last one releases the subscription with the lock
 * dropped around on_release (which may call into the bus). */
static void sub_unref_locked(mem_bus *b, mem_sub *s)
{
    if (--s->refs > 0)
        return;
    pthread_mutex_unlock(&b->mu);
    sub_free(s);
    pthread_mutex_lock(&b->mu);
}

static void work_push(mem_bus *b, mem_sub *s)
{
    if (s->queued)
        return;
    s->queued = true;
    s->refs++;
    s->wnext = NULL;
    if (b->work_tail)
        b->work_tail->wnext = s;
    else
        b->work_head = s;
    b->work_tail = s;
    b->work_n++;
    pthread_cond_signal(&b->wake);
}

static mem_sub *work_pop(mem_bus *b)
{
    mem_sub *s = b->work_head;
    b->work_head = s->wnext;
    if (!b->work_head)
        b->work_tail = NULL;
    s->queued = false;
    b->work_n--;
    return s;
}

/* Runs the callback with the lock dropped. Returns the callback's answer, applying PAUSE (a
 * resume that raced with the decision to pause wins: the subscription goes back to catch-up). */
static int call_locked(mem_bus *b, mem_sub *s, const fv_msg *m)
{
    s->in_cb = true;
    s->resume_early = false;
    pthread_mutex_unlock(&b->mu);
    int rc = s->on_msg(s->ud, m);
    pthread_mutex_lock(&b->mu);
    s->in_cb = false;
    if (rc == FV_SUB_PAUSE && !s->closed) {
        if (s->resume_early) {
            s->state = SUB_CATCHUP;
            b->stats.catchups_total++;
            work_push(b, s);
        } else {
            s->state = SUB_PAUSED;
        }
    }
    return rc;
}

static int send_ctl(mem_bus *b, mem_sub *s, fv_msg_kind kind)
{
    fv_msg m;
    memset(&m, 0, sizeof m);
    m.kind = kind;
    m.cursor = cursor_of(b, s->pos);
    if (kind == FV_MSG_GAP) {
        m.gap_requested = s->gap_req;
        m.gap_resumed_from = s->gap_from;
        m.cursor = s->gap_from;
    }
    return call_locked(b, s, &m);
}

/* Delivers (or scans past) one record; the position moves unless the callback paused. */
static void deliver_rec(mem_bus *b, mem_sub *s, mem_rec *r, void **slot, void (**slot_free)(void *))
{
    int src = (int)r->src;
    if (r->stored_ms < s->min_ms) {
        s->pos[src] = r->seq;
        return;
    }
    bool match;
    if (!s->pattern.accept) {
        match = rec_matches(&s->pattern, r);
    } else {
        /* the caller's predicate may be slow or keep state: not under the bus lock */
        rec_ref(r);
        pthread_mutex_unlock(&b->mu);
        match = rec_matches(&s->pattern, r);
        pthread_mutex_lock(&b->mu);
        rec_unref(r);
        if (s->closed)
            return;
    }
    if (!match) {
        s->pos[src] = r->seq;
        return;
    }
    fv_msg m;
    msg_for_rec(&m, r);
    uint64_t after[2] = {s->pos[0], s->pos[1]};
    after[src] = r->seq;
    m.cursor = cursor_of(b, after);
    m.shared = slot;
    m.shared_free = slot_free;
    if (call_locked(b, s, &m) != FV_SUB_PAUSE && !s->closed)
        s->pos[src] = r->seq;
}

/* Sends FV_MSG_LIVE once, before anything from the live path; false if the subscription paused
 * on it (call_locked changed its state) or closed. */
static bool live_announced(mem_bus *b, mem_sub *s)
{
    if (s->live_sent)
        return true;
    if (send_ctl(b, s, FV_MSG_LIVE) == FV_SUB_PAUSE || s->closed)
        return false;
    s->live_sent = true;
    return true;
}

static void go_live(mem_bus *b, mem_sub *s)
{
    s->state = SUB_LIVE;
    live_announced(b, s);
}

/* One turn of a catching-up subscription: at most `batch` messages, then back in the queue. */
static void serve(mem_bus *b, mem_sub *s)
{
    for (size_t k = 0;; k++) {
        if (!s->closed && s->state == SUB_LIVE) { /* live from the start: only announce it */
            live_announced(b, s);
            break;
        }
        if (s->closed || s->state != SUB_CATCHUP)
            break;
        if (k >= s->batch) {
            work_push(b, s);
            break;
        }
        /* Past `until` nothing new can qualify (stored_ms only grows), so drain everything
         * stored, queued for fan-out or not, and end. */
        bool ending = s->until_ms && clock_now_locked(b) > s->until_ms;
        fv_cursor before = cursor_of(b, s->pos);
        if (lagging(b, s->t, s->want, s->pos, !ending)) {
            /* Fell out of retained history while catching up or paused. Records that only the
             * fan-out queue still holds are skipped too: it keeps moving while the gap is sent,
             * and chasing it would answer one loss with a second gap. One not sent yet grows. */
            lagging(b, s->t, s->want, s->pos, false);
            if (!s->gap_pending)
                s->gap_req = before;
            s->gap_pending = true;
            s->gap_from = cursor_of(b, s->pos);
        }
        if (s->gap_pending) {
            if (send_ctl(b, s, FV_MSG_GAP) != FV_SUB_PAUSE && !s->closed)
                s->gap_pending = false;
            continue;
        }
        if (s->end_pending) {
            if (send_ctl(b, s, FV_MSG_END) != FV_SUB_PAUSE && !s->closed) {
                s->end_pending = false;
                s->state = SUB_DONE;
            }
            continue;
        }
        mem_rec *r = next_rec(s->t, s->pos, s->want, ending ? UINT64_MAX : b->fanout_order);
        if (!r) {
            if (ending)
                s->end_pending = true;
            else
                go_live(b, s);
            continue;
        }
        if (s->until_ms && r->stored_ms > s->until_ms) {
            s->end_pending = true;
            continue;
        }
        rec_ref(r);
        deliver_rec(b, s, r, NULL, NULL);
        rec_unref(r);
    }
    sub_unref_locked(b, s); /* the work queue's reference */
}

static bool fan_reserve(mem_bus *b, size_t n)
{
    if (n <= b->fan_cap)
        return true;
    size_t cap = b->fan_cap ? b->fan_cap * 2 : 64;
    while (cap < n)
        cap *= 2;
    mem_sub **f = realloc(b->fan, cap * sizeof *f);
    if (!f)
        return false;
    b->fan = f;
    b->fan_cap = cap;
    return true;
}

/* Sends the oldest queued record to every live subscription of its tenant, sharing one frame
 * slot among them. */
static void fanout_one(mem_bus *b)
{
    mem_rec *r = b->live_head;
    b->live_head = r->live_next;
    if (!b->live_head)
        b->live_tail = NULL;
    b->live_n--;
    pthread_cond_broadcast(&b->space);
    b->fanout_order = r->order;
    b->stats.live_received++;
    int src = (int)r->src;
    mem_tenant *t = r->tenant;
    size_t n = 0;
    for (mem_sub *s = t->subs; s; s = s->tnext) {
        if (s->state != SUB_LIVE || !s->want[src] || r->seq <= s->pos[src])
            continue;
        if (!fan_reserve(b, n + 1)) {
            /* no memory for the fan-out list: this one catches up from history instead */
            s->state = SUB_CATCHUP;
            work_push(b, s);
            continue;
        }
        s->refs++;
        b->fan[n++] = s;
    }
    if (!r->in_history && r->seq > t->gone_seq[src]) {
        t->gone_seq[src] = r->seq;
        t->gone_ms[src] = r->stored_ms;
    }
    tenant_unuse(b, t); /* the queue's use; subscriptions keep t alive if any */
    void *slot = NULL;
    void (*slot_free)(void *) = NULL;
    for (size_t i = 0; i < n; i++) {
        mem_sub *s = b->fan[i];
        if (!s->closed && s->state == SUB_LIVE && r->seq > s->pos[src]) {
            if (s->until_ms && r->stored_ms > s->until_ms) {
                s->state = SUB_CATCHUP; /* serve() sends END */
                s->end_pending = true;
                work_push(b, s);
            } else if (live_announced(b, s) && !s->closed && s->state == SUB_LIVE) {
                deliver_rec(b, s, r, &slot, &slot_free);
            }
        }
        sub_unref_locked(b, s);
    }
    if (slot && slot_free) {
        pthread_mutex_unlock(&b->mu);
        slot_free(slot);
        pthread_mutex_lock(&b->mu);
    }
    rec_unref(r);
}

static void tick(mem_bus *b)
{
    int64_t now = clock_now_locked(b);
    sweep_age(b, now);
    for (mem_sub *s = b->all; s; s = s->anext) {
        if (s->state == SUB_LIVE && s->until_ms && now > s->until_ms) {
            s->state = SUB_CATCHUP;
            work_push(b, s);
        }
    }
}

static void *dispatcher(void *arg)
{
    mem_bus *b = arg;
    pthread_mutex_lock(&b->mu);
    while (!b->stopping) {
        bool did = false;
        for (int k = 0; k < MEM_FANOUT_PER_TURN && b->live_head && !b->stopping; k++) {
            fanout_one(b);
            did = true;
        }
        /* Every waiting subscription gets a batch per turn, more than the live records of a
         * turn, so catch-up outpaces a sustained publish rate instead of starving behind it
         * (publishers wait on the bounded queue meanwhile). */
        for (size_t k = b->work_n; k > 0 && b->work_head && !b->stopping; k--) {
            serve(b, work_pop(b));
            did = true;
        }
        int64_t mono = fv_monotonic_ms();
        if (mono - b->last_tick >= MEM_TICK_MS) {
            b->last_tick = mono;
            tick(b);
        }
        if (!did && !b->stopping && !b->live_head && !b->work_head) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += MEM_TICK_MS * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&b->wake, &b->mu, &ts);
        }
    }
    pthread_mutex_unlock(&b->mu);
    return NULL;
}

/* --- publish ------------------------------------------------------------------------------- */

/* Copies the item into a record (outside the lock: allocation and formatting). */
static fv_status rec_build(mem_bus *b, const fv_publish_item *it, mem_rec **out, char *key,
                           size_t key_cap, fv_err *err)
{
    mem_rec *r = calloc(1, sizeof *r);
    if (!r)
        return fv_err_set(err, FV_ENOMEM, "publish: out of memory");
    atomic_init(&r->refs, 1);
    char subject[FV_SUBJECT_MAX];
    fv_status st;
    if (it->ev) {
        r->src = FV_SRC_EVENTS;
        fv_event_init(&r->ev);
        st = fv_event_copy(&r->ev, it->ev);
        if (st == FV_OK && (!r->ev.id[0] || !r->ev.timestamp_ms))
            st = fv_event_fill_defaults(&r->ev);
        if (st == FV_OK)
            st = fv_event_dedup_key(&r->ev, key, key_cap);
        if (st == FV_OK)
            st = fv_subject_for_event(b->base.prefix, &r->ev, subject, sizeof subject, err);
        r->bytes = r->ev.data_len;
    } else {
        r->src = FV_SRC_STREAMS;
        fv_stream_event_init(&r->se);
        st = fv_stream_event_copy(&r->se, it->se);
        if (st == FV_OK)
            st = fv_stream_event_dedup_key(&r->se, key, key_cap);
        if (st == FV_OK)
            st = fv_subject_for_stream_event(b->base.prefix, &r->se, subject, sizeof subject, err);
        r->bytes = r->se.payload_len;
    }
    if (st == FV_OK && !(r->subject = strdup(subject)))
        st = FV_ENOMEM;
    if (st == FV_OK)
        r->bytes += sizeof *r + strlen(subject) + 1;
    if (st != FV_OK) {
        if (err && !err->msg[0])
            fv_err_set(err, st, "publish: cannot store event (%s)", fv_status_name(st));
        rec_unref(r);
        return st;
    }
    *out = r;
    return FV_OK;
}

static fv_status store_locked(mem_bus *b, mem_rec *r, const char *key, fv_publish_result *res,
                              fv_err *err)
{
    int s = (int)r->src;
    int64_t now = clock_now_locked(b);
    mem_dedup *d = &b->dedup[s];
    dedup_expire(d, now - b->dedup_window[s]);
    uint64_t h = hash_str(key);
    mem_dedup_ent *e = dedup_find(d, key, h);
    if (e) {
        res->seq = e->seq;
        res->duplicate = true;
        b->stats.duplicates++;
        rec_unref(r);
        return FV_OK;
    }
    const char *tenant = s == FV_SRC_EVENTS ? r->ev.tenant_id : r->se.tenant_id;
    mem_tenant *t = tenant_get(b, tenant);
    if (!t) {
        rec_unref(r);
        return fv_err_set(err, FV_ENOMEM, "publish: out of memory");
    }
    t->users++; /* the history's use */
    mem_ring *ring = &t->ring[s];
    if (ring_reserve(ring, b->history) != FV_OK) {
        tenant_unuse(b, t);
        rec_unref(r);
        return fv_err_set(err, FV_ENOMEM, "publish: out of memory");
    }
    if (ring->n >= b->history)
        evict(b, ring_front(ring));
    r->seq = ++b->last_seq[s];
    r->order = ++b->order;
    r->stored_ms = now;
    r->tenant = t;
    r->in_history = true;
    ring_push(ring, r);
    r->prev = b->hist_tail[s];
    r->next = NULL;
    if (b->hist_tail[s])
        b->hist_tail[s]->next = r;
    else
        b->hist_head[s] = r;
    b->hist_tail[s] = r;
    b->bytes[s] += r->bytes;
    while (b->bytes[s] > b->max_bytes[s] && b->hist_head[s] != r)
        evict(b, b->hist_head[s]);
    /* the live queue's reference and use */
    rec_ref(r);
    t->users++;
    r->live_next = NULL;
    if (b->live_tail)
        b->live_tail->live_next = r;
    else
        b->live_head = r;
    b->live_tail = r;
    b->live_n++;
    dedup_add(d, key, h, r->seq, now);
    b->stats.published++;
    res->seq = r->seq;
    res->duplicate = false;
    sweep_age(b, now);
    pthread_cond_signal(&b->wake);
    return FV_OK;
}

static fv_status mem_publish_batch(fv_bus *bus, fv_publish_item *items, size_t n, fv_err *err)
{
    mem_bus *b = (mem_bus *)bus;
    bool on_dispatcher = b->thread_started && pthread_equal(pthread_self(), b->thread);
    for (size_t i = 0; i < n; i++) {
        fv_publish_item *it = &items[i];
        if (it->status != FV_OK)
            continue;
        mem_rec *r = NULL;
        char key[FV_DEDUP_KEY_MAX];
        it->status = rec_build(b, it, &r, key, sizeof key, &it->err);
        if (it->status != FV_OK)
            continue;
        pthread_mutex_lock(&b->mu);
        /* backpressure; a callback publishing on the dispatcher thread must not wait on itself */
        while (b->live_n >= MEM_LIVE_QUEUE_MAX && !b->stopping && !on_dispatcher)
            pthread_cond_wait(&b->space, &b->mu);
        if (b->stopping) {
            rec_unref(r);
            it->status = fv_err_set(&it->err, FV_ECLOSED, "publish: the bus is shutting down");
        } else {
            it->status = store_locked(b, r, key, &it->result, &it->err);
        }
        if (it->status != FV_OK)
            b->stats.publish_errors++;
        pthread_mutex_unlock(&b->mu);
    }
    return FV_OK;
}

/* --- subscribe / resume / close ------------------------------------------------------------ */

static fv_status mem_subscribe(fv_bus *bus, const fv_sub_config *cfg, fv_sub **out, fv_err *err)
{
    mem_bus *b = (mem_bus *)bus;
    mem_sub *s = calloc(1, sizeof *s);
    if (!s)
        return fv_err_set(err, FV_ENOMEM, "subscribe: out of memory");
    s->base.bus = bus;
    s->b = b;
    s->pattern = cfg->pattern;
    s->want[0] = fv_pattern_wants_events(&s->pattern);
    s->want[1] = fv_pattern_wants_streams(&s->pattern);
    s->on_msg = cfg->on_msg;
    s->on_release = cfg->on_release;
    s->ud = cfg->ud;
    s->batch = cfg->max_catchup_batch ? cfg->max_catchup_batch : 256;
    s->until_ms = cfg->start.until_ms;
    s->refs = 1; /* the caller's handle */

    pthread_mutex_lock(&b->mu);
    if (b->stopping) {
        pthread_mutex_unlock(&b->mu);
        free(s);
        return fv_err_set(err, FV_ECLOSED, "subscribe: the bus is shutting down");
    }
    mem_tenant *t = tenant_get(b, s->pattern.tenant_id);
    if (!t) {
        pthread_mutex_unlock(&b->mu);
        free(s);
        return fv_err_set(err, FV_ENOMEM, "subscribe: out of memory");
    }
    t->users++;
    s->t = t;
    s->tnext = t->subs;
    if (t->subs)
        t->subs->tprev = s;
    t->subs = s;
    s->anext = b->all;
    if (b->all)
        b->all->aprev = s;
    b->all = s;
    mem_start ms;
    start_positions(b, t, &cfg->start, true, s->want, &ms);
    if (ms.gap) /* catching up first: what only the fan-out queue still holds is out of reach */
        start_positions(b, t, &cfg->start, false, s->want, &ms);
    s->pos[0] = ms.pos[0];
    s->pos[1] = ms.pos[1];
    s->min_ms = ms.min_ms;
    s->gap_pending = ms.gap;
    s->gap_req = ms.gap_req;
    s->gap_from = ms.gap_from;
    /* Nothing to replay (typically a NEW start): live at once, so that a flood of publishes
     * cannot push its first records out of history before its first turn. */
    bool ending = s->until_ms && clock_now_locked(b) > s->until_ms;
    if (!ms.gap && !ending && !next_rec(t, s->pos, s->want, b->fanout_order)) {
        s->state = SUB_LIVE;
    } else {
        s->state = SUB_CATCHUP;
        b->stats.catchups_total++;
    }
    work_push(b, s); /* catch up, or announce FV_MSG_LIVE */
    pthread_mutex_unlock(&b->mu);
    *out = &s->base;
    return FV_OK;
}

static void mem_sub_resume(fv_sub *sub)
{
    mem_sub *s = (mem_sub *)sub;
    mem_bus *b = s->b;
    pthread_mutex_lock(&b->mu);
    if (!s->closed) {
        if (s->state == SUB_PAUSED) {
            s->state = SUB_CATCHUP;
            b->stats.catchups_total++;
            work_push(b, s);
        } else if (s->in_cb) {
            s->resume_early = true;
        }
    }
    pthread_mutex_unlock(&b->mu);
}

/* under the lock: detach an open subscription from the tenant and the bus lists */
static void sub_detach(mem_bus *b, mem_sub *s)
{
    s->closed = true;
    if (s->tprev)
        s->tprev->tnext = s->tnext;
    else
        s->t->subs = s->tnext;
    if (s->tnext)
        s->tnext->tprev = s->tprev;
    if (s->aprev)
        s->aprev->anext = s->anext;
    else
        b->all = s->anext;
    if (s->anext)
        s->anext->aprev = s->aprev;
    tenant_unuse(b, s->t);
    s->t = NULL;
}

static void mem_sub_close(fv_sub *sub)
{
    mem_sub *s = (mem_sub *)sub;
    mem_bus *b = s->b;
    pthread_mutex_lock(&b->mu);
    if (s->closed) {
        pthread_mutex_unlock(&b->mu);
        return;
    }
    sub_detach(b, s);
    bool dead = --s->refs == 0;
    pthread_mutex_unlock(&b->mu);
    if (dead)
        sub_free(s);
}

static bool mem_sub_catching_up(fv_sub *sub)
{
    mem_sub *s = (mem_sub *)sub;
    pthread_mutex_lock(&s->b->mu);
    bool r = s->state == SUB_CATCHUP;
    pthread_mutex_unlock(&s->b->mu);
    return r;
}

/* --- bounded read -------------------------------------------------------------------------- */

static fv_status mem_read(fv_bus *bus, const fv_pattern *p, const fv_start *start, size_t limit,
                          int (*cb)(void *ud, const fv_msg *m), void *ud, fv_cursor *next,
                          fv_err *err)
{
    mem_bus *b = (mem_bus *)bus;
    bool want[2] = {fv_pattern_wants_events(p), fv_pattern_wants_streams(p)};
    mem_start ms;
    pthread_mutex_lock(&b->mu);
    start_positions(b, tenant_find(b, p->tenant_id), start, false, want, &ms);
    uint64_t horizon = b->order; /* what is stored now: a flood of publishes cannot prolong it */
    pthread_mutex_unlock(&b->mu);
    uint64_t pos[2] = {ms.pos[0], ms.pos[1]};
    fv_msg m;
    size_t matched = 0;
    bool stop = limit == 0;
    if (ms.gap && !stop) {
        memset(&m, 0, sizeof m);
        m.kind = FV_MSG_GAP;
        m.gap_requested = ms.gap_req;
        m.gap_resumed_from = ms.gap_from;
        m.cursor = ms.gap_from;
        stop = cb(ud, &m) == FV_SUB_PAUSE;
    }
    while (!stop) {
        mem_rec *batch[MEM_READ_BATCH];
        size_t n = 0;
        bool gap = false;
        fv_cursor req = {0};
        pthread_mutex_lock(&b->mu);
        mem_tenant *t = tenant_find(b, p->tenant_id);
        req = cursor_of(b, pos);
        gap = lagging(b, t, want, pos, false);
        uint64_t scan[2] = {pos[0], pos[1]};
        while (n < MEM_READ_BATCH) {
            mem_rec *r = next_rec(t, scan, want, horizon);
            if (!r)
                break;
            rec_ref(r);
            batch[n++] = r;
            scan[r->src] = r->seq;
        }
        pthread_mutex_unlock(&b->mu);
        if (gap) {
            memset(&m, 0, sizeof m);
            m.kind = FV_MSG_GAP;
            m.gap_requested = req;
            m.gap_resumed_from = cursor_of(b, pos);
            m.cursor = m.gap_resumed_from;
            if (cb(ud, &m) == FV_SUB_PAUSE)
                stop = true;
        }
        bool end = n == 0;
        for (size_t i = 0; i < n; i++) {
            mem_rec *r = batch[i];
            if (!stop && !end) {
                if (start->until_ms && r->stored_ms > start->until_ms) {
                    end = true;
                } else if (r->stored_ms < ms.min_ms || !rec_matches(p, r)) {
                    pos[r->src] = r->seq;
                } else {
                    msg_for_rec(&m, r);
                    uint64_t after[2] = {pos[0], pos[1]};
                    after[r->src] = r->seq;
                    m.cursor = cursor_of(b, after);
                    if (cb(ud, &m) == FV_SUB_PAUSE) {
                        stop = true;
                    } else {
                        pos[r->src] = r->seq;
                        if (++matched >= limit)
                            stop = true;
                    }
                }
            }
            rec_unref(r);
        }
        if (end && !stop) {
            memset(&m, 0, sizeof m);
            m.kind = FV_MSG_END;
            m.cursor = cursor_of(b, pos);
            cb(ud, &m);
            stop = true;
        }
    }
    if (next)
        *next = cursor_of(b, pos);
    (void)err;
    return FV_OK;
}

/* --- the rest of the vtable ---------------------------------------------------------------- */

static fv_status mem_provision(fv_bus *bus, fv_err *err)
{
    return FV_OK;
}
static bool mem_ready(fv_bus *bus)
{
    return true;
}
static uint64_t mem_epoch(fv_bus *bus)
{
    return ((mem_bus *)bus)->epoch;
}

static fv_status mem_last_seq(fv_bus *bus, fv_source src, uint64_t *out, fv_err *err)
{
    mem_bus *b = (mem_bus *)bus;
    if (src != FV_SRC_EVENTS && src != FV_SRC_STREAMS)
        return fv_err_set(err, FV_EINVAL, "last_seq: unknown source %d", (int)src);
    pthread_mutex_lock(&b->mu);
    *out = b->last_seq[src];
    pthread_mutex_unlock(&b->mu);
    return FV_OK;
}

static void mem_stats(fv_bus *bus, fv_bus_stats *out)
{
    mem_bus *b = (mem_bus *)bus;
    pthread_mutex_lock(&b->mu);
    *out = b->stats;
    out->catchups_running = 0;
    for (mem_sub *s = b->all; s; s = s->anext)
        if (s->state == SUB_CATCHUP)
            out->catchups_running++;
    out->connected = true;
    pthread_mutex_unlock(&b->mu);
}

static void mem_destroy(fv_bus *bus)
{
    mem_bus *b = (mem_bus *)bus;
    pthread_mutex_lock(&b->mu);
    b->stopping = true;
    pthread_cond_broadcast(&b->wake);
    pthread_cond_broadcast(&b->space);
    pthread_mutex_unlock(&b->mu);
    if (b->thread_started)
        pthread_join(b->thread, NULL);
    /* No thread left: release subscriptions still open (their handles die with the bus), then
     * the queue and history. */
    pthread_mutex_lock(&b->mu);
    while (b->all) {
        mem_sub *s = b->all;
        sub_detach(b, s);
        sub_unref_locked(b, s);
    }
    while (b->work_head)
        sub_unref_locked(b, work_pop(b));
    while (b->live_head) {
        mem_rec *r = b->live_head;
        b->live_head = r->live_next;
        tenant_unuse(b, r->tenant);
        rec_unref(r);
    }
    for (int s = 0; s < 2; s++) {
        while (b->hist_head[s])
            evict(b, b->hist_head[s]);
        dedup_free(&b->dedup[s]);
    }
    pthread_mutex_unlock(&b->mu);
    free(b->fan);
    pthread_cond_destroy(&b->wake);
    pthread_cond_destroy(&b->space);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

static const fv_bus_ops mem_ops = {
    .destroy = mem_destroy,
    .provision = mem_provision,
    .ready = mem_ready,
    .epoch = mem_epoch,
    .last_seq = mem_last_seq,
    .publish_batch = mem_publish_batch,
    .subscribe = mem_subscribe,
    .sub_resume = mem_sub_resume,
    .sub_close = mem_sub_close,
    .sub_catching_up = mem_sub_catching_up,
    .read = mem_read,
    .stats = mem_stats,
};

static uint64_t random_epoch(void)
{
    uint64_t e = 0;
    while (e == 0) {
        if (getrandom(&e, sizeof e, 0) != (ssize_t)sizeof e) {
            /* no entropy source: time and address still differ between two buses */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            e = ((uint64_t)ts.tv_sec * 1000000007ULL) ^ (uint64_t)ts.tv_nsec ^
                (uint64_t)(uintptr_t)&e;
        }
    }
    return e;
}

fv_status fv_bus_memory_create(const fv_bus_config *cfg, fv_bus **out, fv_err *err)
{
    *out = NULL;
    mem_bus *b = calloc(1, sizeof *b);
    if (!b)
        return fv_err_set(err, FV_ENOMEM, "memory bus: out of memory");
    fv_status st = fv_bus_base_init(&b->base, &mem_ops, cfg, err);
    if (st != FV_OK) {
        free(b);
        return st;
    }
    b->epoch = random_epoch();
    b->history = b->base.cfg.memory_history_per_tenant;
    b->max_age[0] = b->base.cfg.events_max_age_ms;
    b->max_age[1] = b->base.cfg.streams_max_age_ms;
    b->max_bytes[0] = (uint64_t)b->base.cfg.events_max_bytes;
    b->max_bytes[1] = (uint64_t)b->base.cfg.streams_max_bytes;
    for (int s = 0; s < 2; s++) {
        b->dedup_window[s] =
            b->max_age[s] < MEM_DEDUP_WINDOW_MS ? b->max_age[s] : MEM_DEDUP_WINDOW_MS;
        b->dedup[s].buckets = calloc(MEM_DEDUP_BUCKETS, sizeof *b->dedup[s].buckets);
        if (!b->dedup[s].buckets) {
            free(b->dedup[0].buckets);
            free(b);
            return fv_err_set(err, FV_ENOMEM, "memory bus: out of memory");
        }
    }
    pthread_mutex_init(&b->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&b->wake, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&b->space, NULL);
    b->last_tick = fv_monotonic_ms();
    pthread_mutex_lock(&b->mu); /* publishes `thread` to the dispatcher before it runs */
    b->thread_started = pthread_create(&b->thread, NULL, dispatcher, b) == 0;
    pthread_mutex_unlock(&b->mu);
    if (!b->thread_started) {
        mem_destroy(&b->base);
        return fv_err_set(err, FV_ENOMEM, "memory bus: cannot start the dispatcher thread");
    }
    *out = &b->base;
    return FV_OK;
}
