/* cursor.c - the one place cursors are made and parsed (CONTRACT §4).
 *
 * `v1.<events_seq>.<streams_seq>.<epoch>`: sequences are decimal u64, epoch is 1-16 lowercase hex
 * digits. The parser accepts exactly what the formatter writes and nothing else - no leading
 * zeros (except "0" itself), no signs, no spaces, no upper-case hex, no overflow, no trailing
 * bytes - so every position has one spelling and a cursor can be compared as a string. A cursor
 * comes from an untrusted client (Last-Event-ID, `after`), so it is read with explicit length and
 * never with strtoull, which accepts signs, spaces and wraps "-1" to 2^64-1.
 */
#include "flovyn/cursor.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

/* digits of v, most significant first; returns how many (constant divisors: no division) */
static size_t u64_dec(uint64_t v, char *out)
{
    char tmp[20];
    size_t n = 0;
    do {
        tmp[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v);
    for (size_t i = 0; i < n; i++)
        out[i] = tmp[n - 1 - i];
    return n;
}

static size_t u64_hex(uint64_t v, char *out)
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 1;
    for (uint64_t x = v >> 4; x; x >>= 4)
        n++;
    for (size_t i = n; i > 0; i--, v >>= 4)
        out[i - 1] = hex[v & 15];
    return n;
}

/* By hand, not snprintf: every SSE delivery formats one, and printf's machinery was 13 % of the
 * gateway's CPU in a resume storm (perf, docs/benchmarks.md). */
fv_status fv_cursor_format(const fv_cursor *c, char *out, size_t cap)
{
    if (!c || !out || cap == 0)
        return FV_EINVAL;
    char buf[FV_CURSOR_MAX > 72 ? FV_CURSOR_MAX : 72];
    size_t n = 0;
    memcpy(buf, "v1.", 3);
    n = 3;
    n += u64_dec(c->events_seq, buf + n);
    buf[n++] = '.';
    n += u64_dec(c->streams_seq, buf + n);
    buf[n++] = '.';
    n += u64_hex(c->epoch, buf + n);
    if (n >= cap) {
        out[0] = '\0';
        return FV_ETOOBIG;
    }
    memcpy(out, buf, n);
    out[n] = '\0';
    return FV_OK;
}

/* Copies at most 40 bytes of s into buf for an error message, replacing anything a terminal or a
 * log line should not see, so a hostile cursor cannot forge log output. */
static const char *shown(const char *s, size_t len, char *buf, size_t cap)
{
    size_t max = cap - 4, j = 0;
    for (size_t i = 0; i < len && j < max; i++)
        buf[j++] = (s[i] >= 0x20 && s[i] < 0x7f && s[i] != '\'') ? s[i] : '?';
    if (len > max)
        memcpy(buf + j, "...", 3), j += 3;
    buf[j] = '\0';
    return buf;
}

/* Reads a decimal u64 at s[*i] up to the next '.' or the end. */
static int read_dec(const char *s, size_t len, size_t *i, uint64_t *out)
{
    size_t start = *i;
    uint64_t v = 0;
    while (*i < len && s[*i] >= '0' && s[*i] <= '9') {
        unsigned d = (unsigned)(s[*i] - '0');
        if (v > (UINT64_MAX - d) / 10)
            return -1; /* overflow */
        v = v * 10 + d;
        (*i)++;
    }
    size_t n = *i - start;
    if (n == 0 || (n > 1 && s[start] == '0'))
        return -1;
    *out = v;
    return 0;
}

static int read_hex(const char *s, size_t len, size_t *i, uint64_t *out)
{
    size_t start = *i;
    uint64_t v = 0;
    while (*i < len) {
        char ch = s[*i];
        unsigned d;
        if (ch >= '0' && ch <= '9')
            d = (unsigned)(ch - '0');
        else if (ch >= 'a' && ch <= 'f')
            d = (unsigned)(ch - 'a' + 10);
        else
            break;
        if (*i - start >= 16)
            return -1;
        v = (v << 4) | d;
        (*i)++;
    }
    size_t n = *i - start;
    if (n == 0 || (n > 1 && s[start] == '0'))
        return -1;
    *out = v;
    return 0;
}

fv_status fv_cursor_parse(const char *s, size_t len, fv_cursor *out, fv_err *err)
{
    char show[48];
    if (!s || len == 0)
        return fv_err_set(err, FV_EINVAL,
                          "cursor: empty (expected v1.<events_seq>.<streams_seq>.<epoch>)");
    if (len >= FV_CURSOR_MAX)
        return fv_err_set(err, FV_EINVAL, "cursor: '%s' is too long (%zu bytes)",
                          shown(s, len, show, sizeof show), len);
    const char *why = NULL;
    fv_cursor c = {0};
    size_t i = 0;
    if (len < 3 || memcmp(s, "v1.", 3) != 0) {
        why = "unknown version (expected 'v1.')";
    } else {
        i = 3;
        if (read_dec(s, len, &i, &c.events_seq) != 0)
            why = "events sequence is not a decimal number without sign or leading zeros";
        else if (i >= len || s[i++] != '.')
            why = "missing '.' after the events sequence";
        else if (read_dec(s, len, &i, &c.streams_seq) != 0)
            why = "streams sequence is not a decimal number without sign or leading zeros";
        else if (i >= len || s[i++] != '.')
            why = "missing '.' after the streams sequence";
        else if (read_hex(s, len, &i, &c.epoch) != 0)
            why = "epoch is not 1-16 lowercase hex digits without leading zeros";
        else if (i != len)
            why = "unexpected bytes after the epoch";
    }
    if (why)
        return fv_err_set(
            err, FV_EINVAL,
            "cursor: '%s' is invalid: %s (expected v1.<events_seq>.<streams_seq>.<epoch>)",
            shown(s, len, show, sizeof show), why);
    if (out)
        *out = c;
    return FV_OK;
}
