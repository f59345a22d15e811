/* bus_suite.c - the shared behavioural tests of the bus (see bus_suite.h for how to run them).
 *
 * Every test asserts what a client of bus.h relies on, never how a backend does it: exact data
 * bytes, tenant isolation, filters, dedup, exactly-once in-order resume while publishing goes on,
 * pause without loss, the start points of CONTRACT §4, gap, merged ordering, paging, close. Tests
 * use their own random tenants, so one nats-server serves them all; timeouts only bound waits.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>
#include <stdatomic.h>
#include <cmocka.h>

#include "bus_suite.h"
#include "flovyn/id.h"
#include "flovyn/types_filter.h"
#include "flovyn/units.h"

#define COLLECTOR_MAX 1000000 /* bounds a runaway subscription in a broken backend */

/* --- collector ------------------------------------------------------------------------------ */

/* waits use deadlines on the monotonic clock (a wall-clock step must not stretch a timeout) */
static void cond_init_mono(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
}

void fv_collector_init(fv_collector *c)
{
    memset(c, 0, sizeof *c);
    pthread_mutex_init(&c->mu, NULL);
    cond_init_mono(&c->cv);
}

void fv_collector_destroy(fv_collector *c)
{
    for (size_t i = 0; i < c->n; i++) {
        fv_event_clear(&c->items[i].ev);
        fv_stream_event_clear(&c->items[i].se);
    }
    free(c->items);
    pthread_cond_destroy(&c->cv);
    pthread_mutex_destroy(&c->mu);
}

int fv_collector_on_msg(void *ud, const fv_msg *m)
{
    fv_collector *c = ud;
    pthread_mutex_lock(&c->mu);
    if (c->in_cb++)
        c->overlapped = true;
    if (c->check_forbidden && pthread_equal(pthread_self(), c->forbidden))
        c->on_forbidden = true;
    if (c->releases)
        c->calls_after_release++;
    bool data = m->kind == FV_MSG_EVENT || m->kind == FV_MSG_STREAM;
    if (data && c->pause_at && c->n_data == c->pause_at) {
        c->pause_at = 0;
        c->paused = true;
        c->in_cb--;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        return FV_SUB_PAUSE;
    }
    if (c->n == c->cap && c->cap < COLLECTOR_MAX) {
        size_t ncap = c->cap ? c->cap * 2 : 256;
        fv_collected *items = realloc(c->items, ncap * sizeof *items);
        if (items) {
            c->items = items;
            c->cap = ncap;
        }
    }
    if (c->n < c->cap) {
        fv_collected *it = &c->items[c->n++];
        memset(it, 0, sizeof *it);
        it->kind = m->kind;
        it->source = m->source;
        it->seq = m->seq;
        it->stored_ms = m->stored_ms;
        it->cursor = m->cursor;
        it->gap_requested = m->gap_requested;
        it->gap_resumed_from = m->gap_resumed_from;
        fv_event_init(&it->ev);
        fv_stream_event_init(&it->se);
        if (m->kind == FV_MSG_EVENT && m->ev)
            fv_event_copy(&it->ev, m->ev);
        if (m->kind == FV_MSG_STREAM && m->se)
            fv_stream_event_copy(&it->se, m->se);
        if (m->subject)
            snprintf(it->subject, sizeof it->subject, "%s", m->subject);
        if (data)
            c->n_data++;
    }
    c->in_cb--;
    bool slow = data && c->slow_us && c->n_data < c->slow_until;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
    if (slow)
        usleep(c->slow_us);
    return FV_SUB_OK;
}

void fv_collector_on_release(void *ud)
{
    fv_collector *c = ud;
    pthread_mutex_lock(&c->mu);
    c->releases++;
    pthread_cond_broadcast(&c->cv);
    pthread_mutex_unlock(&c->mu);
}

/* waits (locked) until pred holds or the deadline passes */
#define COLLECTOR_WAIT(c, timeout_ms, pred)                                                        \
    do {                                                                                           \
        struct timespec ts_;                                                                       \
        fv_deadline_ms(&ts_, CLOCK_MONOTONIC, (timeout_ms));                                       \
        pthread_mutex_lock(&(c)->mu);                                                              \
        while (!(pred))                                                                            \
            if (pthread_cond_timedwait(&(c)->cv, &(c)->mu, &ts_) != 0)                             \
                break;                                                                             \
        ok_ = (pred);                                                                              \
        pthread_mutex_unlock(&(c)->mu);                                                            \
    } while (0)

bool fv_collector_wait(fv_collector *c, size_t n, int timeout_ms)
{
    bool ok_;
    COLLECTOR_WAIT(c, timeout_ms, c->n_data >= n);
    return ok_;
}

static bool has_kind(const fv_collector *c, fv_msg_kind kind)
{
    for (size_t i = 0; i < c->n; i++)
        if (c->items[i].kind == kind)
            return true;
    return false;
}

bool fv_collector_wait_kind(fv_collector *c, fv_msg_kind kind, int timeout_ms)
{
    bool ok_;
    COLLECTOR_WAIT(c, timeout_ms, has_kind(c, kind));
    return ok_;
}

bool fv_collector_wait_paused(fv_collector *c, int timeout_ms)
{
    bool ok_;
    COLLECTOR_WAIT(c, timeout_ms, c->paused);
    return ok_;
}

bool fv_collector_wait_released(fv_collector *c, int timeout_ms)
{
    bool ok_;
    COLLECTOR_WAIT(c, timeout_ms, c->releases > 0);
    return ok_;
}

size_t fv_collector_count(fv_collector *c)
{
    pthread_mutex_lock(&c->mu);
    size_t n = c->n_data;
    pthread_mutex_unlock(&c->mu);
    return n;
}

void fv_collector_pause_at(fv_collector *c, size_t n_data)
{
    pthread_mutex_lock(&c->mu);
    c->pause_at = n_data;
    c->paused = false;
    pthread_mutex_unlock(&c->mu);
}

void fv_collector_stop(fv_collector *c, fv_sub *sub, int timeout_ms)
{
    fv_sub_close(sub);
    assert_true(fv_collector_wait_released(c, timeout_ms));
}

size_t fv_collector_find(const fv_collector *c, fv_msg_kind kind, size_t from)
{
    for (size_t i = from; i < c->n; i++)
        if (c->items[i].kind == kind)
            return i;
    return c->n;
}

/* --- building blocks ----------------------------------------------------------------------- */

void fv_bus_suite_tenant(char *out, size_t cap, const char *tag)
{
    uint64_t r = 0;
    if (getrandom(&r, sizeof r, 0) != (ssize_t)sizeof r)
        r = (uint64_t)fv_monotonic_ms() ^ ((uint64_t)(uintptr_t)out << 7);
    snprintf(out, cap, "%s-%016llx", tag, (unsigned long long)r);
}

void fv_bus_suite_event(fv_event *ev, const char *tenant, const char *workflow, const char *task,
                        const char *type, const char *id, const char *data)
{
    fv_event_init(ev);
    if (id)
        snprintf(ev->id, sizeof ev->id, "%s", id);
    else
        assert_int_equal(fv_uuid4(ev->id, sizeof ev->id), FV_OK);
    snprintf(ev->tenant_id, sizeof ev->tenant_id, "%s", tenant);
    snprintf(ev->workflow_execution_id, sizeof ev->workflow_execution_id, "%s",
             workflow ? workflow : "");
    snprintf(ev->task_execution_id, sizeof ev->task_execution_id, "%s", task ? task : "");
    snprintf(ev->event_type, sizeof ev->event_type, "%s", type);
    snprintf(ev->source, sizeof ev->source, "%s", "suite");
    ev->timestamp_ms = fv_now_ms();
    if (data) {
        fv_err err = {{0}};
        fv_status st = fv_event_set_data(ev, data, strlen(data), NULL, &err);
        if (st != FV_OK)
            fail_msg("event data: %s", err.msg);
    }
}

void fv_bus_suite_stream(fv_stream_event *se, const char *tenant, const char *workflow,
                         const char *task, int64_t sequence, fv_stream_kind kind,
                         const char *payload)
{
    fv_stream_event_init(se);
    snprintf(se->tenant_id, sizeof se->tenant_id, "%s", tenant);
    snprintf(se->workflow_execution_id, sizeof se->workflow_execution_id, "%s", workflow);
    snprintf(se->task_execution_id, sizeof se->task_execution_id, "%s", task ? task : "");
    se->sequence = sequence;
    se->kind = kind;
    se->timestamp_ms = fv_now_ms();
    if (payload) {
        fv_err err = {{0}};
        fv_status st = fv_stream_event_set_payload(se, payload, strlen(payload), NULL, &err);
        if (st != FV_OK)
            fail_msg("stream payload: %s", err.msg);
    }
}

uint64_t fv_bus_suite_publish(fv_bus *bus, const fv_event *ev)
{
    fv_publish_result res = {0};
    fv_err err = {{0}};
    fv_status st = fv_bus_publish_event(bus, ev, &res, &err);
    if (st != FV_OK)
        fail_msg("publish %s: %s", ev->event_type, err.msg);
    return res.seq;
}

uint64_t fv_bus_suite_publish_stream(fv_bus *bus, const fv_stream_event *se)
{
    fv_publish_result res = {0};
    fv_err err = {{0}};
    fv_status st = fv_bus_publish_stream(bus, se, &res, &err);
    if (st != FV_OK)
        fail_msg("publish stream: %s", err.msg);
    return res.seq;
}

/* --- helpers of the tests ------------------------------------------------------------------ */

static int tmo(const fv_bus_suite *s)
{
    return s->timeout_ms > 0 ? s->timeout_ms : 15000;
}

static fv_bus *mk(const fv_bus_suite *s)
{
    fv_bus *bus = s->make(s->ctx);
    assert_non_null(bus);
    return bus;
}

static void drop(const fv_bus_suite *s, fv_bus *bus)
{
    if (s->teardown)
        s->teardown(bus, s->ctx);
    else
        fv_bus_destroy(bus);
}

static void pub(fv_bus *bus, const char *tenant, const char *wf, const char *task, const char *type,
                const char *id, uint64_t *seq)
{
    fv_event ev;
    fv_bus_suite_event(&ev, tenant, wf, task, type, id, "{}");
    uint64_t s = fv_bus_suite_publish(bus, &ev);
    if (seq)
        *seq = s;
    fv_event_clear(&ev);
}

static void pub_stream(fv_bus *bus, const char *tenant, const char *wf, const char *task,
                       int64_t sequence, fv_stream_kind kind, uint64_t *seq)
{
    fv_stream_event se;
    fv_bus_suite_stream(&se, tenant, wf, task, sequence, kind, "\"x\"");
    uint64_t s = fv_bus_suite_publish_stream(bus, &se);
    if (seq)
        *seq = s;
    fv_stream_event_clear(&se);
}

