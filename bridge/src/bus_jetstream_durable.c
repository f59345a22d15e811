/* bus_jetstream_durable.c - (in progress) durables. */
#include "bus_jetstream_internal.h"
fv_status fv_js_durable_ensure(fv_bus *bus, const fv_durable_config *cfg, fv_err *err)
{
    return fv_err_set(err, FV_ENOTSUP, "not yet");
}
fv_status fv_js_durable_delete(fv_bus *bus, const char *stream, const char *name, fv_err *err)
{
    return fv_err_set(err, FV_ENOTSUP, "not yet");
}
fv_status fv_js_durable_open(fv_bus *bus, const char *stream, const char *name, fv_durable **out,
                             fv_err *err)
{
    return fv_err_set(err, FV_ENOTSUP, "not yet");
}
