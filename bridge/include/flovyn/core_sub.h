/* core_sub.h - plain (core NATS) subscriptions on the bus's connection, for subjects that are not
 * in any stream: the legacy adapter listens to Flovyn's legacy subjects this way.
 *
 * Core NATS is at-most-once: what arrives while the bridge is down or disconnected is lost (the
 * legacy adapter's capture mode exists for that). The callback runs on the connection's message
 * thread, shared by every subscription (global message delivery): it must only copy what it needs
 * and return, never block on the bus (a blocking JetStream call there could wait on a reply that
 * this very thread has to deliver). The message is valid during the callback only. A burst is
 * held rather than dropped, up to 1 Mi messages or 256 MiB per subscription. JetStream bus only:
 * on the memory bus fv_bus_core_subscribe is FV_ENOTSUP. No nats.c type crosses this header.
 */
#ifndef FLOVYN_CORE_SUB_H
#define FLOVYN_CORE_SUB_H

#include <stddef.h>

#include "flovyn/bus.h"
#include "flovyn/status.h"

typedef struct fv_core_sub fv_core_sub;
typedef struct fv_core_msg fv_core_msg;

const char *fv_core_msg_subject(const fv_core_msg *m);
const void *fv_core_msg_data(const fv_core_msg *m, size_t *len);
/* NULL when absent */
const char *fv_core_msg_header(const fv_core_msg *m, const char *name);

fv_status fv_bus_core_subscribe(fv_bus *bus, const char *subject,
                                void (*on_msg)(void *ud, const fv_core_msg *m), void *ud,
                                fv_core_sub **out, fv_err *err);
/* Drains (messages already received are still delivered, for up to 5 s) and destroys: no
 * callback runs once this returns. Not from inside the callback. */
void fv_core_sub_close(fv_core_sub *s);

#endif
