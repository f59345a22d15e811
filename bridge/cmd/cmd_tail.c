/* cmd_tail.c - `flovyn-bridge tail`: print a tenant's stored events, one JSON object per line,
 * and with --follow keep printing new ones.
 *
 * Without --follow it pages through fv_bus_read until the bus reports the end of what is stored
 * (so a script gets a finite listing); with --follow it is an ordinary bus subscription, the same
 * catch-up-then-live path the gateway's SSE streams use. Each line is the CONTRACT §2 shape plus
 * "seq" (the sequence in its stream), stream events also "kind" and "tenant_id", and "cursor" to
 * resume with --cursor.
 */
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "bridge.h"
#include "flovyn/registry.h"
#include "flovyn/types_filter.h"
#include "flovyn/units.h"

#define PAGE 512

typedef struct tail_cfg {
    fv_bridge_common c;
    const char *tenant, *types, *workflow, *task, *source, *since, *cursor;
    int64_t from_seq, streams_from_seq, limit;
    bool follow;
} tail_cfg;

#define T(f) offsetof(tail_cfg, f)
static const fv_option tail_options[] = {
    {"tenant", FV_OPT_STRING, T(tenant), NULL, "tenant id (required)"},
    {"types", FV_OPT_STRING, T(types), NULL,
     "comma-separated types filter as in the HTTP API (default: lifecycle events only)"},
    {"workflow", FV_OPT_STRING, T(workflow), NULL, "only this workflow execution"},
    {"task", FV_OPT_STRING, T(task), NULL, "only this task execution"},
    {"source", FV_OPT_STRING, T(source), NULL, "only lifecycle events from this source"},
    {"from-seq", FV_OPT_INT, T(from_seq), "0", "start at this FLOVYN_EVENTS sequence (inclusive)"},
    {"streams-from-seq", FV_OPT_INT, T(streams_from_seq), "0",
     "start at this FLOVYN_STREAMS sequence (inclusive)"},
    {"since", FV_OPT_STRING, T(since), NULL, "start at this time (RFC 3339 or epoch ms)"},
    {"cursor", FV_OPT_STRING, T(cursor), NULL, "resume right after this cursor"},
    {"limit", FV_OPT_INT, T(limit), "0", "stop after this many events (0 = no limit)"},
    {"follow", FV_OPT_BOOL, T(follow), "false", "keep printing new events until interrupted"},
    {NULL, 0, 0, NULL, NULL},
};

static const char usage[] =
    "usage: flovyn-bridge tail --tenant T [--types ...] [--workflow W] [--task K]\n"
    "                          [--from-seq N | --since TIME | --cursor C] [--limit N] [--follow]\n"
    "\n"
    "Prints the tenant's events, one JSON object per line: the event as in the HTTP API plus\n"
    "\"seq\" and \"cursor\" (stream events also \"kind\" and \"tenant_id\"). Without a start "
    "point\n"
    "it starts at the first retained event, or with --follow at new events. Without --follow it\n"
    "stops at the end of what is stored. Exit 2 on bad input, 1 when NATS fails.\n"
    "\n"
    "Examples:\n"
    "  flovyn-bridge tail --tenant acme --types 'workflow.*,task.failed' --from-seq 1\n"
    "  flovyn-bridge tail --tenant acme --workflow wf-1 --follow\n";

typedef struct tail_state {
    pthread_mutex_t mu;
    pthread_cond_t cond;
    uint64_t printed, limit; /* limit 0 = none */
    bool done, released, ended, failed;
    fv_buf line;
} tail_state;

/* one output line; called on one thread at a time per state */
static int print_msg(tail_state *s, const fv_msg *m)
{
    char cur[FV_CURSOR_MAX];
    switch (m->kind) {
    case FV_MSG_EVENT:
    case FV_MSG_STREAM: break;
    case FV_MSG_GAP:
        fv_cursor_format(&m->gap_resumed_from, cur, sizeof cur);
        fprintf(stderr,
                "flovyn-bridge tail: gap: the start lies before retained history; "
                "resuming from %s\n",
                cur);
        return FV_SUB_OK;
    case FV_MSG_END: s->ended = true; return FV_SUB_OK;
    case FV_MSG_ERROR:
        fprintf(stderr, "flovyn-bridge tail: %s\n", m->error ? m->error : "subscription failed");
        s->failed = true;
        s->done = true;
        return FV_SUB_OK;
    default: return FV_SUB_OK;
    }
    if (s->limit && s->printed >= s->limit)
        return FV_SUB_PAUSE;
    fv_buf *b = &s->line;
    fv_buf_reset(b);
    if (m->kind == FV_MSG_EVENT)
        fv_event_to_json(m->ev, b);
    else
        fv_stream_event_to_json(m->se, b);
    if (fv_buf_status(b) != FV_OK || b->len < 2 || b->data[b->len - 1] != '}')
        return FV_SUB_OK;
    b->len--; /* reopen the object to add our members */
    fv_json_put_key(b, "seq", false);
    fv_json_put_uint(b, m->seq);
    if (m->kind == FV_MSG_STREAM) {
        fv_json_put_key(b, "kind", false);
        fv_json_put_cstr(b, fv_kind_name(m->se->kind));
        fv_json_put_key(b, "tenant_id", false);
        fv_json_put_cstr(b, m->se->tenant_id);
    }
    fv_cursor_format(&m->cursor, cur, sizeof cur);
    fv_json_put_key(b, "cursor", false);
    fv_json_put_cstr(b, cur);
    fv_buf_puts(b, "}\n");
    if (fv_buf_status(b) == FV_OK) {
        fwrite(b->data, 1, b->len, stdout);
        fflush(stdout);
    }
    s->printed++;
    if (s->limit && s->printed >= s->limit)
        s->done = true;
    return FV_SUB_OK;
}

