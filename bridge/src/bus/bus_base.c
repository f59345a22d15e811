/* bus_base.c - the part of every bus that both backends fill the same way: the configuration
 * copied with its defaults applied (retention, publish bounds, buffer sizes) and its strings owned
 * by the bus, and the subject prefix validated once. A backend's create calls it first, so the
 * two backends can never disagree on a default.
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "bus_internal.h"

/* copies an optional string into the bus's own storage; "" and NULL both mean unset */
static void copy_opt(char *dst, size_t cap, const char **field)
{
    snprintf(dst, cap, "%s", *field ? *field : "");
    *field = dst[0] ? dst : NULL;
}

fv_status fv_bus_base_init(fv_bus *bus, const fv_bus_ops *ops, const fv_bus_config *cfg,
                           fv_err *err)
{
    bus->ops = ops;
    bus->cfg = *cfg;
    fv_bus_config *c = &bus->cfg;
    const char *prefix = cfg->prefix && *cfg->prefix ? cfg->prefix : FV_PREFIX_DEFAULT;
    fv_status st = fv_prefix_validate(prefix, err);
    if (st != FV_OK)
        return st;
    snprintf(bus->prefix, sizeof bus->prefix, "%s", prefix);
    snprintf(bus->nats_url, sizeof bus->nats_url, "%s", cfg->nats_url ? cfg->nats_url : "");
    snprintf(bus->name, sizeof bus->name, "%s", cfg->name ? cfg->name : "flovyn");
    copy_opt(bus->nats_creds, sizeof bus->nats_creds, &c->nats_creds);
    copy_opt(bus->nats_tls_ca, sizeof bus->nats_tls_ca, &c->nats_tls_ca);
    copy_opt(bus->nats_tls_cert, sizeof bus->nats_tls_cert, &c->nats_tls_cert);
    copy_opt(bus->nats_tls_key, sizeof bus->nats_tls_key, &c->nats_tls_key);
    if (!c->nats_tls_cert != !c->nats_tls_key)
        return fv_err_set(err, FV_EINVAL,
                          "nats-tls-cert and nats-tls-key go together: give both or neither");
    c->prefix = bus->prefix;
    c->nats_url = bus->nats_url;
    c->name = bus->name;
    if (c->replicas <= 0)
        c->replicas = 1;
    if (c->events_max_age_ms <= 0)
        c->events_max_age_ms = 7LL * 86400 * 1000;
    if (c->streams_max_age_ms <= 0)
        c->streams_max_age_ms = 3600LL * 1000;
    if (c->events_max_bytes <= 0)
        c->events_max_bytes = 10LL << 30;
    if (c->streams_max_bytes <= 0)
        c->streams_max_bytes = 1LL << 30;
    if (c->memory_history == 0)
        c->memory_history = 10000;
    if (c->max_inflight_publishes <= 0)
        c->max_inflight_publishes = 4096;
    if (c->publish_timeout_ms <= 0)
        c->publish_timeout_ms = 5000;
    if (c->publish_attempts <= 0) /* with a deadline, the deadline is the bound */
        c->publish_attempts = c->publish_deadline_ms > 0 ? INT_MAX : 3;
    if (c->limits.max_data == 0)
        c->limits.max_data = FV_DATA_MAX_DEFAULT;
    return FV_OK;
}
