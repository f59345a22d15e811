/* cloudevents.h - FlovynEvents as CloudEvents 1.0 in structured JSON mode, for webhook bodies.
 *
 * A webhook body is a JSON array of CloudEvents (Content-Type
 * application/cloudevents-batch+json). The CloudEvent id is the FlovynEvent id, so a receiver
 * deduplicates retries and replays by it; `data` is the producer's JSON bytes, never
 * re-serialized.
 */
#ifndef FLOVYN_CLOUDEVENTS_H
#define FLOVYN_CLOUDEVENTS_H

#include <stddef.h>

#include "flovyn/buf.h"
#include "flovyn/event.h"

#define FV_CLOUDEVENTS_BATCH_CONTENT_TYPE "application/cloudevents-batch+json"

/* one CloudEvent object */
fv_status fv_cloudevent_write(fv_buf *out, const fv_event *ev);
/* `[ce, ce, ...]` */
fv_status fv_cloudevents_batch(fv_buf *out, const fv_event *const *evs, size_t n);

#endif
