/* Unit tests of types_filter.c: the CONTRACT §4 `types` grammar (the cases of Flovyn's
 * EventTypeFilter and the NATS-wildcard extensions), its errors, matching and subject suffixes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <malloc.h>

#include "flovyn/pattern.h"
#include "flovyn/types_filter.h"

static fv_types_filter *ok(const char *spec, fv_types_default d)
{
    fv_types_filter *f = NULL;
    fv_err err = {{0}};
    fv_status st = fv_types_filter_parse(spec, d, &f, &err);
    if (st != FV_OK)
        fail_msg("types '%s' refused: %s", spec ? spec : "(null)", err.msg);
    assert_non_null(f);
    return f;
}

/* Parses expecting an error; returns the message. */
static const char *bad(const char *spec)
{
    static fv_err err;
    memset(&err, 0, sizeof err);
    fv_types_filter *f = (fv_types_filter *)1;
    fv_status st = fv_types_filter_parse(spec, FV_TYPES_DEFAULT_ALL, &f, &err);
    if (st != FV_EINVAL)
        fail_msg("types '%s' was accepted", spec);
    assert_null(f);
    assert_true(strncmp(err.msg, "types: ", 7) == 0);
    return err.msg;
}

static bool kinds_are(const fv_types_filter *f, bool t, bool p, bool d, bool e)
{
    return fv_types_filter_match_kind(f, FV_KIND_TOKEN) == t &&
           fv_types_filter_match_kind(f, FV_KIND_PROGRESS) == p &&
           fv_types_filter_match_kind(f, FV_KIND_DATA) == d &&
           fv_types_filter_match_kind(f, FV_KIND_ERROR) == e;
}

static const char *suffix(const fv_types_filter *f)
{
    static char out[160];
    assert_int_equal(fv_types_filter_subject_suffix(f, out, sizeof out), FV_OK);
    return out;
}

/* --- Flovyn EventTypeFilter cases ----------------------------------------------------------- */

static void test_types_filter_empty_selects_everything(void **state)
{
    const char *specs[] = {NULL, "", "   ", "\t \r\n"};
    for (size_t i = 0; i < 4; i++) {
        fv_types_filter *f = ok(specs[i], FV_TYPES_DEFAULT_ALL);
        assert_true(kinds_are(f, true, true, true, true));
        assert_true(fv_types_filter_all_events(f));
        assert_true(fv_types_filter_wants_events(f));
        assert_true(fv_types_filter_wants_streams(f));
        assert_true(fv_types_filter_match_type(f, "workflow.started"));
        assert_true(fv_types_filter_match_type(f, "anything"));
        assert_string_equal(suffix(f), ">");
        fv_types_filter_destroy(f);
    }
}

static void test_types_filter_empty_on_tenant_stream_is_lifecycle_only(void **state)
{
    fv_types_filter *f = ok("", FV_TYPES_DEFAULT_LIFECYCLE);
    assert_true(kinds_are(f, false, false, false, false));
    assert_false(fv_types_filter_wants_streams(f));
    assert_true(fv_types_filter_wants_events(f));
    assert_true(fv_types_filter_all_events(f));
    assert_true(fv_types_filter_match_type(f, "task.completed"));
    fv_types_filter_destroy(f);
    /* an explicit stream kind selects the tenant's stream events too */
    f = ok("token", FV_TYPES_DEFAULT_LIFECYCLE);
    assert_true(kinds_are(f, true, false, false, false));
    assert_false(fv_types_filter_wants_events(f));
    fv_types_filter_destroy(f);
}

static void test_types_filter_single_stream_kind(void **state)
{
    fv_types_filter *f = ok("token", FV_TYPES_DEFAULT_ALL);
    assert_true(kinds_are(f, true, false, false, false));
    assert_false(fv_types_filter_wants_events(f));
    assert_false(fv_types_filter_all_events(f));
    assert_false(fv_types_filter_match_type(f, "task.completed"));
    assert_true(fv_types_filter_wants_streams(f));
    fv_types_filter_destroy(f);
}

static void test_types_filter_multiple_stream_kinds(void **state)
{
    fv_types_filter *f = ok("token,progress", FV_TYPES_DEFAULT_ALL);
    assert_true(kinds_are(f, true, true, false, false));
    fv_types_filter_destroy(f);
    f = ok("data,error", FV_TYPES_DEFAULT_ALL);
    assert_true(kinds_are(f, false, false, true, true));
    fv_types_filter_destroy(f);
}

