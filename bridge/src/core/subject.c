/* subject.c - canonical NATS subjects, built, parsed and matched against filters (CONTRACT §3).
 *
 *   <prefix>.v1.events.<tenant>.<workflow|_>.<task|_>.<event_type tokens...>
 *   <prefix>.v1.streams.<tenant>.<workflow>.<task|_>.<token|progress|data|error>
 *   <prefix>.v1.live.events.... / <prefix>.v1.live.streams....  (RePublish copies)
 *
 * Every token is checked by the one id validator (id.c) or the event type validator (event_type.c)
 * before it is written, so a subject built here never carries a wildcard, an empty token or a
 * dot inside an id, and a tenant can never address another tenant's subjects. The parser applies
 * the same rules in reverse: what it accepts is exactly what the builders can produce. A NULL or
 * empty prefix means FV_PREFIX_DEFAULT everywhere. Matching against a filter with wildcards (a
 * subject, or an event type's tokens for the `types` filter) follows NATS exactly, so a residual
 * check means what the same filter means to the server.
 */
#include "flovyn/subject.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static const char *pick_prefix(const char *prefix)
{
    return prefix && *prefix ? prefix : FV_PREFIX_DEFAULT;
}

static bool prefix_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

fv_status fv_prefix_validate(const char *prefix, fv_err *err)
{
    if (!prefix || !*prefix)
        return fv_err_set(err, FV_EINVAL, "prefix: empty");
    size_t n = strnlen(prefix, FV_PREFIX_MAX + 1);
    if (n > FV_PREFIX_MAX)
        return fv_err_set(err, FV_EINVAL, "prefix: longer than %d bytes", FV_PREFIX_MAX);
    size_t tok = 0;
    for (size_t i = 0; i < n; i++) {
        char c = prefix[i];
        if (c == '.') {
            if (tok == 0)
                return fv_err_set(err, FV_EINVAL, "prefix: '%s' has an empty token", prefix);
            tok = 0;
        } else if (!prefix_char(c)) {
            return fv_err_set(err, FV_EINVAL,
                              "prefix: '%.*s' may hold only [A-Za-z0-9_-] tokens separated by dots",
                              (int)n, prefix);
        } else {
            tok++;
        }
    }
    if (tok == 0)
        return fv_err_set(err, FV_EINVAL, "prefix: '%s' has an empty token", prefix);
    return FV_OK;
}

/* "_" for none, else the validated id. */
static fv_status id_token(const char *field, const char *id, size_t cap, bool required,
                          const char **tok, fv_err *err)
{
    size_t n = strnlen(id, cap);
    if (n == 0) {
        if (required)
            return fv_err_set(err, FV_EINVAL, "%s: required", field);
        *tok = "_";
        return FV_OK;
    }
    fv_status st = fv_id_validate(field, id, n, err);
    if (st != FV_OK)
        return st;
    *tok = id;
    return FV_OK;
}

static fv_status put(char *out, size_t cap, fv_err *err, const char *fmt, const char *a,
                     const char *b, const char *c, const char *d, const char *e)
{
    int n = snprintf(out, cap, fmt, a, b, c, d, e);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return fv_err_set(err, FV_ETOOBIG, "subject: longer than the %zu-byte buffer", cap);
    }
    return FV_OK;
}

fv_status fv_subject_for_event(const char *prefix, const fv_event *ev, char *out, size_t cap,
                               fv_err *err)
{
    prefix = pick_prefix(prefix);
    fv_status st = fv_prefix_validate(prefix, err);
    if (st != FV_OK)
        return st;
    const char *t = "", *w = "", *k = "";
    if ((st = id_token("tenant_id", ev->tenant_id, sizeof ev->tenant_id, true, &t, err)) ||
        (st = id_token("workflow_execution_id", ev->workflow_execution_id,
                       sizeof ev->workflow_execution_id, false, &w, err)) ||
        (st = id_token("task_execution_id", ev->task_execution_id, sizeof ev->task_execution_id,
                       false, &k, err)))
        return st;
    size_t tn = strnlen(ev->event_type, sizeof ev->event_type);
    if ((st = fv_event_type_validate(ev->event_type, tn, err)) != FV_OK)
        return st;
    return put(out, cap, err, "%s.v1.events.%s.%s.%s.%s", prefix, t, w, k, ev->event_type);
}

