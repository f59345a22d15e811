/* config.c - flovyn-gateway's option table and its range checks.
 *
 * The names and defaults are fixed by CONTRACT §6; options beyond the contract (--window-bytes,
 * --prefix, --memory-history, ...) follow the same FLOVYN_* scheme. Values are checked here once
 * so that no other module has to guard against a zero heartbeat or a negative queue.
 */
#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/id.h"

#define O(name, type, field, dflt, help)                                                           \
    {                                                                                              \
        name, type, offsetof(fv_gw_config, field), dflt, help                                      \
    }

const fv_option fv_gw_options[] = {
    O("nats-url", FV_OPT_STRING, nats_url, NULL,
      "comma-separated NATS URLs; absent = embedded memory bus (one process)"),
    O("nats-creds", FV_OPT_STRING, nats_creds, NULL, "NATS credentials file"),
    O("nats-tls-ca", FV_OPT_STRING, nats_tls_ca, NULL, "CA file to trust for TLS to NATS"),
    O("nats-tls-cert", FV_OPT_STRING, nats_tls_cert, NULL,
      "client certificate for TLS to NATS (with --nats-tls-key)"),
    O("nats-tls-key", FV_OPT_STRING, nats_tls_key, NULL, "client certificate's private key"),
    O("listen", FV_OPT_STRING, listen, "127.0.0.1:8080", "HTTP listen address host:port"),
    O("auth", FV_OPT_STRING, auth, "jwt", "jwt, or none (local development only)"),
    O("jwt-secret-file", FV_OPT_STRING, jwt_secret_file, NULL, "HS256 secret file"),
    O("jwt-public-key-file", FV_OPT_STRING, jwt_public_key_file, NULL,
      "RS256/ES256 public key file (PEM)"),
    O("prefix", FV_OPT_STRING, prefix, "flovyn", "NATS subject prefix"),
    O("replicas", FV_OPT_INT, replicas, "1", "stream replicas (when provisioning)"),
    O("events-max-age", FV_OPT_DURATION, events_max_age_ms, "7d", "FLOVYN_EVENTS retention"),
    O("streams-max-age", FV_OPT_DURATION, streams_max_age_ms, "1h", "FLOVYN_STREAMS retention"),
    O("events-max-bytes", FV_OPT_SIZE, events_max_bytes, "10G", "FLOVYN_EVENTS size cap"),
    O("streams-max-bytes", FV_OPT_SIZE, streams_max_bytes, "1G", "FLOVYN_STREAMS size cap"),
    O("heartbeat", FV_OPT_DURATION, heartbeat_ms, "15s", "SSE keep-alive interval"),
    O("max-connections", FV_OPT_INT, max_connections, "10000", "open SSE streams, total"),
    O("max-connections-per-tenant", FV_OPT_INT, max_connections_per_tenant, "1000",
      "open SSE streams per tenant"),
    O("max-requests-per-tenant", FV_OPT_INT, max_requests_per_tenant, "64",
      "concurrent ingest and history requests per tenant (beyond: 503 + Retry-After)"),
    O("queue-bytes", FV_OPT_SIZE, queue_bytes, "262144", "per-connection output queue"),
    O("replay-limit", FV_OPT_INT, replay_limit, "10000",
      "most events replayed on one (re)connect before the client resumes"),
    O("max-body", FV_OPT_SIZE, max_body, "1048576", "ingest body limit"),
    O("max-items", FV_OPT_INT, max_items, "1000", "events per ingest request"),
    O("ingest-rate-per-tenant", FV_OPT_INT, ingest_rate_per_tenant, "5000",
      "events per second per tenant on HTTP ingest (0 = unlimited)"),
    O("publish-timeout", FV_OPT_DURATION, publish_timeout_ms, "250ms",
      "JetStream: wait for one ingest acknowledgement before sending again (same id, stored "
      "once)"),
    O("publish-deadline", FV_OPT_DURATION, publish_deadline_ms, "3s",
      "JetStream: longest an ingest request keeps sending before it answers 503"),
    O("window-bytes", FV_OPT_SIZE, window_bytes, "64M",
      "JetStream: recent events kept in memory per stream, so resumes need no consumer (and "
      "as much again for older ranges read back)"),
    O("memory-history", FV_OPT_INT, memory_history, "10000",
      "memory bus: events kept per source, across tenants"),
    O("threads", FV_OPT_INT, threads, "0", "HTTP worker threads (0 = number of cores)"),
    O("ingest-threads", FV_OPT_INT, ingest_threads, "8",
      "threads that publish ingest requests and wait for their acknowledgements"),
    O("connection-memory", FV_OPT_SIZE, connection_memory, "8K",
      "per-connection HTTP memory pool (request headers + write buffer)"),
    O("terminal-wait", FV_OPT_DURATION, terminal_wait_ms, "5s",
      "close_on_terminal: longest wait for stream events after the terminal event"),
    O("cors-origins", FV_OPT_STRING, cors_origins, NULL, "comma-separated allowed origins"),
    O("demo-tenant", FV_OPT_STRING, demo_tenant, NULL,
      "serve GET /demo/token minting tokens for this tenant (demo page; HS256 only)"),
    O("demo-token-ttl", FV_OPT_DURATION, demo_token_ttl_ms, "1h", "lifetime of demo tokens"),
    O("provision", FV_OPT_BOOL, provision, "false",
      "create or update the JetStream streams at start (like flovyn-bridge init)"),
    O("log-level", FV_OPT_STRING, log_level, "info", "debug|info|warn|error"),
    O("log-format", FV_OPT_STRING, log_format, "json", "json|text"),
    {NULL, 0, 0, NULL, NULL},
};

