/* bench_bus.c - JetStream bus throughput against raw nats.c on the same server in the same run.
 *
 *   publish: fv_bus_publish_batch (protobuf encode, subject, Nats-Msg-Id, per-item ack with
 *            retries, bounded window) vs nats.c js_PublishAsync of the same number of messages of
 *            the same data size with a Nats-Msg-Id, into a stream configured like FLOVYN_EVENTS
 *            (file storage, R1, RePublish, same limits and dedup window), same in-flight
 *            window; the library's stream is recreated before each of its rounds as the raw one is
 *            and, to tell library overhead from server work, raw again with the library's exact
 *            wire bytes (the protobuf size and the Content-Type header)
 *   catch-up: a subscription from a sequence reading the published events back (events/s)
 *
 * Starts its own nats-server (tests/support/fixture.h). Not run by ctest; see docs/benchmarks.md.
 * Usage: bench_bus [messages] (default 200000)
 */
#include <nats/nats.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "fixture.h"
#include "flovyn/bus.h"
#include "flovyn/subject.h"

#define DATA_BYTES 256
#define CHUNK 25000
#define WINDOW 4096

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* deleting a stream of 200k messages keeps the server busy removing files for a while: let that
 * finish outside every measured window, or the next round (of the other side) pays for it */
static void settle(void)
{
    struct timespec ts = {1, 500 * 1000000L};
    nanosleep(&ts, NULL);
}

/* a JSON string value of exactly DATA_BYTES bytes */
static void make_data(char *out)
{
    out[0] = '"';
    for (int i = 1; i < DATA_BYTES - 1; i++)
        out[i] = (char)('a' + i % 26);
    out[DATA_BYTES - 1] = '"';
    out[DATA_BYTES] = '\0';
}

static double run_raw(const char *url, int n, int round, int len, bool with_ct)
{
    natsConnection *nc = NULL;
    jsCtx *js = NULL;
    if (natsConnection_ConnectTo(&nc, url) != NATS_OK)
        return -1;
    jsOptions jo;
    jsOptions_Init(&jo);
    jo.PublishAsync.MaxPending = WINDOW;
    natsConnection_JetStream(&js, nc, &jo);
    char name[32], subj[32], live[32];
    snprintf(name, sizeof name, "RAW%d%s", round, with_ct ? "S" : "");
    snprintf(subj, sizeof subj, "raw%d%s.>", round, with_ct ? "s" : "");
    snprintf(live, sizeof live, "rawlive%d%s.>", round, with_ct ? "s" : "");
    const char *subjects[] = {subj};
    jsRePublish rp;
    jsRePublish_Init(&rp);
    rp.Source = subj;
    rp.Destination = live;
    jsStreamConfig sc;
    jsStreamConfig_Init(&sc);
    sc.Name = name;
    sc.Subjects = subjects;
    sc.SubjectsLen = 1;
    /* the same limits as FLOVYN_EVENTS, so the server does the same work per message */
    sc.Storage = js_FileStorage;
    sc.Retention = js_LimitsPolicy;
    sc.Discard = js_DiscardOld;
    sc.MaxAge = 7LL * 86400 * 1000000000LL;
    sc.MaxBytes = 8LL << 30;
    sc.Duplicates = 120LL * 1000000000LL;
    sc.AllowDirect = true;
    sc.RePublish = &rp;
    jsStreamInfo *si = NULL;
    if (js_AddStream(&si, js, &sc, NULL, NULL) != NATS_OK) {
        fprintf(stderr, "raw stream: %s\n", nats_GetLastError(NULL));
        return -1;
    }
    jsStreamInfo_Destroy(si);
    char data[1024], id[64], s[64];
    memset(data, 'x', sizeof data);
    snprintf(s, sizeof s, "raw%d%s.tenant.wf._.task.completed", round, with_ct ? "s" : "");
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    po.MaxWait = 5000;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "tenant:raw-%d-%d", round, i);
        natsStatus st;
        if (with_ct) {
            natsMsg *m = NULL;
            natsMsg_Create(&m, s, NULL, data, len);
            natsMsgHeader_Set(m, "Content-Type", "application/x-protobuf");
            st = js_PublishMsgAsync(js, &m, &po);
            natsMsg_Destroy(m);
        } else {
            st = js_PublishAsync(js, s, data, len, &po);
        }
        if (st != NATS_OK) {
            fprintf(stderr, "raw publish: %s\n", natsStatus_GetText(st));
            return -1;
        }
    }
    jsPubOptions done;
    jsPubOptions_Init(&done);
    done.MaxWait = 120000;
    if (js_PublishAsyncComplete(js, &done) != NATS_OK)
        fprintf(stderr, "raw publish: not all acknowledged\n");
    double dt = now_s() - t0;
    js_DeleteStream(js, name, NULL, NULL);
    settle();
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return n / dt;
}