static void test_types_filter_plural_stream_kinds(void **state)
{
    fv_types_filter *f = ok("tokens,errors", FV_TYPES_DEFAULT_ALL);
    assert_true(kinds_are(f, true, false, false, true));
    fv_types_filter_destroy(f);
    f = ok("token,tokens", FV_TYPES_DEFAULT_ALL);
    assert_true(kinds_are(f, true, false, false, false));
    fv_types_filter_destroy(f);
}

static void test_types_filter_exact_lifecycle_type(void **state)
{
    fv_types_filter *f = ok("task.completed", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "task.completed"));
    assert_false(fv_types_filter_match_type(f, "task.failed"));
    assert_false(fv_types_filter_match_type(f, "task"));
    assert_false(fv_types_filter_match_type(f, "task.completed.extra"));
    assert_false(fv_types_filter_match_type(f, "task.completedx"));
    assert_false(fv_types_filter_wants_streams(f));
    assert_true(fv_types_filter_wants_events(f));
    assert_false(fv_types_filter_all_events(f));
    assert_string_equal(suffix(f), "task.completed");
    fv_types_filter_destroy(f);
}

static void test_types_filter_bare_category_matches_type_and_category(void **state)
{
    fv_types_filter *f = ok("task", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "task"));
    assert_true(fv_types_filter_match_type(f, "task.created"));
    assert_true(fv_types_filter_match_type(f, "task.a.b.c"));
    assert_false(fv_types_filter_match_type(f, "tasks.created"));
    assert_false(fv_types_filter_match_type(f, "tas"));
    assert_false(fv_types_filter_match_type(f, "workflow.task"));
    assert_false(fv_types_filter_match_type(f, "task_x.created"));
    /* `task` OR `task.>` is not one NATS subject: the suffix must cover both */
    assert_string_equal(suffix(f), ">");
    fv_types_filter_destroy(f);
}

static void test_types_filter_mixed_kinds_and_lifecycle(void **state)
{
    fv_types_filter *f = ok("token,workflow.completed,task", FV_TYPES_DEFAULT_ALL);
    assert_true(kinds_are(f, true, false, false, false));
    assert_true(fv_types_filter_wants_events(f));
    assert_true(fv_types_filter_wants_streams(f));
    assert_true(fv_types_filter_match_type(f, "workflow.completed"));
    assert_false(fv_types_filter_match_type(f, "workflow.started"));
    assert_true(fv_types_filter_match_type(f, "task.failed"));
    fv_types_filter_destroy(f);
}

static void test_types_filter_is_case_insensitive(void **state)
{
    fv_types_filter *f = ok("TOKEN,Progress,Task.Completed,WORKFLOW", FV_TYPES_DEFAULT_ALL);
    assert_true(kinds_are(f, true, true, false, false));
    assert_true(fv_types_filter_match_type(f, "task.completed"));
    assert_true(fv_types_filter_match_type(f, "workflow.started"));
    assert_false(fv_types_filter_match_type(f, "task.failed"));
    fv_types_filter_destroy(f);
}

static void test_types_filter_trims_whitespace(void **state)
{
    fv_types_filter *f = ok("  token , \tdata\t,  task.completed  ", FV_TYPES_DEFAULT_ALL);
    assert_true(kinds_are(f, true, false, true, false));
    assert_true(fv_types_filter_match_type(f, "task.completed"));
    fv_types_filter_destroy(f);
}

static void test_types_filter_events_keyword_selects_all_lifecycle(void **state)
{
    fv_types_filter *f = ok("events", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_all_events(f));
    assert_true(fv_types_filter_match_type(f, "workflow.started"));
    assert_true(fv_types_filter_match_type(f, "custom"));
    assert_true(kinds_are(f, false, false, false, false));
    assert_string_equal(suffix(f), ">");
    fv_types_filter_destroy(f);
    f = ok("events,token", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_all_events(f));
    assert_true(kinds_are(f, true, false, false, false));
    fv_types_filter_destroy(f);
}

static void test_types_filter_unknown_item_is_an_error_naming_item_and_position(void **state)
{
    const char *msg = bad("token,tok*nz");
    assert_non_null(strstr(msg, "'tok*nz'"));
    assert_non_null(strstr(msg, "at position 2"));
    msg = bad("token,progress,task..done");
    assert_non_null(strstr(msg, "'task..done'"));
    assert_non_null(strstr(msg, "at position 3"));
    /* the message shows the item as the user wrote it, before lower-casing */
    msg = bad("Task!");
    assert_non_null(strstr(msg, "'Task!'"));
    assert_non_null(strstr(msg, "at position 1"));
}

