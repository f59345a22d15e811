/* jetstream_internal.h - the JetStream backend's private state, shared by its files. Calls go one
 * way, from the top of this list down (ARCHITECTURE "Layout"):
 *
 *   backend.c     create/destroy, the fv_bus_ops vtable, the engine's ops (fv__eng_ops), stats
 *   live.c        the one live subscription per stream, contiguity; appends to the engine
 *   durable.c     durable pull consumers for webhooks and handlers
 *   publish.c     pipelined async publish with per-message ack correlation
 *   reader.c      one ephemeral pull consumer read from a start point (the engine's reads,
 *                 gap refill), and records decoded from stored messages
 *   kv.c          KV buckets (flovyn/kv.h)
 *   core_sub.c    core NATS subscriptions on the bus's connection (flovyn/core_sub.h)
 *   streams.c     the one "ensure a stream", stream names, provisioning, stream state,
 *                 readiness, epoch; the bridge's other streams and their messages (flovyn/stream.h)
 *   connection.c  the NATS connection, the NATS -> fv_status mapping, the clock
 *
 * (registry.c, the KV workflow registry, uses only public APIs: bus.h and kv.h.) Subscriptions, the
 * window, catch-up and bounded reads are the engine's (bus/engine.c), shared with the memory
 * backend; this backend feeds it from the live path and answers its reads. Names shared between
 * these files are internal: fv__js_*, as engine.h's fv__eng_*.
 *
 * Known nats.c 3.4.1 defects this backend is shaped around (fixed upstream later):
 *   - natsSubscription_Fetch ignores its timeout: every pull uses FetchRequest with Expires.
 *   - the read loop can crash when a subscription is destroyed while a message for it is being
 *     delivered: the live subscriptions are synchronous (no library callback thread), owned and
 *     destroyed only by their own live thread after it stopped reading; pull subscriptions are
 *     created, fetched and destroyed by one thread, never from a callback.
 *   - a ReadLine overflow on very long protocol lines: subjects are bounded (FV_SUBJECT_MAX) and
 *     headers are few and short.
 *   - js_PublishAsyncComplete without a wait blocks forever: never called without one; the
 *     publish path counts its own acks instead.
 * Blocking JetStream API requests are never made from a nats.c callback (with global message
 * delivery the reply could be queued behind the very callback waiting for it).
 */
#ifndef FLOVYN_BUS_JETSTREAM_INTERNAL_H
#define FLOVYN_BUS_JETSTREAM_INTERNAL_H

#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>

#include "bus_internal.h"
#include "engine.h"
#include "flovyn/log.h"

typedef struct fv__js_bus fv__js_bus;

/* --- publish ---------------------------------------------------------------------------------- */
typedef struct fv__js_pub_slot {
    natsMsg *msg; /* key; NULL = empty */
    struct fv__js_batch *batch;
    size_t idx;
} fv__js_pub_slot;

typedef struct fv__js_pub {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fv__js_pub_slot *slots; /* open addressing by message pointer */
    size_t cap;             /* power of two, > 2 * max in flight */
    int inflight;
    int low_mark; /* wake window waiters once in-flight drops to this */
    int waiters;
    bool wake;
} fv__js_pub;

fv_status fv__js_pub_init(fv__js_bus *b, fv_err *err);
void fv__js_pub_destroy(fv__js_bus *b);
void fv__js_pub_ack_handler(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure);
fv_status fv__js_publish_batch(fv_bus *bus, fv_publish_item *items, size_t n, fv_err *err);

/* --- reader: one ephemeral pull consumer --------------------------------------------------- */
typedef struct fv__js_reader {
    natsSubscription *sub;
    fv__js_bus *bus;
    fv_source src;
    bool whole;    /* opened without a filter: its end can be checked against the stream */
    uint64_t seen; /* last stream sequence delivered (start - 1 before the first) */
    bool at_end;   /* the consumer had nothing more pending at the last fetch */
    bool wait_next;
    int empty_answers;
    int behind_answers; /* ends the stream's leader contradicted in a row */
} fv__js_reader;

/* an ephemeral pull consumer of filter (NULL: the whole stream) from stream sequence seq on */
fv_status fv__js_reader_open(fv__js_bus *b, fv_source src, const char *filter, uint64_t seq,
                             fv__js_reader *r, fv_err *err);
/* up to batch messages; *list owned by the caller (natsMsgList_Destroy) */
fv_status fv__js_reader_fetch(fv__js_reader *r, int batch, int expires_ms, natsMsgList *list,
                              fv_err *err);
void fv__js_reader_close(fv__js_reader *r);
/* first stored sequence at or after time_ms (last + 1 if none) */
fv_status fv__js_seq_at_time(fv__js_bus *b, fv_source src, int64_t time_ms, uint64_t *out,
                             fv_err *err);
