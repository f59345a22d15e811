/* test_bus_jetstream_storm.c - a resume storm on a cold JetStream bus, on a real nats-server.
 *
 * A gateway restarts under its clients: a fresh bus (nothing read yet) gets 1,000 subscriptions
 * within a second, each resuming from its cursor somewhere in the last ~1,000 stored records,
 * some for the whole tenant and some for one workflow. Each must get exactly its records (count,
 * order, no gap), reach LIVE and continue live. And the storm must cost a handful of JetStream
 * consumers, not one per subscription (ARCHITECTURE "Data flow" 4: shared readers): a plain NATS
 * connection counts the $JS.EVENT.ADVISORY.CONSUMER.CREATED advisories of FLOVYN_EVENTS and
 * FLOVYN_STREAMS while the storm runs.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cmocka.h>
#include <jansson.h>
#include <nats/nats.h>

#include "bus_suite.h"
#include "fixture.h"
#include "flovyn/units.h"

#define TMO 60000
#define WORKFLOWS 20
#define HISTORY 2000     /* records stored before the storm */
#define RESUME_SPAN 1000 /* cursors fall in the last RESUME_SPAN of them */
#define SUBS 1000
#define BATCH 250
#define MAX_CONSUMERS 4 /* per stream during the storm: "a handful" (the goal is <= 2) */

static fv_nats_server srv;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* --- the advisory watcher ------------------------------------------------------------------- */

typedef struct advisories {
    atomic_int events, streams, other, unparsed;
} advisories;

static void on_advisory(natsConnection *nc, natsSubscription *sub, natsMsg *msg, void *closure)
{
    advisories *a = closure;
    json_error_t jerr;
    json_t *root = json_loadb(natsMsg_GetData(msg), (size_t)natsMsg_GetDataLength(msg), 0, &jerr);
    const char *stream = root ? json_string_value(json_object_get(root, "stream")) : NULL;
    if (!stream)
        atomic_fetch_add(&a->unparsed, 1);
    else if (strcmp(stream, FV_STREAM_EVENTS) == 0)
        atomic_fetch_add(&a->events, 1);
    else if (strcmp(stream, FV_STREAM_STREAMS) == 0)
        atomic_fetch_add(&a->streams, 1);
    else
        atomic_fetch_add(&a->other, 1);
    json_decref(root);
    natsMsg_Destroy(msg);
}

/* --- the records and the subscriptions ------------------------------------------------------ */

typedef struct rec {
    fv_source src;
    uint64_t seq;
    int wf;
} rec;

typedef struct storm storm;

typedef struct storm_sub {
    storm *st;
    fv_sub *sub;
    int wf; /* -1 = the whole tenant */
    char wf_id[16];
    fv_cursor cursor;
    size_t expect_history, expect; /* data messages: from history, in all */
    atomic_size_t n;
    uint64_t last[2]; /* last sequence per source (callbacks only) */
    atomic_int lives, gaps, others, releases, wrong, in_cb;
    atomic_bool overlapped;
    char wrong_why[160]; /* the first wrong message (callbacks only) */
    bool caught_up, done;
} storm_sub;

struct storm {
    const char *tenant;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    size_t caught_up, done, released;
};

static void note_wrong(storm_sub *s, const char *fmt, unsigned long long a, unsigned long long b)
{
    if (atomic_fetch_add(&s->wrong, 1) == 0)
        snprintf(s->wrong_why, sizeof s->wrong_why, fmt, a, b);
}

static void bump(storm *st, size_t *counter)
{
    pthread_mutex_lock(&st->mu);
    (*counter)++;
    pthread_cond_broadcast(&st->cv);
    pthread_mutex_unlock(&st->mu);
}

