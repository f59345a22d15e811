/* buf.h - a growable byte buffer and the project's one JSON writer.
 *
 * Event envelopes are written here, not with jansson, because `data` and `payload` must be
 * embedded as the producer's exact bytes (fv_buf_append of a validated span). A buffer that
 * failed to grow remembers it (`oom`), so writers can append freely and check once at the end.
 */
#ifndef FLOVYN_BUF_H
#define FLOVYN_BUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/status.h"

typedef struct fv_buf {
    char *data; /* always NUL-terminated when len > 0 or after any append */
    size_t len;
    size_t cap;
    bool oom;
} fv_buf;

#define FV_BUF_INIT                                                                                \
    {                                                                                              \
        NULL, 0, 0, false                                                                          \
    }

void fv_buf_init(fv_buf *b);
void fv_buf_free(fv_buf *b);
void fv_buf_reset(fv_buf *b); /* len = 0, keeps memory */
fv_status fv_buf_reserve(fv_buf *b, size_t extra);
fv_status fv_buf_append(fv_buf *b, const void *p, size_t n);
fv_status fv_buf_puts(fv_buf *b, const char *s);
fv_status fv_buf_putc(fv_buf *b, char c);
fv_status fv_buf_printf(fv_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Hands the bytes to the caller (who frees them) and leaves b empty. */
char *fv_buf_steal(fv_buf *b, size_t *len);
/* FV_ENOMEM if any earlier append failed. */
static inline fv_status fv_buf_status(const fv_buf *b)
{
    return b->oom ? FV_ENOMEM : FV_OK;
}

/* JSON writing. Strings are escaped per RFC 8259 (control characters as \u00XX; bytes >= 0x80
 * are copied, callers pass valid UTF-8). */
fv_status fv_json_put_string(fv_buf *b, const char *s, size_t n);
fv_status fv_json_put_cstr(fv_buf *b, const char *s);        /* NULL or "" -> null if null_empty */
fv_status fv_json_put_str_or_null(fv_buf *b, const char *s); /* "" or NULL -> null */
fv_status fv_json_put_int(fv_buf *b, int64_t v);
fv_status fv_json_put_uint(fv_buf *b, uint64_t v);
/* `"key":` with a leading comma unless first */
fv_status fv_json_put_key(fv_buf *b, const char *key, bool first);

#endif
