/* query.h - the query parameters of the SSE and history endpoints (CONTRACT §4).
 *
 * Parsing is separated from MHD by a lookup callback, so unit tests feed tables of parameters and
 * the server feeds MHD_lookup_connection_value. Every rejection names the parameter (and for
 * `types` the item), because the message goes straight back to the caller in a 400.
 */
#ifndef FLOVYN_GW_QUERY_H
#define FLOVYN_GW_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/bus.h"
#include "flovyn/cursor.h"
#include "flovyn/event.h"
#include "flovyn/status.h"
#include "flovyn/types_filter.h"

#define FV_HISTORY_LIMIT_DEFAULT 100
#define FV_HISTORY_LIMIT_MAX 1000

typedef struct fv_gw_query {
    fv_types_filter *types; /* owned; never NULL after a successful parse */
    char workflow_execution_id[FV_ID_MAX + 1];
    char task_execution_id[FV_ID_MAX + 1];
    char source[FV_SOURCE_MAX + 1];
    bool has_since;
    int64_t since_ms;
    int64_t until_ms; /* 0 = none */
    bool has_cursor;  /* last_event_id / Last-Event-ID / after */
    fv_cursor cursor;
    bool close_on_terminal;
    size_t limit; /* history only */
} fv_gw_query;

/* returns the value of a query parameter, or NULL when absent */
typedef const char *(*fv_query_get_fn)(void *ud, const char *key);

/* SSE endpoints. last_event_id_header: the Last-Event-ID header or NULL (it wins over the
 * last_event_id parameter). */
fv_status fv_gw_query_parse_stream(fv_gw_query *q, fv_types_default dflt, fv_query_get_fn get,
                                   void *ud, const char *last_event_id_header, fv_err *err);
/* GET /v1/events: types, workflow_execution_id, task_execution_id, source, since, until, after,
 * limit. */
fv_status fv_gw_query_parse_history(fv_gw_query *q, fv_query_get_fn get, void *ud, fv_err *err);
void fv_gw_query_clear(fv_gw_query *q);

/* Where a stream starts: after the cursor; at `since`; else `dflt` (FIRST or NEW). until_ms is
 * copied. */
void fv_gw_query_start(const fv_gw_query *q, fv_start_kind dflt, fv_start *out);

#endif
