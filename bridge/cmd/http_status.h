/* http_status.h - the bridge daemon's own small HTTP endpoint (--http-addr): GET /healthz
 * (liveness), GET /readyz (NATS connected and streams present), GET /metrics (Prometheus text).
 * Nothing else is served; the bridge has no user-facing HTTP. */
#ifndef FLOVYN_BRIDGE_HTTP_STATUS_H
#define FLOVYN_BRIDGE_HTTP_STATUS_H

#include <stdbool.h>

#include "flovyn/buf.h"
#include "flovyn/status.h"

typedef struct fv_http_status fv_http_status;

typedef struct fv_http_status_config {
    const char *addr; /* "127.0.0.1:8081", "0.0.0.0:8081", "[::1]:8081", ":8081" */
    void (*metrics)(void *ud, fv_buf *out); /* appends Prometheus lines */
    bool (*ready)(void *ud);
    void *ud;
} fv_http_status_config;

fv_status fv_http_status_start(const fv_http_status_config *cfg, fv_http_status **out, fv_err *err);
void fv_http_status_stop(fv_http_status *h);
/* the port actually bound (useful with port 0) */
int fv_http_status_port(const fv_http_status *h);

#endif
