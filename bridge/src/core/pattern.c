/* pattern.c - EventPattern: a subscriber's wish compiled to NATS filter subjects + residuals.
 *
 * The filter subject is what the bus hands to NATS (a consumer's FilterSubject, or the live
 * router's first cut); it is the narrowest single subject that covers the pattern, because NATS
 * 2.9 takes one filter per consumer. Everything a subject cannot say - several types, a
 * category (`task` OR `task.>`), the source, the token's allowed types, the consolidated
 * stream's descendant set - is checked again by fv_pattern_match_*, which re-applies the WHOLE
 * pattern (tenant and ids included), so a filter that is wider than needed can cost work but
 * never deliver a wrong event.
 *
 * Tenant isolation: the tenant token of every filter is a literal id that passed fv_id_validate
 * in the same call, and the match functions compare the tenant before anything else; a pattern
 * with an invalid or empty tenant produces no filter and matches nothing.
 */
#include "flovyn/pattern.h"

#include <stdio.h>
#include <string.h>

#include "flovyn/subject.h"

void fv_pattern_init(fv_pattern *p, const char *tenant_id)
{
    memset(p, 0, sizeof *p);
    /* A tenant that does not fit is left empty rather than truncated: a truncated id could be
     * another tenant's. Validation then refuses the pattern. */
    if (tenant_id && strlen(tenant_id) <= FV_ID_MAX)
        memcpy(p->tenant_id, tenant_id, strlen(tenant_id) + 1);
}

static bool terminated(const char *s, size_t cap)
{
    return memchr(s, '\0', cap) != NULL;
}

fv_status fv_pattern_validate(const fv_pattern *p, fv_err *err)
{
    if (!p)
        return fv_err_set(err, FV_EINVAL, "pattern: missing");
    if (!terminated(p->tenant_id, sizeof p->tenant_id) ||
        !terminated(p->workflow_execution_id, sizeof p->workflow_execution_id) ||
        !terminated(p->task_execution_id, sizeof p->task_execution_id) ||
        !terminated(p->source, sizeof p->source))
        return fv_err_set(err, FV_EINVAL, "pattern: a field is not NUL-terminated");
    fv_status st = fv_id_validate("tenant_id", p->tenant_id, strlen(p->tenant_id), err);
    if (st != FV_OK)
        return st;
    if (p->workflow_execution_id[0] &&
        (st = fv_id_validate("workflow_execution_id", p->workflow_execution_id,
                             strlen(p->workflow_execution_id), err)) != FV_OK)
        return st;
    if (p->task_execution_id[0] &&
        (st = fv_id_validate("task_execution_id", p->task_execution_id,
                             strlen(p->task_execution_id), err)) != FV_OK)
        return st;
    return FV_OK;
}

bool fv_pattern_wants_events(const fv_pattern *p)
{
    return fv_types_filter_wants_events(p->types) && fv_types_filter_wants_events(p->allowed);
}

bool fv_pattern_wants_streams(const fv_pattern *p)
{
    for (int k = 0; k < FV_KIND_COUNT; k++)
        if (fv_types_filter_match_kind2(p->types, p->allowed, (fv_stream_kind)k))
            return true;
    return false;
}

/* Joins prefix.v1.<root>.<tokens>, collapsing trailing `*` tokens before a final `>` (they add
 * nothing: `T.*.*.>` and `T.>` select the same canonical subjects), so the tenant and workflow
 * filters read as CONTRACT §3 writes them. */
static fv_status build(const char *prefix, const char *root, const char **tok, size_t n, char *out,
                       size_t cap)
{
    if (n > 0 && strcmp(tok[n - 1], ">") == 0)
        while (n > 2 && strcmp(tok[n - 2], "*") == 0)
            tok[n - 2] = ">", n--;
    int o = snprintf(out, cap, "%s.v1.%s", prefix, root);
    for (size_t i = 0; i < n && o >= 0 && (size_t)o < cap; i++)
        o += snprintf(out + o, cap - (size_t)o, ".%s", tok[i]);
    if (o < 0 || (size_t)o >= cap) {
        if (cap)
            out[0] = '\0';
        return FV_ETOOBIG;
    }
    return FV_OK;
}