/* publishes lifecycle event number i with id "e-<i>" */
static void pub_indexed(fv_bus *bus, const char *tenant, size_t i, uint64_t *seq)
{
    char id[32];
    snprintf(id, sizeof id, "e-%zu", i);
    pub(bus, tenant, NULL, NULL, i % 2 ? "task.started" : "task.completed", id, seq);
}

static long index_of(const fv_collected *it)
{
    long i = -1;
    if (it->kind != FV_MSG_EVENT || sscanf(it->ev.id, "e-%ld", &i) != 1)
        return -1;
    return i;
}

static fv_sub *sub_start(fv_bus *bus, const fv_pattern *p, const fv_start *st, fv_collector *c,
                         size_t batch)
{
    fv_sub_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.pattern = *p;
    cfg.start = *st;
    cfg.on_msg = fv_collector_on_msg;
    cfg.on_release = fv_collector_on_release;
    cfg.ud = c;
    cfg.max_catchup_batch = batch;
    fv_sub *sub = NULL;
    fv_err err = {{0}};
    fv_status rc = fv_bus_subscribe(bus, &cfg, &sub, &err);
    if (rc != FV_OK)
        fail_msg("subscribe: %s", err.msg);
    assert_non_null(sub);
    return sub;
}

static fv_types_filter *types(const char *spec, fv_types_default dflt)
{
    fv_types_filter *f = NULL;
    fv_err err = {{0}};
    if (fv_types_filter_parse(spec, dflt, &f, &err) != FV_OK)
        fail_msg("types '%s': %s", spec, err.msg);
    return f;
}

static fv_cursor read_into(fv_bus *bus, const fv_pattern *p, const fv_start *st, size_t limit,
                           fv_collector *c)
{
    fv_cursor next = {0};
    fv_err err = {{0}};
    fv_status rc = fv_bus_read(bus, p, st, limit, fv_collector_on_msg, c, &next, &err);
    if (rc != FV_OK)
        fail_msg("read: %s", err.msg);
    return next;
}

static const char *tenant_of(const fv_collected *it)
{
    return it->kind == FV_MSG_EVENT ? it->ev.tenant_id : it->se.tenant_id;
}

/* the common end of a subscription test: no overlap, never on the publisher, released once */
static void assert_clean(fv_collector *c)
{
    assert_false(c->overlapped);
    assert_false(c->on_forbidden);
    assert_int_equal(c->releases, 1);
    assert_int_equal(c->calls_after_release, 0);
}

static void watch(fv_collector *c)
{
    fv_collector_init(c);
    c->forbidden = pthread_self();
    c->check_forbidden = true;
}

/* --- the tests ----------------------------------------------------------------------------- */

void fv_bus_suite_test_round_trip_both_kinds_keeps_data_bytes(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1], w[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "rt");
    fv_bus_suite_tenant(w, sizeof w, "wf");
    fv_collector c;
    watch(&c);
    fv_pattern p;
    fv_pattern_init(&p, t);
    snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "%s", w);
    fv_start st = {.kind = FV_START_NEW};
    fv_sub *sub = sub_start(bus, &p, &st, &c, 0);
    assert_true(fv_collector_wait_kind(&c, FV_MSG_LIVE, tmo(s)));

    /* numbers a re-serializer would change, an escape and non-ASCII text */
    const char *data = "{\"x\":0.1,\"big\":1e400,\"n\":12345678901234567890,"
                       "\"s\":\"caf\xc3\xa9 \\u00e9\",\"a\":[1, 2 ,3]}";
    const char *payload = "\"tok \\\"en\\\" \xe2\x82\xac\"";
    fv_event ev;
    fv_bus_suite_event(&ev, t, w, "task-1", "task.completed", NULL, data);
    snprintf(ev.parent_workflow_execution_id, sizeof ev.parent_workflow_execution_id, "parent-1");
    snprintf(ev.correlation_id, sizeof ev.correlation_id, "corr-1");
    snprintf(ev.source, sizeof ev.source, "worker:w-1");
    fv_stream_event se;
    fv_bus_suite_stream(&se, t, w, "task-1", 7, FV_KIND_TOKEN, payload);
    uint64_t eseq = fv_bus_suite_publish(bus, &ev);
    uint64_t sseq = fv_bus_suite_publish_stream(bus, &se);
    assert_true(eseq > 0);
    assert_true(sseq > 0);
    assert_true(fv_collector_wait(&c, 2, tmo(s)));
    fv_collector_stop(&c, sub, tmo(s));
    assert_clean(&c);
    assert_int_equal(c.n_data, 2);

    size_t ie = fv_collector_find(&c, FV_MSG_EVENT, 0);
    size_t is = fv_collector_find(&c, FV_MSG_STREAM, 0);
    assert_true(ie < c.n && is < c.n);
    assert_true(ie < is); /* published first, so delivered first */
    const fv_collected *e = &c.items[ie], *x = &c.items[is];
    assert_int_equal(e->source, FV_SRC_EVENTS);
    assert_int_equal(e->seq, eseq);
    assert_string_equal(e->ev.id, ev.id);
    assert_string_equal(e->ev.tenant_id, t);
    assert_string_equal(e->ev.workflow_execution_id, w);
    assert_string_equal(e->ev.task_execution_id, "task-1");
    assert_string_equal(e->ev.parent_workflow_execution_id, "parent-1");
    assert_string_equal(e->ev.correlation_id, "corr-1");
    assert_string_equal(e->ev.source, "worker:w-1");
    assert_string_equal(e->ev.event_type, "task.completed");
    assert_int_equal(e->ev.timestamp_ms, ev.timestamp_ms);
    assert_int_equal(e->ev.data_len, strlen(data));
    assert_memory_equal(e->ev.data, data, strlen(data));
    assert_true(e->stored_ms > 0);
    char subj[FV_SUBJECT_MAX];
    assert_int_equal(fv_subject_for_event(fv_bus_prefix(bus), &ev, subj, sizeof subj, NULL), 0);
    assert_string_equal(e->subject, subj);
    assert_int_equal(e->cursor.events_seq, eseq);
    assert_int_equal(e->cursor.epoch, fv_bus_epoch(bus));

    assert_int_equal(x->source, FV_SRC_STREAMS);
    assert_int_equal(x->seq, sseq);
    assert_string_equal(x->se.tenant_id, t);
    assert_string_equal(x->se.workflow_execution_id, w);
    assert_string_equal(x->se.task_execution_id, "task-1");
    assert_int_equal(x->se.sequence, 7);
    assert_int_equal(x->se.kind, FV_KIND_TOKEN);
    assert_int_equal(x->se.payload_len, strlen(payload));
    assert_memory_equal(x->se.payload, payload, strlen(payload));
    assert_int_equal(fv_subject_for_stream_event(fv_bus_prefix(bus), &se, subj, sizeof subj, NULL),
                     0);
    assert_string_equal(x->subject, subj);
    /* the cursor after the stream event carries both positions */
    assert_int_equal(x->cursor.streams_seq, sseq);
    assert_int_equal(x->cursor.events_seq, eseq);

    uint64_t last = 0;
    assert_int_equal(fv_bus_last_seq(bus, FV_SRC_EVENTS, &last, NULL), FV_OK);
    assert_true(last >= eseq);
    assert_true(fv_bus_ready(bus));
    assert_true(fv_bus_epoch(bus) != 0);
    fv_event_clear(&ev);
    fv_stream_event_clear(&se);
    fv_collector_destroy(&c);
    drop(s, bus);
}

void fv_bus_suite_test_tenant_never_sees_another_tenant(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char a[FV_ID_MAX + 1], b[FV_ID_MAX + 1];
    fv_bus_suite_tenant(a, sizeof a, "ta");
    fv_bus_suite_tenant(b, sizeof b, "tb");
    fv_collector live;
    watch(&live);
    fv_pattern pa;
    fv_pattern_init(&pa, a);
    fv_start st_new = {.kind = FV_START_NEW};
    fv_sub *sub = sub_start(bus, &pa, &st_new, &live, 0);
    assert_true(fv_collector_wait_kind(&live, FV_MSG_LIVE, tmo(s)));

    /* same workflow and task ids in both tenants, B before, between and after A */
    for (int round = 0; round < 3; round++) {
        const char *who = round == 1 ? a : b;
        for (int i = 0; i < 3; i++) {
            pub(bus, who, "wf-shared", "task-shared", "task.completed", NULL, NULL);
            pub_stream(bus, who, "wf-shared", "task-shared", round * 10 + i, FV_KIND_TOKEN, NULL);
        }
    }
    assert_true(fv_collector_wait(&live, 6, tmo(s)));
    pub(bus, a, "wf-shared", NULL, "workflow.completed", NULL, NULL); /* a marker after B's */
    assert_true(fv_collector_wait(&live, 7, tmo(s)));
    fv_collector_stop(&live, sub, tmo(s));
    assert_clean(&live);
    assert_int_equal(live.n_data, 7);
    for (size_t i = 0; i < live.n; i++)
        if (live.items[i].kind == FV_MSG_EVENT || live.items[i].kind == FV_MSG_STREAM)
            assert_string_equal(tenant_of(&live.items[i]), a);

    struct {
        const char *wf, *task, *types;
        fv_types_default dflt;
        size_t expect;
    } cases[] = {
        {NULL, NULL, NULL, FV_TYPES_DEFAULT_ALL, 7},
        {NULL, NULL, "", FV_TYPES_DEFAULT_LIFECYCLE, 4},
        {"wf-shared", NULL, NULL, FV_TYPES_DEFAULT_ALL, 7},
        {NULL, "task-shared", NULL, FV_TYPES_DEFAULT_ALL, 6},
        {NULL, NULL, ">", FV_TYPES_DEFAULT_ALL, 4},
        {NULL, NULL, "events,tokens", FV_TYPES_DEFAULT_ALL, 7},
        {NULL, NULL, "task.*", FV_TYPES_DEFAULT_ALL, 3},
        {"wf-shared", "task-shared", "tokens", FV_TYPES_DEFAULT_ALL, 3},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        fv_pattern p;
        fv_pattern_init(&p, a);
        if (cases[k].wf)
            snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "%s", cases[k].wf);
        if (cases[k].task)
            snprintf(p.task_execution_id, sizeof p.task_execution_id, "%s", cases[k].task);
        fv_types_filter *f = cases[k].types ? types(cases[k].types, cases[k].dflt) : NULL;
        p.types = f;
        fv_collector c;
        fv_collector_init(&c);
        fv_start st = {.kind = FV_START_FIRST};
        read_into(bus, &p, &st, 1000, &c);
        size_t n = 0;
        for (size_t i = 0; i < c.n; i++) {
            if (c.items[i].kind != FV_MSG_EVENT && c.items[i].kind != FV_MSG_STREAM)
                continue;
            assert_string_equal(tenant_of(&c.items[i]), a);
            n++;
        }
        if (n != cases[k].expect)
            fail_msg("case %zu: %zu messages of tenant A, expected %zu", k, n, cases[k].expect);
        fv_collector_destroy(&c);
        fv_types_filter_destroy(f);
    }
    fv_collector_destroy(&live);
    drop(s, bus);
}

