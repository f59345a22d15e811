/* event_type.c - the event_type grammar of CONTRACT §2 and Flovyn's legacy spelling of it
 * (SCREAMING_SNAKE lifecycle names <-> dotted types; see legacy.h).
 *
 * One module because each side needs the other: a converted legacy name must be a valid type, and
 * a type refused for its upper case names the dotted type its author meant ("TASK_CREATED is a
 * legacy Flovyn name; write it as task.created"). Types are 1-8 dot-separated tokens of
 * [a-z0-9_-] whose first token is not one of the SSE event names the gateway itself sends.
 *
 * The split point between category and action of a legacy name cannot be found from the name
 * alone (CHILD_WORKFLOW_CANCELLATION_REQUESTED has three candidate prefixes), so the category is
 * the longest entry of a fixed list that prefixes the name. A name whose category is unknown is an
 * error rather than a guess: a wrong guess would file events under a category nobody filters on.
 */
#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "flovyn/event.h"
#include "flovyn/legacy.h"

/* First tokens that would collide with the SSE event names the gateway itself sends. */
static const char *const reserved_first[] = {
    "token",  "tokens", "progress", "data",       "error",        "errors",  "stream_error",
    "events", "gap",    "end",      "overloaded", "auth_expired", "message", "open",
};

#define TYPE_RULE "(types are 1-8 dot-separated tokens of a-z 0-9 _ -, e.g. task.completed)"

static const char *const categories[] = {
    "WORKFLOW",  "TASK",  "TIMER", "PROMISE",      "CHILD_WORKFLOW",
    "OPERATION", "STATE", "RETRY", "CANCELLATION",
};
#define NCAT (sizeof categories / sizeof *categories)

/* Producers moving from Flovyn send TASK_CREATED; name the type they meant. */
static bool legacy_hint(const char *type, size_t len, fv_err *err)
{
    char in[FV_TYPE_MAX + 1], out[FV_TYPE_MAX + 1];
    if (len > FV_TYPE_MAX || memchr(type, '\0', len))
        return false;
    memcpy(in, type, len);
    in[len] = '\0';
    if (fv_legacy_to_type(in, out, sizeof out, NULL) != FV_OK)
        return false;
    fv_err_set(err, FV_EINVAL, "event_type: '%s' is a legacy Flovyn name; write it as '%s'", in,
               out);
    return true;
}

fv_status fv_event_type_validate(const char *type, size_t len, fv_err *err)
{
    if (!type || len == 0)
        return fv_err_set(err, FV_EINVAL, "event_type: empty %s", TYPE_RULE);
    if (len > FV_TYPE_MAX)
        return fv_err_set(err, FV_EINVAL, "event_type: %zu bytes, more than %d", len, FV_TYPE_MAX);
    size_t tokens = 1, tok_start = 0, first_len = 0;
    for (size_t i = 0; i <= len; i++) {
        unsigned char c = i < len ? (unsigned char)type[i] : '.';
        if (c == '.') {
            if (i == tok_start)
                return fv_err_set(err, FV_EINVAL, "event_type: empty token at position %zu %s", i,
                                  TYPE_RULE);
            if (tokens == 1)
                first_len = i;
            if (i < len && ++tokens > FV_TYPE_TOKENS_MAX)
                return fv_err_set(err, FV_EINVAL, "event_type: more than %d tokens %s",
                                  FV_TYPE_TOKENS_MAX, TYPE_RULE);
            tok_start = i + 1;
            continue;
        }
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')
            continue;
        if (c >= 'A' && c <= 'Z' && legacy_hint(type, len, err))
            return FV_EINVAL;
        if (c > 0x20 && c < 0x7F)
            return fv_err_set(err, FV_EINVAL, "event_type: '%c' at position %zu is not allowed %s",
                              c, i, TYPE_RULE);
        return fv_err_set(err, FV_EINVAL,
                          "event_type: byte 0x%02x at position %zu is not allowed %s", c, i,
                          TYPE_RULE);
    }
    for (size_t r = 0; r < sizeof reserved_first / sizeof *reserved_first; r++) {
        if (strlen(reserved_first[r]) == first_len &&
            memcmp(type, reserved_first[r], first_len) == 0)
            return fv_err_set(err, FV_EINVAL,
                              "event_type: '%s' is a reserved SSE event name and cannot be the "
                              "first token",
                              reserved_first[r]);
    }
    return FV_OK;
}

