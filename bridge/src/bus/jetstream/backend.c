/* backend.c - the JetStream bus backend as the bus sees it: create and destroy, the fv_bus_ops
 * vtable, and the engine's view of the store (fv__eng_ops). It sits on top of the other files of
 * bus/jetstream/ and only wires them (the layering is in jetstream_internal.h); nothing in them
 * calls back up into it. Subscriptions and reads are the engine's (bus/engine.c), fed by the live
 * path: a subscription first waits until the live path has fixed where the window starts.
 */
#include <stdlib.h>

#include "jetstream_internal.h"

static fv_status js_provision(fv_bus *bus, fv_err *err)
{
    return fv__js_provision(fv__js(bus), err);
}

static bool js_close_if_offline(fv_bus *bus)
{
    return fv__js_close_if_offline(fv__js(bus));
}

static bool js_ready(fv_bus *bus)
{
    return fv__js_ready(fv__js(bus));
}

static uint64_t js_epoch(fv_bus *bus)
{
    return fv__js_epoch(fv__js(bus));
}

static fv_status js_last_seq(fv_bus *bus, fv_source src, uint64_t *out, fv_err *err)
{
    fv__js_stream_stat s = {0};
    fv_status st = fv__js_stream_stat_get(fv__js(bus), src, 0, &s, err);
    *out = s.last;
    return st;
}

static void js_stats(fv_bus *bus, fv_bus_stats *o)
{
    fv__js_bus *b = fv__js(bus);
    o->published = atomic_load(&b->st.published);
    o->duplicates = atomic_load(&b->st.duplicates);
    o->publish_errors = atomic_load(&b->st.publish_errors);
    o->publish_retries = atomic_load(&b->st.publish_retries);
    o->live_gaps_refilled = atomic_load(&b->st.live_gaps_refilled);
    o->live_refill_msgs = atomic_load(&b->st.live_refill_msgs);
    o->reconnects = atomic_load(&b->st.reconnects);
    o->connected = atomic_load(&b->connected);
    for (int i = 0; i < FV_STORED_COUNT; i++)
        o->skipped[i] = atomic_load(&b->st.skipped[i]);
    fv__js_live_stats(b, o);
    if (b->eng)
        fv__eng_stats(b->eng, o);
}

static void js_destroy(fv_bus *bus)
{
    fv__js_bus *b = fv__js(bus);
    atomic_store(&b->closing, true);
    fv__js_live_stop(b); /* first: nothing appends to the engine after this */
    fv__eng_destroy(b->eng);
    fv__js_pub_destroy(b);
    fv__js_disconnect(b);
    pthread_mutex_destroy(&b->mu);
    free(b);
}

/* --- subscriptions: the engine, fed by the live path ------------------------------------------ */
static fv_status js_subscribe(fv_bus *bus, const fv_sub_config *cfg, fv_sub **out, fv_err *err)
{
    fv__js_bus *b = fv__js(bus);
    if (js_epoch(bus) == 0)
        return fv_err_set(err, FV_EUNAVAIL, "subscribe: JetStream streams are not available");
    bool want[2] = {fv_pattern_wants_events(&cfg->pattern),
                    fv_pattern_wants_streams(&cfg->pattern)};
    /* the live path fixes where the window starts before a subscription plans its own start */
    fv_status st = fv__js_live_ensure(b, err);
    if (st == FV_OK)
        st = fv__js_live_wait(b, want, err);
    if (st != FV_OK)
        return st;
    return fv__eng_subscribe(b->eng, bus, cfg, out, err);
}

static fv_status js_read(fv_bus *bus, const fv_pattern *p, const fv_start *start, size_t limit,
                         int (*cb)(void *ud, const fv_msg *m), void *ud, fv_cursor *next,
                         fv_err *err)
{
    if (js_epoch(bus) == 0)
        return fv_err_set(err, FV_EUNAVAIL, "read: JetStream streams are not available");
    return fv__eng_read(fv__js(bus)->eng, p, start, limit, cb, ud, next, err);
}

static uint64_t eng_epoch(void *ctx)
{
    return js_epoch(&((fv__js_bus *)ctx)->base);
}

#define STATE_CACHE_MS 250
/* A start is planned on an HTTP thread: while a stream elects a leader its info request gets no
 * answer, and the client is better told to retry than an HTTP thread held for 5 s */
