/* Unit tests of pattern.c: filter subjects as CONTRACT §3 writes them, residual matching, NATS
 * subject matching (subject.c), and tenant isolation (no pattern ever reaches another tenant's
 * subjects). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "flovyn/pattern.h"
#include "flovyn/subject.h"

static fv_types_filter *types(const char *spec)
{
    fv_types_filter *f = NULL;
    fv_err err = {{0}};
    if (fv_types_filter_parse(spec, FV_TYPES_DEFAULT_ALL, &f, &err) != FV_OK)
        fail_msg("types '%s': %s", spec, err.msg);
    return f;
}

/* bounded copy; truncation is fine for test fixtures (and keeps -O3's truncation check quiet) */
static void put(char *dst, size_t cap, const char *src)
{
    size_t n = strlen(src);
    if (n >= cap)
        n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = '\0';
}

static void ev_set(fv_event *ev, const char *t, const char *w, const char *k, const char *type,
                   const char *source)
{
    fv_event_init(ev);
    put(ev->tenant_id, sizeof ev->tenant_id, t);
    put(ev->workflow_execution_id, sizeof ev->workflow_execution_id, w);
    put(ev->task_execution_id, sizeof ev->task_execution_id, k);
    put(ev->event_type, sizeof ev->event_type, type);
    put(ev->source, sizeof ev->source, source);
}

static void se_set(fv_stream_event *se, const char *t, const char *w, const char *k,
                   fv_stream_kind kind)
{
    fv_stream_event_init(se);
    put(se->tenant_id, sizeof se->tenant_id, t);
    put(se->workflow_execution_id, sizeof se->workflow_execution_id, w);
    put(se->task_execution_id, sizeof se->task_execution_id, k);
    se->kind = kind;
}

static const char *efilter(const fv_pattern *p)
{
    static char out[FV_SUBJECT_MAX];
    fv_status st = fv_pattern_events_filter(p, NULL, out, sizeof out);
    if (st != FV_OK)
        fail_msg("events filter failed: %d", st);
    return out;
}

static const char *sfilter(const fv_pattern *p)
{
    static char out[FV_SUBJECT_MAX];
    fv_status st = fv_pattern_streams_filter(p, NULL, out, sizeof out);
    if (st != FV_OK)
        fail_msg("streams filter failed: %d", st);
    return out;
}

/* --- fv_subject_matches --------------------------------------------------------------------- */

