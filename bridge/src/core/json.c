/* json.c - strict RFC 8259 scanner that validates and reports spans; see json.h.
 *
 * Built by hand instead of on a tokenizer because the two things events need are exactly what a
 * tokenizer leaves out: full validation (UTF-8 without overlongs or surrogates, \u surrogate
 * pairs, the number grammar, a depth limit) and byte spans of the producer's text, so that `data`
 * is carried without ever being re-serialized. The scanner is recursive, bounded by the depth
 * limit (clamped to FV_JSON_DEPTH_HARD so a caller cannot ask for an unbounded stack). Error
 * positions are byte offsets from the start of the buffer, counting from 0.
 */
#include "flovyn/json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define FV_JSON_DEPTH_HARD 1024

typedef struct scan {
    const char *p;
    size_t n;
    size_t i;
    int max_depth;
    fv_err *err;
} scan;

static fv_status fail(scan *s, size_t at, const char *what)
{
    return fv_err_set(s->err, FV_EINVAL, "invalid JSON at byte %zu: %s", at, what);
}

static void skip_ws(scan *s)
{
    while (s->i < s->n) {
        char c = s->p[s->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        s->i++;
    }
}

/* Length of the valid UTF-8 sequence starting at p[0] (a byte >= 0x80), 0 if invalid. */
static size_t utf8_seq(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    size_t len;
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    if (c >= 0xC2 && c <= 0xDF) {
        len = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        len = 3;
        if (c == 0xE0)
            lo = 0xA0; /* overlong */
        else if (c == 0xED)
            hi = 0x9F; /* surrogates U+D800..U+DFFF */
    } else if (c >= 0xF0 && c <= 0xF4) {
        len = 4;
        if (c == 0xF0)
            lo = 0x90; /* overlong */
        else if (c == 0xF4)
            hi = 0x8F; /* > U+10FFFF */
    } else {
        return 0;
    }
    if (n < len)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t k = 2; k < len; k++)
        if (p[k] < 0x80 || p[k] > 0xBF)
            return 0;
    return len;
}

