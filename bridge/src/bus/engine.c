/* engine.c - the subscription engine of both bus backends; see engine.h for what it owns.
 *
 * Window. Per source a list of segments, lowest first; each covers (base, hi] and holds every
 * stored record of that range in sequence order (a sequence absent from the store is simply not
 * there). The top segment ends at the live edge and grows by fv__eng_append. A shared reader
 * fills a new segment upward from a known sequence until it reaches the base of the segment
 * above, and the two merge. Records leave from the bottom of the lowest segment when the source
 * is over its bytes or records bound (or max age): for the memory store that is the loss that
 * makes a `gap`; for JetStream it only means reading that range again.
 *
 * Catch-up. A subscription holds a position per source (last sequence delivered or scanned
 * past). The dispatcher serves a catching-up subscription a batch per turn straight from the
 * segments: for each wanted source the first record after its position, the older of the two
 * first (arrival order, else store time). A position below every segment makes it wait for a
 * read (state WAIT): the reader thread takes the lowest waiting position of a source and reads
 * from there up to the segment above with one whole-stream consumer, so a storm of resumes in the
 * same range costs one consumer; a position far below (more than a read's worth) gets a filtered
 * reader of its own instead of dragging the whole stream through memory.
 *
 * Hand-over. Every appended record is also queued for fan-out and numbered (`order`);
 * `fanout_order` is the number of the last one fanned out. Catch-up serves records up to that
 * number only; when nothing is left for it the subscription turns live, and everything newer is
 * still in the queue, so it arrives exactly once from the fan-out (which also ignores sequences at
 * or below a position).
 *
 * Pause. A callback answering FV_SUB_PAUSE keeps the position (nothing was consumed); the
 * subscription waits in PAUSED until fv_sub_resume puts it back to catch-up. A resume that comes
 * while the callback that will pause is still running is remembered (resume_early) and applied
 * when the callback returns: the engine's rule, so no caller needs a timer to re-kick.
 *
 * Everything runs under one mutex, dropped around callbacks and around an accept predicate (the
 * caller's code). Subscriptions are reference-counted: the user's handle, the work queue, an
 * in-progress fan-out, a running read; on_release runs when the last reference goes.
 */
#include "engine.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "flovyn/hmap.h"
#include "flovyn/log.h"
#include "flovyn/units.h"

#define ENG_TICK_MS 50         /* max-age sweep and `until` checks */
#define ENG_FANOUT_PER_TURN 64 /* live records per dispatcher turn */
#define ENG_SCAN_PER_TURN 4096 /* records a catch-up turn may scan past without delivering */
#define ENG_SEG_MIN 64
#define ENG_READ_BATCH 256 /* records per backend read call */
#define ENG_READ_MAX 32768 /* records one shared read brings in at most */
#define ENG_GATHER_MS 15   /* a fresh need waits this long for others in a storm */
#define ENG_READ_RETRY_MS 250
#define ENG_READ_FAILURES 120 /* ~30 s of failing reads before a subscription gets ERROR */
#define ENG_TIME_WAIT_MS 2000 /* a bounded read waits this long for the live path */

/* --- records --------------------------------------------------------------------------------- */

fv__rec *fv__rec_new(fv_source src)
{
    fv__rec *r = calloc(1, sizeof *r);
    if (!r)
        return NULL;
    atomic_init(&r->refs, 1);
    r->src = src;
    if (src == FV_SRC_EVENTS)
        fv_event_init(&r->ev);
    else
        fv_stream_event_init(&r->se);
    return r;
}

void fv__rec_ref(fv__rec *r)
{
    atomic_fetch_add(&r->refs, 1);
}

void fv__rec_unref(fv__rec *r)
{
    if (!r || atomic_fetch_sub(&r->refs, 1) != 1)
        return;
    if (r->shared && r->shared_free)
        r->shared_free(r->shared);
    if (r->src == FV_SRC_EVENTS)
        fv_event_clear(&r->ev);
    else
        fv_stream_event_clear(&r->se);
    free(r->subject);
    free(r);
}

fv_status fv__rec_finish(fv__rec *r, const char *subject)
{
    size_t sl = strlen(subject);
    r->subject = malloc(sl + 1);
    if (!r->subject)
        return FV_ENOMEM;
    memcpy(r->subject, subject, sl + 1);
    r->bytes = sizeof *r + sl + 1;
    if (r->decoded)
        r->bytes += r->src == FV_SRC_EVENTS ? r->ev.data_len : r->se.payload_len;
    return FV_OK;
}

static bool rec_matches(const fv_pattern *p, const fv__rec *r)
{
    if (!r->decoded)
        return false;
    return r->src == FV_SRC_EVENTS ? fv_pattern_match_event(p, &r->ev)
                                   : fv_pattern_match_stream(p, &r->se);
}

/* the older of two records of different sources: arrival order when both arrived live, else
 * store time (events first on a tie: a lifecycle event is acknowledged before what it causes) */
static bool rec_before(const fv__rec *a, const fv__rec *b)
{
    if (a->order && b->order)
        return a->order < b->order;
    if (a->stored_ms != b->stored_ms)
        return a->stored_ms < b->stored_ms;
    return a->src < b->src;
}

/* --- segments -------------------------------------------------------------------------------- */

typedef struct seg seg;
typedef struct job job;

/* a ring of records in the order they were pushed: a segment (ascending by sequence) and the
 * fan-out queue (arrival order). Capacity is a power of two: an index is a mask, not a division
 * (every catch-up step indexes it). */
typedef struct rec_ring {
    fv__rec **items;
    size_t cap, head, n;
} rec_ring;

static fv__rec *ring_at(const rec_ring *q, size_t i)
{
    return q->items[(q->head + i) & (q->cap - 1)];
}

static bool ring_push(rec_ring *q, fv__rec *r)
{
    if (q->n == q->cap) {
        size_t ncap = q->cap ? q->cap * 2 : ENG_SEG_MIN;
        fv__rec **items = malloc(ncap * sizeof *items);
        if (!items)
            return false;
        for (size_t i = 0; i < q->n; i++)
            items[i] = ring_at(q, i);
        free(q->items);
        q->items = items;
        q->cap = ncap;
        q->head = 0;
    }
    q->items[(q->head + q->n) & (q->cap - 1)] = r;
    q->n++;
    return true;
}

static fv__rec *ring_pop(rec_ring *q)
{
    fv__rec *r = q->items[q->head];
    q->head = (q->head + 1) & (q->cap - 1);
    q->n--;
    return r;
}

struct seg {
    seg *lower, *higher;
    uint64_t base, hi; /* covers (base, hi] */
    rec_ring q;        /* ascending by seq */
    bool top;
    job *filling; /* a shared read is appending to it */
};

/* first index whose sequence is > seq */
static size_t seg_upper(const seg *s, uint64_t seq)
{
    size_t lo = 0, hi = s->q.n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ring_at(&s->q, mid)->seq <= seq)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

typedef struct srcwin {
    seg *lowest, *top;             /* top NULL until the source started */
    size_t bytes, records;         /* the top segment: the recent window */
    size_t rbytes, records_read;   /* segments below it, filled by reads */
    size_t max_bytes, max_records; /* each of the two, bytes; records: the top */
    int64_t max_age_ms;
    uint64_t lost_seq; /* highest sequence that left the window (memory store: lost) */
    int64_t lost_ms;
    uint64_t gen; /* bumped by a reset: reads of an older generation are dropped */
} srcwin;

/* --- subscriptions --------------------------------------------------------------------------- */

typedef enum { S_CATCHUP, S_LIVE, S_PAUSED, S_WAIT, S_DONE } sub_state;

typedef struct eng_tenant eng_tenant;
typedef struct eng_sub eng_sub;

/* a filtered reader of one subscription (positions far below the window) */
typedef struct deep {
    void *h;
    uint64_t gen;
    uint64_t next; /* the next sequence the reader would return */
    uint64_t to;   /* read up to here (the base of the segment above, when it started) */
    fv__rec **buf; /* read ahead, ascending */
    size_t n, i;
    bool busy, ended;   /* a read job runs; reached `to` or the stream's end */
    struct deep *rnext; /* retired: waiting for a reader thread to close it */
} deep;

struct eng_sub {
    struct fv_sub base;
    fv__eng *e;
    fv_pattern pattern;
    bool want[2];
    int (*on_msg)(void *ud, const fv_msg *m);
    void (*on_release)(void *ud);
    void *ud;
    size_t batch;
    int64_t until_ms, min_ms;
    uint64_t pos[2];
    uint64_t epoch;
    sub_state state;
    bool closed, queued, in_cb, resume_early;
    bool gap_pending, live_sent, end_pending, counted;
    char *fail_why; /* the subscription failed for good: ERROR with this, then nothing */
    fv_cursor gap_req, gap_from;
    int refs;
    int need_src; /* S_WAIT: the source waiting for a read */
    int64_t need_since;
    int failures;
    eng_tenant *t;
    eng_sub *tprev, *tnext; /* tenant's subscriptions */
    eng_sub *bprev, *bnext; /* not live: catch-up, waiting, paused */
    eng_sub *uprev, *unext; /* with an `until`: the tick checks only these */
    eng_sub *wnext;         /* work queue */
    deep *dp[2];
};

struct eng_tenant {
    fv_hnode node; /* first: the table's node is the tenant */
    char id[FV_ID_MAX + 1];
    eng_sub *subs;
};

struct job {
    int src;
    uint64_t gen;
    uint64_t from, to; /* shared: read (from - 1, to] */
    seg *s;
    eng_sub *sub; /* deep: the subscription it reads for */
};

