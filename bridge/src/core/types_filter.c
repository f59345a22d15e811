/* types_filter.c - the `types` query grammar of CONTRACT §4 and its matching.
 *
 * A spec is a comma-separated list of at most FV_TYPES_MAX_ITEMS items, case-insensitive, each
 * trimmed of ASCII whitespace. An empty or all-blank spec selects the default (everything, or
 * lifecycle only on the tenant stream). Items:
 *   token tokens progress data error errors    stream event kinds
 *   events  >                                  every lifecycle event
 *   task.completed                             one exact lifecycle type
 *   task                                       the one-token type `task` and the category `task.>`
 *   workflow.*  *.failed  child_workflow.>     NATS wildcards over the type's tokens
 * A wildcard is a whole token (`ta*` is an error), `>` only as the last token. A lifecycle item
 * must be a possible event type: tokens of [a-z0-9_-], at most 8 of them and 128 bytes, and a
 * first token that is not a reserved SSE name (`gap`, `stream_error`, ...; event_type.c holds
 * the list). The stream kind words are kinds, never lifecycle categories.
 *
 * Choice: an empty item inside a non-empty spec (`a,,b`, `a,`) is an error naming its position,
 * like any other bad item - a stray comma usually means a value was lost while the URL was built,
 * and silently widening or narrowing the selection would hide that. A one-token item one edit
 * away from a keyword (`tokenz`, `event`, `progres`) is refused with "did you mean": by the
 * grammar it would be a category that silently selects nothing, and no sane event type is a
 * misspelt stream kind. Flovyn's SCREAMING_SNAKE names (`TASK_CREATED`, upper case as Flovyn writes
 * them) select the converted dotted type, as they do on ingest.
 *
 * The filter is immutable after parse, so one parsed filter can be shared by threads.
 */
#include "flovyn/types_filter.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "flovyn/legacy.h"
#include "flovyn/subject.h"

typedef enum item_kind { ITEM_EXACT, ITEM_CATEGORY, ITEM_PATTERN } item_kind;

typedef struct item {
    item_kind kind;
    size_t len;
    char text[FV_TYPE_MAX + 1];
} item;

/* items is sized to what was parsed: every SSE connection holds a filter, and most hold none or
 * one or two items, not FV_TYPES_MAX_ITEMS (4.6 KB) */
struct fv_types_filter {
    bool kinds[FV_KIND_COUNT];
    bool all_events;
    size_t n;
    item items[];
};

static size_t filter_size(size_t n)
{
    return sizeof(fv_types_filter) + n * sizeof(item);
}

static const struct {
    const char *word;
    fv_stream_kind kind;
} kind_words[] = {{"token", FV_KIND_TOKEN},       {"tokens", FV_KIND_TOKEN},
                  {"progress", FV_KIND_PROGRESS}, {"data", FV_KIND_DATA},
                  {"error", FV_KIND_ERROR},       {"errors", FV_KIND_ERROR}};

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}

static bool type_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

/* The item as a user may see it in an error: printable ASCII only, at most 64 bytes. */
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

static fv_status bad_item(fv_err *err, const char *s, size_t len, int pos, const char *why)
{
    char show[72];
    return fv_err_set(err, FV_EINVAL, "types: unknown item '%s' at position %d: %s",
                      shown(s, len, show, sizeof show), pos, why);
}

static void add_item(fv_types_filter *f, item_kind kind, const char *text, size_t len)
{
    for (size_t i = 0; i < f->n; i++)
        if (f->items[i].kind == kind && f->items[i].len == len &&
            memcmp(f->items[i].text, text, len) == 0)
            return;
    item *it = &f->items[f->n++]; /* n <= number of items parsed <= FV_TYPES_MAX_ITEMS */
    it->kind = kind;
    it->len = len;
    memcpy(it->text, text, len);
    it->text[len] = '\0';
}

/* SCREAMING_SNAKE with at least one underscore: A-Z, 0-9, _ only */
static bool looks_legacy(const char *s, size_t len)
{
    bool underscore = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (c == '_')
            underscore = true;
        else if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')))
            return false;
    }
    return underscore;
}

