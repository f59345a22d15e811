/* core_sub.c - core NATS subscriptions on the bus's connection; see flovyn/core_sub.h.
 *
 * The nats.c message is wrapped, never exposed: the callback gets a view that lives on the stack
 * of the library's callback. Closing drains before destroying, because nats.c 3.4.1 can crash when
 * a subscription is destroyed while a message for it is being delivered (jetstream_internal.h).
 */
#include "flovyn/core_sub.h"

#include <stdio.h>
#include <stdlib.h>

#include "jetstream_internal.h"

#define CORE_PENDING_MSGS (1 << 20)
#define CORE_PENDING_BYTES (256 << 20)
#define CORE_DRAIN_WAIT_MS 5000
/* without a connection a drain cannot complete (its UNSUB and flush wait for a server), and
 * nothing arrives for the subscription meanwhile: do not keep a stopping daemon waiting */
#define CORE_DRAIN_OFFLINE_MS 100

struct fv_core_msg {
    natsMsg *m;
};

struct fv_core_sub {
    fv__js_bus *bus;
    natsSubscription *sub;
    void (*on_msg)(void *ud, const fv_core_msg *m);
    void *ud;
};

const char *fv_core_msg_subject(const fv_core_msg *m)
{
    return natsMsg_GetSubject(m->m);
}

const void *fv_core_msg_data(const fv_core_msg *m, size_t *len)
{
    *len = (size_t)natsMsg_GetDataLength(m->m);
    return natsMsg_GetData(m->m);
}

const char *fv_core_msg_header(const fv_core_msg *m, const char *name)
{
    return fv__js_header(m->m, name);
}

static void on_core_msg(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    fv_core_sub *s = closure;
    fv_core_msg view = {.m = msg};
    s->on_msg(s->ud, &view);
    natsMsg_Destroy(msg);
}

fv_status fv_bus_core_subscribe(fv_bus *bus, const char *subject,
                                void (*on_msg)(void *ud, const fv_core_msg *m), void *ud,
                                fv_core_sub **out, fv_err *err)
{
    *out = NULL;
    fv__js_bus *b = fv__js_of(bus);
    if (!b)
        return fv_err_set(err, FV_ENOTSUP, "subscribe %s: needs NATS (--nats-url)", subject);
    fv_core_sub *s = calloc(1, sizeof *s);
    if (!s)
        return fv_err_set(err, FV_ENOMEM, "subscribe %s: out of memory", subject);
    s->bus = b;
    s->on_msg = on_msg;
    s->ud = ud;
    natsStatus ns = natsConnection_Subscribe(&s->sub, b->nc, subject, on_core_msg, s);
    if (ns == NATS_OK)
        ns = natsSubscription_SetPendingLimits(s->sub, CORE_PENDING_MSGS, CORE_PENDING_BYTES);
    if (ns != NATS_OK) {
        natsSubscription_Destroy(s->sub);
        free(s);
        char what[FV_SUBJECT_MAX + 16];
        snprintf(what, sizeof what, "subscribe %s", subject);
        return fv__js_nats_err(err, ns, 0, what);
    }
    *out = s;
    return FV_OK;
}

void fv_core_sub_close(fv_core_sub *s)
{
    if (!s)
        return;
    if (natsSubscription_Drain(s->sub) == NATS_OK)
        natsSubscription_WaitForDrainCompletion(
            s->sub, atomic_load(&s->bus->connected) ? CORE_DRAIN_WAIT_MS : CORE_DRAIN_OFFLINE_MS);
    natsSubscription_Destroy(s->sub);
    free(s);
}
