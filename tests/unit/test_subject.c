/* Unit tests of subject.c: canonical and live subjects, prefix rules, and parsing back to parts,
 * including every way a hostile id or type could try to bend a subject. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flovyn/subject.h"

static void ev_set(fv_event *ev, const char *t, const char *w, const char *k, const char *type)
{
    fv_event_init(ev);
    snprintf(ev->tenant_id, sizeof ev->tenant_id, "%s", t);
    snprintf(ev->workflow_execution_id, sizeof ev->workflow_execution_id, "%s", w);
    snprintf(ev->task_execution_id, sizeof ev->task_execution_id, "%s", k);
    snprintf(ev->event_type, sizeof ev->event_type, "%s", type);
}

static void se_set(fv_stream_event *se, const char *t, const char *w, const char *k,
                   fv_stream_kind kind)
{
    fv_stream_event_init(se);
    snprintf(se->tenant_id, sizeof se->tenant_id, "%s", t);
    snprintf(se->workflow_execution_id, sizeof se->workflow_execution_id, "%s", w);
    snprintf(se->task_execution_id, sizeof se->task_execution_id, "%s", k);
    se->kind = kind;
}

static void test_subject_prefix_rules(void **state)
{
    assert_int_equal(fv_prefix_validate("flovyn", NULL), FV_OK);
    assert_int_equal(fv_prefix_validate("acme.prod-1", NULL), FV_OK);
    assert_int_equal(fv_prefix_validate("A_b", NULL), FV_OK);
    const char *bad[] = {"", ".", "a.", ".a", "a..b", "a.*", ">", "a b", "a/b", "ä", "a.>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fv_err err = {{0}};
        if (fv_prefix_validate(bad[i], &err) != FV_EINVAL)
            fail_msg("prefix '%s' accepted", bad[i]);
        assert_true(strncmp(err.msg, "prefix: ", 8) == 0);
    }
    assert_int_equal(fv_prefix_validate(NULL, NULL), FV_EINVAL);
    char long_prefix[80];
    memset(long_prefix, 'a', 64);
    long_prefix[64] = '\0';
    assert_int_equal(fv_prefix_validate(long_prefix, NULL), FV_OK);
    long_prefix[64] = 'a';
    long_prefix[65] = '\0';
    assert_int_equal(fv_prefix_validate(long_prefix, NULL), FV_EINVAL);
}

static void test_subject_for_event_uses_underscore_for_none(void **state)
{
    fv_event ev;
    char out[FV_SUBJECT_MAX];
    ev_set(&ev, "t1", "", "", "workflow.started");
    assert_int_equal(fv_subject_for_event(NULL, &ev, out, sizeof out, NULL), FV_OK);
    assert_string_equal(out, "flovyn.v1.events.t1._._.workflow.started");
    ev_set(&ev, "t1", "w1", "", "workflow.started");
    assert_int_equal(fv_subject_for_event("flovyn", &ev, out, sizeof out, NULL), FV_OK);
    assert_string_equal(out, "flovyn.v1.events.t1.w1._.workflow.started");
    ev_set(&ev, "t1", "w1", "k1", "task.completed");
    assert_int_equal(fv_subject_for_event("acme.prod", &ev, out, sizeof out, NULL), FV_OK);
    assert_string_equal(out, "acme.prod.v1.events.t1.w1.k1.task.completed");
    ev_set(&ev, "t1", "", "k1", "custom");
    assert_int_equal(fv_subject_for_event("", &ev, out, sizeof out, NULL), FV_OK);
    assert_string_equal(out, "flovyn.v1.events.t1._.k1.custom");
    fv_event_clear(&ev);
}

static void test_subject_for_stream_event(void **state)
{
    fv_stream_event se;
    char out[FV_SUBJECT_MAX];
    se_set(&se, "t1", "w1", "", FV_KIND_TOKEN);
    assert_int_equal(fv_subject_for_stream_event(NULL, &se, out, sizeof out, NULL), FV_OK);
    assert_string_equal(out, "flovyn.v1.streams.t1.w1._.token");
    se_set(&se, "t1", "w1", "k1", FV_KIND_ERROR);
    assert_int_equal(fv_subject_for_stream_event(NULL, &se, out, sizeof out, NULL), FV_OK);
    assert_string_equal(out, "flovyn.v1.streams.t1.w1.k1.error");
    se_set(&se, "t1", "w1", "k1", FV_KIND_PROGRESS);
    assert_int_equal(fv_subject_for_stream_event(NULL, &se, out, sizeof out, NULL), FV_OK);
    assert_string_equal(out, "flovyn.v1.streams.t1.w1.k1.progress");
    se_set(&se, "t1", "w1", "k1", FV_KIND_DATA);
    assert_int_equal(fv_subject_for_stream_event(NULL, &se, out, sizeof out, NULL), FV_OK);
    assert_string_equal(out, "flovyn.v1.streams.t1.w1.k1.data");

    /* a stream event always belongs to a workflow */
    fv_err err = {{0}};
    se_set(&se, "t1", "", "k1", FV_KIND_TOKEN);
    assert_int_equal(fv_subject_for_stream_event(NULL, &se, out, sizeof out, &err), FV_EINVAL);
    assert_non_null(strstr(err.msg, "workflow_execution_id"));
    se_set(&se, "t1", "w1", "", (fv_stream_kind)7);
    assert_int_equal(fv_subject_for_stream_event(NULL, &se, out, sizeof out, NULL), FV_EINVAL);
}