static fv_status checked_prefix(const fv_pattern *p, const char **prefix)
{
    if (!*prefix || !**prefix)
        *prefix = FV_PREFIX_DEFAULT;
    if (fv_prefix_validate(*prefix, NULL) != FV_OK || fv_pattern_validate(p, NULL) != FV_OK)
        return FV_EINVAL;
    return FV_OK;
}

fv_status fv_pattern_events_filter(const fv_pattern *p, const char *prefix, char *out, size_t cap)
{
    if (!out || cap == 0)
        return FV_EINVAL;
    out[0] = '\0';
    fv_status st = checked_prefix(p, &prefix);
    if (st != FV_OK)
        return st;
    char suffix[FV_TYPE_MAX + 8];
    if ((st = fv_types_filter_subject_suffix(p->types, suffix, sizeof suffix)) != FV_OK)
        return st;
    /* Both the request and the token's claim bound the result; when the request says nothing
     * narrower, the claim may. */
    if (strcmp(suffix, ">") == 0 && p->allowed &&
        (st = fv_types_filter_subject_suffix(p->allowed, suffix, sizeof suffix)) != FV_OK)
        return st;
    const char *tok[4] = {p->tenant_id,
                          p->workflow_execution_id[0] ? p->workflow_execution_id : "*",
                          p->task_execution_id[0] ? p->task_execution_id : "*", suffix};
    return build(prefix, "events", tok, 4, out, cap);
}

fv_status fv_pattern_streams_filter(const fv_pattern *p, const char *prefix, char *out, size_t cap)
{
    if (!out || cap == 0)
        return FV_EINVAL;
    out[0] = '\0';
    fv_status st = checked_prefix(p, &prefix);
    if (st != FV_OK)
        return st;
    const char *kind = "*";
    int wanted = 0;
    for (int k = 0; k < FV_KIND_COUNT; k++)
        if (fv_types_filter_match_kind2(p->types, p->allowed, (fv_stream_kind)k))
            wanted++, kind = fv_kind_name((fv_stream_kind)k);
    if (wanted != 1)
        kind = "*";
    const char *tok[4] = {p->tenant_id,
                          p->workflow_execution_id[0] ? p->workflow_execution_id : "*",
                          p->task_execution_id[0] ? p->task_execution_id : "*", kind};
    if (strcmp(kind, "*") == 0)
        tok[3] = ">"; /* stream subjects end right after the kind: same set, shorter filter */
    return build(prefix, "streams", tok, 4, out, cap);
}

static bool same_id(const char *want, const char *have, size_t cap)
{
    return !want[0] || strncmp(want, have, cap) == 0;
}

bool fv_pattern_match_event(const fv_pattern *p, const fv_event *ev)
{
    if (!p || !ev || !p->tenant_id[0])
        return false;
    if (strncmp(p->tenant_id, ev->tenant_id, sizeof ev->tenant_id) != 0)
        return false;
    if (!same_id(p->workflow_execution_id, ev->workflow_execution_id,
                 sizeof ev->workflow_execution_id) ||
        !same_id(p->task_execution_id, ev->task_execution_id, sizeof ev->task_execution_id) ||
        !same_id(p->source, ev->source, sizeof ev->source))
        return false;
    if (!fv_types_filter_match_type2(p->types, p->allowed, ev->event_type))
        return false;
    return !p->accept || p->accept(p->accept_ud, ev, NULL);
}

bool fv_pattern_match_stream(const fv_pattern *p, const fv_stream_event *se)
{
    if (!p || !se || !p->tenant_id[0])
        return false;
    if (strncmp(p->tenant_id, se->tenant_id, sizeof se->tenant_id) != 0)
        return false;
    if (!same_id(p->workflow_execution_id, se->workflow_execution_id,
                 sizeof se->workflow_execution_id) ||
        !same_id(p->task_execution_id, se->task_execution_id, sizeof se->task_execution_id))
        return false;
    if (!fv_types_filter_match_kind2(p->types, p->allowed, se->kind))
        return false;
    return !p->accept || p->accept(p->accept_ud, NULL, se);
}
