/* buf.c - growable buffer and JSON writer; see buf.h.
 *
 * Growth doubles (minimum 64 bytes) and the data is always NUL-terminated so that a buffer can be
 * handed to C string functions without another copy.
 */
#include "flovyn/buf.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void fv_buf_init(fv_buf *b)
{
    memset(b, 0, sizeof *b);
}

void fv_buf_free(fv_buf *b)
{
    free(b->data);
    memset(b, 0, sizeof *b);
}

void fv_buf_reset(fv_buf *b)
{
    b->len = 0;
    b->oom = false;
    if (b->data)
        b->data[0] = '\0';
}

fv_status fv_buf_reserve(fv_buf *b, size_t extra)
{
    if (b->oom)
        return FV_ENOMEM;
    if (extra > SIZE_MAX / 2 - b->len) {
        b->oom = true;
        return FV_ENOMEM;
    }
    size_t need = b->len + extra + 1;
    if (need <= b->cap)
        return FV_OK;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < need)
        cap *= 2;
    char *p = realloc(b->data, cap);
    if (!p) {
        b->oom = true;
        return FV_ENOMEM;
    }
    b->data = p;
    b->cap = cap;
    return FV_OK;
}

fv_status fv_buf_append(fv_buf *b, const void *p, size_t n)
{
    if (fv_buf_reserve(b, n) != FV_OK)
        return FV_ENOMEM;
    if (n)
        memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return FV_OK;
}

fv_status fv_buf_puts(fv_buf *b, const char *s)
{
    return fv_buf_append(b, s, strlen(s));
}

fv_status fv_buf_putc(fv_buf *b, char c)
{
    return fv_buf_append(b, &c, 1);
}

fv_status fv_buf_printf(fv_buf *b, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char small[256];
    int n = vsnprintf(small, sizeof small, fmt, ap);
    va_end(ap);
    if (n < 0)
        return FV_EINVAL;
    if ((size_t)n < sizeof small)
        return fv_buf_append(b, small, (size_t)n);
    if (fv_buf_reserve(b, (size_t)n) != FV_OK)
        return FV_ENOMEM;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return FV_OK;
}

char *fv_buf_steal(fv_buf *b, size_t *len)
{
    char *p = b->data;
    if (len)
        *len = b->len;
    if (!p)
        p = calloc(1, 1);
    memset(b, 0, sizeof *b);
    return p;
}

fv_status fv_json_put_string(fv_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    fv_buf_reserve(b, n + 2);
    fv_buf_putc(b, '"');
    size_t run = 0; /* start of a run of bytes that need no escaping */
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        const char *esc = NULL;
        char u[7];
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        default:
            if (c < 0x20) {
                u[0] = '\\';
                u[1] = 'u';
                u[2] = '0';
                u[3] = '0';
                u[4] = hex[c >> 4];
                u[5] = hex[c & 15];
                u[6] = '\0';
                esc = u;
            }
        }
        if (esc) {
            fv_buf_append(b, s + run, i - run);
            fv_buf_puts(b, esc);
            run = i + 1;
        }
    }
    fv_buf_append(b, s + run, n - run);
    fv_buf_putc(b, '"');
    return fv_buf_status(b);
}

fv_status fv_json_put_cstr(fv_buf *b, const char *s)
{
    if (!s)
        return fv_buf_puts(b, "null");
    return fv_json_put_string(b, s, strlen(s));
}

fv_status fv_json_put_str_or_null(fv_buf *b, const char *s)
{
    if (!s || !*s)
        return fv_buf_puts(b, "null");
    return fv_json_put_string(b, s, strlen(s));
}

fv_status fv_json_put_int(fv_buf *b, int64_t v)
{
    return fv_buf_printf(b, "%" PRId64, v);
}

fv_status fv_json_put_uint(fv_buf *b, uint64_t v)
{
    return fv_buf_printf(b, "%" PRIu64, v);
}

fv_status fv_json_put_key(fv_buf *b, const char *key, bool first)
{
    if (!first)
        fv_buf_putc(b, ',');
    fv_json_put_cstr(b, key);
    return fv_buf_putc(b, ':');
}
