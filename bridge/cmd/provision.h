/* provision.h - what `flovyn-bridge init` and `run` create besides the bus's two streams: the
 * dead-letter stream FLOVYN_DLQ, the KV buckets, and the one DLQ message format every producer of
 * dead letters in the bridge (registry, legacy adapter, webhooks) writes.
 *
 * A dead letter is the original bytes on `<prefix>.v1.dlq.<origin>` with headers saying why:
 *   Flovyn-Dlq-Origin     registry | legacy | check | a webhook subscription's name
 *   Flovyn-Dlq-Reason     a sentence a user can act on
 *   Flovyn-Dlq-Subject    the subject the message was read from
 *   Flovyn-Dlq-Stream     the stream it was stored in, and
 *   Flovyn-Dlq-Seq        its sequence there (when it was read from a stream)
 *   Flovyn-Dlq-Attempts   delivery attempts made (when meaningful)
 *   Flovyn-Dlq-Time       epoch milliseconds when it was dead-lettered
 *   Content-Type          the original one, if any
 */
#ifndef FLOVYN_BRIDGE_PROVISION_H
#define FLOVYN_BRIDGE_PROVISION_H

#include <stddef.h>
#include <stdint.h>

#include "bridge.h"
#include "flovyn/bus.h"

#define FV_DLQ_MAX_AGE_DEFAULT_MS (30LL * 86400 * 1000)
#define FV_DLQ_MAX_BYTES_DEFAULT (1LL << 30)

/* FLOVYN_DLQ on `<prefix>.v1.dlq.>` (0 -> defaults above), by fv_stream_ensure */
fv_status fv_provision_dlq(fv_bus *bus, int replicas, int64_t max_age_ms, int64_t max_bytes,
                           fv_err *err);

typedef struct fv_provision_config {
    int64_t dlq_max_age_ms, dlq_max_bytes; /* 0 -> defaults */
} fv_provision_config;
/* Everything, in order: FLOVYN_EVENTS, FLOVYN_STREAMS, FLOVYN_DLQ, the buckets FLOVYN_WORKFLOWS
 * (TTL = events max age) and FLOVYN_SUBSCRIPTIONS. Idempotent. */
fv_status fv_provision_all(fv_bus *bus, const fv_bridge_common *c, const fv_provision_config *pc,
                           fv_err *err);

/* the origin of the stored-message checker's dead letters (checker.h) */
#define FV_DLQ_ORIGIN_CHECK "check"

typedef struct fv_dlq_entry {
    const char *origin;  /* subject token: "registry", "legacy", ... ([A-Za-z0-9_-]) */
    const char *subject; /* where the message came from */
    const void *data;
    size_t len;
    const char *content_type; /* NULL = none */
    const char *reason;
    int attempts;       /* 0 = not stated */
    const char *msg_id; /* Nats-Msg-Id for dedup of repeated dead-lettering; NULL = none */
    const char *stream; /* where it was stored; NULL = not read from a stream */
    uint64_t seq;       /* its sequence there */
} fv_dlq_entry;
/* Stores one dead letter in FLOVYN_DLQ; returns once it is durable. */
fv_status fv_dlq_publish(fv_bus *bus, const fv_dlq_entry *e, fv_err *err);

#endif
