/* The embedded memory bus: the shared bus suite (tests/support/bus_suite.c) plus what only an
 * in-process store shows - bounded history per source (across tenants, as a stream) and max age
 * turning old cursors into `gap`, a fresh epoch per bus, exact arrival order across the two
 * sources, one shared frame slot per live message, `until` ending by the clock alone, and no
 * durable subscriptions. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "bus_suite.h"
#include "flovyn/kv.h"
#include "flovyn/types_filter.h"
#include "flovyn/units.h"

#define WAIT_MS 10000

static fv_bus *make_bus_with(size_t history, int64_t events_max_age_ms)
{
    fv_bus_config cfg;
    fv_bus_config_init(&cfg);
    cfg.memory_history = history;
    cfg.events_max_age_ms = events_max_age_ms;
    fv_bus *bus = NULL;
    fv_err err = {{0}};
    if (fv_bus_create(&cfg, &bus, &err) != FV_OK)
        fail_msg("memory bus: %s", err.msg);
    return bus;
}

static fv_bus *make_default(void *ctx)
{
    return make_bus_with(0, 0);
}

static uint64_t pub_i(fv_bus *bus, const char *tenant, int i)
{
    char id[32];
    snprintf(id, sizeof id, "e-%d", i);
    fv_event ev;
    fv_bus_suite_event(&ev, tenant, NULL, NULL, "task.completed", id, "{}");
    uint64_t seq = fv_bus_suite_publish(bus, &ev);
    fv_event_clear(&ev);
    return seq;
}

static fv_sub *subscribe(fv_bus *bus, const fv_pattern *p, fv_start st, fv_collector *c)
{
    fv_sub_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.pattern = *p;
    cfg.start = st;
    cfg.on_msg = fv_collector_on_msg;
    cfg.on_release = fv_collector_on_release;
    cfg.ud = c;
    fv_sub *sub = NULL;
    fv_err err = {{0}};
    if (fv_bus_subscribe(bus, &cfg, &sub, &err) != FV_OK)
        fail_msg("subscribe: %s", err.msg);
    return sub;
}

static void test_memory_bus_old_cursor_past_bounded_history_gets_gap(void **state)
{
    fv_bus *bus = make_bus_with(5, 0);
    fv_pattern p;
    fv_pattern_init(&p, "tenant-a");
    /* Records dropped from history but not yet fanned out still reach a subscription that goes
     * live, so `gap` is certain only once the live path is past them: a live subscriber that got
     * the last one shows that. */
    fv_collector barrier;
    fv_collector_init(&barrier);
    fv_sub *bsub = subscribe(bus, &p, (fv_start){.kind = FV_START_NEW}, &barrier);
    uint64_t seq[12];
    for (int i = 0; i < 12; i++) {
        seq[i] = pub_i(bus, "tenant-a", i);
        if (i < 3)
            pub_i(bus, "tenant-b", i); /* retention is per source across tenants */
    }
    assert_true(fv_collector_wait(&barrier, 12, WAIT_MS));
    fv_collector_stop(&barrier, bsub, WAIT_MS);
    fv_collector_destroy(&barrier);
    fv_types_filter *f = NULL;
    assert_int_equal(fv_types_filter_parse("events", FV_TYPES_DEFAULT_ALL, &f, NULL), FV_OK);
    p.types = f;
    fv_cursor old = {seq[2], 0, fv_bus_epoch(bus)};
    fv_collector c;
    fv_collector_init(&c);
    fv_sub *sub = subscribe(bus, &p, (fv_start){.kind = FV_START_CURSOR, .cursor = old}, &c);
    assert_true(fv_collector_wait(&c, 5, WAIT_MS));
    fv_collector_stop(&c, sub, WAIT_MS);
    assert_int_equal(c.items[0].kind, FV_MSG_GAP);
    assert_int_equal(c.items[0].gap_requested.events_seq, seq[2]);
    assert_int_equal(c.items[0].gap_resumed_from.events_seq, seq[6]); /* last one dropped */
    assert_int_equal(c.n_data, 5);
    assert_int_equal(c.items[1].seq, seq[7]);
    assert_int_equal(c.items[5].seq, seq[11]);
    fv_collector_destroy(&c);

    /* a cursor inside retained history resumes without gap */
    fv_collector in;
    fv_collector_init(&in);
    fv_cursor ok = {seq[8], 0, fv_bus_epoch(bus)};
    fv_bus_read(bus, &p, &(fv_start){.kind = FV_START_CURSOR, .cursor = ok}, 100,
                fv_collector_on_msg, &in, NULL, NULL);
    assert_int_equal(fv_collector_find(&in, FV_MSG_GAP, 0), in.n);
    assert_int_equal(in.n_data, 3);
    fv_collector_destroy(&in);

    fv_pattern pb;
    fv_pattern_init(&pb, "tenant-b");
    fv_collector b;
    fv_collector_init(&b);
    /* as in a JetStream stream, another tenant's traffic pushed tenant-b's early events out:
     * a start at its first retained event finds none, and a cursor before them says `gap` */
    fv_bus_read(bus, &pb, &(fv_start){.kind = FV_START_FIRST}, 100, fv_collector_on_msg, &b, NULL,
                NULL);
    assert_int_equal(b.n_data, 0);
    assert_int_equal(fv_collector_find(&b, FV_MSG_GAP, 0), b.n);
    fv_collector_destroy(&b);
    fv_collector_init(&b);
    fv_bus_read(bus, &pb, &(fv_start){.kind = FV_START_CURSOR, .cursor = {1, 0, fv_bus_epoch(bus)}},
                100, fv_collector_on_msg, &b, NULL, NULL);
    assert_int_equal(b.n_data, 0);
    assert_true(fv_collector_find(&b, FV_MSG_GAP, 0) < b.n);
    fv_collector_destroy(&b);
    fv_types_filter_destroy(f);
    fv_bus_destroy(bus);
}

