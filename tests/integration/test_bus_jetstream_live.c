/* test_bus_jetstream_live.c - the JetStream live path under loss, on a real nats-server:
 * republished messages that never reach the live subscription are read back from the stream
 * (in the middle and at the tail), a resume read does not take a consumer's early end for the
 * stream's, tenants stay isolated even against a forged body, and a
 * nats-server killed with SIGKILL and restarted mid-stream loses no acknowledged event and
 * delivers each one exactly once.
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stdatomic.h>
#include <time.h>

#include <cmocka.h>
#include <nats/nats.h>

#include "jetstream_internal.h" /* fv__js_debug_drop_live */
#include "bus_suite.h"
#include "fixture.h"

#define TMO 30000

static fv_nats_server srv;

static size_t window_bytes = 0; /* 0 = default */

static fv_bus *new_bus(int attempts, int timeout_ms)
{
    fv_bus_config c;
    fv_bus_config_init(&c);
    c.window_bytes = window_bytes;
    c.nats_url = srv.url;
    c.name = "test-jsbus-live";
    c.publish_attempts = attempts;
    c.publish_timeout_ms = timeout_ms;
    fv_bus *bus = NULL;
    fv_err err = {{0}};
    if (fv_bus_create(&c, &bus, &err) != FV_OK)
        fail_msg("create: %s", err.msg);
    if (fv_bus_provision(bus, &err) != FV_OK)
        fail_msg("provision: %s", err.msg);
    return bus;
}

/* a subscription of the tenant's events from stream sequence seq (0: from what comes next) */
static fv_sub *subscribe_at(fv_bus *bus, const char *tenant, uint64_t seq, fv_collector *c)
{
    fv_sub_config sc = {0};
    fv_pattern_init(&sc.pattern, tenant);
    sc.start.kind = seq ? FV_START_SEQ : FV_START_NEW;
    sc.start.events_seq = seq;
    sc.on_msg = fv_collector_on_msg;
    sc.on_release = fv_collector_on_release;
    sc.ud = c;
    fv_sub *sub = NULL;
    fv_err err = {{0}};
    if (fv_bus_subscribe(bus, &sc, &sub, &err) != FV_OK)
        fail_msg("subscribe: %s", err.msg);
    return sub;
}

static fv_sub *subscribe_new(fv_bus *bus, const char *tenant, fv_collector *c)
{
    fv_sub *sub = subscribe_at(bus, tenant, 0, c);
    assert_true(fv_collector_wait_kind(c, FV_MSG_LIVE, TMO));
    return sub;
}

/* publishes n events of tenant in one pipelined batch; seqs[i] = stored sequence */
static void publish_n(fv_bus *bus, const char *tenant, int n, const char *tag, uint64_t *seqs)
{
    fv_event *evs = calloc((size_t)n, sizeof *evs);
    fv_publish_item *items = calloc((size_t)n, sizeof *items);
    for (int i = 0; i < n; i++) {
        char id[64];
        snprintf(id, sizeof id, "%s-%d", tag, i);
        fv_bus_suite_event(&evs[i], tenant, "wf-live", NULL, "task.completed", id, "{\"i\":1}");
        items[i].ev = &evs[i];
    }
    fv_err err = {{0}};
    assert_int_equal(fv_bus_publish_batch(bus, items, (size_t)n, &err), FV_OK);
    for (int i = 0; i < n; i++) {
        if (items[i].status != FV_OK)
            fail_msg("item %d: %s", i, items[i].err.msg);
        if (seqs)
            seqs[i] = items[i].result.seq;
        fv_event_clear(&evs[i]);
    }
    free(evs);
    free(items);
}

/* every expected sequence exactly once, in order, nothing else */
static void assert_exactly(const fv_collector *c, const uint64_t *seqs, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < c->n; i++) {
        if (c->items[i].kind != FV_MSG_EVENT)
            continue;
        if (k >= n)
            fail_msg("unexpected extra event seq %llu", (unsigned long long)c->items[i].seq);
        if (c->items[i].seq != seqs[k])
            fail_msg("event %zu: seq %llu, expected %llu", k, (unsigned long long)c->items[i].seq,
                     (unsigned long long)seqs[k]);
        k++;
    }
    assert_int_equal(k, n);
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

