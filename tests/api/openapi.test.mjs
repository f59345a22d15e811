// openapi.test.mjs - docs/openapi.yaml is a valid OpenAPI 3.1 document, and what a real
// flovyn-gateway answers is what it says: ingest, history pages, SSE streams (every event's data
// checked against its schema), health, the demo files, and every error status the gateway can be
// made to give (400, 401, 403, 404, 405, 413, 415, 429, 503) with its headers.
//
// The stack is real: nats-server on a free port with a temporary store, `flovyn-bridge init`,
// three flovyn-gateway processes (JWT auth; --auth none with tight limits; one whose NATS is
// away), tokens from `flovyn-gateway token`. Every process is stopped by its pid.
import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHmac, randomUUID } from 'node:crypto';
import { validate } from '@readme/openapi-parser';
import { Contract, SPEC_PATH, loadSpec } from './contract.mjs';
import {
  bridgeInit, freePort, mintToken, startGateway, startNats, tmpdir, writeSecret,
} from '../support/procs.mjs';

const contract = new Contract();
let dir, nats, gw, gwNone, gwAway, secret, token;
const TENANT = 'api-' + randomUUID().slice(0, 8);

// One HTTP exchange, checked against the document; returns what the checker parsed.
async function call(g, method, url, { headers = {}, body, auth = true, timeoutMs = 15000, raw } = {}) {
  const h = { ...headers };
  if (auth === true) h.Authorization = 'Bearer ' + token;
  else if (typeof auth === 'string') h.Authorization = 'Bearer ' + auth;
  const init = { method, headers: h, signal: AbortSignal.timeout(timeoutMs) };
  if (body !== undefined) {
    init.body = body;
    if (body instanceof ReadableStream) init.duplex = 'half';
  }
  const res = await fetch(g.base + url, init);
  const text = method === 'HEAD' ? '' : await res.text();
  const answer = { method, url, status: res.status, headers: res.headers, body: text };
  const out = contract.check(answer);
  assert.deepEqual(out.problems, [],
    `${method} ${url} -> ${res.status} does not match docs/openapi.yaml:\n  ` +
    out.problems.join('\n  ') + `\nbody: ${text.slice(0, 400)}`);
  if (raw) raw.headers = res.headers;
  return { status: res.status, headers: res.headers, json: out.json, events: out.events, text };
}

const postJson = (g, url, value, opts = {}) => call(g, 'POST', url, {
  ...opts,
  headers: { 'Content-Type': 'application/json', ...(opts.headers || {}) },
  body: typeof value === 'string' ? value : JSON.stringify(value),
});

function lifecycle(workflow, type, extra = {}) {
  return { id: randomUUID(), workflow_execution_id: workflow, event_type: type, source: 'api-test', data: { n: 1 }, ...extra };
}

// a compact JWT signed with HS256 by hand, for tokens `flovyn-gateway token` refuses to make
function handToken(secretFile, claims, header = { alg: 'HS256', typ: 'JWT' }) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const input = b64(header) + '.' + b64(claims);
  const key = fs.readFileSync(secretFile, 'utf8').trim();
  return input + '.' + createHmac('sha256', key).update(input).digest('base64url');
}

before(async () => {
  dir = tmpdir('api');
  nats = await startNats(dir);
  bridgeInit(nats.url, dir);
  secret = writeSecret(dir);
  token = mintToken(secret, TENANT, '1h');
  gw = await startGateway({
    dir, natsUrl: nats.url, secretFile: secret, name: 'gateway',
    args: ['--max-body', '4096', '--max-items', '5', '--heartbeat', '500ms',
      '--cors-origins', 'http://127.0.0.1:9', '--demo-tenant', 'demo'],
  });
  gwNone = await startGateway({
    dir, natsUrl: nats.url, name: 'gateway-none',
    args: ['--auth', 'none', '--ingest-rate-per-tenant', '3', '--max-connections-per-tenant', '1'],
  });
  // a NATS URL where nothing listens: the gateway lives but is never ready
  gwAway = await startGateway({
    dir, natsUrl: `nats://127.0.0.1:${await freePort()}`, secretFile: secret, name: 'gateway-away',
    waitFor: '/healthz',
  });
});

