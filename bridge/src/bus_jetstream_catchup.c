/* bus_jetstream_catchup.c - (in progress) subscriptions. */
#include "bus_jetstream_internal.h"
fv_status fv_js_subscribe(fv_bus *bus, const fv_sub_config *cfg, fv_sub **out, fv_err *err)
{
    return fv_err_set(err, FV_ENOTSUP, "not yet");
}
void fv_js_sub_resume(fv_sub *sub) {}
void fv_js_sub_close(fv_sub *sub) {}
bool fv_js_sub_catching_up(fv_sub *sub) { return false; }
fv_status fv_js_read(fv_bus *bus, const fv_pattern *p, const fv_start *start, size_t limit,
                     int (*cb)(void *ud, const fv_msg *m), void *ud, fv_cursor *next,
                     fv_err *err)
{
    return fv_err_set(err, FV_ENOTSUP, "not yet");
}
fv_status fv_js_catchup_start(fv_js_bus *b, fv_err *err) { return FV_OK; }
void fv_js_catchup_stop(fv_js_bus *b) {}