fv_status fv_subject_for_stream_event(const char *prefix, const fv_stream_event *se, char *out,
                                      size_t cap, fv_err *err)
{
    prefix = pick_prefix(prefix);
    fv_status st = fv_prefix_validate(prefix, err);
    if (st != FV_OK)
        return st;
    const char *t = "", *w = "", *k = "";
    if ((st = id_token("tenant_id", se->tenant_id, sizeof se->tenant_id, true, &t, err)) ||
        (st = id_token("workflow_execution_id", se->workflow_execution_id,
                       sizeof se->workflow_execution_id, true, &w, err)) ||
        (st = id_token("task_execution_id", se->task_execution_id, sizeof se->task_execution_id,
                       false, &k, err)))
        return st;
    if ((unsigned)se->kind >= FV_KIND_COUNT)
        return fv_err_set(err, FV_EINVAL, "type: unknown stream event kind %d", (int)se->kind);
    return put(out, cap, err, "%s.v1.streams.%s.%s.%s.%s", prefix, t, w, k, fv_kind_name(se->kind));
}

static fv_status root(const char *prefix, const char *what, char *out, size_t cap)
{
    prefix = pick_prefix(prefix);
    if (fv_prefix_validate(prefix, NULL) != FV_OK)
        return FV_EINVAL;
    int n = snprintf(out, cap, "%s.v1.%s", prefix, what);
    if (n < 0 || (size_t)n >= cap) {
        if (cap)
            out[0] = '\0';
        return FV_ETOOBIG;
    }
    return FV_OK;
}

fv_status fv_subject_events_all(const char *prefix, char *out, size_t cap)
{
    return root(prefix, "events.>", out, cap);
}

fv_status fv_subject_streams_all(const char *prefix, char *out, size_t cap)
{
    return root(prefix, "streams.>", out, cap);
}

fv_status fv_subject_live_events(const char *prefix, char *out, size_t cap)
{
    return root(prefix, "live.events", out, cap);
}

fv_status fv_subject_live_streams(const char *prefix, char *out, size_t cap)
{
    return root(prefix, "live.streams", out, cap);
}

/* --- parsing -------------------------------------------------------------------------------- */

/* Next dot-separated token of s[*i..n); returns its length, advances past the dot. */
static size_t next_token(const char *s, size_t n, size_t *i, const char **tok)
{
    size_t b = *i;
    while (*i < n && s[*i] != '.')
        (*i)++;
    *tok = s + b;
    size_t len = *i - b;
    if (*i < n)
        (*i)++; /* the dot */
    return len;
}

static fv_status parse_id(const char *field, const char *tok, size_t len, bool allow_none,
                          char *dst, fv_err *err)
{
    if (allow_none && len == 1 && tok[0] == '_') {
        dst[0] = '\0';
        return FV_OK;
    }
    fv_status st = fv_id_validate(field, tok, len, err);
    if (st != FV_OK)
        return fv_err_prefix(err, st, "subject: ");
    memcpy(dst, tok, len);
    dst[len] = '\0';
    return FV_OK;
}