static void test_subject_matches_follows_nats_semantics(void **state)
{
    struct {
        const char *filter, *subject;
        bool want;
    } cases[] = {
        {"a.b.c", "a.b.c", true},
        {"a.b.c", "a.b", false},
        {"a.b", "a.b.c", false},
        {"a.*.c", "a.x.c", true},
        {"a.*.c", "a.x.y.c", false},
        {"a.*", "a", false},
        {"*", "a", true},
        {"*", "a.b", false},
        {">", "a", true},
        {">", "a.b.c", true},
        {"a.>", "a", false},
        {"a.>", "a.b", true},
        {"a.>", "a.b.c.d", true},
        {"a.>", "ab.c", false},
        {"a.*.>", "a.b", false},
        {"a.*.>", "a.b.c", true},
        {"a.>.c", "a.b.c", false}, /* `>` not last: invalid filter, matches nothing */
        {"a*", "ab", false},       /* partial wildcards are literals */
        {"a*", "a*", true},
        {"a.b", "a.*", false}, /* a subject with a wildcard token is not a subject */
        {"a.*", "a.*", false},
        {"a.>", "a.>", false},
        {">", "a.*", false},
        {"a..b", "a..b", false}, /* empty tokens */
        {"a.b.", "a.b.", false},
        {".a", ".a", false},
        {"a.*", "a.", false},
        {">", "a.", false},
        {"", "", false},
        {"a", "", false},
        {"", "a", false},
        {"flovyn.v1.events.t1.>", "flovyn.v1.events.t1.w._.task.completed", true},
        {"flovyn.v1.events.t1.>", "flovyn.v1.events.t10.w._.task.completed", false},
        {"flovyn.v1.events.t1.*.*.task.completed", "flovyn.v1.events.t1._._.task.completed", true},
        {"flovyn.v1.events.t1.*.*.task.completed", "flovyn.v1.events.t1._._.task.completed.x",
         false},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        if (fv_subject_matches(cases[i].filter, cases[i].subject) != cases[i].want)
            fail_msg("'%s' vs '%s': want %d", cases[i].filter, cases[i].subject, cases[i].want);
    assert_false(fv_subject_matches(NULL, "a"));
    assert_false(fv_subject_matches("a", NULL));
}

/* --- validation and tenant isolation -------------------------------------------------------- */

static void test_pattern_requires_valid_tenant(void **state)
{
    fv_pattern p;
    fv_pattern_init(&p, "t1");
    assert_int_equal(fv_pattern_validate(&p, NULL), FV_OK);
    const char *bad[] = {"", "*", ">", "a.>", "t1.*", "..", "t 1", "_", "t1%2e>", "t\n"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fv_err err = {{0}};
        fv_pattern_init(&p, bad[i]);
        if (fv_pattern_validate(&p, &err) != FV_EINVAL)
            fail_msg("tenant '%s' accepted", bad[i]);
        assert_non_null(strstr(err.msg, "tenant_id"));
        char out[FV_SUBJECT_MAX];
        assert_int_equal(fv_pattern_events_filter(&p, NULL, out, sizeof out), FV_EINVAL);
        assert_int_equal(fv_pattern_streams_filter(&p, NULL, out, sizeof out), FV_EINVAL);
        assert_string_equal(out, "");
        /* and it matches nothing, not even an event of that literal tenant */
        fv_event ev;
        ev_set(&ev, bad[i], "w", "", "task.completed", "");
        if (bad[i][0] == '\0')
            assert_false(fv_pattern_match_event(&p, &ev));
    }
    fv_pattern_init(&p, NULL);
    assert_int_equal(fv_pattern_validate(&p, NULL), FV_EINVAL);
    assert_int_equal(fv_pattern_validate(NULL, NULL), FV_EINVAL);
}

static void test_pattern_init_never_truncates_a_long_tenant(void **state)
{
    char longid[100];
    memset(longid, 'a', 70);
    longid[70] = '\0';
    fv_pattern p;
    fv_pattern_init(&p, longid);
    assert_string_equal(p.tenant_id, "");
    assert_int_equal(fv_pattern_validate(&p, NULL), FV_EINVAL);
    fv_event ev;
    longid[FV_ID_MAX] = '\0'; /* the 64-byte prefix is a valid, different tenant */
    ev_set(&ev, longid, "", "", "x", "");
    assert_false(fv_pattern_match_event(&p, &ev));
}

static void test_pattern_rejects_hostile_workflow_and_task_ids(void **state)
{
    const char *bad[] = {"*", ">", "a.b", "a b", "_", "w.>"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        fv_pattern p;
        fv_pattern_init(&p, "t1");
        snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "%s", bad[i]);
        assert_int_equal(fv_pattern_validate(&p, NULL), FV_EINVAL);
        char out[FV_SUBJECT_MAX];
        assert_int_equal(fv_pattern_events_filter(&p, NULL, out, sizeof out), FV_EINVAL);
        fv_pattern_init(&p, "t1");
        snprintf(p.task_execution_id, sizeof p.task_execution_id, "%s", bad[i]);
        assert_int_equal(fv_pattern_validate(&p, NULL), FV_EINVAL);
        assert_int_equal(fv_pattern_streams_filter(&p, NULL, out, sizeof out), FV_EINVAL);
    }
}

static void test_pattern_rejects_unterminated_fields(void **state)
{
    fv_pattern p;
    fv_pattern_init(&p, "t1");
    memset(p.source, 'x', sizeof p.source);
    assert_int_equal(fv_pattern_validate(&p, NULL), FV_EINVAL);
}

