/* bus_memory.c - the embedded in-memory bus: the default without a NATS URL and the unit-test
 * double of the JetStream backend, with the same observable behaviour (bus.h).
 *
 * It is the subscription engine (engine.h) with the engine's window as the whole store: this file
 * only does what a store does - dedup by the CONTRACT §2 keys within the window, sequences per
 * source from 1 (the engine numbers them as it appends), and a random epoch per bus. Retention
 * mirrors the JetStream streams: per source, bounded by records (memory_history), bytes and max
 * age, across tenants; what leaves the window is gone and an older cursor gets `gap`.
 *
 * Publishing waits while the engine's fan-out queue is full (backpressure instead of unbounded
 * memory), except a callback publishing on the dispatcher thread, which must not wait on itself.
 * The dedup table is bounded too (MEM_DEDUP_MAX per source): beyond that rate a retry may store
 * twice, as after the window.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "bus_internal.h"
#include "engine.h"
#include "flovyn/hmap.h"
#include "flovyn/units.h"

#define MEM_DEDUP_WINDOW_MS (2LL * 60 * 1000) /* JetStream's default, also our streams' */
#define MEM_DEDUP_MAX 262144                  /* per source: bounds memory at high rates */
#define MEM_DEDUP_BUCKETS 65536

typedef struct mem_dedup_ent {
    fv_hnode node; /* first */
    struct mem_dedup_ent *fnext;
    uint64_t seq;
    int64_t at_ms;
    char key[];
} mem_dedup_ent;

typedef struct mem_dedup {
    fv_hmap map;
    mem_dedup_ent *head, *tail; /* insertion (= time) order, for expiry */
} mem_dedup;

typedef struct mem_bus {
    struct fv_bus base;
    fv__eng *eng;
    pthread_mutex_t mu; /* dedup, and sequence order of appends */
    uint64_t epoch;
    int64_t dedup_window[2];
    mem_dedup dedup[2];
    fv_bus_stats stats; /* mu */
} mem_bus;

/* --- dedup --------------------------------------------------------------------------------- */

static void dedup_drop_oldest(mem_dedup *d)
{
    mem_dedup_ent *e = d->head;
    d->head = e->fnext;
    if (!d->head)
        d->tail = NULL;
    fv_hmap_del(&d->map, &e->node);
    free(e);
}

static void dedup_expire(mem_dedup *d, int64_t before_ms)
{
    while (d->head && d->head->at_ms < before_ms)
        dedup_drop_oldest(d);
}

static void dedup_add(mem_dedup *d, const char *key, uint64_t seq, int64_t at)
{
    size_t len = strlen(key);
    mem_dedup_ent *e = malloc(sizeof *e + len + 1);
    if (!e)
        return; /* dedup is best effort under memory pressure; the event is stored */
    memcpy(e->key, key, len + 1);
    e->seq = seq;
    e->at_ms = at;
    e->fnext = NULL;
    fv_hmap_put(&d->map, &e->node, e->key);
    if (d->tail)
        d->tail->fnext = e;
    else
        d->head = e;
    d->tail = e;
    if (d->map.n > MEM_DEDUP_MAX)
        dedup_drop_oldest(d);
}

static void dedup_free(mem_dedup *d)
{
    while (d->head)
        dedup_drop_oldest(d);
    fv_hmap_free(&d->map);
}

/* --- publish ------------------------------------------------------------------------------- */

