/* legacy_adapter.h - reads Flovyn's pre-v1 NATS subjects and republishes them canonically.
 *
 *   flovyn.events.<tenant>.<type...>   M0 JSON FlovynEvent (snake or camel case; event_type
 *                                      dotted or SCREAMING_SNAKE) -> FlovynEvent
 *   flovyn.streams.workflow.<wf>       Flovyn StreamEvent JSON -> StreamEvent, and the lifecycle
 *                                      payloads inside it ({"type":"Event","event":"TASK_CREATED",
 *                                      "data":{snapshot},...}) -> FlovynEvent
 *
 * The streams subject carries no tenant: it comes from the workflow registry. A message for a
 * workflow the registry does not know yet waits (bounded time and count) and then goes to
 * FLOVYN_DLQ with the reason; invalid messages go there too. Nothing is dropped silently.
 */
#ifndef FLOVYN_BRIDGE_LEGACY_ADAPTER_H
#define FLOVYN_BRIDGE_LEGACY_ADAPTER_H

#include <stdbool.h>
#include <stdint.h>

#include "flovyn/buf.h"
#include "flovyn/bus.h"
#include "flovyn/registry.h"

#define FV_LEGACY_STREAM "FLOVYN_LEGACY"

typedef struct fv_legacy_config {
    const char *legacy_prefix; /* NULL -> "flovyn" */
    /* durable capture: a stream FLOVYN_LEGACY on the legacy subjects, consumed by a durable, so
     * nothing published while the bridge is down is lost (instead of core subscriptions) */
    bool capture;
    int64_t capture_max_age_ms; /* 0 -> 1 h */
    int replicas;
    int64_t wait_ms;       /* unknown workflow: how long to wait for the registry; 0 -> 5 s */
    int64_t retry_ms;      /* between registry lookups; 0 -> wait_ms / 5 */
    size_t max_waiting;    /* messages waiting at once; 0 -> 10000 */
    size_t queue_capacity; /* core-subscription hand-off queue; 0 -> 65536 messages */
    size_t max_bytes;      /* bytes held (queue + waiting) at once; 0 -> 64 MiB */
} fv_legacy_config;

typedef struct fv_legacy_stats {
    uint64_t received, mapped, duplicates, waiting, dead_lettered, invalid, overflow, errors;
    uint64_t capture_pending; /* capture mode: stored in FLOVYN_LEGACY, not yet read */
} fv_legacy_stats;

typedef struct fv_legacy_adapter fv_legacy_adapter;

fv_status fv_legacy_start(fv_bus *bus, fv_registry *reg, const fv_legacy_config *cfg,
                          fv_legacy_adapter **out, fv_err *err);
/* Stops reading, settles what is in hand (waiting messages are dead-lettered in core mode, left
 * unacknowledged for redelivery in capture mode). */
void fv_legacy_stop(fv_legacy_adapter *a);
void fv_legacy_get_stats(fv_legacy_adapter *a, fv_legacy_stats *out);
/* Prometheus lines (flovyn_bridge_legacy_*) */
void fv_legacy_metrics(fv_legacy_adapter *a, fv_buf *out);

#endif