static int storm_on_msg(void *ud, const fv_msg *m)
{
    storm_sub *s = ud;
    if (atomic_fetch_add(&s->in_cb, 1))
        atomic_store(&s->overlapped, true);
    if (m->kind == FV_MSG_EVENT || m->kind == FV_MSG_STREAM) {
        int src = m->source == FV_SRC_STREAMS;
        const char *tenant = m->ev ? m->ev->tenant_id : m->se ? m->se->tenant_id : "";
        const char *wf = m->ev   ? m->ev->workflow_execution_id
                         : m->se ? m->se->workflow_execution_id
                                 : "";
        uint64_t after = src ? s->cursor.streams_seq : s->cursor.events_seq;
        if (strcmp(tenant, s->st->tenant) != 0 || (s->wf >= 0 && strcmp(wf, s->wf_id) != 0))
            note_wrong(s, "seq %llu of another workflow or tenant (source %llu)", m->seq,
                       (unsigned long long)src);
        else if (m->seq <= after)
            note_wrong(s, "seq %llu at or before the cursor's %llu", m->seq, after);
        else if (m->seq <= s->last[src])
            note_wrong(s, "seq %llu after seq %llu: out of order or twice", m->seq, s->last[src]);
        s->last[src] = m->seq;
        atomic_fetch_add(&s->n, 1);
    } else if (m->kind == FV_MSG_LIVE) {
        atomic_fetch_add(&s->lives, 1);
    } else if (m->kind == FV_MSG_GAP) {
        atomic_fetch_add(&s->gaps, 1);
    } else {
        atomic_fetch_add(&s->others, 1);
    }
    size_t n = atomic_load(&s->n);
    bool live = atomic_load(&s->lives) > 0;
    if (!s->caught_up && live && n >= s->expect_history) {
        s->caught_up = true;
        bump(s->st, &s->st->caught_up);
    }
    if (!s->done && live && n >= s->expect) {
        s->done = true;
        bump(s->st, &s->st->done);
    }
    atomic_fetch_sub(&s->in_cb, 1);
    return FV_SUB_OK;
}

static void storm_on_release(void *ud)
{
    storm_sub *s = ud;
    atomic_fetch_add(&s->releases, 1);
    bump(s->st, &s->st->released);
}

static bool storm_wait(storm *st, const size_t *counter, size_t want, int timeout_ms, size_t *got)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    ts.tv_sec += timeout_ms / 1000;
    ts.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&st->mu);
    while (*counter < want)
        if (pthread_cond_timedwait(&st->cv, &st->mu, &ts) != 0)
            break;
    *got = *counter;
    pthread_mutex_unlock(&st->mu);
    return *got >= want;
}

static fv_bus *new_bus(const char *name, bool provision)
{
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.nats_url = srv.url;
    c.name = name;
    fv_bus *bus = NULL;
    fv_err err = {{0}};
    if (fv_bus_create(&c, &bus, &err) != FV_OK)
        fail_msg("create: %s", err.msg);
    if (provision && fv_bus_provision(bus, &err) != FV_OK)
        fail_msg("provision: %s", err.msg);
    return bus;
}