static void test_pattern_filters_reject_bad_prefix(void **state)
{
    fv_pattern p;
    fv_pattern_init(&p, "t1");
    char out[FV_SUBJECT_MAX];
    assert_int_equal(fv_pattern_events_filter(&p, "a.>", out, sizeof out), FV_EINVAL);
    assert_int_equal(fv_pattern_events_filter(&p, "*", out, sizeof out), FV_EINVAL);
    assert_int_equal(fv_pattern_streams_filter(&p, "a..b", out, sizeof out), FV_EINVAL);
    assert_int_equal(fv_pattern_events_filter(&p, "acme", out, sizeof out), FV_OK);
    assert_string_equal(out, "acme.v1.events.t1.>");
    char small[10];
    assert_int_equal(fv_pattern_events_filter(&p, NULL, small, sizeof small), FV_ETOOBIG);
}

/* --- filter subjects ------------------------------------------------------------------------ */

static void test_pattern_events_filters_match_contract_forms(void **state)
{
    fv_pattern p;
    fv_pattern_init(&p, "T");
    assert_string_equal(efilter(&p), "flovyn.v1.events.T.>");
    snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "W");
    assert_string_equal(efilter(&p), "flovyn.v1.events.T.W.>");
    fv_pattern_init(&p, "T");
    snprintf(p.task_execution_id, sizeof p.task_execution_id, "K");
    assert_string_equal(efilter(&p), "flovyn.v1.events.T.*.K.>");
    snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "W");
    assert_string_equal(efilter(&p), "flovyn.v1.events.T.W.K.>");

    fv_types_filter *f = types("workflow.>");
    fv_pattern_init(&p, "T");
    p.types = f;
    assert_string_equal(efilter(&p), "flovyn.v1.events.T.*.*.workflow.>");
    fv_types_filter_destroy(f);
    f = types("task.completed");
    p.types = f;
    assert_string_equal(efilter(&p), "flovyn.v1.events.T.*.*.task.completed");
    snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "W");
    assert_string_equal(efilter(&p), "flovyn.v1.events.T.W.*.task.completed");
    fv_types_filter_destroy(f);

    /* a category is `task` OR `task.>`: one subject cannot say it, the residual does */
    f = types("task");
    fv_pattern_init(&p, "T");
    p.types = f;
    assert_string_equal(efilter(&p), "flovyn.v1.events.T.>");
    fv_types_filter_destroy(f);
    f = types("task.completed,task.failed,token");
    p.types = f;
    assert_string_equal(efilter(&p), "flovyn.v1.events.T.*.*.task.*");
    fv_types_filter_destroy(f);
}

static void test_pattern_streams_filters(void **state)
{
    fv_pattern p;
    fv_pattern_init(&p, "T");
    assert_string_equal(sfilter(&p), "flovyn.v1.streams.T.>");
    snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "W");
    assert_string_equal(sfilter(&p), "flovyn.v1.streams.T.W.>");
    snprintf(p.task_execution_id, sizeof p.task_execution_id, "K");
    assert_string_equal(sfilter(&p), "flovyn.v1.streams.T.W.K.>");
    fv_types_filter *f = types("tokens,task.completed");
    p.types = f;
    assert_string_equal(sfilter(&p), "flovyn.v1.streams.T.W.K.token");
    fv_types_filter_destroy(f);
    f = types("token,error");
    fv_pattern_init(&p, "T");
    snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "W");
    p.types = f;
    assert_string_equal(sfilter(&p), "flovyn.v1.streams.T.W.>");
    fv_types_filter_destroy(f);
    f = types("progress");
    fv_pattern_init(&p, "T");
    snprintf(p.task_execution_id, sizeof p.task_execution_id, "K");
    p.types = f;
    assert_string_equal(sfilter(&p), "flovyn.v1.streams.T.*.K.progress");
    fv_types_filter_destroy(f);
}

