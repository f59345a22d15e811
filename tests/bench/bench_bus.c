/* bench_bus.c - JetStream bus throughput against raw nats.c on the same server in the same run.
 *
 *   publish: fv_bus_publish_batch (protobuf encode, subject, Nats-Msg-Id, per-item ack with
 *            retries, bounded window) vs nats.c js_PublishAsync of the same number of messages of
 *            the same data size with a Nats-Msg-Id, into a stream configured like FLOVYN_EVENTS
 *            (file storage, R1, RePublish, same dedup window), same in-flight window
 *   catch-up: a subscription from a sequence reading the published events back (events/s)
 *
 * Starts its own nats-server (tests/support/fixture.h). Not run by ctest; see docs/benchmarks.md.
 * Usage: bench_bus [messages] (default 200000)
 */
#include <nats/nats.h>
#include <stdatomic.h>
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

/* a JSON string value of exactly DATA_BYTES bytes */
static void make_data(char *out)
{
    out[0] = '"';
    for (int i = 1; i < DATA_BYTES - 1; i++)
        out[i] = (char)('a' + i % 26);
    out[DATA_BYTES - 1] = '"';
    out[DATA_BYTES] = '\0';
}

static double run_raw(const char *url, int n, int round)
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
    snprintf(name, sizeof name, "RAW%d", round);
    snprintf(subj, sizeof subj, "raw%d.>", round);
    snprintf(live, sizeof live, "rawlive%d.>", round);
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
    sc.Storage = js_FileStorage;
    sc.Duplicates = 120LL * 1000000000LL;
    sc.RePublish = &rp;
    jsStreamInfo *si = NULL;
    if (js_AddStream(&si, js, &sc, NULL, NULL) != NATS_OK) {
        fprintf(stderr, "raw stream: %s\n", nats_GetLastError(NULL));
        return -1;
    }
    jsStreamInfo_Destroy(si);
    char data[DATA_BYTES + 1], id[64], s[64];
    make_data(data);
    snprintf(s, sizeof s, "raw%d.tenant.wf._.task.completed", round);
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = id;
    po.MaxWait = 5000;
    double t0 = now_s();
    for (int i = 0; i < n; i++) {
        snprintf(id, sizeof id, "tenant:raw-%d-%d", round, i);
        natsStatus st = js_PublishAsync(js, s, data, DATA_BYTES, &po);
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
    jsCtx_Destroy(js);
    natsConnection_Destroy(nc);
    return n / dt;
}

static double run_lib(fv_bus *bus, int n, int round, uint64_t *first_seq)
{
    char data[DATA_BYTES + 1];
    make_data(data);
    int chunk = n < CHUNK ? n : CHUNK;
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
    double t0 = now_s();
    int failed = 0;
    for (int done = 0; done < n; done += chunk) {
        int m = n - done < chunk ? n - done : chunk;
        for (int i = 0; i < m; i++) {
            snprintf(evs[i].id, sizeof evs[i].id, "lib-%d-%d", round, done + i);
            items[i] = (fv_publish_item){.ev = &evs[i]};
        }
        fv_bus_publish_batch(bus, items, (size_t)m, &err);
        for (int i = 0; i < m; i++)
            failed += items[i].status != FV_OK;
        if (done == 0 && first_seq)
            *first_seq = items[0].result.seq;
    }
    double dt = now_s() - t0;
    if (failed)
        fprintf(stderr, "library publish: %d items failed\n", failed);
    for (int i = 0; i < chunk; i++)
        fv_event_clear(&evs[i]);
    free(evs);
    free(items);
    return n / dt;
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
    double best_raw = 0, best_lib = 0;
    uint64_t first = 0;
    for (int round = 0; round < 2; round++) {
        double raw = run_raw(srv.url, n, round);
        uint64_t f = 0;
        double lib = run_lib(bus, n, round, &f);
        if (round == 0)
            first = f;
        printf("round %d: raw js_PublishAsync %.0f msg/s, fv_bus_publish_batch %.0f events/s\n",
               round + 1, raw, lib);
        if (raw > best_raw)
            best_raw = raw;
        if (lib > best_lib)
            best_lib = lib;
    }
    printf("publish: raw=%.0f/s library=%.0f/s ratio=%.2f\n", best_raw, best_lib,
           best_raw > 0 ? best_lib / best_raw : 0);
    for (int batch = 256; batch <= 1024; batch *= 4) {
        double cu = run_catchup(bus, first, n, batch);
        printf("catch-up: %.0f events/s (batch %d, %d events from a sequence)\n", cu, batch, n);
    }
    fv_bus_destroy(bus);
    fv_nats_cleanup(&srv);
    return 0;
}