/* HISTORY records of tenant over WORKFLOWS workflows, one in 8 a stream event */
static void publish_history(fv_bus *bus, const char *tenant, rec *recs)
{
    fv_event *evs = calloc(BATCH, sizeof *evs);
    fv_stream_event *ses = calloc(BATCH, sizeof *ses);
    fv_publish_item *items = calloc(BATCH, sizeof *items);
    assert_true(evs && ses && items);
    for (size_t base = 0; base < HISTORY; base += BATCH) {
        size_t n = HISTORY - base < BATCH ? HISTORY - base : BATCH;
        memset(items, 0, n * sizeof *items);
        for (size_t k = 0; k < n; k++) {
            size_t i = base + k;
            char wf[16];
            recs[i].wf = (int)((i + i / 11) % WORKFLOWS);
            snprintf(wf, sizeof wf, "wf-%02d", recs[i].wf);
            if (i % 8 == 3) {
                fv_bus_suite_stream(&ses[k], tenant, wf, NULL, (int64_t)i, FV_KIND_TOKEN, "\"t\"");
                items[k].se = &ses[k];
                recs[i].src = FV_SRC_STREAMS;
            } else {
                fv_bus_suite_event(&evs[k], tenant, wf, NULL,
                                   i % 2 ? "task.started" : "task.completed", NULL, "{\"i\":1}");
                items[k].ev = &evs[k];
                recs[i].src = FV_SRC_EVENTS;
            }
        }
        fv_err err = {{0}};
        if (fv_bus_publish_batch(bus, items, n, &err) != FV_OK)
            fail_msg("publish batch: %s", err.msg);
        for (size_t k = 0; k < n; k++) {
            if (items[k].status != FV_OK || items[k].result.duplicate)
                fail_msg("record %zu: status %d: %s", base + k, items[k].status, items[k].err.msg);
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

static void test_jetstream_resume_storm_on_a_cold_bus_costs_a_handful_of_consumers(void **state)
{
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "storm");
    rec *recs = calloc(HISTORY, sizeof *recs);
    assert_non_null(recs);
    fv_bus *warm = new_bus("test-storm-producer", true);
    publish_history(warm, t, recs);
    uint64_t epoch = fv_bus_epoch(warm);
    fv_bus_destroy(warm);

    /* cursor after record k: the last sequence of each source up to it */
    fv_cursor *at = calloc(HISTORY, sizeof *at);
    assert_non_null(at);
    for (size_t i = 0; i < HISTORY; i++) {
        at[i] = i ? at[i - 1] : (fv_cursor){0, 0, epoch};
        uint64_t *p = recs[i].src == FV_SRC_EVENTS ? &at[i].events_seq : &at[i].streams_seq;
        if (recs[i].seq > *p)
            *p = recs[i].seq;
    }

    natsConnection *nc = NULL;
    natsSubscription *adv_sub = NULL;
    advisories *adv = calloc(1, sizeof *adv);
    assert_non_null(adv);
    assert_int_equal(natsConnection_ConnectTo(&nc, srv.url), NATS_OK);
    assert_int_equal(natsConnection_Subscribe(&adv_sub, nc, "$JS.EVENT.ADVISORY.CONSUMER.CREATED.>",
                                              on_advisory, adv),
                     NATS_OK);
    assert_int_equal(natsConnection_Flush(nc), NATS_OK);

    /* a cold bus: a new process that has read nothing yet */
    fv_bus *bus = new_bus("test-storm-cold", false);
    for (int i = 0; i < 500 && !fv_bus_ready(bus); i++)
        sleep_ms(20);
    assert_true(fv_bus_ready(bus));
    assert_int_equal(fv_bus_epoch(bus), epoch);
    sleep_ms(200);
    int before_events = atomic_load(&adv->events), before_streams = atomic_load(&adv->streams);

    storm *st = calloc(1, sizeof *st); /* leaked, with subs, if a subscription is never released */
    assert_non_null(st);
    st->tenant = t;
    pthread_mutex_init(&st->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&st->cv, &ca);
    pthread_condattr_destroy(&ca);
    storm_sub *subs = calloc(SUBS, sizeof *subs);
    assert_non_null(subs);
    for (size_t i = 0; i < SUBS; i++) {
        storm_sub *s = &subs[i];
        s->st = st;
        s->wf = i % 3 == 0 ? -1 : (int)(i % WORKFLOWS);
        if (s->wf >= 0)
            snprintf(s->wf_id, sizeof s->wf_id, "wf-%02d", s->wf);
        /* scrambled order, spread from RESUME_SPAN records before the end to the last one */
        size_t rank = (i * 617) % SUBS;
        size_t k = HISTORY - RESUME_SPAN + rank * (RESUME_SPAN - 1) / (SUBS - 1);
        s->cursor = at[k];
        for (size_t r = 0; r < HISTORY; r++) {
            uint64_t after =
                recs[r].src == FV_SRC_EVENTS ? s->cursor.events_seq : s->cursor.streams_seq;
            if ((s->wf < 0 || recs[r].wf == s->wf) && recs[r].seq > after)
                s->expect_history++;
        }
        /* then one live event per workflow, published once every subscription is live */
        s->expect = s->expect_history + (s->wf < 0 ? WORKFLOWS : 1);
    }
    free(at);
    free(recs);

    int64_t t0 = fv_monotonic_ms();
    for (size_t i = 0; i < SUBS; i++) {
        storm_sub *s = &subs[i];
        fv_sub_config cfg;
        memset(&cfg, 0, sizeof cfg);
        fv_pattern_init(&cfg.pattern, t);
        if (s->wf >= 0)
            snprintf(cfg.pattern.workflow_execution_id, sizeof cfg.pattern.workflow_execution_id,
                     "%s", s->wf_id);
        cfg.start = (fv_start){.kind = FV_START_CURSOR, .cursor = s->cursor};
        cfg.on_msg = storm_on_msg;
        cfg.on_release = storm_on_release;
        cfg.ud = s;
        fv_err err = {{0}};
        if (fv_bus_subscribe(bus, &cfg, &s->sub, &err) != FV_OK)
            fail_msg("subscribe %zu: %s", i, err.msg);
    }
    int64_t opened_ms = fv_monotonic_ms() - t0;
    size_t caught_up = 0, done = 0, released = 0;
    bool all_caught_up = storm_wait(st, &st->caught_up, SUBS, TMO, &caught_up);
    int64_t caught_up_ms = fv_monotonic_ms() - t0;
    if (all_caught_up) {
        for (int w = 0; w < WORKFLOWS; w++) {
            char wf[16];
            snprintf(wf, sizeof wf, "wf-%02d", w);
            fv_event ev;
            fv_bus_suite_event(&ev, t, wf, NULL, "workflow.completed", NULL, "{}");
            fv_bus_suite_publish(bus, &ev);
            fv_event_clear(&ev);
        }
    }
    bool all_done = all_caught_up && storm_wait(st, &st->done, SUBS, TMO, &done);
    sleep_ms(200); /* anything extra (a duplicate) arrives now */
    natsConnection_Flush(nc);
    sleep_ms(300); /* the last advisories */
    int storm_events = atomic_load(&adv->events) - before_events;
    int storm_streams = atomic_load(&adv->streams) - before_streams;
    fprintf(stderr,
            "# storm of %d resumes on a cold bus: opened in %lld ms, caught up in %lld ms; "
            "consumers created: %s %d, %s %d (before the storm: %d, %d; other streams %d, "
            "unparsed %d)\n",
            SUBS, (long long)opened_ms, (long long)caught_up_ms, FV_STREAM_EVENTS, storm_events,
            FV_STREAM_STREAMS, storm_streams, before_events, before_streams,
            atomic_load(&adv->other), atomic_load(&adv->unparsed));

    for (size_t i = 0; i < SUBS; i++)
        fv_sub_close(subs[i].sub);
    bool all_released = storm_wait(st, &st->released, SUBS, TMO, &released);
    sleep_ms(50);
    natsSubscription_Destroy(adv_sub);
    natsConnection_Destroy(nc);

    size_t bad = 0;
    char why[320] = "";
    for (size_t i = 0; i < SUBS; i++) {
        storm_sub *s = &subs[i];
        size_t n = atomic_load(&s->n);
        bool ok = n == s->expect && !atomic_load(&s->gaps) && !atomic_load(&s->others) &&
                  atomic_load(&s->lives) == 1 && !atomic_load(&s->wrong) &&
                  !atomic_load(&s->overlapped) && atomic_load(&s->releases) == 1;
        if (!ok && !bad++) {
            snprintf(why, sizeof why,
                     "#%zu (workflow %d, cursor events %llu streams %llu): %zu data messages, "
                     "expected %zu (%zu from history); %d gap, %d live, %d other, %d wrong%s%s, "
                     "overlapped %d, %d releases",
                     i, s->wf, (unsigned long long)s->cursor.events_seq,
                     (unsigned long long)s->cursor.streams_seq, n, s->expect, s->expect_history,
                     atomic_load(&s->gaps), atomic_load(&s->lives), atomic_load(&s->others),
                     atomic_load(&s->wrong), atomic_load(&s->wrong) ? ": " : "", s->wrong_why,
                     (int)atomic_load(&s->overlapped), atomic_load(&s->releases));
        }
    }
    if (all_released) {
        free(subs);
        pthread_cond_destroy(&st->cv);
        pthread_mutex_destroy(&st->mu);
        free(st);
    }
    fv_bus_destroy(bus);
    free(adv);

    if (!all_released)
        fail_msg("%zu of %d subscriptions released after close", released, SUBS);
    if (bad)
        fail_msg("%zu of %d subscriptions got the wrong messages (%zu caught up, %zu done); the "
                 "first: %s",
                 bad, SUBS, caught_up, done, why);
    assert_true(all_done);
    /* every resume served right; now what it cost */
    if (storm_events > MAX_CONSUMERS || storm_streams > MAX_CONSUMERS)
        fail_msg("a storm of %d resumes created %d consumers on %s and %d on %s; expected at "
                 "most %d per stream (shared readers, not one consumer per subscription)",
                 SUBS, storm_events, FV_STREAM_EVENTS, storm_streams, FV_STREAM_STREAMS,
                 MAX_CONSUMERS);
}

static int group_setup(void **state)
{
    return fv_nats_start(&srv);
}

static int group_teardown(void **state)
{
    fv_nats_cleanup(&srv);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jetstream_resume_storm_on_a_cold_bus_costs_a_handful_of_consumers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