static void test_jetstream_live_refills_lost_republishes_in_the_middle(void **state)
{
    fv_bus *sub_bus = new_bus(0, 0), *pub_bus = new_bus(0, 0);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "gap");
    fv_collector c;
    fv_collector_init(&c);
    fv_sub *sub = subscribe_new(sub_bus, t, &c);
    enum { N = 300 };
    uint64_t seqs[N];
    publish_n(pub_bus, t, 20, "warm", seqs);
    assert_true(fv_collector_wait(&c, 20, TMO));
    /* the next 100 republished messages never reach this process */
    fv__js_debug_drop_live(sub_bus, FV_SRC_EVENTS, 100);
    publish_n(pub_bus, t, N - 20, "rest", seqs + 20);
    assert_true(fv_collector_wait(&c, N, TMO));
    fv_collector_stop(&c, sub, TMO);
    assert_exactly(&c, seqs, N);
    fv_bus_stats st;
    fv_bus_get_stats(sub_bus, &st);
    assert_true(st.live_gaps_refilled >= 1);
    assert_true(st.live_refill_msgs >= 100);
    fv_collector_destroy(&c);
    fv_bus_destroy(pub_bus);
    fv_bus_destroy(sub_bus);
}

/* The consolidated stream learns descendants from lifecycle events, so a child's first token must
 * not overtake the child's workflow.started on the live path, even when it is published the
 * moment that event is acknowledged. */
typedef struct family {
    pthread_mutex_t mu;
    char ids[512][FV_ID_MAX + 1];
    size_t n;
    fv_bus *noise_bus; /* unrelated lifecycle traffic that keeps the events side busy */
    const char *tenant;
    atomic_bool stop;
} family;