static void test_subject_builders_reject_wildcards_and_dots_in_ids(void **state)
{
    const char *ids[] = {"*", ">", "a.b", "a b", "_", "a*", "t>", "..", "a%2eb", "t\n", "ä"};
    char out[FV_SUBJECT_MAX];
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        fv_event ev;
        fv_err err = {{0}};
        ev_set(&ev, ids[i], "w", "k", "task.completed");
        if (fv_subject_for_event(NULL, &ev, out, sizeof out, &err) != FV_EINVAL)
            fail_msg("tenant '%s' accepted", ids[i]);
        assert_non_null(strstr(err.msg, "tenant_id"));
        ev_set(&ev, "t", ids[i], "k", "task.completed");
        if (fv_subject_for_event(NULL, &ev, out, sizeof out, &err) != FV_EINVAL)
            fail_msg("workflow '%s' accepted", ids[i]);
        ev_set(&ev, "t", "w", ids[i], "task.completed");
        if (fv_subject_for_event(NULL, &ev, out, sizeof out, &err) != FV_EINVAL)
            fail_msg("task '%s' accepted", ids[i]);
        fv_stream_event se;
        se_set(&se, "t", ids[i], "", FV_KIND_TOKEN);
        if (fv_subject_for_stream_event(NULL, &se, out, sizeof out, NULL) != FV_EINVAL)
            fail_msg("stream workflow '%s' accepted", ids[i]);
    }
    fv_event ev;
    ev_set(&ev, "", "w", "k", "task.completed");
    assert_int_equal(fv_subject_for_event(NULL, &ev, out, sizeof out, NULL), FV_EINVAL);
}

static void test_subject_builders_reject_bad_event_types(void **state)
{
    const char *types[] = {"",      "task.*", "task.>", ">",       "task..x", ".task",
                           "task.", "Task.X", "gap",    "token.x", "a b",     "a.b.c.d.e.f.g.h.i"};
    char out[FV_SUBJECT_MAX];
    for (size_t i = 0; i < sizeof types / sizeof types[0]; i++) {
        fv_event ev;
        ev_set(&ev, "t", "w", "k", types[i]);
        if (fv_subject_for_event(NULL, &ev, out, sizeof out, NULL) != FV_EINVAL)
            fail_msg("event_type '%s' accepted", types[i]);
    }
}

static void test_subject_builders_reject_bad_prefix_and_small_buffer(void **state)
{
    fv_event ev;
    ev_set(&ev, "t", "w", "k", "task.completed");
    char out[FV_SUBJECT_MAX];
    assert_int_equal(fv_subject_for_event("a.*", &ev, out, sizeof out, NULL), FV_EINVAL);
    assert_int_equal(fv_subject_for_event("a..b", &ev, out, sizeof out, NULL), FV_EINVAL);
    char small[16];
    assert_int_equal(fv_subject_for_event(NULL, &ev, small, sizeof small, NULL), FV_ETOOBIG);
    assert_string_equal(small, "");
}