fv_status fv_subject_parse(const char *prefix, const char *subject, fv_subject_parts *out,
                           fv_err *err)
{
    memset(out, 0, sizeof *out);
    prefix = pick_prefix(prefix);
    if (!subject)
        return fv_err_set(err, FV_EINVAL, "subject: missing");
    size_t n = strnlen(subject, FV_SUBJECT_MAX + 1);
    if (n > FV_SUBJECT_MAX)
        return fv_err_set(err, FV_EINVAL, "subject: longer than %d bytes", FV_SUBJECT_MAX);
    size_t pn = strlen(prefix);
    if (n <= pn || memcmp(subject, prefix, pn) != 0 || subject[pn] != '.')
        return fv_err_set(err, FV_EINVAL, "subject: '%.80s' is not under prefix '%s'", subject,
                          prefix);
    const char *s = subject + pn + 1;
    size_t rest = n - pn - 1;
    static const struct {
        const char *root;
        int is_stream;
    } roots[] = {
        {"v1.events.", 0}, {"v1.streams.", 1}, {"v1.live.events.", 0}, {"v1.live.streams.", 1}};
    size_t i = 0;
    int kind = -1;
    for (size_t r = 0; r < sizeof roots / sizeof roots[0]; r++) {
        size_t rl = strlen(roots[r].root);
        if (rest >= rl && memcmp(s, roots[r].root, rl) == 0) {
            kind = roots[r].is_stream;
            i = rl;
            break;
        }
    }
    if (kind < 0)
        return fv_err_set(err, FV_EINVAL,
                          "subject: '%.80s' is neither a v1 events nor a v1 streams subject",
                          subject);
    out->is_stream = kind;
    const char *tok;
    size_t len;
    fv_status st;
    len = next_token(s, rest, &i, &tok);
    if ((st = parse_id("tenant_id", tok, len, false, out->tenant_id, err)) != FV_OK)
        return st;
    if (i >= rest)
        return fv_err_set(err, FV_EINVAL, "subject: '%.80s' ends after the tenant", subject);
    len = next_token(s, rest, &i, &tok);
    if ((st = parse_id("workflow_execution_id", tok, len, !kind, out->workflow_execution_id,
                       err)) != FV_OK)
        return st;
    if (i >= rest)
        return fv_err_set(err, FV_EINVAL, "subject: '%.80s' ends after the workflow", subject);
    len = next_token(s, rest, &i, &tok);
    if ((st = parse_id("task_execution_id", tok, len, true, out->task_execution_id, err)) != FV_OK)
        return st;
    if (i >= rest || s[i - 1] != '.')
        return fv_err_set(err, FV_EINVAL, "subject: '%.80s' has no %s", subject,
                          kind ? "stream event kind" : "event type");
    const char *tail = s + i;
    size_t tail_len = rest - i;
    if (kind) {
        for (int k = 0; k < FV_KIND_COUNT; k++) {
            const char *name = fv_kind_name((fv_stream_kind)k);
            if (strlen(name) == tail_len && memcmp(name, tail, tail_len) == 0) {
                out->kind = (fv_stream_kind)k;
                return FV_OK;
            }
        }
        return fv_err_set(err, FV_EINVAL,
                          "subject: '%.80s' ends in an unknown stream event kind (expected "
                          "token, progress, data or error)",
                          subject);
    }
    if ((st = fv_event_type_validate(tail, tail_len, err)) != FV_OK)
        return fv_err_prefix(err, st, "subject: ");
    memcpy(out->event_type, tail, tail_len);
    out->event_type[tail_len] = '\0';
    return FV_OK;
}

/* --- matching -------------------------------------------------------------------------------- */

/* NATS semantics: `*` matches exactly one token, `>` (last only) one or more; wildcards count
 * only as whole tokens. A subject with an empty token or a wildcard token is not a subject a
 * message can have, so it matches nothing. */
bool fv_subject_matches(const char *filter, const char *subject)
{
    if (!filter || !subject || !*filter || !*subject)
        return false;
    const char *f = filter, *s = subject;
    for (;;) {
        const char *fe = strchr(f, '.'), *se = strchr(s, '.');
        size_t fl = fe ? (size_t)(fe - f) : strlen(f);
        size_t sl = se ? (size_t)(se - s) : strlen(s);
        if (fl == 0 || sl == 0)
            return false;
        if (sl == 1 && (s[0] == '*' || s[0] == '>'))
            return false;
        if (fl == 1 && f[0] == '>') {
            if (fe)
                return false; /* `>` not last: an invalid filter */
            /* the rest of the subject must be well-formed too */
            for (const char *q = s;;) {
                const char *qe = strchr(q, '.');
                size_t ql = qe ? (size_t)(qe - q) : strlen(q);
                if (ql == 0 || (ql == 1 && (q[0] == '*' || q[0] == '>')))
                    return false;
                if (!qe)
                    return true;
                q = qe + 1;
            }
        }
        if (!(fl == 1 && f[0] == '*') && (fl != sl || memcmp(f, s, fl) != 0))
            return false;
        if (!fe || !se)
            return !fe && !se;
        f = fe + 1;
        s = se + 1;
    }
}