struct fv__eng {
    fv__eng_ops ops;
    fv__eng_config cfg;
    char prefix[FV_PREFIX_MAX + 1];
    pthread_mutex_t mu;
    pthread_cond_t wake, space, rwake, filled;
    pthread_t thread;
    pthread_t *readers;
    int nreaders;
    bool thread_started, stopping;
    bool called;     /* a callback ran since the last after_callbacks */
    eng_sub *cb_sub; /* the subscription whose callback the dispatcher is running */
    bool round_more; /* fv_msg.more for the records delivered now */
    srcwin w[2];
    uint64_t order, fanout_order;
    int64_t clock_floor;
    rec_ring live;   /* appended, not yet fanned out */
    fv_hmap tenants; /* id -> eng_tenant with open subscriptions */
    eng_sub *behind; /* not live */
    eng_sub *untils; /* open subscriptions with an `until` */
    eng_sub *work_head, *work_tail;
    size_t work_n;
    int64_t last_tick;
    eng_sub **fan;
    size_t fan_cap;
    deep *retired; /* filtered readers to close off the dispatcher (a request to the server) */
    struct {
        uint64_t hits, misses, evictions, reads, read_records, deep_reads, catchups_total;
        uint64_t live_received;
    } st;
};

static int64_t clock_locked(fv__eng *e)
{
    int64_t now = fv_now_ms();
    if (now < e->clock_floor)
        now = e->clock_floor;
    e->clock_floor = now;
    return now;
}

static bool on_dispatcher(const fv__eng *e)
{
    return e->thread_started && pthread_equal(pthread_self(), e->thread);
}

/* the epoch is fixed when a subscription or read is planned: asking the backend may take a
 * request to the server, never done on the dispatcher thread */
static fv_cursor cursor_of(uint64_t epoch, const uint64_t pos[2], const bool want[2])
{
    fv_cursor c = {want[0] ? pos[0] : 0, want[1] ? pos[1] : 0, epoch};
    return c;
}

/* --- tenants ---------------------------------------------------------------------------------- */

static eng_tenant *tenant_find(fv__eng *e, const char *id)
{
    return (eng_tenant *)fv_hmap_get(&e->tenants, id);
}

static eng_tenant *tenant_get(fv__eng *e, const char *id)
{
    eng_tenant *t = tenant_find(e, id);
    if (t)
        return t;
    t = calloc(1, sizeof *t);
    if (!t)
        return NULL;
    snprintf(t->id, sizeof t->id, "%s", id);
    fv_hmap_put(&e->tenants, &t->node, t->id);
    return t;
}

static void tenant_drop_if_empty(fv__eng *e, eng_tenant *t)
{
    if (t->subs)
        return;
    fv_hmap_del(&e->tenants, &t->node);
    free(t);
}

/* calls fn for every open subscription (tick, reset); fn must not close subscriptions */
#define EACH_SUB(e, s)                                                                             \
    for (size_t b_ = 0; b_ < (e)->tenants.nbuckets; b_++)                                          \
        for (fv_hnode *n_ = (e)->tenants.buckets[b_]; n_; n_ = n_->next)                           \
            for (eng_sub *s = ((eng_tenant *)n_)->subs; s; s = s->tnext)

/* --- the behind list (subscriptions not live) ------------------------------------------------ */

static void behind_add(fv__eng *e, eng_sub *s)
{
    if (s->bprev || e->behind == s)
        return;
    s->bnext = e->behind;
    if (e->behind)
        e->behind->bprev = s;
    e->behind = s;
    s->bprev = NULL;
}

static void behind_remove(fv__eng *e, eng_sub *s)
{
    if (!s->bprev && e->behind != s)
        return;
    if (s->bprev)
        s->bprev->bnext = s->bnext;
    else
        e->behind = s->bnext;
    if (s->bnext)
        s->bnext->bprev = s->bprev;
    s->bprev = s->bnext = NULL;
}

static void set_state(fv__eng *e, eng_sub *s, sub_state st)
{
    s->state = st;
    if (st == S_LIVE || st == S_DONE)
        behind_remove(e, s);
    else if (!s->closed)
        behind_add(e, s);
    if (st == S_WAIT)
        pthread_cond_signal(&e->rwake);
}

/* --- window ------------------------------------------------------------------------------------
 */

static void seg_unlink(srcwin *w, seg *s)
{
    if (s->lower)
        s->lower->higher = s->higher;
    else
        w->lowest = s->higher;
    if (s->higher)
        s->higher->lower = s->lower;
    if (w->top == s)
        w->top = NULL;
}

static void account(srcwin *w, const seg *s, const fv__rec *r, int sign)
{
    size_t *bytes = s->top ? &w->bytes : &w->rbytes;
    size_t *records = s->top ? &w->records : &w->records_read;
    if (sign > 0) {
        *bytes += r->bytes;
        (*records)++;
    } else {
        *bytes -= r->bytes;
        (*records)--;
    }
}

static void seg_free(srcwin *w, seg *s)
{
    while (s->q.n) {
        fv__rec *r = ring_pop(&s->q);
        account(w, s, r, -1);
        fv__rec_unref(r);
    }
    free(s->q.items);
    free(s);
}

/* the segment holding the record after pos, or NULL (pos below, between or above segments) */
static seg *seg_covering(const srcwin *w, uint64_t pos)
{
    for (seg *s = w->top; s; s = s->lower)
        if (s->base <= pos && pos < s->hi)
            return s;
    return NULL;
}

/* the lowest segment whose base is above pos (what a read from pos must reach), or NULL */
static seg *seg_above(const srcwin *w, uint64_t pos)
{
    for (seg *s = w->lowest; s; s = s->higher)
        if (s->base > pos)
            return s;
    return NULL;
}

/* A subscription behind the window that has lost nothing yet scans past a record leaving it
 * that it would not deliver anyway: the eviction costs it no `gap` (memory store) or read
 * (JetStream). A caller's predicate cannot run under the lock; such a one keeps the plain rule. */
static void pass_one(eng_sub *s, const seg *from, const fv__rec *r)
{
    int src = (int)r->src;
    if (s->closed || !s->want[src] || s->pattern.accept)
        return;
    if (s->pos[src] >= r->seq || s->pos[src] < from->base)
        return;
    if (r->stored_ms < s->min_ms || strcmp(fv__rec_tenant(r), s->pattern.tenant_id) != 0 ||
        !rec_matches(&s->pattern, r))
        s->pos[src] = r->seq;
}

/* ... and so does a live subscription whose callback is running: it may be about to pause, and
 * until the callback returns it is not among those behind (pos is then just below r: nothing
 * between is skipped) */
static void pass_evicted(fv__eng *e, seg *from, const fv__rec *r)
{
    for (eng_sub *s = e->behind; s; s = s->bnext)
        pass_one(s, from, r);
    if (e->cb_sub && e->cb_sub->state == S_LIVE)
        pass_one(e->cb_sub, from, r);
}

/* Drops the oldest record of segment s (freeing a read-back segment it empties); returns the
 * segment above when s was freed, else s. */
static seg *evict_from(fv__eng *e, int src, seg *s)
{
    srcwin *w = &e->w[src];
    fv__rec *r = ring_at(&s->q, 0);
    pass_evicted(e, s, r);
    ring_pop(&s->q);
    s->base = r->seq;
    if (r->seq > w->lost_seq) {
        w->lost_seq = r->seq;
        w->lost_ms = r->stored_ms;
    }
    account(w, s, r, -1);
    e->st.evictions++;
    fv__rec_unref(r);
    if (s->q.n == 0 && !s->top && !s->filling) {
        seg *next = s->higher;
        seg_unlink(w, s);
        seg_free(w, s);
        return next;
    }
    return s;
}

/* the lowest position, inside g, of a subscription being served right now (its records are
 * about to be delivered); g->hi when none */
static uint64_t read_pin(const fv__eng *e, int src, const seg *g)
{
    uint64_t pin = g->hi;
    for (const eng_sub *s = e->behind; s; s = s->bnext)
        if (s->state == S_CATCHUP && s->want[src] && s->pos[src] >= g->base && s->pos[src] < pin)
            pin = s->pos[src];
    return pin;
}

/* The live tail and the segments filled by reads are bounded apart: the live tail turning over
 * never pushes out what a read just brought in for waiting subscriptions, and reads never push
 * out the live tail. Read-back records go oldest first, but only those no subscription being
 * served still needs: what a catch-up is in the middle of stays, and while that alone fills the
 * budget no new shared read starts (pick_job) until the catch-ups move on - they always do, and
 * a paused client pins nothing. Evicting what a read had just brought in, before its waiters had
 * their turn, made a small window read the same range over and over. */
static void enforce_bounds(fv__eng *e, int src)
{
    srcwin *w = &e->w[src];
    while (w->top && w->top->q.n > 0 && (w->bytes > w->max_bytes || w->records > w->max_records))
        evict_from(e, src, w->top);
    while (w->rbytes > w->max_bytes) {
        bool did = false;
        for (seg *g = w->lowest; g && !g->top && w->rbytes > w->max_bytes;) {
            uint64_t pin = read_pin(e, src, g);
            seg *at = g;
            while (at == g && g->q.n > 0 && ring_at(&g->q, 0)->seq <= pin &&
                   w->rbytes > w->max_bytes) {
                at = evict_from(e, src, g);
                did = true;
            }
            if (at != g) /* g emptied and freed: at is the one above */
                g = at;
            else if (g->q.n == 0 && !g->filling) {
                seg *next = g->higher;
                seg_unlink(w, g);
                seg_free(w, g);
                g = next;
            } else
                g = g->higher;
        }
        if (!did)
            break; /* everything left is being served: it goes as the catch-ups move on */
    }
}

static void sweep_age(fv__eng *e, int64_t now)
{
    for (int src = 0; src < 2; src++) {
        srcwin *w = &e->w[src];
        if (!w->max_age_ms)
            continue;
        while (w->top && w->top->q.n > 0 && ring_at(&w->top->q, 0)->stored_ms < now - w->max_age_ms)
            evict_from(e, src, w->top);
    }
}

static seg *seg_new(uint64_t base)
{
    seg *s = calloc(1, sizeof *s);
    if (s)
        s->base = s->hi = base;
    return s;
}

