/* json.h - a small validating JSON scanner (RFC 8259) that never re-serializes.
 *
 * Producers' `data` and `payload` must survive byte for byte (0.1, 1e400, 20-digit integers, key
 * order), so nothing here builds a tree: the scanner validates strictly (UTF-8, escapes, numbers,
 * depth limit) and reports byte spans. Envelopes are read by walking the members of an object
 * and looking at each member's value span. jansson is used only for JSON the project owns
 * (configuration, KV records), never for events.
 */
#ifndef FLOVYN_JSON_H
#define FLOVYN_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "flovyn/status.h"

#define FV_JSON_MAX_DEPTH 64

typedef enum fv_json_kind {
    FV_JSON_INVALID = 0,
    FV_JSON_OBJECT,
    FV_JSON_ARRAY,
    FV_JSON_STRING,
    FV_JSON_NUMBER,
    FV_JSON_TRUE,
    FV_JSON_FALSE,
    FV_JSON_NULL,
} fv_json_kind;

typedef struct fv_span {
    const char *p;
    size_t n;
} fv_span;

/* Validates that buf holds exactly one JSON value (surrounding whitespace allowed).
 * On error err says "invalid JSON at byte N: <what was expected>". kind may be NULL. */
fv_status fv_json_validate(const char *buf, size_t len, int max_depth, fv_json_kind *kind,
                           fv_err *err);

/* Iterates the members of a top-level object. Usage:
 *   fv_json_iter it; fv_json_iter_init(&it, buf, len);
 *   while ((st = fv_json_next_member(&it, &key, &val, &kind, err)) == 1) {...}
 * Returns 1 for a member, 0 at the end, negative on error. `key` is the raw span between the
 * quotes (escapes not decoded); `val` is the whole value's span (strings include quotes).
 * Values are validated as they are walked (depth limit FV_JSON_MAX_DEPTH). When a value is
 * invalid, `key` already holds that member's key (it is left untouched for other errors). */
typedef struct fv_json_iter {
    const char *buf;
    size_t len;
    size_t pos;
    int state; /* private */
} fv_json_iter;

void fv_json_iter_init(fv_json_iter *it, const char *buf, size_t len);
int fv_json_next_member(fv_json_iter *it, fv_span *key, fv_span *val, fv_json_kind *kind,
                        fv_err *err);
/* Same for the elements of a top-level array. */
int fv_json_next_element(fv_json_iter *it, fv_span *val, fv_json_kind *kind, fv_err *err);

/* True if a raw key span (as returned above) equals the literal (keys with escapes compare
 * after decoding). */
bool fv_json_key_is(fv_span key, const char *lit);

/* Decodes a string value span (with its quotes) into out (NUL-terminated), rejecting embedded
 * NUL (\u0000) and strings longer than cap-1 bytes. *out_len may be NULL. */
fv_status fv_json_string_decode(fv_span val, char *out, size_t cap, size_t *out_len, fv_err *err);
/* Decodes into a malloc'd buffer (caller frees). */
fv_status fv_json_string_decode_alloc(fv_span val, char **out, size_t *out_len, fv_err *err);

/* Parses an integer number span (no fraction/exponent) into int64. */
fv_status fv_json_int64(fv_span val, int64_t *out, fv_err *err);

/* Validates UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
bool fv_utf8_valid(const char *p, size_t n);

#endif