static void test_memory_bus_paused_subscription_that_falls_out_of_history_gets_gap(void **state)
{
    fv_bus *bus = make_bus_with(4, 0);
    fv_pattern p;
    fv_pattern_init(&p, "t1");
    fv_collector c;
    fv_collector_init(&c);
    fv_collector_pause_at(&c, 1);
    fv_sub *sub = subscribe(bus, &p, (fv_start){.kind = FV_START_NEW}, &c);
    uint64_t seq[10];
    for (int i = 0; i < 2; i++)
        seq[i] = pub_i(bus, "t1", i);
    assert_true(fv_collector_wait_paused(&c, WAIT_MS));
    for (int i = 2; i < 10; i++)
        seq[i] = pub_i(bus, "t1", i);
    fv_sub_resume(sub);
    assert_true(fv_collector_wait(&c, 5, WAIT_MS));
    fv_collector_stop(&c, sub, WAIT_MS);
    size_t g = fv_collector_find(&c, FV_MSG_GAP, 0);
    assert_true(g < c.n);
    assert_int_equal(c.items[g].gap_requested.events_seq, seq[0]);
    assert_int_equal(c.items[g].gap_resumed_from.events_seq, seq[5]);
    assert_int_equal(c.n_data, 5); /* e-0, then e-6..e-9 */
    assert_int_equal(c.items[fv_collector_find(&c, FV_MSG_EVENT, g)].seq, seq[6]);
    fv_collector_destroy(&c);
    fv_bus_destroy(bus);
}

/* Records of other workflows leaving history while a subscription is paused cost it no `gap`:
 * it would have scanned past them. The one record it wanted, kept in history, still arrives. */