/* stream sequence and store time of a message fetched from a consumer */
bool fv__js_msg_meta(natsMsg *m, uint64_t *seq, int64_t *stored_ms);
bool fv__js_msg_meta_full(natsMsg *m, uint64_t *seq, int64_t *stored_ms, uint64_t *delivered,
                          uint64_t *pending);

/* --- records --------------------------------------------------------------------------------- */
/* a stored or republished message as the one rule reads it (stored.h): its canonical subject
 * (Nats-Subject on a republish), Content-Type and bytes; pointers into m */
void fv__js_stored_msg(natsMsg *m, fv_source src, uint64_t seq, int64_t stored_ms,
                       fv_stored_msg *out);
/* decodes a stored or republished message into an engine record by the one rule (stored.h);
 * NULL on allocation failure. A message the rule refuses is kept (decoded false) so its sequence
 * still counts, no subscription ever gets it, and it is counted and logged (rate-limited).
 * stored_exact: stored_ms is JetStream's store time (a read); false on the live path, where it
 * is the arrival time and the store time is looked up only if the body needs it. */
fv__rec *fv__js_rec_from_nats(fv__js_bus *b, fv_source src, natsMsg *m, uint64_t seq,
                              int64_t stored_ms, bool stored_exact);
/* the engine's reads of the store (fv__eng_ops) */
fv_status fv__js_eng_read_open(void *ctx, fv_source src, const char *filter, uint64_t from,
                               void **h, fv_err *err);
fv_status fv__js_eng_read_next(void *ctx, void *h, size_t max, fv__rec **out, size_t *n,
                               bool *at_end, fv_err *err);
void fv__js_eng_read_close(void *ctx, void *h);

/* --- live path -------------------------------------------------------------------------------- */
typedef struct fv__js_live_src {
    fv__js_bus *bus;
    fv_source src;
    pthread_t thread;
    bool started;
    natsSubscription *sub;
    uint64_t expected; /* next stream sequence to dispatch; 0 = not yet known */
    int64_t stream_created;
    uint64_t prev_probe_last;
    int64_t probe_warned_ms;   /* last "does not answer" warning */
    atomic_bool initialized;   /* expected is known: subscriptions may start */
    atomic_bool probe;         /* reconnect or gap suspected: compare with the stream's last seq */
    atomic_int debug_drop;     /* tests: discard the next n live messages */
    atomic_int debug_pause_us; /* tests: pause after taking each message, before handling it */
    /* cross-source order (live.c): of the messages nats.c has delivered (taken off the
     * subscription's queue), those fully handled; holding = a message waits for a refill */
    atomic_uint_least64_t handled;
    atomic_bool holding;
    /* for /metrics: expected and the last probe's answer as other threads may read them */
    atomic_uint_least64_t shown_next, shown_stream_last, probes_failed;
} fv__js_live_src;

fv_status fv__js_live_start(fv__js_bus *b, fv_err *err);
fv_status fv__js_live_ensure(fv__js_bus *b, fv_err *err);
void fv__js_live_stop(fv__js_bus *b);
void fv__js_live_stats(fv__js_bus *b, fv_bus_stats *o);
fv_status fv__js_live_wait(fv__js_bus *b, const bool want[2], fv_err *err);

/* --- durable ---------------------------------------------------------------------------------- */
fv_status fv__js_durable_ensure(fv_bus *bus, const fv_durable_config *cfg, fv_err *err);
fv_status fv__js_durable_delete(fv_bus *bus, const char *stream, const char *name, fv_err *err);
fv_status fv__js_durable_open(fv_bus *bus, const char *stream, const char *name, fv_durable **out,
                              fv_err *err);

/* --- the bus ---------------------------------------------------------------------------------- */
struct fv__js_bus {
    struct fv_bus base;
    natsConnection *nc;
    jsCtx *js;
    struct fv__js_connstate *connstate; /* what connection callbacks reach the bus through */
    atomic_bool connected;
    atomic_bool closing;

    pthread_mutex_t mu; /* readiness cache, epoch, stream state cache */
    struct {
        int64_t at_ms; /* 0 = empty */
        uint64_t first, last;
        int64_t first_ms;
    } state_cache[2];
    bool streams_ok;
    bool refreshing; /* a thread is asking for the streams' info */
    int64_t ready_checked_ms;
    int64_t created[2];
    uint64_t epoch;

    fv__js_pub pub;

    fv__js_live_src live[2];
    bool live_started; /* mu */
    fv__eng *eng;      /* subscriptions, the window, reads (engine.h) */
    /* tests: the next n fetches of a reader that got messages report the end after them, as a
     * consumer on a replica still catching up does */
    atomic_int debug_false_ends;

    struct {
        atomic_uint_least64_t published, duplicates, publish_errors, publish_retries;
        atomic_uint_least64_t live_gaps_refilled, live_refill_msgs;
        atomic_uint_least64_t reconnects;
        atomic_uint_least64_t skipped[FV_STORED_COUNT]; /* by fv_stored_reason (reader.c) */
        fv_log_limit skip_log;
    } st;
};

