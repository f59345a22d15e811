/* producer.c - a producer in C with the plain NATS C client (nats.c, Debian's libnats-dev), no
 * flovyn code: one workflow run (workflow.started, a task with two tokens, task.completed,
 * workflow.completed) published to JetStream as JSON. See docs/producers.md.
 *
 *   cc -o producer producer.c $(pkg-config --cflags --libs libnats)
 *   FLOVYN_NATS_URL=nats://127.0.0.1:4222 ./producer
 *
 * Environment: FLOVYN_NATS_URL, FLOVYN_PREFIX (flovyn), FLOVYN_TENANT (acme), FLOVYN_WORKFLOW
 * (a new id). Prints one JSON line per publish: {"subject","id","seq","duplicate"}.
 *
 * The JSON is written with snprintf: that is safe here only because every string that goes into
 * it is an id checked against [A-Za-z0-9_-] or a literal of this file. Real code with free text
 * (source, data) uses a JSON library.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <nats/nats.h>

typedef struct producer {
    jsCtx *js;
    const char *prefix, *tenant, *workflow;
    char task[32];
} producer;

static const char *env(const char *name, const char *dflt)
{
    const char *v = getenv(name);
    return v && *v ? v : dflt;
}

/* ids go into subjects as they are: 1-64 of [A-Za-z0-9_-], never a dot, `*`, `>` or a space */
static bool valid_id(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 64 || !strcmp(s, "_"))
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
              (s[i] >= '0' && s[i] <= '9') || s[i] == '_' || s[i] == '-'))
            return false;
    return true;
}

static int uuid4(char out[37])
{
    unsigned char b[16];
    FILE *f = fopen("/dev/urandom", "rb");
    if (!f || fread(b, 1, sizeof b, f) != sizeof b) {
        if (f)
            fclose(f);
        return -1;
    }
    fclose(f);
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0],
             b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13],
             b[14], b[15]);
    return 0;
}

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* one JetStream publish, waiting for the stream's acknowledgement */
static int send(producer *p, const char *subject, const char *msg_id, const char *body,
                const char *id)
{
    natsMsg *m = NULL;
    jsPubAck *ack = NULL;
    jsErrCode jerr = 0;
    natsStatus s = natsMsg_Create(&m, subject, NULL, body, (int)strlen(body));
    if (s == NATS_OK)
        s = natsMsgHeader_Set(m, "Content-Type", "application/json");
    if (s == NATS_OK) /* the dedup key: the same key again within the window is stored once */
        s = natsMsgHeader_Set(m, "Nats-Msg-Id", msg_id);
    if (s == NATS_OK)
        s = js_PublishMsg(&ack, p->js, m, NULL, &jerr);
    if (s != NATS_OK) {
        fprintf(stderr, "producer: publish %s: %s (jetstream error %d)\n", subject,
                natsStatus_GetText(s), (int)jerr);
    } else {
        printf("{\"subject\":\"%s\",\"id\":%s%s%s,\"seq\":%llu,\"duplicate\":%s}\n", subject,
               id ? "\"" : "", id ? id : "null", id ? "\"" : "", (unsigned long long)ack->Sequence,
               ack->Duplicate ? "true" : "false");
        fflush(stdout);
    }
    jsPubAck_Destroy(ack);
    natsMsg_Destroy(m);
    return s == NATS_OK ? 0 : -1;
}

/* flovyn.v1.events.<tenant>.<workflow|_>.<task|_>.<event_type tokens...>; `id` NULL = a new one,
 * otherwise the id of an event sent before (a retry) */