static int read_cb(void *ud, const fv_msg *m)
{
    return print_msg(ud, m);
}

static int follow_cb(void *ud, const fv_msg *m)
{
    tail_state *s = ud;
    pthread_mutex_lock(&s->mu);
    int r = s->done ? FV_SUB_PAUSE : print_msg(s, m);
    if (s->done)
        pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
    return r;
}

static void follow_release(void *ud)
{
    tail_state *s = ud;
    pthread_mutex_lock(&s->mu);
    s->released = true;
    pthread_cond_broadcast(&s->cond);
    pthread_mutex_unlock(&s->mu);
}

static int run_read(fv_bus *bus, const fv_pattern *p, fv_start start, tail_state *s)
{
    for (;;) {
        size_t page = PAGE;
        if (s->limit) {
            if (s->printed >= s->limit)
                return 0;
            if (s->limit - s->printed < page)
                page = (size_t)(s->limit - s->printed);
        }
        fv_cursor next = {0};
        fv_err err = {{0}};
        uint64_t before = s->printed;
        s->ended = false;
        fv_status st = fv_bus_read(bus, p, &start, page, read_cb, s, &next, &err);
        if (st != FV_OK) {
            fprintf(stderr, "flovyn-bridge tail: %s\n", err.msg[0] ? err.msg : fv_status_name(st));
            return st == FV_EINVAL ? 2 : 1;
        }
        if (s->failed)
            return 1;
        bool advanced = start.kind != FV_START_CURSOR ||
                        next.events_seq != start.cursor.events_seq ||
                        next.streams_seq != start.cursor.streams_seq;
        if (s->ended || !advanced || s->printed == before)
            return 0;
        start = (fv_start){.kind = FV_START_CURSOR, .cursor = next};
    }
}

static int run_follow(fv_bus *bus, const fv_pattern *p, fv_start start, tail_state *s)
{
    fv_sub_config sc = {
        .pattern = *p, .start = start, .on_msg = follow_cb, .on_release = follow_release, .ud = s};
    fv_sub *sub = NULL;
    fv_err err = {{0}};
    fv_status st = fv_bus_subscribe(bus, &sc, &sub, &err);
    if (st != FV_OK) {
        fprintf(stderr, "flovyn-bridge tail: %s\n", err.msg[0] ? err.msg : fv_status_name(st));
        return st == FV_EINVAL ? 2 : 1;
    }
    /* SIGINT/SIGTERM are blocked in every thread (see fv_cmd_tail) and collected here */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool done = s->done;
        pthread_mutex_unlock(&s->mu);
        if (done)
            break;
        struct timespec ts = {0, 200 * 1000000L};
        if (sigtimedwait(&set, NULL, &ts) > 0)
            break;
    }
    fv_sub_close(sub);
    /* the callback state lives on this stack: wait (bounded) until the bus lets go of it */
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += 5;
    pthread_mutex_lock(&s->mu);
    while (!s->released)
        if (pthread_cond_timedwait(&s->cond, &s->mu, &until) != 0)
            break;
    bool failed = s->failed;
    pthread_mutex_unlock(&s->mu);
    return failed ? 1 : 0;
}

static int bad(const char *fmt, const char *arg)
{
    fputs("flovyn-bridge tail: ", stderr);
    fprintf(stderr, fmt, arg);
    fputc('\n', stderr);
    return 2;
}

