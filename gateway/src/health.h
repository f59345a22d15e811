/* health.h - /healthz (the process answers), /readyz (the bus is connected and the streams
 * exist: fv_bus_ready) and /metrics (Prometheus text). No auth: operators and probes call them. */
#ifndef FLOVYN_GW_HEALTH_H
#define FLOVYN_GW_HEALTH_H

#include <microhttpd.h>

#include "gw.h"

enum MHD_Result fv_health_live(fv_gw *gw, struct MHD_Connection *mc);
enum MHD_Result fv_health_ready(fv_gw *gw, struct MHD_Connection *mc);
enum MHD_Result fv_health_metrics(fv_gw *gw, struct MHD_Connection *mc);

#endif