static void
test_memory_bus_paused_subscription_loses_only_what_it_would_skip_without_gap(void **state)
{
    fv_bus *bus = make_bus_with(4, 0);
    fv_pattern p;
    fv_pattern_init(&p, "t1");
    snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "wf-a");
    fv_collector c;
    fv_collector_init(&c);
    fv_collector_pause_at(&c, 1);
    fv_sub *sub = subscribe(bus, &p, (fv_start){.kind = FV_START_NEW}, &c);
    fv_event ev;
    fv_bus_suite_event(&ev, "t1", "wf-a", NULL, "workflow.started", NULL, "{}");
    uint64_t first = fv_bus_suite_publish(bus, &ev);
    fv_event_clear(&ev);
    fv_stream_event se;
    fv_bus_suite_stream(&se, "t1", "wf-a", NULL, 1, FV_KIND_TOKEN, "\"hi\"");
    uint64_t token = fv_bus_suite_publish_stream(bus, &se);
    fv_stream_event_clear(&se);
    assert_true(fv_collector_wait_paused(&c, WAIT_MS)); /* on the token, events read to `first` */
    for (int i = 0; i < 8; i++) { /* pushes `first` and four of these out of history */
        fv_bus_suite_event(&ev, "t1", "wf-b", NULL, "task.completed", NULL, "{}");
        fv_bus_suite_publish(bus, &ev);
        fv_event_clear(&ev);
    }
    fv_bus_suite_event(&ev, "t1", "wf-a", NULL, "workflow.completed", NULL, "{}");
    uint64_t last = fv_bus_suite_publish(bus, &ev);
    fv_event_clear(&ev);
    fv_sub_resume(sub);
    assert_true(fv_collector_wait(&c, 3, WAIT_MS));
    fv_collector_stop(&c, sub, WAIT_MS);
    assert_int_equal(fv_collector_find(&c, FV_MSG_GAP, 0), c.n);
    assert_int_equal(c.n_data, 3);
    size_t i = fv_collector_find(&c, FV_MSG_EVENT, 0);
    assert_int_equal(c.items[i].seq, first);
    i = fv_collector_find(&c, FV_MSG_STREAM, i + 1);
    assert_int_equal(c.items[i].seq, token);
    i = fv_collector_find(&c, FV_MSG_EVENT, i + 1);
    assert_int_equal(c.items[i].seq, last);
    fv_collector_destroy(&c);
    fv_bus_destroy(bus);
}

static void test_memory_bus_max_age_drops_old_events(void **state)
{
    fv_bus *bus = make_bus_with(0, 200);
    uint64_t old = pub_i(bus, "t-age", 0);
    fv_sleep_ms(400);
    uint64_t fresh = pub_i(bus, "t-age", 1);
    fv_pattern p;
    fv_pattern_init(&p, "t-age");
    fv_collector c;
    fv_collector_init(&c);
    fv_bus_read(bus, &p, &(fv_start){.kind = FV_START_FIRST}, 100, fv_collector_on_msg, &c, NULL,
                NULL);
    assert_int_equal(c.n_data, 1);
    assert_int_equal(c.items[fv_collector_find(&c, FV_MSG_EVENT, 0)].seq, fresh);
    fv_collector_destroy(&c);
    fv_collector_init(&c);
    fv_cursor before = {old - 1, 0, fv_bus_epoch(bus)};
    fv_bus_read(bus, &p, &(fv_start){.kind = FV_START_CURSOR, .cursor = before}, 100,
                fv_collector_on_msg, &c, NULL, NULL);
    assert_int_equal(c.items[0].kind, FV_MSG_GAP);
    assert_int_equal(c.n_data, 1);
    fv_collector_destroy(&c);
    fv_bus_destroy(bus);
}

