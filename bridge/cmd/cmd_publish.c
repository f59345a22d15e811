/* cmd_publish.c - `flovyn-bridge publish`: store one FlovynEvent (--type) or StreamEvent
 * (--stream-kind) and print its sequence.
 *
 * Everything the event would be refused for is checked before connecting, with the validators the
 * bus itself uses, so bad input is exit 2 with the reason whether or not NATS is reachable.
 */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "bridge.h"

typedef struct publish_cfg {
    fv_bridge_common c;
    const char *tenant, *type, *workflow, *task, *parent, *id, *source, *correlation, *data;
    const char *stream_kind, *payload;
    int64_t sequence, timestamp_ms;
} publish_cfg;

#define P(f) offsetof(publish_cfg, f)
static const fv_option publish_options[] = {
    {"tenant", FV_OPT_STRING, P(tenant), NULL, "tenant id (required)"},
    {"type", FV_OPT_STRING, P(type), NULL, "lifecycle event type, e.g. task.completed"},
    {"workflow", FV_OPT_STRING, P(workflow), NULL, "workflow execution id"},
    {"task", FV_OPT_STRING, P(task), NULL, "task execution id"},
    {"parent", FV_OPT_STRING, P(parent), NULL, "parent workflow execution id"},
    {"id", FV_OPT_STRING, P(id), NULL, "event id, the dedup key with the tenant (default: a UUID)"},
    {"source", FV_OPT_STRING, P(source), "flovyn-bridge", "event source"},
    {"correlation", FV_OPT_STRING, P(correlation), NULL, "correlation id"},
    {"data", FV_OPT_STRING, P(data), "null", "event data, any JSON value"},
    {"stream-kind", FV_OPT_STRING, P(stream_kind), NULL,
     "publish a stream event of this kind: token|progress|data|error"},
    {"sequence", FV_OPT_INT, P(sequence), "-1",
     "stream event sequence (required with --stream-kind)"},
    {"payload", FV_OPT_STRING, P(payload), "null", "stream event payload, any JSON value"},
    {"timestamp-ms", FV_OPT_INT, P(timestamp_ms), "0", "event time in epoch ms (default: now)"},
    {NULL, 0, 0, NULL, NULL},
};

static const char usage[] =
    "usage: flovyn-bridge publish --tenant T --type TYPE [--workflow W] [--task K] [--parent P]\n"
    "                             [--id ID] [--source S] [--correlation C] [--data JSON]\n"
    "       flovyn-bridge publish --tenant T --workflow W [--task K] --stream-kind KIND\n"
    "                             --sequence N [--payload JSON]\n"
    "\n"
    "Stores one lifecycle event (--type) or stream event (--stream-kind) and prints its stored\n"
    "sequence. A duplicate (same tenant and id within the dedup window) prints the original\n"
    "sequence and says so on stderr. Exit 2 on invalid input, 1 when NATS fails.\n"
    "\n"
    "Examples:\n"
    "  flovyn-bridge publish --tenant acme --type workflow.started --workflow wf-1 "
    "--data '{\"input\":1}'\n"
    "  flovyn-bridge publish --tenant acme --workflow wf-1 --stream-kind token --sequence 1 "
    "--payload '\"Hel\"'\n";

/* copies an optional id-like value, refusing (not truncating) what does not fit */
static int put(char *dst, size_t cap, const char *v, const char *flag)
{
    if (!v)
        return 0;
    if (strlen(v) >= cap) {
        fprintf(stderr, "flovyn-bridge publish: --%s: longer than %zu bytes\n", flag, cap - 1);
        return -1;
    }
    memcpy(dst, v, strlen(v) + 1);
    return 0;
}

static int bad(const char *what)
{
    fprintf(stderr, "flovyn-bridge publish: %s\n", what);
    return 2;
}