after(async () => {
  for (const p of [gw, gwNone, gwAway, nats]) if (p) await p.stop();
  if (dir && !process.env.FV_KEEP_LOGS) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the document', () => {
  test('is valid OpenAPI 3.1', async () => {
    const r = await validate(SPEC_PATH);
    assert.equal(r.valid, true, JSON.stringify(r.errors, null, 1));
    assert.equal(loadSpec().openapi, '3.1.0');
  });

  test('the validator refuses a broken copy (it really validates)', async () => {
    const doc = loadSpec();
    delete doc.components.schemas.Cursor; // still referenced
    doc.paths['/healthz'].get.responses['200'].content['application/json'].schema = { type: 'nonsense' };
    const r = await validate(doc);
    assert.equal(r.valid, false);
  });

  test('the checker flags answers the document does not describe', () => {
    const json = (o) => JSON.stringify(o);
    const H = (o) => new Headers(o);
    const cases = [
      // an undocumented status
      { method: 'GET', url: '/healthz', status: 418, headers: H({ 'content-type': 'application/json' }), body: json({ status: 'ok' }) },
      // a documented status with the wrong body
      { method: 'GET', url: '/healthz', status: 200, headers: H({ 'content-type': 'application/json' }), body: json({ status: 'fine' }) },
      // a 401 without WWW-Authenticate
      { method: 'GET', url: '/v1/events', status: 401, headers: H({ 'content-type': 'application/json' }), body: json({ error: { code: 'unauthorized', message: 'x' } }) },
      // an error body with a code of another status
      { method: 'GET', url: '/v1/events', status: 400, headers: H({ 'content-type': 'application/json' }), body: json({ error: { code: 'not_found', message: 'x' } }) },
      // an ingest result missing its seq
      { method: 'POST', url: '/v1/events', status: 202, headers: H({ 'content-type': 'application/json' }), body: json({ results: [{ index: 0, id: 'a', duplicate: false }] }) },
      // a history event with a member the schema does not have
      { method: 'GET', url: '/v1/events', status: 200, headers: H({ 'content-type': 'application/json' }), body: json({ events: [{ workflow_execution_id: 'w', task_execution_id: null, sequence: 1, type: 'token', payload: 1, timestamp_ms: 1, seq: 1, cursor: 'v1.0.1.a', extra: 1 }], next: 'v1.0.1.a' }) },
      // an SSE lifecycle event whose name is not its event_type
      { method: 'GET', url: '/v1/events/stream', status: 200, headers: H({ 'content-type': 'text/event-stream' }), body: 'retry: 10\n\nid: v1.1.0.a\nevent: task.done\ndata: ' + json({ id: 'x', tenant_id: 't', workflow_execution_id: null, task_execution_id: null, parent_workflow_execution_id: null, event_type: 'task.failed', source: '', data: null, timestamp_ms: 1, correlation_id: null }) + '\n\n' },
      // an unknown path answered with something else than its 404
      { method: 'GET', url: '/nowhere/at/all', status: 200, headers: H({ 'content-type': 'application/json' }), body: '{}' },
      // a method the path does not serve, answered without Allow
      { method: 'DELETE', url: '/v1/events', status: 405, headers: H({ 'content-type': 'application/json' }), body: json({ error: { code: 'method_not_allowed', message: 'x' } }) },
      // a 429 without Retry-After
      { method: 'POST', url: '/v1/events', status: 429, headers: H({ 'content-type': 'application/json' }), body: json({ error: { code: 'rate_limited', message: 'x' } }) },
    ];
    for (const c of cases) {
      const { problems } = contract.check(c);
      assert.ok(problems.length > 0, `not flagged: ${c.method} ${c.url} ${c.status} ${c.body.slice(0, 80)}`);
    }
  });
});

