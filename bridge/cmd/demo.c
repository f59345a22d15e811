/* demo.c - `flovyn-bridge demo`: publishes realistic workflow runs so the demo page, the SSE
 * endpoints and the webhooks have something to show without a Flovyn installation.
 *
 * One run is what an LLM-backed workflow looks like from the outside: workflow.started; a planning
 * task with progress; a generation task streaming words as tokens with small delays, progress and
 * a data event; a fetch task that fails, is retried (task.failed, retry.scheduled, task.started
 * again) and then succeeds; a child workflow (parent_workflow_execution_id set) that itself starts
 * a grandchild; workflow.completed. Everything goes through the library bus (fv_bus_publish_*), so
 * the events are validated, deduplicated and stored exactly as any producer's would be.
 *
 * Each finished run prints one JSON line on stdout with its workflow ids, so scripts and tests can
 * follow what was produced. SIGINT/SIGTERM stop after the event in flight (exit 0).
 */
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bridge.h"
#include "flovyn/log.h"
#include "flovyn/units.h"

typedef struct demo_cfg {
    fv_bridge_common c;
    const char *tenant;
    int64_t workflows;
    int64_t rate;     /* token events per second; 0 = no delay */
    int64_t pause_ms; /* between runs */
    bool loop;
} demo_cfg;

#define D(f) offsetof(demo_cfg, f)
static const fv_option demo_options[] = {
    {"tenant", FV_OPT_STRING, D(tenant), "demo", "tenant the demo workflows belong to"},
    {"workflows", FV_OPT_INT, D(workflows), "3",
     "workflow runs to produce (per round with --loop)"},
    {"rate", FV_OPT_INT, D(rate), "25", "token events per second (0 = as fast as possible)"},
    {"pause", FV_OPT_DURATION, D(pause_ms), "1s", "pause between runs"},
    {"loop", FV_OPT_BOOL, D(loop), NULL, "keep producing until interrupted"},
    {NULL, 0, 0, NULL, NULL},
};

static const char usage[] =
    "usage: flovyn-bridge demo [--nats-url URL] [--tenant demo] [--workflows N] [--rate R]\n"
    "                          [--pause 1s] [--loop]\n"
    "\n"
    "Publishes demo workflow runs (lifecycle events, token streams, progress, a failing and\n"
    "retried task, a child and a grandchild workflow). Prints one JSON line per finished run.\n"
    "\n"
    "Example:\n"
    "  flovyn-bridge demo --tenant demo --workflows 2 --loop\n";

static volatile sig_atomic_t g_stop;
static void on_signal(int sig)
{
    g_stop = 1;
}

typedef struct run {
    fv_bus *bus;
    const demo_cfg *cfg;
    int64_t events;
    fv_status st;
    fv_err err;
} run;

/* sleeps in small steps so an interrupt is noticed quickly */
static void nap(int64_t ms)
{
    while (ms > 0 && !g_stop) {
        int64_t step = ms > 50 ? 50 : ms;
        struct timespec ts = {0, (long)step * 1000000L};
        nanosleep(&ts, NULL);
        ms -= step;
    }
}

static bool live(const run *r)
{
    return r->st == FV_OK && !g_stop;
}

static void lifecycle(run *r, const char *wf, const char *task, const char *parent,
                      const char *type, const char *data)
{
    if (!live(r))
        return;
    fv_event ev;
    fv_event_init(&ev);
    snprintf(ev.tenant_id, sizeof ev.tenant_id, "%s", r->cfg->tenant);
    snprintf(ev.workflow_execution_id, sizeof ev.workflow_execution_id, "%s", wf);
    snprintf(ev.task_execution_id, sizeof ev.task_execution_id, "%s", task ? task : "");
    snprintf(ev.parent_workflow_execution_id, sizeof ev.parent_workflow_execution_id, "%s",
             parent ? parent : "");
    snprintf(ev.event_type, sizeof ev.event_type, "%s", type);
    snprintf(ev.source, sizeof ev.source, "worker:demo-1");
    fv_publish_result pr;
    fv_limits lim = {0};
    r->st = fv_event_set_data(&ev, data, strlen(data), &lim, &r->err);
    if (r->st == FV_OK)
        r->st = fv_event_fill_defaults(&ev);
    if (r->st == FV_OK)
        r->st = fv_bus_publish_event(r->bus, &ev, &pr, &r->err);
    fv_event_clear(&ev);
    if (r->st == FV_OK)
        r->events++;
}

