/* bus.h - the event bus: one small interface, two backends (memory, JetStream).
 *
 * The memory backend is the embedded default (no broker; one process) and the unit-test double;
 * the JetStream backend is the production path (ARCHITECTURE.md "Data flow"). Both give the same
 * observable behaviour: per-source sequences (FLOVYN_EVENTS, FLOVYN_STREAMS), tenant-scoped
 * patterns, dedup by the CONTRACT §2 keys, cursors of cursor.h, and `gap` when a start point lies
 * before retained history or the epoch changed.
 *
 * Threads: publish calls block until the event is durable (JetStream: the PubAck) and may be made
 * from any thread. Subscription callbacks run on bus threads; for one subscription they never run
 * concurrently and arrive in order per source.
 */
#ifndef FLOVYN_BUS_H
#define FLOVYN_BUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/cursor.h"
#include "flovyn/event.h"
#include "flovyn/pattern.h"
#include "flovyn/status.h"
#include "flovyn/stored.h"

typedef struct fv_bus fv_bus;
typedef struct fv_sub fv_sub;

typedef enum fv_source { FV_SRC_EVENTS = 0, FV_SRC_STREAMS = 1 } fv_source;

typedef struct fv_bus_config {
    const char *nats_url;   /* NULL or "" -> memory backend; comma-separated URLs */
    const char *nats_creds; /* credentials file or NULL */
    /* TLS to NATS: CA bundle to trust, and a client certificate with its key (both or
     * neither); any of them turns TLS on, as does a tls:// URL. NULL -> unset */
    const char *nats_tls_ca, *nats_tls_cert, *nats_tls_key;
    const char *name;                              /* connection name for NATS monitoring */
    const char *prefix;                            /* subject prefix; NULL -> "flovyn" */
    int replicas;                                  /* 0 -> 1 */
    int64_t events_max_age_ms, streams_max_age_ms; /* 0 -> 7 d / 1 h */
    int64_t events_max_bytes, streams_max_bytes;   /* 0 -> 10 GiB / 1 GiB */
    size_t memory_history;      /* memory backend: records kept per source, across tenants;
                                   0 -> 10000 */
    int max_inflight_publishes; /* 0 -> 4096 */
    int publish_timeout_ms;     /* per attempt; 0 -> 5000 */
    int publish_attempts;       /* retries with the same msg id; 0 -> 3, or as many as fit
                                   in publish_deadline_ms when that is set */
    int publish_deadline_ms;    /* no new attempt this long after a batch began; 0 -> none */
    /* JetStream: each publish is written to the socket by the publishing thread at once. Off,
     * nats.c's flusher thread writes it, after waiting 1 ms for more to gather: every isolated
     * event carries that millisecond into its end-to-end latency. On costs a write per message
     * in bulk publishing. */
    bool publish_now;
    /* JetStream: bytes of recent records kept in memory per stream for resumes (the window);
     * 0 -> 64 MiB */
    size_t window_bytes;
    fv_limits limits;
    /* JetStream: when the first connect fails, keep trying in the background instead of failing
     * fv_bus_create (a server process that starts before NATS; fv_bus_ready says when it is) */
    bool connect_in_background;
    /* connection state changes (JetStream); may be NULL */
    void (*on_connection)(void *ud, bool connected);
    void *on_connection_ud;
    /* Runs on the thread of the subscription callbacks after each round of them (a fan-out of up
     * to 64 live messages, or a catch-up turn), with no bus lock held: a subscriber that only
     * queues output in its callbacks writes it out here, once per round instead of once per
     * message. May be NULL. */
    void (*after_callbacks)(void *ud);
    void *after_callbacks_ud;
} fv_bus_config;

void fv_bus_config_init(fv_bus_config *c);

