/* legacy.c - Flovyn's SCREAMING_SNAKE lifecycle names <-> dotted event types; see legacy.h.
 *
 * The split point between category and action cannot be found from the name alone
 * (CHILD_WORKFLOW_CANCELLATION_REQUESTED has three candidate prefixes), so the category is the
 * longest entry of a fixed list that prefixes the name. A name whose category is unknown is an
 * error rather than a guess: a wrong guess would file events under a category nobody filters on.
 */
#include "flovyn/legacy.h"

#include <ctype.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "flovyn/event.h"

static const char *const categories[] = {
    "WORKFLOW",  "TASK",  "TIMER", "PROMISE",      "CHILD_WORKFLOW",
    "OPERATION", "STATE", "RETRY", "CANCELLATION",
};
#define NCAT (sizeof categories / sizeof *categories)

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