typedef struct stream_pos {
    const char *wf, *task;
    int64_t seq; /* producer's sequence, per (workflow, task) */
} stream_pos;

static void stream(run *r, stream_pos *p, fv_stream_kind kind, const char *payload)
{
    if (!live(r))
        return;
    fv_stream_event se;
    fv_stream_event_init(&se);
    snprintf(se.tenant_id, sizeof se.tenant_id, "%s", r->cfg->tenant);
    snprintf(se.workflow_execution_id, sizeof se.workflow_execution_id, "%s", p->wf);
    snprintf(se.task_execution_id, sizeof se.task_execution_id, "%s", p->task ? p->task : "");
    se.kind = kind;
    se.sequence = p->seq++;
    se.timestamp_ms = fv_now_ms();
    fv_publish_result pr;
    fv_limits lim = {0};
    r->st = fv_stream_event_set_payload(&se, payload, strlen(payload), &lim, &r->err);
    if (r->st == FV_OK)
        r->st = fv_bus_publish_stream(r->bus, &se, &pr, &r->err);
    fv_stream_event_clear(&se);
    if (r->st == FV_OK)
        r->events++;
}

static void token_pause(const run *r)
{
    if (r->cfg->rate > 0)
        nap(1000 / r->cfg->rate);
}

/* streams text word by word as token events, with progress every few words */
static void speak(run *r, stream_pos *p, const char *text)
{
    size_t n = strlen(text), words = 0, total = 1;
    for (size_t i = 0; i < n; i++)
        total += text[i] == ' ';
    size_t i = 0;
    while (i < n && live(r)) {
        size_t b = i;
        while (i < n && text[i] != ' ')
            i++;
        while (i < n && text[i] == ' ')
            i++;
        fv_buf j = FV_BUF_INIT;
        fv_buf_puts(&j, "{\"text\":");
        fv_json_put_string(&j, text + b, i - b);
        fv_buf_putc(&j, '}');
        if (fv_buf_status(&j) != FV_OK) {
            r->st = fv_err_set(&r->err, FV_ENOMEM, "demo: out of memory");
        } else {
            stream(r, p, FV_KIND_TOKEN, j.data);
        }
        fv_buf_free(&j);
        words++;
        if (words % 8 == 0 || i >= n) {
            char prog[64];
            snprintf(prog, sizeof prog, "{\"progress\":%.2f}", (double)words / (double)total);
            stream(r, p, FV_KIND_PROGRESS, prog);
        }
        token_pause(r);
    }
}

static const char *const QUESTIONS[] = {
    "How do I resume an event stream after a network drop?",
    "What makes a webhook delivery safe to retry?",
    "Why keep ephemeral token streams apart from lifecycle events?",
};
static const char *const ANSWERS[] = {
    "Every event carries a cursor in its SSE id field. When the connection drops, the browser "
    "reconnects and sends the last cursor it saw, and the gateway replays exactly what came after "
    "it from JetStream, so nothing is lost and nothing is shown twice.",
    "A webhook is signed, carries a stable event id, and is retried with backoff until the "
    "receiver acknowledges it. Because the id is stable, a receiver that saw the event before can "
    "recognise the retry and skip it, which makes the whole delivery idempotent.",
    "Lifecycle events are the durable record of what happened and are kept for days. Token "
    "streams are high volume and only matter while someone watches, so they live in a separate "
    "stream with a short retention and never crowd out the history.",
};