/* true if a and b differ by one insertion, deletion, substitution or adjacent swap */
static bool one_edit_apart(const char *a, size_t la, const char *b, size_t lb)
{
    if (la > lb)
        return one_edit_apart(b, lb, a, la);
    if (lb - la > 1)
        return false;
    size_t i = 0;
    while (i < la && a[i] == b[i])
        i++;
    if (i == la)
        return lb == la + 1;
    if (la == lb) {
        if (!memcmp(a + i + 1, b + i + 1, la - i - 1))
            return true; /* substitution */
        return i + 1 < la && a[i] == b[i + 1] && a[i + 1] == b[i] &&
               !memcmp(a + i + 2, b + i + 2, la - i - 2); /* swap */
    }
    return !memcmp(a + i, b + i + 1, la - i); /* insertion into a */
}

static const char *near_keyword(const char *lc, size_t len)
{
    static const char *const words[] = {"token", "tokens", "progress", "data",
                                        "error", "errors", "events"};
    for (size_t i = 0; i < sizeof words / sizeof words[0]; i++)
        if (one_edit_apart(lc, len, words[i], strlen(words[i])))
            return words[i];
    return NULL;
}

/* One lower-cased, trimmed, non-empty item. raw/raw_len are for the error message. */
static fv_status parse_item(fv_types_filter *f, const char *lc, size_t len, const char *raw,
                            size_t raw_len, int pos, fv_err *err)
{
    for (size_t i = 0; i < sizeof kind_words / sizeof kind_words[0]; i++) {
        if (strlen(kind_words[i].word) == len && memcmp(kind_words[i].word, lc, len) == 0) {
            f->kinds[kind_words[i].kind] = true;
            return FV_OK;
        }
    }
    if ((len == 6 && memcmp(lc, "events", 6) == 0) || (len == 1 && lc[0] == '>')) {
        f->all_events = true;
        return FV_OK;
    }
    if (len == 12 && memcmp(lc, "stream_error", 12) == 0)
        return bad_item(err, raw, raw_len, pos,
                        "the error stream kind is selected with 'error' or 'errors'");

    /* Syntax of a lifecycle item: tokens, whole-token wildcards, '>' last. */
    char probe[FV_TYPE_MAX + 1]; /* wildcards replaced by a literal, for event_type.c's rules */
    size_t tokens = 0, tok_len = 0;
    bool wild = false, has_dot = false;
    for (size_t i = 0; i <= len; i++) {
        char c = i < len ? lc[i] : '.';
        if (c == '.') {
            if (tok_len == 0)
                return bad_item(err, raw, raw_len, pos,
                                "empty token (leading, trailing or double dot)");
            tokens++;
            if (i < len)
                has_dot = true;
            tok_len = 0;
            if (i < len)
                probe[i] = '.';
            continue;
        }
        if (c == '*' || c == '>') {
            bool whole = tok_len == 0 && (i + 1 == len || lc[i + 1] == '.');
            if (!whole)
                return bad_item(err, raw, raw_len, pos,
                                "a wildcard ('*' or '>') must be a whole token");
            if (c == '>' && i + 1 != len)
                return bad_item(err, raw, raw_len, pos, "'>' may only be the last token");
            wild = true;
            probe[i] = 'x';
        } else if (!type_char(c)) {
            return bad_item(err, raw, raw_len, pos,
                            "an event type holds only letters, digits, '_', '-' and dots");
        } else {
            probe[i] = c;
        }
        tok_len++;
    }
    if (tokens > FV_TYPE_TOKENS_MAX)
        return bad_item(err, raw, raw_len, pos, "more than 8 tokens");
    probe[len] = '\0';
    fv_err why = {{0}};
    if (fv_event_type_validate(probe, len, &why) != FV_OK) {
        /* Syntax passed above, so what event_type.c refuses is the first token: a reserved name. */
        if (lc[0] == '*' || lc[0] == '>')
            return bad_item(err, raw, raw_len, pos, why.msg);
        return bad_item(err, raw, raw_len, pos,
                        "its first token is a reserved name, not an event type");
    }
    const char *near = !has_dot && !wild ? near_keyword(lc, len) : NULL;
    if (near) {
        char why_near[48];
        snprintf(why_near, sizeof why_near, "did you mean '%s'?", near);
        return bad_item(err, raw, raw_len, pos, why_near);
    }
    add_item(f, wild ? ITEM_PATTERN : has_dot ? ITEM_EXACT : ITEM_CATEGORY, lc, len);
    return FV_OK;
}

