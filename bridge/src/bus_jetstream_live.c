/* bus_jetstream_live.c - (in progress) the live path. */
#include "bus_jetstream_internal.h"
fv_status fv_js_live_start(fv_js_bus *b, fv_err *err) { return FV_OK; }
void fv_js_live_stop(fv_js_bus *b) {}
