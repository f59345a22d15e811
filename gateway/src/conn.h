/* conn.h - one SSE connection: a byte-bounded queue of shared frames and the MHD plumbing.
 *
 * Producers (bus threads, the heartbeat timer, shutdown) append under the connection's lock and
 * resume the MHD connection only if it is suspended and not closed; the content-reader callback
 * drains the queue and, when it is empty, suspends the connection before returning 0 (returning 0
 * without suspending would spin a core). The state is reference-counted: MHD holds one reference
 * until its free callback (which sets `closed`), the bus subscription another until on_release,
 * and any thread that resumes holds its own across the call, so nothing is used after free.
 */
#ifndef FLOVYN_GW_CONN_H
#define FLOVYN_GW_CONN_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/status.h"
#include "frame.h"

struct MHD_Connection;
struct MHD_Response;
typedef struct fv_conn fv_conn;

typedef struct fv_conn_ops {
    /* the queue drained below half while the producer was paused (MHD thread, no lock held) */
    void (*on_drain)(fv_conn *c);
    /* MHD is done with the connection (MHD thread, no lock held) */
    void (*on_closed)(fv_conn *c);
    /* last reference dropped: free the embedding object (any thread) */
    void (*destroy)(fv_conn *c);
} fv_conn_ops;

/* One queued frame: its `id:` line and a reference to the shared body. */
typedef struct fv_conn_entry {
    fv_frame *body;   /* may be NULL when head carries everything */
    uint8_t head_len; /* bytes in head (an `id:` line) */
    char head[79];
} fv_conn_entry;

/* A block of entries: a catch-up turn appends hundreds of frames in a row, and one allocation per
 * frame was 8-10 % of the gateway's CPU in a resume storm (perf). */
typedef struct fv_conn_item {
    struct fv_conn_item *next;
    uint32_t n, cap; /* entries used, entries allocated */
    uint32_t first;  /* entries already written */
    fv_conn_entry e[];
} fv_conn_item;

struct fv_conn {
    pthread_mutex_t mu;
    atomic_int refs;
    atomic_bool paused; /* the producer was told to wait (catch-up); see on_drain. Written
                         * under mu; read without it by the timer's scan (same cache line). */
    const fv_conn_ops *ops;
    struct MHD_Connection *mc;
    fv_conn_item *head, *tail;
    size_t head_off; /* bytes of the first unwritten entry already written */
    size_t bytes;    /* queued, not yet written */
    size_t limit;
    uint64_t bytes_sent;
    bool suspended; /* MHD_suspend_connection was called and not yet undone */
    bool closed;    /* MHD freed its side */
    bool done;      /* end of stream once the queue is empty */
};

/* Control frames (overloaded, auth_expired, end, retry) may exceed the limit by this much, so a
 * client that is closed for being slow still learns why. */
#define FV_CONN_CONTROL_SLACK 512

void fv_conn_init(fv_conn *c, size_t limit, const fv_conn_ops *ops);
void fv_conn_ref(fv_conn *c);
void fv_conn_unref(fv_conn *c);

/* Appends an item (head bytes + a new reference to body). Returns FV_OK, FV_EFULL when it would
 * exceed limit + slack (nothing appended; with pause_if_full the connection is marked paused;
 * an item larger than the limit is accepted into an empty queue),
 * or FV_ECLOSED once closed or done. Resumes the connection if it was suspended. */
fv_status fv_conn_push(fv_conn *c, const char *head, size_t head_len, fv_frame *body, size_t slack,
                       bool pause_if_full);
/* Same, for raw bytes (copied into a new frame). */
fv_status fv_conn_push_bytes(fv_conn *c, const char *p, size_t n, size_t slack);
/* Marks the stream finished: optional last bytes, then END_OF_STREAM once drained. Idempotent.
 * Returns true the first time. */
bool fv_conn_finish(fv_conn *c, const char *last, size_t n);

bool fv_conn_is_done(fv_conn *c);
bool fv_conn_is_paused_with_room(fv_conn *c);
size_t fv_conn_queued(fv_conn *c);

/* Copies queued bytes out without MHD (tests, diagnostics): the byte count, 0 when empty, -1 at
 * the end of a finished stream. */
long fv_conn_take(fv_conn *c, char *buf, size_t max);

/* The MHD response for this connection; takes MHD's reference. */
struct MHD_Response *fv_conn_response(fv_conn *c, struct MHD_Connection *mc);

/* how many connections are suspended right now (shutdown waits for 0) */
long fv_conn_suspended_count(void);

#endif
