/* bus_internal.h - the vtable behind bus.h, shared by bus.c, bus_base.c and the two backends.
 *
 * bus.c (on top) validates before publish and dispatches; bus_base.c (below the backends) applies
 * the configuration defaults both share. A backend embeds `struct fv_bus` / `struct fv_sub` as its
 * first member, fills the ops it supports and calls fv_bus_base_init from its create.
 */
#ifndef FLOVYN_BUS_INTERNAL_H
#define FLOVYN_BUS_INTERNAL_H

#include "flovyn/bus.h"
#include "flovyn/subject.h"

typedef struct fv_bus_ops {
    void (*destroy)(fv_bus *bus);
    fv_status (*provision)(fv_bus *bus, fv_err *err);
    bool (*ready)(fv_bus *bus);
    bool (*close_if_offline)(fv_bus *bus); /* NULL: nothing to close */
    uint64_t (*epoch)(fv_bus *bus);
    fv_status (*last_seq)(fv_bus *bus, fv_source src, uint64_t *out, fv_err *err);
    /* items are validated by bus.c before this is called; invalid ones have status set and are
     * skipped by the backend (status != FV_OK on entry) */
    fv_status (*publish_batch)(fv_bus *bus, fv_publish_item *items, size_t n, fv_err *err);
    fv_status (*subscribe)(fv_bus *bus, const fv_sub_config *cfg, fv_sub **out, fv_err *err);
    void (*sub_resume)(fv_sub *sub);
    void (*sub_close)(fv_sub *sub);
    bool (*sub_catching_up)(fv_sub *sub);
    fv_status (*read)(fv_bus *bus, const fv_pattern *p, const fv_start *start, size_t limit,
                      int (*cb)(void *ud, const fv_msg *m), void *ud, fv_cursor *next, fv_err *err);
    void (*stats)(fv_bus *bus, fv_bus_stats *out);
    /* JetStream only (NULL elsewhere) */
    fv_status (*durable_ensure)(fv_bus *bus, const fv_durable_config *cfg, fv_err *err);
    fv_status (*durable_delete)(fv_bus *bus, const char *stream, const char *name, fv_err *err);
    fv_status (*durable_open)(fv_bus *bus, const char *stream, const char *name, fv_durable **out,
                              fv_err *err);
} fv_bus_ops;

struct fv_bus {
    const fv_bus_ops *ops;
    fv_bus_config cfg; /* defaults applied; string pointers point into the fields below */
    char prefix[FV_PREFIX_MAX + 1];
    char nats_url[1024];
    char nats_creds[512];
    char nats_tls_ca[512], nats_tls_cert[512], nats_tls_key[512];
    char name[128];
};

struct fv_sub {
    fv_bus *bus;
};

/* backends */
fv_status fv_bus_memory_create(const fv_bus_config *cfg, fv_bus **out, fv_err *err);
fv_status fv_bus_jetstream_create(const fv_bus_config *cfg, fv_bus **out, fv_err *err);

/* copies cfg into bus->cfg with defaults applied and strings owned by the bus */
fv_status fv_bus_base_init(fv_bus *bus, const fv_bus_ops *ops, const fv_bus_config *cfg,
                           fv_err *err);

#endif