#define STATE_WAIT_MS 500

/* A start from a known position only needs the retained floor, and a copy a quarter of a second
 * old is as good as the answer the server would give a moment later: a reconnect storm must not
 * wait on one stream-info request per client. NEW needs the true last sequence. */
static fv_status eng_store_state(void *ctx, fv_source src, bool fresh, uint64_t *floor,
                                 int64_t *lost_ms, uint64_t *last, fv_err *err)
{
    fv__js_bus *b = ctx;
    uint64_t first = 0;
    int64_t first_ms = 0;
    fv_status st = fv__js_stream_state_recent(b, src, fresh ? -1 : STATE_CACHE_MS, STATE_WAIT_MS,
                                              &first, last, &first_ms, err);
    if (st != FV_OK)
        return st;
    *floor = first > 0 ? first - 1 : 0;
    *lost_ms = first_ms; /* the newest lost one is not known: the oldest kept stands for it */
    return FV_OK;
}

static fv_status eng_seq_at_time(void *ctx, fv_source src, int64_t time_ms, uint64_t *out,
                                 fv_err *err)
{
    return fv__js_seq_at_time(ctx, src, time_ms, out, err);
}

static const fv_bus_ops js_ops = {
    .destroy = js_destroy,
    .provision = js_provision,
    .ready = js_ready,
    .close_if_offline = js_close_if_offline,
    .epoch = js_epoch,
    .last_seq = js_last_seq,
    .publish_batch = fv__js_publish_batch,
    .subscribe = js_subscribe,
    .sub_resume = fv__eng_sub_resume,
    .sub_close = fv__eng_sub_close,
    .sub_catching_up = fv__eng_sub_catching_up,
    .read = js_read,
    .stats = js_stats,
    .durable_ensure = fv__js_durable_ensure,
    .durable_delete = fv__js_durable_delete,
    .durable_open = fv__js_durable_open,
};

fv_status fv_bus_jetstream_create(const fv_bus_config *cfg, fv_bus **out, fv_err *err)
{
    *out = NULL;
    fv__js_bus *b = calloc(1, sizeof *b);
    if (!b)
        return fv_err_set(err, FV_ENOMEM, "out of memory");
    fv_status st = fv_bus_base_init(&b->base, &js_ops, cfg, err);
    if (st != FV_OK) {
        free(b);
        return st;
    }
    pthread_mutex_init(&b->mu, NULL);
    for (int i = 0; i < 2; i++) {
        b->live[i].bus = b;
        b->live[i].src = (fv_source)i;
    }
    st = fv__js_pub_init(b, err);
    if (st == FV_OK)
        st = fv__js_connect(b, fv__js_pub_ack_handler, err);
    if (st == FV_OK) {
        fv_err ignored = {{0}};
        fv__js_refresh_streams(b, &ignored); /* streams may not be provisioned yet */
        fv__eng_config ec = {.prefix = b->base.prefix, .readers = 2};
        ec.window_bytes[0] = ec.window_bytes[1] = cfg->window_bytes;
        ec.after_callbacks = cfg->after_callbacks;
        ec.after_callbacks_ud = cfg->after_callbacks_ud;
        fv__eng_ops ops = {.ctx = b,
                           .epoch = eng_epoch,
                           .store_state = eng_store_state,
                           .seq_at_time = eng_seq_at_time,
                           .read_open = fv__js_eng_read_open,
                           .read_next = fv__js_eng_read_next,
                           .read_close = fv__js_eng_read_close};
        st = fv__eng_create(&ec, &ops, &b->eng, err);
    }
    if (st != FV_OK) {
        js_destroy(&b->base);
        return st;
    }
    *out = &b->base;
    return FV_OK;
}

void fv__js_debug_drop_live(fv_bus *bus, fv_source src, int n)
{
    atomic_store(&fv__js(bus)->live[src].debug_drop, n);
}

void fv__js_debug_pause_live(fv_bus *bus, fv_source src, int us)
{
    atomic_store(&fv__js(bus)->live[src].debug_pause_us, us);
}

void fv__js_debug_false_ends(fv_bus *bus, int n)
{
    atomic_store(&fv__js(bus)->debug_false_ends, n);
}