static void test_memory_bus_max_bytes_bounds_history_across_tenants(void **state)
{
    fv_bus_config cfg;
    fv_bus_config_init(&cfg);
    cfg.events_max_bytes = 64 * 1024;
    fv_bus *bus = NULL;
    assert_int_equal(fv_bus_create(&cfg, &bus, NULL), FV_OK);
    char data[2048];
    memset(data, 'x', sizeof data);
    data[0] = '"';
    data[sizeof data - 2] = '"';
    data[sizeof data - 1] = '\0';
    uint64_t last = 0;
    for (int i = 0; i < 200; i++) {
        fv_event ev;
        fv_bus_suite_event(&ev, i % 2 ? "t-x" : "t-y", NULL, NULL, "task.completed", NULL, data);
        last = fv_bus_suite_publish(bus, &ev);
        fv_event_clear(&ev);
    }
    size_t kept = 0;
    const char *tenants[] = {"t-x", "t-y"};
    for (int k = 0; k < 2; k++) {
        fv_pattern p;
        fv_pattern_init(&p, tenants[k]);
        fv_collector c;
        fv_collector_init(&c);
        fv_bus_read(bus, &p, &(fv_start){.kind = FV_START_FIRST}, 1000, fv_collector_on_msg, &c,
                    NULL, NULL);
        kept += c.n_data;
        if (k == 0) /* the newest survive */
            assert_int_equal(c.items[c.n - 2].seq, last);
        fv_collector_destroy(&c);
    }
    assert_true(kept > 0);
    assert_true(kept * sizeof data <= 64 * 1024); /* ~2 KiB each, 64 KiB in all */
    fv_bus_destroy(bus);
}

typedef struct flood {
    fv_bus *bus;
    int n;
} flood;

static void *flood_main(void *arg)
{
    flood *f = arg;
    for (int i = 0; i < f->n; i++)
        pub_i(f->bus, "t-flood", i);
    return NULL;
}

/* Subscriptions made while a publisher floods the bus reach live before history turns over. */
static void test_memory_bus_subscriptions_made_during_a_flood_get_no_gap(void **state)
{
    enum { SUBS = 20, N = 5000 };
    fv_bus *bus = make_bus_with(500, 0);
    flood f = {bus, N};
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, flood_main, &f), 0);
    fv_pattern p;
    fv_pattern_init(&p, "t-flood");
    static fv_collector c[SUBS];
    fv_sub *subs[SUBS];
    for (int i = 0; i < SUBS; i++) {
        fv_collector_init(&c[i]);
        subs[i] = subscribe(bus, &p, (fv_start){.kind = FV_START_NEW}, &c[i]);
    }
    pthread_join(th, NULL);
    pub_i(bus, "t-flood", N); /* a last one every subscription must get */
    for (int i = 0; i < SUBS; i++) {
        fv_collector *k = &c[i];
        bool done = false;
        for (int w = 0; w < 3 * WAIT_MS / 10 && !done; w++) {
            pthread_mutex_lock(&k->mu);
            done = k->n > 0 && k->items[k->n - 1].kind == FV_MSG_EVENT &&
                   strcmp(k->items[k->n - 1].ev.id, "e-5000") == 0;
            pthread_mutex_unlock(&k->mu);
            if (!done)
                fv_sleep_ms(10);
        }
        fv_collector_stop(k, subs[i], WAIT_MS);
        assert_true(done);
        size_t g = fv_collector_find(k, FV_MSG_GAP, 0);
        if (g < k->n) {
            for (size_t j = 0; j < g + 2 && j < k->n; j++)
                fprintf(stderr, "item %zu kind %d seq %llu cursor %llu id %s req %llu from %llu\n",
                        j, k->items[j].kind, (unsigned long long)k->items[j].seq,
                        (unsigned long long)k->items[j].cursor.events_seq, k->items[j].ev.id,
                        (unsigned long long)k->items[j].gap_requested.events_seq,
                        (unsigned long long)k->items[j].gap_resumed_from.events_seq);
        }
        assert_int_equal(g, k->n);
        int prev = -1; /* a contiguous run of indices up to the last */
        for (size_t j = 0; j < k->n; j++) {
            int idx;
            if (k->items[j].kind != FV_MSG_EVENT)
                continue;
            assert_int_equal(sscanf(k->items[j].ev.id, "e-%d", &idx), 1);
            if (prev >= 0)
                assert_int_equal(idx, prev + 1);
            prev = idx;
        }
        fv_collector_destroy(k);
    }
    fv_bus_destroy(bus);
}