static void *noise_main(void *arg)
{
    family *f = arg;
    int k = 0;
    while (!atomic_load(&f->stop)) {
        enum { B = 20 };
        fv_event evs[B];
        fv_publish_item items[B];
        memset(items, 0, sizeof items);
        for (int i = 0; i < B; i++) {
            char id[40];
            snprintf(id, sizeof id, "noise-%d", k++);
            fv_bus_suite_event(&evs[i], f->tenant, "noise", NULL, "task.progressed", id, "{}");
            items[i].ev = &evs[i];
        }
        fv_err err = {{0}};
        fv_bus_publish_batch(f->noise_bus, items, B, &err);
        for (int i = 0; i < B; i++)
            fv_event_clear(&evs[i]);
        struct timespec ts = {0, 20000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static bool family_has(family *f, const char *w)
{
    for (size_t i = 0; i < f->n; i++)
        if (!strcmp(f->ids[i], w))
            return true;
    return false;
}

static bool family_accept(void *ud, const fv_event *ev, const fv_stream_event *se)
{
    family *f = ud;
    if (ev && !strcmp(ev->workflow_execution_id, "noise")) {
        struct timespec ts = {0, 300000L}; /* a slow consumer of unrelated events */
        nanosleep(&ts, NULL);
        return false;
    }
    pthread_mutex_lock(&f->mu);
    bool ok;
    if (ev) {
        ok = family_has(f, ev->workflow_execution_id);
        if (!ok && ev->parent_workflow_execution_id[0] &&
            family_has(f, ev->parent_workflow_execution_id) && f->n < 512) {
            snprintf(f->ids[f->n++], FV_ID_MAX + 1, "%s", ev->workflow_execution_id);
            ok = true;
        }
    } else {
        ok = family_has(f, se->workflow_execution_id);
    }
    pthread_mutex_unlock(&f->mu);
    return ok;
}

/* pause_us > 0: the events thread pauses after taking each message, the instant in which the
 * subscription's queue is already empty but the message is not handled yet */
static void child_tokens_follow_their_workflow_started(int pause_us)
{
    fv_bus *sub_bus = new_bus(0, 0), *pub_bus = new_bus(0, 0);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "causal");
    family fam = {.n = 1};
    pthread_mutex_init(&fam.mu, NULL);
    snprintf(fam.ids[0], sizeof fam.ids[0], "root");
    fv_collector c;
    fv_collector_init(&c);
    fv_sub_config sc = {0};
    fv_pattern_init(&sc.pattern, t);
    sc.pattern.accept = family_accept;
    sc.pattern.accept_ud = &fam;
    sc.start.kind = FV_START_NEW;
    sc.on_msg = fv_collector_on_msg;
    sc.on_release = fv_collector_on_release;
    sc.ud = &c;
    fv_sub *sub = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_subscribe(sub_bus, &sc, &sub, &err), FV_OK);
    assert_true(fv_collector_wait_kind(&c, FV_MSG_LIVE, TMO));
    fv__js_debug_pause_live(sub_bus, FV_SRC_EVENTS, pause_us);
    fam.noise_bus = new_bus(0, 0);
    fam.tenant = t;
    pthread_t noise;
    pthread_create(&noise, NULL, noise_main, &fam);
    enum { CHILDREN = 100 };
    for (int i = 0; i < CHILDREN; i++) {
        char child[32], parent[32], id[32];
        snprintf(child, sizeof child, "child-%d", i);
        /* every fourth child is a grandchild of the previous one */
        snprintf(parent, sizeof parent, i % 4 == 3 ? "child-%d" : "root", i - 1);
        snprintf(id, sizeof id, "started-%d", i);
        fv_event ev;
        fv_bus_suite_event(&ev, t, child, NULL, "workflow.started", id, "{}");
        snprintf(ev.parent_workflow_execution_id, sizeof ev.parent_workflow_execution_id, "%s",
                 parent);
        assert_int_equal(fv_bus_publish_event(pub_bus, &ev, NULL, &err), FV_OK);
        fv_event_clear(&ev);
        fv_stream_event se;
        fv_bus_suite_stream(&se, t, child, NULL, 1, FV_KIND_TOKEN, "\"tok\"");
        assert_int_equal(fv_bus_publish_stream(pub_bus, &se, NULL, &err), FV_OK);
        fv_stream_event_clear(&se);
    }
    atomic_store(&fam.stop, true);
    pthread_join(noise, NULL);
    /* every child: its lifecycle event and its token, accepted */
    assert_true(fv_collector_wait(&c, 2 * CHILDREN, TMO));
    fv_collector_stop(&c, sub, TMO);
    size_t tokens = 0;
    for (size_t i = 0; i < c.n; i++)
        tokens += c.items[i].kind == FV_MSG_STREAM;
    assert_int_equal(tokens, CHILDREN);
    fv_collector_destroy(&c);
    pthread_mutex_destroy(&fam.mu);
    fv_bus_destroy(fam.noise_bus);
    fv_bus_destroy(pub_bus);
    fv_bus_destroy(sub_bus);
}

static void test_jetstream_child_token_never_overtakes_its_workflow_started(void **state)
{
    child_tokens_follow_their_workflow_started(0);
}

static void test_jetstream_child_token_waits_for_a_workflow_started_being_handled(void **state)
{
    child_tokens_follow_their_workflow_started(3000);
}

static void test_jetstream_live_refills_lost_tail_without_newer_message(void **state)
{
    fv_bus *sub_bus = new_bus(0, 0), *pub_bus = new_bus(0, 0);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "tail");
    fv_collector c;
    fv_collector_init(&c);
    fv_sub *sub = subscribe_new(sub_bus, t, &c);
    uint64_t seqs[10];
    fv__js_debug_drop_live(sub_bus, FV_SRC_EVENTS, 3);
    /* the last three are lost and nothing follows them: only the probe can find them */
    publish_n(pub_bus, t, 3, "tail", seqs);
    assert_true(fv_collector_wait(&c, 3, TMO));
    fv_collector_stop(&c, sub, TMO);
    assert_exactly(&c, seqs, 3);
    fv_collector_destroy(&c);
    fv_bus_destroy(pub_bus);
    fv_bus_destroy(sub_bus);
}

