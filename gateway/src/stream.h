/* stream.h - the four SSE endpoints (CONTRACT §4): tenant, workflow (merged), consolidated, task.
 *
 * A stream is an fv_conn (queue + MHD plumbing) plus one bus subscription whose callback frames
 * messages into the queue. The registry here also enforces the connection limits and serves the
 * heartbeat timer and shutdown.
 */
#ifndef FLOVYN_GW_STREAM_H
#define FLOVYN_GW_STREAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <microhttpd.h>

#include "auth.h"
#include "gw.h"
#include "metrics.h"

fv_status fv_streams_create(fv_gw *gw, fv_streams **out);
void fv_streams_destroy(fv_streams *s);

/* Answers an SSE request. `id` is the path id (workflow/task; NULL for the tenant stream), not yet
 * validated. The principal is moved into the stream (cleared here on every path). */
enum MHD_Result fv_stream_open(fv_gw *gw, struct MHD_Connection *mc, fv_endpoint ep, const char *id,
                               fv_principal *pr);

/* 200 + retry: + `overloaded` + end, for SSE requests refused by a limit or by shutdown */
enum MHD_Result fv_stream_refuse_overloaded(struct MHD_Connection *mc, const char *reason);

/* Timer work (heartbeat thread, never an MHD thread): keep-alives when heartbeat is true, token
 * expiry, close_on_terminal deadlines, kicking paused catch-ups. */
void fv_streams_tick(fv_streams *s, bool heartbeat);
/* Shutdown: every open stream gets retry: and ends (it closes once that is written). */
void fv_streams_drain(fv_streams *s);
size_t fv_streams_open(fv_streams *s);
/* The bus's after_callbacks hook (ud = the fv_gw): writes the streams its callbacks appended to,
 * one write per stream per round. */
void fv_streams_after_callbacks(void *ud);

/* true for the lifecycle types that end a workflow / a task */
bool fv_is_workflow_terminal(const char *event_type);
bool fv_is_task_terminal(const char *event_type);

#endif