describe('ingest', () => {
  test('202: one object, an array, NDJSON, a duplicate, a partial failure', async () => {
    const one = lifecycle('wf-ing', 'workflow.started');
    let r = await postJson(gw, '/v1/events', one);
    assert.equal(r.status, 202);
    assert.equal(r.json.results[0].id, one.id);
    r = await postJson(gw, '/v1/events', one);
    assert.equal(r.json.results[0].duplicate, true);
    r = await postJson(gw, '/v1/events', [lifecycle('wf-ing', 'task.created', { task_execution_id: 'k-1' }), { event_type: 'task.completed', workflow_execution_id: 'wf-ing' }]);
    assert.equal(r.status, 202);
    assert.equal(r.json.results.length, 2);
    assert.ok(r.json.results[1].id, 'an id is generated');
    const nd = [lifecycle('wf-ing', 'task.started'), lifecycle('wf-ing', 'task.progressed')].map((o) => JSON.stringify(o)).join('\n') + '\n';
    r = await call(gw, 'POST', '/v1/events', { headers: { 'Content-Type': 'application/x-ndjson' }, body: nd });
    assert.equal(r.status, 202);
    r = await postJson(gw, '/v1/events', [lifecycle('wf-ing', 'workflow.completed'), { event_type: 'x.y', id: 'a.b' }]);
    assert.equal(r.status, 202);
    assert.equal(r.json.results[1].error.code, 'invalid');
  });

  test('202: stream events, snake_case and Flovyn camelCase', async () => {
    let r = await postJson(gw, '/v1/workflow-executions/wf-ing/stream-events', [
      { task_execution_id: 'k-1', sequence: 1, type: 'token', payload: 'Hel' },
      { workflow_execution_id: 'wf-ing', sequence: 2, type: 'progress', payload: { pct: 50 } },
    ]);
    assert.equal(r.status, 202);
    assert.equal(r.json.results[0].sequence, 1);
    r = await postJson(gw, '/v1/workflow-executions/wf-ing/stream-events',
      { workflowExecutionId: 'wf-ing', sequence: 3, type: 'DATA', payload: '{"rows":2}', timestampMs: Date.now() });
    assert.equal(r.status, 202);
  });

  test('400: malformed JSON, empty body, no object, invalid items, hostile ids', async () => {
    for (const body of ['{bad', '', '   ', '[1,2]', '"text"', '{"event_type":"Task.Done"}', '{}',
      '{"event_type":"token.x"}', JSON.stringify({ event_type: 'a.b', tenant_id: 'a.>' })]) {
      const r = await postJson(gw, '/v1/events', body);
      assert.equal(r.status, 400, body);
    }
    for (const id of ['a.%3E', '*', 'a%20b', '_', 'x'.repeat(65)]) {
      const r = await postJson(gw, `/v1/workflow-executions/${id}/stream-events`, { sequence: 1, type: 'token' });
      assert.equal(r.status, 400, id);
    }
    const r = await postJson(gw, '/v1/workflow-executions/wf-1/stream-events', { workflow_execution_id: 'wf-2', sequence: 1, type: 'token' });
    assert.equal(r.status, 400);
  });

  test('403: read-only token, and items of another tenant', async () => {
    const readOnly = mintToken(secret, TENANT, '1h', ['--scope', 'events:read']);
    let r = await postJson(gw, '/v1/events', lifecycle('wf-x', 'workflow.started'), { auth: readOnly });
    assert.equal(r.status, 403);
    r = await postJson(gw, '/v1/events', [lifecycle('wf-x', 'workflow.started', { tenant_id: 'someone-else' })]);
    assert.equal(r.status, 403);
    assert.equal(r.json.results[0].error.code, 'forbidden');
    r = await postJson(gw, '/v1/workflow-executions/wf-x/stream-events', { tenant_id: 'someone-else', sequence: 1, type: 'token' });
    assert.equal(r.status, 403);
  });

  test('413: over --max-body (declared and streamed), over --max-items', async () => {
    let r = await postJson(gw, '/v1/events', JSON.stringify({ event_type: 'a.b', data: 'x'.repeat(5000) }));
    assert.equal(r.status, 413);
    const chunk = new TextEncoder().encode('[' + JSON.stringify({ event_type: 'a.b', data: 'y'.repeat(1000) }) + ',');
    let sent = 0;
    const stream = new ReadableStream({
      pull(c) {
        if (sent++ < 6) c.enqueue(chunk);
        else { c.enqueue(new TextEncoder().encode('{}]')); c.close(); }
      },
    });
    r = await call(gw, 'POST', '/v1/events', { headers: { 'Content-Type': 'application/json' }, body: stream });
    assert.equal(r.status, 413);
    r = await postJson(gw, '/v1/events', Array.from({ length: 6 }, () => ({ event_type: 'a.b' })));
    assert.equal(r.status, 413);
  });

  test('415: other or missing content type', async () => {
    let r = await call(gw, 'POST', '/v1/events', { headers: { 'Content-Type': 'text/plain' }, body: '{}' });
    assert.equal(r.status, 415);
    r = await call(gw, 'POST', '/v1/events', { body: new Uint8Array(Buffer.from('{}')) });
    assert.equal(r.status, 415);
  });

  test('429 with Retry-After over --ingest-rate-per-tenant', async () => {
    const h = { 'X-Flovyn-Tenant': 'rate-' + randomUUID().slice(0, 6) };
    const items = () => Array.from({ length: 3 }, (_, i) => lifecycle('wf-rate', 'task.created', { task_execution_id: 'k' + i }));
    // the first second's budget passes whole and empties the bucket; the next request waits
    let r = await postJson(gwNone, '/v1/events', items(), { auth: false, headers: h });
    assert.equal(r.status, 202);
    r = await postJson(gwNone, '/v1/events', items(), { auth: false, headers: h });
    assert.equal(r.status, 429);
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
  });

  test('503 with Retry-After while NATS is away', async () => {
    const r = await postJson(gwAway, '/v1/events', lifecycle('wf-away', 'workflow.started'));
    assert.equal(r.status, 503);
  });
});

