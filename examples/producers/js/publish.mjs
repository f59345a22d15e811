// publish.mjs - a producer in JavaScript with the plain NATS client (npm `nats`), no flovyn code:
// one workflow run (workflow.started, a task with two tokens, task.completed,
// workflow.completed) published straight to JetStream, lifecycle events as JSON and one as
// protobuf (the project's schemas/flovyn/v1/events.proto, loaded with protobufjs).
// See docs/producers.md.
//
//   npm ci && FLOVYN_NATS_URL=nats://127.0.0.1:4222 node publish.mjs
//
// Environment: FLOVYN_NATS_URL, FLOVYN_PREFIX (flovyn), FLOVYN_TENANT (acme), FLOVYN_WORKFLOW
// (a new id), FLOVYN_PROTO (the .proto file). Prints one JSON line per publish:
// {"subject","id","seq","duplicate"}.
import fs from 'node:fs';
import path from 'node:path';
import { randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { connect, headers } from 'nats';
import protobuf from 'protobufjs';

const here = path.dirname(fileURLToPath(import.meta.url));
const natsUrl = process.env.FLOVYN_NATS_URL || 'nats://127.0.0.1:4222';
const prefix = process.env.FLOVYN_PREFIX || 'flovyn';
const tenant = process.env.FLOVYN_TENANT || 'acme';
const workflow = process.env.FLOVYN_WORKFLOW || 'wf-' + randomUUID();
const task = 'task-' + randomUUID().slice(0, 8);
const protoFile = process.env.FLOVYN_PROTO || path.join(here, '../../../schemas/flovyn/v1/events.proto');

// ids go into subjects as they are: 1-64 of [A-Za-z0-9_-], never a dot, `*`, `>` or a space
const ID = /^[A-Za-z0-9_-]{1,64}$/;
for (const [name, v] of [['tenant', tenant], ['workflow', workflow]]) {
  if (!ID.test(v) || v === '_') throw new Error(`${name} '${v}' is not a valid id`);
}

// flovyn.v1.events.<tenant>.<workflow|_>.<task|_>.<event_type tokens...>
const eventSubject = (ev) => [prefix, 'v1', 'events', ev.tenant_id, ev.workflow_execution_id ?? '_',
  ev.task_execution_id ?? '_', ev.event_type].join('.');
// flovyn.v1.streams.<tenant>.<workflow>.<task|_>.<token|progress|data|error>
const streamSubject = (se) => [prefix, 'v1', 'streams', tenant, se.workflow_execution_id,
  se.task_execution_id ?? '_', se.type].join('.');

const FlovynEvent = protobuf.parse(fs.readFileSync(protoFile, 'utf8'), { keepCase: true })
  .root.lookupType('flovyn.v1.FlovynEvent');

const nc = await connect({ servers: natsUrl.split(','), name: 'producer-example-js' });
const js = nc.jetstream();

async function send(subject, msgId, contentType, bytes, id) {
  const h = headers();
  h.set('Content-Type', contentType);
  // Nats-Msg-Id is the dedup key: the same key again within the window is stored once
  const ack = await js.publish(subject, bytes, { msgID: msgId, headers: h });
  console.log(JSON.stringify({ subject, id, seq: ack.seq, duplicate: ack.duplicate }));
}

function lifecycle(type, extra = {}) {
  return {
    id: randomUUID(), tenant_id: tenant, workflow_execution_id: workflow, task_execution_id: null,
    parent_workflow_execution_id: null, event_type: type, source: 'example:js', data: {},
    timestamp_ms: Date.now(), correlation_id: null, ...extra,
  };
}

async function publishJson(ev) {
  await send(eventSubject(ev), `${ev.tenant_id}:${ev.id}`, 'application/json',
    new TextEncoder().encode(JSON.stringify(ev)), ev.id);
}

// the same event in the wire format the bridge itself writes: data travels as its JSON text
async function publishProto(ev) {
  const msg = FlovynEvent.create({
    id: ev.id, tenant_id: ev.tenant_id, workflow_execution_id: ev.workflow_execution_id ?? '',
    task_execution_id: ev.task_execution_id ?? '', event_type: ev.event_type, source: ev.source,
    data_json: Buffer.from(JSON.stringify(ev.data)), timestamp_ms: ev.timestamp_ms,
  });
  await send(eventSubject(ev), `${ev.tenant_id}:${ev.id}`, 'application/x-protobuf',
    FlovynEvent.encode(msg).finish(), ev.id);
}

async function publishStream(sequence, type, payload) {
  const se = { workflow_execution_id: workflow, task_execution_id: task, sequence, type, payload, timestamp_ms: Date.now() };
  await send(streamSubject(se), `${tenant}:${workflow}:${task}:${sequence}`, 'application/json',
    new TextEncoder().encode(JSON.stringify(se)), null);
}

try {
  const started = lifecycle('workflow.started', { data: { input: { prompt: 'hello' } } });
  await publishJson(started);
  await publishJson(started); // a retry: acknowledged as a duplicate, stored once
  await publishProto(lifecycle('task.started', { task_execution_id: task, data: { attempt: 1 } }));
  await publishStream(1, 'token', 'Hel');
  await publishStream(2, 'token', 'lo');
  await publishJson(lifecycle('task.completed', { task_execution_id: task, data: { output: 'Hello' } }));
  await publishJson(lifecycle('workflow.completed', { data: { ok: true } }));
} finally {
  await nc.drain();
}
