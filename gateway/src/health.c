/* health.c - liveness, readiness and metrics endpoints; see health.h. */
#include "health.h"

#include <string.h>

#include "errors.h"
#include "metrics.h"

enum MHD_Result fv_health_live(fv_gw *gw, struct MHD_Connection *mc)
{
    (void)gw;
    static const char ok[] = "{\"status\":\"ok\"}\n";
    return fv_http_reply(mc, 200, "application/json", ok, sizeof ok - 1);
}

enum MHD_Result fv_health_ready(fv_gw *gw, struct MHD_Connection *mc)
{
    if (atomic_load(&gw->stopping))
        return fv_http_error(mc, 503, "unavailable", "shutting down", 1);
    if (!fv_bus_ready(gw->bus))
        return fv_http_error(mc, 503, "unavailable",
                             "not ready: NATS not connected or streams missing "
                             "(run flovyn-bridge init)",
                             2);
    static const char ok[] = "{\"status\":\"ready\"}\n";
    return fv_http_reply(mc, 200, "application/json", ok, sizeof ok - 1);
}

enum MHD_Result fv_health_metrics(fv_gw *gw, struct MHD_Connection *mc)
{
    fv_buf b = FV_BUF_INIT;
    fv_metrics_render(gw->bus, &b);
    enum MHD_Result r;
    if (b.oom)
        r = fv_http_error(mc, 503, "unavailable", "out of memory", 1);
    else
        r = fv_http_reply(mc, 200, "text/plain; version=0.0.4", b.data, b.len);
    fv_buf_free(&b);
    return r;
}