static void test_pattern_allowed_claim_narrows_filters(void **state)
{
    fv_types_filter *allowed = types("task.completed,token");
    fv_pattern p;
    fv_pattern_init(&p, "T");
    p.allowed = allowed;
    assert_string_equal(efilter(&p), "flovyn.v1.events.T.*.*.task.completed");
    assert_string_equal(sfilter(&p), "flovyn.v1.streams.T.*.*.token");
    /* a narrower request keeps its own suffix */
    fv_types_filter *req = types("workflow.started,token,data");
    p.types = req;
    assert_string_equal(efilter(&p), "flovyn.v1.events.T.*.*.workflow.started");
    assert_string_equal(sfilter(&p), "flovyn.v1.streams.T.*.*.token");
    /* but never delivers what the claim forbids */
    fv_event ev;
    ev_set(&ev, "T", "W", "", "workflow.started", "");
    assert_false(fv_pattern_match_event(&p, &ev));
    fv_stream_event se;
    se_set(&se, "T", "W", "", FV_KIND_DATA);
    assert_false(fv_pattern_match_stream(&p, &se));
    se_set(&se, "T", "W", "", FV_KIND_TOKEN);
    assert_true(fv_pattern_match_stream(&p, &se));
    fv_types_filter_destroy(req);
    fv_types_filter_destroy(allowed);
}

static void test_pattern_wants_sources(void **state)
{
    fv_pattern p;
    fv_pattern_init(&p, "T");
    assert_true(fv_pattern_wants_events(&p));
    assert_true(fv_pattern_wants_streams(&p));
    fv_types_filter *f = types("token");
    p.types = f;
    assert_false(fv_pattern_wants_events(&p));
    assert_true(fv_pattern_wants_streams(&p));
    fv_types_filter *g = types("task.completed");
    p.allowed = g; /* the claim allows no stream kind */
    assert_false(fv_pattern_wants_streams(&p));
    fv_types_filter_destroy(f);
    fv_types_filter_destroy(g);
    fv_types_filter *lc = NULL;
    assert_int_equal(fv_types_filter_parse(NULL, FV_TYPES_DEFAULT_LIFECYCLE, &lc, NULL), FV_OK);
    fv_pattern_init(&p, "T");
    p.types = lc;
    assert_true(fv_pattern_wants_events(&p));
    assert_false(fv_pattern_wants_streams(&p));
    fv_types_filter_destroy(lc);
}

/* --- residual matching ---------------------------------------------------------------------- */

static void test_pattern_match_event_checks_every_field(void **state)
{
    fv_pattern p;
    fv_pattern_init(&p, "T");
    snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "W");
    snprintf(p.source, sizeof p.source, "worker:w-1");
    fv_types_filter *f = types("task.completed,workflow");
    p.types = f;
    fv_event ev;
    ev_set(&ev, "T", "W", "K", "task.completed", "worker:w-1");
    assert_true(fv_pattern_match_event(&p, &ev));
    ev_set(&ev, "T", "W", "", "workflow", "worker:w-1");
    assert_true(fv_pattern_match_event(&p, &ev));
    ev_set(&ev, "T2", "W", "K", "task.completed", "worker:w-1");
    assert_false(fv_pattern_match_event(&p, &ev));
    ev_set(&ev, "T", "W2", "K", "task.completed", "worker:w-1");
    assert_false(fv_pattern_match_event(&p, &ev));
    ev_set(&ev, "T", "", "K", "task.completed", "worker:w-1");
    assert_false(fv_pattern_match_event(&p, &ev));
    ev_set(&ev, "T", "W", "K", "task.failed", "worker:w-1");
    assert_false(fv_pattern_match_event(&p, &ev));
    ev_set(&ev, "T", "W", "K", "task.completed", "worker:w-2");
    assert_false(fv_pattern_match_event(&p, &ev));
    ev_set(&ev, "T", "W", "K", "task.completed", "");
    assert_false(fv_pattern_match_event(&p, &ev));
    snprintf(p.task_execution_id, sizeof p.task_execution_id, "K");
    ev_set(&ev, "T", "W", "K2", "task.completed", "worker:w-1");
    assert_false(fv_pattern_match_event(&p, &ev));
    ev_set(&ev, "T", "W", "K", "task.completed", "worker:w-1");
    assert_true(fv_pattern_match_event(&p, &ev));
    fv_types_filter_destroy(f);
}