static void test_subject_roots_and_live_subjects(void **state)
{
    char out[128];
    assert_int_equal(fv_subject_events_all(NULL, out, sizeof out), FV_OK);
    assert_string_equal(out, "flovyn.v1.events.>");
    assert_int_equal(fv_subject_streams_all("acme", out, sizeof out), FV_OK);
    assert_string_equal(out, "acme.v1.streams.>");
    assert_int_equal(fv_subject_live_events(NULL, out, sizeof out), FV_OK);
    assert_string_equal(out, "flovyn.v1.live.events");
    assert_int_equal(fv_subject_live_streams("x.y", out, sizeof out), FV_OK);
    assert_string_equal(out, "x.y.v1.live.streams");
    assert_int_equal(fv_subject_events_all("a.>", out, sizeof out), FV_EINVAL);
    char small[8];
    assert_int_equal(fv_subject_events_all(NULL, small, sizeof small), FV_ETOOBIG);
}

static void test_subject_parse_round_trips_events(void **state)
{
    struct {
        const char *t, *w, *k, *type;
    } cases[] = {{"t1", "", "", "workflow.started"},
                 {"t1", "w1", "", "workflow.completed"},
                 {"t1", "w1", "k1", "task.completed"},
                 {"t1", "", "k1", "custom"},
                 {"550e8400-e29b-41d4-a716-446655440000", "w_1", "k-1", "a.b.c.d.e.f.g.h"}};
    const char *prefixes[] = {NULL, "acme.prod"};
    for (size_t p = 0; p < 2; p++)
        for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
            fv_event ev;
            ev_set(&ev, cases[i].t, cases[i].w, cases[i].k, cases[i].type);
            char subj[FV_SUBJECT_MAX];
            assert_int_equal(fv_subject_for_event(prefixes[p], &ev, subj, sizeof subj, NULL),
                             FV_OK);
            fv_subject_parts parts;
            fv_err err = {{0}};
            if (fv_subject_parse(prefixes[p], subj, &parts, &err) != FV_OK)
                fail_msg("parse '%s': %s", subj, err.msg);
            assert_int_equal(parts.is_stream, 0);
            assert_string_equal(parts.tenant_id, cases[i].t);
            assert_string_equal(parts.workflow_execution_id, cases[i].w);
            assert_string_equal(parts.task_execution_id, cases[i].k);
            assert_string_equal(parts.event_type, cases[i].type);
        }
}

static void test_subject_parse_round_trips_stream_events(void **state)
{
    for (int k = 0; k < FV_KIND_COUNT; k++) {
        fv_stream_event se;
        se_set(&se, "t1", "w1", k % 2 ? "k1" : "", (fv_stream_kind)k);
        char subj[FV_SUBJECT_MAX];
        assert_int_equal(fv_subject_for_stream_event(NULL, &se, subj, sizeof subj, NULL), FV_OK);
        fv_subject_parts parts;
        assert_int_equal(fv_subject_parse(NULL, subj, &parts, NULL), FV_OK);
        assert_int_equal(parts.is_stream, 1);
        assert_string_equal(parts.tenant_id, "t1");
        assert_string_equal(parts.workflow_execution_id, "w1");
        assert_string_equal(parts.task_execution_id, k % 2 ? "k1" : "");
        assert_int_equal(parts.kind, k);
    }
}

static void test_subject_parse_accepts_live_form(void **state)
{
    fv_subject_parts parts;
    assert_int_equal(
        fv_subject_parse(NULL, "flovyn.v1.live.events.t1.w1._.task.completed", &parts, NULL),
        FV_OK);
    assert_int_equal(parts.is_stream, 0);
    assert_string_equal(parts.tenant_id, "t1");
    assert_string_equal(parts.workflow_execution_id, "w1");
    assert_string_equal(parts.task_execution_id, "");
    assert_string_equal(parts.event_type, "task.completed");
    assert_int_equal(fv_subject_parse("p", "p.v1.live.streams.t1.w1.k1.progress", &parts, NULL),
                     FV_OK);
    assert_int_equal(parts.is_stream, 1);
    assert_string_equal(parts.task_execution_id, "k1");
    assert_int_equal(parts.kind, FV_KIND_PROGRESS);
}

