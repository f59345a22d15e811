/* common.c - the options every flovyn-bridge subcommand shares, and the two steps every one of
 * them starts with: parse flags/environment (one table, options.h) and open the bus.
 *
 * A subcommand's config struct embeds fv_bridge_common as its first member, so the common table's
 * offsets are valid in it and one fv_options_parse call fills both tables.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"
#include "flovyn/log.h"

#define C(field) offsetof(fv_bridge_common, field)

const fv_option fv_bridge_common_options[] = {
    {"nats-url", FV_OPT_STRING, C(nats_url), NULL, "comma-separated NATS URLs (required)"},
    {"nats-creds", FV_OPT_STRING, C(nats_creds), NULL, "NATS credentials file"},
    {"nats-tls-ca", FV_OPT_STRING, C(nats_tls_ca), NULL, "CA file to trust for TLS to NATS"},
    {"nats-tls-cert", FV_OPT_STRING, C(nats_tls_cert), NULL,
     "client certificate for TLS to NATS (with --nats-tls-key)"},
    {"nats-tls-key", FV_OPT_STRING, C(nats_tls_key), NULL, "client certificate's private key"},
    {"prefix", FV_OPT_STRING, C(prefix), "flovyn", "subject prefix"},
    {"http-addr", FV_OPT_STRING, C(http_addr), "127.0.0.1:8081", "health/metrics address of `run`"},
    {"replicas", FV_OPT_INT, C(replicas), "1", "replicas of streams and buckets"},
    {"events-max-age", FV_OPT_DURATION, C(events_max_age_ms), "7d", "FLOVYN_EVENTS retention"},
    {"streams-max-age", FV_OPT_DURATION, C(streams_max_age_ms), "1h", "FLOVYN_STREAMS retention"},
    {"events-max-bytes", FV_OPT_SIZE, C(events_max_bytes), "10G", "FLOVYN_EVENTS size cap"},
    {"streams-max-bytes", FV_OPT_SIZE, C(streams_max_bytes), "1G", "FLOVYN_STREAMS size cap"},
    {"log-level", FV_OPT_STRING, C(log_level), "info", "debug|info|warn|error"},
    {"log-format", FV_OPT_STRING, C(log_format), "json", "json|text"},
    {NULL, 0, 0, NULL, NULL},
};

void fv_bridge_bus_config(const fv_bridge_common *c, fv_bus_config *out)
{
    fv_bus_config_init(out);
    out->nats_url = c->nats_url;
    out->nats_creds = c->nats_creds && *c->nats_creds ? c->nats_creds : NULL;
    out->nats_tls_ca = c->nats_tls_ca;
    out->nats_tls_cert = c->nats_tls_cert;
    out->nats_tls_key = c->nats_tls_key;
    out->name = "flovyn-bridge";
    out->prefix = c->prefix;
    out->replicas = (int)c->replicas;
    out->events_max_age_ms = c->events_max_age_ms;
    out->streams_max_age_ms = c->streams_max_age_ms;
    out->events_max_bytes = c->events_max_bytes;
    out->streams_max_bytes = c->streams_max_bytes;
}

int fv_bridge_parse_args(const char *usage, const fv_option *table, void *cfg, int argc,
                         char **argv, fv_options_result *res)
{
    const fv_option *tables[2] = {fv_bridge_common_options, table};
    size_t n = table ? 2 : 1;
    fv_err err = {{0}};
    fv_status st = fv_options_parse(tables, n, cfg, argc, argv, res, &err);
    if (st == FV_OK && res->help) {
        fputs(usage, stdout);
        if (table) {
            fputs("\nOptions:\n", stdout);
            fv_options_help(&tables[1], 1, stdout);
        }
        fputs("\nCommon options:\n", stdout);
        fv_options_help(tables, 1, stdout);
        return 0;
    }
    if (st != FV_OK) {
        fprintf(stderr, "flovyn-bridge: %s\n", err.msg);
        return 2;
    }
    const fv_bridge_common *c = cfg;
    if (c->replicas < 1 || c->replicas > 5) {
        fprintf(stderr, "flovyn-bridge: --replicas: %lld is not between 1 and 5\n",
                (long long)c->replicas);
        return 2;
    }
    if (fv_log_setup(c->log_level, c->log_format, &err) != FV_OK) {
        fprintf(stderr, "flovyn-bridge: %s\n", err.msg);
        return 2;
    }
    fv_options_warn_deprecated(res);
    return -1;
}

int fv_bridge_connect(const fv_bridge_common *c, const char *name, fv_bus **out)
{
    *out = NULL;
    if (!c->nats_url || !*c->nats_url) {
        fprintf(stderr, "flovyn-bridge: --nats-url (or FLOVYN_NATS_URL) is required\n");
        return 2;
    }
    fv_bus_config bc;
    fv_bridge_bus_config(c, &bc);
    bc.name = name;
    fv_err err = {{0}};
    fv_status st = fv_bus_create(&bc, out, &err);
    if (st != FV_OK) {
        fprintf(stderr, "flovyn-bridge: cannot connect to %s: %s\n", c->nats_url,
                err.msg[0] ? err.msg : fv_status_name(st));
        return st == FV_EINVAL ? 2 : 1;
    }
    return -1;
}