/* a task that streams its output */
static void generate(run *r, const char *wf, const char *parent, const char *name, const char *text)
{
    char task[40], data[160];
    if (fv_uuid4(task, sizeof task) != FV_OK) {
        r->st = fv_err_set(&r->err, FV_EIO, "demo: no randomness for ids");
        return;
    }
    snprintf(data, sizeof data, "{\"task_type\":\"%s\",\"model\":\"demo-llm\"}", name);
    lifecycle(r, wf, task, parent, "task.created", data);
    lifecycle(r, wf, task, parent, "task.started", "{\"attempt\":1}");
    stream_pos p = {wf, task, 0};
    speak(r, &p, text);
    stream(r, &p, FV_KIND_DATA, "{\"citations\":[\"docs/operations.md\",\"CONTRACT.md\"]}");
    snprintf(data, sizeof data, "{\"tokens\":%lld}", (long long)p.seq);
    lifecycle(r, wf, task, parent, "task.completed", data);
}

/* a task that fails once, is retried and succeeds */
static void flaky_fetch(run *r, const char *wf)
{
    char task[40];
    if (fv_uuid4(task, sizeof task) != FV_OK) {
        r->st = fv_err_set(&r->err, FV_EIO, "demo: no randomness for ids");
        return;
    }
    stream_pos p = {wf, task, 0};
    lifecycle(r, wf, task, NULL, "task.created", "{\"task_type\":\"fetch-sources\"}");
    lifecycle(r, wf, task, NULL, "task.started", "{\"attempt\":1}");
    stream(r, &p, FV_KIND_PROGRESS, "{\"progress\":0.3,\"message\":\"fetching\"}");
    nap(200);
    stream(r, &p, FV_KIND_ERROR, "{\"message\":\"upstream timed out after 2s\"}");
    lifecycle(r, wf, task, NULL, "task.failed",
              "{\"attempt\":1,\"error\":\"upstream timed out\",\"retryable\":true}");
    lifecycle(r, wf, task, NULL, "retry.scheduled", "{\"attempt\":2,\"delay_ms\":300}");
    nap(300);
    lifecycle(r, wf, task, NULL, "task.started", "{\"attempt\":2}");
    stream(r, &p, FV_KIND_PROGRESS, "{\"progress\":1,\"message\":\"fetched 2 sources\"}");
    lifecycle(r, wf, task, NULL, "task.completed", "{\"attempt\":2,\"sources\":2}");
}

/* a child workflow (depth 1) that starts a grandchild (depth 2) */
static void child(run *r, const char *parent, int depth, fv_buf *ids)
{
    char wf[40], ref[100], data[100];
    if (fv_uuid4(wf, sizeof wf) != FV_OK) {
        r->st = fv_err_set(&r->err, FV_EIO, "demo: no randomness for ids");
        return;
    }
    fv_buf_puts(ids, ids->len ? "," : "");
    fv_json_put_cstr(ids, wf);
    snprintf(ref, sizeof ref, "{\"child_workflow_execution_id\":\"%s\"}", wf);
    lifecycle(r, parent, NULL, NULL, "child_workflow.initiated", ref);
    snprintf(data, sizeof data, "{\"workflow_type\":\"%s\"}",
             depth == 1 ? "summarize-sources" : "translate-summary");
    lifecycle(r, wf, NULL, parent, "workflow.started", data);
    lifecycle(r, parent, NULL, NULL, "child_workflow.started", ref);
    generate(r, wf, parent, depth == 1 ? "summarize" : "translate",
             depth == 1 ? "Two sources agree: resume from the cursor, replay from the store."
                        : "Deux sources concordent : reprendre au curseur.");
    if (depth < 2)
        child(r, wf, depth + 1, ids);
    lifecycle(r, wf, NULL, parent, "workflow.completed", "{\"status\":\"ok\"}");
    lifecycle(r, parent, NULL, NULL, "child_workflow.completed", ref);
}

