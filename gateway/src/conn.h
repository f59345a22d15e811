/* conn.h - one SSE connection: a byte-bounded queue of shared frames, written by the gateway
 * straight to the client's socket.
 *
 * libmicrohttpd parses the request and sends the response headers; then it hands the socket over:
 * the content reader's first call duplicates the descriptor and answers end-of-stream, so MHD
 * frees its connection (its memory pool, the largest part of an idle stream) and closes its copy
 * without a shutdown (MHD_USE_TURBO), while the gateway keeps the socket. The response is
 * close-delimited (no chunked framing): the body is the SSE bytes as they are.
 *
 * From then on producers append under the connection's lock and write at once (fv_conn_push
 * without a batch) or add the connection to a batch that its owner flushes after a round of
 * appends (fv_conn_batch_flush: one write for the round instead of one per frame). A full socket
 * is left to the connection loop (fv_conn_loop: one epoll thread per gateway), which writes when
 * it drains and notices a client that hung up. A finished stream is closed once its queue is
 * written out.
 *
 * The state is reference-counted: MHD holds one reference until its free callback, the bus
 * subscription another until on_release, the loop one while the socket is open, a batch one while
 * it holds the connection, so nothing is used after free.
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
typedef struct fv_conn_loop fv_conn_loop;

typedef struct fv_conn_ops {
    /* the queue drained below half while the producer was paused (no lock held) */
    void (*on_drain)(fv_conn *c);
    /* the connection ended: client gone, stream finished and written, or never started (no
     * lock held; exactly once) */
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
    atomic_bool paused; /* the producer was told to wait (catch-up); see on_drain */
    const fv_conn_ops *ops;
    fv_conn_loop *loop;
    fv_conn *lprev, *lnext; /* the loop's open sockets */
    struct MHD_Connection *mc;
    fv_conn_item *head, *tail;
    size_t head_off; /* bytes of the first unwritten entry already written */
    size_t bytes;    /* queued, not yet written */
    size_t limit;
    uint64_t bytes_sent;
    int64_t done_ms;        /* when the stream was finished (a client that never takes the end) */
    int64_t handover_since; /* MHD thread: first take-over that found no free descriptor */
    int fd;                 /* the socket, once handed over; -1 before and once closed */
    bool handed;            /* MHD sent the headers and handed the socket over */
    bool out_wait;          /* the socket is full: the loop writes when it drains */
    bool closed;            /* ended (on_closed ran or is about to) */
    bool done;              /* end of stream once the queue is written */
    bool failed;            /* the client is gone: nothing more is written */
    bool batched;           /* held by a batch until its flush */
};

/* Connections that were appended to during a round and wait for one write each. Owned by one
 * thread (the bus's callback thread); the connections in it may be shared. */
typedef struct fv_conn_batch {
    fv_conn **v;
    size_t n, cap;
} fv_conn_batch;

/* Control frames (overloaded, auth_expired, end, retry) may exceed the limit by this much, so a
 * client that is closed for being slow still learns why. */
#define FV_CONN_CONTROL_SLACK 512

/* The loop: one thread waiting on every handed-over socket for room (after a full write) and for
 * a hang-up. Destroying it closes every socket still open (their streams end). */
fv_status fv_conn_loop_create(fv_conn_loop **out);
void fv_conn_loop_destroy(fv_conn_loop *l);
/* sockets open right now */
size_t fv_conn_loop_open(fv_conn_loop *l);

void fv_conn_init(fv_conn *c, size_t limit, const fv_conn_ops *ops, fv_conn_loop *loop);
void fv_conn_ref(fv_conn *c);
void fv_conn_unref(fv_conn *c);

/* The connection's socket is the gateway's from now on (takes fd): what is queued is written,
 * and the loop watches it. FV_ECLOSED when the connection already ended (fd is closed). */
fv_status fv_conn_adopt(fv_conn *c, int fd);

/* Appends an item (head bytes + a new reference to body). Returns FV_OK, FV_EFULL when it would
 * exceed limit + slack (nothing appended; with pause_if_full the connection is marked paused;
 * an item larger than the limit is accepted into an empty queue),
 * or FV_ECLOSED once closed or done. Without a batch the queue is written now; with one, the
 * connection joins the batch (once) and is written by fv_conn_batch_flush. */
fv_status fv_conn_push(fv_conn *c, const char *head, size_t head_len, fv_frame *body, size_t slack,
                       bool pause_if_full, fv_conn_batch *batch);
/* Same, for raw bytes (copied into a new frame), written now. */
fv_status fv_conn_push_bytes(fv_conn *c, const char *p, size_t n, size_t slack);
/* Writes out every connection of the batch (on_drain and on_closed may run) and empties it. */
void fv_conn_batch_flush(fv_conn_batch *b);
/* Frees the batch's array; it must be empty (flushed). */
void fv_conn_batch_free(fv_conn_batch *b);

/* Marks the stream finished: optional last bytes, then the socket closes once they are written.
 * Idempotent. Returns true the first time. */
bool fv_conn_finish(fv_conn *c, const char *last, size_t n);
/* A finished stream whose client has not taken its last bytes within grace_ms is closed. */
void fv_conn_expire(fv_conn *c, int64_t now_ms, int64_t grace_ms);

bool fv_conn_is_done(fv_conn *c);
bool fv_conn_is_paused_with_room(fv_conn *c);
size_t fv_conn_queued(fv_conn *c);

/* Copies queued bytes out without a socket (tests, diagnostics): the byte count, 0 when empty,
 * -1 at the end of a finished stream. */
long fv_conn_take(fv_conn *c, char *buf, size_t max);

/* The MHD response for this connection (close-delimited; its reader hands the socket over);
 * takes MHD's reference. */
struct MHD_Response *fv_conn_response(fv_conn *c, struct MHD_Connection *mc);

#endif