static void test_types_filter_all_stream_kinds_without_lifecycle(void **state)
{
    fv_types_filter *f = ok("token,progress,data,error", FV_TYPES_DEFAULT_ALL);
    assert_true(kinds_are(f, true, true, true, true));
    assert_false(fv_types_filter_wants_events(f));
    assert_false(fv_types_filter_match_type(f, "workflow.started"));
    fv_types_filter_destroy(f);
}

static void test_types_filter_lifecycle_only_excludes_streams(void **state)
{
    fv_types_filter *f = ok("workflow.started,workflow.completed", FV_TYPES_DEFAULT_ALL);
    assert_true(kinds_are(f, false, false, false, false));
    assert_false(fv_types_filter_wants_streams(f));
    assert_true(fv_types_filter_match_type(f, "workflow.completed"));
    fv_types_filter_destroy(f);
}

/* --- wildcards ------------------------------------------------------------------------------ */

static void test_types_filter_star_matches_one_token(void **state)
{
    fv_types_filter *f = ok("workflow.*", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "workflow.started"));
    assert_false(fv_types_filter_match_type(f, "workflow"));
    assert_false(fv_types_filter_match_type(f, "workflow.a.b"));
    assert_false(fv_types_filter_match_type(f, "task.started"));
    assert_string_equal(suffix(f), "workflow.*");
    fv_types_filter_destroy(f);

    f = ok("*.failed", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "task.failed"));
    assert_true(fv_types_filter_match_type(f, "workflow.failed"));
    assert_false(fv_types_filter_match_type(f, "failed"));
    assert_false(fv_types_filter_match_type(f, "child_workflow.x.failed"));
    assert_string_equal(suffix(f), "*.failed");
    fv_types_filter_destroy(f);

    f = ok("task.*.x", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "task.a.x"));
    assert_false(fv_types_filter_match_type(f, "task.a.y"));
    fv_types_filter_destroy(f);

    f = ok("*", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "custom"));
    assert_false(fv_types_filter_match_type(f, "task.completed"));
    fv_types_filter_destroy(f);
}

static void test_types_filter_gt_matches_one_or_more_trailing_tokens(void **state)
{
    fv_types_filter *f = ok("child_workflow.>", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "child_workflow.initiated"));
    assert_true(fv_types_filter_match_type(f, "child_workflow.cancellation_requested"));
    assert_true(fv_types_filter_match_type(f, "child_workflow.a.b.c"));
    assert_false(fv_types_filter_match_type(f, "child_workflow"));
    assert_false(fv_types_filter_match_type(f, "workflow.started"));
    assert_string_equal(suffix(f), "child_workflow.>");
    fv_types_filter_destroy(f);

    f = ok(">", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_all_events(f));
    assert_true(kinds_are(f, false, false, false, false));
    assert_true(fv_types_filter_match_type(f, "x"));
    assert_string_equal(suffix(f), ">");
    fv_types_filter_destroy(f);
}

static void test_types_filter_rejects_wildcard_in_middle(void **state)
{
    const char *msg = bad("task.>.completed");
    assert_non_null(strstr(msg, "last token"));
    bad(">.x");
    bad("a.>.>");
}

static void test_types_filter_rejects_partial_token_wildcards(void **state)
{
    const char *msg = bad("ta*");
    assert_non_null(strstr(msg, "whole token"));
    bad("task.comp*");
    bad("*task");
    bad("task.>x");
    bad("task.x>");
    bad("**");
    bad(">>");
    bad("*>");
}

static void test_types_filter_rejects_hostile_items(void **state)
{
    const char *items[] = {
        "..",
        ".",
        "a.",
        ".a",
        "a..b",
        "task completed",
        "task%2ecompleted",
        "task/completed",
        "task\\.completed",
        "tâche",
        "task\x01",
        "a.b.c.d.e.f.g.h.i",
        "task.completed\x7f",
        "ÄÖ",
        "'",
        "\"x\"",
        "<script>",
        "task:completed",
        "task;x",
        "{}",
    };
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++)
        bad(items[i]);
}

