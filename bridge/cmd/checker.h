/* checker.h - the stored-message checker inside `flovyn-bridge run`: nothing stored is silently
 * skipped.
 *
 * Readers skip a message stored in FLOVYN_EVENTS or FLOVYN_STREAMS that breaks the one rule of
 * flovyn/stored.h (body tenant missing or not the subject's, subject and body disagreeing on
 * workflow, task or type, undecodable bytes, ...). The checker judges every stored message once,
 * with that same function, and dead-letters each one readers skip to FLOVYN_DLQ on
 * `<prefix>.v1.dlq.check` with the reason (`<reason name>: <what>`), the stream and the sequence,
 * so `flovyn-bridge dlq list` shows it and /metrics counts it per reason.
 *
 * It reads both streams through durable consumers (`flovyn-check-events`,
 * `flovyn-check-streams`, from the first stored message on): a restart continues from the ack
 * floor, so nothing is checked twice and what was stored while the bridge was down is still
 * checked. A message is acked only after its dead letter is durable; the dead letter's Msg-Id
 * `check:<stream>:<seq>` makes the write after a crash between the two store once. Several
 * bridges share the durables (each message goes to one of them).
 */
#ifndef FLOVYN_BRIDGE_CHECKER_H
#define FLOVYN_BRIDGE_CHECKER_H

#include "flovyn/buf.h"
#include "flovyn/bus.h"

typedef struct fv_checker fv_checker;

/* Ensures the durables and starts the checking thread. JetStream only (FV_ENOTSUP otherwise). */
fv_status fv_checker_start(fv_bus *bus, fv_checker **out, fv_err *err);
/* Finishes the message in hand; the durables stay. NULL is a no-op. */
void fv_checker_stop(fv_checker *c);
/* flovyn_bridge_stored_checked_total{stream}, flovyn_bridge_stored_dead_lettered_total{stream,
 * reason} (every reason, 0 included), flovyn_bridge_stored_check_errors_total and
 * flovyn_bridge_stored_check_pending{stream} */
void fv_checker_metrics(fv_checker *c, fv_buf *out);

#endif
