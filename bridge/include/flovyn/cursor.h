/* cursor.h - the only place cursors are made and parsed (CONTRACT §4).
 *
 * Format: `v1.<events_seq>.<streams_seq>.<epoch>`; a sequence is 0 when that source is not part of
 * the stream (or nothing of it was delivered yet); epoch identifies the streams' incarnation as
 * 1-16 lowercase hex digits. A malformed cursor is an error, never zero.
 */
#ifndef FLOVYN_CURSOR_H
#define FLOVYN_CURSOR_H

#include <stddef.h>
#include <stdint.h>

#include "flovyn/status.h"

#define FV_CURSOR_MAX 64 /* buffer size that always fits a cursor + NUL */

typedef struct fv_cursor {
    uint64_t events_seq;
    uint64_t streams_seq;
    uint64_t epoch;
} fv_cursor;

fv_status fv_cursor_format(const fv_cursor *c, char *out, size_t cap);
fv_status fv_cursor_parse(const char *s, size_t len, fv_cursor *out, fv_err *err);

#endif