/* A consumer on a replica still catching up (a node just restarted) says it has nothing more
 * while the stream's leader has stored more. A resume read through such a consumer must not take
 * that for the end of the stream and skip the rest (the cluster test caught fifteen events
 * skipped so). The hook makes the first fetch report the end after 256 of 600. */
static void test_jetstream_resume_read_does_not_trust_an_early_end(void **state)
{
    fv_bus *pub_bus = new_bus(0, 0);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "early");
    enum { N = 600, AFTER = 5 };
    static uint64_t seqs[N + AFTER];
    publish_n(pub_bus, t, N, "early", seqs);
    fv_bus *sub_bus = new_bus(0, 0); /* its window starts above all of them */
    fv__js_debug_false_ends(sub_bus, 1);
    fv_collector c;
    fv_collector_init(&c);
    fv_sub *sub = subscribe_at(sub_bus, t, seqs[0], &c);
    assert_true(fv_collector_wait_kind(&c, FV_MSG_LIVE, TMO));
    publish_n(pub_bus, t, AFTER, "after", seqs + N);
    if (!fv_collector_wait(&c, N + AFTER, TMO))
        fail_msg("got %zu of %d", fv_collector_count(&c), N + AFTER);
    fv_collector_stop(&c, sub, TMO);
    assert_exactly(&c, seqs, N + AFTER);
    fv_collector_destroy(&c);
    fv_bus_stats st;
    fv_bus_get_stats(sub_bus, &st);
    assert_true(st.shared_reads >= 1);
    assert_int_equal(atomic_load(&((fv__js_bus *)sub_bus)->debug_false_ends), 0); /* it was used */
    fv_bus_destroy(sub_bus);
    fv_bus_destroy(pub_bus);
}

static void test_jetstream_tenant_isolation_with_wildcards_and_forged_body(void **state)
{
    fv_bus *bus = new_bus(0, 0);
    char a[FV_ID_MAX + 1], b[FV_ID_MAX + 8];
    fv_bus_suite_tenant(a, sizeof a, "iso");
    snprintf(b, sizeof b, "%s-x", a); /* a prefix of each other's name must not leak */
    fv_collector ca;
    fv_collector_init(&ca);
    fv_sub_config sc = {0};
    fv_pattern_init(&sc.pattern, a);
    fv_types_filter *all = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_types_filter_parse(">", FV_TYPES_DEFAULT_LIFECYCLE, &all, &err), FV_OK);
    sc.pattern.types = all;
    sc.start.kind = FV_START_NEW;
    sc.on_msg = fv_collector_on_msg;
    sc.on_release = fv_collector_on_release;
    sc.ud = &ca;
    fv_sub *sub = NULL;
    assert_int_equal(fv_bus_subscribe(bus, &sc, &sub, &err), FV_OK);
    assert_true(fv_collector_wait_kind(&ca, FV_MSG_LIVE, TMO));

    publish_n(bus, b, 5, "other", NULL);
    /* a plain NATS client writes tenant b's body onto tenant a's subject */
    natsConnection *nc = NULL;
    assert_int_equal(natsConnection_ConnectTo(&nc, srv.url), NATS_OK);
    char subj[256], body[512];
    snprintf(subj, sizeof subj, "flovyn.v1.events.%s.wf-1._.task.completed", a);
    snprintf(body, sizeof body,
             "{\"id\":\"forged-1\",\"tenant_id\":\"%s\",\"event_type\":\"task.completed\","
             "\"workflow_execution_id\":\"wf-1\",\"source\":\"x\",\"data\":{},"
             "\"timestamp_ms\":1}",
             b);
    natsMsg *reply = NULL;
    assert_int_equal(natsConnection_RequestString(&reply, nc, subj, body, 5000), NATS_OK);
    natsMsg_Destroy(reply);
    natsConnection_Destroy(nc);

    uint64_t mine[1];
    publish_n(bus, a, 1, "mine", mine);
    assert_true(fv_collector_wait(&ca, 1, TMO));
    fv_collector_stop(&ca, sub, TMO);
    /* only a's own event: neither b's events nor the forged one */
    assert_exactly(&ca, mine, 1);
    assert_string_equal(ca.items[fv_collector_find(&ca, FV_MSG_EVENT, 0)].ev.tenant_id, a);

    /* history reads are isolated the same way */
    fv_collector r;
    fv_collector_init(&r);
    fv_pattern pa;
    fv_pattern_init(&pa, a);
    fv_start first = {.kind = FV_START_FIRST};
    fv_cursor next;
    assert_int_equal(fv_bus_read(bus, &pa, &first, 100, fv_collector_on_msg, &r, &next, &err),
                     FV_OK);
    assert_int_equal(r.n_data, 1);
    fv_collector_destroy(&r);
    fv_collector_destroy(&ca);
    fv_types_filter_destroy(all);
    fv_bus_destroy(bus);
}