static int lifecycle(producer *p, const char *type, const char *task, const char *data, char id[37])
{
    if (!id[0] && uuid4(id) != 0)
        return -1;
    char subject[512], msg_id[128], body[2048], task_json[80];
    snprintf(subject, sizeof subject, "%s.v1.events.%s.%s.%s.%s", p->prefix, p->tenant, p->workflow,
             task ? task : "_", type);
    snprintf(msg_id, sizeof msg_id, "%s:%s", p->tenant, id);
    if (task)
        snprintf(task_json, sizeof task_json, "\"%s\"", task);
    else
        snprintf(task_json, sizeof task_json, "null");
    snprintf(body, sizeof body,
             "{\"id\":\"%s\",\"tenant_id\":\"%s\",\"workflow_execution_id\":\"%s\","
             "\"task_execution_id\":%s,\"parent_workflow_execution_id\":null,"
             "\"event_type\":\"%s\",\"source\":\"example:c\",\"data\":%s,\"timestamp_ms\":%lld,"
             "\"correlation_id\":null}",
             id, p->tenant, p->workflow, task_json, type, data, now_ms());
    return send(p, subject, msg_id, body, id);
}

/* flovyn.v1.streams.<tenant>.<workflow>.<task|_>.<kind>; its tenant is the subject's */
static int token(producer *p, long long sequence, const char *payload_json)
{
    char subject[512], msg_id[256], body[1024];
    snprintf(subject, sizeof subject, "%s.v1.streams.%s.%s.%s.token", p->prefix, p->tenant,
             p->workflow, p->task);
    snprintf(msg_id, sizeof msg_id, "%s:%s:%s:%lld", p->tenant, p->workflow, p->task, sequence);
    snprintf(body, sizeof body,
             "{\"workflow_execution_id\":\"%s\",\"task_execution_id\":\"%s\",\"sequence\":%lld,"
             "\"type\":\"token\",\"payload\":%s,\"timestamp_ms\":%lld}",
             p->workflow, p->task, sequence, payload_json, now_ms());
    return send(p, subject, msg_id, body, NULL);
}

int main(void)
{
    char workflow[64], u[37];
    producer p = {0};
    p.prefix = env("FLOVYN_PREFIX", "flovyn");
    p.tenant = env("FLOVYN_TENANT", "acme");
    if (uuid4(u) != 0)
        return 1;
    snprintf(workflow, sizeof workflow, "wf-%s", u);
    p.workflow = env("FLOVYN_WORKFLOW", workflow);
    snprintf(p.task, sizeof p.task, "task-%.8s", u + 28);
    if (!valid_id(p.tenant) || !valid_id(p.workflow)) {
        fprintf(stderr, "producer: tenant and workflow must be ids ([A-Za-z0-9_-], 1-64)\n");
        return 2;
    }

    natsConnection *nc = NULL;
    natsStatus s = natsConnection_ConnectTo(&nc, env("FLOVYN_NATS_URL", NATS_DEFAULT_URL));
    if (s == NATS_OK)
        s = natsConnection_JetStream(&p.js, nc, NULL);
    if (s != NATS_OK) {
        fprintf(stderr, "producer: %s\n", natsStatus_GetText(s));
        natsConnection_Destroy(nc);
        return 1;
    }

    char started[37] = "", other[37];
    int rc = lifecycle(&p, "workflow.started", NULL, "{\"input\":{\"prompt\":\"hello\"}}", started);
    /* a retry of the same event: acknowledged as a duplicate, stored once */
    rc =
        rc ? rc
           : lifecycle(&p, "workflow.started", NULL, "{\"input\":{\"prompt\":\"hello\"}}", started);
    other[0] = '\0';
    rc = rc ? rc : lifecycle(&p, "task.started", p.task, "{\"attempt\":1}", other);
    rc = rc ? rc : token(&p, 1, "\"Hel\"");
    rc = rc ? rc : token(&p, 2, "\"lo\"");
    other[0] = '\0';
    rc = rc ? rc : lifecycle(&p, "task.completed", p.task, "{\"output\":\"Hello\"}", other);
    other[0] = '\0';
    rc = rc ? rc : lifecycle(&p, "workflow.completed", NULL, "{\"ok\":true}", other);

    jsCtx_Destroy(p.js);
    natsConnection_Destroy(nc);
    nats_Close();
    return rc ? 1 : 0;
}