/* labels of what a read delivered: event types and "kind:<name>", per source */
static void labels(const fv_collector *c, char *events, char *streams, size_t cap)
{
    events[0] = streams[0] = '\0';
    for (size_t i = 0; i < c->n; i++) {
        const fv_collected *it = &c->items[i];
        if (it->kind == FV_MSG_EVENT) {
            if (events[0])
                strncat(events, " ", cap - strlen(events) - 1);
            strncat(events, it->ev.event_type, cap - strlen(events) - 1);
        } else if (it->kind == FV_MSG_STREAM) {
            if (streams[0])
                strncat(streams, " ", cap - strlen(streams) - 1);
            strncat(streams, fv_kind_name(it->se.kind), cap - strlen(streams) - 1);
        }
    }
}

void fv_bus_suite_test_filters_by_type_category_wildcard_workflow_task_source(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "flt");
    struct {
        const char *wf, *task, *type, *source;
    } evs[] = {
        {"w1", NULL, "workflow.started", "worker:a"},
        {"w1", "k1", "task.completed", "worker:a"},
        {"w2", "k2", "task.failed", "worker:b"},
        {"w1", NULL, "timer.fired", "worker:a"},
        {"w2", NULL, "child_workflow.initiated", "worker:b"},
        {"w1", "k1", "task.started", "worker:b"},
    };
    for (size_t i = 0; i < sizeof evs / sizeof *evs; i++) {
        fv_event ev;
        fv_bus_suite_event(&ev, t, evs[i].wf, evs[i].task, evs[i].type, NULL, "{\"i\":1}");
        snprintf(ev.source, sizeof ev.source, "%s", evs[i].source);
        fv_bus_suite_publish(bus, &ev);
        fv_event_clear(&ev);
    }
    pub_stream(bus, t, "w1", "k1", 1, FV_KIND_TOKEN, NULL);
    pub_stream(bus, t, "w1", "k1", 2, FV_KIND_PROGRESS, NULL);
    pub_stream(bus, t, "w2", NULL, 1, FV_KIND_DATA, NULL);
    pub_stream(bus, t, "w1", NULL, 3, FV_KIND_ERROR, NULL);

    struct {
        const char *wf, *task, *source, *types;
        fv_types_default dflt;
        const char *events, *streams;
    } cases[] = {
        {NULL, NULL, NULL, "task.completed", FV_TYPES_DEFAULT_ALL, "task.completed", ""},
        {NULL, NULL, NULL, "task", FV_TYPES_DEFAULT_ALL, "task.completed task.failed task.started",
         ""},
        {NULL, NULL, NULL, "*.failed", FV_TYPES_DEFAULT_ALL, "task.failed", ""},
        {NULL, NULL, NULL, "workflow.*", FV_TYPES_DEFAULT_ALL, "workflow.started", ""},
        {NULL, NULL, NULL, "child_workflow.>", FV_TYPES_DEFAULT_ALL, "child_workflow.initiated",
         ""},
        {NULL, NULL, NULL, "TASK.Completed , timer", FV_TYPES_DEFAULT_ALL,
         "task.completed timer.fired", ""},
        {NULL, NULL, NULL, "", FV_TYPES_DEFAULT_LIFECYCLE,
         "workflow.started task.completed task.failed timer.fired child_workflow.initiated "
         "task.started",
         ""},
        {NULL, NULL, NULL, "tokens,errors", FV_TYPES_DEFAULT_LIFECYCLE, "", "token error"},
        {"w1", NULL, NULL, NULL, FV_TYPES_DEFAULT_ALL,
         "workflow.started task.completed timer.fired task.started", "token progress error"},
        {NULL, "k1", NULL, NULL, FV_TYPES_DEFAULT_ALL, "task.completed task.started",
         "token progress"},
        {NULL, NULL, "worker:b", "events", FV_TYPES_DEFAULT_ALL,
         "task.failed child_workflow.initiated task.started", ""},
        {"w1", NULL, NULL, "tokens,progress", FV_TYPES_DEFAULT_ALL, "", "token progress"},
        {"w2", NULL, NULL, "data", FV_TYPES_DEFAULT_ALL, "", "data"},
        {"w3", NULL, NULL, NULL, FV_TYPES_DEFAULT_ALL, "", ""},
    };
    for (size_t k = 0; k < sizeof cases / sizeof *cases; k++) {
        fv_pattern p;
        fv_pattern_init(&p, t);
        if (cases[k].wf)
            snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "%s", cases[k].wf);
        if (cases[k].task)
            snprintf(p.task_execution_id, sizeof p.task_execution_id, "%s", cases[k].task);
        if (cases[k].source)
            snprintf(p.source, sizeof p.source, "%s", cases[k].source);
        fv_types_filter *f = cases[k].types ? types(cases[k].types, cases[k].dflt) : NULL;
        p.types = f;
        fv_collector c;
        fv_collector_init(&c);
        fv_start st = {.kind = FV_START_FIRST};
        read_into(bus, &p, &st, 100, &c);
        char ev_l[512], se_l[512];
        labels(&c, ev_l, se_l, sizeof ev_l);
        if (strcmp(ev_l, cases[k].events) != 0 || strcmp(se_l, cases[k].streams) != 0)
            fail_msg("case %zu: got events [%s] streams [%s], expected [%s] [%s]", k, ev_l, se_l,
                     cases[k].events, cases[k].streams);
        fv_collector_destroy(&c);
        fv_types_filter_destroy(f);
    }
    drop(s, bus);
}

void fv_bus_suite_test_dedup_by_tenant_and_id(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1], u[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "dd");
    fv_bus_suite_tenant(u, sizeof u, "du");
    fv_collector c;
    watch(&c);
    fv_pattern p;
    fv_pattern_init(&p, t);
    fv_start st = {.kind = FV_START_NEW};
    fv_sub *sub = sub_start(bus, &p, &st, &c, 0);
    assert_true(fv_collector_wait_kind(&c, FV_MSG_LIVE, tmo(s)));

    fv_event ev;
    fv_bus_suite_event(&ev, t, "wf-1", NULL, "workflow.started", NULL, "{\"a\":1}");
    fv_publish_result r1 = {0}, r2 = {0}, r3 = {0};
    assert_int_equal(fv_bus_publish_event(bus, &ev, &r1, NULL), FV_OK);
    assert_false(r1.duplicate);
    assert_true(fv_collector_wait(&c, 1, tmo(s)));
    /* a retry (even with other data) is the same event */
    fv_event_set_data(&ev, "{\"a\":2}", 7, NULL, NULL);
    assert_int_equal(fv_bus_publish_event(bus, &ev, &r2, NULL), FV_OK);
    assert_true(r2.duplicate);
    assert_int_equal(r2.seq, r1.seq);
    /* the same id from another tenant is another event */
    snprintf(ev.tenant_id, sizeof ev.tenant_id, "%s", u);
    assert_int_equal(fv_bus_publish_event(bus, &ev, &r3, NULL), FV_OK);
    assert_false(r3.duplicate);
    assert_true(r3.seq != r1.seq);

    fv_stream_event se;
    fv_bus_suite_stream(&se, t, "wf-1", NULL, 5, FV_KIND_TOKEN, "\"a\"");
    fv_publish_result q1 = {0}, q2 = {0}, q3 = {0};
    assert_int_equal(fv_bus_publish_stream(bus, &se, &q1, NULL), FV_OK);
    assert_int_equal(fv_bus_publish_stream(bus, &se, &q2, NULL), FV_OK);
    assert_false(q1.duplicate);
    assert_true(q2.duplicate);
    assert_int_equal(q2.seq, q1.seq);
    se.sequence = 6; /* another producer sequence is another stream event */
    assert_int_equal(fv_bus_publish_stream(bus, &se, &q3, NULL), FV_OK);
    assert_false(q3.duplicate);

    pub(bus, t, "wf-1", NULL, "workflow.completed", NULL, NULL); /* marker */
    assert_true(fv_collector_wait(&c, 4, tmo(s)));
    fv_collector_stop(&c, sub, tmo(s));
    assert_clean(&c);
    /* delivered once each: started, token 5, token 6, completed */
    assert_int_equal(c.n_data, 4);
    size_t i0 = fv_collector_find(&c, FV_MSG_EVENT, 0);
    assert_true(i0 < c.n);
    assert_memory_equal(c.items[i0].ev.data, "{\"a\":1}", 7);

    fv_collector other;
    fv_collector_init(&other);
    fv_pattern pu;
    fv_pattern_init(&pu, u);
    fv_start first = {.kind = FV_START_FIRST};
    read_into(bus, &pu, &first, 100, &other);
    assert_int_equal(other.n_data, 1);
    assert_string_equal(other.items[fv_collector_find(&other, FV_MSG_EVENT, 0)].ev.tenant_id, u);
    fv_collector_destroy(&other);

    fv_bus_stats stats;
    fv_bus_get_stats(bus, &stats);
    assert_true(stats.duplicates >= 2);
    fv_event_clear(&ev);
    fv_stream_event_clear(&se);
    fv_collector_destroy(&c);
    drop(s, bus);
}

typedef struct publisher {
    fv_bus *bus;
    const char *tenant;
    size_t from, to;
    size_t failures;
    uint64_t last_seq;
    atomic_size_t done;
} publisher;

static void *publisher_main(void *arg)
{
    publisher *pb = arg;
    for (size_t i = pb->from; i < pb->to; i++) {
        fv_event ev;
        char id[32];
        snprintf(id, sizeof id, "e-%zu", i);
        fv_event_init(&ev);
        snprintf(ev.id, sizeof ev.id, "%s", id);
        snprintf(ev.tenant_id, sizeof ev.tenant_id, "%s", pb->tenant);
        snprintf(ev.event_type, sizeof ev.event_type, "%s",
                 i % 2 ? "task.started" : "task.completed");
        ev.timestamp_ms = fv_now_ms();
        fv_publish_result r = {0};
        if (fv_bus_publish_event(pb->bus, &ev, &r, NULL) != FV_OK || r.duplicate)
            pb->failures++;
        else
            pb->last_seq = r.seq;
        fv_event_clear(&ev);
        atomic_store(&pb->done, i + 1 - pb->from);
    }
    return NULL;
}

