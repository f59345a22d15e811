/* durable_weak.c - placeholders for the durable-consumer API (bus.h) while the JetStream
 * backend's implementation lands in parallel; the library's strong definitions replace them at
 * link time. Delete this file once bus_jetstream_durable.c implements them.
 */
#include "flovyn/bus.h"

#define WEAK __attribute__((weak))

WEAK void fv_durable_close(fv_durable *d) {}
WEAK fv_status fv_durable_fetch(fv_durable *d, size_t max, int timeout_ms, fv_durable_msg **msgs,
                                size_t *n, fv_err *err)
{
    *n = 0;
    return fv_err_set(err, FV_ENOTSUP, "durables are not built in this binary");
}
WEAK const void *fv_durable_msg_data(const fv_durable_msg *m, size_t *len)
{
    *len = 0;
    return NULL;
}
WEAK const char *fv_durable_msg_subject(const fv_durable_msg *m) { return ""; }
WEAK const char *fv_durable_msg_header(const fv_durable_msg *m, const char *name) { return NULL; }
WEAK uint64_t fv_durable_msg_seq(const fv_durable_msg *m) { return 0; }
WEAK uint64_t fv_durable_msg_delivered(const fv_durable_msg *m) { return 0; }
WEAK int64_t fv_durable_msg_stored_ms(const fv_durable_msg *m) { return 0; }
WEAK fv_status fv_durable_msg_ack(fv_durable_msg *m) { return FV_ENOTSUP; }
WEAK fv_status fv_durable_msg_nak(fv_durable_msg *m, int64_t delay_ms) { return FV_ENOTSUP; }
WEAK fv_status fv_durable_msg_term(fv_durable_msg *m) { return FV_ENOTSUP; }
WEAK fv_status fv_durable_msg_in_progress(fv_durable_msg *m) { return FV_ENOTSUP; }
WEAK void fv_durable_msg_destroy(fv_durable_msg *m) {}
WEAK fv_status fv_durable_pending(fv_durable *d, uint64_t *pending, fv_err *err)
{
    return FV_ENOTSUP;
}
