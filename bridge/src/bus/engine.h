/* engine.h - the subscription engine both bus backends use (internal to the library).
 *
 * The engine owns every rule of a subscription: where it starts (cursor, time, first, new),
 * catch-up in batches, the hand-over to live with neither hole nor duplicate, pause and resume
 * (a resume that races a pause is never lost), `gap`, `until`/END, the merge of the two sources,
 * and bounded reads. A backend only stores and feeds:
 *
 *   - the memory backend assigns sequences and appends each stored record (fv__eng_append); the
 *     window is its whole store, so what leaves the window is gone (`gap`);
 *   - the JetStream backend appends what its live path sees (contiguous by stream sequence) and
 *     answers the engine's reads of older ranges through fv__eng_ops; what leaves the window is
 *     still in the stream.
 *
 * The window of a source is a list of segments, each contiguous by sequence: it covers (base, hi]
 * and holds every stored record of that range in order. The top segment ends at the live edge.
 * A start inside a segment is served from memory; a start below is read by a shared reader into a
 * segment below the others (whole stream, from a known sequence: one consumer for every
 * subscription waiting in that range), or, far below, by a filtered reader of the one
 * subscription. Records are reference-counted and immutable; each carries one frame slot shared
 * by every delivery of it, live or replayed.
 *
 * Threads: one dispatcher runs every callback (never two at once for one subscription, in order
 * per source); reader threads run the backend's blocking reads. Lock order: a backend's own lock
 * may be held while calling fv__eng_append; the engine never calls a backend op with its lock held.
 */
#ifndef FLOVYN_BUS_ENGINE_H
#define FLOVYN_BUS_ENGINE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus_internal.h"

typedef struct fv__eng fv__eng;

/* One stored message, immutable once appended or filled. */
typedef struct fv__rec {
    atomic_int refs;
    fv_source src;
    bool decoded;      /* false: skipped by every subscription (its sequence still counts) */
    uint64_t seq;      /* in its source stream */
    uint64_t order;    /* engine arrival number of appended records; 0 for records read back */
    int64_t stored_ms; /* when the store took it */
    size_t bytes;      /* what it costs in the window */
    char *subject;     /* owned */
    union {            /* by src, valid when decoded */
        fv_event ev;
        fv_stream_event se;
    };
    void *shared; /* frame slot shared by every delivery (dispatcher thread only) */
    void (*shared_free)(void *);
} fv__rec;

fv__rec *fv__rec_new(fv_source src); /* refs 1, event initialised; NULL on no memory */
/* the tenant of a decoded record ("" when undecoded: nobody receives it) */
static inline const char *fv__rec_tenant(const fv__rec *r)
{
    if (!r->decoded)
        return "";
    return r->src == FV_SRC_EVENTS ? r->ev.tenant_id : r->se.tenant_id;
}
void fv__rec_ref(fv__rec *r);
void fv__rec_unref(fv__rec *r);
/* subject (copied) and the cost in bytes; call once the event is filled */
fv_status fv__rec_finish(fv__rec *r, const char *subject);

/* What the engine asks of a backend. A backend whose store is the window sets read_open NULL. */
typedef struct fv__eng_ops {
    void *ctx;
    uint64_t (*epoch)(void *ctx);
    /* *floor: highest sequence no longer retained (first retained - 1); *lost_ms: store time of
     * the newest record no longer retained (or of the oldest retained when unknown; 0 = none
     * lost); *last: last stored sequence. fresh: the true last sequence, not a recent copy. */
    fv_status (*store_state)(void *ctx, fv_source src, bool fresh, uint64_t *floor,
                             int64_t *lost_ms, uint64_t *last, fv_err *err);
    /* first stored sequence at or after time_ms (last + 1 when none) */
    fv_status (*seq_at_time)(void *ctx, fv_source src, int64_t time_ms, uint64_t *out, fv_err *err);
    /* a reader of stored records of src from sequence `from` on, ascending: the whole stream
     * (filter NULL) or one subject filter */
    fv_status (*read_open)(void *ctx, fv_source src, const char *filter, uint64_t from, void **h,
                           fv_err *err);
    /* up to max decoded records; *at_end when nothing more is stored after them */
    fv_status (*read_next)(void *ctx, void *h, size_t max, fv__rec **out, size_t *n, bool *at_end,
                           fv_err *err);
    void (*read_close)(void *ctx, void *h);
} fv__eng_ops;

typedef struct fv__eng_config {
    size_t window_bytes[2];            /* per source; 0 -> 64 MiB */
    size_t window_records[2];          /* per source; 0 -> 1,000,000 */
    int64_t max_age_ms[2];             /* records older leave the window (memory store); 0 = none */
    size_t live_queue_max;             /* appended, not yet fanned out; 0 -> 65536 */
    int readers;                       /* reader threads (backends with reads); 0 -> 2 */
    const char *prefix;                /* subject prefix, for filtered reads */
    void (*after_callbacks)(void *ud); /* see fv_bus_config */
    void *after_callbacks_ud;
} fv__eng_config;

fv_status fv__eng_create(const fv__eng_config *cfg, const fv__eng_ops *ops, fv__eng **out,
                         fv_err *err);
/* stops the threads, releases open subscriptions and the window */
void fv__eng_destroy(fv__eng *e);

/* The window of src starts empty at `seq` (covers nothing up to it): the JetStream live path
 * once it knows where it starts. */
void fv__eng_start_source(fv__eng *e, fv_source src, uint64_t seq);
/* The stream under src was recreated: every subscription on it ends with ERROR(why), the window
 * of src is dropped and starts again empty at `seq`. */
void fv__eng_reset_source(fv__eng *e, fv_source src, uint64_t seq, const char *why);

/* Waits while the fan-out queue is full (never on the dispatcher thread). Call before taking a
 * lock that fv__eng_append will be called under. false: the engine is stopping. */
bool fv__eng_wait_space(fv__eng *e);
/* Appends r (its seq the next stored one of its source: every stored sequence between the
 * window's live edge and r->seq is absent from the store) and queues it for fan-out. Takes the
 * caller's reference. Memory store: assigns r->seq = last + 1 and the store time first when
 * assign_seq. false: not stored (the engine is stopping, or r is not newer than the edge). */
bool fv__eng_append(fv__eng *e, fv__rec *r, bool assign_seq);
/* last appended sequence of src (the live edge) */
uint64_t fv__eng_last_seq(fv__eng *e, fv_source src);
/* memory store: highest sequence no longer in the window and the newest store time lost */
void fv__eng_lost(fv__eng *e, fv_source src, uint64_t *seq, int64_t *ms);
/* memory store: first sequence stored at or after time_ms (last + 1 when none) */
uint64_t fv__eng_seq_at_time(fv__eng *e, fv_source src, int64_t time_ms);

fv_status fv__eng_subscribe(fv__eng *e, fv_bus *bus, const fv_sub_config *cfg, fv_sub **out,
                            fv_err *err);
void fv__eng_sub_resume(fv_sub *sub);
void fv__eng_sub_close(fv_sub *sub);
bool fv__eng_sub_catching_up(fv_sub *sub);
fv_status fv__eng_read(fv__eng *e, const fv_pattern *p, const fv_start *start, size_t limit,
                       int (*cb)(void *ud, const fv_msg *m), void *ud, fv_cursor *next,
                       fv_err *err);
/* adds the engine's counters to out */
void fv__eng_stats(fv__eng *e, fv_bus_stats *out);

#endif