static void test_memory_bus_epoch_is_random_per_bus(void **state)
{
    fv_bus *a = make_bus_with(0, 0), *b = make_bus_with(0, 0);
    assert_true(fv_bus_epoch(a) != 0);
    assert_true(fv_bus_epoch(b) != 0);
    assert_true(fv_bus_epoch(a) != fv_bus_epoch(b));
    /* a cursor of the first bus is a gap on the second (a restarted embedded gateway) */
    pub_i(a, "t", 0);
    pub_i(b, "t", 0);
    fv_pattern p;
    fv_pattern_init(&p, "t");
    fv_collector c;
    fv_collector_init(&c);
    fv_cursor ca = {1, 0, fv_bus_epoch(a)};
    fv_cursor next;
    fv_bus_read(b, &p, &(fv_start){.kind = FV_START_CURSOR, .cursor = ca}, 10, fv_collector_on_msg,
                &c, &next, NULL);
    assert_int_equal(c.items[0].kind, FV_MSG_GAP);
    assert_int_equal(c.n_data, 1);
    assert_int_equal(next.epoch, fv_bus_epoch(b));
    fv_collector_destroy(&c);
    fv_bus_destroy(a);
    fv_bus_destroy(b);
}

static void test_memory_bus_merges_sources_in_exact_arrival_order(void **state)
{
    fv_bus *bus = make_default(NULL);
    fv_pattern p;
    fv_pattern_init(&p, "t-m");
    snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "w");
    fv_collector c;
    fv_collector_init(&c);
    const char *plan = "eessesseeesesse";
    size_t half = strlen(plan) / 2;
    fv_sub *sub = NULL;
    for (size_t i = 0; plan[i]; i++) {
        if (i == half) /* half replayed from history, half live */
            sub = subscribe(bus, &p, (fv_start){.kind = FV_START_FIRST}, &c);
        if (plan[i] == 'e') {
            fv_event ev;
            fv_bus_suite_event(&ev, "t-m", "w", NULL, "task.completed", NULL, "1");
            fv_bus_suite_publish(bus, &ev);
            fv_event_clear(&ev);
        } else {
            fv_stream_event se;
            fv_bus_suite_stream(&se, "t-m", "w", NULL, (int64_t)i, FV_KIND_TOKEN, "2");
            fv_bus_suite_publish_stream(bus, &se);
            fv_stream_event_clear(&se);
        }
    }
    assert_true(fv_collector_wait(&c, strlen(plan), WAIT_MS));
    fv_collector_stop(&c, sub, WAIT_MS);
    char got[32] = "";
    for (size_t i = 0, k = 0; i < c.n && k + 1 < sizeof got; i++) {
        if (c.items[i].kind == FV_MSG_EVENT)
            got[k++] = 'e';
        else if (c.items[i].kind == FV_MSG_STREAM)
            got[k++] = 's';
        got[k] = '\0';
    }
    assert_string_equal(got, plan);
    fv_collector_destroy(&c);
    fv_bus_destroy(bus);
}

typedef struct slot_probe {
    fv_collector c;
    void **seen_slot[2];
    void *seen_value[2];
    int idx;
} slot_probe;

static int frees;
static void count_free(void *p)
{
    frees++;
    free(p);
}

static int probe_on_msg(void *ud, const fv_msg *m)
{
    slot_probe *pr = ud;
    if (m->kind == FV_MSG_EVENT) {
        assert_non_null(m->shared);
        pr->seen_slot[0] = m->shared;
        pr->seen_value[0] = *m->shared;
        if (!*m->shared) { /* the first receiver builds the frame, the others reuse it */
            *m->shared = malloc(8);
            *m->shared_free = count_free;
        }
    }
    return fv_collector_on_msg(&pr->c, m);
}

