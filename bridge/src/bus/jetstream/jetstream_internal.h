/* jetstream_internal.h - the JetStream backend's private state, shared by its files:
 *
 *   connection.c  connection, provisioning, readiness, epoch, stats, vtable
 *   publish.c     pipelined async publish with per-message ack correlation
 *   reader.c      one ephemeral pull consumer read from a start point (catch-up, gap refill,
 *                 bounded reads)
 *   live.c        the one live subscription per stream, contiguity, routing index
 *   catchup.c     subscriptions: catch-up workers and hand-over to live
 *   durable.c     durable pull consumers for webhooks and handlers
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

typedef struct fv_js_bus fv_js_bus;
typedef struct fv_js_sub fv_js_sub;

/* --- publish ---------------------------------------------------------------------------------- */
typedef struct fv_js_pub_slot {
    natsMsg *msg; /* key; NULL = empty */
    struct fv_js_batch *batch;
    size_t idx;
} fv_js_pub_slot;

typedef struct fv_js_pub {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fv_js_pub_slot *slots; /* open addressing by message pointer */
    size_t cap;            /* power of two, > 2 * max in flight */
    int inflight;
    int low_mark; /* wake window waiters once in-flight drops to this */
    int waiters;
    bool wake;
} fv_js_pub;

fv_status fv_js_pub_init(fv_js_bus *b, fv_err *err);
void fv_js_pub_destroy(fv_js_bus *b);
void fv_js_pub_ack_handler(jsCtx *js, natsMsg *msg, jsPubAck *pa, jsPubAckErr *pae, void *closure);
fv_status fv_js_publish_batch(fv_bus *bus, fv_publish_item *items, size_t n, fv_err *err);

/* --- reader: one ephemeral pull consumer --------------------------------------------------- */
typedef struct fv_js_reader {
    natsSubscription *sub;
    bool at_end; /* the consumer had nothing more pending at the last fetch */
    bool wait_next;
    int empty_answers;
    uint64_t last_seq;
} fv_js_reader;

typedef enum { FV_RD_ALL, FV_RD_SEQ, FV_RD_TIME } fv_js_rd_from;

fv_status fv_js_reader_open(fv_js_bus *b, fv_source src, const char *filter, fv_js_rd_from from,
                            uint64_t seq, int64_t time_ms, fv_js_reader *r, fv_err *err);
/* up to batch messages; *list owned by the caller (natsMsgList_Destroy) */
fv_status fv_js_reader_fetch(fv_js_reader *r, int batch, int expires_ms, natsMsgList *list,
                             fv_err *err);
void fv_js_reader_close(fv_js_reader *r);
/* first stored sequence at or after time_ms (last + 1 if none) */
fv_status fv_js_seq_at_time(fv_js_bus *b, fv_source src, int64_t time_ms, uint64_t *out,
                            fv_err *err);
/* stream sequence and store time of a message fetched from a consumer */
bool fv_js_msg_meta(natsMsg *m, uint64_t *seq, int64_t *stored_ms);
bool fv_js_msg_meta_full(natsMsg *m, uint64_t *seq, int64_t *stored_ms, uint64_t *delivered,
                         uint64_t *pending);

/* --- decoded message shared by the live fan-out and hand-over buffers ----------------------- */
typedef struct fv_js_lmsg {
    atomic_int refs;
    fv_source src;
    uint64_t seq;
    int64_t stored_ms;
    char subject[FV_SUBJECT_MAX + 1];
    char tenant[FV_ID_MAX + 1];
    bool decoded; /* false: undecodable payload, skipped by every subscription */
    fv_event ev;
    fv_stream_event se;
    void *shared;
    void (*shared_free)(void *);
} fv_js_lmsg;

/* decodes a stored or republished message; returns NULL on allocation failure */
fv_js_lmsg *fv_js_lmsg_from_nats(fv_js_bus *b, fv_source src, natsMsg *m, uint64_t seq,
                                 int64_t stored_ms);