/* Copies the item into a record (outside the lock: allocation and formatting). */
static fv_status rec_build(mem_bus *b, const fv_publish_item *it, fv__rec **out, char *key,
                           size_t key_cap, fv_err *err)
{
    fv__rec *r = fv__rec_new(it->ev ? FV_SRC_EVENTS : FV_SRC_STREAMS);
    if (!r)
        return fv_err_set(err, FV_ENOMEM, "publish: out of memory");
    char subject[FV_SUBJECT_MAX];
    fv_status st;
    if (it->ev) {
        st = fv_event_copy(&r->ev, it->ev);
        if (st == FV_OK && (!r->ev.id[0] || !r->ev.timestamp_ms))
            st = fv_event_fill_defaults(&r->ev);
        if (st == FV_OK)
            st = fv_event_dedup_key(&r->ev, key, key_cap);
        if (st == FV_OK)
            st = fv_subject_for_event(b->base.prefix, &r->ev, subject, sizeof subject, err);
    } else {
        st = fv_stream_event_copy(&r->se, it->se);
        if (st == FV_OK)
            st = fv_stream_event_dedup_key(&r->se, key, key_cap);
        if (st == FV_OK)
            st = fv_subject_for_stream_event(b->base.prefix, &r->se, subject, sizeof subject, err);
    }
    r->decoded = true;
    if (st == FV_OK)
        st = fv__rec_finish(r, subject);
    if (st != FV_OK) {
        if (err && !err->msg[0])
            fv_err_set(err, st, "publish: cannot store event (%s)", fv_status_name(st));
        fv__rec_unref(r);
        return st;
    }
    *out = r;
    return FV_OK;
}

static fv_status mem_publish_batch(fv_bus *bus, fv_publish_item *items, size_t n, fv_err *err)
{
    mem_bus *b = (mem_bus *)bus;
    (void)err;
    for (size_t i = 0; i < n; i++) {
        fv_publish_item *it = &items[i];
        if (it->status != FV_OK)
            continue;
        fv__rec *r = NULL;
        char key[FV_DEDUP_KEY_MAX];
        it->status = rec_build(b, it, &r, key, sizeof key, &it->err);
        if (it->status != FV_OK)
            continue;
        if (!fv__eng_wait_space(b->eng)) {
            fv__rec_unref(r);
            it->status = fv_err_set(&it->err, FV_ECLOSED, "publish: the bus is shutting down");
            pthread_mutex_lock(&b->mu);
            b->stats.publish_errors++;
            pthread_mutex_unlock(&b->mu);
            continue;
        }
        int s = (int)r->src;
        pthread_mutex_lock(&b->mu);
        mem_dedup *d = &b->dedup[s];
        dedup_expire(d, fv_now_ms() - b->dedup_window[s]);
        mem_dedup_ent *e = (mem_dedup_ent *)fv_hmap_get(&d->map, key);
        if (e) {
            it->result.seq = e->seq;
            it->result.duplicate = true;
            b->stats.duplicates++;
            pthread_mutex_unlock(&b->mu);
            fv__rec_unref(r);
            continue;
        }
        fv__rec_ref(r); /* to read its sequence and store time after the engine took it */
        bool stored = fv__eng_append(b->eng, r, true);
        uint64_t seq = r->seq;
        int64_t at = r->stored_ms;
        fv__rec_unref(r);
        if (!stored) {
            b->stats.publish_errors++;
            pthread_mutex_unlock(&b->mu);
            it->status = fv_err_set(&it->err, FV_ECLOSED, "publish: the bus is shutting down");
            continue;
        }
        dedup_add(d, key, seq, at);
        b->stats.published++;
        it->result.seq = seq;
        it->result.duplicate = false;
        pthread_mutex_unlock(&b->mu);
    }
    return FV_OK;
}

/* --- what the engine asks of the store ------------------------------------------------------ */

static uint64_t mem_epoch_ctx(void *ctx)
{
    return ((mem_bus *)ctx)->epoch;
}

static fv_status mem_store_state(void *ctx, fv_source src, bool fresh, uint64_t *floor,
                                 int64_t *lost_ms, uint64_t *last, fv_err *err)
{
    mem_bus *b = ctx;
    (void)fresh;
    (void)err;
    fv__eng_lost(b->eng, src, floor, lost_ms);
    *last = fv__eng_last_seq(b->eng, src);
    return FV_OK;
}

static fv_status mem_seq_at_time(void *ctx, fv_source src, int64_t time_ms, uint64_t *out,
                                 fv_err *err)
{
    (void)err;
    *out = fv__eng_seq_at_time(((mem_bus *)ctx)->eng, src, time_ms);
    return FV_OK;
}

/* --- the vtable ---------------------------------------------------------------------------- */