/* every event after the cursor exactly once and in order, while another thread publishes */
void fv_bus_suite_test_resume_from_cursor_during_concurrent_publish(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    size_t n = s->concurrent_events ? s->concurrent_events : 2000;
    if (n < 8)
        n = 8;
    size_t pre = n / 4, half = pre / 2;
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "cc");
    for (size_t i = 0; i < pre; i++)
        pub_indexed(bus, t, i, NULL);

    fv_pattern p;
    fv_pattern_init(&p, t);
    fv_types_filter *f = types("events", FV_TYPES_DEFAULT_ALL);
    p.types = f;
    fv_collector first;
    fv_collector_init(&first);
    fv_start st_first = {.kind = FV_START_FIRST};
    fv_cursor cur = read_into(bus, &p, &st_first, half, &first);
    assert_int_equal(first.n_data, half);
    assert_int_equal(index_of(&first.items[first.n - 1]), (long)half - 1);
    assert_int_equal(cur.events_seq, first.items[first.n - 1].seq);
    fv_collector_destroy(&first);

    publisher pb = {.bus = bus, .tenant = t, .from = pre, .to = n};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, publisher_main, &pb), 0);
    /* subscribe once publishing is under way, and consume the catch-up slowly, so that the
     * hand-over to live happens while events keep arriving */
    int64_t give_up = fv_monotonic_ms() + tmo(s);
    while (atomic_load(&pb.done) < (n - pre) / 10 && fv_monotonic_ms() < give_up)
        fv_sleep_ms(1);
    fv_collector c;
    watch(&c);
    c.slow_us = 20;
    c.slow_until = 2 * half;
    fv_start st = {.kind = FV_START_CURSOR, .cursor = cur};
    fv_sub *sub = sub_start(bus, &p, &st, &c, 16); /* small batches: a long catch-up */
    bool got = fv_collector_wait(&c, n - half, tmo(s) + (int)n);
    pthread_join(th, NULL);
    assert_int_equal(pb.failures, 0);
    if (!got)
        fail_msg("received %zu of %zu events", fv_collector_count(&c), n - half);
    assert_true(fv_collector_wait_kind(&c, FV_MSG_LIVE, tmo(s))); /* the hand-over happened */
    fv_collector_stop(&c, sub, tmo(s));
    assert_clean(&c);
    assert_int_equal(c.n_data, n - half);
    assert_int_equal(fv_collector_find(&c, FV_MSG_GAP, 0), c.n);
    size_t lives = 0;
    long want = (long)half;
    uint64_t prev = cur.events_seq;
    for (size_t i = 0; i < c.n; i++) {
        const fv_collected *it = &c.items[i];
        if (it->kind == FV_MSG_LIVE) {
            lives++;
            continue;
        }
        assert_int_equal(it->kind, FV_MSG_EVENT);
        if (index_of(it) != want)
            fail_msg("message %zu: event %ld, expected %ld", i, index_of(it), want);
        want++;
        assert_true(it->seq > prev);
        prev = it->seq;
        assert_int_equal(it->cursor.events_seq, it->seq);
    }
    assert_int_equal(lives, 1);
    assert_int_equal(prev, pb.last_seq);
    fv_types_filter_destroy(f);
    fv_collector_destroy(&c);
    drop(s, bus);
}

static void assert_indices(const fv_collector *c, size_t count)
{
    long want = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->items[i].kind != FV_MSG_EVENT)
            continue;
        if (index_of(&c->items[i]) != want)
            fail_msg("message %zu: event %ld, expected %ld", i, index_of(&c->items[i]), want);
        want++;
    }
    assert_int_equal(want, (long)count);
}

void fv_bus_suite_test_pause_and_resume_lose_nothing(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "ps");
    for (size_t i = 0; i < 20; i++)
        pub_indexed(bus, t, i, NULL);
    fv_collector c;
    watch(&c);
    fv_collector_pause_at(&c, 5); /* during catch-up */
    fv_pattern p;
    fv_pattern_init(&p, t);
    fv_start st = {.kind = FV_START_FIRST};
    fv_sub *sub = sub_start(bus, &p, &st, &c, 0);
    assert_true(fv_collector_wait_paused(&c, tmo(s)));
    for (size_t i = 20; i < 30; i++)
        pub_indexed(bus, t, i, NULL);
    /* a paused subscription gets nothing more */
    assert_false(fv_collector_wait(&c, 6, 200));
    assert_int_equal(fv_collector_count(&c), 5);

    fv_collector_pause_at(&c, 32); /* again, after the hand-over to live */
    fv_sub_resume(sub);
    assert_true(fv_collector_wait(&c, 30, tmo(s)));
    assert_true(fv_collector_wait_kind(&c, FV_MSG_LIVE, tmo(s)));
    for (size_t i = 30; i < 40; i++)
        pub_indexed(bus, t, i, NULL);
    assert_true(fv_collector_wait_paused(&c, tmo(s)));
    assert_false(fv_collector_wait(&c, 33, 100));
    fv_sub_resume(sub);
    assert_true(fv_collector_wait(&c, 40, tmo(s)));
    fv_collector_stop(&c, sub, tmo(s));
    assert_clean(&c);
    assert_int_equal(c.n_data, 40);
    assert_indices(&c, 40);
    fv_collector_destroy(&c);
    drop(s, bus);
}

void fv_bus_suite_test_start_first_of_a_workflow(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "fw");
    uint64_t w2_first = 0;
    pub(bus, t, "w1", NULL, "workflow.started", NULL, NULL);
    pub_stream(bus, t, "w1", NULL, 1, FV_KIND_TOKEN, NULL);
    pub(bus, t, "w2", NULL, "workflow.started", NULL, &w2_first);
    pub_stream(bus, t, "w2", "k2", 1, FV_KIND_TOKEN, NULL);
    pub(bus, t, "w1", "k1", "task.completed", NULL, NULL);
    pub(bus, t, "w2", "k2", "task.completed", NULL, NULL);
    pub_stream(bus, t, "w2", NULL, 2, FV_KIND_PROGRESS, NULL);

    fv_collector c;
    watch(&c);
    fv_pattern p;
    fv_pattern_init(&p, t);
    snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "w2");
    fv_start st = {.kind = FV_START_FIRST};
    fv_sub *sub = sub_start(bus, &p, &st, &c, 0);
    assert_true(fv_collector_wait(&c, 4, tmo(s)));
    pub(bus, t, "w2", NULL, "workflow.completed", NULL, NULL); /* a late event arrives live */
    pub(bus, t, "w1", NULL, "workflow.completed", NULL, NULL);
    assert_true(fv_collector_wait(&c, 5, tmo(s)));
    assert_false(fv_collector_wait(&c, 6, 100));
    fv_collector_stop(&c, sub, tmo(s));
    assert_clean(&c);
    assert_int_equal(c.n_data, 5);
    size_t i0 = fv_collector_find(&c, FV_MSG_EVENT, 0);
    assert_true(i0 < c.n);
    assert_int_equal(c.items[i0].seq, w2_first);
    assert_string_equal(c.items[i0].ev.event_type, "workflow.started");
    for (size_t i = 0; i < c.n; i++) {
        if (c.items[i].kind == FV_MSG_EVENT)
            assert_string_equal(c.items[i].ev.workflow_execution_id, "w2");
        else if (c.items[i].kind == FV_MSG_STREAM)
            assert_string_equal(c.items[i].se.workflow_execution_id, "w2");
        else
            assert_int_not_equal(c.items[i].kind, FV_MSG_GAP);
    }
    size_t last = fv_collector_find(&c, FV_MSG_EVENT, i0 + 1);
    for (size_t i = last; i < c.n; i++)
        if (c.items[i].kind == FV_MSG_EVENT)
            last = i;
    assert_string_equal(c.items[last].ev.event_type, "workflow.completed");

    /* the registry's hint (first sequence of the workflow) gives the same start */
    fv_collector r;
    fv_collector_init(&r);
    fv_start hinted = {.kind = FV_START_FIRST, .events_seq = w2_first};
    read_into(bus, &p, &hinted, 100, &r);
    assert_int_equal(r.n_data, 5);
    assert_int_equal(r.items[fv_collector_find(&r, FV_MSG_EVENT, 0)].seq, w2_first);
    fv_collector_destroy(&r);
    fv_collector_destroy(&c);
    drop(s, bus);
}

void fv_bus_suite_test_start_time(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "tm");
    for (size_t i = 0; i < 5; i++)
        pub_indexed(bus, t, i, NULL);
    fv_sleep_ms(20); /* the second batch is stored at a later millisecond */
    for (size_t i = 5; i < 10; i++)
        pub_indexed(bus, t, i, NULL);
    fv_pattern p;
    fv_pattern_init(&p, t);
    fv_collector all;
    fv_collector_init(&all);
    fv_start first = {.kind = FV_START_FIRST};
    read_into(bus, &p, &first, 100, &all);
    assert_int_equal(all.n_data, 10);
    size_t i5 = 0;
    for (size_t i = 0; i < all.n; i++)
        if (index_of(&all.items[i]) == 5)
            i5 = i;
    int64_t t5 = all.items[i5].stored_ms;
    assert_true(t5 > all.items[i5 - 1].stored_ms);
    fv_collector_destroy(&all);

    fv_collector c;
    watch(&c);
    fv_start st = {.kind = FV_START_TIME, .time_ms = t5};
    fv_sub *sub = sub_start(bus, &p, &st, &c, 0);
    assert_true(fv_collector_wait(&c, 5, tmo(s)));
    assert_false(fv_collector_wait(&c, 6, 100));
    fv_collector_stop(&c, sub, tmo(s));
    assert_clean(&c);
    assert_int_equal(fv_collector_find(&c, FV_MSG_GAP, 0), c.n);
    long want = 5;
    for (size_t i = 0; i < c.n; i++)
        if (c.items[i].kind == FV_MSG_EVENT)
            assert_int_equal(index_of(&c.items[i]), want++);
    assert_int_equal(want, 10);
    fv_collector_destroy(&c);

    fv_collector r;
    fv_collector_init(&r);
    read_into(bus, &p, &st, 100, &r);
    assert_int_equal(r.n_data, 5);
    assert_int_equal(index_of(&r.items[fv_collector_find(&r, FV_MSG_EVENT, 0)]), 5);
    fv_collector_destroy(&r);
    drop(s, bus);
}