fv_status fv_types_filter_parse(const char *spec, fv_types_default dflt, fv_types_filter **out,
                                fv_err *err)
{
    *out = NULL;
    fv_types_filter *f = calloc(1, filter_size(FV_TYPES_MAX_ITEMS));
    if (!f)
        return fv_err_set(err, FV_ENOMEM, "types: out of memory");
    const char *s = spec ? spec : "";
    bool blank = true;
    for (const char *p = s; *p; p++)
        if (!is_space(*p)) {
            blank = false;
            break;
        }
    if (blank) {
        f->all_events = true;
        if (dflt != FV_TYPES_DEFAULT_LIFECYCLE)
            for (int k = 0; k < FV_KIND_COUNT; k++)
                f->kinds[k] = true;
        fv_types_filter *fit = realloc(f, filter_size(0)); /* the usual case: no items */
        *out = fit ? fit : f;
        return FV_OK;
    }
    int pos = 0;
    const char *p = s;
    for (;;) {
        const char *b = p;
        while (*p && *p != ',')
            p++;
        const char *e = p;
        pos++;
        if (pos > FV_TYPES_MAX_ITEMS) {
            free(f);
            return fv_err_set(err, FV_EINVAL, "types: more than %d items", FV_TYPES_MAX_ITEMS);
        }
        while (b < e && is_space(*b))
            b++;
        while (e > b && is_space(e[-1]))
            e--;
        size_t len = (size_t)(e - b);
        fv_status st = FV_OK;
        if (len == 0) {
            st = fv_err_set(err, FV_EINVAL, "types: empty item at position %d", pos);
        } else if (len > FV_TYPE_MAX) {
            char show[72];
            st = fv_err_set(err, FV_EINVAL,
                            "types: unknown item '%s' at position %d: longer than %d bytes",
                            shown(b, len, show, sizeof show), pos, FV_TYPE_MAX);
        } else {
            char lc[FV_TYPE_MAX + 1];
            for (size_t i = 0; i < len; i++)
                lc[i] = (b[i] >= 'A' && b[i] <= 'Z') ? (char)(b[i] - 'A' + 'a') : b[i];
            lc[len] = '\0';
            /* Flovyn's own names (TASK_CREATED) mean the converted type (task.created) */
            char legacy[FV_TYPE_MAX + 1], dotted[FV_TYPE_MAX + 1];
            size_t dlen = 0;
            if (looks_legacy(b, len)) {
                memcpy(legacy, b, len);
                legacy[len] = '\0';
                if (fv_legacy_to_type(legacy, dotted, sizeof dotted, NULL) == FV_OK)
                    dlen = strlen(dotted);
            }
            st = dlen ? parse_item(f, dotted, dlen, b, len, pos, err)
                      : parse_item(f, lc, len, b, len, pos, err);
        }
        if (st != FV_OK) {
            free(f);
            return st;
        }
        if (!*p)
            break;
        p++; /* the comma */
    }
    fv_types_filter *fit = realloc(f, filter_size(f->n));
    *out = fit ? fit : f;
    return FV_OK;
}

void fv_types_filter_destroy(fv_types_filter *f)
{
    free(f);
}

fv_status fv_types_filter_clone(const fv_types_filter *f, fv_types_filter **out)
{
    *out = NULL;
    if (!f)
        return FV_EINVAL;
    fv_types_filter *c = malloc(filter_size(f->n));
    if (!c)
        return FV_ENOMEM;
    memcpy(c, f, filter_size(f->n));
    *out = c;
    return FV_OK;
}

bool fv_types_filter_match_type(const fv_types_filter *f, const char *event_type)
{
    if (!event_type)
        return false;
    if (!f || f->all_events)
        return true;
    size_t tl = strlen(event_type);
    for (size_t i = 0; i < f->n; i++) {
        const item *it = &f->items[i];
        switch (it->kind) {
        case ITEM_EXACT:
            if (tl == it->len && memcmp(event_type, it->text, tl) == 0)
                return true;
            break;
        case ITEM_CATEGORY:
            if (tl >= it->len && memcmp(event_type, it->text, it->len) == 0 &&
                (tl == it->len || event_type[it->len] == '.'))
                return true;
            break;
        case ITEM_PATTERN:
            if (fv_subject_matches(it->text, event_type))
                return true;
            break;
        }
    }
    return false;
}