void fv__eng_start_source(fv__eng *e, fv_source src, uint64_t seq)
{
    pthread_mutex_lock(&e->mu);
    srcwin *w = &e->w[src];
    if (!w->top) {
        seg *s = seg_new(seq);
        if (s) {
            s->top = true;
            s->lower = NULL;
            for (seg *x = w->lowest; x; x = x->higher)
                if (!x->higher) {
                    x->higher = s;
                    s->lower = x;
                    break;
                }
            if (!w->lowest)
                w->lowest = s;
            w->top = s;
            if (w->lost_seq < seq && !e->ops.read_open)
                w->lost_seq = seq;
        }
    }
    pthread_mutex_unlock(&e->mu);
}

uint64_t fv__eng_last_seq(fv__eng *e, fv_source src)
{
    pthread_mutex_lock(&e->mu);
    uint64_t last = e->w[src].top ? e->w[src].top->hi : 0;
    pthread_mutex_unlock(&e->mu);
    return last;
}

void fv__eng_lost(fv__eng *e, fv_source src, uint64_t *seq, int64_t *ms)
{
    pthread_mutex_lock(&e->mu);
    *seq = e->w[src].lost_seq;
    *ms = e->w[src].lost_ms;
    pthread_mutex_unlock(&e->mu);
}

uint64_t fv__eng_seq_at_time(fv__eng *e, fv_source src, int64_t time_ms)
{
    pthread_mutex_lock(&e->mu);
    srcwin *w = &e->w[src];
    uint64_t out = w->top ? w->top->hi + 1 : 1;
    for (seg *s = w->lowest; s; s = s->higher) {
        size_t lo = 0, hi = s->q.n;
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (ring_at(&s->q, mid)->stored_ms < time_ms)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo < s->q.n) {
            out = ring_at(&s->q, lo)->seq;
            break;
        }
    }
    pthread_mutex_unlock(&e->mu);
    return out;
}

/* --- subscriptions: references, the work queue, callbacks ------------------------------------ */

static void deep_drop(fv__eng *e, deep *d)
{
    if (!d)
        return;
    for (size_t k = d->i; k < d->n; k++)
        fv__rec_unref(d->buf[k]);
    free(d->buf);
    if (d->h && e->ops.read_close)
        e->ops.read_close(e->ops.ctx, d->h);
    free(d);
}

/* under the lock: a reader thread closes it (never the dispatcher: it is a server round trip) */
static void deep_retire(fv__eng *e, deep *d)
{
    if (!d)
        return;
    d->rnext = e->retired;
    e->retired = d;
    pthread_cond_signal(&e->rwake);
}

static void sub_free(fv__eng *e, eng_sub *s)
{
    if (s->dp[0] || s->dp[1]) {
        pthread_mutex_lock(&e->mu);
        deep_retire(e, s->dp[0]);
        deep_retire(e, s->dp[1]);
        pthread_mutex_unlock(&e->mu);
    }
    if (s->on_release)
        s->on_release(s->ud);
    free(s->fail_why);
    free(s);
}

/* drops a reference under the lock; the last one releases with the lock dropped (on_release may
 * call into the bus, and closing a filtered reader talks to the server) */
static void sub_unref_locked(fv__eng *e, eng_sub *s)
{
    if (--s->refs > 0)
        return;
    pthread_mutex_unlock(&e->mu);
    sub_free(e, s);
    pthread_mutex_lock(&e->mu);
}

static void work_push(fv__eng *e, eng_sub *s)
{
    if (s->queued || s->closed)
        return;
    s->queued = true;
    s->refs++;
    s->wnext = NULL;
    if (e->work_tail)
        e->work_tail->wnext = s;
    else
        e->work_head = s;
    e->work_tail = s;
    e->work_n++;
    pthread_cond_signal(&e->wake);
}

static eng_sub *work_pop(fv__eng *e)
{
    eng_sub *s = e->work_head;
    e->work_head = s->wnext;
    if (!e->work_head)
        e->work_tail = NULL;
    s->queued = false;
    e->work_n--;
    return s;
}

static void to_catchup(fv__eng *e, eng_sub *s)
{
    if (!s->counted) {
        s->counted = true;
        e->st.catchups_total++;
    }
    set_state(e, s, S_CATCHUP);
    work_push(e, s);
}

/* Under the lock, from any thread: the subscription ends with ERROR(why). The dispatcher sends
 * it (serve), as every other message: callbacks of one subscription never run on two threads. */
static void fail_sub(fv__eng *e, eng_sub *s, const char *why)
{
    if (s->closed || s->state == S_DONE || s->fail_why)
        return;
    s->fail_why = strdup(why && *why ? why : "the subscription failed");
    if (!s->fail_why) { /* no memory even for the reason: it ends without one */
        set_state(e, s, S_DONE);
        return;
    }
    to_catchup(e, s);
}

/* Runs the callback with the lock dropped and applies PAUSE: a resume that raced with the
 * decision to pause wins, and the subscription goes straight back to catch-up. */
static int call_locked(fv__eng *e, eng_sub *s, const fv_msg *m)
{
    s->in_cb = true;
    s->resume_early = false;
    e->called = true;
    e->cb_sub = s;
    pthread_mutex_unlock(&e->mu);
    int rc = s->on_msg(s->ud, m);
    pthread_mutex_lock(&e->mu);
    e->cb_sub = NULL;
    s->in_cb = false;
    if (rc == FV_SUB_PAUSE && !s->closed) {
        if (s->resume_early) {
            s->resume_early = false;
            to_catchup(e, s);
        } else {
            set_state(e, s, S_PAUSED);
        }
    }
    return rc;
}

static int send_ctl(fv__eng *e, eng_sub *s, fv_msg_kind kind, const char *error)
{
    fv_msg m;
    memset(&m, 0, sizeof m);
    m.kind = kind;
    m.cursor = cursor_of(s->epoch, s->pos, s->want);
    m.error = error;
    if (kind == FV_MSG_GAP) {
        m.gap_requested = s->gap_req;
        m.gap_resumed_from = s->gap_from;
        m.cursor = s->gap_from;
    }
    return call_locked(e, s, &m);
}

static void msg_for_rec(fv_msg *m, const fv__rec *r)
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

/* Delivers (or scans past) one record; the position moves unless the callback paused. Returns
 * true when a message was delivered. */
static bool deliver_rec(fv__eng *e, eng_sub *s, fv__rec *r)
{
    int src = (int)r->src;
    if (r->stored_ms < s->min_ms || strcmp(fv__rec_tenant(r), s->pattern.tenant_id) != 0) {
        s->pos[src] = r->seq;
        return false;
    }
    bool match;
    if (!s->pattern.accept) {
        match = rec_matches(&s->pattern, r);
    } else {
        fv__rec_ref(r);
        pthread_mutex_unlock(&e->mu);
        match = rec_matches(&s->pattern, r);
        pthread_mutex_lock(&e->mu);
        fv__rec_unref(r);
        if (s->closed)
            return false;
    }
    if (!match) {
        s->pos[src] = r->seq;
        return false;
    }
    fv_msg m;
    msg_for_rec(&m, r);
    m.more = e->round_more;
    uint64_t after[2] = {s->pos[0], s->pos[1]};
    after[src] = r->seq;
    m.cursor = cursor_of(s->epoch, after, s->want);
    m.shared = &r->shared;
    m.shared_free = &r->shared_free;
    if (call_locked(e, s, &m) != FV_SUB_PAUSE && !s->closed)
        s->pos[src] = r->seq;
    return true;
}

/* FV_MSG_LIVE once, before anything from the fan-out; false if it paused on it or closed */
static bool live_announced(fv__eng *e, eng_sub *s)
{
    if (s->live_sent)
        return true;
    if (send_ctl(e, s, FV_MSG_LIVE, NULL) == FV_SUB_PAUSE || s->closed)
        return false;
    s->live_sent = true;
    return true;
}

/* --- catch-up --------------------------------------------------------------------------------- */

typedef enum { NX_REC, NX_EDGE, NX_READ, NX_GONE } nx_kind;

/* Where the next record after *posp of src is, for a catch-up (or a bounded read: max_order
 * UINT64_MAX, no filtered reader) that may take records arrived up to max_order. NX_REC: *out (from
 * a segment or the subscription's filtered reader); NX_EDGE: nothing stored after pos yet; NX_READ:
 * stored, but not in memory; NX_GONE: below what the store keeps (memory store) - the caller moves
 * to the floor and says `gap`. */
static nx_kind next_in(fv__eng *e, int src, uint64_t *posp, deep *d, uint64_t max_order,
                       fv__rec **out)
{
    srcwin *w = &e->w[src];
    if (d && d->i < d->n && d->buf[d->i]->seq > *posp) {
        *out = d->buf[d->i];
        return NX_REC;
    }
    if (d && d->ended && d->i >= d->n && *posp < d->to) {
        /* the filtered reader saw every record of its filter up to `to`: nothing in between
         * was for this subscription */
        *posp = d->to;
    }
    for (;;) {
        if (!w->top)
            return e->ops.read_open ? NX_READ : NX_EDGE;
        if (*posp >= w->top->hi)
            return NX_EDGE;
        seg *g = seg_covering(w, *posp);
        if (!g)
            return e->ops.read_open ? NX_READ : NX_GONE;
        size_t i = seg_upper(g, *posp);
        if (i < g->q.n) {
            fv__rec *r = ring_at(&g->q, i);
            if (g->top && r->order > max_order)
                return NX_EDGE;
            *out = r;
            return NX_REC;
        }
        *posp = g->hi; /* nothing stored in (pos, hi]: the segment vouches for it */
    }
}

static nx_kind next_of(fv__eng *e, eng_sub *s, int src, uint64_t max_order, fv__rec **out)
{
    return next_in(e, src, &s->pos[src], s->dp[src], max_order, out);
}