static void test_pattern_match_stream_checks_ids_and_kind(void **state)
{
    fv_pattern p;
    fv_pattern_init(&p, "T");
    snprintf(p.task_execution_id, sizeof p.task_execution_id, "K");
    snprintf(p.source, sizeof p.source, "worker:w-1"); /* source narrows lifecycle only */
    fv_types_filter *f = types("token,progress");
    p.types = f;
    fv_stream_event se;
    se_set(&se, "T", "W", "K", FV_KIND_TOKEN);
    assert_true(fv_pattern_match_stream(&p, &se));
    se_set(&se, "T", "W", "K", FV_KIND_DATA);
    assert_false(fv_pattern_match_stream(&p, &se));
    se_set(&se, "T", "W", "K2", FV_KIND_TOKEN);
    assert_false(fv_pattern_match_stream(&p, &se));
    se_set(&se, "T", "W", "", FV_KIND_TOKEN);
    assert_false(fv_pattern_match_stream(&p, &se));
    se_set(&se, "T9", "W", "K", FV_KIND_TOKEN);
    assert_false(fv_pattern_match_stream(&p, &se));
    se_set(&se, "T", "W", "K", (fv_stream_kind)9);
    assert_false(fv_pattern_match_stream(&p, &se));
    fv_types_filter_destroy(f);
}

typedef struct calls {
    int events, streams;
    bool answer;
} calls;

static bool accept_cb(void *ud, const fv_event *ev, const fv_stream_event *se)
{
    calls *c = ud;
    assert_true((ev != NULL) != (se != NULL));
    if (ev)
        c->events++;
    else
        c->streams++;
    return c->answer;
}

static void test_pattern_accept_predicate_runs_last_and_decides(void **state)
{
    calls c = {0, 0, false};
    fv_pattern p;
    fv_pattern_init(&p, "T");
    p.accept = accept_cb;
    p.accept_ud = &c;
    fv_event ev;
    ev_set(&ev, "T", "W", "", "workflow.started", "");
    assert_false(fv_pattern_match_event(&p, &ev));
    assert_int_equal(c.events, 1);
    c.answer = true;
    assert_true(fv_pattern_match_event(&p, &ev));
    assert_int_equal(c.events, 2);
    fv_stream_event se;
    se_set(&se, "T", "W", "", FV_KIND_DATA);
    assert_true(fv_pattern_match_stream(&p, &se));
    assert_int_equal(c.streams, 1);
    /* other tenants never reach the predicate */
    ev_set(&ev, "U", "W", "", "workflow.started", "");
    assert_false(fv_pattern_match_event(&p, &ev));
    se_set(&se, "U", "W", "", FV_KIND_DATA);
    assert_false(fv_pattern_match_stream(&p, &se));
    assert_int_equal(c.events, 2);
    assert_int_equal(c.streams, 1);
}

/* --- filters and residuals agree, and never cross tenants ----------------------------------- */