bool fv_types_filter_match_kind(const fv_types_filter *f, fv_stream_kind k)
{
    if ((unsigned)k >= FV_KIND_COUNT)
        return false;
    return !f || f->kinds[k];
}

bool fv_types_filter_wants_events(const fv_types_filter *f)
{
    return !f || f->all_events || f->n > 0;
}

bool fv_types_filter_wants_streams(const fv_types_filter *f)
{
    if (!f)
        return true;
    for (int k = 0; k < FV_KIND_COUNT; k++)
        if (f->kinds[k])
            return true;
    return false;
}

bool fv_types_filter_all_events(const fv_types_filter *f)
{
    return !f || f->all_events;
}

/* --- subject suffix ------------------------------------------------------------------------- */

/* A NATS filter over type tokens, as token spans. One more than FV_TYPE_TOKENS_MAX for the `>`
 * a category adds. */
typedef struct tfilter {
    size_t n;
    const char *tok[FV_TYPE_TOKENS_MAX + 1];
    size_t len[FV_TYPE_TOKENS_MAX + 1];
} tfilter;

static void tf_split(tfilter *t, const char *s, size_t len)
{
    t->n = 0;
    size_t b = 0;
    for (size_t i = 0; i <= len && t->n < FV_TYPE_TOKENS_MAX; i++) {
        if (i == len || s[i] == '.') {
            t->tok[t->n] = s + b;
            t->len[t->n++] = i - b;
            b = i + 1;
        }
    }
}

static bool tf_is(const tfilter *t, size_t i, char c)
{
    return t->len[i] == 1 && t->tok[i][0] == c;
}

/* Widens r to the least general filter that also covers f. */
static void tf_merge(tfilter *r, const tfilter *f)
{
    size_t m = r->n < f->n ? r->n : f->n;
    for (size_t i = 0; i < m; i++) {
        if (tf_is(r, i, '>') || tf_is(f, i, '>')) {
            r->tok[i] = ">", r->len[i] = 1, r->n = i + 1;
            return;
        }
        if (r->len[i] != f->len[i] || memcmp(r->tok[i], f->tok[i], r->len[i]) != 0)
            r->tok[i] = "*", r->len[i] = 1;
    }
    if (r->n != f->n) {
        /* different lengths: only a trailing '>' covers both, and it needs one token */
        r->tok[m - 1] = ">", r->len[m - 1] = 1, r->n = m;
    }
}

fv_status fv_types_filter_subject_suffix(const fv_types_filter *f, char *out, size_t cap)
{
    if (!out || cap < 2)
        return FV_ETOOBIG;
    tfilter r = {0};
    bool have = false;
    if (f && !f->all_events) {
        for (size_t i = 0; i < f->n; i++) {
            const item *it = &f->items[i];
            tfilter t;
            tf_split(&t, it->text, it->len);
            for (int pass = 0; pass < (it->kind == ITEM_CATEGORY ? 2 : 1); pass++) {
                if (pass == 1) /* the category's `c.>` half */
                    t.tok[t.n] = ">", t.len[t.n] = 1, t.n++;
                if (!have)
                    r = t, have = true;
                else
                    tf_merge(&r, &t);
            }
        }
    }
    if (!have) {
        r.n = 1;
        r.tok[0] = ">";
        r.len[0] = 1;
    }
    size_t o = 0;
    for (size_t i = 0; i < r.n; i++) {
        size_t need = r.len[i] + (i ? 1 : 0);
        if (o + need + 1 > cap) {
            out[0] = '\0';
            return FV_ETOOBIG;
        }
        if (i)
            out[o++] = '.';
        memcpy(out + o, r.tok[i], r.len[i]);
        o += r.len[i];
    }
    out[o] = '\0';
    return FV_OK;
}

bool fv_types_filter_match_type2(const fv_types_filter *requested, const fv_types_filter *allowed,
                                 const char *event_type)
{
    return fv_types_filter_match_type(requested, event_type) &&
           fv_types_filter_match_type(allowed, event_type);
}

bool fv_types_filter_match_kind2(const fv_types_filter *requested, const fv_types_filter *allowed,
                                 fv_stream_kind k)
{
    return fv_types_filter_match_kind(requested, k) && fv_types_filter_match_kind(allowed, k);
}
