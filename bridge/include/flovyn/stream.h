/* stream.h - JetStream streams the bridge keeps besides FLOVYN_EVENTS/FLOVYN_STREAMS (those are
 * fv_bus_provision's): the dead-letter stream FLOVYN_DLQ and the legacy capture stream. Creating
 * them, reading their messages one by sequence, writing one, removing and purging.
 *
 * fv_stream_ensure is the one "ensure a stream" of the project (fv_bus_provision uses the same
 * code): file storage, limits retention, discard old, a dedup window of min(2 min, max age).
 * An existing stream is updated in place; what JetStream cannot change (storage, retention) is
 * FV_ECONFLICT with a message saying so, never a deletion of anybody's data, and its replicas
 * are never lowered. JetStream only: on the memory bus every call is FV_ENOTSUP. No nats.c type
 * crosses this header.
 */
#ifndef FLOVYN_STREAM_H
#define FLOVYN_STREAM_H

#include <stddef.h>
#include <stdint.h>

#include "flovyn/bus.h"
#include "flovyn/status.h"

typedef struct fv_stream_config {
    const char *name;
    const char *const *subjects;
    int nsubjects;
    int64_t max_age_ms; /* 0 = no limit */
    int64_t max_bytes;  /* 0 = no limit */
    int replicas;       /* 0 -> 1; an existing stream's replicas are never lowered */
} fv_stream_config;

/* Creates or updates the stream (idempotent; an unchanged stream is not touched). */
fv_status fv_stream_ensure(fv_bus *bus, const fv_stream_config *cfg, fv_err *err);

typedef struct fv_stream_state {
    uint64_t first_seq, last_seq; /* 0 when empty */
    uint64_t msgs;
    int replicas;
} fv_stream_state;

/* FV_ENOTFOUND when the stream does not exist */
fv_status fv_stream_info(fv_bus *bus, const char *stream, fv_stream_state *out, fv_err *err);

/* --- messages --------------------------------------------------------------------------------- */
typedef struct fv_stream_msg fv_stream_msg;

/* The message stored at seq; FV_ENOTFOUND when there is none (deleted, or out of range). */
fv_status fv_stream_get(fv_bus *bus, const char *stream, uint64_t seq, fv_stream_msg **out,
                        fv_err *err);
const char *fv_stream_msg_subject(const fv_stream_msg *m);
const void *fv_stream_msg_data(const fv_stream_msg *m, size_t *len);
/* NULL when absent */
const char *fv_stream_msg_header(const fv_stream_msg *m, const char *name);
uint64_t fv_stream_msg_seq(const fv_stream_msg *m);
void fv_stream_msg_destroy(fv_stream_msg *m);

typedef struct fv_stream_header {
    const char *name, *value;
} fv_stream_header;

typedef struct fv_stream_pub {
    const char *subject;
    const void *data;
    size_t len;
    const fv_stream_header *headers; /* values are sent as given: one line each */
    size_t nheaders;
    const char *msg_id;        /* Nats-Msg-Id (dedup within the stream's window); NULL = none */
    const char *expect_stream; /* refuse if the subject is stored by another stream; NULL */
} fv_stream_pub;

/* Stores one message and returns once it is durable; *seq (may be NULL) is its sequence. */
fv_status fv_stream_publish(fv_bus *bus, const fv_stream_pub *p, uint64_t *seq, fv_err *err);
/* Removes one message; one that is already gone is not an error. */
fv_status fv_stream_delete_msg(fv_bus *bus, const char *stream, uint64_t seq, fv_err *err);
/* Removes every message on subject (a filter; NULL = all). A missing stream is not an error. */
fv_status fv_stream_purge(fv_bus *bus, const char *stream, const char *subject, fv_err *err);

#endif