/* --- legacy names ------------------------------------------------------------------------- */

fv_status fv_legacy_to_type(const char *legacy, char *out, size_t out_cap, fv_err *err)
{
    if (out_cap)
        out[0] = '\0';
    if (!legacy || !*legacy)
        return fv_err_set(err, FV_EINVAL, "legacy event name: empty");
    size_t n = strnlen(legacy, FV_TYPE_MAX + 1);
    if (n > FV_TYPE_MAX)
        return fv_err_set(err, FV_EINVAL, "legacy event name: more than %d bytes", FV_TYPE_MAX);
    for (size_t i = 0; i < n; i++) {
        char c = legacy[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return fv_err_set(err, FV_EINVAL,
                              "legacy event name: byte 0x%02x at position %zu is not A-Z 0-9 _",
                              (unsigned char)c, i);
    }
    size_t best = 0;
    for (size_t k = 0; k < NCAT; k++) {
        size_t cl = strlen(categories[k]);
        if (cl > best && n > cl + 1 && memcmp(legacy, categories[k], cl) == 0 && legacy[cl] == '_')
            best = cl;
    }
    if (!best)
        return fv_err_set(err, FV_EINVAL,
                          "legacy event name: unknown category (expected one of WORKFLOW_, TASK_, "
                          "TIMER_, PROMISE_, CHILD_WORKFLOW_, OPERATION_, STATE_, RETRY_, "
                          "CANCELLATION_ followed by an action)");
    if (n + 1 > out_cap) /* the '_' becomes '.', so the length is unchanged */
        return fv_err_set(err, FV_ETOOBIG, "legacy event name: output buffer too small");
    for (size_t i = 0; i < n; i++)
        out[i] = (char)tolower((unsigned char)legacy[i]);
    out[best] = '.';
    out[n] = '\0';
    fv_status st = fv_event_type_validate(out, n, err);
    if (st != FV_OK) {
        out[0] = '\0';
        return fv_err_prefix(err, st, "legacy event name: ");
    }
    return FV_OK;
}

fv_status fv_legacy_from_type(const char *type, char *out, size_t out_cap, fv_err *err)
{
    if (out_cap)
        out[0] = '\0';
    if (!type)
        return fv_err_set(err, FV_EINVAL, "event_type: empty");
    size_t n = strnlen(type, FV_TYPE_MAX + 1);
    fv_status st = fv_event_type_validate(type, n, err);
    if (st != FV_OK)
        return st;
    const char *dot = memchr(type, '.', n);
    if (!dot || memchr(dot + 1, '.', n - (size_t)(dot + 1 - type)))
        return fv_err_set(err, FV_EINVAL,
                          "event_type: only category.action types have a legacy name");
    size_t cl = (size_t)(dot - type);
    bool known = false;
    for (size_t k = 0; k < NCAT && !known; k++)
        known = strlen(categories[k]) == cl && strncasecmp(type, categories[k], cl) == 0;
    if (!known)
        return fv_err_set(err, FV_EINVAL, "event_type: category '%.*s' has no legacy name", (int)cl,
                          type);
    for (size_t i = cl + 1; i < n; i++)
        if (type[i] == '-')
            return fv_err_set(err, FV_EINVAL,
                              "event_type: '-' at position %zu has no legacy spelling", i);
    if (n + 1 > out_cap)
        return fv_err_set(err, FV_ETOOBIG, "event_type: output buffer too small");
    for (size_t i = 0; i < n; i++)
        out[i] = type[i] == '.' ? '_' : (char)toupper((unsigned char)type[i]);
    out[n] = '\0';
    return FV_OK;
}
