/* sse.c - Server-Sent Events framing; see sse.h.
 *
 * The browser's EventSource splits on CR, LF and CRLF, and NUL truncates many parsers, so those
 * three bytes are the only ones rewritten. The error kind goes out as `stream_error` because an
 * event named `error` would fire EventSource.onerror instead of a listener.
 */
#include "sse.h"

#include <stdint.h>
#include <string.h>

#include <openssl/rand.h>

int fv_sse_jitter(int base_ms)
{
    uint32_t r = 0;
    if (RAND_bytes((unsigned char *)&r, sizeof r) != 1)
        r = (uint32_t)base_ms * 2654435761u;
    int half = base_ms / 2;
    if (half <= 0)
        return base_ms;
    return base_ms - half + (int)(r % (uint32_t)(2 * half + 1));
}

fv_status fv_sse_retry(fv_buf *b, int ms)
{
    fv_buf_printf(b, "retry: %d\n\n", ms);
    return fv_buf_status(b);
}

fv_status fv_sse_comment(fv_buf *b, const char *text)
{
    fv_buf_puts(b, ": ");
    fv_sse_field(b, "", text, strlen(text)); /* reuse the sanitizer; empty name */
    fv_buf_putc(b, '\n');
    return fv_buf_status(b);
}

fv_status fv_sse_field(fv_buf *b, const char *name, const char *value, size_t n)
{
    if (*name) {
        fv_buf_puts(b, name);
        fv_buf_puts(b, ": ");
    }
    if (fv_buf_reserve(b, n + 1) != FV_OK)
        return FV_ENOMEM;
    size_t start = 0;
    for (size_t i = 0; i < n; i++) {
        char c = value[i];
        if (c == '\r' || c == '\n' || c == '\0') {
            fv_buf_append(b, value + start, i - start);
            fv_buf_putc(b, ' ');
            start = i + 1;
        }
    }
    fv_buf_append(b, value + start, n - start);
    fv_buf_putc(b, '\n');
    return fv_buf_status(b);
}

fv_status fv_sse_event(fv_buf *b, const char *id, const char *event, const char *data, size_t n)
{
    if (id)
        fv_sse_field(b, "id", id, strlen(id));
    fv_sse_field(b, "event", event, strlen(event));
    if (!data) {
        data = "null";
        n = 4;
    }
    fv_sse_field(b, "data", data, n);
    fv_buf_putc(b, '\n');
    return fv_buf_status(b);
}

const char *fv_sse_kind_event_name(fv_stream_kind k)
{
    switch (k) {
    case FV_KIND_TOKEN: return "token";
    case FV_KIND_PROGRESS: return "progress";
    case FV_KIND_DATA: return "data";
    default: return "stream_error";
    }
}