/* A position below the store's floor moves to it with a `gap` (one not sent yet grows). */
static void gap_to(fv__eng *e, eng_sub *s, const uint64_t floor[2])
{
    fv_cursor before = cursor_of(s->epoch, s->pos, s->want);
    bool moved = false;
    for (int i = 0; i < 2; i++) {
        if (s->want[i] && s->pos[i] < floor[i]) {
            s->pos[i] = floor[i];
            moved = true;
        }
    }
    if (!moved)
        return;
    if (!s->gap_pending)
        s->gap_req = before;
    s->gap_pending = true;
    s->gap_from = cursor_of(s->epoch, s->pos, s->want);
}

static void go_live(fv__eng *e, eng_sub *s)
{
    for (int i = 0; i < 2; i++) {
        deep *d = s->dp[i];
        if (!d)
            continue;
        if (d->busy) { /* its job finishes first and runs this subscription again */
            s->need_src = i;
            set_state(e, s, S_WAIT);
            return;
        }
        s->dp[i] = NULL; /* the filtered reader is done with */
        deep_retire(e, d);
    }
    set_state(e, s, S_LIVE);
    live_announced(e, s);
}

/* One turn of a catching-up subscription: at most `batch` messages, then back in the queue. */
static void serve(fv__eng *e, eng_sub *s)
{
    size_t delivered = 0, scanned = 0;
    e->round_more = true; /* a catch-up batch is written at the round's end */
    for (;;) {
        if (!s->closed && s->state == S_LIVE) { /* live from the start: only announce it */
            live_announced(e, s);
            break;
        }
        if (s->closed || s->state != S_CATCHUP)
            break;
        if (s->fail_why) {
            send_ctl(e, s, FV_MSG_ERROR, s->fail_why);
            if (!s->closed)
                set_state(e, s, S_DONE);
            break;
        }
        if (delivered >= s->batch || scanned >= ENG_SCAN_PER_TURN) {
            work_push(e, s);
            break;
        }
        if (s->gap_pending) {
            if (send_ctl(e, s, FV_MSG_GAP, NULL) != FV_SUB_PAUSE && !s->closed)
                s->gap_pending = false;
            continue;
        }
        if (s->end_pending) {
            if (send_ctl(e, s, FV_MSG_END, NULL) != FV_SUB_PAUSE && !s->closed) {
                s->end_pending = false;
                set_state(e, s, S_DONE);
            }
            continue;
        }
        /* Past `until` nothing new can qualify (store times only grow): drain what is stored,
         * queued for fan-out or not, and end. */
        bool ending = s->until_ms && clock_locked(e) > s->until_ms;
        uint64_t max_order = ending ? UINT64_MAX : e->fanout_order;
        fv__rec *best = NULL;
        int best_src = -1;
        bool wait = false, gone = false;
        for (int i = 0; i < 2 && !wait; i++) {
            if (!s->want[i])
                continue;
            fv__rec *r = NULL;
            switch (next_of(e, s, i, max_order, &r)) {
            case NX_REC:
                if (!best || rec_before(r, best)) {
                    best = r;
                    best_src = i;
                }
                break;
            case NX_EDGE: break;
            case NX_READ:
                s->need_src = i;
                wait = true;
                break;
            case NX_GONE: gone = true; break;
            }
        }
        if (gone) {
            uint64_t floor[2] = {e->w[0].lost_seq, e->w[1].lost_seq};
            gap_to(e, s, floor);
            continue;
        }
        if (wait) {
            s->need_since = fv_monotonic_ms();
            set_state(e, s, S_WAIT);
            e->st.misses++;
            break;
        }
        if (!best) {
            if (ending)
                s->end_pending = true;
            else
                go_live(e, s);
            continue;
        }
        if (s->until_ms && best->stored_ms > s->until_ms) {
            s->end_pending = true;
            continue;
        }
        deep *d = s->dp[best_src];
        bool from_deep = d && d->i < d->n && d->buf[d->i] == best;
        fv__rec_ref(best);
        if (deliver_rec(e, s, best))
            delivered++;
        scanned++;
        if (from_deep && s->dp[best_src] == d && s->pos[best_src] >= best->seq) {
            d->i++;
            fv__rec_unref(best); /* the buffer's reference */
        }
        fv__rec_unref(best);
    }
    sub_unref_locked(e, s); /* the work queue's reference */
}

/* --- fan-out -----------------------------------------------------------------------------------
 */

static bool fan_reserve(fv__eng *e, size_t n)
{
    if (n <= e->fan_cap)
        return true;
    size_t cap = e->fan_cap ? e->fan_cap * 2 : 64;
    while (cap < n)
        cap *= 2;
    eng_sub **f = realloc(e->fan, cap * sizeof *f);
    if (!f)
        return false;
    e->fan = f;
    e->fan_cap = cap;
    return true;
}

/* The oldest queued record to every live subscription of its tenant. */
static void fanout_one(fv__eng *e)
{
    fv__rec *r = ring_pop(&e->live);
    pthread_cond_broadcast(&e->space);
    /* the last record queued goes out at once; records behind it share the round's writes */
    e->round_more = e->live.n > 0;
    e->fanout_order = r->order;
    e->st.live_received++;
    int src = (int)r->src;
    eng_tenant *t = r->decoded ? tenant_find(e, fv__rec_tenant(r)) : NULL;
    size_t n = 0;
    for (eng_sub *s = t ? t->subs : NULL; s; s = s->tnext) {
        if (s->state != S_LIVE || !s->want[src] || r->seq <= s->pos[src])
            continue;
        if (!fan_reserve(e, n + 1)) {
            to_catchup(e, s); /* no memory for the list: this one catches up instead */
            continue;
        }
        s->refs++;
        e->fan[n++] = s;
    }
    for (size_t i = 0; i < n; i++) {
        eng_sub *s = e->fan[i];
        if (!s->closed && s->state == S_LIVE && r->seq > s->pos[src]) {
            if (s->until_ms && r->stored_ms > s->until_ms) {
                s->end_pending = true;
                to_catchup(e, s); /* serve() sends END */
            } else if (live_announced(e, s) && !s->closed && s->state == S_LIVE) {
                deliver_rec(e, s, r);
            }
        }
        sub_unref_locked(e, s);
    }
    fv__rec_unref(r); /* the queue's reference */
}

static void tick(fv__eng *e)
{
    int64_t now = clock_locked(e);
    sweep_age(e, now);
    for (int src = 0; src < 2; src++) /* catch-ups moved on: what they left behind can go */
        if (e->w[src].rbytes > e->w[src].max_bytes)
            enforce_bounds(e, src);
    /* only subscriptions with an `until`: walking every open one 20 times a second was 68 % of
     * an idle gateway's CPU with 5,000 streams (perf) */
    for (eng_sub *s = e->untils; s; s = s->unext)
        if (s->state == S_LIVE && now > s->until_ms)
            to_catchup(e, s);
}

/* The caller's hook after a round of callbacks (lock dropped): what they queued goes out once
 * per round, not once per message */
static void after_callbacks(fv__eng *e)
{
    if (!e->called || !e->cfg.after_callbacks)
        return;
    e->called = false;
    pthread_mutex_unlock(&e->mu);
    e->cfg.after_callbacks(e->cfg.after_callbacks_ud);
    pthread_mutex_lock(&e->mu);
}