static void test_pattern_filters_cover_every_matched_event_and_stay_in_tenant(void **state)
{
    const char *tenants[] = {"t1", "t10", "t", "T1", "other"};
    const char *wfs[] = {"", "w1", "w2"};
    const char *tasks[] = {"", "k1", "k2"};
    const char *evtypes[] = {"workflow.started",         "task.completed", "task.failed", "task",
                             "child_workflow.initiated", "custom.a.b"};
    const char *specs[] = {NULL,
                           "task",
                           "task.completed",
                           "*.failed",
                           "workflow.*,task.completed",
                           "child_workflow.>",
                           "token,progress",
                           "events",
                           "custom.>,task"};
    const char *pwfs[] = {"", "w1"};
    const char *ptasks[] = {"", "k1"};
    int checked = 0;
    for (size_t s = 0; s < sizeof specs / sizeof specs[0]; s++) {
        fv_types_filter *f = specs[s] ? types(specs[s]) : NULL;
        for (size_t pw = 0; pw < 2; pw++)
            for (size_t pk = 0; pk < 2; pk++) {
                fv_pattern p;
                fv_pattern_init(&p, "t1");
                snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "%s", pwfs[pw]);
                snprintf(p.task_execution_id, sizeof p.task_execution_id, "%s", ptasks[pk]);
                p.types = f;
                char ef[FV_SUBJECT_MAX], sf[FV_SUBJECT_MAX];
                assert_int_equal(fv_pattern_events_filter(&p, NULL, ef, sizeof ef), FV_OK);
                assert_int_equal(fv_pattern_streams_filter(&p, NULL, sf, sizeof sf), FV_OK);
                for (size_t t = 0; t < 5; t++)
                    for (size_t w = 0; w < 3; w++)
                        for (size_t k = 0; k < 3; k++) {
                            fv_event ev;
                            char subj[FV_SUBJECT_MAX];
                            for (size_t e = 0; e < 6; e++) {
                                ev_set(&ev, tenants[t], wfs[w], tasks[k], evtypes[e], "");
                                assert_int_equal(
                                    fv_subject_for_event(NULL, &ev, subj, sizeof subj, NULL),
                                    FV_OK);
                                bool m = fv_pattern_match_event(&p, &ev);
                                bool fm = fv_subject_matches(ef, subj);
                                if (m && !fm)
                                    fail_msg("%s matched by pattern but not by filter %s", subj,
                                             ef);
                                if (t != 0 && (m || fm))
                                    fail_msg("%s (other tenant) reached by %s", subj, ef);
                                checked++;
                            }
                            if (!wfs[w][0])
                                continue;
                            for (int kind = 0; kind < FV_KIND_COUNT; kind++) {
                                fv_stream_event se;
                                se_set(&se, tenants[t], wfs[w], tasks[k], (fv_stream_kind)kind);
                                assert_int_equal(
                                    fv_subject_for_stream_event(NULL, &se, subj, sizeof subj, NULL),
                                    FV_OK);
                                bool m = fv_pattern_match_stream(&p, &se);
                                bool fm = fv_subject_matches(sf, subj);
                                if (m && !fm)
                                    fail_msg("%s matched by pattern but not by filter %s", subj,
                                             sf);
                                if (t != 0 && (m || fm))
                                    fail_msg("%s (other tenant) reached by %s", subj, sf);
                                checked++;
                            }
                        }
            }
        fv_types_filter_destroy(f);
    }
    assert_true(checked > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_subject_matches_follows_nats_semantics),
        cmocka_unit_test(test_pattern_requires_valid_tenant),
        cmocka_unit_test(test_pattern_init_never_truncates_a_long_tenant),
        cmocka_unit_test(test_pattern_rejects_hostile_workflow_and_task_ids),
        cmocka_unit_test(test_pattern_rejects_unterminated_fields),
        cmocka_unit_test(test_pattern_filters_reject_bad_prefix),
        cmocka_unit_test(test_pattern_events_filters_match_contract_forms),
        cmocka_unit_test(test_pattern_streams_filters),
        cmocka_unit_test(test_pattern_allowed_claim_narrows_filters),
        cmocka_unit_test(test_pattern_wants_sources),
        cmocka_unit_test(test_pattern_match_event_checks_every_field),
        cmocka_unit_test(test_pattern_match_stream_checks_ids_and_kind),
        cmocka_unit_test(test_pattern_accept_predicate_runs_last_and_decides),
        cmocka_unit_test(test_pattern_filters_cover_every_matched_event_and_stay_in_tenant),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