typedef struct pub_run {
    fv_bus *bus;
    const char *tenant;
    int n;
    char (*ids)[48];
    bool *acked;
    uint64_t *seqs;
    atomic_int done;
} pub_run;

static void *publisher(void *arg)
{
    pub_run *r = arg;
    for (int i = 0; i < r->n; i += 10) {
        fv_event evs[10];
        fv_publish_item items[10];
        memset(items, 0, sizeof items);
        int m = r->n - i < 10 ? r->n - i : 10;
        for (int k = 0; k < m; k++) {
            fv_bus_suite_event(&evs[k], r->tenant, "wf-crash", NULL, "task.completed",
                               r->ids[i + k], "{}");
            items[k].ev = &evs[k];
        }
        fv_err err = {{0}};
        fv_bus_publish_batch(r->bus, items, (size_t)m, &err);
        for (int k = 0; k < m; k++) {
            r->acked[i + k] = items[k].status == FV_OK;
            r->seqs[i + k] = items[k].result.seq;
            fv_event_clear(&evs[k]);
        }
        atomic_fetch_add(&r->done, m);
        struct timespec ts = {0, 4 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return NULL;
}

static void test_jetstream_server_sigkill_mid_stream_keeps_every_acked_event_once(void **state)
{
    /* generous retries: the publisher rides through the restart with the same message ids */
    fv_bus *sub_bus = new_bus(0, 0), *pub_bus = new_bus(40, 1000);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "crash");
    fv_collector c;
    fv_collector_init(&c);
    fv_sub *sub = subscribe_new(sub_bus, t, &c);

    enum { N = 1500 };
    static char ids[N][48];
    static bool acked[N];
    static uint64_t seqs[N];
    for (int i = 0; i < N; i++)
        snprintf(ids[i], sizeof ids[i], "crash-%d", i);
    pub_run run = {pub_bus, t, N, ids, acked, seqs, 0};
    pthread_t th;
    pthread_create(&th, NULL, publisher, &run);
    struct timespec ts = {0, 150 * 1000000L};
    nanosleep(&ts, NULL);
    int done_at_kill = atomic_load(&run.done);
    fv_nats_kill(&srv); /* SIGKILL: no clean shutdown */
    nanosleep(&ts, NULL);
    assert_int_equal(fv_nats_restart(&srv), 0);
    pthread_join(th, NULL);

    int n_acked = 0;
    for (int i = 0; i < N; i++)
        n_acked += acked[i];
    assert_true(n_acked > N / 2);
    /* the crash really happened while publishing: attempts were repeated, both reconnected */
    fv_bus_stats ps, ss;
    fv_bus_get_stats(pub_bus, &ps);
    fv_bus_get_stats(sub_bus, &ss);
    assert_true(ps.reconnects > 0 && ss.reconnects > 0);
    assert_true(done_at_kill > 0 && done_at_kill < N);
    /* the store has every acknowledged event, each once (a read of the whole workflow) */
    fv_collector r;
    fv_collector_init(&r);
    fv_pattern p;
    fv_pattern_init(&p, t);
    fv_start first = {.kind = FV_START_FIRST};
    fv_cursor next;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_read(sub_bus, &p, &first, 100000, fv_collector_on_msg, &r, &next, &err),
                     FV_OK);
    int *seen = calloc(N, sizeof *seen);
    for (size_t i = 0; i < r.n; i++) {
        if (r.items[i].kind != FV_MSG_EVENT)
            continue;
        int idx = atoi(r.items[i].ev.id + strlen("crash-"));
        assert_true(idx >= 0 && idx < N);
        seen[idx]++;
    }
    for (int i = 0; i < N; i++) {
        if (acked[i] && seen[i] != 1)
            fail_msg("acknowledged event %d stored %d times", i, seen[i]);
        if (seen[i] > 1)
            fail_msg("event %d stored %d times", i, seen[i]);
    }
    size_t stored = r.n_data;
    /* the live subscriber gets exactly what is stored, once each, in order */
    assert_true(fv_collector_wait(&c, stored, TMO));
    fv_collector_stop(&c, sub, TMO);
    assert_int_equal(c.n_data, stored);
    uint64_t prev = 0;
    for (size_t i = 0; i < c.n; i++) {
        if (c.items[i].kind != FV_MSG_EVENT)
            continue;
        assert_true(c.items[i].seq > prev);
        prev = c.items[i].seq;
    }
    free(seen);
    fv_collector_destroy(&r);
    fv_collector_destroy(&c);
    fv_bus_destroy(pub_bus);
    fv_bus_destroy(sub_bus);
}