static void *dispatcher(void *arg)
{
    fv__eng *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!e->stopping) {
        bool did = false;
        for (int k = 0; k < ENG_FANOUT_PER_TURN && e->live.n && !e->stopping; k++) {
            fanout_one(e);
            did = true;
        }
        after_callbacks(e);
        /* every waiting subscription gets a batch per turn, more than the live records of a
         * turn, so catch-up outpaces a sustained publish rate instead of starving behind it */
        for (size_t k = e->work_n; k > 0 && e->work_head && !e->stopping; k--) {
            serve(e, work_pop(e));
            did = true;
        }
        after_callbacks(e);
        int64_t mono = fv_monotonic_ms();
        if (mono - e->last_tick >= ENG_TICK_MS) {
            e->last_tick = mono;
            tick(e);
        }
        if (!did && !e->stopping && !e->live.n && !e->work_head) {
            struct timespec ts;
            fv_deadline_ms(&ts, CLOCK_MONOTONIC, ENG_TICK_MS);
            pthread_cond_timedwait(&e->wake, &e->mu, &ts);
        }
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* --- append ------------------------------------------------------------------------------------
 */

bool fv__eng_wait_space(fv__eng *e)
{
    if (on_dispatcher(e))
        return !e->stopping;
    pthread_mutex_lock(&e->mu);
    while (e->live.n >= e->cfg.live_queue_max && !e->stopping)
        pthread_cond_wait(&e->space, &e->mu);
    bool ok = !e->stopping;
    pthread_mutex_unlock(&e->mu);
    return ok;
}

bool fv__eng_append(fv__eng *e, fv__rec *r, bool assign_seq)
{
    pthread_mutex_lock(&e->mu);
    int src = (int)r->src;
    srcwin *w = &e->w[src];
    seg *top = w->top; /* both backends start their sources before the first append */
    if (top && assign_seq) {
        r->seq = top->hi + 1;
        r->stored_ms = clock_locked(e);
    }
    if (!top || r->seq <= top->hi || e->stopping) {
        pthread_mutex_unlock(&e->mu);
        fv__rec_unref(r);
        return false;
    }
    r->order = ++e->order;
    if (!ring_push(&top->q, r)) {
        /* no memory to keep it: the window restarts above it, a reader finds it in the store
         * (the memory store loses it: `gap`) */
        top->base = r->seq;
        if (!e->ops.read_open) {
            w->lost_seq = r->seq;
            w->lost_ms = r->stored_ms;
        }
    } else {
        fv__rec_ref(r);
        account(w, top, r, +1);
    }
    top->hi = r->seq;
    if (!ring_push(&e->live, r)) {
        /* cannot queue it: every live subscription of its tenant catches up past it instead */
        fv__rec_unref(r);
        eng_tenant *t = tenant_find(e, fv__rec_tenant(r));
        for (eng_sub *s = t ? t->subs : NULL; s; s = s->tnext)
            if (s->state == S_LIVE)
                to_catchup(e, s);
        e->fanout_order = r->order;
    }
    enforce_bounds(e, src);
    pthread_cond_signal(&e->wake);
    pthread_mutex_unlock(&e->mu);
    return true;
}

/* --- reads: shared (into the window) and filtered (one subscription) -------------------------- */

static void wake_waiting(fv__eng *e, int src, bool all)
{
    for (eng_sub *s = e->behind; s; s = s->bnext) {
        if (s->state != S_WAIT || s->closed)
            continue;
        if (!all && s->need_src != src)
            continue;
        uint64_t pos = s->pos[s->need_src];
        srcwin *w = &e->w[s->need_src];
        deep *d = s->dp[s->need_src];
        bool ready = all || (d && d->i < d->n) || (w->top && pos >= w->top->hi) ||
                     seg_covering(w, pos) != NULL;
        if (ready) {
            set_state(e, s, S_CATCHUP);
            work_push(e, s);
        }
    }
    pthread_cond_broadcast(&e->filled);
}

/* Records one shared read may bring in: what fits in half the read budget at the window's
 * average record size. A position further below gets a filtered reader of its own: dragging
 * the whole stream through memory for it would only evict what others need. */
static uint64_t read_max(const srcwin *w)
{
    size_t n = w->records + w->records_read;
    size_t avg = n ? (w->bytes + w->rbytes) / n : 512;
    uint64_t m = (uint64_t)(w->max_bytes / 2 / (avg ? avg : 1));
    if (m < 8)
        m = 8;
    return m < ENG_READ_MAX ? m : ENG_READ_MAX;
}

/* Under the lock: the next read to run, or false. A shared read starts at the lowest position
 * waiting on a source that no running read will reach; a position more than a read's worth
 * below the segment above gets its own filtered reader. */
/* under the lock: a shared read already under way will pass pos */
static bool read_under_way(const srcwin *w, uint64_t pos)
{
    for (seg *g = w->lowest; g; g = g->higher)
        if (g->filling && g->base <= pos && g->filling->to > pos)
            return true;
    return false;
}

/* what a read from pos must reach: the base of the segment above */
static uint64_t reach_of(const srcwin *w, uint64_t pos)
{
    seg *above = seg_above(w, pos);
    return above ? above->base : (w->top ? w->top->hi : pos);
}

static bool start_deep(fv__eng *e, eng_sub *s, int src, job *j)
{
    srcwin *w = &e->w[src];
    deep *d = s->dp[src];
    if (!d) {
        d = calloc(1, sizeof *d);
        if (!d)
            return false;
        s->dp[src] = d;
    }
    d->busy = true;
    s->refs++;
    uint64_t pos = s->pos[src];
    *j = (job){.src = src, .gen = w->gen, .from = pos + 1, .to = reach_of(w, pos), .sub = s};
    return true;
}

/* Under the lock: the next read to run, or false. A shared read starts at the lowest position
 * waiting on a source that no running read will reach. Positions far below the window (more than
 * one read's worth under the segment above) get filtered readers of their own while they are
 * few - fewer than the shared reads a sweep of their whole range would take; many of them are
 * swept with shared reads from the lowest up instead, so a storm far back costs reads in
 * proportion to the range, never to the number of clients. */
static bool pick_job(fv__eng *e, job *j, int64_t *wait_ms)
{
    int64_t now = fv_monotonic_ms();
    *wait_ms = -1;
    eng_sub *lowest[2] = {NULL, NULL};
    size_t far[2] = {0, 0};
    uint64_t far_lo[2] = {UINT64_MAX, UINT64_MAX}, far_hi[2] = {0, 0};
    for (eng_sub *s = e->behind; s; s = s->bnext) {
        if (s->state != S_WAIT || s->closed)
            continue;
        int src = s->need_src;
        srcwin *w = &e->w[src];
        uint64_t pos = s->pos[src];
        deep *d = s->dp[src];
        if ((d && d->busy) || read_under_way(w, pos))
            continue;
        if (d) /* a filtered reader already open goes on */
            return start_deep(e, s, src, j);
        uint64_t reach = reach_of(w, pos);
        if (reach - pos > read_max(w)) {
            far[src]++;
            if (pos < far_lo[src])
                far_lo[src] = pos;
            if (reach > far_hi[src])
                far_hi[src] = reach;
        }
        if (!lowest[src] || pos < lowest[src]->pos[src])
            lowest[src] = s;
    }
    for (int src = 0; src < 2; src++) {
        if (!far[src])
            continue;
        uint64_t sweep = (far_hi[src] - far_lo[src]) / read_max(&e->w[src]) + 1;
        if (far[src] >= sweep)
            continue; /* many: swept by shared reads below */
        for (eng_sub *s = e->behind; s; s = s->bnext) {
            if (s->state != S_WAIT || s->closed || s->need_src != src || s->dp[src])
                continue;
            srcwin *w = &e->w[src];
            uint64_t pos = s->pos[src];
            if (!read_under_way(w, pos) && reach_of(w, pos) - pos > read_max(w))
                return start_deep(e, s, src, j);
        }
    }
    for (int src = 0; src < 2; src++) {
        eng_sub *s = lowest[src];
        if (!s)
            continue;
        srcwin *ws = &e->w[src];
        if (ws->rbytes > ws->max_bytes) {
            enforce_bounds(e, src);
            if (ws->rbytes > ws->max_bytes) { /* full of what catch-ups are reading: later */
                if (*wait_ms < 0 || ENG_TICK_MS < *wait_ms)
                    *wait_ms = ENG_TICK_MS;
                continue;
            }
        }
        int64_t age = now - s->need_since;
        if (age < ENG_GATHER_MS) { /* a storm arrives over a few milliseconds: gather it */
            int64_t left = ENG_GATHER_MS - age;
            if (*wait_ms < 0 || left < *wait_ms)
                *wait_ms = left;
            continue;
        }
        srcwin *w = &e->w[src];
        uint64_t pos = s->pos[src];
        seg *above = seg_above(w, pos);
        if (!above)
            continue;
        seg *g = seg_new(pos);
        if (!g)
            continue;
        g->higher = above;
        g->lower = above->lower;
        if (above->lower)
            above->lower->higher = g;
        else
            w->lowest = g;
        above->lower = g;
        *j = (job){.src = src, .gen = w->gen, .from = pos + 1, .to = above->base, .s = g};
        g->filling = j; /* never freed under the reader; other waiters see the read under way */
        return true;
    }
    return false;
}

/* Fails a subscription's read for good after too many attempts (JetStream unreachable). */
static void read_failed(fv__eng *e, eng_sub *s, const char *msg)
{
    if (++s->failures < ENG_READ_FAILURES) {
        s->need_since = fv_monotonic_ms() + ENG_READ_RETRY_MS - ENG_GATHER_MS;
        return;
    }
    fail_sub(e, s, msg);
}

static void run_shared(fv__eng *e, job *j)
{
    int src = j->src;
    srcwin *w = &e->w[src];
    /* gaps first: what the store no longer keeps is not read */
    uint64_t floor = 0, last = 0;
    int64_t lost_ms = 0;
    fv_err err = {{0}};
    pthread_mutex_unlock(&e->mu);
    fv_status st =
        e->ops.store_state(e->ops.ctx, (fv_source)src, false, &floor, &lost_ms, &last, &err);
    void *h = NULL;
    uint64_t from = j->from;
    if (st == FV_OK && floor >= from)
        from = floor + 1;
    if (st == FV_OK && from <= j->to)
        st = e->ops.read_open(e->ops.ctx, (fv_source)src, NULL, from, &h, &err);
    pthread_mutex_lock(&e->mu);
    if (st == FV_OK) {
        e->st.reads++;
        for (eng_sub *s = e->behind; s; s = s->bnext) {
            if (s->state == S_WAIT && s->need_src == src && s->pos[src] < floor) {
                uint64_t fl[2] = {s->pos[0], s->pos[1]};
                fl[src] = floor;
                gap_to(e, s, fl);
            }
        }
        if (w->gen == j->gen && j->s->q.n == 0 && j->s->base < floor && floor <= j->to) {
            j->s->base = j->s->hi = floor;
        }
    }
    bool done = st != FV_OK || from > j->to;
    size_t total = 0;
    while (!done && !e->stopping && w->gen == j->gen) {
        fv__rec *batch[ENG_READ_BATCH];
        size_t n = 0;
        bool at_end = false;
        /* a read brings in at most half the read budget: what it brings must still be there
         * when its waiters get their turn */
        uint64_t left = read_max(w) > total ? read_max(w) - total : 1;
        size_t want = left < ENG_READ_BATCH ? (size_t)left : ENG_READ_BATCH;
        pthread_mutex_unlock(&e->mu);
        st = e->ops.read_next(e->ops.ctx, h, want, batch, &n, &at_end, &err);
        pthread_mutex_lock(&e->mu);
        if (st != FV_OK)
            break;
        for (size_t i = 0; i < n; i++) {
            fv__rec *r = batch[i];
            if (done || w->gen != j->gen || r->seq <= j->s->hi || r->seq > j->to) {
                if (r->seq > j->to)
                    done = true;
                fv__rec_unref(r);
                continue;
            }
            if (ring_push(&j->s->q, r)) {
                account(w, j->s, r, +1);
                j->s->hi = r->seq;
                e->st.read_records++;
            } else {
                fv__rec_unref(r);
                done = true;
            }
            total++;
        }
        if (at_end || (j->s && j->s->hi >= j->to))
            done = true;
        if (!done && total >= read_max(w))
            break; /* enough for one read: the next one continues from here */
        if (w->gen == j->gen) {
            if (done)
                j->s->hi = j->to > j->s->hi ? j->to : j->s->hi;
            wake_waiting(e, src, false);
        }
    }
    if (w->gen == j->gen) {
        if (done && st == FV_OK && j->s->hi < j->to)
            j->s->hi = j->to; /* every stored record up to `to` was seen */
        j->s->filling = NULL;
        seg *g = j->s;
        if (g->q.n == 0 && g->hi == g->base) {
            seg_unlink(w, g);
            seg_free(w, g);
        } /* else it stays a segment of its own: it touches the one above, and its records are
             evicted apart from the live tail */
        /* waiters first: a subscription being served pins what it reads, a waiting one not */
        wake_waiting(e, src, false);
        enforce_bounds(e, src);
    }
    if (st != FV_OK) {
        fv_log(FV_LOG_WARN, "bus", "shared read failed; retrying", "error", err.msg, NULL);
        for (eng_sub *s = e->behind; s; s = s->bnext)
            if (s->state == S_WAIT && s->need_src == src)
                read_failed(e, s, err.msg);
    }
    if (h) {
        pthread_mutex_unlock(&e->mu);
        e->ops.read_close(e->ops.ctx, h);
        pthread_mutex_lock(&e->mu);
    }
}

static void run_deep(fv__eng *e, job *j)
{
    eng_sub *s = j->sub;
    int src = j->src;
    deep *d = s->dp[src];
    fv_err err = {{0}};
    fv_status st = FV_OK;
    d->to = j->to;
    d->ended = false;
    if (!s->closed) {
        e->st.deep_reads += d->h ? 0 : 1;
        /* a reader left behind (paused, or the window moved) starts again where it must */
        bool reopen = !d->h || d->next != j->from || d->gen != j->gen;
        void *old = reopen ? d->h : NULL;
        if (reopen)
            d->h = NULL;
        char filter[FV_SUBJECT_MAX + 1];
        fv_pattern p = s->pattern;
        pthread_mutex_unlock(&e->mu);
        if (old)
            e->ops.read_close(e->ops.ctx, old);
        void *h = NULL;
        if (reopen) {
            st = src == FV_SRC_EVENTS
                     ? fv_pattern_events_filter(&p, e->prefix, filter, sizeof filter)
                     : fv_pattern_streams_filter(&p, e->prefix, filter, sizeof filter);
            if (st != FV_OK)
                fv_err_set(&err, st, "read: cannot build the subject filter");
            else
                st = e->ops.read_open(e->ops.ctx, (fv_source)src, filter, j->from, &h, &err);
        }
        fv__rec *batch[ENG_READ_BATCH];
        size_t n = 0;
        bool at_end = false;
        if (st == FV_OK)
            st = e->ops.read_next(e->ops.ctx, reopen ? h : d->h, ENG_READ_BATCH, batch, &n, &at_end,
                                  &err);
        pthread_mutex_lock(&e->mu);
        if (reopen) {
            d->h = h;
            d->gen = j->gen;
            d->next = j->from;
        }
        if (st == FV_OK) {
            e->st.read_records += n;
            /* drop what was consumed, keep the rest */
            size_t keep = d->n - d->i;
            fv__rec **nb = malloc((keep + n + 1) * sizeof *nb);
            if (!nb) {
                for (size_t i = 0; i < n; i++)
                    fv__rec_unref(batch[i]);
                n = 0;
            } else {
                if (keep)
                    memcpy(nb, d->buf + d->i, keep * sizeof *nb);
                free(d->buf);
                d->buf = nb;
                d->n = keep;
                d->i = 0;
            }
            bool reached = false; /* a record past `to`: the window holds it */
            for (size_t i = 0; i < n; i++) {
                fv__rec *r = batch[i];
                /* where the consumer is, dropped records included: a later read below them must
                 * open a new one, not continue past them */
                d->next = r->seq + 1;
                if (r->seq > j->to || reached) {
                    reached = true;
                    fv__rec_unref(r);
                    continue;
                }
                d->buf[d->n++] = r;
            }
            if (reached ||
                at_end) /* every record of its filter up to `to` was read: the window follows */
                d->ended = true;
            if (d->n == 0 && !reached && n == 0 && !at_end)
                read_failed(e, s, "read: the store keeps answering empty");
            s->failures = 0;
        }
    }
    d->busy = false;
    if (st != FV_OK) {
        fv_log(FV_LOG_WARN, "bus", "filtered read failed; retrying", "error", err.msg, NULL);
        if (d->h) {
            void *h = d->h;
            d->h = NULL;
            pthread_mutex_unlock(&e->mu);
            e->ops.read_close(e->ops.ctx, h);
            pthread_mutex_lock(&e->mu);
        }
        read_failed(e, s, err.msg);
    } else if (d->ended && d->i >= d->n) {
        /* done: nothing of its filter up to `to` is left, and the window covers the rest */
        if (s->pos[src] < d->to)
            s->pos[src] = d->to;
        s->dp[src] = NULL;
        deep_retire(e, d);
    }
    if (!s->closed && s->state == S_WAIT && (st == FV_OK)) {
        set_state(e, s, S_CATCHUP);
        work_push(e, s);
    }
    sub_unref_locked(e, s);
}

static void *reader_main(void *arg)
{
    fv__eng *e = arg;
    pthread_mutex_lock(&e->mu);
    while (!e->stopping) {
        if (e->retired) {
            deep *d = e->retired;
            e->retired = d->rnext;
            pthread_mutex_unlock(&e->mu);
            deep_drop(e, d);
            pthread_mutex_lock(&e->mu);
            continue;
        }
        job j;
        int64_t wait_ms = -1;
        if (pick_job(e, &j, &wait_ms)) {
            if (j.sub)
                run_deep(e, &j);
            else
                run_shared(e, &j);
            continue;
        }
        struct timespec ts;
        fv_deadline_ms(&ts, CLOCK_MONOTONIC, wait_ms >= 0 ? wait_ms + 1 : 200);
        pthread_cond_timedwait(&e->rwake, &e->mu, &ts);
    }
    pthread_mutex_unlock(&e->mu);
    return NULL;
}

/* --- where a subscription or read starts (CONTRACT §4) ---------------------------------------- */

typedef struct plan {
    uint64_t epoch;
    uint64_t pos[2];
    int64_t min_ms;
    bool gap;
    fv_cursor gap_req, gap_from;
} plan;

static fv_status plan_start(fv__eng *e, const fv_start *st, const bool want[2], plan *p,
                            fv_err *err)
{
    memset(p, 0, sizeof *p);
    p->min_ms = INT64_MIN;
    uint64_t epoch = e->ops.epoch(e->ops.ctx);
    p->epoch = epoch;
    uint64_t floor[2] = {0, 0}, last[2] = {0, 0};
    int64_t lost_ms[2] = {0, 0};
    for (int i = 0; i < 2; i++) {
        if (!want[i])
            continue;
        fv_status rc = e->ops.store_state(e->ops.ctx, (fv_source)i, st->kind == FV_START_NEW,
                                          &floor[i], &lost_ms[i], &last[i], err);
        if (rc != FV_OK)
            return rc;
    }
    uint64_t *pos = p->pos;
    switch (st->kind) {
    case FV_START_NEW:
        pos[0] = last[0];
        pos[1] = last[1];
        break;
    case FV_START_CURSOR:
        p->gap_req = st->cursor;
        if (st->cursor.epoch != epoch) {
            pos[0] = floor[0];
            pos[1] = floor[1];
            p->gap = true;
        } else {
            pos[0] = st->cursor.events_seq;
            pos[1] = st->cursor.streams_seq;
        }
        break;
    case FV_START_SEQ:
        p->gap_req = (fv_cursor){st->events_seq ? st->events_seq - 1 : 0,
                                 st->streams_seq ? st->streams_seq - 1 : 0, epoch};
        pos[0] = st->events_seq ? st->events_seq - 1 : floor[0];
        pos[1] = st->streams_seq ? st->streams_seq - 1 : floor[1];
        break;
    case FV_START_FIRST:
        pos[0] = st->events_seq > floor[0] ? st->events_seq - 1 : floor[0];
        pos[1] = st->streams_seq > floor[1] ? st->streams_seq - 1 : floor[1];
        break;
    case FV_START_TIME:
        p->min_ms = st->time_ms;
        p->gap_req.epoch = epoch;
        for (int i = 0; i < 2; i++) {
            pos[i] = floor[i];
            if (!want[i])
                continue;
            /* something stored at or after the requested time may already be gone */
            if (floor[i] > 0 && lost_ms[i] >= st->time_ms)
                p->gap = true;
            uint64_t at = 0;
            fv_status rc = e->ops.seq_at_time(e->ops.ctx, (fv_source)i, st->time_ms, &at, err);
            if (rc != FV_OK)
                return rc;
            if (at > 0 && at - 1 > pos[i])
                pos[i] = at - 1;
        }
        break;
    }
    for (int i = 0; i < 2; i++) {
        if (!want[i]) {
            pos[i] = 0;
            continue;
        }
        if ((st->kind == FV_START_CURSOR || st->kind == FV_START_SEQ) && pos[i] < floor[i]) {
            pos[i] = floor[i]; /* before retained history */
            p->gap = true;
        }
        if (pos[i] > last[i] && st->kind != FV_START_NEW && !e->ops.read_open)
            pos[i] = last[i]; /* a cursor from the future of a memory store: nothing skipped */
    }
    if (!want[0])
        p->gap_req.events_seq = 0;
    if (!want[1])
        p->gap_req.streams_seq = 0;
    p->gap_from = (fv_cursor){pos[0], pos[1], epoch};
    return FV_OK;
}

/* --- subscribe / resume / close -----------------------------------------------------------------
 */

fv_status fv__eng_subscribe(fv__eng *e, fv_bus *bus, const fv_sub_config *cfg, fv_sub **out,
                            fv_err *err)
{
    eng_sub *s = calloc(1, sizeof *s);
    if (!s)
        return fv_err_set(err, FV_ENOMEM, "subscribe: out of memory");
    s->base.bus = bus;
    s->e = e;
    s->pattern = cfg->pattern;
    s->want[0] = fv_pattern_wants_events(&s->pattern);
    s->want[1] = fv_pattern_wants_streams(&s->pattern);
    s->on_msg = cfg->on_msg;
    s->on_release = cfg->on_release;
    s->ud = cfg->ud;
    s->batch = cfg->max_catchup_batch ? cfg->max_catchup_batch : 256;
    s->until_ms = cfg->start.until_ms;
    s->refs = 1; /* the caller's handle */
    plan p;
    fv_status st = plan_start(e, &cfg->start, s->want, &p, err);
    if (st != FV_OK) {
        free(s);
        return st;
    }
    s->pos[0] = p.pos[0];
    s->pos[1] = p.pos[1];
    s->epoch = p.epoch;
    s->min_ms = p.min_ms;
    s->gap_pending = p.gap;
    s->gap_req = p.gap_req;
    s->gap_from = p.gap_from;

    pthread_mutex_lock(&e->mu);
    if (e->stopping) {
        pthread_mutex_unlock(&e->mu);
        free(s);
        return fv_err_set(err, FV_ECLOSED, "subscribe: the bus is shutting down");
    }
    eng_tenant *t = tenant_get(e, s->pattern.tenant_id);
    if (!t) {
        pthread_mutex_unlock(&e->mu);
        free(s);
        return fv_err_set(err, FV_ENOMEM, "subscribe: out of memory");
    }
    s->t = t;
    s->tnext = t->subs;
    if (t->subs)
        t->subs->tprev = s;
    t->subs = s;
    if (s->until_ms) {
        s->unext = e->untils;
        if (e->untils)
            e->untils->uprev = s;
        e->untils = s;
    }
    if (!e->ops.read_open) {
        if (cfg->start.kind == FV_START_NEW) {
            /* the store is the window: "after the call" is its live edge now, under the lock
             * (planned outside it, a flood could push that position out first: a false gap) */
            for (int i = 0; i < 2; i++)
                if (s->want[i] && e->w[i].top)
                    s->pos[i] = e->w[i].top->hi;
        }
        /* what left the window since planning is gone */
        uint64_t floor[2] = {e->w[0].lost_seq, e->w[1].lost_seq};
        gap_to(e, s, floor);
    }
    /* in memory or not: counted once, where it starts */
    bool inside = true;
    for (int i = 0; i < 2; i++) {
        srcwin *w = &e->w[i];
        if (s->want[i] && w->top && s->pos[i] < w->top->hi && !seg_covering(w, s->pos[i]))
            inside = false;
        if (s->want[i] && !w->top && e->ops.read_open)
            inside = false;
    }
    if (inside)
        e->st.hits++;
    /* Nothing to replay (typically NEW): live at once, so that a flood of publishes cannot push
     * its first records out of the window before its first turn. */
    bool ending = s->until_ms && clock_locked(e) > s->until_ms;
    bool nothing = !s->gap_pending && !ending;
    for (int i = 0; i < 2 && nothing; i++) {
        fv__rec *r = NULL;
        if (s->want[i] && next_of(e, s, i, e->fanout_order, &r) != NX_EDGE)
            nothing = false;
    }
    if (nothing)
        set_state(e, s, S_LIVE);
    else
        to_catchup(e, s);
    work_push(e, s); /* catch up, or announce FV_MSG_LIVE */
    pthread_mutex_unlock(&e->mu);
    *out = &s->base;
    return FV_OK;
}

void fv__eng_sub_resume(fv_sub *sub)
{
    eng_sub *s = (eng_sub *)sub;
    fv__eng *e = s->e;
    pthread_mutex_lock(&e->mu);
    if (!s->closed) {
        if (s->state == S_PAUSED)
            to_catchup(e, s);
        else if (s->in_cb)
            s->resume_early = true;
    }
    pthread_mutex_unlock(&e->mu);
}

/* under the lock: detach an open subscription from its tenant and the lists */
static void sub_detach(fv__eng *e, eng_sub *s)
{
    s->closed = true;
    behind_remove(e, s);
    if (s->tprev)
        s->tprev->tnext = s->tnext;
    else
        s->t->subs = s->tnext;
    if (s->tnext)
        s->tnext->tprev = s->tprev;
    s->tprev = s->tnext = NULL;
    if (s->until_ms) {
        if (s->uprev)
            s->uprev->unext = s->unext;
        else
            e->untils = s->unext;
        if (s->unext)
            s->unext->uprev = s->uprev;
        s->uprev = s->unext = NULL;
    }
    tenant_drop_if_empty(e, s->t);
    s->t = NULL;
}

void fv__eng_sub_close(fv_sub *sub)
{
    if (!sub)
        return;
    eng_sub *s = (eng_sub *)sub;
    fv__eng *e = s->e;
    pthread_mutex_lock(&e->mu);
    if (s->closed) {
        pthread_mutex_unlock(&e->mu);
        return;
    }
    sub_detach(e, s);
    bool dead = --s->refs == 0;
    pthread_mutex_unlock(&e->mu);
    if (dead)
        sub_free(e, s);
}

bool fv__eng_sub_catching_up(fv_sub *sub)
{
    eng_sub *s = (eng_sub *)sub;
    pthread_mutex_lock(&s->e->mu);
    bool r = s->state == S_CATCHUP || s->state == S_WAIT || s->state == S_PAUSED;
    pthread_mutex_unlock(&s->e->mu);
    return r;
}

void fv__eng_reset_source(fv__eng *e, fv_source src, uint64_t seq, const char *why)
{
    pthread_mutex_lock(&e->mu);
    srcwin *w = &e->w[src];
    w->gen++;
    /* every subscription on the source ends: its positions mean nothing in the new history */
    EACH_SUB(e, s)
    {
        if (s->want[src])
            fail_sub(e, s, why);
    }
    for (seg *g = w->lowest; g;) {
        seg *next = g->higher;
        if (g->filling) { /* its read sees the new generation and lets go of it */
            g->filling = NULL;
        }
        seg_unlink(w, g);
        seg_free(w, g);
        g = next;
    }
    w->lowest = w->top = NULL;
    pthread_mutex_unlock(&e->mu);
    fv__eng_start_source(e, src, seq);
}

/* --- bounded read ------------------------------------------------------------------------------
 */

typedef struct rd {
    fv__eng *e;
    const fv_pattern *p;
    int (*cb)(void *ud, const fv_msg *m);
    void *ud;
    bool want[2];
    uint64_t pos[2];
    uint64_t epoch;
    uint64_t horizon[2]; /* what was stored when the read started */
    int64_t min_ms, until_ms;
    size_t matched, limit;
    bool stop, ended;
} rd;

/* one record for a bounded read, lock not held */
static void rd_one(rd *c, fv__rec *r)
{
    int src = (int)r->src;
    if (c->stop || c->ended || r->seq <= c->pos[src])
        return;
    if (c->until_ms && r->stored_ms > c->until_ms) {
        c->ended = true;
        return;
    }
    if (r->stored_ms < c->min_ms || strcmp(fv__rec_tenant(r), c->p->tenant_id) != 0 ||
        !rec_matches(c->p, r)) {
        c->pos[src] = r->seq;
        return;
    }
    if (c->matched >= c->limit) {
        c->stop = true;
        return;
    }
    fv_msg m;
    msg_for_rec(&m, r);
    uint64_t after[2] = {c->pos[0], c->pos[1]};
    after[src] = r->seq;
    m.cursor = cursor_of(c->epoch, after, c->want);
    if (c->cb(c->ud, &m) == FV_SUB_PAUSE) {
        c->stop = true;
        return;
    }
    c->pos[src] = r->seq;
    if (++c->matched >= c->limit)
        c->stop = true; /* a full page ends right after its last message */
}

/* Reads src below the window with a filtered reader up to `to` (or the horizon), on the calling
 * thread: a history page far back is one consumer of its own, never the whole stream. */
static fv_status rd_direct(rd *c, int src, uint64_t to, fv_err *err)
{
    fv__eng *e = c->e;
    char filter[FV_SUBJECT_MAX + 1];
    fv_status st = src == FV_SRC_EVENTS
                       ? fv_pattern_events_filter(c->p, e->prefix, filter, sizeof filter)
                       : fv_pattern_streams_filter(c->p, e->prefix, filter, sizeof filter);
    if (st != FV_OK)
        return fv_err_set(err, st, "read: cannot build the subject filter");
    void *h = NULL;
    st = e->ops.read_open(e->ops.ctx, (fv_source)src, filter, c->pos[src] + 1, &h, err);
    if (st != FV_OK)
        return st;
    bool reached = false;
    while (!c->stop && !c->ended && !reached) {
        fv__rec *batch[ENG_READ_BATCH];
        size_t n = 0;
        bool at_end = false;
        st = e->ops.read_next(e->ops.ctx, h, ENG_READ_BATCH, batch, &n, &at_end, err);
        if (st != FV_OK)
            break;
        for (size_t i = 0; i < n; i++) {
            if (batch[i]->seq > to)
                reached = true;
            else
                rd_one(c, batch[i]);
            fv__rec_unref(batch[i]);
        }
        if (at_end)
            reached = true;
    }
    e->ops.read_close(e->ops.ctx, h);
    if (st == FV_OK && reached && !c->stop && !c->ended && c->pos[src] < to)
        c->pos[src] = to; /* every record of the filter up to `to` was seen */
    return st;
}

fv_status fv__eng_read(fv__eng *e, const fv_pattern *p, const fv_start *start, size_t limit,
                       int (*cb)(void *ud, const fv_msg *m), void *ud, fv_cursor *next, fv_err *err)
{
    rd c = {.e = e, .p = p, .cb = cb, .ud = ud, .limit = limit, .until_ms = start->until_ms};
    c.want[0] = fv_pattern_wants_events(p);
    c.want[1] = fv_pattern_wants_streams(p);
    plan pl;
    fv_status st = plan_start(e, start, c.want, &pl, err);
    if (st != FV_OK)
        return st;
    c.pos[0] = pl.pos[0];
    c.pos[1] = pl.pos[1];
    c.epoch = pl.epoch;
    c.min_ms = pl.min_ms;
    for (int i = 0; i < 2; i++) {
        if (!c.want[i])
            continue;
        uint64_t floor = 0;
        int64_t lost = 0;
        st = e->ops.store_state(e->ops.ctx, (fv_source)i, true, &floor, &lost, &c.horizon[i], err);
        if (st != FV_OK)
            return st;
    }
    if (next)
        *next = cursor_of(c.epoch, c.pos, c.want);
    c.stop = limit == 0;
    if (pl.gap && !c.stop) {
        fv_msg m;
        memset(&m, 0, sizeof m);
        m.kind = FV_MSG_GAP;
        m.gap_requested = pl.gap_req;
        m.gap_resumed_from = pl.gap_from;
        m.cursor = pl.gap_from;
        if (cb(ud, &m) == FV_SUB_PAUSE)
            return FV_OK;
    }
    int64_t waited_since = 0;
    while (!c.stop && !c.ended) {
        /* the next record of each source, from the window; below it, a filtered read */
        fv__rec *best = NULL;
        int direct = -1; /* a source below the window: a filtered read on this thread */
        bool done_all = true, gone = false, wait_edge = false;
        pthread_mutex_lock(&e->mu);
        for (int i = 0; i < 2 && direct < 0; i++) {
            if (!c.want[i] || c.pos[i] >= c.horizon[i])
                continue;
            fv__rec *r = NULL;
            switch (next_in(e, i, &c.pos[i], NULL, UINT64_MAX, &r)) {
            case NX_REC:
                if (r->seq > c.horizon[i]) {
                    c.pos[i] = c.horizon[i]; /* stored after the read began: not this page's */
                    continue;
                }
                if (!best || rec_before(r, best))
                    best = r;
                break;
            case NX_EDGE: /* stored, not yet seen by the live path */
                if (c.pos[i] >= c.horizon[i])
                    continue;
                wait_edge = true;
                break;
            case NX_READ: direct = i; break;
            case NX_GONE: gone = true; break;
            }
            done_all = false;
        }
        if (direct >= 0)
            best = NULL;
        if (best)
            fv__rec_ref(best);
        uint64_t floor[2] = {e->w[0].lost_seq, e->w[1].lost_seq};
        seg *above = direct >= 0 ? seg_above(&e->w[direct], c.pos[direct]) : NULL;
        uint64_t to = direct >= 0 ? (above ? above->base : c.horizon[direct]) : 0;
        pthread_mutex_unlock(&e->mu);
        if (done_all)
            break;
        if (gone) { /* memory store: below what it keeps */
            fv_msg m;
            memset(&m, 0, sizeof m);
            m.kind = FV_MSG_GAP;
            m.gap_requested = cursor_of(c.epoch, c.pos, c.want);
            for (int i = 0; i < 2; i++)
                if (c.want[i] && c.pos[i] < floor[i])
                    c.pos[i] = floor[i];
            m.gap_resumed_from = cursor_of(c.epoch, c.pos, c.want);
            m.cursor = m.gap_resumed_from;
            if (best)
                fv__rec_unref(best);
            if (cb(ud, &m) == FV_SUB_PAUSE)
                c.stop = true;
            continue;
        }
        if (direct >= 0) {
            if (to > c.horizon[direct])
                to = c.horizon[direct];
            st = rd_direct(&c, direct, to, err);
            if (st != FV_OK)
                return st;
            continue;
        }
        if (best) {
            rd_one(&c, best);
            fv__rec_unref(best);
            waited_since = 0;
            continue;
        }
        if (wait_edge) {
            /* the live path brings it within moments; a bounded wait, then the page ends */
            if (!waited_since)
                waited_since = fv_monotonic_ms();
            if (fv_monotonic_ms() - waited_since > ENG_TIME_WAIT_MS)
                break;
            pthread_mutex_lock(&e->mu);
            struct timespec ts;
            fv_deadline_ms(&ts, CLOCK_MONOTONIC, 20);
            pthread_cond_timedwait(&e->filled, &e->mu, &ts);
            pthread_mutex_unlock(&e->mu);
            continue;
        }
        break;
    }
    if (next)
        *next = cursor_of(c.epoch, c.pos, c.want);
    if (!c.stop) {
        fv_msg m;
        memset(&m, 0, sizeof m);
        m.kind = FV_MSG_END;
        m.cursor = cursor_of(c.epoch, c.pos, c.want);
        cb(ud, &m);
    }
    return FV_OK;
}

/* --- stats, create, destroy --------------------------------------------------------------------
 */

void fv__eng_stats(fv__eng *e, fv_bus_stats *out)
{
    pthread_mutex_lock(&e->mu);
    out->catchups_total += e->st.catchups_total;
    out->live_received += e->st.live_received;
    for (eng_sub *s = e->behind; s; s = s->bnext) {
        if (s->state == S_CATCHUP)
            out->catchups_running++;
        else if (s->state == S_WAIT)
            out->catchups_waiting++;
    }
    for (int i = 0; i < 2; i++) {
        srcwin *w = &e->w[i];
        out->window_bytes += w->bytes + w->rbytes;
        out->window_records += w->records + w->records_read;
        seg *g = w->lowest;
        while (g && g->q.n == 0)
            g = g->higher;
        out->window_first_seq[i] = g ? ring_at(&g->q, 0)->seq : 0;
    }
    out->window_hits += e->st.hits;
    out->window_misses += e->st.misses;
    out->window_evictions += e->st.evictions;
    out->shared_reads += e->st.reads;
    out->filtered_reads += e->st.deep_reads;
    out->read_records += e->st.read_records;
    pthread_mutex_unlock(&e->mu);
}

static void cond_init_mono(pthread_cond_t *c)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(c, &ca);
    pthread_condattr_destroy(&ca);
}