/* One publishing thread: chunks of CHUNK items (bounded memory) published with
 * fv_bus_publish_batch, each call returning once its items are settled. */
typedef struct lib_worker {
    fv_bus *bus;
    int from, n, round;
    int failed;
    uint64_t first_seq;
} lib_worker;

static void *lib_publisher(void *arg)
{
    lib_worker *w = arg;
    char data[DATA_BYTES + 1];
    make_data(data);
    int chunk = w->n < CHUNK ? w->n : CHUNK;
    fv_event *evs = calloc((size_t)chunk, sizeof *evs);
    fv_publish_item *items = calloc((size_t)chunk, sizeof *items);
    fv_err err = {{0}};
    for (int i = 0; i < chunk; i++) {
        fv_event_init(&evs[i]);
        snprintf(evs[i].tenant_id, sizeof evs[i].tenant_id, "bench");
        snprintf(evs[i].workflow_execution_id, sizeof evs[i].workflow_execution_id, "wf");
        snprintf(evs[i].event_type, sizeof evs[i].event_type, "task.completed");
        snprintf(evs[i].source, sizeof evs[i].source, "bench");
        evs[i].timestamp_ms = 1767139200000;
        fv_event_set_data(&evs[i], data, DATA_BYTES, NULL, &err);
    }
    for (int done = 0; done < w->n; done += chunk) {
        int m = w->n - done < chunk ? w->n - done : chunk;
        for (int i = 0; i < m; i++) {
            snprintf(evs[i].id, sizeof evs[i].id, "lib-%d-%d", w->round, w->from + done + i);
            items[i] = (fv_publish_item){.ev = &evs[i]};
        }
        fv_bus_publish_batch(w->bus, items, (size_t)m, &err);
        for (int i = 0; i < m; i++)
            w->failed += items[i].status != FV_OK;
        if (done == 0)
            w->first_seq = items[0].result.seq;
    }
    for (int i = 0; i < chunk; i++)
        fv_event_clear(&evs[i]);
    free(evs);
    free(items);
    return NULL;
}

/* Two publishing threads share the bus (and its in-flight window), as concurrent ingest
 * requests do: while one batch waits for its last acks, the other keeps the window full. */
static double run_lib(const char *url, fv_bus *bus, int n, int round, uint64_t *first_seq)
{
    /* a fresh stream each round, like the raw side: a stream's dedup window holding the ids of
     * earlier rounds would make the server, not the library, slower */
    fv_err perr = {{0}};
    fv_test_js_delete_stream(url, FV_STREAM_EVENTS);
    if (fv_bus_provision(bus, &perr) != FV_OK) {
        fprintf(stderr, "provision: %s\n", perr.msg);
        return -1;
    }
    settle();
    lib_worker w[2] = {{bus, 0, n / 2, round, 0, 0}, {bus, n / 2, n - n / 2, round, 0, 0}};
    pthread_t th[2];
    double t0 = now_s();
    for (int i = 0; i < 2; i++)
        pthread_create(&th[i], NULL, lib_publisher, &w[i]);
    for (int i = 0; i < 2; i++)
        pthread_join(th[i], NULL);
    double dt = now_s() - t0;
    if (w[0].failed + w[1].failed)
        fprintf(stderr, "library publish: %d items failed\n", w[0].failed + w[1].failed);
    if (first_seq)
        *first_seq = w[0].first_seq < w[1].first_seq ? w[0].first_seq : w[1].first_seq;
    return n / dt;
}

static double median(double *v, int n)
{
    double s[16];
    for (int i = 0; i < n; i++)
        s[i] = v[i];
    for (int i = 1; i < n; i++)
        for (int j = i; j > 0 && s[j - 1] > s[j]; j--) {
            double t = s[j];
            s[j] = s[j - 1];
            s[j - 1] = t;
        }
    return s[n / 2];
}

typedef struct counter {
    atomic_long n;
    long want;
    double t_done;
} counter;

static int count_msg(void *ud, const fv_msg *m)
{
    counter *c = ud;
    if (m->kind == FV_MSG_EVENT && atomic_fetch_add(&c->n, 1) + 1 == c->want)
        c->t_done = now_s();
    return FV_SUB_OK;
}