static void test_types_filter_rejects_reserved_names_as_lifecycle_types(void **state)
{
    const char *items[] = {
        "gap",      "end",       "overloaded", "auth_expired", "message",          "open",
        "gap.x",    "token.*",   "data.>",     "error.failed", "events.completed", "stream_error",
        "tokens.x", "progress.*"};
    for (size_t i = 0; i < sizeof items / sizeof items[0]; i++) {
        const char *msg = bad(items[i]);
        assert_non_null(strstr(msg, "position 1"));
    }
    const char *msg = bad("stream_error");
    assert_non_null(strstr(msg, "'error'"));
}

static void test_types_filter_rejects_empty_items_naming_position(void **state)
{
    const char *msg = bad("token,,data");
    assert_non_null(strstr(msg, "empty item at position 2"));
    msg = bad("token,");
    assert_non_null(strstr(msg, "empty item at position 2"));
    msg = bad(",token");
    assert_non_null(strstr(msg, "empty item at position 1"));
    msg = bad("token, ,data");
    assert_non_null(strstr(msg, "position 2"));
    bad(",");
}

static void test_types_filter_limits_item_count_and_length(void **state)
{
    char spec[4096] = "";
    for (int i = 0; i < FV_TYPES_MAX_ITEMS; i++) {
        char item[32];
        snprintf(item, sizeof item, "%scat%d", i ? "," : "", i);
        strcat(spec, item);
    }
    fv_types_filter *f = ok(spec, FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "cat31.x"));
    assert_false(fv_types_filter_match_type(f, "cat32"));
    fv_types_filter_destroy(f);
    strcat(spec, ",cat32");
    const char *msg = bad(spec);
    assert_non_null(strstr(msg, "more than 32 items"));

    /* 128 bytes is the longest event type; 129 is refused */
    char item[200];
    memset(item, 'a', 128);
    item[128] = '\0';
    f = ok(item, FV_TYPES_DEFAULT_ALL);
    fv_types_filter_destroy(f);
    memset(item, 'a', 129);
    item[129] = '\0';
    msg = bad(item);
    assert_non_null(strstr(msg, "longer than 128"));
    assert_true(strlen(msg) < FV_ERR_MSG_MAX);
}

static void test_types_filter_eight_tokens_allowed_nine_refused(void **state)
{
    fv_types_filter *f = ok("a.b.c.d.e.f.g.h", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "a.b.c.d.e.f.g.h"));
    fv_types_filter_destroy(f);
    f = ok("a.b.c.d.e.f.g.>", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "a.b.c.d.e.f.g.h"));
    fv_types_filter_destroy(f);
    assert_non_null(strstr(bad("a.b.c.d.e.f.g.h.i"), "8 tokens"));
}

static void test_types_filter_error_message_sanitizes_item(void **state)
{
    const char *msg = bad("token,\r\nevil\x1b[31m");
    assert_null(strchr(msg, '\r'));
    assert_null(strchr(msg, '\n'));
    assert_null(strchr(msg, '\x1b'));
    assert_non_null(strstr(msg, "position 2"));
}

static void test_types_filter_rejects_near_miss_of_keyword_with_suggestion(void **state)
{
    const char *msg = bad("data,tokenz");
    assert_non_null(strstr(msg, "'tokenz' at position 2"));
    assert_non_null(strstr(msg, "did you mean 'token'"));
    assert_non_null(strstr(bad("event"), "did you mean 'events'"));
    assert_non_null(strstr(bad("progres"), "did you mean 'progress'"));
    assert_non_null(strstr(bad("erorr"), "did you mean 'error'"));
    /* real categories further away stay categories */
    fv_types_filter *f = ok("task,state,retry,timer", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "state.updated"));
    fv_types_filter_destroy(f);
}

static void test_types_filter_legacy_screaming_names_select_converted_types(void **state)
{
    /* Flovyn's upper-case names select the converted type, as on ingest; lower-case stays a
     * one-token category */
    fv_types_filter *f =
        ok("TASK_CREATED, CHILD_WORKFLOW_CANCELLATION_REQUESTED", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "task.created"));
    assert_true(fv_types_filter_match_type(f, "child_workflow.cancellation_requested"));
    assert_false(fv_types_filter_match_type(f, "task_created"));
    assert_false(fv_types_filter_match_type(f, "task.completed"));
    fv_types_filter_destroy(f);
    f = ok("task_created", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type(f, "task_created"));
    assert_false(fv_types_filter_match_type(f, "task.created"));
    fv_types_filter_destroy(f);
}

/* --- subject suffix ------------------------------------------------------------------------- */