static void test_jetstream_until_ends_a_quiet_live_stream(void **state)
{
    fv_bus *bus = new_bus(0, 0);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "until");
    uint64_t seqs[2];
    publish_n(bus, t, 2, "u", seqs);
    fv_collector c;
    fv_collector_init(&c);
    fv_sub_config sc = {0};
    fv_pattern_init(&sc.pattern, t);
    sc.start.kind = FV_START_FIRST;
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    sc.start.until_ms = (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000 + 300;
    sc.on_msg = fv_collector_on_msg;
    sc.on_release = fv_collector_on_release;
    sc.ud = &c;
    fv_sub *sub = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_subscribe(bus, &sc, &sub, &err), FV_OK);
    /* nothing is published after `until`: the end must come from the bus's own clock */
    assert_true(fv_collector_wait_kind(&c, FV_MSG_END, TMO));
    fv_collector_stop(&c, sub, TMO);
    assert_exactly(&c, seqs, 2);
    size_t end = fv_collector_find(&c, FV_MSG_END, 0);
    assert_true(end > fv_collector_find(&c, FV_MSG_EVENT, 0));
    fv_collector_destroy(&c);
    fv_bus_destroy(bus);
}

typedef struct bg_pub {
    fv_bus *bus;
    const char *tenant;
    int n;
    uint64_t *seqs;
} bg_pub;

static void *bg_publisher(void *arg)
{
    bg_pub *p = arg;
    for (int i = 0; i < p->n; i += 50) {
        char tag[32];
        snprintf(tag, sizeof tag, "bg%d", i);
        publish_n(p->bus, p->tenant, 50, tag, p->seqs + i);
    }
    return NULL;
}