static void one_run(run *r, int n)
{
    char wf[40], data[512];
    if (fv_uuid4(wf, sizeof wf) != FV_OK) {
        r->st = fv_err_set(&r->err, FV_EIO, "demo: no randomness for ids");
        return;
    }
    int q = n % (int)(sizeof QUESTIONS / sizeof *QUESTIONS);
    fv_buf b = FV_BUF_INIT;
    fv_buf_puts(&b, "{\"workflow_type\":\"answer-question\",\"input\":{\"question\":");
    fv_json_put_cstr(&b, QUESTIONS[q]);
    fv_buf_puts(&b, "}}");
    if (fv_buf_status(&b) != FV_OK) {
        fv_buf_free(&b);
        r->st = fv_err_set(&r->err, FV_ENOMEM, "demo: out of memory");
        return;
    }
    lifecycle(r, wf, NULL, NULL, "workflow.started", b.data);
    fv_buf_free(&b);

    char plan[40];
    if (fv_uuid4(plan, sizeof plan) != FV_OK) {
        r->st = fv_err_set(&r->err, FV_EIO, "demo: no randomness for ids");
        return;
    }
    stream_pos pp = {wf, plan, 0};
    lifecycle(r, wf, plan, NULL, "task.created", "{\"task_type\":\"plan\"}");
    lifecycle(r, wf, plan, NULL, "task.started", "{\"attempt\":1}");
    for (int i = 1; i <= 4 && live(r); i++) {
        snprintf(data, sizeof data, "{\"progress\":%.2f,\"message\":\"step %d of 4\"}", i / 4.0, i);
        stream(r, &pp, FV_KIND_PROGRESS, data);
        nap(100);
    }
    lifecycle(r, wf, plan, NULL, "task.completed",
              "{\"steps\":[\"fetch\",\"answer\",\"summarize\"]}");

    flaky_fetch(r, wf);
    generate(r, wf, NULL, "answer", ANSWERS[q]);
    fv_buf ids = FV_BUF_INIT;
    child(r, wf, 1, &ids);
    lifecycle(r, wf, NULL, NULL, "workflow.completed", "{\"status\":\"ok\",\"answered\":true}");
    if (r->st == FV_OK && !g_stop && fv_buf_status(&ids) == FV_OK) {
        printf("{\"tenant_id\":\"%s\",\"workflow_execution_id\":\"%s\",\"descendants\":[%s],"
               "\"events\":%lld}\n",
               r->cfg->tenant, wf, ids.data ? ids.data : "", (long long)r->events);
        fflush(stdout);
    }
    fv_buf_free(&ids);
}

int fv_cmd_demo(int argc, char **argv)
{
    demo_cfg cfg = {0};
    fv_options_result res;
    int rc = fv_bridge_parse_args(usage, demo_options, &cfg, argc, argv, &res);
    if (rc >= 0)
        return rc;
    if (res.npositional > 0) {
        fprintf(stderr, "flovyn-bridge demo: unexpected argument '%s'\n", res.positional[0]);
        return 2;
    }
    fv_err err = {{0}};
    if (fv_id_validate("--tenant", cfg.tenant, strlen(cfg.tenant), &err) != FV_OK) {
        fprintf(stderr, "flovyn-bridge demo: %s\n", err.msg);
        return 2;
    }
    if (cfg.workflows < 1 || cfg.workflows > 100000 || cfg.rate < 0 || cfg.rate > 100000 ||
        cfg.pause_ms < 0) {
        fprintf(stderr, "flovyn-bridge demo: --workflows must be 1..100000, --rate 0..100000\n");
        return 2;
    }
    fv_bus *bus = NULL;
    if ((rc = fv_bridge_connect(&cfg.c, "flovyn-bridge demo", &bus)) >= 0)
        return rc;

    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    run r = {.bus = bus, .cfg = &cfg};
    fv_log(FV_LOG_INFO, "demo", "producing demo workflows", "tenant", cfg.tenant, NULL);
    int n = 0;
    do {
        for (int64_t i = 0; i < cfg.workflows && live(&r); i++, n++) {
            r.events = 0;
            one_run(&r, n);
            if (live(&r) && (cfg.loop || i + 1 < cfg.workflows))
                nap(cfg.pause_ms);
        }
    } while (cfg.loop && live(&r));
    fv_bus_destroy(bus);
    if (r.st != FV_OK) {
        fprintf(stderr, "flovyn-bridge demo: %s\n",
                r.err.msg[0] ? r.err.msg : fv_status_name(r.st));
        return 1;
    }
    return 0;
}