describe('history', () => {
  test('200: pages walked with next, stream events with types', async () => {
    const wf = 'wf-hist-' + randomUUID().slice(0, 6);
    await postJson(gw, '/v1/events', ['workflow.started', 'task.created', 'task.completed', 'workflow.completed'].map((t) => lifecycle(wf, t)));
    await postJson(gw, `/v1/workflow-executions/${wf}/stream-events`, [{ sequence: 1, type: 'token', payload: 'a' }, { sequence: 2, type: 'error', payload: { message: 'boom' } }]);
    const seen = [];
    let after = '';
    for (let i = 0; i < 5; i++) {
      const r = await call(gw, 'GET', `/v1/events?workflow_execution_id=${wf}&limit=2${after ? '&after=' + after : ''}`);
      assert.equal(r.status, 200);
      if (!r.json.events.length) break;
      seen.push(...r.json.events.map((e) => e.event_type));
      after = r.json.next;
    }
    assert.deepEqual(seen, ['workflow.started', 'task.created', 'task.completed', 'workflow.completed']);
    const r = await call(gw, 'GET', `/v1/events?workflow_execution_id=${wf}&types=token,errors,workflow.*`);
    assert.deepEqual(r.json.events.map((e) => e.event_type || e.type), ['workflow.started', 'workflow.completed', 'token', 'error']);
  });

  test('400: bad types, cursor, limit, times, ids', async () => {
    for (const q of ['types=bogus..x', 'types=a,,b', 'after=garbage', 'after=v1.1.1', 'limit=0', 'limit=1001',
      'limit=ten', 'since=yesterday', 'since=10&until=5', 'workflow_execution_id=a.%3E',
      'task_execution_id=*', 'workflow_execution_id=a%20b']) {
      const r = await call(gw, 'GET', '/v1/events?' + q);
      assert.equal(r.status, 400, q);
    }
  });

  test('401: missing, malformed, expired, wrong key, alg none, not Bearer', async () => {
    const otherDir = path.join(dir, 'other-key');
    fs.mkdirSync(otherDir, { recursive: true });
    const other = writeSecret(otherDir);
    const now = Math.floor(Date.now() / 1000);
    const tokens = [
      false,
      'abc',
      'a.b.c',
      mintToken(other, TENANT, '1h'),
      handToken(secret, { tenant_id: TENANT, exp: now - 10 }),
      handToken(secret, { tenant_id: TENANT }),
      handToken(secret, { tenant_id: TENANT, exp: now + 3600, nbf: now + 3600 }),
      handToken(secret, { tenant_id: 'a.b', exp: now + 3600 }),
      handToken(secret, { tenant_id: TENANT, exp: now + 3600 }, { alg: 'none', typ: 'JWT' }),
    ];
    for (const t of tokens) {
      const r = await call(gw, 'GET', '/v1/events', { auth: t });
      assert.equal(r.status, 401, String(t));
    }
    const r = await call(gw, 'GET', '/v1/events', { auth: false, headers: { Authorization: 'Basic dXNlcjpwYXNz' } });
    assert.equal(r.status, 401);
    const none = await call(gwNone, 'GET', '/v1/events', { auth: false });
    assert.equal(none.status, 401);
  });

  test('403: a write-only token reads nothing', async () => {
    const writeOnly = mintToken(secret, TENANT, '1h', ['--scope', 'events:write']);
    let r = await call(gw, 'GET', '/v1/events', { auth: writeOnly });
    assert.equal(r.status, 403);
    r = await call(gw, 'GET', '/v1/events/stream', { auth: writeOnly });
    assert.equal(r.status, 403);
  });

  test('the token in the query or a cookie; X-Flovyn-Tenant under --auth none', async () => {
    let r = await call(gw, 'GET', '/v1/events?limit=1&access_token=' + token, { auth: false });
    assert.equal(r.status, 200);
    r = await call(gw, 'GET', '/v1/events?limit=1', { auth: false, headers: { Cookie: 'flovyn_token=' + token } });
    assert.equal(r.status, 200);
    // the cookie is for GET only: ingest with it alone is refused
    r = await postJson(gw, '/v1/events', lifecycle('wf-c', 'workflow.started'), { auth: false, headers: { Cookie: 'flovyn_token=' + token } });
    assert.equal(r.status, 401);
    const h = { 'X-Flovyn-Tenant': 'none-' + randomUUID().slice(0, 6) };
    r = await postJson(gwNone, '/v1/events', lifecycle('wf-n', 'workflow.started'), { auth: false, headers: h });
    assert.equal(r.status, 202);
    r = await call(gwNone, 'GET', '/v1/events', { auth: false, headers: h });
    assert.equal(r.json.events.length, 1);
    r = await call(gwNone, 'GET', '/v1/events', { auth: false, headers: { 'X-Flovyn-Tenant': 'a.>' } });
    assert.equal(r.status, 401);
  });

  test('503 with Retry-After while NATS is away', async () => {
    const r = await call(gwAway, 'GET', '/v1/events');
    assert.equal(r.status, 503);
  });
});