fv_status fv__eng_create(const fv__eng_config *cfg, const fv__eng_ops *ops, fv__eng **out,
                         fv_err *err)
{
    *out = NULL;
    fv__eng *e = calloc(1, sizeof *e);
    if (!e)
        return fv_err_set(err, FV_ENOMEM, "bus: out of memory");
    if (fv_hmap_init(&e->tenants, 256) != FV_OK) {
        free(e);
        return fv_err_set(err, FV_ENOMEM, "bus: out of memory");
    }
    e->ops = *ops;
    e->cfg = *cfg;
    snprintf(e->prefix, sizeof e->prefix, "%s", cfg->prefix ? cfg->prefix : "flovyn");
    if (!e->cfg.live_queue_max)
        e->cfg.live_queue_max = 65536;
    if (e->cfg.readers <= 0)
        e->cfg.readers = 2;
    for (int i = 0; i < 2; i++) {
        e->w[i].max_bytes = cfg->window_bytes[i] ? cfg->window_bytes[i] : (size_t)64 << 20;
        e->w[i].max_records = cfg->window_records[i] ? cfg->window_records[i] : 1000000;
        e->w[i].max_age_ms = cfg->max_age_ms[i];
    }
    pthread_mutex_init(&e->mu, NULL);
    cond_init_mono(&e->wake);
    cond_init_mono(&e->rwake);
    cond_init_mono(&e->filled);
    pthread_cond_init(&e->space, NULL);
    e->last_tick = fv_monotonic_ms();
    pthread_mutex_lock(&e->mu); /* publishes `thread` before the dispatcher runs */
    e->thread_started = pthread_create(&e->thread, NULL, dispatcher, e) == 0;
    pthread_mutex_unlock(&e->mu);
    if (!e->thread_started) {
        fv__eng_destroy(e);
        return fv_err_set(err, FV_ENOMEM, "bus: cannot start the dispatcher thread");
    }
    if (ops->read_open) {
        e->readers = calloc((size_t)e->cfg.readers, sizeof *e->readers);
        for (int i = 0; e->readers && i < e->cfg.readers; i++) {
            if (pthread_create(&e->readers[i], NULL, reader_main, e) != 0)
                break;
            e->nreaders++;
        }
        if (e->nreaders == 0) {
            fv__eng_destroy(e);
            return fv_err_set(err, FV_ENOMEM, "bus: cannot start the reader threads");
        }
    }
    *out = e;
    return FV_OK;
}

