/* libFuzzer target: the JSON scanner (json.h).
 *
 * Invariants checked on every input: validation never reads outside the buffer (ASan); a valid
 * document's members/elements iterate to the end without error, each reported span lies inside
 * the buffer and validates alone with the same kind; keys compare equal to their own decoding;
 * string values decode (except \u0000) to valid UTF-8 no longer than the span; integers that
 * parse print back to the same text. jansson (a strict parser that builds a tree) must agree on
 * validity, except where it cannot represent a number (1e400, 20-digit integers) or where our
 * depth limit is the reason (and only on inputs without NUL bytes: jansson stops at one; it
 * also refuses \u0000 in keys).
 */
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "flovyn/json.h"

static void check_span(const char *buf, size_t len, fv_span v, fv_json_kind kind)
{
    if (v.p < buf || v.p + v.n > buf + len || v.n == 0)
        abort();
    fv_json_kind again;
    if (fv_json_validate(v.p, v.n, FV_JSON_MAX_DEPTH, &again, NULL) != FV_OK || again != kind)
        abort();
    if (kind == FV_JSON_STRING) {
        char *s;
        size_t n;
        fv_status st = fv_json_string_decode_alloc(v, &s, &n, NULL);
        if (st == FV_OK) {
            if (n > v.n - 2 || !fv_utf8_valid(s, n) || memchr(s, 0, n))
                abort();
            free(s);
        } else if (st != FV_EINVAL || !memmem(v.p, v.n, "\\u0000", 6)) {
            abort();
        }
    }
    if (kind == FV_JSON_NUMBER) {
        int64_t x;
        if (fv_json_int64(v, &x, NULL) == FV_OK) {
            char back[32];
            int k = snprintf(back, sizeof back, "%" PRId64, x);
            /* "-0" is the one integer spelling that does not print back */
            if (!((size_t)k == v.n && memcmp(back, v.p, v.n) == 0) &&
                !(v.n == 2 && memcmp(v.p, "-0", 2) == 0))
                abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    fv_err err = {{0}};
    fv_json_kind kind;
    fv_status st = fv_json_validate(buf, size, FV_JSON_MAX_DEPTH, &kind, &err);
    if (!memchr(buf, 0, size)) {
        json_error_t je;
        json_t *j = json_loadb(buf, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
        if (st == FV_OK && !j && !strstr(je.text, "overflow") && !strstr(je.text, "too big") &&
            !strstr(je.text, "NUL byte in object key"))
            abort();
        if (st != FV_OK && j && !strstr(err.msg, "nesting deeper"))
            abort();
        json_decref(j);
    }
    if (st != FV_OK) {
        if (strncmp(err.msg, "invalid JSON at byte ", 21) != 0)
            abort();
        return 0;
    }
    fv_json_iter it;
    fv_json_iter_init(&it, buf, size);
    fv_span k, v;
    fv_json_kind vk;
    int r;
    if (kind == FV_JSON_OBJECT) {
        while ((r = fv_json_next_member(&it, &k, &v, &vk, NULL)) == 1) {
            check_span(buf, size, v, vk);
            char *key;
            size_t kn;
            fv_span quoted = {k.p - 1, k.n + 2};
            if (fv_json_string_decode_alloc(quoted, &key, &kn, NULL) == FV_OK) {
                if (!fv_json_key_is(k, key))
                    abort();
                free(key);
            }
        }
        if (r != 0)
            abort();
    } else if (kind == FV_JSON_ARRAY) {
        while ((r = fv_json_next_element(&it, &v, &vk, NULL)) == 1)
            check_span(buf, size, v, vk);
        if (r != 0)
            abort();
    } else {
        /* a scalar is not an object: the iterator must say so */
        if (fv_json_next_member(&it, &k, &v, &vk, NULL) >= 0)
            abort();
        size_t a = 0, b = size;
        while (a < b && strchr(" \t\r\n", buf[a]) && buf[a])
            a++;
        while (b > a && strchr(" \t\r\n", buf[b - 1]) && buf[b - 1])
            b--;
        check_span(buf, size, (fv_span){buf + a, b - a}, kind);
    }
    return 0;
}