void fv_js_lmsg_unref(fv_js_lmsg *lm);

/* --- live path -------------------------------------------------------------------------------- */
#define FV_JS_INDEX_BUCKETS 1024

typedef struct fv_js_live_src {
    fv_js_bus *bus;
    fv_source src;
    pthread_t thread;
    bool started;
    natsSubscription *sub;
    uint64_t expected; /* next stream sequence to dispatch; 0 = not yet known */
    int64_t stream_created;
    uint64_t prev_probe_last;
    atomic_bool initialized; /* expected is known: subscriptions may start */
    atomic_bool probe;       /* reconnect or gap suspected: compare with the stream's last seq */
    atomic_uint_least64_t dispatched; /* last dispatched sequence */
    atomic_int debug_drop;            /* tests: discard the next n live messages */
    /* cross-source order (live.c): messages taken from the subscription, and of
     * those the ones fully handled; holding = a message waits for a refill */
    atomic_uint_least64_t taken;
    atomic_uint_least64_t handled;
    atomic_bool holding;
} fv_js_live_src;

fv_status fv_js_live_start(fv_js_bus *b, fv_err *err);
fv_status fv_js_live_ensure(fv_js_bus *b, fv_err *err);
void fv_js_live_stop(fv_js_bus *b);
fv_status fv_js_live_wait(fv_js_bus *b, const bool want[2], fv_err *err);
void fv_js_index_add(fv_js_bus *b, fv_js_sub *s);
void fv_js_index_remove(fv_js_bus *b, fv_js_sub *s);

/* --- subscriptions ---------------------------------------------------------------------------- */
typedef enum { FV_JS_MODE_CATCHUP = 0, FV_JS_MODE_LIVE = 1 } fv_js_mode;

typedef struct fv_js_srcstate {
    bool wanted;
    fv_js_mode mode;
    uint64_t next_seq; /* first sequence not yet delivered (deliveries below are dropped) */
    uint64_t pos;      /* cursor position: last sequence delivered or skipped */
    fv_js_rd_from from;
    int64_t from_time_ms;
    char filter[FV_SUBJECT_MAX + 1];
    /* hand-over buffer: live messages seen while catching up. Grown on demand up to buf_max
     * and freed at hand-over: a live subscription (most of them, most of the time) holds none. */
    fv_js_lmsg **buf;
    size_t buf_n;
    size_t buf_cap;
    size_t buf_max;
    bool capturing;
    bool overflow;
    bool no_fetch; /* NEW: nothing stored before the start to read */
} fv_js_srcstate;

struct fv_js_sub {
    struct fv_sub base;
    fv_js_bus *bus;
    fv_sub_config cfg;
    fv_pattern pattern;
    atomic_int refs;
    atomic_bool closed;
    pthread_mutex_t mu;   /* held while a callback runs: one callback at a time per subscription */
    pthread_mutex_t gate; /* leaf lock, never held across a callback: closed, paused */
    fv_js_srcstate s[2];
    uint64_t epoch;
    bool paused;       /* gate */
    bool queued;       /* cu_mu: in the catch-up queue or running in a worker */
    atomic_bool ended; /* END or ERROR delivered (read unlocked by the until tick) */
    bool gap_pending;
    fv_cursor gap_requested, gap_from;
    atomic_bool live_sent;
    fv_js_sub *index_next; /* tenant bucket chain */
    fv_js_sub *queue_next; /* catch-up queue */
    fv_js_sub *reap_next;  /* close queue */
};

fv_status fv_js_subscribe(fv_bus *bus, const fv_sub_config *cfg, fv_sub **out, fv_err *err);
void fv_js_sub_resume(fv_sub *sub);
void fv_js_sub_close(fv_sub *sub);
bool fv_js_sub_catching_up(fv_sub *sub);
fv_status fv_js_read(fv_bus *bus, const fv_pattern *p, const fv_start *start, size_t limit,
                     int (*cb)(void *ud, const fv_msg *m), void *ud, fv_cursor *next, fv_err *err);