static inline fv__js_bus *fv__js(fv_bus *b)
{
    return (fv__js_bus *)b;
}

/* the JetStream bus behind a public handle, or NULL for the memory bus (bus.c's rule: a NATS URL
 * means JetStream); for the public APIs of kv.c, streams.c and core_sub.c */
static inline fv__js_bus *fv__js_of(fv_bus *b)
{
    return b && b->cfg.nats_url && *b->cfg.nats_url ? (fv__js_bus *)b : NULL;
}

/* --- connection.c ----------------------------------------------------------------------------- */
int64_t fv__js_now_ms(void);
fv_status fv__js_nats_err(fv_err *err, natsStatus s, jsErrCode jerr, const char *what);
/* a header's value, or NULL when the message has none of that name */
const char *fv__js_header(natsMsg *m, const char *name);
/* connects (or, with connect_in_background, starts connecting) and makes the JetStream context;
 * on_ack is the publish path's ack handler, called with b. On error what was made is left in b for
 * fv__js_disconnect. */
fv_status fv__js_connect(fv__js_bus *b, jsPubAckHandler on_ack, fv_err *err);
/* Closes the connection when it is down right now (see fv_bus_close_if_offline); true if so.
 * fv__js_disconnect still runs later. */
bool fv__js_close_if_offline(fv__js_bus *b);
/* the JetStream context and the connection; callbacks still to come see no bus */
void fv__js_disconnect(fv__js_bus *b);

/* --- streams.c -------------------------------------------------------------------------------- */
/* what flovyn owns on a stream; the rest of an existing stream's configuration is left alone */
typedef struct fv__js_stream_spec {
    const char *name;
    const char *const *subjects;
    int nsubjects;
    int64_t max_age_ms, max_bytes;             /* 0 = no limit; dedup window min(2 min, max age) */
    int replicas;                              /* 0 -> 1; never lowered */
    const char *republish_src, *republish_dst; /* NULL = leave RePublish alone */
    bool allow_direct;
    bool subjects_owned; /* an existing stream on other subjects is FV_ECONFLICT, not updated */
} fv__js_stream_spec;

/* creates the stream or updates it in place; storage/retention that differ are FV_ECONFLICT */
fv_status fv__js_stream_ensure(fv__js_bus *b, const fv__js_stream_spec *sp, fv_err *err);
const char *fv__js_stream_name(fv_source src);
/* the subject of every message of src's stream (`<prefix>.events.>` or `<prefix>.streams.>`) */
void fv__js_subject_all(const fv__js_bus *b, fv_source src, char *out, size_t cap);
/* creates or updates both streams, then refreshes their state */
fv_status fv__js_provision(fv__js_bus *b, fv_err *err);
/* connected and both streams exist (cached briefly: /readyz may be polled often) */
bool fv__js_ready(fv__js_bus *b);
/* derived from both streams' creation times; 0 while they are not known */
uint64_t fv__js_epoch(fv__js_bus *b);
/* refreshes both streams' info: created times (epoch) and presence, each request bounded by
 * 250 ms; a request without answer keeps what was known. Returns at once (FV_OK, cache
 * unchanged) while another thread refreshes. */
fv_status fv__js_refresh_streams(fv__js_bus *b, fv_err *err);
/* first and last sequence and the first message's time, answered from a copy at most max_age_ms
 * old when there is one (max_age_ms < 0: always asked, and the copy renewed): for start planning
 * on the HTTP thread, where a stream-info request per new subscription would make a reconnect
 * storm wait on the server */
fv_status fv__js_stream_state_recent(fv__js_bus *b, fv_source src, int64_t max_age_ms,
                                     int64_t wait_ms, uint64_t *first, uint64_t *last,
                                     int64_t *first_ms, fv_err *err);
/* what one stream-info request tells of a source's stream */
typedef struct fv__js_stream_stat {
    uint64_t first, last; /* sequences */
    uint64_t deleted;     /* messages deleted between first and last */
    int64_t created;      /* creation time */
    int64_t first_ms;     /* when the first message was stored */
} fv__js_stream_stat;
/* wait_ms > 0 bounds the request (0: the context's 5 s) */
fv_status fv__js_stream_stat_get(fv__js_bus *b, fv_source src, int64_t wait_ms,
                                 fv__js_stream_stat *out, fv_err *err);

/* --- backend.c -------------------------------------------------------------------------------- */
/* test hook: the live thread of src discards its next n messages, as if the republish was lost */
void fv__js_debug_drop_live(fv_bus *bus, fv_source src, int n);
void fv__js_debug_pause_live(fv_bus *bus, fv_source src, int us);
void fv__js_debug_false_ends(fv_bus *bus, int n);

#endif
