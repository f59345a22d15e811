/* router.h - maps an HTTP request to its handler (CONTRACT §4) and owns the per-request state
 * (auth result, the ingest body as it streams in). */
#ifndef FLOVYN_GW_ROUTER_H
#define FLOVYN_GW_ROUTER_H

#include <microhttpd.h>

#include "gw.h"

/* MHD_AccessHandlerCallback; cls is the fv_gw */
enum MHD_Result fv_router_handle(void *cls, struct MHD_Connection *mc, const char *url,
                                 const char *method, const char *version, const char *upload,
                                 size_t *upload_size, void **con_cls);
/* HTTP requests in progress (SSE streams included): shutdown waits for the others to answer */
long fv_router_inflight(void);
/* MHD_RequestCompletedCallback: frees the per-request state */
void fv_router_completed(void *cls, struct MHD_Connection *mc, void **con_cls,
                         enum MHD_RequestTerminationCode toe);

#endif