void fv_bus_suite_test_gap_on_foreign_epoch_cursor(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "gp");
    uint64_t last = 0;
    for (size_t i = 0; i < 3; i++)
        pub_indexed(bus, t, i, &last);
    fv_pattern p;
    fv_pattern_init(&p, t);
    fv_types_filter *f = types("events", FV_TYPES_DEFAULT_ALL);
    p.types = f;
    fv_cursor foreign = {last, 0, fv_bus_epoch(bus) ^ 0x5a5a5a5a5a5aULL};
    fv_collector c;
    watch(&c);
    fv_start st = {.kind = FV_START_CURSOR, .cursor = foreign};
    fv_sub *sub = sub_start(bus, &p, &st, &c, 0);
    assert_true(fv_collector_wait(&c, 3, tmo(s)));
    fv_collector_stop(&c, sub, tmo(s));
    assert_clean(&c);
    assert_true(c.n > 0);
    assert_int_equal(c.items[0].kind, FV_MSG_GAP);
    assert_int_equal(c.items[0].gap_requested.events_seq, foreign.events_seq);
    assert_int_equal(c.items[0].gap_requested.epoch, foreign.epoch);
    assert_int_equal(c.items[0].gap_resumed_from.epoch, fv_bus_epoch(bus));
    assert_int_equal(fv_collector_find(&c, FV_MSG_GAP, 1), c.n);
    assert_indices(&c, 3); /* replay from the oldest retained */
    assert_int_equal(c.items[c.n - 1].cursor.epoch, fv_bus_epoch(bus));
    fv_collector_destroy(&c);

    fv_collector r;
    fv_collector_init(&r);
    fv_cursor next = read_into(bus, &p, &st, 100, &r);
    assert_true(r.n > 0);
    assert_int_equal(r.items[0].kind, FV_MSG_GAP);
    assert_indices(&r, 3);
    assert_int_equal(next.epoch, fv_bus_epoch(bus));
    assert_int_equal(next.events_seq, last);
    fv_collector_destroy(&r);
    fv_types_filter_destroy(f);
    drop(s, bus);
}

void fv_bus_suite_test_merged_sources_keep_order_per_source(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "mg");
    const char *plan = "essesee sesse";
    uint64_t eseq[16], sseq[16];
    size_t ne = 0, ns = 0;
    for (const char *q = plan; *q; q++) {
        if (*q == 'e') {
            char id[32];
            snprintf(id, sizeof id, "e-%zu", ne);
            pub(bus, t, "wm", NULL, "task.completed", id, &eseq[ne++]);
        } else if (*q == 's') {
            pub_stream(bus, t, "wm", NULL, (int64_t)ns, FV_KIND_TOKEN, &sseq[ns]);
            ns++;
        } else {
            fv_sleep_ms(2);
        }
    }
    fv_collector c;
    watch(&c);
    fv_pattern p;
    fv_pattern_init(&p, t);
    snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "wm");
    fv_start st = {.kind = FV_START_FIRST};
    fv_sub *sub = sub_start(bus, &p, &st, &c, 3);
    assert_true(fv_collector_wait(&c, ne + ns, tmo(s)));
    fv_collector_stop(&c, sub, tmo(s));
    assert_clean(&c);
    assert_int_equal(c.n_data, ne + ns);
    size_t ie = 0, is = 0;
    fv_cursor prev = {0};
    int64_t prev_ms = 0;
    for (size_t i = 0; i < c.n; i++) {
        const fv_collected *it = &c.items[i];
        if (it->kind != FV_MSG_EVENT && it->kind != FV_MSG_STREAM)
            continue;
        if (it->kind == FV_MSG_EVENT) {
            assert_int_equal(it->seq, eseq[ie]);
            assert_int_equal(index_of(it), (long)ie);
            assert_int_equal(it->cursor.events_seq, eseq[ie]);
            ie++;
        } else {
            assert_int_equal(it->seq, sseq[is]);
            assert_int_equal(it->se.sequence, (int64_t)is);
            assert_int_equal(it->cursor.streams_seq, sseq[is]);
            is++;
        }
        /* the cursor never moves back in either source, and merging follows stored time */
        assert_true(it->cursor.events_seq >= prev.events_seq);
        assert_true(it->cursor.streams_seq >= prev.streams_seq);
        assert_true(it->stored_ms >= prev_ms);
        prev = it->cursor;
        prev_ms = it->stored_ms;
    }
    assert_int_equal(prev.events_seq, eseq[ne - 1]);
    assert_int_equal(prev.streams_seq, sseq[ns - 1]);

    /* resuming the merged stream from a cursor in the middle continues both sources */
    fv_collector r;
    fv_collector_init(&r);
    fv_cursor mid = {eseq[1], sseq[1], fv_bus_epoch(bus)};
    fv_start from_mid = {.kind = FV_START_CURSOR, .cursor = mid};
    read_into(bus, &p, &from_mid, 100, &r);
    assert_int_equal(r.n_data, (ne - 2) + (ns - 2));
    assert_int_equal(fv_collector_find(&r, FV_MSG_GAP, 0), r.n);
    assert_int_equal(r.items[fv_collector_find(&r, FV_MSG_EVENT, 0)].seq, eseq[2]);
    assert_int_equal(r.items[fv_collector_find(&r, FV_MSG_STREAM, 0)].seq, sseq[2]);
    fv_collector_destroy(&r);
    fv_collector_destroy(&c);
    drop(s, bus);
}

void fv_bus_suite_test_read_pages_with_next_cursor(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "pg");
    uint64_t seqs[26];
    for (size_t i = 0; i < 26; i++) /* even: task.completed, odd: task.started */
        pub_indexed(bus, t, i, &seqs[i]);
    fv_pattern p;
    fv_pattern_init(&p, t);
    fv_types_filter *f = types("task.completed", FV_TYPES_DEFAULT_ALL);
    p.types = f;
    fv_start st = {.kind = FV_START_FIRST};
    long want = 0;
    int pages = 0, ends = 0;
    fv_cursor next = {0};
    for (; pages < 10; pages++) {
        fv_collector c;
        fv_collector_init(&c);
        next = read_into(bus, &p, &st, 5, &c);
        assert_true(c.n_data <= 5);
        for (size_t i = 0; i < c.n; i++) {
            if (c.items[i].kind == FV_MSG_END) {
                ends++;
                continue;
            }
            assert_int_equal(c.items[i].kind, FV_MSG_EVENT);
            assert_int_equal(index_of(&c.items[i]), want);
            want += 2;
        }
        if (c.n_data == 5) /* a full page ends right after its last message */
            assert_int_equal(next.events_seq, c.items[c.n - 1].seq);
        size_t got = c.n_data;
        fv_collector_destroy(&c);
        st = (fv_start){.kind = FV_START_CURSOR, .cursor = next};
        if (got < 5)
            break;
    }
    assert_int_equal(want, 26); /* 0, 2, ..., 24 exactly once */
    assert_int_equal(pages, 2);
    assert_true(ends >= 1);
    /* the next cursor went past the trailing non-matching event */
    assert_int_equal(next.events_seq, seqs[25]);
    assert_int_equal(next.epoch, fv_bus_epoch(bus));

    fv_collector c;
    fv_collector_init(&c);
    fv_cursor again = read_into(bus, &p, &st, 5, &c);
    assert_int_equal(c.n_data, 0);
    assert_int_equal(again.events_seq, next.events_seq);
    fv_collector_destroy(&c);
    fv_types_filter_destroy(f);
    drop(s, bus);
}

typedef struct self_closer {
    fv_collector c;
    pthread_mutex_t mu;
    fv_sub *sub;
    int closes;
} self_closer;

static int self_close_on_msg(void *ud, const fv_msg *m)
{
    self_closer *sc = ud;
    int rc = fv_collector_on_msg(&sc->c, m);
    pthread_mutex_lock(&sc->mu);
    fv_sub *sub = sc->sub;
    if (sub && m->kind == FV_MSG_EVENT && !sc->closes++)
        fv_sub_close(sub); /* from inside the callback: must not deadlock */
    pthread_mutex_unlock(&sc->mu);
    return rc;
}

void fv_bus_suite_test_close_releases_once_and_stops_callbacks(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "cl");
    fv_collector c;
    watch(&c);
    c.check_forbidden = false; /* the publisher is a thread of its own here */
    fv_pattern p;
    fv_pattern_init(&p, t);
    fv_start st = {.kind = FV_START_NEW};
    fv_sub *sub = sub_start(bus, &p, &st, &c, 0);
    assert_true(fv_collector_wait_kind(&c, FV_MSG_LIVE, tmo(s)));
    publisher pb = {.bus = bus, .tenant = t, .from = 0, .to = 400};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, publisher_main, &pb), 0);
    assert_true(fv_collector_wait(&c, 10, tmo(s)));
    fv_collector_stop(&c, sub, tmo(s)); /* while messages are flowing */
    size_t at_close = fv_collector_count(&c);
    pthread_join(th, NULL);
    fv_sleep_ms(50);
    assert_int_equal(fv_collector_count(&c), at_close);
    assert_clean(&c);
    assert_indices(&c, c.n_data); /* what arrived is a gap-free prefix */
    fv_collector_destroy(&c);

    /* closing from inside the callback */
    self_closer sc;
    fv_collector_init(&sc.c);
    pthread_mutex_init(&sc.mu, NULL);
    sc.closes = 0;
    sc.sub = NULL;
    fv_sub_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.pattern = p;
    cfg.start = (fv_start){.kind = FV_START_NEW};
    cfg.on_msg = self_close_on_msg;
    cfg.on_release = fv_collector_on_release;
    cfg.ud = &sc.c; /* sc.c is the first member: the same address as sc */
    fv_sub *sub2 = NULL;
    pthread_mutex_lock(&sc.mu);
    assert_int_equal(fv_bus_subscribe(bus, &cfg, &sub2, NULL), FV_OK);
    sc.sub = sub2;
    pthread_mutex_unlock(&sc.mu);
    assert_true(fv_collector_wait_kind(&sc.c, FV_MSG_LIVE, tmo(s)));
    for (size_t i = 0; i < 5; i++)
        pub_indexed(bus, t, 1000 + i, NULL);
    assert_true(fv_collector_wait_released(&sc.c, tmo(s)));
    fv_sleep_ms(50);
    assert_int_equal(sc.c.releases, 1);
    assert_int_equal(sc.c.n_data, 1);
    assert_int_equal(sc.c.calls_after_release, 0);
    pthread_mutex_destroy(&sc.mu);
    fv_collector_destroy(&sc.c);
    drop(s, bus);
}

