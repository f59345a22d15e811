/* types_filter.h - the `types` query grammar of CONTRACT §4 and its matching.
 *
 * Items (comma-separated, case-insensitive, trimmed): stream kinds token(s), progress, data,
 * error(s); `events` (every lifecycle event); an exact type `task.completed`; a bare category
 * `task` (the one-token type and the whole category); NATS wildcards over type tokens
 * (`workflow.*`, `*.failed`, `child_workflow.>`, `>`). Anything else is an error naming the item
 * and its position. An empty spec selects everything, except that on the tenant stream the default
 * is lifecycle only (FV_TYPES_DEFAULT_LIFECYCLE).
 */
#ifndef FLOVYN_TYPES_FILTER_H
#define FLOVYN_TYPES_FILTER_H

#include <stdbool.h>
#include <stddef.h>

#include "flovyn/event.h"
#include "flovyn/status.h"

#define FV_TYPES_MAX_ITEMS 32

typedef enum fv_types_default {
    FV_TYPES_DEFAULT_ALL = 0,       /* workflow/task streams: empty = lifecycle + stream kinds */
    FV_TYPES_DEFAULT_LIFECYCLE = 1, /* tenant stream: empty = lifecycle only */
} fv_types_default;

typedef struct fv_types_filter fv_types_filter;

/* spec may be NULL (= empty). */
fv_status fv_types_filter_parse(const char *spec, fv_types_default dflt, fv_types_filter **out,
                                fv_err *err);
void fv_types_filter_destroy(fv_types_filter *f);
fv_status fv_types_filter_clone(const fv_types_filter *f, fv_types_filter **out);

bool fv_types_filter_match_type(const fv_types_filter *f, const char *event_type);
bool fv_types_filter_match_kind(const fv_types_filter *f, fv_stream_kind k);
bool fv_types_filter_wants_events(const fv_types_filter *f);  /* any lifecycle item */
bool fv_types_filter_wants_streams(const fv_types_filter *f); /* any stream kind */
bool fv_types_filter_all_events(const fv_types_filter *f);    /* every lifecycle type */

/* The narrowest NATS subject suffix (over the type tokens) covering every lifecycle item:
 * one exact or wildcard item -> itself ("task.completed", "task.>"); several -> their least
 * general common filter ("task.completed,task.failed" -> "task.*"); a bare category (`task` is
 * `task` OR `task.>`), `events`, or no lifecycle item -> ">". out cap >= 160. */
fv_status fv_types_filter_subject_suffix(const fv_types_filter *f, char *out, size_t cap);

/* Intersection used for a token's `types` claim: true if `requested` can only select types that
 * `allowed` selects is too strict to compute in general; instead callers match events against
 * both filters. NULL allowed = no restriction. */
bool fv_types_filter_match_type2(const fv_types_filter *requested, const fv_types_filter *allowed,
                                 const char *event_type);
bool fv_types_filter_match_kind2(const fv_types_filter *requested, const fv_types_filter *allowed,
                                 fv_stream_kind k);

#endif