static void test_types_filter_suffix_is_narrowest_common_filter(void **state)
{
    struct {
        const char *spec, *want;
    } cases[] = {
        {"task.completed", "task.completed"},
        {"task.completed,task.failed", "task.*"},
        {"task.completed,workflow.completed", "*.completed"},
        {"task.completed,workflow.started", "*.*"},
        {"task.completed,task.>", "task.>"},
        {"task.a.b,task.c", "task.>"},
        {"task.completed,task", ">"},
        {"workflow.*,*.failed", "*.*"},
        {"a.b.c,a.b.d", "a.b.*"},
        {"token,task.completed", "task.completed"},
        {"task.completed,events", ">"},
        {"token", ">"},
        {"task.completed,task.completed", "task.completed"},
        {"*", "*"},
        {"x,y", ">"}, /* categories: x OR x.> OR y OR y.> */
        {"x,y.z", ">"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        fv_types_filter *f = ok(cases[i].spec, FV_TYPES_DEFAULT_ALL);
        const char *got = suffix(f);
        if (strcmp(got, cases[i].want) != 0)
            fail_msg("suffix of '%s' = '%s', want '%s'", cases[i].spec, got, cases[i].want);
        fv_types_filter_destroy(f);
    }
}

/* The suffix must be a superset of the filter: every type the filter matches matches the suffix. */
static void test_types_filter_suffix_never_narrower_than_filter(void **state)
{
    const char *specs[] = {"task.completed,task.failed",
                           "task",
                           "workflow.*,task.created",
                           "a.b.c,a.>",
                           "x,y,z",
                           "*.failed,child_workflow.>",
                           "q.w.e.r,q.w",
                           "t"};
    const char *types[] = {"task",        "task.completed",
                           "task.failed", "task.a.b",
                           "workflow.x",  "a.b.c",
                           "a.b",         "a.q.r.s",
                           "x",           "y",
                           "z",           "z.z",
                           "q.w.e.r",     "q.w",
                           "q.w.e",       "child_workflow.a.b",
                           "t",           "t.u"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        fv_types_filter *f = ok(specs[i], FV_TYPES_DEFAULT_ALL);
        const char *sfx = suffix(f);
        for (size_t j = 0; j < sizeof types / sizeof types[0]; j++)
            if (fv_types_filter_match_type(f, types[j]) && !fv_subject_matches(sfx, types[j]))
                fail_msg("'%s' matches '%s' but not its suffix '%s'", types[j], specs[i], sfx);
        fv_types_filter_destroy(f);
    }
}

static void test_types_filter_suffix_refuses_small_buffer(void **state)
{
    fv_types_filter *f = ok("task.completed", FV_TYPES_DEFAULT_ALL);
    char out[8];
    assert_int_equal(fv_types_filter_subject_suffix(f, out, sizeof out), FV_ETOOBIG);
    fv_types_filter_destroy(f);
}

/* --- clone, NULL, allowed ------------------------------------------------------------------- */

static void test_types_filter_clone_is_independent_and_equal(void **state)
{
    fv_types_filter *f = ok("token,task.*", FV_TYPES_DEFAULT_ALL), *c = NULL;
    assert_int_equal(fv_types_filter_clone(f, &c), FV_OK);
    fv_types_filter_destroy(f);
    assert_true(kinds_are(c, true, false, false, false));
    assert_true(fv_types_filter_match_type(c, "task.x"));
    assert_false(fv_types_filter_match_type(c, "workflow.x"));
    fv_types_filter_destroy(c);
    fv_types_filter_destroy(NULL);
}

static void test_types_filter_null_filter_means_everything(void **state)
{
    assert_true(fv_types_filter_match_type(NULL, "task.completed"));
    assert_true(kinds_are(NULL, true, true, true, true));
    assert_true(fv_types_filter_wants_events(NULL));
    assert_true(fv_types_filter_wants_streams(NULL));
    assert_true(fv_types_filter_all_events(NULL));
    assert_false(fv_types_filter_match_type(NULL, NULL));
    assert_false(fv_types_filter_match_kind(NULL, FV_KIND_COUNT));
}

static void test_types_filter_allowed_claim_restricts_request(void **state)
{
    fv_types_filter *req = ok("task,token,data", FV_TYPES_DEFAULT_ALL);
    fv_types_filter *allowed = ok("task.completed,token", FV_TYPES_DEFAULT_ALL);
    assert_true(fv_types_filter_match_type2(req, allowed, "task.completed"));
    assert_false(fv_types_filter_match_type2(req, allowed, "task.failed"));
    assert_false(fv_types_filter_match_type2(req, allowed, "workflow.started"));
    assert_true(fv_types_filter_match_kind2(req, allowed, FV_KIND_TOKEN));
    assert_false(fv_types_filter_match_kind2(req, allowed, FV_KIND_DATA));
    /* no claim: no restriction; no request: the claim alone */
    assert_true(fv_types_filter_match_type2(req, NULL, "task.failed"));
    assert_false(fv_types_filter_match_type2(NULL, allowed, "task.failed"));
    assert_true(fv_types_filter_match_kind2(NULL, allowed, FV_KIND_TOKEN));
    fv_types_filter_destroy(req);
    fv_types_filter_destroy(allowed);
}

/* Every SSE connection holds a filter for its whole life, most with no `types` at all: the
 * filter takes the room of what was parsed, never that of the 32-item maximum (4.6 KB). */
static void test_types_filter_holds_only_the_room_of_its_items(void **state)
{
    (void)state;
    const char *specs[] = {NULL, "", "  ", "events", "token,task.completed"};
    for (size_t i = 0; i < sizeof specs / sizeof specs[0]; i++) {
        fv_types_filter *f = ok(specs[i], FV_TYPES_DEFAULT_ALL);
        if (malloc_usable_size(f) > 512)
            fail_msg("types '%s': %zu bytes", specs[i] ? specs[i] : "(null)",
                     malloc_usable_size(f));
        fv_types_filter *c = NULL;
        assert_int_equal(fv_types_filter_clone(f, &c), FV_OK);
        assert_true(malloc_usable_size(c) <= 512);
        fv_types_filter_destroy(c);
        fv_types_filter_destroy(f);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_types_filter_empty_selects_everything),
        cmocka_unit_test(test_types_filter_holds_only_the_room_of_its_items),
        cmocka_unit_test(test_types_filter_empty_on_tenant_stream_is_lifecycle_only),
        cmocka_unit_test(test_types_filter_single_stream_kind),
        cmocka_unit_test(test_types_filter_multiple_stream_kinds),
        cmocka_unit_test(test_types_filter_plural_stream_kinds),
        cmocka_unit_test(test_types_filter_exact_lifecycle_type),
        cmocka_unit_test(test_types_filter_bare_category_matches_type_and_category),
        cmocka_unit_test(test_types_filter_mixed_kinds_and_lifecycle),
        cmocka_unit_test(test_types_filter_is_case_insensitive),
        cmocka_unit_test(test_types_filter_trims_whitespace),
        cmocka_unit_test(test_types_filter_events_keyword_selects_all_lifecycle),
        cmocka_unit_test(test_types_filter_unknown_item_is_an_error_naming_item_and_position),
        cmocka_unit_test(test_types_filter_all_stream_kinds_without_lifecycle),
        cmocka_unit_test(test_types_filter_lifecycle_only_excludes_streams),
        cmocka_unit_test(test_types_filter_star_matches_one_token),
        cmocka_unit_test(test_types_filter_gt_matches_one_or_more_trailing_tokens),
        cmocka_unit_test(test_types_filter_rejects_wildcard_in_middle),
        cmocka_unit_test(test_types_filter_rejects_partial_token_wildcards),
        cmocka_unit_test(test_types_filter_rejects_hostile_items),
        cmocka_unit_test(test_types_filter_rejects_reserved_names_as_lifecycle_types),
        cmocka_unit_test(test_types_filter_rejects_empty_items_naming_position),
        cmocka_unit_test(test_types_filter_limits_item_count_and_length),
        cmocka_unit_test(test_types_filter_eight_tokens_allowed_nine_refused),
        cmocka_unit_test(test_types_filter_error_message_sanitizes_item),
        cmocka_unit_test(test_types_filter_rejects_near_miss_of_keyword_with_suggestion),
        cmocka_unit_test(test_types_filter_legacy_screaming_names_select_converted_types),
        cmocka_unit_test(test_types_filter_suffix_is_narrowest_common_filter),
        cmocka_unit_test(test_types_filter_suffix_never_narrower_than_filter),
        cmocka_unit_test(test_types_filter_suffix_refuses_small_buffer),
        cmocka_unit_test(test_types_filter_clone_is_independent_and_equal),
        cmocka_unit_test(test_types_filter_null_filter_means_everything),
        cmocka_unit_test(test_types_filter_allowed_claim_restricts_request),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