void fv_bus_suite_test_until_ends_the_stream(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "un");
    for (size_t i = 0; i < 3; i++)
        pub_indexed(bus, t, i, NULL);
    fv_pattern p;
    fv_pattern_init(&p, t);
    fv_collector all;
    fv_collector_init(&all);
    fv_start first = {.kind = FV_START_FIRST};
    read_into(bus, &p, &first, 100, &all);
    assert_int_equal(all.n_data, 3);
    int64_t until = all.items[fv_collector_find(&all, FV_MSG_EVENT, 0) + 2].stored_ms;
    fv_collector_destroy(&all);
    fv_sleep_ms(5);

    fv_collector c;
    watch(&c);
    fv_start st = {.kind = FV_START_FIRST, .until_ms = until};
    fv_sub *sub = sub_start(bus, &p, &st, &c, 0);
    assert_true(fv_collector_wait(&c, 3, tmo(s)));
    for (size_t i = 3; i < 5; i++) /* stored after `until` */
        pub_indexed(bus, t, i, NULL);
    assert_true(fv_collector_wait_kind(&c, FV_MSG_END, tmo(s)));
    fv_sleep_ms(50);
    fv_collector_stop(&c, sub, tmo(s));
    assert_clean(&c);
    assert_int_equal(c.n_data, 3);
    assert_indices(&c, 3);
    size_t iend = fv_collector_find(&c, FV_MSG_END, 0);
    for (size_t i = iend + 1; i < c.n; i++)
        assert_true(c.items[i].kind != FV_MSG_EVENT && c.items[i].kind != FV_MSG_STREAM);

    fv_collector r;
    fv_collector_init(&r);
    read_into(bus, &p, &st, 100, &r);
    assert_int_equal(r.n_data, 3);
    assert_true(fv_collector_find(&r, FV_MSG_END, 0) < r.n);
    fv_collector_destroy(&r);
    fv_collector_destroy(&c);
    drop(s, bus);
}

/* the consolidated stream's shape: a set of workflow ids that grows with each child's event */
typedef struct descendants {
    char ids[8][FV_ID_MAX + 1];
    int n;
    int calls;
} descendants;

static bool in_set(const descendants *d, const char *id)
{
    for (int i = 0; i < d->n; i++)
        if (strcmp(d->ids[i], id) == 0)
            return true;
    return false;
}

static bool accept_descendant(void *ud, const fv_event *ev, const fv_stream_event *se)
{
    descendants *d = ud;
    d->calls++;
    const char *wf = ev ? ev->workflow_execution_id : se->workflow_execution_id;
    if (in_set(d, wf))
        return true;
    if (ev && ev->parent_workflow_execution_id[0] && in_set(d, ev->parent_workflow_execution_id) &&
        d->n < 8) {
        snprintf(d->ids[d->n++], sizeof d->ids[0], "%s", wf);
        return true;
    }
    return false;
}

void fv_bus_suite_test_accept_predicate_sees_events_in_order(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "acc");
    struct {
        const char *wf, *parent, *type;
        bool in;
    } plan[] = {
        {"root", NULL, "workflow.started", true},     {"other", NULL, "workflow.started", false},
        {"child", "root", "workflow.started", true},  {"child", NULL, "task.completed", true},
        {"grand", "child", "workflow.started", true}, {"other", NULL, "workflow.completed", false},
        {"grand", NULL, "workflow.completed", true},
    };
    size_t n = sizeof plan / sizeof *plan, expect = 0;
    for (size_t i = 0; i < n; i++) {
        fv_event ev;
        char id[32];
        snprintf(id, sizeof id, "e-%zu", i);
        fv_bus_suite_event(&ev, t, plan[i].wf, NULL, plan[i].type, id, "{}");
        if (plan[i].parent)
            snprintf(ev.parent_workflow_execution_id, sizeof ev.parent_workflow_execution_id, "%s",
                     plan[i].parent);
        fv_bus_suite_publish(bus, &ev);
        fv_event_clear(&ev);
        expect += plan[i].in;
    }
    descendants d;
    memset(&d, 0, sizeof d);
    snprintf(d.ids[d.n++], sizeof d.ids[0], "root");
    fv_pattern p;
    fv_pattern_init(&p, t);
    fv_types_filter *f = types("events", FV_TYPES_DEFAULT_ALL);
    p.types = f;
    p.accept = accept_descendant;
    p.accept_ud = &d;
    fv_collector c;
    watch(&c);
    fv_start st = {.kind = FV_START_FIRST};
    fv_sub *sub = sub_start(bus, &p, &st, &c, 2);
    assert_true(fv_collector_wait(&c, expect, tmo(s)));
    assert_false(fv_collector_wait(&c, expect + 1, 100));
    fv_collector_stop(&c, sub, tmo(s));
    assert_clean(&c);
    size_t k = 0;
    for (size_t i = 0; i < c.n; i++) {
        if (c.items[i].kind != FV_MSG_EVENT)
            continue;
        while (k < n && !plan[k].in)
            k++;
        assert_true(k < n);
        assert_int_equal(index_of(&c.items[i]), (long)k);
        k++;
    }
    assert_int_equal(d.n, 3); /* root, child, grand */
    fv_types_filter_destroy(f);
    fv_collector_destroy(&c);
    drop(s, bus);
}

/* --- a storm of scattered resumes ------------------------------------------------------------ */

/* Sizes of the storm. 2,000 subscriptions resume at once from cursors spread over 3,000 stored
 * records (a gateway restarted under its clients), while 500 more are published. Not sized down:
 * measured on 2 cores, about 1 s on the memory bus and 15 s on JetStream with one consumer per
 * resume (25 s under AddressSanitizer); shared readers bring JetStream near the memory bus. */
#define SC_WORKFLOWS 20
#define SC_PRE 3000
#define SC_CONCURRENT 500
#define SC_SUBS 2000
#define SC_BATCH 250
#define SC_TAG(src, seq) (((uint64_t)(src) << 63) | (seq))

typedef struct sc_rec {
    fv_source src;
    uint64_t seq;
    int wf;
} sc_rec;

typedef struct sc_run sc_run;

/* one subscription of the storm: what it was asked for and what it got (sequences only) */
typedef struct sc_sub {
    sc_run *run;
    fv_sub *sub;
    int wf; /* -1 = the whole tenant */
    fv_cursor cursor;
    size_t expect;
    uint64_t *got; /* SC_TAG(source, seq) in delivery order */
    size_t cap;
    atomic_size_t n; /* data messages, also those beyond cap */
    atomic_int lives, gaps, others, releases, in_cb, after_release;
    atomic_bool overlapped;
    bool done; /* only the subscription's callbacks touch it */
} sc_sub;

struct sc_run {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t done, released;
};

static int sc_on_msg(void *ud, const fv_msg *m)
{
    sc_sub *s = ud;
    if (atomic_fetch_add(&s->in_cb, 1))
        atomic_store(&s->overlapped, true);
    if (atomic_load(&s->releases))
        atomic_fetch_add(&s->after_release, 1);
    if (m->kind == FV_MSG_EVENT || m->kind == FV_MSG_STREAM) {
        size_t i = atomic_load(&s->n);
        if (i < s->cap)
            s->got[i] = SC_TAG(m->source, m->seq);
        atomic_store(&s->n, i + 1);
    } else if (m->kind == FV_MSG_LIVE) {
        atomic_fetch_add(&s->lives, 1);
    } else if (m->kind == FV_MSG_GAP) {
        atomic_fetch_add(&s->gaps, 1);
    } else {
        atomic_fetch_add(&s->others, 1);
    }
    if (!s->done && atomic_load(&s->lives) > 0 && atomic_load(&s->n) >= s->expect) {
        s->done = true;
        pthread_mutex_lock(&s->run->mu);
        s->run->done++;
        pthread_cond_broadcast(&s->run->cv);
        pthread_mutex_unlock(&s->run->mu);
    }
    atomic_fetch_sub(&s->in_cb, 1);
    return FV_SUB_OK;
}

static void sc_on_release(void *ud)
{
    sc_sub *s = ud;
    pthread_mutex_lock(&s->run->mu);
    atomic_fetch_add(&s->releases, 1);
    s->run->released++;
    pthread_cond_broadcast(&s->run->cv);
    pthread_mutex_unlock(&s->run->mu);
}

/* waits until *counter reaches want; false on timeout */
static bool sc_wait(sc_run *run, const size_t *counter, size_t want, int timeout_ms)
{
    struct timespec ts;
    fv_deadline_ms(&ts, CLOCK_MONOTONIC, timeout_ms);
    pthread_mutex_lock(&run->mu);
    while (*counter < want)
        if (pthread_cond_timedwait(&run->cv, &run->mu, &ts) != 0)
            break;
    bool ok = *counter >= want;
    pthread_mutex_unlock(&run->mu);
    return ok;
}

/* record i of a plan: its workflow and whether it is a stream event */
static int sc_wf_of(size_t i, bool concurrent)
{
    return (int)((concurrent ? i * 3 + 1 : i + i / 7) % SC_WORKFLOWS);
}

static bool sc_is_stream(size_t i, bool concurrent)
{
    return concurrent ? i % 5 == 2 : i % 6 == 1; /* record 1 of the history is one */
}

static void sc_wf_name(char *out, size_t cap, int wf)
{
    snprintf(out, cap, "wf-%02d", wf);
}

typedef struct sc_publisher {
    fv_bus *bus;
    const char *tenant;
    sc_rec recs[SC_CONCURRENT];
    atomic_size_t *opened; /* subscriptions opened so far: publishing is spread over the storm */
    size_t failures;
} sc_publisher;

static void *sc_publisher_main(void *arg)
{
    sc_publisher *pb = arg;
    for (size_t j = 0; j < SC_CONCURRENT; j++) {
        while (atomic_load(pb->opened) < j * SC_SUBS / SC_CONCURRENT)
            usleep(100);
        char wf[16];
        int w = sc_wf_of(j, true);
        sc_wf_name(wf, sizeof wf, w);
        fv_publish_result r = {0};
        fv_status st;
        if (sc_is_stream(j, true)) {
            fv_stream_event se;
            fv_bus_suite_stream(&se, pb->tenant, wf, NULL, (int64_t)(SC_PRE + j), FV_KIND_TOKEN,
                                "\"c\"");
            st = fv_bus_publish_stream(pb->bus, &se, &r, NULL);
            fv_stream_event_clear(&se);
            pb->recs[j].src = FV_SRC_STREAMS;
        } else {
            fv_event ev;
            fv_bus_suite_event(&ev, pb->tenant, wf, NULL, "task.progressed", NULL, "{\"c\":1}");
            st = fv_bus_publish_event(pb->bus, &ev, &r, NULL);
            fv_event_clear(&ev);
            pb->recs[j].src = FV_SRC_EVENTS;
        }
        if (st != FV_OK || r.duplicate)
            pb->failures++;
        pb->recs[j].seq = r.seq;
        pb->recs[j].wf = w;
    }
    return NULL;
}