fv_status fv_bus_create(const fv_bus_config *cfg, fv_bus **out, fv_err *err);
void fv_bus_destroy(fv_bus *bus);
/* First thing in a program's main, before anything uses OpenSSL: turns off OpenSSL's exit
 * handler. A destroyed NATS connection's last reference goes with its closed callback on a
 * library thread, which frees its TLS session there; a process that returned from main meanwhile
 * ran that handler under it, and `flovyn-bridge init` and `publish` crashed (SIGSEGV in
 * pthread_rwlock on a freed lock, or in a freed OpenSSL stack) in the cluster test. Waiting for
 * the library instead (nats_CloseAndWait) cleans OpenSSL up itself and crashed every other run. */
void fv_bus_process_start(void);
bool fv_bus_is_memory(const fv_bus *bus);
const char *fv_bus_prefix(const fv_bus *bus);

/* Creates or updates FLOVYN_EVENTS and FLOVYN_STREAMS (RePublish to the live subjects, limits,
 * dedup window min(2 min, max age)). Idempotent; an incompatible existing stream (storage,
 * retention, subjects owned by another stream) is FV_ECONFLICT with a message saying what differs.
 * Memory backend: no-op. */
fv_status fv_bus_provision(fv_bus *bus, fv_err *err);
/* connected and both streams present (memory: always true) */
bool fv_bus_ready(fv_bus *bus);
/* For a process that is stopping: when NATS is unreachable right now, closes the connection, so
 * that what the stop still asks of NATS (deleting a watcher's consumer, draining a subscription)
 * fails at once instead of waiting out each request's timeout - with every node down, a bridge
 * took 18 s to stop. Returns true when it closed; false (nothing done) when connected or on the
 * memory backend. Call before stopping the parts that use the bus; fv_bus_destroy as usual. */
bool fv_bus_close_if_offline(fv_bus *bus);
/* incarnation of the streams (changes when a stream is recreated or the memory bus restarts) */
uint64_t fv_bus_epoch(fv_bus *bus);
/* last stored sequence of a source (0 if empty) */
fv_status fv_bus_last_seq(fv_bus *bus, fv_source src, uint64_t *out, fv_err *err);

/* --- publish -------------------------------------------------------------------------------- */
typedef struct fv_publish_result {
    uint64_t seq;   /* stored sequence in its source stream */
    bool duplicate; /* same dedup key within the window: seq is the original one */
} fv_publish_result;

/* Validates, stores, returns once durable. Timeouts are retried with the same dedup key. */
fv_status fv_bus_publish_event(fv_bus *bus, const fv_event *ev, fv_publish_result *res,
                               fv_err *err);
fv_status fv_bus_publish_stream(fv_bus *bus, const fv_stream_event *se, fv_publish_result *res,
                                fv_err *err);

/* Many at once, pipelined (bounded in flight); each item gets its own status and result. The
 * call returns FV_OK once every item is settled, whatever the items' outcomes. */
typedef struct fv_publish_item {
    const fv_event *ev; /* exactly one of ev, se */
    const fv_stream_event *se;
    fv_status status;
    fv_publish_result result;
    fv_err err;
} fv_publish_item;
fv_status fv_bus_publish_batch(fv_bus *bus, fv_publish_item *items, size_t n, fv_err *err);

/* --- subscriptions -------------------------------------------------------------------------- */
typedef enum fv_start_kind {
    FV_START_NEW = 0, /* only what is stored after the call */
    FV_START_CURSOR,  /* right after cursor (per source) */
    FV_START_TIME,    /* first event stored at or after time_ms */
    FV_START_FIRST,   /* first retained event matching the pattern */
    FV_START_SEQ,     /* at events_seq / streams_seq (inclusive; 0 = source's first) */
} fv_start_kind;

typedef struct fv_start {
    fv_start_kind kind;
    fv_cursor cursor;     /* CURSOR */
    int64_t time_ms;      /* TIME */
    uint64_t events_seq;  /* SEQ, or FIRST's hint (registry's first seq; 0 = unknown) */
    uint64_t streams_seq; /* SEQ, or FIRST's hint */
    int64_t until_ms;     /* 0 = no end; otherwise events stored after it are not delivered
                             and an FV_MSG_END is sent once the stream passed it */
} fv_start;

