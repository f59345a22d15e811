/* metrics.c - counters and the Prometheus text exposition; see metrics.h.
 *
 * The publish latency histogram has fixed buckets from 0.5 ms to 5 s: an ingest request waits for
 * JetStream's acknowledgement, so that is where latency lives.
 */
#include "metrics.h"

#include <inttypes.h>

fv_metrics fv_gw_metrics;

static const double g_bounds_ms[FV_LATENCY_BUCKETS] = {0.5, 1,   2,   5,   10,   20,
                                                       50,  100, 250, 500, 1000, 5000};

const char *fv_endpoint_name(fv_endpoint ep)
{
    static const char *const names[FV_EP_COUNT] = {"tenant", "workflow", "consolidated", "task"};
    return ep < FV_EP_COUNT ? names[ep] : "unknown";
}

void fv_metrics_observe_publish_us(uint64_t us)
{
    int i = 0;
    while (i < FV_LATENCY_BUCKETS && (double)us > g_bounds_ms[i] * 1000.0)
        i++;
    atomic_fetch_add(&fv_gw_metrics.publish_latency_bucket[i], 1);
    atomic_fetch_add(&fv_gw_metrics.publish_latency_sum_us, us);
    atomic_fetch_add(&fv_gw_metrics.publish_latency_count, 1);
}

static void counter(fv_buf *b, const char *name, const char *help, uint64_t v)
{
    fv_buf_printf(b, "# HELP %s %s\n# TYPE %s counter\n%s %" PRIu64 "\n", name, help, name, name,
                  v);
}

static void gauge(fv_buf *b, const char *name, const char *help, int64_t v)
{
    fv_buf_printf(b, "# HELP %s %s\n# TYPE %s gauge\n%s %" PRId64 "\n", name, help, name, name, v);
}

#define LOAD(x) ((uint64_t)atomic_load(&fv_gw_metrics.x))