static void test_memory_bus_live_message_shares_one_frame_slot(void **state)
{
    fv_bus *bus = make_default(NULL);
    fv_pattern p;
    fv_pattern_init(&p, "t-s");
    slot_probe a, b;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    fv_collector_init(&a.c);
    fv_collector_init(&b.c);
    fv_sub *subs[2];
    slot_probe *pr[2] = {&a, &b};
    for (int i = 0; i < 2; i++) {
        fv_sub_config cfg;
        memset(&cfg, 0, sizeof cfg);
        cfg.pattern = p;
        cfg.start = (fv_start){.kind = FV_START_NEW};
        cfg.on_msg = probe_on_msg;
        cfg.on_release = fv_collector_on_release;
        cfg.ud = pr[i];
        assert_int_equal(fv_bus_subscribe(bus, &cfg, &subs[i], NULL), FV_OK);
        assert_true(fv_collector_wait_kind(&pr[i]->c, FV_MSG_LIVE, WAIT_MS));
    }
    frees = 0;
    pub_i(bus, "t-s", 0);
    assert_true(fv_collector_wait(&a.c, 1, WAIT_MS));
    assert_true(fv_collector_wait(&b.c, 1, WAIT_MS));
    fv_collector_stop(&a.c, subs[0], WAIT_MS);
    fv_collector_stop(&b.c, subs[1], WAIT_MS);
    assert_ptr_equal(a.seen_slot[0], b.seen_slot[0]);
    /* exactly one of them found the frame the other built */
    assert_true((a.seen_value[0] == NULL) != (b.seen_value[0] == NULL));
    fv_bus_destroy(bus); /* the slot is freed after the dispatch, on the bus's thread */
    assert_int_equal(frees, 1);
    fv_collector_destroy(&a.c);
    fv_collector_destroy(&b.c);
}

static void test_memory_bus_until_ends_by_the_clock_without_new_events(void **state)
{
    fv_bus *bus = make_default(NULL);
    pub_i(bus, "t-u", 0);
    fv_pattern p;
    fv_pattern_init(&p, "t-u");
    fv_collector c;
    fv_collector_init(&c);
    int64_t until = fv_now_ms() + 100;
    fv_sub *sub = subscribe(bus, &p, (fv_start){.kind = FV_START_FIRST, .until_ms = until}, &c);
    assert_true(fv_collector_wait_kind(&c, FV_MSG_END, WAIT_MS));
    assert_true(fv_now_ms() > until);
    fv_collector_stop(&c, sub, WAIT_MS);
    assert_int_equal(c.n_data, 1);
    fv_collector_destroy(&c);
    fv_bus_destroy(bus);
}

typedef struct republisher {
    fv_collector c;
    fv_bus *bus;
} republisher;

static int republish_on_msg(void *ud, const fv_msg *m)
{
    republisher *r = ud;
    if (m->kind == FV_MSG_EVENT && strcmp(m->ev->event_type, "task.completed") == 0) {
        fv_event ev;
        fv_bus_suite_event(&ev, "t-r", NULL, NULL, "task.started", NULL, "{}");
        fv_bus_publish_event(r->bus, &ev, NULL, NULL); /* from the dispatcher thread */
        fv_event_clear(&ev);
    }
    return fv_collector_on_msg(&r->c, m);
}

static void test_memory_bus_publish_from_a_callback_does_not_deadlock(void **state)
{
    fv_bus *bus = make_default(NULL);
    republisher r;
    fv_collector_init(&r.c);
    r.bus = bus;
    fv_pattern p;
    fv_pattern_init(&p, "t-r");
    fv_sub_config cfg;
    memset(&cfg, 0, sizeof cfg);
    cfg.pattern = p;
    cfg.on_msg = republish_on_msg;
    cfg.on_release = fv_collector_on_release;
    cfg.ud = &r;
    fv_sub *sub = NULL;
    assert_int_equal(fv_bus_subscribe(bus, &cfg, &sub, NULL), FV_OK);
    pub_i(bus, "t-r", 0);
    assert_true(fv_collector_wait(&r.c, 2, WAIT_MS));
    fv_collector_stop(&r.c, sub, WAIT_MS);
    fv_collector_destroy(&r.c);
    fv_bus_destroy(bus);
}

