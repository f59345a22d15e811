/* metrics.h - the gateway's counters and their Prometheus text exposition (/metrics).
 *
 * Plain atomics in one global struct: every module bumps what it owns without locks, and the
 * scrape reads a consistent-enough snapshot. Bus-side figures (catch-ups, live-path refills,
 * NATS connection state, stored messages skipped by reason) come from fv_bus_get_stats at scrape
 * time.
 */
#ifndef FLOVYN_GW_METRICS_H
#define FLOVYN_GW_METRICS_H

#include <stdatomic.h>
#include <stdint.h>

#include "flovyn/buf.h"
#include "flovyn/bus.h"

typedef enum fv_endpoint {
    FV_EP_TENANT = 0,
    FV_EP_WORKFLOW,
    FV_EP_CONSOLIDATED,
    FV_EP_TASK,
    FV_EP_COUNT
} fv_endpoint;

const char *fv_endpoint_name(fv_endpoint ep);

#define FV_LATENCY_BUCKETS 12

typedef struct fv_metrics {
    atomic_long open_streams[FV_EP_COUNT];
    atomic_ullong streams_total[FV_EP_COUNT];
    atomic_ullong events_delivered, bytes_sent;
    atomic_ullong direct_writes, socket_full, write_failures; /* conn.c's socket writes */
    atomic_ullong handover_failures; /* streams whose socket could not be taken over */
    atomic_ullong slow_disconnects, client_hangups, overloaded_refusals, auth_expired_closes;
    atomic_ullong replays_started, replay_limit_closes, gaps_sent, terminal_ends;
    atomic_ullong ingest_accepted, ingest_rejected, ingest_duplicate, ingest_rate_limited;
    atomic_ullong http_requests, http_errors;
    atomic_ullong publish_latency_bucket[FV_LATENCY_BUCKETS + 1]; /* last = +Inf */
    atomic_ullong publish_latency_sum_us, publish_latency_count;
} fv_metrics;

extern fv_metrics fv_gw_metrics;

void fv_metrics_observe_publish_us(uint64_t us);
/* Prometheus text format 0.0.4 */
void fv_metrics_render(fv_bus *bus, fv_buf *out);

#endif