void fv_metrics_render(fv_bus *bus, fv_buf *b)
{
    fv_metrics *m = &fv_gw_metrics;
    fv_buf_puts(b, "# HELP flovyn_gateway_open_streams SSE streams open now, by endpoint\n"
                   "# TYPE flovyn_gateway_open_streams gauge\n");
    for (int i = 0; i < FV_EP_COUNT; i++)
        fv_buf_printf(b, "flovyn_gateway_open_streams{endpoint=\"%s\"} %ld\n", fv_endpoint_name(i),
                      atomic_load(&m->open_streams[i]));
    fv_buf_puts(b, "# HELP flovyn_gateway_streams_total SSE streams opened, by endpoint\n"
                   "# TYPE flovyn_gateway_streams_total counter\n");
    for (int i = 0; i < FV_EP_COUNT; i++)
        fv_buf_printf(b, "flovyn_gateway_streams_total{endpoint=\"%s\"} %" PRIu64 "\n",
                      fv_endpoint_name(i), (uint64_t)atomic_load(&m->streams_total[i]));
    counter(b, "flovyn_gateway_events_delivered_total", "events queued to SSE clients",
            LOAD(events_delivered));
    counter(b, "flovyn_gateway_bytes_sent_total", "SSE bytes written", LOAD(bytes_sent));
    counter(b, "flovyn_gateway_sse_writes_total",
            "writes of queued SSE frames straight to client sockets", LOAD(direct_writes));
    counter(b, "flovyn_gateway_sse_socket_full_total",
            "writes that found the client's socket full and left the rest to the HTTP server",
            LOAD(socket_full));
    counter(b, "flovyn_gateway_sse_write_failures_total",
            "streams ended because writing to the client failed", LOAD(write_failures));
    counter(b, "flovyn_gateway_sse_handover_failures_total",
            "streams ended before their first event: the socket could not be taken over from the "
            "HTTP server (out of descriptors)",
            LOAD(handover_failures));
    counter(b, "flovyn_gateway_slow_client_disconnects_total",
            "live streams closed because the client did not keep up", LOAD(slow_disconnects));
    counter(b, "flovyn_gateway_client_hangups_total",
            "streams ended because their client closed the connection", LOAD(client_hangups));
    counter(b, "flovyn_gateway_overloaded_refusals_total", "requests refused by connection limits",
            LOAD(overloaded_refusals));
    counter(b, "flovyn_gateway_auth_expired_closes_total", "streams closed at token expiry",
            LOAD(auth_expired_closes));
    counter(b, "flovyn_gateway_replays_total", "streams that started with a catch-up",
            LOAD(replays_started));
    counter(b, "flovyn_gateway_replay_limit_closes_total",
            "streams closed after --replay-limit replayed events", LOAD(replay_limit_closes));
    counter(b, "flovyn_gateway_gaps_total", "gap events sent", LOAD(gaps_sent));
    counter(b, "flovyn_gateway_terminal_ends_total", "close_on_terminal streams ended",
            LOAD(terminal_ends));
    counter(b, "flovyn_gateway_ingest_accepted_total", "ingested events stored",
            LOAD(ingest_accepted));
    counter(b, "flovyn_gateway_ingest_rejected_total", "ingest items rejected",
            LOAD(ingest_rejected));
    counter(b, "flovyn_gateway_ingest_duplicate_total", "ingest items that were duplicates",
            LOAD(ingest_duplicate));
    counter(b, "flovyn_gateway_ingest_rate_limited_total", "ingest requests refused with 429",
            LOAD(ingest_rate_limited));
    counter(b, "flovyn_gateway_http_requests_total", "HTTP requests", LOAD(http_requests));
    fv_buf_puts(b, "# HELP flovyn_gateway_publish_seconds ingest publish latency until durable\n"
                   "# TYPE flovyn_gateway_publish_seconds histogram\n");
    uint64_t cum = 0;
    for (int i = 0; i <= FV_LATENCY_BUCKETS; i++) {
        cum += atomic_load(&m->publish_latency_bucket[i]);
        if (i < FV_LATENCY_BUCKETS)
            fv_buf_printf(b, "flovyn_gateway_publish_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
                          g_bounds_ms[i] / 1000.0, cum);
        else
            fv_buf_printf(b, "flovyn_gateway_publish_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n",
                          cum);
    }
    fv_buf_printf(b, "flovyn_gateway_publish_seconds_sum %.6f\n",
                  (double)LOAD(publish_latency_sum_us) / 1e6);
    fv_buf_printf(b, "flovyn_gateway_publish_seconds_count %" PRIu64 "\n",
                  LOAD(publish_latency_count));
    if (bus) {
        fv_bus_stats s;
        fv_bus_get_stats(bus, &s);
        gauge(b, "flovyn_gateway_catchups_running", "catch-ups replaying from memory now",
              (int64_t)s.catchups_running);
        gauge(b, "flovyn_gateway_catchups_waiting", "catch-ups waiting for a read of the store",
              (int64_t)s.catchups_waiting);
        gauge(b, "flovyn_gateway_window_bytes", "bytes of events held in memory for resumes",
              (int64_t)s.window_bytes);
        gauge(b, "flovyn_gateway_window_events", "events held in memory for resumes",
              (int64_t)s.window_records);
        gauge(b, "flovyn_gateway_window_oldest_events_seq",
              "oldest FLOVYN_EVENTS sequence held in memory (0 = none)",
              (int64_t)s.window_first_seq[0]);
        gauge(b, "flovyn_gateway_window_oldest_streams_seq",
              "oldest FLOVYN_STREAMS sequence held in memory (0 = none)",
              (int64_t)s.window_first_seq[1]);
        counter(b, "flovyn_gateway_window_hits_total",
                "subscriptions that started inside the window", s.window_hits);
        counter(b, "flovyn_gateway_window_misses_total",
                "catch-ups that waited for a read of the store", s.window_misses);
        counter(b, "flovyn_gateway_window_evictions_total", "events dropped from the window",
                s.window_evictions);
        counter(b, "flovyn_gateway_shared_reads_total",
                "whole-stream reads into the window (one consumer each)", s.shared_reads);
        counter(b, "flovyn_gateway_filtered_reads_total",
                "one subscription's reads far below the window (one consumer each)",
                s.filtered_reads);
        counter(b, "flovyn_gateway_read_events_total", "events read back from the store",
                s.read_records);
        counter(b, "flovyn_gateway_catchups_total", "catch-ups started", s.catchups_total);
        counter(b, "flovyn_gateway_live_received_total", "messages on the live path",
                s.live_received);
        counter(b, "flovyn_gateway_live_gaps_refilled_total",
                "live-path sequence gaps re-read from the store", s.live_gaps_refilled);
        counter(b, "flovyn_gateway_live_refill_messages_total", "messages re-read to fill gaps",
                s.live_refill_msgs);
        static const char *const streams[2] = {"FLOVYN_EVENTS", "FLOVYN_STREAMS"};
        const struct {
            const char *name, *type, *help;
            const uint64_t *v;
        } per_stream[] = {
            {"flovyn_gateway_live_next_seq", "gauge",
             "next stream sequence the live path hands on (0 = not started)", s.live_next_seq},
            {"flovyn_gateway_live_stream_last_seq", "gauge",
             "the stream's last sequence at the live path's last answered probe",
             s.live_stream_last},
            {"flovyn_gateway_live_queued", "gauge",
             "messages queued on the live subscription, not yet taken", s.live_queued},
            {"flovyn_gateway_live_probes_failed_total", "counter",
             "live-path probes of the stream that got no answer", s.live_probes_failed},
        };
        for (size_t k = 0; !fv_bus_is_memory(bus) && k < sizeof per_stream / sizeof per_stream[0];
             k++) {
            fv_buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n", per_stream[k].name, per_stream[k].help,
                          per_stream[k].name, per_stream[k].type);
            for (int i = 0; i < 2; i++)
                fv_buf_printf(b, "%s{stream=\"%s\"} %" PRIu64 "\n", per_stream[k].name, streams[i],
                              per_stream[k].v[i]);
        }
        counter(b, "flovyn_gateway_bus_published_total", "events stored by this process",
                s.published);
        counter(b, "flovyn_gateway_bus_publish_errors_total", "publishes that failed",
                s.publish_errors);
        counter(b, "flovyn_gateway_nats_reconnects_total", "NATS reconnects", s.reconnects);
        gauge(b, "flovyn_gateway_nats_connected", "1 when connected to NATS (memory bus: 1)",
              s.connected || fv_bus_is_memory(bus) ? 1 : 0);
        /* what the bus refused to serve (flovyn/stored.h); the bus logs it, rate-limited */
        fv_buf_puts(b, "# HELP flovyn_gateway_skipped_messages_total stored messages never served "
                       "(each time the live path or a read meets one), by reason\n"
                       "# TYPE flovyn_gateway_skipped_messages_total counter\n");
        for (int i = FV_STORED_OK + 1; i < FV_STORED_COUNT; i++)
            fv_buf_printf(b, "flovyn_gateway_skipped_messages_total{reason=\"%s\"} %" PRIu64 "\n",
                          fv_stored_reason_name((fv_stored_reason)i), s.skipped[i]);
    }
}