void fv__eng_destroy(fv__eng *e)
{
    if (!e)
        return;
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_cond_broadcast(&e->wake);
    pthread_cond_broadcast(&e->space);
    pthread_cond_broadcast(&e->rwake);
    pthread_cond_broadcast(&e->filled);
    pthread_mutex_unlock(&e->mu);
    if (e->thread_started)
        pthread_join(e->thread, NULL);
    for (int i = 0; i < e->nreaders; i++)
        pthread_join(e->readers[i], NULL);
    free(e->readers);
    /* no thread left: release subscriptions still open (their handles die with the bus), then
     * the queue and the window */
    pthread_mutex_lock(&e->mu);
    for (size_t b = 0; b < e->tenants.nbuckets; b++) {
        while (e->tenants.buckets[b]) {
            eng_sub *s = ((eng_tenant *)e->tenants.buckets[b])->subs;
            sub_detach(e, s); /* frees the tenant once its last subscription left */
            sub_unref_locked(e, s);
        }
    }
    fv_hmap_free(&e->tenants);
    while (e->work_head)
        sub_unref_locked(e, work_pop(e));
    while (e->live.n)
        fv__rec_unref(ring_pop(&e->live));
    while (e->retired) { /* the reader threads are gone */
        deep *d = e->retired;
        e->retired = d->rnext;
        pthread_mutex_unlock(&e->mu);
        deep_drop(e, d);
        pthread_mutex_lock(&e->mu);
    }
    free(e->live.items);
    for (int i = 0; i < 2; i++) {
        srcwin *w = &e->w[i];
        for (seg *g = w->lowest; g;) {
            seg *next = g->higher;
            seg_free(w, g);
            g = next;
        }
    }
    pthread_mutex_unlock(&e->mu);
    free(e->fan);
    pthread_cond_destroy(&e->wake);
    pthread_cond_destroy(&e->space);
    pthread_cond_destroy(&e->rwake);
    pthread_cond_destroy(&e->filled);
    pthread_mutex_destroy(&e->mu);
    free(e);
}