/* publishes the history in pipelined batches; recs[i] gets each record's stored sequence */
static void sc_publish_history(fv_bus *bus, const char *tenant, sc_rec *recs)
{
    fv_event *evs = calloc(SC_BATCH, sizeof *evs);
    fv_stream_event *ses = calloc(SC_BATCH, sizeof *ses);
    fv_publish_item *items = calloc(SC_BATCH, sizeof *items);
    assert_non_null(evs);
    assert_non_null(ses);
    assert_non_null(items);
    static const char *const kinds[] = {"workflow.started", "task.started", "task.completed"};
    for (size_t base = 0; base < SC_PRE; base += SC_BATCH) {
        size_t n = SC_PRE - base < SC_BATCH ? SC_PRE - base : SC_BATCH;
        memset(items, 0, n * sizeof *items);
        for (size_t k = 0; k < n; k++) {
            size_t i = base + k;
            char wf[16];
            recs[i].wf = sc_wf_of(i, false);
            sc_wf_name(wf, sizeof wf, recs[i].wf);
            if (sc_is_stream(i, false)) {
                fv_bus_suite_stream(&ses[k], tenant, wf, NULL, (int64_t)i, FV_KIND_TOKEN, "\"h\"");
                items[k].se = &ses[k];
                recs[i].src = FV_SRC_STREAMS;
            } else {
                fv_bus_suite_event(&evs[k], tenant, wf, NULL, kinds[i % 3], NULL, "{\"h\":1}");
                items[k].ev = &evs[k];
                recs[i].src = FV_SRC_EVENTS;
            }
        }
        fv_err err = {{0}};
        if (fv_bus_publish_batch(bus, items, n, &err) != FV_OK)
            fail_msg("publish batch: %s", err.msg);
        for (size_t k = 0; k < n; k++) {
            if (items[k].status != FV_OK || items[k].result.duplicate)
                fail_msg("record %zu: status %d duplicate %d: %s", base + k, items[k].status,
                         items[k].result.duplicate, items[k].err.msg);
            recs[base + k].seq = items[k].result.seq;
            if (items[k].ev)
                fv_event_clear(&evs[k]);
            else
                fv_stream_event_clear(&ses[k]);
        }
    }
    free(evs);
    free(ses);
    free(items);
}

static bool sc_matches(const sc_sub *s, const sc_rec *r)
{
    if (s->wf >= 0 && r->wf != s->wf)
        return false;
    uint64_t after = r->src == FV_SRC_EVENTS ? s->cursor.events_seq : s->cursor.streams_seq;
    return r->seq > after;
}

static int sc_cmp_rec(const void *a, const void *b)
{
    const sc_rec *x = a, *y = b;
    if (x->src != y->src)
        return x->src < y->src ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* true when s got exactly the records of sorted[] (by source, then sequence) it matches, each
 * once and in sequence order per source, with one LIVE, no GAP, released once; else why not */
static bool sc_check(const sc_sub *s, const sc_rec *sorted, size_t nall, char *why, size_t cap)
{
    size_t n = atomic_load(&s->n);
    bool counts_bad = atomic_load(&s->gaps) || atomic_load(&s->others) ||
                      atomic_load(&s->lives) != 1 || atomic_load(&s->overlapped) ||
                      atomic_load(&s->releases) != 1 || atomic_load(&s->after_release) ||
                      n != s->expect;
    if (counts_bad) {
        int w = snprintf(why, cap,
                         "%zu data messages (expected %zu), %d gap, %d live, %d other, "
                         "overlapped %d, %d releases, %d callbacks after release",
                         n, s->expect, atomic_load(&s->gaps), atomic_load(&s->lives),
                         atomic_load(&s->others), (int)atomic_load(&s->overlapped),
                         atomic_load(&s->releases), atomic_load(&s->after_release));
        /* and where the sequence first went wrong, which says more than a count */
        char where[160];
        size_t kept = n < s->cap ? n : s->cap;
        if (w > 0 && (size_t)w < cap &&
            !sc_check(&(sc_sub){.n = kept,
                                .expect = kept,
                                .lives = 1,
                                .releases = 1,
                                .got = s->got,
                                .cap = s->cap,
                                .wf = s->wf,
                                .cursor = s->cursor},
                      sorted, nall, where, sizeof where)) {
            /* cut to what fits (the return value is checked, so an optimising build does not
             * warn about the truncation meant here) */
            if (snprintf(why + w, cap - (size_t)w, "; %s", where) < 0)
                why[w] = '\0';
        }
        return false;
    }
    size_t first_streams = 0;
    while (first_streams < nall && sorted[first_streams].src == FV_SRC_EVENTS)
        first_streams++;
    size_t k[2] = {0, first_streams}, end[2] = {first_streams, nall};
    for (size_t i = 0; i < n; i++) {
        int src = (int)(s->got[i] >> 63);
        uint64_t seq = s->got[i] & ~((uint64_t)1 << 63);
        while (k[src] < end[src] && !sc_matches(s, &sorted[k[src]]))
            k[src]++;
        if (k[src] == end[src] || sorted[k[src]].seq != seq) {
            snprintf(why, cap, "message %zu: %s seq %llu, expected %s%llu", i,
                     src ? "streams" : "events", (unsigned long long)seq,
                     k[src] == end[src] ? "nothing more, not " : "",
                     k[src] == end[src] ? 0ULL : (unsigned long long)sorted[k[src]].seq);
            return false;
        }
        k[src]++;
    }
    for (int src = 0; src < 2; src++) {
        while (k[src] < end[src] && !sc_matches(s, &sorted[k[src]]))
            k[src]++;
        if (k[src] < end[src]) {
            snprintf(why, cap, "%s seq %llu never arrived", src ? "streams" : "events",
                     (unsigned long long)sorted[k[src]].seq);
            return false;
        }
    }
    why[0] = '\0';
    return true;
}

/* Thousands of subscriptions resume at once from cursors scattered over retained history (the
 * first records to the last, the whole tenant or one workflow) while publishing goes on: each
 * gets every matching record after its cursor exactly once, in order, without gap, then LIVE and
 * the records published meanwhile; each is released once. */
void fv_bus_suite_test_many_scattered_resumes_each_get_exactly_their_events(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "sc");
    size_t nall = SC_PRE + SC_CONCURRENT;
    sc_rec *recs = calloc(nall, sizeof *recs);
    assert_non_null(recs);
    sc_publish_history(bus, t, recs);

    /* cursor of history position k: the last sequence of each source up to record k */
    fv_cursor *at = calloc(SC_PRE, sizeof *at);
    assert_non_null(at);
    uint64_t epoch = fv_bus_epoch(bus);
    for (size_t i = 0; i < SC_PRE; i++) {
        at[i] = i ? at[i - 1] : (fv_cursor){0, 0, epoch};
        uint64_t *p = recs[i].src == FV_SRC_EVENTS ? &at[i].events_seq : &at[i].streams_seq;
        if (recs[i].seq > *p)
            *p = recs[i].seq;
    }
    /* records the concurrent publisher will add, per workflow (all come after every cursor) */
    size_t conc_wf[SC_WORKFLOWS] = {0};
    for (size_t j = 0; j < SC_CONCURRENT; j++)
        conc_wf[sc_wf_of(j, true)]++;

    /* on the heap: if a subscription is never released, its callbacks may still use it */
    sc_run *run = calloc(1, sizeof *run);
    assert_non_null(run);
    pthread_mutex_init(&run->mu, NULL);
    cond_init_mono(&run->cv);
    sc_sub *subs = calloc(SC_SUBS, sizeof *subs);
    assert_non_null(subs);
    for (size_t i = 0; i < SC_SUBS; i++) {
        sc_sub *x = &subs[i];
        x->run = run;
        x->wf = i % 3 == 0 ? -1 : (int)(i % SC_WORKFLOWS);
        /* positions in a scrambled order, from record 1 (the first event and the first stream
         * event are both behind it) to the very last record */
        size_t rank = (i * 769) % SC_SUBS;
        size_t k = 1 + rank * (SC_PRE - 2) / (SC_SUBS - 1);
        x->cursor = at[k];
        for (size_t r = 0; r < SC_PRE; r++)
            if (sc_matches(x, &recs[r]))
                x->expect++;
        if (x->wf < 0)
            x->expect += SC_CONCURRENT;
        else
            x->expect += conc_wf[x->wf];
        x->cap = x->expect + 16; /* room to see a few extra ones */
        x->got = malloc(x->cap * sizeof *x->got);
        assert_non_null(x->got);
    }
    free(at);

    atomic_size_t opened = 0;
    size_t nsubs = 0;
    char sub_err[256] = "";
    sc_publisher *pb = calloc(1, sizeof *pb);
    assert_non_null(pb);
    pb->bus = bus;
    pb->tenant = t;
    pb->opened = &opened;
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, sc_publisher_main, pb), 0);
    int64_t t0 = fv_monotonic_ms();
    for (size_t i = 0; i < SC_SUBS; i++) {
        sc_sub *x = &subs[i];
        fv_sub_config cfg;
        memset(&cfg, 0, sizeof cfg);
        fv_pattern_init(&cfg.pattern, t);
        if (x->wf >= 0)
            sc_wf_name(cfg.pattern.workflow_execution_id, sizeof cfg.pattern.workflow_execution_id,
                       x->wf);
        cfg.start = (fv_start){.kind = FV_START_CURSOR, .cursor = x->cursor};
        cfg.on_msg = sc_on_msg;
        cfg.on_release = sc_on_release;
        cfg.ud = x;
        fv_err err = {{0}};
        if (fv_bus_subscribe(bus, &cfg, &x->sub, &err) != FV_OK) {
            snprintf(sub_err, sizeof sub_err, "subscribe %zu: %s", i, err.msg);
            break;
        }
        atomic_store(&opened, i + 1);
        nsubs = i + 1;
    }
    int64_t t_open = fv_monotonic_ms() - t0;
    atomic_store(&opened, (size_t)SC_SUBS); /* the publisher never waits for a failed one */
    pthread_join(th, NULL);
    size_t pub_failures = pb->failures;
    memcpy(&recs[SC_PRE], pb->recs, sizeof pb->recs);
    free(pb);

    bool all = !sub_err[0] && !pub_failures && sc_wait(run, &run->done, SC_SUBS, 2 * tmo(s));
    int64_t t_done = fv_monotonic_ms() - t0;
    fprintf(stderr, "# %d scattered resumes: opened in %lld ms, all served in %lld ms\n", SC_SUBS,
            (long long)t_open, (long long)t_done);
    if (all) /* anything extra (a duplicate) would show up in the check below */
        fv_sleep_ms(100);
    for (size_t i = 0; i < nsubs; i++)
        fv_sub_close(subs[i].sub);
    bool released = sc_wait(run, &run->released, nsubs, tmo(s));
    fv_sleep_ms(50); /* a second release would come now */

    qsort(recs, nall, sizeof *recs, sc_cmp_rec);
    size_t bad = 0, first_bad = SC_SUBS;
    char why[256] = "", first_why[256] = "";
    pthread_mutex_lock(&run->mu); /* orders the callbacks' writes before these reads */
    size_t done = run->done, nreleased = run->released;
    pthread_mutex_unlock(&run->mu);
    for (size_t i = 0; i < SC_SUBS; i++) {
        if (!sc_check(&subs[i], recs, nall, why, sizeof why)) {
            if (!bad++) {
                first_bad = i;
                snprintf(first_why, sizeof first_why, "%s", why);
            }
        }
    }
    int first_wf = first_bad < SC_SUBS ? subs[first_bad].wf : 0;
    fv_cursor first_cur = first_bad < SC_SUBS ? subs[first_bad].cursor : (fv_cursor){0, 0, 0};
    free(recs);
    if (released) { /* otherwise a late callback may still write into them: leaked */
        for (size_t i = 0; i < SC_SUBS; i++)
            free(subs[i].got);
        free(subs);
        pthread_cond_destroy(&run->cv);
        pthread_mutex_destroy(&run->mu);
        free(run);
    }
    if (sub_err[0])
        fail_msg("%s", sub_err);
    if (pub_failures)
        fail_msg("%zu concurrent publishes failed", pub_failures);
    if (!released)
        fail_msg("only %zu of %zu subscriptions were released after close", nreleased, nsubs);
    if (bad)
        fail_msg("%zu of %d subscriptions (%zu complete before the timeout) got the wrong "
                 "messages; the first, #%zu (workflow %d, cursor events %llu streams %llu): %s",
                 bad, SC_SUBS, done, first_bad, first_wf, (unsigned long long)first_cur.events_seq,
                 (unsigned long long)first_cur.streams_seq, first_why);
    assert_true(all);
    drop(s, bus);
}

