/* history.h - GET /v1/events: the caller tenant's stored events as JSON pages (CONTRACT §4). */
#ifndef FLOVYN_GW_HISTORY_H
#define FLOVYN_GW_HISTORY_H

#include <microhttpd.h>

#include "auth.h"
#include "gw.h"

/* Query: types (default lifecycle only), workflow_execution_id, task_execution_id, source, since,
 * until, after (cursor), limit (default 100, max 1000). Answer:
 * {"events":[<§2 shape + "seq" + "cursor">...],"next":"<cursor>"}; `next` resumes after the last
 * scanned event (pass it as `after`). */
enum MHD_Result fv_history_handle(fv_gw *gw, struct MHD_Connection *mc, const fv_principal *pr);

#endif