static void test_jetstream_tiny_window_evicting_during_catchup_loses_nothing(void **state)
{
    /* A 16 KiB window holds a few dozen events and evicts all the time while the subscription
     * catches up slowly and events keep coming: every event still arrives once, in order, and
     * the subscription reaches live. */
    window_bytes = 16 * 1024;
    fv_bus *sub_bus = new_bus(0, 0);
    window_bytes = 0;
    fv_bus *pub_bus = new_bus(0, 0);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "tiny");
    enum { BEFORE = 1000, DURING = 1000 };
    static uint64_t seqs[BEFORE + DURING];
    publish_n(pub_bus, t, BEFORE, "before", seqs);
    bg_pub bp = {pub_bus, t, DURING, seqs + BEFORE};
    pthread_t th;
    pthread_create(&th, NULL, bg_publisher, &bp);
    fv_collector c;
    fv_collector_init(&c);
    fv_sub_config sc = {0};
    fv_pattern_init(&sc.pattern, t);
    sc.start.kind = FV_START_SEQ;
    sc.start.events_seq = seqs[0];
    sc.max_catchup_batch = 16; /* slow catch-up: many turns while publishing goes on */
    sc.on_msg = fv_collector_on_msg;
    sc.on_release = fv_collector_on_release;
    sc.ud = &c;
    fv_sub *sub = NULL;
    fv_err err = {{0}};
    assert_int_equal(fv_bus_subscribe(sub_bus, &sc, &sub, &err), FV_OK);
    pthread_join(th, NULL);
    assert_true(fv_collector_wait(&c, BEFORE + DURING, TMO));
    assert_true(fv_collector_wait_kind(&c, FV_MSG_LIVE, TMO));
    fv_collector_stop(&c, sub, TMO);
    assert_exactly(&c, seqs, BEFORE + DURING);
    fv_bus_stats st;
    fv_bus_get_stats(sub_bus, &st);
    assert_true(st.window_evictions > 0);
    assert_true(st.window_bytes <= 2 * 16 * 1024 + 4096);
    fv_collector_destroy(&c);
    fv_bus_destroy(pub_bus);
    fv_bus_destroy(sub_bus);
}

static void test_jetstream_resumes_far_below_the_window_read_with_their_own_filter(void **state)
{
    /* Another tenant's traffic puts this tenant's events far below a small window: a shared
     * whole-stream read would drag thousands of foreign events through it, so each subscription
     * reads with its own filter instead - and still gets exactly its events, then live. */
    window_bytes = 16 * 1024;
    fv_bus *bus = new_bus(0, 0);
    window_bytes = 0;
    char t[FV_ID_MAX + 1], other[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "far");
    fv_bus_suite_tenant(other, sizeof other, "noise");
    enum { N = 300, NOISE = 2000, SUBS = 4, AFTER = 50 };
    static uint64_t seqs[N + AFTER], noise[NOISE];
    publish_n(bus, t, N, "far", seqs);
    publish_n(bus, other, NOISE, "noise", noise);
    fv_collector c[SUBS];
    fv_sub *sub[SUBS];
    for (int i = 0; i < SUBS; i++) {
        fv_collector_init(&c[i]);
        fv_sub_config sc = {0};
        fv_pattern_init(&sc.pattern, t);
        sc.start.kind = FV_START_SEQ;
        sc.start.events_seq = seqs[0];
        sc.max_catchup_batch = 32;
        sc.on_msg = fv_collector_on_msg;
        sc.on_release = fv_collector_on_release;
        sc.ud = &c[i];
        fv_err err = {{0}};
        assert_int_equal(fv_bus_subscribe(bus, &sc, &sub[i], &err), FV_OK);
    }
    for (int i = 0; i < SUBS; i++)
        assert_true(fv_collector_wait_kind(&c[i], FV_MSG_LIVE, TMO));
    publish_n(bus, t, AFTER, "after", seqs + N); /* and live after the hand-over */
    for (int i = 0; i < SUBS; i++) {
        if (!fv_collector_wait(&c[i], N + AFTER, TMO))
            fail_msg("subscription %d got %zu of %d", i, fv_collector_count(&c[i]), N + AFTER);
        fv_collector_stop(&c[i], sub[i], TMO);
        assert_exactly(&c[i], seqs, N + AFTER);
        fv_collector_destroy(&c[i]);
    }
    fv_bus_stats st;
    fv_bus_get_stats(bus, &st);
    assert_true(st.filtered_reads >= 1);
    fv_bus_destroy(bus);
}