static void test_memory_bus_has_no_durables_and_is_always_ready(void **state)
{
    fv_bus *bus = make_default(NULL);
    assert_true(fv_bus_is_memory(bus));
    assert_true(fv_bus_ready(bus));
    assert_int_equal(fv_bus_provision(bus, NULL), FV_OK);
    fv_durable_config dc = {.stream = FV_STREAM_EVENTS, .name = "d", .filter_subject = ">"};
    fv_err err = {{0}};
    assert_int_equal(fv_bus_durable_ensure(bus, &dc, &err), FV_ENOTSUP);
    assert_non_null(strstr(err.msg, "JetStream"));
    fv_durable *d = NULL;
    assert_int_equal(fv_bus_durable_open(bus, FV_STREAM_EVENTS, "d", &d, NULL), FV_ENOTSUP);
    fv_kv *kv = NULL;
    fv_kv_config kc = {.bucket = "B", .create = true};
    assert_int_equal(fv_kv_open(bus, &kc, &kv, NULL), FV_ENOTSUP);
    assert_null(kv);
    uint64_t last = 99;
    assert_int_equal(fv_bus_last_seq(bus, FV_SRC_STREAMS, &last, NULL), FV_OK);
    assert_int_equal(last, 0);
    fv_bus_stats st;
    fv_bus_get_stats(bus, &st);
    assert_true(st.connected);
    fv_bus_destroy(bus);
}

static void test_memory_bus_destroy_releases_open_subscriptions(void **state)
{
    fv_bus *bus = make_default(NULL);
    fv_pattern p;
    fv_pattern_init(&p, "t-d");
    fv_collector c;
    fv_collector_init(&c);
    subscribe(bus, &p, (fv_start){.kind = FV_START_NEW}, &c);
    pub_i(bus, "t-d", 0);
    fv_bus_destroy(bus);
    assert_int_equal(c.releases, 1);
    fv_collector_destroy(&c);
}

/* Rounds of callbacks: a callback that holds the dispatcher lets events queue up; they are then
 * delivered in one round with `more` set on all but the last, and after_callbacks runs once the
 * round is over (never in the middle of one). A lone event is the last of its round. */
typedef struct round_probe {
    pthread_mutex_t mu;
    int events, more, afters;
    int after_at[64]; /* events seen when each after_callbacks ran */
    bool last_more;   /* `more` of the latest event */
    bool hold;        /* the first event's callback waits until released */
    bool released;
    pthread_cond_t cv;
} round_probe;

static int round_on_msg(void *ud, const fv_msg *m)
{
    round_probe *r = ud;
    if (m->kind != FV_MSG_EVENT)
        return FV_SUB_OK;
    pthread_mutex_lock(&r->mu);
    r->events++;
    r->more += m->more;
    r->last_more = m->more;
    while (r->hold && !r->released)
        pthread_cond_wait(&r->cv, &r->mu);
    pthread_mutex_unlock(&r->mu);
    return FV_SUB_OK;
}

static void round_after(void *ud)
{
    round_probe *r = ud;
    pthread_mutex_lock(&r->mu);
    if (r->afters < 64)
        r->after_at[r->afters] = r->events;
    r->afters++;
    pthread_mutex_unlock(&r->mu);
}