int fv_cmd_publish(int argc, char **argv)
{
    publish_cfg cfg = {0};
    fv_options_result res;
    int rc = fv_bridge_parse_args(usage, publish_options, &cfg, argc, argv, &res);
    if (rc >= 0)
        return rc;
    if (res.npositional > 0) {
        fprintf(stderr, "flovyn-bridge publish: unexpected argument '%s'\n", res.positional[0]);
        return 2;
    }
    if (!cfg.tenant)
        return bad("--tenant is required");
    if (!cfg.type == !cfg.stream_kind)
        return bad("give exactly one of --type (lifecycle event) or --stream-kind (stream event)");

    fv_err err = {{0}};
    fv_limits lim = {0};
    fv_event ev;
    fv_stream_event se;
    fv_event_init(&ev);
    fv_stream_event_init(&se);
    fv_status st;
    if (cfg.type) {
        if (put(ev.tenant_id, sizeof ev.tenant_id, cfg.tenant, "tenant") ||
            put(ev.event_type, sizeof ev.event_type, cfg.type, "type") ||
            put(ev.workflow_execution_id, sizeof ev.workflow_execution_id, cfg.workflow,
                "workflow") ||
            put(ev.task_execution_id, sizeof ev.task_execution_id, cfg.task, "task") ||
            put(ev.parent_workflow_execution_id, sizeof ev.parent_workflow_execution_id, cfg.parent,
                "parent") ||
            put(ev.id, sizeof ev.id, cfg.id, "id") ||
            put(ev.source, sizeof ev.source, cfg.source, "source") ||
            put(ev.correlation_id, sizeof ev.correlation_id, cfg.correlation, "correlation"))
            return 2;
        ev.timestamp_ms = cfg.timestamp_ms;
        st = fv_event_set_data(&ev, cfg.data, strlen(cfg.data), &lim, &err);
        if (st == FV_OK)
            st = fv_event_fill_defaults(&ev);
        if (st == FV_OK)
            st = fv_event_validate(&ev, &lim, &err);
        if (st != FV_OK) {
            fv_event_clear(&ev);
            fprintf(stderr, "flovyn-bridge publish: %s\n",
                    err.msg[0] ? err.msg : fv_status_name(st));
            return 2;
        }
    } else {
        if (!cfg.workflow)
            return bad("--workflow is required with --stream-kind");
        if (cfg.sequence < 0)
            return bad("--sequence N (>= 0) is required with --stream-kind");
        if (put(se.tenant_id, sizeof se.tenant_id, cfg.tenant, "tenant") ||
            put(se.workflow_execution_id, sizeof se.workflow_execution_id, cfg.workflow,
                "workflow") ||
            put(se.task_execution_id, sizeof se.task_execution_id, cfg.task, "task"))
            return 2;
        st = fv_kind_parse(cfg.stream_kind, strlen(cfg.stream_kind), &se.kind);
        if (st != FV_OK)
            return bad("--stream-kind: not one of token, progress, data, error");
        se.sequence = cfg.sequence;
        se.timestamp_ms = cfg.timestamp_ms ? cfg.timestamp_ms : fv_now_ms();
        st = fv_stream_event_set_payload(&se, cfg.payload, strlen(cfg.payload), &lim, &err);
        if (st == FV_OK)
            st = fv_stream_event_validate(&se, &lim, &err);
        if (st != FV_OK) {
            fv_stream_event_clear(&se);
            fprintf(stderr, "flovyn-bridge publish: %s\n",
                    err.msg[0] ? err.msg : fv_status_name(st));
            return 2;
        }
    }

    fv_bus *bus = NULL;
    if ((rc = fv_bridge_connect(&cfg.c, "flovyn-bridge publish", &bus)) >= 0) {
        fv_event_clear(&ev);
        fv_stream_event_clear(&se);
        return rc;
    }
    fv_publish_result pr = {0};
    st = cfg.type ? fv_bus_publish_event(bus, &ev, &pr, &err)
                  : fv_bus_publish_stream(bus, &se, &pr, &err);
    fv_bus_destroy(bus);
    fv_event_clear(&ev);
    fv_stream_event_clear(&se);
    if (st != FV_OK) {
        fprintf(stderr, "flovyn-bridge publish: %s\n", err.msg[0] ? err.msg : fv_status_name(st));
        return st == FV_EINVAL || st == FV_ETOOBIG ? 2 : 1;
    }
    printf("%llu\n", (unsigned long long)pr.seq);
    if (pr.duplicate)
        fprintf(stderr, "flovyn-bridge publish: duplicate: already stored as sequence %llu\n",
                (unsigned long long)pr.seq);
    return 0;
}