/* live thread: one message for a subscription (sub->mu not held) */
void fv_js_sub_on_live(fv_js_sub *s, fv_js_lmsg *lm);
void fv_js_sub_unref(fv_js_sub *s);
void fv_js_sub_fail(fv_js_sub *s, const char *why);
fv_status fv_js_catchup_start(fv_js_bus *b, fv_err *err);
void fv_js_catchup_stop(fv_js_bus *b);

/* --- durable ---------------------------------------------------------------------------------- */
fv_status fv_js_durable_ensure(fv_bus *bus, const fv_durable_config *cfg, fv_err *err);
fv_status fv_js_durable_delete(fv_bus *bus, const char *stream, const char *name, fv_err *err);
fv_status fv_js_durable_open(fv_bus *bus, const char *stream, const char *name, fv_durable **out,
                             fv_err *err);

/* --- the bus ---------------------------------------------------------------------------------- */
struct fv_js_bus {
    struct fv_bus base;
    natsConnection *nc;
    jsCtx *js;
    struct fv_js_connstate *connstate; /* what connection callbacks reach the bus through */
    atomic_bool connected;
    atomic_bool closing;

    pthread_mutex_t mu; /* readiness cache, epoch, stream state cache */
    struct {
        int64_t at_ms; /* 0 = empty */
        uint64_t first, last;
        int64_t first_ms;
    } state_cache[2];
    bool streams_ok;
    int64_t ready_checked_ms;
    int64_t created[2];
    uint64_t epoch;

    fv_js_pub pub;

    fv_js_live_src live[2];
    bool live_started; /* mu */
    pthread_rwlock_t index_lock;
    fv_js_sub *index[FV_JS_INDEX_BUCKETS];
    size_t index_until; /* index_lock: indexed subscriptions with an `until` */

    /* catch-up workers and the reaper of closed subscriptions */
    pthread_mutex_t cu_mu;
    pthread_cond_t cu_cv;
    fv_js_sub *cu_head, *cu_tail;
    pthread_t *cu_threads;
    int cu_nthreads;
    int cu_running;
    int cu_idle;
    pthread_t reaper;
    bool reaper_started;
    fv_js_sub *reap_head;
    bool cu_stop;

    struct {
        atomic_uint_least64_t published, duplicates, publish_errors, publish_retries;
        atomic_uint_least64_t live_received, live_gaps_refilled, live_refill_msgs;
        atomic_uint_least64_t catchups_running, catchups_waiting, catchups_total;
        atomic_uint_least64_t reconnects;
    } st;
};

static inline fv_js_bus *fv_js(fv_bus *b)
{
    return (fv_js_bus *)b;
}
int64_t fv_js_now_ms(void);
const char *fv_js_stream_name(fv_source src);
/* refreshes both streams' info: created times (epoch) and presence */
fv_status fv_js_refresh_streams(fv_js_bus *b, fv_err *err);
/* last sequence and first sequence of a source */
fv_status fv_js_stream_state(fv_js_bus *b, fv_source src, uint64_t *first, uint64_t *last,
                             int64_t *created, fv_err *err);
/* fv_js_stream_state_ex, answered from a copy at most max_age_ms old when there is one: for
 * start planning on the HTTP thread, where a stream-info request per new subscription would make
 * a reconnect storm wait on the server */
fv_status fv_js_stream_state_recent(fv_js_bus *b, fv_source src, int64_t max_age_ms,
                                    uint64_t *first, uint64_t *last, int64_t *first_ms,
                                    fv_err *err);
fv_status fv_js_stream_state_ex(fv_js_bus *b, fv_source src, uint64_t *first, uint64_t *last,
                                int64_t *created, int64_t *first_ms, fv_err *err);
fv_status fv_js_nats_err(fv_err *err, natsStatus s, jsErrCode jerr, const char *what);

/* test hook: the live thread of src discards its next n messages, as if the republish was lost */
void fv_js_debug_drop_live(fv_bus *bus, fv_source src, int n);

#endif