/* --- a resume racing a pause ----------------------------------------------------------------- */

#define RACE_EVERY 4 /* every 4th message is answered with FV_SUB_PAUSE once */
#define RACE_HISTORY 100
#define RACE_LIVE 100 /* 50 pauses in all: half in catch-up, half on live messages */
#define RACE_STALL_MS 5000

/* When the callback pauses and when the resume comes: the resumer thread waits resume_us after
 * the callback signalled it, the callback sleeps cb_us before returning FV_SUB_PAUSE. Around 1 ms
 * both ways, the resume lands just before, at, or just after the pause. */
static const struct {
    unsigned resume_us, cb_us;
} race_timing[] = {
    {0, 1000}, {0, 0}, {20, 0}, {200, 0}, {950, 1000}, {1000, 1000}, {1050, 1000}, {0, 100},
};
#define RACE_TIMINGS (sizeof race_timing / sizeof *race_timing)

typedef struct racer {
    fv_collector c; /* first member: also the collector's ud */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    fv_sub *sub;        /* under mu; set once fv_bus_subscribe returned */
    bool other_thread;  /* false: fv_sub_resume from inside the pausing callback */
    size_t paused_at;   /* n_data of the last pause (SIZE_MAX: none); callbacks only */
    atomic_int pauses;  /* written by callbacks only */
    int pending;        /* pauses signalled to the resumer, not yet resumed (under mu) */
    int resumes;        /* under mu */
    unsigned resume_us; /* under mu: the timing of the pending pause */
    bool stop;
} racer;

static int race_on_msg(void *ud, const fv_msg *m)
{
    racer *r = ud;
    pthread_mutex_lock(&r->mu);
    fv_sub *sub = r->sub;
    pthread_mutex_unlock(&r->mu);
    bool data = m->kind == FV_MSG_EVENT || m->kind == FV_MSG_STREAM;
    size_t n = fv_collector_count(&r->c);
    if (!data || !sub || n % RACE_EVERY != RACE_EVERY - 1 || n == r->paused_at)
        return fv_collector_on_msg(&r->c, m);
    /* this message is answered with PAUSE once; it comes again after the resume */
    r->paused_at = n;
    unsigned cb_us = race_timing[atomic_load(&r->pauses) % RACE_TIMINGS].cb_us;
    if (!r->other_thread) {
        fv_sub_resume(sub); /* the client's queue drained at this very moment */
    } else {
        pthread_mutex_lock(&r->mu);
        r->resume_us = race_timing[atomic_load(&r->pauses) % RACE_TIMINGS].resume_us;
        r->pending++;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        if (cb_us)
            usleep(cb_us);
    }
    atomic_fetch_add(&r->pauses, 1);
    return FV_SUB_PAUSE;
}

static void *race_resumer_main(void *arg)
{
    racer *r = arg;
    pthread_mutex_lock(&r->mu);
    for (;;) {
        while (!r->stop && !r->pending)
            pthread_cond_wait(&r->cv, &r->mu);
        if (!r->pending)
            break;
        unsigned us = r->resume_us;
        fv_sub *sub = r->sub;
        pthread_mutex_unlock(&r->mu);
        if (us)
            usleep(us);
        fv_sub_resume(sub); /* exactly one resume per pause, and no timer that kicks again */
        pthread_mutex_lock(&r->mu);
        r->pending--;
        r->resumes++;
    }
    pthread_mutex_unlock(&r->mu);
    return NULL;
}

/* waits until the subscription holds `total` messages; a stall is no new message for
 * RACE_STALL_MS. Returns "" or why not. */
static const char *race_wait(racer *r, size_t total, char *why, size_t cap, const char *variant)
{
    size_t have = fv_collector_count(&r->c);
    while (have < total) {
        if (!fv_collector_wait(&r->c, have + 1, RACE_STALL_MS)) {
            snprintf(why, cap,
                     "%s: stalled, no message for %d ms after %zu of %zu (%d pauses so far)",
                     variant, RACE_STALL_MS, have, total, atomic_load(&r->pauses));
            return why;
        }
        have = fv_collector_count(&r->c);
    }
    return "";
}

/* one variant on its own tenant: catch-up of RACE_HISTORY events, then RACE_LIVE published one
 * at a time once live; every RACE_EVERY-th message paused once and resumed once, racing. Returns
 * "" or why it stalled; asserts everything else. */
static const char *race_variant(const fv_bus_suite *s, fv_bus *bus, bool other_thread, char *why,
                                size_t cap)
{
    const char *variant = other_thread ? "resume from another thread around the pause"
                                       : "resume from inside the pausing callback";
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, other_thread ? "rt" : "ri");
    for (size_t i = 0; i < RACE_HISTORY; i++)
        pub_indexed(bus, t, i, NULL);
    racer *r = calloc(1, sizeof *r); /* leaked if the subscription is never released */
    assert_non_null(r);
    watch(&r->c);
    pthread_mutex_init(&r->mu, NULL);
    pthread_cond_init(&r->cv, NULL);
    r->other_thread = other_thread;
    r->paused_at = SIZE_MAX;
    pthread_t th;
    if (other_thread)
        assert_int_equal(pthread_create(&th, NULL, race_resumer_main, r), 0);
    fv_pattern p;
    fv_pattern_init(&p, t);
    fv_sub_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.pattern = p;
    cfg.start = (fv_start){.kind = FV_START_FIRST};
    cfg.on_msg = race_on_msg;
    cfg.on_release = fv_collector_on_release;
    cfg.ud = r;
    cfg.max_catchup_batch = 8;  /* pauses fall at the start, middle and end of batches */
    pthread_mutex_lock(&r->mu); /* the callback pauses only once the handle is known */
    fv_err err = {{0}};
    fv_status st = fv_bus_subscribe(bus, &cfg, &r->sub, &err);
    pthread_mutex_unlock(&r->mu);
    if (st != FV_OK)
        fail_msg("subscribe: %s", err.msg);
    fv_sub *sub = r->sub;

    const char *res = race_wait(r, RACE_HISTORY, why, cap, variant);
    if (!*res && !fv_collector_wait_kind(&r->c, FV_MSG_LIVE, tmo(s))) {
        snprintf(why, cap, "%s: no LIVE after the history", variant);
        res = why;
    }
    for (size_t i = RACE_HISTORY; !*res && i < RACE_HISTORY + RACE_LIVE; i++) {
        pub_indexed(bus, t, i, NULL); /* one at a time: the pause falls on a live message */
        res = race_wait(r, i + 1, why, cap, variant);
    }
    if (other_thread) {
        pthread_mutex_lock(&r->mu);
        r->stop = true;
        pthread_cond_broadcast(&r->cv);
        pthread_mutex_unlock(&r->mu);
        pthread_join(th, NULL);
    }
    fv_sub_close(sub);
    if (!fv_collector_wait_released(&r->c, tmo(s)))
        fail_msg("%s: not released after close", variant);
    fv_sleep_ms(20);
    if (!*res) {
        assert_clean(&r->c);
        assert_int_equal(r->c.n_data, RACE_HISTORY + RACE_LIVE);
        assert_indices(&r->c, RACE_HISTORY + RACE_LIVE);
        assert_int_equal(fv_collector_find(&r->c, FV_MSG_GAP, 0), r->c.n);
        assert_int_equal(atomic_load(&r->pauses), (RACE_HISTORY + RACE_LIVE) / RACE_EVERY);
        if (other_thread)
            assert_int_equal(r->resumes, atomic_load(&r->pauses));
    }
    fv_collector_destroy(&r->c);
    pthread_cond_destroy(&r->cv);
    pthread_mutex_destroy(&r->mu);
    free(r);
    return res;
}

/* A callback answers FV_SUB_PAUSE while the resume is already under way - called from inside the
 * callback itself, or from another thread just before, at, or just after the pause (a gateway
 * whose client queue drains at that instant). One resume per pause, no timer to kick it again:
 * the subscription must continue every time, losing nothing. */
void fv_bus_suite_test_resume_racing_a_pause_is_never_lost(void **state)
{
    fv_bus_suite *s = *state;
    fv_bus *bus = mk(s);
    char why_in[256], why_other[256];
    const char *in = race_variant(s, bus, false, why_in, sizeof why_in);
    const char *other = race_variant(s, bus, true, why_other, sizeof why_other);
    if (*in || *other)
        fail_msg("%s%s%s", in, *in && *other ? "; " : "", other);
    drop(s, bus);
}

int fv_bus_suite_run(const char *group_name, fv_bus_suite *suite)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_prestate(fv_bus_suite_test_round_trip_both_kinds_keeps_data_bytes, suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_tenant_never_sees_another_tenant, suite),
        cmocka_unit_test_prestate(
            fv_bus_suite_test_filters_by_type_category_wildcard_workflow_task_source, suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_dedup_by_tenant_and_id, suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_resume_from_cursor_during_concurrent_publish,
                                  suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_pause_and_resume_lose_nothing, suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_start_first_of_a_workflow, suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_start_time, suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_gap_on_foreign_epoch_cursor, suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_merged_sources_keep_order_per_source, suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_read_pages_with_next_cursor, suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_close_releases_once_and_stops_callbacks, suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_until_ends_the_stream, suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_accept_predicate_sees_events_in_order, suite),
        cmocka_unit_test_prestate(
            fv_bus_suite_test_many_scattered_resumes_each_get_exactly_their_events, suite),
        cmocka_unit_test_prestate(fv_bus_suite_test_resume_racing_a_pause_is_never_lost, suite),
    };
    return _cmocka_run_group_tests(group_name, tests, sizeof tests / sizeof *tests, NULL, NULL);
}
