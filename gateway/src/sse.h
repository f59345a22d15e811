/* sse.h - Server-Sent Events framing (CONTRACT §4).
 *
 * One function per frame kind, all appending to an fv_buf. A field value can never break a frame:
 * CR, LF and NUL inside it are replaced by a space (for the JSON carried in `data:` those bytes can
 * only be insignificant whitespace, so the value is unchanged), which keeps every `data:` on one
 * line as the contract promises.
 */
#ifndef FLOVYN_GW_SSE_H
#define FLOVYN_GW_SSE_H

#include <stddef.h>

#include "flovyn/buf.h"
#include "flovyn/event.h"
#include "flovyn/status.h"

#define FV_SSE_RETRY_BASE_MS 2000
/* the retry hint when the server asks a client to come back at once (replay limit, drain) */
#define FV_SSE_RETRY_SHORT_MS 250

/* base ± 50%, uniformly (spreads reconnect storms after a restart) */
int fv_sse_jitter(int base_ms);

/* "retry: <ms>\n\n" */
fv_status fv_sse_retry(fv_buf *b, int ms);
/* ": <text>\n\n" */
fv_status fv_sse_comment(fv_buf *b, const char *text);
/* "<name>: <value>\n" with CR/LF/NUL in value replaced by spaces */
fv_status fv_sse_field(fv_buf *b, const char *name, const char *value, size_t n);
/* ["id: <id>\n"] "event: <event>\n" "data: <data>\n" "\n"; id may be NULL */
fv_status fv_sse_event(fv_buf *b, const char *id, const char *event, const char *data, size_t n);

/* wire name of a stream kind: token, progress, data, stream_error */
const char *fv_sse_kind_event_name(fv_stream_kind k);

#endif