typedef enum fv_msg_kind {
    FV_MSG_EVENT = 0, /* ev set */
    FV_MSG_STREAM,    /* se set */
    FV_MSG_GAP,       /* start point before retained history or epoch changed; gap_* set */
    FV_MSG_LIVE,      /* catch-up finished: from now on messages come from the live path */
    FV_MSG_END,       /* `until` passed, or a bounded read (fv_bus_read) reached its end */
    FV_MSG_ERROR,     /* the subscription failed for good (error set); no more messages */
} fv_msg_kind;

typedef struct fv_msg {
    fv_msg_kind kind;
    fv_source source;
    uint64_t seq;      /* sequence in its source stream */
    int64_t stored_ms; /* time the bus stored it */
    fv_cursor cursor;  /* resume point after this message (both sources) */
    const fv_event *ev;
    const fv_stream_event *se;
    const char *subject;
    fv_cursor gap_requested; /* GAP */
    fv_cursor gap_resumed_from;
    const char *error; /* ERROR */
    /* One slot per delivered message, shared by every subscription that receives this same
     * message in the same dispatch (the live fan-out): a subscriber may store a frame it built
     * (with a free function) so the next subscriber reuses it. NULL when not shared. */
    void **shared;
    void (**shared_free)(void *);
    /* More messages follow in this round of callbacks (see fv_bus_config.after_callbacks): a
     * subscriber may hold its output for the round's end; on the last one it may write now. */
    bool more;
} fv_msg;

/* Return values of the message callback. */
enum {
    FV_SUB_OK = 0,    /* consumed */
    FV_SUB_PAUSE = 1, /* NOT consumed: hold this message and everything after it until
                         fv_sub_resume; the place is kept (refilled from the store if needed) */
};

typedef struct fv_sub_config {
    fv_pattern pattern; /* copied; its types/allowed filters must outlive the subscription */
    fv_start start;
    int (*on_msg)(void *ud, const fv_msg *m);
    /* called exactly once when the bus holds no more references to ud (after fv_sub_close,
     * possibly on another thread, possibly before fv_sub_close returns) */
    void (*on_release)(void *ud);
    void *ud;
    size_t max_catchup_batch; /* 0 -> 256 */
} fv_sub_config;

fv_status fv_bus_subscribe(fv_bus *bus, const fv_sub_config *cfg, fv_sub **out, fv_err *err);
/* Continues a paused subscription from the held message. Any thread. */
void fv_sub_resume(fv_sub *sub);
/* Stops delivery: no callback starts after this returns (one already running may finish).
 * Never blocks on a running callback, so it may be called from any thread, including from
 * inside on_msg. */
void fv_sub_close(fv_sub *sub);
/* true while in catch-up (not yet handed over to live) */
bool fv_sub_catching_up(fv_sub *sub);

/* Bounded synchronous read: delivers up to `limit` matching messages from `start` to cb on the
 * calling thread and stops (history pages, `tail` without follow). *next is the cursor to resume
 * after the last scanned message (also past non-matching ones). */
fv_status fv_bus_read(fv_bus *bus, const fv_pattern *p, const fv_start *start, size_t limit,
                      int (*cb)(void *ud, const fv_msg *m), void *ud, fv_cursor *next, fv_err *err);

/* --- statistics (for /metrics) -------------------------------------------------------------- */
typedef struct fv_bus_stats {
    uint64_t published, duplicates, publish_errors, publish_retries;
    uint64_t live_received, live_gaps_refilled, live_refill_msgs;
    /* the live path per source (JetStream): the next sequence it will hand on (0 = not started),
     * the stream's last sequence at its last answered probe, the messages queued on its
     * subscription, and its probes the stream did not answer. A next sequence that stays at or
     * below the stream's last one while nothing is queued is a live path that is stuck. */
    uint64_t live_next_seq[2], live_stream_last[2], live_queued[2], live_probes_failed[2];
    uint64_t catchups_running, catchups_waiting, catchups_total;
    uint64_t reconnects;
    bool connected;
    /* the subscription engine's window (both sources) and its reads of the store */
    uint64_t window_bytes, window_records;
    uint64_t window_first_seq[2]; /* oldest sequence held per source (0 = none) */
    uint64_t window_hits;         /* subscriptions that started inside the window */
    uint64_t window_misses;       /* catch-ups that had to wait for a read of the store */
    uint64_t window_evictions;
    uint64_t shared_reads;   /* whole-stream reads into the window (one consumer each) */
    uint64_t filtered_reads; /* one subscription's reads far below the window */
    uint64_t read_records;   /* records those reads brought in */
    /* stored messages readers skip, by fv_stored_reason (stored.h): counted each time one is
     * decoded - once on the live path, again whenever a read of the store meets it */
    uint64_t skipped[FV_STORED_COUNT];
} fv_bus_stats;
void fv_bus_get_stats(fv_bus *bus, fv_bus_stats *out);