static double run_catchup(fv_bus *bus, uint64_t from_seq, long n, int batch)
{
    counter c = {.want = n};
    fv_sub_config sc = {0};
    fv_pattern_init(&sc.pattern, "bench");
    sc.start.kind = FV_START_SEQ;
    sc.start.events_seq = from_seq;
    sc.on_msg = count_msg;
    sc.ud = &c;
    sc.max_catchup_batch = (size_t)batch;
    fv_sub *sub = NULL;
    fv_err err = {{0}};
    double t0 = now_s();
    if (fv_bus_subscribe(bus, &sc, &sub, &err) != FV_OK) {
        fprintf(stderr, "subscribe: %s\n", err.msg);
        return -1;
    }
    while (atomic_load(&c.n) < n && now_s() - t0 < 300) {
        struct timespec ts = {0, 5000000L};
        nanosleep(&ts, NULL);
    }
    double dt = (c.t_done > 0 ? c.t_done : now_s()) - t0;
    fv_sub_close(sub);
    return atomic_load(&c.n) / dt;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 200000;
    if (n <= 0)
        n = 200000;
    fv_nats_server srv;
    if (fv_nats_start(&srv) != 0)
        return 1;
    fv_bus_config cfg;
    fv_bus_config_init(&cfg);
    cfg.nats_url = srv.url;
    cfg.max_inflight_publishes = WINDOW;
    cfg.events_max_bytes = 8LL << 30;
    fv_bus *bus = NULL;
    fv_err err = {{0}};
    if (fv_bus_create(&cfg, &bus, &err) != FV_OK || fv_bus_provision(bus, &err) != FV_OK) {
        fprintf(stderr, "bus: %s\n", err.msg);
        fv_nats_cleanup(&srv);
        return 1;
    }
    printf("bench_bus: %d messages, %d-byte data, file storage R1, window %d, nats-server %s\n", n,
           DATA_BYTES, WINDOW, srv.url);
    /* the library's wire size for this event: the "same bytes" raw run isolates library overhead
     * from what the server pays for the envelope and the Content-Type header */
    int wire = 0;
    {
        fv_event ev;
        fv_event_init(&ev);
        char data[DATA_BYTES + 1];
        make_data(data);
        snprintf(ev.id, sizeof ev.id, "lib-0-100000");
        snprintf(ev.tenant_id, sizeof ev.tenant_id, "bench");
        snprintf(ev.workflow_execution_id, sizeof ev.workflow_execution_id, "wf");
        snprintf(ev.event_type, sizeof ev.event_type, "task.completed");
        snprintf(ev.source, sizeof ev.source, "bench");
        ev.timestamp_ms = 1767139200000;
        fv_event_set_data(&ev, data, DATA_BYTES, NULL, &err);
        fv_buf enc;
        fv_buf_init(&enc);
        fv_event_to_proto(&ev, &enc);
        wire = (int)enc.len;
        fv_buf_free(&enc);
        fv_event_clear(&ev);
    }
    /* alternate the order each round and report medians: the machine's other load moves both */
    enum { ROUNDS = 5 };
    double same[ROUNDS];
    double raw[ROUNDS], lib[ROUNDS];
    uint64_t first = 0;
    for (int round = 0; round < ROUNDS; round++) {
        uint64_t f = 0;
        if (round % 2 == 0) {
            raw[round] = run_raw(srv.url, n, round, DATA_BYTES, false);
            lib[round] = run_lib(srv.url, bus, n, round, &f);
            same[round] = run_raw(srv.url, n, round, wire, true);
        } else {
            same[round] = run_raw(srv.url, n, round, wire, true);
            lib[round] = run_lib(srv.url, bus, n, round, &f);
            raw[round] = run_raw(srv.url, n, round, DATA_BYTES, false);
        }
        first = f; /* the catch-up reads the last round's stream */
        printf("round %d: raw js_PublishAsync %.0f msg/s, fv_bus_publish_batch %.0f events/s "
               "(%.2f), raw with the library's wire bytes %.0f msg/s (%.2f)\n",
               round + 1, raw[round], lib[round], raw[round] > 0 ? lib[round] / raw[round] : 0,
               same[round], same[round] > 0 ? lib[round] / same[round] : 0);
    }
    double ratio[ROUNDS], ratio_same[ROUNDS];
    for (int i = 0; i < ROUNDS; i++) {
        ratio[i] = raw[i] > 0 ? lib[i] / raw[i] : 0;
        ratio_same[i] = same[i] > 0 ? lib[i] / same[i] : 0;
    }
    double mr = median(raw, ROUNDS), ml = median(lib, ROUNDS);
    printf("publish (median of %d): raw=%.0f/s library=%.0f/s ratio=%.2f "
           "(median of per-round ratios %.2f)\n",
           ROUNDS, mr, ml, mr > 0 ? ml / mr : 0, median(ratio, ROUNDS));
    printf("publish vs raw with the same wire bytes (%d-byte protobuf + Content-Type): raw=%.0f/s "
           "ratio=%.2f (median of per-round ratios %.2f)\n",
           wire, median(same, ROUNDS), median(same, ROUNDS) > 0 ? ml / median(same, ROUNDS) : 0,
           median(ratio_same, ROUNDS));
    for (int batch = 256; batch <= 1024; batch *= 4) {
        double cu = run_catchup(bus, first, n, batch);
        printf("catch-up: %.0f events/s (batch %d, %d events from a sequence)\n", cu, batch, n);
    }
    fv_bus_destroy(bus);
    fv_nats_cleanup(&srv);
    return 0;
}