static fv_status mem_subscribe(fv_bus *bus, const fv_sub_config *cfg, fv_sub **out, fv_err *err)
{
    return fv__eng_subscribe(((mem_bus *)bus)->eng, bus, cfg, out, err);
}

static fv_status mem_read(fv_bus *bus, const fv_pattern *p, const fv_start *start, size_t limit,
                          int (*cb)(void *ud, const fv_msg *m), void *ud, fv_cursor *next,
                          fv_err *err)
{
    return fv__eng_read(((mem_bus *)bus)->eng, p, start, limit, cb, ud, next, err);
}

static fv_status mem_provision(fv_bus *bus, fv_err *err)
{
    (void)bus;
    (void)err;
    return FV_OK;
}

static bool mem_ready(fv_bus *bus)
{
    (void)bus;
    return true;
}

static uint64_t mem_epoch(fv_bus *bus)
{
    return ((mem_bus *)bus)->epoch;
}

static fv_status mem_last_seq(fv_bus *bus, fv_source src, uint64_t *out, fv_err *err)
{
    if (src != FV_SRC_EVENTS && src != FV_SRC_STREAMS)
        return fv_err_set(err, FV_EINVAL, "last_seq: unknown source %d", (int)src);
    *out = fv__eng_last_seq(((mem_bus *)bus)->eng, src);
    return FV_OK;
}

static void mem_stats(fv_bus *bus, fv_bus_stats *out)
{
    mem_bus *b = (mem_bus *)bus;
    pthread_mutex_lock(&b->mu);
    *out = b->stats;
    pthread_mutex_unlock(&b->mu);
    fv__eng_stats(b->eng, out);
    out->connected = true;
}

static void mem_destroy(fv_bus *bus)
{
    mem_bus *b = (mem_bus *)bus;
    fv__eng_destroy(b->eng);
    for (int s = 0; s < 2; s++)
        dedup_free(&b->dedup[s]);
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
    .sub_resume = fv__eng_sub_resume,
    .sub_close = fv__eng_sub_close,
    .sub_catching_up = fv__eng_sub_catching_up,
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
    const fv_bus_config *c = &b->base.cfg;
    b->epoch = random_epoch();
    int64_t max_age[2] = {c->events_max_age_ms, c->streams_max_age_ms};
    for (int s = 0; s < 2; s++) {
        b->dedup_window[s] = max_age[s] < MEM_DEDUP_WINDOW_MS ? max_age[s] : MEM_DEDUP_WINDOW_MS;
        if (fv_hmap_init(&b->dedup[s].map, MEM_DEDUP_BUCKETS) != FV_OK) {
            fv_hmap_free(&b->dedup[0].map);
            free(b);
            return fv_err_set(err, FV_ENOMEM, "memory bus: out of memory");
        }
    }
    pthread_mutex_init(&b->mu, NULL);
    fv__eng_config ec = {.prefix = b->base.prefix};
    ec.window_records[0] = ec.window_records[1] = c->memory_history;
    ec.window_bytes[0] = (size_t)c->events_max_bytes;
    ec.window_bytes[1] = (size_t)c->streams_max_bytes;
    ec.max_age_ms[0] = max_age[0];
    ec.max_age_ms[1] = max_age[1];
    ec.after_callbacks = c->after_callbacks;
    ec.after_callbacks_ud = c->after_callbacks_ud;
    fv__eng_ops ops = {.ctx = b,
                       .epoch = mem_epoch_ctx,
                       .store_state = mem_store_state,
                       .seq_at_time = mem_seq_at_time};
    st = fv__eng_create(&ec, &ops, &b->eng, err);
    if (st != FV_OK) {
        for (int s = 0; s < 2; s++)
            dedup_free(&b->dedup[s]);
        pthread_mutex_destroy(&b->mu);
        free(b);
        return st;
    }
    fv__eng_start_source(b->eng, FV_SRC_EVENTS, 0);
    fv__eng_start_source(b->eng, FV_SRC_STREAMS, 0);
    *out = &b->base;
    return FV_OK;
}