/* --- durable subscriptions (JetStream only; memory backend: FV_ENOTSUP) ---------------------- */
typedef struct fv_durable fv_durable;
typedef struct fv_durable_msg fv_durable_msg;

typedef struct fv_durable_config {
    const char *stream;         /* e.g. FLOVYN_EVENTS, FLOVYN_DLQ */
    const char *name;           /* durable name ([A-Za-z0-9_-]) */
    const char *filter_subject; /* one filter (nats-server 2.9) */
    int max_deliver;            /* 0 -> unlimited */
    int64_t ack_wait_ms;        /* 0 -> 30 s */
    const int64_t *backoff_ms;  /* trimmed to max_deliver - 1 entries */
    size_t backoff_n;
    int64_t max_ack_pending; /* 0 -> server default */
    bool deliver_new;        /* start at new messages instead of all retained */
    int64_t start_ms;        /* > 0: start at messages stored from this time on (wins over
                                deliver_new). Where a durable starts is fixed when it is created:
                                an update keeps the existing one's start. */
} fv_durable_config;

/* create or update (idempotent) */
fv_status fv_bus_durable_ensure(fv_bus *bus, const fv_durable_config *cfg, fv_err *err);
fv_status fv_bus_durable_delete(fv_bus *bus, const char *stream, const char *name, fv_err *err);
fv_status fv_bus_durable_open(fv_bus *bus, const char *stream, const char *name, fv_durable **out,
                              fv_err *err);
/* Destroys the handle WITHOUT deleting the consumer (never unsubscribe/drain a durable). */
void fv_durable_close(fv_durable *d);
/* Up to max messages, waiting at most timeout_ms for the first. *n = 0 on timeout. */
fv_status fv_durable_fetch(fv_durable *d, size_t max, int timeout_ms, fv_durable_msg **msgs,
                           size_t *n, fv_err *err);
const void *fv_durable_msg_data(const fv_durable_msg *m, size_t *len);
const char *fv_durable_msg_subject(const fv_durable_msg *m);
const char *fv_durable_msg_header(const fv_durable_msg *m, const char *name);
uint64_t fv_durable_msg_seq(const fv_durable_msg *m);       /* stream sequence */
uint64_t fv_durable_msg_delivered(const fv_durable_msg *m); /* delivery attempt, from 1 */
int64_t fv_durable_msg_stored_ms(const fv_durable_msg *m);
/* Judges a message of a durable on FLOVYN_EVENTS or FLOVYN_STREAMS by the rule every reader uses
 * and decodes it into ev or se (by the durable's stream): as fv_stored_read (stored.h). */
fv_status fv_durable_msg_read(const fv_durable_msg *m, fv_event *ev, fv_stream_event *se,
                              fv_stored_reason *why, fv_err *err);
fv_status fv_durable_msg_ack(fv_durable_msg *m);
fv_status fv_durable_msg_nak(fv_durable_msg *m, int64_t delay_ms);
fv_status fv_durable_msg_term(fv_durable_msg *m);
fv_status fv_durable_msg_in_progress(fv_durable_msg *m);
void fv_durable_msg_destroy(fv_durable_msg *m);
/* number of messages not yet delivered to the durable (consumer lag) */
fv_status fv_durable_pending(fv_durable *d, uint64_t *pending, fv_err *err);

#endif