static fv_bus *make_small_window_bus(void *ctx)
{
    (void)ctx;
    window_bytes = 64 * 1024; /* ~150 events: most resumes start below it, and it evicts while
                                 they read */
    fv_bus *bus = new_bus(0, 0);
    window_bytes = 0;
    return bus;
}

/* The shared suite's 2,000 scattered resumes, on a window far smaller than the history they
 * resume into: shared reads, filtered reads and the window all serve them at once while it
 * evicts, and each still gets exactly its events, once, in order. */
static void test_jetstream_scattered_resumes_below_a_small_evicting_window(void **state)
{
    (void)state;
    fv_bus_suite suite = {.make = make_small_window_bus};
    void *st = &suite;
    fv_bus_suite_test_many_scattered_resumes_each_get_exactly_their_events(&st);
}

static void test_jetstream_recreated_stream_ends_subscriptions_and_old_cursors_gap(void **state)
{
    fv_bus *bus = new_bus(0, 0);
    char t[FV_ID_MAX + 1];
    fv_bus_suite_tenant(t, sizeof t, "recreate");
    uint64_t seqs[3];
    publish_n(bus, t, 3, "old", seqs);
    fv_collector c;
    fv_collector_init(&c);
    fv_sub *sub = subscribe_new(bus, t, &c);
    fv_cursor old = {seqs[2], 0, fv_bus_epoch(bus)};
    /* an operator deletes and recreates the stream: its sequences start again at 1 */
    assert_int_equal(fv_test_js_delete_stream(srv.url, FV_STREAM_EVENTS), 0);
    fv_err err = {{0}};
    assert_int_equal(fv_bus_provision(bus, &err), FV_OK);
    assert_true(fv_collector_wait_kind(&c, FV_MSG_ERROR, TMO));
    fv_collector_stop(&c, sub, TMO);
    assert_int_not_equal(fv_bus_epoch(bus), old.epoch);
    /* resuming with a cursor of the old incarnation is a gap, then the new history */
    uint64_t fresh[2];
    publish_n(bus, t, 2, "new", fresh);
    fv_collector r;
    fv_collector_init(&r);
    fv_pattern p;
    fv_pattern_init(&p, t);
    fv_start st = {.kind = FV_START_CURSOR, .cursor = old};
    fv_cursor next;
    assert_int_equal(fv_bus_read(bus, &p, &st, 100, fv_collector_on_msg, &r, &next, &err), FV_OK);
    assert_true(fv_collector_find(&r, FV_MSG_GAP, 0) < r.n);
    assert_exactly(&r, fresh, 2);
    fv_collector_destroy(&r);
    fv_collector_destroy(&c);
    fv_bus_destroy(bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_jetstream_live_refills_lost_republishes_in_the_middle),
        cmocka_unit_test(test_jetstream_live_refills_lost_tail_without_newer_message),
        cmocka_unit_test(test_jetstream_child_token_never_overtakes_its_workflow_started),
        cmocka_unit_test(test_jetstream_child_token_waits_for_a_workflow_started_being_handled),
        cmocka_unit_test(test_jetstream_resume_read_does_not_trust_an_early_end),
        cmocka_unit_test(test_jetstream_tenant_isolation_with_wildcards_and_forged_body),
        cmocka_unit_test(test_jetstream_until_ends_a_quiet_live_stream),
        cmocka_unit_test(test_jetstream_tiny_window_evicting_during_catchup_loses_nothing),
        cmocka_unit_test(test_jetstream_resumes_far_below_the_window_read_with_their_own_filter),
        cmocka_unit_test(test_jetstream_scattered_resumes_below_a_small_evicting_window),
        cmocka_unit_test(test_jetstream_server_sigkill_mid_stream_keeps_every_acked_event_once),
        cmocka_unit_test(test_jetstream_recreated_stream_ends_subscriptions_and_old_cursors_gap),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