bool fv_utf8_valid(const char *p, size_t n)
{
    const unsigned char *u = (const unsigned char *)p;
    size_t i = 0;
    while (i < n) {
        if (u[i] < 0x80) {
            i++;
            continue;
        }
        size_t k = utf8_seq(u + i, n - i);
        if (!k)
            return false;
        i += k;
    }
    return true;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

/* Reads 4 hex digits at p (n bytes available); -1 if not 4 hex digits. */
static long hex4(const char *p, size_t n)
{
    if (n < 4)
        return -1;
    long v = 0;
    for (int k = 0; k < 4; k++) {
        int h = hexval(p[k]);
        if (h < 0)
            return -1;
        v = v * 16 + h;
    }
    return v;
}

/* s->i at the opening quote; leaves s->i after the closing quote. */
static fv_status scan_string(scan *s)
{
    s->i++; /* '"' */
    while (s->i < s->n) {
        unsigned char c = (unsigned char)s->p[s->i];
        if (c == '"') {
            s->i++;
            return FV_OK;
        }
        if (c == '\\') {
            size_t at = s->i;
            if (s->i + 1 >= s->n)
                return fail(s, s->n, "unterminated string");
            char e = s->p[s->i + 1];
            switch (e) {
            case '"':
            case '\\':
            case '/':
            case 'b':
            case 'f':
            case 'n':
            case 'r':
            case 't': s->i += 2; continue;
            case 'u': break;
            default: return fail(s, at, "invalid escape in string");
            }
            long u = hex4(s->p + s->i + 2, s->n - s->i - 2);
            if (u < 0)
                return fail(s, at, "\\u needs 4 hex digits");
            s->i += 6;
            if (u >= 0xDC00 && u <= 0xDFFF)
                return fail(s, at, "unpaired low surrogate in \\u escape");
            if (u >= 0xD800 && u <= 0xDBFF) {
                if (s->i + 1 >= s->n || s->p[s->i] != '\\' || s->p[s->i + 1] != 'u')
                    return fail(s, at, "high surrogate not followed by a low surrogate");
                long lo = hex4(s->p + s->i + 2, s->n - s->i - 2);
                if (lo < 0xDC00 || lo > 0xDFFF)
                    return fail(s, at, "high surrogate not followed by a low surrogate");
                s->i += 6;
            }
            continue;
        }
        if (c < 0x20)
            return fail(s, s->i, "control character in string (must be escaped)");
        if (c < 0x80) {
            s->i++;
            continue;
        }
        size_t k = utf8_seq((const unsigned char *)s->p + s->i, s->n - s->i);
        if (!k)
            return fail(s, s->i, "invalid UTF-8 in string");
        s->i += k;
    }
    return fail(s, s->n, "unterminated string");
}

static bool is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static fv_status scan_number(scan *s)
{
    size_t start = s->i;
    if (s->p[s->i] == '-')
        s->i++;
    if (s->i >= s->n || !is_digit(s->p[s->i]))
        return fail(s, s->i, "expected a digit");
    if (s->p[s->i] == '0') {
        s->i++;
        if (s->i < s->n && is_digit(s->p[s->i]))
            return fail(s, start, "leading zero in number");
    } else {
        while (s->i < s->n && is_digit(s->p[s->i]))
            s->i++;
    }
    if (s->i < s->n && s->p[s->i] == '.') {
        s->i++;
        if (s->i >= s->n || !is_digit(s->p[s->i]))
            return fail(s, s->i, "expected a digit after '.'");
        while (s->i < s->n && is_digit(s->p[s->i]))
            s->i++;
    }
    if (s->i < s->n && (s->p[s->i] == 'e' || s->p[s->i] == 'E')) {
        s->i++;
        if (s->i < s->n && (s->p[s->i] == '+' || s->p[s->i] == '-'))
            s->i++;
        if (s->i >= s->n || !is_digit(s->p[s->i]))
            return fail(s, s->i, "expected a digit in exponent");
        while (s->i < s->n && is_digit(s->p[s->i]))
            s->i++;
    }
    return FV_OK;
}

static fv_status scan_literal(scan *s, const char *lit)
{
    size_t n = strlen(lit);
    if (s->n - s->i < n || memcmp(s->p + s->i, lit, n) != 0)
        return fail(s, s->i, "expected a value");
    s->i += n;
    return FV_OK;
}

static fv_status scan_value(scan *s, int depth, fv_json_kind *kind);

static fv_status scan_container(scan *s, int depth, bool object)
{
    char close = object ? '}' : ']';
    if (depth >= s->max_depth) {
        char what[64];
        snprintf(what, sizeof what, "nesting deeper than %d levels", s->max_depth);
        return fail(s, s->i, what);
    }
    s->i++; /* '{' or '[' */
    skip_ws(s);
    if (s->i < s->n && s->p[s->i] == close) {
        s->i++;
        return FV_OK;
    }
    for (;;) {
        fv_status st;
        if (object) {
            if (s->i >= s->n || s->p[s->i] != '"')
                return fail(s, s->i, "expected a string key");
            if ((st = scan_string(s)) != FV_OK)
                return st;
            skip_ws(s);
            if (s->i >= s->n || s->p[s->i] != ':')
                return fail(s, s->i, "expected ':'");
            s->i++;
            skip_ws(s);
        }
        if ((st = scan_value(s, depth + 1, NULL)) != FV_OK)
            return st;
        skip_ws(s);
        if (s->i < s->n && s->p[s->i] == ',') {
            s->i++;
            skip_ws(s);
            continue;
        }
        if (s->i < s->n && s->p[s->i] == close) {
            s->i++;
            return FV_OK;
        }
        return fail(s, s->i, object ? "expected ',' or '}'" : "expected ',' or ']'");
    }
}

/* s->i at the first byte of a value (whitespace already skipped). depth = containers open. */
static fv_status scan_value(scan *s, int depth, fv_json_kind *kind)
{
    if (s->i >= s->n)
        return fail(s, s->i, "expected a value");
    fv_json_kind k;
    fv_status st;
    switch (s->p[s->i]) {
    case '{':
        k = FV_JSON_OBJECT;
        st = scan_container(s, depth, true);
        break;
    case '[':
        k = FV_JSON_ARRAY;
        st = scan_container(s, depth, false);
        break;
    case '"':
        k = FV_JSON_STRING;
        st = scan_string(s);
        break;
    case 't':
        k = FV_JSON_TRUE;
        st = scan_literal(s, "true");
        break;
    case 'f':
        k = FV_JSON_FALSE;
        st = scan_literal(s, "false");
        break;
    case 'n':
        k = FV_JSON_NULL;
        st = scan_literal(s, "null");
        break;
    default:
        if (s->p[s->i] == '-' || is_digit(s->p[s->i])) {
            k = FV_JSON_NUMBER;
            st = scan_number(s);
        } else {
            return fail(s, s->i, "expected a value");
        }
    }
    if (st == FV_OK && kind)
        *kind = k;
    return st;
}

static int clamp_depth(int max_depth)
{
    if (max_depth <= 0)
        return FV_JSON_MAX_DEPTH;
    return max_depth > FV_JSON_DEPTH_HARD ? FV_JSON_DEPTH_HARD : max_depth;
}

fv_status fv_json_validate(const char *buf, size_t len, int max_depth, fv_json_kind *kind,
                           fv_err *err)
{
    scan s = {buf, len, 0, clamp_depth(max_depth), err};
    if (kind)
        *kind = FV_JSON_INVALID;
    skip_ws(&s);
    fv_json_kind k = FV_JSON_INVALID;
    fv_status st = scan_value(&s, 0, &k);
    if (st != FV_OK)
        return st;
    skip_ws(&s);
    if (s.i != s.n)
        return fail(&s, s.i, "unexpected data after the value");
    if (kind)
        *kind = k;
    return FV_OK;
}

/* --- member / element iteration ------------------------------------------------------------ */

enum { IT_START = 0, IT_FIRST, IT_NEXT, IT_DONE, IT_ERROR };

void fv_json_iter_init(fv_json_iter *it, const char *buf, size_t len)
{
    it->buf = buf;
    it->len = len;
    it->pos = 0;
    it->state = IT_START;
}

/* Shared by objects and arrays: positions the iterator at the next item, or finishes.
 * Returns 1 when an item starts at s->i, 0 at the end, negative on error. */
static int iter_advance(fv_json_iter *it, scan *s, bool object)
{
    char open = object ? '{' : '[', close = object ? '}' : ']';
    if (it->state == IT_DONE)
        return 0;
    if (it->state == IT_ERROR)
        return fail(s, it->pos, "iteration already failed");
    skip_ws(s);
    if (it->state == IT_START) {
        if (s->i >= s->n || s->p[s->i] != open)
            return fail(s, s->i, object ? "expected '{'" : "expected '['");
        s->i++;
        skip_ws(s);
        if (s->i < s->n && s->p[s->i] == close) {
            s->i++;
            goto end;
        }
        return 1;
    }
    /* IT_NEXT: after an item */
    if (s->i < s->n && s->p[s->i] == ',') {
        s->i++;
        skip_ws(s);
        return 1;
    }
    if (s->i < s->n && s->p[s->i] == close) {
        s->i++;
        goto end;
    }
    return fail(s, s->i, object ? "expected ',' or '}'" : "expected ',' or ']'");
end:
    skip_ws(s);
    if (s->i != s->n)
        return fail(s, s->i, "unexpected data after the value");
    return 0;
}

static int iter_finish(fv_json_iter *it, scan *s, int r)
{
    it->pos = s->i;
    if (r < 0)
        it->state = IT_ERROR;
    else if (r == 0)
        it->state = IT_DONE;
    else
        it->state = IT_NEXT;
    return r;
}

int fv_json_next_member(fv_json_iter *it, fv_span *key, fv_span *val, fv_json_kind *kind,
                        fv_err *err)
{
    scan s = {it->buf, it->len, it->pos, FV_JSON_MAX_DEPTH, err};
    int r = iter_advance(it, &s, true);
    if (r != 1)
        return iter_finish(it, &s, r);
    if (s.i >= s.n || s.p[s.i] != '"')
        return iter_finish(it, &s, fail(&s, s.i, "expected a string key"));
    size_t k0 = s.i;
    fv_status st = scan_string(&s);
    if (st != FV_OK)
        return iter_finish(it, &s, st);
    /* set before the value is walked, so a caller can name the member whose value is bad */
    if (key) {
        key->p = s.p + k0 + 1;
        key->n = s.i - k0 - 2;
    }
    skip_ws(&s);
    if (s.i >= s.n || s.p[s.i] != ':')
        return iter_finish(it, &s, fail(&s, s.i, "expected ':'"));
    s.i++;
    skip_ws(&s);
    size_t v0 = s.i;
    /* each member value gets the full depth budget, so a value that validates alone also
     * validates inside an envelope */
    st = scan_value(&s, 0, kind);
    if (st != FV_OK)
        return iter_finish(it, &s, st);
    if (val) {
        val->p = s.p + v0;
        val->n = s.i - v0;
    }
    return iter_finish(it, &s, 1);
}

int fv_json_next_element(fv_json_iter *it, fv_span *val, fv_json_kind *kind, fv_err *err)
{
    scan s = {it->buf, it->len, it->pos, FV_JSON_MAX_DEPTH, err};
    int r = iter_advance(it, &s, false);
    if (r != 1)
        return iter_finish(it, &s, r);
    size_t v0 = s.i;
    fv_status st = scan_value(&s, 0, kind);
    if (st != FV_OK)
        return iter_finish(it, &s, st);
    if (val) {
        val->p = s.p + v0;
        val->n = s.i - v0;
    }
    return iter_finish(it, &s, 1);
}

/* --- string decoding ----------------------------------------------------------------------- */

/* Decodes one character of validated string content at p[*i] into out (1-4 bytes). */
static size_t decode_char(const char *p, size_t n, size_t *i, char out[4])
{
    if (p[*i] != '\\') {
        out[0] = p[(*i)++];
        return 1;
    }
    char e = p[*i + 1];
    *i += 2;
    switch (e) {
    case 'b': out[0] = '\b'; return 1;
    case 'f': out[0] = '\f'; return 1;
    case 'n': out[0] = '\n'; return 1;
    case 'r': out[0] = '\r'; return 1;
    case 't': out[0] = '\t'; return 1;
    case 'u': break;
    default: out[0] = e; return 1; /* " \ / */
    }
    unsigned long cp = (unsigned long)hex4(p + *i, n - *i);
    *i += 4;
    if (cp >= 0xD800 && cp <= 0xDBFF) {
        unsigned long lo = (unsigned long)hex4(p + *i + 2, n - *i - 2);
        *i += 6;
        cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
    }
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

bool fv_json_key_is(fv_span key, const char *lit)
{
    size_t ln = strlen(lit);
    if (!memchr(key.p, '\\', key.n))
        return key.n == ln && memcmp(key.p, lit, ln) == 0;
    /* the span may not come from the scanner: validate before decoding */
    size_t i = 0, o = 0;
    while (i < key.n) {
        if (key.p[i] == '\\') {
            if (i + 1 >= key.n)
                return false;
            if (key.p[i + 1] == 'u') {
                long u = hex4(key.p + i + 2, key.n - i - 2);
                if (u < 0 || (u >= 0xDC00 && u <= 0xDFFF))
                    return false;
                if (u >= 0xD800 && u <= 0xDBFF) {
                    if (i + 7 >= key.n || key.p[i + 6] != '\\' || key.p[i + 7] != 'u')
                        return false;
                    long lo = hex4(key.p + i + 8, key.n - i - 8);
                    if (lo < 0xDC00 || lo > 0xDFFF)
                        return false;
                }
            } else if (!strchr("\"\\/bfnrt", key.p[i + 1])) {
                return false;
            }
        }
        char out[4];
        size_t k = decode_char(key.p, key.n, &i, out);
        if (o + k > ln || memcmp(lit + o, out, k) != 0)
            return false;
        o += k;
    }
    return o == ln;
}

/* Validates that val is exactly one JSON string; returns the content span. */
static fv_status string_content(fv_span val, fv_span *content, fv_err *err)
{
    scan s = {val.p, val.n, 0, 1, err};
    if (val.n < 2 || val.p[0] != '"')
        return fv_err_set(err, FV_EINVAL, "expected a string");
    fv_status st = scan_string(&s);
    if (st != FV_OK)
        return st;
    if (s.i != s.n)
        return fail(&s, s.i, "unexpected data after the string");
    content->p = val.p + 1;
    content->n = val.n - 2;
    return FV_OK;
}

static fv_status decode_into(fv_span c, char *out, size_t cap, size_t *out_len, fv_err *err)
{
    size_t i = 0, o = 0;
    while (i < c.n) {
        char tmp[4];
        size_t k = decode_char(c.p, c.n, &i, tmp);
        if (k == 1 && tmp[0] == '\0')
            return fv_err_set(err, FV_EINVAL, "string contains a NUL character (\\u0000)");
        if (o + k > cap - 1)
            return fv_err_set(err, FV_ETOOBIG, "string longer than %zu bytes", cap - 1);
        memcpy(out + o, tmp, k);
        o += k;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return FV_OK;
}

fv_status fv_json_string_decode(fv_span val, char *out, size_t cap, size_t *out_len, fv_err *err)
{
    if (cap == 0)
        return fv_err_set(err, FV_ETOOBIG, "string: no room");
    out[0] = '\0';
    fv_span c;
    fv_status st = string_content(val, &c, err);
    if (st != FV_OK)
        return st;
    return decode_into(c, out, cap, out_len, err);
}

fv_status fv_json_string_decode_alloc(fv_span val, char **out, size_t *out_len, fv_err *err)
{
    *out = NULL;
    fv_span c;
    fv_status st = string_content(val, &c, err);
    if (st != FV_OK)
        return st;
    /* decoding never grows: an escape is at least as long as what it stands for */
    char *p = malloc(c.n + 1);
    if (!p)
        return fv_err_set(err, FV_ENOMEM, "string: out of memory");
    st = decode_into(c, p, c.n + 1, out_len, err);
    if (st != FV_OK) {
        free(p);
        return st;
    }
    *out = p;
    return FV_OK;
}

fv_status fv_json_int64(fv_span val, int64_t *out, fv_err *err)
{
    size_t i = 0;
    bool neg = false;
    if (i < val.n && val.p[i] == '-') {
        neg = true;
        i++;
    }
    if (i >= val.n)
        return fv_err_set(err, FV_EINVAL, "expected an integer");
    if (val.p[i] == '0' && i + 1 < val.n)
        return fv_err_set(err, FV_EINVAL, "expected an integer (leading zero)");
    uint64_t v = 0;
    const uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
    for (; i < val.n; i++) {
        char c = val.p[i];
        if (!is_digit(c))
            return fv_err_set(err, FV_EINVAL, "expected an integer");
        unsigned d = (unsigned)(c - '0');
        if (v > (limit - d) / 10)
            return fv_err_set(err, FV_ETOOBIG, "integer out of the 64-bit range");
        v = v * 10 + d;
    }
    if (neg)
        *out = v == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)v;
    else
        *out = (int64_t)v;
    return FV_OK;
}