static fv_status check_range(const char *name, int64_t v, int64_t lo, int64_t hi, fv_err *err)
{
    if (v < lo || v > hi)
        return fv_err_set(err, FV_EINVAL, "option --%s: %lld is out of range [%lld, %lld]", name,
                          (long long)v, (long long)lo, (long long)hi);
    return FV_OK;
}

static fv_status split_listen(fv_gw_config *c, fv_err *err)
{
    const char *l = c->listen;
    const char *colon = l ? strrchr(l, ':') : NULL;
    if (!colon || colon == l || !colon[1])
        return fv_err_set(err, FV_EINVAL, "option --listen: '%s' is not host:port", l ? l : "");
    size_t hn = (size_t)(colon - l);
    if (l[0] == '[' && hn >= 2 && l[hn - 1] == ']') { /* [::1]:8080 */
        l++;
        hn -= 2;
    }
    if (hn >= sizeof c->host)
        return fv_err_set(err, FV_EINVAL, "option --listen: host too long");
    memcpy(c->host, l, hn);
    c->host[hn] = '\0';
    char *end;
    long p = strtol(colon + 1, &end, 10);
    if (*end || p < 0 || p > 65535)
        return fv_err_set(err, FV_EINVAL, "option --listen: bad port '%s'", colon + 1);
    c->port = (uint16_t)p;
    return FV_OK;
}

fv_status fv_gw_config_parse(fv_gw_config *cfg, int argc, char **argv, bool *help, fv_err *err)
{
    memset(cfg, 0, sizeof *cfg);
    const fv_option *tables[] = {fv_gw_options};
    fv_options_result res;
    fv_status st = fv_options_parse(tables, 1, cfg, argc, argv, &res, err);
    if (st != FV_OK)
        return st;
    *help = res.help;
    if (res.npositional > 0)
        return fv_err_set(err, FV_EINVAL, "unexpected argument '%s' (see --help)",
                          res.positional[0]);
    if (cfg->auth == NULL || (strcmp(cfg->auth, "jwt") != 0 && strcmp(cfg->auth, "none") != 0))
        return fv_err_set(err, FV_EINVAL, "option --auth: '%s' is not jwt or none",
                          cfg->auth ? cfg->auth : "");
    struct {
        const char *name;
        int64_t v, lo, hi;
    } ranges[] = {
        {"replicas", cfg->replicas, 1, 5},
        {"heartbeat", cfg->heartbeat_ms, 100, 3600 * 1000},
        {"max-connections", cfg->max_connections, 1, 1000000},
        {"max-connections-per-tenant", cfg->max_connections_per_tenant, 1, 1000000},
        {"max-requests-per-tenant", cfg->max_requests_per_tenant, 1, 1000000},
        {"queue-bytes", cfg->queue_bytes, 4096, (int64_t)1 << 30},
        {"replay-limit", cfg->replay_limit, 1, 100000000},
        {"max-body", cfg->max_body, 64, (int64_t)1 << 30},
        {"max-items", cfg->max_items, 1, 1000000},
        {"ingest-rate-per-tenant", cfg->ingest_rate_per_tenant, 0, 100000000},
        {"memory-history", cfg->memory_history, 1, 100000000},
        {"publish-timeout", cfg->publish_timeout_ms, 10, 60 * 1000},
        {"publish-deadline", cfg->publish_deadline_ms, 10, 600 * 1000},
        {"threads", cfg->threads, 0, 1024},
        {"ingest-threads", cfg->ingest_threads, 1, 1024},
        {"connection-memory", cfg->connection_memory, 4096, 1 << 20},
        {"demo-token-ttl", cfg->demo_token_ttl_ms, 1000, INT64_MAX},
        {"terminal-wait", cfg->terminal_wait_ms, 0, 600 * 1000},
        {"events-max-age", cfg->events_max_age_ms, 1000, INT64_MAX},
        {"streams-max-age", cfg->streams_max_age_ms, 1000, INT64_MAX},
        {"events-max-bytes", cfg->events_max_bytes, 1, INT64_MAX},
        {"streams-max-bytes", cfg->streams_max_bytes, 1, INT64_MAX},
    };
    for (size_t i = 0; i < sizeof ranges / sizeof ranges[0]; i++)
        if ((st = check_range(ranges[i].name, ranges[i].v, ranges[i].lo, ranges[i].hi, err)))
            return st;
    if (cfg->demo_tenant && *cfg->demo_tenant &&
        (st = fv_id_validate("demo-tenant", cfg->demo_tenant, strlen(cfg->demo_tenant), err)))
        return st;
    return split_listen(cfg, err);
}

void fv_gw_config_help(FILE *out)
{
    const fv_option *tables[] = {fv_gw_options};
    fprintf(out, "usage: flovyn-gateway [options]\n"
                 "       flovyn-gateway token --tenant T --ttl 1h --jwt-secret-file F "
                 "[--scope \"events:read events:write\"]\n"
                 "\n"
                 "Serves the HTTP API: SSE streams, history, ingest, /healthz /readyz /metrics.\n"
                 "\n"
                 "Example:\n"
                 "  flovyn-gateway --nats-url nats://127.0.0.1:4222 --listen 127.0.0.1:8080 "
                 "--jwt-secret-file jwt.secret\n"
                 "\noptions:\n");
    fv_options_help(tables, 1, out);
}