static void test_subject_parse_rejects_malformed_subjects(void **state)
{
    const char *bad[] = {
        "",
        "flovyn",
        "flovyn.",
        "flovyn.v1",
        "flovyn.v1.events",
        "flovyn.v1.events.",
        "flovyn.v1.events.t1",
        "flovyn.v1.events.t1.",
        "flovyn.v1.events.t1.w1",
        "flovyn.v1.events.t1.w1._",
        "flovyn.v1.events.t1.w1._.",
        "flovyn.v1.events.t1.w1._..x",
        "flovyn.v1.events.*.w1._.task.completed",
        "flovyn.v1.events.>",
        "flovyn.v1.events.t1.*._.task.completed",
        "flovyn.v1.events.t1.w1._.task.*",
        "flovyn.v1.events.t1.w1._.task.>",
        "flovyn.v1.events._.w1._.task.completed",
        "flovyn.v1.events.t1.w1._.gap",
        "flovyn.v1.events.t1.w1._.Task",
        "flovyn.v1.events.t 1.w1._.task",
        "flovyn.v2.events.t1.w1._.task",
        "flovyn.v1.other.t1.w1._.task",
        "flovynx.v1.events.t1.w1._.task",
        "other.v1.events.t1.w1._.task",
        "flovyn.v1.streams.t1._._.token",
        "flovyn.v1.streams.t1.w1._.TOKEN",
        "flovyn.v1.streams.t1.w1._.tokens",
        "flovyn.v1.streams.t1.w1._.stream_error",
        "flovyn.v1.streams.t1.w1._.token.x",
        "flovyn.v1.streams.t1.w1._",
        "flovyn.v1.streams.t1.w1._.",
        "flovyn.v1.live.t1.w1._.task",
        "flovyn.v1.live.events.t1",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fv_subject_parts parts;
        fv_err err = {{0}};
        if (fv_subject_parse(NULL, bad[i], &parts, &err) != FV_EINVAL)
            fail_msg("subject '%s' parsed", bad[i]);
        assert_true(err.msg[0] != '\0');
    }
    fv_subject_parts parts;
    assert_int_equal(fv_subject_parse(NULL, NULL, &parts, NULL), FV_EINVAL);
    /* another prefix's subject is not ours */
    assert_int_equal(fv_subject_parse("acme", "flovyn.v1.events.t1._._.x", &parts, NULL),
                     FV_EINVAL);
}

static void test_subject_parse_rejects_overlong_subject(void **state)
{
    char big[FV_SUBJECT_MAX + 64];
    snprintf(big, sizeof big, "flovyn.v1.events.t1._._.");
    size_t n = strlen(big);
    memset(big + n, 'a', sizeof big - n - 1);
    big[sizeof big - 1] = '\0';
    fv_subject_parts parts;
    assert_int_equal(fv_subject_parse(NULL, big, &parts, NULL), FV_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subject_prefix_rules),
        cmocka_unit_test(test_subject_for_event_uses_underscore_for_none),
        cmocka_unit_test(test_subject_for_stream_event),
        cmocka_unit_test(test_subject_builders_reject_wildcards_and_dots_in_ids),
        cmocka_unit_test(test_subject_builders_reject_bad_event_types),
        cmocka_unit_test(test_subject_builders_reject_bad_prefix_and_small_buffer),
        cmocka_unit_test(test_subject_roots_and_live_subjects),
        cmocka_unit_test(test_subject_parse_round_trips_events),
        cmocka_unit_test(test_subject_parse_round_trips_stream_events),
        cmocka_unit_test(test_subject_parse_accepts_live_form),
        cmocka_unit_test(test_subject_parse_rejects_malformed_subjects),
        cmocka_unit_test(test_subject_parse_rejects_overlong_subject),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