describe('SSE streams', () => {
  const wf = 'wf-sse-' + randomUUID().slice(0, 6);
  before(async () => {
    await postJson(gw, '/v1/events', [
      lifecycle(wf, 'workflow.started'),
      lifecycle(wf, 'task.started', { task_execution_id: 'k-sse' }),
      lifecycle('child-' + wf, 'workflow.started', { parent_workflow_execution_id: wf }),
    ]);
    await postJson(gw, `/v1/workflow-executions/${wf}/stream-events`, [
      { task_execution_id: 'k-sse', sequence: 1, type: 'token', payload: 'Hel' },
      { task_execution_id: 'k-sse', sequence: 2, type: 'data', payload: [1, 2] },
      { task_execution_id: 'k-sse', sequence: 3, type: 'error', payload: { message: 'x' } },
    ]);
    await postJson(gw, '/v1/events', [
      lifecycle(wf, 'task.completed', { task_execution_id: 'k-sse' }),
      lifecycle('child-' + wf, 'workflow.completed', { parent_workflow_execution_id: wf }),
      lifecycle(wf, 'workflow.completed'),
    ]);
  });

  test('200: a workflow stream up to `end`, every event as documented', async () => {
    const r = await call(gw, 'GET', `/v1/workflow-executions/${wf}/stream?close_on_terminal=true`);
    assert.equal(r.status, 200);
    assert.deepEqual(r.events.map((e) => e.type),
      ['workflow.started', 'task.started', 'token', 'data', 'stream_error', 'task.completed', 'workflow.completed', 'end']);
  });

  test('200: consolidated, task and tenant streams, resumes and a gap', async () => {
    let r = await call(gw, 'GET', `/v1/workflow-executions/${wf}/stream/consolidated?close_on_terminal=1`);
    assert.ok(r.events.some((e) => e.type === 'workflow.started' && JSON.parse(e.data).parent_workflow_execution_id === wf));
    r = await call(gw, 'GET', '/v1/task-executions/k-sse/stream?close_on_terminal=true&types=token,task.*');
    assert.deepEqual(r.events.map((e) => e.type), ['task.started', 'token', 'task.completed', 'end']);
    const second = r.events[1].id;
    r = await call(gw, 'GET', '/v1/task-executions/k-sse/stream?close_on_terminal=true', { headers: { 'Last-Event-ID': second } });
    assert.deepEqual(r.events.map((e) => e.type), ['data', 'stream_error', 'task.completed', 'end']);
    r = await call(gw, 'GET', `/v1/workflow-executions/${wf}/stream?close_on_terminal=true&last_event_id=v1.1.0.dead`);
    assert.equal(r.events[0].type, 'gap');
    r = await call(gw, 'GET', `/v1/events/stream?since=0&until=${Date.now()}&workflow_execution_id=${wf}&types=events,token`);
    assert.equal(r.events.at(-1).type, 'end');
    assert.equal(JSON.parse(r.events.at(-1).data).reason, 'until');
  });

  test('200 + auth_expired when the token expires on an open stream', async () => {
    const short = mintToken(secret, TENANT, '2s');
    const r = await call(gw, 'GET', `/v1/workflow-executions/${wf}/stream`, { auth: short, timeoutMs: 20000 });
    assert.equal(r.events.at(-1).type, 'auth_expired');
  });

  test('200 + overloaded over --max-connections-per-tenant', async () => {
    const h = { 'X-Flovyn-Tenant': 'busy-' + randomUUID().slice(0, 6) };
    const holder = new AbortController();
    const first = await fetch(gwNone.base + '/v1/events/stream', { headers: h, signal: holder.signal });
    assert.equal(first.status, 200);
    try {
      const r = await call(gwNone, 'GET', '/v1/events/stream', { auth: false, headers: { ...h, Accept: 'text/event-stream' } });
      assert.equal(r.status, 200);
      assert.deepEqual(r.events.map((e) => e.type), ['overloaded']);
      assert.equal(JSON.parse(r.events[0].data).reason, 'too_many_streams');
    } finally {
      holder.abort();
    }
  });

  test('200 + overloaded while NATS is away', async () => {
    const r = await call(gwAway, 'GET', '/v1/events/stream');
    assert.deepEqual(r.events.map((e) => e.type), ['overloaded']);
  });

  test('400: hostile ids, bad types, bad cursors, bad flags', async () => {
    const bad = [
      '/v1/workflow-executions/a.%3E/stream', '/v1/workflow-executions/*/stream',
      '/v1/workflow-executions/a%20b/stream', '/v1/workflow-executions/_/stream/consolidated',
      `/v1/task-executions/${'k'.repeat(65)}/stream`, '/v1/events/stream?types=tokenz',
      '/v1/events/stream?types=workflow.%3E.x', `/v1/workflow-executions/${wf}/stream?last_event_id=v2.1.1.a`,
      `/v1/workflow-executions/${wf}/stream?close_on_terminal=maybe`, '/v1/events/stream?since=soon',
      '/v1/events/stream?workflow_execution_id=a.b', '/v1/events/stream?source=%01',
    ];
    for (const url of bad) {
      const r = await call(gw, 'GET', url);
      assert.equal(r.status, 400, url);
    }
    const r = await call(gw, 'GET', `/v1/workflow-executions/${wf}/stream`, { headers: { 'Last-Event-ID': 'not-a-cursor' } });
    assert.equal(r.status, 400);
  });

  test('401 without a token', async () => {
    const r = await call(gw, 'GET', `/v1/workflow-executions/${wf}/stream`, { auth: false });
    assert.equal(r.status, 401);
  });
});