static int round_events(round_probe *r)
{
    pthread_mutex_lock(&r->mu);
    int n = r->events;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void test_memory_bus_rounds_mark_more_and_end_with_after_callbacks(void **state)
{
    round_probe r;
    memset(&r, 0, sizeof r);
    pthread_mutex_init(&r.mu, NULL);
    pthread_cond_init(&r.cv, NULL);
    fv_bus_config cfg;
    fv_bus_config_init(&cfg);
    cfg.after_callbacks = round_after;
    cfg.after_callbacks_ud = &r;
    fv_bus *bus = NULL;
    assert_int_equal(fv_bus_create(&cfg, &bus, NULL), FV_OK);
    fv_pattern p;
    fv_pattern_init(&p, "t-r");
    fv_sub_config sc;
    memset(&sc, 0, sizeof sc);
    sc.pattern = p;
    sc.start = (fv_start){.kind = FV_START_NEW};
    sc.on_msg = round_on_msg;
    sc.ud = &r;
    fv_sub *sub = NULL;
    assert_int_equal(fv_bus_subscribe(bus, &sc, &sub, NULL), FV_OK);
    fv_sleep_ms(100); /* live */

    pub_i(bus, "t-r", 0); /* alone: the last of its round */
    for (int i = 0; i < 500 && round_events(&r) < 1; i++)
        fv_sleep_ms(10);
    assert_int_equal(round_events(&r), 1);
    assert_false(r.last_more);

    pthread_mutex_lock(&r.mu);
    r.hold = true; /* the next callback keeps the dispatcher while 20 more are queued */
    pthread_mutex_unlock(&r.mu);
    pub_i(bus, "t-r", 1);
    for (int i = 0; i < 500 && round_events(&r) < 2; i++)
        fv_sleep_ms(10);
    for (int i = 2; i < 22; i++)
        pub_i(bus, "t-r", i);
    pthread_mutex_lock(&r.mu);
    r.released = true;
    pthread_cond_broadcast(&r.cv);
    pthread_mutex_unlock(&r.mu);
    for (int i = 0; i < 500 && round_events(&r) < 22; i++)
        fv_sleep_ms(10);
    fv_sleep_ms(100);
    fv_sub_close(sub);
    fv_bus_destroy(bus);

    assert_int_equal(r.events, 22);
    assert_false(r.last_more);  /* the last event of the last round */
    assert_true(r.more >= 19);  /* the 20 queued ones went out as one round */
    assert_true(r.afters >= 2); /* after the lone event, and after the batch */
    for (int i = 0; i < r.afters && i < 64; i++)
        assert_true(r.after_at[i] == 1 || r.after_at[i] == 2 || r.after_at[i] == 22 ||
                    r.after_at[i] == 0); /* never inside the queued round */
    pthread_mutex_destroy(&r.mu);
    pthread_cond_destroy(&r.cv);
}

int main(void)
{
    fv_bus_suite suite = {.make = make_default, .concurrent_events = 5000, .timeout_ms = WAIT_MS};
    int failed = fv_bus_suite_run("bus_memory_shared", &suite);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_memory_bus_old_cursor_past_bounded_history_gets_gap),
        cmocka_unit_test(test_memory_bus_paused_subscription_that_falls_out_of_history_gets_gap),
        cmocka_unit_test(
            test_memory_bus_paused_subscription_loses_only_what_it_would_skip_without_gap),
        cmocka_unit_test(test_memory_bus_max_age_drops_old_events),
        cmocka_unit_test(test_memory_bus_max_bytes_bounds_history_across_tenants),
        cmocka_unit_test(test_memory_bus_subscriptions_made_during_a_flood_get_no_gap),
        cmocka_unit_test(test_memory_bus_epoch_is_random_per_bus),
        cmocka_unit_test(test_memory_bus_merges_sources_in_exact_arrival_order),
        cmocka_unit_test(test_memory_bus_live_message_shares_one_frame_slot),
        cmocka_unit_test(test_memory_bus_until_ends_by_the_clock_without_new_events),
        cmocka_unit_test(test_memory_bus_publish_from_a_callback_does_not_deadlock),
        cmocka_unit_test(test_memory_bus_has_no_durables_and_is_always_ready),
        cmocka_unit_test(test_memory_bus_destroy_releases_open_subscriptions),
        cmocka_unit_test(test_memory_bus_rounds_mark_more_and_end_with_after_callbacks),
    };
    failed += cmocka_run_group_tests_name("bus_memory", tests, NULL, NULL);
    return failed;
}
