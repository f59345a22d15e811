/* dlq.h - webhook dead letters in FLOVYN_DLQ: writing them, listing, replaying and purging.
 *
 * The message format is provision.h's (one format for every producer of dead letters). A
 * webhook dead letter is on `<prefix>.v1.dlq.<subscription>` with Flovyn-Dlq-Origin = the
 * subscription name, and its Nats-Msg-Id `webhook:<subscription>:<seq>` names the original
 * FLOVYN_EVENTS sequence (and makes dead-lettering the same event twice, after a crash between
 * the DLQ write and the term, store it once).
 */
#ifndef FLOVYN_DLQ_H
#define FLOVYN_DLQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/bus.h"

/* names that are origins of other dead letters (registry, legacy, check, ...) and so cannot
 * name a subscription */
bool fv_dlq_origin_reserved(const char *name);

/* Dead-letters one message read by a subscription's durable. Returns once durable. */
fv_status fv_dlq_webhook_put(fv_bus *bus, const char *subscription, fv_durable_msg *m,
                             uint64_t attempts, const char *why, fv_err *err);

/* One stored dead letter as seen by list/replay (pointers into msg). */
typedef struct fv_dlq_item {
    uint64_t dlq_seq;
    const char *origin;  /* subscription name for webhook dead letters */
    const char *subject; /* original subject */
    const char *reason;
    const char *content_type;
    const char *stream;    /* the stream the original was stored in; NULL = unknown */
    uint64_t original_seq; /* its sequence there; 0 = unknown */
    int attempts;
    int64_t time_ms;
    const void *data;
    size_t len;
} fv_dlq_item;

/* Walks FLOVYN_DLQ in sequence order (subscription NULL = every origin), at most limit items
 * (0 = no limit); cb returns nonzero to stop. */
fv_status fv_dlq_scan(fv_bus *bus, const char *subscription, size_t limit,
                      int (*cb)(void *ud, const fv_dlq_item *it), void *ud, fv_err *err);
fv_status fv_dlq_remove(fv_bus *bus, uint64_t dlq_seq, fv_err *err);
/* subscription NULL = every dead letter */
fv_status fv_dlq_purge(fv_bus *bus, const char *subscription, fv_err *err);

#endif