int fv_cmd_tail(int argc, char **argv)
{
    tail_cfg cfg = {0};
    fv_options_result res;
    int rc = fv_bridge_parse_args(usage, tail_options, &cfg, argc, argv, &res);
    if (rc >= 0)
        return rc;
    if (res.npositional > 0)
        return bad("unexpected argument '%s'", res.positional[0]);
    if (!cfg.tenant)
        return bad("%s", "--tenant is required");
    if (cfg.from_seq < 0 || cfg.streams_from_seq < 0 || cfg.limit < 0)
        return bad("%s", "--from-seq, --streams-from-seq and --limit must not be negative");
    int nstarts = (cfg.from_seq || cfg.streams_from_seq) + !!cfg.since + !!cfg.cursor;
    if (nstarts > 1)
        return bad("%s", "give at most one of --from-seq/--streams-from-seq, --since, --cursor");

    fv_err err = {{0}};
    fv_pattern p;
    if (strlen(cfg.tenant) > FV_ID_MAX)
        return bad("--tenant: longer than 64 bytes: '%s'", cfg.tenant);
    fv_pattern_init(&p, cfg.tenant);
    if ((cfg.workflow && strlen(cfg.workflow) > FV_ID_MAX) ||
        (cfg.task && strlen(cfg.task) > FV_ID_MAX) ||
        (cfg.source && strlen(cfg.source) > FV_SOURCE_MAX))
        return bad("%s", "--workflow/--task/--source: too long");
    if (cfg.workflow)
        snprintf(p.workflow_execution_id, sizeof p.workflow_execution_id, "%s", cfg.workflow);
    if (cfg.task)
        snprintf(p.task_execution_id, sizeof p.task_execution_id, "%s", cfg.task);
    if (cfg.source)
        snprintf(p.source, sizeof p.source, "%s", cfg.source);
    if (fv_pattern_validate(&p, &err) != FV_OK)
        return bad("%s", err.msg);
    /* a workflow or task view shows its stream events too, like the HTTP streams */
    fv_types_default dflt =
        cfg.workflow || cfg.task ? FV_TYPES_DEFAULT_ALL : FV_TYPES_DEFAULT_LIFECYCLE;
    fv_types_filter *tf = NULL;
    if (fv_types_filter_parse(cfg.types, dflt, &tf, &err) != FV_OK)
        return bad("%s", err.msg);
    p.types = tf;

    fv_start start = {.kind = cfg.follow ? FV_START_NEW : FV_START_FIRST};
    if (cfg.from_seq || cfg.streams_from_seq) {
        start.kind = FV_START_SEQ;
        start.events_seq = (uint64_t)cfg.from_seq;
        start.streams_seq = (uint64_t)cfg.streams_from_seq;
    } else if (cfg.since) {
        start.kind = FV_START_TIME;
        if (fv_time_parse(cfg.since, &start.time_ms, &err) != FV_OK) {
            fv_types_filter_destroy(tf);
            return bad("--since: %s", err.msg);
        }
    } else if (cfg.cursor) {
        start.kind = FV_START_CURSOR;
        if (fv_cursor_parse(cfg.cursor, strlen(cfg.cursor), &start.cursor, &err) != FV_OK) {
            fv_types_filter_destroy(tf);
            return bad("--cursor: %s", err.msg);
        }
    }

    /* block the stop signals before any bus thread exists, so they all inherit the mask and
     * only run_follow's sigtimedwait receives them */
    if (cfg.follow) {
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        pthread_sigmask(SIG_BLOCK, &set, NULL);
    }
    fv_bus *bus = NULL;
    if ((rc = fv_bridge_connect(&cfg.c, "flovyn-bridge tail", &bus)) >= 0) {
        fv_types_filter_destroy(tf);
        return rc;
    }
    /* a workflow's first stored sequences (registry) spare scanning the streams from the start */
    if (cfg.workflow && start.kind == FV_START_FIRST) {
        fv_registry *reg = NULL;
        fv_registry_entry e;
        if (fv_registry_open(bus, &reg, &err) == FV_OK &&
            fv_registry_get(reg, cfg.workflow, &e, &err) == FV_OK &&
            !strcmp(e.tenant_id, cfg.tenant)) {
            start.events_seq = e.first_events_seq;
            start.streams_seq = e.first_streams_seq;
        }
        fv_registry_close(reg);
    }
    tail_state s = {.limit = (uint64_t)cfg.limit};
    pthread_mutex_init(&s.mu, NULL);
    pthread_cond_init(&s.cond, NULL);
    fv_buf_init(&s.line);
    rc = cfg.follow ? run_follow(bus, &p, start, &s) : run_read(bus, &p, start, &s);
    fv_bus_destroy(bus);
    fv_buf_free(&s.line);
    pthread_mutex_destroy(&s.mu);
    pthread_cond_destroy(&s.cond);
    fv_types_filter_destroy(tf);
    return rc;
}
