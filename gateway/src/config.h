/* config.h - the gateway's configuration: one struct filled from one option table (CONTRACT §6).
 *
 * Every knob of flovyn-gateway is declared once in config.c's table, which feeds the flags, the
 * FLOVYN_* environment variables and --help; the rest of the gateway reads this struct only.
 */
#ifndef FLOVYN_GW_CONFIG_H
#define FLOVYN_GW_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "flovyn/options.h"
#include "flovyn/status.h"

typedef struct fv_gw_config {
    const char *nats_url; /* NULL/"" -> embedded memory bus */
    const char *nats_creds;
    const char *nats_tls_ca, *nats_tls_cert, *nats_tls_key;
    const char *listen; /* host:port */
    const char *auth;   /* jwt | none */
    const char *jwt_secret_file;
    const char *jwt_public_key_file;
    const char *prefix;
    int64_t replicas;
    int64_t events_max_age_ms, streams_max_age_ms;
    int64_t events_max_bytes, streams_max_bytes;
    int64_t heartbeat_ms;
    int64_t max_connections, max_connections_per_tenant;
    int64_t max_requests_per_tenant; /* concurrent ingest/history requests */
    int64_t queue_bytes;
    int64_t replay_limit;
    int64_t max_body;
    int64_t max_items;
    int64_t ingest_rate_per_tenant;
    int64_t window_bytes;
    int64_t publish_timeout_ms, publish_deadline_ms;
    int64_t memory_history;
    int64_t threads; /* 0 -> number of cores */
    int64_t ingest_threads;
    int64_t connection_memory; /* MHD per-connection pool */
    int64_t terminal_wait_ms;  /* close_on_terminal: wait for trailing stream events */
    const char *cors_origins;
    const char *demo_tenant; /* GET /demo/token mints for this tenant (HS256 only) */
    int64_t demo_token_ttl_ms;
    bool provision; /* create/update the streams at start (as `flovyn-bridge init`) */
    const char *log_level;
    const char *log_format;
    /* parsed from listen */
    char host[128];
    uint16_t port;
} fv_gw_config;

extern const fv_option fv_gw_options[];

/* Parses argv (without the program name) into cfg with defaults and environment; checks ranges
 * and splits --listen. FV_EINVAL with a message on bad input. *help is set for --help. */
fv_status fv_gw_config_parse(fv_gw_config *cfg, int argc, char **argv, bool *help, fv_err *err);
void fv_gw_config_help(FILE *out);

#endif
