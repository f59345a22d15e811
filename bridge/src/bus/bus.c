/* bus.c - the bus API on top of both backends: choosing one, validation before publish, and
 * dispatch through the vtable of bus_internal.h. Choosing the backend is one rule: a NATS URL
 * means JetStream, none means the embedded memory bus. What every backend fills the same way
 * (configuration defaults) is bus_base.c's, below the backends, so calls go one way:
 * bus.c -> backends -> bus_base.c.
 */
#include <stdio.h>
#include <string.h>

#include <openssl/crypto.h>

#include "bus_internal.h"

void fv_bus_config_init(fv_bus_config *c)
{
    memset(c, 0, sizeof *c);
}

fv_status fv_bus_create(const fv_bus_config *cfg, fv_bus **out, fv_err *err)
{
    *out = NULL;
    if (cfg->nats_url && *cfg->nats_url)
        return fv_bus_jetstream_create(cfg, out, err);
    return fv_bus_memory_create(cfg, out, err);
}

void fv_bus_destroy(fv_bus *bus)
{
    if (bus)
        bus->ops->destroy(bus);
}

void fv_bus_process_start(void)
{
    /* no OpenSSL exit handler: it would free OpenSSL's locks and tables under NATS library
     * threads that outlive main (a connection's last release, and its TLS session's, happens on
     * nats.c's callback thread) */
    OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL);
}

bool fv_bus_is_memory(const fv_bus *bus)
{
    return bus->cfg.nats_url == NULL || !*bus->cfg.nats_url;
}
const char *fv_bus_prefix(const fv_bus *bus)
{
    return bus->prefix;
}
fv_status fv_bus_provision(fv_bus *bus, fv_err *err)
{
    return bus->ops->provision(bus, err);
}

bool fv_bus_close_if_offline(fv_bus *bus)
{
    return bus && bus->ops->close_if_offline && bus->ops->close_if_offline(bus);
}

bool fv_bus_ready(fv_bus *bus)
{
    return bus->ops->ready(bus);
}
uint64_t fv_bus_epoch(fv_bus *bus)
{
    return bus->ops->epoch(bus);
}

fv_status fv_bus_last_seq(fv_bus *bus, fv_source src, uint64_t *out, fv_err *err)
{
    return bus->ops->last_seq(bus, src, out, err);
}

fv_status fv_bus_publish_batch(fv_bus *bus, fv_publish_item *items, size_t n, fv_err *err)
{
    const fv_limits *lim = &bus->cfg.limits;
    for (size_t i = 0; i < n; i++) {
        fv_publish_item *it = &items[i];
        memset(&it->result, 0, sizeof it->result);
        it->err.msg[0] = '\0';
        if ((it->ev == NULL) == (it->se == NULL))
            it->status = fv_err_set(&it->err, FV_EINVAL, "publish: exactly one event per item");
        else if (it->ev)
            it->status = fv_event_validate(it->ev, lim, &it->err);
        else
            it->status = fv_stream_event_validate(it->se, lim, &it->err);
    }
    return bus->ops->publish_batch(bus, items, n, err);
}

static fv_status publish_one(fv_bus *bus, fv_publish_item *it, fv_publish_result *res, fv_err *err)
{
    fv_status st = fv_bus_publish_batch(bus, it, 1, err);
    if (st != FV_OK)
        return st;
    if (it->status != FV_OK) {
        if (err)
            *err = it->err;
        return it->status;
    }
    if (res)
        *res = it->result;
    return FV_OK;
}

fv_status fv_bus_publish_event(fv_bus *bus, const fv_event *ev, fv_publish_result *res, fv_err *err)
{
    fv_publish_item it = {.ev = ev};
    return publish_one(bus, &it, res, err);
}

fv_status fv_bus_publish_stream(fv_bus *bus, const fv_stream_event *se, fv_publish_result *res,
                                fv_err *err)
{
    fv_publish_item it = {.se = se};
    return publish_one(bus, &it, res, err);
}

fv_status fv_bus_subscribe(fv_bus *bus, const fv_sub_config *cfg, fv_sub **out, fv_err *err)
{
    *out = NULL;
    fv_status st = fv_pattern_validate(&cfg->pattern, err);
    if (st != FV_OK)
        return st;
    if (!cfg->on_msg)
        return fv_err_set(err, FV_EINVAL, "subscribe: on_msg is required");
    return bus->ops->subscribe(bus, cfg, out, err);
}

void fv_sub_resume(fv_sub *sub)
{
    sub->bus->ops->sub_resume(sub);
}
void fv_sub_close(fv_sub *sub)
{
    if (sub)
        sub->bus->ops->sub_close(sub);
}
bool fv_sub_catching_up(fv_sub *sub)
{
    return sub->bus->ops->sub_catching_up(sub);
}

fv_status fv_bus_read(fv_bus *bus, const fv_pattern *p, const fv_start *start, size_t limit,
                      int (*cb)(void *ud, const fv_msg *m), void *ud, fv_cursor *next, fv_err *err)
{
    fv_status st = fv_pattern_validate(p, err);
    if (st != FV_OK)
        return st;
    return bus->ops->read(bus, p, start, limit, cb, ud, next, err);
}

void fv_bus_get_stats(fv_bus *bus, fv_bus_stats *out)
{
    memset(out, 0, sizeof *out);
    bus->ops->stats(bus, out);
}

fv_status fv_bus_durable_ensure(fv_bus *bus, const fv_durable_config *cfg, fv_err *err)
{
    if (!bus->ops->durable_ensure)
        return fv_err_set(err, FV_ENOTSUP, "durable subscriptions need JetStream (--nats-url)");
    return bus->ops->durable_ensure(bus, cfg, err);
}

fv_status fv_bus_durable_delete(fv_bus *bus, const char *stream, const char *name, fv_err *err)
{
    if (!bus->ops->durable_delete)
        return fv_err_set(err, FV_ENOTSUP, "durable subscriptions need JetStream (--nats-url)");
    return bus->ops->durable_delete(bus, stream, name, err);
}

fv_status fv_bus_durable_open(fv_bus *bus, const char *stream, const char *name, fv_durable **out,
                              fv_err *err)
{
    *out = NULL;
    if (!bus->ops->durable_open)
        return fv_err_set(err, FV_ENOTSUP, "durable subscriptions need JetStream (--nats-url)");
    return bus->ops->durable_open(bus, stream, name, out, err);
}