describe('routes, methods, operations', () => {
  test('404: unknown paths and sub-paths; /demo/token without --demo-tenant', async () => {
    for (const [m, url] of [['GET', '/nope'], ['GET', '/v1/nope'], ['GET', '/v1/task-executions/k/nope'],
      ['GET', '/v1/workflow-executions/w/streams'], ['POST', '/nope'], ['PUT', '/v1/workflows']]) {
      const r = await call(gw, m, url);
      assert.equal(r.status, 404, `${m} ${url}`);
    }
    const r = await call(gwNone, 'GET', '/demo/token', { auth: false });
    assert.equal(r.status, 404);
  });

  test('405 with Allow: a method the path does not serve', async () => {
    for (const [m, url] of [['DELETE', '/v1/events'], ['PUT', '/v1/events'], ['POST', '/healthz'],
      ['POST', '/v1/events/stream'], ['GET', '/v1/workflow-executions/w/stream-events'],
      ['POST', '/v1/task-executions/k/stream'], ['DELETE', '/metrics'], ['OPTIONS', '/v1/events']]) {
      const r = await call(gwNone, m, url, { auth: false });
      assert.equal(r.status, 405, `${m} ${url}`);
    }
  });

  test('health, readiness, metrics, the demo files, CORS preflight', async () => {
    let r = await call(gw, 'GET', '/healthz', { auth: false });
    assert.equal(r.json.status, 'ok');
    r = await call(gw, 'GET', '/readyz', { auth: false });
    assert.equal(r.json.status, 'ready');
    r = await call(gwAway, 'GET', '/readyz', { auth: false });
    assert.equal(r.status, 503);
    r = await call(gw, 'GET', '/metrics', { auth: false });
    assert.match(r.text, /^# (HELP|TYPE) /m);
    r = await call(gw, 'HEAD', '/healthz', { auth: false });
    assert.equal(r.status, 200);
    for (const f of ['/', '/index.html', '/app.js', '/style.css']) {
      r = await call(gw, 'GET', f, { auth: false });
      assert.equal(r.status, 200, f);
      const again = await call(gw, 'GET', f, { auth: false, headers: { 'If-None-Match': r.headers.get('etag') } });
      assert.equal(again.status, 304, f);
    }
    r = await call(gw, 'GET', '/demo/token', { auth: false });
    assert.equal(r.json.tenant_id, 'demo');
    r = await call(gw, 'OPTIONS', '/v1/events', {
      auth: false, headers: { Origin: 'http://127.0.0.1:9', 'Access-Control-Request-Method': 'POST' },
    });
    assert.equal(r.status, 204);
    assert.equal(r.headers.get('access-control-allow-origin'), 'http://127.0.0.1:9');
  });
});

describe('shutdown', () => {
  test('every gateway drains and exits 0 on SIGTERM', async () => {
    for (const g of [gw, gwNone, gwAway]) {
      const { code, sig } = await g.stop('SIGTERM', 15000);
      assert.deepEqual({ name: g.name, code, sig }, { name: g.name, code: 0, sig: null },
        `see ${g.logPath}`);
    }
  });
});
